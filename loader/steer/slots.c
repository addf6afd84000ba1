// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/pins.h"
#include "core/slots.h"
#include "steer/slots.h"

/* The slot steering gave @pool's address before, if no pool has it now; else -1. */
static int old_slot(const struct ps_slots *slots, const struct ps_pool_cfg *pool,
		    const struct ps_steer_pool_entry *old, size_t n_old)
{
	struct ps_addr_key key;
	int slot = -1;

	ps_steer_addr_key(pool->family, pool->addr, &key);
	for (size_t j = 0; j < n_old; j++)
		if (old[j].slot < PS_MAX_POOLS && !slots->taken[old[j].slot] && !memcmp(&old[j].key, &key, sizeof(key)))
			slot = (int)old[j].slot;
	return slot;
}

/*
 * Slots by pool name, the same as the socket side's: a pool the socket side
 * placed keeps its slot (ps_pools, by name); another keeps the slot steering
 * gave its address before, if still free; the rest take free slots, those
 * steering did not use before first (so a refresh never points an address at
 * a table being rewritten for another pool).
 */
int ps_steer_assign_slots(const struct ps_config *cfg, const struct ps_steer_pool_entry *old, size_t n_old,
			  int slot[PS_MAX_POOLS], struct ps_error *error)
{
	bool used_before[PS_MAX_POOLS] = {};
	struct ps_slots slots;
	int fd = ps_pin_map_open("ps_pools");

	/* Slots that cannot be read count as free, as when nothing is pinned. */
	ps_slots_read(fd, &slots);
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; i < n_old; i++)
		if (old[i].slot < PS_MAX_POOLS)
			used_before[old[i].slot] = true;

	for (size_t i = 0; i < cfg->n_pools; i++)
		slot[i] = ps_slots_named(&slots, cfg->pools[i].name);
	for (size_t i = 0; i < cfg->n_pools; i++) {
		if (slot[i] < 0)
			slot[i] = old_slot(&slots, &cfg->pools[i], old, n_old);
		if (slot[i] >= 0)
			ps_slots_give(&slots, slot[i], cfg->pools[i].name);
	}
	for (size_t i = 0; i < cfg->n_pools; i++) {
		if (slot[i] >= 0)
			continue;
		slot[i] = ps_slots_free(&slots, used_before);
		if (slot[i] < 0)
			slot[i] = ps_slots_free(&slots, NULL);
		if (slot[i] < 0)
			return ps_fail(error, ENOSPC, "no free pool slot for pool '%s': the socket side's pools and the config's together exceed %d; "
				      "detach cgroups whose pools are gone (portslice status shows them)",
				      cfg->pools[i].name, PS_MAX_POOLS);
		ps_slots_give(&slots, slot[i], cfg->pools[i].name);
	}
	return 0;
}
