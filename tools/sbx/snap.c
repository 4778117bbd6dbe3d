// SPDX-License-Identifier: MIT
/* Snapshots: sbx checkpoint (CRIU dump), sbx restore (a new sandbox from one), sbx fork
 * (running copies) and sbx snapshots (the list). Their messages are prefixed "sbx:". */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../sandbox/macro.h"
#include "sbx.h"

enum {
	OPT_LEAVE = OPT_VERB,
};

struct snap_args {
	const char *sock, *id;
	bool json, leave;
	long count;
};

/* --socket, --json and at most one ID, in order, with the options in @opts (checkpoint's
 * --leave-running, fork's -n): 0 or EXIT_SBX. */
static int snap_parse(int argc, char **argv, const char *optstring, const struct option *opts,
		      struct snap_args *a)
{
	struct sbx_args common = { 0 };
	char *end;
	int c, at, r = 0;

	while (!r && (c = sbx_getopt(argc, argv, optstring, opts, &at)) != -1) {
		if (c == OPT_LEAVE) {
			a->leave = true;
		} else if (c == 'n') {
			a->count = strtol(optarg, &end, 10);
			if (*end || a->count < 1 || a->count > 16)
				return sbx_die("-n: a count from 1 to 16 is required");
		} else if ((r = sbx_args_take(&common, c, argv, at)) == 0 && common.nids > 1) {
			r = sbx_die("one id only");
		}
	}
	if (r)
		return r;
	sbx_args_rest(&common, argc, argv);
	if (common.nids > 1)
		return sbx_die("one id only");
	a->sock = common.sock;
	a->json = common.json;
	a->id = common.nids ? common.ids[0] : NULL;
	return 0;
}

/* POST @target with @body; prints the new id, or the whole answer with --json. */
static int snap_post(const struct snap_args *a, const char *target, const char *body)
{
	json_t *j;
	int r = sbx_call_json(sbx_socket_path(a->sock), "POST", target, body, &j);

	if (r)
		return r;
	if (a->json)
		r = sbx_print_json(j);
	else
		printf("%s\n", json_string_value(json_object_get(j, "id")));
	json_decref(j);
	return r;
}

int cmd_checkpoint(int argc, char **argv)
{
	static const struct option opts[] = {
		SBX_SOCKET_OPTION,
		SBX_JSON_OPTION,
		{ "leave-running", no_argument, NULL, OPT_LEAVE },
		{ 0 },
	};
	struct snap_args a = { 0 };
	int r = snap_parse(argc, argv, "-:", opts, &a);

	if (r)
		return r;
	if (!a.id)
		return sbx_die("usage: sbx checkpoint [--leave-running] [--json] ID");
	_cleanup_free_ char *target = sbx_sandbox_target(a.id, "checkpoint", NULL);
	if (!target)
		return sbx_die("invalid id \"%s\"", a.id);
	return snap_post(&a, target, a.leave ? "{\"leave_running\": true}" : "{}");
}

int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = { SBX_SOCKET_OPTION, SBX_JSON_OPTION, { 0 } };
	struct snap_args a = { 0 };
	int r = snap_parse(argc, argv, "-:", opts, &a);

	if (r)
		return r;
	if (!a.id)
		return sbx_die("usage: sbx restore [--json] SNAPSHOT");
	_cleanup_free_ char *target = sbx_snapshot_target(a.id, "restore");
	if (!target)
		return sbx_die("invalid id \"%s\"", a.id);
	return snap_post(&a, target, "{}");
}

int cmd_fork(int argc, char **argv)
{
	static const struct option opts[] = {
		SBX_SOCKET_OPTION,
		SBX_JSON_OPTION,
		{ "count", required_argument, NULL, 'n' },
		{ 0 },
	};
	struct snap_args a = { .count = 1 };
	char body[64];
	json_t *j, *id;
	size_t i;
	int r = snap_parse(argc, argv, "-:n:", opts, &a);

	if (r)
		return r;
	if (!a.id)
		return sbx_die("usage: sbx fork [-n N] [--json] ID");
	_cleanup_free_ char *target = sbx_sandbox_target(a.id, "fork", NULL);
	if (!target)
		return sbx_die("invalid id \"%s\"", a.id);
	snprintf(body, sizeof(body), "{\"count\": %ld}", a.count);
	r = sbx_call_json(sbx_socket_path(a.sock), "POST", target, body, &j);
	if (r)
		return r;
	if (a.json)
		r = sbx_print_json(j);
	else
		json_array_foreach (json_object_get(j, "sandboxes"), i, id)
			printf("%s\n", json_string_value(id));
	json_decref(j);
	return r;
}

static void snapshots_print(json_t *arr)
{
	json_t *o;
	size_t i;

	printf("%-16s %-14s %-10s %-8s %12s  %s\n", "ID", "SANDBOX", "TENANT", "IMAGE", "SIZE",
	       "CREATED");
	json_array_foreach (arr, i, o) {
		json_t *at = json_object_get(o, "created_at");
		char when[32] = "-";
		if (json_is_string(at)) { /* RFC 3339, to the second */
			snprintf(when, sizeof(when), "%.19sZ", json_string_value(at));
		} else if (json_is_integer(at)) { /* an older sbxd: seconds */
			time_t t = (time_t)json_integer_value(at);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
		}
		printf("%-16s %-14s %-10s %-8s %12" JSON_INTEGER_FORMAT "  %s\n",
		       json_string_value(json_object_get(o, "id")),
		       json_string_value(json_object_get(o, "sandbox")),
		       json_string_value(json_object_get(o, "tenant")),
		       json_string_value(json_object_get(o, "image")),
		       json_integer_value(json_object_get(o, "size_bytes")), when);
	}
}

int cmd_snapshots(int argc, char **argv)
{
	static const struct option opts[] = { SBX_SOCKET_OPTION, SBX_JSON_OPTION, { 0 } };
	struct snap_args a = { 0 };
	json_t *j;
	int r = snap_parse(argc, argv, "-:", opts, &a);

	if (r)
		return r;
	if (a.id)
		return sbx_die("usage: sbx snapshots [--json]");
	r = sbx_call_json(sbx_socket_path(a.sock), "GET", "/v1/snapshots", NULL, &j);
	if (r)
		return r;
	if (a.json)
		r = sbx_print_json(j);
	else
		snapshots_print(json_object_get(j, "snapshots"));
	json_decref(j);
	return r;
}
