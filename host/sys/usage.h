/* SPDX-License-Identifier: MIT */
/* A sandbox's usage record, in base units, from its cgroups and its eBPF meter slot:
 * shared by sbxd (GET .../usage, /metrics) and the one-shot `sbx run --usage`.
 * A meter that is off says why ("off: ...") instead of reading zero. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../sandbox/cgroup.h"
#include "../../sandbox/spec.h"

struct meter;

struct usage_gpu {
	const char *path, *model;
	unsigned index;	      /* in the sandbox's meter row */
	const char *nvml_off; /* NULL: NVML figures below are real */
	uint64_t busy_ns, mem_bytes, mem_peak_bytes;
};

/* Memory integrated over time, in byte-nanoseconds, 128 bits wide (64 would wrap at 17
 * GiB-seconds: 1 GiB held for 17 s). The API, snapshots and the ledger carry it in
 * KiB-milliseconds (USAGE_KIB_MS byte-ns each), whose 64 bits hold 128 GiB for 4 years. */
typedef unsigned __int128 usage_byte_ns;
#define USAGE_KIB_MS (1024ULL * 1000000ULL)

static inline uint64_t usage_kib_ms(usage_byte_ns v)
{
	v /= USAGE_KIB_MS;
	return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

struct usage_src {
	const char *id, *tenant, *state;
	int64_t wall_ns;
	const struct cgroup *cg;   /* NULL once it is gone */
	usage_byte_ns mem_byte_ns; /* memory integrated up to mem_tick */
	int64_t mem_tick;	   /* CLOCK_MONOTONIC of that sample; 0 = none */
	bool no_integral;	   /* memory was not sampled over time (a one-shot run) */
	const struct sandbox_limits *limits;
	struct meter *meter; /* with slot >= 0; else meter_off says why */
	int slot;
	const char *meter_off;
	uint64_t net_denied;	      /* connections its network policy refused */
	const struct usage_gpu *gpus; /* granted devices */
	unsigned ngpus;
};

json_t *usage_json(const struct usage_src *s);
/* The memory integral of a usage record: its memory_kib_ms, or (a record written before
 * there was one) its memory_byte_ns; 0 if neither. */
usage_byte_ns usage_integral_of(const json_t *u);
/* A restored sandbox's record: its counters on top of @base (the usage at its
 * checkpoint), less @cpu_offset_ns of CPU that the restore itself spent. */
void usage_add_base(json_t *u, const json_t *base, uint64_t cpu_offset_ns);
/* The "internet" counters of a usage record's "net" (a record written before the split:
 * "net" itself). */
const json_t *usage_net_internet(const json_t *net);
/* Memory charged to the sandbox now. */
int usage_memory_now(const struct cgroup *cg, uint64_t *ret);
/* CPU time the sandbox has used (cpu.stat's usage_usec). Both open the file for the one
 * read: sbxd holds no descriptor per sandbox for them. */
int usage_cpu_usec(const struct cgroup *cg, uint64_t *ret);
/* The first number of an open cgroup file, or the value of "KEY N" in it. */
int usage_pread(int fd, const char *key, uint64_t *ret);
/* The cgroup id eBPF sees for a cgroup-v2 directory. */
int usage_cgroup_id(const char *v2_path, uint64_t *ret);
