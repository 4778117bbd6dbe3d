/* SPDX-License-Identifier: MIT */
/* JSON request bodies of the /v1 API (DESIGN.md section 3.1), checked and converted:
 *   POST /v1/sandboxes    {"image", "cmd", "env", "workdir", "hostname", "user",
 *                          "limits": {"memory", "cpus", "pids", "timeout", "idle_timeout"},
 *                          "net", "gpus", "labels", "seccomp", "writable_size", "user_ns",
 *                          "on_timeout"}
 *   PUT .../network       {"allow_out", "deny_out", "ports"} (the object form of "net")
 *   POST .../exec         {"cmd", "env", "workdir", "stdin" | "stdin_b64", "timeout"}
 * Sizes and durations are strings ("256M", "10m") or integers (bytes, seconds); cpus a
 * number or string ("0.5"). Unknown fields are refused. Pure: no I/O.
 * Returns 0, or -EINVAL with *ret_error naming the field and the limit (caller frees). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../sandbox/spec.h"

#define API_MAX_ARGS 256
#define API_MAX_ARG_BYTES (64 * 1024)
#define API_MAX_ENV 256
#define API_MAX_LABELS 64
#define API_MAX_GPUS 16
#define API_MAX_NET_RULES 64 /* entries of allow_out, and of deny_out */
#define API_MAX_PORTS 16

/* An IPv4 network: address (network byte order, host bits zero) and prefix length. */
struct net_cidr {
	uint32_t addr;
	uint8_t prefix;
};

/* What a sandbox of mode "internet" may reach, beyond the platform's deny set. Domain
 * entries are lower-case names, exact or "*." wildcards. */
struct net_policy {
	struct net_cidr allow[API_MAX_NET_RULES], deny[API_MAX_NET_RULES];
	unsigned nallow, ndeny;
	char **allow_domains, **deny_domains; /* NULL-terminated, or NULL */
	bool allow_list;		      /* allow_out given: nothing else is reachable */
	uint16_t ports[API_MAX_PORTS];	      /* published */
	unsigned nports;
	bool all_ports;	    /* "ports": "all": every TCP port published */
	bool public_ports;  /* reachable without the tenant's token */
	uint64_t rate_bits; /* limits.net_rate, bits a second; 0 = none */
};

struct api_create {
	char *image;
	char *image_id;		 /* the store's image it runs, pinned by sbxd at its launch */
	bool record_files;	 /* record what its workload opens (sbx image slim) */
	bool timeout_checkpoint; /* "on_timeout": "checkpoint": checkpointed (and stopped)
				  * at its timeout rather than killed */
	char **cmd;		 /* NULL-terminated; NULL when not given (the image's default) */
	char **env;		 /* "K=V", NULL-terminated, never NULL */
	char *workdir, *hostname, *seccomp;
	bool set_user;
	uid_t uid;
	gid_t gid;
	struct sandbox_limits limits;
	uint64_t idle_timeout_ns;
	uint64_t writable_bytes;
	enum net_mode net;
	struct net_policy netp;
	char **gpus;   /* NULL-terminated, never NULL */
	char **labels; /* key, value pairs, NULL-terminated, never NULL */
};

struct api_exec {
	char **cmd;
	char **env;
	char *workdir;
	char *stdin_data;
	size_t stdin_len;
	uint64_t timeout_ns; /* 0 = none */
	/* Not of /v1's body: a process that outlives its request (the E2B surface's), its
	 * stdin left open for input (exec_input), and the tag it is found by. */
	bool keep, keep_stdin;
	char *tag;
	bool tty; /* a terminal of @rows x @cols for its stdio (stdin kept) */
	unsigned rows, cols;
};

/* Frees a NULL-terminated array of strings and the strings. */
void strv_free(char **v);

int apispec_parse_create(const char *body, size_t len, struct api_create *ret, char **ret_error);
/* -EINVAL when a label's key starts "sbx." (sbxd's own: what a caller of the API may not
 * set); 0 otherwise. */
int apispec_labels_reserved(char **labels, char **ret_error);
void api_create_clear(struct api_create *c);

/* The body of PUT .../network: a whole new policy (rate kept from @ret). */
int apispec_parse_network(const char *body, size_t len, struct net_policy *ret, char **ret_error);
void net_policy_clear(struct net_policy *p);
/* "203.0.113.0/24", "198.51.100.7": 0, or -EINVAL. */
int apispec_parse_cidr(const char *s, struct net_cidr *ret);
/* Whether @addr (network byte order) is in @c. */
bool net_cidr_has(const struct net_cidr *c, uint32_t addr);
/* The policy as the object form of "net" (mode "internet"), for records. */
json_t *net_policy_json(const struct net_policy *p);

int apispec_parse_exec(const char *body, size_t len, struct api_exec *ret, char **ret_error);
void api_exec_clear(struct api_exec *e);

/* The files API's ?path= (percent-decoded): absolute, not empty, shorter than PATH_MAX.
 * Nothing else is checked here: "..", symlinks and the rest resolve inside the sandbox's
 * root (sbx-init --file, sandbox/filepath.h). */
bool apispec_file_path_valid(const char *path);
