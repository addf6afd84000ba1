/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Claims on ports and 4-tuples, and giving them back.
 *
 * A port of a slice is either shared by connected sockets (each with its own
 * 4-tuple, all bound with SO_REUSEADDR) or held by sockets that bound it.
 * Both kinds live in one 32-bit word per port so that the two can exclude
 * each other with a single atomic operation, and a 4-tuple is unique because
 * it is inserted into ps_tuples with BPF_NOEXIST before the socket binds.
 */
#ifndef PS_BPF_CLAIM_H
#define PS_BPF_CLAIM_H

#include "maps.h"
#include "stats.h"

static __always_inline __u32 *ps_port_word(__u32 slot, __u32 port)
{
	__u32 idx = slot * PS_PORTS_PER_POOL + (port & 0xffff);

	return bpf_map_lookup_elem(&ps_port_users, &idx);
}

/* Take one connect share of a port unless a bind holds it. */
static __always_inline bool ps_port_share(__u32 *word)
{
	__u32 old = __sync_fetch_and_add(word, 1);

	if (old >> PS_PORT_BIND_SHIFT) {
		__sync_fetch_and_sub(word, 1);
		return false;
	}
	return true;
}

/* Take a port for bind(addr, 0): only a port nobody uses at all. */
static __always_inline bool ps_port_take(__u32 *word)
{
	return __sync_val_compare_and_swap(word, 0, PS_PORT_BIND_ONE) == 0;
}

/* Give back what a socket holds, as recorded in its storage. */
static __always_inline void ps_release(struct ps_sock_state *st, __u64 cookie)
{
	__u32 flags = st->flags, *word;

	if (flags & PS_HOLDS_TUPLE) {
		struct ps_claim *claim = bpf_map_lookup_elem(&ps_tuples, &st->tuple);

		/*
		 * The tuple is ours only if the claim still names this socket.
		 * If another socket took it over as stale, it also gave back
		 * our share of the port (ps_claim_take_stale()).
		 */
		if (claim && claim->cookie == cookie) {
			bpf_map_delete_elem(&ps_tuples, &st->tuple);
			ps_count(st->pool, st->tuple.proto, released);
		} else {
			flags &= ~PS_HOLDS_PORT_USER;
			ps_count(st->pool, st->tuple.proto, release_lost);
		}
	}
	if (flags & (PS_HOLDS_PORT_USER | PS_HOLDS_PORT_BIND)) {
		word = ps_port_word(st->pool, st->port);
		if (word) {
			if (flags & PS_HOLDS_PORT_USER)
				__sync_fetch_and_sub(word, 1);
			if (flags & PS_HOLDS_PORT_BIND)
				__sync_fetch_and_sub(word, PS_PORT_BIND_ONE);
		}
	}
	st->flags = 0;
}

#endif
