// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cgroup socket programs: place every TCP and UDP socket of the cgroup that
 * talks to a pool's destinations on the pool's shared address, with a source
 * port inside this host's slice and a 4-tuple no other socket has.
 *
 *   connect4/6      pick a free tuple of the slice, claim it, bpf_bind() it
 *   bind4/6         bind(pool, 0) gets a slice port nobody holds, or, with
 *                   IP_BIND_ADDRESS_NO_PORT, its port at connect();
 *                   out-of-slice ports: EPERM; ports of connected sockets:
 *                   EADDRINUSE; P2P pools: wildcard binds of slice ports
 *                   move to the pool address and share it (lib/p2p.h)
 *   sendmsg4/6      a datagram from the pool address needs a slice port and
 *                   a tuple no other socket holds
 *   sock_release    give back at close() what may go then
 *   sock_ops        give back a TCP socket's rest when it reaches CLOSE
 *
 * Past a dynamic pool's fencing deadline (ps_pool_fenced) every new claim
 * in its blocks is refused, counted as fenced: a port searched by connect()
 * or bind(pool, 0), a tuple claimed by connect() of a bound socket, a port
 * named by bind() that no bind holds yet, a datagram on a tuple nobody
 * holds. What sockets hold already goes on.
 */
#include "lib/common.h"
#include <bpf/bpf_core_read.h>
#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/pool.h"
#include "lib/claim.h"
#include "lib/kernel_view.h"
#include "lib/p2p.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* State of one slice search, shared with the bpf_loop callback. */
struct ps_search {
	struct bpf_sock_addr *ctx;
	struct ps_tuple *tuple;   /* lport is filled in per candidate */
	struct ps_claim claim;
	struct ps_walk walk;
	__u32 slot;
	__u32 unused_only;        /* first pass: only ports with no user at all */
	__u32 port;               /* the port found, 0 if none */
	int err;                  /* set when the search must stop early */
};

static __always_inline bool ps_is_v4mapped(const __u32 a[4])
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
}

static __always_inline int ps_bind_port(struct bpf_sock_addr *ctx, const struct ps_tuple *t)
{
	if (t->family == AF_INET) {
		struct sockaddr_in sa = {
			.sin_family = AF_INET,
			.sin_port = bpf_htons(t->lport),
			.sin_addr.s_addr = t->laddr[0],
		};
		return bpf_bind(ctx, (struct sockaddr *)&sa, sizeof(sa));
	} else {
		struct sockaddr_in6 sa = {
			.sin6_family = AF_INET6,
			.sin6_port = bpf_htons(t->lport),
		};
		__builtin_memcpy(&sa.sin6_addr, t->laddr, 16);
		return bpf_bind(ctx, (struct sockaddr *)&sa, sizeof(sa));
	}
}

/*
 * Try one candidate port. Returns 1 to stop the loop (found, or a hard
 * error), 0 to go on with the next port.
 */
static long ps_try_port(__u32 i, void *data)
{
	struct ps_search *s = data;
	struct ps_tuple *t = s->tuple;
	enum ps_kernel_view view;
	__u32 *word;
	/*
	 * int, not long: before Linux 6.4 the verifier calls a map's update
	 * op directly and it returns int, so -EEXIST arrives zero-extended
	 * and a 64-bit compare with -EEXIST never matches (found on 6.1 by
	 * the kernel matrix).
	 */
	int err;

	t->lport = ps_walk_next(&s->walk);
	word = ps_port_word(s->slot, t->proto, t->lport);
	if (!word)
		return 0;
	/*
	 * The port's word is an array load: it rules out a port in use before
	 * any hash operation. In the first pass that is any user (a port
	 * nobody uses cannot have a claim on this tuple either); in the second
	 * only a bind's hold, since connected sockets share ports.
	 */
	if (s->unused_only ? *word : *word >> PS_PORT_BIND_SHIFT)
		return 0;
	/*
	 * Sharing a port: most candidates of a busy destination are taken,
	 * and a lookup (inlined, no bucket lock) learns it for less than a
	 * failed insert.
	 */
	if (!s->unused_only && bpf_map_lookup_elem(&ps_tuples, t))
		return 0;
	err = bpf_map_update_elem(&ps_tuples, t, &s->claim, BPF_NOEXIST);
	if (err == -EEXIST) {
		return 0; /* a live socket holds it: claims are never taken over */
	} else if (err) {
		s->err = -E2BIG; /* ps_tuples is full: no other port will do better */
		return 1;
	}
	if (!ps_port_share(PS_STATS_INDEX(s->slot, t->proto), word)) {
		bpf_map_delete_elem(&ps_tuples, t); /* a bind() holds the port */
		return 0;
	}
	if (ps_quarantine_in_use() && ps_quarantined(t)) {
		/*
		 * Skips are counted in the map, not in *s: the verifier proves
		 * the callback's loop by finding a state it has seen, which a
		 * counter in the caller's stack would never repeat.
		 */
		ps_count(s->slot, t->proto, quarantined);
		goto undo;
	}
	view = ps_kernel_view(s->ctx, t);
	if (view == PS_KERNEL_HELD) {
		ps_count(s->slot, t->proto, kernel_held);
		goto undo;
	}
	if (ps_bind_port(s->ctx, t)) {
		ps_count(s->slot, t->proto, bind_failed);
		goto undo;
	}
	if (view == PS_KERNEL_TW_REUSE)
		ps_count(s->slot, t->proto, tw_reused);
	s->port = t->lport;
	return 1;
undo:
	bpf_map_delete_elem(&ps_tuples, t);
	ps_word_sub(PS_STATS_INDEX(s->slot, t->proto), word, 1);
	return 0;
}

static __always_inline int ps_reject(int err)
{
	bpf_set_retval(err);
	return SYS_REJECT;
}

/* The socket's record, made empty if it has none. */
static __always_inline struct ps_sock_state *ps_sock_state(struct bpf_sock_addr *ctx)
{
	struct ps_sock_state fresh = { .cookie = bpf_get_socket_cookie(ctx) }, *st;

	st = bpf_map_lookup_elem(&ps_sk_state, &fresh.cookie);
	if (st)
		return st;
	/* EEXIST cannot happen: the socket is locked, its hooks do not race. */
	if (bpf_map_update_elem(&ps_sk_state, &fresh.cookie, &fresh, BPF_NOEXIST))
		return NULL;
	return bpf_map_lookup_elem(&ps_sk_state, &fresh.cookie);
}

/* Search the slice's held blocks, in a scattered order (struct ps_walk), for a free tuple. */
static __always_inline int ps_connect_alloc(struct bpf_sock_addr *ctx, struct ps_pool *pool,
					     __u32 slot, struct ps_tuple *t, __u64 cookie)
{
	struct ps_search s = {
		.ctx = ctx,
		.tuple = t,
		.claim = { .cookie = cookie },
		.slot = slot,
	};
	const struct ps_blocks *blocks = ps_blocks_get(slot);
	struct ps_sock_state st = { .cookie = cookie }, *stale;
	__u32 busy_idx = PS_STATS_INDEX(slot, t->proto), *busy;
	int one = 1, err;

	if (ps_pool_fenced(pool)) {
		ps_count(slot, t->proto, fenced);
		return ps_reject(-EADDRNOTAVAIL);
	}
	if (!blocks || !ps_walk_init(&s.walk, blocks)) {
		ps_count(slot, t->proto, exhausted);
		return ps_reject(-EADDRNOTAVAIL);
	}
	/* One port serves many destinations: the tuple, not the port, is unique. */
	if (bpf_setsockopt(ctx, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		return ps_reject(-EADDRNOTAVAIL);

	/*
	 * Two passes over the same scattered order. The first takes the first
	 * port nobody uses, with one array load per taken port however full
	 * the slice is; it is skipped when the pool has no such port. The
	 * second shares ports across destinations, a tuple check per port.
	 */
	busy = bpf_map_lookup_elem(&ps_ports_busy, &busy_idx);
	if (!busy || *busy < s.walk.size) {
		s.unused_only = 1;
		bpf_loop(s.walk.size, ps_try_port, &s, 0);
	}
	if (!s.port && !s.err) {
		s.unused_only = 0;
		ps_walk_rewind(&s.walk);
		bpf_loop(s.walk.size, ps_try_port, &s, 0);
	}

	if (!s.port) {
		if (s.err == -E2BIG)
			ps_count(slot, t->proto, map_full);
		else
			ps_count(slot, t->proto, exhausted);
		return ps_reject(-EADDRNOTAVAIL);
	}

	/* The record is written once, whole: one map operation on the fast path. */
	st.flags = PS_HOLDS_TUPLE | PS_HOLDS_PORT_USER;
	st.owner = ps_attach_id;
	st.pool = slot;
	st.port = s.port;
	st.proto = t->proto;
	st.tuple = *t;
	ps_settle(&st); /* counted before the record is visible */
	err = bpf_map_update_elem(&ps_sk_state, &cookie, &st, BPF_NOEXIST);
	if (err == -EEXIST) {
		/*
		 * A socket without a port has a record only if a bind() that we
		 * admitted failed in the kernel: give back what it holds. Found
		 * here, by the insert, so that connect() looks nothing up first.
		 */
		stale = bpf_map_lookup_elem(&ps_sk_state, &cookie);
		if (stale)
			ps_release(stale, cookie);
		err = bpf_map_update_elem(&ps_sk_state, &cookie, &st, BPF_ANY);
	}
	if (err) {
		ps_release(&st, cookie);
		ps_count(slot, t->proto, map_full);
		return ps_reject(-EADDRNOTAVAIL);
	}
	ps_count(slot, t->proto, allocated);
	return SYS_PROCEED;
}

/*
 * connect() of a socket that already has a port on the pool address (it
 * bound it, or a previous connect did): the kernel does not stop connected
 * UDP sockets from sharing a 4-tuple, so claim the tuple here. A refusal
 * leaves the socket as it was: a UDP socket whose reconnect fails stays
 * connected to its peer in the kernel, so it keeps its claim too.
 */
static __always_inline int ps_connect_bound(struct bpf_sock_addr *ctx, const struct ps_pool *pool,
					     __u32 slot, struct ps_tuple *t, struct ps_sock_state *st)
{
	struct ps_claim claim = { .cookie = bpf_get_socket_cookie(ctx) };

	if ((st->flags & PS_HOLDS_TUPLE) && st->tuple.proto == t->proto && st->tuple.lport == t->lport &&
	    st->tuple.rport == t->rport && ps_addr_eq(st->tuple.raddr, t->raddr) &&
	    ps_addr_eq(st->tuple.laddr, t->laddr))
		return SYS_PROCEED;
	/* A new tuple is a new claim in the blocks a fenced host may lose. */
	if (ps_pool_fenced(pool)) {
		ps_count(slot, t->proto, fenced);
		goto refuse;
	}
	/* P2P: a dial from the listen port never reuses a tuple that just ended. */
	if (ps_pool_p2p(pool) && ps_quarantine_in_use() && ps_quarantined(t)) {
		ps_count(slot, t->proto, quarantined);
		goto refuse;
	}
	if (bpf_map_update_elem(&ps_tuples, t, &claim, BPF_NOEXIST)) {
		ps_count(slot, t->proto, conflicts);
		goto refuse;
	}
	/* Reconnect to another destination: the old tuple ended. */
	if (st->flags & PS_HOLDS_TUPLE)
		ps_release_tuple(st, claim.cookie);
	if (!(st->flags & PS_HOLDS)) {
		/* Bound explicitly before we were attached: claim the tuple only. */
		st->owner = ps_attach_id;
		st->pool = slot;
		st->port = t->lport;
		st->proto = t->proto;
	}
	st->flags |= PS_HOLDS_TUPLE;
	st->tuple = *t;
	ps_settle(st);
	return SYS_PROCEED;
refuse:
	ps_settle(st);
	return ps_reject(-EADDRNOTAVAIL);
}

static __always_inline int ps_connect(struct bpf_sock_addr *ctx, struct ps_pool *pool,
				      __u32 slot, struct ps_tuple *t)
{
	struct bpf_sock *sk = ctx->sk;
	struct ps_sock_state *st;
	__u32 src[4] = {}, sport;
	__u64 cookie;
	/*
	 * Every field of the socket is read once, here, whatever the family:
	 * clang otherwise turns reads in different branches into one read at
	 * a computed offset, and the verifier refuses arithmetic on a socket
	 * pointer. barrier_var keeps the reads here.
	 */
	__u32 ip4 = sk->src_ip4, ip6[4] = { sk->src_ip6[0], sk->src_ip6[1], sk->src_ip6[2], sk->src_ip6[3] };

	sport = sk->src_port;
	barrier_var(ip4);
	barrier_var(sport);
	if (t->family == AF_INET)
		src[0] = ip4;
	else
		__builtin_memcpy(src, ip6, sizeof(ip6));
	/*
	 * Bound to another address than the pool's: the application chose,
	 * unless it is a P2P pool's address (a dial from the listen port,
	 * whichever pool serves the destination).
	 */
	if (!ps_addr_zero(src) && !ps_addr_eq(src, pool->addr)) {
		pool = ps_pool_for_addr(t->family, src, &slot);
		if (!pool || !ps_pool_p2p(pool))
			return SYS_PROCEED;
	}

	/* A wildcard-bound port: leave it, the address is not ours. */
	if (sport && ps_addr_zero(src))
		return SYS_PROCEED;

	__builtin_memcpy(t->laddr, pool->addr, sizeof(t->laddr));
	if (sport) {
		st = ps_sock_state(ctx);
		if (!st)
			return ps_reject(-EADDRNOTAVAIL);
		t->lport = sport;
		return ps_connect_bound(ctx, pool, slot, t, st);
	}
	cookie = bpf_get_socket_cookie(ctx);
	return ps_connect_alloc(ctx, pool, slot, t, cookie);
}

SEC("cgroup/connect4")
int ps_connect4(struct bpf_sock_addr *ctx)
{
	ps_build_variant();
	struct ps_tuple t = { .family = AF_INET };
	struct ps_pool *pool;
	__u32 slot;

	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return SYS_PROCEED;
	t.raddr[0] = ctx->user_ip4;
	pool = ps_pool_for_dst(AF_INET, t.raddr, &slot);
	if (!pool)
		return SYS_PROCEED;

	t.proto = ctx->protocol;
	t.rport = bpf_ntohs(ctx->user_port);
	return ps_connect(ctx, pool, slot, &t);
}

SEC("cgroup/connect6")
int ps_connect6(struct bpf_sock_addr *ctx)
{
	ps_build_variant();
	struct ps_tuple t = { .family = AF_INET6 };
	struct ps_pool *pool;
	__u32 slot;

	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return SYS_PROCEED;
	t.raddr[0] = ctx->user_ip6[0];
	t.raddr[1] = ctx->user_ip6[1];
	t.raddr[2] = ctx->user_ip6[2];
	t.raddr[3] = ctx->user_ip6[3];
	/* IPv4 through a dual-stack socket: not an IPv6 pool's business. */
	if (ps_is_v4mapped(t.raddr))
		return SYS_PROCEED;
	pool = ps_pool_for_dst(AF_INET6, t.raddr, &slot);
	if (!pool)
		return SYS_PROCEED;

	t.proto = ctx->protocol;
	t.rport = bpf_ntohs(ctx->user_port);
	return ps_connect(ctx, pool, slot, &t);
}

/* A search for a port that nobody uses, for bind(pool address, 0). */
struct ps_bind_search {
	struct ps_walk walk;
	__u32 slot;
	__u32 proto;
	__u32 min_age;            /* units since the port was given back (ps_port_freed) */
	__u32 port;
};

static long ps_take_port(__u32 i, void *data)
{
	struct ps_bind_search *s = data;
	__u32 port = ps_walk_next(&s->walk), *word;

	word = ps_port_word(s->slot, s->proto, port);
	if (!word || !ps_port_take(s->slot, s->proto, port, word, s->min_age))
		return 0;
	s->port = port;
	return 1;
}

/*
 * Up to three passes over the same scattered order, each less particular
 * about how long ago a port was given back (the kernel may still hold a
 * port for a moment after that): ports that settled over
 * PS_FREED_SETTLED_UNITS, then over PS_FREED_MIN_UNITS, then any, so that
 * a slice whose free ports all changed hands just now still binds.
 */
static __always_inline __u32 ps_bind_alloc(__u32 slot, __u32 proto)
{
	struct ps_bind_search s = {
		.slot = slot,
		.proto = proto,
		.min_age = PS_FREED_SETTLED_UNITS,
	};
	const struct ps_blocks *blocks = ps_blocks_get(slot);

	if (!blocks || !ps_walk_init(&s.walk, blocks))
		return 0;
	bpf_loop(s.walk.size, ps_take_port, &s, 0);
	if (!s.port) {
		s.min_age = PS_FREED_MIN_UNITS;
		ps_walk_rewind(&s.walk);
		bpf_loop(s.walk.size, ps_take_port, &s, 0);
	}
	if (!s.port) {
		s.min_age = 0;
		ps_walk_rewind(&s.walk);
		bpf_loop(s.walk.size, ps_take_port, &s, 0);
	}
	return s.port;
}

/* inet_sock before Linux 6.6 kept the option in a bit field of its own. */
struct inet_sock___pre66 {
	__u8 bind_address_no_port : 1;
} __attribute__((preserve_access_index));

/*
 * Did the application set IP_BIND_ADDRESS_NO_PORT? Then bind(addr, 0) only
 * binds the address and connect() picks the port, shared across
 * destinations (nginx proxy_bind, HAProxy source, Envoy, Go and Java
 * dialers). Only TCP sockets can be read here: no helper casts an IPv4 UDP
 * socket for a cgroup program on every kernel we support, and a UDP socket
 * loses nothing with a port of its own.
 */
static __always_inline bool ps_bind_no_port(struct bpf_sock_addr *ctx)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(ctx->sk);
	struct inet_sock *inet;

	if (!tp)
		return false;
	inet = &tp->inet_conn.icsk_inet;
	if (bpf_core_field_exists(inet->inet_flags))
		return (inet->inet_flags >> INET_FLAGS_BIND_ADDRESS_NO_PORT) & 1;
	return BPF_CORE_READ_BITFIELD((struct inet_sock___pre66 *)inet, bind_address_no_port);
}

/*
 * bind(pool, @port) of a port the application named: 0 once the socket
 * holds a bind count of it, else the errno of the refusal. @rebind: the
 * socket held this port already (a bind we admitted that the kernel
 * refused), so taking it again is no new claim.
 */
static __always_inline int ps_bind_named(struct bpf_sock_addr *ctx, const struct ps_pool *pool,
					  __u32 slot, __u32 port, bool rebind)
{
	__u32 proto = ctx->protocol, *word;
	enum ps_bind_verdict verdict;

	if (!ps_in_slice(slot, port)) {
		ps_count(slot, proto, bind_denied);
		return -EPERM;
	}
	word = ps_port_word(slot, proto, port);
	if (!word)
		return -EADDRINUSE;
	if (ps_pool_p2p(pool) && proto == IPPROTO_TCP && ps_p2p_bind_reuse(ctx, word))
		return -EADDRINUSE;
	/*
	 * The kernel arbitrates sharing between sockets that bind the port,
	 * but not with connected sockets, which carry portslice's SO_REUSEADDR
	 * and would let it in. Past a dynamic pool's fencing deadline only a
	 * port that a bind holds already is no new claim: another socket of
	 * an SO_REUSEPORT group, a P2P dial from the listen port (whose
	 * connect() is fenced in its turn).
	 */
	verdict = ps_port_bind(PS_STATS_INDEX(slot, proto), word, !rebind && ps_pool_fenced(pool));
	if (verdict == PS_BIND_NEW) {
		ps_count(slot, proto, fenced);
		return -EADDRINUSE;
	}
	if (verdict == PS_BIND_IN_USE) {
		ps_count(slot, proto, bind_in_use);
		return -EADDRINUSE;
	}
	return 0;
}

/*
 * @ctx_family is the program's own (bind4: AF_INET, bind6: AF_INET6), a
 * constant at each call, @family the address's (AF_INET for ::ffff:a.b.c.d).
 */
static __always_inline int ps_bind(struct bpf_sock_addr *ctx, __u32 ctx_family, __u32 family,
				   const __u32 addr[4])
{
	struct ps_sock_state st = {}, *stale;
	struct ps_pool *pool;
	__u32 slot, port;
	bool named, rebind = false;
	int err;

	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return SYS_PROCEED;
	pool = ps_pool_for_addr(family, addr, &slot);
	if (!pool) {
		/*
		 * P2P: the wildcard and a port of a P2P slice become the pool
		 * address, where peers see the host. Not through a dual-stack
		 * socket's ::ffff:0.0.0.0: its address is written as IPv6.
		 */
		if (!ps_addr_zero(addr) || ctx_family != family)
			return SYS_PROCEED;
		pool = ps_p2p_pool_for_port(family, bpf_ntohs(ctx->user_port), &slot);
		if (!pool)
			return SYS_PROCEED;
		ps_p2p_set_addr(ctx, ctx_family, pool);
	}
	/* Already bound: the kernel refuses this bind() itself. */
	if (ctx->sk->src_port)
		return SYS_PROCEED;

	port = bpf_ntohs(ctx->user_port);
	named = port;
	if (!named && ps_bind_no_port(ctx))
		return SYS_PROCEED; /* the connect hook places it, as a plain connect() */

	/* A record of a socket without a port: a bind() we admitted that the kernel refused. */
	st.cookie = bpf_get_socket_cookie(ctx);
	stale = bpf_map_lookup_elem(&ps_sk_state, &st.cookie);
	if (stale) {
		rebind = named && (stale->flags & PS_HOLDS_PORT_BIND) && stale->pool == slot &&
			 stale->proto == ctx->protocol && stale->port == port;
		ps_release(stale, st.cookie);
	}

	if (named) {
		err = ps_bind_named(ctx, pool, slot, port, rebind);
		if (err)
			return ps_reject(err);
	} else {
		/* A dynamic pool past its fencing deadline: no port from its blocks. */
		if (ps_pool_fenced(pool)) {
			ps_count(slot, ctx->protocol, fenced);
			return ps_reject(-EADDRINUSE);
		}
		port = ps_bind_alloc(slot, ctx->protocol);
		if (!port) {
			ps_count(slot, ctx->protocol, exhausted);
			return ps_reject(-EADDRINUSE);
		}
		ctx->user_port = bpf_htons(port);
	}

	/*
	 * Only an admitted bind() gets a record, written whole and counted
	 * before it is visible: a refusal leaves none behind.
	 */
	st.flags = PS_HOLDS_PORT_BIND;
	st.owner = ps_attach_id;
	st.pool = slot;
	st.port = port;
	st.proto = ctx->protocol;
	ps_settle(&st);
	err = bpf_map_update_elem(&ps_sk_state, &st.cookie, &st, BPF_NOEXIST);
	if (err) {
		ps_release(&st, st.cookie);
		return ps_reject(-EADDRINUSE);
	}
	if (!named)
		ps_count(slot, ctx->protocol, bound);
	return SYS_PROCEED;
}

SEC("cgroup/bind4")
int ps_bind4(struct bpf_sock_addr *ctx)
{
	ps_build_variant();
	__u32 addr[4] = { ctx->user_ip4 };

	return ps_bind(ctx, AF_INET, AF_INET, addr);
}

SEC("cgroup/bind6")
int ps_bind6(struct bpf_sock_addr *ctx)
{
	ps_build_variant();
	__u32 addr[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };

	/* ::ffff:a.b.c.d is the IPv4 pool's address seen through a dual-stack socket. */
	if (ps_is_v4mapped(addr)) {
		__u32 addr4[4] = { addr[3] };

		return ps_bind(ctx, AF_INET6, AF_INET, addr4);
	}
	return ps_bind(ctx, AF_INET6, AF_INET6, addr);
}

/*
 * A datagram with a destination (sendto(), sendmsg(), sendmmsg(), on any
 * UDP socket, connected or not). The hook cannot choose a source port
 * (autobind already happened), so a datagram that would leave from the
 * pool address needs a port of the slice, and a 4-tuple that no other
 * socket holds: otherwise the replies would reach that socket. A datagram
 * on a tuple nobody holds goes out, as the kernel would send it, unless
 * the pool is fenced. Everything else keeps the host's own address chosen
 * by routing.
 */
static __always_inline int ps_sendmsg(struct bpf_sock_addr *ctx, __u32 family, const __u32 src[4],
				      const __u32 dst[4])
{
	struct ps_tuple t = { .proto = IPPROTO_UDP, .family = family };
	struct ps_claim *claim;
	struct ps_pool *pool;
	__u32 slot;

	pool = ps_pool_for_addr(family, src, &slot);
	if (!pool)
		return SYS_PROCEED;
	if (!ps_in_slice(slot, ctx->sk->src_port)) {
		ps_count(slot, IPPROTO_UDP, send_denied);
		return ps_reject(-EPERM);
	}
	t.lport = ctx->sk->src_port;
	t.rport = bpf_ntohs(ctx->user_port);
	__builtin_memcpy(t.laddr, pool->addr, sizeof(t.laddr));
	__builtin_memcpy(t.raddr, dst, sizeof(t.raddr));
	claim = bpf_map_lookup_elem(&ps_tuples, &t);
	if (claim && claim->cookie != bpf_get_socket_cookie(ctx)) {
		ps_count(slot, IPPROTO_UDP, send_conflicts);
		return ps_reject(-EADDRINUSE);
	}
	/*
	 * A tuple nobody holds is a new flow from the pool's blocks, which a
	 * fenced host may lose. An unconnected socket's earlier peers are
	 * refused too: neither the kernel nor the maps remember them.
	 */
	if (!claim && ps_pool_fenced(pool)) {
		ps_count(slot, IPPROTO_UDP, fenced);
		return ps_reject(-EADDRNOTAVAIL);
	}
	return SYS_PROCEED;
}

SEC("cgroup/sendmsg4")
int ps_sendmsg4(struct bpf_sock_addr *ctx)
{
	ps_build_variant();
	/* The source: IP_PKTINFO's, else the bound address. */
	__u32 src[4] = { ctx->msg_src_ip4 ?: ctx->sk->src_ip4 };
	__u32 dst[4] = { ctx->user_ip4 };

	return ps_sendmsg(ctx, AF_INET, src, dst);
}

SEC("cgroup/sendmsg6")
int ps_sendmsg6(struct bpf_sock_addr *ctx)
{
	ps_build_variant();
	__u32 src[4] = { ctx->msg_src_ip6[0], ctx->msg_src_ip6[1], ctx->msg_src_ip6[2],
			 ctx->msg_src_ip6[3] };
	__u32 dst[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };

	if (ps_addr_zero(src)) {
		src[0] = ctx->sk->src_ip6[0];
		src[1] = ctx->sk->src_ip6[1];
		src[2] = ctx->sk->src_ip6[2];
		src[3] = ctx->sk->src_ip6[3];
	}
	/* IPv4 through a dual-stack socket: the IPv4 pool's datagram. */
	if (ps_is_v4mapped(src)) {
		__u32 src4[4] = { src[3] }, dst4[4] = { dst[3] };

		return ps_sendmsg(ctx, AF_INET, src4, dst4);
	}
	return ps_sendmsg(ctx, AF_INET6, src, dst);
}

/*
 * close(): see claim.h for what goes now and what waits for TCP's CLOSE.
 * The state is read before the kernel's close runs.
 */
SEC("cgroup/sock_release")
int ps_sock_release(struct bpf_sock *ctx)
{
	ps_build_variant();
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct ps_sock_state *st = bpf_map_lookup_elem(&ps_sk_state, &cookie);

	if (!st)
		return SYS_PROCEED;
	/* An empty record (a refused bind() of an earlier build left it): it goes with the socket. */
	if (!(st->flags & PS_HOLDS)) {
		ps_settle(st);
		return SYS_PROCEED;
	}
	/*
	 * UDP, TCP that never connected (or already ended), or a listener
	 * (close() takes it to CLOSE with no TIME_WAIT, and no state callback
	 * was asked for it): nothing follows.
	 */
	if (ctx->protocol != IPPROTO_TCP || ctx->state == BPF_TCP_CLOSE || ctx->state == BPF_TCP_LISTEN) {
		ps_release(st, cookie);
		return SYS_PROCEED;
	}
	if (ctx->bound_dev_if)
		st->flags |= PS_DEV_BOUND;
	if ((st->flags & PS_HOLDS_TUPLE) && !(st->flags & PS_DEV_BOUND))
		ps_release_tuple(st, cookie);
	st->flags |= PS_CLOSED;
	ps_settle(st);
	return SYS_PROCEED;
}

/*
 * Will close() run the release program for this socket? inet_release()
 * skips kernel sockets, such as MPTCP subflows.
 */
static __always_inline bool ps_release_follows(struct bpf_sock *sk)
{
	struct tcp_sock *tp = sk ? bpf_skc_to_tcp_sock(sk) : NULL;

	return tp && !BPF_CORE_READ_BITFIELD(&tp->inet_conn.icsk_inet.sk, sk_kern_sock);
}

/*
 * TCP: ask for state callbacks once the connection starts, and give back
 * what is left when it reaches CLOSE (the port of a socket the application
 * has not closed yet waits for close()). Leaving FIN_WAIT1/2 or CLOSING for
 * CLOSE is how tcp_time_wait() ends the socket: a TIME_WAIT entry now
 * holds the tuple and the port. This is also the only release of sockets
 * whose release program never runs: MPTCP subflows are kernel sockets.
 */
SEC("sockops")
int ps_sock_ops(struct bpf_sock_ops *ctx)
{
	ps_build_variant();
	struct ps_sock_state *st;
	struct bpf_sock *sk;
	__u64 cookie;
	__u32 op = ctx->op, old;

	/* TCP calls this several times per connection: the rest return at once. */
	if (op != BPF_SOCK_OPS_TCP_CONNECT_CB && (op != BPF_SOCK_OPS_STATE_CB || ctx->args[1] != BPF_TCP_CLOSE))
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	st = bpf_map_lookup_elem(&ps_sk_state, &cookie);
	if (!st || !(st->flags & PS_HOLDS))
		return 1;
	if (op == BPF_SOCK_OPS_TCP_CONNECT_CB) {
		bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
		return 1;
	}
	old = ctx->args[0];
	if (old == BPF_TCP_FIN_WAIT1 || old == BPF_TCP_FIN_WAIT2 || old == BPF_TCP_CLOSING)
		st->flags |= PS_MAY_TIME_WAIT;
	sk = ctx->sk; /* read once: the verifier tracks the NULL check on one register */
	if (sk && sk->bound_dev_if)
		st->flags |= PS_DEV_BOUND;
	if (!(st->flags & PS_CLOSED)) {
		if (st->flags & PS_HOLDS_TUPLE)
			ps_count(st->pool, st->tuple.proto, released_unseen);
		/*
		 * The application still has the socket (a reset, a refused
		 * connect): the kernel drops the tuple now but keeps the port,
		 * bound with SOCK_BINDPORT_LOCK, until close(), whose release
		 * program gives it back. Kernel sockets have no such program.
		 */
		if (ps_release_follows(sk)) {
			if (st->flags & PS_HOLDS_TUPLE)
				ps_release_tuple(st, cookie);
			ps_settle(st);
			return 1;
		}
	}
	ps_release(st, cookie);
	return 1;
}
