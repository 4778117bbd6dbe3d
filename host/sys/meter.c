// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "meter.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "../../sandbox/instance.h"
#include "../../sandbox/macro.h"
#include "meter.skel.h"

struct meter {
	struct meter_bpf *skel;
	const volatile uint64_t *sys_mem; /* the syscalls map, mapped read-only */
	const volatile struct meter_net *net_mem;
	bool pinned;
	unsigned level, nslots;
	uint32_t tag;
	struct bpf_link *exit_link; /* private instance: the sys_exit program, when on */
	struct bpf_link *links[3];  /* a private instance's; pinned ones live in bpffs */
	int slots_fd, syscalls_fd, net_fd;
};

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
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

/* Links are pinned by name, level, slots and program version: a daemon whose sandboxes
 * sit at another depth, that counts more or fewer, or whose programs changed, replaces
 * them. */
static int pin_path(const struct meter *m, char *buf, size_t size, const char *name)
{
	return snprintf(buf, size, "%s/%s-L%u-S%u-%08x", instance_pin_dir(), name, m->level,
			m->nslots, m->tag) >= (int)size
		       ? -ENAMETOOLONG
		       : 0;
}

/* Unpins (so detaches) the links named @name that are not @keep: another version's. The
 * new one attaches after: a moment uncounted rather than counted twice. */
static void unpin_others(const char *name, const char *keep)
{
	DIR *d = opendir(instance_pin_dir());
	struct dirent *e;
	size_t n = strlen(name);

	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, name, n) && e->d_name[n] == '-' &&
		    strcmp(e->d_name, strrchr(keep, '/') + 1))
			(void)unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
}

static int link_pinned_or_attach(struct meter *m, struct bpf_program *prog, const char *name,
				 int cg_fd)
{
	char path[256];
	struct bpf_link *link;
	int r = pin_path(m, path, sizeof(path), name);

	if (r < 0)
		return r;
	int fd = bpf_obj_get(path);
	if (fd >= 0) { /* still counting since an earlier sbxd attached it */
		close(fd);
		return 0;
	}
	unpin_others(name, path);
	link = cg_fd >= 0 ? bpf_program__attach_cgroup(prog, cg_fd) : bpf_program__attach(prog);
	if (!link)
		return -errno ? -errno : -EINVAL;
	r = bpf_link__pin(link, path);
	bpf_link__disconnect(link); /* the pin keeps it attached after we exit */
	bpf_link__destroy(link);
	return r;
}

/* A version tag of the programs: FNV-1a of the object sbxd carries. */
static uint32_t program_tag(void)
{
	size_t n;
	const unsigned char *p = meter_bpf__elf_bytes(&n);
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* bpffs mounted, and the instance's directory of pins in it. */
static int pin_dir_make(void)
{
	int r = ensure_bpffs();

	if (r < 0)
		return r;
	if (mkdir(instance_pin_dir(), 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Counters live in bpffs: a restarted sbxd takes the same maps. */
static void pin_maps(struct meter *m)
{
	char pin[256]; /* libbpf keeps a copy */

	bpf_map__set_pin_path(m->skel->maps.slots, instance_pin_path(pin, "slots"));
	bpf_map__set_pin_path(m->skel->maps.syscalls, instance_pin_path(pin, "syscalls"));
	bpf_map__set_pin_path(m->skel->maps.net, instance_pin_path(pin, "net"));
	bpf_map__set_pin_path(m->skel->maps.slot_gen, instance_pin_path(pin, "slot_gen"));
	bpf_map__set_pin_path(m->skel->maps.gpu_devs, instance_pin_path(pin, "gpu_devs"));
	bpf_map__set_pin_path(m->skel->maps.gpu_stats, instance_pin_path(pin, "gpu_stats"));
	bpf_map__set_pin_path(m->skel->maps.ioctls_in_flight,
			      instance_pin_path(pin, "ioctls_in_flight"));
}

static int skel_open(struct meter *m, unsigned level, unsigned nslots, bool pinned)
{
	m->skel = meter_bpf__open();
	if (!m->skel)
		return -errno ? -errno : -EINVAL;
	m->skel->rodata->sandbox_level = level;
	m->skel->rodata->nslots = m->nslots = nslots;
	struct bpf_map *by_slot[] = { m->skel->maps.slots, m->skel->maps.net,
				      m->skel->maps.slot_gen, m->skel->maps.gpu_devs };
	for (size_t i = 0; i < ARRAY_SIZE(by_slot); i++)
		if (bpf_map__set_max_entries(by_slot[i], nslots) < 0)
			return -EINVAL;
	if (bpf_map__set_max_entries(m->skel->maps.syscalls, nslots * METER_SYSCALLS) < 0 ||
	    bpf_map__set_max_entries(m->skel->maps.gpu_stats, nslots * METER_GPUS) < 0)
		return -EINVAL;
	m->pinned = pinned;
	m->level = level;
	m->tag = program_tag();
	if (pinned)
		pin_maps(m);
	return 0;
}

/* Pinned maps of an older layout cannot be reused: unpins them, so that they start anew,
 * and frees @m. */
static void unpin_maps(struct meter *m)
{
	fprintf(stderr, "sbxd: warn: meter: the pinned maps do not fit these programs; "
			"their counters start again\n");
	meter_bpf__destroy(m->skel);
	for (const char *const *p =
		     (const char *const[]){ "slots", "slot_gen", "syscalls", "net", "gpu_devs",
					    "gpu_stats", "ioctls_in_flight", NULL };
	     *p; p++) {
		char path[256];
		(void)unlink(instance_pin_path(path, *p));
	}
	m->skel = NULL;
	free(m);
}

/* A counter map, mapped read-only for reads without a syscall (NULL where it cannot be:
 * reads then look the counters up). Not inherited: every process sbxd starts would
 * otherwise copy the page table entries of all of it, and clear them again at its exec. */
static void *map_counter(struct bpf_map *map, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, bpf_map__fd(map), 0);
	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, size, MADV_DONTFORK);
	return p;
}

static void map_counters(struct meter *m)
{
	m->sys_mem = map_counter(m->skel->maps.syscalls,
				 (size_t)m->nslots * METER_SYSCALLS * sizeof(uint64_t));
	m->net_mem = map_counter(m->skel->maps.net, (size_t)m->nslots * sizeof(struct meter_net));
}

/* A private instance: links that live as long as @m. */
static int attach_private(struct meter *m, int cg_fd)
{
	m->links[0] = bpf_program__attach(m->skel->progs.count_syscall);
	m->links[1] = bpf_program__attach_cgroup(m->skel->progs.count_ingress, cg_fd);
	m->links[2] = bpf_program__attach_cgroup(m->skel->progs.count_egress, cg_fd);
	for (int i = 0; i < 3; i++)
		if (!m->links[i])
			return -errno ? -errno : -EINVAL;
	return 0;
}

/* sbxd's instance: links pinned in bpffs, taken over from an earlier sbxd if there. */
static int attach_pinned(struct meter *m, int cg_fd)
{
	int r;

	if ((r = link_pinned_or_attach(m, m->skel->progs.count_syscall, "sys_enter", -1)) < 0 ||
	    (r = link_pinned_or_attach(m, m->skel->progs.count_ingress, "ingress", cg_fd)) < 0 ||
	    (r = link_pinned_or_attach(m, m->skel->progs.count_egress, "egress", cg_fd)) < 0)
		return r;
	return 0;
}

/* @may_unpin: a failed load of pinned maps unpins them (an older layout) and tries once
 * more, never again. */
static int meter_try(const char *parent_v2, unsigned level, unsigned nslots, bool pinned,
		     bool may_unpin, struct meter **ret, char **ret_why)
{
	struct meter *m = calloc(1, sizeof(*m));
	_cleanup_close_ int cg_fd = -1;
	const char *what = "bpffs";
	int r;

	*ret_why = NULL;
	if (!m)
		return -ENOMEM;
	libbpf_set_print(libbpf_quiet);
	r = pinned ? pin_dir_make() : 0;
	if (r < 0)
		goto fail;
	what = "open the meter programs";
	r = skel_open(m, level, nslots, pinned);
	if (r < 0)
		goto fail;
	what = "load the meter programs";
	r = meter_bpf__load(m->skel);
	if (r < 0 && pinned && may_unpin) {
		unpin_maps(m);
		return meter_try(parent_v2, level, nslots, pinned, false, ret, ret_why);
	}
	if (r < 0)
		goto fail;
	map_counters(m);
	what = "attach the meter programs";
	cg_fd = open(parent_v2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = pinned ? attach_pinned(m, cg_fd) : attach_private(m, cg_fd);
	if (r < 0)
		goto fail;
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

unsigned meter_slots(const struct meter *m)
{
	return m->nslots;
}

void meter_close(struct meter *m)
{
	if (!m)
		return;
	for (int i = 0; i < 3; i++)
		bpf_link__destroy(m->links[i]);
	bpf_link__destroy(m->exit_link);
	if (m->sys_mem)
		munmap((void *)m->sys_mem, (size_t)m->nslots * METER_SYSCALLS * sizeof(uint64_t));
	if (m->net_mem)
		munmap((void *)m->net_mem, (size_t)m->nslots * sizeof(struct meter_net));
	meter_bpf__destroy(m->skel);
	free(m);
}

/* Tasks that cached this slot look it up again. */
static int slot_bump(struct meter *m, uint32_t slot)
{
	int fd = bpf_map__fd(m->skel->maps.slot_gen);
	uint32_t gen = 0;

	(void)bpf_map_lookup_elem(fd, &slot, &gen);
	gen++;
	return bpf_map_update_elem(fd, &slot, &gen, BPF_ANY) < 0 ? -errno : 0;
}

int meter_attach(struct meter *m, uint64_t cg_id, uint32_t slot, bool fresh)
{
	if (slot >= m->nslots)
		return -ERANGE;
	if (fresh) {
		static const uint64_t zeros[METER_SYSCALLS];
		struct meter_net nz = { 0 };
		uint32_t keys[METER_SYSCALLS], count = METER_SYSCALLS;
		for (uint32_t i = 0; i < METER_SYSCALLS; i++)
			keys[i] = slot * METER_SYSCALLS + i;
		/* One syscall for the row; key by key where batches are not supported. */
		if (bpf_map_update_batch(m->syscalls_fd, keys, zeros, &count, NULL) < 0 ||
		    count != METER_SYSCALLS)
			for (uint32_t i = 0; i < METER_SYSCALLS; i++)
				if (bpf_map_update_elem(m->syscalls_fd, &keys[i], &zeros[i],
							BPF_ANY) < 0)
					return -errno;
		if (bpf_map_update_elem(m->net_fd, &slot, &nz, BPF_ANY) < 0)
			return -errno;
		int r = slot_bump(m, slot);
		if (r < 0)
			return r;
	}
	return bpf_map_update_elem(m->slots_fd, &cg_id, &slot, BPF_ANY) < 0 ? -errno : 0;
}

int meter_detach(struct meter *m, uint64_t cg_id)
{
	uint32_t slot;

	if (bpf_map_lookup_elem(m->slots_fd, &cg_id, &slot) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (bpf_map_delete_elem(m->slots_fd, &cg_id) < 0 && errno != ENOENT)
		return -errno;
	return slot_bump(m, slot);
}

static void net_copy(struct meter_net *d, const volatile struct meter_net *n)
{
	*d =
		(struct meter_net){ n->rx_bytes,    n->rx_packets,   n->tx_bytes,
				    n->tx_packets,  n->lo_rx_bytes,  n->lo_rx_packets,
				    n->lo_tx_bytes, n->lo_tx_packets };
}

int meter_read(struct meter *m, uint32_t slot, struct meter_counts *ret)
{
	if (slot >= m->nslots)
		return -ERANGE;
	memset(ret, 0, sizeof(*ret));
	/* In place: a 4 KiB row of the mapped array, no syscall. */
	if (m->sys_mem && m->net_mem) {
		const volatile uint64_t *row = m->sys_mem + (size_t)slot * METER_SYSCALLS;
		for (uint32_t i = 0; i < METER_SYSCALLS; i++) {
			ret->syscalls[i] = row[i];
			ret->syscalls_total += ret->syscalls[i];
		}
		const volatile struct meter_net *n = &m->net_mem[slot];
		net_copy(&ret->net, n);
		return 0;
	}
	for (uint32_t i = 0; i < METER_SYSCALLS; i++) {
		uint32_t k = slot * METER_SYSCALLS + i;
		if (bpf_map_lookup_elem(m->syscalls_fd, &k, &ret->syscalls[i]) < 0)
			return -errno;
		ret->syscalls_total += ret->syscalls[i];
	}
	return bpf_map_lookup_elem(m->net_fd, &slot, &ret->net) < 0 ? -errno : 0;
}

int meter_totals(struct meter *m, uint32_t slot, uint64_t *ret_syscalls, struct meter_net *ret_net)
{
	if (slot >= m->nslots || !m->sys_mem || !m->net_mem) {
		static struct meter_counts c; /* the loop thread's */
		int r = meter_read(m, slot, &c);
		*ret_syscalls = c.syscalls_total;
		*ret_net = c.net;
		return r;
	}
	/* Plain loads of aligned counters that only grow (the compiler may vectorise the
	 * sum): a value read is one the program wrote. */
	const uint64_t *row = (const uint64_t *)m->sys_mem + (size_t)slot * METER_SYSCALLS;
	uint64_t total = 0;
	for (uint32_t i = 0; i < METER_SYSCALLS; i++)
		total += row[i];
	const volatile struct meter_net *n = &m->net_mem[slot];
	*ret_syscalls = total;
	net_copy(ret_net, n);
	return 0;
}

static uint32_t kernel_dev(uint64_t rdev)
{
	return (uint32_t)(major(rdev) << 20 | minor(rdev));
}

int meter_gpu_grant(struct meter *m, uint32_t slot, uint32_t index, uint64_t rdev, bool fresh)
{
	struct meter_dev_key k = { .slot = slot, .dev = kernel_dev(rdev) };
	struct meter_gpu zero = { 0 };
	uint32_t i = slot * METER_GPUS + index;

	if (slot >= m->nslots || index >= METER_GPUS)
		return -ERANGE;
	if ((fresh &&
	     bpf_map_update_elem(bpf_map__fd(m->skel->maps.gpu_stats), &i, &zero, BPF_ANY) < 0) ||
	    bpf_map_update_elem(bpf_map__fd(m->skel->maps.gpu_devs), &k, &index, BPF_ANY) < 0)
		return -errno;
	return 0;
}

int meter_gpu_revoke(struct meter *m, uint32_t slot, uint64_t rdev)
{
	struct meter_dev_key k = { .slot = slot, .dev = kernel_dev(rdev) };
	if (bpf_map_delete_elem(bpf_map__fd(m->skel->maps.gpu_devs), &k) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int meter_gpu_read(struct meter *m, uint32_t slot, uint32_t index, struct meter_gpu *ret)
{
	uint32_t i = slot * METER_GPUS + index;
	if (slot >= m->nslots || index >= METER_GPUS)
		return -ERANGE;
	return bpf_map_lookup_elem(bpf_map__fd(m->skel->maps.gpu_stats), &i, ret) < 0 ? -errno : 0;
}

int meter_gpu_timing(struct meter *m, bool on)
{
	char path[256];

	if (pin_path(m, path, sizeof(path), "sys_exit") < 0)
		return -ENAMETOOLONG;
	if (!m->pinned) {
		if (on && !m->exit_link) {
			m->exit_link = bpf_program__attach(m->skel->progs.gpu_sys_exit);
			return m->exit_link ? 0 : (-errno ? -errno : -EINVAL);
		}
		if (!on) {
			bpf_link__destroy(m->exit_link);
			m->exit_link = NULL;
		}
		return 0;
	}
	if (on)
		return link_pinned_or_attach(m, m->skel->progs.gpu_sys_exit, "sys_exit", -1);
	/* Unpinning the last reference detaches it. */
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int bpf_hash_prune(int fd, size_t key_size, bool (*drop)(const void *key, void *ud), void *ud)
{
	char *keys = NULL, cur[64], next[64];
	size_t n = 0;
	bool first = true;

	if (key_size > sizeof(cur))
		return -EINVAL;
	/* Deleting the current key would restart the walk: collect, then delete. */
	while (bpf_map_get_next_key(fd, first ? NULL : cur, next) == 0) {
		first = false;
		if (drop(next, ud)) {
			char *k = realloc(keys, (n + 1) * key_size);
			if (!k)
				break;
			keys = k;
			memcpy(keys + n++ * key_size, next, key_size);
		}
		memcpy(cur, next, key_size);
	}
	for (size_t i = 0; i < n; i++)
		(void)bpf_map_delete_elem(fd, keys + i * key_size);
	free(keys);
	return 0;
}

struct keep {
	const uint64_t *ids;
	size_t n;
	const unsigned char *slot_used;
	unsigned nslots;
};

static int id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static bool slot_gone(const void *key, void *ud)
{
	const struct keep *k = ud;
	uint64_t id;
	memcpy(&id, key, sizeof(id));
	return !bsearch(&id, k->ids, k->n, sizeof(id), id_cmp);
}

static bool dev_gone(const void *key, void *ud)
{
	const struct keep *k = ud;
	const struct meter_dev_key *d = key;
	return d->slot >= k->nslots || !k->slot_used[d->slot];
}

int meter_prune(struct meter *m, uint64_t *keep, size_t n, const unsigned char *slot_used)
{
	qsort(keep, n, sizeof(*keep), id_cmp);
	struct keep k = { keep, n, slot_used, m->nslots };
	(void)bpf_hash_prune(m->slots_fd, sizeof(uint64_t), slot_gone, &k);
	return bpf_hash_prune(bpf_map__fd(m->skel->maps.gpu_devs), sizeof(struct meter_dev_key),
			      dev_gone, &k);
}

int meter_syscall_prog_stats(struct meter *m, uint64_t *ret_ns, uint64_t *ret_cnt)
{
	struct bpf_prog_info info = { 0 };
	uint32_t len = sizeof(info);
	int fd = bpf_program__fd(m->skel->progs.count_syscall);

	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		return -errno;
	*ret_ns = info.run_time_ns;
	*ret_cnt = info.run_cnt;
	return 0;
}

int meter_open(const char *parent_v2, unsigned level, unsigned nslots, bool pinned,
	       struct meter **ret, char **ret_why)
{
	nslots = METER_SLOTS_FOR(nslots ? nslots : 1);
	if (nslots > METER_SLOTS_MAX)
		return -ERANGE;
	/* Pinned maps for more slots are kept, not shrunk: the counters of the sandboxes
	 * an earlier sbxd left running go on, whatever slots they hold. */
	char pin[256];
	int fd = pinned ? bpf_obj_get(instance_pin_path(pin, "slots")) : -1;
	struct bpf_map_info info = { 0 };
	uint32_t len = sizeof(info);
	if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.max_entries > nslots &&
	    info.max_entries <= METER_SLOTS_MAX && info.max_entries % METER_SLOTS == 0)
		nslots = info.max_entries;
	if (fd >= 0)
		close(fd);
	return meter_try(parent_v2, level, nslots, pinned, true, ret, ret_why);
}
