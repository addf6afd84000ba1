/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Steering from the watch (issue 17, docs/fleet.md "Steering from the
 * watch"): a follower that keeps ps_steer_owner in step with the fleet's
 * lease table in etcd, for the dynamic pools it is given.
 *
 * It runs in a thread of its own with an etcd client of its own: reads the
 * table (ps_lease_table_json(), its revision), writes every block of the
 * given pools, then watches "<prefix>/pools/" from that revision + 1 and
 * writes each block as its keys change:
 *
 *   blocks/<n> PUT                 the value's "host" (its id, 0 when the
 *                                  host is not under hosts:)
 *   blocks/<n> DELETE              0: replies to the block are dropped
 *   quarantine/<n> PUT or DELETE   0
 *   claims/<n>                     nothing
 *
 * and the table read gives a block whose blocks/<n> exists its holder's
 * id, any other 0. (blocks/<n> and quarantine/<n> never both exist: a
 * take needs quarantine/<n> absent, a quarantine blocks/<n> absent. If
 * they did, the last event would say 0 and a table read the holder.)
 *
 * One watch request lasts long (watch_ms) and asks for etcd's progress
 * notifications, which move the revision on while nothing changes. One
 * that brings nothing, not even those, for silence_ms is set up again at
 * once, and a member that does not answer then is passed over: a member
 * that died without a reset (hung, or its host gone) is left within
 * silence_ms + the client's timeout. Run the members with
 * --experimental-watch-progress-notify-interval=3s (or less) so that a
 * healthy watch never falls silent that long; without it a quiet watch is
 * set up again every silence_ms.
 *
 * A watch that fails (the member went away, the stream ended) is set up
 * again from the last revision applied + 1, on the next member, after a
 * back-off; one whose revision was compacted (ERANGE) reads the table
 * again. Failures are logged (pr_warn) and counted, never fatal.
 *
 * Writes of the XDP program's map are in force for the next packet
 * (steer/owners.h). Another writer of the same slots (a steering refresh
 * from the config) is to be followed by ps_lease_watch_reapply().
 */
#ifndef PS_AGENT_LEASE_WATCH_H
#define PS_AGENT_LEASE_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "fleet/etcd.h"

/* Pools one follower may apply. */
#define PS_LEASE_WATCH_MAX_POOLS 64

/* A dynamic pool: block n is ports port_lo + n * block_size ... + block_size - 1. */
struct ps_lease_watch_pool {
	const char *name;           /* as in etcd's keys (the config's pool name) */
	uint32_t slot;              /* its steering slot (ps_steer_pools), < PS_MAX_POOLS */
	uint32_t port_lo;
	uint32_t block_size;
	uint32_t n_blocks;          /* port_lo + n_blocks * block_size <= 65536 */
};

/*
 * A host's name (the "host" of a blocks/ value) -> its steering id, 0 when
 * unknown. Called on the follower's thread: @ctx must stay valid and
 * unchanged until ps_lease_watch_stop().
 */
typedef unsigned int (*ps_lease_watch_host_fn)(void *ctx, const char *name);

/* A ps_lease_watch_host_fn over the config's hosts: (@ctx a const struct ps_config *). */
unsigned int ps_lease_watch_config_host(void *ctx, const char *name);

struct ps_lease_watch_opts {
	const struct ps_etcd_opts *etcd; /* the follower opens its own client */
	const char *prefix;              /* the keys' prefix, e.g. "/portslice" */
	int owner_fd;                    /* ps_steer_owner; duplicated, the caller keeps its own */
	const struct ps_lease_watch_pool *pools;
	size_t n_pools;
	ps_lease_watch_host_fn host_id;
	void *host_ctx;
	unsigned int watch_ms;           /* one watch request at the most (0: 10 min); stop does not wait for it */
	unsigned int backoff_max_ms;     /* longest wait after a failure (0: 2000); the first is 100 ms */
	unsigned int silence_ms;         /* a watch silent this long is set up again (0: 10000); see above */
};

/* Lag of a steering update: the event's arrival minus its value's "since", plus the map write. */
#define PS_LEASE_WATCH_LAG_BUCKETS 12
/* Upper bounds of the histogram's buckets (ms); the last bucket takes the rest. */
#define PS_LEASE_WATCH_LAG_BOUNDS_MS { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000 }

struct ps_lease_watch_stats {
	uint64_t events;            /* watch events under <prefix>/pools/ */
	uint64_t applied;           /* ... of the given pools' blocks/ and quarantine/ keys: owners written */
	uint64_t ignored;           /* ... of the given pools, about no block of theirs (bad key, block past the end) */
	uint64_t snapshots;         /* tables read and written whole */
	uint64_t compactions;       /* of those, because the revision to watch from was compacted */
	uint64_t watches;           /* watch requests */
	uint64_t silences;          /* ... that ended because nothing came for silence_ms */
	uint64_t progress_notifies; /* progress notifications: the member is alive while nothing changes */
	uint64_t errors;            /* failed table reads, watches and map writes */
	uint64_t unknown_hosts;     /* blocks/ PUTs naming a host not under hosts: (owner 0) */
	uint64_t etcd_requests;     /* the follower's client: requests, failovers to another member */
	uint64_t etcd_failovers;
	bool connected;             /* the last table read or watch got an answer */
	int64_t revision;           /* every change up to this revision is applied (events, progress notifications) */
	char endpoint[256];         /* the member used last */
	/* Lag, blocks/ PUTs seen by the watch (not those of a snapshot), in microseconds. */
	uint64_t lag_n;
	uint64_t lag_last_us, lag_max_us, lag_sum_us;
	uint64_t lag_p50_us, lag_p90_us, lag_p99_us; /* of the last PS_LEASE_WATCH_LAG_WINDOW */
	uint64_t lag_buckets[PS_LEASE_WATCH_LAG_BUCKETS]; /* per bucket, not cumulative */
	uint64_t write_last_us, write_max_us; /* the map write alone */
};
#define PS_LEASE_WATCH_LAG_WINDOW 1024

struct ps_lease_watch;

/* Opens the client and starts the thread; the first table read happens there. */
int ps_lease_watch_start(struct ps_lease_watch **w, const struct ps_lease_watch_opts *o, struct ps_error *error);
/* Ends the thread, cancelling its etcd request in flight (at once, whatever watch_ms), and frees all. NULL: nothing. */
void ps_lease_watch_stop(struct ps_lease_watch *w);
void ps_lease_watch_stats(const struct ps_lease_watch *w, struct ps_lease_watch_stats *out);
/*
 * Writes every block of the given pools again as the follower knows them:
 * after another writer of their slots. Nothing before the first table read
 * (which writes them all).
 */
int ps_lease_watch_reapply(struct ps_lease_watch *w, struct ps_error *error);

#endif
