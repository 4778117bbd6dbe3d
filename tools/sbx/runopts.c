// SPDX-License-Identifier: MIT
/* The options of sbx run and sbx create (mostly the same: a sandbox's image and limits),
 * their help, and their checks; each bad value is one line naming the option. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sandbox/macro.h"
#include "sbx.h"

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
		"  --net none|loopback|internet  network: a private namespace with only lo\n"
		"                        (default none); internet: outbound through sbxd's NAT\n"
		"                        (sbxd makes the sandbox; see sbx create for --allow-out,\n"
		"                        --deny-out, --net-rate)\n"
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
		"  --net internet        outbound internet through NAT (the platform deny set\n"
		"                        always applies: private ranges, metadata, port 25, IPv6)\n"
		"  --allow-out NET       with it, only these addresses/networks (repeatable)\n"
		"  --deny-out NET        never these (repeatable)\n"
		"  --net-rate RATE       egress shaped to RATE, e.g. 100Mbit\n"
		"  --idle-timeout D      stop after D without commands or file transfers\n"
		"  --json                print the whole record, not just the id\n"
		"  --socket PATH         sbxd's socket (default $SBX_SOCKET or %s)\n",
		CLIENT_DEFAULT_SOCKET);
}

enum {
	OPT_IMAGE = OPT_VERB,
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
	OPT_USAGE,
	OPT_GPU,
	OPT_GPUS,
	OPT_ALLOW,
	OPT_DENY,
	OPT_PUBLISH,
	OPT_NETRATE,
	OPT_TEMPLATE,
};

static const struct option run_options[] = {
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
	SBX_JSON_OPTION,
	SBX_SOCKET_OPTION,
	{ "usage", required_argument, NULL, OPT_USAGE },
	{ "gpu", required_argument, NULL, OPT_GPU },
	{ "gpus", required_argument, NULL, OPT_GPUS },
	{ "allow-out", required_argument, NULL, OPT_ALLOW },
	{ "deny-out", required_argument, NULL, OPT_DENY },
	{ "publish", required_argument, NULL, OPT_PUBLISH },
	{ "net-rate", required_argument, NULL, OPT_NETRATE },
	{ "template", required_argument, NULL, OPT_TEMPLATE },
	{ 0 },
};

/* The option parsers below return 0 when they took @c, 1 when it is not theirs, or
 * -EXIT_SBX after printing why @v is wrong. */

/* --memory --cpus --pids --timeout --writable-size --tmp-size */
static int opt_limit(int c, const char *v, struct run_opts *o)
{
	uint64_t n;

	switch (c) {
	case OPT_MEMORY:
		if (spec_parse_size(v, &o->limits.memory_bytes) < 0 ||
		    o->limits.memory_bytes < (4 << 20))
			return -sbx_die("--memory: invalid size \"%s\" (at least 4M, e.g. 256M)",
					v);
		return 0;
	case OPT_CPUS:
		if (spec_parse_cpus(v, &o->limits.cpu_milli) < 0)
			return -sbx_die("--cpus: invalid value \"%s\" (a decimal number of cores "
					"between 0.01 and 1024, e.g. 0.5)",
					v);
		return 0;
	case OPT_PIDS:
		if (spec_parse_size(v, &n) < 0 || strspn(v, "0123456789") != strlen(v) || n == 0 ||
		    n > 4194304)
			return -sbx_die("--pids: invalid value \"%s\" (1 to 4194304)", v);
		o->limits.pids = n;
		return 0;
	case OPT_TIMEOUT:
		if (spec_parse_duration(v, &o->limits.timeout_ns) < 0 || o->limits.timeout_ns == 0)
			return -sbx_die("--timeout: invalid duration \"%s\" (e.g. 30s, 10m, 1h)",
					v);
		o->timeout_text = v;
		return 0;
	case OPT_WRITABLE:
		if (spec_parse_size(v, &o->writable_bytes) < 0 || o->writable_bytes < (1 << 20))
			return -sbx_die("--writable-size: invalid size \"%s\" (at least 1M)", v);
		return 0;
	case OPT_TMP:
		if (spec_parse_size(v, &o->tmp_bytes) < 0 || o->tmp_bytes < (64 << 10))
			return -sbx_die("--tmp-size: invalid size \"%s\" (at least 64K)", v);
		return 0;
	default:
		return 1;
	}
}

/* --image --net --env --workdir --hostname --user --user-ns --seccomp */
static int opt_box(int c, const char *v, struct run_opts *o)
{
	switch (c) {
	case OPT_IMAGE:
		o->image = v;
		return 0;
	case OPT_NET:
		if (!strcmp(v, "none"))
			o->net = NET_NONE;
		else if (!strcmp(v, "loopback"))
			o->net = NET_LOOPBACK;
		else if (!strcmp(v, "internet"))
			o->net = NET_INTERNET;
		else
			return -sbx_die("--net: unknown mode \"%s\" (none, loopback or internet)",
					v);
		return 0;
	case OPT_ENV:
		return -sbx_kv_add("env", "variables", v, o->env, &o->nenv, MAX_ENV);
	case OPT_WORKDIR:
		o->workdir = v;
		return -sbx_workdir_check(v);
	case OPT_HOSTNAME:
		if (!spec_hostname_valid(v))
			return -sbx_die("--hostname: \"%s\" is not a valid hostname (1-63 of "
					"A-Z a-z 0-9 - .)",
					v);
		o->hostname = v;
		return 0;
	case OPT_USER:
		if (spec_parse_user(v, &o->uid, &o->gid) < 0)
			return -sbx_die("--user: \"%s\" is not UID[:GID] (numbers 0-65535)", v);
		o->set_user = true;
		return 0;
	case OPT_USERNS:
		o->user_ns = true;
		return 0;
	case OPT_SECCOMP:
		o->seccomp = v;
		return 0;
	default:
		return 1;
	}
}

/* --gpu N, --gpus N (sbx create only; @name is the option's) */
static int opt_gpu(int c, const char *v, const char *name, struct run_opts *o)
{
	if (!o->create)
		return -sbx_die("--%s is an option of sbx create (GPUs are granted by sbxd)", name);
	if (c == OPT_GPU) {
		if (strspn(v, "0123456789") != strlen(v) || !*v || o->ngpus == ARRAY_SIZE(o->gpus))
			return -sbx_die("--gpu: \"%s\" is not a GPU index (see sbx gpus)", v);
		o->gpus[o->ngpus++] = v;
		return 0;
	}
	long want = strtol(v, NULL, 10);
	if (strspn(v, "0123456789") != strlen(v) || want < 1 ||
	    o->ngpus + (size_t)want > ARRAY_SIZE(o->gpus))
		return -sbx_die("--gpus: \"%s\" is not a count from 1 to 16", v);
	while (want--)
		o->gpus[o->ngpus++] = "any";
	return 0;
}

/* --allow-out --deny-out --publish --net-rate (sbx create, with --net internet) */
static int opt_net(int c, const char *v, const char *name, struct run_opts *o)
{
	char *end;
	unsigned long port;

	(void)name;
	if (c != OPT_ALLOW && c != OPT_DENY && c != OPT_PUBLISH && c != OPT_NETRATE)
		return 1;
	switch (c) {
	case OPT_ALLOW:
		if (o->nallow == ARRAY_SIZE(o->allow_out))
			return -sbx_die("--allow-out: at most %zu", ARRAY_SIZE(o->allow_out));
		o->allow_out[o->nallow++] = v;
		return 0;
	case OPT_DENY:
		if (o->ndeny == ARRAY_SIZE(o->deny_out))
			return -sbx_die("--deny-out: at most %zu", ARRAY_SIZE(o->deny_out));
		o->deny_out[o->ndeny++] = v;
		return 0;
	case OPT_PUBLISH:
		port = strtoul(v, &end, 10);
		if (!*v || *end || port < 1 || port > 65535 ||
		    o->npublish == ARRAY_SIZE(o->publish))
			return -sbx_die("--publish: \"%s\" is not a TCP port (1-65535)", v);
		o->publish[o->npublish++] = (unsigned)port;
		return 0;
	default:
		o->net_rate = v;
		return 0;
	}
}

/* --usage (sbx run only); --gpu --gpus --label --idle-timeout --json --socket (sbx create
 * only); @name is the option's */
static int opt_create(int c, const char *v, const char *name, struct run_opts *o)
{
	switch (c) {
	case OPT_USAGE:
		if (o->create)
			return -sbx_die("--usage is an option of sbx run (see sbx usage ID)");
		o->usage_out = v;
		return 0;
	case OPT_GPU:
	case OPT_GPUS:
		return opt_gpu(c, v, name, o);
	case OPT_LABEL:
	case OPT_IDLE:
	case OPT_JSON:
	case OPT_SOCKET:
	case OPT_TEMPLATE:
		break;
	default:
		return 1;
	}
	if (!o->create)
		return -sbx_die("--%s is an option of sbx create, not sbx run", name);
	if (c == OPT_TEMPLATE) {
		o->template_name = v;
	} else if (c == OPT_JSON) {
		o->json = true;
	} else if (c == OPT_SOCKET) {
		o->socket = v;
	} else if (c == OPT_IDLE) {
		if (spec_parse_duration(v, &o->idle_timeout_ns) < 0 || !o->idle_timeout_ns)
			return -sbx_die("--idle-timeout: invalid duration \"%s\" (e.g. 5m)", v);
	} else {
		return -sbx_kv_add("label", "labels", v, o->labels, &o->nlabels,
				   ARRAY_SIZE(o->labels));
	}
	return 0;
}

int runopts_parse(int argc, char **argv, struct run_opts *o)
{
	int c, r, at, li = 0;

	optind = 1;
	for (;;) {
		at = optind; /* the argument being read: optind moves past it */
		c = getopt_long(argc, argv, "+:", run_options, &li);
		if (c == -1)
			break;
		if (c == OPT_HELP) {
			if (o->create)
				usage_create(stdout);
			else
				usage_run(stdout);
			return 0;
		}
		if (c == ':')
			return -sbx_die("option %s needs a value", argv[at]);
		r = opt_limit(c, optarg, o);
		if (r > 0)
			r = opt_box(c, optarg, o);
		if (r > 0) /* li: set by getopt_long for every long option found */
			r = opt_create(c, optarg, run_options[li].name, o);
		if (r > 0)
			r = opt_net(c, optarg, run_options[li].name, o);
		if (r > 0)
			return -sbx_die("unknown option %s (see sbx run --help)", argv[at]);
		if (r < 0)
			return r;
	}
	if ((o->nallow || o->ndeny || o->npublish || o->net_rate) && o->net != NET_INTERNET)
		return -sbx_die("--allow-out, --deny-out, --publish and --net-rate need --net "
				"internet");
	if (optind >= argc && !o->create)
		return -sbx_die("no command given (usage: sbx run [OPTIONS] [--] CMD [ARG...])");
	return optind;
}
