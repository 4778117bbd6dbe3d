// SPDX-License-Identifier: MIT
/* refuse SYSCALL ERRNO CMD [ARG...]: runs CMD with SYSCALL (a name below) failing with
 * ERRNO (a number), for it and everything it starts: how a test makes the kernel refuse
 * one step of a launch. Static. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Elsewhere the number is refused whatever the ABI: a test helper need not care. */
#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#endif

static const struct {
	const char *name;
	unsigned nr;
} calls[] = {
	{ "unshare", SYS_unshare },
	{ "setns", SYS_setns },
	{ "mount", SYS_mount },
};

int main(int argc, char **argv)
{
	unsigned nr = ~0U, err = argc > 2 ? (unsigned)atoi(argv[2]) : 0;

	for (size_t i = 0; argc > 1 && i < sizeof(calls) / sizeof(calls[0]); i++)
		if (!strcmp(argv[1], calls[i].name))
			nr = calls[i].nr;
	if (argc < 4 || nr == ~0U || err < 1 || err > 4095) {
		fprintf(stderr, "usage: refuse unshare|setns|mount ERRNO CMD [ARG...]\n");
		return 2;
	}
	struct sock_filter insns[] = {
#ifdef NATIVE_ARCH
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 0, 3),
#endif
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(insns) / sizeof(insns[0]), .filter = insns };

	/* As root (CAP_SYS_ADMIN): no no_new_privs, so CMD keeps what it may gain. */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
		fprintf(stderr, "refuse: seccomp: %s\n", strerror(errno));
		return 1;
	}
	execvp(argv[3], argv + 3);
	fprintf(stderr, "refuse: %s: %s\n", argv[3], strerror(errno));
	return 127;
}
