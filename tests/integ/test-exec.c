// SPDX-License-Identifier: MIT
/* Commands started through sbx-init's control channel: they carry exactly the
 * workload's restrictions, their stdio and exit codes arrive intact, many run at once,
 * the channel survives reconnects and stays out of the sandbox's reach. Real
 * sandboxes: runs as root. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../sandbox/cgroup.h"
#include "../../sandbox/ctl.h"
#include "../../sandbox/sandbox.h"
#include "../../sandbox/sysfilter.h"
#include "../unit/harness.h"

static char rootfs[PATH_MAX], init_path[PATH_MAX];
static char *envp[] = { "PATH=/bin:/usr/bin", NULL };

/* sandbox_start's outcome for sandbox @id with @lim (NULL: none). */
static int try_start(char *const *workload, const char *id, const struct sandbox_limits *lim,
		     struct sandbox **sb, struct sandbox_error *err)
{
	const char *b = getenv("SBX_BUILD") ? getenv("SBX_BUILD") : "build";
	static struct sysfilter *filter;
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "%s/images/base/rootfs", b);
	CHECK(realpath(rel, rootfs));
	snprintf(init_path, sizeof(init_path), "%s/sbx-init", b);
	if (!filter)
		CHECK_EQ_INT(sysfilter_new_default(&filter), 0);
	struct sandbox_spec spec = {
		.id = id,
		.rootfs = rootfs,
		.argv = workload,
		.envp = envp,
		.hostname = "ctl-box",
		.tmp_bytes = 16 << 20,
		.time_ns = true,
		.die_with_parent = true,
		.control = true,
		.filter = filter,
		.stdio = { -1, -1, -1 },
	};
	if (lim)
		spec.limits = *lim;
	return sandbox_start(&spec, init_path, sb, err);
}

static struct sandbox *start(char *const *workload)
{
	struct sandbox_error err;
	struct sandbox *sb;
	char id[32];

	snprintf(id, sizeof(id), "exec-test-%d", (int)getpid());
	int r = try_start(workload, id, NULL, &sb, &err);
	if (r < 0)
		fprintf(stderr, "start: %s: %s\n", sandbox_stage_name(err.stage),
			strerror(err.err));
	CHECK_EQ_INT(r, 0);
	return sb;
}

struct result {
	int type;  /* CTL_EXITED or CTL_FAILED */
	int value; /* exit code or errno */
	char out[8192], err[8192];
};

static void read_all(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
}

/* Sends EXEC; returns the fds the caller reads from (stdout, stderr) and writes to. */
static void send_exec(int ctl, uint32_t id, char *const argv[], const char *cwd, int *in_w,
		      int *out_r, int *err_r)
{
	int in[2], out[2], err[2];
	CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 &&
	      pipe2(err, O_CLOEXEC) == 0);
	int stdio[3] = { in[0], out[1], err[1] };
	CHECK_EQ_INT(ctl_send_exec(ctl, id, argv, envp, cwd, stdio), 0);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	*in_w = in[1];
	*out_r = out[0];
	*err_r = err[0];
}

static void wait_reply(int ctl, uint32_t id, struct result *res)
{
	struct ctl_reply rep;
	for (;;) {
		CHECK_EQ_INT(ctl_read_reply(ctl, &rep), 0);
		CHECK_EQ_INT(rep.id, id);
		if (rep.type == CTL_STARTED) {
			CHECK(rep.value > 1); /* a pid inside the sandbox, not PID 1 */
			continue;
		}
		res->type = (int)rep.type;
		res->value = rep.value;
		return;
	}
}

static void run(int ctl, uint32_t id, char *const argv[], const char *cwd, const char *in,
		struct result *res)
{
	int in_w, out_r, err_r;
	send_exec(ctl, id, argv, cwd, &in_w, &out_r, &err_r);
	if (in)
		CHECK(write(in_w, in, strlen(in)) == (ssize_t)strlen(in));
	close(in_w);
	read_all(out_r, res->out, sizeof(res->out));
	read_all(err_r, res->err, sizeof(res->err));
	close(out_r);
	close(err_r);
	wait_reply(ctl, id, res);
}

static void stop(struct sandbox *sb)
{
	sandbox_destroy(sb);
}

TEST(exec_has_the_workloads_restrictions)
{
	char *workload[] = { "sleep", "60", NULL };
	struct sandbox *sb = start(workload);
	int ctl = ctl_connect(sb->pidfd, false);
	CHECK(ctl >= 0);
	struct result r;
	char *argv[] = { "sh", "-c",
			 "grep -E '^(CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status "
			 "| tr -s '\\t ' ' '; "
			 "for n in pid net mnt uts ipc cgroup time user; do "
			 "[ \"$(readlink /proc/self/ns/$n)\" = \"$(readlink /proc/2/ns/$n)\" ] || "
			 "echo \"$n differs\"; "
			 "done; grep ^0:: /proc/self/cgroup; hostname; "
			 "cat /proc/2/cmdline | tr '\\0' ' '; echo; "
			 "readlink /proc/1/fd/0 >/dev/null 2>&1 || echo init-fds-closed",
			 NULL };
	run(ctl, 1, argv, "/", NULL, &r);
	CHECK_EQ_INT(r.type, CTL_EXITED);
	CHECK_EQ_INT(r.value, 0);
	CHECK(!strcmp(r.out, "CapEff: 0000000000000000\nCapBnd: 0000000000000000\n"
			     "CapAmb: 0000000000000000\nNoNewPrivs: 1\nSeccomp: 2\n"
			     "0::/\nctl-box\nsleep 60 \ninit-fds-closed\n"));
	/* The same denials as the workload: */
	char *deny[] = { "sh", "-c", "mount -t tmpfs x /tmp 2>&1; unshare -n true 2>&1; true",
			 NULL };
	run(ctl, 2, deny, "/", NULL, &r);
	CHECK_STR_CONTAINS(r.out, "mount: permission denied");
	CHECK_STR_CONTAINS(r.out, "unshare: unshare(0x40000000): Operation not permitted");
	close(ctl);
	stop(sb);
}

TEST(exec_stdio_exit_codes_and_failures)
{
	struct sandbox *sb = start(NULL); /* serves only */
	int ctl = ctl_connect(sb->pidfd, false);
	struct result r;
	char *cat[] = { "cat", NULL };
	run(ctl, 1, cat, "/", "hello\nworld\n", &r);
	CHECK(r.type == CTL_EXITED && r.value == 0 && !strcmp(r.out, "hello\nworld\n"));
	char *seven[] = { "sh", "-c", "echo out; echo err >&2; pwd; exit 7", NULL };
	run(ctl, 2, seven, "/etc", NULL, &r);
	CHECK(r.type == CTL_EXITED && r.value == 7);
	CHECK(!strcmp(r.out, "out\n/etc\n") && !strcmp(r.err, "err\n"));
	char *killed[] = { "sh", "-c", "kill -9 $$", NULL };
	run(ctl, 3, killed, "/", NULL, &r);
	CHECK(r.type == CTL_EXITED && r.value == 137);
	char *missing[] = { "no-such-command", NULL };
	run(ctl, 4, missing, "/", NULL, &r);
	CHECK(r.type == CTL_FAILED && r.value == ENOENT);
	char *noexec[] = { "/etc/passwd", NULL };
	run(ctl, 5, noexec, "/", NULL, &r);
	CHECK(r.type == CTL_FAILED && r.value == EACCES);
	char *t[] = { "true", NULL };
	run(ctl, 6, t, "/nonexistent", NULL, &r);
	CHECK(r.type == CTL_FAILED && r.value == (CTL_ERR_CWD | ENOENT));
	close(ctl);
	stop(sb);
}

TEST(many_concurrent_execs)
{
	enum {
		N = 40
	};
	struct sandbox *sb = start(NULL);
	int ctl = ctl_connect(sb->pidfd, false), in_w[N], out_r[N], err_r[N];
	for (int i = 0; i < N; i++) {
		char script[64];
		snprintf(script, sizeof(script), "sleep 0.2; echo job-%d", i);
		char *argv[] = { "sh", "-c", script, NULL };
		send_exec(ctl, (uint32_t)i, argv, "/", &in_w[i], &out_r[i], &err_r[i]);
		close(in_w[i]);
	}
	int exited[N] = { 0 }, started = 0, done = 0;
	while (done < N) {
		struct ctl_reply rep;
		CHECK_EQ_INT(ctl_read_reply(ctl, &rep), 0);
		CHECK(rep.id < N);
		if (rep.type == CTL_STARTED)
			started++;
		else {
			CHECK(rep.type == CTL_EXITED && rep.value == 0 && !exited[rep.id]);
			exited[rep.id] = 1;
			done++;
		}
	}
	CHECK_EQ_INT(started, N);
	for (int i = 0; i < N; i++) {
		char out[64], want[64];
		read_all(out_r[i], out, sizeof(out));
		snprintf(want, sizeof(want), "job-%d\n", i);
		CHECK(!strcmp(out, want));
		close(out_r[i]);
		close(err_r[i]);
	}
	close(ctl);
	stop(sb);
}

TEST(channel_out_of_reach_inside)
{
	struct sandbox *sb = start(NULL);
	int ctl = ctl_connect(sb->pidfd, false);
	struct result r;
	char *argv[] = {
		"sh", "-c",
		"ls /run/sbx 2>&1; for f in /proc/$$/fd/* /proc/1/fd/*; do readlink $f; done "
		"2>&1 | grep -c socket",
		NULL
	};
	run(ctl, 1, argv, "/", NULL, &r);
	CHECK_STR_CONTAINS(r.out, "ls: /run/sbx: No such file or directory");
	/* The command holds no socket; PID 1's fds are not even readable to it. */
	CHECK(r.out[strlen(r.out) - 2] == '0');
	/* Nor can it end PID 1, and so the sandbox, from inside. */
	char *kill1[] = { "sh", "-c", "kill -TERM 1; kill -KILL 1; echo still", NULL };
	run(ctl, 2, kill1, "/", NULL, &r);
	CHECK(r.type == CTL_EXITED && !strcmp(r.out, "still\n"));
	char *t[] = { "true", NULL };
	run(ctl, 3, t, "/", NULL, &r);
	CHECK(r.type == CTL_EXITED && r.value == 0);
	close(ctl);
	stop(sb);
}

TEST(reconnect_signal_and_bad_requests)
{
	struct sandbox *sb = start(NULL);
	struct result r;
	char *t[] = { "echo", "again", NULL };
	int a = ctl_connect(sb->pidfd, false), b = ctl_connect(sb->pidfd, false);
	CHECK(a >= 0 && b >= 0);
	run(b, 1, t, "/", NULL, &r); /* two connections at once */
	CHECK(!strcmp(r.out, "again\n"));
	close(a);
	close(b);
	a = ctl_connect(sb->pidfd, false); /* as a restarted daemon would */
	run(a, 2, t, "/", NULL, &r);
	CHECK(r.type == CTL_EXITED && !strcmp(r.out, "again\n"));

	/* A signal to a running command. */
	int in_w, out_r, err_r;
	char *sl[] = { "sleep", "30", NULL };
	send_exec(a, 3, sl, "/", &in_w, &out_r, &err_r);
	struct ctl_reply rep;
	CHECK_EQ_INT(ctl_read_reply(a, &rep), 0);
	CHECK(rep.type == CTL_STARTED);
	CHECK_EQ_INT(ctl_send_signal(a, 3, SIGTERM), 0);
	CHECK_EQ_INT(ctl_read_reply(a, &rep), 0);
	CHECK(rep.type == CTL_EXITED && rep.id == 3 && rep.value == 128 + SIGTERM);
	close(in_w);
	close(out_r);
	close(err_r);

	/* Garbage is refused and the channel goes on serving. */
	CHECK(send(a, "garbage!", 8, 0) == 8);
	CHECK_EQ_INT(ctl_read_reply(a, &rep), 0);
	CHECK(rep.type == CTL_FAILED && rep.value == EBADMSG);
	struct ctl_exec h = { .type = CTL_EXEC, .id = 9, .argc = 1 }; /* no fds, no strings */
	CHECK(send(a, &h, sizeof(h), 0) == sizeof(h));
	CHECK_EQ_INT(ctl_read_reply(a, &rep), 0);
	CHECK(rep.type == CTL_FAILED && rep.id == 9 && rep.value == EBADMSG);
	run(a, 10, t, "/", NULL, &r);
	CHECK(r.type == CTL_EXITED && !strcmp(r.out, "again\n"));
	close(a);

	/* A serving sandbox ends on SIGTERM to its init. */
	CHECK_EQ_INT(sandbox_signal(sb, SIGTERM), 0);
	CHECK_EQ_INT(sandbox_wait(sb), 128 + SIGTERM);
	stop(sb);
}

TEST(workload_exit_still_ends_the_sandbox)
{
	char *workload[] = { "sh", "-c", "exit 5", NULL };
	struct sandbox *sb = start(workload);
	CHECK_EQ_INT(sandbox_wait(sb), 5);
	stop(sb);
}

/* A hybrid host's v1 cgroups are made while the child sets itself up: one that cannot be
 * made then fails the launch with nothing left of it, neither the child (its v2 cgroup,
 * which only an empty cgroup leaves, is gone) nor a cgroup it made. */
TEST(v1_cgroup_failure_after_clone_leaves_nothing)
{
	struct sandbox_limits lim = { .memory_bytes = 64 << 20, .pids = 64 };
	char *workload[] = { "sh", "-c", "exit 0", NULL };
	enum cgroup_mode mode;
	struct cgroup *cg;
	struct sandbox_error err;
	struct sandbox *sb = NULL;
	char id[48], procs[PATH_MAX];

	CHECK_EQ_INT(cgroup_detect(&mode), 0);
	if (mode != CGROUP_HYBRID) {
		printf("SKIP: not a hybrid cgroup host\n");
		exit(77);
	}
	/* The v1 cgroups of the id exist already (its v2 one does not). */
	snprintf(id, sizeof(id), "exec-v1-%d", (int)getpid());
	CHECK_EQ_INT(cgroup_create(id, &lim, &cg), 0);
	CHECK_EQ_INT(rmdir(cg->v2_path), 0);
	int r = try_start(workload, id, &lim, &sb, &err);
	CHECK_EQ_INT(r, -EEXIST);
	CHECK_EQ_INT(err.stage, STAGE_CGROUP);
	CHECK(sb == NULL);
	CHECK(access(cg->v2_path, F_OK) < 0 && errno == ENOENT);
	for (int c = 0; c < _CG_V1_MAX; c++) {
		if (!cg->v1_path[c])
			continue;
		char buf[64] = "";
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg->v1_path[c]);
		FILE *f = fopen(procs, "r");
		CHECK(f);
		CHECK(!fgets(buf, sizeof(buf), f)); /* empty: the child was never placed */
		fclose(f);
		CHECK_EQ_INT(rmdir(cg->v1_path[c]), 0);
	}
	cgroup_forget(cg);
}
