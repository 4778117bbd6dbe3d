// SPDX-License-Identifier: MIT
/* sbx-init: PID 1 of every sandbox. Runs the workload, forwards SIGTERM, SIGINT,
 * SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to it, reaps every zombie, and exits with the
 * workload's status (128+N when a signal ended it). With --ctl it also serves the
 * control channel on fd 3 (ctl.h): commands started on request are its own children,
 * so they share every restriction of the workload. Without a workload it serves until
 * a forwarded signal ends it. With --log CAP (a daemon's sandbox) the workload's stdout
 * and stderr go through a pipe that sbx-init relays into the host file at fd 4, at most
 * CAP bytes of it, so a chatty workload cannot fill the host's disk; with --status the
 * exit code is written to fd 5 ("exit N\n") before sbx-init exits, for a daemon that
 * was not there to reap it. PID 1 never waits on anything a sandbox process controls:
 * commands are started with fork (a child stopped before its exec holds nothing up),
 * their exec's outcome arrives on a pipe the main loop polls, and every socket is
 * non-blocking. Only the host's signals are forwarded: one sent from inside the
 * sandbox, or queued with a forged sender, is ignored.
 * With --file it is the helper the host's files API runs inside the sandbox (as the
 * sandbox's user, charged to its cgroups): see file_tool(). Built static: images need
 * no libc.
 * Usage: sbx-init [--ctl] [--log CAP --status] [--] [CMD [ARG...]]
 *        sbx-init --file get PATH MAX | put PATH SIZE | rm PATH */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/route.h>
#include <netinet/in.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <unistd.h>

#include "ctl.h"
#include "filepath.h"
#include "launch.h"
#include "nsutil.h"

#define MAX_JOBS 1024

/* A large array used only on request. Its section sorts after every other part of
 * .bss at the link (--sort-section=name), so that the small variables every sbx-init
 * touches share the page that .data ends in. COLD_TAIL is for one used only at its
 * start, placed right after them (".bss.~a" sorts after the small variables' sections
 * and before COLD's): an idle sbx-init dirties that one page of its data, not five. */
#define COLD __attribute__((section(".bss.~cold")))
#define COLD_TAIL __attribute__((section(".bss.~a")))

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

struct job {
	pid_t pid; /* 0: free slot */
	uint32_t id;
	int conn;    /* the connection that asked for it; -1 once it closed */
	int errfd;   /* until its exec's outcome is known: EOF = started, an errno = failed */
	bool silent; /* failed to start: its exit is not reported */
	/* It exited while no connection had it: its code waits for the host to adopt it
	 * (CTL_ADOPT, after a checkpoint or a restore). Kept in what was padding, so that
	 * the state carried across an exec of ourselves keeps its size. */
	bool done;
	uint8_t code;
};

static struct job jobs[MAX_JOBS] COLD;
/* Slots from here on have never held a job: every scan stops here, and the table's
 * untouched pages stay unallocated (some hosts allocate even a page only read). */
static int njobs;
static int conns[CTL_MAX_CONNS];
static int nconns;
static char msgbuf[CTL_MAX_MSG + 1] COLD;
static char *req_argv[CTL_MAX_ARGS + 1] COLD, *req_envp[CTL_MAX_ARGS + 1] COLD;
static bool serve;		/* --ctl */
static pid_t workload;		/* 0: none (a serving init) */
static int log_pipe = -1;	/* read end of the workload's output, with --log */
static int workload_errfd = -1; /* the workload's exec outcome, until known */
static const char *workload_name;
static unsigned long long log_cap, log_written;
static bool log_full, status_file;

static int status_to_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* execve, searching $PATH of @envp (not ours) when argv[0] has no '/'. Returns only
 * on failure, with errno set. Runs in a forked child: no allocation. */
static void exec_search(char *const argv[], char *const envp[])
{
	const char *path = LAUNCH_DEFAULT_PATH;
	char buf[4096];
	int err = ENOENT;

	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, envp);
		return;
	}
	for (char *const *e = envp; e && *e; e++)
		if (!strncmp(*e, "PATH=", 5))
			path = *e + 5;
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, ":");
		if (n + 1 + strlen(argv[0]) + 1 <= sizeof(buf) && n > 0) {
			memcpy(buf, p, n);
			buf[n] = '/';
			strcpy(buf + n + 1, argv[0]);
			execve(buf, argv, envp);
			if (errno == EACCES)
				err = EACCES;
			else if (errno != ENOENT && errno != ENOTDIR)
				err = errno;
		}
		p += n;
		if (*p == ':')
			p++;
	}
	errno = err;
}

/* The directory @path names inside our root ("/"), or -errno: "..", absolute symlinks
 * and magic links (/proc/self/fd/N, /proc/1/cwd) cannot lead out of it. */
static int open_in_root(const char *path, int flags)
{
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -errno;
	int fd = nsutil_open_in_root(root, path, flags);
	close(root);
	return fd;
}

struct spawn_args {
	char *const *argv, *const *envp;
	const char *cwd;
	const int *stdio;
	bool own_group, tty;
	int report; /* the pipe's write end */
};

/* The child's side of spawn(): never returns. */
static _Noreturn int spawn_child(void *arg)
{
	const struct spawn_args *a = arg;
	sigset_t none;
	int err = 0;

	if (a->own_group && !a->tty)
		setpgid(0, 0);
	for (int i = 0; a->stdio && i < 3 && !err; i++)
		if (dup2(a->stdio[i], i) < 0)
			err = errno;
	/* A terminal's command leads a session of its own, the terminal its controlling
	 * one (so ^C, job control and SIGWINCH reach it). */
	if (!err && a->tty && (setsid() < 0 || ioctl(0, TIOCSCTTY, 0) < 0))
		err = errno;
	/* Nothing of ours is inherited (the report pipe goes at exec), and the directory is
	 * entered inside our root. */
	if (!err && (dup2(a->report, 3) < 0 || fcntl(3, F_SETFD, FD_CLOEXEC) < 0 ||
		     syscall(SYS_close_range, 4, ~0U, 0) < 0))
		err = errno;
	if (!err && a->cwd) {
		int dir = open_in_root(a->cwd, O_PATH | O_DIRECTORY);
		if (dir < 0 || fchdir(dir) < 0)
			err = CTL_ERR_CWD | (dir < 0 ? -dir : errno);
	}
	if (!err) {
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		exec_search(a->argv, a->envp);
		err = errno;
	}
	(void)!write(3, &err, sizeof(err));
	_exit(err == ENOENT ? 127 : 126);
}

/* Starts @argv in a child of ours. @stdio NULL keeps ours; @cwd NULL keeps ours. Returns
 * the pid (or -1 with errno); *ret_errfd is the read end of a pipe on which the child's
 * failure to start arrives as an errno (it then exits 126/127), or EOF once it has
 * executed. A command is forked: a child stopped before its exec must not stop PID 1.
 * The workload (@first) shares our memory and we wait for its exec (we copy no page
 * tables): nothing of the sandbox's runs yet that could stop it. Not after --start,
 * whose container a runtime's exec may enter while we wait for the byte. */
#define SPAWN_STACK (32 * 1024)
static pid_t spawn(char *const argv[], char *const envp[], const char *cwd, const int *stdio,
		   bool own_group, bool tty, bool first, int *ret_errfd)
{
	/* The workload's stack until its exec, in our .bss and emptied once we resume: on
	 * PID 1's stack (as criu_exec keeps CRIU's) its pages would stay allocated for the
	 * sandbox's life, and a mapping of its own would leave three page-table pages
	 * behind (beside the vDSO, which keeps them). Page-aligned within the array: an
	 * aligned attribute would align all of .bss, moving it off the page .data ends in. */
	static char spawn_stack[SPAWN_STACK + 4096] COLD;
	struct spawn_args a = { argv, envp, cwd, stdio, own_group, tty, -1 };
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	a.report = p[1];
	if (first) {
		char *stack = (char *)(((uintptr_t)spawn_stack + 4095) & ~(uintptr_t)4095);
		pid = clone(spawn_child, stack + SPAWN_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
		int e = errno;
		(void)madvise(stack, SPAWN_STACK, MADV_DONTNEED);
		errno = e;
	} else {
		pid = fork();
		if (pid == 0)
			spawn_child(&a);
	}
	int saved = errno;
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		errno = saved;
		return -1;
	}
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	*ret_errfd = p[0];
	return pid;
}

/* The outcome of a start: 0 (it executed), an errno, or -EAGAIN while unknown. Closes
 * *errfd once known. */
static int start_outcome(int *errfd)
{
	int err;
	ssize_t n = read(*errfd, &err, sizeof(err));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -EAGAIN;
	close(*errfd);
	*errfd = -1;
	return n == (ssize_t)sizeof(err) ? err : 0;
}

/* Moves what the workload wrote into the log, up to the cap; past it, output is read
 * and dropped (the workload never blocks on a full pipe). At EOF the pipe closes. At
 * most @rounds reads: writers that keep the pipe full do not keep PID 1 from the rest
 * of its work (poll says again that there is more). */
static void log_relay(int rounds)
{
	static const char marker[] = "\n[sbx: log limit reached; further output dropped]\n";
	char buf[65536];

	while (rounds-- > 0) {
		ssize_t n = read(log_pipe, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close(log_pipe);
			log_pipe = -1;
			return;
		}
		size_t keep = (size_t)n;
		if (log_written + keep > log_cap)
			keep = (size_t)(log_cap - log_written);
		if (keep && write(LOG_FD, buf, keep) > 0)
			log_written += keep;
		if (keep < (size_t)n && !log_full) {
			log_full = true;
			(void)!write(LOG_FD, marker, sizeof(marker) - 1);
		}
	}
}

/* The end: the last of the log, the status for the host, then exit. */
static _Noreturn void finish(int code)
{
	char line[32];

	/* What is in the pipe now; processes still writing are ended with us. */
	if (log_pipe >= 0)
		log_relay(64);
	if (status_file) {
		int n = snprintf(line, sizeof(line), "exit %d\n", code);
		(void)!pwrite(STATUS_FD, line, (size_t)n, 0);
	}
	exit(code);
}

static void reply(int conn, uint32_t type, uint32_t id, int32_t value)
{
	struct ctl_reply r = { .type = type, .id = id, .value = value };

	/* Never block PID 1 on a host that does not read. */
	if (conn >= 0)
		(void)send(conn, &r, sizeof(r), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* The name is reachable from the sandbox's network namespace: only a peer outside our
 * pid namespace (the host; its pid reads as 0 here) may drive us. */
static bool from_host(int conn)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid == 0;
}

static struct job *job_find(pid_t pid)
{
	for (int i = 0; i < njobs; i++)
		if (jobs[i].pid == pid && pid > 0 && !jobs[i].done)
			return &jobs[i];
	return NULL;
}

/* CTL_ADOPT: the host's new connection takes job @pid over, under id @id; one that
 * exited meanwhile is reported at once. */
static void adopt(int conn, uint32_t id, pid_t pid)
{
	struct job *live = job_find(pid);
	if (live) {
		live->id = id;
		live->conn = conn;
		return;
	}
	for (int i = 0; i < njobs; i++)
		if (jobs[i].done && jobs[i].pid == pid && pid > 0) {
			reply(conn, CTL_EXITED, id, jobs[i].code);
			jobs[i] = (struct job){ 0 };
			return;
		}
	reply(conn, CTL_FAILED, id, ESRCH);
}

/* Splits an EXEC request into cwd, argv and envp; false if malformed. */
static bool parse_exec(size_t len, const struct ctl_exec *h, const char **cwd)
{
	char *p = msgbuf + sizeof(*h), *end = msgbuf + len;
	size_t want = 1 + (size_t)h->argc + h->envc;

	if (h->argc < 1 || h->argc > CTL_MAX_ARGS || h->envc > CTL_MAX_ARGS)
		return false;
	for (size_t i = 0; i < want; i++) {
		char *nul = memchr(p, '\0', (size_t)(end - p));
		if (p >= end || !nul)
			return false;
		if (i == 0)
			*cwd = p;
		else if (i <= h->argc)
			req_argv[i - 1] = p;
		else
			req_envp[i - 1 - h->argc] = p;
		p = nul + 1;
	}
	req_argv[h->argc] = NULL;
	req_envp[h->envc] = NULL;
	return p == end;
}

static void handle_exec(int conn, size_t len, const int *fds, int nfds, bool tty)
{
	struct ctl_exec h;
	const char *cwd = "/";
	struct job *slot = NULL;
	int errfd;

	memcpy(&h, msgbuf, sizeof(h));
	for (int i = 0; i < njobs && !slot; i++)
		if (!jobs[i].pid)
			slot = &jobs[i];
	if (!slot && njobs < MAX_JOBS)
		slot = &jobs[njobs++];
	/* Full: the oldest report nobody adopted gives way. */
	for (int i = 0; i < njobs && !slot; i++)
		if (jobs[i].done)
			slot = &jobs[i];
	if (nfds != 3 || !parse_exec(len, &h, &cwd)) {
		reply(conn, CTL_FAILED, h.id, EBADMSG);
		return;
	}
	if (!slot) {
		reply(conn, CTL_FAILED, h.id, EAGAIN);
		return;
	}
	pid_t pid = spawn(req_argv, req_envp, cwd, fds, true, tty, false, &errfd);
	if (pid < 0) {
		reply(conn, CTL_FAILED, h.id, errno);
		return;
	}
	/* STARTED or FAILED follows once the child has executed or failed to. */
	*slot = (struct job){ .pid = pid, .id = h.id, .conn = conn, .errfd = errfd };
}

/* A job's start is known: tell the host. */
static void job_started(struct job *j)
{
	int err = start_outcome(&j->errfd);

	if (err == -EAGAIN)
		return;
	if (err) {
		j->silent = true;
		reply(j->conn, CTL_FAILED, j->id, err);
	} else {
		reply(j->conn, CTL_STARTED, j->id, j->pid);
	}
}

/* The workload's start is known: a failure is said once, in its output. */
static void workload_started(void)
{
	int err = start_outcome(&workload_errfd);

	if (err > 0)
		fprintf(stderr, "sbx: %s: %s\n", workload_name,
			err == ENOENT ? "command not found" : strerror(err));
}

static void conn_close(int i)
{
	for (int j = 0; j < njobs; j++)
		if (jobs[j].pid && jobs[j].conn == conns[i])
			jobs[j].conn = -1;
	close(conns[i]);
	conns[i] = conns[--nconns];
}

/* ---- executing ourselves again, state kept ---- */

#define RESUME_MAGIC 0x73627872u /* "sbxr" */

struct resume_state {
	uint32_t magic, size;
	bool serve, status_file, log_full;
	pid_t workload;
	int log_pipe, workload_errfd, nconns, req_conn;
	uint32_t req_id;
	unsigned long long log_cap, log_written;
	int conns[CTL_MAX_CONNS];
	struct job jobs[MAX_JOBS];
	char workload_name[256];
};

static struct resume_state rs COLD;
#define RESUME_JOBS offsetof(struct resume_state, jobs)
#define RESUME_NAME offsetof(struct resume_state, workload_name)

/* Every descriptor the new image needs survives the exec; it marks them again. */
static void keep_across_exec(int fd)
{
	if (fd >= 0)
		(void)fcntl(fd, F_SETFD, 0);
}

static void reexec(int conn, uint32_t id)
{
	char arg[16];
	int fd = memfd_create("sbx-init-state", 0);

	/* The whole structure's size, written in three parts: the jobs beyond njobs are
	 * a hole (zeros: free slots), which neither side reads into memory. */
	memset(&rs, 0, RESUME_JOBS);
	rs.magic = RESUME_MAGIC;
	rs.size = sizeof(rs);
	rs.serve = serve;
	rs.status_file = status_file;
	rs.log_full = log_full;
	rs.workload = workload;
	rs.log_pipe = log_pipe;
	rs.workload_errfd = workload_errfd;
	rs.nconns = nconns;
	rs.req_conn = conn;
	rs.req_id = id;
	rs.log_cap = log_cap;
	rs.log_written = log_written;
	memcpy(rs.conns, conns, sizeof(conns));
	/* After a resume the name is already there (workload_name points at it). */
	if (workload_name != rs.workload_name)
		snprintf(rs.workload_name, sizeof(rs.workload_name), "%s",
			 workload_name ? workload_name : "");
	size_t jn = (size_t)njobs * sizeof(struct job);
	if (fd < 0 || ftruncate(fd, sizeof(rs)) < 0 ||
	    pwrite(fd, &rs, RESUME_JOBS, 0) != (ssize_t)RESUME_JOBS ||
	    pwrite(fd, jobs, jn, RESUME_JOBS) != (ssize_t)jn ||
	    pwrite(fd, rs.workload_name, sizeof(rs.workload_name), RESUME_NAME) !=
		    (ssize_t)sizeof(rs.workload_name)) {
		reply(conn, CTL_FAILED, id, errno);
		if (fd >= 0)
			close(fd);
		return;
	}
	int keep[] = { CTL_FD, LOG_FD, STATUS_FD, log_pipe, workload_errfd };
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		keep_across_exec(keep[i]);
	for (int i = 0; i < nconns; i++)
		keep_across_exec(conns[i]);
	for (int i = 0; i < njobs; i++)
		if (jobs[i].pid)
			keep_across_exec(jobs[i].errfd);
	snprintf(arg, sizeof(arg), "%d", fd);
	execl("/dev/sbx-init", "sbx-init", "--resume", arg, (char *)NULL);
	int err = errno;
	close(fd);
	reply(conn, CTL_FAILED, id, err); /* the descriptors stay, but for this exec */
}

/* The new image: the old one's state back, its descriptors marked again. */
static void resume(const char *arg)
{
	int fd = atoi(arg);

	struct job chunk[64];
	bool ok = pread(fd, &rs, RESUME_JOBS, 0) == (ssize_t)RESUME_JOBS &&
		  rs.magic == RESUME_MAGIC && rs.size == sizeof(rs) && rs.nconns >= 0 &&
		  rs.nconns <= CTL_MAX_CONNS &&
		  pread(fd, rs.workload_name, sizeof(rs.workload_name), RESUME_NAME) ==
			  (ssize_t)sizeof(rs.workload_name);
	/* The slots in use only, a few at a time (the rest of the table, all zeros, is
	 * never written here). */
	_Static_assert(MAX_JOBS % 64 == 0, "whole chunks");
	for (int i = 0; ok && i < MAX_JOBS; i += 64) {
		ok = pread(fd, chunk, sizeof(chunk), RESUME_JOBS + i * sizeof(struct job)) ==
		     (ssize_t)sizeof(chunk);
		for (int k = 0; ok && k < 64; k++)
			if (chunk[k].pid) {
				jobs[i + k] = chunk[k];
				njobs = i + k + 1;
			}
	}
	if (!ok) {
		fprintf(stderr, "sbx-init: --resume: unreadable state\n");
		exit(125);
	}
	close(fd);
	serve = rs.serve;
	status_file = rs.status_file;
	log_full = rs.log_full;
	workload = rs.workload;
	log_pipe = rs.log_pipe;
	workload_errfd = rs.workload_errfd;
	nconns = rs.nconns;
	log_cap = rs.log_cap;
	log_written = rs.log_written;
	memcpy(conns, rs.conns, sizeof(conns));
	rs.workload_name[sizeof(rs.workload_name) - 1] = '\0';
	workload_name = rs.workload_name;
	int keep[] = { LOG_FD, STATUS_FD, log_pipe, workload_errfd };
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (keep[i] >= 0 && (keep[i] != LOG_FD || status_file) &&
		    (keep[i] != STATUS_FD || status_file))
			(void)fcntl(keep[i], F_SETFD, FD_CLOEXEC);
	for (int i = 0; i < nconns; i++)
		(void)fcntl(conns[i], F_SETFD, FD_CLOEXEC);
	for (int i = 0; i < njobs; i++)
		if (jobs[i].pid && jobs[i].errfd >= 0)
			(void)fcntl(jobs[i].errfd, F_SETFD, FD_CLOEXEC);
}

/* One request from connection @i; closes it on EOF or error. */
static void conn_read(int i)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = { .iov_base = msgbuf, .iov_len = CTL_MAX_MSG };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctrl.buf,
			      .msg_controllen = sizeof(ctrl.buf) };
	int fds[4], nfds = 0;
	uint32_t type;

	ssize_t n = recvmsg(conns[i], &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(i);
		return;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			nfds = nfds > 4 ? 4 : nfds;
			memcpy(fds, CMSG_DATA(c), (size_t)nfds * sizeof(int));
		}
	if ((size_t)n < sizeof(type) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		reply(conns[i], CTL_FAILED, 0, EBADMSG);
	} else {
		memcpy(&type, msgbuf, sizeof(type));
		if ((type == CTL_EXEC || type == CTL_EXEC_TTY) &&
		    (size_t)n >= sizeof(struct ctl_exec)) {
			handle_exec(conns[i], (size_t)n, fds, nfds, type == CTL_EXEC_TTY);
		} else if (type == CTL_REEXEC && (size_t)n == sizeof(struct ctl_signal)) {
			struct ctl_signal s;
			memcpy(&s, msgbuf, sizeof(s));
			reexec(conns[i], s.id);
		} else if (type == CTL_ADOPT && (size_t)n == sizeof(struct ctl_signal)) {
			struct ctl_signal s;
			memcpy(&s, msgbuf, sizeof(s));
			adopt(conns[i], s.id, s.sig);
		} else if (type == CTL_SIGNAL && (size_t)n == sizeof(struct ctl_signal)) {
			struct ctl_signal s;
			memcpy(&s, msgbuf, sizeof(s));
			for (int j = 0; j < njobs; j++)
				if (jobs[j].pid && jobs[j].id == s.id && jobs[j].conn == conns[i])
					kill(-jobs[j].pid, s.sig);
		} else {
			reply(conns[i], CTL_FAILED, 0, EBADMSG);
		}
	}
	for (int k = 0; k < nfds; k++)
		close(fds[k]);
}

/* ---- the files API's helper ---- */

static _Noreturn void file_exit(int err)
{
	/* 126 and 127 mean the helper itself did not run. */
	exit(err <= 0 ? 0 : err < 126 ? err : EIO);
}

/* Pseudo file systems are not files the API moves. */
static int check_fs(int fd)
{
	int r = nsutil_pseudo_fs(fd);
	return r < 0 ? -r : r ? EACCES : 0;
}

/* The directory holding @path (absolute) and its last component, a plain name. */
static int open_parent(const char *path, const char **ret_base)
{
	static char dir[4096] COLD;
	const char *base;
	int r = filepath_split(path, dir, sizeof(dir), &base);

	if (r < 0)
		return r;
	int fd = open_in_root(*dir ? dir : "/", O_PATH | O_DIRECTORY);
	if (fd < 0)
		return fd;
	int err = check_fs(fd);
	if (err) {
		close(fd);
		return -err;
	}
	*ret_base = base;
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* get: an 8-byte little-endian size on stdout, then exactly that many bytes; EFBIG for
 * a file larger than @max. */
static int file_get(const char *path, uint64_t max)
{
	static char buf[65536] COLD;
	struct stat st;
	int fd = open_in_root(path, O_RDONLY | O_NOCTTY | O_NONBLOCK), err;

	if (fd < 0)
		return -fd;
	if (fstat(fd, &st) < 0)
		return errno;
	if (S_ISDIR(st.st_mode))
		return EISDIR;
	if (!S_ISREG(st.st_mode))
		return EPERM;
	if ((err = check_fs(fd)))
		return err;
	if ((uint64_t)st.st_size > max)
		return EFBIG;
	uint64_t size = (uint64_t)st.st_size, left = size;
	unsigned char head[8];
	for (int i = 0; i < 8; i++)
		head[i] = (unsigned char)(size >> (8 * i));
	if ((err = write_all(1, (const char *)head, sizeof(head))))
		return err;
	while (left) {
		ssize_t n = read(fd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) /* shorter than it was: the host cuts the transfer */
			return n < 0 ? errno : EIO;
		if ((err = write_all(1, buf, (size_t)n)))
			return err;
		left -= (uint64_t)n;
	}
	return 0;
}

/* put: exactly @size bytes from stdin into a new file renamed over @path, so that no
 * existing node (a FIFO, a device, a symlink) is ever opened for writing. The file is
 * unnamed until it is complete: if the helper dies on the way (the sandbox's memory
 * limit, say), nothing is left of it. */
static int file_put(const char *path, uint64_t size)
{
	static char buf[65536] COLD;
	char tmp[64], self[64];
	const char *base;
	int dfd = open_parent(path, &base), fd, err = 0;
	uint64_t got = 0;

	if (dfd < 0)
		return -dfd;
	/* Over its memory limit, the sandbox's OOM killer picks this one first. */
	int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (adj >= 0) {
		(void)!write(adj, "1000", 4);
		close(adj);
	}
	fd = openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno;
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			break;
		}
		if (n == 0)
			break;
		got += (uint64_t)n;
		if (got > size) {
			err = EFBIG;
			break;
		}
		if ((err = write_all(fd, buf, (size_t)n)))
			break;
	}
	if (!err && got != size)
		err = EPIPE; /* the upload ended early: nothing is replaced */
	if (!err && fchmod(fd, 0644) < 0)
		err = errno;
	/* Named only now, under a name of its own, then renamed into place. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	for (unsigned i = 0; !err; i++) {
		snprintf(tmp, sizeof(tmp), ".sbx-upload-%d-%u", (int)getpid(), i);
		if (linkat(AT_FDCWD, self, dfd, tmp, AT_SYMLINK_FOLLOW) == 0)
			break;
		if (errno != EEXIST || i == 100)
			err = errno;
	}
	if (!err && renameat(dfd, tmp, dfd, base) < 0) {
		err = errno;
		(void)unlinkat(dfd, tmp, 0);
	}
	close(fd);
	return err;
}

/* Metadata of files (the E2B surface's): user.e2b.KEY extended attributes. */
#define META_PREFIX "user.e2b."
#define META_MAX 32

/* putp: @size bytes from stdin into @path in place, as a program of the sandbox would
 * write it (created, or truncated and rewritten; a watcher sees it created and
 * written), its missing directories made first. Only a regular file is opened for
 * writing: a FIFO, a device or a symlink is refused, never waited on. */
static int file_write(const char *path, uint64_t size, char **meta, int nmeta)
{
	static char buf[65536] COLD;
	const char *base;
	struct stat st;
	uint64_t got = 0;
	int err = 0;

	int dfd = open_parent(path, &base);
	if (dfd < 0)
		return -dfd;
	int fd = openat(dfd, base,
			O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644);
	close(dfd);
	if (fd < 0)
		return errno == ELOOP || errno == ENXIO ? EPERM : errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? EISDIR : EPERM;
	}
	/* An empty file is not truncated: a truncation is a modification of its own (a
	 * watcher's second write event, or one merged into the write's, as inotify's queue
	 * happens to be read). */
	if ((st.st_size && ftruncate(fd, 0) < 0) || fcntl(fd, F_SETFL, 0) < 0)
		err = errno;
	while (!err) {
		ssize_t n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : got != size ? EPIPE : 0;
			break;
		}
		got += (uint64_t)n;
		err = got > size ? EFBIG : write_all(fd, buf, (size_t)n);
	}
	/* KEY=VALUE: the user.e2b.KEY extended attribute */
	for (int i = 0; i < nmeta && !err; i++) {
		char key[128];
		const char *eq = strchr(meta[i], '=');
		if (!eq || eq == meta[i] || eq - meta[i] > 64) {
			err = EINVAL;
			break;
		}
		snprintf(key, sizeof(key), META_PREFIX "%.*s", (int)(eq - meta[i]), meta[i]);
		if (fsetxattr(fd, key, eq + 1, strlen(eq + 1), 0) < 0)
			err = errno;
	}
	close(fd);
	return err;
}

static int file_rm(const char *path)
{
	const char *base;
	int dfd = open_parent(path, &base);

	if (dfd < 0)
		return -dfd;
	if (unlinkat(dfd, base, 0) == 0)
		return 0;
	if (errno != EISDIR)
		return errno;
	return unlinkat(dfd, base, AT_REMOVEDIR) < 0 ? errno : 0;
}

/* ---- the filesystem helpers of the E2B surface ---- */

/* The name of uid (or gid) @id in /etc/passwd (/etc/group) of the sandbox, or the
 * number. The files are read once; at most 64 KiB of each. */
static const char *id_name(bool group, unsigned id)
{
	static char buf[2][65536] COLD, num[2][16];
	static bool loaded[2];
	char *b = buf[group];

	if (!loaded[group]) {
		loaded[group] = true;
		int fd = open_in_root(group ? "/etc/group" : "/etc/passwd",
				      O_RDONLY | O_NONBLOCK | O_NOCTTY);
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			ssize_t n = read(fd, b, sizeof(buf[0]) - 1);
			b[n > 0 ? n : 0] = '\0';
		}
		if (fd >= 0)
			close(fd);
	}
	/* name:x:ID:... one a line */
	for (char *line = b; *line;) {
		char *end = strchr(line, '\n'), *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!end)
			end = line + strlen(line);
		if (c1 && c2 && c2 < end && c1 - line < 64) {
			char *e;
			unsigned long v = strtoul(c2 + 1, &e, 10);
			if (e != c2 + 1 && *e == ':' && v == id) {
				static char name[2][64];
				memcpy(name[group], line, (size_t)(c1 - line));
				name[group][c1 - line] = '\0';
				return name[group];
			}
		}
		line = *end ? end + 1 : end;
	}
	snprintf(num[group], sizeof(num[group]), "%u", id);
	return num[group];
}

/* Its metadata, the user.e2b.* extended attributes of a file or directory: "N\0" then N
 * keys and values, each "\0"-ended (values with a NUL are left out). */
static int fs_emit_metadata(const struct stat *st, int dfd, const char *name)
{
	static char names[16384] COLD, value[4096] COLD;
	char path[4200], num[16];
	ssize_t n = -1;
	unsigned count = 0;

	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dfd, *name ? name : ".");
	if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode))
		n = llistxattr(path, names, sizeof(names));
	/* Counted first, then written. */
	for (int pass = 0; pass < 2; pass++) {
		if (pass) {
			snprintf(num, sizeof(num), "%u", count);
			int err = write_all(1, num, strlen(num) + 1);
			if (err)
				return err;
		}
		unsigned k = 0;
		for (ssize_t off = 0; off < n && k < META_MAX;
		     off += (ssize_t)strlen(names + off) + 1) {
			const char *key = names + off;
			if (strncmp(key, META_PREFIX, strlen(META_PREFIX)) ||
			    !key[strlen(META_PREFIX)])
				continue;
			ssize_t v = lgetxattr(path, key, value, sizeof(value) - 1);
			if (v < 0 || memchr(value, '\0', (size_t)v))
				continue;
			value[v] = '\0';
			k++;
			if (!pass)
				continue;
			const char *short_key = key + strlen(META_PREFIX);
			int err = write_all(1, short_key, strlen(short_key) + 1);
			if (!err)
				err = write_all(1, value, (size_t)v + 1);
			if (err)
				return err;
		}
		count = k;
	}
	return 0;
}

/* One entry on stdout: "KIND MODE SIZE SEC NSEC\0OWNER\0GROUP\0PATH\0TARGET\0" and its
 * metadata (fs_emit_metadata), KIND f (file), d, l (symlink) or o (other). */
static int fs_emit(const char *path, const struct stat *st, int dfd, const char *name)
{
	char head[128], target[4096] = "";
	char kind = S_ISREG(st->st_mode)   ? 'f'
		    : S_ISDIR(st->st_mode) ? 'd'
		    : S_ISLNK(st->st_mode) ? 'l'
					   : 'o';
	if (kind == 'l') {
		ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
	}
	int n = snprintf(head, sizeof(head), "%c %o %lld %lld %ld", kind,
			 (unsigned)(st->st_mode & 07777), (long long)st->st_size,
			 (long long)st->st_mtim.tv_sec, (long)st->st_mtim.tv_nsec);
	int err = write_all(1, head, (size_t)n + 1);
	const char *owner = id_name(false, st->st_uid);
	if (!err)
		err = write_all(1, owner, strlen(owner) + 1);
	const char *group = id_name(true, st->st_gid);
	if (!err)
		err = write_all(1, group, strlen(group) + 1);
	if (!err)
		err = write_all(1, path, strlen(path) + 1);
	if (!err)
		err = write_all(1, target, strlen(target) + 1);
	if (!err)
		err = fs_emit_metadata(st, dfd, name);
	return err;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

#define FS_MAX_ENTRIES 100000

/* Entries below @dfd (named @path), in name order, each directory's entries after it,
 * @depth levels down; symlinks are not followed. */
static int fs_walk(int dfd, const char *path, unsigned depth, unsigned *count)
{
	DIR *d = fdopendir(dfd);
	char **names = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	if (!d) {
		close(dfd);
		return errno;
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			char **p = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*p));
			if (!p) {
				err = ENOMEM;
				break;
			}
			names = p;
		}
		if (!(names[n] = strdup(e->d_name))) {
			err = ENOMEM;
			break;
		}
		n++;
	}
	if (!err)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n && !err; i++) {
		struct stat st;
		char sub[4096];
		if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* gone meanwhile */
		if (++*count > FS_MAX_ENTRIES) {
			err = E2BIG;
			break;
		}
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", strcmp(path, "/") ? path : "",
				     names[i]) >= sizeof(sub))
			continue;
		err = fs_emit(sub, &st, dirfd(d), names[i]);
		if (!err && depth > 1 && S_ISDIR(st.st_mode)) {
			int sfd = openat(dirfd(d), names[i],
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sfd >= 0)
				err = fs_walk(sfd, sub, depth - 1, count);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return err;
}

/* stat PATH: the entry itself; ls PATH DEPTH: what is below it. */
static int fs_stat(const char *path, unsigned depth)
{
	const char *base;
	struct stat st;
	int dfd;

	if (!strcmp(path, "/")) {
		dfd = open_in_root("/", O_PATH | O_DIRECTORY);
		base = "";
	} else {
		dfd = open_parent(path, &base);
	}
	if (dfd < 0)
		return -dfd;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0) {
		int err = errno;
		close(dfd);
		return err;
	}
	if (!depth) {
		int err = fs_emit(path, &st, dfd, base);
		close(dfd);
		return err;
	}
	close(dfd);
	/* ls: the directory itself may be a symlink to one (followed, in the root). */
	int fd = open_in_root(path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -fd;
	int err = check_fs(fd);
	unsigned count = 0;
	if (err) {
		close(fd);
		return err;
	}
	return fs_walk(fd, path, depth, &count);
}

/* mkdir -p PATH; EEXIST when it was a directory already. */
static int fs_mkdir(const char *path, bool exist_ok)
{
	char buf[4096];
	int dfd = open_in_root("/", O_PATH | O_DIRECTORY), err = 0;
	bool made = false;

	if (dfd < 0)
		return -dfd;
	if (strlen(path) >= sizeof(buf)) {
		close(dfd);
		return ENAMETOOLONG;
	}
	strcpy(buf, path);
	for (char *save = NULL, *c = strtok_r(buf, "/", &save); c && !err;
	     c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, ".") || !strcmp(c, "..")) {
			err = EINVAL;
			break;
		}
		made = mkdirat(dfd, c, 0755) == 0;
		if (!made && errno != EEXIST) {
			err = errno;
			break;
		}
		int next = openat(dfd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			err = errno == ELOOP ? ENOTDIR : errno;
		else if ((err = check_fs(next)))
			close(next);
		if (!err) {
			close(dfd);
			dfd = next;
		}
	}
	close(dfd);
	if (!err && !made && !exist_ok)
		err = EEXIST;
	return err;
}

/* mv SRC DST: DST's parent made if missing, then renamed. */
static int fs_move(const char *src, const char *dst)
{
	char dir[4096];
	const char *sb, *db;
	int r = filepath_split(dst, dir, sizeof(dir), &db);

	if (r < 0)
		return -r;
	if (*dir && (r = fs_mkdir(dir, true)))
		return r;
	int sfd = open_parent(src, &sb);
	if (sfd < 0)
		return -sfd;
	int dfd = open_parent(dst, &db);
	if (dfd < 0) {
		close(sfd);
		return -dfd;
	}
	r = renameat(sfd, sb, dfd, db) < 0 ? errno : 0;
	close(sfd);
	close(dfd);
	return r;
}

/* rm -rf: what is below @name in @dfd, then it; a missing one is no error. */
static int fs_remove_at(int dfd, const char *name, unsigned depth)
{
	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return errno;
	if (depth > 512)
		return ELOOP;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return errno;
	}
	int err = 0;
	for (struct dirent *e; !err && (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			err = fs_remove_at(dirfd(d), e->d_name, depth + 1);
	closedir(d);
	if (!err && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		err = errno;
	return err;
}

static int fs_remove(const char *path)
{
	const char *base;
	int dfd = open_parent(path, &base);

	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return -dfd;
	int err = fs_remove_at(dfd, base, 0);
	close(dfd);
	return err;
}

/* sbx-init --file get PATH MAX | put PATH SIZE | rm PATH: run by the host's files API
 * inside the sandbox, as its user and in its cgroups (what it writes is charged to the
 * sandbox), with PATH resolved inside its root. Exits 0, or with the errno of the
 * failure. */
static int file_tool(int argc, char **argv)
{
	unsigned long long n = 0;
	char *end = NULL;

	if (argc >= 5 && strcmp(argv[2], "mv")) {
		errno = 0;
		n = strtoull(argv[4], &end, 10);
		if (errno || *end || end == argv[4])
			file_exit(EINVAL);
	}
	if (argc == 5 && !strcmp(argv[2], "get"))
		file_exit(file_get(argv[3], n));
	if (argc == 5 && !strcmp(argv[2], "put"))
		file_exit(file_put(argv[3], n));
	if (argc >= 5 && argc <= 5 + META_MAX && !strcmp(argv[2], "putp")) {
		char dir[4096];
		const char *base;
		int err = filepath_split(argv[3], dir, sizeof(dir), &base) < 0 ? EINVAL
			  : *dir					       ? fs_mkdir(dir, true)
									       : 0;
		file_exit(err ? err : file_write(argv[3], n, argv + 5, argc - 5));
	}
	if (argc == 4 && !strcmp(argv[2], "rm"))
		file_exit(file_rm(argv[3]));
	if (argc == 4 && !strcmp(argv[2], "stat"))
		file_exit(fs_stat(argv[3], 0));
	if (argc == 5 && !strcmp(argv[2], "ls"))
		file_exit(n >= 1 && n <= 64 ? fs_stat(argv[3], (unsigned)n) : EINVAL);
	if (argc == 4 && !strcmp(argv[2], "mkdir"))
		file_exit(fs_mkdir(argv[3], false));
	if (argc == 5 && !strcmp(argv[2], "mv"))
		file_exit(fs_move(argv[3], argv[4]));
	if (argc == 4 && !strcmp(argv[2], "rmrf"))
		file_exit(fs_remove(argv[3]));
	fprintf(stderr,
		"usage: sbx-init --file get PATH MAX | put[p] PATH SIZE | rm PATH | stat PATH "
		"| ls PATH DEPTH | mkdir PATH | mv SRC DST | rmrf PATH\n");
	return 125;
}

/* ---- CRIU's action script, during a restore ---- */

/* @addr (dotted) on lo, a /32 of the label lo:@n. */
static int lo_alias(int sock, const char *addr, unsigned n)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo:%u", n);
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
		return -EINVAL;
	if (ioctl(sock, SIOCSIFADDR, &ifr) < 0)
		return -errno;
	inet_pton(AF_INET, "255.255.255.255", &sin->sin_addr);
	return ioctl(sock, SIOCSIFNETMASK, &ifr) < 0 ? -errno : 0;
}

/* Once a restored sandbox's namespaces exist, before anything in it runs: its new network
 * namespace (CRIU's --empty-ns net) gets lo up, as a launch's does. A sandbox with an
 * address of its own had its connections to the outside reset at the checkpoint; CRIU
 * puts those sockets back closed, bound to their addresses (SBX_RESTORE_ADDRESS, "A,B")
 * and connected (in repair mode) to their old peers: for that, the addresses are put on
 * lo and a default route through lo, all gone (sbxd) before the sandbox runs again. Run by
 * CRIU as host root; inside a sandbox it can do nothing (entering a namespace takes
 * privileges). */
static int criu_action(const char *action)
{
	const char *pid = getenv("CRTOOLS_INIT_PID"), *addr = getenv("SBX_RESTORE_ADDRESS");
	char path[64];

	if (strcmp(action, "setup-namespaces"))
		return 0;
	if (!pid || !*pid || strspn(pid, "0123456789") != strlen(pid))
		return 1;
	snprintf(path, sizeof(path), "/proc/%s/ns/net", pid);
	int ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
		fprintf(stderr, "sbx-init: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (nsutil_lo_up() < 0)
		return 1;
	if (!addr || !*addr)
		return 0;
	struct rtentry rt = { .rt_flags = RTF_UP, .rt_dev = (char *)"lo" };
	((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
	((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = sock < 0 ? -errno : 0;
	char list[256], *save = NULL;
	unsigned n = 1;
	snprintf(list, sizeof(list), "%s", addr);
	for (char *t = strtok_r(list, ",", &save); r == 0 && t; t = strtok_r(NULL, ",", &save))
		r = lo_alias(sock, t, n++);
	if (r == 0 && ioctl(sock, SIOCADDRT, &rt) < 0 && errno != EEXIST)
		r = -errno;
	if (r < 0)
		fprintf(stderr, "sbx-init: %s on lo for the restore: %s\n", addr, strerror(-r));
	if (sock >= 0)
		close(sock);
	return r < 0;
}

/* --console: a terminal of our devpts, its master sent over CONSOLE_FD (an OCI runtime's
 * console socket), its other end the workload's stdio. The descriptor of that end, or
 * exits. */
static int console_open(const char *size)
{
	unsigned rows = 0, cols = 0;

	if (sscanf(size, "%ux%u", &rows, &cols) != 2 || rows > 65535 || cols > 65535)
		rows = cols = 0;
	int peer = nsutil_console(CONSOLE_FD, (unsigned short)rows, (unsigned short)cols);
	if (peer < 0) {
		fprintf(stderr, "sbx-init: terminal: %s\n", strerror(-peer));
		exit(125);
	}
	close(CONSOLE_FD);
	/* Our own stdio too: what the runtime's caller gave it (pipes it waits to see
	 * closed) is not held on. */
	for (int i = 0; i < 3; i++)
		if (dup2(peer, i) < 0)
			exit(125);
	return peer;
}

/* --start: nothing runs until the runtime's start says so (a byte on START_FD); EOF or an
 * error: it never will. */
static void start_wait(void)
{
	char go;
	ssize_t n;

	(void)fcntl(START_FD, F_SETFD, FD_CLOEXEC);
	do
		n = read(START_FD, &go, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		exit(125);
	close(START_FD);
}

/* ---- A serving init's stack, beside its binary ----
 *
 * The kernel gives a process its stack at the top of the address space, away from
 * everything else sbx-init maps: in an idle sandbox, half of PID 1's page tables (three
 * pages of six) and two pages of its memory were there. Once its workload has started (at
 * once, with none), a serving init moves to a stack of its own, mapped where the kernel
 * places it: beside the mappings it made last, the binary's (a static PIE, in the
 * randomized mmap area, whose randomization the stack shares at a fixed distance). It
 * takes along what pointed into the kernel's stack: its command line (/proc/1/cmdline
 * reads as before) and the auxiliary vector, which musl reads again lazily (its first
 * allocation, its first clock call, getauxval), then unmaps the kernel's stack. The
 * environment, the workload's, is passed on by then and stays behind. Where anything
 * fails, or musl is not the one whose record of the vector we know, it stays where it
 * is. */
static _Noreturn void serve_loop(int sigfd);

#if defined(__x86_64__) || defined(__aarch64__)

/* Its deepest path, a relay of the workload's output (64 KiB of buffer), needs under
 * 80 KiB; only the pages touched are allocated. Below it, a guard as large as the one the
 * kernel keeps below a stack: no frame of ours (the largest is that relay's) steps over
 * it, and it costs no memory. */
#define MOVED_STACK (256u << 10)
#define MOVED_GUARD (1u << 20)

/* The start of musl's own state (struct __libc, hidden in its static library): four
 * flags, the count of threads, the auxiliary vector. */
extern struct {
	char flags[4];
	int threads_minus_1;
	size_t *auxv;
} __libc __attribute__((visibility("hidden")));

struct moved {
	int sigfd;
	uintptr_t lo, hi; /* the kernel's stack */
};

/* /proc/self/@name into @buf (at most @size - 1 bytes), NUL-terminated; false if it
 * could not be read or did not fit. */
static bool read_self(const char *name, char *buf, size_t size)
{
	char path[32];
	ssize_t r = 0;
	size_t n = 0;

	snprintf(path, sizeof(path), "/proc/self/%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	while (n < size - 1 && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	return r == 0 && n < size - 1;
}

/* What PR_SET_MM_MAP sets, as the kernel has it now (/proc/self/stat, fields 26-28 and
 * 45-51, and the break), and the bounds of the kernel's stack (/proc/self/maps). */
static bool mm_now(struct prctl_mm_map *m, uintptr_t *lo, uintptr_t *hi)
{
	char buf[4096];
	uint64_t f[52];

	if (!read_self("stat", buf, sizeof(buf)))
		return false;
	/* Field 2 is the name, in parentheses, which may hold anything. */
	char *s = strrchr(buf, ')');
	for (int i = 3; s && i < 52; i++) {
		s = strchr(s, ' ');
		if (s)
			f[i] = strtoull(++s, NULL, 10);
	}
	if (!s)
		return false;
	*m = (struct prctl_mm_map){
		.start_code = f[26],
		.end_code = f[27],
		.start_data = f[45],
		.end_data = f[46],
		.start_brk = f[47],
		.brk = (uint64_t)syscall(SYS_brk, 0),
		.start_stack = f[28],
		.arg_start = f[48],
		.arg_end = f[49],
		.env_start = f[50],
		.env_end = f[51],
		.exe_fd = (uint32_t)-1,
	};
	if (!read_self("maps", buf, sizeof(buf)) || !(s = strstr(buf, " [stack]\n")))
		return false;
	while (s > buf && s[-1] != '\n')
		s--;
	unsigned long a, b;
	if (sscanf(s, "%lx-%lx ", &a, &b) != 2)
		return false;
	*lo = a;
	*hi = b;
	return true;
}

/* On the new stack: the kernel's goes, and the loop begins. */
static _Noreturn void moved(void *arg)
{
	const struct moved *mv = arg;

	munmap((void *)mv->lo, mv->hi - mv->lo);
	serve_loop(mv->sigfd);
}

/* Returns only if it did not move. @argv is main()'s, as the kernel laid it out. */
static void move_stack(char **argv, int sigfd)
{
	extern char **environ;
	static char *no_env[] = { NULL };
	const size_t len = MOVED_GUARD + MOVED_STACK;
	struct prctl_mm_map m;
	uintptr_t lo, hi, here = (uintptr_t)&m;

	/* The vector follows the arguments' and the environment's pointers. */
	char **p = argv;
	while (*p++)
		;
	while (*p++)
		;
	size_t *aux = (size_t *)p, naux = 0;
	while (aux[naux] != AT_NULL)
		naux += 2;
	naux += 2;
	/* What the kernel says, checked against what we see: the command line where
	 * argv[0] is, and all of it, the vector and ourselves on the stack to unmap, and
	 * neither our code, nor our data, nor the new stack in it. */
	uintptr_t code = (uintptr_t)move_stack, data = (uintptr_t)&__libc;
	if (__libc.auxv != aux || !mm_now(&m, &lo, &hi) || m.arg_start != (uintptr_t)argv[0] ||
	    m.arg_end <= m.arg_start || m.arg_end - m.arg_start > MOVED_STACK / 4 ||
	    m.arg_start < lo || m.arg_end > hi || (uintptr_t)aux < lo ||
	    (uintptr_t)(aux + naux) > hi || here < lo || here >= hi || (code >= lo && code < hi) ||
	    (data >= lo && data < hi))
		return;
	char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return;
	if ((uintptr_t)base < hi && (uintptr_t)base + len > lo) {
		munmap(base, len);
		return;
	}
	/* At its top: the command line, the vector, its random bytes, then the loop's
	 * frames. */
	size_t args = m.arg_end - m.arg_start;
	char *at = base + len - ((args + 15) & ~(size_t)15);
	size_t *vec = (size_t *)at - naux;
	unsigned char *rnd = (unsigned char *)vec - 16;
	struct moved *mv =
		(struct moved *)(((uintptr_t)rnd - sizeof(struct moved)) & ~(uintptr_t)15);
	memcpy(at, (const void *)(uintptr_t)m.arg_start, args);
	memcpy(vec, aux, naux * sizeof(*vec));
	/* Entries that point into the kernel's stack (the random bytes musl's allocator
	 * seeds from, the program's name and platform): the random bytes come along, the
	 * rest is dropped. */
	for (size_t i = 0; i < naux; i += 2) {
		if (vec[i + 1] < lo || vec[i + 1] >= hi)
			continue;
		if (vec[i] == AT_RANDOM) {
			memcpy(rnd, (const void *)vec[i + 1], 16);
			vec[i + 1] = (uintptr_t)rnd;
		} else {
			vec[i] = AT_IGNORE;
		}
	}
	uint64_t old_args = m.arg_start;
	m.arg_start = (uintptr_t)at;
	m.arg_end = m.env_start = m.env_end = (uintptr_t)at + args;
	m.start_stack = (uintptr_t)mv;
	/* An overflow faults rather than writes over a neighbour. */
	if (mprotect(base, MOVED_GUARD, PROT_NONE) < 0 ||
	    prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&m, sizeof(m), 0) < 0) {
		munmap(base, len);
		return;
	}
	__libc.auxv = vec;
	if ((uintptr_t)workload_name >= old_args && (uintptr_t)workload_name < old_args + args)
		workload_name = at + ((uintptr_t)workload_name - old_args);
	environ = no_env;
	program_invocation_name = program_invocation_short_name = (char *)"sbx-init";
	*mv = (struct moved){ .sigfd = sigfd, .lo = lo, .hi = hi };
#if defined(__x86_64__)
	register struct moved *rdi __asm__("rdi") = mv;
	register void (*r12)(void *) __asm__("r12") = moved;
	__asm__ volatile("mov %%rdi, %%rsp\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "call *%%r12\n\t"
			 "ud2"
			 :
			 : "r"(rdi), "r"(r12)
			 : "memory");
#else
	register struct moved *x0 __asm__("x0") = mv;
	register void (*x19)(void *) __asm__("x19") = moved;
	__asm__ volatile("mov sp, x0\n\t"
			 "mov x29, xzr\n\t"
			 "blr x19\n\t"
			 "brk #0"
			 :
			 : "r"(x0), "r"(x19)
			 : "memory");
#endif
	__builtin_unreachable();
}
#else
static void move_stack(char **argv, int sigfd)
{
	(void)argv;
	(void)sigfd;
}
#endif

int main(int argc, char **argv)
{
	extern char **environ;
	bool resumed = false;
	sigset_t set;
	int argi = 1, sigfd;

	if (argc > 1 && !strcmp(argv[1], "--file"))
		return file_tool(argc, argv);
	if (argc == 1 && getenv("CRTOOLS_SCRIPT_ACTION"))
		return criu_action(getenv("CRTOOLS_SCRIPT_ACTION"));
	if (argc == 3 && !strcmp(argv[1], "--resume")) {
		resume(argv[2]);
		resumed = true;
		argi = argc;
	}
	if (argi < argc && !strcmp(argv[argi], "--ctl")) {
		serve = true;
		argi++;
	}
	if (argi + 2 < argc && !strcmp(argv[argi], "--log") &&
	    !strcmp(argv[argi + 2], "--status")) {
		char *end;
		log_cap = strtoull(argv[argi + 1], &end, 10);
		if (*end || fcntl(LOG_FD, F_SETFD, FD_CLOEXEC) < 0 ||
		    fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC) < 0) {
			fprintf(stderr, "sbx-init: bad --log/--status\n");
			return 125;
		}
		status_file = true;
		argi += 3;
	}
	bool wait_start = false;
	const char *console = NULL;
	if (argi < argc && !strcmp(argv[argi], "--start")) {
		wait_start = true;
		argi++;
	}
	if (argi + 1 < argc && !strcmp(argv[argi], "--console")) {
		console = argv[argi + 1];
		argi += 2;
	}
	if (argi < argc && !strcmp(argv[argi], "--"))
		argi++;
	if (argi >= argc && !serve && !resumed) {
		fprintf(stderr, "sbx-init: usage: sbx-init [--ctl] [--log CAP --status] [--start] "
				"[--console ROWSxCOLS] [--] "
				"[CMD [ARG...]]\n");
		return 125;
	}
	/* Non-dumpable: /proc/1 (our descriptors, memory, environment) is closed to the
	 * sandbox's processes, which hold no CAP_SYS_PTRACE. Their own execs reset it. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* A daemon's sandbox: stdin is the sandbox's own /dev/null, not a host file. */
	if (status_file && !resumed) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || dup2(fd, 0) < 0) {
			fprintf(stderr, "sbx-init: /dev/null: %s\n", strerror(errno));
			finish(125);
		}
		close(fd);
	}
	/* The listening socket is ours alone (no command inherits it), never waited on. */
	if (serve &&
	    (fcntl(CTL_FD, F_SETFD, FD_CLOEXEC) < 0 || fcntl(CTL_FD, F_SETFL, O_NONBLOCK) < 0)) {
		fprintf(stderr, "sbx-init: control socket: %s\n", strerror(errno));
		finish(125);
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (!serve)
		sigaddset(&set, INIT_REEXEC_SIGNAL);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sigfd < 0) {
		fprintf(stderr, "sbx-init: signalfd: %s\n", strerror(errno));
		finish(125);
	}
	if (resumed) {
		/* Non-dumpable again: the rest of the sandbox (left stopped after a restore)
		 * goes on. */
		kill(-1, SIGCONT);
		reply(rs.req_conn, CTL_STARTED, rs.req_id, 0);
	}

	int tty = console ? console_open(console) : -1;
	if (wait_start)
		start_wait();
	if (argi < argc) {
		int pipefd[2], stdio[3] = { 0, 1, 2 };
		if (tty >= 0)
			stdio[0] = stdio[1] = stdio[2] = tty;
		if (status_file) {
			if (pipe2(pipefd, O_CLOEXEC) < 0 ||
			    fcntl(pipefd[0], F_SETFL, O_NONBLOCK) < 0) {
				fprintf(stderr, "sbx-init: pipe: %s\n", strerror(errno));
				finish(125);
			}
			log_pipe = pipefd[0];
			stdio[1] = stdio[2] = pipefd[1];
		}
		workload_name = argv[argi];
		workload = spawn(argv + argi, environ, NULL, status_file || tty >= 0 ? stdio : NULL,
				 false, tty >= 0, !wait_start, &workload_errfd);
		if (status_file)
			close(pipefd[1]);
		if (tty >= 0)
			close(tty);
		if (workload < 0) {
			fprintf(stderr, "sbx-init: fork: %s\n", strerror(errno));
			finish(125);
		}
	}
	if (serve)
		move_stack(argv, sigfd); /* returns only if it could not */
	serve_loop(sigfd);
}

/* Until the end: signals, the control channel, the workload's output and the outcome of
 * each command's exec. */
static _Noreturn void serve_loop(int sigfd)
{
	for (;;) {
		static struct pollfd pfd[4 + CTL_MAX_CONNS + MAX_JOBS] COLD_TAIL;
		static struct job *pending[MAX_JOBS] COLD;
		int n = 0, np = 0;

		pfd[n++] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		int ctl_at = serve ? n++ : -1;
		if (serve)
			pfd[ctl_at] = (struct pollfd){ .fd = CTL_FD, .events = POLLIN };
		int conns_at = n;
		for (int i = 0; i < nconns; i++)
			pfd[n++] = (struct pollfd){ .fd = conns[i], .events = POLLIN };
		/* -1 is ignored by poll. */
		int log_at = n++, start_at = n++;
		pfd[log_at] = (struct pollfd){ .fd = log_pipe, .events = POLLIN };
		pfd[start_at] = (struct pollfd){ .fd = workload_errfd, .events = POLLIN };
		int jobs_at = n;
		for (int i = 0; i < njobs; i++)
			if (jobs[i].pid && jobs[i].errfd >= 0) {
				pending[np++] = &jobs[i];
				pfd[n++] = (struct pollfd){ .fd = jobs[i].errfd, .events = POLLIN };
			}
		if (poll(pfd, (nfds_t)n, -1) < 0)
			continue;
		if (log_pipe >= 0 && pfd[log_at].revents)
			log_relay(16);
		if (workload_errfd >= 0 && pfd[start_at].revents)
			workload_started();
		for (int i = 0; i < np; i++)
			if (pfd[jobs_at + i].revents && pending[i]->errfd >= 0)
				job_started(pending[i]);

		/* Connections first (their indices shift when one closes). */
		for (int i = nconns - 1; i >= 0; i--)
			if (pfd[conns_at + i].revents)
				conn_read(i);
		/* The pending connections, a bounded number a round: peers from inside the
		 * sandbox are closed at once, so its processes cannot fill the backlog while we
		 * look elsewhere, nor keep us here by connecting as fast as we close. */
		for (int k = 0; serve && (pfd[ctl_at].revents & POLLIN) && k < 4 * CTL_MAX_CONNS;
		     k++) {
			int c = accept4(CTL_FD, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0)
				break;
			if (nconns < CTL_MAX_CONNS && from_host(c))
				conns[nconns++] = c;
			else
				close(c);
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		if (read(sigfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo != SIGCHLD) {
			/* Only the host may signal PID 1: its kill or pidfd_send_signal arrives
			 * as SI_USER with a sender outside our pid namespace (pid 0 here). One
			 * from inside names its sender; one queued with sigqueue carries a
			 * negative code whatever sender it claims. (The kernel's own protection
			 * of a namespace init does not apply to signals we block for
			 * signalfd.) */
			if (si.ssi_code != SI_USER || si.ssi_pid != 0)
				continue;
			if (si.ssi_signo == INIT_REEXEC_SIGNAL) {
				reexec(-1, 0); /* returns only if it failed: we go on as we are */
				continue;
			}
			if (workload > 0)
				kill(workload, (int)si.ssi_signo);
			else
				finish(128 + (int)si.ssi_signo); /* a serving init: stop */
			continue;
		}
		/* Reap everything that exited; orphans re-parent to us. */
		for (;;) {
			int status;
			pid_t pid = waitpid(-1, &status, WNOHANG);
			if (pid <= 0)
				break;
			if (pid == workload) {
				if (workload_errfd >= 0)
					workload_started();
				finish(status_to_code(status));
			}
			struct job *j = job_find(pid);
			if (!j)
				continue;
			/* Its start is known by now (its end of the pipe is closed). */
			if (j->errfd >= 0)
				job_started(j);
			if (!j->silent && j->conn < 0) {
				j->done = true;
				j->code = (uint8_t)status_to_code(status);
				continue;
			}
			if (!j->silent)
				reply(j->conn, CTL_EXITED, j->id, status_to_code(status));
			j->pid = 0;
		}
	}
}
