/* SPDX-License-Identifier: MIT */
/* Small steps inside a sandbox's namespaces that both the launcher's child and sbx-init
 * take (sbx-init is built alone, so they are inline here). Async-signal-safe. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Opens @path as if @dirfd were "/": no "..", symlink or magic link (/proc/self/fd/N,
 * /proc/1/root) leads out of it. The descriptor, or -errno. */
static inline int nsutil_open_in_root(int dirfd, const char *path, int flags)
{
	struct open_how how = { .flags = (unsigned long long)flags | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd;

	do
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN); /* a rename raced the walk */
	return fd < 0 ? -errno : fd;
}

/* Whether @fd is on a pseudo file system (the kernel's view of processes, devices and
 * control groups: nothing of a sandbox's files): 1, 0, or -errno. */
static inline int nsutil_pseudo_fs(int fd)
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
	case DEVPTS_SUPER_MAGIC:
		return 1;
	}
	return 0;
}

/* Brings lo up in the calling thread's network namespace: 0 or -errno. */
static inline int nsutil_lo_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (sock < 0 || ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		r = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (r == 0 && ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
		r = -errno;
	if (sock >= 0)
		close(sock);
	return r;
}

/* An OCI runtime's console: a terminal of the devpts at /dev/pts (the sandbox's own),
 * sized @rows x @cols when both are given, its master sent over the unix socket @sock
 * (runc's console socket: one descriptor, the message its name). The other end, or
 * -errno. */
static inline int nsutil_console(int sock, unsigned short rows, unsigned short cols)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctrl = { 0 };
	char name[] = "/dev/ptmx";
	struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) - 1 };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctrl.buf,
			      .msg_controllen = sizeof(ctrl.buf) };
	int unlock = 0, peer = -1, r = 0;

	int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return -errno;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0 ||
	    (peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		r = -errno;
	if (r == 0 && rows && cols) {
		struct winsize ws = { .ws_row = rows, .ws_col = cols };
		(void)ioctl(master, TIOCSWINSZ, &ws);
	}
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	__builtin_memcpy(CMSG_DATA(c), &master, sizeof(int));
	if (r == 0 && sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
		r = -errno;
	close(master);
	if (r < 0 && peer >= 0)
		close(peer);
	return r < 0 ? r : peer;
}
