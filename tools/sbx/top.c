// SPDX-License-Identifier: MIT
/* sbx top: a live table of the sandboxes' usage (CPU% from two readings), sorted by CPU,
 * memory or syscalls; one plain table when not on a terminal. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "../../sandbox/macro.h"
#include "sbx.h"

enum top_sort {
	SORT_CPU,
	SORT_MEMORY,
	SORT_SYSCALLS
};

enum {
	OPT_ONCE = OPT_VERB,
	OPT_INTERVAL,
	OPT_SORT,
};

struct top_row {
	char id[16], tenant[40], state[12];
	double cpu_pct, cpu_s, mem_mib, peak_mib;
	long long syscalls, rx, tx;
};

/* The previous reading, for CPU% (a rate); the sort order (qsort takes no context). */
static struct {
	char id[16];
	json_int_t cpu_ns;
} top_prev[4096];
static size_t top_nprev;
static int64_t top_prev_at;
static enum top_sort top_by;

static int top_cmp(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;
	double dx = top_by == SORT_CPU	    ? x->cpu_pct
		    : top_by == SORT_MEMORY ? x->mem_mib
					    : (double)x->syscalls;
	double dy = top_by == SORT_CPU	    ? y->cpu_pct
		    : top_by == SORT_MEMORY ? y->mem_mib
					    : (double)y->syscalls;
	return (dy > dx) - (dy < dx);
}

static json_int_t jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* A row from a sandbox's record with usage; CPU% against the previous reading. */
static void top_row_read(struct top_row *w, json_t *b, double dt)
{
	json_t *u = json_object_get(b, "usage"), *net = json_object_get(u, "net");
	if (json_object_get(net, "internet"))
		net = json_object_get(net, "internet");

	snprintf(w->id, sizeof(w->id), "%s", json_string_value(json_object_get(b, "id")));
	snprintf(w->tenant, sizeof(w->tenant), "%s",
		 json_string_value(json_object_get(b, "tenant")));
	snprintf(w->state, sizeof(w->state), "%s", json_string_value(json_object_get(b, "state")));
	json_int_t cpu = jint(u, "cpu_ns");
	w->cpu_s = cpu / 1e9;
	w->mem_mib = jint(u, "memory_bytes") / 1048576.0;
	w->peak_mib = jint(u, "memory_peak_bytes") / 1048576.0;
	w->syscalls = jint(u, "syscalls_total");
	w->rx = jint(net, "rx_bytes");
	w->tx = jint(net, "tx_bytes");
	for (size_t k = 0; dt > 0 && k < top_nprev; k++)
		if (!strcmp(top_prev[k].id, w->id) && cpu >= top_prev[k].cpu_ns)
			w->cpu_pct = 100.0 * (double)(cpu - top_prev[k].cpu_ns) / dt;
}

static void top_remember(const struct top_row *rows, size_t n, int64_t now)
{
	top_nprev = 0;
	for (size_t i = 0; i < n && i < ARRAY_SIZE(top_prev); i++) {
		snprintf(top_prev[i].id, sizeof(top_prev[i].id), "%s", rows[i].id);
		top_prev[i].cpu_ns = (json_int_t)(rows[i].cpu_s * 1e9);
		top_nprev++;
	}
	top_prev_at = now;
}

static void top_print(const struct top_row *rows, size_t n, bool clear)
{
	if (clear)
		printf("\033[H\033[2J");
	printf("%-13s %-10s %-8s %6s %9s %9s %9s %12s %10s %10s\n", "ID", "TENANT", "STATE", "CPU%",
	       "CPU s", "MEM MiB", "PEAK MiB", "SYSCALLS", "RX B", "TX B");
	for (size_t i = 0; i < n; i++)
		printf("%-13s %-10s %-8s %6.1f %9.2f %9.1f %9.1f %12lld %10lld %10lld\n",
		       rows[i].id, rows[i].tenant, rows[i].state, rows[i].cpu_pct, rows[i].cpu_s,
		       rows[i].mem_mib, rows[i].peak_mib, rows[i].syscalls, rows[i].rx, rows[i].tx);
	if (clear)
		printf("\nsorted by %s; c cpu, m memory, s syscalls, q quits\n",
		       top_by == SORT_CPU      ? "cpu"
		       : top_by == SORT_MEMORY ? "memory"
					       : "syscalls");
}

/* One reading; with @print, one screen: a header line, then a row per sandbox, sorted. */
static int top_once(const char *sock, bool clear, bool print)
{
	json_t *j, *b;
	size_t i;
	int r = sbx_call_json(sock, "GET", "/v1/sandboxes?usage=1", NULL, &j);

	if (r)
		return r;
	json_t *arr = json_object_get(j, "sandboxes");
	size_t n = json_array_size(arr);
	struct top_row *rows = calloc(n ? n : 1, sizeof(*rows));
	int64_t now = sbx_now_ns();
	double dt = top_prev_at ? (double)(now - top_prev_at) : 0;
	json_array_foreach (arr, i, b)
		top_row_read(&rows[i], b, dt);
	top_remember(rows, n, now);
	qsort(rows, n, sizeof(*rows), top_cmp);
	if (print)
		top_print(rows, n, clear);
	fflush(stdout);
	free(rows);
	json_decref(j);
	return 0;
}

/* On a terminal: a screen every @interval seconds; c, m, s change the order, q quits. */
static int top_live(const char *sock, double interval)
{
	struct termios old, raw;
	int r = 0;

	if (tcgetattr(0, &old) < 0)
		return sbx_die("terminal: %s", strerror(errno));
	raw = old;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	tcsetattr(0, TCSANOW, &raw);
	for (;;) {
		r = top_once(sock, true, true);
		if (r)
			break;
		struct pollfd p = { .fd = 0, .events = POLLIN };
		char ch = 0;
		if (poll(&p, 1, (int)(interval * 1000)) <= 0 || read(0, &ch, 1) != 1)
			continue;
		if (ch == 'q' || ch == 'Q')
			break;
		top_by = ch == 'c'   ? SORT_CPU
			 : ch == 'm' ? SORT_MEMORY
			 : ch == 's' ? SORT_SYSCALLS
				     : top_by;
	}
	tcsetattr(0, TCSANOW, &old);
	return r;
}

static int top_usage(void)
{
	return sbx_die("usage: sbx top [--sort cpu|memory|syscalls] [--interval S] [--once]");
}

int cmd_top(int argc, char **argv)
{
	static const struct option opts[] = {
		SBX_SOCKET_OPTION,
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "sort", required_argument, NULL, OPT_SORT },
		{ 0 },
	};
	const char *sock = NULL;
	double interval = 1.0;
	bool once = false;
	int c, at;

	sbx_prog = "sbx top";
	while ((c = sbx_getopt(argc, argv, "-:", opts, &at)) != -1) {
		if (c == OPT_SOCKET)
			sock = optarg;
		else if (c == OPT_ONCE)
			once = true;
		else if (c == OPT_INTERVAL && atof(optarg) >= 0.1)
			interval = atof(optarg);
		else if (c == OPT_SORT && !strcmp(optarg, "cpu"))
			top_by = SORT_CPU;
		else if (c == OPT_SORT && !strcmp(optarg, "memory"))
			top_by = SORT_MEMORY;
		else if (c == OPT_SORT && !strcmp(optarg, "syscalls"))
			top_by = SORT_SYSCALLS;
		else if (c == OPT_SORT)
			return sbx_die("--sort: \"%s\" is not cpu, memory or syscalls", optarg);
		else
			return top_usage();
	}
	if (optind < argc)
		return top_usage();
	sock = sbx_socket_path(sock);
	/* Not a terminal: one plain table, from two readings (CPU% is a rate). */
	if (once || !isatty(1) || !isatty(0)) {
		int r = top_once(sock, false, false);
		if (r)
			return r;
		usleep((useconds_t)(interval * 1e6));
		return top_once(sock, false, true);
	}
	return top_live(sock, interval);
}
