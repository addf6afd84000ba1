/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Claims on ports and 4-tuples, and giving them back.
 *
 * A port of a slice is either shared by connected sockets (each with its own
 * 4-tuple, all bound with SO_REUSEADDR) or held by sockets that bound it.
 * Both kinds live in one 32-bit word per port so that the two can exclude
 * each other with a single atomic operation, and a 4-tuple is unique because
 * it is inserted into ps_tuples with BPF_NOEXIST before the socket binds.
 *
 * A socket gives back in two steps. At close() (sock_release) a UDP socket
 * gives back everything, and so does a TCP socket that never connected. A
 * connected TCP socket gives back its tuple then (the kernel's own tables
 * guard it from there on, through FIN_WAIT and TIME_WAIT), unless it is
 * bound to a device, which the kernel's lookups cannot see. The rest goes
 * when TCP moves the socket to CLOSE (sock_ops state callback): the port
 * only then, since a bind() must not get a port the kernel still holds. A
 * socket that reaches CLOSE before close() (a reset) gives back its tuple
 * then and its port at close(), when the kernel lets the port go. The
 * callback also comes for sockets whose release program never runs (MPTCP
 * subflows): they give back everything then.
 *
 * Every socket that holds something is counted under the attachment that
 * placed it (ps_live), so that a detached cgroup keeps its release programs
 * until its last socket gave back.
 */
#ifndef PS_BPF_CLAIM_H
#define PS_BPF_CLAIM_H

#include "maps.h"
#include "stats.h"

/* Index of a port's stamps in ps_port_tw (TCP only) and ps_port_freed. */
static __always_inline __u32 ps_tw_index(__u32 slot, __u32 port)
{
	return slot * PS_PORTS_PER_POOL + (port & 0xffff);
}

static __always_inline __u32 *ps_port_word(__u32 slot, __u32 proto, __u32 port)
{
	__u32 idx = PS_PORT_USERS_INDEX(slot, proto, port);

	return bpf_map_lookup_elem(&ps_port_users, &idx);
}

static __always_inline __u32 ps_tw_now(void)
{
	return (__u32)(bpf_ktime_get_ns() >> PS_TW_STAMP_SHIFT);
}

/*
 * The words of one (pool slot, protocol) and their count of ports in use
 * (ps_ports_busy) change together: @busy is the count's index,
 * PS_STATS_INDEX(slot, proto).
 */
static __always_inline void ps_ports_busy_add(__u32 busy, __s32 delta)
{
	__u32 *count = bpf_map_lookup_elem(&ps_ports_busy, &busy);

	if (count)
		__sync_fetch_and_add(count, delta);
}

/* Add to a port word, and count the port busy if nobody used it. */
static __always_inline __u32 ps_word_add(__u32 busy, __u32 *word, __u32 delta)
{
	__u32 old = __sync_fetch_and_add(word, delta);

	if (!old)
		ps_ports_busy_add(busy, 1);
	return old;
}

/*
 * Take back what ps_word_add() added; the last user leaves the port unused.
 * True if this was the last.
 */
static __always_inline bool ps_word_sub(__u32 busy, __u32 *word, __u32 delta)
{
	if (__sync_fetch_and_sub(word, delta) != delta)
		return false;
	ps_ports_busy_add(busy, -1);
	return true;
}

static __always_inline __u32 ps_freed_now(void)
{
	return (__u32)(bpf_ktime_get_ns() >> PS_FREED_STAMP_SHIFT);
}

/* Did a socket give the port back less than @min_age units ago? */
static __always_inline bool ps_port_freed_within(__u32 idx, __u32 min_age)
{
	__u32 *freed = bpf_map_lookup_elem(&ps_port_freed, &idx);

	return freed && *freed && ps_freed_now() - *freed < min_age;
}

/* Take one connect share of a port unless a bind holds it. */
static __always_inline bool ps_port_share(__u32 busy, __u32 *word)
{
	__u32 old = ps_word_add(busy, word, 1);

	if (old >> PS_PORT_BIND_SHIFT) {
		ps_word_sub(busy, word, 1);
		return false;
	}
	return true;
}

/*
 * Take a port for bind(addr, 0): only a port nobody uses at all, which the
 * kernel does not still hold in TIME_WAIT either (it would refuse the bind
 * of a socket without SO_REUSEADDR), given back at least @min_age units of
 * ps_port_freed ago.
 */
static __always_inline bool ps_port_take(__u32 slot, __u32 proto, __u32 port, __u32 *word,
					 __u32 min_age)
{
	__u32 idx = ps_tw_index(slot, port), *tw;

	if (*word)
		return false; /* the common case of a busy port: no further lookup */
	if (proto == IPPROTO_TCP) {
		tw = bpf_map_lookup_elem(&ps_port_tw, &idx);
		if (tw && *tw && (__s32)(*tw - ps_tw_now()) > 0)
			return false;
	}
	if (min_age && ps_port_freed_within(idx, min_age))
		return false;
	if (__sync_val_compare_and_swap(word, 0, PS_PORT_BIND_ONE))
		return false;
	ps_ports_busy_add(PS_STATS_INDEX(slot, proto), 1);
	return true;
}

enum ps_bind_verdict {
	PS_BIND_HELD,   /* the socket holds a bind count of the port */
	PS_BIND_IN_USE, /* connected sockets share the port */
	PS_BIND_NEW,    /* @join_only, and no bind holds the port yet */
};

/*
 * Hold a bind count of a port that the application named, unless connected
 * sockets share it. @join_only (a fenced dynamic pool): only if a bind
 * holds the port already, so that this one is no new claim on it. The one
 * atomic add decides both, so a holder that leaves meanwhile cannot let a
 * new claim in.
 */
static __always_inline enum ps_bind_verdict ps_port_bind(__u32 busy, __u32 *word, bool join_only)
{
	__u32 old = ps_word_add(busy, word, PS_PORT_BIND_ONE);

	if (old & PS_PORT_USERS_MASK) {
		ps_word_sub(busy, word, PS_PORT_BIND_ONE);
		return PS_BIND_IN_USE;
	}
	if (join_only && !(old >> PS_PORT_BIND_SHIFT)) {
		ps_word_sub(busy, word, PS_PORT_BIND_ONE);
		return PS_BIND_NEW;
	}
	return PS_BIND_HELD;
}

/* Has any tuple ever been quarantined? Until then connect skips the lookup. */
static __always_inline bool ps_quarantine_in_use(void)
{
	__u32 zero = 0, *used = bpf_map_lookup_elem(&ps_quarantine_used, &zero);

	return !used || *used;
}

/* Keep @t from being handed out again for @delay_ns. */
static __always_inline void ps_quarantine_tuple(const struct ps_tuple *t, __u64 delay_ns)
{
	__u64 until = bpf_ktime_get_ns() + delay_ns, *cur;
	__u32 zero = 0, *used = bpf_map_lookup_elem(&ps_quarantine_used, &zero);

	if (used && !*used)
		*used = 1;

	cur = bpf_map_lookup_elem(&ps_quarantine, t);
	if (cur && *cur >= until)
		return;
	bpf_map_update_elem(&ps_quarantine, t, &until, BPF_ANY);
}

/* Is @t still in quarantine? An expired entry is dropped on the way. */
static __always_inline bool ps_quarantined(const struct ps_tuple *t)
{
	__u64 *until = bpf_map_lookup_elem(&ps_quarantine, t);

	if (!until)
		return false;
	if (*until > bpf_ktime_get_ns())
		return true;
	bpf_map_delete_elem(&ps_quarantine, t);
	return false;
}

/* Give back the socket's tuple, if the claim still names it. */
static __always_inline void ps_release_tuple(struct ps_sock_state *st, __u64 cookie)
{
	struct ps_claim *claim = bpf_map_lookup_elem(&ps_tuples, &st->tuple);
	__u32 slot = st->pool;
	struct ps_pool *pool;

	st->flags &= ~PS_HOLDS_TUPLE;
	if (!claim || claim->cookie != cookie) {
		ps_count(st->pool, st->tuple.proto, release_lost);
		return;
	}
	pool = bpf_map_lookup_elem(&ps_pools, &slot);
	if (pool && pool->reuse_delay_ms)
		ps_quarantine_tuple(&st->tuple, pool->reuse_delay_ms * 1000000ULL);
	/* The kernel's own lookups cannot see this TIME_WAIT: quarantine it instead. */
	if ((st->flags & (PS_DEV_BOUND | PS_MAY_TIME_WAIT)) == (PS_DEV_BOUND | PS_MAY_TIME_WAIT))
		ps_quarantine_tuple(&st->tuple, PS_TW_HOLD_NS);
	bpf_map_delete_elem(&ps_tuples, &st->tuple);
	ps_count(st->pool, st->tuple.proto, released);
}

/* Give back the socket's share of its port; a TCP port may linger in TIME_WAIT. */
static __always_inline void ps_release_port(struct ps_sock_state *st)
{
	__u32 flags = st->flags, busy = PS_STATS_INDEX(st->pool, st->proto), *word, *tw, *freed;
	__u32 idx = ps_tw_index(st->pool, st->port);
	bool last = false;

	st->flags &= ~(PS_HOLDS_PORT_USER | PS_HOLDS_PORT_BIND);
	if (!(flags & (PS_HOLDS_PORT_USER | PS_HOLDS_PORT_BIND)))
		return;
	if (st->proto == IPPROTO_TCP && (flags & PS_MAY_TIME_WAIT)) {
		tw = bpf_map_lookup_elem(&ps_port_tw, &idx);
		if (tw)
			*tw = ps_tw_now() + PS_TW_HOLD_UNITS;
	}
	word = ps_port_word(st->pool, st->proto, st->port);
	if (!word)
		return;
	if ((flags & PS_HOLDS_PORT_USER) && ps_word_sub(busy, word, 1))
		last = true;
	if ((flags & PS_HOLDS_PORT_BIND) && ps_word_sub(busy, word, PS_PORT_BIND_ONE))
		last = true;
	if (last) {
		freed = bpf_map_lookup_elem(&ps_port_freed, &idx);
		if (freed)
			*freed = ps_freed_now();
	}
}

/*
 * Keep ps_live in step with what the socket holds: call after every change
 * of st->flags. A socket that holds nothing any more loses its record.
 */
static __always_inline void ps_settle(struct ps_sock_state *st)
{
	bool holds = st->flags & PS_HOLDS, counted = st->flags & PS_COUNTED;
	__u64 cookie = st->cookie, *live;

	if (holds == counted) {
		if (!holds)
			goto forget;
		return; /* no change: the common case of a reconnect or a close */
	}
	live = bpf_map_lookup_elem(&ps_live, &st->owner);
	if (holds) {
		if (live)
			__sync_fetch_and_add(live, 1);
		st->flags |= PS_COUNTED;
		return;
	}
	if (live)
		__sync_fetch_and_sub(live, 1);
forget:
	st->flags = 0;
	bpf_map_delete_elem(&ps_sk_state, &cookie);
}

/* Give back everything the socket holds (TCP closed it, or it starts over). */
static __always_inline void ps_release(struct ps_sock_state *st, __u64 cookie)
{
	if (st->flags & PS_HOLDS_TUPLE)
		ps_release_tuple(st, cookie);
	ps_release_port(st);
	ps_settle(st);
}

#endif
