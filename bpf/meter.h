/* SPDX-License-Identifier: MIT */
/* Shared by the meter's BPF programs and sbxd: map sizes and layouts. */
#pragma once

/* The slots of a meter for @n sandboxes: whole units of METER_SLOTS, so that a restart
 * with a nearby count takes the same pinned maps. */
#define METER_SLOTS_FOR(n) (((n) + METER_SLOTS - 1) / METER_SLOTS * METER_SLOTS)

#define METER_SLOTS 4096      /* sandboxes a meter counts at once: the unit of its size */
#define METER_SLOTS_MAX 32768 /* the most (sbxd's --max-sandboxes cap) */
#define METER_SYSCALLS 512    /* syscall numbers counted one by one; the last counts the rest */

#define METER_GPUS 8 /* granted devices counted per sandbox */

/* Device activity on one granted device node of one slot. */
struct meter_gpu {
	unsigned long long opens, ioctls, ioctl_ns;
};

/* A granted device: the slot and the kernel's device number (major << 20 | minor). */
struct meter_dev_key {
	unsigned int slot, dev;
};

/* Network counters of one slot: through its links to the host (rx_, tx_: what it
 * exchanged with the internet) and on its loopback (lo_: local to the sandbox). */
struct meter_net {
	unsigned long long rx_bytes, rx_packets, tx_bytes, tx_packets;
	unsigned long long lo_rx_bytes, lo_rx_packets, lo_tx_bytes, lo_tx_packets;
};
