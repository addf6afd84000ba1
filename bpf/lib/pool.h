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
 * Does a dynamic pool take no new claim now? At or after the lease's
 * fencing deadline (struct ps_lease_state), or with no lease (0), its host
 * may have lost its blocks to another: the check is the programs' own, so a
 * stalled agent fences too. Static pools never read the map.
 */
static __always_inline bool ps_pool_fenced(const struct ps_pool *pool)
{
	const struct ps_lease_state *ls;
	__u32 zero = 0;

	if (!(pool->flags & PS_POOL_DYNAMIC))
		return false;
	ls = bpf_map_lookup_elem(&ps_lease, &zero);
	return !ls || !ls->fence_ns || bpf_ktime_get_boot_ns() >= ls->fence_ns;
}

/*
 * The block table in force for @slot (struct ps_blocks in portslice.h): the
 * generation is read once, and only the buffer it names after that. NULL
 * when the pool has no table (no held block either: nothing to search).
 */
static __always_inline const struct ps_blocks *ps_blocks_get(__u32 slot)
{
	__u32 *gen = bpf_map_lookup_elem(&ps_blocks_gen, &slot), idx;
	const struct ps_blocks *b;

	if (!gen)
		return NULL;
	idx = slot * 2 + (*gen & 1);
	b = bpf_map_lookup_elem(&ps_blocks, &idx);
	if (!b || !b->size)
		return NULL;
	return b;
}

/*
 * A search of a slice visits every port of its held blocks once, from a
 * random start with a random step coprime to the number of those ports (a
 * prime above 65535), so the order is scattered. A walk of neighbours would
 * cluster: ports taken by earlier searches pile up in runs, and every later
 * search that starts inside a run walks to its end (thousands of candidates
 * at 99% full).
 *
 * The walk runs over the virtual index v = blk * bsize + off of the held
 * blocks, kept as the pair (blk, off): a step is the pair (step_blk,
 * step_off), added with one carry and one wrap, so a candidate costs the
 * same adds and compares and one load of its block's start whatever the
 * number of blocks (no division, no search of the table).
 */
struct ps_walk {
	const struct ps_blocks *blocks; /* the table the walk was set up from */
	__u32 size;   /* ports to visit: n_held * bsize */
	__u32 bsize;
	__u32 nblk;
	__u32 step_blk, step_off;
	__u32 start_blk, start_off;
	__u32 blk, off; /* the next candidate */
};

/* Returns false when @b has no held block: nothing to search. */
static __always_inline bool ps_walk_init(struct ps_walk *w, const struct ps_blocks *b)
{
	__u32 r = bpf_get_prandom_u32(), prime, start, step;

	/* Selects, not a table: a static array here costs the bpf_loop callback its BTF func_info. */
	prime = r & 4 ? (r & 2 ? (r & 1 ? 65581 : 65579) : (r & 1 ? 65563 : 65557))
		      : (r & 2 ? (r & 1 ? 65551 : 65543) : (r & 1 ? 65539 : 65537));
	w->blocks = b;
	w->bsize = b->size;
	w->nblk = b->n_held;
	/* The loader never writes more; the clamp keeps a bad table's walk inside start[]. */
	if (w->nblk > PS_MAX_BLOCKS)
		w->nblk = PS_MAX_BLOCKS;
	w->size = w->nblk * w->bsize;
	if (!w->size)
		return false;
	/* The only divisions of a search: once, here, not per candidate. */
	start = (r >> 3) % w->size;
	step = prime % w->size;
	w->start_blk = start / w->bsize;
	w->start_off = start % w->bsize;
	w->step_blk = step / w->bsize;
	w->step_off = step % w->bsize;
	w->blk = w->start_blk;
	w->off = w->start_off;
	return true;
}

/*
 * The next candidate port. v + step < 2 * size, so one carry from off into
 * blk and one wrap of blk keep (blk, off) in range.
 */
static __always_inline __u32 ps_walk_next(struct ps_walk *w)
{
	/* The mask bounds the index for the verifier; blk < nblk <= PS_MAX_BLOCKS already. */
	__u32 port = w->blocks->start[w->blk & (PS_MAX_BLOCKS - 1)] + w->off;

	w->off += w->step_off;
	w->blk += w->step_blk;
	if (w->off >= w->bsize) {
		w->off -= w->bsize;
		w->blk++;
	}
	if (w->blk >= w->nblk)
		w->blk -= w->nblk;
	return port;
}

/* Start the same walk over, for a second pass. */
static __always_inline void ps_walk_rewind(struct ps_walk *w)
{
	w->blk = w->start_blk;
	w->off = w->start_off;
}

/* Is @port in one of the slice's blocks, held or draining? */
static __always_inline bool ps_in_slice(__u32 slot, __u32 port)
{
	const struct ps_blocks *b = ps_blocks_get(slot);

	if (!b)
		return false;
	for (__u32 i = 0; i < PS_MAX_BLOCKS; i++) {
		if (i >= b->n_all)
			break;
		if (port - b->start[i] < b->size)
			return true;
	}
	return false;
}

#endif
