// SPDX-License-Identifier: MIT
/* Pure parsers for sandbox spec values. Integers only: CPUs are fixed-point. */
#include "spec.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int parse_u64_prefix(const char **p, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*p = s;
	*ret = v;
	return 0;
}

int spec_parse_size(const char *s, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} units[] = {
		{ "", 0 },     { "b", 0 },   { "k", 10 },   { "kb", 10 },  { "kib", 10 },
		{ "m", 20 },   { "mb", 20 }, { "mib", 20 }, { "g", 30 },   { "gb", 30 },
		{ "gib", 30 }, { "t", 40 },  { "tb", 40 },  { "tib", 40 },
	};
	uint64_t v;
	int r;

	if (!s)
		return -EINVAL;
	r = parse_u64_prefix(&s, &v);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(s, units[i].suffix) != 0)
			continue;
		if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
			return -ERANGE;
		*ret = v << units[i].shift;
		return 0;
	}
	return -EINVAL;
}

int spec_parse_duration(const char *s, uint64_t *ret_ns)
{
	static const struct {
		const char *suffix;
		uint64_t ns;
	} units[] = {
		{ "", 1000000000ULL },	   { "s", 1000000000ULL },  { "ms", 1000000ULL },
		{ "us", 1000ULL },	   { "m", 60000000000ULL }, { "min", 60000000000ULL },
		{ "h", 3600000000000ULL },
	};
	uint64_t v;
	int r;

	if (!s)
		return -EINVAL;
	r = parse_u64_prefix(&s, &v);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s, units[i].suffix) != 0)
			continue;
		if (v > UINT64_MAX / units[i].ns)
			return -ERANGE;
		*ret_ns = v * units[i].ns;
		return 0;
	}
	return -EINVAL;
}

int spec_parse_cpus(const char *s, uint32_t *ret_milli)
{
	uint64_t whole, frac = 0;
	unsigned digits = 0;
	int r;

	if (!s)
		return -EINVAL;
	r = parse_u64_prefix(&s, &whole);
	if (r < 0)
		return r;
	if (*s == '.') {
		s++;
		for (; isdigit((unsigned char)*s); s++, digits++) {
			if (digits == 3)
				return -EINVAL; /* finer than a thousandth of a core */
			frac = frac * 10 + (uint64_t)(*s - '0');
		}
		if (digits == 0)
			return -EINVAL;
	}
	if (*s != '\0')
		return -EINVAL;
	while (digits++ < 3)
		frac *= 10;
	if (whole > 1024 || (whole == 1024 && frac > 0))
		return -ERANGE;
	/* The kernel's shortest quota is 1 ms of its 100 ms period. */
	if (whole == 0 && frac < 10)
		return -ERANGE;
	*ret_milli = (uint32_t)(whole * 1000 + frac);
	return 0;
}

uint64_t spec_host_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}

static int parse_id(const char **s, unsigned *ret)
{
	unsigned v = 0, n = 0;
	for (; isdigit((unsigned char)**s); (*s)++)
		if (++n > 5 || (v = v * 10 + (unsigned)(**s - '0')) > 65535)
			return -EINVAL;
	if (!n)
		return -EINVAL;
	*ret = v;
	return 0;
}

int spec_parse_user(const char *s, uid_t *ret_uid, gid_t *ret_gid)
{
	unsigned u, g;

	if (!s || parse_id(&s, &u) < 0)
		return -EINVAL;
	g = u;
	if (*s == ':' && (s++, parse_id(&s, &g) < 0))
		return -EINVAL;
	if (*s)
		return -EINVAL;
	*ret_uid = (uid_t)u;
	*ret_gid = (gid_t)g;
	return 0;
}

bool spec_oci_id_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n && n <= SPEC_OCI_ID_MAX && strcmp(s, ".") && strcmp(s, "..") &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.") == n;
}

bool spec_hostname_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 63 || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
			return false;
	return true;
}
