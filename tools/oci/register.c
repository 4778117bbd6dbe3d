// SPDX-License-Identifier: MIT
/* A container and the node's sbxd. Each container has a record in sbxd's spool
 * (<run dir>/oci/<sandbox id>.json: what it is, and once deleted how it ended), written
 * before sbxd is told: sbxd reads the spool when it starts, so a container made or
 * deleted while it was down is registered, or closed, when it is back. Never fails a
 * container: sbxd being away is logged, not an error. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../host/sys/usage.h"
#include "../../sandbox/instance.h"
#include "../../sandbox/macro.h"
#include "../client.h"
#include "oci.h"

/* sbxd's socket: SBX_SOCKET, else its instance's default one. */
static const char *socket_path(void)
{
	static char buf[PATH_MAX];
	const char *s = getenv("SBX_SOCKET");

	if (s && s[0])
		return s;
	if (!instance_name()[0])
		return CLIENT_DEFAULT_SOCKET;
	snprintf(buf, sizeof(buf), "%s/sbxd.sock", instance_run_dir());
	return buf;
}

/* sbxd's spool: "oci" beside its socket, made (0700) if missing; sbxd reads it when it
 * starts. */
static const char *spool_dir(char buf[static PATH_MAX])
{
	const char *sock = socket_path(), *slash = strrchr(sock, '/');

	snprintf(buf, PATH_MAX, "%.*s/oci", slash ? (int)(slash - sock) : 1, slash ? sock : ".");
	return buf;
}

static int spool_path(const struct oci_state *s, char *buf, size_t size, bool make)
{
	char dir[PATH_MAX];

	spool_dir(dir);
	if (make && !getenv("SBX_SOCKET")) {
		int r = instance_run_dir_make();
		if (r < 0)
			return r;
	}
	if (make && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return snprintf(buf, size, "%s/%s.json", dir, s->sbx_id) < (int)size ? 0 : -ENAMETOOLONG;
}

/* The containerd namespace a container belongs to: the shim runs its runtime with
 * --root <state>/<namespace>. */
static const char *namespace_of_root(void)
{
	const char *slash = strrchr(G.root, '/');
	return slash && slash[1] ? slash + 1 : "";
}

static json_t *record(const struct oci_state *s, json_t *ended)
{
	json_t *v1 = json_array();
	for (int c = 0; c < _CG_V1_MAX; c++)
		json_array_append_new(v1, s->cg && s->cg->v1_path[c]
						  ? json_string(s->cg->v1_path[c])
						  : json_null());
	return json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:{s:s, s:s?, s:o}, s:O*, s:s, s:o, "
			 "s:o*}",
			 "id", s->sbx_id, "container_id", s->id, "bundle", s->bundle ?: "", "pid",
			 (int)s->pid, "start_time", (json_int_t)s->start_time, "created",
			 (json_int_t)s->created_ns, "cgroup", "mode",
			 s->cg ? cgroup_mode_name(s->cg->mode) : "", "v2",
			 s->cg ? s->cg->v2_path : NULL, "v1", v1, "annotations", s->annotations,
			 "namespace", namespace_of_root(), "limits", oci_limits_json(&s->limits),
			 "ended", ended);
}

static int spool_write(const struct oci_state *s, json_t *rec)
{
	char path[PATH_MAX];
	int r = spool_path(s, path, sizeof(path), true);
	_cleanup_free_ char *text = r == 0 && rec ? json_dumps(rec, JSON_COMPACT) : NULL;

	if (r == 0 && !text)
		r = -ENOMEM;
	if (r == 0)
		r = write_file_atomic(path, text, strlen(text));
	if (r < 0)
		oci_log("warning", "spool of %s: %s", s->id, strerror(-r));
	return r;
}

/* POSTs @rec to @target: 0 when sbxd took it. */
static int tell(const char *target, json_t *rec)
{
	struct client_resp resp = { 0 };
	_cleanup_free_ char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;

	if (!text)
		return -ENOMEM;
	int r = client_call(socket_path(), "POST", target, "application/json", text, strlen(text),
			    &resp, NULL, NULL);
	if (r == 0 && resp.status / 100 != 2) {
		oci_log("warning", "sbxd: %s: %d %s", target, resp.status,
			client_error_message(&resp));
		r = -EPROTO;
	}
	client_resp_clear(&resp);
	return r;
}

char *oci_sbxd_cgroup(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	size_t len;

	snprintf(path, sizeof(path), "%s/sbxd.cgroup", spool_dir(dir));
	char *text = read_text(path, 4095, &len);
	/* "N:controllers:/path" lines, nothing else. */
	for (size_t i = 0; text && i < len; i++)
		if ((unsigned char)text[i] < 0x20 && text[i] != '\n') {
			free(text);
			return NULL;
		}
	return text;
}

void oci_register(const struct oci_state *s)
{
	json_t *rec = record(s, NULL);

	if (!rec) {
		oci_log("warning", "register %s: out of memory", s->id);
		return;
	}
	(void)spool_write(s, rec);
	int r = tell("/v1/oci/containers", rec);
	json_decref(rec);
	if (r < 0) {
		if (r != -EPROTO)
			oci_log("warning", "sbxd away (%s): %s is registered when it is back",
				strerror(-r), s->id);
		return;
	}
}

void oci_unregister(const struct oci_state *s)
{
	char path[PATH_MAX], target[128];
	struct timespec now;
	uint64_t cpu = 0;

	/* How it ended, while its cgroups still say. */
	(void)usage_cpu_usec(s->cg, &cpu);
	clock_gettime(CLOCK_REALTIME, &now);
	json_t *ended =
		json_pack("{s:I, s:I}", "at", (json_int_t)now.tv_sec * 1000000000 + now.tv_nsec,
			  "cpu_usec", (json_int_t)cpu);
	json_t *rec = record(s, ended);
	if (!rec)
		return;
	snprintf(target, sizeof(target), "/v1/oci/containers/%s/end", s->sbx_id);
	int r = tell(target, rec);
	if (r == 0) {
		if (spool_path(s, path, sizeof(path), false) == 0)
			(void)unlink(path);
	} else {
		(void)spool_write(s, rec);
		if (r != -EPROTO)
			oci_log("warning", "sbxd away (%s): the end of %s is told when it is back",
				strerror(-r), s->id);
	}
	json_decref(rec);
}
