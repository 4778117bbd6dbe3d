// SPDX-License-Identifier: MIT
/* Snapshots: CRIU images, the writable layer and the log of a sandbox, in
 * state-dir/snapshots/ID; their registry, records, listing and removal, and the helpers
 * that checkpoint.c and restore.c share (any thread). */
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
#include "images.h"
#include "internal.h"
#include "../sys/layer.h"
#include "../sys/meter.h"
#include "../sys/store.h"
#include "../sys/usage.h"

/* CRIU's cache of kernel features, kept on a tmpfs (or NULL: probed every run). */
const char *criu_cache_dir;

json_t *snap_json(const struct snap *s)
{
	json_t *j =
		json_pack("{s:s,s:s,s:s,s:s,s:I,s:o}", "id", s->id, "sandbox", s->parent, "tenant",
			  s->tenant, "state", s->deleting ? "deleting" : "ready", "size_bytes",
			  (json_int_t)s->size_bytes, "created_at", time_json(s->created_ns));
	/* What created_at was before it was RFC 3339 like every other time of the API. */
	json_object_set_new(j, "created_unix", json_integer(s->created_ns / 1000000000));
	json_object_set(j, "image", json_object_get(s->meta, "image"));
	/* The counters at the checkpoint: a restored sandbox's usage goes on from these. */
	json_object_set(j, "usage", json_object_get(s->meta, "usage"));
	if (s->stats)
		json_object_set(j, "criu", s->stats);
	return j;
}

struct snap *snap_find(const char *id, const char *tenant)
{
	for (struct snap *s = D.snaps; s; s = s->next)
		if (!strcmp(s->id, id) && !s->deleting && !s->ephemeral)
			return !tenant || !strcmp(tenant, s->tenant) ? s : NULL;
	return NULL;
}

void snap_free(struct snap *s)
{
	if (!s)
		return;
	free(s->tenant);
	free(s->parent);
	free(s->dir);
	json_decref(s->meta);
	json_decref(s->stats);
	free(s);
}

static void snap_unlink(struct snap *s)
{
	for (struct snap **p = &D.snaps; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			return;
		}
}

int snap_persist(struct snap *s, const char *state)
{
	char *meta = json_dumps(s->meta, JSON_COMPACT | JSON_SORT_KEYS);
	struct store_snapshot row = {
		.id = s->id,
		.tenant = s->tenant,
		.parent = s->parent,
		.state = state,
		.size_bytes = s->size_bytes,
		.created_ns = s->created_ns,
		.deleted_ns = strcmp(state, "deleted") ? 0 : real_ns(),
		.meta = meta ? meta : "{}",
	};
	int r = meta ? store_snapshot_put(D.store, &row) : -ENOMEM;
	free(meta);
	return r;
}

struct snap_rm_job {
	struct work w;
	struct snap *s;
	struct reply *rp; /* held; NULL: nobody asked */
};

static void rm_fn(struct work *w)
{
	struct snap_rm_job *j = (struct snap_rm_job *)w;
	rm_rf(j->s->dir);
}

/* Its files are gone: its record and bill end, @rp (held, or NULL) is answered. */
static void snap_removed(struct snap *s, struct reply *rp)
{
	bill_snapshot_final(s);
	(void)snap_persist(s, "deleted");
	if (rp) {
		if (reply_alive(rp)) {
			json_t *o = snap_json(s);
			json_object_set_new(o, "state", json_string("deleted"));
			reply_done(rp, REPLY_OK, o);
		}
		reply_release(rp);
	}
	logmsg(2, "snapshot %s deleted", s->id);
	snap_unlink(s);
	snap_free(s);
}

static void rm_done(struct work *w)
{
	struct snap_rm_job *j = (struct snap_rm_job *)w;
	snap_removed(j->s, j->rp);
	free(j);
}

void snap_remove(struct snap *s, struct reply *rp)
{
	struct snap_rm_job *j = calloc(1, sizeof(*j));
	s->deleting = true;
	if (rp)
		reply_hold(rp);
	if (!j) { /* on this thread, then */
		rm_rf(s->dir);
		snap_removed(s, rp);
		return;
	}
	*j = (struct snap_rm_job){ .w = { .fn = rm_fn, .done = rm_done }, .s = s, .rp = rp };
	loop_queue_work(&D.loop, &j->w);
}

int snap_delete(struct reply *rp, struct snap *s, struct why *why)
{
	if (s->users)
		return why_set(why, -EBUSY, "snapshot %s is being restored", s->id);
	const char *t = templates_holding(s);
	if (t)
		return why_set(why, -EBUSY, "snapshot %s is template %s's (remove the template)",
			       s->id, t);
	snap_remove(s, rp);
	return 0;
}

json_t *snap_list(const char *tenant)
{
	json_t *arr = json_array();
	for (struct snap *s = D.snaps; s; s = s->next)
		if (!s->ephemeral && !s->deleting && (!tenant || !strcmp(tenant, s->tenant)))
			json_array_append_new(arr, snap_json(s));
	return json_pack("{s:o}", "snapshots", arr);
}

static void load_one(const struct store_snapshot *row, void *userdata)
{
	(void)userdata;
	json_error_t jerr;
	struct snap *s = calloc(1, sizeof(*s));
	struct stat st;

	if (!s)
		return;
	snprintf(s->id, sizeof(s->id), "%s", row->id);
	s->tenant = strdup(row->tenant);
	s->parent = strdup(row->parent);
	s->size_bytes = row->size_bytes;
	s->created_ns = row->created_ns;
	s->meta = json_loads(row->meta, 0, &jerr);
	if (asprintf(&s->dir, "%s/snapshots/%s", D.opt.state_dir, row->id) < 0)
		s->dir = NULL;
	if (!s->tenant || !s->parent || !s->meta || !s->dir) {
		snap_free(s);
		return;
	}
	if (stat(s->dir, &st) < 0) {
		/* Its images are gone: it cannot be restored, and is no longer stored. */
		logmsg(1, "snapshot %s: %s is missing; marked deleted", s->id, s->dir);
		bill_snapshot_start(s);
		bill_snapshot_final(s);
		(void)snap_persist(s, "deleted");
		snap_free(s);
		return;
	}
	s->next = D.snaps;
	D.snaps = s;
	bill_snapshot_start(s);
}

int snap_init(void)
{
	char path[4200];

	int r = criu_find(D.opt.criu_path, true, &D.criu, &D.criu_why);
	if (r < 0)
		logmsg(1, "checkpoints are off: %s", D.criu_why);
	criu_cache_dir = criu_cache_dir_make();
	r = store_snapshot_each(D.store, "ready", load_one, NULL);
	/* Dumps that a crash interrupted, and directories no record names. */
	snprintf(path, sizeof(path), "%s/snapshots", D.opt.state_dir);
	DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		bool known = false;
		for (struct snap *s = D.snaps; s; s = s->next)
			known |= !strcmp(s->id, e->d_name);
		if (!known) {
			char sub[4500];
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			logmsg(2, "removing %s (no snapshot record)", sub);
			rm_rf(sub);
		}
	}
	if (d)
		closedir(d);
	return r;
}
