/* SPDX-License-Identifier: MIT */
/* What a workload opens (recorder.c): a fanotify group marking one sandbox's root mount
 * (FAN_OPEN and FAN_OPEN_EXEC, directories too), read by a thread of its own into a set
 * of paths as the sandbox sees them. fanotify, not eBPF: the kernel reports each opened
 * file of exactly that mount (the image, through its overlay; never /proc, /dev or /tmp,
 * which are mounts of their own), with no path rebuilt from kernel structures. Returns 0
 * or -errno. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct recorder;

/* Recorders at once (each a fanotify group, of which the kernel allows 128 a user):
 * -EAGAIN beyond. At most 256 Ki paths each (more: recorder_paths says some were lost). */
#define RECORDER_MAX 32

int recorder_new(struct recorder **ret);
/* Marks @root_fd's mount (a detached mount: the sandbox's root before it is attached).
 * Any thread. */
int recorder_mark(struct recorder *r, int root_fd);
/* Reads what is left, then stops. */
void recorder_stop(struct recorder *r);
/* The paths ("/usr/bin/python3.11"), sorted and unique, *ret_n of them; valid until
 * recorder_free. After recorder_stop. *ret_lost: events the kernel dropped. */
const char *const *recorder_paths(struct recorder *r, size_t *ret_n, bool *ret_lost);
void recorder_free(struct recorder *r);
