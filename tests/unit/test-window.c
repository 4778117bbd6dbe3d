// SPDX-License-Identifier: MIT
/* Unit tests for window pricing: a window's rows from a card, limits and counters. */
#define _GNU_SOURCE
#include "../../host/billing/window.h"
#include "../../host/sys/usage.h"

#include <errno.h>
#include <inttypes.h>

#include "harness.h"

#define SEC 1000000000LL
#define GIB (1ULL << 30)
#define T0 (1800000000LL * SEC) /* a window boundary (of 60 s) */
#define WIN (60 * SEC)

/* The test card, with the CPU and memory policies given. */
static const char card_text[] =
	"{\"currency\": \"USD\","
	" \"prices\": {\"cpu-core-second\": \"0.000014\", \"memory-gib-second\": \"0.0000045\","
	"  \"gpu-default-second\": \"0.001\", \"gpu-nvidia-h100-second\": \"0.002\","
	"  \"syscall-million\": \"0.01\", \"net-egress-gib\": \"0.09\","
	"  \"snapshot-gib-hour\": \"0.000068\", \"sandbox-create\": \"0.0001\"},"
	" \"policy\": {\"cpu\": \"%s\", \"memory\": \"%s\"},"
	" \"defaults\": {\"cpus\": \"0.25\", \"memory\": \"1G\"},"
	" \"minimum_seconds\": 5,"
	" \"tenants\": {\"acme\": {\"discount\": \"10%%\","
	"  \"prices\": {\"cpu-core-second\": \"0.00002\"}}}}";

static struct rates *card(const char *text)
{
	char *err = NULL;
	struct rates *r = NULL;
	int rc = rates_parse("card.json", text, strlen(text), &r, &err);
	if (rc < 0)
		fprintf(stderr, "card: %s\n", err);
	CHECK_EQ_INT(rc, 0);
	return r;
}

static struct rates *policy_card(const char *cpu, const char *memory)
{
	char text[2048];
	CHECK((size_t)snprintf(text, sizeof(text), card_text, cpu, memory) < sizeof(text));
	return card(text);
}

static const struct sandbox_limits half_core_256m = { .cpu_milli = 500,
						      .memory_bytes = 256ULL << 20 };

/* A sandbox "0123456789" of @tenant, started at T0, billed to T0, nothing counted yet. */
static struct window_sandbox box(const char *tenant, const struct sandbox_limits *lim)
{
	return (struct window_sandbox){ .id = "0123456789",
					.tenant = tenant,
					.labels = "{\"team\":\"ml\"}",
					.limits = lim,
					.started_ns = T0 };
}

static struct bill_state fresh(void)
{
	return (struct bill_state){ .sandbox = "0123456789", .billed_until = T0 };
}

/* The row of @sku, or NULL. */
static const struct ledger_row *row_of(const struct window_rows *w, const char *sku)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->row[i].sku, sku))
			return &w->row[i];
	return NULL;
}

static void check_row(const struct ledger_row *row, const char *policy, uint64_t qty,
		      const char *unit, uint64_t pq, const char *pricing_unit, uint64_t list,
		      uint64_t price, uint64_t list_cost, uint64_t cost)
{
	CHECK(row != NULL);
	if (strcmp(row->policy, policy) || row->quantity != qty || strcmp(row->unit, unit) ||
	    row->pricing_quantity_nano != pq || strcmp(row->pricing_unit, pricing_unit) ||
	    row->list_unit_price_nano != list || row->unit_price_nano != price ||
	    row->list_cost_nano != list_cost || row->cost_nano != cost) {
		fprintf(stderr,
			"%s: %s %" PRIu64 " %s, %" PRIu64 " %s, prices %" PRIu64 "/%" PRIu64
			", costs %" PRIu64 "/%" PRIu64 "\n",
			row->sku, row->policy, row->quantity, row->unit, row->pricing_quantity_nano,
			row->pricing_unit, row->list_unit_price_nano, row->unit_price_nano,
			row->list_cost_nano, row->cost_nano);
		exit(1);
	}
}

TEST(allocated_window)
{
	struct rates *r = policy_card("allocated", "allocated");
	struct window_sandbox sb = box("bob", &half_core_256m);
	struct bill_state s = fresh();
	struct window_counters c = {
		.cpu_ns = 12 * SEC, .mem_kib_ms = 1, .syscalls = 2500000, .tx = 3 * GIB, .rx = GIB
	};
	struct window_rows w;

	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 60 * SEC, false, &s, &w));
	/* In order: CPU, memory, syscalls, egress, creation; ingress has no price. */
	CHECK_EQ_INT(w.n, 5);
	CHECK(!strcmp(w.row[0].sku, "cpu-core-second"));
	CHECK(!strcmp(w.row[1].sku, "memory-gib-second"));
	CHECK(!strcmp(w.row[2].sku, "syscall-million"));
	CHECK(!strcmp(w.row[3].sku, "net-egress-gib"));
	CHECK(!strcmp(w.row[4].sku, "sandbox-create"));
	/* Half a core for 60 s: 30 core-seconds at 0.000014. */
	check_row(&w.row[0], "allocated", 30 * SEC, "core-nanoseconds", 30 * SEC, "core-seconds",
		  14000, 14000, 420000, 420000);
	/* 256 MiB for 60 s: 15 GiB-seconds at 0.0000045. */
	check_row(&w.row[1], "allocated", (256ULL << 20) * 60000, "byte-milliseconds", 15 * SEC,
		  "GiB-seconds", 4500, 4500, 67500, 67500);
	check_row(&w.row[2], "used", 2500000, "syscalls", 2500000000ULL, "million syscalls",
		  10000000, 10000000, 25000000, 25000000);
	check_row(&w.row[3], "used", 3 * GIB, "bytes", 3 * SEC, "GiB", 90000000, 90000000,
		  270000000, 270000000);
	check_row(&w.row[4], "used", 1, "sandboxes", SEC, "sandboxes", 100000, 100000, 100000,
		  100000);
	for (size_t i = 0; i < w.n; i++) {
		CHECK(!strcmp(w.row[i].tenant, "bob"));
		CHECK(!strcmp(w.row[i].sandbox, "0123456789"));
		CHECK(!strcmp(w.row[i].labels, "{\"team\":\"ml\"}"));
		CHECK(w.row[i].currency == r->currency && !strcmp(w.row[i].currency, "USD"));
		CHECK_EQ_INT(w.row[i].start_ns, T0);
		CHECK_EQ_INT(w.row[i].end_ns, T0 + 60 * SEC);
		CHECK(!w.row[i].hash[0] && !w.row[i].prev_hash[0] && !w.row[i].seq);
	}
	/* The state moves to the end of the window and the counters billed. */
	CHECK_EQ_INT(s.billed_until, T0 + 60 * SEC);
	CHECK_EQ_INT(s.cpu_ns, 12 * SEC);
	CHECK_EQ_INT(s.mem_kib_ms, 1);
	CHECK_EQ_INT(s.syscalls, 2500000);
	CHECK_EQ_INT(s.tx_bytes, 3 * GIB);
	CHECK_EQ_INT(s.rx_bytes, GIB);
	CHECK(s.created_billed && !s.ended);

	/* The next window: differences only, creation not again. */
	c.cpu_ns += SEC;
	c.syscalls += 1000000;
	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 120 * SEC, false, &s, &w));
	CHECK_EQ_INT(w.n, 3);
	CHECK(!row_of(&w, "sandbox-create") && !row_of(&w, "net-egress-gib"));
	check_row(row_of(&w, "syscall-million"), "used", 1000000, "syscalls", SEC,
		  "million syscalls", 10000000, 10000000, 10000000, 10000000);
	CHECK_EQ_INT(row_of(&w, "cpu-core-second")->start_ns, T0 + 60 * SEC);
	rates_free(r);
}

TEST(used_policy)
{
	struct rates *r = policy_card("used", "used");
	struct window_sandbox sb = box("bob", &half_core_256m);
	struct bill_state s = fresh();
	s.cpu_ns = 2 * SEC;
	s.mem_kib_ms = 1000;
	s.created_billed = true;
	/* 12 core-seconds used; 128 MiB held for the 60 s (the integral is in KiB-ms). */
	struct window_counters c = { .cpu_ns = 14 * SEC,
				     .mem_kib_ms = 1000 + (128ULL << 10) * 60 * 1000 };
	struct window_rows w;

	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 60 * SEC, false, &s, &w));
	CHECK_EQ_INT(w.n, 2);
	check_row(&w.row[0], "used", 12 * SEC, "core-nanoseconds", 12 * SEC, "core-seconds", 14000,
		  14000, 168000, 168000);
	check_row(&w.row[1], "used", (128ULL << 20) * 60000, "byte-milliseconds", 7500000000ULL,
		  "GiB-seconds", 4500, 4500, 33750, 33750);

	/* Nothing used: no rows, though the window is billed. */
	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 120 * SEC, false, &s, &w));
	CHECK_EQ_INT(w.n, 0);
	CHECK_EQ_INT(s.billed_until, T0 + 120 * SEC);
	rates_free(r);
}

TEST(max_policy)
{
	struct rates *r = policy_card("max", "max");
	struct window_sandbox sb = box("bob", &half_core_256m);
	struct bill_state s = fresh();
	s.created_billed = true;
	/* Less used than allocated: the allocation. */
	struct window_counters c = { .cpu_ns = 12 * SEC, .mem_kib_ms = 0 };
	struct window_rows w;

	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 60 * SEC, false, &s, &w));
	CHECK_EQ_INT(w.n, 2);
	check_row(&w.row[0], "max", 30 * SEC, "core-nanoseconds", 30 * SEC, "core-seconds", 14000,
		  14000, 420000, 420000);
	check_row(&w.row[1], "max", (256ULL << 20) * 60000, "byte-milliseconds", 15 * SEC,
		  "GiB-seconds", 4500, 4500, 67500, 67500);
	/* More used than allocated in the next 10 s (a burst above the quota): the use. */
	c.cpu_ns += 45 * SEC;
	c.mem_kib_ms += (512ULL << 10) * 10 * 1000;
	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 70 * SEC, false, &s, &w));
	check_row(&w.row[0], "max", 45 * SEC, "core-nanoseconds", 45 * SEC, "core-seconds", 14000,
		  14000, 630000, 630000);
	check_row(&w.row[1], "max", (512ULL << 20) * 10000, "byte-milliseconds", 5 * SEC,
		  "GiB-seconds", 4500, 4500, 22500, 22500);
	rates_free(r);
}

TEST(default_allocation)
{
	/* No limits: the card's defaults (0.25 core, 1 GiB). */
	struct rates *r = policy_card("allocated", "allocated");
	static const struct sandbox_limits none = { 0 };
	struct window_sandbox sb = box("bob", &none);
	struct bill_state s = fresh();
	struct window_counters c = { 0 };
	struct window_rows w;

	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 60 * SEC, false, &s, &w));
	check_row(row_of(&w, "cpu-core-second"), "allocated", 15 * SEC, "core-nanoseconds",
		  15 * SEC, "core-seconds", 14000, 14000, 210000, 210000);
	check_row(row_of(&w, "memory-gib-second"), "allocated", GIB * 60000, "byte-milliseconds",
		  60 * SEC, "GiB-seconds", 4500, 4500, 270000, 270000);
	rates_free(r);
}

TEST(counters_that_went_back)
{
	/* A counter below what was billed (a reset meter) bills nothing and is not taken
	 * back: the state keeps the larger value. */
	struct rates *r = policy_card("used", "used");
	struct window_sandbox sb = box("bob", &half_core_256m);
	struct bill_state s = fresh();
	s.cpu_ns = 50 * SEC;
	s.syscalls = 5000000;
	s.tx_bytes = 10 * GIB;
	s.created_billed = true;
	struct window_counters c = { .cpu_ns = SEC, .syscalls = 10, .tx = GIB };
	struct window_rows w;

	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 60 * SEC, false, &s, &w));
	CHECK_EQ_INT(w.n, 0);
	CHECK_EQ_INT(s.cpu_ns, 50 * SEC);
	CHECK_EQ_INT(s.syscalls, 5000000);
	CHECK_EQ_INT(s.tx_bytes, 10 * GIB);
	rates_free(r);
}

TEST(no_window)
{
	struct rates *r = policy_card("allocated", "allocated");
	struct window_sandbox sb = box("bob", &half_core_256m);
	struct bill_state s = fresh(), before;
	struct window_counters c = { .cpu_ns = SEC };
	struct window_rows w;

	s.billed_until = T0 + 60 * SEC;
	before = s;
	w.n = 99;
	/* Not after what was billed, not final: nothing at all. */
	CHECK(!window_sandbox_rows(r, WIN, &sb, &c, T0 + 60 * SEC, false, &s, &w));
	CHECK_EQ_INT(w.n, 0);
	CHECK(!memcmp(&s, &before, sizeof(s)));
	CHECK(!window_sandbox_rows(r, WIN, &sb, &c, T0 + 30 * SEC, false, &s, &w));
	CHECK(!memcmp(&s, &before, sizeof(s)));
	rates_free(r);
}

TEST(minimum_charge_on_final_window)
{
	struct rates *r = policy_card("allocated", "allocated");
	struct window_sandbox sb = box("bob", &half_core_256m);
	struct bill_state s = fresh();
	struct window_counters c = { 0 };
	struct window_rows w;

	/* Ended 2 s after its start: its allocation is billed for the card's 5 s. */
	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 2 * SEC, true, &s, &w));
	check_row(row_of(&w, "cpu-core-second"), "allocated", 2500000000ULL, "core-nanoseconds",
		  2500000000ULL, "core-seconds", 14000, 14000, 35000, 35000);
	check_row(row_of(&w, "memory-gib-second"), "allocated", (256ULL << 20) * 5000,
		  "byte-milliseconds", 1250000000ULL, "GiB-seconds", 4500, 4500, 5625, 5625);
	/* The window itself is not stretched. */
	CHECK_EQ_INT(row_of(&w, "cpu-core-second")->end_ns, T0 + 2 * SEC);
	CHECK_EQ_INT(s.billed_until, T0 + 2 * SEC);
	CHECK(s.ended && s.created_billed);

	/* Not on a window that is not final. */
	s = fresh();
	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 2 * SEC, false, &s, &w));
	CHECK_EQ_INT(row_of(&w, "cpu-core-second")->quantity, SEC);
	CHECK(!s.ended);

	/* An empty final window is still billed: to the minimum, from the start. */
	s = fresh();
	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0, true, &s, &w));
	CHECK_EQ_INT(row_of(&w, "cpu-core-second")->quantity, 2500000000ULL);
	CHECK(row_of(&w, "sandbox-create") != NULL);
	CHECK(s.ended);

	/* The minimum counts from the sandbox's start, not the window's: 61 s lived. */
	s = fresh();
	s.billed_until = T0 + 60 * SEC;
	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 61 * SEC, true, &s, &w));
	CHECK_EQ_INT(row_of(&w, "cpu-core-second")->quantity, SEC / 2);

	/* A final window ending before what was billed ends there: nothing time-based
	 * (the minimum was met long ago), but the state is final. */
	s = fresh();
	s.billed_until = T0 + 60 * SEC;
	s.created_billed = true;
	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 59 * SEC, true, &s, &w));
	CHECK_EQ_INT(w.n, 0);
	CHECK_EQ_INT(s.billed_until, T0 + 60 * SEC);
	CHECK(s.ended);
	rates_free(r);
}

TEST(minimum_charge_and_use)
{
	/* Billed on use, CPU is what was used even in a short last window; "max" takes the
	 * stretched allocation. */
	struct rates *used = policy_card("used", "used");
	struct rates *max = policy_card("max", "max");
	struct window_sandbox sb = box("bob", &half_core_256m);
	struct window_counters c = { .cpu_ns = SEC / 10 };
	struct window_rows w;
	struct bill_state s = fresh();

	CHECK(window_sandbox_rows(used, WIN, &sb, &c, T0 + SEC, true, &s, &w));
	CHECK_EQ_INT(row_of(&w, "cpu-core-second")->quantity, SEC / 10);
	s = fresh();
	CHECK(window_sandbox_rows(max, WIN, &sb, &c, T0 + SEC, true, &s, &w));
	CHECK_EQ_INT(row_of(&w, "cpu-core-second")->quantity, 2500000000ULL);
	rates_free(used);
	rates_free(max);
}

TEST(row_ids)
{
	char id[96];
	/* Named by the row's own start: what the ledger keeps unique. */
	window_row_id(id, sizeof(id), "0123456789", "cpu-core-second", T0);
	CHECK(!strcmp(id, "0123456789:cpu-core-second:1800000000000000000"));
	window_row_id(id, sizeof(id), "0123456789", "cpu-core-second", T0 + WIN - 1);
	CHECK(!strcmp(id, "0123456789:cpu-core-second:1800000059999999999"));
	window_row_id(id, sizeof(id), "snap-0123456789", "snapshot-gib-hour", T0 + 1);
	CHECK(!strcmp(id, "snap-0123456789:snapshot-gib-hour:1800000000000000001"));

	/* The window's length changed across a restart (60 s, then 120 s): the row from
	 * T0 + 60 s is not named like the one from T0 (aligned to 120 s, it was). */
	{
		struct rates *r2 = policy_card("allocated", "allocated");
		struct window_sandbox sb2 = box("bob", &half_core_256m);
		struct bill_state s2 = fresh();
		struct window_counters c2 = { 0 };
		struct window_rows w1, w2;
		CHECK(window_sandbox_rows(r2, WIN, &sb2, &c2, T0 + WIN, false, &s2, &w1));
		CHECK(window_sandbox_rows(r2, 2 * WIN, &sb2, &c2, T0 + 2 * WIN, false, &s2, &w2));
		CHECK(strcmp(row_of(&w1, "cpu-core-second")->id,
			     row_of(&w2, "cpu-core-second")->id));
		rates_free(r2);
	}

	/* A sandbox started mid-window: its first rows carry their own start. */
	struct rates *r = policy_card("allocated", "allocated");
	struct window_sandbox sb = box("bob", &half_core_256m);
	struct bill_state s = fresh();
	struct window_counters c = { 0 };
	struct window_rows w;
	sb.started_ns = T0 + 10 * SEC + SEC / 2;
	s.billed_until = sb.started_ns;
	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + WIN, false, &s, &w));
	CHECK_EQ_INT(w.n, 3);
	for (size_t i = 0; i < w.n; i++) {
		char want[96];
		snprintf(want, sizeof(want), "0123456789:%s:1800000010500000000", w.row[i].sku);
		CHECK(!strcmp(w.row[i].id, want));
		CHECK_EQ_INT(w.row[i].start_ns, T0 + 10 * SEC + SEC / 2);
	}
	CHECK_EQ_INT(row_of(&w, "cpu-core-second")->quantity, 24750000000ULL);
	rates_free(r);
}

TEST(tenant_prices)
{
	struct rates *r = policy_card("allocated", "allocated");
	struct window_sandbox sb = box("acme", &half_core_256m);
	struct bill_state s = fresh();
	struct window_counters c = { 0 };
	struct window_rows w;

	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 60 * SEC, false, &s, &w));
	/* Its own CPU price (0.00002) less 10%; the list price stays the card's. */
	check_row(row_of(&w, "cpu-core-second"), "allocated", 30 * SEC, "core-nanoseconds",
		  30 * SEC, "core-seconds", 14000, 18000, 420000, 540000);
	/* No price of its own for memory: the list price less 10%. */
	check_row(row_of(&w, "memory-gib-second"), "allocated", (256ULL << 20) * 60000,
		  "byte-milliseconds", 15 * SEC, "GiB-seconds", 4500, 4050, 67500, 60750);
	check_row(row_of(&w, "sandbox-create"), "used", 1, "sandboxes", SEC, "sandboxes", 100000,
		  90000, 100000, 90000);
	rates_free(r);
}

TEST(rounding)
{
	/* Costs round half up at the nano: 9 nano x 0.5 core-second = 4.5 -> 5. */
	static const char text[] = "{\"currency\": \"EUR\","
				   " \"prices\": {\"cpu-core-second\": \"0.000000009\","
				   "  \"memory-gib-second\": \"1\"},"
				   " \"policy\": {\"cpu\": \"used\", \"memory\": \"used\"}}";
	struct rates *r = card(text);
	struct window_sandbox sb = box("bob", &half_core_256m);
	struct bill_state s = fresh();
	struct window_counters c = { .cpu_ns = SEC / 2, .mem_kib_ms = 1 };
	struct window_rows w;

	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 60 * SEC, false, &s, &w));
	check_row(row_of(&w, "cpu-core-second"), "used", SEC / 2, "core-nanoseconds", SEC / 2,
		  "core-seconds", 9, 9, 5, 5);
	CHECK(!strcmp(w.row[0].currency, "EUR"));
	/* One KiB-millisecond (1,024 byte-ms) is 0.00000000095 GiB-seconds: one nano of
	 * pricing quantity, rounded up from 0.95, at 1 a GiB-second. */
	check_row(row_of(&w, "memory-gib-second"), "used", 1024, "byte-milliseconds", 1,
		  "GiB-seconds", 1000000000, 1000000000, 1, 1);
	/* Just under the half: down. */
	c.cpu_ns += SEC / 2 - 1;
	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 120 * SEC, false, &s, &w));
	check_row(row_of(&w, "cpu-core-second"), "used", SEC / 2 - 1, "core-nanoseconds",
		  SEC / 2 - 1, "core-seconds", 9, 9, 4, 4);
	/* A memory integral that did not grow by a KiB-millisecond is not billed. */
	c.mem_kib_ms += 0;
	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 180 * SEC, false, &s, &w));
	CHECK(!row_of(&w, "memory-gib-second"));
	rates_free(r);
}

TEST(memory_integral_wide)
{
	/* 64 GiB held for 10 hours: 2.5e24 byte-ns, far past the 1.8e19 of 64 bits (which
	 * wrapped at 17 GiB-seconds). Carried as KiB-ms, exactly. */
	usage_byte_ns v = (usage_byte_ns)(64ULL << 30) * (10ULL * 3600 * SEC);
	CHECK_EQ_INT(usage_kib_ms(v), (64ULL << 20) * 10 * 3600 * 1000);
	CHECK_EQ_INT(usage_kib_ms((usage_byte_ns)USAGE_KIB_MS - 1), 0);
	CHECK_EQ_INT(usage_kib_ms(~(usage_byte_ns)0), UINT64_MAX);

	/* Billed under "used": the hour of the 64 GiB after nine is its own quantity. */
	static const char text[] = "{\"currency\": \"USD\","
				   " \"prices\": {\"memory-gib-second\": \"0.0000045\"},"
				   " \"policy\": {\"cpu\": \"used\", \"memory\": \"used\"}}";
	struct rates *r = card(text);
	struct window_sandbox sb = box("bob", &half_core_256m);
	struct bill_state s = fresh();
	s.created_billed = true;
	s.mem_kib_ms = usage_kib_ms((usage_byte_ns)(64ULL << 30) * (9ULL * 3600 * SEC));
	struct window_counters c = { .mem_kib_ms = usage_kib_ms(v) };
	struct window_rows w;
	CHECK(window_sandbox_rows(r, 3600 * SEC, &sb, &c, T0 + 3600 * SEC, false, &s, &w));
	check_row(row_of(&w, "memory-gib-second"), "used", (64ULL << 30) * 3600 * 1000,
		  "byte-milliseconds", 64ULL * 3600 * SEC, "GiB-seconds", 4500, 4500,
		  64ULL * 3600 * 4500, 64ULL * 3600 * 4500);
	rates_free(r);
}

TEST(gpus)
{
	struct rates *r = policy_card("allocated", "allocated");
	static struct window_gpu_skus k; /* kept for the process, as sbxd keeps its own */
	const char *skus[] = { window_gpu_sku(&k, "NVIDIA H100"), window_gpu_sku(&k, "Tesla T4") };
	struct window_sandbox sb = box("bob", &half_core_256m);
	struct bill_state s = fresh();
	struct window_counters c = { 0 };
	struct window_rows w;

	CHECK(!strcmp(skus[0], "gpu-nvidia-h100-second"));
	CHECK(!strcmp(skus[1], "gpu-tesla-t4-second"));
	sb.gpu_skus = skus;
	sb.ngpus = 2;
	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 60 * SEC, false, &s, &w));
	/* After CPU and memory, one row per GPU, allocated for the window. */
	CHECK_EQ_INT(w.n, 5);
	CHECK(w.row[2].sku == skus[0] && w.row[3].sku == skus[1]);
	check_row(&w.row[2], "allocated", 60 * SEC, "gpu-nanoseconds", 60 * SEC, "GPU-seconds",
		  2000000, 2000000, 120000000, 120000000);
	/* No price of its own: gpu-default-second's. */
	check_row(&w.row[3], "allocated", 60 * SEC, "gpu-nanoseconds", 60 * SEC, "GPU-seconds",
		  1000000, 1000000, 60000000, 60000000);
	/* The minimum charge covers GPUs too. */
	s = fresh();
	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + SEC, true, &s, &w));
	CHECK_EQ_INT(w.row[2].quantity, 5 * SEC);
	CHECK_EQ_INT(w.row[3].quantity, 5 * SEC);
	/* The tenant's discount applies to the default GPU price. */
	sb.tenant = "acme";
	s = fresh();
	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 60 * SEC, false, &s, &w));
	CHECK_EQ_INT(w.row[3].unit_price_nano, 900000);
	CHECK_EQ_INT(w.row[3].list_unit_price_nano, 1000000);
	rates_free(r);
}

TEST(gpu_sku_names)
{
	static struct window_gpu_skus k; /* kept for the process, as sbxd keeps its own */
	const char *a = window_gpu_sku(&k, "NVIDIA H100 80GB HBM3");
	CHECK(!strcmp(a, "gpu-nvidia-h100-80gb-hbm3-second"));
	/* Made once: the same model, the same string. */
	CHECK(window_gpu_sku(&k, "NVIDIA H100 80GB HBM3") == a);
	CHECK(!strcmp(window_gpu_sku(&k, "A100-SXM4/40GB"), "gpu-a100-sxm4-40gb-second"));
	CHECK(!strcmp(window_gpu_sku(&k, "caf\xc3\xa9"), "gpu-caf---second"));
	/* The table holds WINDOW_MAX_GPUS models; past that, the default SKU. */
	for (int i = 3; i < WINDOW_MAX_GPUS; i++) {
		char m[16];
		snprintf(m, sizeof(m), "m%d", i);
		CHECK(strcmp(window_gpu_sku(&k, m), "gpu-default-second"));
	}
	CHECK(!strcmp(window_gpu_sku(&k, "one too many"), "gpu-default-second"));
	CHECK(window_gpu_sku(&k, "NVIDIA H100 80GB HBM3") == a);
}

TEST(labels_default)
{
	struct rates *r = policy_card("allocated", "allocated");
	struct window_sandbox sb = box("bob", &half_core_256m);
	struct bill_state s = fresh();
	struct window_counters c = { 0 };
	struct window_rows w;

	sb.labels = NULL;
	CHECK(window_sandbox_rows(r, WIN, &sb, &c, T0 + 60 * SEC, false, &s, &w));
	CHECK(w.n > 0);
	for (size_t i = 0; i < w.n; i++)
		CHECK(!strcmp(w.row[i].labels, "{}"));
	rates_free(r);
}

TEST(snapshot_storage)
{
	struct rates *r = policy_card("allocated", "allocated");
	struct bill_state s = { .sandbox = "snap-0123456789", .billed_until = T0 };
	struct window_rows w;

	/* 2 GiB for 60 s: 1/30 GiB-hour at 0.000068. */
	CHECK(window_snapshot_rows(r, WIN, "snap-0123456789", "acme", 2 * GIB, T0 + 60 * SEC, false,
				   &s, &w));
	CHECK_EQ_INT(w.n, 1);
	check_row(&w.row[0], "allocated", 2 * GIB * 60, "byte-seconds", 33333333, "GiB-hours",
		  68000, 61200, 2267, 2040);
	CHECK(!strcmp(w.row[0].id, "snap-0123456789:snapshot-gib-hour:1800000000000000000"));
	CHECK(!strcmp(w.row[0].sku, "snapshot-gib-hour"));
	CHECK(!strcmp(w.row[0].labels, "{}"));
	CHECK(!strcmp(w.row[0].tenant, "acme"));
	CHECK(!strcmp(w.row[0].sandbox, "snap-0123456789"));
	CHECK_EQ_INT(s.billed_until, T0 + 60 * SEC);
	CHECK(!s.ended);

	/* No window yet; then the last one, after which nothing more. */
	CHECK(!window_snapshot_rows(r, WIN, "snap-0123456789", "acme", 2 * GIB, T0 + 60 * SEC,
				    false, &s, &w));
	CHECK(window_snapshot_rows(r, WIN, "snap-0123456789", "acme", 2 * GIB, T0 + 90 * SEC, true,
				   &s, &w));
	CHECK_EQ_INT(w.n, 1);
	CHECK_EQ_INT(w.row[0].quantity, 2 * GIB * 30);
	CHECK(s.ended);
	CHECK(!window_snapshot_rows(r, WIN, "snap-0123456789", "acme", 2 * GIB, T0 + 120 * SEC,
				    true, &s, &w));
	CHECK_EQ_INT(w.n, 0);
	CHECK_EQ_INT(s.billed_until, T0 + 90 * SEC);

	/* Less than a byte-second: no row. */
	s = (struct bill_state){ .billed_until = T0 };
	CHECK(window_snapshot_rows(r, WIN, "snap-0123456789", "acme", 1, T0 + SEC / 2, false, &s,
				   &w));
	CHECK_EQ_INT(w.n, 0);
	rates_free(r);
}
