/* SPDX-License-Identifier: MIT */
/* Between sbxd.c (start-up and the loop) and options.c (the command line). */
#pragma once

#include <stddef.h>

#define DEFAULT_SOCKET "/run/sbx/sbxd.sock"
#define DEFAULT_STATE "/var/lib/sbx"

/* Prints "sbxd: MESSAGE" on one line and returns 1 (the exit status). */
int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* D.opt and the listeners as they are with no option given. */
void options_default(void);
/* The command line into D.opt: 1 to go on, 0 or -status to exit with (help printed, or
 * an error said). */
int options_parse(int argc, char **argv);
/* The limits' defaults against their maxima; -1 once it has said why. */
int options_check(void);
/* A --gpu-device PATH[:MODEL[:BUS]], added to the daemon's GPUs. */
int options_add_gpu(const char *arg);
/* The --gpu-device arguments, added once the host is checked. */
extern const char *gpu_args[16];
extern size_t ngpu_args;
