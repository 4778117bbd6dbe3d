// SPDX-License-Identifier: MIT
/* sbx cp: one file into or out of a sandbox (PUT or GET .../files?path=); either side
 * may be - for stdin or stdout. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../sandbox/macro.h"
#include "sbx.h"

/* "ID:/path" -> id and path (in @buf); anything else is local. */
static bool remote_spec(const char *s, char *id, size_t size, const char **path)
{
	const char *colon = strchr(s, ':');

	if (!colon || colon == s || colon[1] != '/' || memchr(s, '/', (size_t)(colon - s)) ||
	    (size_t)(colon - s) >= size)
		return false;
	memcpy(id, s, (size_t)(colon - s));
	id[colon - s] = '\0';
	*path = colon + 1;
	return true;
}

static int cp_upload(const char *sock, const char *target, const char *src)
{
	struct client_resp resp;
	char *data;
	size_t n;
	int r, fd = strcmp(src, "-") ? open(src, O_RDONLY | O_CLOEXEC) : 0;

	if (fd < 0)
		return sbx_die("%s: %s", src, strerror(errno));
	r = sbx_read_all(fd, &data, &n);
	if (fd > 0)
		close(fd);
	if (r < 0)
		return sbx_die("%s: %s", src, strerror(-r));
	r = sbx_api(sock, "PUT", target, "application/octet-stream", data, n, &resp, NULL, NULL);
	free(data);
	if (r)
		return r;
	r = sbx_api_check(&resp);
	client_resp_clear(&resp);
	return r;
}

static int cp_download(const char *sock, const char *target, const char *dst)
{
	struct client_resp resp;
	int r = sbx_api(sock, "GET", target, NULL, NULL, 0, &resp, NULL, NULL);

	if (r)
		return r;
	r = sbx_api_check(&resp);
	if (!r) {
		int fd = strcmp(dst, "-")
				 ? open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
				 : 1;
		if (fd < 0)
			r = sbx_die("%s: %s", dst, strerror(errno));
		else if (client_write_all(fd, resp.body, resp.len) < 0)
			r = sbx_die("%s: %s", dst, strerror(errno));
		if (fd > 1)
			close(fd);
	}
	client_resp_clear(&resp);
	return r;
}

static int cp_usage(void)
{
	return sbx_die("usage: sbx cp SRC DST (one of them ID:/path; - is stdin or stdout)");
}

int cmd_cp(int argc, char **argv)
{
	static const struct option opts[] = { SBX_SOCKET_OPTION, { 0 } };
	const char *sock = NULL, *src, *dst, *rpath;
	char id[128];
	int c, at;

	sbx_prog = "sbx cp";
	while ((c = sbx_getopt(argc, argv, "+:", opts, &at)) != -1) {
		if (c == ':') /* --socket without a value */
			return cp_usage();
		if (c != OPT_SOCKET)
			return sbx_die("unknown option %s (see sbx --help)", argv[at]);
		sock = optarg;
	}
	if (argc - optind != 2)
		return cp_usage();
	src = argv[optind];
	dst = argv[optind + 1];
	bool up = remote_spec(dst, id, sizeof(id), &rpath);
	if (up == remote_spec(src, id, sizeof(id), &rpath))
		return sbx_die("exactly one of SRC and DST must be ID:/path");
	if (!up)
		remote_spec(src, id, sizeof(id), &rpath);
	_cleanup_free_ char *esc = client_query_escape(rpath), *q = NULL, *target = NULL;
	if (!esc || asprintf(&q, "path=%s", esc) < 0 ||
	    !(target = sbx_sandbox_target(id, "files", q)))
		return sbx_die("invalid sandbox id \"%s\"", id);
	return up ? cp_upload(sbx_socket_path(sock), target, src)
		  : cp_download(sbx_socket_path(sock), target, dst);
}
