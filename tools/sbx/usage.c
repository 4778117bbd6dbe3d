// SPDX-License-Identifier: MIT
/* sbx usage: what a sandbox has used so far: CPU, memory, syscalls by name (the ten most
 * frequent), network; each meter that is off says why. */
#include <stdio.h>
#include <stdlib.h>

#include "sbx.h"

static int cmp_count_desc(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "n"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "n"));
	return (y > x) - (y < x);
}

/* The total, then the ten most frequent syscalls. */
static void print_syscalls(json_t *u, json_t *sys)
{
	size_t n = json_object_size(sys), i = 0;
	json_t **rows = calloc(n ? n : 1, sizeof(json_t *)), *v;
	const char *k;

	json_object_foreach (sys, k, v)
		if (rows)
			rows[i++] = json_pack("{s:s,s:O}", "k", k, "n", v);
	if (rows)
		qsort(rows, n, sizeof(json_t *), cmp_count_desc);
	printf("%-10s %" JSON_INTEGER_FORMAT " total\n", "syscalls",
	       json_integer_value(json_object_get(u, "syscalls_total")));
	for (i = 0; rows && i < n; i++) {
		if (i < 10)
			printf("%-10s   %-20s %" JSON_INTEGER_FORMAT "\n", "",
			       json_string_value(json_object_get(rows[i], "k")),
			       json_integer_value(json_object_get(rows[i], "n")));
		json_decref(rows[i]);
	}
	free(rows);
}

/* One line per meter; a meter that is off says why. */
static void print_usage(json_t *u)
{
	json_t *m = json_object_get(u, "meters");
	json_t *cpu = json_object_get(u, "cpu_ns"), *mem = json_object_get(u, "memory_bytes");
	json_t *sys = json_object_get(u, "syscalls"), *net = json_object_get(u, "net");

	printf("%-10s %.3f s\n", "wall", json_integer_value(json_object_get(u, "wall_ns")) / 1e9);
	if (json_is_integer(cpu))
		printf("%-10s %.3f s\n", "cpu", json_integer_value(cpu) / 1e9);
	else
		printf("%-10s %s\n", "cpu", json_string_value(json_object_get(m, "cpu")));
	if (json_is_integer(mem))
		printf("%-10s %.1f MiB (peak %.1f MiB)\n", "memory",
		       json_integer_value(mem) / 1048576.0,
		       json_integer_value(json_object_get(u, "memory_peak_bytes")) / 1048576.0);
	else
		printf("%-10s %s\n", "memory", json_string_value(json_object_get(m, "memory")));
	if (json_is_object(sys))
		print_syscalls(u, sys);
	else
		printf("%-10s %s\n", "syscalls", json_string_value(json_object_get(m, "syscalls")));
	if (json_is_object(net)) {
		static const char *const parts[] = { "internet", "local" };
		for (size_t i = 0; i < 2; i++) {
			json_t *p = json_object_get(net, parts[i]);
			printf("%-10s rx %" JSON_INTEGER_FORMAT " B (%" JSON_INTEGER_FORMAT
			       " packets), tx %" JSON_INTEGER_FORMAT " B (%" JSON_INTEGER_FORMAT
			       " packets)\n",
			       i ? "net local" : "net",
			       json_integer_value(json_object_get(p, "rx_bytes")),
			       json_integer_value(json_object_get(p, "rx_packets")),
			       json_integer_value(json_object_get(p, "tx_bytes")),
			       json_integer_value(json_object_get(p, "tx_packets")));
		}
		printf("%-10s %" JSON_INTEGER_FORMAT " connections refused\n", "net denied",
		       json_integer_value(json_object_get(net, "denied")));
	} else
		printf("%-10s %s\n", "net", json_string_value(json_object_get(m, "net")));
}

int cmd_usage(int argc, char **argv)
{
	struct sbx_args a = { 0 };
	json_t *j;
	int r;

	sbx_prog = "sbx usage";
	r = sbx_args_parse(argc, argv, &a);
	if (r)
		return r;
	if (a.nids != 1)
		return sbx_die("usage: sbx inspect|logs|usage ID");
	r = sbx_sandbox_get_json(a.sock, a.ids[0], "usage", &j);
	if (r)
		return r;
	if (a.json)
		r = sbx_print_json(j);
	else
		print_usage(j);
	json_decref(j);
	return r;
}
