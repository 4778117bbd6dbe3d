// SPDX-License-Identifier: MIT
/* A bundle's config.json as sbx honours it. Every field is either honoured or refused
 * by its name: nothing is passed over in silence. The table in docs/oci.md lists them. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/resource.h>

#include "../../sandbox/macro.h"
#include "../../sandbox/text.h"
#include "oci.h"

/* A key of @obj that is not in @known: refused by name. */
static int keys_known(json_t *obj, const char *where, const char *const *known)
{
	const char *key;
	json_t *v;

	json_object_foreach (obj, key, v) {
		bool ok = false;
		for (const char *const *k = known; *k && !ok; k++)
			ok = !strcmp(*k, key);
		if (!ok)
			return oci_error("config: %s%s%s: not supported by sbx-oci", where,
					 where[0] ? "." : "", key);
	}
	return 0;
}

/* A field that sbx cannot honour is refused when it asks for anything (it may be there,
 * empty or null). */
static bool is_empty(json_t *v)
{
	return !v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)) ||
	       (json_is_array(v) && !json_array_size(v)) ||
	       (json_is_object(v) && !json_object_size(v)) || json_is_false(v) ||
	       (json_is_integer(v) && !json_integer_value(v));
}

static int refuse_set(json_t *obj, const char *where, const char *key, const char *why)
{
	if (is_empty(json_object_get(obj, key)))
		return 0;
	return oci_error("config: %s%s%s: %s", where, where[0] ? "." : "", key, why);
}

/* Fields of one object that sbx refuses, each with why; the list ends with a NULL key. */
struct refusal {
	const char *key, *why;
};

static int refuse_each(json_t *obj, const char *where, const struct refusal *list)
{
	for (; list->key; list++)
		if (refuse_set(obj, where, list->key, list->why) < 0)
			return -1;
	return 0;
}

static int get_string(json_t *obj, const char *where, const char *key, bool required,
		      const char **ret)
{
	json_t *v = json_object_get(obj, key);

	*ret = NULL;
	if (!v && !required)
		return 0;
	if (!json_is_string(v))
		return oci_error("config: %s.%s: %s", where, key, v ? "not a string" : "missing");
	if (strlen(json_string_value(v)) != json_string_length(v))
		return oci_error("config: %s.%s: holds a NUL", where, key);
	*ret = json_string_value(v);
	return 0;
}

static int get_u64(json_t *obj, const char *where, const char *key, uint64_t max, uint64_t *ret)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return oci_error("config: %s.%s: not an integer from 0 to %" PRIu64, where, key,
				 max);
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

/* A NULL-terminated copy of the pointers of an array of strings. */
static int strings(json_t *arr, const char *where, size_t max, char ***ret)
{
	size_t i, n = json_array_size(arr);
	json_t *e;

	*ret = NULL;
	if (arr && !json_is_array(arr))
		return oci_error("config: %s: not an array", where);
	if (n > max)
		return oci_error("config: %s: more than %zu entries", where, max);
	char **v = calloc(n + 1, sizeof(*v));
	if (!v)
		return oci_error("config: out of memory");
	json_array_foreach (arr, i, e) {
		if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e)) {
			free(v);
			return oci_error("config: %s[%zu]: not a string", where, i);
		}
		v[i] = (char *)json_string_value(e);
	}
	*ret = v;
	return 0;
}

static int cap_set(json_t *arr, const char *where, uint64_t *ret)
{
	size_t i;
	json_t *e;

	*ret = 0;
	if (arr && !json_is_array(arr))
		return oci_error("config: %s: not an array", where);
	json_array_foreach (arr, i, e) {
		cap_value_t v;
		const char *name = json_string_value(e);
		_cleanup_free_ char *lower = name ? strdup(name) : NULL;
		if (!lower)
			return oci_error("config: %s[%zu]: not a capability name", where, i);
		for (char *p = lower; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		if (strncmp(lower, "cap_", 4) || cap_from_name(lower, &v) < 0 || v < 0 || v >= 64)
			return oci_error("config: %s[%zu]: unknown capability %s", where, i, name);
		*ret |= 1ULL << v;
	}
	return 0;
}

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	{ "RLIMIT_AS", RLIMIT_AS },
	{ "RLIMIT_CORE", RLIMIT_CORE },
	{ "RLIMIT_CPU", RLIMIT_CPU },
	{ "RLIMIT_DATA", RLIMIT_DATA },
	{ "RLIMIT_FSIZE", RLIMIT_FSIZE },
	{ "RLIMIT_LOCKS", RLIMIT_LOCKS },
	{ "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
	{ "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
	{ "RLIMIT_NICE", RLIMIT_NICE },
	{ "RLIMIT_NOFILE", RLIMIT_NOFILE },
	{ "RLIMIT_NPROC", RLIMIT_NPROC },
	{ "RLIMIT_RSS", RLIMIT_RSS },
	{ "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
	{ "RLIMIT_RTTIME", RLIMIT_RTTIME },
	{ "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "RLIMIT_STACK", RLIMIT_STACK },
};

static int rlimits_parse(json_t *arr, const char *where, struct oci_process *p)
{
	size_t i;
	json_t *e;

	if (arr && !json_is_array(arr))
		return oci_error("config: %s.rlimits: not an array", where);
	if (json_array_size(arr) > sizeof(p->rlimits) / sizeof(p->rlimits[0]))
		return oci_error("config: %s.rlimits: too many", where);
	json_array_foreach (arr, i, e) {
		static const char *const known[] = { "type", "soft", "hard", NULL };
		char at[64];
		const char *type;
		uint64_t soft = 0, hard = 0;
		int res = -1;
		snprintf(at, sizeof(at), "%s.rlimits[%zu]", where, i);
		if (!json_is_object(e) || keys_known(e, at, known) < 0 ||
		    get_string(e, at, "type", true, &type) < 0 ||
		    get_u64(e, at, "soft", UINT64_MAX >> 1, &soft) < 0 ||
		    get_u64(e, at, "hard", UINT64_MAX >> 1, &hard) < 0)
			return json_is_object(e) ? -1 : oci_error("config: %s: not an object", at);
		for (size_t k = 0; k < sizeof(rlimit_names) / sizeof(rlimit_names[0]); k++)
			if (!strcmp(rlimit_names[k].name, type))
				res = rlimit_names[k].resource;
		if (res < 0)
			return oci_error("config: %s.type: unknown limit %s", at, type);
		if (soft > hard)
			return oci_error("config: %s: soft above hard", at);
		p->rlimits[p->nrlimits++] = (struct sandbox_rlimit){ res, soft, hard };
	}
	return 0;
}

void oci_process_clear(struct oci_process *p)
{
	free(p->args);
	free(p->env);
	free(p->groups);
	*p = (struct oci_process){ 0 };
}

int oci_process_parse(json_t *obj, const char *where, struct oci_process *p)
{
	static const char *const known[] = { "terminal",
					     "consoleSize",
					     "user",
					     "args",
					     "env",
					     "cwd",
					     "capabilities",
					     "rlimits",
					     "noNewPrivileges",
					     "apparmorProfile",
					     "oomScoreAdj",
					     "selinuxLabel",
					     "commandLine",
					     "ioPriority",
					     "scheduler",
					     "execCPUAffinity",
					     NULL };
	static const char *const user_known[] = { "uid",      "gid", "umask", "additionalGids",
						  "username", NULL };
	static const char *const caps_known[] = { "bounding",  "effective", "inheritable",
						  "permitted", "ambient",   NULL };
	char at[64];
	json_t *v;

	*p = (struct oci_process){ 0 };
	if (!json_is_object(obj))
		return oci_error("config: %s: missing or not an object", where);
	if (keys_known(obj, where, known) < 0 ||
	    refuse_each(
		    obj, where,
		    (const struct refusal[]){ { "apparmorProfile", "AppArmor is not used by sbx" },
					      { "selinuxLabel", "SELinux is not used by sbx" },
					      { "commandLine", "Windows only" },
					      { "ioPriority", "not supported by sbx-oci" },
					      { "scheduler", "not supported by sbx-oci" },
					      { "execCPUAffinity", "not supported by sbx-oci" },
					      { NULL, NULL } }) < 0)
		return -1;
	if (strings(json_object_get(obj, "args"), "process.args", 4096, &p->args) < 0)
		goto fail;
	if (!p->args[0] || !p->args[0][0]) {
		oci_error("config: %s.args: empty", where);
		goto fail;
	}
	if (strings(json_object_get(obj, "env"), "process.env", 4096, &p->env) < 0)
		goto fail;
	for (char **e = p->env; *e; e++)
		if (!strchr(*e, '=') || **e == '=') {
			oci_error("config: %s.env: \"%s\" is not KEY=VALUE", where, *e);
			goto fail;
		}
	if (get_string(obj, where, "cwd", true, &p->cwd) < 0)
		goto fail;
	if (p->cwd[0] != '/') {
		oci_error("config: %s.cwd: not absolute", where);
		goto fail;
	}
	v = json_object_get(obj, "terminal");
	if (v && !json_is_boolean(v)) {
		oci_error("config: %s.terminal: not a boolean", where);
		goto fail;
	}
	p->terminal = json_is_true(v);
	if ((v = json_object_get(obj, "consoleSize"))) {
		static const char *const size_known[] = { "height", "width", NULL };
		uint64_t h = 0, w = 0;
		snprintf(at, sizeof(at), "%s.consoleSize", where);
		if (keys_known(v, at, size_known) < 0 || get_u64(v, at, "height", 65535, &h) < 0 ||
		    get_u64(v, at, "width", 65535, &w) < 0)
			goto fail;
		p->rows = (unsigned short)h;
		p->cols = (unsigned short)w;
	}
	if ((v = json_object_get(obj, "user"))) {
		uint64_t uid = 0, gid = 0;
		snprintf(at, sizeof(at), "%s.user", where);
		if (!json_is_object(v) || keys_known(v, at, user_known) < 0 ||
		    refuse_each(v, at,
				(const struct refusal[]){ { "umask", "not supported by sbx-oci" },
							  { "username", "Windows only" },
							  { NULL, NULL } }) < 0 ||
		    get_u64(v, at, "uid", 65535, &uid) < 0 ||
		    get_u64(v, at, "gid", 65535, &gid) < 0)
			goto fail;
		p->set_user = true;
		p->uid = (uid_t)uid;
		p->gid = (gid_t)gid;
		json_t *g = json_object_get(v, "additionalGids"), *e;
		size_t i;
		if (g && !json_is_array(g)) {
			oci_error("config: %s.additionalGids: not an array", at);
			goto fail;
		}
		if (json_array_size(g) > 64) {
			oci_error("config: %s.additionalGids: more than 64", at);
			goto fail;
		}
		p->groups = calloc(json_array_size(g) + 1, sizeof(gid_t));
		if (!p->groups)
			goto fail;
		json_array_foreach (g, i, e) {
			if (!json_is_integer(e) || json_integer_value(e) < 0 ||
			    json_integer_value(e) > 65535) {
				oci_error(
					"config: %s.additionalGids[%zu]: not a gid from 0 to 65535",
					at, i);
				goto fail;
			}
			p->groups[p->ngroups++] = (gid_t)json_integer_value(e);
		}
	}
	if ((v = json_object_get(obj, "capabilities"))) {
		struct sandbox_caps *c = &p->caps;
		snprintf(at, sizeof(at), "%s.capabilities", where);
		if (!json_is_object(v) || keys_known(v, at, caps_known) < 0)
			goto fail;
		char sub[96];
#define CAPS(field)                                                                                \
	(snprintf(sub, sizeof(sub), "%s." #field, at),                                             \
	 cap_set(json_object_get(v, #field), sub, &c->field))
		if (CAPS(bounding) < 0 || CAPS(effective) < 0 || CAPS(inheritable) < 0 ||
		    CAPS(permitted) < 0 || CAPS(ambient) < 0)
			goto fail;
#undef CAPS
		if (c->effective & ~c->permitted) {
			oci_error("config: %s.effective: not all permitted", at);
			goto fail;
		}
		if (c->ambient & ~c->permitted) {
			oci_error("config: %s.ambient: not all permitted", at);
			goto fail;
		}
		/* The kernel raises an ambient capability only if it is inheritable too. */
		c->inheritable |= c->ambient;
		p->has_caps = true;
	}
	if (rlimits_parse(json_object_get(obj, "rlimits"), where, p) < 0)
		goto fail;
	v = json_object_get(obj, "noNewPrivileges");
	if (v && !json_is_boolean(v)) {
		oci_error("config: %s.noNewPrivileges: not a boolean", where);
		goto fail;
	}
	if ((v = json_object_get(obj, "oomScoreAdj"))) {
		if (!json_is_integer(v) || json_integer_value(v) < -1000 ||
		    json_integer_value(v) > 1000) {
			oci_error("config: %s.oomScoreAdj: not from -1000 to 1000", where);
			goto fail;
		}
		p->has_oom_score = true;
		p->oom_score_adj = (int)json_integer_value(v);
	}
	return 0;
fail:
	oci_process_clear(p);
	return -1;
}

int oci_resources_parse(json_t *res, const char *where, struct sandbox_limits *lim, bool *has_mem,
			bool *has_cpu, bool *has_pids)
{
	static const char *const known[] = { "devices", "memory",  "cpu",
					     "pids",	"blockIO", "hugepageLimits",
					     "network", "rdma",	   "unified",
					     NULL };
	static const char *const mem_known[] = { "limit",
						 "reservation",
						 "swap",
						 "kernel",
						 "kernelTCP",
						 "swappiness",
						 "disableOOMKiller",
						 "useHierarchy",
						 "checkBeforeUpdate",
						 NULL };
	static const char *const cpu_known[] = {
		"shares",	  "quota", "burst", "period", "realtimeRuntime",
		"realtimePeriod", "cpus",  "mems",  "idle",   NULL
	};
	static const char *const pids_known[] = { "limit", NULL };
	char at[96];
	json_t *v;

	if (!res || json_is_null(res))
		return 0;
	if (!json_is_object(res))
		return oci_error("config: %s: not an object", where);
	if (keys_known(res, where, known) < 0 ||
	    refuse_each(res, where,
			(const struct refusal[]){
				{ "blockIO", "block I/O limits are not supported by sbx" },
				{ "hugepageLimits", "huge pages are not offered by sbx" },
				{ "network", "not supported by sbx-oci" },
				{ "rdma", "not supported by sbx-oci" },
				{ "unified", "not supported by sbx-oci" },
				{ NULL, NULL } }) < 0)
		return -1;
	/* Devices: sbx's own /dev is a fixed, smaller set and no sandbox can make a node,
	 * so a list that starts by denying all can only narrow what is already there. */
	if ((v = json_object_get(res, "devices")) && json_array_size(v)) {
		json_t *first = json_array_get(v, 0);
		json_t *allow = json_object_get(first, "allow");
		const char *type = json_string_value(json_object_get(first, "type"));
		if (!json_is_false(allow) || (type && strcmp(type, "a")) ||
		    json_object_get(first, "major") || json_object_get(first, "minor"))
			return oci_error("config: %s.devices[0]: must deny every device (sbx "
					 "offers its own fixed set)",
					 where);
		size_t i;
		json_t *e;
		json_array_foreach (v, i, e) {
			const char *t = json_string_value(json_object_get(e, "type"));
			if (json_is_true(json_object_get(e, "allow")) &&
			    (!json_object_get(e, "major") || (t && !strcmp(t, "a"))))
				return oci_error("config: %s.devices[%zu]: allows every device",
						 where, i);
		}
	}
	if ((v = json_object_get(res, "memory")) && !json_is_null(v)) {
		json_t *limit = json_object_get(v, "limit"), *swap = json_object_get(v, "swap");
		snprintf(at, sizeof(at), "%s.memory", where);
		if (keys_known(v, at, mem_known) < 0 ||
		    refuse_each(v, at,
				(const struct refusal[]){
					{ "reservation", "not supported by sbx-oci" },
					{ "kernel", "not supported by sbx-oci" },
					{ "kernelTCP", "not supported by sbx-oci" },
					{ "swappiness", "not supported by sbx-oci" },
					{ "disableOOMKiller", "sbx keeps the OOM killer" },
					{ "useHierarchy", "not supported by sbx-oci" },
					{ "checkBeforeUpdate", "not supported by sbx-oci" },
					{ NULL, NULL } }) < 0)
			return -1;
		if (limit && !json_is_null(limit)) {
			json_int_t l = json_integer_value(limit);
			if (!json_is_integer(limit) || l == 0 || l < -1)
				return oci_error("config: %s.limit: not a size in bytes or -1", at);
			if (l > 0 && l < (4 << 20))
				return oci_error("config: %s.limit: below 4 MiB", at);
			lim->memory_bytes = l > 0 ? (uint64_t)l : 0;
			*has_mem = true;
		}
		/* Swap: none, as sbx runs every sandbox (memory+swap capped at the limit). */
		if (swap && !json_is_null(swap) && json_integer_value(swap) != -1 &&
		    (!json_is_integer(swap) || !limit ||
		     json_integer_value(swap) != json_integer_value(limit)))
			return oci_error("config: %s.swap: sbx gives no swap (swap must equal the "
					 "limit)",
					 at);
	}
	if ((v = json_object_get(res, "cpu")) && !json_is_null(v)) {
		uint64_t shares = 0, period = 0;
		json_t *quota = json_object_get(v, "quota");
		snprintf(at, sizeof(at), "%s.cpu", where);
		if (keys_known(v, at, cpu_known) < 0 ||
		    refuse_each(v, at,
				(const struct refusal[]){
					{ "burst", "not supported by sbx-oci" },
					{ "realtimeRuntime", "no real-time scheduling in sbx" },
					{ "realtimePeriod", "no real-time scheduling in sbx" },
					{ "cpus", "cpusets are not supported by sbx-oci" },
					{ "mems", "cpusets are not supported by sbx-oci" },
					{ "idle", "not supported by sbx-oci" },
					{ NULL, NULL } }) < 0 ||
		    get_u64(v, at, "shares", 262144, &shares) < 0 ||
		    get_u64(v, at, "period", 1000000, &period) < 0)
			return -1;
		if (shares) {
			lim->cpu_shares = (uint32_t)(shares < 2 ? 2 : shares);
			*has_cpu = true;
		}
		if (quota && !json_is_null(quota)) {
			json_int_t q = json_integer_value(quota);
			if (!json_is_integer(quota) || q == 0 || q < -1)
				return oci_error("config: %s.quota: not microseconds or -1", at);
			if (q > 0) {
				if (!period)
					period = 100000;
				if (period < 1000)
					return oci_error("config: %s.period: below 1 ms", at);
				uint64_t milli = ((uint64_t)q * 1000 + period - 1) / period;
				if (milli < 10 || milli > 1024000)
					return oci_error("config: %s.quota: from 0.01 to 1024 CPUs",
							 at);
				lim->cpu_milli = (uint32_t)milli;
			} else {
				lim->cpu_milli = 0;
			}
			*has_cpu = true;
		}
	}
	if ((v = json_object_get(res, "pids")) && !json_is_null(v)) {
		json_t *limit = json_object_get(v, "limit");
		snprintf(at, sizeof(at), "%s.pids", where);
		if (keys_known(v, at, pids_known) < 0)
			return -1;
		if (limit && !json_is_null(limit)) {
			json_int_t l = json_integer_value(limit);
			if (!json_is_integer(limit) || l == 0 || l < -1)
				return oci_error("config: %s.limit: not a count or -1", at);
			lim->pids = l > 0 ? (uint64_t)l : 0;
			*has_pids = true;
		}
	}
	return 0;
}

static int namespaces_parse(json_t *arr, struct oci_config *c)
{
	bool seen[8] = { false };
	static const char *const kinds[] = { "pid", "network", "mount",	 "ipc",
					     "uts", "user",    "cgroup", "time" };
	size_t i;
	json_t *e;

	if (!json_is_array(arr))
		return oci_error("config: linux.namespaces: missing or not an array");
	json_array_foreach (arr, i, e) {
		static const char *const known[] = { "type", "path", NULL };
		char at[48];
		const char *type, *path;
		int k = -1;
		snprintf(at, sizeof(at), "linux.namespaces[%zu]", i);
		if (!json_is_object(e) || keys_known(e, at, known) < 0 ||
		    get_string(e, at, "type", true, &type) < 0 ||
		    get_string(e, at, "path", false, &path) < 0)
			return json_is_object(e) ? -1 : oci_error("config: %s: not an object", at);
		for (int j = 0; j < 8; j++)
			if (!strcmp(kinds[j], type))
				k = j;
		if (k < 0)
			return oci_error("config: %s.type: unknown namespace %s", at, type);
		if (seen[k])
			return oci_error("config: %s: %s twice", at, type);
		seen[k] = true;
		if (path && path[0] != '/')
			return oci_error("config: %s.path: not absolute", at);
		struct oci_ns ns = { path && path[0] ? NS_PATH : NS_NEW, path };
		if (!strcmp(type, "network"))
			c->net = ns;
		else if (!strcmp(type, "ipc"))
			c->ipc = ns;
		else if (!strcmp(type, "uts"))
			c->uts = ns;
		else if (ns.kind == NS_PATH)
			return oci_error("config: %s.path: sbx makes every %s namespace its own",
					 at, type);
	}
	/* What is not listed would be the host's: sbx gives none of those. */
	if (!seen[0] || !seen[2])
		return oci_error("config: linux.namespaces: no %s namespace (the host's) is not "
				 "supported by sbx",
				 seen[0] ? "mount" : "pid");
	c->time_ns = seen[7];
	if (!seen[1])
		return oci_error("config: linux.namespaces: no network namespace (the host's) is "
				 "not supported by sbx");
	if (!seen[3])
		return oci_error("config: linux.namespaces: no ipc namespace (the host's) is not "
				 "supported by sbx");
	if (!seen[4])
		return oci_error("config: linux.namespaces: no uts namespace (the host's) is not "
				 "supported by sbx");
	return 0;
}

static uint64_t mount_attrs(json_t *opts, const char *at, bool *recursive, bool *bind, int *err)
{
	uint64_t a = 0;
	size_t i;
	json_t *e;

	*err = 0;
	if (opts && !json_is_array(opts)) {
		*err = oci_error("config: %s.options: not an array", at);
		return 0;
	}
	json_array_foreach (opts, i, e) {
		const char *o = json_string_value(e);
		if (!o) {
			*err = oci_error("config: %s.options[%zu]: not a string", at, i);
			return 0;
		}
		if (!strcmp(o, "ro"))
			a |= MOUNT_ATTR_RDONLY;
		else if (!strcmp(o, "nosuid"))
			a |= MOUNT_ATTR_NOSUID;
		else if (!strcmp(o, "nodev"))
			a |= MOUNT_ATTR_NODEV;
		else if (!strcmp(o, "noexec"))
			a |= MOUNT_ATTR_NOEXEC;
		else if (!strcmp(o, "rbind"))
			*bind = *recursive = true;
		else if (!strcmp(o, "bind"))
			*bind = true;
		else if (!strcmp(o, "noatime"))
			a |= MOUNT_ATTR_NOATIME;
		else if (!strcmp(o, "strictatime"))
			a |= MOUNT_ATTR_STRICTATIME;
		/* The defaults (relatime, rw, ...), tmpfs's own (tmpfs_data), and devpts's, of a
		 * devpts that sbx provides. */
		else if (strcmp(o, "rw") && strcmp(o, "suid") && strcmp(o, "dev") &&
			 strcmp(o, "exec") && strcmp(o, "private") && strcmp(o, "rprivate") &&
			 strcmp(o, "relatime") && strncmp(o, "size=", 5) &&
			 strncmp(o, "mode=", 5) && strncmp(o, "gid=", 4) &&
			 strcmp(o, "newinstance") && strncmp(o, "ptmxmode=", 9)) {
			*err = oci_error("config: %s.options: \"%s\" is not supported by sbx-oci",
					 at, o);
			return 0;
		}
	}
	/* A sandbox never has set-uid files or device nodes of its own to honour. */
	return a | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
}

/* tmpfs options sbx passes on: size, mode and gid (of the container's ids). */
static int tmpfs_data(json_t *opts, const char *at, char **ret)
{
	char buf[128] = "";
	size_t i;
	json_t *e;

	json_array_foreach (opts, i, e) {
		const char *o = json_string_value(e);
		if (o && (!strncmp(o, "size=", 5) || !strncmp(o, "mode=", 5) ||
			  !strncmp(o, "gid=", 4))) {
			const char *val = o + (o[0] == 'g' ? 4 : 5);
			if (strspn(val, "0123456789kKmMgG") != strlen(val) || strlen(val) > 20)
				return oci_error("config: %s.options: bad \"%s\"", at, o);
			size_t n = strlen(buf);
			snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? "," : "", o);
		}
	}
	if (!strstr(buf, "size=")) {
		size_t n = strlen(buf);
		snprintf(buf + n, sizeof(buf) - n, "%ssize=64m", n ? "," : "");
	}
	*ret = strdup(buf);
	return *ret ? 0 : oci_error("config: out of memory");
}

/* @p (absolute) without empty and "." components, or NULL if it is not absolute or
 * holds "..". Caller frees. */
static char *path_clean(const char *p)
{
	size_t n = strlen(p);
	char *out = p[0] == '/' && n < 4096 ? malloc(n + 2) : NULL, *o = out;

	if (!out)
		return NULL;
	for (const char *s = p; *s;) {
		while (*s == '/')
			s++;
		size_t len = strcspn(s, "/");
		if (!len)
			break;
		if (len == 2 && !strncmp(s, "..", 2)) {
			free(out);
			return NULL;
		}
		if (!(len == 1 && s[0] == '.')) {
			*o++ = '/';
			memcpy(o, s, len);
			o += len;
		}
		s += len;
	}
	if (o == out)
		*o++ = '/';
	*o = '\0';
	return out;
}

static int mounts_parse(json_t *arr, struct oci_config *c)
{
	size_t i;
	json_t *e;

	if (arr && !json_is_array(arr))
		return oci_error("config: mounts: not an array");
	json_array_foreach (arr, i, e) {
		static const char *const known[] = { "destination", "type",	   "source",
						     "options",	    "uidMappings", "gidMappings",
						     NULL };
		char at[48];
		const char *dst, *type = NULL, *src = NULL;
		bool rec = false, bind = false;
		int err;
		snprintf(at, sizeof(at), "mounts[%zu]", i);
		if (!json_is_object(e) || keys_known(e, at, known) < 0 ||
		    refuse_each(e, at,
				(const struct refusal[]){
					{ "uidMappings", "idmapped mounts are sbx's own" },
					{ "gidMappings", "idmapped mounts are sbx's own" },
					{ NULL, NULL } }) < 0 ||
		    get_string(e, at, "destination", true, &dst) < 0 ||
		    get_string(e, at, "type", false, &type) < 0 ||
		    get_string(e, at, "source", false, &src) < 0)
			return json_is_object(e) ? -1 : oci_error("config: %s: not an object", at);
		json_t *opts = json_object_get(e, "options");
		uint64_t attrs = mount_attrs(opts, at, &rec, &bind, &err);
		if (err)
			return -1;
		/* Compared and used in one form: "//", "/./" and a trailing "/" gone. */
		char *clean = path_clean(dst);
		if (!clean)
			return oci_error(
				"config: %s.destination: not an absolute path without \"..\"", at);
		if (c->nclean == SANDBOX_MAX_MOUNTS + 8) {
			free(clean);
			return oci_error("config: mounts: too many");
		}
		c->clean[c->nclean++] = clean;
		dst = clean;
		bool is_bind = bind || (type && !strcmp(type, "bind"));
		if (!type)
			type = is_bind ? "bind" : "";
		/* What every sbx sandbox has already: its own /proc (masked), /dev, /dev/pts
		 * and /dev/shm. */
		if ((!strcmp(dst, "/proc") && !strcmp(type, "proc")) ||
		    (!strcmp(dst, "/dev") && !strcmp(type, "tmpfs")) ||
		    (!strcmp(dst, "/dev/pts") && !strcmp(type, "devpts")) ||
		    (!strcmp(dst, "/dev/shm") && !strcmp(type, "tmpfs")))
			continue;
		if (!strcmp(dst, "/proc") || !strncmp(dst, "/proc/", 6) || !strcmp(dst, "/dev") ||
		    !strcmp(dst, "/dev/pts") || !strncmp(dst, "/dev/pts/", 9) ||
		    !strcmp(dst, "/") || !strcmp(dst, "/dev/sbx-init"))
			return oci_error("config: %s: %s on %s is not supported by sbx-oci", at,
					 type[0] ? type : "a mount", dst);
		if (c->nmounts == SANDBOX_MAX_MOUNTS)
			return oci_error("config: mounts: more than %d besides sbx's own",
					 SANDBOX_MAX_MOUNTS);
		struct sandbox_mount *m = &c->mounts[c->nmounts];
		*m = (struct sandbox_mount){ .target = dst, .attrs = attrs, .recursive = rec };
		if (is_bind) {
			if (!src || src[0] != '/')
				return oci_error(
					"config: %s.source: a bind needs an absolute source", at);
			m->type = "bind";
			m->source = src;
		} else if (!strcmp(type, "tmpfs")) {
			m->type = "tmpfs";
			if (tmpfs_data(opts, at, (char **)&m->data) < 0)
				return -1;
		} else if (!strcmp(type, "sysfs")) {
			m->type = "sysfs";
			m->attrs |= MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOEXEC;
		} else if (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2")) {
			/* The container's own cgroup namespace: its cgroup as the root, read-only. */
			m->type = "cgroup2";
			m->attrs |= MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOEXEC;
		} else if (!strcmp(type, "mqueue")) {
			m->type = "mqueue";
		} else {
			return oci_error("config: %s.type: %s mounts are not supported by sbx-oci",
					 at, type[0] ? type : "(none)");
		}
		c->nmounts++;
	}
	return 0;
}

static int paths(json_t *arr, const char *where, const char ***ret)
{
	char **v;

	if (strings(arr, where, 256, &v) < 0)
		return -1;
	for (char **p = v; *p; p++)
		if ((*p)[0] != '/') {
			int r = oci_error("config: %s: \"%s\" is not absolute", where, *p);
			free(v);
			return r;
		}
	*ret = (const char **)v;
	return 0;
}

static int linux_parse(json_t *lx, struct oci_config *c)
{
	static const char *const known[] = {
		"namespaces",	"uidMappings",	     "gidMappings", "sysctl",	     "resources",
		"cgroupsPath",	"rootfsPropagation", "maskedPaths", "readonlyPaths", "devices",
		"seccomp",	"mountLabel",	     "personality", "intelRdt",	     "timeOffsets",
		"memoryPolicy", "netDevices",	     NULL
	};
	const char *prop;

	if (!json_is_object(lx))
		return oci_error("config: linux: missing or not an object");
	if (keys_known(lx, "linux", known) < 0 ||
	    refuse_each(lx, "linux",
			(const struct refusal[]){
				{ "uidMappings", "sbx maps ids to a host range of its own" },
				{ "gidMappings", "sbx maps ids to a host range of its own" },
				{ "sysctl", "not supported by sbx-oci" },
				{ "devices", "sbx offers its own fixed set of devices" },
				{ "mountLabel", "SELinux is not used by sbx" },
				{ "personality", "not supported by sbx-oci" },
				{ "intelRdt", "not supported by sbx-oci" },
				{ "timeOffsets", "not supported by sbx-oci" },
				{ "memoryPolicy", "not supported by sbx-oci" },
				{ "netDevices", "not supported by sbx-oci" },
				{ NULL, NULL } }) < 0 ||
	    get_string(lx, "linux", "rootfsPropagation", false, &prop) < 0 ||
	    get_string(lx, "linux", "cgroupsPath", false, &c->cgroups_path) < 0)
		return -1;
	if (prop && prop[0] && strcmp(prop, "private") && strcmp(prop, "rprivate"))
		return oci_error("config: linux.rootfsPropagation: %s: sbx's mounts are private",
				 prop);
	if (namespaces_parse(json_object_get(lx, "namespaces"), c) < 0)
		return -1;
	if (oci_resources_parse(json_object_get(lx, "resources"), "linux.resources", &c->limits,
				&c->has_memory, &c->has_cpu, &c->has_pids) < 0)
		return -1;
	if (paths(json_object_get(lx, "maskedPaths"), "linux.maskedPaths", &c->masked) < 0 ||
	    paths(json_object_get(lx, "readonlyPaths"), "linux.readonlyPaths", &c->readonly_paths) <
		    0)
		return -1;
	json_t *sc = json_object_get(lx, "seccomp");
	if (sc && !json_is_null(sc)) {
		static const char *const sc_known[] = {
			"defaultAction", "defaultErrnoRet", "architectures",	"syscalls",
			"flags",	 "listenerPath",    "listenerMetadata", NULL
		};
		if (!json_is_object(sc) || keys_known(sc, "linux.seccomp", sc_known) < 0 ||
		    refuse_each(sc, "linux.seccomp",
				(const struct refusal[]){
					{ "flags", "not supported by sbx-oci" },
					{ "listenerPath",
					  "seccomp notification is not supported by sbx-oci" },
					{ "listenerMetadata",
					  "seccomp notification is not supported by sbx-oci" },
					{ NULL, NULL } }) < 0)
			return json_is_object(sc)
				       ? -1
				       : oci_error("config: linux.seccomp: not an object");
		c->seccomp = json_dumps(sc, JSON_COMPACT);
		if (!c->seccomp)
			return oci_error("config: linux.seccomp: cannot be read");
	}
	return 0;
}

static void layers_clear(struct oci_config *c)
{
	for (char **l = c->root_layers; l && *l; l++)
		free(*l);
	free(c->root_layers);
	c->root_layers = NULL;
}

void oci_config_clear(struct oci_config *c)
{
	oci_process_clear(&c->proc);
	for (unsigned i = 0; i < c->nmounts; i++)
		if (c->mounts[i].type && !strcmp(c->mounts[i].type, "tmpfs"))
			free((char *)c->mounts[i].data);
	for (unsigned i = 0; i < c->nclean; i++)
		free(c->clean[i]);
	free(c->masked);
	free(c->readonly_paths);
	free(c->seccomp);
	free(c->bundle);
	free(c->rootfs);
	layers_clear(c);
	json_decref(c->json);
	*c = (struct oci_config){ 0 };
}

int oci_config_parse(const char *text, size_t len, const char *bundle, struct oci_config *c)
{
	static const char *const known[] = { "ociVersion", "process", "root",	 "hostname",
					     "domainname", "mounts",  "hooks",	 "annotations",
					     "linux",	   "solaris", "windows", "vm",
					     "zos",	   NULL };
	char path[PATH_MAX];
	json_error_t jerr;
	const char *ver, *root_path;

	*c = (struct oci_config){ 0 };
	c->bundle = strdup(bundle ? bundle : "");
	if (!c->bundle)
		return oci_error("config: out of memory");
	c->json = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!c->json || !json_is_object(c->json))
		return oci_error("config.json: line %d: %s", jerr.line,
				 c->json ? "not an object" : jerr.text);
	json_t *j = c->json;
	if (keys_known(j, "", known) < 0 || get_string(j, "", "ociVersion", true, &ver) < 0 ||
	    refuse_each(j, "",
			(const struct refusal[]){ { "hooks", "sbx-oci runs no hooks" },
						  { "domainname", "not supported by sbx-oci" },
						  { "solaris", "not Linux" },
						  { "windows", "not Linux" },
						  { "vm", "sbx-oci runs no virtual machines" },
						  { "zos", "not Linux" },
						  { NULL, NULL } }) < 0)
		return -1;
	if (strncmp(ver, "1.", 2))
		return oci_error("config: ociVersion: %s is not 1.x", ver);
	json_t *root = json_object_get(j, "root");
	static const char *const root_known[] = { "path", "readonly", NULL };
	if (!json_is_object(root) || keys_known(root, "root", root_known) < 0 ||
	    get_string(root, "root", "path", true, &root_path) < 0)
		return json_is_object(root) ? -1 : oci_error("config: root: missing");
	c->readonly = json_is_true(json_object_get(root, "readonly"));
	if (get_string(j, "", "hostname", false, &c->hostname) < 0)
		return -1;
	if (c->hostname && !c->hostname[0])
		c->hostname = NULL;
	if (c->hostname && !spec_hostname_valid(c->hostname))
		return oci_error("config: hostname: \"%s\" is not a valid hostname", c->hostname);
	if (oci_process_parse(json_object_get(j, "process"), "process", &c->proc) < 0)
		return -1;
	if (linux_parse(json_object_get(j, "linux"), c) < 0)
		return -1;
	if (c->hostname && c->uts.kind == NS_PATH)
		return oci_error("config: hostname: set, with a uts namespace joined by path");
	if (mounts_parse(json_object_get(j, "mounts"), c) < 0)
		return -1;
	json_t *ann = json_object_get(j, "annotations");
	if (ann && !json_is_object(ann))
		return oci_error("config: annotations: not an object");
	c->annotations = ann;
	/* Last: the only step that looks at the disk. */
	if (!bundle) {
		c->rootfs = strdup(root_path);
		return c->rootfs ? 0 : oci_error("config: out of memory");
	}
	if (root_path[0] == '/')
		snprintf(path, sizeof(path), "%s", root_path);
	else
		snprintf(path, sizeof(path), "%s/%s", c->bundle, root_path);
	c->rootfs = realpath(path, NULL);
	if (!c->rootfs)
		return oci_error("config: root.path: %s: %s", path, strerror(errno));
	return 0;
}

/* Appends a copy of @dir (an absolute path without escapes) to c->root_layers. */
static int layer_add(struct oci_config *c, const char *dir, size_t len, size_t *n)
{
	if (!len || dir[0] != '/' || memchr(dir, '\\', len) || *n >= 64)
		return -EINVAL;
	char **l = realloc(c->root_layers, (*n + 2) * sizeof(*l));
	if (!l)
		return -ENOMEM;
	c->root_layers = l;
	if (!(l[*n] = strndup(dir, len)))
		return -ENOMEM;
	l[++*n] = NULL;
	return 0;
}

static bool dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = d != NULL;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = false;
			break;
		}
	if (d)
		closedir(d);
	return empty;
}

/* The layers of the overlayfs superblock options @opts, top first: its upper directory,
 * then its lower ones ("lowerdir=A:B" or "lowerdir+=A" each). -EINVAL for options this
 * does not follow (escaped paths, data-only layers, metacopy). */
static int layers_of(struct oci_config *c, char *opts)
{
	char *upper = NULL, *lowers[64], *save = NULL;
	size_t nl = 0, n = 0;
	int r = 0;

	/* Options that change nothing of how its layers read (an overlay of sbx's own reads
	 * them as the kernel's defaults say: trusted.* xattrs, redirects followed). */
	static const char *const same[] = { "rw",
					    "ro",
					    "index=off",
					    "xino=off",
					    "xino=on",
					    "xino=auto",
					    "redirect_dir=on",
					    "redirect_dir=follow",
					    "redirect_dir=off",
					    "metacopy=off",
					    "nfs_export=off",
					    "uuid=on",
					    "uuid=off",
					    "uuid=null",
					    "uuid=auto",
					    "volatile" };
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		bool known = false;
		for (size_t i = 0; i < ARRAY_SIZE(same); i++)
			known |= !strcmp(o, same[i]);
		if (!strncmp(o, "upperdir=", 9))
			upper = o + 9;
		else if (!strncmp(o, "lowerdir=", 9) || !strncmp(o, "lowerdir+=", 10)) {
			if (nl == ARRAY_SIZE(lowers))
				return -E2BIG;
			lowers[nl++] = o;
		} else if (strncmp(o, "workdir=", 8) && !known)
			return -EINVAL; /* userxattr, metacopy=on, datadir+, ... */
	}
	/* Its upper directory, unless empty (a new container's snapshot is): overlayfs warns
	 * of a directory that is one mount's upper and another's lower. */
	if (upper && !dir_empty(upper))
		r = layer_add(c, upper, strlen(upper), &n);
	for (size_t i = 0; r == 0 && i < nl; i++) {
		if (lowers[i][8] == '+') { /* one layer each */
			r = layer_add(c, lowers[i] + 10, strlen(lowers[i] + 10), &n);
			continue;
		}
		for (char *p = lowers[i] + 9; r == 0 && *p;) {
			size_t l = strcspn(p, ":");
			r = layer_add(c, p, l, &n);
			p += l + (p[l] == ':');
		}
	}
	return r < 0 ? r : n ? 0 : -EINVAL;
}

void oci_config_root_layers(struct oci_config *c)
{
	_cleanup_free_ char *line = NULL, *opts = NULL;
	size_t cap = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	while (f && getline(&line, &cap, f) > 0) {
		char *field[64];
		size_t dash, n = text_mountinfo_fields(line, field, ARRAY_SIZE(field), &dash);
		if (!dash || n != dash + 4 || strcmp(field[4], c->rootfs))
			continue;
		/* The last mount there is the one seen: the whole of an overlay, or nothing
		 * followed (a bind of a directory inside one, another file system). */
		free(opts);
		opts = !strcmp(field[dash + 1], "overlay") && !strcmp(field[3], "/")
			       ? strdup(field[dash + 3])
			       : NULL;
	}
	if (f)
		fclose(f);
	if (opts && layers_of(c, opts) < 0)
		layers_clear(c);
}

int oci_config_load(const char *bundle, struct oci_config *c)
{
	char path[PATH_MAX];
	size_t len;

	*c = (struct oci_config){ 0 };
	_cleanup_free_ char *dir = realpath(bundle, NULL);
	if (!dir)
		return oci_error("bundle %s: %s", bundle, strerror(errno));
	snprintf(path, sizeof(path), "%s/config.json", dir);
	_cleanup_free_ char *text = read_text(path, 4 << 20, &len);
	if (!text)
		return oci_error("%s: %s", path, strerror(errno));
	return oci_config_parse(text, len, dir, c);
}
