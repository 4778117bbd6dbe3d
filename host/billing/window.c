// SPDX-License-Identifier: MIT
/* Window pricing: a window's quantities per SKU from the difference of cumulative
 * counters, priced from the rate card. */
#define _GNU_SOURCE
#include "window.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

/* What every row of one window shares. */
struct window {
	const struct rates *r;
	int64_t window_ns;
	const char *tenant, *id, *labels;
	int64_t start, end;
	struct window_rows *out;
};

void window_row_id(char *buf, size_t size, const char *resource, const char *sku, int64_t start)
{
	snprintf(buf, size, "%s:%s:%" PRId64, resource, sku, start);
}

/* A row of @qty base units of @sku, of which @per make one @pricing_unit; none when
 * nothing was used or the card has no price for it. */
static void add_row(struct window *w, const char *sku, const char *policy, uint64_t qty,
		    const char *unit, uint64_t per, const char *pricing_unit)
{
	uint64_t list, price;

	if (!qty || w->out->n == WINDOW_MAX_ROWS ||
	    rates_price(w->r, w->tenant, sku, &list, &price) < 0)
		return;
	struct ledger_row *row = &w->out->row[w->out->n++];
	memset(row, 0, sizeof(*row));
	window_row_id(row->id, sizeof(row->id), w->id, sku, w->start);
	row->tenant = w->tenant;
	row->sandbox = w->id;
	row->labels = w->labels ? w->labels : "{}";
	row->sku = sku;
	row->unit = unit;
	row->pricing_unit = pricing_unit;
	row->currency = w->r->currency;
	row->policy = policy;
	row->start_ns = w->start;
	row->end_ns = w->end;
	row->quantity = qty;
	row->pricing_quantity_nano = rates_pricing_quantity(qty, per);
	row->list_unit_price_nano = list;
	row->unit_price_nano = price;
	row->list_cost_nano = rates_cost(list, row->pricing_quantity_nano);
	row->cost_nano = rates_cost(price, row->pricing_quantity_nano);
}

static uint64_t by_policy(enum rate_policy p, uint64_t alloc, uint64_t used)
{
	return p == POLICY_ALLOCATED ? alloc
	       : p == POLICY_USED    ? used
	       : alloc > used	     ? alloc
				     : used;
}

static const char *policy_name(enum rate_policy p)
{
	return p == POLICY_ALLOCATED ? "allocated" : p == POLICY_USED ? "used" : "max";
}

/* A counter's growth since it was billed (0 if it went back). */
static uint64_t since(uint64_t now, uint64_t billed)
{
	return now > billed ? now - billed : 0;
}

static uint64_t larger(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

bool window_sandbox_rows(const struct rates *r, int64_t window_ns, const struct window_sandbox *sb,
			 const struct window_counters *c, int64_t end, bool final,
			 struct bill_state *s, struct window_rows *ret)
{
	int64_t start = s->billed_until;

	ret->n = 0;
	if (end <= start && !final)
		return false;
	if (end < start)
		end = start;
	struct window w = { .r = r,
			    .window_ns = window_ns,
			    .tenant = sb->tenant,
			    .id = sb->id,
			    .labels = sb->labels,
			    .start = start,
			    .end = end,
			    .out = ret };
	uint64_t dt = (uint64_t)(end - start);
	/* A minimum billed duration stretches the last window's allocation. */
	uint64_t total = (uint64_t)(end - sb->started_ns);
	if (final && total < r->minimum_ns)
		dt += r->minimum_ns - total;
	uint32_t milli = sb->limits->cpu_milli ? sb->limits->cpu_milli : r->default_cpu_milli;
	uint64_t mem =
		sb->limits->memory_bytes ? sb->limits->memory_bytes : r->default_memory_bytes;
	uint64_t cpu_used = since(c->cpu_ns, s->cpu_ns);
	uint64_t mem_used = since(c->mem_kib_ms, s->mem_kib_ms) * 1024; /* byte-ms */
	uint64_t cpu_alloc = (uint64_t)((u128)milli * dt / 1000);
	uint64_t mem_alloc = (uint64_t)((u128)mem * dt / 1000000);

	add_row(&w, "cpu-core-second", policy_name(r->cpu_policy),
		by_policy(r->cpu_policy, cpu_alloc, cpu_used), "core-nanoseconds", 1000000000ULL,
		"core-seconds");
	add_row(&w, "memory-gib-second", policy_name(r->memory_policy),
		by_policy(r->memory_policy, mem_alloc, mem_used), "byte-milliseconds",
		(1ULL << 30) * 1000, "GiB-seconds");
	for (unsigned i = 0; i < sb->ngpus && i < WINDOW_MAX_GPUS; i++)
		add_row(&w, sb->gpu_skus[i], "allocated", dt, "gpu-nanoseconds", 1000000000ULL,
			"GPU-seconds");
	add_row(&w, "syscall-million", "used", since(c->syscalls, s->syscalls), "syscalls", 1000000,
		"million syscalls");
	add_row(&w, "net-egress-gib", "used", since(c->tx, s->tx_bytes), "bytes", 1ULL << 30,
		"GiB");
	add_row(&w, "net-ingress-gib", "used", since(c->rx, s->rx_bytes), "bytes", 1ULL << 30,
		"GiB");
	if (!s->created_billed)
		add_row(&w, "sandbox-create", "used", 1, "sandboxes", 1, "sandboxes");
	s->billed_until = end;
	s->cpu_ns = larger(c->cpu_ns, s->cpu_ns);
	s->mem_kib_ms = larger(c->mem_kib_ms, s->mem_kib_ms);
	s->syscalls = larger(c->syscalls, s->syscalls);
	s->rx_bytes = larger(c->rx, s->rx_bytes);
	s->tx_bytes = larger(c->tx, s->tx_bytes);
	s->created_billed = true;
	s->ended = final;
	return true;
}

bool window_snapshot_rows(const struct rates *r, int64_t window_ns, const char *id,
			  const char *tenant, uint64_t size_bytes, int64_t end, bool final,
			  struct bill_state *s, struct window_rows *ret)
{
	int64_t start = s->billed_until;

	ret->n = 0;
	if (s->ended || (end <= start && !final))
		return false;
	if (end < start)
		end = start;
	struct window w = { .r = r,
			    .window_ns = window_ns,
			    .tenant = tenant,
			    .id = id,
			    .labels = "{}",
			    .start = start,
			    .end = end,
			    .out = ret };
	/* Byte-seconds, priced per GiB-hour. */
	uint64_t qty = (uint64_t)((u128)size_bytes * (uint64_t)(end - start) / 1000000000);
	add_row(&w, "snapshot-gib-hour", "allocated", qty, "byte-seconds", (1ULL << 30) * 3600,
		"GiB-hours");
	s->billed_until = end;
	s->ended = final;
	return true;
}

const char *window_gpu_sku(struct window_gpu_skus *k, const char *model)
{
	char sku[96];
	size_t i;

	for (i = 0; i < WINDOW_MAX_GPUS && k->known[i].model; i++)
		if (!strcmp(k->known[i].model, model))
			return k->known[i].sku;
	rates_gpu_sku(model, sku, sizeof(sku));
	if (i == WINDOW_MAX_GPUS)
		return "gpu-default-second";
	k->known[i].sku = strdup(sku);
	k->known[i].model = k->known[i].sku ? strdup(model) : NULL;
	return k->known[i].sku ? k->known[i].sku : "gpu-default-second";
}
