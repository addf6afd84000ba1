// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The agent's reconcile: making the pins what the config in force asks
 * for, the cgroups of cgroups: and the steering of steering.interfaces.
 * What fails is logged with its fix once and then, while it fails the same
 * way, at debug level only: a retry every 5 s must not flood the log.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/reconcile.h"
#include "core/build.h"
#include "core/env.h"
#include "core/log.h"
#include "core/pins.h"
#include "sock/attach.h"
#include "sock/links.h"
#include "sock/slots.h"

/*
 * The level to log an error at: PS_LOG_ERR the first time, PS_LOG_DEBUG when it is the
 * one *last logged already (a retry that fails the same way). *last becomes
 * its hash.
 */
static enum ps_log_level repeat_level(unsigned long *last, const char *msg)
{
	unsigned long h = 5381;
	bool same;

	for (const char *c = msg; *c; c++)
		h = h * 33 + (unsigned char)*c;
	h = h ?: 1;
	same = *last == h;
	*last = h;
	return same ? PS_LOG_DEBUG : PS_LOG_ERR;
}

struct wanted {
	__u64 ids[PS_MAX_ATTACHMENTS];
	size_t n;
};

static bool is_wanted(const struct wanted *w, __u64 id)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->ids[i] == id)
			return true;
	return false;
}

/*
 * Attaches one listed cgroup, or refreshes its attachment from the config
 * when @refresh (a load or reload: settings may have changed). The state
 * lock is held.
 */
static int apply_cgroup(struct ps_reconcile *r, const struct ps_cgroup_cfg *c, struct wanted *w, bool refresh, struct ps_error *error)
{
	struct ps_cgroup cg = { .fd = -1 };
	struct ps_selection sel;
	char *names[PS_MAX_POOLS];
	const char *verb = "";
	char replaced[PS_BUILD_ID_LEN] = "";
	bool existed;
	int err;

	for (size_t j = 0; j < c->n_pools && j < PS_MAX_POOLS; j++)
		names[j] = c->pools[j];
	err = ps_cgroup_open(c->path, &cg, error);
	if (err)
		return err;
	/* Known from here on: never detached because of a failure below. */
	if (w->n < PS_MAX_ATTACHMENTS)
		w->ids[w->n++] = cg.id;
	existed = ps_attachment_exists(cg.id);
	/* Programs of another build (this agent's binary was upgraded, or someone attached with another) are replaced. */
	if (existed && !refresh && ps_attachment_build_current(cg.id, NULL)) {
		ps_cgroup_close(&cg);
		return 0;
	}
	err = ps_select_pools(r->cfg, r->host, names, c->n_pools, &sel, error);
	if (!err)
		err = ps_attach_locked(&cg, &sel, &verb, replaced, error);
	if (!err) {
		char list[PS_MAX_POOLS * (PS_POOL_NAME_LEN + 1)] = "";
		size_t used = 0;

		for (size_t i = 0; i < sel.n && used < sizeof(list); i++)
			used += snprintf(list + used, sizeof(list) - used, "%s%s", i ? "," : "", sel.pool[i]->name);
		if (!existed)
			pr_info("attached %s (pools %s)", cg.path, list);
		else if (!strcmp(verb, "updated"))
			pr_info("updated %s: pools now %s", cg.path, list);
		else if (!replaced[0])
			pr_debug("adopted %s (pools %s), settings refreshed", cg.path, list);
		if (replaced[0])
			pr_info("upgraded %s: programs of build %s replaced in place by build %s (links, maps and claims kept)",
			     cg.path, replaced, ps_build_id_sock);
	}
	ps_cgroup_close(&cg);
	return err;
}

/* The cgroup ids that have pinned links. */
static size_t pinned_ids(__u64 *ids, size_t max)
{
	char path[PATH_MAX];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (ps_pin_path(path, sizeof(path), PS_PINS_CGROUPS) || !(d = opendir(path)))
		return 0;
	while ((de = readdir(d)) && n < max) {
		char *end;
		unsigned long long id = strtoull(de->d_name, &end, 10);

		if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && !*end)
			ids[n++] = id;
	}
	closedir(d);
	return n;
}

/* Why steering comes off the interfaces a reconcile takes it off. */
struct steer_detach_ctx {
	const char *why;
};

static void log_steer_detached(const char *ifname, __u32 ifindex, void *arg)
{
	const struct steer_detach_ctx *ctx = arg;

	pr_info("steering detached from %s: %s", ifname, ctx->why);
}

/* Logs what became of one listed interface; true when its steering is in place. */
static bool log_steer_dev(struct ps_reconcile *r, size_t i)
{
	const struct ps_steer_dev *d = &r->steer_devs[i];

	if (!d->result) {
		/* A missing interface may appear later (a veth of a container): retried like a missing cgroup. */
		ps_log(repeat_level(&r->steer_last_err[i], d->error), "%s:%d: steering.interfaces[%zu] %s: %s%s; retrying",
		     r->cfg->path, r->cfg->steering.line, i, d->name, d->error,
		     d->err == -ENODEV ? ", or remove it from steering.interfaces" : "");
		return false;
	}
	r->steer_last_err[i] = 0;
	if (!strcmp(d->result, "attached"))
		pr_info("steering attached to %s (ifindex %u, link %u)", d->name, d->ifindex, d->link_id);
	else if (!strcmp(d->result, "updated"))
		pr_info("steering on %s updated: link %u runs a new program (mode %s, host %s)", d->name, d->link_id,
		     ps_steer_mode_name(r->cfg->steering.mode), r->host);
	else
		pr_debug("adopted steering on %s (link %u), maps refreshed", d->name, d->link_id);
	return true;
}

/*
 * Steering as the config in force asks. With steering.interfaces: steering
 * on each of them (pinned links adopted, never duplicated; with @refresh the
 * maps are rewritten in place and changed settings swap the program inside
 * the links) and off every other interface. Without a steering: section:
 * off every interface. A steering: section without interfaces: leaves which
 * interfaces steer to 'portslice steer attach --dev' and, with @refresh,
 * brings their maps and program in step with the config. Returns how many
 * things failed. Called with the state lock held.
 */
static size_t reconcile_steering(struct ps_reconcile *r, bool refresh)
{
	struct ps_error why = {};
	const struct ps_steering_cfg *st = &r->cfg->steering;
	const char *names[PS_MAX_STEER_IFACES];
	size_t n = st->present ? st->n_interfaces : 0, failed = 0;
	struct steer_detach_ctx ctx = {
		.why = st->present ? "steering.interfaces no longer lists it" : "the config has no steering: section",
	};
	bool maps_removed = false;

	r->steer_wanted = n;
	for (size_t i = 0; i < n; i++) {
		ps_steer_dev_init(&r->steer_devs[i], st->interfaces[i]);
		names[i] = st->interfaces[i];
	}
	/* Retries and periodic passes cost nothing while every listed interface has its link, of this build. */
	if (st->present && (refresh || !ps_steer_attached_all(r->steer_devs, n) || !ps_steer_build_current())) {
		struct ps_steer_applied applied;
		const struct ps_host_cfg *self = ps_config_find_host(r->cfg, r->host);

		if (ps_steer_apply_locked(r->cfg, self, r->steer_devs, n, PS_STEER_KEEP_GOING, &applied, &why)) {
			ps_log(repeat_level(&r->steer_last_shared_err, why.msg), "%s:%d: steering: %s; retrying",
			       r->cfg->path, st->line, why.msg);
			failed = n ?: 1;
		} else {
			r->steer_last_shared_err = 0;
			for (size_t i = 0; i < n; i++)
				failed += !log_steer_dev(r, i);
			if (applied.replaced_build[0])
				pr_info("steering upgraded: the program of build %s replaced in place by build %s in every steering link",
				     applied.replaced_build, ps_build_id_steer);
		}
	}
	/* Named interfaces stay (also those that failed: a failure is no reason to take steering off). */
	if (st->present && !n)
		goto out;
	ps_error_clear(&why);
	if (ps_steer_detach_locked(names, n, true, log_steer_detached, &ctx, &maps_removed, &why)) {
		pr_err("cannot take steering off the interfaces the config no longer lists: %s", why.msg);
		failed++;
	} else if (maps_removed) {
		pr_info("no interface has steering any more: its maps are removed");
	}
out:
	r->steer_failed = failed > n ? n : failed;
	return failed;
}

int ps_reconcile(struct ps_reconcile *r, bool refresh)
{
	struct ps_error why = {};
	struct wanted *w = calloc(1, sizeof(*w));
	__u64 *have = calloc(PS_MAX_ATTACHMENTS, sizeof(*have));
	unsigned long long failed = 0;
	size_t n_have, steer_failed = 0;
	int lock = -1, err = 0, env_err = 0;

	if (!w || !have) {
		free(w);
		free(have);
		return -ENOMEM;
	}
	err = ps_env_require_btf(&why);
	if (!err)
		err = ps_env_require_bpffs(ps_pin_dir(), &why);
	if (!err) {
		lock = ps_state_lock(&why);
		if (lock < 0)
			err = lock;
	}
	if (err) {
		pr_err("%s", why.msg);
		failed = r->cfg->n_cgroups;
		steer_failed = r->steer_wanted = r->cfg->steering.n_interfaces;
		r->steer_failed = steer_failed;
		env_err = err;
		goto out;
	}
	if (!r->last_err)
		r->last_err = calloc(r->cfg->n_cgroups, sizeof(*r->last_err));
	for (size_t i = 0; i < r->cfg->n_cgroups; i++) {
		unsigned long scratch = 0;

		ps_error_clear(&why);
		if (!apply_cgroup(r, &r->cfg->cgroups[i], w, refresh, &why)) {
			if (r->last_err)
				r->last_err[i] = 0;
			continue;
		}
		failed++;
		/* The same error again (a retry) is logged once, then at debug level. */
		ps_log(repeat_level(r->last_err ? &r->last_err[i] : &scratch, why.msg), "%s:%d: cgroups[%zu] %s: %s; retrying",
		       r->cfg->path, r->cfg->cgroups[i].line, i, r->cfg->cgroups[i].path, why.msg);
	}
	n_have = pinned_ids(have, PS_MAX_ATTACHMENTS);
	for (size_t i = 0; i < n_have; i++) {
		struct ps_detached res;

		if (is_wanted(w, have[i]))
			continue;
		ps_error_clear(&why);
		if (ps_detach_id_locked(have[i], &res, &why)) {
			pr_err("cannot detach cgroup %llu, which the config no longer lists: %s",
			       (unsigned long long)have[i], why.msg);
			failed++;
			continue;
		}
		/* A draining attachment comes back every pass: said when it starts and when it ends. */
		if (res.draining && res.was_draining)
			continue;
		if (res.draining)
			pr_info("detached cgroup %llu: the config no longer lists it; %llu of its sockets still hold claims, its release programs stay until they close",
			     (unsigned long long)have[i], (unsigned long long)res.draining);
		else
			pr_info("detached cgroup %llu: the config no longer lists it%s", (unsigned long long)have[i],
			     res.removed_all ? "; no cgroup is attached any more, the socket side's pins removed" : "");
	}
	steer_failed = reconcile_steering(r, refresh);
out:
	ps_state_unlock(lock);
	r->cgroups_failed = failed > r->cfg->n_cgroups ? r->cfg->n_cgroups : failed;
	r->failed = failed > 0 || steer_failed > 0;
	free(w);
	free(have);
	/* -EAGAIN: some cgroups or interfaces are not attached (yet); another error: nothing could be done. */
	return env_err ?: r->failed ? -EAGAIN : 0;
}

void ps_reconcile_forget(struct ps_reconcile *r)
{
	free(r->last_err);
	r->last_err = NULL;
	memset(r->steer_last_err, 0, sizeof(r->steer_last_err));
	r->steer_last_shared_err = 0;
}
