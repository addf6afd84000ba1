// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The steering world and its reference (steer_world.h). The reference is
 * written here from the contract in the comments of bpf/steer.bpf.c,
 * bpf/lib/parse.h and include/steer.h, with no code shared with the BPF
 * side.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "netns.h"
#include "pkt.h"
#include "steer_env.h"
#include "steer_world.h"

#define SW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SW_OUT_MAX 4096
#define SW_MTU 1500

/* ---- the world ------------------------------------------------------- */

#define SW_SLOT_POOL4 3
#define SW_SLOT_POOL4B 4
#define SW_SLOT_POOL6 5
#define SW_SELF_UNDERLAY4 "10.98.0.1"
#define SW_SELF_UNDERLAY6 "fd00:98::1"

static const struct netns_veth sw_dev[] = {
	{ "psf-a", "psf-a-peer", { 2, 0, 0, 0, 0x1a, 1 }, "10.98.0.1/24", "fd00:98::1/64" },
	{ "psf-b", "psf-b-peer", { 2, 0, 0, 0, 0x1b, 1 }, "10.98.1.1/24", "fd00:98:1::1/64" },
};
static int sw_ifindex[2];

const uint8_t *const sw_ingress_mac = sw_dev[SW_DEV_A].mac;

struct sw_host {
	uint32_t id;
	bool valid;
	int af;
	const char *addr;
	enum sw_dev dev;
	bool neigh;
	uint8_t mac[6];
	uint16_t lo, hi; /* ports it owns in every pool */
};

static const struct sw_host sw_hosts[] = {
	{ SW_H_SELF, true, AF_INET, SW_SELF_UNDERLAY4, SW_DEV_A, false, { 0 }, 20000, 20099 },
	{ SW_H_B4, true, AF_INET, "10.98.1.2", SW_DEV_B, true, { 2, 0, 0, 0, 0x1b, 2 }, 21000, 21099 },
	{ SW_H_A6, true, AF_INET6, "fd00:98::3", SW_DEV_A, true, { 2, 0, 0, 0, 0x1a, 3 }, 21100, 21199 },
	{ SW_H_INVALID, false, AF_INET, "10.98.1.4", SW_DEV_B, true, { 2, 0, 0, 0, 0x1b, 4 }, 21200, 21209 },
	{ SW_H_NONEIGH, true, AF_INET, "10.98.1.5", SW_DEV_B, false, { 0 }, 21210, 21219 },
	{ SW_H_A4, true, AF_INET, "10.98.0.6", SW_DEV_A, true, { 2, 0, 0, 0, 0x1a, 6 }, 21220, 21229 },
	{ SW_H_B6, true, AF_INET6, "fd00:98:1::7", SW_DEV_B, true, { 2, 0, 0, 0, 0x1b, 7 }, 21230, 21239 },
	{ SW_H_BIG, false, AF_INET, "10.98.1.8", SW_DEV_B, false, { 0 }, 21240, 21249 },
};

static const struct { int af; const char *addr; uint32_t slot; } sw_pools[] = {
	{ AF_INET, SW_POOL4, SW_SLOT_POOL4 },
	{ AF_INET, SW_POOL4B, SW_SLOT_POOL4B },
	{ AF_INET6, SW_POOL6, SW_SLOT_POOL6 },
};

static struct ps_steer *sw_skel[2]; /* [0] l2, [1] encap */
static uint8_t sw_self4[4], sw_self6[16];

static const struct sw_host *sw_host_by_id(uint32_t id)
{
	for (size_t i = 0; i < SW_ARRAY_SIZE(sw_hosts); i++)
		if (sw_hosts[i].id == id)
			return &sw_hosts[i];
	return NULL;
}

/* Reference owner table: the same one the maps get. */
static uint32_t sw_owner(uint16_t port)
{
	for (size_t i = 0; i < SW_ARRAY_SIZE(sw_hosts); i++)
		if (port >= sw_hosts[i].lo && port <= sw_hosts[i].hi)
			return sw_hosts[i].id;
	return PS_STEER_NO_HOST;
}

/* The slot of a pool address, or -1. */
static int sw_pool_slot(int af, const uint8_t *addr)
{
	uint8_t a[16];

	for (size_t i = 0; i < SW_ARRAY_SIZE(sw_pools); i++) {
		if (sw_pools[i].af != af)
			continue;
		inet_pton(af, sw_pools[i].addr, a);
		if (!memcmp(a, addr, af == AF_INET ? 4 : 16))
			return (int)sw_pools[i].slot;
	}
	return -1;
}

/*
 * psf-a (the ingress) and psf-b with their veth peers and addresses,
 * forwarding on, a permanent neighbour entry for every host that has one.
 */
static int sw_make_network(void)
{
	if (netns_setup(sw_dev, SW_ARRAY_SIZE(sw_dev), sw_ifindex))
		return -1;
	for (size_t i = 0; i < SW_ARRAY_SIZE(sw_hosts); i++) {
		const struct sw_host *h = &sw_hosts[i];

		if (h->neigh && netns_add_neigh(h->af, h->addr, h->mac, sw_dev[h->dev].name))
			return -1;
	}
	return 0;
}

static int sw_fill(struct ps_steer *skel)
{
	for (size_t i = 0; i < SW_ARRAY_SIZE(sw_pools); i++) {
		__u32 slot = sw_pools[i].slot;

		if (steer_env_add_pool(skel, sw_pools[i].af, sw_pools[i].addr, slot))
			return -1;
		for (size_t h = 0; h < SW_ARRAY_SIZE(sw_hosts); h++)
			for (uint32_t p = sw_hosts[h].lo; p <= sw_hosts[h].hi; p++)
				if (steer_env_set_owner(skel, slot, (uint16_t)p, sw_hosts[h].id))
					return -1;
	}
	for (size_t i = 0; i < SW_ARRAY_SIZE(sw_hosts); i++) {
		const struct sw_host *h = &sw_hosts[i];

		if (h->valid && steer_env_set_host(skel, h->id, h->af, h->addr, 0))
			return -1;
	}
	/*
	 * As the loader fills them: both devices' MACs are this host's, and the
	 * MAC of every host with a neighbour entry is a fleet host's (the
	 * program would learn them as it forwards; known from the start, the
	 * reference does not depend on the order of the inputs).
	 */
	for (int d = SW_DEV_A; d <= SW_DEV_B; d++)
		if (steer_env_set_mac(bpf_map__fd(skel->maps.ps_steer_local_macs), sw_dev[d].mac,
				      (__u32)sw_ifindex[d]))
			return -1;
	for (size_t i = 0; i < SW_ARRAY_SIZE(sw_hosts); i++)
		if (sw_hosts[i].neigh &&
		    steer_env_set_mac(bpf_map__fd(skel->maps.ps_steer_peer_macs), sw_hosts[i].mac,
				      sw_hosts[i].id))
			return -1;
	return 0;
}

/* Is @mac one of this host's (ps_steer_local_macs)? */
static bool sw_local_mac(const uint8_t *mac)
{
	return !memcmp(mac, sw_dev[SW_DEV_A].mac, 6) || !memcmp(mac, sw_dev[SW_DEV_B].mac, 6);
}

/* Is @mac a fleet host's (ps_steer_peer_macs)? */
static bool sw_peer_mac(const uint8_t *mac)
{
	for (size_t i = 0; i < SW_ARRAY_SIZE(sw_hosts); i++)
		if (sw_hosts[i].neigh && !memcmp(mac, sw_hosts[i].mac, 6))
			return true;
	return false;
}

void steer_world_fini(void)
{
	for (int m = 0; m < 2; m++) {
		ps_steer__destroy(sw_skel[m]);
		sw_skel[m] = NULL;
	}
	netns_leave();
}

int steer_world_init(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "%s: run as root (XDP test runs, a network namespace)\n",
			program_invocation_short_name);
		return -1;
	}
	inet_pton(AF_INET, SW_SELF_UNDERLAY4, sw_self4);
	inet_pton(AF_INET6, SW_SELF_UNDERLAY6, sw_self6);
	if (sw_make_network())
		goto fail;
	for (int m = 0; m < 2; m++) {
		sw_skel[m] = steer_env_load(SW_H_SELF, m ? PS_STEER_ENCAP : PS_STEER_L2,
					    SW_SELF_UNDERLAY4, SW_SELF_UNDERLAY6);
		if (!sw_skel[m] || sw_fill(sw_skel[m])) {
			fprintf(stderr, "%s: cannot load/fill the %s program\n",
				program_invocation_short_name, m ? "encap" : "l2");
			goto fail;
		}
	}
	return 0;
fail:
	steer_world_fini();
	return -1;
}

/* ---- the reference --------------------------------------------------- */

struct sw_ref {
	enum sw_class cls;
	bool steered;    /* IP-in-IP to this host: key and l3 are the inner packet's */
	int af;
	size_t l3, l3_end;
	uint8_t tos;
	uint8_t key_addr[16];
	uint16_t key_port;
};

static bool sw_ipv6_ext(uint8_t nh)
{
	static const uint8_t ext[] = { 0, 43, 44, 51, 60, 135, 139, 140, 253, 254 };

	for (size_t i = 0; i < sizeof(ext); i++)
		if (ext[i] == nh)
			return true;
	return false;
}

/*
 * What the contract says about frame f of n bytes: is it for a pool
 * address, is it well-formed, and which (pool address, port) steers it.
 */
static void sw_reference_l3(const uint8_t *f, size_t n, size_t off, struct sw_ref *r);

/* Is the IP packet at @off of family @af readable up to its destination, and for a pool address? */
static bool sw_pool_dst(const uint8_t *f, size_t n, size_t off, int af)
{
	if (af == AF_INET)
		return off + 20 <= n && sw_pool_slot(AF_INET, f + off + 16) >= 0;
	return off + 40 <= n && sw_pool_slot(AF_INET6, f + off + 24) >= 0;
}

/*
 * IP-in-IP to this host's underlay address (an IPv4 outer header without
 * options, not a fragment), around a packet for a pool address: *off and
 * *af become the inner packet's.
 */
static bool sw_encapsulated(const uint8_t *f, size_t n, size_t *off, int *af)
{
	const uint8_t *ip = f + *off;
	uint8_t proto;
	size_t outer;

	if (*af == AF_INET) {
		if (*off + 20 > n || memcmp(ip + 16, sw_self4, 4) || (ip[0] & 0x0f) != 5 ||
		    (pkt_get16(ip + 6) & 0x3fff))
			return false;
		proto = ip[9], outer = 20;
	} else {
		if (*off + 40 > n || memcmp(ip + 24, sw_self6, 16))
			return false;
		proto = ip[6], outer = 40;
	}
	if (proto != 4 && proto != 41)
		return false;
	if (!sw_pool_dst(f, n, *off + outer, proto == 4 ? AF_INET : AF_INET6))
		return false;
	*off += outer;
	*af = proto == 4 ? AF_INET : AF_INET6;
	return true;
}

static void sw_reference(const uint8_t *f, size_t n, struct sw_ref *r)
{
	size_t off = 12;
	uint16_t type;
	int tags = 0;

	memset(r, 0, sizeof(*r));
	r->cls = SW_NOT_POOL;
	/* Ethernet, then up to two 802.1Q / 802.1ad tags. */
	type = pkt_get16(f + off);
	off += 2;
	while (type == 0x8100 || type == 0x88a8) {
		if (tags == 2)
			return; /* a third tag: not IP as far as anyone can tell */
		if (off + 4 > n)
			return;
		type = pkt_get16(f + off + 2);
		off += 4;
		tags++;
	}
	if (type == 0x0800)
		r->af = AF_INET;
	else if (type == 0x86dd)
		r->af = AF_INET6;
	else
		return;
	if (sw_pool_dst(f, n, off, r->af))
		sw_reference_l3(f, n, off, r);
	else if (sw_encapsulated(f, n, &off, &r->af))
		r->steered = true, sw_reference_l3(f, n, off, r);
}

/* The IP packet at @off of family r->af, for a pool address: its class and key. */
static void sw_reference_l3(const uint8_t *f, size_t n, size_t off, struct sw_ref *r)
{
	size_t l4, q, room, hl;
	bool mf = false;
	uint8_t proto;

	r->l3 = off;
	/* For a pool address: from here on malformed means dropped. */
	r->cls = SW_MALFORMED;
	if (r->af == AF_INET) {
		const uint8_t *ip = f + off;
		size_t tot = pkt_get16(ip + 2);
		uint16_t frag = pkt_get16(ip + 6);

		hl = (size_t)(ip[0] & 0x0f) * 4;
		if (ip[0] >> 4 != 4 || hl < 20 || tot < hl || off + tot > n)
			return;
		if (frag & 0x1fff) {
			r->cls = SW_FRAGMENT;
			return;
		}
		mf = frag & 0x2000;
		r->l3_end = off + tot;
		l4 = off + hl;
		proto = ip[9];
		r->tos = ip[1];
	} else {
		const uint8_t *ip = f + off;
		size_t tot = 40 + (size_t)pkt_get16(ip + 4);

		if (ip[0] >> 4 != 6 || off + tot > n)
			return;
		if (sw_ipv6_ext(ip[6])) {
			r->cls = SW_UNSUPPORTED;
			return;
		}
		r->l3_end = off + tot;
		l4 = off + 40;
		proto = ip[6];
		r->tos = (uint8_t)((ip[0] & 0x0f) << 4 | ip[1] >> 4);
	}
	room = r->l3_end - l4;

	if (proto == 6 || proto == 17) {
		if (proto == 6) {
			size_t doff;

			if (room < 20)
				return;
			doff = (size_t)(f[l4 + 12] >> 4) * 4;
			if (doff < 20 || (!mf && doff > room))
				return;
		} else {
			size_t ulen;

			if (room < 8)
				return;
			ulen = pkt_get16(f + l4 + 4);
			if (ulen < 8 || (!mf && ulen > room))
				return;
		}
		memcpy(r->key_addr, f + off + (r->af == AF_INET ? 16 : 24), r->af == AF_INET ? 4 : 16);
		r->key_port = pkt_get16(f + l4 + 2);
		r->cls = SW_STEER;
		return;
	}
	if (!((proto == 1 && r->af == AF_INET) || (proto == 58 && r->af == AF_INET6))) {
		r->cls = SW_OTHER;
		return;
	}
	/* ICMP errors about a flow: steered by the packet they quote. */
	if (room < 8)
		return;
	if (r->af == AF_INET) {
		uint8_t t = f[l4];
		const uint8_t *qip;

		if (t != 3 && t != 11 && t != 12) {
			r->cls = SW_OTHER;
			return;
		}
		q = l4 + 8;
		if (q + 20 > r->l3_end)
			return;
		qip = f + q;
		hl = (size_t)(qip[0] & 0x0f) * 4;
		if (qip[0] >> 4 != 4 || hl < 20)
			return;
		if (pkt_get16(qip + 6) & 0x1fff) {
			r->cls = SW_FRAGMENT;
			return;
		}
		if (qip[9] != 6 && qip[9] != 17) {
			r->cls = SW_OTHER;
			return;
		}
		if (q + hl + 4 > r->l3_end)
			return;
		memcpy(r->key_addr, qip + 12, 4);
		r->key_port = pkt_get16(f + q + hl);
	} else {
		uint8_t t = f[l4];
		const uint8_t *qip;

		if (t < 1 || t > 4) {
			r->cls = SW_OTHER;
			return;
		}
		q = l4 + 8;
		if (q + 40 > r->l3_end)
			return;
		qip = f + q;
		if (qip[0] >> 4 != 6)
			return;
		if (sw_ipv6_ext(qip[6])) {
			r->cls = SW_UNSUPPORTED;
			return;
		}
		if (qip[6] != 6 && qip[6] != 17) {
			r->cls = SW_OTHER;
			return;
		}
		if (q + 40 + 4 > r->l3_end)
			return;
		memcpy(r->key_addr, qip + 8, 16);
		r->key_port = pkt_get16(f + q + 40);
	}
	r->cls = SW_STEER;
}

/* ---- running and checking ---------------------------------------------- */

#define SW_C(field) (offsetof(struct ps_steer_stats, field) / sizeof(__u64))

static struct sw_result sw_last;

const struct sw_result *steer_world_last(void)
{
	return &sw_last;
}

static const char *sw_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *sw_fail(const char *fmt, ...)
{
	va_list ap;
	static const char *const cls[] = { "not-pool", "malformed", "fragment", "unsupported",
					   "other", "steer" };
	int n = snprintf(sw_last.msg, sizeof(sw_last.msg), "[reference: %s, verdict %s] ",
			 cls[sw_last.cls], steer_verdict_name(sw_last.verdict));

	va_start(ap, fmt);
	vsnprintf(sw_last.msg + n, sizeof(sw_last.msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return sw_last.msg;
}

/* A forwarded frame: the right host, the L3 packet (and padding) unchanged. */
static const char *sw_check_forward(bool encap, const uint8_t *in, size_t n, const struct sw_ref *r,
				    const struct sw_host *h, const uint8_t *out, size_t out_len)
{
	size_t outer = encap ? (h->af == AF_INET ? 20 : 40) : 0, inner = r->l3_end - r->l3;
	uint16_t etype = encap ? (h->af == AF_INET ? 0x0800 : 0x86dd) :
				 (r->af == AF_INET ? 0x0800 : 0x86dd);
	uint8_t a[16];

	if (out_len != 14 + outer + (n - r->l3))
		return sw_fail("forwarded frame is %zu bytes, expected %zu", out_len,
			       14 + outer + (n - r->l3));
	if (memcmp(out, h->mac, 6) || memcmp(out + 6, sw_dev[h->dev].mac, 6) ||
	    pkt_get16(out + 12) != etype)
		return sw_fail("forwarded frame's Ethernet header is not addressed to host %u", h->id);
	if (memcmp(out + 14 + outer, in + r->l3, n - r->l3))
		return sw_fail("the L3 packet was changed on its way to host %u", h->id);
	if (!encap)
		return NULL;
	inet_pton(h->af, h->addr, a);
	if (h->af == AF_INET) {
		const uint8_t *ip = out + 14;

		if (ip[0] != 0x45 || ip[1] != r->tos || pkt_get16(ip + 2) != 20 + inner ||
		    pkt_get16(ip + 6) != 0x4000 || ip[9] != (r->af == AF_INET ? 4 : 41) ||
		    memcmp(ip + 12, sw_self4, 4) || memcmp(ip + 16, a, 4) ||
		    pkt_fold(pkt_sum16(ip, 20, 0)))
			return sw_fail("bad outer IPv4 header to host %u", h->id);
	} else {
		const uint8_t *ip = out + 14;

		if (ip[0] >> 4 != 6 || (uint8_t)((ip[0] & 0x0f) << 4 | ip[1] >> 4) != r->tos ||
		    pkt_get16(ip + 4) != inner || ip[6] != (r->af == AF_INET ? 4 : 41) ||
		    memcmp(ip + 8, sw_self6, 16) || memcmp(ip + 24, a, 16))
			return sw_fail("bad outer IPv6 header to host %u", h->id);
	}
	return NULL;
}

/*
 * Run one input (byte 0: mode, then the frame). Returns NULL when the
 * program did what the contract says, else a description of the breach.
 */
const char *steer_world_check(const uint8_t *data, size_t size)
{
	static uint8_t out[SW_OUT_MAX];
	size_t out_len = sizeof(out);
	__u64 before[STEER_N_STATS], after[STEER_N_STATS];
	const uint8_t *f;
	bool encap;
	size_t n, want_counter, moved = STEER_N_STATS;
	uint32_t want_verdict, owner = 0;
	const struct sw_host *host = NULL;
	struct ps_steer *skel;
	struct sw_ref r;
	int err;

	memset(&sw_last, 0, sizeof(sw_last));
	if (size < 1)
		return NULL;
	encap = data[0] & 1;
	f = data + 1;
	n = size - 1 > SW_FRAME_MAX ? SW_FRAME_MAX : size - 1;
	skel = sw_skel[encap];

	if (steer_env_read_stats(skel, before))
		return sw_fail("cannot read ps_steer_stats");
	err = steer_env_run(skel, sw_ifindex[SW_DEV_A], f, n, out, &out_len, &sw_last.verdict);
	sw_last.err = err;
	if (steer_env_read_stats(skel, after))
		return sw_fail("cannot read ps_steer_stats");
	for (size_t i = 0; i < STEER_N_STATS; i++) {
		if (after[i] == before[i])
			continue;
		if (after[i] != before[i] + 1 || moved != STEER_N_STATS)
			return sw_fail("counters: %s moved by %llu%s", steer_stat_names[i],
				       (unsigned long long)(after[i] - before[i]),
				       moved != STEER_N_STATS ? " (and another one too)" : "");
		moved = i;
	}
	sw_last.counter = moved;

	if (n < 14) {
		/* The kernel never runs XDP on less than an Ethernet header. */
		if (err != -EINVAL || moved != STEER_N_STATS)
			return sw_fail("%zu bytes: expected the test run to be refused, got %d", n, err);
		return NULL;
	}
	if (err)
		return sw_fail("test run failed: %d", err);

	sw_reference(f, n, &r);
	sw_last.cls = r.cls;
	switch (r.cls) {
	case SW_NOT_POOL:
		want_verdict = XDP_PASS, want_counter = SW_C(passed_not_pool);
		break;
	case SW_OTHER:
		want_verdict = XDP_PASS, want_counter = SW_C(passed_other);
		break;
	case SW_MALFORMED:
		want_verdict = XDP_DROP, want_counter = SW_C(dropped_malformed);
		break;
	case SW_FRAGMENT:
		want_verdict = XDP_DROP, want_counter = SW_C(dropped_fragment);
		break;
	case SW_UNSUPPORTED:
		want_verdict = XDP_DROP, want_counter = SW_C(dropped_unsupported);
		break;
	case SW_STEER:
	default: {
		int slot = sw_pool_slot(r.af, r.key_addr);
		size_t len, outer;

		if (slot < 0) { /* an ICMP error quoting a flow of another address */
			want_verdict = XDP_PASS, want_counter = SW_C(passed_other);
			break;
		}
		owner = sw_owner(r.key_port);
		host = sw_host_by_id(owner);
		if (owner == PS_STEER_NO_HOST) {
			want_verdict = XDP_DROP, want_counter = SW_C(dropped_no_owner);
			break;
		}
		if (owner == SW_H_SELF) {
			want_verdict = XDP_PASS, want_counter = SW_C(passed_own);
			break;
		}
		/* A packet is steered at most once. */
		if (r.steered) {
			want_verdict = XDP_DROP, want_counter = SW_C(dropped_steered_twice);
			break;
		}
		if (!sw_local_mac(f)) {
			want_verdict = XDP_DROP, want_counter = SW_C(dropped_not_for_us);
			break;
		}
		if (sw_peer_mac(f + 6)) {
			want_verdict = XDP_DROP, want_counter = SW_C(dropped_steered_twice);
			break;
		}
		if (!host || !host->valid) {
			want_verdict = XDP_DROP, want_counter = SW_C(dropped_no_host);
			break;
		}
		outer = encap ? (host->af == AF_INET ? 20 : 40) : 0;
		len = r.l3_end - r.l3 + outer;
		if (!host->neigh) {
			want_verdict = XDP_DROP, want_counter = SW_C(dropped_no_neigh);
			break;
		}
		if (len > SW_MTU) {
			want_verdict = XDP_DROP, want_counter = SW_C(dropped_too_big);
			break;
		}
		want_verdict = host->dev == SW_DEV_A ? XDP_TX : XDP_REDIRECT;
		want_counter = SW_C(forwarded);
		sw_last.to = owner;
		break;
	}
	}

	/* The safety property first: forwarded only when the reference says so. */
	if ((sw_last.verdict == XDP_TX || sw_last.verdict == XDP_REDIRECT) &&
	    want_verdict != XDP_TX && want_verdict != XDP_REDIRECT)
		return sw_fail("FORWARDED a frame the reference does not forward (expected %s, %s)",
			       steer_verdict_name(want_verdict), steer_stat_names[want_counter]);
	if (sw_last.verdict != want_verdict)
		return sw_fail("expected %s (%s)", steer_verdict_name(want_verdict),
			       steer_stat_names[want_counter]);
	if (moved != want_counter)
		return sw_fail("counter: expected %s, got %s", steer_stat_names[want_counter],
			       moved < STEER_N_STATS ? steer_stat_names[moved] : "none");
	if (sw_last.verdict == XDP_PASS &&
	    (out_len != n || memcmp(out, f, n)))
		return sw_fail("a passed frame was changed");
	if (sw_last.verdict == XDP_TX || sw_last.verdict == XDP_REDIRECT)
		return sw_check_forward(encap, f, n, &r, host, out, out_len);
	return NULL;
}
