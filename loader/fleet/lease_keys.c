// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The keys and values of the leasing engine in etcd (loader/fleet/lease_keys.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet/lease_keys.h"

void ps_lease_key(char *buf, const struct ps_lease *l, unsigned int pool, const char *kind, uint32_t n)
{
	snprintf(buf, PS_LEASE_KEY_LEN, "%s/pools/%s/%s/%u", l->prefix, l->cfg.pools[pool].name, kind, n);
}

bool ps_lease_parse_key(const char *k, size_t plen, char *kind, size_t klen, uint32_t *n)
{
	const char *s = k + plen, *slash = strchr(s, '/');

	if (!slash || (size_t)(slash - s) >= klen)
		return false;
	memcpy(kind, s, slash - s);
	kind[slash - s] = '\0';
	*n = strtoul(slash + 1, NULL, 10);
	return true;
}

static const char *const state_names[] = {
	[PS_BLOCK_HELD] = "held", [PS_BLOCK_DRAINING] = "draining", [PS_BLOCK_LOST] = "lost",
};

long long ps_lease_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ps_lease_block_value(char *buf, size_t len, const struct ps_lease *l, enum ps_block_state state)
{
	snprintf(buf, len, "{\"host\":\"%s\",\"state\":\"%s\",\"since\":%lld,\"lease\":\"%llx\"}", l->host,
		 state_names[state], ps_lease_wall_ms(), (unsigned long long)l->lease);
}

void ps_lease_held_values(const struct ps_lease *l, unsigned int pool, uint32_t n, char *kb, char *vb, char *kc,
			 char *vc)
{
	ps_lease_key(kb, l, pool, "blocks", n);
	ps_lease_key(kc, l, pool, "claims", n);
	ps_lease_block_value(vb, 256, l, PS_BLOCK_HELD);
	snprintf(vc, 256, "{\"host\":\"%s\",\"lease\":\"%llx\"}", l->host, (unsigned long long)l->lease);
}
