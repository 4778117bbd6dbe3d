/* SPDX-License-Identifier: MIT */
/* sbxd's state database: SQLite in WAL mode in the state directory. Tenants (token
 * hashes only) and sandboxes (spec, state, the process and cgroups to re-adopt).
 * Single-threaded: the loop thread owns the handle. Return 0 or -errno. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct store;
struct sqlite3;

struct store_sandbox {
	const char *id, *tenant, *state;
	const char *spec;			   /* the create request, as JSON */
	const char *cgroup;			   /* JSON: {"mode", "v2", "v1": [...]} */
	const char *reason;			   /* why it ended, or NULL */
	int64_t created_ns, ended_ns, deadline_ns; /* CLOCK_REALTIME; 0 = none */
	int exit_code;				   /* -1 = none */
	pid_t pid;
	uint64_t start_time;
	int slot;	   /* meter slot, -1 = none */
	const char *usage; /* JSON: final usage of an ended sandbox, or NULL */
	const char *base;  /* JSON: a restored sandbox's counters at its checkpoint, or NULL */
	const char *env;   /* JSON array of "K=V": its PID 1's environment, which its commands
			    * start from; NULL before it runs */
	int net_pair;	   /* its network link pair (mode "internet"), 0 = none */
};

/* A checkpoint: its images live in state-dir/snapshots/ID. */
struct store_snapshot {
	const char *id, *tenant, *parent, *state; /* state: ready or deleted */
	uint64_t size_bytes;
	int64_t created_ns, deleted_ns;
	const char *meta; /* JSON: what a restore needs (spec, image, usage, criu keys) */
};

int store_open(const char *dir, struct store **ret);
/* The last error on @db as -errno (-ENOSPC for a full disk, -EEXIST for a constraint). */
int store_errno(struct sqlite3 *db);
/* The handle, for the ledger's tables in the same database. */
struct sqlite3 *store_db(struct store *s);
/* The database file. */
const char *store_path(const struct store *s);
/* Whether the write-ahead log has reached 1000 frames (SQLite's own threshold; a log
 * reused before would hide a full disk from the writes that should say so) since the
 * last call. The store's connection never checkpoints it itself. */
bool store_wal_due(struct store *s);
/* Moves what the write-ahead log holds into the database file, on a connection of its
 * own, without waiting for readers or writers (any thread). */
int store_wal_checkpoint(const char *path);
void store_close(struct store *s);

/* Adds tenant @name with a fresh token, returned in *ret_token (caller frees); only its
 * SHA-256 is kept. -EEXIST if the name is taken, -EINVAL for a bad name. */
int store_tenant_add(struct store *s, const char *name, char **ret_token);
/* The tenant holding @token (*ret_name, caller frees), or -ENOENT. */
int store_tenant_by_token(struct store *s, const char *token, char **ret_name);
/* The tenant of the host's admins (the unix socket's peers): the owner recorded for what
 * they create, and a name no tenant may take. */
#define ADMIN_TENANT "admin"
bool store_tenant_name_valid(const char *name);
/* SHA-256 of @len bytes as 64 hex digits (tokens' hashes, the image store's ids). */
int store_sha256_hex(const void *data, size_t len, char out[65]);

/* Inserts or replaces a sandbox row. */
int store_sandbox_put(struct store *s, const struct store_sandbox *sb);
/* Calls @fn for every sandbox in state @state. Strings live for the call only. */
int store_sandbox_each(struct store *s, const char *state,
		       void (*fn)(const struct store_sandbox *sb, void *userdata), void *userdata);

/* Inserts or replaces a snapshot row. */
int store_snapshot_put(struct store *s, const struct store_snapshot *sn);
/* Calls @fn for every snapshot in state @state. Strings live for the call only. */
int store_snapshot_each(struct store *s, const char *state,
			void (*fn)(const struct store_snapshot *sn, void *userdata),
			void *userdata);
