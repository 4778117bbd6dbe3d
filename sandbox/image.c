// SPDX-License-Identifier: MIT
/* Image lookup and manifest validation. */
#define _GNU_SOURCE
#include "image.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "text.h"

#define MANIFEST "manifest.json"
#define MAX_BINDS 32
#define MAX_ENV 64

void image_free(struct image *img)
{
	if (!img)
		return;
	for (char **p = img->binds; p && *p; p++)
		free(*p);
	for (char **p = img->env; p && *p; p++)
		free(*p);
	free(img->binds);
	free(img->env);
	free(img->name);
	free(img->dir);
	free(img->rootfs);
	free(img);
}

/* An absolute path without "." or ".." components. */
static bool path_clean_absolute(const char *p)
{
	if (!p || p[0] != '/')
		return false;
	for (const char *s = p; *s;) {
		while (*s == '/')
			s++;
		size_t n = strcspn(s, "/");
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s += n;
	}
	return true;
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int parse_manifest(struct image *img, const char *mpath, char **ret_error)
{
	json_error_t jerr;
	json_t *root = json_load_file(mpath, JSON_REJECT_DUPLICATES, &jerr);
	int r = 0;

	char text[sizeof(jerr.text) + 4];
	if (!root)
		return text_error(ret_error, -EINVAL, "image %s: %s:%d: %s", img->name, mpath,
				  jerr.line, text_printable(jerr.text, text, sizeof(text)));
	json_t *rootfs = json_object_get(root, "rootfs"), *binds = json_object_get(root, "binds");
	json_t *env = json_object_get(root, "env");
	const char *rel = json_is_string(rootfs) ? json_string_value(rootfs) : "rootfs";

	if (!json_is_object(root) || (rootfs && !json_is_string(rootfs)) || strstr(rel, "..") ||
	    rel[0] == '/') {
		r = text_error(ret_error, -EINVAL,
			       "image %s: %s: \"rootfs\" must be a relative path", img->name,
			       mpath);
		goto out;
	}
	if (asprintf(&img->rootfs, "%s/%s", img->dir, rel) < 0) {
		r = -ENOMEM;
		goto out;
	}
	if (!is_dir(img->rootfs)) {
		r = text_error(ret_error, -ENOENT,
			       "image %s: root filesystem %s is not a directory", img->name,
			       img->rootfs);
		goto out;
	}
	if (binds && (!json_is_array(binds) || json_array_size(binds) > MAX_BINDS)) {
		r = text_error(ret_error, -EINVAL,
			       "image %s: \"binds\" must be an array of at most %d", img->name,
			       MAX_BINDS);
		goto out;
	}
	img->binds = calloc(2 * json_array_size(binds) + 1, sizeof(char *));
	img->env = calloc(MAX_ENV + 1, sizeof(char *));
	if (!img->binds || !img->env) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(binds); i++) {
		json_t *b = json_array_get(binds, i);
		const char *src = json_string_value(json_object_get(b, "source"));
		const char *dst = json_string_value(json_object_get(b, "target"));
		if (!path_clean_absolute(src) || !path_clean_absolute(dst) || !strcmp(dst, "/")) {
			r = text_error(
				ret_error, -EINVAL,
				"image %s: binds[%zu]: source and target must be clean absolute "
				"paths",
				img->name, i);
			goto out;
		}
		img->binds[2 * i] = strdup(src);
		img->binds[2 * i + 1] = strdup(dst);
		if (!img->binds[2 * i] || !img->binds[2 * i + 1]) {
			r = -ENOMEM;
			goto out;
		}
	}
	if (env && (!json_is_object(env) || json_object_size(env) > MAX_ENV)) {
		r = text_error(ret_error, -EINVAL,
			       "image %s: \"env\" must be an object of at most %d", img->name,
			       MAX_ENV);
		goto out;
	}
	const char *k;
	json_t *v;
	size_t n = 0;
	json_object_foreach (env, k, v) {
		if (!json_is_string(v) || !k[0] || strchr(k, '=')) {
			r = text_error(ret_error, -EINVAL, "image %s: env.%s must be a string",
				       img->name, k);
			goto out;
		}
		if (asprintf(&img->env[n++], "%s=%s", k, json_string_value(v)) < 0) {
			r = -ENOMEM;
			goto out;
		}
	}
out:
	json_decref(root);
	return r;
}

int image_open(const char *name_or_path, const char *images_dir, struct image **ret,
	       char **ret_error)
{
	_cleanup_(image_freep) struct image *img = calloc(1, sizeof(*img));
	_cleanup_free_ char *mpath = NULL;
	int r;

	*ret_error = NULL;
	if (!img)
		return -ENOMEM;
	if (!name_or_path || !name_or_path[0])
		return text_error(ret_error, -EINVAL, "image name is empty");
	img->name = strdup(name_or_path);
	if (!img->name)
		return -ENOMEM;
	if (strchr(name_or_path, '/')) {
		img->dir = realpath(name_or_path, NULL);
		if (!img->dir)
			return text_error(ret_error, -errno, "image %s: %s", name_or_path,
					  strerror(errno));
	} else {
		for (const char *s = name_or_path; *s; s++)
			if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789-_.", *s) ||
			    name_or_path[0] == '.')
				return text_error(ret_error, -EINVAL,
						  "image name \"%s\" is invalid", name_or_path);
		if (asprintf(&img->dir, "%s/%s", images_dir, name_or_path) < 0)
			return -ENOMEM;
		if (!is_dir(img->dir))
			return text_error(ret_error, -ENOENT, "image %s not found in %s",
					  name_or_path, images_dir);
	}
	if (asprintf(&mpath, "%s/" MANIFEST, img->dir) < 0)
		return -ENOMEM;
	if (access(mpath, R_OK) < 0)
		return text_error(ret_error, -ENOENT, "image %s: no %s in %s", name_or_path,
				  MANIFEST, img->dir);
	r = parse_manifest(img, mpath, ret_error);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(img);
	return 0;
}

char *image_beside_exe(const char *name)
{
	char self[PATH_MAX], *out;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return NULL;
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	return asprintf(&out, "%s/%s", self, name) < 0 ? NULL : out;
}
