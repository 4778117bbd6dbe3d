// SPDX-License-Identifier: MIT
/* Seccomp profiles: the built-in default allowlist (assembled here on x86-64, compiled
 * with libseccomp elsewhere and as the reference) and OCI-shaped JSON profiles (compiled
 * with libseccomp), as raw BPF for the child to install. */
#define _GNU_SOURCE
#include "sysfilter.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <jansson.h>
#include <linux/netlink.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "jsonpos.h"
#include "macro.h"
#include "text.h"

/* Address families the kernel may know (AF_MAX of recent kernels, with room). */
#define SBX_AF_MAX 64

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* Allowed: ordinary process, file, socket, memory, timer and signal work. Names
 * this libseccomp does not know are skipped (they are then ENOSYS). */
/* clang-format off: packed tables */
static const char *const default_allow[] = {
	"accept",
	"accept4",
	"access",
	"alarm",
	"arch_prctl",
	"bind",
	"brk",
	"cachestat",
	"capget",
	"capset",
	"chdir",
	"chmod",
	"chown",
	"clock_getres",
	"clock_gettime",
	"clock_nanosleep",
	"close",
	"close_range",
	"connect",
	"copy_file_range",
	"creat",
	"dup",
	"dup2",
	"dup3",
	"epoll_create",
	"epoll_create1",
	"epoll_ctl",
	"epoll_pwait",
	"epoll_pwait2",
	"epoll_wait",
	"eventfd",
	"eventfd2",
	"execve",
	"execveat",
	"exit",
	"exit_group",
	"faccessat",
	"faccessat2",
	"fadvise64",
	"fallocate",
	"fchdir",
	"fchmod",
	"fchmodat",
	"fchmodat2",
	"fchown",
	"fchownat",
	"fcntl",
	"fdatasync",
	"fgetxattr",
	"flistxattr",
	"flock",
	"fork",
	"fremovexattr",
	"fsetxattr",
	"fstat",
	"fstatfs",
	"fsync",
	"ftruncate",
	"futex",
	"futex_requeue",
	"futex_wait",
	"futex_waitv",
	"futex_wake",
	"get_mempolicy",
	"get_robust_list",
	"getcpu",
	"getcwd",
	"getdents",
	"getdents64",
	"getegid",
	"geteuid",
	"getgid",
	"getgroups",
	"getitimer",
	"getpeername",
	"getpgid",
	"getpgrp",
	"getpid",
	"getppid",
	"getpriority",
	"getrandom",
	"getresgid",
	"getresuid",
	"getrlimit",
	"getrusage",
	"getsid",
	"getsockname",
	"getsockopt",
	"gettid",
	"gettimeofday",
	"getuid",
	"getxattr",
	"inotify_add_watch",
	"inotify_init",
	"inotify_init1",
	"inotify_rm_watch",
	"io_cancel",
	"io_destroy",
	"io_getevents",
	"io_pgetevents",
	"io_setup",
	"io_submit",
	"ioctl",
	"ioprio_get",
	"ioprio_set",
	"kill",
	"landlock_add_rule",
	"landlock_create_ruleset",
	"landlock_restrict_self",
	"lchown",
	"lgetxattr",
	"link",
	"linkat",
	"listen",
	"listxattr",
	"llistxattr",
	"lremovexattr",
	"lseek",
	"lsetxattr",
	"lstat",
	"madvise",
	"map_shadow_stack",
	"mbind",
	"membarrier",
	"memfd_create",
	"memfd_secret",
	"mincore",
	"mkdir",
	"mkdirat",
	"mknod",
	"mknodat",
	"mlock",
	"mlock2",
	"mlockall",
	"mmap",
	"mprotect",
	"mq_getsetattr",
	"mq_notify",
	"mq_open",
	"mq_timedreceive",
	"mq_timedsend",
	"mq_unlink",
	"mremap",
	"msgctl",
	"msgget",
	"msgrcv",
	"msgsnd",
	"msync",
	"munlock",
	"munlockall",
	"munmap",
	"nanosleep",
	"newfstatat",
	"open",
	"openat",
	"openat2",
	"pause",
	"pidfd_open",
	"pidfd_send_signal",
	"pipe",
	"pipe2",
	"pkey_alloc",
	"pkey_free",
	"pkey_mprotect",
	"poll",
	"ppoll",
	"prctl",
	"pread64",
	"preadv",
	"preadv2",
	"prlimit64",
	"pselect6",
	"pwrite64",
	"pwritev",
	"pwritev2",
	"read",
	"readahead",
	"readlink",
	"readlinkat",
	"readv",
	"recvfrom",
	"recvmmsg",
	"recvmsg",
	"remap_file_pages",
	"removexattr",
	"rename",
	"renameat",
	"renameat2",
	"restart_syscall",
	"rmdir",
	"rseq",
	"rt_sigaction",
	"rt_sigpending",
	"rt_sigprocmask",
	"rt_sigqueueinfo",
	"rt_sigreturn",
	"rt_sigsuspend",
	"rt_sigtimedwait",
	"rt_tgsigqueueinfo",
	"sched_get_priority_max",
	"sched_get_priority_min",
	"sched_getaffinity",
	"sched_getattr",
	"sched_getparam",
	"sched_getscheduler",
	"sched_rr_get_interval",
	"sched_setaffinity",
	"sched_setattr",
	"sched_setparam",
	"sched_setscheduler",
	"sched_yield",
	"seccomp",
	"select",
	"semctl",
	"semget",
	"semop",
	"semtimedop",
	"sendfile",
	"sendmmsg",
	"sendmsg",
	"sendto",
	"set_mempolicy",
	"set_robust_list",
	"set_tid_address",
	"setfsgid",
	"setfsuid",
	"setgid",
	"setgroups",
	"setitimer",
	"setpgid",
	"setpriority",
	"setregid",
	"setresgid",
	"setresuid",
	"setreuid",
	"setrlimit",
	"setsid",
	"setsockopt",
	"setuid",
	"setxattr",
	"shmat",
	"shmctl",
	"shmdt",
	"shmget",
	"shutdown",
	"sigaltstack",
	"signalfd",
	"signalfd4",
	"splice",
	"stat",
	"statfs",
	"statx",
	"symlink",
	"symlinkat",
	"sync",
	"sync_file_range",
	"syncfs",
	"sysinfo",
	"tee",
	"tgkill",
	"time",
	"timer_create",
	"timer_delete",
	"timer_getoverrun",
	"timer_gettime",
	"timer_settime",
	"timerfd_create",
	"timerfd_gettime",
	"timerfd_settime",
	"times",
	"tkill",
	"truncate",
	"umask",
	"uname",
	"unlink",
	"unlinkat",
	"utime",
	"utimensat",
	"utimes",
	"vfork",
	"wait4",
	"waitid",
	"write",
	"writev",
};

/* Refused with EPERM: escapes, host-wide state, kernel attack surface. */
static const char *const default_eperm[] = {
	"acct",
	"add_key",
	"adjtimex",
	"bpf",
	"chroot",
	"clock_adjtime",
	"clock_settime",
	"create_module",
	"delete_module",
	"fanotify_init",
	"finit_module",
	"fsconfig",
	"fsmount",
	"fsopen",
	"fspick",
	"get_kernel_syms",
	"init_module",
	"io_uring_enter",
	"io_uring_register",
	"io_uring_setup",
	"ioperm",
	"iopl",
	"kcmp",
	"kexec_file_load",
	"kexec_load",
	"keyctl",
	"lookup_dcookie",
	"modify_ldt",
	"mount",
	"mount_setattr",
	"move_mount",
	"move_pages",
	"migrate_pages",
	"name_to_handle_at",
	"nfsservctl",
	"open_by_handle_at",
	"open_tree",
	"perf_event_open",
	"pidfd_getfd",
	"pivot_root",
	"process_madvise",
	"process_mrelease",
	"process_vm_readv",
	"process_vm_writev",
	"ptrace",
	"query_module",
	"quotactl",
	"quotactl_fd",
	"reboot",
	"request_key",
	"setdomainname",
	"sethostname",
	"setns",
	"settimeofday",
	"stime",
	"swapoff",
	"swapon",
	"_sysctl",
	"syslog",
	"umount",
	"umount2",
	"unshare",
	"uselib",
	"userfaultfd",
	"ustat",
	"vhangup",
	"vm86",
	"vm86old",
};
/* clang-format on */

/* The rules on arguments, shared by both compilations of the default (below). clone:
 * refused with any of these namespace flags. */
#define NS_CLONE_FLAGS                                                                             \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |             \
	 CLONE_NEWPID | CLONE_NEWNET)
/* socket: the families a sandbox may open (and AF_NETLINK for NETLINK_ROUTE only). */
static const unsigned sock_families[] = { AF_UNIX, AF_INET, AF_INET6 };
/* personality: only the harmless personas (no READ_IMPLIES_EXEC, ASLR stays on). */
static const uint32_t personas[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };

/* Reads a raw classic-BPF program of @size bytes from @fd. */
static int read_program(int fd, off_t size, struct sysfilter **ret)
{
	if (size <= 0 || size % sizeof(struct sock_filter) ||
	    size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return -E2BIG;
	_cleanup_free_ struct sysfilter *f = calloc(1, sizeof(*f));
	_cleanup_free_ struct sock_filter *insns = malloc((size_t)size);
	if (!f || !insns)
		return -ENOMEM;
	if (pread(fd, insns, (size_t)size, 0) != size)
		return -EIO;
	f->prog.len = (unsigned short)(size / sizeof(struct sock_filter));
	f->prog.filter = TAKE_PTR(insns);
	*ret = TAKE_PTR(f);
	return 0;
}

static int export_filter(scmp_filter_ctx ctx, struct sysfilter **ret)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	fd = memfd_create("sbx-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0)
		return -errno;
	return read_program(fd, st.st_size, ret);
}

static void ctx_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

static scmp_filter_ctx ctx_new(uint32_t default_action)
{
	scmp_filter_ctx ctx = seccomp_init(default_action);

	if (!ctx)
		return NULL;
	/* We set no_new_privs ourselves, in the child, right before installing. A binary
	 * tree keeps a syscall's walk through a long allowlist short. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) < 0) {
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

/* socket and socketpair: only the families a sandbox needs: unix, IPv4 and IPv6, and
 * netlink for routes and addresses (what getaddrinfo and ip read). Every other family
 * (vsock, which reaches the hypervisor and its agents; packet; the kernel's crypto API;
 * bluetooth; the many rarely used protocol families) gets EAFNOSUPPORT, as from a kernel
 * without it. The comparisons are of the whole register: no upper bits slip past. */
static int add_socket_rules(scmp_filter_ctx ctx)
{
	int r;

	for (unsigned long f = 0; f < SBX_AF_MAX; f++) {
		bool sock_ok = false;
		for (size_t i = 0; i < ARRAY_SIZE(sock_families); i++)
			sock_ok |= f == sock_families[i];
		r = 0;
		if (f != AF_NETLINK) /* its socket() rules go by protocol (below) */
			r = seccomp_rule_add(
				ctx, sock_ok ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EAFNOSUPPORT),
				SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, f));
		if (r == 0)
			r = seccomp_rule_add(
				ctx, f == AF_UNIX ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EAFNOSUPPORT),
				SCMP_SYS(socketpair), 1, SCMP_A0(SCMP_CMP_EQ, f));
		if (r < 0)
			return r;
	}
	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
			     SCMP_A0(SCMP_CMP_GE, SBX_AF_MAX));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1,
				     SCMP_A0(SCMP_CMP_GE, SBX_AF_MAX));
	/* Netlink: NETLINK_ROUTE only (not audit, uevents, netfilter, ...). */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2,
				     SCMP_A0(SCMP_CMP_EQ, AF_NETLINK),
				     SCMP_A2(SCMP_CMP_EQ, NETLINK_ROUTE));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPROTONOSUPPORT), SCMP_SYS(socket), 2,
				     SCMP_A0(SCMP_CMP_EQ, AF_NETLINK),
				     SCMP_A2(SCMP_CMP_NE, NETLINK_ROUTE));
	return r;
}

int sysfilter_default_reference(struct sysfilter **ret)
{
	_cleanup_(ctx_releasep) scmp_filter_ctx ctx = ctx_new(SCMP_ACT_ERRNO(ENOSYS));
	int r, nr;

	if (!ctx)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(default_allow); i++) {
		nr = seccomp_syscall_resolve_name(default_allow[i]);
		if (nr == __NR_SCMP_ERROR)
			continue;
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(default_eperm); i++) {
		nr = seccomp_syscall_resolve_name(default_eperm[i]);
		if (nr == __NR_SCMP_ERROR)
			continue;
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (r < 0)
			return r;
	}
	/* clone: allowed without namespace flags, EPERM with any of them. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			     SCMP_A0(SCMP_CMP_MASKED_EQ, NS_CLONE_FLAGS, 0));
	if (r < 0)
		return r;
	for (unsigned bit = 0; bit < 64; bit++) {
		uint64_t flag = 1ULL << bit;
		if (!(NS_CLONE_FLAGS & flag))
			continue;
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
		if (r < 0)
			return r;
	}
	/* clone3 is left to the default action, ENOSYS: it passes its flags in memory,
	 * which seccomp cannot read, and ENOSYS makes libc fall back to clone, whose
	 * flags are checked above. */
	r = add_socket_rules(ctx);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(personas); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1,
				     SCMP_A0(SCMP_CMP_EQ, personas[i]));
		if (r < 0)
			return r;
	}
	return export_filter(ctx, ret);
}

/* ---- the default, assembled ---- */

#if defined(__x86_64__) && !defined(__ILP32__)
/* libseccomp's tree tests each syscall number by itself, and the kernel converts, JITs
 * and emulates (for its verdict cache) every instruction of a program at each launch.
 * The numbers sit in long runs that share a verdict, so a binary search over the runs'
 * starts decides the same in far fewer instructions. The unit tests hold this program
 * to the reference's verdict for every syscall number of every ABI, and for the
 * arguments the rules look at. */

/* What the default does with a syscall number before any argument is read. */
enum nr_verdict {
	NR_ENOSYS, /* the default action */
	NR_ALLOW,
	NR_EPERM,
	NR_CLONE, /* the rules on arguments: their own blocks */
	NR_SOCKET,
	NR_SOCKETPAIR,
	NR_PERSONALITY,
};

/* x86-64's syscall numbers are below this; x32's carry bit 30 and are killed. */
#define NR_SPAN 1024
#define X32_SYSCALL_BIT 0x40000000U
#define SD_ARCH offsetof(struct seccomp_data, arch)
#define SD_NR offsetof(struct seccomp_data, nr)
/* A 64-bit argument's words (little-endian). */
#define SD_ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define SD_ARG_HI(i) (SD_ARG_LO(i) + 4)
#define V_ERRNO(e) (SECCOMP_RET_ERRNO | ((uint32_t)(e)&SECCOMP_RET_DATA))

/* A classic-BPF program written forwards, with labels for jump targets that come later. */
#define ASM_LABELS 256
struct bpf_asm {
	struct sock_filter insn[BPF_MAXINSNS];
	unsigned n;
	int at[ASM_LABELS];	 /* each label's instruction, or -1 until placed */
	int fix_t[BPF_MAXINSNS]; /* per jump: the label of its true target (-1: next) */
	int fix_f[BPF_MAXINSNS]; /* and of its false one (for BPF_JA: its only one) */
	unsigned nlabels;
	bool overflow;
};

static int asm_label(struct bpf_asm *a)
{
	if (a->nlabels == ASM_LABELS) {
		a->overflow = true;
		return 0;
	}
	a->at[a->nlabels] = -1;
	return (int)a->nlabels++;
}

static void asm_place(struct bpf_asm *a, int label)
{
	a->at[label] = (int)a->n;
}

static void asm_emit(struct bpf_asm *a, uint16_t code, uint32_t k, int jt, int jf)
{
	if (a->n == BPF_MAXINSNS) {
		a->overflow = true;
		return;
	}
	a->fix_t[a->n] = jt;
	a->fix_f[a->n] = jf;
	a->insn[a->n++] = (struct sock_filter){ .code = code, .k = k };
}

static void asm_load(struct bpf_asm *a, uint32_t off)
{
	asm_emit(a, BPF_LD | BPF_W | BPF_ABS, off, -1, -1);
}

static void asm_ret(struct bpf_asm *a, uint32_t verdict)
{
	asm_emit(a, BPF_RET | BPF_K, verdict, -1, -1);
}

/* A jump on the accumulator against @k to label @jt or @jf (-1: the next instruction). */
static void asm_jump(struct bpf_asm *a, uint16_t op, uint32_t k, int jt, int jf)
{
	asm_emit(a, BPF_JMP | op | BPF_K, k, jt, jf);
}

/* Resolves every jump; classic BPF jumps only forwards, conditional ones at most 255
 * instructions. */
static int asm_finish(struct bpf_asm *a)
{
	if (a->overflow)
		return -E2BIG;
	for (unsigned i = 0; i < a->n; i++) {
		struct sock_filter *in = &a->insn[i];
		if (BPF_CLASS(in->code) != BPF_JMP)
			continue;
		int t = a->fix_t[i] < 0 ? (int)i + 1 : a->at[a->fix_t[i]];
		int f = a->fix_f[i] < 0 ? (int)i + 1 : a->at[a->fix_f[i]];
		if (t <= (int)i || f <= (int)i)
			return -EINVAL; /* unplaced, or backwards */
		if (BPF_OP(in->code) == BPF_JA) {
			in->k = (uint32_t)(f - (int)i - 1);
			continue;
		}
		if (t - (int)i - 1 > 255 || f - (int)i - 1 > 255)
			return -E2BIG;
		in->jt = (uint8_t)(t - (int)i - 1);
		in->jf = (uint8_t)(f - (int)i - 1);
	}
	return 0;
}

/* The verdict of every x86-64 syscall number: the two lists, then the rules on
 * arguments. Names this libseccomp does not know, or knows on other ABIs only, are
 * left to the default, as the reference leaves them. */
static int nr_verdicts(uint8_t *v)
{
	static const struct {
		const char *const *names;
		size_t n;
		enum nr_verdict verdict;
	} lists[] = {
		{ default_allow, ARRAY_SIZE(default_allow), NR_ALLOW },
		{ default_eperm, ARRAY_SIZE(default_eperm), NR_EPERM },
	};
	static const struct {
		int nr;
		enum nr_verdict verdict;
	} by_args[] = {
		{ __NR_clone, NR_CLONE },
		{ __NR_socket, NR_SOCKET },
		{ __NR_socketpair, NR_SOCKETPAIR },
		{ __NR_personality, NR_PERSONALITY },
	};

	memset(v, NR_ENOSYS, NR_SPAN);
	for (size_t l = 0; l < ARRAY_SIZE(lists); l++)
		for (size_t i = 0; i < lists[l].n; i++) {
			int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64,
								   lists[l].names[i]);
			if (nr < 0) /* unknown, or a pseudo-number: not an x86-64 call */
				continue;
			if (nr >= NR_SPAN - 1 || v[nr] != NR_ENOSYS)
				return -ERANGE; /* out of the table, or listed twice */
			v[nr] = (uint8_t)lists[l].verdict;
		}
	for (size_t i = 0; i < ARRAY_SIZE(by_args); i++) {
		if (v[by_args[i].nr] != NR_ENOSYS)
			return -ERANGE;
		v[by_args[i].nr] = (uint8_t)by_args[i].verdict;
	}
	return 0;
}

/* The search over runs [@lo, @hi) of @starts: a comparison with the middle start, the
 * upper half next, the lower half after it. */
static void emit_runs(struct bpf_asm *a, const unsigned *starts, const uint8_t *verdicts,
		      unsigned lo, unsigned hi, const int *blocks)
{
	static const uint32_t ret_of[] = {
		[NR_ENOSYS] = V_ERRNO(ENOSYS),
		[NR_ALLOW] = SECCOMP_RET_ALLOW,
		[NR_EPERM] = V_ERRNO(EPERM),
	};

	if (hi - lo == 1) {
		uint8_t v = verdicts[lo];
		if (v < ARRAY_SIZE(ret_of))
			asm_ret(a, ret_of[v]);
		else
			asm_emit(a, BPF_JMP | BPF_JA, 0, -1, blocks[v]);
		return;
	}
	unsigned mid = lo + (hi - lo) / 2;
	int lower = asm_label(a);
	asm_jump(a, BPF_JGE, starts[mid], -1, lower);
	emit_runs(a, starts, verdicts, mid, hi, blocks);
	asm_place(a, lower);
	emit_runs(a, starts, verdicts, lo, mid, blocks);
}

/* Argument @i's lower word into the accumulator, where its upper word is 0; to label
 * @otherwise if not. The rules compare whole 64-bit registers, as the reference does: a
 * value with its upper word set matches no listed one. */
static void asm_load_arg(struct bpf_asm *a, unsigned i, int otherwise)
{
	asm_load(a, SD_ARG_HI(i));
	asm_jump(a, BPF_JEQ, 0, -1, otherwise);
	asm_load(a, SD_ARG_LO(i));
}

/* The rules on arguments. */
static void emit_arg_blocks(struct bpf_asm *a, const int *blocks)
{
	int allow = asm_label(a), eperm = asm_label(a), enosys = asm_label(a),
	    eafnosupport = asm_label(a), eprotonosupport = asm_label(a);

	/* clone: EPERM with any namespace flag (all in the lower word). */
	asm_place(a, blocks[NR_CLONE]);
	asm_load(a, SD_ARG_LO(0));
	asm_jump(a, BPF_JSET, NS_CLONE_FLAGS, eperm, allow);

	/* socket: the allowed families; netlink with NETLINK_ROUTE only. */
	asm_place(a, blocks[NR_SOCKET]);
	asm_load_arg(a, 0, eafnosupport);
	for (size_t i = 0; i < ARRAY_SIZE(sock_families); i++)
		asm_jump(a, BPF_JEQ, sock_families[i], allow, -1);
	asm_jump(a, BPF_JEQ, AF_NETLINK, -1, eafnosupport);
	asm_load_arg(a, 2, eprotonosupport);
	asm_jump(a, BPF_JEQ, NETLINK_ROUTE, allow, eprotonosupport);

	/* socketpair: unix only. */
	asm_place(a, blocks[NR_SOCKETPAIR]);
	asm_load_arg(a, 0, eafnosupport);
	asm_jump(a, BPF_JEQ, AF_UNIX, allow, eafnosupport);

	/* personality: the listed personas; anything else is the default's ENOSYS. */
	asm_place(a, blocks[NR_PERSONALITY]);
	asm_load_arg(a, 0, enosys);
	for (size_t i = 0; i < ARRAY_SIZE(personas); i++)
		asm_jump(a, BPF_JEQ, personas[i], allow, -1);

	asm_place(a, enosys);
	asm_ret(a, V_ERRNO(ENOSYS));
	asm_place(a, allow);
	asm_ret(a, SECCOMP_RET_ALLOW);
	asm_place(a, eperm);
	asm_ret(a, V_ERRNO(EPERM));
	asm_place(a, eafnosupport);
	asm_ret(a, V_ERRNO(EAFNOSUPPORT));
	asm_place(a, eprotonosupport);
	asm_ret(a, V_ERRNO(EPROTONOSUPPORT));
}

int sysfilter_new_default(struct sysfilter **ret)
{
	_cleanup_free_ struct bpf_asm *a = calloc(1, sizeof(*a));
	uint8_t v[NR_SPAN];
	unsigned starts[NR_SPAN], n = 0;
	uint8_t run_verdict[NR_SPAN];
	int blocks[NR_PERSONALITY + 1];
	int r;

	if (!a)
		return -ENOMEM;
	r = nr_verdicts(v);
	if (r < 0)
		return r;
	for (unsigned nr = 0; nr < NR_SPAN; nr++)
		if (nr == 0 || v[nr] != v[nr - 1]) {
			starts[n] = nr;
			run_verdict[n++] = v[nr];
		}
	for (int b = NR_CLONE; b <= NR_PERSONALITY; b++)
		blocks[b] = asm_label(a);

	/* Another ABI: killed, as libseccomp's bad-arch action. x32's numbers: killed too,
	 * except -1 (a call a tracer skipped), which falls to the default. */
	int native = asm_label(a), search = asm_label(a);
	asm_load(a, SD_ARCH);
	asm_jump(a, BPF_JEQ, AUDIT_ARCH_X86_64, native, -1);
	asm_ret(a, SECCOMP_RET_KILL_PROCESS);
	asm_place(a, native);
	asm_load(a, SD_NR);
	asm_jump(a, BPF_JGE, X32_SYSCALL_BIT, -1, search);
	asm_jump(a, BPF_JEQ, UINT32_MAX, search, -1);
	asm_ret(a, SECCOMP_RET_KILL_PROCESS);
	asm_place(a, search);
	/* The last run (from the highest listed number up, -1 included) is the default's. */
	emit_runs(a, starts, run_verdict, 0, n, blocks);
	emit_arg_blocks(a, blocks);
	r = asm_finish(a);
	if (r < 0)
		return r;

	_cleanup_free_ struct sysfilter *f = calloc(1, sizeof(*f));
	if (!f || !(f->prog.filter = malloc(a->n * sizeof(struct sock_filter))))
		return -ENOMEM;
	memcpy(f->prog.filter, a->insn, a->n * sizeof(struct sock_filter));
	f->prog.len = (unsigned short)a->n;
	*ret = TAKE_PTR(f);
	return 0;
}
#else
int sysfilter_new_default(struct sysfilter **ret)
{
	return sysfilter_default_reference(ret);
}
#endif

/* ---- JSON profiles ---- */

struct profile_err {
	const char *path, *text;
	size_t len;
	struct jsonpos_seg segs[8]; /* deepest: syscalls[i].args[j].index */
	size_t depth;
	char **ret_error;
};

static int __attribute__((format(printf, 2, 3)))
profile_fail(struct profile_err *e, const char *fmt, ...)
{
	char field[128] = "", msg[256];
	size_t off = 0;
	va_list ap;

	for (size_t i = 0; i < e->depth && off < sizeof(field); i++) {
		int n = e->segs[i].key ? snprintf(field + off, sizeof(field) - off, "%s%s",
						  i ? "." : "", e->segs[i].key)
				       : snprintf(field + off, sizeof(field) - off, "[%zu]",
						  e->segs[i].index);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	unsigned line = jsonpos_line(e->text, e->len, e->segs, e->depth);
	if (asprintf(e->ret_error, "%s:%u: %s: %s", e->path, line ? line : 1,
		     field[0] ? field : "(top level)", msg) < 0)
		*e->ret_error = NULL;
	text_sanitize(*e->ret_error); /* it may quote the profile's own strings */
	return -EINVAL;
}

static void seg_push(struct profile_err *e, const char *key, size_t index)
{
	if (e->depth < ARRAY_SIZE(e->segs))
		e->segs[e->depth++] = (struct jsonpos_seg){ .key = key, .index = index };
}

static int parse_action(struct profile_err *e, json_t *v, json_t *errno_ret, uint32_t *ret)
{
	const char *s = json_string_value(v);
	int64_t err = EPERM;

	if (!s)
		return profile_fail(e, "must be a string such as \"SCMP_ACT_ALLOW\"");
	if (errno_ret) {
		if (!json_is_integer(errno_ret) || json_integer_value(errno_ret) < 1 ||
		    json_integer_value(errno_ret) > 4095)
			return profile_fail(e, "errno must be an integer between 1 and 4095");
		err = json_integer_value(errno_ret);
	}
	if (!strcmp(s, "SCMP_ACT_ALLOW"))
		*ret = SCMP_ACT_ALLOW;
	else if (!strcmp(s, "SCMP_ACT_ERRNO"))
		*ret = SCMP_ACT_ERRNO((uint32_t)err);
	else if (!strcmp(s, "SCMP_ACT_KILL") || !strcmp(s, "SCMP_ACT_KILL_THREAD"))
		*ret = SCMP_ACT_KILL;
	else if (!strcmp(s, "SCMP_ACT_KILL_PROCESS"))
		*ret = SCMP_ACT_KILL_PROCESS;
	else if (!strcmp(s, "SCMP_ACT_TRAP"))
		*ret = SCMP_ACT_TRAP;
	else if (!strcmp(s, "SCMP_ACT_LOG"))
		*ret = SCMP_ACT_LOG;
	else
		return profile_fail(e, "unknown action \"%s\"", s);
	return 0;
}

static int parse_arg(struct profile_err *e, json_t *a, struct scmp_arg_cmp *ret)
{
	static const struct {
		const char *name;
		enum scmp_compare op;
	} ops[] = {
		{ "SCMP_CMP_NE", SCMP_CMP_NE },
		{ "SCMP_CMP_LT", SCMP_CMP_LT },
		{ "SCMP_CMP_LE", SCMP_CMP_LE },
		{ "SCMP_CMP_EQ", SCMP_CMP_EQ },
		{ "SCMP_CMP_GE", SCMP_CMP_GE },
		{ "SCMP_CMP_GT", SCMP_CMP_GT },
		{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
	};
	json_t *index = json_object_get(a, "index"), *value = json_object_get(a, "value");
	json_t *two = json_object_get(a, "valueTwo"), *op = json_object_get(a, "op");

	if (!json_is_object(a))
		return profile_fail(e, "must be an object with index, value and op");
	if (!json_is_integer(index) || json_integer_value(index) < 0 ||
	    json_integer_value(index) > 5) {
		seg_push(e, "index", 0);
		return profile_fail(e, "must be an integer from 0 to 5");
	}
	if (!json_is_integer(value) || (two && !json_is_integer(two))) {
		seg_push(e, value && !json_is_integer(value) ? "value" : "valueTwo", 0);
		return profile_fail(e, "must be an integer");
	}
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		if (!json_is_string(op) || strcmp(json_string_value(op), ops[i].name))
			continue;
		*ret = (struct scmp_arg_cmp){
			.arg = (unsigned)json_integer_value(index),
			.op = ops[i].op,
			.datum_a = (uint64_t)json_integer_value(value),
			/* MASKED_EQ, in the OCI order too: value is the mask. */
			.datum_b = two ? (uint64_t)json_integer_value(two) : 0,
		};
		return 0;
	}
	seg_push(e, "op", 0);
	return profile_fail(e, "unknown comparison (SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ, ...)");
}

static int parse_rule(struct profile_err *e, scmp_filter_ctx ctx, json_t *rule)
{
	json_t *names = json_object_get(rule, "names"), *name = json_object_get(rule, "name");
	json_t *args = json_object_get(rule, "args");
	struct scmp_arg_cmp cmps[6];
	unsigned ncmp = 0;
	uint32_t action;
	size_t depth = e->depth;
	int r;

	if (!json_is_object(rule))
		return profile_fail(e, "must be an object");
	seg_push(e, "action", 0);
	r = parse_action(e, json_object_get(rule, "action"), json_object_get(rule, "errnoRet"),
			 &action);
	if (r < 0)
		return r;
	e->depth = depth;
	if (args && !json_is_null(args)) {
		seg_push(e, "args", 0);
		if (!json_is_array(args) || json_array_size(args) > ARRAY_SIZE(cmps))
			return profile_fail(e, "must be an array of at most 6 comparisons");
		for (size_t i = 0; i < json_array_size(args); i++) {
			seg_push(e, NULL, i);
			r = parse_arg(e, json_array_get(args, i), &cmps[ncmp++]);
			if (r < 0)
				return r;
			e->depth--;
		}
		e->depth = depth;
	}
	if (!names && name) {
		seg_push(e, "name", 0);
		if (!json_is_string(name))
			return profile_fail(e, "must be a string");
	} else {
		seg_push(e, "names", 0);
		if (!json_is_array(names) || json_array_size(names) == 0)
			return profile_fail(e, "must be a non-empty array of syscall names");
	}
	size_t n = names ? json_array_size(names) : 1;
	for (size_t i = 0; i < n; i++) {
		json_t *v = names ? json_array_get(names, i) : name;
		if (names)
			seg_push(e, NULL, i);
		if (!json_is_string(v))
			return profile_fail(e, "must be a string");
		int nr = seccomp_syscall_resolve_name(json_string_value(v));
		if (nr == __NR_SCMP_ERROR)
			return profile_fail(e, "unknown syscall \"%s\"", json_string_value(v));
		r = seccomp_rule_add_array(ctx, action, nr, ncmp, cmps);
		if (r < 0 && r != -EEXIST)
			return profile_fail(e, "rule for \"%s\" rejected: %s", json_string_value(v),
					    strerror(-r));
		if (names)
			e->depth--;
	}
	e->depth = depth;
	return 0;
}

int sysfilter_new_from_json(const char *path, const char *text, size_t len, struct sysfilter **ret,
			    char **ret_error)
{
	struct profile_err e = { .path = path, .text = text, .len = len, .ret_error = ret_error };
	json_error_t jerr;
	uint32_t def;
	int r;

	*ret_error = NULL;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		char near[sizeof(jerr.text) + 4];
		if (asprintf(ret_error, "%s:%d: %s", path, jerr.line,
			     text_printable(jerr.text, near, sizeof(near))) < 0)
			*ret_error = NULL;
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		return profile_fail(&e, "must be a JSON object");
	}
	seg_push(&e, "defaultAction", 0);
	r = parse_action(&e, json_object_get(root, "defaultAction"),
			 json_object_get(root, "defaultErrnoRet"), &def);
	e.depth = 0;
	_cleanup_(ctx_releasep) scmp_filter_ctx ctx = r < 0 ? NULL : ctx_new(def);
	if (r == 0 && !ctx)
		r = -ENOMEM;
	json_t *rules = json_object_get(root, "syscalls");
	if (r == 0 && rules) {
		seg_push(&e, "syscalls", 0);
		if (!json_is_array(rules))
			r = profile_fail(&e, "must be an array of rules");
		for (size_t i = 0; r == 0 && i < json_array_size(rules); i++) {
			seg_push(&e, NULL, i);
			r = parse_rule(&e, ctx, json_array_get(rules, i));
			e.depth = 1;
		}
	}
	json_decref(root);
	if (r < 0)
		return r;
	r = export_filter(ctx, ret);
	if (r < 0 && asprintf(ret_error, "%s: cannot compile profile: %s", path, strerror(-r)) < 0)
		*ret_error = NULL;
	return r;
}

/* ---- the compiled default, cached ---- */

/* Bump when the rules on arguments, or how the default is put together, change. */
#define DEFAULT_RULES_REVISION 3

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* Identifies the default program: its rules and the libseccomp that compiles them. */
static uint64_t default_key(void)
{
	const struct scmp_version *v = seccomp_version();
	uint64_t h = 0xcbf29ce484222325ULL;
	int rev = DEFAULT_RULES_REVISION;

	for (size_t i = 0; i < ARRAY_SIZE(default_allow); i++)
		h = fnv1a(h, default_allow[i], strlen(default_allow[i]) + 1);
	h = fnv1a(h, "|", 1);
	for (size_t i = 0; i < ARRAY_SIZE(default_eperm); i++)
		h = fnv1a(h, default_eperm[i], strlen(default_eperm[i]) + 1);
	h = fnv1a(h, &rev, sizeof(rev));
	if (v)
		h = fnv1a(h, v, sizeof(*v));
	return h;
}

static int cache_load(const char *path, struct sysfilter **ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	/* Only a program root wrote, and nobody else can change, is trusted. */
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022))
		return -EPERM;
	return read_program(fd, st.st_size, ret);
}

static void cache_store(const char *dir, const char *path, const struct sysfilter *f)
{
	char tmp[PATH_MAX];
	size_t n = f->prog.len * sizeof(struct sock_filter);

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid()) >= sizeof(tmp))
		return;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	bool ok = write(fd, f->prog.filter, n) == (ssize_t)n;
	close(fd);
	if (!ok || rename(tmp, path) < 0)
		unlink(tmp);
}

int sysfilter_new_default_cached(const char *cache_dir, struct sysfilter **ret)
{
	char path[PATH_MAX];
	int r;

	if (!cache_dir)
		return sysfilter_new_default(ret);
	if ((size_t)snprintf(path, sizeof(path), "%s/default-%016" PRIx64 ".bpf", cache_dir,
			     default_key()) >= sizeof(path))
		return -ENAMETOOLONG;
	if (cache_load(path, ret) == 0)
		return 0;
	r = sysfilter_new_default(ret);
	if (r == 0)
		cache_store(cache_dir, path, *ret);
	return r;
}

int sysfilter_new_named(const char *name, struct sysfilter **ret, char **ret_error)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	*ret_error = NULL;
	if (!name || !strcmp(name, "default"))
		return sysfilter_new_default_cached(SYSFILTER_CACHE_DIR, ret);
	fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int r = -errno;
		if (asprintf(ret_error, "seccomp profile %s: %s", name, strerror(errno)) < 0)
			*ret_error = NULL;
		return r;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > 1 << 20) {
		if (asprintf(ret_error, "seccomp profile %s: not a regular file of at most 1 MiB",
			     name) < 0)
			*ret_error = NULL;
		return -EINVAL;
	}
	_cleanup_free_ char *text = malloc((size_t)st.st_size + 1);
	if (!text)
		return -ENOMEM;
	ssize_t n = pread(fd, text, (size_t)st.st_size, 0);
	if (n < 0)
		return -errno;
	return sysfilter_new_from_json(name, text, (size_t)n, ret, ret_error);
}

void sysfilter_free(struct sysfilter *f)
{
	if (!f)
		return;
	free(f->prog.filter);
	free(f);
}

int sysfilter_install(const struct sysfilter *f)
{
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &f->prog) < 0)
		return -errno;
	return 0;
}
