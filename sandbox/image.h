/* SPDX-License-Identifier: MIT */
/* Images: a directory holding manifest.json and a root filesystem tree.
 *   {"name": "host", "rootfs": "rootfs",
 *    "binds": [{"source": "/usr", "target": "/usr"}],   (host paths, read-only)
 *    "env": {"PATH": "/usr/bin:/bin"}}
 * A name without '/' is looked up in the images directory. Parent only.
 * Returns 0 or -errno; *ret_error (malloc'd) says what is wrong. */
#pragma once

struct image {
	char *name;
	char *dir;
	char *rootfs;
	char **binds; /* source, target pairs, NULL-terminated */
	char **env;   /* "K=V", NULL-terminated */
};

int image_open(const char *name_or_path, const char *images_dir, struct image **ret,
	       char **ret_error);
void image_free(struct image *img);
/* A file next to the running executable (build/sbxd -> build/NAME): where the images
 * directory and sbx-init are found by default. NULL if /proc/self/exe is unreadable. */
char *image_beside_exe(const char *name);
static inline void image_freep(struct image **img)
{
	image_free(*img);
}
