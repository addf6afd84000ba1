/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Orphans: a claims/<n> without its blocks/<n>, left by a host whose lease
 * expired with the block held (loader/fleet/lease.h). Included by lease.h.
 */
#ifndef PS_FLEET_LEASE_ORPHANS_H
#define PS_FLEET_LEASE_ORPHANS_H

#include <stdint.h>

#include "core/error.h"

struct ps_lease;
struct ps_lease_block;

/*
 * Puts every orphan of pool @pool in quarantine (an orphan: claims/<n>
 * without blocks/<n>; ps_lease_tick() does it every sweep_ms). @found: how
 * many it quarantined (may be NULL).
 */
int ps_lease_sweep(struct ps_lease *l, unsigned int pool, unsigned int *found, struct ps_error *error);

/* ---- for the engine's own files: a take meets orphans, the tick readopts ---- */

/*
 * Puts orphan @n (claims/<n> without blocks/<n>) in quarantine: a lease of
 * quarantine_s that etcd expires, and a txn that holds only when the block
 * is still an orphan.
 */
int ps_lease_quarantine(struct ps_lease *l, unsigned int pool, uint32_t n, struct ps_error *error);
/*
 * After a lease loss, with a new lease: takes back a LOST block whose claim
 * is still the one this host wrote (nobody put it in quarantine yet).
 */
int ps_lease_readopt(struct ps_lease *l, struct ps_lease_block *b, uint64_t now, struct ps_error *error);
/*
 * The lease of ps_lease_adopt(), tried once etcd answers: kept alive and
 * made this host's (its blocks read back at the reconcile), or, gone, this
 * host's orphans listed as LOST blocks for ps_lease_readopt(). l->lease
 * stays 0 when it is gone: the caller grants a new one.
 */
int ps_lease_adopt_step(struct ps_lease *l, uint64_t now, struct ps_error *error);

#endif
