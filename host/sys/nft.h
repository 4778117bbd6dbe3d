/* SPDX-License-Identifier: MIT */
/* nftables through Debian's libnftables (nft.c): commands in nft's own language, run as
 * one transaction each (all of a command's lines apply, or none). Callers build the text
 * only from values they parsed themselves (addresses, numbers, sbx's own names), never
 * from a caller's string. Thread-safe: one context, one command at a time. */
#pragma once

#include <stddef.h>

/* Runs @cmd. 0, or -EINVAL with nft's first error line in @err (of @size), if given. */
int nft_run(const char *cmd, char *err, size_t size);
/* Runs @cmd and returns what it printed, or NULL with @err set. Caller frees. */
char *nft_query(const char *cmd, char *err, size_t size);
