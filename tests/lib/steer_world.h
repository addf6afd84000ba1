/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A world around the XDP steering program (bpf/steer.bpf.c) and an
 * independent reference of what the program must do in it, shared by the
 * libFuzzer target fuzz/fuzz_steer.c and the cmocka tests that replay its
 * corpus and try crafted attack packets (tests/unit/test_fuzz_replay.c,
 * tests/unit/test_steer_attacks.c).
 *
 * The world: a network namespace of this process's own (netns.h), two veth
 * pairs with fixed MACs (psf-a, the ingress device; psf-b), permanent
 * neighbour entries for the hosts' underlay addresses, and the program
 * loaded ONCE per mode (l2, encap) with every map unpinned (steer_env.h),
 * so nothing outlives the process.
 *
 * steer_world_check() runs one frame through the program with
 * BPF_PROG_TEST_RUN and compares the verdict, the counter that moved and
 * the output bytes with the reference. The safety property it enforces
 * above all: a frame is forwarded (XDP_TX or XDP_REDIRECT) only if it is
 * well-formed, for a pool port owned by another host, and then only to
 * that host, with its L3 packet unchanged.
 *
 * An input of steer_world_check(), as the fuzz corpus fuzz/corpus/steer/
 * holds them: byte 0 selects the mode (bit 0: encap), the rest is the
 * Ethernet frame as it arrives on psf-a, cut at SW_FRAME_MAX bytes.
 */
#ifndef PS_TESTS_STEER_WORLD_H
#define PS_TESTS_STEER_WORLD_H

#include <stddef.h>
#include <stdint.h>

#define SW_FRAME_MAX 1600 /* inputs are cut here: one page holds the frame */

/* Pool addresses (in every pool, each host owns the ports below). */
#define SW_POOL4 "198.18.0.10"
#define SW_POOL4B "198.18.0.11"
#define SW_POOL6 "2001:db8::10"

enum sw_dev { SW_DEV_A, SW_DEV_B };

/* Host ids: who owns which ports of every pool. */
enum {
	SW_H_SELF = 1,    /* 20000-20099 */
	SW_H_B4 = 2,      /* 21000-21099: IPv4 underlay behind psf-b, XDP_REDIRECT */
	SW_H_A6 = 3,      /* 21100-21199: IPv6 underlay behind psf-a, the ingress: XDP_TX */
	SW_H_INVALID = 4, /* 21200-21209: no valid ps_steer_hosts entry */
	SW_H_NONEIGH = 5, /* 21210-21219: routed, no neighbour entry */
	SW_H_A4 = 6,      /* 21220-21229: IPv4 underlay behind psf-a, XDP_TX */
	SW_H_B6 = 7,      /* 21230-21239: IPv6 underlay behind psf-b */
	SW_H_BIG = 300,   /* 21240-21249: past PS_MAX_HOSTS */
};

/* psf-a's MAC: frames addressed to this host. */
extern const uint8_t *const sw_ingress_mac;

/* Into the namespace, the programs loaded and filled; 0 or -1 (reported). */
int steer_world_init(void);
/* Programs gone, back to the original namespace. */
void steer_world_fini(void);

/*
 * Run one input (byte 0: mode, then the frame). Returns NULL when the
 * program did what the contract says, else a description of the breach.
 */
const char *steer_world_check(const uint8_t *input, size_t size);

/* The reference's classes of frames. */
enum sw_class {
	SW_NOT_POOL,    /* PASS, passed_not_pool */
	SW_MALFORMED,   /* DROP, dropped_malformed */
	SW_FRAGMENT,    /* DROP, dropped_fragment */
	SW_UNSUPPORTED, /* DROP, dropped_unsupported */
	SW_OTHER,       /* PASS, passed_other */
	SW_STEER,       /* well-formed, with a pool port: steered by it */
};

/* What the last steer_world_check() saw, for messages and tests. */
struct sw_result {
	int err;
	uint32_t verdict;
	enum sw_class cls;
	size_t counter;  /* index of the stat that moved, STEER_N_STATS if none */
	uint32_t to;     /* forwards: the owner the reference expects */
	char msg[512];
};

const struct sw_result *steer_world_last(void);

#endif
