/* SPDX-License-Identifier: MIT */
/* Files inside a sandbox, from the host: paths are resolved under the sandbox's root
 * directory (an O_PATH fd, e.g. of /proc/PID/root) with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS), so "..", absolute symlinks and symlinks swapped in during
 * the walk all stay inside it. Only regular files are read or written; procfs, sysfs
 * and cgroupfs are refused; writes go to a new file renamed into place, so no existing
 * node (a device, a FIFO, a symlink) is ever opened for writing.
 * Blocking: call from a worker. Return 0 or -errno. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads the regular file @path (absolute, inside the root) whole; -EFBIG over @max. */
int files_read(int root_fd, const char *path, uint64_t max, char **ret, size_t *ret_len);
/* Creates or replaces @path with @data as the host user @uid:@gid (the sandbox's user:
 * its permissions apply, and it owns the file), mode 0644. The parent directory must
 * exist. Switches the calling thread's fsuid and fsgid for the duration. */
int files_write(int root_fd, const char *path, const char *data, size_t len, uid_t uid, gid_t gid);
/* Removes the file (or empty directory) @path. */
int files_remove(int root_fd, const char *path);
/* Whether @path is acceptable at all: absolute, at most 4095 bytes, no NUL. */
int files_check_path(const char *path);
