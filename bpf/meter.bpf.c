// SPDX-License-Identifier: GPL-2.0 OR MIT
/* sbx's meter: counts, per sandbox, the syscalls its processes make and the bytes its
 * network namespace moves. A sandbox is found by the id of its cgroup-v2 ancestor at
 * the level where sbxd makes sandbox cgroups (so sub-cgroups made inside still count),
 * mapped to a dense slot by sbxd. Programs only count: a miss (any process outside a
 * sandbox) returns after one lookup.
 * Device activity: opens of, and ioctls on (count and time in the driver), the device
 * nodes sbxd granted to a sandbox (GPUs), recognised by device number alone. The time
 * needs sys_exit, which sbxd attaches only while some sandbox holds a device. */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "meter.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by sbxd before load: the cgroup level of sandbox cgroups, and the slots the maps
 * hold (their sizes are set to match). */
const volatile __u32 sandbox_level = 0;
const volatile __u32 nslots = METER_SLOTS;

/* cgroup-v2 id -> slot; written by sbxd. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, METER_SLOTS);
	__type(key, __u64);
	__type(value, __u32);
} slots SEC(".maps");

/* slot * METER_SYSCALLS + nr -> count. Shared by every CPU: one atomic add per call
 * keeps the map at 16 MiB whatever the CPU count. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE); /* sbxd reads it in place, without syscalls */
	__uint(max_entries, METER_SLOTS *METER_SYSCALLS);
	__type(key, __u32);
	__type(value, __u64);
} syscalls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, METER_SLOTS);
	__type(key, __u32);
	__type(value, struct meter_net);
} net SEC(".maps");

/* {slot, device number} -> index of the device in the slot's row. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, METER_SLOTS);
	__type(key, struct meter_dev_key);
	__type(value, __u32);
} gpu_devs SEC(".maps");

/* slot * METER_GPUS + index -> activity. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, METER_SLOTS *METER_GPUS);
	__type(key, __u32);
	__type(value, struct meter_gpu);
} gpu_stats SEC(".maps");

/* An ioctl in flight on a granted device: thread -> start time and stats index. */
struct ioctl_start {
	__u64 ns;
	__u32 idx;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); /* a thread killed mid-ioctl ages out */
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct ioctl_start);
} ioctls_in_flight SEC(".maps");

#define NR_IOCTL 16
#define NR_OPEN 2
#define NR_OPENAT 257

/* The stats index of the device behind @fd of the current task, if granted to @slot. */
static __always_inline __s64 granted_index(__u32 slot, long fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct file **fds = BPF_CORE_READ(t, files, fdt, fd);
	unsigned int max = BPF_CORE_READ(t, files, fdt, max_fds);
	struct file *f = NULL;

	if (fd < 0 || fd >= max)
		return -1;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return -1;
	struct meter_dev_key k = { .slot = slot, .dev = BPF_CORE_READ(f, f_inode, i_rdev) };
	if (!k.dev)
		return -1;
	__u32 *i = bpf_map_lookup_elem(&gpu_devs, &k);
	return i && *i < METER_GPUS ? (__s64)(slot * METER_GPUS + *i) : -1;
}

/* slot -> generation, bumped by sbxd whenever the slot is given or taken back. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, METER_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} slot_gen SEC(".maps");

/* Each task's verdict, cached: the cgroup walk and hash lookup happen once per task. A
 * task outside every sandbox stays outside (a sandbox's processes are born in its cgroup
 * with CLONE_INTO_CGROUP, and nothing moves a running task into one), so that verdict is
 * final; a sandbox's holds while its slot's generation does. */
#define NOT_A_SANDBOX 0xffffffffu
struct task_verdict {
	__u32 slot_plus1; /* 0: not known yet */
	__u32 gen;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_verdict);
} verdicts SEC(".maps");

/* The current task's slot, or -1. */
static __always_inline __s64 slot_of_current(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct task_verdict *v =
		bpf_task_storage_get(&verdicts, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	__u32 *gen;

	if (v && v->slot_plus1 == NOT_A_SANDBOX)
		return -1;
	if (v && v->slot_plus1) {
		__u32 s = v->slot_plus1 - 1;
		gen = bpf_map_lookup_elem(&slot_gen, &s);
		if (gen && *gen == v->gen)
			return s;
	}
	__u64 cg = bpf_get_current_ancestor_cgroup_id(sandbox_level);
	__u32 *slot = bpf_map_lookup_elem(&slots, &cg);
	if (!slot) {
		if (v)
			v->slot_plus1 = NOT_A_SANDBOX;
		return -1;
	}
	__u32 s = *slot;
	gen = bpf_map_lookup_elem(&slot_gen, &s);
	if (v && gen) {
		v->slot_plus1 = s + 1;
		v->gen = *gen;
	}
	return s;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(count_syscall, struct pt_regs *regs, long id)
{
	__s64 slot = slot_of_current();
	if (slot < 0 || slot >= nslots)
		return 0;
	__u32 nr = id >= 0 && id < METER_SYSCALLS - 1 ? (__u32)id : METER_SYSCALLS - 1;
	__u32 key = (__u32)slot * METER_SYSCALLS + nr;
	__u64 *c = bpf_map_lookup_elem(&syscalls, &key);
	if (c)
		__sync_fetch_and_add(c, 1);
	if (nr == NR_IOCTL) {
		__s64 idx = granted_index((__u32)slot, (long)PT_REGS_PARM1_CORE(regs));
		if (idx >= 0) {
			__u32 i = (__u32)idx;
			struct meter_gpu *g = bpf_map_lookup_elem(&gpu_stats, &i);
			if (g)
				__sync_fetch_and_add(&g->ioctls, 1);
			struct ioctl_start st = { .ns = bpf_ktime_get_ns(), .idx = i };
			__u64 tid = bpf_get_current_pid_tgid();
			bpf_map_update_elem(&ioctls_in_flight, &tid, &st, BPF_ANY);
		}
	}
	return 0;
}

/* Attached only while a sandbox holds a device: the time an ioctl spent in the driver,
 * and opens, known by the descriptor they return. */
SEC("tp_btf/sys_exit")
int BPF_PROG(gpu_sys_exit, struct pt_regs *regs, long ret)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct ioctl_start *st = bpf_map_lookup_elem(&ioctls_in_flight, &tid);
	if (st) {
		__u32 i = st->idx;
		__u64 dt = bpf_ktime_get_ns() - st->ns;
		struct meter_gpu *g = bpf_map_lookup_elem(&gpu_stats, &i);
		if (g)
			__sync_fetch_and_add(&g->ioctl_ns, dt);
		bpf_map_delete_elem(&ioctls_in_flight, &tid);
		return 0;
	}
	if (ret < 0)
		return 0;
	long nr = BPF_CORE_READ(regs, orig_ax);
	if (nr != NR_OPENAT && nr != NR_OPEN)
		return 0;
	__s64 slot = slot_of_current();
	if (slot < 0 || slot >= nslots)
		return 0;
	__s64 idx = granted_index((__u32)slot, ret);
	if (idx >= 0) {
		__u32 i = (__u32)idx;
		struct meter_gpu *g = bpf_map_lookup_elem(&gpu_stats, &i);
		if (g)
			__sync_fetch_and_add(&g->opens, 1);
	}
	return 0;
}

/* cgroup_skb runs for the socket's cgroup: the sandbox's own or one below it. */
static __always_inline void count_skb(struct __sk_buff *skb, bool egress)
{
	__u64 cg = bpf_skb_ancestor_cgroup_id(skb, (int)sandbox_level);
	__u32 *slot = bpf_map_lookup_elem(&slots, &cg);
	if (!slot)
		return;
	struct meter_net *n = bpf_map_lookup_elem(&net, slot);
	if (!n)
		return;
	/* The loopback device is number 1 in every network namespace. */
	bool local = skb->ifindex == 1;
	if (egress && local) {
		__sync_fetch_and_add(&n->lo_tx_bytes, skb->len);
		__sync_fetch_and_add(&n->lo_tx_packets, 1);
	} else if (egress) {
		__sync_fetch_and_add(&n->tx_bytes, skb->len);
		__sync_fetch_and_add(&n->tx_packets, 1);
	} else if (local) {
		__sync_fetch_and_add(&n->lo_rx_bytes, skb->len);
		__sync_fetch_and_add(&n->lo_rx_packets, 1);
	} else {
		__sync_fetch_and_add(&n->rx_bytes, skb->len);
		__sync_fetch_and_add(&n->rx_packets, 1);
	}
}

SEC("cgroup_skb/ingress")
int count_ingress(struct __sk_buff *skb)
{
	count_skb(skb, false);
	return 1;
}

SEC("cgroup_skb/egress")
int count_egress(struct __sk_buff *skb)
{
	count_skb(skb, true);
	return 1;
}
