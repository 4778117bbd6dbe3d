// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "loop.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The oldest queued work this worker may take (slow work only while fewer than slow_max
 * run), unlinked; NULL when there is none. */
static struct work *take(struct loop *l)
{
	for (struct work **p = &l->queue; *p; p = &(*p)->next) {
		struct work *w = *p;
		if (w->slow && l->slow_running >= l->slow_max)
			continue;
		*p = w->next;
		if (l->queue_tail == &w->next)
			l->queue_tail = p;
		l->slow_running += w->slow;
		return w;
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	struct loop *l = arg;

	pthread_mutex_lock(&l->mu);
	for (;;) {
		struct work *w;
		while (!(w = take(l)) && !l->stopping)
			pthread_cond_wait(&l->cv, &l->mu);
		if (!w)
			break;
		pthread_mutex_unlock(&l->mu);
		w->fn(w);
		pthread_mutex_lock(&l->mu);
		if (w->slow) { /* room for queued slow work: a waiting worker looks again */
			l->slow_running--;
			pthread_cond_broadcast(&l->cv);
		}
		w->next = l->done;
		l->done = w;
		uint64_t one = 1;
		(void)!write(l->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

static void efd_arm(struct loop *l);

static void efd_done(struct loop_op *op, int res, uint32_t flags)
{
	struct loop *l = (struct loop *)((char *)op - offsetof(struct loop, efd_op));
	struct work *list, *rev = NULL;

	pthread_mutex_lock(&l->mu);
	list = l->done;
	l->done = NULL;
	pthread_mutex_unlock(&l->mu);
	/* Oldest first. */
	while (list) {
		struct work *n = list->next;
		list->next = rev;
		rev = list;
		list = n;
	}
	while (rev) {
		struct work *n = rev->next;
		rev->done(rev);
		rev = n;
	}
	efd_arm(l);
}

static void efd_arm(struct loop *l)
{
	struct io_uring_sqe *sqe = loop_sqe(l, &l->efd_op);
	io_uring_prep_read(sqe, l->efd, &l->efd_buf, sizeof(l->efd_buf), 0);
}

int loop_init(struct loop *l, unsigned entries, unsigned workers)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN };
	int r;

	memset(l, 0, sizeof(*l));
	r = io_uring_queue_init_params(entries, &l->ring, &p);
	if (r < 0) {
		/* Older kernels: no flags. */
		memset(&p, 0, sizeof(p));
		r = io_uring_queue_init_params(entries, &l->ring, &p);
		if (r < 0)
			return r;
	}
	l->efd = eventfd(0, EFD_CLOEXEC);
	if (l->efd < 0) {
		r = -errno;
		io_uring_queue_exit(&l->ring);
		return r;
	}
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	l->queue_tail = &l->queue;
	l->efd_op.cb = efd_done;
	efd_arm(l);
	l->slow_max = workers > 1 ? workers / 2 : 1;
	l->threads = calloc(workers, sizeof(pthread_t));
	if (!l->threads)
		return -ENOMEM;
	for (unsigned i = 0; i < workers; i++) {
		r = -pthread_create(&l->threads[i], NULL, worker_main, l);
		if (r < 0)
			return r;
		l->nthreads++;
	}
	return 0;
}

void loop_fini(struct loop *l)
{
	pthread_mutex_lock(&l->mu);
	l->stopping = true;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	for (unsigned i = 0; i < l->nthreads; i++)
		pthread_join(l->threads[i], NULL);
	free(l->threads);
	close(l->efd);
	io_uring_queue_exit(&l->ring);
}

struct io_uring_sqe *loop_sqe(struct loop *l, struct loop_op *op)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&l->ring)))
		io_uring_submit(&l->ring);
	io_uring_sqe_set_data(sqe, op);
	return sqe;
}

void loop_submit(struct loop *l)
{
	(void)io_uring_submit(&l->ring);
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	struct __kernel_timespec ts = { .tv_sec = timeout_ms / 1000,
					.tv_nsec = (long long)(timeout_ms % 1000) * 1000000 };
	struct io_uring_cqe *cqe;
	int r;

	r = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, timeout_ms >= 0 ? &ts : NULL, NULL);
	if (r < 0 && r != -ETIME && r != -EINTR)
		return r;
	/* Callbacks may queue new SQEs; they go out on the next round. */
	for (;;) {
		unsigned head, n = 0;
		struct io_uring_cqe *batch[64];
		io_uring_for_each_cqe(&l->ring, head, cqe)
		{
			batch[n++] = cqe;
			if (n == 64)
				break;
		}
		if (!n)
			break;
		struct {
			struct loop_op *op;
			int res;
			uint32_t flags;
		} ev[64];
		for (unsigned i = 0; i < n; i++) {
			ev[i].op = io_uring_cqe_get_data(batch[i]);
			ev[i].res = batch[i]->res;
			ev[i].flags = batch[i]->flags;
		}
		io_uring_cq_advance(&l->ring, n);
		for (unsigned i = 0; i < n; i++)
			if (ev[i].op)
				ev[i].op->cb(ev[i].op, ev[i].res, ev[i].flags);
	}
	return 0;
}

void loop_queue_work(struct loop *l, struct work *w)
{
	pthread_mutex_lock(&l->mu);
	w->next = NULL;
	*l->queue_tail = w;
	l->queue_tail = &w->next;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}
