/* SPDX-License-Identifier: MIT */
/* The capabilities an OCI bundle asks for (sbx-oci), taken by a sandbox's PID 1 (the
 * launcher's child) and by the processes sbx-oci's exec starts: a set built on the
 * parent side, and the identity change that keeps it. */
#pragma once

#include <stdint.h>
#include <sys/capability.h>
#include <sys/types.h>

#include "spec.h"

/* @c's effective, permitted and inheritable sets as a libcap set (caller frees with
 * cap_free). NULL with errno EINVAL when its ambient ones are not permitted and
 * inheritable or its effective ones not permitted, ENOMEM. Allocates: parent side. */
cap_t privs_sets(const struct sandbox_caps *c);

/* Becomes @uid:@gid, with @ngroups @groups when there are some, keeping @sets, of the
 * bounding set only @bounding, and with @ambient raised; @cap_last is the highest
 * capability the kernel knows. Raw system calls and libcap on a set made before:
 * usable in a post-clone child. 0, or -1 with errno. */
int privs_become(uid_t uid, gid_t gid, const gid_t *groups, unsigned ngroups, cap_t sets,
		 uint64_t bounding, uint64_t ambient, unsigned cap_last);
