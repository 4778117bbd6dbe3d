// SPDX-License-Identifier: MIT
/* Fork: a leave-running checkpoint into a snapshot of its own (checkpoint.c), N
 * restores of it, and the removal of that snapshot. The copies answer to a reply of
 * fork's own, which counts them and then answers the caller. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/mount.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <unistd.h>
#include "../../sandbox/image.h"
#include "../../sandbox/launch.h"
#include "../../sandbox/macro.h"
#include "../../sandbox/sandbox.h"
#include "../../sandbox/idmap.h"
#include "../../sandbox/rootfs.h"
#include "../sys/criu.h"
#include "../sys/criuimg.h"
#include "internal.h"
#include "../sys/layer.h"
#include "../sys/meter.h"
#include "../sys/store.h"
#include "../sys/usage.h"

/* A fork's copies answer to it as to a caller: it counts them, and answers its own
 * caller once each has been counted. */
struct fork_state {
	struct reply reply; /* the copies' */
	struct reply *rp;   /* its caller's, held */
	unsigned want, done, refs;
	json_t *ids, *errors;
	struct snap *s;
	int64_t t0;
};

static struct fork_state *fork_of(const struct reply *r)
{
	return (struct fork_state *)((char *)r - offsetof(struct fork_state, reply));
}

static void fork_hold(struct reply *r)
{
	fork_of(r)->refs++;
}

static void fork_release(struct reply *r)
{
	struct fork_state *f = fork_of(r);
	if (--f->refs)
		return;
	json_decref(f->ids);
	json_decref(f->errors);
	free(f);
}

static bool fork_alive(const struct reply *r)
{
	return true;
}

/* Every copy counted: the caller gets the copies that run, and why the others do not. */
static void fork_finish(struct fork_state *f)
{
	struct reply *rp = TAKE_PTR(f->rp);
	size_t ok = json_array_size(f->ids);

	if (ok) {
		json_t *o = json_pack("{s:O,s:f}", "sandboxes", f->ids, "duration_ms",
				      (double)(mono_ns() - f->t0) / 1e6);
		if (json_array_size(f->errors))
			json_object_set(o, "errors", f->errors);
		reply_done(rp, REPLY_CREATED, o);
	} else {
		struct why why;
		why_set(&why, 0, "fork failed: %s",
			json_string_value(json_array_get(f->errors, 0)));
		reply_fail_why(rp, -EIO, &why);
	}
	reply_release(rp);
	snap_remove(f->s, NULL); /* the copies run from memory now */
}

static void fork_count(struct fork_state *f)
{
	if (++f->done == f->want)
		fork_finish(f);
}

static void fork_copy_done(struct reply *r, enum reply_kind kind, json_t *body)
{
	struct fork_state *f = fork_of(r);
	json_array_append(f->ids, json_object_get(body, "id"));
	json_decref(body);
	fork_count(f);
}

static void fork_copy_fail(struct reply *r, int err, const char *msg)
{
	struct fork_state *f = fork_of(r);
	json_array_append_new(f->errors, json_string(msg ? msg : "restore failed"));
	fork_count(f);
}

static const struct reply_ops fork_ops = {
	.hold = fork_hold,
	.release = fork_release,
	.alive = fork_alive,
	.done = fork_copy_done,
	.fail = fork_copy_fail,
};

/* @count copies of @s, answered on @rp (held by the caller; taken). */
void fork_start(struct reply *rp, struct snap *s, unsigned count, int64_t t0)
{
	struct fork_state *f = calloc(1, sizeof(*f));
	if (f)
		*f = (struct fork_state){ .reply = { .ops = &fork_ops },
					  .rp = rp,
					  .want = count,
					  .refs = 1, /* this call's */
					  .ids = json_array(),
					  .errors = json_array(),
					  .s = s,
					  .t0 = t0 };
	if (!f || !f->ids || !f->errors) {
		if (f) {
			json_decref(f->ids);
			json_decref(f->errors);
		}
		free(f);
		reply_fail(rp, -ENOMEM, "out of memory");
		reply_release(rp);
		snap_remove(s, NULL);
		return;
	}
	for (unsigned i = 0; i < count; i++) {
		struct why why;
		/* A copy refused at once (no slot left, say) is counted here: fork_finish()
		 * answers when every copy has been counted. */
		if (box_create_from(&f->reply, s, &why) < 0)
			fork_copy_fail(&f->reply, 0, why.msg);
	}
	fork_release(&f->reply);
}
