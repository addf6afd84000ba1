/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's steering of dynamic pools: which lease follower
 * (agent/lease_watch.h) runs, if any, for the config in force and the
 * steering maps as the kernel has them.
 *
 * A follower runs when the config has a steering: section and dynamic
 * pools, and the steering maps are pinned. Each dynamic pool is followed
 * in the slot ps_steer_pools gives its address: the slot is read from the
 * map, not from the config, so that whoever wrote the maps (the agent's
 * reconcile or `portslice steer attach`) the follower writes where the XDP
 * program looks. The follower is kept while what it was started with
 * (etcd, prefix, pools and their slots, host ids, the owner map itself)
 * stays the same, and restarted otherwise; a restart reads the lease table
 * whole, so no change is missed.
 *
 * The config's writer of the maps leaves the owners of a dynamic pool that
 * keeps its slot alone (steer/maps.c): a reload costs the follower's
 * ports no reply.
 */
#ifndef PS_AGENT_STEER_FOLLOW_H
#define PS_AGENT_STEER_FOLLOW_H

#include <stdbool.h>

#include "agent/lease_watch.h"
#include "core/config.h"
#include "core/error.h"

struct ps_steer_follow;

/*
 * Starts, keeps, restarts or stops *@f for @cfg as @host (NULL: none runs).
 * Cheap when nothing changed: a few map lookups. Returns 0, or the error of
 * a follower that could not start (*@f is then NULL; the next call tries
 * again).
 */
int ps_steer_follow_sync(struct ps_steer_follow **f, const struct ps_config *cfg, const char *host,
			 struct ps_error *error);

/* Stops and frees @f (NULL: nothing). */
void ps_steer_follow_stop(struct ps_steer_follow *f);

/* The follower's counters (zeros, .connected false, for NULL). */
void ps_steer_follow_stats(const struct ps_steer_follow *f, struct ps_lease_watch_stats *out);

/* Pools it follows (0 for NULL). */
size_t ps_steer_follow_pools(const struct ps_steer_follow *f);

#endif
