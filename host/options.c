// SPDX-License-Identifier: MIT
/* sbxd's options: their defaults, the command line (getopt_long over one table), and
 * the checks across them. */
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
#include "../sandbox/spec.h"
#include "../sandbox/sysfilter.h"
#include "domain/domain.h"
#include "domain/images.h"
#include "edge/edge.h"
#include "../sandbox/text.h"
#include "sys/devices.h"
#include "sys/meter.h"
#include "billing/rates.h"
#include "sys/store.h"

#include "sbxd.h"

void options_default(void)
{
	D.opt = (struct options){
		.socket_path = DEFAULT_SOCKET,
		.state_dir = DEFAULT_STATE,
		.log_level = 2,
		.max_sandboxes = 4096,
		.max_per_tenant = 1024,
		.max_snapshots = 64,
		.max_conns = 4096,
		.max_unix_conns = 1024,
		.max_unauth_conns = 1024,
		.max_conns_per_peer = 512,
		.max_conns_per_tenant = 1024,
		.buffer_memory = 256ULL << 20,
		.auth_ns = 10LL * 1000000000LL,
		.default_limits = LAUNCH_DEFAULT_LIMITS,
		.max_limits = { .pids = 32768 },
		.max_writable = 8ULL << 30,
		.tmp_bytes = LAUNCH_DEFAULT_TMP_BYTES,
		.default_timeout_ns = 300ULL * 1000000000ULL,
		.max_body = 16ULL << 20,
		.max_file = 100ULL << 20,
		.max_image = 8ULL << 30,
		.exec_output_max = 4ULL << 20,
		.log_cap = 16ULL << 20,
		.writable_default = 1ULL << 30,
		.meter_tick_ns = 1000000000ULL,
		.bill_window_ns = 60000000000ULL,
		.conn_idle_ns = 60LL * 1000000000LL,
		.request_ns = 30LL * 1000000000LL,
		.net_pool = NET_DEFAULT_POOL,
		.domain = "sbx.localhost",
		.e2b_base = "host",
		.net_max_conns = 1024,
	};
	E.listen_fd[0] = E.listen_fd[1] = -1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sbxd [OPTIONS]\n"
		"       sbxd tenant add NAME [--state-dir DIR]   print a new API token\n\n"
		"  --socket PATH          unix socket (default " DEFAULT_SOCKET ", mode 0660)\n"
		"  --state-dir DIR        state directory (default " DEFAULT_STATE ")\n"
		"  --listen ADDR:PORT     also serve TCP, bearer tokens required (default off)\n"
		"  --kill-on-exit         stop every sandbox when sbxd exits\n"
		"  --instance NAME        an sbxd of its own beside others (or SBX_INSTANCE): its\n"
		"                         cgroups, pinned meter, layers and default socket apart\n"
		"  --no-favordynmods      leave the cgroup2 mount as it is (hybrid hosts)\n"
		"  --no-metering          do not load the eBPF meter (usage says so)\n"
		"  --gpu-device PATH[=MODEL]  grant this character device as a GPU (repeatable)\n"
		"  --rates FILE           rate card (JSON) instead of the built-in one; SIGHUP\n"
		"                         reloads it, keeping the old card if the new one is bad\n"
		"  --bill-window D        ledger window, aligned to the clock (default 60s)\n"
		"  --criu PATH            the criu binary for checkpoints (default: found in "
		"PATH)\n"
		"  --max-sandboxes N      sandboxes on this host (default 4096)\n"
		"  --max-per-tenant N     sandboxes per tenant (default 1024)\n"
		"  --warm N               keep N sandboxes of the plain request (image base,\n"
		"                         the defaults) started ahead: a create that asks for\n"
		"                         nothing else takes one at once (default 0, at most 16)\n"
		"  --max-snapshots N      snapshots a tenant keeps (default 64)\n"
		"  --default-timeout D    wall timeout of sandboxes that set none (default 5m)\n"
		"  --default-memory SIZE  memory of sandboxes that set none (default 512M)\n"
		"  --default-cpus N       CPU quota of sandboxes that set none (default 1)\n"
		"  --default-pids N       processes of sandboxes that set none (default 512)\n"
		"  --max-memory SIZE      the most a sandbox may ask for (default: the host's "
		"RAM)\n"
		"  --max-cpus N           (default: the host's CPUs)\n"
		"  --max-pids N           (default 32768)\n"
		"  --max-writable SIZE    largest writable layer (default 8G; each sandbox's\n"
		"                         default is 1G, or this when smaller)\n"
		"  --tmp-size SIZE        /tmp where an image's is not sticky and world-writable\n"
		"                         (default 256M; otherwise /tmp is the writable layer's)\n"
		"  --max-file SIZE        largest file moved through the files API (default 100M)\n"
		"  --max-image SIZE       largest image archive, and its unpacked data (default "
		"8G)\n"
		"  --max-body SIZE        largest JSON request body (default 16M)\n"
		"  --auth-timeout D       TCP peers show a valid token within D (default 10s)\n"
		"  --images DIR           images directory (default: beside sbxd)\n"
		"  --net-pool CIDR        sandbox addresses, a /31 each (default " NET_DEFAULT_POOL
		")\n"
		"  --net-uplink IFACE     where sandbox traffic leaves (default: the interface of\n"
		"                         the default route)\n"
		"  --net-dns ADDR         resolver sandboxes' queries go to (default: the first\n"
		"                         IPv4 nameserver of /etc/resolv.conf)\n"
		"  --net-allow CIDR[:PORT]  open this network (port) to every sandbox despite the\n"
		"                         platform deny set, e.g. a package mirror (repeatable)\n"
		"  --net-max-conns N      concurrent connections a sandbox may open (default "
		"1024)\n"
		"  --no-net               no sandbox networking: the host is left as it is\n"
		"  --domain DOMAIN        published ports answer as PORT-ID.DOMAIN on the TCP\n"
		"                         listener (default sbx.localhost)\n"
		"  --e2b-base IMAGE       what E2B's default template \"base\" runs (default\n"
		"                         host: the host's /usr, with bash, read-only)\n"
		"  --log-level LEVEL      error, warn, info (default) or debug\n");
}

static int parse_count(const char *s, unsigned *ret)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > 1000000)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* --net-allow CIDR[:PORT]: an exception to the platform deny set, for every sandbox. */
static int parse_net_allow(const char *arg)
{
	char buf[32], *colon;
	struct net_exception e = { 0 };

	snprintf(buf, sizeof(buf), "%s", arg);
	if ((colon = strchr(buf, ':'))) {
		*colon++ = '\0';
		unsigned port;
		if (parse_count(colon, &port) < 0 || port > 65535)
			return -die("--net-allow %s: the port must be 1-65535", arg);
		e.port = (uint16_t)port;
	}
	if (strlen(arg) >= sizeof(buf) || apispec_parse_cidr(buf, &e.net) < 0)
		return -die("--net-allow %s: not CIDR[:PORT] (\"10.1.2.0/24:3128\")", arg);
	struct net_exception *v = realloc(D.opt.net_allow, (D.opt.n_net_allow + 1) * sizeof(*v));
	if (!v)
		return -die("out of memory");
	D.opt.net_allow = v;
	v[D.opt.n_net_allow++] = e;
	return 0;
}

/* --gpu-device PATH[=MODEL]: a character device sandboxes may be granted as a GPU. */
int options_add_gpu(const char *arg)
{
	const char *eq = strchr(arg, '=');
	_cleanup_free_ char *path = eq ? strndup(arg, (size_t)(eq - arg)) : strdup(arg);

	if (!path)
		return -die("out of memory");
	int r = path[0] == '/' ? gpu_add(path, eq && eq[1] ? eq + 1 : "unknown", NULL) : -EINVAL;
	if (r == -E2BIG)
		return -die("--gpu-device: at most %zu devices", ARRAY_SIZE(D.gpus));
	if (r < 0)
		return -die("--gpu-device: \"%s\" is not a character device", path);
	return 0;
}

/* The maxima the host allows by default (its RAM and CPUs), and defaults within them. */
int options_check(void)
{
	struct sandbox_limits *max = &D.opt.max_limits, *def = &D.opt.default_limits;

	if (!max->memory_bytes)
		max->memory_bytes = spec_host_memory() ? spec_host_memory() : 1ULL << 40;
	if (!max->cpu_milli) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		max->cpu_milli = (uint32_t)(n > 0 ? n : 1) * 1000;
	}
	if (def->memory_bytes > max->memory_bytes)
		def->memory_bytes = max->memory_bytes;
	if (def->cpu_milli > max->cpu_milli)
		def->cpu_milli = max->cpu_milli;
	if (def->pids > max->pids)
		return -die("--default-pids %" PRIu64 " is above --max-pids %" PRIu64, def->pids,
			    max->pids);
	if (D.opt.writable_default > D.opt.max_writable)
		D.opt.writable_default = D.opt.max_writable;
	return 0;
}

const char *gpu_args[16];
size_t ngpu_args;

enum {
	O_SOCKET = 256,
	O_STATE,
	O_LISTEN,
	O_KILL,
	O_MAXSB,
	O_MAXTEN,
	O_DEFTO,
	O_IMAGES,
	O_LOG,
	O_MAXFILE,
	O_NOFAVOR,
	O_NOMETER,
	O_GPUDEV,
	O_RATES,
	O_BILLWIN,
	O_NVROOT,
	O_NVML,
	O_CRIU,
	O_DEFMEM,
	O_DEFCPU,
	O_DEFPIDS,
	O_MAXMEM,
	O_MAXCPU,
	O_MAXPIDS,
	O_MAXWR,
	O_TMP,
	O_MAXBODY,
	O_AUTHTO,
	O_MAXSNAP,
	O_INSTANCE,
	O_NETPOOL,
	O_NETUPLINK,
	O_NETDNS,
	O_NONET,
	O_NETALLOW,
	O_NETCONNS,
	O_DOMAIN,
	O_E2B_BASE,
	O_MAXIMAGE,
	O_WARM,
	O_HELP
};

static const struct option sbxd_options[] = {
	{ "socket", required_argument, NULL, O_SOCKET },
	{ "state-dir", required_argument, NULL, O_STATE },
	{ "listen", required_argument, NULL, O_LISTEN },
	{ "kill-on-exit", no_argument, NULL, O_KILL },
	{ "max-sandboxes", required_argument, NULL, O_MAXSB },
	{ "max-per-tenant", required_argument, NULL, O_MAXTEN },
	{ "default-timeout", required_argument, NULL, O_DEFTO },
	{ "images", required_argument, NULL, O_IMAGES },
	{ "log-level", required_argument, NULL, O_LOG },
	{ "max-file", required_argument, NULL, O_MAXFILE },
	{ "max-image", required_argument, NULL, O_MAXIMAGE },
	{ "no-favordynmods", no_argument, NULL, O_NOFAVOR },
	{ "no-metering", no_argument, NULL, O_NOMETER },
	{ "gpu-device", required_argument, NULL, O_GPUDEV },
	{ "rates", required_argument, NULL, O_RATES },
	{ "bill-window", required_argument, NULL, O_BILLWIN },
	{ "nvidia-root", required_argument, NULL, O_NVROOT },
	{ "nvml-lib", required_argument, NULL, O_NVML },
	{ "criu", required_argument, NULL, O_CRIU },
	{ "default-memory", required_argument, NULL, O_DEFMEM },
	{ "default-cpus", required_argument, NULL, O_DEFCPU },
	{ "default-pids", required_argument, NULL, O_DEFPIDS },
	{ "max-memory", required_argument, NULL, O_MAXMEM },
	{ "max-cpus", required_argument, NULL, O_MAXCPU },
	{ "max-pids", required_argument, NULL, O_MAXPIDS },
	{ "max-writable", required_argument, NULL, O_MAXWR },
	{ "tmp-size", required_argument, NULL, O_TMP },
	{ "max-body", required_argument, NULL, O_MAXBODY },
	{ "auth-timeout", required_argument, NULL, O_AUTHTO },
	{ "max-snapshots", required_argument, NULL, O_MAXSNAP },
	{ "instance", required_argument, NULL, O_INSTANCE },
	{ "net-pool", required_argument, NULL, O_NETPOOL },
	{ "net-uplink", required_argument, NULL, O_NETUPLINK },
	{ "net-dns", required_argument, NULL, O_NETDNS },
	{ "no-net", no_argument, NULL, O_NONET },
	{ "net-allow", required_argument, NULL, O_NETALLOW },
	{ "net-max-conns", required_argument, NULL, O_NETCONNS },
	{ "domain", required_argument, NULL, O_DOMAIN },
	{ "e2b-base", required_argument, NULL, O_E2B_BASE },
	{ "warm", required_argument, NULL, O_WARM },
	{ "help", no_argument, NULL, O_HELP },
	{ 0 },
};

/* --max-sandboxes, --max-per-tenant, --max-snapshots, --warm. */
static int parse_count_option(int c, const char *arg)
{
	if (c == O_MAXSB) {
		if (parse_count(arg, &D.opt.max_sandboxes) < 0 ||
		    D.opt.max_sandboxes > METER_SLOTS_MAX)
			return -die("--max-sandboxes: \"%s\" is not a count from 1 to %d", arg,
				    METER_SLOTS_MAX);
	} else if (c == O_MAXTEN) {
		if (parse_count(arg, &D.opt.max_per_tenant) < 0)
			return -die("--max-per-tenant: \"%s\" is not a count from 1", arg);
	} else if (c == O_WARM) {
		if (strcmp(arg, "0") &&
		    (parse_count(arg, &D.opt.warm) < 0 || D.opt.warm > WARM_MAX))
			return -die("--warm: \"%s\" is not a count from 0 to %d", arg, WARM_MAX);
	} else if (parse_count(arg, &D.opt.max_snapshots) < 0) {
		return -die("--max-snapshots: \"%s\" is not a count from 1", arg);
	}
	return 0;
}

/* --default-timeout, --bill-window, --auth-timeout. */
static int parse_duration_option(int c, const char *arg)
{
	uint64_t ns;

	if (c == O_DEFTO) {
		if (spec_parse_duration(arg, &D.opt.default_timeout_ns) < 0 ||
		    !D.opt.default_timeout_ns)
			return -die("--default-timeout: \"%s\" is not a duration (e.g. 5m)", arg);
	} else if (c == O_BILLWIN) {
		if (spec_parse_duration(arg, &D.opt.bill_window_ns) < 0 ||
		    D.opt.bill_window_ns < 1000000000ULL ||
		    D.opt.bill_window_ns > 86400000000000ULL)
			return -die("--bill-window: \"%s\" is not a duration from 1s to 24h", arg);
	} else {
		if (spec_parse_duration(arg, &ns) < 0 || ns < 100000000ULL || ns > 600000000000ULL)
			return -die("--auth-timeout: \"%s\" is not a duration from 100ms to 10m",
				    arg);
		D.opt.auth_ns = (int64_t)ns;
	}
	return 0;
}

/* --max-file, and --max-writable, --tmp-size and --max-body (at least 1M each). */
static int parse_size_option(int c, const char *arg)
{
	if (c == O_MAXFILE) {
		if (spec_parse_size(arg, &D.opt.max_file) < 0 || !D.opt.max_file ||
		    D.opt.max_file > (1ULL << 30))
			return -die("--max-file: \"%s\" is not a size up to 1G", arg);
		return 0;
	}
	uint64_t *v = c == O_MAXWR	? &D.opt.max_writable
		      : c == O_TMP	? &D.opt.tmp_bytes
		      : c == O_MAXIMAGE ? &D.opt.max_image
					: &D.opt.max_body;
	if (spec_parse_size(arg, v) < 0 || *v < (1 << 20))
		return -die("--%s: \"%s\" is not a size of at least 1M",
			    c == O_MAXWR      ? "max-writable"
			    : c == O_TMP      ? "tmp-size"
			    : c == O_MAXIMAGE ? "max-image"
					      : "max-body",
			    arg);
	return 0;
}

/* --default-memory, --default-cpus, --default-pids and their --max- counterparts. */
static int parse_limit_option(int c, const char *arg)
{
	bool def = c == O_DEFMEM || c == O_DEFCPU || c == O_DEFPIDS;
	struct sandbox_limits *lim = def ? &D.opt.default_limits : &D.opt.max_limits;
	unsigned n;

	if (c == O_DEFMEM || c == O_MAXMEM) {
		if (spec_parse_size(arg, &lim->memory_bytes) < 0 || lim->memory_bytes < (4 << 20))
			return -die("--%s: \"%s\" is not a size of at least 4M",
				    def ? "default-memory" : "max-memory", arg);
	} else if (c == O_DEFCPU || c == O_MAXCPU) {
		if (spec_parse_cpus(arg, &lim->cpu_milli) < 0)
			return -die("--%s: \"%s\" is not a number of cores (e.g. 0.5)",
				    def ? "default-cpus" : "max-cpus", arg);
	} else {
		if (parse_count(arg, &n) < 0 || n > 4194304)
			return -die("--%s: \"%s\" is not a count from 1 to 4194304",
				    def ? "default-pids" : "max-pids", arg);
		lim->pids = n;
	}
	return 0;
}

static int parse_log_level(const char *arg)
{
	static const char *const levels[] = { "error", "warn", "info", "debug" };

	for (size_t i = 0; i < ARRAY_SIZE(levels); i++)
		if (!strcmp(arg, levels[i])) {
			D.opt.log_level = (int)i;
			return 0;
		}
	return -die("--log-level: \"%s\" is not error, warn, info or debug", arg);
}

/* --socket: an absolute path that fits a unix socket address. */
static int parse_socket(const char *arg)
{
	if (arg[0] != '/' || strlen(arg) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -die("--socket: \"%s\" must be an absolute path of at most 107 bytes", arg);
	D.opt.socket_path = arg;
	return 0;
}

/* Options taken as given (paths, an address, switches); any other is unknown. */
static int parse_plain_option(int c, char **argv)
{
	switch (c) {
	case O_STATE:
		D.opt.state_dir = optarg;
		break;
	case O_LISTEN:
		D.opt.listen = optarg;
		break;
	case O_KILL:
		D.opt.kill_on_exit = true;
		break;
	case O_IMAGES:
		D.opt.images_dir = optarg;
		break;
	case O_NOFAVOR:
		D.opt.no_favordynmods = true;
		break;
	case O_NOMETER:
		D.opt.no_metering = true;
		break;
	case O_RATES:
		D.opt.rates_path = optarg;
		break;
	case O_NVROOT: /* tests: a tree standing in for /dev and /proc */
		D.opt.nvidia_root = optarg;
		break;
	case O_NVML: /* tests: a library standing in for libnvidia-ml.so.1 */
		D.opt.nvml_lib = optarg;
		break;
	case O_CRIU:
		D.opt.criu_path = optarg;
		break;
	case O_NETPOOL:
		D.opt.net_pool = optarg;
		break;
	case O_NETUPLINK:
		D.opt.net_uplink = optarg;
		break;
	case O_NETDNS:
		D.opt.net_dns = optarg;
		break;
	case O_NONET:
		D.opt.no_net = true;
		break;
	case O_DOMAIN:
		if (!spec_hostname_valid(optarg) || !strchr(optarg, '.'))
			return -die("--domain: \"%s\" is not a domain name", optarg);
		D.opt.domain = optarg;
		break;
	case O_E2B_BASE:
		if (!images_name_valid(optarg))
			return -die("--e2b-base: \"%s\" is not an image name", optarg);
		D.opt.e2b_base = optarg;
		break;
	default:
		return -die("unknown option %s (see sbxd --help)", argv[optind - 1]);
	}
	return 0;
}

/* One option that getopt_long returned (@c, with optarg); not --help. */
static int parse_option(int c, char **argv, bool *socket_set)
{
	switch (c) {
	case O_INSTANCE:
		if (instance_set(optarg) < 0)
			return -die("--instance: \"%s\" is not 1-%d of a-z 0-9 - _", optarg,
				    INSTANCE_NAME_MAX);
		return 0;
	case O_SOCKET:
		*socket_set = true;
		return parse_socket(optarg);
	case O_MAXSB:
	case O_MAXTEN:
	case O_MAXSNAP:
	case O_WARM:
		return parse_count_option(c, optarg);
	case O_DEFTO:
	case O_BILLWIN:
	case O_AUTHTO:
		return parse_duration_option(c, optarg);
	case O_MAXFILE:
	case O_MAXIMAGE:
	case O_MAXWR:
	case O_TMP:
	case O_MAXBODY:
		return parse_size_option(c, optarg);
	case O_DEFMEM:
	case O_MAXMEM:
	case O_DEFCPU:
	case O_MAXCPU:
	case O_DEFPIDS:
	case O_MAXPIDS:
		return parse_limit_option(c, optarg);
	case O_LOG:
		return parse_log_level(optarg);
	case O_NETALLOW:
		return parse_net_allow(optarg);
	case O_NETCONNS:
		if (parse_count(optarg, &D.opt.net_max_conns) < 0)
			return -die("--net-max-conns: \"%s\" is not a count from 1 to 1000000",
				    optarg);
		return 0;
	case O_GPUDEV: /* added after the NVIDIA GPUs, which keep their numbers */
		if (ngpu_args == ARRAY_SIZE(gpu_args))
			return -die("--gpu-device: at most %zu", ARRAY_SIZE(gpu_args));
		gpu_args[ngpu_args++] = optarg;
		return 0;
	case ':':
		return -die("option %s needs a value", argv[optind - 1]);
	default:
		return parse_plain_option(c, argv);
	}
}
int options_parse(int argc, char **argv)
{
	int c, r;
	bool socket_set = false;
	const char *env = getenv("SBX_INSTANCE");

	/* The environment names the instance unless --instance does (the tests set it for
	 * every program they start). */
	if (env && instance_set(env) < 0)
		return -die("SBX_INSTANCE: \"%s\" is not 1-%d of a-z 0-9 - _", env,
			    INSTANCE_NAME_MAX);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", sbxd_options, NULL)) != -1) {
		if (c == O_HELP) {
			usage(stdout);
			return 0;
		}
		r = parse_option(c, argv, &socket_set);
		if (r < 0)
			return r;
	}
	if (optind < argc)
		return -die("unexpected argument \"%s\" (see sbxd --help)", argv[optind]);
	/* A named instance listens in its own run directory unless told where. */
	static char inst_socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	if (instance_name()[0] && !socket_set) {
		snprintf(inst_socket, sizeof(inst_socket), "%s/sbxd.sock", instance_run_dir());
		D.opt.socket_path = inst_socket;
	}
	return 1;
}
