// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "../sandbox/macro.h"

#define RESOLVE_FLAGS (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

int files_check_path(const char *path)
{
	size_t len = path ? strlen(path) : 0;

	if (!len || path[0] != '/' || len >= PATH_MAX)
		return -EINVAL;
	return 0;
}

static int open_in_root(int root_fd, const char *path, uint64_t flags)
{
	struct open_how how = { .flags = flags | O_CLOEXEC, .resolve = RESOLVE_FLAGS };
	long fd;

	do
		fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN); /* a rename raced the walk: retry */
	return fd < 0 ? -errno : (int)fd;
}

/* Refuses the pseudo file systems: reading or writing there as host root would reach
 * past the sandbox (another process's memory, kernel knobs). */
static int check_fs(int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return -errno;
	switch (sfs.f_type) {
	case PROC_SUPER_MAGIC:
	case SYSFS_MAGIC:
	case CGROUP_SUPER_MAGIC:
	case CGROUP2_SUPER_MAGIC:
	case DEBUGFS_MAGIC:
	case SECURITYFS_MAGIC:
	case BPF_FS_MAGIC:
		return -EACCES;
	}
	return 0;
}

int files_read(int root_fd, const char *path, uint64_t max, char **ret, size_t *ret_len)
{
	_cleanup_close_ int pfd = -1, fd = -1;
	char self[64];
	struct stat st;
	int r;

	r = files_check_path(path);
	if (r < 0)
		return r;
	/* O_PATH first: opening a device or FIFO can have effects of its own. */
	pfd = open_in_root(root_fd, path, O_PATH);
	if (pfd < 0)
		return pfd;
	if (fstat(pfd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EPERM;
	r = check_fs(pfd);
	if (r < 0)
		return r;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	/* Re-open the very inode the walk found, for reading. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) { /* it grew while we read */
			if (cap > max) {
				free(buf);
				return -EFBIG;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		free(buf);
		return -EFBIG;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}
