// SPDX-License-Identifier: MIT
/* Tar streams applied inside a directory (unpack.h). Each entry's path is made clean
 * first (leading "/" and "." dropped, ".." refused, at most UNPACK_MAX_DEPTH deep); its
 * parent is resolved inside the root with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS:
 * an entry below a symlink of its own archive is refused, so no chain of links makes a
 * tree deeper than its paths), created where missing one component at a time from the
 * last one found, and the entry made there with *at calls that never follow its last
 * component. Every inode made is charged against the data budget (INODE_COST). */
#define _GNU_SOURCE
#include "unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../../sandbox/macro.h"
#include "../../sandbox/text.h"
#include "tree.h"

#define PROGRESS_STEP (4u << 20)
#define INODE_COST 4096 /* what a directory, link or node costs the budget */
#define WH ".wh."
#define WH_OPAQUE ".wh..wh..opq"

struct unpacker {
	int root;
	const struct unpack_opts *o;
	struct unpack_stats *st;
	char *err;
	size_t errlen;
	uint64_t next_progress;
};

static int fail(struct unpacker *u, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct unpacker *u, int r, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	text_printable(line, u->err, u->errlen);
	return r;
}

/* @in made relative and clean into @out: leading "/", "." and empty components dropped;
 * false for a ".." component or a name too long. "" is the root itself. */
static bool clean_path(const char *in, char *out, size_t size)
{
	size_t n = 0, depth = 0;

	for (const char *s = in; *s;) {
		while (*s == '/')
			s++;
		size_t len = strcspn(s, "/");
		if (!len)
			break;
		if (len == 2 && s[0] == '.' && s[1] == '.')
			return false;
		if (!(len == 1 && s[0] == '.')) {
			if (len > NAME_MAX || n + len + 2 > size || ++depth > UNPACK_MAX_DEPTH)
				return false;
			if (n)
				out[n++] = '/';
			memcpy(out + n, s, len);
			n += len;
		}
		s += len;
	}
	out[n] = '\0';
	return true;
}

/* @path (clean, relative) opened inside the root: symlinks on the way resolve as they
 * would inside the sandbox, never out of it. */
static int open_in(int root, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV,
	};
	int fd = (int)syscall(SYS_openat2, root, path[0] ? path : ".", &how, sizeof(how));
	return fd < 0 ? -errno : fd;
}

/* The directory @path inside the root, made (0755, root's) where it is missing: the
 * deepest existing prefix is found inside the root, the rest made below it. *made counts
 * the directories made. */
static int make_dirs(int root, const char *path, uint64_t *made)
{
	char prefix[PATH_MAX];
	size_t len = strlen(path), end = len;
	int fd = open_in(root, path, O_PATH | O_DIRECTORY);

	if (fd != -ENOENT)
		return fd;
	/* Back to the deepest prefix that exists. */
	for (;;) {
		while (end > 0 && path[end] != '/')
			end--;
		memcpy(prefix, path, end);
		prefix[end] = '\0';
		fd = open_in(root, prefix, O_PATH | O_DIRECTORY);
		if (fd != -ENOENT || end == 0)
			break;
	}
	if (fd < 0)
		return fd;
	/* Then each missing component, made and opened in its parent, never followed. */
	for (size_t i = end ? end + 1 : 0; i < len;) {
		size_t n = strcspn(path + i, "/");
		char name[NAME_MAX + 1];
		memcpy(name, path + i, n);
		name[n] = '\0';
		if (mkdirat(fd, name, 0755) < 0 && errno != EEXIST) {
			int e = -errno;
			close(fd);
			return e;
		}
		(*made)++;
		int next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (next < 0)
			return errno == ELOOP ? -ENOTDIR : -errno;
		fd = next;
		i += n + 1;
	}
	return fd;
}

/* Whatever is at @name in @dfd goes, unless it is a directory and @keep_dir. */
static int clear_at(int dfd, const char *name, bool keep_dir)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode))
		return keep_dir ? 0 : tree_remove_at(dfd, name);
	return unlinkat(dfd, name, 0) < 0 ? -errno : 0;
}

/* @n more bytes of the budget (file data, INODE_COST an inode), or the refusal. */
static int charge(struct unpacker *u, uint64_t n, const char *path)
{
	if (n > u->o->max_bytes - u->st->bytes)
		return fail(u, -EFBIG, "%s: more data than the limit allows (%" PRIu64 " bytes)",
			    path, u->o->max_bytes);
	u->st->bytes += n;
	return 0;
}

static mode_t entry_mode(struct unpacker *u, mode_t mode)
{
	mode &= 07777;
	if ((mode & 06000) && !u->o->keep_setuid) {
		mode &= ~(mode_t)06000;
		u->st->dropped_setuid++;
	}
	return mode;
}

static void owner(struct archive_entry *e, uid_t *uid, gid_t *gid)
{
	la_int64_t a = archive_entry_uid(e), b = archive_entry_gid(e);
	*uid = a >= 0 && a < INT32_MAX ? (uid_t)a : 0;
	*gid = b >= 0 && b < INT32_MAX ? (gid_t)b : 0;
}

static int write_file(struct unpacker *u, struct archive *a, struct archive_entry *e, int dfd,
		      const char *name, const char *path)
{
	la_int64_t size = archive_entry_size(e);
	uid_t uid;
	gid_t gid;

	int r = size < 0 ? fail(u, -EINVAL, "%s: a negative size", path)
			 : charge(u, (uint64_t)size, path);
	if (r < 0)
		return r;
	_cleanup_close_ int fd =
		openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(u, -errno, "%s: %s", path, strerror(errno));
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int d = archive_read_data_block(a, &buf, &len, &off);
		if (d == ARCHIVE_EOF)
			break;
		if (d < ARCHIVE_WARN)
			return fail(u, -EIO, "%s: %s", path, archive_error_string(a));
		if (off < 0 || (uint64_t)off + len > (uint64_t)size)
			return fail(u, -EINVAL, "%s: data beyond the entry's size", path);
		for (size_t done = 0; done < len;) {
			ssize_t w =
				pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
			if (w < 0)
				return fail(u, -errno, "%s: %s", path, strerror(errno));
			done += (size_t)w;
		}
	}
	if (ftruncate(fd, size) < 0)
		return fail(u, -errno, "%s: %s", path, strerror(errno));
	owner(e, &uid, &gid);
	if (fchown(fd, uid, gid) < 0 || fchmod(fd, entry_mode(u, archive_entry_perm(e))) < 0)
		return fail(u, -errno, "%s: %s", path, strerror(errno));
	struct timespec t[2] = { { .tv_nsec = UTIME_OMIT },
				 { .tv_sec = archive_entry_mtime(e),
				   .tv_nsec = archive_entry_mtime_nsec(e) } };
	(void)futimens(fd, t);
	if (u->o->progress && u->st->bytes >= u->next_progress) {
		u->o->progress(u->st->bytes, u->o->ud);
		u->next_progress = u->st->bytes + PROGRESS_STEP;
	}
	return 0;
}

static int make_dir(struct unpacker *u, struct archive_entry *e, int dfd, const char *name,
		    const char *path)
{
	uid_t uid;
	gid_t gid;
	int r = clear_at(dfd, name, true);

	if (r < 0)
		return fail(u, r, "%s: %s", path, strerror(-r));
	if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST)
		return fail(u, -errno, "%s: %s", path, strerror(errno));
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	owner(e, &uid, &gid);
	if (fd < 0 || fchown(fd, uid, gid) < 0 ||
	    fchmod(fd, entry_mode(u, archive_entry_perm(e))) < 0)
		return fail(u, -errno, "%s: %s", path, strerror(errno));
	return 0;
}

/* A hard link: to a regular file of this archive, already unpacked. */
static int make_link(struct unpacker *u, const char *target, int dfd, const char *name,
		     const char *path)
{
	char clean[PATH_MAX];
	struct stat st;

	if (!clean_path(target, clean, sizeof(clean)) || !clean[0])
		return fail(u, -EINVAL, "%s: hard link to '%s' leaves the image", path, target);
	_cleanup_close_ int t = open_in(u->root, clean, O_PATH | O_NOFOLLOW);
	if (t < 0 || fstat(t, &st) < 0 || !S_ISREG(st.st_mode))
		return fail(u, -EINVAL, "%s: hard link to '%s', not a file of this archive", path,
			    target);
	if (linkat(t, "", dfd, name, AT_EMPTY_PATH) < 0)
		return fail(u, -errno, "%s: %s", path, strerror(errno));
	return 0;
}

/* An OCI whiteout: ".wh..wh..opq" makes its directory opaque; ".wh.NAME" hides NAME of
 * the layers below. */
static int whiteout(struct unpacker *u, const char *dir, int dfd, const char *base,
		    const char *path)
{
	if (!strcmp(base, WH_OPAQUE)) {
		_cleanup_close_ int fd = open_in(u->root, dir, O_RDONLY | O_DIRECTORY);
		if (fd < 0 || fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
			return fail(u, fd < 0 ? fd : -errno, "%s: cannot make it opaque: %s", path,
				    strerror(fd < 0 ? -fd : errno));
		return 0;
	}
	const char *name = base + strlen(WH);
	if (!strncmp(name, WH, strlen(WH)))
		return 0; /* other markers of the format (hard-link dirs): nothing to do */
	if (!name[0] || !strcmp(name, ".") || !strcmp(name, ".."))
		return fail(u, -EINVAL, "%s: a whiteout without a name", path);
	int r = clear_at(dfd, name, false);
	if (r < 0 || mknodat(dfd, name, S_IFCHR, makedev(0, 0)) < 0)
		return fail(u, r < 0 ? r : -errno, "%s: %s", path, strerror(r < 0 ? -r : errno));
	return 0;
}

static int apply_entry(struct unpacker *u, struct archive *a, struct archive_entry *e)
{
	const char *raw = archive_entry_pathname(e);
	char path[PATH_MAX];
	mode_t type = archive_entry_filetype(e);
	const char *hard = archive_entry_hardlink(e);
	uid_t uid;
	gid_t gid;

	if (!raw)
		return fail(u, -EINVAL, "an entry without a name");
	if (!clean_path(raw, path, sizeof(path)))
		return fail(u, -EINVAL,
			    "a path outside the image (\"..\"), too long or too deep: '%.120s'",
			    raw);
	if (!path[0])
		return 0; /* the root itself: it stays as the store made it */
	char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	char dir[PATH_MAX] = "";
	if (slash)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if ((hard || type != AE_IFREG) && archive_entry_size(e) > 0)
		return fail(u, -EINVAL, "%s: an entry that is no file carries data", path);
	/* Device nodes and sockets; and in the outer archive, FIFOs (its files are read). */
	if (!hard && (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK ||
		      (type == AE_IFIFO && !u->o->layer))) {
		u->st->dropped_devices++;
		return 0;
	}
	uint64_t made = 0;
	_cleanup_close_ int dfd = make_dirs(u->root, dir, &made);
	if (dfd < 0)
		return fail(u, dfd, "%s: %s", path,
			    dfd == -ENOTDIR ? "a parent is not a directory"
			    : dfd == -ELOOP ? "a parent is a symlink (entries go below real "
					      "directories)"
					    : strerror(-dfd));
	int c = charge(u, (made + (type != AE_IFREG || hard)) * INODE_COST, path);
	if (c < 0)
		return c;
	if (u->o->layer && !strncmp(base, WH, strlen(WH)))
		return whiteout(u, dir, dfd, base, path);
	if (hard) {
		int r = clear_at(dfd, base, false);
		return r < 0 ? fail(u, r, "%s: %s", path, strerror(-r))
			     : make_link(u, hard, dfd, base, path);
	}
	if (type == AE_IFDIR)
		return make_dir(u, e, dfd, base, path);
	int r = clear_at(dfd, base, false);
	if (r < 0)
		return fail(u, r, "%s: %s", path, strerror(-r));
	owner(e, &uid, &gid);
	switch (type) {
	case AE_IFREG:
		return write_file(u, a, e, dfd, base, path);
	case AE_IFLNK: {
		/* Kept as it is: it resolves inside the sandbox's root, and nothing here
		 * follows it. */
		const char *target = archive_entry_symlink(e);
		if (!target || !target[0] || strlen(target) >= PATH_MAX)
			return fail(u, -EINVAL, "%s: a symlink without a target", path);
		if (symlinkat(target, dfd, base) < 0 ||
		    fchownat(dfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			return fail(u, -errno, "%s: %s", path, strerror(errno));
		return 0;
	}
	case AE_IFIFO:
		if (mkfifoat(dfd, base, 0600) < 0 ||
		    fchownat(dfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
		    fchmodat(dfd, base, entry_mode(u, archive_entry_perm(e)), 0) < 0)
			return fail(u, -errno, "%s: %s", path, strerror(errno));
		return 0;
	default:
		return fail(u, -EINVAL, "%s: an entry of unknown type", path);
	}
}

int unpack_tar(int fd, int root_fd, const struct unpack_opts *o, struct unpack_stats *st, char *err,
	       size_t errlen)
{
	struct unpacker u = {
		.root = root_fd,
		.o = o,
		.st = st,
		.err = err,
		.errlen = errlen,
		.next_progress = PROGRESS_STEP,
	};
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int r = 0;

	*st = (struct unpack_stats){ 0 };
	if (!a)
		return fail(&u, -ENOMEM, "out of memory");
	/* The compressions image layers use; none that runs a program of the host. */
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	if (archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK) {
		r = fail(&u, -EINVAL, "not a tar archive: %s", archive_error_string(a));
		goto out;
	}
	for (;;) {
		int h = archive_read_next_header(a, &e);
		/* What it decompresses to, skipped data included, stays near what it may
		 * unpack. */
		if ((uint64_t)archive_filter_bytes(a, 0) > 2 * o->max_bytes + (64u << 20)) {
			r = fail(&u, -EFBIG,
				 "it decompresses to far more than the limit of %" PRIu64 " bytes",
				 o->max_bytes);
			goto out;
		}
		if (h == ARCHIVE_EOF)
			break;
		if (h < ARCHIVE_WARN) {
			r = fail(&u, -EINVAL, "a broken or truncated archive: %s",
				 archive_error_string(a));
			goto out;
		}
		if (++st->entries > o->max_entries) {
			r = fail(&u, -EFBIG, "more than %" PRIu64 " entries", o->max_entries);
			goto out;
		}
		if ((r = apply_entry(&u, a, e)) < 0)
			goto out;
	}
	if (o->progress)
		o->progress(st->bytes, o->ud);
out:
	archive_read_free(a);
	return r;
}
