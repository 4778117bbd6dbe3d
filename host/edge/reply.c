// SPDX-License-Identifier: MIT
/* The reply of an HTTP request: how the domain's results, errors and streams become
 * responses on a connection. The one place where an errno becomes a status. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../sandbox/macro.h"
#include "edge.h"

/* The domain's errnos, as the API answers them (host/API.md, "Errors"). */
static const struct {
	int err;
	int status;
	const char *code;
} statuses[] = {
	{ EINVAL, 400, "bad_request" },
	{ EISDIR, 400, "bad_request" },
	{ EPIPE, 400, "bad_request" }, /* an upload that ended early */
	{ EACCES, 403, "forbidden" },
	{ EPERM, 403, "forbidden" },
	{ ENOENT, 404, "not_found" },
	{ EBUSY, 409, "conflict" }, /* not in a state that allows it */
	{ EEXIST, 409, "conflict" },
	{ EROFS, 409, "conflict" },
	{ ENOTEMPTY, 409, "conflict" },
	{ EFBIG, 413, "too_large" },
	{ EUSERS, 429, "too_many_sandboxes" },
	{ ENOBUFS, 429, "too_many" }, /* of a bounded resource: processes, watches, queues */
	{ EDQUOT, 429, "too_many_snapshots" },
	{ EAGAIN, 503, "unavailable" }, /* try again later */
	{ ENOSPC, 507, "no_space" },
};

int http_status_of(int err, const char **code)
{
	for (size_t i = 0; i < ARRAY_SIZE(statuses); i++)
		if (statuses[i].err == -err) {
			*code = statuses[i].code;
			return statuses[i].status;
		}
	*code = "internal";
	return 500;
}

void respond_fail(struct conn *c, int err, const char *msg)
{
	const char *code;
	int status = http_status_of(err, &code);
	respond_error(c, status, code, "%s", msg);
}

static struct conn *conn_of(const struct reply *r)
{
	return (struct conn *)((char *)r - offsetof(struct conn, reply));
}

static void conn_hold(struct reply *r)
{
	conn_of(r)->ops++;
}

static void conn_release(struct reply *r)
{
	conn_unref(conn_of(r));
}

static bool conn_alive(const struct reply *r)
{
	return !conn_of(r)->closing;
}

/* What a collected answer was charged stays charged until its reader has it. */
void conn_charged_settle(struct conn *c)
{
	if (!c->closing && out_pending(c))
		c->held += c->charged;
	else
		budget_give(c->share, c->charged);
	c->charged = 0;
}

static void conn_done(struct reply *r, enum reply_kind kind, json_t *body)
{
	struct conn *c = conn_of(r);
	if (c->closing) {
		json_decref(body);
		return;
	}
	respond_json(c, kind == REPLY_CREATED ? 201 : 200, body);
	conn_charged_settle(c);
}

static void conn_fail(struct reply *r, int err, const char *msg)
{
	struct conn *c = conn_of(r);
	if (!c->closing)
		respond_fail(c, err, msg);
	conn_charged_settle(c);
}

static void conn_open(struct reply *r, enum reply_stream kind, uint64_t len)
{
	static const char *const types[] = {
		[STREAM_EVENTS] = "application/x-ndjson",
		[STREAM_TEXT] = "text/plain; charset=utf-8",
		[STREAM_BYTES] = "application/octet-stream",
	};
	struct conn *c = conn_of(r);
	c->stream_bytes = kind == STREAM_BYTES;
	if (c->stream_bytes)
		respond_begin(c, 200, types[kind], len);
	else
		respond_chunked_head(c, 200, types[kind]);
}

static void conn_write(struct reply *r, const void *data, size_t len)
{
	struct conn *c = conn_of(r);
	if (!c->stream_bytes) {
		chunk_send(c, data, len);
		return;
	}
	out_append(c, data, len);
	conn_send_more(c);
}

/* A command's event: a line of JSON. */
static void conn_event(struct reply *r, const struct reply_ev *ev)
{
	json_t *j = reply_ev_json(ev);
	char *line = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!line)
		return;
	size_t n = strlen(line);
	line[n] = '\n';
	conn_write(r, line, n + 1);
	free(line);
}

static void conn_stream_close(struct reply *r, bool whole)
{
	struct conn *c = conn_of(r);
	bool bytes = c->stream_bytes;

	c->stream_bytes = false;
	if (!bytes)
		chunk_end(c);
	else if (whole)
		conn_request_done(c);
	else
		conn_close(c); /* the length was promised: the reader sees it cut */
}

static size_t conn_pending(const struct reply *r)
{
	return out_pending(conn_of(r));
}

static int conn_body_prep(struct reply *r)
{
	return conn_body_prepare(conn_of(r));
}

static void conn_body_fd(struct reply *r, int fd)
{
	conn_body_to_fd(conn_of(r), fd);
}

static uint64_t conn_room(const struct reply *r)
{
	return budget_room(conn_of(r)->share);
}

static void conn_charge(struct reply *r, uint64_t n)
{
	struct conn *c = conn_of(r);
	budget_charge(c->share, n);
	c->charged += n;
}

const struct reply_ops conn_reply_ops = {
	.hold = conn_hold,
	.release = conn_release,
	.alive = conn_alive,
	.done = conn_done,
	.fail = conn_fail,
	.open = conn_open,
	.write = conn_write,
	.event = conn_event,
	.close = conn_stream_close,
	.pending = conn_pending,
	.body_prepare = conn_body_prep,
	.body_to_fd = conn_body_fd,
	.room = conn_room,
	.charge = conn_charge,
};

void conn_reply_init(struct conn *c)
{
	c->reply = (struct reply){ .ops = &conn_reply_ops };
}

bool conn_watch_drained(struct conn *c)
{
	const struct reply_watch *w = c->reply.watch;
	if (!w || !w->drained)
		return true;
	/* What it does may end the request, or close the connection: held meanwhile. */
	c->ops++;
	w->drained(c->reply.watch_ud);
	bool closing = c->closing;
	conn_unref(c);
	return !closing;
}

void conn_watch_gone(struct conn *c)
{
	const struct reply_watch *w = c->reply.watch;
	if (!w)
		return;
	c->reply.watch = NULL;
	c->ops++; /* conn_close frees it after */
	w->gone(c->reply.watch_ud);
	c->ops--;
}
