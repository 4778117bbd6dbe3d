// SPDX-License-Identifier: MIT
/* sbxd's HTTP/1.1 server on the ring: accept, read, parse (host/http), answer in
 * order, write; keep-alive, pipelining, chunked responses, limits and idle timeouts.
 *
 * A tenant cannot starve the others or the host's admins: the unix socket has a pool of
 * its own; a TCP connection must present a valid token within --auth-timeout of its
 * accept, and until it has, it lives in a small pool of its own (per address, and in
 * all, where the oldest idle one makes room for a new one), apart from the
 * authenticated connections, which are counted per tenant. A request is authenticated
 * when its headers arrive: the body of one that is refused is never read. Bodies are
 * collected only up to --max-body each and a budget for all connections together
 * (503 beyond it); uploads stream into the sandbox at the pace it takes them. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../sandbox/macro.h"
#include "e2b.h"
#include "edge.h"
#include "../sys/store.h"

#define IN_BUF 65536
#define OUT_HIGH REPLY_HIGH /* a stream waits above this much unsent */

struct edge E = { .listen_fd = { -1, -1 } };

static void conn_process(struct conn *c);

static void conn_maybe_free(struct conn *c)
{
	if (!c->closing || c->ops > 0)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		E.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	budget_give(c->share, c->reserved + c->held + c->charged);
	http_request_free(c->req);
	http_reader_free(c->rd);
	e2b_request_end(c);
	free(c->tenant);
	free(c->stage);
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
	/* Its room in the pools is free now, not once its cancelled operations are in. */
	E.nconns--;
	if (!c->tcp)
		E.nconns_unix--;
	else if (!c->share)
		E.nconns_unauth--;
	conn_watch_gone(c);
	if (c->body_writing)
		io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &c->body_op, 0);
	else
		closep(&c->body_fd);
	/* Pending reads and writes end with an error or EOF; then the fd goes. */
	if (!c->handed_off)
		shutdown(c->fd, SHUT_RDWR);
	if (c->recv_armed)
		io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &c->recv_op, 0);
	if (c->sending)
		io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &c->send_op, 0);
	/* A read or write queued on the descriptor but not yet submitted would take the
	 * file of whatever gets its number next: an accept completing meanwhile (the
	 * kernel installs those on any syscall's return) handed a new client's request to
	 * this closed connection. */
	if (c->recv_armed || c->sending || c->body_writing)
		loop_submit(&D.loop);
	close(c->fd);
	c->fd = -1;
	conn_maybe_free(c);
}

static void eof_watch(struct conn *c);

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
		/* EOF: finish what is being answered, then close; a request whose body is
		 * still to come cannot be finished, and what it holds goes now. */
		c->eof = true;
		/* A stream's reader gone: the stream ends (its domain side is told). */
		if ((!c->busy && !c->sending) || c->reading || c->chunked_out)
			conn_close(c);
		return;
	}
	c->in_len += (size_t)res;
	c->last_active = mono_ns();
	conn_process(c);
	eof_watch(c);
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

/* While a stream is answered (it may go on for as long as its source does), a read stays
 * armed so that a reader who goes is seen at once, not at the stream's next write: what
 * arrives meanwhile (a pipelined request) waits in the buffer, while it has room. */
static void eof_watch(struct conn *c)
{
	if (c->chunked_out && !c->closing && c->in_len < IN_BUF)
		recv_arm(c);
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
	if (c->held && out_pending(c) == 0) {
		budget_give(c->share, c->held);
		c->held = 0;
	}
	conn_send_more(c);
	if (c->closing)
		return;
	if (out_pending(c) < OUT_HIGH && !conn_watch_drained(c))
		return;
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
	/* Starting a send is activity (a stream quiet for a while has just spoken); one that
	 * never completes leaves this as the last, and the idle rule closes it. */
	c->last_active = mono_ns();
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

/* The rest of a streamed body is dropped; its reader sees the pipe end (once a write in
 * flight completes). */
static void body_stop(struct conn *c)
{
	c->stage_len = 0;
	if (!c->body_writing)
		closep(&c->body_fd);
}

static void next_done(struct loop_op *op, int res, uint32_t flags)
{
	struct conn *c = (struct conn *)((char *)op - offsetof(struct conn, next_op));

	c->next_armed = false;
	if (!c->closing && !c->busy && !c->sending) {
		if (c->close_after || c->eof)
			conn_close(c);
		else
			conn_process(c);
	}
	conn_unref(c);
}

void conn_request_done(struct conn *c)
{
	/* Answered before its body was read: the rest is never read, so the connection
	 * cannot go on. */
	if (c->reading) {
		c->close_after = true;
		c->reading = false;
	}
	if (c->streaming) {
		c->streaming = false;
		body_stop(c);
	}
	budget_give(c->share, c->reserved);
	c->reserved = 0;
	http_request_free(c->req);
	c->req = NULL;
	free(c->tenant);
	c->tenant = NULL;
	e2b_request_end(c);
	c->chunked_out = false;
	c->busy = false;
	conn_send_more(c);
	if (c->closing || c->processing)
		return;
	/* Answered from a completion of the domain: it may be walking its lists, which the
	 * next request could change. The send's completion goes on (send_done); with
	 * nothing to send, a loop turn does. */
	if (!c->sending && !c->next_armed) {
		c->next_op.cb = next_done;
		io_uring_prep_nop(loop_sqe(&D.loop, &c->next_op));
		c->next_armed = true;
		c->ops++;
	}
}

void respond_begin(struct conn *c, int status, const char *ctype, uint64_t len)
{
	head(c, status, ctype);
	out_printf(c, "Content-Length: %" PRIu64 "\r\n\r\n", len);
	conn_send_more(c);
}

void respond(struct conn *c, int status, const char *ctype, const char *body, size_t len)
{
	head(c, status, ctype);
	out_printf(c, "Content-Length: %zu\r\n\r\n", len);
	out_append(c, body, len);
	conn_request_done(c);
}

void respond_empty(struct conn *c, int status)
{
	head(c, status, NULL);
	out_printf(c, "\r\n");
	conn_request_done(c);
}

void respond_with_header(struct conn *c, int status, const char *ctype, const char *header,
			 const char *body, size_t len)
{
	head(c, status, ctype);
	out_printf(c, "%s\r\nContent-Length: %zu\r\n\r\n", header, len);
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
	c->chunked_out = true;
	conn_send_more(c);
	eof_watch(c);
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

/* ---- request bodies ---- */

/* The collecting sink, within --max-body and the budget of all connections. */
static int collect(void *userdata, const char *data, size_t len)
{
	struct conn *c = userdata;
	uint64_t want = c->req->body_len + len;

	if (want > c->reserved) {
		/* Chunked: reserved as it grows. */
		if (!budget_take(c->share, want - c->reserved))
			return -503;
		c->reserved = want;
	}
	return http_collect_body(&c->col, data, len);
}

/* The streaming sink: into the stage, which conn_process never lets overflow. */
static int stage(void *userdata, const char *data, size_t len)
{
	struct conn *c = userdata;

	if (c->body_fd < 0)
		return 0; /* its reader is gone: the rest is dropped */
	memcpy(c->stage + c->stage_len, data, len);
	c->stage_len += len;
	return 0;
}

static void body_flush(struct conn *c);

static void body_done(struct loop_op *op, int res, uint32_t flags)
{
	struct conn *c = (struct conn *)((char *)op - offsetof(struct conn, body_op));

	c->ops--;
	c->body_writing = false;
	if (c->closing || !c->streaming) {
		closep(&c->body_fd);
		conn_maybe_free(c);
		return;
	}
	if (res == -EINTR || res == -EAGAIN)
		res = 0;
	if (res < 0) {
		/* Its reader stopped (a failed upload, which it answers): the rest of the
		 * body is not read. */
		closep(&c->body_fd);
		c->stage_len = 0;
		c->reading = false;
		c->close_after = true;
		return;
	}
	memmove(c->stage, c->stage + res, c->stage_len - (size_t)res);
	c->stage_len -= (size_t)res;
	body_flush(c);
	conn_process(c);
}

/* Writes what the stage holds; at the body's end, closes the pipe (EOF for its reader). */
static void body_flush(struct conn *c)
{
	if (c->body_writing || c->body_fd < 0)
		return;
	if (c->stage_len) {
		c->body_op.cb = body_done;
		io_uring_prep_write(loop_sqe(&D.loop, &c->body_op), c->body_fd, c->stage,
				    (unsigned)c->stage_len, (uint64_t)-1);
		c->body_writing = true;
		c->ops++;
	} else if (c->body_done) {
		closep(&c->body_fd);
	}
}

int conn_body_prepare(struct conn *c)
{
	if (!c->stage && !(c->stage = malloc(IN_BUF)))
		return -ENOMEM;
	return 0;
}

void conn_body_to_fd(struct conn *c, int fd)
{
	c->body_fd = fd;
	c->stage_len = 0;
	c->streaming = true;
	c->body_done = false;
	http_reader_body_to(c->rd, stage, c);
}

/* A request's headers: authenticated and routed before a byte of its body is read. */
static void request_error(struct conn *c, int status);

/* The body of @req is to be collected: its reservation made, or the request refused
 * (false). */
static bool body_collect_begin(struct conn *c, struct http_request *req)
{
	int64_t len = req->content_length;
	if (len > (int64_t)D.opt.max_body) {
		request_error(c, 413);
		return false;
	}
	/* Reserved whole when its length is known: it fits its share, or it is not read. */
	if (len > 0 && !budget_take(c->share, (uint64_t)len)) {
		request_error(c, 503);
		return false;
	}
	if (len > 0)
		c->reserved = (uint64_t)len;
	c->col = (struct http_collect){ .req = req, .max = D.opt.max_body };
	http_reader_body_to(c->rd, collect, c);
	return true;
}

static void request_headers(struct conn *c, struct http_request *req)
{
	c->busy = c->reading = true;
	c->req = req;
	if (!req->keep_alive)
		c->close_after = true;
	if (api_begin(c, req) && !c->streaming && !body_collect_begin(c, req))
		return;
	if (c->reading && http_reader_take_continue(c->rd)) {
		out_printf(c, "HTTP/1.1 100 Continue\r\n\r\n");
		conn_send_more(c);
	}
}

static void request_done(struct conn *c, struct http_request *req)
{
	c->reading = false;
	c->req_start = 0;
	if (c->streaming) {
		/* Its reader answers once it has the whole body. */
		c->body_done = true;
		body_flush(c);
		return;
	}
	if (!req->body && !(req->body = strdup(""))) {
		respond_error(c, 500, "internal", "out of memory");
		return;
	}
	api_handle(c, req);
}

/* A request that cannot be read on: answered with @status, and the connection closes. */
static void request_error(struct conn *c, int status)
{
	c->close_after = true;
	c->req_start = 0; /* answered: the timer of its arrival stops (else a 408 a tick) */
	if (c->streaming) {
		/* An upload cut short: its reader sees it end early, and answers. */
		c->reading = false;
		body_stop(c);
		return;
	}
	c->reading = false;
	c->busy = true;
	if (status == 413)
		respond_error(c, 413, "too_large",
			      "request body larger than the limit of %" PRIu64 " bytes",
			      D.opt.max_body);
	else if (status == 431)
		respond_error(c, 431, "too_large", "request headers too large");
	else if (status == 501)
		respond_error(c, 501, "not_implemented", "unsupported method or transfer encoding");
	else if (status == 503)
		respond_error(c, 503, "unavailable", "too many request bodies in flight; retry");
	else if (status == 408)
		respond_error(c, 408, "timeout", "request not received in time");
	else
		respond_error(c, status, "bad_request", "malformed HTTP request");
}

/* Parses and answers what has arrived, one request at a time; a request's body is read
 * while it is being answered. */
static void conn_process(struct conn *c)
{
	if (c->processing)
		return;
	c->processing = true;
	c->ops++; /* what it answers may close it: freed after this, not during */
	/* Until a request is being answered, or while its body is being read; and no next
	 * request while the answers already made wait for a client that does not read them
	 * (pipelined requests cannot pile answers up in memory). */
	while (!c->closing && (c->reading || (!c->busy && !c->close_after))) {
		if (!c->reading && out_pending(c) >= OUT_HIGH)
			break;
		if (c->in_off == c->in_len) {
			recv_arm(c);
			break;
		}
		size_t avail = c->in_len - c->in_off;
		/* Streaming: no more than the stage takes until the pipe drains. */
		if (c->streaming && c->body_fd >= 0) {
			if (c->stage_len == IN_BUF)
				break;
			if (avail > IN_BUF - c->stage_len)
				avail = IN_BUF - c->stage_len;
		}
		struct http_request *req = NULL;
		enum http_event ev;
		ssize_t n = http_reader_feed(c->rd, c->in + c->in_off, avail, &ev, &req);
		if (n < 0) {
			request_error(c, (int)-n);
			break;
		}
		c->in_off += (size_t)n;
		if (c->stage_len)
			body_flush(c);
		if (http_reader_mid_request(c->rd) && !c->req_start)
			c->req_start = mono_ns();
		if (ev == HTTP_EV_HEADERS)
			request_headers(c, req);
		else if (ev == HTTP_EV_DONE)
			request_done(c, req);
	}
	c->processing = false;
	if (!c->closing && !c->busy && !c->sending && (c->close_after || c->eof))
		conn_close(c);
	conn_unref(c);
}

/* TCP connections not yet authenticated from @peer. */
static unsigned peer_unauth(const char *peer)
{
	unsigned n = 0;
	for (struct conn *c = E.conns; c; c = c->next)
		n += !c->closing && c->tcp && !c->share && !strcmp(c->peer, peer);
	return n;
}

/* The unauthenticated pool (of @peer, or of all when NULL) is full: its oldest idle
 * member makes room. A client that authenticates promptly keeps its place; one that
 * holds connections open without a token loses them first. */
static bool evict_unauth(const char *peer)
{
	struct conn *oldest = NULL;
	for (struct conn *c = E.conns; c; c = c->next)
		if (!c->closing && c->tcp && !c->share && !c->busy && !c->sending &&
		    (!peer || !strcmp(c->peer, peer)) &&
		    (!oldest || c->accepted < oldest->accepted))
			oldest = c;
	if (!oldest)
		return false;
	conn_close(oldest);
	return true;
}

bool conn_admit(struct conn *c, const char *tenant)
{
	return conn_admit_as(c, tenant, false);
}

bool conn_admit_as(struct conn *c, const char *tenant, bool pass_on)
{
	const char *who = tenant ? tenant : ADMIN_TENANT;
	unsigned mine = 0;

	if (c->share && !strcmp(c->share->name, who))
		return true;
	/* One connection serves one tenant: another's token is not taken over it; but
	 * where clients pool their connections across keys (@pass_on), an idle one (it
	 * holds nothing of its tenant's buffer share) passes to the new tenant. */
	if (c->share && (!pass_on || c->held || c->charged || c->reserved)) {
		respond_error(c, 403, "forbidden",
			      "this connection belongs to another tenant; open a new one");
		return false;
	}
	for (struct conn *o = E.conns; o; o = o->next)
		mine += !o->closing && o->tcp && o->share && !strcmp(o->share->name, who);
	if (mine >= D.opt.max_conns_per_tenant) {
		respond_error(c, 503, "unavailable",
			      "tenant %s holds its maximum of %u connections", who,
			      D.opt.max_conns_per_tenant);
		return false;
	}
	struct share *sh = share_of(who);
	if (!sh) {
		respond_error(c, 500, "internal", "out of memory");
		return false;
	}
	if (!c->share)
		E.nconns_unauth--;
	c->share = sh;
	return true;
}

static void refuse(int fd, const char *why)
{
	char body[160], msg[384];
	int b = snprintf(body, sizeof(body),
			 "{\"error\":{\"code\":\"unavailable\",\"message\":\"%s\"}}\n", why);
	int n = snprintf(msg, sizeof(msg),
			 "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
			 "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			 b, body);
	(void)!send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

static void conn_new(int fd, bool tcp)
{
	static const struct http_limits lim_default = { .max_header_bytes = 16384 };
	struct http_limits lim = lim_default;
	char peer[64] = "";

	if (tcp) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int one = 1;
		/* Answers go as they are ready: a stream's small pieces (a command's events)
		 * must not wait for the peer's delayed acknowledgment of the last one. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
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
	/* Over the limits: a short answer, not a silent close. Each pool on its own: TCP
	 * peers cannot take the unix socket's room, nor unauthenticated ones the room of
	 * those with a token. */
	const char *why = NULL;
	if (D.stopping)
		why = "sbxd is shutting down";
	else if (!tcp && E.nconns_unix >= D.opt.max_unix_conns)
		why = "too many connections on the unix socket";
	else if (tcp && peer_unauth(peer) >= D.opt.max_conns_per_peer && !evict_unauth(peer))
		why = "too many connections without a token from this address";
	else if (tcp && E.nconns_unauth >= D.opt.max_unauth_conns && !evict_unauth(NULL))
		why = "too many connections without a token";
	else if (tcp && E.nconns - E.nconns_unix >= D.opt.max_conns && !evict_unauth(NULL))
		why = "too many connections";
	if (why) {
		refuse(fd, why);
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	/* The most of any sink: a collected body (--max-body), a file (--max-file), an
	 * image archive (--max-image); each sink holds its own. */
	lim.max_body = D.opt.max_body > D.opt.max_file ? D.opt.max_body : D.opt.max_file;
	if (D.opt.max_image > lim.max_body)
		lim.max_body = D.opt.max_image;
	c->in = malloc(IN_BUF);
	if (!c->in || http_reader_new(&lim, &c->rd) < 0) {
		free(c->in);
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	c->tcp = tcp;
	c->body_fd = -1;
	conn_reply_init(c);
	c->share = tcp ? NULL : &E.admin_share;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->recv_op.cb = recv_done;
	c->send_op.cb = send_done;
	c->last_active = c->accepted = mono_ns();
	c->next = E.conns;
	if (E.conns)
		E.conns->prev = c;
	E.conns = c;
	E.nconns++;
	if (tcp)
		E.nconns_unauth++;
	else
		E.nconns_unix++;
	conn_process(c);
}

static void accept_done(struct loop_op *op, int res, uint32_t flags)
{
	int which = op == &E.accept_op[1];

	if (res >= 0)
		conn_new(res, which == 1);
	else if (res != -ECANCELED)
		logmsg(res == -EMFILE || res == -ENFILE ? 1 : 3, "accept: %s", strerror(-res));
	if (!(flags & IORING_CQE_F_MORE) && !D.stopping && E.listen_fd[which] >= 0)
		server_accept_arm(which);
}

void server_accept_arm(int which)
{
	E.accept_op[which].cb = accept_done;
	struct io_uring_sqe *sqe = loop_sqe(&D.loop, &E.accept_op[which]);
	io_uring_prep_multishot_accept(sqe, E.listen_fd[which], NULL, NULL, SOCK_CLOEXEC);
}

void conn_tick(int64_t now)
{
	for (struct conn *c = E.conns, *n; c; c = n) {
		n = c->next;
		if (c->closing)
			continue;
		/* A followed log: looked at on each tick, however long it stays quiet (a
		 * reader that takes nothing is still closed as idle, below). */
		if (c->reply.watch && c->reply.watch->poll && !conn_watch_drained(c))
			continue;
		e2b_tick(c, now);
		/* A TCP peer that has not shown a valid token in time goes, answered or not. */
		if (c->tcp && !c->share && !c->busy && now - c->accepted > D.opt.auth_ns) {
			conn_close(c);
			continue;
		}
		/* A request whose headers, or collected body, do not arrive in time: 408. */
		if ((!c->busy || (c->reading && !c->streaming)) && c->req_start &&
		    now - c->req_start > D.opt.request_ns) {
			request_error(c, 408);
			continue;
		}
		if (!c->busy && !c->sending && !c->req_start &&
		    (now - c->last_active > D.opt.conn_idle_ns || D.stopping))
			conn_close(c);
		/* A client that takes nothing of what it asked for is closed as an idle one. */
		else if (c->sending && now - c->last_active > D.opt.conn_idle_ns)
			conn_close(c);
	}
}
