/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's leasing task: a thread of its own that runs the leasing
 * engine (fleet/lease.h) for the config's dynamic pools and keeps the
 * socket side's maps in step with it, with map updates only:
 *
 *   - every tick (100 ms): the engine's step, with the load of each pool
 *     (claims towards its busiest destination, read from ps_tuples once a
 *     second, or the ports its binds hold whole if more);
 *   - when the engine's blocks changed: each pool's block table, blocks that
 *     offer ports as held, the others (draining, lost, or all of them while
 *     fenced) as draining, which keeps their sockets and replies;
 *   - every tick: the lease state (struct ps_lease_state), whose fencing
 *     deadline the BPF side checks by itself, so that a stalled or killed
 *     agent stops handing out ports before etcd can expire its lease.
 *
 * It never takes the state lock: it writes only the dynamic pools' block
 * tables and ps_lease, which attach leaves alone once they exist.
 */
#ifndef PS_AGENT_LEASE_TASK_H
#define PS_AGENT_LEASE_TASK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"
#include "fleet/lease.h"

/* What the task shows the metrics endpoint, copied under the agent's lock. */
struct ps_lease_task_stats {
	bool running;               /* a task runs (the config has dynamic pools) */
	bool etcd_ok;               /* the last keepalive was answered */
	bool fenced;                /* no port is handed out from any block */
	int64_t lease_id;           /* 0: none */
	uint64_t ttl_left_ms;       /* until etcd may expire the lease, at the earliest */
	unsigned int n_pools;
	struct {
		char name[PS_LEASE_NAME_LEN];
		unsigned int held, draining, lost;
	} pools[PS_LEASE_MAX_POOLS];
	struct ps_lease_stats engine;
	uint64_t etcd_requests, etcd_failovers;
	uint64_t tick_errors;       /* steps that failed (etcd unreachable, ...): retried at the next */
	uint64_t table_writes;      /* block tables written into the BPF side */
};

struct ps_lease_task;

/*
 * Starts the task for @cfg's dynamic pools as @host (nothing is started, and
 * *@t stays NULL, when @cfg has none). Every setting is copied: @cfg may go
 * away. @lock and @stats: where the task publishes its stats (the agent's
 * metrics lock and slot).
 */
int ps_lease_task_start(struct ps_lease_task **t, const struct ps_config *cfg, const char *host,
			pthread_mutex_t *lock, struct ps_lease_task_stats *stats, struct ps_error *error);

/*
 * Stops and frees the task, at once: its etcd request in flight is cancelled
 * (ps_etcd_cancel()). The lease is left to expire, not revoked: its
 * blocks then go through quarantine, which their sockets' TIME_WAIT needs
 * anyway; a restarted agent takes blocks under a new lease.
 */
void ps_lease_task_stop(struct ps_lease_task *t);

/* True when @a and @b would run the same task (a reload that keeps it running). */
bool ps_lease_task_same(const struct ps_lease_task *t, const struct ps_config *cfg, const char *host);

#endif
