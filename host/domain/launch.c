// SPDX-License-Identifier: MIT
/* Creating a sandbox: the request checked against the host (limits, GPUs, images), the
 * launch on a worker (libsandbox, or a restore from a snapshot), and its answer. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <seccomp.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "../../sandbox/image.h"
#include "../../sandbox/instance.h"
#include "../../sandbox/launch.h"
#include "../../sandbox/macro.h"
#include "../../sandbox/rootfs.h"
#include "../../sandbox/sandbox.h"
#include "../../sandbox/text.h"
#include "images.h"
#include "internal.h"
#include "../sys/recorder.h"
#include "../sys/devices.h"
#include "../sys/layer.h"
#include "../sys/meter.h"
#include "../sys/store.h"
#include "../sys/usage.h"

/* Defaults, then the image's, then the request's: later entries win (launch.h). */
static int build_env(struct launch_io *io, const struct image *img)
{
	const struct launch_env_src src = {
		.hostname = launch_hostname(io->req->hostname, io->id),
		.image = img->env,
		.request = io->req->env,
	};
	return launch_env_build(&src, &io->envp);
}

struct launch_job {
	struct work w;
	struct box *b;	  /* for the completion: the worker has io */
	struct reply *rp; /* held until the answer */
	struct launch_io io;
	int r;	   /* -errno */
	char *err; /* one line: what failed */
	struct sandbox *sb;
	int ctl_fd;
};

char *cgroup_to_json(const struct cgroup *cg)
{
	json_t *v1 = json_array();
	for (int i = 0; i < _CG_V1_MAX; i++)
		json_array_append_new(v1,
				      cg->v1_path[i] ? json_string(cg->v1_path[i]) : json_null());
	json_t *j = json_pack("{s:s,s:s,s:o}", "mode", cgroup_mode_name(cg->mode), "v2",
			      cg->v2_path, "v1", v1);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

static int open_state_files(const char *dir, int *log_fd, int *status_fd)
{
	char path[4096];

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/log", dir);
	*log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (*log_fd < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/status", dir);
	*status_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (*status_fd < 0) {
		int r = -errno;
		close(*log_fd);
		return r;
	}
	return 0;
}

void remove_state_dir(const char *dir)
{
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_type != DT_DIR)
			(void)unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	(void)rmdir(dir);
}

/* A restored sandbox, left stopped by CRIU: its log and status files become root's again
 * (they were its root's for CRIU to open them anew; sbx-init holds them open), then
 * sbx-init alone goes on and starts again from an exec inside the sandbox's user
 * namespace, as a launched one did, so that a later checkpoint accepts it; only then,
 * non-dumpable again, does it let the rest of the sandbox go on. Nothing of the sandbox
 * runs while PID 1 is dumpable. */
static int restore_resume(const char *id, struct sandbox *sb, int ctl_fd, int log_fd, int status_fd)
{
	if (fchown(log_fd, 0, 0) < 0 || fchown(status_fd, 0, 0) < 0)
		return -errno;
	int r = sandbox_signal(sb, SIGCONT);
	if (r == 0)
		r = ctl_reexec(ctl_fd, 5000);
	if (r < 0) {
		/* An sbx-init that cannot: the sandbox runs on, and only its next checkpoint
		 * would fail. */
		logmsg(1, "sandbox %s: sbx-init did not start again after the restore: %s", id,
		       strerror(-r));
		(void)cgroup_signal(sb->cg, SIGCONT);
	}
	return 0;
}

/* A launch on its worker, between its stages. */
struct launch_ctx {
	struct launch_job *j;
	struct image *img;
	const char **binds; /* the image's, and resolv.conf's */
	char resolv[256];
	int log_fd, status_fd;
	uint64_t wbytes; /* its writable layer's size; 0: none of its own */
	char layer[256];
	struct sandbox_spec spec;
};

static void launch_ctx_clear(struct launch_ctx *c)
{
	closep(&c->status_fd);
	closep(&c->log_fd);
	free(c->binds);
	image_free(c->img);
}

/* The launch failed: @r for its answer, and why in one line. */
static void launch_fail(struct launch_job *j, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void launch_fail(struct launch_job *j, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	j->r = text_verror(&j->err, r, fmt, ap);
	va_end(ap);
}

/* Its image, its environment and its state files (log, status). */
static int launch_prepare(struct launch_ctx *c)
{
	struct launch_job *j = c->j;
	const struct api_create *req = j->io.req;
	char *ierr = NULL;

	int r = images_open(req, &c->img, &ierr);
	if (r < 0) {
		launch_fail(j, r == -ENOENT ? -EINVAL : -EIO, "image: %s",
			    ierr ? ierr : strerror(-r));
		free(ierr);
		return r;
	}
	r = build_env(&j->io, c->img);
	if (r == 0)
		r = open_state_files(j->io.dir, &c->log_fd, &c->status_fd);
	if (r < 0)
		launch_fail(j, -EIO, "cannot prepare the sandbox: %s", strerror(-r));
	return r;
}

static int launch_on_root(int root_fd, void *userdata)
{
	const struct launch_io *io = userdata;
	return recorder_mark(io->rec, root_fd);
}

static int launch_on_netns(pid_t pid, void *userdata)
{
	const struct launch_io *io = userdata;
	return net_attach(io->net_idx, pid, io->req->netp.rate_bits);
}

bool image_has_resolv_conf(const struct image *img)
{
	char path[4096];
	struct stat st;

	/* The topmost layer that has the name says (a whiteout there: none). */
	for (size_t i = 0; i == 0 || (img->lowers && img->lowers[i - 1]); i++) {
		snprintf(path, sizeof(path), "%s/etc/resolv.conf",
			 i ? img->lowers[i - 1] : img->rootfs);
		if (lstat(path, &st) == 0)
			return S_ISREG(st.st_mode);
	}
	return false;
}

/* Its /etc/resolv.conf names its gateway, where sbxd answers, when the image has one. */
static int launch_resolv_conf(struct launch_ctx *c)
{
	size_t n = 0;

	if (!image_has_resolv_conf(c->img))
		return 0;
	net_resolv_conf(c->j->io.net_idx, c->resolv);
	while (c->img->binds && c->img->binds[n])
		n++;
	if (!(c->binds = calloc(n + 3, sizeof(char *))))
		return -ENOMEM;
	memcpy(c->binds, c->img->binds, n * sizeof(char *));
	c->binds[n] = c->resolv;
	c->binds[n + 1] = "/etc/resolv.conf";
	return 0;
}

/* Mode "internet": its link pair, its policy in place, its resolver. */
static int launch_net(struct launch_ctx *c)
{
	struct launch_io *io = &c->j->io;
	char err[320];

	if (io->req->net != NET_INTERNET)
		return 0;
	int r = net_acquire(&io->req->netp, &io->net_idx, err, sizeof(err));
	if (r < 0) {
		launch_fail(c->j,
			    r == -EAGAIN       ? -EAGAIN
			    : r == -EOPNOTSUPP ? -EINVAL
					       : -EIO,
			    "%s", err);
		return r;
	}
	r = launch_resolv_conf(c);
	if (r < 0)
		launch_fail(c->j, -EIO, "cannot prepare the sandbox's resolv.conf: %s",
			    strerror(-r));
	return r;
}

/* A layer of its own on the host, reachable for checkpoints. */
static int launch_layer(struct launch_ctx *c)
{
	const struct launch_io *io = &c->j->io;
	int r = 0;

	c->wbytes = io->req->writable_bytes ? io->req->writable_bytes : D.opt.writable_default;
	if (c->wbytes) {
		r = layer_create(io->id, c->wbytes);
		if (r == 0)
			r = layer_path(io->id, NULL, c->layer, sizeof(c->layer));
		if (r < 0)
			launch_fail(c->j, -EIO, "cannot prepare the writable layer: %s",
				    strerror(-r));
	}
	return r;
}

/* What libsandbox makes (or a restore remakes), in c->spec. */
static void launch_spec(struct launch_ctx *c, const char **devices)
{
	struct launch_io *io = &c->j->io;
	const struct api_create *req = io->req;

	c->spec = (struct sandbox_spec){
		.id = io->id,
		.rootfs = c->img->rootfs,
		.lowers = (const char *const *)c->img->lowers,
		.binds = c->binds ? c->binds : (const char *const *)c->img->binds,
		.argv = req->cmd,
		.envp = io->envp,
		.workdir = req->workdir,
		.hostname = req->hostname,
		.set_user = req->set_user,
		.uid = req->uid,
		.gid = req->gid,
		.limits = req->limits,
		.writable_bytes = c->wbytes,
		.layer_dir = c->wbytes ? c->layer : NULL,
		.scratch_in_layer = true,
		.tmp_bytes = D.opt.tmp_bytes,
		.net = req->net,
		.control = true,
		.filter = D.filter,
		.mntns_fd = D.mntns_fd,
		.stdio = { D.devnull, c->log_fd, c->log_fd },
		.log_fd = c->log_fd,
		.log_cap = D.opt.log_cap,
		.status_fd = c->status_fd,
		.on_cgroup = io->slot >= 0 || D.devices ? on_cgroup : NULL,
		.on_netns = io->net_idx ? launch_on_netns : NULL,
		.on_root = io->rec ? launch_on_root : NULL,
		.userdata = io,
		.devices = devices,
		.dev_shared = true,
	};
	/* Metered even without a limit. (Set here, not in the initializer above: a second
	 * designator for a member of .limits would reset the whole of it.) */
	c->spec.limits.memory_account = true;
}

/* The sandbox, started by libsandbox or restored from the snapshot, in j->sb. */
static int launch_start(struct launch_ctx *c)
{
	struct launch_job *j = c->j;
	struct sandbox_error se = { 0 };
	int r;

	if (j->io.from) {
		r = snap_restore(&j->io, &c->spec, c->img, c->log_fd, c->status_fd, &j->sb,
				 &j->err);
		if (r < 0) {
			j->r = -EIO;
			if (!j->err)
				launch_fail(j, -EIO, "restore failed: %s", strerror(-r));
		}
		return r;
	}
	r = sandbox_start(&c->spec, D.opt.init_path, &j->sb, &se);
	if (r < 0) {
		bool user_error = (se.stage == STAGE_WORKDIR &&
				   (r == -ENOENT || r == -ENOTDIR || r == -ELOOP || r == -EACCES ||
				    r == -ENAMETOOLONG)) ||
				  (se.stage == STAGE_CGROUP && r == -EOPNOTSUPP);
		int e = user_error ? -EINVAL : r == -ENOSPC || r == -EAGAIN ? -EAGAIN : -EIO;
		if (se.stage == STAGE_WORKDIR)
			launch_fail(j, e, "workdir: %s: %s", j->io.req->workdir, strerror(-r));
		else
			launch_fail(j, e, "launch failed at %s: %s", sandbox_stage_name(se.stage),
				    strerror(-r));
	}
	return r;
}

/* Its PID 1 has exited already (a workload as short as `true`), or is exiting: its
 * namespaces go before it can be waited for, so the pidfd (readable once it has
 * exited) is given a moment. Not reaped: the exit watch does that. */
static bool launch_ended(const struct sandbox *sb)
{
	struct pollfd p = { .fd = sb->pidfd, .events = POLLIN };
	return poll(&p, 1, 1000) == 1 && (p.revents & POLLIN);
}

/* Its start time and control channel; a restored one goes on (restore_resume). A
 * sandbox that cannot be reached is destroyed, unless it ran and ended already: that
 * is a launch like any other, whose exit the watch then records. */
static int launch_connect(struct launch_ctx *c)
{
	struct launch_job *j = c->j;
	int r = sandbox_start_time(j->sb->pid, &j->io.start_time);

	if (r == 0) {
		j->ctl_fd = ctl_connect(j->sb->pidfd, true);
		r = j->ctl_fd < 0 ? j->ctl_fd : 0;
	}
	if (r < 0 && j->ctl_fd < 0 && !j->io.from && launch_ended(j->sb)) {
		j->ctl_fd = -1;
		return 0;
	}
	if (r == 0 && j->io.from)
		r = restore_resume(j->io.id, j->sb, j->ctl_fd, c->log_fd, c->status_fd);
	if (r == 0)
		return 0;
	sandbox_destroy(j->sb);
	j->sb = NULL;
	launch_fail(j, -EIO, "cannot reach the new sandbox: %s", strerror(-r));
	return r;
}

static void launch_fn(struct work *w)
{
	struct launch_job *j = (struct launch_job *)w;
	struct launch_io *io = &j->io;
	const char *devices[2 * ARRAY_SIZE(io->nodes) + 1] = { 0 };
	_cleanup_(launch_ctx_clear) struct launch_ctx c = { .j = j, .log_fd = -1, .status_fd = -1 };

	/* The GPUs' nodes and their companions, bound into /dev under their own names. */
	for (size_t i = 0; i < io->nnodes; i++) {
		devices[2 * i] = io->nodes[i];
		devices[2 * i + 1] = strrchr(io->nodes[i], '/') + 1;
	}
	/* A failure before its layer removes nothing. */
	if (launch_prepare(&c) < 0)
		return;
	if (launch_net(&c) >= 0 && launch_layer(&c) >= 0) {
		launch_spec(&c, devices);
		if (launch_start(&c) >= 0 && launch_connect(&c) >= 0)
			return;
	}
	/* Failed: its state directory, layer and link pair go. */
	remove_state_dir(io->dir);
	layer_remove(io->id);
	if (io->net_idx) {
		net_release(io->net_idx, &io->req->netp);
		io->net_idx = 0;
	}
}

/* The pool of v1 cgroups, topped up by a worker once a launch has been answered. */
static struct work pool_work;
static atomic_bool pool_queued;

static void pool_fill_fn(struct work *w)
{
	(void)w;
	(void)cgroup_pool_fill();
}

static void pool_fill_done(struct work *w)
{
	(void)w;
	atomic_store(&pool_queued, false);
}

static void launch_pool_refill(void)
{
	if (atomic_exchange(&pool_queued, true))
		return;
	pool_work = (struct work){ .fn = pool_fill_fn, .done = pool_fill_done };
	loop_queue_work(&D.loop, &pool_work);
}

/* Its deadline and bill from its start, and its record: at its launch, or at its take for
 * a warm one, which waits untimed and unbilled. -EAGAIN when the record cannot be
 * written: it is killed (unrecorded, a restart would not find it). */
static int box_begin(struct box *b)
{
	if (!b->pooled) {
		if (b->req.limits.timeout_ns)
			b->deadline_ns = b->started_ns + (int64_t)b->req.limits.timeout_ns;
		bill_start(b);
	}
	box_tick_soon();
	if (box_persist(b) == 0)
		return 0;
	box_kill(b, REASON_FAILED);
	return -EAGAIN;
}

static void launch_done(struct work *w)
{
	struct launch_job *j = (struct launch_job *)w;
	struct box *b = j->b;
	struct reply *rp = j->rp;

	b->jobs--;
	/* What the worker made, handed over. */
	b->envp = TAKE_PTR(j->io.envp);
	b->net_idx = j->io.net_idx;
	b->start_time = j->io.start_time;
	b->cg_id = j->io.cg_id;
	b->cpu_offset_ns = j->io.cpu_offset_ns;
	b->restore_ms = j->io.restore_ms;
	b->restore_stats = TAKE_PTR(j->io.restore_stats);
	json_t *procs = b->from ? json_incref(json_object_get(b->from->meta, "procs")) : NULL;
	if (b->from) { /* the restore is done with its snapshot */
		b->from->users--;
		b->from = NULL;
	}
	if (j->r < 0) {
		gpus_release(b);
		slot_free(b);
		store_sandbox_put(D.store, &(struct store_sandbox){
						   .id = b->id,
						   .tenant = b->tenant,
						   .state = "removed",
						   .spec = "{}",
						   .reason = box_reason_name(REASON_FAILED),
						   .created_ns = b->created_ns,
						   .exit_code = -1,
					   });
		b->state = BOX_REMOVED;
		box_unlink(b);
		D.live--;
		json_decref(procs);
		for (unsigned i = 0; i < j->io.nproc_fds; i++)
			close(j->io.proc_fds[i]);
		reply_fail(rp, j->r, j->err ? j->err : "launch failed");
		reply_release(rp);
		free(j->err);
		free(j);
		box_maybe_free(b);
		return;
	}
	b->sb = j->sb;
	b->ctl_fd = j->ctl_fd;
	/* Its kept processes come back, taken over from sbx-init once the channel is up. */
	exec_restore_kept(b, procs, j->io.proc_fds, j->io.nproc_fds);
	json_decref(procs);
	b->started_ns = real_ns();
	box_running(b);
	free(j);
	if (box_begin(b) < 0) {
		reply_fail(rp, -EAGAIN, D.store_error ? D.store_error : "state database");
		reply_release(rp);
		return;
	}
	logmsg(2, "sandbox %s %s (tenant %s, pid %d)", b->id,
	       b->restored_from ? "restored" : "running", b->tenant, (int)b->pid);
	if (reply_alive(rp)) {
		json_t *o = box_json(b);
		if (b->restored_from)
			json_object_set_new(o, "restore",
					    json_pack("{s:f,s:O}", "duration_ms", b->restore_ms,
						      "criu", b->restore_stats));
		reply_done(rp, REPLY_CREATED, o);
	}
	reply_release(rp);
	launch_pool_refill();
}

/* The operator's defaults where the request set no limit, and its maxima: the limits
 * a sandbox runs under are always the ones it records and is billed for. Writes the
 * effective ones into @spec (the record). -EINVAL with @msg naming the field. */
static int limits_apply(struct api_create *req, json_t *spec, struct why *why)
{
	struct sandbox_limits *l = &req->limits;
	const struct sandbox_limits *def = &D.opt.default_limits, *max = &D.opt.max_limits;
	char cpus[32];

	launch_limits_fill(l, def);
	if (!l->timeout_ns)
		l->timeout_ns = D.opt.default_timeout_ns;
	if (l->memory_bytes > max->memory_bytes)
		return why_set(why, -EINVAL,
			       "limits.memory: at most %" PRIu64 " bytes on this host",
			       max->memory_bytes);
	if (l->cpu_milli > max->cpu_milli)
		return why_set(why, -EINVAL, "limits.cpus: at most %u.%03u on this host",
			       max->cpu_milli / 1000, max->cpu_milli % 1000);
	if (l->pids > max->pids)
		return why_set(why, -EINVAL, "limits.pids: at most %" PRIu64 " on this host",
			       max->pids);
	if (req->writable_bytes > D.opt.max_writable)
		return why_set(why, -EINVAL,
			       "writable_size: at most %" PRIu64 " bytes on this host",
			       D.opt.max_writable);
	json_t *lj = json_object_get(spec, "limits");
	if (!json_is_object(lj)) {
		lj = json_object();
		json_object_set_new(spec, "limits", lj);
	}
	snprintf(cpus, sizeof(cpus), "%u.%03u", l->cpu_milli / 1000, l->cpu_milli % 1000);
	json_object_set_new(lj, "memory", json_integer((json_int_t)l->memory_bytes));
	json_object_set_new(lj, "cpus", json_string(cpus));
	json_object_set_new(lj, "pids", json_integer((json_int_t)l->pids));
	return 0;
}

/* The GPUs a request names ("any": the first free one), in @idx. -errno and why. */
static int gpus_pick(char **names, int *idx, unsigned max, unsigned *ret_n, struct why *why)
{
	unsigned n = 0;

	for (char **g = names; g && *g; g++) {
		char *end, safe[24];
		unsigned long i = strtoul(*g, &end, 10);
		text_printable(*g, safe, sizeof(safe));
		if (!strcmp(*g, "any")) { /* the first free one not taken by this request */
			for (i = 0; i < D.ngpus; i++) {
				bool mine = false;
				for (unsigned k = 0; k < n; k++)
					mine |= idx[k] == (int)i;
				if (!D.gpus[i].holder && !mine)
					break;
			}
			if (i == D.ngpus && D.ngpus)
				return why_set(why, -EBUSY,
					       "gpus: no free GPU left (%u on this host)", D.ngpus);
			if (i == D.ngpus)
				return why_set(why, -EINVAL,
					       "gpus: this host has no GPUs to grant");
			end = *g + strlen(*g);
		}
		if (!**g || *end || i >= D.ngpus)
			return D.ngpus ? why_set(why, -EINVAL,
						 "gpus: \"%s\" is not a GPU of this host (0 to %u)",
						 safe, D.ngpus - 1)
				       : why_set(why, -EINVAL,
						 "gpus: \"%s\": this host has no GPUs to grant",
						 safe);
		bool dup = false;
		for (unsigned k = 0; k < n; k++)
			dup |= idx[k] == (int)i;
		if (dup || n == max)
			return why_set(why, -EINVAL, "gpus: each GPU once, at most %u", max);
		if (D.gpus[i].holder) {
			char free_list[64] = "";
			for (unsigned k = 0; k < D.ngpus; k++)
				if (!D.gpus[k].holder)
					snprintf(free_list + strlen(free_list),
						 sizeof(free_list) - strlen(free_list), "%s%u",
						 free_list[0] ? "," : "", k);
			return why_set(why, -EBUSY, "gpu %lu is held by another sandbox; free: %s",
				       i, free_list[0] ? free_list : "none");
		}
		idx[n++] = (int)i;
	}
	*ret_n = n;
	return 0;
}
static int box_launch(struct reply *rp, const char *tenant, json_t *spec, struct api_create *req,
		      const int *gpu_idx, unsigned ngpu, struct snap *from, struct why *why);

int box_create(struct reply *rp, const char *tenant, const char *body, size_t len, struct why *why)
{
	return box_create_as(rp, tenant, body, len, false, why);
}

int box_create_as(struct reply *rp, const char *tenant, const char *body, size_t len,
		  bool own_labels, struct why *why)
{
	_cleanup_free_ char *err = NULL;
	struct api_create req = { 0 };
	json_error_t jerr;
	int gpu_idx[8], r;
	unsigned ngpu = 0;

	r = apispec_parse_create(body, len, &req, &err);
	if (r == 0 && !own_labels)
		r = apispec_labels_reserved(req.labels, &err);
	if (r < 0) {
		api_create_clear(&req);
		return why_set(why, -EINVAL, "%s", err ? err : strerror(-r));
	}
	if (req.seccomp && strcmp(req.seccomp, "default"))
		r = why_set(why, -EINVAL, "seccomp: only \"default\" is available through the API");
	else if (req.image && (strchr(req.image, '/') || req.image[0] == '.'))
		r = why_set(why, -EINVAL,
			    "image: a name is required (the API does not take paths)");
	else if (req.image_id)
		r = why_set(why, -EINVAL, "image_id: sbxd sets it; ask for an image by name");
	else if (req.net == NET_INTERNET)
		r = net_check(&req.netp, why);
	if (r == 0)
		r = gpus_pick(req.gpus, gpu_idx, ARRAY_SIZE(gpu_idx), &ngpu, why);
	json_t *spec = r < 0 ? NULL : json_loadb(body, len, 0, &jerr);
	if (r == 0 && !spec)
		r = why_set(why, -ENOMEM, "out of memory");
	if (r == 0)
		r = limits_apply(&req, spec, why);
	if (r < 0) {
		json_decref(spec);
		api_create_clear(&req);
		return r;
	}
	return box_launch(rp, tenant, spec, &req, gpu_idx, ngpu, NULL, why);
}

/* A warm sandbox (warm.c) becomes the caller's, as a launch of @spec would have made it
 * (warm_take compared them): the request's record, labels and timeouts, and from now on
 * its clock, its memory integral and its bill. Takes @spec and @req; answers @rp. */
static int box_take(struct box *b, struct reply *rp, const char *tenant, json_t *spec,
		    struct api_create *req, struct why *why)
{
	char *owner = strdup(tenant ? tenant : ADMIN_TENANT);

	if (!owner) {
		box_kill(b, REASON_DELETED); /* out of the pool already */
		api_create_clear(req);
		json_decref(spec);
		return why_set(why, -ENOMEM, "out of memory");
	}
	free(b->tenant);
	b->tenant = owner;
	json_decref(b->spec);
	b->spec = spec;
	api_create_clear(&b->req);
	b->req = *req;
	b->pooled = false;
	b->created_ns = b->started_ns = real_ns();
	b->last_active = mono_ns();
	b->mem_byte_ns = 0;
	b->mem_tick = 0;
	free(b->labels_json);
	b->labels_json = NULL;
	if (box_begin(b) < 0)
		return why_set(why, -EAGAIN, "%s",
			       D.store_error ? D.store_error : "state database");
	logmsg(2, "sandbox %s running (tenant %s, pid %d, warm)", b->id, b->tenant, (int)b->pid);
	reply_done(rp, REPLY_CREATED, box_json(b));
	return 0;
}

/* The launch of a new box, answered on @rp: takes @spec and @req. 0, or -errno and why
 * (nothing was started). */
static int box_launch(struct reply *rp, const char *tenant, json_t *spec, struct api_create *req,
		      const int *gpu_idx, unsigned ngpu, struct snap *from, struct why *why)
{
	if (tenant && box_count_live(tenant) >= D.opt.max_per_tenant) {
		api_create_clear(req);
		json_decref(spec);
		return why_set(why, -EUSERS,
			       "tenant %s runs its maximum of %u sandboxes; delete some first",
			       tenant, D.opt.max_per_tenant);
	}
	int pr = images_pin(tenant, req, spec, why);
	if (pr < 0) {
		api_create_clear(req);
		json_decref(spec);
		return pr;
	}
	if (tenant)
		box_trim_exited(tenant);
	struct box *w = !from && !warm_tenant(tenant) ? warm_take(spec) : NULL;
	if (w)
		return box_take(w, rp, tenant, spec, req, why);
	if (D.live >= D.opt.max_sandboxes && (warm_tenant(tenant) || !warm_evict())) {
		api_create_clear(req);
		json_decref(spec);
		return why_set(why, -EUSERS,
			       "this host runs its maximum of %u sandboxes; delete some first",
			       D.opt.max_sandboxes);
	}
	struct box *b = calloc(1, sizeof(*b));
	struct launch_job *j = calloc(1, sizeof(*j));
	if (b)
		b->ctl_fd = -1;
	if (!b || !j || box_new_id(b->id, sizeof(b->id)) < 0 ||
	    !(b->tenant = strdup(tenant ? tenant : ADMIN_TENANT)) ||
	    asprintf(&b->dir, "%s/sandboxes/%s", D.opt.state_dir, b->id) < 0) {
		free(j);
		if (b)
			box_free(b);
		api_create_clear(req);
		json_decref(spec);
		return why_set(why, -ENOMEM, "out of memory");
	}
	b->spec = spec;
	b->req = *req;
	b->exit_code = -1;
	b->pooled = !from && warm_tenant(tenant);
	if (b->req.record_files && !from) {
		int rr = recorder_new(&b->rec);
		if (rr < 0) {
			free(j);
			box_free(b);
			if (rr == -EAGAIN)
				return why_set(why, rr,
					       "record_files: %d sandboxes record at once; wait "
					       "for one to end",
					       RECORDER_MAX);
			return why_set(why, rr, "record_files: fanotify: %s", strerror(-rr));
		}
	}
	b->state = BOX_CREATING;
	b->slot = D.meter ? slot_alloc() : -1;
	for (unsigned i = 0; i < ngpu; i++) {
		b->gpu_idx[i] = gpu_idx[i];
		D.gpus[gpu_idx[i]].holder = b;
		D.gpus_held++;
	}
	b->ngpu = ngpu;
	b->created_ns = real_ns();
	if (from) {
		/* Its counters go on from the snapshot's. */
		b->from = from;
		from->users++;
		b->restored_from = strdup(from->id);
		b->base = json_incref(json_object_get(from->meta, "usage"));
		b->mem_byte_ns = usage_integral_of(b->base);
	}
	/* No sandbox runs that the database does not know: a restart could not find it. */
	if (box_persist(b) < 0) {
		free(j);
		why_set(why, -EAGAIN, "%s", D.store_error ? D.store_error : "state database");
		if (from)
			from->users--;
		gpus_release(b);
		slot_free(b);
		box_free(b);
		return -EAGAIN;
	}
	box_link(b);
	D.live++;
	*j = (struct launch_job){
		.w = { .fn = launch_fn, .done = launch_done, .slow = from != NULL },
		.b = b,
		.rp = rp,
		.ctl_fd = -1,
		.io = { .id = b->id,
			.dir = b->dir,
			.req = &b->req,
			.slot = b->slot,
			.from = from,
			.rec = b->rec },
	};
	gpu_launch_io(b, &j->io);
	/* The ioctl timer of GPU holders: switched here, on the loop thread that owns the
	 * meter; it stays on until the last holder goes. */
	if (ngpu && b->slot >= 0)
		(void)meter_gpu_timing(D.meter, true);
	b->jobs++;
	reply_hold(rp);
	loop_queue_work(&D.loop, &j->w);
	return 0;
}

int box_create_from(struct reply *rp, struct snap *s, struct why *why)
{
	return box_create_from_labeled(rp, s, NULL, why);
}

int box_create_from_labeled(struct reply *rp, struct snap *s, json_t *labels, struct why *why)
{
	struct api_create req = { 0 };
	_cleanup_free_ char *err = NULL;
	/* The restored sandbox keeps the snapshot's hostname (its UTS namespace comes back):
	 * said so in its spec, which outlives the snapshot. */
	json_t *spec = json_deep_copy(json_object_get(s->meta, "spec"));
	json_t *hn = json_object_get(s->meta, "hostname");
	if (spec && hn && !json_object_get(spec, "hostname"))
		json_object_set(spec, "hostname", hn);
	if (spec && labels) {
		json_t *have = json_object_get(spec, "labels");
		if (!json_is_object(have))
			json_object_set_new(spec, "labels", have = json_object());
		json_object_update(have, labels);
	}
	char *body = spec ? json_dumps(spec, JSON_COMPACT) : NULL;
	int r = body ? apispec_parse_create(body, strlen(body), &req, &err) : -ENOMEM;

	free(body);
	if (r < 0) {
		json_decref(spec);
		return why_set(why, -EIO, "the snapshot's spec is unreadable");
	}
	r = limits_apply(&req, spec, why);
	if (r == 0 && req.net == NET_INTERNET)
		r = net_check(&req.netp, why);
	if (r < 0) {
		json_decref(spec);
		api_create_clear(&req);
		return r;
	}
	return box_launch(rp, s->tenant, spec, &req, NULL, 0, s, why);
}
