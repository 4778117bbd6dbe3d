// SPDX-License-Identifier: MIT
/* Unit tests for the rate card and the ledger's arithmetic: integers only. */
#define _GNU_SOURCE
#include "../../host/billing/rates.h"

#include <errno.h>

#include "harness.h"

static struct rates *parse_ok(const char *text)
{
	struct rates *r = NULL;
	char *err = NULL;
	int rc = rates_parse("card.json", text, strlen(text), &r, &err);
	if (rc < 0)
		fprintf(stderr, "unexpected error: %s\n", err);
	CHECK_EQ_INT(rc, 0);
	free(err);
	return r;
}

/* The error for @text, which must contain @want. */
static void parse_bad(const char *text, const char *want)
{
	struct rates *r = NULL;
	char *err = NULL;
	CHECK_EQ_INT(rates_parse("card.json", text, strlen(text), &r, &err), -EINVAL);
	CHECK(err != NULL);
	if (!strstr(err, want)) {
		fprintf(stderr, "error \"%s\" does not contain \"%s\"\n", err, want);
		exit(1);
	}
	CHECK(!strchr(err, '\n'));
	free(err);
}

TEST(decimals_exact)
{
	uint64_t n;
	char buf[32];
	CHECK_EQ_INT(rates_parse_nano("0.000014", &n), 0);
	CHECK_EQ_INT(n, 14000);
	CHECK_EQ_INT(rates_parse_nano("12", &n), 0);
	CHECK_EQ_INT(n, 12000000000ULL);
	CHECK_EQ_INT(rates_parse_nano("0.000000001", &n), 0);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(rates_parse_nano("0.0000000001", &n), -ERANGE);
	CHECK_EQ_INT(rates_parse_nano("-1", &n), -EINVAL);
	CHECK_EQ_INT(rates_parse_nano("1e-6", &n), -EINVAL);
	CHECK_EQ_INT(rates_parse_nano(".5", &n), -EINVAL);
	CHECK_EQ_INT(rates_parse_nano("5.", &n), -EINVAL);
	CHECK_EQ_INT(rates_parse_nano("99999999999999999999", &n), -ERANGE);
	CHECK(!strcmp(rates_format_nano(14000, buf, sizeof(buf)), "0.000014000"));
	CHECK(!strcmp(rates_format_nano(12000000001ULL, buf, sizeof(buf)), "12.000000001"));
}

TEST(cost_rounding)
{
	/* 0.000014 per core-second x 0.5 core x 60 s = 30 core-seconds -> 0.00042 */
	uint64_t q = rates_pricing_quantity(30ULL * 1000000000ULL, 1000000000ULL);
	CHECK_EQ_INT(q, 30000000000ULL);
	CHECK_EQ_INT(rates_cost(14000, q), 420000);
	/* half up at the nano: 1 nano x 0.5 unit -> 0.5 nano -> 1 */
	CHECK_EQ_INT(rates_cost(1, 500000000), 1);
	CHECK_EQ_INT(rates_cost(1, 499999999), 0);
	/* memory: 256 MiB for 1 s = 0.25 GiB-s, in byte-ms per GiB-s */
	uint64_t per = (1ULL << 30) * 1000;
	CHECK_EQ_INT(rates_pricing_quantity((256ULL << 20) * 1000, per), 250000000);
	/* a third rounds half up at the 9th decimal */
	CHECK_EQ_INT(rates_pricing_quantity(1, 3), 333333333);
	CHECK_EQ_INT(rates_pricing_quantity(2, 3), 666666667);
	/* no overflow: a large price by a large quantity saturates rather than wraps */
	CHECK(rates_cost(UINT64_MAX, UINT64_MAX) == UINT64_MAX);
	CHECK_EQ_INT(rates_cost(1000000000ULL * 1000, 1000000000ULL * 1000000),
		     1000000000ULL * 1000 * 1000000);
}

TEST(default_card)
{
	struct rates *r;
	uint64_t list, con;
	CHECK_EQ_INT(rates_default(&r), 0);
	CHECK(!strcmp(r->currency, "USD"));
	CHECK(strstr(r->source, "E2B") && strstr(r->source, "Modal"));
	CHECK_EQ_INT(rates_price(r, NULL, "cpu-core-second", &list, &con), 0);
	CHECK_EQ_INT(list, 14000);
	CHECK_EQ_INT(rates_price(r, NULL, "memory-gib-second", &list, &con), 0);
	CHECK_EQ_INT(list, 4500);
	CHECK_EQ_INT(rates_price(r, NULL, "gpu-h100-second", &list, &con), 0);
	CHECK_EQ_INT(list, 1097000);
	/* an unknown model takes the default GPU price */
	CHECK_EQ_INT(rates_price(r, NULL, "gpu-stand-in-second", &list, &con), 0);
	CHECK_EQ_INT(list, 1097000);
	CHECK_EQ_INT(rates_price(r, NULL, "nonsense", &list, &con), -ENOENT);
	CHECK(r->cpu_policy == POLICY_ALLOCATED && r->memory_policy == POLICY_ALLOCATED);
	CHECK_EQ_INT(r->minimum_ns, 1000000000ULL);
	rates_free(r);
}

TEST(policies_and_overrides)
{
	struct rates *r = parse_ok(
		"{\"currency\":\"EUR\",\"prices\":{\"cpu-core-second\":\"0.00002\","
		"\"gpu-default-second\":\"0.001\"},"
		"\"policy\":{\"cpu\":\"max\",\"memory\":\"used\"},"
		"\"defaults\":{\"cpus\":\"2\",\"memory\":\"1G\"},\"minimum_seconds\":60,"
		"\"tenants\":{\"acme\":{\"discount\":\"10%\"},"
		"\"big\":{\"discount\":\"0.5\",\"prices\":{\"cpu-core-second\":\"0.00001\"}}}}");
	uint64_t list, con;
	CHECK(r->cpu_policy == POLICY_MAX && r->memory_policy == POLICY_USED);
	CHECK_EQ_INT(r->default_cpu_milli, 2000);
	CHECK_EQ_INT(r->default_memory_bytes, 1ULL << 30);
	CHECK_EQ_INT(r->minimum_ns, 60000000000ULL);
	CHECK_EQ_INT(rates_price(r, "acme", "cpu-core-second", &list, &con), 0);
	CHECK_EQ_INT(list, 20000);
	CHECK_EQ_INT(con, 18000);
	/* own price, then the discount */
	CHECK_EQ_INT(rates_price(r, "big", "cpu-core-second", &list, &con), 0);
	CHECK_EQ_INT(list, 20000);
	CHECK_EQ_INT(con, 5000);
	CHECK_EQ_INT(rates_price(r, "big", "gpu-x-second", &list, &con), 0);
	CHECK_EQ_INT(con, 500000);
	/* others pay the list */
	CHECK_EQ_INT(rates_price(r, "other", "cpu-core-second", &list, &con), 0);
	CHECK_EQ_INT(con, 20000);
	rates_free(r);
}

TEST(gpu_sku)
{
	char b[64];
	rates_gpu_sku("NVIDIA H100 80GB HBM3", b, sizeof(b));
	CHECK(!strcmp(b, "gpu-nvidia-h100-80gb-hbm3-second"));
	rates_gpu_sku("Stand-In", b, sizeof(b));
	CHECK(!strcmp(b, "gpu-stand-in-second"));
}

TEST(refused_with_line_and_field)
{
	parse_bad("{\"currency\":\"USD\",\n\"prices\":{\n\"cpu-core-second\":0.000014}}",
		  "card.json:3: prices.cpu-core-second: write prices as decimal strings");
	parse_bad("{\"currency\":\"USD\",\"prices\":{\"cpu-core-second\":\"-1\"}}",
		  "prices.cpu-core-second: must be a non-negative decimal");
	parse_bad("{\"currency\":\"USD\",\"prices\":{\"cpu\":\"0.0000000001\"}}",
		  "at most 9 decimals");
	parse_bad("{\"currency\":\"usd\",\"prices\":{}}", "currency: an ISO 4217 code");
	parse_bad("{\"prices\":{}}", "currency");
	parse_bad("{\"currency\":\"USD\"}", "prices: is required");
	parse_bad("{\"currency\":\"USD\",\"prices\":{},\"colour\":1}", "colour: unknown field");
	parse_bad("{\"currency\":\"USD\",\"prices\":{},\n\"policy\":{\"cpu\":\"sometimes\"}}",
		  "card.json:2: policy.cpu: must be \"allocated\", \"used\" or \"max\"");
	parse_bad("{\"currency\":\"USD\",\"prices\":{\"CPU\":\"1\"}}", "a SKU is 1-63 of a-z");
	parse_bad(
		"{\"currency\":\"USD\",\"prices\":{},\"tenants\":{\"a\":{\"discount\":\"120%\"}}}",
		"tenants.a.discount: between 0% and 100%");
	parse_bad("{\"currency\":\"USD\",\"prices\":{},\"tenants\":{\"a\":{\"rebate\":1}}}",
		  "tenants.a.rebate: unknown field");
	parse_bad("{\"currency\":\"USD\",\"prices\":{},\"minimum_seconds\":-1}", "minimum_seconds");
	parse_bad("{\"currency\":\"USD\",\"prices\":{},\"defaults\":{\"memory\":\"lots\"}}",
		  "defaults.memory");
	parse_bad("{\"currency\": \"USD\", \"prices\": {", "card.json:1:");
	parse_bad("[]", "a rate card is a JSON object");
}
