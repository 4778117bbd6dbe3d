/* SPDX-License-Identifier: MIT */
/* Which sbx this process belongs to. An instance name (SBX_INSTANCE, or sbxd --instance)
 * scopes what sbx makes on the host: its cgroup parents, its pinned BPF objects and its run
 * directory (layers, scratch mounts), so that instances (the test suite beside a serving
 * sbxd) never see or sweep each other's. Unnamed, the paths are the default ones. Shared by
 * every instance on purpose: the host id ranges of user namespaces (one registry) and the
 * caches in /run/sbx/runtime and /run/sbx/seccomp.
 * Parent only; the first call reads SBX_INSTANCE (make it before threads start). */
#pragma once

#define INSTANCE_NAME_MAX 16

/* Sets the name (NULL or "" = the default instance): 0, or -EINVAL for a name that is not
 * 1-16 of a-z 0-9 - _. Before anything asks for a path. */
int instance_set(const char *name);
/* "" for the default instance. */
const char *instance_name(void);
/* "sbx", or "sbx-NAME": the cgroup directory that holds its sandboxes' cgroups. */
const char *instance_cgroup_parent(void);
/* "/sys/fs/bpf/sbx", or "/sys/fs/bpf/sbx-NAME". */
const char *instance_pin_dir(void);
/* The path of the object pinned as @name there, in @buf (256 bytes). Returns @buf. */
const char *instance_pin_path(char buf[static 256], const char *name);
/* "/run/sbx", or "/run/sbx/instance/NAME": its layers and scratch mounts live below. */
const char *instance_run_dir(void);
/* Its subdirectories: sandboxes' scratch mount points, sbxd's writable layers. */
const char *instance_scratch_dir(void);
const char *instance_layer_dir(void);
/* Makes the run directory (and those above it) if missing, each 0711: searchable, not
 * listable, since a sandbox's child (an unprivileged host id) reaches its scratch mount
 * point through it. 0 or -errno. */
int instance_run_dir_make(void);
