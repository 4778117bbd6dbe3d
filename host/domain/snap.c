// SPDX-License-Identifier: MIT
/* Checkpoint, restore and fork with CRIU.
 *
 * A checkpoint closes the control channel (CRIU cannot dump half of a connection to the
 * host), freezes the sandbox's cgroup, archives its writable layer, copies its log and
 * runs `criu dump --leave-running` into state-dir/snapshots/.tmp-ID; the loop thread
 * then reads the usage of the still frozen sandbox, renames the directory into place and
 * records the snapshot, and only then thaws the sandbox (leave_running, fork) or kills
 * it. A failure at any step thaws it and reconnects: it runs on as before. sbxd killed
 * in the middle leaves a .tmp directory (removed at start) and a frozen sandbox (thawed
 * when it is re-adopted).
 *
 * A restore is a launch (box.c) whose last step is here: the layer comes back from the
 * archive onto a fresh tmpfs, the overlay root is mounted on the host for CRIU's --root,
 * new cgroups are made with the device allowlist attached, and `criu restore` runs as a
 * child placed in them and in a cgroup namespace of its own, with the new sandbox's log
 * and status files in place of the old ones; --restore-sibling makes the restored
 * sbx-init sbxd's child. The meter slot is attached only after CRIU is done (its own
 * syscalls are not the sandbox's), and the CPU CRIU spent in the cgroup is an offset.
 *
 * Fork is a leave-running checkpoint into a snapshot of its own, N restores of it, and
 * the removal of that snapshot. */
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

#define CRIU_TIMEOUT_NS (120 * 1000000000LL)
#define FORK_MAX 16
/* CRIU's /run: in sbx's own runtime tmpfs, which only root can write (so nobody else can
 * have made it first), and searchable, since CRIU goes on inside the restored sandbox's
 * user namespace. */
#define CRIU_RUN_DIR ROOTFS_RUNTIME_DIR "/criu"

/* CRIU's cache of kernel features, kept on a tmpfs (or NULL: probed every run). */
static const char *run_dir;

static const char *const criu_common[] = { "--tcp-established", "--manage-cgroups=ignore",
					   "--display-stats", "-v2" };

/* ---- small helpers (any thread) ---- */

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

static void rm_rf(const char *path)
{
	(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t du_bytes(const char *path)
{
	uint64_t total = 0;
	DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char sub[4200];
		struct stat st;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (lstat(sub, &st) < 0)
			continue;
		total += S_ISDIR(st.st_mode) ? du_bytes(sub) : (uint64_t)st.st_size;
	}
	if (d)
		closedir(d);
	return total;
}

/* The writable layer to (@create) or from an archive: GNU tar, with overlayfs's
 * whiteouts (device nodes) and opaque directories (trusted.* xattrs) kept. An extraction
 * runs in @cg, so that the tmpfs pages it fills are charged to the sandbox they are for. */
static int layer_tar(bool create, const char *archive, const char *dir, const char *log,
		     const struct cgroup *cg, char **ret_err)
{
	const char *argv[] = { create ? "--create" : "--extract",
			       "--file",
			       archive,
			       "--directory",
			       dir,
			       "--xattrs",
			       "--xattrs-include=*",
			       "--numeric-owner",
			       create ? "--sparse" : "--preserve-permissions",
			       create ? "." : NULL,
			       NULL };
	return criu_exec(&(struct criu_run){ .bin = "/bin/tar",
					     .argv = argv,
					     .out_path = log,
					     .cg = cg,
					     .timeout_ns = CRIU_TIMEOUT_NS },
			 log, ret_err);
}

/* CRIU's key for an open file outside the sandbox: "file[MNT_ID:INODE]" in hex. */
static int file_key(pid_t pid, int fd, char *buf, size_t size)
{
	char path[64], line[256];
	unsigned mnt = 0;
	struct stat st;
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "mnt_id: %u", &mnt) == 1)
			found = true;
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	if (!found || stat(path, &st) < 0)
		return -ENOENT;
	snprintf(buf, size, "file[%x:%" PRIx64 "]", mnt, (uint64_t)st.st_ino);
	return 0;
}

static char *strvcat(char **argv, size_t *n, size_t max, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Appends a formatted argument to @argv (@max entries with the terminating NULL). A
 * failure leaves a NULL entry among the first *n, which the caller checks for: out of
 * memory, the new one; out of room, the last one. */
static char *strvcat(char **argv, size_t *n, size_t max, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (*n + 1 >= max) {
		if (*n) {
			free(argv[*n - 1]);
			argv[*n - 1] = NULL;
		}
		return NULL;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	argv[(*n)++] = s;
	return s;
}

static void strv_clear(char **argv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(argv[i]);
}

json_t *snap_json(const struct snap *s)
{
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:I,s:o}", "id", s->id, "sandbox", s->parent,
			      "tenant", s->tenant, "state", s->deleting ? "deleting" : "ready",
			      "size_bytes", (json_int_t)s->size_bytes, "created_at",
			      json_integer(s->created_ns / 1000000000));
	json_object_set(j, "image", json_object_get(s->meta, "image"));
	/* The counters at the checkpoint: a restored sandbox's usage goes on from these. */
	json_object_set(j, "usage", json_object_get(s->meta, "usage"));
	if (s->stats)
		json_object_set(j, "criu", s->stats);
	return j;
}

struct snap *snap_find(const char *id, const char *tenant)
{
	for (struct snap *s = D.snaps; s; s = s->next)
		if (!strcmp(s->id, id) && !s->deleting && !s->ephemeral)
			return !tenant || !strcmp(tenant, s->tenant) ? s : NULL;
	return NULL;
}

static void snap_free(struct snap *s)
{
	if (!s)
		return;
	free(s->tenant);
	free(s->parent);
	free(s->dir);
	json_decref(s->meta);
	json_decref(s->stats);
	free(s);
}

static void snap_unlink(struct snap *s)
{
	for (struct snap **p = &D.snaps; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			return;
		}
}

static int snap_persist(struct snap *s, const char *state)
{
	char *meta = json_dumps(s->meta, JSON_COMPACT | JSON_SORT_KEYS);
	struct store_snapshot row = {
		.id = s->id,
		.tenant = s->tenant,
		.parent = s->parent,
		.state = state,
		.size_bytes = s->size_bytes,
		.created_ns = s->created_ns,
		.deleted_ns = strcmp(state, "deleted") ? 0 : real_ns(),
		.meta = meta ? meta : "{}",
	};
	int r = meta ? store_snapshot_put(D.store, &row) : -ENOMEM;
	free(meta);
	return r;
}

/* ---- delete ---- */

struct snap_rm_job {
	struct work w;
	struct snap *s;
	struct reply *rp; /* held; NULL: nobody asked */
};

static void rm_fn(struct work *w)
{
	struct snap_rm_job *j = (struct snap_rm_job *)w;
	rm_rf(j->s->dir);
}

static void rm_done(struct work *w)
{
	struct snap_rm_job *j = (struct snap_rm_job *)w;
	struct snap *s = j->s;

	bill_snapshot_final(s);
	(void)snap_persist(s, "deleted");
	if (j->rp) {
		if (reply_alive(j->rp)) {
			json_t *o = snap_json(s);
			json_object_set_new(o, "state", json_string("deleted"));
			reply_done(j->rp, REPLY_OK, o);
		}
		reply_release(j->rp);
	}
	logmsg(2, "snapshot %s deleted", s->id);
	snap_unlink(s);
	snap_free(s);
	free(j);
}

static void snap_remove(struct snap *s, struct reply *rp)
{
	struct snap_rm_job *j = calloc(1, sizeof(*j));
	s->deleting = true;
	if (rp)
		reply_hold(rp);
	if (!j) {
		rm_rf(s->dir);
		rm_done(&(struct snap_rm_job){ .s = s, .rp = rp }.w);
		return;
	}
	*j = (struct snap_rm_job){ .w = { .fn = rm_fn, .done = rm_done }, .s = s, .rp = rp };
	loop_queue_work(&D.loop, &j->w);
}

int snap_delete(struct reply *rp, struct snap *s, struct why *why)
{
	if (s->users)
		return why_set(why, -EBUSY, "snapshot %s is being restored", s->id);
	snap_remove(s, rp);
	return 0;
}

/* ---- checkpoint ---- */

/* A fork's copies answer to it as to a caller: it counts them, and answers its own
 * caller once each has been counted. */
struct fork_state {
	struct reply reply; /* the copies' */
	struct reply *rp;   /* its caller's, held */
	unsigned want, done, refs;
	json_t *ids, *errors;
	struct snap *s;
	int64_t t0;
};

struct ckpt {
	struct work w;
	struct box *b;
	struct reply *rp; /* held */
	bool leave_running;
	unsigned fork_count;
	char sid[16];
	/* inputs, copied for the worker */
	pid_t pid;
	const struct cgroup *cg; /* b->sb's: the sandbox is not torn down while this runs */
	char *image, *tmp, *final, *box_dir;
	/* outputs */
	int r;
	char *err;
	json_t *binds, *devs, *keys, *stats;
	uint64_t size;
	int64_t t0, t_frozen, t_done;
};

static void ckpt_free(struct ckpt *k)
{
	free(k->image);
	free(k->tmp);
	free(k->final);
	free(k->box_dir);
	free(k->err);
	json_decref(k->binds);
	json_decref(k->devs);
	json_decref(k->keys);
	json_decref(k->stats);
	free(k);
}

static int ckpt_fail(struct ckpt *k, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int ckpt_fail(struct ckpt *k, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(k->err);
	if (vasprintf(&k->err, fmt, ap) < 0)
		k->err = NULL;
	va_end(ap);
	k->r = r;
	return r;
}

static json_t *dump_stats(const char *out)
{
	static const char *const names[][2] = {
		{ "Freezing time", "freezing_time_us" },
		{ "Frozen time", "frozen_time_us" },
		{ "Memory dump time", "memdump_time_us" },
		{ "Memory write time", "memwrite_time_us" },
		{ "Memory pages written", "pages_written" },
	};
	json_t *o = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		int64_t v = criu_stat(out, names[i][0]);
		if (v >= 0)
			json_object_set_new(o, names[i][1], json_integer(v));
	}
	return o;
}

/* The mounts of @pid's mount namespace that bind a node of the host's devtmpfs: [target
 * inside, source on the host] pairs. NULL if its mountinfo cannot be read. */
static json_t *dev_binds(pid_t pid)
{
	char path[64], line[4096];
	json_t *arr = json_array();

	snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f) {
		json_decref(arr);
		return NULL;
	}
	while (fgets(line, sizeof(line), f)) {
		char root[1024], target[1024], *sep = strstr(line, " - ");
		char fstype[64];
		if (!sep || sscanf(line, "%*s %*s %*s %1023s %1023s", root, target) != 2 ||
		    sscanf(sep + 3, "%63s", fstype) != 1 || strcmp(fstype, "devtmpfs"))
			continue;
		char src[1100];
		snprintf(src, sizeof(src), "/dev%s", root);
		json_array_append_new(arr, json_pack("[s,s]", target, src));
	}
	fclose(f);
	return arr;
}

static int ckpt_dump(struct ckpt *k)
{
	char path[4200], log[4200], out[4200], upper[256], logkey[64], statuskey[64];
	_cleanup_(image_freep) struct image *img = NULL;
	char *ierr = NULL, *err = NULL;
	char *argv[128];
	size_t n = 0;
	int r;

	snprintf(path, sizeof(path), "%s/snapshots", D.opt.state_dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return ckpt_fail(k, -errno, "cannot make %s: %s", path, strerror(errno));
	if (mkdir(k->tmp, 0700) < 0)
		return ckpt_fail(k, -errno, "cannot make the snapshot directory: %s",
				 strerror(errno));
	snprintf(path, sizeof(path), "%s/images", k->tmp);
	/* Searchable by the sandbox's root: CRIU reads some images after it has entered
	 * the restored user namespace (the directories above stay root's alone). */
	if (mkdir(path, 0711) < 0 || chmod(path, 0711) < 0)
		return ckpt_fail(k, -errno, "cannot make the snapshot directory: %s",
				 strerror(errno));
	r = image_open(k->image, D.opt.images_dir, &img, &ierr);
	if (r < 0) {
		ckpt_fail(k, r, "image %s: %s", k->image, ierr ? ierr : strerror(-r));
		free(ierr);
		return r;
	}
	if (file_key(k->pid, LOG_FD, logkey, sizeof(logkey)) < 0 ||
	    file_key(k->pid, STATUS_FD, statuskey, sizeof(statuskey)) < 0)
		return ckpt_fail(k, -ESRCH, "the sandbox's log and status files are not open");
	k->keys = json_pack("{s:s,s:s}", "log", logkey, "status", statuskey);
	k->binds = json_array();

	/* Frozen from here: the layer, the log and the memory are of one instant. */
	r = cgroup_freeze(k->cg, true);
	if (r < 0)
		return ckpt_fail(k, r, "cannot freeze the sandbox: %s", strerror(-r));
	k->t_frozen = mono_ns();
	(void)layer_path(k->b->id, "upper", upper, sizeof(upper));
	snprintf(path, sizeof(path), "%s/layer.tar", k->tmp);
	snprintf(out, sizeof(out), "%s/tar.log", k->tmp);
	r = layer_tar(true, path, upper, out, NULL, &err);
	if (r < 0) {
		ckpt_fail(k, r, "archiving the writable layer: %s", err ? err : strerror(-r));
		free(err);
		return r;
	}
	snprintf(path, sizeof(path), "%s/log", k->box_dir);
	snprintf(log, sizeof(log), "%s/log", k->tmp);
	_cleanup_close_ int logcopy = open(log, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (logcopy < 0 || (r = rootfs_copy(path, logcopy)) < 0)
		return ckpt_fail(k, logcopy < 0 ? -errno : r, "copying the log: %s",
				 strerror(logcopy < 0 ? errno : -r));

	snprintf(log, sizeof(log), "%s/criu-dump.log", k->tmp);
	snprintf(out, sizeof(out), "%s/criu-dump.out", k->tmp);
	argv[n++] = strdup("dump");
	strvcat(argv, &n, ARRAY_SIZE(argv), "--tree=%d", (int)k->pid);
	strvcat(argv, &n, ARRAY_SIZE(argv), "--images-dir=%s/images", k->tmp);
	strvcat(argv, &n, ARRAY_SIZE(argv), "--log-file=%s", log);
	strvcat(argv, &n, ARRAY_SIZE(argv), "--freeze-cgroup=%s", k->cg->v2_path);
	strvcat(argv, &n, ARRAY_SIZE(argv), "--leave-running");
	/* The network namespace holds only lo: a restore makes a fresh one, owned by the
	 * restored user namespace, and sbx-init (CRIU's action script) brings its lo up
	 * (faster than dumping and
	 * restoring it, and nothing of it needs keeping). Loopback TCP stays consistent
	 * without a lock: both ends are frozen. */
	strvcat(argv, &n, ARRAY_SIZE(argv), "--network-lock=skip");
	strvcat(argv, &n, ARRAY_SIZE(argv), "--empty-ns=net");
	for (size_t i = 0; i < ARRAY_SIZE(criu_common); i++)
		strvcat(argv, &n, ARRAY_SIZE(argv), "%s", criu_common[i]);
	strvcat(argv, &n, ARRAY_SIZE(argv), "--external=%s", logkey);
	strvcat(argv, &n, ARRAY_SIZE(argv), "--external=%s", statuskey);
	strvcat(argv, &n, ARRAY_SIZE(argv), "--external=mnt[/dev/sbx-init]:init");
	size_t nb = 0;
	for (char **b = img->binds; b && b[0]; b += 2, nb++) {
		strvcat(argv, &n, ARRAY_SIZE(argv), "--external=mnt[%s]:b%zu", b[1], nb);
		json_array_append_new(k->binds, json_string(b[1]));
	}
	/* The host's device nodes bound in (a user namespace cannot make its own), and the
	 * /proc masks made of them: external, bound again from the host's /dev. */
	k->devs = dev_binds(k->pid);
	if (!k->devs) {
		strv_clear(argv, n);
		return ckpt_fail(k, -EIO, "cannot read the sandbox's mounts");
	}
	json_t *dv;
	size_t di;
	json_array_foreach (k->devs, di, dv)
		strvcat(argv, &n, ARRAY_SIZE(argv), "--external=mnt[%s]:d%zu",
			json_string_value(json_array_get(dv, 0)), di);
	argv[n] = NULL;
	for (size_t i = 0; i < n; i++)
		if (!argv[i]) {
			strv_clear(argv, n);
			return ckpt_fail(k, -ENOMEM, "out of memory");
		}
	r = criu_exec(&(struct criu_run){ .bin = D.criu,
					  .run_dir = run_dir,
					  .argv = (const char *const *)argv,
					  .out_path = out,
					  .timeout_ns = CRIU_TIMEOUT_NS },
		      log, &err);
	strv_clear(argv, n);
	if (r < 0) {
		ckpt_fail(k, r, "criu dump: %s", err ? err : strerror(-r));
		free(err);
		return k->r;
	}
	k->stats = dump_stats(out);
	k->size = du_bytes(k->tmp);
	return 0;
}

static void ckpt_fn(struct work *w)
{
	struct ckpt *k = (struct ckpt *)w;

	k->t0 = mono_ns();
	if (ckpt_dump(k) < 0) {
		(void)cgroup_freeze(k->cg, false);
		rm_rf(k->tmp);
		/* A full disk anywhere in the dump is a full disk (CRIU and tar run in the C
		 * locale: sbxd.c). */
		if (k->err && strstr(k->err, "No space left"))
			k->r = -ENOSPC;
	}
	k->t_done = mono_ns();
}

static void reconnect(struct box *b)
{
	if (b->ctl_fd >= 0 || !b->sb)
		return;
	int r = box_ctl_connect(b);
	if (r < 0)
		logmsg(0, "sandbox %s: control channel after a checkpoint: %s", b->id,
		       strerror(-r));
}

static void fork_start(struct reply *rp, struct snap *s, unsigned count, int64_t t0);

static void ckpt_done(struct work *w)
{
	struct ckpt *k = (struct ckpt *)w;
	struct box *b = k->b;
	struct reply *rp = k->rp;
	struct snap *s = NULL;
	int err = -EIO; /* what a failure answers */

	b->jobs--;
	if (k->r == 0) {
		json_t *u = box_usage_json(b); /* frozen: the counters of the dump */
		s = calloc(1, sizeof(*s));
		if (s) {
			memcpy(s->id, k->sid, sizeof(s->id));
			s->tenant = strdup(b->tenant);
			s->parent = strdup(b->id);
			s->dir = strdup(k->final);
			s->size_bytes = k->size;
			s->created_ns = real_ns();
			s->ephemeral = k->fork_count > 0;
			s->stats = json_incref(k->stats);
			s->meta = json_pack(
				"{s:O,s:s,s:s,s:o,s:O,s:O,s:O,s:I,s:I}", "spec", b->spec, "image",
				b->req.image ? b->req.image : LAUNCH_DEFAULT_IMAGE, "hostname",
				launch_hostname(b->req.hostname, b->id), "usage",
				u ? u : json_object(), "keys", k->keys, "binds", k->binds, "devs",
				k->devs, "uid_base", (json_int_t)b->sb->uid_base, "writable_bytes",
				(json_int_t)(b->req.writable_bytes ? b->req.writable_bytes
								   : D.opt.writable_default));
		}
		if (!s || !s->tenant || !s->parent || !s->dir || !s->meta) {
			ckpt_fail(k, -ENOMEM, "out of memory");
		} else if (rename(k->tmp, k->final) < 0) {
			ckpt_fail(k, -errno, "cannot move the snapshot into place: %s",
				  strerror(errno));
			rm_rf(k->tmp);
		} else if (!s->ephemeral && snap_persist(s, "ready") < 0) {
			err = -EAGAIN;
			ckpt_fail(k, -EIO, "the state database cannot record the snapshot");
			rm_rf(k->final);
		}
		if (k->r < 0) {
			snap_free(s);
			s = NULL;
		}
	}
	if (k->r < 0 || k->leave_running || k->fork_count) {
		(void)cgroup_freeze(b->sb->cg, false);
		b->ckpt = NULL;
		reconnect(b);
	} else {
		/* Stopped: the sandbox ends as checkpointed, billed up to now. */
		b->ckpt = NULL;
		free(b->snapshot_id);
		b->snapshot_id = strdup(s->id);
		box_kill(b, REASON_CHECKPOINTED);
	}
	box_tick_soon(); /* timeouts waited for the checkpoint */
	if (b->exit_pending) {
		b->exit_pending = false;
		box_exited(b);
	}
	if (k->r < 0) {
		logmsg(1, "sandbox %s: checkpoint failed: %s", b->id, k->err ? k->err : "?");
		struct why why;
		why_set(&why, 0, "checkpoint of %s failed: %s", b->id,
			k->err ? k->err : strerror(-k->r));
		reply_fail_why(rp, k->r == -ENOSPC ? -ENOSPC : err, &why);
		reply_release(rp);
		box_maybe_free(b);
		ckpt_free(k);
		return;
	}
	s->next = D.snaps;
	D.snaps = s;
	if (!s->ephemeral)
		bill_snapshot_start(s);
	logmsg(2, "sandbox %s checkpointed to %s (%" PRIu64 " bytes, %.1f ms, frozen %.1f ms)",
	       b->id, s->id, s->size_bytes, (k->t_done - k->t0) / 1e6,
	       (k->t_done - k->t_frozen) / 1e6);
	if (k->fork_count) {
		fork_start(rp, s, k->fork_count, k->t0);
	} else {
		if (reply_alive(rp)) {
			json_t *o = snap_json(s);
			json_object_set_new(o, "duration_ms",
					    json_real((double)(k->t_done - k->t0) / 1e6));
			json_object_set_new(o, "frozen_ms",
					    json_real((double)(mono_ns() - k->t_frozen) / 1e6));
			json_object_set_new(o, "leave_running", json_boolean(k->leave_running));
			reply_done(rp, REPLY_CREATED, o);
		}
		reply_release(rp);
	}
	box_maybe_free(b);
	ckpt_free(k);
}

/* The control channel is closed: the dump can start. */
void snap_ckpt_go(struct box *b)
{
	struct ckpt *k = b->ckpt;
	if (!k || k->w.fn)
		return;
	k->w = (struct work){ .fn = ckpt_fn, .done = ckpt_done, .slow = true };
	b->jobs++;
	loop_queue_work(&D.loop, &k->w);
}

/* Why @b cannot be checkpointed now (NULL: it can), with the errno (-EBUSY, -EAGAIN). */
static const char *ckpt_refusal(const struct box *b, int *err)
{
	*err = -EBUSY;
	if (!D.criu) {
		*err = -EAGAIN;
		return D.criu_why ? D.criu_why : "CRIU is not available";
	}
	if (b->state != BOX_RUNNING || b->killing || !b->sb)
		return "it is not running";
	if (b->ckpt)
		return "a checkpoint of it is in progress";
	if (b->execs)
		return "commands are running in it (checkpoint when they are done)";
	if (b->jobs)
		return "it is being started or stopped";
	if (b->ngpu)
		return "it holds GPUs (their state cannot be checkpointed)";
	if (!(b->req.writable_bytes ? b->req.writable_bytes : D.opt.writable_default))
		return "it has no writable layer";
	return NULL;
}

/* Room for what a checkpoint of @b makes: a tenant's snapshots take the host's disk (as
 * many as the operator allows), a fork's copies are sandboxes. */
static int ckpt_room(const struct box *b, unsigned fork_count, struct why *why)
{
	if (!fork_count && strcmp(b->tenant, ADMIN_TENANT)) {
		unsigned kept = 0;
		for (struct snap *s = D.snaps; s; s = s->next)
			kept += !s->ephemeral && !s->deleting && !strcmp(s->tenant, b->tenant);
		for (struct box *o = D.boxes; o; o = o->next)
			kept += o->ckpt && !o->ckpt->fork_count && !strcmp(o->tenant, b->tenant);
		if (kept >= D.opt.max_snapshots)
			return why_set(
				why, -EDQUOT,
				"tenant %s keeps its maximum of %u snapshots; delete some first",
				b->tenant, D.opt.max_snapshots);
	}
	if (fork_count) {
		unsigned mine = box_count_live(b->tenant);
		if (D.live + fork_count > D.opt.max_sandboxes ||
		    (strcmp(b->tenant, ADMIN_TENANT) && mine + fork_count > D.opt.max_per_tenant))
			return why_set(why, -EUSERS, "%u copies would exceed the sandbox limit",
				       fork_count);
	}
	return 0;
}

static int ckpt_start(struct reply *rp, struct box *b, bool leave_running, unsigned fork_count,
		      struct why *why)
{
	int r;
	const char *refused = ckpt_refusal(b, &r);
	if (refused)
		return why_set(why, r, "cannot checkpoint %s: %s", b->id, refused);
	r = ckpt_room(b, fork_count, why);
	if (r < 0)
		return r;
	struct ckpt *k = calloc(1, sizeof(*k));
	char sid[16];
	if (!k || box_new_id(sid + 5, sizeof(sid) - 5) < 0) {
		free(k);
		return why_set(why, -ENOMEM, "out of memory");
	}
	memcpy(sid, "snap-", 5);
	memcpy(k->sid, sid, sizeof(k->sid));
	k->sid[15] = '\0';
	k->b = b;
	k->leave_running = leave_running;
	k->fork_count = fork_count;
	k->pid = b->sb->pid;
	k->cg = b->sb->cg;
	k->image = strdup(b->req.image ? b->req.image : LAUNCH_DEFAULT_IMAGE);
	k->box_dir = strdup(b->dir);
	if (asprintf(&k->tmp, "%s/snapshots/.tmp-%s", D.opt.state_dir, k->sid) < 0)
		k->tmp = NULL;
	if (asprintf(&k->final, "%s/snapshots/%s", D.opt.state_dir, k->sid) < 0)
		k->final = NULL;
	if (!k->image || !k->box_dir || !k->tmp || !k->final) {
		ckpt_free(k);
		return why_set(why, -ENOMEM, "out of memory");
	}
	k->rp = rp;
	reply_hold(rp);
	b->ckpt = k;
	/* Close the control channel first; its end arrives in ctl_done (box.c). */
	if (b->ctl_fd >= 0)
		shutdown(b->ctl_fd, SHUT_WR);
	else
		snap_ckpt_go(b);
	return 0;
}

int snap_checkpoint(struct reply *rp, struct box *b, const char *body, size_t len, struct why *why)
{
	json_error_t jerr;
	json_t *j = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : json_object();
	json_t *lr = j ? json_object_get(j, "leave_running") : NULL;

	if (!j || !json_is_object(j) || json_object_size(j) > (lr ? 1u : 0u) ||
	    (lr && !json_is_boolean(lr))) {
		json_decref(j);
		return why_set(why, -EINVAL, "body must be {} or {\"leave_running\": true|false}");
	}
	bool leave = lr && json_is_true(lr);
	json_decref(j);
	return ckpt_start(rp, b, leave, 0, why);
}

int snap_fork(struct reply *rp, struct box *b, const char *body, size_t len, struct why *why)
{
	json_error_t jerr;
	json_t *j = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : json_object();
	json_t *n = j ? json_object_get(j, "count") : NULL;
	json_int_t count = n ? json_integer_value(n) : 1;

	if (!j || !json_is_object(j) || json_object_size(j) > (n ? 1u : 0u) ||
	    (n && !json_is_integer(n)) || count < 1 || count > FORK_MAX) {
		json_decref(j);
		return why_set(why, -EINVAL, "body must be {\"count\": N}, 1 <= N <= %d", FORK_MAX);
	}
	json_decref(j);
	return ckpt_start(rp, b, true, (unsigned)count, why);
}

/* ---- fork ---- */

static struct fork_state *fork_of(const struct reply *r)
{
	return (struct fork_state *)((char *)r - offsetof(struct fork_state, reply));
}

static void fork_hold(struct reply *r)
{
	fork_of(r)->refs++;
}

static void fork_release(struct reply *r)
{
	struct fork_state *f = fork_of(r);
	if (--f->refs)
		return;
	json_decref(f->ids);
	json_decref(f->errors);
	free(f);
}

static bool fork_alive(const struct reply *r)
{
	return true;
}

/* Every copy counted: the caller gets the copies that run, and why the others do not. */
static void fork_finish(struct fork_state *f)
{
	struct reply *rp = TAKE_PTR(f->rp);
	size_t ok = json_array_size(f->ids);

	if (ok) {
		json_t *o = json_pack("{s:O,s:f}", "sandboxes", f->ids, "duration_ms",
				      (double)(mono_ns() - f->t0) / 1e6);
		if (json_array_size(f->errors))
			json_object_set(o, "errors", f->errors);
		reply_done(rp, REPLY_CREATED, o);
	} else {
		struct why why;
		why_set(&why, 0, "fork failed: %s",
			json_string_value(json_array_get(f->errors, 0)));
		reply_fail_why(rp, -EIO, &why);
	}
	reply_release(rp);
	snap_remove(f->s, NULL); /* the copies run from memory now */
}

static void fork_count(struct fork_state *f)
{
	if (++f->done == f->want)
		fork_finish(f);
}

static void fork_copy_done(struct reply *r, enum reply_kind kind, json_t *body)
{
	struct fork_state *f = fork_of(r);
	json_array_append(f->ids, json_object_get(body, "id"));
	json_decref(body);
	fork_count(f);
}

static void fork_copy_fail(struct reply *r, int err, const char *msg)
{
	struct fork_state *f = fork_of(r);
	json_array_append_new(f->errors, json_string(msg ? msg : "restore failed"));
	fork_count(f);
}

static const struct reply_ops fork_ops = {
	.hold = fork_hold,
	.release = fork_release,
	.alive = fork_alive,
	.done = fork_copy_done,
	.fail = fork_copy_fail,
};

/* @count copies of @s, answered on @rp (held by the caller; taken). */
static void fork_start(struct reply *rp, struct snap *s, unsigned count, int64_t t0)
{
	struct fork_state *f = calloc(1, sizeof(*f));
	if (f)
		*f = (struct fork_state){ .reply = { .ops = &fork_ops },
					  .rp = rp,
					  .want = count,
					  .refs = 1, /* this call's */
					  .ids = json_array(),
					  .errors = json_array(),
					  .s = s,
					  .t0 = t0 };
	if (!f || !f->ids || !f->errors) {
		if (f) {
			json_decref(f->ids);
			json_decref(f->errors);
		}
		free(f);
		reply_fail(rp, -ENOMEM, "out of memory");
		reply_release(rp);
		snap_remove(s, NULL);
		return;
	}
	for (unsigned i = 0; i < count; i++) {
		struct why why;
		/* A copy refused at once (no slot left, say) is counted here: fork_finish()
		 * answers when every copy has been counted. */
		if (box_create_from(&f->reply, s, &why) < 0)
			fork_copy_fail(&f->reply, 0, why.msg);
	}
	fork_release(&f->reply);
}

/* ---- restore (a launch step, on a worker) ---- */

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
					  .run_dir = run_dir,
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

/* ---- listing, start ---- */

json_t *snap_list(const char *tenant)
{
	json_t *arr = json_array();
	for (struct snap *s = D.snaps; s; s = s->next)
		if (!s->ephemeral && !s->deleting && (!tenant || !strcmp(tenant, s->tenant)))
			json_array_append_new(arr, snap_json(s));
	return json_pack("{s:o}", "snapshots", arr);
}

static void load_one(const struct store_snapshot *row, void *userdata)
{
	(void)userdata;
	json_error_t jerr;
	struct snap *s = calloc(1, sizeof(*s));
	struct stat st;

	if (!s)
		return;
	snprintf(s->id, sizeof(s->id), "%s", row->id);
	s->tenant = strdup(row->tenant);
	s->parent = strdup(row->parent);
	s->size_bytes = row->size_bytes;
	s->created_ns = row->created_ns;
	s->meta = json_loads(row->meta, 0, &jerr);
	if (asprintf(&s->dir, "%s/snapshots/%s", D.opt.state_dir, row->id) < 0)
		s->dir = NULL;
	if (!s->tenant || !s->parent || !s->meta || !s->dir) {
		snap_free(s);
		return;
	}
	if (stat(s->dir, &st) < 0) {
		/* Its images are gone: it cannot be restored, and is no longer stored. */
		logmsg(1, "snapshot %s: %s is missing; marked deleted", s->id, s->dir);
		bill_snapshot_start(s);
		bill_snapshot_final(s);
		(void)snap_persist(s, "deleted");
		snap_free(s);
		return;
	}
	s->next = D.snaps;
	D.snaps = s;
	bill_snapshot_start(s);
}

int snap_init(void)
{
	char path[4200];

	int r = criu_find(D.opt.criu_path, &D.criu, &D.criu_why);
	if (r < 0)
		logmsg(1, "checkpoints are off: %s", D.criu_why);
	struct stat st;
	if ((mkdir(CRIU_RUN_DIR, 0711) == 0 || errno == EEXIST) && lstat(CRIU_RUN_DIR, &st) == 0 &&
	    S_ISDIR(st.st_mode) && st.st_uid == 0 && chmod(CRIU_RUN_DIR, 0711) == 0)
		run_dir = CRIU_RUN_DIR;
	r = store_snapshot_each(D.store, "ready", load_one, NULL);
	/* Dumps that a crash interrupted, and directories no record names. */
	snprintf(path, sizeof(path), "%s/snapshots", D.opt.state_dir);
	DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		bool known = false;
		for (struct snap *s = D.snaps; s; s = s->next)
			known |= !strcmp(s->id, e->d_name);
		if (!known) {
			char sub[4500];
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			logmsg(2, "removing %s (no snapshot record)", sub);
			rm_rf(sub);
		}
	}
	if (d)
		closedir(d);
	return r;
}
