// SPDX-License-Identifier: MIT
/* The writable layer of a daemon's sandbox: a tmpfs of its own, mounted on the host at
 * instance_layer_dir()/<id> with upper/, work/ and root/, so that a checkpoint can read the layer
 * and a restore can rebuild it. The sandbox mounts its overlay root from it. */
#define _GNU_SOURCE
#include "layer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../../sandbox/idmap.h"
#include "../../sandbox/instance.h"
#include "../../sandbox/macro.h"
#include "criu.h"

int layer_path(const char *id, const char *sub, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s%s%s", instance_layer_dir(), id, sub ? "/" : "",
			 sub ? sub : "");
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int layer_mount(const char *path, uint64_t bytes)
{
	static const char *const subs[] = { "upper", "work", "root" };
	char opts[64];
	int r;

	if (mkdir(path, 0700) < 0)
		return -errno;
	snprintf(opts, sizeof(opts), "size=%" PRIu64 ",mode=0755", bytes);
	if (mount("sbx-layer", path, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
		r = -errno;
		(void)rmdir(path);
		return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		char sub[4200];
		snprintf(sub, sizeof(sub), "%s/%s", path, subs[i]);
		if (mkdir(sub, 0755) < 0) {
			r = -errno;
			layer_unmount(path);
			return r;
		}
	}
	return 0;
}

void layer_unmount(const char *path)
{
	char sub[4200];

	snprintf(sub, sizeof(sub), "%s/root", path);
	(void)umount2(sub, MNT_DETACH); /* a restore's root, if one is still there */
	(void)umount2(path, MNT_DETACH);
	(void)rmdir(path);
}

int layer_create(const char *id, uint64_t bytes)
{
	char path[256];
	int r;

	if ((r = instance_run_dir_make()) < 0)
		return r;
	if (mkdir(instance_layer_dir(), 0700) < 0 && errno != EEXIST)
		return -errno;
	if ((r = layer_path(id, NULL, path, sizeof(path))) < 0)
		return r;
	return layer_mount(path, bytes);
}

void layer_remove(const char *id)
{
	char path[256];

	if (layer_path(id, NULL, path, sizeof(path)) == 0)
		layer_unmount(path);
}

/* An empty archive, as tar ends one: a record of zeros. */
#define EMPTY_ARCHIVE_BYTES 10240

bool layer_dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	bool empty = d != NULL;

	for (struct dirent *e; empty && (e = readdir(d));)
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	if (d)
		closedir(d);
	return empty;
}

/* Whether @dir (an upper directory) is as a launch made it: empty, 0755, owned by the
 * sandbox's root (the first id of a range) or host root, with no extended attribute but
 * the uuid overlayfs gives it at every mount (it marks a touched root with others). */
static bool layer_untouched(const char *dir)
{
	static const char uuid[] = "trusted.overlay.uuid";
	char names[sizeof(uuid) + 1];
	struct stat st;

	if (lstat(dir, &st) < 0 || st.st_mode != (S_IFDIR | 0755) || st.st_uid != st.st_gid ||
	    st.st_uid % IDMAP_SIZE)
		return false;
	ssize_t n = llistxattr(dir, names, sizeof(names));
	return (n == 0 || (n == (ssize_t)sizeof(uuid) && !memcmp(names, uuid, sizeof(uuid)))) &&
	       layer_dir_empty(dir);
}

/* Whether @archive is an empty one (a record of zeros): nothing to unpack. */
static bool archive_empty(const char *archive)
{
	uint8_t buf[EMPTY_ARCHIVE_BYTES + 1];
	_cleanup_close_ int fd = open(archive, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));

	if (n != EMPTY_ARCHIVE_BYTES)
		return false;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i])
			return false;
	return true;
}

/* The writable layer to (@create) or from an archive: GNU tar, with overlayfs's
 * whiteouts (device nodes) and opaque directories (trusted.* xattrs) kept. An extraction
 * runs in @cg, so that the tmpfs pages it fills are charged to the sandbox they are for. */
int layer_tar(bool create, const char *archive, const char *dir, const char *log,
	      const struct cgroup *cg, char **ret_err)
{
	/* A layer nothing was written to (most sandboxes' at a checkpoint) is an empty
	 * archive, made and read without running tar (3 ms each way). */
	*ret_err = NULL;
	if (create && layer_untouched(dir)) {
		static const uint8_t zeros[EMPTY_ARCHIVE_BYTES];
		_cleanup_close_ int fd =
			open(archive, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, zeros, sizeof(zeros)) != (ssize_t)sizeof(zeros))
			return fd < 0 ? -errno : -EIO;
		return 0;
	}
	if (!create && archive_empty(archive))
		return 0;
	const char *argv[] = { create ? "--create" : "--extract",
			       "--file",
			       archive,
			       "--directory",
			       dir,
			       "--xattrs",
			       "--xattrs-include=*",
			       "--numeric-owner",
			       create ? "--sparse" : "--preserve-permissions",
			       create ? "." : NULL,
			       NULL };
	return criu_exec(&(struct criu_run){ .bin = "/bin/tar",
					     .argv = argv,
					     .out_path = log,
					     .cg = cg,
					     .timeout_ns = CRIU_TIMEOUT_NS },
			 log, ret_err);
}

/* The writable layer's files were the snapshot's sandbox's: its ids move into the new
 * one's range (overlayfs's whiteouts, which are host root's, stay). */
static uid_t shift_from, shift_to;

static int shift_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)type;
	(void)ftw;
	uid_t u = st->st_uid, g = st->st_gid;
	bool mu = u >= shift_from && u - shift_from < IDMAP_SIZE;
	bool mg = g >= shift_from && g - shift_from < IDMAP_SIZE;
	if ((mu || mg) && lchown(path, mu ? u - shift_from + shift_to : (uid_t)-1,
				 mg ? g - shift_from + shift_to : (gid_t)-1) < 0)
		return -1;
	/* chown clears a file's set-id bits: they come back (a capability xattr does not:
	 * no_new_privs makes it inert in every sandbox). */
	if ((mu || mg) && S_ISREG(st->st_mode) && (st->st_mode & (S_ISUID | S_ISGID)) &&
	    chmod(path, st->st_mode & 07777) < 0)
		return -1;
	return 0;
}

static pthread_mutex_t shift_lock = PTHREAD_MUTEX_INITIALIZER;

int layer_shift_owners(const char *dir, uid_t from, uid_t to)
{
	if (from == to)
		return 0;
	pthread_mutex_lock(&shift_lock); /* nftw has no user data: one walk at a time */
	shift_from = from;
	shift_to = to;
	int r = nftw(dir, shift_one, 16, FTW_PHYS | FTW_MOUNT) < 0 ? -errno : 0;
	pthread_mutex_unlock(&shift_lock);
	return r;
}
