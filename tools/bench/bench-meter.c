// SPDX-License-Identifier: MIT
/* The meter's cost per syscall and on a real workload, interleaved round by round with
 * the meter programs attached and not (a private instance, as `sbx run --usage` loads):
 *  - a getppid loop inside a sandbox and outside any sandbox: ns per call, and the ns
 *    added by the meter;
 *  - bpf_stats: the syscall program's own run time per call;
 *  - compiling C files with gcc inside a sandbox (host image): metered / unmetered.
 * Usage: bench-meter BUILD_DIR HELPER_ROOTFS [ROUNDS] */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../host/sys/meter.h"
#include "../../host/sys/usage.h"
#include "../../sandbox/image.h"
#include "../../sandbox/sandbox.h"
#include "../../sandbox/sysfilter.h"

#define LOOP "2000000"

extern char **environ;
static const char *init;
static double last_cpu_ms; /* of the last sandbox */
static struct sysfilter *filter;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int attach_cb(const struct cgroup *cg, void *userdata)
{
	uint64_t id;
	int r = usage_cgroup_id(cg->v2_path, &id);
	return r < 0 ? r : meter_attach(userdata, id, 0, true);
}

/* Runs @argv in a sandbox over @rootfs (+ @binds); returns its stdout as a number, or
 * the wall time in ms when @wall. */
static double in_sandbox(const char *rootfs, const char *const *binds, char *const *argv,
			 struct meter *m, bool wall)
{
	static int seq;
	char id[32], out[64] = "";
	int pfd[2];
	char *envp[] = { "PATH=/usr/bin:/bin", "HOME=/tmp", NULL };

	snprintf(id, sizeof(id), "bm-%d-%d", (int)getpid(), seq++);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		exit(1);
	struct sandbox_spec spec = {
		.id = id,
		.rootfs = rootfs,
		.binds = binds,
		.argv = argv,
		.envp = envp,
		.tmp_bytes = 512 << 20,
		.filter = filter,
		.die_with_parent = true,
		.stdio = { -1, pfd[1], -1 },
		.on_cgroup = m ? attach_cb : NULL,
		.userdata = m,
	};
	struct sandbox *sb;
	struct sandbox_error err;
	int64_t t0 = now_ns();
	if (sandbox_start(&spec, init, &sb, &err) < 0) {
		fprintf(stderr, "bench: sandbox_start %s in %s: %s: %s\n", argv[0], rootfs,
			sandbox_stage_name(err.stage), strerror(err.err));
		exit(1);
	}
	close(pfd[1]);
	ssize_t n = read(pfd[0], out, sizeof(out) - 1);
	close(pfd[0]);
	int code = sandbox_wait(sb);
	double ms = (double)(now_ns() - t0) / 1e6;
	/* The workload's CPU time: what the meter adds to, with less of the machine's noise. */
	char path[PATH_MAX], buf[256] = "";
	snprintf(path, sizeof(path), "%s/cpu.stat", sb->cg->v2_path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0)
		sscanf(buf, "usage_usec %lf", &last_cpu_ms);
	last_cpu_ms /= 1000;
	if (fd >= 0)
		close(fd);
	sandbox_destroy(sb);
	if (code != 0) {
		fprintf(stderr, "bench: %s exited %d\n", argv[0], code);
		exit(1);
	}
	if (wall)
		return ms;
	out[n > 0 ? n : 0] = '\0';
	return atof(out);
}

static double outside(const char *helper)
{
	char *argv[] = { (char *)helper, LOOP, "time", NULL };
	posix_spawn_file_actions_t fa;
	int pfd[2], st;
	pid_t pid;
	char out[64] = "";

	if (pipe2(pfd, O_CLOEXEC) < 0)
		exit(1);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	if (posix_spawn(&pid, helper, &fa, NULL, argv, environ) != 0)
		exit(1);
	close(pfd[1]);
	ssize_t n = read(pfd[0], out, sizeof(out) - 1);
	close(pfd[0]);
	waitpid(pid, &st, 0);
	posix_spawn_file_actions_destroy(&fa);
	out[n > 0 ? n : 0] = '\0';
	return atof(out);
}

struct bench {
	const char *hroot; /* the helper's rootfs */
	char init[PATH_MAX], helper[PATH_MAX];
	struct image *host;
	char *parent; /* the cgroup the meter's network programs attach to */
	unsigned level;
};

/* Each round's figures, unmetered (_off) and metered (_on). */
struct figures {
	double in_off[64], in_on[64], out_off[64], out_on[64], cc_off[64], cc_on[64];
	double ccpu_off[64], ccpu_on[64], cc_sys[64];
	double prog_ns[64];
};

/* Paths, the seccomp filter, the host image and the sandboxes' cgroup parent; 0 or the
 * exit status. */
static int bench_setup(struct bench *bn, const char *b)
{
	char rel[PATH_MAX], images[PATH_MAX];
	char *ierr = NULL;

	snprintf(bn->init, sizeof(bn->init), "%s/sbx-init", b);
	snprintf(bn->helper, sizeof(bn->helper), "%s/t/getppid-loop", bn->hroot);
	snprintf(rel, sizeof(rel), "%s/images", b);
	if (!realpath(rel, images)) {
		perror(rel);
		return 1;
	}
	init = bn->init;
	if (sysfilter_new_default(&filter) < 0)
		return 1;
	if (image_open("host", images, &bn->host, &ierr) < 0) {
		fprintf(stderr, "bench: host image: %s\n", ierr);
		return 1;
	}
	if (access("/sys/fs/bpf/sbx/slots", F_OK) == 0)
		fprintf(stderr,
			"bench: note: sbxd's pinned meter is attached on this host; every "
			"column carries its cost (stop sbxd and remove /sys/fs/bpf/sbx for a "
			"clean baseline)\n");
	if (cgroup_sandbox_parent(&bn->parent, &bn->level) < 0)
		return 1;
	return 0;
}

/* Round @r's pass with the meter attached (@on) or not; 0 or the exit status. */
static int bench_pass(const struct bench *bn, struct figures *f, int r, bool on)
{
	char *loop[] = { "/t/getppid-loop", LOOP, "time", NULL };
	char *cc[] = { "/bin/sh", "-c",
		       "cd /tmp && for i in $(seq 40); do printf 'int f%d(int x){return x*%d;}\\n' "
		       "$i $i > f$i.c && gcc -O1 -c f$i.c || exit 1; done",
		       NULL };
	struct meter *m = NULL;
	char *why = NULL;

	if (on && meter_open(bn->parent, bn->level, METER_SLOTS, false, &m, &why) < 0) {
		fprintf(stderr, "bench: meter: %s\n", why);
		return 1;
	}
	(on ? f->in_on : f->in_off)[r] = in_sandbox(bn->hroot, NULL, loop, m, false);
	(on ? f->out_on : f->out_off)[r] = outside(bn->helper);
	/* The program's own time, in a run of its own: stats cost time too. */
	if (on) {
		uint64_t ns0 = 0, n0 = 0, ns1 = 0, n1 = 0;
		int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		meter_syscall_prog_stats(m, &ns0, &n0);
		in_sandbox(bn->hroot, NULL, loop, m, false);
		meter_syscall_prog_stats(m, &ns1, &n1);
		if (stats_fd >= 0)
			close(stats_fd);
		f->prog_ns[r] = n1 > n0 ? (double)(ns1 - ns0) / (double)(n1 - n0) : 0;
	}
	(on ? f->cc_on : f->cc_off)[r] =
		in_sandbox(bn->host->rootfs, (const char *const *)bn->host->binds, cc, m, true);
	(on ? f->ccpu_on : f->ccpu_off)[r] = last_cpu_ms;
	if (on) {
		struct meter_counts mc;
		if (meter_read(m, 0, &mc) == 0)
			f->cc_sys[r] = (double)mc.syscalls_total;
	}
	meter_close(m);
	return 0;
}

static void bench_print(struct figures *f, int rounds)
{
	double io = median(f->in_off, rounds), ion = median(f->in_on, rounds);
	double oo = median(f->out_off, rounds), oon = median(f->out_on, rounds);
	double co = median(f->cc_off, rounds), con = median(f->cc_on, rounds);
	printf("%-52s %10s %10s %10s\n", "", "unmetered", "metered", "added");
	printf("%-52s %7.1f ns %7.1f ns %+7.1f ns\n", "getppid inside a sandbox (per call)", io,
	       ion, ion - io);
	printf("%-52s %7.1f ns %7.1f ns %+7.1f ns\n", "getppid outside any sandbox (per call)", oo,
	       oon, oon - oo);
	printf("%-52s %10s %7.1f ns\n", "syscall program run time per call (bpf_stats)", "",
	       median(f->prog_ns, rounds));
	double cpo = median(f->ccpu_off, rounds), cpon = median(f->ccpu_on, rounds);
	printf("%-52s %7.0f ms %7.0f ms %9.3fx\n", "gcc -O1 -c of 40 files in a sandbox: wall", co,
	       con, con / co);
	printf("%-52s %7.0f ms %7.0f ms %9.3fx\n", "  the same: CPU time of the sandbox", cpo, cpon,
	       cpon / cpo);
	/* The machine's noise is larger than the effect: the same from the syscalls counted
	 * and the measured cost of one. */
	double sys = median(f->cc_sys, rounds);
	printf("%-52s %10.0f syscalls x %+.1f ns = %.2f%% of its CPU time\n",
	       "  estimated from its syscalls", sys, ion - io,
	       100.0 * sys * (ion - io) / 1e6 / cpo);
	printf("(medians of %d interleaved rounds; %s calls per loop)\n", rounds, LOOP);
}

int main(int argc, char **argv)
{
	struct bench bn = { 0 };
	struct figures f;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: bench-meter BUILD_DIR HELPER_ROOTFS [ROUNDS]\n");
		return 2;
	}
	bn.hroot = argv[2];
	int rounds = argc > 3 ? atoi(argv[3]) : 5;
	r = bench_setup(&bn, argv[1]);
	if (r)
		return r;
	rounds = rounds > 64 ? 64 : rounds;
	/* ABBA: odd rounds measure metered first, so warm-up favours neither. */
	for (int i = 0; i < rounds; i++)
		for (int pass = 0; pass < 2; pass++)
			if ((r = bench_pass(&bn, &f, i, (pass == 0) == (i % 2 == 1))))
				return r;
	bench_print(&f, rounds);
	return 0;
}
