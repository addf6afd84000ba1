/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The fleet's table of blocks, for people and the steering (loader/fleet/lease.h). Included by lease.h. */
#ifndef PS_FLEET_LEASE_TABLE_H
#define PS_FLEET_LEASE_TABLE_H

#include <json-c/json.h>

#include "core/error.h"

struct ps_etcd;

/*
 * The fleet's table as etcd has it, for `portslice leases` and the
 * steering: {"revision", "pools": [{"name", "blocks": [{"block", "host",
 * "state": "held|draining|orphan|quarantine", "lease"}...]}]} of every pool
 * under @prefix (@pool NULL) or of one.
 */
int ps_lease_table_json(struct ps_etcd *etcd, const char *prefix, const char *pool, json_object **out,
			struct ps_error *error);

#endif
