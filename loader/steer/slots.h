/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Which pool slot (owner table of ps_steer_owner) each of the config's pools gets. */
#ifndef PS_STEER_SLOTS_H
#define PS_STEER_SLOTS_H

#include <stddef.h>

#include "core/config.h"
#include "core/error.h"
#include "steer/maps.h"

/*
 * Fills slot[i] for each pool of @cfg; @old are the entries ps_steer_pools
 * has now. Fails (ENOSPC) when the socket side's pools and the config's do
 * not fit together.
 */
int ps_steer_assign_slots(const struct ps_config *cfg, const struct ps_steer_pool_entry *old, size_t n_old,
			  int slot[PS_MAX_POOLS], struct ps_error *error);

#endif
