// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "usage.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../sandbox/macro.h"
#include "meter.h"

int usage_cgroup_id(const char *v2_path, uint64_t *ret)
{
	struct stat st;
	if (!v2_path || stat(v2_path, &st) < 0)
		return -errno;
	*ret = st.st_ino; /* a cgroup2 directory's inode number is its cgroup id */
	return 0;
}

/* A number from a cgroup file: the first one, or the value of the line "KEY N". */
static int read_key(const char *dir, const char *file, const char *key, uint64_t *ret)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	return usage_pread(fd, key, ret);
}

static json_t *syscalls_json(const struct meter_counts *mc)
{
	json_t *by = json_object();
	for (int i = 0; i < METER_SYSCALLS; i++) {
		if (!mc->syscalls[i])
			continue;
		char *name = i == METER_SYSCALLS - 1
				     ? strdup("other")
				     : seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, i);
		char num[16];
		snprintf(num, sizeof(num), "%d", i);
		json_object_set_new(by, name ? name : num,
				    json_integer((json_int_t)mc->syscalls[i]));
		free(name);
	}
	return by;
}

static const char *memory_file(const struct cgroup *cg, bool peak, const char **dir)
{
	bool v2 = cg->mode == CGROUP_UNIFIED;
	*dir = v2 ? cg->v2_path : cg->v1_path[CG_V1_MEMORY];
	return v2 ? (peak ? "memory.peak" : "memory.current")
		  : (peak ? "memory.max_usage_in_bytes" : "memory.usage_in_bytes");
}

int usage_memory_now(const struct cgroup *cg, uint64_t *ret)
{
	const char *dir, *file;
	if (!cg)
		return -ENOENT;
	file = memory_file(cg, false, &dir);
	return dir ? read_key(dir, file, NULL, ret) : -ENOENT;
}

int usage_cpu_usec(const struct cgroup *cg, uint64_t *ret)
{
	return cg && cg->v2_path ? read_key(cg->v2_path, "cpu.stat", "usage_usec", ret) : -ENOENT;
}

static const char usage_gone[] = "off: the sandbox's cgroup is gone";

/* cpu_ns, from cpu.stat. */
static void cpu_json(const struct usage_src *s, json_t *j, json_t *meters)
{
	uint64_t v;

	if (usage_cpu_usec(s->cg, &v) == 0) {
		json_object_set_new(j, "cpu_ns", json_integer((json_int_t)(v * 1000)));
		json_object_set_new(meters, "cpu", json_string("cgroup cpu.stat"));
	} else {
		json_object_set_new(j, "cpu_ns", json_null());
		json_object_set_new(meters, "cpu", json_string(usage_gone));
	}
}

usage_byte_ns usage_integral_of(const json_t *u)
{
	json_t *k = json_object_get(u, "memory_kib_ms"), *n = json_object_get(u, "memory_byte_ns");
	if (json_is_integer(k) && json_integer_value(k) >= 0)
		return (usage_byte_ns)json_integer_value(k) * USAGE_KIB_MS;
	if (json_is_integer(n)) /* a uint64, which read negative past 2^63 */
		return (usage_byte_ns)(uint64_t)json_integer_value(n);
	return 0;
}

/* The integral as the record carries it: KiB-ms, and byte-ns while that fits (null
 * after: it only ever said so up to 2^63). */
static void integral_json(json_t *j, const struct usage_src *s, usage_byte_ns v)
{
	uint64_t kib_ms = usage_kib_ms(v);
	json_object_set_new(j, "memory_kib_ms",
			    s->no_integral || kib_ms > INT64_MAX
				    ? json_null()
				    : json_integer((json_int_t)kib_ms));
	json_object_set_new(j, "memory_byte_ns",
			    s->no_integral || v > INT64_MAX ? json_null()
							    : json_integer((json_int_t)v));
}

/* memory_bytes, memory_peak_bytes and the integral, from the memory cgroup. */
static void memory_json(const struct usage_src *s, json_t *j, json_t *meters)
{
	const struct cgroup *cg = s->cg;
	const char *mdir = NULL, *pfile = cg ? memory_file(cg, true, &mdir) : NULL;
	uint64_t v, peak;

	if (usage_memory_now(cg, &v) == 0 && mdir && read_key(mdir, pfile, NULL, &peak) == 0) {
		/* The integral up to the last sample, and the current level since. */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		usage_byte_ns integral =
			s->mem_byte_ns +
			(s->mem_tick ? (usage_byte_ns)v * (uint64_t)(now - s->mem_tick) : 0);
		json_object_set_new(j, "memory_bytes", json_integer((json_int_t)v));
		json_object_set_new(j, "memory_peak_bytes", json_integer((json_int_t)peak));
		integral_json(j, s, integral);
		json_object_set_new(meters, "memory",
				    json_string(cg->mode == CGROUP_UNIFIED ? "cgroup v2 memory"
									   : "cgroup v1 memory"));
	} else {
		json_object_set_new(j, "memory_bytes", json_null());
		json_object_set_new(j, "memory_peak_bytes", json_null());
		json_object_set_new(j, "memory_kib_ms", json_null());
		json_object_set_new(j, "memory_byte_ns", json_null());
		json_object_set_new(
			meters, "memory",
			json_string(cg ? "off: no memory cgroup for this sandbox" : usage_gone));
	}
}

/* syscalls_total, syscalls and net, from the eBPF meter's slot. */
static void ebpf_json(const struct usage_src *s, json_t *j, json_t *meters)
{
	struct meter_counts *mc = s->meter && s->slot >= 0 ? calloc(1, sizeof(*mc)) : NULL;

	if (mc && meter_read(s->meter, (uint32_t)s->slot, mc) == 0) {
		json_object_set_new(j, "syscalls_total",
				    json_integer((json_int_t)mc->syscalls_total));
		json_object_set_new(j, "syscalls", syscalls_json(mc));
		const struct meter_net *n = &mc->net;
		json_object_set_new(j, "net",
				    json_pack("{s:{s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I},s:I}",
					      "internet", "rx_bytes", (json_int_t)n->rx_bytes,
					      "rx_packets", (json_int_t)n->rx_packets, "tx_bytes",
					      (json_int_t)n->tx_bytes, "tx_packets",
					      (json_int_t)n->tx_packets, "local", "rx_bytes",
					      (json_int_t)n->lo_rx_bytes, "rx_packets",
					      (json_int_t)n->lo_rx_packets, "tx_bytes",
					      (json_int_t)n->lo_tx_bytes, "tx_packets",
					      (json_int_t)n->lo_tx_packets, "denied",
					      (json_int_t)s->net_denied));
		json_object_set_new(meters, "syscalls", json_string("ebpf tp_btf/sys_enter"));
		json_object_set_new(meters, "net", json_string("ebpf cgroup_skb"));
	} else {
		char why[256];
		snprintf(why, sizeof(why), "off: %s",
			 s->meter_off ? s->meter_off : "eBPF unavailable");
		json_object_set_new(j, "syscalls_total", json_null());
		json_object_set_new(j, "syscalls", json_null());
		json_object_set_new(j, "net", json_null());
		json_object_set_new(meters, "syscalls", json_string(why));
		json_object_set_new(meters, "net", json_string(why));
	}
	free(mc);
}

/* One granted GPU: what the eBPF meter saw of it, and NVML's figures. */
static json_t *gpu_json(const struct usage_src *s, unsigned i)
{
	const struct usage_gpu *ug = &s->gpus[i];
	struct meter_gpu g = { 0 };
	bool have = s->meter && s->slot >= 0 &&
		    meter_gpu_read(s->meter, (uint32_t)s->slot, ug->index, &g) == 0;
	json_t *o = json_pack("{s:s,s:s,s:I}", "device", ug->path, "model", ug->model,
			      "attached_ns", (json_int_t)s->wall_ns);

	json_object_set_new(o, "opens", have ? json_integer((json_int_t)g.opens) : json_null());
	json_object_set_new(o, "ioctls", have ? json_integer((json_int_t)g.ioctls) : json_null());
	json_object_set_new(o, "ioctl_ns",
			    have ? json_integer((json_int_t)g.ioctl_ns) : json_null());
	/* From NVML, attributed through the sandbox's processes: informational. */
	json_object_set_new(o, "busy_ns",
			    ug->nvml_off ? json_null() : json_integer((json_int_t)ug->busy_ns));
	json_object_set_new(o, "memory_bytes",
			    ug->nvml_off ? json_null() : json_integer((json_int_t)ug->mem_bytes));
	json_object_set_new(o, "memory_peak_bytes",
			    ug->nvml_off ? json_null()
					 : json_integer((json_int_t)ug->mem_peak_bytes));
	if (ug->nvml_off)
		json_object_set_new(o, "nvml", json_string(ug->nvml_off));
	return o;
}

/* GPU seconds are the time a device was attached; ioctls are driver activity. */
static void gpus_json(const struct usage_src *s, json_t *j, json_t *meters)
{
	json_t *gpus = json_array();

	for (unsigned i = 0; i < s->ngpus; i++)
		json_array_append_new(gpus, gpu_json(s, i));
	json_object_set_new(j, "gpus", gpus);
	if (s->ngpus)
		json_object_set_new(meters, "gpu",
				    json_string(s->meter && s->slot >= 0
							? "ebpf ioctl/open on granted nodes"
							: "off: no eBPF meter"));
}

/* Counters now, in base units; a meter that is off says why instead of a zero. */
json_t *usage_json(const struct usage_src *s)
{
	json_t *j = json_pack("{s:s,s:s,s:s}", "id", s->id, "tenant", s->tenant, "state", s->state);
	json_t *meters = json_object();
	const struct sandbox_limits *lim = s->limits;

	json_object_set_new(j, "wall_ns", json_integer(s->wall_ns));
	cpu_json(s, j, meters);
	memory_json(s, j, meters);
	json_object_set_new(j, "limits",
			    json_pack("{s:I,s:I,s:I}", "memory_bytes",
				      (json_int_t)lim->memory_bytes, "cpu_milli",
				      (json_int_t)lim->cpu_milli, "pids", (json_int_t)lim->pids));
	ebpf_json(s, j, meters);
	gpus_json(s, j, meters);
	json_object_set_new(j, "meters", meters);
	return j;
}

int usage_pread(int fd, const char *key, uint64_t *ret)
{
	char buf[1024];
	ssize_t n = fd < 0 ? -1 : pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	if (!key)
		return sscanf(buf, "%" SCNu64, ret) == 1 ? 0 : -EINVAL;
	size_t k = strlen(key);
	for (char *l = buf; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, k) && l[k] == ' ')
			return sscanf(l + k + 1, "%" SCNu64, ret) == 1 ? 0 : -EINVAL;
	return -ENOENT;
}

static void add_int(json_t *o, const char *key, const json_t *base, int64_t minus)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		return; /* a meter that is off stays off */
	json_int_t n = json_integer_value(v) - minus;
	if (n < 0)
		n = 0;
	n += json_integer_value(json_object_get(base, key));
	json_integer_set(v, n);
}

const json_t *usage_net_internet(const json_t *net)
{
	const json_t *i = json_object_get(net, "internet");
	return i ? i : net;
}

void usage_add_base(json_t *u, const json_t *base, uint64_t cpu_offset_ns)
{
	static const char *const counters[] = { "wall_ns", "syscalls_total" };
	static const char *const net[] = { "rx_bytes", "tx_bytes", "rx_packets", "tx_packets" };
	json_t *n = json_object_get(u, "net");
	const json_t *bn = json_object_get(base, "net");

	add_int(u, "cpu_ns", base, (int64_t)cpu_offset_ns);
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		add_int(u, counters[i], base, 0);
	for (size_t i = 0; i < sizeof(net) / sizeof(net[0]); i++) {
		add_int(json_object_get(n, "internet"), net[i], usage_net_internet(bn), 0);
		add_int(json_object_get(n, "local"), net[i], json_object_get(bn, "local"), 0);
	}
	add_int(n, "denied", bn, 0);
	json_t *by = json_object_get(u, "syscalls"), *bv;
	const char *name;
	if (!json_is_object(by))
		return;
	json_object_foreach ((json_t *)json_object_get(base, "syscalls"), name, bv) {
		json_t *v = json_object_get(by, name);
		json_int_t sum = json_integer_value(bv) + (v ? json_integer_value(v) : 0);
		json_object_set_new(by, name, json_integer(sum));
	}
}
