// SPDX-License-Identifier: MIT
/* A running sandbox's life: its exit watch and control channel, timeouts, kill,
 * teardown on a worker, delete, and the tick that finds what is due. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <seccomp.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "../../sandbox/image.h"
#include "../../sandbox/instance.h"
#include "../../sandbox/launch.h"
#include "../../sandbox/macro.h"
#include "../../sandbox/rootfs.h"
#include "../../sandbox/sandbox.h"
#include "../../sandbox/text.h"
#include "internal.h"
#include "../sys/recorder.h"
#include "../sys/devices.h"
#include "../sys/layer.h"
#include "../sys/meter.h"
#include "../sys/store.h"
#include "../sys/usage.h"

static void pid_done(struct loop_op *op, int res, uint32_t flags);
static void ctl_done(struct loop_op *op, int res, uint32_t flags);

static void ctl_arm(struct box *b)
{
	if (b->ctl_parking || b->ctl_armed)
		return; /* ctl_done arms it */
	b->ctl_armed = true;
	b->ctl_op.cb = ctl_done;
	struct io_uring_sqe *sqe = loop_sqe(&D.loop, &b->ctl_op);
	io_uring_prep_recv(sqe, b->ctl_fd, &b->ctl_buf, sizeof(b->ctl_buf), 0);
	b->ops++;
}

/* Opens its control channel into b->ctl_fd; its backlog full (processes inside connect
 * to it), the tick tries again for a while (ctl_retry_until), never a wait here. 0, or
 * -errno when it cannot be served. */
int ctl_open(struct box *b)
{
	int fd = ctl_connect(b->sb->pidfd, true);

	/* A full backlog, or no descriptor left in sbxd for now: again, for a while. */
	if (fd == -EAGAIN || fd == -EMFILE || fd == -ENFILE) {
		if (!b->ctl_retry_until)
			b->ctl_retry_until = mono_ns() + CTL_RETRY_NS;
		return 0;
	}
	if (fd < 0)
		return fd;
	b->ctl_retry_until = 0;
	b->ctl_fd = fd;
	b->ctl_parked = false;
	b->ctl_since = mono_ns();
	return 0;
}

/* Closes the channel of an idle sandbox; the next command connects again. An idle
 * sandbox then holds one descriptor in sbxd, its pidfd. */
void ctl_park(struct box *b)
{
	/* A receive still queued takes its file now, not whatever file gets the number. */
	if (b->ctl_armed)
		loop_submit(&D.loop);
	shutdown(b->ctl_fd, SHUT_RDWR); /* ends the receive in flight */
	closep(&b->ctl_fd);
	b->ctl_parked = true;
	b->ctl_parking = b->ctl_armed;
}

int box_ctl_ready(struct box *b)
{
	if (b->ctl_fd >= 0 || !b->ctl_parked)
		return 0;
	int r = ctl_open(b);
	if (r == 0 && b->ctl_fd >= 0)
		ctl_arm(b);
	return r;
}

int box_ctl_connect(struct box *b)
{
	int r = ctl_open(b);
	if (r == 0 && b->ctl_fd >= 0) {
		ctl_arm(b);
		exec_adopt_all(b); /* its kept processes, after a checkpoint */
	}
	return r;
}

static void pid_arm(struct box *b)
{
	b->pid_op.cb = pid_done;
	struct io_uring_sqe *sqe = loop_sqe(&D.loop, &b->pid_op);
	io_uring_prep_poll_add(sqe, b->sb->pidfd, POLLIN);
	b->ops++;
}

struct close_job {
	struct work w;
	int *fds;
	unsigned n;
};

static void close_fn(struct work *w)
{
	struct close_job *j = (struct close_job *)w;
	for (unsigned i = 0; i < j->n; i++)
		close(j->fds[i]);
}

static void close_done(struct work *w)
{
	struct close_job *j = (struct close_job *)w;
	free(j->fds);
	free(j);
}

/* What its launch needed and it no longer does: its cgroup's directory and its layers'
 * mounts. The descriptors sbxd holds bound how many sandboxes it can (RLIMIT_NOFILE);
 * an idle one keeps only its pidfd, and its control channel while in use. */
static void box_drop_launch_fds(struct box *b)
{
	unsigned n;
	int *fds = sandbox_take_layers(b->sb, &n);
	struct close_job *j = fds ? calloc(1, sizeof(*j)) : NULL;

	closep(&b->sb->cg->v2_fd);
	if (!j) {
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
		free(fds);
		return;
	}
	*j = (struct close_job){ .w = { .fn = close_fn, .done = close_done }, .fds = fds, .n = n };
	loop_queue_work(&D.loop, &j->w);
}

/* The box now runs: watch its exit and its control channel. */
void box_running(struct box *b)
{
	box_tick_soon();
	b->state = BOX_RUNNING;
	b->pid = b->sb->pid;
	b->last_active = mono_ns();
	free(b->cgroup_json);
	b->cgroup_json = cgroup_to_json(b->sb->cg);
	free(b->cg_rel);
	const char *v2 = b->sb->cg->v2_path;
	b->cg_rel = strdup(v2 + strlen(b->sb->cg->mode == CGROUP_HYBRID ? "/sys/fs/cgroup/unified"
									: "/sys/fs/cgroup"));
	box_drop_launch_fds(b);
	pid_arm(b);
	if (b->ctl_fd >= 0) {
		ctl_arm(b);
		exec_adopt_all(b); /* a restore's kept processes */
	}
}

struct teardown_job {
	struct work w;
	struct box *b;
	struct sandbox *sb;
	bool remove_dir;
};

static void delete_continue(struct box *b);

static void teardown_fn(struct work *w)
{
	struct teardown_job *j = (struct teardown_job *)w;
	if (j->sb) {
		int r = sandbox_destroy(j->sb);
		if (r < 0)
			logmsg(1, "sandbox %s: teardown: %s", j->b->id, strerror(-r));
	}
	layer_remove(j->b->id);
	if (j->remove_dir)
		remove_state_dir(j->b->dir);
}

static void teardown_done(struct work *w)
{
	struct teardown_job *j = (struct teardown_job *)w;
	struct box *b = j->b;

	free(j);
	b->jobs--;
	if (b->removing && b->waiter && !b->jobs)
		delete_continue(b);
	else
		box_maybe_free(b);
}

static void teardown_queue(struct box *b, bool remove_dir)
{
	struct teardown_job *j = calloc(1, sizeof(*j));

	if (!j) { /* nothing better to do than block */
		sandbox_destroy(b->sb);
		b->sb = NULL;
		layer_remove(b->id);
		return;
	}
	*j = (struct teardown_job){ .w = { .fn = teardown_fn, .done = teardown_done },
				    .b = b,
				    .sb = TAKE_PTR(b->sb),
				    .remove_dir = remove_dir };
	b->jobs++;
	loop_queue_work(&D.loop, &j->w);
}

static void ctl_close(struct box *b)
{
	if (b->ctl_fd < 0)
		return;
	shutdown(b->ctl_fd, SHUT_RDWR);
	close(b->ctl_fd);
	b->ctl_fd = -1;
}

/* The sandbox stopped (or is being removed): every command in it ends too. */
static void box_stopped(struct box *b, int code)
{
	box_tick_soon();
	if (b->state == BOX_RUNNING || b->state == BOX_CREATING)
		D.live--;
	b->state = BOX_EXITED;
	b->ended_ns = real_ns();
	recorder_stop(b->rec);
	usage_finalize(b);
	if (!b->reason)
		b->reason = REASON_EXITED;
	if (b->reason == REASON_TIMEOUT || b->reason == REASON_IDLE_TIMEOUT)
		code = 124;
	b->exit_code = code;
	ctl_close(b);
	exec_all_stopped(b);
	watch_all_stopped(b);
}

int read_status(const char *dir)
{
	char path[4096], buf[32] = "";
	int code = -1;

	snprintf(path, sizeof(path), "%s/status", dir);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0)
		(void)sscanf(buf, "exit %d", &code);
	return code;
}

static void pid_done(struct loop_op *op, int res, uint32_t flags)
{
	struct box *b = (struct box *)((char *)op - offsetof(struct box, pid_op));

	b->ops--;
	if (b->removing || b->state != BOX_RUNNING) {
		box_maybe_free(b);
		return;
	}
	if (res < 0 && res != -ECANCELED) {
		/* Cannot watch it: stop it rather than lose track of it. */
		logmsg(0, "sandbox %s: watching its exit: %s; killing it", b->id, strerror(-res));
		(void)sandbox_kill(b->sb);
	}
	if (b->ckpt) { /* the dump holds its cgroups: after it */
		b->exit_pending = true;
		return;
	}
	box_exited(b);
}

void box_exited(struct box *b)
{
	int code = sandbox_wait(b->sb);
	if (code < 0) /* not our child (re-adopted): sbx-init left its status */
		code = read_status(b->dir);
	logmsg(2, "sandbox %s exited (%d)", b->id, code);
	box_stopped(b, code);
	box_persist(b);
	teardown_queue(b, false);
}

void box_kill(struct box *b, enum box_reason reason)
{
	if (b->killing || !b->sb)
		return;
	b->killing = true;
	b->reason = reason;
	(void)sandbox_kill(b->sb);
}

int box_set_timeout(struct box *b, uint64_t timeout_ns)
{
	if (b->state != BOX_RUNNING || b->killing)
		return -ESRCH;
	b->deadline_ns = real_ns() + (int64_t)timeout_ns;
	b->req.limits.timeout_ns = timeout_ns;
	box_tick_soon();
	box_persist(b);
	return 0;
}

static void delete_continue(struct box *b)
{
	struct reply *rp = b->waiter;

	if (b->jobs)
		return; /* a teardown runs; its completion calls again */
	if (!b->torn_down) {
		b->torn_down = true;
		teardown_queue(b, true);
		return;
	}
	b->waiter = NULL;
	b->state = BOX_REMOVED;
	b->ended_ns = b->ended_ns ? b->ended_ns : real_ns();
	box_persist(b);
	if (reply_alive(rp)) {
		json_t *j = box_json(b);
		json_object_set_new(j, "usage", box_usage_json(b));
		reply_done(rp, REPLY_OK, j);
	}
	reply_release(rp);
	logmsg(2, "sandbox %s removed", b->id);
	box_unlink(b);
	box_maybe_free(b);
}

int box_delete(struct reply *rp, struct box *b, struct why *why)
{
	if (b->state == BOX_CREATING)
		return why_set(why, -EBUSY, "sandbox %s is still being created", b->id);
	if (b->ckpt)
		return why_set(why, -EBUSY, "sandbox %s is being checkpointed", b->id);
	b->removing = true;
	b->waiter = rp;
	reply_hold(rp);
	if (b->state == BOX_RUNNING) {
		b->reason = REASON_DELETED;
		(void)sandbox_kill(b->sb);
		box_stopped(b, 137);
	}
	/* The exit watch and the control channel end with it. */
	if (b->ops) {
		io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &b->pid_op, 0);
		io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &b->ctl_op, 0);
	}
	if (!b->jobs)
		delete_continue(b);
	return 0;
}

/* The next time the scan below has something to do: it is skipped until then (a
 * thousand idle sandboxes need no look ten times a second), and at least once a second.
 * Anything that may bring a due time closer calls box_tick_soon(). A scan walks
 * TICK_WORK_NS of sandboxes per tick (D.scan_next: where the next tick goes on), its
 * due times gathered in pass_real and pass_mono until it ends. */
static int64_t due_real, due_mono, last_scan, pass_real, pass_mono;
static bool soon_in_pass;

void box_tick_soon(void)
{
	due_real = due_mono = 0;
	soon_in_pass = D.scan_next != NULL;
}

static void due_at(int64_t *due, int64_t t)
{
	if (!*due || t < *due)
		*due = t;
}

void box_tick(int64_t mono, int64_t real)
{
	struct box *b = D.scan_next;
	int64_t t0 = mono_ns();
	unsigned seen = 0;

	if (!b) {
		if (due_real && due_mono && real < due_real && mono < due_mono &&
		    mono - last_scan < 1000000000)
			return;
		last_scan = mono;
		pass_real = real + 1000000000;
		pass_mono = mono + 1000000000;
		soon_in_pass = false;
		b = D.boxes;
	}
	for (struct box *n; b; b = n) {
		if (++seen % 64 == 0 && mono_ns() - t0 > TICK_WORK_NS) {
			D.scan_next = b; /* the rest at the next tick */
			return;
		}
		n = b->next;
		if (b->state == BOX_RUNNING && !b->removing && !b->ckpt && b->ctl_retry_until &&
		    b->ctl_fd < 0 && !b->killing) {
			if (mono >= b->ctl_retry_until) {
				logmsg(1,
				       "sandbox %s: its control channel stayed unreachable; "
				       "stopping it",
				       b->id);
				box_kill(b, REASON_LOST);
			} else if (box_ctl_connect(b) < 0) {
				box_kill(b, REASON_LOST);
			} else {
				due_at(&pass_mono, mono + 100000000);
			}
		}
		if (b->state == BOX_RUNNING && !b->removing && !b->ckpt) {
			if (b->deadline_ns && real >= b->deadline_ns &&
			    (!b->req.timeout_checkpoint || snap_checkpoint_timeout(b) < 0))
				box_kill(b, REASON_TIMEOUT);
			else if (b->req.idle_timeout_ns && !b->execs &&
				 mono - b->last_active >= (int64_t)b->req.idle_timeout_ns)
				box_kill(b, REASON_IDLE_TIMEOUT);
			if (b->deadline_ns)
				due_at(&pass_real, b->deadline_ns);
			if (b->req.idle_timeout_ns)
				due_at(&pass_mono,
				       b->last_active + (int64_t)b->req.idle_timeout_ns);
		}
		if (b->state == BOX_RUNNING && b->ctl_fd >= 0 && !b->removing && !b->killing &&
		    !b->ckpt && !b->execs && !b->watches && !b->jobs) {
			int64_t used =
				b->last_active > b->ctl_since ? b->last_active : b->ctl_since;
			if (mono - used >= CTL_IDLE_NS)
				ctl_park(b);
			else
				due_at(&pass_mono, used + CTL_IDLE_NS);
		}
		/* Commands, checkpoints, teardowns and the like: look again at the next tick. */
		if (b->execs || b->ckpt || b->jobs)
			due_at(&pass_mono, mono);
		if (b->state == BOX_EXITED && !b->removing)
			due_at(&pass_real, b->ended_ns + EXITED_KEEP_NS + 1);
		exec_tick(b, mono);
		/* Exited sandboxes stay listed for a while; the database keeps them. */
		if (b->state == BOX_EXITED && !b->removing && !b->jobs && !b->execs &&
		    real - b->ended_ns > EXITED_KEEP_NS)
			box_expire(b);
	}
	D.scan_next = NULL;
	/* What became due during the pass, in a sandbox it had passed: another pass. */
	due_real = soon_in_pass ? 0 : pass_real;
	due_mono = soon_in_pass ? 0 : pass_mono;
}

void box_end_now(struct box *b, bool remove)
{
	usage_finalize(b);
	b->reason = REASON_DELETED;
	sandbox_destroy(b->sb);
	b->sb = NULL;
	layer_remove(b->id);
	if (b->state == BOX_RUNNING) {
		b->state = BOX_EXITED;
		b->exit_code = 137;
		b->ended_ns = real_ns();
	}
	if (remove) {
		b->state = BOX_REMOVED;
		remove_state_dir(b->dir);
	}
	box_persist(b);
}

void box_kill_all(void)
{
	for (struct box *b = D.boxes; b; b = b->next)
		if (b->sb && !b->sb->borrowed) /* containerd's are its own */
			box_end_now(b, false);
}

static void ctl_done(struct loop_op *op, int res, uint32_t flags)
{
	struct box *b = (struct box *)((char *)op - offsetof(struct box, ctl_op));

	b->ops--;
	b->ctl_armed = false;
	if (b->ctl_parking) { /* the end of a parked channel's receive */
		b->ctl_parking = false;
		if (b->ctl_fd >= 0 && !b->removing && b->state == BOX_RUNNING)
			ctl_arm(b); /* connected again meanwhile */
		box_maybe_free(b);
		return;
	}
	if (b->removing || b->state != BOX_RUNNING || b->ctl_fd < 0) {
		box_maybe_free(b);
		return;
	}
	if (res == -EINTR || res == -EAGAIN) {
		ctl_arm(b);
		return;
	}
	if (res != (int)sizeof(b->ctl_buf) && b->ckpt) {
		/* Closed for a checkpoint (our shutdown, answered by sbx-init's close). */
		closep(&b->ctl_fd);
		snap_ckpt_go(b);
		return;
	}
	if (res != (int)sizeof(b->ctl_buf)) {
		/* sbx-init went away; its exit arrives through the pidfd. */
		if (res < 0 && res != -ECANCELED)
			logmsg(3, "sandbox %s: control channel: %s", b->id, strerror(-res));
		return;
	}
	struct ctl_reply r = b->ctl_buf;
	ctl_arm(b);
	exec_event(b, &r);
}
