// SPDX-License-Identifier: MIT
/* sbx: the command-line client. `sbx run` launches a one-shot sandbox with libsandbox
 * directly, without a daemon. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../sandbox/image.h"
#include "../sandbox/macro.h"
#include "../sandbox/sandbox.h"
#include "../sandbox/sysfilter.h"
#include "../host/b64.h"
#include "../host/meter.h"
#include "../host/usage.h"
#include "client.h"

#ifndef SBX_VERSION
#define SBX_VERSION "0.0.0"
#endif

#define EXIT_TIMEOUT 124
#define EXIT_SBX 125
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_ENV 256

static const char *prog = "sbx";

static int __attribute__((format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_SBX;
}

/* A file next to this executable (build/sbx -> build/<name>), unless @env_var names one. */
static char *beside_self(const char *env_var, const char *name)
{
	const char *e = getenv(env_var);
	return e && e[0] ? strdup(e) : image_beside_exe(name);
}

static void usage_run(FILE *f)
{
	fprintf(f,
		"Usage: sbx run [OPTIONS] [--] CMD [ARG...]\n"
		"Run CMD in a new one-shot sandbox, without a daemon; exit with its status.\n\n"
		"  --image NAME|PATH     image to run (default: base; also: host)\n"
		"  --memory SIZE         memory limit, e.g. 256M (default 512M; an OOM kill stays\n"
		"                        inside)\n"
		"  --cpus N              CPU quota in cores, e.g. 0.5 (default 1)\n"
		"  --pids N              maximum number of processes (default 512)\n"
		"  --timeout DURATION    wall-clock limit, e.g. 30s, 10m; exit 124 when hit\n"
		"  --net none|loopback   network: a private namespace with only lo (default none)\n"
		"  --env K=V             set an environment variable (repeatable)\n"
		"  --workdir DIR         working directory inside the sandbox (default /)\n"
		"  --hostname NAME       hostname inside the sandbox (default: the sandbox id)\n"
		"  --user UID[:GID]      run as this user instead of root\n"
		"  --user-ns             (the default: root inside is an unprivileged host id)\n"
		"  --seccomp default|PATH  syscall filter; PATH is an OCI-style JSON profile\n"
		"  --writable-size SIZE  writable layer over the read-only image (default: none)\n"
		"  --tmp-size SIZE       size of /tmp (default 256M)\n"
		"  --usage FILE|-        write the run's usage record (JSON) to FILE or stdout\n"
		"  --help                show this help\n\n"
		"Exit status: the command's; 128+N if killed by signal N; 124 on timeout;\n"
		"125 sbx error; 126 command not executable; 127 command not found.\n");
}

static void usage_create(FILE *f)
{
	fprintf(f,
		"Usage: sbx create [OPTIONS] [-- CMD [ARG...]]\n"
		"Create a sandbox through sbxd and print its id. Without CMD it waits for\n"
		"commands (sbx exec); with CMD it runs that workload (sbx logs shows its "
		"output).\n\n"
		"  The options of sbx run (--image --memory --cpus --pids --timeout --net --env\n"
		"  --workdir --hostname --user --user-ns --writable-size; --seccomp default), "
		"and:\n"
		"  --label K=V           attach a label (repeatable; sbx ls filters on them)\n"
		"  --gpu N               the host's GPU N, exclusively (repeatable; sbx gpus)\n"
		"  --gpus N              N free GPUs\n"
		"  --idle-timeout D      stop after D without commands or file transfers\n"
		"  --json                print the whole record, not just the id\n"
		"  --socket PATH         sbxd's socket (default $SBX_SOCKET or %s)\n",
		CLIENT_DEFAULT_SOCKET);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sbx COMMAND [OPTIONS]\n\n"
		"Without a daemon:\n"
		"  run [OPTIONS] [--] CMD [ARG...]   run a one-shot sandbox (see sbx run "
		"--help)\n\n"
		"Through sbxd (start it with `make run`, or build/sbxd):\n"
		"  create [OPTIONS] [-- CMD...]      create a sandbox; prints its id\n"
		"  exec [-i] [--env K=V] [--workdir D] [--timeout T] ID [--] CMD [ARG...]\n"
		"                                    run a command in it; streams its output\n"
		"  cp SRC DST                        copy a file in or out: ID:/path, a local\n"
		"                                    path, or - for stdin/stdout\n"
		"  ls [--json] [--state S] [--label K=V]   list sandboxes\n"
		"  inspect ID                        the sandbox's record (JSON)\n"
		"  rm ID...                          stop and remove sandboxes (and snap-...\n"
		"                                    snapshots)\n"
		"  checkpoint [--leave-running] ID   snapshot it with CRIU (and stop it, unless\n"
		"                                    --leave-running); prints the snapshot id\n"
		"  restore SNAPSHOT                  a new sandbox from a snapshot; prints its id\n"
		"  fork [-n N] ID                    N running copies of it; prints their ids\n"
		"  snapshots [--json]                list snapshots\n"
		"  logs [-f] ID                      the workload's output (-f: as it grows)\n"
		"  usage [--json] ID                 CPU, memory, syscalls (by name), network\n"
		"  top [--sort cpu|memory|syscalls]  live table of sandboxes; q quits (one plain\n"
		"                                    table when not on a terminal)\n"
		"  bill [--from T] [--to T] [--tenant T] [--sandbox ID]\n"
		"       [--format table|focus|cloudevents|json]   the priced ledger\n"
		"  bill verify                       check the ledger's hash chain\n"
		"  gpus [--json]                     the host's GPUs and who holds each\n\n"
		"  Every daemon command takes --socket PATH (or $SBX_SOCKET); $SBX_TOKEN is\n"
		"  sent as a bearer token.\n\n"
		"  sbx --version | --help\n");
}

struct run_opts {
	const char *image, *workdir, *hostname, *seccomp;
	struct sandbox_limits limits;
	uint64_t writable_bytes, tmp_bytes;
	enum net_mode net;
	bool user_ns, set_user;
	uid_t uid;
	gid_t gid;
	const char *env[MAX_ENV];
	size_t nenv;
	const char *timeout_text;
	const char *usage_out; /* run only: --usage=FILE|- */
	/* create only */
	bool create, json;
	const char *socket;
	const char *labels[64];
	size_t nlabels;
	const char *gpus[16];
	size_t ngpus;
	uint64_t idle_timeout_ns;
};

enum {
	OPT_IMAGE = 256,
	OPT_MEMORY,
	OPT_CPUS,
	OPT_PIDS,
	OPT_TIMEOUT,
	OPT_NET,
	OPT_ENV,
	OPT_WORKDIR,
	OPT_HOSTNAME,
	OPT_USER,
	OPT_USERNS,
	OPT_SECCOMP,
	OPT_WRITABLE,
	OPT_TMP,
	OPT_HELP,
	OPT_LABEL,
	OPT_IDLE,
	OPT_JSON,
	OPT_SOCKET,
	OPT_USAGE,
	OPT_GPU,
	OPT_GPUS,
};

/* Returns the index of CMD in argv, 0 for --help, or -EXIT_SBX after printing why. */
static int parse_run(int argc, char **argv, struct run_opts *o)
{
	static const struct option opts[] = {
		{ "image", required_argument, NULL, OPT_IMAGE },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "pids", required_argument, NULL, OPT_PIDS },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "net", required_argument, NULL, OPT_NET },
		{ "env", required_argument, NULL, OPT_ENV },
		{ "workdir", required_argument, NULL, OPT_WORKDIR },
		{ "hostname", required_argument, NULL, OPT_HOSTNAME },
		{ "user", required_argument, NULL, OPT_USER },
		{ "user-ns", no_argument, NULL, OPT_USERNS },
		{ "seccomp", required_argument, NULL, OPT_SECCOMP },
		{ "writable-size", required_argument, NULL, OPT_WRITABLE },
		{ "tmp-size", required_argument, NULL, OPT_TMP },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "idle-timeout", required_argument, NULL, OPT_IDLE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "usage", required_argument, NULL, OPT_USAGE },
		{ "gpu", required_argument, NULL, OPT_GPU },
		{ "gpus", required_argument, NULL, OPT_GPUS },
		{ 0 },
	};
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		const char *v = optarg;
		uint64_t n;

		switch (c) {
		case OPT_IMAGE:
			o->image = v;
			break;
		case OPT_MEMORY:
			if (spec_parse_size(v, &o->limits.memory_bytes) < 0 ||
			    o->limits.memory_bytes < (4 << 20))
				return -die(
					"--memory: invalid size \"%s\" (at least 4M, e.g. 256M)",
					v);
			break;
		case OPT_CPUS:
			if (spec_parse_cpus(v, &o->limits.cpu_milli) < 0)
				return -die(
					"--cpus: invalid value \"%s\" (a decimal number of cores "
					"between 0.01 and 1024, e.g. 0.5)",
					v);
			break;
		case OPT_PIDS:
			if (spec_parse_size(v, &n) < 0 || strspn(v, "0123456789") != strlen(v) ||
			    n == 0 || n > 4194304)
				return -die("--pids: invalid value \"%s\" (1 to 4194304)", v);
			o->limits.pids = n;
			break;
		case OPT_TIMEOUT:
			if (spec_parse_duration(v, &o->limits.timeout_ns) < 0 ||
			    o->limits.timeout_ns == 0)
				return -die(
					"--timeout: invalid duration \"%s\" (e.g. 30s, 10m, 1h)",
					v);
			o->timeout_text = v;
			break;
		case OPT_NET:
			if (!strcmp(v, "none"))
				o->net = NET_NONE;
			else if (!strcmp(v, "loopback"))
				o->net = NET_LOOPBACK;
			else
				return -die("--net: unknown mode \"%s\" (none or loopback)", v);
			break;
		case OPT_ENV:
			if (!strchr(v, '=') || v[0] == '=')
				return -die("--env: \"%s\" is not of the form KEY=VALUE", v);
			if (o->nenv == MAX_ENV)
				return -die("--env: at most %d variables", MAX_ENV);
			o->env[o->nenv++] = v;
			break;
		case OPT_WORKDIR:
			if (v[0] != '/')
				return -die("--workdir: \"%s\" must be an absolute path", v);
			o->workdir = v;
			break;
		case OPT_HOSTNAME:
			if (!spec_hostname_valid(v))
				return -die("--hostname: \"%s\" is not a valid hostname (1-63 of "
					    "A-Z a-z 0-9 - .)",
					    v);
			o->hostname = v;
			break;
		case OPT_USER:
			if (spec_parse_user(v, &o->uid, &o->gid) < 0)
				return -die("--user: \"%s\" is not UID[:GID] (numbers 0-65535)", v);
			o->set_user = true;
			break;
		case OPT_USERNS:
			o->user_ns = true;
			break;
		case OPT_SECCOMP:
			o->seccomp = v;
			break;
		case OPT_WRITABLE:
			if (spec_parse_size(v, &o->writable_bytes) < 0 ||
			    o->writable_bytes < (1 << 20))
				return -die("--writable-size: invalid size \"%s\" (at least 1M)",
					    v);
			break;
		case OPT_TMP:
			if (spec_parse_size(v, &o->tmp_bytes) < 0 || o->tmp_bytes < (64 << 10))
				return -die("--tmp-size: invalid size \"%s\" (at least 64K)", v);
			break;
		case OPT_HELP:
			if (o->create)
				usage_create(stdout);
			else
				usage_run(stdout);
			return 0;
		case OPT_USAGE:
			if (o->create)
				return -die("--usage is an option of sbx run (see sbx usage ID)");
			o->usage_out = v;
			break;
		case OPT_GPU:
		case OPT_GPUS:
			if (!o->create)
				return -die(
					"%s is an option of sbx create (GPUs are granted by sbxd)",
					argv[optind - 1]);
			if (c == OPT_GPU) {
				if (strspn(v, "0123456789") != strlen(v) || !*v ||
				    o->ngpus == ARRAY_SIZE(o->gpus))
					return -die(
						"--gpu: \"%s\" is not a GPU index (see sbx gpus)",
						v);
				o->gpus[o->ngpus++] = v;
			} else {
				long want = strtol(v, NULL, 10);
				if (strspn(v, "0123456789") != strlen(v) || want < 1 ||
				    o->ngpus + (size_t)want > ARRAY_SIZE(o->gpus))
					return -die("--gpus: \"%s\" is not a count from 1 to 16",
						    v);
				while (want--)
					o->gpus[o->ngpus++] = "any";
			}
			break;
		case OPT_LABEL:
		case OPT_IDLE:
		case OPT_JSON:
		case OPT_SOCKET:
			if (!o->create)
				return -die("%s is an option of sbx create, not sbx run",
					    argv[optind - 1]);
			if (c == OPT_JSON) {
				o->json = true;
			} else if (c == OPT_SOCKET) {
				o->socket = v;
			} else if (c == OPT_IDLE) {
				if (spec_parse_duration(v, &o->idle_timeout_ns) < 0 ||
				    !o->idle_timeout_ns)
					return -die("--idle-timeout: invalid duration \"%s\" (e.g. "
						    "5m)",
						    v);
			} else {
				if (!strchr(v, '=') || v[0] == '=')
					return -die("--label: \"%s\" is not of the form KEY=VALUE",
						    v);
				if (o->nlabels == ARRAY_SIZE(o->labels))
					return -die("--label: at most %zu labels",
						    ARRAY_SIZE(o->labels));
				o->labels[o->nlabels++] = v;
			}
			break;
		case ':':
			return -die("option %s needs a value", argv[optind - 1]);
		default:
			return -die("unknown option %s (see sbx run --help)", argv[optind - 1]);
		}
	}
	if (optind >= argc && !o->create)
		return -die("no command given (usage: sbx run [OPTIONS] [--] CMD [ARG...])");
	return optind;
}

static int make_id(char *buf, size_t size)
{
	uint8_t rnd[6];

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -errno;
	snprintf(buf, size, "%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
		 rnd[5]);
	return 0;
}

static bool env_has(char **env, size_t n, const char *kv)
{
	size_t klen = strcspn(kv, "=");
	for (size_t i = 0; i < n; i++)
		if (!strncmp(env[i], kv, klen) && env[i][klen] == '=')
			return true;
	return false;
}

/* Later entries win: --env over the image's env over the defaults. */
static void env_set(char **env, size_t *n, const char *kv)
{
	size_t klen = strcspn(kv, "=");
	for (size_t i = 0; i < *n; i++)
		if (!strncmp(env[i], kv, klen) && env[i][klen] == '=') {
			env[i] = (char *)kv;
			return;
		}
	env[(*n)++] = (char *)kv;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Waits for the sandbox, forwarding signals and enforcing the timeout. */
static int supervise(struct sandbox *sb, int sigfd, const struct run_opts *o)
{
	int64_t deadline = o->limits.timeout_ns ? now_ns() + (int64_t)o->limits.timeout_ns : 0;

	for (;;) {
		struct pollfd pfd[2] = { { sb->pidfd, POLLIN, 0 }, { sigfd, POLLIN, 0 } };
		int timeout_ms = -1;

		if (deadline) {
			int64_t left = deadline - now_ns();
			if (left <= 0) {
				sandbox_kill(sb);
				sandbox_wait(sb);
				fprintf(stderr, "%s: sandbox timed out after %s; killed\n", prog,
					o->timeout_text);
				return EXIT_TIMEOUT;
			}
			timeout_ms = (int)((left + 999999) / 1000000);
		}
		if (poll(pfd, 2, timeout_ms) < 0 && errno != EINTR)
			return die("poll: %s", strerror(errno));
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof(si)) == sizeof(si))
				(void)sandbox_signal(sb, (int)si.ssi_signo);
		}
		if (pfd[0].revents & POLLIN)
			return sandbox_wait(sb);
	}
}

static int run_meter_attach(const struct cgroup *cg, void *userdata)
{
	uint64_t id;
	int r = usage_cgroup_id(cg->v2_path, &id);
	return r < 0 ? r : meter_attach(userdata, id, 0, true);
}

static void meter_closep(struct meter **m)
{
	meter_close(*m);
}

/* The run's usage record, as sbxd's GET .../usage gives it, plus the exit code. */
static void write_usage(const char *out, const char *id, struct sandbox *sb,
			const struct sandbox_limits *lim, struct meter *meter, const char *why,
			int64_t wall_ns, int code)
{
	struct usage_src src = {
		.id = id,
		.tenant = "local",
		.state = "exited",
		.wall_ns = wall_ns,
		.cg = sb->cg,
		.no_integral = true,
		.limits = lim,
		.meter = meter,
		.slot = meter ? 0 : -1,
		.meter_off = why,
	};
	json_t *j = usage_json(&src);
	json_object_set_new(j, "exit_code", json_integer(code));
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	FILE *f = strcmp(out, "-") ? fopen(out, "we") : stdout;
	if (!f || !s || fprintf(f, "%s\n", s) < 0 || (f != stdout && fclose(f) != 0))
		fprintf(stderr, "%s: --usage %s: %s\n", prog, out, strerror(errno));
	else if (f == stdout)
		fflush(stdout);
	free(s);
}

/* The limits a run gets when it sets none (sbxd's built-in defaults), and the sizes no
 * tmpfs may exceed: the host's memory. */
static int run_limits(struct run_opts *o)
{
	uint64_t ram = spec_host_memory();

	if (!o->limits.memory_bytes)
		o->limits.memory_bytes = SPEC_DEFAULT_MEMORY;
	if (!o->limits.cpu_milli)
		o->limits.cpu_milli = SPEC_DEFAULT_CPU_MILLI;
	if (!o->limits.pids)
		o->limits.pids = SPEC_DEFAULT_PIDS;
	if (ram && o->writable_bytes > ram)
		return -die("--writable-size: at most this host's memory (%" PRIu64 " bytes)", ram);
	if (ram && o->tmp_bytes > ram)
		return -die("--tmp-size: at most this host's memory (%" PRIu64 " bytes)", ram);
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	struct run_opts o = { .image = "base", .tmp_bytes = 256 << 20 };
	_cleanup_(image_freep) struct image *img = NULL;
	_cleanup_(sysfilter_freep) struct sysfilter *filter = NULL;
	_cleanup_free_ char *images = NULL, *init = NULL, *err = NULL, *hostvar = NULL;
	_cleanup_close_ int sigfd = -1;
	char *env[MAX_ENV + 80];
	size_t nenv = 0;
	char id[16];
	sigset_t fwd;
	int r, cmd;

	prog = "sbx run";
	cmd = parse_run(argc, argv, &o);
	if (cmd <= 0)
		return -cmd;
	r = run_limits(&o);
	if (r < 0)
		return -r;

	images = beside_self("SBX_IMAGES", "images");
	init = beside_self("SBX_INIT", "sbx-init");
	if (!images || !init)
		return die("cannot locate the images directory or sbx-init");
	if (access(init, X_OK) < 0)
		return die("sbx-init not found at %s (build it with make)", init);
	r = image_open(o.image, images, &img, &err);
	if (r < 0)
		return die("%s", err ? err : strerror(-r));
	r = sysfilter_new_named(o.seccomp, &filter, &err);
	if (r < 0)
		return die("--seccomp: %s", err ? err : strerror(-r));
	if (make_id(id, sizeof(id)) < 0)
		return die("getrandom: %s", strerror(errno));

	/* Environment: defaults, then the image's, then --env. */
	if (asprintf(&hostvar, "HOSTNAME=%s", o.hostname ? o.hostname : id) < 0)
		return die("out of memory");
	env_set(env, &nenv, "PATH=" DEFAULT_PATH);
	env_set(env, &nenv, "HOME=/tmp");
	env_set(env, &nenv, hostvar);
	for (char **e = img->env; e && *e; e++)
		env_set(env, &nenv, *e);
	if (getenv("TERM") && !env_has(env, nenv, "TERM="))
		env_set(env, &nenv, getenv("TERM") - strlen("TERM="));
	for (size_t i = 0; i < o.nenv; i++)
		env_set(env, &nenv, o.env[i]);
	env[nenv] = NULL;

	struct sandbox_spec spec = {
		.id = id,
		.rootfs = img->rootfs,
		.binds = (const char *const *)img->binds,
		.argv = argv + cmd,
		.envp = env,
		.workdir = o.workdir,
		.hostname = o.hostname,
		.set_user = o.set_user,
		.uid = o.uid,
		.gid = o.gid,
		.limits = o.limits,
		.writable_bytes = o.writable_bytes,
		.tmp_bytes = o.tmp_bytes,
		.net = o.net,
		.time_ns = true,
		.die_with_parent = true,
		.filter = filter,
		.stdio = { -1, -1, -1 },
	};

	/* Signals for the workload arrive on a signalfd and are forwarded to sbx-init. */
	sigemptyset(&fwd);
	for (int s = 0, sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 }; s < 6; s++)
		sigaddset(&fwd, sigs[s]);
	sigprocmask(SIG_BLOCK, &fwd, NULL);
	sigfd = signalfd(-1, &fwd, SFD_CLOEXEC);
	if (sigfd < 0)
		return die("signalfd: %s", strerror(errno));

	/* --usage: a private instance of sbxd's meter, for this run's cgroup alone. */
	_cleanup_(meter_closep) struct meter *meter = NULL;
	_cleanup_free_ char *meter_why = NULL;
	if (o.usage_out) {
		_cleanup_free_ char *parent = NULL;
		unsigned level;
		r = cgroup_sandbox_parent(&parent, &level);
		if (r < 0 && asprintf(&meter_why, "sandbox cgroup parent: %s", strerror(-r)) < 0)
			meter_why = NULL;
		if (r == 0 && meter_open(parent, level, false, &meter, &meter_why) < 0)
			meter = NULL;
		if (!meter)
			fprintf(stderr, "%s: warning: --usage: no syscall or network meter: %s\n",
				prog, meter_why ? meter_why : "eBPF unavailable");
		spec.limits.memory_account = true;
		spec.on_cgroup = meter ? run_meter_attach : NULL;
		spec.userdata = meter;
	}

	struct sandbox *sb;
	struct sandbox_error serr;
	int64_t t0 = now_ns();
	r = sandbox_start(&spec, init, &sb, &serr);
	if (r < 0) {
		if (serr.stage == STAGE_WORKDIR)
			return die("--workdir %s: %s", o.workdir, strerror(serr.err));
		if (serr.stage == STAGE_CGROUP && serr.err == EOPNOTSUPP)
			return die(
				"this host's cgroup v2 does not delegate the memory, cpu or pids "
				"controller that --memory, --cpus or --pids (or their defaults) "
				"need");
		return die("sandbox setup failed at %s: %s", sandbox_stage_name(serr.stage),
			   strerror(serr.err));
	}
	int code = supervise(sb, sigfd, &o);
	if (o.usage_out)
		write_usage(o.usage_out, id, sb, &spec.limits, meter, meter_why, now_ns() - t0,
			    code);
	r = sandbox_destroy(sb);
	if (r < 0)
		fprintf(stderr, "%s: warning: cgroup teardown: %s\n", prog, strerror(-r));
	return code;
}

/* ---- commands through sbxd ---- */

static const char *socket_path(const char *opt)
{
	const char *e = getenv("SBX_SOCKET");
	return opt ? opt : e && e[0] ? e : CLIENT_DEFAULT_SOCKET;
}

/* One call; prints why and returns EXIT_SBX when sbxd cannot be reached. */
static int api(const char *sock, const char *method, const char *target, const char *ctype,
	       const char *body, size_t len, struct client_resp *resp, client_body_cb cb, void *ud)
{
	int r = client_call(sock, method, target, ctype, body, len, resp, cb, ud);

	if (r == -ENOENT || r == -ECONNREFUSED)
		return die("cannot reach sbxd at %s: %s (start it with `make run` or build/sbxd)",
			   sock, strerror(-r));
	if (r < 0)
		return die("sbxd at %s: %s", sock, strerror(-r));
	return 0;
}

/* 2xx, or a one-line error from sbxd's answer and EXIT_SBX. */
static int api_check(const struct client_resp *resp)
{
	if (resp->status >= 200 && resp->status < 300)
		return 0;
	return die("%s", client_error_message(resp));
}

static char *sandbox_target(const char *id, const char *sub, const char *query)
{
	char *esc = client_query_escape(id), *out;

	if (!esc || strchr(id, '/') || !id[0]) {
		free(esc);
		return NULL;
	}
	if (asprintf(&out, "/v1/sandboxes/%s%s%s%s%s", esc, sub ? "/" : "", sub ? sub : "",
		     query ? "?" : "", query ? query : "") < 0)
		out = NULL;
	free(esc);
	return out;
}

static char *snapshot_target(const char *id, const char *sub)
{
	char *esc = client_query_escape(id), *out;

	if (!esc || strchr(id, '/') || !id[0]) {
		free(esc);
		return NULL;
	}
	if (asprintf(&out, "/v1/snapshots/%s%s%s", esc, sub ? "/" : "", sub ? sub : "") < 0)
		out = NULL;
	free(esc);
	return out;
}

static json_t *kv_object(const char *const *kv, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(kv[i], '=');
		char *k = strndup(kv[i], (size_t)(eq - kv[i]));
		if (k)
			json_object_set_new(o, k, json_string(eq + 1));
		free(k);
	}
	return o;
}

static int print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!s)
		return die("cannot format the answer");
	printf("%s\n", s);
	free(s);
	return 0;
}

static int cmd_create(int argc, char **argv)
{
	struct run_opts o = { .create = true };
	struct client_resp resp;
	char buf[64];
	int r, cmd;

	prog = "sbx create";
	cmd = parse_run(argc, argv, &o);
	if (cmd <= 0)
		return -cmd;
	if (o.tmp_bytes)
		return die("--tmp-size is not available through sbxd");
	json_t *req = json_object(), *limits = json_object();
	if (o.image)
		json_object_set_new(req, "image", json_string(o.image));
	if (cmd < argc) {
		json_t *a = json_array();
		for (int i = cmd; i < argc; i++)
			json_array_append_new(a, json_string(argv[i]));
		json_object_set_new(req, "cmd", a);
	}
	if (o.nenv)
		json_object_set_new(req, "env", kv_object(o.env, o.nenv));
	if (o.nlabels)
		json_object_set_new(req, "labels", kv_object(o.labels, o.nlabels));
	if (o.ngpus) {
		json_t *g = json_array();
		for (size_t i = 0; i < o.ngpus; i++)
			json_array_append_new(g, json_string(o.gpus[i]));
		json_object_set_new(req, "gpus", g);
	}
	if (o.workdir)
		json_object_set_new(req, "workdir", json_string(o.workdir));
	if (o.hostname)
		json_object_set_new(req, "hostname", json_string(o.hostname));
	if (o.set_user) {
		snprintf(buf, sizeof(buf), "%u:%u", (unsigned)o.uid, (unsigned)o.gid);
		json_object_set_new(req, "user", json_string(buf));
	}
	if (o.user_ns)
		json_object_set_new(req, "user_ns", json_true());
	if (o.net == NET_LOOPBACK)
		json_object_set_new(req, "net", json_string("loopback"));
	if (o.seccomp)
		json_object_set_new(req, "seccomp", json_string(o.seccomp));
	if (o.writable_bytes)
		json_object_set_new(req, "writable_size",
				    json_integer((json_int_t)o.writable_bytes));
	if (o.limits.memory_bytes)
		json_object_set_new(limits, "memory",
				    json_integer((json_int_t)o.limits.memory_bytes));
	if (o.limits.cpu_milli) {
		snprintf(buf, sizeof(buf), "%u.%03u", o.limits.cpu_milli / 1000,
			 o.limits.cpu_milli % 1000);
		json_object_set_new(limits, "cpus", json_string(buf));
	}
	if (o.limits.pids)
		json_object_set_new(limits, "pids", json_integer((json_int_t)o.limits.pids));
	if (o.limits.timeout_ns) {
		snprintf(buf, sizeof(buf), "%" PRIu64 "ms", o.limits.timeout_ns / 1000000);
		json_object_set_new(limits, "timeout", json_string(buf));
	}
	if (o.idle_timeout_ns) {
		snprintf(buf, sizeof(buf), "%" PRIu64 "ms", o.idle_timeout_ns / 1000000);
		json_object_set_new(limits, "idle_timeout", json_string(buf));
	}
	if (json_object_size(limits))
		json_object_set(req, "limits", limits);
	json_decref(limits);
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!body)
		return die("out of memory");
	r = api(socket_path(o.socket), "POST", "/v1/sandboxes", "application/json", body,
		strlen(body), &resp, NULL, NULL);
	free(body);
	if (r)
		return r;
	r = api_check(&resp);
	if (!r) {
		json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
		const char *id = json_string_value(json_object_get(j, "id"));
		if (o.json)
			r = print_json(j);
		else if (id)
			printf("%s\n", id);
		else
			r = die("sbxd's answer has no id");
		json_decref(j);
	}
	client_resp_clear(&resp);
	return r;
}

static int read_all(int fd, char **ret, size_t *ret_len)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

struct stream {
	struct client_resp *resp;
	char *line;
	size_t len, cap;
	int code;
	bool got_exit;
	char *err; /* a non-200 answer's body */
	size_t err_len;
};

static void stream_event(struct stream *st, const char *line, size_t len)
{
	json_t *ev = json_loadb(line, len, 0, NULL);
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *d = json_object_get(ev, "data"), *d64 = json_object_get(ev, "data_b64");
	int fd = type && !strcmp(type, "stderr") ? 2 : 1;

	if (type && (!strcmp(type, "stdout") || !strcmp(type, "stderr"))) {
		if (d)
			(void)client_write_all(fd, json_string_value(d), json_string_length(d));
		else if (d64) {
			char *raw;
			size_t n;
			if (b64_decode(json_string_value(d64), json_string_length(d64), &raw, &n) ==
			    0) {
				(void)client_write_all(fd, raw, n);
				free(raw);
			}
		}
	} else if (type && !strcmp(type, "exit")) {
		st->code = (int)json_integer_value(json_object_get(ev, "exit_code"));
		st->got_exit = true;
	}
	json_decref(ev);
}

/* A non-200 answer's body, kept for its error message. */
static bool keep_error(struct stream *st, const char *data, size_t len)
{
	char *nb = realloc(st->err, st->err_len + len + 1);
	if (!nb)
		return false;
	st->err = nb;
	memcpy(st->err + st->err_len, data, len);
	st->err_len += len;
	st->err[st->err_len] = '\0';
	return true;
}

static bool stream_body(const char *data, size_t len, void *ud)
{
	struct stream *st = ud;

	if (st->resp->status != 200)
		return keep_error(st, data, len);
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n') {
			stream_event(st, st->line, st->len);
			st->len = 0;
			continue;
		}
		if (st->len == st->cap) {
			size_t cap = st->cap ? st->cap * 2 : 4096;
			char *nb = realloc(st->line, cap);
			if (!nb)
				return false;
			st->line = nb;
			st->cap = cap;
		}
		st->line[st->len++] = data[i];
	}
	return true;
}

static int cmd_exec(int argc, char **argv)
{
	enum {
		E_ENV = 256,
		E_WORKDIR,
		E_TIMEOUT,
		E_SOCKET,
		E_HELP
	};
	static const struct option opts[] = {
		{ "interactive", no_argument, NULL, 'i' },
		{ "env", required_argument, NULL, E_ENV },
		{ "workdir", required_argument, NULL, E_WORKDIR },
		{ "timeout", required_argument, NULL, E_TIMEOUT },
		{ "socket", required_argument, NULL, E_SOCKET },
		{ "help", no_argument, NULL, E_HELP },
		{ 0 },
	};
	const char *sock = NULL, *workdir = NULL, *timeout = NULL, *env[MAX_ENV];
	size_t nenv = 0;
	bool in = false;
	uint64_t ns;
	int c;

	prog = "sbx exec";
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:i", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			in = true;
			break;
		case E_ENV:
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return die("--env: \"%s\" is not of the form KEY=VALUE", optarg);
			if (nenv == MAX_ENV)
				return die("--env: at most %d variables", MAX_ENV);
			env[nenv++] = optarg;
			break;
		case E_WORKDIR:
			if (optarg[0] != '/')
				return die("--workdir: \"%s\" must be an absolute path", optarg);
			workdir = optarg;
			break;
		case E_TIMEOUT:
			if (spec_parse_duration(optarg, &ns) < 0 || !ns)
				return die("--timeout: invalid duration \"%s\" (e.g. 30s)", optarg);
			timeout = optarg;
			break;
		case E_SOCKET:
			sock = optarg;
			break;
		case E_HELP:
			printf("Usage: sbx exec [-i] [--env K=V] [--workdir DIR] [--timeout D] ID "
			       "[--] "
			       "CMD [ARG...]\n"
			       "Run CMD in sandbox ID with the sandbox's restrictions; its stdout "
			       "and\n"
			       "stderr stream here and sbx exits with its status (124 on "
			       "--timeout).\n"
			       "  -i, --interactive   send this stdin to the command\n");
			return 0;
		case ':':
			return die("option %s needs a value", argv[optind - 1]);
		default:
			return die("unknown option %s (see sbx exec --help)", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return die("usage: sbx exec [OPTIONS] ID [--] CMD [ARG...]");
	const char *id = argv[optind++];
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	if (optind >= argc)
		return die("no command given (usage: sbx exec ID [--] CMD [ARG...])");

	json_t *req = json_object(), *cmd = json_array();
	for (int i = optind; i < argc; i++)
		json_array_append_new(cmd, json_string(argv[i]));
	json_object_set_new(req, "cmd", cmd);
	if (nenv)
		json_object_set_new(req, "env", kv_object(env, nenv));
	if (workdir)
		json_object_set_new(req, "workdir", json_string(workdir));
	if (timeout)
		json_object_set_new(req, "timeout", json_string(timeout));
	if (in) {
		char *data, *enc;
		size_t n;
		if (read_all(0, &data, &n) < 0) {
			json_decref(req);
			return die("reading stdin: %s", strerror(errno));
		}
		enc = b64_encode(data, n);
		free(data);
		json_object_set_new(req, "stdin_b64", json_string(enc ? enc : ""));
		free(enc);
	}
	char *body = json_dumps(req, JSON_COMPACT);
	_cleanup_free_ char *target = sandbox_target(id, "exec", "stream=1");
	json_decref(req);
	if (!body || !target) {
		free(body);
		return die("invalid sandbox id \"%s\"", id);
	}
	struct client_resp resp;
	struct stream st = { .resp = &resp, .code = EXIT_SBX };
	int r = api(socket_path(sock), "POST", target, "application/json", body, strlen(body),
		    &resp, stream_body, &st);
	free(body);
	if (!r && resp.status != 200) {
		resp.body = st.err;
		resp.len = st.err_len;
		st.err = NULL;
		r = api_check(&resp);
	} else if (!r && !st.got_exit) {
		r = die("the connection to sbxd ended before the command did");
	} else if (!r) {
		r = st.code;
	}
	free(st.line);
	free(st.err);
	client_resp_clear(&resp);
	return r;
}

/* "ID:/path" -> id and path (in @buf); anything else is local. */
static bool remote_spec(const char *s, char *id, size_t size, const char **path)
{
	const char *colon = strchr(s, ':');

	if (!colon || colon == s || colon[1] != '/' || memchr(s, '/', (size_t)(colon - s)) ||
	    (size_t)(colon - s) >= size)
		return false;
	memcpy(id, s, (size_t)(colon - s));
	id[colon - s] = '\0';
	*path = colon + 1;
	return true;
}

static int cmd_cp(int argc, char **argv)
{
	const char *sock = NULL, *src, *dst, *rpath;
	char id[128];
	int argi = 1;

	prog = "sbx cp";
	if (argi + 1 < argc && !strcmp(argv[argi], "--socket")) {
		sock = argv[argi + 1];
		argi += 2;
	}
	if (argc - argi != 2)
		return die("usage: sbx cp SRC DST (one of them ID:/path; - is stdin or stdout)");
	src = argv[argi];
	dst = argv[argi + 1];
	bool up = remote_spec(dst, id, sizeof(id), &rpath);
	if (up == remote_spec(src, id, sizeof(id), &rpath))
		return die("exactly one of SRC and DST must be ID:/path");
	if (!up)
		remote_spec(src, id, sizeof(id), &rpath);
	_cleanup_free_ char *esc = client_query_escape(rpath), *q = NULL, *target = NULL;
	if (!esc || asprintf(&q, "path=%s", esc) < 0 || !(target = sandbox_target(id, "files", q)))
		return die("invalid sandbox id \"%s\"", id);
	struct client_resp resp;
	int r;
	if (up) {
		char *data;
		size_t n;
		int fd = strcmp(src, "-") ? open(src, O_RDONLY | O_CLOEXEC) : 0;
		if (fd < 0)
			return die("%s: %s", src, strerror(errno));
		r = read_all(fd, &data, &n);
		if (fd > 0)
			close(fd);
		if (r < 0)
			return die("%s: %s", src, strerror(-r));
		r = api(socket_path(sock), "PUT", target, "application/octet-stream", data, n,
			&resp, NULL, NULL);
		free(data);
		if (r)
			return r;
		r = api_check(&resp);
	} else {
		r = api(socket_path(sock), "GET", target, NULL, NULL, 0, &resp, NULL, NULL);
		if (r)
			return r;
		r = api_check(&resp);
		if (!r) {
			int fd = strcmp(dst, "-")
					 ? open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
					 : 1;
			if (fd < 0)
				r = die("%s: %s", dst, strerror(errno));
			else if (client_write_all(fd, resp.body, resp.len) < 0)
				r = die("%s: %s", dst, strerror(errno));
			if (fd > 1)
				close(fd);
		}
	}
	client_resp_clear(&resp);
	return r;
}

static int cmp_count_desc(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "n"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "n"));
	return (y > x) - (y < x);
}

/* One line per meter, the ten most frequent syscalls; a meter that is off says why. */
static void print_usage(json_t *u)
{
	json_t *m = json_object_get(u, "meters");
	json_t *cpu = json_object_get(u, "cpu_ns"), *mem = json_object_get(u, "memory_bytes");
	json_t *sys = json_object_get(u, "syscalls"), *net = json_object_get(u, "net");

	printf("%-10s %.3f s\n", "wall", json_integer_value(json_object_get(u, "wall_ns")) / 1e9);
	if (json_is_integer(cpu))
		printf("%-10s %.3f s\n", "cpu", json_integer_value(cpu) / 1e9);
	else
		printf("%-10s %s\n", "cpu", json_string_value(json_object_get(m, "cpu")));
	if (json_is_integer(mem))
		printf("%-10s %.1f MiB (peak %.1f MiB)\n", "memory",
		       json_integer_value(mem) / 1048576.0,
		       json_integer_value(json_object_get(u, "memory_peak_bytes")) / 1048576.0);
	else
		printf("%-10s %s\n", "memory", json_string_value(json_object_get(m, "memory")));
	if (json_is_object(sys)) {
		size_t n = json_object_size(sys), i = 0;
		json_t **rows = calloc(n ? n : 1, sizeof(json_t *)), *v;
		const char *k;
		json_object_foreach (sys, k, v)
			if (rows)
				rows[i++] = json_pack("{s:s,s:O}", "k", k, "n", v);
		if (rows)
			qsort(rows, n, sizeof(json_t *), cmp_count_desc);
		printf("%-10s %" JSON_INTEGER_FORMAT " total\n", "syscalls",
		       json_integer_value(json_object_get(u, "syscalls_total")));
		for (i = 0; rows && i < n; i++) {
			if (i < 10)
				printf("%-10s   %-20s %" JSON_INTEGER_FORMAT "\n", "",
				       json_string_value(json_object_get(rows[i], "k")),
				       json_integer_value(json_object_get(rows[i], "n")));
			json_decref(rows[i]);
		}
		free(rows);
	} else {
		printf("%-10s %s\n", "syscalls", json_string_value(json_object_get(m, "syscalls")));
	}
	if (json_is_object(net))
		printf("%-10s rx %" JSON_INTEGER_FORMAT " B (%" JSON_INTEGER_FORMAT
		       " packets), tx %" JSON_INTEGER_FORMAT " B (%" JSON_INTEGER_FORMAT
		       " packets)\n",
		       "net", json_integer_value(json_object_get(net, "rx_bytes")),
		       json_integer_value(json_object_get(net, "rx_packets")),
		       json_integer_value(json_object_get(net, "tx_bytes")),
		       json_integer_value(json_object_get(net, "tx_packets")));
	else
		printf("%-10s %s\n", "net", json_string_value(json_object_get(m, "net")));
}

/* A followed log: its bytes to stdout as they come; an error answer is kept. */
static bool follow_body(const char *data, size_t len, void *ud)
{
	struct stream *st = ud;
	if (st->resp->status == 200)
		return client_write_all(1, data, len) == 0;
	return keep_error(st, data, len);
}

/* sbx ls / inspect / rm / logs / usage: ID-oriented calls with --socket and --json. */
/* sbx checkpoint | restore | fork | snapshots */
static int cmd_snap(const char *name, int argc, char **argv)
{
	const char *sock = NULL, *id = NULL;
	bool json = false, leave = false;
	long count = 1;
	char body[64] = "{}";
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			sock = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(name, "checkpoint") && !strcmp(argv[i], "--leave-running"))
			leave = true;
		else if (!strcmp(name, "fork") &&
			 (!strcmp(argv[i], "-n") || !strcmp(argv[i], "--count")) && i + 1 < argc) {
			char *end;
			count = strtol(argv[++i], &end, 10);
			if (*end || count < 1 || count > 16)
				return die("-n: a count from 1 to 16 is required");
		} else if (argv[i][0] == '-' && argv[i][1])
			return die("unknown option %s (see sbx --help)", argv[i]);
		else if (!id)
			id = argv[i];
		else
			return die("one id only");
	}
	bool list = !strcmp(name, "snapshots");
	if (list ? id != NULL : !id)
		return die("usage: sbx %s", list ? "snapshots [--json]"
					    : !strcmp(name, "checkpoint")
						    ? "checkpoint [--leave-running] [--json] ID"
					    : !strcmp(name, "restore") ? "restore [--json] SNAPSHOT"
								       : "fork [-n N] [--json] ID");
	_cleanup_free_ char *target = list			 ? strdup("/v1/snapshots")
				      : !strcmp(name, "restore") ? snapshot_target(id, "restore")
								 : sandbox_target(id, name, NULL);
	if (!target)
		return die("invalid id \"%s\"", id ? id : "");
	if (!strcmp(name, "checkpoint") && leave)
		snprintf(body, sizeof(body), "{\"leave_running\": true}");
	if (!strcmp(name, "fork"))
		snprintf(body, sizeof(body), "{\"count\": %ld}", count);
	struct client_resp resp;
	r = api(socket_path(sock), list ? "GET" : "POST", target, list ? NULL : "application/json",
		list ? NULL : body, list ? 0 : strlen(body), &resp, NULL, NULL);
	if (r)
		return r;
	r = api_check(&resp);
	json_t *j = r ? NULL : json_loadb(resp.body, resp.len, 0, NULL);
	if (!r && json) {
		r = print_json(j);
	} else if (!r && list) {
		json_t *arr = json_object_get(j, "snapshots"), *o;
		size_t i;
		printf("%-16s %-14s %-10s %-8s %12s  %s\n", "ID", "SANDBOX", "TENANT", "IMAGE",
		       "SIZE", "CREATED");
		json_array_foreach (arr, i, o) {
			time_t t = (time_t)json_integer_value(json_object_get(o, "created_at"));
			char when[32];
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
			printf("%-16s %-14s %-10s %-8s %12" JSON_INTEGER_FORMAT "  %s\n",
			       json_string_value(json_object_get(o, "id")),
			       json_string_value(json_object_get(o, "sandbox")),
			       json_string_value(json_object_get(o, "tenant")),
			       json_string_value(json_object_get(o, "image")),
			       json_integer_value(json_object_get(o, "size_bytes")), when);
		}
	} else if (!r && !strcmp(name, "fork")) {
		json_t *arr = json_object_get(j, "sandboxes"), *o;
		size_t i;
		json_array_foreach (arr, i, o)
			printf("%s\n", json_string_value(o));
	} else if (!r) {
		printf("%s\n", json_string_value(json_object_get(j, "id")));
	}
	json_decref(j);
	client_resp_clear(&resp);
	return r;
}

static int cmd_simple(const char *name, int argc, char **argv)
{
	const char *sock = NULL, *state = NULL, *label = NULL;
	bool json = false, follow = false;
	const char *ids[256];
	int nids = 0, r = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			sock = argv[++i];
		else if (!strcmp(name, "logs") &&
			 (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--follow")))
			follow = true;
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(name, "ls") && !strcmp(argv[i], "--state") && i + 1 < argc)
			state = argv[++i];
		else if (!strcmp(name, "ls") && !strcmp(argv[i], "--label") && i + 1 < argc)
			label = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1])
			return die("unknown option %s (see sbx --help)", argv[i]);
		else if (nids < (int)ARRAY_SIZE(ids))
			ids[nids++] = argv[i];
	}
	if (!strcmp(name, "ls") ? nids != 0 : !strcmp(name, "rm") ? nids == 0 : nids != 1)
		return die("usage: sbx %s", !strcmp(name, "ls")
						    ? "ls [--json] [--state S] [--label K=V]"
					    : !strcmp(name, "rm") ? "rm ID..."
								  : "inspect|logs|usage ID");
	if (!strcmp(name, "ls")) {
		_cleanup_free_ char *q = NULL, *es = state ? client_query_escape(state) : NULL,
				    *el = label ? client_query_escape(label) : NULL;
		if (asprintf(&q, "/v1/sandboxes%s%s%s%s%s", state || label ? "?" : "",
			     state ? "state=" : "", es ? es : "", state && label ? "&" : "",
			     label ? "label=" : "") < 0)
			return die("out of memory");
		_cleanup_free_ char *target = NULL;
		if (asprintf(&target, "%s%s", q, el ? el : "") < 0)
			return die("out of memory");
		struct client_resp resp;
		r = api(socket_path(sock), "GET", target, NULL, NULL, 0, &resp, NULL, NULL);
		if (r || (r = api_check(&resp)))
			goto out_ls;
		json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
		json_t *arr = json_object_get(j, "sandboxes"), *b;
		size_t i;
		if (json) {
			print_json(arr);
		} else {
			printf("%-14s %-9s %-10s %-10s %-24s %s\n", "ID", "STATE", "IMAGE",
			       "TENANT", "CREATED", "EXIT");
			json_array_foreach (arr, i, b) {
				json_t *ec = json_object_get(b, "exit_code");
				char code[16] = "-";
				if (json_is_integer(ec))
					snprintf(code, sizeof(code), "%d",
						 (int)json_integer_value(ec));
				printf("%-14s %-9s %-10s %-10s %-24s %s\n",
				       json_string_value(json_object_get(b, "id")),
				       json_string_value(json_object_get(b, "state")),
				       json_string_value(json_object_get(b, "image")),
				       json_string_value(json_object_get(b, "tenant")),
				       json_string_value(json_object_get(b, "created_at")), code);
			}
		}
		json_decref(j);
	out_ls:
		client_resp_clear(&resp);
		return r;
	}
	if (follow) { /* the log as it grows, until the sandbox stops */
		_cleanup_free_ char *target = sandbox_target(ids[0], "logs", "follow=1");
		struct stream st = { 0 };
		struct client_resp resp;
		if (!target)
			return die("invalid sandbox id \"%s\"", ids[0]);
		st.resp = &resp;
		r = api(socket_path(sock), "GET", target, NULL, NULL, 0, &resp, follow_body, &st);
		if (!r && resp.status != 200) {
			resp.body = st.err;
			resp.len = st.err_len;
			st.err = NULL;
			r = api_check(&resp);
		}
		free(st.err);
		client_resp_clear(&resp);
		return r;
	}
	for (int k = 0; k < nids; k++) {
		_cleanup_free_ char *target =
			!strcmp(name, "rm") && !strncmp(ids[k], "snap-", 5)
				? snapshot_target(ids[k], NULL)
				: sandbox_target(ids[k],
						 !strcmp(name, "logs") || !strcmp(name, "usage")
							 ? name
							 : NULL,
						 NULL);
		struct client_resp resp;
		int e;
		if (!target) {
			r = die("invalid sandbox id \"%s\"", ids[k]);
			continue;
		}
		e = api(socket_path(sock), !strcmp(name, "rm") ? "DELETE" : "GET", target, NULL,
			NULL, 0, &resp, NULL, NULL);
		if (e)
			return e;
		e = api_check(&resp);
		if (!e && !strcmp(name, "logs")) {
			(void)client_write_all(1, resp.body, resp.len);
		} else if (!e && !strcmp(name, "usage") && !json) {
			json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
			print_usage(j);
			json_decref(j);
		} else if (!e && (!strcmp(name, "inspect") || json)) {
			json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
			e = print_json(j);
			json_decref(j);
		} else if (!e) {
			printf("%s\n", ids[k]);
		}
		if (e)
			r = e;
		client_resp_clear(&resp);
	}
	return r;
}

/* sbx gpus: the host's GPUs, their models and who holds each. */
static int cmd_gpus(int argc, char **argv)
{
	const char *sock = NULL;
	bool json = false;
	struct client_resp resp;
	int r;

	prog = "sbx gpus";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			sock = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return die("usage: sbx gpus [--json]");
	}
	r = api(socket_path(sock), "GET", "/v1/gpus", NULL, NULL, 0, &resp, NULL, NULL);
	if (r || (r = api_check(&resp))) {
		client_resp_clear(&resp);
		return r;
	}
	json_t *j = json_loadb(resp.body, resp.len, 0, NULL), *g;
	size_t i;
	if (json) {
		print_json(json_object_get(j, "gpus"));
	} else {
		printf("%-5s %-28s %-18s %-14s %s\n", "GPU", "MODEL", "DEVICE", "HELD BY", "BUS");
		json_array_foreach (json_object_get(j, "gpus"), i, g) {
			const char *sb = json_string_value(json_object_get(g, "sandbox"));
			bool is_free = json_is_true(json_object_get(g, "free"));
			printf("%-5d %-28s %-18s %-14s %s\n",
			       (int)json_integer_value(json_object_get(g, "index")),
			       json_string_value(json_object_get(g, "model")),
			       json_string_value(json_object_get(g, "device")),
			       is_free ? "-"
			       : sb    ? sb
				       : "(another)",
			       json_is_string(json_object_get(g, "bus"))
				       ? json_string_value(json_object_get(g, "bus"))
				       : "-");
		}
	}
	json_decref(j);
	client_resp_clear(&resp);
	return 0;
}

/* ---- sbx bill ---- */

struct bill_line {
	char tenant[40], sandbox[16], sku[64], unit[32];
	uint64_t pq_nano, cost_nano;
};

static int bill_cmp(const void *a, const void *b)
{
	const struct bill_line *x = a, *y = b;
	int c = strcmp(x->tenant, y->tenant);
	if (!c)
		c = strcmp(x->sandbox, y->sandbox);
	return c ? c : strcmp(x->sku, y->sku);
}

/* "0.000014000" -> nano-units (the API's decimals have 9 places). */
static uint64_t dec_nano(const char *s)
{
	uint64_t whole = 0, frac = 0;
	int d = 0;
	for (; s && *s >= '0' && *s <= '9'; s++)
		whole = whole * 10 + (uint64_t)(*s - '0');
	if (s && *s == '.')
		for (s++; *s >= '0' && *s <= '9' && d < 9; s++, d++)
			frac = frac * 10 + (uint64_t)(*s - '0');
	for (; d < 9; d++)
		frac *= 10;
	return whole * 1000000000ULL + frac;
}

static void print_nano(uint64_t n)
{
	printf("%llu.%09llu", (unsigned long long)(n / 1000000000ULL),
	       (unsigned long long)(n % 1000000000ULL));
}

/* Per tenant and sandbox, per SKU, with totals. */
static int bill_table(json_t *j)
{
	json_t *rows = json_object_get(j, "rows"), *r;
	const char *cur = json_string_value(json_object_get(j, "currency"));
	size_t i, n = 0, cap = json_array_size(rows);
	struct bill_line *lines = calloc(cap ? cap : 1, sizeof(*lines));
	if (!lines)
		return die("out of memory");
	json_array_foreach (rows, i, r) {
		const char *t = json_string_value(json_object_get(r, "tenant"));
		const char *s = json_string_value(json_object_get(r, "sandbox"));
		const char *k = json_string_value(json_object_get(r, "sku"));
		struct bill_line *l = NULL;
		for (size_t m = 0; m < n && !l; m++)
			if (!strcmp(lines[m].tenant, t) && !strcmp(lines[m].sandbox, s) &&
			    !strcmp(lines[m].sku, k))
				l = &lines[m];
		if (!l) {
			l = &lines[n++];
			snprintf(l->tenant, sizeof(l->tenant), "%s", t);
			snprintf(l->sandbox, sizeof(l->sandbox), "%s", s);
			snprintf(l->sku, sizeof(l->sku), "%s", k);
			snprintf(l->unit, sizeof(l->unit), "%s",
				 json_string_value(json_object_get(r, "pricing_unit")));
		}
		l->pq_nano += dec_nano(json_string_value(json_object_get(r, "pricing_quantity")));
		l->cost_nano += (uint64_t)json_integer_value(json_object_get(r, "cost_nano"));
	}
	qsort(lines, n, sizeof(*lines), bill_cmp);
	printf("%-10s %-13s %-34s %22s %-18s %16s\n", "TENANT", "SANDBOX", "SKU", "QUANTITY",
	       "UNIT", cur ? cur : "COST");
	uint64_t sb = 0, tn = 0, all = 0;
	for (i = 0; i < n; i++) {
		char q[40];
		snprintf(q, sizeof(q), "%llu.%09llu",
			 (unsigned long long)(lines[i].pq_nano / 1000000000ULL),
			 (unsigned long long)(lines[i].pq_nano % 1000000000ULL));
		printf("%-10s %-13s %-34s %22s %-18s ", lines[i].tenant, lines[i].sandbox,
		       lines[i].sku, q, lines[i].unit);
		char c[40];
		snprintf(c, sizeof(c), "%llu.%09llu",
			 (unsigned long long)(lines[i].cost_nano / 1000000000ULL),
			 (unsigned long long)(lines[i].cost_nano % 1000000000ULL));
		printf("%16s\n", c);
		sb += lines[i].cost_nano;
		tn += lines[i].cost_nano;
		all += lines[i].cost_nano;
		bool end_sb = i + 1 == n || strcmp(lines[i + 1].sandbox, lines[i].sandbox) ||
			      strcmp(lines[i + 1].tenant, lines[i].tenant);
		bool end_tn = i + 1 == n || strcmp(lines[i + 1].tenant, lines[i].tenant);
		if (end_sb) {
			printf("%-10s %-13s %-34s %41s ", "", lines[i].sandbox, "sandbox total",
			       "");
			print_nano(sb);
			printf("\n");
			sb = 0;
		}
		if (end_tn) {
			printf("%-10s %-13s %-34s %41s ", lines[i].tenant, "", "tenant total", "");
			print_nano(tn);
			printf("\n");
			tn = 0;
		}
	}
	printf("%-10s %-13s %-34s %41s ", "", "", "total", "");
	print_nano(all);
	printf(" %s\n", cur ? cur : "");
	free(lines);
	return 0;
}

static int cmd_bill(int argc, char **argv)
{
	const char *sock = NULL, *format = "table", *opt[4] = { 0 };
	static const char *const names[4] = { "from", "to", "tenant", "sandbox" };
	bool verify = false;

	prog = "sbx bill";
	for (int i = 1; i < argc; i++) {
		bool known = false;
		if (!strcmp(argv[i], "verify")) {
			verify = true;
			continue;
		}
		if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			sock = argv[++i];
			continue;
		}
		if (!strcmp(argv[i], "--format") && i + 1 < argc) {
			format = argv[++i];
			continue;
		}
		for (int k = 0; k < 4 && !known; k++)
			if (!strncmp(argv[i], "--", 2) && !strcmp(argv[i] + 2, names[k]) &&
			    i + 1 < argc) {
				opt[k] = argv[++i];
				known = true;
			}
		if (!known)
			return die(
				"usage: sbx bill [--from T] [--to T] [--tenant T] [--sandbox ID] "
				"[--format table|focus|cloudevents|json] | sbx bill verify");
	}
	struct client_resp resp;
	int r;
	if (verify) {
		r = api(socket_path(sock), "GET", "/v1/ledger/verify", NULL, NULL, 0, &resp, NULL,
			NULL);
		if (r || (r = api_check(&resp))) {
			client_resp_clear(&resp);
			return r;
		}
		json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
		if (json_is_true(json_object_get(j, "ok"))) {
			printf("ledger intact: %" JSON_INTEGER_FORMAT
			       " rows, hash chain verified\n",
			       json_integer_value(json_object_get(j, "rows")));
			r = 0;
		} else {
			printf("ledger broken at row %s: %s\n",
			       json_string_value(json_object_get(j, "bad_row")),
			       json_string_value(json_object_get(j, "reason")));
			r = 1;
		}
		json_decref(j);
		client_resp_clear(&resp);
		return r;
	}
	bool table = !strcmp(format, "table");
	if (!table && strcmp(format, "focus") && strcmp(format, "cloudevents") &&
	    strcmp(format, "json"))
		return die("--format: \"%s\" is not table, focus, cloudevents or json", format);
	char *target = NULL;
	size_t tlen = 0;
	FILE *f = open_memstream(&target, &tlen);
	if (!f)
		return die("out of memory");
	fprintf(f, "/v1/usage?format=%s", table ? "json" : format);
	for (int k = 0; k < 4; k++)
		if (opt[k]) {
			char *e = client_query_escape(opt[k]);
			fprintf(f, "&%s=%s", names[k], e ? e : "");
			free(e);
		}
	fclose(f);
	r = api(socket_path(sock), "GET", target, NULL, NULL, 0, &resp, NULL, NULL);
	free(target);
	if (r || (r = api_check(&resp))) {
		client_resp_clear(&resp);
		return r;
	}
	if (table) {
		json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
		r = j ? bill_table(j) : die("sbxd's answer is not JSON");
		json_decref(j);
	} else {
		(void)client_write_all(1, resp.body, resp.len);
	}
	client_resp_clear(&resp);
	return r;
}

/* ---- sbx top ---- */

enum top_sort {
	SORT_CPU,
	SORT_MEMORY,
	SORT_SYSCALLS
};

struct top_row {
	char id[16], tenant[40], state[12];
	double cpu_pct, cpu_s, mem_mib, peak_mib;
	long long syscalls, rx, tx;
};

static struct {
	char id[16];
	json_int_t cpu_ns;
} top_prev[4096];
static size_t top_nprev;
static int64_t top_prev_at;
static enum top_sort top_by;

static int top_cmp(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;
	double dx = top_by == SORT_CPU	    ? x->cpu_pct
		    : top_by == SORT_MEMORY ? x->mem_mib
					    : (double)x->syscalls;
	double dy = top_by == SORT_CPU	    ? y->cpu_pct
		    : top_by == SORT_MEMORY ? y->mem_mib
					    : (double)y->syscalls;
	return (dy > dx) - (dy < dx);
}

static json_int_t jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* One screen: a header line, then a row per sandbox, sorted. */
static int top_once(const char *sock, bool clear, bool print)
{
	struct client_resp resp;
	int r = api(sock, "GET", "/v1/sandboxes?usage=1", NULL, NULL, 0, &resp, NULL, NULL);
	if (r)
		return r;
	if ((r = api_check(&resp))) {
		client_resp_clear(&resp);
		return r;
	}
	json_t *j = json_loadb(resp.body, resp.len, 0, NULL),
	       *arr = json_object_get(j, "sandboxes"), *b;
	size_t n = json_array_size(arr), i;
	struct top_row *rows = calloc(n ? n : 1, sizeof(*rows));
	int64_t now = now_ns();
	double dt = top_prev_at ? (double)(now - top_prev_at) : 0;
	json_array_foreach (arr, i, b) {
		json_t *u = json_object_get(b, "usage"), *net = json_object_get(u, "net");
		struct top_row *w = &rows[i];
		snprintf(w->id, sizeof(w->id), "%s", json_string_value(json_object_get(b, "id")));
		snprintf(w->tenant, sizeof(w->tenant), "%s",
			 json_string_value(json_object_get(b, "tenant")));
		snprintf(w->state, sizeof(w->state), "%s",
			 json_string_value(json_object_get(b, "state")));
		json_int_t cpu = jint(u, "cpu_ns");
		w->cpu_s = cpu / 1e9;
		w->mem_mib = jint(u, "memory_bytes") / 1048576.0;
		w->peak_mib = jint(u, "memory_peak_bytes") / 1048576.0;
		w->syscalls = jint(u, "syscalls_total");
		w->rx = jint(net, "rx_bytes");
		w->tx = jint(net, "tx_bytes");
		for (size_t k = 0; dt > 0 && k < top_nprev; k++)
			if (!strcmp(top_prev[k].id, w->id) && cpu >= top_prev[k].cpu_ns)
				w->cpu_pct = 100.0 * (double)(cpu - top_prev[k].cpu_ns) / dt;
	}
	top_nprev = 0;
	for (i = 0; i < n && i < ARRAY_SIZE(top_prev); i++) {
		snprintf(top_prev[i].id, sizeof(top_prev[i].id), "%s", rows[i].id);
		top_prev[i].cpu_ns = (json_int_t)(rows[i].cpu_s * 1e9);
		top_nprev++;
	}
	top_prev_at = now;
	qsort(rows, n, sizeof(*rows), top_cmp);
	if (!print)
		n = 0, clear = false;
	else if (clear)
		printf("\033[H\033[2J");
	if (print)
		printf("%-13s %-10s %-8s %6s %9s %9s %9s %12s %10s %10s\n", "ID", "TENANT", "STATE",
		       "CPU%", "CPU s", "MEM MiB", "PEAK MiB", "SYSCALLS", "RX B", "TX B");
	for (i = 0; i < n; i++)
		printf("%-13s %-10s %-8s %6.1f %9.2f %9.1f %9.1f %12lld %10lld %10lld\n",
		       rows[i].id, rows[i].tenant, rows[i].state, rows[i].cpu_pct, rows[i].cpu_s,
		       rows[i].mem_mib, rows[i].peak_mib, rows[i].syscalls, rows[i].rx, rows[i].tx);
	if (clear)
		printf("\nsorted by %s; c cpu, m memory, s syscalls, q quits\n",
		       top_by == SORT_CPU      ? "cpu"
		       : top_by == SORT_MEMORY ? "memory"
					       : "syscalls");
	fflush(stdout);
	free(rows);
	json_decref(j);
	client_resp_clear(&resp);
	return 0;
}

static int cmd_top(int argc, char **argv)
{
	const char *sock = NULL;
	double interval = 1.0;
	bool once = false;

	prog = "sbx top";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			sock = argv[++i];
		else if (!strcmp(argv[i], "--once"))
			once = true;
		else if (!strcmp(argv[i], "--interval") && i + 1 < argc && atof(argv[i + 1]) >= 0.1)
			interval = atof(argv[++i]);
		else if (!strcmp(argv[i], "--sort") && i + 1 < argc) {
			const char *s = argv[++i];
			if (!strcmp(s, "cpu"))
				top_by = SORT_CPU;
			else if (!strcmp(s, "memory"))
				top_by = SORT_MEMORY;
			else if (!strcmp(s, "syscalls"))
				top_by = SORT_SYSCALLS;
			else
				return die("--sort: \"%s\" is not cpu, memory or syscalls", s);
		} else
			return die("usage: sbx top [--sort cpu|memory|syscalls] [--interval S] "
				   "[--once]");
	}
	sock = socket_path(sock);
	/* Not a terminal: one plain table, from two readings (CPU% is a rate). */
	if (once || !isatty(1) || !isatty(0)) {
		int r = top_once(sock, false, false);
		if (r)
			return r;
		usleep((useconds_t)(interval * 1e6));
		return top_once(sock, false, true);
	}
	struct termios old, raw;
	if (tcgetattr(0, &old) < 0)
		return die("terminal: %s", strerror(errno));
	raw = old;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	tcsetattr(0, TCSANOW, &raw);
	int r = 0;
	for (;;) {
		r = top_once(sock, true, true);
		if (r)
			break;
		struct pollfd p = { .fd = 0, .events = POLLIN };
		if (poll(&p, 1, (int)(interval * 1000)) > 0) {
			char ch = 0;
			if (read(0, &ch, 1) == 1) {
				if (ch == 'q' || ch == 'Q')
					break;
				top_by = ch == 'c'   ? SORT_CPU
					 : ch == 'm' ? SORT_MEMORY
					 : ch == 's' ? SORT_SYSCALLS
						     : top_by;
			}
		}
	}
	tcsetattr(0, TCSANOW, &old);
	return r;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_SBX;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("sbx %s\n", SBX_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "create"))
		return cmd_create(argc - 1, argv + 1);
	if (!strcmp(argv[1], "exec"))
		return cmd_exec(argc - 1, argv + 1);
	if (!strcmp(argv[1], "cp"))
		return cmd_cp(argc - 1, argv + 1);
	if (!strcmp(argv[1], "top"))
		return cmd_top(argc - 1, argv + 1);
	if (!strcmp(argv[1], "bill"))
		return cmd_bill(argc - 1, argv + 1);
	if (!strcmp(argv[1], "checkpoint") || !strcmp(argv[1], "restore") ||
	    !strcmp(argv[1], "fork") || !strcmp(argv[1], "snapshots")) {
		return cmd_snap(argv[1], argc - 1, argv + 1);
	}
	if (!strcmp(argv[1], "gpus"))
		return cmd_gpus(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ls") || !strcmp(argv[1], "inspect") || !strcmp(argv[1], "rm") ||
	    !strcmp(argv[1], "logs") || !strcmp(argv[1], "usage")) {
		static char name[32];
		snprintf(name, sizeof(name), "sbx %s", argv[1]);
		prog = name;
		return cmd_simple(argv[1], argc - 1, argv + 1);
	}
	return die("unknown command \"%s\" (see sbx --help)", argv[1]);
}
