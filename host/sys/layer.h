/* SPDX-License-Identifier: MIT */
/* Writable layers of daemon sandboxes, kept reachable on the host (layer.c). */
#pragma once

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct cgroup;

/* instance_layer_dir()/@id[/@sub] into @buf. */
int layer_path(const char *id, const char *sub, char *buf, size_t size);
/* Mounts a tmpfs of @bytes at instance_layer_dir()/@id with empty upper/, work/ and root/. */
int layer_create(const char *id, uint64_t bytes);
/* A tmpfs of @bytes mounted at @path (made here) with empty upper/, work/ and root/ (sbxd's
 * layers, and sbx-oci's in a container's state directory). */
int layer_mount(const char *path, uint64_t bytes);
/* Unmounts the layer at @path (lazily) and removes its directory; quiet. */
void layer_unmount(const char *path);
/* Unmounts (lazily: a sandbox still using it keeps it) and removes it; quiet. */
void layer_remove(const char *id);
/* tar of a writable layer (create: from @dir into @archive; else back into @dir), run in
 * @cg (NULL: the caller's). */
int layer_tar(bool create, const char *archive, const char *dir, const char *log,
	      const struct cgroup *cg, char **ret_err);
/* Whether the directory @dir has no entries (false where it cannot be read). */
bool layer_dir_empty(const char *dir);
/* The ids of @dir's files within [@from, @from + 65536) moved to those at @to. */
int layer_shift_owners(const char *dir, uid_t from, uid_t to);
