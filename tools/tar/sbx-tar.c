// SPDX-License-Identifier: MIT
/* sbx-tar: the "tar" CRIU runs, through the PATH sbxd and sbx-oci give it, to archive
 * each tmpfs mount of a sandbox (/tmp, /dev, /dev/shm, an OCI bundle's masks) at a dump and to
 * unpack it at a restore. GNU tar runs a shell and gzip besides, three programs per mount
 * and direction; sbx-tar is one small static program that writes the same format, a
 * POSIX ustar archive in a gzip stream, with gzip's stored (uncompressed) blocks: any tar
 * reads what it writes, and it reads what any tar wrote as long as the archive holds only
 * what it supports.
 *
 * It serves exactly CRIU's two command lines (criu/filesystems.c: tmpfs_dump and
 * tmpfs_restore) and archives of directories, regular files and symbolic links with names
 * of at most 100 bytes, numeric owners and no sparse or hard-linked files: what a
 * sandbox's tmpfs mounts hold. Anything else (another command line, a device node, a
 * fifo, a long name, deflated data) goes to the system's tar with the same arguments and
 * descriptors, decided before sbx-tar writes or creates anything.
 *
 * Unpacking follows no symbolic link: every entry is made under the target directory by
 * a path resolved beneath it without symlinks (openat2), so an archived link cannot lead
 * a later entry out. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BLOCK 512
#define NAME_MAX_TAR 100
#define MAX_ENTRIES 200000
#define MAX_DEPTH 64
#define MAX_IN_MEMORY (64ll << 20)

static const char *const real_tars[] = { "/usr/bin/tar", "/bin/tar" };

/* The system's tar, with our arguments and descriptors: what sbx-tar does not serve. */
static int __attribute__((noreturn)) hand_over(char **argv)
{
	argv[0] = "tar";
	for (size_t i = 0; i < sizeof(real_tars) / sizeof(real_tars[0]); i++)
		execv(real_tars[i], argv);
	fprintf(stderr, "sbx-tar: no system tar to hand over to: %s\n", strerror(errno));
	exit(2);
}

static int __attribute__((noreturn)) fail(const char *what, int err)
{
	fprintf(stderr, "sbx-tar: %s: %s\n", what, strerror(err));
	exit(2);
}

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- gzip, stored blocks, to stdout ---- */

static struct {
	uint8_t buf[65535];
	size_t len;
	uint32_t crc, isize;
} gz;

static void gz_block(bool final)
{
	uint8_t h[5] = { final ? 1 : 0, (uint8_t)gz.len, (uint8_t)(gz.len >> 8), (uint8_t)~gz.len,
			 (uint8_t)(~gz.len >> 8) };
	int r = write_all(1, h, sizeof(h));
	if (r == 0)
		r = write_all(1, gz.buf, gz.len);
	if (r < 0)
		fail("write", -r);
	gz.len = 0;
}

static void gz_put(const void *data, size_t n)
{
	const uint8_t *p = data;
	while (n) {
		size_t k = sizeof(gz.buf) - gz.len < n ? sizeof(gz.buf) - gz.len : n;
		memcpy(gz.buf + gz.len, p, k);
		gz.crc = crc_update(gz.crc, p, k);
		gz.isize += (uint32_t)k;
		gz.len += k;
		p += k;
		n -= k;
		if (gz.len == sizeof(gz.buf))
			gz_block(false);
	}
}

static void gz_begin(void)
{
	/* No name, no time, Unix. */
	static const uint8_t h[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	int r = write_all(1, h, sizeof(h));
	if (r < 0)
		fail("write", -r);
}

static void gz_end(void)
{
	gz_block(true);
	uint8_t t[8];
	for (int i = 0; i < 4; i++) {
		t[i] = (uint8_t)(gz.crc >> (8 * i));
		t[4 + i] = (uint8_t)(gz.isize >> (8 * i));
	}
	int r = write_all(1, t, sizeof(t));
	if (r < 0)
		fail("write", -r);
}

/* ---- create ---- */

struct entry {
	char name[NAME_MAX_TAR + 1]; /* "./", "./dir/", "./file" */
	char link[NAME_MAX_TAR + 1];
	struct stat st;
};

static struct {
	struct entry *v;
	size_t n, cap;
} list;

static struct entry *entry_add(void)
{
	if (list.n == list.cap) {
		size_t cap = list.cap ? list.cap * 2 : 64;
		struct entry *v = realloc(list.v, cap * sizeof(*v));
		if (!v)
			fail("memory", ENOMEM);
		list.v = v;
		list.cap = cap;
	}
	memset(&list.v[list.n], 0, sizeof(list.v[0]));
	return &list.v[list.n++];
}

/* Whether ustar's fields hold @st's numbers: owners below 8^7, sizes and times in 11
 * octal digits. */
static bool fits_ustar(const struct stat *st)
{
	return st->st_uid < 07777777 && st->st_gid < 07777777 && st->st_size >= 0 &&
	       (uint64_t)st->st_size <= 077777777777ull && st->st_mtim.tv_sec >= 0 &&
	       (uint64_t)st->st_mtim.tv_sec <= 077777777777ull;
}

/* Lists the tree under @dfd (named @prefix, "./..."/) into list: false when it holds
 * something sbx-tar does not archive. */
static bool collect(int dfd, const char *prefix, dev_t dev, int depth)
{
	DIR *d;
	bool ok = true;

	if (depth > MAX_DEPTH)
		return false;
	int fd = dup(dfd);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	for (;;) {
		errno = 0;
		struct dirent *e = ok ? readdir(d) : NULL;
		if (!e) {
			ok = ok && errno == 0; /* a failed read is not the end */
			break;
		}
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		struct entry *en = entry_add();
		bool dir;
		if (list.n > MAX_ENTRIES ||
		    fstatat(dfd, e->d_name, &en->st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !fits_ustar(&en->st) || en->st.st_dev != dev ||
		    (!S_ISDIR(en->st.st_mode) && en->st.st_nlink != 1)) {
			/* Another file system's entry (--one-file-system), a hard link
			 * (--check-links): GNU tar's. */
			ok = false;
			break;
		}
		dir = S_ISDIR(en->st.st_mode);
		if ((size_t)snprintf(en->name, sizeof(en->name), "%s%s%s", prefix, e->d_name,
				     dir ? "/" : "") >= sizeof(en->name)) {
			ok = false;
			break;
		}
		if (dir) {
			int sub = openat(dfd, e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			char name[NAME_MAX_TAR + 1];
			snprintf(name, sizeof(name), "%s", en->name);
			ok = sub >= 0 && collect(sub, name, dev, depth + 1);
			if (sub >= 0)
				close(sub);
		} else if (S_ISLNK(en->st.st_mode)) {
			ssize_t n = readlinkat(dfd, e->d_name, en->link, sizeof(en->link));
			ok = n > 0 && (size_t)n < sizeof(en->link);
			if (ok)
				en->link[n] = '\0';
		} else {
			/* Sparse files (fewer blocks than bytes) are GNU tar's: --sparse. */
			ok = S_ISREG(en->st.st_mode) &&
			     (uint64_t)en->st.st_blocks * 512 >= (uint64_t)en->st.st_size;
		}
	}
	closedir(d);
	return ok;
}

static void octal(char *field, size_t width, uint64_t v)
{
	/* width - 1 digits and a NUL */
	char tmp[24];
	snprintf(tmp, sizeof(tmp), "%0*" PRIo64, (int)(width - 1), v);
	memcpy(field, tmp, width);
}

static void header(const struct entry *en)
{
	uint8_t h[BLOCK] = { 0 };
	char *p = (char *)h;
	char type = S_ISDIR(en->st.st_mode) ? '5' : S_ISLNK(en->st.st_mode) ? '2' : '0';
	uint64_t size = type == '0' ? (uint64_t)en->st.st_size : 0;
	unsigned sum = 0;

	memcpy(p, en->name, strlen(en->name));
	octal(p + 100, 8, en->st.st_mode & 07777);
	octal(p + 108, 8, en->st.st_uid);
	octal(p + 116, 8, en->st.st_gid);
	octal(p + 124, 12, size);
	octal(p + 136, 12, (uint64_t)en->st.st_mtim.tv_sec);
	memset(p + 148, ' ', 8);
	p[156] = type;
	memcpy(p + 157, en->link, strlen(en->link));
	memcpy(p + 257, "ustar", 6);
	memcpy(p + 263, "00", 2);
	for (int i = 0; i < BLOCK; i++)
		sum += h[i];
	snprintf(p + 148, 8, "%06o", sum);
	p[155] = ' ';
	gz_put(h, BLOCK);
}

static int do_create(char **argv)
{
	static const uint8_t zero[BLOCK];
	struct stat root;
	uint64_t written = 0;

	/* A description of its own: fd 0's directory offset stays where GNU tar expects. */
	int rootfd = openat(0, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || fstat(rootfd, &root) < 0 || !fits_ustar(&root))
		hand_over(argv);
	struct entry *top = entry_add();
	top->st = root;
	snprintf(top->name, sizeof(top->name), "./");
	if (!collect(rootfd, "./", root.st_dev, 0))
		hand_over(argv);

	crc_init();
	gz_begin();
	for (size_t i = 0; i < list.n; i++) {
		const struct entry *en = &list.v[i];
		header(en);
		written += BLOCK;
		if (!S_ISREG(en->st.st_mode))
			continue;
		/* Beneath the archived directory, through no symlink: the tree is frozen,
		 * but not trusted. */
		struct open_how how = {
			.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
				   RESOLVE_NO_XDEV,
		};
		int fd = (int)syscall(SYS_openat2, rootfd, en->name + 2, &how, sizeof(how));
		struct stat st;
		if (fd < 0)
			fail(en->name, errno);
		if (fstat(fd, &st) < 0 || st.st_ino != en->st.st_ino ||
		    st.st_size != en->st.st_size)
			fail(en->name, ESTALE);
		uint8_t buf[65536];
		uint64_t left = (uint64_t)st.st_size;
		while (left) {
			ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				fail(en->name, n < 0 ? errno : ESTALE);
			gz_put(buf, (size_t)n);
			left -= (uint64_t)n;
		}
		close(fd);
		size_t pad = (size_t)((BLOCK - st.st_size % BLOCK) % BLOCK);
		gz_put(zero, pad);
		written += (uint64_t)st.st_size + pad;
	}
	/* The end: two zero blocks, then zeros to a whole record of 20 blocks, as tar. */
	gz_put(zero, BLOCK);
	gz_put(zero, BLOCK);
	written += 2 * BLOCK;
	while (written % (20 * BLOCK)) {
		gz_put(zero, BLOCK);
		written += BLOCK;
	}
	gz_end();
	return 0;
}

/* ---- extract ---- */

struct item {
	const char *name; /* without the leading "./"; "" for the top */
	char type;
	const uint8_t *data;
	uint64_t size, mtime;
	unsigned mode, uid, gid;
	char link[NAME_MAX_TAR + 1];
};

/* Reads an octal field of @width bytes (digits, then NUL or spaces): -1 if malformed. */
static int64_t parse_octal(const uint8_t *f, size_t width)
{
	size_t i = 0;
	int64_t v = 0;
	bool any = false;

	while (i < width && f[i] == ' ')
		i++;
	for (; i < width && f[i] >= '0' && f[i] <= '7'; i++, any = true) {
		if (v > (INT64_MAX >> 3))
			return -1;
		v = v * 8 + (f[i] - '0');
	}
	for (; i < width; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return -1;
	return any ? v : -1;
}

/* Whether @name ("./a/b", "./a/", "./") is beneath the top: no "..", no empty or "."
 * component after the leading "./". */
static bool name_safe(const char *name, size_t len)
{
	if (len < 2 || name[0] != '.' || name[1] != '/')
		return false;
	const char *p = name + 2, *end = name + len;
	if (p < end && end[-1] == '/')
		end--;
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n + (slash ? 1 : 0);
	}
	return true;
}

/* The gzip stream of stored blocks in @img into a new buffer: NULL when it is anything
 * else (deflated, extra fields, trailing bytes) or damaged. */
static uint8_t *gunzip_stored(const uint8_t *img, size_t n, size_t *ret_len)
{
	size_t at = 10, len = 0;
	uint8_t *out;

	if (n < 18 || img[0] != 0x1f || img[1] != 0x8b || img[2] != 8 || img[3] != 0)
		return NULL;
	out = malloc(n); /* stored data is never larger than its stream */
	if (!out)
		fail("memory", ENOMEM);
	for (bool final = false; !final;) {
		if (at + 5 > n || (img[at] & ~1u))
			goto bad;
		final = img[at] & 1;
		size_t l = img[at + 1] | (size_t)img[at + 2] << 8;
		size_t nl = img[at + 3] | (size_t)img[at + 4] << 8;
		at += 5;
		if ((l ^ nl) != 0xffff || l > n - at)
			goto bad;
		memcpy(out + len, img + at, l);
		len += l;
		at += l;
	}
	if (at + 8 != n)
		goto bad;
	uint32_t crc = 0, isize = 0;
	for (int i = 3; i >= 0; i--) {
		crc = crc << 8 | img[at + i];
		isize = isize << 8 | img[at + 4 + i];
	}
	crc_init();
	if (crc != crc_update(0, out, len) || isize != (uint32_t)len)
		goto bad;
	*ret_len = len;
	return out;
bad:
	free(out);
	return NULL;
}

/* Parses the tar in @t into @items: false when it holds anything sbx-tar does not
 * unpack. */
static bool parse_tar(const uint8_t *t, size_t len, struct item **ret, size_t *ret_n)
{
	static const uint8_t zero[BLOCK];
	struct item *v = NULL;
	size_t n = 0, cap = 0, at = 0;
	bool ok = false;

	while (at + BLOCK <= len) {
		const uint8_t *h = t + at;
		if (!memcmp(h, zero, BLOCK)) {
			ok = n > 0;
			break;
		}
		unsigned sum = 0;
		for (int i = 0; i < BLOCK; i++)
			sum += i >= 148 && i < 156 ? ' ' : h[i];
		int64_t hsum = parse_octal(h + 148, 8), mode = parse_octal(h + 100, 8),
			uid = parse_octal(h + 108, 8), gid = parse_octal(h + 116, 8),
			size = parse_octal(h + 124, 12), mtime = parse_octal(h + 136, 12);
		char type = (char)(h[156] ? h[156] : '0');
		size_t nlen = strnlen((const char *)h, 100);
		size_t llen = strnlen((const char *)h + 157, 100);
		/* ustar (POSIX "ustar\0" "00", or GNU's "ustar  \0"), no owner names (numeric,
		 * as CRIU archives), no prefix: the name is whole in its field. */
		if (hsum != (int64_t)sum || mode < 0 || mode > 07777 || uid < 0 || gid < 0 ||
		    size < 0 || mtime < 0 || memcmp(h + 257, "ustar", 5) || h[265] || h[297] ||
		    h[345] || nlen == 100 || llen == 100 || !name_safe((const char *)h, nlen) ||
		    (type != '0' && type != '5' && type != '2') || (type != '0' && size != 0) ||
		    (type == '2') != (llen > 0) || (uint64_t)size > len - at - BLOCK)
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			struct item *nv = cap > MAX_ENTRIES ? NULL : realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		struct item *it = &v[n++];
		/* A directory is "./d/" and the top "./": the name without "./" and "/". */
		if ((type == '5') != (h[nlen - 1] == '/')) {
			n--;
			break;
		}
		char *name = strndup((const char *)h + 2, nlen - 2);
		if (!name)
			fail("memory", ENOMEM);
		if (name[0] && name[strlen(name) - 1] == '/')
			name[strlen(name) - 1] = '\0';
		it->name = name;
		it->type = type;
		it->data = h + BLOCK;
		it->size = (uint64_t)size;
		it->mtime = (uint64_t)mtime;
		it->mode = (unsigned)mode;
		it->uid = (unsigned)uid;
		it->gid = (unsigned)gid;
		memcpy(it->link, h + 157, llen);
		it->link[llen] = '\0';
		at += BLOCK + (((uint64_t)size + BLOCK - 1) / BLOCK) * BLOCK;
	}
	if (!ok) {
		for (size_t i = 0; i < n; i++)
			free((char *)v[i].name);
		free(v);
		return false;
	}
	*ret = v;
	*ret_n = n;
	return true;
}

/* @path's directory beneath @top, through no symlink ("" is @top itself). */
static int open_beneath(int top, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			   RESOLVE_NO_XDEV,
	};
	return (int)syscall(SYS_openat2, top, path[0] ? path : ".", &how, sizeof(how));
}

/* The directory @it goes in (opened beneath @top) and its last component. */
static int parent_of(int top, const struct item *it, const char **ret_base)
{
	char dir[NAME_MAX_TAR + 1];
	const char *slash = strrchr(it->name, '/');

	*ret_base = slash ? slash + 1 : it->name;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - it->name) : 0, it->name);
	int fd = open_beneath(top, dir, O_PATH | O_DIRECTORY);
	if (fd < 0)
		fail(it->name, errno);
	return fd;
}

static void extract_one(int top, const struct item *it)
{
	const char *base;
	struct timespec ts[2] = { { .tv_nsec = UTIME_NOW }, { .tv_sec = (time_t)it->mtime } };

	if (it->type == '5' && !it->name[0])
		return; /* the top: its owner, mode and time at the end */
	int pfd = parent_of(top, it, &base);
	if (it->type == '5') {
		struct stat st;
		if (mkdirat(pfd, base, 0700) < 0 &&
		    (errno != EEXIST || fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		     !S_ISDIR(st.st_mode)))
			fail(it->name, errno ? errno : EEXIST);
	} else if (it->type == '2') {
		/* An earlier entry of the same name is replaced, as tar replaces it. */
		if (symlinkat(it->link, pfd, base) < 0 &&
		    (errno != EEXIST || unlinkat(pfd, base, 0) < 0 ||
		     symlinkat(it->link, pfd, base) < 0))
			fail(it->name, errno);
		if (fchownat(pfd, base, it->uid, it->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
		    utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			fail(it->name, errno);
	} else {
		int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
		int fd = openat(pfd, base, flags, 0600);
		if (fd < 0 && errno == EEXIST && unlinkat(pfd, base, 0) == 0)
			fd = openat(pfd, base, flags, 0600);
		if (fd < 0)
			fail(it->name, errno);
		int r = write_all(fd, it->data, it->size);
		/* chown before chmod: chown clears set-id bits. */
		if (r < 0 || fchown(fd, it->uid, it->gid) < 0 || fchmod(fd, it->mode) < 0 ||
		    futimens(fd, ts) < 0)
			fail(it->name, r < 0 ? -r : errno);
		close(fd);
	}
	close(pfd);
}

/* A directory's owner, mode and time, once what it holds is in place. */
static void finish_dir(int top, const struct item *it)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_NOW }, { .tv_sec = (time_t)it->mtime } };
	int fd = open_beneath(top, it->name, O_RDONLY | O_DIRECTORY);

	if (fd < 0 || fchown(fd, it->uid, it->gid) < 0 || fchmod(fd, it->mode) < 0 ||
	    futimens(fd, ts) < 0)
		fail(it->name[0] ? it->name : ".", errno);
	close(fd);
}

static int do_extract(char **argv, const char *dir)
{
	struct stat st;
	struct item *items;
	size_t n, len;

	/* Restores run as root: anything else is GNU tar's (it would keep the owner). */
	/* Unpacked from memory (the image mapped, the tar in a buffer): a large one goes to
	 * GNU tar, which streams, so a restore does not hold its tmpfs twice against the
	 * sandbox's memory limit. */
	if (geteuid() != 0 || fstat(0, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 18 ||
	    st.st_size > MAX_IN_MEMORY)
		hand_over(argv);
	void *img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, 0, 0);
	if (img == MAP_FAILED)
		hand_over(argv);
	uint8_t *t = gunzip_stored(img, (size_t)st.st_size, &len);
	munmap(img, (size_t)st.st_size);
	if (!t || !parse_tar(t, len, &items, &n))
		hand_over(argv); /* stdin untouched: mmap reads no offset */

	int top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0)
		fail(dir, errno);
	for (size_t i = 0; i < n; i++)
		extract_one(top, &items[i]);
	for (size_t i = n; i-- > 0;)
		if (items[i].type == '5')
			finish_dir(top, &items[i]);
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const create[] = {
		"--create",	     "--gzip",	      "--no-unquote",		"--no-wildcards",
		"--one-file-system", "--check-links", "--preserve-permissions", "--sparse",
		"--numeric-owner",   "--directory",   "/proc/self/fd/0",	"."
	};
	static const char *const extract[] = { "--extract", "--gzip", "--no-unquote",
					       "--no-wildcards", "--directory" };
	const size_t nc = sizeof(create) / sizeof(create[0]);
	const size_t ne = sizeof(extract) / sizeof(extract[0]);
	bool is_create = (size_t)argc == nc + 1, is_extract = (size_t)argc == ne + 2;

	for (size_t i = 0; is_create && i < nc; i++)
		is_create = !strcmp(argv[i + 1], create[i]);
	for (size_t i = 0; is_extract && i < ne; i++)
		is_extract = !strcmp(argv[i + 1], extract[i]);
	if (is_create)
		return do_create(argv);
	if (is_extract)
		return do_extract(argv, argv[argc - 1]);
	hand_over(argv);
}
