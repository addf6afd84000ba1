// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * XDP reply steering. Hosts share each pool address and own slices of its
 * ports; a reply reaches whichever host the network picks. This program
 * hands every reply to the host that owns its port:
 *
 *   not for a pool address            XDP_PASS, untouched
 *   for a port this host owns         XDP_PASS, untouched (a dynamic pool's:
 *                                     while its lease may hold it)
 *   for a port nobody owns            XDP_DROP
 *   for another host's port           to that host (lib/steer_fwd.h), once:
 *                                     a frame not addressed to this host,
 *                                     or already steered, is dropped
 *
 * A packet another host encapsulated to this host (encap mode) is judged
 * by its inner packet: passed when this host owns its port (the kernel's
 * tunnel decapsulates it), dropped otherwise, never encapsulated again.
 *
 * The port is the destination port of TCP and UDP, or the source port of
 * the packet an ICMP/ICMPv6 error quotes (PMTU and unreachable messages
 * belong to the flow's owner). Anything for a pool address that cannot be
 * steered with certainty is dropped and counted, never passed: the local
 * kernel would answer another host's flow with a reset or an error.
 */
#include "lib/common.h"
#include "lib/parse.h"
#include "lib/steer_maps.h"
#include "lib/steer_fwd.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* A pool packet with no port to steer by: count why; only unsliced traffic passes. */
static __always_inline int ps_steer_refused(int res)
{
	switch (res) {
	case PS_PARSE_OTHER:
		return ps_steer_verdict(passed_other, XDP_PASS);
	case PS_PARSE_FRAGMENT:
		return ps_steer_drop(dropped_fragment);
	case PS_PARSE_UNSUPPORTED:
		return ps_steer_drop(dropped_unsupported);
	}
	return ps_steer_drop(dropped_malformed);
}

/* Is @pkt's destination this host's underlay address (where other hosts encapsulate to)? */
static __always_inline bool ps_steer_to_self(const struct ps_pkt *pkt)
{
	if (pkt->family == AF_INET)
		return ps_self_underlay4 && pkt->dst[0] == ps_self_underlay4;
	return ps_self_underlay_set(AF_INET6) && pkt->dst[0] == ps_self_underlay6[0] &&
	       pkt->dst[1] == ps_self_underlay6[1] && pkt->dst[2] == ps_self_underlay6[2] &&
	       pkt->dst[3] == ps_self_underlay6[3];
}

/*
 * Not for a pool address: is it IP-in-IP to this host around a packet for
 * one, that another host steered here? Then @pkt describes the inner packet.
 */
static __always_inline bool ps_steer_encapsulated(struct xdp_md *ctx, struct ps_pkt *pkt,
						  const struct ps_steer_recall *rc, __u32 *slot)
{
	return ps_steer_to_self(pkt) && !ps_parse_inner_dst(ctx, pkt) &&
	       ps_steer_pool_slot(rc, pkt->family, pkt->dst, slot);
}

SEC("xdp")
int ps_steer(struct xdp_md *ctx)
{
	struct ps_steer_recall rc;
	struct ps_pkt pkt = {};
	bool steered = false;
	__u32 slot, owner;
	int res;

	ps_build_variant();

	if (ps_parse_dst(ctx, &pkt))
		return ps_steer_verdict(passed_not_pool, XDP_PASS);
	ps_steer_recall_open(&rc);
	if (!ps_steer_pool_slot(&rc, pkt.family, pkt.dst, &slot)) {
		if (!ps_steer_encapsulated(ctx, &pkt, &rc, &slot))
			return ps_steer_verdict(passed_not_pool, XDP_PASS);
		steered = true;
	}
	res = ps_parse_key(ctx, &pkt);
	if (res)
		return ps_steer_refused(res);
	/* ICMP errors are steered by the quoted source, itself a pool address. */
	if (pkt.quoted && !ps_addr_eq(pkt.key_addr, pkt.dst) &&
	    !ps_steer_pool_slot(&rc, pkt.family, pkt.key_addr, &slot))
		return ps_steer_verdict(passed_other, XDP_PASS);

	owner = ps_steer_owner_of(slot, pkt.key_port);
	if (owner == PS_STEER_NO_HOST)
		return ps_steer_drop(dropped_no_owner);
	if (owner == ps_self_host) {
		if (ps_steer_own_lapsed(slot))
			return ps_steer_drop(dropped_no_owner);
		return ps_steer_verdict(passed_own, XDP_PASS);
	}
	/* Never encapsulated again: decapsulated here, the kernel would answer another host's flow. */
	if (steered)
		return ps_steer_drop(dropped_steered_twice);
	return ps_steer_forward(ctx, &pkt, owner, &rc);
}
