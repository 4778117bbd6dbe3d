// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The device allowlist of every sbxd sandbox, attached to its cgroup-v2 (which denies a
 * device even on a hybrid host): the minimal /dev set, and the device nodes sbxd granted
 * to that cgroup (its GPUs and their companions). Anything else, opened or made with
 * mknod, is refused (EPERM). */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Not in vmlinux.h: uapi enum values. */
#define DEVCG_DEV_CHAR 2
#define DEVCG_ACC_MKNOD 1

struct grant_key {
	__u64 cgroup;
	__u32 dev; /* major << 20 | minor */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct grant_key);
	__type(value, __u8);
} granted SEC(".maps");

SEC("cgroup/dev")
int allow_devices(struct bpf_cgroup_dev_ctx *ctx)
{
	__u32 type = ctx->access_type & 0xffff, access = ctx->access_type >> 16;
	__u32 maj = ctx->major, min = ctx->minor;

	if (type != DEVCG_DEV_CHAR)
		return 0;
	/* null, zero, full, random, urandom; tty, ptmx; the sandbox's own pts. */
	if (maj == 1 && (min == 3 || min == 5 || min == 7 || min == 8 || min == 9))
		return 1;
	if (maj == 5 && (min == 0 || min == 2))
		return 1;
	if (maj >= 136 && maj <= 143 && !(access & DEVCG_ACC_MKNOD))
		return 1;
	struct grant_key k = { .cgroup = bpf_get_current_cgroup_id(), .dev = maj << 20 | min };
	return bpf_map_lookup_elem(&granted, &k) ? 1 : 0;
}
