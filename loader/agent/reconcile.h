/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The agent's reconcile: the pins made what the config in force asks for. */
#ifndef PS_AGENT_RECONCILE_H
#define PS_AGENT_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "steer/links.h"

/* What one reconcile needs, and what the last one left for the next. */
struct ps_reconcile {
	const struct ps_config *cfg; /* the config in force (the agent's) */
	const char *host;            /* this host's name in it */
	bool failed;                 /* the last reconcile left something undone */
	size_t cgroups_failed;       /* listed cgroups it left unattached */
	unsigned long *last_err;     /* per listed cgroup: hash of its last error, 0 none (log once) */
	/* Steering: the interfaces of steering.interfaces, as the last reconcile left them. */
	size_t steer_wanted, steer_failed;
	unsigned long steer_last_err[PS_MAX_STEER_IFACES]; /* per listed interface, as last_err */
	unsigned long steer_last_shared_err;               /* what failed for every interface */
	struct ps_steer_dev steer_devs[PS_MAX_STEER_IFACES];
};

/*
 * Makes the pins what r->cfg asks for: every listed cgroup attached with its
 * pools (existing attachments are adopted and, with @refresh, refreshed in
 * place; never duplicated), every other attachment removed, and steering as
 * steering: says. Without @refresh (retries, the periodic pass) what is in
 * place is left as it is, which costs no program load. Returns 0, -EAGAIN
 * when some cgroups or interfaces are not attached (yet), or another
 * negative errno when nothing could be done (logged).
 */
int ps_reconcile(struct ps_reconcile *r, bool refresh);

/* A new config: its errors are logged afresh. Frees what @r allocated. */
void ps_reconcile_forget(struct ps_reconcile *r);

#endif
