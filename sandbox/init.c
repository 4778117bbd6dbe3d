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
 * was not there to reap it. Built static: images need no libc.
 * Usage: sbx-init [--ctl] [--log CAP --status] [--] [CMD [ARG...]] */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_JOBS 1024

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

struct job {
	pid_t pid; /* 0: free slot */
	uint32_t id;
	int conn;    /* the connection that asked for it; -1 once it closed */
	bool silent; /* failed to start: its exit is not reported */
};

static struct job jobs[MAX_JOBS];
static int conns[CTL_MAX_CONNS];
static int nconns;
static char msgbuf[CTL_MAX_MSG + 1];
static char *req_argv[CTL_MAX_ARGS + 1], *req_envp[CTL_MAX_ARGS + 1];
static int log_pipe = -1; /* read end of the workload's output, with --log */
static unsigned long long log_cap, log_written;
static bool log_full, status_file;

static int status_to_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* execve, searching $PATH of @envp (not ours) when argv[0] has no '/'. Returns only
 * on failure, with errno set. Runs in a vfork child: no allocation. */
static void exec_search(char *const argv[], char *const envp[])
{
	const char *path = DEFAULT_PATH;
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

/* Starts @argv with vfork: nothing of our address space is copied. @stdio NULL keeps
 * ours; @cwd NULL keeps ours. Returns the pid and sets *ret_err to the errno of a
 * failed exec (the child then exits 126/127) or of vfork (pid < 0). */
static pid_t spawn(char *const argv[], char *const envp[], const char *cwd, const int *stdio,
		   bool own_group, int *ret_err)
{
	volatile int child_err = 0;
	sigset_t none;
	pid_t pid;

	sigemptyset(&none);
	pid = vfork();
	if (pid == 0) {
		if (own_group)
			setpgid(0, 0);
		for (int i = 0; stdio && i < 3; i++)
			if (dup2(stdio[i], i) < 0) {
				child_err = errno;
				_exit(126);
			}
		if (cwd && chdir(cwd) < 0) {
			child_err = errno;
			_exit(126);
		}
		sigprocmask(SIG_SETMASK, &none, NULL);
		exec_search(argv, envp);
		child_err = errno;
		_exit(errno == ENOENT ? 127 : 126);
	}
	*ret_err = pid < 0 ? errno : child_err;
	return pid;
}

/* Moves what the workload wrote into the log, up to the cap; past it, output is read
 * and dropped (the workload never blocks on a full pipe). At EOF the pipe closes. */
static void log_relay(void)
{
	static const char marker[] = "\n[sbx: log limit reached; further output dropped]\n";
	char buf[65536];

	for (;;) {
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

	if (log_pipe >= 0)
		log_relay();
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
	for (int i = 0; i < MAX_JOBS; i++)
		if (jobs[i].pid == pid && pid > 0)
			return &jobs[i];
	return NULL;
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

static void handle_exec(int conn, size_t len, const int *fds, int nfds)
{
	struct ctl_exec h;
	const char *cwd = "/";
	struct job *slot = NULL;
	int err;

	memcpy(&h, msgbuf, sizeof(h));
	for (int i = 0; i < MAX_JOBS && !slot; i++)
		if (!jobs[i].pid)
			slot = &jobs[i];
	if (nfds != 3 || !parse_exec(len, &h, &cwd)) {
		reply(conn, CTL_FAILED, h.id, EBADMSG);
		return;
	}
	if (!slot) {
		reply(conn, CTL_FAILED, h.id, EAGAIN);
		return;
	}
	pid_t pid = spawn(req_argv, req_envp, cwd, fds, true, &err);
	if (pid < 0) {
		reply(conn, CTL_FAILED, h.id, err);
		return;
	}
	*slot = (struct job){ .pid = pid, .id = h.id, .conn = conn, .silent = err != 0 };
	if (err)
		reply(conn, CTL_FAILED, h.id, err);
	else
		reply(conn, CTL_STARTED, h.id, pid);
}

static void conn_close(int i)
{
	for (int j = 0; j < MAX_JOBS; j++)
		if (jobs[j].pid && jobs[j].conn == conns[i])
			jobs[j].conn = -1;
	close(conns[i]);
	conns[i] = conns[--nconns];
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
		if (type == CTL_EXEC && (size_t)n >= sizeof(struct ctl_exec)) {
			handle_exec(conns[i], (size_t)n, fds, nfds);
		} else if (type == CTL_SIGNAL && (size_t)n == sizeof(struct ctl_signal)) {
			struct ctl_signal s;
			memcpy(&s, msgbuf, sizeof(s));
			for (int j = 0; j < MAX_JOBS; j++)
				if (jobs[j].pid && jobs[j].id == s.id && jobs[j].conn == conns[i])
					kill(-jobs[j].pid, s.sig);
		} else {
			reply(conns[i], CTL_FAILED, 0, EBADMSG);
		}
	}
	for (int k = 0; k < nfds; k++)
		close(fds[k]);
}

int main(int argc, char **argv)
{
	extern char **environ;
	bool serve = false;
	pid_t workload = 0;
	sigset_t set;
	int argi = 1, sigfd, err;

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
	if (argi < argc && !strcmp(argv[argi], "--"))
		argi++;
	if (argi >= argc && !serve) {
		fprintf(stderr, "sbx-init: usage: sbx-init [--ctl] [--log CAP --status] [--] "
				"[CMD [ARG...]]\n");
		return 125;
	}
	/* Non-dumpable: /proc/1 (our descriptors, memory, environment) is closed to the
	 * sandbox's processes, which hold no CAP_SYS_PTRACE. Their own execs reset it. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* A daemon's sandbox: stdin is the sandbox's own /dev/null, not a host file. */
	if (status_file) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || dup2(fd, 0) < 0) {
			fprintf(stderr, "sbx-init: /dev/null: %s\n", strerror(errno));
			finish(125);
		}
		close(fd);
	}
	/* The listening socket is ours alone: no command inherits it. */
	if (serve && fcntl(CTL_FD, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf(stderr, "sbx-init: control socket: %s\n", strerror(errno));
		finish(125);
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sigfd < 0) {
		fprintf(stderr, "sbx-init: signalfd: %s\n", strerror(errno));
		finish(125);
	}

	if (argi < argc) {
		int pipefd[2], stdio[3] = { 0, 1, 2 };
		if (status_file) {
			if (pipe2(pipefd, O_CLOEXEC) < 0 ||
			    fcntl(pipefd[0], F_SETFL, O_NONBLOCK) < 0) {
				fprintf(stderr, "sbx-init: pipe: %s\n", strerror(errno));
				finish(125);
			}
			log_pipe = pipefd[0];
			stdio[1] = stdio[2] = pipefd[1];
		}
		workload =
			spawn(argv + argi, environ, NULL, status_file ? stdio : NULL, false, &err);
		if (status_file)
			close(pipefd[1]);
		if (workload < 0) {
			fprintf(stderr, "sbx-init: vfork: %s\n", strerror(err));
			finish(125);
		}
		if (err)
			fprintf(stderr, "sbx: %s: %s\n", argv[argi],
				err == ENOENT ? "command not found" : strerror(err));
	}

	for (;;) {
		struct pollfd pfd[3 + CTL_MAX_CONNS];
		int n = 0;

		pfd[n++] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		if (serve)
			pfd[n++] = (struct pollfd){ .fd = CTL_FD, .events = POLLIN };
		for (int i = 0; i < nconns; i++)
			pfd[n++] = (struct pollfd){ .fd = conns[i], .events = POLLIN };
		/* Last, so the indices above stay as they were; -1 is ignored by poll. */
		pfd[n++] = (struct pollfd){ .fd = log_pipe, .events = POLLIN };
		if (poll(pfd, (nfds_t)n, -1) < 0)
			continue;
		if (log_pipe >= 0 && pfd[n - 1].revents)
			log_relay();

		/* Connections first (their indices shift when one closes). */
		for (int i = nconns - 1; i >= 0; i--)
			if (pfd[(serve ? 2 : 1) + i].revents)
				conn_read(i);
		if (serve && (pfd[1].revents & POLLIN)) {
			int c = accept4(CTL_FD, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0 && nconns < CTL_MAX_CONNS && from_host(c))
				conns[nconns++] = c;
			else if (c >= 0)
				close(c);
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		if (read(sigfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo != SIGCHLD) {
			/* Only the host may signal PID 1: its signals arrive with sender pid 0
			 * (not visible here); one from inside the sandbox names its sender.
			 * (The kernel's own protection of a namespace init does not apply to
			 * signals we block for signalfd.) */
			if (si.ssi_pid != 0)
				continue;
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
			if (pid == workload)
				finish(status_to_code(status));
			struct job *j = job_find(pid);
			if (!j)
				continue;
			if (!j->silent)
				reply(j->conn, CTL_EXITED, j->id, status_to_code(status));
			j->pid = 0;
		}
	}
}
