/* SPDX-License-Identifier: MIT */
/* What the sbx verbs share: error reporting, calls to sbxd, option reading, and the verbs
 * themselves (a file per verb or family, in main.c's table). Every verb returns the process's
 * exit status; a helper that prints why it failed returns EXIT_SBX. */
#pragma once

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "../../sandbox/sandbox.h"
#include "../client.h"

#define EXIT_TIMEOUT 124
#define EXIT_SBX 125
#define MAX_ENV 256

/* The prefix of error lines: "sbx", or "sbx VERB" once a verb sets it. */
extern const char *sbx_prog;

/* Prints "<sbx_prog>: <message>" on stderr; returns EXIT_SBX. */
int __attribute__((format(printf, 1, 2))) sbx_die(const char *fmt, ...);

int64_t sbx_now_ns(void);
/* Reads @fd to its end into *ret (caller frees); 0 or -errno. */
int sbx_read_all(int fd, char **ret, size_t *ret_len);

/* getopt_long without its own messages; *ret_at is the index of the argument the option
 * was read from. @optstring starts with "+" or "-", so that arguments stay in order. */
int sbx_getopt(int argc, char **argv, const char *optstring, const struct option *opts,
	       int *ret_at);

/* Long options shared by the verbs that talk to sbxd; a verb's own start at OPT_VERB. */
enum {
	OPT_SOCKET = 256,
	OPT_JSON,
	OPT_VERB,
};
/* clang-format off */
#define SBX_SOCKET_OPTION { "socket", required_argument, NULL, OPT_SOCKET }
#define SBX_JSON_OPTION { "json", no_argument, NULL, OPT_JSON }
/* clang-format on */

/* What ls, inspect, logs, rm and usage share: --socket, --json, and the IDs in order. */
struct sbx_args {
	const char *sock;
	bool json;
	const char *ids[256]; /* more are dropped */
	size_t nids;
};

/* Takes --socket, --json or an ID (getopt's 1) into @a; anything else is an unknown
 * option (argv[@at]): printed, EXIT_SBX. */
int sbx_args_take(struct sbx_args *a, int c, char **argv, int at);
/* Takes the IDs after "--". */
void sbx_args_rest(struct sbx_args *a, int argc, char **argv);
/* A verb with no options of its own: all of argv into @a; 0 or EXIT_SBX. */
int sbx_args_parse(int argc, char **argv, struct sbx_args *a);

/* --socket's value, else $SBX_SOCKET, else the default. */
const char *sbx_socket_path(const char *opt);
/* sbxd's state directory, where its image store is: $SBX_STATE_DIR, else /var/lib/sbx. */
const char *sbx_state_dir(void);
/* One call; prints why and returns EXIT_SBX when sbxd cannot be reached (then *resp is
 * empty). */
int sbx_api(const char *sock, const char *method, const char *target, const char *ctype,
	    const char *body, size_t len, struct client_resp *resp, client_body_cb cb, void *ud);
/* 2xx, or a one-line error from sbxd's answer and EXIT_SBX. */
int sbx_api_check(const struct client_resp *resp);
/* A call whose answer is JSON: 0 with *ret the parsed answer (NULL if it does not
 * parse; caller decrefs), or EXIT_SBX after printing why. @body is JSON or NULL. */
int sbx_call_json(const char *sock, const char *method, const char *target, const char *body,
		  json_t **ret);
/* POST /v1/sandboxes with @body (taken, freed; NULL: out of memory): 0 with the new
 * sandbox's id in @id, or EXIT_SBX after printing why. */
int sbx_create_id(const char *sock, char *body, char id[32]);
/* GET of a sandbox's record (@sub NULL) or of one of its resources: 0 with *resp filled
 * (caller clears), or EXIT_SBX after printing why. */
int sbx_sandbox_get(const char *sock, const char *id, const char *sub, struct client_resp *resp);
/* The same, parsed: 0 with *ret (caller frees; NULL if the answer is not JSON), or
 * EXIT_SBX after printing why. */
int sbx_sandbox_get_json(const char *sock, const char *id, const char *sub, json_t **ret);

/* API paths for an ID (caller frees); NULL for an invalid ID or no memory. */
char *sbx_sandbox_target(const char *id, const char *sub, const char *query);
char *sbx_snapshot_target(const char *id, const char *sub);

/* {"K": "V", ...} from "K=V" strings. */
json_t *sbx_kv_object(const char *const *kv, size_t n);
/* A KEY=VALUE given to --@opt, added to @list (*n of @max; @noun names them in the
 * error): 0, or sbx_die()'s status with the reason said. */
int sbx_kv_add(const char *opt, const char *noun, const char *v, const char **list, size_t *n,
	       size_t max);
/* A --workdir value: 0, or sbx_die()'s status unless absolute. */
int sbx_workdir_check(const char *v);
/* Indented, keys sorted; 0 or EXIT_SBX. */
int sbx_print_json(json_t *j);

/* A streamed answer (exec, logs -f): a 200's body goes to a callback; any other
 * answer's body is kept for its error message. */
struct sbx_stream {
	struct client_resp *resp;
	char *line; /* exec: the event being read */
	size_t len, cap;
	int code;
	bool got_exit;
	char *err; /* a non-200 answer's body */
	size_t err_len;
};

bool sbx_stream_keep_error(struct sbx_stream *st, const char *data, size_t len);
/* After a call that returned 0 with a non-200 status: its message, EXIT_SBX. */
int sbx_stream_error(struct sbx_stream *st);

/* sbx run's and sbx create's options (runopts.c reads them for both). */
struct run_opts {
	const char *image, *workdir, *hostname, *seccomp;
	struct sandbox_limits limits;
	uint64_t writable_bytes, tmp_bytes;
	enum net_mode net;
	bool user_ns, set_user;
	uid_t uid;
	gid_t gid;
	const char *env[MAX_ENV + 1]; /* NULL-terminated: at most MAX_ENV are set */
	size_t nenv;
	const char *timeout_text;
	const char *usage_out; /* run only: --usage=FILE|- */
	/* create only */
	bool create, json;
	const char *template_name; /* --template: a restore of it, nothing else asked */
	const char *socket;
	const char *labels[64];
	size_t nlabels;
	const char *gpus[16];
	size_t ngpus;
	uint64_t idle_timeout_ns;
	const char *allow_out[64], *deny_out[64]; /* --allow-out, --deny-out */
	size_t nallow, ndeny;
	bool allow_given;
	unsigned publish[16]; /* --publish PORT */
	size_t npublish;
	const char *net_rate;
};

/* Reads them into @o (o->create: sbx create's); returns the index of CMD in argv, 0 for
 * --help (printed), or -EXIT_SBX after printing why. */
int runopts_parse(int argc, char **argv, struct run_opts *o);

/* The verbs: argv[0] is the verb's name. */
int cmd_run(int argc, char **argv);
/* What `sbx run` needs SQLite or libbpf for, in runfull.c: sbx-full, the CLI on glibc,
 * links it. sbx itself is built against musl without those libraries; there, lean.c's
 * become sbx-full with the same command line, and return only when that fails. */
struct image;
struct run_usage;
/* An image of sbxd's store by @name: 0, -ENOENT or -errno (*ret_error, caller frees). */
int run_store_image(const char *name, struct image **ret, char **ret_error);
/* --usage @out for the run @id: meters @spec's cgroup; NULL (said) on failure. */
struct run_usage *run_usage_start(const char *id, const char *out, struct sandbox_spec *spec);
void run_usage_write(const struct run_usage *u, struct sandbox *sb,
		     const struct sandbox_limits *lim, int64_t wall_ns, int code);
void run_usage_free(struct run_usage *u);
/* The command line sbx was started with (main.c). */
extern char **sbx_argv;
int cmd_create(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_usage(int argc, char **argv);
int cmd_checkpoint(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_fork(int argc, char **argv);
int cmd_snapshots(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_bill(int argc, char **argv);
int cmd_gpus(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_port(int argc, char **argv);
/* A sandbox's log to stdout as it grows, until it stops: 0 or EXIT_SBX. */
int sbx_logs_follow(const char *sock, const char *id);
/* sbx run of a sandbox with a network (--net internet): through sbxd, which makes it,
 * its output followed, removed after; its exit status. */
int sbx_run_remote(const struct run_opts *o, int ncmd, char **cmd);
int cmd_port_forward(int argc, char **argv);
