// SPDX-License-Identifier: MIT
/* Restore: a launch (launch.c) whose last step is here. The layer comes back from the
 * archive onto a fresh tmpfs, the overlay root is mounted on the host for CRIU's --root,
 * new cgroups are made with the device allowlist attached, and `criu restore` runs as a
 * child placed in them and in a cgroup namespace of its own, with the new sandbox's log
 * and status files in place of the old ones; --restore-sibling makes the restored
 * sbx-init sbxd's child. The meter slot is attached only after CRIU is done (its own
 * syscalls are not the sandbox's), and the CPU CRIU spent in the cgroup is an offset. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/mount.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <unistd.h>
#include "../../sandbox/image.h"
#include "../../sandbox/launch.h"
#include "../../sandbox/macro.h"
#include "../../sandbox/sandbox.h"
#include "../../sandbox/text.h"
#include "../../sandbox/idmap.h"
#include "../../sandbox/rootfs.h"
#include "../sys/criu.h"
#include "../sys/criuimg.h"
#include "internal.h"
#include "../sys/layer.h"
#include "../sys/meter.h"
#include "../sys/store.h"
#include "../sys/usage.h"

/* Restores run at disk speed: 10 s, and 5 s more per 256 MiB of snapshot. */
static int64_t restore_timeout(const struct snap *s)
{
	return (10 + 5 * (int64_t)(s->size_bytes >> 28)) * 1000000000LL;
}

static json_t *restore_stats(const char *out)
{
	json_t *o = json_object();
	int64_t v = criu_stat(out, "Forking time");
	if (v >= 0)
		json_object_set_new(o, "forking_time_us", json_integer(v));
	v = criu_stat(out, "Restore time");
	if (v >= 0)
		json_object_set_new(o, "restore_time_us", json_integer(v));
	return o;
}

/* A restore that failed half-way: what CRIU made of the sandbox goes. With
 * --restore-sibling its tasks' root is our child: reaped here, not left a zombie. */
static void kill_restored(struct cgroup *cg)
{
	char path[4200];
	pid_t ours[64];
	int n = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg->v2_path);
	FILE *f = fopen(path, "re");
	for (int pid; f && n < (int)ARRAY_SIZE(ours) && fscanf(f, "%d", &pid) == 1;) {
		char stat[64], buf[512];
		snprintf(stat, sizeof(stat), "/proc/%d/stat", pid);
		FILE *sf = fopen(stat, "re");
		int ppid = 0;
		if (sf && fgets(buf, sizeof(buf), sf) && strrchr(buf, ')'))
			(void)sscanf(strrchr(buf, ')') + 2, "%*c %d", &ppid);
		if (sf)
			fclose(sf);
		if (ppid == getpid())
			ours[n++] = pid;
	}
	if (f)
		fclose(f);
	(void)cgroup_kill(cg);
	for (int i = 0; i < n; i++)
		(void)waitpid(ours[i], NULL, 0);
	cgroup_destroy(cg);
}

#define RESTORE_MAX_PIPES (3 * 32)

/* One restore, passed between its stages: what it has made so far is what a failure
 * undoes (restore_unwind). */
struct restore_ctx {
	struct launch_io *io;
	const struct snap *s;
	const struct image *img;
	int log_fd, status_fd;
	char **ret_err;
	char layer[256], root[256], log[4200], out[4200], pidfile[4200];
	char shm[256]; /* the layer's shm/, its /dev/shm (criu_shm_in_layer), or "" */
	char userns_img[4200], userns_over[4300];
	struct cgroup *cg;
	struct rootfs_mounts m;
	bool mounted;
	uid_t from, base; /* the snapshot's sandbox's ids, the new one's (0: none yet) */
	int userns;
	char *init;
	/* Its sockets' restore needs lo up early: CRIU's action script (sbx-init) does it.
	 * Otherwise sbxd does, after the restore, and CRIU runs no script. */
	bool lo_early;
	char *argv[256];
	size_t n;
	/* The pipes of its kept processes (exec_carried): the restored ends, given to CRIU
	 * for the old ones; the host's ends go out in io->proc_fds. */
	int fds[2 + RESTORE_MAX_PIPES];
	unsigned nfds;
	/* `criu lazy-pages` (restore_lazy_start), or -1; the pipe on which it says it
	 * listens (its --status-fd), or -1; its log. */
	int lazy_pidfd, lazy_status;
	char lazy_log[4200];
	char images[4200];    /* the snapshot's CRIU images */
	uint64_t pages_bytes; /* of memory in them (restore_check_pages) */
};

/* Says why in *ret_err (one line); returns @r. */
static int restore_fail(struct restore_ctx *c, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int restore_fail(struct restore_ctx *c, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	r = text_verror(c->ret_err, r, fmt, ap);
	va_end(ap);
	return r;
}

/* Its cgroups (the device allowlist attached by the launch's hook) and ids of its own,
 * as every sandbox has: not the snapshot's sandbox's. */
static int restore_cgroup(struct restore_ctx *c, const struct sandbox_spec *spec)
{
	int r = cgroup_create(c->io->id, &spec->limits, &c->cg);
	if (r == 0 && spec->on_cgroup)
		r = spec->on_cgroup(c->cg, spec->userdata);
	if (r < 0)
		return restore_fail(c, r, "cgroups: %s", strerror(-r));
	c->from = (uid_t)json_integer_value(json_object_get(c->s->meta, "uid_base"));
	if (!idmap_valid(c->from))
		return restore_fail(c, -EINVAL,
				    "the snapshot does not say its user namespace's ids");
	r = idmap_alloc(c->cg->v2_path, &c->base);
	if (r < 0)
		return restore_fail(c, r, "host ids for the sandbox: %s", strerror(-r));
	return 0;
}

/* Its /dev/shm, when the snapshot's was its layer's shm/ ("shm": "empty" or "archived",
 * criu_shm_in_layer): made again in c->shm, and filled from its own archive unless it
 * was empty. */
static int restore_shm(struct restore_ctx *c)
{
	const char *how = json_string_value(json_object_get(c->s->meta, "shm"));
	char path[4200], out[4200], dir[256];
	_cleanup_free_ char *err = NULL;

	if (!how)
		return 0;
	(void)layer_path(c->io->id, NULL, dir, sizeof(dir));
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r = fd < 0 ? -errno : rootfs_layer_shm(fd, c->base);
	if (r < 0)
		return restore_fail(c, r, "the layer's shm directory: %s", strerror(-r));
	(void)layer_path(c->io->id, ROOTFS_LAYER_SHM, c->shm, sizeof(c->shm));
	if (!strcmp(how, "empty"))
		return 0;
	snprintf(path, sizeof(path), "%s/shm.tar", c->s->dir);
	snprintf(out, sizeof(out), "%s/restore-tar.log", c->io->dir);
	r = layer_tar(false, path, c->shm, out, c->cg, &err);
	(void)unlink(out);
	if (r < 0)
		return restore_fail(c, r, "restoring /dev/shm: %s", err ? err : strerror(-r));
	r = layer_shift_owners(c->shm, c->from, c->base);
	if (r < 0)
		return restore_fail(c, r, "the owners in /dev/shm: %s", strerror(-r));
	return 0;
}

/* The layer, back onto its fresh tmpfs, owned by the new ids. */
static int restore_layer(struct restore_ctx *c)
{
	char path[4200], out[4200];
	_cleanup_free_ char *err = NULL;

	snprintf(path, sizeof(path), "%s/layer.tar", c->s->dir);
	snprintf(out, sizeof(out), "%s/restore-tar.log", c->io->dir);
	int r = layer_tar(false, path, c->layer, out, c->cg, &err);
	(void)unlink(out);
	if (r < 0)
		return restore_fail(c, r, "restoring the writable layer: %s",
				    err ? err : strerror(-r));
	r = layer_shift_owners(c->layer, c->from, c->base);
	if (r < 0)
		return restore_fail(c, r, "the writable layer's owners: %s", strerror(-r));
	return restore_shm(c);
}

/* The root, as a launch makes it (the image idmapped to the new ids), where CRIU's
 * --root wants it. */
static int restore_root(struct restore_ctx *c)
{
	char path[4200];

	c->userns = idmap_userns_fd(c->base);
	if (c->userns < 0)
		return restore_fail(c, c->userns, "a user namespace for the sandbox's ids: %s",
				    strerror(-c->userns));
	(void)layer_path(c->io->id, NULL, path, sizeof(path));
	struct rootfs_plan plan = {
		.image = c->img->rootfs,
		.lowers = (const char *const *)c->img->lowers,
		.writable_bytes = 1,
		.layer_dir = path,
		.base = c->base,
	};
	int r = rootfs_prepare(&plan, c->userns, &c->m);
	if (r < 0)
		return restore_fail(c, r, "the root file system: %s", strerror(-r));
	if (syscall(SYS_move_mount, c->m.root, "", AT_FDCWD, c->root, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return restore_fail(c, -errno, "mounting the root: %s", strerror(errno));
	c->mounted = true;
	return 0;
}

/* The log so far, so that it reads on; its status file starts empty. Both are the
 * sandbox's root's: CRIU opens them again from inside its user namespace. And the
 * snapshot's user namespace, rewritten for the new ids. */
static int restore_files(struct restore_ctx *c)
{
	char path[4200], name[64];

	snprintf(path, sizeof(path), "%s/log", c->s->dir);
	int r = rootfs_copy(path, c->log_fd);
	if (r < 0)
		return restore_fail(c, r, "snapshot log: %s", strerror(-r));
	if (fchown(c->log_fd, c->base, c->base) < 0 || fchown(c->status_fd, c->base, c->base) < 0)
		return restore_fail(c, -errno, "the sandbox's log: %s", strerror(errno));
	r = criu_userns_image(c->images, c->from, c->base, c->userns_img, name, sizeof(name));
	if (r < 0)
		return restore_fail(c, r, "the snapshot's user namespace: %s", strerror(-r));
	snprintf(c->userns_over, sizeof(c->userns_over), "%s/%s", c->images, name);
	return 0;
}

/* The mounts that CRIU finds outside: the image's bind mounts, by target, from today's
 * manifest, and the host's device nodes. */
static int restore_argv_externals(struct restore_ctx *c)
{
	json_t *bt, *dv;
	size_t bi, di;

	json_array_foreach (json_object_get(c->s->meta, "binds"), bi, bt) {
		const char *src = NULL;
		for (char **p = c->img->binds; p && p[0]; p += 2)
			if (!strcmp(p[1], json_string_value(bt)))
				src = p[0];
		if (!src)
			return restore_fail(c, -ENOENT, "image %s no longer binds %s", c->img->name,
					    json_string_value(bt));
		strvcat(c->argv, &c->n, ARRAY_SIZE(c->argv), "--external=mnt[b%zu]:%s", bi, src);
	}
	/* The layer's shm/, where CRIU's unprivileged side reaches it (criu_run.binds): the
	 * layers' directory is root's alone. */
	if (c->shm[0])
		strvcat(c->argv, &c->n, ARRAY_SIZE(c->argv),
			"--external=mnt[shm]:" ROOTFS_RUNTIME_EMPTY);
	json_array_foreach (json_object_get(c->s->meta, "devs"), di, dv) {
		const char *src = json_string_value(json_array_get(dv, 1));
		int r;
		if (!criu_dev_node_known(src))
			return restore_fail(c, -EINVAL,
					    "the snapshot's device binds are unreadable");
		/* The shared /dev, made again if it went (a reboot since the checkpoint). */
		if (criu_dev_shared(src) && (r = rootfs_runtime_dev()) < 0)
			return restore_fail(c, r, "the shared /dev: %s", strerror(-r));
		strvcat(c->argv, &c->n, ARRAY_SIZE(c->argv), "--external=mnt[d%zu]:%s", di, src);
	}
	return 0;
}

/* New pipes for those of its kept processes: CRIU gives their restored ends (at fd
 * 12 and on) in place of the old pipes; the host's ends go out in the launch's io. */
static int restore_argv_pipes(struct restore_ctx *c)
{
	static const char *const keys[3] = { "in", "out", "err" };
	json_t *p;
	size_t i;

	c->fds[0] = c->log_fd;
	c->fds[1] = c->status_fd;
	c->nfds = 2;
	json_array_foreach (json_object_get(c->s->meta, "procs"), i, p) {
		for (int w = 0; w < 3; w++) {
			const char *key = json_string_value(json_object_get(p, keys[w]));
			int pp[2];
			if (!key)
				continue;
			if (strncmp(key, "pipe:[", 6) ||
			    strspn(key + 6, "0123456789") + 7 != strlen(key) ||
			    key[strlen(key) - 1] != ']')
				return restore_fail(c, -EINVAL,
						    "the snapshot's processes are unreadable");
			if (c->nfds == ARRAY_SIZE(c->fds))
				return restore_fail(c, -E2BIG,
						    "the snapshot carries too many processes");
			if (pipe2(pp, O_CLOEXEC) < 0)
				return restore_fail(c, -errno, "pipe: %s", strerror(errno));
			/* stdin: the process reads; stdout and stderr: it writes */
			c->fds[c->nfds] = pp[w == 0 ? 0 : 1];
			c->io->proc_fds[c->io->nproc_fds++] = pp[w == 0 ? 1 : 0];
			strvcat(c->argv, &c->n, ARRAY_SIZE(c->argv), "--inherit-fd=fd[%u]:%s",
				10 + c->nfds, key);
			c->nfds++;
		}
	}
	return 0;
}

/* criu restore's command line, in c->argv (cleared again if it fails). */
static int restore_argv(struct restore_ctx *c)
{
	char **argv = c->argv;
	size_t *n = &c->n, max = ARRAY_SIZE(c->argv);
	json_t *keys = json_object_get(c->s->meta, "keys");
	int r;

	snprintf(c->log, sizeof(c->log), "%s/criu-restore.log", c->io->dir);
	snprintf(c->out, sizeof(c->out), "%s/criu-restore.out", c->io->dir);
	snprintf(c->pidfile, sizeof(c->pidfile), "%s/criu.pid", c->io->dir);
	(void)unlink(c->pidfile);
	argv[(*n)++] = strdup("restore");
	strvcat(argv, n, max, "--images-dir=%s", c->images);
	strvcat(argv, n, max, "--log-file=%s", c->log);
	strvcat(argv, n, max, "--pidfile=%s", c->pidfile);
	strvcat(argv, n, max, "--root=%s", c->root);
	if (c->lazy_pidfd >= 0) {
		strvcat(argv, n, max, "--lazy-pages");
		strvcat(argv, n, max, "--work-dir=%s", c->io->dir);
	}
	/* Stopped (criu_argv_common): sbx-init executes itself again (launch_fn). A sandbox
	 * of net "internet" gets its link pair in its new network namespace once restored
	 * (its connections to the outside were reset at the checkpoint). */
	criu_argv_common(argv, n, max, true);
	/* CRIU's first mount engine: a tenth of an idle restore faster than its second,
	 * whose work (sharing groups across namespaces, mounts made over others after the
	 * fact) a sandbox of sbxd's never needs. Its mounts are the launch's, all private:
	 * its filter refuses every mount call. test-ckpt:mounts_restored compares the
	 * restored table with the original's. */
	strvcat(argv, n, max, "--mntns-compat-mode");
	/* Its resolv.conf names its new gateway. */
	char resolv[256];
	if (json_is_true(json_object_get(c->s->meta, "resolv")))
		strvcat(argv, n, max, "--external=mnt[resolv]:%s",
			c->io->net_idx ? net_resolv_conf(c->io->net_idx, resolv) : "/dev/null");
	c->lo_early = criu_files_need_net(c->images);
	if (c->lo_early)
		strvcat(argv, n, max, "--action-script=%s", D.opt.init_path);
	strvcat(argv, n, max, "--inherit-fd=fd[10]:%s",
		json_string_value(json_object_get(keys, "log")));
	strvcat(argv, n, max, "--inherit-fd=fd[11]:%s",
		json_string_value(json_object_get(keys, "status")));
	/* Where sbx-init's copy is now (made again if another build's launch removed it). */
	r = rootfs_runtime_init(D.opt.init_path, &c->init);
	if (r < 0)
		r = restore_fail(c, r, "sbx-init's copy: %s", strerror(-r));
	else
		strvcat(argv, n, max, "--external=mnt[init]:%s", c->init);
	if (r == 0)
		r = restore_argv_externals(c);
	if (r == 0)
		r = restore_argv_pipes(c);
	argv[*n] = NULL;
	for (size_t i = 0; r == 0 && i < *n; i++)
		if (!argv[i])
			r = restore_fail(c, -ENOMEM, "out of memory");
	if (r < 0)
		strv_clear(argv, *n);
	return r;
}

/* Every pages image as long as its pagemap says: a short one (a damaged snapshot) would
 * have CRIU fail, or spin until its deadline. The bytes of pages go to c->pages_bytes. */
static int restore_check_pages(struct restore_ctx *c)
{
	char why[256] = "";
	int r = criu_pages_check(c->images, &c->pages_bytes, why, sizeof(why));
	if (r == -EBADMSG)
		return restore_fail(c, -EINVAL, "cannot restore: the snapshot is damaged (%s)",
				    why);
	return r < 0 ? restore_fail(c, r, "cannot restore: its images: %s", strerror(-r)) : 0;
}

/* A snapshot with at least this much memory gets it back through userfaultfd: `criu
 * lazy-pages` copies it into the stopped tree (UFFDIO_COPY, a run of pages at a time)
 * while CRIU's restorer fills the rest, and the restore is done when it has copied all of
 * it. Where a page fault is dear (a guest with shadow paging: about 10 us), a restore of
 * 256 MiB takes about a fifth of the time it takes the restorer to read the pages in, one
 * fault at a time. Below it, the second CRIU costs more than it saves. */
#define RESTORE_LAZY_MIN (16ULL << 20)

/* Whether this host lets the restored tasks, inside their user namespace, open the
 * userfaultfd that `criu restore --lazy-pages` makes in each: vm.unprivileged_userfaultfd,
 * the operator's to set (sandboxes never can: seccomp refuses it). */
static bool lazy_allowed(void)
{
	char v = 0;
	_cleanup_close_ int fd =
		open("/proc/sys/vm/unprivileged_userfaultfd", O_RDONLY | O_CLOEXEC);
	return fd >= 0 && read(fd, &v, 1) == 1 && v == '1';
}

static struct criu_run lazy_run(const struct restore_ctx *c, const char *const *argv)
{
	return (struct criu_run){ .bin = D.criu,
				  .run_dir = criu_cache_dir,
				  .argv = argv,
				  .die_with_parent = true,
				  .timeout_ns = restore_timeout(c->s) };
}

/* The daemon killed and reaped, its pipe and socket gone; *ret_err from its log, if
 * asked. */
static int restore_lazy_end(struct restore_ctx *c, bool kill, char **ret_err)
{
	_cleanup_free_ char *err = NULL;
	char sock[4300];
	struct criu_run run = lazy_run(c, NULL);
	if (kill)
		(void)syscall(SYS_pidfd_send_signal, c->lazy_pidfd, SIGKILL, NULL, 0);
	int r = criu_wait(&run, TAKE_FD(c->lazy_pidfd), c->lazy_log, &err);
	closep(&c->lazy_status);
	snprintf(sock, sizeof(sock), "%s/lazy-pages.socket", c->io->dir);
	(void)unlink(sock);
	if (ret_err)
		*ret_err = TAKE_PTR(err);
	return r;
}

/* For a snapshot of RESTORE_LAZY_MIN or more: `criu lazy-pages` started before the
 * restore's preparations, so that its start-up runs beside them. Its socket is in the
 * restore's own new directory (its work directory; the snapshot may be restored by
 * several at once). */
static int restore_lazy_start(struct restore_ctx *c)
{
	if (c->pages_bytes < RESTORE_LAZY_MIN || !lazy_allowed())
		return 0;
	snprintf(c->lazy_log, sizeof(c->lazy_log), "%s/criu-lazy.log", c->io->dir);
	_cleanup_free_ char *a_img = NULL, *a_work = NULL, *a_log = NULL;
	if (asprintf(&a_img, "--images-dir=%s", c->images) < 0 ||
	    asprintf(&a_work, "--work-dir=%s", c->io->dir) < 0 ||
	    asprintf(&a_log, "--log-file=%s", c->lazy_log) < 0)
		return restore_fail(c, -ENOMEM, "out of memory");
	const char *argv[] = { "lazy-pages", a_img, a_work, a_log, "-v2", "--status-fd=10", NULL };
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return restore_fail(c, -errno, "criu lazy-pages: %s", strerror(errno));
	struct criu_run run = lazy_run(c, argv);
	run.fds = &pipefd[1];
	run.nfds = 1;
	int r = criu_start(&run, &c->lazy_pidfd);
	close(pipefd[1]);
	if (r < 0) {
		close(pipefd[0]);
		return restore_fail(c, r, "criu lazy-pages: %s", strerror(-r));
	}
	c->lazy_status = pipefd[0];
	return 0;
}

/* Before criu restore connects: the daemon listening (its status byte), or failed. */
static int restore_lazy_ready(struct restore_ctx *c)
{
	if (c->lazy_pidfd < 0)
		return 0;
	struct pollfd p[2] = { { .fd = c->lazy_status, .events = POLLIN },
			       { .fd = c->lazy_pidfd, .events = POLLIN } };
	int n;
	while ((n = poll(p, 2, 10000)) < 0 && errno == EINTR)
		;
	char byte;
	if (n > 0 && (p[0].revents & POLLIN) && read(c->lazy_status, &byte, 1) == 1)
		return 0;
	_cleanup_free_ char *err = NULL;
	int r = restore_lazy_end(c, true, &err);
	if (n == 0)
		return restore_fail(c, -ETIMEDOUT, "criu lazy-pages did not listen within 10 s");
	return restore_fail(c, r < 0 ? r : -EPROTO, "criu lazy-pages: %s",
			    err ? err : "it ended before it listened");
}

/* After criu restore: every page copied, the daemon ended well. */
static int restore_lazy_finish(struct restore_ctx *c)
{
	if (c->lazy_pidfd < 0)
		return 0;
	_cleanup_free_ char *err = NULL;
	int64_t t0 = mono_ns();
	int r = restore_lazy_end(c, false, &err);
	c->io->restore_ms += (double)(mono_ns() - t0) / 1e6;
	return r < 0 ? restore_fail(c, r, "criu lazy-pages: %s", err ? err : strerror(-r)) : 0;
}

/* criu restore, run in the new cgroups: the restored tree's root, stopped, in *ret_pid. */
static int restore_criu(struct restore_ctx *c, pid_t *ret_pid)
{
	_cleanup_free_ char *err = NULL;
	/* The addresses its sockets were bound to: sbx-init (CRIU's action script) lends them
	 * to lo for their restore. Only dotted addresses and commas pass. */
	const char *old = json_string_value(json_object_get(c->s->meta, "addresses"));
	char env[NET_RESTORE_ADDRS * 16 + 32] = "";
	if (old && strspn(old, "0123456789.,") == strlen(old) && strlen(old) < sizeof(env) - 32)
		snprintf(env, sizeof(env), "SBX_RESTORE_ADDRESS=%s", old);
	int64_t t0 = mono_ns();
	int r = criu_exec(&(struct criu_run){ .bin = D.criu,
					      .run_dir = criu_cache_dir,
					      .argv = (const char *const *)c->argv,
					      .fds = c->fds,
					      .nfds = c->nfds,
					      .out_path = c->out,
					      .cg = c->cg,
					      .binds = { { c->userns_img, c->userns_over },
							 { c->shm[0] ? c->shm : NULL,
							   ROOTFS_RUNTIME_EMPTY } },
					      .env_add = env[0] ? env : NULL,
					      .timeout_ns = restore_timeout(c->s) },
			  c->log, &err);
	strv_clear(c->argv, c->n);
	(void)unlink(c->userns_img);
	if (r < 0)
		return restore_fail(c, r, "criu restore: %s", err ? err : strerror(-r));
	c->io->restore_ms = (double)(mono_ns() - t0) / 1e6;
	c->io->restore_stats = restore_stats(c->out);

	FILE *pf = fopen(c->pidfile, "re");
	int pid = 0;
	if (!pf || fscanf(pf, "%d", &pid) != 1 || pid <= 1) {
		if (pf)
			fclose(pf);
		return restore_fail(c, -EPROTO, "criu restore left no pid");
	}
	fclose(pf);
	*ret_pid = pid;
	return 0;
}

/* The restored tree becomes the sandbox in *ret, its cgroups with it, and is metered
 * from here: CRIU's own syscalls in the cgroup were not the sandbox's, and the CPU it
 * spent there is an offset. */
static int restore_attach(struct restore_ctx *c, pid_t pid, struct sandbox **ret)
{
	struct launch_io *io = c->io;

	(void)unlink(c->pidfile);
	/* The restored tree holds its own copy of the root: the host's goes. */
	(void)umount2(c->root, MNT_DETACH);
	c->mounted = false;
	int r = sandbox_attach(io->id, pid, TAKE_PTR(c->cg), ret);
	if (r < 0) {
		(void)waitpid(pid, NULL, WNOHANG); /* our child, if it died first */
		return restore_fail(c, r, "the restored sandbox is gone: %s", strerror(-r));
	}
	if (io->slot >= 0 && io->cg_id) {
		r = meter_attach(D.meter, io->cg_id, (uint32_t)io->slot, true);
		if (r < 0) {
			sandbox_destroy(TAKE_PTR(*ret));
			return restore_fail(c, r, "meter: %s", strerror(-r));
		}
	}
	uint64_t usec = 0;
	if (usage_cpu_usec((*ret)->cg, &usec) == 0)
		io->cpu_offset_ns = usec * 1000;
	return 0;
}

/* A failed restore: what it made goes, and the ids it took. */
static void restore_unwind(struct restore_ctx *c)
{
	if (c->lazy_pidfd >= 0)
		(void)restore_lazy_end(c, true, NULL);
	for (unsigned i = 0; i < c->io->nproc_fds; i++)
		close(c->io->proc_fds[i]);
	c->io->nproc_fds = 0;
	rootfs_mounts_close(&c->m);
	(void)unlink(c->userns_img);
	if (c->cg)
		kill_restored(c->cg);
	if (c->base)
		idmap_release(c->base);
	if (c->mounted)
		(void)umount2(c->root, MNT_DETACH);
}

int snap_restore(struct launch_io *io, const struct sandbox_spec *spec, const struct image *img,
		 int log_fd, int status_fd, struct sandbox **ret, char **ret_err)
{
	struct restore_ctx c = { .io = io,
				 .s = io->from,
				 .img = img,
				 .log_fd = log_fd,
				 .status_fd = status_fd,
				 .ret_err = ret_err,
				 .m = ROOTFS_MOUNTS_INIT,
				 .userns = -1,
				 .lazy_pidfd = -1,
				 .lazy_status = -1 };
	pid_t pid = 0;
	int r;

	*ret_err = NULL;
	(void)layer_path(io->id, "upper", c.layer, sizeof(c.layer));
	(void)layer_path(io->id, "root", c.root, sizeof(c.root));
	snprintf(c.userns_img, sizeof(c.userns_img), "%s/userns.img", io->dir);
	snprintf(c.images, sizeof(c.images), "%s/images", c.s->dir);
	r = restore_check_pages(&c);
	if (r == 0)
		r = restore_lazy_start(&c);
	if (r == 0)
		r = restore_cgroup(&c, spec);
	if (r == 0)
		r = restore_layer(&c);
	if (r == 0)
		r = restore_root(&c);
	if (r == 0)
		r = restore_files(&c);
	if (r == 0)
		r = restore_lazy_ready(&c);
	if (r == 0)
		r = restore_argv(&c);
	if (r == 0)
		r = restore_criu(&c, &pid);
	if (r == 0)
		r = restore_lazy_finish(&c);
	/* Before anything of it runs again (it is stopped): lo up, unless sbx-init put it
	 * up for the restore of its sockets (then what it set up for them is undone), then
	 * its own address. */
	if (r == 0 &&
	    (r = net_restored(
		     pid,
		     c.lo_early ? json_string_value(json_object_get(c.s->meta, "addresses")) : NULL,
		     !c.lo_early)) < 0)
		restore_fail(&c, r, "its network namespace: %s", strerror(-r));
	if (r == 0 && io->net_idx &&
	    (r = net_attach(io->net_idx, pid, io->req->netp.rate_bits)) < 0)
		restore_fail(&c, r, "its network link: %s", strerror(-r));
	if (r == 0)
		r = restore_attach(&c, pid, ret);
	for (unsigned i = 2; i < c.nfds; i++)
		close(c.fds[i]);
	if (r < 0)
		restore_unwind(&c);
	else
		rootfs_mounts_close(&c.m);
	if (c.userns >= 0)
		close(c.userns);
	free(c.init);
	return r;
}

int snap_restore_api(struct reply *rp, struct snap *s, const char *body, size_t len,
		     struct why *why)
{
	json_error_t jerr;
	json_t *j = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : json_object();
	bool empty = j && json_is_object(j) && !json_object_size(j);
	json_decref(j);
	if (!empty)
		return why_set(why, -EINVAL, "body must be {} (or empty)");
	return box_create_from(rp, s, why);
}
