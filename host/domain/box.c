// SPDX-License-Identifier: MIT
/* Sandboxes in sbxd: create (launch on a worker), exits, timeouts, delete, re-adoption
 * after a restart, and the commands (exec) and files that reach inside them. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <seccomp.h>
#include <fcntl.h>
#include <http_parser.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
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
#include "../sys/b64.h"
#include "internal.h"
#include "../sys/devices.h"
#include "../sys/layer.h"
#include "../sys/meter.h"
#include "../sys/store.h"
#include "../sys/usage.h"

#define EXITED_KEEP_NS 3600000000000LL /* exited sandboxes stay listed this long */
#define CTL_RETRY_NS 30000000000LL     /* a control channel that cannot be reached yet */

static const char *const state_names[] = { "creating", "running", "exited", "removed" };
static const char *const reason_names[_REASON_MAX] = {
	[REASON_EXITED] = "exited",
	[REASON_FAILED] = "failed",
	[REASON_CHECKPOINTED] = "checkpointed",
	[REASON_TIMEOUT] = "timeout",
	[REASON_IDLE_TIMEOUT] = "idle_timeout",
	[REASON_DELETED] = "deleted",
	[REASON_LOST] = "lost",
};

const char *box_reason_name(enum box_reason r)
{
	return r > REASON_NONE && r < _REASON_MAX ? reason_names[r] : NULL;
}

int box_reason_parse(const char *name)
{
	for (int r = REASON_NONE + 1; r < _REASON_MAX; r++)
		if (!strcmp(name, reason_names[r]))
			return r;
	return -EINVAL;
}

const char *box_state_name(enum box_state s)
{
	return state_names[s];
}

static unsigned hash_id(const char *id)
{
	unsigned h = 2166136261u;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % ARRAY_SIZE(D.hash);
}

struct box *box_find(const char *id, const char *tenant)
{
	for (struct box *b = D.hash[hash_id(id)]; b; b = b->hnext)
		if (!strcmp(b->id, id) && !b->removing)
			return !tenant || !strcmp(tenant, b->tenant) ? b : NULL;
	return NULL;
}

static void box_link(struct box *b)
{
	unsigned h = hash_id(b->id);
	b->hnext = D.hash[h];
	D.hash[h] = b;
	b->prev = D.boxes_tail;
	if (D.boxes_tail)
		D.boxes_tail->next = b;
	else
		D.boxes = b;
	D.boxes_tail = b;
}

static void box_unlink(struct box *b)
{
	for (struct box **p = &D.hash[hash_id(b->id)]; *p; p = &(*p)->hnext)
		if (*p == b) {
			*p = b->hnext;
			break;
		}
	if (b->prev)
		b->prev->next = b->next;
	else
		D.boxes = b->next;
	if (b->next)
		b->next->prev = b->prev;
	else
		D.boxes_tail = b->prev;
	b->next = b->prev = NULL;
}

static void box_free(struct box *b)
{
	json_decref(b->spec);
	api_create_clear(&b->req);
	strv_free(b->envp);
	free(b->dir);
	free(b->tenant);
	free(b->cgroup_json);
	free(b->usage_final);
	free(b->labels_json);
	free(b->cg_rel);
	free(b->snapshot_id);
	free(b->restored_from);
	json_decref(b->base);
	json_decref(b->restore_stats);
	closep(&b->ctl_fd);
	closep(&b->cpu_fd);
	closep(&b->mem_fd);
	if (b->sb)
		sandbox_destroy(b->sb);
	free(b);
}

/* Frees a removed box once nothing refers to it. */
void box_maybe_free(struct box *b)
{
	if (b->state == BOX_REMOVED && !b->ops && !b->jobs && !b->execs && !b->waiter)
		box_free(b);
}

static json_t *time_json(int64_t ns)
{
	char buf[40];
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;

	if (!ns)
		return json_null();
	gmtime_r(&s, &tm);
	size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%03dZ", (int)(ns / 1000000 % 1000));
	return json_string(buf);
}

json_t *box_json(const struct box *b)
{
	json_t *labels = json_object();
	for (char **l = b->req.labels; l && l[0]; l += 2)
		json_object_set_new(labels, l[0], json_string(l[1]));
	json_t *cmd = json_array();
	for (char **a = b->req.cmd; a && *a; a++)
		json_array_append_new(cmd, json_string(*a));
	const struct sandbox_limits *lim = &b->req.limits;
	json_t *limits =
		json_pack("{s:I,s:f,s:I,s:I,s:I}", "memory_bytes", (json_int_t)lim->memory_bytes,
			  "cpus", lim->cpu_milli / 1000.0, "pids", (json_int_t)lim->pids,
			  "timeout_s", (json_int_t)(lim->timeout_ns / 1000000000ULL),
			  "idle_timeout_s", (json_int_t)(b->req.idle_timeout_ns / 1000000000ULL));
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", b->id,
			      "state", box_state_name(b->state), "tenant", b->tenant, "image",
			      b->req.image ? b->req.image : LAUNCH_DEFAULT_IMAGE, "cmd", cmd,
			      "labels", labels, "limits", limits, "created_at",
			      time_json(b->created_ns), "started_at", time_json(b->started_ns),
			      "ended_at", time_json(b->ended_ns), "deadline_at",
			      time_json(b->state == BOX_RUNNING ? b->deadline_ns : 0), "spec",
			      json_incref(b->spec));
	json_object_set_new(j, "exit_code",
			    b->exit_code >= 0 ? json_integer(b->exit_code) : json_null());
	json_object_set_new(j, "reason",
			    b->reason ? json_string(box_reason_name(b->reason)) : json_null());
	json_object_set_new(j, "pid",
			    b->state == BOX_RUNNING && b->pid > 0 ? json_integer(b->pid)
								  : json_null());
	json_object_set_new(j, "hostname", json_string(launch_hostname(b->req.hostname, b->id)));
	json_object_set_new(j, "net",
			    json_string(b->req.net == NET_LOOPBACK ? "loopback" : "none"));
	if (b->restored_from)
		json_object_set_new(j, "restored_from", json_string(b->restored_from));
	if (b->snapshot_id)
		json_object_set_new(j, "snapshot", json_string(b->snapshot_id));
	return j;
}

static int persist(struct box *b)
{
	char *spec = json_dumps(b->spec, JSON_COMPACT | JSON_SORT_KEYS), *base = NULL;
	if (b->restored_from || b->snapshot_id) {
		json_t *o = json_pack("{s:s?,s:s?,s:O?,s:I}", "restored_from", b->restored_from,
				      "snapshot", b->snapshot_id, "usage", b->base, "cpu_offset_ns",
				      (json_int_t)b->cpu_offset_ns);
		base = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(o);
	}
	struct store_sandbox s = {
		.id = b->id,
		.tenant = b->tenant,
		.state = box_state_name(b->state),
		.spec = spec ? spec : "{}",
		.cgroup = b->cgroup_json,
		.reason = box_reason_name(b->reason),
		.created_ns = b->created_ns,
		.ended_ns = b->ended_ns,
		.deadline_ns = b->deadline_ns,
		.exit_code = b->exit_code,
		.pid = b->state == BOX_RUNNING ? b->pid : 0,
		.start_time = b->start_time,
		.slot = b->slot,
		.usage = b->usage_final,
		.base = base,
	};
	int r = store_sandbox_put(D.store, &s);
	if (r < 0) {
		logmsg(0, "state database: cannot record sandbox %s: %s", b->id, strerror(-r));
		free(D.store_error);
		if (asprintf(&D.store_error, "cannot record sandboxes: %s", strerror(-r)) < 0)
			D.store_error = NULL;
	} else if (D.store_error) {
		free(D.store_error);
		D.store_error = NULL;
	}
	free(spec);
	free(base);
	return r;
}

unsigned box_count_live(const char *tenant)
{
	unsigned n = 0;
	for (struct box *b = D.boxes; b; b = b->next)
		n += (b->state == BOX_CREATING || b->state == BOX_RUNNING) && !b->removing &&
		     (!tenant || !strcmp(tenant, b->tenant));
	return n;
}

/* ---- environment ---- */

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

/* ---- usage ---- */

static int slot_alloc(void)
{
	for (int i = 0; i < METER_SLOTS; i++)
		if (!D.slot_used[i]) {
			D.slot_used[i] = 1;
			return i;
		}
	return -1;
}

/* The sandbox stops counting; its slot is free for the next one. */
static void slot_free(struct box *b)
{
	if (b->slot < 0)
		return;
	if (D.meter && b->cg_id)
		(void)meter_detach(D.meter, b->cg_id);
	D.slot_used[b->slot] = 0;
	b->slot = -1;
}

/* Counting the devices a box holds, from zero (@fresh) or on (re-adoption). */
static int gpus_meter(int slot, const uint64_t *rdevs, unsigned ngpu, bool fresh)
{
	for (unsigned i = 0; i < ngpu; i++) {
		int r = meter_gpu_grant(D.meter, (uint32_t)slot, i, rdevs[i], fresh);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The box gives its devices back; the ioctl timer goes off with the last holder. */
static void gpus_release(struct box *b)
{
	uint64_t rdevs[ROOTFS_MAX_DEVICES];
	if (D.devices && b->cg_id)
		devices_forget(D.devices, b->cg_id, rdevs,
			       gpu_nodes_of(b, NULL, rdevs, ARRAY_SIZE(rdevs)));
	for (unsigned i = 0; i < b->ngpu; i++) {
		struct gpu *g = &D.gpus[b->gpu_idx[i]];
		if (D.meter && b->slot >= 0)
			(void)meter_gpu_revoke(D.meter, (uint32_t)b->slot, g->node_rdev[0]);
		if (g->holder == b) {
			g->holder = NULL;
			D.gpus_held--;
		}
	}
	b->ngpu = 0;
	if (D.meter && !D.gpus_held)
		(void)meter_gpu_timing(D.meter, false);
}

/* Runs on the launch worker once the cgroups exist, before the sandbox does: its meter
 * slot, and its device allowlist with the nodes of its GPUs. (The ioctl timer of GPU
 * holders is the loop thread's to switch: box_launch did.) */
static int on_cgroup(const struct cgroup *cg, void *userdata)
{
	struct launch_io *io = userdata;
	int r = usage_cgroup_id(cg->v2_path, &io->cg_id);
	if (r == 0 && D.devices)
		r = devices_attach(D.devices, cg->v2_fd, io->cg_id, io->node_rdevs, io->nnodes);
	if (r < 0 || io->slot < 0 || io->from)
		return r; /* a restore attaches its meter once CRIU is done */
	r = gpus_meter(io->slot, io->gpu_rdevs, io->ngpu, true);
	return r < 0 ? r : meter_attach(D.meter, io->cg_id, (uint32_t)io->slot, true);
}

void box_meter_tick(int64_t mono)
{
	uint64_t cur;

	for (struct box *b = D.boxes; b; b = b->next) {
		if (b->state != BOX_RUNNING || usage_pread(b->mem_fd, NULL, &cur) < 0)
			continue;
		if (b->mem_tick)
			b->mem_byte_ns += cur * (uint64_t)(mono - b->mem_tick);
		b->mem_tick = mono;
		if (b->ngpu)
			gpu_nvml_tick(b, mono);
	}
}

static json_t *usage_now(struct box *b)
{
	int64_t end = b->ended_ns ? b->ended_ns : real_ns();
	struct usage_src src = {
		.id = b->id,
		.tenant = b->tenant,
		.state = box_state_name(b->state),
		.wall_ns = b->started_ns ? end - b->started_ns : 0,
		.cg = b->sb ? b->sb->cg : NULL,
		.mem_byte_ns = b->mem_byte_ns,
		.mem_tick = b->mem_tick,
		.limits = &b->req.limits,
		.meter = D.meter,
		.slot = b->slot,
		.meter_off = !D.meter ? D.meter_why : "this sandbox has no meter slot",
	};
	struct usage_gpu gpus[8];
	for (unsigned i = 0; i < b->ngpu; i++)
		gpus[i] = (struct usage_gpu){
			.path = D.gpus[b->gpu_idx[i]].nodes[0],
			.model = D.gpus[b->gpu_idx[i]].model,
			.index = i,
			.nvml_off = !D.nvml ? (D.nvml_why ? D.nvml_why : "no NVML")
				    : !D.gpus[b->gpu_idx[i]].nvml_dev ? "not an NVML device"
								      : NULL,
			.busy_ns = b->gpu_use[i].busy_ns,
			.mem_bytes = b->gpu_use[i].mem_bytes,
			.mem_peak_bytes = b->gpu_use[i].mem_peak_bytes,
		};
	src.gpus = gpus;
	src.ngpus = b->ngpu;
	json_t *u = usage_json(&src);
	if (b->base || b->cpu_offset_ns)
		usage_add_base(u, b->base, b->cpu_offset_ns);
	if (b->restored_from)
		json_object_set_new(u, "restored_from", json_string(b->restored_from));
	return u;
}

json_t *box_usage_json(struct box *b)
{
	json_t *j = b->usage_final ? json_loads(b->usage_final, 0, NULL) : NULL;
	if (!j)
		return usage_now(b);
	json_object_set_new(j, "state", json_string(box_state_name(b->state)));
	return j;
}

/* The last reading, kept for the record, before the meter slot and cgroups go. */
static void usage_finalize(struct box *b)
{
	if (b->usage_final)
		return;
	json_t *u = usage_now(b);
	b->usage_final = json_dumps(u, JSON_COMPACT);
	json_decref(u);
	bill_final(b); /* the last window, while its counters are there */
	closep(&b->cpu_fd);
	closep(&b->mem_fd);
	gpus_release(b);
	slot_free(b);
}

/* ---- launch ---- */

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

static char *cgroup_to_json(const struct cgroup *cg)
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

static void remove_state_dir(const char *dir)
{
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_type != DT_DIR)
			(void)unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	(void)rmdir(dir);
}

/* An exited sandbox leaves the list (the database keeps its record), and its log and
 * status files go. */
static void box_expire(struct box *b)
{
	remove_state_dir(b->dir);
	b->state = BOX_REMOVED;
	box_unlink(b);
	box_maybe_free(b);
}

/* Exited sandboxes a tenant keeps listed (with their logs on disk): as many as it may
 * run; past that its oldest goes, so that creating sandboxes that exit at once does not
 * fill the host's disk with logs. */
static void box_trim_exited(const char *tenant)
{
	struct box *oldest = NULL;
	unsigned n = 0;

	for (struct box *b = D.boxes; b; b = b->next)
		if (b->state == BOX_EXITED && !b->removing && !b->jobs && !b->execs &&
		    !strcmp(b->tenant, tenant)) {
			n++;
			if (!oldest || b->ended_ns < oldest->ended_ns)
				oldest = b;
		}
	if (oldest && n >= D.opt.max_per_tenant)
		box_expire(oldest);
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

static void launch_fn(struct work *w)
{
	struct launch_job *j = (struct launch_job *)w;
	struct launch_io *io = &j->io;
	const struct api_create *req = io->req;
	_cleanup_(image_freep) struct image *img = NULL;
	_cleanup_close_ int log_fd = -1, status_fd = -1;
	struct sandbox_error se = { 0 };
	char *ierr = NULL;
	const char *devices[2 * ARRAY_SIZE(io->nodes) + 1] = { 0 };
	int r;

	/* The GPUs' nodes and their companions, bound into /dev under their own names. */
	for (size_t i = 0; i < io->nnodes; i++) {
		devices[2 * i] = io->nodes[i];
		devices[2 * i + 1] = strrchr(io->nodes[i], '/') + 1;
	}

	r = image_open(req->image ? req->image : LAUNCH_DEFAULT_IMAGE, D.opt.images_dir, &img,
		       &ierr);
	if (r < 0) {
		if (asprintf(&j->err, "image: %s", ierr ? ierr : strerror(-r)) < 0)
			j->err = NULL;
		free(ierr);
		j->r = r == -ENOENT ? -EINVAL : -EIO;
		return;
	}
	r = build_env(io, img);
	if (r == 0)
		r = open_state_files(io->dir, &log_fd, &status_fd);
	if (r < 0) {
		j->r = -EIO;
		if (asprintf(&j->err, "cannot prepare the sandbox: %s", strerror(-r)) < 0)
			j->err = NULL;
		return;
	}
	/* A layer of its own on the host, reachable for checkpoints. */
	char layer[256];
	uint64_t wbytes = req->writable_bytes ? req->writable_bytes : D.opt.writable_default;
	bool own_layer = wbytes;
	if (own_layer) {
		r = layer_create(io->id, wbytes);
		if (r == 0)
			r = layer_path(io->id, NULL, layer, sizeof(layer));
		if (r < 0) {
			j->r = -EIO;
			if (asprintf(&j->err, "cannot prepare the writable layer: %s",
				     strerror(-r)) < 0)
				j->err = NULL;
			goto fail;
		}
	}
	struct sandbox_spec spec = {
		.id = io->id,
		.rootfs = img->rootfs,
		.binds = (const char *const *)img->binds,
		.argv = req->cmd,
		.envp = io->envp,
		.workdir = req->workdir,
		.hostname = req->hostname,
		.set_user = req->set_user,
		.uid = req->uid,
		.gid = req->gid,
		.limits = req->limits,
		.writable_bytes = wbytes,
		.layer_dir = own_layer ? layer : NULL,
		.tmp_bytes = D.opt.tmp_bytes,
		.net = req->net,
		.control = true,
		.filter = D.filter,
		.stdio = { D.devnull, log_fd, log_fd },
		.log_fd = log_fd,
		.log_cap = D.opt.log_cap,
		.status_fd = status_fd,
		.on_cgroup = io->slot >= 0 || D.devices ? on_cgroup : NULL,
		.userdata = io,
		.devices = devices,
	};
	/* Metered even without a limit. (Set here, not in the initializer above: a second
	 * designator for a member of .limits would reset the whole of it.) */
	spec.limits.memory_account = true;
	if (io->from) {
		r = snap_restore(io, &spec, img, log_fd, status_fd, &j->sb, &j->err);
		if (r < 0) {
			j->r = -EIO;
			if (!j->err && asprintf(&j->err, "restore failed: %s", strerror(-r)) < 0)
				j->err = NULL;
			goto fail;
		}
	} else {
		r = sandbox_start(&spec, D.opt.init_path, &j->sb, &se);
	}
	if (r < 0) {
		bool user_error = (se.stage == STAGE_WORKDIR &&
				   (r == -ENOENT || r == -ENOTDIR || r == -ELOOP || r == -EACCES ||
				    r == -ENAMETOOLONG)) ||
				  (se.stage == STAGE_CGROUP && r == -EOPNOTSUPP);
		j->r = user_error ? -EINVAL : r == -ENOSPC || r == -EAGAIN ? -EAGAIN : -EIO;
		if (se.stage == STAGE_WORKDIR)
			r = asprintf(&j->err, "workdir: %s: %s", req->workdir, strerror(-r));
		else
			r = asprintf(&j->err, "launch failed at %s: %s",
				     sandbox_stage_name(se.stage), strerror(-r));
		if (r < 0)
			j->err = NULL;
		goto fail;
	}
	r = sandbox_start_time(j->sb->pid, &io->start_time);
	if (r == 0) {
		j->ctl_fd = ctl_connect(j->sb->pidfd, true);
		r = j->ctl_fd < 0 ? j->ctl_fd : 0;
	}
	if (r == 0 && io->from)
		r = restore_resume(io->id, j->sb, j->ctl_fd, log_fd, status_fd);
	if (r == 0)
		return;
	sandbox_destroy(j->sb);
	j->sb = NULL;
	j->r = -EIO;
	if (asprintf(&j->err, "cannot reach the new sandbox: %s", strerror(-r)) < 0)
		j->err = NULL;
fail:
	remove_state_dir(io->dir);
	layer_remove(io->id);
}

static void pid_done(struct loop_op *op, int res, uint32_t flags);
static void ctl_done(struct loop_op *op, int res, uint32_t flags);

static void ctl_arm(struct box *b)
{
	b->ctl_op.cb = ctl_done;
	struct io_uring_sqe *sqe = loop_sqe(&D.loop, &b->ctl_op);
	io_uring_prep_recv(sqe, b->ctl_fd, &b->ctl_buf, sizeof(b->ctl_buf), 0);
	b->ops++;
}

/* Opens its control channel into b->ctl_fd; its backlog full (processes inside connect
 * to it), the tick tries again for a while (ctl_retry_until), never a wait here. 0, or
 * -errno when it cannot be served. */
static int ctl_open(struct box *b)
{
	int fd = ctl_connect(b->sb->pidfd, true);

	if (fd == -EAGAIN) {
		if (!b->ctl_retry_until)
			b->ctl_retry_until = mono_ns() + CTL_RETRY_NS;
		return 0;
	}
	if (fd < 0)
		return fd;
	b->ctl_retry_until = 0;
	b->ctl_fd = fd;
	return 0;
}

int box_ctl_connect(struct box *b)
{
	int r = ctl_open(b);
	if (r == 0 && b->ctl_fd >= 0)
		ctl_arm(b);
	return r;
}

static void pid_arm(struct box *b)
{
	b->pid_op.cb = pid_done;
	struct io_uring_sqe *sqe = loop_sqe(&D.loop, &b->pid_op);
	io_uring_prep_poll_add(sqe, b->sb->pidfd, POLLIN);
	b->ops++;
}

/* The box now runs: watch its exit and its control channel. */
static void box_running(struct box *b)
{
	box_tick_soon();
	b->state = BOX_RUNNING;
	b->pid = b->sb->pid;
	b->last_active = mono_ns();
	free(b->cgroup_json);
	b->cgroup_json = cgroup_to_json(b->sb->cg);
	closep(&b->cpu_fd);
	closep(&b->mem_fd);
	free(b->cg_rel);
	const char *v2 = b->sb->cg->v2_path;
	b->cg_rel = strdup(v2 + strlen(b->sb->cg->mode == CGROUP_HYBRID ? "/sys/fs/cgroup/unified"
									: "/sys/fs/cgroup"));
	b->cpu_fd = usage_open_cpu(b->sb->cg);
	b->mem_fd = usage_open_memory(b->sb->cg);
	pid_arm(b);
	if (b->ctl_fd >= 0)
		ctl_arm(b);
}

static void launch_done(struct work *w)
{
	struct launch_job *j = (struct launch_job *)w;
	struct box *b = j->b;
	struct reply *rp = j->rp;

	b->jobs--;
	/* What the worker made, handed over. */
	b->envp = TAKE_PTR(j->io.envp);
	b->start_time = j->io.start_time;
	b->cg_id = j->io.cg_id;
	b->cpu_offset_ns = j->io.cpu_offset_ns;
	b->restore_ms = j->io.restore_ms;
	b->restore_stats = TAKE_PTR(j->io.restore_stats);
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
		reply_fail(rp, j->r, j->err ? j->err : "launch failed");
		reply_release(rp);
		free(j->err);
		free(j);
		box_maybe_free(b);
		return;
	}
	b->sb = j->sb;
	b->ctl_fd = j->ctl_fd;
	b->started_ns = real_ns();
	if (b->req.limits.timeout_ns)
		b->deadline_ns = b->started_ns + (int64_t)b->req.limits.timeout_ns;
	box_running(b);
	bill_start(b);
	free(j);
	if (persist(b) < 0) {
		/* Unrecorded, a restart would not find it: it does not stay. */
		box_kill(b, REASON_FAILED);
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
}

int box_new_id(char *buf, size_t size)
{
	int r;

	do
		r = launch_id_new("", buf, size);
	while (r == 0 && box_find(buf, NULL));
	return r;
}

static int box_launch(struct reply *rp, const char *tenant, json_t *spec, struct api_create *req,
		      const int *gpu_idx, unsigned ngpu, struct snap *from, struct why *why);

/* The operator's defaults where the request set no limit, and its maxima: the limits
 * a sandbox runs under are always the ones it records and is billed for. Writes the
 * effective ones into @spec (the record). -EINVAL with @msg naming the field. */
static int limits_apply(struct api_create *req, json_t *spec, struct why *why)
{
	struct sandbox_limits *l = &req->limits;
	const struct sandbox_limits *def = &D.opt.default_limits, *max = &D.opt.max_limits;
	char cpus[32];

	launch_limits_fill(l, def);
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

int box_create(struct reply *rp, const char *tenant, const char *body, size_t len, struct why *why)
{
	_cleanup_free_ char *err = NULL;
	struct api_create req = { 0 };
	json_error_t jerr;
	int gpu_idx[8], r;
	unsigned ngpu = 0;

	r = apispec_parse_create(body, len, &req, &err);
	if (r < 0)
		return why_set(why, -EINVAL, "%s", err ? err : strerror(-r));
	if (req.seccomp && strcmp(req.seccomp, "default"))
		r = why_set(why, -EINVAL, "seccomp: only \"default\" is available through the API");
	else if (req.image && (strchr(req.image, '/') || req.image[0] == '.'))
		r = why_set(why, -EINVAL,
			    "image: a name is required (the API does not take paths)");
	else
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

/* The launch of a new box, answered on @rp: takes @spec and @req. 0, or -errno and why
 * (nothing was started). */
static int box_launch(struct reply *rp, const char *tenant, json_t *spec, struct api_create *req,
		      const int *gpu_idx, unsigned ngpu, struct snap *from, struct why *why)
{
	if (D.live >= D.opt.max_sandboxes) {
		api_create_clear(req);
		json_decref(spec);
		return why_set(why, -EUSERS,
			       "this host runs its maximum of %u sandboxes; delete some first",
			       D.opt.max_sandboxes);
	}
	if (tenant && box_count_live(tenant) >= D.opt.max_per_tenant) {
		api_create_clear(req);
		json_decref(spec);
		return why_set(why, -EUSERS,
			       "tenant %s runs its maximum of %u sandboxes; delete some first",
			       tenant, D.opt.max_per_tenant);
	}
	if (tenant)
		box_trim_exited(tenant);
	struct box *b = calloc(1, sizeof(*b));
	struct launch_job *j = calloc(1, sizeof(*j));
	if (b)
		b->ctl_fd = b->cpu_fd = b->mem_fd = -1;
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
	b->state = BOX_CREATING;
	b->slot = D.meter ? slot_alloc() : -1;
	for (unsigned i = 0; i < ngpu; i++) {
		b->gpu_idx[i] = gpu_idx[i];
		D.gpus[gpu_idx[i]].holder = b;
		D.gpus_held++;
	}
	b->ngpu = ngpu;
	b->created_ns = real_ns();
	if (!b->req.limits.timeout_ns)
		b->req.limits.timeout_ns = D.opt.default_timeout_ns;
	if (from) {
		/* Its counters go on from the snapshot's. */
		b->from = from;
		from->users++;
		b->restored_from = strdup(from->id);
		b->base = json_incref(json_object_get(from->meta, "usage"));
		b->mem_byte_ns =
			(uint64_t)json_integer_value(json_object_get(b->base, "memory_byte_ns"));
	}
	/* No sandbox runs that the database does not know: a restart could not find it. */
	if (persist(b) < 0) {
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
		.io = { .id = b->id, .dir = b->dir, .req = &b->req, .slot = b->slot, .from = from },
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
	struct api_create req = { 0 };
	_cleanup_free_ char *err = NULL;
	/* The restored sandbox keeps the snapshot's hostname (its UTS namespace comes back):
	 * said so in its spec, which outlives the snapshot. */
	json_t *spec = json_deep_copy(json_object_get(s->meta, "spec"));
	json_t *hn = json_object_get(s->meta, "hostname");
	if (spec && hn && !json_object_get(spec, "hostname"))
		json_object_set(spec, "hostname", hn);
	char *body = spec ? json_dumps(spec, JSON_COMPACT) : NULL;
	int r = body ? apispec_parse_create(body, strlen(body), &req, &err) : -ENOMEM;

	free(body);
	if (r < 0) {
		json_decref(spec);
		return why_set(why, -EIO, "the snapshot's spec is unreadable");
	}
	r = limits_apply(&req, spec, why);
	if (r < 0) {
		json_decref(spec);
		api_create_clear(&req);
		return r;
	}
	return box_launch(rp, s->tenant, spec, &req, NULL, 0, s, why);
}

/* ---- exits, teardown, delete ---- */

struct teardown_job {
	struct work w;
	struct box *b;
	struct sandbox *sb;
	bool remove_dir;
};

static void delete_continue(struct box *b);

static void teardown_fn(struct work *w)
{
	struct teardown_job *j = (struct teardown_job *)w;
	if (j->sb) {
		int r = sandbox_destroy(j->sb);
		if (r < 0)
			logmsg(1, "sandbox %s: teardown: %s", j->b->id, strerror(-r));
	}
	layer_remove(j->b->id);
	if (j->remove_dir)
		remove_state_dir(j->b->dir);
}

static void teardown_done(struct work *w)
{
	struct teardown_job *j = (struct teardown_job *)w;
	struct box *b = j->b;

	free(j);
	b->jobs--;
	if (b->removing && b->waiter && !b->jobs)
		delete_continue(b);
	else
		box_maybe_free(b);
}

static void teardown_queue(struct box *b, bool remove_dir)
{
	struct teardown_job *j = calloc(1, sizeof(*j));

	if (!j) { /* nothing better to do than block */
		sandbox_destroy(b->sb);
		b->sb = NULL;
		layer_remove(b->id);
		return;
	}
	*j = (struct teardown_job){ .w = { .fn = teardown_fn, .done = teardown_done },
				    .b = b,
				    .sb = TAKE_PTR(b->sb),
				    .remove_dir = remove_dir };
	b->jobs++;
	loop_queue_work(&D.loop, &j->w);
}

static void ctl_close(struct box *b)
{
	if (b->ctl_fd < 0)
		return;
	shutdown(b->ctl_fd, SHUT_RDWR);
	close(b->ctl_fd);
	b->ctl_fd = -1;
}

/* The sandbox stopped (or is being removed): every command in it ends too. */
static void box_stopped(struct box *b, int code)
{
	box_tick_soon();
	if (b->state == BOX_RUNNING || b->state == BOX_CREATING)
		D.live--;
	b->state = BOX_EXITED;
	b->ended_ns = real_ns();
	usage_finalize(b);
	if (!b->reason)
		b->reason = REASON_EXITED;
	if (b->reason == REASON_TIMEOUT || b->reason == REASON_IDLE_TIMEOUT)
		code = 124;
	b->exit_code = code;
	ctl_close(b);
	exec_all_stopped(b);
}

static int read_status(const char *dir)
{
	char path[4096], buf[32] = "";
	int code = -1;

	snprintf(path, sizeof(path), "%s/status", dir);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0)
		(void)sscanf(buf, "exit %d", &code);
	return code;
}

static void pid_done(struct loop_op *op, int res, uint32_t flags)
{
	struct box *b = (struct box *)((char *)op - offsetof(struct box, pid_op));

	b->ops--;
	if (b->removing || b->state != BOX_RUNNING) {
		box_maybe_free(b);
		return;
	}
	if (res < 0 && res != -ECANCELED) {
		/* Cannot watch it: stop it rather than lose track of it. */
		logmsg(0, "sandbox %s: watching its exit: %s; killing it", b->id, strerror(-res));
		(void)sandbox_kill(b->sb);
	}
	if (b->ckpt) { /* the dump holds its cgroups: after it */
		b->exit_pending = true;
		return;
	}
	box_exited(b);
}

void box_exited(struct box *b)
{
	int code = sandbox_wait(b->sb);
	if (code < 0) /* not our child (re-adopted): sbx-init left its status */
		code = read_status(b->dir);
	logmsg(2, "sandbox %s exited (%d)", b->id, code);
	box_stopped(b, code);
	persist(b);
	teardown_queue(b, false);
}

void box_kill(struct box *b, enum box_reason reason)
{
	if (b->killing || !b->sb)
		return;
	b->killing = true;
	b->reason = reason;
	(void)sandbox_kill(b->sb);
}

int box_set_timeout(struct box *b, uint64_t timeout_ns)
{
	if (b->state != BOX_RUNNING || b->killing)
		return -ESRCH;
	b->deadline_ns = real_ns() + (int64_t)timeout_ns;
	b->req.limits.timeout_ns = timeout_ns;
	box_tick_soon();
	persist(b);
	return 0;
}

static void delete_continue(struct box *b)
{
	struct reply *rp = b->waiter;

	if (b->jobs)
		return; /* a teardown runs; its completion calls again */
	if (!b->torn_down) {
		b->torn_down = true;
		teardown_queue(b, true);
		return;
	}
	b->waiter = NULL;
	b->state = BOX_REMOVED;
	b->ended_ns = b->ended_ns ? b->ended_ns : real_ns();
	persist(b);
	if (reply_alive(rp)) {
		json_t *j = box_json(b);
		json_object_set_new(j, "usage", box_usage_json(b));
		reply_done(rp, REPLY_OK, j);
	}
	reply_release(rp);
	logmsg(2, "sandbox %s removed", b->id);
	box_unlink(b);
	box_maybe_free(b);
}

int box_delete(struct reply *rp, struct box *b, struct why *why)
{
	if (b->state == BOX_CREATING)
		return why_set(why, -EBUSY, "sandbox %s is still being created", b->id);
	if (b->ckpt)
		return why_set(why, -EBUSY, "sandbox %s is being checkpointed", b->id);
	b->removing = true;
	b->waiter = rp;
	reply_hold(rp);
	if (b->state == BOX_RUNNING) {
		b->reason = REASON_DELETED;
		(void)sandbox_kill(b->sb);
		box_stopped(b, 137);
	}
	/* The exit watch and the control channel end with it. */
	if (b->ops) {
		io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &b->pid_op, 0);
		io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &b->ctl_op, 0);
	}
	if (!b->jobs)
		delete_continue(b);
	return 0;
}

/* ---- timers ---- */

/* The next time the scan below has something to do: it is skipped until then (a
 * thousand idle sandboxes need no look ten times a second), and at least once a second.
 * Anything that may bring a due time closer calls box_tick_soon(). */
static int64_t due_real, due_mono, last_scan;

void box_tick_soon(void)
{
	due_real = due_mono = 0;
}

static void due_at(int64_t *due, int64_t t)
{
	if (!*due || t < *due)
		*due = t;
}

void box_tick(int64_t mono, int64_t real)
{
	if (due_real && due_mono && real < due_real && mono < due_mono &&
	    mono - last_scan < 1000000000)
		return;
	last_scan = mono;
	due_real = real + 1000000000;
	due_mono = mono + 1000000000;
	for (struct box *b = D.boxes, *n; b; b = n) {
		n = b->next;
		if (b->state == BOX_RUNNING && !b->removing && !b->ckpt && b->ctl_retry_until &&
		    b->ctl_fd < 0 && !b->killing) {
			if (mono >= b->ctl_retry_until) {
				logmsg(1,
				       "sandbox %s: its control channel stayed unreachable; "
				       "stopping it",
				       b->id);
				box_kill(b, REASON_LOST);
			} else if (box_ctl_connect(b) < 0) {
				box_kill(b, REASON_LOST);
			} else {
				due_at(&due_mono, mono + 100000000);
			}
		}
		if (b->state == BOX_RUNNING && !b->removing && !b->ckpt) {
			if (b->deadline_ns && real >= b->deadline_ns)
				box_kill(b, REASON_TIMEOUT);
			else if (b->req.idle_timeout_ns && !b->execs &&
				 mono - b->last_active >= (int64_t)b->req.idle_timeout_ns)
				box_kill(b, REASON_IDLE_TIMEOUT);
			if (b->deadline_ns)
				due_at(&due_real, b->deadline_ns);
			if (b->req.idle_timeout_ns)
				due_at(&due_mono, b->last_active + (int64_t)b->req.idle_timeout_ns);
		}
		/* Commands, checkpoints, teardowns and the like: look again at the next tick. */
		if (b->execs || b->ckpt || b->jobs)
			due_at(&due_mono, mono);
		if (b->state == BOX_EXITED && !b->removing)
			due_at(&due_real, b->ended_ns + EXITED_KEEP_NS + 1);
		exec_tick(b, mono);
		/* Exited sandboxes stay listed for a while; the database keeps them. */
		if (b->state == BOX_EXITED && !b->removing && !b->jobs && !b->execs &&
		    real - b->ended_ns > EXITED_KEEP_NS)
			box_expire(b);
	}
}

void box_kill_all(void)
{
	for (struct box *b = D.boxes; b; b = b->next)
		if (b->sb) {
			usage_finalize(b);
			b->reason = REASON_DELETED;
			sandbox_destroy(b->sb);
			b->sb = NULL;
			layer_remove(b->id);
			if (b->state == BOX_RUNNING) {
				b->state = BOX_EXITED;
				b->exit_code = 137;
				b->ended_ns = real_ns();
			}
			persist(b);
		}
}

/* ---- re-adoption ---- */

static void readopt_one(const struct store_sandbox *s, void *userdata)
{
	_cleanup_free_ char *err = NULL;
	json_error_t jerr;
	struct box *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return;
	b->ctl_fd = b->cpu_fd = b->mem_fd = -1;
	b->slot = -1;
	b->usage_final = s->usage ? strdup(s->usage) : NULL;
	memcpy(b->id, s->id, strnlen(s->id, sizeof(b->id) - 1));
	b->tenant = strdup(s->tenant);
	b->spec = json_loads(s->spec, 0, &jerr);
	b->exit_code = s->exit_code;
	b->created_ns = s->created_ns;
	b->ended_ns = s->ended_ns;
	b->deadline_ns = s->deadline_ns;
	b->pid = s->pid;
	b->start_time = s->start_time;
	json_t *base = s->base ? json_loads(s->base, 0, &jerr) : NULL;
	if (base) {
		const char *from = json_string_value(json_object_get(base, "restored_from"));
		const char *snap = json_string_value(json_object_get(base, "snapshot"));
		b->restored_from = from ? strdup(from) : NULL;
		b->snapshot_id = snap ? strdup(snap) : NULL;
		b->base = json_incref(json_object_get(base, "usage"));
		b->cpu_offset_ns =
			(uint64_t)json_integer_value(json_object_get(base, "cpu_offset_ns"));
		json_decref(base);
	}
	if (s->reason) {
		r = box_reason_parse(s->reason);
		if (r < 0)
			logmsg(1, "sandbox %s: unknown reason \"%s\" read as lost", s->id,
			       s->reason);
		b->reason = r < 0 ? REASON_LOST : (enum box_reason)r;
	}
	char *spec = json_dumps(b->spec, JSON_COMPACT);
	r = spec ? apispec_parse_create(spec, strlen(spec), &b->req, &err) : -EINVAL;
	free(spec);
	if (r < 0 || !b->tenant ||
	    asprintf(&b->dir, "%s/sandboxes/%s", D.opt.state_dir, b->id) < 0) {
		logmsg(0, "sandbox %s: unreadable record; skipped", s->id);
		b->dir = NULL;
		box_free(b);
		return;
	}
	if (!strcmp(s->state, "exited")) {
		b->state = BOX_EXITED;
		box_link(b);
		return;
	}
	/* creating or running: is it still there, and is it really ours? */
	struct cgroup *cg = NULL;
	json_t *cj = s->cgroup ? json_loads(s->cgroup, 0, &jerr) : NULL;
	if (cj && s->pid > 0) {
		const char *v1[_CG_V1_MAX] = { 0 };
		json_t *arr = json_object_get(cj, "v1");
		for (int i = 0; i < _CG_V1_MAX; i++)
			v1[i] = json_string_value(json_array_get(arr, (size_t)i));
		const char *mode = json_string_value(json_object_get(cj, "mode"));
		r = cgroup_from_paths(mode && !strcmp(mode, "hybrid") ? CGROUP_HYBRID
								      : CGROUP_UNIFIED,
				      json_string_value(json_object_get(cj, "v2")), v1, &cg);
		if (r == 0)
			r = sandbox_adopt(b->id, s->pid, s->start_time, cg, &b->sb);
	} else {
		r = -ESRCH;
	}
	json_decref(cj);
	b->cgroup_json = s->cgroup ? strdup(s->cgroup) : NULL;
	/* A checkpoint that sbxd did not live to finish left it frozen. */
	if (r == 0)
		(void)cgroup_freeze(b->sb->cg, false);
	int cr = r == 0 ? ctl_open(b) : 0;
	if (cr < 0) {
		/* It lives but cannot take commands: not a sandbox we can serve. */
		logmsg(1, "sandbox %s: control channel: %s; stopping it", b->id, strerror(-cr));
		sandbox_destroy(b->sb);
		b->sb = NULL;
		r = -EIO;
	}
	if (r < 0)
		layer_remove(b->id);
	box_link(b);
	/* It holds its devices again (by index into --gpu-device, as the spec says). */
	for (char **g = b->req.gpus; g && *g && b->ngpu < ARRAY_SIZE(b->gpu_idx); g++) {
		unsigned long i = strtoul(*g, NULL, 10);
		if (i < D.ngpus && !D.gpus[i].holder) {
			D.gpus[i].holder = b;
			D.gpus_held++;
			b->gpu_idx[b->ngpu++] = (int)i;
		}
	}
	if (b->sb)
		(void)usage_cgroup_id(b->sb->cg->v2_path, &b->cg_id);
	/* Its counters went on in the pinned maps while sbxd was away. */
	if (D.meter && s->slot >= 0 && s->slot < METER_SLOTS && !D.slot_used[s->slot]) {
		b->slot = s->slot;
		D.slot_used[b->slot] = 1;
		if (b->sb && b->cg_id)
			(void)meter_attach(D.meter, b->cg_id, (uint32_t)b->slot, false);
		uint64_t rdevs[ARRAY_SIZE(b->gpu_idx)];
		unsigned ngpu = gpu_rdevs_of(b, rdevs);
		if (b->sb && ngpu && gpus_meter(b->slot, rdevs, ngpu, false) == 0)
			(void)meter_gpu_timing(D.meter, true);
	}
	b->started_ns = s->created_ns;
	bill_start(b);
	if (r == 0) {
		b->adopted = true;
		box_running(b);
		D.live++;
		logmsg(2, "sandbox %s re-adopted (pid %d)", b->id, (int)b->pid);
		return;
	}
	/* Gone while sbxd was away: keep what it left. A launch or restore that sbxd did not
	 * live to record may have left cgroups, and processes in them: they go. */
	if (!strcmp(s->state, "creating") && cgroup_reclaim(b->id) > 0)
		logmsg(1, "sandbox %s: removed what its unfinished launch left", b->id);
	b->started_ns = s->created_ns;
	b->state = BOX_EXITED;
	b->exit_code = read_status(b->dir);
	b->reason = b->exit_code >= 0 ? REASON_EXITED : REASON_LOST;
	/* When it ended: sbx-init wrote its status then. Without one, nothing after what
	 * was billed is known, and nothing more is billed. */
	char path[4096];
	struct stat st;
	snprintf(path, sizeof(path), "%s/status", b->dir);
	if (b->exit_code >= 0 && stat(path, &st) == 0)
		b->ended_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	else
		b->ended_ns = b->bill.billed_until ? b->bill.billed_until : b->created_ns;
	if (b->ended_ns < b->bill.billed_until)
		b->ended_ns = b->bill.billed_until;
	usage_finalize(b);
	persist(b);
	logmsg(2, "sandbox %s ended while sbxd was down (%d)", b->id, b->exit_code);
}

int box_readopt_all(void)
{
	int r = store_sandbox_each(D.store, "exited", readopt_one, NULL);
	if (r == 0)
		r = store_sandbox_each(D.store, "creating", readopt_one, NULL);
	if (r == 0)
		r = store_sandbox_each(D.store, "running", readopt_one, NULL);
	/* Old exited records stay in the database only. */
	box_tick(mono_ns(), real_ns());
	uint64_t keep[METER_SLOTS];
	size_t n = 0;
	for (struct box *b = D.boxes; b && n < METER_SLOTS; b = b->next)
		if (b->state == BOX_RUNNING && b->cg_id)
			keep[n++] = b->cg_id;
	/* Layers of sandboxes no record keeps running (a crash mid-launch). */
	DIR *d = opendir(instance_layer_dir());
	for (struct dirent *e; d && (e = readdir(d));) {
		struct box *o = e->d_name[0] != '.' ? box_find(e->d_name, NULL) : NULL;
		if (e->d_name[0] != '.' && (!o || o->state != BOX_RUNNING))
			layer_remove(e->d_name);
	}
	if (d)
		closedir(d);
	if (D.meter)
		(void)meter_prune(D.meter, keep, n, D.slot_used);
	if (D.devices)
		devices_prune(D.devices, keep, n);
	return r;
}

static void ctl_done(struct loop_op *op, int res, uint32_t flags)
{
	struct box *b = (struct box *)((char *)op - offsetof(struct box, ctl_op));

	b->ops--;
	if (b->removing || b->state != BOX_RUNNING || b->ctl_fd < 0) {
		box_maybe_free(b);
		return;
	}
	if (res == -EINTR || res == -EAGAIN) {
		ctl_arm(b);
		return;
	}
	if (res != (int)sizeof(b->ctl_buf) && b->ckpt) {
		/* Closed for a checkpoint (our shutdown, answered by sbx-init's close). */
		closep(&b->ctl_fd);
		snap_ckpt_go(b);
		return;
	}
	if (res != (int)sizeof(b->ctl_buf)) {
		/* sbx-init went away; its exit arrives through the pidfd. */
		if (res < 0 && res != -ECANCELED)
			logmsg(3, "sandbox %s: control channel: %s", b->id, strerror(-res));
		return;
	}
	struct ctl_reply r = b->ctl_buf;
	ctl_arm(b);
	exec_event(b, &r);
}
