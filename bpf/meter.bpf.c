// SPDX-License-Identifier: GPL-2.0 OR MIT
/* sbx's meter: counts, per sandbox, the syscalls its processes make and the bytes its
 * network namespace moves. A sandbox is found by the id of its cgroup-v2 ancestor at
 * the level where sbxd makes sandbox cgroups (so sub-cgroups made inside still count),
 * mapped to a dense slot by sbxd. Programs only count: a miss (any process outside a
 * sandbox) returns after one lookup. */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "meter.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by sbxd before load: the cgroup level of sandbox cgroups. */
const volatile __u32 sandbox_level = 0;

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
	__uint(max_entries, METER_SLOTS *METER_SYSCALLS);
	__type(key, __u32);
	__type(value, __u64);
} syscalls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, METER_SLOTS);
	__type(key, __u32);
	__type(value, struct meter_net);
} net SEC(".maps");

static __always_inline __u32 *slot_of_current(void)
{
	__u64 cg = bpf_get_current_ancestor_cgroup_id(sandbox_level);
	return bpf_map_lookup_elem(&slots, &cg);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(count_syscall, struct pt_regs *regs, long id)
{
	__u32 *slot = slot_of_current();
	if (!slot)
		return 0;
	__u32 nr = id >= 0 && id < METER_SYSCALLS - 1 ? (__u32)id : METER_SYSCALLS - 1;
	__u32 key = *slot * METER_SYSCALLS + nr;
	__u64 *c = bpf_map_lookup_elem(&syscalls, &key);
	if (c)
		__sync_fetch_and_add(c, 1);
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
	if (egress) {
		__sync_fetch_and_add(&n->tx_bytes, skb->len);
		__sync_fetch_and_add(&n->tx_packets, 1);
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
