// SPDX-License-Identifier: MIT
/* After a restart of sbxd: the sandboxes its database knows are found again (adopted:
 * their PID 1 still runs) or recorded as lost. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <seccomp.h>
#include <fcntl.h>
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
#include "images.h"
#include "internal.h"
#include "../sys/devices.h"
#include "../sys/layer.h"
#include "../sys/meter.h"
#include "../sys/store.h"
#include "../sys/usage.h"

/* The environment its PID 1 was given, which its commands start from (a record made
 * before sbxd kept it has none: they get the default PATH, as then). */
static void readopt_env(struct box *b, const char *text)
{
	json_error_t jerr;
	json_t *env = text ? json_loads(text, 0, &jerr) : NULL, *e;
	size_t i, n = json_array_size(env);
	char **v = n ? calloc(n + 1, sizeof(*v)) : NULL;
	size_t k = 0;

	json_array_foreach (env, i, e) {
		const char *kv = json_string_value(e);
		if (!v || !kv || !strchr(kv, '=')) /* what the record holds is only ever K=V */
			continue;
		if (!(v[k++] = strdup(kv))) {
			strv_free(v);
			v = NULL;
		}
	}
	json_decref(env);
	b->envp = v;
}

/* What its record says, copied into @b: ids, times, its environment, the base its counters go
 * on from (a restore's or a checkpoint's) and why it ended. */
static void readopt_fields(struct box *b, const struct store_sandbox *s)
{
	json_error_t jerr;
	int r;

	b->ctl_fd = -1;
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
	b->net_idx = s->net_pair;
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
	readopt_env(b, s->env);
	if (s->reason) {
		r = box_reason_parse(s->reason);
		if (r < 0)
			logmsg(1, "sandbox %s: unknown reason \"%s\" read as lost", s->id,
			       s->reason);
		b->reason = r < 0 ? REASON_LOST : (enum box_reason)r;
	}
}

/* The box of record @s, its spec parsed again; NULL if it cannot be made (an unreadable
 * record is logged and skipped). Not linked yet. */
static struct box *readopt_box(const struct store_sandbox *s)
{
	_cleanup_free_ char *err = NULL;
	struct box *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return NULL;
	readopt_fields(b, s);
	char *spec = json_dumps(b->spec, JSON_COMPACT);
	r = spec ? apispec_parse_create(spec, strlen(spec), &b->req, &err) : -EINVAL;
	free(spec);
	/* The defaults its image gave it (its commands' workdir and user). */
	struct why why;
	if (r == 0 && b->req.image_id)
		(void)images_pin(b->tenant, &b->req, NULL, &why);
	if (r < 0 || !b->tenant ||
	    asprintf(&b->dir, "%s/sandboxes/%s", D.opt.state_dir, b->id) < 0) {
		logmsg(0, "sandbox %s: unreadable record; skipped", s->id);
		b->dir = NULL;
		box_free(b);
		return NULL;
	}
	return b;
}

/* Creating or running: is it still there, and is it really ours? 0 with b->sb adopted,
 * its control channel open; else -errno (what was adopted was stopped again). */
static int readopt_adopt(struct box *b, const struct store_sandbox *s)
{
	json_error_t jerr;
	struct cgroup *cg = NULL;
	int r;

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
		/* An OCI container is sbx-oci's to end, and its cgroups to remove. */
		if (r == 0)
			r = (box_oci_container(b) ? sandbox_borrow : sandbox_adopt)(
				b->id, s->pid, s->start_time, cg, &b->sb);
	} else {
		r = -ESRCH;
	}
	json_decref(cj);
	b->cgroup_json = s->cgroup ? strdup(s->cgroup) : NULL;
	/* A checkpoint that sbxd did not live to finish left it frozen. */
	if (r == 0)
		(void)cgroup_freeze(b->sb->cg, false);
	/* An OCI container has no control channel: sbx-oci's exec joins it. */
	int cr = r == 0 && !box_oci_container(b) ? ctl_open(b) : 0;
	if (cr < 0) {
		/* It lives but cannot take commands: not a sandbox we can serve. */
		logmsg(1, "sandbox %s: control channel: %s; stopping it", b->id, strerror(-cr));
		sandbox_destroy(b->sb);
		b->sb = NULL;
		r = -EIO;
	} else if (b->ctl_fd >= 0 && !b->execs) {
		/* It answers; nothing needs the channel until a command does. A restart over
		 * many sandboxes thus holds one descriptor each, as before it. */
		ctl_park(b);
	}
	return r;
}

/* It holds its devices again (by index into --gpu-device, as the spec says), and its
 * meter slot: its counters went on in the pinned maps while sbxd was away. */
static void readopt_resources(struct box *b, const struct store_sandbox *s)
{
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
	if (D.meter && s->slot >= 0 && (unsigned)s->slot < D.nslots && !D.slot_used[s->slot]) {
		b->slot = s->slot;
		D.slot_used[b->slot] = 1;
		if (b->sb && b->cg_id)
			(void)meter_attach(D.meter, b->cg_id, (uint32_t)b->slot, false);
		uint64_t rdevs[ARRAY_SIZE(b->gpu_idx)], nodes[ROOTFS_MAX_DEVICES];
		unsigned ngpu = gpu_rdevs_of(b, rdevs);
		size_t nnodes = gpu_nodes_of(b, NULL, nodes, ARRAY_SIZE(nodes));
		if (b->sb && ngpu && gpus_meter(b->slot, rdevs, ngpu, nodes, nnodes, false) == 0)
			(void)meter_gpu_timing(D.meter, true);
	}
}

/* Gone while sbxd was away: keep what it left. A launch or restore that sbxd did not
 * live to record may have left cgroups, and processes in them: they go. */
static void readopt_lost(struct box *b, const struct store_sandbox *s)
{
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
	oci_readopt_lost(b);
	usage_finalize(b);
	box_persist(b);
	logmsg(2, "sandbox %s ended while sbxd was down (%d)", b->id, b->exit_code);
}

/* A warm sandbox nobody took before sbxd stopped without removing it (warm.c): it
 * goes, with its record. */
static bool readopt_warm(struct box *b, const struct store_sandbox *s)
{
	if (!warm_tenant(b->tenant))
		return false;
	if (strcmp(s->state, "exited") && readopt_adopt(b, s) < 0)
		(void)cgroup_reclaim(b->id);
	b->ended_ns = b->ended_ns ? b->ended_ns : real_ns();
	box_end_now(b, true);
	logmsg(2, "sandbox %s: a warm sandbox nobody took; removed", b->id);
	box_free(b);
	return true;
}

static void readopt_one(const struct store_sandbox *s, void *userdata)
{
	struct box *b = readopt_box(s);
	int r;

	if (!b || readopt_warm(b, s))
		return;
	if (!strcmp(s->state, "exited")) {
		b->state = BOX_EXITED;
		box_link(b);
		return;
	}
	r = readopt_adopt(b, s);
	if (r < 0)
		layer_remove(b->id);
	box_link(b);
	readopt_resources(b, s);
	b->started_ns = s->created_ns;
	bill_start(b);
	if (r == 0 && b->net_idx && net_claim(b->net_idx, &b->req.netp) < 0) {
		logmsg(1, "sandbox %s: its network link pair %d is not available", b->id,
		       b->net_idx);
		b->net_idx = 0;
	}
	if (r == 0) {
		b->adopted = true;
		box_running(b);
		D.live++;
		logmsg(2, "sandbox %s re-adopted (pid %d)", b->id, (int)b->pid);
		return;
	}
	readopt_lost(b, s);
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
	size_t n = 0, cap = 0;
	for (struct box *b = D.boxes; b; b = b->next)
		cap++;
	_cleanup_free_ uint64_t *keep = calloc(cap ? cap : 1, sizeof(*keep));
	for (struct box *b = D.boxes; keep && b; b = b->next)
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
	if (D.meter && keep)
		(void)meter_prune(D.meter, keep, n, D.slot_used);
	if (D.devices && keep)
		devices_prune(D.devices, keep, n);
	return r;
}
