// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "core/percpu.h"

int ps_percpu_sum(int fd, const void *key, __u64 *out, size_t n_words)
{
	int ncpus = libbpf_num_possible_cpus();
	__u64 *v;

	memset(out, 0, n_words * sizeof(*out));
	if (ncpus <= 0)
		return ncpus ?: -EINVAL;
	/* The kernel copies one value per possible CPU, each rounded up to 8 bytes. */
	v = calloc((size_t)ncpus * n_words, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, key, v)) {
		int err = -errno;

		free(v);
		return err;
	}
	for (int c = 0; c < ncpus; c++)
		for (size_t w = 0; w < n_words; w++)
			out[w] += v[(size_t)c * n_words + w];
	free(v);
	return 0;
}
