// SPDX-License-Identifier: MIT
/* The child half of a sandbox launch, in the order the steps must happen. Runs right
 * after clone3 in the new namespaces; async-signal-safe throughout. */
#define _GNU_SOURCE
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <linux/close_range.h>
#include <linux/mount.h>
#include <linux/openat2.h>
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
#include "privs.h"
#include "nsutil.h"
#include "sysfilter.h"

_Noreturn static void fail(enum sandbox_stage stage, int err)
{
	struct child_report rep = { .stage = stage, .err = err > 0 ? err : EIO };

	(void)!write(CHILD_SYNC_FD, &rep, sizeof(rep));
	_exit(125);
}

#define TRY(stage, expr)                                                                           \
	do {                                                                                       \
		if ((expr) < 0)                                                                    \
			fail(stage, errno);                                                        \
	} while (0)

/* Bind @src over @dst (relative to the new root), then make it read-only. */
static int bind_ro(const char *src, const char *dst, unsigned long extra)
{
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		return -1;
	return mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | extra, NULL);
}

static int attach(int fd, const char *where)
{
	return (int)syscall(SYS_move_mount, fd, "", AT_FDCWD, where, MOVE_MOUNT_F_EMPTY_PATH);
}

/* Every descriptor the child keeps goes to its fixed number; all others are closed, for
 * real, before anything else happens: nothing of the launcher (a cgroup directory, a
 * socket, a host file) can be reached through /proc/self/fd afterwards. */
static void settle_fds(const struct child_plan *p)
{
	/* The channel first, so that failures from here on are reported. */
	if (dup3(p->sync_fd, CHILD_SYNC_FD, O_CLOEXEC) < 0)
		_exit(125);
	for (int i = 0; i < 3; i++)
		if (p->stdio[i] >= 0)
			TRY(STAGE_STDIO, dup2(p->stdio[i], i));
	if (p->log_fd >= 0)
		TRY(STAGE_STDIO, dup2(p->log_fd, LOG_FD));
	else
		(void)close(LOG_FD);
	if (p->status_fd >= 0)
		TRY(STAGE_STDIO, dup2(p->status_fd, STATUS_FD));
	else
		(void)close(STATUS_FD);
	if (p->start_fd >= 0)
		TRY(STAGE_STDIO, dup2(p->start_fd, START_FD));
	else
		(void)close(START_FD);
	if (p->console_fd >= 0)
		TRY(STAGE_STDIO, dup2(p->console_fd, CONSOLE_FD));
	else
		(void)close(CONSOLE_FD);
	(void)close(CTL_FD);
	_Static_assert(CHILD_SYNC_FD < START_FD && START_FD < CONSOLE_FD &&
			       CONSOLE_FD < CHILD_FD_FIRST,
		       "the kept descriptors sit below the parent's copies");
	TRY(STAGE_STDIO, syscall(SYS_close_range, CONSOLE_FD + 1, ~0U, 0));
}

/* The first "go": the id maps are written, and the parent's detached mounts arrive:
 * the root, sbx-init, then the image's binds. */
static void receive_mounts(const struct child_plan *p, int *fds)
{
	union {
		char buf[CMSG_SPACE(CHILD_MAX_MOUNTS * sizeof(int))];
		struct cmsghdr align;
	} ctrl;
	char go;
	struct iovec iov = { .iov_base = &go, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctrl.buf,
			      .msg_controllen = sizeof(ctrl.buf) };
	unsigned want = child_mnt_count(p);

	ssize_t n = recvmsg(CHILD_SYNC_FD, &msg, MSG_CMSG_CLOEXEC);
	if (n != 1)
		fail(STAGE_SYNC, n < 0 ? errno : EPIPE);
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS || (msg.msg_flags & MSG_CTRUNC) ||
	    c->cmsg_len != CMSG_LEN(want * sizeof(int)))
		fail(STAGE_SYNC, EBADMSG);
	memcpy(fds, CMSG_DATA(c), want * sizeof(int));
}

static void setup_root(const struct child_plan *p, const int *fds)
{
	/* Nothing we mount propagates back to the host. */
	TRY(STAGE_MOUNTNS, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	TRY(STAGE_ROOT, attach(fds[CHILD_MNT_ROOT], p->scratch));
	TRY(STAGE_ROOT, chdir(p->scratch));
	/* From here on paths are relative to the new root. */
	for (unsigned i = 0; i < p->nbinds; i++)
		TRY(STAGE_BINDS, attach(fds[child_mnt_binds(p) + i], p->binds[2 * i + 1] + 1));
}

/* The mode of @path, or -1 (errno set). /proc's own files belong to the host's root, to
 * which no sandbox id maps, and no sandbox id is in the host's groups: what only their
 * owner may read or write needs no mask, and a mask is a mount on the launch path. */
static int mode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) < 0 ? -1 : (int)st.st_mode;
}

static void setup_proc(const struct child_plan *p)
{
	/* What a sandbox could otherwise change (the kernel's settings, its interrupts,
	 * buses and file systems), read-only. */
	static const char *const ro[] = { "proc/sys", "proc/sysrq-trigger", "proc/irq", "proc/bus",
					  "proc/fs" };
	/* Host and kernel details no workload needs, hidden where any uid can read them:
	 * the kernel's log, keys, timers, symbols, address map, configuration and command
	 * line, the host's disks and locks. (Files only root can read, such as slabinfo,
	 * vmallocinfo or pagetypeinfo, are closed to the sandbox's root, not the host's.) */
	static const char *const hide_files[] = {
		"proc/kcore",	      "proc/keys",	  "proc/timer_list", "proc/kmsg",
		"proc/latency_stats", "proc/sched_debug", "proc/kallsyms",   "proc/iomem",
		"proc/ioports",	      "proc/cmdline",	  "proc/config.gz",  "proc/locks",
		"proc/partitions",    "proc/diskstats",	  "proc/swaps",
	};
	static const char *const hide_dirs[] = { "proc/acpi",	  "proc/scsi", "proc/driver",
						 "proc/asound",	  "proc/tty",  "proc/dynamic_debug",
						 "proc/pressure", "proc/fb" };
	const unsigned long pflags = MS_NOSUID | MS_NODEV | MS_NOEXEC;

	TRY(STAGE_PROC, mount("proc", "proc", "proc", pflags, NULL));
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
		int mode = mode_of(ro[i]);
		/* A directory may hold what the sandbox's root owns (its network's settings). */
		if ((mode < 0 && errno == ENOENT) ||
		    (mode >= 0 && !S_ISDIR(mode) && !(mode & (S_IWGRP | S_IWOTH))))
			continue;
		if (mode < 0 || bind_ro(ro[i], ro[i], pflags) < 0)
			fail(STAGE_MASK, errno);
	}
	for (size_t i = 0; i < sizeof(hide_files) / sizeof(hide_files[0]); i++) {
		int mode = mode_of(hide_files[i]);
		if ((mode < 0 && errno == ENOENT) || (mode >= 0 && !(mode & (S_IRGRP | S_IROTH))))
			continue;
		if (mode < 0 || mount("dev/null", hide_files[i], NULL, MS_BIND, NULL) < 0)
			fail(STAGE_MASK, errno);
	}
	/* Over every hidden directory, /dev's empty pts directory (devpts is mounted on it
	 * later), read-only (a bind of a read-only mount is read-only): no file system of
	 * its own, so nothing more for a checkpoint to archive. */
	const char *empty = NULL;
	for (size_t i = 0; i < sizeof(hide_dirs) / sizeof(hide_dirs[0]); i++) {
		int r = mount(empty ? empty : "dev/pts", hide_dirs[i], NULL, MS_BIND, NULL);
		if (r < 0 && errno != ENOENT)
			fail(STAGE_MASK, errno);
		if (r == 0 && !empty) {
			empty = hide_dirs[i];
			TRY(STAGE_MASK, mount(NULL, empty, NULL,
					      MS_REMOUNT | MS_BIND | MS_RDONLY | pflags, NULL));
		}
	}
}

/* "/proc/self/fd/N" for @fd in @buf (a mount(2) target: the place @fd names, whatever
 * path led there). */
static const char *fd_path(int fd, char buf[static 32])
{
	char digits[12];
	int n = 0;

	do
		digits[n++] = (char)('0' + fd % 10);
	while ((fd /= 10) && n < (int)sizeof(digits));
	memcpy(buf, "/proc/self/fd/", 14);
	for (int i = 0; i < n; i++)
		buf[14 + i] = digits[n - 1 - i];
	buf[14 + n] = '\0';
	return buf;
}

/* @path (absolute) in the root @root_fd, resolved inside it, its missing directories
 * made (and, with @file, a missing last component made an empty file): an O_PATH
 * descriptor, or -errno. */
static int make_in_root(int root_fd, const char *path, bool file)
{
	char prefix[4096];
	size_t len = strlen(path);
	int fd;

	if (len >= sizeof(prefix))
		return -ENAMETOOLONG;
	fd = nsutil_open_in_root(root_fd, "/", O_PATH | O_DIRECTORY);
	if (fd < 0)
		return fd;
	for (size_t i = 1; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		if (path[i - 1] == '/')
			continue; /* "//" */
		memcpy(prefix, path, i);
		prefix[i] = '\0';
		bool last = i == len;
		int next = nsutil_open_in_root(root_fd, prefix,
					       O_PATH | (last && file ? 0 : O_DIRECTORY));
		if (next == -ENOENT) {
			const char *name = strrchr(prefix, '/') + 1;
			int made;
			if (last && file) {
				made = openat(fd, name,
					      O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
					      0644);
				if (made >= 0)
					close(made);
			} else {
				made = mkdirat(fd, name, 0755);
			}
			if (made < 0 && errno != EEXIST) {
				close(fd);
				return -errno;
			}
			next = nsutil_open_in_root(root_fd, prefix,
						   O_PATH | (last && file ? 0 : O_DIRECTORY));
		}
		close(fd);
		if (next < 0)
			return next;
		fd = next;
	}
	return fd;
}

static unsigned long ms_flags(uint64_t attrs)
{
	return ((attrs & MOUNT_ATTR_RDONLY) ? MS_RDONLY : 0) |
	       ((attrs & MOUNT_ATTR_NOSUID) ? MS_NOSUID : 0) |
	       ((attrs & MOUNT_ATTR_NODEV) ? MS_NODEV : 0) |
	       ((attrs & MOUNT_ATTR_NOEXEC) ? MS_NOEXEC : 0) |
	       ((attrs & MOUNT_ATTR_NOATIME) ? MS_NOATIME : 0) |
	       ((attrs & MOUNT_ATTR_STRICTATIME) ? MS_STRICTATIME : 0);
}

/* An OCI bundle's mounts, in its order, at targets resolved in the new root (the
 * working directory): binds are the parent's clones, the others new file systems of
 * this namespace. */
static void oci_mounts(const struct child_plan *p, const int *fds)
{
	unsigned b = child_mnt_bind_mounts(p);
	char buf[32];

	if (!p->nmounts)
		return;
	int root = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		fail(STAGE_BINDS, errno);
	for (unsigned i = 0; i < p->nmounts; i++) {
		const struct sandbox_mount *m = &p->mounts[i];
		bool bind = sandbox_mount_by_parent(m, p->share_net, p->share_ipc);
		struct stat st;
		if (!strcmp(m->type, "cgroup2"))
			continue; /* cgroup_mounts(), later */
		if (bind && fstat(fds[b], &st) < 0)
			fail(STAGE_BINDS, errno);
		int t = make_in_root(root, m->target, bind && !S_ISDIR(st.st_mode));
		if (t < 0)
			fail(STAGE_BINDS, -t);
		if (bind)
			TRY(STAGE_BINDS,
			    syscall(SYS_move_mount, fds[b++], "", t, "",
				    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH));
		else
			TRY(STAGE_BINDS,
			    mount(m->type, fd_path(t, buf), m->type, ms_flags(m->attrs), m->data));
		close(t);
	}
	close(root);
}

/* An OCI bundle's cgroup2 mounts, once the sandbox has its own cgroup namespace (the
 * root is entered by then). */
static void cgroup_mounts(const struct child_plan *p)
{
	char buf[32];

	for (unsigned i = 0; i < p->nmounts; i++) {
		const struct sandbox_mount *m = &p->mounts[i];
		if (strcmp(m->type, "cgroup2"))
			continue;
		/* The root, not the working directory (the workload's by now). */
		int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		int fd = root < 0 ? -errno
				  : nsutil_open_in_root(root, m->target, O_PATH | O_DIRECTORY);
		if (root >= 0)
			close(root);
		if (fd < 0)
			fail(STAGE_CGROUPNS, -fd);
		TRY(STAGE_CGROUPNS,
		    mount("cgroup2", fd_path(fd, buf), "cgroup2", ms_flags(m->attrs), NULL));
		close(fd);
	}
}

/* An OCI bundle's masked and read-only paths, once the root is entered; those that do
 * not exist are passed over. */
static void oci_masks(const struct child_plan *p)
{
	char buf[32];

	for (const char *const *m = p->masked; m && *m; m++) {
		struct stat st;
		int fd = nsutil_open_in_root(AT_FDCWD, *m, O_PATH);
		if (fd == -ENOENT)
			continue;
		if (fd < 0 || fstat(fd, &st) < 0)
			fail(STAGE_MASK, fd < 0 ? -fd : errno);
		if (S_ISDIR(st.st_mode))
			TRY(STAGE_MASK,
			    mount("sbx", fd_path(fd, buf), "tmpfs",
				  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0"));
		else
			TRY(STAGE_MASK, mount("/dev/null", fd_path(fd, buf), NULL, MS_BIND, NULL));
		close(fd);
	}
	for (const char *const *r = p->readonly; r && *r; r++) {
		struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
		int fd = nsutil_open_in_root(AT_FDCWD, *r, O_PATH);
		if (fd == -ENOENT)
			continue;
		if (fd < 0)
			fail(STAGE_MASK, -fd);
		int tree = (int)syscall(SYS_open_tree, fd, "",
					OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
						AT_RECURSIVE);
		if (tree < 0)
			fail(STAGE_MASK, errno);
		TRY(STAGE_MASK, syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE,
					&a, sizeof(a)));
		TRY(STAGE_MASK, syscall(SYS_move_mount, tree, "", fd, "",
					MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH));
		close(tree);
		close(fd);
	}
}

/* /dev, the shared directory (rootfs_runtime_dev) or a tmpfs: the nodes, sbx-init, the
 * links, the pts and shm directories (their mounts come in setup_dev_mounts, after
 * setup_proc has bound the empty pts directory over /proc's hidden ones). */
static void setup_dev(const struct child_plan *p, const int *fds)
{
	/* The host's nodes, bound in: a user namespace cannot make device nodes. */
	static const char *const nodes[] = { SANDBOX_DEV_NODES };

	if (p->dev_shared) {
		/* Every mount point there already, and read-only. */
		TRY(STAGE_DEV, attach(fds[CHILD_MNT_DEV], "dev"));
	} else {
		TRY(STAGE_DEV,
		    mount("sbx", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755"));
		int dir = open("dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dir < 0)
			fail(STAGE_DEV, errno);
		TRY(STAGE_DEV, rootfs_dev_fill(dir));
		close(dir);
		/* Granted devices: the host's nodes, cloned by the parent. */
		for (unsigned i = 0; i < p->ndevices; i++) {
			int fd = open(p->devices[i], O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
			if (fd < 0)
				fail(STAGE_DEV, errno);
			close(fd);
			TRY(STAGE_DEV, attach(fds[child_mnt_devices(p) + i], p->devices[i]));
		}
	}
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
		TRY(STAGE_DEV, mount(nodes[i], nodes[i] + 1, NULL, MS_BIND, NULL));
	/* sbx-init itself, read-only: PID 1 runs from inside the sandbox's own tree, so a
	 * checkpoint finds everything it maps under the sandbox's root. */
	TRY(STAGE_DEV, attach(fds[CHILD_MNT_INIT], "dev/sbx-init"));
}

/* /dev's own mounts (devpts, shm, a bundle's), then /dev read-only. */
static void setup_dev_mounts(const struct child_plan *p, const int *fds)
{
	TRY(STAGE_DEV, mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
			     "newinstance,ptmxmode=0666,mode=0620"));
	if (p->scratch_layer)
		TRY(STAGE_DEV, attach(fds[CHILD_MNT_SHM - !p->dev_shared], "dev/shm"));
	else
		TRY(STAGE_DEV, mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
				     "size=64m,mode=1777"));
	/* Before /dev is read-only: a bundle's mounts may land in it. */
	oci_mounts(p, fds);
	if (!p->dev_shared)
		TRY(STAGE_DEV,
		    mount(NULL, "dev", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
			  "size=64k,mode=0755"));
}

static void pivot(const struct child_plan *p)
{
	if (p->root_readonly)
		TRY(STAGE_PIVOT, mount(NULL, ".", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
	/* Stack the old root under the new one, then detach it: the host is gone. */
	TRY(STAGE_PIVOT, syscall(SYS_pivot_root, ".", "."));
	TRY(STAGE_PIVOT, umount2(".", MNT_DETACH));
	TRY(STAGE_PIVOT, chdir("/"));
}

/* sbx-init's control socket: an abstract name in the sandbox's own network namespace,
 * so that nothing of it lives in a host path (and a restored copy gets its own). */
static void ctl_socket(const struct child_plan *p)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	/* Non-blocking: sbx-init drains every pending connection, and never waits. */
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		fail(STAGE_CONTROL, errno);
	memcpy(addr.sun_path + 1, CTL_NAME, sizeof(CTL_NAME) - 1);
	TRY(STAGE_CONTROL,
	    bind(fd, (struct sockaddr *)&addr,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sizeof(CTL_NAME))));
	TRY(STAGE_CONTROL, listen(fd, CTL_MAX_CONNS));
	if (fd != CTL_FD) {
		TRY(STAGE_CONTROL, dup2(fd, CTL_FD));
		close(fd);
	}
	/* sbx-init receives it across exec (and marks it close-on-exec itself). */
	TRY(STAGE_CONTROL, fcntl(CTL_FD, F_SETFD, 0));
}

/* By the raw system calls: glibc's wrappers signal each thread of the launcher, which
 * this process (cloned, not forked) still believes it has, and take a lock one of those
 * threads may have held at the clone. */
static int set_ids(const struct child_plan *p, uid_t uid, gid_t gid)
{
	if (p && p->ngroups && syscall(SYS_setgroups, p->ngroups, p->groups) < 0)
		return -1;
	if (syscall(SYS_setresgid, gid, gid, gid) < 0)
		return -1;
	return syscall(SYS_setresuid, uid, uid, uid) < 0 ? -1 : 0;
}

/* An OCI bundle's capabilities instead of none: its bounding set, its identity (keeping
 * what it is given across a change of uid), its sets, then its ambient ones. */
static void keep_privileges(const struct child_plan *p)
{
	/* The namespace's root until then (set_ids(NULL, 0, 0)). */
	TRY(STAGE_CAPS,
	    privs_become(p->set_user ? p->uid : 0, p->set_user ? p->gid : 0, p->groups, p->ngroups,
			 p->caps, p->cap_bounding, p->cap_ambient, p->cap_last));
}

static void drop_privileges(const struct child_plan *p)
{
	if (p->caps) {
		keep_privileges(p);
		TRY(STAGE_NNP, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
		return;
	}
	/* The bounding set first (needs CAP_SETPCAP), then ambient, then the identity,
	 * then the remaining sets: after exec nothing can come back. */
	for (unsigned c = 0; c <= p->cap_last; c++)
		if (cap_drop_bound((cap_value_t)c) < 0 && errno != EINVAL)
			fail(STAGE_CAPS, errno);
	TRY(STAGE_CAPS, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
	if (p->set_user)
		TRY(STAGE_USER, set_ids(p, p->uid, p->gid));
	TRY(STAGE_CAPS, cap_set_proc(p->no_caps));
	TRY(STAGE_NNP, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
}

/* The caller's working directory, resolved inside the new root: "..", absolute symlinks
 * and magic links (/proc/self/fd/N, /proc/1/root) cannot lead out of it. */
static void enter_workdir(const struct child_plan *p)
{
	/* After pivot_root the working directory is the root. */
	int fd = nsutil_open_in_root(AT_FDCWD, p->workdir, O_PATH | O_DIRECTORY);
	if (fd < 0)
		fail(STAGE_WORKDIR, -fd);
	TRY(STAGE_WORKDIR, fchdir(fd));
	close(fd);
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

/* Whether @path (in the new root) is a directory anyone may write and only owners
 * remove from, as /tmp is. */
static bool sticky_dir(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 01777;
}

_Noreturn void child_main(const struct child_plan *p)
{
	static const struct rlimit no_core = { 0, 0 };
	int mounts[CHILD_MAX_MOUNTS];
	char go;

	settle_fds(p);
	/* Its own network namespace, the costliest to make (every network subsystem's
	 * initialiser runs), is made here rather than by clone3: the parent writes the id
	 * maps, detaches the mounts and makes the v1 cgroups meanwhile, and waits for this
	 * word only before it joins us to those and brings lo up. */
	if (!p->share_net) {
		static const char made = CHILD_NETNS_MADE;
		TRY(STAGE_NETNS, unshare(CLONE_NEWNET));
		if (write(CHILD_SYNC_FD, &made, 1) != 1)
			fail(STAGE_SYNC, errno);
	}
	reset_signals();
	/* Wait for the id maps and the mounts, then become the namespace's root (an
	 * unprivileged host id) before mounting, so that what we mount is owned by it. */
	receive_mounts(p, mounts);
	TRY(STAGE_USER, set_ids(NULL, 0, 0));

	setup_root(p, mounts);
	if (!p->scratch_layer || !sticky_dir("tmp"))
		TRY(STAGE_TMP, mount("tmp", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, p->tmp_opts));
	setup_dev(p, mounts);
	setup_proc(p);
	setup_dev_mounts(p, mounts);
	for (unsigned i = 0; i < child_mnt_count(p); i++)
		close(mounts[i]);
	pivot(p);
	oci_masks(p);
	if (!p->share_uts)
		TRY(STAGE_HOSTNAME, sethostname(p->hostname, strlen(p->hostname)));
	enter_workdir(p);
	if (p->control)
		ctl_socket(p);
	TRY(STAGE_SESSION, setsid());
	TRY(STAGE_RLIMITS, setrlimit(RLIMIT_CORE, &no_core));
	/* The usual soft limit on descriptors, whatever the launcher raised its own to; the
	 * workload may raise it to the hard limit. */
	struct rlimit nofile;
	TRY(STAGE_RLIMITS, getrlimit(RLIMIT_NOFILE, &nofile));
	if (nofile.rlim_cur > SANDBOX_NOFILE_SOFT)
		nofile.rlim_cur = SANDBOX_NOFILE_SOFT;
	TRY(STAGE_RLIMITS, setrlimit(RLIMIT_NOFILE, &nofile));
	for (unsigned i = 0; i < p->nrlimits; i++) {
		struct rlimit rl = { p->rlimits[i].soft, p->rlimits[i].hard };
		TRY(STAGE_RLIMITS, setrlimit(p->rlimits[i].resource, &rl));
	}

	/* Meanwhile the parent has placed us in our v1 cgroups and brought lo up in our
	 * network namespace; nothing of the workload runs before it says so. */
	if (read(CHILD_SYNC_FD, &go, 1) != 1)
		fail(STAGE_SYNC, errno ? errno : EPIPE);
	TRY(STAGE_CGROUPNS, unshare(CLONE_NEWCGROUP));
	cgroup_mounts(p);

	drop_privileges(p);
	/* After the last change of credentials, which clears it; a launcher that died
	 * before has closed its end of the channel. */
	if (p->die_with_parent) {
		struct pollfd pfd = { .fd = CHILD_SYNC_FD, .events = POLLIN };
		TRY(STAGE_SYNC, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));
		if (poll(&pfd, 1, 0) != 0)
			_exit(125);
	}
	/* Last before exec: from here only allowlisted syscalls run. */
	if (sysfilter_install(p->filter) < 0)
		fail(STAGE_SECCOMP, errno);
	execve("/dev/sbx-init", p->argv, p->envp);
	fail(STAGE_EXEC, errno);
}
