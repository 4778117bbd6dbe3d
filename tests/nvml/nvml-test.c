// SPDX-License-Identifier: MIT
/* A stand-in for libnvidia-ml.so.1, loaded by sbxd --nvml-lib in tests: the devices,
 * processes and utilisation it reports come from the script file $SBX_TEST_NVML, read
 * again on every call, with lines
 *   device MINOR NAME
 *   proc MINOR PID USED_BYTES SM_PERCENT
 * Utilisation samples are stamped with the time of the call (microseconds). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../host/sys/nvml-abi.h"

struct dev {
	unsigned minor;
	char name[96];
};

static struct dev devs[16];
static unsigned ndevs;

struct proc {
	unsigned minor, pid, sm;
	unsigned long long mem;
};

static struct proc procs[64];
static unsigned nprocs;

static void load(void)
{
	const char *path = getenv("SBX_TEST_NVML");
	char line[256];
	FILE *f = path ? fopen(path, "re") : NULL;

	ndevs = nprocs = 0;
	while (f && fgets(line, sizeof(line), f)) {
		struct proc p;
		if (ndevs < 16 &&
		    sscanf(line, "device %u %95[^\n]", &devs[ndevs].minor, devs[ndevs].name) == 2)
			ndevs++;
		else if (nprocs < 64 &&
			 sscanf(line, "proc %u %u %llu %u", &p.minor, &p.pid, &p.mem, &p.sm) == 4)
			procs[nprocs++] = p;
	}
	if (f)
		fclose(f);
}

int nvmlInit_v2(void)
{
	load();
	return 0;
}

int nvmlShutdown(void)
{
	return 0;
}

int nvmlDeviceGetCount_v2(unsigned *count)
{
	load();
	*count = ndevs;
	return 0;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned index, void **dev)
{
	if (index >= ndevs)
		return NVML_ERROR_INVALID_ARGUMENT;
	*dev = &devs[index];
	return 0;
}

int nvmlDeviceGetMinorNumber(void *dev, unsigned *minor)
{
	*minor = ((struct dev *)dev)->minor;
	return 0;
}

int nvmlDeviceGetName(void *dev, char *name, unsigned len)
{
	snprintf(name, len, "%s", ((struct dev *)dev)->name);
	return 0;
}

int nvmlDeviceGetComputeRunningProcesses_v3(void *dev, unsigned *count, nvmlProcessInfo_t *out)
{
	unsigned n = 0, minor = ((struct dev *)dev)->minor;
	load();
	for (unsigned i = 0; i < nprocs; i++)
		if (procs[i].minor == minor && n < *count)
			out[n++] = (nvmlProcessInfo_t){ .pid = procs[i].pid,
							.usedGpuMemory = procs[i].mem };
	*count = n;
	return 0;
}

int nvmlDeviceGetProcessUtilization(void *dev, nvmlProcessUtilizationSample_t *out, unsigned *count,
				    unsigned long long since)
{
	unsigned n = 0, minor = ((struct dev *)dev)->minor;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned long long now =
		(unsigned long long)ts.tv_sec * 1000000 + (unsigned long long)ts.tv_nsec / 1000;
	load();
	for (unsigned i = 0; i < nprocs; i++)
		if (procs[i].minor == minor && n < *count && now > since)
			out[n++] = (nvmlProcessUtilizationSample_t){ .pid = procs[i].pid,
								     .timeStamp = now,
								     .smUtil = procs[i].sm };
	*count = n;
	return n ? NVML_SUCCESS : NVML_ERROR_NOT_FOUND; /* no samples */
}
