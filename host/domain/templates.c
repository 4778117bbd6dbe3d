// SPDX-License-Identifier: MIT
/* Templates (images.h): a name for a snapshot of a started, ready workload. Creating a
 * sandbox from one is a restore of that snapshot, which the template keeps (its own
 * delete refuses while the template holds it) until the template is removed. Names are
 * per tenant, in the table "templates". Loop thread. */
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

struct tmpl {
	struct tmpl *next;
	char *tenant, *name, *snapshot;
	int64_t created_ns;
};

static struct tmpl *T;
static bool loaded;

static void tmpl_free(struct tmpl *t)
{
	if (!t)
		return;
	free(t->tenant);
	free(t->name);
	free(t->snapshot);
	free(t);
}

static int db_exec(const char *sql, const char *a, const char *b, const char *c, int64_t n)
{
	sqlite3 *db = store_db(D.store);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		const char *v[] = { a, b, c };
		for (int i = 0; i < 3 && v[i]; i++)
			sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC);
		if (n)
			sqlite3_bind_int64(st, 4, n);
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
			 "PRIMARY KEY(tenant, name))",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT tenant, name, snapshot, created_ns FROM templates", -1,
			       &st, NULL) != SQLITE_OK)
		return store_errno(db);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct tmpl *t = calloc(1, sizeof(*t));
		if (!t)
			break;
		t->tenant = strdup((const char *)sqlite3_column_text(st, 0));
		t->name = strdup((const char *)sqlite3_column_text(st, 1));
		t->snapshot = strdup((const char *)sqlite3_column_text(st, 2));
		t->created_ns = sqlite3_column_int64(st, 3);
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

static const char *owner_of(const char *tenant)
{
	return tenant ? tenant : ADMIN_TENANT;
}

static struct tmpl *find(const char *tenant, const char *name)
{
	if (load() < 0 || !name)
		return NULL;
	for (struct tmpl *t = T; t; t = t->next)
		if (!strcmp(t->tenant, owner_of(tenant)) && !strcmp(t->name, name))
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
	json_t *j = json_pack("{s:s,s:s,s:s,s:o}", "name", t->name, "owner", t->tenant,
			      "snapshot", t->snapshot, "created_at", time_json(t->created_ns));
	if (j && s) {
		json_object_set(j, "image", json_object_get(s->meta, "image"));
		json_object_set_new(j, "size_bytes", json_integer((json_int_t)s->size_bytes));
	}
	if (j)
		json_object_set_new(j, "ready", json_boolean(s != NULL));
	return j;
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

static bool name_valid(const char *n)
{
	size_t len = n ? strlen(n) : 0;
	return len > 0 && len <= 128 && n[0] != '.' && n[0] != '-' &&
	       strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

int templates_add(const char *tenant, const char *body, size_t len, json_t **ret, struct why *why)
{
	json_error_t jerr;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *name = json_string_value(json_object_get(j, "name"));
	const char *sid = json_string_value(json_object_get(j, "snapshot"));
	char safe[140];
	int r;

	if (!json_is_object(j) || json_object_size(j) != 2 || !name_valid(name) || !sid) {
		json_decref(j);
		return why_set(why, -EINVAL,
			       "the body is {\"name\": NAME, \"snapshot\": ID}, NAME of 1-128 a-z "
			       "0-9 . _ - (not first . or -)");
	}
	struct snap *s = snap_find(sid, tenant);
	if (!s) {
		r = why_set(why, -ENOENT, "no snapshot %s", text_printable(sid, safe, sizeof(safe)));
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
	if (!t || !(t->tenant = strdup(owner_of(tenant))) || !(t->name = strdup(name)) ||
	    !(t->snapshot = strdup(s->id))) {
		tmpl_free(t);
		r = why_set(why, -ENOMEM, "out of memory");
		goto out;
	}
	t->created_ns = real_ns();
	r = db_exec("INSERT INTO templates(tenant, name, snapshot, created_ns) VALUES(?,?,?,?)",
		    t->tenant, t->name, t->snapshot, t->created_ns);
	if (r < 0) {
		tmpl_free(t);
		why_set(why, r, "cannot record template %s: %s", name, strerror(-r));
		goto out;
	}
	t->next = T;
	T = t;
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
	if (s && s->users)
		return why_set(why, -EBUSY, "template %s is being started from", name);
	int r = db_exec("DELETE FROM templates WHERE tenant = ? AND name = ?", t->tenant, t->name,
			NULL, 0);
	if (r < 0)
		return why_set(why, r, "cannot remove template %s: %s", name, strerror(-r));
	for (struct tmpl **p = &T; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			break;
		}
	tmpl_free(t);
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
	return box_create_from(rp, s, why);
}
