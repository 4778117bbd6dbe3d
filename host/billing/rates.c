// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "rates.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sandbox/jsonpos.h"
#include "../../sandbox/spec.h"
#include "../../sandbox/text.h"

typedef unsigned __int128 u128;

int rates_parse_nano(const char *s, uint64_t *ret)
{
	uint64_t whole = 0, frac = 0;
	int digits = 0;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (whole > (UINT64_MAX / 1000000000ULL - 9) / 10)
			return -ERANGE;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			if (++digits > 9)
				return -ERANGE;
			frac = frac * 10 + (uint64_t)(*p - '0');
		}
	}
	if (*p)
		return -EINVAL;
	for (; digits < 9; digits++)
		frac *= 10;
	*ret = whole * 1000000000ULL + frac;
	return 0;
}

const char *rates_format_nano(uint64_t nano, char *buf, size_t size)
{
	snprintf(buf, size, "%llu.%09llu", (unsigned long long)(nano / 1000000000ULL),
		 (unsigned long long)(nano % 1000000000ULL));
	return buf;
}

uint64_t rates_cost(uint64_t unit_price_nano, uint64_t pricing_quantity_nano)
{
	u128 p = (u128)unit_price_nano * pricing_quantity_nano;
	u128 c = (p + 500000000u) / 1000000000u;
	return c > UINT64_MAX ? UINT64_MAX : (uint64_t)c;
}

uint64_t rates_pricing_quantity(uint64_t base, uint64_t per)
{
	if (!per)
		return 0;
	u128 q = ((u128)base * 1000000000u + per / 2) / per;
	return q > UINT64_MAX ? UINT64_MAX : (uint64_t)q;
}

void rates_gpu_sku(const char *model, char *buf, size_t size)
{
	size_t n = 0;
	int w = snprintf(buf, size, "gpu-");
	n = w > 0 ? (size_t)w : 0;
	for (const char *p = model; *p && n + 8 < size; p++)
		buf[n++] = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '-';
	snprintf(buf + n, size - n, "-second");
}

static const uint64_t *find_price(const struct rate_price *prices, unsigned n, const char *sku)
{
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(prices[i].sku, sku))
			return &prices[i].nano;
	return NULL;
}

int rates_price(const struct rates *r, const char *tenant, const char *sku, uint64_t *ret_list,
		uint64_t *ret_contracted)
{
	const char *key = sku;
	const uint64_t *list = find_price(r->prices, r->nprices, sku);
	if (!list && !strncmp(sku, "gpu-", 4)) {
		key = "gpu-default-second";
		list = find_price(r->prices, r->nprices, key);
	}
	if (!list)
		return -ENOENT;
	*ret_list = *list;
	*ret_contracted = *list;
	for (unsigned i = 0; tenant && i < r->ntenants; i++) {
		const struct rate_tenant *t = &r->tenants[i];
		if (strcmp(t->name, tenant))
			continue;
		const uint64_t *own = find_price(t->prices, t->nprices, sku);
		if (!own && key != sku)
			own = find_price(t->prices, t->nprices, key);
		uint64_t base = own ? *own : *list;
		/* The discount in basis points, rounded half up to the nano. */
		*ret_contracted =
			(uint64_t)(((u128)base * (10000u - t->discount_bp) + 5000u) / 10000u);
	}
	return 0;
}

/* ---- parsing ---- */

struct perr {
	const char *name, *text;
	size_t len;
	char **out;
};

/* "NAME:LINE: a.b.c: what", the line of the value at the path when it is found. */
static int bad(struct perr *e, const char *k1, const char *k2, const char *k3, const char *what)
{
	const char *keys[3] = { k1, k2, k3 };
	struct jsonpos_seg segs[3];
	char path[200] = "", part[70];
	size_t depth = 0;

	for (int i = 0; i < 3 && keys[i]; i++) {
		segs[depth++] = (struct jsonpos_seg){ .key = keys[i] };
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s%s", i ? "." : "",
			 text_printable(keys[i], part, sizeof(part)));
	}
	unsigned line = depth ? jsonpos_line(e->text, e->len, segs, depth) : 0;
	if (line)
		return text_error(e->out, -EINVAL, "%s:%u: %s%s%s", e->name, line, path,
				  depth ? ": " : "", what);
	return text_error(e->out, -EINVAL, "%s: %s%s%s", e->name, path, depth ? ": " : "", what);
}

static int check_keys(struct perr *e, json_t *obj, const char *const *known, const char *k1,
		      const char *k2)
{
	const char *k;
	json_t *v;

	json_object_foreach (obj, k, v) {
		bool ok = false;
		for (const char *const *n = known; *n && !ok; n++)
			ok = !strcmp(*n, k);
		if (!ok)
			return bad(e, k1 ? k1 : k, k1 ? (k2 ? k2 : k) : NULL, k1 && k2 ? k : NULL,
				   "unknown field");
	}
	return 0;
}

/* A price: a decimal string or a number written in the JSON as such. */
static int get_price(struct perr *e, json_t *v, uint64_t *ret, const char *k1, const char *k2,
		     const char *k3)
{
	char buf[64];
	const char *s = buf;

	if (json_is_string(v))
		s = json_string_value(v);
	else if (json_is_integer(v) && json_integer_value(v) >= 0)
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		return bad(e, k1, k2, k3,
			   "write prices as decimal strings (\"0.000014\"): a binary fraction "
			   "is not exact");
	else
		return bad(e, k1, k2, k3, "must be a decimal string, e.g. \"0.000014\"");
	int r = rates_parse_nano(s, ret);
	if (r == -ERANGE)
		return bad(e, k1, k2, k3, "at most 9 decimals, and below 10^9");
	if (r < 0)
		return bad(e, k1, k2, k3, "must be a non-negative decimal, e.g. \"0.000014\"");
	return 0;
}

static bool sku_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

static int get_prices(struct perr *e, json_t *obj, struct rate_price *out, unsigned *n,
		      const char *k1, const char *k2)
{
	const char *k;
	json_t *v;
	int r;

	if (!json_is_object(obj))
		return bad(e, k1, k2, NULL, "must be an object of SKU: price");
	json_object_foreach (obj, k, v) {
		if (!sku_valid(k))
			return bad(e, k1, k2, k, "a SKU is 1-63 of a-z 0-9 -");
		if (*n == RATES_MAX_SKUS)
			return bad(e, k1, k2, NULL, "too many SKUs (at most 64)");
		r = get_price(e, v, &out[*n].nano, k1, k2 ? k2 : k, k2 ? k : NULL);
		if (r < 0)
			return r;
		snprintf(out[*n].sku, sizeof(out[*n].sku), "%s", k);
		(*n)++;
	}
	return 0;
}

static int get_policy(struct perr *e, json_t *pol, const char *key, enum rate_policy *ret)
{
	json_t *v = json_object_get(pol, key);
	const char *s = json_string_value(v);

	if (!v)
		return 0;
	if (s && !strcmp(s, "allocated"))
		*ret = POLICY_ALLOCATED;
	else if (s && !strcmp(s, "used"))
		*ret = POLICY_USED;
	else if (s && !strcmp(s, "max"))
		*ret = POLICY_MAX;
	else
		return bad(e, "policy", key, NULL, "must be \"allocated\", \"used\" or \"max\"");
	return 0;
}

/* "10%", "12.5%" or "0.1" (a fraction) -> basis points. */
static int get_discount(struct perr *e, json_t *v, uint32_t *ret, const char *tenant)
{
	const char *s = json_string_value(v);
	uint64_t nano;
	char buf[32];

	if (!s || strlen(s) >= sizeof(buf))
		return bad(e, "tenants", tenant, "discount", "must be a string like \"10%\"");
	snprintf(buf, sizeof(buf), "%s", s);
	size_t n = strlen(buf);
	bool pct = n && buf[n - 1] == '%';
	if (pct)
		buf[n - 1] = '\0';
	if (rates_parse_nano(buf, &nano) < 0)
		return bad(e, "tenants", tenant, "discount", "must be a string like \"10%\"");
	/* basis points: percent * 100, or fraction * 10000; whole basis points only */
	uint64_t bp_nano = pct ? nano * 100 : nano * 10000;
	if (bp_nano % 1000000000ULL || bp_nano / 1000000000ULL > 10000)
		return bad(e, "tenants", tenant, "discount",
			   "between 0% and 100%, in steps of 0.01%");
	*ret = (uint32_t)(bp_nano / 1000000000ULL);
	return 0;
}

static int get_currency(struct perr *e, json_t *root, struct rates *r)
{
	const char *cur = json_string_value(json_object_get(root, "currency"));

	if (!cur || strlen(cur) != 3 || !isupper((unsigned char)cur[0]) ||
	    !isupper((unsigned char)cur[1]) || !isupper((unsigned char)cur[2]))
		return bad(e, "currency", NULL, NULL,
			   "an ISO 4217 code such as \"USD\" is required");
	snprintf(r->currency, sizeof(r->currency), "%s", cur);
	return 0;
}

static int get_source(struct perr *e, json_t *root, struct rates *r)
{
	json_t *src = json_object_get(root, "source");

	if (src && !json_is_string(src))
		return bad(e, "source", NULL, NULL, "must be a string");
	snprintf(r->source, sizeof(r->source), "%s", src ? json_string_value(src) : "");
	return 0;
}

/* "policy": {"cpu": ..., "memory": ...}, each optional. */
static int get_policies(struct perr *e, json_t *pol, struct rates *r)
{
	static const char *const known[] = { "cpu", "memory", NULL };
	int rc;

	if (!json_is_object(pol))
		return bad(e, "policy", NULL, NULL, "must be an object");
	if ((rc = check_keys(e, pol, known, "policy", NULL)) < 0 ||
	    (rc = get_policy(e, pol, "cpu", &r->cpu_policy)) < 0 ||
	    (rc = get_policy(e, pol, "memory", &r->memory_policy)) < 0)
		return rc;
	return 0;
}

/* "defaults": the allocation charged for a sandbox without limits. */
static int get_defaults(struct perr *e, json_t *def, struct rates *r)
{
	static const char *const known[] = { "cpus", "memory", NULL };
	json_t *c = json_object_get(def, "cpus"), *m = json_object_get(def, "memory");
	int rc;

	if (!json_is_object(def))
		return bad(e, "defaults", NULL, NULL, "must be an object");
	if ((rc = check_keys(e, def, known, "defaults", NULL)) < 0)
		return rc;
	if (c && (!json_is_string(c) ||
		  spec_parse_cpus(json_string_value(c), &r->default_cpu_milli) < 0))
		return bad(e, "defaults", "cpus", NULL, "must be a string like \"1\" or \"0.5\"");
	if (m && (!json_is_string(m) ||
		  spec_parse_size(json_string_value(m), &r->default_memory_bytes) < 0))
		return bad(e, "defaults", "memory", NULL, "must be a size like \"512M\"");
	return 0;
}

static int get_minimum(struct perr *e, json_t *min, struct rates *r)
{
	if (!json_is_integer(min) || json_integer_value(min) < 0 || json_integer_value(min) > 86400)
		return bad(e, "minimum_seconds", NULL, NULL, "must be an integer from 0 to 86400");
	r->minimum_ns = (uint64_t)json_integer_value(min) * 1000000000ULL;
	return 0;
}

/* One entry of "tenants": @k's discount and own prices, into @t. */
static int get_tenant(struct perr *e, const char *k, json_t *v, struct rate_tenant *t)
{
	static const char *const known[] = { "discount", "prices", NULL };
	int rc;

	if (!json_is_object(v) || strlen(k) >= sizeof(t->name) || !k[0])
		return bad(e, "tenants", k, NULL, "must be an object, named 1-39 bytes");
	if ((rc = check_keys(e, v, known, "tenants", k)) < 0)
		return rc;
	snprintf(t->name, sizeof(t->name), "%s", k);
	json_t *d = json_object_get(v, "discount"), *p = json_object_get(v, "prices");
	if (d && (rc = get_discount(e, d, &t->discount_bp, k)) < 0)
		return rc;
	if (p && (rc = get_prices(e, p, t->prices, &t->nprices, "tenants", k)) < 0)
		return rc;
	return 0;
}

static int get_tenants(struct perr *e, json_t *ten, struct rates *r)
{
	const char *k;
	json_t *v;
	int rc;

	if (!json_is_object(ten) || json_object_size(ten) > RATES_MAX_TENANTS)
		return bad(e, "tenants", NULL, NULL, "must be an object of at most 256 tenants");
	r->tenants = calloc(json_object_size(ten) + 1, sizeof(*r->tenants));
	if (!r->tenants)
		return -ENOMEM;
	json_object_foreach (ten, k, v) {
		rc = get_tenant(e, k, v, &r->tenants[r->ntenants]);
		if (rc < 0)
			return rc;
		r->ntenants++;
	}
	return 0;
}

/* The card's sections, in the order their errors are reported. */
static int get_card(struct perr *e, json_t *root, struct rates *r)
{
	static const char *const top[] = { "currency", "source",	  "prices",  "policy",
					   "defaults", "minimum_seconds", "tenants", NULL };
	json_t *v;
	int rc;

	if (!json_is_object(root))
		return bad(e, NULL, NULL, NULL, "a rate card is a JSON object");
	if ((rc = check_keys(e, root, top, NULL, NULL)) < 0 ||
	    (rc = get_currency(e, root, r)) < 0 || (rc = get_source(e, root, r)) < 0)
		return rc;
	v = json_object_get(root, "prices");
	if (!v)
		return bad(e, "prices", NULL, NULL, "is required");
	if ((rc = get_prices(e, v, r->prices, &r->nprices, "prices", NULL)) < 0)
		return rc;
	if ((v = json_object_get(root, "policy")) && (rc = get_policies(e, v, r)) < 0)
		return rc;
	if ((v = json_object_get(root, "defaults")) && (rc = get_defaults(e, v, r)) < 0)
		return rc;
	if ((v = json_object_get(root, "minimum_seconds")) && (rc = get_minimum(e, v, r)) < 0)
		return rc;
	if ((v = json_object_get(root, "tenants")) && (rc = get_tenants(e, v, r)) < 0)
		return rc;
	return 0;
}

int rates_parse(const char *name, const char *text, size_t len, struct rates **ret,
		char **ret_error)
{
	struct perr e = { name, text, len, ret_error };
	json_error_t jerr;
	struct rates *r;
	int rc;

	*ret_error = NULL;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return text_error(ret_error, -EINVAL, "%s:%d: %s", name, jerr.line, jerr.text);
	r = calloc(1, sizeof(*r));
	if (!r) {
		json_decref(root);
		return -ENOMEM;
	}
	r->json = root;
	r->cpu_policy = POLICY_ALLOCATED;
	r->memory_policy = POLICY_ALLOCATED;
	r->default_cpu_milli = 1000;
	r->default_memory_bytes = 512ULL << 20;
	rc = get_card(&e, root, r);
	if (rc < 0) {
		rates_free(r);
		return rc;
	}
	*ret = r;
	return 0;
}

void rates_free(struct rates *r)
{
	if (!r)
		return;
	json_decref(r->json);
	free(r->tenants);
	free(r);
}

/* Public list prices: E2B's per-second CPU and memory; Modal's per-second GPU prices;
 * snapshot storage at a common object-store snapshot rate ($0.05 per GiB-month). */
static const char default_card[] =
	"{\"currency\": \"USD\",\n"
	" \"source\": \"sbx built-in: E2B list prices for CPU and memory, Modal list prices "
	"for GPUs, $0.05/GiB-month for snapshots\",\n"
	" \"prices\": {\"cpu-core-second\": \"0.000014\", \"memory-gib-second\": \"0.0000045\",\n"
	"  \"gpu-default-second\": \"0.001097\", \"gpu-h100-second\": \"0.001097\",\n"
	"  \"gpu-nvidia-h100-80gb-hbm3-second\": \"0.001097\", \"gpu-a100-80gb-second\": "
	"\"0.000694\",\n"
	"  \"gpu-a100-40gb-second\": \"0.000583\", \"gpu-l40s-second\": \"0.000542\",\n"
	"  \"gpu-a10g-second\": \"0.000306\", \"gpu-l4-second\": \"0.000222\",\n"
	"  \"gpu-t4-second\": \"0.000164\",\n"
	"  \"syscall-million\": \"0\", \"net-egress-gib\": \"0\", \"net-ingress-gib\": \"0\",\n"
	"  \"snapshot-gib-hour\": \"0.000068\", \"sandbox-create\": \"0\"},\n"
	" \"policy\": {\"cpu\": \"allocated\", \"memory\": \"allocated\"},\n"
	" \"defaults\": {\"cpus\": \"1\", \"memory\": \"512M\"},\n"
	" \"minimum_seconds\": 1}\n";

int rates_default(struct rates **ret)
{
	char *err = NULL;
	int r = rates_parse("built-in", default_card, sizeof(default_card) - 1, ret, &err);
	free(err);
	return r;
}
