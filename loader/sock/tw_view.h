/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel's own view of what blocks a slice besides portslice's claims:
 * TCP sockets in TIME_WAIT on a pool address and a slice port. connect()
 * cannot take such a tuple until the kernel lets it go (or reuses it: see
 * tcp_tw_reuse), so they count against a destination's headroom although no
 * claim names them. Read through sock_diag (sock/sockdiag.c) in every
 * network namespace the attached cgroups' processes live in, and this one.
 */
#ifndef PS_SOCK_TW_VIEW_H
#define PS_SOCK_TW_VIEW_H

#include <stddef.h>
#include <linux/types.h>

#include "portslice.h"

/* One TIME_WAIT tuple on a slice port of the pool in @slot. */
struct ps_tw_tuple {
	__u32 slot;
	__u32 raddr[4];     /* network order, IPv4 in [0] */
	__u16 lport, rport; /* host order */
};

typedef int (*ps_tw_cb)(const struct ps_tw_tuple *t, void *arg);

/* Where to look: absolute cgroup directories (their processes' namespaces), netns files. */
struct ps_tw_where {
	char *const *cgroups;
	size_t n_cgroups;
	const char *const *netns;   /* /run/netns/NAME, /proc/PID/ns/net, ... */
	size_t n_netns;
};

/*
 * Calls @cb for each TIME_WAIT tuple on an active pool's address with a
 * port of its slice, in the current network namespace, in those of the
 * processes of @w's cgroups (descendants included) and in @w's netns
 * files; each namespace once. *n_read: how many namespaces were read.
 * Returns 0 or -errno (a netns file that cannot be opened: -errno).
 */
int ps_tw_scan(const struct ps_pool pools[PS_MAX_POOLS], const struct ps_tw_where *w, ps_tw_cb cb, void *arg,
	       unsigned int *n_read);

#endif
