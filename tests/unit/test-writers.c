// SPDX-License-Identifier: MIT
/* Unit tests for the export formats of ledger rows: FOCUS CSV (its escaping), the JSON
 * object of a row, CloudEvents lines, the JSON export, and the times they carry. */
#define _GNU_SOURCE
#include "../../host/billing/writers.h"

#include <errno.h>
#include <inttypes.h>

#include "harness.h"

#define SEC 1000000000LL
#define T0 (1800000000LL * SEC) /* 2027-01-15T08:00:00Z */

#define HASH "abababababababababababababababababababababababababababababababab"
#define GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

static struct ledger_row sample(void)
{
	struct ledger_row w = {
		.id = "0123456789:cpu-core-second:1800000000000000000",
		.tenant = "acme",
		.sandbox = "0123456789",
		.sku = "cpu-core-second",
		.unit = "core-nanoseconds",
		.pricing_unit = "core-seconds",
		.currency = "USD",
		.labels = "{\"team\":\"ml, ai\"}",
		.policy = "allocated",
		.start_ns = T0,
		.end_ns = T0 + 60 * SEC,
		.quantity = 30 * SEC,
		.pricing_quantity_nano = 30 * SEC,
		.list_unit_price_nano = 14000,
		.unit_price_nano = 18000,
		.list_cost_nano = 420000,
		.cost_nano = 540000,
		.prev_hash = GENESIS,
		.hash = HASH,
	};
	return w;
}

/* What @fn writes for @row (caller frees). */
static char *written(void (*fn)(FILE *f, const struct ledger_row *row), const struct ledger_row *w)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	CHECK(f != NULL);
	fn(f, w);
	fclose(f);
	return buf;
}

static char *field(const char *s, bool last)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	CHECK(f != NULL);
	writers_csv_field(f, s, last);
	fclose(f);
	return buf;
}

static void field_is(const char *s, const char *want)
{
	char *got = field(s, false);
	if (strcmp(got, want)) {
		fprintf(stderr, "field \"%s\" written as \"%s\", expected \"%s\"\n", s, got, want);
		exit(1);
	}
	free(got);
}

/* An RFC 4180 reader: the fields of the record at *@p (advanced past it), or -1. */
static int csv_read(const char **p, char fields[][256], int max)
{
	int n = 0;
	const char *s = *p;
	for (;;) {
		size_t k = 0;
		CHECK(n < max);
		if (*s == '"') {
			for (s++;; s++) {
				if (!*s)
					return -1;
				if (*s == '"' && s[1] == '"')
					s++;
				else if (*s == '"')
					break;
				CHECK(k < 255);
				fields[n][k++] = *s;
			}
			s++;
		} else {
			for (; *s && *s != ',' && *s != '\n'; s++) {
				if (*s == '"' || *s == '\r')
					return -1; /* bare in an unquoted field */
				CHECK(k < 255);
				fields[n][k++] = *s;
			}
		}
		fields[n++][k] = '\0';
		if (*s == ',') {
			s++;
			continue;
		}
		if (*s != '\n')
			return -1;
		*p = s + 1;
		return n;
	}
}

TEST(csv_escaping)
{
	field_is("plain", "plain,");
	field_is("", ",");
	field_is("a,b", "\"a,b\",");
	field_is("say \"hi\"", "\"say \"\"hi\"\"\",");
	field_is("\"", "\"\"\"\",");
	field_is("two\nlines", "\"two\nlines\",");
	field_is("cr\rhere", "\"cr\rhere\",");
	field_is("{\"team\":\"ml\"}", "\"{\"\"team\"\":\"\"ml\"\"}\",");
	/* Tabs, spaces and semicolons need no quotes. */
	field_is(" a\tb;c ", " a\tb;c ,");
	/* UTF-8 (and any other byte) goes through as it is. */
	field_is("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac,");
	field_is("\xff\xfe", "\xff\xfe,");
	char *last = field("end", true);
	CHECK(!strcmp(last, "end\n"));
	free(last);
}

TEST(csv_formula_characters_kept)
{
	/* No defence against spreadsheet formulas: a field starting with =, +, - or @ is
	 * written unchanged (quoted only for the usual reasons). The fields the ledger fills
	 * do not start so (numbers are never negative; Tags is a JSON object). */
	field_is("=1+2", "=1+2,");
	field_is("+1", "+1,");
	field_is("-1", "-1,");
	field_is("@SUM(A1)", "@SUM(A1),");
	field_is("=HYPERLINK(\"x\")", "\"=HYPERLINK(\"\"x\"\")\",");
}

TEST(csv_round_trip)
{
	static const char *const nasty[] = {
		"a,b",
		"\"",
		"\"\"",
		"x\"y\"z",
		"l1\nl2\r\nl3",
		",,,",
		"\n",
		"caf\xc3\xa9,\"\n",
		"=cmd|' /C calc'!A0",
		"",
	};
	for (size_t i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++) {
		char *a = field(nasty[i], false), *b = field("next", true), *rec;
		CHECK(asprintf(&rec, "%s%s", a, b) > 0);
		char f[4][256];
		const char *p = rec;
		CHECK_EQ_INT(csv_read(&p, f, 4), 2);
		CHECK(!*p);
		if (strcmp(f[0], nasty[i])) {
			fprintf(stderr, "\"%s\" read back as \"%s\"\n", nasty[i], f[0]);
			exit(1);
		}
		CHECK(!strcmp(f[1], "next"));
		free(a);
		free(b);
		free(rec);
	}
}

TEST(focus_header)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	writers_focus_header(f);
	fclose(f);
	CHECK(!strcmp(buf, "BilledCost,EffectiveCost,ListCost,ListUnitPrice,ContractedCost,"
			   "ContractedUnitPrice,PricingQuantity,PricingUnit,ConsumedQuantity,"
			   "ConsumedUnit,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,"
			   "ChargeDescription,BillingCurrency,ResourceId,ResourceType,SkuId,"
			   "ServiceName,ServiceCategory,Tags,x_RowId,x_Tenant,x_Policy,x_Hash\n"));
	free(buf);
}

TEST(focus_row)
{
	struct ledger_row w = sample();
	char *line = written(writers_focus_row, &w);
	CHECK(!strcmp(line,
		      "0.000540000,0.000540000,0.000420000,0.000014000,0.000540000,"
		      "0.000018000,30.000000000,core-seconds,30000000000,core-nanoseconds,"
		      "2027-01-15T08:00:00Z,2027-01-15T08:01:00Z,Usage,"
		      "cpu-core-second of sandbox 0123456789,USD,0123456789,Sandbox,"
		      "cpu-core-second,sbx,Compute,\"{\"\"team\"\":\"\"ml, ai\"\"}\","
		      "0123456789:cpu-core-second:1800000000000000000,acme,allocated," HASH "\n"));
	/* It reads back as the header's 25 columns. */
	char f[32][256];
	const char *p = line;
	CHECK_EQ_INT(csv_read(&p, f, 32), 25);
	CHECK(!strcmp(f[20], "{\"team\":\"ml, ai\"}"));
	free(line);
}

TEST(focus_row_snapshot)
{
	struct ledger_row w = sample();
	w.sandbox = "snap-0123456789";
	w.sku = "snapshot-gib-hour";
	w.labels = "{}";
	w.start_ns = T0 + 1;
	w.end_ns = T0 + SEC / 2;
	char *line = written(writers_focus_row, &w);
	char f[32][256];
	const char *p = line;
	CHECK_EQ_INT(csv_read(&p, f, 32), 25);
	CHECK(!strcmp(f[10], "2027-01-15T08:00:00.000000001Z"));
	CHECK(!strcmp(f[11], "2027-01-15T08:00:00.500000000Z"));
	CHECK(!strcmp(f[13], "snapshot-gib-hour of snapshot snap-0123456789"));
	CHECK(!strcmp(f[16], "Snapshot"));
	CHECK(!strcmp(f[19], "Storage"));
	CHECK(!strcmp(f[20], "{}"));
	free(line);
}

TEST(focus_row_hostile_strings)
{
	/* Whatever a row's strings hold, the record keeps its 25 columns and its bytes. */
	struct ledger_row w = sample();
	w.labels = "{\"k\":\"a\\\"b\",\"n\":\"x\ny\"}";
	w.tenant = "=evil,\"t\"\r\n";
	char *line = written(writers_focus_row, &w);
	char f[32][256];
	const char *p = line;
	CHECK_EQ_INT(csv_read(&p, f, 32), 25);
	CHECK(!*p);
	CHECK(!strcmp(f[20], w.labels));
	CHECK(!strcmp(f[22], w.tenant));
	free(line);
}

TEST(row_json)
{
	struct ledger_row w = sample();
	json_t *j = writers_row_json(&w);
	CHECK(j != NULL);
	CHECK_EQ_INT(json_object_size(j), 22);
	CHECK(!strcmp(json_string_value(json_object_get(j, "id")), w.id));
	CHECK(!strcmp(json_string_value(json_object_get(j, "tenant")), "acme"));
	CHECK(!strcmp(json_string_value(json_object_get(j, "sandbox")), "0123456789"));
	CHECK(!strcmp(json_string_value(json_object_get(j, "sku")), "cpu-core-second"));
	CHECK_EQ_INT(json_integer_value(json_object_get(j, "start_ns")), T0);
	CHECK_EQ_INT(json_integer_value(json_object_get(j, "end_ns")), T0 + 60 * SEC);
	CHECK(!strcmp(json_string_value(json_object_get(j, "start")), "2027-01-15T08:00:00Z"));
	CHECK(!strcmp(json_string_value(json_object_get(j, "end")), "2027-01-15T08:01:00Z"));
	CHECK_EQ_INT(json_integer_value(json_object_get(j, "quantity")), 30 * SEC);
	CHECK(!strcmp(json_string_value(json_object_get(j, "unit")), "core-nanoseconds"));
	/* Money and pricing quantities as decimal strings, exact to the nano. */
	CHECK(!strcmp(json_string_value(json_object_get(j, "pricing_quantity")), "30.000000000"));
	CHECK(!strcmp(json_string_value(json_object_get(j, "pricing_unit")), "core-seconds"));
	CHECK(!strcmp(json_string_value(json_object_get(j, "list_unit_price")), "0.000014000"));
	CHECK(!strcmp(json_string_value(json_object_get(j, "unit_price")), "0.000018000"));
	CHECK(!strcmp(json_string_value(json_object_get(j, "list_cost")), "0.000420000"));
	CHECK(!strcmp(json_string_value(json_object_get(j, "cost")), "0.000540000"));
	CHECK_EQ_INT(json_integer_value(json_object_get(j, "cost_nano")), 540000);
	CHECK(!strcmp(json_string_value(json_object_get(j, "currency")), "USD"));
	CHECK(!strcmp(json_string_value(json_object_get(j, "policy")), "allocated"));
	/* Labels as an object, not a string. */
	json_t *labels = json_object_get(j, "labels");
	CHECK(json_is_object(labels));
	CHECK(!strcmp(json_string_value(json_object_get(labels, "team")), "ml, ai"));
	CHECK(!strcmp(json_string_value(json_object_get(j, "prev_hash")), GENESIS));
	CHECK(!strcmp(json_string_value(json_object_get(j, "hash")), HASH));
	json_decref(j);

	/* Labels that are not JSON become an empty object. */
	w.labels = "not json";
	j = writers_row_json(&w);
	CHECK(json_is_object(json_object_get(j, "labels")));
	CHECK_EQ_INT(json_object_size(json_object_get(j, "labels")), 0);
	json_decref(j);
}

TEST(row_json_utf8)
{
	struct ledger_row w = sample();
	w.labels = "{\"owner\":\"Jos\xc3\xa9 \xe6\x97\xa5\"}";
	json_t *j = writers_row_json(&w);
	char *s = json_dumps(j, JSON_COMPACT);
	/* UTF-8 stays as it is in the output, not \u escapes. */
	CHECK_STR_CONTAINS(s, "\"owner\":\"Jos\xc3\xa9 \xe6\x97\xa5\"");
	free(s);
	json_decref(j);
	/* A string that is not UTF-8 cannot be a JSON row. */
	w.tenant = "bad\xff";
	CHECK(writers_row_json(&w) == NULL);
}

static char *event(const struct ledger_row *w)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	CHECK(f != NULL);
	writers_cloudevent(f, "sbx://host1", w);
	fclose(f);
	return buf;
}

TEST(cloudevent)
{
	struct ledger_row w = sample();
	char *line = event(&w);
	/* One line, keys sorted, nothing after its newline. */
	size_t n = strlen(line);
	CHECK(n > 0 && line[n - 1] == '\n' && !memchr(line, '\n', n - 1));
	CHECK(!strncmp(line, "{\"data\":{", 9));
	json_error_t jerr;
	json_t *ev = json_loads(line, 0, &jerr);
	CHECK(ev != NULL);
	CHECK_EQ_INT(json_object_size(ev), 8);
	CHECK(!strcmp(json_string_value(json_object_get(ev, "specversion")), "1.0"));
	/* id = row id: a retried delivery is the same event. */
	CHECK(!strcmp(json_string_value(json_object_get(ev, "id")), w.id));
	CHECK(!strcmp(json_string_value(json_object_get(ev, "source")), "sbx://host1"));
	CHECK(!strcmp(json_string_value(json_object_get(ev, "type")), "sbx.usage.cpu-core-second"));
	CHECK(!strcmp(json_string_value(json_object_get(ev, "subject")), "acme"));
	CHECK(!strcmp(json_string_value(json_object_get(ev, "time")), "2027-01-15T08:01:00Z"));
	CHECK(!strcmp(json_string_value(json_object_get(ev, "datacontenttype")),
		      "application/json"));
	json_t *row = writers_row_json(&w);
	CHECK(json_equal(json_object_get(ev, "data"), row));
	json_decref(row);
	json_decref(ev);
	/* The same row, the same bytes. */
	char *again = event(&w);
	CHECK(!strcmp(line, again));
	free(again);
	free(line);
}

TEST(cloudevent_of_bad_row)
{
	/* A row that cannot be JSON writes no line at all (not half of one). */
	struct ledger_row w = sample();
	w.sku = "\xc3(";
	char *line = event(&w);
	CHECK(!strcmp(line, ""));
	free(line);
}

TEST(usage_json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	writers_usage_json(f, "USD", json_array(), 0, 0);
	fclose(f);
	CHECK(!strcmp(buf,
		      "{\"currency\":\"USD\",\"rows\":[],\"count\":0,\"total\":\"0.000000000\","
		      "\"total_nano\":0}\n"));
	free(buf);

	struct ledger_row w = sample();
	json_t *rows = json_array();
	json_array_append_new(rows, writers_row_json(&w));
	json_array_append_new(rows, writers_row_json(&w));
	f = open_memstream(&buf, &len);
	writers_usage_json(f, "EUR", rows, 2, 1080000);
	fclose(f);
	json_error_t jerr;
	json_t *j = json_loads(buf, 0, &jerr);
	CHECK(j != NULL);
	CHECK(!strcmp(json_string_value(json_object_get(j, "currency")), "EUR"));
	CHECK_EQ_INT(json_array_size(json_object_get(j, "rows")), 2);
	CHECK_EQ_INT(json_integer_value(json_object_get(j, "count")), 2);
	CHECK(!strcmp(json_string_value(json_object_get(j, "total")), "0.001080000"));
	CHECK_EQ_INT(json_integer_value(json_object_get(j, "total_nano")), 1080000);
	CHECK(buf[strlen(buf) - 1] == '\n');
	json_decref(j);
	free(buf);
}

static void time_is(const char *s, int64_t want)
{
	int64_t got = -1;
	CHECK_EQ_INT(writers_parse_time(s, &got), 0);
	if (got != want) {
		fprintf(stderr, "\"%s\" parsed as %" PRId64 ", expected %" PRId64 "\n", s, got,
			want);
		exit(1);
	}
}

static void time_refused(const char *s)
{
	int64_t got = 12345;
	CHECK_EQ_INT(writers_parse_time(s, &got), -EINVAL);
	CHECK_EQ_INT(got, 12345);
}

TEST(parse_time)
{
	time_is("2027-01-15T08:00:00Z", T0);
	time_is("2027-01-15T08:00:00+00:00", T0);
	time_is("2027-01-15T08:00:00.5Z", T0 + SEC / 2);
	time_is("2027-01-15T08:00:00.000000001Z", T0 + 1);
	/* Digits past the nanosecond are dropped, not rounded. */
	time_is("2027-01-15T08:00:00.9999999999Z", T0 + SEC - 1);
	time_is("1970-01-01T00:00:00Z", 0);
	time_refused("2027-01-15T08:00:00");
	time_refused("2027-01-15T08:00:00+01:00");
	time_refused("2027-01-15T08:00:00z");
	time_refused("2027-01-15T08:00:00Zjunk");
	time_refused("2027-01-15 08:00:00Z");
	time_refused("2027-01-15");
	time_refused("1969-12-31T23:59:59Z");
	time_refused("2027-13-15T08:00:00Z");
	time_refused("yesterday");
	time_refused("");
}

TEST(format_time)
{
	char buf[64];
	writers_format_time(T0, buf, sizeof(buf));
	CHECK(!strcmp(buf, "2027-01-15T08:00:00Z"));
	writers_format_time(T0 + 1, buf, sizeof(buf));
	CHECK(!strcmp(buf, "2027-01-15T08:00:00.000000001Z"));
	writers_format_time(T0 + 60 * SEC + SEC / 4, buf, sizeof(buf));
	CHECK(!strcmp(buf, "2027-01-15T08:01:00.250000000Z"));
	writers_format_time(0, buf, sizeof(buf));
	CHECK(!strcmp(buf, "1970-01-01T00:00:00Z"));
	/* What is written parses back to the same instant. */
	static const int64_t t[] = { T0, T0 + 1, T0 + 123456789, 1, 4102444800LL * SEC - 1 };
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t back = -1;
		writers_format_time(t[i], buf, sizeof(buf));
		CHECK_EQ_INT(writers_parse_time(buf, &back), 0);
		CHECK_EQ_INT(back, t[i]);
	}
}
