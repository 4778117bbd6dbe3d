// SPDX-License-Identifier: MIT
/* The commands on a container that exists: state, kill, delete, ps, list, pause, resume,
 * update, events; and features. Each reads the container's record, then asks the kernel
 * (its process, by pid and start time; its cgroups). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../../host/sys/usage.h"
#include "../../sandbox/macro.h"
#include "../../sandbox/sandbox.h"
#include "../../host/sys/layer.h"
#include "oci.h"

static json_t *rfc3339(int64_t ns)
{
	char buf[64];
	struct tm tm;
	time_t s = (time_t)(ns / 1000000000);

	gmtime_r(&s, &tm);
	size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%09" PRId64 "Z", ns % 1000000000);
	return json_string(buf);
}

static int print_json(json_t *j)
{
	char *t = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	json_decref(j);
	if (!t)
		return oci_error("out of memory");
	printf("%s\n", t);
	free(t);
	return fflush(stdout) == 0 ? 0 : -1;
}

static json_t *state_json(const struct oci_state *s)
{
	const char *status = oci_status(s);
	return json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:o, s:s, s:O*}", "ociVersion",
			 OCI_VERSION, "id", s->id, "pid",
			 strcmp(status, "stopped") ? (int)s->pid : 0, "status", status, "bundle",
			 s->bundle ?: "", "rootfs", s->rootfs ?: "", "created",
			 rfc3339(s->created_ns), "owner", "", "annotations", s->annotations);
}

int oci_one_container(int argc, char **argv, struct oci_state *st, const struct oci_flag *flags,
		      char **rest)
{
	const struct oci_flag none[] = { { NULL, NULL, NULL, NULL } };
	const char *id = NULL;

	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1]) {
			int t = oci_flag_take(argc, argv, &i, flags ? flags : none);
			if (t < 0)
				return -1;
			if (t == 0)
				return oci_error("%s: unknown flag %s", argv[0], argv[i]);
			continue;
		}
		if (!id) {
			id = argv[i];
			continue;
		}
		if (rest && !*rest) {
			*rest = argv[i];
			continue;
		}
		return oci_error("%s: unexpected argument %s", argv[0], argv[i]);
	}
	if (!id)
		return oci_error("%s: a container id is needed", argv[0]);
	return oci_state_load(id, st) < 0 ? -1 : 0;
}

int cmd_state(int argc, char **argv)
{
	struct oci_state st;

	if (oci_one_container(argc, argv, &st, NULL, NULL) < 0)
		return -1;
	int r = print_json(state_json(&st));
	oci_state_clear(&st);
	return r;
}

/* A signal to the container's PID 1 through a pidfd of the process its record names. */
static int signal_init(const struct oci_state *st, int sig)
{
	int fd = (int)syscall(SYS_pidfd_open, st->pid, 0);
	uint64_t t;

	if (fd < 0 || sandbox_start_time(st->pid, &t) < 0 || t != st->start_time) {
		if (fd >= 0)
			close(fd);
		return -ESRCH;
	}
	int r = (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
	int e = errno;
	close(fd);
	return r < 0 ? -e : 0;
}

int cmd_kill(int argc, char **argv)
{
	struct oci_state st;
	char *sig_arg = NULL;
	bool all = false;

	const struct oci_flag flags[] = { { "--all", "-a", NULL, &all },
					  { NULL, NULL, NULL, NULL } };
	if (oci_one_container(argc, argv, &st, flags, &sig_arg) < 0)
		return -1;
	int sig = signal_parse(sig_arg), r;
	if (sig < 0) {
		oci_state_clear(&st);
		return oci_error("kill: unknown signal %s", sig_arg);
	}
	if (all && st.cg && sig == SIGKILL) {
		r = cgroup_kill(st.cg); /* the kernel's, by cgroup: no pid read and reused */
	} else if (all && st.cg) {
		/* Frozen, its processes can neither exit nor fork: the pids read are theirs. */
		bool was = !strcmp(oci_status(&st), "paused");
		r = was ? 0 : cgroup_freeze(st.cg, true);
		if (r == 0)
			r = cgroup_signal(st.cg, sig);
		if (!was)
			(void)cgroup_freeze(st.cg, false);
	} else {
		r = oci_alive(&st) ? signal_init(&st, sig) : -ESRCH;
	}
	if (r == -ESRCH)
		oci_error("kill %s: container not running", st.id);
	else if (r < 0)
		oci_error("kill %s: %s", st.id, strerror(-r));
	oci_state_clear(&st);
	return r < 0 ? -1 : 0;
}

static void rm_state_dir(const char *id)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];

	oci_dir(id, dir);
	snprintf(path, sizeof(path), "%s/start", dir);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/layer", dir);
	layer_unmount(path);
	(void)rmdir(dir);
}

int cmd_delete(int argc, char **argv)
{
	struct oci_state st;
	bool force = false;
	int r;

	const struct oci_flag flags[] = { { "--force", "-f", NULL, &force },
					  { NULL, NULL, NULL, NULL } };
	r = oci_one_container(argc, argv, &st, flags, NULL);
	if (r < 0)
		return -1;
	const char *status = oci_status(&st);
	if (!strcmp(status, "running") || !strcmp(status, "paused")) {
		if (!force) {
			oci_state_clear(&st);
			return oci_error("delete %s: the container is %s (use --force)",
					 argv[argc - 1], status);
		}
	}
	/* Whatever still runs goes (a created container's PID 1 too), thawed first. */
	if (st.cg) {
		(void)cgroup_freeze(st.cg, false);
		(void)cgroup_kill(st.cg);
	}
	/* sbxd closes its usage while the cgroups still tell it. */
	oci_unregister(&st);
	r = st.cg ? cgroup_destroy(st.cg) : 0;
	st.cg = NULL;
	if (r < 0 && r != -ENOENT) {
		oci_state_clear(&st);
		return oci_error("delete: its cgroups: %s", strerror(-r));
	}
	rm_state_dir(st.id);
	oci_state_clear(&st);
	return 0;
}

/* --format json|table (ps, list). */
#define FORMAT_FLAGS(f)                                                                            \
	{                                                                                          \
		{ "--format", "-f", &(f), NULL },                                                  \
		{                                                                                  \
			NULL, NULL, NULL, NULL                                                     \
		}                                                                                  \
	}

int cmd_ps(int argc, char **argv)
{
	struct oci_state st;
	const char *format = "table";
	char path[PATH_MAX];

	const struct oci_flag flags[] = FORMAT_FLAGS(format);
	if (oci_one_container(argc, argv, &st, flags, NULL) < 0)
		return -1;
	if (strcmp(format, "json") && strcmp(format, "table")) {
		oci_state_clear(&st);
		return oci_error("ps: --format json or table, not %s", format);
	}
	json_t *pids = json_array();
	snprintf(path, sizeof(path), "%s/cgroup.procs", st.cg ? st.cg->v2_path : "/nonexistent");
	FILE *f = fopen(path, "re");
	for (long p; f && fscanf(f, "%ld", &p) == 1;)
		json_array_append_new(pids, json_integer(p));
	if (f)
		fclose(f);
	oci_state_clear(&st);
	if (!strcmp(format, "json"))
		return print_json(pids);
	size_t i;
	json_t *e;
	printf("PID\n");
	json_array_foreach (pids, i, e)
		printf("%" JSON_INTEGER_FORMAT "\n", json_integer_value(e));
	json_decref(pids);
	return 0;
}

int cmd_list(int argc, char **argv)
{
	const char *format = "table";
	int i = 0;

	bool quiet = false;
	const struct oci_flag flags[] = { { "--format", "-f", &format, NULL },
					  { "--quiet", "-q", NULL, &quiet },
					  { NULL, NULL, NULL, NULL } };
	for (i = 1; i < argc; i++) {
		int t = oci_flag_take(argc, argv, &i, flags);
		if (t < 0)
			return -1;
		if (t == 0)
			return oci_error("list: unknown argument %s", argv[i]);
	}
	DIR *d = opendir(G.root);
	json_t *all = json_array();
	for (struct dirent *e; d && (e = readdir(d));) {
		struct oci_state st;
		if (e->d_name[0] == '.' || !spec_oci_id_valid(e->d_name) ||
		    oci_state_load(e->d_name, &st) < 0)
			continue;
		json_array_append_new(all, state_json(&st));
		oci_state_clear(&st);
	}
	if (d)
		closedir(d);
	if (!strcmp(format, "json"))
		return print_json(all);
	size_t k;
	json_t *c;
	if (!quiet)
		printf("ID\tPID\tSTATUS\tBUNDLE\n");
	json_array_foreach (all, k, c)
		if (quiet)
			printf("%s\n", json_string_value(json_object_get(c, "id")));
		else
			printf("%s\t%" JSON_INTEGER_FORMAT "\t%s\t%s\n",
			       json_string_value(json_object_get(c, "id")),
			       json_integer_value(json_object_get(c, "pid")),
			       json_string_value(json_object_get(c, "status")),
			       json_string_value(json_object_get(c, "bundle")));
	json_decref(all);
	return 0;
}

static int freeze(int argc, char **argv, bool frozen)
{
	struct oci_state st;

	if (oci_one_container(argc, argv, &st, NULL, NULL) < 0)
		return -1;
	const char *status = oci_status(&st);
	int r = 0;
	if (strcmp(status, frozen ? "running" : "paused"))
		r = oci_error("%s %s: the container is %s", argv[0], st.id, status);
	else if ((r = cgroup_freeze(st.cg, frozen)) < 0)
		r = oci_error("%s %s: %s", argv[0], st.id, strerror(-r));
	oci_state_clear(&st);
	return r;
}

int cmd_pause(int argc, char **argv)
{
	return freeze(argc, argv, true);
}

int cmd_resume(int argc, char **argv)
{
	return freeze(argc, argv, false);
}

int cmd_update(int argc, char **argv)
{
	struct oci_state st;
	const char *file = NULL;
	json_error_t jerr;
	json_t *res;
	bool m = false, c = false, p = false;
	int r = -1;

	const struct oci_flag flags[] = { { "--resources", "-r", &file, NULL },
					  { NULL, NULL, NULL, NULL } };
	if (oci_one_container(argc, argv, &st, flags, NULL) < 0)
		return -1;
	if (!file) {
		oci_state_clear(&st);
		return oci_error("update: --resources FILE (or -) is needed");
	}
	res = !strcmp(file, "-") ? json_loadf(stdin, 0, &jerr) : json_load_file(file, 0, &jerr);
	struct sandbox_limits lim = st.limits;
	int e = 0;
	if (!res)
		oci_error("update: --resources: %s", jerr.text);
	else if (!strcmp(oci_status(&st), "stopped"))
		oci_error("update %s: the container is stopped", st.id);
	else if (oci_resources_parse(res, "resources", &lim, &m, &c, &p) < 0)
		; /* said */
	/* Every container has limits (sbx's defaults at least): none is lifted. */
	else if ((m && !lim.memory_bytes) || (p && !lim.pids) ||
		 (c && !lim.cpu_milli && st.limits.cpu_milli))
		oci_error("update %s: -1 (no limit) is not offered by sbx-oci", st.id);
	else if ((e = cgroup_set_limits(st.cg, &lim)) < 0)
		oci_error("update %s: %s", st.id,
			  e == -EOPNOTSUPP ? "a limit the container was created without"
					   : strerror(-e));
	else {
		st.limits = lim;
		r = oci_state_save(&st);
	}
	json_decref(res);
	oci_state_clear(&st);
	return r;
}

static uint64_t read_u64(const char *dir, const char *file, const char *key)
{
	char path[PATH_MAX];
	uint64_t v = 0;

	if (!dir)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void)usage_pread(fd, key, &v);
		close(fd);
	}
	return v;
}

/* runc's stats shape, from the container's cgroups. */
static json_t *stats_json(const struct oci_state *st)
{
	const struct cgroup *cg = st->cg;
	bool hybrid = cg->mode == CGROUP_HYBRID;
	uint64_t mem = 0;
	(void)usage_memory_now(cg, &mem);
	const char *mdir = hybrid ? cg->v1_path[CG_V1_MEMORY] : cg->v2_path;
	const char *pdir = hybrid ? cg->v1_path[CG_V1_PIDS] : cg->v2_path;
	uint64_t peak = hybrid ? read_u64(mdir, "memory.max_usage_in_bytes", NULL)
			       : read_u64(mdir, "memory.peak", NULL);
	uint64_t limit = st->limits.memory_bytes, plimit = st->limits.pids;

	return json_pack(
		"{s:s, s:s, s:{s:{s:{s:I, s:I, s:I}}, s:{s:{s:I, s:I, s:I, s:I}}, s:{s:I, s:I}}}",
		"type", "stats", "id", st->id, "data", "cpu", "usage", "total",
		(json_int_t)(read_u64(cg->v2_path, "cpu.stat", "usage_usec") * 1000), "user",
		(json_int_t)(read_u64(cg->v2_path, "cpu.stat", "user_usec") * 1000), "kernel",
		(json_int_t)(read_u64(cg->v2_path, "cpu.stat", "system_usec") * 1000), "memory",
		"usage", "usage", (json_int_t)mem, "max", (json_int_t)peak, "limit",
		(json_int_t)limit, "failcnt",
		(json_int_t)(hybrid ? read_u64(mdir, "memory.failcnt", NULL)
				    : read_u64(mdir, "memory.events", "max")),
		"pids", "current", (json_int_t)read_u64(pdir, "pids.current", NULL), "limit",
		(json_int_t)plimit);
}

int cmd_events(int argc, char **argv)
{
	struct oci_state st;
	const char *interval = "5s";
	bool stats = false;
	uint64_t ns;
	const struct oci_flag flags[] = { { "--stats", NULL, NULL, &stats },
					  { "--interval", NULL, &interval, NULL },
					  { NULL, NULL, NULL, NULL } };

	if (oci_one_container(argc, argv, &st, flags, NULL) < 0)
		return -1;
	if (spec_parse_duration(interval, &ns) < 0 || ns < 100000000ULL || ns > 3600000000000ULL) {
		oci_state_clear(&st);
		return oci_error("events: --interval: from 100ms to 1h, not %s", interval);
	}
	int r = 0;
	if (!st.cg)
		r = oci_error("events %s: no cgroups", st.id);
	while (r == 0) {
		json_t *j = stats_json(&st);
		char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		if (!t) {
			r = oci_error("events: out of memory");
			break;
		}
		printf("%s\n", t);
		free(t);
		fflush(stdout);
		if (stats || !oci_alive(&st))
			break;
		struct timespec ts = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };
		nanosleep(&ts, NULL);
	}
	oci_state_clear(&st);
	return r;
}

int cmd_features(int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return oci_error("features: no arguments");
	json_t *caps = json_array();
	for (int c = 0; c < cap_max_bits(); c++) {
		char *name = cap_to_name((cap_value_t)c);
		for (char *p = name; p && *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
		if (name && !strncmp(name, "CAP_", 4))
			json_array_append_new(caps, json_string(name));
		cap_free(name);
	}
	json_t *j = json_pack(
		"{s:s, s:s, s:[s,s,s,s,s,s,s,s,s,s,s,s,s,s,s], s:[], "
		"s:{s:[s,s,s,s,s,s,s], s:o, "
		"s:{s:b, s:b, s:b}, s:{s:b, s:[s,s,s,s,s,s,s], s:[s,s,s,s,s,s,s], s:[s], s:[]}, "
		"s:{s:b}, s:{s:b}}, "
		"s:{s:s, s:s}}",
		"ociVersionMin", "1.0.0", "ociVersionMax", OCI_VERSION, "mountOptions", "ro", "rw",
		"nosuid", "suid", "nodev", "dev", "noexec", "exec", "bind", "rbind", "private",
		"rprivate", "relatime", "strictatime", "noatime", "hooks", "linux", "namespaces",
		"pid", "network", "mount", "ipc", "uts", "user", "cgroup", "capabilities", caps,
		"cgroup", "v1", true, "v2", true, "systemd", false, "seccomp", "enabled", true,
		"actions", "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
		"SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRAP",
		"operators", "SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",
		"SCMP_CMP_GT", "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ", "archs", "SCMP_ARCH_X86_64",
		"knownFlags", "apparmor", "enabled", false, "selinux", "enabled", false,
		"annotations", "io.github.sbx.runtime", "sbx-oci", "io.github.sbx.isolation",
		"a user namespace with a host id range of its own; sbx's seccomp allowlist by "
		"default");
	return print_json(j);
}
