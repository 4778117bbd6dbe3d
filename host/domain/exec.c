// SPDX-License-Identifier: MIT
/* Commands run inside a sandbox: started by sbx-init over the control channel, their
 * output read through pipes and answered on a reply, collected (JSON) or streamed as
 * events at the pace the reader takes them. The files API's helper is such a command
 * too (files.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <termios.h>

#include "../../sandbox/launch.h"
#include "../../sandbox/macro.h"
#include "../../sandbox/text.h"
#include "../sys/b64.h"
#include "internal.h"

static void exec_gone(void *ud);
static void exec_resume(void *ud);
static void tap_gone(void *ud);
static void tap_drained(void *ud);

static const struct reply_watch exec_watch = {
	.drained = exec_resume,
	.gone = exec_gone,
};

/* Another reader of a kept process's events (exec_attach). */
struct exec_tap {
	struct exec_tap *next;
	struct exec *x;
	struct reply *rp;
};

static const struct reply_watch tap_watch = {
	.drained = tap_drained,
	.gone = tap_gone,
};

/* The most bytes waiting for a process's stdin, and readers of one process. */
#define EXEC_STDIN_MAX (256u << 10)
#define EXEC_STDIN_ALL (64u << 20) /* all commands together */
#define EXEC_MAX_TAPS 16
/* Bytes waiting for kept processes' stdin (exec_input), all of them: bounded host-wide. */
static size_t stdin_queued;

static void stdin_drop(struct exec *x)
{
	if (x->keep)
		stdin_queued -= x->stdin_len + x->stdin_more_len;
	x->stdin_len = x->stdin_more_len = 0;
	free(x->stdin_more);
	x->stdin_more = NULL;
}

/* Kept processes on the host (each holds up to three descriptors of sbxd's). */
static unsigned kept_all;

/* The most kept processes of a sandbox at once. */
#define EXEC_MAX_KEPT 64
#define EXEC_MAX_KEPT_TENANT 1024
#define EXEC_MAX_KEPT_ALL 4096
/* The most a checkpoint carries (each of their pipes is an fd of criu restore). */
#define EXEC_MAX_CARRIED 32

static void exec_maybe_free(struct exec *x)
{
	if (!x->finished || x->ops)
		return;
	struct box *b = x->box;
	for (struct exec **p = &b->execs; *p; p = &(*p)->next)
		if (*p == x) {
			*p = x->next;
			break;
		}
	closep(&x->out_fd);
	closep(&x->err_fd);
	closep(&x->in_fd);
	if (x->tty)
		closep(&x->tty_fd);
	free(x->path);
	stdin_drop(x);
	if (x->keep)
		kept_all--;
	free(x->stdin_data);
	free(x->acc[0]);
	free(x->acc[1]);
	strv_free(x->argv);
	strv_free(x->env_given);
	free(x->cwd);
	free(x->tag);
	free(x);
	box_maybe_free(b);
}

/* The reply is answered (or its reader went): the command no longer writes to it. */
struct reply *exec_detach(struct exec *x)
{
	struct reply *rp = x->rp;
	if (rp)
		reply_watch(rp, NULL, NULL);
	x->rp = NULL;
	return rp;
}

/* An event to every reader of @x's stream. */
static void exec_emit(struct exec *x, const struct reply_ev *ev)
{
	if (x->rp)
		reply_event(x->rp, ev);
	for (struct exec_tap *t = x->taps; t; t = t->next)
		reply_event(t->rp, ev);
}

/* The most a byte of output takes in a JSON answer: "\u0000" for a control byte, two
 * for an escaped one, two for one of a multi-byte character or of output that is not
 * UTF-8 (base64 then: four for three). */
static unsigned json_cost(unsigned char ch)
{
	if (ch == '"' || ch == '\\' || ch >= 0x80 || ch == '\n' || ch == '\t' || ch == '\r' ||
	    ch == '\b' || ch == '\f')
		return 2;
	return ch < 0x20 ? 6 : 1;
}

/* JSON mode: at most exec_output_max a stream, and what its answer will take as JSON
 * (up to six bytes a byte) within what the reply may hold. */
static void exec_collect(struct exec *x, int which, const char *data, size_t len)
{
	size_t max = D.opt.exec_output_max - x->acc_len[which], n = 0;
	uint64_t room = x->rp->ops->room(x->rp), cost = 0;
	for (; n < len && n < max; n++) {
		unsigned k = json_cost((unsigned char)data[n]);
		if (cost + k > room)
			break;
		cost += k;
	}
	if (n < len) {
		len = n;
		x->truncated[which] = true;
	}
	if (!len)
		return;
	char *p = realloc(x->acc[which], x->acc_len[which] + len);
	if (!p)
		return;
	memcpy(p + x->acc_len[which], data, len);
	x->acc[which] = p;
	x->acc_len[which] += len;
	x->rp->ops->charge(x->rp, cost);
}

static void exec_deliver(struct exec *x, int which, const char *data, size_t len)
{
	if ((!x->rp && !x->taps) || x->finished)
		return;
	if (x->kind >= EXEC_FILE_GET) {
		if (x->kind == EXEC_FILE_GET && !which)
			file_deliver(x, data, len);
		if (x->kind == EXEC_FILE_FS && !which)
			fs_collect(x, data, len);
		return;
	}
	if (x->stream) {
		struct reply_ev ev = { .type = which ? REV_STDERR : REV_STDOUT,
				       .data = data,
				       .len = len,
				       .tty = x->tty };
		exec_emit(x, &ev);
		return;
	}
	exec_collect(x, which, data, len);
}

static json_t *exec_result(const struct exec *x)
{
	const char *k1, *k2;
	json_t *o = reply_data_json(x->acc[0] ? x->acc[0] : "", x->acc_len[0], &k1);
	json_t *e = reply_data_json(x->acc[1] ? x->acc[1] : "", x->acc_len[1], &k2);
	json_t *j = json_pack("{s:i,s:b}", "exit_code", x->code, "timed_out", x->timed_out);
	json_object_set_new(j, !strcmp(k1, "data") ? "stdout" : "stdout_b64", o);
	json_object_set_new(j, !strcmp(k2, "data") ? "stderr" : "stderr_b64", e);
	if (x->truncated[0] || x->truncated[1])
		json_object_set_new(j, "truncated", json_true());
	return j;
}

static void exec_finish(struct exec *x)
{
	x->finished = true;
	if (x->out_armed)
		io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &x->out_op, 0);
	if (x->err_armed)
		io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &x->err_op, 0);
	if (x->in_busy)
		io_uring_prep_cancel(loop_sqe(&D.loop, NULL), &x->in_op, 0);
	else
		closep(&x->in_fd);
	x->box->last_active = mono_ns();
	struct reply_ev ev = { .type = REV_EXIT, .code = x->code, .timed_out = x->timed_out };
	if (x->signal_sent && x->code == 128 + x->signal_sent)
		ev.signal = x->signal_sent;
	/* A kept process of a sandbox checkpointed and stopped has not ended: it comes back
	 * with a restore. Its readers see their stream cut, not an exit. */
	bool carried = x->keep && x->stopped;
	while (x->taps) {
		struct exec_tap *t = x->taps;
		x->taps = t->next;
		reply_watch(t->rp, NULL, NULL);
		if (!carried)
			reply_event(t->rp, &ev);
		reply_close(t->rp, !carried);
		reply_release(t->rp);
		free(t);
	}
	struct reply *rp = exec_detach(x);
	if (rp && x->kind >= EXEC_FILE_GET) {
		file_answer(rp, x);
	} else if (rp && x->stream) {
		if (!carried)
			reply_event(rp, &ev);
		reply_close(rp, !carried);
	} else if (rp) {
		reply_done(rp, REPLY_OK, exec_result(x));
	}
	if (rp)
		reply_release(rp);
	exec_maybe_free(x);
}

/* Its reader has not taken what it was sent: reading waits (the pipe fills). */
static bool exec_paused(const struct exec *x)
{
	for (const struct exec_tap *t = x->taps; t; t = t->next)
		if (reply_pending(t->rp) >= REPLY_HIGH)
			return true;
	return x->rp && (x->stream || x->kind == EXEC_FILE_GET) &&
	       reply_pending(x->rp) >= REPLY_HIGH;
}

static void exec_check_done(struct exec *x)
{
	if (x->finished || !x->exited)
		return;
	if (x->out_eof && x->err_eof) {
		exec_finish(x);
		return;
	}
	/* Output still in the pipe after the command exited gets its grace once reading
	 * goes on, not while a slow reader holds it back (a reader that takes nothing is
	 * closed as idle, and then it ends); for at most the idle time, so that a child
	 * left writing to a slow reader cannot keep the command open for ever. */
	int64_t now = mono_ns();
	bool paused = exec_paused(x);
	if (paused && !x->hold_until)
		x->hold_until = now + D.opt.conn_idle_ns;
	if (paused && now < x->hold_until)
		x->grace = now + EXEC_GRACE_NS;
	else if (now >= x->grace)
		exec_finish(x);
}

static void exec_arm(struct exec *x, int which);

static void exec_read_done(struct exec *x, int which, int res)
{
	x->ops--;
	if (which)
		x->err_armed = false;
	else
		x->out_armed = false;
	if (x->finished) {
		exec_maybe_free(x);
		return;
	}
	if (res > 0) {
		exec_deliver(x, which, which ? x->err_buf : x->out_buf, (size_t)res);
		exec_arm(x, which);
	} else if (res == -EINTR || res == -EAGAIN) {
		exec_arm(x, which);
	} else {
		if (which)
			x->err_eof = true;
		else
			x->out_eof = true;
		exec_check_done(x);
	}
}

static void out_done(struct loop_op *op, int res, uint32_t flags)
{
	exec_read_done((struct exec *)((char *)op - offsetof(struct exec, out_op)), 0, res);
}

static void err_done(struct loop_op *op, int res, uint32_t flags)
{
	exec_read_done((struct exec *)((char *)op - offsetof(struct exec, err_op)), 1, res);
}

static void exec_arm(struct exec *x, int which)
{
	bool *armed = which ? &x->err_armed : &x->out_armed;
	bool eof = which ? x->err_eof : x->out_eof;

	if (*armed || eof || x->finished || (!x->started && !x->failed))
		return;
	/* A slow reader of a stream: let the pipe fill; the command then waits. */
	if (exec_paused(x))
		return;
	struct loop_op *op = which ? &x->err_op : &x->out_op;
	op->cb = which ? err_done : out_done;
	struct io_uring_sqe *sqe = loop_sqe(&D.loop, op);
	io_uring_prep_read(sqe, which ? x->err_fd : x->out_fd, which ? x->err_buf : x->out_buf,
			   sizeof(x->out_buf), (uint64_t)-1);
	*armed = true;
	x->ops++;
}

static void exec_resume(void *ud)
{
	struct exec *x = ud;
	exec_arm(x, 0);
	exec_arm(x, 1);
}

static void exec_write_stdin(struct exec *x);

static void in_done(struct loop_op *op, int res, uint32_t flags)
{
	struct exec *x = (struct exec *)((char *)op - offsetof(struct exec, in_op));

	x->ops--;
	x->in_busy = false;
	if (res > 0 && !x->finished) {
		memmove(x->stdin_data, x->stdin_data + res, x->stdin_len - (size_t)res);
		x->stdin_len -= (size_t)res;
		if (x->keep)
			stdin_queued -= (size_t)res;
	} else if (res < 0 && res != -EINTR && res != -EAGAIN) {
		stdin_drop(x); /* the command stopped reading */
		x->stdin_keep = false;
	}
	/* What came while that write was in flight goes next (that buffer was never under a
	 * write, so it could grow). */
	if (!x->stdin_len && x->stdin_more) {
		free(x->stdin_data);
		x->stdin_data = TAKE_PTR(x->stdin_more);
		x->stdin_len = x->stdin_more_len;
		x->stdin_more_len = 0;
	}
	if (x->stdin_len && !x->finished && x->in_fd >= 0) {
		exec_write_stdin(x);
		return;
	}
	/* All written: EOF for it, unless it is kept open for more. */
	if (!x->stdin_keep || x->finished)
		closep(&x->in_fd);
	exec_maybe_free(x);
}

/* Its reader went away. */
static void exec_gone(void *ud)
{
	struct exec *x = ud;
	struct reply *rp = exec_detach(x);
	if (rp)
		reply_release(rp);
	/* An upload's helper sees its input end early, and removes what it wrote; a kept
	 * process runs on. */
	if (!x->exited && x->box->ctl_fd >= 0 && x->kind != EXEC_FILE_PUT && !x->keep)
		(void)ctl_send_signal(x->box->ctl_fd, x->id, SIGKILL);
	/* Reading paused for it goes on (what comes is dropped) to the command's end, also
	 * for a sandbox already removed, whose commands the tick no longer sees. */
	exec_resume(x);
	exec_check_done(x);
}

static void tap_drained(void *ud)
{
	exec_resume(((struct exec_tap *)ud)->x);
}

static void tap_gone(void *ud)
{
	struct exec_tap *t = ud;
	struct exec *x = t->x;
	for (struct exec_tap **p = &x->taps; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			break;
		}
	reply_watch(t->rp, NULL, NULL);
	reply_release(t->rp);
	free(t);
	exec_resume(x);
}

static struct exec *exec_find(struct box *b, uint32_t id)
{
	for (struct exec *x = b->execs; x; x = x->next)
		if (x->id == id)
			return x;
	return NULL;
}

static void exec_failed(struct exec *x, int err)
{
	char msg[256];
	int n = err & CTL_ERR_CWD ? snprintf(msg, sizeof(msg),
					     "sbx: cannot enter the working directory: %s\n",
					     strerror(err & ~CTL_ERR_CWD))
				  : snprintf(msg, sizeof(msg), "sbx: %s: %s\n", x->argv0,
					     err == ENOENT ? "command not found" : strerror(err));
	err &= ~CTL_ERR_CWD;
	exec_deliver(x, 1, msg, (size_t)n);
	x->failed = true;
	exec_resume(x);
	x->exited = true;
	/* A command: the shell's codes; the file helper: why, as an errno. */
	x->code = x->kind >= EXEC_FILE_GET ? err : err == ENOENT ? 127 : 126;
	x->grace = mono_ns() + EXEC_GRACE_NS;
	exec_check_done(x);
}

void exec_event(struct box *b, const struct ctl_reply *r)
{
	struct exec *x = exec_find(b, r->id);
	if (!x || x->exited)
		return;
	switch (r->type) {
	case CTL_STARTED:
		x->started = true;
		x->pid = r->value;
		if (x->stream)
			exec_emit(x, &(struct reply_ev){ .type = REV_START, .pid = r->value });
		exec_resume(x);
		break;
	case CTL_FAILED:
		if (x->started) { /* taken over after a restore, and gone without a word */
			x->exited = true;
			x->code = 137;
			x->grace = mono_ns() + EXEC_GRACE_NS;
			exec_check_done(x);
			break;
		}
		exec_failed(x, r->value);
		break;
	case CTL_EXITED:
		x->exited = true;
		x->code = x->timed_out ? 124 : r->value;
		x->grace = mono_ns() + EXEC_GRACE_NS;
		exec_check_done(x);
		break;
	}
}

/* The sandbox stopped: every command in it ends too. */
void exec_all_stopped(struct box *b)
{
	for (struct exec *x = b->execs; x; x = x->next)
		if (!x->exited) {
			x->stopped = b->reason == REASON_CHECKPOINTED;
			x->exited = true;
			x->code = x->timed_out ? 124 : 137;
			x->grace = mono_ns() + EXEC_GRACE_NS;
		}
	for (struct exec *x = b->execs, *n; x; x = n) {
		n = x->next;
		exec_check_done(x);
	}
}

/* Deadlines of @b's commands; those that exited and drained end. */
void exec_tick(struct box *b, int64_t mono)
{
	for (struct exec *x = b->execs, *xn; x; x = xn) {
		xn = x->next;
		if (x->deadline && !x->exited && mono >= x->deadline && b->ctl_fd >= 0) {
			x->timed_out = true;
			x->deadline = 0;
			(void)ctl_send_signal(b->ctl_fd, x->id, SIGKILL);
		}
		if (x->exited)
			exec_check_done(x);
	}
}

int exec_refused(struct box *b, struct why *why)
{
	if (b->state != BOX_RUNNING || b->killing || b->ckpt)
		return why_set(why, -EBUSY, "sandbox %s is %s", b->id,
			       b->ckpt			 ? "being checkpointed"
			       : b->state == BOX_RUNNING ? "stopping"
							 : box_state_name(b->state));
	int r = box_ctl_ready(b);
	if (r < 0)
		return why_set(why, -EIO, "sandbox %s: its control channel: %s", b->id,
			       strerror(-r));
	if (b->ctl_fd < 0)
		return why_set(why, -EAGAIN, "sandbox %s cannot be reached yet; retry", b->id);
	return 0;
}

void exec_link(struct exec *x, struct box *b, struct reply *rp)
{
	x->box = b;
	x->rp = rp;
	reply_hold(rp);
	reply_watch(rp, &exec_watch, x);
	x->next = b->execs;
	b->execs = x;
	b->last_active = mono_ns();
}

static void exec_write_stdin(struct exec *x)
{
	x->in_busy = true;
	x->in_op.cb = in_done;
	struct io_uring_sqe *sqe = loop_sqe(&D.loop, &x->in_op);
	io_uring_prep_write(sqe, x->in_fd, x->stdin_data, (unsigned)x->stdin_len, (uint64_t)-1);
	x->ops++;
}

static int box_pty(struct box *b, unsigned rows, unsigned cols, int *ret_master, int *ret_slave);

int exec_start(struct reply *rp, struct box *b, struct api_exec *e, bool stream, struct why *why)
{
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, in[2] = { -1, -1 };
	char **envp = NULL;
	struct exec *x = NULL;
	int r;

	box_tick_soon(); /* its deadline, its end */
	r = exec_refused(b, why);
	if (r < 0)
		goto out;
	if (e->keep) {
		/* Each holds descriptors of sbxd's: bounded a sandbox, a tenant, the host. */
		unsigned kept = 0, tenant = 0;
		for (struct exec *k = b->execs; k; k = k->next)
			kept += k->keep && !k->finished;
		for (struct box *o = D.boxes; o && kept < EXEC_MAX_KEPT; o = o->next)
			for (struct exec *k = o->execs; k && !strcmp(o->tenant, b->tenant);
			     k = k->next)
				tenant += k->keep && !k->finished;
		if (kept >= EXEC_MAX_KEPT || tenant >= EXEC_MAX_KEPT_TENANT ||
		    kept_all >= EXEC_MAX_KEPT_ALL) {
			r = why_set(why, -ENOBUFS,
				    "sandbox %s runs %u processes (its tenant %u, the host %u): "
				    "the most it may",
				    b->id, kept, tenant, kept_all);
			goto out;
		}
	}
	x = calloc(1, sizeof(*x));
	if (x)
		x->tty_fd = -1;
	if (x && e->tty) {
		/* One terminal: read and written through the master, its other end the
		 * command's stdio. */
		r = box_pty(b, e->rows, e->cols, &x->tty_fd, &out[1]);
		if (r < 0) {
			r = why_set(why, r, "cannot open a terminal in sandbox %s: %s", b->id,
				    strerror(-r));
			goto out;
		}
		x->tty = true;
		if ((out[0] = fcntl(x->tty_fd, F_DUPFD_CLOEXEC, 3)) < 0 ||
		    (in[1] = fcntl(x->tty_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
			r = why_set(why, -EIO, "cannot start the command: %s", strerror(errno));
			goto out;
		}
	} else if (!x || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
		   ((e->stdin_len || e->keep_stdin) && pipe2(in, O_CLOEXEC) < 0)) {
		r = why_set(why, -EIO, "cannot start the command: %s", strerror(errno));
		goto out;
	}
	r = launch_env_exec(b->envp, e->env, &envp);
	if (r == 0) {
		x->id = ++b->next_exec_id;
		text_printable(e->cmd[0], x->argv0, sizeof(x->argv0));
		int stdio[3] = { in[0] >= 0 ? in[0] : D.devnull, out[1], err[1] };
		const char *cwd = e->workdir	   ? e->workdir
				  : b->req.workdir ? b->req.workdir
						   : LAUNCH_DEFAULT_WORKDIR;
		r = x->tty ? ctl_send_exec_tty(b->ctl_fd, x->id, e->cmd, envp, cwd, out[1])
			   : ctl_send_exec(b->ctl_fd, x->id, e->cmd, envp, cwd, stdio);
		if (r == 0 && e->keep && !(x->cwd = strdup(cwd)))
			r = -ENOMEM;
		strv_free(envp);
	}
	if (r == -EAGAIN)
		r = why_set(why, -EAGAIN, "sandbox %s is busy; retry", b->id);
	else if (r < 0)
		r = why_set(why, -EIO, "cannot start the command: %s", strerror(-r));
	if (r < 0)
		goto out;
	closep(&out[1]);
	closep(&err[1]);
	closep(&in[0]);
	x->out_fd = out[0];
	x->err_fd = err[0];
	x->err_eof = x->tty;
	x->in_fd = in[1];
	x->stream = stream;
	x->stdin_data = TAKE_PTR(e->stdin_data);
	x->stdin_len = e->stdin_len;
	x->keep = e->keep && stream;
	kept_all += x->keep;
	x->stdin_keep = e->keep_stdin || x->tty;
	if (x->keep) {
		x->argv = TAKE_PTR(e->cmd);
		x->env_given = TAKE_PTR(e->env);
		x->tag = TAKE_PTR(e->tag);
	}
	x->deadline = e->timeout_ns ? mono_ns() + (int64_t)e->timeout_ns : 0;
	exec_link(x, b, rp);
	api_exec_clear(e);
	if (stream)
		reply_open(rp, STREAM_EVENTS, 0);
	/* Output is read once sbx-init says it started the command: "start" comes first. */
	if (x->in_fd >= 0 && x->stdin_len)
		exec_write_stdin(x);
	else if (x->in_fd >= 0 && !x->stdin_keep)
		closep(&x->in_fd);
	return 0;
out:
	for (int i = 0; i < 2; i++) {
		closep(&out[i]);
		closep(&err[i]);
		closep(&in[i]);
	}
	if (x) {
		free(x->cwd);
		closep(&x->tty_fd);
	}
	free(x);
	api_exec_clear(e);
	return r;
}

/* A new terminal in @b's own devpts (its /dev/pts/ptmx, resolved in its root without
 * following links, and checked to be a devpts master): the master in *ret_master, its
 * other end in *ret_slave, the window @rows x @cols. */
static int box_pty(struct box *b, unsigned rows, unsigned cols, int *ret_master, int *ret_slave)
{
	char path[64];
	struct statfs sfs;
	struct stat st;
	int unlock = 0;

	/* Looked at before it is opened: only a devpts master is, and without waiting. */
	int node = box_open_in_root(b, "/dev/pts/ptmx", O_PATH, RESOLVE_NO_SYMLINKS);
	int r = node < 0 ? node : 0;
	if (r == 0 &&
	    (fstatfs(node, &sfs) < 0 || sfs.f_type != DEVPTS_SUPER_MAGIC || fstat(node, &st) < 0 ||
	     !S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2))
		r = -ENOTTY;
	int m = -1;
	if (r == 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", node);
		m = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (m < 0 || fcntl(m, F_SETFL, 0) < 0)
			r = -errno;
	}
	if (node >= 0)
		close(node);
	struct winsize ws = { .ws_row = (unsigned short)(rows ? rows : 24),
			      .ws_col = (unsigned short)(cols ? cols : 80) };
	if (r == 0 && (ioctl(m, TIOCSPTLCK, &unlock) < 0 || ioctl(m, TIOCSWINSZ, &ws) < 0))
		r = -errno;
	int s = r == 0 ? ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
	if (r == 0 && s < 0)
		r = -errno;
	if (r < 0) {
		if (m >= 0)
			close(m);
		return r;
	}
	*ret_master = m;
	*ret_slave = s;
	return 0;
}

int exec_resize(struct exec *x, unsigned rows, unsigned cols, struct why *why)
{
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
	if (!x->tty)
		return why_set(why, -EINVAL, "process %d has no terminal", x->pid);
	if (!rows || !cols || rows > 10000 || cols > 10000)
		return why_set(why, -EINVAL, "a terminal of 1-10000 rows and columns");
	if (ioctl(x->tty_fd, TIOCSWINSZ, &ws) < 0)
		return why_set(why, -EIO, "process %d: %s", x->pid, strerror(errno));
	return 0;
}

void exec_feed(struct exec *x, char *data, size_t len)
{
	free(x->stdin_data);
	x->stdin_data = data;
	x->stdin_len = len;
	if (len)
		exec_write_stdin(x);
	else
		closep(&x->in_fd);
}

struct exec *exec_find_kept(struct box *b, int pid, const char *tag)
{
	for (struct exec *x = b->execs; x; x = x->next)
		if (x->keep && x->started && !x->exited &&
		    (tag ? x->tag && !strcmp(x->tag, tag) : x->pid == pid))
			return x;
	return NULL;
}

int exec_attach(struct reply *rp, struct exec *x, struct why *why)
{
	unsigned n = 0;
	for (struct exec_tap *t = x->taps; t; t = t->next)
		n++;
	if (n >= EXEC_MAX_TAPS)
		return why_set(why, -ENOBUFS, "process %d has %u readers, the most it may", x->pid,
			       n);
	struct exec_tap *t = calloc(1, sizeof(*t));
	if (!t)
		return why_set(why, -ENOMEM, "out of memory");
	*t = (struct exec_tap){ .next = x->taps, .x = x, .rp = rp };
	x->taps = t;
	reply_hold(rp);
	reply_watch(rp, &tap_watch, t);
	reply_open(rp, STREAM_EVENTS, 0);
	reply_event(rp, &(struct reply_ev){ .type = REV_START, .pid = x->pid });
	return 0;
}

int exec_input(struct exec *x, const void *data, size_t len, struct why *why)
{
	if (x->in_fd < 0 || !x->stdin_keep)
		return why_set(why, -EBUSY, "process %d: its stdin is closed", x->pid);
	size_t waiting = x->stdin_len + x->stdin_more_len;
	if (waiting + len > EXEC_STDIN_MAX || stdin_queued + len > EXEC_STDIN_ALL)
		return why_set(why, -ENOBUFS,
			       "process %d: %zu bytes wait for its stdin already; retry later",
			       x->pid, waiting);
	if (!len)
		return 0;
	/* The buffer of a write in flight is the kernel's until it completes: never moved
	 * or freed under it. */
	char **buf = x->in_busy ? &x->stdin_more : &x->stdin_data;
	size_t *have = x->in_busy ? &x->stdin_more_len : &x->stdin_len;
	char *p = realloc(*buf, *have + len);
	if (!p)
		return why_set(why, -ENOMEM, "out of memory");
	memcpy(p + *have, data, len);
	*buf = p;
	*have += len;
	stdin_queued += len;
	if (!x->in_busy)
		exec_write_stdin(x);
	return 0;
}

int exec_close_stdin(struct exec *x, struct why *why)
{
	(void)why;
	x->stdin_keep = false;
	if (!x->in_busy)
		closep(&x->in_fd);
	return 0;
}

int exec_signal(struct exec *x, int sig, struct why *why)
{
	struct box *b = x->box;
	if (b->ctl_fd < 0)
		return why_set(why, -EAGAIN, "sandbox %s cannot be reached now; retry", b->id);
	int r = ctl_send_signal(b->ctl_fd, x->id, sig);
	if (r < 0)
		return why_set(why, r == -EAGAIN ? -EAGAIN : -EIO, "process %d: %s", x->pid,
			       strerror(-r));
	x->signal_sent = sig;
	return 0;
}

/* ---- kept processes across a checkpoint ---- */

bool exec_blocks_checkpoint(const struct box *b, const char **why)
{
	unsigned kept = 0;
	for (const struct exec *x = b->execs; x; x = x->next) {
		if (x->finished)
			continue;
		if (!x->keep) {
			*why = "commands are running in it (checkpoint when they are done)";
			return true;
		}
		if (x->tty) {
			*why = "a terminal runs in it (end it first: a terminal is not carried "
			       "across a checkpoint)";
			return true;
		}
		if (++kept > EXEC_MAX_CARRIED) {
			*why = "more processes than a checkpoint carries (32) run in it";
			return true;
		}
	}
	return false;
}

/* CRIU's key of the pipe that @fd is an end of. */
static json_t *pipe_key(int fd)
{
	struct stat st;
	char key[48];
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode))
		return json_null();
	snprintf(key, sizeof(key), "pipe:[%llu]", (unsigned long long)st.st_ino);
	return json_string(key);
}

json_t *exec_carried(const struct box *b)
{
	json_t *arr = json_array();
	for (const struct exec *x = b->execs; x; x = x->next) {
		if (!x->keep || x->finished || x->exited || !x->started)
			continue;
		json_t *argv = json_array(), *env = json_array();
		for (char **a = x->argv; a && *a; a++)
			json_array_append_new(argv, json_string(*a));
		for (char **e = x->env_given; e && *e; e++)
			json_array_append_new(env, json_string(*e));
		json_t *p = json_pack("{s:i,s:o,s:o,s:s,s:o,s:o,s:o}", "pid", x->pid, "argv", argv,
				      "env", env, "cwd", x->cwd ? x->cwd : "/", "in",
				      pipe_key(x->stdin_keep ? x->in_fd : -1), "out",
				      pipe_key(x->out_eof ? -1 : x->out_fd), "err",
				      pipe_key(x->err_eof ? -1 : x->err_fd));
		if (x->tag)
			json_object_set_new(p, "tag", json_string(x->tag));
		json_array_append_new(arr, p);
	}
	return arr;
}

static char **strv_of(json_t *arr)
{
	size_t i, n = json_array_size(arr);
	json_t *v;
	char **out = calloc(n + 1, sizeof(char *));
	json_array_foreach (arr, i, v)
		if (out && !(out[i] = strdup(json_string_value(v) ? json_string_value(v) : ""))) {
			strv_free(out);
			return NULL;
		}
	return out;
}

void exec_restore_kept(struct box *b, json_t *procs, const int *fds, unsigned nfds)
{
	size_t i;
	json_t *p;
	unsigned k = 0;

	json_array_foreach (procs, i, p) {
		int fd[3] = { -1, -1, -1 };
		static const char *const keys[3] = { "in", "out", "err" };
		for (int w = 0; w < 3; w++)
			if (json_is_string(json_object_get(p, keys[w])) && k < nfds)
				fd[w] = fds[k++];
		struct exec *x = calloc(1, sizeof(*x));
		char **argv = strv_of(json_object_get(p, "argv"));
		if (!x || !argv || !argv[0]) {
			for (int w = 0; w < 3; w++)
				closep(&fd[w]);
			strv_free(argv);
			free(x);
			continue;
		}
		x->box = b;
		x->id = ++b->next_exec_id;
		x->kind = EXEC_COMMAND;
		x->stream = x->keep = x->started = true;
		kept_all++;
		x->pid = (int)json_integer_value(json_object_get(p, "pid"));
		x->argv = argv;
		x->env_given = strv_of(json_object_get(p, "env"));
		x->cwd = json_string_value(json_object_get(p, "cwd"))
				 ? strdup(json_string_value(json_object_get(p, "cwd")))
				 : NULL;
		x->tag = json_string_value(json_object_get(p, "tag"))
				 ? strdup(json_string_value(json_object_get(p, "tag")))
				 : NULL;
		x->tty_fd = -1;
		x->in_fd = fd[0];
		x->stdin_keep = fd[0] >= 0;
		x->out_fd = fd[1];
		x->out_eof = fd[1] < 0;
		x->err_fd = fd[2];
		x->err_eof = fd[2] < 0;
		text_printable(argv[0], x->argv0, sizeof(x->argv0));
		x->next = b->execs;
		b->execs = x;
		/* Read from now on; what it wrote before is in the pipe still. */
		exec_resume(x);
	}
}

void exec_adopt_all(struct box *b)
{
	for (struct exec *x = b->execs; x && b->ctl_fd >= 0; x = x->next)
		if (x->keep && x->started && !x->exited &&
		    ctl_send_adopt(b->ctl_fd, x->id, x->pid) < 0)
			logmsg(1, "sandbox %s: process %d cannot be taken over: %s", b->id, x->pid,
			       strerror(errno));
}
