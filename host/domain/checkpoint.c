// SPDX-License-Identifier: MIT
/* Checkpoint with CRIU. A checkpoint closes the control channel (CRIU cannot dump half
 * of a connection to the host), freezes the sandbox's cgroup, archives its writable
 * layer, copies its log and runs `criu dump --leave-running` into
 * state-dir/snapshots/.tmp-ID; the loop thread then reads the usage of the still frozen
 * sandbox, renames the directory into place and records the snapshot, and only then
 * thaws the sandbox (leave_running, fork) or kills it. A failure at any step thaws it
 * and reconnects: it runs on as before. sbxd killed in the middle leaves a .tmp
 * directory (removed at start) and a frozen sandbox (thawed when it is re-adopted). */
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
#include "../../sandbox/text.h"
#include "../../sandbox/idmap.h"
#include "../../sandbox/rootfs.h"
#include "../sys/criu.h"
#include "../sys/criuimg.h"
#include "images.h"
#include "internal.h"
#include "../sys/layer.h"
#include "../sys/meter.h"
#include "../sys/store.h"
#include "../sys/usage.h"

#define FORK_MAX 16

struct ckpt {
	struct work w;
	struct box *b;
	struct reply *rp; /* held */
	bool leave_running;
	bool on_timeout; /* its timeout's: a failure kills the sandbox as the timeout would */
	unsigned fork_count;
	char sid[16];
	/* inputs, copied for the worker */
	pid_t pid;
	int pidfd;		 /* the sandbox's when its network namespace is its own (criu dumps
		    * inside it), else -1 */
	const struct cgroup *cg; /* b->sb's: the sandbox is not torn down while this runs */
	bool internet;		 /* net "internet": its own links, reset at the dump */
	bool resolv;		 /* sbxd's resolv.conf bound in */
	bool shm;		 /* its /dev/shm is its layer's shm/ (criu_shm_in_layer) */
	bool shm_archived;	 /* ... and not empty: in shm.tar */
	char addrs[NET_RESTORE_ADDRS * 16]; /* its sockets' own addresses, "A,B,..." */
	char *image, *image_id, *tmp, *final, *box_dir;
	/* outputs */
	int r;
	char *err;
	json_t *binds, *devs, *keys, *stats;
	json_t *procs; /* its kept processes (exec_carried), taken at the start */
	uint64_t size;
	int64_t t0, t_frozen, t_done;
};

static void ckpt_free(struct ckpt *k)
{
	free(k->image);
	free(k->image_id);
	free(k->tmp);
	free(k->final);
	free(k->box_dir);
	free(k->err);
	json_decref(k->binds);
	json_decref(k->devs);
	json_decref(k->keys);
	json_decref(k->stats);
	json_decref(k->procs);
	free(k);
}

static int ckpt_fail(struct ckpt *k, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int ckpt_fail(struct ckpt *k, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(k->err);
	k->r = text_verror(&k->err, r, fmt, ap);
	va_end(ap);
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

/* One dump on its worker, between its stages. */
struct dump_ctx {
	struct image *img;
	char logkey[64], statuskey[64]; /* CRIU's keys of the sandbox's log and status */
	char log[4200], out[4200];	/* criu dump's log and output */
	char *argv[128];
	size_t n;
};

/* state-dir/snapshots, and in it the snapshot's directory (k->tmp) with its images/. */
static int ckpt_dirs(struct ckpt *k)
{
	char path[4200];

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
	return 0;
}

/* The sandbox's image (for its bind mounts), and the keys of its log and status files,
 * which stay outside the dump (k->keys). */
static int ckpt_open(struct ckpt *k, struct dump_ctx *c)
{
	char *ierr = NULL;

	struct api_create pick = { .image = k->image, .image_id = k->image_id };
	int r = images_open(&pick, &c->img, &ierr);
	if (r < 0) {
		ckpt_fail(k, r, "image %s: %s", k->image, ierr ? ierr : strerror(-r));
		free(ierr);
		return r;
	}
	if (file_key(k->pid, LOG_FD, c->logkey, sizeof(c->logkey)) < 0 ||
	    file_key(k->pid, STATUS_FD, c->statuskey, sizeof(c->statuskey)) < 0)
		return ckpt_fail(k, -ESRCH, "the sandbox's log and status files are not open");
	k->keys = json_pack("{s:s,s:s}", "log", c->logkey, "status", c->statuskey);
	k->binds = json_array();
	return 0;
}

/* Frozen from here: the layer, the log and the memory are of one instant. The layer is
 * archived and the log copied into the snapshot. */
static int ckpt_freeze(struct ckpt *k)
{
	char path[4200], dst[4200], upper[256], shm[256];
	char *err = NULL;

	int r = cgroup_freeze(k->cg, true);
	if (r < 0)
		return ckpt_fail(k, r, "cannot freeze the sandbox: %s", strerror(-r));
	k->t_frozen = mono_ns();
	/* Its connections to the outside are reset: a restored copy has an address of its
	 * own. Its loopback connections are kept (both ends are frozen). */
	if (k->internet && (r = net_reset_outside(k->pid, k->addrs, sizeof(k->addrs))) < 0)
		return ckpt_fail(k, r, "resetting its connections: %s", strerror(-r));
	(void)layer_path(k->b->id, "upper", upper, sizeof(upper));
	snprintf(path, sizeof(path), "%s/layer.tar", k->tmp);
	snprintf(dst, sizeof(dst), "%s/tar.log", k->tmp);
	r = layer_tar(true, path, upper, dst, NULL, &err);
	/* Its /dev/shm, when the layer holds it: an archive of its own, none when empty. */
	(void)layer_path(k->b->id, NULL, shm, sizeof(shm));
	k->shm = criu_shm_in_layer(k->pid, shm);
	(void)layer_path(k->b->id, ROOTFS_LAYER_SHM, shm, sizeof(shm));
	snprintf(path, sizeof(path), "%s/shm.tar", k->tmp);
	k->shm_archived = k->shm && !layer_dir_empty(shm);
	if (r == 0 && k->shm_archived)
		r = layer_tar(true, path, shm, dst, NULL, &err);
	if (r < 0) {
		ckpt_fail(k, r, "archiving the writable layer: %s", err ? err : strerror(-r));
		free(err);
		return r;
	}
	snprintf(path, sizeof(path), "%s/log", k->box_dir);
	snprintf(dst, sizeof(dst), "%s/log", k->tmp);
	_cleanup_close_ int logcopy = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (logcopy < 0 || (r = rootfs_copy(path, logcopy)) < 0)
		return ckpt_fail(k, logcopy < 0 ? -errno : r, "copying the log: %s",
				 strerror(logcopy < 0 ? errno : -r));
	return 0;
}

/* criu dump's command line, in c->argv (cleared again if it fails). */
static int ckpt_argv(struct ckpt *k, struct dump_ctx *c)
{
	char **argv = c->argv;
	size_t *n = &c->n, max = ARRAY_SIZE(c->argv);

	snprintf(c->log, sizeof(c->log), "%s/criu-dump.log", k->tmp);
	snprintf(c->out, sizeof(c->out), "%s/criu-dump.out", k->tmp);
	argv[(*n)++] = strdup("dump");
	strvcat(argv, n, max, "--tree=%d", (int)k->pid);
	strvcat(argv, n, max, "--images-dir=%s/images", k->tmp);
	strvcat(argv, n, max, "--log-file=%s", c->log);
	strvcat(argv, n, max, "--freeze-cgroup=%s", k->cg->v2_path);
	strvcat(argv, n, max, "--leave-running");
	criu_argv_common(argv, n, max, false);
	strvcat(argv, n, max, "--external=%s", c->logkey);
	strvcat(argv, n, max, "--external=%s", c->statuskey);
	strvcat(argv, n, max, "--external=mnt[/dev/sbx-init]:init");
	if (k->shm)
		strvcat(argv, n, max, "--external=mnt[/dev/shm]:shm");
	/* Net "internet": sbxd's resolv.conf is bound in where its image has one. */
	k->resolv = k->internet && image_has_resolv_conf(c->img);
	if (k->resolv)
		strvcat(argv, n, max, "--external=mnt[/etc/resolv.conf]:resolv");
	size_t nb = 0;
	for (char **b = c->img->binds; b && b[0]; b += 2, nb++) {
		strvcat(argv, n, max, "--external=mnt[%s]:b%zu", b[1], nb);
		json_array_append_new(k->binds, json_string(b[1]));
	}
	/* The host's device nodes bound in (a user namespace cannot make its own), the
	 * /proc masks made of them, and the shared /dev: external, bound again from the
	 * host's. The masks made of the shared /dev's pts directory come back as binds of
	 * it. */
	k->devs = criu_dev_binds(k->pid);
	if (!k->devs) {
		strv_clear(argv, *n);
		return ckpt_fail(k, -EIO, "cannot read the sandbox's mounts");
	}
	json_t *dv;
	size_t di;
	json_array_foreach (k->devs, di, dv)
		strvcat(argv, n, max, "--external=mnt[%s]:d%zu",
			json_string_value(json_array_get(dv, 0)), di);
	argv[*n] = NULL;
	for (size_t i = 0; i < *n; i++)
		if (!argv[i]) {
			strv_clear(argv, *n);
			return ckpt_fail(k, -ENOMEM, "out of memory");
		}
	return 0;
}

/* criu dump, the sandbox left running (frozen still); its figures and the snapshot's
 * size. */
static int ckpt_criu(struct ckpt *k, struct dump_ctx *c)
{
	char *err = NULL;

	int r = criu_exec(&(struct criu_run){ .bin = D.criu,
					      .run_dir = criu_cache_dir,
					      .argv = (const char *const *)c->argv,
					      .out_path = c->out,
					      .net_pidfd = k->pidfd,
					      .timeout_ns = CRIU_TIMEOUT_NS },
			  c->log, &err);
	strv_clear(c->argv, c->n);
	char images[4200];
	snprintf(images, sizeof(images), "%s/images", k->tmp);
	if (r == 0 && k->pidfd >= 0 && (r = criu_inventory_own_netns(images)) < 0) {
		ckpt_fail(k, r, "criu dump: its inventory: %s", strerror(-r));
		return k->r;
	}
	if (r < 0) {
		ckpt_fail(k, r, "criu dump: %s", err ? err : strerror(-r));
		free(err);
		return k->r;
	}
	k->stats = dump_stats(c->out);
	k->size = du_bytes(k->tmp);
	return 0;
}

static int ckpt_dump(struct ckpt *k)
{
	struct dump_ctx c = { 0 };

	int r = ckpt_dirs(k);
	if (r == 0)
		r = ckpt_open(k, &c);
	if (r == 0)
		r = ckpt_freeze(k);
	if (r == 0)
		r = ckpt_argv(k, &c);
	if (r == 0)
		r = ckpt_criu(k, &c);
	image_free(c.img);
	return r;
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
		if (s && s->meta && k->resolv)
			json_object_set_new(s->meta, "resolv", json_true());
		if (s && s->meta && k->shm)
			json_object_set_new(s->meta, "shm",
					    json_string(k->shm_archived ? "archived" : "empty"));
		if (s && s->meta && json_array_size(k->procs))
			json_object_set(s->meta, "procs", k->procs);
		if (s && s->meta && k->addrs[0])
			json_object_set_new(s->meta, "addresses", json_string(k->addrs));
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
	if (k->r < 0 && k->on_timeout && b->state == BOX_RUNNING)
		box_kill(b, REASON_TIMEOUT);
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
	if (b->pooled && warm_tenant(b->tenant))
		return "it is a warm sandbox nobody has taken yet";
	const char *why;
	if (exec_blocks_checkpoint(b, &why))
		return why;
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

/* Whether @pid's network namespace is not sbxd's. */
static bool own_netns(pid_t pid)
{
	char path[64];
	struct stat a, b;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	return stat(path, &a) == 0 && stat("/proc/self/ns/net", &b) == 0 &&
	       (a.st_ino != b.st_ino || a.st_dev != b.st_dev);
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
	k->procs = exec_carried(b);
	k->leave_running = leave_running;
	k->fork_count = fork_count;
	k->pid = b->sb->pid;
	k->pidfd = own_netns(k->pid) ? b->sb->pidfd : -1;
	k->cg = b->sb->cg;
	k->internet = b->req.net == NET_INTERNET;
	k->image = strdup(b->req.image ? b->req.image : LAUNCH_DEFAULT_IMAGE);
	k->image_id = b->req.image_id ? strdup(b->req.image_id) : NULL;
	k->box_dir = strdup(b->dir);
	if (asprintf(&k->tmp, "%s/snapshots/.tmp-%s", D.opt.state_dir, k->sid) < 0)
		k->tmp = NULL;
	if (asprintf(&k->final, "%s/snapshots/%s", D.opt.state_dir, k->sid) < 0)
		k->final = NULL;
	if (!k->image || !k->box_dir || !k->tmp || !k->final || (b->req.image_id && !k->image_id)) {
		ckpt_free(k);
		return why_set(why, -ENOMEM, "out of memory");
	}
	k->rp = rp;
	reply_hold(rp);
	b->ckpt = k;
	/* Close the control channel first; its end arrives in ctl_done (lifecycle.c). A
	 * parked one is connected for that: sbx-init is then past the close of the last
	 * one, and holds no socket of the host's when it is dumped. */
	(void)box_ctl_ready(b);
	if (b->ctl_fd >= 0)
		shutdown(b->ctl_fd, SHUT_WR);
	else
		snap_ckpt_go(b);
	return 0;
}

int snap_checkpoint_timeout(struct box *b)
{
	struct why why;
	int r = ckpt_start(reply_none(), b, false, 0, &why);
	if (r < 0) {
		logmsg(1, "sandbox %s: at its timeout: %s", b->id, why.msg);
		return r;
	}
	b->ckpt->on_timeout = true;
	logmsg(2, "sandbox %s: checkpointed at its timeout", b->id);
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
