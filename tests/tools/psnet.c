// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * psnet: the network side of the shell tests. Each subcommand opens, binds,
 * connects or inspects sockets the way a test needs and prints what really
 * happened as "key=value ..." lines, so that the shell only compares.
 *
 * Everything here is static: the Makefile links this file against the
 * loader's objects, whose global names must stay free.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sock/sockdiag.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,   /* an expectation failed, or the test could not run */
	EXIT_USAGE = 2,
};

#define NOFILE_WANTED 1048576

static const char *cmd_name = "psnet";

static void pr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void pr(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	/* One write per message: lines of concurrent threads never interleave. */
	n = snprintf(buf, sizeof(buf), "psnet %s: ", cmd_name);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	strcat(buf, "\n");
	if (write(STDERR_FILENO, buf, strlen(buf)) < 0)
		return;
}

/* ---- errno names ------------------------------------------------------ */

static const char *errname(int err)
{
	static __thread char buf[16];
	const char *name;

	if (!err)
		return "ok";
	name = strerrorname_np(err);
	if (name)
		return name;
	snprintf(buf, sizeof(buf), "E%d", err);
	return buf;
}

static int errno_parse(const char *s)
{
	const char *name;
	char *end;
	long v;
	int e;

	v = strtol(s, &end, 10);
	if (*s && !*end)
		return v > 0 && v < 4096 ? (int)v : -1;
	for (e = 1; e < 4096; e++) {
		name = strerrorname_np(e);
		if (name && !strcasecmp(name, s))
			return e;
	}
	return -1;
}

/* ---- numbers ---------------------------------------------------------- */

static bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_int(const char *s, int max, int *out)
{
	unsigned long v;

	if (!parse_ulong(s, max, &v))
		return false;
	*out = (int)v;
	return true;
}

static bool parse_secs(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 1e7)
		return false;
	*out = v;
	return true;
}

/* "LO-HI" or "P" */
static bool parse_port_range(const char *s, int *lo, int *hi)
{
	char buf[32], *dash;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	if (!parse_int(buf, 65535, lo))
		return false;
	if (!dash) {
		*hi = *lo;
		return true;
	}
	return parse_int(dash + 1, 65535, hi) && *lo <= *hi;
}

static double now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- addresses -------------------------------------------------------- */

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

static int addr_family(const struct addr *a)
{
	return a->ss.ss_family;
}

static void addr_set_port(struct addr *a, int port)
{
	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
}

static int addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

/* A bare address: 10.0.0.1, fe80::1%lo, [2001:db8::1]. */
static bool parse_ip(const char *s, struct addr *a)
{
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 4], *scope;
	size_t len = strlen(s);

	if (len >= sizeof(buf))
		return false;
	if (s[0] == '[') {
		if (len < 3 || s[len - 1] != ']')
			return false;
		memcpy(buf, s + 1, len - 2);
		buf[len - 2] = '\0';
	} else {
		strcpy(buf, s);
	}
	memset(a, 0, sizeof(*a));

	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;

	if (inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		a->len = sizeof(*sin);
		return true;
	}
	scope = strchr(buf, '%');
	if (scope)
		*scope++ = '\0';
	if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1)
		return false;
	sin6->sin6_family = AF_INET6;
	a->len = sizeof(*sin6);
	if (scope) {
		unsigned long idx;

		if (parse_ulong(scope, UINT32_MAX, &idx))
			sin6->sin6_scope_id = idx;
		else if (!(sin6->sin6_scope_id = if_nametoindex(scope)))
			return false;
	}
	return true;
}

/* ADDR:PORT[-PORT], IPv6 as [ADDR]:PORT. */
static bool parse_ip_port(const char *s, struct addr *a, int *lo, int *hi, bool range)
{
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 4];
	const char *colon;
	int plo, phi;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return false;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		/* Two colons without brackets: an IPv6 address, port unclear. */
		if (!colon || memchr(s, ':', colon - s))
			return false;
	}
	if ((size_t)(colon - s) >= sizeof(buf))
		return false;
	memcpy(buf, s, colon - s);
	buf[colon - s] = '\0';
	if (!parse_ip(buf, a) || !parse_port_range(colon + 1, &plo, &phi))
		return false;
	if (!range && plo != phi)
		return false;
	addr_set_port(a, plo);
	*lo = plo;
	if (hi)
		*hi = phi;
	return true;
}

/* Family, address and port of a socket end, v4-mapped IPv6 folded to IPv4. */
struct ipport {
	int family;
	uint8_t addr[16];
	uint16_t port;
};

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static void ipport_fold(struct ipport *ip)
{
	if (ip->family == AF_INET6 && !memcmp(ip->addr, v4mapped_prefix, 12)) {
		memmove(ip->addr, ip->addr + 12, 4);
		memset(ip->addr + 4, 0, 12);
		ip->family = AF_INET;
	}
}

static void ipport_from_sa(const struct sockaddr_storage *ss, struct ipport *ip)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = ss->ss_family;
	if (ss->ss_family == AF_INET)
		memcpy(ip->addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	else if (ss->ss_family == AF_INET6)
		memcpy(ip->addr, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	ip->port = addr_port(ss);
	ipport_fold(ip);
}

/* Returned by value so that threads and nested calls need no buffers. */
struct astr {
	char s[INET6_ADDRSTRLEN + 16];
};

static struct astr ip_str(int family, const uint8_t *addr, int port, bool with_port)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	struct astr r;

	inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, ip, sizeof(ip));
	if (!with_port)
		snprintf(r.s, sizeof(r.s), "%s", ip);
	else if (family == AF_INET6)
		snprintf(r.s, sizeof(r.s), "[%s]:%d", ip, port);
	else
		snprintf(r.s, sizeof(r.s), "%s:%d", ip, port);
	return r;
}

static struct astr sa_str(const struct sockaddr_storage *ss)
{
	struct ipport ip;
	struct astr r;

	if (ss->ss_family != AF_INET && ss->ss_family != AF_INET6) {
		snprintf(r.s, sizeof(r.s), "-");
		return r;
	}
	ipport_from_sa(ss, &ip);
	/* Keep the family the socket has: do not print v4-mapped as v4 here. */
	if (ss->ss_family == AF_INET6)
		return ip_str(AF_INET6, (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr,
			      ip.port, true);
	return ip_str(AF_INET, ip.addr, ip.port, true);
}

static struct astr local_str(int fd)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		ss.ss_family = AF_UNSPEC;
	return sa_str(&ss);
}

/* ---- small socket helpers --------------------------------------------- */

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* MPTCP is a stream protocol of its own: socket(..., SOCK_STREAM, IPPROTO_MPTCP). */
static bool parse_proto(const char *s, int *proto)
{
	if (!strcmp(s, "tcp"))
		*proto = IPPROTO_TCP;
	else if (!strcmp(s, "udp"))
		*proto = IPPROTO_UDP;
	else if (!strcmp(s, "mptcp"))
		*proto = IPPROTO_MPTCP;
	else
		return false;
	return true;
}

static const char *proto_str(int proto)
{
	return proto == IPPROTO_UDP ? "udp" : proto == IPPROTO_MPTCP ? "mptcp" : "tcp";
}

static int sock_type(int proto)
{
	return proto == IPPROTO_UDP ? SOCK_DGRAM : SOCK_STREAM;
}

/* The protocol argument of socket(): 0 (the type's default) but for MPTCP. */
static int sock_proto(int proto)
{
	return proto == IPPROTO_MPTCP ? IPPROTO_MPTCP : 0;
}

/*
 * Every timeout here is a limit for giving up, never a measurement, so a
 * slow machine (an emulated CPU in tests/vm) stretches them all by
 * TEST_TIME_SCALE, the factor tests/lib.sh gives its own waits.
 */
static double time_scale(void)
{
	static int scale;
	const char *s;

	if (!scale) {
		s = getenv("TEST_TIME_SCALE");
		if (!s || !parse_int(s, 1000, &scale) || scale < 1)
			scale = 1;
	}
	return scale;
}

static void set_timeout(int fd, int opt, double secs)
{
	double scaled = secs * time_scale();
	struct timeval tv = {
		.tv_sec = (time_t)scaled,
		.tv_usec = (suseconds_t)((scaled - (time_t)scaled) * 1e6),
	};

	/* A zero timeval means "block forever" to the kernel. */
	if (!tv.tv_sec && !tv.tv_usec)
		tv.tv_usec = 1000;
	setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

static int set_int_opt(int fd, int level, int opt, int val)
{
	return setsockopt(fd, level, opt, &val, sizeof(val)) ? errno : 0;
}

static void set_linger0(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* connect() that reports a SO_SNDTIMEO expiry as what it is. */
static int do_connect(int fd, const struct addr *dst)
{
	if (!connect(fd, (const struct sockaddr *)&dst->ss, dst->len))
		return 0;
	return errno == EINPROGRESS ? ETIMEDOUT : errno;
}

/*
 * As many descriptors as the kernel allows: the stress and serve loads hold
 * 100k+ sockets. Root may raise the hard limit up to fs.nr_open.
 */
static void raise_nofile(void)
{
	struct rlimit rl = { NOFILE_WANTED, NOFILE_WANTED };
	unsigned long nr_open = NOFILE_WANTED;
	FILE *f;

	f = fopen("/proc/sys/fs/nr_open", "re");
	if (f) {
		if (fscanf(f, "%lu", &nr_open) != 1)
			nr_open = NOFILE_WANTED;
		fclose(f);
	}
	if (nr_open < NOFILE_WANTED)
		rl.rlim_cur = rl.rlim_max = nr_open;
	if (!setrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void hold(double secs, bool until_eof)
{
	char buf[4096];
	ssize_t n;

	if (until_eof) {
		do
			n = read(STDIN_FILENO, buf, sizeof(buf));
		while (n > 0 || (n < 0 && errno == EINTR));
		return;
	}
	if (secs > 0) {
		struct timespec ts = {
			.tv_sec = (time_t)secs,
			.tv_nsec = (long)((secs - (time_t)secs) * 1e9),
		};

		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
}

/*
 * res[] holds 0 or an errno per attempt. With expect_err, all attempts but
 * the last must succeed and the last must fail with expect_err; with
 * expect_ok, all must succeed.
 */
static int check_expect(const int *res, int n, bool expect_ok, int expect_err)
{
	int i;

	if (expect_err) {
		for (i = 0; i < n - 1; i++) {
			if (res[i]) {
				pr("attempt %d of %d failed with %s, expected ok (only the last may fail)",
				   i + 1, n, errname(res[i]));
				return EXIT_FAIL;
			}
		}
		if (n > 0 && res[n - 1] != expect_err) {
			pr("last attempt: %s, expected %s", errname(res[n - 1]), errname(expect_err));
			return EXIT_FAIL;
		}
		return EXIT_OK;
	}
	if (expect_ok) {
		for (i = 0; i < n; i++) {
			if (res[i]) {
				pr("attempt %d of %d failed with %s, expected ok", i + 1, n, errname(res[i]));
				return EXIT_FAIL;
			}
		}
	}
	return EXIT_OK;
}

union cmsg_pktinfo {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct cmsghdr align;
};

/* Names the source address of one datagram, whatever the socket is bound to. */
static void put_pktinfo(struct msghdr *mh, union cmsg_pktinfo *cb, int family,
			const void *addr, int ifindex)
{
	struct cmsghdr *c;

	memset(cb, 0, sizeof(*cb));
	mh->msg_control = cb->buf;
	if (family == AF_INET) {
		struct in_pktinfo pi = { .ipi_ifindex = ifindex };

		memcpy(&pi.ipi_spec_dst, addr, 4);
		mh->msg_controllen = CMSG_SPACE(sizeof(pi));
		c = CMSG_FIRSTHDR(mh);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	} else {
		struct in6_pktinfo pi = { .ipi6_ifindex = ifindex };

		memcpy(&pi.ipi6_addr, addr, 16);
		mh->msg_controllen = CMSG_SPACE(sizeof(pi));
		c = CMSG_FIRSTHDR(mh);
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	}
}

/* The destination address of a received datagram, from its pktinfo. */
static bool get_pktinfo(struct msghdr *mh, int *family, uint8_t addr[16], int *ifindex)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			*family = AF_INET;
			memset(addr, 0, 16);
			memcpy(addr, &pi.ipi_addr, 4);
			*ifindex = pi.ipi_ifindex;
			return true;
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			*family = AF_INET6;
			memcpy(addr, &pi.ipi6_addr, 16);
			*ifindex = pi.ipi6_ifindex;
			return true;
		}
	}
	return false;
}

/* ---- option parsing plumbing ------------------------------------------ */

static const char *usage_text;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pr("%s (see: psnet %s --help)", buf, cmd_name);
	return EXIT_USAGE;
}

static int show_help(void)
{
	fputs(usage_text, stdout);
	return EXIT_OK;
}

/* getopt's own complaints are enough: just say where the help is. */
static int bad_option(void)
{
	pr("see: psnet %s --help", cmd_name);
	return EXIT_USAGE;
}

/* Long options all come back as their val; 'h' is --help. */
#define OPT_HELP { "help", no_argument, NULL, 'h' }

/* ---- serve ------------------------------------------------------------ */

static const char serve_usage[] =
"usage: psnet serve [--tcp ADDR:PORT[-PORT]]... [--udp ADDR:PORT[-PORT]]...\n"
"                   [--mptcp ADDR:PORT[-PORT]]... [--stdin-eof] [--workers N]\n"
"                   [--backlog N]\n"
"\n"
"Listens on every port of each range and echoes: TCP bytes back on the same\n"
"connection, UDP datagrams back to their sender (from the address they were\n"
"sent to). IPv6 addresses are written [ADDR]:PORT; IPv6 sockets are v6-only.\n"
"TCP listeners use SO_REUSEADDR and a large backlog; each process serves its\n"
"connections from one epoll loop, 100k+ of them if RLIMIT_NOFILE allows\n"
"(raised to 1048576 when possible). Client errors never stop the server.\n"
"\n"
"Prints \"ready\" on stdout once every socket listens. Exits 0 on SIGTERM or\n"
"SIGINT, and with --stdin-eof when stdin reaches end of file.\n"
"\n"
"  --tcp ADDR:PORT[-PORT]  TCP echo on these ports (repeatable)\n"
"  --udp ADDR:PORT[-PORT]  UDP echo on these ports (repeatable)\n"
"  --mptcp ADDR:PORT[-PORT] MPTCP echo (IPPROTO_MPTCP listeners; plain TCP\n"
"                          clients fall back to TCP) (repeatable)\n"
"  --stdin-eof             exit when stdin is closed\n"
"  --workers N             N processes (default 1), each with its own\n"
"                          sockets bound with SO_REUSEPORT, so that the\n"
"                          kernel spreads clients evenly: more CPUs, and N\n"
"                          times the descriptors where the hard\n"
"                          RLIMIT_NOFILE cannot be raised\n"
"  --backlog N             listen() backlog (default 65535; capped by\n"
"                          net.core.somaxconn)\n";

enum ev_kind { EV_LISTEN, EV_UDP, EV_CONN, EV_SIGNAL, EV_STDIN };

struct serve_ev {
	enum ev_kind kind;
	int fd;
	char *pend;          /* echo bytes the peer's window has not taken yet */
	uint32_t plen, poff;
};

struct serve_spec {
	int proto;
	struct addr a;
	int lo, hi;
};

struct serve {
	int epfd;
	int spare_fd;        /* given up to accept-and-drop when out of fds */
	unsigned long conns;
	struct serve_ev **socks;  /* listeners and UDP sockets */
	int nsocks;
};

static int serve_ctl(struct serve *s, int op, struct serve_ev *e, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = e };

	return epoll_ctl(s->epfd, op, e->fd, &ev) ? errno : 0;
}

static struct serve_ev *serve_ev_new(enum ev_kind kind, int fd)
{
	struct serve_ev *e = calloc(1, sizeof(*e));

	if (e) {
		e->kind = kind;
		e->fd = fd;
	}
	return e;
}

static int serve_open(struct serve *s, const struct serve_spec *sp, int port, int backlog,
		      bool reuseport)
{
	int fam = addr_family(&sp->a), fd, err;
	struct serve_ev *e, **socks;
	struct addr a = sp->a;

	addr_set_port(&a, port);
	fd = socket(fam, sock_type(sp->proto) | SOCK_NONBLOCK | SOCK_CLOEXEC, sock_proto(sp->proto));
	if (fd < 0)
		return errno;
	if (sp->proto != IPPROTO_UDP)
		set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (reuseport)
		set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	/* So that a v4 and a v6 wildcard listener may share a port. */
	if (fam == AF_INET6)
		set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	/* Replies to a wildcard socket must leave from the address the client used. */
	if (sp->proto == IPPROTO_UDP)
		set_int_opt(fd, fam == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
			    fam == AF_INET ? IP_PKTINFO : IPV6_RECVPKTINFO, 1);
	if (bind(fd, (struct sockaddr *)&a.ss, a.len) ||
	    (sp->proto != IPPROTO_UDP && listen(fd, backlog)))
		goto fail;
	socks = realloc(s->socks, (s->nsocks + 1) * sizeof(*socks));
	if (!socks) {
		errno = ENOMEM;
		goto fail;
	}
	s->socks = socks;
	e = serve_ev_new(sp->proto != IPPROTO_UDP ? EV_LISTEN : EV_UDP, fd);
	if (!e) {
		errno = ENOMEM;
		goto fail;
	}
	s->socks[s->nsocks++] = e;
	return 0;
fail:
	err = errno;
	close(fd);
	return err;
}

static int serve_open_all(struct serve *s, const struct serve_spec *specs, int nspecs,
			  int backlog, bool reuseport)
{
	int i, port, err;

	for (i = 0; i < nspecs; i++) {
		for (port = specs[i].lo; port <= specs[i].hi; port++) {
			err = serve_open(s, &specs[i], port, backlog, reuseport);
			if (err) {
				struct addr a = specs[i].a;

				addr_set_port(&a, port);
				pr("cannot serve %s %s: %s", proto_str(specs[i].proto), sa_str(&a.ss).s,
				   errname(err));
				return err;
			}
		}
	}
	return 0;
}

static int serve_watch(struct serve *s)
{
	int i, err;

	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		return errno;
	for (i = 0; i < s->nsocks; i++) {
		err = serve_ctl(s, EPOLL_CTL_ADD, s->socks[i], EPOLLIN);
		if (err)
			return err;
	}
	return 0;
}

static void serve_conn_close(struct serve *s, struct serve_ev *e)
{
	/* close() drops the epoll registration: the fd has no duplicate. */
	close(e->fd);
	free(e->pend);
	free(e);
	s->conns--;
}

static void serve_accept(struct serve *s, struct serve_ev *l)
{
	static bool warned;
	struct serve_ev *e;
	int fd, i;

	/* Bounded so that one busy listener cannot starve the others. */
	for (i = 0; i < 256; i++) {
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				if (!warned)
					pr("out of file descriptors at %lu connections: dropping new ones",
					   s->conns);
				warned = true;
				/*
				 * Level-triggered epoll would spin on the pending
				 * connection: free one fd to take it and drop it.
				 */
				if (s->spare_fd >= 0) {
					close(s->spare_fd);
					fd = accept(l->fd, NULL, NULL);
					if (fd >= 0)
						close(fd);
					s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				}
			}
			/* EAGAIN, or a client that gave up: nothing to do. */
			return;
		}
		e = serve_ev_new(EV_CONN, fd);
		if (!e || serve_ctl(s, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLRDHUP)) {
			free(e);
			close(fd);
			continue;
		}
		s->conns++;
	}
}

static void serve_conn_write(struct serve *s, struct serve_ev *e)
{
	ssize_t n;

	while (e->poff < e->plen) {
		n = send(e->fd, e->pend + e->poff, e->plen - e->poff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			serve_conn_close(s, e);
			return;
		}
		e->poff += n;
	}
	free(e->pend);
	e->pend = NULL;
	e->plen = e->poff = 0;
	/* Read again only once the peer took everything: bounded memory. */
	if (serve_ctl(s, EPOLL_CTL_MOD, e, EPOLLIN | EPOLLRDHUP))
		serve_conn_close(s, e);
}

static void serve_conn_read(struct serve *s, struct serve_ev *e)
{
	static char buf[65536];
	ssize_t n, w;

	n = recv(e->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		serve_conn_close(s, e);
		return;
	}
	w = send(e->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w < 0) {
		if (errno != EAGAIN) {
			serve_conn_close(s, e);
			return;
		}
		w = 0;
	}
	if (w == n)
		return;
	e->pend = malloc(n - w);
	if (!e->pend) {
		serve_conn_close(s, e);
		return;
	}
	memcpy(e->pend, buf + w, n - w);
	e->plen = n - w;
	e->poff = 0;
	if (serve_ctl(s, EPOLL_CTL_MOD, e, EPOLLOUT))
		serve_conn_close(s, e);
}

static void serve_udp(struct serve_ev *e)
{
	static char buf[65536];
	union cmsg_pktinfo in, out;
	struct sockaddr_storage peer;
	struct msghdr rx, tx;
	struct iovec iov;
	uint8_t dst[16];
	int fam, ifindex, i;
	ssize_t n;

	/* Bounded so that one flooded port cannot starve the others. */
	for (i = 0; i < 256; i++) {
		iov = (struct iovec){ .iov_base = buf, .iov_len = sizeof(buf) };
		rx = (struct msghdr){
			.msg_name = &peer, .msg_namelen = sizeof(peer),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = in.buf, .msg_controllen = sizeof(in.buf),
		};
		n = recvmsg(e->fd, &rx, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		iov.iov_len = n;
		tx = (struct msghdr){
			.msg_name = &peer, .msg_namelen = rx.msg_namelen,
			.msg_iov = &iov, .msg_iovlen = 1,
		};
		if (get_pktinfo(&rx, &fam, dst, &ifindex)) {
			/* Only link-local replies need the interface pinned. */
			bool ll = fam == AF_INET6 && IN6_IS_ADDR_LINKLOCAL((struct in6_addr *)dst);

			put_pktinfo(&tx, &out, fam, dst, ll ? ifindex : 0);
		}
		/* A client gone or a full buffer is the client's problem. */
		sendmsg(e->fd, &tx, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
}

/* Returns 1 when stdin is at EOF (or unreadable), 0 otherwise. */
static int stdin_drained(int fd)
{
	char buf[4096];
	ssize_t r = read(fd, buf, sizeof(buf));

	return r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN);
}

/* The event loop of one serving process. Returns an exit status. */
static int serve_loop(struct serve *s, int sigfd, bool watch_stdin, bool quiet)
{
	struct epoll_event evs[1024];
	struct serve_ev *e;
	int i, n, err;

	e = serve_ev_new(EV_SIGNAL, sigfd);
	if (!e || serve_ctl(s, EPOLL_CTL_ADD, e, EPOLLIN)) {
		pr("cannot watch signals: %s", errname(errno));
		return EXIT_FAIL;
	}
	if (watch_stdin) {
		e = serve_ev_new(EV_STDIN, STDIN_FILENO);
		if (!e)
			return EXIT_FAIL;
		err = serve_ctl(s, EPOLL_CTL_ADD, e, EPOLLIN);
		/* A regular file or /dev/null cannot be polled: it is at EOF already. */
		if (err == EPERM)
			return EXIT_OK;
		if (err) {
			pr("cannot watch stdin: %s", errname(err));
			return EXIT_FAIL;
		}
	}

	for (;;) {
		n = epoll_wait(s->epfd, evs, sizeof(evs) / sizeof(evs[0]), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			pr("epoll_wait: %s", errname(errno));
			return EXIT_FAIL;
		}
		for (i = 0; i < n; i++) {
			e = evs[i].data.ptr;
			switch (e->kind) {
			case EV_LISTEN:
				serve_accept(s, e);
				break;
			case EV_UDP:
				serve_udp(e);
				break;
			case EV_CONN:
				if (e->pend)
					serve_conn_write(s, e);
				else
					serve_conn_read(s, e);
				break;
			case EV_SIGNAL: {
				struct signalfd_siginfo si;

				if (read(e->fd, &si, sizeof(si)) != sizeof(si))
					break;
				if (!quiet)
					pr("signal %u: exiting with %lu connections open",
					   si.ssi_signo, s->conns);
				return EXIT_OK;
				break;
			}
			case EV_STDIN:
				if (stdin_drained(e->fd)) {
					pr("stdin closed: exiting with %lu connections open", s->conns);
					return EXIT_OK;
				}
				break;
			}
		}
	}
}

static void serve_stop_workers(const pid_t *pids, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	for (i = 0; i < n; i++)
		if (pids[i] > 0)
			while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
				;
}

/*
 * The parent forks the workers, waits until each listens, then only waits
 * for the end (signal or stdin EOF) and passes it on. A worker that dies is
 * reported; the others keep serving.
 */
static int serve_workers(const struct serve_spec *specs, int nspecs, int backlog, int workers,
			 bool stdin_eof, const sigset_t *sigs)
{
	pid_t parent = getpid(), *pids, pid;
	int i, alive = workers, sigfd, status, err, ready[2];
	struct pollfd pfd[2];
	ssize_t n;
	char c;

	pids = calloc(workers, sizeof(*pids));
	if (!pids || pipe2(ready, O_CLOEXEC))
		return EXIT_FAIL;
	fflush(NULL);
	for (i = 0; i < workers; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			pr("fork: %s", errname(errno));
			serve_stop_workers(pids, i);
			return EXIT_FAIL;
		}
		if (!pids[i]) {
			struct serve s = { .epfd = -1 };

			/* Never outlive the parent, whatever kills it. */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				_exit(EXIT_OK);
			close(ready[0]);
			s.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (serve_open_all(&s, specs, nspecs, backlog, true))
				_exit(EXIT_FAIL);
			err = serve_watch(&s);
			sigfd = signalfd(-1, sigs, SFD_NONBLOCK | SFD_CLOEXEC);
			if (err || sigfd < 0) {
				pr("epoll/signalfd: %s", errname(err ? err : errno));
				_exit(EXIT_FAIL);
			}
			/* One byte each, then EOF: a worker that fails cannot hang the parent. */
			if (write(ready[1], "r", 1) != 1)
				_exit(EXIT_FAIL);
			close(ready[1]);
			_exit(serve_loop(&s, sigfd, false, true));
		}
	}
	close(ready[1]);
	for (i = 0; i < workers; i += n) {
		n = read(ready[0], &c, 1);
		if (n <= 0)
			break;
	}
	close(ready[0]);
	if (i < workers) {
		pr("%d of %d workers failed to start", workers - i, workers);
		serve_stop_workers(pids, workers);
		return EXIT_FAIL;
	}

	sigfd = signalfd(-1, sigs, SFD_CLOEXEC);
	if (sigfd < 0) {
		pr("signalfd: %s", errname(errno));
		serve_stop_workers(pids, workers);
		return EXIT_FAIL;
	}
	printf("ready\n");
	fflush(stdout);
	pr("%d workers listening", workers);

	pfd[0] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = stdin_eof ? STDIN_FILENO : -1, .events = POLLIN };
	for (;;) {
		if (poll(pfd, 2, -1) < 0)
			continue;
		if (pfd[1].revents && stdin_drained(STDIN_FILENO)) {
			pr("stdin closed: stopping the workers");
			break;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo != SIGCHLD) {
				pr("signal %u: stopping the workers", si.ssi_signo);
				break;
			}
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
				for (i = 0; i < workers; i++) {
					if (pids[i] != pid)
						continue;
					pr("worker %d (pid %d) died (status 0x%x)", i, pid, status);
					pids[i] = 0;
					alive--;
				}
			}
			if (!alive) {
				pr("every worker died");
				return EXIT_FAIL;
			}
		}
	}
	serve_stop_workers(pids, workers);
	free(pids);
	return EXIT_OK;
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tcp", required_argument, NULL, 't' },
		{ "udp", required_argument, NULL, 'u' },
		{ "mptcp", required_argument, NULL, 'm' },
		{ "stdin-eof", no_argument, NULL, 'e' },
		{ "workers", required_argument, NULL, 'w' },
		{ "backlog", required_argument, NULL, 'b' },
		OPT_HELP,
		{ 0 }
	};
	struct serve s = { .epfd = -1, .spare_fd = -1 };
	int nspecs = 0, backlog = 65535, workers = 1, c, i, j, err, sigfd;
	struct serve_spec *specs = NULL;
	bool stdin_eof = false;
	sigset_t sigs;

	usage_text = serve_usage;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
		case 'u':
		case 'm':
			specs = realloc(specs, (nspecs + 1) * sizeof(*specs));
			if (!specs)
				return EXIT_FAIL;
			specs[nspecs].proto = c == 't' ? IPPROTO_TCP : c == 'u' ? IPPROTO_UDP : IPPROTO_MPTCP;
			if (!parse_ip_port(optarg, &specs[nspecs].a, &specs[nspecs].lo,
					   &specs[nspecs].hi, true))
				return usage_error("bad ADDR:PORT[-PORT] '%s'", optarg);
			nspecs++;
			break;
		case 'e':
			stdin_eof = true;
			break;
		case 'w':
			if (!parse_int(optarg, 1024, &workers) || !workers)
				return usage_error("bad --workers '%s'", optarg);
			break;
		case 'b':
			if (!parse_int(optarg, INT_MAX, &backlog))
				return usage_error("bad --backlog '%s'", optarg);
			break;
		case 'h':
			return show_help();
		default:
			return bad_option();
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!nspecs)
		return usage_error("give at least one --tcp or --udp");
	/* SO_REUSEPORT would let a worker bind a port twice without a word. */
	for (i = 0; i < nspecs; i++) {
		for (j = 0; j < i; j++) {
			struct ipport x, y;

			ipport_from_sa(&specs[i].a.ss, &x);
			ipport_from_sa(&specs[j].a.ss, &y);
			if (specs[i].proto == specs[j].proto && x.family == y.family &&
			    !memcmp(x.addr, y.addr, 16) &&
			    specs[i].lo <= specs[j].hi && specs[j].lo <= specs[i].hi)
				return usage_error("%s %s: ports listed twice", proto_str(specs[i].proto),
						   ip_str(x.family, x.addr, 0, false).s);
		}
	}

	signal(SIGPIPE, SIG_IGN);
	/* Blocked before any fork: the end is read from a signalfd. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (workers > 1) {
		sigaddset(&sigs, SIGCHLD);
		sigprocmask(SIG_BLOCK, &sigs, NULL);
		return serve_workers(specs, nspecs, backlog, workers, stdin_eof, &sigs);
	}
	sigprocmask(SIG_BLOCK, &sigs, NULL);

	s.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (serve_open_all(&s, specs, nspecs, backlog, false))
		return EXIT_FAIL;
	free(specs);
	err = serve_watch(&s);
	sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (err || sigfd < 0) {
		pr("epoll/signalfd: %s", errname(err ? err : errno));
		return EXIT_FAIL;
	}
	printf("ready\n");
	fflush(stdout);
	pr("listening on %d sockets", s.nsocks);
	return serve_loop(&s, sigfd, stdin_eof, false);
}

/* ---- connect ---------------------------------------------------------- */

static const char connect_usage[] =
"usage: psnet connect --proto tcp|udp|mptcp --to ADDR:PORT[-PORT] [--count N]\n"
"                     [--bind ADDR:PORT] [--echo] [--hold SECONDS|--hold-stdin]\n"
"                     [--expect-errno NAME] [--linger0] [options]\n"
"\n"
"Opens N sockets of the family of --to, the i-th connected to the i-th port\n"
"of the range (round-robin), and prints one line per socket:\n"
"  proto=tcp local=ADDR:PORT remote=ADDR:PORT result=ok|ERRNAME\n"
"local is getsockname() after connect(): the port portslice picked.\n"
"Lines are flushed before holding, so a test can read them meanwhile.\n"
"\n"
"  --proto tcp|udp|mptcp socket type (UDP sockets are connected; mptcp:\n"
"                        SOCK_STREAM, IPPROTO_MPTCP)\n"
"  --to ADDR:PORT[-PORT] destinations; IPv6 as [ADDR]:PORT\n"
"  --count N             number of sockets (default 1)\n"
"  --bind ADDR:PORT      explicit bind() before connect()\n"
"  --bind-no-port        IP_BIND_ADDRESS_NO_PORT before bind(): with port 0\n"
"                        the port is chosen at connect() (nginx proxy_bind,\n"
"                        HAProxy source, Go and Java dialers)\n"
"  --bind-fallback       when bind() fails, connect() the same socket anyway\n"
"                        (an application falling back to an ephemeral port)\n"
"  --device DEV          SO_BINDTODEVICE DEV before bind/connect\n"
"  --close-each          close each socket right after its line (sequential\n"
"                        connect/close cycles; with --echo the client closes\n"
"                        first, so its tuple goes to TIME_WAIT)\n"
"  --pause SECONDS       sleep that long before each socket but the first\n"
"  --reuseaddr           SO_REUSEADDR before bind/connect\n"
"  --reuseport           SO_REUSEPORT before bind/connect\n"
"  --echo                send a short payload and check it comes back\n"
"                        (failure: ETIMEDOUT, ECONNRESET or EBADMSG);\n"
"                        UDP sends it up to --udp-tries times\n"
"  --timeout S           echo timeout in seconds (default 2), per UDP try\n"
"  --udp-tries N         UDP echo sends before giving up (default 3)\n"
"  --connect-timeout S   TCP connect timeout in seconds (default 5)\n"
"  --hold SECONDS        keep the sockets open that long, then close\n"
"  --hold-stdin          keep the sockets open until stdin reaches EOF\n"
"  --echo-lines          with --hold-stdin: each line read echoes once more\n"
"                        on every held socket (\"echo local=... result=...\")\n"
"  --linger0             close with SO_LINGER {1,0}: RST, no TIME_WAIT\n"
"  --keep-failed         hold sockets whose connect() failed too (a TCP\n"
"                        socket refused by its peer keeps its port until\n"
"                        close())\n"
"  --expect-errno NAME   the LAST socket must fail with NAME (e.g.\n"
"                        EADDRNOTAVAIL) and all before it succeed\n"
"  --allow-fail          exit 0 even if some sockets failed\n"
"\n"
"Exit: 0 if every socket succeeded (or the --expect-errno pattern held),\n"
"1 otherwise, 2 on usage error.\n";

static const char payload[] = "psnet echo\n";

/*
 * Returns 0 or an errno describing how the echo failed. A UDP echo is sent
 * up to udp_tries times, each followed by a full timeout: a datagram lost
 * on a busy veth is not what the tests look for, a reply that goes to the
 * wrong host is (it never comes back, however often it is asked for). TCP
 * retransmits by itself.
 */
static int check_echo(int fd, int proto, double timeout, int udp_tries)
{
	int tries = proto == IPPROTO_UDP ? udp_tries : 1;
	char buf[sizeof(payload)];
	size_t got = 0;
	ssize_t n;

	set_timeout(fd, SO_RCVTIMEO, timeout);
send:
	if (send(fd, payload, sizeof(payload) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(payload) - 1)
		return errno ? errno : EIO;
	while (got < sizeof(payload) - 1) {
		n = recv(fd, buf + got, sizeof(buf) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && --tries > 0)
				goto send;
			return errno == EAGAIN ? ETIMEDOUT : errno;
		}
		if (n == 0)
			return ECONNRESET;
		got += n;
		/* A datagram is the whole answer. */
		if (proto == IPPROTO_UDP)
			break;
	}
	return got == sizeof(payload) - 1 && !memcmp(buf, payload, got) ? 0 : EBADMSG;
}

/*
 * --hold-stdin --echo-lines: until stdin ends, each line read echoes once
 * more on every held socket, one line each: echo local=ADDR:PORT result=...
 */
static void hold_echo_lines(const int *fds, int n, int proto, double timeout, int udp_tries)
{
	char buf[4096];
	ssize_t r;

	while ((r = read(STDIN_FILENO, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR)) {
		for (ssize_t k = 0; k < r; k++) {
			if (buf[k] != '\n')
				continue;
			for (int i = 0; i < n; i++)
				printf("echo local=%s result=%s\n", local_str(fds[i]).s,
				       errname(check_echo(fds[i], proto, timeout, udp_tries)));
			fflush(stdout);
		}
	}
}

static int cmd_connect(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "proto", required_argument, NULL, 'p' },
		{ "to", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "bind", required_argument, NULL, 'b' },
		{ "reuseaddr", no_argument, NULL, 'r' },
		{ "reuseport", no_argument, NULL, 'R' },
		{ "bind-no-port", no_argument, NULL, 'N' },
		{ "bind-fallback", no_argument, NULL, 'F' },
		{ "device", required_argument, NULL, 'D' },
		{ "close-each", no_argument, NULL, 'x' },
		{ "pause", required_argument, NULL, 'P' },
		{ "echo", no_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "connect-timeout", required_argument, NULL, 'C' },
		{ "udp-tries", required_argument, NULL, 'u' },
		{ "hold", required_argument, NULL, 'H' },
		{ "hold-stdin", no_argument, NULL, 'S' },
		{ "echo-lines", no_argument, NULL, 'L' },
		{ "linger0", no_argument, NULL, 'l' },
		{ "keep-failed", no_argument, NULL, 'k' },
		{ "expect-errno", required_argument, NULL, 'E' },
		{ "allow-fail", no_argument, NULL, 'a' },
		OPT_HELP,
		{ 0 }
	};
	bool have_to = false, have_bind = false, reuseaddr = false, reuseport = false, echo_lines = false;
	bool echo = false, hold_stdin = false, linger0 = false, allow_fail = false;
	bool bind_no_port = false, bind_fallback = false, close_each = false, keep_failed = false;
	const char *device = NULL;
	double timeout = 2, ctimeout = 5, hold_secs = 0, pause_secs = 0;
	int proto = 0, count = 1, expect_err = 0, lo = 0, hi = 0, bport, c, i, fd, err;
	int nfds = 0, failed = 0, udp_tries = 3, ret;
	struct addr to, bindaddr, dst;
	int *fds, *res;

	usage_text = connect_usage;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!parse_proto(optarg, &proto))
				return usage_error("--proto must be tcp or udp");
			break;
		case 't':
			if (!parse_ip_port(optarg, &to, &lo, &hi, true))
				return usage_error("bad --to '%s'", optarg);
			have_to = true;
			break;
		case 'n':
			if (!parse_int(optarg, 10000000, &count) || !count)
				return usage_error("bad --count '%s'", optarg);
			break;
		case 'b':
			if (!parse_ip_port(optarg, &bindaddr, &bport, NULL, false))
				return usage_error("bad --bind '%s'", optarg);
			have_bind = true;
			break;
		case 'r':
			reuseaddr = true;
			break;
		case 'R':
			reuseport = true;
			break;
		case 'N':
			bind_no_port = true;
			break;
		case 'F':
			bind_fallback = true;
			break;
		case 'D':
			if (strlen(optarg) >= IF_NAMESIZE)
				return usage_error("bad --device '%s'", optarg);
			device = optarg;
			break;
		case 'x':
			close_each = true;
			break;
		case 'P':
			if (!parse_secs(optarg, &pause_secs))
				return usage_error("bad --pause '%s'", optarg);
			break;
		case 'e':
			echo = true;
			break;
		case 'T':
			if (!parse_secs(optarg, &timeout))
				return usage_error("bad --timeout '%s'", optarg);
			break;
		case 'C':
			if (!parse_secs(optarg, &ctimeout))
				return usage_error("bad --connect-timeout '%s'", optarg);
			break;
		case 'u':
			if (!parse_int(optarg, 100, &udp_tries) || !udp_tries)
				return usage_error("bad --udp-tries '%s' (1-100)", optarg);
			break;
		case 'H':
			if (!parse_secs(optarg, &hold_secs))
				return usage_error("bad --hold '%s'", optarg);
			break;
		case 'S':
			hold_stdin = true;
			break;
		case 'L':
			echo_lines = true;
			break;
		case 'l':
			linger0 = true;
			break;
		case 'k':
			keep_failed = true;
			break;
		case 'E':
			expect_err = errno_parse(optarg);
			if (expect_err <= 0)
				return usage_error("unknown errno name '%s'", optarg);
			break;
		case 'a':
			allow_fail = true;
			break;
		case 'h':
			return show_help();
		default:
			return bad_option();
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!proto || !have_to)
		return usage_error("--proto and --to are required");
	if (have_bind && addr_family(&bindaddr) != addr_family(&to))
		return usage_error("--bind and --to must be of the same family");
	if (hold_stdin && hold_secs > 0)
		return usage_error("--hold and --hold-stdin exclude each other");
	if (echo_lines && !hold_stdin)
		return usage_error("--echo-lines needs --hold-stdin");
	if (bind_no_port && !have_bind)
		return usage_error("--bind-no-port needs --bind");
	if (bind_fallback && !have_bind)
		return usage_error("--bind-fallback needs --bind");

	fds = calloc(count, sizeof(*fds));
	res = calloc(count, sizeof(*res));
	if (!fds || !res)
		return EXIT_FAIL;

	for (i = 0; i < count; i++) {
		if (i && pause_secs > 0)
			hold(pause_secs, false);
		dst = to;
		addr_set_port(&dst, lo + i % (hi - lo + 1));
		fd = socket(addr_family(&to), sock_type(proto) | SOCK_CLOEXEC, sock_proto(proto));
		if (fd < 0) {
			res[i] = errno;
			printf("proto=%s local=- remote=%s result=%s\n", proto_str(proto),
			       sa_str(&dst.ss).s, errname(res[i]));
			failed++;
			continue;
		}
		if (reuseaddr)
			set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
		if (reuseport)
			set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
		if (linger0)
			set_linger0(fd);
		set_timeout(fd, SO_SNDTIMEO, ctimeout);
		err = 0;
		if (device && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, strlen(device)))
			err = errno;
		if (!err && bind_no_port)
			err = set_int_opt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
		if (!err && have_bind && bind(fd, (struct sockaddr *)&bindaddr.ss, bindaddr.len)) {
			err = errno;
			if (bind_fallback) {
				pr("bind: %s; connecting the same socket without it", errname(err));
				err = 0;
			}
		}
		if (!err)
			err = do_connect(fd, &dst);
		if (!err && echo)
			err = check_echo(fd, proto, timeout, udp_tries);
		res[i] = err;
		printf("proto=%s local=%s remote=%s result=%s\n", proto_str(proto),
		       local_str(fd).s, sa_str(&dst.ss).s, errname(err));
		if (err) {
			failed++;
			if (keep_failed)
				fds[nfds++] = fd;
			else
				close(fd);
		} else if (close_each) {
			fflush(stdout);
			close(fd);
		} else {
			fds[nfds++] = fd;
		}
	}
	fflush(stdout);
	if (echo_lines)
		hold_echo_lines(fds, nfds, proto, timeout, udp_tries);
	else
		hold(hold_secs, hold_stdin);
	for (i = 0; i < nfds; i++)
		close(fds[i]);

	if (expect_err)
		ret = check_expect(res, count, false, expect_err);
	else if (failed && !allow_fail) {
		pr("%d of %d sockets failed", failed, count);
		ret = EXIT_FAIL;
	} else {
		ret = EXIT_OK;
	}
	free(fds);
	free(res);
	return ret;
}

/* ---- bind ------------------------------------------------------------- */

static const char bind_usage[] =
"usage: psnet bind --proto tcp|udp --addr ADDR:PORT [--listen] [--count N]\n"
"                  [--expect-ok|--expect-errno NAME] [options]\n"
"\n"
"bind()s N sockets (and listen()s with --listen) and prints one line each:\n"
"  proto=tcp local=ADDR:PORT result=ok|ERRNAME\n"
"local is getsockname() after success (with port 0: the port the kernel or\n"
"portslice chose), the requested address after a failure.\n"
"\n"
"  --proto tcp|udp       socket type\n"
"  --addr ADDR:PORT      address to bind; IPv6 as [ADDR]:PORT\n"
"  --listen              listen() after bind() (TCP)\n"
"  --count N             number of sockets (default 1)\n"
"  --reuseaddr           SO_REUSEADDR before bind\n"
"  --reuseport           SO_REUSEPORT before bind\n"
"  --hold SECONDS        keep the sockets open that long, then close\n"
"  --hold-stdin          keep the sockets open until stdin reaches EOF\n"
"  --expect-ok           every bind must succeed\n"
"  --expect-errno NAME   the LAST bind must fail with NAME (e.g. EPERM) and\n"
"                        all before it succeed\n"
"\n"
"Exit: 0 whatever the results unless --expect-ok or --expect-errno is\n"
"given, then 1 if the expectation failed; 2 on usage error.\n";

static int cmd_bind(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "proto", required_argument, NULL, 'p' },
		{ "addr", required_argument, NULL, 'A' },
		{ "listen", no_argument, NULL, 'L' },
		{ "count", required_argument, NULL, 'n' },
		{ "reuseaddr", no_argument, NULL, 'r' },
		{ "reuseport", no_argument, NULL, 'R' },
		{ "hold", required_argument, NULL, 'H' },
		{ "hold-stdin", no_argument, NULL, 'S' },
		{ "expect-ok", no_argument, NULL, 'o' },
		{ "expect-errno", required_argument, NULL, 'E' },
		OPT_HELP,
		{ 0 }
	};
	bool have_addr = false, do_listen = false, reuseaddr = false, reuseport = false;
	bool hold_stdin = false, expect_ok = false;
	int proto = 0, count = 1, expect_err = 0, port, c, i, fd, err, nfds = 0, ret;
	double hold_secs = 0;
	struct addr a;
	int *fds, *res;

	usage_text = bind_usage;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!parse_proto(optarg, &proto))
				return usage_error("--proto must be tcp or udp");
			break;
		case 'A':
			if (!parse_ip_port(optarg, &a, &port, NULL, false))
				return usage_error("bad --addr '%s'", optarg);
			have_addr = true;
			break;
		case 'L':
			do_listen = true;
			break;
		case 'n':
			if (!parse_int(optarg, 10000000, &count) || !count)
				return usage_error("bad --count '%s'", optarg);
			break;
		case 'r':
			reuseaddr = true;
			break;
		case 'R':
			reuseport = true;
			break;
		case 'H':
			if (!parse_secs(optarg, &hold_secs))
				return usage_error("bad --hold '%s'", optarg);
			break;
		case 'S':
			hold_stdin = true;
			break;
		case 'o':
			expect_ok = true;
			break;
		case 'E':
			expect_err = errno_parse(optarg);
			if (expect_err <= 0)
				return usage_error("unknown errno name '%s'", optarg);
			break;
		case 'h':
			return show_help();
		default:
			return bad_option();
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!proto || !have_addr)
		return usage_error("--proto and --addr are required");
	if (expect_ok && expect_err)
		return usage_error("--expect-ok and --expect-errno exclude each other");
	if (do_listen && proto != IPPROTO_TCP)
		return usage_error("--listen needs --proto tcp");
	if (hold_stdin && hold_secs > 0)
		return usage_error("--hold and --hold-stdin exclude each other");

	fds = calloc(count, sizeof(*fds));
	res = calloc(count, sizeof(*res));
	if (!fds || !res)
		return EXIT_FAIL;
	for (i = 0; i < count; i++) {
		err = 0;
		fd = socket(addr_family(&a), sock_type(proto) | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
		} else {
			if (reuseaddr)
				set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
			if (reuseport)
				set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
			if (bind(fd, (struct sockaddr *)&a.ss, a.len) ||
			    (do_listen && listen(fd, 4096)))
				err = errno;
		}
		res[i] = err;
		printf("proto=%s local=%s result=%s\n", proto_str(proto),
		       err || fd < 0 ? sa_str(&a.ss).s : local_str(fd).s, errname(err));
		if (fd >= 0 && err)
			close(fd);
		else if (fd >= 0)
			fds[nfds++] = fd;
	}
	fflush(stdout);
	hold(hold_secs, hold_stdin);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	ret = check_expect(res, count, expect_ok, expect_err);
	free(fds);
	free(res);
	return ret;
}

/* ---- sendto ----------------------------------------------------------- */

static const char sendto_usage[] =
"usage: psnet sendto --to ADDR:PORT [--from ADDR | --bind ADDR:PORT]\n"
"                    [--pktinfo ADDR] [--expect-ok|--expect-errno NAME]\n"
"\n"
"Sends one datagram from an unconnected UDP socket and prints\n"
"  result=ok|ERRNAME local=ADDR:PORT op=bind|sendto\n"
"local is getsockname() afterwards (an unbound socket shows the wildcard\n"
"address and its autobound port); op names the call that gave result.\n"
"Run \"psnet recvfrom\" on the destination to see the source really used.\n"
"\n"
"  --to ADDR:PORT      destination; IPv6 as [ADDR]:PORT\n"
"  --from ADDR         bind(ADDR, port 0) first\n"
"  --bind ADDR:PORT    bind(ADDR, PORT) first\n"
"  --reuseaddr         SO_REUSEADDR before bind\n"
"  --pktinfo ADDR      name ADDR as the source in IP_PKTINFO/IPV6_PKTINFO\n"
"  --payload TEXT      datagram contents (default \"psnet\")\n"
"  --expect-ok         the send must succeed\n"
"  --expect-errno NAME the bind or send must fail with NAME (e.g. EPERM)\n"
"\n"
"Exit: 0 whatever the result unless --expect-ok or --expect-errno is given,\n"
"then 1 if the expectation failed; 2 on usage error.\n";

static int cmd_sendto(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "from", required_argument, NULL, 'f' },
		{ "bind", required_argument, NULL, 'b' },
		{ "reuseaddr", no_argument, NULL, 'r' },
		{ "pktinfo", required_argument, NULL, 'P' },
		{ "payload", required_argument, NULL, 'd' },
		{ "expect-ok", no_argument, NULL, 'o' },
		{ "expect-errno", required_argument, NULL, 'E' },
		OPT_HELP,
		{ 0 }
	};
	bool have_to = false, have_src = false, have_pi = false, reuseaddr = false;
	bool expect_ok = false;
	const char *data = "psnet", *op = "bind";
	struct addr to, src, pi;
	union cmsg_pktinfo cb;
	int expect_err = 0, port, c, fd, err = 0;
	struct msghdr mh;
	struct iovec iov;

	usage_text = sendto_usage;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (!parse_ip_port(optarg, &to, &port, NULL, false))
				return usage_error("bad --to '%s'", optarg);
			have_to = true;
			break;
		case 'f':
			if (have_src)
				return usage_error("--from and --bind exclude each other");
			if (!parse_ip(optarg, &src))
				return usage_error("bad --from '%s'", optarg);
			have_src = true;
			break;
		case 'b':
			if (have_src)
				return usage_error("--from and --bind exclude each other");
			if (!parse_ip_port(optarg, &src, &port, NULL, false))
				return usage_error("bad --bind '%s'", optarg);
			have_src = true;
			break;
		case 'r':
			reuseaddr = true;
			break;
		case 'P':
			if (!parse_ip(optarg, &pi))
				return usage_error("bad --pktinfo '%s'", optarg);
			have_pi = true;
			break;
		case 'd':
			data = optarg;
			break;
		case 'o':
			expect_ok = true;
			break;
		case 'E':
			expect_err = errno_parse(optarg);
			if (expect_err <= 0)
				return usage_error("unknown errno name '%s'", optarg);
			break;
		case 'h':
			return show_help();
		default:
			return bad_option();
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!have_to)
		return usage_error("--to is required");
	if ((have_src && addr_family(&src) != addr_family(&to)) ||
	    (have_pi && addr_family(&pi) != addr_family(&to)))
		return usage_error("--from/--bind/--pktinfo must be of the family of --to");
	if (expect_ok && expect_err)
		return usage_error("--expect-ok and --expect-errno exclude each other");

	fd = socket(addr_family(&to), SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		pr("socket: %s", errname(errno));
		return EXIT_FAIL;
	}
	if (reuseaddr)
		set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (have_src && bind(fd, (struct sockaddr *)&src.ss, src.len))
		err = errno;
	if (!err) {
		op = "sendto";
		iov = (struct iovec){ .iov_base = (void *)data, .iov_len = strlen(data) };
		mh = (struct msghdr){
			.msg_name = &to.ss, .msg_namelen = to.len,
			.msg_iov = &iov, .msg_iovlen = 1,
		};
		if (have_pi) {
			const void *p = addr_family(&pi) == AF_INET ?
				(const void *)&((struct sockaddr_in *)&pi.ss)->sin_addr :
				(const void *)&((struct sockaddr_in6 *)&pi.ss)->sin6_addr;

			put_pktinfo(&mh, &cb, addr_family(&pi), p,
				    addr_family(&pi) == AF_INET6 ?
				    (int)((struct sockaddr_in6 *)&pi.ss)->sin6_scope_id : 0);
		}
		if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0)
			err = errno;
	}
	printf("result=%s local=%s op=%s\n", errname(err), local_str(fd).s, op);
	fflush(stdout);
	close(fd);
	return check_expect(&err, 1, expect_ok, expect_err);
}

/* ---- recvfrom --------------------------------------------------------- */

static const char recvfrom_usage[] =
"usage: psnet recvfrom --udp ADDR:PORT [--count N] [--timeout S]\n"
"\n"
"Binds a UDP socket, prints \"ready\" once bound, then one line per datagram:\n"
"  from=ADDR:PORT to=ADDR len=N\n"
"from is the source address and port the sender really used; to is the\n"
"destination address of the datagram.\n"
"\n"
"  --udp ADDR:PORT   where to receive; IPv6 as [ADDR]:PORT\n"
"  --count N         datagrams to wait for (default 1)\n"
"  --timeout S       overall time limit in seconds (default 5)\n"
"  --reuseaddr       SO_REUSEADDR before bind\n"
"\n"
"Exit: 0 once N datagrams arrived, 1 if fewer did in time, 2 on usage error.\n";

static int cmd_recvfrom(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "udp", required_argument, NULL, 'u' },
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "reuseaddr", no_argument, NULL, 'r' },
		OPT_HELP,
		{ 0 }
	};
	int count = 1, got = 0, port, c, fd, fam, ifindex, ms;
	bool have_addr = false, reuseaddr = false;
	double timeout = 5, deadline;
	struct sockaddr_storage peer;
	union cmsg_pktinfo cb;
	char buf[65536];
	uint8_t dst[16];
	struct msghdr mh;
	struct iovec iov;
	struct addr a;
	ssize_t n;

	usage_text = recvfrom_usage;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			if (!parse_ip_port(optarg, &a, &port, NULL, false))
				return usage_error("bad --udp '%s'", optarg);
			have_addr = true;
			break;
		case 'n':
			if (!parse_int(optarg, INT_MAX, &count) || !count)
				return usage_error("bad --count '%s'", optarg);
			break;
		case 'T':
			if (!parse_secs(optarg, &timeout))
				return usage_error("bad --timeout '%s'", optarg);
			break;
		case 'r':
			reuseaddr = true;
			break;
		case 'h':
			return show_help();
		default:
			return bad_option();
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!have_addr)
		return usage_error("--udp is required");

	fam = addr_family(&a);
	fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		pr("socket: %s", errname(errno));
		return EXIT_FAIL;
	}
	if (reuseaddr)
		set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (fam == AF_INET6)
		set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	set_int_opt(fd, fam == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
		    fam == AF_INET ? IP_PKTINFO : IPV6_RECVPKTINFO, 1);
	if (bind(fd, (struct sockaddr *)&a.ss, a.len)) {
		pr("bind %s: %s", sa_str(&a.ss).s, errname(errno));
		return EXIT_FAIL;
	}
	printf("ready\n");
	fflush(stdout);

	deadline = now_secs() + timeout * time_scale();
	while (got < count) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		ms = (int)((deadline - now_secs()) * 1000);
		if (ms <= 0)
			break;
		if (poll(&pfd, 1, ms) <= 0)
			continue;
		iov = (struct iovec){ .iov_base = buf, .iov_len = sizeof(buf) };
		mh = (struct msghdr){
			.msg_name = &peer, .msg_namelen = sizeof(peer),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cb.buf, .msg_controllen = sizeof(cb.buf),
		};
		n = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (n < 0)
			continue;
		if (!get_pktinfo(&mh, &fam, dst, &ifindex))
			memset(dst, 0, sizeof(dst));
		printf("from=%s to=%s len=%zd\n", sa_str(&peer).s, ip_str(fam, dst, 0, false).s, n);
		fflush(stdout);
		got++;
	}
	close(fd);
	if (got < count) {
		pr("%d of %d datagrams in %.1fs", got, count, timeout);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* ---- the kernel's socket table, and duplicate tuples in it ------------- */

/*
 * What two live sockets must never share. Explicit padding only, so that
 * memcmp() compares keys; v4-mapped IPv6 is folded to IPv4 so that a
 * dual-stack socket clashes with the IPv4 socket it really competes with.
 */
struct tuple_key {
	uint8_t proto;
	uint8_t family;
	uint16_t lport;
	uint16_t rport;
	uint16_t pad;
	uint8_t laddr[16];
	uint8_t raddr[16];
};

struct sockent {
	struct tuple_key k;
	uint64_t cookie;
	uint8_t state;
};

struct sockvec {
	struct sockent *v;
	size_t n, cap;
};

static int sockvec_add(const struct ps_sockinfo *si, void *arg)
{
	struct sockvec *sv = arg;
	struct ipport l = { .family = si->family, .port = si->lport };
	struct ipport r = { .family = si->family, .port = si->rport };
	static const uint8_t zero[16];
	struct sockent *e;

	if (sv->n == sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 4096;
		struct sockent *v = realloc(sv->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		sv->v = v;
		sv->cap = cap;
	}
	memcpy(l.addr, si->laddr, 16);
	memcpy(r.addr, si->raddr, 16);
	/* Fold only whole v4 conversations: a mapped local with an unset or mapped remote. */
	if (!memcmp(l.addr, v4mapped_prefix, 12) &&
	    (!memcmp(r.addr, zero, 16) || !memcmp(r.addr, v4mapped_prefix, 12))) {
		ipport_fold(&l);
		if (memcmp(r.addr, zero, 16))
			ipport_fold(&r);
		r.family = AF_INET;
	}
	e = &sv->v[sv->n++];
	memset(e, 0, sizeof(*e));
	e->k.proto = si->proto;
	e->k.family = l.family;
	e->k.lport = l.port;
	e->k.rport = r.port;
	memcpy(e->k.laddr, l.addr, 16);
	memcpy(e->k.raddr, r.addr, 16);
	e->cookie = si->cookie;
	e->state = si->state;
	return 0;
}

/* fams: AF_INET, AF_INET6 or AF_UNSPEC for both. Returns 0 or -errno. */
static int sockvec_dump(struct sockvec *sv, int fams)
{
	static const int protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	int fam, i, err;

	sv->n = 0;
	for (fam = AF_INET; ; fam = AF_INET6) {
		if (fams == AF_UNSPEC || fams == fam) {
			for (i = 0; i < 2; i++) {
				err = ps_sockdiag_dump(fam, protos[i], sockvec_add, sv);
				if (err)
					return err;
			}
		}
		if (fam == AF_INET6)
			break;
	}
	return 0;
}

static int cmp_cookie(const void *a, const void *b)
{
	const struct sockent *x = a, *y = b;

	return x->cookie < y->cookie ? -1 : x->cookie > y->cookie;
}

static int cmp_tuple(const void *a, const void *b)
{
	const struct sockent *x = a, *y = b;
	int r = memcmp(&x->k, &y->k, sizeof(x->k));

	if (r)
		return r;
	return x->cookie < y->cookie ? -1 : x->cookie > y->cookie;
}

/*
 * A dump is resumed across reads, so a socket that moves in its hash chain
 * meanwhile can be reported twice: one cookie is one socket.
 */
static void sockvec_uniq(struct sockvec *sv)
{
	size_t i, n = 0;

	qsort(sv->v, sv->n, sizeof(*sv->v), cmp_cookie);
	for (i = 0; i < sv->n; i++) {
		if (n && sv->v[n - 1].cookie == sv->v[i].cookie)
			continue;
		sv->v[n++] = sv->v[i];
	}
	sv->n = n;
}

/* Sockets bound to a remote end: the ones whose tuples must be unique. */
static bool sockent_connected(const struct sockent *e)
{
	if (!e->k.rport)
		return false;
	if (e->k.proto == IPPROTO_UDP)
		return e->state == TCP_ESTABLISHED;
	return e->state != TCP_LISTEN && e->state != TCP_CLOSE;
}

/* Keeps the connected sockets, sorted by tuple then cookie. */
static void sockvec_connected(struct sockvec *sv)
{
	size_t i, n = 0;

	for (i = 0; i < sv->n; i++)
		if (sockent_connected(&sv->v[i]))
			sv->v[n++] = sv->v[i];
	sv->n = n;
	qsort(sv->v, sv->n, sizeof(*sv->v), cmp_tuple);
}

static const char *state_str(int state)
{
	static const char *const names[] = {
		[TCP_ESTABLISHED] = "ESTABLISHED", [TCP_SYN_SENT] = "SYN_SENT",
		[TCP_SYN_RECV] = "SYN_RECV", [TCP_FIN_WAIT1] = "FIN_WAIT1",
		[TCP_FIN_WAIT2] = "FIN_WAIT2", [TCP_TIME_WAIT] = "TIME_WAIT",
		[TCP_CLOSE] = "CLOSE", [TCP_CLOSE_WAIT] = "CLOSE_WAIT",
		[TCP_LAST_ACK] = "LAST_ACK", [TCP_LISTEN] = "LISTEN",
		[TCP_CLOSING] = "CLOSING",
	};

	if (state >= 0 && state < (int)(sizeof(names) / sizeof(names[0])) && names[state])
		return names[state];
	return "?";
}

static void report_dup(const struct sockent *g, size_t len, const char *why)
{
	char list[512];
	size_t i, off = 0;

	list[0] = '\0';
	for (i = 0; i < len && off < sizeof(list) - 64; i++)
		off += snprintf(list + off, sizeof(list) - off, "%s%s/%llu", i ? "," : "",
				state_str(g[i].state), (unsigned long long)g[i].cookie);
	pr("duplicate tuple (%s): proto=%s local=%s remote=%s sockets=%zu states/cookies=%s",
	   why, proto_str(g->k.proto), ip_str(g->k.family, g->k.laddr, g->k.lport, true).s,
	   ip_str(g->k.family, g->k.raddr, g->k.rport, true).s, len, list);
}

/* Calls fn for each run of 2+ sockets sharing a tuple in a sockvec_connected() vector. */
static void for_each_dup(const struct sockvec *sv,
			 void (*fn)(const struct sockent *g, size_t len, void *arg), void *arg)
{
	size_t i, j;

	for (i = 0; i < sv->n; i = j) {
		for (j = i + 1; j < sv->n && !memcmp(&sv->v[i].k, &sv->v[j].k, sizeof(sv->v[i].k)); j++)
			;
		if (j - i > 1)
			fn(&sv->v[i], j - i, arg);
	}
}

/*
 * Duplicates seen in one dump are real only if the sockets coexisted: a
 * socket closed and another opened with its tuple while the dump was
 * between reads would look the same. A group counts at once if one of its
 * sockets is known to have lived through the whole dump (the caller holds
 * it); otherwise it is kept as pending and counts only if a second dump
 * still shows two of the same sockets with that tuple.
 */
struct dupscan {
	const uint64_t *live;        /* sorted cookies of sockets held open */
	size_t nlive;
	struct sockvec pending;      /* groups awaiting a second dump */
	size_t confirmed;
	size_t reported;
	size_t report_max;
};

static bool cookie_in(const uint64_t *v, size_t n, uint64_t c)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v[mid] == c)
			return true;
		if (v[mid] < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static void dupscan_first(const struct sockent *g, size_t len, void *arg)
{
	struct dupscan *ds = arg;
	size_t i;

	for (i = 0; i < len; i++) {
		if (cookie_in(ds->live, ds->nlive, g[i].cookie)) {
			if (ds->reported++ < ds->report_max)
				report_dup(g, len, "a socket held open through the dump");
			ds->confirmed++;
			return;
		}
	}
	for (i = 0; i < len; i++) {
		if (ds->pending.n == ds->pending.cap) {
			size_t cap = ds->pending.cap ? ds->pending.cap * 2 : 64;
			struct sockent *v = realloc(ds->pending.v, cap * sizeof(*v));

			if (!v)
				return;
			ds->pending.v = v;
			ds->pending.cap = cap;
		}
		ds->pending.v[ds->pending.n++] = g[i];
	}
}

/* One dump taken as the truth, for tables nobody changes meanwhile. */
static void dupscan_count(const struct sockent *g, size_t len, void *arg)
{
	struct dupscan *ds = arg;

	if (ds->reported++ < ds->report_max)
		report_dup(g, len, "one dump");
	ds->confirmed++;
}

/* Second dump: a pending group still holding two of its sockets is real. */
static int dupscan_confirm(struct dupscan *ds, int fams)
{
	struct sockvec again = { 0 };
	size_t i, j, k, still;
	int err;

	if (!ds->pending.n)
		return 0;
	err = sockvec_dump(&again, fams);
	if (err) {
		free(again.v);
		return err;
	}
	sockvec_uniq(&again);
	sockvec_connected(&again);
	for (i = 0; i < ds->pending.n; i = j) {
		const struct sockent *g = &ds->pending.v[i];

		for (j = i + 1; j < ds->pending.n && !memcmp(&g->k, &ds->pending.v[j].k, sizeof(g->k)); j++)
			;
		for (still = 0, k = i; k < j; k++)
			if (bsearch(&ds->pending.v[k], again.v, again.n, sizeof(*again.v), cmp_tuple))
				still++;
		if (still > 1) {
			if (ds->reported++ < ds->report_max)
				report_dup(g, j - i, "seen in two dumps");
			ds->confirmed++;
		}
	}
	free(again.v);
	return 0;
}

/* ---- stress ----------------------------------------------------------- */

static const char stress_usage[] =
"usage: psnet stress --procs P --threads T --connects N --to ADDR:PORT-PORT\n"
"                    [--udp-percent X] [--batch B] [--expect-range LO-HI]\n"
"                    [--expect-addr ADDR] [--allow-fail] [options]\n"
"\n"
"P forked processes x T threads open N connections in total to random ports\n"
"of the range: each thread opens a batch of B sockets (TCP, or connected UDP\n"
"for X% of them), holds them, and closes them (TCP with SO_LINGER 0: no\n"
"TIME_WAIT). Per batch, once all threads of a process hold their sockets,\n"
"thread 0 dumps the kernel socket table (TCP and UDP of the family of --to,\n"
"NETLINK_SOCK_DIAG) and counts tuples (proto, laddr, lport, raddr, rport)\n"
"shared by two connected sockets. A duplicate counts when one of its sockets\n"
"is held by the checking process (so both surely coexisted) or when a\n"
"second dump shows it again.\n"
"\n"
"Prints one summary line:\n"
"  connects=N tcp=N udp=N failed=N dup_tuples=N checks=N out_of_range=N\n"
"  unseen=N dump_errors=N errors=ERRNAME:N,...|none refused=N secs=S\n"
"connects: attempts; tcp, udp: successful connects; failed: failed attempts\n"
"(by errno in errors); checks: table checks done; out_of_range: own sockets\n"
"whose local port is outside --expect-range or whose local address is not\n"
"--expect-addr; unseen: held sockets missing from a dump (informative).\n"
"\n"
"  --procs P             processes (default 1)\n"
"  --threads T           threads per process (default 1)\n"
"  --connects N          connect() calls in total\n"
"  --to ADDR:PORT-PORT   destinations (a server must listen on them)\n"
"  --udp-percent X       share of connected UDP sockets (default 0)\n"
"  --batch B             sockets per thread per batch (default 64)\n"
"  --expect-range LO-HI  local ports must be in LO-HI\n"
"  --expect-addr ADDR    local address must be ADDR\n"
"  --connect-timeout S   TCP connect timeout in seconds (default 5)\n"
"  --seed N              random seed (default: time and pid)\n"
"  --allow-fail          failed connects do not fail the run\n"
"  --mix IDIOM,...       how each socket is made, one idiom picked at random\n"
"                        per socket (default: plain):\n"
"                          plain       connect() from an unbound socket\n"
"                          bindnoport  IP_BIND_ADDRESS_NO_PORT, bind(ADDR, 0)\n"
"                                      (ADDR: --expect-addr), then connect()\n"
"                          bind0       bind(ADDR, 0), then connect(): the port\n"
"                                      comes at bind() (wget --bind-address,\n"
"                                      Python's source_address)\n"
"                          device      SO_BINDTODEVICE lo, then connect()\n"
"                          sendto      (UDP) connect(), then sendto() another\n"
"                                      destination of the range: sent, or\n"
"                                      refused with EADDRINUSE (its tuple is\n"
"                                      another socket's)\n"
"                          disconnect  (UDP) connect(), connect(AF_UNSPEC),\n"
"                                      sendto() another destination (sent or\n"
"                                      EADDRINUSE), then connect() to it:\n"
"                                      connected, or refused with\n"
"                                      EADDRNOTAVAIL (kept, disconnected)\n"
"                        TCP sockets that pick a UDP idiom connect plainly.\n"
"                        The summary gains refused=N: sends and reconnects\n"
"                        refused as above (not failures)\n"
"\n"
"Exit: 1 if dup_tuples, out_of_range or dump_errors is non-zero, or failed\n"
"is (without --allow-fail); 2 on usage error; else 0.\n";

#define STRESS_MAX_ERRNO 512
#define STRESS_REPORT_MAX 20

struct stress_opts {
	int procs, threads, batch, udp_pct;
	uint64_t connects, seed;
	struct addr to;
	int lo, hi;
	bool have_range, have_addr, allow_fail;
	int exp_lo, exp_hi;
	struct ipport exp_addr;
	double ctimeout;
	unsigned int mix[8];         /* enum stress_idiom, n_mix of them */
	int n_mix;
};

enum stress_idiom { IDIOM_PLAIN, IDIOM_BINDNOPORT, IDIOM_BIND0, IDIOM_DEVICE, IDIOM_SENDTO, IDIOM_DISCONNECT };

static const char *const stress_idioms[] = {
	[IDIOM_PLAIN] = "plain", [IDIOM_BINDNOPORT] = "bindnoport", [IDIOM_BIND0] = "bind0",
	[IDIOM_DEVICE] = "device",
	[IDIOM_SENDTO] = "sendto", [IDIOM_DISCONNECT] = "disconnect",
};

/* Shared by all processes (MAP_SHARED), updated with atomics. */
struct stress_shared {
	uint64_t budget;             /* connect() calls not yet handed out */
	uint64_t attempts, tcp, udp, failed;
	uint64_t dup_tuples, checks, out_of_range, unseen, dump_errors;
	uint64_t reported_oor;
	uint64_t refused;
	uint64_t errs[STRESS_MAX_ERRNO];
};

struct held_sock {
	int fd;
	uint64_t cookie;
};

struct stress_proc;

struct stress_thread {
	struct stress_proc *p;
	int idx;
	pthread_t tid;
	uint64_t rng;
	struct held_sock *held;
	int nheld;
	uint64_t attempts, tcp, udp, failed, out_of_range, refused;
	uint64_t errs[STRESS_MAX_ERRNO];
};

struct stress_proc {
	const struct stress_opts *o;
	struct stress_shared *sh;
	pthread_barrier_t barrier;
	uint64_t round_total;        /* sockets reserved this round by all threads */
	bool stop;
	struct stress_thread *t;
	uint64_t *live;
	size_t live_cap;
	size_t reported_dups;
};

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t reserve(uint64_t *budget, uint64_t want)
{
	uint64_t cur = __atomic_load_n(budget, __ATOMIC_RELAXED), take;

	do {
		take = cur < want ? cur : want;
		if (!take)
			return 0;
	} while (!__atomic_compare_exchange_n(budget, &cur, cur - take, false,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return take;
}

static void stress_check_local(struct stress_thread *t, int fd)
{
	const struct stress_opts *o = t->p->o;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct ipport ip;
	bool bad;

	if (!o->have_range && !o->have_addr)
		return;
	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return;
	ipport_from_sa(&ss, &ip);
	bad = (o->have_range && (ip.port < o->exp_lo || ip.port > o->exp_hi)) ||
	      (o->have_addr && (ip.family != o->exp_addr.family ||
				memcmp(ip.addr, o->exp_addr.addr, 16)));
	if (!bad)
		return;
	t->out_of_range++;
	if (__atomic_fetch_add(&t->p->sh->reported_oor, 1, __ATOMIC_RELAXED) < STRESS_REPORT_MAX)
		pr("local end %s is outside the expected address/range", sa_str(&ss).s);
}

/* A random destination of the range. */
static void stress_dst(const struct stress_opts *o, uint64_t r, struct addr *dst)
{
	*dst = o->to;
	addr_set_port(dst, o->lo + (int)(r % (uint64_t)(o->hi - o->lo + 1)));
}

/*
 * bind(--expect-addr, 0), with IP_BIND_ADDRESS_NO_PORT if @no_port (the port
 * comes at connect()), else the port comes at bind().
 */
static int stress_bind_port0(const struct stress_opts *o, int fd, bool no_port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;

	if (o->exp_addr.family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		memcpy(&s->sin_addr, o->exp_addr.addr, 4);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, o->exp_addr.addr, 16);
		len = sizeof(*s);
	}
	if (no_port && set_int_opt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1))
		return errno;
	return bind(fd, (struct sockaddr *)&ss, len) ? errno : 0;
}

/*
 * After connect(): the UDP idioms that put datagrams on other 4-tuples.
 * A refusal the idiom allows is counted in t->refused; anything else is
 * returned as the socket's error.
 */
static int stress_udp_idiom(struct stress_thread *t, int fd, int idiom, uint64_t r)
{
	const struct stress_opts *o = t->p->o;
	struct sockaddr un = { .sa_family = AF_UNSPEC };
	struct addr other;
	int err;

	stress_dst(o, r >> 24, &other);
	if (idiom == IDIOM_DISCONNECT && connect(fd, &un, sizeof(un)))
		return errno;
	err = sendto(fd, payload, sizeof(payload) - 1, MSG_NOSIGNAL | MSG_DONTWAIT,
		     (struct sockaddr *)&other.ss, other.len) < 0 ? errno : 0;
	if (err == EADDRINUSE)
		t->refused++;
	else if (err)
		return err;
	if (idiom != IDIOM_DISCONNECT)
		return 0;
	err = do_connect(fd, &other);
	if (err == EADDRNOTAVAIL) {
		t->refused++;
		return 0;
	}
	return err;
}

static void stress_open_one(struct stress_thread *t)
{
	const struct stress_opts *o = t->p->o;
	uint64_t r = splitmix64(&t->rng);
	bool udp = (int)(r % 100) < o->udp_pct;
	int idiom = o->n_mix ? (int)o->mix[(r >> 40) % (uint64_t)o->n_mix] : IDIOM_PLAIN;
	socklen_t len = sizeof(uint64_t);
	struct held_sock *h;
	struct addr dst;
	int fd, err = 0;

	stress_dst(o, r >> 8, &dst);
	if (!udp && (idiom == IDIOM_SENDTO || idiom == IDIOM_DISCONNECT))
		idiom = IDIOM_PLAIN;
	t->attempts++;
	fd = socket(addr_family(&dst), (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = errno;
		goto fail;
	}
	if (!udp) {
		set_linger0(fd);
		set_timeout(fd, SO_SNDTIMEO, o->ctimeout);
	}
	if (idiom == IDIOM_DEVICE && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 2))
		err = errno;
	if (!err && (idiom == IDIOM_BINDNOPORT || idiom == IDIOM_BIND0))
		err = stress_bind_port0(o, fd, idiom == IDIOM_BINDNOPORT);
	if (!err)
		err = do_connect(fd, &dst);
	if (!err && udp && (idiom == IDIOM_SENDTO || idiom == IDIOM_DISCONNECT))
		err = stress_udp_idiom(t, fd, idiom, r);
	if (err) {
		close(fd);
		goto fail;
	}
	if (udp)
		t->udp++;
	else
		t->tcp++;
	stress_check_local(t, fd);
	h = &t->held[t->nheld++];
	h->fd = fd;
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &h->cookie, &len))
		h->cookie = 0;
	return;
fail:
	t->failed++;
	t->errs[err < STRESS_MAX_ERRNO ? err : 0]++;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Thread 0, while every thread of the process holds its batch. */
static void stress_check(struct stress_proc *p)
{
	const struct stress_opts *o = p->o;
	struct dupscan ds = { .report_max = 0 };
	struct sockvec sv = { 0 };
	size_t nlive = 0, seen = 0, i;
	int fam = addr_family(&o->to), t, err;

	for (t = 0; t < o->threads; t++) {
		for (i = 0; i < (size_t)p->t[t].nheld; i++) {
			if (!p->t[t].held[i].cookie)
				continue;
			if (nlive == p->live_cap) {
				size_t cap = p->live_cap ? p->live_cap * 2 : 1024;
				uint64_t *v = realloc(p->live, cap * sizeof(*v));

				if (!v)
					break;
				p->live = v;
				p->live_cap = cap;
			}
			p->live[nlive++] = p->t[t].held[i].cookie;
		}
	}
	qsort(p->live, nlive, sizeof(*p->live), cmp_u64);

	err = sockvec_dump(&sv, fam);
	if (err) {
		pr("socket table dump failed: %s", errname(-err));
		__atomic_add_fetch(&p->sh->dump_errors, 1, __ATOMIC_RELAXED);
		goto out;
	}
	sockvec_uniq(&sv);
	for (i = 0; i < sv.n; i++)
		if (cookie_in(p->live, nlive, sv.v[i].cookie))
			seen++;
	sockvec_connected(&sv);

	ds.live = p->live;
	ds.nlive = nlive;
	ds.report_max = p->reported_dups < STRESS_REPORT_MAX ? STRESS_REPORT_MAX - p->reported_dups : 0;
	for_each_dup(&sv, dupscan_first, &ds);
	err = dupscan_confirm(&ds, fam);
	if (err) {
		pr("socket table dump failed: %s", errname(-err));
		__atomic_add_fetch(&p->sh->dump_errors, 1, __ATOMIC_RELAXED);
	}
	p->reported_dups += ds.reported;
	__atomic_add_fetch(&p->sh->dup_tuples, ds.confirmed, __ATOMIC_RELAXED);
	__atomic_add_fetch(&p->sh->unseen, nlive - seen, __ATOMIC_RELAXED);
	__atomic_add_fetch(&p->sh->checks, 1, __ATOMIC_RELAXED);
out:
	free(ds.pending.v);
	free(sv.v);
}

static void *stress_thread_main(void *arg)
{
	struct stress_thread *t = arg;
	struct stress_proc *p = t->p;
	uint64_t take, i;
	int j;

	for (;;) {
		take = reserve(&p->sh->budget, p->o->batch);
		__atomic_add_fetch(&p->round_total, take, __ATOMIC_RELAXED);
		for (i = 0; i < take; i++)
			stress_open_one(t);

		pthread_barrier_wait(&p->barrier);
		if (t->idx == 0) {
			/* Threads add to round_total only before the first barrier. */
			if (!p->round_total)
				p->stop = true;
			else
				stress_check(p);
			p->round_total = 0;
		}
		pthread_barrier_wait(&p->barrier);

		for (j = 0; j < t->nheld; j++)
			close(t->held[j].fd);
		t->nheld = 0;
		/* Written before the second barrier: every thread reads the same. */
		if (p->stop)
			break;
	}
	return NULL;
}

static int stress_proc_run(const struct stress_opts *o, struct stress_shared *sh, int idx)
{
	struct stress_proc p = { .o = o, .sh = sh };
	struct stress_thread *t;
	int i, j, err;

	p.t = t = calloc(o->threads, sizeof(*t));
	if (!t || pthread_barrier_init(&p.barrier, NULL, o->threads))
		return EXIT_FAIL;
	for (i = 0; i < o->threads; i++) {
		t[i].p = &p;
		t[i].idx = i;
		t[i].rng = o->seed ^ ((uint64_t)idx << 32) ^ ((uint64_t)i << 48);
		splitmix64(&t[i].rng);
		t[i].held = calloc(o->batch, sizeof(*t[i].held));
		if (!t[i].held)
			return EXIT_FAIL;
	}
	for (i = 0; i < o->threads; i++) {
		err = pthread_create(&t[i].tid, NULL, stress_thread_main, &t[i]);
		if (err) {
			/* The barrier counts on every thread: cannot go on short-handed. */
			pr("pthread_create: %s", errname(err));
			_exit(EXIT_FAIL);
		}
	}
	for (i = 0; i < o->threads; i++) {
		pthread_join(t[i].tid, NULL);
		__atomic_add_fetch(&sh->attempts, t[i].attempts, __ATOMIC_RELAXED);
		__atomic_add_fetch(&sh->tcp, t[i].tcp, __ATOMIC_RELAXED);
		__atomic_add_fetch(&sh->udp, t[i].udp, __ATOMIC_RELAXED);
		__atomic_add_fetch(&sh->failed, t[i].failed, __ATOMIC_RELAXED);
		__atomic_add_fetch(&sh->out_of_range, t[i].out_of_range, __ATOMIC_RELAXED);
		__atomic_add_fetch(&sh->refused, t[i].refused, __ATOMIC_RELAXED);
		for (j = 0; j < STRESS_MAX_ERRNO; j++)
			if (t[i].errs[j])
				__atomic_add_fetch(&sh->errs[j], t[i].errs[j], __ATOMIC_RELAXED);
	}
	return EXIT_OK;
}

static int cmd_stress(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "procs", required_argument, NULL, 'P' },
		{ "threads", required_argument, NULL, 'T' },
		{ "connects", required_argument, NULL, 'n' },
		{ "to", required_argument, NULL, 't' },
		{ "udp-percent", required_argument, NULL, 'u' },
		{ "batch", required_argument, NULL, 'b' },
		{ "expect-range", required_argument, NULL, 'r' },
		{ "expect-addr", required_argument, NULL, 'a' },
		{ "connect-timeout", required_argument, NULL, 'C' },
		{ "seed", required_argument, NULL, 's' },
		{ "allow-fail", no_argument, NULL, 'f' },
		{ "mix", required_argument, NULL, 'm' },
		OPT_HELP,
		{ 0 }
	};
	struct stress_opts o = { .procs = 1, .threads = 1, .batch = 64, .ctimeout = 5 };
	bool have_to = false, have_n = false, have_seed = false, child_failed = false;
	char errs[1024];
	struct stress_shared *sh;
	unsigned long v;
	double start;
	size_t off = 0;
	struct addr a;
	pid_t *pids;
	int c, i, status, ret;

	usage_text = stress_usage;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'P':
			if (!parse_int(optarg, 4096, &o.procs) || !o.procs)
				return usage_error("bad --procs '%s'", optarg);
			break;
		case 'T':
			if (!parse_int(optarg, 4096, &o.threads) || !o.threads)
				return usage_error("bad --threads '%s'", optarg);
			break;
		case 'n':
			if (!parse_ulong(optarg, ULONG_MAX, &v) || !v)
				return usage_error("bad --connects '%s'", optarg);
			o.connects = v;
			have_n = true;
			break;
		case 't':
			if (!parse_ip_port(optarg, &o.to, &o.lo, &o.hi, true))
				return usage_error("bad --to '%s'", optarg);
			have_to = true;
			break;
		case 'u':
			if (!parse_int(optarg, 100, &o.udp_pct))
				return usage_error("bad --udp-percent '%s' (0-100)", optarg);
			break;
		case 'b':
			if (!parse_int(optarg, 1000000, &o.batch) || !o.batch)
				return usage_error("bad --batch '%s'", optarg);
			break;
		case 'r':
			if (!parse_port_range(optarg, &o.exp_lo, &o.exp_hi))
				return usage_error("bad --expect-range '%s'", optarg);
			o.have_range = true;
			break;
		case 'a':
			if (!parse_ip(optarg, &a))
				return usage_error("bad --expect-addr '%s'", optarg);
			ipport_from_sa(&a.ss, &o.exp_addr);
			o.have_addr = true;
			break;
		case 'C':
			if (!parse_secs(optarg, &o.ctimeout))
				return usage_error("bad --connect-timeout '%s'", optarg);
			break;
		case 's':
			if (!parse_ulong(optarg, ULONG_MAX, &v))
				return usage_error("bad --seed '%s'", optarg);
			o.seed = v;
			have_seed = true;
			break;
		case 'f':
			o.allow_fail = true;
			break;
		case 'm': {
			char buf[256], *tok, *save = NULL;
			size_t k;

			snprintf(buf, sizeof(buf), "%s", optarg);
			for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				for (k = 0; k < sizeof(stress_idioms) / sizeof(stress_idioms[0]); k++)
					if (!strcmp(tok, stress_idioms[k]))
						break;
				if (k == sizeof(stress_idioms) / sizeof(stress_idioms[0]) ||
				    o.n_mix == (int)(sizeof(o.mix) / sizeof(o.mix[0])))
					return usage_error("bad --mix idiom '%s'", tok);
				o.mix[o.n_mix++] = (unsigned int)k;
			}
			break;
		}
		case 'h':
			return show_help();
		default:
			return bad_option();
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!have_to || !have_n)
		return usage_error("--to and --connects are required");
	for (i = 0; i < o.n_mix; i++)
		if ((o.mix[i] == IDIOM_BINDNOPORT || o.mix[i] == IDIOM_BIND0) && !o.have_addr)
			return usage_error("--mix %s needs --expect-addr (the address to bind)",
					   stress_idioms[o.mix[i]]);
	if (!have_seed)
		o.seed = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid();

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pids = calloc(o.procs, sizeof(*pids));
	if (sh == MAP_FAILED || !pids) {
		pr("out of memory");
		return EXIT_FAIL;
	}
	sh->budget = o.connects;
	pr("%d procs x %d threads, %llu connects to %s-%d, %d%% udp, batch %d, seed %llu",
	   o.procs, o.threads, (unsigned long long)o.connects, sa_str(&o.to.ss).s, o.hi,
	   o.udp_pct, o.batch, (unsigned long long)o.seed);

	fflush(NULL);
	start = now_secs();
	for (i = 0; i < o.procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			pr("fork: %s", errname(errno));
			/* Let the running ones finish the budget alone. */
			break;
		}
		if (!pids[i])
			_exit(stress_proc_run(&o, sh, i));
	}
	for (i = 0; i < o.procs && pids[i] > 0; i++) {
		while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			pr("worker %d (pid %d) %s %d", i, pids[i],
			   WIFEXITED(status) ? "exited with" : "killed by signal",
			   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			child_failed = true;
		}
	}

	errs[0] = '\0';
	for (i = 0; i < STRESS_MAX_ERRNO && off < sizeof(errs) - 64; i++)
		if (sh->errs[i])
			off += snprintf(errs + off, sizeof(errs) - off, "%s%s:%llu", off ? "," : "",
					i ? errname(i) : "EOTHER", (unsigned long long)sh->errs[i]);
	printf("connects=%llu tcp=%llu udp=%llu failed=%llu dup_tuples=%llu checks=%llu "
	       "out_of_range=%llu unseen=%llu dump_errors=%llu errors=%s refused=%llu secs=%.1f\n",
	       (unsigned long long)sh->attempts, (unsigned long long)sh->tcp,
	       (unsigned long long)sh->udp, (unsigned long long)sh->failed,
	       (unsigned long long)sh->dup_tuples, (unsigned long long)sh->checks,
	       (unsigned long long)sh->out_of_range, (unsigned long long)sh->unseen,
	       (unsigned long long)sh->dump_errors, off ? errs : "none",
	       (unsigned long long)sh->refused, now_secs() - start);
	fflush(stdout);

	ret = EXIT_OK;
	if (sh->dup_tuples || sh->out_of_range || sh->dump_errors || child_failed)
		ret = EXIT_FAIL;
	if (sh->failed && !o.allow_fail)
		ret = EXIT_FAIL;
	if (sh->attempts != o.connects) {
		pr("only %llu of %llu connects were attempted",
		   (unsigned long long)sh->attempts, (unsigned long long)o.connects);
		ret = EXIT_FAIL;
	}
	free(pids);
	return ret;
}

/* ---- dupcheck --------------------------------------------------------- */

static const char dupcheck_usage[] =
"usage: psnet dupcheck [--family 4|6] [--addr ADDR] [--range LO-HI] [--confirm]\n"
"\n"
"Dumps the kernel socket table (TCP and UDP, NETLINK_SOCK_DIAG) once and\n"
"prints one line:\n"
"  sockets=N tcp=N udp=N timewait=N dup_tuples=N in_range=N\n"
"dup_tuples: tuples (proto, laddr, lport, raddr, rport) shared by two or\n"
"more connected sockets (TCP not LISTEN/CLOSE, UDP connected); each one is\n"
"described on stderr. in_range: sockets, TIME_WAIT and listeners excepted,\n"
"whose local address is ADDR and local port in LO-HI (either test is\n"
"skipped when its option is absent).\n"
"\n"
"  --family 4|6  dump only this family (default: that of --addr, else both)\n"
"  --addr ADDR   local address counted by in_range\n"
"  --range LO-HI local ports counted by in_range\n"
"  --confirm     dump again and count only duplicates seen twice (for\n"
"                tables that change while they are read)\n"
"\n"
"Exit: 1 if dup_tuples is non-zero or the dump fails, 2 on usage error,\n"
"else 0.\n";

static int cmd_dupcheck(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "family", required_argument, NULL, 'f' },
		{ "addr", required_argument, NULL, 'a' },
		{ "range", required_argument, NULL, 'r' },
		{ "confirm", no_argument, NULL, 'c' },
		OPT_HELP,
		{ 0 }
	};
	size_t tcp = 0, udp = 0, tw = 0, in_range = 0, sockets, i;
	int fams = AF_UNSPEC, lo = 0, hi = 65535, c, err;
	bool have_fam = false, have_addr = false, confirm = false;
	struct dupscan ds = { .report_max = 100 };
	struct sockvec sv = { 0 };
	struct ipport want;
	struct addr a;

	usage_text = dupcheck_usage;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "4"))
				fams = AF_INET;
			else if (!strcmp(optarg, "6"))
				fams = AF_INET6;
			else
				return usage_error("--family must be 4 or 6");
			have_fam = true;
			break;
		case 'a':
			if (!parse_ip(optarg, &a))
				return usage_error("bad --addr '%s'", optarg);
			ipport_from_sa(&a.ss, &want);
			have_addr = true;
			break;
		case 'r':
			if (!parse_port_range(optarg, &lo, &hi))
				return usage_error("bad --range '%s'", optarg);
			break;
		case 'c':
			confirm = true;
			break;
		case 'h':
			return show_help();
		default:
			return bad_option();
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (have_addr && !have_fam)
		fams = addr_family(&a);

	err = sockvec_dump(&sv, fams);
	if (err) {
		pr("socket table dump failed: %s", errname(-err));
		return EXIT_FAIL;
	}
	sockvec_uniq(&sv);
	sockets = sv.n;
	for (i = 0; i < sv.n; i++) {
		const struct sockent *e = &sv.v[i];

		if (e->k.proto == IPPROTO_TCP)
			tcp++;
		else
			udp++;
		if (e->k.proto == IPPROTO_TCP && e->state == TCP_TIME_WAIT) {
			tw++;
			continue;
		}
		if (e->k.proto == IPPROTO_TCP && e->state == TCP_LISTEN)
			continue;
		if (have_addr && (e->k.family != want.family || memcmp(e->k.laddr, want.addr, 16)))
			continue;
		if (e->k.lport >= lo && e->k.lport <= hi)
			in_range++;
	}
	sockvec_connected(&sv);
	if (confirm) {
		/* Nothing is known to be live: every duplicate awaits the second dump. */
		for_each_dup(&sv, dupscan_first, &ds);
		err = dupscan_confirm(&ds, fams);
		if (err) {
			pr("socket table dump failed: %s", errname(-err));
			return EXIT_FAIL;
		}
	} else {
		for_each_dup(&sv, dupscan_count, &ds);
	}
	printf("sockets=%zu tcp=%zu udp=%zu timewait=%zu dup_tuples=%zu in_range=%zu\n",
	       sockets, tcp, udp, tw, ds.confirmed, in_range);
	fflush(stdout);
	free(sv.v);
	free(ds.pending.v);
	return ds.confirmed ? EXIT_FAIL : EXIT_OK;
}

/* ---- main ------------------------------------------------------------- */

static const char main_usage[] =
"usage: psnet COMMAND [OPTIONS]        (psnet COMMAND --help for details)\n"
"\n"
"Socket tool of the portslice shell tests. Results go to stdout, one\n"
"\"key=value ...\" line per item; messages go to stderr.\n"
"Exit status: 0 success, 1 an expectation failed, 2 usage error.\n"
"\n"
"commands:\n"
"  serve     listen on TCP/UDP port ranges and echo\n"
"  connect   open N connected sockets to a port range\n"
"  bind      bind (and listen) sockets\n"
"  sendto    send a datagram from an unconnected UDP socket\n"
"  recvfrom  print where received datagrams came from\n"
"  stress    processes x threads connecting, checking for duplicate tuples\n"
"  dupcheck  look for duplicate tuples in the kernel socket table\n"
"\n"
"TEST_TIME_SCALE=N in the environment multiplies every timeout (a slow or\n"
"emulated machine; tests/lib.sh sets its own waits by the same factor).\n";

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "serve", cmd_serve },
		{ "connect", cmd_connect },
		{ "bind", cmd_bind },
		{ "sendto", cmd_sendto },
		{ "recvfrom", cmd_recvfrom },
		{ "stress", cmd_stress },
		{ "dupcheck", cmd_dupcheck },
	};
	size_t i;

	if (argc < 2) {
		fputs(main_usage, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(main_usage, stdout);
		return EXIT_OK;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!strcmp(argv[1], cmds[i].name)) {
			cmd_name = cmds[i].name;
			raise_nofile();
			return cmds[i].fn(argc - 1, argv + 1);
		}
	}
	pr("unknown command '%s'", argv[1]);
	fputs(main_usage, stderr);
	return EXIT_USAGE;
}
