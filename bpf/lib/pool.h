/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Which pool, if any, a socket operation belongs to. */
#ifndef PS_BPF_POOL_H
#define PS_BPF_POOL_H

#include "maps.h"

/*
 * Pools this attachment serves, set by the loader between open and load:
 * as a mask for membership tests, and in config order for destination
 * matching (the first pool whose destinations hold the address wins).
 */
const volatile __u64 ps_pool_mask = 0;
const volatile __u8 ps_pool_order[PS_MAX_POOLS] = {};
const volatile __u32 ps_pool_count = 0;
/* The attached cgroup's id, under which placed sockets are counted (ps_live). */
const volatile __u64 ps_attach_id = 0;

static __always_inline struct ps_pool *ps_pool_get(__u32 slot)
{
	struct ps_pool *pool = bpf_map_lookup_elem(&ps_pools, &slot);

	if (!pool || !(pool->flags & PS_POOL_ACTIVE))
		return NULL;
	return pool;
}

/* The first pool of this attachment whose destinations hold @daddr. */
static __always_inline struct ps_pool *ps_pool_for_dst(__u32 family, const __u32 daddr[4],
						     __u32 *slot)
{
	struct ps_dst4_key k4 = { .prefixlen = PS_DST4_PREFIX(32) };
	struct ps_dst6_key k6 = { .prefixlen = PS_DST6_PREFIX(128) };
	struct ps_pool *pool;
	void *hit;

	if (family == AF_INET)
		__builtin_memcpy(k4.addr, daddr, 4);
	else
		__builtin_memcpy(k6.addr, daddr, 16);

	for (__u32 i = 0; i < PS_MAX_POOLS; i++) {
		if (i >= ps_pool_count)
			break;
		k4.slot = k6.slot = ps_pool_order[i];
		if (family == AF_INET)
			hit = bpf_map_lookup_elem(&ps_dst4, &k4);
		else
			hit = bpf_map_lookup_elem(&ps_dst6, &k6);
		if (!hit)
			continue;
		pool = ps_pool_get(ps_pool_order[i]);
		if (pool && pool->family == family) {
			*slot = ps_pool_order[i];
			return pool;
		}
	}
	return NULL;
}

/* The pool whose shared address is @addr, if this attachment serves it. */
static __always_inline struct ps_pool *ps_pool_for_addr(__u32 family, const __u32 addr[4], __u32 *slot)
{
	struct ps_addr_key key = { .family = family };
	__u32 *found;

	__builtin_memcpy(key.addr, addr, sizeof(key.addr));
	found = bpf_map_lookup_elem(&ps_pool_addrs, &key);
	if (!found || *found >= PS_MAX_POOLS || !(ps_pool_mask & (1ULL << *found)))
		return NULL;
	*slot = *found;
	return ps_pool_get(*found);
}

static __always_inline bool ps_in_slice(const struct ps_pool *pool, __u32 port)
{
	return port >= pool->port_lo && port <= pool->port_hi;
}

#endif
