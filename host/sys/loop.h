/* SPDX-License-Identifier: MIT */
/* sbxd's event loop: one io_uring ring, and a small pool of worker threads for the
 * work that may block (launching and tearing down sandboxes, file transfers), whose
 * completions come back through an eventfd the ring reads. Every submission carries a
 * struct loop_op whose callback runs, on the loop thread, with the result. */
#pragma once

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct loop_op;
typedef void (*loop_cb)(struct loop_op *op, int res, uint32_t flags);

struct loop_op {
	loop_cb cb;
};

struct work;
typedef void (*work_fn)(struct work *w);

/* Runs fn on a worker thread, then done on the loop thread. Slow work (a checkpoint, a
 * restore: CRIU, up to minutes) takes at most half of the workers at once, so launches,
 * teardowns and other short work never wait behind a queue of it. */
struct work {
	work_fn fn, done;
	struct work *next;
	bool slow;
};

struct loop {
	struct io_uring ring;
	int efd; /* workers' completions */
	uint64_t efd_buf;
	struct loop_op efd_op;
	pthread_t *threads;
	unsigned nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct work *queue, **queue_tail, *done;
	unsigned slow_running, slow_max;
	bool stopping;
};

int loop_init(struct loop *l, unsigned entries, unsigned workers);
void loop_fini(struct loop *l);
/* An SQE for @op (submitting queued ones first when the ring is full). Never NULL. */
struct io_uring_sqe *loop_sqe(struct loop *l, struct loop_op *op);
/* Submits what is queued now: an operation on a descriptor takes its file at submission,
 * so one queued on a descriptor about to be closed is submitted first (a queued one
 * would otherwise act on whatever file gets that number next). */
void loop_submit(struct loop *l);
/* Submits, waits for at least one completion (or @timeout_ms), runs the callbacks. */
int loop_run_once(struct loop *l, int timeout_ms);
void loop_queue_work(struct loop *l, struct work *w);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in ns. */
int64_t mono_ns(void);
int64_t real_ns(void);
