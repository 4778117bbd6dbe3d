// SPDX-License-Identifier: MIT
/* sbxd's HTTP/1.1 server on the ring: accept, read, parse (host/http), answer in
 * order, write; keep-alive, pipelining, chunked responses, limits and idle timeouts. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"

#define IN_BUF 65536
#define OUT_HIGH (1u << 20) /* stop reading command output above this much unsent */

static void conn_process(struct conn *c);

static void conn_maybe_free(struct conn *c)
{
	if (!c->closing || c->ops > 0)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		D.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	D.nconns--;
	http_request_free(c->req);
	http_reader_free(c->rd);
	free(c->tenant);
	free(c->in);
	free(c->out.p);
	free(c->wire.p);
	free(c);
}

void conn_unref(struct conn *c)
{
	c->ops--;
	conn_maybe_free(c);
}

void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->exec) {
		exec_conn_gone(c->exec);
		c->exec = NULL;
	}
	if (c->follow_fd >= 0) {
		close(c->follow_fd);
		c->follow_fd = -1;
	}
	/* Pending reads and writes end with an error or EOF; then the fd goes. */
	shutdown(c->fd, SHUT_RDWR);
	if (c->recv_armed)
		io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &c->recv_op, 0);
	if (c->sending)
		io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &c->send_op, 0);
	close(c->fd);
	c->fd = -1;
	conn_maybe_free(c);
}

static void recv_done(struct loop_op *op, int res, uint32_t flags)
{
	struct conn *c = (struct conn *)((char *)op - offsetof(struct conn, recv_op));

	c->ops--;
	c->recv_armed = false;
	if (c->closing) {
		conn_maybe_free(c);
		return;
	}
	if (res <= 0) {
		if (res == -EINTR || res == -EAGAIN) {
			conn_process(c);
			return;
		}
		/* EOF: finish what is being answered, then close. */
		c->eof = true;
		if (!c->busy && !c->sending)
			conn_close(c);
		return;
	}
	c->in_len += (size_t)res;
	c->last_active = mono_ns();
	conn_process(c);
}

static void recv_arm(struct conn *c)
{
	if (c->recv_armed || c->closing || c->eof)
		return;
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	if (c->in_len == IN_BUF) { /* compact */
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	struct io_uring_sqe *sqe = loop_sqe(&D.loop, &c->recv_op);
	io_uring_prep_recv(sqe, c->fd, c->in + c->in_len, IN_BUF - c->in_len, 0);
	c->recv_armed = true;
	c->ops++;
}

/* Two buffers: the kernel reads the one in flight (wire) while responses append to out;
 * neither moves under a send. */
size_t out_pending(const struct conn *c)
{
	return c->wire.len - c->wire.sent + c->out.len;
}

static void send_done(struct loop_op *op, int res, uint32_t flags)
{
	struct conn *c = (struct conn *)((char *)op - offsetof(struct conn, send_op));

	c->ops--;
	c->sending = false;
	if (c->closing) {
		conn_maybe_free(c);
		return;
	}
	if (res < 0) {
		if (res == -EINTR || res == -EAGAIN) {
			conn_send_more(c);
			return;
		}
		conn_close(c);
		return;
	}
	c->wire.sent += (size_t)res;
	c->last_active = mono_ns();
	if (c->wire.sent == c->wire.len)
		c->wire.sent = c->wire.len = 0;
	conn_send_more(c);
	if (c->closing)
		return;
	if (c->exec && out_pending(c) < OUT_HIGH)
		exec_resume(c->exec);
	if (!c->sending && !c->busy) {
		if (c->close_after || c->eof)
			conn_close(c);
		else
			conn_process(c);
	}
}

void conn_send_more(struct conn *c)
{
	if (c->sending || c->closing || out_pending(c) == 0)
		return;
	if (c->wire.len == 0) { /* swap: what was appended goes on the wire */
		struct outbuf t = c->wire;
		c->wire = c->out;
		c->out = t;
		c->out.len = c->out.sent = 0;
	}
	struct io_uring_sqe *sqe = loop_sqe(&D.loop, &c->send_op);
	io_uring_prep_send(sqe, c->fd, c->wire.p + c->wire.sent, c->wire.len - c->wire.sent,
			   MSG_NOSIGNAL);
	c->sending = true;
	c->ops++;
}

void out_append(struct conn *c, const void *data, size_t len)
{
	if (c->closing)
		return;
	if (c->out.len + len > c->out.cap) {
		size_t cap = c->out.cap ? c->out.cap : 4096;
		while (cap < c->out.len + len)
			cap *= 2;
		char *p = realloc(c->out.p, cap);
		if (!p) {
			conn_close(c);
			return;
		}
		c->out.p = p;
		c->out.cap = cap;
	}
	memcpy(c->out.p + c->out.len, data, len);
	c->out.len += len;
}

void out_printf(struct conn *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		out_append(c, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void head(struct conn *c, int status, const char *ctype)
{
	out_printf(c, "HTTP/1.1 %d %s\r\nServer: sbxd/" SBX_VERSION "\r\n", status,
		   http_status_reason(status));
	if (ctype)
		out_printf(c, "Content-Type: %s\r\n", ctype);
	if (status == 405)
		out_printf(c, "Allow: %s\r\n", "GET, POST, PUT, DELETE");
	if (status == 401)
		out_printf(c, "WWW-Authenticate: Bearer realm=\"sbxd\"\r\n");
	if (c->close_after || D.stopping)
		out_printf(c, "Connection: close\r\n");
}

void conn_request_done(struct conn *c)
{
	http_request_free(c->req);
	c->req = NULL;
	free(c->tenant);
	c->tenant = NULL;
	c->busy = false;
	conn_send_more(c);
	if (c->closing)
		return;
	if (!c->processing) {
		if (!c->sending && (c->close_after || c->eof))
			conn_close(c);
		else
			conn_process(c);
	}
}

void respond(struct conn *c, int status, const char *ctype, const char *body, size_t len)
{
	head(c, status, ctype);
	out_printf(c, "Content-Length: %zu\r\n\r\n", len);
	out_append(c, body, len);
	conn_request_done(c);
}

void respond_json(struct conn *c, int status, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!s) {
		respond(c, 500, "application/json",
			"{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}", 55);
		return;
	}
	size_t n = strlen(s);
	s[n] = '\n';
	respond(c, status, "application/json", s, n + 1);
	free(s);
}

void respond_error(struct conn *c, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	respond_json(c, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

void respond_chunked_head(struct conn *c, int status, const char *ctype)
{
	head(c, status, ctype);
	out_printf(c, "Transfer-Encoding: chunked\r\nX-Content-Type-Options: nosniff\r\n\r\n");
	conn_send_more(c);
}

void chunk_send(struct conn *c, const char *data, size_t len)
{
	if (!len)
		return;
	out_printf(c, "%zx\r\n", len);
	out_append(c, data, len);
	out_append(c, "\r\n", 2);
	conn_send_more(c);
}

void chunk_end(struct conn *c)
{
	out_append(c, "0\r\n\r\n", 5);
	conn_request_done(c);
}

/* Parses and answers what has arrived, one request at a time. */
static void conn_process(struct conn *c)
{
	if (c->processing)
		return;
	c->processing = true;
	while (!c->busy && !c->closing && !c->close_after) {
		if (c->in_off == c->in_len) {
			recv_arm(c);
			break;
		}
		struct http_request *req = NULL;
		ssize_t n = http_reader_feed(c->rd, c->in + c->in_off, c->in_len - c->in_off, &req);
		if (n < 0) {
			int status = (int)-n;
			c->busy = true;
			c->close_after = true;
			if (status == 413)
				respond_error(c, 413, "too_large",
					      "request body larger than the limit of %" PRIu64
					      " bytes",
					      D.opt.max_body);
			else if (status == 431)
				respond_error(c, 431, "too_large", "request headers too large");
			else if (status == 501)
				respond_error(c, 501, "not_implemented",
					      "unsupported method or transfer encoding");
			else
				respond_error(c, status, "bad_request", "malformed HTTP request");
			break;
		}
		c->in_off += (size_t)n;
		if (http_reader_take_continue(c->rd)) {
			out_printf(c, "HTTP/1.1 100 Continue\r\n\r\n");
			conn_send_more(c);
		}
		if (http_reader_mid_request(c->rd) && !c->req_start)
			c->req_start = mono_ns();
		if (!req)
			continue;
		c->req_start = 0;
		c->busy = true;
		c->req = req;
		if (!req->keep_alive)
			c->close_after = true;
		api_handle(c, req);
	}
	c->processing = false;
	if (!c->closing && !c->busy && !c->sending && (c->close_after || c->eof))
		conn_close(c);
}

static unsigned peer_conns(const char *peer)
{
	unsigned n = 0;
	for (struct conn *c = D.conns; c; c = c->next)
		n += !c->closing && !strcmp(c->peer, peer);
	return n;
}

static void conn_new(int fd, bool tcp)
{
	static const struct http_limits lim_default = { .max_header_bytes = 16384 };
	struct http_limits lim = lim_default;
	char peer[64] = "";

	if (tcp) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
			if (ss.ss_family == AF_INET)
				inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, peer,
					  sizeof(peer));
			else if (ss.ss_family == AF_INET6)
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, peer,
					  sizeof(peer));
		}
	} else {
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
			snprintf(peer, sizeof(peer), "uid:%u", (unsigned)cred.uid);
	}
	/* Over the limits: a short answer, not a silent close. */
	const char *why = NULL;
	if (D.stopping)
		why = "sbxd is shutting down";
	else if (D.nconns >= D.opt.max_conns)
		why = "too many connections";
	else if (peer_conns(peer) >= D.opt.max_conns_per_peer)
		why = "too many connections from this peer";
	if (why) {
		char body[160], msg[384];
		int b = snprintf(body, sizeof(body),
				 "{\"error\":{\"code\":\"unavailable\",\"message\":\"%s\"}}\n",
				 why);
		int n = snprintf(msg, sizeof(msg),
				 "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
				 "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
				 b, body);
		(void)!send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	lim.max_body = D.opt.max_body;
	c->in = malloc(IN_BUF);
	if (!c->in || http_reader_new(&lim, &c->rd) < 0) {
		free(c->in);
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	c->tcp = tcp;
	c->follow_fd = -1;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->recv_op.cb = recv_done;
	c->send_op.cb = send_done;
	c->last_active = mono_ns();
	c->next = D.conns;
	if (D.conns)
		D.conns->prev = c;
	D.conns = c;
	D.nconns++;
	conn_process(c);
}

static void accept_done(struct loop_op *op, int res, uint32_t flags)
{
	int which = op == &D.accept_op[1];

	if (res >= 0)
		conn_new(res, which == 1);
	else if (res != -ECANCELED)
		logmsg(res == -EMFILE || res == -ENFILE ? 1 : 3, "accept: %s", strerror(-res));
	if (!(flags & IORING_CQE_F_MORE) && !D.stopping && D.listen_fd[which] >= 0)
		server_accept_arm(which);
}

void server_accept_arm(int which)
{
	D.accept_op[which].cb = accept_done;
	struct io_uring_sqe *sqe = loop_sqe(&D.loop, &D.accept_op[which]);
	io_uring_prep_multishot_accept(sqe, D.listen_fd[which], NULL, NULL, SOCK_CLOEXEC);
}

void conn_tick(int64_t now)
{
	for (struct conn *c = D.conns, *n; c; c = n) {
		n = c->next;
		if (c->closing)
			continue;
		if (c->follow_fd >= 0) {
			box_logs_follow(c);
			continue;
		}
		/* A request that does not arrive in time (slow headers or body): 408. */
		if (!c->busy && c->req_start && now - c->req_start > D.opt.request_ns) {
			c->busy = true;
			c->close_after = true;
			respond_error(c, 408, "timeout", "request not received in time");
			continue;
		}
		if (!c->busy && !c->sending && !c->req_start &&
		    (now - c->last_active > D.opt.conn_idle_ns || D.stopping))
			conn_close(c);
	}
}
