/* SPDX-License-Identifier: MIT */
/* The rules a sandbox's launcher applies, written once for sbx run and sbxd: the defaults
 * (PATH, HOME, hostname, /tmp, image, limits), the environment's precedence, and ids.
 * No I/O but getrandom() in launch_id_new(). The functions allocate: parent side only;
 * the constants and launch_hostname() are for anyone (sbx-init searches
 * LAUNCH_DEFAULT_PATH). Return convention: 0 on success, -errno on failure. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "spec.h"

/* PATH when nothing else sets one; also where sbx-init looks for a command when the
 * environment has no PATH. */
#define LAUNCH_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define LAUNCH_DEFAULT_HOME "/tmp"
#define LAUNCH_DEFAULT_IMAGE "base"
#define LAUNCH_DEFAULT_WORKDIR "/"
/* The limits of a sandbox that sets none (sbxd: unless its --default-* options say
 * otherwise); an initializer for a struct sandbox_limits. */
#define LAUNCH_DEFAULT_LIMITS                                                                      \
	{                                                                                          \
		.memory_bytes = SPEC_DEFAULT_MEMORY, .cpu_milli = SPEC_DEFAULT_CPU_MILLI,          \
		.pids = SPEC_DEFAULT_PIDS                                                          \
	}
/* Size of a sandbox's /tmp (sbx run --tmp-size, sbxd --tmp-size). */
#define LAUNCH_DEFAULT_TMP_BYTES (256ULL << 20)

/* Random bytes in an id: an id is @prefix then their 12 hex digits. */
#define LAUNCH_ID_BYTES 6

/* The hostname a sandbox has (its UTS name, $HOSTNAME): the one asked for, else its id. */
static inline const char *launch_hostname(const char *hostname, const char *id)
{
	return hostname ? hostname : id;
}

/* Fills each limit @l leaves at 0 (memory, cpu, pids) from @def; a timeout is left as
 * it is. */
void launch_limits_fill(struct sandbox_limits *l, const struct sandbox_limits *def);

/* @prefix then the lowercase hex of @rnd into @buf, cut to @size - 1 characters as
 * snprintf() cuts (a caller that wants fewer digits gives a smaller @size). Pure.
 * -EINVAL if @size is 0. */
int launch_id_format(const char *prefix, const uint8_t rnd[LAUNCH_ID_BYTES], char *buf,
		     size_t size);
/* The same from getrandom(): a new id. Whether it is already taken is the caller's to
 * check. 0 or -errno. */
int launch_id_new(const char *prefix, char *buf, size_t size);

/*
 * Environments are lists of "KEY=VALUE" strings, NULL-terminated, the array and each
 * string malloc'd and owned by the list (free with launch_env_free(); sbxd's strv_free()
 * is the same). A NULL list is empty. An entry whose key is already there replaces that
 * entry where it stands (later wins; the order is that of first appearance); a new key
 * is appended. An entry without '=' or with an empty key is refused with -EINVAL.
 */

/* Sets @kv in *@envp (copied). 0, -EINVAL, -ENOMEM; *@envp unchanged on failure. */
int launch_env_set(char ***envp, const char *kv);
/* Sets each entry of @list (NULL-terminated; NULL: none) in order; stops at the first
 * failure, the entries before it set. */
int launch_env_set_all(char ***envp, char *const *list);
/* The value of @key in @envp (pointing into the list), or NULL. */
const char *launch_env_get(char *const *envp, const char *key);
void launch_env_free(char **envp);

/* What a sandbox's workload starts with, lowest precedence first. */
struct launch_env_src {
	const char *hostname; /* $HOSTNAME: launch_hostname() */
	char *const *image;   /* the image manifest's "env" */
	const char *term;     /* $TERM where the image sets none; NULL: none (sbxd) */
	char *const *request; /* the caller's: sbx run --env, POST /v1/sandboxes "env" */
};

/* PATH=LAUNCH_DEFAULT_PATH, HOME=LAUNCH_DEFAULT_HOME and HOSTNAME, then @src->image's
 * entries, then TERM=@src->term unless set by now, then @src->request's. *@ret_envp:
 * caller frees. */
int launch_env_build(const struct launch_env_src *src, char ***ret_envp);

/* A command run in a running sandbox (sbxd's exec): the sandbox's environment
 * (@box_env), then the command's (@cmd_env); PATH=LAUNCH_DEFAULT_PATH alone when both
 * are empty. *@ret_envp: caller frees. */
int launch_env_exec(char *const *box_env, char *const *cmd_env, char ***ret_envp);
