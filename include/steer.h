/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reply steering (bpf/steer.bpf.c): types and constants read by both the XDP
 * program and user space. Replies to a pool address reach whichever host the
 * network picks; the XDP program hands each one to the host that owns its
 * destination port in the pool, or passes it up when that host is this one.
 *
 * Include <linux/types.h> (user space) or vmlinux.h (BPF) first, as for
 * portslice.h.
 */
#ifndef PORTSLICE_STEER_H
#define PORTSLICE_STEER_H

#include "portslice.h"

/*
 * Version of the layout of the ps_steer_* maps. Bump it whenever a struct
 * below, a map's key/value size or the meaning of an entry changes, so that
 * a loader refuses to reuse pins it would misread.
 */
#define PS_STEER_LAYOUT_VERSION 3

/*
 * ps_steer_gen (one __u64, mmapable) is the generation of ps_steer_pools,
 * ps_steer_hosts, ps_steer_local_macs and ps_steer_peer_macs: the program
 * keeps its last answers from them per CPU while it is unchanged (at most
 * one jiffy). Whoever writes one of the four adds one to it afterwards,
 * atomically.
 */

/* Host ids index ps_steer_hosts and ps_steer_fwd; id 0 means "no host". */
#define PS_MAX_HOSTS 256
#define PS_STEER_NO_HOST 0

/*
 * ps_steer_owner is indexed by pool slot * 65536 + destination port (host
 * byte order). Slots are those of ps_steer_pools, < PS_MAX_POOLS.
 */
#define PS_STEER_OWNER_INDEX(slot, port) ((__u32)(slot) * PS_PORTS_PER_POOL + (__u32)(port))
#define PS_STEER_OWNER_ENTRIES (PS_MAX_POOLS * PS_PORTS_PER_POOL)

/*
 * Value of ps_steer_lease, per pool slot: until when this host may pass up
 * replies for its own ports of that slot. A dynamic pool's blocks are this
 * host's only under its etcd lease; once the lease can have expired and the
 * quarantine other hosts keep its blocks in can be over, another host may
 * hold them, and a reply passed up here would meet a kernel that resets that
 * host's connection. The agent's leasing task moves the time on with every
 * keepalive; an agent that stays dead leaves it where it was. Static pools
 * have 0.
 */
struct ps_steer_lease {
	__u64 own_until_ns; /* CLOCK_BOOTTIME (bpf_ktime_get_boot_ns()); 0: no limit */
};
/* own_until_ns of a dynamic pool before its host has a lease: no own port passes. */
#define PS_STEER_LEASE_NONE 1ULL

/* How a reply reaches its owner (rodata ps_steer_mode). */
enum ps_steer_mode {
	/*
	 * Same L2 segment: the frame is re-addressed to the owner's MAC (found
	 * by a FIB lookup of its underlay address) and sent out unchanged at L3.
	 */
	PS_STEER_L2 = 0,
	/*
	 * IP-in-IP to the owner's underlay address: IPv4 outer header (protocol
	 * 4 or 41) for an IPv4 underlay, IPv6 outer header (next header 4 or 41)
	 * for an IPv6 underlay, whatever the family of the reply.
	 */
	PS_STEER_ENCAP = 1,
};

/* MACs of this host's steered interfaces and the devices stacked on them. */
#define PS_STEER_MAX_LOCAL_MACS 256
/* MACs of other fleet hosts: a few per host (hosts with several interfaces). */
#define PS_STEER_MAX_PEER_MACS (4 * PS_MAX_HOSTS)

/* An Ethernet address as a map key (ps_steer_local_macs, ps_steer_peer_macs). */
struct ps_mac_key {
	__u8 mac[6];
	__u16 pad; /* zero */
};

/* ps_steer_host.flags */
#define PS_STEER_HOST_VALID (1U << 0) /* the entry describes a host */

/* A host that owns ports: how to reach it. Value of ps_steer_hosts. */
struct ps_steer_host {
	__u32 flags;     /* PS_STEER_HOST_* */
	__u32 family;    /* of the underlay address: AF_INET or AF_INET6 */
	__u32 addr[4];   /* underlay address, network byte order; IPv4 uses addr[0] */
	/*
	 * 0: look the underlay address up as a packet forwarded from the
	 * ingress device. Otherwise: as output through this device
	 * (BPF_FIB_LOOKUP_OUTPUT), for hosts reached through another device
	 * than the one replies arrive on.
	 */
	__u32 ifindex;
	__u32 pad;
};

/*
 * Counters of ps_steer_stats (a single per-CPU entry; sum over CPUs), as
 * X(name, what it counts): the struct's fields and the names status and
 * metrics print expand this one list (PS_COUNTER_FIELD, PS_COUNTER_NAME in
 * portslice.h). Every packet the program sees is counted in exactly one.
 */
#define PS_STEER_COUNTERS(X)                                                                               \
	X(passed_not_pool, "not shown to be for a pool address: non-IP, 3+ VLAN tags, truncated before "    \
			   "the destination, another destination")                                          \
	X(passed_own, "for a port this host owns")                                                          \
	X(passed_other, "for a pool address, not port-sliced: other protocols, ICMP that is not an error " \
			"about a TCP/UDP flow from a pool address")                                         \
	X(forwarded, "handed to XDP_TX, or to a redirect that bpf_redirect() accepted; what the driver "   \
		     "refuses after the program returned shows only in the kernel's own XDP counters")      \
	X(dropped_no_owner, "the port has no owner, or is this host's in a dynamic pool whose lease and "       \
			    "quarantine ran out (ps_steer_lease)")                                                        \
	X(dropped_no_host, "the owner has no valid ps_steer_hosts entry")                                   \
	X(dropped_malformed, "truncated or invalid headers")                                                \
	X(dropped_fragment, "IPv4 non-first fragment (no ports to steer by)")                               \
	X(dropped_unsupported, "IPv6 extension header before the L4 header")                                \
	X(dropped_no_route, "any other FIB failure: no route to the owner's underlay, forwarding disabled " \
			    "on the lookup device; or no local underlay address of the owner's family")     \
	X(dropped_no_neigh, "route found, but no neighbour entry")                                          \
	X(dropped_too_big, "the (encapsulated) packet exceeds the route MTU")                               \
	/* Loop guards: a packet is steered at most once. */                                                \
	X(dropped_not_for_us, "for another host's port, in a frame not addressed to a MAC of this host "    \
			      "(flooded by a switch that lost the owner, or mis-sent)")                     \
	X(dropped_steered_twice, "for a port this host does not own, and already steered by a fleet host: " \
				 "from a fleet host's MAC, or IP-in-IP to this host")                       \
	X(dropped_not_on_link, "l2: the owner's underlay address is behind a gateway, which would route "   \
			       "the frame back to the pool address")                                        \
	X(dropped_redirect, "bpf_redirect() refused the egress device")

struct ps_steer_stats {
	PS_STEER_COUNTERS(PS_COUNTER_FIELD)
};

/* static const char *const names[] = { PS_STEER_STAT_NAMES }: the fields' names, in order. */
#define PS_STEER_STAT_NAMES PS_STEER_COUNTERS(PS_COUNTER_NAME)

#endif /* PORTSLICE_STEER_H */
