// SPDX-License-Identifier: MIT
/* Export formats of ledger rows. */
#define _GNU_SOURCE
#include "writers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rates.h"

int writers_parse_time(const char *s, int64_t *ret)
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

void writers_format_time(int64_t ns, char *buf, size_t size)
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

void writers_csv_field(FILE *f, const char *s, bool last)
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

void writers_focus_header(FILE *f)
{
	fputs(focus_header, f);
}

void writers_focus_row(FILE *f, const struct ledger_row *w)
{
	char cost[40], list[40], lup[40], up[40], pq[40], s[64], t[64], q[32], desc[160];

	rates_format_nano(w->cost_nano, cost, sizeof(cost));
	rates_format_nano(w->list_cost_nano, list, sizeof(list));
	rates_format_nano(w->list_unit_price_nano, lup, sizeof(lup));
	rates_format_nano(w->unit_price_nano, up, sizeof(up));
	rates_format_nano(w->pricing_quantity_nano, pq, sizeof(pq));
	writers_format_time(w->start_ns, s, sizeof(s));
	writers_format_time(w->end_ns, t, sizeof(t));
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
	size_t n = sizeof(fields) / sizeof(fields[0]);
	for (size_t i = 0; i < n; i++)
		writers_csv_field(f, fields[i], i + 1 == n);
}

json_t *writers_row_json(const struct ledger_row *w)
{
	char a[40], b[40], c[40], d[40], e[40], s[64], t[64];
	json_error_t jerr;
	json_t *labels = json_loads(w->labels, 0, &jerr);
	writers_format_time(w->start_ns, s, sizeof(s));
	writers_format_time(w->end_ns, t, sizeof(t));
	return json_pack(
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
}

void writers_cloudevent(FILE *f, const char *source, const struct ledger_row *w)
{
	char type[96], t[64];
	json_t *ev =
		json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "specversion", "1.0", "id", w->id,
			  "source", source, "type", "", "subject", w->tenant, "time", "",
			  "datacontenttype", "application/json", "data", writers_row_json(w));
	snprintf(type, sizeof(type), "sbx.usage.%s", w->sku);
	json_object_set_new(ev, "type", json_string(type));
	writers_format_time(w->end_ns, t, sizeof(t));
	json_object_set_new(ev, "time", json_string(t));
	char *line = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(ev);
	if (line)
		fprintf(f, "%s\n", line);
	free(line);
}

void writers_usage_json(FILE *f, const char *currency, json_t *rows, size_t count,
			uint64_t total_nano)
{
	char tot[40];
	json_t *j = json_pack("{s:s,s:o,s:I,s:s,s:I}", "currency", currency, "rows", rows, "count",
			      (json_int_t)count, "total",
			      rates_format_nano(total_nano, tot, sizeof(tot)), "total_nano",
			      (json_int_t)total_nano);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s)
		fprintf(f, "%s\n", s);
	free(s);
}
