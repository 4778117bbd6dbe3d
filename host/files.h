/* SPDX-License-Identifier: MIT */
/* Reading a file whole under a root directory (an O_PATH fd) with openat2(RESOLVE_IN_ROOT
 * | RESOLVE_NO_MAGICLINKS): sbxd reads its sandboxes' logs so. (Files inside a sandbox
 * are moved by a helper inside it: sbx-init --file.) Only regular files; procfs, sysfs
 * and cgroupfs are refused. Blocking: call from a worker. Return 0 or -errno. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads the regular file @path (absolute, inside the root) whole; -EFBIG over @max. */
int files_read(int root_fd, const char *path, uint64_t max, char **ret, size_t *ret_len);
/* Whether @path is acceptable at all: absolute, at most 4095 bytes, no NUL. */
int files_check_path(const char *path);
