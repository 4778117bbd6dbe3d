// SPDX-License-Identifier: MIT
/* recorder.h: one fanotify group per recorded sandbox. The kernel hands each event with
 * a descriptor of the opened file; its /proc/self/fd link names the file as the
 * sandbox's mount namespace sees it (its root is the marked mount). */
#define _GNU_SOURCE
#include "recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include "../../sandbox/macro.h"

/* The most paths kept (more: the recording says it lost some). */
#define MAX_PATHS 262144

static unsigned live; /* recorders whose fanotify group is open (recorder.h) */

struct recorder {
	int fan;
	pthread_t thread;
	bool running, stop, lost, sorted;
	char **paths;
	size_t n, cap;
};

static void take(struct recorder *r, int fd)
{
	char link[64], path[4096];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t len = readlink(link, path, sizeof(path) - 1);
	if (len <= 0 || path[0] != '/')
		return;
	path[len] = '\0';
	/* /tmp is the sandbox's scratch (the writable layer's, never the image's). */
	if (!strncmp(path, "/tmp/", 5))
		return;
	/* The last few are often the same file (a library read twice): skip repeats. */
	for (size_t i = r->n > 8 ? r->n - 8 : 0; i < r->n; i++)
		if (!strcmp(r->paths[i], path))
			return;
	if (r->n == MAX_PATHS) {
		r->lost = true;
		return;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 1024;
		char **np = realloc(r->paths, cap * sizeof(*np));
		if (!np) {
			r->lost = true;
			return;
		}
		r->paths = np;
		r->cap = cap;
	}
	if ((r->paths[r->n] = strdup(path)))
		r->n++;
	else
		r->lost = true;
}

/* Reads what is queued; 0 when nothing was. */
static int drain(struct recorder *r)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	ssize_t n = read(r->fan, buf, sizeof(buf));

	if (n <= 0)
		return 0;
	for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, n);
	     m = FAN_EVENT_NEXT(m, n)) {
		if (m->mask & FAN_Q_OVERFLOW)
			r->lost = true;
		if (m->fd >= 0) {
			take(r, m->fd);
			close(m->fd);
		}
	}
	return 1;
}

static void *reader(void *arg)
{
	struct recorder *r = arg;
	struct pollfd p = { .fd = r->fan, .events = POLLIN };

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		if (poll(&p, 1, 100) > 0)
			drain(r);
	}
	while (drain(r))
		;
	return NULL;
}

int recorder_new(struct recorder **ret)
{
	if (__atomic_load_n(&live, __ATOMIC_RELAXED) >= RECORDER_MAX)
		return -EAGAIN;
	struct recorder *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fan = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE,
			       O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME);
	if (r->fan < 0) {
		int e = errno;
		free(r);
		return -e;
	}
	int e = pthread_create(&r->thread, NULL, reader, r);
	if (e) {
		close(r->fan);
		free(r);
		return -e;
	}
	r->running = true;
	__atomic_add_fetch(&live, 1, __ATOMIC_RELAXED);
	*ret = r;
	return 0;
}

int recorder_mark(struct recorder *r, int root_fd)
{
	/* A detached mount's descriptor is an O_PATH one, which fanotify_mark does not take
	 * as its object: its /proc/self/fd link leads to the same mount. */
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", root_fd);
	if (fanotify_mark(r->fan, FAN_MARK_ADD | FAN_MARK_MOUNT,
			  FAN_OPEN | FAN_OPEN_EXEC | FAN_ONDIR, AT_FDCWD, link) < 0)
		return -errno;
	return 0;
}

void recorder_stop(struct recorder *r)
{
	if (!r || !r->running)
		return;
	__atomic_store_n(&r->stop, true, __ATOMIC_RELEASE);
	pthread_join(r->thread, NULL);
	r->running = false;
	/* Its group goes now: the kernel allows a user 128 of them. */
	closep(&r->fan);
	__atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

const char *const *recorder_paths(struct recorder *r, size_t *ret_n, bool *ret_lost)
{
	if (!r->sorted && r->n) {
		size_t k = 0;
		qsort(r->paths, r->n, sizeof(*r->paths), cmp);
		for (size_t i = 0; i < r->n; i++) {
			if (k && !strcmp(r->paths[k - 1], r->paths[i])) {
				free(r->paths[i]);
				continue;
			}
			r->paths[k++] = r->paths[i];
		}
		r->n = k;
	}
	r->sorted = true;
	*ret_n = r->n;
	*ret_lost = r->lost;
	return (const char *const *)r->paths;
}

void recorder_free(struct recorder *r)
{
	if (!r)
		return;
	recorder_stop(r);
	closep(&r->fan);
	for (size_t i = 0; i < r->n; i++)
		free(r->paths[i]);
	free(r->paths);
	free(r);
}
