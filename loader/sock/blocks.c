// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <json-c/json.h>

#include "core/log.h"
#include "sock/blocks.h"

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's own: what it says for a map type without batch operations */
#endif

int ps_array_read(int fd, __u32 first, __u32 n, __u32 *keys, __u32 *words)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 done = 0;

	while (done < n) {
		__u32 prev = first + done - 1, last, count = n - done;
		int err = bpf_map_lookup_batch(fd, first + done ? &prev : NULL, &last, keys + done, words + done, &count, &opts);

		/* Kernels whose arrays have no batch lookups (before 5.7), or without the command (5.6). */
		if (err == -EINVAL || err == -ENOTSUPP || err == -EOPNOTSUPP)
			break;
		if (err && err != -ENOENT)
			return err;
		if (!count)
			return -ENOENT;
		done += count;
	}
	for (; done < n; done++) {
		__u32 index = first + done;

		if (bpf_map_lookup_elem(fd, &index, &words[done]))
			return -errno;
	}
	return 0;
}

/* The table in force for @slot and its generation. */
static int table_read(const struct ps_maps *maps, __u32 slot, struct ps_blocks *b, __u32 *gen)
{
	__u32 idx;

	if (bpf_map_lookup_elem(maps->blocks_gen, &slot, gen))
		return -errno;
	idx = slot * 2 + (*gen & 1);
	if (bpf_map_lookup_elem(maps->blocks, &idx, b))
		return -errno;
	return 0;
}

int ps_blocks_read(const struct ps_maps *maps, __u32 slot, struct ps_blocks *b)
{
	__u32 gen;

	return table_read(maps, slot, b, &gen);
}

/*
 * Puts @b in force for @slot, whose table @old is in force under @gen.
 * The idle buffer first, then the generation. A search reads the
 * generation once and then only the buffer it named, which nobody writes
 * until the update after this one: a connect sees the old table or the
 * new one, whole. The programs read bit 0 of the generation only, which
 * lives in one byte, so even a bytewise copy of the u32 flips it in one
 * store.
 */
static int table_write(const struct ps_maps *maps, __u32 slot, const char *pool, const struct ps_blocks *old,
		       __u32 gen, const struct ps_blocks *b, struct ps_error *error)
{
	__u32 idx;

	if (!memcmp(old, b, sizeof(*b)))
		return 0; /* nothing changed: the generation stays */
	gen++;
	idx = slot * 2 + (gen & 1);
	if (bpf_map_update_elem(maps->blocks, &idx, b, BPF_ANY) ||
	    bpf_map_update_elem(maps->blocks_gen, &slot, &gen, BPF_ANY))
		return ps_fail(error, errno, "cannot write the block table of pool '%s': %s", pool, strerror(errno));
	return 0;
}

static __u64 clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

__u64 ps_boottime_ns(void)
{
	return clock_ns(CLOCK_BOOTTIME);
}

/*
 * Per port of @lo..@hi of @slot: @what(word or stamp, now) summed, of the
 * array @fd from index @first (PS_PORT_USERS_INDEX or the TIME_WAIT stamps'
 * slot * 64 Ki + port).
 */
static int sum_ports(int fd, __u32 first, __u32 n, __u32 (*what)(__u32 v, __u32 now), __u32 now, __u32 *sum)
{
	__u32 *words = calloc(2 * (size_t)n + 1, sizeof(*words));
	int err;

	if (!words)
		return -ENOMEM;
	err = ps_array_read(fd, first, n, words + n, words);
	for (__u32 i = 0; !err && i < n; i++)
		*sum += what(words[i], now);
	free(words);
	return err;
}

/* A port word's users: claims of connected sockets and binds. */
static __u32 word_users(__u32 w, __u32 now)
{
	return (w & PS_PORT_USERS_MASK) + (w >> PS_PORT_BIND_SHIFT);
}

/* A TIME_WAIT stamp still running (units of 2^PS_TW_STAMP_SHIFT ns, claim.h's ps_port_take()). */
static __u32 tw_running(__u32 stamp, __u32 now)
{
	return stamp && (__s32)(stamp - now) > 0;
}

static int port_users(const struct ps_maps *maps, __u32 slot, __u32 lo, __u32 hi, __u32 *users)
{
	__u32 n = hi - lo + 1;

	return sum_ports(maps->port_users, PS_PORT_USERS_INDEX(slot, IPPROTO_TCP, lo), n, word_users, 0, users) ?:
	       sum_ports(maps->port_users, PS_PORT_USERS_INDEX(slot, IPPROTO_UDP, lo), n, word_users, 0, users);
}

/* Tuples on the pool address and a port of @lo..@hi still in quarantine. */
static int quarantine_users(const struct ps_maps *maps, __u32 slot, __u32 lo, __u32 hi, __u32 *users)
{
	struct ps_tuple key, next, *prev = NULL;
	__u64 until, now = clock_ns(CLOCK_MONOTONIC);
	__u32 zero = 0, used = 0;
	struct ps_pool pool;

	if (bpf_map_lookup_elem(maps->quarantine_used, &zero, &used) || bpf_map_lookup_elem(maps->pools, &slot, &pool))
		return -errno;
	/* Bounded: entries that go while it walks may start the walk over. */
	for (__u32 i = 0; used && i < 2 * PS_MAX_QUARANTINE && !bpf_map_get_next_key(maps->quarantine, prev, &next); i++) {
		key = next;
		prev = &key;
		if (key.family != pool.family || memcmp(key.laddr, pool.addr, sizeof(key.laddr)) || key.lport < lo ||
		    key.lport > hi)
			continue;
		if (!bpf_map_lookup_elem(maps->quarantine, &key, &until) && until > now)
			(*users)++;
	}
	return 0;
}

int ps_blocks_users(const struct ps_maps *maps, __u32 slot, __u32 lo, __u32 hi, __u32 *users)
{
	__u32 now = (__u32)(clock_ns(CLOCK_MONOTONIC) >> PS_TW_STAMP_SHIFT);
	int err;

	*users = 0;
	if (slot >= PS_MAX_POOLS || lo > hi || hi >= PS_PORTS_PER_POOL)
		return -EINVAL;
	err = port_users(maps, slot, lo, hi, users) ?:
	      sum_ports(maps->port_tw, slot * PS_PORTS_PER_POOL + lo, hi - lo + 1, tw_running, now, users);
	if (!err && !*users)
		err = quarantine_users(maps, slot, lo, hi, users);
	return err;
}

int ps_blocks_bind_use(const struct ps_maps *maps, __u32 slot, __u32 proto, __u32 lo, __u32 hi,
		       struct ps_bind_use *u)
{
	__u32 now = (__u32)(clock_ns(CLOCK_MONOTONIC) >> PS_TW_STAMP_SHIFT), count = hi - lo + 1, *buf;
	bool tcp = proto == IPPROTO_TCP;
	int err;

	if (slot >= PS_MAX_POOLS || lo > hi || hi >= PS_PORTS_PER_POOL)
		return -EINVAL;
	/* The words, the stamps, and the keys ps_array_read() needs. */
	buf = calloc(3 * (size_t)count, sizeof(*buf));
	if (!buf)
		return -ENOMEM;
	err = ps_array_read(maps->port_users, PS_PORT_USERS_INDEX(slot, proto, lo), count, buf + 2 * count, buf);
	if (!err && tcp)
		err = ps_array_read(maps->port_tw, slot * PS_PORTS_PER_POOL + lo, count, buf + 2 * count, buf + count);
	for (__u32 i = 0; !err && i < count; i++) {
		u->bound += buf[i] >> PS_PORT_BIND_SHIFT ? 1 : 0;
		u->unbindable += buf[i] || (tcp && tw_running(buf[count + i], now));
	}
	free(buf);
	return err;
}

static bool block_listed(const struct ps_port_range *list, size_t n, __u32 start, __u32 size)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].lo == start && list[i].hi - list[i].lo + 1U == size)
			return true;
	return false;
}

/*
 * Keeps the blocks of @old that @listed (the new blocks) leaves out but
 * whose ports still have users (claims or binds), as draining.
 */
static int keep_draining(const struct ps_maps *maps, __u32 slot, const char *pool, const struct ps_blocks *old,
			 const struct ps_port_range *listed, size_t n_listed, struct ps_blocks *b)
{
	for (__u32 i = 0; i < old->n_all && i < PS_MAX_BLOCKS; i++) {
		__u32 start = old->start[i], users = 0;
		int err;

		if (block_listed(listed, n_listed, start, old->size))
			continue;
		err = port_users(maps, slot, start, start + old->size - 1, &users);
		if (err)
			return err;
		if (!users) {
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

/* Reads @slot's table into @old, then puts in force @b (its held blocks @listed) and the blocks of @old still in use. */
static int install_keeping(const struct ps_maps *maps, __u32 slot, const char *pool, const struct ps_port_range *listed,
			   size_t n_listed, struct ps_blocks *b, struct ps_error *error)
{
	struct ps_blocks old = {};
	__u32 gen = 0;
	int err = table_read(maps, slot, &old, &gen);

	if (err)
		return ps_fail(error, err, "cannot read the block table of pool '%s': %s", pool, strerror(-err));
	if (old.size) {
		err = keep_draining(maps, slot, pool, &old, listed, n_listed, b);
		if (err)
			return ps_fail(error, err, "cannot read the ports of pool '%s': %s", pool, strerror(-err));
	}
	return table_write(maps, slot, pool, &old, gen, b, error);
}

int ps_blocks_install(const struct ps_maps *maps, __u32 slot, const char *pool,
		      const struct ps_slice_cfg *slice, struct ps_port_range *hull, struct ps_error *error)
{
	struct ps_blocks b = {};
	int err;

	b.size = (__u16)(slice->blocks[0].hi - slice->blocks[0].lo + 1U);
	for (size_t i = 0; i < slice->n_blocks; i++)
		b.start[i] = slice->blocks[i].lo;
	b.n_held = b.n_all = (__u8)slice->n_blocks;
	err = install_keeping(maps, slot, pool, slice->blocks, slice->n_blocks, &b, error);
	*hull = slice->range;
	for (__u32 i = b.n_held; i < b.n_all; i++) {
		if (b.start[i] < hull->lo)
			hull->lo = b.start[i];
		if (b.start[i] + b.size - 1U > hull->hi)
			hull->hi = (__u16)(b.start[i] + b.size - 1U);
	}
	return err;
}

int ps_blocks_install_dynamic(const struct ps_maps *maps, __u32 slot, const char *pool, __u32 size, bool was_dynamic,
			      struct ps_error *error)
{
	struct ps_blocks b = { .size = (__u16)size }, cur;
	int err;

	if (!size || size >= PS_PORTS_PER_POOL)
		return ps_fail(error, EINVAL, "pool '%s': blocks of %u ports cannot be", pool, size);
	err = ps_blocks_read(maps, slot, &cur);
	if (err)
		return ps_fail(error, err, "cannot read the block table of pool '%s': %s", pool, strerror(-err));
	if (was_dynamic && cur.size == size)
		return 0; /* the agent's blocks */
	return install_keeping(maps, slot, pool, NULL, 0, &b, error);
}

/* Checks one block of a list and appends it to @b. */
static int add_block(struct ps_blocks *b, const struct ps_pool *p, __u32 size, struct ps_port_range r,
		     struct ps_error *error)
{
	const char *name = p->name;

	if (b->n_all == PS_MAX_BLOCKS)
		return ps_fail(error, E2BIG, "pool '%s': more than %d blocks", name, PS_MAX_BLOCKS);
	if (r.hi < r.lo || r.hi - r.lo + 1U != size)
		return ps_fail(error, EINVAL, "pool '%s': block %u-%u is not of %u ports", name, r.lo, r.hi, size);
	if (r.lo < p->port_lo || r.hi > p->port_hi)
		return ps_fail(error, ERANGE, "pool '%s': block %u-%u is outside its ports %u-%u", name, r.lo, r.hi,
			       p->port_lo, p->port_hi);
	for (__u32 i = 0; i < b->n_all; i++)
		if (r.lo <= b->start[i] + size - 1U && b->start[i] <= r.hi)
			return ps_fail(error, EEXIST, "pool '%s': block %u-%u overlaps block %u-%u", name, r.lo, r.hi,
				       b->start[i], b->start[i] + size - 1U);
	b->start[b->n_all++] = r.lo;
	return 0;
}

int ps_blocks_install_list(const struct ps_maps *maps, __u32 slot, __u32 size,
			   const struct ps_port_range *held, size_t n_held,
			   const struct ps_port_range *draining, size_t n_draining, struct ps_error *error)
{
	struct ps_blocks old, b = { .size = (__u16)size };
	struct ps_pool p;
	__u32 gen;
	int err = 0;

	if (slot >= PS_MAX_POOLS || bpf_map_lookup_elem(maps->pools, &slot, &p))
		return ps_fail(error, slot >= PS_MAX_POOLS ? EINVAL : errno, "cannot read pool slot %u", slot);
	if (!(p.flags & PS_POOL_ACTIVE))
		return ps_fail(error, ENOENT, "pool slot %u holds no pool", slot);
	if (!size || size >= PS_PORTS_PER_POOL)
		return ps_fail(error, EINVAL, "pool '%s': blocks of %u ports cannot be", p.name, size);
	for (size_t i = 0; !err && i < n_held + n_draining; i++)
		err = add_block(&b, &p, size, i < n_held ? held[i] : draining[i - n_held], error);
	if (err)
		return err;
	b.n_held = (__u8)n_held;
	err = table_read(maps, slot, &old, &gen);
	if (err)
		return ps_fail(error, err, "cannot read the block table of pool '%s': %s", p.name, strerror(-err));
	return table_write(maps, slot, p.name, &old, gen, &b, error);
}

int ps_blocks_status(const struct ps_maps *maps, __u32 slot, struct ps_blocks *b, struct json_object **json)
{
	int err = ps_blocks_read(maps, slot, b);

	if (err)
		return err;
	*json = json_object_new_array();
	for (__u32 i = 0; i < b->n_all && i < PS_MAX_BLOCKS; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "first", json_object_new_int(b->start[i]));
		json_object_object_add(o, "last", json_object_new_int(b->start[i] + b->size - 1));
		json_object_object_add(o, "draining", json_object_new_boolean(i >= b->n_held));
		json_object_array_add(*json, o);
	}
	return 0;
}

int ps_lease_state_write(const struct ps_maps *maps, const struct ps_lease_state *ls, struct ps_error *error)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(maps->lease, &zero, ls, BPF_ANY))
		return ps_fail(error, errno, "cannot write the lease state (ps_lease): %s", strerror(errno));
	return 0;
}

int ps_lease_state_read(const struct ps_maps *maps, struct ps_lease_state *ls, struct ps_error *error)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(maps->lease, &zero, ls))
		return ps_fail(error, errno, "cannot read the lease state (ps_lease): %s", strerror(errno));
	return 0;
}

static json_object *ms_left(__u64 until_ns, __u64 now_ns)
{
	return json_object_new_uint64(until_ns > now_ns ? (until_ns - now_ns) / 1000000 : 0);
}

json_object *ps_lease_state_json(const struct ps_lease_state *ls, __u64 now_ns)
{
	json_object *o = json_object_new_object();
	char id[24];

	snprintf(id, sizeof(id), "%llx", (unsigned long long)ls->lease_id);
	json_object_object_add(o, "lease_id", ls->lease_id ? json_object_new_string(id) : NULL);
	json_object_object_add(o, "ttl_left_ms", ms_left(ls->expires_ns, now_ns));
	json_object_object_add(o, "fence_left_ms", ms_left(ls->fence_ns, now_ns));
	json_object_object_add(o, "fenced", json_object_new_boolean(!ls->fence_ns || now_ns >= ls->fence_ns));
	json_object_object_add(o, "etcd_ok", json_object_new_boolean(ls->flags & PS_LEASE_ETCD_OK));
	return o;
}
