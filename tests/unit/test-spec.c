// SPDX-License-Identifier: MIT
/* Unit tests for the spec value parsers. */
#include "../../sandbox/spec.h"

#include <errno.h>

#include "harness.h"

TEST(size_units)
{
	uint64_t v;
	CHECK_EQ_INT(spec_parse_size("256M", &v), 0);
	CHECK_EQ_INT(v, 256ULL << 20);
	CHECK_EQ_INT(spec_parse_size("1g", &v), 0);
	CHECK_EQ_INT(v, 1ULL << 30);
	CHECK_EQ_INT(spec_parse_size("512KiB", &v), 0);
	CHECK_EQ_INT(v, 512ULL << 10);
	CHECK_EQ_INT(spec_parse_size("4096", &v), 0);
	CHECK_EQ_INT(v, 4096);
}

TEST(size_rejects)
{
	uint64_t v = 7;
	CHECK_EQ_INT(spec_parse_size("", &v), -EINVAL);
	CHECK_EQ_INT(spec_parse_size("-1M", &v), -EINVAL);
	CHECK_EQ_INT(spec_parse_size("1.5G", &v), -EINVAL);
	CHECK_EQ_INT(spec_parse_size("12Q", &v), -EINVAL);
	CHECK_EQ_INT(spec_parse_size("M", &v), -EINVAL);
	CHECK_EQ_INT(spec_parse_size("99999999999999999999", &v), -ERANGE);
	CHECK_EQ_INT(spec_parse_size("17179869184G", &v), -ERANGE);
	CHECK_EQ_INT(v, 7); /* unchanged on error */
}

TEST(duration)
{
	uint64_t ns;
	CHECK_EQ_INT(spec_parse_duration("30s", &ns), 0);
	CHECK_EQ_INT(ns, 30000000000ULL);
	CHECK_EQ_INT(spec_parse_duration("10m", &ns), 0);
	CHECK_EQ_INT(ns, 600000000000ULL);
	CHECK_EQ_INT(spec_parse_duration("250ms", &ns), 0);
	CHECK_EQ_INT(ns, 250000000ULL);
	CHECK_EQ_INT(spec_parse_duration("2", &ns), 0);
	CHECK_EQ_INT(ns, 2000000000ULL);
	CHECK_EQ_INT(spec_parse_duration("1h", &ns), 0);
	CHECK_EQ_INT(ns, 3600000000000ULL);
	CHECK_EQ_INT(spec_parse_duration("1d", &ns), -EINVAL);
	CHECK_EQ_INT(spec_parse_duration("s", &ns), -EINVAL);
	CHECK_EQ_INT(spec_parse_duration("99999999999h", &ns), -ERANGE);
}

TEST(cpus_fixed_point)
{
	uint32_t m;
	CHECK_EQ_INT(spec_parse_cpus("0.5", &m), 0);
	CHECK_EQ_INT(m, 500);
	CHECK_EQ_INT(spec_parse_cpus("2", &m), 0);
	CHECK_EQ_INT(m, 2000);
	CHECK_EQ_INT(spec_parse_cpus("1.25", &m), 0);
	CHECK_EQ_INT(m, 1250);
	CHECK_EQ_INT(spec_parse_cpus("0.01", &m), 0);
	CHECK_EQ_INT(m, 10);
	CHECK_EQ_INT(spec_parse_cpus("0.011", &m), 0);
	CHECK_EQ_INT(m, 11);
	CHECK_EQ_INT(spec_parse_cpus("1024", &m), 0);
	CHECK_EQ_INT(m, 1024000);
}

TEST(cpus_rejects)
{
	uint32_t m;
	/* Below the kernel's shortest quota (1 ms a 100 ms period). */
	CHECK_EQ_INT(spec_parse_cpus("0.001", &m), -ERANGE);
	CHECK_EQ_INT(spec_parse_cpus("0.009", &m), -ERANGE);
	CHECK_EQ_INT(spec_parse_cpus("0", &m), -ERANGE);
	CHECK_EQ_INT(spec_parse_cpus("0.0004", &m), -EINVAL);
	CHECK_EQ_INT(spec_parse_cpus("-1", &m), -EINVAL);
	CHECK_EQ_INT(spec_parse_cpus("1.", &m), -EINVAL);
	CHECK_EQ_INT(spec_parse_cpus(".5", &m), -EINVAL);
	CHECK_EQ_INT(spec_parse_cpus("1e3", &m), -EINVAL);
	CHECK_EQ_INT(spec_parse_cpus("1024.001", &m), -ERANGE);
	CHECK_EQ_INT(spec_parse_cpus("99999999999999999999", &m), -ERANGE);
}

TEST(hostname)
{
	CHECK(spec_hostname_valid("sbx"));
	CHECK(spec_hostname_valid("a-b.c9"));
	CHECK(!spec_hostname_valid(""));
	CHECK(!spec_hostname_valid("-lead"));
	CHECK(!spec_hostname_valid("has space"));
	CHECK(!spec_hostname_valid("semi;colon"));
	CHECK(!spec_hostname_valid(
		"0123456789012345678901234567890123456789012345678901234567890123"));
}

TEST(user)
{
	uid_t u;
	gid_t g;
	CHECK_EQ_INT(spec_parse_user("1000", &u, &g), 0);
	CHECK_EQ_INT(u, 1000);
	CHECK_EQ_INT(g, 1000);
	CHECK_EQ_INT(spec_parse_user("0:65535", &u, &g), 0);
	CHECK_EQ_INT(u, 0);
	CHECK_EQ_INT(g, 65535);
	/* Digits only, both sides, each an id of the sandbox. */
	const char *bad[] = { "",      "1000:",	  ":1000", " 1000", "1000 ",  "+1",   "-1",
			      "65536", "1:65536", "0x10",  "1:2:3", "000001", "root", NULL };
	for (const char **b = bad; *b; b++)
		CHECK_EQ_INT(spec_parse_user(*b, &u, &g), -EINVAL);
}
