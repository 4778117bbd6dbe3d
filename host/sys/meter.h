/* SPDX-License-Identifier: MIT */
/* The eBPF meter (bpf/meter.bpf.c) as sbxd uses it: load once, count per sandbox slot.
 * Maps and links are pinned under /sys/fs/bpf/sbx (an instance's: instance.h), so
 * counting goes on while sbxd is
 * down and a restarted sbxd reads the same counters. Return 0 or -errno. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../bpf/meter.h"

struct meter;

struct meter_counts {
	uint64_t syscalls[METER_SYSCALLS]; /* by number; the last one: numbers above */
	uint64_t syscalls_total;
	struct meter_net net;
};

/* Loads and attaches (or finds pinned) the programs. @parent_v2: the cgroup-v2
 * directory holding the sandbox cgroups (network programs attach there); @level: the
 * cgroup level of a sandbox cgroup; @nslots: the sandboxes it counts at once (slots 0 to
 * METER_SLOTS_FOR(@nslots) - 1; at most METER_SLOTS_MAX). @pinned: sbxd's instance, in bpffs; else a private
 * one (a one-shot run) whose maps and links go with meter_close(). *ret_why says why on
 * failure (caller frees). */
int meter_open(const char *parent_v2, unsigned level, unsigned nslots, bool pinned,
	       struct meter **ret, char **ret_why);
void meter_close(struct meter *m);
/* The slots it counts: what meter_open() was asked for, or more where pinned maps had. */
unsigned meter_slots(const struct meter *m);

/* Starts counting cgroup @cg_id in @slot; @fresh zeroes the slot's counters first (a new
 * sandbox), else they continue (re-adoption). */
int meter_attach(struct meter *m, uint64_t cg_id, uint32_t slot, bool fresh);
int meter_detach(struct meter *m, uint64_t cg_id);
int meter_read(struct meter *m, uint32_t slot, struct meter_counts *ret);
/* Just the syscall total and the network counters of @slot (what billing reads). */
int meter_totals(struct meter *m, uint32_t slot, uint64_t *ret_syscalls, struct meter_net *ret_net);
/* Forgets the cgroups and devices of sandboxes that ended while nobody watched (a daemon
 * killed, then its sandboxes): all but the @n cgroup ids in @keep, and the devices of
 * slots not marked in @slot_used. Sorts @keep. */
int meter_prune(struct meter *m, uint64_t *keep, size_t n, const unsigned char *slot_used);
/* Deletes the keys of hash map @fd for which @drop says so. */
int bpf_hash_prune(int fd, size_t key_size, bool (*drop)(const void *key, void *ud), void *ud);

/* Counts device activity on the node @rdev (st_rdev) as device @index of @slot; @fresh
 * starts from zero, else the counts continue (re-adoption). */
int meter_gpu_grant(struct meter *m, uint32_t slot, uint32_t index, uint64_t rdev, bool fresh);
int meter_gpu_revoke(struct meter *m, uint32_t slot, uint64_t rdev);
int meter_gpu_read(struct meter *m, uint32_t slot, uint32_t index, struct meter_gpu *ret);
/* Attaches (or detaches) the sys_exit program that times ioctls and sees opens: only
 * while some sandbox holds a device, since it runs on every syscall of the host. */
int meter_gpu_timing(struct meter *m, bool on);
/* Run time and count of the syscall program (with kernel.bpf_stats_enabled on). */
int meter_syscall_prog_stats(struct meter *m, uint64_t *ret_ns, uint64_t *ret_cnt);
