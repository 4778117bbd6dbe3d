/* SPDX-License-Identifier: MIT */
/* The E2B-compatible surface (e2b.c): its routes on sbxd's listener, its requests'
 * lives. Loop thread only. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct conn;
struct http_request;

/* The key of the sandboxes' access tokens, read or made in the state directory. */
int e2b_init(void);
/* Whether @req is the E2B surface's (by its path). */
bool e2b_claims(const struct http_request *req);
/* As api_begin() and api_handle(), for the E2B surface. */
bool e2b_begin(struct conn *c, struct http_request *req);
void e2b_handle(struct conn *c, struct http_request *req);
/* The request of @c ended (answered, or the connection went): its state goes. */
void e2b_request_end(struct conn *c);
/* Published ports: the running sandbox of E2B id @id (a resumed one runs under an id
 * of its own), and whether @req carries its traffic token (e2b-traffic-access-token). */
struct box;
struct box *e2b_port_box(const char *id);
bool e2b_traffic_ok(const struct box *b, const struct http_request *req);
/* A quiet stream's keepalive. */
void e2b_tick(struct conn *c, int64_t now);
