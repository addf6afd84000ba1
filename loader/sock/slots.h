/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Placing a host's pools from the config into the shared maps. */
#ifndef PS_SOCK_SLOTS_H
#define PS_SOCK_SLOTS_H

#include "core/error.h"

#include "core/config.h"
#include "core/pins.h"
#include "sock/maps.h"

/* This host's view of the pools an attachment asks for, in config order. */
struct ps_selection {
	const struct ps_pool_cfg *pool[PS_MAX_POOLS];
	const struct ps_slice_cfg *slice[PS_MAX_POOLS];
	size_t n;
};

/*
 * Picks the pools for @host: those named in @names, or every pool with a
 * slice for @host when n_names is 0.
 */
int ps_select_pools(const struct ps_config *cfg, const char *host, char *const *names, size_t n_names,
		    struct ps_selection *sel, struct ps_error *error);

/*
 * Gives every selected pool a slot (the one it already has, by name, or a
 * free one) and fills @att with mask and order. @pools_fd may be -1 when
 * nothing is pinned yet.
 */
int ps_assign_slots(int pools_fd, const struct ps_selection *sel, struct ps_attachment *att, struct ps_error *error);

/*
 * Writes the selected pools into the maps: pool, address and destination
 * entries, and their block tables. A pool that exists is updated in place,
 * so sockets that hold its ports keep them; destinations are added before
 * stale ones go. A dynamic pool's hull is its whole ports: range and its
 * table the agent's (ps_blocks_install_dynamic(): empty until blocks are
 * written).
 */
int ps_install_pools(const struct ps_maps *maps, const struct ps_selection *sel,
		     const struct ps_attachment *att, struct ps_error *error);

struct json_object;

/*
 * The selection's pool @i, for attach's and validate's output: {name,
 * address, first_port, last_port, dynamic, and a dynamic pool's
 * block_size, min_blocks, max_blocks}; and as one line of text.
 */
struct json_object *ps_selection_pool_json(const struct ps_selection *sel, size_t i);
void ps_selection_pool_print(const struct ps_selection *sel, size_t i, const char *indent);

/* Reads all pool slots; returns how many are active. */
int ps_read_pools(int pools_fd, struct ps_pool pools[PS_MAX_POOLS]);

#endif
