// SPDX-License-Identifier: MIT
/* sbx-oci's errors and warnings as runc's callers read them (one line on stderr, and with
 * --log a record there: text, or JSON lines with --log-format json), and its small file
 * helpers. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

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
	if (!G.quiet)
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

int oci_flag_take(int argc, char **argv, int *i, const struct oci_flag *flags)
{
	const char *a = argv[*i];
	size_t n = strcspn(a, "=");

	/* "-name" is "--name" too, as runc's parser (and go-runc's -no-subreaper) has it. */
	bool one_dash = a[0] == '-' && a[1] != '-' && n > 2;
	for (const struct oci_flag *f = flags; f->name; f++) {
		bool named =
			(strlen(f->name) == n && !strncmp(a, f->name, n)) ||
			(one_dash && strlen(f->name) == n + 1 && !strncmp(a, f->name + 1, n)) ||
			(f->alt && strlen(f->alt) == n && !strncmp(a, f->alt, n));
		/* A flag of another command (neither slot given) is not this one's. */
		if (!named || (!f->set && !f->value))
			continue;
		if (f->set) {
			if (a[n])
				return oci_error("%s: %s takes no value", argv[0], f->name);
			*f->set = true;
			return 1;
		}
		if (a[n] == '=') {
			*f->value = a + n + 1;
		} else if (*i + 1 < argc) {
			*f->value = argv[++*i];
		} else {
			return oci_error("%s: %s needs a value", argv[0], f->name);
		}
		return 1;
	}
	return 0;
}
