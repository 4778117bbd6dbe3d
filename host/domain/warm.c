// SPDX-License-Identifier: MIT
/* Warm sandboxes (sbxd --warm N): sandboxes of the plain request (image base, the
 * operator's defaults) started ahead of any tenant's create. A create whose request,
 * once its defaults and image are filled in, is that one (its labels and its timeouts
 * aside, which apply from when it is taken) takes one at once: the sandbox becomes the
 * caller's, its clock and its bill start then, and a launch on the next tick refills the
 * pool. Each is taken once, by one tenant; none is reused. Until taken one belongs to
 * no tenant: its owner is WARM_TENANT, a name no tenant can have (it sees only public
 * images), it is marked "pooled", billed to nobody and never timed out. Its
 * CPU time and system calls until then (sbx-init starting, then waiting) count as a
 * launch's do; its memory counts from when it is taken. Loop thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "../sys/store.h"
#include "domain.h"
#include "images.h"
#include "internal.h"

#define WARM_RETRY_NS 5000000000LL	/* after a failed launch, or one that ended */
#define WARM_RETRY_CMD_NS 60000000000LL /* after one whose image runs a command */

static const char warm_request[] = "{}";

static struct {
	char ready[WARM_MAX][16]; /* started and waiting */
	unsigned nready, filling; /* and launches under way */
	int64_t retry_at;	  /* CLOCK_MONOTONIC: no launch before */
} W;

static bool warm_alive(const struct reply *r)
{
	return true;
}

static void warm_done(struct reply *r, enum reply_kind kind, json_t *body)
{
	const char *id = json_string_value(json_object_get(body, "id"));
	struct box *b = id ? box_find(id, NULL) : NULL;

	W.filling--;
	if (b && b->req.cmd && b->req.cmd[0]) {
		/* Its workload would have started before anyone asked for it. */
		logmsg(2, "image base runs a command: no warm sandboxes of it");
		W.retry_at = mono_ns() + WARM_RETRY_CMD_NS;
		box_kill(b, REASON_DELETED);
	} else if (b && W.nready < D.opt.warm) {
		snprintf(W.ready[W.nready++], sizeof(W.ready[0]), "%s", id);
	} else if (b) {
		box_kill(b, REASON_DELETED);
	}
	json_decref(body);
}

static void warm_fail(struct reply *r, int err, const char *msg)
{
	logmsg(1, "a warm sandbox failed to start: %s", msg ? msg : strerror(-err));
	W.filling--;
	W.retry_at = mono_ns() + WARM_RETRY_NS;
}

/* The answer of every launch for the pool: what it needs is in W, not in the reply. */
static const struct reply_ops warm_ops = {
	.hold = reply_static_hold,
	.release = reply_static_hold,
	.alive = warm_alive,
	.done = warm_done,
	.fail = warm_fail,
};
static struct reply warm_reply = { .ops = &warm_ops };

bool warm_tenant(const char *tenant)
{
	return tenant && !strcmp(tenant, WARM_TENANT);
}

/* Running as its launch left it: no command or transfer ever ran in it (an admin's),
 * nothing watches it. */
static bool usable(const struct box *b)
{
	return b && b->pooled && b->state == BOX_RUNNING && !b->killing && !b->removing &&
	       !b->ckpt && (b->ctl_fd >= 0 || b->ctl_parked) && !b->next_exec_id && !b->watches &&
	       !b->jobs;
}

/* What of a create's spec (its record, limits and image filled in) a warm sandbox must
 * match: all but what applies from when it is taken. */
static json_t *shape(const json_t *spec)
{
	json_t *s = json_deep_copy(spec);
	if (!s)
		return NULL;
	json_object_del(s, "labels");
	json_object_del(s, "on_timeout");
	json_t *l = json_object_get(s, "limits");
	json_object_del(l, "timeout");
	json_object_del(l, "idle_timeout");
	if (!json_object_get(s, "image")) /* the parser's default */
		json_object_set_new(s, "image", json_string("base"));
	return s;
}

void warm_tick(int64_t mono)
{
	if (!D.opt.warm)
		return;
	const char *image = images_pinned_id(WARM_TENANT, "base");
	unsigned k = 0;

	/* Those that cannot be taken as they are leave the pool, and stop: what ended
	 * waiting or was used, and what runs an image that "base" no longer names. One that
	 * ended is not replaced at once: a pool whose sandboxes die fast does not launch in
	 * a loop. */
	for (unsigned i = 0; i < W.nready; i++) {
		struct box *b = box_find(W.ready[i], NULL);
		/* One a command runs in (an admin's) stays listed, never taken, until the
		 * command has ended; then it stops. */
		bool busy = b && b->pooled && b->state == BOX_RUNNING && b->execs;
		if (busy ||
		    (usable(b) && image && b->req.image_id && !strcmp(b->req.image_id, image))) {
			memcpy(W.ready[k++], W.ready[i], sizeof(W.ready[i]));
			continue;
		}
		if (!b || b->state != BOX_RUNNING)
			W.retry_at = mono + WARM_RETRY_NS;
		else if (b->pooled && !b->ckpt)
			box_kill(b, REASON_DELETED);
	}
	W.nready = k;
	/* One place is left for a launch of another request. */
	while (!D.stopping && W.nready + W.filling < D.opt.warm && mono >= W.retry_at &&
	       D.live + 1 < D.opt.max_sandboxes) {
		struct why why = { 0 };
		int r = box_create(&warm_reply, WARM_TENANT, warm_request, sizeof(warm_request) - 1,
				   &why);
		if (r < 0) {
			/* The host is full, say: not again at once. */
			logmsg(r == -EUSERS ? 3 : 1, "no warm sandbox: %s", why.msg);
			W.retry_at = mono + WARM_RETRY_NS;
			return;
		}
		W.filling++;
	}
}

struct box *warm_take(const json_t *spec)
{
	struct box *b = NULL;

	if (!W.nready)
		return NULL;
	json_t *want = shape(spec);
	for (unsigned i = W.nready; want && i-- > 0;) {
		struct box *c = box_find(W.ready[i], NULL);
		json_t *have = usable(c) ? shape(c->spec) : NULL;
		bool same = have && json_equal(want, have);
		json_decref(have);
		if (!same)
			continue;
		memmove(W.ready[i], W.ready[i + 1], (W.nready - i - 1) * sizeof(W.ready[0]));
		W.nready--;
		b = c;
		break;
	}
	json_decref(want);
	return b;
}

bool warm_evict(void)
{
	while (W.nready) {
		struct box *b = box_find(W.ready[--W.nready], NULL);
		if (usable(b)) {
			box_kill(b, REASON_DELETED);
			return true;
		}
	}
	return false;
}

bool warm_starting(void)
{
	return W.filling > 0;
}

json_t *warm_json(void)
{
	return json_pack("{s:i,s:i,s:i}", "size", (int)D.opt.warm, "ready", (int)W.nready,
			 "starting", (int)W.filling);
}

void warm_drain(void)
{
	for (unsigned i = 0; i < W.nready; i++) {
		struct box *b = box_find(W.ready[i], NULL);
		if (usable(b))
			box_end_now(b, true);
	}
	W.nready = 0;
}
