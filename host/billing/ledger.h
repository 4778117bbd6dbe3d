/* SPDX-License-Identifier: MIT */
/* The priced ledger, in sbxd's SQLite database: append-only rows of sandbox x SKU x
 * window, each with the SHA-256 of its content and of the row before it, so an edited or
 * deleted row breaks the chain; a head record (row count, last hash) catches a cut at the
 * end. Row ids are deterministic (sandbox:sku:window start), so no row is written twice.
 * Rows and each sandbox's billing state go in one transaction per tick. Loop thread only.
 * Return 0 or -errno. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ledger;

struct ledger_row {
	char id[96];
	const char *tenant, *sandbox, *sku, *unit, *pricing_unit, *currency, *labels, *policy;
	int64_t start_ns, end_ns; /* CLOCK_REALTIME; end exclusive */
	uint64_t quantity;	  /* base units */
	uint64_t pricing_quantity_nano;
	uint64_t list_unit_price_nano, unit_price_nano;
	uint64_t list_cost_nano, cost_nano;
	char prev_hash[65], hash[65]; /* filled by ledger_append / read back */
	int64_t seq;
};

/* What a sandbox has been billed for: counters at billed_until, so the next window's
 * quantities are differences of cumulative counters (which survive a daemon restart). */
struct bill_state {
	char sandbox[16];
	int64_t billed_until; /* CLOCK_REALTIME ns; 0 = not billed yet */
	uint64_t cpu_ns, mem_kib_ms, syscalls, rx_bytes, tx_bytes; /* mem: KiB-milliseconds */
	bool created_billed, ended;
};

int ledger_open(sqlite3 *db, struct ledger **ret);
void ledger_close(struct ledger *l);

/* Appends @rows and saves @states in one transaction; nothing of it on failure. */
int ledger_append(struct ledger *l, struct ledger_row *rows, size_t nrows,
		  const struct bill_state *states, size_t nstates);
/* The saved state of @sandbox, or -ENOENT. */
int ledger_state(struct ledger *l, const char *sandbox, struct bill_state *ret);

/* Rows with start in [from, to) (0 = open), of @tenant and @sandbox when not NULL, in
 * ledger order. @fn returns false to stop. */
int ledger_each(struct ledger *l, int64_t from, int64_t to, const char *tenant, const char *sandbox,
		bool (*fn)(const struct ledger_row *row, void *ud), void *ud);
/* Sum of cost per tenant and SKU. */
int ledger_totals(struct ledger *l,
		  void (*fn)(const char *tenant, const char *sku, uint64_t cost, void *ud),
		  void *ud);

/* Walks the chain. Returns 0 when whole (*ret_rows rows), or -EBADMSG with the first bad
 * row's id (or "end") and why, in *ret_bad / *ret_why (caller frees). */
int ledger_verify(struct ledger *l, uint64_t *ret_rows, char **ret_bad, char **ret_why);
