// SPDX-License-Identifier: MIT
/* A sandbox's log (its PID 1's output, written by sbx-init to a file in its state
 * directory), streamed from the file as the reader takes it, never read whole into
 * memory; followed, on as it grows until the sandbox has stopped. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../sandbox/macro.h"
#include "internal.h"

struct log_reader {
	struct reply *rp;
	int fd;
	uint64_t off;
	bool once; /* to its present end, not on as it grows */
	char id[16];
};

static void log_pump(void *ud);
static void log_gone(void *ud);

static const struct reply_watch log_watch = {
	.drained = log_pump,
	.gone = log_gone,
	.poll = true,
};

static void log_end(struct log_reader *l, bool whole)
{
	struct reply *rp = l->rp;
	reply_watch(rp, NULL, NULL);
	closep(&l->fd);
	free(l);
	if (whole)
		reply_close(rp, true);
	reply_release(rp);
}

static void log_gone(void *ud)
{
	log_end(ud, false);
}

static void log_pump(void *ud)
{
	struct log_reader *l = ud;
	char buf[65536];

	struct box *b = box_find(l->id, NULL);
	for (int i = 0; i < 16 && reply_pending(l->rp) < REPLY_HIGH; i++) {
		ssize_t n = pread(l->fd, buf, sizeof(buf), (off_t)l->off);
		if (n <= 0)
			break;
		l->off += (uint64_t)n;
		reply_write(l->rp, buf, (size_t)n);
	}
	/* sbx-init writes its last output before it exits: once the sandbox has stopped (or
	 * at once, without follow) and nothing is left to read, the stream ends. */
	struct stat st;
	if ((l->once || !b || b->state != BOX_RUNNING) && fstat(l->fd, &st) == 0 &&
	    (uint64_t)st.st_size <= l->off)
		log_end(l, true);
}

int box_logs(struct reply *rp, struct box *b, bool follow, struct why *why)
{
	char path[4096];
	int fd = -1;

	if (b->dir) {
		snprintf(path, sizeof(path), "%s/log", b->dir);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && errno != ENOENT) /* ENOENT: nothing written yet */
			return why_set(why, -EIO, "log: %s", strerror(errno));
	}
	struct log_reader *l = fd >= 0 ? calloc(1, sizeof(*l)) : NULL;
	if (fd >= 0 && !l) {
		close(fd);
		return why_set(why, -ENOMEM, "out of memory");
	}
	reply_open(rp, STREAM_TEXT, 0);
	if (!l) {
		reply_close(rp, true);
		return 0;
	}
	*l = (struct log_reader){ .rp = rp, .fd = fd, .once = !follow };
	snprintf(l->id, sizeof(l->id), "%s", b->id);
	reply_hold(rp);
	reply_watch(rp, &log_watch, l);
	log_pump(l);
	return 0;
}
