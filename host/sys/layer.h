/* SPDX-License-Identifier: MIT */
/* Writable layers of daemon sandboxes, kept reachable on the host (layer.c). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* instance_layer_dir()/@id[/@sub] into @buf. */
int layer_path(const char *id, const char *sub, char *buf, size_t size);
/* Mounts a tmpfs of @bytes at instance_layer_dir()/@id with empty upper/, work/ and root/. */
int layer_create(const char *id, uint64_t bytes);
/* Unmounts (lazily: a sandbox still using it keeps it) and removes it; quiet. */
void layer_remove(const char *id);
