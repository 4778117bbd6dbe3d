// SPDX-License-Identifier: MIT
/* Launch latency benchmark. Interleaves, round by round, whole-process launches of
 * `sbx run --image base -- /bin/true` (musl) and of the same through sbx-full (glibc),
 * bwrap and unshare doing a similar job, and a plain busybox true (the floor); then
 * times libsandbox in-process from spawn to reaped exit (the path sbxd uses), with and
 * without limits, and a command's round trip through sbx-init's control channel. Prints
 * p50/p99 and ratios against bwrap from the same run.
 * Usage: bench-launch BUILD_DIR [ROUNDS] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../sandbox/ctl.h"
#include "../../sandbox/sandbox.h"
#include "../../sandbox/sysfilter.h"

extern char **environ;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

struct series {
	const char *name;
	int64_t *ns;
	int n;
	double p50, p99;
};

static void summarize(struct series *s)
{
	qsort(s->ns, (size_t)s->n, sizeof(int64_t), cmp_i64);
	s->p50 = (double)s->ns[s->n / 2] / 1e6;
	s->p99 = (double)s->ns[(s->n * 99) / 100 < s->n ? (s->n * 99) / 100 : s->n - 1] / 1e6;
}

static int64_t run_process(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	int64_t t0 = now_ns();
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		fprintf(stderr, "cannot run %s\n", argv[0]);
		exit(1);
	}
	waitpid(pid, &status, 0);
	int64_t dt = now_ns() - t0;
	posix_spawn_file_actions_destroy(&fa);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s exited with status %d\n", argv[0], status);
		exit(1);
	}
	return dt;
}

static int64_t run_inproc(struct sandbox_spec *spec, const char *init, int64_t *teardown_ns)
{
	struct sandbox *sb;
	struct sandbox_error err;
	char id[32];
	static int seq;

	snprintf(id, sizeof(id), "bench-%d-%d", (int)getpid(), seq++);
	spec->id = id;
	int64_t t0 = now_ns();
	if (sandbox_start(spec, init, &sb, &err) < 0) {
		fprintf(stderr, "sandbox_start: %s: %s\n", sandbox_stage_name(err.stage),
			strerror(err.err));
		exit(1);
	}
	if (sandbox_wait(sb) != 0) {
		fprintf(stderr, "in-process /bin/true failed\n");
		exit(1);
	}
	int64_t dt = now_ns() - t0;
	t0 = now_ns();
	sandbox_destroy(sb);
	*teardown_ns = now_ns() - t0;
	return dt;
}

enum {
	SBX,
	SBX_FULL,
	BWRAP,
	UNSHARE,
	FLOOR,
	INPROC,
	INPROC_LIM,
	TEARDOWN,
	EXEC,
	NSERIES
};

static const char *const names[NSERIES] = {
	"sbx run (process)",   "sbx-full run (glibc)", "bwrap (process)",
	"unshare (process)",   "busybox true (floor)", "libsandbox in-process",
	"libsandbox + limits", "  teardown (cgroups)", "exec via control channel",
};

/* Exec round trip through sbx-init's control channel, in one serving sandbox made from
 * @spec: request sent to EXITED received, for @spec's command. 0 or -1. */
static int exec_rounds(const struct sandbox_spec *spec, const char *init, int rounds,
		       struct series *exec)
{
	struct sandbox_spec serving = *spec;
	serving.argv = NULL;
	serving.control = true;
	serving.id = "bench-exec";
	struct sandbox *sb;
	struct sandbox_error serr;
	if (sandbox_start(&serving, init, &sb, &serr) < 0) {
		fprintf(stderr, "serving sandbox: %s\n", sandbox_stage_name(serr.stage));
		return -1;
	}
	int ctl = ctl_connect(sb->pidfd, false), devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	int stdio[3] = { devnull, devnull, devnull };
	for (int r = 0; r < rounds + 5; r++) {
		struct ctl_reply rep;
		int64_t t0 = now_ns();
		if (ctl_send_exec(ctl, (uint32_t)r, spec->argv, spec->envp, "/", stdio) < 0)
			return -1;
		do {
			if (ctl_read_reply(ctl, &rep) < 0)
				return -1;
		} while (rep.type == CTL_STARTED);
		if (rep.type != CTL_EXITED || rep.value != 0)
			return -1;
		if (r >= 5)
			exec->ns[exec->n++] = now_ns() - t0;
	}
	close(ctl);
	close(devnull);
	sandbox_destroy(sb);
	return 0;
}

static void report(struct series *s, int rounds)
{
	for (int i = 0; i < NSERIES; i++)
		summarize(&s[i]);
	printf("launch latency, %d interleaved rounds, spawn to reaped exit of /bin/true\n",
	       rounds);
	printf("%-26s %9s %9s %12s\n", "", "p50 ms", "p99 ms", "p50 vs bwrap");
	for (int i = 0; i < NSERIES; i++)
		printf("%-26s %9.2f %9.2f %11.2fx\n", s[i].name, s[i].p50, s[i].p99,
		       s[i].p50 / s[BWRAP].p50);
	printf("\nsbx run does more than bwrap here: cgroups (v2 + CLONE_INTO_CGROUP), seccomp,\n"
	       "time namespace, /proc masking; limits add v1 cgroup writes on hybrid hosts.\n");
}

int main(int argc, char **argv)
{
	const char *b = argc > 1 ? argv[1] : "build";
	int rounds = argc > 2 ? atoi(argv[2]) : 200;
	char sbx[512], full[512], init[512], rel[512], rootfs[PATH_MAX];

	snprintf(sbx, sizeof(sbx), "%s/sbx", b);
	snprintf(full, sizeof(full), "%s/sbx-full", b);
	snprintf(init, sizeof(init), "%s/sbx-init", b);
	snprintf(rel, sizeof(rel), "%s/images/base/rootfs", b);
	if (!realpath(rel, rootfs)) {
		perror(rel);
		return 1;
	}
	char *cmd_sbx[] = { sbx, "run", "--image", "base", "--", "/bin/true", NULL };
	/* The same CLI on glibc (the Makefile's sbx-full), for what musl saves sbx. */
	char *cmd_full[] = { full, "run", "--image", "base", "--", "/bin/true", NULL };
	char *cmd_bwrap[] = { "/usr/bin/bwrap",
			      "--unshare-all",
			      "--die-with-parent",
			      "--ro-bind",
			      rootfs,
			      "/",
			      "--proc",
			      "/proc",
			      "--dev",
			      "/dev",
			      "--tmpfs",
			      "/tmp",
			      "/bin/true",
			      NULL };
	char root_opt[PATH_MAX + 16];
	snprintf(root_opt, sizeof(root_opt), "--root=%s", rootfs);
	char *cmd_unshare[] = { "/usr/bin/unshare",
				"--fork",
				"--pid",
				"--mount",
				"--uts",
				"--ipc",
				"--net",
				"--cgroup",
				root_opt,
				"--mount-proc",
				"/bin/true",
				NULL };
	char *cmd_floor[] = { "/bin/busybox", "true", NULL };

	struct sysfilter *filter;
	if (sysfilter_new_default(&filter) < 0)
		return 1;
	char *wl[] = { "/bin/true", NULL };
	char *envp[] = { "PATH=/bin", NULL };
	struct sandbox_spec spec = {
		.rootfs = rootfs,
		.argv = wl,
		.envp = envp,
		.tmp_bytes = 64 << 20,
		.time_ns = true,
		.filter = filter,
		.stdio = { -1, -1, -1 },
	};
	struct sandbox_spec limited = spec;
	limited.limits =
		(struct sandbox_limits){ .memory_bytes = 256 << 20, .cpu_milli = 500, .pids = 64 };

	struct series s[NSERIES];
	for (int i = 0; i < NSERIES; i++)
		s[i] = (struct series){ .name = names[i] };
	for (int i = 0; i < NSERIES; i++)
		s[i].ns = calloc((size_t)rounds, sizeof(int64_t));

	/* Warm-up: page cache, dentries. */
	for (int i = 0; i < 5; i++) {
		int64_t td;
		run_process(cmd_sbx);
		run_process(cmd_full);
		run_process(cmd_bwrap);
		run_inproc(&spec, init, &td);
	}
	for (int r = 0; r < rounds; r++) {
		int64_t td;
		s[SBX].ns[s[SBX].n++] = run_process(cmd_sbx);
		s[SBX_FULL].ns[s[SBX_FULL].n++] = run_process(cmd_full);
		s[BWRAP].ns[s[BWRAP].n++] = run_process(cmd_bwrap);
		s[UNSHARE].ns[s[UNSHARE].n++] = run_process(cmd_unshare);
		s[FLOOR].ns[s[FLOOR].n++] = run_process(cmd_floor);
		s[INPROC].ns[s[INPROC].n++] = run_inproc(&spec, init, &td);
		s[INPROC_LIM].ns[s[INPROC_LIM].n++] = run_inproc(&limited, init, &td);
		s[TEARDOWN].ns[s[TEARDOWN].n++] = td;
	}
	if (exec_rounds(&spec, init, rounds, &s[EXEC]) < 0)
		return 1;
	report(s, rounds);
	sysfilter_free(filter);
	return 0;
}
