// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Frames crafted to make the XDP steering program (bpf/steer.bpf.c) send
 * traffic to the wrong host: spoofed pool sources, fragments, IP options,
 * VLAN stacking, tunnels inside tunnels, ICMP errors quoting what they
 * like. Each must be dropped, passed untouched, or forwarded to exactly the
 * host the contract names, never anywhere else.
 *
 * Runs through bpf_prog_test_run_opts() in the world of
 * tests/lib/steer_world.h (its own network namespace, maps unpinned), and
 * every frame is also checked against that world's independent reference
 * (verdict, counter, output bytes), as the fuzzer does.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/bpf.h>
#include <cmocka.h>

#include "pkt.h"
#include "steer_env.h"
#include "steer_world.h"

#define PEER4 "203.0.113.7"
#define PEER6 "2001:db8:ffff::7"
#define ROUTER4 "203.0.113.1"
#define OTHER4 "198.18.0.99"

#define PORT_SELF 20010
#define PORT_B4 21010     /* host 2: redirect through psf-b */
#define PORT_A6 21110     /* host 3: XDP_TX */
#define PORT_NOBODY 30000

enum { L2 = 0, ENCAP = 1 };

/* ---- a small frame builder -------------------------------------------- */

struct frame {
	uint8_t b[SW_FRAME_MAX + 1]; /* b[0]: mode */
	size_t n;                    /* bytes of b used, mode included */
};

static void put(struct frame *f, const void *p, size_t n)
{
	assert_true(f->n + n <= sizeof(f->b));
	memcpy(f->b + f->n, p, n);
	f->n += n;
}

static void put_u16(struct frame *f, uint16_t v)
{
	uint8_t b[2];

	pkt_put16(b, v);
	put(f, b, 2);
}

/* Mode byte, Ethernet header to psf-a, the given TPIDs (0-terminated), ethertype. */
static void eth(struct frame *f, int mode, const uint16_t *tpids, uint16_t type)
{
	static const uint8_t src[6] = { 2, 0, 0, 0, 0xee, 1 };

	f->n = 0;
	f->b[f->n++] = (uint8_t)mode;
	put(f, sw_ingress_mac, 6);
	put(f, src, 6);
	for (int i = 0; tpids && tpids[i]; i++) {
		put_u16(f, tpids[i]);
		put_u16(f, (uint16_t)(100 + i));
	}
	put_u16(f, type);
}

/* An IPv4 header for @len bytes of payload; returns its offset in f. */
static size_t ip4(struct frame *f, const char *src, const char *dst, uint8_t proto,
		  const uint8_t *opts, size_t optlen, uint16_t frag, size_t len)
{
	size_t off = f->n, hl = 20 + optlen;
	uint8_t h[60] = { 0 };

	assert_true(hl <= 60 && hl % 4 == 0);
	h[0] = (uint8_t)(0x40 | hl / 4);
	pkt_put16(h + 2, (uint16_t)(hl + len));
	pkt_put16(h + 4, 0x4242);
	pkt_put16(h + 6, frag);
	h[8] = 64;
	h[9] = proto;
	inet_pton(AF_INET, src, h + 12);
	inet_pton(AF_INET, dst, h + 16);
	if (optlen)
		memcpy(h + 20, opts, optlen);
	pkt_put16(h + 10, pkt_fold(pkt_sum16(h, hl, 0)));
	put(f, h, hl);
	return off;
}

static size_t ip6(struct frame *f, const char *src, const char *dst, uint8_t nh, size_t len)
{
	size_t off = f->n;
	uint8_t h[40] = { 0x60 };

	pkt_put16(h + 4, (uint16_t)len);
	h[6] = nh;
	h[7] = 64;
	inet_pton(AF_INET6, src, h + 8);
	inet_pton(AF_INET6, dst, h + 24);
	put(f, h, 40);
	return off;
}

static void udp(struct frame *f, uint16_t sport, uint16_t dport, size_t payload)
{
	uint8_t h[8] = { 0 };

	pkt_put16(h, sport);
	pkt_put16(h + 2, dport);
	pkt_put16(h + 4, (uint16_t)(8 + payload));
	put(f, h, 8);
	for (size_t i = 0; i < payload; i++)
		put(f, "u", 1);
}

static void tcp(struct frame *f, uint16_t sport, uint16_t dport, size_t payload)
{
	uint8_t h[20] = { 0 };

	pkt_put16(h, sport);
	pkt_put16(h + 2, dport);
	h[12] = 5 << 4;
	h[13] = 0x10;
	put(f, h, 20);
	for (size_t i = 0; i < payload; i++)
		put(f, "t", 1);
}

static void icmp_hdr(struct frame *f, uint8_t type, uint8_t code)
{
	uint8_t h[8] = { type, code };

	put(f, h, 8);
}

/* ---- running ----------------------------------------------------------- */

static size_t stat_index(const char *name)
{
	for (size_t i = 0; i < STEER_N_STATS; i++)
		if (!strcmp(steer_stat_names[i], name))
			return i;
	fail_msg("no counter %s", name);
	return STEER_N_STATS;
}

/*
 * Run @f: the reference must agree (steer_check), and the verdict, the
 * counter and (for forwards) the receiving host must be the ones given.
 */
static void expect(const struct frame *f, uint32_t verdict, const char *counter, uint32_t to)
{
	const char *breach = steer_world_check(f->b, f->n);
	const struct sw_result *last = steer_world_last();

	if (breach)
		fail_msg("%s", breach);
	if (last->verdict != verdict)
		fail_msg("verdict: expected %s, got %s", steer_verdict_name(verdict),
			 steer_verdict_name(last->verdict));
	if (last->counter != stat_index(counter))
		fail_msg("counter: expected %s, got %s", counter,
			 last->counter < STEER_N_STATS ? steer_stat_names[last->counter] : "none");
	if (last->to != to)
		fail_msg("forwarded to host %u, expected %u", last->to, to);
}

/* ---- spoofing ------------------------------------------------------------ */

/* A pool address as source changes nothing: the destination port decides. */
static void test_spoofed_pool_source(void **state)
{
	struct frame f;

	for (int mode = L2; mode <= ENCAP; mode++) {
		eth(&f, mode, NULL, 0x0800);
		ip4(&f, SW_POOL4, SW_POOL4, IPPROTO_UDP, NULL, 0, 0, 8 + 4);
		udp(&f, PORT_B4, PORT_SELF, 4);
		expect(&f, XDP_PASS, "passed_own", 0);

		eth(&f, mode, NULL, 0x0800);
		ip4(&f, SW_POOL4B, SW_POOL4, IPPROTO_TCP, NULL, 0, 0, 20);
		tcp(&f, PORT_SELF, PORT_B4, 0);
		expect(&f, XDP_REDIRECT, "forwarded", SW_H_B4);

		/* A spoofed pool source with another host's port as *source*: still by dport. */
		eth(&f, mode, NULL, 0x0800);
		ip4(&f, SW_POOL4, SW_POOL4, IPPROTO_TCP, NULL, 0, 0, 20);
		tcp(&f, PORT_B4, PORT_NOBODY, 0);
		expect(&f, XDP_DROP, "dropped_no_owner", 0);
	}
}

/* ICMP errors name their own flow: only a quoted pool source steers them. */
static void test_icmp_quotes(void **state)
{
	struct frame f;
	size_t q;

	/* Quoting a flow of a non-pool address with B's port: passed, not forwarded. */
	eth(&f, L2, NULL, 0x0800);
	ip4(&f, ROUTER4, SW_POOL4, IPPROTO_ICMP, NULL, 0, 0, 8 + 28);
	icmp_hdr(&f, 3, 3);
	ip4(&f, OTHER4, PEER4, IPPROTO_UDP, NULL, 0, 0, 8);
	udp(&f, PORT_B4, 53, 0);
	expect(&f, XDP_PASS, "passed_other", 0);

	/* An ICMP error to a non-pool address quoting a pool flow: not ours. */
	eth(&f, L2, NULL, 0x0800);
	ip4(&f, ROUTER4, OTHER4, IPPROTO_ICMP, NULL, 0, 0, 8 + 28);
	icmp_hdr(&f, 3, 4);
	ip4(&f, SW_POOL4, PEER4, IPPROTO_UDP, NULL, 0, 0, 8);
	udp(&f, PORT_B4, 53, 0);
	expect(&f, XDP_PASS, "passed_not_pool", 0);

	/* An IPv4 ICMP error quoting an IPv6 header: malformed. */
	eth(&f, L2, NULL, 0x0800);
	ip4(&f, ROUTER4, SW_POOL4, IPPROTO_ICMP, NULL, 0, 0, 8 + 40 + 8);
	icmp_hdr(&f, 3, 4);
	ip6(&f, SW_POOL6, PEER6, IPPROTO_UDP, 8);
	udp(&f, PORT_B4, 53, 0);
	expect(&f, XDP_DROP, "dropped_malformed", 0);

	/* A quote whose IHL points past the IP length: malformed, not read beyond. */
	eth(&f, L2, NULL, 0x0800);
	ip4(&f, ROUTER4, SW_POOL4, IPPROTO_ICMP, NULL, 0, 0, 8 + 28);
	icmp_hdr(&f, 11, 0);
	q = ip4(&f, SW_POOL4, PEER4, IPPROTO_UDP, NULL, 0, 0, 8);
	udp(&f, PORT_B4, 53, 0);
	f.b[q] = 0x4f; /* IHL 15: ports at +60, past the 28 quoted bytes */
	for (int i = 0; i < 40; i++)
		put(&f, "\0", 1); /* Ethernet padding that holds "ports" */
	expect(&f, XDP_DROP, "dropped_malformed", 0);

	/* Echo requests and redirects are no errors about a flow: passed. */
	eth(&f, ENCAP, NULL, 0x0800);
	ip4(&f, ROUTER4, SW_POOL4, IPPROTO_ICMP, NULL, 0, 0, 8 + 28);
	icmp_hdr(&f, 5, 1);
	ip4(&f, SW_POOL4, PEER4, IPPROTO_UDP, NULL, 0, 0, 8);
	udp(&f, PORT_B4, 53, 0);
	expect(&f, XDP_PASS, "passed_other", 0);
}

/* ---- fragments -------------------------------------------------------------- */

static void test_fragments(void **state)
{
	struct frame f;

	/* A non-first fragment whose payload looks like a UDP header for B: dropped. */
	for (int mode = L2; mode <= ENCAP; mode++) {
		eth(&f, mode, NULL, 0x0800);
		ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, NULL, 0, 0x2000 | 1, 16);
		udp(&f, 53, PORT_B4, 8);
		expect(&f, XDP_DROP, "dropped_fragment", 0);
	}
	/* ... even for this host's own port (there are no ports to prove it). */
	eth(&f, L2, NULL, 0x0800);
	ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, NULL, 0, 185, 16);
	udp(&f, 53, PORT_SELF, 8);
	expect(&f, XDP_DROP, "dropped_fragment", 0);

	/* A tiny first fragment: just the UDP header, the length beyond it. */
	eth(&f, L2, NULL, 0x0800);
	ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, NULL, 0, 0x2000, 8);
	udp(&f, 53, PORT_B4, 0);
	pkt_put16(f.b + f.n - 4, 1400); /* UDP length of the whole datagram */
	expect(&f, XDP_REDIRECT, "forwarded", SW_H_B4);

	/* A first fragment cut inside the UDP header: malformed. */
	eth(&f, L2, NULL, 0x0800);
	ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, NULL, 0, 0x2000, 4);
	put(&f, "\x00\x35\x52\x12", 4);
	expect(&f, XDP_DROP, "dropped_malformed", 0);

	/* Not a first fragment but claiming offset 0 in the last one: MF clear, offset set. */
	eth(&f, ENCAP, NULL, 0x0800);
	ip4(&f, PEER4, SW_POOL4, IPPROTO_TCP, NULL, 0, 0x1fff, 20);
	tcp(&f, 443, PORT_A6, 0);
	expect(&f, XDP_DROP, "dropped_fragment", 0);

	/* IPv6 fragment header: unsupported, dropped. */
	eth(&f, L2, NULL, 0x86dd);
	ip6(&f, PEER6, SW_POOL6, 44, 8 + 8);
	put(&f, "\x11\x00\x00\x00\x00\x00\x00\x01", 8);
	udp(&f, 53, PORT_B4, 0);
	expect(&f, XDP_DROP, "dropped_unsupported", 0);
}

/* ---- IP options ----------------------------------------------------------------- */

static void test_ip_options(void **state)
{
	/* Loose source route to OTHER4, record route, router alert, NOP padding. */
	static const uint8_t lsrr[] = { 0x83, 7, 4, 198, 18, 0, 99, 1 };
	static const uint8_t rr[] = { 7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	static const uint8_t ra[] = { 0x94, 4, 0, 0 };
	uint8_t opts[40];
	struct frame f;

	for (int mode = L2; mode <= ENCAP; mode++) {
		/* Options travel with the packet; the destination port decides. */
		eth(&f, mode, NULL, 0x0800);
		ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, lsrr, sizeof(lsrr), 0, 8 + 10);
		udp(&f, 53, PORT_B4, 10);
		expect(&f, XDP_REDIRECT, "forwarded", SW_H_B4);

		eth(&f, mode, NULL, 0x0800);
		ip4(&f, PEER4, SW_POOL4, IPPROTO_TCP, rr, sizeof(rr), 0, 20);
		tcp(&f, 443, PORT_A6, 0);
		expect(&f, XDP_TX, "forwarded", SW_H_A6);

		eth(&f, mode, NULL, 0x0800);
		ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, ra, sizeof(ra), 0, 8);
		udp(&f, 53, PORT_SELF, 0);
		expect(&f, XDP_PASS, "passed_own", 0);
	}
	/* 40 bytes of options (IHL 15), then a header cut by the IP length. */
	memset(opts, 1, sizeof(opts));
	eth(&f, L2, NULL, 0x0800);
	ip4(&f, PEER4, SW_POOL4, IPPROTO_TCP, opts, sizeof(opts), 0, 10);
	tcp(&f, 443, PORT_B4, 0);
	expect(&f, XDP_DROP, "dropped_malformed", 0);
}

/* ---- VLAN stacking ------------------------------------------------------------ */

static void test_vlan_stacking(void **state)
{
	static const uint16_t one[] = { 0x8100, 0 }, two[] = { 0x88a8, 0x8100, 0 },
			      two_q[] = { 0x8100, 0x8100, 0 }, three[] = { 0x88a8, 0x8100, 0x8100, 0 },
			      qinq_9100[] = { 0x9100, 0 };
	struct frame f;

	eth(&f, L2, one, 0x0800);
	ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, NULL, 0, 0, 8);
	udp(&f, 53, PORT_B4, 0);
	expect(&f, XDP_REDIRECT, "forwarded", SW_H_B4);

	eth(&f, ENCAP, two_q, 0x86dd);
	ip6(&f, PEER6, SW_POOL6, IPPROTO_TCP, 20);
	tcp(&f, 443, PORT_A6, 0);
	expect(&f, XDP_TX, "forwarded", SW_H_A6);

	/* Three tags are not parsed: passed to the local stack, never forwarded. */
	eth(&f, L2, three, 0x0800);
	ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, NULL, 0, 0, 8);
	udp(&f, 53, PORT_B4, 0);
	expect(&f, XDP_PASS, "passed_not_pool", 0);

	/* An old QinQ TPID is not a tag the program knows: not IP. */
	eth(&f, L2, qinq_9100, 0x0800);
	ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, NULL, 0, 0, 8);
	udp(&f, 53, PORT_B4, 0);
	expect(&f, XDP_PASS, "passed_not_pool", 0);

	/* Tags announcing IPv4 in front of an IPv6 header (version 6): malformed. */
	eth(&f, L2, two, 0x0800);
	ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, NULL, 0, 0, 8);
	udp(&f, 53, PORT_B4, 0);
	f.b[1 + 14 + 8] = 0x65;
	expect(&f, XDP_DROP, "dropped_malformed", 0);

	/* A tag cut short: not IP. */
	eth(&f, L2, NULL, 0x8100);
	put(&f, "\x00", 1);
	expect(&f, XDP_PASS, "passed_not_pool", 0);
}

/* ---- tunnels inside tunnels ------------------------------------------------------- */

static void test_tunnels(void **state)
{
	struct frame f;

	for (int mode = L2; mode <= ENCAP; mode++) {
		/* IPIP to the pool address carrying a reply to B's port: not steered. */
		eth(&f, mode, NULL, 0x0800);
		ip4(&f, PEER4, SW_POOL4, IPPROTO_IPIP, NULL, 0, 0, 20 + 8);
		ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, NULL, 0, 0, 8);
		udp(&f, 53, PORT_B4, 0);
		expect(&f, XDP_PASS, "passed_other", 0);

		/* IPIP in IPIP. */
		eth(&f, mode, NULL, 0x0800);
		ip4(&f, PEER4, SW_POOL4, IPPROTO_IPIP, NULL, 0, 0, 20 + 20 + 20);
		ip4(&f, PEER4, SW_POOL4B, IPPROTO_IPIP, NULL, 0, 0, 20 + 20);
		ip4(&f, PEER4, SW_POOL4, IPPROTO_TCP, NULL, 0, 0, 20);
		tcp(&f, 443, PORT_A6, 0);
		expect(&f, XDP_PASS, "passed_other", 0);

		/* 6in4 and IPv6-in-IPv6 (next header 41). */
		eth(&f, mode, NULL, 0x0800);
		ip4(&f, PEER4, SW_POOL4, IPPROTO_IPV6, NULL, 0, 0, 40 + 8);
		ip6(&f, PEER6, SW_POOL6, IPPROTO_UDP, 8);
		udp(&f, 53, PORT_B4, 0);
		expect(&f, XDP_PASS, "passed_other", 0);

		eth(&f, mode, NULL, 0x86dd);
		ip6(&f, PEER6, SW_POOL6, IPPROTO_IPV6, 40 + 20);
		ip6(&f, PEER6, SW_POOL6, IPPROTO_TCP, 20);
		tcp(&f, 443, PORT_B4, 0);
		expect(&f, XDP_PASS, "passed_other", 0);

		/* GRE carrying IPv4. */
		eth(&f, mode, NULL, 0x0800);
		ip4(&f, PEER4, SW_POOL4, IPPROTO_GRE, NULL, 0, 0, 4 + 20 + 8);
		put(&f, "\x00\x00\x08\x00", 4);
		ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, NULL, 0, 0, 8);
		udp(&f, 53, PORT_B4, 0);
		expect(&f, XDP_PASS, "passed_other", 0);

		/* UDP encapsulation (VXLAN) to a pool port: a UDP packet like any other. */
		eth(&f, mode, NULL, 0x0800);
		ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, NULL, 0, 0, 8 + 8 + 14 + 20 + 8);
		udp(&f, 4789, PORT_NOBODY, 8 + 14 + 20 + 8);
		expect(&f, XDP_DROP, "dropped_no_owner", 0);
	}
	/* Our own encapsulation, replayed to the pool address: not re-steered. */
	eth(&f, ENCAP, NULL, 0x0800);
	ip4(&f, "10.98.1.2", SW_POOL4, IPPROTO_IPIP, NULL, 0, 0x4000, 20 + 8);
	ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, NULL, 0, 0, 8);
	udp(&f, 53, PORT_A6, 0);
	expect(&f, XDP_PASS, "passed_other", 0);
}

/* ---- lengths that lie -------------------------------------------------------------- */

static void test_lying_lengths(void **state)
{
	struct frame f;
	size_t ip;

	/* IPv4 total length past the frame: malformed. */
	eth(&f, L2, NULL, 0x0800);
	ip = ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, NULL, 0, 0, 8);
	udp(&f, 53, PORT_B4, 0);
	pkt_put16(f.b + ip + 2, 0xffff);
	expect(&f, XDP_DROP, "dropped_malformed", 0);

	/* IPv6 payload length 0 (a jumbogram would need hop-by-hop): malformed TCP. */
	eth(&f, L2, NULL, 0x86dd);
	ip6(&f, PEER6, SW_POOL6, IPPROTO_TCP, 0);
	tcp(&f, 443, PORT_B4, 0);
	expect(&f, XDP_DROP, "dropped_malformed", 0);

	/* IPv6 "no next header": valid, nothing to steer by. */
	eth(&f, L2, NULL, 0x86dd);
	ip6(&f, PEER6, SW_POOL6, 59, 0);
	expect(&f, XDP_PASS, "passed_other", 0);

	/* 802.3 length instead of an ethertype: not IP. */
	eth(&f, L2, NULL, 0x0040);
	ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, NULL, 0, 0, 8);
	udp(&f, 53, PORT_B4, 0);
	expect(&f, XDP_PASS, "passed_not_pool", 0);

	/* The largest frame the world runs, forwarded only if it fits. */
	eth(&f, L2, NULL, 0x0800);
	ip4(&f, PEER4, SW_POOL4, IPPROTO_UDP, NULL, 0, 0, 8 + 1473);
	udp(&f, 53, PORT_B4, 1473);
	expect(&f, XDP_DROP, "dropped_too_big", 0);
}

static int setup(void **state)
{
	return steer_world_init();
}

static int teardown(void **state)
{
	steer_world_fini();
	return 0;
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spoofed_pool_source),
		cmocka_unit_test(test_icmp_quotes),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_ip_options),
		cmocka_unit_test(test_vlan_stacking),
		cmocka_unit_test(test_tunnels),
		cmocka_unit_test(test_lying_lengths),
	};

	return cmocka_run_group_tests_name("steer attacks", tests, setup, teardown);
}
