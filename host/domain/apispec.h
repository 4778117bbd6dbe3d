/* SPDX-License-Identifier: MIT */
/* JSON request bodies of the /v1 API (DESIGN.md section 3.1), checked and converted:
 *   POST /v1/sandboxes    {"image", "cmd", "env", "workdir", "hostname", "user",
 *                          "limits": {"memory", "cpus", "pids", "timeout", "idle_timeout"},
 *                          "net", "gpus", "labels", "seccomp", "writable_size", "user_ns"}
 *   POST .../exec         {"cmd", "env", "workdir", "stdin" | "stdin_b64", "timeout"}
 * Sizes and durations are strings ("256M", "10m") or integers (bytes, seconds); cpus a
 * number or string ("0.5"). Unknown fields are refused. Pure: no I/O.
 * Returns 0, or -EINVAL with *ret_error naming the field and the limit (caller frees). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../sandbox/spec.h"

#define API_MAX_ARGS 256
#define API_MAX_ARG_BYTES (64 * 1024)
#define API_MAX_ENV 256
#define API_MAX_LABELS 64
#define API_MAX_GPUS 16

struct api_create {
	char *image;
	char **cmd; /* NULL-terminated; NULL when not given (the image's default) */
	char **env; /* "K=V", NULL-terminated, never NULL */
	char *workdir, *hostname, *seccomp;
	bool set_user;
	uid_t uid;
	gid_t gid;
	struct sandbox_limits limits;
	uint64_t idle_timeout_ns;
	uint64_t writable_bytes;
	enum net_mode net;
	char **gpus;   /* NULL-terminated, never NULL */
	char **labels; /* key, value pairs, NULL-terminated, never NULL */
};

struct api_exec {
	char **cmd;
	char **env;
	char *workdir;
	char *stdin_data;
	size_t stdin_len;
	uint64_t timeout_ns; /* 0 = none */
};

/* Frees a NULL-terminated array of strings and the strings. */
void strv_free(char **v);

int apispec_parse_create(const char *body, size_t len, struct api_create *ret, char **ret_error);
void api_create_clear(struct api_create *c);

int apispec_parse_exec(const char *body, size_t len, struct api_exec *ret, char **ret_error);
void api_exec_clear(struct api_exec *e);

/* The files API's ?path= (percent-decoded): absolute, not empty, shorter than PATH_MAX.
 * Nothing else is checked here: "..", symlinks and the rest resolve inside the sandbox's
 * root (sbx-init --file, sandbox/filepath.h). */
bool apispec_file_path_valid(const char *path);
