/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The watch stream: changes of keys as etcd makes them (loader/fleet/etcd.h: the client). */
#ifndef PS_FLEET_ETCD_WATCH_H
#define PS_FLEET_ETCD_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "fleet/etcd_kv.h"

struct ps_etcd;

enum ps_etcd_event_type { PS_ETCD_EV_PUT, PS_ETCD_EV_DELETE };

struct ps_etcd_event {
	enum ps_etcd_event_type type;
	struct ps_etcd_kv kv;       /* a DELETE has the key and its mod_revision only */
};

/*
 * Called with every batch of events a watch brings, and with none (n 0)
 * first when the watch is set up (@revision the store's then: older events
 * may still follow), then at each progress notification (every event up
 * to @revision was delivered: etcd's "bookmarkable" guarantee). Returning
 * true ends the watch.
 */
typedef bool (*ps_etcd_watch_fn)(void *ctx, const struct ps_etcd_event *ev, size_t n, int64_t revision);

struct ps_etcd_watch_opts {
	int64_t start_rev;          /* 0: from now */
	unsigned int max_ms;        /* the request at the most (0: until @fn, a failure or ps_etcd_cancel()) */
	/*
	 * Once set up, a watch that brings nothing for this long, not even a
	 * progress notification, ends with ENODATA (0: never): on a quiet key
	 * only a member that sends progress notifications more often shows it
	 * is alive.
	 */
	unsigned int silence_ms;
	/*
	 * Asks for progress notifications: etcd sends one when the watch had
	 * no event for its --experimental-watch-progress-notify-interval
	 * (etcd 3.4; 10 min unless set).
	 */
	bool progress_notify;
};

/*
 * Watches @key (a prefix with @prefix) as @o says, calling @fn as messages
 * come. Returns 0 when @fn ended it or max_ms was up, ERANGE when
 * start_rev was compacted (read the range again and watch from its
 * revision + 1), ENODATA when it fell silent (watch again: a member that
 * does not answer then is passed over), ECANCELED when the client was
 * cancelled, another error when the endpoint was lost (watch again, from
 * the last revision seen + 1).
 */
int ps_etcd_watch(struct ps_etcd *c, const char *key, bool prefix, const struct ps_etcd_watch_opts *o,
		  ps_etcd_watch_fn fn, void *ctx, struct ps_error *error);

#endif
