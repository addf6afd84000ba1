// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pslease_sim: the leasing engine of dynamic slices (loader/fleet/lease.h)
 * without BPF, against a real etcd cluster.
 *
 *   pslease_sim agent ...   one host: ticks, prints its blocks whenever they
 *                           change and when it fences; the load (busiest
 *                           destination's ports) is read from --load-file
 *   pslease_sim fleet ...   N hosts on a few threads; kills a share of them
 *                           (no keepalive, no revoke) and measures lease ops/s,
 *                           the time until their blocks are free again, the
 *                           watch latency, and etcd's load
 *   pslease_sim table ...   the fleet's table as `portslice leases` will show it
 *   pslease_sim status ...  etcd's health and a lease's TTL, as `portslice status` will show them
 *   pslease_sim watch ...   the changes of the table, as the steering will follow them
 *
 * Used by tests/fleet/test_leases.sh and for the numbers in docs/fleet.md.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/error.h"
#include "core/log.h"
#include "fleet/etcd.h"
#include "fleet/lease.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

/* What both agent and fleet take. */
struct common {
	struct ps_etcd_opts etcd;
	struct ps_lease_cfg lease;
	unsigned int tick_ms;
	unsigned int duration_ms;
};

enum {
	O_ENDPOINTS = 256, O_PREFIX, O_HOST, O_POOL, O_TTL, O_QUARANTINE, O_TIME_WAIT, O_TICK, O_DURATION,
	O_LOAD_FILE, O_START_AT, O_AGENTS, O_THREADS, O_KILL_AT, O_KILL_PCT, O_METRICS, O_PIDS, O_QUIET,
	O_SWEEP, O_MARGIN, O_KEEPALIVE, O_REVOKE, O_TIMEOUT, O_GROW_AT, O_CLAIMS_FILE, O_RAMP,
	O_CA, O_CERT, O_KEY, O_LEASE, O_FROM,
};

static const struct option common_opts[] = {
	{ "endpoints", required_argument, NULL, O_ENDPOINTS },
	{ "prefix", required_argument, NULL, O_PREFIX },
	{ "host", required_argument, NULL, O_HOST },
	{ "pool", required_argument, NULL, O_POOL },
	{ "ttl", required_argument, NULL, O_TTL },
	{ "quarantine", required_argument, NULL, O_QUARANTINE },
	{ "time-wait", required_argument, NULL, O_TIME_WAIT },
	{ "tick-ms", required_argument, NULL, O_TICK },
	{ "duration-ms", required_argument, NULL, O_DURATION },
	{ "load-file", required_argument, NULL, O_LOAD_FILE },
	{ "start-at", required_argument, NULL, O_START_AT },
	{ "agents", required_argument, NULL, O_AGENTS },
	{ "threads", required_argument, NULL, O_THREADS },
	{ "kill-at-ms", required_argument, NULL, O_KILL_AT },
	{ "kill-pct", required_argument, NULL, O_KILL_PCT },
	{ "metrics", required_argument, NULL, O_METRICS },
	{ "etcd-pids", required_argument, NULL, O_PIDS },
	{ "quiet-ms", required_argument, NULL, O_QUIET },
	{ "sweep-ms", required_argument, NULL, O_SWEEP },
	{ "fence-margin-ms", required_argument, NULL, O_MARGIN },
	{ "keepalive-ms", required_argument, NULL, O_KEEPALIVE },
	{ "revoke", no_argument, NULL, O_REVOKE },
	{ "timeout-ms", required_argument, NULL, O_TIMEOUT },
	{ "grow-at", required_argument, NULL, O_GROW_AT },
	{ "claims-file", required_argument, NULL, O_CLAIMS_FILE },
	{ "ramp-ms", required_argument, NULL, O_RAMP },
	{ "ca", required_argument, NULL, O_CA },
	{ "cert", required_argument, NULL, O_CERT },
	{ "key", required_argument, NULL, O_KEY },
	{ "lease", required_argument, NULL, O_LEASE },
	{ "from", required_argument, NULL, O_FROM },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static const char usage[] =
	"usage: pslease_sim agent|fleet|table|status|watch --endpoints URL[,URL...] [options]\n"
	"  --from REV            watch: from this revision (default: from now), for --duration-ms\n"
	"  --lease HEX           status: that lease's TTL left as etcd has it\n"
	"  --prefix P            etcd key prefix (default /portslice)\n"
	"  --ca FILE --cert FILE --key FILE  TLS: the members' CA, this client's certificate and key\n"
	"  --host NAME           agent: this host's name\n"
	"  --pool NAME:LO-HI:BLOCK:MIN:MAX  a dynamic pool (agent, fleet; repeatable)\n"
	"  --ttl S --keepalive-ms MS --fence-margin-ms MS --quarantine S --time-wait S\n"
	"  --quiet-ms MS --grow-at SHARE --sweep-ms MS --tick-ms MS --duration-ms MS --timeout-ms MS\n"
	"  --load-file F         agent: the busiest destination's ports in use, read every tick\n"
	"  --claims-file F       agent: the blocks that still have claims, one number a line\n"
	"  --start-at MS         agent: first tick at this wall-clock time (ms since the epoch)\n"
	"  --revoke              agent: revoke the lease on SIGTERM (default: leave it to expire)\n"
	"  --agents N --threads N --kill-at-ms MS --kill-pct P --ramp-ms MS (agents start over MS)  fleet\n"
	"  --metrics URL[,URL]   fleet: the members' /metrics, read before and after\n"
	"  --etcd-pids PID[,PID] fleet: the members' PIDs, for their CPU time from /proc\n";

struct opts {
	struct common c;
	const char *load_file, *claims_file;
	uint64_t start_at;
	unsigned int agents, threads, kill_at_ms, kill_pct, ramp_ms;
	const char *metrics, *pids;
	int64_t lease, from;
	bool revoke;
};

static int parse_pool(const char *arg, struct ps_lease_pool_cfg *p)
{
	char name[PS_LEASE_NAME_LEN];

	if (sscanf(arg, "%63[^:]:%u-%u:%u:%u:%u", name, &p->port_lo, &p->port_hi, &p->block_size, &p->min_blocks,
		   &p->max_blocks) != 6)
		return -1;
	snprintf(p->name, sizeof(p->name), "%s", name);
	return 0;
}

static void parse(int argc, char **argv, struct opts *o)
{
	static char host[128];
	int ch;

	memset(o, 0, sizeof(*o));
	o->c.lease.prefix = "/portslice";
	o->c.tick_ms = 100;
	o->agents = 100;
	o->threads = 4;
	o->kill_pct = 10;
	gethostname(host, sizeof(host));
	o->c.lease.host = host;
	while ((ch = getopt_long(argc, argv, "h", common_opts, NULL)) != -1) {
		switch (ch) {
		case O_ENDPOINTS: o->c.etcd.endpoints = optarg; break;
		case O_CA: o->c.etcd.ca_file = optarg; break;
		case O_CERT: o->c.etcd.cert_file = optarg; break;
		case O_KEY: o->c.etcd.key_file = optarg; break;
		case O_LEASE: o->lease = (int64_t)strtoull(optarg, NULL, 16); break;
		case O_FROM: o->from = strtoll(optarg, NULL, 10); break;
		case O_PREFIX: o->c.lease.prefix = optarg; break;
		case O_HOST: o->c.lease.host = optarg; break;
		case O_POOL:
			if (o->c.lease.n_pools == PS_LEASE_MAX_POOLS ||
			    parse_pool(optarg, &o->c.lease.pools[o->c.lease.n_pools])) {
				fprintf(stderr, "pslease_sim: --pool NAME:LO-HI:BLOCK:MIN:MAX, not %s\n", optarg);
				exit(2);
			}
			o->c.lease.n_pools++;
			break;
		case O_TTL: o->c.lease.ttl_s = atoi(optarg); break;
		case O_QUARANTINE: o->c.lease.quarantine_s = atoi(optarg); break;
		case O_TIME_WAIT: o->c.lease.time_wait_s = atoi(optarg); break;
		case O_TICK: o->c.tick_ms = atoi(optarg); break;
		case O_DURATION: o->c.duration_ms = atoi(optarg); break;
		case O_LOAD_FILE: o->load_file = optarg; break;
		case O_CLAIMS_FILE: o->claims_file = optarg; break;
		case O_START_AT: o->start_at = strtoull(optarg, NULL, 10); break;
		case O_AGENTS: o->agents = atoi(optarg); break;
		case O_THREADS: o->threads = atoi(optarg); break;
		case O_KILL_AT: o->kill_at_ms = atoi(optarg); break;
		case O_KILL_PCT: o->kill_pct = atoi(optarg); break;
		case O_RAMP: o->ramp_ms = atoi(optarg); break;
		case O_METRICS: o->metrics = optarg; break;
		case O_PIDS: o->pids = optarg; break;
		case O_SWEEP: o->c.lease.sweep_ms = atoi(optarg); break;
		case O_MARGIN: o->c.lease.fence_margin_ms = atoi(optarg); break;
		case O_KEEPALIVE: o->c.lease.keepalive_ms = atoi(optarg); break;
		case O_TIMEOUT: o->c.etcd.timeout_ms = atoi(optarg); break;
		case O_REVOKE: o->revoke = true; break;
		case O_QUIET:
		case O_GROW_AT:
			for (unsigned int i = 0; i < PS_LEASE_MAX_POOLS; i++) {
				if (ch == O_QUIET)
					o->c.lease.pools[i].quiet_ms = atoi(optarg);
				else
					o->c.lease.pools[i].grow_at = atof(optarg);
			}
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			fputs(usage, stderr);
			exit(2);
		}
	}
	if (!o->c.etcd.endpoints) {
		fputs(usage, stderr);
		exit(2);
	}
}

static void die_error(const struct ps_error *e)
{
	char buf[2048];

	fprintf(stderr, "pslease_sim: %s\n", ps_error_text(e, buf, sizeof(buf)));
	exit(1);
}

/* ---- agent --------------------------------------------------------------- */

static void print_blocks(struct ps_lease *l, uint64_t t0, uint64_t now)
{
	size_t n;
	const struct ps_lease_block *b = ps_lease_blocks(l, &n);
	static const char *const names[] = { "held", "draining", "lost" };

	printf("t=%llu wall=%llu lease=%llx fenced=%d offered=", (unsigned long long)(now - t0),
	       (unsigned long long)wall_ms(), (unsigned long long)ps_lease_id(l), ps_lease_fenced(l, now));
	for (size_t i = 0, k = 0; i < n; i++)
		if (b[i].offer)
			printf("%s%u", k++ ? "," : "", b[i].index);
	printf(" blocks=");
	for (size_t i = 0; i < n; i++)
		printf("%s%u:%s", i ? "," : "", b[i].index, names[b[i].state]);
	printf("\n");
	fflush(stdout);
}

static uint32_t read_load(const char *file)
{
	FILE *f = file ? fopen(file, "r") : NULL;
	unsigned int v = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%u", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

/* The claims callback: a block listed in the file still has claims. */
static uint32_t file_claims(void *ctx, unsigned int pool, uint32_t block)
{
	FILE *f = fopen(ctx, "r");
	unsigned int n, c = 0;

	if (!f)
		return 0;
	while (fscanf(f, "%u", &n) == 1)
		c += n == block;
	fclose(f);
	return c;
}

static int cmd_agent(struct opts *o)
{
	struct ps_error e = { 0 };
	struct ps_etcd *etcd;
	struct ps_lease *l;
	struct ps_lease_load load[PS_LEASE_MAX_POOLS];
	uint64_t t0, gen = (uint64_t)-1, deadline;
	bool fenced = true;

	if (ps_etcd_open(&etcd, &o->c.etcd, &e) ||
	    ps_lease_new(&l, &o->c.lease, etcd, o->claims_file ? file_claims : NULL, (void *)o->claims_file, &e))
		die_error(&e);
	while (o->start_at && wall_ms() < o->start_at)
		usleep(200);
	t0 = mono_ms();
	deadline = o->c.duration_ms ? t0 + o->c.duration_ms : 0;
	printf("ready host=%s\n", o->c.lease.host);
	fflush(stdout);
	while (!stop && (!deadline || mono_ms() < deadline)) {
		uint64_t now = mono_ms();

		for (unsigned int p = 0; p < o->c.lease.n_pools; p++)
			load[p].busiest = read_load(o->load_file);
		ps_error_clear(&e);
		if (ps_lease_tick(l, now, load, &e)) {
			char buf[2048];

			printf("t=%llu error %s\n", (unsigned long long)(now - t0), ps_error_text(&e, buf, sizeof(buf)));
		}
		if (ps_lease_fenced(l, now) != fenced) {
			fenced = !fenced;
			printf("t=%llu wall=%llu %s ttl_left_ms=%llu\n", (unsigned long long)(now - t0),
			       (unsigned long long)wall_ms(), fenced ? "fenced" : "unfenced",
			       (unsigned long long)ps_lease_ttl_left_ms(l, now));
		}
		if (ps_lease_generation(l) != gen) {
			gen = ps_lease_generation(l);
			print_blocks(l, t0, now);
		}
		fflush(stdout);
		usleep(o->c.tick_ms * 1000);
	}
	{
		const struct ps_lease_stats *s = ps_lease_stats(l);

		printf("stats grows=%llu shrinks=%llu releases=%llu takes_lost=%llu lease_losses=%llu "
		       "keepalive_failures=%llu quarantined=%llu readopted=%llu etcd_ops=%llu\n",
		       (unsigned long long)s->grows, (unsigned long long)s->shrinks, (unsigned long long)s->releases,
		       (unsigned long long)s->takes_lost, (unsigned long long)s->lease_losses,
		       (unsigned long long)s->keepalive_failures, (unsigned long long)s->quarantined,
		       (unsigned long long)s->readopted, (unsigned long long)s->etcd_ops);
	}
	ps_lease_free(l, o->revoke);
	ps_etcd_close(etcd);
	return 0;
}

/* ---- table --------------------------------------------------------------- */

static int cmd_table(struct opts *o)
{
	struct ps_error e = { 0 };
	struct ps_etcd *etcd;
	json_object *t;

	if (ps_etcd_open(&etcd, &o->c.etcd, &e) || ps_lease_table_json(etcd, o->c.lease.prefix, NULL, &t, &e))
		die_error(&e);
	printf("%s\n", json_object_to_json_string_ext(t, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
	json_object_put(t);
	ps_etcd_close(etcd);
	return 0;
}

/* ---- status -------------------------------------------------------------- */

/* What `portslice status` will show of etcd: the member that answered, its leader, and a lease's TTL. */
static int cmd_status(struct opts *o)
{
	struct ps_error e = { 0 };
	struct ps_etcd_status st;
	struct ps_etcd *etcd;
	int64_t ttl = 0, granted = 0;

	if (ps_etcd_open(&etcd, &o->c.etcd, &e) || ps_etcd_status(etcd, &st, &e) ||
	    (o->lease && ps_etcd_lease_ttl(etcd, o->lease, &ttl, &granted, &e)))
		die_error(&e);
	printf("endpoint=%s version=%s member=%llx leader=%llx db_size=%lld raft_term=%lld", ps_etcd_endpoint(etcd),
	       st.version, (unsigned long long)st.member_id, (unsigned long long)st.leader, (long long)st.db_size,
	       (long long)st.raft_term);
	if (o->lease)
		printf(" lease=%llx ttl=%lld granted=%lld", (unsigned long long)o->lease, (long long)ttl,
		       (long long)granted);
	printf(" failovers=%llu\n", (unsigned long long)ps_etcd_failovers(etcd));
	ps_etcd_close(etcd);
	return 0;
}

/* ---- watch --------------------------------------------------------------- */

/* What the steering will follow: every change under P/pools/, one line each. */
static bool print_events(void *ctx, const struct ps_etcd_event *ev, size_t n, int64_t revision)
{
	if (!n)
		printf("created revision=%lld\n", (long long)revision);
	for (size_t i = 0; i < n; i++)
		printf("%s %s mod_revision=%lld %s\n", ev[i].type == PS_ETCD_EV_PUT ? "PUT" : "DELETE", ev[i].kv.key,
		       (long long)ev[i].kv.mod_revision, ev[i].kv.value);
	fflush(stdout);
	return stop;
}

/* Exit 3 when --from was compacted: the steering then reads the table again. */
static int cmd_watch(struct opts *o)
{
	struct ps_error e = { 0 };
	struct ps_etcd_watch_opts wo = { .start_rev = o->from, .max_ms = o->c.duration_ms ?: 1000 };
	struct ps_etcd *etcd;
	char pfx[256], buf[2048];
	int err;

	snprintf(pfx, sizeof(pfx), "%s/pools/", o->c.lease.prefix);
	if (ps_etcd_open(&etcd, &o->c.etcd, &e))
		die_error(&e);
	err = ps_etcd_watch(etcd, pfx, true, &wo, print_events, NULL, &e);
	ps_etcd_close(etcd);
	if (err)
		fprintf(stderr, "pslease_sim: %s\n", ps_error_text(&e, buf, sizeof(buf)));
	return err == -ERANGE ? 3 : err ? 1 : 0;
}

/* ---- fleet --------------------------------------------------------------- */

struct sim_agent {
	struct ps_lease *l;
	char host[32];
	bool dead;
	uint32_t busiest, level;
	uint64_t next_tick;
};

struct sim_thread {
	pthread_t tid;
	struct opts *o;
	struct sim_agent *agents;
	unsigned int n;
	struct ps_etcd *etcd;
	uint64_t ops, errors;
	uint64_t ticks, lag_sum_ms, lag_max_ms; /* how late ticks ran: the simulator's own overload */
};

static atomic_bool fleet_stop;

/*
 * A host's load: now and then (1 tick in 30) a new level, most hosts
 * near-idle (a third of a block), a quarter busy (1.5 blocks), one in
 * twenty very busy (3 blocks); 10% jitter around it.
 */
static void wander(struct sim_agent *a, const struct ps_lease_pool_cfg *p, unsigned int *seed)
{
	if (!a->level || rand_r(seed) % 30 == 0) {
		unsigned int r = rand_r(seed) % 100;

		a->level = r < 70 ? p->block_size / 3 : r < 95 ? p->block_size * 3 / 2 : p->block_size * 3;
	}
	a->busiest = a->level * (90 + rand_r(seed) % 21) / 100;
}

static void *sim_thread_main(void *arg)
{
	struct sim_thread *t = arg;
	unsigned int seed = (unsigned int)(uintptr_t)t;

	while (!atomic_load(&fleet_stop)) {
		uint64_t now = mono_ms(), next = now + t->o->c.tick_ms;

		for (unsigned int i = 0; i < t->n; i++) {
			struct sim_agent *a = &t->agents[i];
			struct ps_lease_load load = { 0 };
			struct ps_error e = { 0 };

			if (a->dead || now < a->next_tick)
				continue;
			t->ticks++;
			t->lag_sum_ms += now - a->next_tick;
			if (now - a->next_tick > t->lag_max_ms)
				t->lag_max_ms = now - a->next_tick;
			wander(a, &t->o->c.lease.pools[0], &seed);
			load.busiest = a->busiest;
			if (ps_lease_tick(a->l, now, &load, &e))
				t->errors++;
			a->next_tick = now + t->o->c.tick_ms;
			now = mono_ms();
		}
		/* Until the next agent is due. */
		for (unsigned int i = 0; i < t->n; i++)
			if (!t->agents[i].dead && t->agents[i].next_tick < next)
				next = t->agents[i].next_tick;
		now = mono_ms();
		if (now < next)
			usleep((next - now) * 1000);
	}
	return NULL;
}

/* Sums of a metric over the members' /metrics. */
struct etcd_load {
	double proposals, db_size, cpu_s, puts, txns, ranges;
};

static size_t on_metrics(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct etcd_load *m = ud;
	static char line[4096];
	static size_t len;

	for (size_t i = 0; i < size * nmemb; i++) {
		if (ptr[i] != '\n') {
			if (len < sizeof(line) - 1)
				line[len++] = ptr[i];
			continue;
		}
		line[len] = '\0';
		len = 0;
		if (!strncmp(line, "etcd_server_proposals_committed_total ", 38))
			m->proposals += atof(line + 38);
		else if (!strncmp(line, "etcd_mvcc_db_total_size_in_bytes ", 33))
			m->db_size = atof(line + 33) > m->db_size ? atof(line + 33) : m->db_size;
		else if (!strncmp(line, "process_cpu_seconds_total ", 26))
			m->cpu_s += atof(line + 26);
		else if (!strncmp(line, "etcd_mvcc_put_total ", 20))
			m->puts += atof(line + 20);
		else if (!strncmp(line, "etcd_mvcc_txn_total ", 20))
			m->txns += atof(line + 20);
		else if (!strncmp(line, "etcd_mvcc_range_total ", 22))
			m->ranges += atof(line + 22);
	}
	return size * nmemb;
}

static void read_metrics(const char *urls, struct etcd_load *m)
{
	char *list = urls ? strdup(urls) : NULL, *save = NULL;

	memset(m, 0, sizeof(*m));
	for (char *u = list ? strtok_r(list, ",", &save) : NULL; u; u = strtok_r(NULL, ",", &save)) {
		CURL *h = curl_easy_init();

		curl_easy_setopt(h, CURLOPT_URL, u);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_metrics);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, m);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
		curl_easy_perform(h);
		curl_easy_cleanup(h);
	}
	free(list);
}

/* CPU seconds (user + system) of the members, from /proc/PID/stat. */
static double proc_cpu(const char *pids)
{
	char *list = pids ? strdup(pids) : NULL, *save = NULL;
	double s = 0;
	long hz = sysconf(_SC_CLK_TCK);

	for (char *p = list ? strtok_r(list, ",", &save) : NULL; p; p = strtok_r(NULL, ",", &save)) {
		char path[64], buf[2048], *r;
		unsigned long ut = 0, st = 0;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%s/stat", p);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (r = strrchr(buf, ')')) &&
		    sscanf(r + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
			s += (double)(ut + st) / hz;
		fclose(f);
	}
	free(list);
	return s;
}

/* The watcher: how long after a block's "since" its PUT reaches a watcher (the steering's view). */
struct watcher {
	struct opts *o;
	uint64_t n;
	double sum_ms, max_ms;
	uint64_t hist[8];           /* <5, <10, <25, <50, <100, <250, <1000, more ms */
};

static bool on_events(void *ctx, const struct ps_etcd_event *ev, size_t n, int64_t revision)
{
	struct watcher *w = ctx;
	static const double edges[] = { 5, 10, 25, 50, 100, 250, 1000 };
	uint64_t now = wall_ms();

	for (size_t i = 0; i < n; i++) {
		json_object *v, *since;
		double d;
		unsigned int b = 0;

		if (ev[i].type != PS_ETCD_EV_PUT || !strstr(ev[i].kv.key, "/blocks/"))
			continue;
		v = json_tokener_parse(ev[i].kv.value);
		if (v && json_object_object_get_ex(v, "since", &since)) {
			d = (double)now - (double)json_object_get_int64(since);
			w->n++;
			w->sum_ms += d;
			if (d > w->max_ms)
				w->max_ms = d;
			while (b < 7 && d >= edges[b])
				b++;
			w->hist[b]++;
		}
		json_object_put(v);
	}
	return atomic_load(&fleet_stop);
}

static void *watch_main(void *arg)
{
	struct watcher *w = arg;
	/* 1 s at a time: fleet_stop is seen between watches. */
	const struct ps_etcd_watch_opts wo = { .max_ms = 1000 };
	struct ps_etcd *etcd;
	struct ps_error e = { 0 };
	char pfx[256];

	snprintf(pfx, sizeof(pfx), "%s/pools/", w->o->c.lease.prefix);
	if (ps_etcd_open(&etcd, &w->o->c.etcd, &e))
		return NULL;
	while (!atomic_load(&fleet_stop)) {
		ps_error_clear(&e);
		ps_etcd_watch(etcd, pfx, true, &wo, on_events, w, &e);
	}
	ps_etcd_close(etcd);
	return NULL;
}

/* Blocks of dead hosts as etcd has them: still leased, orphaned, in quarantine. */
struct dead_view {
	unsigned int leased, orphans, quarantined, held_by_live;
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Keys only, of the first pool (cheap enough to read every second):
 * blocks/ under a dead host's lease, orphans (a claim without its block),
 * quarantines, and blocks of live hosts. Orphans and quarantines are
 * counted fleet-wide: with no live host losing its lease they are the dead
 * hosts'.
 */
static int dead_view(struct ps_etcd *etcd, struct opts *o, const int64_t *dead, size_t n_dead, struct dead_view *d)
{
	struct ps_error e = { 0 };
	const struct ps_lease_pool_cfg *p = &o->c.lease.pools[0];
	uint32_t nb = (p->port_hi - p->port_lo + 1) / p->block_size;
	uint8_t *kinds = calloc(nb, 1);
	struct ps_etcd_kvs r;
	char pfx[256];

	memset(d, 0, sizeof(*d));
	snprintf(pfx, sizeof(pfx), "%s/pools/%s/", o->c.lease.prefix, p->name);
	if (!kinds || ps_etcd_range(etcd, pfx, PS_ETCD_PREFIX | PS_ETCD_KEYS_ONLY, &r, &e)) {
		free(kinds);
		return -1;
	}
	for (size_t i = 0; i < r.n; i++) {
		const char *k = r.kv[i].key + strlen(pfx), *slash = strchr(k, '/');
		uint32_t n = slash ? strtoul(slash + 1, NULL, 10) : nb;

		if (n >= nb)
			continue;
		if (!strncmp(k, "blocks/", 7)) {
			kinds[n] |= 1;
			if (bsearch(&r.kv[i].lease, dead, n_dead, sizeof(*dead), cmp_i64))
				d->leased++;
			else
				d->held_by_live++;
		} else if (!strncmp(k, "claims/", 7)) {
			kinds[n] |= 2;
		} else if (!strncmp(k, "quarantine/", 11)) {
			d->quarantined++;
		}
	}
	for (uint32_t n = 0; n < nb; n++)
		d->orphans += kinds[n] == 2;
	ps_etcd_kvs_free(&r);
	free(kinds);
	return 0;
}

static int cmd_fleet(struct opts *o)
{
	struct ps_error e = { 0 };
	unsigned int n = o->agents, nt = o->threads ?: 1;
	struct sim_agent *agents = calloc(n, sizeof(*agents));
	struct sim_thread *th = calloc(nt, sizeof(*th));
	struct watcher w = { .o = o };
	pthread_t wtid;
	struct ps_etcd *mon;
	struct etcd_load m0, m1;
	struct dead_view dv;
	struct rlimit rl = { 65536, 65536 };
	uint64_t t0, t_kill = 0, t_expired = 0, t_quarantined = 0, t_free = 0, ops = 0;
	double cpu0, cpu1;
	unsigned int n_dead = 0;
	int64_t *dead_leases = calloc(n, sizeof(*dead_leases));

	setrlimit(RLIMIT_NOFILE, &rl);
	if (!o->c.lease.n_pools) {
		fprintf(stderr, "pslease_sim fleet: give a --pool\n");
		return 2;
	}
	if (ps_etcd_open(&mon, &o->c.etcd, &e))
		die_error(&e);
	for (unsigned int i = 0; i < nt; i++) {
		th[i].o = o;
		th[i].agents = &agents[i * n / nt];
		th[i].n = (i + 1) * n / nt - i * n / nt;
		if (ps_etcd_open(&th[i].etcd, &o->c.etcd, &e))
			die_error(&e);
	}
	for (unsigned int i = 0; i < n; i++) {
		struct ps_lease_cfg c = o->c.lease;
		struct sim_thread *t = &th[i * nt / n];

		for (unsigned int k = 0; k < nt; k++)
			if (&agents[i] >= th[k].agents && &agents[i] < th[k].agents + th[k].n)
				t = &th[k];
		snprintf(agents[i].host, sizeof(agents[i].host), "sim-%u", i);
		c.host = agents[i].host;
		c.seed = 0x9e3779b9u * (i + 1);
		/* Hosts start spread over --ramp-ms (at least a tick period), as a fleet's agents would. */
		agents[i].next_tick = mono_ms() + (uint64_t)i * (o->ramp_ms > o->c.tick_ms ? o->ramp_ms : o->c.tick_ms) / n;
		if (ps_lease_new(&agents[i].l, &c, t->etcd, NULL, NULL, &e))
			die_error(&e);
	}
	read_metrics(o->metrics, &m0);
	cpu0 = proc_cpu(o->pids);
	t0 = mono_ms();
	for (unsigned int i = 0; i < nt; i++)
		pthread_create(&th[i].tid, NULL, sim_thread_main, &th[i]);
	pthread_create(&wtid, NULL, watch_main, &w);
	printf("fleet: %u agents on %u threads, pool %s %u-%u blocks of %u, min %u max %u, TTL %u s, quarantine %u s\n",
	       n, nt, o->c.lease.pools[0].name, o->c.lease.pools[0].port_lo, o->c.lease.pools[0].port_hi,
	       o->c.lease.pools[0].block_size, o->c.lease.pools[0].min_blocks, o->c.lease.pools[0].max_blocks,
	       o->c.lease.ttl_s ?: 10, o->c.lease.quarantine_s);
	fflush(stdout);
	while (!stop) {
		uint64_t now = mono_ms();

		if (o->c.duration_ms && now - t0 >= o->c.duration_ms)
			break;
		if (!t_kill && o->kill_at_ms && now - t0 >= o->kill_at_ms) {
			/* Dead: no more ticks, so no keepalive and no revoke; etcd expires their leases. */
			for (unsigned int i = 0; i < n; i++) {
				if (n_dead < n * o->kill_pct / 100 && i % (100 / (o->kill_pct ?: 1)) == 0) {
					agents[i].dead = true;
					dead_leases[n_dead++] = ps_lease_id(agents[i].l);
				}
			}
			qsort(dead_leases, n_dead, sizeof(*dead_leases), cmp_i64);
			t_kill = mono_ms();
			printf("t=%.1fs killed %u agents (no keepalives from now on)\n", (t_kill - t0) / 1000.0, n_dead);
			fflush(stdout);
		}
		if (t_kill && !dead_view(mon, o, dead_leases, n_dead, &dv)) {
			now = mono_ms();
			if (!t_expired && !dv.leased)
				t_expired = now;
			if (t_expired && !t_quarantined && !dv.orphans)
				t_quarantined = now;
			if (t_quarantined && !t_free && !dv.quarantined)
				t_free = now;
			printf("t=%.1fs dead hosts' blocks: leased %u orphan %u quarantine %u; live hosts hold %u\n",
			       (now - t0) / 1000.0, dv.leased, dv.orphans, dv.quarantined, dv.held_by_live);
			fflush(stdout);
			if (t_free && !o->c.duration_ms)
				break;
		}
		usleep(1000 * 1000);
	}
	atomic_store(&fleet_stop, true);
	for (unsigned int i = 0; i < nt; i++)
		pthread_join(th[i].tid, NULL);
	pthread_join(wtid, NULL);
	cpu1 = proc_cpu(o->pids);
	read_metrics(o->metrics, &m1);
	{
		uint64_t t_end = mono_ms(), grows = 0, shrinks = 0, releases = 0, lost = 0, kafail = 0, q = 0;
		uint64_t fences = 0, losses = 0, readopted = 0, ticks = 0, lag_sum = 0, lag_max = 0;
		unsigned int held = 0;
		double secs = (t_end - t0) / 1000.0;

		for (unsigned int i = 0; i < n; i++) {
			const struct ps_lease_stats *s = ps_lease_stats(agents[i].l);

			ops += s->etcd_ops;
			grows += s->grows;
			shrinks += s->shrinks;
			releases += s->releases;
			lost += s->takes_lost;
			kafail += s->keepalive_failures;
			q += s->quarantined;
			if (!agents[i].dead) {
				fences += s->fences;
				losses += s->lease_losses;
				readopted += s->readopted;
			}
			if (!agents[i].dead)
				held += ps_lease_held(agents[i].l, 0);
		}
		for (unsigned int i = 0; i < nt; i++) {
			ticks += th[i].ticks;
			lag_sum += th[i].lag_sum_ms;
			lag_max = th[i].lag_max_ms > lag_max ? th[i].lag_max_ms : lag_max;
		}
		printf("result live hosts: fences %llu, lease losses %llu, own blocks taken back %llu; ticks %llu, late by "
		       "%.0f ms mean, %llu ms max (the simulator's own backlog)\n", (unsigned long long)fences,
		       (unsigned long long)losses, (unsigned long long)readopted,
		       (unsigned long long)ticks, ticks ? (double)lag_sum / ticks : 0.0, (unsigned long long)lag_max);
		printf("result agents=%u dead=%u seconds=%.1f lease_ops=%llu lease_ops_per_s=%.0f grows=%llu shrinks=%llu "
		       "releases=%llu takes_lost=%llu keepalive_failures=%llu quarantined=%llu live_blocks_held=%u\n",
		       n, n_dead, secs, (unsigned long long)ops, ops / secs,
		       (unsigned long long)grows, (unsigned long long)shrinks, (unsigned long long)releases,
		       (unsigned long long)lost, (unsigned long long)kafail, (unsigned long long)q, held);
		if (t_kill)
			printf("result convergence: leases expired after %.1f s, orphans quarantined after %.1f s, "
			       "blocks free after %.1f s (TTL %u s, quarantine %u s)\n",
			       t_expired ? (t_expired - t_kill) / 1000.0 : -1.0,
			       t_quarantined ? (t_quarantined - t_kill) / 1000.0 : -1.0,
			       t_free ? (t_free - t_kill) / 1000.0 : -1.0, o->c.lease.ttl_s ?: 10, o->c.lease.quarantine_s);
		printf("result watch: %llu block puts seen, latency mean %.1f ms max %.1f ms; "
		       "<5ms %llu <10 %llu <25 %llu <50 %llu <100 %llu <250 %llu <1000 %llu more %llu\n",
		       (unsigned long long)w.n, w.n ? w.sum_ms / w.n : 0.0, w.max_ms,
		       (unsigned long long)w.hist[0], (unsigned long long)w.hist[1], (unsigned long long)w.hist[2],
		       (unsigned long long)w.hist[3], (unsigned long long)w.hist[4], (unsigned long long)w.hist[5],
		       (unsigned long long)w.hist[6], (unsigned long long)w.hist[7]);
		if (o->metrics)
			printf("result etcd: proposals committed %.0f (%.0f/s), puts %.0f, txns %.0f, ranges %.0f, "
			       "db size %.0f bytes, member CPU %.1f s (%.0f%% of one core, all members)\n",
			       m1.proposals - m0.proposals, (m1.proposals - m0.proposals) / secs, m1.puts - m0.puts,
			       m1.txns - m0.txns, m1.ranges - m0.ranges, m1.db_size, m1.cpu_s - m0.cpu_s,
			       100.0 * (m1.cpu_s - m0.cpu_s) / secs);
		if (o->pids)
			printf("result etcd /proc: member CPU %.1f s (%.0f%% of one core, all members)\n", cpu1 - cpu0,
			       100.0 * (cpu1 - cpu0) / secs);
	}
	for (unsigned int i = 0; i < n; i++)
		ps_lease_free(agents[i].l, false);
	for (unsigned int i = 0; i < nt; i++)
		ps_etcd_close(th[i].etcd);
	ps_etcd_close(mon);
	free(agents);
	free(th);
	free(dead_leases);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	const char *cmd = argc > 1 ? argv[1] : "";

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	ps_log_set_level(getenv("PSLEASE_DEBUG") ? PS_LOG_DEBUG : PS_LOG_WARN);
	if (argc < 2 || (strcmp(cmd, "agent") && strcmp(cmd, "fleet") && strcmp(cmd, "table") && strcmp(cmd, "status") &&
			  strcmp(cmd, "watch"))) {
		fputs(usage, stderr);
		return 2;
	}
	parse(argc - 1, argv + 1, &o);
	if (!strcmp(cmd, "agent")) {
		if (!o.c.lease.n_pools) {
			fprintf(stderr, "pslease_sim agent: give a --pool\n");
			return 2;
		}
		/* What the engine does, logged as it does it: the tests read it. */
		if (!getenv("PSLEASE_DEBUG"))
			ps_log_set_level(PS_LOG_INFO);
		return cmd_agent(&o);
	}
	if (!strcmp(cmd, "table"))
		return cmd_table(&o);
	if (!strcmp(cmd, "status"))
		return cmd_status(&o);
	if (!strcmp(cmd, "watch"))
		return cmd_watch(&o);
	return cmd_fleet(&o);
}
