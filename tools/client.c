// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "client.h"

#include <errno.h>
#include <http_parser.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../sandbox/macro.h"

struct pstate {
	struct client_resp *resp;
	client_body_cb cb;
	void *ud;
	bool done, stop;
	size_t cap;
};

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct pstate *s = p->data;

	if (s->cb) {
		if (!s->cb(at, len, s->ud)) {
			s->stop = true;
			return 1;
		}
		return 0;
	}
	if (s->resp->len + len + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->resp->len + len + 1)
			cap *= 2;
		char *nb = realloc(s->resp->body, cap);
		if (!nb)
			return 1;
		s->resp->body = nb;
		s->cap = cap;
	}
	memcpy(s->resp->body + s->resp->len, at, len);
	s->resp->len += len;
	s->resp->body[s->resp->len] = '\0';
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct pstate *s = p->data;
	s->resp->status = p->status_code;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct pstate *s = p->data;
	s->done = true;
	return 0;
}

int client_write_all(int fd, const char *p, size_t len)
{
	bool sock = true;

	while (len) {
		/* A socket's peer going away is an error here, not a SIGPIPE. */
		ssize_t n = sock ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);
		if (n < 0 && errno == ENOTSOCK && sock) {
			sock = false;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A connection to sbxd's socket: its descriptor, or -errno. */
static int client_connect(const char *socket_path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(socket_path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* The body from @body_fd when it is >= 0 (reporting to @progress), else from @body. */
static int call(const char *socket_path, const char *method, const char *target, const char *ctype,
		const char *body, int body_fd, size_t len, client_progress_cb progress,
		struct client_resp *resp, client_body_cb cb, void *userdata)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *head = NULL;
	const char *token = getenv("SBX_TOKEN");
	struct pstate st = { .resp = resp, .cb = cb, .ud = userdata };
	http_parser_settings set = { .on_body = on_body,
				     .on_headers_complete = on_headers_complete,
				     .on_message_complete = on_message_complete };
	http_parser p;
	char buf[65536];
	int r;

	*resp = (struct client_resp){ 0 };
	fd = client_connect(socket_path);
	if (fd < 0)
		return fd;
	r = asprintf(&head,
		     "%s %s HTTP/1.1\r\nHost: sbxd\r\nUser-Agent: sbx/" SBX_VERSION
		     "\r\nConnection: close\r\n%s%s%s%s%s%sContent-Length: %zu\r\n\r\n",
		     method, target, token && token[0] ? "Authorization: Bearer " : "",
		     token && token[0] ? token : "", token && token[0] ? "\r\n" : "",
		     ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "", len);
	if (r < 0) {
		head = NULL;
		return -ENOMEM;
	}
	r = client_write_all(fd, head, strlen(head));
	if (r == 0 && len && body_fd < 0)
		r = client_write_all(fd, body, len);
	for (size_t sent = 0; r == 0 && body_fd >= 0 && sent < len;) {
		ssize_t n = read(body_fd, buf, sizeof(buf) < len - sent ? sizeof(buf) : len - sent);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		/* sbxd may answer (and close) before the whole body, refusing it: the
		 * answer is read below. */
		if (client_write_all(fd, buf, (size_t)n) < 0)
			break;
		sent += (size_t)n;
		if (progress)
			progress(sent, len, userdata);
	}
	if (r < 0)
		return r;
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = &st;
	while (!st.done && !st.stop) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		size_t used = http_parser_execute(&p, &set, buf, (size_t)n);
		if (st.stop)
			break;
		if (HTTP_PARSER_ERRNO(&p) != HPE_OK || (n > 0 && used != (size_t)n))
			return -EPROTO;
		if (n == 0) {
			if (!st.done)
				return -ECONNRESET;
			break;
		}
	}
	if (!resp->body && !cb) {
		resp->body = strdup("");
		if (!resp->body)
			return -ENOMEM;
	}
	return 0;
}

int client_call(const char *socket_path, const char *method, const char *target, const char *ctype,
		const char *body, size_t len, struct client_resp *resp, client_body_cb cb,
		void *userdata)
{
	return call(socket_path, method, target, ctype, body, -1, len, NULL, resp, cb, userdata);
}

int client_call_fd(const char *socket_path, const char *method, const char *target,
		   const char *ctype, int body_fd, size_t len, client_progress_cb progress,
		   void *userdata, struct client_resp *resp)
{
	return call(socket_path, method, target, ctype, NULL, body_fd, len, progress, resp, NULL,
		    userdata);
}

void client_resp_clear(struct client_resp *r)
{
	free(r->body);
	*r = (struct client_resp){ 0 };
}

const char *client_error_message(const struct client_resp *r)
{
	static char msg[512];
	json_t *j = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));

	snprintf(msg, sizeof(msg), "%s", m ? m : r->body && r->len ? r->body : "no details");
	msg[strcspn(msg, "\n")] = '\0';
	json_decref(j);
	return msg;
}

char *client_query_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/", *p)) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

int client_upgrade(const char *socket_path, const char *target, int *ret_fd,
		   struct client_resp *resp)
{
	const char *token = getenv("SBX_TOKEN");
	char head[4096];
	size_t n = 0;
	int fd, r;

	*resp = (struct client_resp){ 0 };
	fd = client_connect(socket_path);
	if (fd < 0)
		return fd;
	r = snprintf(head, sizeof(head),
		     "POST %s HTTP/1.1\r\nHost: sbxd\r\nUser-Agent: sbx/" SBX_VERSION
		     "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n%s%s%sContent-Length: 0\r\n\r\n",
		     target, token && token[0] ? "Authorization: Bearer " : "",
		     token && token[0] ? token : "", token && token[0] ? "\r\n" : "");
	r = r < 0 || (size_t)r >= sizeof(head) ? -E2BIG : client_write_all(fd, head, (size_t)r);
	/* The answer's head, a byte at a time: what follows it is the stream's. */
	while (r == 0 && n + 1 < sizeof(head)) {
		ssize_t k = read(fd, head + n, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = k < 0 ? -errno : -ECONNRESET;
			break;
		}
		n++;
		if (n >= 4 && !memcmp(head + n - 4, "\r\n\r\n", 4))
			break;
	}
	head[n] = '\0';
	if (r == 0 && sscanf(head, "HTTP/1.1 %d", &resp->status) != 1)
		r = -EPROTO;
	if (r == 0 && resp->status == 101) {
		*ret_fd = fd;
		return 0;
	}
	if (r == 0) {
		/* An error: its body, to the end (sbxd closes after it). */
		char *body = NULL;
		size_t len = 0, cap = 0;
		for (;;) {
			if (len + 4096 > cap) {
				char *b = realloc(body, cap = cap ? 2 * cap : 8192);
				if (!b)
					break;
				body = b;
			}
			ssize_t k = read(fd, body + len, cap - len - 1);
			if (k <= 0)
				break;
			len += (size_t)k;
		}
		if (body)
			body[len] = '\0';
		resp->body = body;
		resp->len = len;
	}
	close(fd);
	return r;
}
