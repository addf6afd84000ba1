/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Per-CPU map values, summed over the CPUs: the one reader of every per-CPU counter. */
#ifndef PS_CORE_PERCPU_H
#define PS_CORE_PERCPU_H

#include <stddef.h>
#include <linux/types.h>

/*
 * Sums the entry @key of the per-CPU map @fd, a value of @n_words u64
 * counters, over every possible CPU into @out. 0 or a negative errno
 * (@out is zeroed then).
 */
int ps_percpu_sum(int fd, const void *key, __u64 *out, size_t n_words);

#endif
