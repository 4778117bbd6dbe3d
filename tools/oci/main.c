// SPDX-License-Identifier: MIT
/* sbx-oci: runc's command line over libsandbox. The global flags, the table of
 * commands, errors as runc's callers read them (stderr, and --log as text or JSON
 * lines), and small file helpers. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../sandbox/instance.h"
#include "../../sandbox/macro.h"
#include "oci.h"

struct oci_global G = { .root = OCI_DEFAULT_ROOT };

static void log_line(const char *level, const char *msg)
{
	char ts[64];
	struct timespec now;
	struct tm tm;

	if (!G.log)
		return;
	int fd = open(G.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%09ldZ", now.tv_nsec);
	if (G.log_json) {
		json_t *j = json_pack("{s:s, s:s, s:s}", "level", level, "msg", msg, "time", ts);
		char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
		if (t)
			dprintf(fd, "%s\n", t);
		free(t);
		json_decref(j);
	} else {
		dprintf(fd, "time=\"%s\" level=%s msg=\"%s\"\n", ts, level, msg);
	}
	close(fd);
}

void oci_log(const char *level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_line(level, msg);
}

int oci_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One line, whatever a caller-supplied string held. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(stderr, "sbx-oci: %s\n", msg);
	log_line("error", msg);
	return -1;
}

int write_file_atomic(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX + 8];
	int r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < len && r == 0;) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno != EINTR)
			r = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

char *read_text(const char *path, size_t max, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		int e = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		close(fd);
		errno = e;
		return NULL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t len = 0;
	while (buf && len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf)
		buf[len] = '\0';
	*ret_len = len;
	return buf;
}

int signal_parse(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} names[] = { { "HUP", SIGHUP },   { "INT", SIGINT },	{ "QUIT", SIGQUIT },
		      { "KILL", SIGKILL }, { "TERM", SIGTERM }, { "USR1", SIGUSR1 },
		      { "USR2", SIGUSR2 }, { "STOP", SIGSTOP }, { "CONT", SIGCONT },
		      { "ABRT", SIGABRT }, { "ALRM", SIGALRM }, { "WINCH", SIGWINCH },
		      { "PIPE", SIGPIPE }, { "TSTP", SIGTSTP } };
	char *end;

	if (!s || !*s)
		return SIGTERM;
	long n = strtol(s, &end, 10);
	if (!*end)
		return n > 0 && n < _NSIG ? (int)n : -1;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(names[i].name, s))
			return names[i].sig;
	return -1;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "create", cmd_create },
	{ "start", cmd_start },
	{ "run", cmd_run },
	{ "exec", cmd_exec },
	{ "state", cmd_state },
	{ "kill", cmd_kill },
	{ "delete", cmd_delete },
	{ "ps", cmd_ps },
	{ "list", cmd_list },
	{ "pause", cmd_pause },
	{ "resume", cmd_resume },
	{ "update", cmd_update },
	{ "events", cmd_events },
	{ "features", cmd_features },
	{ "checkpoint", cmd_checkpoint },
	{ "restore", cmd_restore },
};

static int usage(void)
{
	fprintf(stderr,
		"usage: sbx-oci [--root DIR] [--log FILE] [--log-format text|json] COMMAND ...\n"
		"commands: create start run exec state kill delete ps list pause resume update\n"
		"          events features checkpoint restore (runc's arguments)\n");
	return 2;
}

/* "--name=value" or "--name value": the value, advancing *i; NULL if @arg is not --name. */
static const char *flag_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n))
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] || *i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

int main(int argc, char **argv)
{
	int i = 1;
	const char *v;

	/* Its instance (SBX_INSTANCE) scopes its cgroups as sbxd's. */
	if (instance_set(getenv("SBX_INSTANCE")) < 0) {
		fprintf(stderr, "sbx-oci: SBX_INSTANCE: 1-16 of a-z 0-9 - _\n");
		return 1;
	}
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if ((v = flag_value(argc, argv, &i, "--root")))
			G.root = v;
		else if ((v = flag_value(argc, argv, &i, "--log")))
			G.log = v[0] ? v : NULL;
		else if ((v = flag_value(argc, argv, &i, "--log-format"))) {
			if (strcmp(v, "json") && strcmp(v, "text"))
				return oci_error("--log-format: json or text, not %s", v), 1;
			G.log_json = !strcmp(v, "json");
		} else if (!strcmp(a, "--debug"))
			G.debug = true;
		else if (!strcmp(a, "--systemd-cgroup"))
			return oci_error("--systemd-cgroup: sbx manages its sandboxes' cgroups "
					 "itself (set SystemdCgroup = false)"),
			       1;
		else if (!strcmp(a, "--rootless") && i + 1 < argc) {
			if (strcmp(argv[++i], "false") && strcmp(argv[i], "auto"))
				return oci_error("--rootless: sbx-oci runs as root"), 1;
		} else if ((v = flag_value(argc, argv, &i, "--criu")))
			continue; /* sbx's own CRIU is used */
		else if (!strcmp(a, "--version") || !strcmp(a, "-v")) {
			printf("sbx-oci version 1.0\nspec: %s\n", OCI_VERSION);
			return 0;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage();
			return 0;
		} else {
			return oci_error("unknown global flag %s", a), 1;
		}
	}
	if (i >= argc)
		return usage();
	if (G.root[0] != '/')
		return oci_error("--root: %s is not absolute", G.root), 1;
	/* Made as runc makes it, with what is above it. */
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s", G.root);
	for (char *p = path + 1;; p++) {
		bool end = !*p;
		if (*p != '/' && !end)
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return oci_error("--root %s: %s", G.root, strerror(errno)), 1;
		if (end)
			break;
		*p = '/';
	}
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (!strcmp(commands[c].name, argv[i]))
			return commands[c].fn(argc - i, argv + i) < 0 ? 1 : 0;
	oci_error("unknown command %s", argv[i]);
	return usage();
}
