/* SPDX-License-Identifier: MIT */
/* Between network.c (links, the nftables table) and netguard.c (the resolver sbxd serves
 * to sandboxes and the name check of their web connections). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "internal.h"

/* network.c */
/* The pair whose sandbox has address @addr (network byte order), or 0. */
int net_pair_of(uint32_t addr);
/* Runs @fn(@idx, @arg) in the network namespace of @pid, from the calling thread, which
 * comes back to its own: what @fn returned, or -errno. */
int net_in_pid(pid_t pid, int (*fn)(int idx, uint64_t arg), int idx, uint64_t arg);
/* Pair @idx's sandbox address (network byte order), or 0. */
uint32_t net_pair_address(int idx);
/* Whether @addr:@port is in the platform deny set, and no operator's exception opens it. */
bool net_platform_denied(uint32_t addr, uint16_t port);

/* netguard.c: two threads, started and stopped by network.c. */
/* Their sockets (the resolver's port and the name check's, for the table's rules): 0,
 * or -errno with why. */
int guard_open(uint16_t *ret_dns_port, uint16_t *ret_proxy_port, char *why, size_t size);
int guard_start(void);
void guard_stop(void);
/* Pair @idx's policy as the guard applies it (copied), or none (@p NULL). */
int guard_policy_set(int idx, const struct net_policy *p);
/* Connections the name check refused to pair @idx. */
uint64_t guard_denied(int idx);
/* Whether a sandbox with policy @p has its web connections checked by name. */
bool guard_checks(const struct net_policy *p);
