// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * psleasewatch: the steering follower of dynamic slices
 * (loader/agent/lease_watch.h) on its own, against the pinned steering maps
 * of a pin dir (PORTSLICE_PIN_DIR or --pin-dir) and a real etcd cluster.
 *
 *   psleasewatch --endpoints URL[,URL...] --config FILE --pool NAME:LO-HI:BLOCK[:SLOT] ...
 *
 * Host ids are those of the config's hosts:. A pool's steering slot is the
 * one `portslice steer attach` gave its address (ps_steer_pools) unless
 * given. Prints a line per pool ("pool NAME slot S ports LO-HI blocks N"),
 * "ready" once the table was read and written, a JSON line of stats every
 * --interval-ms (if given), and a last one with "final": true when stdin
 * closes or on SIGINT/SIGTERM.
 *
 * Used by tests/fleet/test_lease_steer.sh and for the lag in docs/fleet.md.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <json-c/json.h>

#include "agent/lease_watch.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/pins.h"
#include "steer/maps.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static const char usage[] =
	"usage: psleasewatch --endpoints URL[,URL...] --config FILE --pool NAME:LO-HI:BLOCK[:SLOT] [options]\n"
	"  --pool NAME:LO-HI:BLOCK[:SLOT]  a dynamic pool (repeatable); SLOT: its steering slot\n"
	"                        (default: the one ps_steer_pools gives the config's address of NAME)\n"
	"  --prefix P            etcd key prefix (default /portslice)\n"
	"  --pin-dir DIR         the pin dir (default: PORTSLICE_PIN_DIR, else /sys/fs/bpf/portslice)\n"
	"  --ca FILE --cert FILE --key FILE  TLS\n"
	"  --timeout-ms MS       one etcd request (default 2000)\n"
	"  --watch-ms MS         one watch request at the most (default 600000)\n"
	"  --silence-ms MS       a watch silent this long is set up again (default 10000)\n"
	"  --interval-ms MS      a stats line every MS (default: only at the end)\n"
	"  -v                    debug log\n";

static json_object *u64(uint64_t v)
{
	return json_object_new_int64((int64_t)v);
}

static void print_stats(const struct ps_lease_watch *w, bool final)
{
	static const uint64_t bounds[] = PS_LEASE_WATCH_LAG_BOUNDS_MS;
	struct ps_lease_watch_stats st;
	json_object *o = json_object_new_object(), *lag = json_object_new_object(), *h = json_object_new_array();

	ps_lease_watch_stats(w, &st);
	json_object_object_add(o, "final", json_object_new_boolean(final));
	json_object_object_add(o, "events", u64(st.events));
	json_object_object_add(o, "applied", u64(st.applied));
	json_object_object_add(o, "ignored", u64(st.ignored));
	json_object_object_add(o, "snapshots", u64(st.snapshots));
	json_object_object_add(o, "compactions", u64(st.compactions));
	json_object_object_add(o, "watches", u64(st.watches));
	json_object_object_add(o, "silences", u64(st.silences));
	json_object_object_add(o, "progress_notifies", u64(st.progress_notifies));
	json_object_object_add(o, "errors", u64(st.errors));
	json_object_object_add(o, "unknown_hosts", u64(st.unknown_hosts));
	json_object_object_add(o, "etcd_requests", u64(st.etcd_requests));
	json_object_object_add(o, "etcd_failovers", u64(st.etcd_failovers));
	json_object_object_add(o, "connected", json_object_new_boolean(st.connected));
	json_object_object_add(o, "revision", json_object_new_int64(st.revision));
	json_object_object_add(o, "endpoint", json_object_new_string(st.endpoint));
	json_object_object_add(lag, "n", u64(st.lag_n));
	json_object_object_add(lag, "last_us", u64(st.lag_last_us));
	json_object_object_add(lag, "max_us", u64(st.lag_max_us));
	json_object_object_add(lag, "mean_us", u64(st.lag_n ? st.lag_sum_us / st.lag_n : 0));
	json_object_object_add(lag, "p50_us", u64(st.lag_p50_us));
	json_object_object_add(lag, "p90_us", u64(st.lag_p90_us));
	json_object_object_add(lag, "p99_us", u64(st.lag_p99_us));
	json_object_object_add(lag, "write_last_us", u64(st.write_last_us));
	json_object_object_add(lag, "write_max_us", u64(st.write_max_us));
	for (size_t b = 0; b < PS_LEASE_WATCH_LAG_BUCKETS; b++) {
		json_object *e = json_object_new_object();

		if (b < sizeof(bounds) / sizeof(bounds[0]))
			json_object_object_add(e, "le_ms", u64(bounds[b]));
		else
			json_object_object_add(e, "le_ms", json_object_new_string("+Inf"));
		json_object_object_add(e, "n", u64(st.lag_buckets[b]));
		json_object_array_add(h, e);
	}
	json_object_object_add(lag, "histogram", h);
	json_object_object_add(o, "lag", lag);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(o);
}

/* The slot `steer attach` gave @name's address, from the pinned ps_steer_pools; -1 when none. */
static int pinned_slot(const struct ps_config *cfg, const char *name)
{
	const struct ps_pool_cfg *pool = ps_config_find_pool(cfg, name);
	struct ps_addr_key key;
	__u32 slot;
	int fd, err;

	if (!pool)
		return -1;
	fd = ps_pin_map_open("ps_steer_pools");
	if (fd < 0)
		return -1;
	ps_steer_addr_key(pool->family, pool->addr, &key);
	err = bpf_map_lookup_elem(fd, &key, &slot);
	close(fd);
	return err ? -1 : (int)slot;
}

static int parse_pool(const char *arg, const struct ps_config *cfg, struct ps_lease_watch_pool *p)
{
	static char names[PS_LEASE_WATCH_MAX_POOLS][64];
	static size_t n_names;
	unsigned int lo, hi, block;
	int slot = -1, n;

	if (n_names == PS_LEASE_WATCH_MAX_POOLS)
		return -1;
	n = sscanf(arg, "%63[^:]:%u-%u:%u:%d", names[n_names], &lo, &hi, &block, &slot);
	if (n < 4 || hi < lo || !block)
		return -1;
	if (n == 4)
		slot = pinned_slot(cfg, names[n_names]);
	if (slot < 0) {
		fprintf(stderr, "psleasewatch: no steering slot for pool %s: give one, or steer attach first\n",
			names[n_names]);
		return -1;
	}
	*p = (struct ps_lease_watch_pool){ .name = names[n_names++], .slot = (uint32_t)slot, .port_lo = lo,
					   .block_size = block, .n_blocks = (hi - lo + 1) / block };
	return 0;
}

enum { O_ENDPOINTS = 256, O_PREFIX, O_CONFIG, O_POOL, O_PIN_DIR, O_CA, O_CERT, O_KEY, O_TIMEOUT, O_WATCH, O_SILENCE, O_INTERVAL };

static const struct option long_opts[] = {
	{ "endpoints", required_argument, NULL, O_ENDPOINTS },
	{ "prefix", required_argument, NULL, O_PREFIX },
	{ "config", required_argument, NULL, O_CONFIG },
	{ "pool", required_argument, NULL, O_POOL },
	{ "pin-dir", required_argument, NULL, O_PIN_DIR },
	{ "ca", required_argument, NULL, O_CA },
	{ "cert", required_argument, NULL, O_CERT },
	{ "key", required_argument, NULL, O_KEY },
	{ "timeout-ms", required_argument, NULL, O_TIMEOUT },
	{ "watch-ms", required_argument, NULL, O_WATCH },
	{ "silence-ms", required_argument, NULL, O_SILENCE },
	{ "interval-ms", required_argument, NULL, O_INTERVAL },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* Until stdin closes or a signal; "ready" once the first table is written, stats every @interval_ms. */
static void follow(const struct ps_lease_watch *w, unsigned int interval_ms)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	struct ps_lease_watch_stats st;
	bool ready = false, eof = false;
	unsigned int since_print = 0;
	char buf[256];

	while (!stop && !eof) {
		int r = poll(&pfd, eof ? 0 : 1, 50);

		if (r > 0 && read(STDIN_FILENO, buf, sizeof(buf)) <= 0)
			eof = true;
		if (!ready) {
			ps_lease_watch_stats(w, &st);
			if (st.snapshots) {
				printf("ready\n");
				fflush(stdout);
				ready = true;
			}
		}
		since_print += 50;
		if (interval_ms && since_print >= interval_ms) {
			print_stats(w, false);
			since_print = 0;
		}
	}
}

int main(int argc, char **argv)
{
	static struct ps_lease_watch_pool pools[PS_LEASE_WATCH_MAX_POOLS];
	struct ps_etcd_opts etcd = {};
	struct ps_lease_watch_opts o = { .etcd = &etcd, .prefix = "/portslice", .host_id = ps_lease_watch_config_host };
	struct ps_config cfg = {};
	struct ps_error error = {};
	struct ps_lease_watch *w;
	const char *config = NULL;
	char **pool_args = calloc((size_t)argc, sizeof(*pool_args));
	unsigned int interval_ms = 0;
	size_t n_pool_args = 0;
	int ch, err, fd;

	ps_log_set_component("psleasewatch");
	ps_log_set_level(PS_LOG_INFO);
	while ((ch = getopt_long(argc, argv, "hv", long_opts, NULL)) != -1) {
		switch (ch) {
		case O_ENDPOINTS: etcd.endpoints = optarg; break;
		case O_PREFIX: o.prefix = optarg; break;
		case O_CONFIG: config = optarg; break;
		case O_POOL: pool_args[n_pool_args++] = optarg; break;
		case O_PIN_DIR: setenv("PORTSLICE_PIN_DIR", optarg, 1); break;
		case O_CA: etcd.ca_file = optarg; break;
		case O_CERT: etcd.cert_file = optarg; break;
		case O_KEY: etcd.key_file = optarg; break;
		case O_TIMEOUT: etcd.timeout_ms = (unsigned int)atoi(optarg); break;
		case O_WATCH: o.watch_ms = (unsigned int)atoi(optarg); break;
		case O_SILENCE: o.silence_ms = (unsigned int)atoi(optarg); break;
		case O_INTERVAL: interval_ms = (unsigned int)atoi(optarg); break;
		case 'v': ps_log_set_level(PS_LOG_DEBUG); break;
		default: fputs(usage, ch == 'h' ? stdout : stderr); free(pool_args); return ch == 'h' ? 0 : 2;
		}
	}
	if (!etcd.endpoints || !config || !n_pool_args) {
		fputs(usage, stderr);
		free(pool_args);
		return 2;
	}
	err = ps_config_load_file(config, &cfg, &error);
	for (size_t i = 0; !err && i < n_pool_args; i++) {
		if (parse_pool(pool_args[i], &cfg, &pools[i])) {
			fprintf(stderr, "psleasewatch: bad --pool %s\n%s", pool_args[i], usage);
			err = -EINVAL;
		}
	}
	free(pool_args);
	fd = err ? -1 : ps_pin_map_open("ps_steer_owner");
	if (!err && fd < 0)
		err = ps_fail(&error, -fd, "cannot open %s/%s/ps_steer_owner: %s (steer attach first)", ps_pin_dir(),
			      PS_PINS_MAPS, strerror(-fd));
	o.owner_fd = fd;
	o.pools = pools;
	o.n_pools = n_pool_args;
	o.host_ctx = &cfg;
	if (!err)
		err = ps_lease_watch_start(&w, &o, &error);
	if (fd >= 0)
		close(fd);
	if (err) {
		if (error.code)
			fprintf(stderr, "psleasewatch: %s\n", error.msg);
		ps_config_free(&cfg);
		return 1;
	}
	for (size_t i = 0; i < o.n_pools; i++)
		printf("pool %s slot %u ports %u-%u blocks %u\n", pools[i].name, pools[i].slot, pools[i].port_lo,
		       pools[i].port_lo + pools[i].n_blocks * pools[i].block_size - 1, pools[i].n_blocks);
	fflush(stdout);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	follow(w, interval_ms);
	print_stats(w, true);
	ps_lease_watch_stop(w);
	ps_config_free(&cfg);
	return 0;
}
