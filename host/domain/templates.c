// SPDX-License-Identifier: MIT
/* Templates (images.h): a name for a snapshot of a started, ready workload. Creating a
 * sandbox from one is a restore of that snapshot, which the template keeps (its own
 * delete refuses while the template holds it) until the template is removed. Names are
 * per tenant, in the table "templates". A template may keep a warm pool: sandboxes
 * restored ahead of time (running, and billed to its owner, as any sandbox), one of which
 * a create takes at once while a restore refills the pool. Loop thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "../../sandbox/text.h"
#include "../sys/store.h"
#include "domain.h"
#include "images.h"
#include "internal.h"

#define POOL_MAX 16
#define POOL_RETRY_NS 5000000000LL /* after a failed refill */

struct tmpl {
	struct tmpl *next;
	char *tenant, *name, *snapshot;
	int64_t created_ns;
	unsigned pool;		  /* warm sandboxes to keep */
	unsigned filling;	  /* restores under way */
	char ready[POOL_MAX][16]; /* their ids, restored and waiting */
	unsigned nready;
	int64_t retry_at; /* CLOCK_MONOTONIC: no refill before (after a failure) */
	uint64_t gen;	  /* which template of this name a pool restore is for */
};

/* A pool restore's answer: the sandbox joins the pool of the template, if it is still
 * there. */
struct pool_reply {
	struct reply reply;
	char *tenant, *name;
	uint64_t gen;
	unsigned refs;
};

static struct tmpl *T;
static bool loaded;
/* Snapshots of removed templates that restores (a pool's) still read: removed once they
 * are done. */
static char orphans[64][16];
static unsigned norphans;

static void pool_fill(struct tmpl *t);
static void pool_drain(struct tmpl *t);
static uint64_t next_gen = 1;

static void tmpl_free(struct tmpl *t)
{
	if (!t)
		return;
	free(t->tenant);
	free(t->name);
	free(t->snapshot);
	free(t);
}

/* @sql with up to three strings, then up to two numbers, bound in order. */
static int db_exec(const char *sql, const char *a, const char *b, const char *c, int64_t n,
		   int64_t m)
{
	sqlite3 *db = store_db(D.store);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		const char *v[] = { a, b, c };
		int i = 0;
		for (; i < 3 && v[i]; i++)
			sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC);
		if (n)
			sqlite3_bind_int64(st, ++i, n);
		if (n)
			sqlite3_bind_int64(st, ++i, m);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : store_errno(db);
}

static int load(void)
{
	sqlite3 *db = store_db(D.store);
	sqlite3_stmt *st = NULL;

	if (loaded)
		return 0;
	if (sqlite3_exec(db,
			 "CREATE TABLE IF NOT EXISTS templates(tenant TEXT NOT NULL, name TEXT NOT "
			 "NULL, snapshot TEXT NOT NULL, created_ns INTEGER NOT NULL, "
			 "pool INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(tenant, name))",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT tenant, name, snapshot, created_ns, pool FROM templates",
			       -1, &st, NULL) != SQLITE_OK)
		return store_errno(db);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct tmpl *t = calloc(1, sizeof(*t));
		if (!t)
			break;
		t->tenant = strdup((const char *)sqlite3_column_text(st, 0));
		t->name = strdup((const char *)sqlite3_column_text(st, 1));
		t->snapshot = strdup((const char *)sqlite3_column_text(st, 2));
		t->created_ns = sqlite3_column_int64(st, 3);
		t->pool = (unsigned)sqlite3_column_int(st, 4);
		t->gen = next_gen++;
		if (t->pool > POOL_MAX)
			t->pool = POOL_MAX;
		if (!t->tenant || !t->name || !t->snapshot) {
			tmpl_free(t);
			continue;
		}
		t->next = T;
		T = t;
	}
	sqlite3_finalize(st);
	loaded = true;
	return 0;
}

static struct tmpl *find(const char *tenant, const char *name)
{
	if (load() < 0 || !name)
		return NULL;
	for (struct tmpl *t = T; t; t = t->next)
		if (!strcmp(t->tenant, images_owner(tenant)) && !strcmp(t->name, name))
			return t;
	return NULL;
}

const char *templates_holding(const struct snap *s)
{
	if (load() < 0)
		return NULL;
	for (struct tmpl *t = T; t; t = t->next)
		if (!strcmp(t->snapshot, s->id))
			return t->name;
	return NULL;
}

static json_t *tmpl_json(const struct tmpl *t)
{
	struct snap *s = snap_find(t->snapshot, NULL);
	json_t *j = json_pack("{s:s,s:s,s:s,s:o}", "name", t->name, "owner", t->tenant, "snapshot",
			      t->snapshot, "created_at", time_json(t->created_ns));
	if (j && s) {
		json_object_set(j, "image", json_object_get(s->meta, "image"));
		json_object_set_new(j, "size_bytes", json_integer((json_int_t)s->size_bytes));
	}
	if (j) {
		json_object_set_new(j, "ready", json_boolean(s != NULL));
		json_object_set_new(j, "pool",
				    json_pack("{s:i,s:i,s:i}", "size", (int)t->pool, "warm",
					      (int)t->nready, "filling", (int)t->filling));
	}
	return j;
}

static struct pool_reply *pool_of(const struct reply *r)
{
	return (struct pool_reply *)((char *)r - offsetof(struct pool_reply, reply));
}

static void pool_hold(struct reply *r)
{
	pool_of(r)->refs++;
}

static void pool_release(struct reply *r)
{
	struct pool_reply *p = pool_of(r);
	if (--p->refs)
		return;
	free(p->tenant);
	free(p->name);
	free(p);
}

static bool pool_alive(const struct reply *r)
{
	return true;
}

/* The template a pool restore was for: of that name, and not one made again since. */
static struct tmpl *find_owned(const struct pool_reply *p)
{
	for (struct tmpl *t = T; t; t = t->next)
		if (!strcmp(t->tenant, p->tenant) && !strcmp(t->name, p->name) && t->gen == p->gen)
			return t;
	return NULL;
}

static void pool_done(struct reply *r, enum reply_kind kind, json_t *body)
{
	struct pool_reply *p = pool_of(r);
	struct tmpl *t = find_owned(p);
	const char *id = json_string_value(json_object_get(body, "id"));
	struct box *b = id ? box_find(id, NULL) : NULL;

	if (t)
		t->filling--;
	if (t && b && t->nready < POOL_MAX && t->nready < t->pool) {
		snprintf(t->ready[t->nready++], sizeof(t->ready[0]), "%s", id);
		b->pooled = true;
	} else if (b) {
		box_kill(b, REASON_DELETED); /* its template went, or its pool is full */
	}
	json_decref(body);
}

static void pool_fail(struct reply *r, int err, const char *msg)
{
	struct pool_reply *p = pool_of(r);
	struct tmpl *t = find_owned(p);
	logmsg(1, "template %s: a warm sandbox failed: %s", p->name, msg ? msg : "?");
	if (t) {
		t->filling--;
		t->retry_at = mono_ns() + POOL_RETRY_NS;
	}
}

static const struct reply_ops pool_ops = {
	.hold = pool_hold,
	.release = pool_release,
	.alive = pool_alive,
	.done = pool_done,
	.fail = pool_fail,
};

/* Restores until the pool has its size (waiting and under way). */
static void pool_fill(struct tmpl *t)
{
	struct snap *s = snap_find(t->snapshot, NULL);

	while (s && t->nready + t->filling < t->pool && mono_ns() >= t->retry_at) {
		struct pool_reply *p = calloc(1, sizeof(*p));
		struct why why;
		if (!p || !(p->tenant = strdup(t->tenant)) || !(p->name = strdup(t->name))) {
			if (p)
				free(p->tenant);
			free(p);
			return;
		}
		p->reply.ops = &pool_ops;
		p->refs = 1;
		p->gen = t->gen;
		int r = box_create_from(&p->reply, s, &why);
		if (r < 0) {
			logmsg(1, "template %s: no warm sandbox: %s", t->name, why.msg);
			t->retry_at = mono_ns() + POOL_RETRY_NS;
			pool_release(&p->reply);
			return;
		}
		t->filling++;
		pool_release(&p->reply); /* the launch holds it until it answers */
	}
}

/* A removed template's warm sandboxes go with it. */
static void pool_drain(struct tmpl *t)
{
	for (unsigned i = 0; i < t->nready; i++) {
		struct box *b = box_find(t->ready[i], NULL);
		if (b)
			box_kill(b, REASON_DELETED);
	}
	t->nready = 0;
}

json_t *templates_list(const char *tenant)
{
	json_t *a = json_array();
	(void)load();
	for (struct tmpl *t = T; t; t = t->next)
		if (!tenant || !strcmp(t->tenant, tenant))
			json_array_append_new(a, tmpl_json(t));
	return json_pack("{s:o}", "templates", a);
}

static int not_found(struct why *why, const char *name)
{
	char safe[140];
	return why_set(why, -ENOENT, "no template %s",
		       text_printable(name ? name : "", safe, sizeof(safe)));
}

int templates_get(const char *tenant, const char *name, json_t **ret, struct why *why)
{
	struct tmpl *t = find(tenant, name);
	if (!t)
		return not_found(why, name);
	*ret = tmpl_json(t);
	return *ret ? 0 : why_set(why, -ENOMEM, "out of memory");
}

int templates_add(const char *tenant, const char *body, size_t len, json_t **ret, struct why *why)
{
	json_error_t jerr;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *name = json_string_value(json_object_get(j, "name"));
	const char *sid = json_string_value(json_object_get(j, "snapshot"));
	json_t *pool = json_object_get(j, "pool");
	char safe[140];
	int r;

	if (!json_is_object(j) || json_object_size(j) != 2 + (pool != NULL) ||
	    !images_name_valid(name) || !sid ||
	    (pool && (!json_is_integer(pool) || json_integer_value(pool) < 0 ||
		      json_integer_value(pool) > POOL_MAX))) {
		json_decref(j);
		return why_set(why, -EINVAL,
			       "the body is {\"name\": NAME, \"snapshot\": ID[, \"pool\": 0-%d]}, "
			       "NAME of 1-128 a-z 0-9 . _ - (not first . or -)",
			       POOL_MAX);
	}
	/* The caller's own snapshot (an admin's too: sandboxes from a template are its
	 * snapshot's tenant's), and not one a removed template leaves to go. */
	struct snap *s = snap_find(sid, tenant);
	bool orphan = false;
	for (unsigned i = 0; s && i < norphans; i++)
		orphan |= !strcmp(orphans[i], s->id);
	if (!s || strcmp(s->tenant, images_owner(tenant)) || orphan) {
		r = why_set(why, -ENOENT, "no snapshot %s of yours",
			    text_printable(sid, safe, sizeof(safe)));
		goto out;
	}
	const char *held = templates_holding(s);
	if (held) {
		r = why_set(why, -EBUSY, "snapshot %s is template %s's already", s->id, held);
		goto out;
	}
	if (find(tenant, name)) {
		r = why_set(why, -EEXIST, "template %s exists; remove it first", name);
		goto out;
	}
	struct tmpl *t = calloc(1, sizeof(*t));
	if (!t || !(t->tenant = strdup(images_owner(tenant))) || !(t->name = strdup(name)) ||
	    !(t->snapshot = strdup(s->id))) {
		tmpl_free(t);
		r = why_set(why, -ENOMEM, "out of memory");
		goto out;
	}
	t->created_ns = real_ns();
	t->gen = next_gen++;
	t->pool = pool ? (unsigned)json_integer_value(pool) : 0;
	r = db_exec("INSERT INTO templates(tenant, name, snapshot, created_ns, pool) "
		    "VALUES(?,?,?,?,?)",
		    t->tenant, t->name, t->snapshot, t->created_ns, (int64_t)t->pool);
	if (r < 0) {
		tmpl_free(t);
		why_set(why, r, "cannot record template %s: %s", name, strerror(-r));
		goto out;
	}
	t->next = T;
	T = t;
	pool_fill(t);
	*ret = tmpl_json(t);
out:
	json_decref(j);
	return r;
}

int templates_delete(struct reply *rp, const char *tenant, const char *name, struct why *why)
{
	struct tmpl *t = find(tenant, name);
	if (!t)
		return not_found(why, name);
	struct snap *s = snap_find(t->snapshot, NULL);
	if (s && s->users && norphans == sizeof(orphans) / sizeof(orphans[0]))
		return why_set(why, -EBUSY, "template %s is being started from", name);
	int r = db_exec("DELETE FROM templates WHERE tenant = ? AND name = ?", t->tenant, t->name,
			NULL, 0, 0);
	if (r < 0)
		return why_set(why, r, "cannot remove template %s: %s", name, strerror(-r));
	for (struct tmpl **p = &T; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			break;
		}
	t->pool = 0;
	pool_drain(t);
	tmpl_free(t);
	if (s && s->users) {
		/* Restores read it still: it goes after them (templates_tick). */
		snprintf(orphans[norphans++], sizeof(orphans[0]), "%s", s->id);
		s = NULL;
	}
	if (s) {
		snap_remove(s, rp); /* answers @rp when its files are gone */
		return 0;
	}
	reply_done(rp, REPLY_OK, json_pack("{s:s}", "deleted", name));
	return 0;
}

int templates_launch(struct reply *rp, const char *tenant, const char *name, struct why *why)
{
	struct tmpl *t = find(tenant, name);
	if (!t)
		return why_set(why, -EINVAL, "template: no template %s (see GET /v1/templates)",
			       name);
	struct snap *s = snap_find(t->snapshot, NULL);
	if (!s)
		return why_set(why, -ENOENT, "template %s: its snapshot %s is gone", name,
			       t->snapshot);
	/* A warm one, if the pool has one still running: its clock starts now. */
	while (t->nready) {
		struct box *b = box_find(t->ready[--t->nready], NULL);
		if (!b || b->state != BOX_RUNNING || b->killing || b->removing || b->ckpt)
			continue;
		if (b->req.limits.timeout_ns)
			(void)box_set_timeout(b, b->req.limits.timeout_ns);
		b->pooled = false;
		pool_fill(t);
		reply_done(rp, REPLY_CREATED, box_json(b));
		return 0;
	}
	int r = box_create_from(rp, s, why);
	pool_fill(t);
	return r;
}

void templates_tick(int64_t mono)
{
	if (!loaded)
		return;
	for (unsigned i = 0; i < norphans;) {
		struct snap *s = snap_find(orphans[i], NULL);
		if (s && s->users) {
			i++;
			continue;
		}
		if (s)
			snap_remove(s, NULL);
		memmove(orphans[i], orphans[i + 1], (--norphans - i) * sizeof(orphans[0]));
	}
	for (struct tmpl *t = T; t; t = t->next) {
		/* Pooled sandboxes that ended (a timeout, a kill) leave the pool. */
		unsigned k = 0;
		for (unsigned i = 0; i < t->nready; i++) {
			struct box *b = box_find(t->ready[i], NULL);
			if (b && b->state == BOX_RUNNING && !b->killing && !b->removing)
				memcpy(t->ready[k++], t->ready[i], sizeof(t->ready[i]));
		}
		/* One that died waiting (its workload's own timeout, say) is not replaced
		 * at once: a template whose sandboxes die fast does not restore in a loop. */
		if (k < t->nready)
			t->retry_at = mono + POOL_RETRY_NS;
		t->nready = k;
		if (mono >= t->retry_at)
			pool_fill(t);
	}
}
