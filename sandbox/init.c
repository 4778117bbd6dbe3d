// SPDX-License-Identifier: MIT
/* sbx-init: PID 1 of every sandbox. Runs the workload, forwards SIGTERM, SIGINT,
 * SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to it, reaps every zombie, and exits with the
 * workload's status (128+N when a signal ended it). Built static: images need no libc. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static int status_to_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* Starts the workload with vfork: nothing of our address space is copied. The child
 * only restores the signal mask and execs; a failure is reported through memory it
 * shares with us. Returns its pid, or -(exit code) after printing why. */
static pid_t spawn(char **cmd, const sigset_t *mask)
{
	volatile int exec_errno = 0;
	pid_t pid = vfork();

	if (pid == 0) {
		sigprocmask(SIG_SETMASK, mask, NULL);
		execvp(cmd[0], cmd);
		exec_errno = errno;
		_exit(errno == ENOENT ? 127 : 126);
	}
	if (pid < 0) {
		fprintf(stderr, "sbx-init: vfork: %s\n", strerror(errno));
		return -125;
	}
	if (exec_errno)
		fprintf(stderr, "sbx: %s: %s\n", cmd[0],
			exec_errno == ENOENT ? "command not found" : strerror(exec_errno));
	return pid;
}

int main(int argc, char **argv)
{
	sigset_t set, old;
	int argi = 1;

	if (argi < argc && !strcmp(argv[argi], "--"))
		argi++;
	if (argi >= argc) {
		fprintf(stderr, "sbx-init: usage: sbx-init [--] CMD [ARG...]\n");
		return 125;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, &old);

	pid_t child = spawn(argv + argi, &old);
	if (child < 0)
		return -child;

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		/* Reap everything that exited; orphans re-parent to us. */
		for (;;) {
			int status;
			pid_t pid = waitpid(-1, &status, WNOHANG);
			if (pid <= 0)
				break;
			if (pid == child)
				return status_to_code(status);
		}
	}
}
