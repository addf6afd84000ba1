/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Handing a reply to the host that owns its port: a FIB lookup of the
 * owner's underlay address, then either a new Ethernet header (l2 mode) or
 * a new Ethernet header and an outer IP header (encap mode), then XDP_TX or
 * a redirect to the egress device.
 *
 * A packet is steered at most once: only a frame addressed to this host
 * and not sent by another fleet host is steered, and in l2 mode only to an
 * owner on the same link (ps_steer_loop_guard(), ps_steer_on_link()).
 *
 * The forwarded frame never keeps the VLAN tags it arrived with: the FIB
 * result names the egress device, and tags are that device's business.
 * Ethernet padding after the IP packet is carried along, uncounted.
 */
#ifndef PS_BPF_STEER_FWD_H
#define PS_BPF_STEER_FWD_H

#include "parse.h"
#include "steer_maps.h"

#define PS_ENCAP_TTL 64

static __always_inline bool ps_self_underlay_set(__u32 family)
{
	if (family == AF_INET)
		return ps_self_underlay4 != 0;
	return (ps_self_underlay6[0] | ps_self_underlay6[1] | ps_self_underlay6[2] |
		ps_self_underlay6[3]) != 0;
}

/*
 * Resolve the owner's underlay address to an egress device and MACs. @len
 * is the L3 length that will leave: the kernel compares it with the route's
 * MTU and answers BPF_FIB_LKUP_RET_FRAG_NEEDED when it does not fit.
 */
static __always_inline long ps_steer_fib(struct xdp_md *ctx, const struct ps_steer_host *host,
					 __u32 len, __u8 l4_proto, struct bpf_fib_lookup *fib)
{
	__u32 flags = 0;

	/* Fields this lookup does not set (flow label, ports, VLAN) must be zero. */
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = host->family;
	fib->l4_protocol = l4_proto;
	fib->tot_len = len;
	if (host->ifindex) {
		fib->ifindex = host->ifindex;
		flags = BPF_FIB_LOOKUP_OUTPUT;
	} else {
		fib->ifindex = ctx->ingress_ifindex;
	}
	if (host->family == AF_INET) {
		fib->ipv4_src = ps_self_underlay4;
		fib->ipv4_dst = host->addr[0];
	} else {
		fib->ipv6_src[0] = ps_self_underlay6[0];
		fib->ipv6_src[1] = ps_self_underlay6[1];
		fib->ipv6_src[2] = ps_self_underlay6[2];
		fib->ipv6_src[3] = ps_self_underlay6[3];
		__builtin_memcpy(fib->ipv6_dst, host->addr, sizeof(fib->ipv6_dst));
	}
	return bpf_fib_lookup(ctx, fib, sizeof(*fib), flags);
}

/* Leave exactly an Ethernet header plus @outer bytes in front of the L3 packet. */
static __always_inline long ps_steer_make_room(struct xdp_md *ctx, __u32 l3_off, __u32 outer)
{
	int delta = (int)l3_off - (int)(ETH_HLEN + outer);

	if (!delta)
		return 0;
	return bpf_xdp_adjust_head(ctx, delta);
}

static __always_inline void ps_steer_eth(struct ethhdr *eth, const struct ps_steer_fib_memo *hop,
					 __u32 family)
{
	/* Three words, not twelve bytes (packet stores, unaligned or not: see ps_steer_loop_guard()). */
	__u32 *macs = (__u32 *)eth;

	macs[0] = hop->macs[0];
	macs[1] = hop->macs[1];
	macs[2] = hop->macs[2];
	eth->h_proto = bpf_htons(family == AF_INET ? ETH_P_IP : ETH_P_IPV6);
}

static __always_inline __u16 ps_ipv4_csum(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 sum = 0;

	for (int i = 0; i < PS_IPV4_HLEN / 2; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* IP-in-IP protocol number of the inner packet: 4 for IPv4, 41 for IPv6. */
static __always_inline __u8 ps_encap_proto(const struct ps_pkt *pkt)
{
	return pkt->family == AF_INET ? IPPROTO_IPIP : IPPROTO_IPV6;
}

static __always_inline int ps_steer_write_encap4(struct xdp_md *ctx, const struct ps_pkt *pkt,
						 const struct ps_steer_fib_memo *hop, __u32 len)
{
	struct ethhdr *eth = ps_pkt_ptr(ctx, 0, ETH_HLEN + PS_IPV4_HLEN);
	struct iphdr ip = {
		.tos = pkt->tos,
		.tot_len = bpf_htons(len),
		.frag_off = bpf_htons(IP_DF),
		.ttl = PS_ENCAP_TTL,
		.protocol = ps_encap_proto(pkt),
		.saddr = ps_self_underlay4,
		.daddr = hop->addr[0],
	};

	if (!eth)
		return -1;
	ip.version = 4;
	ip.ihl = PS_IPV4_HLEN / 4;
	ip.check = ps_ipv4_csum(&ip);
	ps_steer_eth(eth, hop, AF_INET);
	__builtin_memcpy((void *)(eth + 1), &ip, sizeof(ip));
	return 0;
}

static __always_inline int ps_steer_write_encap6(struct xdp_md *ctx, const struct ps_pkt *pkt,
						 const struct ps_steer_fib_memo *hop, __u32 len)
{
	struct ethhdr *eth = ps_pkt_ptr(ctx, 0, ETH_HLEN + PS_IPV6_HLEN);
	struct ipv6hdr ip6 = {
		.payload_len = bpf_htons(len - PS_IPV6_HLEN),
		.nexthdr = ps_encap_proto(pkt),
		.hop_limit = PS_ENCAP_TTL,
	};
	/* Version 6, the inner traffic class, flow label 0. */
	__be32 first = bpf_htonl(6U << 28 | (__u32)pkt->tos << 20);

	if (!eth)
		return -1;
	__builtin_memcpy(&ip6, &first, sizeof(first));
	ip6.saddr.in6_u.u6_addr32[0] = ps_self_underlay6[0];
	ip6.saddr.in6_u.u6_addr32[1] = ps_self_underlay6[1];
	ip6.saddr.in6_u.u6_addr32[2] = ps_self_underlay6[2];
	ip6.saddr.in6_u.u6_addr32[3] = ps_self_underlay6[3];
	__builtin_memcpy(&ip6.daddr, hop->addr, sizeof(ip6.daddr));
	ps_steer_eth(eth, hop, AF_INET6);
	__builtin_memcpy((void *)(eth + 1), &ip6, sizeof(ip6));
	return 0;
}

/* New headers in front of the L3 packet, once ps_steer_make_room() made space. */
static __always_inline int ps_steer_write(struct xdp_md *ctx, const struct ps_pkt *pkt,
					  const struct ps_steer_fib_memo *hop, __u32 len)
{
	struct ethhdr *eth;

	if (hop->outer == PS_IPV4_HLEN)
		return ps_steer_write_encap4(ctx, pkt, hop, len);
	if (hop->outer == PS_IPV6_HLEN)
		return ps_steer_write_encap6(ctx, pkt, hop, len);
	eth = ps_pkt_ptr(ctx, 0, ETH_HLEN);
	if (!eth)
		return -1;
	ps_steer_eth(eth, hop, pkt->family);
	return 0;
}

/* ---- loop guards: a packet is steered at most once ------------------- */

static __always_inline void ps_mac_key(struct ps_mac_key *key, const __u8 *mac)
{
	__builtin_memcpy(key->mac, mac, ETH_ALEN);
	key->pad = 0;
}

/*
 * May this frame be steered on? Only when it is addressed to this host
 * (a switch floods a frame for a host it lost to every port: each host
 * would send it on again), and when no fleet host sent it (a host that
 * disagrees about the owner, or a stale neighbour entry, would send it
 * back). The verdict, or -1 when the frame may go on. A pair of MACs
 * found fit is kept in this CPU's memo (struct ps_steer_memo): the
 * frames that follow from the same router to the same host skip both
 * lookups.
 */
static __always_inline int ps_steer_loop_guard(struct xdp_md *ctx, const struct ps_steer_recall *rc)
{
	/*
	 * Both MACs as three words, one compare each against the memo (packet
	 * loads are not alignment-checked on x86-64 and arm64, which have
	 * efficient unaligned access).
	 */
	__u32 *macs = ps_pkt_ptr(ctx, 0, ETH_HLEN);
	struct ps_steer_memo *memo = rc->memo;
	struct ethhdr *eth = (struct ethhdr *)macs;
	struct ps_mac_key key;

	if (!macs)
		return ps_steer_drop(dropped_malformed);
	if (memo && memo->guard_jiffies == rc->now && memo->guard_gen == rc->gen &&
	    memo->guard_macs[0] == macs[0] && memo->guard_macs[1] == macs[1] &&
	    memo->guard_macs[2] == macs[2])
		return -1;
	ps_mac_key(&key, eth->h_dest);
	if (!bpf_map_lookup_elem(&ps_steer_local_macs, &key))
		return ps_steer_drop(dropped_not_for_us);
	ps_mac_key(&key, eth->h_source);
	if (bpf_map_lookup_elem(&ps_steer_peer_macs, &key))
		return ps_steer_drop(dropped_steered_twice);
	if (memo) {
		memo->guard_jiffies = rc->now;
		memo->guard_gen = rc->gen;
		memo->guard_macs[0] = macs[0];
		memo->guard_macs[1] = macs[1];
		memo->guard_macs[2] = macs[2];
	}
	return -1;
}

/* Is the FIB's next hop the owner itself? bpf_fib_lookup() puts a gateway in the destination. */
static __always_inline bool ps_steer_on_link(const struct ps_steer_host *host, const struct bpf_fib_lookup *fib)
{
	if (host->family == AF_INET)
		return fib->ipv4_dst == host->addr[0];
	return ps_addr_eq(fib->ipv6_dst, host->addr);
}

/* Remember the owner's MAC (resolved on-link): frames from it were steered already. */
static __always_inline void ps_steer_learn_peer(const struct bpf_fib_lookup *fib, __u32 owner)
{
	struct ps_mac_key key;
	__u32 *known;

	ps_mac_key(&key, fib->dmac);
	known = bpf_map_lookup_elem(&ps_steer_peer_macs, &key);
	/* Every CPU's memo may have let frames from this MAC go on: void them. */
	if ((!known || *known != owner) &&
	    !bpf_map_update_elem(&ps_steer_peer_macs, &key, &owner, BPF_ANY))
		ps_steer_gen_bump();
}

/* Does @hop answer the question ps_steer_route() would ask the FIB now? */
static __always_inline bool ps_steer_hop_fits(const struct ps_steer_fib_memo *hop,
					      const struct ps_steer_recall *recall, __u32 in_if,
					      __u32 l3_len, __u8 l4_proto)
{
	return hop->jiffies == recall->now && hop->gen == recall->gen && hop->in_ifindex == in_if &&
	       hop->l4_proto == l4_proto && l3_len + hop->outer <= hop->mtu;
}

/* Keep a successful FIB result for the rest of this jiffy (see struct ps_steer_fib_memo). */
static __always_inline void ps_steer_hop_keep(struct ps_steer_fib_memo *hop,
					      const struct ps_steer_recall *recall, __u32 in_if,
					      const struct ps_steer_host *host, __u32 outer,
					      __u8 l4_proto, const struct bpf_fib_lookup *fib)
{
	hop->jiffies = recall->now;
	hop->gen = recall->gen;
	hop->in_ifindex = in_if;
	hop->out_ifindex = fib->ifindex;
	hop->mtu = fib->mtu_result;
	hop->outer = outer;
	hop->family = host->family;
	__builtin_memcpy(hop->addr, host->addr, sizeof(hop->addr));
	hop->l4_proto = l4_proto;
	__builtin_memcpy(hop->macs, fib->dmac, ETH_ALEN);
	__builtin_memcpy((__u8 *)hop->macs + ETH_ALEN, fib->smac, ETH_ALEN);
}

/*
 * Where a packet of L3 length @l3_len for host @owner leaves, asked of its
 * host entry and the FIB, into @hop (this CPU's memo for the owner, which
 * answered nothing this time). An owner found on-link has its MAC learnt
 * (a peer entry the loader deleted meanwhile voided the memo: it is learnt
 * again at the next forward). The verdict of a refusal, or -1.
 */
static __always_inline int ps_steer_route(struct xdp_md *ctx, __u32 in_if, __u32 owner,
					  struct ps_steer_fib_memo *hop, __u32 l3_len, __u8 l4_proto,
					  const struct ps_steer_recall *recall)
{
	/* Not zeroed: ps_steer_fib() clears it. */
	struct bpf_fib_lookup fib;
	struct ps_steer_host *host = bpf_map_lookup_elem(&ps_steer_hosts, &owner);
	__u32 outer = 0, len;
	bool on_link;
	long rc;

	if (!host || !(host->flags & PS_STEER_HOST_VALID) ||
	    (host->family != AF_INET && host->family != AF_INET6))
		return ps_steer_drop(dropped_no_host);
	/* Cannot be: ps_steer_fib_memo has an entry for every host id ps_steer_hosts has. */
	if (!hop)
		return ps_steer_drop(dropped_no_host);
	if (ps_steer_mode == PS_STEER_ENCAP) {
		if (!ps_self_underlay_set(host->family))
			return ps_steer_drop(dropped_no_route);
		outer = host->family == AF_INET ? PS_IPV4_HLEN : PS_IPV6_HLEN;
	}
	len = l3_len + outer;
	/* IP lengths and the FIB's tot_len are 16 bits. */
	if (len > 0xffff)
		return ps_steer_drop(dropped_too_big);
	rc = ps_steer_fib(ctx, host, len, l4_proto, &fib);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return ps_steer_drop(dropped_no_neigh);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return ps_steer_drop(dropped_too_big);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return ps_steer_drop(dropped_no_route);
	/*
	 * On success the kernel reports the route MTU in mtu_result; a kernel
	 * that does not leaves our tot_len there, which passes.
	 */
	if (len > fib.mtu_result)
		return ps_steer_drop(dropped_too_big);
	on_link = ps_steer_on_link(host, &fib);
	/*
	 * l2 keeps the pool address as destination: re-addressed to a gateway,
	 * the frame would be routed to the pool address again, maybe back here.
	 */
	if (!on_link && ps_steer_mode == PS_STEER_L2)
		return ps_steer_drop(dropped_not_on_link);
	if (on_link)
		ps_steer_learn_peer(&fib, owner);
	ps_steer_hop_keep(hop, recall, in_if, host, outer, l4_proto, &fib);
	return -1;
}

/*
 * Send the reply to host @owner, or drop it and count why. This CPU's
 * result for the same question in the same jiffy and generation is reused
 * (a route or neighbour change is seen at most one jiffy late, as by a
 * packet that raced it; a host entry the loader rewrote, at once); anything
 * else asks the host entry and the FIB (ps_steer_route()).
 */
static __always_inline int ps_steer_forward(struct xdp_md *ctx, const struct ps_pkt *pkt,
					    __u32 owner, const struct ps_steer_recall *recall)
{
	struct ps_steer_fib_memo *hop = bpf_map_lookup_elem(&ps_steer_fib_memo, &owner);
	__u32 l3_len = pkt->l3_end - pkt->l3_off, in_if = ctx->ingress_ifindex;
	/* Encapsulated, the packet is inside IP-in-IP: the FIB sees that protocol. */
	__u8 l4_proto = ps_steer_mode == PS_STEER_ENCAP ? ps_encap_proto(pkt) : pkt->proto;
	long rc;

	rc = ps_steer_loop_guard(ctx, recall);
	if (rc >= 0)
		return rc;
	if (!hop || !ps_steer_hop_fits(hop, recall, in_if, l3_len, l4_proto)) {
		rc = ps_steer_route(ctx, in_if, owner, hop, l3_len, l4_proto, recall);
		if (rc >= 0)
			return rc;
		/* For the verifier: ps_steer_route() refused a NULL hop. */
		if (!hop)
			return ps_steer_drop(dropped_no_host);
	}

	/* No headroom for the outer header is a size refusal too. */
	if (ps_steer_make_room(ctx, pkt->l3_off, hop->outer))
		return ps_steer_drop(dropped_too_big);
	/*
	 * Bounds re-checked for the verifier after adjust_head: cannot fail, but
	 * the frame is already changed, so it must not be passed.
	 */
	if (ps_steer_write(ctx, pkt, hop, l3_len + hop->outer))
		return ps_steer_drop(dropped_malformed);

	if (hop->out_ifindex != in_if) {
		rc = bpf_redirect(hop->out_ifindex, 0);
		if (rc != XDP_REDIRECT)
			return ps_steer_drop(dropped_redirect);
	} else {
		rc = XDP_TX;
	}
	ps_steer_count(forwarded);
	ps_steer_count_fwd(owner);
	return rc;
}

#endif
