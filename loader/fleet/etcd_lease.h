/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Leases: the keys put under one go when it expires or is revoked (loader/fleet/etcd.h: the client). */
#ifndef PS_FLEET_ETCD_LEASE_H
#define PS_FLEET_ETCD_LEASE_H

#include <stdint.h>

#include "core/error.h"

struct ps_etcd;

int ps_etcd_lease_grant(struct ps_etcd *c, int64_t ttl, int64_t *id, int64_t *granted_ttl, struct ps_error *error);
/* One keepalive: @ttl the TTL etcd gave it again; ENOENT when the lease is gone. */
int ps_etcd_lease_keepalive(struct ps_etcd *c, int64_t id, int64_t *ttl, struct ps_error *error);
/* Revoking deletes the lease's keys at once. ENOENT: no such lease. */
int ps_etcd_lease_revoke(struct ps_etcd *c, int64_t id, struct ps_error *error);
/* @ttl the seconds left (-1: expired or unknown), @granted the TTL it was granted with. */
int ps_etcd_lease_ttl(struct ps_etcd *c, int64_t id, int64_t *ttl, int64_t *granted, struct ps_error *error);

#endif
