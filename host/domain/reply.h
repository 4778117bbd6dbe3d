/* SPDX-License-Identifier: MIT */
/* How the domain answers. A domain call that fails at once returns -errno with a
 * one-line message in a struct why. One that goes on (a launch, a checkpoint, a
 * command, a transfer) holds its reply and ends it later, exactly once: with a result
 * (reply_done), with -errno and a message (reply_fail), or, for a stream, with
 * reply_close. Errors carry an errno whose meaning the caller's surface renders (the
 * HTTP edge has one table); the domain never names a status.
 *
 * The edge implements a reply for an HTTP request; fork implements one that counts
 * its copies; another API surface implements its own and calls the same functions.
 * Loop thread only. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* What a result is. */
enum reply_kind {
	REPLY_OK,      /* the state of something that was there */
	REPLY_CREATED, /* something new: a sandbox, a snapshot, copies */
};

/* What a stream carries. */
enum reply_stream {
	STREAM_EVENTS, /* a command's events, one JSON object a line */
	STREAM_TEXT,   /* a log, as it is written */
	STREAM_BYTES,  /* a file, of the length given to reply_open */
};

/* One event of a command's stream (STREAM_EVENTS from exec_start): its start, a piece
 * of its output, its end; or of a directory watched (box_watch). Each surface renders them its own way; reply_ev_json() is the
 * /v1 API's line. */
enum reply_ev_type {
	REV_START,
	REV_STDOUT,
	REV_STDERR,
	REV_EXIT,
	REV_WATCHING, /* a watch (box_watch) is set: changes follow */
	REV_FS,	      /* a change: data/len its name, code its enum reply_fs_kind */
};

enum reply_fs_kind {
	FSEV_CREATE,
	FSEV_WRITE,
	FSEV_REMOVE,
	FSEV_RENAME,
	FSEV_CHMOD,
};

struct reply_ev {
	enum reply_ev_type type;
	int pid;	  /* START: inside the sandbox */
	const char *data; /* STDOUT, STDERR */
	size_t len;
	bool tty;	       /* STDOUT: a terminal's */
	int code;	       /* EXIT: the exit code, or 128+N after signal N */
	bool timed_out;	       /* EXIT: its timeout ended it */
	int signal;	       /* EXIT: the signal a caller sent that ended it, or 0 */
	const struct stat *st; /* FS: what is at the name now, if asked and there is */
	const char *path;      /* FS: the name's absolute path in the sandbox */
};

/* {"type": "start"|"stdout"|"stderr"|"exit", ...}: output as "data" when it is UTF-8,
 * else "data_b64". */
json_t *reply_ev_json(const struct reply_ev *ev);
/* @data as a JSON string under *key "data", or base64 under "data_b64" when it is not
 * UTF-8. */
json_t *reply_data_json(const char *data, size_t len, const char **key);

struct reply;

struct reply_ops {
	void (*hold)(struct reply *r);	      /* kept past the call that got it */
	void (*release)(struct reply *r);     /* a hold let go */
	bool (*alive)(const struct reply *r); /* its reader is still there */
	void (*done)(struct reply *r, enum reply_kind kind, json_t *body); /* takes @body */
	void (*fail)(struct reply *r, int err, const char *msg);
	/* Streams (not every reply has them: fork's does not). */
	void (*open)(struct reply *r, enum reply_stream kind, uint64_t len);
	void (*write)(struct reply *r, const void *data, size_t len);
	void (*event)(struct reply *r, const struct reply_ev *ev); /* a command's stream */
	void (*close)(struct reply *r, bool whole); /* !whole: cut short, the reader must see */
	size_t (*pending)(const struct reply *r);   /* written, not yet taken by the reader */
	/* The request's body, streamed into a pipe (uploads): prepare first (what can
	 * fail fails there), then hand the pipe's write end over. */
	int (*body_prepare)(struct reply *r);
	void (*body_to_fd)(struct reply *r, int fd);
	/* What of the caller's share of held memory a collected answer may take. */
	uint64_t (*room)(const struct reply *r);
	void (*charge)(struct reply *r, uint64_t n);
};

/* The domain's side of a stream, called by the reply's owner: its reader took what was
 * pending (drained), or went away (gone). poll: drained is called on every tick too (a
 * log followed as it grows). */
struct reply_watch {
	void (*drained)(void *ud);
	void (*gone)(void *ud);
	bool poll;
};

struct reply {
	const struct reply_ops *ops;
	const struct reply_watch *watch; /* NULL: none */
	void *watch_ud;
};

/* Backpressure: a stream waits while its reader has this much to take. */
#define REPLY_HIGH (1u << 20)

/* Why a call failed, in one line. */
struct why {
	char msg[256];
};

/* A reply nobody reads: for what the domain starts on its own (a checkpoint at a
 * timeout). No streams. */
struct reply *reply_none(void);
/* hold and release of a reply that lives as long as sbxd (a static one): nothing to do. */
void reply_static_hold(struct reply *r);

/* Writes the message (control bytes made '?') and returns @err (a -errno). */
int why_set(struct why *w, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static inline void reply_hold(struct reply *r)
{
	r->ops->hold(r);
}
static inline void reply_release(struct reply *r)
{
	r->ops->release(r);
}
static inline bool reply_alive(const struct reply *r)
{
	return r->ops->alive(r);
}
static inline void reply_done(struct reply *r, enum reply_kind kind, json_t *body)
{
	r->ops->done(r, kind, body);
}
static inline void reply_fail(struct reply *r, int err, const char *msg)
{
	r->ops->fail(r, err, msg);
}
static inline void reply_fail_why(struct reply *r, int err, const struct why *w)
{
	r->ops->fail(r, err, w->msg);
}
static inline void reply_open(struct reply *r, enum reply_stream kind, uint64_t len)
{
	r->ops->open(r, kind, len);
}
static inline void reply_write(struct reply *r, const void *data, size_t len)
{
	r->ops->write(r, data, len);
}
static inline void reply_event(struct reply *r, const struct reply_ev *ev)
{
	r->ops->event(r, ev);
}
static inline void reply_close(struct reply *r, bool whole)
{
	r->ops->close(r, whole);
}
static inline size_t reply_pending(const struct reply *r)
{
	return r->ops->pending(r);
}
static inline void reply_watch(struct reply *r, const struct reply_watch *w, void *ud)
{
	r->watch = w;
	r->watch_ud = ud;
}
