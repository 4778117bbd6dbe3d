// SPDX-License-Identifier: MIT
/* Sandbox cgroups: pure v2, or the hybrid v1-limits + v2-identity layout. */
#define _GNU_SOURCE
#include "cgroup.h"
#include "instance.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

#include "macro.h"

#define CG_ROOT "/sys/fs/cgroup"
#define CG_UNIFIED_HYBRID CG_ROOT "/unified"

static const char *const v1_names[_CG_V1_MAX] = { "memory", "cpu", "pids", "cpuacct" };

/* Whether cpuacct is a hierarchy of its own (not mounted with cpu, as "cpu,cpuacct"). */
static bool cpuacct_apart(void)
{
	struct stat a, b;
	return stat(CG_ROOT "/cpuacct", &a) == 0 && stat(CG_ROOT "/cpu", &b) == 0 &&
	       (a.st_dev != b.st_dev || a.st_ino != b.st_ino);
}

static bool is_cgroup2(const char *path)
{
	struct statfs sfs;
	return statfs(path, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

int cgroup_detect(enum cgroup_mode *ret)
{
	if (is_cgroup2(CG_ROOT))
		*ret = CGROUP_UNIFIED;
	else if (is_cgroup2(CG_UNIFIED_HYBRID))
		*ret = CGROUP_HYBRID;
	else
		return -EOPNOTSUPP; /* v1 only: no cgroup2 for identity and cgroup.kill */
	return 0;
}

const char *cgroup_mode_name(enum cgroup_mode m)
{
	return m == CGROUP_UNIFIED ? "unified" : "hybrid";
}

static int write_file(const char *dir, const char *file, const char *value)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	size_t n = strlen(value);

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, value, n) != (ssize_t)n)
		return -errno;
	return 0;
}

static int read_file(const char *dir, const char *file, char *buf, size_t size)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int mkdir_p(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	return -errno;
}

/* Our cgroup path in the hierarchy carrying controller @ctl ("" for cgroup v2), looked
 * up in @self, the text of /proc/self/cgroup (lines "ID:CONTROLLERS:PATH"). */
static int own_path(const char *self, const char *ctl, char **ret)
{
	size_t clen = strlen(ctl);

	for (const char *line = self; *line;) {
		const char *end = line + strcspn(line, "\n");
		const char *ctls = memchr(line, ':', (size_t)(end - line));
		const char *path = ctls ? memchr(ctls + 1, ':', (size_t)(end - ctls - 1)) : NULL;

		/* controllers are a comma-separated list, e.g. "cpu,cpuacct" */
		for (const char *t = ctls ? ctls + 1 : end; path && t <= path;) {
			size_t n = strcspn(t, ",:");
			if (n == clen && !memcmp(t, ctl, n)) {
				*ret = strndup(path + 1, (size_t)(end - path - 1));
				return *ret ? 0 : -ENOMEM;
			}
			t += n + 1;
		}
		line = *end ? end + 1 : end;
	}
	return -ENOENT;
}

/* The v1 cgroup under which this process makes sandbox cgroups of controller @c, for
 * @self (/proc/self/cgroup's text), in *ret (malloc'd). */
static int v1_parent(const char *self, int c, char **ret)
{
	_cleanup_free_ char *own = NULL;
	int r = own_path(self, v1_names[c], &own);

	if (r < 0)
		return r;
	return asprintf(ret, CG_ROOT "/%s%s/%s", v1_names[c], own, instance_cgroup_parent()) < 0
		       ? -ENOMEM
		       : 0;
}

static int v1_apply(enum cgroup_v1_ctl ctl, const char *dir, const struct sandbox_limits *lim)
{
	char buf[64];
	int r;

	switch (ctl) {
	case CG_V1_MEMORY:
		if (!lim->memory_bytes)
			return 0; /* accounting only */
		snprintf(buf, sizeof(buf), "%" PRIu64, lim->memory_bytes);
		r = write_file(dir, "memory.limit_in_bytes", buf);
		/* With swap accounting, swap is capped at the same total. Raised on a live
		 * sandbox, memory+swap goes first (it may not be below memory). */
		if (r == -EINVAL && write_file(dir, "memory.memsw.limit_in_bytes", buf) == 0)
			r = write_file(dir, "memory.limit_in_bytes", buf);
		else if (r == 0)
			(void)write_file(dir, "memory.memsw.limit_in_bytes", buf);
		return r;
	case CG_V1_CPU:
		if (lim->cpu_shares) {
			snprintf(buf, sizeof(buf), "%" PRIu32, lim->cpu_shares);
			r = write_file(dir, "cpu.shares", buf);
			if (r < 0)
				return r;
		}
		/* Of the kernel's period, 100 ms, which a new group has; -1: no quota. */
		if (lim->cpu_milli)
			snprintf(buf, sizeof(buf), "%" PRIu32, lim->cpu_milli * 100);
		else
			snprintf(buf, sizeof(buf), "-1");
		return write_file(dir, "cpu.cfs_quota_us", buf);
	case CG_V1_PIDS:
		snprintf(buf, sizeof(buf), "%" PRIu64, lim->pids);
		return write_file(dir, "pids.max", buf);
	case CG_V1_CPUACCT:
		return 0;
	default:
		return -EINVAL;
	}
}

static int v2_apply(const char *dir, const struct sandbox_limits *lim)
{
	char buf[64];
	int r;

	if (lim->memory_bytes) {
		snprintf(buf, sizeof(buf), "%" PRIu64, lim->memory_bytes);
		r = write_file(dir, "memory.max", buf);
		if (r < 0)
			return r;
		(void)write_file(dir, "memory.swap.max", "0");
	}
	if (lim->cpu_milli) {
		snprintf(buf, sizeof(buf), "%" PRIu32 " 100000", lim->cpu_milli * 100);
		r = write_file(dir, "cpu.max", buf);
		if (r < 0)
			return r;
	}
	if (lim->cpu_shares) {
		/* runc's mapping of shares (2-262144) onto weight (1-10000). */
		uint64_t s = lim->cpu_shares < 2	? 2
			     : lim->cpu_shares > 262144 ? 262144
							: lim->cpu_shares;
		snprintf(buf, sizeof(buf), "%" PRIu64, 1 + ((s - 2) * 9999) / 262142);
		r = write_file(dir, "cpu.weight", buf);
		if (r < 0)
			return r;
	}
	if (lim->pids) {
		snprintf(buf, sizeof(buf), "%" PRIu64, lim->pids);
		r = write_file(dir, "pids.max", buf);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool v1_needed(enum cgroup_v1_ctl ctl, const struct sandbox_limits *lim)
{
	return (ctl == CG_V1_MEMORY && (lim->memory_bytes || lim->memory_account)) ||
	       (ctl == CG_V1_CPU && (lim->cpu_milli || lim->cpu_shares)) ||
	       (ctl == CG_V1_PIDS && lim->pids) ||
	       (ctl == CG_V1_CPUACCT && lim->cpu_account && cpuacct_apart());
}

static void cgroup_free(struct cgroup *cg)
{
	if (!cg)
		return;
	closep(&cg->v2_fd);
	free(cg->v2_path);
	for (int i = 0; i < _CG_V1_MAX; i++)
		free(cg->v1_path[i]);
	free(cg->v1_self);
	free(cg);
}

void cgroup_forget(struct cgroup *cg)
{
	cgroup_free(cg);
}

/* Removes sandbox cgroups under @parent that a launcher killed with SIGKILL left
 * behind: older than SWEEP_AGE_S (so never one a live launcher is still setting up)
 * and empty (rmdir refuses a cgroup with processes). A process sweeps each parent (@which:
 * 0 the v2 one, 1 + the v1 controller) at most once per SWEEP_AGE_S: a sweep reads every
 * sandbox's cgroup, which a launch should not pay for each time. */
#define SWEEP_AGE_S 60
static void sweep_stale(const char *parent, unsigned which)
{
	static _Atomic int64_t swept[1 + _CG_V1_MAX]; /* CLOCK_MONOTONIC seconds */
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t last = atomic_load(&swept[which]), t = now.tv_sec ? now.tv_sec : 1;
	/* Due, and not taken by another thread's launch meanwhile. */
	if ((last && t - last < SWEEP_AGE_S) ||
	    !atomic_compare_exchange_strong(&swept[which], &last, t))
		return;

	DIR *d = opendir(parent);
	if (!d)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	for (struct dirent *e; (e = readdir(d));) {
		struct stat st;
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    now.tv_sec - st.st_mtim.tv_sec < SWEEP_AGE_S)
			continue;
		(void)unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

/* A limit whose controller is not delegated to us would silently not apply. */
static int v2_check_controllers(const char *parent, const struct sandbox_limits *lim)
{
	char buf[512];
	int r = read_file(parent, "cgroup.controllers", buf, sizeof(buf));

	if (r < 0)
		return r;
	if ((lim->memory_bytes && !has_word(buf, "memory")) ||
	    ((lim->cpu_milli || lim->cpu_shares) && !has_word(buf, "cpu")) ||
	    (lim->pids && !has_word(buf, "pids")))
		return -EOPNOTSUPP;
	return 0;
}

/* The v2 directory that holds the caller's sandbox cgroups (not created). */
static int v2_parent(enum cgroup_mode mode, const char *self, char **ret)
{
	if (mode == CGROUP_HYBRID) {
		_cleanup_free_ char *own = NULL;
		int r = own_path(self, "", &own);
		if (r < 0)
			return r;
		return asprintf(ret, CG_UNIFIED_HYBRID "%s/%s", strcmp(own, "/") ? own : "",
				instance_cgroup_parent()) < 0
			       ? -ENOMEM
			       : 0;
	}
	/* A child of the root, which is exempt from the no-internal-process rule. */
	return asprintf(ret, CG_ROOT "/%s", instance_cgroup_parent()) < 0 ? -ENOMEM : 0;
}

int cgroup_sandbox_parent(char **ret_path, unsigned *ret_level)
{
	enum cgroup_mode mode;
	char self[4096] = "";
	int r;

	r = cgroup_detect(&mode);
	if (r == 0 && mode == CGROUP_HYBRID)
		r = read_file("/proc/self", "cgroup", self, sizeof(self));
	if (r == 0)
		r = v2_parent(mode, self, ret_path);
	if (r < 0)
		return r;
	r = mkdir_p(*ret_path);
	if (r < 0) {
		free(*ret_path);
		return r;
	}
	/* Components below the v2 mount, plus one for the sandbox's own cgroup. */
	const char *rel = *ret_path + strlen(mode == CGROUP_HYBRID ? CG_UNIFIED_HYBRID : CG_ROOT);
	unsigned level = 1;
	for (const char *p = rel; *p; p++)
		level += *p == '/';
	*ret_level = level;
	return 0;
}

static int create_v2(struct cgroup *cg, const char *self, const char *id,
		     const struct sandbox_limits *lim)
{
	_cleanup_free_ char *parent = NULL;
	int r;

	r = v2_parent(cg->mode, self, &parent);
	if (r < 0)
		return r;
	r = mkdir_p(parent);
	if (r < 0)
		return r;
	sweep_stale(parent, 0);
	if (cg->mode == CGROUP_UNIFIED) {
		/* Delegate the controllers the limits need; ignore ones this host lacks. */
		(void)write_file(CG_ROOT, "cgroup.subtree_control", "+memory +pids +cpu");
		(void)write_file(parent, "cgroup.subtree_control", "+memory +pids +cpu");
	}
	if (cg->mode == CGROUP_UNIFIED) {
		r = v2_check_controllers(parent, lim);
		if (r < 0)
			return r;
	}
	if (asprintf(&cg->v2_path, "%s/%s", parent, id) < 0)
		return -ENOMEM;
	if (mkdir(cg->v2_path, 0755) < 0) {
		r = -errno;
		free(cg->v2_path);
		cg->v2_path = NULL;
		return r;
	}
	cg->v2_fd = open(cg->v2_path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (cg->v2_fd < 0)
		return -errno;
	return cg->mode == CGROUP_UNIFIED ? v2_apply(cg->v2_path, lim) : 0;
}

/* A daemon's pool of empty v1 cgroups, made ahead of launches: a new memory cgroup costs
 * about 1 ms (up to several with deletions in flight) and a rename 8 us. Entries are
 * named ".pool-N" (the sweep of stale cgroups passes over dot names), per controller,
 * under the parents this process's launches use; a launch renames one to its id. */
#define POOL_MAX 16
static struct {
	pthread_mutex_t lock;
	_Atomic unsigned want; /* 0: no pool (a one-shot launcher) */
	char *parent[_CG_V1_MAX];
	unsigned n[_CG_V1_MAX];
	_Atomic unsigned seq;
	char names[_CG_V1_MAX][POOL_MAX][24];
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Takes a pooled cgroup of @c under @parent as @path: 0, or -errno (make one). */
static int pool_take(int c, const char *parent, const char *path)
{
	char from[4200];
	int r = -ENOENT;

	pthread_mutex_lock(&pool.lock);
	/* An entry gone (removed by hand) is passed over; any other failure (the name taken)
	 * leaves the pool as it is. Its time is made now first, as far as a sweep of stale
	 * cgroups can tell (it spares young ones). */
	while (r == -ENOENT && pool.n[c] > 0 && pool.parent[c] && !strcmp(pool.parent[c], parent)) {
		snprintf(from, sizeof(from), "%s/%s", parent, pool.names[c][pool.n[c] - 1]);
		(void)utimensat(AT_FDCWD, from, NULL, 0);
		r = rename(from, path) < 0 ? -errno : 0;
		if (r == 0 || r == -ENOENT)
			pool.n[c]--;
	}
	pthread_mutex_unlock(&pool.lock);
	return r;
}

/* This process's cgroups (/proc/self/cgroup) into @self on a hybrid host: 1; 0 on
 * another (no pool there), or -errno. */
static int pool_self(char *self, size_t size)
{
	enum cgroup_mode mode;

	if (cgroup_detect(&mode) < 0 || mode != CGROUP_HYBRID)
		return 0;
	int r = read_file("/proc/self", "cgroup", self, size);
	return r < 0 ? r : 1;
}

int cgroup_pool_fill(void)
{
	char self[4096] = "", path[4200];
	int r = pool.want ? pool_self(self, sizeof(self)) : 0;

	if (r <= 0)
		return r;
	for (int c = 0; c < CG_V1_CPUACCT; c++) {
		_cleanup_free_ char *parent = NULL;
		if (v1_parent(self, c, &parent) < 0 || mkdir_p(parent) < 0)
			continue;
		pthread_mutex_lock(&pool.lock);
		if (!pool.parent[c] || strcmp(pool.parent[c], parent)) {
			/* This process moved: its pool under the old parent goes. */
			for (unsigned i = 0; pool.parent[c] && i < pool.n[c]; i++) {
				snprintf(path, sizeof(path), "%s/%s", pool.parent[c],
					 pool.names[c][i]);
				(void)rmdir(path);
			}
			free(pool.parent[c]);
			pool.parent[c] = strdup(parent);
			pool.n[c] = 0;
		}
		unsigned need = pool.parent[c] && pool.n[c] < pool.want ? pool.want - pool.n[c] : 0;
		pthread_mutex_unlock(&pool.lock);
		/* Made outside the lock (a memory cgroup takes a millisecond or more), then
		 * published; a launch meanwhile takes what there is. */
		for (unsigned i = 0; i < need; i++) {
			char name[24];
			snprintf(name, sizeof(name), ".pool-%u-%u", (unsigned)getpid(),
				 atomic_fetch_add(&pool.seq, 1));
			snprintf(path, sizeof(path), "%s/%s", parent, name);
			if (mkdir(path, 0755) < 0)
				break;
			pthread_mutex_lock(&pool.lock);
			bool kept = pool.parent[c] && !strcmp(pool.parent[c], parent) &&
				    pool.n[c] < POOL_MAX;
			if (kept)
				memcpy(pool.names[c][pool.n[c]++], name, sizeof(name));
			pthread_mutex_unlock(&pool.lock);
			if (!kept)
				(void)rmdir(path);
		}
	}
	return 0;
}

int cgroup_pool_enable(unsigned size)
{
	char self[4096] = "";

	pool.want = size < POOL_MAX ? size : POOL_MAX;
	int r = pool_self(self, sizeof(self));
	if (r <= 0)
		return r;
	/* An earlier daemon's pool (this instance's parents are its alone). */
	for (int c = 0; c < CG_V1_CPUACCT; c++) {
		_cleanup_free_ char *parent = NULL;
		DIR *d = v1_parent(self, c, &parent) < 0 ? NULL : opendir(parent);
		for (struct dirent *e; d && (e = readdir(d));)
			if (!strncmp(e->d_name, ".pool-", 6))
				(void)unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
		if (d)
			closedir(d);
	}
	return cgroup_pool_fill();
}

void cgroup_pool_drain(void)
{
	char path[4200];

	pthread_mutex_lock(&pool.lock);
	for (int c = 0; c < _CG_V1_MAX; c++) {
		while (pool.parent[c] && pool.n[c] > 0) {
			snprintf(path, sizeof(path), "%s/%s", pool.parent[c],
				 pool.names[c][--pool.n[c]]);
			(void)rmdir(path);
		}
	}
	pool.want = 0;
	pthread_mutex_unlock(&pool.lock);
}

int cgroup_create(const char *id, const struct sandbox_limits *lim, struct cgroup **ret)
{
	return cgroup_create_as(id, lim, NULL, ret);
}

int cgroup_create_v2_as(const char *id, const struct sandbox_limits *lim, const char *as,
			struct cgroup **ret)
{
	struct cgroup *cg = calloc(1, sizeof(*cg));
	char self[4096] = "";
	int r;

	if (!cg)
		return -ENOMEM;
	cg->v2_fd = -1;
	r = cgroup_detect(&cg->mode);
	if (r < 0)
		goto fail;
	if (cg->mode == CGROUP_HYBRID && as) {
		if (strlen(as) >= sizeof(self) || strstr(as, "..")) {
			r = -EINVAL;
			goto fail;
		}
		memcpy(self, as, strlen(as) + 1);
	} else if (cg->mode == CGROUP_HYBRID) { /* read once: every hierarchy's path is in it */
		r = read_file("/proc/self", "cgroup", self, sizeof(self));
		if (r < 0)
			goto fail;
	}
	r = create_v2(cg, self, id, lim);
	if (r < 0)
		goto fail;
	/* What the v1 half places its cgroups by; an @as copy keeps the pool out of them. */
	if (cg->mode == CGROUP_HYBRID) {
		cg->v1_self = strdup(self);
		cg->v1_self_as = as != NULL;
		if (!cg->v1_self) {
			r = -ENOMEM;
			goto fail;
		}
	}
	*ret = cg;
	return 0;
fail:
	cgroup_destroy(cg);
	return r;
}

int cgroup_create_v1(struct cgroup *cg, const char *id, const struct sandbox_limits *lim)
{
	int r = 0;

	for (int c = 0; cg->v1_self && c < _CG_V1_MAX; c++) {
		_cleanup_free_ char *parent = NULL;
		if (!v1_needed(c, lim))
			continue;
		r = v1_parent(cg->v1_self, c, &parent);
		if (r < 0)
			break;
		r = mkdir_p(parent);
		if (r < 0)
			break;
		sweep_stale(parent, 1 + (unsigned)c);
		if (asprintf(&cg->v1_path[c], "%s/%s", parent, id) < 0) {
			cg->v1_path[c] = NULL;
			r = -ENOMEM;
			break;
		}
		if ((cg->v1_self_as || !pool.want || pool_take(c, parent, cg->v1_path[c]) < 0) &&
		    mkdir(cg->v1_path[c], 0755) < 0) {
			r = -errno;
			free(cg->v1_path[c]);
			cg->v1_path[c] = NULL;
			break;
		}
		r = v1_apply(c, cg->v1_path[c], lim);
		if (r < 0)
			break;
	}
	free(cg->v1_self);
	cg->v1_self = NULL;
	return r;
}

int cgroup_create_as(const char *id, const struct sandbox_limits *lim, const char *as,
		     struct cgroup **ret)
{
	struct cgroup *cg = NULL;
	int r = cgroup_create_v2_as(id, lim, as, &cg);

	if (r == 0)
		r = cgroup_create_v1(cg, id, lim);
	if (r < 0) {
		cgroup_destroy(cg);
		return r;
	}
	*ret = cg;
	return 0;
}

int cgroup_set_limits(const struct cgroup *cg, const struct sandbox_limits *lim)
{
	if (cg->mode == CGROUP_UNIFIED)
		return v2_apply(cg->v2_path, lim);
	for (int c = 0; c < _CG_V1_MAX; c++) {
		if (!v1_needed(c, lim))
			continue;
		if (!cg->v1_path[c])
			return -EOPNOTSUPP; /* made without that controller */
		int r = v1_apply(c, cg->v1_path[c], lim);
		if (r < 0)
			return r;
	}
	return 0;
}

int cgroup_reclaim(const char *id)
{
	_cleanup_free_ char *parent = NULL, *v2 = NULL;
	char *v1[_CG_V1_MAX] = { 0 };
	char self[4096] = "";
	enum cgroup_mode mode;
	struct cgroup *cg;
	bool found = false;
	int r;

	if (!id[0] || strchr(id, '/') || strstr(id, ".."))
		return -EINVAL;
	r = cgroup_detect(&mode);
	if (r == 0 && mode == CGROUP_HYBRID)
		r = read_file("/proc/self", "cgroup", self, sizeof(self));
	if (r == 0)
		r = v2_parent(mode, self, &parent);
	if (r < 0)
		return r;
	if (asprintf(&v2, "%s/%s", parent, id) < 0)
		return -ENOMEM;
	found = access(v2, F_OK) == 0;
	for (int c = 0; mode == CGROUP_HYBRID && c < _CG_V1_MAX; c++) {
		_cleanup_free_ char *v1p = NULL;
		if (v1_parent(self, c, &v1p) < 0 || asprintf(&v1[c], "%s/%s", v1p, id) < 0) {
			v1[c] = NULL;
			continue;
		}
		if (access(v1[c], F_OK) < 0) {
			free(v1[c]);
			v1[c] = NULL;
		} else {
			found = true;
		}
	}
	r = 0;
	if (found) {
		/* What is in them is killed, and they are removed (the v2 one may be gone). */
		r = cgroup_from_paths(mode, v2, (const char *const *)v1, &cg);
		if (r == 0)
			r = cgroup_destroy(cg) < 0 ? -EBUSY : 1;
	}
	for (int c = 0; c < _CG_V1_MAX; c++)
		free(v1[c]);
	return r;
}

int cgroup_from_paths(enum cgroup_mode mode, const char *v2_path, const char *const *v1,
		      struct cgroup **ret)
{
	struct cgroup *cg = calloc(1, sizeof(*cg));

	if (!cg)
		return -ENOMEM;
	cg->mode = mode;
	cg->v2_fd = -1;
	if (!v2_path || strncmp(v2_path, CG_ROOT "/", strlen(CG_ROOT "/")) || strstr(v2_path, ".."))
		goto inval;
	cg->v2_path = strdup(v2_path);
	if (!cg->v2_path)
		goto nomem;
	for (int c = 0; c < _CG_V1_MAX; c++) {
		if (!v1[c])
			continue;
		if (strncmp(v1[c], CG_ROOT "/", strlen(CG_ROOT "/")) || strstr(v1[c], ".."))
			goto inval;
		cg->v1_path[c] = strdup(v1[c]);
		if (!cg->v1_path[c])
			goto nomem;
	}
	cg->v2_fd = open(cg->v2_path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	*ret = cg;
	return 0;
inval:
	cgroup_free(cg);
	return -EINVAL;
nomem:
	cgroup_free(cg);
	return -ENOMEM;
}

int cgroup_attach_v1(const struct cgroup *cg, pid_t pid)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d", (int)pid);
	for (int c = 0; c < _CG_V1_MAX; c++) {
		if (!cg->v1_path[c])
			continue;
		int r = write_file(cg->v1_path[c], "cgroup.procs", buf);
		if (r < 0)
			return r;
	}
	return 0;
}

bool cgroup_populated(const struct cgroup *cg)
{
	char buf[256];

	if (!cg->v2_path || read_file(cg->v2_path, "cgroup.events", buf, sizeof(buf)) < 0)
		return false;
	return strstr(buf, "populated 1") != NULL;
}

int cgroup_kill(const struct cgroup *cg)
{
	if (!cg->v2_path)
		return -ENOENT;
	return write_file(cg->v2_path, "cgroup.kill", "1");
}

int cgroup_signal(const struct cgroup *cg, int sig)
{
	char path[4200];
	int r = 0;

	if (!cg->v2_path)
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg->v2_path);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	for (int pid; fscanf(f, "%d", &pid) == 1;)
		if (kill(pid, sig) < 0 && errno != ESRCH)
			r = -errno;
	fclose(f);
	return r;
}

int cgroup_freeze(const struct cgroup *cg, bool frozen)
{
	char path[4200], buf[512];
	int r;

	if (!cg->v2_path)
		return -ENOENT;
	r = write_file(cg->v2_path, "cgroup.freeze", frozen ? "1" : "0");
	if (r < 0 || !frozen)
		return r;
	/* The freeze is asynchronous: cgroup.events says when every task has stopped. */
	snprintf(path, sizeof(path), "%s/cgroup.events", cg->v2_path);
	for (int i = 0; i < 5000; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n < 0)
			return -errno;
		buf[n] = '\0';
		if (strstr(buf, "frozen 1"))
			return 0;
		nanosleep(&(struct timespec){ .tv_nsec = 200000 }, NULL);
	}
	(void)write_file(cg->v2_path, "cgroup.freeze", "0");
	return -ETIMEDOUT;
}

/* rmdir, retrying while the last killed processes are still exiting (up to 2 s). */
static int rmdir_wait(const char *path)
{
	for (int i = 0; i < 400; i++) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -errno;
		nanosleep(&(struct timespec){ .tv_nsec = 5000000 }, NULL);
	}
	return -EBUSY;
}

int cgroup_destroy(struct cgroup *cg)
{
	int r = 0, k;

	if (!cg)
		return 0;
	if (cg->v2_path) {
		if (cgroup_populated(cg))
			(void)cgroup_kill(cg);
		k = rmdir_wait(cg->v2_path);
		if (k < 0)
			r = k;
	}
	for (int c = 0; c < _CG_V1_MAX; c++) {
		if (!cg->v1_path[c])
			continue;
		k = rmdir_wait(cg->v1_path[c]);
		if (k < 0 && r == 0)
			r = k;
	}
	cgroup_free(cg);
	return r;
}

static unsigned long mount_flags(const char *opts)
{
	static const struct {
		const char *name;
		unsigned long flag;
	} map[] = { { "ro", MS_RDONLY },	{ "nosuid", MS_NOSUID },
		    { "nodev", MS_NODEV },	{ "noexec", MS_NOEXEC },
		    { "noatime", MS_NOATIME },	{ "nodiratime", MS_NODIRATIME },
		    { "relatime", MS_RELATIME } };
	unsigned long f = 0;
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", opts);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		for (size_t i = 0; i < ARRAY_SIZE(map); i++)
			if (!strcmp(t, map[i].name))
				f |= map[i].flag;
	return f;
}

int cgroup_favor_dynmods(void)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT MNTOPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS */
		char mp[512], mopts[512], fstype[64], src[64], sopts[512];
		char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %*s %511s %511s", mp, mopts) != 2 ||
		    sscanf(dash + 3, "%63s %63s %511s", fstype, src, sopts) != 3 ||
		    strcmp(fstype, "cgroup2"))
			continue;
		if (strstr(sopts, "favordynmods")) {
			r = 0;
			break;
		}
		/* The super options stay as they are (nsdelegate, memory_recursiveprot...). */
		char data[600];
		const char *rest = !strncmp(sopts, "rw,", 3) ? sopts + 3
				   : !strcmp(sopts, "rw")    ? ""
							     : sopts;
		snprintf(data, sizeof(data), "%s%sfavordynmods", rest, rest[0] ? "," : "");
		r = mount("cgroup2", mp, "cgroup2", MS_REMOUNT | mount_flags(mopts), data) < 0
			    ? -errno
			    : 1;
		break;
	}
	fclose(f);
	return r;
}
