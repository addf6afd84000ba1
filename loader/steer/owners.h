/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Port owners of a pool slot in ps_steer_owner (PS_STEER_OWNER_INDEX(slot,
 * port) -> host id, PS_STEER_NO_HOST: replies to the port are dropped and
 * counted as dropped_no_owner). The one writer of that map: the config's
 * tables (steer/maps.c) and the lease follower (agent/lease_watch.c).
 *
 * Writes go in batches (bpf_map_update_batch), one entry at a time on
 * kernels without batch updates of arrays. Each entry is one aligned
 * 32-bit value: the XDP program sees every port either at its old owner or
 * at its new one, never anything else.
 *
 * No generation bump: the program reads ps_steer_owner for every packet and
 * keeps none of its answers (ps_steer_gen covers ps_steer_pools,
 * ps_steer_hosts and the MAC maps only, include/steer.h), so a write is in
 * force for the next packet. Bumping would void every CPU's FIB memo for
 * nothing. Should owner lookups ever be memoized, these functions must add
 * one to ps_steer_gen after writing.
 */
#ifndef PS_STEER_OWNERS_H
#define PS_STEER_OWNERS_H

#include <linux/types.h>

#include "core/error.h"

/* Ports @lo..@hi (inclusive, host byte order) of pool @slot: owned by @host (0: nobody). */
int ps_steer_owner_set(int fd, __u32 slot, __u32 lo, __u32 hi, __u32 host, struct ps_error *error);
/* Ports @lo..@lo + @n - 1 of pool @slot: port @lo + i owned by @owners[i]. */
int ps_steer_owner_write(int fd, __u32 slot, __u32 lo, const __u32 *owners, __u32 n, struct ps_error *error);

#endif
