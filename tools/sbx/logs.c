// SPDX-License-Identifier: MIT
/* sbx logs: a sandbox's workload output, as kept so far or (-f) as it grows until the
 * sandbox stops. */
#include <getopt.h>
#include <stdlib.h>

#include "../../sandbox/macro.h"
#include "sbx.h"

/* A followed log: its bytes to stdout as they come; an error answer is kept. */
static bool follow_body(const char *data, size_t len, void *ud)
{
	struct sbx_stream *st = ud;
	if (st->resp->status == 200)
		return client_write_all(1, data, len) == 0;
	return sbx_stream_keep_error(st, data, len);
}

int sbx_logs_follow(const char *sock, const char *id)
{
	_cleanup_free_ char *target = sbx_sandbox_target(id, "logs", "follow=1");
	struct client_resp resp;
	struct sbx_stream st = { .resp = &resp };
	int r;

	if (!target)
		return sbx_die("invalid sandbox id \"%s\"", id);
	r = sbx_api(sbx_socket_path(sock), "GET", target, NULL, NULL, 0, &resp, follow_body, &st);
	if (!r && resp.status != 200)
		r = sbx_stream_error(&st);
	free(st.err);
	client_resp_clear(&resp);
	return r;
}

int cmd_logs(int argc, char **argv)
{
	static const struct option opts[] = {
		SBX_SOCKET_OPTION,
		SBX_JSON_OPTION, /* taken, and of no effect */
		{ "follow", no_argument, NULL, 'f' },
		{ 0 },
	};
	struct sbx_args a = { 0 };
	struct client_resp resp;
	bool follow = false;
	int c, at, r;

	sbx_prog = "sbx logs";
	while ((c = sbx_getopt(argc, argv, "-:f", opts, &at)) != -1) {
		if (c == 'f')
			follow = true;
		else if ((r = sbx_args_take(&a, c, argv, at)))
			return r;
	}
	sbx_args_rest(&a, argc, argv);
	if (a.nids != 1)
		return sbx_die("usage: sbx inspect|logs|usage ID");
	if (follow)
		return sbx_logs_follow(a.sock, a.ids[0]);
	r = sbx_sandbox_get(a.sock, a.ids[0], "logs", &resp);
	if (r)
		return r;
	(void)client_write_all(1, resp.body, resp.len);
	client_resp_clear(&resp);
	return 0;
}
