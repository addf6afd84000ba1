// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/env.h"
#include "core/fleet.h"
#include "core/pins.h"

bool ps_fleet_opt(struct ps_fleet_opts *o, int key, const char *arg)
{
	switch (key) {
	case PS_OPT_CONFIG:
		o->config = arg;
		return true;
	case PS_OPT_HOST:
		o->host = arg;
		return true;
	}
	return false;
}

int ps_fleet_open(struct ps_fleet *f, const struct ps_fleet_opts *o, struct ps_error *error)
{
	int err;

	memset(f, 0, sizeof(*f));
	f->lock = -1;
	if (o->host) {
		snprintf(f->host, sizeof(f->host), "%s", o->host);
	} else {
		if (gethostname(f->host, sizeof(f->host)))
			return ps_fail(error, errno, "cannot read the hostname: pass --host NAME");
		f->host[sizeof(f->host) - 1] = '\0';
	}
	if (!o->config)
		return 0;
	err = ps_config_load_file(o->config, &f->cfg, error);
	if (err)
		return err;
	f->self = ps_config_find_host(&f->cfg, f->host);
	f->self_id = ps_config_host_id(&f->cfg, f->host);
	return 0;
}

int ps_fleet_prepare(struct ps_fleet *f, unsigned int needs, struct ps_error *error)
{
	int err = 0;

	if (needs & (PS_NEED_PINS | PS_NEED_CGROUPS))
		err = ps_env_require_host(needs & PS_NEED_CGROUPS, error);
	if (!err && (needs & PS_NEED_BPF))
		err = ps_env_require_btf(error) ?: ps_env_require_bpffs(ps_pin_dir(), error);
	if (!err && (needs & PS_NEED_LOCK) && f->lock < 0) {
		f->lock = ps_state_lock(error);
		if (f->lock < 0)
			err = f->lock;
	}
	return err;
}

void ps_fleet_close(struct ps_fleet *f)
{
	ps_state_unlock(f->lock);
	f->lock = -1;
	ps_config_free(&f->cfg);
}
