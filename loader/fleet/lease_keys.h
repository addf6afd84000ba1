/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Internal to the leasing engine (lease*.c): the key schema of lease.h
 * ("P/pools/<pool>/<kind>/<n>") and the values written in the keys, in one
 * place so that the engine's writes and the table's reads agree.
 */
#ifndef PS_FLEET_LEASE_KEYS_H
#define PS_FLEET_LEASE_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet/lease.h"

#define PS_LEASE_KEY_LEN 384

/* P/pools/<pool>/<kind>/<n> into @buf (PS_LEASE_KEY_LEN bytes). */
void ps_lease_key(char *buf, const struct ps_lease *l, unsigned int pool, const char *kind, uint32_t n);
/* The suffix of "P/pools/<pool>/<kind>/<n>" after the pool's prefix: kind and n. */
bool ps_lease_parse_key(const char *k, size_t plen, char *kind, size_t klen, uint32_t *n);
/* Wall clock, ms: the "since" of values, for people and for measuring how fast watchers see a change. */
long long ps_lease_wall_ms(void);
/* The value of blocks/<n> this host writes: {"host","state","since","lease"}. */
void ps_lease_block_value(char *buf, size_t len, const struct ps_lease *l, enum ps_block_state state);
/* The keys and values of a block this host holds: blocks/<n> (256 bytes) and claims/<n> (256). */
void ps_lease_held_values(const struct ps_lease *l, unsigned int pool, uint32_t n, char *kb, char *vb, char *kc,
			 char *vc);

#endif
