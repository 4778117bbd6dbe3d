/* SPDX-License-Identifier: MIT */
/* Shared by the meter's BPF programs and sbxd: map sizes and layouts. */
#pragma once

#define METER_SLOTS 4096   /* sandboxes metered at once (sbxd's --max-sandboxes cap) */
#define METER_SYSCALLS 512 /* syscall numbers counted one by one; the last counts the rest */

/* Network counters of one slot. */
struct meter_net {
	unsigned long long rx_bytes, rx_packets, tx_bytes, tx_packets;
};
