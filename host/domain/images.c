// SPDX-License-Identifier: MIT
/* The image store (images.h): names in SQLite and in memory (the loop's), manifests and
 * layers as files. An import streams its body into tmp/, then a worker unpacks the outer
 * archive (unpack.c, as plain files), checks each layer's digest, applies the layers it
 * does not have yet (each into a directory of its own, renamed into layers/ when whole)
 * and writes the manifest; the loop names it at the end. Anything that fails leaves
 * nothing but tmp/, which is emptied. */
#define _GNU_SOURCE
#include "images.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <poll.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../sandbox/image.h"
#include "../../sandbox/macro.h"
#include "../../sandbox/rootfs.h"
#include "../../sandbox/text.h"
#include "../sys/recorder.h"
#include "../sys/store.h"
#include "../sys/tree.h"
#include "../sys/unpack.h"
#include "domain.h"

#define MAX_JOBS 2 /* of the loop's slow workers, which checkpoints share */
#define MAX_JOBS_PER_TENANT 1
#define JOB_KEEP_NS 3600000000000LL /* finished jobs stay readable this long */
#define MAX_ENTRIES 2000000
#define MAX_META (4u << 20)  /* the most a manifest, index or config may be */
#define UPLOAD_IDLE_MS 30000 /* an upload quiet this long is dropped */

extern char **environ;

struct img_rec {
	struct img_rec *next;
	char *tenant; /* "" public */
	char *name, *source;
	char id[IMAGE_ID_LEN + 1];
	uint64_t size;
	int64_t created_ns;
};

/* A slim image's recorded paths, sorted. */
struct slim_set {
	char **paths;
	size_t n;
};

enum job_state {
	JOB_RECEIVING,
	JOB_UNPACKING,
	JOB_BUILDING,
	JOB_DONE,
	JOB_FAILED
};

struct job {
	struct job *next;
	char id[16];
	char *tenant, *owner, *name, *recipe;
	char *source;			/* a build's: "recipe:HASH" of what it was built from */
	struct slim_set *slim;		/* a slim image's: the recorded paths */
	char from_id[IMAGE_ID_LEN + 1]; /* ... and the image they are taken from */
	const char *kind;
	bool keep_setuid;
	int64_t created_ns, ended_ns;
	/* Written by its worker, read by the loop: atomics, and @step/@error under mu. */
	int state, err;
	uint64_t received, total, unpacked;
	uint64_t unpack_base, entries; /* the worker's: layers' bytes and all entries so far */
	unsigned layers_done, layers_total;
	char step[96], error[256];
	/* The worker's. */
	int in_fd;
	char dir[PATH_MAX];
	struct reply *rp;
	struct work w;
	char img_id[IMAGE_ID_LEN + 1];
	uint64_t size;
};

static struct {
	char dir[2048];
	char skeleton[IMAGE_ID_LEN + 1]; /* the layer every import gets on top */
	json_t *manifests;		 /* id -> parsed manifest (manifest_get) */
	char secret[IMAGE_ID_LEN + 1];	 /* salts the ids of layers unpacked with setuid bits */
	struct img_rec *recs;
	/* Built-in images (sbxd --images) not taken in yet: on their first use. */
	struct pending {
		struct pending *next;
		char *name, *dir;
	} * pending;
	struct job *jobs;
	pthread_mutex_t mu;
	bool collecting;
} S = { .mu = PTHREAD_MUTEX_INITIALIZER };

const char *images_store_dir(void)
{
	return S.dir;
}

const char *images_owner(const char *tenant)
{
	return tenant ? tenant : ADMIN_TENANT;
}

bool images_name_valid(const char *n)
{
	size_t len = n ? strlen(n) : 0;
	return len > 0 && len <= 128 && n[0] != '.' && n[0] != '-' &&
	       strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

static void hex(const unsigned char *md, unsigned len, char out[IMAGE_ID_LEN + 1])
{
	for (unsigned i = 0; i < 32 && i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int sha256_fd(int fd, char out[IMAGE_ID_LEN + 1])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[1 << 16], d[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	ssize_t n;

	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		return -ENOMEM;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(md, buf, (size_t)n);
	EVP_DigestFinal_ex(md, d, &len);
	EVP_MD_CTX_free(md);
	if (n < 0)
		return -errno;
	hex(d, len, out);
	return lseek(fd, 0, SEEK_SET) < 0 ? -errno : 0;
}

static int open_in(int root, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	return fd < 0 ? -errno : fd;
}

/* A JSON file of the outer archive, read inside its directory. */
static json_t *load_in(int root, const char *path, char *err, size_t errlen)
{
	_cleanup_close_ int fd = open_in(root, path, O_RDONLY | O_NONBLOCK);
	struct stat st;
	json_error_t jerr;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_META) {
		snprintf(err, errlen, "%s: missing, not a file, or larger than %u bytes", path,
			 MAX_META);
		return NULL;
	}
	json_t *j = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		snprintf(err, errlen, "%s: invalid JSON: %s", path, jerr.text);
	return j;
}

/* Records */

static struct img_rec *rec_find(const char *owner, const char *name)
{
	for (struct img_rec *r = S.recs; r; r = r->next)
		if (!strcmp(r->tenant, owner) && !strcmp(r->name, name))
			return r;
	return NULL;
}

static void builtins_settle(const char *name);

/* What @tenant sees by @name: its own, else a public one. */
static struct img_rec *rec_visible(const char *tenant, const char *name)
{
	struct img_rec *r = rec_find(images_owner(tenant), name);
	if (r)
		return r;
	builtins_settle(name);
	return rec_find("", name);
}

static void rec_free(struct img_rec *r)
{
	if (!r)
		return;
	free(r->tenant);
	free(r->name);
	free(r->source);
	free(r);
}

static int rec_store(const struct img_rec *r)
{
	sqlite3 *db = store_db(D.store);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
				    "INSERT OR REPLACE INTO images(tenant, name, id, size_bytes, "
				    "created_ns, source) VALUES(?,?,?,?,?,?)",
				    -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, r->tenant, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, r->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)r->size);
		sqlite3_bind_int64(st, 5, r->created_ns);
		sqlite3_bind_text(st, 6, r->source ? r->source : "", -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : store_errno(db);
}

/* Names @id (a manifest in the store) as @owner's @name, replacing what it named. */
static int rec_put(const char *owner, const char *name, const char *id, uint64_t size,
		   const char *source)
{
	struct img_rec *r = calloc(1, sizeof(*r));
	if (!r || !(r->tenant = strdup(owner)) || !(r->name = strdup(name)) ||
	    !(r->source = strdup(source ? source : ""))) {
		rec_free(r);
		return -ENOMEM;
	}
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->size = size;
	r->created_ns = real_ns();
	int e = rec_store(r);
	if (e < 0) {
		rec_free(r);
		return e;
	}
	for (struct img_rec **p = &S.recs; *p; p = &(*p)->next)
		if (!strcmp((*p)->tenant, owner) && !strcmp((*p)->name, name)) {
			struct img_rec *old = *p;
			*p = old->next;
			rec_free(old);
			break;
		}
	r->next = S.recs;
	S.recs = r;
	return 0;
}

static int recs_load(void)
{
	sqlite3 *db = store_db(D.store);
	sqlite3_stmt *st = NULL;

	if (sqlite3_exec(db,
			 "CREATE TABLE IF NOT EXISTS images("
			 " tenant TEXT NOT NULL, name TEXT NOT NULL, id TEXT NOT NULL,"
			 " size_bytes INTEGER NOT NULL, created_ns INTEGER NOT NULL,"
			 " source TEXT NOT NULL, PRIMARY KEY(tenant, name))",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
		    db, "SELECT tenant, name, id, size_bytes, created_ns, source FROM images", -1,
		    &st, NULL) != SQLITE_OK)
		return store_errno(db);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct img_rec *r = calloc(1, sizeof(*r));
		const char *id = (const char *)sqlite3_column_text(st, 2);
		if (!r || !image_id_valid(id)) {
			free(r);
			continue;
		}
		r->tenant = strdup((const char *)sqlite3_column_text(st, 0));
		r->name = strdup((const char *)sqlite3_column_text(st, 1));
		r->source = strdup((const char *)sqlite3_column_text(st, 5));
		snprintf(r->id, sizeof(r->id), "%s", id);
		r->size = (uint64_t)sqlite3_column_int64(st, 3);
		r->created_ns = sqlite3_column_int64(st, 4);
		if (!r->tenant || !r->name || !r->source) {
			rec_free(r);
			continue;
		}
		r->next = S.recs;
		S.recs = r;
	}
	sqlite3_finalize(st);
	return 0;
}

static int rec_unstore(const struct img_rec *r)
{
	sqlite3 *db = store_db(D.store);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "DELETE FROM images WHERE tenant = ? AND name = ?", -1, &st,
				    NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, r->tenant, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r->name, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : store_errno(db);
}

/* Manifests and layers */

/* Writes @m as a manifest (its id in @id): the file is named by its content's hash. */
static int manifest_write(json_t *m, char id[IMAGE_ID_LEN + 1])
{
	char *text = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	char path[PATH_MAX + 100], tmp[PATH_MAX + 120];
	int r = 0;

	if (!text)
		return -ENOMEM;
	(void)store_sha256_hex(text, strlen(text), id);
	snprintf(path, sizeof(path), "%s/manifests/%s.json", S.dir, id);
	snprintf(tmp, sizeof(tmp), "%s/tmp/manifest-%s.%d", S.dir, id, (int)gettid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		r = -errno;
	else {
		size_t len = strlen(text);
		if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
			r = errno ? -errno : -EIO;
		close(fd);
		if (r == 0 && rename(tmp, path) < 0)
			r = -errno;
		if (r < 0)
			unlink(tmp);
	}
	free(text);
	return r;
}

/* Manifest @id, parsed once: a manifest never changes, and launches, listings and
 * collections read them (the loop's; workers read their files). Borrowed, or NULL. */
static json_t *manifest_get(const char *id)
{
	json_t *m = json_object_get(S.manifests, id);
	char path[PATH_MAX + 100];

	if (m || !image_id_valid(id))
		return m;
	snprintf(path, sizeof(path), "%s/manifests/%s.json", S.dir, id);
	m = json_load_file(path, 0, NULL);
	if (json_is_object(m) && !json_object_set_new(S.manifests, id, m))
		return m;
	json_decref(m);
	return NULL;
}

/* The layers of manifest @id (bottom first), as a JSON array, or NULL. */
static json_t *manifest_layers(const char *id)
{
	return json_incref(json_object_get(manifest_get(id), "layers"));
}

static uint64_t layers_size(json_t *layers)
{
	uint64_t total = 0;
	json_t *v;
	size_t i;

	json_array_foreach (layers, i, v) {
		char path[PATH_MAX + 80];
		uint64_t bytes = 0, entries = 0;
		snprintf(path, sizeof(path), "%s/layers/%s", S.dir, json_string_value(v));
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0 && tree_usage(fd, &bytes, &entries) == 0)
			total += bytes;
		if (fd >= 0)
			close(fd);
	}
	return total;
}

/* Moves the finished tree @from (in tmp/) to layers/@id; one already there (the same
 * content) is kept and @from removed. */
static int layer_commit(const char *from, const char *id)
{
	char to[PATH_MAX + 80];
	snprintf(to, sizeof(to), "%s/layers/%s", S.dir, id);
	if (rename(from, to) == 0)
		return 0;
	if (errno != EEXIST && errno != ENOTEMPTY)
		return -errno;
	return tree_remove_at(AT_FDCWD, from);
}

/* Whether layer @id is stored; if so, its change time is made now, so that a collection
 * while the job that found it runs spares it (images_collect). 0 or -ENOENT. */
static int layer_touch(const char *id)
{
	char path[PATH_MAX + 80];
	struct stat st;
	snprintf(path, sizeof(path), "%s/layers/%s", S.dir, id);
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return -ENOENT;
	(void)utimensat(AT_FDCWD, path, NULL, 0);
	return 0;
}

/* The same for a manifest and its layers (a slim job's source). */
static void manifest_touch(const char *id)
{
	char path[PATH_MAX + 100];
	snprintf(path, sizeof(path), "%s/manifests/%s.json", S.dir, id);
	(void)utimensat(AT_FDCWD, path, NULL, 0);
	json_t *layers = manifest_layers(id), *l;
	size_t i;
	json_array_foreach (layers, i, l)
		if (json_is_string(l))
			(void)layer_touch(json_string_value(l));
	json_decref(layers);
}

/* The store's secret: 32 random bytes, made once, in hex. */
static int secret_load(void)
{
	char path[PATH_MAX + 16];
	unsigned char rnd[32];
	snprintf(path, sizeof(path), "%s/secret", S.dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		ssize_t n = read(fd, S.secret, IMAGE_ID_LEN);
		close(fd);
		S.secret[n > 0 ? n : 0] = '\0';
		if (image_id_valid(S.secret))
			return 0;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -EIO;
	hex(rnd, sizeof(rnd), S.secret);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	ssize_t w = write(fd, S.secret, IMAGE_ID_LEN);
	close(fd);
	return w == IMAGE_ID_LEN ? 0 : -EIO;
}

/* Built-in images */

/* Takes in the built image directory @dir (manifest.json + rootfs) as a public image, unless
 * the same build is there already. */
static int builtin_take(const char *name, const char *dir)
{
	char mpath[PATH_MAX + 160], rpath[PATH_MAX + 160], source[128], tmp[PATH_MAX + 64],
		digest[65];
	char id[IMAGE_ID_LEN + 1];
	struct stat st;
	uint64_t bytes;

	snprintf(mpath, sizeof(mpath), "%s/manifest.json", dir);
	snprintf(rpath, sizeof(rpath), "%s/rootfs", dir);
	if (stat(mpath, &st) < 0)
		return 0;
	snprintf(source, sizeof(source), "build:%" PRIu64 ":%" PRIu64 ":%" PRId64 ".%09ld",
		 (uint64_t)st.st_dev, (uint64_t)st.st_ino, (int64_t)st.st_mtim.tv_sec,
		 st.st_mtim.tv_nsec);
	struct img_rec *have = rec_find("", name);
	if (have && have->source && !strcmp(have->source, source))
		return 0;
	json_t *m = json_load_file(mpath, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(m)) {
		json_decref(m);
		return -EINVAL;
	}
	snprintf(tmp, sizeof(tmp), "%s/tmp/builtin-%s", S.dir, name);
	(void)tree_remove_at(AT_FDCWD, tmp);
	int r = mkdir(tmp, 0755) < 0 ? -errno : 0;
	_cleanup_close_ int src = open(rpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int dst = r == 0 ? open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (r == 0 && (src < 0 || dst < 0))
		r = -errno;
	if (r == 0)
		r = tree_copy(src, dst, TREE_LINKS, NULL, NULL, digest, &bytes);
	if (r == 0)
		r = layer_commit(tmp, digest);
	if (r == 0) {
		json_object_del(m, "rootfs");
		json_object_set_new(m, "name", json_string(name));
		json_object_set_new(m, "layers", json_pack("[s]", digest));
		r = manifest_write(m, id);
	}
	json_t *layers = json_pack("[s]", digest);
	if (r == 0)
		r = rec_put("", name, id, layers_size(layers), source);
	json_decref(layers);
	json_decref(m);
	if (r < 0)
		(void)tree_remove_at(AT_FDCWD, tmp);
	return r;
}

/* The mount points a sandbox needs (/dev, /proc, /tmp) and the /etc files sbxd provides
 * (hosts; resolv.conf, which a sandbox with a network gets bound over), as the top layer
 * of every imported image: archives often lack them. */
static int skeleton_make(void)
{
	static const char hosts[] = "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost "
				    "ip6-loopback\n";
	char tmp[PATH_MAX], path[PATH_MAX + 32];
	int r = 0;

	snprintf(tmp, sizeof(tmp), "%s/tmp/skeleton", S.dir);
	(void)tree_remove_at(AT_FDCWD, tmp);
	static const char *const dirs[] = { "", "/dev", "/proc", "/tmp", "/etc" };
	for (size_t i = 0; i < ARRAY_SIZE(dirs) && r == 0; i++) {
		snprintf(path, sizeof(path), "%s%s", tmp, dirs[i]);
		if (mkdir(path, 0755) < 0 || chmod(path, i == 3 ? 01777 : 0755) < 0)
			r = -errno;
	}
	static const char *const files[][2] = { { "/etc/hosts", hosts },
						{ "/etc/resolv.conf", "" } };
	for (size_t i = 0; i < ARRAY_SIZE(files) && r == 0; i++) {
		snprintf(path, sizeof(path), "%s%s", tmp, files[i][0]);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		size_t len = strlen(files[i][1]);
		if (fd < 0 || write(fd, files[i][1], len) != (ssize_t)len)
			r = -errno;
		if (fd >= 0)
			close(fd);
	}
	/* Its id is its content's hash, made by copying it once. */
	char copy[PATH_MAX + 16];
	snprintf(copy, sizeof(copy), "%s.copy", tmp);
	(void)tree_remove_at(AT_FDCWD, copy);
	if (r == 0 && mkdir(copy, 0755) < 0)
		r = -errno;
	if (r == 0) {
		_cleanup_close_ int src = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		_cleanup_close_ int dst = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = src < 0 || dst < 0
			    ? -errno
			    : tree_copy(src, dst, TREE_BYTES, NULL, NULL, S.skeleton, NULL);
	}
	if (r == 0)
		r = layer_commit(copy, S.skeleton);
	(void)tree_remove_at(AT_FDCWD, tmp);
	return r;
}

int images_init(void)
{
	static const char *const subs[] = { "layers", "manifests", "tmp" };
	char path[PATH_MAX + 32];
	int r;

	if ((size_t)snprintf(S.dir, sizeof(S.dir), "%s/images", D.opt.state_dir) >= sizeof(S.dir))
		return -ENAMETOOLONG;
	if (!S.manifests && !(S.manifests = json_object()))
		return -ENOMEM;
	if (mkdir(S.dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/tmp", S.dir);
	(void)tree_remove_at(AT_FDCWD, path); /* what a stopped sbxd left half done */
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		snprintf(path, sizeof(path), "%s/%s", S.dir, subs[i]);
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
	}
	if ((r = recs_load()) < 0 || (r = skeleton_make()) < 0 || (r = secret_load()) < 0)
		return r;
	DIR *d = opendir(D.opt.images_dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		struct pending *p = calloc(1, sizeof(*p));
		if (!images_name_valid(e->d_name) || !p ||
		    asprintf(&p->dir, "%s/%s", D.opt.images_dir, e->d_name) < 0 ||
		    !(p->name = strdup(e->d_name))) {
			if (p)
				free(p->dir);
			free(p);
			continue;
		}
		p->next = S.pending;
		S.pending = p;
	}
	if (d)
		closedir(d);
	return 0;
}

/* The built-in image @name (all of them: NULL) taken in, where it is waiting. */
static void builtins_settle(const char *name)
{
	for (struct pending **pp = &S.pending; *pp;) {
		struct pending *p = *pp;
		if (name && strcmp(p->name, name)) {
			pp = &p->next;
			continue;
		}
		int r = builtin_take(p->name, p->dir);
		if (r < 0)
			logmsg(1, "image %s: not taken into the store: %s", p->name, strerror(-r));
		*pp = p->next;
		free(p->name);
		free(p->dir);
		free(p);
	}
}

/* Opening, pinning */

/* The image's defaults where the request sets none: its command, workdir and user. */
static int apply_defaults(struct api_create *req, struct why *why)
{
	json_t *m = manifest_get(req->image_id);
	json_t *cmd = json_object_get(m, "cmd"), *v;
	const char *wd = json_string_value(json_object_get(m, "workdir"));
	const char *user = json_string_value(json_object_get(m, "user"));
	unsigned long u, g;
	size_t i;
	int r = 0;

	if (!m)
		return why_set(why, -EINVAL, "image %s: its manifest is gone", req->image);
	if (!req->cmd && json_array_size(cmd)) {
		req->cmd = calloc(json_array_size(cmd) + 1, sizeof(char *));
		json_array_foreach (cmd, i, v)
			if (req->cmd && !(req->cmd[i] = strdup(json_string_value(v) ?: "")))
				r = -ENOMEM;
		if (!req->cmd)
			r = -ENOMEM;
	}
	if (r == 0 && !req->workdir && wd && !(req->workdir = strdup(wd)))
		r = -ENOMEM;
	if (r == 0 && !req->set_user && user && sscanf(user, "%lu:%lu", &u, &g) == 2 &&
	    u <= 65534 && g <= 65534) {
		req->set_user = true;
		req->uid = (uid_t)u;
		req->gid = (gid_t)g;
	}
	return r < 0 ? why_set(why, r, "out of memory") : 0;
}

const char *images_pinned_id(const char *tenant, const char *name)
{
	const struct img_rec *r = rec_visible(tenant, name);
	return r ? r->id : NULL;
}

int images_pin(const char *tenant, struct api_create *req, json_t *spec, struct why *why)
{
	if (!req->image_id) {
		const char *name = req->image ? req->image : "base";
		struct img_rec *r = rec_visible(tenant, name);
		if (!r) {
			char safe[140];
			return why_set(why, -EINVAL, "image: no image %s (see GET /v1/images)",
				       text_printable(name, safe, sizeof(safe)));
		}
		if (!(req->image_id = strdup(r->id)))
			return why_set(why, -ENOMEM, "out of memory");
		if (spec)
			json_object_set_new(spec, "image_id", json_string(r->id));
	}
	return apply_defaults(req, why);
}

int images_open(const struct api_create *req, struct image **ret, char **ret_error)
{
	const char *name = req->image ? req->image : "base";
	if (req->image_id)
		return image_open_store(S.dir, req->image_id, name, ret, ret_error);
	return image_open(name, D.opt.images_dir, ret, ret_error);
}

/* Listing */

static json_t *rec_json(const struct img_rec *r)
{
	json_t *m = manifest_get(r->id);
	json_t *j =
		json_pack("{s:s,s:s,s:I,s:I,s:b,s:s}", "name", r->name, "id", r->id, "size_bytes",
			  (json_int_t)r->size, "created_ns", (json_int_t)r->created_ns, "public",
			  !r->tenant[0], "owner", r->tenant[0] ? r->tenant : "public");
	static const char *const keys[] = { "layers", "env", "cmd", "workdir", "user", "binds" };
	for (size_t i = 0; j && m && i < ARRAY_SIZE(keys); i++)
		if (json_object_get(m, keys[i]))
			json_object_set(j, keys[i], json_object_get(m, keys[i]));
	return j;
}

static int recipes_dir(char *out, size_t size);

/* The recipes of images/ that no public image of the same name holds yet. */
static json_t *recipes_unbuilt(void)
{
	char dir[2048], path[2400];
	json_t *a = json_array();
	struct dirent **list = NULL;
	struct stat st;

	if (!a || recipes_dir(dir, sizeof(dir)) < 0)
		return a;
	int n = scandir(dir, &list, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *r = list[i]->d_name;
		snprintf(path, sizeof(path), "%s/%s/recipe", dir, r);
		if (images_name_valid(r) && strcmp(r, "common") && stat(path, &st) == 0 &&
		    !rec_find("", r))
			json_array_append_new(a, json_string(r));
		free(list[i]);
	}
	free(list);
	return a;
}

json_t *images_list(const char *tenant)
{
	json_t *a = json_array();
	const char *own = images_owner(tenant);

	builtins_settle(NULL);
	for (struct img_rec *r = S.recs; r; r = r->next) {
		/* A public image another of this tenant's shadows is not listed. */
		if (strcmp(r->tenant, own) && (r->tenant[0] || rec_find(own, r->name)))
			continue;
		json_array_append_new(a, rec_json(r));
	}
	return json_pack("{s:o,s:o}", "images", a, "recipes", recipes_unbuilt());
}

int images_get(const char *tenant, const char *name, json_t **ret, struct why *why)
{
	struct img_rec *r = images_name_valid(name) ? rec_visible(tenant, name) : NULL;
	char safe[140];

	if (!r)
		return why_set(why, -ENOENT, "no image %s",
			       text_printable(name, safe, sizeof(safe)));
	*ret = rec_json(r);
	return *ret ? 0 : why_set(why, -ENOMEM, "out of memory");
}

/* Who runs or keeps image @id: sandboxes (not ended) and snapshots of @owner (NULL: of
 * anyone), named in @out. */
static unsigned users_of(const char *id, const char *owner, char *out, size_t size)
{
	unsigned n = 0;
	size_t len = 0;

	out[0] = '\0';
	for (struct box *b = D.boxes; b; b = b->next) {
		if (b->state >= BOX_EXITED || !b->req.image_id || strcmp(b->req.image_id, id) ||
		    (owner && strcmp(b->tenant, owner)))
			continue;
		if (n++ < 8 && len < size)
			len += (size_t)snprintf(out + len, size - len, "%ssandbox %s",
						len ? ", " : "", b->id);
	}
	for (struct snap *s = D.snaps; s; s = s->next) {
		const char *sid = json_string_value(
			json_object_get(json_object_get(s->meta, "spec"), "image_id"));
		if (s->deleting || !sid || strcmp(sid, id) || (owner && strcmp(s->tenant, owner)))
			continue;
		if (n++ < 8 && len < size)
			len += (size_t)snprintf(out + len, size - len, "%ssnapshot %s",
						len ? ", " : "", s->id);
	}
	if (n > 8 && len < size)
		snprintf(out + len, size - len, " and %u more", n - 8);
	return n;
}

int images_delete(const char *tenant, const char *name, struct why *why)
{
	struct img_rec *r = images_name_valid(name) ? rec_find(images_owner(tenant), name) : NULL;
	char safe[140], users[200];
	int e;

	if (!r && !tenant && images_name_valid(name)) {
		builtins_settle(name);
		r = rec_find("", name); /* the host's admins remove public ones too */
	}
	if (!r)
		return why_set(why, -ENOENT, "no image %s of yours",
			       text_printable(name, safe, sizeof(safe)));
	/* Its owner's users hold it (an image of the same id that others named stays
	 * theirs, and collection keeps what anyone runs); a public one: anyone's. */
	if (users_of(r->id, r->tenant[0] ? r->tenant : NULL, users, sizeof(users)))
		return why_set(why, -EBUSY, "image %s is in use by %s", r->name, users);
	if ((e = rec_unstore(r)) < 0)
		return why_set(why, e, "cannot remove image %s: %s", r->name, strerror(-e));
	for (struct img_rec **p = &S.recs; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	rec_free(r);
	images_collect();
	return 0;
}

/* Collection */

struct gc_work {
	struct work w;
	char dir[PATH_MAX];
};

static void gc_fn(struct work *w)
{
	struct gc_work *g = (struct gc_work *)w;
	(void)tree_remove_at(AT_FDCWD, g->dir);
}

static void gc_done(struct work *w)
{
	free(w);
	S.collecting = false;
}

static bool in_set(json_t *set, const char *key)
{
	return json_object_get(set, key) != NULL;
}

void images_collect(void)
{
	char path[PATH_MAX + 100], grave[PATH_MAX + 64], users[8];
	json_t *keep_m = json_object(), *keep_l = json_object();
	DIR *d;

	/* Layers and manifests that jobs under way made are in no name yet: anything
	 * changed since the oldest of them began stays. */
	int64_t spare_from = INT64_MAX;
	if (S.collecting || !keep_m || !keep_l)
		goto out;
	for (struct job *j = S.jobs; j; j = j->next)
		if (!j->ended_ns && j->created_ns < spare_from)
			spare_from = j->created_ns;
	for (struct img_rec *r = S.recs; r; r = r->next)
		json_object_set_new(keep_m, r->id, json_true());
	json_object_set_new(keep_l, S.skeleton, json_true());
	/* Ids no name holds any more, still run or kept. */
	snprintf(path, sizeof(path), "%s/manifests", S.dir);
	d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));) {
		char id[IMAGE_ID_LEN + 1];
		if (strlen(e->d_name) != IMAGE_ID_LEN + 5 ||
		    strcmp(e->d_name + IMAGE_ID_LEN, ".json"))
			continue;
		snprintf(id, sizeof(id), "%.*s", IMAGE_ID_LEN, e->d_name);
		if (!in_set(keep_m, id) && users_of(id, NULL, users, sizeof(users)))
			json_object_set_new(keep_m, id, json_true());
	}
	if (d)
		closedir(d);
	const char *k;
	json_t *v;
	json_object_foreach (keep_m, k, v) {
		json_t *layers = manifest_layers(k), *l;
		size_t i;
		json_array_foreach (layers, i, l)
			if (json_is_string(l))
				json_object_set_new(keep_l, json_string_value(l), json_true());
		json_decref(layers);
	}
	/* What goes is moved into one grave in tmp/ at once, and removed by a worker. */
	struct gc_work *g = calloc(1, sizeof(*g));
	if (!g)
		goto out;
	snprintf(g->dir, sizeof(g->dir), "%s/tmp/gc-%" PRIx64, S.dir, (uint64_t)real_ns());
	snprintf(grave, sizeof(grave), "%s", g->dir);
	unsigned gone = 0;
	static const char *const subs[] = { "manifests", "layers" };
	for (size_t s = 0; s < ARRAY_SIZE(subs); s++) {
		snprintf(path, sizeof(path), "%s/%s", S.dir, subs[s]);
		d = opendir(path);
		for (struct dirent *e; d && (e = readdir(d));) {
			char id[IMAGE_ID_LEN + 1];
			snprintf(id, sizeof(id), "%.*s", IMAGE_ID_LEN, e->d_name);
			struct stat st;
			if (e->d_name[0] == '.' || !image_id_valid(id) ||
			    in_set(s == 0 ? keep_m : keep_l, id) ||
			    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec >=
				    spare_from - 1000000000)
				continue;
			if (!gone++ && mkdir(grave, 0700) < 0)
				break;
			char from[PATH_MAX + 400], to[PATH_MAX + 400];
			snprintf(from, sizeof(from), "%s/%s", path, e->d_name);
			snprintf(to, sizeof(to), "%s/%s-%s", grave, subs[s], e->d_name);
			if (rename(from, to) < 0)
				logmsg(1, "image store: cannot collect %s: %s", from,
				       strerror(errno));
			else if (s == 0)
				json_object_del(S.manifests, id);
		}
		if (d)
			closedir(d);
	}
	if (!gone) {
		free(g);
		goto out;
	}
	g->w = (struct work){ .fn = gc_fn, .done = gc_done, .slow = true };
	S.collecting = true;
	loop_queue_work(&D.loop, &g->w);
out:
	json_decref(keep_m);
	json_decref(keep_l);
}

/* Jobs */

static void job_step(struct job *j, int state, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void job_step(struct job *j, int state, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&S.mu);
	va_start(ap, fmt);
	vsnprintf(j->step, sizeof(j->step), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&S.mu);
	__atomic_store_n(&j->state, state, __ATOMIC_RELEASE);
}

static int job_fail(struct job *j, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int job_fail(struct job *j, int r, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&S.mu);
	if (!j->error[0]) {
		text_printable(line, j->error, sizeof(j->error));
		j->err = r < 0 ? r : -EIO;
	}
	pthread_mutex_unlock(&S.mu);
	return r;
}

static json_t *job_json(struct job *j)
{
	static const char *const states[] = { "receiving", "unpacking", "building", "done",
					      "failed" };
	int st = __atomic_load_n(&j->state, __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&S.mu);
	json_t *o = json_pack(
		"{s:s,s:s,s:s,s:s,s:s,s:{s:I,s:I,s:I,s:i,s:i},s:I}", "id", j->id, "kind", j->kind,
		"name", j->name, "state", states[st], "step", j->step, "progress", "received_bytes",
		(json_int_t)__atomic_load_n(&j->received, __ATOMIC_RELAXED), "total_bytes",
		(json_int_t)j->total, "unpacked_bytes",
		(json_int_t)__atomic_load_n(&j->unpacked, __ATOMIC_RELAXED), "layers_done",
		(int)__atomic_load_n(&j->layers_done, __ATOMIC_RELAXED), "layers_total",
		(int)__atomic_load_n(&j->layers_total, __ATOMIC_RELAXED), "created_ns",
		(json_int_t)j->created_ns);
	if (o && st == JOB_FAILED)
		json_object_set_new(o, "error", json_string(j->error));
	pthread_mutex_unlock(&S.mu);
	if (o && st == JOB_DONE) {
		struct img_rec *r = rec_find(j->owner, j->name);
		if (r && !strcmp(r->id, j->img_id))
			json_object_set_new(o, "image", rec_json(r));
		else
			json_object_set_new(
				o, "image",
				json_pack("{s:s,s:s}", "name", j->name, "id", j->img_id));
	}
	return o;
}

static void job_free(struct job *j)
{
	if (j->in_fd >= 0)
		close(j->in_fd);
	if (j->dir[0])
		(void)tree_remove_at(AT_FDCWD, j->dir);
	free(j->tenant);
	free(j->owner);
	free(j->name);
	free(j->recipe);
	free(j->source);
	if (j->slim) {
		for (size_t i = 0; i < j->slim->n; i++)
			free(j->slim->paths[i]);
		free(j->slim->paths);
		free(j->slim);
	}
	free(j);
}

/* Finished jobs past their hour go. */
static void jobs_trim(void)
{
	int64_t now = real_ns();
	for (struct job **p = &S.jobs; *p;) {
		struct job *j = *p;
		/* ended_ns is the loop's: set once the worker's part is over too. */
		if (j->ended_ns && now - j->ended_ns > JOB_KEEP_NS) {
			*p = j->next;
			job_free(j);
		} else {
			p = &j->next;
		}
	}
}

static int job_new(const char *tenant, const char *name, const char *kind, bool public_,
		   struct job **ret, struct why *why)
{
	unsigned all = 0, mine = 0;
	unsigned char rnd[5];

	jobs_trim();
	for (struct job *j = S.jobs; j; j = j->next)
		if (!j->ended_ns) {
			all++;
			mine += !strcmp(j->tenant, images_owner(tenant));
		}
	if (all >= MAX_JOBS || mine >= MAX_JOBS_PER_TENANT)
		return why_set(why, -EAGAIN,
			       "%u image jobs are running (the most is %u, %u a tenant); wait for "
			       "one to end",
			       all, MAX_JOBS, MAX_JOBS_PER_TENANT);
	struct job *j = calloc(1, sizeof(*j));
	if (!j || getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		goto nomem;
	j->in_fd = -1;
	snprintf(j->id, sizeof(j->id), "job-%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
		 rnd[4]);
	j->kind = kind;
	j->created_ns = real_ns();
	if (!(j->tenant = strdup(images_owner(tenant))) ||
	    !(j->owner = strdup(public_ ? "" : images_owner(tenant))) || !(j->name = strdup(name)))
		goto nomem;
	snprintf(j->dir, sizeof(j->dir), "%s/tmp/%s", S.dir, j->id);
	if (mkdir(j->dir, 0700) < 0) {
		int e = errno;
		j->dir[0] = '\0';
		job_free(j);
		return why_set(why, -e, "image store: %s", strerror(e));
	}
	*ret = j;
	return 0;
nomem:
	if (j)
		job_free(j);
	return why_set(why, -ENOMEM, "out of memory");
}

/* GET /v1/jobs/ID?follow=1: the job's record, a line each time it changes, until it
 * ends. */
struct job_follower {
	struct reply *rp;
	char id[16];
	char *last;
};

static void follow_end(struct job_follower *f, bool whole)
{
	struct reply *rp = f->rp;
	reply_watch(rp, NULL, NULL);
	free(f->last);
	free(f);
	if (whole)
		reply_close(rp, true);
	reply_release(rp);
}

static void follow_gone(void *ud)
{
	follow_end(ud, false);
}

static void follow_pump(void *ud)
{
	struct job_follower *f = ud;
	struct job *j = S.jobs;

	while (j && strcmp(j->id, f->id))
		j = j->next;
	if (!j) {
		follow_end(f, true);
		return;
	}
	json_t *o = job_json(j);
	char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (line && (!f->last || strcmp(line, f->last))) {
		reply_write(f->rp, line, strlen(line));
		reply_write(f->rp, "\n", 1);
		free(f->last);
		f->last = TAKE_PTR(line);
	}
	free(line);
	if (j->ended_ns)
		follow_end(f, true);
}

static const struct reply_watch follow_watch = {
	.drained = follow_pump,
	.gone = follow_gone,
	.poll = true,
};

int images_job_follow(struct reply *rp, const char *tenant, const char *id, struct why *why)
{
	char safe[40];
	struct job *j = S.jobs;

	while (j && (strcmp(j->id, id) || (tenant && strcmp(j->tenant, tenant))))
		j = j->next;
	if (!j)
		return why_set(why, -ENOENT, "no job %s", text_printable(id, safe, sizeof(safe)));
	struct job_follower *f = calloc(1, sizeof(*f));
	if (!f)
		return why_set(why, -ENOMEM, "out of memory");
	f->rp = rp;
	snprintf(f->id, sizeof(f->id), "%s", j->id);
	reply_open(rp, STREAM_EVENTS, 0);
	reply_hold(rp);
	reply_watch(rp, &follow_watch, f);
	follow_pump(f);
	return 0;
}

int images_job(const char *tenant, const char *id, json_t **ret, struct why *why)
{
	char safe[40];
	jobs_trim();
	for (struct job *j = S.jobs; j; j = j->next)
		if (!strcmp(j->id, id) && (!tenant || !strcmp(j->tenant, tenant))) {
			*ret = job_json(j);
			return *ret ? 0 : why_set(why, -ENOMEM, "out of memory");
		}
	return why_set(why, -ENOENT, "no job %s", text_printable(id, safe, sizeof(safe)));
}

/* The end of a job's work, on the loop: its image named, its answer given if still due. */
static void job_finish(struct job *j)
{
	if (__atomic_load_n(&j->state, __ATOMIC_ACQUIRE) != JOB_FAILED) {
		int r = rec_put(j->owner, j->name, j->img_id, j->size,
				j->source ? j->source : j->kind);
		if (r < 0)
			job_fail(j, r, "cannot record image %s: %s", j->name, strerror(-r));
		else
			job_step(j, JOB_DONE, "image %s is ready", j->name);
		__atomic_store_n(&j->state, r < 0 ? JOB_FAILED : JOB_DONE, __ATOMIC_RELEASE);
	}
	closep(&j->in_fd);
	if (j->dir[0]) {
		(void)tree_remove_at(AT_FDCWD, j->dir);
		j->dir[0] = '\0';
	}
	j->ended_ns = real_ns();
	if (j->rp) {
		json_t *o = job_json(j);
		if (__atomic_load_n(&j->state, __ATOMIC_ACQUIRE) == JOB_FAILED)
			reply_fail(j->rp, j->err ? j->err : -EIO, j->error);
		else
			reply_done(j->rp, REPLY_CREATED, o ? json_incref(o) : NULL);
		json_decref(o);
		reply_release(j->rp);
		j->rp = NULL;
	}
	images_collect();
}

/* The image's default user as "UID:GID": numbers as they are, names from the image's
 * /etc/passwd and /etc/group (the topmost layer that has the file). */
static int lookup_id(json_t *layers, const char *file, const char *name, unsigned long *ret)
{
	for (size_t i = json_array_size(layers); i-- > 0;) {
		char path[PATH_MAX + 80];
		snprintf(path, sizeof(path), "%s/layers/%s", S.dir,
			 json_string_value(json_array_get(layers, i)));
		_cleanup_close_ int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		int fd = root < 0 ? -1 : open_in(root, file, O_RDONLY | O_NONBLOCK);
		struct stat st;
		if (fd < 0)
			continue;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_META) {
			close(fd);
			return -EINVAL;
		}
		FILE *f = fdopen(fd, "r");
		char line[1024];
		int r = -ENOENT;
		while (f && fgets(line, sizeof(line), f)) {
			char *save = NULL, *n = strtok_r(line, ":", &save);
			(void)strtok_r(NULL, ":", &save);
			char *id = strtok_r(NULL, ":", &save);
			if (n && id && !strcmp(n, name)) {
				*ret = strtoul(id, NULL, 10);
				r = 0;
				break;
			}
		}
		if (f)
			fclose(f);
		else
			close(fd);
		return r;
	}
	return -ENOENT;
}

static int config_user(struct job *j, json_t *layers, const char *user, char *out, size_t size)
{
	char u[256], *g;
	unsigned long uid = 0, gid = 0;
	char *end;

	snprintf(u, sizeof(u), "%s", user);
	if ((g = strchr(u, ':')))
		*g++ = '\0';
	if (!u[0])
		uid = 0;
	else if ((uid = strtoul(u, &end, 10), *end) && lookup_id(layers, "etc/passwd", u, &uid) < 0)
		return job_fail(j, -EINVAL, "config: user %s is not in the image's /etc/passwd", u);
	if (g && g[0] && (gid = strtoul(g, &end, 10), *end) &&
	    lookup_id(layers, "etc/group", g, &gid) < 0)
		return job_fail(j, -EINVAL, "config: group %s is not in the image's /etc/group", g);
	if (!g || !g[0])
		gid = uid;
	if (uid > 65534 || gid > 65534)
		return job_fail(j, -EINVAL, "config: user %lu:%lu is beyond a sandbox's ids", uid,
				gid);
	snprintf(out, size, "%lu:%lu", uid, gid);
	return 0;
}

/* Whether @path (relative) is a directory of the image: the topmost layer that has it
 * says (a whiteout: no). */
static bool image_has_dir(json_t *layers, const char *path)
{
	for (size_t i = json_array_size(layers); i-- > 0;) {
		char dir[PATH_MAX + 80];
		struct stat st;
		snprintf(dir, sizeof(dir), "%s/layers/%s", S.dir,
			 json_string_value(json_array_get(layers, i)));
		_cleanup_close_ int root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		_cleanup_close_ int fd = root < 0 ? -1 : open_in(root, path, O_PATH | O_NOFOLLOW);
		if (fd >= 0 && fstat(fd, &st) == 0)
			return S_ISDIR(st.st_mode);
	}
	return false;
}

/* The config's WorkingDir, made where the image lacks it (as a container runtime does):
 * a layer of its own on top, holding that directory. */
static int workdir_layer(struct job *j, json_t *layers, const char *wd)
{
	char tmp[PATH_MAX + 64], copy[PATH_MAX + 80], path[PATH_MAX + 1100], id[65];
	int r = 0;

	if (image_has_dir(layers, wd + 1))
		return 0;
	snprintf(tmp, sizeof(tmp), "%s/workdir", j->dir);
	snprintf(copy, sizeof(copy), "%s/workdir.layer", j->dir);
	snprintf(path, sizeof(path), "%s%s", tmp, wd);
	if (mkdir(tmp, 0755) < 0)
		r = -errno;
	for (char *p = path + strlen(tmp); r == 0 && p;) {
		p = strchr(p + 1, '/');
		if (p)
			*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			r = -errno;
		if (p)
			*p = '/';
	}
	if (r == 0 && mkdir(copy, 0755) < 0)
		r = -errno;
	if (r == 0) {
		_cleanup_close_ int src = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		_cleanup_close_ int dst = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = src < 0 || dst < 0 ? -errno
				       : tree_copy(src, dst, TREE_BYTES, NULL, NULL, id, NULL);
	}
	if (r == 0)
		r = layer_commit(copy, id);
	if (r < 0)
		return job_fail(j, r, "config: cannot make its WorkingDir %s: %s", wd,
				strerror(-r));
	json_array_append_new(layers, json_string(id));
	return 0;
}

/* The manifest of an imported image from its OCI/docker config. */
static int import_manifest(struct job *j, json_t *layers, json_t *config)
{
	json_t *c = json_object_get(config, "config"), *m = json_object(), *env = json_object();
	json_t *cmd = json_array(), *v;
	size_t i;
	int r = 0;

	if (!m || !env || !cmd) {
		r = -ENOMEM;
		goto out;
	}
	json_array_foreach (json_object_get(c, "Env"), i, v) {
		const char *kv = json_string_value(v), *eq = kv ? strchr(kv, '=') : NULL;
		if (!eq || eq == kv || i >= 64)
			continue;
		char *k = strndup(kv, (size_t)(eq - kv));
		if (k)
			json_object_set_new(env, k, json_string(eq + 1));
		free(k);
	}
	static const char *const parts[] = { "Entrypoint", "Cmd" };
	for (size_t p = 0; p < ARRAY_SIZE(parts); p++)
		json_array_foreach (json_object_get(c, parts[p]), i, v)
			if (json_is_string(v))
				json_array_append(cmd, v);
	json_object_set_new(m, "name", json_string(j->name));
	json_object_set(m, "layers", layers);
	json_object_set(m, "env", env);
	if (json_array_size(cmd))
		json_object_set(m, "cmd", cmd);
	const char *wd = json_string_value(json_object_get(c, "WorkingDir"));
	if (wd && wd[0] == '/' && !strstr(wd, "/..") && strlen(wd) < 1024) {
		if ((r = workdir_layer(j, layers, wd)) < 0)
			goto out;
		json_object_set_new(m, "workdir", json_string(wd));
	}
	const char *user = json_string_value(json_object_get(c, "User"));
	if (user && user[0]) {
		char ids[64];
		if ((r = config_user(j, layers, user, ids, sizeof(ids))) < 0)
			goto out;
		json_object_set_new(m, "user", json_string(ids));
	}
	if ((r = manifest_write(m, j->img_id)) < 0)
		job_fail(j, r, "cannot write the manifest: %s", strerror(-r));
	j->size = layers_size(layers);
out:
	json_decref(m);
	json_decref(env);
	json_decref(cmd);
	return r;
}

static void unpack_progress(uint64_t bytes, void *ud)
{
	struct job *j = ud;
	__atomic_store_n(&j->unpacked, j->unpack_base + bytes, __ATOMIC_RELAXED);
}

/* One layer: the blob at @path in the outer archive, checked against @want (its sha256),
 * applied unless the store has it; its id appended to @layers. */
static int import_layer(struct job *j, int outer, const char *path, const char *want, unsigned idx,
			json_t *layers)
{
	char got[IMAGE_ID_LEN + 1], id[IMAGE_ID_LEN + 1], dir[PATH_MAX + 32], err[300];
	/* Not blocking: a FIFO would hold the worker (the outer archive has none; still). */
	_cleanup_close_ int fd = open_in(outer, path, O_RDONLY | O_NONBLOCK);
	struct stat st;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return job_fail(j, -EINVAL, "layer %u: %s is not a file of the archive", idx, path);
	if ((r = sha256_fd(fd, got)) < 0)
		return job_fail(j, r, "layer %u: %s", idx, strerror(-r));
	if (strcmp(got, want))
		return job_fail(j, -EINVAL, "layer %u: its content does not match its digest %s",
				idx, want);
	if (j->keep_setuid) {
		/* Not the blob's id: no archive's blob can hash to it (the salt is the
		 * store's secret), so no import without setuid bits meets this layer. */
		char salted[160];
		snprintf(salted, sizeof(salted), "setuid:%s:%s", S.secret, got);
		(void)store_sha256_hex(salted, strlen(salted), id);
	} else {
		snprintf(id, sizeof(id), "%s", got);
	}
	if (layer_touch(id) < 0) {
		snprintf(dir, sizeof(dir), "%s/layer-%u", j->dir, idx);
		if (mkdir(dir, 0755) < 0)
			return job_fail(j, -errno, "layer %u: %s", idx, strerror(errno));
		_cleanup_close_ int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		/* One budget for all the layers of an import: --max-image bytes (each inode
		 * 4 KiB) and MAX_ENTRIES entries, the outer archive's entries included. */
		struct unpack_opts o = {
			.layer = true,
			.keep_setuid = j->keep_setuid,
			.max_bytes = D.opt.max_image - j->unpack_base,
			.max_entries = MAX_ENTRIES - j->entries,
			.progress = unpack_progress,
			.ud = j,
		};
		struct unpack_stats s;
		if (root < 0)
			return job_fail(j, -errno, "layer %u: %s", idx, strerror(errno));
		r = unpack_tar(fd, root, &o, &s, err, sizeof(err));
		if (r < 0)
			return job_fail(j, r, "layer %u: %s", idx, err);
		j->unpack_base += s.bytes;
		j->entries += s.entries;
		__atomic_store_n(&j->unpacked, j->unpack_base, __ATOMIC_RELAXED);
		if ((r = layer_commit(dir, id)) < 0)
			return job_fail(j, r, "layer %u: %s", idx, strerror(-r));
	}
	json_array_append_new(layers, json_string(id));
	__atomic_add_fetch(&j->layers_done, 1, __ATOMIC_RELAXED);
	return 0;
}

/* "sha256:HEX" into @out; false for any other digest. */
static bool digest_hex(const char *d, char out[IMAGE_ID_LEN + 1])
{
	if (!d || strncmp(d, "sha256:", 7) || !image_id_valid(d + 7))
		return false;
	snprintf(out, IMAGE_ID_LEN + 1, "%s", d + 7);
	return true;
}

/* The outer archive's image: its config and its layers (paths, and the digest each must
 * have), from a docker-save manifest.json or an OCI index.json. */
static int find_image(struct job *j, int outer, json_t **config, json_t **paths, json_t **digests)
{
	char err[300], h[IMAGE_ID_LEN + 1], path[128];
	struct stat st;
	json_t *v;
	size_t i;

	*paths = json_array();
	*digests = json_array();
	if (fstatat(outer, "manifest.json", &st, AT_SYMLINK_NOFOLLOW) == 0) {
		json_t *man = load_in(outer, "manifest.json", err, sizeof(err));
		json_t *first = json_array_get(man, 0);
		const char *cfg = json_string_value(json_object_get(first, "Config"));
		json_t *ls = json_object_get(first, "Layers");
		if (!man || !cfg || !json_is_array(ls)) {
			json_decref(man);
			return job_fail(j, -EINVAL, "%s",
					man ? "manifest.json: no Config and Layers" : err);
		}
		*config = load_in(outer, cfg, err, sizeof(err));
		json_t *diffs = json_object_get(json_object_get(*config, "rootfs"), "diff_ids");
		if (!*config || json_array_size(diffs) != json_array_size(ls)) {
			json_decref(man);
			return job_fail(j, -EINVAL, "%s",
					*config ? "config: rootfs.diff_ids do not match the layers"
						: err);
		}
		json_array_foreach (ls, i, v) {
			if (!json_is_string(v) ||
			    !digest_hex(json_string_value(json_array_get(diffs, i)), h)) {
				json_decref(man);
				return job_fail(j, -EINVAL, "layer %zu: no sha256 digest", i);
			}
			json_array_append(*paths, v);
			json_array_append_new(*digests, json_string(h));
		}
		json_decref(man);
		return 0;
	}
	json_t *idx = load_in(outer, "index.json", err, sizeof(err));
	if (!idx)
		return job_fail(j, -EINVAL,
				"neither a docker-save archive (manifest.json) nor an OCI layout "
				"(index.json)");
	json_t *desc = json_array_get(json_object_get(idx, "manifests"), 0), *man = NULL;
	for (int depth = 0; depth < 3; depth++) {
		if (!digest_hex(json_string_value(json_object_get(desc, "digest")), h))
			break;
		snprintf(path, sizeof(path), "blobs/sha256/%s", h);
		json_decref(man);
		man = load_in(outer, path, err, sizeof(err));
		json_t *list = json_object_get(man, "manifests");
		if (!list)
			break;
		/* An index: the linux/amd64 entry, else the first. */
		desc = json_array_get(list, 0);
		json_array_foreach (list, i, v) {
			json_t *p = json_object_get(v, "platform");
			const char *os = json_string_value(json_object_get(p, "os"));
			const char *arch = json_string_value(json_object_get(p, "architecture"));
			if (os && arch && !strcmp(os, "linux") && !strcmp(arch, "amd64")) {
				desc = v;
				break;
			}
		}
	}
	json_decref(idx);
	json_t *cd = json_object_get(man, "config"), *ls = json_object_get(man, "layers");
	if (!man || !digest_hex(json_string_value(json_object_get(cd, "digest")), h) ||
	    !json_is_array(ls)) {
		json_decref(man);
		return job_fail(j, -EINVAL,
				"index.json: no image manifest with a config and layers");
	}
	snprintf(path, sizeof(path), "blobs/sha256/%s", h);
	*config = load_in(outer, path, err, sizeof(err));
	if (!*config) {
		json_decref(man);
		return job_fail(j, -EINVAL, "%s", err);
	}
	json_array_foreach (ls, i, v) {
		if (!digest_hex(json_string_value(json_object_get(v, "digest")), h)) {
			json_decref(man);
			return job_fail(j, -EINVAL, "layer %zu: no sha256 digest", i);
		}
		snprintf(path, sizeof(path), "blobs/sha256/%s", h);
		json_array_append_new(*paths, json_string(path));
		json_array_append_new(*digests, json_string(h));
	}
	json_decref(man);
	return 0;
}

static void import_fn(struct work *w)
{
	struct job *j = (struct job *)((char *)w - offsetof(struct job, w));
	char path[PATH_MAX + 32], err[300];
	json_t *config = NULL, *paths = NULL, *digests = NULL, *layers = json_array();
	struct unpack_stats s;
	_cleanup_close_ int in = j->in_fd, outer = -1;
	int r;

	job_step(j, JOB_UNPACKING, "reading the archive");
	snprintf(path, sizeof(path), "%s/outer", j->dir);
	j->in_fd = -1;
	if (mkdir(path, 0700) < 0 || lseek(in, 0, SEEK_SET) < 0) {
		r = job_fail(j, -errno, "image store: %s", strerror(errno));
		goto out;
	}
	outer = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct unpack_opts o = { .max_bytes = D.opt.max_image, .max_entries = MAX_ENTRIES };
	if (outer < 0 || !layers) {
		r = job_fail(j, -ENOMEM, "image store: cannot begin");
		goto out;
	}
	if ((r = unpack_tar(in, outer, &o, &s, err, sizeof(err))) < 0) {
		job_fail(j, r, "archive: %s", err);
		goto out;
	}
	/* The archive is in outer/ now: its copy goes (the disk holds at most the outer
	 * files and the layers, --max-image each). */
	closep(&in);
	snprintf(path, sizeof(path), "%s/archive", j->dir);
	(void)unlink(path);
	j->entries = s.entries;
	if ((r = find_image(j, outer, &config, &paths, &digests)) < 0)
		goto out;
	/* Its layers, then sbxd's own: the workdir's, if made, and the skeleton. */
	if (json_array_size(paths) == 0 || json_array_size(paths) > IMAGE_MAX_LAYERS - 2) {
		r = job_fail(j, -EINVAL, "an image of %zu layers (1 to %d)", json_array_size(paths),
			     IMAGE_MAX_LAYERS - 2);
		goto out;
	}
	__atomic_store_n(&j->layers_total, (unsigned)json_array_size(paths), __ATOMIC_RELAXED);
	for (size_t i = 0; i < json_array_size(paths); i++) {
		job_step(j, JOB_UNPACKING, "layer %zu of %zu", i + 1, json_array_size(paths));
		r = import_layer(j, outer, json_string_value(json_array_get(paths, i)),
				 json_string_value(json_array_get(digests, i)), (unsigned)i,
				 layers);
		if (r < 0)
			goto out;
	}
	job_step(j, JOB_UNPACKING, "writing the manifest");
	json_array_append_new(layers, json_string(S.skeleton));
	r = import_manifest(j, layers, config);
out:
	if (r < 0)
		__atomic_store_n(&j->state, JOB_FAILED, __ATOMIC_RELEASE);
	json_decref(config);
	json_decref(paths);
	json_decref(digests);
	json_decref(layers);
}

static void import_done(struct work *w)
{
	job_finish((struct job *)((char *)w - offsetof(struct job, w)));
}

/* The body, from the pipe into tmp/JOB/archive. */
struct recv_work {
	struct work w;
	struct job *j;
	int pipe_rd, file;
};

static void recv_fn(struct work *w)
{
	struct recv_work *rw = (struct recv_work *)w;
	struct job *j = rw->j;
	char buf[1 << 16];

	for (;;) {
		/* An upload that stalls gives its worker back (the edge then sees its pipe
		 * closed and drops the connection). */
		struct pollfd p = { .fd = rw->pipe_rd, .events = POLLIN };
		int pr = poll(&p, 1, UPLOAD_IDLE_MS);
		if (pr == 0) {
			job_fail(j, -ETIMEDOUT, "upload: nothing came for %d s",
				 UPLOAD_IDLE_MS / 1000);
			break;
		}
		ssize_t n = pr < 0 ? -1 : read(rw->pipe_rd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			job_fail(j, -errno, "upload: %s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t wr = write(rw->file, buf + off, (size_t)(n - off));
			if (wr < 0) {
				job_fail(j, -errno, "image store: %s", strerror(errno));
				goto out;
			}
			off += wr;
		}
		__atomic_add_fetch(&j->received, (uint64_t)n, __ATOMIC_RELAXED);
	}
out:
	if (!j->error[0] && __atomic_load_n(&j->received, __ATOMIC_RELAXED) != j->total)
		job_fail(j, -EPIPE, "upload: cut short at %" PRIu64 " of %" PRIu64 " bytes",
			 __atomic_load_n(&j->received, __ATOMIC_RELAXED), j->total);
	if (j->error[0])
		__atomic_store_n(&j->state, JOB_FAILED, __ATOMIC_RELEASE);
}

static void recv_done(struct work *w)
{
	struct recv_work *rw = (struct recv_work *)w;
	struct job *j = rw->j;

	close(rw->pipe_rd);
	j->in_fd = rw->file;
	free(rw);
	if (__atomic_load_n(&j->state, __ATOMIC_ACQUIRE) == JOB_FAILED) {
		job_finish(j);
		return;
	}
	/* The body is in: the caller has the job, which goes on. */
	json_t *o = job_json(j);
	reply_done(j->rp, REPLY_CREATED, o);
	reply_release(j->rp);
	j->rp = NULL;
	j->w = (struct work){ .fn = import_fn, .done = import_done, .slow = true };
	loop_queue_work(&D.loop, &j->w);
}

int images_import(struct reply *rp, const char *tenant, const char *name, bool public_,
		  bool keep_setuid, int64_t len, struct why *why)
{
	char safe[140], path[PATH_MAX + 32];
	struct job *j;
	int pfd[2] = { -1, -1 }, r;

	if (!images_name_valid(name))
		return why_set(why, -EINVAL,
			       "name: 1-128 characters of a-z 0-9 . _ - (not first . or -), not "
			       "\"%s\"",
			       text_printable(name ? name : "", safe, sizeof(safe)));
	if ((public_ || keep_setuid) && tenant)
		return why_set(why, -EPERM, "public and keep_setuid are for the host's admins");
	if (len < 0)
		return why_set(why, -EINVAL, "an import needs Content-Length");
	if ((uint64_t)len > D.opt.max_image)
		return why_set(why, -EFBIG,
			       "an archive of %" PRId64 " bytes is over the limit of %" PRIu64, len,
			       D.opt.max_image);
	if ((r = job_new(tenant, name, "import", public_, &j, why)) < 0)
		return r;
	j->keep_setuid = keep_setuid;
	j->total = (uint64_t)len;
	snprintf(j->step, sizeof(j->step), "receiving the archive");
	snprintf(path, sizeof(path), "%s/archive", j->dir);
	struct recv_work *rw = calloc(1, sizeof(*rw));
	int file = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	r = !rw ? -ENOMEM : file < 0 ? -errno : rp->ops->body_prepare(rp);
	if (r == 0 && pipe2(pfd, O_CLOEXEC) < 0)
		r = -errno;
	if (r < 0) {
		if (file >= 0)
			close(file);
		free(rw);
		job_free(j);
		return why_set(why, r, "cannot begin the import: %s", strerror(-r));
	}
	*rw = (struct recv_work){ .w = { .fn = recv_fn, .done = recv_done, .slow = true },
				  .j = j,
				  .pipe_rd = pfd[0],
				  .file = file };
	j->rp = rp;
	reply_hold(rp);
	j->next = S.jobs;
	S.jobs = j;
	loop_queue_work(&D.loop, &rw->w);
	rp->ops->body_to_fd(rp, pfd[1]);
	return 0;
}

/* Slim images */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool slim_has(const struct slim_set *s, const char *path)
{
	return bsearch(&path, s->paths, s->n, sizeof(char *), cmp_str) != NULL;
}

/* Whether a recorded path starts with @prefix and ends with @suffix. */
static bool slim_has_prefix(const struct slim_set *s, const char *prefix, const char *suffix)
{
	size_t lo = 0, hi = s->n, pl = strlen(prefix), sl = strlen(suffix);
	while (lo < hi) { /* the first path not below @prefix */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->paths[mid], prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < s->n && !strncmp(s->paths[lo], prefix, pl); lo++) {
		size_t n = strlen(s->paths[lo]);
		if (n >= pl + sl && !strcmp(s->paths[lo] + n - sl, suffix))
			return true;
	}
	return false;
}

/* What a slim image keeps. fanotify reports opens, not lookups: a file a program only
 * checks by name (stat) is not reported, so besides what the workload opened it keeps
 * every symlink, the files of each directory the workload listed and its subdirectories
 * (empty, unless more is kept in them: a listing is how a program finds what to stat),
 * and D/M.py wherever D/__pycache__/M.TAG.pyc was opened (Python checks the source beside
 * its cached bytecode by stat). */
static bool slim_keep(const char *path, mode_t type, void *ud)
{
	const struct slim_set *s = ud;
	if (type == S_IFLNK || slim_has(s, path))
		return true;
	size_t len = strlen(path);
	const char *base = strrchr(path, '/');
	if (base && len > 3 && !strcmp(path + len - 3, ".py") && len + 16 < PATH_MAX) {
		char pyc[PATH_MAX];
		snprintf(pyc, sizeof(pyc), "%.*s/__pycache__/%.*s.", (int)(base - path), path,
			 (int)(len - 3 - (size_t)(base + 1 - path)), base + 1);
		if (slim_has_prefix(s, pyc, ".pyc"))
			return true;
	}
	const char *slash = strrchr(path, '/');
	char parent[PATH_MAX];
	if (!slash || (size_t)(slash - path) >= sizeof(parent))
		return false;
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = '\0';
	return slash != path && slim_has(s, parent);
}

static void slim_fn(struct work *w)
{
	struct job *j = (struct job *)((char *)w - offsetof(struct job, w));
	struct slim_set *set = j->slim;
	char *err = NULL, tmp[PATH_MAX + 32], digest[65];
	struct image *img = NULL;
	struct rootfs_mounts m = ROOTFS_MOUNTS_INIT;
	_cleanup_close_ int dst = -1;
	uint64_t bytes = 0;
	int r;

	job_step(j, JOB_BUILDING, "copying %zu recorded paths", set->n);
	r = image_open_store(S.dir, j->from_id, j->name, &img, &err);
	if (r < 0) {
		job_fail(j, r, "%s", err ? err : strerror(-r));
		goto out;
	}
	/* The image as its sandboxes see it: its layers merged, read-only. */
	struct rootfs_plan plan = { .image = img->rootfs,
				    .lowers = (const char *const *)img->lowers };
	if ((r = rootfs_prepare(&plan, -1, &m)) < 0) {
		job_fail(j, r, "cannot mount image %s: %s", j->recipe, strerror(-r));
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s/slim", j->dir);
	if (mkdir(tmp, 0755) < 0 || (dst = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = job_fail(j, -errno, "image store: %s", strerror(errno));
		goto out;
	}
	r = tree_copy(m.root, dst, TREE_BYTES, slim_keep, set, digest, &bytes);
	if (r == 0)
		r = layer_commit(tmp, digest);
	if (r < 0) {
		job_fail(j, r, "cannot copy the recorded files: %s", strerror(-r));
		goto out;
	}
	__atomic_store_n(&j->unpacked, bytes, __ATOMIC_RELAXED);
	char mpath[PATH_MAX + 100];
	snprintf(mpath, sizeof(mpath), "%s/manifests/%s.json", S.dir, j->from_id);
	json_t *man = json_load_file(mpath, 0, NULL),
	       *layers = json_pack("[s,s]", digest, S.skeleton);
	if (!json_is_object(man) || !layers) {
		json_decref(man);
		json_decref(layers);
		r = job_fail(j, -EIO, "image %s: its manifest is unreadable", j->recipe);
		goto out;
	}
	json_object_set_new(man, "name", json_string(j->name));
	json_object_set(man, "layers", layers);
	json_object_set_new(man, "slim_of", json_string(j->from_id));
	r = manifest_write(man, j->img_id);
	j->size = layers_size(layers);
	json_decref(man);
	json_decref(layers);
	if (r < 0)
		job_fail(j, r, "cannot write the manifest: %s", strerror(-r));
out:
	if (r < 0)
		__atomic_store_n(&j->state, JOB_FAILED, __ATOMIC_RELEASE);
	rootfs_mounts_close(&m);
	image_free(img);
	free(err);
}

int images_slim(struct reply *rp, const char *tenant, const char *name, const char *box_id,
		struct why *why)
{
	char safe[140];
	struct box *b = box_id ? box_find(box_id, tenant) : NULL;
	struct job *j;
	size_t n;
	bool lost;
	int r;

	if (!b)
		return why_set(why, -ENOENT, "no sandbox %s",
			       text_printable(box_id ? box_id : "", safe, sizeof(safe)));
	if (!b->rec || !b->req.image_id)
		return why_set(why, -EINVAL,
			       "sandbox %s recorded nothing: create it with \"record_files\": true",
			       b->id);
	if (b->state != BOX_EXITED)
		return why_set(why, -EBUSY,
			       "sandbox %s is still running: a slim image is made "
			       "from a finished run",
			       b->id);
	if (!images_name_valid(name))
		return why_set(why, -EINVAL, "name: 1-128 characters of a-z 0-9 . _ -");
	const char *const *paths = recorder_paths(b->rec, &n, &lost);
	if (lost)
		return why_set(why, -EIO, "sandbox %s: the kernel dropped some of its events",
			       b->id);
	if ((r = job_new(tenant, name, "slim", false, &j, why)) < 0)
		return r;
	struct slim_set *set = calloc(1, sizeof(*set));
	if (!set || !(set->paths = calloc(n + 1, sizeof(char *))) ||
	    !(j->recipe = strdup(b->req.image ? b->req.image : "base"))) {
		if (set)
			free(set->paths);
		free(set);
		job_free(j);
		return why_set(why, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		if ((set->paths[set->n] = strdup(paths[i])))
			set->n++;
	j->slim = set;
	snprintf(j->from_id, sizeof(j->from_id), "%s", b->req.image_id);
	manifest_touch(j->from_id); /* kept while the job reads it */
	snprintf(j->step, sizeof(j->step), "queued");
	__atomic_store_n(&j->state, JOB_BUILDING, __ATOMIC_RELEASE);
	j->next = S.jobs;
	S.jobs = j;
	j->w = (struct work){ .fn = slim_fn, .done = import_done, .slow = true };
	loop_queue_work(&D.loop, &j->w);
	reply_done(rp, REPLY_CREATED, job_json(j));
	return 0;
}

/* Builds */

/* The recipes, images/ beside the daemon's build directory (build/sbxd -> images/). */
static int recipes_dir(char *out, size_t size)
{
	_cleanup_free_ char *dir = image_beside_exe("../images");
	if (!dir)
		return -ENOENT;
	snprintf(out, size, "%s", dir);
	return 0;
}

static void build_fn(struct work *w)
{
	struct job *j = (struct job *)((char *)w - offsetof(struct job, w));
	char recipes[PATH_MAX], script[PATH_MAX + 16], out[PATH_MAX + 32], log[PATH_MAX + 16];
	char rootfs[PATH_MAX + 64], tmp[PATH_MAX + 32], digest[65];
	_cleanup_close_ int src = -1, dst = -1;
	uint64_t bytes = 0;
	pid_t pid;
	int status = 0, r;

	job_step(j, JOB_BUILDING, "running images/build.sh %s", j->recipe);
	if ((r = recipes_dir(recipes, sizeof(recipes))) < 0)
		goto fail;
	snprintf(script, sizeof(script), "%s/build.sh", recipes);
	snprintf(out, sizeof(out), "%s/out", j->dir);
	snprintf(log, sizeof(log), "%s/build.log", j->dir);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	char *argv[] = { "bash", script, j->recipe, out, (char *)D.opt.init_path, NULL };
	r = -posix_spawn(&pid, "/bin/bash", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r < 0)
		goto fail;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		char last[200] = "";
		FILE *f = fopen(log, "r");
		for (char line[200]; f && fgets(line, sizeof(line), f);)
			if (line[0] != '\n')
				snprintf(last, sizeof(last), "%s", line);
		if (f)
			fclose(f);
		last[strcspn(last, "\n")] = '\0';
		job_fail(j, -EIO, "recipe %s failed: %s", j->recipe, last);
		goto failed;
	}
	job_step(j, JOB_BUILDING, "storing the layer");
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", out);
	snprintf(tmp, sizeof(tmp), "%s/layer", j->dir);
	src = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = src < 0 || mkdir(tmp, 0755) < 0 ? -errno : 0;
	dst = r == 0 ? open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (r == 0 && dst < 0)
		r = -errno;
	if (r == 0)
		r = tree_copy(src, dst, TREE_LINKS, NULL, NULL, digest, &bytes);
	if (r == 0)
		r = layer_commit(tmp, digest);
	if (r < 0)
		goto fail;
	__atomic_store_n(&j->unpacked, bytes, __ATOMIC_RELAXED);
	snprintf(out + strlen(out), sizeof(out) - strlen(out), "/manifest.json");
	json_t *m = json_load_file(out, 0, NULL);
	json_t *layers = json_pack("[s]", digest);
	if (!json_is_object(m) || !layers) {
		json_decref(m);
		json_decref(layers);
		r = -EINVAL;
		goto fail;
	}
	json_object_del(m, "rootfs");
	json_object_set_new(m, "name", json_string(j->name));
	json_object_set(m, "layers", layers);
	r = manifest_write(m, j->img_id);
	j->size = layers_size(layers);
	json_decref(m);
	json_decref(layers);
	if (r == 0)
		return;
fail:
	job_fail(j, r, "build of %s: %s", j->recipe, strerror(-r));
failed:
	__atomic_store_n(&j->state, JOB_FAILED, __ATOMIC_RELEASE);
}

static void hash_file(EVP_MD_CTX *md, const char *path)
{
	char buf[4096];
	size_t k;
	FILE *fp = fopen(path, "re");

	while (fp && (k = fread(buf, 1, sizeof(buf), fp)) > 0)
		EVP_DigestUpdate(md, buf, k);
	if (fp)
		fclose(fp);
}

/* What a build of @recipe is made from: the builder, the files of common/, common/etc/,
 * the recipe's directory and its etc/, and sbx-init's identity; "recipe:HASH" in @out. */
static void recipe_source(const char *recipes, const char *recipe, char *out, size_t size)
{
	char dirs[4][300], path[3 * PATH_MAX], id[IMAGE_ID_LEN + 1];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	struct stat st;

	snprintf(out, size, "recipe:?");
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		return;
	}
	snprintf(path, sizeof(path), "%s/build.sh", recipes);
	hash_file(md, path);
	snprintf(dirs[0], sizeof(dirs[0]), "common");
	snprintf(dirs[1], sizeof(dirs[1]), "common/etc");
	snprintf(dirs[2], sizeof(dirs[2]), "%s", recipe);
	snprintf(dirs[3], sizeof(dirs[3]), "%s/etc", recipe);
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		struct dirent **list = NULL;
		char dir[PATH_MAX + 1600];
		snprintf(dir, sizeof(dir), "%s/%s", recipes, dirs[i]);
		int n = scandir(dir, &list, NULL, alphasort);
		for (int k = 0; k < n; k++) {
			snprintf(path, sizeof(path), "%s/%s", dir, list[k]->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				EVP_DigestUpdate(md, path + strlen(recipes),
						 strlen(path + strlen(recipes)) + 1);
				hash_file(md, path);
			}
			free(list[k]);
		}
		free(list);
	}
	if (stat(D.opt.init_path, &st) == 0) {
		char ident[96];
		snprintf(ident, sizeof(ident), "%" PRIu64 ":%" PRId64, (uint64_t)st.st_size,
			 (int64_t)st.st_mtim.tv_sec);
		EVP_DigestUpdate(md, ident, strlen(ident));
	}
	EVP_DigestFinal_ex(md, d, &len);
	EVP_MD_CTX_free(md);
	hex(d, len, id);
	snprintf(out, size, "recipe:%s", id);
}

int images_build(struct reply *rp, const char *tenant, const char *recipe, const char *name,
		 struct why *why)
{
	char safe[140], recipes[PATH_MAX], path[PATH_MAX + 200];
	struct job *j;
	struct stat st;
	int r;

	if (tenant)
		return why_set(why, -EPERM, "builds from recipes are for the host's admins");
	if (!images_name_valid(recipe) || recipes_dir(recipes, sizeof(recipes)) < 0 ||
	    (snprintf(path, sizeof(path), "%s/%s/recipe", recipes, recipe), stat(path, &st) < 0) ||
	    !strcmp(recipe, "common"))
		return why_set(why, -ENOENT, "no recipe %s in images/",
			       text_printable(recipe ? recipe : "", safe, sizeof(safe)));
	if (!images_name_valid(name))
		name = recipe;
	if ((r = job_new(tenant, name, "build", true, &j, why)) < 0)
		return r;
	char source[128];
	recipe_source(recipes, recipe, source, sizeof(source));
	if (!(j->recipe = strdup(recipe)) || !(j->source = strdup(source))) {
		job_free(j);
		return why_set(why, -ENOMEM, "out of memory");
	}
	j->next = S.jobs;
	S.jobs = j;
	/* Built from the same recipe before: that image, at once. */
	struct img_rec *have = rec_find("", name);
	if (have && have->source && !strcmp(have->source, source)) {
		snprintf(j->img_id, sizeof(j->img_id), "%s", have->id);
		j->size = have->size;
		job_finish(j);
		reply_done(rp, REPLY_CREATED, job_json(j));
		return 0;
	}
	snprintf(j->step, sizeof(j->step), "queued");
	__atomic_store_n(&j->state, JOB_BUILDING, __ATOMIC_RELEASE);
	j->w = (struct work){ .fn = build_fn, .done = import_done, .slow = true };
	loop_queue_work(&D.loop, &j->w);
	json_t *o = job_json(j);
	reply_done(rp, REPLY_CREATED, o);
	return 0;
}
