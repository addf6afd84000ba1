/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which pool slot a pool gets: the rule the socket side and steering share,
 * so that a pool has the same slot in ps_pools and in ps_steer_pools. A pool
 * keeps the slot ps_pools has under its name; another takes a free one.
 * Each side adds its own preferences between the two (see sock/slots.c and
 * steer/slots.c).
 */
#ifndef PS_CORE_SLOTS_H
#define PS_CORE_SLOTS_H

#include <stdbool.h>

#include "portslice.h"

struct ps_slots {
	struct ps_pool pools[PS_MAX_POOLS]; /* ps_pools as read; a name is written in for each slot given out */
	bool taken[PS_MAX_POOLS];           /* a pool has the slot: one of ps_pools, or one given out since */
};

/*
 * Reads ps_pools (@pools_fd; -1: nothing pinned, every slot free) into @s.
 * A slot that cannot be read counts as free. Returns 0, or the negative
 * errno of the first slot that could not be read.
 */
int ps_slots_read(int pools_fd, struct ps_slots *s);

/* The slot ps_pools (or ps_slots_give()) has under @name, or -1. */
int ps_slots_named(const struct ps_slots *s, const char *name);

/* The lowest slot not taken and not marked in @avoid (NULL: avoid none), or -1. */
int ps_slots_free(const struct ps_slots *s, const bool *avoid);

/* Gives @slot to the pool @name: later lookups see it taken. */
void ps_slots_give(struct ps_slots *s, int slot, const char *name);

#endif
