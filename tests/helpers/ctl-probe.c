// SPDX-License-Identifier: MIT
/* From inside a sandbox: tries to drive sbx-init's control socket (its abstract name is
 * reachable in the sandbox's network namespace) to start a command. Prints "refused" when
 * sbx-init will not serve it, "served" when it started the command. Static. */
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../sandbox/ctl.h"

int main(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char msg[256];
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

	memcpy(addr.sun_path + 1, CTL_NAME, sizeof(CTL_NAME) - 1);
	if (connect(fd, (struct sockaddr *)&addr,
		    offsetof(struct sockaddr_un, sun_path) + sizeof(CTL_NAME)) < 0) {
		printf("refused (connect)\n");
		return 0;
	}
	struct ctl_exec h = { .type = CTL_EXEC, .id = 7, .argc = 2, .envc = 0 };
	size_t off = sizeof(h);
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + off, "/\0/bin/touch\0/tmp/pwned\0", 24);
	off += 24;
	int stdio[3] = { 0, 1, 2 };
	union {
		char buf[CMSG_SPACE(sizeof(stdio))];
		struct cmsghdr align;
	} ctrl = { 0 };
	struct iovec iov = { .iov_base = msg, .iov_len = off };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctrl.buf,
			    .msg_controllen = sizeof(ctrl.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(stdio));
	memcpy(CMSG_DATA(c), stdio, sizeof(stdio));
	if (sendmsg(fd, &m, MSG_NOSIGNAL) < 0) {
		printf("refused (send)\n");
		return 0;
	}
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct ctl_reply r;
	if (poll(&p, 1, 1000) == 1 && recv(fd, &r, sizeof(r), 0) == sizeof(r) &&
	    r.type == CTL_STARTED) {
		printf("served\n");
		return 1;
	}
	printf("refused\n");
	return 0;
}
