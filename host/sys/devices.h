/* SPDX-License-Identifier: MIT */
/* The cgroup device allowlist (bpf/devices.bpf.c) as sbxd uses it: one program, loaded
 * once and pinned with its map in /sys/fs/bpf/sbx, attached to every sandbox's cgroup-v2
 * before anything runs in it; grants are {cgroup id, device} entries. Return 0 or -errno. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct devices;

int devices_open(struct devices **ret, char **ret_why);
void devices_close(struct devices *d);
/* Grants @n device numbers (st_rdev) to cgroup @cg_id, then attaches the allowlist to
 * the cgroup directory @cg_fd. */
int devices_attach(struct devices *d, int cg_fd, uint64_t cg_id, const uint64_t *rdevs, size_t n);
/* Drops the grants of cgroups not among the @n in @keep (sandboxes that ended unseen). */
void devices_prune(struct devices *d, const uint64_t *keep, size_t n);
/* Takes the grants back (the cgroup is going away). */
void devices_forget(struct devices *d, uint64_t cg_id, const uint64_t *rdevs, size_t n);
