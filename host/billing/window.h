/* SPDX-License-Identifier: MIT */
/* Window pricing: what a sandbox or a snapshot used over one billing window, from its
 * cumulative counters as last billed (its struct bill_state) and now, as priced ledger
 * rows, one per SKU. Pure: no I/O, no globals; the caller writes the rows.
 * Rows point at the strings they were made from (id, tenant, labels, GPU SKUs) and at the
 * card's currency, which must stay alive until the rows are written. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../sandbox/spec.h"
#include "ledger.h"
#include "rates.h"

#define WINDOW_MAX_GPUS 16
/* CPU, memory, a row per GPU, syscalls, egress, ingress, creation. */
#define WINDOW_MAX_ROWS (6 + WINDOW_MAX_GPUS)

/* A sandbox's cumulative counters (from its start; a restored one's include its
 * snapshot's). */
struct window_counters {
	uint64_t cpu_ns, mem_kib_ms, syscalls, rx, tx; /* mem: KiB-milliseconds */
};

struct window_sandbox {
	const char *id, *tenant;
	const char *labels;		     /* a JSON object; NULL = "{}" */
	const struct sandbox_limits *limits; /* 0 CPU or memory: the card's defaults */
	int64_t started_ns;		     /* the minimum charge counts from here */
	const char *const *gpu_skus;	     /* one per GPU it holds (window_gpu_sku) */
	unsigned ngpus;			     /* at most WINDOW_MAX_GPUS are billed */
};

struct window_rows {
	struct ledger_row row[WINDOW_MAX_ROWS];
	size_t n;
};

/* The row id of @resource's @sku for the window starting at @start:
 * "RESOURCE:SKU:START", what the ledger keeps unique (a window is never billed twice),
 * whatever the window's length was then or is now. */
void window_row_id(char *buf, size_t size, const char *resource, const char *sku, int64_t start);

/* The rows of @sb for [s->billed_until, end) at @now: time-based SKUs by the card's
 * policy (allocated, used or the larger), counted ones by use, creation once. A @final
 * window is billed even when empty, at least to the card's minimum duration from
 * @sb->started_ns. Rows of zero quantity or of a SKU the card has no price for are left
 * out. Advances @s to @end and returns true; returns false, changing nothing, when there
 * is no window (@end not after billed_until and not @final). */
bool window_sandbox_rows(const struct rates *r, int64_t window_ns, const struct window_sandbox *sb,
			 const struct window_counters *now, int64_t end, bool final,
			 struct bill_state *s, struct window_rows *ret);

/* The storage row of snapshot @id (@size_bytes) for [s->billed_until, end), priced per
 * GiB-hour; as window_sandbox_rows(), and also false once @s has ended. */
bool window_snapshot_rows(const struct rates *r, int64_t window_ns, const char *id,
			  const char *tenant, uint64_t size_bytes, int64_t end, bool final,
			  struct bill_state *s, struct window_rows *ret);

/* The SKUs of GPU models, each made once (rates_gpu_sku) and kept for rows to point at;
 * owned by the caller, never freed. */
struct window_gpu_skus {
	struct {
		char *model, *sku;
	} known[WINDOW_MAX_GPUS];
};

/* @model's SKU; "gpu-default-second" once the table is full or out of memory. */
const char *window_gpu_sku(struct window_gpu_skus *k, const char *model);
