// SPDX-License-Identifier: MIT
/* Unit tests for the launch rules (sandbox/launch.h) that sbx run and sbxd share: the
 * environment a workload and a command get, ids, and the defaults. */
#include "../../sandbox/launch.h"

#include <ctype.h>
#include <errno.h>

#include "harness.h"

/* The list as lines, to compare whole, order included (caller frees). */
static char *env_lines(char *const *envp)
{
	size_t len = 1;
	for (char *const *p = envp; p && *p; p++)
		len += strlen(*p) + 1;
	char *s = calloc(1, len);
	CHECK(s);
	for (char *const *p = envp; p && *p; p++) {
		strcat(s, *p);
		strcat(s, "\n");
	}
	return s;
}

#define CHECK_ENV(envp, want)                                                                      \
	do {                                                                                       \
		char *got_ = env_lines(envp);                                                      \
		if (strcmp(got_, (want))) {                                                        \
			fprintf(stderr, "%s:%d: environment is\n%sexpected\n%s", __FILE__,         \
				__LINE__, got_, (want));                                           \
			exit(1);                                                                   \
		}                                                                                  \
		free(got_);                                                                        \
	} while (0)

#define DEF_PATH "PATH=" LAUNCH_DEFAULT_PATH "\n"

TEST(env_defaults_only)
{
	struct launch_env_src src = { .hostname = "h1" };
	char **env = NULL;

	CHECK_EQ_INT(launch_env_build(&src, &env), 0);
	CHECK_ENV(env, DEF_PATH "HOME=/tmp\nHOSTNAME=h1\n");
	launch_env_free(env);
}

TEST(env_request_over_image_over_defaults)
{
	char *image[] = { "A=image", "PATH=/img/bin", "B=image", "HOME=/img", NULL };
	char *request[] = { "A=request", "C=request", "HOSTNAME=mine", NULL };
	struct launch_env_src src = { .hostname = "h1", .image = image, .request = request };
	char **env = NULL;

	CHECK_EQ_INT(launch_env_build(&src, &env), 0);
	/* An overridden entry keeps the place of the first one of its key. */
	CHECK_ENV(env, "PATH=/img/bin\nHOME=/img\nHOSTNAME=mine\nA=request\nB=image\n"
		       "C=request\n");
	launch_env_free(env);
}

TEST(env_later_duplicates_win)
{
	char *image[] = { "X=1", "Y=1", "X=2", NULL };
	char *request[] = { "Y=2", "Z=1", "Y=3", "Z=", NULL };
	struct launch_env_src src = { .hostname = "h", .image = image, .request = request };
	char **env = NULL;

	CHECK_EQ_INT(launch_env_build(&src, &env), 0);
	CHECK_ENV(env, DEF_PATH "HOME=/tmp\nHOSTNAME=h\nX=2\nY=3\nZ=\n");
	CHECK(!strcmp(launch_env_get(env, "Y"), "3"));
	CHECK(!strcmp(launch_env_get(env, "Z"), ""));
	CHECK(!launch_env_get(env, "W"));
	launch_env_free(env);
}

TEST(env_key_is_whole)
{
	char **env = NULL;

	/* "A" is not a prefix match of "AB", nor "AB" of "A"; the value may hold '='. */
	CHECK_EQ_INT(launch_env_set(&env, "AB=1"), 0);
	CHECK_EQ_INT(launch_env_set(&env, "A=2"), 0);
	CHECK_EQ_INT(launch_env_set(&env, "ABC=3"), 0);
	CHECK_EQ_INT(launch_env_set(&env, "A==x"), 0);
	CHECK_ENV(env, "AB=1\nA==x\nABC=3\n");
	CHECK(!strcmp(launch_env_get(env, "A"), "=x"));
	CHECK(!launch_env_get(env, "ABCD"));
	launch_env_free(env);
}

TEST(env_term_only_where_image_sets_none)
{
	char *image[] = { "TERM=img", NULL };
	char *request[] = { "TERM=req", NULL };
	struct launch_env_src src = { .hostname = "h", .term = "xterm" };
	char **env = NULL;

	CHECK_EQ_INT(launch_env_build(&src, &env), 0);
	CHECK_ENV(env, DEF_PATH "HOME=/tmp\nHOSTNAME=h\nTERM=xterm\n");
	launch_env_free(env);
	env = NULL;

	src.image = image;
	CHECK_EQ_INT(launch_env_build(&src, &env), 0);
	CHECK_ENV(env, DEF_PATH "HOME=/tmp\nHOSTNAME=h\nTERM=img\n");
	launch_env_free(env);
	env = NULL;

	src.image = NULL;
	src.request = request;
	CHECK_EQ_INT(launch_env_build(&src, &env), 0);
	CHECK_ENV(env, DEF_PATH "HOME=/tmp\nHOSTNAME=h\nTERM=req\n");
	launch_env_free(env);
}

TEST(env_exec_default_path_only_when_none)
{
	char *box[] = { "PATH=/box", "HOME=/tmp", "A=box", NULL };
	char *cmd[] = { "A=cmd", "PATH=/cmd", "B=cmd", NULL };
	char *cmd_nopath[] = { "B=cmd", NULL };
	char *empty[] = { NULL };
	char **env = NULL;

	CHECK_EQ_INT(launch_env_exec(box, cmd, &env), 0);
	CHECK_ENV(env, "PATH=/cmd\nHOME=/tmp\nA=cmd\nB=cmd\n");
	launch_env_free(env);
	env = NULL;

	/* Neither gives anything: the default PATH alone. */
	CHECK_EQ_INT(launch_env_exec(NULL, NULL, &env), 0);
	CHECK_ENV(env, DEF_PATH);
	launch_env_free(env);
	env = NULL;
	CHECK_EQ_INT(launch_env_exec(empty, empty, &env), 0);
	CHECK_ENV(env, DEF_PATH);
	launch_env_free(env);
	env = NULL;

	/* Something given, even without PATH: no default added (a sandbox re-adopted
	 * after sbxd restarted has no environment of its own). */
	CHECK_EQ_INT(launch_env_exec(NULL, cmd_nopath, &env), 0);
	CHECK_ENV(env, "B=cmd\n");
	launch_env_free(env);
}

TEST(env_malformed_refused)
{
	char **env = NULL;

	CHECK_EQ_INT(launch_env_set(&env, "A=1"), 0);
	CHECK_EQ_INT(launch_env_set(&env, "NOEQUALS"), -EINVAL);
	CHECK_EQ_INT(launch_env_set(&env, "=value"), -EINVAL);
	CHECK_EQ_INT(launch_env_set(&env, ""), -EINVAL);
	/* "A" without '=' is not the entry "A=1": nothing replaced. */
	CHECK_EQ_INT(launch_env_set(&env, "A"), -EINVAL);
	CHECK_ENV(env, "A=1\n");

	char *bad[] = { "OK=1", "BAD", NULL };
	struct launch_env_src src = { .hostname = "h", .request = bad };
	char *before[] = { "untouched", NULL }, **out = before;
	CHECK_EQ_INT(launch_env_build(&src, &out), -EINVAL);
	CHECK(out == before);
	CHECK_EQ_INT(launch_env_exec(env, bad, &out), -EINVAL);
	CHECK(out == before);
	launch_env_free(env);
}

TEST(hostname_default_is_id)
{
	CHECK(!strcmp(launch_hostname(NULL, "0123456789ab"), "0123456789ab"));
	CHECK(!strcmp(launch_hostname("box", "0123456789ab"), "box"));
}

TEST(id_format)
{
	const uint8_t rnd[LAUNCH_ID_BYTES] = { 0x00, 0x01, 0xab, 0xcd, 0xef, 0xff };
	char id[16];

	CHECK_EQ_INT(launch_id_format("", rnd, id, sizeof(id)), 0);
	CHECK(!strcmp(id, "0001abcdefff"));
	/* A sandbox's id: 12 hex digits; sbxd's snapshots: "snap-" and 10 (a buffer of 16). */
	CHECK_EQ_INT(launch_id_format("snap-", rnd, id, sizeof(id)), 0);
	CHECK(!strcmp(id, "snap-0001abcdef"));
	CHECK_EQ_INT(launch_id_format("", rnd, id, 11), 0);
	CHECK(!strcmp(id, "0001abcdef"));
	CHECK_EQ_INT(launch_id_format("", rnd, id, 0), -EINVAL);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

TEST(id_new_unique)
{
	enum {
		N = 4096
	};
	static char ids[N][16];

	for (int i = 0; i < N; i++) {
		CHECK_EQ_INT(launch_id_new("", ids[i], sizeof(ids[i])), 0);
		CHECK_EQ_INT(strlen(ids[i]), 2 * LAUNCH_ID_BYTES);
		for (const char *c = ids[i]; *c; c++)
			CHECK(isdigit((unsigned char)*c) || (*c >= 'a' && *c <= 'f'));
	}
	/* 48 random bits: a repeat among 4096 is a 3e-8 chance, not a flake. */
	qsort(ids, N, sizeof(ids[0]), cmp_str);
	for (int i = 1; i < N; i++)
		CHECK(strcmp(ids[i - 1], ids[i]) != 0);
}

TEST(default_sizes)
{
	const struct sandbox_limits def = LAUNCH_DEFAULT_LIMITS;

	CHECK_EQ_INT(LAUNCH_DEFAULT_TMP_BYTES, 256ULL << 20);
	CHECK_EQ_INT(def.memory_bytes, 512ULL << 20);
	CHECK_EQ_INT(def.cpu_milli, 1000);
	CHECK_EQ_INT(def.pids, 512);
	CHECK_EQ_INT(def.timeout_ns, 0);
	CHECK(!strcmp(LAUNCH_DEFAULT_PATH,
		      "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
	CHECK(!strcmp(LAUNCH_DEFAULT_IMAGE, "base"));
	CHECK(!strcmp(LAUNCH_DEFAULT_WORKDIR, "/"));
}

TEST(limits_fill_only_unset)
{
	const struct sandbox_limits def = LAUNCH_DEFAULT_LIMITS;
	struct sandbox_limits l = { .cpu_milli = 250, .timeout_ns = 7 };

	launch_limits_fill(&l, &def);
	CHECK_EQ_INT(l.memory_bytes, 512ULL << 20);
	CHECK_EQ_INT(l.cpu_milli, 250);
	CHECK_EQ_INT(l.pids, 512);
	CHECK_EQ_INT(l.timeout_ns, 7);

	struct sandbox_limits none = { 0 };
	l = (struct sandbox_limits){ .memory_bytes = 4 << 20, .pids = 3 };
	launch_limits_fill(&l, &none);
	CHECK_EQ_INT(l.memory_bytes, 4 << 20);
	CHECK_EQ_INT(l.pids, 3);
	CHECK_EQ_INT(l.cpu_milli, 0);
}
