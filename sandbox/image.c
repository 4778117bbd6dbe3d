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
	for (char **p = img->lowers; p && *p; p++)
		free(*p);
	for (char **p = img->cmd; p && *p; p++)
		free(*p);
	free(img->lowers);
	free(img->cmd);
	free(img->workdir);
	free(img->user);
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

bool image_id_valid(const char *id)
{
	return id && strlen(id) == IMAGE_ID_LEN && strspn(id, "0123456789abcdef") == IMAGE_ID_LEN;
}

/* A store manifest's "layers" (bottom first): the top one is the root, the rest lowers. */
static int parse_layers(struct image *img, json_t *layers, const char *store, char **ret_error)
{
	size_t n = json_array_size(layers);

	if (!json_is_array(layers) || n == 0 || n > IMAGE_MAX_LAYERS)
		return text_error(ret_error, -EINVAL,
				  "image %s: \"layers\" must be an array of 1 to %d", img->name,
				  IMAGE_MAX_LAYERS);
	if (!(img->lowers = calloc(n, sizeof(char *))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *id = json_string_value(json_array_get(layers, n - 1 - i));
		char *dir;
		if (!image_id_valid(id))
			return text_error(ret_error, -EINVAL, "image %s: layer %zu is not an id",
					  img->name, n - 1 - i);
		if (asprintf(&dir, "%s/layers/%s", store, id) < 0)
			return -ENOMEM;
		if (i == 0)
			img->rootfs = dir;
		else
			img->lowers[i - 1] = dir;
		if (!is_dir(dir))
			return text_error(ret_error, -ENOENT, "image %s: layer %s is missing",
					  img->name, id);
	}
	return 0;
}

/* "cmd": an array of strings, into a NULL-terminated copy. */
static int parse_cmd(struct image *img, json_t *cmd, char **ret_error)
{
	size_t n = json_array_size(cmd);

	if (!json_is_array(cmd) || n > 256)
		return text_error(ret_error, -EINVAL, "image %s: \"cmd\" must be an array",
				  img->name);
	if (!(img->cmd = calloc(n + 1, sizeof(char *))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *a = json_string_value(json_array_get(cmd, i));
		if (!a)
			return text_error(ret_error, -EINVAL, "image %s: cmd[%zu] is not a string",
					  img->name, i);
		if (!(img->cmd[i] = strdup(a)))
			return -ENOMEM;
	}
	return 0;
}

static int parse_manifest(struct image *img, const char *mpath, const char *store, char **ret_error)
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

	json_t *layers = json_object_get(root, "layers"), *cmd = json_object_get(root, "cmd");
	json_t *workdir = json_object_get(root, "workdir"), *user = json_object_get(root, "user");

	if (store) {
		if (!json_is_object(root)) {
			r = text_error(ret_error, -EINVAL, "image %s: %s is not an object",
				       img->name, mpath);
			goto out;
		}
		if ((r = parse_layers(img, layers, store, ret_error)) < 0)
			goto out;
		goto layers_done;
	}
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
layers_done:
	if (cmd && (r = parse_cmd(img, cmd, ret_error)) < 0)
		goto out;
	if ((workdir &&
	     (!json_is_string(workdir) || !path_clean_absolute(json_string_value(workdir)))) ||
	    (user && !json_is_string(user))) {
		r = text_error(ret_error, -EINVAL,
			       "image %s: \"workdir\" must be a clean absolute path and \"user\" "
			       "a string",
			       img->name);
		goto out;
	}
	if ((workdir && !(img->workdir = strdup(json_string_value(workdir)))) ||
	    (user && !(img->user = strdup(json_string_value(user))))) {
		r = -ENOMEM;
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
	r = parse_manifest(img, mpath, NULL, ret_error);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(img);
	return 0;
}

int image_open_store(const char *store, const char *id, const char *name, struct image **ret,
		     char **ret_error)
{
	_cleanup_(image_freep) struct image *img = calloc(1, sizeof(*img));
	_cleanup_free_ char *mpath = NULL;

	*ret_error = NULL;
	if (!img)
		return -ENOMEM;
	if (!image_id_valid(id))
		return text_error(ret_error, -EINVAL, "image id \"%s\" is invalid", id ? id : "");
	if (!(img->name = strdup(name ? name : id)) ||
	    asprintf(&img->dir, "%s/manifests", store) < 0 ||
	    asprintf(&mpath, "%s/%s.json", img->dir, id) < 0)
		return -ENOMEM;
	if (access(mpath, R_OK) < 0)
		return text_error(ret_error, -ENOENT, "image %s (%.12s) is not in the store",
				  img->name, id);
	int r = parse_manifest(img, mpath, store, ret_error);
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
