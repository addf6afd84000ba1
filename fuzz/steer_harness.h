/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Harness around the XDP steering program (bpf/steer.bpf.c) shared by the
 * libFuzzer target fuzz/fuzz_steer.c and the cmocka tests that replay its
 * corpus and try crafted attack packets (tests/unit/test_fuzz_replay.c,
 * tests/unit/test_steer_attacks.c).
 *
 * The world: a network namespace of this process's own (unshare), two veth
 * pairs with fixed MACs (ps-a, the ingress device; ps-b), permanent
 * neighbour entries for the hosts' underlay addresses, and the program
 * loaded ONCE per mode (l2, encap) with every map unpinned, so nothing
 * outlives the process.
 *
 * steer_check() runs one frame through the program with
 * bpf_prog_test_run_opts() and compares the verdict, the counter that
 * moved and the output bytes with an independent reference written here
 * from the contract in the comments of bpf/steer.bpf.c, bpf/lib/parse.h
 * and include/steer.h (no code shared with the BPF side). The safety
 * property it enforces above all: a frame is forwarded (XDP_TX or
 * XDP_REDIRECT) only if it is well-formed, for a pool port owned by
 * another host, and then only to that host, with its L3 packet unchanged.
 *
 * Input of steer_check(): byte 0 selects the mode (bit 0: encap), the
 * rest is the Ethernet frame as it arrives on ps-a.
 */
#ifndef PS_FUZZ_STEER_HARNESS_H
#define PS_FUZZ_STEER_HARNESS_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steer.h"
#include "steer.skel.h"

#define SH_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SH_FRAME_MAX 1600   /* inputs are cut here: one page holds the frame */
#define SH_OUT_MAX 4096
#define SH_MTU 1500

/* ---- the world ------------------------------------------------------- */

#define SH_POOL4 "198.18.0.10"
#define SH_POOL4B "198.18.0.11"
#define SH_POOL6 "2001:db8::10"
#define SH_SLOT_POOL4 3
#define SH_SLOT_POOL4B 4
#define SH_SLOT_POOL6 5
#define SH_SELF_UNDERLAY4 "10.98.0.1"
#define SH_SELF_UNDERLAY6 "fd00:98::1"

enum sh_dev { SH_DEV_A, SH_DEV_B };

static const char *const sh_dev_name[] = { "psf-a", "psf-b" };
static const char *const sh_peer_name[] = { "psf-a-peer", "psf-b-peer" };
static const uint8_t sh_dev_mac[][6] = { { 2, 0, 0, 0, 0x1a, 1 }, { 2, 0, 0, 0, 0x1b, 1 } };
static int sh_ifindex[2];

/* Host ids: who owns which ports of every pool. */
enum {
	SH_H_SELF = 1,
	SH_H_B4 = 2,      /* IPv4 underlay behind psf-b: XDP_REDIRECT */
	SH_H_A6 = 3,      /* IPv6 underlay behind psf-a, the ingress: XDP_TX */
	SH_H_INVALID = 4, /* no valid ps_steer_hosts entry */
	SH_H_NONEIGH = 5, /* routed, no neighbour entry */
	SH_H_A4 = 6,      /* IPv4 underlay behind psf-a: XDP_TX */
	SH_H_B6 = 7,      /* IPv6 underlay behind psf-b */
	SH_H_BIG = 300,   /* past PS_MAX_HOSTS */
};

struct sh_host {
	uint32_t id;
	bool valid;
	int af;
	const char *addr;
	enum sh_dev dev;
	bool neigh;
	uint8_t mac[6];
	uint16_t lo, hi; /* ports it owns in every pool */
};

static const struct sh_host sh_hosts[] = {
	{ SH_H_SELF, true, AF_INET, SH_SELF_UNDERLAY4, SH_DEV_A, false, { 0 }, 20000, 20099 },
	{ SH_H_B4, true, AF_INET, "10.98.1.2", SH_DEV_B, true, { 2, 0, 0, 0, 0x1b, 2 }, 21000, 21099 },
	{ SH_H_A6, true, AF_INET6, "fd00:98::3", SH_DEV_A, true, { 2, 0, 0, 0, 0x1a, 3 }, 21100, 21199 },
	{ SH_H_INVALID, false, AF_INET, "10.98.1.4", SH_DEV_B, true, { 2, 0, 0, 0, 0x1b, 4 }, 21200, 21209 },
	{ SH_H_NONEIGH, true, AF_INET, "10.98.1.5", SH_DEV_B, false, { 0 }, 21210, 21219 },
	{ SH_H_A4, true, AF_INET, "10.98.0.6", SH_DEV_A, true, { 2, 0, 0, 0, 0x1a, 6 }, 21220, 21229 },
	{ SH_H_B6, true, AF_INET6, "fd00:98:1::7", SH_DEV_B, true, { 2, 0, 0, 0, 0x1b, 7 }, 21230, 21239 },
	{ SH_H_BIG, false, AF_INET, "10.98.1.8", SH_DEV_B, false, { 0 }, 21240, 21249 },
};

static const struct { int af; const char *addr; uint32_t slot; } sh_pools[] = {
	{ AF_INET, SH_POOL4, SH_SLOT_POOL4 },
	{ AF_INET, SH_POOL4B, SH_SLOT_POOL4B },
	{ AF_INET6, SH_POOL6, SH_SLOT_POOL6 },
};

static struct ps_steer *sh_skel[2]; /* [0] l2, [1] encap */
static int sh_orig_netns = -1;
static uint8_t sh_self4[4], sh_self6[16];

static const struct sh_host *sh_host_by_id(uint32_t id)
{
	for (size_t i = 0; i < SH_ARRAY_SIZE(sh_hosts); i++)
		if (sh_hosts[i].id == id)
			return &sh_hosts[i];
	return NULL;
}

/* Reference owner table: the same one the maps get. */
static uint32_t sh_owner(uint16_t port)
{
	for (size_t i = 0; i < SH_ARRAY_SIZE(sh_hosts); i++)
		if (port >= sh_hosts[i].lo && port <= sh_hosts[i].hi)
			return sh_hosts[i].id;
	return PS_STEER_NO_HOST;
}

/* The slot of a pool address, or -1. */
static int sh_pool_slot(int af, const uint8_t *addr)
{
	uint8_t a[16];

	for (size_t i = 0; i < SH_ARRAY_SIZE(sh_pools); i++) {
		if (sh_pools[i].af != af)
			continue;
		inet_pton(af, sh_pools[i].addr, a);
		if (!memcmp(a, addr, af == AF_INET ? 4 : 16))
			return (int)sh_pools[i].slot;
	}
	return -1;
}

static int sh_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh_sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "steer harness: command failed (%d): %s\n", rc, cmd);
	return rc;
}

static int sh_write_file(const char *path, const char *value)
{
	FILE *f = fopen(path, "w");
	int rc;

	if (!f)
		return -1;
	rc = fputs(value, f) < 0;
	rc |= fclose(f) != 0;
	return rc ? -1 : 0;
}

static char *sh_mac_text(const uint8_t *m, char *buf)
{
	sprintf(buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return buf;
}

static int sh_make_network(void)
{
	static const char *const v4[] = { "10.98.0.1/24", "10.98.1.1/24" };
	static const char *const v6[] = { "fd00:98::1/64", "fd00:98:1::1/64" };
	char mac[18];

	sh_orig_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (sh_orig_netns < 0 || unshare(CLONE_NEWNET)) {
		fprintf(stderr, "steer harness: cannot make a network namespace: %s\n", strerror(errno));
		return -1;
	}
	for (int d = SH_DEV_A; d <= SH_DEV_B; d++) {
		if (sh_sh("ip link add %s type veth peer name %s", sh_dev_name[d], sh_peer_name[d]) ||
		    sh_sh("ip link set dev %s address %s", sh_dev_name[d], sh_mac_text(sh_dev_mac[d], mac)) ||
		    sh_sh("ip link set dev %s up && ip link set dev %s up", sh_dev_name[d], sh_peer_name[d]) ||
		    sh_sh("ip addr add %s dev %s", v4[d], sh_dev_name[d]) ||
		    sh_sh("ip -6 addr add %s dev %s nodad", v6[d], sh_dev_name[d]))
			return -1;
		sh_ifindex[d] = (int)if_nametoindex(sh_dev_name[d]);
		if (!sh_ifindex[d])
			return -1;
	}
	for (size_t i = 0; i < SH_ARRAY_SIZE(sh_hosts); i++) {
		const struct sh_host *h = &sh_hosts[i];

		if (h->neigh && sh_sh("ip %s neigh add %s lladdr %s dev %s nud permanent",
				      h->af == AF_INET ? "-4" : "-6", h->addr, sh_mac_text(h->mac, mac),
				      sh_dev_name[h->dev]))
			return -1;
	}
	if (sh_write_file("/proc/sys/net/ipv4/ip_forward", "1") ||
	    sh_write_file("/proc/sys/net/ipv6/conf/all/forwarding", "1"))
		return -1;
	return 0;
}

static struct ps_steer *sh_load(bool encap)
{
	struct ps_steer *skel = ps_steer__open();
	struct bpf_map *map;
	uint32_t a4;

	if (!skel)
		return NULL;
	/* Unpinned: the maps live and die with this process. */
	bpf_object__for_each_map(map, skel->obj)
		bpf_map__set_pin_path(map, NULL);
	skel->rodata->ps_self_host = SH_H_SELF;
	skel->rodata->ps_steer_mode = encap ? PS_STEER_ENCAP : PS_STEER_L2;
	memcpy(&a4, sh_self4, 4);
	skel->rodata->ps_self_underlay4 = a4;
	memcpy((void *)skel->rodata->ps_self_underlay6, sh_self6, 16);
	if (ps_steer__load(skel)) {
		ps_steer__destroy(skel);
		return NULL;
	}
	return skel;
}

static int sh_fill(struct ps_steer *skel)
{
	for (size_t i = 0; i < SH_ARRAY_SIZE(sh_pools); i++) {
		struct ps_addr_key key = { .family = (__u32)sh_pools[i].af };
		__u32 slot = sh_pools[i].slot;

		inet_pton(sh_pools[i].af, sh_pools[i].addr, key.addr);
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.ps_steer_pools), &key, &slot, BPF_NOEXIST))
			return -1;
		for (size_t h = 0; h < SH_ARRAY_SIZE(sh_hosts); h++) {
			for (uint32_t p = sh_hosts[h].lo; p <= sh_hosts[h].hi; p++) {
				__u32 idx = PS_STEER_OWNER_INDEX(slot, p), owner = sh_hosts[h].id;

				if (bpf_map_update_elem(bpf_map__fd(skel->maps.ps_steer_owner), &idx,
							&owner, BPF_ANY))
					return -1;
			}
		}
	}
	for (size_t i = 0; i < SH_ARRAY_SIZE(sh_hosts); i++) {
		const struct sh_host *h = &sh_hosts[i];
		struct ps_steer_host v = { .flags = PS_STEER_HOST_VALID, .family = (__u32)h->af };
		__u32 key = h->id;

		if (!h->valid)
			continue;
		inet_pton(h->af, h->addr, v.addr);
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.ps_steer_hosts), &key, &v, BPF_ANY))
			return -1;
	}
	/*
	 * As the loader fills them: both devices' MACs are this host's, and the
	 * MAC of every host with a neighbour entry is a fleet host's (the
	 * program would learn them as it forwards; known from the start, the
	 * reference does not depend on the order of the inputs).
	 */
	for (int d = SH_DEV_A; d <= SH_DEV_B; d++) {
		struct ps_mac_key key = {};
		__u32 val = (__u32)sh_ifindex[d];

		memcpy(key.mac, sh_dev_mac[d], 6);
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.ps_steer_local_macs), &key, &val, BPF_ANY))
			return -1;
	}
	for (size_t i = 0; i < SH_ARRAY_SIZE(sh_hosts); i++) {
		struct ps_mac_key key = {};
		__u32 val = sh_hosts[i].id;

		if (!sh_hosts[i].neigh)
			continue;
		memcpy(key.mac, sh_hosts[i].mac, 6);
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.ps_steer_peer_macs), &key, &val, BPF_ANY))
			return -1;
	}
	return 0;
}

/* Is @mac one of this host's (ps_steer_local_macs)? */
static bool sh_local_mac(const uint8_t *mac)
{
	return !memcmp(mac, sh_dev_mac[SH_DEV_A], 6) || !memcmp(mac, sh_dev_mac[SH_DEV_B], 6);
}

/* Is @mac a fleet host's (ps_steer_peer_macs)? */
static bool sh_peer_mac(const uint8_t *mac)
{
	for (size_t i = 0; i < SH_ARRAY_SIZE(sh_hosts); i++)
		if (sh_hosts[i].neigh && !memcmp(mac, sh_hosts[i].mac, 6))
			return true;
	return false;
}

static void steer_world_fini(void)
{
	for (int m = 0; m < 2; m++) {
		ps_steer__destroy(sh_skel[m]);
		sh_skel[m] = NULL;
	}
	if (sh_orig_netns >= 0) {
		if (setns(sh_orig_netns, CLONE_NEWNET))
			fprintf(stderr, "steer harness: cannot return to the original namespace\n");
		close(sh_orig_netns);
		sh_orig_netns = -1;
	}
}

static int steer_world_init(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "steer harness: run as root (XDP test runs, a network namespace)\n");
		return -1;
	}
	inet_pton(AF_INET, SH_SELF_UNDERLAY4, sh_self4);
	inet_pton(AF_INET6, SH_SELF_UNDERLAY6, sh_self6);
	if (sh_make_network())
		goto fail;
	for (int m = 0; m < 2; m++) {
		sh_skel[m] = sh_load(m == 1);
		if (!sh_skel[m] || sh_fill(sh_skel[m])) {
			fprintf(stderr, "steer harness: cannot load/fill the %s program\n", m ? "encap" : "l2");
			goto fail;
		}
	}
	return 0;
fail:
	steer_world_fini();
	return -1;
}

/* ---- the reference --------------------------------------------------- */

enum sh_class {
	SH_NOT_POOL,    /* PASS, passed_not_pool */
	SH_MALFORMED,   /* DROP, dropped_malformed */
	SH_FRAGMENT,    /* DROP, dropped_fragment */
	SH_UNSUPPORTED, /* DROP, dropped_unsupported */
	SH_OTHER,       /* PASS, passed_other */
	SH_STEER,       /* well-formed, with a pool port: key below */
};

struct sh_ref {
	enum sh_class cls;
	bool steered;    /* IP-in-IP to this host: key and l3 are the inner packet's */
	int af;
	size_t l3, l3_end;
	uint8_t tos;
	uint8_t key_addr[16];
	uint16_t key_port;
};

static uint16_t sh_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static bool sh_ipv6_ext(uint8_t nh)
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
static void sh_reference_l3(const uint8_t *f, size_t n, size_t off, struct sh_ref *r);

/* Is the IP packet at @off of family @af readable up to its destination, and for a pool address? */
static bool sh_pool_dst(const uint8_t *f, size_t n, size_t off, int af)
{
	if (af == AF_INET)
		return off + 20 <= n && sh_pool_slot(AF_INET, f + off + 16) >= 0;
	return off + 40 <= n && sh_pool_slot(AF_INET6, f + off + 24) >= 0;
}

/*
 * IP-in-IP to this host's underlay address (an IPv4 outer header without
 * options, not a fragment), around a packet for a pool address: *off and
 * *af become the inner packet's.
 */
static bool sh_encapsulated(const uint8_t *f, size_t n, size_t *off, int *af)
{
	const uint8_t *ip = f + *off;
	uint8_t proto;
	size_t outer;

	if (*af == AF_INET) {
		if (*off + 20 > n || memcmp(ip + 16, sh_self4, 4) || (ip[0] & 0x0f) != 5 ||
		    (sh_get16(ip + 6) & 0x3fff))
			return false;
		proto = ip[9], outer = 20;
	} else {
		if (*off + 40 > n || memcmp(ip + 24, sh_self6, 16))
			return false;
		proto = ip[6], outer = 40;
	}
	if (proto != 4 && proto != 41)
		return false;
	if (!sh_pool_dst(f, n, *off + outer, proto == 4 ? AF_INET : AF_INET6))
		return false;
	*off += outer;
	*af = proto == 4 ? AF_INET : AF_INET6;
	return true;
}

static void sh_reference(const uint8_t *f, size_t n, struct sh_ref *r)
{
	size_t off = 12;
	uint16_t type;
	int tags = 0;

	memset(r, 0, sizeof(*r));
	r->cls = SH_NOT_POOL;
	/* Ethernet, then up to two 802.1Q / 802.1ad tags. */
	type = sh_get16(f + off);
	off += 2;
	while (type == 0x8100 || type == 0x88a8) {
		if (tags == 2)
			return; /* a third tag: not IP as far as anyone can tell */
		if (off + 4 > n)
			return;
		type = sh_get16(f + off + 2);
		off += 4;
		tags++;
	}
	if (type == 0x0800)
		r->af = AF_INET;
	else if (type == 0x86dd)
		r->af = AF_INET6;
	else
		return;
	if (sh_pool_dst(f, n, off, r->af))
		sh_reference_l3(f, n, off, r);
	else if (sh_encapsulated(f, n, &off, &r->af))
		r->steered = true, sh_reference_l3(f, n, off, r);
}

/* The IP packet at @off of family r->af, for a pool address: its class and key. */
static void sh_reference_l3(const uint8_t *f, size_t n, size_t off, struct sh_ref *r)
{
	size_t l4, q, room, hl;
	bool mf = false;
	uint8_t proto;

	r->l3 = off;
	/* For a pool address: from here on malformed means dropped. */
	r->cls = SH_MALFORMED;
	if (r->af == AF_INET) {
		const uint8_t *ip = f + off;
		size_t tot = sh_get16(ip + 2);
		uint16_t frag = sh_get16(ip + 6);

		hl = (size_t)(ip[0] & 0x0f) * 4;
		if (ip[0] >> 4 != 4 || hl < 20 || tot < hl || off + tot > n)
			return;
		if (frag & 0x1fff) {
			r->cls = SH_FRAGMENT;
			return;
		}
		mf = frag & 0x2000;
		r->l3_end = off + tot;
		l4 = off + hl;
		proto = ip[9];
		r->tos = ip[1];
	} else {
		const uint8_t *ip = f + off;
		size_t tot = 40 + (size_t)sh_get16(ip + 4);

		if (ip[0] >> 4 != 6 || off + tot > n)
			return;
		if (sh_ipv6_ext(ip[6])) {
			r->cls = SH_UNSUPPORTED;
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
			ulen = sh_get16(f + l4 + 4);
			if (ulen < 8 || (!mf && ulen > room))
				return;
		}
		memcpy(r->key_addr, f + off + (r->af == AF_INET ? 16 : 24), r->af == AF_INET ? 4 : 16);
		r->key_port = sh_get16(f + l4 + 2);
		r->cls = SH_STEER;
		return;
	}
	if (!((proto == 1 && r->af == AF_INET) || (proto == 58 && r->af == AF_INET6))) {
		r->cls = SH_OTHER;
		return;
	}
	/* ICMP errors about a flow: steered by the packet they quote. */
	if (room < 8)
		return;
	if (r->af == AF_INET) {
		uint8_t t = f[l4];
		const uint8_t *qip;

		if (t != 3 && t != 11 && t != 12) {
			r->cls = SH_OTHER;
			return;
		}
		q = l4 + 8;
		if (q + 20 > r->l3_end)
			return;
		qip = f + q;
		hl = (size_t)(qip[0] & 0x0f) * 4;
		if (qip[0] >> 4 != 4 || hl < 20)
			return;
		if (sh_get16(qip + 6) & 0x1fff) {
			r->cls = SH_FRAGMENT;
			return;
		}
		if (qip[9] != 6 && qip[9] != 17) {
			r->cls = SH_OTHER;
			return;
		}
		if (q + hl + 4 > r->l3_end)
			return;
		memcpy(r->key_addr, qip + 12, 4);
		r->key_port = sh_get16(f + q + hl);
	} else {
		uint8_t t = f[l4];
		const uint8_t *qip;

		if (t < 1 || t > 4) {
			r->cls = SH_OTHER;
			return;
		}
		q = l4 + 8;
		if (q + 40 > r->l3_end)
			return;
		qip = f + q;
		if (qip[0] >> 4 != 6)
			return;
		if (sh_ipv6_ext(qip[6])) {
			r->cls = SH_UNSUPPORTED;
			return;
		}
		if (qip[6] != 6 && qip[6] != 17) {
			r->cls = SH_OTHER;
			return;
		}
		if (q + 40 + 4 > r->l3_end)
			return;
		memcpy(r->key_addr, qip + 8, 16);
		r->key_port = sh_get16(f + q + 40);
	}
	r->cls = SH_STEER;
}

/* ---- running and checking ---------------------------------------------- */

#define SH_N_STATS (sizeof(struct ps_steer_stats) / sizeof(__u64))
#define SH_C(field) (offsetof(struct ps_steer_stats, field) / sizeof(__u64))

static const char *const sh_stat_names[SH_N_STATS] = { PS_STEER_STAT_NAMES };

static int sh_read_stats(struct ps_steer *skel, __u64 out[SH_N_STATS])
{
	static __u64 *vals;
	static int ncpu;
	__u32 key = 0;

	if (!vals) {
		ncpu = libbpf_num_possible_cpus();
		if (ncpu <= 0)
			return -1;
		vals = calloc((size_t)ncpu, sizeof(struct ps_steer_stats));
		if (!vals)
			return -1;
	}
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.ps_steer_stats), &key, vals))
		return -1;
	memset(out, 0, SH_N_STATS * sizeof(__u64));
	for (int c = 0; c < ncpu; c++)
		for (size_t f = 0; f < SH_N_STATS; f++)
			out[f] += vals[(size_t)c * SH_N_STATS + f];
	return 0;
}

static const char *sh_verdict_name(uint32_t v)
{
	static const char *const names[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX",
					     "XDP_REDIRECT" };

	return v < SH_ARRAY_SIZE(names) ? names[v] : "?";
}

static uint16_t sh_csum(const uint8_t *b, size_t n)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* What the last steer_check() saw, for messages and tests. */
struct sh_result {
	int err;
	uint32_t verdict;
	enum sh_class cls;
	size_t counter;  /* index of the stat that moved, SH_N_STATS if none */
	uint32_t to;     /* forwards: the owner the reference expects */
	char msg[512];
};

static struct sh_result sh_last;

static const char *sh_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *sh_fail(const char *fmt, ...)
{
	va_list ap;
	static const char *const cls[] = { "not-pool", "malformed", "fragment", "unsupported",
					   "other", "steer" };
	int n = snprintf(sh_last.msg, sizeof(sh_last.msg), "[reference: %s, verdict %s] ",
			 cls[sh_last.cls], sh_verdict_name(sh_last.verdict));

	va_start(ap, fmt);
	vsnprintf(sh_last.msg + n, sizeof(sh_last.msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return sh_last.msg;
}

/* A forwarded frame: the right host, the L3 packet (and padding) unchanged. */
static const char *sh_check_forward(bool encap, const uint8_t *in, size_t n, const struct sh_ref *r,
				    const struct sh_host *h, const uint8_t *out, size_t out_len)
{
	size_t outer = encap ? (h->af == AF_INET ? 20 : 40) : 0, inner = r->l3_end - r->l3;
	uint16_t etype = encap ? (h->af == AF_INET ? 0x0800 : 0x86dd) :
				 (r->af == AF_INET ? 0x0800 : 0x86dd);
	uint8_t a[16];

	if (out_len != 14 + outer + (n - r->l3))
		return sh_fail("forwarded frame is %zu bytes, expected %zu", out_len,
			       14 + outer + (n - r->l3));
	if (memcmp(out, h->mac, 6) || memcmp(out + 6, sh_dev_mac[h->dev], 6) ||
	    sh_get16(out + 12) != etype)
		return sh_fail("forwarded frame's Ethernet header is not addressed to host %u", h->id);
	if (memcmp(out + 14 + outer, in + r->l3, n - r->l3))
		return sh_fail("the L3 packet was changed on its way to host %u", h->id);
	if (!encap)
		return NULL;
	inet_pton(h->af, h->addr, a);
	if (h->af == AF_INET) {
		const uint8_t *ip = out + 14;

		if (ip[0] != 0x45 || ip[1] != r->tos || sh_get16(ip + 2) != 20 + inner ||
		    sh_get16(ip + 6) != 0x4000 || ip[9] != (r->af == AF_INET ? 4 : 41) ||
		    memcmp(ip + 12, sh_self4, 4) || memcmp(ip + 16, a, 4) ||
		    sh_csum(ip, 20) != 0xffff)
			return sh_fail("bad outer IPv4 header to host %u", h->id);
	} else {
		const uint8_t *ip = out + 14;

		if (ip[0] >> 4 != 6 || (uint8_t)((ip[0] & 0x0f) << 4 | ip[1] >> 4) != r->tos ||
		    sh_get16(ip + 4) != inner || ip[6] != (r->af == AF_INET ? 4 : 41) ||
		    memcmp(ip + 8, sh_self6, 16) || memcmp(ip + 24, a, 16))
			return sh_fail("bad outer IPv6 header to host %u", h->id);
	}
	return NULL;
}

/*
 * Run one input (byte 0: mode, then the frame). Returns NULL when the
 * program did what the contract says, else a description of the breach.
 */
static const char *steer_check(const uint8_t *data, size_t size)
{
	static uint8_t out[SH_OUT_MAX];
	__u64 before[SH_N_STATS], after[SH_N_STATS];
	const uint8_t *f;
	bool encap;
	size_t n, want_counter, moved = SH_N_STATS;
	uint32_t want_verdict, owner = 0;
	const struct sh_host *host = NULL;
	struct ps_steer *skel;
	struct sh_ref r;
	int err;

	memset(&sh_last, 0, sizeof(sh_last));
	if (size < 1)
		return NULL;
	encap = data[0] & 1;
	f = data + 1;
	n = size - 1 > SH_FRAME_MAX ? SH_FRAME_MAX : size - 1;
	skel = sh_skel[encap];

	struct xdp_md md = { .data_end = (__u32)n, .ingress_ifindex = (__u32)sh_ifindex[SH_DEV_A] };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = f,
		.data_size_in = (__u32)n,
		.data_out = out,
		.data_size_out = sizeof(out),
		.ctx_in = &md,
		.ctx_size_in = sizeof(md),
	);

	if (sh_read_stats(skel, before))
		return sh_fail("cannot read ps_steer_stats");
	err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.ps_steer), &opts);
	sh_last.err = err;
	sh_last.verdict = opts.retval;
	if (sh_read_stats(skel, after))
		return sh_fail("cannot read ps_steer_stats");
	for (size_t i = 0; i < SH_N_STATS; i++) {
		if (after[i] == before[i])
			continue;
		if (after[i] != before[i] + 1 || moved != SH_N_STATS)
			return sh_fail("counters: %s moved by %llu%s", sh_stat_names[i],
				       (unsigned long long)(after[i] - before[i]),
				       moved != SH_N_STATS ? " (and another one too)" : "");
		moved = i;
	}
	sh_last.counter = moved;

	if (n < 14) {
		/* The kernel never runs XDP on less than an Ethernet header. */
		if (err != -EINVAL || moved != SH_N_STATS)
			return sh_fail("%zu bytes: expected the test run to be refused, got %d", n, err);
		return NULL;
	}
	if (err)
		return sh_fail("test run failed: %d", err);

	sh_reference(f, n, &r);
	sh_last.cls = r.cls;
	switch (r.cls) {
	case SH_NOT_POOL:
		want_verdict = XDP_PASS, want_counter = SH_C(passed_not_pool);
		break;
	case SH_OTHER:
		want_verdict = XDP_PASS, want_counter = SH_C(passed_other);
		break;
	case SH_MALFORMED:
		want_verdict = XDP_DROP, want_counter = SH_C(dropped_malformed);
		break;
	case SH_FRAGMENT:
		want_verdict = XDP_DROP, want_counter = SH_C(dropped_fragment);
		break;
	case SH_UNSUPPORTED:
		want_verdict = XDP_DROP, want_counter = SH_C(dropped_unsupported);
		break;
	case SH_STEER:
	default: {
		int slot = sh_pool_slot(r.af, r.key_addr);
		size_t len, outer;

		if (slot < 0) { /* an ICMP error quoting a flow of another address */
			want_verdict = XDP_PASS, want_counter = SH_C(passed_other);
			break;
		}
		owner = sh_owner(r.key_port);
		host = sh_host_by_id(owner);
		if (owner == PS_STEER_NO_HOST) {
			want_verdict = XDP_DROP, want_counter = SH_C(dropped_no_owner);
			break;
		}
		if (owner == SH_H_SELF) {
			want_verdict = XDP_PASS, want_counter = SH_C(passed_own);
			break;
		}
		/* A packet is steered at most once. */
		if (r.steered) {
			want_verdict = XDP_DROP, want_counter = SH_C(dropped_steered_twice);
			break;
		}
		if (!sh_local_mac(f)) {
			want_verdict = XDP_DROP, want_counter = SH_C(dropped_not_for_us);
			break;
		}
		if (sh_peer_mac(f + 6)) {
			want_verdict = XDP_DROP, want_counter = SH_C(dropped_steered_twice);
			break;
		}
		if (!host || !host->valid) {
			want_verdict = XDP_DROP, want_counter = SH_C(dropped_no_host);
			break;
		}
		outer = encap ? (host->af == AF_INET ? 20 : 40) : 0;
		len = r.l3_end - r.l3 + outer;
		if (!host->neigh) {
			want_verdict = XDP_DROP, want_counter = SH_C(dropped_no_neigh);
			break;
		}
		if (len > SH_MTU) {
			want_verdict = XDP_DROP, want_counter = SH_C(dropped_too_big);
			break;
		}
		want_verdict = host->dev == SH_DEV_A ? XDP_TX : XDP_REDIRECT;
		want_counter = SH_C(forwarded);
		sh_last.to = owner;
		break;
	}
	}

	/* The safety property first: forwarded only when the reference says so. */
	if ((opts.retval == XDP_TX || opts.retval == XDP_REDIRECT) &&
	    want_verdict != XDP_TX && want_verdict != XDP_REDIRECT)
		return sh_fail("FORWARDED a frame the reference does not forward (expected %s, %s)",
			       sh_verdict_name(want_verdict), sh_stat_names[want_counter]);
	if (opts.retval != want_verdict)
		return sh_fail("expected %s (%s)", sh_verdict_name(want_verdict),
			       sh_stat_names[want_counter]);
	if (moved != want_counter)
		return sh_fail("counter: expected %s, got %s", sh_stat_names[want_counter],
			       moved < SH_N_STATS ? sh_stat_names[moved] : "none");
	if (opts.retval == XDP_PASS &&
	    (opts.data_size_out != n || memcmp(out, f, n)))
		return sh_fail("a passed frame was changed");
	if (opts.retval == XDP_TX || opts.retval == XDP_REDIRECT)
		return sh_check_forward(encap, f, n, &r, host, out, opts.data_size_out);
	return NULL;
}

#endif
