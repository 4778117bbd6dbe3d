/* SPDX-License-Identifier: MIT */
/* The sbx client's side of sbxd's API: one HTTP/1.1 request per connection over the
 * unix socket (SBX_SOCKET or --socket; default /run/sbx/sbxd.sock), with the bearer
 * token from SBX_TOKEN when set. Responses are parsed with libhttp-parser; bodies are
 * collected or handed to a callback as they arrive (chunked streams). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define CLIENT_DEFAULT_SOCKET "/run/sbx/sbxd.sock"

struct client_resp {
	int status;
	char *body; /* collected unless a callback took it; NUL-terminated */
	size_t len;
};

/* Called with each piece of the body; return false to stop reading. */
typedef bool (*client_body_cb)(const char *data, size_t len, void *userdata);

/* Sends one request and reads the response. Returns 0, or -errno when sbxd cannot be
 * reached (-ECONNREFUSED, -ENOENT) or the exchange broke. */
int client_call(const char *socket_path, const char *method, const char *target, const char *ctype,
		const char *body, size_t len, struct client_resp *resp, client_body_cb cb,
		void *userdata);
/* The same with the body read from @body_fd (@len bytes); @progress (may be NULL) is
 * told what is sent as it goes. The answer is collected. */
typedef void (*client_progress_cb)(size_t sent, size_t total, void *userdata);
int client_call_fd(const char *socket_path, const char *method, const char *target,
		   const char *ctype, int body_fd, size_t len, client_progress_cb progress,
		   void *userdata, struct client_resp *resp);
void client_resp_clear(struct client_resp *r);
/* The "message" of an error body, or the body itself (static or inside @r). */
const char *client_error_message(const struct client_resp *r);
/* POST @target asking "Upgrade: tcp": 0 with *ret_fd the byte stream when sbxd answers
 * 101 (resp->status), else 0 with the answer in *resp (caller clears); -errno when sbxd
 * cannot be reached. */
int client_upgrade(const char *socket_path, const char *target, int *ret_fd,
		   struct client_resp *resp);
/* Writes all of @p to @fd (a socket or not); 0 or -errno. */
int client_write_all(int fd, const char *p, size_t len);
/* Percent-encodes @s for a query value (caller frees). */
char *client_query_escape(const char *s);
