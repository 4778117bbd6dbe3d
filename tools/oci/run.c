// SPDX-License-Identifier: MIT
/* create, start, run: a bundle becomes an sbx sandbox whose sbx-init waits, holding a
 * FIFO in the container's directory, until start writes to it. The container's PID 1 is
 * sbx-init, a child of create until create exits, then of its caller (containerd's
 * shim, a subreaper), which reaps it and reads the workload's exit code as its own. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../sandbox/image.h"
#include "../../sandbox/launch.h"
#include "../../sandbox/macro.h"
#include "../../sandbox/sandbox.h"
#include "../../sandbox/sysfilter.h"
#include "../../host/sys/layer.h"
#include "oci.h"

struct create_opts {
	const char *bundle, *pid_file, *console_socket, *id;
	bool detach;
};

/* runc's flags of create and run (those that change nothing here are taken and passed
 * over: --no-pivot, --no-new-keyring). */
static int create_args(int argc, char **argv, struct create_opts *o)
{
	const char *preserve = "0";
	bool ignored = false;
	*o = (struct create_opts){ .bundle = "." };
	const struct oci_flag flags[] = {
		{ "--bundle", "-b", &o->bundle, NULL },
		{ "--pid-file", NULL, &o->pid_file, NULL },
		{ "--console-socket", NULL, &o->console_socket, NULL },
		{ "--preserve-fds", NULL, &preserve, NULL },
		{ "--detach", "-d", NULL, &o->detach },
		/* What changes nothing here. */
		{ "--no-pivot", NULL, NULL, &ignored },
		{ "--no-new-keyring", NULL, NULL, &ignored },
		{ "--no-subreaper", NULL, NULL, &ignored },
		{ NULL, NULL, NULL, NULL },
	};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int t = oci_flag_take(argc, argv, &i, flags);
		if (t < 0)
			return -1;
		if (t > 0)
			continue;
		if (a[0] == '-')
			return oci_error("%s: unknown flag %s", argv[0], a);
		if (o->id)
			return oci_error("%s: one container id, not %s and %s", argv[0], o->id, a);
		o->id = a;
	}
	if (strcmp(preserve, "0"))
		return oci_error("%s: --preserve-fds is not supported by sbx-oci", argv[0]);
	if (!o->id)
		return oci_error("%s: a container id is needed", argv[0]);
	if (!spec_oci_id_valid(o->id))
		return oci_error("container id \"%s\": 1-%d of A-Z a-z 0-9 _ + - .", o->id,
				 SPEC_OCI_ID_MAX);
	return 0;
}

int write_pid_file(const char *path, pid_t pid)
{
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%d", (int)pid);

	if (!path)
		return 0;
	/* runc writes it where it is told, relative to the caller's directory. */
	int r = write_file_atomic(path, buf, (size_t)n);
	return r < 0 ? oci_error("--pid-file %s: %s", path, strerror(-r)) : 0;
}

int console_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(addr.sun_path))
		return oci_error("--console-socket %s: path too long", path);
	memcpy(addr.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return oci_error("--console-socket %s: %s", path, strerror(e));
	}
	return fd;
}

/* Joins the namespace at @path (a pod's) of @nstype before the launch. */
static int join(const struct oci_ns *ns, int nstype, const char *what)
{
	if (ns->kind != NS_PATH)
		return 0;
	int fd = open(ns->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return oci_error("config: linux.namespaces[%s].path %s: %s", what, ns->path,
				 strerror(errno));
	int r = setns(fd, nstype);
	int e = errno;
	close(fd);
	return r < 0 ? oci_error("config: linux.namespaces[%s].path %s: %s", what, ns->path,
				 strerror(e))
		     : 0;
}

char *oci_init_path(void)
{
	const char *e = getenv("SBX_INIT");
	return e && e[0] ? strdup(e) : image_beside_exe("sbx-init");
}

int oci_filter(const char *profile, struct sysfilter **ret)
{
	_cleanup_free_ char *why = NULL;
	int r = profile ? sysfilter_new_from_json("config.json linux.seccomp", profile,
						  strlen(profile), ret, &why)
			: sysfilter_new_default_cached(SYSFILTER_CACHE_DIR, ret);
	if (r < 0)
		return oci_error("seccomp: %s", why ? why : strerror(-r));
	return 0;
}

uint64_t oci_limits(const struct oci_config *c, struct sandbox_limits *lim)
{
	static const struct sandbox_limits def = LAUNCH_DEFAULT_LIMITS;

	*lim = c->limits;
	launch_limits_fill(lim, &def);
	/* An explicit -1 (unlimited) stays so. */
	if (c->has_memory && !c->limits.memory_bytes)
		lim->memory_bytes = 0;
	if (c->has_pids && !c->limits.pids)
		lim->pids = 0;
	lim->memory_account = lim->cpu_account = true;
	/* A writable layer over the bundle's root, as large as its memory may be (its pages
	 * are charged there). */
	uint64_t ram = spec_host_memory();
	return c->readonly ? (1ULL << 20) : (lim->memory_bytes ?: ram ?: (1ULL << 30));
}

/* Everything up to a created container: 0 with its state saved, or -1 with nothing of
 * it left (its directory, cgroups and processes gone). */
static int create(const struct create_opts *o, struct oci_state *st)
{
	struct oci_config c;
	struct sandbox *sb = NULL;
	struct sandbox_error serr = { 0 };
	_cleanup_(sysfilter_freep) struct sysfilter *filter = NULL;
	_cleanup_free_ char *init = NULL, *sbxd_cg = NULL;
	char dir[PATH_MAX], fifo[PATH_MAX + 8], layer[PATH_MAX + 8];
	int start_fd = -1, console_fd = -1, r = -1;
	bool made = false, layered = false;

	oci_dir(o->id, dir);
	if (oci_config_load(o->bundle, &c) < 0)
		return -1;
	oci_config_root_layers(&c);
	if (c.proc.terminal && !o->console_socket) {
		oci_error("create: process.terminal needs --console-socket");
		goto out;
	}
	if (!c.proc.terminal && o->console_socket) {
		oci_error("create: --console-socket without process.terminal");
		goto out;
	}
	if (mkdir(dir, 0700) < 0) {
		oci_error(errno == EEXIST ? "container \"%s\" already exists" : "%s: %s",
			  errno == EEXIST ? o->id : dir, strerror(errno));
		goto out;
	}
	made = true;
	if (oci_filter(c.seccomp, &filter) < 0)
		goto out;
	init = oci_init_path();
	if (!init) {
		oci_error("sbx-init not found beside sbx-oci (or SBX_INIT)");
		goto out;
	}
	snprintf(fifo, sizeof(fifo), "%s/start", dir);
	if (mkfifo(fifo, 0600) < 0 || (start_fd = open(fifo, O_RDWR | O_CLOEXEC)) < 0) {
		oci_error("%s: %s", fifo, strerror(errno));
		goto out;
	}
	if (o->console_socket && (console_fd = console_connect(o->console_socket)) < 0)
		goto out;
	if (join(&c.net, CLONE_NEWNET, "network") < 0 || join(&c.ipc, CLONE_NEWIPC, "ipc") < 0 ||
	    join(&c.uts, CLONE_NEWUTS, "uts") < 0)
		goto out;

	struct sandbox_limits lim;
	uint64_t writable = oci_limits(&c, &lim);
	snprintf(layer, sizeof(layer), "%s/layer", dir);
	int lr = layer_mount(layer, writable);
	if (lr < 0) {
		oci_error("create %s: its writable layer %s: %s", o->id, layer, strerror(-lr));
		goto out;
	}
	layered = true;
	if (launch_id_new("", st->sbx_id, sizeof(st->sbx_id)) < 0) {
		oci_error("create: no random id");
		goto out;
	}
	sbxd_cg = oci_sbxd_cgroup();
	struct sandbox_spec spec = {
		.id = st->sbx_id,
		.rootfs = c.root_layers ? c.root_layers[0] : c.rootfs,
		.lowers = c.root_layers ? (const char *const *)c.root_layers + 1 : NULL,
		.argv = c.proc.args,
		.envp = c.proc.env,
		.workdir = c.proc.cwd,
		.hostname = c.hostname,
		.set_user = c.proc.set_user,
		.uid = c.proc.uid,
		.gid = c.proc.gid,
		.groups = c.proc.groups,
		.ngroups = c.proc.ngroups,
		.limits = lim,
		.writable_bytes = writable,
		.layer_dir = layer,
		.root_readonly = c.readonly,
		.tmp_bytes = LAUNCH_DEFAULT_TMP_BYTES,
		.net = NET_NONE,
		.time_ns = c.time_ns,
		.filter = filter,
		.stdio = { -1, -1, -1 },
		.start_fd = start_fd,
		.console_fd = console_fd,
		.console_rows = c.proc.rows,
		.console_cols = c.proc.cols,
		.share_net = c.net.kind == NS_PATH,
		.share_ipc = c.ipc.kind == NS_PATH,
		.share_uts = c.uts.kind == NS_PATH,
		.caps = c.proc.has_caps ? &c.proc.caps : NULL,
		.rlimits = c.proc.rlimits,
		.nrlimits = c.proc.nrlimits,
		.mounts = c.mounts,
		.nmounts = c.nmounts,
		.masked = c.masked,
		.readonly = c.readonly_paths,
		.cgroup_as = sbxd_cg,
	};
	r = sandbox_start(&spec, init, &sb, &serr);
	if (r < 0) {
		oci_error("create %s: %s: %s", o->id, sandbox_stage_name(serr.stage),
			  strerror(serr.err ? serr.err : -r));
		r = -1;
		goto out;
	}
	r = -1;
	if (c.proc.has_oom_score) {
		char path[64], val[16];
		snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int)sb->pid);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		int n = snprintf(val, sizeof(val), "%d", c.proc.oom_score_adj);
		if (fd < 0 || write(fd, val, (size_t)n) != n) {
			oci_error("process.oomScoreAdj: %s", strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		close(fd);
	}
	snprintf(st->id, sizeof(st->id), "%s", o->id);
	st->bundle = strdup(c.bundle);
	st->rootfs = strdup(c.rootfs);
	st->pid = sb->pid;
	st->annotations = json_incref(c.annotations);
	st->limits = lim;
	st->seccomp = c.seccomp ? strdup(c.seccomp) : NULL;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	st->created_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	if (!st->bundle || !st->rootfs || sandbox_start_time(sb->pid, &st->start_time) < 0) {
		oci_error("create %s: out of memory", o->id);
		goto out;
	}
	st->cg = sb->cg;
	if (oci_state_save(st) < 0 || write_pid_file(o->pid_file, sb->pid) < 0) {
		st->cg = NULL;
		goto out;
	}
	/* The sandbox runs on without us: what it holds of ours goes with this process. */
	sb->cg = NULL;
	r = 0;
out:
	if (r < 0 && sb) {
		sandbox_kill(sb);
		sandbox_destroy(sb); /* its cgroups too */
	} else if (sb) {
		/* It runs on without us; its cgroups are the state's now. */
		sb->borrowed = true;
		sandbox_destroy(sb);
	}
	if (r < 0 && made) {
		char state[PATH_MAX + 16];
		snprintf(state, sizeof(state), "%s/state.json", dir);
		(void)unlink(state); /* saved before the pid file failed */
		(void)unlink(fifo);
		if (layered)
			layer_unmount(layer);
		(void)rmdir(dir);
	}
	if (start_fd >= 0)
		close(start_fd);
	if (console_fd >= 0)
		close(console_fd);
	oci_config_clear(&c);
	return r;
}

int cmd_create(int argc, char **argv)
{
	struct create_opts o;
	struct oci_state st = { 0 };

	if (create_args(argc, argv, &o) < 0)
		return -1;
	int r = create(&o, &st);
	if (r == 0)
		oci_register(&st);
	oci_state_clear(&st);
	return r;
}

static int start(struct oci_state *st)
{
	char dir[PATH_MAX], fifo[PATH_MAX + 8];
	const char *status = oci_status(st);

	if (strcmp(status, "created"))
		return oci_error("start %s: the container is %s, not created", st->id, status);
	snprintf(fifo, sizeof(fifo), "%s/start", oci_dir(st->id, dir));
	int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return oci_error("start %s: %s: %s", st->id, fifo, strerror(errno));
	st->started = true;
	if (oci_state_save(st) < 0) {
		close(fd);
		return -1;
	}
	ssize_t n = write(fd, "s", 1);
	int e = errno;
	close(fd);
	(void)unlink(fifo);
	if (n != 1)
		return oci_error("start %s: %s", st->id, strerror(e));
	return 0;
}

int cmd_start(int argc, char **argv)
{
	struct oci_state st;

	if (argc != 2)
		return oci_error("start: one container id");
	if (oci_state_load(argv[1], &st) < 0)
		return -1;
	int r = start(&st);
	oci_state_clear(&st);
	return r;
}

/* run: create and start; in the foreground it waits for the container and exits with
 * its code (signals sent to it are passed on). */
int cmd_run(int argc, char **argv)
{
	struct create_opts o;
	struct oci_state st = { 0 };

	if (create_args(argc, argv, &o) < 0)
		return -1;
	if (create(&o, &st) < 0) {
		oci_state_clear(&st);
		return -1;
	}
	oci_register(&st);
	int r = start(&st);
	if (r < 0 || o.detach) {
		oci_state_clear(&st);
		return r;
	}
	int status;
	while (waitpid(st.pid, &status, 0) < 0 && errno == EINTR)
		;
	oci_state_clear(&st);
	exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}
