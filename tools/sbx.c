// SPDX-License-Identifier: MIT
/* sbx: the command-line client. `sbx run` launches a one-shot sandbox with libsandbox
 * directly, without a daemon. */
#define _GNU_SOURCE
#include <errno.h>
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
#include <time.h>
#include <unistd.h>

#include "../sandbox/image.h"
#include "../sandbox/macro.h"
#include "../sandbox/sandbox.h"
#include "../sandbox/sysfilter.h"

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
	char self[PATH_MAX], *out;
	ssize_t n;

	if (e && e[0])
		return strdup(e);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return NULL;
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	return asprintf(&out, "%s/%s", self, name) < 0 ? NULL : out;
}

static void usage_run(FILE *f)
{
	fprintf(f,
		"Usage: sbx run [OPTIONS] [--] CMD [ARG...]\n"
		"Run CMD in a new one-shot sandbox, without a daemon; exit with its status.\n\n"
		"  --image NAME|PATH     image to run (default: base; also: host)\n"
		"  --memory SIZE         memory limit, e.g. 256M (an OOM kill stays inside)\n"
		"  --cpus N              CPU quota in cores, e.g. 0.5\n"
		"  --pids N              maximum number of processes\n"
		"  --timeout DURATION    wall-clock limit, e.g. 30s, 10m; exit 124 when hit\n"
		"  --net none|loopback   network: a private namespace with only lo (default none)\n"
		"  --env K=V             set an environment variable (repeatable)\n"
		"  --workdir DIR         working directory inside the sandbox (default /)\n"
		"  --hostname NAME       hostname inside the sandbox (default: the sandbox id)\n"
		"  --user UID[:GID]      run as this user instead of root\n"
		"  --user-ns             map root to unprivileged host ids %u-%u\n"
		"  --seccomp default|PATH  syscall filter; PATH is an OCI-style JSON profile\n"
		"  --writable-size SIZE  writable layer over the read-only image (default: none)\n"
		"  --tmp-size SIZE       size of /tmp (default 256M)\n"
		"  --help                show this help\n\n"
		"Exit status: the command's; 128+N if killed by signal N; 124 on timeout;\n"
		"125 sbx error; 126 command not executable; 127 command not found.\n",
		SANDBOX_USERNS_BASE, SANDBOX_USERNS_BASE + SANDBOX_USERNS_SIZE - 1);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: sbx COMMAND [OPTIONS]\n\n"
		   "Commands:\n"
		   "  run [OPTIONS] [--] CMD [ARG...]   run a one-shot sandbox (see sbx run "
		   "--help)\n\n"
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
};

static int parse_user(const char *s, uid_t *uid, gid_t *gid)
{
	char *end;
	unsigned long u, g;

	errno = 0;
	u = strtoul(s, &end, 10);
	if (errno || end == s || u > 65535)
		return -EINVAL;
	g = u;
	if (*end == ':') {
		const char *gs = end + 1;
		g = strtoul(gs, &end, 10);
		if (errno || end == gs || g > 65535)
			return -EINVAL;
	}
	if (*end)
		return -EINVAL;
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
}

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
					"between 0.001 and 1024, e.g. 0.5)",
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
			if (parse_user(v, &o->uid, &o->gid) < 0)
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
			usage_run(stdout);
			return 0;
		case ':':
			return -die("option %s needs a value", argv[optind - 1]);
		default:
			return -die("unknown option %s (see sbx run --help)", argv[optind - 1]);
		}
	}
	if (optind >= argc)
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
		.user_ns = o.user_ns,
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

	struct sandbox *sb;
	struct sandbox_error serr;
	r = sandbox_start(&spec, init, &sb, &serr);
	if (r < 0) {
		if (serr.stage == STAGE_WORKDIR)
			return die("--workdir %s: %s", o.workdir, strerror(serr.err));
		if (serr.stage == STAGE_CGROUP && serr.err == EOPNOTSUPP)
			return die(
				"this host's cgroup v2 does not delegate the memory, cpu or pids "
				"controller that --memory, --cpus or --pids needs");
		return die("sandbox setup failed at %s: %s", sandbox_stage_name(serr.stage),
			   strerror(serr.err));
	}
	int code = supervise(sb, sigfd, &o);
	r = sandbox_destroy(sb);
	if (r < 0)
		fprintf(stderr, "%s: warning: cgroup teardown: %s\n", prog, strerror(-r));
	return code;
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
	return die("unknown command \"%s\" (see sbx --help)", argv[1]);
}
