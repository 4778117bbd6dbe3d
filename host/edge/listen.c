/* SPDX-License-Identifier: MIT */
/* sbxd's listening sockets: the unix socket (the host's admins) and TCP (tenants). */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../sandbox/instance.h"
#include "../../sandbox/macro.h"
#include "edge.h"

int server_listen_unix(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	char dir[PATH_MAX];

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	if (!strcmp(dir, instance_run_dir())) {
		int r = instance_run_dir_make();
		if (r < 0)
			return r;
	} else if (dir[0] && mkdir(dir, 0711) < 0 && errno != EEXIST) {
		return -errno;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A socket that answers belongs to a running sbxd: leave it alone. */
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
		return -EADDRINUSE;
	close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)unlink(path);
	mode_t old = umask(0117);
	int r = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (r < 0 || chmod(path, 0660) < 0 || listen(fd, 4096) < 0)
		return -errno;
	return TAKE_FD(fd);
}

int server_listen_tcp(const char *spec)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
	char host[256];
	const char *port;
	struct addrinfo *ai;
	int fd, one = 1;

	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || strlen(spec) >= sizeof(host))
		return -EINVAL;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	if (host[0] == '[') { /* [v6]:port */
		size_t n = strlen(host);
		if (host[n - 1] != ']')
			return -EINVAL;
		host[n - 1] = '\0';
		memmove(host, host + 1, n - 1);
	}
	port = colon + 1;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	return fd;
}

void server_stop_listening(void)
{
	for (int i = 0; i < 2; i++)
		if (E.listen_fd[i] >= 0) {
			io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &E.accept_op[i], 0);
			close(E.listen_fd[i]);
			E.listen_fd[i] = -1;
		}
	(void)unlink(D.opt.socket_path);
}

bool server_idle(void)
{
	for (struct conn *c = E.conns; c; c = c->next)
		if (!c->closing && (c->busy || c->sending))
			return false;
	return true;
}
