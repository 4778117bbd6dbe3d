// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "devices.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "../../sandbox/instance.h"
#include "devices.skel.h"
#include "meter.h"

struct devices {
	struct devices_bpf *skel;
	int prog_fd, map_fd;
};

struct grant_key {
	uint64_t cgroup;
	uint32_t dev;
	uint32_t pad;
};

int devices_open(struct devices **ret, char **ret_why)
{
	struct devices *d = calloc(1, sizeof(*d));
	int r;

	*ret_why = NULL;
	if (!d)
		return -ENOMEM;
	d->skel = devices_bpf__open();
	if (!d->skel) {
		r = -errno ? -errno : -EINVAL;
		goto fail;
	}
	/* Grants outlive the daemon, as the programs attached to running sandboxes do. */
	char pin[256]; /* libbpf keeps a copy */
	bpf_map__set_pin_path(d->skel->maps.granted, instance_pin_path(pin, "dev_granted"));
	r = devices_bpf__load(d->skel);
	if (r < 0)
		goto fail;
	d->prog_fd = bpf_program__fd(d->skel->progs.allow_devices);
	d->map_fd = bpf_map__fd(d->skel->maps.granted);
	*ret = d;
	return 0;
fail:
	if (asprintf(ret_why, "device allowlist program: %s", strerror(-r)) < 0)
		*ret_why = NULL;
	devices_close(d);
	return r;
}

void devices_close(struct devices *d)
{
	if (!d)
		return;
	devices_bpf__destroy(d->skel);
	free(d);
}

static struct grant_key key(uint64_t cg_id, uint64_t rdev)
{
	return (struct grant_key){ .cgroup = cg_id,
				   .dev = (uint32_t)(major(rdev) << 20 | minor(rdev)) };
}

int devices_attach(struct devices *d, int cg_fd, uint64_t cg_id, const uint64_t *rdevs, size_t n)
{
	uint8_t one = 1;

	for (size_t i = 0; i < n; i++) {
		struct grant_key k = key(cg_id, rdevs[i]);
		if (bpf_map_update_elem(d->map_fd, &k, &one, BPF_ANY) < 0)
			return -errno;
	}
	return bpf_prog_attach(d->prog_fd, cg_fd, BPF_CGROUP_DEVICE, 0) < 0 ? -errno : 0;
}

void devices_forget(struct devices *d, uint64_t cg_id, const uint64_t *rdevs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct grant_key k = key(cg_id, rdevs[i]);
		(void)bpf_map_delete_elem(d->map_fd, &k);
	}
}

struct keep {
	const uint64_t *ids;
	size_t n;
};

static bool grant_gone(const void *key, void *ud)
{
	const struct keep *k = ud;
	const struct grant_key *g = key;
	for (size_t i = 0; i < k->n; i++)
		if (k->ids[i] == g->cgroup)
			return false;
	return true;
}

void devices_prune(struct devices *d, const uint64_t *keep, size_t n)
{
	struct keep k = { keep, n };
	(void)bpf_hash_prune(d->map_fd, sizeof(struct grant_key), grant_gone, &k);
}
