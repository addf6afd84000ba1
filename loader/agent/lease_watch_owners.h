/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Internal to the steering follower (lease_watch*.c): its state, and what
 * turns the lease table and its watch events into owners in
 * ps_steer_owner (lease_watch_owners.c), apart from the thread that
 * follows etcd and its stats (lease_watch.c).
 */
#ifndef PS_AGENT_LEASE_WATCH_OWNERS_H
#define PS_AGENT_LEASE_WATCH_OWNERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

#include "agent/lease_watch.h"
#include "core/error.h"
#include "fleet/etcd.h"

struct pool_state {
	struct ps_lease_watch_pool cfg; /* name: our own copy */
	__u32 *owner;                   /* per block, as last written */
};

struct ps_lease_watch {
	pthread_t thread;
	pthread_mutex_t lock;           /* everything below the client, and the map writes */
	pthread_cond_t wake;            /* stop, during a back-off */
	struct ps_etcd *etcd;           /* the follower's thread only (but for ps_etcd_cancel()) */
	char *prefix, *watch_key;
	int owner_fd;
	struct pool_state *pools;
	size_t n_pools;
	ps_lease_watch_host_fn host_id;
	void *host_ctx;
	unsigned int watch_ms, silence_ms, backoff_max_ms;
	bool stop, need_snapshot;
	unsigned int failures;          /* in a row */
	struct ps_lease_watch_stats st;
	uint64_t window[PS_LEASE_WATCH_LAG_WINDOW]; /* the last lags, us */
};

/* Reads the whole table and writes every block of the given pools; the watch goes on from its revision. */
int ps_lease_watch_snapshot(struct ps_lease_watch *w, struct ps_error *error);
/* One event: its block's owner written. Called with the lock held. */
int ps_lease_watch_apply(struct ps_lease_watch *w, const struct ps_etcd_event *ev, struct ps_error *error);
/* Writes every block of @p from p->owner. Called with the lock held. */
int ps_lease_watch_write_pool(struct ps_lease_watch *w, struct pool_state *p, struct ps_error *error);

/* In lease_watch.c, called with the lock held: a steering update's lag; what the client did. */
void ps_lease_watch_note_lag(struct ps_lease_watch *w, uint64_t lag_us, uint64_t write_us);
void ps_lease_watch_note_client(struct ps_lease_watch *w, bool answered);

#endif
