/* SPDX-License-Identifier: MIT */
/* Host id ranges for sandboxes' user namespaces: each sandbox maps its ids 0-65535 onto
 * a range of host ids that no other live sandbox holds, so a process that escaped one
 * sandbox owns nothing of another's, and per-uid kernel limits (inotify, pipes, message
 * queues) are per sandbox. The ranges lie in [IDMAP_FIRST, IDMAP_FIRST + IDMAP_SLOTS *
 * IDMAP_SIZE), far from the ids of host users and of /etc/subuid's usual allocations.
 *
 * The registry is a directory of files, one per range in use, named by the range's
 * index and holding its owner's cgroup-v2 directory: a range whose owner's cgroup no
 * longer exists is free again (its launcher died without releasing it). Launchers in
 * several processes (sbxd, sbx run, a CRIU restore) share it safely: a range is taken
 * with O_EXCL. Parent only; returns 0 or -errno. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* In the runtime tmpfs (rootfs.h), which rootfs_runtime_init() mounts: a launcher calls
 * that first. */
#define IDMAP_DIR "/run/sbx/runtime/ids"
#define IDMAP_FIRST (1u << 30)
#define IDMAP_SIZE 65536u
#define IDMAP_SLOTS 16384u

/* Takes a free range for the sandbox whose v2 cgroup is @owner; its first host id (the
 * sandbox's root) in *ret_base. */
int idmap_alloc(const char *owner, uid_t *ret_base);
/* Gives the range back. Quiet; a @base outside the registry's ranges is ignored. */
void idmap_release(uid_t base);
/* Frees the ranges whose owners are gone (their launcher died first). */
void idmap_sweep(void);
/* Whether @base starts a registry range. */
int idmap_valid(uid_t base);
/* The registry range that the user namespace of @pid maps its root to (uid_map's first
 * line), or 0 if none. */
uid_t idmap_base_of(pid_t pid);
/* Maps the user namespace of process @pid onto the range at @base; setgroups(2) denied
 * there unless @setgroups (its groups are then of that range too). */
int idmap_write_maps(pid_t pid, uid_t base, bool setgroups);
/* A user namespace of nobody's (no process stays in it) whose ids 0-65535 are host ids
 * @base...: for idmapped mounts made before the sandbox's own namespace exists (a
 * restore). Returns its fd (O_CLOEXEC). */
int idmap_userns_fd(uid_t base);
