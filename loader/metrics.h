/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Prometheus metrics: `portslice stats --prometheus` (text exposition format,
 * for node_exporter's textfile collector) and the agent's --metrics HTTP
 * endpoint (libmicrohttpd). Both print the same families, derived from what
 * `portslice status --json` reports; the agent adds its own.
 */
#ifndef PS_METRICS_H
#define PS_METRICS_H

#include "core/cli.h"
#include "core/error.h"
#include "agent/lease_task.h"
#include "agent/steer_follow.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

/* The agent's own state, shown by its endpoint only. */
struct ps_agent_metrics {
	bool ready;                        /* the first reconcile is done (atomic: /healthz reads it unlocked) */
	unsigned long long generation;     /* config generations applied (1 = the first) */
	bool last_reload_ok;               /* the latest load/reload was applied */
	double last_reload_time;           /* CLOCK_REALTIME of the latest attempt, seconds */
	unsigned long long reloads_ok;     /* successful reloads (the first load excluded) */
	unsigned long long reloads_failed; /* rejected configs or failed reconciles */
	unsigned long long cgroups_wanted; /* cgroups the running config lists */
	unsigned long long cgroups_failed; /* of those, not attached at the last reconcile */
	unsigned long long interfaces_wanted; /* steering.interfaces of the running config */
	unsigned long long interfaces_failed; /* of those, not steered at the last reconcile */
	unsigned long long config_hash;    /* ps_metrics_config_hash() of the config in force */
	struct ps_lease_task_stats lease;  /* the leasing task's (dynamic pools); .running false without one */
	/* The steering follower of dynamic pools, NULL without one: read while the lock is held only. */
	const struct ps_steer_follow *follow;
};

/*
 * FNV-1a (64 bits) of a config file's bytes: portslice_config_info's label,
 * equal on every host that runs the same file (a fleet's rollout is done
 * when one value is left).
 */
unsigned long long ps_metrics_config_hash(const char *buf, size_t len);

/*
 * Writes every metric family to @out. @agent may be NULL (no agent
 * families). Returns 0 or a negative errno with the error recorded.
 */
int ps_metrics_write(FILE *out, const struct ps_agent_metrics *agent, struct ps_error *error);

/*
 * Serves GET /metrics and GET /healthz on ADDR:PORT (IPv4 literal, or
 * [IPv6]:PORT) from a thread of its own. Each request takes @lock and
 * copies @agent under it, so a scrape never sees a half-done reconcile.
 */
struct ps_metrics_server;
int ps_metrics_start(const char *addr_port, const struct ps_agent_metrics *agent, pthread_mutex_t *lock,
		     struct ps_metrics_server **out, struct ps_error *error);
void ps_metrics_stop(struct ps_metrics_server *srv);

extern const struct ps_cmd ps_cmd_stats;

#endif
