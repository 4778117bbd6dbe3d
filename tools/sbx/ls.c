// SPDX-License-Identifier: MIT
/* sbx ls: the tenant's sandboxes, one line each (or sbxd's list with --json), filtered
 * by --state and --label. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>

#include "../../sandbox/macro.h"
#include "sbx.h"

enum {
	OPT_STATE = OPT_VERB,
	OPT_LABEL,
};

/* GET /v1/sandboxes with the filters given (caller frees); NULL when out of memory. */
static char *ls_target(const char *state, const char *label)
{
	_cleanup_free_ char *q = NULL, *es = state ? client_query_escape(state) : NULL,
			    *el = label ? client_query_escape(label) : NULL;
	char *target;

	if (asprintf(&q, "/v1/sandboxes%s%s%s%s%s", state || label ? "?" : "",
		     state ? "state=" : "", es ? es : "", state && label ? "&" : "",
		     label ? "label=" : "") < 0) {
		q = NULL;
		return NULL;
	}
	if (asprintf(&target, "%s%s", q, el ? el : "") < 0)
		return NULL;
	return target;
}

static void ls_print(json_t *arr)
{
	json_t *b;
	size_t i;

	printf("%-14s %-9s %-10s %-10s %-24s %s\n", "ID", "STATE", "IMAGE", "TENANT", "CREATED",
	       "EXIT");
	json_array_foreach (arr, i, b) {
		json_t *ec = json_object_get(b, "exit_code");
		char code[16] = "-";
		if (json_is_integer(ec))
			snprintf(code, sizeof(code), "%d", (int)json_integer_value(ec));
		printf("%-14s %-9s %-10s %-10s %-24s %s\n",
		       json_string_value(json_object_get(b, "id")),
		       json_string_value(json_object_get(b, "state")),
		       json_string_value(json_object_get(b, "image")),
		       json_string_value(json_object_get(b, "tenant")),
		       json_string_value(json_object_get(b, "created_at")), code);
	}
}

int cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		SBX_SOCKET_OPTION,
		SBX_JSON_OPTION,
		{ "state", required_argument, NULL, OPT_STATE },
		{ "label", required_argument, NULL, OPT_LABEL },
		{ 0 },
	};
	const char *state = NULL, *label = NULL;
	struct sbx_args a = { 0 };
	json_t *j;
	int c, at, r;

	sbx_prog = "sbx ls";
	while ((c = sbx_getopt(argc, argv, "-:", opts, &at)) != -1) {
		if (c == OPT_STATE)
			state = optarg;
		else if (c == OPT_LABEL)
			label = optarg;
		else if ((r = sbx_args_take(&a, c, argv, at)))
			return r;
	}
	sbx_args_rest(&a, argc, argv);
	if (a.nids != 0)
		return sbx_die("usage: sbx ls [--json] [--state S] [--label K=V]");
	_cleanup_free_ char *target = ls_target(state, label);
	if (!target)
		return sbx_die("out of memory");
	r = sbx_call_json(sbx_socket_path(a.sock), "GET", target, NULL, &j);
	if (r)
		return r;
	if (a.json)
		(void)sbx_print_json(json_object_get(j, "sandboxes"));
	else
		ls_print(json_object_get(j, "sandboxes"));
	json_decref(j);
	return 0;
}
