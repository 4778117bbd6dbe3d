// SPDX-License-Identifier: MIT
/* sbx create: sbx run's options (runopts.c) as a POST /v1/sandboxes body; prints the new
 * sandbox's id, or its whole record with --json. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
	if (o.template_name && (o.image || cmd < argc))
		return sbx_die("--template: a sandbox from a template takes no image or command");
	json_t *tb = o.template_name ? json_pack("{s:s}", "template", o.template_name) : NULL;
	char *body = tb ? json_dumps(tb, JSON_COMPACT) : create_body(&o, argc - cmd, argv + cmd);
	json_decref(tb);
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
	json_t *rec = NULL;
	int r;

	if (o->usage_out)
		return sbx_die("--usage: not with --net internet (sbx usage ID, through sbxd)");
	if (o->seccomp && strcmp(o->seccomp, "default"))
		return sbx_die("--seccomp: only \"default\" with --net internet (through sbxd)");
	char id[32];
	r = sbx_create_id(sock, create_body(o, ncmd, cmd), id);
	if (r)
		return r;
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

/* sbx template create NAME [--ready CMD] [--ready-timeout DUR] [create options] -- CMD:
 * the workload started, its readiness command run until it succeeds, a checkpoint, the
 * template named after it; the sandbox goes. */
static int template_create(int argc, char **argv)
{
	struct run_opts o = { .create = true };
	const char *ready = "true", *name = argc > 1 ? argv[1] : NULL;
	long pool = 0;
	char *end;
	uint64_t ready_ns = 300000000000ULL;
	char *args[256];
	int n = 0, r, cmd;

	if (!name || name[0] == '-')
		return sbx_die(
			"usage: sbx template create NAME [--ready CMD] [--ready-timeout DUR] "
			"[--pool N] [--image IMAGE ...] -- CMD...");
	/* --ready, --ready-timeout and --pool are this verb's; the rest are sbx create's. */
	args[n++] = argv[0];
	for (int i = 2; i < argc && n < 255; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < argc && n < 255)
				args[n++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "--ready") && i + 1 < argc) {
			ready = argv[++i];
		} else if (!strcmp(argv[i], "--pool") && i + 1 < argc) {
			pool = strtol(argv[++i], &end, 10);
			if (*end || pool < 0 || pool > 16)
				return sbx_die("--pool: a count from 0 to 16");
		} else if (!strcmp(argv[i], "--ready-timeout") && i + 1 < argc) {
			if (spec_parse_duration(argv[++i], &ready_ns) < 0 || !ready_ns)
				return sbx_die("--ready-timeout: invalid duration \"%s\"", argv[i]);
		} else {
			args[n++] = argv[i];
		}
	}
	args[n] = NULL;
	cmd = runopts_parse(n, args, &o);
	if (cmd <= 0)
		return -cmd;
	if (cmd >= n)
		return sbx_die("a template needs its workload: sbx template create NAME -- CMD...");
	const char *sock = sbx_socket_path(o.socket);
	char target[160], snap[32] = "", id[32];
	json_t *j = NULL;
	fprintf(stderr, "starting the workload\n");
	r = sbx_create_id(sock, create_body(&o, n - cmd, args + cmd), id);
	if (r)
		return r;
	fprintf(stderr, "waiting until it is ready: %s\n", ready);
	json_t *rb = json_pack("{s:[s,s,s],s:i}", "cmd", "sh", "-c", ready, "timeout", 60);
	char *rbody = json_dumps(rb, JSON_COMPACT);
	json_decref(rb);
	int64_t deadline = sbx_now_ns() + (int64_t)ready_ns;
	snprintf(target, sizeof(target), "/v1/sandboxes/%s/exec", id);
	for (r = 1; r;) {
		json_t *x = NULL;
		struct client_resp resp;
		if (sbx_api(sock, "POST", target, "application/json", rbody, strlen(rbody), &resp,
			    NULL, NULL)) {
			r = EXIT_SBX;
			break;
		}
		x = resp.status == 200 ? json_loads(resp.body, 0, NULL) : NULL;
		client_resp_clear(&resp);
		int code = x ? (int)json_integer_value(json_object_get(x, "exit_code")) : -1;
		json_decref(x);
		if (code == 0 && x) {
			r = 0;
			break;
		}
		if (sbx_now_ns() > deadline) {
			r = sbx_die("not ready within --ready-timeout: %s", ready);
			break;
		}
		struct timespec ts = { 0, 100000000 };
		nanosleep(&ts, NULL);
	}
	free(rbody);
	if (r == 0) {
		fprintf(stderr, "checkpointing\n");
		snprintf(target, sizeof(target), "/v1/sandboxes/%s/checkpoint", id);
		r = sbx_call_json(sock, "POST", target, "{}", &j);
		if (r == 0)
			snprintf(snap, sizeof(snap), "%s",
				 json_string_value(json_object_get(j, "id")) ?: "");
		json_decref(j);
	}
	if (r == 0) {
		json_t *t = json_pack("{s:s,s:s,s:i}", "name", name, "snapshot", snap, "pool",
				      (int)pool);
		char *tb = json_dumps(t, JSON_COMPACT);
		json_decref(t);
		r = sbx_call_json(sock, "POST", "/v1/templates", tb, &j);
		free(tb);
		if (r == 0 && o.json)
			r = sbx_print_json(j);
		else if (r == 0)
			printf("%s %s\n", name, snap);
		json_decref(j);
	}
	struct client_resp resp;
	if (r && snap[0]) {
		snprintf(target, sizeof(target), "/v1/snapshots/%s", snap);
		if (!sbx_api(sock, "DELETE", target, NULL, NULL, 0, &resp, NULL, NULL))
			client_resp_clear(&resp);
	}
	snprintf(target, sizeof(target), "/v1/sandboxes/%s", id);
	if (!sbx_api(sock, "DELETE", target, NULL, NULL, 0, &resp, NULL, NULL))
		client_resp_clear(&resp);
	return r;
}

int cmd_template(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	sbx_prog = "sbx template";
	if (!strcmp(sub, "create"))
		return template_create(argc - 1, argv + 1);
	struct sbx_args a = { 0 };
	int r = sbx_args_parse(argc - 1, argv + 1, &a);
	if (r)
		return r;
	json_t *j;
	char target[200];
	if (!strcmp(sub, "ls")) {
		r = sbx_call_json(sbx_socket_path(a.sock), "GET", "/v1/templates", NULL, &j);
		if (r)
			return r;
		if (a.json) {
			r = sbx_print_json(json_object_get(j, "templates"));
		} else {
			json_t *v;
			size_t i;
			printf("%-24s %-18s %-12s %s\n", "NAME", "SNAPSHOT", "IMAGE", "SIZE");
			json_array_foreach (json_object_get(j, "templates"), i, v)
				printf("%-24s %-18s %-12s %" JSON_INTEGER_FORMAT "\n",
				       json_string_value(json_object_get(v, "name")),
				       json_string_value(json_object_get(v, "snapshot")),
				       json_string_value(json_object_get(v, "image")) ?: "-",
				       json_integer_value(json_object_get(v, "size_bytes")));
		}
		json_decref(j);
		return r;
	}
	if ((!strcmp(sub, "rm") || !strcmp(sub, "inspect")) && a.nids == 1 &&
	    !strchr(a.ids[0], '/') && strlen(a.ids[0]) < 150) {
		snprintf(target, sizeof(target), "/v1/templates/%s", a.ids[0]);
		r = sbx_call_json(sbx_socket_path(a.sock), sub[0] == 'r' ? "DELETE" : "GET", target,
				  NULL, &j);
		if (r == 0 && sub[0] == 'i')
			r = sbx_print_json(j);
		json_decref(j);
		return r;
	}
	return sbx_die("usage: sbx template create NAME [--ready CMD] -- CMD... | ls [--json] | "
		       "inspect NAME | rm NAME");
}
