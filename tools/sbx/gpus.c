// SPDX-License-Identifier: MIT
/* sbx gpus: the host's GPUs, their models and who holds each. */
#include <getopt.h>
#include <stdio.h>

#include "sbx.h"

static void gpus_print(json_t *gpus)
{
	json_t *g;
	size_t i;

	printf("%-5s %-28s %-18s %-14s %s\n", "GPU", "MODEL", "DEVICE", "HELD BY", "BUS");
	json_array_foreach (gpus, i, g) {
		const char *sb = json_string_value(json_object_get(g, "sandbox"));
		bool is_free = json_is_true(json_object_get(g, "free"));
		printf("%-5d %-28s %-18s %-14s %s\n",
		       (int)json_integer_value(json_object_get(g, "index")),
		       json_string_value(json_object_get(g, "model")),
		       json_string_value(json_object_get(g, "device")),
		       is_free ? "-"
		       : sb    ? sb
			       : "(another)",
		       json_is_string(json_object_get(g, "bus"))
			       ? json_string_value(json_object_get(g, "bus"))
			       : "-");
	}
}

int cmd_gpus(int argc, char **argv)
{
	static const struct option opts[] = { SBX_SOCKET_OPTION, SBX_JSON_OPTION, { 0 } };
	const char *sock = NULL;
	bool json = false;
	json_t *j;
	int c, at, r;

	sbx_prog = "sbx gpus";
	while ((c = sbx_getopt(argc, argv, "-:", opts, &at)) != -1) {
		if (c == OPT_SOCKET)
			sock = optarg;
		else if (c == OPT_JSON)
			json = true;
		else
			return sbx_die("usage: sbx gpus [--json]");
	}
	if (optind < argc)
		return sbx_die("usage: sbx gpus [--json]");
	r = sbx_call_json(sbx_socket_path(sock), "GET", "/v1/gpus", NULL, &j);
	if (r)
		return r;
	if (json)
		(void)sbx_print_json(json_object_get(j, "gpus"));
	else
		gpus_print(json_object_get(j, "gpus"));
	json_decref(j);
	return 0;
}
