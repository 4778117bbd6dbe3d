// SPDX-License-Identifier: MIT
/* GET /metrics: Prometheus text exposition (format 0.0.4) of every sandbox sbxd lists,
 * labelled by sandbox and tenant, and of the daemon itself. Removed sandboxes drop out.
 * Syscalls: each sandbox's ten most frequent by name, the rest as syscall="other". */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge.h"

#define TOP_SYSCALLS 10

struct text {
	char *p;
	size_t len;
	FILE *f;
};

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int cmp_desc(const void *a, const void *b)
{
	json_int_t x = json_integer_value(*(json_t *const *)a);
	json_int_t y = json_integer_value(*(json_t *const *)b);
	return (y > x) - (y < x);
}

/* One family across all sandboxes: @emit prints its samples for one usage record. */
typedef void (*emit_fn)(FILE *f, const char *labels, json_t *u);

static void emit_cpu(FILE *f, const char *l, json_t *u)
{
	json_t *v = json_object_get(u, "cpu_ns");
	if (json_is_integer(v))
		fprintf(f, "sbx_cpu_seconds_total{%s} %.9f\n", l, json_integer_value(v) / 1e9);
}

static void emit_int(FILE *f, const char *metric, const char *l, json_t *v)
{
	if (json_is_integer(v))
		fprintf(f, "%s{%s} %" JSON_INTEGER_FORMAT "\n", metric, l, json_integer_value(v));
}

static void emit_mem(FILE *f, const char *l, json_t *u)
{
	emit_int(f, "sbx_memory_bytes", l, json_object_get(u, "memory_bytes"));
}

static void emit_mem_peak(FILE *f, const char *l, json_t *u)
{
	emit_int(f, "sbx_memory_peak_bytes", l, json_object_get(u, "memory_peak_bytes"));
}

static void emit_mem_integral(FILE *f, const char *l, json_t *u)
{
	json_t *v = json_object_get(u, "memory_kib_ms");
	if (json_is_integer(v)) /* KiB-ms: 1.024 byte-seconds each */
		fprintf(f, "sbx_memory_byte_seconds_total{%s} %.3f\n", l,
			(double)json_integer_value(v) * 1.024);
}

static void emit_wall(FILE *f, const char *l, json_t *u)
{
	json_t *v = json_object_get(u, "wall_ns");
	if (json_is_integer(v))
		fprintf(f, "sbx_wall_seconds_total{%s} %.9f\n", l, json_integer_value(v) / 1e9);
}

static void emit_syscalls(FILE *f, const char *l, json_t *u)
{
	json_t *sys = json_object_get(u, "syscalls"), *v;
	const char *k;
	size_t n = json_object_size(sys), i = 0;

	if (!json_is_object(sys))
		return;
	json_t **vals = calloc(n ? n : 1, sizeof(json_t *));
	if (!vals)
		return;
	json_object_foreach (sys, k, v)
		vals[i++] = v;
	qsort(vals, n, sizeof(json_t *), cmp_desc);
	json_int_t cut = n > TOP_SYSCALLS ? json_integer_value(vals[TOP_SYSCALLS - 1]) : 0;
	json_int_t other = 0;
	size_t shown = 0;
	json_object_foreach (sys, k, v) {
		json_int_t c = json_integer_value(v);
		if (strcmp(k, "other") && c >= cut && shown < TOP_SYSCALLS) {
			fprintf(f,
				"sbx_syscalls_total{%s,syscall=\"%s\"} %" JSON_INTEGER_FORMAT "\n",
				l, k, c);
			shown++;
		} else {
			other += c;
		}
	}
	if (other)
		fprintf(f, "sbx_syscalls_total{%s,syscall=\"other\"} %" JSON_INTEGER_FORMAT "\n", l,
			other);
	free(vals);
}

/* One network family: @unit is "bytes" or "packets", a sample each direction and scope
 * (internet: billed; local: the sandbox's loopback). */
static void emit_net(FILE *f, const char *l, json_t *u, const char *unit)
{
	json_t *net = json_object_get(u, "net");
	char key[32];

	if (!json_is_object(net))
		return;
	for (int s = 0; s < 2; s++) {
		const char *scope = s ? "local" : "internet";
		for (int d = 0; d < 2; d++) {
			const char *dir = d ? "tx" : "rx";
			snprintf(key, sizeof(key), "%s_%s", dir, unit);
			fprintf(f,
				"sbx_net_%s_total{%s,direction=\"%s\",scope=\"%s\"} "
				"%" JSON_INTEGER_FORMAT "\n",
				unit, l, dir, scope,
				json_integer_value(
					json_object_get(json_object_get(net, scope), key)));
		}
	}
}

static void emit_net_bytes(FILE *f, const char *l, json_t *u)
{
	emit_net(f, l, u, "bytes");
}

static void emit_net_packets(FILE *f, const char *l, json_t *u)
{
	emit_net(f, l, u, "packets");
}

static void emit_gpu_ioctls(FILE *f, const char *l, json_t *u)
{
	json_t *gpus = json_object_get(u, "gpus"), *g;
	size_t i;
	json_array_foreach (gpus, i, g)
		fprintf(f,
			"sbx_gpu_ioctls_total{%s,gpu=\"%s\",model=\"%s\"} %" JSON_INTEGER_FORMAT
			"\n",
			l, json_string_value(json_object_get(g, "device")),
			json_string_value(json_object_get(g, "model")),
			json_integer_value(json_object_get(g, "ioctls")));
}

static void emit_gpu_seconds(FILE *f, const char *l, json_t *u, const char *field,
			     const char *metric)
{
	json_t *gpus = json_object_get(u, "gpus"), *g;
	size_t i;
	json_array_foreach (gpus, i, g) {
		json_t *v = json_object_get(g, field);
		if (json_is_integer(v))
			fprintf(f, "%s{%s,gpu=\"%s\",model=\"%s\"} %.9f\n", metric, l,
				json_string_value(json_object_get(g, "device")),
				json_string_value(json_object_get(g, "model")),
				json_integer_value(v) / 1e9);
	}
}

static void emit_gpu_attached(FILE *f, const char *l, json_t *u)
{
	emit_gpu_seconds(f, l, u, "attached_ns", "sbx_gpu_attached_seconds_total");
}

static void emit_gpu_busy(FILE *f, const char *l, json_t *u)
{
	emit_gpu_seconds(f, l, u, "busy_ns", "sbx_gpu_busy_seconds_total");
}

static const struct {
	const char *name, *type, *help;
	emit_fn emit;
} families[] = {
	{ "sbx_gpu_attached_seconds_total", "counter",
	  "Time a GPU has been held by the sandbox (the billable GPU time).", emit_gpu_attached },
	{ "sbx_gpu_busy_seconds_total", "counter",
	  "GPU time the sandbox's processes kept the SMs busy, from NVML samples.", emit_gpu_busy },
	{ "sbx_wall_seconds_total", "counter", "Time the sandbox has been running.", emit_wall },
	{ "sbx_cpu_seconds_total", "counter", "CPU time used by the sandbox's processes.",
	  emit_cpu },
	{ "sbx_memory_bytes", "gauge", "Memory charged to the sandbox now.", emit_mem },
	{ "sbx_memory_peak_bytes", "gauge", "Most memory charged to the sandbox at once.",
	  emit_mem_peak },
	{ "sbx_memory_byte_seconds_total", "counter",
	  "Memory charged to the sandbox, integrated over time.", emit_mem_integral },
	{ "sbx_syscalls_total", "counter",
	  "System calls made inside the sandbox (its ten most frequent; the rest as other).",
	  emit_syscalls },
	{ "sbx_net_bytes_total", "counter", "Bytes through the sandbox's network namespace.",
	  emit_net_bytes },
	{ "sbx_net_packets_total", "counter", "Packets through the sandbox's network namespace.",
	  emit_net_packets },
	{ "sbx_gpu_ioctls_total", "counter",
	  "ioctl calls on the GPU device nodes granted to the sandbox (driver activity, not GPU "
	  "time).",
	  emit_gpu_ioctls },
};

void metrics_handle(struct conn *c)
{
	size_t nbox = 0, i = 0, len = 0;
	char *text = NULL;
	FILE *f = open_memstream(&text, &len);

	if (!f) {
		respond_error(c, 500, "internal", "out of memory");
		return;
	}
	for (struct box *b = D.boxes; b; b = b->next)
		nbox++;
	json_t **usage = calloc(nbox ? nbox : 1, sizeof(json_t *));
	char(*labels)[96] = calloc(nbox ? nbox : 1, 96);
	if (!usage || !labels) {
		fclose(f);
		free(text);
		free(usage);
		free(labels);
		respond_error(c, 500, "internal", "out of memory");
		return;
	}
	unsigned states[4] = { 0 };
	for (struct box *b = D.boxes; b; b = b->next, i++) {
		states[b->state]++;
		usage[i] = box_usage_json(b);
		snprintf(labels[i], 96, "sandbox=\"%s\",tenant=\"%s\"", b->id, b->tenant);
	}
	family(f, "sbx_up", "gauge", "1 while sbxd serves.");
	fprintf(f, "sbx_up 1\n");
	family(f, "sbx_metering_up", "gauge", "1 when the eBPF meter is loaded.");
	fprintf(f, "sbx_metering_up %d\n", D.meter != NULL);
	family(f, "sbx_build_info", "gauge", "sbxd's version.");
	fprintf(f, "sbx_build_info{version=\"%s\"} 1\n", SBX_VERSION);
	family(f, "sbx_connections", "gauge", "Client connections open.");
	fprintf(f, "sbx_connections %u\n", E.nconns);
	family(f, "sbx_sandboxes", "gauge", "Sandboxes sbxd lists, by state.");
	for (int s = BOX_CREATING; s <= BOX_EXITED; s++)
		fprintf(f, "sbx_sandboxes{state=\"%s\"} %u\n", box_state_name(s), states[s]);
	for (size_t k = 0; k < sizeof(families) / sizeof(families[0]); k++) {
		family(f, families[k].name, families[k].type, families[k].help);
		for (i = 0; i < nbox; i++)
			families[k].emit(f, labels[i], usage[i]);
	}
	family(f, "sbx_snapshot_bytes", "gauge",
	       "Size of each kept snapshot (billed as snapshot storage).");
	for (const struct snap *sn = D.snaps; sn; sn = sn->next)
		if (!sn->ephemeral && !sn->deleting)
			fprintf(f,
				"sbx_snapshot_bytes{snapshot=\"%s\",tenant=\"%s\"} %" PRIu64 "\n",
				sn->id, sn->tenant, sn->size_bytes);
	bill_metrics(f);
	for (i = 0; i < nbox; i++)
		json_decref(usage[i]);
	free(usage);
	free(labels);
	fclose(f);
	respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}
