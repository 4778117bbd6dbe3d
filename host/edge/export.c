// SPDX-License-Identifier: MIT
/* The ledger, out: GET /v1/usage as JSON, FOCUS-style CSV or CloudEvents JSON lines;
 * GET /v1/rates; GET /v1/ledger/verify. Exports of a period are the same bytes every
 * time: ledger order, no time of export. Tenants see only their own rows. The formats
 * themselves are billing/writers.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../sandbox/macro.h"
#include "edge.h"
#include "../billing/ledger.h"
#include "../billing/rates.h"
#include "../billing/writers.h"

struct exp {
	FILE *f;
	int format; /* 0 json, 1 focus, 2 cloudevents */
	json_t *rows;
	uint64_t total;
	size_t n;
	char host[256];
};

static bool emit(const struct ledger_row *w, void *ud)
{
	struct exp *x = ud;

	x->total += w->cost_nano;
	x->n++;
	if (x->format == 0)
		json_array_append_new(x->rows, writers_row_json(w));
	else if (x->format == 2)
		writers_cloudevent(x->f, x->host, w);
	else
		writers_focus_row(x->f, w);
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
	if ((from_s && writers_parse_time(from_s, &from) < 0) ||
	    (to_s && writers_parse_time(to_s, &to) < 0)) {
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
		writers_focus_header(x.f);
	int r = ledger_each(D.ledger, from, to, tenant, sandbox, emit, &x);
	if (x.format == 0)
		writers_usage_json(x.f, D.rates->currency, x.rows, x.n, x.total);
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
