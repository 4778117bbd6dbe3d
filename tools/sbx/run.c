// SPDX-License-Identifier: MIT
/* sbx run: a one-shot sandbox started with libsandbox directly, without a daemon; sbx
 * waits for it, forwards signals, enforces --timeout and exits with its status. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "../../sandbox/image.h"
#include "../../sandbox/launch.h"
#include "../../sandbox/macro.h"
#include "../../sandbox/sysfilter.h"
#include "sbx.h"

/* What a run holds from its options to its end. */
struct run {
	struct run_opts o;
	struct image *img;
	struct sysfilter *filter;
	char *images, *init;
	char **env;
	char id[16];
	int sigfd;
	struct run_usage *usage; /* --usage only */
};

static void run_clear(struct run *run)
{
	run_usage_free(run->usage);
	closep(&run->sigfd);
	launch_env_free(run->env);
	free(run->init);
	free(run->images);
	sysfilter_free(run->filter);
	image_free(run->img);
}

/* A file next to this executable (build/sbx -> build/<name>), unless @env_var names one. */
static char *beside_self(const char *env_var, const char *name)
{
	const char *e = getenv(env_var);
	return e && e[0] ? strdup(e) : image_beside_exe(name);
}

/* The limits a run gets when it sets none (sbxd's built-in defaults), and the sizes no
 * tmpfs may exceed: the host's memory. */
static int run_limits(struct run_opts *o)
{
	static const struct sandbox_limits def = LAUNCH_DEFAULT_LIMITS;
	uint64_t ram = spec_host_memory();

	launch_limits_fill(&o->limits, &def);
	if (ram && o->writable_bytes > ram)
		return -sbx_die("--writable-size: at most this host's memory (%" PRIu64 " bytes)",
				ram);
	if (ram && o->tmp_bytes > ram)
		return -sbx_die("--tmp-size: at most this host's memory (%" PRIu64 " bytes)", ram);
	return 0;
}

/* sbx-init, the image, the seccomp filter and an id: 0 or EXIT_SBX. */
static int run_prepare(struct run *run)
{
	_cleanup_free_ char *img_err = NULL, *filter_err = NULL;
	int r;

	run->images = beside_self("SBX_IMAGES", "images");
	run->init = beside_self("SBX_INIT", "sbx-init");
	if (!run->images || !run->init)
		return sbx_die("cannot locate the images directory or sbx-init");
	if (access(run->init, X_OK) < 0)
		return sbx_die("sbx-init not found at %s (build it with make)", run->init);
	r = image_open(run->o.image, run->images, &run->img, &img_err);
	if (r == -ENOENT && !strchr(run->o.image, '/')) {
		char *serr = NULL;
		int s = run_store_image(run->o.image, &run->img, &serr);
		if (s != -ENOENT) {
			free(img_err);
			img_err = serr;
			r = s;
		}
	}
	if (r < 0)
		return sbx_die("%s", img_err ? img_err : strerror(-r));
	/* The image's defaults where no option says otherwise. */
	unsigned long u, g;
	if (!run->o.workdir && run->img->workdir)
		run->o.workdir = run->img->workdir;
	if (!run->o.set_user && run->img->user && sscanf(run->img->user, "%lu:%lu", &u, &g) == 2 &&
	    u <= 65534 && g <= 65534) {
		run->o.set_user = true;
		run->o.uid = (uid_t)u;
		run->o.gid = (gid_t)g;
	}
	r = sysfilter_new_named(run->o.seccomp, &run->filter, &filter_err);
	if (r < 0)
		return sbx_die("--seccomp: %s", filter_err ? filter_err : strerror(-r));
	r = launch_id_new("", run->id, sizeof(run->id));
	if (r < 0)
		return sbx_die("getrandom: %s", strerror(-r));
	return 0;
}

/* Environment: defaults, then the image's, then the host's TERM where the image sets
 * none, then --env (launch_env_build()). 0 or EXIT_SBX. */
static int run_env(struct run *run)
{
	const struct run_opts *o = &run->o;
	const struct launch_env_src src = {
		.hostname = launch_hostname(o->hostname, run->id),
		.image = run->img->env,
		.term = getenv("TERM"),
		.request = (char *const *)o->env,
	};
	int r = launch_env_build(&src, &run->env);

	return r < 0 ? sbx_die("environment: %s", strerror(-r)) : 0;
}

/* Signals for the workload arrive on a signalfd and are forwarded to sbx-init. */
static int run_signals(struct run *run)
{
	sigset_t fwd;

	sigemptyset(&fwd);
	for (int s = 0, sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 }; s < 6; s++)
		sigaddset(&fwd, sigs[s]);
	sigprocmask(SIG_BLOCK, &fwd, NULL);
	run->sigfd = signalfd(-1, &fwd, SFD_CLOEXEC);
	if (run->sigfd < 0)
		return sbx_die("signalfd: %s", strerror(errno));
	return 0;
}

/* Waits for the sandbox, forwarding signals and enforcing the timeout. */
static int supervise(struct sandbox *sb, int sigfd, const struct run_opts *o)
{
	int64_t deadline = o->limits.timeout_ns ? sbx_now_ns() + (int64_t)o->limits.timeout_ns : 0;

	for (;;) {
		struct pollfd pfd[2] = { { sb->pidfd, POLLIN, 0 }, { sigfd, POLLIN, 0 } };
		int timeout_ms = -1;

		if (deadline) {
			int64_t left = deadline - sbx_now_ns();
			if (left <= 0) {
				sandbox_kill(sb);
				sandbox_wait(sb);
				fprintf(stderr, "%s: sandbox timed out after %s; killed\n",
					sbx_prog, o->timeout_text);
				return EXIT_TIMEOUT;
			}
			timeout_ms = (int)((left + 999999) / 1000000);
		}
		if (poll(pfd, 2, timeout_ms) < 0 && errno != EINTR)
			return sbx_die("poll: %s", strerror(errno));
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof(si)) == sizeof(si))
				(void)sandbox_signal(sb, (int)si.ssi_signo);
		}
		if (pfd[0].revents & POLLIN)
			return sandbox_wait(sb);
	}
}

/* Starts the sandbox, waits for it, writes --usage and tears it down: its exit status. */
static int run_sandbox(struct run *run, const struct sandbox_spec *spec)
{
	struct sandbox *sb;
	struct sandbox_error serr;
	int64_t t0 = sbx_now_ns();
	int r = sandbox_start(spec, run->init, &sb, &serr);

	if (r < 0) {
		if (serr.stage == STAGE_WORKDIR)
			return sbx_die("--workdir %s: %s", run->o.workdir, strerror(serr.err));
		if (serr.stage == STAGE_CGROUP && serr.err == EOPNOTSUPP)
			return sbx_die(
				"this host's cgroup v2 does not delegate the memory, cpu or pids "
				"controller that --memory, --cpus or --pids (or their defaults) "
				"need");
		return sbx_die("sandbox setup failed at %s: %s", sandbox_stage_name(serr.stage),
			       strerror(serr.err));
	}
	int code = supervise(sb, run->sigfd, &run->o);
	if (run->usage)
		run_usage_write(run->usage, sb, &spec->limits, sbx_now_ns() - t0, code);
	r = sandbox_destroy(sb);
	if (r < 0)
		fprintf(stderr, "%s: warning: cgroup teardown: %s\n", sbx_prog, strerror(-r));
	return code;
}

int cmd_run(int argc, char **argv)
{
	_cleanup_(run_clear) struct run run = {
		.o = { .image = LAUNCH_DEFAULT_IMAGE, .tmp_bytes = LAUNCH_DEFAULT_TMP_BYTES },
		.sigfd = -1,
	};
	const struct run_opts *o = &run.o;
	int r, cmd;

	sbx_prog = "sbx run";
	cmd = runopts_parse(argc, argv, &run.o);
	if (cmd <= 0)
		return -cmd;
	/* A network of its own is sbxd's to give: the sandbox is made there. */
	if (o->net == NET_INTERNET)
		return sbx_run_remote(o, argc - cmd, argv + cmd);
	r = run_limits(&run.o);
	if (r < 0)
		return -r;
	r = run_prepare(&run);
	if (!r)
		r = run_env(&run);
	if (r)
		return r;

	struct sandbox_spec spec = {
		.id = run.id,
		.rootfs = run.img->rootfs,
		.lowers = (const char *const *)run.img->lowers,
		.binds = (const char *const *)run.img->binds,
		.argv = argv + cmd,
		.envp = run.env,
		.workdir = o->workdir,
		.hostname = o->hostname,
		.set_user = o->set_user,
		.uid = o->uid,
		.gid = o->gid,
		.limits = o->limits,
		.writable_bytes = o->writable_bytes,
		.tmp_bytes = o->tmp_bytes,
		.net = o->net,
		.time_ns = true,
		.die_with_parent = true,
		.dev_shared = true,
		.filter = run.filter,
		.stdio = { -1, -1, -1 },
	};
	/* Before the signals are blocked: the musl sbx becomes sbx-full here (lean.c). */
	if (o->usage_out) {
		run.usage = run_usage_start(run.id, o->usage_out, &spec);
		if (!run.usage)
			return EXIT_SBX;
	}
	r = run_signals(&run);
	if (r)
		return r;
	return run_sandbox(&run, &spec);
}
