/* SPDX-License-Identifier: MIT */
/* Between the domain's own files: what one part of a sandbox's life hands another. */
#pragma once

#include "domain.h"

#define EXEC_GRACE_NS 200000000LL /* output still draining after a command exited */

/* exec.c */
/* A message of sbx-init about command @r->id. */
void exec_event(struct box *b, const struct ctl_reply *r);
void exec_check_done(struct exec *x);
/* The sandbox stopped: its commands end. */
void exec_all_stopped(struct box *b);
/* Deadlines and ends of @b's commands, at the box tick. */
void exec_tick(struct box *b, int64_t mono);
/* Why nothing can run in @b now (-EBUSY, -EAGAIN), or 0. */
int exec_refused(const struct box *b, struct why *why);
/* A started command or transfer joins its sandbox and its reply (held, watched). */
void exec_link(struct exec *x, struct box *b, struct reply *rp);
/* Its reply, no longer watched or written by it (the caller releases it), or NULL. */
struct reply *exec_detach(struct exec *x);
/* Its reader took what was pending: reading goes on. */
void exec_resume(void *x);

/* files.c */
void file_deliver(struct exec *x, const char *data, size_t len);
void file_answer(struct reply *rp, struct exec *x);
