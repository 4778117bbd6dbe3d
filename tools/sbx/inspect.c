// SPDX-License-Identifier: MIT
/* sbx inspect: a sandbox's record, as sbxd keeps it (JSON). */
#include <stdio.h>

#include "sbx.h"

int cmd_inspect(int argc, char **argv)
{
	struct sbx_args a = { 0 };
	struct client_resp resp;
	int r;

	sbx_prog = "sbx inspect";
	r = sbx_args_parse(argc, argv, &a);
	if (r)
		return r;
	if (a.nids != 1)
		return sbx_die("usage: sbx inspect|logs|usage ID");
	r = sbx_sandbox_get(a.sock, a.ids[0], NULL, &resp);
	if (r)
		return r;
	json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
	r = sbx_print_json(j);
	json_decref(j);
	client_resp_clear(&resp);
	return r;
}
