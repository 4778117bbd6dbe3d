// SPDX-License-Identifier: MIT
/* An OCI bundle's capabilities: built, then kept across the change of identity. */
#define _GNU_SOURCE
#include "privs.h"

#include <errno.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

cap_t privs_sets(const struct sandbox_caps *c)
{
	/* Ambient ones must be permitted and inheritable; effective ones permitted. */
	if ((c->ambient & ~(c->permitted & c->inheritable)) || (c->effective & ~c->permitted)) {
		errno = EINVAL;
		return NULL;
	}
	cap_t sets = cap_init();
	for (unsigned n = 0; sets && n < 64; n++) {
		cap_value_t v = (cap_value_t)n;
		uint64_t bit = 1ULL << n;
		if (((c->effective & bit) && cap_set_flag(sets, CAP_EFFECTIVE, 1, &v, CAP_SET)) ||
		    ((c->permitted & bit) && cap_set_flag(sets, CAP_PERMITTED, 1, &v, CAP_SET)) ||
		    ((c->inheritable & bit) &&
		     cap_set_flag(sets, CAP_INHERITABLE, 1, &v, CAP_SET))) {
			cap_free(sets);
			errno = EINVAL;
			return NULL;
		}
	}
	return sets;
}

int privs_become(uid_t uid, gid_t gid, const gid_t *groups, unsigned ngroups, cap_t sets,
		 uint64_t bounding, uint64_t ambient, unsigned cap_last)
{
	/* The bounding set first (needs CAP_SETPCAP), then ambient, then the identity
	 * (keeping what is permitted across it), then the sets. */
	for (unsigned c = 0; c <= cap_last; c++)
		if ((c >= 64 || !(bounding & (1ULL << c))) && cap_drop_bound((cap_value_t)c) < 0 &&
		    errno != EINVAL)
			return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 ||
	    prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return -1;
	/* By the raw system calls: glibc's wrappers signal each thread of the caller, which a
	 * cloned child still believes it has. */
	if ((ngroups && syscall(SYS_setgroups, ngroups, groups) < 0) ||
	    syscall(SYS_setresgid, gid, gid, gid) < 0 || syscall(SYS_setresuid, uid, uid, uid) < 0)
		return -1;
	if (cap_set_proc(sets) < 0)
		return -1;
	for (unsigned c = 0; c <= cap_last && c < 64; c++)
		if ((ambient & (1ULL << c)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			return -1;
	return 0;
}
