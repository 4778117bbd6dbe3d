/* SPDX-License-Identifier: MIT */
/* A sandbox's file system tree, made by the launcher as detached mounts that the child
 * attaches with move_mount: the root is an overlay of the image (idmapped to the
 * sandbox's user namespace, so that the image's root-owned files belong to the
 * sandbox's root) with a writable upper layer, or read-only; the image's host binds are
 * idmapped read-only clones; granted device nodes are clones; sbx-init is a read-only clone of a copy kept in a tmpfs of
 * sbx's own (ROOTFS_RUNTIME_DIR). The sandbox's ids walk no host path (the tree may live
 * in a 0700 home directory), and no host path shows in its mountinfo.
 * Parent only; returns 0 or -errno. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define ROOTFS_RUNTIME_DIR "/run/sbx/runtime"
/* An empty read-only directory there: the lower layer of a read-only root, and where a
 * restore's CRIU, in a mount namespace of its own, finds the layer's shm/ bound. */
#define ROOTFS_RUNTIME_EMPTY ROOTFS_RUNTIME_DIR "/empty"
/* The shared /dev, a directory of the runtime tmpfs (rootfs_runtime_dev). Its name
 * changes with what it holds: a snapshot names the one its sandbox had. */
#define ROOTFS_DEV_TEMPLATE "sbx-dev-1"
#define ROOTFS_DEV_DIR ROOTFS_RUNTIME_DIR "/" ROOTFS_DEV_TEMPLATE
#define ROOTFS_MAX_BINDS 32
#define ROOTFS_MAX_DEVICES 48
#define ROOTFS_MAX_LOWERS 64

struct rootfs_plan {
	const char *image;	    /* the image's root directory (lower layer) */
	const char *const *lowers;  /* its layers below, top first, NULL-terminated, or NULL */
	const char *const *binds;   /* host source, sandbox target pairs; NULL-terminated */
	const char *const *devices; /* host node, name in /dev pairs (granted GPUs), or NULL */
	const char *init;	    /* sbx-init's copy in the runtime tmpfs (rootfs_runtime_init),
				   * or NULL for none */
	const char *dev;	    /* the shared /dev (rootfs_runtime_dev), or NULL */
	uint64_t writable_bytes;    /* 0: read-only root */
	/* With @writable_bytes: a directory holding empty upper/ and work/ (the daemon's
	 * host-visible layer), or NULL for a private tmpfs of that size. */
	const char *layer_dir;
	/* With @layer_dir: /dev/shm is its shm/ directory (made here, the sandbox root's,
	 * sticky and world-writable), a detached clone in rootfs_mounts.shm. */
	bool shm_in_layer;
	uid_t base; /* host id of the sandbox's root: owner of the upper layer's root */
};

struct rootfs_mounts {
	int root, init, dev, shm;
	int binds[ROOTFS_MAX_BINDS];
	unsigned nbinds;
	int devices[ROOTFS_MAX_DEVICES];
	unsigned ndevices;
	/* The overlay's layers, detached mounts of their own (-1: none of ours): closing one
	 * unmounts it, which waits for an RCU grace period, so a sandbox keeps them until
	 * it ends rather than pay for that on its launch. */
	int layers[2];
	int lowers[ROOTFS_MAX_LOWERS]; /* the image's layers below layers[0] */
	unsigned nlowers;
};

#define ROOTFS_MOUNTS_INIT                                                                         \
	{                                                                                          \
		.root = -1, .init = -1, .dev = -1, .shm = -1, .layers = { -1, -1 }                 \
	}

/* The mounts for @plan, idmapped through @userns_fd (the sandbox's user namespace, or one
 * with the same map). The caller closes them with rootfs_mounts_close(). */
int rootfs_prepare(const struct rootfs_plan *plan, int userns_fd, struct rootfs_mounts *ret);
/* The shm/ directory of the layer @layer_fd (a directory or mount of it): made unless it
 * is there, owned by @base, sticky and world-writable. */
int rootfs_layer_shm(int layer_fd, uid_t base);
#define ROOTFS_LAYER_SHM "shm"
void rootfs_mounts_close(struct rootfs_mounts *m);

/* A detached clone of @path (with the mounts below it when @recursive) with @attrs
 * (MOUNT_ATTR_*), idmapped through @userns_fd when its file system allows. A descriptor
 * or -errno. */
int rootfs_clone_mount(const char *path, bool recursive, uint64_t attrs, int userns_fd);

/* A new detached mount of file system @type (no source, no options: sysfs, mqueue) of
 * the caller's namespaces, with @attrs. A descriptor or -errno. */
int rootfs_new_mount(const char *type, uint64_t attrs);

/* Copies the file @from to @to_fd with read and write (the destination may be
 * O_APPEND, which sendfile refuses). */
int rootfs_copy(const char *from, int to_fd);

/* sbx-init's copy in the runtime tmpfs (mounted there on first use; one copy per build
 * of sbx-init, named by its identity, so sandboxes of other builds keep theirs until
 * they end). The path (malloc'd) in *ret_path. */
int rootfs_runtime_init(const char *init_path, char **ret_path);
/* sbx-tar's copy there, as "tar" in a directory of its own (CRIU runs the tar its PATH
 * finds). The directory (malloc'd) in *ret_dir. */
int rootfs_runtime_tar(const char *tar_path, char **ret_dir);
/* The shared /dev in the runtime tmpfs, made unless it is there: owned by the host's
 * root, read-only in every sandbox, holding what rootfs_dev_fill makes. A sandbox
 * without granted devices binds it as its /dev, in place of a tmpfs of its own: a
 * checkpoint then keeps none of it. It is ROOTFS_DEV_DIR. */
int rootfs_runtime_dev(void);
/* /dev's entries in the empty directory @dir: the mount points of the host's nodes
 * (SANDBOX_DEV_NODES) and of sbx-init, the links (fd, stdin, ptmx, ...), and empty pts
 * and shm directories (a sandbox mounts its own over them), none writable but by their
 * owner. Async-signal-safe (a launch's child fills its tmpfs /dev with it); -errno. */
int rootfs_dev_fill(int dir);
