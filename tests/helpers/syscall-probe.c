// SPDX-License-Identifier: MIT
/* Runs inside a sandbox: calls each syscall the default profile must refuse, with
 * arguments that would be harmless even if it were allowed, and prints NAME:RESULT
 * (EPERM, ENOSYS, OK, or another errno name). Static: runs in the base image. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct probe {
	const char *name;
	long nr;
	long a[6];
};

int main(void)
{
	int netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	const struct probe probes[] = {
		{ "mount", SYS_mount, { (long)"none", (long)"/tmp", (long)"tmpfs", 0, 0 } },
		{ "umount2", SYS_umount2, { (long)"/tmp", 0 } },
		{ "pivot_root", SYS_pivot_root, { (long)".", (long)"." } },
		{ "unshare", SYS_unshare, { CLONE_NEWNS } },
		{ "unshare_user", SYS_unshare, { CLONE_NEWUSER } },
		{ "setns", SYS_setns, { netns, CLONE_NEWNET } },
		{ "ptrace", SYS_ptrace, { 0 /* PTRACE_TRACEME */ } },
		{ "bpf", SYS_bpf, { 0, 0, 0 } },
		{ "perf_event_open", SYS_perf_event_open, { 0, 0, -1, -1, 0 } },
		{ "keyctl", SYS_keyctl, { 0, 0 } },
		{ "add_key", SYS_add_key, { 0, 0, 0, 0, 0 } },
		{ "request_key", SYS_request_key, { 0, 0, 0, 0 } },
		{ "kexec_load", SYS_kexec_load, { 0, 0, 0, 0 } },
		{ "kexec_file_load", SYS_kexec_file_load, { -1, -1, 0, 0, 0 } },
		{ "init_module", SYS_init_module, { 0, 0, (long)"" } },
		{ "finit_module", SYS_finit_module, { -1, (long)"", 0 } },
		{ "delete_module", SYS_delete_module, { (long)"sbx_none", 0 } },
		{ "open_by_handle_at", SYS_open_by_handle_at, { -1, 0, 0 } },
		{ "name_to_handle_at", SYS_name_to_handle_at, { AT_FDCWD, (long)"/", 0, 0, 0 } },
		{ "reboot", SYS_reboot, { 0, 0, 0, 0 } }, /* bad magic: EINVAL if allowed */
		{ "swapon", SYS_swapon, { (long)"/nonexistent", 0 } },
		{ "swapoff", SYS_swapoff, { (long)"/nonexistent" } },
		{ "acct", SYS_acct, { (long)"/nonexistent" } },
		{ "quotactl", SYS_quotactl, { 0, 0, 0, 0 } },
		{ "userfaultfd", SYS_userfaultfd, { 0 } },
		{ "io_uring_setup", SYS_io_uring_setup, { 1, 0 } },
		{ "clock_settime", SYS_clock_settime, { CLOCK_REALTIME, 0 } },
		{ "settimeofday", SYS_settimeofday, { 0, 0 } },
		{ "adjtimex", SYS_adjtimex, { 0 } },
		{ "syslog", SYS_syslog, { 10 /* SIZE_BUFFER */, 0, 0 } },
		{ "lookup_dcookie", SYS_lookup_dcookie, { 0, 0, 0 } },
		{ "iopl", SYS_iopl, { 0 } },
		{ "ioperm", SYS_ioperm, { 0, 0, 0 } },
		{ "clone_newuser", SYS_clone, { CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0 } },
		{ "clone_newns", SYS_clone, { CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0 } },
		{ "clone_newnet", SYS_clone, { CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0 } },
		{ "clone3", SYS_clone3, { 0, 0 } },
	};

	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		const struct probe *p = &probes[i];
		errno = 0;
		long r = syscall(p->nr, p->a[0], p->a[1], p->a[2], p->a[3], p->a[4], p->a[5]);
		if (r == 0 && p->nr == SYS_clone)
			_exit(0); /* a child was created: the parent reports OK */
		const char *res = r >= 0	    ? "OK"
				  : errno == EPERM  ? "EPERM"
				  : errno == ENOSYS ? "ENOSYS"
						    : strerrorname_np(errno);
		printf("%s:%s\n", p->name, res ? res : "?");
	}
	return 0;
}
