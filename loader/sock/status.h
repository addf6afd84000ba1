/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The socket side of `portslice status --json`, as a json-c object: the
 * attached cgroups and, per pool, slice, tuples in use and counters. The
 * metrics (stats --prometheus, the agent's endpoint) are derived from the
 * same object, so the two never disagree.
 */
#ifndef PS_SOCK_STATUS_H
#define PS_SOCK_STATUS_H

#include <stddef.h>
#include <json-c/json.h>

#include "core/error.h"
#include "sock/maps.h"

/*
 * @mnt: the cgroup2 mount (for absolute paths). TIME_WAIT is read in this
 * network namespace and in those of the attached cgroups' processes. NULL
 * on error (recorded).
 */
json_object *ps_status_build(const struct ps_maps *maps, const char *mnt, struct ps_error *error);
/* The same, reading TIME_WAIT in the @netns files (/run/netns/NAME, /proc/PID/ns/net) too. */
json_object *ps_status_build_netns(const struct ps_maps *maps, const char *mnt, const char *const *netns,
				   size_t n_netns, struct ps_error *error);
/* What status reports when nothing of the socket side is pinned. */
json_object *ps_status_unattached(void);
#endif
