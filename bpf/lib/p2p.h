/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Peer-to-peer pools (PS_POOL_P2P): applications that dial out from their
 * listen port (libp2p, IPFS, WebRTC, QUIC, game servers punching holes).
 *
 * A peer sees the host as (pool address, port), so the listen port and the
 * dials from it must both be on the pool address:
 *
 *   - bind(wildcard, P) with P in the host's slice of a P2P pool is moved
 *     to bind(pool address, P) (the bind hook may rewrite the address);
 *   - a TCP bind of a slice port gets SO_REUSEADDR and SO_REUSEPORT, so
 *     that a dialing socket may bind the port of a listener whatever the
 *     order of bind() and listen() (the kernel alone wants SO_REUSEPORT on
 *     both sockets once one listens). A socket that asked for neither only
 *     gets them when nobody holds the port yet: the first binder (the
 *     listener) lets others in, a later one without the options is
 *     refused, as BSD refuses it. UDP binds keep the application's
 *     options: UDP has no listen(), QUIC sends from its listening socket,
 *     and SO_REUSEPORT given to a UDP socket that did not ask would let a
 *     later one take a share of its datagrams;
 *   - connect() of a socket bound to a slice port claims its 4-tuple (as in
 *     every pool) and, here, also fails with EADDRNOTAVAIL on a tuple that
 *     ended less than reuse_delay ago, so the application falls back to an
 *     ephemeral port at once instead of reusing a tuple that middleboxes
 *     still remember.
 */
#ifndef PS_BPF_P2P_H
#define PS_BPF_P2P_H

#include "pool.h"

#define SO_REUSEPORT 15

static __always_inline bool ps_pool_p2p(const struct ps_pool *pool)
{
	return pool->flags & PS_POOL_P2P;
}

/* The first P2P pool of this attachment, of @family, whose slice holds @port. */
static __always_inline struct ps_pool *ps_p2p_pool_for_port(__u32 family, __u32 port, __u32 *slot)
{
	struct ps_pool *pool;

	for (__u32 i = 0; i < PS_MAX_POOLS; i++) {
		if (i >= ps_pool_count)
			break;
		pool = ps_pool_get(ps_pool_order[i]);
		if (pool && ps_pool_p2p(pool) && pool->family == family &&
		    ps_in_slice(ps_pool_order[i], port)) {
			*slot = ps_pool_order[i];
			return pool;
		}
	}
	return NULL;
}

/*
 * Make a wildcard bind() one of the pool address. @ctx_family must be a
 * constant (the program's family): the verifier refuses a write of
 * user_ip4 in a bind6 program even on a path never taken, so the branch
 * must be gone before it looks.
 */
static __always_inline void ps_p2p_set_addr(struct bpf_sock_addr *ctx, __u32 ctx_family,
					    const struct ps_pool *pool)
{
	if (ctx_family == AF_INET) {
		ctx->user_ip4 = pool->addr[0];
	} else {
		ctx->user_ip6[0] = pool->addr[0];
		ctx->user_ip6[1] = pool->addr[1];
		ctx->user_ip6[2] = pool->addr[2];
		ctx->user_ip6[3] = pool->addr[3];
	}
}

/* Did the application set SOL_SOCKET option @opt on the socket? */
static __always_inline bool ps_p2p_opt_set(struct bpf_sock_addr *ctx, int opt)
{
	int v = 0;

	return !bpf_getsockopt(ctx, SOL_SOCKET, opt, &v, sizeof(v)) && v;
}

/*
 * TCP bind(pool, P) of a P2P slice port, before the kernel's bind: share
 * the port as BSD does (see the top of this file). @word is the port's word:
 * its bind bits say whether another socket holds the port already.
 * Returns 0, or -1 when the options could not be set.
 */
static __always_inline int ps_p2p_bind_reuse(struct bpf_sock_addr *ctx, const __u32 *word)
{
	int one = 1;

	if (!ps_p2p_opt_set(ctx, SO_REUSEADDR) && !ps_p2p_opt_set(ctx, SO_REUSEPORT) &&
	    (*word >> PS_PORT_BIND_SHIFT))
		return 0; /* the kernel refuses it with EADDRINUSE, as BSD would */
	if (bpf_setsockopt(ctx, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bpf_setsockopt(ctx, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		return -1;
	return 0;
}

#endif
