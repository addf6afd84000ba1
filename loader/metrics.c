// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* portslice stats: metrics in Prometheus' text format; also the agent's endpoint. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include <microhttpd.h>

#include "core/cli.h"
#include "core/env.h"
#include "core/log.h"
#include "core/percpu.h"
#include "metrics.h"
#include "core/pins.h"
#include "sock/maps.h"
#include "steer.h"
#include "sock/status.h"
#include "core/version.h"

/* ---- families ---------------------------------------------------------- */

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static unsigned long long jnum(json_object *o, const char *a, const char *b, const char *c)
{
	json_object *x = o;

	if (a && !json_object_object_get_ex(x, a, &x))
		return 0;
	if (b && !json_object_object_get_ex(x, b, &x))
		return 0;
	if (c && !json_object_object_get_ex(x, c, &x))
		return 0;
	return json_object_get_uint64(x);
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *x;

	return json_object_object_get_ex(o, key, &x) ? json_object_get_string(x) : "";
}

static const char *const protos[] = { "tcp", "udp" };

/* One series per pool (and per protocol when @per_proto) of a counter in status' JSON. */
static void per_pool(FILE *f, json_object *pools, const char *name, const char *type, const char *help,
		     const char *a, const char *b, bool per_proto)
{
	size_t n = json_object_array_length(pools);

	family(f, name, type, help);
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(pools, i);

		if (!per_proto) {
			fprintf(f, "%s{pool=\"%s\"} %llu\n", name, jstr(p, "name"), jnum(p, a, b, NULL));
			continue;
		}
		for (int k = 0; k < 2; k++)
			fprintf(f, "%s{pool=\"%s\",proto=\"%s\"} %llu\n", name, jstr(p, "name"), protos[k],
				b ? jnum(p, a, protos[k], b) : jnum(p, a, protos[k], NULL));
	}
}

/* Failed syscalls, by the errno the application saw and the counter behind it. */
static const struct {
	const char *counter, *errno_name;
} failures[] = {
	{ "exhausted", "EADDRNOTAVAIL" }, { "map_full", "EADDRNOTAVAIL" }, { "conflicts", "EADDRNOTAVAIL" },
	{ "bind_denied", "EPERM" },       { "send_denied", "EPERM" },
	{ "send_conflicts", "EADDRINUSE" }, { "bind_in_use", "EADDRINUSE" }, { "fenced", "EADDRNOTAVAIL" },
};

/* Dynamic pools (blocks leased by the agent) and the lease they hand out ports under. */
static void dynamic_metrics(FILE *f, json_object *root, json_object *pools)
{
	json_object *lease;

	if (!json_object_object_get_ex(root, "lease", &lease))
		return;
	family(f, "portslice_dynamic_pool_info", "gauge",
	       "A dynamic pool: its blocks are leased from etcd by the agent (value 1).");
	for (size_t i = 0; i < json_object_array_length(pools); i++) {
		json_object *p = json_object_array_get_idx(pools, i), *d;

		if (json_object_object_get_ex(p, "dynamic", &d) && json_object_get_boolean(d))
			fprintf(f, "portslice_dynamic_pool_info{pool=\"%s\",block_size=\"%llu\",min_blocks=\"%llu\",max_blocks=\"%llu\"} 1\n",
				jstr(p, "name"), jnum(p, "block_size", NULL, NULL), jnum(p, "min_blocks", NULL, NULL),
				jnum(p, "max_blocks", NULL, NULL));
	}
	family(f, "portslice_lease_fenced", "gauge",
	       "1: past the lease's fencing deadline (or no lease): dynamic pools take no new claim.");
	fprintf(f, "portslice_lease_fenced %d\n", json_object_get_boolean(json_object_object_get(lease, "fenced")));
	family(f, "portslice_lease_ttl_left_seconds", "gauge", "Until etcd may expire the host's lease at the earliest.");
	fprintf(f, "portslice_lease_ttl_left_seconds %.3f\n", jnum(lease, "ttl_left_ms", NULL, NULL) / 1000.0);
	family(f, "portslice_lease_etcd_ok", "gauge", "1: etcd answered the last keepalive.");
	fprintf(f, "portslice_lease_etcd_ok %d\n", json_object_get_boolean(json_object_object_get(lease, "etcd_ok")));
}

static void pool_metrics(FILE *f, json_object *root)
{
	json_object *pools;
	size_t n;

	if (!json_object_object_get_ex(root, "pools", &pools))
		pools = NULL;
	family(f, "portslice_attached_cgroups", "gauge", "Cgroups whose sockets portslice places (pinned attachments).");
	/* Cgroups whose sockets are placed: not a removed cgroup's pins, nor a detached one draining. */
	fprintf(f, "portslice_attached_cgroups %llu\n", jnum(root, "attached_cgroups", NULL, NULL));
	family(f, "portslice_unattached_pinned_cgroups", "gauge",
	       "Cgroups with pins that place no socket: removed since attached, or detached and draining.");
	fprintf(f, "portslice_unattached_pinned_cgroups{state=\"removed\"} %llu\n", jnum(root, "removed_cgroups", NULL, NULL));
	fprintf(f, "portslice_unattached_pinned_cgroups{state=\"draining\"} %llu\n", jnum(root, "draining_cgroups", NULL, NULL));
	if (!pools)
		return;
	n = json_object_array_length(pools);

	family(f, "portslice_pool_info", "gauge", "A pool of this host: its shared address and slice (value 1).");
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(pools, i);

		fprintf(f, "portslice_pool_info{pool=\"%s\",address=\"%s\",first_port=\"%llu\",last_port=\"%llu\"} 1\n",
			jstr(p, "name"), jstr(p, "address"), jnum(p, "first_port", NULL, NULL),
			jnum(p, "last_port", NULL, NULL));
	}
	per_pool(f, pools, "portslice_slice_ports", "gauge",
		 "Ports in this host's slice of the pool: the capacity, per destination, of connect().", "slice_size",
		 NULL, false);
	per_pool(f, pools, "portslice_tuples_in_use", "gauge", "4-tuples claimed by open sockets.", "tuples", NULL,
		 true);
	per_pool(f, pools, "portslice_ports_in_use", "gauge", "Slice ports with a claimed tuple or a bind().",
		 "ports_in_use", NULL, false);
	per_pool(f, pools, "portslice_ports_bound", "gauge", "Slice ports held whole by bind().", "ports_bound", NULL,
		 false);
	per_pool(f, pools, "portslice_busiest_destination_tuples", "gauge",
		 "Tuples to the busiest destination; connect() to it fails when this reaches portslice_slice_ports.",
		 "busiest_destination", "tuples", false);
	per_pool(f, pools, "portslice_time_wait_tuples", "gauge",
		 "Tuples on slice ports the kernel holds in TIME_WAIT: no connect() to their destination gets them meanwhile.",
		 "time_wait", "tuples", false);
	per_pool(f, pools, "portslice_headroom_ports", "gauge",
		 "Slice ports the destination with the fewest left may still get (not claimed, in TIME_WAIT or bound): connect() to it fails at 0.",
		 "headroom", NULL, false);
	per_pool(f, pools, "portslice_allocations_total", "counter", "Tuples handed out by connect().", "counters",
		 "allocated", true);
	per_pool(f, pools, "portslice_releases_total", "counter", "Tuples given back when their socket was released.",
		 "counters", "released", true);
	family(f, "portslice_failures_total", "counter",
	       "Syscalls portslice failed, by the errno the application saw and the reason (exhausted, map_full, conflicts: connect(); bind_denied: bind(); send_denied: sendmsg(); fenced: a dynamic pool past the lease's fencing deadline).");
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(pools, i);

		for (int k = 0; k < 2; k++)
			for (size_t r = 0; r < sizeof(failures) / sizeof(failures[0]); r++)
				fprintf(f, "portslice_failures_total{pool=\"%s\",proto=\"%s\",errno=\"%s\",reason=\"%s\"} %llu\n",
					jstr(p, "name"), protos[k], failures[r].errno_name, failures[r].counter,
					jnum(p, "counters", protos[k], failures[r].counter));
	}
	per_pool(f, pools, "portslice_kernel_held_total", "counter",
		 "Candidate tuples skipped because the kernel still holds them (TIME_WAIT or a foreign socket).",
		 "counters", "kernel_held", true);
	per_pool(f, pools, "portslice_bind_failed_total", "counter",
		 "Candidate ports skipped because bpf_bind() failed on them.", "counters", "bind_failed", true);
	per_pool(f, pools, "portslice_bound_total", "counter", "bind(pool address, 0) calls given a slice port.",
		 "counters", "bound", true);
	dynamic_metrics(f, root, pools);
}

/* ---- steering (present once `steer` pinned its maps) -------------------- */

static const char *const steer_verdicts[] = { PS_STEER_STAT_NAMES };
_Static_assert(sizeof(steer_verdicts) / sizeof(steer_verdicts[0]) == sizeof(struct ps_steer_stats) / sizeof(__u64),
	       "steer_verdicts must name every field of struct ps_steer_stats");

static void steer_metrics(FILE *f)
{
	int fd = ps_pin_map_open("ps_steer_stats");
	__u64 sum[sizeof(struct ps_steer_stats) / sizeof(__u64)];
	__u32 key = 0;

	if (fd < 0)
		return;
	if (!ps_percpu_sum(fd, &key, sum, (sizeof(sum) / sizeof(sum[0])))) {
		family(f, "portslice_steering_packets_total", "counter",
		       "Packets seen by the XDP reply-steering program, by verdict.");
		for (size_t i = 0; i < (sizeof(sum) / sizeof(sum[0])); i++)
			fprintf(f, "portslice_steering_packets_total{verdict=\"%s\"} %llu\n", steer_verdicts[i],
				(unsigned long long)sum[i]);
	}
	close(fd);
}

unsigned long long ps_metrics_config_hash(const char *buf, size_t len)
{
	unsigned long long h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)buf[i]) * 0x100000001b3ULL;
	return h;
}

static void agent_metrics(FILE *f, const struct ps_agent_metrics *a)
{
	family(f, "portslice_config_info", "gauge",
	       "The config file in force: FNV-1a 64 of its bytes (value 1); the same on every host that runs the same file.");
	fprintf(f, "portslice_config_info{hash=\"%016llx\"} 1\n", a->config_hash);
	family(f, "portslice_config_generation", "gauge", "Config generations the agent has applied (1 = the first load).");
	fprintf(f, "portslice_config_generation %llu\n", a->generation);
	family(f, "portslice_config_last_reload_success", "gauge",
	       "1 if the latest config load or reload was applied, 0 if it was rejected (the previous config stays in force).");
	fprintf(f, "portslice_config_last_reload_success %d\n", a->last_reload_ok ? 1 : 0);
	family(f, "portslice_config_last_reload_timestamp_seconds", "gauge", "When the latest load or reload was tried.");
	fprintf(f, "portslice_config_last_reload_timestamp_seconds %.3f\n", a->last_reload_time);
	family(f, "portslice_config_reloads_total", "counter", "Config reloads, by result.");
	fprintf(f, "portslice_config_reloads_total{result=\"ok\"} %llu\n", a->reloads_ok);
	fprintf(f, "portslice_config_reloads_total{result=\"failed\"} %llu\n", a->reloads_failed);
	family(f, "portslice_agent_cgroups", "gauge", "Cgroups the running config lists, by state at the last reconcile.");
	fprintf(f, "portslice_agent_cgroups{state=\"attached\"} %llu\n", a->cgroups_wanted - a->cgroups_failed);
	fprintf(f, "portslice_agent_cgroups{state=\"failed\"} %llu\n", a->cgroups_failed);
	family(f, "portslice_agent_interfaces", "gauge",
	       "Steering interfaces the running config lists, by state at the last reconcile.");
	fprintf(f, "portslice_agent_interfaces{state=\"steered\"} %llu\n", a->interfaces_wanted - a->interfaces_failed);
	fprintf(f, "portslice_agent_interfaces{state=\"failed\"} %llu\n", a->interfaces_failed);
}

struct counter {
	const char *name, *help;
	uint64_t v;
};

static void write_counters(FILE *f, const struct counter *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		family(f, c[i].name, "counter", c[i].help);
		fprintf(f, "%s %llu\n", c[i].name, (unsigned long long)c[i].v);
	}
}

/* The leasing task's families (docs/fleet.md): only an agent with dynamic pools has them. */
static void lease_metrics(FILE *f, const struct ps_lease_task_stats *l)
{
	const struct ps_lease_stats *e = &l->engine;

	family(f, "portslice_lease_blocks", "gauge", "Blocks of dynamic pools this host has, by state.");
	for (unsigned int i = 0; i < l->n_pools; i++) {
		fprintf(f, "portslice_lease_blocks{pool=\"%s\",state=\"held\"} %u\n", l->pools[i].name, l->pools[i].held);
		fprintf(f, "portslice_lease_blocks{pool=\"%s\",state=\"draining\"} %u\n", l->pools[i].name,
			l->pools[i].draining);
		fprintf(f, "portslice_lease_blocks{pool=\"%s\",state=\"lost\"} %u\n", l->pools[i].name, l->pools[i].lost);
	}
	/* Fenced, TTL left and etcd_ok come from the pinned lease state (pool_metrics), even without the agent. */
	const struct counter counters[] = {
		{ "portslice_lease_grows_total", "Blocks taken beyond min_blocks because of load.", e->grows },
		{ "portslice_lease_shrinks_total", "Blocks put to drain after a quiet period.", e->shrinks },
		{ "portslice_lease_releases_total", "Drained blocks given back to the fleet.", e->releases },
		{ "portslice_lease_takes_lost_total", "Takes of a free block that another host won.", e->takes_lost },
		{ "portslice_lease_losses_total", "Leases etcd expired or no longer knew.", e->lease_losses },
		{ "portslice_lease_fences_total", "Times this host fenced itself while it had a lease.", e->fences },
		{ "portslice_lease_keepalive_failures_total", "Keepalives etcd did not answer.", e->keepalive_failures },
		{ "portslice_lease_quarantined_total", "Orphaned blocks of dead hosts this host put in quarantine.", e->quarantined },
		{ "portslice_lease_adopted_total", "Leases of before a restart this host kept.", e->adopted },
		{ "portslice_lease_readopted_total", "Own blocks taken back under a new lease after the old one expired.",
		  e->readopted },
		{ "portslice_etcd_requests_total", "Requests to etcd, by this host's leasing task.", l->etcd_requests },
		{ "portslice_etcd_failovers_total", "Requests that went on to another etcd endpoint.", l->etcd_failovers },
	};

	write_counters(f, counters, sizeof(counters) / sizeof(counters[0]));
}

/* The steering follower's families (agent/steer_follow.h): an agent that steers dynamic pools. */
static void follow_metrics(FILE *f, const struct ps_steer_follow *follow)
{
	static const double bounds_ms[] = PS_LEASE_WATCH_LAG_BOUNDS_MS;
	struct ps_lease_watch_stats st;
	uint64_t cumulative = 0;

	ps_steer_follow_stats(follow, &st);
	family(f, "portslice_steer_follow_pools", "gauge", "Dynamic pools whose steering follows the lease table in etcd.");
	fprintf(f, "portslice_steer_follow_pools %zu\n", ps_steer_follow_pools(follow));
	family(f, "portslice_steer_follow_connected", "gauge", "1: the follower's last table read or watch was answered.");
	fprintf(f, "portslice_steer_follow_connected %d\n", st.connected);
	family(f, "portslice_steer_follow_revision", "gauge", "The etcd revision of the lease table steering is at.");
	fprintf(f, "portslice_steer_follow_revision %lld\n", (long long)st.revision);

	const struct counter counters[] = {
		{ "portslice_steer_follow_events_total", "Lease table changes the watch delivered.", st.events },
		{ "portslice_steer_follow_applied_total", "Block owners written into the steering map from the watch.", st.applied },
		{ "portslice_steer_follow_snapshots_total", "Lease tables read whole (start, compaction).", st.snapshots },
		{ "portslice_steer_follow_watches_total", "Watch requests sent to etcd.", st.watches },
		{ "portslice_steer_follow_errors_total", "Failed table reads, watches and map writes (retried).", st.errors },
		{ "portslice_steer_follow_unknown_hosts_total", "Blocks held by a host not under hosts: (replies dropped).",
		  st.unknown_hosts },
	};

	write_counters(f, counters, sizeof(counters) / sizeof(counters[0]));
	family(f, "portslice_steer_follow_lag_seconds", "histogram",
	       "From a lease change in etcd to its owner written in the steering map.");
	for (size_t i = 0; i < PS_LEASE_WATCH_LAG_BUCKETS; i++) {
		cumulative += st.lag_buckets[i];
		if (i < sizeof(bounds_ms) / sizeof(bounds_ms[0]))
			fprintf(f, "portslice_steer_follow_lag_seconds_bucket{le=\"%g\"} %llu\n", bounds_ms[i] / 1000,
				(unsigned long long)cumulative);
	}
	fprintf(f, "portslice_steer_follow_lag_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cumulative);
	fprintf(f, "portslice_steer_follow_lag_seconds_sum %.6f\n", st.lag_sum_us / 1e6);
	fprintf(f, "portslice_steer_follow_lag_seconds_count %llu\n", (unsigned long long)st.lag_n);
}

int ps_metrics_write(FILE *out, const struct ps_agent_metrics *agent, struct ps_error *error)
{
	json_object *root = NULL;
	char mnt[PATH_MAX] = "";
	int err;

	if (ps_state_exists()) {
		struct ps_maps maps;

		err = ps_maps_open(&maps, error);
		if (err)
			return err;
		if (ps_env_cgroup2_mount(mnt, sizeof(mnt), error))
			mnt[0] = '\0';
		root = ps_status_build(&maps, mnt, error);
		ps_maps_close(&maps);
		if (!root)
			return -EIO;
	}
	family(out, "portslice_up", "gauge", "1: portslice's pinned state was read (0 pools when nothing is attached).");
	fprintf(out, "portslice_up 1\n");
	family(out, "portslice_build_info", "gauge",
	       "The binary serving these metrics: release, git commit and pin layout version (value 1).");
	fprintf(out, "portslice_build_info{version=\"%s\",commit=\"%s\",layout_version=\"%d\"} 1\n", PS_VERSION,
		ps_git_commit, PS_LAYOUT_VERSION);
	if (root)
		pool_metrics(out, root);
	else {
		family(out, "portslice_attached_cgroups", "gauge", "Cgroups whose sockets portslice places (pinned attachments).");
		fprintf(out, "portslice_attached_cgroups 0\n");
	}
	steer_metrics(out);
	if (agent)
		agent_metrics(out, agent);
	if (agent && agent->lease.running)
		lease_metrics(out, &agent->lease);
	if (agent && agent->follow)
		follow_metrics(out, agent->follow);
	json_object_put(root);
	return ferror(out) ? -EIO : 0;
}

/* ---- portslice stats --------------------------------------------------- */

/* What `portslice help stats` says beyond the options. */
static const char stats_details[] =
	"Per pool: slice capacity, tuples in use per protocol, allocations, failures by errno\n"
	"and reason, exhaustion events, tuples skipped because the kernel holds them\n"
	"(TIME_WAIT); steering packets by verdict when steering is attached. The numbers\n"
	"are those of 'portslice status --json'. For the textfile collector:\n"
	"  portslice stats --prometheus --output /var/lib/prometheus/node-exporter/portslice.prom";

enum {
	OPT_PROMETHEUS = 'P',
	OPT_OUTPUT = 'o',
};

static const struct ps_opt stats_opts[] = {
	{ "prometheus", OPT_PROMETHEUS, NULL, "Prometheus text exposition format (the default, and the only format)" },
	{ "output", OPT_OUTPUT, "FILE", "write to FILE atomically (a temporary file renamed over it), for node_exporter's textfile collector" },
	{ NULL },
};

/* @ctx: where --output goes; --prometheus names the only format, there is nothing to keep. */
static int on_stats_opt(int key, const char *arg, void *ctx, struct ps_error *error)
{
	if (key == OPT_OUTPUT)
		*(const char **)ctx = arg;
	return 0;
}

static int run_stats(int argc, char **argv, struct ps_error *error)
{
	const char *output = NULL;
	char tmp[PATH_MAX];
	FILE *f = stdout;
	int err, fd;

	err = ps_cli_parse(&ps_cmd_stats, argc, argv, on_stats_opt, &output, error);
	if (err)
		return err > 0 ? 0 : err;
	if (ps_json)
		return ps_fail(error, EINVAL, "stats prints Prometheus text; for JSON use 'portslice status --json'");
	err = ps_env_require_host(true, error);
	if (err)
		return err;
	if (output) {
		if (snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", output) >= (int)sizeof(tmp))
			return ps_fail(error, ENAMETOOLONG, "--output %s: name too long", output);
		fd = mkstemp(tmp);
		if (fd < 0)
			return ps_fail(error, errno, "cannot create a file beside %s: %s", output, strerror(errno));
		fchmod(fd, 0644); /* node_exporter reads it as another user */
		f = fdopen(fd, "w");
		if (!f) {
			close(fd);
			unlink(tmp);
			return ps_fail(error, errno, "fdopen: %s", strerror(errno));
		}
	}
	err = ps_metrics_write(f, NULL, error);
	if (err)
		ps_fail(error, err, "cannot write the metrics: %s", strerror(-err));
	if (output) {
		if (fclose(f) && !err)
			err = ps_fail(error, errno, "cannot write %s: %s", tmp, strerror(errno));
		if (!err && rename(tmp, output))
			err = ps_fail(error, errno, "cannot rename %s to %s: %s", tmp, output, strerror(errno));
		if (err)
			unlink(tmp);
	}
	return err;
}

const struct ps_cmd ps_cmd_stats = {
	.name = "stats", .run = run_stats, .opts = stats_opts,
	.synopsis = "[--prometheus] [--output FILE]", .details = stats_details,
	.summary = "Print portslice's metrics in Prometheus' text format (node_exporter's textfile collector).",
};

/* ---- the HTTP endpoint ------------------------------------------------- */

struct ps_metrics_server {
	struct MHD_Daemon *daemon;
	const struct ps_agent_metrics *agent;
	pthread_mutex_t *lock;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, char *body, size_t len,
			     const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!body)
		return MHD_NO;
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * GET /healthz: 503 "starting" until the agent's first reconcile is done,
 * then 200 while its loop answers, and 503 "stuck" when the loop has held
 * its lock for more than HEALTHZ_WAIT_S. A rejected config or a missing
 * cgroup is not unhealthy: the agent keeps the running config in force and
 * retries, and a restart would change nothing (the metrics and the log say
 * what failed).
 */
#define HEALTHZ_WAIT_S 3

static enum MHD_Result healthz(struct MHD_Connection *c, struct ps_metrics_server *srv)
{
	struct ps_agent_metrics agent;
	struct timespec until;
	char *body = NULL;
	int n;

	/* Read without the lock: the first reconcile holds it as long as it takes. */
	if (!__atomic_load_n(&srv->agent->ready, __ATOMIC_ACQUIRE)) {
		body = strdup("starting: the first reconcile is not done\n");
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, body, body ? strlen(body) : 0, "text/plain");
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HEALTHZ_WAIT_S;
	if (pthread_mutex_timedlock(srv->lock, &until)) {
		n = asprintf(&body, "stuck: the agent's loop has been busy for more than %d s\n", HEALTHZ_WAIT_S);
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, n < 0 ? NULL : body, n, "text/plain");
	}
	agent = *srv->agent;
	pthread_mutex_unlock(srv->lock);
	n = asprintf(&body, "ok: generation %llu, %llu of %llu cgroups attached, %llu of %llu interfaces steered\n",
		     agent.generation, agent.cgroups_wanted - agent.cgroups_failed, agent.cgroups_wanted,
		     agent.interfaces_wanted - agent.interfaces_failed, agent.interfaces_wanted);
	return reply(c, MHD_HTTP_OK, n < 0 ? NULL : body, n, "text/plain");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct ps_metrics_server *srv = cls;
	struct ps_agent_metrics agent;
	char *body = NULL;
	size_t len = 0;
	FILE *f;
	struct ps_error error = {};
	int err;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, strdup("GET /metrics or /healthz\n"), 25, "text/plain");
	if (!strcmp(url, "/healthz"))
		return healthz(c, srv);
	if (strcmp(url, "/metrics")) {
		body = strdup("portslice agent: metrics at /metrics, health at /healthz\n");
		return reply(c, strcmp(url, "/") ? MHD_HTTP_NOT_FOUND : MHD_HTTP_OK, body, body ? strlen(body) : 0,
			     "text/plain");
	}
	f = open_memstream(&body, &len);
	if (!f)
		return MHD_NO;
	pthread_mutex_lock(srv->lock);
	agent = *srv->agent;
	err = ps_metrics_write(f, &agent, &error);
	pthread_mutex_unlock(srv->lock);
	fclose(f);
	if (err) {
		free(body);
		if (asprintf(&body, "cannot read portslice's state: %s\n", strerror(-err)) < 0)
			return MHD_NO;
		pr_warn("metrics scrape failed: %s", strerror(-err));
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, body, strlen(body), "text/plain");
	}
	return reply(c, MHD_HTTP_OK, body, len, "text/plain; version=0.0.4; charset=utf-8");
}

/* "1.2.3.4:PORT" or "[v6]:PORT". */
static int parse_addr_port(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;
	size_t hl;

	if (!colon || colon == s)
		return -EINVAL;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || port == 0 || port > 65535)
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hl < 3 || s[hl - 1] != ']' || hl - 2 >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hl - 2);
		host[hl - 2] = '\0';
	} else {
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hl);
		host[hl] = '\0';
	}
	memset(ss, 0, sizeof(*ss));
	if (s[0] != '[') {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		*sl = sizeof(*in);
		return inet_pton(AF_INET, host, &in->sin_addr) == 1 ? 0 : -EINVAL;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	*sl = sizeof(*in6);
	return inet_pton(AF_INET6, host, &in6->sin6_addr) == 1 ? 0 : -EINVAL;
}

int ps_metrics_start(const char *addr_port, const struct ps_agent_metrics *agent, pthread_mutex_t *lock,
		     struct ps_metrics_server **out, struct ps_error *error)
{
	struct ps_metrics_server *srv;
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

	if (parse_addr_port(addr_port, &ss, &sl))
		return ps_fail(error, EINVAL, "--metrics %s: expected ADDR:PORT with an IP address, e.g. 127.0.0.1:9465 or [::1]:9465",
			      addr_port);
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->agent = agent;
	srv->lock = lock;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv->daemon = MHD_start_daemon(flags, ntohs(((struct sockaddr_in *)&ss)->sin_port), NULL, NULL, on_request, srv,
				       MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 32,
				       MHD_OPTION_CONNECTION_TIMEOUT, 10, MHD_OPTION_END);
	if (!srv->daemon) {
		free(srv);
		return ps_fail(error, EADDRINUSE, "cannot serve metrics on %s (address in use, or not configured here?): pick another --metrics ADDR:PORT",
			      addr_port);
	}
	*out = srv;
	return 0;
}

void ps_metrics_stop(struct ps_metrics_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->daemon);
	free(srv);
}
