/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The XDP steering program (bpf/steer.bpf.c) as the tests drive it: loaded
 * from its skeleton with every map unpinned (the maps live and die with the
 * test process), its maps written as the loader writes them, one frame run
 * through it with BPF_PROG_TEST_RUN, and its counters read back.
 *
 * Used by tests/unit/test_steer.c and by the steering world of the attack
 * tests, the corpus replay and the fuzzer (steer_world.h). Functions return
 * 0 or a negative value and print nothing; callers assert or report.
 */
#ifndef PS_TESTS_STEER_ENV_H
#define PS_TESTS_STEER_ENV_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "steer.h"
#include "steer.skel.h"

/* The fields of struct ps_steer_stats, and their names in order. */
#define STEER_N_STATS (sizeof(struct ps_steer_stats) / sizeof(__u64))
extern const char *const steer_stat_names[STEER_N_STATS];

/* "XDP_PASS" for XDP_PASS, and so on; "?" past XDP_REDIRECT. */
const char *steer_verdict_name(uint32_t verdict);

/*
 * Open, unpin, set the read-only settings and load: this host's id, the
 * forwarding mode and its underlay addresses (text; NULL leaves one unset).
 * NULL on failure.
 */
struct ps_steer *steer_env_load(uint32_t self_host, enum ps_steer_mode mode,
				const char *underlay4, const char *underlay6);

/*
 * Run @len bytes of @in as a frame arriving on @ifindex. On entry *out_len
 * is the room at @out, on return the length of the frame the program left
 * there; *retval is its verdict. The test run's own result is returned:
 * the kernel refuses frames shorter than an Ethernet header (-EINVAL).
 */
int steer_env_run(struct ps_steer *skel, int ifindex, const uint8_t *in, size_t len,
		  uint8_t *out, size_t *out_len, uint32_t *retval);

/* ps_steer_stats summed over the CPUs. */
int steer_env_read_stats(struct ps_steer *skel, __u64 stats[STEER_N_STATS]);
/* ps_steer_fwd (frames forwarded to each host id) summed over the CPUs. */
int steer_env_read_fwd(struct ps_steer *skel, __u64 fwd[PS_MAX_HOSTS]);

/* ps_steer_pools: the pool address @addr (text, family @af) has slot @slot. */
int steer_env_add_pool(struct ps_steer *skel, int af, const char *addr, __u32 slot);
/* ps_steer_owner: @port of the pool in @slot is @host's. */
int steer_env_set_owner(struct ps_steer *skel, __u32 slot, uint16_t port, __u32 host);
/* ps_steer_hosts: host @id is valid at the underlay @addr; @ifindex 0 for no hint. */
int steer_env_set_host(struct ps_steer *skel, __u32 id, int af, const char *addr, int ifindex);
/* ps_steer_local_macs or ps_steer_peer_macs (@fd): @mac maps to @val. */
int steer_env_set_mac(int fd, const uint8_t mac[6], __u32 val);

#endif
