// SPDX-License-Identifier: MIT
/* The launch rules both launchers follow (launch.h): environment precedence, ids,
 * default limits. */
#define _GNU_SOURCE
#include "launch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "macro.h"

void launch_limits_fill(struct sandbox_limits *l, const struct sandbox_limits *def)
{
	if (!l->memory_bytes)
		l->memory_bytes = def->memory_bytes;
	if (!l->cpu_milli)
		l->cpu_milli = def->cpu_milli;
	if (!l->pids)
		l->pids = def->pids;
}

int launch_id_format(const char *prefix, const uint8_t rnd[LAUNCH_ID_BYTES], char *buf, size_t size)
{
	char hex[2 * LAUNCH_ID_BYTES + 1];

	if (!size)
		return -EINVAL;
	for (size_t i = 0; i < LAUNCH_ID_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	snprintf(buf, size, "%s%s", prefix, hex);
	return 0;
}

int launch_id_new(const char *prefix, char *buf, size_t size)
{
	uint8_t rnd[LAUNCH_ID_BYTES];

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -errno;
	return launch_id_format(prefix, rnd, buf, size);
}

/* The length of @kv's key, or 0 if it has none (no '=', or nothing before it). */
static size_t env_key_len(const char *kv)
{
	const char *eq = strchr(kv, '=');
	return eq ? (size_t)(eq - kv) : 0;
}

/* The index of the entry with @kv's key (@klen bytes), or the list's length. */
static size_t env_find(char *const *envp, const char *kv, size_t klen)
{
	size_t i = 0;

	for (; envp && envp[i]; i++)
		if (!strncmp(envp[i], kv, klen) && envp[i][klen] == '=')
			break;
	return i;
}

int launch_env_set(char ***envp, const char *kv)
{
	size_t klen = env_key_len(kv);

	if (!klen)
		return -EINVAL;
	_cleanup_free_ char *dup = strdup(kv);
	if (!dup)
		return -ENOMEM;
	size_t i = env_find(*envp, kv, klen);
	if (*envp && (*envp)[i]) {
		free((*envp)[i]);
		(*envp)[i] = TAKE_PTR(dup);
		return 0;
	}
	char **nv = realloc(*envp, (i + 2) * sizeof(char *));
	if (!nv)
		return -ENOMEM;
	nv[i] = TAKE_PTR(dup);
	nv[i + 1] = NULL;
	*envp = nv;
	return 0;
}

int launch_env_set_all(char ***envp, char *const *list)
{
	for (char *const *p = list; p && *p; p++) {
		int r = launch_env_set(envp, *p);
		if (r < 0)
			return r;
	}
	return 0;
}

const char *launch_env_get(char *const *envp, const char *key)
{
	size_t klen = strlen(key);
	size_t i = env_find(envp, key, klen);
	return envp && envp[i] ? envp[i] + klen + 1 : NULL;
}

void launch_env_free(char **envp)
{
	for (char **p = envp; p && *p; p++)
		free(*p);
	free(envp);
}

static void env_freep(char ***envp)
{
	launch_env_free(*envp);
}

int launch_env_build(const struct launch_env_src *src, char ***ret_envp)
{
	_cleanup_(env_freep) char **env = NULL;
	_cleanup_free_ char *host = NULL, *term = NULL;
	int r;

	if (asprintf(&host, "HOSTNAME=%s", src->hostname) < 0) {
		host = NULL;
		return -ENOMEM;
	}
	r = launch_env_set(&env, "PATH=" LAUNCH_DEFAULT_PATH);
	if (r == 0)
		r = launch_env_set(&env, "HOME=" LAUNCH_DEFAULT_HOME);
	if (r == 0)
		r = launch_env_set(&env, host);
	if (r == 0)
		r = launch_env_set_all(&env, src->image);
	if (r == 0 && src->term && !launch_env_get(env, "TERM")) {
		if (asprintf(&term, "TERM=%s", src->term) < 0) {
			term = NULL;
			return -ENOMEM;
		}
		r = launch_env_set(&env, term);
	}
	if (r == 0)
		r = launch_env_set_all(&env, src->request);
	if (r < 0)
		return r;
	*ret_envp = TAKE_PTR(env);
	return 0;
}

int launch_env_exec(char *const *box_env, char *const *cmd_env, char ***ret_envp)
{
	_cleanup_(env_freep) char **env = NULL;
	int r = launch_env_set_all(&env, box_env);

	if (r == 0)
		r = launch_env_set_all(&env, cmd_env);
	if (r == 0 && !env)
		r = launch_env_set(&env, "PATH=" LAUNCH_DEFAULT_PATH);
	if (r < 0)
		return r;
	*ret_envp = TAKE_PTR(env);
	return 0;
}
