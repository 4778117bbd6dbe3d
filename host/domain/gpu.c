// SPDX-License-Identifier: MIT
/* GPUs sbxd can grant: NVIDIA devices found under a root (/ normally): /dev/nvidia<N>,
 * their model and bus id from /proc/driver/nvidia/gpus/<bus>/information, and the
 * companion nodes every NVIDIA GPU needs (nvidiactl, nvidia-uvm and nvidia-uvm-tools,
 * whose major /proc/devices names, nvidia-modeset); plus --gpu-device stand-ins. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "../../sandbox/macro.h"
#include "domain.h"
#include "../sys/nvml.h"

static int add_node(struct gpu *g, const char *path)
{
	struct stat st;

	if (g->nnodes == ARRAY_SIZE(g->nodes) || stat(path, &st) < 0 || !S_ISCHR(st.st_mode))
		return -ENOENT;
	g->nodes[g->nnodes] = strdup(path);
	if (!g->nodes[g->nnodes])
		return -ENOMEM;
	g->node_rdev[g->nnodes++] = st.st_rdev;
	return 0;
}

int gpu_add(const char *path, const char *model, const char *bus)
{
	if (D.ngpus == ARRAY_SIZE(D.gpus))
		return -E2BIG;
	struct gpu *g = &D.gpus[D.ngpus];
	memset(g, 0, sizeof(*g));
	int r = add_node(g, path);
	if (r < 0)
		return r;
	g->model = strdup(model && *model ? model : "unknown");
	g->bus = bus ? strdup(bus) : NULL;
	if (!g->model)
		return -ENOMEM;
	D.ngpus++;
	return 0;
}

/* The major number /proc/devices gives @name, or -1. */
static int proc_major(const char *root, const char *name)
{
	char path[4096], line[256], n[128];
	int major = -1, m;

	snprintf(path, sizeof(path), "%s/proc/devices", root);
	FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%d %127s", &m, n) == 2 && !strcmp(n, name))
			major = m;
	if (f)
		fclose(f);
	return major;
}

/* Model and bus of the GPU with device minor @minor, from the driver's information files. */
static void nvidia_info(const char *root, unsigned minor, char *model, size_t msize, char *bus,
			size_t bsize)
{
	char dir[4096], path[4400], line[512];
	struct dirent *e;

	snprintf(dir, sizeof(dir), "%s/proc/driver/nvidia/gpus", root);
	DIR *d = opendir(dir);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/information", dir, e->d_name);
		FILE *f = fopen(path, "re");
		char m[256] = "";
		int dm = -1;
		while (f && fgets(line, sizeof(line), f)) {
			char *v = strchr(line, ':');
			if (!v)
				continue;
			*v++ = '\0';
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			if (!strcmp(line, "Model"))
				snprintf(m, sizeof(m), "%s", v);
			else if (!strcmp(line, "Device Minor"))
				dm = atoi(v);
		}
		if (f)
			fclose(f);
		if (dm == (int)minor) {
			snprintf(model, msize, "%s", m);
			snprintf(bus, bsize, "%s", e->d_name);
		}
	}
	if (d)
		closedir(d);
}

int gpu_discover_nvidia(const char *root)
{
	char path[4096], model[256], bus[256];
	int found = 0, uvm = proc_major(root, "nvidia-uvm");

	for (unsigned n = 0; n < 64; n++) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/dev/nvidia%u", root, n);
		if (stat(path, &st) < 0 || !S_ISCHR(st.st_mode))
			continue;
		model[0] = bus[0] = '\0';
		nvidia_info(root, minor(st.st_rdev), model, sizeof(model), bus, sizeof(bus));
		if (gpu_add(path, model[0] ? model : "NVIDIA GPU", bus[0] ? bus : NULL) < 0)
			continue;
		struct gpu *g = &D.gpus[D.ngpus - 1];
		/* Every NVIDIA GPU needs the control node; CUDA needs uvm (its major is the
		 * driver's, named in /proc/devices: a node with another one is not uvm). */
		static const char *const companions[] = { "nvidiactl", "nvidia-uvm",
							  "nvidia-uvm-tools", "nvidia-modeset" };
		for (size_t i = 0; i < ARRAY_SIZE(companions); i++) {
			snprintf(path, sizeof(path), "%s/dev/%s", root, companions[i]);
			struct stat cs;
			if (stat(path, &cs) < 0)
				continue;
			if (!strncmp(companions[i], "nvidia-uvm", 10) &&
			    (int)major(cs.st_rdev) != uvm) {
				logmsg(1, "%s: major %u is not nvidia-uvm's (%d); not granted",
				       path, major(cs.st_rdev), uvm);
				continue;
			}
			(void)add_node(g, path);
		}
		found++;
	}
	return found;
}

/* Every node of the GPUs @b holds, each once. */
size_t gpu_nodes_of(const struct box *b, const char **paths, uint64_t *rdevs, size_t max)
{
	size_t n = 0;
	for (unsigned i = 0; i < b->ngpu; i++) {
		const struct gpu *g = &D.gpus[b->gpu_idx[i]];
		for (unsigned k = 0; k < g->nnodes && n < max; k++) {
			bool dup = false;
			for (size_t j = 0; j < n && !dup; j++)
				dup = rdevs[j] == g->node_rdev[k];
			if (dup)
				continue;
			if (paths)
				paths[n] = g->nodes[k];
			rdevs[n++] = g->node_rdev[k];
		}
	}
	return n;
}

unsigned gpu_rdevs_of(const struct box *b, uint64_t *rdevs)
{
	for (unsigned i = 0; i < b->ngpu; i++)
		rdevs[i] = D.gpus[b->gpu_idx[i]].node_rdev[0];
	return b->ngpu;
}

void gpu_launch_io(const struct box *b, struct launch_io *io)
{
	_Static_assert(ARRAY_SIZE(io->nodes) >=
			       ARRAY_SIZE(b->gpu_idx) * ARRAY_SIZE(D.gpus[0].nodes),
		       "room for every node of every GPU a box may hold");
	io->nnodes = gpu_nodes_of(b, io->nodes, io->node_rdevs, ARRAY_SIZE(io->nodes));
	io->ngpu = gpu_rdevs_of(b, io->gpu_rdevs);
}

/* NVML where it loads: it names the devices it knows and reports their use. */
void gpu_nvml_init(void)
{
	bool nvidia = false;
	for (unsigned i = 0; i < D.ngpus; i++)
		nvidia |= D.gpus[i].bus != NULL;
	if (!nvidia && !D.opt.nvml_lib) {
		D.nvml_why = strdup("no NVIDIA GPU here");
		return;
	}
	if (nvml_open(D.opt.nvml_lib, &D.nvml, &D.nvml_why) < 0) {
		logmsg(1, "NVML: %s; GPU busy time and memory are not reported",
		       D.nvml_why ? D.nvml_why : "unavailable");
		return;
	}
	for (unsigned i = 0; i < D.ngpus; i++) {
		struct gpu *g = &D.gpus[i];
		char name[96];
		if (nvml_device(D.nvml, minor(g->node_rdev[0]), &g->nvml_dev) < 0)
			continue;
		if ((!strcmp(g->model, "NVIDIA GPU") || !strcmp(g->model, "unknown")) &&
		    nvml_name(D.nvml, g->nvml_dev, name, sizeof(name)) == 0) {
			free(g->model);
			g->model = strdup(name);
		}
	}
}

/* Whether host process @pid is in the cgroup (or below) whose path is @rel. */
static bool pid_in(unsigned pid, const char *rel)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
	FILE *f = fopen(path, "re");
	bool in = false;
	size_t n = strlen(rel);
	while (f && fgets(buf, sizeof(buf), f))
		if (!strncmp(buf, "0::", 3) && !strncmp(buf + 3, rel, n) &&
		    (buf[3 + n] == '\n' || buf[3 + n] == '/'))
			in = true;
	if (f)
		fclose(f);
	return in;
}

struct attr {
	const char *rel;
	uint64_t mem;
	uint64_t ts[64];
	unsigned sm[64], nts;
};

static void on_proc(unsigned pid, uint64_t mem, void *ud)
{
	struct attr *a = ud;
	if (pid_in(pid, a->rel))
		a->mem += mem;
}

static void on_sample(unsigned pid, unsigned sm, uint64_t ts, void *ud)
{
	struct attr *a = ud;
	if (!pid_in(pid, a->rel))
		return;
	for (unsigned i = 0; i < a->nts; i++)
		if (a->ts[i] == ts) {
			a->sm[i] = a->sm[i] + sm > 100 ? 100 : a->sm[i] + sm;
			return;
		}
	if (a->nts < 64) {
		a->ts[a->nts] = ts;
		a->sm[a->nts++] = sm > 100 ? 100 : sm;
	}
}

/* One metering tick of a box's GPUs: memory its processes hold now (and at peak), and
 * busy time: the interval times its processes' mean SM utilisation over NVML's samples. */
void gpu_nvml_tick(struct box *b, int64_t mono)
{
	int64_t dt = b->gpu_tick ? mono - b->gpu_tick : 0;
	b->gpu_tick = mono;
	if (!D.nvml || !b->cg_rel)
		return;
	for (unsigned i = 0; i < b->ngpu; i++) {
		struct gpu *g = &D.gpus[b->gpu_idx[i]];
		if (!g->nvml_dev)
			continue;
		struct attr a = { .rel = b->cg_rel };
		uint64_t last;
		(void)nvml_processes(D.nvml, g->nvml_dev, on_proc, &a);
		b->gpu_use[i].mem_bytes = a.mem;
		if (a.mem > b->gpu_use[i].mem_peak_bytes)
			b->gpu_use[i].mem_peak_bytes = a.mem;
		if (nvml_utilization(D.nvml, g->nvml_dev, b->gpu_use[i].last_ts, on_sample, &a,
				     &last) == 0) {
			b->gpu_use[i].last_ts = last;
			uint64_t sum = 0;
			for (unsigned k = 0; k < a.nts; k++)
				sum += a.sm[k];
			if (a.nts && dt > 0)
				b->gpu_use[i].busy_ns += (uint64_t)dt * sum / (100 * a.nts);
		}
	}
}
