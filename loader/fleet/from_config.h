/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The leasing engine's and the etcd client's options from a fleet config
 * (docs/fleet.md, "Wiring"): its etcd: section and its dynamic pools.
 */
#ifndef PS_FLEET_FROM_CONFIG_H
#define PS_FLEET_FROM_CONFIG_H

#include <stdbool.h>

#include "core/config.h"
#include "core/error.h"
#include "fleet/etcd.h"
#include "fleet/lease.h"

/* Does any pool of @cfg say slices: dynamic? */
bool ps_config_has_dynamic(const struct ps_config *cfg);

/*
 * Fills @lc (for ps_lease_new()) and @eo (for ps_etcd_open()) for @host
 * from @cfg: its dynamic pools in config order (lc->pools[i] is the i-th
 * dynamic pool), every value of etcd: with its default filled in. Strings
 * point into @cfg: keep it while they are used. EINVAL when @cfg has no
 * dynamic pool or no etcd:, or @host is not a host name.
 */
int ps_fleet_lease_config(const struct ps_config *cfg, const char *host, struct ps_lease_cfg *lc,
			  struct ps_etcd_opts *eo, struct ps_error *error);

#endif
