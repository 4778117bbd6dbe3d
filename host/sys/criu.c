// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "criu.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <linux/mount.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../sandbox/image.h"
#include "../../sandbox/macro.h"
#include "../../sandbox/rootfs.h"
#include "../../sandbox/sandbox.h"
#include "../../sandbox/text.h"
#include "../../sandbox/vfork.h"
#include "criuimg.h"

#define CRIU_FD_BASE 10
#define CRIU_MAX_FDS 104 /* the log, the status, 3 pipes of 32 processes, some room */

static void use_run_dir(const char *dir);

/* @bin's output (stdout and stderr) in @out; its exit status. @run_dir: as criu_run's. */
static int run_capture(const char *bin, char *const argv[], char *out, size_t size,
		       const char *run_dir)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		if (run_dir && unshare(CLONE_NEWNS) == 0 &&
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0)
			use_run_dir(run_dir);
		execv(bin, argv);
		_exit(127);
	}
	close(p[1]);
	size_t len = 0;
	ssize_t n;
	while (len + 1 < size && (n = read(p[0], out + len, size - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int criu_find(const char *path, bool check, char **ret_path, char **ret_why)
{
	static const char *const dirs[] = { "/usr/local/sbin", "/usr/sbin", "/usr/local/bin",
					    "/usr/bin",	       "/sbin",	    "/bin" };
	char buf[4096], out[4096];
	const char *bin = path;

	*ret_why = NULL;
	for (size_t i = 0; !bin && i < ARRAY_SIZE(dirs); i++) {
		snprintf(buf, sizeof(buf), "%s/criu", dirs[i]);
		if (access(buf, X_OK) == 0)
			bin = buf;
	}
	if (!bin || access(bin, X_OK) < 0) {
		if (asprintf(ret_why, "criu not found%s%s (tools/setup.sh installs it)",
			     path ? " at " : "", path ? path : "") < 0)
			*ret_why = NULL;
		return -ENOENT;
	}
	char *vargv[] = { "criu", "--version", NULL };
	int r = run_capture(bin, vargv, out, sizeof(out), NULL);
	int major = 0, minor = 0;
	const char *v = strstr(out, "Version: ");
	if (r != 0 || !v || sscanf(v + 9, "%d.%d", &major, &minor) != 2) {
		if (asprintf(ret_why, "%s --version failed", bin) < 0)
			*ret_why = NULL;
		return -ENOEXEC;
	}
	if (major < 4 || (major == 4 && minor < 2)) {
		if (asprintf(ret_why, "%s is version %d.%d; 4.2 or later is needed", bin, major,
			     minor) < 0)
			*ret_why = NULL;
		return -ENOTSUP;
	}
	char *cargv[] = { "criu", "check", NULL };
	/* With the cache of kernel features that later runs use (criu_cache_dir_make):
	 * probed here, in the host's namespaces, not by a first dump inside a sandbox's
	 * network namespace. */
	r = check ? run_capture(bin, cargv, out, sizeof(out), criu_cache_dir_make()) : 0;
	if (r != 0) {
		/* Its last line says what is missing. */
		out[strcspn(out, "\0")] = '\0';
		size_t n = strlen(out);
		while (n && out[n - 1] == '\n')
			out[--n] = '\0';
		char *last = strrchr(out, '\n');
		if (asprintf(ret_why, "criu check failed: %s", last ? last + 1 : out) < 0)
			*ret_why = NULL;
		return -ENOTSUP;
	}
	*ret_path = strdup(bin);
	return *ret_path ? 0 : -ENOMEM;
}

#define CRIU_CACHE_DIR ROOTFS_RUNTIME_DIR "/criu"

const char *criu_cache_dir_make(void)
{
	struct stat st;

	if ((mkdir(CRIU_CACHE_DIR, 0711) == 0 || errno == EEXIST) &&
	    lstat(CRIU_CACHE_DIR, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 &&
	    chmod(CRIU_CACHE_DIR, 0711) == 0)
		return CRIU_CACHE_DIR;
	return NULL;
}

/* CRIU's log: the first "Error (...): what" line that is not one of its harmless ones
 * (no iptables binaries, RLIMIT_NOFILE above the hard limit, addresses lo already has);
 * without one, the first line the program wrote (tar says what failed there). */
static char *first_error(const char *log_path, const char *out_path)
{
	FILE *f = fopen(log_path, "re");
	char line[1024], *found = NULL;

	while (f && !found && fgets(line, sizeof(line), f)) {
		char *e = strstr(line, "Error (");
		if (!e || strstr(line, "tables") || strstr(line, "RLIMIT_NOFILE") ||
		    strstr(line, "FAILED"))
			continue;
		char *what = strstr(e, "): ");
		what = what ? what + 3 : e;
		what[strcspn(what, "\n")] = '\0';
		found = strdup(what);
	}
	if (f)
		fclose(f);
	f = !found && out_path ? fopen(out_path, "re") : NULL;
	while (f && !found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			found = strdup(line);
	}
	if (f)
		fclose(f);
	return found;
}

int64_t criu_stat(const char *path, const char *name)
{
	FILE *f = fopen(path, "re");
	char line[512];
	int64_t v = -1;
	size_t n = strlen(name);

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':')
			v = strtoll(line + n + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

/* In a mount namespace of the child's own: @dir over /run, /run/sbx moved back on top.
 * Best effort (without it CRIU only probes the kernel again); async-signal-safe. */
static void use_run_dir(const char *dir)
{
	int tree = (int)syscall(SYS_open_tree, AT_FDCWD, "/run/sbx",
				OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0 || mount(dir, "/run", NULL, MS_BIND, NULL) < 0)
		return;
	(void)mkdir("/run/sbx", 0711);
	if (syscall(SYS_move_mount, tree, "", AT_FDCWD, "/run/sbx", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		(void)umount2("/run", MNT_DETACH);
	close(tree);
}

/* "criu" of "/usr/sbin/criu". */
static const char *bin_name(const char *bin)
{
	return strrchr(bin, '/') ? strrchr(bin, '/') + 1 : bin;
}

/* The tar CRIU runs for a sandbox's tmpfs mounts: sbx-tar (tools/tar), found beside
 * this program, in its copy in the runtime tmpfs (where CRIU's unprivileged side can
 * execute it; made again if another build pruned it); NULL leaves the system's tar to
 * CRIU's PATH. */
static char *tar_dir(void)
{
	_cleanup_free_ char *path = image_beside_exe("sbx-tar");
	char *dir = NULL;

	if (!path || access(path, X_OK) < 0 || rootfs_runtime_tar(path, &dir) < 0)
		return NULL;
	return dir;
}

/* Everything the child needs, made before the fork: it runs async-signal-safe. */
struct criu_child {
	char **argv, **envp;
	char *path_env;		/* PATH=<tar_dir>:..., or NULL */
	int high[CRIU_MAX_FDS]; /* run->fds, duplicated above the ones they are moved to */
	int out_fd;
	char v1_procs[_CG_V1_MAX][4200]; /* hybrid: the v1 cgroup.procs files it joins */
};

static int child_prepare(const struct criu_run *run, struct criu_child *c)
{
	size_t argc = 0;

	c->out_fd = -1;
	c->path_env = NULL;
	for (unsigned i = 0; i < run->nfds; i++)
		c->high[i] = -1;
	while (run->argv[argc])
		argc++;
	c->argv = calloc(argc + 2, sizeof(char *));
	if (!c->argv)
		return -ENOMEM;
	c->argv[0] = (char *)bin_name(run->bin);
	memcpy(c->argv + 1, run->argv, argc * sizeof(char *));
	/* Its environment: sbxd's, sbx-tar's directory first in PATH, and the caller's
	 * entry. */
	size_t envc = 0;
	while (environ[envc])
		envc++;
	c->envp = calloc(envc + 3, sizeof(char *));
	if (!c->envp)
		return -ENOMEM;
	_cleanup_free_ char *tar = tar_dir();
	const char *path = getenv("PATH");
	if (!path || !path[0])
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	if (tar && asprintf(&c->path_env, "PATH=%s:%s", tar, path) < 0)
		c->path_env = NULL;
	size_t k = 0;
	if (c->path_env)
		c->envp[k++] = c->path_env;
	for (size_t i = 0; i < envc; i++)
		if (!c->path_env || strncmp(environ[i], "PATH=", 5))
			c->envp[k++] = environ[i];
	c->envp[k] = (char *)run->env_add;
	for (unsigned i = 0; i < run->nfds; i++)
		if ((c->high[i] = fcntl(run->fds[i], F_DUPFD_CLOEXEC, 100)) < 0)
			return -errno;
	c->out_fd = open(run->out_path ? run->out_path : "/dev/null",
			 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (c->out_fd < 0)
		return -errno;
	for (int i = 0; i < _CG_V1_MAX; i++)
		c->v1_procs[i][0] = '\0';
	for (int i = 0; run->cg && i < _CG_V1_MAX; i++)
		if (run->cg->v1_path[i])
			snprintf(c->v1_procs[i], sizeof(c->v1_procs[i]), "%s/cgroup.procs",
				 run->cg->v1_path[i]);
	return 0;
}

/* The child: its mounts, its v1 cgroups and cgroup namespace, its descriptors, then
 * criu. Async-signal-safe; exits 126 when it cannot be placed, 127 when exec fails. */
static _Noreturn void child_run(const struct criu_run *run, const struct criu_child *c)
{
	sigset_t none;

	if ((run->run_dir || run->binds[0][0]) &&
	    (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0))
		_exit(126);
	if (run->run_dir)
		use_run_dir(run->run_dir);
	for (int i = 0; i < CRIU_BINDS && run->binds[i][0]; i++)
		if (mount(run->binds[i][0], run->binds[i][1], NULL, MS_BIND, NULL) < 0)
			_exit(126);
	for (int i = 0; i < _CG_V1_MAX; i++) {
		if (!c->v1_procs[i][0])
			continue;
		int fd = open(c->v1_procs[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1)
			_exit(126);
		close(fd);
	}
	if (run->net_pidfd > 0 && setns(run->net_pidfd, CLONE_NEWNET) < 0)
		_exit(126);
	if (run->die_with_parent && prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		_exit(126);
	/* What CRIU forks sees its own cgroup as the root, as the original did. */
	if (run->cg && unshare(CLONE_NEWCGROUP) < 0)
		_exit(126);
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(c->out_fd, 1) < 0 || dup2(c->out_fd, 2) < 0)
		_exit(126);
	for (unsigned i = 0; i < run->nfds; i++)
		if (dup2(c->high[i], CRIU_FD_BASE + (int)i) < 0)
			_exit(126);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(run->bin, c->argv, c->envp);
	_exit(127);
}

#ifdef VFORK_CLONE3
struct child_args {
	const struct criu_run *run;
	const struct criu_child *c;
};

static _Noreturn void child_start(void *arg)
{
	const struct child_args *a = arg;
	child_run(a->run, a->c);
}
#endif

/* Waits for @pidfd to be readable until run->timeout_ns has passed; past it (or if poll
 * fails), kills and reaps the child: -ETIMEDOUT (or poll's error) with *ret_err. */
static int child_wait_deadline(const struct criu_run *run, int pidfd, char **ret_err)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t left = run->timeout_ns - ((int64_t)(now.tv_sec - t0.tv_sec) * 1000000000 +
						  (now.tv_nsec - t0.tv_nsec));
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		int n = left > 0 ? poll(&p, 1, (int)(left / 1000000) + 1) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0)
			return 0;
		/* Past the deadline, or no way left to wait for it: it goes, reaped. */
		int err = n < 0 ? errno : ETIMEDOUT;
		(void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		siginfo_t si;
		while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
			;
		int r = err == ETIMEDOUT ? asprintf(ret_err, "%s did not finish in %lld s",
						    bin_name(run->bin),
						    (long long)(run->timeout_ns / 1000000000))
					 : asprintf(ret_err, "waiting for %s: %s",
						    bin_name(run->bin), strerror(err));
		if (r < 0)
			*ret_err = NULL;
		return -err;
	}
}

/* Reaps the child: 0 when it exited 0, else -EPROTO with what failed in *ret_err. */
static int child_reap(const struct criu_run *run, int pidfd, const char *log_path, char **ret_err)
{
	siginfo_t si = { 0 };

	while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0)
		if (errno != EINTR)
			return -errno;
	if (si.si_code == CLD_EXITED && si.si_status == 0)
		return 0;
	*ret_err = first_error(log_path, run->out_path);
	if (!*ret_err &&
	    asprintf(ret_err, "%s %s", bin_name(run->bin),
		     si.si_code == CLD_EXITED ? (si.si_status == 127   ? "could not be run"
						 : si.si_status == 126 ? "could not be placed"
								       : "failed")
					      : "was killed") < 0)
		*ret_err = NULL;
	return -EPROTO;
}

int criu_start(const struct criu_run *run, int *ret_pidfd)
{
	struct criu_child c = { 0 };
	int pidfd = -1, r;

	*ret_pidfd = -1;
	if (run->nfds > CRIU_MAX_FDS)
		return -E2BIG;
	r = child_prepare(run, &c);
	if (r < 0)
		goto out;
	struct clone_args args = {
		.flags = CLONE_PIDFD | (run->cg ? CLONE_INTO_CGROUP : 0),
		.pidfd = (uint64_t)(uintptr_t)&pidfd,
		.exit_signal = SIGCHLD,
		.cgroup = run->cg ? (uint64_t)run->cg->v2_fd : 0,
	};
#ifdef VFORK_CLONE3
	/* The child shares our memory until its exec (vfork.h), and this thread waits for
	 * that exec: its steps before it (mounts, cgroups, namespaces) are outside the
	 * deadline, so none may wait on the sandbox (its cgroups are never frozen here). */
	char stack[32768] __attribute__((aligned(16)));
	struct child_args ca = { run, &c };
	args.flags |= CLONE_VM | CLONE_VFORK;
	args.stack = (uint64_t)(uintptr_t)stack;
	args.stack_size = sizeof(stack);
	long pid = vfork_clone3(&args, child_start, &ca);
	if (pid < 0) {
		r = (int)pid;
		goto out;
	}
#else
	pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0)
		child_run(run, &c);
#endif
	*ret_pidfd = pidfd;
out:
	for (unsigned i = 0; i < run->nfds; i++)
		if (c.high[i] >= 0)
			close(c.high[i]);
	if (c.out_fd >= 0)
		close(c.out_fd);
	free(c.argv);
	free(c.envp);
	free(c.path_env);
	return r;
}

int criu_wait(const struct criu_run *run, int pidfd, const char *log_path, char **ret_err)
{
	*ret_err = NULL;
	int r = child_wait_deadline(run, pidfd, ret_err);
	if (r == 0)
		r = child_reap(run, pidfd, log_path, ret_err);
	close(pidfd);
	return r;
}

int criu_exec(const struct criu_run *run, const char *log_path, char **ret_err)
{
	int pidfd;

	*ret_err = NULL;
	int r = criu_start(run, &pidfd);
	return r < 0 ? r : criu_wait(run, pidfd, log_path, ret_err);
}

void criu_argv_common(char **argv, size_t *n, size_t max, bool restore)
{
	static const char *const both[] = { "--tcp-established", "--manage-cgroups=ignore",
					    "--display-stats", "-v2",
					    /* A sandbox's network namespace holds only lo:
					     * a restore makes a new one (lo up by sbx-init,
					     * CRIU's action script, or by sbxd; sbxd gives it
					     * its link), faster than dumping and restoring
					     * it. Loopback TCP needs no lock: both ends are
					     * frozen. */
					    "--empty-ns=net" };
	static const char *const dump[] = { "--network-lock=skip" };
	/* The restored tree's root becomes the caller's child, left stopped: sbx-init
	 * executes itself again before anything of the sandbox runs, then lets it go on. */
	static const char *const rest[] = { "--restore-detached", "--restore-sibling",
					    "--leave-stopped" };

	for (size_t i = 0; i < ARRAY_SIZE(both); i++)
		strvcat(argv, n, max, "%s", both[i]);
	for (size_t i = 0; i < (restore ? ARRAY_SIZE(rest) : ARRAY_SIZE(dump)); i++)
		strvcat(argv, n, max, "%s", restore ? rest[i] : dump[i]);
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

void rm_rf(const char *path)
{
	(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

uint64_t du_bytes(const char *path)
{
	uint64_t total = 0;
	DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char sub[4200];
		struct stat st;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (lstat(sub, &st) < 0)
			continue;
		total += S_ISDIR(st.st_mode) ? du_bytes(sub) : (uint64_t)st.st_size;
	}
	if (d)
		closedir(d);
	return total;
}

/* CRIU's key for an open file outside the sandbox: "file[MNT_ID:INODE]" in hex. */
int file_key(pid_t pid, int fd, char *buf, size_t size)
{
	char path[64], line[256];
	unsigned mnt = 0;
	struct stat st;
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "mnt_id: %u", &mnt) == 1)
			found = true;
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	if (!found || stat(path, &st) < 0)
		return -ENOENT;
	snprintf(buf, size, "file[%x:%" PRIx64 "]", mnt, (uint64_t)st.st_ino);
	return 0;
}

/* Appends a formatted argument to @argv (@max entries with the terminating NULL). A
 * failure leaves a NULL entry among the first *n, which the caller checks for: out of
 * memory, the new one; out of room, the last one. */
char *strvcat(char **argv, size_t *n, size_t max, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (*n + 1 >= max) {
		if (*n) {
			free(argv[*n - 1]);
			argv[*n - 1] = NULL;
		}
		return NULL;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	argv[(*n)++] = s;
	return s;
}

void strv_clear(char **argv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(argv[i]);
}

bool criu_dev_shared(const char *src)
{
	return src && !strcmp(src, ROOTFS_DEV_DIR);
}

bool criu_dev_node_known(const char *src)
{
	static const char *const nodes[] = { SANDBOX_DEV_NODES, ROOTFS_DEV_DIR };

	for (size_t i = 0; src && i < ARRAY_SIZE(nodes); i++)
		if (!strcmp(src, nodes[i]))
			return true;
	return false;
}

/* Calls @fn with the fields of each mount of @pid's mount namespace (those with a
 * separator and a file system type after it) until it returns nonzero. -errno where they
 * cannot be read, else what @fn last returned. */
static int mountinfo_each(pid_t pid, int (*fn)(char **field, size_t dash, void *ud), void *ud)
{
	char path[64];
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	while (r == 0 && getline(&line, &cap, f) > 0) {
		char *field[64];
		size_t dash, n = text_mountinfo_fields(line, field, ARRAY_SIZE(field), &dash);
		if (dash && dash + 1 < n && n >= 5)
			r = fn(field, dash, ud);
	}
	fclose(f);
	return r;
}

/* Whether the mount of mountinfo @field is of the file system on device @dev. */
static bool mount_on(char **field, dev_t dev)
{
	unsigned maj, min;
	return sscanf(field[2], "%u:%u", &maj, &min) == 2 && makedev(maj, min) == dev;
}

/* Whether the mount of mountinfo @fields is the host's devtmpfs, or the shared /dev (of
 * the runtime tmpfs, device @runtime): the source of its root in @src. */
static bool dev_bind_source(char **field, size_t dash, dev_t runtime, char *src, size_t size)
{
	if (!strcmp(field[dash + 1], "devtmpfs"))
		return (size_t)snprintf(src, size, "/dev%s", field[3]) < size;
	if (strcmp(field[dash + 1], "tmpfs") || strcmp(field[3], "/" ROOTFS_DEV_TEMPLATE) ||
	    !mount_on(field, runtime))
		return false;
	return (size_t)snprintf(src, size, "%s", ROOTFS_DEV_DIR) < size;
}

struct dev_binds {
	dev_t runtime;
	json_t *arr;
};

static int dev_bind_add(char **field, size_t dash, void *ud)
{
	struct dev_binds *d = ud;
	char src[4200];

	if (!dev_bind_source(field, dash, d->runtime, src, sizeof(src)))
		return 0;
	/* CRIU's "mnt[PATH]" ends at "]"; mountinfo escapes what it does not print. */
	return strpbrk(field[3], "]\\") || strpbrk(field[4], "]\\") ||
			       json_array_append_new(d->arr, json_pack("[s,s]", field[4], src)) < 0
		       ? -EINVAL
		       : 0;
}

json_t *criu_dev_binds(pid_t pid)
{
	struct stat rt;
	struct dev_binds d = { .runtime = stat(ROOTFS_RUNTIME_DIR, &rt) == 0 ? rt.st_dev : 0,
			       .arr = json_array() };

	if (d.arr && mountinfo_each(pid, dev_bind_add, &d) < 0) {
		json_decref(d.arr);
		d.arr = NULL;
	}
	return d.arr;
}

struct shm_mounts {
	dev_t layer;
	int found; /* 1: one mount at /dev/shm, the layer's shm/; -1: anything else there */
};

static int shm_mount_see(char **field, size_t dash, void *ud)
{
	struct shm_mounts *m = ud;

	(void)dash;
	if (strcmp(field[4], "/dev/shm"))
		return 0;
	/* One mount there, and it is the layer's: nothing stacked over it. */
	bool layer = !strcmp(field[3], "/" ROOTFS_LAYER_SHM) && mount_on(field, m->layer);
	m->found = m->found || !layer ? -1 : 1;
	return 0;
}

bool criu_shm_in_layer(pid_t pid, const char *layer_dir)
{
	struct stat st;
	struct shm_mounts m = { 0 };

	if (stat(layer_dir, &st) < 0)
		return false;
	m.layer = st.st_dev;
	return mountinfo_each(pid, shm_mount_see, &m) == 0 && m.found == 1;
}

/* A small image @name of the directory @dir, whole, into @buf: its size, -EFBIG if it
 * does not fit. */
static ssize_t read_small_image(int dir, const char *name, uint8_t *buf, size_t size)
{
	_cleanup_close_ int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	size_t len = 0;
	ssize_t n = 1;

	if (fd < 0)
		return -errno;
	while (len < size && (n = read(fd, buf + len, size - len)) > 0)
		len += (size_t)n;
	if (n < 0)
		return -errno;
	return len == size ? -EFBIG : (ssize_t)len;
}

/* @len bytes of @buf into a new @name of @dir, in place of the old one at once. */
static int replace_image(int dir, const char *name, const uint8_t *buf, size_t len)
{
	char tmp[256];

	snprintf(tmp, sizeof(tmp), "%s.new", name);
	_cleanup_close_ int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, buf, len);
	int r = n < 0 ? -errno : (size_t)n != len ? -ENOSPC : 0;
	if (r == 0 && renameat(dir, tmp, dir, name) < 0)
		r = -errno;
	if (r < 0)
		(void)unlinkat(dir, tmp, 0);
	return r;
}

/* The snapshot's image of its user namespace (in @images; its name in @ret_name),
 * rewritten for a restore into the range starting at @to, into @out: the snapshot stays
 * as it is, for other restores, and CRIU sees the rewritten one bound over it. */
int criu_userns_image(const char *images, uid_t from, uid_t to, const char *out, char *ret_name,
		      size_t size)
{
	_cleanup_close_ int src = open(images, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uint8_t in[4096], buf[4096 + 256];
	int r = -ENOENT;

	if (src < 0)
		return -errno;
	DIR *d = fdopendir(dup(src));
	if (!d)
		return -errno;
	for (struct dirent *e; (e = readdir(d));)
		if (!strncmp(e->d_name, "userns-", 7) && strlen(e->d_name) < size) {
			if (r == 0) { /* one user namespace in a sandbox */
				r = -EINVAL;
				break;
			}
			snprintf(ret_name, size, "%s", e->d_name);
			r = 0;
		}
	closedir(d);
	if (r < 0)
		return r;
	ssize_t n = read_small_image(src, ret_name, in, sizeof(in));
	if (n < 0)
		return (int)n;
	ssize_t m = criuimg_userns_remap(in, (size_t)n, from, to, buf, sizeof(buf));
	if (m < 0)
		return (int)m;
	_cleanup_close_ int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ofd < 0 || write(ofd, buf, (size_t)m) != m)
		return -errno;
	return 0;
}

int criu_inventory_own_netns(const char *images)
{
	_cleanup_close_ int dir = open(images, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uint8_t in[4096], out[4096];

	if (dir < 0)
		return -errno;
	ssize_t n = read_small_image(dir, "inventory.img", in, sizeof(in));
	if (n < 0)
		return (int)n;
	ssize_t m = criuimg_inventory_own_netns(in, (size_t)n, out, sizeof(out));
	return m < 0 ? (int)m : replace_image(dir, "inventory.img", out, (size_t)m);
}

/* The image @name of @dir whole (a regular file of at most 64 MiB), in a new buffer, its
 * length in *ret_len; NULL with errno set. */
static uint8_t *read_image(int dir, const char *name, size_t *ret_len)
{
	struct stat st;

	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return NULL;
	if (!S_ISREG(st.st_mode) || st.st_size > (64 << 20)) {
		errno = EINVAL;
		return NULL;
	}
	/* One byte more than its size: read_small_image says -EFBIG if it grew. */
	uint8_t *buf = malloc((size_t)st.st_size + 1);
	ssize_t n = buf ? read_small_image(dir, name, buf, (size_t)st.st_size + 1) : -ENOMEM;
	if (n < 0) {
		free(buf);
		errno = (int)-n;
		return NULL;
	}
	*ret_len = (size_t)n;
	return buf;
}

bool criu_files_need_net(const char *images)
{
	_cleanup_close_ int dir = open(images, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t len = 0;
	_cleanup_free_ uint8_t *buf = dir < 0 ? NULL : read_image(dir, "files.img", &len);
	return !buf || criuimg_files_need_net(buf, len) != 0;
}

int criu_pages_check(const char *images, uint64_t *ret_bytes, char *why, size_t size)
{
	_cleanup_close_ int dir = open(images, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), sum = 0;
	int r = 0;

	*ret_bytes = 0;
	int dfd = dir < 0 ? -1 : dup(dir);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		r = -errno;
		if (dfd >= 0)
			close(dfd);
		return r;
	}
	for (struct dirent *e; r == 0 && (e = readdir(d));) {
		if (strncmp(e->d_name, "pagemap-", 8))
			continue;
		size_t len = 0;
		uint32_t id = 0;
		_cleanup_free_ uint8_t *buf = read_image(dir, e->d_name, &len);
		int64_t pages = buf ? criuimg_pagemap_pages(buf, len, &id) : -EINVAL;
		char name[64];
		struct stat st;
		snprintf(name, sizeof(name), "pages-%u.img", id);
		if (pages < 0) {
			snprintf(why, size, "%s is unreadable", e->d_name);
			r = -EBADMSG;
		} else if (pages > 0 && (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
					 !S_ISREG(st.st_mode) ||
					 (uint64_t)st.st_size / page < (uint64_t)pages)) {
			snprintf(why, size, "%s holds less than the %" PRId64 " pages %s names",
				 name, pages, e->d_name);
			r = -EBADMSG;
		} else {
			sum += (uint64_t)pages * page;
		}
	}
	closedir(d);
	if (r == 0)
		*ret_bytes = sum;
	return r;
}
