/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef PS_BPF_STATS_H
#define PS_BPF_STATS_H

#include "maps.h"

/*
 * Per-CPU counters, still added atomically: cgroup programs run with
 * migration disabled but preemptible, so two tasks on one CPU can
 * interleave a plain read-modify-write and lose an increment.
 */
#define ps_count_n(slot, proto, field, n)                                    \
	do {                                                                 \
		__u32 __idx = PS_STATS_INDEX(slot, proto);                   \
		struct ps_stats *__s = bpf_map_lookup_elem(&ps_stats, &__idx); \
		if (__s)                                                     \
			__sync_fetch_and_add(&__s->field, (n));              \
	} while (0)

#define ps_count(slot, proto, field) ps_count_n(slot, proto, field, 1)

#endif
