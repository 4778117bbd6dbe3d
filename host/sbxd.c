// SPDX-License-Identifier: MIT
/* sbxd: the sandbox host daemon. One io_uring loop serves the HTTP/JSON API on a unix
 * socket (and optionally TCP), launches and watches sandboxes, and keeps its state in
 * SQLite so that a restarted daemon takes its running sandboxes back.
 * Usage: sbxd [OPTIONS] | sbxd tenant add NAME [--state-dir DIR] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../sandbox/image.h"
#include "../sandbox/instance.h"
#include "../sandbox/launch.h"
#include "../sandbox/macro.h"
#include "../sandbox/idmap.h"
#include "../sandbox/rootfs.h"
#include "../sandbox/sandbox.h"
#include "../sandbox/spec.h"
#include "../sandbox/sysfilter.h"
#include "domain/domain.h"
#include "edge/e2b.h"
#include "domain/images.h"
#include "edge/edge.h"
#include "../sandbox/text.h"
#include "sys/devices.h"
#include "sys/meter.h"
#include "billing/rates.h"
#include "sys/store.h"
#include "sbxd.h"

#define TICK_MS 50

struct daemon D;

static int sig_fd = -1;
static struct loop_op sig_op, tick_op;
static char sig_buf[128];
static struct __kernel_timespec tick_ts;

int die(const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	/* One line, whatever the values it quotes hold (control bytes become '?'). */
	va_start(ap, fmt);
	text_verror(&msg, 0, fmt, ap);
	va_end(ap);
	fprintf(stderr, "sbxd: %s\n", msg ? msg : "out of memory");
	free(msg);
	return 1;
}

static int cmd_tenant(int argc, char **argv)
{
	const char *state = DEFAULT_STATE, *name = NULL;
	struct store *s;
	char *token;
	int r;

	if (argc < 3 || strcmp(argv[1], "add"))
		return die("usage: sbxd tenant add NAME [--state-dir DIR]");
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--state-dir") && i + 1 < argc)
			state = argv[++i];
		else if (!name && argv[i][0] != '-')
			name = argv[i];
		else
			return die("tenant add: unexpected argument \"%s\"", argv[i]);
	}
	if (!name)
		return die("usage: sbxd tenant add NAME [--state-dir DIR]");
	if (!store_tenant_name_valid(name))
		return die(
			"tenant add: \"%s\" is not a valid name (1-32 of a-z 0-9 - _; not admin)",
			name);
	r = store_open(state, &s);
	if (r < 0)
		return die("state database in %s: %s", state, strerror(-r));
	r = store_tenant_add(s, name, &token);
	store_close(s);
	if (r == -EEXIST)
		return die("tenant add: tenant \"%s\" exists already", name);
	if (r < 0)
		return die("tenant add: %s", strerror(-r));
	printf("%s\n", token);
	free(token);
	return 0;
}

static int load_rates(struct rates **ret, char **ret_err)
{
	if (!D.opt.rates_path)
		return rates_default(ret);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	FILE *f = fopen(D.opt.rates_path, "re");
	if (!f)
		return text_error(ret_err, -errno, "--rates %s: %s", D.opt.rates_path,
				  strerror(errno));
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && len < (1 << 20)) {
		char *t = realloc(text, len + n + 1);
		if (!t) {
			fclose(f);
			return -ENOMEM;
		}
		text = t;
		memcpy(text + len, buf, n);
		len += n;
	}
	fclose(f);
	return rates_parse(D.opt.rates_path, text ? text : "", len, ret, ret_err);
}

static void reload_rates(void)
{
	_cleanup_free_ char *err = NULL;
	struct rates *r;

	if (!D.opt.rates_path) {
		logmsg(2, "SIGHUP: no --rates file to reload");
		return;
	}
	if (load_rates(&r, &err) < 0) {
		logmsg(0, "SIGHUP: %s; keeping the current rate card", err ? err : "cannot load");
		return;
	}
	struct rates *old = D.rates;
	D.rates = r;
	bill_rates_changed(old);
	rates_free(old);
	logmsg(2, "SIGHUP: rate card reloaded from %s", D.opt.rates_path);
}

/* ---- signals and the tick ---- */

static void sig_arm(void);

static void sig_done(struct loop_op *op, int res, uint32_t flags)
{
	struct signalfd_siginfo si;

	if (res == (int)sizeof(si)) {
		memcpy(&si, sig_buf, sizeof(si));
		if (si.ssi_signo == SIGHUP) {
			reload_rates();
		} else if (!D.stopping) {
			logmsg(2, "signal %d: finishing requests in flight, then exiting%s",
			       (int)si.ssi_signo, D.opt.kill_on_exit ? "; sandboxes stop" : "");
			D.stopping = true;
			D.stop_deadline = mono_ns() + 10000000000LL;
			server_stop_listening();
		} else if (si.ssi_signo == SIGINT) {
			D.stop_deadline = 0; /* a second ^C: now */
		}
	}
	sig_arm();
}

static void sig_arm(void)
{
	sig_op.cb = sig_done;
	io_uring_prep_read(loop_sqe(&D.loop, &sig_op), sig_fd, sig_buf,
			   sizeof(struct signalfd_siginfo), 0);
}

static void tick_arm(void);

/* The database's log into the file, on a worker, once it is due. */
static struct wal_job {
	struct work w;
	char *path;
	bool running;
} wal;

static void wal_fn(struct work *w)
{
	int r = store_wal_checkpoint(((struct wal_job *)w)->path);
	if (r < 0)
		logmsg(3, "state database: checkpoint: %s", strerror(-r));
}

static void wal_done(struct work *w)
{
	((struct wal_job *)w)->running = false;
}

static void wal_tick(void)
{
	if (wal.running || !D.store || !store_wal_due(D.store) ||
	    (!wal.path && !(wal.path = strdup(store_path(D.store)))))
		return;
	wal.running = true;
	wal.w = (struct work){ .fn = wal_fn, .done = wal_done };
	loop_queue_work(&D.loop, &wal.w);
}

static void tick_done(struct loop_op *op, int res, uint32_t flags)
{
	int64_t mono = mono_ns();

	conn_tick(mono);
	/* Deadlines to 100 ms; the ledger's boundaries as they pass. */
	if (mono - D.box_tick_last >= 100000000) {
		D.box_tick_last = mono;
		box_tick(mono, real_ns());
		templates_tick(mono);
		warm_tick(mono);
	}
	bill_tick(real_ns());
	box_meter_tick(mono);
	wal_tick();
	tick_arm();
}

static void tick_arm(void)
{
	tick_op.cb = tick_done;
	tick_ts = (struct __kernel_timespec){ .tv_nsec = TICK_MS * 1000000LL };
	io_uring_prep_timeout(loop_sqe(&D.loop, &tick_op), &tick_ts, 0, 0);
}

static void quickstart(void)
{
	const char *sock = D.opt.socket_path;

	fprintf(stderr, "sbxd %s: listening on %s%s%s (cgroups: %s, state: %s)\n\n", SBX_VERSION,
		sock, D.opt.listen ? " and " : "", D.opt.listen ? D.opt.listen : "",
		cgroup_mode_name(D.cgmode), D.opt.state_dir);
	fprintf(stderr, "Try, from another terminal:\n");
	if (strcmp(sock, DEFAULT_SOCKET))
		fprintf(stderr, "  export SBX_SOCKET=%s\n", sock);
	fprintf(stderr,
		"  id=$(build/sbx create --image base --memory 128M --timeout 10m)\n"
		"  build/sbx exec $id -- sh -c 'echo hi; echo err >&2; exit 4'\n"
		"  echo data | build/sbx cp - $id:/tmp/in.txt && build/sbx cp $id:/tmp/in.txt -\n"
		"  snap=$(build/sbx checkpoint --leave-running $id)   # CRIU snapshot\n"
		"  build/sbx restore $snap; build/sbx fork $id -n 2; build/sbx snapshots\n"
		"  build/sbx run --net internet --image host -- curl -sI https://example.org%s\n"
		"  build/sbx image ls                  # images, and the recipes not built yet\n"
		"  build/sbx image build python        # python, node, agent: about a minute each\n"
		"  build/sbx image import app.tar --name app   # a docker save tar, an OCI layout\n"
		"  build/sbx usage $id; build/sbx bill\n"
		"  build/sbx ls; build/sbx inspect $id; build/sbx rm $id $snap\n"
		"  curl --unix-socket %s http://x/v1/sandboxes\n\n",
		D.net_on ? "" : "   # networking is off", sock);
	/* The E2B SDK, on the TCP listener. */
	if (D.opt.listen)
		fprintf(stderr,
			"The E2B SDK, unchanged (README: Use the E2B SDK):\n"
			"  export E2B_API_URL=http://%s E2B_SANDBOX_URL=http://%s\n"
			"  export E2B_API_KEY=$(build/sbxd tenant add me --state-dir %s)\n\n",
			D.opt.listen, D.opt.listen, D.opt.state_dir);
	else
		fprintf(stderr, "The E2B SDK: start sbxd with --listen 127.0.0.1:3000 (README: Use "
				"the E2B SDK).\n\n");
	fprintf(stderr, "Stop with Ctrl-C (sandboxes keep running unless --kill-on-exit).\n");
}

/* The stages of start-up below return 0, or sbxd's exit status once they have said why. */

/* Root, descriptors, sbx-init and the images, and the cgroup hierarchy. */
static int start_host(void)
{
	if (geteuid() != 0)
		return die("must run as root (it creates namespaces and cgroups)");
	/* Room for every connection of every pool and every sandbox's descriptors: an idle
	 * sandbox holds one (its pidfd), one in use a few more while it is (its control
	 * channel, its commands' pipes). Their own soft limit is set apart, at launch. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &nofile);
	}
	if (!D.opt.images_dir && !(D.opt.images_dir = image_beside_exe("images")))
		return die("cannot locate the images directory");
	if (!(D.opt.init_path = image_beside_exe("sbx-init")) || access(D.opt.init_path, X_OK) < 0)
		return die("sbx-init not found beside sbxd (build it with make)");
	/* Made now, so that a host that cannot have it says so at once. */
	char *init_copy = NULL;
	int r = rootfs_runtime_init(D.opt.init_path, &init_copy);
	free(init_copy);
	if (r < 0)
		return die("%s: %s", ROOTFS_RUNTIME_DIR, strerror(-r));
	/* Each launch copies a mount namespace: a small one of its own, not the host's with
	 * the layers of the sandboxes already running. */
	r = sandbox_mntns_template();
	if (r < 0)
		logmsg(1, "mount namespace template: %s; each launch copies every sandbox's mounts",
		       strerror(-r));
	D.mntns_fd = r < 0 ? 0 : r;
	idmap_sweep();
	D.started_mono = mono_ns();

	r = cgroup_detect(&D.cgmode);
	if (r < 0)
		return die("no usable cgroup hierarchy: %s", strerror(-r));
	/* Launches rename a pooled v1 cgroup rather than make one (1 ms a memory cgroup). */
	r = cgroup_pool_enable(4);
	if (r < 0)
		logmsg(1, "cgroup pool: %s; launches make their v1 cgroups", strerror(-r));
	/* Launches move each sandbox into its v1 cgroups: without this, every move may
	 * wait out an RCU grace period (--no-favordynmods keeps the mount as it is). */
	if (D.cgmode == CGROUP_HYBRID && !D.opt.no_favordynmods) {
		r = cgroup_favor_dynmods();
		if (r < 0)
			logmsg(1, "cgroup2 favordynmods: %s; launches may stall on cgroup moves",
			       strerror(-r));
		else if (r > 0)
			logmsg(2, "remounted cgroup2 with favordynmods (fast cgroup moves)");
	}
	return 0;
}

/* The state directory, locked (*ret_lock_fd, held while sbxd runs), its database, the
 * rate card and the ledger. */
static int start_state(int *ret_lock_fd)
{
	char path[PATH_MAX];
	int r;

	if (mkdir(D.opt.state_dir, 0700) < 0 && errno != EEXIST)
		return die("state directory %s: %s", D.opt.state_dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/sandboxes", D.opt.state_dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return die("%s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/sbxd.lock", D.opt.state_dir);
	*ret_lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*ret_lock_fd < 0 || flock(*ret_lock_fd, LOCK_EX | LOCK_NB) < 0)
		return die("state directory %s is in use by another sbxd", D.opt.state_dir);
	r = store_open(D.opt.state_dir, &D.store);
	if (r < 0)
		return die("state database in %s: %s", D.opt.state_dir, strerror(-r));
	{
		_cleanup_free_ char *err = NULL;
		r = load_rates(&D.rates, &err);
		if (r < 0)
			return die("%s", err ? err : strerror(-r));
	}
	r = ledger_open(store_db(D.store), &D.ledger);
	if (r == 0)
		r = bill_init();
	if (r < 0)
		return die("ledger in %s: %s", D.opt.state_dir, strerror(-r));
	r = images_init();
	if (r < 0)
		return die("image store in %s/images: %s", D.opt.state_dir, strerror(-r));
	r = e2b_init();
	if (r < 0)
		return die("the E2B surface's key in %s: %s", D.opt.state_dir, strerror(-r));
	return 0;
}

/* What launches need: the seccomp filter, /dev/null, the GPUs and the device allowlist. */
static int start_devices(void)
{
	int r = sysfilter_new_default_cached(SYSFILTER_CACHE_DIR, &D.filter);
	if (r < 0)
		return die("seccomp filter: %s", strerror(-r));
	D.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	r = gpu_discover_nvidia(D.opt.nvidia_root ? D.opt.nvidia_root : "");
	if (r > 0)
		logmsg(2, "%d NVIDIA GPU%s found", r, r > 1 ? "s" : "");
	for (size_t i = 0; i < ngpu_args; i++)
		if (options_add_gpu(gpu_args[i]) < 0)
			return 1;
	gpu_nvml_init();
	if (devices_open(&D.devices, &D.devices_why) < 0)
		logmsg(1, "device allowlist is off: %s", D.devices_why ? D.devices_why : "?");
	return 0;
}

/* The eBPF meter, pinned; without it usage says why (D.meter_why). */
static int start_metering(void)
{
	_cleanup_free_ char *parent = NULL;
	unsigned level;
	int r = D.opt.no_metering ? -ECANCELED : cgroup_sandbox_parent(&parent, &level);

	if (D.opt.no_metering)
		D.meter_why = strdup("disabled by --no-metering");
	else if (r < 0 && asprintf(&D.meter_why, "sandbox cgroup parent: %s", strerror(-r)) < 0)
		D.meter_why = NULL;
	if (r == 0 &&
	    meter_open(parent, level, D.opt.max_sandboxes, true, &D.meter, &D.meter_why) < 0)
		D.meter = NULL;
	/* As many slots as the meter counts (kept pinned maps may count more). */
	D.nslots = D.meter ? meter_slots(D.meter) : METER_SLOTS_FOR(D.opt.max_sandboxes);
	if (!(D.slot_used = calloc(D.nslots, 1)))
		return die("out of memory");
	if (!D.meter)
		logmsg(1, "metering is off: %s", D.meter_why ? D.meter_why : "unknown");
	return 0;
}

/* SIGTERM, SIGINT and SIGHUP arrive through a signalfd the ring reads. */
static int start_signals(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sig_fd < 0)
		return die("signalfd: %s", strerror(errno));
	return 0;
}

/* The unix socket, and the TCP address of --listen. */
static int start_listeners(void)
{
	int r = server_listen_unix(D.opt.socket_path);

	if (r == -EADDRINUSE)
		return die("%s: another sbxd is serving it", D.opt.socket_path);
	if (r < 0)
		return die("%s: %s", D.opt.socket_path, strerror(-r));
	E.listen_fd[0] = r;
	if (D.opt.listen) {
		r = server_listen_tcp(D.opt.listen);
		if (r < 0)
			return die("--listen %s: %s", D.opt.listen,
				   r == -EINVAL ? "not ADDR:PORT with a numeric address"
						: strerror(-r));
		E.listen_fd[1] = r;
	}
	return 0;
}

/* The ring, the snapshots and sandboxes of the state database, and the first reads:
 * connections, signals and the tick. */
static int start_loop(void)
{
	/* Sandbox launches run on workers; 4 keeps two CPUs busy while others wait on I/O. */
	int r = loop_init(&D.loop, 4096, 4);
	if (r < 0)
		return die("io_uring: %s", strerror(-r));
	r = snap_init();
	if (r < 0)
		logmsg(0, "state database: reading snapshots: %s", strerror(-r));
	r = box_readopt_all();
	oci_spool_scan();
	if (r < 0)
		logmsg(0, "state database: reading sandboxes: %s", strerror(-r));
	net_start();
	images_collect(); /* what no name, sandbox or snapshot holds any more */
	server_accept_arm(0);
	if (E.listen_fd[1] >= 0)
		server_accept_arm(1);
	sig_arm();
	tick_arm();
	return 0;
}

/* Serves until a signal asks sbxd to stop and what is in flight is done (or its
 * deadline has passed). */
static int run_loop(void)
{
	for (;;) {
		int r = loop_run_once(&D.loop, -1);
		if (r < 0) {
			logmsg(0, "io_uring: %s", strerror(-r));
			break;
		}
		/* Warm launches under way finish first: warm_drain() then removes them. */
		if (D.stopping &&
		    ((server_idle() && !warm_starting()) || mono_ns() >= D.stop_deadline))
			break;
	}
	warm_drain();
	if (D.opt.kill_on_exit)
		box_kill_all();
	net_shutdown();
	cgroup_pool_drain();
	logmsg(2, "stopped");
	store_close(D.store);
	return 0;
}

int main(int argc, char **argv)
{
	_cleanup_close_ int lock_fd = -1;
	int r;

	if (argc > 1 && !strcmp(argv[1], "tenant"))
		return cmd_tenant(argc - 1, argv + 1);
	options_default();
	/* The programs sbxd runs (CRIU, tar) report in the C locale: their messages are
	 * matched (a full disk is told by CRIU's "No space left on device"). */
	if (setenv("LC_ALL", "C", 1) < 0)
		return die("setenv: %s", strerror(errno));
	r = options_parse(argc, argv);
	if (r <= 0)
		return -r;
	log_level = D.opt.log_level;
	r = options_check();
	if (r < 0)
		return 1;
	if ((r = start_host()) || (r = start_state(&lock_fd)) || (r = start_devices()) ||
	    (r = start_metering()))
		return r;
	net_init();
	D.user_ns_ok = access("/proc/self/ns/user", F_OK) == 0;
	if ((r = start_signals()) || (r = start_listeners()) || (r = start_loop()))
		return r;
	if (D.opt.log_level >= 2)
		quickstart();
	return run_loop();
}
