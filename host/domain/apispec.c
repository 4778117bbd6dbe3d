// SPDX-License-Identifier: MIT
/* /v1 request bodies: JSON in, checked structs out, one named error otherwise. */
#define _GNU_SOURCE
#include "apispec.h"

#include "../../sandbox/image.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sandbox/macro.h"
#include "../../sandbox/text.h"
#include "../sys/b64.h"

/* Every refusal here is -EINVAL with a one-line reason. */
#define bad(ret_error, ...) text_error(ret_error, -EINVAL, __VA_ARGS__)

void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

/* Refuses members not in @known (NULL-terminated). @where prefixes the field name. */
static int check_known(json_t *obj, const char *const *known, const char *where, char **err)
{
	const char *k;
	json_t *v;

	json_object_foreach (obj, k, v) {
		bool ok = false;
		for (const char *const *n = known; *n && !ok; n++)
			ok = !strcmp(k, *n);
		char name[68];
		if (!ok)
			return bad(err, "%s%s: unknown field", where,
				   text_printable(k, name, sizeof(name)));
	}
	return 0;
}

static int get_string(json_t *obj, const char *key, size_t max, char **ret, char **err)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return bad(err, "%s: must be a string", key);
	if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v))
		return bad(err, "%s: must be a string of at most %zu bytes without NUL", key, max);
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

static int get_argv(json_t *obj, const char *key, bool required, char ***ret, char **err)
{
	json_t *v = json_object_get(obj, key);
	size_t total = 0;

	if (!v || json_is_null(v))
		return required ? bad(err, "%s: required (an array of strings)", key) : 0;
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > API_MAX_ARGS)
		return bad(err, "%s: must be an array of 1 to %d strings", key, API_MAX_ARGS);
	char **argv = calloc(json_array_size(v) + 1, sizeof(char *));
	if (!argv)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *a = json_array_get(v, i);
		size_t n = json_string_length(a);
		total += n;
		if (!json_is_string(a) || strlen(json_string_value(a)) != n ||
		    total > API_MAX_ARG_BYTES) {
			strv_free(argv);
			return bad(err, "%s[%zu]: must be a string without NUL (%d bytes in all)",
				   key, i, API_MAX_ARG_BYTES);
		}
		if (!(argv[i] = strdup(json_string_value(a)))) {
			strv_free(argv);
			return -ENOMEM;
		}
	}
	*ret = argv;
	return 0;
}

/* An object of string values, as "K=V" (env) or key, value pairs (labels). */
static int get_string_map(json_t *obj, const char *key, size_t max, bool as_env, char ***ret,
			  char **err)
{
	json_t *v = json_object_get(obj, key), *val;
	size_t n = 0;
	const char *k;

	if (v && !json_is_null(v) && (!json_is_object(v) || json_object_size(v) > max))
		return bad(err, "%s: must be an object of at most %zu strings", key, max);
	char **out = calloc(2 * (v ? json_object_size(v) : 0) + 1, sizeof(char *));
	if (!out)
		return -ENOMEM;
	json_object_foreach (v, k, val) {
		const char *s = json_string_value(val);
		bool key_ok = k[0] && strlen(k) <= 255 && !strchr(k, '=');
		if (!json_is_string(val) || strlen(s) != json_string_length(val) || !key_ok ||
		    json_string_length(val) > 32768) {
			char name[68];
			strv_free(out);
			return bad(err, "%s.%s: must be a string (keys 1-255 bytes without '=')",
				   key, text_printable(k, name, sizeof(name)));
		}
		if (as_env ? asprintf(&out[n++], "%s=%s", k, s) < 0
			   : !(out[n++] = strdup(k)) || !(out[n++] = strdup(s))) {
			strv_free(out);
			return -ENOMEM;
		}
	}
	*ret = out;
	return 0;
}

/* Labels whose keys start "sbx." are sbxd's own (the E2B surface's template and first
 * id): a caller may not set them. */
int apispec_labels_reserved(char **labels, char **err)
{
	for (char **l = labels; l && l[0]; l += 2)
		if (!strncmp(l[0], "sbx.", 4)) {
			char name[68];
			return bad(err, "labels.%s: keys starting \"sbx.\" are sbxd's own",
				   text_printable(l[0], name, sizeof(name)));
		}
	return 0;
}

/* A size or duration: a string parsed by @parse, or a non-negative integer times @unit. */
static int get_quantity(json_t *obj, const char *key, const char *where,
			int (*parse)(const char *, uint64_t *), uint64_t unit, const char *example,
			uint64_t *ret, char **err)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    (uint64_t)json_integer_value(v) <= UINT64_MAX / unit) {
		*ret = (uint64_t)json_integer_value(v) * unit;
		return 0;
	}
	if (json_is_string(v) && parse(json_string_value(v), ret) == 0)
		return 0;
	return bad(err, "%s%s: invalid value (e.g. %s)", where, key, example);
}

static int get_cpus(json_t *obj, uint32_t *ret, char **err)
{
	json_t *v = json_object_get(obj, "cpus");
	char buf[64];

	if (!v || json_is_null(v))
		return 0;
	if (json_is_number(v)) {
		double x = json_number_value(v);
		/* Exact to a thousandth of a core; the integer parser decides the rest. */
		if (!isfinite(x) || x < 0 || x > 1e6 || fabs(x * 1000 - round(x * 1000)) > 1e-6)
			return bad(err, "limits.cpus: at most 3 decimals, between 0.01 and 1024");
		snprintf(buf, sizeof(buf), "%.3f", x);
	} else if (json_is_string(v)) {
		snprintf(buf, sizeof(buf), "%s", json_string_value(v));
	} else {
		return bad(err, "limits.cpus: must be a number such as 0.5");
	}
	if (spec_parse_cpus(buf, ret) < 0)
		return bad(err, "limits.cpus: must be between 0.01 and 1024 (e.g. 0.5)");
	return 0;
}

static int parse_user(json_t *obj, struct api_create *c, char **err)
{
	json_t *v = json_object_get(obj, "user");

	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 65535) {
		c->uid = c->gid = (uid_t)json_integer_value(v);
		c->set_user = true;
		return 0;
	}
	if (spec_parse_user(json_string_value(v), &c->uid, &c->gid) < 0)
		return bad(err, "user: must be \"UID[:GID]\" or an integer from 0 to 65535");
	c->set_user = true;
	return 0;
}

/* "100Mbit", "1gbit", "512kbit" (bits a second, decimal units), or an integer of bits a
 * second; 64kbit to 100gbit. */
static int get_net_rate(json_t *l, struct api_create *c, char **err)
{
	json_t *v = json_object_get(l, "net_rate");
	static const struct {
		const char *unit;
		uint64_t mul;
	} units[] = { { "gbit", 1000000000ULL },
		      { "mbit", 1000000ULL },
		      { "kbit", 1000ULL },
		      { "bit", 1ULL } };
	uint64_t n = 0, mul = 0;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		n = (uint64_t)json_integer_value(v), mul = 1;
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		errno = 0;
		if (isdigit((unsigned char)*s))
			n = strtoull(s, &end, 10);
		else
			end = (char *)s;
		for (size_t i = 0; i < ARRAY_SIZE(units) && !mul && end != s && errno == 0; i++)
			if (!strcasecmp(end, units[i].unit))
				mul = units[i].mul;
	}
	if (!mul || n > 100000000000ULL / mul || n * mul < 64000)
		return bad(err,
			   "limits.net_rate: must be a rate from 64kbit to 100gbit (\"100Mbit\")");
	c->netp.rate_bits = n * mul;
	return 0;
}

static int parse_limits(json_t *l, struct api_create *c, char **err)
{
	static const char *const known[] = { "memory",	     "cpus",	 "pids", "timeout",
					     "idle_timeout", "net_rate", NULL };
	uint64_t pids = 0;
	int r;

	if (!l || json_is_null(l))
		return 0;
	if (!json_is_object(l))
		return bad(err, "limits: must be an object");
	if ((r = check_known(l, known, "limits.", err)) < 0 ||
	    (r = get_quantity(l, "memory", "limits.", spec_parse_size, 1, "\"256M\"",
			      &c->limits.memory_bytes, err)) < 0 ||
	    (r = get_cpus(l, &c->limits.cpu_milli, err)) < 0 ||
	    (r = get_quantity(l, "timeout", "limits.", spec_parse_duration, 1000000000ULL,
			      "\"10m\" or 600", &c->limits.timeout_ns, err)) < 0 ||
	    (r = get_quantity(l, "idle_timeout", "limits.", spec_parse_duration, 1000000000ULL,
			      "\"5m\" or 300", &c->idle_timeout_ns, err)) < 0 ||
	    (r = get_net_rate(l, c, err)) < 0)
		return r;
	json_t *p = json_object_get(l, "pids");
	if (p && !json_is_null(p)) {
		if (!json_is_integer(p) || json_integer_value(p) < 1 ||
		    json_integer_value(p) > 4194304)
			return bad(err, "limits.pids: must be an integer from 1 to 4194304");
		pids = (uint64_t)json_integer_value(p);
	}
	c->limits.pids = pids;
	if (c->limits.memory_bytes && c->limits.memory_bytes < (4 << 20))
		return bad(err, "limits.memory: at least 4M");
	return 0;
}

int apispec_parse_cidr(const char *s, struct net_cidr *ret)
{
	char buf[19], *slash;
	unsigned long prefix = 32;
	struct in_addr a;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		char *end;
		*slash++ = '\0';
		if (!isdigit((unsigned char)*slash) || strlen(slash) > 2)
			return -EINVAL;
		prefix = strtoul(slash, &end, 10);
		if (*end || prefix > 32)
			return -EINVAL;
	}
	/* inet_pton takes exactly four decimal parts: no octal, no short forms. */
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	uint32_t mask = prefix ? htonl(~0U << (32 - prefix)) : 0;
	*ret = (struct net_cidr){ .addr = a.s_addr & mask, .prefix = (uint8_t)prefix };
	return 0;
}

bool net_cidr_has(const struct net_cidr *c, uint32_t addr)
{
	uint32_t mask = c->prefix ? htonl(~0U << (32 - c->prefix)) : 0;
	return (addr & mask) == c->addr;
}

/* "api.example.com", "*.pkg.example": labels of [a-z0-9-] (upper case folded), 1-63 each,
 * at least two, 253 at most in all; "*." only as the whole first label. */
static bool domain_valid(const char *s)
{
	size_t len = strlen(s), label = 0, labels = 1;

	if (!strncmp(s, "*.", 2))
		s += 2, len -= 2;
	if (len == 0 || len > 253 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return false;
			label = 0, labels++;
			continue;
		}
		if (!isalnum((unsigned char)*p) && !(*p == '-' && label > 0))
			return false;
		if (++label > 63)
			return false;
	}
	return labels >= 2 && s[len - 1] != '-';
}

/* allow_out or deny_out: addresses and networks into @cidrs, names into @domains. */
static int parse_net_list(json_t *v, const char *name, struct net_cidr *cidrs, unsigned *n,
			  char ***domains, char **err)
{
	size_t nd = 0, i;
	json_t *e;

	if (!json_is_array(v) || json_array_size(v) > API_MAX_NET_RULES)
		return bad(err,
			   "net.%s: must be an array of at most %d addresses, networks or "
			   "domains",
			   name, API_MAX_NET_RULES);
	*n = 0;
	json_array_foreach (v, i, e) {
		const char *s = json_string_value(e);
		char shown[68];
		if (!s || !*s || strlen(s) > 255)
			return bad(err, "net.%s[%zu]: must be an address, a network or a domain",
				   name, i);
		text_printable(s, shown, sizeof(shown));
		if (strchr(s, ':'))
			return bad(err, "net.%s[%zu]: \"%s\": IPv6 is not available to sandboxes",
				   name, i, shown);
		if (apispec_parse_cidr(s, &cidrs[*n]) == 0) {
			(*n)++;
			continue;
		}
		bool numeric = strspn(s, "0123456789./") == strlen(s);
		if (numeric || !domain_valid(s))
			return bad(err,
				   "net.%s[%zu]: \"%s\" is not an IPv4 address, a network "
				   "(\"203.0.113.0/24\") or a domain (\"api.example.com\", "
				   "\"*.example.com\")",
				   name, i, shown);
		if (!*domains && !(*domains = calloc(API_MAX_NET_RULES + 1, sizeof(char *))))
			return -ENOMEM;
		char *d = strdup(s);
		if (!d)
			return -ENOMEM;
		for (char *p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		(*domains)[nd++] = d;
	}
	return 0;
}

static int parse_ports(json_t *v, struct net_policy *p, char **err)
{
	size_t i;
	json_t *e;

	p->nports = 0;
	p->all_ports = json_is_string(v) && !strcmp(json_string_value(v), "all");
	if (p->all_ports)
		return 0;
	if (!json_is_array(v) || json_array_size(v) > API_MAX_PORTS)
		return bad(err, "net.ports: must be \"all\" or an array of at most %d TCP ports",
			   API_MAX_PORTS);
	json_array_foreach (v, i, e) {
		if (!json_is_integer(e) || json_integer_value(e) < 1 ||
		    json_integer_value(e) > 65535)
			return bad(err, "net.ports[%zu]: must be a TCP port from 1 to 65535", i);
		p->ports[p->nports++] = (uint16_t)json_integer_value(e);
	}
	return 0;
}

/* The members of the object form of "net" other than "mode". */
static int parse_net_policy(json_t *o, struct net_policy *p, char **err)
{
	json_t *v;
	int r = 0;

	if ((v = json_object_get(o, "allow_out")) && !json_is_null(v)) {
		p->allow_list = true;
		r = parse_net_list(v, "allow_out", p->allow, &p->nallow, &p->allow_domains, err);
	}
	if (r == 0 && (v = json_object_get(o, "deny_out")) && !json_is_null(v))
		r = parse_net_list(v, "deny_out", p->deny, &p->ndeny, &p->deny_domains, err);
	if (r == 0 && (v = json_object_get(o, "ports")) && !json_is_null(v))
		r = parse_ports(v, p, err);
	if (r == 0 && (v = json_object_get(o, "public")) && !json_is_null(v)) {
		if (!json_is_boolean(v))
			return bad(err, "net.public: must be true or false");
		p->public_ports = json_is_true(v);
	}
	return r;
}

static int parse_net(json_t *v, struct api_create *c, char **err)
{
	static const char *const known[] = { "mode",  "allow_out", "deny_out",
					     "ports", "public",	   NULL };
	const char *s = json_string_value(v);
	int r;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_object(v)) {
		if ((r = check_known(v, known, "net.", err)) < 0)
			return r;
		s = json_string_value(json_object_get(v, "mode"));
		if (!s || strcmp(s, "internet"))
			return bad(err, "net.mode: the object form is for \"internet\"");
		c->net = NET_INTERNET;
		return parse_net_policy(v, &c->netp, err);
	}
	if (s && !strcmp(s, "none"))
		c->net = NET_NONE;
	else if (s && !strcmp(s, "loopback"))
		c->net = NET_LOOPBACK;
	else if (s && !strcmp(s, "internet"))
		c->net = NET_INTERNET;
	else
		return bad(err, "net: must be \"none\", \"loopback\", \"internet\" or "
				"{\"mode\": \"internet\", \"allow_out\": [...], \"deny_out\": "
				"[...], \"ports\": [...]}");
	return 0;
}

static json_t *load_object(const char *body, size_t len, char **err)
{
	json_error_t jerr;
	/* NUL is allowed by the parser so stdin can carry it; other strings refuse it. */
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);

	if (!root) {
		char text[sizeof(jerr.text) + 4];
		/* jansson quotes the input near the error: it may hold control bytes. */
		bad(err, "invalid JSON at line %d: %s", jerr.line,
		    text_printable(jerr.text, text, sizeof(text)));
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		bad(err, "the body must be a JSON object");
		return NULL;
	}
	return root;
}

int apispec_parse_create(const char *body, size_t len, struct api_create *ret, char **ret_error)
{
	static const char *const known[] = {
		"image",   "cmd",      "env",	       "workdir",    "hostname", "user",
		"limits",  "net",      "gpus",	       "labels",     "seccomp",	 "writable_size",
		"user_ns", "image_id", "record_files", "on_timeout", NULL
	};
	struct api_create c = { 0 };
	json_t *root, *v;
	int r;

	*ret_error = NULL;
	if (!(root = load_object(body, len, ret_error)))
		return -EINVAL;
	if ((r = check_known(root, known, "", ret_error)) < 0 ||
	    (r = get_string(root, "image", 255, &c.image, ret_error)) < 0 ||
	    (r = get_string(root, "image_id", 64, &c.image_id, ret_error)) < 0 ||
	    (r = get_argv(root, "cmd", false, &c.cmd, ret_error)) < 0 ||
	    (r = get_string_map(root, "env", API_MAX_ENV, true, &c.env, ret_error)) < 0 ||
	    (r = get_string(root, "workdir", 4095, &c.workdir, ret_error)) < 0 ||
	    (r = get_string(root, "hostname", 63, &c.hostname, ret_error)) < 0 ||
	    (r = get_string(root, "seccomp", 4095, &c.seccomp, ret_error)) < 0 ||
	    (r = parse_user(root, &c, ret_error)) < 0 ||
	    (r = parse_limits(json_object_get(root, "limits"), &c, ret_error)) < 0 ||
	    (r = get_quantity(root, "writable_size", "", spec_parse_size, 1, "\"64M\"",
			      &c.writable_bytes, ret_error)) < 0 ||
	    (r = get_string_map(root, "labels", API_MAX_LABELS, false, &c.labels, ret_error)) < 0)
		goto out;
	if (!c.image && !(c.image = strdup("base"))) {
		r = -ENOMEM;
		goto out;
	}
	if (c.image_id && !image_id_valid(c.image_id)) {
		r = bad(ret_error, "image_id: must be 64 hex digits");
		goto out;
	}
	if (c.workdir && c.workdir[0] != '/') {
		r = bad(ret_error, "workdir: must be an absolute path");
		goto out;
	}
	if (c.hostname && !spec_hostname_valid(c.hostname)) {
		r = bad(ret_error, "hostname: 1-63 characters of A-Z a-z 0-9 - .");
		goto out;
	}
	if (c.writable_bytes && c.writable_bytes < (1 << 20)) {
		r = bad(ret_error, "writable_size: at least 1M");
		goto out;
	}
	if ((r = parse_net(json_object_get(root, "net"), &c, ret_error)) < 0)
		goto out;
	if (c.net != NET_INTERNET && c.netp.rate_bits) {
		r = bad(ret_error, "limits.net_rate: only for net \"internet\"");
		goto out;
	}
	v = json_object_get(root, "record_files");
	if (v && !json_is_boolean(v)) {
		r = bad(ret_error, "record_files: must be true or false");
		goto out;
	}
	c.record_files = json_is_true(v);
	v = json_object_get(root, "on_timeout");
	if (v && !json_is_null(v) &&
	    (!json_is_string(v) || (strcmp(json_string_value(v), "kill") &&
				    strcmp(json_string_value(v), "checkpoint")))) {
		r = bad(ret_error, "on_timeout: \"kill\" (the default) or \"checkpoint\"");
		goto out;
	}
	c.timeout_checkpoint =
		v && json_is_string(v) && !strcmp(json_string_value(v), "checkpoint");
	v = json_object_get(root, "user_ns");
	if (v && !json_is_null(v)) {
		if (!json_is_boolean(v)) {
			r = bad(ret_error, "user_ns: must be true or false");
			goto out;
		}
		/* Every sandbox has one: its root is never the host's. Asking for none is
		 * refused rather than ignored. */
		if (json_is_false(v)) {
			r = bad(ret_error, "user_ns: every sandbox has a user namespace (false is "
					   "not available)");
			goto out;
		}
	}
	v = json_object_get(root, "gpus");
	if (v && !json_is_null(v) && (!json_is_array(v) || json_array_size(v) > API_MAX_GPUS)) {
		r = bad(ret_error, "gpus: must be an array of at most %d GPU ids", API_MAX_GPUS);
		goto out;
	}
	c.gpus = calloc(json_array_size(v) + 1, sizeof(char *));
	if (!c.gpus) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(v); i++) {
		const char *g = json_string_value(json_array_get(v, i));
		if (!g || !*g || strlen(g) > 63) {
			r = bad(ret_error, "gpus[%zu]: must be a GPU id string", i);
			goto out;
		}
		if (!(c.gpus[i] = strdup(g))) {
			r = -ENOMEM;
			goto out;
		}
	}
	r = 0;
out:
	json_decref(root);
	if (r < 0) {
		api_create_clear(&c);
		return r;
	}
	*ret = c;
	return 0;
}

void api_create_clear(struct api_create *c)
{
	free(c->image);
	free(c->image_id);
	strv_free(c->cmd);
	strv_free(c->env);
	free(c->workdir);
	free(c->hostname);
	free(c->seccomp);
	strv_free(c->gpus);
	strv_free(c->labels);
	net_policy_clear(&c->netp);
	*c = (struct api_create){ 0 };
}

void net_policy_clear(struct net_policy *p)
{
	strv_free(p->allow_domains);
	strv_free(p->deny_domains);
	p->allow_domains = p->deny_domains = NULL;
}

int apispec_parse_network(const char *body, size_t len, struct net_policy *ret, char **ret_error)
{
	static const char *const known[] = { "mode",  "allow_out", "deny_out",
					     "ports", "public",	   NULL };
	struct net_policy p = { .rate_bits = ret->rate_bits };
	json_t *root, *mode;
	int r;

	*ret_error = NULL;
	if (!(root = load_object(body, len, ret_error)))
		return -EINVAL;
	mode = json_object_get(root, "mode");
	if ((r = check_known(root, known, "net.", ret_error)) == 0 && mode &&
	    (!json_is_string(mode) || strcmp(json_string_value(mode), "internet")))
		r = bad(ret_error, "net.mode: a sandbox's mode cannot change (only \"internet\")");
	if (r == 0)
		r = parse_net_policy(root, &p, ret_error);
	json_decref(root);
	if (r < 0) {
		net_policy_clear(&p);
		return r;
	}
	net_policy_clear(ret);
	*ret = p;
	return 0;
}

static json_t *net_list_json(const struct net_cidr *c, unsigned n, char **domains)
{
	json_t *a = json_array();
	char addr[INET_ADDRSTRLEN], buf[INET_ADDRSTRLEN + 8];

	for (unsigned i = 0; i < n; i++) {
		inet_ntop(AF_INET, &c[i].addr, addr, sizeof(addr));
		if (c[i].prefix != 32)
			snprintf(buf, sizeof(buf), "%s/%u", addr, c[i].prefix);
		else
			snprintf(buf, sizeof(buf), "%s", addr);
		json_array_append_new(a, json_string(buf));
	}
	for (char **d = domains; d && *d; d++)
		json_array_append_new(a, json_string(*d));
	return a;
}

json_t *net_policy_json(const struct net_policy *p)
{
	json_t *o = json_pack("{s:s}", "mode", "internet");
	json_t *ports = json_array();

	if (p->allow_list)
		json_object_set_new(o, "allow_out",
				    net_list_json(p->allow, p->nallow, p->allow_domains));
	json_object_set_new(o, "deny_out", net_list_json(p->deny, p->ndeny, p->deny_domains));
	for (unsigned i = 0; i < p->nports; i++)
		json_array_append_new(ports, json_integer(p->ports[i]));
	if (p->all_ports) {
		json_decref(ports);
		ports = json_string("all");
	}
	json_object_set_new(o, "ports", ports);
	json_object_set_new(o, "public", json_boolean(p->public_ports));
	return o;
}

int apispec_parse_exec(const char *body, size_t len, struct api_exec *ret, char **ret_error)
{
	static const char *const known[] = { "cmd",	  "env",     "workdir", "stdin",
					     "stdin_b64", "timeout", NULL };
	struct api_exec e = { 0 };
	json_t *root, *in, *in64;
	int r;

	*ret_error = NULL;
	if (!(root = load_object(body, len, ret_error)))
		return -EINVAL;
	if ((r = check_known(root, known, "", ret_error)) < 0 ||
	    (r = get_argv(root, "cmd", true, &e.cmd, ret_error)) < 0 ||
	    (r = get_string_map(root, "env", API_MAX_ENV, true, &e.env, ret_error)) < 0 ||
	    (r = get_string(root, "workdir", 4095, &e.workdir, ret_error)) < 0 ||
	    (r = get_quantity(root, "timeout", "", spec_parse_duration, 1000000000ULL,
			      "\"30s\" or 30", &e.timeout_ns, ret_error)) < 0)
		goto out;
	if (e.workdir && e.workdir[0] != '/') {
		r = bad(ret_error, "workdir: must be an absolute path");
		goto out;
	}
	in = json_object_get(root, "stdin");
	in64 = json_object_get(root, "stdin_b64");
	if (in64 && !json_is_null(in64)) {
		if (in && !json_is_null(in)) {
			r = bad(ret_error, "stdin_b64: give stdin or stdin_b64, not both");
			goto out;
		}
		if (!json_is_string(in64) ||
		    b64_decode(json_string_value(in64), json_string_length(in64), &e.stdin_data,
			       &e.stdin_len) < 0) {
			r = bad(ret_error, "stdin_b64: must be a base64 string");
			goto out;
		}
	} else if (in && !json_is_null(in)) {
		if (!json_is_string(in)) {
			r = bad(ret_error, "stdin: must be a string");
			goto out;
		}
		e.stdin_len = json_string_length(in);
		if (!(e.stdin_data = malloc(e.stdin_len + 1))) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(e.stdin_data, json_string_value(in), e.stdin_len + 1);
	}
	r = 0;
out:
	json_decref(root);
	if (r < 0) {
		api_exec_clear(&e);
		return r;
	}
	*ret = e;
	return 0;
}

void api_exec_clear(struct api_exec *e)
{
	strv_free(e->cmd);
	strv_free(e->env);
	free(e->workdir);
	free(e->stdin_data);
	free(e->tag);
	*e = (struct api_exec){ 0 };
}

bool apispec_file_path_valid(const char *path)
{
	size_t len = strlen(path);
	return len && path[0] == '/' && len < PATH_MAX;
}
