// SPDX-License-Identifier: MIT
/* sbxd benchmark, against a running daemon on SOCKET (started by tools/bench/sbxd.sh):
 *  1. round trip create + exec true + delete over the unix socket, interleaved round by
 *     round with the one-shot `sbx run --image base -- true` (the baseline);
 *  2. sandbox lifecycles per second from 8 concurrent clients;
 *  3. GET /v1/sandboxes/{id} per second (keep-alive, 4 clients);
 *  4. sbxd's memory per idle sandbox, with 1,000 idle sandboxes running at once.
 * Usage: bench-sbxd SOCKET SBXD_PID BUILD_DIR [ROUNDS] [IDLE] */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <inttypes.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static const char *sock_path;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void pct(int64_t *v, int n, double *p50, double *p99)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	*p50 = (double)v[n / 2] / 1e6;
	*p99 = (double)v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1e6;
}

/* A keep-alive connection and one parsed response at a time. */
struct conn {
	int fd;
	http_parser p;
	int status;
	bool done;
	char body[8192];
	size_t len;
};

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	if (c->len + len < sizeof(c->body)) {
		memcpy(c->body + c->len, at, len);
		c->len += len;
	}
	return 0;
}

static int on_done(http_parser *p)
{
	struct conn *c = p->data;
	c->status = p->status_code;
	c->done = true;
	return 1; /* pause: one response per call */
}

static const http_parser_settings settings = { .on_body = on_body, .on_message_complete = on_done };

static void conn_open(struct conn *c)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "bench: connect %s: %s\n", sock_path, strerror(errno));
		exit(1);
	}
}

static int call(struct conn *c, const char *method, const char *path, const char *body)
{
	char req[4096];
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s", method, path,
			 body ? strlen(body) : 0, body ? body : "");
	if (write(c->fd, req, (size_t)n) != n) {
		fprintf(stderr, "bench: write: %s\n", strerror(errno));
		exit(1);
	}
	http_parser_init(&c->p, HTTP_RESPONSE);
	c->p.data = c;
	c->done = false;
	c->len = 0;
	while (!c->done) {
		char buf[8192];
		ssize_t r = read(c->fd, buf, sizeof(buf));
		if (r <= 0) {
			fprintf(stderr, "bench: read: %s\n", r ? strerror(errno) : "EOF");
			exit(1);
		}
		http_parser_execute(&c->p, &settings, buf, (size_t)r);
	}
	c->body[c->len] = '\0';
	return c->status;
}

static void create(struct conn *c, char id[32])
{
	if (call(c, "POST", "/v1/sandboxes",
		 "{\"image\":\"base\",\"limits\":{\"timeout\":\"30m\"}}") != 201) {
		fprintf(stderr, "bench: create: %d %s\n", c->status, c->body);
		exit(1);
	}
	char *p = strstr(c->body, "\"id\":\"");
	snprintf(id, 32, "%.12s", p + 6);
}

static void lifecycle(struct conn *c)
{
	char id[32], path[128];
	create(c, id);
	snprintf(path, sizeof(path), "/v1/sandboxes/%s/exec", id);
	if (call(c, "POST", path, "{\"cmd\":[\"true\"]}") != 200 ||
	    !strstr(c->body, "\"exit_code\":0")) {
		fprintf(stderr, "bench: exec: %d %s\n", c->status, c->body);
		exit(1);
	}
	snprintf(path, sizeof(path), "/v1/sandboxes/%s", id);
	if (call(c, "DELETE", path, NULL) != 200) {
		fprintf(stderr, "bench: delete: %d %s\n", c->status, c->body);
		exit(1);
	}
}

static int64_t one_shot(const char *sbx)
{
	char *argv[] = { (char *)sbx, "run", "--image", "base", "--", "true", NULL };
	pid_t pid;
	int st;
	int64_t t0 = now_ns();
	if (posix_spawn(&pid, sbx, NULL, NULL, argv, environ) != 0 || waitpid(pid, &st, 0) < 0 ||
	    st != 0) {
		fprintf(stderr, "bench: sbx run failed\n");
		exit(1);
	}
	return now_ns() - t0;
}

static atomic_long counter;
static atomic_bool stop;
static const char *get_path;

static void *lifecycle_worker(void *arg __attribute__((unused)))
{
	struct conn c = { 0 };
	conn_open(&c);
	while (!atomic_load(&stop)) {
		lifecycle(&c);
		atomic_fetch_add(&counter, 1);
	}
	close(c.fd);
	return NULL;
}

static void *get_worker(void *arg __attribute__((unused)))
{
	struct conn c = { 0 };
	conn_open(&c);
	while (!atomic_load(&stop)) {
		if (call(&c, "GET", get_path, NULL) != 200)
			exit(1);
		atomic_fetch_add(&counter, 1);
	}
	close(c.fd);
	return NULL;
}

static double run_for(void *(*fn)(void *), int threads, double secs)
{
	pthread_t t[16];
	atomic_store(&counter, 0);
	atomic_store(&stop, false);
	int64_t t0 = now_ns();
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, fn, NULL);
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&stop, true);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	return (double)atomic_load(&counter) / ((double)(now_ns() - t0) / 1e9);
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long v = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

struct idle_arg {
	int from, to;
	char (*ids)[32];
	bool del;
};

static void *idle_worker(void *p)
{
	struct idle_arg *a = p;
	struct conn c = { 0 };
	char path[64];
	conn_open(&c);
	for (int i = a->from; i < a->to; i++) {
		if (!a->del) {
			create(&c, a->ids[i]);
			continue;
		}
		snprintf(path, sizeof(path), "/v1/sandboxes/%s", a->ids[i]);
		if (call(&c, "DELETE", path, NULL) != 200)
			exit(1);
	}
	close(c.fd);
	return NULL;
}

static void idle_phase(int n, bool del, char (*ids)[32])
{
	pthread_t t[8];
	struct idle_arg a[8];
	for (int i = 0; i < 8; i++) {
		a[i] = (struct idle_arg){ n * i / 8, n * (i + 1) / 8, ids, del };
		pthread_create(&t[i], NULL, idle_worker, &a[i]);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: bench-sbxd SOCKET SBXD_PID BUILD_DIR [ROUNDS] [IDLE]\n");
		return 2;
	}
	sock_path = argv[1];
	pid_t sbxd = atoi(argv[2]);
	int rounds = argc > 4 ? atoi(argv[4]) : 200, idle = argc > 5 ? atoi(argv[5]) : 1000;
	char sbx[4096];
	snprintf(sbx, sizeof(sbx), "%s/sbx", argv[3]);

	/* 1. Round trip vs one-shot, interleaved. */
	struct conn c = { 0 };
	conn_open(&c);
	int64_t *rt = calloc((size_t)rounds, sizeof(int64_t)), *os = calloc((size_t)rounds, 8);
	for (int i = 0; i < 10; i++)
		lifecycle(&c);
	for (int i = 0; i < rounds; i++) {
		int64_t t0 = now_ns();
		lifecycle(&c);
		rt[i] = now_ns() - t0;
		os[i] = one_shot(sbx);
	}
	double r50, r99, o50, o99;
	pct(rt, rounds, &r50, &r99);
	pct(os, rounds, &o50, &o99);
	printf("%-58s %8s %8s %8s\n", "", "p50 ms", "p99 ms", "ratio");
	printf("%-58s %8.2f %8.2f %7.2fx\n", "create + exec true + delete via sbxd (unix socket)",
	       r50, r99, r50 / o50);
	printf("%-58s %8.2f %8.2f %7.2fx\n", "sbx run --image base -- true (one-shot, baseline)",
	       o50, o99, 1.0);

	/* 2. Lifecycles per second, 8 clients. */
	double lps = run_for(lifecycle_worker, 8, 5.0);
	printf("%-58s %8.0f /s\n", "lifecycles (create+exec+delete), 8 concurrent clients", lps);

	/* 3. GETs per second. */
	char id[32], path[64];
	create(&c, id);
	snprintf(path, sizeof(path), "/v1/sandboxes/%s", id);
	get_path = path;
	double gps = run_for(get_worker, 4, 3.0);
	printf("%-58s %8.0f /s\n", "GET /v1/sandboxes/{id}, keep-alive, 4 clients", gps);
	snprintf(path, sizeof(path), "/v1/sandboxes/%s", id);
	call(&c, "DELETE", path, NULL);

	/* 4. Memory per idle sandbox. */
	char(*ids)[32] = calloc((size_t)idle, 32);
	long before = rss_kib(sbxd);
	int64_t t0 = now_ns();
	idle_phase(idle, false, ids);
	double create_s = (double)(now_ns() - t0) / 1e9;
	call(&c, "GET", "/v1/health", NULL);
	long after = rss_kib(sbxd);
	printf("%-58s %8d in %.1f s\n", "idle sandboxes running at once", idle, create_s);
	printf("%-58s %8.1f KiB (RSS %ld -> %ld KiB)\n", "sbxd memory per idle sandbox",
	       (double)(after - before) / idle, before, after);
	t0 = now_ns();
	idle_phase(idle, true, ids);
	printf("%-58s %8.1f s\n", "deleting them", (double)(now_ns() - t0) / 1e9);
	return 0;
}
