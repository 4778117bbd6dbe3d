// SPDX-License-Identifier: MIT
/* The ledger, out: GET /v1/usage as JSON, FOCUS-style CSV or CloudEvents JSON lines;
 * GET /v1/rates; GET /v1/ledger/verify. Exports of a period are the same bytes every
 * time: ledger order, no time of export. Tenants see only their own rows. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../sandbox/macro.h"
#include "edge.h"
#include "../billing/ledger.h"
#include "../billing/rates.h"

/* "2026-11-26T00:00:00Z", with optional fractional seconds, as ns. */
static int parse_time(const char *s, int64_t *ret)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int64_t frac = 0, scale = 100000000;

	if (!p)
		return -EINVAL;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (strcmp(p, "Z") && strcmp(p, "+00:00"))
		return -EINVAL;
	time_t t = timegm(&tm);
	if (t < 0)
		return -EINVAL;
	*ret = (int64_t)t * 1000000000 + frac;
	return 0;
}

static void fmt_time(int64_t ns, char *buf, size_t size)
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	if (ns % 1000000000)
		snprintf(buf + n, size - n, ".%09dZ", (int)(ns % 1000000000));
	else
		snprintf(buf + n, size - n, "Z");
}

static void csv_field(FILE *f, const char *s, bool last)
{
	if (strpbrk(s, ",\"\n\r")) {
		fputc('"', f);
		for (; *s; s++) {
			if (*s == '"')
				fputc('"', f);
			fputc(*s, f);
		}
		fputc('"', f);
	} else {
		fputs(s, f);
	}
	fputc(last ? '\n' : ',', f);
}

static const char focus_header[] =
	"BilledCost,EffectiveCost,ListCost,ListUnitPrice,ContractedCost,ContractedUnitPrice,"
	"PricingQuantity,PricingUnit,ConsumedQuantity,ConsumedUnit,ChargePeriodStart,"
	"ChargePeriodEnd,ChargeCategory,ChargeDescription,BillingCurrency,ResourceId,"
	"ResourceType,SkuId,ServiceName,ServiceCategory,Tags,x_RowId,x_Tenant,x_Policy,x_Hash\n";

struct exp {
	FILE *f;
	int format; /* 0 json, 1 focus, 2 cloudevents */
	json_t *rows;
	uint64_t total;
	size_t n;
	char host[256];
};

static json_t *row_json(const struct ledger_row *w)
{
	char a[40], b[40], c[40], d[40], e[40], g[40], s[64], t[64];
	json_error_t jerr;
	json_t *labels = json_loads(w->labels, 0, &jerr);
	fmt_time(w->start_ns, s, sizeof(s));
	fmt_time(w->end_ns, t, sizeof(t));
	json_t *j = json_pack(
		"{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:o,"
		"s:s,s:s}",
		"id", w->id, "tenant", w->tenant, "sandbox", w->sandbox, "sku", w->sku, "start_ns",
		(json_int_t)w->start_ns, "end_ns", (json_int_t)w->end_ns, "start", s, "end", t,
		"quantity", (json_int_t)w->quantity, "unit", w->unit, "pricing_quantity",
		rates_format_nano(w->pricing_quantity_nano, a, sizeof(a)), "pricing_unit",
		w->pricing_unit, "list_unit_price",
		rates_format_nano(w->list_unit_price_nano, b, sizeof(b)), "unit_price",
		rates_format_nano(w->unit_price_nano, c, sizeof(c)), "list_cost",
		rates_format_nano(w->list_cost_nano, d, sizeof(d)), "cost",
		rates_format_nano(w->cost_nano, e, sizeof(e)), "cost_nano",
		(json_int_t)w->cost_nano, "currency", w->currency, "policy", w->policy, "labels",
		labels ? labels : json_object(), "prev_hash", w->prev_hash, "hash", w->hash);
	(void)g;
	return j;
}

static bool emit(const struct ledger_row *w, void *ud)
{
	struct exp *x = ud;
	char cost[40], list[40], lup[40], up[40], pq[40], s[64], t[64], q[32], desc[160];

	x->total += w->cost_nano;
	x->n++;
	if (x->format == 0) {
		json_array_append_new(x->rows, row_json(w));
		return true;
	}
	if (x->format == 2) {
		json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "specversion", "1.0",
				       "id", w->id, "source", x->host, "type", "", "subject",
				       w->tenant, "time", "", "datacontenttype", "application/json",
				       "data", row_json(w));
		char type[96];
		snprintf(type, sizeof(type), "sbx.usage.%s", w->sku);
		json_object_set_new(ev, "type", json_string(type));
		fmt_time(w->end_ns, t, sizeof(t));
		json_object_set_new(ev, "time", json_string(t));
		char *line = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(ev);
		if (line)
			fprintf(x->f, "%s\n", line);
		free(line);
		return true;
	}
	rates_format_nano(w->cost_nano, cost, sizeof(cost));
	rates_format_nano(w->list_cost_nano, list, sizeof(list));
	rates_format_nano(w->list_unit_price_nano, lup, sizeof(lup));
	rates_format_nano(w->unit_price_nano, up, sizeof(up));
	rates_format_nano(w->pricing_quantity_nano, pq, sizeof(pq));
	fmt_time(w->start_ns, s, sizeof(s));
	fmt_time(w->end_ns, t, sizeof(t));
	snprintf(q, sizeof(q), "%" PRIu64, w->quantity);
	/* A snapshot's storage, or a sandbox's use (the resource names which). */
	bool snap = !strncmp(w->sandbox, "snap-", 5);
	snprintf(desc, sizeof(desc), "%s of %s %s", w->sku, snap ? "snapshot" : "sandbox",
		 w->sandbox);
	const char *fields[] = { cost,
				 cost,
				 list,
				 lup,
				 cost,
				 up,
				 pq,
				 w->pricing_unit,
				 q,
				 w->unit,
				 s,
				 t,
				 "Usage",
				 desc,
				 w->currency,
				 w->sandbox,
				 snap ? "Snapshot" : "Sandbox",
				 w->sku,
				 "sbx",
				 snap ? "Storage" : "Compute",
				 w->labels,
				 w->id,
				 w->tenant,
				 w->policy,
				 w->hash };
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		csv_field(x->f, fields[i], i + 1 == ARRAY_SIZE(fields));
	return true;
}

void export_usage(struct conn *c, struct http_request *req)
{
	_cleanup_free_ char *format = NULL, *from_s = NULL, *to_s = NULL, *tenant = NULL,
			    *sandbox = NULL;
	int64_t from = 0, to = 0;
	struct exp x = { 0 };
	const char *q = req->query;

	if (q && (http_query_get(q, "format", &format) == -EINVAL ||
		  http_query_get(q, "from", &from_s) == -EINVAL ||
		  http_query_get(q, "to", &to_s) == -EINVAL ||
		  http_query_get(q, "tenant", &tenant) == -EINVAL ||
		  http_query_get(q, "sandbox", &sandbox) == -EINVAL)) {
		respond_error(c, 400, "bad_request", "query: bad percent-encoding");
		return;
	}
	if (!format || !strcmp(format, "json"))
		x.format = 0;
	else if (!strcmp(format, "focus"))
		x.format = 1;
	else if (!strcmp(format, "cloudevents"))
		x.format = 2;
	else {
		respond_error(c, 400, "bad_request", "format: json, focus or cloudevents");
		return;
	}
	if ((from_s && parse_time(from_s, &from) < 0) || (to_s && parse_time(to_s, &to) < 0)) {
		respond_error(c, 400, "bad_request",
			      "from, to: times like 2026-11-26T00:00:00Z (UTC, to exclusive)");
		return;
	}
	if (to_s && from >= to) {
		respond_error(c, 400, "bad_request", "from must be before to");
		return;
	}
	/* A tenant's own rows only, whatever it asks. */
	if (c->tenant) {
		if (tenant && strcmp(tenant, c->tenant)) {
			respond_error(c, 404, "not_found", "no such tenant");
			return;
		}
		free(tenant);
		tenant = strdup(c->tenant);
	}
	char *body = NULL;
	size_t len = 0;
	x.f = open_memstream(&body, &len);
	if (!x.f) {
		respond_error(c, 500, "internal", "out of memory");
		return;
	}
	char hn[200] = "localhost";
	gethostname(hn, sizeof(hn) - 1);
	snprintf(x.host, sizeof(x.host), "sbx://%s", hn);
	if (x.format == 0)
		x.rows = json_array();
	if (x.format == 1)
		fputs(focus_header, x.f);
	int r = ledger_each(D.ledger, from, to, tenant, sandbox, emit, &x);
	if (x.format == 0) {
		char tot[40];
		json_t *j = json_pack("{s:s,s:o,s:I,s:s,s:I}", "currency", D.rates->currency,
				      "rows", x.rows, "count", (json_int_t)x.n, "total",
				      rates_format_nano(x.total, tot, sizeof(tot)), "total_nano",
				      (json_int_t)x.total);
		char *s = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		if (s)
			fprintf(x.f, "%s\n", s);
		free(s);
	}
	fclose(x.f);
	if (r < 0)
		respond_error(c, 500, "internal", "reading the ledger: %s", strerror(-r));
	else
		respond(c, 200,
			x.format == 1	? "text/csv; charset=utf-8"
			: x.format == 2 ? "application/x-ndjson"
					: "application/json",
			body ? body : "", len);
	free(body);
}

void export_rates(struct conn *c)
{
	json_t *j = json_deep_copy(D.rates->json);
	if (!json_object_get(j, "source"))
		json_object_set_new(j, "source",
				    json_string(D.opt.rates_path ? D.opt.rates_path : "built-in"));
	respond_json(c, 200, j);
}

void export_verify(struct conn *c)
{
	uint64_t rows = 0;
	char *bad = NULL, *why = NULL;
	int r = ledger_verify(D.ledger, &rows, &bad, &why);

	if (r == 0)
		respond_json(c, 200, json_pack("{s:b,s:I}", "ok", 1, "rows", (json_int_t)rows));
	else if (r == -EBADMSG)
		respond_json(c, 200,
			     json_pack("{s:b,s:I,s:s,s:s}", "ok", 0, "rows", (json_int_t)rows,
				       "bad_row", bad ? bad : "?", "reason", why ? why : "?"));
	else
		respond_error(c, 500, "internal", "reading the ledger: %s", strerror(-r));
	free(bad);
	free(why);
}
