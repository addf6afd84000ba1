// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Port owners in ps_steer_owner (steer/owners.h). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <bpf/bpf.h>

#include "steer.h"
#include "steer/owners.h"

/* Entries per batch: keys and values on the stack, 32 KiB. */
#define CHUNK 4096

/* Set once a batch update was refused: this kernel cannot, one entry at a time from then on. */
static bool no_batch;

/* @n (<= CHUNK) entries: a batch, else one at a time. */
static int write_chunk(int fd, const __u32 *keys, const __u32 *vals, __u32 n)
{
	__u32 count = n;

	if (!__atomic_load_n(&no_batch, __ATOMIC_RELAXED)) {
		if (!bpf_map_update_batch(fd, keys, vals, &count, NULL))
			return 0;
		/* A bad fd or map fails one at a time too; only "not supported" is remembered. */
		if (errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP || errno == ENOSYS)
			__atomic_store_n(&no_batch, true, __ATOMIC_RELAXED);
	}
	for (__u32 i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_ANY))
			return -errno;
	return 0;
}

/* Ports @lo.. (@n of them) of @slot: @owners[i], or @host for all when @owners is NULL. */
static int write_range(int fd, __u32 slot, __u32 lo, __u32 n, const __u32 *owners, __u32 host,
		       struct ps_error *error)
{
	__u32 keys[CHUNK], same[CHUNK];

	if (slot >= PS_MAX_POOLS || lo >= PS_PORTS_PER_POOL || n > PS_PORTS_PER_POOL - lo)
		return ps_fail(error, ERANGE, "ports %u-%u of pool slot %u are outside ps_steer_owner", lo,
			       lo + n - 1, slot);
	if (!owners)
		for (__u32 i = 0; i < CHUNK && i < n; i++)
			same[i] = host;
	for (__u32 done = 0; done < n;) {
		__u32 k = n - done < CHUNK ? n - done : CHUNK;
		int err;

		for (__u32 i = 0; i < k; i++)
			keys[i] = PS_STEER_OWNER_INDEX(slot, lo + done + i);
		err = write_chunk(fd, keys, owners ? owners + done : same, k);
		if (err)
			return ps_fail(error, err, "cannot write the owners of ports %u-%u of pool slot %u into ps_steer_owner: %s",
				       lo + done, lo + done + k - 1, slot, strerror(-err));
		done += k;
	}
	return 0;
}

int ps_steer_owner_set(int fd, __u32 slot, __u32 lo, __u32 hi, __u32 host, struct ps_error *error)
{
	if (hi < lo)
		return ps_fail(error, EINVAL, "ports %u-%u of pool slot %u: an empty range", lo, hi, slot);
	return write_range(fd, slot, lo, hi - lo + 1, NULL, host, error);
}

int ps_steer_owner_write(int fd, __u32 slot, __u32 lo, const __u32 *owners, __u32 n, struct ps_error *error)
{
	return write_range(fd, slot, lo, n, owners, 0, error);
}
