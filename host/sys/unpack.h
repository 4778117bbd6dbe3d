/* SPDX-License-Identifier: MIT */
/* Tar streams applied to a directory, as image layers or as the outer archive of an
 * import (unpack.c). Nothing is written outside the directory: every path is resolved
 * inside it (openat2 RESOLVE_IN_ROOT, through no symlink), links are made, never followed,
 * ".." is refused, device nodes and sockets (and the outer archive's FIFOs) are dropped,
 * setuid and setgid bits are dropped unless kept, extended attributes are never applied,
 * and data, inodes, entries and decompressed bytes are capped. gzip, bzip2, xz and zstd
 * only. Any thread; returns 0 or -errno with one line in @err. */
#pragma once

#define UNPACK_MAX_DEPTH 256 /* path components of an entry */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct unpack_opts {
	bool layer;	      /* OCI whiteouts (.wh.NAME, .wh..wh..opq) become overlayfs ones */
	bool keep_setuid;     /* keep setuid/setgid bits (dropped otherwise) */
	uint64_t max_bytes;   /* the most file data, all entries together (each inode 4 KiB) */
	uint64_t max_entries; /* the most entries */
	/* Called every few MiB with the data written so far (may be NULL). */
	void (*progress)(uint64_t bytes, void *ud);
	void *ud;
};

struct unpack_stats {
	uint64_t bytes, entries;
	uint64_t dropped_devices, dropped_setuid;
};

/* Applies the archive in @fd (tar, any compression libarchive reads) to @root_fd. */
int unpack_tar(int fd, int root_fd, const struct unpack_opts *o, struct unpack_stats *st, char *err,
	       size_t errlen);
