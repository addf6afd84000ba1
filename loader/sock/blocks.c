// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <json-c/json.h>

#include "core/log.h"
#include "sock/blocks.h"

int ps_blocks_read(const struct ps_maps *maps, __u32 slot, struct ps_blocks *b)
{
	__u32 gen, idx;

	if (bpf_map_lookup_elem(maps->blocks_gen, &slot, &gen))
		return -errno;
	idx = slot * 2 + (gen & 1);
	if (bpf_map_lookup_elem(maps->blocks, &idx, b))
		return -errno;
	return 0;
}

/* Does any port of the block at @start have a user (a claim or a bind), of either protocol? */
static int block_in_use(const struct ps_maps *maps, __u32 slot, __u32 start, __u32 size)
{
	for (__u32 port = start; port < start + size && port < PS_PORTS_PER_POOL; port++) {
		__u32 tcp = PS_PORT_USERS_INDEX(slot, IPPROTO_TCP, port);
		__u32 udp = PS_PORT_USERS_INDEX(slot, IPPROTO_UDP, port), w1, w2;

		if (bpf_map_lookup_elem(maps->port_users, &tcp, &w1) ||
		    bpf_map_lookup_elem(maps->port_users, &udp, &w2))
			return -errno;
		if (w1 | w2)
			return 1;
	}
	return 0;
}

static bool block_listed(const struct ps_slice_cfg *slice, __u32 start, __u32 size)
{
	for (size_t i = 0; i < slice->n_blocks; i++)
		if (slice->blocks[i].lo == start && slice->blocks[i].hi - slice->blocks[i].lo + 1U == size)
			return true;
	return false;
}

/* Keeps the blocks of @old that @slice dropped but that still have users, as draining. */
static int keep_draining(const struct ps_maps *maps, __u32 slot, const char *pool, const struct ps_blocks *old,
			 const struct ps_slice_cfg *slice, struct ps_blocks *b)
{
	for (__u32 i = 0; i < old->n_all && i < PS_MAX_BLOCKS; i++) {
		__u32 start = old->start[i];
		int used;

		if (block_listed(slice, start, old->size))
			continue;
		used = block_in_use(maps, slot, start, old->size);
		if (used < 0)
			return used;
		if (!used) {
			pr_info("pool '%s': block %u-%u released", pool, start, start + old->size - 1);
			continue;
		}
		/* The search maps its index by one block size: a block of another can only go. */
		if (old->size != b->size || b->n_all == PS_MAX_BLOCKS) {
			pr_warn("pool '%s': block %u-%u still has users but cannot stay in the table (%s); binds and datagrams on its ports are refused from now on",
				pool, start, start + old->size - 1,
				old->size != b->size ? "the new blocks are of another size" : "no room");
			continue;
		}
		pr_info("pool '%s': block %u-%u draining: no new ports from it, its sockets keep theirs",
			pool, start, start + old->size - 1);
		b->start[b->n_all++] = (__u16)start;
	}
	return 0;
}

int ps_blocks_install(const struct ps_maps *maps, __u32 slot, const char *pool,
		      const struct ps_slice_cfg *slice, struct ps_port_range *hull, struct ps_error *error)
{
	struct ps_blocks old = {}, b = {};
	__u32 gen = 0, idx;
	int err;

	if (bpf_map_lookup_elem(maps->blocks_gen, &slot, &gen))
		return ps_fail(error, errno, "cannot read the block table of pool '%s': %s", pool, strerror(errno));
	idx = slot * 2 + (gen & 1);
	if (bpf_map_lookup_elem(maps->blocks, &idx, &old))
		return ps_fail(error, errno, "cannot read the block table of pool '%s': %s", pool, strerror(errno));

	b.size = (__u16)(slice->blocks[0].hi - slice->blocks[0].lo + 1U);
	for (size_t i = 0; i < slice->n_blocks; i++)
		b.start[i] = slice->blocks[i].lo;
	b.n_held = b.n_all = (__u8)slice->n_blocks;
	if (old.size) {
		err = keep_draining(maps, slot, pool, &old, slice, &b);
		if (err)
			return ps_fail(error, err, "cannot read the ports of pool '%s': %s", pool, strerror(-err));
	}
	*hull = slice->range;
	for (__u32 i = b.n_held; i < b.n_all; i++) {
		if (b.start[i] < hull->lo)
			hull->lo = b.start[i];
		if (b.start[i] + b.size - 1U > hull->hi)
			hull->hi = (__u16)(b.start[i] + b.size - 1U);
	}
	if (!memcmp(&old, &b, sizeof(b)))
		return 0; /* nothing changed: the generation stays */
	/*
	 * The idle buffer first, then the generation. A search reads the
	 * generation once and then only the buffer it named, which nobody
	 * writes until the update after this one: a connect sees the old table
	 * or the new one, whole. The programs read bit 0 of the generation
	 * only, which lives in one byte, so even a bytewise copy of the u32
	 * flips it in one store.
	 */
	gen++;
	idx = slot * 2 + (gen & 1);
	if (bpf_map_update_elem(maps->blocks, &idx, &b, BPF_ANY) ||
	    bpf_map_update_elem(maps->blocks_gen, &slot, &gen, BPF_ANY))
		return ps_fail(error, errno, "cannot write the block table of pool '%s': %s", pool, strerror(errno));
	return 0;
}

int ps_blocks_status(const struct ps_maps *maps, __u32 slot, __u32 *size, struct json_object **json)
{
	struct ps_blocks b;
	int err = ps_blocks_read(maps, slot, &b);

	if (err)
		return err;
	*size = (__u32)b.n_held * b.size;
	*json = json_object_new_array();
	for (__u32 i = 0; i < b.n_all && i < PS_MAX_BLOCKS; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "first", json_object_new_int(b.start[i]));
		json_object_object_add(o, "last", json_object_new_int(b.start[i] + b.size - 1));
		json_object_object_add(o, "draining", json_object_new_boolean(i >= b.n_held));
		json_object_array_add(*json, o);
	}
	return 0;
}
