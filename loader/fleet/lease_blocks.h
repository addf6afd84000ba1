/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Internal to the leasing engine (lease*.c): this host's blocks in etcd.
 * Every change is a txn whose comparisons fail when it was applied already,
 * so that a change retried after a timeout cannot take or free a block twice.
 */
#ifndef PS_FLEET_LEASE_BLOCKS_H
#define PS_FLEET_LEASE_BLOCKS_H

#include <stdint.h>

#include "core/error.h"
#include "fleet/lease.h"

/* A txn that changes our blocks; when it fails it may have been applied all the same: read them back. */
int ps_lease_change(struct ps_lease *l, const struct ps_etcd_txn *t, struct ps_etcd_txn_result *res,
		    struct ps_error *error);
/*
 * The pool's occupancy, keys only: @busy[n] is set for a block with any
 * key; orphans (a claim without its block, and no quarantine) get 2.
 */
int ps_lease_occupancy(struct ps_lease *l, unsigned int pool, uint8_t *busy, struct ps_error *error);
/* After a change whose outcome is unknown: our blocks as etcd has them, under our lease. */
int ps_lease_reconcile(struct ps_lease *l, uint64_t now, struct ps_error *error);
/*
 * One pool's step of ps_lease_tick(): release drained blocks without
 * claims, take blocks (a draining one back first) up to min_blocks or when
 * the busiest destination passes grow_at, drain one after a quiet period.
 */
int ps_lease_tick_pool(struct ps_lease *l, unsigned int pool, uint64_t now, const struct ps_lease_load *load,
		       struct ps_error *error);

#endif
