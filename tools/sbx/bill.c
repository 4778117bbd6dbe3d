// SPDX-License-Identifier: MIT
/* sbx bill: the priced ledger for a window, as a table per tenant and sandbox with totals
 * or in one of sbxd's export formats; sbx bill verify checks its hash chain. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/billing/rates.h"
#include "sbx.h"

/* The query's filters, in the order of their options (OPT_FROM ...). */
static const char *const filter_names[4] = { "from", "to", "tenant", "sandbox" };

enum {
	OPT_FROM = OPT_VERB,
	OPT_TO,
	OPT_TENANT,
	OPT_SANDBOX,
	OPT_FORMAT,
};

struct bill_args {
	const char *sock, *format, *filter[4];
	bool verify;
};

struct bill_line {
	char tenant[40], sandbox[16], sku[64], unit[32];
	uint64_t pq_nano, cost_nano;
};

static int bill_cmp(const void *a, const void *b)
{
	const struct bill_line *x = a, *y = b;
	int c = strcmp(x->tenant, y->tenant);
	if (!c)
		c = strcmp(x->sandbox, y->sandbox);
	return c ? c : strcmp(x->sku, y->sku);
}

/* The rows summed per tenant, sandbox and SKU (caller frees); *ret_n of them, sorted. */
static struct bill_line *bill_lines(json_t *rows, size_t *ret_n)
{
	size_t i, n = 0, cap = json_array_size(rows);
	struct bill_line *lines = calloc(cap ? cap : 1, sizeof(*lines));
	json_t *r;

	if (!lines)
		return NULL;
	json_array_foreach (rows, i, r) {
		const char *t = json_string_value(json_object_get(r, "tenant"));
		const char *s = json_string_value(json_object_get(r, "sandbox"));
		const char *k = json_string_value(json_object_get(r, "sku"));
		struct bill_line *l = NULL;
		for (size_t m = 0; m < n && !l; m++)
			if (!strcmp(lines[m].tenant, t) && !strcmp(lines[m].sandbox, s) &&
			    !strcmp(lines[m].sku, k))
				l = &lines[m];
		if (!l) {
			l = &lines[n++];
			snprintf(l->tenant, sizeof(l->tenant), "%s", t);
			snprintf(l->sandbox, sizeof(l->sandbox), "%s", s);
			snprintf(l->sku, sizeof(l->sku), "%s", k);
			snprintf(l->unit, sizeof(l->unit), "%s",
				 json_string_value(json_object_get(r, "pricing_unit")));
		}
		/* The API's decimals have 9 places; one that is not a decimal counts 0. */
		uint64_t pq = 0;
		if (rates_parse_nano(json_string_value(json_object_get(r, "pricing_quantity")),
				     &pq) < 0)
			pq = 0;
		l->pq_nano += pq;
		l->cost_nano += (uint64_t)json_integer_value(json_object_get(r, "cost_nano"));
	}
	qsort(lines, n, sizeof(*lines), bill_cmp);
	*ret_n = n;
	return lines;
}

/* Per tenant and sandbox, per SKU, with totals. */
static int bill_table(json_t *j)
{
	const char *cur = json_string_value(json_object_get(j, "currency"));
	uint64_t sb = 0, tn = 0, all = 0;
	size_t n;
	struct bill_line *lines = bill_lines(json_object_get(j, "rows"), &n);

	if (!lines)
		return sbx_die("out of memory");
	printf("%-10s %-13s %-34s %22s %-18s %16s\n", "TENANT", "SANDBOX", "SKU", "QUANTITY",
	       "UNIT", cur ? cur : "COST");
	for (size_t i = 0; i < n; i++) {
		const struct bill_line *l = &lines[i], *next = i + 1 < n ? &lines[i + 1] : NULL;
		char q[40], c[40];
		printf("%-10s %-13s %-34s %22s %-18s %16s\n", l->tenant, l->sandbox, l->sku,
		       rates_format_nano(l->pq_nano, q, sizeof(q)), l->unit,
		       rates_format_nano(l->cost_nano, c, sizeof(c)));
		sb += l->cost_nano;
		tn += l->cost_nano;
		all += l->cost_nano;
		bool end_tn = !next || strcmp(next->tenant, l->tenant);
		if (end_tn || strcmp(next->sandbox, l->sandbox)) {
			printf("%-10s %-13s %-34s %41s %s\n", "", l->sandbox, "sandbox total", "",
			       rates_format_nano(sb, c, sizeof(c)));
			sb = 0;
		}
		if (end_tn) {
			printf("%-10s %-13s %-34s %41s %s\n", l->tenant, "", "tenant total", "",
			       rates_format_nano(tn, c, sizeof(c)));
			tn = 0;
		}
	}
	char c[40];
	printf("%-10s %-13s %-34s %41s %s %s\n", "", "", "total", "",
	       rates_format_nano(all, c, sizeof(c)), cur ? cur : "");
	free(lines);
	return 0;
}

static int bill_usage(void)
{
	return sbx_die("usage: sbx bill [--from T] [--to T] [--tenant T] [--sandbox ID] "
		       "[--format table|focus|cloudevents|json] | sbx bill verify");
}

static int bill_operand(struct bill_args *a, const char *s)
{
	if (strcmp(s, "verify"))
		return bill_usage();
	a->verify = true;
	return 0;
}

/* Options and "verify", in any order: 0 or EXIT_SBX. */
static int bill_parse(int argc, char **argv, struct bill_args *a)
{
	static const struct option opts[] = {
		SBX_SOCKET_OPTION,
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "tenant", required_argument, NULL, OPT_TENANT },
		{ "sandbox", required_argument, NULL, OPT_SANDBOX },
		{ 0 },
	};
	int c, at, r = 0;

	while (!r && (c = sbx_getopt(argc, argv, "-:", opts, &at)) != -1) {
		if (c == OPT_SOCKET)
			a->sock = optarg;
		else if (c == OPT_FORMAT)
			a->format = optarg;
		else if (c >= OPT_FROM && c <= OPT_SANDBOX)
			a->filter[c - OPT_FROM] = optarg;
		else if (c == 1)
			r = bill_operand(a, optarg);
		else
			r = bill_usage();
	}
	for (; !r && optind < argc; optind++)
		r = bill_operand(a, argv[optind]);
	return r;
}

static int bill_verify(const char *sock)
{
	json_t *j;
	int r = sbx_call_json(sock, "GET", "/v1/ledger/verify", NULL, &j);

	if (r)
		return r;
	if (json_is_true(json_object_get(j, "ok"))) {
		printf("ledger intact: %" JSON_INTEGER_FORMAT " rows, hash chain verified\n",
		       json_integer_value(json_object_get(j, "rows")));
		r = 0;
	} else {
		printf("ledger broken at row %s: %s\n",
		       json_string_value(json_object_get(j, "bad_row")),
		       json_string_value(json_object_get(j, "reason")));
		r = 1;
	}
	json_decref(j);
	return r;
}

/* GET /v1/usage for the window and filters given (caller frees); NULL when out of memory. */
static char *bill_target(const struct bill_args *a, bool table)
{
	char *target = NULL;
	size_t tlen = 0;
	FILE *f = open_memstream(&target, &tlen);

	if (!f)
		return NULL;
	fprintf(f, "/v1/usage?format=%s", table ? "json" : a->format);
	for (int k = 0; k < 4; k++)
		if (a->filter[k]) {
			char *e = client_query_escape(a->filter[k]);
			fprintf(f, "&%s=%s", filter_names[k], e ? e : "");
			free(e);
		}
	fclose(f);
	return target;
}

int cmd_bill(int argc, char **argv)
{
	struct bill_args a = { .format = "table" };
	struct client_resp resp;
	int r;

	sbx_prog = "sbx bill";
	r = bill_parse(argc, argv, &a);
	if (r)
		return r;
	if (a.verify)
		return bill_verify(sbx_socket_path(a.sock));
	bool table = !strcmp(a.format, "table");
	if (!table && strcmp(a.format, "focus") && strcmp(a.format, "cloudevents") &&
	    strcmp(a.format, "json"))
		return sbx_die("--format: \"%s\" is not table, focus, cloudevents or json",
			       a.format);
	char *target = bill_target(&a, table);
	if (!target)
		return sbx_die("out of memory");
	r = sbx_api(sbx_socket_path(a.sock), "GET", target, NULL, NULL, 0, &resp, NULL, NULL);
	free(target);
	if (r || (r = sbx_api_check(&resp))) {
		client_resp_clear(&resp);
		return r;
	}
	if (table) {
		json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
		r = j ? bill_table(j) : sbx_die("sbxd's answer is not JSON");
		json_decref(j);
	} else {
		(void)client_write_all(1, resp.body, resp.len);
	}
	client_resp_clear(&resp);
	return r;
}
