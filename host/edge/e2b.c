// SPDX-License-Identifier: MIT
/* The E2B-compatible surface (DESIGN.md 3.2), on the same listener as /v1: the control
 * plane (/sandboxes, /v2/sandboxes) and the data plane that E2B's in-sandbox daemon,
 * envd, serves (Connect RPC over HTTP/1.1 for process.Process and filesystem.Filesystem,
 * /files, /health), routed by the E2b-Sandbox-Id header. The domain does the work; this
 * file reads E2B's requests and renders the domain's answers in E2B's shapes through a
 * reply of its own (struct conn's, with other done/fail/stream functions). */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../../sandbox/macro.h"
#include "../../sandbox/text.h"
#include "connect.h"
#include "form.h"
#include "e2b.h"
#include "edge.h"
#include "../domain/images.h"
#include "../sys/b64.h"
#include "../sys/store.h"

/* What the SDK compares its features against (envd/versions.ts): everything up to
 * 0.6.4 is served (stdin closing, octet-stream and gzip uploads, file metadata, watch
 * entries; network mounts there are none of). */
#define ENVD_VERSION "0.6.4"
#define HOME "/root"
#define LABEL_TEMPLATE "sbx.e2b.template"
#define LABEL_ID "sbx.e2b.id" /* a resumed sandbox's E2B id */
#define LABEL_PREFIX "sbx."   /* labels of sbxd's own: not metadata */
#define KEEPALIVE_NS (30LL * 1000000000LL)
#define MAX_UPLOAD_FILES 256

enum e2b_mode {
	MODE_NONE,
	MODE_API,    /* control plane: JSON, errors {"code": N, "message"} */
	MODE_FILES,  /* envd's /files and /health: the same error shape */
	MODE_UNARY,  /* a unary Connect call */
	MODE_STREAM, /* a server-streaming Connect call */
};

/* What one request of this surface needs between its start and its answer. */
struct e2b_req {
	char box[16];
	char *path2; /* a move's destination */
	/* An upload: the files of its body, written one after the other. */
	struct upload {
		char *path;
		const char *data;
		size_t len;
	} * files;
	size_t nfiles, next;
	json_t *written;
	char *inflated; /* a gzip upload's body */
	char **meta;	/* its X-Metadata-KEY headers, "key=value" */
	/* A resume: the snapshot, the timeout asked. */
	char snap[16];
	json_int_t timeout_s;
	/* A stream: what a command said before it started (its failure). */
	char *early;
	size_t early_len;
	bool started;
};

static unsigned char secret[32];
static bool secret_ok;

/* ---- tokens ---- */

/* The key of the sandboxes' access tokens: 32 random bytes, made once in the state
 * directory, so that tokens stay valid across restarts of sbxd. */
int e2b_init(void)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/e2b.key", D.opt.state_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		ssize_t n = read(fd, secret, sizeof(secret));
		close(fd);
		if (n == (ssize_t)sizeof(secret)) {
			secret_ok = true;
			return 0;
		}
	}
	if (getrandom(secret, sizeof(secret), 0) != (ssize_t)sizeof(secret))
		return -errno;
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	bool ok = write(fd, secret, sizeof(secret)) == (ssize_t)sizeof(secret) && fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, path) < 0) {
		unlink(tmp);
		return -EIO;
	}
	secret_ok = true;
	return 0;
}

/* HMAC-SHA256 of "@what:@id" under the key, 32 hex digits. */
static void hmac_hex(const char *what, const char *id, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char msg[128];
	unsigned len = 0;
	int n = snprintf(msg, sizeof(msg), "%s:%s", what, id);
	HMAC(EVP_sha256(), secret, sizeof(secret), (const unsigned char *)msg,
	     (size_t)(n < (int)sizeof(msg) ? n : (int)sizeof(msg) - 1), md, &len);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A sandbox's access token (its data plane), of its E2B id: only the tenant that made
 * it (or resumed it under that id: labels "sbx." are sbxd's own) is ever given it. */
static void box_token(const char *id, char out[33])
{
	hmac_hex("envd", id, out);
}

/* Its traffic token (its published ports, when not public): another, so that handing
 * out port access hands out nothing more. */
static void traffic_token(const char *id, char out[33])
{
	hmac_hex("traffic", id, out);
}

static bool token_is(const char *have, const char want[33])
{
	return have && strlen(have) == 32 && !CRYPTO_memcmp(have, want, 32);
}

/* ---- rendering ---- */

static struct conn *conn_of(struct reply *r)
{
	return (struct conn *)((char *)r - offsetof(struct conn, reply));
}

static struct e2b_req *state(struct conn *c)
{
	return c->e2b_state;
}

/* An error of the control plane or /files: {"code": status, "message"}. What the request
 * was charged (an inflated upload's body) goes back with it. */
static void rest_error(struct conn *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void rest_error(struct conn *c, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	text_sanitize(msg);
	respond_json(c, status, json_pack("{s:i,s:s}", "code", status, "message", msg));
	conn_charged_settle(c);
}

static void stream_send(struct conn *c, uint8_t flags, json_t *j)
{
	size_t n;
	char *env = connect_envelope(flags, j, &n);
	json_decref(j);
	if (env)
		chunk_send(c, env, n);
	free(env);
	c->e2b_beat = mono_ns();
}

static void stream_head(struct conn *c)
{
	if (c->e2b_open)
		return;
	c->e2b_open = true;
	c->e2b_beat = mono_ns();
	respond_chunked_head(c, 200, "application/connect+json");
}

/* The stream's end: {} or its error; the response ends. */
static void stream_end(struct conn *c, const char *code, const char *msg)
{
	if (c->e2b_ended)
		return;
	stream_head(c);
	c->e2b_ended = true;
	json_t *j = code ? json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg)
			 : json_object();
	if (!j) /* a message that is not UTF-8: the code alone */
		j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", code);
	stream_send(c, CONNECT_END_STREAM, j);
	chunk_end(c);
}

static void unary_error(struct conn *c, int err, const char *msg)
{
	int status;
	const char *code = connect_code(err, &status);
	respond_json(c, status, json_pack("{s:s,s:s}", "code", code, "message", msg));
}

/* -errno @err with @msg, in the request's shape. */
static void fail_as(struct conn *c, int err, const char *msg)
{
	int status;
	const char *code;

	switch (c->e2b) {
	case MODE_STREAM:
		code = connect_code(err, &status);
		stream_end(c, code, msg);
		break;
	case MODE_UNARY:
		unary_error(c, err, msg);
		break;
	default:
		status = http_status_of(err, &code);
		rest_error(c, status, "%s", msg);
	}
}

static void e2b_done(struct reply *r, enum reply_kind kind, json_t *body)
{
	struct conn *c = conn_of(r);
	if (c->closing) {
		json_decref(body);
		return;
	}
	void (*render)(struct conn *, json_t *) = c->e2b_done;
	if (render)
		render(c, body);
	else
		respond_json(c, kind == REPLY_CREATED ? 201 : 200, body);
	conn_charged_settle(c);
}

static void e2b_fail(struct reply *r, int err, const char *msg)
{
	struct conn *c = conn_of(r);
	if (!c->closing)
		fail_as(c, err, msg);
	conn_charged_settle(c);
}

static void e2b_open(struct reply *r, enum reply_stream kind, uint64_t len)
{
	struct conn *c = conn_of(r);
	if (c->e2b == MODE_STREAM)
		stream_head(c);
	else
		conn_reply_ops.open(r, kind, len);
}

static void e2b_write(struct reply *r, const void *data, size_t len)
{
	struct conn *c = conn_of(r);
	if (c->e2b != MODE_STREAM)
		conn_reply_ops.write(r, data, len);
}

static json_t *entry_info(json_t *e);

/* A watch's entry: what stat() says of @path (the sandbox's; owners as numbers but its
 * root). NULL when @path is not UTF-8. */
static json_t *stat_entry(const char *path, const struct stat *st)
{
	char uid[16], gid[16];
	snprintf(uid, sizeof(uid), "%u", (unsigned)st->st_uid);
	snprintf(gid, sizeof(gid), "%u", (unsigned)st->st_gid);
	/* As the file helper would say it, then as any entry is said */
	json_t *e = json_pack(
		"{s:s,s:s,s:i,s:I,s:I,s:s,s:s}", "path", path, "kind",
		S_ISREG(st->st_mode)   ? "file"
		: S_ISDIR(st->st_mode) ? "dir"
		: S_ISLNK(st->st_mode) ? "symlink"
				       : "other",
		"mode", (int)(st->st_mode & 07777), "size", (json_int_t)st->st_size, "mtime_ns",
		(json_int_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec, "owner",
		st->st_uid ? uid : "root", "group", st->st_gid ? gid : "root");
	json_t *j = e ? entry_info(e) : NULL;
	json_decref(e);
	return j;
}

/* A command's event, as envd's ProcessEvent. A command that never started (sbx-init
 * could not execute it) ends the stream with why, as envd does. */
static void e2b_event(struct reply *r, const struct reply_ev *ev)
{
	struct conn *c = conn_of(r);
	struct e2b_req *q = state(c);
	char *b64;
	json_t *j;

	if (c->closing || c->e2b_ended)
		return;
	switch (ev->type) {
	case REV_WATCHING:
		stream_head(c);
		stream_send(c, 0, json_pack("{s:{}}", "start"));
		return;
	case REV_FS: {
		static const char *const types[] = { [FSEV_CREATE] = "EVENT_TYPE_CREATE",
						     [FSEV_WRITE] = "EVENT_TYPE_WRITE",
						     [FSEV_REMOVE] = "EVENT_TYPE_REMOVE",
						     [FSEV_RENAME] = "EVENT_TYPE_RENAME",
						     [FSEV_CHMOD] = "EVENT_TYPE_CHMOD" };
		j = json_pack("{s:{s:s%,s:s}}", "filesystem", "name", ev->data, ev->len, "type",
			      types[ev->code]);
		if (j && ev->st)
			json_object_set_new(json_object_get(j, "filesystem"), "entry",
					    stat_entry(ev->path, ev->st));
		if (j) /* names that are not UTF-8 are not said */
			stream_send(c, 0, j);
		return;
	}
	case REV_START:
		q->started = true;
		stream_head(c);
		stream_send(c, 0, json_pack("{s:{s:{s:i}}}", "event", "start", "pid", ev->pid));
		return;
	case REV_STDOUT:
	case REV_STDERR:
		if (!q->started) {
			/* sbx-init's word on a command that did not start */
			char *p = realloc(q->early, q->early_len + ev->len + 1);
			if (p && q->early_len + ev->len < 4096) {
				memcpy(p + q->early_len, ev->data, ev->len);
				q->early_len += ev->len;
				p[q->early_len] = '\0';
			}
			if (p)
				q->early = p;
			return;
		}
		b64 = b64_encode(ev->data, ev->len);
		j = json_pack("{s:{s:{s:s}}}", "event", "data",
			      ev->tty		       ? "pty"
			      : ev->type == REV_STDOUT ? "stdout"
						       : "stderr",
			      b64 ? b64 : "");
		free(b64);
		stream_send(c, 0, j);
		return;
	case REV_EXIT:
		break;
	}
	if (!q->started) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", q->early ? q->early : "the command did not start");
		for (size_t n = strlen(msg); n && isspace((unsigned char)msg[n - 1]); n--)
			msg[n - 1] = '\0';
		text_sanitize(msg);
		stream_end(c, "invalid_argument", msg);
		return;
	}
	if (ev->timed_out) {
		stream_end(c, "deadline_exceeded",
			   "the command ran past its timeout and was killed");
		return;
	}
	char status[64];
	json_t *end;
	if (ev->signal) {
		snprintf(status, sizeof(status), "signal: %s",
			 ev->signal == 9 ? "killed" : strsignal(ev->signal));
		end = json_pack("{s:i,s:b,s:s,s:s}", "exitCode", -1, "exited", 0, "status", status,
				"error", status);
	} else {
		snprintf(status, sizeof(status), "exit status %d", ev->code);
		end = json_pack("{s:i,s:b,s:s}", "exitCode", ev->code, "exited", 1, "status",
				status);
		if (ev->code)
			json_object_set_new(end, "error", json_string(status));
	}
	stream_send(c, 0, json_pack("{s:{s:o}}", "event", "end", end));
}

static void e2b_close(struct reply *r, bool whole)
{
	struct conn *c = conn_of(r);
	if (c->e2b != MODE_STREAM) {
		conn_reply_ops.close(r, whole);
		return;
	}
	if (whole)
		stream_end(c, NULL, NULL);
	else
		stream_end(c, "unavailable", "the stream was cut short");
}

static struct reply_ops e2b_ops;

static void e2b_reply_set(struct conn *c, enum e2b_mode mode)
{
	if (!e2b_ops.done) {
		e2b_ops = conn_reply_ops;
		e2b_ops.done = e2b_done;
		e2b_ops.fail = e2b_fail;
		e2b_ops.open = e2b_open;
		e2b_ops.write = e2b_write;
		e2b_ops.event = e2b_event;
		e2b_ops.close = e2b_close;
	}
	c->reply.ops = &e2b_ops;
	c->e2b = (uint8_t)mode;
	c->e2b_open = c->e2b_ended = false;
	c->e2b_done = NULL;
}

void e2b_request_end(struct conn *c)
{
	struct e2b_req *q = c->e2b_state;
	if (q) {
		free(q->path2);
		for (size_t i = 0; i < q->nfiles; i++)
			free(q->files[i].path);
		free(q->files);
		json_decref(q->written);
		free(q->inflated);
		strv_free(q->meta);
		free(q->early);
		free(q);
	}
	/* The mode stays until the next request: a stream's reply may still be closed. */
	c->e2b_state = NULL;
	c->e2b_done = NULL;
}

void e2b_tick(struct conn *c, int64_t now)
{
	if (c->e2b == MODE_STREAM && c->e2b_open && !c->e2b_ended && !c->closing &&
	    now - c->e2b_beat > KEEPALIVE_NS && out_pending(c) < REPLY_HIGH)
		stream_send(c, 0,
			    c->e2b_keepalive_event ? json_pack("{s:{s:{}}}", "event", "keepalive")
						   : json_pack("{s:{}}", "keepalive"));
}

/* ---- shapes ---- */

static json_t *time_rfc3339(int64_t ns)
{
	char buf[64];
	struct tm tm;
	time_t t = (time_t)(ns / 1000000000LL);
	if (ns <= 0)
		return json_null();
	gmtime_r(&t, &tm);
	size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%09lldZ", (long long)(ns % 1000000000LL));
	return json_string(buf);
}

static const char *box_label(const struct box *b, const char *key)
{
	for (char **l = b->req.labels; l && l[0]; l += 2)
		if (!strcmp(l[0], key))
			return l[1];
	return NULL;
}

static const char *box_template(const struct box *b)
{
	const char *t = box_label(b, LABEL_TEMPLATE);
	return t ? t : b->req.image ? b->req.image : "base";
}

static const char *e2b_id(const struct box *b);

/* A sandbox as E2B's ListedSandbox / SandboxDetail. */
static json_t *sandbox_json(const struct box *b)
{
	json_t *meta = json_object();
	for (char **l = b->req.labels; l && l[0]; l += 2)
		if (strncmp(l[0], LABEL_PREFIX, strlen(LABEL_PREFIX)))
			json_object_set_new(meta, l[0], json_string(l[1]));
	const struct sandbox_limits *lim = &b->req.limits;
	long cpus = lim->cpu_milli ? (long)((lim->cpu_milli + 999) / 1000)
				   : sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t mem = lim->memory_bytes ? lim->memory_bytes
					 : (uint64_t)sysconf(_SC_PHYS_PAGES) *
						   (uint64_t)sysconf(_SC_PAGESIZE);
	const char *tpl = box_template(b);
	uint64_t disk = b->req.writable_bytes ? b->req.writable_bytes : D.opt.writable_default;
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:s,s:I,s:I,s:I,s:s,s:[],s:s}",
			      "sandboxID", e2b_id(b), "templateID", tpl, "alias", tpl, "clientID",
			      "sbx", "metadata", meta, "startedAt", time_rfc3339(b->started_ns),
			      "endAt", time_rfc3339(b->deadline_ns), "state", "running", "cpuCount",
			      (json_int_t)cpus, "memoryMB", (json_int_t)(mem >> 20), "diskSizeMB",
			      (json_int_t)(disk >> 20), "envdVersion", ENVD_VERSION, "volumeMounts",
			      "domain", D.opt.domain);
	json_object_set_new(j, "allowInternetAccess", json_boolean(b->req.net == NET_INTERNET));
	json_object_set_new(j, "lifecycle",
			    json_pack("{s:s,s:b}", "onTimeout",
				      b->req.timeout_checkpoint ? "pause" : "kill", "autoResume",
				      0));
	return j;
}

/* A sandbox as create and connect answer it: with its access token. */
static json_t *sandbox_created_json(const struct box *b)
{
	char tok[33], traffic[33];
	box_token(e2b_id(b), tok);
	traffic_token(e2b_id(b), traffic);
	const char *tpl = box_template(b);
	bool private = b->req.net == NET_INTERNET && !b->req.netp.public_ports;
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s?,s:s}", "sandboxID", e2b_id(b), "templateID",
			 tpl, "alias", tpl, "clientID", "sbx", "envdVersion", ENVD_VERSION,
			 "envdAccessToken", tok, "trafficAccessToken", private ? traffic : NULL,
			 "domain", D.opt.domain);
}

/* The running sandbox @id of @tenant (NULL: any), by sbx's id. */
static struct box *box_live(const char *id, const char *tenant)
{
	struct box *b = box_find(id, tenant);
	/* containerd's containers are not E2B sandboxes. */
	return b && b->state == BOX_RUNNING && !b->killing && !box_oci_container(b) ? b : NULL;
}

/* A sandbox's E2B id: its first id, which a resumed one keeps (LABEL_ID). */
static const char *e2b_id(const struct box *b)
{
	const char *id = box_label(b, LABEL_ID);
	return id ? id : b->id;
}

/* The running sandbox of E2B id @id (a resumed one runs under an id of its own). */
static struct box *e2b_box(const char *id, const char *tenant)
{
	struct box *b = box_live(id, tenant);
	if (b && !box_label(b, LABEL_ID))
		return b;
	for (b = D.boxes; b; b = b->next) {
		const char *l = box_label(b, LABEL_ID);
		if (l && !strcmp(l, id) && b->state == BOX_RUNNING && !b->killing &&
		    (!tenant || !strcmp(tenant, b->tenant)))
			return b;
	}
	return NULL;
}

static json_t *snap_labels(const struct snap *s)
{
	return json_object_get(json_object_get(s->meta, "spec"), "labels");
}

/* The E2B id a snapshot was taken of. */
static const char *snap_e2b_id(const struct snap *s)
{
	const char *id = json_string_value(json_object_get(snap_labels(s), LABEL_ID));
	return id ? id : s->parent;
}

/* A paused sandbox: the newest snapshot of an E2B sandbox that does not run now. */
static bool snap_is_pause(const struct snap *s, const char *tenant)
{
	return !s->ephemeral && !s->deleting && (!tenant || !strcmp(tenant, s->tenant)) &&
	       json_object_get(snap_labels(s), LABEL_TEMPLATE) && !e2b_box(snap_e2b_id(s), NULL);
}

static struct snap *e2b_paused(const char *id, const char *tenant)
{
	struct snap *best = NULL;
	for (struct snap *s = D.snaps; s; s = s->next)
		if (snap_is_pause(s, tenant) && !strcmp(snap_e2b_id(s), id) &&
		    (!best || s->created_ns > best->created_ns))
			best = s;
	return best;
}

/* A paused sandbox as ListedSandbox. */
static json_t *paused_json(const struct snap *s)
{
	json_t *meta = json_object(), *v;
	const char *k, *tpl = json_string_value(json_object_get(snap_labels(s), LABEL_TEMPLATE));
	json_object_foreach (snap_labels(s), k, v)
		if (strncmp(k, LABEL_PREFIX, strlen(LABEL_PREFIX)) && json_is_string(v))
			json_object_set(meta, k, v);
	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:n,s:s,s:i,s:i,s:i,s:s,s:[],s:s}", "sandboxID",
			 snap_e2b_id(s), "templateID", tpl ? tpl : "base", "alias",
			 tpl ? tpl : "base", "clientID", "sbx", "metadata", meta, "startedAt",
			 time_rfc3339(s->created_ns), "endAt", "state", "paused", "cpuCount", 0,
			 "memoryMB", 0, "diskSizeMB", 0, "envdVersion", ENVD_VERSION,
			 "volumeMounts", "domain", D.opt.domain);
}

/* ---- the control plane ---- */

static void render_created(struct conn *c, json_t *body)
{
	const char *id = json_string_value(json_object_get(body, "id"));
	struct box *b = id ? box_find(id, NULL) : NULL;
	json_decref(body);
	if (!b) {
		rest_error(c, 500, "the new sandbox is gone");
		return;
	}
	respond_json(c, 201, sandbox_created_json(b));
}

static void render_no_content(struct conn *c, json_t *body)
{
	json_decref(body);
	respond_empty(c, 204);
}

/* A sandbox of a template: its timeout is the one asked (from now). */
static void render_from_template(struct conn *c, json_t *body)
{
	const char *id = json_string_value(json_object_get(body, "id"));
	struct box *b = id ? box_find(id, NULL) : NULL;
	if (b)
		(void)box_set_timeout(b, (uint64_t)state(c)->timeout_s * 1000000000ULL);
	render_created(c, body);
}

/* A string array of E2B's network object into /v1's, or -EINVAL. */
static int net_list(json_t *net, const char *from, json_t *to, const char *key)
{
	json_t *v = json_object_get(net, from), *x;
	size_t i;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return -EINVAL;
	json_t *arr = json_array();
	json_array_foreach (v, i, x) {
		if (!json_is_string(x)) {
			json_decref(arr);
			return -EINVAL;
		}
		if (strcmp(json_string_value(x), "0.0.0.0/0"))
			json_array_append(arr, x);
	}
	json_object_set_new(to, key, arr);
	return 0;
}

/* true when @list holds "0.0.0.0/0" (E2B's allTraffic). */
static bool net_all(json_t *list)
{
	size_t i;
	json_t *x;
	json_array_foreach (list, i, x)
		if (json_is_string(x) && !strcmp(json_string_value(x), "0.0.0.0/0"))
			return true;
	return false;
}

/* POST /sandboxes, /v2/sandboxes: E2B's NewSandbox into /v1's create. */
static void api_create(struct conn *c, struct http_request *req)
{
	json_error_t jerr;
	json_t *in = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr), *v;
	struct why why;
	const char *k;

	if (!json_is_object(in)) {
		rest_error(c, 400, "body: %s", in ? "not a JSON object" : jerr.text);
		json_decref(in);
		return;
	}
	json_object_foreach (in, k, v) {
		static const char *const known[] = {
			"templateID",
			"metadata",
			"envVars",
			"timeout",
			"allow_internet_access",
			"network",
			"autoPause",
			"secure",
			"autoPauseMemory",
			"autoResume",
			"mcp",
			"alias",
		};
		bool ok = false;
		for (size_t i = 0; i < ARRAY_SIZE(known); i++)
			ok |= !strcmp(k, known[i]);
		if (!ok) {
			char name[64];
			rest_error(c, 400, "%s: not a field of a new sandbox",
				   text_printable(k, name, sizeof(name)));
			json_decref(in);
			return;
		}
	}
	json_t *tv = json_object_get(in, "templateID"), *to = json_object_get(in, "timeout");
	json_t *meta = json_object_get(in, "metadata"), *envs = json_object_get(in, "envVars");
	json_t *inet = json_object_get(in, "allow_internet_access");
	json_t *net = json_object_get(in, "network");
	const char *tpl = tv ? json_string_value(tv) : "base";
	if (!tpl || !*tpl || strlen(tpl) > 128 ||
	    (to && !json_is_null(to) && (!json_is_integer(to) || json_integer_value(to) < 0)) ||
	    (meta && !json_is_null(meta) && !json_is_object(meta)) ||
	    (envs && !json_is_null(envs) && !json_is_object(envs)) ||
	    (inet && !json_is_null(inet) && !json_is_boolean(inet)) ||
	    (net && !json_is_null(net) && !json_is_object(net)) || json_object_get(in, "mcp")) {
		rest_error(c, 400,
			   json_object_get(in, "mcp")
				   ? "mcp: MCP gateways are not served by this host"
				   : "templateID must be a name; timeout a number of seconds; "
				     "metadata and envVars objects of strings; "
				     "allow_internet_access a boolean; network an object");
		json_decref(in);
		return;
	}
	json_t *ap = json_object_get(in, "autoPause"), *ar = json_object_get(in, "autoResume");
	if ((ap && !json_is_boolean(ap)) || json_is_true(json_object_get(ar, "enabled")) ||
	    (ar && !json_is_object(ar))) {
		rest_error(c, 400,
			   "autoPause: a boolean; autoResume: not served by this host "
			   "(resume with connect)");
		json_decref(in);
		return;
	}
	/* Metadata keys of sbx's own are not the caller's to set. */
	json_object_foreach (meta, k, v)
		if (!strncmp(k, LABEL_PREFIX, strlen(LABEL_PREFIX))) {
			rest_error(c, 400, "metadata: keys starting \"sbx.\" are sbx's own");
			json_decref(in);
			return;
		}

	/* A warm template (images issue): its sandbox is the template's (its env, its
	 * labels), with the timeout asked; what it cannot take is refused, not dropped. */
	json_t *t = NULL;
	if (templates_get(c->tenant, tpl, &t, &why) == 0) {
		json_decref(t);
		if (json_object_size(meta) || json_object_size(envs) || json_is_true(ap) || net ||
		    inet) {
			rest_error(
				c, 400,
				"template %s: its sandboxes are restored as it was made; metadata, "
				"envVars, autoPause and network options are not taken",
				tpl);
			json_decref(in);
			return;
		}
		state(c)->timeout_s = to && json_is_integer(to) ? json_integer_value(to) : 300;
		c->e2b_done = render_from_template;
		int r = templates_launch(&c->reply, c->tenant, tpl, &why);
		if (r < 0)
			fail_as(c, r, why.msg);
		json_decref(in);
		return;
	}

	json_t *spec = json_object();
	json_object_set_new(spec, "image",
			    json_string(!strcmp(tpl, "base") ? D.opt.e2b_base : tpl));
	json_t *labels = meta && json_is_object(meta) ? json_deep_copy(meta) : json_object();
	json_object_set_new(labels, LABEL_TEMPLATE, json_string(tpl));
	json_object_set_new(spec, "labels", labels);
	/* The user's HOME and USER, as a login would set them, unless envVars say otherwise. */
	json_t *env = json_pack("{s:s,s:s}", "HOME", HOME, "USER", "root");
	if (envs && json_is_object(envs))
		json_object_update(env, envs);
	json_object_set_new(spec, "env", env);
	json_object_set_new(spec, "workdir", json_string(HOME));
	/* autoPause: a checkpoint at the timeout, paused as betaPause leaves it */
	if (json_is_true(ap))
		json_object_set_new(spec, "on_timeout", json_string("checkpoint"));
	json_object_set_new(
		spec, "limits",
		json_pack("{s:I}", "timeout",
			  (json_int_t)(to && json_is_integer(to) ? json_integer_value(to) : 300)));
	/* Internet on by default, as E2B has it, where this host serves it; every port
	 * reachable as PORT-ID.DOMAIN (getHost), publicly unless allowPublicTraffic is
	 * false (then with the sandbox's traffic token, or its tenant's). */
	bool want = inet ? json_is_true(inet) : D.net_on;
	json_t *netv = json_string("none");
	if (want) {
		json_t *deny = json_object_get(net, "denyOut");
		json_t *pub = json_object_get(net, "allowPublicTraffic");
		json_t *pol = json_pack("{s:s,s:s,s:b}", "mode", "internet", "ports", "all",
					"public", !json_is_false(pub));
		int r = 0;
		if (pub && !json_is_boolean(pub))
			r = -EINVAL;
		else if (deny && json_is_array(deny) && net_all(deny))
			/* everything denied but what allowOut names: an allow list */
			r = net_list(net, "allowOut", pol, "allow_out");
		else
			r = net_list(net, "denyOut", pol, "deny_out");
		if (r < 0) {
			json_decref(pol);
			json_decref(netv);
			json_decref(spec);
			json_decref(in);
			rest_error(c, 400,
				   "network: allowOut and denyOut must be arrays of strings, "
				   "allowPublicTraffic a boolean");
			return;
		}
		json_decref(netv);
		netv = pol;
	}
	json_object_set_new(spec, "net", netv);
	json_decref(in);

	char *body = json_dumps(spec, JSON_COMPACT);
	json_decref(spec);
	if (!body) {
		rest_error(c, 500, "out of memory");
		return;
	}
	c->e2b_done = render_created;
	int r = box_create_as(&c->reply, c->tenant, body, strlen(body), true, &why);
	free(body);
	if (r < 0)
		fail_as(c, r, why.msg);
}

/* application/x-www-form-urlencoded: '+' is a space, then percent-decoding. NULL on a
 * bad escape. */
static char *form_decode(const char *in)
{
	_cleanup_free_ char *plus = strdup(in);
	char *out = NULL;
	if (!plus)
		return NULL;
	for (char *p = plus; *p; p++)
		if (*p == '+')
			*p = ' ';
	return http_percent_decode(plus, strlen(plus), &out) < 0 ? NULL : out;
}

/* Metadata filter of a listing: "k=v&k2=v2", form-encoded, each part encoded once more
 * by the SDK. */
static bool meta_match(json_t *have_meta, const char *filter)
{
	_cleanup_free_ char *dup = strdup(filter);
	char *save = NULL;
	if (!dup)
		return false;
	for (char *kv = strtok_r(dup, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		_cleanup_free_ char *k = NULL, *v = NULL;
		if (eq)
			*eq = '\0';
		/* two decodings: the form's, then the SDK's own */
		_cleanup_free_ char *k1 = form_decode(kv), *v1 = form_decode(eq ? eq + 1 : "");
		if (!k1 || !v1 || http_percent_decode(k1, strlen(k1), &k) < 0 ||
		    http_percent_decode(v1, strlen(v1), &v) < 0)
			return false;
		const char *have = json_string_value(json_object_get(have_meta, k));
		if (!have || strcmp(have, v))
			return false;
	}
	return true;
}

/* RFC 3339 (UTC "Z" or an offset, any fraction) in ns since the epoch; -1 if not. */
static int64_t rfc3339_ns(const char *s)
{
	struct tm tm = { 0 };
	const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	int64_t frac = 0, scale = 1000000000;
	if (!p)
		return -1;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
	int64_t off = 0;
	if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1])) {
		int hh, mm;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return -1;
		off = (*p == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
		p += 6;
	} else if (*p == 'Z') {
		p++;
	}
	if (*p)
		return -1;
	return ((int64_t)timegm(&tm) - off) * 1000000000LL + frac;
}

static int by_start_asc(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int64_t tx = rfc3339_ns(json_string_value(json_object_get(x, "startedAt")));
	int64_t ty = rfc3339_ns(json_string_value(json_object_get(y, "startedAt")));
	if (tx != ty)
		return tx < ty ? -1 : 1;
	return strcmp(json_string_value(json_object_get(x, "sandboxID")),
		      json_string_value(json_object_get(y, "sandboxID")));
}

static int by_start_desc(const void *a, const void *b)
{
	return by_start_asc(b, a);
}

static void api_list(struct conn *c, struct http_request *req)
{
	_cleanup_free_ char *meta = NULL, *st = NULL, *limit_s = NULL, *next = NULL;
	_cleanup_free_ char *tpl = NULL, *after = NULL, *order = NULL;
	if (req->query && (http_query_get(req->query, "metadata", &meta) == -EINVAL ||
			   http_query_get(req->query, "state", &st) == -EINVAL ||
			   http_query_get(req->query, "limit", &limit_s) == -EINVAL ||
			   http_query_get(req->query, "nextToken", &next) == -EINVAL ||
			   http_query_get(req->query, "template", &tpl) == -EINVAL ||
			   http_query_get(req->query, "startedAfter", &after) == -EINVAL ||
			   http_query_get(req->query, "order", &order) == -EINVAL)) {
		rest_error(c, 400, "query: bad percent-encoding");
		return;
	}
	int64_t after_ns = after ? rfc3339_ns(after) : 0;
	if (after_ns < 0 || (order && strcmp(order, "asc") && strcmp(order, "desc"))) {
		rest_error(c, 400, "startedAfter: an RFC 3339 time; order: asc or desc");
		return;
	}
	unsigned long limit = 100;
	if (limit_s) {
		char *end;
		limit = strtoul(limit_s, &end, 10);
		if (*end || !*limit_s || limit < 1 || limit > 100) {
			rest_error(c, 400, "limit: a number from 1 to 100");
			return;
		}
	}
	bool running = true, paused = true;
	if (st) {
		running = paused = false;
		_cleanup_free_ char *dup = strdup(st);
		char *save = NULL;
		for (char *s = dup ? strtok_r(dup, ",", &save) : NULL; s;
		     s = strtok_r(NULL, ",", &save)) {
			if (!strcmp(s, "running"))
				running = true;
			else if (!strcmp(s, "paused"))
				paused = true;
			else {
				rest_error(c, 400, "state: running or paused, comma-separated");
				return;
			}
		}
	}
	/* Running ones newest first, then paused ones; the token is the E2B id of the last
	 * one of the page before. */
	json_t *all = json_array(), *arr = json_array(), *it;
	size_t i;
	for (struct box *b = D.boxes_tail; b && running; b = b->prev)
		if ((!c->tenant || !strcmp(c->tenant, b->tenant)) && b->state == BOX_RUNNING &&
		    !b->killing && !b->pooled && !box_oci_container(b))
			json_array_append_new(all, sandbox_json(b));
	for (struct snap *sp = D.snaps; sp && paused; sp = sp->next)
		if (snap_is_pause(sp, c->tenant) && e2b_paused(snap_e2b_id(sp), c->tenant) == sp)
			json_array_append_new(all, paused_json(sp));
	bool skipping = next != NULL, more = false;
	const char *last = NULL;
	/* By start, newest first unless asked otherwise; the id breaks ties. */
	size_t n = json_array_size(all);
	json_t **v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		json_decref(all);
		json_decref(arr);
		rest_error(c, 500, "out of memory");
		return;
	}
	for (size_t k = 0; k < n; k++)
		v[k] = json_array_get(all, k);
	qsort(v, n, sizeof(*v), order && !strcmp(order, "asc") ? by_start_asc : by_start_desc);
	json_t *sorted = json_array();
	for (size_t k = 0; k < n; k++)
		json_array_append(sorted, v[k]);
	free(v);
	json_decref(all);
	all = sorted;
	json_array_foreach (all, i, it) {
		const char *id = json_string_value(json_object_get(it, "sandboxID"));
		if (meta && *meta && !meta_match(json_object_get(it, "metadata"), meta))
			continue;
		if (tpl && *tpl &&
		    strcmp(tpl, json_string_value(json_object_get(it, "templateID"))))
			continue;
		if (after_ns &&
		    rfc3339_ns(json_string_value(json_object_get(it, "startedAt"))) < after_ns)
			continue;
		if (skipping) {
			skipping = strcmp(id, next) != 0;
			continue;
		}
		if (json_array_size(arr) == limit) {
			more = true;
			break;
		}
		json_array_append(arr, it);
		last = id;
	}
	char lastbuf[64] = "";
	/* An id goes into a header: hex only (the ids of sandboxes are). */
	if (last && strlen(last) < sizeof(lastbuf) &&
	    strspn(last, "0123456789abcdef") == strlen(last))
		snprintf(lastbuf, sizeof(lastbuf), "%s", last);
	else
		more = false;
	json_decref(all);
	if (skipping) {
		json_decref(arr);
		rest_error(c, 400, "nextToken: no such page (its sandbox is gone; list again)");
		return;
	}
	char *s = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (!s) {
		rest_error(c, 500, "out of memory");
		return;
	}
	if (more) {
		char hdr[64];
		snprintf(hdr, sizeof(hdr), "x-next-token: %s", lastbuf);
		respond_with_header(c, 200, "application/json", hdr, s, strlen(s));
	} else {
		respond(c, 200, "application/json", s, strlen(s));
	}
	free(s);
}

/* The body's "timeout" in seconds; -1 when absent; -2 when bad. */
static json_int_t body_timeout(struct http_request *req)
{
	json_t *j = json_loadb(req->body, req->body_len, 0, NULL);
	json_t *t = json_object_get(j, "timeout");
	json_int_t r = !j || (req->body_len && !json_is_object(j)) ? -2
		       : !t || json_is_null(t)			   ? -1
		       : json_is_integer(t) && json_integer_value(t) >= 0 &&
				       json_integer_value(t) <= 30LL * 86400
			       ? json_integer_value(t)
			       : -2;
	if (!req->body_len)
		r = -1;
	json_decref(j);
	return r;
}

/* One sample of SandboxMetric: CPU as the average since its start, memory now, the
 * writable layer's use (statfs of its root: the upper file system). */
static json_t *metrics_json(struct box *b)
{
	json_t *u = box_usage_json(b), *sj = sandbox_json(b);
	int64_t now = real_ns();
	double up = (double)(now - b->started_ns);
	json_int_t ncpu = json_integer_value(json_object_get(sj, "cpuCount"));
	double cpu = (double)json_integer_value(json_object_get(u, "cpu_ns"));
	uint64_t used = 0, total = 0;
	char root[64];
	struct statfs sfs;
	snprintf(root, sizeof(root), "/proc/%d/root/", (int)b->pid);
	if (b->pid > 0 && statfs(root, &sfs) == 0) {
		total = (uint64_t)sfs.f_blocks * (uint64_t)sfs.f_bsize;
		used = total - (uint64_t)sfs.f_bfree * (uint64_t)sfs.f_bsize;
	}
	json_t *m = json_pack(
		"{s:o,s:I,s:f,s:I,s:I,s:I,s:I,s:I,s:I}", "timestamp", time_rfc3339(now),
		"timestampUnix", (json_int_t)(now / 1000000000LL), "cpuUsedPct",
		up > 0 && ncpu > 0 ? 100.0 * cpu / up / (double)ncpu : 0.0, "cpuCount", ncpu,
		"memUsed", json_integer_value(json_object_get(u, "memory_bytes")), "memTotal",
		json_integer_value(json_object_get(sj, "memoryMB")) << 20, "memCache",
		(json_int_t)0, "diskUsed", (json_int_t)used, "diskTotal", (json_int_t)total);
	json_decref(u);
	json_decref(sj);
	return m;
}

/* A resume done: the snapshot it came from goes (E2B keeps no copy of a resumed
 * sandbox), its timeout is the one asked, and the caller has it under its E2B id. */
static void render_resumed(struct conn *c, json_t *body)
{
	struct e2b_req *q = state(c);
	struct why why;
	const char *id = json_string_value(json_object_get(body, "id"));
	struct box *b = id ? box_live(id, NULL) : NULL;
	struct snap *s = snap_find(q->snap, NULL);
	json_decref(body);
	if (s && snap_delete(NULL, s, &why) < 0)
		logmsg(1, "e2b: snapshot %s of a resumed sandbox stays: %s", q->snap, why.msg);
	if (!b) {
		rest_error(c, 500, "the resumed sandbox is gone");
		return;
	}
	(void)box_set_timeout(b, (uint64_t)q->timeout_s * 1000000000ULL);
	respond_json(c, 201, sandbox_created_json(b));
}

/* A paused sandbox: resumed by a connect, forgotten by a kill, itself otherwise. */
static void api_paused(struct conn *c, struct http_request *req, struct snap *s, const char *sub)
{
	struct why why;
	int r;

	if (!sub && req->method == HTTP_GET) {
		respond_json(c, 200, paused_json(s));
	} else if (!sub && req->method == HTTP_DELETE) {
		if ((r = snap_delete(NULL, s, &why)) < 0)
			fail_as(c, r, why.msg);
		else
			respond_empty(c, 204);
	} else if (sub && !strcmp(sub, "pause") && req->method == HTTP_POST) {
		rest_error(c, 409, "sandbox %s is paused already", snap_e2b_id(s));
	} else if (sub && !strcmp(sub, "metrics") && req->method == HTTP_GET) {
		respond_json(c, 200, json_array());
	} else if (sub && (!strcmp(sub, "connect") || !strcmp(sub, "resume")) &&
		   req->method == HTTP_POST) {
		json_int_t t = body_timeout(req);
		if (t == -2) {
			rest_error(c, 400, "timeout: a number of seconds (at most 30 days)");
			return;
		}
		if (s->users) {
			rest_error(c, 409, "sandbox %s is being resumed", snap_e2b_id(s));
			return;
		}
		struct e2b_req *q = state(c);
		q->timeout_s = t < 0 ? 300 : t;
		snprintf(q->snap, sizeof(q->snap), "%s", s->id);
		json_t *labels = json_pack("{s:s}", LABEL_ID, snap_e2b_id(s));
		c->e2b_done = render_resumed;
		r = box_create_from_labeled(&c->reply, s, labels, &why);
		json_decref(labels);
		if (r < 0)
			fail_as(c, r, why.msg);
	} else {
		rest_error(c, 404, "sandbox %s is paused (resume it with connect)", snap_e2b_id(s));
	}
}

static void api_sandbox(struct conn *c, struct http_request *req, const char *id, const char *sub)
{
	struct box *b = e2b_box(id, c->tenant);
	struct snap *paused = b ? NULL : e2b_paused(id, c->tenant);
	struct why why;
	char safe[40];

	text_printable(id, safe, sizeof(safe));
	if (paused) {
		api_paused(c, req, paused, sub);
		return;
	}
	if (!b) {
		rest_error(c, 404, "sandbox %s not found", safe);
		return;
	}
	if (!sub && req->method == HTTP_GET) {
		respond_json(c, 200, sandbox_json(b));
		return;
	}
	if (!sub && req->method == HTTP_DELETE) {
		c->e2b_done = render_no_content;
		int r = box_delete(&c->reply, b, &why);
		if (r < 0)
			fail_as(c, r, why.msg);
		return;
	}
	if (sub && req->method == HTTP_POST &&
	    (!strcmp(sub, "timeout") || !strcmp(sub, "connect"))) {
		json_int_t t = body_timeout(req);
		if (t == -2 || (t == -1 && sub[0] == 't')) {
			rest_error(c, 400, "timeout: a number of seconds (at most 30 days)");
			return;
		}
		if (t < 0)
			t = 300;
		int64_t want = real_ns() + (int64_t)t * 1000000000LL;
		/* connect only extends; timeout sets */
		if (sub[0] == 't' || want > b->deadline_ns)
			(void)box_set_timeout(b, (uint64_t)t * 1000000000ULL);
		if (sub[0] == 't')
			respond_empty(c, 204);
		else
			respond_json(c, 200, sandbox_created_json(b));
		return;
	}
	if (sub && req->method == HTTP_GET && !strcmp(sub, "metrics")) {
		respond_json(c, 200, json_pack("[o]", metrics_json(b)));
		return;
	}
	if (sub && !strcmp(sub, "pause") && req->method == HTTP_POST) {
		/* A checkpoint that stops it: no compute while paused, its snapshot's storage
		 * instead; a connect restores it under the same E2B id. */
		c->e2b_done = render_no_content;
		int r = snap_checkpoint(&c->reply, b, "{}", 2, &why);
		if (r < 0)
			fail_as(c, r, why.msg);
		return;
	}
	rest_error(c, 404, "no such endpoint: %s %s", req->method_name, req->path);
}

/* ---- the data plane ---- */

/* A caller's path inside the sandbox: absolute, "~/..." or relative to the home. */
static bool sb_path(const char *in, char *out, size_t size)
{
	int n;
	if (!in || !*in)
		return false;
	if (in[0] == '/')
		n = snprintf(out, size, "%s", in);
	else if (in[0] == '~' && (!in[1] || in[1] == '/'))
		n = snprintf(out, size, "%s%s", HOME, in + 1);
	else
		n = snprintf(out, size, "%s/%s", HOME, in);
	return n > 0 && (size_t)n < size && apispec_file_path_valid(out);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : path;
}

/* The user of a data-plane call (Authorization: Basic base64("user:")): this surface
 * runs every command as its sandbox's identity, root of its own user namespace; E2B's
 * two names for it are taken. */
static bool user_ok(struct conn *c, struct http_request *req, const char *query_user)
{
	const char *a = http_request_header(req, "Authorization");
	char user[64] = "";
	if (query_user) {
		snprintf(user, sizeof(user), "%s", query_user);
	} else if (a && !strncasecmp(a, "Basic ", 6)) {
		char *dec = NULL;
		size_t n = 0;
		if (b64_decode(a + 6, strlen(a + 6), &dec, &n) < 0) {
			fail_as(c, -EINVAL, "Authorization: bad base64");
			return false;
		}
		char *colon = memchr(dec, ':', n);
		size_t ulen = colon ? (size_t)(colon - dec) : n;
		snprintf(user, sizeof(user), "%.*s", (int)(ulen < 63 ? ulen : 63), dec);
		free(dec);
	}
	if (!*user || !strcmp(user, "root") || !strcmp(user, "user"))
		return true;
	char safe[64];
	char msg[160];
	snprintf(msg, sizeof(msg),
		 "user %s: commands run as the sandbox's root (\"root\" or \"user\")",
		 text_printable(user, safe, sizeof(safe)));
	fail_as(c, -EINVAL, msg);
	return false;
}

/* A JSON string without a NUL (a C string of one with a NUL would say less than was
 * asked). */
static bool plain_string(json_t *v)
{
	const char *s = json_string_value(v);
	return s && strlen(s) == json_string_length(v);
}

/* A string member, NULL when absent, not a string or not plain_string. */
static const char *str_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return plain_string(v) ? json_string_value(v) : NULL;
}

/* A ProcessSelector: the kept process it names, or NULL (answered). */
static struct exec *selected(struct conn *c, struct box *b, json_t *m)
{
	json_t *p = json_object_get(m, "process");
	json_t *pid = json_object_get(p, "pid");
	const char *tag = str_of(p, "tag");
	char msg[128];
	if (!json_is_object(p) || (!json_is_integer(pid) && !tag)) {
		fail_as(c, -EINVAL, "process: {\"pid\": N} or {\"tag\": T}");
		return NULL;
	}
	struct exec *x = exec_find_kept(b, tag ? 0 : (int)json_integer_value(pid), tag);
	if (!x) {
		if (tag)
			snprintf(msg, sizeof(msg), "process with tag %.64s not found", tag);
		else
			snprintf(msg, sizeof(msg),
				 "process with pid %" JSON_INTEGER_FORMAT " not found",
				 json_integer_value(pid));
		text_sanitize(msg);
		fail_as(c, -ENOENT, msg);
	}
	return x;
}

/* process.Process/Start: a ProcessConfig into a kept command. */
static void rpc_start(struct conn *c, struct http_request *req, struct box *b, json_t *m)
{
	json_t *p = json_object_get(m, "process"), *args = json_object_get(p, "args");
	json_t *envs = json_object_get(p, "envs"), *in = json_object_get(m, "stdin"), *v;
	const char *cmd = str_of(p, "cmd"), *cwd = str_of(p, "cwd"), *tag = str_of(m, "tag");
	struct api_exec e = { .keep = true };
	struct why why;
	char dir[PATH_MAX];
	size_t i, n = json_array_size(args);
	const char *k;

	if (!user_ok(c, req, NULL))
		return;
	json_t *pty = json_object_get(m, "pty");
	if (pty && !json_is_null(pty)) {
		json_t *size = json_object_get(pty, "size");
		json_t *rows = json_object_get(size, "rows"), *cols = json_object_get(size, "cols");
		if (!json_is_integer(rows) || !json_is_integer(cols) ||
		    json_integer_value(rows) < 1 || json_integer_value(rows) > 10000 ||
		    json_integer_value(cols) < 1 || json_integer_value(cols) > 10000) {
			fail_as(c, -EINVAL,
				"pty: {\"size\": {\"rows\": 1-10000, \"cols\": 1-10000}}");
			return;
		}
		e.tty = true;
		e.rows = (unsigned)json_integer_value(rows);
		e.cols = (unsigned)json_integer_value(cols);
	}
	if (!json_is_object(p) || !cmd || !*cmd || (args && !json_is_array(args)) ||
	    n + 1 > API_MAX_ARGS || (envs && !json_is_object(envs)) ||
	    json_object_size(envs) > API_MAX_ENV || (in && !json_is_boolean(in)) ||
	    (json_object_get(m, "tag") && (!tag || strlen(tag) > 256))) {
		fail_as(c, -EINVAL,
			"process: {\"cmd\", \"args\": [...], \"envs\": {...}, \"cwd\"} "
			"(at most 256 arguments and 256 variables)");
		return;
	}
	if (cwd && *cwd && !sb_path(cwd, dir, sizeof(dir))) {
		fail_as(c, -EINVAL, "cwd: not a path");
		return;
	}
	size_t bytes = strlen(cmd);
	e.cmd = calloc(n + 2, sizeof(char *));
	e.env = calloc(json_object_size(envs) + 1, sizeof(char *));
	int r = e.cmd && e.env && (e.cmd[0] = strdup(cmd)) ? 0 : -ENOMEM;
	json_array_foreach (args, i, v) {
		if (r == 0 && !plain_string(v))
			r = -EINVAL;
		else if (r == 0 && !(e.cmd[i + 1] = strdup(json_string_value(v))))
			r = -ENOMEM;
		else if (r == 0)
			bytes += json_string_length(v);
	}
	size_t ne = 0;
	json_object_foreach (envs, k, v) {
		if (r == 0 && (!plain_string(v) || !*k || strchr(k, '=')))
			r = -EINVAL;
		else if (r == 0 && asprintf(&e.env[ne++], "%s=%s", k, json_string_value(v)) < 0)
			r = -ENOMEM;
		else if (r == 0)
			bytes += strlen(k) + json_string_length(v);
	}
	if (r == 0 && bytes > API_MAX_ARG_BYTES)
		r = -EINVAL;
	if (r == 0 && cwd && *cwd && !(e.workdir = strdup(dir)))
		r = -ENOMEM;
	if (r == 0 && tag && !(e.tag = strdup(tag)))
		r = -ENOMEM;
	if (r < 0) {
		api_exec_clear(&e);
		fail_as(c, r,
			r == -EINVAL
				? "process: arguments and variables must be strings (64 KiB in "
				  "all; names without '=')"
				: "out of memory");
		return;
	}
	/* connect-timeout-ms: the command is killed at that deadline, as envd does */
	const char *tm = http_request_header(req, "connect-timeout-ms");
	if (tm) {
		char *end;
		unsigned long long ms = strtoull(tm, &end, 10);
		if (*end || end == tm || ms > 365ULL * 86400 * 1000) {
			api_exec_clear(&e);
			fail_as(c, -EINVAL, "connect-timeout-ms: a number of milliseconds");
			return;
		}
		e.timeout_ns = ms * 1000000ULL;
	}
	e.keep_stdin = !in || json_is_true(in);
	r = exec_start(&c->reply, b, &e, true, &why);
	if (r < 0)
		fail_as(c, r, why.msg);
}

static json_t *strv_json(char **v, bool pairs)
{
	json_t *j = pairs ? json_object() : json_array();
	for (; v && *v; v++) {
		if (!pairs) {
			json_array_append_new(j, json_string(*v));
			continue;
		}
		char *eq = strchr(*v, '=');
		if (eq) {
			_cleanup_free_ char *k = strndup(*v, (size_t)(eq - *v));
			if (k)
				json_object_set_new(j, k, json_string(eq + 1));
		}
	}
	return j;
}

static void rpc_list(struct conn *c, struct box *b)
{
	json_t *arr = json_array();
	for (struct exec *x = b->execs; x; x = x->next) {
		if (!x->keep || !x->started || x->exited)
			continue;
		json_t *cfg =
			json_pack("{s:s,s:o,s:o,s:s}", "cmd", x->argv[0], "args",
				  strv_json(x->argv + 1, false), "envs",
				  strv_json(x->env_given, true), "cwd", x->cwd ? x->cwd : "/");
		json_t *pj = json_pack("{s:o,s:i}", "config", cfg, "pid", x->pid);
		if (x->tag)
			json_object_set_new(pj, "tag", json_string(x->tag));
		json_array_append_new(arr, pj);
	}
	respond_json(c, 200, json_pack("{s:o}", "processes", arr));
}

static void rpc_process(struct conn *c, struct http_request *req, struct box *b, const char *method,
			json_t *m)
{
	struct why why;
	struct exec *x;
	int r;

	if (!strcmp(method, "Start")) {
		rpc_start(c, req, b, m);
	} else if (!strcmp(method, "Connect")) {
		/* its "start" comes from the attach (nothing of the request is touched after
		 * an answer: a failure ends it) */
		if ((x = selected(c, b, m)) && (r = exec_attach(&c->reply, x, &why)) < 0)
			fail_as(c, r, why.msg);
	} else if (!strcmp(method, "List")) {
		rpc_list(c, b);
	} else if (!strcmp(method, "SendInput")) {
		json_t *in = json_object_get(m, "input");
		const char *data = str_of(in, "stdin"), *tty = str_of(in, "pty");
		char *dec = NULL;
		size_t n = 0;
		if (!(x = selected(c, b, m)))
			return;
		if ((data && tty) || (!data && !tty) || (tty && !x->tty) || (data && x->tty) ||
		    b64_decode(data ? data : tty, strlen(data ? data : tty), &dec, &n) < 0) {
			fail_as(c, -EINVAL,
				x->tty ? "input: {\"pty\": BASE64} (a terminal's process)"
				       : "input: {\"stdin\": BASE64}");
			return;
		}
		r = exec_input(x, dec, n, &why);
		free(dec);
		if (r < 0)
			fail_as(c, r, why.msg);
		else
			respond_json(c, 200, json_object());
	} else if (!strcmp(method, "SendSignal")) {
		json_t *s = json_object_get(m, "signal");
		const char *name = json_string_value(s);
		int sig = name && !strcmp(name, "SIGNAL_SIGKILL")   ? 9
			  : name && !strcmp(name, "SIGNAL_SIGTERM") ? 15
			  : json_is_integer(s) && (json_integer_value(s) == 9 ||
						   json_integer_value(s) == 15)
				  ? (int)json_integer_value(s)
				  : 0;
		if (!sig) {
			fail_as(c, -EINVAL, "signal: SIGNAL_SIGKILL or SIGNAL_SIGTERM");
			return;
		}
		if (!(x = selected(c, b, m)))
			return;
		if ((r = exec_signal(x, sig, &why)) < 0)
			fail_as(c, r, why.msg);
		else
			respond_json(c, 200, json_object());
	} else if (!strcmp(method, "CloseStdin")) {
		if (!(x = selected(c, b, m)))
			return;
		(void)exec_close_stdin(x, &why);
		respond_json(c, 200, json_object());
	} else if (!strcmp(method, "Update")) {
		json_t *size = json_object_get(json_object_get(m, "pty"), "size");
		json_t *rows = json_object_get(size, "rows"), *cols = json_object_get(size, "cols");
		if (!(x = selected(c, b, m)))
			return;
		if (!json_is_integer(rows) || !json_is_integer(cols) ||
		    json_integer_value(rows) < 1 || json_integer_value(cols) < 1) {
			fail_as(c, -EINVAL, "pty: {\"size\": {\"rows\", \"cols\"}}");
			return;
		}
		r = exec_resize(x, (unsigned)json_integer_value(rows),
				(unsigned)json_integer_value(cols), &why);
		if (r < 0)
			fail_as(c, r, why.msg);
		else
			respond_json(c, 200, json_object());
	} else {
		fail_as(c, -EOPNOTSUPP, "process.Process: no such method");
	}
}

/* Go's FileMode.String() of an entry, as envd shows it. */
static void mode_string(const char *kind, unsigned mode, char out[12])
{
	static const char rwx[] = "rwxrwxrwx";
	out[0] = !strcmp(kind, "dir") ? 'd' : !strcmp(kind, "symlink") ? 'L' : '-';
	for (int i = 0; i < 9; i++)
		out[1 + i] = mode & (1u << (8 - i)) ? rwx[i] : '-';
	out[10] = '\0';
}

/* The helper's entry as envd's EntryInfo. */
static json_t *entry_info(json_t *e)
{
	const char *kind = str_of(e, "kind"), *path = str_of(e, "path");
	unsigned mode = (unsigned)json_integer_value(json_object_get(e, "mode"));
	char perms[12], size[24];
	const char *type = !strcmp(kind, "file")      ? "FILE_TYPE_FILE"
			   : !strcmp(kind, "dir")     ? "FILE_TYPE_DIRECTORY"
			   : !strcmp(kind, "symlink") ? "FILE_TYPE_SYMLINK"
						      : "FILE_TYPE_UNSPECIFIED";
	mode_string(kind, mode, perms);
	snprintf(size, sizeof(size), "%" JSON_INTEGER_FORMAT,
		 json_integer_value(json_object_get(e, "size")));
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:o}", "name", base_name(path),
			      "type", type, "path", path, "size", size, "mode", (int)(mode & 0777),
			      "permissions", perms, "owner", str_of(e, "owner"), "group",
			      str_of(e, "group"), "modifiedTime",
			      time_rfc3339(json_integer_value(json_object_get(e, "mtime_ns"))));
	if (str_of(e, "target"))
		json_object_set_new(j, "symlinkTarget", json_string(str_of(e, "target")));
	if (json_object_get(e, "metadata"))
		json_object_set(j, "metadata", json_object_get(e, "metadata"));
	return j;
}

static void render_stat(struct conn *c, json_t *body)
{
	json_t *e = json_array_get(json_object_get(body, "entries"), 0);
	if (!e)
		unary_error(c, -EIO, "the sandbox's file helper answered no entry");
	else
		respond_json(c, 200, json_pack("{s:o}", "entry", entry_info(e)));
	json_decref(body);
}

static void render_ls(struct conn *c, json_t *body)
{
	json_t *arr = json_array(), *e;
	size_t i;
	json_array_foreach (json_object_get(body, "entries"), i, e)
		json_array_append_new(arr, entry_info(e));
	json_decref(body);
	respond_json(c, 200, json_pack("{s:o}", "entries", arr));
}

static void render_mkdir(struct conn *c, json_t *body)
{
	json_decref(body);
	/* the path of the request, kept in path2 */
	const char *p = state(c)->path2;
	respond_json(c, 200,
		     json_pack("{s:{s:s,s:s,s:s}}", "entry", "name", base_name(p), "type",
			       "FILE_TYPE_DIRECTORY", "path", p));
}

static void render_empty_rpc(struct conn *c, json_t *body)
{
	json_decref(body);
	respond_json(c, 200, json_object());
}

/* A move done: the destination's entry, from another look. */
static void render_moved(struct conn *c, json_t *body)
{
	struct why why;
	struct box *b = box_live(state(c)->box, NULL);
	json_decref(body);
	c->e2b_done = render_stat;
	int r = b ? box_fs(&c->reply, b, FS_STAT, state(c)->path2, NULL, 0, &why)
		  : why_set(&why, -ENOENT, "the sandbox is gone");
	if (r < 0)
		unary_error(c, r, why.msg);
}

static void rpc_fs(struct conn *c, struct http_request *req, struct box *b, const char *method,
		   json_t *m)
{
	char path[PATH_MAX], dst[PATH_MAX];
	struct why why;
	int r;
	enum fs_op op;
	unsigned depth = 0;

	if (!strcmp(method, "Stat")) {
		op = FS_STAT;
		c->e2b_done = render_stat;
	} else if (!strcmp(method, "ListDir")) {
		json_t *d = json_object_get(m, "depth");
		op = FS_LS;
		depth = d ? (unsigned)json_integer_value(d) : 1;
		if ((d && !json_is_integer(d)) || depth < 1 || depth > 64) {
			fail_as(c, -EINVAL, "depth: 1 to 64");
			return;
		}
		c->e2b_done = render_ls;
	} else if (!strcmp(method, "MakeDir")) {
		op = FS_MKDIR;
		c->e2b_done = render_mkdir;
	} else if (!strcmp(method, "Move")) {
		op = FS_MOVE;
		c->e2b_done = render_moved;
	} else if (!strcmp(method, "Remove")) {
		op = FS_REMOVE;
		c->e2b_done = render_empty_rpc;
	} else if (!strcmp(method, "WatchDir")) {
		json_t *rec = json_object_get(m, "recursive");
		json_t *ent = json_object_get(m, "includeEntry");
		json_t *netm = json_object_get(m, "allowNetworkMounts");
		if (!user_ok(c, req, NULL))
			return;
		/* allowNetworkMounts: a sandbox has no network mounts to refuse */
		if (!sb_path(str_of(m, "path"), path, sizeof(path)) ||
		    (rec && !json_is_boolean(rec)) || (ent && !json_is_boolean(ent)) ||
		    (netm && !json_is_boolean(netm))) {
			fail_as(c, -EINVAL,
				"{\"path\", \"recursive\": bool, \"includeEntry\": bool}");
			return;
		}
		r = box_watch(&c->reply, b, path, json_is_true(rec), json_is_true(ent), &why);
		if (r < 0)
			fail_as(c, r, why.msg);
		return;
	} else {
		fail_as(c, -EOPNOTSUPP, "filesystem.Filesystem: no such method");
		return;
	}
	if (!user_ok(c, req, NULL))
		return;
	const char *src = str_of(m, op == FS_MOVE ? "source" : "path");
	if (!sb_path(src, path, sizeof(path)) ||
	    (op == FS_MOVE && !sb_path(str_of(m, "destination"), dst, sizeof(dst)))) {
		fail_as(c, -EINVAL,
			op == FS_MOVE ? "source and destination: paths" : "path: a path");
		return;
	}
	if ((op == FS_MOVE || op == FS_MKDIR) &&
	    !(state(c)->path2 = strdup(op == FS_MOVE ? dst : path))) {
		fail_as(c, -ENOMEM, "out of memory");
		return;
	}
	r = box_fs(&c->reply, b, op, path, op == FS_MOVE ? dst : NULL, depth, &why);
	if (r < 0)
		fail_as(c, r, why.msg);
}

/* ---- /files ---- */

static void upload_next(struct conn *c);

static void render_uploaded(struct conn *c, json_t *body)
{
	struct e2b_req *q = state(c);
	const char *p = q->files[q->next].path;
	json_decref(body);
	json_t *wi = json_pack("{s:s,s:s,s:s}", "name", base_name(p), "type", "file", "path", p);
	if (q->meta && q->meta[0]) {
		json_t *m = json_object();
		for (char **kv = q->meta; *kv; kv++) {
			char *eq = strchr(*kv, '=');
			_cleanup_free_ char *k = strndup(*kv, (size_t)(eq - *kv));
			if (k)
				json_object_set_new(m, k, json_string(eq + 1));
		}
		json_object_set_new(wi, "metadata", m);
	}
	json_array_append_new(q->written, wi);
	q->next++;
	upload_next(c);
}

static void upload_next(struct conn *c)
{
	struct e2b_req *q = state(c);
	struct box *b = box_live(q->box, NULL);
	struct why why;

	if (q->next == q->nfiles) {
		respond_json(c, 200, json_incref(q->written));
		return;
	}
	struct upload *u = &q->files[q->next];
	c->e2b_done = render_uploaded;
	int r = b ? box_files_data(&c->reply, b, u->path, u->data, u->len, q->meta, &why)
		  : why_set(&why, -ENOENT, "the sandbox is gone");
	if (r < 0)
		fail_as(c, r, why.msg);
}

static int upload_add(struct e2b_req *q, const char *path, const char *data, size_t len)
{
	char abs[PATH_MAX];
	if (!sb_path(path, abs, sizeof(abs)))
		return -EINVAL;
	for (size_t i = 0; i < q->nfiles; i++)
		if (!strcmp(q->files[i].path, abs))
			return -EEXIST;
	if (q->nfiles == MAX_UPLOAD_FILES)
		return -E2BIG;
	struct upload *f = realloc(q->files, (q->nfiles + 1) * sizeof(*f));
	if (!f)
		return -ENOMEM;
	q->files = f;
	if (!(f[q->nfiles].path = strdup(abs)))
		return -ENOMEM;
	f[q->nfiles].data = data;
	f[q->nfiles].len = len;
	q->nfiles++;
	return 0;
}

static int upload_part(void *ud, const char *name, const char *filename, const char *data,
		       size_t len)
{
	struct e2b_req *q = ud;
	/* parts of other names are not files; with ?path= that path is the file's */
	if (strcmp(name, "file"))
		return 0;
	return upload_add(q, q->path2 ? q->path2 : filename, data, len);
}

/* A gzip body inflated into *ret (at most --max-body, charged to the caller's share of
 * held memory until its answer); -EFBIG past that, -EINVAL if it is not gzip. */
static int gunzip(struct conn *c, const char *in, size_t len, char **ret, size_t *ret_len)
{
	z_stream zs = { .next_in = (Bytef *)(uintptr_t)in, .avail_in = (uInt)len };
	size_t cap = 0, n = 0, max = D.opt.max_body;
	char *out = NULL;
	int zr = Z_OK;

	if (len > UINT32_MAX || inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return -EINVAL;
	while (zr == Z_OK) {
		if (n == cap) {
			size_t more = cap ? cap : 65536;
			if (cap + more > max || c->reply.ops->room(&c->reply) < more) {
				zr = Z_BUF_ERROR;
				n = max + 1;
				break;
			}
			char *p = realloc(out, cap + more);
			if (!p)
				break;
			c->reply.ops->charge(&c->reply, more);
			out = p;
			cap += more;
		}
		zs.next_out = (Bytef *)out + n;
		zs.avail_out = (uInt)(cap - n);
		zr = inflate(&zs, Z_NO_FLUSH);
		n = cap - zs.avail_out;
	}
	inflateEnd(&zs);
	if (zr != Z_STREAM_END) {
		free(out);
		return n > max ? -EFBIG : -EINVAL;
	}
	*ret = out;
	*ret_len = n;
	return 0;
}

/* The X-Metadata-KEY headers of an upload as "key=value" (keys lower-cased, as envd
 * stores them): -EINVAL for a bad one, -E2BIG past 32. */
static int upload_metadata(const struct http_request *req, char ***ret)
{
	size_t n = 0;
	char **out = calloc(33, sizeof(char *));
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < req->nheaders; i++) {
		const char *name = req->headers[i].name, *v = req->headers[i].value;
		if (strncasecmp(name, "X-Metadata-", 11))
			continue;
		const char *k = name + 11;
		size_t kl = strlen(k), vl = strlen(v);
		bool ok = kl >= 1 && kl <= 64 && vl <= 1024 &&
			  strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				    "!#$%&'*+-.^_`|~") == kl;
		for (const char *p = v; ok && *p; p++)
			ok = *p >= 0x20 && *p <= 0x7e;
		if (!ok || n == 32) {
			strv_free(out);
			return ok ? -E2BIG : -EINVAL;
		}
		if (asprintf(&out[n], "%s=%s", k, v) < 0) {
			strv_free(out);
			return -ENOMEM;
		}
		for (char *p = out[n]; *p != '='; p++)
			*p = (char)tolower((unsigned char)*p);
		n++;
	}
	*ret = out;
	return 0;
}

static void files_post(struct conn *c, struct http_request *req, const char *path)
{
	struct e2b_req *q = state(c);
	const char *ctype = http_request_header(req, "Content-Type");
	const char *enc = http_request_header(req, "Content-Encoding");
	int r;

	const char *body = req->body;
	size_t len = req->body_len;
	if (enc && !strcasecmp(enc, "gzip")) {
		int r0 = gunzip(c, body, len, &q->inflated, &len);
		if (r0 < 0) {
			rest_error(c, r0 == -EFBIG ? 413 : 400, "%s",
				   r0 == -EFBIG ? "the upload inflates past --max-body"
						: "Content-Encoding gzip: not a gzip stream");
			return;
		}
		body = q->inflated;
	} else if (enc && strcasecmp(enc, "identity")) {
		rest_error(c, 400, "Content-Encoding %s: uploads are taken as they are or gzip",
			   enc);
		return;
	}
	int mr = upload_metadata(req, &q->meta);
	if (mr < 0) {
		rest_error(c, 400, "%s",
			   mr == -E2BIG
				   ? "more than 32 X-Metadata- headers"
				   : "X-Metadata-KEY: a key of 1-64 token characters, a printable "
				     "ASCII value of at most 1024 bytes");
		return;
	}
	if (!(q->written = json_array())) {
		rest_error(c, 500, "out of memory");
		return;
	}
	if (path && !(q->path2 = strdup(path))) {
		rest_error(c, 500, "out of memory");
		return;
	}
	if (ctype && !strncasecmp(ctype, "multipart/form-data", 19))
		r = form_multipart(ctype, body, len, upload_part, q);
	else if (path)
		r = upload_add(q, path, body, len);
	else
		r = -EINVAL;
	if (r == 0 && !q->nfiles)
		r = -EINVAL;
	if (r < 0) {
		rest_error(c, 400, "%s",
			   r == -EEXIST	 ? "the same path twice in one upload"
			   : r == -E2BIG ? "more than 256 files in one upload"
					 : "upload: a multipart/form-data body of parts named "
					   "\"file\", or a body with ?path=");
		return;
	}
	upload_next(c);
}

static void files(struct conn *c, struct http_request *req, struct box *b)
{
	_cleanup_free_ char *path = NULL, *user = NULL;
	char abs[PATH_MAX];
	struct why why;

	if (req->query && (http_query_get(req->query, "path", &path) == -EINVAL ||
			   http_query_get(req->query, "username", &user) == -EINVAL)) {
		rest_error(c, 400, "query: bad percent-encoding");
		return;
	}
	if (!user_ok(c, req, user ? user : ""))
		return;
	if (req->method == HTTP_POST) {
		files_post(c, req, path);
		return;
	}
	if (req->method != HTTP_GET) {
		rest_error(c, 405, "%s is not allowed on /files", req->method_name);
		return;
	}
	if (!sb_path(path, abs, sizeof(abs))) {
		rest_error(c, 400, "path: a path inside the sandbox");
		return;
	}
	int r = box_files(&c->reply, b, FILE_GET, abs, 0, &why);
	if (r < 0)
		fail_as(c, r, why.msg);
}

/* ---- routing ---- */

bool e2b_claims(const struct http_request *req)
{
	const char *p = req->path;
	return !strcmp(p, "/sandboxes") || !strncmp(p, "/sandboxes/", 11) ||
	       !strcmp(p, "/v2/sandboxes") || !strncmp(p, "/v2/sandboxes/", 14) ||
	       !strcmp(p, "/health") || !strcmp(p, "/files") ||
	       !strncmp(p, "/process.Process/", 17) || !strncmp(p, "/filesystem.Filesystem/", 23);
}

static bool is_control(const struct http_request *req)
{
	return !strncmp(req->path, "/sandboxes", 10) || !strncmp(req->path, "/v2/sandboxes", 13);
}

bool e2b_begin(struct conn *c, struct http_request *req)
{
	struct e2b_req *q = calloc(1, sizeof(*q));
	bool stream = !strcmp(req->path, "/process.Process/Start") ||
		      !strcmp(req->path, "/process.Process/Connect") ||
		      !strcmp(req->path, "/filesystem.Filesystem/WatchDir");

	bool rpc = !strncmp(req->path, "/process.", 9) || !strncmp(req->path, "/filesystem.", 12);
	e2b_reply_set(c, is_control(req) ? MODE_API
			 : rpc		 ? stream ? MODE_STREAM : MODE_UNARY
					 : MODE_FILES);
	c->e2b_state = q;
	c->e2b_keepalive_event = !strncmp(req->path, "/process.", 9);
	if (!q) {
		respond_error(c, 500, "internal", "out of memory");
		return false;
	}
	if (!secret_ok) {
		rest_error(c, 503, "the E2B surface is off: its key could not be made");
		return false;
	}
	if (is_control(req)) {
		const char *key = http_request_header(req, "X-API-KEY");
		char *tenant = NULL;
		if (!key || !*key) {
			rest_error(c, 401, "missing X-API-KEY (a tenant token of sbxd tenant add)");
			return false;
		}
		int r = store_tenant_by_token(D.store, key, &tenant);
		if (r < 0) {
			rest_error(c, 401,
				   r == -ENOENT ? "unknown API key" : "cannot check the API key");
			return false;
		}
		c->tenant = tenant;
		return !c->tcp || conn_admit_as(c, c->tenant, true);
	}
	/* The data plane: the sandbox by its header, the caller by the sandbox's token. */
	const char *id = http_request_header(req, "E2b-Sandbox-Id");
	const char *tok = http_request_header(req, "X-Access-Token");
	struct box *b = id ? e2b_box(id, NULL) : NULL;
	char want[33];
	if (id && strlen(id) < 64)
		box_token(id, want);
	/* The SDK reads 502 alone as "not running": said only to the holder of the id's
	 * token, so that nobody else learns which ids run. */
	if (!b && (!id || strlen(id) >= 64 || !token_is(tok, want)))
		b = NULL, id = NULL, tok = NULL;
	else if (!b) {
		if (c->e2b == MODE_UNARY)
			respond_json(c, 502,
				     json_pack("{s:s,s:s}", "code", "unavailable", "message",
					       "sandbox is not running"));
		else
			rest_error(c, 502, "%s",
				   id ? "sandbox is not running" : "missing E2b-Sandbox-Id");
		return false;
	}
	if (!b || !token_is(tok, want)) {
		if (c->e2b == MODE_UNARY || c->e2b == MODE_STREAM)
			respond_json(c, 401,
				     json_pack("{s:s,s:s}", "code", "unauthenticated", "message",
					       "missing or wrong X-Access-Token"));
		else
			rest_error(c, 401, "missing or wrong X-Access-Token");
		return false;
	}
	snprintf(q->box, sizeof(q->box), "%s", b->id);
	if (!(c->tenant = strdup(b->tenant))) {
		rest_error(c, 500, "out of memory");
		return false;
	}
	return !c->tcp || conn_admit_as(c, c->tenant, true);
}

void e2b_handle(struct conn *c, struct http_request *req)
{
	char *parts[5] = { 0 };
	int n = 0;
	_cleanup_free_ char *path = NULL;

	if (is_control(req)) {
		path = split_path(req->path, parts, &n);
		int at = n && !strcmp(parts[0], "v2") ? 1 : 0;
		if (!path) {
			rest_error(c, 500, "out of memory");
		} else if (n == at + 1 && req->method == HTTP_POST) {
			api_create(c, req);
		} else if (n == at + 1 && req->method == HTTP_GET) {
			api_list(c, req);
		} else if (n == at + 2 || n == at + 3) {
			api_sandbox(c, req, parts[at + 1], n == at + 3 ? parts[at + 2] : NULL);
		} else {
			rest_error(c, 404, "no such endpoint: %s %s", req->method_name, req->path);
		}
		return;
	}
	struct box *b = box_live(state(c)->box, NULL);
	if (!b) {
		rest_error(c, 502, "sandbox is not running");
		return;
	}
	if (!strcmp(req->path, "/health")) {
		respond_empty(c, 204);
		return;
	}
	if (!strcmp(req->path, "/files")) {
		files(c, req, b);
		return;
	}
	const char *ct = http_request_header(req, "Content-Type");
	bool stream = c->e2b == MODE_STREAM;
	json_t *m = NULL;
	char err[160];
	if (req->method != HTTP_POST) {
		fail_as(c, -EINVAL, "Connect calls are POSTs");
		return;
	}
	if (!ct || strncasecmp(ct, stream ? "application/connect+json" : "application/json",
			       stream ? 24 : 16)) {
		fail_as(c, -EINVAL,
			stream ? "Content-Type: application/connect+json (the JSON codec)"
			       : "Content-Type: application/json (the JSON codec)");
		return;
	}
	if (connect_request(req->body, req->body_len, stream, &m, err, sizeof(err)) < 0) {
		fail_as(c, -EINVAL, err);
		return;
	}
	const char *dot = strchr(req->path + 1, '/');
	if (!strncmp(req->path, "/process.Process/", 17))
		rpc_process(c, req, b, dot + 1, m);
	else
		rpc_fs(c, req, b, dot + 1, m);
	json_decref(m);
}

struct box *e2b_port_box(const char *id)
{
	return e2b_box(id, NULL);
}

bool e2b_traffic_ok(const struct box *b, const struct http_request *req)
{
	char want[33];
	traffic_token(e2b_id(b), want);
	return token_is(http_request_header(req, "e2b-traffic-access-token"), want);
}
