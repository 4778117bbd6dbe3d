// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "nvml.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvml-abi.h"

struct nvml {
	void *lib;
	nvmlReturn_t (*init)(void);
	nvmlReturn_t (*shutdown)(void);
	nvmlReturn_t (*count)(unsigned int *);
	nvmlReturn_t (*by_index)(unsigned int, nvmlDevice_t *);
	nvmlReturn_t (*minor)(nvmlDevice_t, unsigned int *);
	nvmlReturn_t (*name)(nvmlDevice_t, char *, unsigned int);
	nvmlReturn_t (*procs)(nvmlDevice_t, unsigned int *, nvmlProcessInfo_t *);
	nvmlReturn_t (*util)(nvmlDevice_t, nvmlProcessUtilizationSample_t *, unsigned int *,
			     unsigned long long);
};

int nvml_open(const char *lib, struct nvml **ret, char **ret_why)
{
	struct nvml *n = calloc(1, sizeof(*n));
	const char *what;

	*ret_why = NULL;
	if (!n)
		return -ENOMEM;
	n->lib = dlopen(lib ? lib : "libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!n->lib) {
		if (asprintf(ret_why, "%s not loaded", lib ? lib : "libnvidia-ml.so.1") < 0)
			*ret_why = NULL;
		free(n);
		return -ENOENT;
	}
#define SYM(field, name)                                                                           \
	do {                                                                                       \
		*(void **)&n->field = dlsym(n->lib, name);                                         \
		if (!n->field) {                                                                   \
			what = name;                                                               \
			goto missing;                                                              \
		}                                                                                  \
	} while (0)
	SYM(init, "nvmlInit_v2");
	SYM(shutdown, "nvmlShutdown");
	SYM(count, "nvmlDeviceGetCount_v2");
	SYM(by_index, "nvmlDeviceGetHandleByIndex_v2");
	SYM(minor, "nvmlDeviceGetMinorNumber");
	SYM(name, "nvmlDeviceGetName");
	SYM(procs, "nvmlDeviceGetComputeRunningProcesses_v3");
	SYM(util, "nvmlDeviceGetProcessUtilization");
#undef SYM
	if (n->init() != NVML_SUCCESS) {
		*ret_why = strdup("nvmlInit failed");
		dlclose(n->lib);
		free(n);
		return -EIO;
	}
	*ret = n;
	return 0;
missing:
	if (asprintf(ret_why, "NVML has no %s", what) < 0)
		*ret_why = NULL;
	dlclose(n->lib);
	free(n);
	return -ENOSYS;
}

void nvml_close(struct nvml *n)
{
	if (!n)
		return;
	n->shutdown();
	dlclose(n->lib);
	free(n);
}

int nvml_device(struct nvml *n, unsigned minor, void **ret_dev)
{
	unsigned count = 0, m;
	nvmlDevice_t d;

	if (n->count(&count) != NVML_SUCCESS)
		return -EIO;
	for (unsigned i = 0; i < count; i++)
		if (n->by_index(i, &d) == NVML_SUCCESS && n->minor(d, &m) == NVML_SUCCESS &&
		    m == minor) {
			*ret_dev = d;
			return 0;
		}
	return -ENOENT;
}

int nvml_name(struct nvml *n, void *dev, char *buf, unsigned size)
{
	return n->name(dev, buf, size) == NVML_SUCCESS ? 0 : -EIO;
}

int nvml_processes(struct nvml *n, void *dev, void (*fn)(unsigned pid, uint64_t mem, void *ud),
		   void *ud)
{
	nvmlProcessInfo_t infos[256];
	unsigned count = 256;
	nvmlReturn_t r = n->procs(dev, &count, infos);

	if (r != NVML_SUCCESS)
		return r == NVML_ERROR_INSUFFICIENT_SIZE ? -E2BIG : -EIO;
	for (unsigned i = 0; i < count && i < 256; i++)
		fn(infos[i].pid, infos[i].usedGpuMemory, ud);
	return 0;
}

int nvml_utilization(struct nvml *n, void *dev, uint64_t since,
		     void (*fn)(unsigned pid, unsigned sm, uint64_t ts, void *ud), void *ud,
		     uint64_t *ret_last)
{
	nvmlProcessUtilizationSample_t s[512];
	unsigned count = 512;
	nvmlReturn_t r = n->util(dev, s, &count, since);

	*ret_last = since;
	if (r == NVML_ERROR_NOT_FOUND) /* no samples since then */
		return 0;
	if (r != NVML_SUCCESS)
		return -EIO;
	for (unsigned i = 0; i < count && i < 512; i++) {
		fn(s[i].pid, s[i].smUtil, s[i].timeStamp, ud);
		if (s[i].timeStamp > *ret_last)
			*ret_last = s[i].timeStamp;
	}
	return 0;
}
