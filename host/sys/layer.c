// SPDX-License-Identifier: MIT
/* The writable layer of a daemon's sandbox: a tmpfs of its own, mounted on the host at
 * instance_layer_dir()/<id> with upper/, work/ and root/, so that a checkpoint can read the layer
 * and a restore can rebuild it. The sandbox mounts its overlay root from it. */
#define _GNU_SOURCE
#include "layer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../sandbox/instance.h"
#include "../../sandbox/macro.h"

int layer_path(const char *id, const char *sub, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s%s%s", instance_layer_dir(), id, sub ? "/" : "",
			 sub ? sub : "");
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int layer_create(const char *id, uint64_t bytes)
{
	static const char *const subs[] = { "upper", "work", "root" };
	char path[256], opts[64];
	int r;

	if ((r = instance_run_dir_make()) < 0)
		return r;
	if (mkdir(instance_layer_dir(), 0700) < 0 && errno != EEXIST)
		return -errno;
	if ((r = layer_path(id, NULL, path, sizeof(path))) < 0)
		return r;
	if (mkdir(path, 0700) < 0)
		return -errno;
	snprintf(opts, sizeof(opts), "size=%" PRIu64 ",mode=0755", bytes);
	if (mount("sbx-layer", path, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
		r = -errno;
		(void)rmdir(path);
		return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		char sub[300];
		snprintf(sub, sizeof(sub), "%s/%s", path, subs[i]);
		if (mkdir(sub, 0755) < 0) {
			r = -errno;
			layer_remove(id);
			return r;
		}
	}
	return 0;
}

void layer_remove(const char *id)
{
	char path[256];

	if (layer_path(id, "root", path, sizeof(path)) < 0)
		return;
	(void)umount2(path, MNT_DETACH); /* a restore's root, if one is still there */
	(void)layer_path(id, NULL, path, sizeof(path));
	(void)umount2(path, MNT_DETACH);
	(void)rmdir(path);
}
