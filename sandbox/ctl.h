/* SPDX-License-Identifier: MIT */
/* The control channel between the host and a sandbox's sbx-init. sbx-init listens on a
 * SOCK_SEQPACKET unix socket with the abstract name CTL_NAME in the sandbox's own network
 * namespace, created by libsandbox's child as fd 3; it accepts only peers outside the
 * sandbox's pid namespace (the host). The host connects (again, after a daemon restart
 * or a restore) and asks sbx-init to start commands; those are sbx-init's
 * own children, so they have exactly the workload's namespaces, cgroup, capabilities
 * and seccomp filter: nothing of the host is carried in.
 *
 * Messages (one per datagram, host byte order):
 *   host -> init  CTL_EXEC    struct ctl_exec + "cwd\0argv0\0...argvN\0env0\0...envM\0",
 *                             with three fds (stdin, stdout, stderr) as SCM_RIGHTS
 *   host -> init  CTL_EXEC_TTY  as CTL_EXEC, the three fds one terminal's (a pty's
 *                             other end, opened by the host in the sandbox's devpts):
 *                             the command leads a new session with it as its
 *                             controlling terminal
 *   host -> init  CTL_SIGNAL  struct ctl_signal: to the command's process group
 *   host -> init  CTL_ADOPT   struct ctl_signal, sig = the command's pid: a command of a
 *                             connection gone (a checkpoint closes it; a restore brings
 *                             the commands back) is this one's, under a new id; one
 *                             that exited meanwhile answers CTL_EXITED, an unknown one
 *                             CTL_FAILED ESRCH
 *   host -> init  CTL_REEXEC  struct ctl_signal (sig unused): sbx-init executes itself
 *                             again, keeping its state, and answers CTL_STARTED from
 *                             the new image (or CTL_FAILED). After a restore: what CRIU
 *                             restored was made outside the sandbox's user namespace,
 *                             and a process must come from an exec inside it for a
 *                             next checkpoint to see it as the namespace's.
 *   init -> host  CTL_STARTED / CTL_FAILED / CTL_EXITED  struct ctl_reply
 * The structs below are shared by sbx-init (static, libc only) and the host side. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_FD 3    /* where sbx-init finds its listening socket */
#define LOG_FD 4    /* with --log: where the workload's output goes */
#define STATUS_FD 5 /* with --status: where the exit code goes ("exit N\n") */
/* sbx-oci's containers: with --start, sbx-init starts the workload once a byte arrives on
 * START_FD (EOF: it never does); with --console, it sends a terminal's master over the
 * unix socket CONSOLE_FD and runs the workload on that terminal. */
#define START_FD 7
#define CONSOLE_FD 8
/* Without a control channel (an OCI container's sbx-init), this signal from the host (kill
 * or pidfd_send_signal from outside its pid namespace) asks sbx-init to execute itself
 * again, as CTL_REEXEC does: after a restore, so that a later checkpoint accepts it. It
 * is SIGRTMAX - 2, never forwarded to the workload. */
#define INIT_REEXEC_SIGNAL 62
#define CTL_NAME "sbx/ctl"	 /* abstract, in the sandbox's network namespace */
#define CTL_MAX_MSG (128 * 1024) /* one EXEC request, strings included */
#define CTL_MAX_ARGS 1024
#define CTL_MAX_CONNS 16

enum ctl_type {
	CTL_EXEC = 1,
	CTL_SIGNAL,
	CTL_STARTED,
	CTL_FAILED,
	CTL_EXITED,
	CTL_REEXEC,
	CTL_EXEC_TTY,
	CTL_ADOPT,
};

struct ctl_exec {
	uint32_t type; /* CTL_EXEC */
	uint32_t id;   /* chosen by the host; echoed in replies */
	uint32_t argc; /* >= 1 */
	uint32_t envc;
	/* followed by cwd, argv and env as NUL-terminated strings */
};

struct ctl_signal {
	uint32_t type; /* CTL_SIGNAL */
	uint32_t id;
	int32_t sig;
};

struct ctl_reply {
	uint32_t type; /* CTL_STARTED, CTL_FAILED or CTL_EXITED */
	uint32_t id;
	int32_t value; /* STARTED: pid inside the sandbox; FAILED: errno (| CTL_ERR_CWD when
			* its working directory could not be entered); EXITED: the exit
			* code, or 128+N for signal N */
};

#define CTL_ERR_CWD 0x10000

/* ---- host side (libsandbox); return 0 / fd, or -errno ---- */

/* Connects to the control socket of the sandbox whose PID 1 is @pidfd (the socket is
 * made in its network namespace; the calling thread's own is unchanged after). Never
 * blocks: -EAGAIN when the socket's backlog is full (try again later). The result is
 * non-blocking when asked. */
int ctl_connect(int pidfd, bool nonblock);
/* The most descriptors one message carries (the kernel's SCM_MAX_FD). */
#define CTL_MAX_FDS 253
/* Sends @len bytes of @buf with @n (1 to CTL_MAX_FDS) descriptors over the unix socket
 * @sock. 0 or -errno. Either side. */
int ctl_send_fds(int sock, const void *buf, size_t len, const int *fds, unsigned n);
/* Asks for @argv to run with @envp in @cwd, its stdio on @stdio. */
int ctl_send_exec(int fd, uint32_t id, char *const argv[], char *const envp[], const char *cwd,
		  const int stdio[3]);
/* The same, @tty (all three of stdio) its controlling terminal (CTL_EXEC_TTY). */
int ctl_send_exec_tty(int fd, uint32_t id, char *const argv[], char *const envp[], const char *cwd,
		      int tty);
int ctl_send_signal(int fd, uint32_t id, int sig);
int ctl_send_adopt(int fd, uint32_t id, int pid);
/* Asks sbx-init to execute itself again (CTL_REEXEC), on a connection with nothing else
 * in flight, and waits at most @timeout_ms for its answer. */
int ctl_reexec(int fd, int timeout_ms);
/* Reads one reply (blocking unless @fd is non-blocking: then -EAGAIN). */
int ctl_read_reply(int fd, struct ctl_reply *ret);
