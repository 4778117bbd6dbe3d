/* SPDX-License-Identifier: MIT */
/* Shared by the meter's BPF programs and sbxd: map sizes and layouts. */
#pragma once

#define METER_SLOTS 4096   /* sandboxes metered at once (sbxd's --max-sandboxes cap) */
#define METER_SYSCALLS 512 /* syscall numbers counted one by one; the last counts the rest */

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
