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
#include <sys/random.h>
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
#include "domain.h"
#include "../sys/devices.h"
#include "../sys/layer.h"
#include "../sys/meter.h"
#include "../sys/store.h"
#include "../sys/usage.h"

#define EXEC_GRACE_NS 200000000LL      /* output still draining after a command exited */
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
	json_t *j =
		json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", b->id, "state",
			  box_state_name(b->state), "tenant", b->tenant, "image",
			  b->req.image ? b->req.image : "base", "cmd", cmd, "labels", labels,
			  "limits", limits, "created_at", time_json(b->created_ns), "started_at",
			  time_json(b->started_ns), "ended_at", time_json(b->ended_ns),
			  "deadline_at", time_json(b->state == BOX_RUNNING ? b->deadline_ns : 0),
			  "spec", json_incref(b->spec));
	json_object_set_new(j, "exit_code",
			    b->exit_code >= 0 ? json_integer(b->exit_code) : json_null());
	json_object_set_new(j, "reason",
			    b->reason ? json_string(box_reason_name(b->reason)) : json_null());
	json_object_set_new(j, "pid",
			    b->state == BOX_RUNNING && b->pid > 0 ? json_integer(b->pid)
								  : json_null());
	json_object_set_new(j, "hostname", json_string(b->req.hostname ? b->req.hostname : b->id));
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
	struct box *b; /* for the completion: the worker has io */
	struct conn *c;
	struct launch_io io;
	int r;
	char *err; /* one line: what failed */
	int status;
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

	r = image_open(req->image ? req->image : "base", D.opt.images_dir, &img, &ierr);
	if (r < 0) {
		j->status = r == -ENOENT ? 400 : 500;
		if (asprintf(&j->err, "image: %s", ierr ? ierr : strerror(-r)) < 0)
			j->err = NULL;
		free(ierr);
		j->r = r;
		return;
	}
	r = build_env(io, img);
	if (r == 0)
		r = open_state_files(io->dir, &log_fd, &status_fd);
	if (r < 0) {
		j->r = r;
		j->status = 500;
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
			j->r = r;
			j->status = 500;
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
			j->r = r;
			j->status = 500;
			if (!j->err && asprintf(&j->err, "restore failed: %s", strerror(-r)) < 0)
				j->err = NULL;
			goto fail;
		}
	} else {
		r = sandbox_start(&spec, D.opt.init_path, &j->sb, &se);
	}
	if (r < 0) {
		j->r = r;
		bool user_error = (se.stage == STAGE_WORKDIR &&
				   (r == -ENOENT || r == -ENOTDIR || r == -ELOOP || r == -EACCES ||
				    r == -ENAMETOOLONG)) ||
				  (se.stage == STAGE_CGROUP && r == -EOPNOTSUPP);
		j->status = user_error ? 400 : r == -ENOSPC || r == -EAGAIN ? 503 : 500;
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
	j->r = r;
	j->status = 500;
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
	struct conn *c = j->c;

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
		if (b->fork)
			snap_fork_member(b->fork, NULL, j->err);
		else if (!c->closing)
			respond_error(c, j->status, j->status == 400 ? "bad_request" : "internal",
				      "%s", j->err ? j->err : "launch failed");
		free(j->err);
		free(j);
		box_maybe_free(b);
		if (c)
			conn_unref(c);
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
		if (b->fork)
			snap_fork_member(b->fork, NULL,
					 D.store_error ? D.store_error : "state database");
		else if (!c->closing)
			respond_error(c, 503, "unavailable", "%s",
				      D.store_error ? D.store_error : "state database");
		if (c)
			conn_unref(c);
		return;
	}
	logmsg(2, "sandbox %s %s (tenant %s, pid %d)", b->id,
	       b->restored_from ? "restored" : "running", b->tenant, (int)b->pid);
	struct fork_state *f = TAKE_PTR(b->fork);
	if (f) {
		snap_fork_member(f, b, NULL);
	} else if (!c->closing) {
		json_t *o = box_json(b);
		if (b->restored_from)
			json_object_set_new(o, "restore",
					    json_pack("{s:f,s:O}", "duration_ms", b->restore_ms,
						      "criu", b->restore_stats));
		respond_json(c, 201, o);
	}
	if (c)
		conn_unref(c);
}

int box_new_id(char *buf, size_t size)
{
	int r;

	do
		r = launch_id_new("", buf, size);
	while (r == 0 && box_find(buf, NULL));
	return r;
}

static int box_launch(struct conn *c, const char *tenant, json_t *spec, struct api_create *req,
		      const int *gpu_idx, unsigned ngpu, struct snap *from, struct fork_state *fork,
		      const char **ret_err);

/* The operator's defaults where the request set no limit, and its maxima: the limits
 * a sandbox runs under are always the ones it records and is billed for. Writes the
 * effective ones into @spec (the record). -EINVAL with @msg naming the field. */
static int limits_apply(struct api_create *req, json_t *spec, char *msg, size_t size)
{
	struct sandbox_limits *l = &req->limits;
	const struct sandbox_limits *def = &D.opt.default_limits, *max = &D.opt.max_limits;
	char cpus[32];

	if (!l->memory_bytes)
		l->memory_bytes = def->memory_bytes;
	if (!l->cpu_milli)
		l->cpu_milli = def->cpu_milli;
	if (!l->pids)
		l->pids = def->pids;
	if (l->memory_bytes > max->memory_bytes) {
		snprintf(msg, size, "limits.memory: at most %" PRIu64 " bytes on this host",
			 max->memory_bytes);
		return -EINVAL;
	}
	if (l->cpu_milli > max->cpu_milli) {
		snprintf(msg, size, "limits.cpus: at most %u.%03u on this host",
			 max->cpu_milli / 1000, max->cpu_milli % 1000);
		return -EINVAL;
	}
	if (l->pids > max->pids) {
		snprintf(msg, size, "limits.pids: at most %" PRIu64 " on this host", max->pids);
		return -EINVAL;
	}
	if (req->writable_bytes > D.opt.max_writable) {
		snprintf(msg, size, "writable_size: at most %" PRIu64 " bytes on this host",
			 D.opt.max_writable);
		return -EINVAL;
	}
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

void box_create(struct conn *c, const char *tenant, const char *body, size_t len)
{
	_cleanup_free_ char *err = NULL;
	struct api_create req = { 0 };
	json_error_t jerr;
	int r;

	r = apispec_parse_create(body, len, &req, &err);
	if (r < 0) {
		respond_error(c, 400, "bad_request", "%s", err ? err : strerror(-r));
		return;
	}
	if (req.seccomp && strcmp(req.seccomp, "default")) {
		api_create_clear(&req);
		respond_error(c, 400, "bad_request",
			      "seccomp: only \"default\" is available through the API");
		return;
	}
	int gpu_idx[8];
	unsigned ngpu = 0;
	for (char **g = req.gpus; g && *g; g++) {
		char *end, safe[24];
		unsigned long i = strtoul(*g, &end, 10);
		text_printable(*g, safe, sizeof(safe));
		if (!strcmp(*g, "any")) { /* the first free one not taken by this request */
			for (i = 0; i < D.ngpus; i++) {
				bool mine = false;
				for (unsigned k = 0; k < ngpu; k++)
					mine |= gpu_idx[k] == (int)i;
				if (!D.gpus[i].holder && !mine)
					break;
			}
			if (i == D.ngpus) {
				if (D.ngpus)
					respond_error(c, 409, "conflict",
						      "gpus: no free GPU left (%u on this host)",
						      D.ngpus);
				else
					respond_error(c, 400, "bad_request",
						      "gpus: this host has no GPUs to grant");
				api_create_clear(&req);
				return;
			}
			end = *g + strlen(*g);
		}
		if (!**g || *end || i >= D.ngpus) {
			respond_error(c, 400, "bad_request",
				      D.ngpus ? "gpus: \"%s\" is not a GPU of this host (0 to %u)"
					      : "gpus: \"%s\": this host has no GPUs to grant",
				      safe, D.ngpus - 1);
			api_create_clear(&req);
			return;
		}
		bool dup = false;
		for (unsigned k = 0; k < ngpu; k++)
			dup |= gpu_idx[k] == (int)i;
		if (dup || ngpu == ARRAY_SIZE(gpu_idx)) {
			respond_error(c, 400, "bad_request", "gpus: each GPU once, at most %zu",
				      ARRAY_SIZE(gpu_idx));
			api_create_clear(&req);
			return;
		}
		if (D.gpus[i].holder) {
			char free_list[64] = "";
			for (unsigned k = 0; k < D.ngpus; k++)
				if (!D.gpus[k].holder)
					snprintf(free_list + strlen(free_list),
						 sizeof(free_list) - strlen(free_list), "%s%u",
						 free_list[0] ? "," : "", k);
			respond_error(c, 409, "conflict",
				      "gpu %lu is held by another sandbox; free: %s", i,
				      free_list[0] ? free_list : "none");
			api_create_clear(&req);
			return;
		}
		gpu_idx[ngpu++] = (int)i;
	}
	if (req.image && (strchr(req.image, '/') || req.image[0] == '.')) {
		api_create_clear(&req);
		respond_error(c, 400, "bad_request",
			      "image: a name is required (the API does not take paths)");
		return;
	}
	char msg[160];
	json_t *spec = json_loadb(body, len, 0, &jerr);
	if (!spec || limits_apply(&req, spec, msg, sizeof(msg)) < 0) {
		json_decref(spec);
		api_create_clear(&req);
		respond_error(c, spec ? 400 : 500, spec ? "bad_request" : "internal", "%s",
			      spec ? msg : "out of memory");
		return;
	}
	const char *why = NULL;
	int status = box_launch(c, tenant, spec, &req, gpu_idx, ngpu, NULL, NULL, &why);
	if (status)
		respond_error(c, status,
			      status == 429   ? "too_many_sandboxes"
			      : status == 503 ? "unavailable"
					      : "internal",
			      "%s", why);
}

/* The launch of a new box: takes @spec and @req. 0, or an HTTP status and *ret_err. */
static int box_launch(struct conn *c, const char *tenant, json_t *spec, struct api_create *req,
		      const int *gpu_idx, unsigned ngpu, struct snap *from, struct fork_state *fork,
		      const char **ret_err)
{
	static char msg[160];

	*ret_err = msg;
	if (D.live >= D.opt.max_sandboxes) {
		api_create_clear(req);
		json_decref(spec);
		snprintf(msg, sizeof(msg),
			 "this host runs its maximum of %u sandboxes; delete some first",
			 D.opt.max_sandboxes);
		return 429;
	}
	if (tenant && box_count_live(tenant) >= D.opt.max_per_tenant) {
		api_create_clear(req);
		json_decref(spec);
		snprintf(msg, sizeof(msg),
			 "tenant %s runs its maximum of %u sandboxes; delete some first", tenant,
			 D.opt.max_per_tenant);
		return 429;
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
		snprintf(msg, sizeof(msg), "out of memory");
		return 500;
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
		b->fork = fork;
	}
	/* No sandbox runs that the database does not know: a restart could not find it. */
	if (persist(b) < 0) {
		free(j);
		snprintf(msg, sizeof(msg), "%s", D.store_error ? D.store_error : "state database");
		if (from)
			from->users--;
		gpus_release(b);
		slot_free(b);
		box_free(b);
		return 503;
	}
	box_link(b);
	D.live++;
	*j = (struct launch_job){
		.w = { .fn = launch_fn, .done = launch_done, .slow = from != NULL },
		.b = b,
		.c = c,
		.ctl_fd = -1,
		.io = { .id = b->id, .dir = b->dir, .req = &b->req, .slot = b->slot, .from = from },
	};
	gpu_launch_io(b, &j->io);
	/* The ioctl timer of GPU holders: switched here, on the loop thread that owns the
	 * meter; it stays on until the last holder goes. */
	if (ngpu && b->slot >= 0)
		(void)meter_gpu_timing(D.meter, true);
	b->jobs++;
	if (c)
		c->ops++; /* the connection lives until the answer */
	loop_queue_work(&D.loop, &j->w);
	return 0;
}

int box_create_from(struct conn *c, struct snap *s, struct fork_state *fork, const char **ret_err)
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
		*ret_err = "the snapshot's spec is unreadable";
		return 500;
	}
	static char msg[160];
	if (limits_apply(&req, spec, msg, sizeof(msg)) < 0) {
		json_decref(spec);
		api_create_clear(&req);
		*ret_err = msg;
		return 400;
	}
	return box_launch(c, s->tenant, spec, &req, NULL, 0, s, fork, ret_err);
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

static void exec_check_done(struct exec *x);

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
	for (struct exec *x = b->execs; x; x = x->next)
		if (!x->exited) {
			x->exited = true;
			x->code = x->timed_out ? 124 : 137;
			x->grace = mono_ns() + EXEC_GRACE_NS;
		}
	for (struct exec *x = b->execs, *n; x; x = n) {
		n = x->next;
		exec_check_done(x);
	}
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
	struct conn *c = b->waiter;

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
	if (!c->closing) {
		json_t *j = box_json(b);
		json_object_set_new(j, "usage", box_usage_json(b));
		respond_json(c, 200, j);
	}
	conn_unref(c);
	logmsg(2, "sandbox %s removed", b->id);
	box_unlink(b);
	box_maybe_free(b);
}

void box_delete(struct conn *c, struct box *b)
{
	if (b->state == BOX_CREATING) {
		respond_error(c, 409, "conflict", "sandbox %s is still being created", b->id);
		return;
	}
	if (b->ckpt) {
		respond_error(c, 409, "conflict", "sandbox %s is being checkpointed", b->id);
		return;
	}
	b->removing = true;
	b->waiter = c;
	c->ops++;
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
		for (struct exec *x = b->execs, *xn; x; x = xn) {
			xn = x->next;
			if (x->deadline && !x->exited && mono >= x->deadline && b->ctl_fd >= 0) {
				x->timed_out = true;
				x->deadline = 0;
				(void)ctl_send_signal(b->ctl_fd, x->id, SIGKILL);
			}
			if (x->exited)
				exec_check_done(x);
		}
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

/* ---- exec ---- */

static void exec_maybe_free(struct exec *x)
{
	if (!x->finished || x->ops)
		return;
	struct box *b = x->box;
	for (struct exec **p = &b->execs; *p; p = &(*p)->next)
		if (*p == x) {
			*p = x->next;
			break;
		}
	closep(&x->out_fd);
	closep(&x->err_fd);
	closep(&x->in_fd);
	free(x->path);
	free(x->stdin_data);
	free(x->acc[0]);
	free(x->acc[1]);
	budget_give(x->share, x->charged);
	free(x);
	box_maybe_free(b);
}

static json_t *data_json(const char *data, size_t len, const char **key)
{
	json_t *s = json_stringn(data, len);
	if (s) {
		*key = "data";
		return s;
	}
	*key = "data_b64";
	char *enc = b64_encode(data, len);
	s = json_string(enc ? enc : "");
	free(enc);
	return s;
}

static void stream_event(struct exec *x, json_t *ev)
{
	char *s = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (!s || !x->conn)
		goto out;
	size_t n = strlen(s);
	s[n] = '\n';
	chunk_send(x->conn, s, n + 1);
out:
	free(s);
}

/* A GET's helper: the file's size, then the file, sent on as it comes. */
static void file_deliver(struct exec *x, const char *data, size_t len)
{
	while (len && x->head_len < sizeof(x->head)) {
		x->head[x->head_len++] = (unsigned char)*data++;
		len--;
	}
	if (x->head_len < sizeof(x->head))
		return;
	if (!x->head_sent) {
		for (int i = 7; i >= 0; i--)
			x->left = x->left << 8 | x->head[i];
		/* The helper runs as the sandbox's own ids: its word is bounded too. */
		if (x->left > D.opt.max_file) {
			struct conn *c = x->conn;
			c->exec = NULL;
			x->conn = NULL;
			respond_error(c, 500, "internal",
				      "the sandbox's file helper announced %" PRIu64
				      " bytes, more than --max-file",
				      x->left);
			return;
		}
		respond_begin(x->conn, 200, "application/octet-stream", x->left);
		x->head_sent = true;
	}
	if (len > x->left)
		len = (size_t)x->left;
	x->left -= len;
	out_append(x->conn, data, len);
	conn_send_more(x->conn);
}

/* The most a byte of output takes in a JSON answer: "\u0000" for a control byte, two
 * for an escaped one, two for one of a multi-byte character or of output that is not
 * UTF-8 (base64 then: four for three). */
static unsigned json_cost(unsigned char ch)
{
	if (ch == '"' || ch == '\\' || ch >= 0x80 || ch == '\n' || ch == '\t' || ch == '\r' ||
	    ch == '\b' || ch == '\f')
		return 2;
	return ch < 0x20 ? 6 : 1;
}

static void exec_deliver(struct exec *x, int which, const char *data, size_t len)
{
	if (!x->conn || x->finished)
		return;
	if (x->kind >= EXEC_FILE_GET) {
		if (x->kind == EXEC_FILE_GET && !which)
			file_deliver(x, data, len);
		return;
	}
	if (x->stream) {
		const char *key;
		json_t *d = data_json(data, len, &key);
		json_t *ev = json_pack("{s:s}", "type", which ? "stderr" : "stdout");
		json_object_set_new(ev, key, d);
		stream_event(x, ev);
		return;
	}
	/* At most exec_output_max a stream, and what its answer will take as JSON (up to
	 * six bytes a byte) within its share of what sbxd holds. */
	size_t max = D.opt.exec_output_max - x->acc_len[which], n = 0;
	uint64_t room = budget_room(x->share), cost = 0;
	for (; n < len && n < max; n++) {
		unsigned k = json_cost((unsigned char)data[n]);
		if (cost + k > room)
			break;
		cost += k;
	}
	if (n < len) {
		len = n;
		x->truncated[which] = true;
	}
	if (!len)
		return;
	char *p = realloc(x->acc[which], x->acc_len[which] + len);
	if (!p)
		return;
	memcpy(p + x->acc_len[which], data, len);
	x->acc[which] = p;
	x->acc_len[which] += len;
	budget_charge(x->share, cost);
	x->charged += cost;
}

static void file_answer(struct conn *c, struct exec *x);

static void exec_finish(struct exec *x)
{
	struct conn *c = x->conn;

	x->finished = true;
	if (x->out_armed)
		io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &x->out_op, 0);
	if (x->err_armed)
		io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &x->err_op, 0);
	if (x->in_fd >= 0 && x->ops)
		io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &x->in_op, 0);
	x->box->last_active = mono_ns();
	if (c && x->kind >= EXEC_FILE_GET) {
		c->exec = NULL;
		x->conn = NULL;
		file_answer(c, x);
	} else if (c) {
		c->exec = NULL;
		x->conn = NULL;
		if (x->stream) {
			json_t *ev = json_pack("{s:s,s:i,s:b}", "type", "exit", "exit_code",
					       x->code, "timed_out", x->timed_out);
			char *s = json_dumps(ev, JSON_COMPACT);
			json_decref(ev);
			if (s) {
				size_t n = strlen(s);
				s[n] = '\n';
				chunk_send(c, s, n + 1);
				free(s);
			}
			chunk_end(c);
		} else {
			const char *k1, *k2;
			json_t *o = data_json(x->acc[0] ? x->acc[0] : "", x->acc_len[0], &k1);
			json_t *e = data_json(x->acc[1] ? x->acc[1] : "", x->acc_len[1], &k2);
			json_t *j = json_pack("{s:i,s:b}", "exit_code", x->code, "timed_out",
					      x->timed_out);
			json_object_set_new(j, !strcmp(k1, "data") ? "stdout" : "stdout_b64", o);
			json_object_set_new(j, !strcmp(k2, "data") ? "stderr" : "stderr_b64", e);
			if (x->truncated[0] || x->truncated[1])
				json_object_set_new(j, "truncated", json_true());
			/* What its output was charged, as JSON, stays charged until the
			 * reader has the answer. */
			respond_json(c, 200, j);
			if (!c->closing && out_pending(c)) {
				c->held += x->charged;
				x->charged = 0;
			}
		}
	}
	exec_maybe_free(x);
}

static void exec_check_done(struct exec *x)
{
	if (x->finished || !x->exited)
		return;
	if ((x->out_eof && x->err_eof) || mono_ns() >= x->grace)
		exec_finish(x);
}

static void exec_arm(struct exec *x, int which);

static void exec_read_done(struct exec *x, int which, int res)
{
	x->ops--;
	if (which)
		x->err_armed = false;
	else
		x->out_armed = false;
	if (x->finished) {
		exec_maybe_free(x);
		return;
	}
	if (res > 0) {
		exec_deliver(x, which, which ? x->err_buf : x->out_buf, (size_t)res);
		exec_arm(x, which);
	} else if (res == -EINTR || res == -EAGAIN) {
		exec_arm(x, which);
	} else {
		if (which)
			x->err_eof = true;
		else
			x->out_eof = true;
		exec_check_done(x);
	}
}

static void out_done(struct loop_op *op, int res, uint32_t flags)
{
	exec_read_done((struct exec *)((char *)op - offsetof(struct exec, out_op)), 0, res);
}

static void err_done(struct loop_op *op, int res, uint32_t flags)
{
	exec_read_done((struct exec *)((char *)op - offsetof(struct exec, err_op)), 1, res);
}

static void exec_arm(struct exec *x, int which)
{
	bool *armed = which ? &x->err_armed : &x->out_armed;
	bool eof = which ? x->err_eof : x->out_eof;

	if (*armed || eof || x->finished || (!x->started && !x->failed))
		return;
	/* A slow reader of a stream: let the pipe fill; the command then waits. */
	if (x->conn && (x->stream || x->kind == EXEC_FILE_GET) &&
	    out_pending(x->conn) >= (1u << 20))
		return;
	struct loop_op *op = which ? &x->err_op : &x->out_op;
	op->cb = which ? err_done : out_done;
	struct io_uring_sqe *sqe = loop_sqe(&D.loop, op);
	io_uring_prep_read(sqe, which ? x->err_fd : x->out_fd, which ? x->err_buf : x->out_buf,
			   sizeof(x->out_buf), (uint64_t)-1);
	*armed = true;
	x->ops++;
}

void exec_resume(struct exec *x)
{
	exec_arm(x, 0);
	exec_arm(x, 1);
}

static void in_done(struct loop_op *op, int res, uint32_t flags)
{
	struct exec *x = (struct exec *)((char *)op - offsetof(struct exec, in_op));

	x->ops--;
	if (res > 0 && !x->finished && (size_t)res < x->stdin_len) {
		memmove(x->stdin_data, x->stdin_data + res, x->stdin_len - (size_t)res);
		x->stdin_len -= (size_t)res;
		struct io_uring_sqe *sqe = loop_sqe(&D.loop, &x->in_op);
		io_uring_prep_write(sqe, x->in_fd, x->stdin_data, (unsigned)x->stdin_len,
				    (uint64_t)-1);
		x->ops++;
		return;
	}
	/* All written, or the command stopped reading: EOF for it. */
	closep(&x->in_fd);
	x->in_fd = -1;
	exec_maybe_free(x);
}

void exec_conn_gone(struct exec *x)
{
	x->conn = NULL;
	/* An upload's helper sees its input end early, and removes what it wrote. */
	if (!x->exited && x->box->ctl_fd >= 0 && x->kind != EXEC_FILE_PUT)
		(void)ctl_send_signal(x->box->ctl_fd, x->id, SIGKILL);
}

static struct exec *exec_find(struct box *b, uint32_t id)
{
	for (struct exec *x = b->execs; x; x = x->next)
		if (x->id == id)
			return x;
	return NULL;
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
	struct exec *x = exec_find(b, r.id);
	ctl_arm(b);
	if (!x || x->exited)
		return;
	switch (r.type) {
	case CTL_STARTED:
		x->started = true;
		if (x->stream && x->conn)
			stream_event(x, json_pack("{s:s,s:i}", "type", "start", "pid", r.value));
		exec_resume(x);
		break;
	case CTL_FAILED: {
		char msg[256];
		int n = snprintf(msg, sizeof(msg), "sbx: %s: %s\n", x->argv0,
				 r.value == ENOENT ? "command not found" : strerror(r.value));
		exec_deliver(x, 1, msg, (size_t)n);
		x->failed = true;
		exec_resume(x);
		x->exited = true;
		/* A command: the shell's codes; the file helper: why, as an errno. */
		x->code = x->kind >= EXEC_FILE_GET ? r.value : r.value == ENOENT ? 127 : 126;
		x->grace = mono_ns() + EXEC_GRACE_NS;
		exec_check_done(x);
		break;
	}
	case CTL_EXITED:
		x->exited = true;
		x->code = x->timed_out ? 124 : r.value;
		x->grace = mono_ns() + EXEC_GRACE_NS;
		exec_check_done(x);
		break;
	}
}

/* Answers why nothing can run in @b now (true), or says it can (false). */
static bool exec_refused(struct conn *c, const struct box *b)
{
	if (b->state != BOX_RUNNING || b->killing || b->ckpt) {
		respond_error(c, 409, "conflict", "sandbox %s is %s", b->id,
			      b->ckpt			? "being checkpointed"
			      : b->state == BOX_RUNNING ? "stopping"
							: box_state_name(b->state));
		return true;
	}
	if (b->ctl_fd < 0) {
		respond_error(c, 503, "unavailable", "sandbox %s cannot be reached yet; retry",
			      b->id);
		return true;
	}
	return false;
}

/* A started command or transfer joins its sandbox and its connection. */
static void exec_link(struct exec *x, struct box *b, struct conn *c)
{
	x->box = b;
	x->conn = c;
	x->share = c->share;
	x->next = b->execs;
	b->execs = x;
	b->last_active = mono_ns();
	c->exec = x;
}

void exec_start(struct conn *c, struct box *b, struct api_exec *e, bool stream)
{
	box_tick_soon(); /* its deadline, its end */
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, in[2] = { -1, -1 };
	char **envp = NULL;
	int r;

	if (exec_refused(c, b)) {
		api_exec_clear(e);
		return;
	}
	struct exec *x = calloc(1, sizeof(*x));
	if (!x || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    (e->stdin_len && pipe2(in, O_CLOEXEC) < 0)) {
		r = -errno;
		goto fail;
	}
	if (launch_env_exec(b->envp, e->env, &envp) < 0)
		goto nomem;
	x->id = ++b->next_exec_id;
	text_printable(e->cmd[0], x->argv0, sizeof(x->argv0));
	int stdio[3] = { e->stdin_len ? in[0] : D.devnull, out[1], err[1] };
	const char *cwd = e->workdir ? e->workdir : b->req.workdir ? b->req.workdir : "/";
	r = ctl_send_exec(b->ctl_fd, x->id, e->cmd, envp, cwd, stdio);
	strv_free(envp);
	envp = NULL;
	if (r < 0)
		goto fail;
	close(out[1]);
	close(err[1]);
	closep(&in[0]);
	x->out_fd = out[0];
	x->err_fd = err[0];
	x->in_fd = in[1];
	x->stream = stream;
	x->stdin_data = TAKE_PTR(e->stdin_data);
	x->stdin_len = e->stdin_len;
	x->deadline = e->timeout_ns ? mono_ns() + (int64_t)e->timeout_ns : 0;
	exec_link(x, b, c);
	api_exec_clear(e);
	if (stream)
		respond_chunked_head(c, 200, "application/x-ndjson");
	/* Output is read once sbx-init says it started the command: "start" comes first. */
	if (x->in_fd >= 0) {
		x->in_op.cb = in_done;
		struct io_uring_sqe *sqe = loop_sqe(&D.loop, &x->in_op);
		io_uring_prep_write(sqe, x->in_fd, x->stdin_data, (unsigned)x->stdin_len,
				    (uint64_t)-1);
		x->ops++;
	}
	return;
nomem:
	r = -ENOMEM;
fail:
	strv_free(envp);
	for (int i = 0; i < 2; i++) {
		closep(&out[i]);
		closep(&err[i]);
		closep(&in[i]);
	}
	free(x);
	api_exec_clear(e);
	if (r == -EAGAIN)
		respond_error(c, 503, "unavailable", "sandbox %s is busy; retry", b->id);
	else
		respond_error(c, 500, "internal", "cannot start the command: %s", strerror(-r));
}

/* ---- files and logs ---- */

static void file_error(struct conn *c, const char *path, int r)
{
	char p[128];
	text_printable(path, p, sizeof(p));
	switch (-r) {
	case ENOENT:
	case ENOTDIR:
		respond_error(c, 404, "not_found", "%s: no such file or directory", p);
		break;
	case EISDIR:
		respond_error(c, 400, "bad_request", "%s: is a directory", p);
		break;
	case EPERM:
	case EACCES:
		respond_error(c, 403, "forbidden", "%s: not a regular file the API may touch", p);
		break;
	case EFBIG:
		respond_error(c, 413, "too_large", "%s: larger than the limit of %" PRIu64 " bytes",
			      p, D.opt.max_file);
		break;
	case EROFS:
		respond_error(c, 409, "conflict", "%s: read-only file system", p);
		break;
	case ENOSPC:
	case EDQUOT:
		respond_error(c, 507, "no_space", "%s: no space left in the sandbox", p);
		break;
	case ENOMEM:
		respond_error(c, 507, "no_space", "%s: the sandbox is out of memory", p);
		break;
	case ENOTEMPTY:
		respond_error(c, 409, "conflict", "%s: directory not empty", p);
		break;
	case EAGAIN:
		respond_error(c, 503, "unavailable",
			      "%s: the sandbox cannot start its file helper now (process limit?)",
			      p);
		break;
	case EPIPE:
		respond_error(c, 400, "bad_request", "%s: the upload ended early; nothing changed",
			      p);
		break;
	case EINVAL:
	case ELOOP:
	case ENAMETOOLONG:
	case EXDEV:
		respond_error(c, 400, "bad_request", "%s: %s", p, strerror(-r));
		break;
	default:
		respond_error(c, 500, "internal", "%s: %s", p, strerror(-r));
	}
}

/* The helper's exit answers the request: its code is 0 or the errno of the failure. */
static void file_answer(struct conn *c, struct exec *x)
{
	int err = x->failed	  ? x->code
		  : x->code > 128 ? ENOMEM /* killed: in a sandbox, the OOM killer */
				  : x->code;

	if (x->kind == EXEC_FILE_GET && x->head_sent) {
		/* Cut short (the file shrank, the helper died): the length was promised. */
		if (x->left || x->code)
			conn_close(c);
		else
			conn_request_done(c);
		return;
	}
	if (err) {
		file_error(c, x->path, -err);
		return;
	}
	if (x->kind == EXEC_FILE_GET) { /* an empty answer: it never said a size */
		file_error(c, x->path, -EIO);
		return;
	}
	respond_json(c, 200, json_pack("{s:s,s:I}", "path", x->path, "size", (json_int_t)x->size));
}

bool box_files(struct conn *c, struct box *b, int method, const char *path, uint64_t size)
{
	static const char *const op[] = {
		[EXEC_FILE_GET] = "get", [EXEC_FILE_PUT] = "put", [EXEC_FILE_RM] = "rm"
	};
	enum exec_kind kind = method == HTTP_GET   ? EXEC_FILE_GET
			      : method == HTTP_PUT ? EXEC_FILE_PUT
						   : EXEC_FILE_RM;
	int out[2] = { -1, -1 }, in[2] = { -1, -1 }, r;
	char num[24];

	if (exec_refused(c, b))
		return false;
	/* The helper is sbx-init itself, run inside the sandbox as its user: the path is
	 * resolved in its root, what it writes is charged to it, and it owns it. */
	snprintf(num, sizeof(num), "%" PRIu64, kind == EXEC_FILE_PUT ? size : D.opt.max_file);
	char *argv[] = { "/dev/sbx-init",
			 "--file",
			 (char *)op[kind],
			 (char *)path,
			 kind == EXEC_FILE_RM ? NULL : num,
			 NULL };
	char *envp[] = { NULL };
	struct exec *x = calloc(1, sizeof(*x));
	if (!x || !(x->path = strdup(path)) ||
	    (kind == EXEC_FILE_PUT && conn_body_prepare(c) < 0) ||
	    (kind == EXEC_FILE_GET && pipe2(out, O_CLOEXEC) < 0) ||
	    (kind == EXEC_FILE_PUT && pipe2(in, O_CLOEXEC) < 0)) {
		r = x && x->path ? -errno : -ENOMEM;
		goto fail;
	}
	x->id = ++b->next_exec_id;
	int stdio[3] = { in[0] >= 0 ? in[0] : D.devnull, out[1] >= 0 ? out[1] : D.devnull,
			 D.devnull };
	r = ctl_send_exec(b->ctl_fd, x->id, argv, envp, "/", stdio);
	if (r < 0)
		goto fail;
	closep(&out[1]);
	closep(&in[0]);
	snprintf(x->argv0, sizeof(x->argv0), "file helper");
	x->kind = kind;
	x->size = size;
	x->out_fd = out[0];
	x->err_fd = x->in_fd = -1;
	x->out_eof = kind != EXEC_FILE_GET;
	x->err_eof = true;
	exec_link(x, b, c);
	box_tick_soon();
	if (kind == EXEC_FILE_PUT)
		conn_body_to_fd(c, in[1]);
	return true;
fail:
	for (int i = 0; i < 2; i++) {
		closep(&out[i]);
		closep(&in[i]);
	}
	if (x)
		free(x->path);
	free(x);
	file_error(c, path, r);
	return false;
}

void box_logs(struct conn *c, struct box *b, bool follow)
{
	char path[4096];

	if (!b->dir) {
		respond(c, 200, "text/plain; charset=utf-8", "", 0);
		return;
	}
	/* Streamed from the file as the client takes it (never read whole into memory); with
	 * follow, on as it grows. */
	snprintf(path, sizeof(path), "%s/log", b->dir);
	c->follow_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (c->follow_fd < 0 && errno == ENOENT) { /* nothing written yet */
		respond(c, 200, "text/plain; charset=utf-8", "", 0);
		return;
	}
	if (c->follow_fd < 0) {
		respond_error(c, 500, "internal", "log: %s", strerror(errno));
		return;
	}
	c->follow_off = 0;
	c->follow_once = !follow;
	snprintf(c->follow_id, sizeof(c->follow_id), "%s", b->id);
	respond_chunked_head(c, 200, "text/plain; charset=utf-8");
	box_logs_follow(c);
}

void box_logs_follow(struct conn *c)
{
	char buf[65536];

	if (c->follow_fd < 0 || c->closing)
		return;
	struct box *b = box_find(c->follow_id, NULL);
	for (int i = 0; i < 16 && out_pending(c) < (1u << 20); i++) {
		ssize_t n = pread(c->follow_fd, buf, sizeof(buf), (off_t)c->follow_off);
		if (n <= 0)
			break;
		c->follow_off += (uint64_t)n;
		chunk_send(c, buf, (size_t)n);
	}
	/* sbx-init writes its last output before it exits: once the sandbox has stopped (or
	 * at once, without follow) and nothing is left to read, the stream ends. */
	struct stat st;
	if ((c->follow_once || !b || b->state != BOX_RUNNING) && fstat(c->follow_fd, &st) == 0 &&
	    (uint64_t)st.st_size <= c->follow_off) {
		closep(&c->follow_fd);
		chunk_end(c);
	}
}
