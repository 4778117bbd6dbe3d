// SPDX-License-Identifier: MIT
/* Helpers every sbx verb uses: error lines, option reading, and calls to sbxd over its
 * socket (tools/client.c) with their answers checked. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../sandbox/macro.h"
#include "../../sandbox/text.h"
#include "sbx.h"

const char *sbx_prog = "sbx";

int sbx_die(const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	/* One line, whatever the values it quotes hold (control bytes become '?'). */
	va_start(ap, fmt);
	text_verror(&msg, 0, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", sbx_prog, msg ? msg : "out of memory");
	free(msg);
	return EXIT_SBX;
}

int64_t sbx_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int sbx_read_all(int fd, char **ret, size_t *ret_len)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

int sbx_getopt(int argc, char **argv, const char *optstring, const struct option *opts, int *ret_at)
{
	/* In order, optind is the argument being read until getopt moves past it. */
	*ret_at = optind;
	return getopt_long(argc, argv, optstring, opts, NULL);
}

int sbx_args_take(struct sbx_args *a, int c, char **argv, int at)
{
	switch (c) {
	case OPT_SOCKET:
		a->sock = optarg;
		return 0;
	case OPT_JSON:
		a->json = true;
		return 0;
	case 1:
		if (a->nids < ARRAY_SIZE(a->ids))
			a->ids[a->nids++] = optarg;
		return 0;
	default:
		return sbx_die("unknown option %s (see sbx --help)", argv[at]);
	}
}

void sbx_args_rest(struct sbx_args *a, int argc, char **argv)
{
	for (; optind < argc; optind++)
		if (a->nids < ARRAY_SIZE(a->ids))
			a->ids[a->nids++] = argv[optind];
}

int sbx_args_parse(int argc, char **argv, struct sbx_args *a)
{
	static const struct option opts[] = { SBX_SOCKET_OPTION, SBX_JSON_OPTION, { 0 } };
	int c, at, r;

	while ((c = sbx_getopt(argc, argv, "-:", opts, &at)) != -1) {
		r = sbx_args_take(a, c, argv, at);
		if (r)
			return r;
	}
	sbx_args_rest(a, argc, argv);
	return 0;
}

const char *sbx_socket_path(const char *opt)
{
	const char *e = getenv("SBX_SOCKET");
	return opt ? opt : e && e[0] ? e : CLIENT_DEFAULT_SOCKET;
}

const char *sbx_state_dir(void)
{
	const char *e = getenv("SBX_STATE_DIR");
	return e && e[0] ? e : "/var/lib/sbx";
}

int sbx_api(const char *sock, const char *method, const char *target, const char *ctype,
	    const char *body, size_t len, struct client_resp *resp, client_body_cb cb, void *ud)
{
	int r = client_call(sock, method, target, ctype, body, len, resp, cb, ud);

	if (r < 0)
		client_resp_clear(resp);
	if (r == -ENOENT || r == -ECONNREFUSED)
		return sbx_die(
			"cannot reach sbxd at %s: %s (start it with `make run` or build/sbxd)",
			sock, strerror(-r));
	if (r < 0)
		return sbx_die("sbxd at %s: %s", sock, strerror(-r));
	return 0;
}

int sbx_api_check(const struct client_resp *resp)
{
	if (resp->status >= 200 && resp->status < 300)
		return 0;
	return sbx_die("%s", client_error_message(resp));
}

int sbx_call_json(const char *sock, const char *method, const char *target, const char *body,
		  json_t **ret)
{
	struct client_resp resp;
	int r;

	*ret = NULL;
	r = sbx_api(sock, method, target, body ? "application/json" : NULL, body,
		    body ? strlen(body) : 0, &resp, NULL, NULL);
	if (r)
		return r;
	r = sbx_api_check(&resp);
	if (!r)
		*ret = json_loadb(resp.body, resp.len, 0, NULL);
	client_resp_clear(&resp);
	return r;
}

int sbx_sandbox_get(const char *sock, const char *id, const char *sub, struct client_resp *resp)
{
	_cleanup_free_ char *target = sbx_sandbox_target(id, sub, NULL);
	int r;

	if (!target)
		return sbx_die("invalid sandbox id \"%s\"", id);
	r = sbx_api(sbx_socket_path(sock), "GET", target, NULL, NULL, 0, resp, NULL, NULL);
	if (r)
		return r;
	r = sbx_api_check(resp);
	if (r)
		client_resp_clear(resp);
	return r;
}

int sbx_sandbox_get_json(const char *sock, const char *id, const char *sub, json_t **ret)
{
	_cleanup_free_ char *target = sbx_sandbox_target(id, sub, NULL);

	*ret = NULL;
	if (!target)
		return sbx_die("invalid sandbox id \"%s\"", id);
	return sbx_call_json(sbx_socket_path(sock), "GET", target, NULL, ret);
}

char *sbx_sandbox_target(const char *id, const char *sub, const char *query)
{
	char *esc = client_query_escape(id), *out;

	if (!esc || strchr(id, '/') || !id[0]) {
		free(esc);
		return NULL;
	}
	if (asprintf(&out, "/v1/sandboxes/%s%s%s%s%s", esc, sub ? "/" : "", sub ? sub : "",
		     query ? "?" : "", query ? query : "") < 0)
		out = NULL;
	free(esc);
	return out;
}

char *sbx_snapshot_target(const char *id, const char *sub)
{
	char *esc = client_query_escape(id), *out;

	if (!esc || strchr(id, '/') || !id[0]) {
		free(esc);
		return NULL;
	}
	if (asprintf(&out, "/v1/snapshots/%s%s%s", esc, sub ? "/" : "", sub ? sub : "") < 0)
		out = NULL;
	free(esc);
	return out;
}

int sbx_kv_add(const char *opt, const char *noun, const char *v, const char **list, size_t *n,
	       size_t max)
{
	if (!strchr(v, '=') || v[0] == '=')
		return sbx_die("--%s: \"%s\" is not of the form KEY=VALUE", opt, v);
	if (*n == max)
		return sbx_die("--%s: at most %zu %s", opt, max, noun);
	list[(*n)++] = v;
	return 0;
}

int sbx_workdir_check(const char *v)
{
	return v[0] == '/' ? 0 : sbx_die("--workdir: \"%s\" must be an absolute path", v);
}

json_t *sbx_kv_object(const char *const *kv, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(kv[i], '=');
		char *k = strndup(kv[i], (size_t)(eq - kv[i]));
		if (k)
			json_object_set_new(o, k, json_string(eq + 1));
		free(k);
	}
	return o;
}

int sbx_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!s)
		return sbx_die("cannot format the answer");
	printf("%s\n", s);
	free(s);
	return 0;
}

bool sbx_stream_keep_error(struct sbx_stream *st, const char *data, size_t len)
{
	char *nb = realloc(st->err, st->err_len + len + 1);
	if (!nb)
		return false;
	st->err = nb;
	memcpy(st->err + st->err_len, data, len);
	st->err_len += len;
	st->err[st->err_len] = '\0';
	return true;
}

int sbx_stream_error(struct sbx_stream *st)
{
	st->resp->body = st->err;
	st->resp->len = st->err_len;
	st->err = NULL;
	return sbx_api_check(st->resp);
}

int sbx_create_id(const char *sock, char *body, char id[32])
{
	json_t *j = NULL;
	int r = body ? sbx_call_json(sock, "POST", "/v1/sandboxes", body, &j)
		     : sbx_die("out of memory");

	free(body);
	if (r)
		return r;
	snprintf(id, 32, "%s", json_string_value(json_object_get(j, "id")) ?: "");
	json_decref(j);
	return id[0] ? 0 : sbx_die("sbxd's answer has no id");
}
