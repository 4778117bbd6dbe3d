// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "ledger.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sys/store.h"

struct ledger {
	sqlite3 *db;
	sqlite3_stmt *insert, *head_set, *state_set, *state_get;
	char head[65];
	int64_t rows;
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS ledger("
	" seq INTEGER PRIMARY KEY,"
	" id TEXT NOT NULL,"
	" tenant TEXT NOT NULL, sandbox TEXT NOT NULL, sku TEXT NOT NULL,"
	" start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,"
	" quantity INTEGER NOT NULL, unit TEXT NOT NULL,"
	" pricing_quantity_nano INTEGER NOT NULL, pricing_unit TEXT NOT NULL,"
	" list_unit_price_nano INTEGER NOT NULL, unit_price_nano INTEGER NOT NULL,"
	" list_cost_nano INTEGER NOT NULL, cost_nano INTEGER NOT NULL,"
	" currency TEXT NOT NULL, labels TEXT NOT NULL, policy TEXT NOT NULL,"
	" prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
	/* A row is never written twice: one per sandbox, SKU and window start (its id says
	 * the same, but an index on numbers first costs a third of one on the id's text,
	 * and it also serves the queries by period). Ledgers made before it lose the old
	 * index by period. */
	"CREATE UNIQUE INDEX IF NOT EXISTS ledger_window ON ledger(start_ns, sandbox, sku);"
	"DROP INDEX IF EXISTS ledger_start;"
	"CREATE TABLE IF NOT EXISTS ledger_head(one INTEGER PRIMARY KEY CHECK (one = 1),"
	" rows INTEGER NOT NULL, hash TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS billing(sandbox TEXT PRIMARY KEY, billed_until INTEGER,"
	" cpu_ns INTEGER, mem_byte_ns INTEGER, syscalls INTEGER, rx_bytes INTEGER,"
	" tx_bytes INTEGER, created_billed INTEGER, ended INTEGER, mem_kib_ms INTEGER)"
	" WITHOUT ROWID;";

/* Columns added after the first release of a table, as store.c adds its own:
 * "duplicate column" is fine, and a column that could not be added fails the statements
 * that use it. The memory integral in KiB-ms replaces mem_byte_ns (64 bits that wrapped
 * past 17 GiB-seconds), which is read where it is unset. */
static const char migrate[] = "ALTER TABLE billing ADD COLUMN mem_kib_ms INTEGER";

#define GENESIS "0000000000000000000000000000000000000000000000000000000000000000"
#define COLS                                                                                       \
	"seq, id, tenant, sandbox, sku, start_ns, end_ns, quantity, unit, pricing_quantity_nano, " \
	"pricing_unit, list_unit_price_nano, unit_price_nano, list_cost_nano, cost_nano, "         \
	"currency, labels, policy, prev_hash, hash"

/* SHA-256 of the row's content and the hash before it, as hex. */
/* Appends @s and a unit separator (0x1f); false when it does not fit. */
static bool put_str(char *buf, size_t size, size_t *n, const char *s)
{
	size_t len = strlen(s);
	if (*n + len + 1 >= size)
		return false;
	memcpy(buf + *n, s, len);
	*n += len;
	buf[(*n)++] = '\x1f';
	return true;
}

/* The same for a number in decimal, as printf's %" PRId64 " writes it. */
static bool put_int(char *buf, size_t size, size_t *n, uint64_t v, bool negative)
{
	char d[24];
	int i = (int)sizeof(d);
	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10));
	if (negative)
		d[--i] = '-';
	if (*n + (sizeof(d) - (size_t)i) + 1 >= size)
		return false;
	memcpy(buf + *n, d + i, sizeof(d) - (size_t)i);
	*n += sizeof(d) - (size_t)i;
	buf[(*n)++] = '\x1f';
	return true;
}

static bool put_i64(char *buf, size_t size, size_t *n, int64_t v)
{
	return put_int(buf, size, n, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, v < 0);
}

/* The canonical text of a row (never to change: old ledgers verify with it): its fields
 * joined by US (0x1f) in a fixed order, labels (unbounded) hashed in place, then the
 * policy and the previous row's hash. */
static int row_hash(const struct ledger_row *r, const char *prev, char out[65])
{
	char head[1024], tail[256];
	unsigned char md[32];
	unsigned len = 0;
	size_t n = 0, m = 1;
	bool ok = put_str(head, sizeof(head), &n, r->id) &&
		  put_str(head, sizeof(head), &n, r->tenant) &&
		  put_str(head, sizeof(head), &n, r->sandbox) &&
		  put_str(head, sizeof(head), &n, r->sku) &&
		  put_i64(head, sizeof(head), &n, r->start_ns) &&
		  put_i64(head, sizeof(head), &n, r->end_ns) &&
		  put_int(head, sizeof(head), &n, r->quantity, false) &&
		  put_str(head, sizeof(head), &n, r->unit) &&
		  put_int(head, sizeof(head), &n, r->pricing_quantity_nano, false) &&
		  put_str(head, sizeof(head), &n, r->pricing_unit) &&
		  put_int(head, sizeof(head), &n, r->list_unit_price_nano, false) &&
		  put_int(head, sizeof(head), &n, r->unit_price_nano, false) &&
		  put_int(head, sizeof(head), &n, r->list_cost_nano, false) &&
		  put_int(head, sizeof(head), &n, r->cost_nano, false) &&
		  put_str(head, sizeof(head), &n, r->currency) &&
		  put_str(tail, sizeof(tail), &m, r->policy) && strlen(prev) + m < sizeof(tail);
	if (!ok)
		return -E2BIG;
	tail[0] = '\x1f';
	memcpy(tail + m, prev, strlen(prev));
	m += strlen(prev);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, head, n) &&
	     EVP_DigestUpdate(ctx, r->labels, strlen(r->labels)) &&
	     EVP_DigestUpdate(ctx, tail, m) && EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	if (!ok || len != 32)
		return -EIO;
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	return 0;
}

int ledger_open(sqlite3 *db, struct ledger **ret)
{
	struct ledger *l = calloc(1, sizeof(*l));
	sqlite3_stmt *st = NULL;

	if (!l)
		return -ENOMEM;
	l->db = db;
	snprintf(l->head, sizeof(l->head), GENESIS);
	bool made = sqlite3_exec(db, schema, NULL, NULL, NULL) == SQLITE_OK;
	if (made)
		(void)sqlite3_exec(db, migrate, NULL, NULL, NULL);
	if (!made ||
	    sqlite3_prepare_v2(db,
			       "INSERT INTO ledger(" COLS ") VALUES(NULL,?,?,?,?,?,?,?,?,?,?,?,?,"
			       "?,?,?,?,?,?,?)",
			       -1, &l->insert, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "INSERT OR REPLACE INTO ledger_head(one, rows, hash) VALUES(1,?,?)",
			       -1, &l->head_set, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       /* Updated in place every window (an upsert, not a delete and
				* an insert as REPLACE would do). */
			       "INSERT INTO billing(sandbox, billed_until, cpu_ns, "
			       "mem_kib_ms, syscalls, rx_bytes, tx_bytes, created_billed, ended) "
			       "VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(sandbox) DO UPDATE SET "
			       "billed_until = excluded.billed_until, cpu_ns = excluded.cpu_ns, "
			       "mem_kib_ms = excluded.mem_kib_ms, mem_byte_ns = NULL, "
			       "syscalls = excluded.syscalls, "
			       "rx_bytes = excluded.rx_bytes, tx_bytes = excluded.tx_bytes, "
			       "created_billed = excluded.created_billed, ended = excluded.ended",
			       -1, &l->state_set, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
		    db,
		    "SELECT billed_until, cpu_ns, mem_kib_ms, syscalls, rx_bytes, "
		    "tx_bytes, created_billed, ended, mem_byte_ns FROM billing WHERE sandbox = ?",
		    -1, &l->state_get, NULL) != SQLITE_OK) {
		int r = store_errno(db);
		ledger_close(l);
		return r;
	}
	/* The chain continues from its last row. */
	if (sqlite3_prepare_v2(db,
			       "SELECT hash, (SELECT COUNT(*) FROM ledger) FROM ledger "
			       "ORDER BY seq DESC LIMIT 1",
			       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		snprintf(l->head, sizeof(l->head), "%s", (const char *)sqlite3_column_text(st, 0));
		l->rows = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	*ret = l;
	return 0;
}

void ledger_close(struct ledger *l)
{
	if (!l)
		return;
	sqlite3_finalize(l->insert);
	sqlite3_finalize(l->head_set);
	sqlite3_finalize(l->state_set);
	sqlite3_finalize(l->state_get);
	free(l);
}

static int step_done(sqlite3 *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_errno(db);
}

int ledger_append(struct ledger *l, struct ledger_row *rows, size_t nrows,
		  const struct bill_state *states, size_t nstates)
{
	char head[65];
	int r = 0;

	if (!nrows && !nstates)
		return 0;
	snprintf(head, sizeof(head), "%s", l->head);
	if (sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return store_errno(l->db);
	for (size_t i = 0; i < nrows && r == 0; i++) {
		struct ledger_row *w = &rows[i];
		sqlite3_stmt *st = l->insert;
		memcpy(w->prev_hash, head, sizeof(w->prev_hash));
		r = row_hash(w, head, w->hash);
		if (r < 0)
			break;
		sqlite3_bind_text(st, 1, w->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, w->tenant, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, w->sandbox, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, w->sku, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, w->start_ns);
		sqlite3_bind_int64(st, 6, w->end_ns);
		sqlite3_bind_int64(st, 7, (int64_t)w->quantity);
		sqlite3_bind_text(st, 8, w->unit, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 9, (int64_t)w->pricing_quantity_nano);
		sqlite3_bind_text(st, 10, w->pricing_unit, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 11, (int64_t)w->list_unit_price_nano);
		sqlite3_bind_int64(st, 12, (int64_t)w->unit_price_nano);
		sqlite3_bind_int64(st, 13, (int64_t)w->list_cost_nano);
		sqlite3_bind_int64(st, 14, (int64_t)w->cost_nano);
		sqlite3_bind_text(st, 15, w->currency, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 16, w->labels, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 17, w->policy, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 18, w->prev_hash, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 19, w->hash, -1, SQLITE_STATIC);
		r = step_done(l->db, st);
		memcpy(head, w->hash, sizeof(head));
	}
	for (size_t i = 0; i < nstates && r == 0; i++) {
		const struct bill_state *s = &states[i];
		sqlite3_stmt *st = l->state_set;
		sqlite3_bind_text(st, 1, s->sandbox, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, s->billed_until);
		sqlite3_bind_int64(st, 3, (int64_t)s->cpu_ns);
		sqlite3_bind_int64(st, 4, (int64_t)s->mem_kib_ms);
		sqlite3_bind_int64(st, 5, (int64_t)s->syscalls);
		sqlite3_bind_int64(st, 6, (int64_t)s->rx_bytes);
		sqlite3_bind_int64(st, 7, (int64_t)s->tx_bytes);
		sqlite3_bind_int(st, 8, s->created_billed);
		sqlite3_bind_int(st, 9, s->ended);
		r = step_done(l->db, st);
	}
	if (r == 0 && nrows) {
		sqlite3_bind_int64(l->head_set, 1, l->rows + (int64_t)nrows);
		sqlite3_bind_text(l->head_set, 2, head, -1, SQLITE_STATIC);
		r = step_done(l->db, l->head_set);
	}
	if (r == 0 && sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		r = store_errno(l->db);
	if (r < 0) {
		(void)sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
		return r;
	}
	snprintf(l->head, sizeof(l->head), "%s", head);
	l->rows += (int64_t)nrows;
	return 0;
}

int ledger_state(struct ledger *l, const char *sandbox, struct bill_state *ret)
{
	sqlite3_stmt *st = l->state_get;
	int r;

	sqlite3_bind_text(st, 1, sandbox, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		*ret = (struct bill_state){
			.billed_until = sqlite3_column_int64(st, 0),
			.cpu_ns = (uint64_t)sqlite3_column_int64(st, 1),
			/* unset in a table made before there was one: its byte-ns (a uint64,
			 * which read negative past 2^63) */
			.mem_kib_ms = sqlite3_column_type(st, 2) == SQLITE_NULL
					      ? (uint64_t)sqlite3_column_int64(st, 8) / 1024000000
					      : (uint64_t)sqlite3_column_int64(st, 2),
			.syscalls = (uint64_t)sqlite3_column_int64(st, 3),
			.rx_bytes = (uint64_t)sqlite3_column_int64(st, 4),
			.tx_bytes = (uint64_t)sqlite3_column_int64(st, 5),
			.created_billed = sqlite3_column_int(st, 6),
			.ended = sqlite3_column_int(st, 7),
		};
		snprintf(ret->sandbox, sizeof(ret->sandbox), "%s", sandbox);
		r = 0;
	} else {
		r = r == SQLITE_DONE ? -ENOENT : store_errno(l->db);
	}
	sqlite3_reset(st);
	return r;
}

static const char *txt(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? s : "";
}

static void row_from(sqlite3_stmt *st, struct ledger_row *w)
{
	w->seq = sqlite3_column_int64(st, 0);
	snprintf(w->id, sizeof(w->id), "%s", txt(st, 1));
	w->tenant = txt(st, 2);
	w->sandbox = txt(st, 3);
	w->sku = txt(st, 4);
	w->start_ns = sqlite3_column_int64(st, 5);
	w->end_ns = sqlite3_column_int64(st, 6);
	w->quantity = (uint64_t)sqlite3_column_int64(st, 7);
	w->unit = txt(st, 8);
	w->pricing_quantity_nano = (uint64_t)sqlite3_column_int64(st, 9);
	w->pricing_unit = txt(st, 10);
	w->list_unit_price_nano = (uint64_t)sqlite3_column_int64(st, 11);
	w->unit_price_nano = (uint64_t)sqlite3_column_int64(st, 12);
	w->list_cost_nano = (uint64_t)sqlite3_column_int64(st, 13);
	w->cost_nano = (uint64_t)sqlite3_column_int64(st, 14);
	w->currency = txt(st, 15);
	w->labels = txt(st, 16);
	w->policy = txt(st, 17);
	snprintf(w->prev_hash, sizeof(w->prev_hash), "%s", txt(st, 18));
	snprintf(w->hash, sizeof(w->hash), "%s", txt(st, 19));
}

int ledger_each(struct ledger *l, int64_t from, int64_t to, const char *tenant, const char *sandbox,
		bool (*fn)(const struct ledger_row *row, void *ud), void *ud)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (sqlite3_prepare_v2(
		    l->db,
		    "SELECT " COLS " FROM ledger WHERE start_ns >= ? AND start_ns < ? AND "
		    "(?3 IS NULL OR tenant = ?3) AND (?4 IS NULL OR sandbox = ?4) ORDER BY seq",
		    -1, &st, NULL) != SQLITE_OK)
		return store_errno(l->db);
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to > 0 ? to : INT64_MAX);
	if (tenant)
		sqlite3_bind_text(st, 3, tenant, -1, SQLITE_STATIC);
	if (sandbox)
		sqlite3_bind_text(st, 4, sandbox, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct ledger_row w;
		row_from(st, &w);
		if (!fn(&w, ud)) {
			r = SQLITE_DONE;
			break;
		}
	}
	r = r == SQLITE_DONE ? 0 : store_errno(l->db);
	sqlite3_finalize(st);
	return r;
}

int ledger_totals(struct ledger *l,
		  void (*fn)(const char *tenant, const char *sku, uint64_t cost, void *ud),
		  void *ud)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (sqlite3_prepare_v2(
		    l->db, "SELECT tenant, sku, SUM(cost_nano) FROM ledger GROUP BY tenant, sku",
		    -1, &st, NULL) != SQLITE_OK)
		return store_errno(l->db);
	while ((r = sqlite3_step(st)) == SQLITE_ROW)
		fn(txt(st, 0), txt(st, 1), (uint64_t)sqlite3_column_int64(st, 2), ud);
	r = r == SQLITE_DONE ? 0 : store_errno(l->db);
	sqlite3_finalize(st);
	return r;
}

int ledger_verify(struct ledger *l, uint64_t *ret_rows, char **ret_bad, char **ret_why)
{
	sqlite3_stmt *st = NULL;
	char prev[65] = GENESIS, h[65];
	uint64_t n = 0;
	int r, bad = 0;

	*ret_bad = *ret_why = NULL;
	if (sqlite3_prepare_v2(l->db, "SELECT " COLS " FROM ledger ORDER BY seq", -1, &st, NULL) !=
	    SQLITE_OK)
		return store_errno(l->db);
	while (!bad && (r = sqlite3_step(st)) == SQLITE_ROW) {
		struct ledger_row w;
		row_from(st, &w);
		n++;
		if (strcmp(w.prev_hash, prev)) {
			bad = 1;
			*ret_bad = strdup(w.id);
			*ret_why =
				strdup("its previous-row hash does not match: a row before it was "
				       "deleted or changed");
		} else if (row_hash(&w, prev, h) < 0 || strcmp(h, w.hash)) {
			bad = 1;
			*ret_bad = strdup(w.id);
			*ret_why =
				strdup("its content does not match its hash: the row was changed");
		}
		snprintf(prev, sizeof(prev), "%s", w.hash);
	}
	sqlite3_finalize(st);
	if (bad)
		return -EBADMSG;
	/* The head: rows cut from the end leave the chain whole but short. */
	if (sqlite3_prepare_v2(l->db, "SELECT rows, hash FROM ledger_head WHERE one = 1", -1, &st,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		if ((uint64_t)sqlite3_column_int64(st, 0) != n || strcmp(txt(st, 1), prev)) {
			bad = 1;
			*ret_bad = strdup("end");
			if (asprintf(ret_why,
				     "the ledger ends after %" PRIu64 " rows, but %" PRId64
				     " were written: rows were removed from the end",
				     n, (int64_t)sqlite3_column_int64(st, 0)) < 0)
				*ret_why = NULL;
		}
	} else if (n) {
		bad = 1;
		*ret_bad = strdup("end");
		*ret_why = strdup("the ledger's head record is missing");
	}
	sqlite3_finalize(st);
	*ret_rows = n;
	return bad ? -EBADMSG : 0;
}
