// SPDX-License-Identifier: MIT
/* The sandbox's tree as detached mounts (rootfs.h). */
#define _GNU_SOURCE
#include "rootfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "spec.h"

/* A detached clone, private: a clone of a shared mount (the host's /run on a systemd
 * host) would be a peer of it, and what a sandbox mounts below the clone would appear in
 * the host's tree and in every other sandbox's clone of it. */
static int open_tree_clone(int dfd, const char *path, unsigned extra)
{
	struct mount_attr a = { .propagation = MS_PRIVATE };
	int fd =
		(int)syscall(SYS_open_tree, dfd, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | extra);

	if (fd < 0)
		return -errno;
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (extra & AT_RECURSIVE), &a,
		    sizeof(a)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int rootfs_clone_mount(const char *path, bool recursive, uint64_t attrs, int userns_fd)
{
	/* An atime mode replaces the one it has. */
	uint64_t clr =
		attrs & (MOUNT_ATTR_NOATIME | MOUNT_ATTR_STRICTATIME) ? MOUNT_ATTR__ATIME : 0;
	struct mount_attr a = { .attr_set = attrs | MOUNT_ATTR_IDMAP,
				.attr_clr = clr,
				.userns_fd = (uint64_t)userns_fd };
	unsigned at = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
	int fd = open_tree_clone(AT_FDCWD, path, recursive ? AT_RECURSIVE : 0);

	if (fd < 0)
		return fd;
	if (userns_fd >= 0 && syscall(SYS_mount_setattr, fd, "", at, &a, sizeof(a)) == 0)
		return fd;
	/* Not every file system takes an idmapped mount: its files then read as nobody's. */
	a = (struct mount_attr){ .attr_set = attrs, .attr_clr = clr };
	if (syscall(SYS_mount_setattr, fd, "", at, &a, sizeof(a)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* A read-only clone of @path, idmapped when @userns_fd >= 0 and the file system allows
 * it. */
static int clone_ro(const char *path, int userns_fd)
{
	return rootfs_clone_mount(
		path, false, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, userns_fd);
}

static int fsconfig_fd(int fs, const char *key, int fd)
{
	return syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, key, NULL, fd) < 0 ? -errno : 0;
}

static int fsconfig_str(int fs, const char *key, const char *value)
{
	return syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, key, value, 0) < 0 ? -errno : 0;
}

/* A new detached mount of @fs after its parameters are set. */
static int fs_mount(int fs, uint64_t attrs)
{
	if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	int m = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, attrs);
	return m < 0 ? -errno : m;
}

int rootfs_new_mount(const char *type, uint64_t attrs)
{
	int fs = (int)syscall(SYS_fsopen, type, FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
	int m = fs_mount(fs, attrs);
	close(fs);
	return m;
}

/* The empty lower layer, one detached mount for the life of the process (closing one
 * is an unmount, which waits for an RCU grace period). */
static int empty_lower(void)
{
	static int cached = -1;
	int fd = __atomic_load_n(&cached, __ATOMIC_ACQUIRE), expected = -1;

	if (fd >= 0)
		return fd;
	fd = open_tree_clone(AT_FDCWD, ROOTFS_RUNTIME_EMPTY, 0);
	if (fd < 0)
		return fd;
	if (!__atomic_compare_exchange_n(&cached, &expected, fd, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		close(fd);
		fd = expected;
	}
	return fd;
}

/* A private tmpfs of @bytes holding upper/ (the sandbox root's) and work/. */
static int private_layer(uint64_t bytes, uid_t base)
{
	char size[32];
	_cleanup_close_ int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
	int r;

	if (fs < 0)
		return -errno;
	snprintf(size, sizeof(size), "%" PRIu64, bytes);
	if ((r = fsconfig_str(fs, "size", size)) < 0 || (r = fsconfig_str(fs, "mode", "0755")) < 0)
		return r;
	_cleanup_close_ int m = fs_mount(fs, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (m < 0)
		return m;
	if (mkdirat(m, "upper", 0755) < 0 || mkdirat(m, "work", 0700) < 0 ||
	    fchownat(m, "upper", base, base, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return TAKE_FD(m);
}

int rootfs_layer_shm(int layer_fd, uid_t base)
{
	if (mkdirat(layer_fd, ROOTFS_LAYER_SHM, 0700) < 0 && errno != EEXIST)
		return -errno;
	_cleanup_close_ int fd =
		openat(layer_fd, ROOTFS_LAYER_SHM, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchown(fd, base, base) < 0 || fchmod(fd, 01777) < 0)
		return -errno;
	return 0;
}

/* /dev/shm: a clone of the caller's layer's shm/ (not idmapped: as the upper layer, its
 * files are the sandbox's ids on the host). */
static int layer_shm_mount(const struct rootfs_plan *plan, int layer_fd)
{
	char path[4200];
	int r = rootfs_layer_shm(layer_fd, plan->base);

	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/" ROOTFS_LAYER_SHM, plan->layer_dir);
	return rootfs_clone_mount(path, false,
				  MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, -1);
}

int rootfs_prepare(const struct rootfs_plan *plan, int userns_fd, struct rootfs_mounts *ret)
{
	_cleanup_close_ int upper = -1, work = -1, fs = -1;
	struct rootfs_mounts m = ROOTFS_MOUNTS_INIT;
	int r;

	r = m.layers[0] = clone_ro(plan->image, userns_fd);
	if (r < 0)
		goto fail;
	fs = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
	if (fs < 0) {
		r = -errno;
		goto fail;
	}
	r = fsconfig_fd(fs, "lowerdir+", m.layers[0]);
	if (r < 0)
		goto fail;
	for (const char *const *l = plan->lowers; l && *l; l++) {
		if (m.nlowers == ROOTFS_MAX_LOWERS) {
			r = -E2BIG;
			goto fail;
		}
		r = m.lowers[m.nlowers] = clone_ro(*l, userns_fd);
		if (r < 0)
			goto fail;
		m.nlowers++;
		if ((r = fsconfig_fd(fs, "lowerdir+", r)) < 0)
			goto fail;
	}
	if (plan->writable_bytes) {
		/* A detached clone of the caller's layer: the overlay names its layers as
		 * paths inside it ("/upper"), not the host's. */
		r = m.layers[1] = plan->layer_dir ? open_tree_clone(AT_FDCWD, plan->layer_dir, 0)
						  : private_layer(plan->writable_bytes, plan->base);
		if (r < 0)
			goto fail;
		upper = openat(r, "upper", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		work = openat(r, "work", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		/* The upper layer's root is the sandbox's "/": its root owns it. */
		if (upper < 0 || work < 0 ||
		    (plan->layer_dir &&
		     fchownat(upper, "", plan->base, plan->base, AT_EMPTY_PATH) < 0)) {
			r = -errno;
			goto fail;
		}
		if ((r = fsconfig_fd(fs, "upperdir", upper)) < 0 ||
		    (r = fsconfig_fd(fs, "workdir", work)) < 0)
			goto fail;
		if (plan->shm_in_layer && plan->layer_dir &&
		    (r = m.shm = layer_shm_mount(plan, m.layers[1])) < 0)
			goto fail;
	} else if (!m.nlowers) {
		/* Without an upper layer overlayfs wants two lowers: an empty one below. */
		r = empty_lower();
		if (r < 0 || (r = fsconfig_fd(fs, "lowerdir+", r)) < 0)
			goto fail;
	}
	r = m.root = fs_mount(fs, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
					  (plan->writable_bytes ? 0 : MOUNT_ATTR_RDONLY));
	if (r < 0)
		goto fail;
	m.init = plan->init ? clone_ro(plan->init, -1) : -1;
	if (plan->init && m.init < 0) {
		r = m.init;
		goto fail;
	}
	/* Not idmapped: its entries stay the host's root's, which the sandbox's root may not
	 * change, whatever it does to the mount. */
	m.dev = plan->dev ? rootfs_clone_mount(plan->dev, false,
					       MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
						       MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
					       -1)
			  : -1;
	if (plan->dev && m.dev < 0) {
		r = m.dev;
		goto fail;
	}
	for (const char *const *b = plan->binds; b && b[0]; b += 2) {
		if (m.nbinds == ROOTFS_MAX_BINDS) {
			r = -E2BIG;
			goto fail;
		}
		int fd = clone_ro(b[0], userns_fd);
		if (fd < 0) {
			r = fd;
			goto fail;
		}
		m.binds[m.nbinds++] = fd;
	}
	for (const char *const *d = plan->devices; d && d[0]; d += 2) {
		if (m.ndevices == ROOTFS_MAX_DEVICES) {
			r = -E2BIG;
			goto fail;
		}
		int fd = open_tree_clone(AT_FDCWD, d[0], 0);
		if (fd < 0) {
			r = fd;
			goto fail;
		}
		m.devices[m.ndevices++] = fd;
	}
	*ret = m;
	return 0;
fail:
	rootfs_mounts_close(&m);
	return r;
}

void rootfs_mounts_close(struct rootfs_mounts *m)
{
	closep(&m->root);
	closep(&m->init);
	closep(&m->dev);
	closep(&m->shm);
	closep(&m->layers[0]);
	closep(&m->layers[1]);
	for (unsigned i = 0; i < m->nbinds; i++)
		closep(&m->binds[i]);
	for (unsigned i = 0; i < m->ndevices; i++)
		closep(&m->devices[i]);
	for (unsigned i = 0; i < m->nlowers; i++)
		closep(&m->lowers[i]);
	m->nbinds = m->ndevices = m->nlowers = 0;
}

/* The runtime tmpfs, mounted (once per host boot) unless it is there. Under its lock. */
static int runtime_mount(void)
{
	struct statfs sfs;
	struct stat st;

	if (statfs(ROOTFS_RUNTIME_DIR, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC &&
	    stat(ROOTFS_RUNTIME_DIR, &st) == 0 && st.st_uid == 0 && !(st.st_mode & 022))
		return 0;
	if (mkdir(ROOTFS_RUNTIME_DIR, 0711) < 0 && errno != EEXIST)
		return -errno;
	if (mount("sbx-runtime", ROOTFS_RUNTIME_DIR, "tmpfs", MS_NOSUID | MS_NODEV,
		  "size=64m,mode=0711") < 0)
		return -errno;
	if (mkdir(ROOTFS_RUNTIME_EMPTY, 0555) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Readable by the sandbox: executing a file the process may not read gives its memory
 * map to the init user namespace (mm->user_ns), and CRIU then refuses PID 1 as not the
 * sandbox namespace's. */
#define RUNTIME_INIT_MODE 0555

int rootfs_copy(const char *from, int to_fd)
{
	_cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
	char buf[65536];
	ssize_t n;

	if (in < 0)
		return -errno;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(to_fd, buf + off, (size_t)(n - off));
			if (w < 0)
				return -errno;
			off += w;
		}
	return n < 0 ? -errno : 0;
}

static int copy_file(const char *from, const char *to, const char *leaf)
{
	char in_dir[600];
	if (leaf) { /* a directory holding the copy, named @leaf */
		if ((mkdir(to, 0755) < 0 && errno != EEXIST) || chmod(to, 0755) < 0)
			return -errno;
		snprintf(in_dir, sizeof(in_dir), "%s/%s", to, leaf);
		to = in_dir;
	}
	_cleanup_close_ int out =
		open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, RUNTIME_INIT_MODE);
	int r;

	if (out < 0)
		return -errno;
	r = rootfs_copy(from, out);
	if (r == 0 && fchmod(out, RUNTIME_INIT_MODE) < 0)
		r = -errno;
	return r;
}

/* A copy of ours: sbx-init's (a file), or sbx-tar's (a directory holding "tar"). */
static const char *const runtime_kinds[] = { "sbx-init-", "sbx-tar-" };

static bool runtime_ours(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(runtime_kinds); i++)
		if (!strncmp(name, runtime_kinds[i], strlen(runtime_kinds[i])))
			return true;
	return false;
}

/* Other builds' copies go once they are @age_s old (sandboxes that bound one keep it
 * until they end; a daemon of that build copies it again when it next needs it): two
 * builds in use at once do not remove each other's copy at every launch, unless the
 * tmpfs is full (then any age goes). */
#define RUNTIME_PRUNE_AGE_S 86400
static void runtime_prune(const char *keep, time_t age_s)
{
	DIR *d = opendir(ROOTFS_RUNTIME_DIR);
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	for (struct dirent *e; d && (e = readdir(d));) {
		struct stat st;
		/* Never another launcher's copy in the making ("NAME.PID"), nor one made in
		 * the last minute (about to be bound). */
		if (!runtime_ours(e->d_name) || !strcmp(e->d_name, keep) ||
		    strchr(e->d_name, '.') ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    now.tv_sec - st.st_mtim.tv_sec < (age_s > 60 ? age_s : 60))
			continue;
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int sub =
				openat(dirfd(d), e->d_name,
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				(void)unlinkat(sub, "tar", 0);
			(void)unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
		} else {
			(void)unlinkat(dirfd(d), e->d_name, 0);
		}
	}
	if (d)
		closedir(d);
}

/* The runtime lock, held (the descriptor, closed to let go) with the runtime tmpfs
 * mounted; -errno. */
static int runtime_lock(void)
{
	if (mkdir("/run/sbx", 0711) < 0 && errno != EEXIST)
		return -errno;
	_cleanup_close_ int lock =
		open("/run/sbx/runtime.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0)
		return -errno;
	int r = runtime_mount();
	return r < 0 ? r : TAKE_FD(lock);
}

/* A copy in the making that failed: the file, or the directory and its file. */
static void runtime_unmake(const char *tmp, const char *leaf)
{
	char file[400];
	if (leaf) {
		snprintf(file, sizeof(file), "%s/%s", tmp, leaf);
		(void)unlink(file);
		(void)rmdir(tmp);
	} else {
		(void)unlink(tmp);
	}
}

/* Whether @path is a whole copy of @src, made by root, with the mode PID 1 runs from. */
static bool copy_current(const char *path, const struct stat *src)
{
	struct stat cp;
	return stat(path, &cp) == 0 && S_ISREG(cp.st_mode) && cp.st_size == src->st_size &&
	       cp.st_uid == 0 && (cp.st_mode & 07777) == RUNTIME_INIT_MODE;
}

/* The copy of @src in the runtime tmpfs, named @kind (runtime_kinds) and @src's
 * identity: the file itself, or with @leaf a directory holding it under that name. */
static int runtime_copy(const char *src, const char *kind, const char *leaf, char **ret_path)
{
	char name[128], path[256], tmp[300], file[320];
	_cleanup_close_ int lock = -1;
	struct stat st;
	int r;

	if (stat(src, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOEXEC;
	snprintf(name, sizeof(name), "%s%" PRIx64 "-%" PRIx64 "-%" PRIx64 "-%" PRIx64, kind,
		 (uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_size,
		 (uint64_t)st.st_mtim.tv_sec * 1000000000 + (uint64_t)st.st_mtim.tv_nsec);
	snprintf(path, sizeof(path), ROOTFS_RUNTIME_DIR "/%s", name);
	snprintf(file, sizeof(file), "%s%s%s", path, leaf ? "/" : "", leaf ? leaf : "");
	if (copy_current(file, &st))
		goto done;
	lock = runtime_lock();
	if (lock < 0)
		return lock;
	if (copy_current(file, &st)) /* made by another launcher meanwhile */
		goto done;
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	r = copy_file(src, tmp, leaf);
	if (r == -ENOSPC) { /* full of other builds' copies: room made, once */
		runtime_unmake(tmp, leaf);
		runtime_prune(name, 0);
		r = copy_file(src, tmp, leaf);
	}
	if (r == 0 && rename(tmp, path) < 0) {
		r = -errno;
		if (leaf && (r == -ENOTEMPTY || r == -EEXIST)) { /* a damaged copy in the way */
			runtime_unmake(path, leaf);
			r = rename(tmp, path) < 0 ? -errno : 0;
		}
	}
	if (r < 0) {
		runtime_unmake(tmp, leaf);
		return r;
	}
	runtime_prune(name, RUNTIME_PRUNE_AGE_S);
done:
	*ret_path = strdup(path);
	return *ret_path ? 0 : -ENOMEM;
}

int rootfs_dev_fill(int dir)
{
	static const char *const nodes[] = { SANDBOX_DEV_NODES };
	static const char *const links[][2] = {
		{ "pts/ptmx", "ptmx" },		 { "/proc/self/fd", "fd" },
		{ "/proc/self/fd/0", "stdin" },	 { "/proc/self/fd/1", "stdout" },
		{ "/proc/self/fd/2", "stderr" },
	};

	for (size_t i = 0; i <= ARRAY_SIZE(nodes); i++) {
		const char *name = i < ARRAY_SIZE(nodes) ? nodes[i] + strlen("/dev/") : "sbx-init";
		int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				0444);
		if (fd < 0)
			return -errno;
		close(fd);
	}
	for (size_t i = 0; i < ARRAY_SIZE(links); i++)
		if (symlinkat(links[i][0], dir, links[i][1]) < 0)
			return -errno;
	/* shm last: its presence says the template is whole. Nothing in it is writable
	 * but by the host's root (each sandbox's /dev/shm is a tmpfs of its own over it),
	 * so that no sandbox reaches another through it, whatever it does to its mounts. */
	if (mkdirat(dir, "pts", 0755) < 0 || fchmodat(dir, "pts", 0755, 0) < 0 ||
	    mkdirat(dir, "shm", 0755) < 0 || fchmodat(dir, "shm", 0755, 0) < 0)
		return -errno;
	return 0;
}

static void dev_template_unmake(const char *path)
{
	_cleanup_close_ int dir = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = dir < 0 ? NULL : fdopendir(dir);

	if (d)
		dir = -1;
	for (struct dirent *e; d && (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			(void)unlinkat(dirfd(d), e->d_name, e->d_type == DT_DIR ? AT_REMOVEDIR : 0);
	if (d)
		closedir(d);
	(void)rmdir(path);
}

static bool dev_template_whole(void)
{
	struct stat st;
	return stat(ROOTFS_DEV_DIR "/shm", &st) == 0 && S_ISDIR(st.st_mode);
}

/* The shared /dev made, under the runtime lock. */
static int dev_template_make(const char *path)
{
	char tmp[300];
	int r;

	_cleanup_close_ int lock = runtime_lock();
	if (lock < 0)
		return lock;
	if (dev_template_whole()) /* made by another launcher meanwhile */
		return 0;
	/* A damaged one (emptied by hand) is moved aside, not emptied: what is left of it
	 * may be a mount point in a running sandbox, whose mount its removal would take. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(tmp, sizeof(tmp), "%s.damaged.%lld.%d", path, (long long)now.tv_sec,
		 (int)getpid());
	if (rename(path, tmp) < 0 && errno != ENOENT)
		return -errno;
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	dev_template_unmake(tmp);
	if (mkdir(tmp, 0755) < 0 || chmod(tmp, 0755) < 0)
		return -errno;
	_cleanup_close_ int dir = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	r = dir < 0 ? -errno : rootfs_dev_fill(dir);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		dev_template_unmake(tmp);
	return r;
}

int rootfs_runtime_dev(void)
{
	return dev_template_whole() ? 0 : dev_template_make(ROOTFS_DEV_DIR);
}

int rootfs_runtime_init(const char *init_path, char **ret_path)
{
	return runtime_copy(init_path, "sbx-init-", NULL, ret_path);
}

int rootfs_runtime_tar(const char *tar_path, char **ret_dir)
{
	return runtime_copy(tar_path, "sbx-tar-", "tar", ret_dir);
}
