// SPDX-License-Identifier: MIT
/* The child half of a sandbox launch, in the order the steps must happen. Runs right
 * after clone3 in the new namespaces; async-signal-safe throughout. */
#define _GNU_SOURCE
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "sysfilter.h"

_Noreturn static void fail(const struct child_plan *p, enum sandbox_stage stage, int err)
{
	struct child_report rep = { .stage = stage, .err = err > 0 ? err : EIO };

	(void)!write(p->sync_fd, &rep, sizeof(rep));
	_exit(125);
}

#define TRY(p, stage, expr)                                                                        \
	do {                                                                                       \
		if ((expr) < 0)                                                                    \
			fail(p, stage, errno);                                                     \
	} while (0)

/* Bind @src over @dst (relative to the new root), then make it read-only. */
static int bind_ro(const char *src, const char *dst, unsigned long extra)
{
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		return -1;
	return mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | extra, NULL);
}

static void setup_root(const struct child_plan *p)
{
	static const char root[] = "root";

	/* Nothing we mount propagates back to the host. */
	TRY(p, STAGE_MOUNTNS, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	if (p->overlay_opts && p->layer) {
		/* The caller's tmpfs, reachable from the host for checkpoints. */
		TRY(p, STAGE_SCRATCH, chdir(p->scratch));
		TRY(p, STAGE_ROOT, mount("overlay", root, "overlay", MS_NODEV, p->overlay_opts));
		TRY(p, STAGE_ROOT, chdir(root));
	} else if (p->overlay_opts) {
		/* A private tmpfs holds the writable layer and the overlay's mount point. */
		TRY(p, STAGE_SCRATCH,
		    mount("sbx", p->scratch, "tmpfs", MS_NOSUID | MS_NODEV, p->scratch_opts));
		TRY(p, STAGE_SCRATCH, chdir(p->scratch));
		TRY(p, STAGE_SCRATCH, mkdir(root, 0755));
		TRY(p, STAGE_SCRATCH, mkdir("upper", 0755));
		TRY(p, STAGE_SCRATCH, mkdir("work", 0755));
		TRY(p, STAGE_ROOT, mount("overlay", root, "overlay", MS_NODEV, p->overlay_opts));
		TRY(p, STAGE_ROOT, chdir(root));
	} else {
		/* The image itself, read-only, straight onto the mount point. */
		TRY(p, STAGE_ROOT, bind_ro(p->rootfs, p->scratch, MS_NOSUID | MS_NODEV));
		TRY(p, STAGE_ROOT, chdir(p->scratch));
	}
	/* From here on paths are relative to the new root. */
	for (const char *const *b = p->binds; b && b[0]; b += 2)
		TRY(p, STAGE_BINDS, bind_ro(b[0], b[1] + 1, MS_NOSUID | MS_NODEV));
}

static void setup_proc(const struct child_plan *p)
{
	static const char *const ro[] = { "proc/sys", "proc/sysrq-trigger", "proc/irq", "proc/bus",
					  "proc/fs" };
	static const char *const hide_files[] = { "proc/kcore",		"proc/keys",
						  "proc/timer_list",	"proc/kmsg",
						  "proc/latency_stats", "proc/sched_debug" };
	static const char *const hide_dirs[] = { "proc/acpi", "proc/scsi", "proc/driver" };
	const unsigned long pflags = MS_NOSUID | MS_NODEV | MS_NOEXEC;

	TRY(p, STAGE_PROC, mount("proc", "proc", "proc", pflags, NULL));
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		if (bind_ro(ro[i], ro[i], pflags) < 0 && errno != ENOENT)
			fail(p, STAGE_MASK, errno);
	for (size_t i = 0; i < sizeof(hide_files) / sizeof(hide_files[0]); i++)
		if (mount("dev/null", hide_files[i], NULL, MS_BIND, NULL) < 0 && errno != ENOENT)
			fail(p, STAGE_MASK, errno);
	/* One empty read-only tmpfs over every hidden directory (one to checkpoint). */
	const char *empty = NULL;
	for (size_t i = 0; i < sizeof(hide_dirs) / sizeof(hide_dirs[0]); i++) {
		int r = empty ? bind_ro(empty, hide_dirs[i], pflags)
			      : mount("sbx", hide_dirs[i], "tmpfs", MS_RDONLY | pflags, "size=0");
		if (r < 0 && errno != ENOENT)
			fail(p, STAGE_MASK, errno);
		if (r == 0 && !empty)
			empty = hide_dirs[i];
	}
}

static void setup_dev(const struct child_plan *p)
{
	static const struct {
		const char *path;
		unsigned major, minor;
	} nodes[] = {
		/* Absolute: the host's node (the old root is still there); +1: ours. */
		{ "/dev/null", 1, 3 },	 { "/dev/zero", 1, 5 },	   { "/dev/full", 1, 7 },
		{ "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
	};
	static const char *const links[][2] = {
		{ "pts/ptmx", "dev/ptmx" },	     { "/proc/self/fd", "dev/fd" },
		{ "/proc/self/fd/0", "dev/stdin" },  { "/proc/self/fd/1", "dev/stdout" },
		{ "/proc/self/fd/2", "dev/stderr" },
	};

	TRY(p, STAGE_DEV,
	    mount("sbx", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755"));
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		const char *ours = nodes[i].path + 1;
		if (!p->user_ns) {
			TRY(p, STAGE_DEV,
			    mknod(ours, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)));
			continue;
		}
		/* A user namespace cannot mknod: bind the host's nodes instead. */
		int fd = open(ours, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
		if (fd < 0)
			fail(p, STAGE_DEV, errno);
		close(fd);
		TRY(p, STAGE_DEV, mount(nodes[i].path, ours, NULL, MS_BIND, NULL));
	}
	/* Granted devices: the host's node bound in, in either mode. */
	for (char **d = p->devices; d && d[0]; d += 2) {
		int fd = open(d[1], O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
		if (fd < 0)
			fail(p, STAGE_DEV, errno);
		close(fd);
		TRY(p, STAGE_DEV, mount(d[0], d[1], NULL, MS_BIND, NULL));
	}
	/* sbx-init itself, read-only: PID 1 runs from inside the sandbox's own tree, so a
	 * checkpoint finds everything it maps under the sandbox's root. */
	int fd = open("dev/sbx-init", O_CREAT | O_WRONLY | O_CLOEXEC, 0555);
	if (fd < 0)
		fail(p, STAGE_DEV, errno);
	close(fd);
	TRY(p, STAGE_DEV, bind_ro(p->init_path, "dev/sbx-init", MS_NOSUID | MS_NODEV));
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		TRY(p, STAGE_DEV, symlink(links[i][0], links[i][1]));
	TRY(p, STAGE_DEV, mkdir("dev/pts", 0755));
	TRY(p, STAGE_DEV, mkdir("dev/shm", 01777));
	TRY(p, STAGE_DEV,
	    mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=0620"));
	TRY(p, STAGE_DEV,
	    mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=64m,mode=1777"));
	TRY(p, STAGE_DEV,
	    mount(NULL, "dev", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
		  "size=64k,mode=0755"));
}

static void pivot(const struct child_plan *p)
{
	/* Stack the old root under the new one, then detach it: the host is gone. */
	TRY(p, STAGE_PIVOT, syscall(SYS_pivot_root, ".", "."));
	TRY(p, STAGE_PIVOT, umount2(".", MNT_DETACH));
	TRY(p, STAGE_PIVOT, chdir("/"));
}

/* sbx-init's control socket: an abstract name in the sandbox's own network namespace,
 * so that nothing of it lives in a host path (and a restored copy gets its own). */
static void ctl_socket(const struct child_plan *p)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		fail(p, STAGE_CONTROL, errno);
	memcpy(addr.sun_path + 1, CTL_NAME, sizeof(CTL_NAME) - 1);
	TRY(p, STAGE_CONTROL,
	    bind(fd, (struct sockaddr *)&addr,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sizeof(CTL_NAME))));
	TRY(p, STAGE_CONTROL, listen(fd, CTL_MAX_CONNS));
	if (fd != CTL_FD) {
		TRY(p, STAGE_CONTROL, dup2(fd, CTL_FD));
		close(fd);
	}
}

static void drop_privileges(const struct child_plan *p)
{
	/* The bounding set first (needs CAP_SETPCAP), then ambient, then the identity,
	 * then the remaining sets: after exec nothing can come back. */
	for (unsigned c = 0; c <= p->cap_last; c++)
		if (cap_drop_bound((cap_value_t)c) < 0 && errno != EINVAL)
			fail(p, STAGE_CAPS, errno);
	TRY(p, STAGE_CAPS, cap_reset_ambient());
	if (p->set_user) {
		if (!p->user_ns)
			TRY(p, STAGE_USER, setgroups(0, NULL));
		TRY(p, STAGE_USER, setresgid(p->gid, p->gid, p->gid));
		TRY(p, STAGE_USER, setresuid(p->uid, p->uid, p->uid));
	}
	TRY(p, STAGE_CAPS, cap_set_proc(p->no_caps));
	TRY(p, STAGE_NNP, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
}

/* The workload starts with default dispositions and nothing blocked, whatever the
 * launcher ignored or blocked. */
static void reset_signals(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	for (int sig = 1; sig < _NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

_Noreturn void child_main(const struct child_plan *p)
{
	static const struct rlimit no_core = { 0, 0 };
	char go;

	reset_signals();
	if (p->die_with_parent)
		TRY(p, STAGE_SYNC, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));
	/* In a user namespace, wait for the id maps, then become its root (an unprivileged
	 * host id) before mounting, so that what we mount is owned by a mapped id. */
	if (p->user_ns) {
		if (read(p->sync_fd, &go, 1) != 1)
			fail(p, STAGE_SYNC, errno ? errno : EPIPE);
		TRY(p, STAGE_USER, setresgid(0, 0, 0));
		TRY(p, STAGE_USER, setresuid(0, 0, 0));
	}

	setup_root(p);
	TRY(p, STAGE_TMP, mount("tmp", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, p->tmp_opts));
	setup_dev(p);
	setup_proc(p);
	pivot(p);
	TRY(p, STAGE_HOSTNAME, sethostname(p->hostname, strlen(p->hostname)));
	TRY(p, STAGE_WORKDIR, chdir(p->workdir));

	for (int i = 0; i < 3; i++)
		if (p->stdio[i] >= 0 && p->stdio[i] != i)
			TRY(p, STAGE_STDIO, dup2(p->stdio[i], i));
	/* No descriptor of the launcher reaches the workload, but for sbx-init's control
	 * socket, log and status files at fds 3-5 (dup2 leaves them open across exec;
	 * sbx-init then guards them). */
	TRY(p, STAGE_STDIO, syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC));
	if (p->control)
		ctl_socket(p);
	/* The parent placed these above STATUS_FD: no dup2 here clobbers another. */
	if (p->log_fd >= 0)
		TRY(p, STAGE_STDIO, dup2(p->log_fd, LOG_FD));
	if (p->status_fd >= 0)
		TRY(p, STAGE_STDIO, dup2(p->status_fd, STATUS_FD));
	TRY(p, STAGE_SESSION, setsid());
	TRY(p, STAGE_RLIMITS, setrlimit(RLIMIT_CORE, &no_core));

	/* Meanwhile the parent has placed us in our v1 cgroups and brought lo up in our
	 * network namespace; nothing of the workload runs before it says so. */
	if (read(p->sync_fd, &go, 1) != 1)
		fail(p, STAGE_SYNC, errno ? errno : EPIPE);
	TRY(p, STAGE_CGROUPNS, unshare(CLONE_NEWCGROUP));

	drop_privileges(p);
	/* Last before exec: from here only allowlisted syscalls run. */
	if (sysfilter_install(p->filter) < 0)
		fail(p, STAGE_SECCOMP, errno);
	execve("/dev/sbx-init", p->argv, p->envp);
	fail(p, STAGE_EXEC, errno);
}
