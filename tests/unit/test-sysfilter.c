// SPDX-License-Identifier: MIT
/* Unit tests for seccomp profiles: the default program really denies (installed in a
 * forked child), and JSON profiles are checked with the line and field at fault. */
#define _GNU_SOURCE
#include "../../sandbox/sysfilter.h"

#include <errno.h>
#include <dirent.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdint.h>
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

/* A classic-BPF interpreter for the instructions seccomp programs use; UINT32_MAX for
 * anything else (an opcode, an offset or a jump out of the program). */
static uint32_t bpf_run(const struct sock_fprog *p, const struct seccomp_data *d)
{
	uint32_t acc = 0;

	for (unsigned pc = 0; pc < p->len; pc++) {
		const struct sock_filter *in = &p->filter[pc];
		bool taken;
		switch (in->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			if (in->k > sizeof(*d) - 4 || in->k % 4)
				return UINT32_MAX;
			memcpy(&acc, (const char *)d + in->k, 4);
			continue;
		case BPF_ALU | BPF_AND | BPF_K:
			acc &= in->k;
			continue;
		case BPF_RET | BPF_K:
			return in->k;
		case BPF_JMP | BPF_JA:
			if (in->k >= p->len - pc - 1)
				return UINT32_MAX;
			pc += in->k;
			continue;
		case BPF_JMP | BPF_JEQ | BPF_K:
			taken = acc == in->k;
			break;
		case BPF_JMP | BPF_JGT | BPF_K:
			taken = acc > in->k;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
			taken = acc >= in->k;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			taken = (acc & in->k) != 0;
			break;
		default:
			return UINT32_MAX;
		}
		pc += taken ? in->jt : in->jf;
	}
	return UINT32_MAX; /* fell off the end */
}

/* Values that sit on the rules' edges: families, personas, namespace flags, and upper
 * words that must not slip past a comparison of the lower one. */
static const uint64_t edge_values[] = {
	0,
	1,
	2,
	3,
	9,
	10,
	11,
	15,
	16,
	17,
	63,
	64,
	65,
	0x8,
	0x20000,
	0x20008,
	0x400000,
	0x11,
	0x20011,
	0x7e020000,
	0x02000000,
	0x04000000,
	0x08000000,
	0x10000000,
	0x20000000,
	0x40000000,
	0x80000000,
	0xffffffff,
	1ULL << 32,
	(1ULL << 32) | 1,
	(1ULL << 32) | 16,
	(1ULL << 63) | 2,
	~0ULL,
	0xffffffff00000000ULL,
};

#define NEDGES (sizeof(edge_values) / sizeof(edge_values[0]))

static void check_same(const struct sysfilter *a, const struct sysfilter *ref,
		       const struct seccomp_data *d)
{
	uint32_t got = bpf_run(&a->prog, d), want = bpf_run(&ref->prog, d);
	if (got != want || want == UINT32_MAX) {
		fprintf(stderr,
			"arch %#x nr %d args %#llx %#llx %#llx: assembled %#x, libseccomp %#x\n",
			d->arch, d->nr, (unsigned long long)d->args[0],
			(unsigned long long)d->args[1], (unsigned long long)d->args[2], got, want);
		CHECK(!"the two programs decide alike");
	}
}

/* The assembled default decides as libseccomp's compilation of the same rules: every
 * syscall number of every ABI, the arguments the rules read at their edges, and random
 * ones; in under half the instructions. */
TEST(default_assembled_decides_as_libseccomp)
{
	static const uint32_t arches[] = { AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64,
					   0 };
	struct sysfilter *a = NULL, *ref = NULL;
	struct seccomp_data d;
	unsigned long checked = 0;
	uint32_t nrs[2048 + 1024 + 6];
	size_t n = 0;

	for (uint32_t nr = 0; nr < 2048; nr++)
		nrs[n++] = nr;
	for (uint32_t nr = 0x40000000; nr < 0x40000000 + 1024; nr++)
		nrs[n++] = nr; /* x32 */
	nrs[n++] = 0x3fffffff;
	nrs[n++] = 0x7fffffff;
	nrs[n++] = 0x80000000;
	nrs[n++] = 0xfffffffe;
	nrs[n++] = 0xffffffff; /* a call a tracer skipped */
	nrs[n++] = 100000;

	CHECK_EQ_INT(sysfilter_new_default(&a), 0);
	CHECK_EQ_INT(sysfilter_default_reference(&ref), 0);
#if defined(__x86_64__) && !defined(__ILP32__)
	CHECK(a->prog.len * 2 < ref->prog.len); /* the point of assembling it */
#endif
	for (size_t ar = 0; ar < sizeof(arches) / sizeof(arches[0]); ar++) {
		for (size_t i = 0; i < n; i++) {
			memset(&d, 0, sizeof(d));
			d.arch = arches[ar];
			d.nr = (int)nrs[i];
			check_same(a, ref, &d);
			checked++;
			/* Arguments matter only to a few calls; their edges for all of them. */
			if (nrs[i] >= 512 || arches[ar] != AUDIT_ARCH_X86_64)
				continue;
			for (size_t x = 0; x < NEDGES; x++)
				for (size_t y = 0; y < NEDGES; y++) {
					d.args[0] = edge_values[x];
					d.args[1] = edge_values[(x + y) % NEDGES];
					d.args[2] = edge_values[y];
					check_same(a, ref, &d);
					checked++;
				}
		}
	}
	/* Random registers, and numbers drawn mostly from the real table. */
	srandom(1);
	for (int i = 0; i < 200000; i++) {
		memset(&d, 0, sizeof(d));
		d.arch = random() % 8 ? AUDIT_ARCH_X86_64 : (uint32_t)random();
		d.nr = random() % 4 ? (int)(random() % 512) : (int)random();
		for (int j = 0; j < 6; j++) {
			uint64_t v = ((uint64_t)random() << 33) ^ ((uint64_t)random() << 2) ^
				     (uint64_t)random();
			d.args[j] = random() % 2 ? v : v % 80;
		}
		check_same(a, ref, &d);
		checked++;
	}
	CHECK(checked > 750000);
	sysfilter_free(a);
	sysfilter_free(ref);
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
