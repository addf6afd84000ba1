/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The socket side's maps: pinned under <pin dir>/maps/ by the first attach
 * (the BPF object's own, reused by every later load) and stamped with
 * PS_LAYOUT_VERSION in ps_meta.
 */
#ifndef PS_SOCK_MAPS_H
#define PS_SOCK_MAPS_H

#include "core/error.h"
#include "portslice.h"

struct ps_sock;

/* Fds of the pinned shared maps, -1 where not open. */
struct ps_maps {
	int pools;
	int pool_addrs;
	int dst4;
	int dst6;
	int tuples;
	int port_users;
	int sk_state;
	int stats;
	int attachments;
	int meta;
	int live;
	int blocks;
	int blocks_gen;
	int lease;           /* struct ps_lease_state: the agent's leasing task writes it */
	int port_tw;         /* the TIME_WAIT stamps, quarantined tuples and whether any was: */
	int quarantine;      /* what ps_blocks_users() counts besides the port words */
	int quarantine_used;
};

#define PS_MAPS_NONE { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 }

/* Opens the pinned maps (all, or fails). Checks the layout version. */
int ps_maps_open(struct ps_maps *maps, struct ps_error *error);
void ps_maps_close(struct ps_maps *maps);

/*
 * Opens the BPF object with its maps pinned under <pin dir>/maps (reused
 * when present), with this attachment's pools set in .rodata, and loads it.
 */
int ps_skel_load(struct ps_sock **skel, const struct ps_attachment *att, __u64 cgroup_id, struct ps_error *error);

/* The skeleton's map fds, borrowed (do not ps_maps_close() them). */
void ps_maps_from_skel(struct ps_sock *skel, struct ps_maps *maps);

#endif
