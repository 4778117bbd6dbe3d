// SPDX-License-Identifier: MIT
/* sbx port ID PORT: publishes a port of a sandbox (net "internet") on sbxd's TCP listener,
 * and prints the Host that reaches it. sbx port-forward ID PORT [LOCAL]: a local TCP port
 * (127.0.0.1) whose connections reach the sandbox's port through sbxd. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../sandbox/macro.h"
#include "sbx.h"

static int parse_port(const char *s, const char *what)
{
	char *end;
	unsigned long p = strtoul(s, &end, 10);
	if (!*s || *end || p < 1 || p > 65535)
		return -sbx_die("%s: \"%s\" is not a TCP port (1-65535)", what, s);
	return (int)p;
}

int cmd_port(int argc, char **argv)
{
	struct sbx_args a = { 0 };
	json_t *rec = NULL, *ans = NULL;
	int r, port;

	sbx_prog = "sbx port";
	r = sbx_args_parse(argc, argv, &a);
	if (r)
		return r;
	if (a.nids != 2)
		return sbx_die("usage: sbx port ID PORT");
	if ((port = parse_port(a.ids[1], "PORT")) < 0)
		return -port;
	const char *sock = sbx_socket_path(a.sock);
	if ((r = sbx_sandbox_get_json(sock, a.ids[0], NULL, &rec)))
		return r;
	json_t *net = json_object_get(rec, "net");
	if (!json_is_object(net)) {
		json_decref(rec);
		return sbx_die("sandbox %s has no network of its own (create it with --net "
			       "internet)",
			       a.ids[0]);
	}
	/* Its policy as it is, and one port more. */
	json_t *policy = json_deep_copy(net), *ports = json_object_get(policy, "ports");
	bool have = false;
	size_t i;
	json_t *v;
	json_array_foreach (ports, i, v)
		have |= json_integer_value(v) == port;
	if (!have)
		json_array_append_new(ports, json_integer(port));
	char *body = json_dumps(policy, JSON_COMPACT);
	_cleanup_free_ char *target = sbx_sandbox_target(a.ids[0], "network", NULL);
	json_decref(policy);
	r = body && target ? sbx_call_json(sock, "PUT", target, body, &ans) : EXIT_SBX;
	free(body);
	if (r == 0 && a.json) {
		r = sbx_print_json(ans);
	} else if (r == 0) {
		/* The record's hosts: "PORT-ID.DOMAIN" for each published port. */
		char want[16];
		snprintf(want, sizeof(want), "%d-", port);
		json_array_foreach (json_object_get(ans, "hosts"), i, v)
			if (!strncmp(json_string_value(v), want, strlen(want)))
				printf("%s\n", json_string_value(v));
	}
	json_decref(ans);
	json_decref(rec);
	return r;
}

/* Bytes both ways between @a and @b until both have ended. */
static void relay(int a, int b)
{
	char buf[65536];
	bool open_a = true, open_b = true;

	while (open_a || open_b) {
		struct pollfd p[2] = { { .fd = open_a ? a : -1, .events = POLLIN },
				       { .fd = open_b ? b : -1, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		for (int k = 0; k < 2; k++) {
			if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			int from = k ? b : a, to = k ? a : b;
			ssize_t n = read(from, buf, sizeof(buf));
			if (n > 0 && client_write_all(to, buf, (size_t)n) == 0)
				continue;
			if (n < 0 && errno == EINTR)
				continue;
			/* It ended (or failed): the other side hears so, and is read on. */
			shutdown(to, SHUT_WR);
			if (k)
				open_b = false;
			else
				open_a = false;
			if (n < 0)
				return;
		}
	}
}

/* One local connection: its stream through sbxd, in a child of its own. */
static void forward_one(int fd, const char *sock, const char *target)
{
	struct client_resp resp;
	int up = -1, r = client_upgrade(sock, target, &up, &resp);

	if (r < 0)
		sbx_die("sbxd at %s: %s", sock, strerror(-r));
	else if (up < 0)
		sbx_die("%s", client_error_message(&resp));
	else
		relay(fd, up);
	client_resp_clear(&resp);
	closep(&up);
	close(fd);
}

int cmd_port_forward(int argc, char **argv)
{
	struct sbx_args a = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	char query[32];
	int r, port, local, one = 1;

	sbx_prog = "sbx port-forward";
	r = sbx_args_parse(argc, argv, &a);
	if (r)
		return r;
	if (a.nids != 2 && a.nids != 3)
		return sbx_die("usage: sbx port-forward ID PORT [LOCAL]");
	if ((port = parse_port(a.ids[1], "PORT")) < 0)
		return -port;
	local = a.nids == 3 ? parse_port(a.ids[2], "LOCAL") : port;
	if (local < 0)
		return -local;
	snprintf(query, sizeof(query), "port=%d", port);
	_cleanup_free_ char *target = sbx_sandbox_target(a.ids[0], "connect", query);
	const char *sock = sbx_socket_path(a.sock);
	_cleanup_close_ int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_port = htons((uint16_t)local);
	if (!target)
		return sbx_die("invalid sandbox id \"%s\"", a.ids[0]);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 64) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		return sbx_die("127.0.0.1:%d: %s", local, strerror(errno));
	signal(SIGCHLD, SIG_IGN); /* children reaped by the kernel */
	printf("127.0.0.1:%u -> %s:%d\n", ntohs(sa.sin_port), a.ids[0], port);
	fflush(stdout);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return sbx_die("accept: %s", strerror(errno));
		}
		pid_t pid = fork();
		if (pid == 0) {
			closep(&lfd);
			forward_one(fd, sock, target);
			_exit(0);
		}
		close(fd);
	}
}
