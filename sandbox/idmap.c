// SPDX-License-Identifier: MIT
/* The registry of host id ranges held by sandboxes (idmap.h). */
#define _GNU_SOURCE
#include "idmap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "vfork.h"

int idmap_valid(uid_t base)
{
	return base >= IDMAP_FIRST && (base - IDMAP_FIRST) % IDMAP_SIZE == 0 &&
	       (base - IDMAP_FIRST) / IDMAP_SIZE < IDMAP_SLOTS;
}

/* "0 BASE 65536\n": the line for uid_map and gid_map. */
static void idmap_line(uid_t base, char *buf, size_t size)
{
	snprintf(buf, size, "0 %u %u\n", (unsigned)base, IDMAP_SIZE);
}

static int ensure_dir(void)
{
	if (mkdir(IDMAP_DIR, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Whether the range file @name names an owner that is gone. */
static bool stale(int dfd, const char *name)
{
	char owner[4096];
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT;
	ssize_t n = read(fd, owner, sizeof(owner) - 1);
	if (n <= 0)
		return false; /* being written by its taker */
	owner[n] = '\0';
	struct stat st;
	return owner[0] == '/' && stat(owner, &st) < 0 && errno == ENOENT;
}

static int create(int dfd, const char *name, const char *owner)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	size_t len = strlen(owner);
	bool ok = write(fd, owner, len) == (ssize_t)len;
	close(fd);
	if (ok)
		return 0;
	(void)unlinkat(dfd, name, 0);
	return -EIO;
}

/* Takes slot @slot for @owner: 0, -EEXIST (held), or -errno. A free slot is taken
 * without a lock (O_EXCL decides); a stale one is judged, removed and taken again under
 * the directory's lock, so that two takers cannot both remove what the other made. */
static int take(int dfd, unsigned slot, const char *owner)
{
	char name[16];
	int r;

	snprintf(name, sizeof(name), "%u", slot);
	r = create(dfd, name, owner);
	if (r != -EEXIST)
		return r;
	if (flock(dfd, LOCK_EX) < 0)
		return -errno;
	if (stale(dfd, name)) {
		(void)unlinkat(dfd, name, 0);
		r = create(dfd, name, owner);
	}
	(void)flock(dfd, LOCK_UN);
	return r;
}

int idmap_alloc(const char *owner, uid_t *ret_base)
{
	uint32_t start;
	int r = ensure_dir();

	if (r < 0)
		return r;
	_cleanup_close_ int dfd = open(IDMAP_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (getrandom(&start, sizeof(start), 0) != sizeof(start))
		return -errno;
	/* A random slot is almost always free; on collisions, walk on from it. */
	for (unsigned i = 0; i < IDMAP_SLOTS; i++) {
		unsigned slot = (start + i) % IDMAP_SLOTS;
		r = take(dfd, slot, owner);
		if (r == 0) {
			*ret_base = IDMAP_FIRST + slot * IDMAP_SIZE;
			return 0;
		}
		if (r != -EEXIST)
			return r;
	}
	return -EAGAIN;
}

void idmap_sweep(void)
{
	_cleanup_close_ int dfd = open(IDMAP_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dup(dfd)) : NULL;

	if (d && flock(dfd, LOCK_EX) < 0) {
		closedir(d);
		return;
	}
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] != '.' && stale(dfd, e->d_name))
			(void)unlinkat(dfd, e->d_name, 0);
	if (d) {
		closedir(d);
		(void)flock(dfd, LOCK_UN);
	}
}

void idmap_release(uid_t base)
{
	char path[64];

	if (!idmap_valid(base))
		return;
	snprintf(path, sizeof(path), IDMAP_DIR "/%u",
		 (unsigned)((base - IDMAP_FIRST) / IDMAP_SIZE));
	(void)unlink(path);
}

static int write_proc(pid_t pid, const char *file, const char *s)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return write(fd, s, strlen(s)) < 0 ? -errno : 0;
}

int idmap_write_maps(pid_t pid, uid_t base, bool setgroups)
{
	char map[64];
	int r;

	idmap_line(base, map, sizeof(map));
	r = write_proc(pid, "uid_map", map);
	if (r == 0)
		r = write_proc(pid, "setgroups", setgroups ? "allow" : "deny");
	if (r == 0)
		r = write_proc(pid, "gid_map", map);
	return r;
}

/* The child of idmap_userns_fd: in its new user namespace until the parent kills it,
 * or, should the parent die first, until the pipe's write end (@arg: the pipe) is closed
 * everywhere. Raw syscalls only: with CLONE_VM it shares its parent's memory, errno
 * included. */
static int userns_hold(void *arg)
{
	const int *hold = arg;
	char c;

	(void)syscall(SYS_close, hold[1]);
	(void)syscall(SYS_read, hold[0], &c, 1);
	return 0;
}

int idmap_userns_fd(uid_t base)
{
	char path[64];
	int hold[2], r, ns = -1;

	if (pipe2(hold, O_CLOEXEC) < 0)
		return -errno;
#ifdef VFORK_SANITIZED
	struct clone_args args = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
	pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0)
		_exit(userns_hold(hold));
#else
	/* It shares our memory: nothing of a large caller (sbxd) is copied but its
	 * descriptor table. Its stack is in this frame, which outlives it (it is reaped
	 * below). */
	char stack[4096] __attribute__((aligned(16)));
	pid_t pid =
		clone(userns_hold, stack + sizeof(stack), CLONE_NEWUSER | CLONE_VM | SIGCHLD, hold);
#endif
	close(hold[0]);
	if (pid < 0) {
		r = -errno;
		close(hold[1]);
		return r;
	}
	r = idmap_write_maps(pid, base, false);
	if (r == 0) {
		snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
		ns = open(path, O_RDONLY | O_CLOEXEC);
		r = ns < 0 ? -errno : 0;
	}
	/* Killed, not told by the pipe's end: it holds a copy of every descriptor open when
	 * it was cloned, and a call in another thread may have had its own pipe open then.
	 * Two such children would each keep the other's write end, and their parents would
	 * wait for them forever. */
	(void)kill(pid, SIGKILL);
	close(hold[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return r < 0 ? r : ns;
}

uid_t idmap_base_of(pid_t pid)
{
	char path[64], buf[128];
	unsigned inside, outside, count;

	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%u %u %u", &inside, &outside, &count) != 3 || inside != 0 ||
	    !idmap_valid(outside))
		return 0;
	return outside;
}
