// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "meter.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "../sandbox/macro.h"
#include "meter.skel.h"

struct meter {
	struct meter_bpf *skel;
	struct bpf_link *links[3]; /* a private instance's; pinned ones live in bpffs */
	int slots_fd, syscalls_fd, net_fd;
};

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN && getenv("SBX_BPF_DEBUG") ? vfprintf(stderr, fmt, ap) : 0;
}

static int ensure_bpffs(void)
{
	struct statfs sfs;

	if (statfs("/sys/fs/bpf", &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC)
		return 0;
	if (mkdir("/sys/fs/bpf", 0700) < 0 && errno != EEXIST)
		return -errno;
	return mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") < 0 ? -errno : 0;
}

/* Links are pinned per level: a daemon whose sandboxes sit at another depth replaces
 * them. Returns 0 when a pinned link is reused, 1 when the caller must attach. */
static int pin_path(char *buf, size_t size, const char *name, unsigned level)
{
	return snprintf(buf, size, METER_PIN_DIR "/%s-L%u", name, level) >= (int)size ? -1 : 0;
}

static int link_pinned_or_attach(struct bpf_program *prog, const char *name, unsigned level,
				 int cg_fd)
{
	char path[256];
	struct bpf_link *link;

	pin_path(path, sizeof(path), name, level);
	int fd = bpf_obj_get(path);
	if (fd >= 0) { /* still counting since an earlier sbxd attached it */
		close(fd);
		return 0;
	}
	link = cg_fd >= 0 ? bpf_program__attach_cgroup(prog, cg_fd) : bpf_program__attach(prog);
	if (!link)
		return -errno ? -errno : -EINVAL;
	int r = bpf_link__pin(link, path);
	bpf_link__disconnect(link); /* the pin keeps it attached after we exit */
	bpf_link__destroy(link);
	return r;
}

int meter_open(const char *parent_v2, unsigned level, bool pinned, struct meter **ret,
	       char **ret_why)
{
	struct meter *m = calloc(1, sizeof(*m));
	_cleanup_close_ int cg_fd = -1;
	const char *what = "bpffs";
	int r;

	*ret_why = NULL;
	if (!m)
		return -ENOMEM;
	libbpf_set_print(libbpf_quiet);
	r = pinned ? ensure_bpffs() : 0;
	if (r < 0)
		goto fail;
	if (pinned && mkdir(METER_PIN_DIR, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		goto fail;
	}
	what = "open the meter programs";
	m->skel = meter_bpf__open();
	if (!m->skel) {
		r = -errno ? -errno : -EINVAL;
		goto fail;
	}
	m->skel->rodata->sandbox_level = level;
	/* Counters live in bpffs: a restarted sbxd takes the same maps. */
	if (pinned) {
		bpf_map__set_pin_path(m->skel->maps.slots, METER_PIN_DIR "/slots");
		bpf_map__set_pin_path(m->skel->maps.syscalls, METER_PIN_DIR "/syscalls");
		bpf_map__set_pin_path(m->skel->maps.net, METER_PIN_DIR "/net");
	}
	what = "load the meter programs";
	r = meter_bpf__load(m->skel);
	if (r < 0)
		goto fail;
	what = "attach the meter programs";
	cg_fd = open(parent_v2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0) {
		r = -errno;
		goto fail;
	}
	if (!pinned) {
		m->links[0] = bpf_program__attach(m->skel->progs.count_syscall);
		m->links[1] = bpf_program__attach_cgroup(m->skel->progs.count_ingress, cg_fd);
		m->links[2] = bpf_program__attach_cgroup(m->skel->progs.count_egress, cg_fd);
		for (int i = 0; i < 3; i++)
			if (!m->links[i]) {
				r = -errno ? -errno : -EINVAL;
				goto fail;
			}
	} else if ((r = link_pinned_or_attach(m->skel->progs.count_syscall, "sys_enter", level,
					      -1)) < 0 ||
		   (r = link_pinned_or_attach(m->skel->progs.count_ingress, "ingress", level,
					      cg_fd)) < 0 ||
		   (r = link_pinned_or_attach(m->skel->progs.count_egress, "egress", level,
					      cg_fd)) < 0) {
		goto fail;
	}
	m->slots_fd = bpf_map__fd(m->skel->maps.slots);
	m->syscalls_fd = bpf_map__fd(m->skel->maps.syscalls);
	m->net_fd = bpf_map__fd(m->skel->maps.net);
	*ret = m;
	return 0;
fail:
	if (asprintf(ret_why, "%s: %s", what, strerror(-r)) < 0)
		*ret_why = NULL;
	meter_close(m);
	return r;
}

void meter_close(struct meter *m)
{
	if (!m)
		return;
	for (int i = 0; i < 3; i++)
		bpf_link__destroy(m->links[i]);
	meter_bpf__destroy(m->skel);
	free(m);
}

int meter_attach(struct meter *m, uint64_t cg_id, uint32_t slot, bool fresh)
{
	if (slot >= METER_SLOTS)
		return -ERANGE;
	if (fresh) {
		uint64_t zero = 0;
		struct meter_net nz = { 0 };
		for (uint32_t i = 0; i < METER_SYSCALLS; i++) {
			uint32_t k = slot * METER_SYSCALLS + i;
			if (bpf_map_update_elem(m->syscalls_fd, &k, &zero, BPF_ANY) < 0)
				return -errno;
		}
		if (bpf_map_update_elem(m->net_fd, &slot, &nz, BPF_ANY) < 0)
			return -errno;
	}
	return bpf_map_update_elem(m->slots_fd, &cg_id, &slot, BPF_ANY) < 0 ? -errno : 0;
}

int meter_detach(struct meter *m, uint64_t cg_id)
{
	if (bpf_map_delete_elem(m->slots_fd, &cg_id) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int meter_read(struct meter *m, uint32_t slot, struct meter_counts *ret)
{
	if (slot >= METER_SLOTS)
		return -ERANGE;
	memset(ret, 0, sizeof(*ret));
	/* One batch for the slot's whole row of syscall counters. */
	uint32_t keys[METER_SYSCALLS];
	uint32_t count = METER_SYSCALLS, in = slot * METER_SYSCALLS - 1, out;
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	/* The batch cursor names the key before the first one read. */
	if (bpf_map_lookup_batch(m->syscalls_fd, slot ? &in : NULL, &out, keys, ret->syscalls,
				 &count, &opts) < 0 ||
	    count != METER_SYSCALLS || keys[0] != slot * METER_SYSCALLS) {
		/* Arrays take the per-key path where batches are not supported. */
		for (uint32_t i = 0; i < METER_SYSCALLS; i++) {
			keys[i] = slot * METER_SYSCALLS + i;
			if (bpf_map_lookup_elem(m->syscalls_fd, &keys[i], &ret->syscalls[i]) < 0)
				return -errno;
		}
	}
	for (uint32_t i = 0; i < METER_SYSCALLS; i++)
		ret->syscalls_total += ret->syscalls[i];
	return bpf_map_lookup_elem(m->net_fd, &slot, &ret->net) < 0 ? -errno : 0;
}
