/* SPDX-License-Identifier: MIT */
/* NVML, loaded at run time with dlopen (sbx builds and runs without it): per-process GPU
 * utilisation samples and memory, for the GPU time a sandbox's processes use. Only the
 * few entry points sbxd needs; their types as NVML declares them. Return 0 or -errno. */
#pragma once

#include <stdint.h>

struct nvml;

/* @lib: a library path (tests), or NULL for libnvidia-ml.so.1. *ret_why on failure. */
int nvml_open(const char *lib, struct nvml **ret, char **ret_why);
void nvml_close(struct nvml *n);

/* The device whose /dev/nvidia<minor> node it is; its name. */
int nvml_device(struct nvml *n, unsigned minor, void **ret_dev);
int nvml_name(struct nvml *n, void *dev, char *buf, unsigned size);

/* Processes using @dev now: @fn(pid, used memory bytes). */
int nvml_processes(struct nvml *n, void *dev, void (*fn)(unsigned pid, uint64_t mem, void *ud),
		   void *ud);
/* Utilisation samples newer than @since (NVML's microsecond timestamps): @fn(pid, sm %,
 * timestamp). *ret_last: the newest timestamp seen. */
int nvml_utilization(struct nvml *n, void *dev, uint64_t since,
		     void (*fn)(unsigned pid, unsigned sm, uint64_t ts, void *ud), void *ud,
		     uint64_t *ret_last);
