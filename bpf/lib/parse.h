/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Packet parsing for the steering program: Ethernet, up to two VLAN tags,
 * IPv4 (options, fragments), IPv6 (without extension headers), TCP, UDP and
 * the packet quoted by ICMP and ICMPv6 errors. Nothing here reads a map: the
 * parser says what a frame is, steer.bpf.c decides what to do with it.
 *
 * Offsets are plain numbers from ctx->data; every read goes through
 * ps_pkt_ptr(), which bounds-checks against the end of the frame. Lengths
 * declared by headers are checked too: a frame shorter than its IP total
 * length is truncated, and nothing past the IP total length (Ethernet
 * padding) is read as part of the packet.
 */
#ifndef PS_BPF_PARSE_H
#define PS_BPF_PARSE_H

#include "common.h"

/* Macros of uapi headers that vmlinux.h does not carry. */
#define ETH_HLEN 14
#define ETH_ALEN 6
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

#define IPPROTO_ICMPV6 58

#define ICMP_DEST_UNREACH 3
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PKT_TOOBIG 2
#define ICMPV6_TIME_EXCEED 3
#define ICMPV6_PARAMPROB 4

#define PS_IPV4_HLEN 20
#define PS_IPV6_HLEN 40
#define PS_ICMP_HLEN 8   /* type, code, checksum, 4 bytes of rest; same for ICMPv6 */
#define PS_VLAN_MAX 2

/*
 * Deepest header offset the parser reads: 14 (Ethernet) + 8 (two tags) +
 * 40 (an IP-in-IP outer header) + 60 (IPv4 with options) + 8 (ICMP) + 60
 * (quoted IPv4) = 190, plus 4 bytes of quoted ports. A power of two minus
 * one keeps the bound cheap.
 */
#define PS_PARSE_MAX_OFF 255

/* The layout ps_ctx_data() and ps_ctx_data_end() read. */
_Static_assert(__builtin_offsetof(struct xdp_md, data) == 0, "xdp_md.data at 0");
_Static_assert(__builtin_offsetof(struct xdp_md, data_end) == 4, "xdp_md.data_end at 4");

/* Outcome of a parsing step. */
enum ps_parse {
	PS_PARSE_OK = 0,
	PS_PARSE_NOT_IP,      /* not IPv4/IPv6, or too short to read the destination */
	PS_PARSE_MALFORMED,   /* truncated or invalid headers */
	PS_PARSE_FRAGMENT,    /* IPv4 non-first fragment: there is no L4 header */
	PS_PARSE_UNSUPPORTED, /* IPv6 extension header before the L4 header */
	PS_PARSE_OTHER,       /* valid, but carries no port to steer by */
};

/* What the parser learned about one frame. */
struct ps_pkt {
	__u32 l3_off;      /* first byte after Ethernet and VLAN tags */
	__u32 l3_end;      /* l3_off + IP total length */
	__u32 l4_off;
	__u32 family;      /* AF_INET or AF_INET6 */
	__u32 dst[4];      /* destination, network byte order; IPv4 uses dst[0] */
	__u32 key_addr[4]; /* steering key when quoted: the pool address the port belongs to */
	__u16 key_port;    /* steering key: the port, host byte order */
	__u8 proto;        /* L4 protocol of the packet itself */
	__u8 tos;          /* IPv4 TOS or IPv6 traffic class */
	__u8 first_frag;   /* IPv4 first fragment: L4 lengths reach past it */
	__u8 quoted;       /* the key is a quoted packet's (key_addr), not dst */
	__u8 pad[2];
};

/*
 * ctx->data and ctx->data_end, each read by one instruction the compiler
 * cannot take apart: under register pressure clang keeps the two field
 * offsets in registers (even spilled) and adds them to ctx, which the
 * verifier refuses ("dereference of modified ctx ptr").
 */
static __always_inline void *ps_ctx_data(struct xdp_md *ctx)
{
	void *p;

	asm volatile("%0 = *(u32 *)(%1 + 0)" : "=r"(p) : "r"(ctx));
	return p;
}

static __always_inline void *ps_ctx_data_end(struct xdp_md *ctx)
{
	void *p;

	asm volatile("%0 = *(u32 *)(%1 + 4)" : "=r"(p) : "r"(ctx));
	return p;
}

/* A pointer to @len readable bytes at @off, or NULL when the frame is shorter. */
static __always_inline void *ps_pkt_ptr(struct xdp_md *ctx, __u32 off, __u32 len)
{
	void *data = ps_ctx_data(ctx);
	void *data_end = ps_ctx_data_end(ctx);
	void *p;

	/* The verifier needs a bound on a variable offset before data + off. */
	if (off > PS_PARSE_MAX_OFF)
		return NULL;
	p = data + off;
	if (p + len > data_end)
		return NULL;
	return p;
}

/* Does the frame reach at least @end bytes? */
static __always_inline bool ps_pkt_has(struct xdp_md *ctx, __u32 end)
{
	void *data = ps_ctx_data(ctx);
	void *data_end = ps_ctx_data_end(ctx);

	return data + end <= data_end;
}

/* Ethernet and up to two 802.1Q/802.1ad tags: where L3 starts, and its family. */
static __always_inline int ps_parse_eth(struct xdp_md *ctx, struct ps_pkt *pkt)
{
	struct ethhdr *eth = ps_pkt_ptr(ctx, 0, sizeof(*eth));
	struct vlan_hdr *vlan;
	__u32 off = sizeof(*eth);
	__be16 proto;

	if (!eth)
		return PS_PARSE_NOT_IP;
	proto = eth->h_proto;
	for (int i = 0; i < PS_VLAN_MAX; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		vlan = ps_pkt_ptr(ctx, off, sizeof(*vlan));
		if (!vlan)
			return PS_PARSE_NOT_IP;
		proto = vlan->h_vlan_encapsulated_proto;
		off += sizeof(*vlan);
	}
	pkt->l3_off = off;
	/* A third tag lands here too: it is not IP as far as we can tell. */
	if (proto == bpf_htons(ETH_P_IP))
		pkt->family = AF_INET;
	else if (proto == bpf_htons(ETH_P_IPV6))
		pkt->family = AF_INET6;
	else
		return PS_PARSE_NOT_IP;
	return PS_PARSE_OK;
}

/*
 * The IP destination at pkt->l3_off, of family pkt->family: just enough to
 * ask whether the packet is for a pool address. Nothing is validated yet.
 */
static __always_inline int ps_parse_l3_dst(struct xdp_md *ctx, struct ps_pkt *pkt)
{
	struct ipv6hdr *ip6;
	struct iphdr *ip;

	if (pkt->family == AF_INET) {
		ip = ps_pkt_ptr(ctx, pkt->l3_off, sizeof(*ip));
		if (!ip)
			return PS_PARSE_NOT_IP;
		/* The rest may hold an outer IPv6 destination (ps_parse_inner_dst()). */
		pkt->dst[0] = ip->daddr;
		pkt->dst[1] = pkt->dst[2] = pkt->dst[3] = 0;
	} else {
		ip6 = ps_pkt_ptr(ctx, pkt->l3_off, sizeof(*ip6));
		if (!ip6)
			return PS_PARSE_NOT_IP;
		__builtin_memcpy(pkt->dst, &ip6->daddr, sizeof(pkt->dst));
	}
	return PS_PARSE_OK;
}

/* Ethernet, tags and the IP destination (see ps_parse_l3_dst()). */
static __always_inline int ps_parse_dst(struct xdp_md *ctx, struct ps_pkt *pkt)
{
	int res = ps_parse_eth(ctx, pkt);

	return res ? res : ps_parse_l3_dst(ctx, pkt);
}

/*
 * An IP-in-IP packet (protocol 4 or 41; an IPv4 outer header without
 * options, an IPv6 one without extension headers, as steering writes
 * them): @pkt moves to the inner packet, with its family and destination.
 * Call after ps_parse_dst(). PS_PARSE_OTHER: not IP-in-IP.
 */
static __always_inline int ps_parse_inner_dst(struct xdp_md *ctx, struct ps_pkt *pkt)
{
	struct ipv6hdr *ip6;
	struct iphdr *ip;
	__u32 outer;
	__u8 proto;

	if (pkt->family == AF_INET) {
		ip = ps_pkt_ptr(ctx, pkt->l3_off, sizeof(*ip));
		if (!ip || ip->ihl * 4 != PS_IPV4_HLEN || (bpf_ntohs(ip->frag_off) & (IP_MF | IP_OFFSET)))
			return PS_PARSE_OTHER;
		proto = ip->protocol;
		outer = PS_IPV4_HLEN;
	} else {
		ip6 = ps_pkt_ptr(ctx, pkt->l3_off, sizeof(*ip6));
		if (!ip6)
			return PS_PARSE_OTHER;
		proto = ip6->nexthdr;
		outer = PS_IPV6_HLEN;
	}
	if (proto == IPPROTO_IPIP)
		pkt->family = AF_INET;
	else if (proto == IPPROTO_IPV6)
		pkt->family = AF_INET6;
	else
		return PS_PARSE_OTHER;
	pkt->l3_off += outer;
	return ps_parse_l3_dst(ctx, pkt);
}

static __always_inline int ps_parse_ipv4(struct xdp_md *ctx, struct ps_pkt *pkt)
{
	struct iphdr *ip = ps_pkt_ptr(ctx, pkt->l3_off, sizeof(*ip));
	__u32 hlen, tot;
	__u16 frag;

	if (!ip)
		return PS_PARSE_MALFORMED;
	hlen = ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (ip->version != 4 || hlen < PS_IPV4_HLEN || tot < hlen)
		return PS_PARSE_MALFORMED;
	if (!ps_pkt_has(ctx, pkt->l3_off + tot))
		return PS_PARSE_MALFORMED;
	frag = bpf_ntohs(ip->frag_off);
	if (frag & IP_OFFSET)
		return PS_PARSE_FRAGMENT;
	pkt->first_frag = !!(frag & IP_MF);
	pkt->l3_end = pkt->l3_off + tot;
	pkt->l4_off = pkt->l3_off + hlen;
	pkt->proto = ip->protocol;
	pkt->tos = ip->tos;
	return PS_PARSE_OK;
}

/* Next-header values that announce an IPv6 extension header. */
static __always_inline bool ps_ipv6_ext(__u8 nh)
{
	switch (nh) {
	case 0:   /* hop-by-hop options */
	case 43:  /* routing */
	case 44:  /* fragment */
	case 51:  /* authentication header */
	case 60:  /* destination options */
	case 135: /* mobility */
	case 139: /* HIP */
	case 140: /* shim6 */
	case 253: /* experimental */
	case 254:
		return true;
	}
	return false;
}

/* Traffic class: the 8 bits after the version nibble. */
static __always_inline __u8 ps_ipv6_tclass(const struct ipv6hdr *ip6)
{
	const __u8 *b = (const __u8 *)ip6;

	return (__u8)((b[0] & 0x0f) << 4 | b[1] >> 4);
}

static __always_inline int ps_parse_ipv6(struct xdp_md *ctx, struct ps_pkt *pkt)
{
	struct ipv6hdr *ip6 = ps_pkt_ptr(ctx, pkt->l3_off, sizeof(*ip6));
	__u32 tot;

	if (!ip6)
		return PS_PARSE_MALFORMED;
	tot = PS_IPV6_HLEN + bpf_ntohs(ip6->payload_len);
	if (ip6->version != 6 || !ps_pkt_has(ctx, pkt->l3_off + tot))
		return PS_PARSE_MALFORMED;
	if (ps_ipv6_ext(ip6->nexthdr))
		return PS_PARSE_UNSUPPORTED;
	pkt->l3_end = pkt->l3_off + tot;
	pkt->l4_off = pkt->l3_off + PS_IPV6_HLEN;
	pkt->proto = ip6->nexthdr;
	pkt->tos = ps_ipv6_tclass(ip6);
	return PS_PARSE_OK;
}

/* TCP or UDP of the packet itself: steer by (destination, destination port). */
static __always_inline int ps_parse_ports(struct xdp_md *ctx, struct ps_pkt *pkt)
{
	__u32 off = pkt->l4_off, room = pkt->l3_end - pkt->l4_off;
	struct tcphdr *th;
	struct udphdr *uh;
	__u32 len;

	if (pkt->proto == IPPROTO_TCP) {
		th = ps_pkt_ptr(ctx, off, sizeof(*th));
		if (!th || room < sizeof(*th))
			return PS_PARSE_MALFORMED;
		len = th->doff * 4;
		/* A first fragment holds only the start of the segment. */
		if (len < sizeof(*th) || (!pkt->first_frag && len > room))
			return PS_PARSE_MALFORMED;
		pkt->key_port = bpf_ntohs(th->dest);
	} else {
		uh = ps_pkt_ptr(ctx, off, sizeof(*uh));
		if (!uh || room < sizeof(*uh))
			return PS_PARSE_MALFORMED;
		len = bpf_ntohs(uh->len);
		if (len < sizeof(*uh) || (!pkt->first_frag && len > room))
			return PS_PARSE_MALFORMED;
		pkt->key_port = bpf_ntohs(uh->dest);
	}
	return PS_PARSE_OK;
}

/*
 * The source port of a quoted TCP/UDP header at @off: an ICMP error quotes
 * the packet that caused it, which left from the pool address and port.
 */
static __always_inline int ps_parse_quoted_port(struct xdp_md *ctx, struct ps_pkt *pkt, __u32 off)
{
	__be16 *ports = ps_pkt_ptr(ctx, off, 2 * sizeof(__be16));

	if (!ports || off + 2 * sizeof(__be16) > pkt->l3_end)
		return PS_PARSE_MALFORMED;
	pkt->key_port = bpf_ntohs(ports[0]);
	return PS_PARSE_OK;
}

static __always_inline int ps_parse_quote4(struct xdp_md *ctx, struct ps_pkt *pkt, __u32 off)
{
	struct iphdr *ip = ps_pkt_ptr(ctx, off, sizeof(*ip));
	__u32 hlen;

	if (!ip || off + sizeof(*ip) > pkt->l3_end)
		return PS_PARSE_MALFORMED;
	hlen = ip->ihl * 4;
	if (ip->version != 4 || hlen < PS_IPV4_HLEN)
		return PS_PARSE_MALFORMED;
	if (bpf_ntohs(ip->frag_off) & IP_OFFSET)
		return PS_PARSE_FRAGMENT;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return PS_PARSE_OTHER;
	pkt->key_addr[0] = ip->saddr;
	pkt->quoted = 1;
	return ps_parse_quoted_port(ctx, pkt, off + hlen);
}

static __always_inline int ps_parse_quote6(struct xdp_md *ctx, struct ps_pkt *pkt, __u32 off)
{
	struct ipv6hdr *ip6 = ps_pkt_ptr(ctx, off, sizeof(*ip6));

	if (!ip6 || off + sizeof(*ip6) > pkt->l3_end)
		return PS_PARSE_MALFORMED;
	if (ip6->version != 6)
		return PS_PARSE_MALFORMED;
	if (ps_ipv6_ext(ip6->nexthdr))
		return PS_PARSE_UNSUPPORTED;
	if (ip6->nexthdr != IPPROTO_TCP && ip6->nexthdr != IPPROTO_UDP)
		return PS_PARSE_OTHER;
	__builtin_memcpy(pkt->key_addr, &ip6->saddr, sizeof(pkt->key_addr));
	pkt->quoted = 1;
	return ps_parse_quoted_port(ctx, pkt, off + sizeof(*ip6));
}

/* Errors about a flow (not echo, not redirects): steer by the quoted packet. */
static __always_inline int ps_parse_icmp(struct xdp_md *ctx, struct ps_pkt *pkt)
{
	__u8 *type = ps_pkt_ptr(ctx, pkt->l4_off, PS_ICMP_HLEN);

	if (!type || pkt->l4_off + PS_ICMP_HLEN > pkt->l3_end)
		return PS_PARSE_MALFORMED;
	if (pkt->family == AF_INET) {
		if (*type != ICMP_DEST_UNREACH && *type != ICMP_TIME_EXCEEDED &&
		    *type != ICMP_PARAMETERPROB)
			return PS_PARSE_OTHER;
		return ps_parse_quote4(ctx, pkt, pkt->l4_off + PS_ICMP_HLEN);
	}
	if (*type != ICMPV6_DEST_UNREACH && *type != ICMPV6_PKT_TOOBIG &&
	    *type != ICMPV6_TIME_EXCEED && *type != ICMPV6_PARAMPROB)
		return PS_PARSE_OTHER;
	return ps_parse_quote6(ctx, pkt, pkt->l4_off + PS_ICMP_HLEN);
}

/*
 * Validate the IP header and find the steering key: (destination,
 * destination port) for TCP and UDP, (quoted source, quoted source port)
 * for ICMP errors (pkt->quoted). Call after ps_parse_dst().
 */
static __always_inline int ps_parse_key(struct xdp_md *ctx, struct ps_pkt *pkt)
{
	int res;

	if (pkt->family == AF_INET)
		res = ps_parse_ipv4(ctx, pkt);
	else
		res = ps_parse_ipv6(ctx, pkt);
	if (res)
		return res;

	switch (pkt->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		return ps_parse_ports(ctx, pkt);
	case IPPROTO_ICMP:
		return pkt->family == AF_INET ? ps_parse_icmp(ctx, pkt) : PS_PARSE_OTHER;
	case IPPROTO_ICMPV6:
		return pkt->family == AF_INET6 ? ps_parse_icmp(ctx, pkt) : PS_PARSE_OTHER;
	}
	return PS_PARSE_OTHER;
}

#endif
