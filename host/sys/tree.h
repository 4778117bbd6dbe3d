/* SPDX-License-Identifier: MIT */
/* Directory trees of the image store (tree.c): removed, measured and copied without
 * following a symlink. Any thread; return 0 or -errno. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Removes @name under @dfd, a whole tree if it is a directory; a missing one is fine. */
int tree_remove_at(int dfd, const char *name);

/* Disk bytes (st_blocks) and entries of the tree at @dfd. */
int tree_usage(int dfd, uint64_t *ret_bytes, uint64_t *ret_entries);

/* How tree_copy copies files: their bytes (the digest covers them), or hard links to
 * them where both trees are on one file system (the digest covers their sizes and
 * modification times instead: nothing is read). */
enum tree_mode {
	TREE_BYTES,
	TREE_LINKS
};

/* Copies the tree at @src to the empty directory @dst (owners, modes, symlinks, times of
 * files; hard links within the tree stay links), and, unless @digest is NULL, its SHA-256
 * (names, types, modes, owners, link targets and file bytes or sizes and times, in name
 * order) as 64 hex digits. @keep, when not NULL, decides by path ("/usr/bin/python3")
 * and type (S_IFREG, S_IFLNK, ...) which non-directories are copied; directories are
 * copied where anything under them is, or where @keep takes the directory itself. */
int tree_copy(int src, int dst, enum tree_mode mode,
	      bool (*keep)(const char *path, mode_t type, void *ud), void *ud, char digest[65],
	      uint64_t *ret_bytes);
