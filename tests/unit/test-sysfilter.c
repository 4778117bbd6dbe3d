// SPDX-License-Identifier: MIT
/* Unit tests for seccomp profiles: the default program really denies (installed in a
 * forked child), and JSON profiles are checked with the line and field at fault. */
#define _GNU_SOURCE
#include "../../sandbox/sysfilter.h"

#include <errno.h>
#include <dirent.h>
#include <limits.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* Runs @fn in a child under @f; returns the child's exit code. */
static int under_filter(const struct sysfilter *f, int (*fn)(void))
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || sysfilter_install(f) < 0)
			_exit(100);
		_exit(fn());
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int probe_default(void)
{
	if (mount("none", "/tmp", "tmpfs", 0, NULL) == 0 || errno != EPERM)
		return 1;
	if (unshare(CLONE_NEWNS) == 0 || errno != EPERM)
		return 2;
	if (syscall(SYS_clone3, NULL, 0) >= 0 || errno != ENOSYS)
		return 3;
	if (syscall(1000) >= 0 || errno != ENOSYS) /* no such syscall: ENOSYS, not a kill */
		return 4;
	if (personality(READ_IMPLIES_EXEC) >= 0 || errno != ENOSYS)
		return 5;
	if (syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0) >= 0 || errno != EPERM)
		return 6;
	if (getppid() <= 0 || syscall(SYS_io_uring_setup, 1, NULL) >= 0 || errno != EPERM)
		return 7;
	pid_t c = fork(); /* plain fork still works */
	if (c == 0)
		_exit(0);
	return c > 0 && waitpid(c, NULL, 0) == c ? 0 : 8;
}

TEST(default_denies_and_allows)
{
	struct sysfilter *f = NULL;
	CHECK_EQ_INT(sysfilter_new_default(&f), 0);
	CHECK(f->prog.len > 100);
	CHECK_EQ_INT(under_filter(f, probe_default), 0);
	sysfilter_free(f);
}

static int probe_custom(void)
{
	char buf[8];
	if (getcwd(buf, sizeof(buf)) || errno != EACCES) /* denied with errnoRet 13 */
		return 1;
	return getpid() > 0 ? 0 : 2;
}

/* The probe helper, run as full root under only the filter: every refusal it sees
 * comes from seccomp, not from missing capabilities. */
TEST(probe_as_root_sees_only_filter_refusals)
{
	const char *b = getenv("SBX_BUILD");
	char probe[512], out[8192];
	struct sysfilter *f = NULL;
	int pfd[2], status;
	size_t len = 0;
	ssize_t n;

	snprintf(probe, sizeof(probe), "%s/tests/helpers/syscall-probe", b ? b : "build");
	CHECK(access(probe, X_OK) == 0);
	CHECK(geteuid() == 0);
	CHECK_EQ_INT(sysfilter_new_default(&f), 0);
	CHECK(pipe(pfd) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || sysfilter_install(f) < 0)
			_exit(100);
		execl(probe, probe, (char *)NULL);
		_exit(101);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	int lines = 0;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), lines++) {
		if (!strncmp(line, "clone3:", 7))
			CHECK_STR_CONTAINS(line, ":ENOSYS");
		else
			CHECK_STR_CONTAINS(line, ":EPERM");
	}
	CHECK(lines >= 35);
	sysfilter_free(f);
}

TEST(json_profile_applies)
{
	static const char p[] = "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n"
				" \"syscalls\": [{\"names\": [\"getcwd\"], \"action\": "
				"\"SCMP_ACT_ERRNO\", \"errnoRet\": 13}]}";
	struct sysfilter *f = NULL;
	char *err = NULL;
	CHECK_EQ_INT(sysfilter_new_from_json("p.json", p, sizeof(p) - 1, &f, &err), 0);
	CHECK(err == NULL);
	CHECK_EQ_INT(under_filter(f, probe_custom), 0);
	sysfilter_free(f);
}

static void expect_error(const char *text, const char *want)
{
	struct sysfilter *f = NULL;
	char *err = NULL;
	CHECK_EQ_INT(sysfilter_new_from_json("p.json", text, strlen(text), &f, &err), -EINVAL);
	CHECK(f == NULL);
	CHECK_STR_CONTAINS(err, want);
	CHECK(strchr(err, '\n') == NULL); /* one line */
	free(err);
}

TEST(json_errors_name_line_and_field)
{
	expect_error("{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n"
		     " \"syscalls\": [\n"
		     "  {\"names\": [\"read\",\n"
		     "             \"no_such_call\"], \"action\": \"SCMP_ACT_ALLOW\"}]}",
		     "p.json:4: syscalls[0].names[1]: unknown syscall \"no_such_call\"");
	expect_error("{\"defaultAction\": \"SCMP_ACT_NOPE\"}",
		     "p.json:1: defaultAction: unknown action");
	expect_error("{\n\"defaultAction\": \"SCMP_ACT_ERRNO\",\n\"syscalls\": {}}",
		     "p.json:3: syscalls: must be an array");
	expect_error(
		"{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"syscalls\": [{\"names\": [\"read\"],"
		"\n \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 9, \"value\": 1, "
		"\"op\": \"SCMP_CMP_EQ\"}]}]}",
		"p.json:3: syscalls[0].args[0].index: must be an integer from 0 to 5");
	expect_error("{\"defaultAction\": \n", "p.json:2:");
	expect_error("{\"\\\nvv", "p.json:2: invalid escape near '\"\\?'"); /* one line */
	expect_error("[1]", "(top level): must be a JSON object");
	expect_error("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 0}",
		     "errno must be an integer between 1 and 4095");
}

TEST(named_profiles)
{
	struct sysfilter *f = NULL;
	char *err = NULL;
	CHECK_EQ_INT(sysfilter_new_named("default", &f, &err), 0);
	sysfilter_free(f);
	f = NULL;
	CHECK_EQ_INT(sysfilter_new_named("/nonexistent/profile.json", &f, &err), -ENOENT);
	CHECK_STR_CONTAINS(err, "/nonexistent/profile.json: No such file or directory");
	free(err);
	CHECK(sysfilter_new_named("/", &f, &err) < 0);
	CHECK_STR_CONTAINS(err, "not a regular file");
	free(err);
}

TEST(default_cache_trusts_only_root_only_files)
{
	char dir[] = "/tmp/sbx-test-cache.XXXXXX", path[PATH_MAX], cmd[PATH_MAX];
	struct sysfilter *fresh = NULL, *a = NULL, *b = NULL;
	struct dirent *e;
	DIR *d;

	CHECK(mkdtemp(dir));
	CHECK_EQ_INT(sysfilter_new_default(&fresh), 0);
	CHECK_EQ_INT(sysfilter_new_default_cached(dir, &a), 0); /* compiles, stores */
	CHECK((d = opendir(dir)) != NULL);
	while ((e = readdir(d)) && e->d_name[0] == '.')
		;
	CHECK(e != NULL);
	snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
	closedir(d);
	CHECK_EQ_INT(a->prog.len, fresh->prog.len);
	CHECK(!memcmp(a->prog.filter, fresh->prog.filter, fresh->prog.len * 8));

	/* Replace it with an allow-everything program others could have written. */
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	FILE *f = fopen(path, "w");
	CHECK(f && fwrite(&allow, sizeof(allow), 1, f) == 1 && fclose(f) == 0);
	CHECK(chmod(path, 0666) == 0);
	CHECK_EQ_INT(sysfilter_new_default_cached(dir, &b), 0);
	CHECK_EQ_INT(b->prog.len, fresh->prog.len); /* ignored: compiled again */
	sysfilter_free(b);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600); /* and replaced */
	CHECK_EQ_INT(st.st_size, fresh->prog.len * 8);
	/* Root-only, it is trusted as written (the directory is root's). */
	f = fopen(path, "w");
	CHECK(f && fwrite(&allow, sizeof(allow), 1, f) == 1 && fclose(f) == 0);
	CHECK_EQ_INT(sysfilter_new_default_cached(dir, &b), 0);
	CHECK_EQ_INT(b->prog.len, 1);
	sysfilter_free(a);
	sysfilter_free(b);
	sysfilter_free(fresh);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}
