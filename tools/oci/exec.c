// SPDX-License-Identifier: MIT
/* exec: a process joins a running container. A helper starts in the container's cgroups
 * (CLONE_INTO_CGROUP, then its v1 ones), joins every namespace of the container's PID 1
 * through a pidfd (one setns), and forks the process, which is then inside its pid
 * namespace; the process takes the container's limits, its own capabilities (none
 * unless the process asks), no_new_privs and the container's seccomp program, then
 * executes. Its pid (the host's) goes to --pid-file; without --detach sbx-oci waits for it
 * as a subreaper and exits with its code. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "../../sandbox/launch.h"
#include "../../sandbox/macro.h"
#include "../../sandbox/nsutil.h"
#include "../../sandbox/privs.h"
#include "../../sandbox/sandbox.h"
#include "../../sandbox/sysfilter.h"
#include "oci.h"

struct exec_opts {
	const char *process, *pid_file, *console_socket, *cwd, *user;
	bool detach, tty;
	uid_t uid; /* --user, parsed */
	gid_t gid;
	char **env;
	unsigned nenv;
	char **cmd;
};

static int exec_args(int argc, char **argv, struct exec_opts *o, const char **id)
{
	int i;

	*o = (struct exec_opts){ 0 };
	*id = NULL;
	o->env = calloc((size_t)argc + 1, sizeof(char *));
	if (!o->env)
		return oci_error("exec: out of memory");
	const char *preserve = "0", *env = NULL;
	const struct oci_flag flags[] = {
		{ "--process", "-p", &o->process, NULL },
		{ "--pid-file", NULL, &o->pid_file, NULL },
		{ "--console-socket", NULL, &o->console_socket, NULL },
		{ "--cwd", NULL, &o->cwd, NULL },
		{ "--user", "-u", &o->user, NULL },
		{ "--env", "-e", &env, NULL },
		{ "--preserve-fds", NULL, &preserve, NULL },
		{ "--detach", "-d", NULL, &o->detach },
		{ "--tty", "-t", NULL, &o->tty },
		{ NULL, NULL, NULL, NULL },
	};
	for (i = 1; i < argc && !*id; i++) {
		const char *a = argv[i];
		env = NULL;
		int t = oci_flag_take(argc, argv, &i, flags);
		if (t < 0)
			return -1;
		if (env)
			o->env[o->nenv++] = (char *)env; /* repeatable */
		if (t > 0)
			continue;
		if (a[0] == '-')
			return oci_error("exec: flag %s is not supported by sbx-oci", a);
		*id = a;
	}
	o->cmd = argv + i;
	if (strcmp(preserve, "0"))
		return oci_error("exec: --preserve-fds is not supported by sbx-oci");
	if (!*id)
		return oci_error("exec: a container id is needed");
	if (o->process && o->cmd[0])
		return oci_error("exec: --process, or a command, not both");
	if (!o->process && !o->cmd[0])
		return oci_error("exec: --process FILE or a command is needed");
	/* runc's: UID, or UID:GID; the group is 0 when not given. */
	if (o->user) {
		if (spec_parse_user(o->user, &o->uid, &o->gid) < 0)
			return oci_error("exec: --user %s: UID or UID:GID (0-65535)", o->user);
		if (!strchr(o->user, ':'))
			o->gid = 0;
	}
	return 0;
}

/* A process from the command line (exec ID CMD...), as a process JSON would say it. */
static json_t *process_from_args(const struct exec_opts *o)
{
	json_t *args = json_array(), *env = json_array();
	for (char **a = o->cmd; *a; a++)
		json_array_append_new(args, json_string(*a));
	json_array_append_new(env, json_string("PATH=" LAUNCH_DEFAULT_PATH));
	for (unsigned i = 0; i < o->nenv; i++)
		json_array_append_new(env, json_string(o->env[i]));
	json_t *p = json_pack("{s:o, s:o, s:s, s:b}", "args", args, "env", env, "cwd",
			      o->cwd ? o->cwd : "/", "terminal", o->tty);
	if (p && o->user)
		json_object_set_new(
			p, "user", json_pack("{s:i, s:i}", "uid", (int)o->uid, "gid", (int)o->gid));
	return p;
}

/* The process's own side, in the container: it never returns; a failure is written to
 * @err_fd (close-on-exec: EOF means it executed). */
/* The process's OOM score: @p's, else that of the container's PID 1 @init. */
static int oom_score_set(const struct oci_process *p, pid_t init)
{
	char path[64], buf[16] = "";
	int n;

	if (p->has_oom_score) {
		n = snprintf(buf, sizeof(buf), "%d", p->oom_score_adj);
	} else {
		snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int)init);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		n = fd < 0 ? -1 : (int)read(fd, buf, sizeof(buf) - 1);
		if (fd >= 0)
			close(fd);
		if (n <= 0)
			return 0; /* gone: the exec fails later, saying so */
	}
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	int r = fd < 0 || write(fd, buf, (size_t)n) != n ? -1 : 0;
	if (fd >= 0)
		close(fd);
	return r;
}

static _Noreturn void exec_child(const struct oci_process *p, const struct sysfilter *filter,
				 int console_fd, int err_fd)
{
	int err = 0;
	cap_t caps = NULL;

	/* Nothing of ours reaches what it executes, whatever was opened without
	 * close-on-exec. */
	(void)syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
#define CHECK(expr)                                                                                \
	do {                                                                                       \
		if ((expr) < 0) {                                                                  \
			err = errno;                                                               \
			goto fail;                                                                 \
		}                                                                                  \
	} while (0)
	int dir = nsutil_open_in_root(AT_FDCWD, p->cwd, O_PATH | O_DIRECTORY);
	if (dir < 0) {
		err = -dir;
		goto fail;
	}
	CHECK(fchdir(dir));
	close(dir);
	for (unsigned i = 0; i < p->nrlimits; i++) {
		struct rlimit rl = { p->rlimits[i].soft, p->rlimits[i].hard };
		CHECK(setrlimit(p->rlimits[i].resource, &rl));
	}
	CHECK(setsid());
	if (console_fd >= 0) {
		int peer = nsutil_console(console_fd, p->rows, p->cols);
		if (peer < 0) {
			err = -peer;
			goto fail;
		}
		close(console_fd);
		for (int i = 0; i < 3; i++)
			CHECK(dup2(peer, i));
		if (peer > 2)
			close(peer);
		CHECK(ioctl(0, TIOCSCTTY, 0));
	}
	/* Its capabilities: those it asks for (of the container's user namespace), else none.
	 * Its ids: the container's root unless it names others (the host's root that we were
	 * has no id there); supplementary groups only where the container was made with some
	 * (setgroups is denied in it otherwise). */
	const struct sandbox_caps *want = p->has_caps ? &p->caps : &(struct sandbox_caps){ 0 };
	caps = privs_sets(want);
	if (!caps)
		goto fail_errno;
	CHECK(privs_become(p->set_user ? p->uid : 0, p->set_user ? p->gid : 0, p->groups,
			   p->ngroups, caps, want->bounding, want->ambient,
			   (unsigned)cap_max_bits() - 1));
	CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	CHECK(sysfilter_install(filter));
	/* argv[0] searched in the process's own PATH. */
	const char *path = launch_env_get(p->env, "PATH");
	if (strchr(p->args[0], '/')) {
		execve(p->args[0], p->args, p->env);
		err = errno;
	} else {
		err = ENOENT;
		for (const char *d = path ? path : LAUNCH_DEFAULT_PATH; *d;) {
			size_t n = strcspn(d, ":");
			char full[PATH_MAX];
			if (n && n + 1 + strlen(p->args[0]) < sizeof(full)) {
				snprintf(full, sizeof(full), "%.*s/%s", (int)n, d, p->args[0]);
				execve(full, p->args, p->env);
				if (errno != ENOENT && errno != ENOTDIR)
					err = errno;
			}
			d += n + (d[n] == ':');
		}
	}
	goto fail;
fail_errno:
	err = errno;
fail:
	(void)!write(err_fd, &err, sizeof(err));
	_exit(err == ENOENT ? 127 : 126);
#undef CHECK
}

int cmd_exec(int argc, char **argv)
{
	struct exec_opts o;
	struct oci_state st = { 0 };
	struct oci_process proc = { 0 };
	_cleanup_(sysfilter_freep) struct sysfilter *filter = NULL;
	json_t *pj = NULL;
	const char *id;
	int r = -1, console_fd = -1, pidfd = -1, cg_fd = -1, go[2] = { -1, -1 },
	    out[2] = { -1, -1 };

	if (exec_args(argc, argv, &o, &id) < 0)
		goto done;
	if (oci_state_load(id, &st) < 0)
		goto done;
	const char *status = oci_status(&st);
	if (strcmp(status, "running")) {
		oci_error("exec %s: the container is %s, not running", id, status);
		goto done;
	}
	json_error_t jerr;
	pj = o.process ? json_load_file(o.process, JSON_REJECT_DUPLICATES, &jerr)
		       : process_from_args(&o);
	if (!pj) {
		oci_error("exec: --process %s: %s", o.process, jerr.text);
		goto done;
	}
	if (oci_process_parse(pj, "process", &proc) < 0)
		goto done;
	if (proc.terminal != (o.console_socket != NULL)) {
		oci_error("exec: a terminal needs --console-socket, and only a terminal takes one");
		goto done;
	}
	if (oci_filter(st.seccomp, &filter) < 0)
		goto done;
	if (o.console_socket && (console_fd = console_connect(o.console_socket)) < 0)
		goto done;
	pidfd = (int)syscall(SYS_pidfd_open, st.pid, 0);
	uint64_t t;
	if (pidfd < 0 || sandbox_start_time(st.pid, &t) < 0 || t != st.start_time) {
		oci_error("exec %s: container not running", id);
		goto done;
	}
	cg_fd = open(st.cg->v2_path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (cg_fd < 0 || pipe2(go, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		oci_error("exec %s: %s", id, strerror(errno));
		goto done;
	}
	if (!o.detach && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		oci_error("exec: subreaper: %s", strerror(errno));
		goto done;
	}
	struct clone_args args = { .flags = CLONE_INTO_CGROUP,
				   .exit_signal = SIGCHLD,
				   .cgroup = (uint64_t)cg_fd };
	pid_t helper = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (helper < 0) {
		oci_error("exec %s: clone3: %s", id, strerror(errno));
		goto done;
	}
	if (helper == 0) {
		/* The helper: in the container's namespaces, it forks the process (inside its pid
		 * namespace), says its pid, and goes. */
		char c;
		int err_pipe[2];
		close(go[1]);
		close(out[0]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		/* Until it executes, the process is the host's root in the container's pid
		 * namespace: not dumpable (its memory and descriptors closed to the
		 * container's processes, whatever capabilities they hold there). Its OOM score:
		 * the one it asks for, else the container's (not the shim's), set while we may. */
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || oom_score_set(&proc, st.pid) < 0)
			_exit(1);
		/* The host's groups would follow it in, as ids it could not drop there. */
		if (syscall(SYS_setgroups, 0, NULL) < 0 ||
		    setns(pidfd, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |
					 CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP) < 0 ||
		    pipe2(err_pipe, O_CLOEXEC) < 0) {
			int e = errno;
			pid_t none = 0;
			(void)!write(out[1], &none, sizeof(none));
			(void)!write(out[1], &e, sizeof(e));
			_exit(1);
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(err_pipe[0]);
			close(out[1]);
			close(pidfd);
			close(cg_fd);
			exec_child(&proc, filter, console_fd, err_pipe[1]);
		}
		int e = pid < 0 ? errno : 0;
		close(err_pipe[1]);
		if (pid > 0 && read(err_pipe[0], &e, sizeof(e)) != sizeof(e))
			e = 0;
		(void)!write(out[1], &pid, sizeof(pid));
		(void)!write(out[1], &e, sizeof(e));
		_exit(0);
	}
	close(go[0]);
	go[0] = -1;
	close(out[1]);
	out[1] = -1;
	int e = cgroup_attach_v1(st.cg, helper);
	if (e < 0) {
		kill(helper, SIGKILL);
		waitpid(helper, NULL, 0);
		oci_error("exec %s: its cgroups: %s", id, strerror(-e));
		goto done;
	}
	(void)!write(go[1], "g", 1);
	pid_t pid = 0;
	int err = EIO;
	if (read(out[0], &pid, sizeof(pid)) != sizeof(pid) ||
	    read(out[0], &err, sizeof(err)) != sizeof(err))
		err = EIO;
	waitpid(helper, NULL, 0);
	if (err) {
		if (pid > 0)
			waitpid(pid, NULL, 0); /* ours: we are its subreaper (or it is gone) */
		oci_error("exec %s: %s: %s", id, proc.args[0],
			  err == ENOENT ? "executable file not found" : strerror(err));
		goto done;
	}
	if (write_pid_file(o.pid_file, pid) < 0) {
		kill(pid, SIGKILL);
		goto done;
	}
	if (o.detach) {
		r = 0;
		goto done;
	}
	int ws;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	exit(WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws));
done:
	for (int i = 0; i < 2; i++) {
		if (go[i] >= 0)
			close(go[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	if (cg_fd >= 0)
		close(cg_fd);
	if (pidfd >= 0)
		close(pidfd);
	if (console_fd >= 0)
		close(console_fd);
	oci_process_clear(&proc);
	json_decref(pj);
	free(o.env);
	oci_state_clear(&st);
	return r;
}
