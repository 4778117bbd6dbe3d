// SPDX-License-Identifier: MIT
/* Trees of the image store (tree.h): every walk opens with O_NOFOLLOW and works on
 * descriptors, so a symlink in a tree is copied or removed, never entered. */
#define _GNU_SOURCE
#include "tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../../sandbox/macro.h"

#define OPAQUE "trusted.overlay.opaque"
/* The deepest tree walked (unpack makes none deeper than 256): a bound on the stack and
 * the descriptors a walk holds. */
#define MAX_DEPTH 512

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the directory @fd, sorted, NULL-terminated (free each and the array). */
static int list_dir(int fd, char ***ret, size_t *ret_n)
{
	int d = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		return -errno;
	DIR *dir = fdopendir(d);
	char **v = NULL;
	size_t n = 0, cap = 0;

	if (!dir) {
		close(d);
		return -errno;
	}
	for (struct dirent *e; (e = readdir(dir));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n + 1 >= cap) {
			char **nv = realloc(v, (cap = cap ? 2 * cap : 32) * sizeof(*v));
			if (!nv)
				goto nomem;
			v = nv;
		}
		if (!(v[n] = strdup(e->d_name)))
			goto nomem;
		n++;
	}
	closedir(dir);
	if (n)
		qsort(v, n, sizeof(*v), cmp_names);
	*ret = v;
	*ret_n = n;
	return 0;
nomem:
	closedir(dir);
	while (n)
		free(v[--n]);
	free(v);
	return -ENOMEM;
}

static void free_list(char **v, size_t n)
{
	while (n)
		free(v[--n]);
	free(v);
}

static int remove_at(int dfd, const char *name, int depth)
{
	struct stat st;
	char **v;
	size_t n;

	if (depth > MAX_DEPTH)
		return -ELOOP;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = list_dir(fd, &v, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++)
		r = remove_at(fd, v[i], depth + 1);
	free_list(v, n);
	if (r < 0)
		return r;
	return unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

int tree_remove_at(int dfd, const char *name)
{
	return remove_at(dfd, name, 0);
}

static int usage_at(int fd, uint64_t *bytes, uint64_t *entries, int depth)
{
	char **v = NULL;
	size_t n = 0;
	int r = depth > MAX_DEPTH ? -ELOOP : list_dir(fd, &v, &n);

	for (size_t i = 0; i < n && r == 0; i++) {
		struct stat st;
		if (fstatat(fd, v[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			break;
		}
		*bytes += (uint64_t)st.st_blocks * 512;
		(*entries)++;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(fd, v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				r = -errno;
				break;
			}
			r = usage_at(sub, bytes, entries, depth + 1);
			close(sub);
		}
	}
	free_list(v, n);
	return r;
}

int tree_usage(int dfd, uint64_t *ret_bytes, uint64_t *ret_entries)
{
	*ret_bytes = *ret_entries = 0;
	return usage_at(dfd, ret_bytes, ret_entries, 0);
}

/* Files with more than one link, by (dev, ino): the path of the first copy. */
struct seen {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct copy {
	int dst_root;
	enum tree_mode mode;
	bool (*keep)(const char *path, mode_t type, void *ud);
	void *ud;
	EVP_MD_CTX *md; /* NULL: no digest */
	uint64_t bytes;
	struct seen *seen;
	size_t nseen, capseen;
	int depth;
	char buf[1 << 16];
	char target[PATH_MAX]; /* a symlink's, read into the heap rather than each frame */
};

static void hash_record(struct copy *c, const char *kind, const char *path, const struct stat *st,
			const char *extra)
{
	char head[128];

	if (!c->md)
		return;
	int n = snprintf(head, sizeof(head), "%s %o %u %u ", kind, (unsigned)(st->st_mode & 07777),
			 (unsigned)st->st_uid, (unsigned)st->st_gid);
	EVP_DigestUpdate(c->md, head, (size_t)n);
	EVP_DigestUpdate(c->md, path, strlen(path) + 1);
	if (extra)
		EVP_DigestUpdate(c->md, extra, strlen(extra) + 1);
}

static int copy_data(struct copy *c, int in, int out)
{
	for (;;) {
		ssize_t n = read(in, c->buf, sizeof(c->buf));
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if (c->md)
			EVP_DigestUpdate(c->md, c->buf, (size_t)n);
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, c->buf + off, (size_t)(n - off));
			if (w < 0)
				return -errno;
			off += w;
		}
	}
}

static int copy_file(struct copy *c, int src, int dst, const char *name, const char *path,
		     const struct stat *st)
{
	if (st->st_nlink > 1)
		for (size_t i = 0; i < c->nseen; i++)
			if (c->seen[i].dev == st->st_dev && c->seen[i].ino == st->st_ino) {
				hash_record(c, "link", path, st, c->seen[i].path);
				return linkat(c->dst_root, c->seen[i].path + 1, dst, name, 0) < 0
					       ? -errno
					       : 0;
			}
	char size[64];
	if (c->mode == TREE_LINKS) {
		snprintf(size, sizeof(size), "%" PRIu64 " %" PRId64 ".%09ld", (uint64_t)st->st_size,
			 (int64_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
		hash_record(c, "file", path, st, size);
		if (linkat(src, name, dst, name, 0) == 0) {
			c->bytes += (uint64_t)st->st_size;
			return 0;
		}
		if (errno != EXDEV && errno != EMLINK)
			return -errno;
	}
	_cleanup_close_ int in = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_close_ int out =
		openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (in < 0 || out < 0)
		return -errno;
	if (c->mode == TREE_BYTES) {
		snprintf(size, sizeof(size), "%" PRIu64, (uint64_t)st->st_size);
		hash_record(c, "file", path, st, size);
	}
	EVP_MD_CTX *md = c->md;
	if (c->mode == TREE_LINKS)
		c->md = NULL; /* this file's bytes are not the digest's */
	int r = copy_data(c, in, out);
	c->md = md;
	if (r < 0)
		return r;
	if (fchown(out, st->st_uid, st->st_gid) < 0 || fchmod(out, st->st_mode & 07777) < 0)
		return -errno;
	struct timespec t[2] = { st->st_atim, st->st_mtim };
	(void)futimens(out, t);
	c->bytes += (uint64_t)st->st_size;
	if (st->st_nlink > 1) {
		if (c->nseen == c->capseen) {
			size_t cap = c->capseen ? 2 * c->capseen : 64;
			struct seen *ns = realloc(c->seen, cap * sizeof(*ns));
			if (!ns)
				return -ENOMEM;
			c->seen = ns;
			c->capseen = cap;
		}
		char *p = strdup(path);
		if (!p)
			return -ENOMEM;
		c->seen[c->nseen++] = (struct seen){ st->st_dev, st->st_ino, p };
	}
	return 0;
}

/* Copies the directory @src's entries into @dst; *ret_kept counts what was copied. */
static int copy_dir(struct copy *c, int src, int dst, char *path, size_t plen, size_t *ret_kept)
{
	char **v;
	size_t n, kept = 0;
	int r = c->depth > MAX_DEPTH ? -ELOOP : list_dir(src, &v, &n);

	if (r < 0)
		return r;
	c->depth++;
	for (size_t i = 0; i < n && r == 0; i++) {
		const char *name = v[i];
		struct stat st;
		size_t nlen = strlen(name);
		if (plen + nlen + 2 > PATH_MAX) {
			r = -ENAMETOOLONG;
			break;
		}
		path[plen] = '/';
		memcpy(path + plen + 1, name, nlen + 1);
		if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			if (mkdirat(dst, name, 0700) < 0) {
				r = -errno;
				break;
			}
			_cleanup_close_ int s =
				openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			_cleanup_close_ int d =
				openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			size_t sub = 0;
			char opq[2];
			if (s < 0 || d < 0) {
				r = -errno;
				break;
			}
			r = copy_dir(c, s, d, path, plen + 1 + nlen, &sub);
			if (r < 0)
				break;
			path[plen] = '/';
			memcpy(path + plen + 1, name, nlen + 1);
			if (!sub && c->keep && !c->keep(path, S_IFDIR, c->ud)) {
				r = unlinkat(dst, name, AT_REMOVEDIR) < 0 ? -errno : 0;
				continue;
			}
			/* After what it holds: a directory left out is in no digest. */
			hash_record(c, "dir", path, &st, NULL);
			if (fgetxattr(s, OPAQUE, opq, sizeof(opq)) == 1 && opq[0] == 'y')
				(void)fsetxattr(d, OPAQUE, "y", 1, 0);
			if (fchown(d, st.st_uid, st.st_gid) < 0 ||
			    fchmod(d, st.st_mode & 07777) < 0) {
				r = -errno;
				break;
			}
			kept++;
			continue;
		}
		if (c->keep && !c->keep(path, st.st_mode & S_IFMT, c->ud))
			continue;
		if (S_ISREG(st.st_mode)) {
			r = copy_file(c, src, dst, name, path, &st);
		} else if (S_ISLNK(st.st_mode)) {
			ssize_t tl = readlinkat(src, name, c->target, sizeof(c->target) - 1);
			if (tl < 0) {
				r = -errno;
				break;
			}
			c->target[tl] = '\0';
			hash_record(c, "symlink", path, &st, c->target);
			if (symlinkat(c->target, dst, name) < 0 ||
			    fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
				r = -errno;
		} else if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
			hash_record(c, "whiteout", path, &st, NULL);
			if (mknodat(dst, name, S_IFCHR, makedev(0, 0)) < 0)
				r = -errno;
		} else if (S_ISFIFO(st.st_mode)) {
			hash_record(c, "fifo", path, &st, NULL);
			if (mkfifoat(dst, name, st.st_mode & 0777) < 0)
				r = -errno;
		} else {
			continue; /* device nodes and sockets: a sandbox has its own /dev */
		}
		if (r == 0)
			kept++;
	}
	free_list(v, n);
	c->depth--;
	*ret_kept = kept;
	return r;
}

int tree_copy(int src, int dst, enum tree_mode mode,
	      bool (*keep)(const char *path, mode_t type, void *ud), void *ud, char digest[65],
	      uint64_t *ret_bytes)
{
	struct copy *c = calloc(1, sizeof(*c));
	char path[PATH_MAX] = "";
	size_t kept = 0;
	struct stat st;
	int r;

	if (!c)
		return -ENOMEM;
	c->dst_root = dst;
	c->mode = mode;
	c->keep = keep;
	c->ud = ud;
	if (digest &&
	    (!(c->md = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(c->md, EVP_sha256(), NULL))) {
		r = -ENOMEM;
		goto out;
	}
	if (fstat(src, &st) < 0) {
		r = -errno;
		goto out;
	}
	hash_record(c, "dir", "/", &st, NULL);
	r = copy_dir(c, src, dst, path, 0, &kept);
	if (r == 0 &&
	    (fchown(dst, st.st_uid, st.st_gid) < 0 || fchmod(dst, st.st_mode & 07777) < 0))
		r = -errno;
	if (r == 0 && digest) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned len = 0;
		EVP_DigestFinal_ex(c->md, md, &len);
		for (unsigned i = 0; i < 32 && i < len; i++)
			snprintf(digest + 2 * i, 3, "%02x", md[i]);
	}
	if (ret_bytes)
		*ret_bytes = c->bytes;
out:
	for (size_t i = 0; i < c->nseen; i++)
		free(c->seen[i].path);
	free(c->seen);
	EVP_MD_CTX_free(c->md);
	free(c);
	return r;
}
