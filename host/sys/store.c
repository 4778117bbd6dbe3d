// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "store.h"

#include <errno.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "../../sandbox/text.h"

struct store {
	sqlite3 *db;
	char *path;
	bool wal_due; /* the log holds 1000 frames: a checkpoint is due */
	sqlite3_stmt *put, *by_token;
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"PRAGMA journal_size_limit=16777216;" /* a log past 16 MiB shrinks when reused */
	"CREATE TABLE IF NOT EXISTS tenants("
	" name TEXT PRIMARY KEY,"
	" token_sha256 TEXT NOT NULL UNIQUE,"
	" created_ns INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS sandboxes("
	" id TEXT PRIMARY KEY,"
	" tenant TEXT NOT NULL,"
	" state TEXT NOT NULL,"
	" spec TEXT NOT NULL,"
	" cgroup TEXT,"
	" reason TEXT,"
	" created_ns INTEGER NOT NULL,"
	" ended_ns INTEGER,"
	" deadline_ns INTEGER,"
	" exit_code INTEGER,"
	" pid INTEGER,"
	" start_time INTEGER);"
	"CREATE INDEX IF NOT EXISTS sandboxes_state ON sandboxes(state);"
	"CREATE TABLE IF NOT EXISTS snapshots("
	" id TEXT PRIMARY KEY,"
	" tenant TEXT NOT NULL,"
	" parent TEXT NOT NULL,"
	" state TEXT NOT NULL,"
	" size_bytes INTEGER NOT NULL,"
	" created_ns INTEGER NOT NULL,"
	" deleted_ns INTEGER,"
	" meta TEXT NOT NULL);";

/* Columns added after the first release of the table; "duplicate column" is fine. */
static const char *const migrations[] = {
	"ALTER TABLE sandboxes ADD COLUMN slot INTEGER",
	"ALTER TABLE sandboxes ADD COLUMN usage TEXT",
	"ALTER TABLE sandboxes ADD COLUMN base TEXT",
	"ALTER TABLE sandboxes ADD COLUMN env TEXT",
	"ALTER TABLE sandboxes ADD COLUMN net_pair INTEGER",
};

int store_errno(struct sqlite3 *db)
{
	int c = sqlite3_errcode(db) & 0xff; /* the primary code of an extended one */
	if (c == SQLITE_FULL)
		return -ENOSPC;
	if (c == SQLITE_BUSY || c == SQLITE_LOCKED)
		return -EBUSY;
	if (c == SQLITE_CONSTRAINT)
		return -EEXIST;
	return -EIO;
}

static int wal_hook(void *ud, sqlite3 *db, const char *name, int frames)
{
	if (frames >= 1000)
		((struct store *)ud)->wal_due = true;
	return SQLITE_OK;
}

int store_open(const char *dir, struct store **ret)
{
	char path[4096];
	struct store *s;
	int r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if ((size_t)snprintf(path, sizeof(path), "%s/sbx.db", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (sqlite3_open_v2(path, &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		r = -EIO;
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 5000);
	/* Its log goes into the database on a worker (store_wal_checkpoint), not in the
	 * commit that fills it: that writes and syncs megabytes. The hook replaces SQLite's
	 * own autocheckpoint and keeps its threshold. */
	sqlite3_wal_hook(s->db, wal_hook, s);
	if (!(s->path = strdup(path))) {
		r = -ENOMEM;
		goto fail;
	}
	if (sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		r = store_errno(s->db);
		goto fail;
	}
	for (size_t i = 0; i < sizeof(migrations) / sizeof(migrations[0]); i++)
		(void)sqlite3_exec(s->db, migrations[i], NULL, NULL, NULL);
	if (sqlite3_prepare_v2(s->db,
			       "INSERT OR REPLACE INTO sandboxes(id, tenant, state, spec, cgroup, "
			       "reason, created_ns, ended_ns, deadline_ns, exit_code, pid, "
			       "start_time, slot, usage, base, env, net_pair) "
			       "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			       -1, &s->put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "SELECT name FROM tenants WHERE token_sha256 = ?", -1,
			       &s->by_token, NULL) != SQLITE_OK) {
		r = store_errno(s->db);
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	store_close(s);
	return r;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->put);
	sqlite3_finalize(s->by_token);
	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

const char *store_path(const struct store *s)
{
	return s->path;
}

bool store_wal_due(struct store *s)
{
	bool due = s->wal_due;
	s->wal_due = false;
	return due;
}

int store_wal_checkpoint(const char *path)
{
	sqlite3 *db = NULL;
	int r = 0, log = -1;

	/* A connection finds the log on its first read; before, a checkpoint has none. */
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK)
		r = -EIO;
	else if (sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) !=
			 SQLITE_OK ||
		 sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, NULL) !=
			 SQLITE_OK)
		r = store_errno(db);
	else if (log < 0)
		r = -ENOENT; /* no log found: nothing was done */
	sqlite3_close(db);
	return r;
}

bool store_tenant_name_valid(const char *name)
{
	return text_is_name(name, 32) && strcmp(name, ADMIN_TENANT);
}

int store_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -EIO;
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int store_tenant_add(struct store *s, const char *name, char **ret_token)
{
	unsigned char rnd[24];
	char token[4 + 2 * sizeof(rnd) + 1], hash[65];
	sqlite3_stmt *st = NULL;
	struct timespec ts;
	int r;

	if (!store_tenant_name_valid(name))
		return -EINVAL;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -errno;
	strcpy(token, "sbx_");
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(token + 4 + 2 * i, 3, "%02x", rnd[i]);
	r = store_sha256_hex(token, strlen(token), hash);
	if (r < 0)
		return r;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO tenants(name, token_sha256, created_ns) VALUES(?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return store_errno(s->db);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : store_errno(s->db);
	sqlite3_finalize(st);
	if (r < 0)
		return r;
	*ret_token = strdup(token);
	return *ret_token ? 0 : -ENOMEM;
}

int store_tenant_by_token(struct store *s, const char *token, char **ret_name)
{
	char hash[65];
	int r;

	r = store_sha256_hex(token, strlen(token), hash);
	if (r < 0)
		return r;
	sqlite3_reset(s->by_token);
	sqlite3_bind_text(s->by_token, 1, hash, -1, SQLITE_STATIC);
	r = sqlite3_step(s->by_token);
	if (r == SQLITE_ROW) {
		*ret_name = strdup((const char *)sqlite3_column_text(s->by_token, 0));
		r = *ret_name ? 0 : -ENOMEM;
	} else {
		r = r == SQLITE_DONE ? -ENOENT : store_errno(s->db);
	}
	sqlite3_reset(s->by_token);
	return r;
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_opt_int(sqlite3_stmt *st, int i, int64_t v, bool present)
{
	if (present)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

int store_sandbox_put(struct store *s, const struct store_sandbox *sb)
{
	sqlite3_stmt *st = s->put;
	int r;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, sb->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sb->tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, sb->state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, sb->spec, -1, SQLITE_STATIC);
	bind_opt_text(st, 5, sb->cgroup);
	bind_opt_text(st, 6, sb->reason);
	sqlite3_bind_int64(st, 7, sb->created_ns);
	bind_opt_int(st, 8, sb->ended_ns, sb->ended_ns != 0);
	bind_opt_int(st, 9, sb->deadline_ns, sb->deadline_ns != 0);
	bind_opt_int(st, 10, sb->exit_code, sb->exit_code >= 0);
	bind_opt_int(st, 11, sb->pid, sb->pid > 0);
	bind_opt_int(st, 12, (int64_t)sb->start_time, sb->pid > 0);
	bind_opt_int(st, 13, sb->slot, sb->slot >= 0);
	bind_opt_text(st, 14, sb->usage);
	bind_opt_text(st, 15, sb->base);
	bind_opt_text(st, 16, sb->env);
	bind_opt_int(st, 17, sb->net_pair, sb->net_pair > 0);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : store_errno(s->db);
	sqlite3_reset(st);
	return r;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

int store_sandbox_each(struct store *s, const char *state,
		       void (*fn)(const struct store_sandbox *sb, void *userdata), void *userdata)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (sqlite3_prepare_v2(
		    s->db,
		    "SELECT id, tenant, state, spec, cgroup, reason, created_ns, ended_ns, "
		    "deadline_ns, exit_code, pid, start_time, slot, usage, base, env, net_pair "
		    "FROM sandboxes "
		    "WHERE state = ? "
		    "ORDER BY created_ns",
		    -1, &st, NULL) != SQLITE_OK)
		return store_errno(s->db);
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_sandbox sb = {
			.id = col_text(st, 0),
			.tenant = col_text(st, 1),
			.state = col_text(st, 2),
			.spec = col_text(st, 3),
			.cgroup = col_text(st, 4),
			.reason = col_text(st, 5),
			.created_ns = sqlite3_column_int64(st, 6),
			.ended_ns = sqlite3_column_int64(st, 7),
			.deadline_ns = sqlite3_column_int64(st, 8),
			.exit_code = sqlite3_column_type(st, 9) == SQLITE_NULL
					     ? -1
					     : sqlite3_column_int(st, 9),
			.pid = (pid_t)sqlite3_column_int(st, 10),
			.start_time = (uint64_t)sqlite3_column_int64(st, 11),
			.slot = sqlite3_column_type(st, 12) == SQLITE_NULL
					? -1
					: sqlite3_column_int(st, 12),
			.usage = col_text(st, 13),
			.base = col_text(st, 14),
			.env = col_text(st, 15),
			.net_pair = sqlite3_column_int(st, 16),
		};
		fn(&sb, userdata);
	}
	r = r == SQLITE_DONE ? 0 : store_errno(s->db);
	sqlite3_finalize(st);
	return r;
}

struct sqlite3 *store_db(struct store *s)
{
	return s->db;
}

int store_snapshot_put(struct store *s, const struct store_snapshot *sn)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (sqlite3_prepare_v2(s->db,
			       "INSERT OR REPLACE INTO snapshots(id, tenant, parent, state, "
			       "size_bytes, created_ns, deleted_ns, meta) VALUES(?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return store_errno(s->db);
	sqlite3_bind_text(st, 1, sn->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sn->tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, sn->parent, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, sn->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)sn->size_bytes);
	sqlite3_bind_int64(st, 6, sn->created_ns);
	bind_opt_int(st, 7, sn->deleted_ns, sn->deleted_ns != 0);
	sqlite3_bind_text(st, 8, sn->meta, -1, SQLITE_STATIC);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : store_errno(s->db);
	sqlite3_finalize(st);
	return r;
}

int store_snapshot_each(struct store *s, const char *state,
			void (*fn)(const struct store_snapshot *sn, void *userdata), void *userdata)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (sqlite3_prepare_v2(
		    s->db,
		    "SELECT id, tenant, parent, state, size_bytes, created_ns, "
		    "deleted_ns, meta FROM snapshots WHERE state = ? ORDER BY created_ns",
		    -1, &st, NULL) != SQLITE_OK)
		return store_errno(s->db);
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_snapshot sn = {
			.id = col_text(st, 0),
			.tenant = col_text(st, 1),
			.parent = col_text(st, 2),
			.state = col_text(st, 3),
			.size_bytes = (uint64_t)sqlite3_column_int64(st, 4),
			.created_ns = sqlite3_column_int64(st, 5),
			.deleted_ns = sqlite3_column_int64(st, 6),
			.meta = col_text(st, 7),
		};
		fn(&sn, userdata);
	}
	r = r == SQLITE_DONE ? 0 : store_errno(s->db);
	sqlite3_finalize(st);
	return r;
}
