/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Steering's maps, opened or made, and filled from the fleet config (see steer/links.h for the pins). */
#ifndef PS_STEER_MAPS_H
#define PS_STEER_MAPS_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "core/config.h"
#include "core/error.h"
#include "steer.h"

/* Loader-made map (not in the BPF object): host id -> host name, for status. */
#define PS_STEER_NAMES_MAP "ps_steer_names"

/* The fds of the pinned steering maps, -1 where not open. */
struct ps_steer_maps {
	int pools, owner, hosts, local_macs, peer_macs, gen, lease, meta, names;
};
#define PS_STEER_MAPS_CLOSED { -1, -1, -1, -1, -1, -1, -1, -1, -1 }

/*
 * Opens the program's maps (pinned when it was loaded) and opens or makes
 * the loader's own (layout stamp, host names); stamps the layout.
 */
int ps_steer_maps_open(struct ps_steer_maps *m, struct ps_error *error);
void ps_steer_maps_close(struct ps_steer_maps *m);

/* An entry of ps_steer_pools: a pool address and the slot of its owner table. */
struct ps_steer_pool_entry {
	struct ps_addr_key key;
	__u32 slot;
};

/* The key of ps_steer_pools for an address of @family. */
void ps_steer_addr_key(int family, const uint8_t addr[16], struct ps_addr_key *key);
/* The entries of ps_steer_pools (@fd), at most @max. Returns how many. */
int ps_steer_pool_entries(int fd, struct ps_steer_pool_entry *out, size_t max);

/* Writes hosts, pool addresses and owner tables of @cfg, each pool in slot[i]. */
int ps_steer_maps_fill(const struct ps_steer_maps *m, const struct ps_config *cfg, const int slot[PS_MAX_POOLS],
		       struct ps_error *error);
/* Writes the loop guards' MAC sets: this host's on @ifindex, and those of the hosts other than @self_id. */
int ps_steer_guards_fill(const struct ps_steer_maps *m, const struct ps_config *cfg, __u32 self_id,
			 const __u32 *ifindex, size_t n_if, struct ps_error *error);
/* Voids the running programs' memos of the maps: after every write. */
int ps_steer_gen_bump(int fd, struct ps_error *error);

#endif
