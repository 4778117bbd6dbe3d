// SPDX-License-Identifier: MIT
/* Billing in sbxd: at every window boundary (default 60 s, aligned to the clock) each
 * running sandbox's usage since it was last billed becomes priced ledger rows, one per
 * SKU, written with the sandboxes' billing states in one transaction. A sandbox that ends
 * gets a final partial window at once. Quantities are differences of cumulative counters
 * (cgroup cpu.stat, pinned eBPF maps) from the saved state, so after a daemon restart the
 * gap is billed once, as one catch-up row per SKU. Rows that cannot be written (a full
 * disk) wait in memory and are retried; the ledger reports failing meanwhile. The
 * pricing of a window is billing/window.c; this is its glue to sandboxes and snapshots. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sandbox/sandbox.h"
#include "internal.h"
#include "../billing/ledger.h"
#include "../sys/meter.h"
#include "../billing/rates.h"
#include "../billing/window.h"
#include "../sys/usage.h"

struct pending {
	struct ledger_row row;
	/* Copies of tenant, sandbox, labels, sku and currency: made only when a flush fails
	 * (until then the row points at strings its box or snapshot and the rate card hold,
	 * alive until the flush; a card reloaded while rows wait is freed). */
	char *own[5];
};

static struct pending *pend;
static size_t npend, cap_pend;
static struct bill_state *pstates;
static size_t npstates, cap_pstates;

struct total {
	char tenant[40], sku[64];
	uint64_t nano;
};
static struct total *totals;
static size_t ntotals;

static void total_add(const char *tenant, const char *sku, uint64_t nano, void *ud)
{
	for (size_t i = 0; i < ntotals; i++)
		if (!strcmp(totals[i].tenant, tenant) && !strcmp(totals[i].sku, sku)) {
			totals[i].nano += nano;
			return;
		}
	struct total *t = realloc(totals, (ntotals + 1) * sizeof(*t));
	if (!t)
		return;
	totals = t;
	snprintf(totals[ntotals].tenant, sizeof(totals[ntotals].tenant), "%s", tenant);
	snprintf(totals[ntotals].sku, sizeof(totals[ntotals].sku), "%s", sku);
	totals[ntotals++].nano = nano;
}

void bill_metrics(FILE *f)
{
	fprintf(f, "# HELP sbx_billed_nanos_total Billed cost in nano-units of the currency.\n"
		   "# TYPE sbx_billed_nanos_total counter\n");
	for (size_t i = 0; i < ntotals; i++)
		fprintf(f,
			"sbx_billed_nanos_total{tenant=\"%s\",sku=\"%s\",currency=\"%s\"} %" PRIu64
			"\n",
			totals[i].tenant, totals[i].sku, D.rates->currency, totals[i].nano);
	fprintf(f,
		"# HELP sbx_ledger_up 1 while ledger rows are written; 0 while they wait.\n"
		"# TYPE sbx_ledger_up gauge\nsbx_ledger_up %d\n"
		"# HELP sbx_ledger_pending_rows Rows waiting to be written.\n"
		"# TYPE sbx_ledger_pending_rows gauge\nsbx_ledger_pending_rows %zu\n",
		D.ledger_error ? 0 : 1, npend);
}

int bill_init(void)
{
	return ledger_totals(D.ledger, total_add, NULL);
}

static uint64_t ju(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));
	return v > 0 ? (uint64_t)v : 0;
}

/* A restored sandbox counts on from its snapshot's usage (the memory integral lives in
 * the box, which starts from it). */
static void base_add(const json_t *base, struct window_counters *c)
{
	if (!base)
		return;
	c->cpu_ns += ju(base, "cpu_ns");
	c->syscalls += ju(base, "syscalls_total");
	c->rx += ju(usage_net_internet(json_object_get(base, "net")), "rx_bytes");
	c->tx += ju(usage_net_internet(json_object_get(base, "net")), "tx_bytes");
}

/* Cumulative counters of a box now (the cgroup and meter slot must still be there). */
static void counters_now(struct box *b, struct window_counters *c)
{
	memset(c, 0, sizeof(*c));
	uint64_t v;
	/* CPU billed on allocation does not need the cgroup's counter (the most costly
	 * read, cpu.stat flushes the kernel's per-CPU statistics): it stays where it was,
	 * and bill_rates_changed() catches up when the policy changes. */
	bool cpu = D.rates->cpu_policy != POLICY_ALLOCATED;
	if (cpu && b->sb && usage_cpu_usec(b->sb->cg, &v) == 0)
		c->cpu_ns = v * 1000 > b->cpu_offset_ns ? v * 1000 - b->cpu_offset_ns : 0;
	/* The integral as of the last metering tick (at most a second old): no read. */
	c->mem_kib_ms = usage_kib_ms(b->mem_byte_ns);
	uint64_t total;
	struct meter_net net;
	if (D.meter && b->slot >= 0 &&
	    meter_totals(D.meter, (uint32_t)b->slot, &total, &net) == 0) {
		c->syscalls = total;
		c->rx = net.rx_bytes;
		c->tx = net.tx_bytes;
	}
	base_add(b->base, c);
	if (!cpu)
		c->cpu_ns = b->bill.cpu_ns;
}

void bill_rates_changed(const struct rates *old)
{
	if (old->cpu_policy != POLICY_ALLOCATED || D.rates->cpu_policy == POLICY_ALLOCATED)
		return;
	/* CPU is billed on use from now on: from the counters as they are now. */
	for (struct box *b = D.boxes; b; b = b->next)
		if (b->state == BOX_RUNNING && b->bill.billed_until && !b->bill.ended) {
			struct window_counters c;
			counters_now(b, &c);
			b->bill.cpu_ns = c.cpu_ns;
		}
}

static char *labels_json(const struct box *b)
{
	json_t *o = json_object();
	for (char **l = b->req.labels; l && l[0]; l += 2)
		json_object_set_new(o, l[0], json_string(l[1]));
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* Queues @row; it points at strings its box or snapshot holds until the flush. */
static int push_row(const struct ledger_row *row)
{
	if (npend == cap_pend) {
		size_t cap = cap_pend ? cap_pend * 2 : 64;
		struct pending *p = realloc(pend, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		pend = p;
		cap_pend = cap;
	}
	struct pending *p = &pend[npend];
	memset(p, 0, sizeof(*p));
	p->row = *row;
	npend++;
	return 0;
}

/* Queued with the rows; a later state of the same sandbox simply replaces it when they
 * are written (INSERT OR REPLACE, in order). */
static void save_state(const struct bill_state *s)
{
	if (npstates == cap_pstates) {
		size_t cap = cap_pstates ? cap_pstates * 2 : 64;
		struct bill_state *n = realloc(pstates, cap * sizeof(*n));
		if (!n)
			return;
		pstates = n;
		cap_pstates = cap;
	}
	pstates[npstates++] = *s;
}

/* A window's rows and the state it leaves, queued. */
static void push_window(const struct window_rows *rows, const struct bill_state *s)
{
	for (size_t i = 0; i < rows->n; i++)
		push_row(&rows->row[i]);
	save_state(s);
}

/* The SKUs of the GPU models seen (rows point at them until written). */
static struct window_gpu_skus gpu_skus;

/* Rows for [billed_until, end) of @b from its counters @c; advances its state. */
static void bill_window(struct box *b, int64_t end, const struct window_counters *c, bool final)
{
	const char *skus[WINDOW_MAX_GPUS];
	struct window_sandbox sb = {
		.id = b->id,
		.tenant = b->tenant,
		.labels = b->labels_json,
		.limits = &b->req.limits,
		.started_ns = b->started_ns,
		.gpu_skus = skus,
		.ngpus = b->ngpu,
	};
	struct window_rows rows;

	for (unsigned i = 0; i < b->ngpu && i < WINDOW_MAX_GPUS; i++)
		skus[i] = window_gpu_sku(&gpu_skus, D.gpus[b->gpu_idx[i]].model);
	if (window_sandbox_rows(D.rates, (int64_t)D.opt.bill_window_ns, &sb, c, end, final,
				&b->bill, &rows))
		push_window(&rows, &b->bill);
}

/* Rows that wait past this tick own their strings (their box may go meanwhile). */
static void own_pending(void)
{
	for (size_t i = 0; i < npend; i++) {
		struct pending *p = &pend[i];
		const char **f[5] = { &p->row.tenant, &p->row.sandbox, &p->row.labels, &p->row.sku,
				      &p->row.currency };
		for (int k = 0; k < 5; k++)
			if (!p->own[k] && (p->own[k] = strdup(*f[k])))
				*f[k] = p->own[k];
	}
}

/* Writes what waits; on failure everything stays queued for the next try. */
static void flush(void)
{
	if (!npend && !npstates)
		return;
	struct ledger_row *rows = malloc((npend ? npend : 1) * sizeof(*rows));
	if (!rows)
		return;
	for (size_t i = 0; i < npend; i++)
		rows[i] = pend[i].row;
	int r = ledger_append(D.ledger, rows, npend, pstates, npstates);
	if (r < 0) {
		if (!D.ledger_error)
			logmsg(0, "ledger: cannot write %zu rows: %s; retrying", npend,
			       strerror(-r));
		free(D.ledger_error);
		if (asprintf(&D.ledger_error, "cannot write the ledger: %s", strerror(-r)) < 0)
			D.ledger_error = NULL;
		free(rows);
		own_pending();
		return;
	}
	if (D.ledger_error)
		logmsg(2, "ledger: writing again");
	free(D.ledger_error);
	D.ledger_error = NULL;
	for (size_t i = 0; i < npend; i++) {
		total_add(rows[i].tenant, rows[i].sku, rows[i].cost_nano, NULL);
		for (int k = 0; k < 5; k++)
			free(pend[i].own[k]);
	}
	free(rows);
	npend = npstates = 0;
}

void bill_start(struct box *b)
{
	if (!b->labels_json) /* the labels of its rows: fixed for its life */
		b->labels_json = labels_json(b);
	if (ledger_state(D.ledger, b->id, &b->bill) == 0) {
		/* Re-adopted: it goes on from what was billed. The memory integral lived in
		 * the daemon: it resumes from the billed value, the time away counted at the
		 * level the sandbox holds now (memory is sampled, not counted by the kernel). */
		uint64_t cur = 0;
		int64_t away = real_ns() - b->bill.billed_until;
		b->mem_byte_ns = (usage_byte_ns)b->bill.mem_kib_ms * USAGE_KIB_MS;
		if (b->sb && away > 0 && usage_memory_now(b->sb->cg, &cur) == 0)
			b->mem_byte_ns += (usage_byte_ns)cur * (uint64_t)away;
		b->mem_tick = mono_ns();
		return;
	}
	memset(&b->bill, 0, sizeof(b->bill));
	snprintf(b->bill.sandbox, sizeof(b->bill.sandbox), "%s", b->id);
	b->bill.billed_until = b->started_ns;
	if (b->base) {
		/* Restored: what its snapshot counted was billed to the sandbox checkpointed;
		 * this one is billed from there on, and its creation was billed then. */
		struct window_counters c = { .mem_kib_ms =
						     usage_kib_ms(usage_integral_of(b->base)) };
		base_add(b->base, &c);
		b->bill.cpu_ns = c.cpu_ns;
		b->bill.mem_kib_ms = c.mem_kib_ms;
		b->bill.syscalls = c.syscalls;
		b->bill.rx_bytes = c.rx;
		b->bill.tx_bytes = c.tx;
		b->bill.created_billed = true;
	}
}

/* ---- snapshot storage ---- */

static void snapshot_window(struct snap *s, int64_t end, bool final)
{
	struct window_rows rows;

	if (window_snapshot_rows(D.rates, (int64_t)D.opt.bill_window_ns, s->id, s->tenant,
				 s->size_bytes, end, final, &s->bill, &rows))
		push_window(&rows, &s->bill);
}

void bill_snapshot_start(struct snap *s)
{
	if (ledger_state(D.ledger, s->id, &s->bill) == 0)
		return;
	memset(&s->bill, 0, sizeof(s->bill));
	snprintf(s->bill.sandbox, sizeof(s->bill.sandbox), "%s", s->id);
	s->bill.billed_until = s->created_ns;
}

void bill_snapshot_final(struct snap *s)
{
	if (!s->bill.billed_until || s->ephemeral)
		return;
	snapshot_window(s, real_ns(), true);
	flush();
}

/* The last window, with the very counters of the sandbox's final usage record, so the
 * ledger's sums are its totals. */
void bill_final(struct box *b)
{
	struct window_counters c = { 0 };
	if (b->bill.ended || !b->bill.billed_until)
		return;
	json_t *u = b->usage_final ? json_loads(b->usage_final, 0, NULL) : NULL;
	if (u) {
		const json_t *net = usage_net_internet(json_object_get(u, "net"));
		c.cpu_ns = (uint64_t)json_integer_value(json_object_get(u, "cpu_ns"));
		c.mem_kib_ms = usage_kib_ms(usage_integral_of(u));
		c.syscalls = (uint64_t)json_integer_value(json_object_get(u, "syscalls_total"));
		c.rx = (uint64_t)json_integer_value(json_object_get(net, "rx_bytes"));
		c.tx = (uint64_t)json_integer_value(json_object_get(net, "tx_bytes"));
		json_decref(u);
	} else {
		counters_now(b, &c);
	}
	bill_window(b, b->ended_ns ? b->ended_ns : real_ns(), &c, true);
	flush();
}

/* What writing one row to the ledger costs, as the last writes took (ns, a running
 * mean): a tick bills no more sandboxes than it can also write in its share. */
static int64_t row_ns = 20000;

/* Past the tick's share, counting the writes of the rows pending. */
static bool tick_spent(int64_t t0)
{
	return mono_ns() - t0 + (int64_t)npend * row_ns > TICK_WORK_NS;
}

void bill_tick(int64_t real)
{
	int64_t win = (int64_t)D.opt.bill_window_ns;
	int64_t boundary = real / win * win;
	int64_t t0 = mono_ns();

	/* Every window up to the boundary, over ticks on a host with many sandboxes: what
	 * one sandbox used past the boundary before its turn goes in that window, and the
	 * next one starts from there (nothing counted twice or lost). */
	unsigned seen = 0, billed = 0;
	static bool boxes_done, wrap;

	if (boundary > D.bill_boundary) {
		D.bill_boundary = boundary, D.bill_behind = true;
		/* Still behind: on from where the walk is, then round from the start. */
		wrap = D.bill_next != NULL, boxes_done = false;
	}
	struct box *b = D.bill_next ? D.bill_next : D.boxes;
	for (; D.bill_behind && !boxes_done; b = b->next) {
		if (!b && wrap) /* the rest of the list, from its start */
			b = D.boxes, wrap = false;
		if (!b)
			break;
		bool due = b->state == BOX_RUNNING && b->bill.billed_until &&
			   b->bill.billed_until < D.bill_boundary;
		/* A few each tick at least, whatever the writes cost. */
		if ((due ? billed >= 4 : ++seen % 64 == 0) && tick_spent(t0)) {
			D.bill_next = b; /* the rest at the next tick */
			goto out;
		}
		if (!due)
			continue;
		struct window_counters c;
		counters_now(b, &c);
		bill_window(b, D.bill_boundary, &c, false);
		billed++;
	}
	D.bill_next = NULL;
	boxes_done = true;
	for (struct snap *s = D.snaps; D.bill_behind && s; s = s->next)
		if (!s->ephemeral && s->bill.billed_until &&
		    s->bill.billed_until < D.bill_boundary) {
			if (tick_spent(t0))
				goto out;
			snapshot_window(s, D.bill_boundary, false);
		}
	D.bill_behind = false;
out:;
	size_t rows = npend;
	int64_t t1 = mono_ns();
	flush();
	if (rows && !npend) /* written: a sample of what a row costs */
		row_ns = (3 * row_ns + (mono_ns() - t1) / (int64_t)rows) / 4;
}
