// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fixture tests of the XDP steering program (bpf/steer.bpf.c), run on the
 * real kernel through BPF_PROG_TEST_RUN.
 *
 * Every row of cases[] is one cmocka test: a packet (described by a
 * pkt_spec and built here, checksums included), the setup it runs under
 * (forwarding mode and local underlay addresses), the verdict, the one
 * counter that must move, and for forwards the owner, from which the exact
 * expected output bytes are built independently of the program. Rows of
 * truncs[] run one packet at every length from 0 to its full size (the
 * kernel refuses test runs under 14 bytes; the refusal is asserted), and at
 * every IP length the headers could claim.
 *
 * bpf_fib_lookup() reads the kernel's routes and neighbours, so the whole
 * test runs in a network namespace of its own (tests/lib/netns.h): two
 * veth pairs with fixed MACs, addresses, and permanent neighbour entries
 * for the owners' underlay addresses. Programs see ps-a as their ingress
 * device. The namespace has no other process and dies with this one; the
 * maps are not pinned, so nothing is left behind however the test ends.
 * Test runs do not transmit: no frame the program builds leaves it. Set
 * PS_STEER_PCAP=FILE to read the fixtures and outputs with tcpdump.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>

#include "netns.h"
#include "pkt.h"
#include "steer_env.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define FRAME_MAX 2048
#define ETH_HLEN 14

/* ---- the world: addresses, hosts, owners ----------------------------- */

#define POOL4 "198.18.0.10"
#define POOL4B "198.18.0.11"  /* a second pool, for ICMP errors quoting it */
#define POOL6 "2001:db8::10"
#define OTHER4 "198.18.0.99"   /* not a pool address */
#define OTHER6 "2001:db8::99"
#define PEER4 "203.0.113.7"
#define PEER6 "2001:db8:ffff::7"
#define ROUTER4 "203.0.113.1"
#define ROUTER6 "2001:db8:ffff::1"

#define SLOT_POOL4 3
#define SLOT_POOL4B 4
#define SLOT_POOL6 5

#define SELF_UNDERLAY4 "10.99.0.1"
#define SELF_UNDERLAY6 "fd00:99::1"

/* Host ids. Host n owns port PORT(n) of every pool. */
enum {
	H_SELF = 1,
	H_B4 = 2,        /* IPv4 underlay behind ps-b: XDP_REDIRECT */
	H_B6 = 3,        /* IPv6 underlay behind ps-b */
	H_A4 = 4,        /* IPv4 underlay behind ps-a, the ingress: XDP_TX */
	H_A6 = 5,        /* IPv6 underlay behind ps-a */
	H_NONEIGH4 = 6,  /* routed, no neighbour entry */
	H_INVALID = 7,   /* no valid ps_steer_hosts entry */
	H_NOROUTE = 8,   /* underlay address without a route */
	H_HINT = 9,      /* reached with the ifindex hint (ps-b) */
	H_NONEIGH6 = 10,
	H_GW4 = 11,      /* IPv4 underlay behind a gateway on ps-b: not on-link */
	H_MAX = 11,
	H_OUT_OF_RANGE = 300, /* >= PS_MAX_HOSTS */
};

#define PORT(host) (21000 + (host))
#define PORT_OWN 20000   /* owned by H_SELF */
#define PORT_NOBODY 22000
#define PORT_BAD_HOST 21300 /* owned by H_OUT_OF_RANGE */

enum dev { DEV_A, DEV_B };

/* ps-a, the ingress, and ps-b, each with a veth peer. */
static const struct netns_veth devs[] = {
	{ "ps-a", "ps-a-peer", { 2, 0, 0, 0, 0x0a, 1 }, "10.99.0.1/24", "fd00:99::1/64" },
	{ "ps-b", "ps-b-peer", { 2, 0, 0, 0, 0x0b, 1 }, "10.99.1.1/24", "fd00:99:1::1/64" },
};
static const uint8_t router_mac[6] = { 2, 0, 0, 0, 0xee, 1 };
static int ifindex[2];

struct host_def {
	uint32_t id;
	bool valid;
	int af;
	const char *addr;
	enum dev dev;      /* the device its route goes through */
	bool neigh;        /* has a permanent neighbour entry */
	bool hint;         /* ps_steer_host.ifindex names its device */
	uint8_t mac[6];
};

static const struct host_def hosts[] = {
	{ H_SELF, true, AF_INET, SELF_UNDERLAY4, DEV_A, false, false, { 0 } },
	{ H_B4, true, AF_INET, "10.99.1.2", DEV_B, true, false, { 2, 0, 0, 0, 0x0b, 2 } },
	{ H_B6, true, AF_INET6, "fd00:99:1::3", DEV_B, true, false, { 2, 0, 0, 0, 0x0b, 3 } },
	{ H_A4, true, AF_INET, "10.99.0.4", DEV_A, true, false, { 2, 0, 0, 0, 0x0a, 4 } },
	{ H_A6, true, AF_INET6, "fd00:99::5", DEV_A, true, false, { 2, 0, 0, 0, 0x0a, 5 } },
	{ H_NONEIGH4, true, AF_INET, "10.99.1.6", DEV_B, false, false, { 0 } },
	{ H_INVALID, false, AF_INET, "10.99.1.7", DEV_B, true, false, { 2, 0, 0, 0, 0x0b, 7 } },
	{ H_NOROUTE, true, AF_INET, "192.0.2.8", DEV_B, false, false, { 0 } },
	{ H_HINT, true, AF_INET, "10.99.1.9", DEV_B, true, true, { 2, 0, 0, 0, 0x0b, 9 } },
	{ H_NONEIGH6, true, AF_INET6, "fd00:99:1::a", DEV_B, false, false, { 0 } },
	/* Routed via GATEWAY4, whose MAC the frame gets: .mac is the gateway's. */
	{ H_GW4, true, AF_INET, "10.98.0.11", DEV_B, false, false, { 2, 0, 0, 0, 0x0b, 0xfe } },
};

/* The gateway of 10.98.0.0/24 (H_GW4), on ps-b's link. */
#define GATEWAY4 "10.99.1.254"

/* A MAC of no device here: frames to it were flooded or mis-sent. */
static const uint8_t other_mac[6] = { 2, 0, 0, 0, 0xcc, 1 };
static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
/* Fleet hosts' MACs the loader found (neighbour entries): frames from them were steered. */
#define PEER_MAC (hosts[H_A4 - 1].mac)
#define PEER_MAC6 (hosts[H_A6 - 1].mac)

static const struct host_def *host_def(uint32_t id)
{
	for (size_t i = 0; i < ARRAY_SIZE(hosts); i++)
		if (hosts[i].id == id)
			return &hosts[i];
	return NULL;
}

/* Program loads: forwarding mode and local underlay addresses. */
enum setup {
	S_L2,
	S_ENCAP,
	S_ENCAP_NO6, /* encap without a local IPv6 underlay address */
	S_COUNT,
};

static const char *const setup_name[] = { "l2", "encap", "encap-no-ipv6" };
static struct ps_steer *skels[S_COUNT];

/* ---- packet builder ---------------------------------------------------- */

struct pkt_spec {
	uint16_t tpid[3];      /* VLAN tags, outermost first; 0 ends the list */
	uint16_t ethertype;    /* 0: from af */
	int af;                /* AF_INET, AF_INET6; 0: raw payload only */
	const char *src, *dst;
	uint8_t tos;           /* IPv4 TOS / IPv6 traffic class */
	uint8_t proto;         /* L4 protocol */
	uint16_t sport, dport; /* TCP and UDP */
	uint16_t payload;      /* bytes after the L4 header */
	uint8_t ip_opts;       /* IPv4 option bytes, a multiple of 4 */
	uint16_t frag;         /* IPv4 flags and fragment offset, host order */
	uint16_t ext;          /* IPv6: EXT(type) puts an 8-byte extension header before L4 */
	uint8_t icmp_type, icmp_code;
	const struct pkt_spec *quote; /* ICMP errors: the packet they quote */
	uint16_t quote_len;    /* bytes of it quoted; 0: all */
	uint16_t pad_to;       /* Ethernet padding up to this frame length */
	const uint8_t *dmac, *smac; /* NULL: ps-a's MAC, the router's MAC */
	void (*mutate)(uint8_t *f, const struct pkt_spec *s); /* break it after building */
};

#define EXT(type) (0x100 | (type))

/* Where things are in a built frame. */
struct layout {
	size_t l3, l4, l3_end;
	size_t dst_end;  /* end of the destination address */
	size_t key_end;  /* end of the bytes the steering key needs */
};

static size_t addr_len(int af)
{
	return af == AF_INET ? 4 : 16;
}

static void put_addr(uint8_t *p, int af, const char *text)
{
	if (inet_pton(af, text, p) != 1)
		fail_msg("bad address %s", text);
}

static void ipv4_fix_csum(uint8_t *ip)
{
	size_t hl = (ip[0] & 0x0f) * 4;

	pkt_put16(ip + 10, 0);
	pkt_put16(ip + 10, pkt_fold(pkt_sum16(ip, hl, 0)));
}

/* Checksum of an L4 segment with the pseudo header of its IP packet. */
static uint16_t l4_csum(int af, const uint8_t *src, const uint8_t *dst, uint8_t proto,
			const uint8_t *l4, size_t len)
{
	uint32_t sum = 0;

	sum = pkt_sum16(src, addr_len(af), sum);
	sum = pkt_sum16(dst, addr_len(af), sum);
	sum += proto;
	sum += (uint32_t)len;
	return pkt_fold(pkt_sum16(l4, len, sum));
}

static void fill_payload(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + 3);
}

static size_t build_ip(const struct pkt_spec *s, uint8_t *p, struct layout *lo);

/* The L4 part of @s at @p; its checksum is set by build_ip(). */
static size_t build_l4(const struct pkt_spec *s, uint8_t *p, struct layout *lo)
{
	struct layout q;
	size_t n;

	switch (s->proto) {
	case IPPROTO_TCP:
		memset(p, 0, 20);
		pkt_put16(p, s->sport);
		pkt_put16(p + 2, s->dport);
		pkt_put32(p + 4, 0x01020304);
		pkt_put32(p + 8, 0x05060708);
		p[12] = 5 << 4;
		p[13] = 0x18; /* PSH, ACK */
		pkt_put16(p + 14, 0xffff);
		lo->key_end = lo->l4 + 20;
		fill_payload(p + 20, s->payload);
		return 20 + s->payload;
	case IPPROTO_UDP:
		pkt_put16(p, s->sport);
		pkt_put16(p + 2, s->dport);
		pkt_put16(p + 4, 8 + s->payload);
		pkt_put16(p + 6, 0);
		lo->key_end = lo->l4 + 8;
		fill_payload(p + 8, s->payload);
		return 8 + s->payload;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		memset(p, 0, 8);
		p[0] = s->icmp_type;
		p[1] = s->icmp_code;
		if (!s->quote) { /* echo: id, sequence, data */
			pkt_put16(p + 4, 0x4242);
			pkt_put16(p + 6, 1);
			fill_payload(p + 8, s->payload);
			lo->key_end = lo->l4 + 8;
			return 8 + s->payload;
		}
		/* Next-hop MTU: frag needed (IPv4) or packet too big (IPv6). */
		if (s->af == AF_INET && s->icmp_type == 3 && s->icmp_code == 4)
			pkt_put16(p + 6, 1400);
		else if (s->af == AF_INET6 && s->icmp_type == 2)
			pkt_put32(p + 4, 1400);
		memset(&q, 0, sizeof(q));
		n = build_ip(s->quote, p + 8, &q);
		if (s->quote_len && s->quote_len < n)
			n = s->quote_len;
		lo->key_end = lo->l4 + 8 + q.l4 + 4; /* the quoted ports */
		return 8 + n;
	case IPPROTO_IPIP:
	case IPPROTO_IPV6: /* IP-in-IP: the inner packet is s->quote */
		memset(&q, 0, sizeof(q));
		n = build_ip(s->quote, p, &q);
		lo->key_end = lo->l4 + q.key_end;
		return n;
	default:
		fill_payload(p, s->payload);
		lo->key_end = lo->l4;
		return s->payload;
	}
}

/* The IP packet of @s at @p; offsets in *lo are relative to @p plus lo->l3. */
static size_t build_ip(const struct pkt_spec *s, uint8_t *p, struct layout *lo)
{
	size_t hl = s->af == AF_INET ? 20u + s->ip_opts : 40u;
	size_t ext = s->af == AF_INET6 && s->ext ? 8 : 0;
	uint8_t *l4 = p + hl + ext, *src, *dst;
	size_t l4len, tot;
	uint16_t csum;

	lo->l4 = lo->l3 + hl + ext;
	l4len = build_l4(s, l4, lo);
	tot = hl + ext + l4len;
	lo->l3_end = lo->l3 + tot;
	if (s->af == AF_INET) {
		memset(p, 0, hl);
		p[0] = 0x40 | hl / 4;
		p[1] = s->tos;
		pkt_put16(p + 2, tot);
		pkt_put16(p + 4, 0x1234);
		pkt_put16(p + 6, s->frag);
		p[8] = 61;
		p[9] = s->proto;
		src = p + 12;
		dst = p + 16;
		memset(p + 20, 1, s->ip_opts); /* NOP options */
		lo->dst_end = lo->l3 + 20;
	} else {
		p[0] = 0x60 | s->tos >> 4;
		p[1] = (uint8_t)(s->tos << 4);
		p[2] = p[3] = 0;
		pkt_put16(p + 4, tot - 40);
		p[6] = ext ? (uint8_t)s->ext : s->proto;
		p[7] = 61;
		src = p + 8;
		dst = p + 24;
		if (ext) {
			memset(p + 40, 0, 8);
			p[40] = s->proto;
		}
		lo->dst_end = lo->l3 + 40;
	}
	put_addr(src, s->af, s->src);
	put_addr(dst, s->af, s->dst);
	if (s->af == AF_INET)
		ipv4_fix_csum(p);

	switch (s->proto) {
	case IPPROTO_TCP:
		pkt_put16(l4 + 16, l4_csum(s->af, src, dst, s->proto, l4, l4len));
		break;
	case IPPROTO_UDP:
		csum = l4_csum(s->af, src, dst, s->proto, l4, l4len);
		pkt_put16(l4 + 6, csum ? csum : 0xffff);
		break;
	case IPPROTO_ICMP:
		pkt_put16(l4 + 2, pkt_fold(pkt_sum16(l4, l4len, 0)));
		break;
	case IPPROTO_ICMPV6:
		pkt_put16(l4 + 2, l4_csum(s->af, src, dst, s->proto, l4, l4len));
		break;
	}
	return tot;
}

static size_t put_eth(uint8_t *f, const uint8_t *dmac, const uint8_t *smac, uint16_t type)
{
	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	pkt_put16(f + 12, type);
	return ETH_HLEN;
}

/* The frame of @s as it arrives on ps-a. */
static size_t build_frame(const struct pkt_spec *s, uint8_t *f, struct layout *lo)
{
	uint16_t type = s->ethertype ? s->ethertype : s->af == AF_INET ? 0x0800 : 0x86dd;
	size_t off = 12, len;
	int i;

	memset(lo, 0, sizeof(*lo));
	memcpy(f, s->dmac ? s->dmac : devs[DEV_A].mac, 6);
	memcpy(f + 6, s->smac ? s->smac : router_mac, 6);
	for (i = 0; i < 3 && s->tpid[i]; i++) {
		pkt_put16(f + off, s->tpid[i]);
		pkt_put16(f + off + 2, 100 + i); /* VLAN id */
		off += 4;
	}
	pkt_put16(f + off, type);
	lo->l3 = off + 2;
	if (s->af) {
		len = lo->l3 + build_ip(s, f + lo->l3, lo);
	} else {
		fill_payload(f + lo->l3, s->payload);
		len = lo->l3_end = lo->l3 + s->payload;
	}
	if (s->pad_to > len) {
		memset(f + len, 0, s->pad_to - len);
		len = s->pad_to;
	}
	if (s->mutate)
		s->mutate(f + lo->l3, s);
	return len;
}

/* ---- mutators: invalid headers ---------------------------------------- */

static void bad_ip4_version(uint8_t *ip, const struct pkt_spec *s)
{
	ip[0] = 0x55;
	ipv4_fix_csum(ip);
}

static void bad_ip4_ihl(uint8_t *ip, const struct pkt_spec *s)
{
	ip[0] = 0x44;
	pkt_put16(ip + 10, 0);
}

static void bad_ip4_totlen_short(uint8_t *ip, const struct pkt_spec *s)
{
	pkt_put16(ip + 2, 16); /* shorter than its own header */
	ipv4_fix_csum(ip);
}

static void bad_ip4_totlen_long(uint8_t *ip, const struct pkt_spec *s)
{
	pkt_put16(ip + 2, (uint16_t)(ip[2] << 8 | ip[3]) + 1); /* one byte past the frame */
	ipv4_fix_csum(ip);
}

/* The IP length ends inside the UDP header; the rest of it looks like padding. */
static void cut_ip4_in_udp(uint8_t *ip, const struct pkt_spec *s)
{
	pkt_put16(ip + 2, 20 + 4);
	ipv4_fix_csum(ip);
}

/* The IP length ends inside the quoted ports of an ICMP error. */
static void cut_ip4_in_quote(uint8_t *ip, const struct pkt_spec *s)
{
	pkt_put16(ip + 2, 20 + 8 + 20 + 1);
	ipv4_fix_csum(ip);
}

/* IPv6 payload length ends inside the TCP header. */
static void cut_ip6_in_tcp(uint8_t *ip, const struct pkt_spec *s)
{
	pkt_put16(ip + 4, 19);
}

static void bad_tcp_doff_small(uint8_t *ip, const struct pkt_spec *s)
{
	ip[20 + 12] = 4 << 4;
}

static void bad_tcp_doff_large(uint8_t *ip, const struct pkt_spec *s)
{
	ip[20 + 12] = 15 << 4; /* 60 bytes of header in a shorter segment */
}

static void bad_udp_len_small(uint8_t *ip, const struct pkt_spec *s)
{
	pkt_put16(ip + (s->af == AF_INET ? 20 : 40) + 4, 7);
}

static void bad_udp_len_large(uint8_t *ip, const struct pkt_spec *s)
{
	size_t off = (s->af == AF_INET ? 20 : 40) + 4;

	pkt_put16(ip + off, (uint16_t)(ip[off] << 8 | ip[off + 1]) + 1);
}

static void bad_ip6_version(uint8_t *ip, const struct pkt_spec *s)
{
	ip[0] = 0x40 | (ip[0] & 0x0f);
}

static void bad_ip6_plen_long(uint8_t *ip, const struct pkt_spec *s)
{
	pkt_put16(ip + 4, (uint16_t)(ip[4] << 8 | ip[5]) + 1);
}

static void bad_quote4_ihl(uint8_t *ip, const struct pkt_spec *s)
{
	ip[20 + 8] = 0x43;
}

static void bad_quote6_version(uint8_t *ip, const struct pkt_spec *s)
{
	ip[40 + 8] = 0x40;
}

/* ---- cases -------------------------------------------------------------- */

#define C(field) offsetof(struct ps_steer_stats, field)

#define TCP4(d, port) .af = AF_INET, .src = PEER4, .dst = d, .proto = IPPROTO_TCP, \
	.sport = 443, .dport = port
#define UDP4(d, port) .af = AF_INET, .src = PEER4, .dst = d, .proto = IPPROTO_UDP, \
	.sport = 53, .dport = port
#define TCP6(d, port) .af = AF_INET6, .src = PEER6, .dst = d, .proto = IPPROTO_TCP, \
	.sport = 443, .dport = port
#define UDP6(d, port) .af = AF_INET6, .src = PEER6, .dst = d, .proto = IPPROTO_UDP, \
	.sport = 53, .dport = port

/* ICMP errors come from a router on the path and quote the packet we sent. */
#define ICMP4_ERR(type_, code_, q) .af = AF_INET, .src = ROUTER4, .dst = POOL4, \
	.proto = IPPROTO_ICMP, .icmp_type = type_, .icmp_code = code_, .quote = q
#define ICMP6_ERR(type_, code_, q) .af = AF_INET6, .src = ROUTER6, .dst = POOL6, \
	.proto = IPPROTO_ICMPV6, .icmp_type = type_, .icmp_code = code_, .quote = q

/* Packets that left a pool address, as ICMP errors quote them. */
#define SENT4(s, port, proto_) { .af = AF_INET, .src = s, .dst = PEER4, .proto = proto_, \
	.sport = port, .dport = 443, .payload = 100 }
#define SENT6(s, port, proto_) { .af = AF_INET6, .src = s, .dst = PEER6, .proto = proto_, \
	.sport = port, .dport = 443, .payload = 100 }

static const struct pkt_spec q4_own = SENT4(POOL4, PORT_OWN, IPPROTO_TCP);
static const struct pkt_spec q4_b4 = SENT4(POOL4, PORT(H_B4), IPPROTO_UDP);
static const struct pkt_spec q4_b4_tcp = SENT4(POOL4, PORT(H_B4), IPPROTO_TCP);
static const struct pkt_spec q4b_a4 = SENT4(POOL4B, PORT(H_A4), IPPROTO_TCP);
static const struct pkt_spec q4_nobody = SENT4(POOL4, PORT_NOBODY, IPPROTO_UDP);
static const struct pkt_spec q4_notpool = SENT4(OTHER4, PORT(H_B4), IPPROTO_UDP);
static const struct pkt_spec q4_icmp = { .af = AF_INET, .src = POOL4, .dst = PEER4,
	.proto = IPPROTO_ICMP, .icmp_type = 8, .payload = 56 };
static const struct pkt_spec q4_frag = { .af = AF_INET, .src = POOL4, .dst = PEER4,
	.proto = IPPROTO_UDP, .sport = PORT(H_B4), .dport = 443, .payload = 100, .frag = 185 };
static const struct pkt_spec q6_b6 = SENT6(POOL6, PORT(H_B6), IPPROTO_TCP);
static const struct pkt_spec q6_a6 = SENT6(POOL6, PORT(H_A6), IPPROTO_UDP);
static const struct pkt_spec q6_own = SENT6(POOL6, PORT_OWN, IPPROTO_UDP);
static const struct pkt_spec q6_ext = { .af = AF_INET6, .src = POOL6, .dst = PEER6,
	.proto = IPPROTO_UDP, .sport = PORT(H_B6), .dport = 443, .payload = 100, .ext = EXT(44) };

/* Packets other hosts encapsulated to this host's underlay address (encap mode). */
#define ENCAP4(inner) ENCAP4_TO(SELF_UNDERLAY4, inner)
#define ENCAP4_TO(to, inner) .af = AF_INET, .src = "10.99.0.4", .dst = to, \
	.proto = (inner)->af == AF_INET ? IPPROTO_IPIP : IPPROTO_IPV6, .quote = inner
#define ENCAP6(inner) .af = AF_INET6, .src = "fd00:99::5", .dst = SELF_UNDERLAY6, \
	.proto = (inner)->af == AF_INET ? IPPROTO_IPIP : IPPROTO_IPV6, .quote = inner

static const struct pkt_spec in4_b4 = { UDP4(POOL4, PORT(H_B4)), .payload = 20 };
static const struct pkt_spec in4_own = { TCP4(POOL4, PORT_OWN), .payload = 20 };
static const struct pkt_spec in4_nobody = { UDP4(POOL4, PORT_NOBODY), .payload = 20 };
static const struct pkt_spec in4_other = { UDP4(OTHER4, PORT(H_B4)), .payload = 20 };
static const struct pkt_spec in4_icmp_b4 = { ICMP4_ERR(3, 4, &q4_b4) };
static const struct pkt_spec in6_a6 = { TCP6(POOL6, PORT(H_A6)), .payload = 20 };
static const struct pkt_spec in6_own = { UDP6(POOL6, PORT_OWN), .payload = 20 };

struct steer_case {
	const char *desc;
	enum setup setup;
	struct pkt_spec in;
	int verdict;
	size_t counter;   /* the one field of ps_steer_stats that moves */
	uint32_t to;      /* forwards: the owner the output must be addressed to */
	struct {          /* optional: owner of a port for this case only */
		uint16_t port;
		uint32_t host;
	} owner;
};

static const struct steer_case cases[] = {
	/* Not for a pool address: untouched, whatever it is. */
	{ "ipv4 tcp to another address passes untouched", S_L2,
	  .in = { TCP4(OTHER4, PORT(H_B4)) }, XDP_PASS, C(passed_not_pool) },
	{ "ipv6 udp to another address passes untouched", S_ENCAP,
	  .in = { UDP6(OTHER6, PORT(H_B6)) }, XDP_PASS, C(passed_not_pool) },
	{ "arp passes untouched", S_L2,
	  .in = { .ethertype = 0x0806, .payload = 28 }, XDP_PASS, C(passed_not_pool) },
	{ "a third vlan tag is not parsed: passes even for a pool address", S_L2,
	  .in = { TCP4(POOL4, PORT(H_B4)), .tpid = { 0x88a8, 0x8100, 0x8100 } }, XDP_PASS, C(passed_not_pool) },
	{ "ipv4 non-first fragment to another address passes", S_L2,
	  .in = { UDP4(OTHER4, PORT(H_B4)), .frag = 100 }, XDP_PASS, C(passed_not_pool) },
	{ "ipv6 fragment header to another address passes", S_L2,
	  .in = { UDP6(OTHER6, PORT(H_B6)), .ext = EXT(44) }, XDP_PASS, C(passed_not_pool) },
	{ "malformed ipv4 to another address passes (the kernel drops it)", S_L2,
	  .in = { TCP4(OTHER4, PORT(H_B4)), .mutate = bad_ip4_ihl }, XDP_PASS, C(passed_not_pool) },

	/* Own ports: untouched. */
	{ "ipv4 tcp to an own port passes untouched", S_L2,
	  .in = { TCP4(POOL4, PORT_OWN) }, XDP_PASS, C(passed_own) },
	{ "ipv4 udp to an own port passes untouched in encap mode", S_ENCAP,
	  .in = { UDP4(POOL4, PORT_OWN) }, XDP_PASS, C(passed_own) },
	{ "ipv6 tcp to an own port passes untouched", S_ENCAP,
	  .in = { TCP6(POOL6, PORT_OWN) }, XDP_PASS, C(passed_own) },
	{ "own port behind two vlan tags passes with its tags", S_L2,
	  .in = { UDP6(POOL6, PORT_OWN), .tpid = { 0x88a8, 0x8100 } }, XDP_PASS, C(passed_own) },
	{ "icmp frag-needed about an own flow passes", S_L2,
	  .in = { ICMP4_ERR(3, 4, &q4_own) }, XDP_PASS, C(passed_own) },
	{ "icmpv6 packet-too-big about an own flow passes", S_ENCAP,
	  .in = { ICMP6_ERR(2, 0, &q6_own) }, XDP_PASS, C(passed_own) },

	/* For a pool address, but nothing to steer by. */
	{ "icmp echo request to a pool address passes", S_L2,
	  .in = { .af = AF_INET, .src = PEER4, .dst = POOL4, .proto = IPPROTO_ICMP, .icmp_type = 8,
	    .payload = 56 }, XDP_PASS, C(passed_other) },
	{ "icmpv6 echo request to a pool address passes", S_L2,
	  .in = { .af = AF_INET6, .src = PEER6, .dst = POOL6, .proto = IPPROTO_ICMPV6, .icmp_type = 128,
	    .payload = 56 }, XDP_PASS, C(passed_other) },
	{ "gre to a pool address passes", S_L2,
	  .in = { .af = AF_INET, .src = PEER4, .dst = POOL4, .proto = 47, .payload = 40 },
	  XDP_PASS, C(passed_other) },
	{ "icmp error quoting a flow from another address passes", S_L2,
	  .in = { ICMP4_ERR(3, 3, &q4_notpool) }, XDP_PASS, C(passed_other) },
	{ "icmp error quoting an icmp packet passes", S_L2,
	  .in = { ICMP4_ERR(11, 0, &q4_icmp) }, XDP_PASS, C(passed_other) },
	{ "icmp redirect is not an error about a flow: passes", S_L2,
	  .in = { ICMP4_ERR(5, 1, &q4_b4) }, XDP_PASS, C(passed_other) },
	{ "icmp (v4 protocol) inside ipv6 passes", S_L2,
	  .in = { .af = AF_INET6, .src = PEER6, .dst = POOL6, .proto = IPPROTO_ICMP, .payload = 16 },
	  XDP_PASS, C(passed_other) },

	/* Nobody to give it to. */
	{ "ipv4 tcp to a port nobody owns is dropped", S_L2,
	  .in = { TCP4(POOL4, PORT_NOBODY) }, XDP_DROP, C(dropped_no_owner) },
	{ "ipv6 udp to a port nobody owns is dropped", S_ENCAP,
	  .in = { UDP6(POOL6, PORT_NOBODY) }, XDP_DROP, C(dropped_no_owner) },
	{ "icmp error about a port nobody owns is dropped", S_L2,
	  .in = { ICMP4_ERR(3, 1, &q4_nobody) }, XDP_DROP, C(dropped_no_owner) },
	{ "owner without a valid host entry: dropped", S_L2,
	  .in = { TCP4(POOL4, PORT(H_INVALID)) }, XDP_DROP, C(dropped_no_host) },
	{ "owner id past the host table: dropped", S_ENCAP,
	  .in = { TCP4(POOL4, PORT_BAD_HOST) }, XDP_DROP, C(dropped_no_host) },
	{ "an owner set for this case only is obeyed", S_L2,
	  .in = { TCP4(POOL4, PORT_NOBODY) }, XDP_DROP, C(dropped_no_host), .owner = { PORT_NOBODY, H_INVALID } },

	/* Malformed pool packets: dropped, never forwarded. */
	{ "ipv4 version 5 is malformed", S_L2,
	  .in = { TCP4(POOL4, PORT(H_B4)), .mutate = bad_ip4_version }, XDP_DROP, C(dropped_malformed) },
	{ "ipv4 ihl 4 is malformed", S_L2,
	  .in = { TCP4(POOL4, PORT(H_B4)), .mutate = bad_ip4_ihl }, XDP_DROP, C(dropped_malformed) },
	{ "ipv4 total length under its header is malformed", S_L2,
	  .in = { TCP4(POOL4, PORT(H_B4)), .mutate = bad_ip4_totlen_short }, XDP_DROP, C(dropped_malformed) },
	{ "ipv4 total length past the frame is malformed", S_ENCAP,
	  .in = { UDP4(POOL4, PORT(H_B4)), .mutate = bad_ip4_totlen_long }, XDP_DROP, C(dropped_malformed) },
	{ "ip length ending inside the udp header: the rest is padding, malformed", S_L2,
	  .in = { UDP4(POOL4, PORT(H_B4)), .mutate = cut_ip4_in_udp }, XDP_DROP, C(dropped_malformed) },
	{ "first fragment whose ip length ends inside the udp header is malformed", S_ENCAP,
	  .in = { UDP4(POOL4, PORT(H_B4)), .frag = 0x2000, .mutate = cut_ip4_in_udp }, XDP_DROP,
	  C(dropped_malformed) },
	{ "ipv6 payload length ending inside the tcp header is malformed", S_ENCAP,
	  .in = { TCP6(POOL6, PORT(H_B6)), .mutate = cut_ip6_in_tcp }, XDP_DROP, C(dropped_malformed) },
	{ "ip length ending inside the quoted ports is malformed", S_L2,
	  .in = { ICMP4_ERR(3, 4, &q4_b4), .mutate = cut_ip4_in_quote }, XDP_DROP, C(dropped_malformed) },
	{ "tcp data offset 4 is malformed", S_L2,
	  .in = { TCP4(POOL4, PORT(H_B4)), .mutate = bad_tcp_doff_small }, XDP_DROP, C(dropped_malformed) },
	{ "tcp data offset past the segment is malformed", S_L2,
	  .in = { TCP4(POOL4, PORT(H_B4)), .payload = 10, .mutate = bad_tcp_doff_large }, XDP_DROP,
	  C(dropped_malformed) },
	{ "udp length 7 is malformed", S_L2,
	  .in = { UDP4(POOL4, PORT(H_B4)), .mutate = bad_udp_len_small }, XDP_DROP, C(dropped_malformed) },
	{ "udp length past the ipv6 payload is malformed", S_ENCAP,
	  .in = { UDP6(POOL6, PORT(H_B6)), .mutate = bad_udp_len_large }, XDP_DROP, C(dropped_malformed) },
	{ "ipv6 ethertype with version 4 is malformed", S_L2,
	  .in = { TCP6(POOL6, PORT(H_B6)), .mutate = bad_ip6_version }, XDP_DROP, C(dropped_malformed) },
	{ "ipv6 payload length past the frame is malformed", S_L2,
	  .in = { TCP6(POOL6, PORT(H_B6)), .mutate = bad_ip6_plen_long }, XDP_DROP, C(dropped_malformed) },
	{ "icmp error quoting too little to hold the port is malformed", S_L2,
	  .in = { ICMP4_ERR(3, 4, &q4_b4), .quote_len = 21 }, XDP_DROP, C(dropped_malformed) },
	{ "icmp error quoting an ipv4 header with ihl 3 is malformed", S_L2,
	  .in = { ICMP4_ERR(3, 4, &q4_b4), .mutate = bad_quote4_ihl }, XDP_DROP, C(dropped_malformed) },
	{ "icmpv6 error quoting a non-ipv6 header is malformed", S_ENCAP,
	  .in = { ICMP6_ERR(1, 4, &q6_b6), .mutate = bad_quote6_version }, XDP_DROP, C(dropped_malformed) },

	/* Fragments and extension headers. */
	{ "ipv4 non-first fragment to a pool address is dropped", S_L2,
	  .in = { UDP4(POOL4, PORT(H_B4)), .frag = 185 }, XDP_DROP, C(dropped_fragment) },
	{ "ipv4 last fragment (offset, no MF) to a pool address is dropped", S_ENCAP,
	  .in = { TCP4(POOL4, PORT_OWN), .frag = 3 }, XDP_DROP, C(dropped_fragment) },
	{ "icmp error quoting a non-first fragment is dropped", S_L2,
	  .in = { ICMP4_ERR(11, 1, &q4_frag) }, XDP_DROP, C(dropped_fragment) },
	{ "ipv6 hop-by-hop header before tcp to a pool address is unsupported", S_L2,
	  .in = { TCP6(POOL6, PORT_OWN), .ext = EXT(0) }, XDP_DROP, C(dropped_unsupported) },
	{ "ipv6 fragment header to a pool address is unsupported", S_L2,
	  .in = { UDP6(POOL6, PORT(H_B6)), .ext = EXT(44) }, XDP_DROP, C(dropped_unsupported) },
	{ "ipv6 routing header to a pool address is unsupported", S_ENCAP,
	  .in = { TCP6(POOL6, PORT(H_B6)), .ext = EXT(43) }, XDP_DROP, C(dropped_unsupported) },
	{ "ipv6 destination options to a pool address are unsupported", S_L2,
	  .in = { TCP6(POOL6, PORT_OWN), .ext = EXT(60) }, XDP_DROP, C(dropped_unsupported) },
	{ "ipv6 authentication header to a pool address is unsupported", S_L2,
	  .in = { UDP6(POOL6, PORT(H_A6)), .ext = EXT(51) }, XDP_DROP, C(dropped_unsupported) },
	{ "icmpv6 error quoting a packet with a fragment header is unsupported", S_L2,
	  .in = { ICMP6_ERR(2, 0, &q6_ext) }, XDP_DROP, C(dropped_unsupported) },

	/* Forwarding that cannot complete. */
	{ "l2: owner's ipv4 underlay has no neighbour entry", S_L2,
	  .in = { TCP4(POOL4, PORT(H_NONEIGH4)) }, XDP_DROP, C(dropped_no_neigh) },
	{ "l2: owner's ipv6 underlay has no neighbour entry", S_L2,
	  .in = { UDP6(POOL6, PORT(H_NONEIGH6)) }, XDP_DROP, C(dropped_no_neigh) },
	{ "encap: owner's underlay has no neighbour entry", S_ENCAP,
	  .in = { UDP4(POOL4, PORT(H_NONEIGH4)) }, XDP_DROP, C(dropped_no_neigh) },
	{ "l2: no route to the owner's underlay", S_L2,
	  .in = { TCP4(POOL4, PORT(H_NOROUTE)) }, XDP_DROP, C(dropped_no_route) },
	{ "encap: no route to the owner's underlay", S_ENCAP,
	  .in = { TCP6(POOL6, PORT(H_NOROUTE)) }, XDP_DROP, C(dropped_no_route) },
	{ "encap: no local ipv6 underlay address to encapsulate from", S_ENCAP_NO6,
	  .in = { TCP4(POOL4, PORT(H_B6)) }, XDP_DROP, C(dropped_no_route) },
	{ "l2: 1501 bytes do not fit a 1500 mtu", S_L2,
	  .in = { UDP4(POOL4, PORT(H_B4)), .payload = 1501 - 28 }, XDP_DROP, C(dropped_too_big) },
	{ "encap ipv4 in ipv4: 1481 + 20 bytes do not fit", S_ENCAP,
	  .in = { UDP4(POOL4, PORT(H_B4)), .payload = 1481 - 28 }, XDP_DROP, C(dropped_too_big) },
	{ "encap ipv6 in ipv6: 1461 + 40 bytes do not fit", S_ENCAP,
	  .in = { TCP6(POOL6, PORT(H_B6)), .payload = 1461 - 60 }, XDP_DROP, C(dropped_too_big) },
	{ "encap ipv4 in ipv6: 1461 + 40 bytes do not fit (ingress device)", S_ENCAP,
	  .in = { TCP4(POOL4, PORT(H_A6)), .payload = 1461 - 40 }, XDP_DROP, C(dropped_too_big) },

	/* l2 forwarding: new MACs, L3 untouched, VLAN tags gone. */
	{ "l2: ipv4 tcp to a host behind ps-b is redirected", S_L2,
	  .in = { TCP4(POOL4, PORT(H_B4)) }, XDP_REDIRECT, C(forwarded), H_B4 },
	{ "l2: ipv6 udp to a host behind ps-b is redirected", S_L2,
	  .in = { UDP6(POOL6, PORT(H_B6)) }, XDP_REDIRECT, C(forwarded), H_B6 },
	{ "l2: ipv4 to a host behind the ingress device goes back out (XDP_TX)", S_L2,
	  .in = { UDP4(POOL4, PORT(H_A4)) }, XDP_TX, C(forwarded), H_A4 },
	{ "l2: ipv6 to a host behind the ingress device: XDP_TX", S_L2,
	  .in = { TCP6(POOL6, PORT(H_A6)) }, XDP_TX, C(forwarded), H_A6 },
	{ "l2: ipv4 reply to an owner with an ipv6 underlay", S_L2,
	  .in = { TCP4(POOL4, PORT(H_B6)) }, XDP_REDIRECT, C(forwarded), H_B6 },
	{ "l2: ipv6 reply to an owner with an ipv4 underlay", S_L2,
	  .in = { UDP6(POOL6, PORT(H_A4)) }, XDP_TX, C(forwarded), H_A4 },
	{ "l2: single 802.1q tag is stripped", S_L2,
	  .in = { TCP4(POOL4, PORT(H_B4)), .tpid = { 0x8100 } }, XDP_REDIRECT, C(forwarded), H_B4 },
	{ "l2: 802.1ad + 802.1q tags are stripped", S_L2,
	  .in = { UDP6(POOL6, PORT(H_B6)), .tpid = { 0x88a8, 0x8100 } }, XDP_REDIRECT, C(forwarded), H_B6 },
	{ "l2: ipv4 with 12 bytes of options", S_L2,
	  .in = { TCP4(POOL4, PORT(H_A4)), .ip_opts = 12 }, XDP_TX, C(forwarded), H_A4 },
	{ "l2: ipv4 with 40 bytes of options (ihl 15)", S_L2,
	  .in = { UDP4(POOL4, PORT(H_B4)), .ip_opts = 40 }, XDP_REDIRECT, C(forwarded), H_B4 },
	{ "l2: ipv4 first fragment is steered by its ports", S_L2,
	  .in = { UDP4(POOL4, PORT(H_B4)), .frag = 0x2000 }, XDP_REDIRECT, C(forwarded), H_B4 },
	{ "l2: ethernet padding is carried along", S_L2,
	  .in = { UDP4(POOL4, PORT(H_A4)), .payload = 2, .pad_to = 60 }, XDP_TX, C(forwarded), H_A4 },
	{ "l2: icmp frag-needed goes to the owner of the quoted source port", S_L2,
	  .in = { ICMP4_ERR(3, 4, &q4_b4) }, XDP_REDIRECT, C(forwarded), H_B4 },
	{ "l2: icmp time-exceeded quoting tcp", S_L2,
	  .in = { ICMP4_ERR(11, 0, &q4_b4_tcp) }, XDP_REDIRECT, C(forwarded), H_B4 },
	{ "l2: icmp error quoting another pool's address uses that pool", S_L2,
	  .in = { ICMP4_ERR(3, 3, &q4b_a4) }, XDP_TX, C(forwarded), H_A4 },
	{ "l2: icmp error with a quote of only ip header + 8 bytes", S_L2,
	  .in = { ICMP4_ERR(3, 1, &q4_b4), .quote_len = 28 }, XDP_REDIRECT, C(forwarded), H_B4 },
	{ "l2: icmpv6 packet-too-big goes to the owner of the quoted port", S_L2,
	  .in = { ICMP6_ERR(2, 0, &q6_b6) }, XDP_REDIRECT, C(forwarded), H_B6 },
	{ "l2: icmpv6 destination unreachable behind a vlan tag", S_L2,
	  .in = { ICMP6_ERR(1, 4, &q6_a6), .tpid = { 0x8100 } }, XDP_TX, C(forwarded), H_A6 },
	{ "l2: the ifindex hint selects the output device", S_L2,
	  .in = { TCP4(POOL4, PORT(H_HINT)) }, XDP_REDIRECT, C(forwarded), H_HINT },
	{ "l2: exactly 1500 bytes fit a 1500 mtu", S_L2,
	  .in = { UDP4(POOL4, PORT(H_B4)), .payload = 1500 - 28 }, XDP_REDIRECT, C(forwarded), H_B4 },

	/* encap: outer header from the owner's underlay family. */
	{ "encap: ipv4 in ipv4 (protocol 4)", S_ENCAP,
	  .in = { TCP4(POOL4, PORT(H_B4)) }, XDP_REDIRECT, C(forwarded), H_B4 },
	{ "encap: ipv6 in ipv6 (next header 41)", S_ENCAP,
	  .in = { UDP6(POOL6, PORT(H_B6)) }, XDP_REDIRECT, C(forwarded), H_B6 },
	{ "encap: ipv4 in ipv6 (next header 4)", S_ENCAP,
	  .in = { UDP4(POOL4, PORT(H_B6)) }, XDP_REDIRECT, C(forwarded), H_B6 },
	{ "encap: ipv6 in ipv4 (protocol 41)", S_ENCAP,
	  .in = { TCP6(POOL6, PORT(H_B4)) }, XDP_REDIRECT, C(forwarded), H_B4 },
	{ "encap: owner behind the ingress device: XDP_TX", S_ENCAP,
	  .in = { TCP4(POOL4, PORT(H_A4)) }, XDP_TX, C(forwarded), H_A4 },
	{ "encap: ipv6 in ipv6 behind the ingress device: XDP_TX", S_ENCAP,
	  .in = { TCP6(POOL6, PORT(H_A6)) }, XDP_TX, C(forwarded), H_A6 },
	{ "encap: single vlan tag is not carried inside", S_ENCAP,
	  .in = { UDP4(POOL4, PORT(H_B4)), .tpid = { 0x8100 } }, XDP_REDIRECT, C(forwarded), H_B4 },
	{ "encap: double-tagged ipv6 into ipv4", S_ENCAP,
	  .in = { TCP6(POOL6, PORT(H_B4)), .tpid = { 0x88a8, 0x8100 } }, XDP_REDIRECT, C(forwarded), H_B4 },
	{ "encap: the inner tos is copied to the outer ipv4 header", S_ENCAP,
	  .in = { UDP4(POOL4, PORT(H_A4)), .tos = 0xb9 }, XDP_TX, C(forwarded), H_A4 },
	{ "encap: the inner traffic class is copied to the outer ipv6 header", S_ENCAP,
	  .in = { TCP6(POOL6, PORT(H_B6)), .tos = 0x2a }, XDP_REDIRECT, C(forwarded), H_B6 },
	{ "encap: ipv4 options stay in the inner header", S_ENCAP,
	  .in = { TCP4(POOL4, PORT(H_B4)), .ip_opts = 8 }, XDP_REDIRECT, C(forwarded), H_B4 },
	{ "encap: ethernet padding is carried after the packet", S_ENCAP,
	  .in = { UDP4(POOL4, PORT(H_A4)), .payload = 4, .pad_to = 60 }, XDP_TX, C(forwarded), H_A4 },
	{ "encap: icmp frag-needed is encapsulated to the quoted port's owner", S_ENCAP,
	  .in = { ICMP4_ERR(3, 4, &q4_b4) }, XDP_REDIRECT, C(forwarded), H_B4 },
	{ "encap: icmpv6 packet-too-big into ipv4", S_ENCAP,
	  .in = { ICMP6_ERR(2, 0, &q6_b6), .tpid = { 0x8100 } }, XDP_REDIRECT, C(forwarded), H_B6 },
	{ "encap: icmpv6 error to an owner behind the ingress device", S_ENCAP,
	  .in = { ICMP6_ERR(3, 0, &q6_a6) }, XDP_TX, C(forwarded), H_A6 },
	{ "encap: ipv4 in ipv4 of exactly 1500 bytes fits", S_ENCAP,
	  .in = { UDP4(POOL4, PORT(H_B4)), .payload = 1480 - 28 }, XDP_REDIRECT, C(forwarded), H_B4 },
	{ "encap: ipv6 in ipv6 of exactly 1500 bytes fits", S_ENCAP,
	  .in = { TCP6(POOL6, PORT(H_B6)), .payload = 1460 - 60 }, XDP_REDIRECT, C(forwarded), H_B6 },
	{ "encap: the ifindex hint selects the output device", S_ENCAP,
	  .in = { UDP4(POOL4, PORT(H_HINT)) }, XDP_REDIRECT, C(forwarded), H_HINT },
	{ "encap without ipv6 underlay still encapsulates into ipv4", S_ENCAP_NO6,
	  .in = { TCP6(POOL6, PORT(H_B4)) }, XDP_REDIRECT, C(forwarded), H_B4 },
	{ "a port moved to another owner is steered there", S_ENCAP,
	  .in = { TCP4(POOL4, PORT_NOBODY) }, XDP_TX, C(forwarded), H_A4, .owner = { PORT_NOBODY, H_A4 } },

	/*
	 * Loop guards: a packet is steered at most once. A frame for another
	 * host's port that is not addressed to this host (a switch flooded it),
	 * or that a fleet host already steered, is never sent on again.
	 */
	{ "l2: a frame for another host's port addressed to another mac is dropped", S_L2,
	  .in = { UDP4(POOL4, PORT(H_A4)), .dmac = other_mac }, XDP_DROP, C(dropped_not_for_us) },
	{ "l2: ipv6 for another host's port addressed to another mac is dropped", S_L2,
	  .in = { TCP6(POOL6, PORT(H_B6)), .dmac = other_mac }, XDP_DROP, C(dropped_not_for_us) },
	{ "l2: broadcast for another host's port is dropped", S_L2,
	  .in = { UDP4(POOL4, PORT(H_B4)), .dmac = bcast_mac }, XDP_DROP, C(dropped_not_for_us) },
	{ "encap: a frame for another host's port addressed to another mac is dropped", S_ENCAP,
	  .in = { UDP4(POOL4, PORT(H_B4)), .dmac = other_mac }, XDP_DROP, C(dropped_not_for_us) },
	{ "encap: icmp error addressed to another mac is dropped", S_ENCAP,
	  .in = { ICMP4_ERR(3, 4, &q4_b4), .dmac = other_mac }, XDP_DROP, C(dropped_not_for_us) },
	{ "l2: a frame for this host's port addressed to another mac passes (the kernel judges it)", S_L2,
	  .in = { UDP4(POOL4, PORT_OWN), .dmac = other_mac }, XDP_PASS, C(passed_own) },
	{ "l2: a frame addressed to ps-b's mac is this host's too", S_L2,
	  .in = { UDP4(POOL4, PORT(H_A4)), .dmac = devs[DEV_B].mac }, XDP_TX, C(forwarded), H_A4 },
	{ "l2: a frame a fleet host steered here, for another host's port, is dropped", S_L2,
	  .in = { UDP4(POOL4, PORT(H_B4)), .smac = PEER_MAC }, XDP_DROP, C(dropped_steered_twice) },
	{ "l2: ipv6 a fleet host steered here, for another host's port, is dropped", S_L2,
	  .in = { TCP6(POOL6, PORT(H_A6)), .smac = PEER_MAC6 }, XDP_DROP, C(dropped_steered_twice) },
	{ "l2: an icmp error a fleet host steered here, for another host's port, is dropped", S_L2,
	  .in = { ICMP6_ERR(2, 0, &q6_b6), .smac = PEER_MAC }, XDP_DROP, C(dropped_steered_twice) },
	{ "encap: a plain frame from a fleet host, for another host's port, is dropped", S_ENCAP,
	  .in = { TCP4(POOL4, PORT(H_B4)), .smac = PEER_MAC }, XDP_DROP, C(dropped_steered_twice) },
	{ "l2: a frame a fleet host steered here for this host's port passes", S_L2,
	  .in = { TCP4(POOL4, PORT_OWN), .smac = PEER_MAC }, XDP_PASS, C(passed_own) },
	{ "l2: an owner behind a gateway is not forwarded to (the gateway routes it back)", S_L2,
	  .in = { UDP4(POOL4, PORT(H_GW4)) }, XDP_DROP, C(dropped_not_on_link) },
	{ "encap: an owner behind a gateway is encapsulated to through it", S_ENCAP,
	  .in = { UDP4(POOL4, PORT(H_GW4)) }, XDP_REDIRECT, C(forwarded), H_GW4 },

	/* Encap: IP-in-IP to this host is judged by its inner packet, never encapsulated again. */
	{ "encap: ipv4 in ipv4 to this host for another host's port is dropped", S_ENCAP,
	  .in = { ENCAP4(&in4_b4) }, XDP_DROP, C(dropped_steered_twice) },
	{ "encap: ipv6 in ipv4 to this host for another host's port is dropped", S_ENCAP,
	  .in = { ENCAP4(&in6_a6) }, XDP_DROP, C(dropped_steered_twice) },
	{ "encap: ipv4 in ipv6 to this host for another host's port is dropped", S_ENCAP,
	  .in = { ENCAP6(&in4_b4) }, XDP_DROP, C(dropped_steered_twice) },
	{ "encap: an icmp error in ipv4 to this host for another host's port is dropped", S_ENCAP,
	  .in = { ENCAP4(&in4_icmp_b4) }, XDP_DROP, C(dropped_steered_twice) },
	{ "encap: ipv4 in ipv4 to this host for its own port passes (the tunnel decapsulates)", S_ENCAP,
	  .in = { ENCAP4(&in4_own) }, XDP_PASS, C(passed_own) },
	{ "encap: ipv6 in ipv6 to this host for its own port passes", S_ENCAP,
	  .in = { ENCAP6(&in6_own) }, XDP_PASS, C(passed_own) },
	{ "encap: ipv4 in ipv4 to this host for a port of no slice is dropped", S_ENCAP,
	  .in = { ENCAP4(&in4_nobody) }, XDP_DROP, C(dropped_no_owner) },
	{ "encap: ipv4 in ipv4 to this host around no pool address passes", S_ENCAP,
	  .in = { ENCAP4(&in4_other) }, XDP_PASS, C(passed_not_pool) },
	{ "encap: ipv4 in ipv4 to another address passes untouched", S_ENCAP,
	  .in = { ENCAP4_TO(OTHER4, &in4_b4) }, XDP_PASS, C(passed_not_pool) },
	{ "l2: ipv4 in ipv4 to this host for another host's port is dropped too", S_L2,
	  .in = { ENCAP4(&in4_b4) }, XDP_DROP, C(dropped_steered_twice) },
	{ "encap: a fragment of ipv4 in ipv4 is not looked into", S_ENCAP,
	  .in = { ENCAP4(&in4_b4), .frag = 0x2000 }, XDP_PASS, C(passed_not_pool) },
};

/* Packets run at every length, in both modes. */
struct trunc_case {
	const char *desc;
	struct pkt_spec in;
	bool strict_len; /* UDP: its length field must match the IP payload */
};

static const struct trunc_case truncs[] = {
	{ "ipv4 tcp", .in = { TCP4(POOL4, PORT(H_B4)) } },
	{ "ipv4 udp, 802.1q", .in = { UDP4(POOL4, PORT(H_A4)), .tpid = { 0x8100 } }, true },
	{ "ipv4 tcp with options, 802.1ad+802.1q", .in = { TCP4(POOL4, PORT(H_B6)), .ip_opts = 20,
	  .tpid = { 0x88a8, 0x8100 } } },
	{ "ipv6 tcp", .in = { TCP6(POOL6, PORT(H_B6)) } },
	{ "ipv6 udp, two tags", .in = { UDP6(POOL6, PORT(H_B4)), .tpid = { 0x8100, 0x8100 } }, true },
	{ "icmp frag-needed", .in = { ICMP4_ERR(3, 4, &q4_b4), .quote_len = 48 } },
	{ "icmp time-exceeded, 802.1q", .in = { ICMP4_ERR(11, 0, &q4_b4_tcp), .tpid = { 0x8100 } } },
	{ "icmpv6 packet-too-big", .in = { ICMP6_ERR(2, 0, &q6_b6), .quote_len = 80 } },
};

/* ---- running the program ---------------------------------------------- */

struct run {
	int err;
	uint32_t retval;
	uint8_t out[FRAME_MAX];
	size_t out_len;
};

static void run_prog(enum setup setup, const uint8_t *frame, size_t len, struct run *r)
{
	r->out_len = sizeof(r->out);
	r->err = steer_env_run(skels[setup], ifindex[DEV_A], frame, len, r->out, &r->out_len,
			       &r->retval);
}

/*
 * PS_STEER_PCAP=FILE writes every fixture case's input and output frames to
 * a pcap file, for reading them with tcpdump -r FILE -vv -e or wireshark.
 */
static FILE *pcap;

static void pcap_open(void)
{
	const char *path = getenv("PS_STEER_PCAP");
	/* magic, version 2.4, no zone, no sigfigs, snaplen, Ethernet */
	uint32_t hdr[6] = { 0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1 };

	if (!path || !*path)
		return;
	pcap = fopen(path, "w");
	if (pcap && fwrite(hdr, sizeof(hdr), 1, pcap) != 1) {
		fclose(pcap);
		pcap = NULL;
	}
	if (!pcap)
		fprintf(stderr, "test_steer: cannot write %s\n", path);
}

static void pcap_frame(const uint8_t *f, size_t len)
{
	static uint32_t n;
	uint32_t rec[4] = { ++n, 0, (uint32_t)len, (uint32_t)len };

	if (!pcap)
		return;
	if (fwrite(rec, sizeof(rec), 1, pcap) != 1 || fwrite(f, 1, len, pcap) != len) {
		fclose(pcap);
		pcap = NULL;
	}
}

struct counters {
	__u64 stats[STEER_N_STATS];
	__u64 fwd[PS_MAX_HOSTS];
};

static void read_counters(enum setup setup, struct counters *c)
{
	assert_int_equal(steer_env_read_stats(skels[setup], c->stats), 0);
	assert_int_equal(steer_env_read_fwd(skels[setup], c->fwd), 0);
}

/*
 * Exactly one counter moved by one (none for SIZE_MAX), and the per-host
 * counter only for a forward.
 */
static void check_counters(const struct counters *before, const struct counters *after,
			   size_t counter, uint32_t to)
{
	size_t moved = counter == SIZE_MAX ? STEER_N_STATS : counter / sizeof(__u64);

	for (size_t f = 0; f < STEER_N_STATS; f++) {
		__u64 want = before->stats[f] + (f == moved);

		if (after->stats[f] != want)
			fail_msg("counter %s: expected %llu, got %llu (expected %s to count it)",
				 steer_stat_names[f], (unsigned long long)want,
				 (unsigned long long)after->stats[f],
				 moved < STEER_N_STATS ? steer_stat_names[moved] : "nothing");
	}
	for (uint32_t h = 0; h < PS_MAX_HOSTS; h++) {
		__u64 want = before->fwd[h] + (to && h == to);

		if (after->fwd[h] != want)
			fail_msg("forwarded to host %u: expected %llu, got %llu", h,
				 (unsigned long long)want, (unsigned long long)after->fwd[h]);
	}
}

static void hexdiff(const uint8_t *want, size_t want_len, const uint8_t *got, size_t got_len)
{
	size_t n = want_len > got_len ? want_len : got_len;

	fprintf(stderr, "  expected %zu bytes, got %zu\n", want_len, got_len);
	for (size_t i = 0; i < n; i++) {
		bool same = i < want_len && i < got_len && want[i] == got[i];

		if (same)
			continue;
		fprintf(stderr, "  offset %4zu: expected %s%02x, got %s%02x\n", i,
			i < want_len ? "" : "-", i < want_len ? want[i] : 0,
			i < got_len ? "" : "-", i < got_len ? got[i] : 0);
	}
}

static void assert_bytes(const uint8_t *want, size_t want_len, const uint8_t *got, size_t got_len)
{
	if (want_len == got_len && !memcmp(want, got, want_len))
		return;
	hexdiff(want, want_len, got, got_len);
	fail_msg("output bytes differ");
}

/* ---- expected output, built independently of the program --------------- */

/* l2: a new Ethernet header in front of the untouched L3 packet (and padding). */
static size_t expect_l2(const uint8_t *in, size_t in_len, const struct layout *lo,
			const struct pkt_spec *s, const struct host_def *h, uint8_t *out)
{
	size_t n = put_eth(out, h->mac, devs[h->dev].mac, s->af == AF_INET ? 0x0800 : 0x86dd);

	memcpy(out + n, in + lo->l3, in_len - lo->l3);
	return n + in_len - lo->l3;
}

/* encap: Ethernet, an outer IP header, then the untouched L3 packet (and padding). */
static size_t expect_encap(const uint8_t *in, size_t in_len, const struct layout *lo,
			   const struct pkt_spec *s, const struct host_def *h, uint8_t *out)
{
	size_t inner = lo->l3_end - lo->l3, n;
	uint8_t proto = s->af == AF_INET ? 4 : 41, *ip;

	n = put_eth(out, h->mac, devs[h->dev].mac, h->af == AF_INET ? 0x0800 : 0x86dd);
	ip = out + n;
	if (h->af == AF_INET) {
		memset(ip, 0, 20);
		ip[0] = 0x45;
		ip[1] = s->tos;
		pkt_put16(ip + 2, (uint16_t)(20 + inner));
		pkt_put16(ip + 6, 0x4000); /* DF */
		ip[8] = 64;
		ip[9] = proto;
		put_addr(ip + 12, AF_INET, SELF_UNDERLAY4);
		put_addr(ip + 16, AF_INET, h->addr);
		ipv4_fix_csum(ip);
		n += 20;
	} else {
		ip[0] = 0x60 | s->tos >> 4;
		ip[1] = (uint8_t)(s->tos << 4);
		ip[2] = ip[3] = 0;
		pkt_put16(ip + 4, (uint16_t)inner);
		ip[6] = proto;
		ip[7] = 64;
		put_addr(ip + 8, AF_INET6, SELF_UNDERLAY6);
		put_addr(ip + 24, AF_INET6, h->addr);
		n += 40;
	}
	memcpy(out + n, in + lo->l3, in_len - lo->l3);
	return n + in_len - lo->l3;
}

/* ---- map setup ---------------------------------------------------------- */

static void set_owner(struct ps_steer *skel, uint16_t port, uint32_t host)
{
	static const uint32_t slots[] = { SLOT_POOL4, SLOT_POOL4B, SLOT_POOL6 };

	for (size_t i = 0; i < ARRAY_SIZE(slots); i++)
		assert_int_equal(steer_env_set_owner(skel, slots[i], port, host), 0);
}

static uint32_t world_owner(uint16_t port)
{
	if (port == PORT_OWN)
		return H_SELF;
	if (port == PORT_BAD_HOST)
		return H_OUT_OF_RANGE;
	if (port >= PORT(H_SELF + 1) && port <= PORT(H_MAX))
		return port - PORT(0);
	return PS_STEER_NO_HOST;
}

static void set_mac(int fd, const uint8_t *mac, uint32_t val)
{
	assert_int_equal(steer_env_set_mac(fd, mac, val), 0);
}

static void fill_world(struct ps_steer *skel)
{
	assert_int_equal(steer_env_add_pool(skel, AF_INET, POOL4, SLOT_POOL4), 0);
	assert_int_equal(steer_env_add_pool(skel, AF_INET, POOL4B, SLOT_POOL4B), 0);
	assert_int_equal(steer_env_add_pool(skel, AF_INET6, POOL6, SLOT_POOL6), 0);

	set_owner(skel, PORT_OWN, H_SELF);
	set_owner(skel, PORT_BAD_HOST, H_OUT_OF_RANGE);
	for (uint32_t h = H_SELF + 1; h <= H_MAX; h++)
		set_owner(skel, PORT(h), h);

	for (size_t i = 0; i < ARRAY_SIZE(hosts); i++) {
		const struct host_def *h = &hosts[i];

		if (h->valid)
			assert_int_equal(steer_env_set_host(skel, h->id, h->af, h->addr,
							    h->hint ? ifindex[h->dev] : 0), 0);
	}
	/* As the loader fills them: both devices' MACs are this host's; two fleet hosts' MACs are known. */
	for (int d = DEV_A; d <= DEV_B; d++)
		set_mac(bpf_map__fd(skel->maps.ps_steer_local_macs), devs[d].mac, (uint32_t)ifindex[d]);
	set_mac(bpf_map__fd(skel->maps.ps_steer_peer_macs), PEER_MAC, H_A4);
	set_mac(bpf_map__fd(skel->maps.ps_steer_peer_macs), PEER_MAC6, H_A6);
}

/* ---- the network namespace ------------------------------------------------ */

/*
 * ps-a (ingress, 10.99.0.1/24, fd00:99::1/64) and ps-b (10.99.1.1/24,
 * fd00:99:1::1/64), each with a veth peer, all up; forwarding on; a
 * permanent neighbour entry for each owner that has one.
 */
static int make_network(void)
{
	/* bpf_fib_lookup() answers FWD_DISABLED on a device that does not forward. */
	if (netns_setup(devs, ARRAY_SIZE(devs), ifindex))
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(hosts); i++) {
		const struct host_def *h = &hosts[i];

		if (h->neigh && netns_add_neigh(h->af, h->addr, h->mac, devs[h->dev].name))
			return -1;
	}
	/* H_GW4's underlay is behind a gateway: the FIB gives the gateway's MAC. */
	if (netns_add_neigh(AF_INET, GATEWAY4, host_def(H_GW4)->mac, devs[DEV_B].name) ||
	    netns_run("ip route add 10.98.0.0/24 via %s dev %s", GATEWAY4, devs[DEV_B].name))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	for (int s = 0; s < S_COUNT; s++) {
		ps_steer__destroy(skels[s]);
		skels[s] = NULL;
	}
	/* Leaving drops the namespace's last reference: the veths go with it. */
	netns_leave();
	return 0;
}

static int setup_world(void **state)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_steer: run as root: it loads XDP programs and creates a network namespace\n");
		return -1;
	}
	if (make_network())
		goto fail;
	for (int s = 0; s < S_COUNT; s++) {
		skels[s] = steer_env_load(H_SELF, s == S_L2 ? PS_STEER_L2 : PS_STEER_ENCAP,
					  SELF_UNDERLAY4, s == S_ENCAP_NO6 ? NULL : SELF_UNDERLAY6);
		if (!skels[s]) {
			fprintf(stderr, "test_steer: cannot load the %s program\n", setup_name[s]);
			goto fail;
		}
		fill_world(skels[s]);
	}
	return 0;
fail:
	teardown(state);
	return -1;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_case(void **state)
{
	const struct steer_case *c = *state;
	static uint8_t in[FRAME_MAX], want[FRAME_MAX];
	struct counters before, after;
	struct layout lo;
	struct run r;
	size_t len, want_len;

	len = build_frame(&c->in, in, &lo);
	if (c->owner.port)
		set_owner(skels[c->setup], c->owner.port, c->owner.host);
	read_counters(c->setup, &before);
	run_prog(c->setup, in, len, &r);
	read_counters(c->setup, &after);
	if (c->owner.port)
		set_owner(skels[c->setup], c->owner.port, world_owner(c->owner.port));

	pcap_frame(in, len);
	if (r.retval == XDP_TX || r.retval == XDP_REDIRECT)
		pcap_frame(r.out, r.out_len);
	assert_int_equal(r.err, 0);
	if (r.retval != (uint32_t)c->verdict)
		fail_msg("verdict: expected %s, got %s", steer_verdict_name((uint32_t)c->verdict),
			 steer_verdict_name(r.retval));
	check_counters(&before, &after, c->counter,
		       c->verdict == XDP_TX || c->verdict == XDP_REDIRECT ? c->to : 0);

	switch (c->verdict) {
	case XDP_PASS:
		assert_bytes(in, len, r.out, r.out_len);
		break;
	case XDP_TX:
	case XDP_REDIRECT:
		assert_non_null(host_def(c->to));
		if (c->setup == S_L2)
			want_len = expect_l2(in, len, &lo, &c->in, host_def(c->to), want);
		else
			want_len = expect_encap(in, len, &lo, &c->in, host_def(c->to), want);
		assert_bytes(want, want_len, r.out, r.out_len);
		break;
	}
}

/*
 * @in cut to every length: below the destination address it cannot be
 * shown to be for a pool (PASS); past it and short of the IP length it is
 * malformed (DROP); whole, it is forwarded as usual. Never TX or REDIRECT
 * for less than the whole packet, never a test-run error.
 */
static void trunc_frames(const struct trunc_case *t, enum setup setup)
{
	static uint8_t in[FRAME_MAX];
	struct counters before, after;
	struct layout lo;
	struct run r;
	size_t full = build_frame(&t->in, in, &lo), len;
	uint32_t owner = world_owner(t->in.quote ? t->in.quote->sport : t->in.dport);

	for (len = 0; len <= full; len++) {
		uint32_t want = len < lo.dst_end ? XDP_PASS : len < lo.l3_end ? XDP_DROP : 0;
		size_t counter = len < lo.dst_end ? C(passed_not_pool) :
				 len < lo.l3_end ? C(dropped_malformed) : C(forwarded);

		read_counters(setup, &before);
		run_prog(setup, in, len, &r);
		read_counters(setup, &after);
		if (len < ETH_HLEN) {
			/* The kernel never runs an XDP program on less than an Ethernet header. */
			if (r.err != -EINVAL)
				fail_msg("%s, %zu bytes: expected the kernel to refuse the test run, got %d",
					 setup_name[setup], len, r.err);
			check_counters(&before, &after, SIZE_MAX, 0);
			continue;
		}
		if (r.err)
			fail_msg("%s, %zu of %zu bytes: test run failed: %d", setup_name[setup], len, full, r.err);
		if (len == full) {
			if (r.retval != XDP_TX && r.retval != XDP_REDIRECT)
				fail_msg("%s: the whole packet is not forwarded: %s", setup_name[setup],
					 steer_verdict_name(r.retval));
		} else if (r.retval != want) {
			fail_msg("%s, %zu of %zu bytes: expected %s, got %s", setup_name[setup], len, full,
				 steer_verdict_name(want), steer_verdict_name(r.retval));
		}
		check_counters(&before, &after, counter, len == full ? owner : 0);
		if (r.retval == XDP_PASS)
			assert_bytes(in, len, r.out, r.out_len);
	}
}

/*
 * The IP length fields shortened to every length the headers could claim,
 * the frame cut to match: internally consistent packets whose L4 header or
 * quote is too short. Short of the steering key they are malformed.
 */
static void trunc_lengths(const struct trunc_case *t, enum setup setup)
{
	static uint8_t full_frame[FRAME_MAX], in[FRAME_MAX];
	struct counters before, after;
	struct layout lo;
	struct run r;
	size_t full = build_frame(&t->in, full_frame, &lo), len;
	uint32_t owner = world_owner(t->in.quote ? t->in.quote->sport : t->in.dport);

	for (len = lo.dst_end; len <= full; len++) {
		bool whole = len >= lo.key_end && (!t->strict_len || len == full);
		size_t counter = whole ? C(forwarded) : C(dropped_malformed);
		uint8_t *ip = in + lo.l3;

		memcpy(in, full_frame, len);
		if (t->in.af == AF_INET) {
			pkt_put16(ip + 2, (uint16_t)(len - lo.l3));
			ipv4_fix_csum(ip);
		} else {
			pkt_put16(ip + 4, (uint16_t)(len - lo.l3 - 40));
		}
		read_counters(setup, &before);
		run_prog(setup, in, len, &r);
		read_counters(setup, &after);
		if (r.err)
			fail_msg("%s, ip length %zu: test run failed: %d", setup_name[setup], len - lo.l3, r.err);
		if (whole ? r.retval != XDP_TX && r.retval != XDP_REDIRECT : r.retval != XDP_DROP)
			fail_msg("%s, ip length %zu of %zu: expected %s, got %s", setup_name[setup],
				 len - lo.l3, full - lo.l3, whole ? "a forward" : "XDP_DROP",
				 steer_verdict_name(r.retval));
		check_counters(&before, &after, counter, whole ? owner : 0);
	}
}

static void test_trunc(void **state)
{
	const struct trunc_case *t = *state;

	for (int s = S_L2; s <= S_ENCAP; s++) {
		trunc_frames(t, (enum setup)s);
		trunc_lengths(t, (enum setup)s);
	}
}

/* Every map is documented as unpinned in tests: none may have a pin path left. */
static void test_no_pins(void **state)
{
	struct bpf_map *map;

	for (int s = 0; s < S_COUNT; s++)
		bpf_object__for_each_map(map, skels[s]->obj)
			assert_null(bpf_map__pin_path(map));
}

/* Opened as the loader opens it, every map is pinned by its own name. */
static void test_map_pins(void **state)
{
	static const char *const names[] = { "ps_steer_pools", "ps_steer_owner", "ps_steer_hosts",
					     "ps_steer_stats", "ps_steer_fwd", "ps_steer_local_macs",
					     "ps_steer_peer_macs", "ps_steer_gen", "ps_steer_lease" };
	struct ps_steer *skel = ps_steer__open();
	char want[64];

	assert_non_null(skel);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		struct bpf_map *map = bpf_object__find_map_by_name(skel->obj, names[i]);

		assert_non_null(map);
		snprintf(want, sizeof(want), "/sys/fs/bpf/%s", names[i]);
		assert_non_null(bpf_map__pin_path(map));
		assert_string_equal(bpf_map__pin_path(map), want);
	}
	assert_int_equal(bpf_map__max_entries(skel->maps.ps_steer_owner), PS_STEER_OWNER_ENTRIES);
	assert_int_equal(bpf_map__max_entries(skel->maps.ps_steer_hosts), PS_MAX_HOSTS);
	assert_int_equal(bpf_map__max_entries(skel->maps.ps_steer_fwd), PS_MAX_HOSTS);
	ps_steer__destroy(skel);
}

/* Runs @spec through @setup's program: verdict @retval, and only @counter moved (forwards: to @to). */
static void expect_verdict(enum setup setup, const struct pkt_spec *spec, uint32_t retval,
			   size_t counter, uint32_t to)
{
	static uint8_t in[FRAME_MAX];
	struct counters before, after;
	struct layout lo;
	struct run r;
	size_t len = build_frame(spec, in, &lo);

	read_counters(setup, &before);
	run_prog(setup, in, len, &r);
	read_counters(setup, &after);
	assert_int_equal(r.err, 0);
	if (r.retval != retval)
		fail_msg("verdict %s, expected %s", steer_verdict_name(r.retval), steer_verdict_name(retval));
	check_counters(&before, &after, counter, to);
}

/*
 * As every writer of ps_steer_pools and the MAC maps must (include/steer.h):
 * add one to ps_steer_gen. Test runs are the only other user here.
 */
static void bump_gen(enum setup setup)
{
	int fd = bpf_map__fd(skels[setup]->maps.ps_steer_gen);
	__u32 zero = 0;
	__u64 gen;

	assert_int_equal(bpf_map_lookup_elem(fd, &zero, &gen), 0);
	gen++;
	assert_int_equal(bpf_map_update_elem(fd, &zero, &gen, BPF_ANY), 0);
}

/* From here on, test runs go to the CPU this one is on: the program's memos are per CPU. */
static void pin_cpu(cpu_set_t *was)
{
	cpu_set_t one;

	assert_int_equal(sched_getaffinity(0, sizeof(*was), was), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
}

/*
 * The program learns an owner's MAC as it forwards to it on-link: a frame
 * from that MAC later is known to be steered already, even when the loader
 * did not know the host (its neighbour entry was not resolved yet).
 */
static void test_learns_peer(void **state)
{
	static uint8_t in[FRAME_MAX];
	int fd = bpf_map__fd(skels[S_L2]->maps.ps_steer_peer_macs);
	struct ps_mac_key key = {};
	const struct pkt_spec to_b4 = { UDP4(POOL4, PORT(H_B4)) };
	const struct pkt_spec from_b4 = { UDP4(POOL4, PORT(H_A4)), .smac = host_def(H_B4)->mac };
	struct counters before, after;
	struct layout lo;
	struct run r;
	__u32 id = 0;
	size_t len;

	memcpy(key.mac, host_def(H_B4)->mac, 6);
	bpf_map_delete_elem(fd, &key); /* an earlier case may have taught it already */

	len = build_frame(&from_b4, in, &lo);
	run_prog(S_L2, in, len, &r);
	assert_int_equal(r.retval, XDP_TX); /* not known yet: steered on */

	len = build_frame(&to_b4, in, &lo);
	run_prog(S_L2, in, len, &r);
	assert_int_equal(r.retval, XDP_REDIRECT);
	assert_int_equal(bpf_map_lookup_elem(fd, &key, &id), 0);
	assert_int_equal(id, H_B4);

	len = build_frame(&from_b4, in, &lo);
	read_counters(S_L2, &before);
	run_prog(S_L2, in, len, &r);
	read_counters(S_L2, &after);
	assert_int_equal(r.retval, XDP_DROP);
	check_counters(&before, &after, C(dropped_steered_twice), 0);

	/* Not on-link: the gateway's MAC is never taken for a fleet host's. */
	len = build_frame(&(const struct pkt_spec){ UDP4(POOL4, PORT(H_GW4)) }, in, &lo);
	run_prog(S_ENCAP, in, len, &r);
	assert_int_equal(r.retval, XDP_REDIRECT);
	memcpy(key.mac, host_def(H_GW4)->mac, 6);
	assert_int_not_equal(bpf_map_lookup_elem(bpf_map__fd(skels[S_ENCAP]->maps.ps_steer_peer_macs), &key, &id), 0);
}

/*
 * A CPU reuses its FIB result for a host within a jiffy, but only for the
 * same question: a host entry the loader rewrote (here: to an address with
 * no neighbour entry) and bumped ps_steer_gen after, as the loader does, is
 * looked up again at once, and a length the reused result has not shown to
 * fit is not sent on it.
 */
static void test_fib_memo_follows_host(void **state)
{
	static uint8_t in[FRAME_MAX];
	int fd = bpf_map__fd(skels[S_L2]->maps.ps_steer_hosts);
	const struct pkt_spec to_b4 = { UDP4(POOL4, PORT(H_B4)) };
	struct ps_steer_host saved, noneigh;
	struct counters before, after;
	__u32 b4 = H_B4, nn = H_NONEIGH4;
	struct layout lo;
	struct run r;
	cpu_set_t was;
	size_t len;

	pin_cpu(&was);
	len = build_frame(&to_b4, in, &lo);
	run_prog(S_L2, in, len, &r);
	assert_int_equal(r.retval, XDP_REDIRECT);

	assert_int_equal(bpf_map_lookup_elem(fd, &b4, &saved), 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &nn, &noneigh), 0);
	assert_int_equal(bpf_map_update_elem(fd, &b4, &noneigh, BPF_ANY), 0);
	bump_gen(S_L2);
	len = build_frame(&to_b4, in, &lo);
	read_counters(S_L2, &before);
	run_prog(S_L2, in, len, &r);
	read_counters(S_L2, &after);
	assert_int_equal(bpf_map_update_elem(fd, &b4, &saved, BPF_ANY), 0);
	bump_gen(S_L2);
	assert_int_equal(r.retval, XDP_DROP);
	check_counters(&before, &after, C(dropped_no_neigh), 0);

	len = build_frame(&to_b4, in, &lo);
	run_prog(S_L2, in, len, &r);
	assert_int_equal(r.retval, XDP_REDIRECT);
	assert_int_equal(sched_setaffinity(0, sizeof(was), &was), 0);
}

/*
 * Each CPU keeps its last pool and loop-guard answers (struct
 * ps_steer_memo) only while ps_steer_gen is unchanged: a write to the map
 * an answer came from, followed by the bump the loader makes, is seen by
 * the very next packet on the same CPU, within the same jiffy.
 */
static void test_memo_follows_map_writes(void **state)
{
	const struct pkt_spec to_b4 = { UDP4(POOL4, PORT(H_B4)) };
	int pools = bpf_map__fd(skels[S_L2]->maps.ps_steer_pools);
	int local = bpf_map__fd(skels[S_L2]->maps.ps_steer_local_macs);
	int peers = bpf_map__fd(skels[S_L2]->maps.ps_steer_peer_macs);
	struct ps_addr_key pool = { .family = AF_INET };
	struct ps_mac_key key = {};
	__u32 slot = SLOT_POOL4;
	cpu_set_t was;

	pin_cpu(&was);
	expect_verdict(S_L2, &to_b4, XDP_REDIRECT, C(forwarded), H_B4);

	/* The router's MAC becomes a fleet host's. */
	set_mac(peers, router_mac, H_A4);
	bump_gen(S_L2);
	expect_verdict(S_L2, &to_b4, XDP_DROP, C(dropped_steered_twice), 0);
	memcpy(key.mac, router_mac, 6);
	assert_int_equal(bpf_map_delete_elem(peers, &key), 0);
	bump_gen(S_L2);
	expect_verdict(S_L2, &to_b4, XDP_REDIRECT, C(forwarded), H_B4);

	/* ps-a's MAC is no longer this host's. */
	memcpy(key.mac, devs[DEV_A].mac, 6);
	assert_int_equal(bpf_map_delete_elem(local, &key), 0);
	bump_gen(S_L2);
	expect_verdict(S_L2, &to_b4, XDP_DROP, C(dropped_not_for_us), 0);
	set_mac(local, devs[DEV_A].mac, (uint32_t)ifindex[DEV_A]);
	bump_gen(S_L2);
	expect_verdict(S_L2, &to_b4, XDP_REDIRECT, C(forwarded), H_B4);

	/* The pool goes, and comes back. */
	put_addr((uint8_t *)pool.addr, AF_INET, POOL4);
	assert_int_equal(bpf_map_delete_elem(pools, &pool), 0);
	bump_gen(S_L2);
	expect_verdict(S_L2, &to_b4, XDP_PASS, C(passed_not_pool), 0);
	assert_int_equal(bpf_map_update_elem(pools, &pool, &slot, BPF_NOEXIST), 0);
	bump_gen(S_L2);
	expect_verdict(S_L2, &to_b4, XDP_REDIRECT, C(forwarded), H_B4);
	assert_int_equal(sched_setaffinity(0, sizeof(was), &was), 0);
}

/*
 * Two hosts that disagree about an owner send its replies back and forth:
 * a frame from host B4's MAC for a port this host gives to B4 is forwarded
 * once, and the program learns B4's MAC from the FIB as it does. The same
 * frame right after, on the same CPU, must not be let through by the loop
 * guard's memo of that MAC pair: learning voids every CPU's memo.
 */
static void test_learning_voids_the_memo(void **state)
{
	const struct pkt_spec back = { UDP4(POOL4, PORT(H_B4)), .smac = host_def(H_B4)->mac };
	int fd = bpf_map__fd(skels[S_L2]->maps.ps_steer_peer_macs);
	struct ps_mac_key key = {};
	cpu_set_t was;

	memcpy(key.mac, host_def(H_B4)->mac, 6);
	bpf_map_delete_elem(fd, &key); /* an earlier case may have taught it already */
	bump_gen(S_L2);
	/* A jiffy later the FIB memo is void as well: the forward asks the FIB, and learns. */
	usleep(20000);
	pin_cpu(&was);
	expect_verdict(S_L2, &back, XDP_REDIRECT, C(forwarded), H_B4);
	expect_verdict(S_L2, &back, XDP_DROP, C(dropped_steered_twice), 0);
	assert_int_equal(sched_setaffinity(0, sizeof(was), &was), 0);
}

static void set_lease(enum setup setup, __u32 slot, __u64 own_until_ns)
{
	struct ps_steer_lease v = { .own_until_ns = own_until_ns };

	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skels[setup]->maps.ps_steer_lease), &slot, &v, BPF_ANY), 0);
}

static __u64 boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

/*
 * A dynamic pool's own ports pass only while its lease, plus the
 * quarantine, may still hold them (ps_steer_lease); then they are nobody's
 * here. Other pools and other hosts' ports do not depend on it.
 */
static void test_own_ports_follow_the_lease(void **state)
{
	const struct pkt_spec own4 = { TCP4(POOL4, PORT_OWN) }, own6 = { UDP6(POOL6, PORT_OWN) };
	const struct pkt_spec err4 = { ICMP4_ERR(3, 4, &q4_own) }, b4 = { TCP4(POOL4, PORT(H_B4)) };

	set_lease(S_L2, SLOT_POOL4, boot_ns() + 60ULL * 1000000000ULL);
	expect_verdict(S_L2, &own4, XDP_PASS, C(passed_own), 0);
	expect_verdict(S_L2, &err4, XDP_PASS, C(passed_own), 0);
	set_lease(S_L2, SLOT_POOL4, boot_ns() - 1);
	expect_verdict(S_L2, &own4, XDP_DROP, C(dropped_no_owner), 0);
	expect_verdict(S_L2, &err4, XDP_DROP, C(dropped_no_owner), 0);
	expect_verdict(S_L2, &own6, XDP_PASS, C(passed_own), 0);
	expect_verdict(S_L2, &b4, XDP_REDIRECT, C(forwarded), H_B4);
	set_lease(S_L2, SLOT_POOL4, PS_STEER_LEASE_NONE);
	expect_verdict(S_L2, &own4, XDP_DROP, C(dropped_no_owner), 0);
	/* Encapsulated to this host by another: judged by the inner packet's lease as well. */
	set_lease(S_ENCAP, SLOT_POOL4, boot_ns() - 1);
	expect_verdict(S_ENCAP, &(const struct pkt_spec){ ENCAP4(&in4_own) }, XDP_DROP, C(dropped_no_owner), 0);
	set_lease(S_ENCAP, SLOT_POOL4, 0);
	expect_verdict(S_ENCAP, &(const struct pkt_spec){ ENCAP4(&in4_own) }, XDP_PASS, C(passed_own), 0);
	set_lease(S_L2, SLOT_POOL4, 0);
	expect_verdict(S_L2, &own4, XDP_PASS, C(passed_own), 0);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_no_pins),
		cmocka_unit_test(test_map_pins),
		cmocka_unit_test(test_learns_peer),
		cmocka_unit_test(test_fib_memo_follows_host),
		cmocka_unit_test(test_memo_follows_map_writes),
		cmocka_unit_test(test_learning_voids_the_memo),
		cmocka_unit_test(test_own_ports_follow_the_lease),
	};
	size_t n_fixed = ARRAY_SIZE(fixed), n_cases = ARRAY_SIZE(cases), n_truncs = ARRAY_SIZE(truncs);
	size_t n = n_fixed + n_cases + n_truncs, i;
	static char names[ARRAY_SIZE(cases) + ARRAY_SIZE(truncs)][160];
	struct CMUnitTest *tests;
	int ret;

	tests = calloc(n, sizeof(*tests));
	if (!tests)
		return 1;
	memcpy(tests, fixed, sizeof(fixed));
	/* One cmocka test per table row, named after its description. */
	for (i = 0; i < n_cases; i++) {
		snprintf(names[i], sizeof(names[i]), "[%s] %s", setup_name[cases[i].setup], cases[i].desc);
		tests[n_fixed + i] = (struct CMUnitTest){
			.name = names[i],
			.test_func = test_case,
			.initial_state = (void *)&cases[i],
		};
	}
	for (i = 0; i < n_truncs; i++) {
		snprintf(names[n_cases + i], sizeof(names[0]), "every length of: %s", truncs[i].desc);
		tests[n_fixed + n_cases + i] = (struct CMUnitTest){
			.name = names[n_cases + i],
			.test_func = test_trunc,
			.initial_state = (void *)&truncs[i],
		};
	}
	pcap_open();
	ret = _cmocka_run_group_tests("steer", tests, n, setup_world, teardown);
	if (pcap)
		fclose(pcap);
	free(tests);
	return ret;
}
