// SPDX-License-Identifier: MIT
/* A directory of a sandbox watched for changes (the E2B surface's WatchDir): inotify on
 * the host, on directories opened inside the sandbox's root (resolved there, so that no
 * name of the sandbox's leads out of it), recursively if asked. Each change is an event
 * on the reply's stream, named relative to the watched directory, until the reader goes,
 * the directory goes, or the sandbox stops. inotify instances and watches are the host's
 * (its root user's), so each sandbox and each watch has a share of them. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../sandbox/macro.h"
#include "../../sandbox/nsutil.h"
#include "../../sandbox/sandbox.h"
#include "internal.h"

#define WATCH_MAX_DIRS 1024	/* directories one watch follows */
#define WATCH_MAX_SCAN 65536	/* entries its walks read, all of them */
#define WATCH_MAX_PER_BOX 4	/* watches of one sandbox at once */
#define WATCH_MAX_PER_TENANT 16 /* of one tenant, all its sandboxes */
#define WATCH_MAX_ALL 64	/* of the host's inotify instances (root's limit: 128) */
#define WATCH_MASK                                                                                 \
	(IN_CREATE | IN_MODIFY | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |             \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

struct watch {
	struct watch *next;
	struct box *box;
	struct reply *rp;
	int ifd, ops;
	char *path; /* the watched directory, in the sandbox's root */
	bool recursive, with_entry, closed, armed;
	unsigned ndirs, scanned;
	struct {
		int wd;
		char *rel; /* "" for the watched directory */
	} dirs[WATCH_MAX_DIRS];
	char buf[16384] __attribute__((aligned(8)));
	struct loop_op op;
};

static unsigned nwatches;

static void watch_gone(void *ud);
static void watch_drained(void *ud);
static const struct reply_watch watch_cbs = { .drained = watch_drained, .gone = watch_gone };

static void watch_free(struct watch *w)
{
	struct box *b = w->box;
	for (struct watch **p = &b->watches; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	for (unsigned i = 0; i < w->ndirs; i++)
		free(w->dirs[i].rel);
	closep(&w->ifd);
	free(w->path);
	nwatches--;
	free(w);
	box_maybe_free(b);
}

/* The stream ends (whole: its reader is told all went well). */
static void watch_close(struct watch *w, bool whole)
{
	if (w->closed)
		return;
	w->closed = true;
	if (w->rp) {
		struct reply *rp = w->rp;
		w->rp = NULL;
		reply_watch(rp, NULL, NULL);
		reply_close(rp, whole);
		reply_release(rp);
	}
	if (w->armed)
		io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &w->op, 0);
	if (!w->ops)
		watch_free(w);
}

static void watch_gone(void *ud)
{
	struct watch *w = ud;
	if (w->rp) {
		reply_watch(w->rp, NULL, NULL);
		reply_release(w->rp);
		w->rp = NULL;
	}
	watch_close(w, false);
}

/* @dfd (taken): a directory of the watch, named @rel; with recursion, those below it.
 * Its walks read at most WATCH_MAX_SCAN entries in all: run on the loop thread, they are
 * bounded whatever the sandbox puts in its directories. */
static int watch_add(struct watch *w, int dfd, const char *rel, unsigned depth)
{
	char self[32];
	int r = 0;

	if (w->ndirs == WATCH_MAX_DIRS) {
		close(dfd);
		return -E2BIG;
	}
	/* Pseudo file systems are not watched: the kernel's view of processes and devices,
	 * nothing of the sandbox's to follow. */
	if (nsutil_pseudo_fs(dfd) != 0) {
		close(dfd);
		return depth ? 0 : -EINVAL;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", dfd);
	int wd = inotify_add_watch(w->ifd, self, WATCH_MASK);
	char *name = strdup(rel);
	if (wd < 0 || !name) {
		r = wd < 0 ? -errno : -ENOMEM;
		free(name);
		close(dfd);
		return r;
	}
	w->dirs[w->ndirs].wd = wd;
	w->dirs[w->ndirs].rel = name;
	w->ndirs++;
	if (!w->recursive || depth >= 64) {
		close(dfd);
		return 0;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	for (struct dirent *e; r == 0 && (e = readdir(d));) {
		if (++w->scanned > WATCH_MAX_SCAN) {
			r = -E2BIG;
			break;
		}
		if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char sub[PATH_MAX];
		int fd = openat(dirfd(d), e->d_name,
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", e->d_name) >=
		    sizeof(sub)) {
			close(fd);
			continue;
		}
		r = watch_add(w, fd, sub, depth + 1);
	}
	closedir(d);
	return r;
}

/* No descriptor of the watched tree is kept (box_open_in_root each time): one would keep
 * a removed directory's inode, and its IN_DELETE_SELF, from coming. */
static int open_in_sandbox(const struct box *b, const char *path, uint64_t more)
{
	return box_open_in_root(b, path, O_RDONLY | O_DIRECTORY, more);
}

static const char *dir_of(const struct watch *w, int wd)
{
	for (unsigned i = 0; i < w->ndirs; i++)
		if (w->dirs[i].wd == wd)
			return w->dirs[i].rel;
	return NULL;
}

static void watch_arm(struct watch *w);

static void watch_event(struct watch *w, const struct inotify_event *ev)
{
	const char *dir = dir_of(w, ev->wd);
	char name[PATH_MAX];

	if (!dir)
		return;
	if ((ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) && !*dir) {
		watch_close(w, true); /* the watched directory went */
		return;
	}
	if (!ev->len || !ev->name[0])
		return;
	snprintf(name, sizeof(name), "%s%s%s", dir, *dir ? "/" : "", ev->name);
	static const struct {
		uint32_t mask;
		enum reply_fs_kind kind;
	} map[] = {
		{ IN_CREATE, FSEV_CREATE },	{ IN_MOVED_TO, FSEV_CREATE },
		{ IN_MOVED_FROM, FSEV_RENAME }, { IN_ATTRIB, FSEV_CHMOD },
		{ IN_MODIFY, FSEV_WRITE },	{ IN_DELETE, FSEV_REMOVE },
	};
	/* With its entry: what is at the name now (looked at, not opened: O_PATH, its last
	 * link not followed), when something is. */
	char full[PATH_MAX * 2];
	struct stat st;
	bool have = false;
	snprintf(full, sizeof(full), "%s/%s", w->path, name);
	if (w->with_entry && !(ev->mask & (IN_DELETE | IN_MOVED_FROM))) {
		int fd = box_open_in_root(w->box, full, O_PATH | O_NOFOLLOW, 0);
		have = fd >= 0 && fstat(fd, &st) == 0;
		if (fd >= 0)
			close(fd);
		/* Its owner as the sandbox sees it: ids of its range, less its base. */
		uid_t base = w->box->sb ? w->box->sb->uid_base : 0;
		if (have) {
			st.st_uid = st.st_uid >= base && st.st_uid - base < 65536 ? st.st_uid - base
										  : 65534;
			st.st_gid = st.st_gid >= base && st.st_gid - base < 65536 ? st.st_gid - base
										  : 65534;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(map) && w->rp; i++)
		if (ev->mask & map[i].mask)
			reply_event(w->rp, &(struct reply_ev){ .type = REV_FS,
							       .data = name,
							       .len = strlen(name),
							       .code = map[i].kind,
							       .st = have ? &st : NULL,
							       .path = full });
	/* A new directory of a recursive watch is followed too, opened beneath the watched
	 * one without following links. */
	if (w->recursive && (ev->mask & (IN_CREATE | IN_MOVED_TO)) && (ev->mask & IN_ISDIR)) {
		int fd = open_in_sandbox(w->box, full, RESOLVE_NO_SYMLINKS);
		unsigned depth = 1;
		for (const char *p = name; *p; p++)
			depth += *p == '/';
		if (fd >= 0)
			(void)watch_add(w, fd, name, depth);
	}
}

static void watch_read_done(struct loop_op *op, int res, uint32_t flags)
{
	struct watch *w = (struct watch *)((char *)op - offsetof(struct watch, op));
	w->ops--;
	w->armed = false;
	if (w->closed) {
		if (!w->ops)
			watch_free(w);
		return;
	}
	if (res <= 0 && res != -EINTR && res != -EAGAIN) {
		watch_close(w, res == 0);
		return;
	}
	/* Held while its events go out: one may close it. */
	w->ops++;
	for (int off = 0;
	     res > 0 && off + (int)sizeof(struct inotify_event) <= res && !w->closed;) {
		const struct inotify_event *ev = (const void *)(w->buf + off);
		if (ev->mask & IN_Q_OVERFLOW) {
			watch_close(w, false); /* changes were lost: the reader must know */
			break;
		}
		watch_event(w, ev);
		off += (int)sizeof(*ev) + (int)ev->len;
	}
	w->ops--;
	if (w->closed) {
		if (!w->ops)
			watch_free(w);
		return;
	}
	watch_arm(w);
}

/* Reads on unless its reader has too much to take already. */
static void watch_arm(struct watch *w)
{
	if (w->armed || w->closed || !w->rp || reply_pending(w->rp) >= REPLY_HIGH)
		return;
	w->op.cb = watch_read_done;
	io_uring_prep_read(loop_sqe(&D.loop, &w->op), w->ifd, w->buf, sizeof(w->buf), (uint64_t)-1);
	w->armed = true;
	w->ops++;
}

static void watch_drained(void *ud)
{
	watch_arm(ud);
}

int box_watch(struct reply *rp, struct box *b, const char *path, bool recursive, bool with_entry,
	      struct why *why)
{
	unsigned mine = 0, tenant = 0;
	int r;

	if ((r = exec_refused(b, why)) < 0)
		return r;
	for (struct watch *w = b->watches; w; w = w->next)
		mine++;
	for (struct box *o = D.boxes; o; o = o->next)
		for (struct watch *w = o->watches; w && !strcmp(o->tenant, b->tenant); w = w->next)
			tenant++;
	if (mine >= WATCH_MAX_PER_BOX || tenant >= WATCH_MAX_PER_TENANT ||
	    nwatches >= WATCH_MAX_ALL)
		return why_set(why, -ENOBUFS,
			       "%s: too many directories watched (%u in this sandbox, %u of its "
			       "tenant's, %u on this host); stop one",
			       path, mine, tenant, nwatches);
	int dfd = open_in_sandbox(b, path, 0);
	r = dfd < 0 ? dfd : 0;
	if (r == -ENOENT)
		return why_set(why, -ENOENT, "%s: no such directory", path);
	if (r < 0)
		return why_set(why, r == -ENOTDIR ? -EINVAL : r, "%s: %s", path, strerror(-r));
	struct watch *w = calloc(1, sizeof(*w));
	if (!w) {
		close(dfd);
		return why_set(why, -ENOMEM, "out of memory");
	}
	w->box = b;
	w->recursive = recursive;
	w->with_entry = with_entry;
	w->path = strdup(path);
	w->ifd = !w->path ? -1 : inotify_init1(IN_CLOEXEC);
	nwatches++;
	w->next = b->watches;
	b->watches = w;
	r = w->ifd < 0 ? -errno : watch_add(w, dfd, "", 0);
	if (r < 0) {
		if (w->ifd < 0)
			close(dfd);
		w->closed = true;
		watch_free(w);
		return why_set(why,
			       r == -E2BIG    ? -EFBIG
			       : r == -ENOSPC ? -ENOBUFS
					      : r,
			       "%s: cannot watch it: %s", path,
			       r == -E2BIG    ? "more than 1024 directories (or 65536 entries)"
			       : r == -EINVAL ? "a pseudo file system"
					      : strerror(-r));
	}
	w->rp = rp;
	reply_hold(rp);
	reply_watch(rp, &watch_cbs, w);
	reply_open(rp, STREAM_EVENTS, 0);
	reply_event(rp, &(struct reply_ev){ .type = REV_WATCHING });
	watch_arm(w);
	return 0;
}

void watch_all_stopped(struct box *b)
{
	for (struct watch *w = b->watches, *n; w; w = n) {
		n = w->next;
		watch_close(w, true);
	}
}
