// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * portslice agent: a foreground daemon that keeps this host's datapath equal
 * to what the fleet config asks for. It attaches the cgroups of the config's
 * `cgroups:` list and puts steering on the interfaces of
 * `steering.interfaces`, adopts what is pinned already, detaches what is no
 * longer listed, reloads on SIGHUP and when the config file changes, and
 * leaves the datapath in place when it stops: the pins, not the agent, keep
 * it alive, so an agent that crashes or restarts costs no connection.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <systemd/sd-daemon.h>

#include "agent/agent.h"
#include "sock/attach.h"
#include "sock/links.h"
#include "core/build.h"
#include "core/cli.h"
#include "core/config.h"
#include "core/env.h"
#include "core/journal.h"
#include "core/log.h"
#include "metrics.h"
#include "sock/slots.h"
#include "core/pins.h"
#include "steer/links.h"
#include "steer/prog.h"

enum {
	OPT_CONFIG = 'f',
	OPT_HOST = 'H',
	OPT_METRICS = 'm',
	OPT_INTERVAL = 'i',
};

struct agent_opts {
	const char *config;
	const char *host;
	const char *metrics;
	unsigned int interval;
};

static const struct ps_opt agent_opts[] = {
	{ "config", OPT_CONFIG, "FILE", "fleet config with cgroups: and/or steering.interfaces (required; must not be writable by non-root users)" },
	{ "host", OPT_HOST, "NAME", "this host's name in the config's slices (default: hostname)" },
	{ "metrics", OPT_METRICS, "ADDR:PORT", "serve Prometheus metrics over HTTP at ADDR:PORT/metrics (default: off)" },
	{ "interval", OPT_INTERVAL, "SECONDS", "reconcile this often even without a change, 0 never (default 60; failures retry every 5 s)" },
	{ NULL },
};

static int on_agent_opt(int key, const char *arg, void *ctx, struct ps_error *error)
{
	struct agent_opts *o = ctx;
	char *end;
	unsigned long v;

	switch (key) {
	case OPT_CONFIG:
		o->config = arg;
		break;
	case OPT_HOST:
		o->host = arg;
		break;
	case OPT_METRICS:
		o->metrics = arg;
		break;
	case OPT_INTERVAL:
		v = strtoul(arg, &end, 10);
		if (!*arg || *end || v > 86400)
			return ps_fail(error, EINVAL, "--interval %s: expected 0-86400 seconds", arg);
		o->interval = (unsigned int)v;
		break;
	}
	return 0;
}

/* ---- the config file: who may write it ---------------------------------- */

/* Symlinks followed at the most on the way to the config, as the kernel's own limit. */
#define TRUST_MAX_LINKS 40

static bool on_readonly_mount(const char *path)
{
	struct statvfs vfs;

	/* A read-only mount (a Kubernetes ConfigMap) cannot be rewritten by anyone here. */
	return !statvfs(path, &vfs) && vfs.f_flag & ST_RDONLY;
}

/*
 * One step of the path: a directory, the file, or a symlink on the way.
 * Root must own it and nobody else may write it, except a directory with
 * the sticky bit (/tmp): others may add names there, but not replace root's,
 * and the next step is checked in turn.
 */
static int check_step(const char *path, const struct stat *st, const char *what, const char *config, struct ps_error *error)
{
	const char *tail = "and whoever can write it decides which cgroups and ports portslice uses";
	bool is_dir = S_ISDIR(st->st_mode), is_link = S_ISLNK(st->st_mode);
	const char *on_way = strcmp(path, config) ? " (on the way to " : "";

	if (!is_link && on_readonly_mount(path))
		return 0;
	if (st->st_uid != 0)
		return ps_fail(error, EPERM, "refusing the config %s %s%s%s%s: it is owned by uid %u, not root, %s; fix: chown root:root %s",
			      what, path, on_way, *on_way ? config : "", *on_way ? ")" : "", (unsigned int)st->st_uid, tail,
			      path);
	if (is_link || (is_dir && st->st_mode & S_ISVTX))
		return 0;
	if (st->st_mode & S_IWOTH)
		return ps_fail(error, EPERM, "refusing the config %s %s%s%s%s: every user may write it (mode %04o), %s; fix: chmod o-w %s",
			      what, path, on_way, *on_way ? config : "", *on_way ? ")" : "",
			      (unsigned int)(st->st_mode & 07777), tail, path);
	if (st->st_mode & S_IWGRP && st->st_gid != 0)
		return ps_fail(error, EPERM, "refusing the config %s %s%s%s%s: group %u may write it (mode %04o), %s; fix: chmod g-w %s",
			      what, path, on_way, *on_way ? config : "", *on_way ? ")" : "", (unsigned int)st->st_gid,
			      (unsigned int)(st->st_mode & 07777), tail, path);
	return 0;
}

/*
 * Walks @file from / as the kernel resolves it: every directory, every
 * symlink and what it points to, then the file. Whoever can change any of
 * them can make the agent read another config (swap a link, rename a
 * directory), so each must pass check_step().
 */
int ps_agent_check_config_perms(const char *file, struct ps_error *error)
{
	char cur[PATH_MAX] = "", rest[2 * PATH_MAX], target[PATH_MAX];
	int links = 0, err;
	struct stat st;

	if (file[0] != '/') {
		if (!getcwd(cur, sizeof(cur)))
			return ps_fail(error, errno, "cannot resolve the config path %s: %s", file, strerror(errno));
		if (!strcmp(cur, "/"))
			cur[0] = '\0';
	}
	snprintf(rest, sizeof(rest), "%s", file);
	if (stat("/", &st))
		return ps_fail(error, errno, "cannot stat /: %s", strerror(errno));
	err = check_step("/", &st, "directory", file, error);
	while (!err && rest[0]) {
		char *slash = strchr(rest, '/'), comp[NAME_MAX + 1], next[PATH_MAX];
		size_t n = slash ? (size_t)(slash - rest) : strlen(rest);

		if (n > NAME_MAX)
			return ps_fail(error, ENAMETOOLONG, "config path %s: a name is too long", file);
		memcpy(comp, rest, n);
		comp[n] = '\0';
		memmove(rest, slash ? slash + 1 : rest + n, strlen(slash ? slash + 1 : rest + n) + 1);
		if (!n || !strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			char *up = strrchr(cur, '/');

			if (up)
				*up = '\0';
			continue;
		}
		if ((size_t)snprintf(next, sizeof(next), "%s/%s", cur, comp) >= sizeof(next))
			return ps_fail(error, ENAMETOOLONG, "config path %s: too long once its symlinks are resolved", file);
		if (lstat(next, &st))
			return ps_fail(error, errno, "cannot stat %s (on the way to the config %s): %s", next, file, strerror(errno));
		if (!S_ISLNK(st.st_mode)) {
			err = check_step(next, &st, rest[0] || S_ISDIR(st.st_mode) ? "directory" : "file", rest[0] ? file : next, error);
			memcpy(cur, next, strlen(next) + 1);
			continue;
		}
		/* The link, then where it points: the rest of the path continues from there. */
		err = check_step(next, &st, "symlink", file, error);
		if (err)
			break;
		if (++links > TRUST_MAX_LINKS)
			return ps_fail(error, ELOOP, "config path %s: too many symlinks", file);
		ssize_t len = readlink(next, target, sizeof(target) - 1);

		if (len < 0)
			return ps_fail(error, errno, "cannot read the symlink %s: %s", next, strerror(errno));
		target[len] = '\0';
		if (strlen(target) + 1 + strlen(rest) + 1 > sizeof(rest))
			return ps_fail(error, ENAMETOOLONG, "config path %s: too long once its symlinks are resolved", file);
		memmove(rest + len + 1, rest, strlen(rest) + 1);
		memcpy(rest, target, (size_t)len);
		rest[len] = rest[len + 1] ? '/' : '\0';
		if (target[0] == '/')
			cur[0] = '\0';
	}
	return err;
}

/* ---- the agent ---------------------------------------------------------- */

struct agent {
	struct agent_opts o;
	char dir[PATH_MAX];         /* the config's directory, watched */
	char base[NAME_MAX + 1];    /* the config's file name */
	struct ps_config cfg;       /* the config in force */
	char *content;              /* its bytes, to skip no-op change events */
	size_t content_len;
	pthread_mutex_t lock;       /* cfg, state changes and metrics; scrapes take it */
	struct ps_agent_metrics m;
	bool failed;                /* the last reconcile left something undone */
	bool refresh_pending;       /* ... and it was to refresh settings: retries refresh too */
	unsigned long *last_err;    /* per listed cgroup: hash of its last error, 0 none (log once) */
	/* Steering: the interfaces of steering.interfaces, as the last reconcile left them. */
	size_t steer_wanted, steer_failed;
	unsigned long steer_last_err[PS_MAX_STEER_IFACES]; /* per listed interface, as last_err */
	unsigned long steer_last_shared_err;               /* what failed for every interface */
	struct ps_steer_dev steer_devs[PS_MAX_STEER_IFACES];
};

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

static char *read_all(const char *path, size_t *len)
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

/*
 * Loads and checks a config completely before anything is applied: it must
 * parse, list cgroups, and every cgroup's pools must have a slice for this
 * host. On error the message names file, line and field.
 */
static int load_config(struct agent *a, struct ps_config *cfg, char **content, size_t *len, struct ps_error *error)
{
	struct ps_selection sel;
	int err;

	err = ps_agent_check_config_perms(a->o.config, error);
	if (err)
		return err;
	*content = read_all(a->o.config, len);
	err = ps_config_load_file(a->o.config, cfg, error);
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
		const struct ps_host_cfg *self = ps_config_find_host(cfg, a->o.host);

		/* The parser made sure hosts: exists: steering needs it. */
		if (!self) {
			err = ps_fail(error, EINVAL, "%s:%d: hosts: host '%s' is not listed, and steering: (line %d) needs this host's id and underlay address: add \"%s: {address: ADDR}\" under hosts:, or pass --host NAME",
				     cfg->path, cfg->hosts_line, a->o.host, cfg->steering.line, a->o.host);
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

		if (ps_select_pools(cfg, a->o.host, names, c->n_pools, &sel, &why)) {
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
static int apply_cgroup(struct agent *a, const struct ps_cgroup_cfg *c, struct wanted *w, bool refresh, struct ps_error *error)
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
	err = ps_select_pools(&a->cfg, a->o.host, names, c->n_pools, &sel, error);
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
static bool log_steer_dev(struct agent *a, size_t i)
{
	const struct ps_steer_dev *d = &a->steer_devs[i];

	if (!d->result) {
		/* A missing interface may appear later (a veth of a container): retried like a missing cgroup. */
		ps_log(repeat_level(&a->steer_last_err[i], d->error), "%s:%d: steering.interfaces[%zu] %s: %s%s; retrying",
		     a->cfg.path, a->cfg.steering.line, i, d->name, d->error,
		     d->err == -ENODEV ? ", or remove it from steering.interfaces" : "");
		return false;
	}
	a->steer_last_err[i] = 0;
	if (!strcmp(d->result, "attached"))
		pr_info("steering attached to %s (ifindex %u, link %u)", d->name, d->ifindex, d->link_id);
	else if (!strcmp(d->result, "updated"))
		pr_info("steering on %s updated: link %u runs a new program (mode %s, host %s)", d->name, d->link_id,
		     ps_steer_mode_name(a->cfg.steering.mode), a->o.host);
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
 * things failed. Called with a->lock and the state lock held.
 */
static size_t reconcile_steering(struct agent *a, bool refresh)
{
	struct ps_error why = {};
	const struct ps_steering_cfg *st = &a->cfg.steering;
	const char *names[PS_MAX_STEER_IFACES];
	size_t n = st->present ? st->n_interfaces : 0, failed = 0;
	struct steer_detach_ctx ctx = {
		.why = st->present ? "steering.interfaces no longer lists it" : "the config has no steering: section",
	};
	bool maps_removed = false;

	a->steer_wanted = n;
	for (size_t i = 0; i < n; i++) {
		ps_steer_dev_init(&a->steer_devs[i], st->interfaces[i]);
		names[i] = st->interfaces[i];
	}
	/* Retries and periodic passes cost nothing while every listed interface has its link, of this build. */
	if (st->present && (refresh || !ps_steer_attached_all(a->steer_devs, n) || !ps_steer_build_current())) {
		struct ps_steer_applied applied;
		const struct ps_host_cfg *self = ps_config_find_host(&a->cfg, a->o.host);

		if (ps_steer_apply_locked(&a->cfg, self, a->steer_devs, n, PS_STEER_KEEP_GOING, &applied, &why)) {
			ps_log(repeat_level(&a->steer_last_shared_err, why.msg), "%s:%d: steering: %s; retrying",
			       a->cfg.path, st->line, why.msg);
			failed = n ?: 1;
		} else {
			a->steer_last_shared_err = 0;
			for (size_t i = 0; i < n; i++)
				failed += !log_steer_dev(a, i);
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
	a->steer_failed = failed > n ? n : failed;
	return failed;
}

/*
 * Makes the pins what the config in force asks for: every listed cgroup
 * attached with its pools (existing attachments are adopted and, with
 * @refresh, refreshed in place; never duplicated), every other attachment
 * removed. Without @refresh (retries, the periodic pass) an existing
 * attachment is left as it is, which costs no program load. Called with
 * a->lock held.
 */
static int reconcile(struct agent *a, bool refresh)
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
		failed = a->cfg.n_cgroups;
		steer_failed = a->steer_wanted = a->cfg.steering.n_interfaces;
		a->steer_failed = steer_failed;
		env_err = err;
		goto out;
	}
	if (!a->last_err)
		a->last_err = calloc(a->cfg.n_cgroups, sizeof(*a->last_err));
	for (size_t i = 0; i < a->cfg.n_cgroups; i++) {
		unsigned long scratch = 0;

		ps_error_clear(&why);
		if (!apply_cgroup(a, &a->cfg.cgroups[i], w, refresh, &why)) {
			if (a->last_err)
				a->last_err[i] = 0;
			continue;
		}
		failed++;
		/* The same error again (a retry) is logged once, then at debug level. */
		ps_log(repeat_level(a->last_err ? &a->last_err[i] : &scratch, why.msg), "%s:%d: cgroups[%zu] %s: %s; retrying",
		       a->cfg.path, a->cfg.cgroups[i].line, i, a->cfg.cgroups[i].path, why.msg);
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
	steer_failed = reconcile_steering(a, refresh);
out:
	ps_state_unlock(lock);
	a->m.cgroups_wanted = a->cfg.n_cgroups;
	a->m.cgroups_failed = failed > a->cfg.n_cgroups ? a->cfg.n_cgroups : failed;
	a->m.interfaces_wanted = a->steer_wanted;
	a->m.interfaces_failed = a->steer_failed;
	a->failed = failed > 0 || steer_failed > 0;
	if (refresh)
		a->refresh_pending = a->failed;
	free(w);
	free(have);
	/* -EAGAIN: some cgroups or interfaces are not attached (yet); another error: nothing could be done. */
	return env_err ?: a->failed ? -EAGAIN : 0;
}

static double now_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long long now_monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
}

/* "1 of 2 cgroups attached, 1 of 1 interfaces steered": for the log and systemd's STATUS=. */
static const char *datapath_summary(const struct agent *a, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%llu of %llu cgroups attached", a->m.cgroups_wanted - a->m.cgroups_failed,
			 a->m.cgroups_wanted);

	if (a->steer_wanted && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ", %zu of %zu interfaces steered", a->steer_wanted - a->steer_failed,
			 a->steer_wanted);
	return buf;
}

static void reject(struct agent *a, const char *why)
{
	pthread_mutex_lock(&a->lock);
	a->m.last_reload_time = now_realtime();
	a->m.last_reload_ok = false;
	a->m.reloads_failed++;
	pthread_mutex_unlock(&a->lock);
	pr_err("config rejected, generation %llu stays in force: %s", a->m.generation, why);
}

/* SIGHUP or a changed file: a bad config is rejected, the running one stays. */
static void reload(struct agent *a, bool only_if_changed)
{
	struct ps_error why = {};
	struct ps_config cfg = {};
	char summary[128];
	char *content = NULL;
	size_t len = 0;
	int err;

	if (only_if_changed) {
		char *now;
		bool same;

		/* A file that became writable by others is refused even with the same content. */
		if (ps_agent_check_config_perms(a->o.config, &why)) {
			reject(a, why.msg);
			return;
		}
		now = read_all(a->o.config, &len);
		same = now && a->content && len == a->content_len && !memcmp(now, a->content, len);
		free(now);
		if (same) {
			pr_debug("%s changed on disk but its content did not: nothing to do", a->o.config);
			return;
		}
		pr_info("%s changed: reloading", a->o.config);
	}
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s", now_monotonic_usec(), a->o.config);
	err = load_config(a, &cfg, &content, &len, &why);
	pthread_mutex_lock(&a->lock);
	a->m.last_reload_time = now_realtime();
	if (err) {
		pthread_mutex_unlock(&a->lock);
		reject(a, why.msg);
		sd_notifyf(0, "READY=1\nSTATUS=config rejected (generation %llu in force): %s", a->m.generation,
			   why.msg);
		return;
	}
	ps_config_free(&a->cfg);
	free(a->content);
	free(a->last_err);
	a->last_err = NULL;
	memset(a->steer_last_err, 0, sizeof(a->steer_last_err));
	a->steer_last_shared_err = 0;
	a->cfg = cfg;
	a->content = content;
	a->content_len = len;
	a->m.config_hash = ps_metrics_config_hash(content, len);
	a->m.generation++;
	err = reconcile(a, true);
	a->m.last_reload_ok = !err;
	if (err)
		a->m.reloads_failed++;
	else
		a->m.reloads_ok++;
	pthread_mutex_unlock(&a->lock);
	ps_log(err ? PS_LOG_WARN : PS_LOG_INFO, "config generation %llu from %s %s", a->m.generation, a->o.config,
	     err ? "applied in part (see the errors above); retrying" : "applied");
	sd_notifyf(0, "READY=1\nSTATUS=generation %llu, %s", a->m.generation, datapath_summary(a, summary, sizeof(summary)));
}

static int watch_dir(struct agent *a, struct ps_error *error)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0)
		return ps_fail(error, errno, "inotify: %s", strerror(errno));
	/* The directory, not the file: editors and ConfigMaps replace the file by a rename. */
	if (inotify_add_watch(fd, a->dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB |
						  IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
		close(fd);
		return ps_fail(error, errno, "cannot watch %s: %s", a->dir, strerror(errno));
	}
	return fd;
}

/* True when the events concern the config file (or a ConfigMap's ..data swap). */
static bool drain_events(int fd, const char *base, bool *dir_gone)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool hit = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
				*dir_gone = true;
			if (ev->len && (!strcmp(ev->name, base) || !strcmp(ev->name, "..data")))
				hit = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return hit;
}

static int run_agent(int argc, char **argv, struct ps_error *error)
{
	struct agent *a = calloc(1, sizeof(*a));
	struct ps_metrics_server *srv = NULL;
	char hostbuf[256], real[PATH_MAX], summary[128], *slash;
	size_t len = 0;
	sigset_t mask;
	int sigfd = -1, inofd = -1, err;
	long long due_change = -1, due_retry = -1, due_periodic = -1;

	if (!a)
		return -ENOMEM;
	a->o.interval = 60;
	pthread_mutex_init(&a->lock, NULL);
	err = ps_cli_parse(&ps_cmd_agent, argc, argv, on_agent_opt, &a->o, error);
	if (err) {
		free(a);
		return err > 0 ? 0 : err;
	}
	/* Every line names the agent; with -j they are JSON lines. */
	ps_log_set_component("agent");
	if (ps_log_get_level() < PS_LOG_INFO)
		ps_log_set_level(PS_LOG_INFO); /* the internals' progress messages belong in the log */
	if (!a->o.config) {
		err = ps_fail(error, EINVAL, "agent needs --config FILE: the fleet config, with a cgroups: section or steering.interfaces");
		goto out;
	}
	if (!a->o.host) {
		if (gethostname(hostbuf, sizeof(hostbuf))) {
			err = ps_fail(error, errno, "cannot read the hostname: pass --host NAME");
			goto out;
		}
		hostbuf[sizeof(hostbuf) - 1] = '\0';
		a->o.host = hostbuf;
	}
	/* An explicit -j wins over the journal. */
	if (!ps_log_json() && ps_journal_is_stderr()) {
		ps_journal_set_context(a->o.host, a->o.config, &a->m.generation);
		ps_journal_take_internal_log();
	}
	err = ps_env_require_host(true, error);
	if (err)
		goto out;
	if (!realpath(a->o.config, real)) {
		err = ps_fail(error, errno, "config %s: %s", a->o.config, strerror(errno));
		goto out;
	}
	/* Watch the directory the path names (not the symlink's target: ConfigMaps swap those). */
	snprintf(a->dir, sizeof(a->dir), "%s", a->o.config);
	slash = strrchr(a->dir, '/');
	snprintf(a->base, sizeof(a->base), "%s", slash ? slash + 1 : a->o.config);
	if (!slash)
		snprintf(a->dir, sizeof(a->dir), ".");
	else if (slash == a->dir)
		a->dir[1] = '\0';
	else
		*slash = '\0';

	err = load_config(a, &a->cfg, &a->content, &len, error);
	if (err)
		goto out;
	a->content_len = len;
	a->m.config_hash = ps_metrics_config_hash(a->content, len);

	/* Signals become events of the loop; SIGPIPE never kills a daemon. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0) {
		err = ps_fail(error, errno, "signalfd: %s", strerror(errno));
		goto out;
	}
	inofd = watch_dir(a, error);
	if (inofd < 0) {
		err = inofd;
		goto out;
	}

	/* Before anything changes: a busy address must not leave half a start behind. */
	if (a->o.metrics) {
		err = ps_metrics_start(a->o.metrics, &a->m, &a->lock, &srv, error);
		if (err)
			goto out;
		pr_info("metrics at http://%s/metrics", a->o.metrics);
	}
	pthread_mutex_lock(&a->lock);
	a->m.generation = 1;
	a->m.last_reload_time = now_realtime();
	err = reconcile(a, true);
	a->m.last_reload_ok = !err;
	__atomic_store_n(&a->m.ready, !err || err == -EAGAIN, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&a->lock);
	if (err && err != -EAGAIN)
		goto out; /* the host cannot run portslice: the error says why */
	ps_log(a->failed ? PS_LOG_WARN : PS_LOG_INFO, "running: config %s (generation 1), host %s, %s%s", a->o.config, a->o.host,
	     datapath_summary(a, summary, sizeof(summary)), a->failed ? "; retrying the others every 5 s" : "");
	/*
	 * Ready: the datapath of every listed cgroup and interface that exists is
	 * in place. What failed (a missing cgroup or interface, a driver without
	 * XDP) is logged with its fix and retried; it does not hold readiness
	 * back, or systemd would kill an agent that keeps the rest working.
	 */
	sd_notifyf(0, "READY=1\nSTATUS=generation 1, %s\nMAINPID=%d", datapath_summary(a, summary, sizeof(summary)),
		   (int)getpid());
	err = 0;

	for (;;) {
		struct pollfd pfd[2] = { { sigfd, POLLIN, 0 }, { inofd, POLLIN, 0 } };
		long long now = (long long)(now_monotonic_usec() / 1000), timeout = -1;
		struct signalfd_siginfo si;
		bool dir_gone = false;

		if (a->failed && due_retry < 0)
			due_retry = now + 5000;
		if (a->o.interval && due_periodic < 0)
			due_periodic = now + a->o.interval * 1000LL;
		for (long long d, i = 0; i < 3; i++) {
			d = i == 0 ? due_change : i == 1 ? due_retry : due_periodic;
			if (d >= 0 && (timeout < 0 || d - now < timeout))
				timeout = d - now < 0 ? 0 : d - now;
		}
		if (poll(pfd, inofd >= 0 ? 2 : 1, (int)timeout) < 0 && errno != EINTR) {
			err = ps_fail(error, errno, "poll: %s", strerror(errno));
			break;
		}
		now = (long long)(now_monotonic_usec() / 1000);
		if (pfd[0].revents & POLLIN && read(sigfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP) {
				pr_info("SIGHUP: reloading %s", a->o.config);
				reload(a, false);
				due_retry = -1;
				continue;
			}
			pr_info("%s: stopping; the datapath stays in place ('portslice detach --all' removes it)",
			     strsignal(si.ssi_signo));
			sd_notify(0, "STOPPING=1");
			break;
		}
		if (inofd >= 0 && pfd[1].revents & POLLIN && drain_events(inofd, a->base, &dir_gone))
			due_change = now + 200; /* editors write in steps: settle first */
		if (dir_gone) {
			pr_warn("%s was removed or moved: no longer watching it; reload with SIGHUP", a->dir);
			close(inofd);
			inofd = -1;
		}
		if (due_change >= 0 && now >= due_change) {
			due_change = -1;
			reload(a, true);
			due_retry = -1;
		}
		if ((due_retry >= 0 && now >= due_retry) || (due_periodic >= 0 && now >= due_periodic)) {
			bool was_failed = a->failed;

			due_retry = due_periodic = -1;
			pthread_mutex_lock(&a->lock);
			err = reconcile(a, a->refresh_pending);
			if (!err && was_failed) {
				a->m.last_reload_ok = true;
				pr_info("every listed cgroup is attached now%s",
				     a->steer_wanted ? ", and every listed interface steered" : "");
			}
			pthread_mutex_unlock(&a->lock);
			err = 0;
		}
	}
out:
	ps_metrics_stop(srv);
	if (sigfd >= 0)
		close(sigfd);
	if (inofd >= 0)
		close(inofd);
	ps_config_free(&a->cfg);
	free(a->content);
	free(a->last_err);
	pthread_mutex_destroy(&a->lock);
	free(a);
	return err;
}

const struct ps_cmd ps_cmd_agent = {
	.name = "agent",
	.synopsis = "--config FILE [--host NAME] [--metrics ADDR:PORT] [--interval SECONDS]",
	.summary = "Run in the foreground, keeping the config's cgroups and steering interfaces attached; reload on SIGHUP or file change.",
	.details =
		"Attaches the cgroups of cgroups: and puts steering on the interfaces of\n"
		"steering.interfaces (run it in the network namespace of those interfaces). Adopts\n"
		"what is pinned, attaches what is missing, detaches what the config no longer lists\n"
		"(every interface's steering when steering: is gone), and reconciles again on SIGHUP,\n"
		"when the config file changes (its directory is watched, so editors' rename-replace\n"
		"works) and every --interval seconds. A bad config is rejected with its file, line\n"
		"and field; the running one stays in force. A listed cgroup or interface that does\n"
		"not exist is retried every 5 s. SIGTERM stops the agent and leaves the datapath in\n"
		"place ('portslice detach --all' removes it). Under systemd (Type=notify) READY=1 is\n"
		"sent once the datapath of every existing listed cgroup and interface is in place.\n"
		"The config file and its directory must not be writable by non-root users.",
	.opts = agent_opts,
	.run = run_agent,
};
