// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent/load.h"
#include "core/trust.h"
#include "sock/slots.h"
#include "steer/prog.h"

char *ps_agent_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		if (n == cap) {
			char *b = realloc(buf, cap = cap ? cap * 2 : 4096);

			if (!b) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = b;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	*len = n;
	return buf;
}

int ps_agent_load_config(const char *path, const char *host, struct ps_config *cfg, char **content, size_t *len,
			 struct ps_error *error)
{
	struct ps_selection sel;
	int err;

	err = ps_config_trusted(path, error);
	if (err)
		return err;
	*content = ps_agent_read_file(path, len);
	err = ps_config_load_file(path, cfg, error);
	if (err) {
		free(*content);
		*content = NULL;
		return err;
	}
	if (!cfg->n_cgroups && !cfg->steering.n_interfaces) {
		err = ps_fail(error, EINVAL, "%s: cgroups: missing: the agent attaches the cgroups listed there (and steers the interfaces of steering.interfaces); add \"cgroups:\" with \"- path: /sys/fs/cgroup/CGROUP\" entries",
			     cfg->path);
		goto fail;
	}
	if (cfg->steering.present) {
		const struct ps_host_cfg *self = ps_config_find_host(cfg, host);

		/* The parser made sure hosts: exists: steering needs it. */
		if (!self) {
			err = ps_fail(error, EINVAL, "%s:%d: hosts: host '%s' is not listed, and steering: (line %d) needs this host's id and underlay address: add \"%s: {address: ADDR}\" under hosts:, or pass --host NAME",
				     cfg->path, cfg->hosts_line, host, cfg->steering.line, host);
			goto fail;
		}
		ps_steer_warn_config(cfg, self);
	}
	for (size_t i = 0; i < cfg->n_cgroups; i++) {
		const struct ps_cgroup_cfg *c = &cfg->cgroups[i];
		char *names[PS_MAX_POOLS];

		for (size_t j = 0; j < c->n_pools && j < PS_MAX_POOLS; j++)
			names[j] = c->pools[j];
		struct ps_error why = {};

		if (ps_select_pools(cfg, host, names, c->n_pools, &sel, &why)) {
			err = ps_fail(error, EINVAL, "%s:%d: cgroups[%zu] (%s): %s", cfg->path, c->line, i, c->path, why.msg);
			goto fail;
		}
	}
	return 0;
fail:
	ps_config_free(cfg);
	free(*content);
	*content = NULL;
	return err;
}
