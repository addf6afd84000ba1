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
 * Called with every batch of events a watch brings, and once (n 0) when
 * the watch is set up. Returning true ends the watch.
 */
typedef bool (*ps_etcd_watch_fn)(void *ctx, const struct ps_etcd_event *ev, size_t n, int64_t revision);

/*
 * Watches @key (a prefix with @prefix) from @start_rev (0: from now), for
 * at most @max_ms, calling @fn as events come. Returns 0 when @fn ended it
 * or the time was up, ERANGE when @start_rev was compacted (read the range
 * again and watch from its revision + 1), another error when the endpoint
 * was lost (watch again, from the last revision seen + 1).
 */
int ps_etcd_watch(struct ps_etcd *c, const char *key, bool prefix, int64_t start_rev, unsigned int max_ms,
		  ps_etcd_watch_fn fn, void *ctx, struct ps_error *error);

#endif
