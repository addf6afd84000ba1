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
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>

#include "agent/agent.h"
#include "agent/lease_task.h"
#include "agent/load.h"
#include "agent/reconcile.h"
#include "agent/steer_follow.h"
#include "agent/watch.h"
#include "core/env.h"
#include "core/fleet.h"
#include "core/journal.h"
#include "core/log.h"
#include "core/trust.h"
#include "metrics.h"

/* What `portslice help agent` says beyond the options. */
static const char agent_details[] =
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
	"The config file and its directory must not be writable by non-root users.";

enum {
	OPT_METRICS = 'm',
	OPT_INTERVAL = 'i',
};

struct agent_opts {
	struct ps_fleet_opts fleet;
	const char *metrics;
	unsigned int interval;
};

static const struct ps_opt agent_opts[] = {
	PS_FLEET_OPT_CONFIG("fleet config with cgroups: and/or steering.interfaces (required; must not be writable by non-root users)"),
	PS_FLEET_OPT_HOST,
	{ "metrics", OPT_METRICS, "ADDR:PORT", "serve Prometheus metrics over HTTP at ADDR:PORT/metrics (default: off)" },
	{ "interval", OPT_INTERVAL, "SECONDS", "reconcile this often even without a change, 0 never (default 60; failures retry every 5 s)" },
	{ NULL },
};

static int on_agent_opt(int key, const char *arg, void *ctx, struct ps_error *error)
{
	struct agent_opts *o = ctx;
	char *end;
	unsigned long v;

	if (ps_fleet_opt(&o->fleet, key, arg))
		return 0;
	if (key == OPT_METRICS) {
		o->metrics = arg;
	} else if (key == OPT_INTERVAL) {
		v = strtoul(arg, &end, 10);
		if (!*arg || *end || v > 86400)
			return ps_fail(error, EINVAL, "--interval %s: expected 0-86400 seconds", arg);
		o->interval = (unsigned int)v;
	}
	return 0;
}

struct agent {
	struct agent_opts o;
	const char *config;         /* o.fleet.config */
	char host[sizeof(((struct ps_fleet *)0)->host)]; /* --host, or the hostname */
	struct ps_agent_watch watch;
	struct ps_config cfg;       /* the config in force */
	char *content;              /* its bytes, to skip no-op change events */
	size_t content_len;
	pthread_mutex_t lock;       /* cfg, state changes and metrics; scrapes take it */
	struct ps_agent_metrics m;
	bool refresh_pending;       /* the last reconcile failed refreshing settings: retries refresh too */
	struct ps_reconcile rec;    /* what the last reconcile left */
	struct ps_lease_task *lease; /* the dynamic pools' leasing task, NULL without any */
	struct ps_steer_follow *follow; /* steering of the dynamic pools, NULL without; a->m.follow too */
};

/*
 * The leasing task for the config in force: kept across a reload that
 * leaves its settings alone (a restart would cost the lease), replaced
 * otherwise. Called without a->lock: the task publishes under it.
 */
static int follow_leases(struct agent *a, const struct ps_config *cfg, struct ps_error *error)
{
	if (a->lease && ps_lease_task_same(a->lease, cfg, a->host))
		return 0;
	if (a->lease) {
		pr_info("leases: etcd or dynamic pool settings changed: restarting the leasing task");
		ps_lease_task_stop(a->lease);
		a->lease = NULL;
	}
	return ps_lease_task_start(&a->lease, cfg, a->host, &a->lock, &a->m.lease, error);
}

/*
 * Steering of the dynamic pools, after every reconcile: the steering maps
 * may have come, gone or been rewritten. Called with a->lock held, which a
 * scrape of the follower's metrics holds too.
 */
static void follow_steering(struct agent *a)
{
	struct ps_error why = {};

	if (ps_steer_follow_sync(&a->follow, &a->cfg, a->host, &why))
		pr_err("steering: cannot follow the leases: %s; replies to the dynamic pools' ports are dropped until it can", why.msg);
	a->m.follow = a->follow;
}

/* The pins made what a->cfg asks for, and the metrics told. Called with a->lock held. */
static int reconcile(struct agent *a, bool refresh)
{
	int err = ps_reconcile(&a->rec, refresh);

	follow_steering(a);

	a->m.cgroups_wanted = a->cfg.n_cgroups;
	a->m.cgroups_failed = a->rec.cgroups_failed;
	a->m.interfaces_wanted = a->rec.steer_wanted;
	a->m.interfaces_failed = a->rec.steer_failed;
	if (refresh)
		a->refresh_pending = a->rec.failed;
	return err;
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

	if (a->rec.steer_wanted && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ", %zu of %zu interfaces steered", a->rec.steer_wanted - a->rec.steer_failed,
			 a->rec.steer_wanted);
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
		if (ps_config_trusted(a->config, &why)) {
			reject(a, why.msg);
			return;
		}
		now = ps_agent_read_file(a->config, &len);
		same = now && a->content && len == a->content_len && !memcmp(now, a->content, len);
		free(now);
		if (same) {
			pr_debug("%s changed on disk but its content did not: nothing to do", a->config);
			return;
		}
		pr_info("%s changed: reloading", a->config);
	}
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s", now_monotonic_usec(), a->config);
	err = ps_agent_load_config(a->config, a->host, &cfg, &content, &len, &why);
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
	ps_reconcile_forget(&a->rec);
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
	ps_error_clear(&why);
	if (follow_leases(a, &a->cfg, &why))
		pr_err("leases: %s; the dynamic pools hand out no ports until a reload fixes it", why.msg);
	ps_log(err ? PS_LOG_WARN : PS_LOG_INFO, "config generation %llu from %s %s", a->m.generation, a->config,
	     err ? "applied in part (see the errors above); retrying" : "applied");
	sd_notifyf(0, "READY=1\nSTATUS=generation %llu, %s", a->m.generation, datapath_summary(a, summary, sizeof(summary)));
}

/* The host named, the config loaded and watched, signals and the endpoint set up: nothing applied yet. */
static int agent_start(struct agent *a, int *sigfd, struct ps_metrics_server **srv, struct ps_error *error)
{
	struct ps_fleet_opts name_only = { .host = a->o.fleet.host };
	struct ps_fleet named;
	char real[PATH_MAX];
	size_t len = 0;
	sigset_t mask;
	int err;

	/* The config is the agent's to reload: the fleet only names this host. */
	err = ps_fleet_open(&named, &name_only, error);
	snprintf(a->host, sizeof(a->host), "%s", named.host);
	ps_fleet_close(&named);
	if (err)
		return err;
	/* An explicit -j wins over the journal. */
	if (!ps_log_json() && ps_journal_is_stderr()) {
		ps_journal_set_context(a->host, a->config, &a->m.generation);
		ps_journal_take_internal_log();
	}
	err = ps_env_require_host(true, error);
	if (err)
		return err;
	if (!realpath(a->config, real))
		return ps_fail(error, errno, "config %s: %s", a->config, strerror(errno));
	err = ps_agent_load_config(a->config, a->host, &a->cfg, &a->content, &len, error);
	if (err)
		return err;
	a->content_len = len;
	a->m.config_hash = ps_metrics_config_hash(a->content, len);

	/* Signals become events of the loop; SIGPIPE never kills a daemon. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	*sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (*sigfd < 0)
		return ps_fail(error, errno, "signalfd: %s", strerror(errno));
	err = ps_agent_watch_open(&a->watch, a->config, error);
	if (err < 0)
		return err;
	/* Before anything changes: a busy address must not leave half a start behind. */
	if (a->o.metrics) {
		err = ps_metrics_start(a->o.metrics, &a->m, &a->lock, srv, error);
		if (err)
			return err;
		pr_info("metrics at http://%s/metrics", a->o.metrics);
	}
	return 0;
}

/* Until a stop signal: reloads on SIGHUP and on change, retries what failed, and reconciles every --interval. */
static int agent_loop(struct agent *a, int sigfd, struct ps_error *error)
{
	long long due_change = -1, due_retry = -1, due_periodic = -1;

	for (;;) {
		struct pollfd pfd[2] = { { sigfd, POLLIN, 0 }, { a->watch.fd, POLLIN, 0 } };
		long long now = (long long)(now_monotonic_usec() / 1000), timeout = -1;
		struct signalfd_siginfo si;
		bool dir_gone = false;

		if (a->rec.failed && due_retry < 0)
			due_retry = now + 5000;
		if (a->o.interval && due_periodic < 0)
			due_periodic = now + a->o.interval * 1000LL;
		for (long long d, i = 0; i < 3; i++) {
			d = i == 0 ? due_change : i == 1 ? due_retry : due_periodic;
			if (d >= 0 && (timeout < 0 || d - now < timeout))
				timeout = d - now < 0 ? 0 : d - now;
		}
		if (poll(pfd, a->watch.fd >= 0 ? 2 : 1, (int)timeout) < 0 && errno != EINTR)
			return ps_fail(error, errno, "poll: %s", strerror(errno));
		now = (long long)(now_monotonic_usec() / 1000);
		if (pfd[0].revents & POLLIN && read(sigfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo != SIGHUP) {
				pr_info("%s: stopping; the datapath stays in place ('portslice detach --all' removes it)",
					strsignal(si.ssi_signo));
				sd_notify(0, "STOPPING=1");
				return 0;
			}
			pr_info("SIGHUP: reloading %s", a->config);
			reload(a, false);
			due_retry = -1;
			continue;
		}
		if (a->watch.fd >= 0 && pfd[1].revents & POLLIN && ps_agent_watch_changed(&a->watch, &dir_gone))
			due_change = now + 200; /* editors write in steps: settle first */
		if (dir_gone) {
			pr_warn("%s was removed or moved: no longer watching it; reload with SIGHUP", a->watch.dir);
			ps_agent_watch_close(&a->watch);
		}
		if (due_change >= 0 && now >= due_change) {
			due_change = -1;
			reload(a, true);
			due_retry = -1;
		}
		if ((due_retry >= 0 && now >= due_retry) || (due_periodic >= 0 && now >= due_periodic)) {
			bool was_failed = a->rec.failed;

			due_retry = due_periodic = -1;
			pthread_mutex_lock(&a->lock);
			if (!reconcile(a, a->refresh_pending) && was_failed) {
				a->m.last_reload_ok = true;
				pr_info("every listed cgroup is attached now%s",
					a->rec.steer_wanted ? ", and every listed interface steered" : "");
			}
			pthread_mutex_unlock(&a->lock);
		}
	}
}

static int run_agent(int argc, char **argv, struct ps_error *error)
{
	struct agent *a = calloc(1, sizeof(*a));
	struct ps_metrics_server *srv = NULL;
	char summary[128];
	int sigfd = -1, err;

	if (!a)
		return -ENOMEM;
	a->o.interval = 60;
	a->watch.fd = -1;
	a->rec.cfg = &a->cfg;
	a->rec.host = a->host;
	pthread_mutex_init(&a->lock, NULL);
	err = ps_cli_parse(&ps_cmd_agent, argc, argv, on_agent_opt, &a->o, error);
	if (err) {
		free(a);
		return err > 0 ? 0 : err;
	}
	a->config = a->o.fleet.config;
	/* Every line names the agent; with -j they are JSON lines. */
	ps_log_set_component("agent");
	if (ps_log_get_level() < PS_LOG_INFO)
		ps_log_set_level(PS_LOG_INFO); /* the internals' progress messages belong in the log */
	if (!a->config) {
		err = ps_fail(error, EINVAL, "agent needs --config FILE: the fleet config, with a cgroups: section or steering.interfaces");
		goto out;
	}
	err = agent_start(a, &sigfd, &srv, error);
	if (err)
		goto out;
	pthread_mutex_lock(&a->lock);
	a->m.generation = 1;
	a->m.last_reload_time = now_realtime();
	err = reconcile(a, true);
	a->m.last_reload_ok = !err;
	__atomic_store_n(&a->m.ready, !err || err == -EAGAIN, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&a->lock);
	if (err && err != -EAGAIN)
		goto out; /* the host cannot run portslice: the error says why */
	err = follow_leases(a, &a->cfg, error);
	if (err)
		goto out;
	ps_log(a->rec.failed ? PS_LOG_WARN : PS_LOG_INFO, "running: config %s (generation 1), host %s, %s%s", a->config,
	       a->host, datapath_summary(a, summary, sizeof(summary)), a->rec.failed ? "; retrying the others every 5 s" : "");
	/*
	 * Ready: the datapath of every listed cgroup and interface that exists is
	 * in place. What failed (a missing cgroup or interface, a driver without
	 * XDP) is logged with its fix and retried; it does not hold readiness
	 * back, or systemd would kill an agent that keeps the rest working.
	 */
	sd_notifyf(0, "READY=1\nSTATUS=generation 1, %s\nMAINPID=%d", datapath_summary(a, summary, sizeof(summary)),
		   (int)getpid());
	err = agent_loop(a, sigfd, error);
out:
	/* Before the metrics server: the task publishes under the lock it serves from. */
	ps_lease_task_stop(a->lease);
	ps_metrics_stop(srv);
	ps_steer_follow_stop(a->follow);
	if (sigfd >= 0)
		close(sigfd);
	ps_agent_watch_close(&a->watch);
	ps_config_free(&a->cfg);
	free(a->content);
	ps_reconcile_forget(&a->rec);
	pthread_mutex_destroy(&a->lock);
	free(a);
	return err;
}

const struct ps_cmd ps_cmd_agent = {
	.name = "agent", .run = run_agent, .opts = agent_opts, .details = agent_details,
	.synopsis = "--config FILE [--host NAME] [--metrics ADDR:PORT] [--interval SECONDS]",
	.summary = "Run in the foreground, keeping the config's cgroups and steering interfaces attached; reload on SIGHUP or file change.",
};
