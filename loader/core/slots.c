// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>

#include "core/slots.h"

int ps_slots_read(int pools_fd, struct ps_slots *s)
{
	int err = 0;

	memset(s, 0, sizeof(*s));
	for (__u32 slot = 0; pools_fd >= 0 && slot < PS_MAX_POOLS; slot++) {
		if (bpf_map_lookup_elem(pools_fd, &slot, &s->pools[slot])) {
			err = err ?: -errno;
			memset(&s->pools[slot], 0, sizeof(s->pools[slot]));
		}
	}
	for (int slot = 0; slot < PS_MAX_POOLS; slot++)
		s->taken[slot] = s->pools[slot].name[0] != '\0';
	return err;
}

int ps_slots_named(const struct ps_slots *s, const char *name)
{
	for (int slot = 0; slot < PS_MAX_POOLS; slot++)
		if (s->taken[slot] && !strncmp(s->pools[slot].name, name, PS_POOL_NAME_LEN))
			return slot;
	return -1;
}

int ps_slots_free(const struct ps_slots *s, const bool *avoid)
{
	for (int slot = 0; slot < PS_MAX_POOLS; slot++)
		if (!s->taken[slot] && !(avoid && avoid[slot]))
			return slot;
	return -1;
}

void ps_slots_give(struct ps_slots *s, int slot, const char *name)
{
	s->taken[slot] = true;
	snprintf(s->pools[slot].name, PS_POOL_NAME_LEN, "%s", name);
}
