// SPDX-License-Identifier: MIT
/* Unit tests for the ledger's chain, against SQLite: sbxd's own database (store.c) in a
 * temporary directory. Rows appended verify; a changed, deleted or cut row is found and
 * named; a window written twice is refused whole. */
#define _GNU_SOURCE
#include "../../host/billing/ledger.h"
#include "../../host/sys/store.h"

#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

#include "harness.h"

#define SEC 1000000000LL
#define T0 (1800000000LL * SEC)
#define GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

struct db {
	char dir[64];
	struct store *store;
	sqlite3 *sql;
	struct ledger *ledger;
};

/* The database's files; the directory goes too, also when a check fails (exit()). */
static void remove_dir(const char *dir)
{
	static const char *const files[] = { "sbx.db", "sbx.db-wal", "sbx.db-shm" };
	char p[128];
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	rmdir(dir);
}

static char open_dir[64];

static void remove_open_dir(void)
{
	if (open_dir[0])
		remove_dir(open_dir);
}

static void db_open(struct db *d)
{
	static bool registered;
	const char *tmp = getenv("TMPDIR");
	snprintf(d->dir, sizeof(d->dir), "%s/test-ledger.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	CHECK(mkdtemp(d->dir) != NULL);
	snprintf(open_dir, sizeof(open_dir), "%s", d->dir);
	if (!registered)
		registered = atexit(remove_open_dir) == 0;
	CHECK_EQ_INT(store_open(d->dir, &d->store), 0);
	d->sql = store_db(d->store);
	CHECK_EQ_INT(ledger_open(d->sql, &d->ledger), 0);
}

static void db_close(struct db *d)
{
	ledger_close(d->ledger);
	store_close(d->store);
	remove_dir(d->dir);
	open_dir[0] = '\0';
	CHECK(access(d->dir, F_OK) < 0);
}

static void sql(struct db *d, const char *q)
{
	char *err = NULL;
	if (sqlite3_exec(d->sql, q, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", q, err);
		exit(1);
	}
	CHECK(sqlite3_changes(d->sql) > 0 || strncmp(q, "UPDATE", 6));
}

/* Row @i of sandbox @sb: window i of 60 s, a CPU row. */
static struct ledger_row row(const char *sb, const char *tenant, int i)
{
	struct ledger_row w = {
		.tenant = tenant,
		.sandbox = sb,
		.sku = "cpu-core-second",
		.unit = "core-nanoseconds",
		.pricing_unit = "core-seconds",
		.currency = "USD",
		.labels = "{\"team\":\"ml\"}",
		.policy = "allocated",
		.start_ns = T0 + i * 60 * SEC,
		.end_ns = T0 + (i + 1) * 60 * SEC,
		.quantity = 30 * SEC + (uint64_t)i,
		.pricing_quantity_nano = 30 * SEC + (uint64_t)i,
		.list_unit_price_nano = 14000,
		.unit_price_nano = 14000,
		.list_cost_nano = 420000 + (uint64_t)i,
		.cost_nano = 420000 + (uint64_t)i,
	};
	snprintf(w.id, sizeof(w.id), "%s:%s:%" PRId64, sb, w.sku, w.start_ns);
	return w;
}

/* @n rows of sandbox "0123456789" (windows 0..n-1), appended one batch. */
static void append_rows(struct db *d, int first, int n)
{
	struct ledger_row w[16];
	CHECK(n <= 16);
	for (int i = 0; i < n; i++)
		w[i] = row("0123456789", "acme", first + i);
	CHECK_EQ_INT(ledger_append(d->ledger, w, (size_t)n, NULL, 0), 0);
}

static void verify_ok(struct db *d, uint64_t rows)
{
	uint64_t n = 0;
	char *bad = NULL, *why = NULL;
	int r = ledger_verify(d->ledger, &n, &bad, &why);
	if (r != 0)
		fprintf(stderr, "verify: %d, row %s: %s\n", r, bad, why);
	CHECK_EQ_INT(r, 0);
	CHECK_EQ_INT(n, rows);
	CHECK(!bad && !why);
}

/* ledger_verify finds the chain broken at @bad, for a reason containing @why. */
static void verify_bad(struct db *d, const char *want_bad, const char *want_why)
{
	uint64_t n = 0;
	char *bad = NULL, *why = NULL;
	CHECK_EQ_INT(ledger_verify(d->ledger, &n, &bad, &why), -EBADMSG);
	if (!bad || strcmp(bad, want_bad)) {
		fprintf(stderr, "bad row \"%s\", expected \"%s\"\n", bad ? bad : "(null)",
			want_bad);
		exit(1);
	}
	CHECK_STR_CONTAINS(why, want_why);
	free(bad);
	free(why);
}

struct collected {
	struct ledger_row rows[32];
	char strs[32][8][96];
	int n, stop_after;
};

static bool collect(const struct ledger_row *w, void *ud)
{
	struct collected *c = ud;
	CHECK(c->n < 32);
	struct ledger_row *o = &c->rows[c->n];
	*o = *w;
	/* The row's strings live for the call only. */
	const char **s[] = { &o->tenant,       &o->sandbox,  &o->sku,	 &o->unit,
			     &o->pricing_unit, &o->currency, &o->labels, &o->policy };
	for (int k = 0; k < 8; k++) {
		snprintf(c->strs[c->n][k], sizeof(c->strs[c->n][k]), "%s", *s[k]);
		*s[k] = c->strs[c->n][k];
	}
	c->n++;
	return !c->stop_after || c->n < c->stop_after;
}

static bool hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!strchr("0123456789abcdef", *s))
			return false;
	return true;
}

TEST(append_and_verify)
{
	struct db d;
	struct ledger_row w[3] = { row("0123456789", "acme", 0), row("0123456789", "acme", 1),
				   row("aaaaaaaaaa", "bob", 0) };
	db_open(&d);
	verify_ok(&d, 0);
	CHECK_EQ_INT(ledger_append(d.ledger, w, 3, NULL, 0), 0);
	/* The appended rows carry their chain. */
	CHECK(!strcmp(w[0].prev_hash, GENESIS));
	CHECK(hex64(w[0].hash) && hex64(w[1].hash) && hex64(w[2].hash));
	CHECK(!strcmp(w[1].prev_hash, w[0].hash));
	CHECK(!strcmp(w[2].prev_hash, w[1].hash));
	CHECK(strcmp(w[0].hash, w[1].hash));
	append_rows(&d, 2, 2);
	verify_ok(&d, 5);

	/* Read back in order, as written, each linked to the one before. */
	struct collected c = { 0 };
	CHECK_EQ_INT(ledger_each(d.ledger, 0, 0, NULL, NULL, collect, &c), 0);
	CHECK_EQ_INT(c.n, 5);
	for (int i = 0; i < 3; i++) {
		CHECK(!strcmp(c.rows[i].id, w[i].id));
		CHECK(!strcmp(c.rows[i].hash, w[i].hash));
		CHECK(!strcmp(c.rows[i].tenant, w[i].tenant));
		CHECK(!strcmp(c.rows[i].labels, "{\"team\":\"ml\"}"));
		CHECK_EQ_INT(c.rows[i].cost_nano, w[i].cost_nano);
		CHECK_EQ_INT(c.rows[i].start_ns, w[i].start_ns);
	}
	for (int i = 1; i < 5; i++) {
		CHECK(!strcmp(c.rows[i].prev_hash, c.rows[i - 1].hash));
		CHECK(c.rows[i].seq > c.rows[i - 1].seq);
	}
	db_close(&d);
}

TEST(chain_goes_on_after_reopen)
{
	struct db d;
	db_open(&d);
	append_rows(&d, 0, 2);
	struct collected c = { 0 };
	CHECK_EQ_INT(ledger_each(d.ledger, 0, 0, NULL, NULL, collect, &c), 0);
	/* As after a daemon restart: the chain continues from its last row. */
	ledger_close(d.ledger);
	CHECK_EQ_INT(ledger_open(d.sql, &d.ledger), 0);
	struct ledger_row w = row("0123456789", "acme", 2);
	CHECK_EQ_INT(ledger_append(d.ledger, &w, 1, NULL, 0), 0);
	CHECK(!strcmp(w.prev_hash, c.rows[1].hash));
	verify_ok(&d, 3);
	db_close(&d);
}

TEST(changed_field_is_found)
{
	/* Any field changed in SQL breaks that row's hash, and the row is named. */
	static const char *const edits[] = {
		"UPDATE ledger SET cost_nano = cost_nano - 1 WHERE seq = 2",
		"UPDATE ledger SET list_cost_nano = 0 WHERE seq = 2",
		"UPDATE ledger SET unit_price_nano = 1 WHERE seq = 2",
		"UPDATE ledger SET list_unit_price_nano = 1 WHERE seq = 2",
		"UPDATE ledger SET quantity = 1 WHERE seq = 2",
		"UPDATE ledger SET pricing_quantity_nano = 1 WHERE seq = 2",
		"UPDATE ledger SET tenant = 'bob' WHERE seq = 2",
		"UPDATE ledger SET sandbox = 'bbbbbbbbbb' WHERE seq = 2",
		"UPDATE ledger SET sku = 'sandbox-create' WHERE seq = 2",
		"UPDATE ledger SET unit = 'x' WHERE seq = 2",
		"UPDATE ledger SET pricing_unit = 'x' WHERE seq = 2",
		"UPDATE ledger SET currency = 'EUR' WHERE seq = 2",
		"UPDATE ledger SET labels = '{\"team\":\"ops\"}' WHERE seq = 2",
		"UPDATE ledger SET policy = 'used' WHERE seq = 2",
		"UPDATE ledger SET start_ns = start_ns + 1 WHERE seq = 2",
		"UPDATE ledger SET end_ns = end_ns - 1 WHERE seq = 2",
		"UPDATE ledger SET hash = '" GENESIS "' WHERE seq = 2",
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		struct db d;
		db_open(&d);
		append_rows(&d, 0, 3);
		verify_ok(&d, 3);
		sql(&d, edits[i]);
		verify_bad(&d, "0123456789:cpu-core-second:1800000060000000000",
			   "its content does not match its hash");
		db_close(&d);
	}
}

TEST(changed_id_is_found)
{
	struct db d;
	db_open(&d);
	append_rows(&d, 0, 3);
	sql(&d, "UPDATE ledger SET id = 'forged' WHERE seq = 2");
	verify_bad(&d, "forged", "its content does not match its hash");
	db_close(&d);
}

TEST(changed_link_is_found)
{
	struct db d;
	db_open(&d);
	append_rows(&d, 0, 3);
	/* A row that no longer names the one before it. */
	sql(&d, "UPDATE ledger SET prev_hash = '" GENESIS "' WHERE seq = 3");
	verify_bad(&d, "0123456789:cpu-core-second:1800000120000000000",
		   "its previous-row hash does not match");
	db_close(&d);
}

TEST(deleted_row_is_found)
{
	struct db d;
	db_open(&d);
	append_rows(&d, 0, 3);
	sql(&d, "DELETE FROM ledger WHERE seq = 2");
	/* The row after the gap is named. */
	verify_bad(&d, "0123456789:cpu-core-second:1800000120000000000",
		   "a row before it was deleted or changed");
	db_close(&d);
}

TEST(cut_end_is_found)
{
	struct db d;
	db_open(&d);
	append_rows(&d, 0, 3);
	/* The last row gone: the chain is whole but shorter than its head says. */
	sql(&d, "DELETE FROM ledger WHERE seq = 3");
	verify_bad(&d, "end", "the ledger ends after 2 rows, but 3 were written");
	db_close(&d);

	db_open(&d);
	append_rows(&d, 0, 3);
	sql(&d, "DELETE FROM ledger");
	verify_bad(&d, "end", "the ledger ends after 0 rows, but 3 were written");
	db_close(&d);
}

TEST(missing_head_is_found)
{
	struct db d;
	db_open(&d);
	append_rows(&d, 0, 2);
	sql(&d, "DELETE FROM ledger_head");
	verify_bad(&d, "end", "the ledger's head record is missing");
	db_close(&d);
}

TEST(window_written_twice)
{
	struct db d;
	struct ledger_row a = row("0123456789", "acme", 0), again = a;
	struct bill_state st = { .sandbox = "0123456789", .billed_until = T0 + 120 * SEC };
	db_open(&d);
	CHECK_EQ_INT(ledger_append(d.ledger, &a, 1, NULL, 0), 0);
	/* The same row id (sandbox, SKU, window) again: refused, not doubled. */
	CHECK_EQ_INT(ledger_append(d.ledger, &again, 1, NULL, 0), -EEXIST);
	verify_ok(&d, 1);

	/* A batch holding it is refused whole: its new row and its states too. */
	struct ledger_row batch[2] = { row("0123456789", "acme", 1), a };
	CHECK_EQ_INT(ledger_append(d.ledger, batch, 2, &st, 1), -EEXIST);
	struct bill_state got;
	CHECK_EQ_INT(ledger_state(d.ledger, "0123456789", &got), -ENOENT);
	struct collected c = { 0 };
	CHECK_EQ_INT(ledger_each(d.ledger, 0, 0, NULL, NULL, collect, &c), 0);
	CHECK_EQ_INT(c.n, 1);
	verify_ok(&d, 1);

	/* The chain goes on from the last row written, not from the refused batch. */
	struct ledger_row next = row("0123456789", "acme", 1);
	CHECK_EQ_INT(ledger_append(d.ledger, &next, 1, &st, 1), 0);
	CHECK(!strcmp(next.prev_hash, a.hash));
	verify_ok(&d, 2);
	CHECK_EQ_INT(ledger_state(d.ledger, "0123456789", &got), 0);
	CHECK_EQ_INT(got.billed_until, T0 + 120 * SEC);
	db_close(&d);
}

TEST(states)
{
	struct db d;
	struct bill_state s = { .sandbox = "0123456789",
				.billed_until = T0,
				.cpu_ns = 1,
				.mem_kib_ms = 2,
				.syscalls = 3,
				.rx_bytes = 4,
				.tx_bytes = 5,
				.created_billed = true };
	struct bill_state got;
	db_open(&d);
	CHECK_EQ_INT(ledger_state(d.ledger, "0123456789", &got), -ENOENT);
	/* States without rows are saved too, and leave the chain as it was. */
	CHECK_EQ_INT(ledger_append(d.ledger, NULL, 0, &s, 1), 0);
	CHECK_EQ_INT(ledger_state(d.ledger, "0123456789", &got), 0);
	CHECK(!memcmp(&got, &s, sizeof(s)));
	verify_ok(&d, 0);
	/* A later state replaces it; the last of a batch wins. */
	struct bill_state two[2] = { s, s };
	two[0].billed_until = T0 + 60 * SEC;
	two[1].billed_until = T0 + 120 * SEC;
	two[1].ended = true;
	CHECK_EQ_INT(ledger_append(d.ledger, NULL, 0, two, 2), 0);
	CHECK_EQ_INT(ledger_state(d.ledger, "0123456789", &got), 0);
	CHECK_EQ_INT(got.billed_until, T0 + 120 * SEC);
	CHECK(got.ended);
	db_close(&d);
}

TEST(states_of_an_older_table)
{
	struct db d;
	struct bill_state got;
	db_open(&d);
	/* A billing table of an sbxd before KiB-ms: the memory integral in byte-ns only. */
	ledger_close(d.ledger);
	sql(&d, "DROP TABLE billing");
	sql(&d, "CREATE TABLE billing(sandbox TEXT PRIMARY KEY, billed_until INTEGER,"
		" cpu_ns INTEGER, mem_byte_ns INTEGER, syscalls INTEGER, rx_bytes INTEGER,"
		" tx_bytes INTEGER, created_billed INTEGER, ended INTEGER) WITHOUT ROWID");
	sql(&d, "INSERT INTO billing VALUES('0123456789', 1, 2, 5120000007, 3, 4, 5, 1, 0)");
	/* A uint64 past 2^63, which SQLite holds as a negative int64. */
	sql(&d,
	    "INSERT INTO billing VALUES('past2to63', 1, 2, -9223372031734775808, 3, 4, 5, 1, 0)");
	CHECK_EQ_INT(ledger_open(d.sql, &d.ledger), 0);
	CHECK_EQ_INT(ledger_state(d.ledger, "0123456789", &got), 0);
	CHECK_EQ_INT(got.mem_kib_ms, 5); /* 5,120,000,007 byte-ns */
	CHECK_EQ_INT(got.cpu_ns, 2);
	/* Written again: in KiB-ms, past what 64-bit byte-ns could hold. */
	got.mem_kib_ms = 1ULL << 50;
	CHECK_EQ_INT(ledger_append(d.ledger, NULL, 0, &got, 1), 0);
	CHECK_EQ_INT(ledger_state(d.ledger, "0123456789", &got), 0);
	CHECK_EQ_INT(got.mem_kib_ms, 1ULL << 50);
	/* Opened again, the column is there: nothing to add. */
	ledger_close(d.ledger);
	CHECK_EQ_INT(ledger_open(d.sql, &d.ledger), 0);
	CHECK_EQ_INT(ledger_state(d.ledger, "0123456789", &got), 0);
	CHECK_EQ_INT(got.mem_kib_ms, 1ULL << 50);
	CHECK_EQ_INT(ledger_state(d.ledger, "past2to63", &got), 0);
	CHECK_EQ_INT(got.mem_kib_ms, ((1ULL << 63) + 5120000000ULL) / 1024000000ULL);
	db_close(&d);
}

TEST(each_filters)
{
	struct db d;
	struct ledger_row w[4] = { row("0123456789", "acme", 0), row("0123456789", "acme", 1),
				   row("aaaaaaaaaa", "bob", 1), row("aaaaaaaaaa", "bob", 2) };
	db_open(&d);
	CHECK_EQ_INT(ledger_append(d.ledger, w, 4, NULL, 0), 0);
	struct collected c = { 0 };
	/* [from, to): the start of a row's window. */
	CHECK_EQ_INT(ledger_each(d.ledger, T0 + 60 * SEC, T0 + 120 * SEC, NULL, NULL, collect, &c),
		     0);
	CHECK_EQ_INT(c.n, 2);
	CHECK(!strcmp(c.rows[0].id, w[1].id) && !strcmp(c.rows[1].id, w[2].id));
	memset(&c, 0, sizeof(c));
	CHECK_EQ_INT(ledger_each(d.ledger, 0, 0, "bob", NULL, collect, &c), 0);
	CHECK_EQ_INT(c.n, 2);
	CHECK(!strcmp(c.rows[0].tenant, "bob") && !strcmp(c.rows[1].tenant, "bob"));
	memset(&c, 0, sizeof(c));
	CHECK_EQ_INT(ledger_each(d.ledger, 0, 0, "acme", "aaaaaaaaaa", collect, &c), 0);
	CHECK_EQ_INT(c.n, 0);
	memset(&c, 0, sizeof(c));
	c.stop_after = 3;
	CHECK_EQ_INT(ledger_each(d.ledger, 0, 0, NULL, NULL, collect, &c), 0);
	CHECK_EQ_INT(c.n, 3);
	db_close(&d);
}

static void sum(const char *tenant, const char *sku, uint64_t cost, void *ud)
{
	uint64_t *t = ud;
	CHECK(!strcmp(sku, "cpu-core-second"));
	t[!strcmp(tenant, "bob")] += cost;
	t[2]++;
}

TEST(totals)
{
	struct db d;
	struct ledger_row w[3] = { row("0123456789", "acme", 0), row("0123456789", "acme", 1),
				   row("aaaaaaaaaa", "bob", 5) };
	uint64_t t[3] = { 0 };
	db_open(&d);
	CHECK_EQ_INT(ledger_append(d.ledger, w, 3, NULL, 0), 0);
	CHECK_EQ_INT(ledger_totals(d.ledger, sum, t), 0);
	CHECK_EQ_INT(t[2], 2); /* one sum per tenant and SKU */
	CHECK_EQ_INT(t[0], 420000 + 420001);
	CHECK_EQ_INT(t[1], 420005);
	db_close(&d);
}
