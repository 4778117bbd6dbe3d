// SPDX-License-Identifier: MIT
/* sbx inspect: a sandbox's record, as sbxd keeps it (JSON). */
#include <stdio.h>

#include "sbx.h"

int cmd_inspect(int argc, char **argv)
{
	struct sbx_args a = { 0 };
	json_t *j;
	int r;

	sbx_prog = "sbx inspect";
	r = sbx_args_parse(argc, argv, &a);
	if (r)
		return r;
	if (a.nids != 1)
		return sbx_die("usage: sbx inspect|logs|usage ID");
	r = sbx_sandbox_get_json(a.sock, a.ids[0], NULL, &j);
	if (r)
		return r;
	r = sbx_print_json(j);
	json_decref(j);
	return r;
}
