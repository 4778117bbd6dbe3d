// SPDX-License-Identifier: MIT
/* sbx create: sbx run's options (runopts.c) as a POST /v1/sandboxes body; prints the new
 * sandbox's id, or its whole record with --json. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../../sandbox/macro.h"
#include "sbx.h"

/* The "limits" object: only what was given, so that sbxd applies its defaults. */
static json_t *create_limits(const struct run_opts *o)
{
	json_t *limits = json_object();
	char buf[64];

	if (o->limits.memory_bytes)
		json_object_set_new(limits, "memory",
				    json_integer((json_int_t)o->limits.memory_bytes));
	if (o->limits.cpu_milli) {
		snprintf(buf, sizeof(buf), "%u.%03u", o->limits.cpu_milli / 1000,
			 o->limits.cpu_milli % 1000);
		json_object_set_new(limits, "cpus", json_string(buf));
	}
	if (o->limits.pids)
		json_object_set_new(limits, "pids", json_integer((json_int_t)o->limits.pids));
	if (o->limits.timeout_ns) {
		snprintf(buf, sizeof(buf), "%" PRIu64 "ms", o->limits.timeout_ns / 1000000);
		json_object_set_new(limits, "timeout", json_string(buf));
	}
	if (o->idle_timeout_ns) {
		snprintf(buf, sizeof(buf), "%" PRIu64 "ms", o->idle_timeout_ns / 1000000);
		json_object_set_new(limits, "idle_timeout", json_string(buf));
	}
	return limits;
}

static json_t *string_array(const char *const *s, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(s[i]));
	return a;
}

/* The request body (caller frees); NULL when out of memory. */
static char *create_body(const struct run_opts *o, int ncmd, char **cmd)
{
	json_t *req = json_object(), *limits = create_limits(o);
	char buf[64];

	if (o->image)
		json_object_set_new(req, "image", json_string(o->image));
	if (ncmd > 0)
		json_object_set_new(req, "cmd", string_array((const char *const *)cmd, ncmd));
	if (o->nenv)
		json_object_set_new(req, "env", sbx_kv_object(o->env, o->nenv));
	if (o->nlabels)
		json_object_set_new(req, "labels", sbx_kv_object(o->labels, o->nlabels));
	if (o->ngpus)
		json_object_set_new(req, "gpus", string_array(o->gpus, o->ngpus));
	if (o->workdir)
		json_object_set_new(req, "workdir", json_string(o->workdir));
	if (o->hostname)
		json_object_set_new(req, "hostname", json_string(o->hostname));
	if (o->set_user) {
		snprintf(buf, sizeof(buf), "%u:%u", (unsigned)o->uid, (unsigned)o->gid);
		json_object_set_new(req, "user", json_string(buf));
	}
	if (o->user_ns)
		json_object_set_new(req, "user_ns", json_true());
	if (o->net == NET_LOOPBACK)
		json_object_set_new(req, "net", json_string("loopback"));
	if (o->net == NET_INTERNET) {
		json_t *net = json_pack("{s:s}", "mode", "internet");
		if (o->nallow)
			json_object_set_new(net, "allow_out",
					    string_array(o->allow_out, o->nallow));
		if (o->ndeny)
			json_object_set_new(net, "deny_out", string_array(o->deny_out, o->ndeny));
		if (o->npublish) {
			json_t *ports = json_array();
			for (size_t i = 0; i < o->npublish; i++)
				json_array_append_new(ports, json_integer(o->publish[i]));
			json_object_set_new(net, "ports", ports);
		}
		json_object_set_new(req, "net", net);
	}
	if (o->seccomp)
		json_object_set_new(req, "seccomp", json_string(o->seccomp));
	if (o->writable_bytes)
		json_object_set_new(req, "writable_size",
				    json_integer((json_int_t)o->writable_bytes));
	if (o->net_rate)
		json_object_set_new(limits, "net_rate", json_string(o->net_rate));
	if (json_object_size(limits))
		json_object_set(req, "limits", limits);
	json_decref(limits);
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	return body;
}

int cmd_create(int argc, char **argv)
{
	struct run_opts o = { .create = true };
	json_t *j;
	int r, cmd;

	sbx_prog = "sbx create";
	cmd = runopts_parse(argc, argv, &o);
	if (cmd <= 0)
		return -cmd;
	if (o.tmp_bytes)
		return sbx_die("--tmp-size is not available through sbxd");
	char *body = create_body(&o, argc - cmd, argv + cmd);
	if (!body)
		return sbx_die("out of memory");
	r = sbx_call_json(sbx_socket_path(o.socket), "POST", "/v1/sandboxes", body, &j);
	free(body);
	if (r)
		return r;
	const char *id = json_string_value(json_object_get(j, "id"));
	if (o.json)
		r = sbx_print_json(j);
	else if (id)
		printf("%s\n", id);
	else
		r = sbx_die("sbxd's answer has no id");
	json_decref(j);
	return r;
}

int sbx_run_remote(const struct run_opts *o, int ncmd, char **cmd)
{
	const char *sock = sbx_socket_path(o->socket);
	json_t *j = NULL, *rec = NULL;
	int r;

	if (o->usage_out)
		return sbx_die("--usage: not with --net internet (sbx usage ID, through sbxd)");
	if (o->seccomp && strcmp(o->seccomp, "default"))
		return sbx_die("--seccomp: only \"default\" with --net internet (through sbxd)");
	char *body = create_body(o, ncmd, cmd);
	if (!body)
		return sbx_die("out of memory");
	r = sbx_call_json(sock, "POST", "/v1/sandboxes", body, &j);
	free(body);
	if (r)
		return r;
	char id[32];
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "id")) ?: "");
	json_decref(j);
	if (!id[0])
		return sbx_die("sbxd's answer has no id");
	r = sbx_logs_follow(sock, id);
	if (r == 0)
		r = sbx_sandbox_get_json(sock, id, NULL, &rec);
	if (r == 0) {
		const char *reason = json_string_value(json_object_get(rec, "reason"));
		json_t *code = json_object_get(rec, "exit_code");
		r = reason && !strcmp(reason, "timeout") ? EXIT_TIMEOUT
		    : json_is_integer(code)		 ? (int)json_integer_value(code)
							 : EXIT_SBX;
	}
	json_decref(rec);
	_cleanup_free_ char *target = sbx_sandbox_target(id, NULL, NULL);
	struct client_resp resp;
	if (target && client_call(sock, "DELETE", target, NULL, NULL, 0, &resp, NULL, NULL) == 0)
		client_resp_clear(&resp);
	return r;
}
