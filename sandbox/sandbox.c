// SPDX-License-Identifier: MIT
/* The parent half of a sandbox launch: prepare, clone3, place, release, report. */
#define _GNU_SOURCE
#include "sandbox.h"
#include "instance.h"
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "child.h"
#include "privs.h"
#include "ctl.h"
#include "idmap.h"
#include "macro.h"
#include "nsutil.h"
#include "rootfs.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static const char *const stage_names[_STAGE_MAX] = {
	[STAGE_SPEC] = "spec",
	[STAGE_CGROUP] = "create cgroups",
	[STAGE_INIT] = "open sbx-init",
	[STAGE_CONTROL] = "bind control socket",
	[STAGE_CLONE] = "clone3",
	[STAGE_ATTACH] = "join v1 cgroups",
	[STAGE_IDMAP] = "write id maps",
	[STAGE_SYNC] = "sync with launcher",
	[STAGE_CGROUPNS] = "cgroup namespace",
	[STAGE_MOUNTNS] = "private mounts",
	[STAGE_SCRATCH] = "scratch tmpfs",
	[STAGE_ROOT] = "mount image root",
	[STAGE_BINDS] = "bind image paths",
	[STAGE_PROC] = "mount /proc",
	[STAGE_DEV] = "populate /dev",
	[STAGE_TMP] = "mount /tmp",
	[STAGE_MASK] = "mask /proc",
	[STAGE_PIVOT] = "pivot_root",
	[STAGE_HOSTNAME] = "set hostname",
	[STAGE_NET] = "bring up lo",
	[STAGE_WORKDIR] = "enter workdir",
	[STAGE_STDIO] = "set up stdio",
	[STAGE_SESSION] = "setsid",
	[STAGE_RLIMITS] = "set rlimits",
	[STAGE_USER] = "switch user",
	[STAGE_CAPS] = "drop capabilities",
	[STAGE_NNP] = "set no_new_privs",
	[STAGE_SECCOMP] = "install seccomp filter",
	[STAGE_EXEC] = "execute sbx-init",
	[STAGE_NETNS] = "network namespace",
};

const char *sandbox_stage_name(enum sandbox_stage s)
{
	return s > 0 && s < _STAGE_MAX && stage_names[s] ? stage_names[s] : "unknown stage";
}

/* Brings lo up in the network namespace of @pid, from the parent, while the child
 * mounts its root: the two run in parallel. The calling thread returns to its own
 * network namespace before this returns. The child makes that namespace after clone3:
 * until it has (wait_netns), @pid is still in ours, which this refuses to touch. */
static int net_lo_up(pid_t pid)
{
	_cleanup_close_ int self = -1, target = -1;
	struct stat a, b;
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || target < 0 || fstat(self, &a) < 0 || fstat(target, &b) < 0)
		return -errno;
	if (a.st_ino == b.st_ino && a.st_dev == b.st_dev)
		return -EBUSY;
	if (setns(target, CLONE_NEWNET) < 0)
		return -errno;
	r = nsutil_lo_up();
	/* Returning to our own namespace cannot fail for a caller that could leave it. */
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
	return r;
}

/* A copy of @fd at CHILD_FD_FIRST or above, where the child's placement of its
 * descriptors clobbers none; -1 stays -1. */
static int dup_high(int fd)
{
	if (fd < 0)
		return -1;
	int r = fcntl(fd, F_DUPFD_CLOEXEC, CHILD_FD_FIRST);
	return r < 0 ? -errno : r;
}

/* Closes the @n descriptors at @fds. */
static void fds_close(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		closep(&fds[i]);
}

static void plan_free(struct child_plan *p)
{
	for (unsigned i = 0; i < p->ndevices; i++)
		free(p->devices[i]);
	free(p->devices);
	closep(&p->log_fd);
	closep(&p->status_fd);
	closep(&p->start_fd);
	closep(&p->console_fd);
	if (p->caps)
		cap_free(p->caps);
	for (int i = 0; i < 3; i++)
		closep(&p->stdio[i]);
	free((void *)p->argv);
	if (p->no_caps)
		cap_free(p->no_caps);
}

/* The workload's capability sets (an OCI bundle's), for the child to set. */
static int caps_build(const struct sandbox_caps *c, struct child_plan *p)
{
	p->caps = privs_sets(c);
	if (!p->caps)
		return -errno;
	p->cap_bounding = c->bounding;
	p->cap_ambient = c->ambient;
	return 0;
}

/* /tmp and /dev/shm in the layer the caller keeps on the host (spec.h). */
static bool scratch_in_layer(const struct sandbox_spec *spec)
{
	return spec->scratch_in_layer && spec->layer_dir && spec->writable_bytes;
}

static int plan_build(struct child_plan *p, const struct sandbox_spec *spec)
{
	size_t argc = 0, nb = 0;

	*p = (struct child_plan){
		.sync_fd = -1,
		.control = spec->control,
		.log_fd = -1,
		.status_fd = -1,
		.stdio = { -1, -1, -1 },
		.scratch = instance_scratch_dir(),
		.hostname = launch_hostname(spec->hostname, spec->id),
		.workdir = spec->workdir ? spec->workdir : LAUNCH_DEFAULT_WORKDIR,
		.set_user = spec->set_user,
		.uid = spec->uid,
		.gid = spec->gid,
		.die_with_parent = spec->die_with_parent,
		.cap_last = (unsigned)cap_max_bits() - 1,
		.filter = spec->filter,
		.envp = spec->envp,
		.start_fd = -1,
		.console_fd = -1,
		.share_net = spec->share_net,
		.share_ipc = spec->share_ipc,
		.share_uts = spec->share_uts,
		.root_readonly = spec->root_readonly,
		.rlimits = spec->rlimits,
		.nrlimits = spec->nrlimits,
		.groups = spec->groups,
		.ngroups = spec->ngroups,
		.mounts = spec->mounts,
		.nmounts = spec->nmounts,
		.masked = spec->masked,
		.readonly = spec->readonly,
		.dev_shared =
			spec->dev_shared && !(spec->devices && spec->devices[0]) && !spec->nmounts,
		.scratch_layer = scratch_in_layer(spec),
	};
	for (unsigned i = 0; i < spec->nmounts; i++)
		p->nbind_mounts +=
			sandbox_mount_by_parent(&spec->mounts[i], spec->share_net, spec->share_ipc);
	if (spec->caps) {
		int r = caps_build(spec->caps, p);
		if (r < 0)
			return r;
	}
	snprintf(p->tmp_opts, sizeof(p->tmp_opts), "size=%" PRIu64 ",mode=1777", spec->tmp_bytes);
	for (int i = 0; i < 3; i++)
		if ((p->stdio[i] = dup_high(spec->stdio[i])) < -1)
			return p->stdio[i];
	while (spec->binds && spec->binds[2 * nb])
		nb++;
	if (nb > ROOTFS_MAX_BINDS)
		return -E2BIG;
	p->binds = spec->binds;
	p->nbinds = (unsigned)nb;
	p->no_caps = cap_init();
	if (!p->no_caps)
		return -ENOMEM;
	size_t ndev = 0;
	while (spec->devices && spec->devices[ndev])
		ndev++;
	if (ndev / 2 > ROOTFS_MAX_DEVICES)
		return -E2BIG;
	if (ndev) {
		p->devices = calloc(ndev / 2 + 1, sizeof(char *));
		if (!p->devices)
			return -ENOMEM;
		for (size_t i = 0; i + 1 < ndev; i += 2) {
			if (asprintf(&p->devices[i / 2], "dev/%s", spec->devices[i + 1]) < 0) {
				p->devices[i / 2] = NULL;
				return -ENOMEM;
			}
			p->ndevices++;
		}
	}
	while (spec->argv && spec->argv[argc])
		argc++;
	char **argv = calloc(argc + 10, sizeof(char *));
	if (!argv)
		return -ENOMEM;
	size_t a = 0;
	argv[a++] = "sbx-init";
	if (spec->control)
		argv[a++] = "--ctl";
	p->argv = argv;
	if (spec->log_fd > 2 && spec->status_fd > 2) {
		snprintf(p->log_cap, sizeof(p->log_cap), "%" PRIu64, spec->log_cap);
		argv[a++] = "--log";
		argv[a++] = p->log_cap;
		argv[a++] = "--status";
		/* Copies; the caller keeps its own. */
		p->log_fd = dup_high(spec->log_fd);
		p->status_fd = dup_high(spec->status_fd);
		if (p->log_fd < 0 || p->status_fd < 0)
			return p->log_fd < 0 ? p->log_fd : p->status_fd;
	}
	if (spec->start_fd > 2) {
		argv[a++] = "--start";
		if ((p->start_fd = dup_high(spec->start_fd)) < 0)
			return p->start_fd;
	}
	if (spec->console_fd > 2) {
		argv[a++] = "--console";
		snprintf(p->console_size, sizeof(p->console_size), "%ux%u",
			 (unsigned)spec->console_rows, (unsigned)spec->console_cols);
		argv[a++] = p->console_size;
		if ((p->console_fd = dup_high(spec->console_fd)) < 0)
			return p->console_fd;
	}
	argv[a++] = "--";
	memcpy(argv + a, spec->argv, argc * sizeof(char *));
	return 0;
}

static int spec_check(const struct sandbox_spec *spec)
{
	bool has_argv = spec->argv && spec->argv[0];

	if (!spec->id || !spec->rootfs || (!has_argv && !spec->control) || !spec->envp ||
	    !spec->filter || !spec->tmp_bytes)
		return -EINVAL;
	/* The child resolves paths after it has changed directory. */
	if (spec->rootfs[0] != '/' || (spec->workdir && spec->workdir[0] != '/'))
		return -EINVAL;
	if (spec->hostname && !spec_hostname_valid(spec->hostname))
		return -EINVAL;
	if (spec->layer_dir && (spec->layer_dir[0] != '/' || !spec->writable_bytes))
		return -EINVAL;
	if (spec->nmounts > SANDBOX_MAX_MOUNTS || (spec->share_uts && spec->hostname))
		return -EINVAL;
	for (unsigned i = 0; i < spec->nmounts; i++) {
		const struct sandbox_mount *m = &spec->mounts[i];
		if (!m->type || !m->target || m->target[0] != '/' ||
		    (!strcmp(m->type, "bind") && (!m->source || m->source[0] != '/')))
			return -EINVAL;
	}
	for (const char *const *d = spec->devices; d && d[0]; d += 2)
		if (d[0][0] != '/' || !d[1] || !d[1][0] || strchr(d[1], '/') ||
		    !strcmp(d[1], ".") || !strcmp(d[1], ".."))
			return -EINVAL;
	return 0;
}

int *sandbox_take_layers(struct sandbox *sb, unsigned *n)
{
	int *fds = calloc(2 + sb->nlower_fds, sizeof(int));

	*n = 0;
	if (!fds)
		return NULL;
	for (int i = 0; i < 2; i++)
		if (sb->layer_fds[i] >= 0)
			fds[(*n)++] = TAKE_FD(sb->layer_fds[i]);
	for (unsigned i = 0; i < sb->nlower_fds; i++)
		if (sb->lower_fds[i] >= 0)
			fds[(*n)++] = TAKE_FD(sb->lower_fds[i]);
	if (!*n)
		free(TAKE_PTR(fds));
	return fds;
}

static void sandbox_free(struct sandbox *sb)
{
	if (!sb)
		return;
	closep(&sb->pidfd);
	closep(&sb->layer_fds[0]);
	closep(&sb->layer_fds[1]);
	for (unsigned i = 0; i < sb->nlower_fds; i++)
		closep(&sb->lower_fds[i]);
	free(sb->lower_fds);
	free(sb->id);
	free(sb);
}

/* The first "go": the mounts of the sandbox's tree, made through its user namespace. */
static int send_mounts(int sock, pid_t pid, const struct sandbox_spec *spec, const char *init,
		       const char *dev, uid_t base, struct rootfs_mounts *m)
{
	struct rootfs_plan plan = {
		.image = spec->rootfs,
		.lowers = spec->lowers,
		.binds = spec->binds,
		.devices = spec->devices,
		.init = init,
		.dev = dev,
		.writable_bytes = spec->writable_bytes,
		.layer_dir = spec->layer_dir,
		.shm_in_layer = scratch_in_layer(spec),
		.base = base,
	};
	char path[64];
	int fds[CHILD_MAX_MOUNTS], r;

	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	_cleanup_close_ int userns = open(path, O_RDONLY | O_CLOEXEC);
	if (userns < 0)
		return -errno;
	r = rootfs_prepare(&plan, userns, m);
	if (r < 0)
		return r;
	if (spec->on_root && (r = spec->on_root(m->root, spec->userdata)) < 0)
		return r;
	/* In the order the child takes them (child.h: CHILD_MNT_*). */
	unsigned n = CHILD_MNT_DEV;
	fds[CHILD_MNT_ROOT] = m->root;
	fds[CHILD_MNT_INIT] = m->init;
	if (dev)
		fds[n++] = m->dev;
	if (plan.shm_in_layer)
		fds[n++] = m->shm;
	unsigned first = n + m->nbinds + m->ndevices;
	for (unsigned i = 0; i < m->nbinds; i++)
		fds[n++] = m->binds[i];
	for (unsigned i = 0; i < m->ndevices; i++)
		fds[n++] = m->devices[i];
	for (unsigned i = 0; i < spec->nmounts; i++) {
		const struct sandbox_mount *o = &spec->mounts[i];
		if (!sandbox_mount_by_parent(o, spec->share_net, spec->share_ipc))
			continue;
		/* We are in the namespace it joins: a sysfs or mqueue made here is of it. */
		r = strcmp(o->type, "bind")
			    ? rootfs_new_mount(o->type, o->attrs)
			    : rootfs_clone_mount(o->source, o->recursive, o->attrs, userns);
		if (r < 0) {
			fds_close(fds + first, n - first);
			return r;
		}
		fds[n++] = r;
	}
	_Static_assert(CHILD_MAX_MOUNTS <= CTL_MAX_FDS, "one message carries every mount");
	r = ctl_send_fds(sock, &(char){ 1 }, 1, fds, n);
	fds_close(fds + first, n - first);
	return r;
}

/* The directory of scratch mount points. The directories above it are made searchable,
 * not listable (the child, an unprivileged host id, must reach its mount point), once a
 * process, or again if they went. */
static int scratch_dir_make(void)
{
	static _Atomic bool made;
	const char *dir = instance_scratch_dir();

	if (atomic_load(&made) && (mkdir(dir, 0755) == 0 || errno == EEXIST))
		return 0;
	int r = instance_run_dir_make();
	if (r == 0 && mkdir(dir, 0755) < 0 && errno != EEXIST)
		r = -errno;
	if (r == 0)
		atomic_store(&made, true);
	return r;
}

/* The child's next message (a report of its failure, or CHILD_NETNS_MADE): the bytes
 * read, 0 at EOF (it reached exec), or -1 with errno. A child that failed with our "go"
 * unread resets the channel; its report is still queued behind that error. */
static ssize_t recv_report(int fd, int flags, struct child_report *rep)
{
	ssize_t n = recv(fd, rep, sizeof(*rep), flags);
	if (n < 0 && errno == ECONNRESET)
		n = recv(fd, rep, sizeof(*rep), flags);
	return n;
}

/* Whether the message of @n bytes in @rep is the word that the child's network
 * namespace was made. */
static bool netns_made(ssize_t n, const struct child_report *rep)
{
	return n == 1 && *(const char *)rep == CHILD_NETNS_MADE;
}

/* The child's failure report, past the word that its network namespace was made (which
 * it may have sent first); 0 at its exec, which closes the channel. */
static ssize_t read_report(int fd, int flags, struct child_report *rep)
{
	ssize_t n = recv_report(fd, flags, rep);
	return netns_made(n, rep) ? recv_report(fd, flags, rep) : n;
}

/* Until the child says that its network namespace exists; a report instead is its
 * failure (setting up its descriptors, or making the namespace), returned in @rep
 * with 1. */
static int wait_netns(int fd, struct child_report *rep)
{
	ssize_t n = recv_report(fd, 0, rep);
	if (netns_made(n, rep))
		return 0;
	if (n == (ssize_t)sizeof(*rep))
		return 1;
	if (n < 0)
		return -errno;
	return n == 0 ? -EPIPE : -EBADMSG;
}

int sandbox_start(const struct sandbox_spec *spec, const char *init_path, struct sandbox **ret,
		  struct sandbox_error *ret_err)
{
	struct child_plan plan = {
		.sync_fd = -1, .log_fd = -1, .status_fd = -1, .stdio = { -1, -1, -1 }
	};
	_cleanup_close_ int parent_fd = -1, child_fd = -1, own_mntns = -1, own_cwd = -1;
	_cleanup_free_ char *init = NULL;
	const char *dev = NULL;
	struct rootfs_mounts mounts = ROOTFS_MOUNTS_INIT;
	struct child_report rep;
	int sv[2], pidfd = -1, r;
	char go = 1;

#define FAIL(st, e)                                                                                \
	do {                                                                                       \
		ret_err->stage = (st);                                                             \
		ret_err->err = -(e);                                                               \
		r = (e);                                                                           \
		goto out;                                                                          \
	} while (0)
/* A step of ours failed: if the child failed first (and so made it fail), its cause. */
#define FAIL_AFTER_CLONE(st, e)                                                                    \
	do {                                                                                       \
		if (read_report(parent_fd, MSG_DONTWAIT, &rep) == (ssize_t)sizeof(rep))            \
			FAIL((enum sandbox_stage)rep.stage, -rep.err);                             \
		FAIL(st, e);                                                                       \
	} while (0)

	struct sandbox *sb = calloc(1, sizeof(*sb));
	if (!sb)
		return -ENOMEM;
	sb->pidfd = sb->layer_fds[0] = sb->layer_fds[1] = -1;
	r = spec_check(spec);
	if (r < 0)
		FAIL(STAGE_SPEC, r);
	sb->id = strdup(spec->id);
	if (!sb->id)
		FAIL(STAGE_SPEC, -ENOMEM);
	r = plan_build(&plan, spec);
	if (r == 0)
		r = rootfs_runtime_init(init_path, &init);
	if (r == 0 && plan.dev_shared) {
		r = rootfs_runtime_dev();
		dev = ROOTFS_DEV_DIR;
	}
	if (r < 0)
		FAIL(STAGE_INIT, r);
	r = scratch_dir_make();
	if (r < 0)
		FAIL(STAGE_SCRATCH, r);
	/* The v2 cgroup, which clone3 places the child in; the v1 ones of a hybrid host
	 * once it runs. */
	r = cgroup_create_v2_as(spec->id, &spec->limits, spec->cgroup_as, &sb->cg);
	if (r == 0 && spec->on_cgroup)
		r = spec->on_cgroup(sb->cg, spec->userdata);
	if (r < 0)
		FAIL(STAGE_CGROUP, r);
	/* Host ids of its own, held while its cgroup exists. */
	r = idmap_alloc(sb->cg->v2_path, &sb->uid_base);
	if (r < 0)
		FAIL(STAGE_IDMAP, r);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		FAIL(STAGE_CLONE, -errno);
	parent_fd = sv[0];
	child_fd = dup_high(sv[1]);
	close(sv[1]);
	if (child_fd < 0)
		FAIL(STAGE_CLONE, child_fd);
	plan.sync_fd = child_fd;

	/* Supplementary groups would follow the child into its namespace as host groups
	 * (the host's root group, say) that it could never drop there: the launching thread
	 * sheds them (the raw call: this thread only, the one clone3 copies). */
	if (syscall(SYS_setgroups, 0, NULL) < 0)
		FAIL(STAGE_USER, -errno);
	struct clone_args args = {
		.flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_PIDFD |
			 CLONE_INTO_CGROUP | (spec->time_ns ? CLONE_NEWTIME : 0) |
			 (spec->share_uts ? 0 : CLONE_NEWUTS) |
			 (spec->share_ipc ? 0 : CLONE_NEWIPC),
		.pidfd = (uint64_t)(uintptr_t)&pidfd,
		.exit_signal = SIGCHLD,
		.cgroup = (uint64_t)sb->cg->v2_fd,
	};
	/* The template's namespace for the copy clone3 makes, this thread alone (its own
	 * root and cwd), and the launcher's again right after. */
	if (spec->mntns_fd > 2 &&
	    ((own_mntns = open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC)) < 0 ||
	     (own_cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 || unshare(CLONE_FS) < 0 ||
	     setns(spec->mntns_fd, CLONE_NEWNS) < 0))
		FAIL(STAGE_CLONE, -errno);
	pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	int clone_err = errno;
	if (pid == 0)
		child_main(&plan);
	/* Back, with its working directory (setns leaves it at the root): relative paths
	 * mean what they meant. */
	if (own_mntns >= 0 && (setns(own_mntns, CLONE_NEWNS) < 0 || fchdir(own_cwd) < 0))
		abort(); /* this thread would resolve every later path in the template */
	if (pid < 0)
		FAIL(STAGE_CLONE, -clone_err);
	sb->pid = pid;
	sb->pidfd = pidfd;
	closep(&child_fd);

	r = idmap_write_maps(pid, sb->uid_base, spec->ngroups > 0);
	if (r < 0)
		FAIL_AFTER_CLONE(STAGE_IDMAP, r);
	r = send_mounts(parent_fd, pid, spec, init, dev, sb->uid_base, &mounts);
	if (r == -EPIPE || r == -ECONNRESET)
		goto report; /* it failed first */
	if (r < 0)
		FAIL_AFTER_CLONE(STAGE_ROOT, r);
	/* In parallel with the child's mounts, which take longer than a memory cgroup's
	 * mkdir: the v1 cgroups, then lo. */
	r = cgroup_create_v1(sb->cg, spec->id, &spec->limits);
	if (r < 0)
		FAIL_AFTER_CLONE(STAGE_CGROUP, r);
	/* The namespace's kernel memory is charged where the child is when it makes it:
	 * its v2 cgroup (clone3 placed it there), not yet its v1 ones, whatever the timing. */
	if (!spec->share_net) {
		r = wait_netns(parent_fd, &rep);
		if (r == 1)
			FAIL((enum sandbox_stage)rep.stage, -rep.err);
		if (r < 0)
			FAIL(STAGE_SYNC, r);
	}
	r = cgroup_attach_v1(sb->cg, pid);
	if (r < 0)
		FAIL_AFTER_CLONE(STAGE_ATTACH, r);
	r = spec->share_net ? 0 : net_lo_up(pid);
	if (r == 0 && spec->on_netns)
		r = spec->on_netns(pid, spec->userdata);
	if (r < 0)
		FAIL_AFTER_CLONE(STAGE_NET, r);
	/* A child that failed already is gone: the write then fails, but its report is
	 * waiting in the socket. */
	if (write(parent_fd, &go, 1) != 1 && errno != EPIPE && errno != ECONNRESET)
		FAIL_AFTER_CLONE(STAGE_SYNC, -errno);
report:;
	/* EOF: the child reached exec (the socket is close-on-exec). */
	ssize_t n = read_report(parent_fd, 0, &rep);
	if (n == (ssize_t)sizeof(rep))
		FAIL((enum sandbox_stage)rep.stage, -rep.err);
	if (n < 0)
		FAIL(STAGE_SYNC, -errno);
	sb->layer_fds[0] = TAKE_FD(mounts.layers[0]);
	sb->layer_fds[1] = TAKE_FD(mounts.layers[1]);
	if (mounts.nlowers && (sb->lower_fds = calloc(mounts.nlowers, sizeof(int)))) {
		for (unsigned i = 0; i < mounts.nlowers; i++)
			sb->lower_fds[i] = TAKE_FD(mounts.lowers[i]);
		sb->nlower_fds = mounts.nlowers;
		mounts.nlowers = 0;
	}
	r = 0;
out:
#undef FAIL_AFTER_CLONE
	rootfs_mounts_close(&mounts);
	plan_free(&plan);
	if (r < 0) {
		sandbox_destroy(sb);
		return r;
	}
	*ret = sb;
	return 0;
#undef FAIL
}

int sandbox_signal(struct sandbox *sb, int sig)
{
	if (sb->reaped)
		return -ESRCH;
	if (syscall(SYS_pidfd_send_signal, sb->pidfd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

int sandbox_kill(struct sandbox *sb)
{
	/* SIGKILL to PID 1 ends its pid namespace; cgroup.kill also catches stragglers. */
	int r = sandbox_signal(sb, SIGKILL);
	if (sb->cg)
		(void)cgroup_kill(sb->cg);
	return r == -ESRCH ? 0 : r;
}

int sandbox_wait(struct sandbox *sb)
{
	siginfo_t si = { 0 };

	if (sb->reaped)
		return -ECHILD;
	while (waitid((idtype_t)P_PIDFD, (id_t)sb->pidfd, &si, WEXITED) < 0)
		if (errno != EINTR)
			return -errno;
	sb->reaped = true;
	if (si.si_code == CLD_EXITED)
		return si.si_status;
	return 128 + si.si_status;
}

int sandbox_destroy(struct sandbox *sb)
{
	int r = 0;

	if (!sb)
		return 0;
	if (sb->borrowed) { /* its owner's to end */
		cgroup_forget(sb->cg);
		sandbox_free(sb);
		return 0;
	}
	if (sb->pid > 0 && !sb->reaped) {
		(void)sandbox_kill(sb);
		(void)sandbox_wait(sb);
	}
	if (sb->cg)
		r = cgroup_destroy(sb->cg);
	/* Its ids are free once nothing of it runs. */
	if (r == 0 && sb->uid_base)
		idmap_release(sb->uid_base);
	sandbox_free(sb);
	return r;
}

static int proc_stat(pid_t pid, uint64_t *ret, char *ret_state)
{
	char path[64], buf[1024];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return n < 0 ? -errno : -ESRCH;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields resume after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	p++;
	*ret_state = p[0] == ' ' ? p[1] : '?';
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EINVAL;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p + 1, &end, 10);
	if (errno || end == p + 1)
		return -EINVAL;
	*ret = v;
	return 0;
}

int sandbox_start_time(pid_t pid, uint64_t *ret)
{
	char state;
	return proc_stat(pid, ret, &state);
}

/* Whether @pid's v2 cgroup (the "0::" line) is @cg's. */
static bool in_cgroup(pid_t pid, const struct cgroup *cg)
{
	char path[64], buf[4096];
	_cleanup_close_ int fd = -1;
	const char *rel;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !cg->v2_path)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	const char *line = strstr(buf, "0::");
	if (!line || (line != buf && line[-1] != '\n'))
		return false;
	line += 3;
	/* The v2 mount is /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid). */
	rel = cg->v2_path +
	      strlen(cg->mode == CGROUP_HYBRID ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup");
	size_t len = strcspn(line, "\n");
	return strlen(rel) == len && !strncmp(rel, line, len);
}

/* A sandbox record for process @pid in @cg, with a pidfd. Takes @cg; on failure it is
 * removed (its processes killed). */
static int sandbox_for(const char *id, pid_t pid, struct cgroup *cg, bool borrowed,
		       struct sandbox **ret)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));
	int r;

	if (!sb) {
		if (borrowed)
			cgroup_forget(cg);
		else
			cgroup_destroy(cg);
		return -ENOMEM;
	}
	sb->borrowed = borrowed;
	sb->cg = cg;
	sb->pid = pid;
	sb->layer_fds[0] = sb->layer_fds[1] = -1;
	sb->id = strdup(id);
	sb->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (sb->id && sb->pidfd >= 0) {
		sb->uid_base = idmap_base_of(pid);
		*ret = sb;
		return 0;
	}
	r = sb->id ? -errno : -ENOMEM;
	sb->pid = 0;
	sandbox_destroy(sb);
	return r;
}

bool sandbox_running(pid_t pid, uint64_t start_time)
{
	uint64_t now_start;
	char state;

	/* A zombie has ended: only its parent's wait is left. */
	return pid > 0 && proc_stat(pid, &now_start, &state) == 0 && now_start == start_time &&
	       state != 'Z' && state != 'X';
}

static int adopt(const char *id, pid_t pid, uint64_t start_time, struct cgroup *cg, bool borrowed,
		 struct sandbox **ret)
{
	struct sandbox *sb;
	int r = sandbox_for(id, pid, cg, borrowed, &sb);

	if (r < 0)
		return r;
	if (!sandbox_running(pid, start_time) || !in_cgroup(pid, cg))
		r = -ESRCH;
	/* Still alive after the checks: the pidfd's process is the one they read. */
	if (r == 0 && syscall(SYS_pidfd_send_signal, sb->pidfd, 0, NULL, 0) < 0)
		r = -errno;
	if (r < 0)
		goto fail;
	*ret = sb;
	return 0;
fail:
	/* Gone: what is left of it (its cgroups, unless borrowed) goes too. */
	sb->pid = 0;
	sandbox_destroy(sb);
	return r;
}

int sandbox_adopt(const char *id, pid_t pid, uint64_t start_time, struct cgroup *cg,
		  struct sandbox **ret)
{
	return adopt(id, pid, start_time, cg, false, ret);
}

int sandbox_borrow(const char *id, pid_t pid, uint64_t start_time, struct cgroup *cg,
		   struct sandbox **ret)
{
	return adopt(id, pid, start_time, cg, true, ret);
}

int sandbox_attach(const char *id, pid_t pid, struct cgroup *cg, struct sandbox **ret)
{
	struct sandbox *sb;
	int r = sandbox_for(id, pid, cg, false, &sb);

	if (r < 0)
		return r;
	/* Our child cannot be another process yet (we have not reaped it): the cgroup
	 * check says it is the one the caller placed. */
	if (!in_cgroup(pid, cg)) {
		sandbox_destroy(sb); /* kills what is in the cgroup, reaps our child */
		return -ESRCH;
	}
	*ret = sb;
	return 0;
}

int sandbox_mntns_template(void)
{
	int ready[2], r = 0;
	char c, path[64], scratch[256];

	/* The scratch directory, where a child attaches its root, under the template's. */
	if ((size_t)snprintf(scratch, sizeof(scratch), "/tmp%s", instance_scratch_dir()) >=
	    sizeof(scratch))
		return -ENAMETOOLONG;
	if (pipe2(ready, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		close(ready[0]);
		close(ready[1]);
		return r;
	}
	if (pid == 0) {
		/* System calls only (sbxd has threads; one may hold the allocator's lock at the
		 * fork). A private copy, then a root of its own on a small tmpfs (over /tmp,
		 * in the copy) with the host's /proc and /dev bound in (not what is mounted
		 * under them) and the scratch directory made, and the copy of the host's tree
		 * detached: nothing else of it is kept alive. */
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("sbx-template", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "size=16k,mode=0755") < 0 ||
		    mkdir("/tmp/proc", 0555) < 0 || mkdir("/tmp/dev", 0755) < 0 ||
		    mkdir("/tmp/old", 0700) < 0)
			_exit(1);
		for (char *p = scratch + 5; (p = strchr(p, '/')); p++) {
			*p = '\0';
			if (mkdir(scratch, 0755) < 0 && errno != EEXIST)
				_exit(1);
			*p = '/';
		}
		if (mkdir(scratch, 0755) < 0)
			_exit(1);
		if (mount("/proc", "/tmp/proc", NULL, MS_BIND, NULL) < 0 ||
		    mount("/dev", "/tmp/dev", NULL, MS_BIND, NULL) < 0 ||
		    syscall(SYS_pivot_root, "/tmp", "/tmp/old") < 0 || chdir("/") < 0 ||
		    umount2("/old", MNT_DETACH) < 0 || rmdir("/old") < 0)
			_exit(1);
		(void)!write(ready[1], "1", 1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		r = -ECHILD;
	close(ready[0]);
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	int fd = r < 0 ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	if (r == 0 && fd < 0)
		r = -errno;
	kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
	return r < 0 ? r : fd;
}
