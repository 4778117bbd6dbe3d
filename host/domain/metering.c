// SPDX-License-Identifier: MIT
/* A sandbox's meters: its slot in the eBPF meter, its GPUs' ioctl timing, its memory
 * integral, and its usage as JSON (live, or as it ended). */
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
#include "internal.h"
#include "../sys/devices.h"
#include "../sys/layer.h"
#include "../sys/meter.h"
#include "../sys/store.h"
#include "../sys/usage.h"

int slot_alloc(void)
{
	for (int i = 0; i < (int)D.nslots; i++)
		if (!D.slot_used[i]) {
			D.slot_used[i] = 1;
			return i;
		}
	return -1;
}

/* The sandbox stops counting; its slot is free for the next one. */
void slot_free(struct box *b)
{
	if (b->slot < 0)
		return;
	if (D.meter && b->cg_id)
		(void)meter_detach(D.meter, b->cg_id);
	D.slot_used[b->slot] = 0;
	b->slot = -1;
}

/* Counting the devices a box holds, from zero (@fresh) or on (re-adoption): each GPU's own
 * node (@rdevs), then the driver's shared nodes among @nodes (nvidiactl, nvidia-uvm),
 * counted with the box's first GPU. CUDA talks to those far more than to the GPU's node. */
int gpus_meter(int slot, const uint64_t *rdevs, unsigned ngpu, const uint64_t *nodes, size_t nnodes,
	       bool fresh)
{
	for (unsigned i = 0; i < ngpu; i++) {
		int r = meter_gpu_grant(D.meter, (uint32_t)slot, i, rdevs[i], fresh);
		if (r < 0)
			return r;
	}
	for (size_t k = 0; ngpu && k < nnodes; k++) {
		bool own = false;
		for (unsigned i = 0; i < ngpu && !own; i++)
			own = nodes[k] == rdevs[i];
		int r = own ? 0 : meter_gpu_grant(D.meter, (uint32_t)slot, 0, nodes[k], false);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The box gives its devices back; the ioctl timer goes off with the last holder. */
void gpus_release(struct box *b)
{
	uint64_t rdevs[ROOTFS_MAX_DEVICES];
	if (D.devices && b->cg_id)
		devices_forget(D.devices, b->cg_id, rdevs,
			       gpu_nodes_of(b, NULL, rdevs, ARRAY_SIZE(rdevs)));
	for (unsigned i = 0; i < b->ngpu; i++) {
		struct gpu *g = &D.gpus[b->gpu_idx[i]];
		for (unsigned k = 0; D.meter && b->slot >= 0 && k < g->nnodes; k++)
			(void)meter_gpu_revoke(D.meter, (uint32_t)b->slot, g->node_rdev[k]);
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
int on_cgroup(const struct cgroup *cg, void *userdata)
{
	struct launch_io *io = userdata;
	int r = usage_cgroup_id(cg->v2_path, &io->cg_id);
	if (r == 0 && D.devices)
		r = devices_attach(D.devices, cg->v2_fd, io->cg_id, io->node_rdevs, io->nnodes);
	if (r < 0 || io->slot < 0 || io->from)
		return r; /* a restore attaches its meter once CRIU is done */
	r = gpus_meter(io->slot, io->gpu_rdevs, io->ngpu, io->node_rdevs, io->nnodes, true);
	return r < 0 ? r : meter_attach(D.meter, io->cg_id, (uint32_t)io->slot, true);
}

void box_meter_tick(int64_t mono)
{
	uint64_t cur;
	int64_t every = (int64_t)D.opt.meter_tick_ns, t0 = mono_ns();
	unsigned seen = 0;
	struct box *b = D.meter_next ? D.meter_next : D.boxes;

	/* On from where the last tick stopped, to the end of the list at most. */
	for (D.meter_next = NULL; b; b = b->next) {
		bool due = b->state == BOX_RUNNING && b->sb &&
			   (!b->mem_tick || mono - b->mem_tick >= every);
		if ((due || ++seen % 64 == 0) && mono_ns() - t0 > TICK_WORK_NS) {
			D.meter_next = b; /* the loop has other work: the rest at the next tick */
			return;
		}
		if (!due || usage_memory_now(b->sb->cg, &cur) < 0)
			continue;
		if (b->mem_tick)
			b->mem_byte_ns += (usage_byte_ns)cur * (uint64_t)(mono - b->mem_tick);
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
		.net_denied = b->net_idx ? net_denied(b->net_idx) : 0,
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
	/* No cgroup to read (an OCI container that ended while sbxd was away): the CPU its
	 * base says, rather than none. */
	if (!json_is_integer(json_object_get(u, "cpu_ns")) &&
	    json_is_integer(json_object_get(b->base, "cpu_ns")))
		json_object_set(u, "cpu_ns", json_object_get(b->base, "cpu_ns"));
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
void usage_finalize(struct box *b)
{
	if (b->usage_final)
		return;
	json_t *u = usage_now(b);
	b->usage_final = json_dumps(u, JSON_COMPACT);
	json_decref(u);
	bill_final(b); /* the last window, while its counters are there */
	gpus_release(b);
	slot_free(b);
	if (b->net_idx) {
		net_release(b->net_idx, &b->req.netp);
		b->net_idx = 0;
	}
}
