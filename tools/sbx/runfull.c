// SPDX-License-Identifier: MIT
/* What `sbx run` needs SQLite or libbpf for: an image of sbxd's store and --usage. Linked
 * into sbx-full (glibc) only; the musl sbx runs sbx-full in their place (lean.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sandbox/cgroup.h"
#include "../../sandbox/image.h"
#include "../../sandbox/macro.h"
#include "../../host/sys/meter.h"
#include "../../host/sys/usage.h"
#include "sbx.h"

int run_store_image(const char *name, struct image **ret, char **ret_error)
{
	const char *state = sbx_state_dir();
	char db[PATH_MAX], store[PATH_MAX], id[IMAGE_ID_LEN + 1] = "";
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;

	snprintf(db, sizeof(db), "%s/sbx.db", state);
	snprintf(store, sizeof(store), "%s/images", state);
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h,
			       "SELECT id FROM images WHERE name = ? AND tenant IN ('admin', '') "
			       "ORDER BY tenant DESC LIMIT 1",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	if (!id[0])
		return -ENOENT;
	return image_open_store(store, id, name, ret, ret_error);
}

/* --usage: a private instance of sbxd's meter, for the run's cgroup alone. */
struct run_usage {
	const char *id, *out;
	struct meter *meter;
	char *meter_why; /* why there is no meter */
};

static int run_meter_attach(const struct cgroup *cg, void *userdata)
{
	uint64_t id;
	int r = usage_cgroup_id(cg->v2_path, &id);
	return r < 0 ? r : meter_attach(userdata, id, 0, true);
}

struct run_usage *run_usage_start(const char *id, const char *out, struct sandbox_spec *spec)
{
	struct run_usage *u = calloc(1, sizeof(*u));
	_cleanup_free_ char *parent = NULL;
	unsigned level;
	int r;

	if (!u) {
		sbx_die("--usage: %s", strerror(ENOMEM));
		return NULL;
	}
	u->id = id;
	u->out = out;
	r = cgroup_sandbox_parent(&parent, &level);
	if (r < 0 && asprintf(&u->meter_why, "sandbox cgroup parent: %s", strerror(-r)) < 0)
		u->meter_why = NULL;
	if (r == 0 && meter_open(parent, level, 1, false, &u->meter, &u->meter_why) < 0)
		u->meter = NULL;
	if (!u->meter)
		fprintf(stderr, "%s: warning: --usage: no syscall or network meter: %s\n", sbx_prog,
			u->meter_why ? u->meter_why : "eBPF unavailable");
	spec->limits.memory_account = true;
	spec->on_cgroup = u->meter ? run_meter_attach : NULL;
	spec->userdata = u->meter;
	return u;
}

void run_usage_write(const struct run_usage *u, struct sandbox *sb,
		     const struct sandbox_limits *lim, int64_t wall_ns, int code)
{
	struct usage_src src = {
		.id = u->id,
		.tenant = "local",
		.state = "exited",
		.wall_ns = wall_ns,
		.cg = sb->cg,
		.no_integral = true,
		.limits = lim,
		.meter = u->meter,
		.slot = u->meter ? 0 : -1,
		.meter_off = u->meter_why,
	};
	json_t *j = usage_json(&src);
	json_object_set_new(j, "exit_code", json_integer(code));
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	FILE *f = strcmp(u->out, "-") ? fopen(u->out, "we") : stdout;
	if (!f || !s || fprintf(f, "%s\n", s) < 0 || (f != stdout && fclose(f) != 0))
		fprintf(stderr, "%s: --usage %s: %s\n", sbx_prog, u->out, strerror(errno));
	else if (f == stdout)
		fflush(stdout);
	free(s);
}

void run_usage_free(struct run_usage *u)
{
	if (!u)
		return;
	meter_close(u->meter);
	free(u->meter_why);
	free(u);
}
