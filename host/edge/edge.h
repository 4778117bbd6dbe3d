/* SPDX-License-Identifier: MIT */
/* The HTTP edge: connections, the buffer budget, the router and the rendering of every
 * answer. The only room that knows a connection or an HTTP status. Loop thread only. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../domain/domain.h"
#include "http.h"

struct outbuf {
	char *p;
	size_t len, cap, sent;
};

/* Who holds what of opt.buffer_memory (bodies being collected, command output, answers
 * waiting for their reader): the admins (the unix socket), or one tenant. */
struct share {
	struct share *next;
	char *name;
	uint64_t bytes;
};

struct conn {
	struct conn *next, *prev;
	int fd;
	bool tcp;
	char peer[64]; /* "uid:N" or the address */
	struct http_reader *rd;
	char *in;
	size_t in_off, in_len;
	struct http_request *req; /* the one being answered */
	char *tenant;		  /* of that request; NULL = admin */
	/* The request's body: collected (in req->body, counted in D.buffered) or
	 * streamed into body_fd through stage. */
	struct http_collect col;
	uint64_t reserved;
	/* The socket's admins', or (TCP) its tenant's once a request of it has presented a
	 * valid token: NULL until then. */
	struct share *share;
	uint64_t held; /* of share: an answer in out or on the wire */
	int body_fd;
	char *stage;
	size_t stage_len;
	struct loop_op body_op;
	bool streaming, body_writing, body_done;
	bool busy, reading, processing, closing, close_after, recv_armed, sending, eof;
	bool handed_off; /* its socket went to a sandbox's port (a dup): not shut down here */
	int64_t accepted;
	struct outbuf out, wire; /* appended; in flight */
	struct loop_op recv_op, send_op;
	/* A loop turn to go on after a request was answered from outside the edge's own
	 * processing (a domain completion): the next one never runs inside that caller. */
	struct loop_op next_op;
	bool next_armed;
	int ops;
	int64_t last_active, req_start;
	/* How the domain answers its request (reply.c); a stream's kind while one is open
	 * (chunked unless bytes of a known length); what a collected answer took of share
	 * so far. */
	struct reply reply;
	bool stream_bytes;
	bool chunked_out; /* a chunked answer (a stream) is being sent */
	uint64_t charged;
	/* A request of the E2B surface (e2b.c): how its reply renders (0: /v1's way), its
	 * state, what renders a result, and a Connect stream's progress. */
	uint8_t e2b;
	bool e2b_open, e2b_ended, e2b_keepalive_event;
	int64_t e2b_beat;
	void *e2b_state;
	void (*e2b_done)(struct conn *c, json_t *body);
};

struct edge {
	int listen_fd[2];
	struct loop_op accept_op[2];
	struct conn *conns;
	unsigned nconns, nconns_unix, nconns_unauth;
	uint64_t buffered; /* of opt.buffer_memory, in use */
	struct share admin_share, *shares;
};

extern struct edge E;

/* reply.c: the reply of a connection's request; the errno -> HTTP status table. */
extern const struct reply_ops conn_reply_ops;
void conn_reply_init(struct conn *c);
/* What a collected answer was charged is given back once its reader has it. */
void conn_charged_settle(struct conn *c);
/* The status and error code that answer @err (a -errno of the domain). */
int http_status_of(int err, const char **code);
/* An error answer for -errno @err with @msg. Ends the request. */
void respond_fail(struct conn *c, int err, const char *msg);
/* The domain's watch of @c's reply: told its reader took what was pending (false: @c
 * closed meanwhile, and may be gone), or went away (from conn_close). */
bool conn_watch_drained(struct conn *c);
void conn_watch_gone(struct conn *c);

/* server.c */
void server_accept_arm(int which);
/* A TCP connection's request authenticated as @tenant (NULL: the admin): it moves from
 * the unauthenticated pool to its tenant's, if that has room; else answers 503. */
bool conn_admit(struct conn *c, const char *tenant);
/* The same; with @pass_on an idle connection of another tenant passes to this one (the
 * E2B surface: its SDKs pool connections whatever the key). */
bool conn_admit_as(struct conn *c, const char *tenant, bool pass_on);
/* budget.c: the buffer budget. A tenant holds at most a quarter of opt.buffer_memory, tenants
 * together three quarters (the rest is the admins'). budget_room() says how much more
 * fits @s (NULL: nothing); budget_charge() takes it whether or not. */
uint64_t budget_room(const struct share *s);
void budget_charge(struct share *s, uint64_t n);
void budget_give(struct share *s, uint64_t n);
/* Charges @n to @s if it fits (false: nothing charged). */
bool budget_take(struct share *s, uint64_t n);
/* The admins' share, or a tenant's (made on its first connection); NULL: out of memory. */
struct share *share_of(const char *who);
void conn_tick(int64_t now);
void conn_send_more(struct conn *c);
void conn_request_done(struct conn *c);
void conn_close(struct conn *c);
/* Drops a reference taken with c->ops++ for a job; frees a closed connection. */
void conn_unref(struct conn *c);
void out_append(struct conn *c, const void *data, size_t len);
void out_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t out_pending(const struct conn *c);
/* A whole response: status, content type, body. Ends the request. */
void respond(struct conn *c, int status, const char *ctype, const char *body, size_t len);
void respond_json(struct conn *c, int status, json_t *body); /* steals @body */
/* A response without a body (204): no Content-Length. */
void respond_empty(struct conn *c, int status);
/* respond() with one more header line (@header, without CRLF). */
void respond_with_header(struct conn *c, int status, const char *ctype, const char *header,
			 const char *body, size_t len);
void respond_error(struct conn *c, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The rest of the current request's body goes into @fd (a pipe; taken) as it arrives,
 * at the pace @fd takes it; @fd is closed at the body's end, or when the connection
 * goes. A reader of @fd that stops early ends the transfer: the answer then closes the
 * connection. conn_body_prepare() first, before anything is started for the body: what
 * can fail fails there. */
int conn_body_prepare(struct conn *c);
void conn_body_to_fd(struct conn *c, int fd);
/* Headers of a response of @len bytes, which follow with out_append(); the caller ends
 * it with conn_request_done(), or closes the connection if it cannot send them all. */
void respond_begin(struct conn *c, int status, const char *ctype, uint64_t len);
/* Headers of a chunked response; chunks follow with chunk_send(), ended by chunk_end(). */
void respond_chunked_head(struct conn *c, int status, const char *ctype);
void chunk_send(struct conn *c, const char *data, size_t len);
void chunk_end(struct conn *c);
/* listen.c: a listening socket's fd, or -errno (-EADDRINUSE: a running sbxd answers
 * there; -EINVAL: @spec is not ADDR:PORT with a numeric address). */
int server_listen_unix(const char *path);
int server_listen_tcp(const char *spec);
/* Stops accepting (the listeners are closed, the socket's path removed). */
void server_stop_listening(void);
/* No request is being answered or sent. */
bool server_idle(void);

/* api.c */
/* @p split at '/' into at most 5 parts (a copy, returned, that they point into). */
char *split_path(const char *p, char **parts, int *ret_n);
/* A request's headers arrived: authenticates it, then answers it (no body) or says
 * where its body goes. Returns true when the body is to be read (collected, unless it
 * chose conn_body_to_fd), false when the request is answered already. */
bool api_begin(struct conn *c, struct http_request *req);
/* Its body (if any) arrived: answers it. */
void api_handle(struct conn *c, struct http_request *req);

/* export.c */
void export_usage(struct conn *c, struct http_request *req);
void export_rates(struct conn *c);
void export_verify(struct conn *c);

/* metrics.c */
void metrics_handle(struct conn *c);
