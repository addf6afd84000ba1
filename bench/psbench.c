// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * psbench: the measuring half of `make bench` (bench/run.sh is the driver
 * that builds namespaces, cgroups and pins, and calls this per round).
 *
 *   psbench cycle      connect()+close() cycles, one contender, one round:
 *                      raw latencies to a file, one summary line to runs.csv
 *   psbench hold       open N long-lived connections (slice occupancy, or
 *                      the concurrency run) and keep them until SIGTERM
 *   psbench fill       pre-fill portslice's pinned ps_tuples map with
 *                      synthetic claims (the scaling curve)
 *   psbench steer      packets per second through the XDP steering program,
 *                      a redirect-only XDP ceiling and kernel forwarding,
 *                      alternating, between namespaces made by run.sh
 *   psbench summarize  medians, pooled percentiles and per-round ratios
 *   psbench chisq      the chosen source ports (cycle --ports) against a
 *                      uniform choice over the slice's free ports:
 *                      chi-square, degrees of freedom, p-value, histogram
 *
 * Every TCP socket it opens has SO_LINGER {1, 0}: close() sends a reset and
 * leaves no TIME_WAIT, so measured loops do not fill the tuple space;
 * except with `cycle --close-first`, which measures exactly that: the
 * client closes first, every closed connection leaves its 4-tuple in
 * TIME_WAIT, and how many connects per second succeed then depends on when
 * a TIME_WAIT tuple may be reused.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "portslice.h"
#include "steer.h"
#include "steer.skel.h"
#include "xdp_bench.skel.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("psbench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples. */
static uint64_t pct_u64(const uint64_t *s, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)ceil(q * (double)n);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return s[i - 1];
}

/* Linear-interpolated quantile of sorted doubles (for medians and IQR over rounds). */
static double q_dbl(const double *s, size_t n, double q)
{
	double pos, frac;
	size_t i;

	if (!n)
		return NAN;
	pos = q * (double)(n - 1);
	i = (size_t)pos;
	frac = pos - (double)i;
	if (i + 1 >= n)
		return s[n - 1];
	return s[i] + frac * (s[i + 1] - s[i]);
}

static void parse_range(const char *s, unsigned *lo, unsigned *hi)
{
	if (sscanf(s, "%u-%u", lo, hi) != 2) {
		if (sscanf(s, "%u", lo) != 1)
			die("bad range '%s'", s);
		*hi = *lo;
	}
	if (*lo < 1 || *hi > 65535 || *lo > *hi)
		die("bad range '%s'", s);
}

/* ADDR:PORT[-PORT] (IPv4) */
static void parse_dst(const char *s, struct in_addr *a, unsigned *plo, unsigned *phi)
{
	char buf[64], *c;

	snprintf(buf, sizeof(buf), "%s", s);
	c = strrchr(buf, ':');
	if (!c)
		die("bad destination '%s' (ADDR:PORT[-PORT])", s);
	*c = 0;
	if (inet_pton(AF_INET, buf, a) != 1)
		die("bad address '%s'", buf);
	parse_range(c + 1, plo, phi);
}

static void raise_nofile(void)
{
	struct rlimit r;

	if (!getrlimit(RLIMIT_NOFILE, &r)) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

/* ---- opening one connection, per contender ---------------------------- */

enum mode { M_PLAIN, M_RANGE, M_BINDRETRY };

struct conn_opts {
	enum mode mode;
	int type;                 /* SOCK_STREAM or SOCK_DGRAM */
	struct in_addr dst;
	unsigned dport_lo, dport_hi;
	struct in_addr src;       /* range, bindretry: the address to leave from */
	unsigned lo, hi;          /* range, bindretry: the slice */
	unsigned max_tries;       /* bindretry: attempts before giving up */
	bool close_first;         /* TCP: a normal close (FIN, TIME_WAIT), no SO_LINGER {1, 0} */
};

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int new_sock(const struct conn_opts *o)
{
	int s = socket(AF_INET, o->type | SOCK_CLOEXEC, 0);

	if (s < 0)
		die("socket: %s", strerror(errno));
	if (o->type == SOCK_STREAM && !o->close_first) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	return s;
}

static unsigned local_port(int s)
{
	struct sockaddr_in me;
	socklen_t l = sizeof(me);

	if (getsockname(s, (struct sockaddr *)&me, &l))
		return 0;
	return ntohs(me.sin_port);
}

/* FILE for writing ports to, one a line, or NULL for no FILE; dies on error. */
static FILE *ports_file(const char *path)
{
	FILE *f;

	if (!path)
		return NULL;
	f = fopen(path, "w");
	if (!f)
		die("cannot write %s: %s", path, strerror(errno));
	return f;
}

static void ports_close(FILE *f, const char *path)
{
	if (f && fclose(f))
		die("cannot write %s: %s", path, strerror(errno));
}

/*
 * Open one connected socket to port @dport. Returns the fd, or -1 with errno
 * set; *tries gets the number of sockets it took (bindretry).
 */
static int open_conn(const struct conn_opts *o, unsigned dport, unsigned *tries)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(dport), .sin_addr = o->dst };
	struct sockaddr_in from = { .sin_family = AF_INET, .sin_addr = o->src };
	unsigned size = o->hi - o->lo + 1, t;
	int s, one = 1, err;

	*tries = 1;
	switch (o->mode) {
	case M_PLAIN:
		s = new_sock(o);
		if (connect(s, (struct sockaddr *)&to, sizeof(to))) {
			err = errno;
			close(s);
			errno = err;
			return -1;
		}
		return s;
	case M_RANGE: {
		__u32 range = o->lo | o->hi << 16;

		s = new_sock(o);
		if (setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) ||
		    setsockopt(s, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range, sizeof(range)))
			die("IP_BIND_ADDRESS_NO_PORT/IP_LOCAL_PORT_RANGE: %s", strerror(errno));
		if (bind(s, (struct sockaddr *)&from, sizeof(from)) ||
		    connect(s, (struct sockaddr *)&to, sizeof(to))) {
			err = errno;
			close(s);
			errno = err;
			return -1;
		}
		return s;
	}
	case M_BINDRETRY:
		for (t = 1; t <= o->max_tries; t++) {
			*tries = t;
			s = new_sock(o);
			setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			from.sin_port = htons(o->lo + rng() % size);
			if (bind(s, (struct sockaddr *)&from, sizeof(from))) {
				err = errno;
				close(s);
				if (err == EADDRINUSE)
					continue;
				errno = err;
				return -1;
			}
			if (connect(s, (struct sockaddr *)&to, sizeof(to))) {
				err = errno;
				close(s);
				if (err == EADDRNOTAVAIL || err == EADDRINUSE)
					continue;
				errno = err;
				return -1;
			}
			return s;
		}
		errno = EADDRNOTAVAIL;
		return -1;
	}
	return -1;
}

static void conn_defaults(struct conn_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mode = M_PLAIN;
	o->type = SOCK_STREAM;
	o->max_tries = 0;
}

static bool conn_opt(struct conn_opts *o, int c, const char *arg)
{
	switch (c) {
	case 'm':
		if (!strcmp(arg, "plain"))
			o->mode = M_PLAIN;
		else if (!strcmp(arg, "range"))
			o->mode = M_RANGE;
		else if (!strcmp(arg, "bindretry"))
			o->mode = M_BINDRETRY;
		else
			die("--mode: plain, range or bindretry");
		return true;
	case 'p':
		if (!strcmp(arg, "tcp"))
			o->type = SOCK_STREAM;
		else if (!strcmp(arg, "udp"))
			o->type = SOCK_DGRAM;
		else
			die("--proto: tcp or udp");
		return true;
	case 't':
		parse_dst(arg, &o->dst, &o->dport_lo, &o->dport_hi);
		return true;
	case 's':
		if (inet_pton(AF_INET, arg, &o->src) != 1)
			die("bad --src '%s'", arg);
		return true;
	case 'r':
		parse_range(arg, &o->lo, &o->hi);
		return true;
	}
	return false;
}

static void conn_check(struct conn_opts *o)
{
	if (!o->dport_lo)
		die("--to is required");
	if (o->mode != M_PLAIN && (!o->lo || !o->src.s_addr))
		die("--mode range/bindretry need --src and --range");
	if (!o->max_tries)
		o->max_tries = 16 * (o->hi - o->lo + 1) + 64;
}

static int ns_fd(const char *name);
static void enter_ns(int fd);

/* ---- bpf program statistics (run time of ps_connect4) ------------------ */

/* The ps_connect4 program linked under PIN/cgroups/<id>/: its fd, or -1. */
static int find_connect4(const char *pin)
{
	char path[PATH_MAX];
	struct dirent *d;
	DIR *dir;
	int fd = -1;

	snprintf(path, sizeof(path), "%s/cgroups", pin);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir)) && fd < 0) {
		struct bpf_link_info li = {};
		__u32 len = sizeof(li);
		int lfd;

		if (d->d_name[0] == '.' || !strncmp(d->d_name, "tmp-", 4))
			continue;
		snprintf(path, sizeof(path), "%s/cgroups/%s/ps_connect4", pin, d->d_name);
		lfd = bpf_obj_get(path);
		if (lfd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(lfd, &li, &len))
			fd = bpf_prog_get_fd_by_id(li.prog_id);
		close(lfd);
	}
	closedir(dir);
	return fd;
}

static void prog_stats(int fd, __u64 *cnt, __u64 *ns)
{
	struct bpf_prog_info pi = {};
	__u32 len = sizeof(pi);

	*cnt = *ns = 0;
	if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &pi, &len)) {
		*cnt = pi.run_cnt;
		*ns = pi.run_time_ns;
	}
}

/* ---- cycle ------------------------------------------------------------- */

static int cmd_cycle(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mode", 1, 0, 'm' }, { "proto", 1, 0, 'p' }, { "to", 1, 0, 't' },
		{ "src", 1, 0, 's' }, { "range", 1, 0, 'r' }, { "count", 1, 0, 'n' },
		{ "max-secs", 1, 0, 'S' }, { "warmup", 1, 0, 'w' }, { "raw", 1, 0, 'R' },
		{ "runs", 1, 0, 'o' }, { "tag", 1, 0, 'g' }, { "bpf-stats", 1, 0, 'b' },
		{ "expect-range", 1, 0, 'e' }, { "netns", 1, 0, 'N' }, { "close-first", 0, 0, 'F' },
		{ "ports", 1, 0, 'P' }, {}
	};
	const char *netns = NULL, *ports = NULL;
	FILE *pf;
	struct conn_opts o;
	unsigned long count = 1000, warm = 50, n = 0, fails = 0, i;
	unsigned elo = 0, ehi = 0, out_of_range = 0, tries;
	double max_secs = 10;
	const char *raw = NULL, *runs = NULL, *tag = "run,x,0", *pin = NULL;
	uint64_t *lat, t0, t1, start, elapsed, sum = 0;
	__u64 c0 = 0, r0 = 0, c1 = 0, r1 = 0;
	int c, pfd = -1, sfd = -1;
	double prog_ns = -1;

	conn_defaults(&o);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (conn_opt(&o, c, optarg))
			continue;
		switch (c) {
		case 'n': count = strtoul(optarg, NULL, 0); break;
		case 'S': max_secs = atof(optarg); break;
		case 'w': warm = strtoul(optarg, NULL, 0); break;
		case 'R': raw = optarg; break;
		case 'o': runs = optarg; break;
		case 'g': tag = optarg; break;
		case 'b': pin = optarg; break;
		case 'e': parse_range(optarg, &elo, &ehi); break;
		case 'N': netns = optarg; break;
		case 'F': o.close_first = true; break;
		case 'P': ports = optarg; break;
		default: die("cycle: bad option");
		}
	}
	conn_check(&o);
	rng_state ^= now_ns() ^ (uint64_t)getpid() << 32;
	lat = calloc(count, sizeof(*lat));
	if (!lat)
		die("out of memory");

	/*
	 * The pins are read before entering the namespace: `ip netns exec`
	 * would mount a fresh /sys, without the bpffs under it.
	 */
	if (pin) {
		sfd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		pfd = find_connect4(pin);
		if (sfd < 0 || pfd < 0)
			fprintf(stderr, "psbench: no bpf run-time stats (%s)\n", strerror(errno));
	}
	pf = ports_file(ports);
	if (netns)
		enter_ns(ns_fd(netns));
	for (i = 0; i < warm; i++) {
		int s = open_conn(&o, o.dport_lo, &tries);

		if (s >= 0)
			close(s);
	}
	if (pin)
		prog_stats(pfd, &c0, &r0);
	start = now_ns();
	for (i = 0; i < count; i++) {
		int s;

		t0 = now_ns();
		s = open_conn(&o, o.dport_lo + i % (o.dport_hi - o.dport_lo + 1), &tries);
		if (s >= 0 && (elo || pf)) {
			unsigned lp = local_port(s);

			if (elo && (lp < elo || lp > ehi))
				out_of_range++;
			if (pf)
				fprintf(pf, "%u\n", lp);
		}
		if (s >= 0)
			close(s);
		t1 = now_ns();
		if (s < 0) {
			fails++;
			/*
			 * --close-first: no tuple may be reused yet (EADDRNOTAVAIL
			 * until a TIME_WAIT one may): wait 1 ms rather than spin,
			 * the same for every contender.
			 */
			if (o.close_first)
				nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
		} else {
			lat[n++] = t1 - t0;
			sum += t1 - t0;
		}
		if ((double)(t1 - start) > max_secs * 1e9 && i >= 100)
			break;
	}
	elapsed = now_ns() - start;
	ports_close(pf, ports);
	if (pin) {
		prog_stats(pfd, &c1, &r1);
		if (c1 > c0)
			prog_ns = (double)(r1 - r0) / (double)(c1 - c0);
		if (pfd >= 0)
			close(pfd);
		if (sfd >= 0)
			close(sfd);
	}
	if (raw) {
		FILE *f = fopen(raw, "w");

		if (!f || fwrite(lat, sizeof(*lat), n, f) != n || fclose(f))
			die("cannot write %s", raw);
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	{
		double rate = (double)n / ((double)elapsed / 1e9);
		char line[512];

		snprintf(line, sizeof(line), "%s,%lu,%lu,%llu,%llu,%llu,%.0f,%.1f,%.1f\n", tag, n, fails,
			 (unsigned long long)pct_u64(lat, n, 0.5), (unsigned long long)pct_u64(lat, n, 0.99),
			 (unsigned long long)pct_u64(lat, n, 0.999), n ? (double)sum / (double)n : 0.0, rate,
			 prog_ns);
		if (runs) {
			FILE *f = fopen(runs, "a");

			if (!f || fputs(line, f) < 0 || fclose(f))
				die("cannot append to %s", runs);
		}
		printf("%s", line);
	}
	if (out_of_range)
		die("%u sockets left from a port outside %u-%u", out_of_range, elo, ehi);
	/* --close-first: a contender that reuses no TIME_WAIT tuple rates 0. */
	if (n == 0 && !o.close_first)
		die("no connect() succeeded (%lu failed, last: %s)", fails, strerror(errno));
	free(lat);
	return 0;
}

/* ---- hold -------------------------------------------------------------- */

static volatile sig_atomic_t stop_flag;

static void on_term(int sig)
{
	stop_flag = 1;
}

static int cmd_hold(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mode", 1, 0, 'm' }, { "proto", 1, 0, 'p' }, { "to", 1, 0, 't' },
		{ "src", 1, 0, 's' }, { "range", 1, 0, 'r' }, { "count", 1, 0, 'n' },
		{ "offset", 1, 0, 'O' }, { "ports", 1, 0, 'P' }, {}
	};
	const char *ports = NULL;
	FILE *pf;
	struct conn_opts o;
	unsigned long count = 0, offset = 0, i, held = 0, fails = 0, tries_total = 0;
	unsigned tries;
	int c, *fds, last_err = 0;
	uint64_t t0;

	conn_defaults(&o);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (conn_opt(&o, c, optarg))
			continue;
		switch (c) {
		case 'n': count = strtoul(optarg, NULL, 0); break;
		case 'O': offset = strtoul(optarg, NULL, 0); break;
		case 'P': ports = optarg; break;
		default: die("hold: bad option");
		}
	}
	conn_check(&o);
	raise_nofile();
	rng_state ^= now_ns() ^ (uint64_t)getpid() << 32;
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	fds = calloc(count + 1, sizeof(*fds));
	if (!fds)
		die("out of memory");
	t0 = now_ns();
	for (i = 0; i < count && !stop_flag; i++) {
		unsigned dport = o.dport_lo + (offset + i) % (o.dport_hi - o.dport_lo + 1);
		int s = open_conn(&o, dport, &tries);

		tries_total += tries;
		if (s < 0) {
			fails++;
			last_err = errno;
			if (fails > 100)
				break;
			continue;
		}
		fds[held++] = s;
	}
	pf = ports_file(ports);
	for (i = 0; pf && i < held; i++)
		fprintf(pf, "%u\n", local_port(fds[i]));
	ports_close(pf, ports);
	printf("held=%lu fails=%lu secs=%.6f tries=%lu err=%s\nready\n", held, fails,
	       (double)(now_ns() - t0) / 1e9, tries_total, last_err ? strerror(last_err) : "none");
	fflush(stdout);
	/* Hold until SIGTERM or SIGINT. */
	while (!stop_flag)
		poll(NULL, 0, 200);
	for (i = 0; i < held; i++)
		close(fds[i]);
	free(fds);
	return held == count ? 0 : 1;
}

/* ---- fill -------------------------------------------------------------- */

static int cmd_fill(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "pin", 1, 0, 'P' }, { "pool", 1, 0, 'a' }, { "range", 1, 0, 'r' },
		{ "to", 1, 0, 't' }, { "target-frac", 1, 0, 'f' }, { "total", 1, 0, 'N' }, {}
	};
	const char *pin = NULL;
	struct in_addr pool = {}, dst = {};
	unsigned plo = 0, phi = 0, dlo = 0, dhi = 0, size, tcount = 0, k;
	double frac = 0.5;
	unsigned long total = 0, synth, done = 0;
	char path[PATH_MAX];
	struct ps_tuple *keys;
	struct ps_claim *vals;
	bool *occ;
	double cand = 0;
	int c, fd;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'P': pin = optarg; break;
		case 'a':
			if (inet_pton(AF_INET, optarg, &pool) != 1)
				die("bad --pool");
			break;
		case 'r': parse_range(optarg, &plo, &phi); break;
		case 't': parse_dst(optarg, &dst, &dlo, &dhi); break;
		case 'f': frac = atof(optarg); break;
		case 'N': total = strtoul(optarg, NULL, 0); break;
		default: die("fill: bad option");
		}
	}
	if (!pin || !plo || !dlo || !pool.s_addr)
		die("fill: --pin, --pool, --range, --to and --total are required");
	snprintf(path, sizeof(path), "%s/maps/ps_tuples", pin);
	fd = bpf_obj_get(path);
	if (fd < 0)
		die("cannot open %s: %s", path, strerror(errno));
	size = phi - plo + 1;
	occ = calloc(size, sizeof(*occ));
	keys = calloc(65536, sizeof(*keys));
	vals = calloc(65536, sizeof(*vals));
	if (!occ || !keys || !vals)
		die("out of memory");

	/* The measured destination: a fixed pseudo-random share of its tuples taken. */
	rng_state = 12345;
	for (k = 0; k < size; k++)
		if ((double)(rng() % 1000000) < frac * 1e6) {
			occ[k] = true;
			tcount++;
		}
	/* Expected candidates of a search from a uniformly random start. */
	if (tcount < size) {
		for (k = 0; k < size; k++) {
			unsigned d = 0;

			while (occ[(k + d) % size])
				d++;
			cand += d + 1;
		}
		cand /= size;
	}

	/* Insert in batches: the measured destination first, then synthetic ones. */
	synth = total > tcount ? total - tcount : 0;
	{
		unsigned long pending = 0, idx;
		__u32 n;
		LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);

		for (idx = 0; idx < size + synth; idx++) {
			struct ps_tuple *t = &keys[pending];

			memset(t, 0, sizeof(*t));
			t->proto = IPPROTO_TCP;
			t->family = AF_INET;
			t->laddr[0] = pool.s_addr;
			if (idx < size) {
				if (!occ[idx])
					continue;
				t->lport = plo + idx;
				t->rport = dlo;
				t->raddr[0] = dst.s_addr;
			} else {
				unsigned long j = idx - size;

				/* 10.128.0.0/9: destination j / size, port j % size */
				t->lport = plo + j % size;
				t->rport = dlo;
				t->raddr[0] = htonl(0x0a800000U + (uint32_t)(j / size));
			}
			vals[pending].cookie = ~0ULL - idx;
			if (++pending == 65536 || idx + 1 == size + synth) {
				n = pending;
				if (bpf_map_update_batch(fd, keys, vals, &n, &opts))
					die("bpf_map_update_batch after %lu: %s", done + n, strerror(errno));
				done += n;
				pending = 0;
			}
		}
		if (pending) {
			n = pending;
			if (bpf_map_update_batch(fd, keys, vals, &n, &opts))
				die("bpf_map_update_batch: %s", strerror(errno));
			done += n;
		}
	}
	printf("tuples=%lu target_taken=%u target_size=%u expected_candidates=%.3f\n", done, tcount,
	       size, cand);
	close(fd);
	return 0;
}

/* ---- steer ------------------------------------------------------------- */

static int ns_fd(const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("cannot open %s: %s", path, strerror(errno));
	return fd;
}

static void enter_ns(int fd)
{
	if (setns(fd, CLONE_NEWNET))
		die("setns: %s", strerror(errno));
}

static unsigned ifidx(const char *name)
{
	unsigned i = if_nametoindex(name);

	if (!i)
		die("no device %s", name);
	return i;
}

static void parse_mac(const char *s, __u8 m[6])
{
	if (sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
		die("bad MAC '%s'", s);
}

static __u64 percpu_sum(int fd, __u32 key, size_t off, size_t vsize)
{
	int ncpu = libbpf_num_possible_cpus();
	char *buf = calloc((size_t)ncpu, vsize);
	__u64 sum = 0, v;

	if (!buf || bpf_map_lookup_elem(fd, &key, buf))
		die("percpu lookup: %s", strerror(errno));
	for (int i = 0; i < ncpu; i++) {
		memcpy(&v, buf + (size_t)i * vsize + off, sizeof(v));
		sum += v;
	}
	free(buf);
	return sum;
}

static uint16_t ip_csum(const void *p, size_t n)
{
	const uint16_t *w = p;
	uint32_t sum = 0;

	for (size_t i = 0; i < n / 2; i++)
		sum += w[i];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Send the frame as fast as one thread can for @secs; returns frames sent. */
static uint64_t blast(int s, uint8_t *frame, size_t len, double secs)
{
	enum { BATCH = 64 };
	struct mmsghdr msgs[BATCH];
	struct iovec iov = { .iov_base = frame, .iov_len = len };
	uint64_t sent = 0, end = now_ns() + (uint64_t)(secs * 1e9);

	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (now_ns() < end) {
		int r = sendmmsg(s, msgs, BATCH, 0);

		if (r > 0)
			sent += (uint64_t)r;
	}
	return sent;
}

/* kernel.bpf_stats_enabled (0 or 1; -1 unreadable): while on, every program run also reads the clock twice. */
static int bpf_stats_enabled(void)
{
	FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "r");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* The steering program's non-zero counters, "name=N ..." on one line of @f. */
static void steer_counters(struct ps_steer *st, FILE *f)
{
	static const char *const names[] = { PS_STEER_STAT_NAMES };
	int fd = bpf_map__fd(st->maps.ps_steer_stats);

	fprintf(f, "steer_counters");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		__u64 v = percpu_sum(fd, 0, i * sizeof(__u64), sizeof(struct ps_steer_stats));

		if (v)
			fprintf(f, " %s=%llu", names[i], (unsigned long long)v);
	}
	fprintf(f, "\n");
}

static int cmd_steer(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "gen", 1, 0, 'g' }, { "fwd", 1, 0, 'f' }, { "sink", 1, 0, 'k' },
		{ "gen-dev", 1, 0, 1 }, { "fwd-in", 1, 0, 2 }, { "fwd-out", 1, 0, 3 },
		{ "sink-dev", 1, 0, 4 }, { "gen-mac", 1, 0, 5 }, { "fwd-in-mac", 1, 0, 6 },
		{ "fwd-out-mac", 1, 0, 7 }, { "sink-mac", 1, 0, 8 }, { "pool", 1, 0, 9 },
		{ "port", 1, 0, 10 }, { "owner-addr", 1, 0, 11 }, { "rounds", 1, 0, 'R' },
		{ "secs", 1, 0, 'S' }, { "warmup", 1, 0, 'w' }, { "runs", 1, 0, 'o' },
		{ "cpu", 1, 0, 'c' }, {}
	};
	const char *gen = NULL, *fwd = NULL, *sink = NULL, *gen_dev = NULL, *fwd_in = NULL,
		   *fwd_out = NULL, *sink_dev = NULL, *runs = NULL;
	__u8 gen_mac[6] = {}, fwd_in_mac[6] = {}, fwd_out_mac[6] = {}, sink_mac[6] = {};
	struct in_addr pool = {}, owner_addr = {};
	unsigned port = 20500, rounds = 5, r, m, cpu = 1;
	double secs = 1, warm = 0.3;
	static const char *const mode_name[] = { "kernel", "ceiling", "steer", "drop" };
	enum { NMODES = 4 };
	double tpp[NMODES];
	int c, gfd, ffd, kfd, s;
	unsigned if_fwd_in, if_fwd_out, if_sink, if_gen;
	struct ps_steer *st;
	struct xdp_bench *xb;
	struct bpf_link *sink_link;
	uint8_t frame[60] = {};
	int pools_fd, owner_fd, hosts_fd, cnt_fd, drop_fd;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'g': gen = optarg; break;
		case 'f': fwd = optarg; break;
		case 'k': sink = optarg; break;
		case 1: gen_dev = optarg; break;
		case 2: fwd_in = optarg; break;
		case 3: fwd_out = optarg; break;
		case 4: sink_dev = optarg; break;
		case 5: parse_mac(optarg, gen_mac); break;
		case 6: parse_mac(optarg, fwd_in_mac); break;
		case 7: parse_mac(optarg, fwd_out_mac); break;
		case 8: parse_mac(optarg, sink_mac); break;
		case 9: inet_pton(AF_INET, optarg, &pool); break;
		case 10: port = (unsigned)atoi(optarg); break;
		case 11: inet_pton(AF_INET, optarg, &owner_addr); break;
		case 'R': rounds = (unsigned)atoi(optarg); break;
		case 'S': secs = atof(optarg); break;
		case 'w': warm = atof(optarg); break;
		case 'o': runs = optarg; break;
		case 'c': cpu = (unsigned)atoi(optarg); break;
		default: die("steer: bad option");
		}
	}
	if (!gen || !fwd || !sink || !gen_dev || !fwd_in || !fwd_out || !sink_dev || !pool.s_addr ||
	    !owner_addr.s_addr)
		die("steer: missing options");
	{
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	gfd = ns_fd(gen);
	ffd = ns_fd(fwd);
	kfd = ns_fd(sink);

	enter_ns(ffd);
	if_fwd_in = ifidx(fwd_in);
	if_fwd_out = ifidx(fwd_out);

	/* The ceiling and the sink. */
	xb = xdp_bench__open();
	if (!xb)
		die("xdp_bench open: %s", strerror(errno));
	xb->rodata->redirect_ifindex = if_fwd_out;
	memcpy((void *)xb->rodata->new_dmac, sink_mac, 6);
	memcpy((void *)xb->rodata->new_smac, fwd_out_mac, 6);
	if (xdp_bench__load(xb))
		die("xdp_bench load: %s", strerror(errno));
	cnt_fd = bpf_map__fd(xb->maps.sink_count);
	drop_fd = bpf_map__fd(xb->maps.drop_count);

	/* The steering program, as a host (id 1) whose replies for port @port belong to host 2. */
	st = ps_steer__open();
	if (!st)
		die("steer open: %s", strerror(errno));
	{
		struct bpf_map *map;

		bpf_object__for_each_map(map, st->obj)
			bpf_map__set_pin_path(map, NULL);
	}
	st->rodata->ps_self_host = 1;
	st->rodata->ps_steer_mode = PS_STEER_L2;
	if (ps_steer__load(st))
		die("steer load: %s", strerror(errno));
	pools_fd = bpf_map__fd(st->maps.ps_steer_pools);
	owner_fd = bpf_map__fd(st->maps.ps_steer_owner);
	hosts_fd = bpf_map__fd(st->maps.ps_steer_hosts);
	{
		struct ps_addr_key key = { .family = AF_INET, .addr = { pool.s_addr } };
		__u32 slot = 0, host = 2, idx = PS_STEER_OWNER_INDEX(0, port);
		struct ps_steer_host h = { .flags = PS_STEER_HOST_VALID, .family = AF_INET,
					   .addr = { owner_addr.s_addr } };

		/* frames are steered only when addressed to a MAC of this host (fwd's ingress) */
		struct ps_mac_key mk = {};

		memcpy(mk.mac, fwd_in_mac, 6);
		if (bpf_map_update_elem(pools_fd, &key, &slot, BPF_ANY) ||
		    bpf_map_update_elem(owner_fd, &idx, &host, BPF_ANY) ||
		    bpf_map_update_elem(hosts_fd, &host, &h, BPF_ANY) ||
		    bpf_map_update_elem(bpf_map__fd(st->maps.ps_steer_local_macs), &mk, &if_fwd_in, BPF_ANY))
			die("steer maps: %s", strerror(errno));
	}

	enter_ns(kfd);
	if_sink = ifidx(sink_dev);
	sink_link = bpf_program__attach_xdp(xb->progs.xdp_sink, (int)if_sink);
	if (!sink_link)
		die("attach sink: %s", strerror(errno));

	enter_ns(gfd);
	if_gen = ifidx(gen_dev);
	s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (s < 0)
		die("AF_PACKET: %s", strerror(errno));
	{
		struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
					  .sll_ifindex = (int)if_gen };
		int one = 1;

		if (bind(s, (struct sockaddr *)&ll, sizeof(ll)))
			die("bind AF_PACKET: %s", strerror(errno));
		setsockopt(s, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	}
	/* Ethernet + IPv4 + UDP + 18 bytes: a 60-byte frame (64 on a wire). */
	{
		struct iphdr *ip = (struct iphdr *)(frame + 14);
		uint8_t *udp = frame + 34;

		memcpy(frame, fwd_in_mac, 6);
		memcpy(frame + 6, gen_mac, 6);
		frame[12] = 0x08;
		frame[13] = 0x00;
		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(46);
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		inet_pton(AF_INET, "203.0.113.7", &ip->saddr);
		ip->daddr = pool.s_addr;
		ip->check = ip_csum(ip, 20);
		udp[0] = 443 >> 8;
		udp[1] = 443 & 0xff;
		udp[2] = (uint8_t)(port >> 8);
		udp[3] = (uint8_t)port;
		udp[4] = 0;
		udp[5] = 26;
	}

	enter_ns(ffd);
	printf("round,mode,sent_pps,fwd_pps\n");
	for (r = 0; r < rounds; r++) {
		for (m = 0; m < NMODES; m++) {
			unsigned mode = (m + r) % NMODES;
			int cfd = mode == 3 ? drop_fd : cnt_fd;
			struct bpf_link *link = NULL;
			__u64 c0, c1;
			uint64_t sent, t0, t1;
			double fwd_pps, sent_pps;

			if (mode == 1)
				link = bpf_program__attach_xdp(xb->progs.xdp_ceiling, (int)if_fwd_in);
			else if (mode == 2)
				link = bpf_program__attach_xdp(st->progs.ps_steer, (int)if_fwd_in);
			else if (mode == 3)
				link = bpf_program__attach_xdp(xb->progs.xdp_drop, (int)if_fwd_in);
			if (mode && !link)
				die("attach %s: %s", mode_name[mode], strerror(errno));
			blast(s, frame, sizeof(frame), warm);
			usleep(20000);
			c0 = percpu_sum(cfd, 0, 0, sizeof(__u64));
			t0 = now_ns();
			sent = blast(s, frame, sizeof(frame), secs);
			t1 = now_ns();
			usleep(20000); /* let the last frames drain into the sink */
			c1 = percpu_sum(cfd, 0, 0, sizeof(__u64));
			if (link)
				bpf_link__destroy(link);
			fwd_pps = (double)(c1 - c0) / ((double)(t1 - t0) / 1e9);
			sent_pps = (double)sent / ((double)(t1 - t0) / 1e9);
			printf("%u,%s,%.0f,%.0f\n", r, mode_name[mode], sent_pps, fwd_pps);
			fflush(stdout);
			if (runs) {
				FILE *f = fopen(runs, "a");

				/* runs.csv: p50 column = ns per forwarded packet, rate = forwarded pps */
				if (!f)
					die("cannot append to %s", runs);
				fprintf(f, "steer,%s,%u,%llu,%llu,%.0f,%.0f,%.0f,%.0f,%.1f,-1\n", mode_name[mode], r,
					(unsigned long long)(c1 - c0),
					(unsigned long long)(sent > c1 - c0 ? sent - (c1 - c0) : 0),
					fwd_pps > 0 ? 1e9 / fwd_pps : 0, fwd_pps > 0 ? 1e9 / fwd_pps : 0,
					fwd_pps > 0 ? 1e9 / fwd_pps : 0, fwd_pps > 0 ? 1e9 / fwd_pps : 0, fwd_pps);
				fclose(f);
			}
			tpp[mode] = fwd_pps > 0 ? 1e9 / fwd_pps : 0;
		}
		/*
		 * Forwarding cost alone: time per packet of a path minus that of
		 * the drop baseline (same sender, same veth hop, XDP_DROP at the
		 * forwarder's ingress).
		 */
		if (runs) {
			FILE *f = fopen(runs, "a");

			if (!f)
				die("cannot append to %s", runs);
			for (m = 0; m < 3; m++) {
				double d = tpp[m] - tpp[3];

				if (d <= 0)
					continue;
				fprintf(f, "steer-net,%s,%u,1,0,%.1f,%.1f,%.1f,%.1f,%.1f,-1\n", mode_name[m], r, d, d, d, d,
					1e9 / d);
			}
			fclose(f);
		}
	}

	/*
	 * Program cost alone: BPF_PROG_TEST_RUN of the same frame, as if received
	 * on the forwarder's ingress (the FIB lookup of the steering program
	 * needs it). A test run does not transmit: redirect costs are excluded.
	 * Its repetitions run on one buffer, each on the frame the one before
	 * rewrote: addressed to the sink's MAC, which the steering program's
	 * loop guard would refuse as not for this host. For the test runs only,
	 * that MAC counts as this host's too (the same one lookup either way).
	 * The floor, an empty program, is what a repetition costs by itself
	 * (steer-work: each program's time above it, in the same round). The
	 * kernel's bpf_stats_enabled adds to every run, floor included: it is
	 * read around each round ("?" when it changed during the round).
	 */
	{
		struct ps_mac_key mk = {};

		memcpy(mk.mac, sink_mac, 6);
		if (bpf_map_update_elem(bpf_map__fd(st->maps.ps_steer_local_macs), &mk, &if_fwd_out, BPF_ANY))
			die("steer maps: %s", strerror(errno));
	}
	printf("prog,round,program,ns,bpf_stats_enabled\n");
	for (r = 0; r < rounds; r++) {
		static const char *const prog_name[] = { "ceiling", "steer", "floor" };
		struct bpf_program *const progs[] = { xb->progs.xdp_ceiling, st->progs.ps_steer,
						      xb->progs.xdp_floor };
		unsigned dur[3];
		int stats = bpf_stats_enabled();
		char stats_s[8];

		for (m = 0; m < 3; m++) {
			struct bpf_program *prog = progs[(m + r) % 3];
			const char *name = prog_name[(m + r) % 3];
			struct xdp_md xctx = { .data_end = sizeof(frame), .ingress_ifindex = if_fwd_in };
			uint8_t out[128];
			LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = frame, .data_size_in = sizeof(frame),
				    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &xctx,
				    .ctx_size_in = sizeof(xctx), .repeat = 1000000);

			if (bpf_prog_test_run_opts(bpf_program__fd(prog), &topts))
				die("test run %s: %s", name, strerror(errno));
			if (topts.retval != XDP_REDIRECT) {
				steer_counters(st, stderr);
				die("test run %s: verdict %u, not XDP_REDIRECT", name, topts.retval);
			}
			dur[(m + r) % 3] = topts.duration;
			if (runs) {
				FILE *f = fopen(runs, "a");

				if (!f)
					die("cannot append to %s", runs);
				fprintf(f, "steer-prog,%s,%u,1000000,0,%u,%u,%u,%u,%.1f,-1\n", name, r, topts.duration,
					topts.duration, topts.duration, topts.duration,
					topts.duration ? 1e9 / topts.duration : 0);
				fclose(f);
			}
		}
		if (bpf_stats_enabled() == stats)
			snprintf(stats_s, sizeof(stats_s), "%d", stats);
		else
			snprintf(stats_s, sizeof(stats_s), "?");
		for (m = 0; m < 3; m++)
			printf("prog,%u,%s,%u,%s\n", r, prog_name[m], dur[m], stats_s);
		if (runs) {
			FILE *f = fopen(runs, "a");

			if (!f)
				die("cannot append to %s", runs);
			for (m = 0; m < 2; m++) {
				double d = (double)dur[m] - dur[2];

				if (d > 0)
					fprintf(f, "steer-work,%s,%u,1000000,0,%.1f,%.1f,%.1f,%.1f,%.1f,-1\n", prog_name[m],
						r, d, d, d, d, 1e9 / d);
			}
			fclose(f);
		}
	}
	steer_counters(st, stdout);
	if (!percpu_sum(bpf_map__fd(st->maps.ps_steer_stats), 0, offsetof(struct ps_steer_stats, forwarded),
			sizeof(struct ps_steer_stats)))
		die("the steering program forwarded nothing: the comparison is void");

	bpf_link__destroy(sink_link);
	ps_steer__destroy(st);
	xdp_bench__destroy(xb);
	close(s);
	return 0;
}

/* ---- summarize --------------------------------------------------------- */

struct run {
	char group[64], cont[32];
	int round;
	unsigned long n, fails;
	double p50, p99, p999, mean, rate, prog;
};

static struct run *runs_v;
static size_t runs_n;

static void load_runs(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");
	size_t cap = 0;

	if (!f)
		die("cannot read %s", path);
	while (fgets(line, sizeof(line), f)) {
		struct run r = {};

		if (sscanf(line, "%63[^,],%31[^,],%d,%lu,%lu,%lf,%lf,%lf,%lf,%lf,%lf", r.group, r.cont, &r.round,
			   &r.n, &r.fails, &r.p50, &r.p99, &r.p999, &r.mean, &r.rate, &r.prog) != 11)
			continue;
		if (runs_n == cap) {
			cap = cap ? cap * 2 : 256;
			runs_v = realloc(runs_v, cap * sizeof(*runs_v));
			if (!runs_v)
				die("out of memory");
		}
		runs_v[runs_n++] = r;
	}
	fclose(f);
}

/* Pooled samples of every round of (group, contender) from raw/. */
static uint64_t *pooled(const char *dir, const char *group, const char *cont, size_t *n)
{
	uint64_t *all = NULL;
	size_t cnt = 0;

	for (size_t i = 0; i < runs_n; i++) {
		char path[PATH_MAX];
		FILE *f;
		long sz;

		if (strcmp(runs_v[i].group, group) || strcmp(runs_v[i].cont, cont))
			continue;
		snprintf(path, sizeof(path), "%s/raw/%s/%s.r%d", dir, group, cont, runs_v[i].round);
		f = fopen(path, "r");
		if (!f)
			continue;
		fseek(f, 0, SEEK_END);
		sz = ftell(f);
		fseek(f, 0, SEEK_SET);
		all = realloc(all, (cnt + (size_t)sz / 8 + 1) * 8);
		if (!all)
			die("out of memory");
		cnt += fread(all + cnt, 8, (size_t)sz / 8, f);
		fclose(f);
	}
	*n = cnt;
	return all;
}

static const struct run *find_run(const char *g, const char *c, int round)
{
	for (size_t i = 0; i < runs_n; i++)
		if (!strcmp(runs_v[i].group, g) && !strcmp(runs_v[i].cont, c) && runs_v[i].round == round)
			return &runs_v[i];
	return NULL;
}

static int cmd_summarize(int argc, char **argv)
{
	const char *dir;
	char path[PATH_MAX], pairs[32][2][32];
	int npairs = 0;
	FILE *sum, *rat;
	char seen[256][96];
	size_t nseen = 0;

	if (argc < 2)
		die("usage: psbench summarize DIR [NUM:DEN]...");
	dir = argv[1];
	for (int i = 2; i < argc && npairs < 32; i++)
		if (sscanf(argv[i], "%31[^:]:%31s", pairs[npairs][0], pairs[npairs][1]) == 2)
			npairs++;
	snprintf(path, sizeof(path), "%s/runs.csv", dir);
	load_runs(path);
	snprintf(path, sizeof(path), "%s/summary.csv", dir);
	sum = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/ratios.csv", dir);
	rat = fopen(path, "w");
	if (!sum || !rat)
		die("cannot write in %s", dir);
	fprintf(sum, "group,contender,rounds,samples,fails,p50_med_us,p50_pooled_us,p99_us,p999_us,rate_med_per_s,prog_ns_med\n");
	fprintf(rat, "group,num,den,rounds,time_ratio_med,time_ratio_q1,time_ratio_q3,rate_ratio_med,rate_ratio_q1,rate_ratio_q3\n");
	printf("%-16s %-10s %6s %8s %6s %10s %10s %10s %12s %9s\n", "group", "contender", "rounds", "samples",
	       "fails", "p50(us)", "p99(us)", "p999(us)", "rate(/s)", "prog(ns)");

	for (size_t i = 0; i < runs_n; i++) {
		char key[96];
		double p50s[256], rates[256], progs[256];
		size_t k = 0, np = 0, j, ns;
		unsigned long samples = 0, fails = 0;
		uint64_t *all;
		double pp50, pp99, pp999;

		snprintf(key, sizeof(key), "%s/%s", runs_v[i].group, runs_v[i].cont);
		for (j = 0; j < nseen; j++)
			if (!strcmp(seen[j], key))
				break;
		if (j < nseen || nseen == 256)
			continue;
		snprintf(seen[nseen++], sizeof(seen[0]), "%s", key);
		for (j = i; j < runs_n && k < 256; j++) {
			if (strcmp(runs_v[j].group, runs_v[i].group) || strcmp(runs_v[j].cont, runs_v[i].cont))
				continue;
			p50s[k] = runs_v[j].p50;
			rates[k] = runs_v[j].rate;
			if (runs_v[j].prog >= 0)
				progs[np++] = runs_v[j].prog;
			samples += runs_v[j].n;
			fails += runs_v[j].fails;
			k++;
		}
		qsort(p50s, k, sizeof(double), cmp_dbl);
		qsort(rates, k, sizeof(double), cmp_dbl);
		qsort(progs, np, sizeof(double), cmp_dbl);
		all = pooled(dir, runs_v[i].group, runs_v[i].cont, &ns);
		if (ns) {
			qsort(all, ns, 8, cmp_u64);
			pp50 = (double)pct_u64(all, ns, 0.5) / 1e3;
			pp99 = (double)pct_u64(all, ns, 0.99) / 1e3;
			pp999 = (double)pct_u64(all, ns, 0.999) / 1e3;
		} else {
			/* No raw samples (steer, concurrency): medians of the per-round figures. */
			double a[256];

			pp50 = q_dbl(p50s, k, 0.5) / 1e3;
			for (j = 0, ns = 0; j < runs_n; j++)
				if (!strcmp(runs_v[j].group, runs_v[i].group) && !strcmp(runs_v[j].cont, runs_v[i].cont) && ns < 256)
					a[ns++] = runs_v[j].p99;
			qsort(a, ns, sizeof(double), cmp_dbl);
			pp99 = q_dbl(a, ns, 0.5) / 1e3;
			for (j = 0, ns = 0; j < runs_n; j++)
				if (!strcmp(runs_v[j].group, runs_v[i].group) && !strcmp(runs_v[j].cont, runs_v[i].cont) && ns < 256)
					a[ns++] = runs_v[j].p999;
			qsort(a, ns, sizeof(double), cmp_dbl);
			pp999 = q_dbl(a, ns, 0.5) / 1e3;
		}
		free(all);
		fprintf(sum, "%s,%s,%zu,%lu,%lu,%.3f,%.3f,%.3f,%.3f,%.1f,%.1f\n", runs_v[i].group, runs_v[i].cont, k,
			samples, fails, q_dbl(p50s, k, 0.5) / 1e3, pp50, pp99, pp999, q_dbl(rates, k, 0.5),
			np ? q_dbl(progs, np, 0.5) : -1.0);
		printf("%-16s %-10s %6zu %8lu %6lu %10.2f %10.2f %10.2f %12.0f %9.0f\n", runs_v[i].group,
		       runs_v[i].cont, k, samples, fails, q_dbl(p50s, k, 0.5) / 1e3, pp99, pp999,
		       q_dbl(rates, k, 0.5), np ? q_dbl(progs, np, 0.5) : -1.0);
	}

	printf("\n%-16s %-16s %6s %22s %22s\n", "group", "ratio", "rounds", "time ratio med [IQR]",
	       "rate ratio med [IQR]");
	for (size_t gi = 0; gi < runs_n; gi++) {
		size_t j;

		/* each group once */
		for (j = 0; j < gi; j++)
			if (!strcmp(runs_v[j].group, runs_v[gi].group))
				break;
		if (j < gi)
			continue;
		for (int p = 0; p < npairs; p++) {
			double tr[256], rr[256];
			size_t k = 0;

			for (j = 0; j < runs_n && k < 256; j++) {
				const struct run *a = &runs_v[j], *b;

				if (strcmp(a->group, runs_v[gi].group) || strcmp(a->cont, pairs[p][0]))
					continue;
				b = find_run(a->group, pairs[p][1], a->round);
				if (!b || b->p50 <= 0 || b->rate <= 0)
					continue;
				tr[k] = a->p50 / b->p50;
				rr[k] = a->rate / b->rate;
				k++;
			}
			if (!k)
				continue;
			qsort(tr, k, sizeof(double), cmp_dbl);
			qsort(rr, k, sizeof(double), cmp_dbl);
			fprintf(rat, "%s,%s,%s,%zu,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f\n", runs_v[gi].group, pairs[p][0],
				pairs[p][1], k, q_dbl(tr, k, 0.5), q_dbl(tr, k, 0.25), q_dbl(tr, k, 0.75),
				q_dbl(rr, k, 0.5), q_dbl(rr, k, 0.25), q_dbl(rr, k, 0.75));
			{
				char name[80];

				snprintf(name, sizeof(name), "%.31s/%.31s", pairs[p][0], pairs[p][1]);
				printf("%-16s %-16s %6zu %7.3f [%5.3f-%5.3f] %7.3f [%5.3f-%5.3f]\n", runs_v[gi].group,
				       name, k, q_dbl(tr, k, 0.5), q_dbl(tr, k, 0.25), q_dbl(tr, k, 0.75),
				       q_dbl(rr, k, 0.5), q_dbl(rr, k, 0.25), q_dbl(rr, k, 0.75));
			}
		}
	}
	fclose(sum);
	fclose(rat);
	return 0;
}

/* ---- chisq ------------------------------------------------------------- */

/*
 * Upper regularized incomplete gamma Q(a, x) = 1 - P(a, x): the p-value of a
 * chi-square statistic c with d degrees of freedom is Q(d / 2, c / 2). The
 * power series of P where it converges fast (x < a + 1), else the continued
 * fraction of Q (modified Lentz).
 */
static double gamma_q(double a, double x)
{
	double lead, sum, term, b, c, d, h, an;
	int n;

	if (x <= 0)
		return 1;
	lead = exp(-x + a * log(x) - lgamma(a));
	if (x < a + 1) {
		sum = term = 1 / a;
		for (n = 1; n < 100000 && fabs(term) > fabs(sum) * 1e-15; n++) {
			term *= x / (a + n);
			sum += term;
		}
		return 1 - sum * lead;
	}
	b = x + 1 - a;
	c = 1 / 1e-300;
	d = 1 / b;
	h = d;
	for (n = 1; n < 100000; n++) {
		an = -n * (n - a);
		b += 2;
		d = an * d + b;
		d = fabs(d) < 1e-300 ? 1e-300 : d;
		c = b + an / c;
		c = fabs(c) < 1e-300 ? 1e-300 : c;
		d = 1 / d;
		h *= d * c;
		if (fabs(d * c - 1) < 1e-15)
			break;
	}
	return lead * h;
}

/*
 * Count the ports listed in @path (one a line) into cnt[port - lo]; *near
 * gets how many were within 2 ports of the one before (a predictability
 * that chi-square does not see: a sequential walk is perfectly uniform).
 */
static unsigned long read_ports(const char *path, unsigned lo, unsigned hi, unsigned long *cnt,
				unsigned long *outside, unsigned long *near)
{
	FILE *f = fopen(path, "r");
	unsigned long n = 0;
	unsigned port, prev = 0;

	if (!f)
		die("cannot read %s: %s", path, strerror(errno));
	while (fscanf(f, "%u", &port) == 1) {
		if (prev && (port > prev ? port - prev : prev - port) <= 2)
			(*near)++;
		prev = port;
		if (port < lo || port > hi) {
			(*outside)++;
			continue;
		}
		cnt[port - lo]++;
		n++;
	}
	fclose(f);
	return n;
}

static int cmd_chisq(int argc, char **argv)
{
	static const struct option lo_opts[] = {
		{ "range", 1, 0, 'r' }, { "chosen", 1, 0, 'c' }, { "held", 1, 0, 'H' },
		{ "bin", 1, 0, 'b' }, { "hist", 1, 0, 'h' }, {}
	};
	const char *chosen = NULL, *held = NULL, *hist = NULL;
	unsigned lo = 0, hi = 0, size, bin = 10, p, free_ports = 0;
	unsigned long *cnt, *taken, n, outside = 0, taken_outside = 0, cmin = ULONG_MAX, cmax = 0,
		on_held = 0, near = 0, unused = 0;
	double expect, chi2 = 0, pv;
	int c;

	while ((c = getopt_long(argc, argv, "", lo_opts, NULL)) != -1) {
		switch (c) {
		case 'r': parse_range(optarg, &lo, &hi); break;
		case 'c': chosen = optarg; break;
		case 'H': held = optarg; break;
		case 'b': bin = (unsigned)atoi(optarg); break;
		case 'h': hist = optarg; break;
		default: die("chisq: bad option");
		}
	}
	if (!lo || !chosen || !bin)
		die("usage: psbench chisq --range LO-HI --chosen FILE [--held FILE] [--bin W] [--hist FILE]");
	size = hi - lo + 1;
	cnt = calloc(size, sizeof(*cnt));
	taken = calloc(size, sizeof(*taken));
	if (!cnt || !taken)
		die("out of memory");
	n = read_ports(chosen, lo, hi, cnt, &outside, &near);
	if (held)
		read_ports(held, lo, hi, taken, &taken_outside, &unused);
	for (p = 0; p < size; p++) {
		if (taken[p])
			on_held += cnt[p];
		else
			free_ports++;
	}
	if (!n || free_ports < 2)
		die("chisq: %lu samples, %u free ports: nothing to test", n, free_ports);
	/* Uniform over the free ports: each expects n / free_ports. */
	expect = (double)n / free_ports;
	for (p = 0; p < size; p++) {
		if (taken[p])
			continue;
		chi2 += ((double)cnt[p] - expect) * ((double)cnt[p] - expect) / expect;
		cmin = cnt[p] < cmin ? cnt[p] : cmin;
		cmax = cnt[p] > cmax ? cnt[p] : cmax;
	}
	pv = gamma_q((free_ports - 1) / 2.0, chi2 / 2);
	printf("samples=%lu free=%u chi2=%.1f df=%u p=%s%.3g expected=%.2f min=%lu max=%lu near_prev=%.4f on_held=%lu outside=%lu\n",
	       n, free_ports, chi2, free_ports - 1, pv < 1e-300 ? "<" : "", pv < 1e-300 ? 1e-300 : pv, expect,
	       cmin, cmax, n > 1 ? (double)near / (double)(n - 1) : 0.0, on_held, outside);
	if (hist) {
		FILE *f = fopen(hist, "w");

		if (!f)
			die("cannot write %s", hist);
		fprintf(f, "# first_port chosen expected_if_uniform_over_free held_ports\n");
		for (p = 0; p < size; p += bin) {
			unsigned long got = 0, fr = 0, tk = 0;

			for (unsigned q = p; q < p + bin && q < size; q++) {
				got += cnt[q];
				fr += !taken[q];
				tk += !!taken[q];
			}
			fprintf(f, "%u %lu %.2f %lu\n", lo + p, got, expect * fr, tk);
		}
		if (fclose(f))
			die("cannot write %s", hist);
	}
	free(cnt);
	free(taken);
	return on_held || outside ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fprintf(stderr, "usage: psbench cycle|hold|fill|steer|summarize|chisq [OPTIONS]\n"
				"(driven by bench/run.sh; see the comment at the top of bench/psbench.c)\n");
		return argc < 2 ? 2 : 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(NULL);
	argv++;
	argc--;
	if (!strcmp(argv[0], "cycle"))
		return cmd_cycle(argc, argv);
	if (!strcmp(argv[0], "hold"))
		return cmd_hold(argc, argv);
	if (!strcmp(argv[0], "fill"))
		return cmd_fill(argc, argv);
	if (!strcmp(argv[0], "steer"))
		return cmd_steer(argc, argv);
	if (!strcmp(argv[0], "summarize"))
		return cmd_summarize(argc, argv);
	if (!strcmp(argv[0], "chisq"))
		return cmd_chisq(argc, argv);
	die("unknown command %s", argv[0]);
}
