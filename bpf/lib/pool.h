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

/*
 * A search of a slice visits every port once, from a random start with a
 * random step coprime to the slice's size (a prime above 65535), so the
 * order is scattered. A walk of neighbours would cluster: ports taken by
 * earlier searches pile up in runs, and every later search that starts
 * inside a run walks to its end (thousands of candidates at 99% full).
 */
struct ps_walk {
	__u32 start;
	__u32 step;
	__u32 size;
	__u32 pos;    /* offset in the slice of the next candidate */
};

static __always_inline void ps_walk_init(struct ps_walk *w, const struct ps_pool *pool)
{
	__u32 r = bpf_get_prandom_u32(), prime;

	/* Selects, not a table: a static array here costs the bpf_loop callback its BTF func_info. */
	prime = r & 4 ? (r & 2 ? (r & 1 ? 65581 : 65579) : (r & 1 ? 65563 : 65557))
		      : (r & 2 ? (r & 1 ? 65551 : 65543) : (r & 1 ? 65539 : 65537));
	w->size = (__u32)pool->port_hi - pool->port_lo + 1;
	w->start = (r >> 3) % w->size;
	w->step = prime % w->size;
	w->pos = w->start;
}

/*
 * The offset in the slice of the next candidate. An add and a compare: the
 * step is below the size, and a division per candidate would cost more
 * than the cheap checks of a search's first pass.
 */
static __always_inline __u32 ps_walk_next(struct ps_walk *w)
{
	__u32 off = w->pos;

	w->pos += w->step;
	if (w->pos >= w->size)
		w->pos -= w->size;
	return off;
}

/* Start the same walk over, for a second pass. */
static __always_inline void ps_walk_rewind(struct ps_walk *w)
{
	w->pos = w->start;
}

static __always_inline bool ps_in_slice(const struct ps_pool *pool, __u32 port)
{
	return port >= pool->port_lo && port <= pool->port_hi;
}

#endif
