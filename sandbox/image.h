/* SPDX-License-Identifier: MIT */
/* Images: a directory holding manifest.json and a root filesystem tree.
 *   {"name": "host", "rootfs": "rootfs",
 *    "binds": [{"source": "/usr", "target": "/usr"}],   (host paths, read-only)
 *    "env": {"PATH": "/usr/bin:/bin"}}
 * A name without '/' is looked up in the images directory. An image of sbxd's store is a
 * manifest of the same form whose "layers" (bottom first) name directories of the store,
 * with the defaults an OCI config gives: "cmd" (its entrypoint and command), "workdir",
 * "user". Parent only. Returns 0 or -errno; *ret_error (malloc'd) says what is wrong. */
#pragma once

#include <stdbool.h>

struct image {
	char *name;
	char *dir;
	char *rootfs;	      /* the top layer */
	char **lowers;	      /* the layers below it, top first, NULL-terminated; NULL for none */
	char **binds;	      /* source, target pairs, NULL-terminated */
	char **env;	      /* "K=V", NULL-terminated */
	char **cmd;	      /* the default command, NULL-terminated; NULL for none */
	char *workdir, *user; /* defaults, or NULL */
};

/* Layer directories of the store are STORE/layers/HEX; manifests STORE/manifests/HEX.json. */
#define IMAGE_ID_LEN 64
#define IMAGE_MAX_LAYERS 64
/* The image @id (64 hex digits) of the store at @store; @name is what errors call it. */
int image_open_store(const char *store, const char *id, const char *name, struct image **ret,
		     char **ret_error);
bool image_id_valid(const char *id);

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
