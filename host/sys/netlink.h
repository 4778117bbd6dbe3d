/* SPDX-License-Identifier: MIT */
/* rtnetlink for sbx's own interfaces, and conntrack flushes (netlink.c): just the few
 * requests sandbox networking makes, each acknowledged before it returns. A socket
 * works in the network namespace of the thread that opened it. Addresses are IPv4 in
 * network byte order. Every call returns 0 or -errno (the kernel's). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct nl {
	int fd;
	uint32_t seq;
};

int nl_open(struct nl *nl);
void nl_close(struct nl *nl);

/* A veth pair @name <-> @peer, both down: @name in this namespace, @peer in the network
 * namespace @peer_netns_fd (-1: this one too). */
int nl_veth_add(struct nl *nl, const char *name, const char *peer, int peer_netns_fd);
/* Up, with IPv6 address generation off (no link-local address either). */
int nl_link_up(struct nl *nl, int ifindex);
int nl_link_del(struct nl *nl, int ifindex);
/* @addr/@prefix on @ifindex. */
int nl_addr_add(struct nl *nl, int ifindex, uint32_t addr, unsigned prefix);
/* @addr/@prefix off @ifindex, if it is there. */
int nl_addr_del(struct nl *nl, int ifindex, uint32_t addr, unsigned prefix);
/* A route to @dst/@prefix (0/0: the default) via @gw (0: none) out of @ifindex, in place
 * of one to the same destination. */
int nl_route_add(struct nl *nl, uint32_t dst, unsigned prefix, uint32_t gw, int ifindex);
/* The IPv4 default route gone, if there is one. */
int nl_route_del_default(struct nl *nl);
/* A token bucket as @ifindex's root queue: @rate bytes a second, bursts of @burst bytes. */
int nl_qdisc_tbf(struct nl *nl, int ifindex, uint64_t rate, uint32_t burst);
/* Every TCP and UDP socket of this namespace bound to an address other than loopback
 * and the wildcard, destroyed: its connection is reset (one closed already stays so).
 * The addresses they were bound to in @addrs (network byte order, at most @max, *@ret_n
 * of them). 0 or the first error. */
int nl_inet_reset_outside(uint32_t *addrs, unsigned max, unsigned *ret_n);
/* Removes every conntrack entry of this namespace whose mark is @mark. */
int nl_ct_flush_mark(uint32_t mark);
