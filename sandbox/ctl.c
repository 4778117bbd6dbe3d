// SPDX-License-Identifier: MIT
/* Host side of the sbx-init control channel. */
#define _GNU_SOURCE
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"

int ctl_connect(int pidfd, bool nonblock)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	_cleanup_close_ int self = -1, fd = -1;

	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	if (setns(pidfd, CLONE_NEWNET) < 0)
		return -errno;
	/* Non-blocking from the start: a connect never waits on a backlog that processes
	 * inside the sandbox filled; it fails with EAGAIN. */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int err = errno;
	/* Back home whatever happened: this thread serves others next. */
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
	if (fd < 0)
		return -err;
	memcpy(addr.sun_path + 1, CTL_NAME, sizeof(CTL_NAME) - 1);
	if (connect(fd, (struct sockaddr *)&addr,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sizeof(CTL_NAME))) < 0)
		return -errno;
	if (!nonblock && fcntl(fd, F_SETFL, 0) < 0)
		return -errno;
	return TAKE_FD(fd);
}

static int append(char *buf, size_t *off, const char *s)
{
	size_t n = strlen(s) + 1;
	if (*off + n > CTL_MAX_MSG)
		return -E2BIG;
	memcpy(buf + *off, s, n);
	*off += n;
	return 0;
}

int ctl_send_fds(int sock, const void *buf, size_t len, const int *fds, unsigned n)
{
	union {
		char buf[CMSG_SPACE(CTL_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctrl = { 0 };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctrl.buf,
			      .msg_controllen = CMSG_SPACE(n * sizeof(int)) };

	if (n < 1 || n > CTL_MAX_FDS)
		return -EINVAL;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int send_exec(int fd, uint32_t type, uint32_t id, char *const argv[], char *const envp[],
		     const char *cwd, const int stdio[3])
{
	_cleanup_free_ char *buf = malloc(CTL_MAX_MSG);
	struct ctl_exec h = { .type = type, .id = id };
	size_t off = sizeof(h);
	int r;

	if (!buf)
		return -ENOMEM;
	if (!argv || !argv[0])
		return -EINVAL;
	if ((r = append(buf, &off, cwd ? cwd : "/")) < 0)
		return r;
	for (; argv[h.argc]; h.argc++)
		if (h.argc == CTL_MAX_ARGS || (r = append(buf, &off, argv[h.argc])) < 0)
			return r < 0 ? r : -E2BIG;
	for (; envp && envp[h.envc]; h.envc++)
		if (h.envc == CTL_MAX_ARGS || (r = append(buf, &off, envp[h.envc])) < 0)
			return r < 0 ? r : -E2BIG;
	memcpy(buf, &h, sizeof(h));
	return ctl_send_fds(fd, buf, off, stdio, 3);
}

int ctl_send_exec(int fd, uint32_t id, char *const argv[], char *const envp[], const char *cwd,
		  const int stdio[3])
{
	return send_exec(fd, CTL_EXEC, id, argv, envp, cwd, stdio);
}

int ctl_send_exec_tty(int fd, uint32_t id, char *const argv[], char *const envp[], const char *cwd,
		      int tty)
{
	int stdio[3] = { tty, tty, tty };
	return send_exec(fd, CTL_EXEC_TTY, id, argv, envp, cwd, stdio);
}

int ctl_send_signal(int fd, uint32_t id, int sig)
{
	struct ctl_signal s = { .type = CTL_SIGNAL, .id = id, .sig = sig };
	if (send(fd, &s, sizeof(s), MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

int ctl_send_adopt(int fd, uint32_t id, int pid)
{
	struct ctl_signal s = { .type = CTL_ADOPT, .id = id, .sig = pid };
	if (send(fd, &s, sizeof(s), MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

int ctl_reexec(int fd, int timeout_ms)
{
	struct ctl_signal s = { .type = CTL_REEXEC, .id = 0 };
	struct ctl_reply rep;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (send(fd, &s, sizeof(s), MSG_NOSIGNAL) < 0)
		return -errno;
	int n = poll(&p, 1, timeout_ms);
	if (n <= 0)
		return n < 0 ? -errno : -ETIMEDOUT;
	int r = ctl_read_reply(fd, &rep);
	if (r < 0)
		return r;
	if (rep.id != 0 || rep.type != CTL_STARTED)
		return rep.type == CTL_FAILED ? -rep.value : -EBADMSG;
	return 0;
}

int ctl_read_reply(int fd, struct ctl_reply *ret)
{
	ssize_t n = recv(fd, ret, sizeof(*ret), 0);

	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	if (n != sizeof(*ret) || ret->type < CTL_STARTED || ret->type > CTL_EXITED)
		return -EBADMSG;
	return 0;
}
