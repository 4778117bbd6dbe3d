/* SPDX-License-Identifier: MIT */
/* The rate card and the pricing arithmetic of the ledger. Money is integer nano-units of
 * the card's currency (1e-9), never floating point. Pure: no I/O.
 *
 * Card (JSON):
 *   {"currency": "USD",
 *    "source": "where the prices come from",
 *    "prices": {"cpu-core-second": "0.000014", "memory-gib-second": "0.0000045",
 *               "gpu-default-second": "0.001097", "gpu-<model>-second": "...",
 *               "syscall-million": "0", "net-egress-gib": "0.09", "net-ingress-gib": "0",
 *               "snapshot-gib-hour": "0.000068", "sandbox-create": "0"},
 *    "policy": {"cpu": "allocated|used|max", "memory": "allocated|used|max"},
 *    "defaults": {"cpus": "1", "memory": "512M"},   allocation of a sandbox without limits
 *    "minimum_seconds": 1,                            time-based charges: at least this long
 *    "tenants": {"NAME": {"discount": "10%", "prices": {"cpu-core-second": "..."}}}}
 * Prices: decimal strings (or numbers) with at most 9 decimals, >= 0. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define RATES_MAX_SKUS 64
#define RATES_MAX_TENANTS 256

enum rate_policy {
	POLICY_ALLOCATED,
	POLICY_USED,
	POLICY_MAX,
};

struct rate_price {
	char sku[64];
	uint64_t nano; /* per pricing unit */
};

struct rate_tenant {
	char name[40];
	uint32_t discount_bp; /* basis points: 1000 = 10% */
	struct rate_price prices[RATES_MAX_SKUS];
	unsigned nprices;
};

struct rates {
	char currency[8];
	char source[256];
	struct rate_price prices[RATES_MAX_SKUS];
	unsigned nprices;
	enum rate_policy cpu_policy, memory_policy;
	uint32_t default_cpu_milli;
	uint64_t default_memory_bytes;
	uint64_t minimum_ns;
	struct rate_tenant *tenants;
	unsigned ntenants;
	json_t *json; /* the card as given, for GET /v1/rates */
};

/* Parses a card; @name names it in errors ("rates.json:12: prices.cpu-core-second: ...").
 * Returns 0 or -EINVAL with *ret_error (caller frees). */
int rates_parse(const char *name, const char *text, size_t len, struct rates **ret,
		char **ret_error);
/* The built-in card: public list prices (E2B for CPU and memory, Modal for GPUs). */
int rates_default(struct rates **ret);
void rates_free(struct rates *r);

/* The SKU of a GPU model: "gpu-<model>-second", the model lower-cased, spaces and other
 * characters as '-'. */
void rates_gpu_sku(const char *model, char *buf, size_t size);

/* List and contracted (tenant) unit prices of @sku in nano-units; a GPU SKU without its
 * own price takes gpu-default-second. -ENOENT: no price at all. */
int rates_price(const struct rates *r, const char *tenant, const char *sku, uint64_t *ret_list,
		uint64_t *ret_contracted);

/* A decimal with up to 9 decimals ("0.000014", "12", "1.5") as nano-units. */
int rates_parse_nano(const char *s, uint64_t *ret);
/* nano-units as a decimal with 9 decimals: "0.000014000". @buf: at least 32 bytes. */
const char *rates_format_nano(uint64_t nano, char *buf, size_t size);

/* cost = round_half_up(unit_price_nano * pricing_quantity_nano / 1e9): both factors as
 * shown in exports, so the product checks exactly. */
uint64_t rates_cost(uint64_t unit_price_nano, uint64_t pricing_quantity_nano);
/* pricing quantity (nano-units of the pricing unit) = round_half_up(base * 1e9 / per),
 * where @per base units make one pricing unit. */
uint64_t rates_pricing_quantity(uint64_t base, uint64_t per);
