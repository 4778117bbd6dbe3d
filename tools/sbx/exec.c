// SPDX-License-Identifier: MIT
/* sbx exec: a command in a running sandbox; its stdout and stderr stream back as JSON
 * events (one per line) and sbx exits with its exit code. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sandbox/macro.h"
#include "../../sandbox/spec.h"
#include "../../host/sys/b64.h"
#include "sbx.h"

struct exec_opts {
	const char *sock, *workdir, *timeout, *env[MAX_ENV];
	size_t nenv;
	bool in;
	const char *id;
	char **cmd; /* NULL-terminated, from argv */
};

enum {
	E_ENV = OPT_VERB,
	E_WORKDIR,
	E_TIMEOUT,
	E_HELP,
};

static const struct option exec_options[] = {
	{ "interactive", no_argument, NULL, 'i' },
	{ "env", required_argument, NULL, E_ENV },
	{ "workdir", required_argument, NULL, E_WORKDIR },
	{ "timeout", required_argument, NULL, E_TIMEOUT },
	SBX_SOCKET_OPTION,
	{ "help", no_argument, NULL, E_HELP },
	{ 0 },
};

static void exec_usage(void)
{
	printf("Usage: sbx exec [-i] [--env K=V] [--workdir DIR] [--timeout D] ID [--] CMD "
	       "[ARG...]\n"
	       "Run CMD in sandbox ID with the sandbox's restrictions; its stdout and\n"
	       "stderr stream here and sbx exits with its status (124 on --timeout).\n"
	       "  -i, --interactive   send this stdin to the command\n");
}

/* Options up to ID, then CMD (after an optional "--"). Returns 1 to go on, or the exit
 * status: 0 after --help, EXIT_SBX after printing why. */
static int exec_parse(int argc, char **argv, struct exec_opts *o)
{
	uint64_t ns;
	int c, at, r;

	optind = 1;
	while ((c = sbx_getopt(argc, argv, "+:i", exec_options, &at)) != -1) {
		switch (c) {
		case 'i':
			o->in = true;
			break;
		case E_ENV:
			if ((r = sbx_kv_add("env", "variables", optarg, o->env, &o->nenv, MAX_ENV)))
				return r;
			break;
		case E_WORKDIR:
			if ((r = sbx_workdir_check(optarg)))
				return r;
			o->workdir = optarg;
			break;
		case E_TIMEOUT:
			if (spec_parse_duration(optarg, &ns) < 0 || !ns)
				return sbx_die("--timeout: invalid duration \"%s\" (e.g. 30s)",
					       optarg);
			o->timeout = optarg;
			break;
		case OPT_SOCKET:
			o->sock = optarg;
			break;
		case E_HELP:
			exec_usage();
			return 0;
		case ':':
			return sbx_die("option %s needs a value", argv[at]);
		default:
			return sbx_die("unknown option %s (see sbx exec --help)", argv[at]);
		}
	}
	if (optind >= argc)
		return sbx_die("usage: sbx exec [OPTIONS] ID [--] CMD [ARG...]");
	o->id = argv[optind++];
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	if (optind >= argc)
		return sbx_die("no command given (usage: sbx exec ID [--] CMD [ARG...])");
	o->cmd = argv + optind;
	return 1;
}

/* The request body (caller frees): NULL and *ret_err set when stdin cannot be read,
 * NULL alone when out of memory. */
static char *exec_body(const struct exec_opts *o, int *ret_err)
{
	json_t *req = json_object(), *cmd = json_array();

	for (char **a = o->cmd; *a; a++)
		json_array_append_new(cmd, json_string(*a));
	json_object_set_new(req, "cmd", cmd);
	if (o->nenv)
		json_object_set_new(req, "env", sbx_kv_object(o->env, o->nenv));
	if (o->workdir)
		json_object_set_new(req, "workdir", json_string(o->workdir));
	if (o->timeout)
		json_object_set_new(req, "timeout", json_string(o->timeout));
	if (o->in) {
		char *data, *enc;
		size_t n;
		int r = sbx_read_all(0, &data, &n);
		if (r < 0) {
			*ret_err = -r;
			json_decref(req);
			return NULL;
		}
		enc = b64_encode(data, n);
		free(data);
		json_object_set_new(req, "stdin_b64", json_string(enc ? enc : ""));
		free(enc);
	}
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	return body;
}

/* One event: output is written out, "exit" ends the command. */
static void stream_event(struct sbx_stream *st, const char *line, size_t len)
{
	json_t *ev = json_loadb(line, len, 0, NULL);
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *d = json_object_get(ev, "data"), *d64 = json_object_get(ev, "data_b64");
	int fd = type && !strcmp(type, "stderr") ? 2 : 1;

	if (type && (!strcmp(type, "stdout") || !strcmp(type, "stderr"))) {
		if (d)
			(void)client_write_all(fd, json_string_value(d), json_string_length(d));
		else if (d64) {
			char *raw;
			size_t n;
			if (b64_decode(json_string_value(d64), json_string_length(d64), &raw, &n) ==
			    0) {
				(void)client_write_all(fd, raw, n);
				free(raw);
			}
		}
	} else if (type && !strcmp(type, "exit")) {
		st->code = (int)json_integer_value(json_object_get(ev, "exit_code"));
		st->got_exit = true;
	}
	json_decref(ev);
}

static bool stream_body(const char *data, size_t len, void *ud)
{
	struct sbx_stream *st = ud;

	if (st->resp->status != 200)
		return sbx_stream_keep_error(st, data, len);
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n') {
			stream_event(st, st->line, st->len);
			st->len = 0;
			continue;
		}
		if (st->len == st->cap) {
			size_t cap = st->cap ? st->cap * 2 : 4096;
			char *nb = realloc(st->line, cap);
			if (!nb)
				return false;
			st->line = nb;
			st->cap = cap;
		}
		st->line[st->len++] = data[i];
	}
	return true;
}

int cmd_exec(int argc, char **argv)
{
	struct exec_opts o = { 0 };
	int err = 0, r;

	sbx_prog = "sbx exec";
	r = exec_parse(argc, argv, &o);
	if (r != 1)
		return r;
	char *body = exec_body(&o, &err);
	if (err)
		return sbx_die("reading stdin: %s", strerror(err));
	if (!body)
		return sbx_die("out of memory");
	_cleanup_free_ char *target = sbx_sandbox_target(o.id, "exec", "stream=1");
	if (!target) {
		free(body);
		return sbx_die("invalid sandbox id \"%s\"", o.id);
	}
	struct client_resp resp;
	struct sbx_stream st = { .resp = &resp, .code = EXIT_SBX };
	r = sbx_api(sbx_socket_path(o.sock), "POST", target, "application/json", body, strlen(body),
		    &resp, stream_body, &st);
	free(body);
	if (!r && resp.status != 200)
		r = sbx_stream_error(&st);
	else if (!r && !st.got_exit)
		r = sbx_die("the connection to sbxd ended before the command did");
	else if (!r)
		r = st.code;
	free(st.line);
	free(st.err);
	client_resp_clear(&resp);
	return r;
}
