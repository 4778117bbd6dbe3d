// SPDX-License-Identifier: MIT
/* Restore: a launch (launch.c) whose last step is here. The layer comes back from the
 * archive onto a fresh tmpfs, the overlay root is mounted on the host for CRIU's --root,
 * new cgroups are made with the device allowlist attached, and `criu restore` runs as a
 * child placed in them and in a cgroup namespace of its own, with the new sandbox's log
 * and status files in place of the old ones; --restore-sibling makes the restored
 * sbx-init sbxd's child. The meter slot is attached only after CRIU is done (its own
 * syscalls are not the sandbox's), and the CPU CRIU spent in the cgroup is an offset. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/mount.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <inttypes.h>
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

/* The writable layer's files were the snapshot's sandbox's: its ids move into the new
 * one's range (overlayfs's whiteouts, which are host root's, stay). */
static uid_t shift_from, shift_to;

static int shift_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)type;
	(void)ftw;
	uid_t u = st->st_uid, g = st->st_gid;
	bool mu = u >= shift_from && u - shift_from < IDMAP_SIZE;
	bool mg = g >= shift_from && g - shift_from < IDMAP_SIZE;
	if ((mu || mg) && lchown(path, mu ? u - shift_from + shift_to : (uid_t)-1,
				 mg ? g - shift_from + shift_to : (gid_t)-1) < 0)
		return -1;
	return 0;
}

static pthread_mutex_t shift_lock = PTHREAD_MUTEX_INITIALIZER;

static int shift_owners(const char *dir, uid_t from, uid_t to)
{
	if (from == to)
		return 0;
	pthread_mutex_lock(&shift_lock); /* nftw has no user data: one walk at a time */
	shift_from = from;
	shift_to = to;
	int r = nftw(dir, shift_one, 16, FTW_PHYS | FTW_MOUNT) < 0 ? -errno : 0;
	pthread_mutex_unlock(&shift_lock);
	return r;
}

/* The snapshot's image of its user namespace (in @images; its name in @ret_name),
 * rewritten for a restore into the range starting at @to, into @out: the snapshot stays
 * as it is, for other restores, and CRIU sees the rewritten one bound over it. */
static int userns_image(const char *images, uid_t from, uid_t to, const char *out, char *ret_name,
			size_t size)
{
	_cleanup_close_ int src = open(images, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uint8_t in[4096], buf[4096 + 256];
	int r = -ENOENT;

	if (src < 0)
		return -errno;
	DIR *d = fdopendir(dup(src));
	if (!d)
		return -errno;
	for (struct dirent *e; (e = readdir(d));)
		if (!strncmp(e->d_name, "userns-", 7) && strlen(e->d_name) < size) {
			if (r == 0) { /* one user namespace in a sandbox */
				r = -EINVAL;
				break;
			}
			snprintf(ret_name, size, "%s", e->d_name);
			r = 0;
		}
	closedir(d);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = openat(src, ret_name, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, in, sizeof(in));
	if (n < 0 || n == (ssize_t)sizeof(in))
		return n < 0 ? -errno : -EFBIG;
	ssize_t m = criuimg_userns_remap(in, (size_t)n, from, to, buf, sizeof(buf));
	if (m < 0)
		return (int)m;
	_cleanup_close_ int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ofd < 0 || write(ofd, buf, (size_t)m) != m)
		return -errno;
	return 0;
}

int snap_restore(struct launch_io *io, const struct sandbox_spec *spec, const struct image *img,
		 int log_fd, int status_fd, struct sandbox **ret, char **ret_err)
{
	const struct snap *s = io->from;
	char layer[256], root[256], path[4200], log[4200], out[4200], pidfile[4200];
	char userns_img[4200], userns_name[64], userns_over[4300];
	struct cgroup *cg = NULL;
	struct rootfs_mounts m = ROOTFS_MOUNTS_INIT;
	char *err = NULL, *argv[128];
	size_t n = 0;
	bool mounted = false;
	uid_t base = 0;
	_cleanup_close_ int userns = -1;
	_cleanup_free_ char *init = NULL;
	int r;

#define FAIL(e, ...)                                                                               \
	do {                                                                                       \
		r = (e);                                                                           \
		if (asprintf(ret_err, __VA_ARGS__) < 0)                                            \
			*ret_err = NULL;                                                           \
		goto fail;                                                                         \
	} while (0)

	*ret_err = NULL;
	(void)layer_path(io->id, "upper", layer, sizeof(layer));
	(void)layer_path(io->id, "root", root, sizeof(root));
	snprintf(userns_img, sizeof(userns_img), "%s/userns.img", io->dir);
	r = cgroup_create(io->id, &spec->limits, &cg);
	if (r == 0 && spec->on_cgroup)
		r = spec->on_cgroup(cg, spec->userdata);
	if (r < 0)
		FAIL(r, "cgroups: %s", strerror(-r));
	/* Ids of its own, as every sandbox has: not the snapshot's sandbox's. */
	uid_t from = (uid_t)json_integer_value(json_object_get(s->meta, "uid_base"));
	if (!idmap_valid(from))
		FAIL(-EINVAL, "the snapshot does not say its user namespace's ids");
	r = idmap_alloc(cg->v2_path, &base);
	if (r < 0)
		FAIL(r, "host ids for the sandbox: %s", strerror(-r));
	/* The layer, back onto its fresh tmpfs, owned by the new ids. */
	snprintf(path, sizeof(path), "%s/layer.tar", s->dir);
	snprintf(out, sizeof(out), "%s/restore-tar.log", io->dir);
	r = layer_tar(false, path, layer, out, cg, &err);
	(void)unlink(out);
	if (r < 0)
		FAIL(r, "restoring the writable layer: %s", err ? err : strerror(-r));
	r = shift_owners(layer, from, base);
	if (r < 0)
		FAIL(r, "the writable layer's owners: %s", strerror(-r));
	/* The root, as a launch makes it (the image idmapped to the new ids), where CRIU's
	 * --root wants it. */
	userns = idmap_userns_fd(base);
	if (userns < 0)
		FAIL(userns, "a user namespace for the sandbox's ids: %s", strerror(-userns));
	(void)layer_path(io->id, NULL, path, sizeof(path));
	struct rootfs_plan plan = {
		.image = img->rootfs, .writable_bytes = 1, .layer_dir = path, .base = base
	};
	r = rootfs_prepare(&plan, userns, &m);
	if (r < 0)
		FAIL(r, "the root file system: %s", strerror(-r));
	if (syscall(SYS_move_mount, m.root, "", AT_FDCWD, root, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		FAIL(-errno, "mounting the root: %s", strerror(errno));
	mounted = true;
	/* The log so far, so that it reads on; its status file starts empty. Both are the
	 * sandbox's root's: CRIU opens them again from inside its user namespace. */
	snprintf(path, sizeof(path), "%s/log", s->dir);
	r = rootfs_copy(path, log_fd);
	if (r < 0)
		FAIL(r, "snapshot log: %s", strerror(-r));
	if (fchown(log_fd, base, base) < 0 || fchown(status_fd, base, base) < 0)
		FAIL(-errno, "the sandbox's log: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/images", s->dir);
	r = userns_image(path, from, base, userns_img, userns_name, sizeof(userns_name));
	if (r < 0)
		FAIL(r, "the snapshot's user namespace: %s", strerror(-r));
	snprintf(userns_over, sizeof(userns_over), "%s/%s", path, userns_name);

	snprintf(log, sizeof(log), "%s/criu-restore.log", io->dir);
	snprintf(out, sizeof(out), "%s/criu-restore.out", io->dir);
	snprintf(pidfile, sizeof(pidfile), "%s/criu.pid", io->dir);
	(void)unlink(pidfile);
	json_t *keys = json_object_get(s->meta, "keys");
	argv[n++] = strdup("restore");
	strvcat(argv, &n, ARRAY_SIZE(argv), "--images-dir=%s/images", s->dir);
	strvcat(argv, &n, ARRAY_SIZE(argv), "--log-file=%s", log);
	strvcat(argv, &n, ARRAY_SIZE(argv), "--pidfile=%s", pidfile);
	strvcat(argv, &n, ARRAY_SIZE(argv), "--root=%s", root);
	strvcat(argv, &n, ARRAY_SIZE(argv), "--restore-detached");
	strvcat(argv, &n, ARRAY_SIZE(argv), "--restore-sibling");
	/* Stopped: sbx-init executes itself again (launch_fn) before anything else of the
	 * sandbox runs, and then lets it go on. */
	strvcat(argv, &n, ARRAY_SIZE(argv), "--leave-stopped");
	strvcat(argv, &n, ARRAY_SIZE(argv), "--empty-ns=net");
	strvcat(argv, &n, ARRAY_SIZE(argv), "--action-script=%s", D.opt.init_path);
	for (size_t i = 0; i < ARRAY_SIZE(criu_common); i++)
		strvcat(argv, &n, ARRAY_SIZE(argv), "%s", criu_common[i]);
	strvcat(argv, &n, ARRAY_SIZE(argv), "--inherit-fd=fd[10]:%s",
		json_string_value(json_object_get(keys, "log")));
	strvcat(argv, &n, ARRAY_SIZE(argv), "--inherit-fd=fd[11]:%s",
		json_string_value(json_object_get(keys, "status")));
	/* Where sbx-init's copy is now (made again if another build's launch removed it). */
	r = rootfs_runtime_init(D.opt.init_path, &init);
	if (r < 0)
		FAIL(r, "sbx-init's copy: %s", strerror(-r));
	strvcat(argv, &n, ARRAY_SIZE(argv), "--external=mnt[init]:%s", init);
	/* The image's bind mounts, by target, from today's manifest. */
	json_t *bt;
	size_t bi;
	json_array_foreach (json_object_get(s->meta, "binds"), bi, bt) {
		const char *src = NULL;
		for (char **p = img->binds; p && p[0]; p += 2)
			if (!strcmp(p[1], json_string_value(bt)))
				src = p[0];
		if (!src) {
			strv_clear(argv, n);
			FAIL(-ENOENT, "image %s no longer binds %s", img->name,
			     json_string_value(bt));
		}
		strvcat(argv, &n, ARRAY_SIZE(argv), "--external=mnt[b%zu]:%s", bi, src);
	}
	json_t *dv;
	size_t di;
	json_array_foreach (json_object_get(s->meta, "devs"), di, dv) {
		const char *src = json_string_value(json_array_get(dv, 1));
		if (!src || strncmp(src, "/dev/", 5) || strstr(src, "..")) {
			strv_clear(argv, n);
			FAIL(-EINVAL, "the snapshot's device binds are unreadable");
		}
		strvcat(argv, &n, ARRAY_SIZE(argv), "--external=mnt[d%zu]:%s", di, src);
	}
	argv[n] = NULL;
	for (size_t i = 0; i < n; i++)
		if (!argv[i]) {
			strv_clear(argv, n);
			FAIL(-ENOMEM, "out of memory");
		}
	const int fds[2] = { log_fd, status_fd };
	int64_t t0 = mono_ns();
	r = criu_exec(&(struct criu_run){ .bin = D.criu,
					  .run_dir = criu_cache_dir,
					  .argv = (const char *const *)argv,
					  .fds = fds,
					  .nfds = 2,
					  .out_path = out,
					  .cg = cg,
					  .bind_file = userns_img,
					  .bind_over = userns_over,
					  .timeout_ns = restore_timeout(s) },
		      log, &err);
	strv_clear(argv, n);
	(void)unlink(userns_img);
	if (r < 0)
		FAIL(r, "criu restore: %s", err ? err : strerror(-r));
	io->restore_ms = (double)(mono_ns() - t0) / 1e6;
	io->restore_stats = restore_stats(out);

	FILE *pf = fopen(pidfile, "re");
	int pid = 0;
	if (!pf || fscanf(pf, "%d", &pid) != 1 || pid <= 1) {
		if (pf)
			fclose(pf);
		FAIL(-EPROTO, "criu restore left no pid");
	}
	fclose(pf);
	(void)unlink(pidfile);
	/* The restored tree holds its own copy of the root: the host's goes. */
	(void)umount2(root, MNT_DETACH);
	mounted = false;
	r = sandbox_attach(io->id, pid, TAKE_PTR(cg), ret);
	if (r < 0) {
		(void)waitpid(pid, NULL, WNOHANG); /* our child, if it died first */
		FAIL(r, "the restored sandbox is gone: %s", strerror(-r));
	}
	/* Counted from here: CRIU's own syscalls in the cgroup were not the sandbox's, and
	 * the CPU it spent there is an offset. */
	if (io->slot >= 0 && io->cg_id) {
		r = meter_attach(D.meter, io->cg_id, (uint32_t)io->slot, true);
		if (r < 0) {
			sandbox_destroy(TAKE_PTR(*ret));
			FAIL(r, "meter: %s", strerror(-r));
		}
	}
	uint64_t usec = 0;
	int cfd = usage_open_cpu((*ret)->cg);
	if (cfd >= 0 && usage_pread(cfd, "usage_usec", &usec) == 0)
		io->cpu_offset_ns = usec * 1000;
	if (cfd >= 0)
		close(cfd);
	rootfs_mounts_close(&m);
	free(err);
	return 0;
fail:
	free(err);
	rootfs_mounts_close(&m);
	(void)unlink(userns_img);
	if (cg)
		kill_restored(cg);
	if (base)
		idmap_release(base);
	if (mounted)
		(void)umount2(root, MNT_DETACH);
	return r;
#undef FAIL
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
