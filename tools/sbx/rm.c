// SPDX-License-Identifier: MIT
/* sbx rm: stops and removes sandboxes, and removes snapshots (snap-...); prints each ID
 * removed, or sbxd's answer with --json. */
#include <stdio.h>
#include <string.h>

#include "../../sandbox/macro.h"
#include "sbx.h"

/* One ID: 0; EXIT_SBX when it was not removed; -EXIT_SBX when sbxd cannot be reached. */
static int rm_one(const struct sbx_args *a, const char *id)
{
	_cleanup_free_ char *target = !strncmp(id, "snap-", 5) ? sbx_snapshot_target(id, NULL)
							       : sbx_sandbox_target(id, NULL, NULL);
	struct client_resp resp;
	int r;

	if (!target)
		return sbx_die("invalid sandbox id \"%s\"", id);
	r = sbx_api(sbx_socket_path(a->sock), "DELETE", target, NULL, NULL, 0, &resp, NULL, NULL);
	if (r)
		return -r;
	r = sbx_api_check(&resp);
	if (!r && a->json) {
		json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
		r = sbx_print_json(j);
		json_decref(j);
	} else if (!r) {
		printf("%s\n", id);
	}
	client_resp_clear(&resp);
	return r;
}

int cmd_rm(int argc, char **argv)
{
	struct sbx_args a = { 0 };
	int r;

	sbx_prog = "sbx rm";
	r = sbx_args_parse(argc, argv, &a);
	if (r)
		return r;
	if (a.nids == 0)
		return sbx_die("usage: sbx rm ID...");
	/* Every ID is tried, unless sbxd cannot be reached. */
	for (size_t k = 0; k < a.nids; k++) {
		int e = rm_one(&a, a.ids[k]);
		if (e < 0)
			return -e;
		if (e)
			r = e;
	}
	return r;
}
