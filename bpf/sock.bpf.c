// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cgroup socket programs: place every TCP and UDP socket of the cgroup that
 * talks to a pool's destinations on the pool's shared address, with a source
 * port inside this host's slice and a 4-tuple no other socket has.
 *
 *   connect4/6      pick a free tuple of the slice, claim it, bpf_bind() it
 *   bind4/6         bind(pool, 0) gets a slice port; out-of-slice ports: EPERM
 *   sendmsg4/6      unconnected UDP may not send from the pool address with
 *                   a port outside the slice
 *   sock_release    give back what the socket claimed
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/pool.h"
#include "lib/claim.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* State of one slice search, shared with the bpf_loop callback. */
struct ps_search {
	struct bpf_sock_addr *ctx;
	struct ps_tuple *tuple;   /* lport is filled in per candidate */
	struct ps_claim claim;
	__u32 slot;
	__u32 lo;
	__u32 size;
	__u32 start;
	__u32 port;               /* the port found, 0 if none */
	int err;                  /* set when the search must stop early */
};

static __always_inline bool ps_is_v4mapped(const __u32 a[4])
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
}

/* Does the kernel already have a socket on this tuple (TIME_WAIT included)? */
static __always_inline bool ps_kernel_holds(struct bpf_sock_addr *ctx, const struct ps_tuple *t)
{
	/* The lookup tuple is oriented as an incoming packet would be. */
	struct bpf_sock_tuple lk = {};
	struct bpf_sock *sk;
	__u32 len;

	if (t->family == AF_INET) {
		lk.ipv4.saddr = t->raddr[0];
		lk.ipv4.daddr = t->laddr[0];
		lk.ipv4.sport = bpf_htons(t->rport);
		lk.ipv4.dport = bpf_htons(t->lport);
		len = sizeof(lk.ipv4);
	} else {
		__builtin_memcpy(lk.ipv6.saddr, t->raddr, 16);
		__builtin_memcpy(lk.ipv6.daddr, t->laddr, 16);
		lk.ipv6.sport = bpf_htons(t->rport);
		lk.ipv6.dport = bpf_htons(t->lport);
		len = sizeof(lk.ipv6);
	}
	if (t->proto == IPPROTO_TCP)
		/* skc_ (not sk_) so that TIME_WAIT and request sockets count too. */
		sk = bpf_skc_lookup_tcp(ctx, &lk, len, BPF_F_CURRENT_NETNS, 0);
	else
		sk = bpf_sk_lookup_udp(ctx, &lk, len, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return false;
	bpf_sk_release(sk);
	return true;
}

/*
 * Take over the claim on @t if it is stale (see PS_STALE_CLAIM_NS). The
 * claim's timestamp is the lock: of several sockets racing for one stale
 * claim, the one whose compare-and-swap moves it wins, and every later
 * look sees a fresh claim. The dead owner's share of the port word is
 * given back here, since its release program never will.
 */
static __always_inline bool ps_claim_take_stale(struct bpf_sock_addr *ctx, const struct ps_tuple *t,
						const struct ps_claim *mine, __u32 *word)
{
	struct ps_claim *cur = bpf_map_lookup_elem(&ps_tuples, t);
	__u64 since, now = bpf_ktime_get_ns();

	if (!cur)
		return false;
	since = cur->since_ns;
	if (since > now || now - since < PS_STALE_CLAIM_NS || ps_kernel_holds(ctx, t))
		return false;
	if (__sync_val_compare_and_swap(&cur->since_ns, since, now) != since)
		return false;
	if (cur->flags & PS_CLAIM_PORT_USER)
		__sync_fetch_and_sub(word, 1);
	cur->cookie = mine->cookie;
	cur->flags = mine->flags;
	return true;
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
	__u32 off = s->start + i;
	__u32 *word;
	/*
	 * int, not long: before Linux 6.4 the verifier calls a map's update
	 * op directly and it returns int, so -EEXIST arrives zero-extended
	 * and a 64-bit compare with -EEXIST never matches (found on 6.1 by
	 * the kernel matrix).
	 */
	int err;

	if (off >= s->size)
		off -= s->size;
	t->lport = s->lo + off;

	word = ps_port_word(s->slot, t->lport);
	if (!word || !ps_port_share(word))
		return 0;

	err = bpf_map_update_elem(&ps_tuples, t, &s->claim, BPF_NOEXIST);
	if (err == -EEXIST) {
		if (!ps_claim_take_stale(s->ctx, t, &s->claim, word)) {
			__sync_fetch_and_sub(word, 1);
			return 0;
		}
		ps_count(s->slot, t->proto, reclaimed);
	} else if (err) {
		__sync_fetch_and_sub(word, 1);
		s->err = -E2BIG; /* ps_tuples is full: no other port will do better */
		return 1;
	} else if (ps_kernel_holds(s->ctx, t)) {
		/*
		 * Skips are counted in the map, not in *s: the verifier proves
		 * the callback's loop by finding a state it has seen, which a
		 * counter in the caller's stack would never repeat.
		 */
		ps_count(s->slot, t->proto, kernel_held);
		goto undo;
	}
	if (ps_bind_port(s->ctx, t)) {
		ps_count(s->slot, t->proto, bind_failed);
		goto undo;
	}
	s->port = t->lport;
	return 1;
undo:
	bpf_map_delete_elem(&ps_tuples, t);
	__sync_fetch_and_sub(word, 1);
	return 0;
}

static __always_inline int ps_reject(int err)
{
	bpf_set_retval(err);
	return SYS_REJECT;
}

static __always_inline struct ps_sock_state *ps_sock_state(struct bpf_sock_addr *ctx)
{
	return bpf_sk_storage_get(&ps_sk_state, ctx->sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
}

/* Search the whole slice, from a random point, for a free tuple. */
static __always_inline int ps_connect_alloc(struct bpf_sock_addr *ctx, struct ps_pool *pool,
					     __u32 slot, struct ps_tuple *t,
					     struct ps_sock_state *st)
{
	struct ps_search s = {
		.ctx = ctx,
		.tuple = t,
		.claim = {
			.cookie = bpf_get_socket_cookie(ctx),
			.since_ns = bpf_ktime_get_ns(),
			.flags = PS_CLAIM_PORT_USER,
		},
		.slot = slot,
		.lo = pool->port_lo,
		.size = (__u32)pool->port_hi - pool->port_lo + 1,
	};
	int one = 1;

	s.start = bpf_get_prandom_u32() % s.size;
	/* One port serves many destinations: the tuple, not the port, is unique. */
	if (bpf_setsockopt(ctx, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		return ps_reject(-EADDRNOTAVAIL);

	bpf_loop(s.size, ps_try_port, &s, 0);

	if (!s.port) {
		if (s.err == -E2BIG)
			ps_count(slot, t->proto, map_full);
		else
			ps_count(slot, t->proto, exhausted);
		return ps_reject(-EADDRNOTAVAIL);
	}

	st->flags = PS_HOLDS_TUPLE | PS_HOLDS_PORT_USER;
	st->pool = slot;
	st->port = s.port;
	st->tuple = *t;
	ps_count(slot, t->proto, allocated);
	return SYS_PROCEED;
}

/*
 * connect() of a socket that already has a port on the pool address (it
 * bound it, or a previous connect did): the kernel does not stop connected
 * UDP sockets from sharing a 4-tuple, so claim the tuple here.
 */
static __always_inline int ps_connect_bound(struct bpf_sock_addr *ctx, __u32 slot,
					     struct ps_tuple *t, struct ps_sock_state *st)
{
	struct ps_claim claim = {
		.cookie = bpf_get_socket_cookie(ctx),
		.since_ns = bpf_ktime_get_ns(),
	};
	struct ps_claim *cur;

	if (st->flags & PS_HOLDS_TUPLE) {
		if (st->tuple.proto == t->proto && st->tuple.lport == t->lport &&
		    st->tuple.rport == t->rport && ps_addr_eq(st->tuple.raddr, t->raddr) &&
		    ps_addr_eq(st->tuple.laddr, t->laddr))
			return SYS_PROCEED;
		/* Reconnect to another destination: the old tuple is free again. */
		cur = bpf_map_lookup_elem(&ps_tuples, &st->tuple);
		if (cur && cur->cookie == claim.cookie)
			bpf_map_delete_elem(&ps_tuples, &st->tuple);
		st->flags &= ~PS_HOLDS_TUPLE;
	}
	if (bpf_map_update_elem(&ps_tuples, t, &claim, BPF_NOEXIST)) {
		ps_count(slot, t->proto, conflicts);
		return ps_reject(-EADDRNOTAVAIL);
	}
	if (!(st->flags & (PS_HOLDS_PORT_USER | PS_HOLDS_PORT_BIND))) {
		/* Bound explicitly before we were attached: claim the tuple only. */
		st->pool = slot;
		st->port = t->lport;
	}
	st->flags |= PS_HOLDS_TUPLE;
	st->tuple = *t;
	return SYS_PROCEED;
}

static __always_inline int ps_connect(struct bpf_sock_addr *ctx, struct ps_pool *pool,
				      __u32 slot, struct ps_tuple *t)
{
	struct bpf_sock *sk = ctx->sk;
	struct ps_sock_state *st;
	__u32 src[4] = {};

	if (t->family == AF_INET) {
		src[0] = sk->src_ip4;
	} else {
		src[0] = sk->src_ip6[0];
		src[1] = sk->src_ip6[1];
		src[2] = sk->src_ip6[2];
		src[3] = sk->src_ip6[3];
	}
	/* Bound to another address than the pool's: the application chose. */
	if (!ps_addr_zero(src) && !ps_addr_eq(src, pool->addr))
		return SYS_PROCEED;

	/* A wildcard-bound port: leave it, the address is not ours. */
	if (sk->src_port && ps_addr_zero(src))
		return SYS_PROCEED;

	__builtin_memcpy(t->laddr, pool->addr, sizeof(t->laddr));
	st = ps_sock_state(ctx);
	if (!st)
		return ps_reject(-EADDRNOTAVAIL);

	if (sk->src_port) {
		t->lport = sk->src_port;
		return ps_connect_bound(ctx, slot, t, st);
	}
	/* A previous attempt's claim that did not stick. */
	if (st->flags)
		ps_release(st, bpf_get_socket_cookie(ctx));
	return ps_connect_alloc(ctx, pool, slot, t, st);
}

SEC("cgroup/connect4")
int ps_connect4(struct bpf_sock_addr *ctx)
{
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
	__u32 slot;
	__u32 lo;
	__u32 size;
	__u32 start;
	__u32 port;
};

static long ps_take_port(__u32 i, void *data)
{
	struct ps_bind_search *s = data;
	__u32 off = s->start + i, *word;

	if (off >= s->size)
		off -= s->size;
	word = ps_port_word(s->slot, s->lo + off);
	if (!word || !ps_port_take(word))
		return 0;
	s->port = s->lo + off;
	return 1;
}

static __always_inline __u32 ps_bind_alloc(struct ps_pool *pool, __u32 slot)
{
	struct ps_bind_search s = {
		.slot = slot,
		.lo = pool->port_lo,
		.size = (__u32)pool->port_hi - pool->port_lo + 1,
	};

	s.start = bpf_get_prandom_u32() % s.size;
	bpf_loop(s.size, ps_take_port, &s, 0);
	return s.port;
}

static __always_inline int ps_bind(struct bpf_sock_addr *ctx, __u32 family, const __u32 addr[4])
{
	struct ps_sock_state *st;
	struct ps_pool *pool;
	__u32 slot, port, *word;

	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return SYS_PROCEED;
	pool = ps_pool_for_addr(family, addr, &slot);
	if (!pool)
		return SYS_PROCEED;
	/* Already bound: the kernel refuses this bind() itself. */
	if (ctx->sk->src_port)
		return SYS_PROCEED;

	st = ps_sock_state(ctx);
	if (!st)
		return ps_reject(-EADDRINUSE);
	/* A previous bind() we admitted but the kernel refused. */
	if (st->flags)
		ps_release(st, bpf_get_socket_cookie(ctx));

	port = bpf_ntohs(ctx->user_port);
	if (!port) {
		port = ps_bind_alloc(pool, slot);
		if (!port) {
			ps_count(slot, ctx->protocol, exhausted);
			return ps_reject(-EADDRINUSE);
		}
		ctx->user_port = bpf_htons(port);
		ps_count(slot, ctx->protocol, bound);
	} else if (!ps_in_slice(pool, port)) {
		ps_count(slot, ctx->protocol, bind_denied);
		return ps_reject(-EPERM);
	} else {
		/* The application chose the port: the kernel arbitrates sharing. */
		word = ps_port_word(slot, port);
		if (!word)
			return ps_reject(-EADDRINUSE);
		__sync_fetch_and_add(word, PS_PORT_BIND_ONE);
	}
	st->flags = PS_HOLDS_PORT_BIND;
	st->pool = slot;
	st->port = port;
	return SYS_PROCEED;
}

SEC("cgroup/bind4")
int ps_bind4(struct bpf_sock_addr *ctx)
{
	__u32 addr[4] = { ctx->user_ip4 };

	return ps_bind(ctx, AF_INET, addr);
}

SEC("cgroup/bind6")
int ps_bind6(struct bpf_sock_addr *ctx)
{
	__u32 addr[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };

	/* ::ffff:a.b.c.d is the IPv4 pool's address seen through a dual-stack socket. */
	if (ps_is_v4mapped(addr)) {
		__u32 addr4[4] = { addr[3] };

		return ps_bind(ctx, AF_INET, addr4);
	}
	return ps_bind(ctx, AF_INET6, addr);
}

/*
 * Unconnected UDP: the hook cannot choose a source port (autobind already
 * happened), so a send that would leave from the pool address with a port
 * outside the slice is refused; everything else keeps the host's own
 * address chosen by routing.
 */
static __always_inline int ps_sendmsg(struct bpf_sock_addr *ctx, __u32 family, const __u32 src[4])
{
	struct ps_pool *pool;
	__u32 slot;

	pool = ps_pool_for_addr(family, src, &slot);
	if (!pool || ps_in_slice(pool, ctx->sk->src_port))
		return SYS_PROCEED;
	ps_count(slot, IPPROTO_UDP, send_denied);
	return ps_reject(-EPERM);
}

SEC("cgroup/sendmsg4")
int ps_sendmsg4(struct bpf_sock_addr *ctx)
{
	__u32 src[4] = { ctx->msg_src_ip4 };

	return ps_sendmsg(ctx, AF_INET, src);
}

SEC("cgroup/sendmsg6")
int ps_sendmsg6(struct bpf_sock_addr *ctx)
{
	__u32 src[4] = { ctx->msg_src_ip6[0], ctx->msg_src_ip6[1], ctx->msg_src_ip6[2],
			 ctx->msg_src_ip6[3] };

	return ps_sendmsg(ctx, AF_INET6, src);
}

SEC("cgroup/sock_release")
int ps_sock_release(struct bpf_sock *ctx)
{
	struct ps_sock_state *st = bpf_sk_storage_get(&ps_sk_state, ctx, NULL, 0);

	if (st && st->flags)
		ps_release(st, bpf_get_socket_cookie(ctx));
	return SYS_PROCEED;
}
