// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * psattack: the socket tricks of tests/attack/test_attacks.sh that psnet
 * does not have. Each command tries one thing and prints one line:
 *   result=ok|ERRNAME op=CALL local=ADDR:PORT
 * op names the call that gave result (socket, setsockopt, bind, connect,
 * sendmsg, ...); local is getsockname() at the end (or "-").
 * Exit status: 0 if the command ran (whatever result), 2 on usage error;
 * with --expect-ok / --expect-errno NAME: 1 if result differs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf.h>

#include "portslice.h"

#ifndef IP_FREEBIND
#define IP_FREEBIND 15
#endif
#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif
#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static const char *usage_text =
	"usage: psattack COMMAND [OPTIONS]\n"
	"\n"
	"  bind    --proto tcp|udp --addr ADDR:PORT [--freebind] [--transparent]\n"
	"          [--reuseport] [--reuseaddr] [--device DEV] [--listen]\n"
	"  connect --proto tcp|udp --to ADDR:PORT [--bind ADDR:PORT] [--freebind]\n"
	"          [--reuseport] [--reuseaddr] [--device DEV] [--v6only 0|1]\n"
	"          [--send TEXT] [--pktinfo ADDR]\n"
	"          connect(), then (with --send) one sendmsg() without a\n"
	"          destination, naming ADDR as source in IP_PKTINFO/IPV6_PKTINFO\n"
	"  tfo     --to ADDR:PORT [--send TEXT]: TCP Fast Open, sendto(MSG_FASTOPEN)\n"
	"  raw     [--family 4|6]: socket(SOCK_RAW, IPPROTO_UDP); then, with\n"
	"          --from ADDR --sport N --to ADDR:PORT, send a UDP datagram\n"
	"          with a header written by hand (IPv4, IP_HDRINCL)\n"
	"  packet  socket(AF_PACKET, SOCK_RAW)\n"
	"  bpfget  --path PIN [--write]: BPF_OBJ_GET a pinned object read-only\n"
	"          (or read-write), then BPF_MAP_GET_NEXT_KEY on it\n"
	"  steps   STEP...: one scenario on named sockets, a step per argument,\n"
	"          each printed as step=N sock=S op=OP result=ok|ERRNAME local=A:P\n"
	"          peer=A:P|- [info]; a step ending in expect=ok|ERRNAME fails the\n"
	"          run (exit 1) when its result differs; the run stops there.\n"
	"          S udp4|udp6|tcp4|tcp6|mptcp4|mptcp6    socket()\n"
	"          S reuseaddr | S reuseport | S nobindport | S linger0\n"
	"          S device DEV                           socket options\n"
	"          S bind ADDR:PORT | S connect ADDR:PORT | S listen\n"
	"          S disconnect                           connect(AF_UNSPEC)\n"
	"          S send TEXT | S sendto ADDR:PORT TEXT\n"
	"          S echo TEXT     send TEXT, then read until TEXT comes back\n"
	"          S wait TEXT     read until TEXT comes (no send first)\n"
	"                          (ETIMEDOUT after 2 s); info: foreign=N, the\n"
	"                          datagrams or bytes read before it (another\n"
	"                          socket's replies, for a connected UDP socket)\n"
	"          S drain         read what is queued without waiting;\n"
	"                          info: foreign=N\n"
	"          S close\n"
	"          pause           wait for a line on stdin (the test changes\n"
	"                          something meanwhile); printed as step=N\n"
	"                          op=pause once reached; end of stdin ends the\n"
	"                          run there\n"
	"          --repeat N: the whole scenario N times (sockets left open at\n"
	"          the end of a round are closed); --quiet: print only failed\n"
	"          expectations and a last line rounds=N failed_step=N|-;\n"
	"          --keep-going: run every step even after a failed expectation\n"
	"          (exit 1 all the same)\n"
	"  fill    --path PIN --count N [--delete]: add (or remove) N synthetic\n"
	"          claims to the ps_tuples map at PIN (batched): UDP tuples from\n"
	"          192.0.2.1 (no pool's address), cookie 0 (no socket's); prints\n"
	"          result=ok|ERRNAME op=fill count=N done=N entries=N\n"
	"\n"
	"  --expect-ok | --expect-errno NAME   check the result (exit 1 if not)\n"
	"  --hold-stdin                         keep the socket until stdin closes\n"
	"\n"
	"ADDR:PORT: IPv6 as [ADDR]:PORT. Every command prints\n"
	"  result=ok|ERRNAME op=CALL local=ADDR:PORT\n";

struct opts {
	const char *cmd;
	int proto;             /* SOCK_STREAM / SOCK_DGRAM */
	const char *addr, *to, *bind, *device, *send, *pktinfo, *path, *from, *expect;
	bool freebind, transparent, reuseport, reuseaddr, listen, write, hold, expect_ok, quiet;
	bool keep_going;
	int family, sport, v6only, count, repeat;
};

static void usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	exit(rc);
}

static int parse_sa(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	size_t hl;
	long port;

	if (!colon)
		return -1;
	port = strtol(colon + 1, NULL, 10);
	hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hl < 2 || s[hl - 1] != ']')
			return -1;
		s++;
		hl -= 2;
	}
	if (hl >= sizeof(host) || port < 0 || port > 65535)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return 0;
	}
	return -1;
}

static void fmt_sa(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s->sin6_port));
	} else {
		snprintf(buf, len, "-");
	}
}

static int report(const struct opts *o, int fd, int err, const char *op)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);
	char local[80] = "-";
	const char *name = err ? strerrorname_np(err) : "ok";
	int rc = 0;

	if (fd >= 0 && !getsockname(fd, (struct sockaddr *)&ss, &len))
		fmt_sa(&ss, local, sizeof(local));
	printf("result=%s op=%s local=%s\n", name ? name : "?", op, local);
	fflush(stdout);
	if (o->expect_ok && err)
		rc = 1;
	if (o->expect && (!err || !name || strcmp(name, o->expect)))
		rc = 1;
	if (rc)
		fprintf(stderr, "psattack %s: expected %s, got %s (%s)\n", o->cmd,
			o->expect ? o->expect : "ok", name ? name : "?", op);
	if (o->hold) {
		char buf[64];

		while (read(0, buf, sizeof(buf)) > 0)
			;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

static int sockopts(const struct opts *o, int fd, int family, const char **op)
{
	int one = 1;

	*op = "setsockopt";
	if (o->reuseaddr && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		return errno;
	if (o->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		return errno;
	if (o->freebind && setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one)))
		return errno;
	if (o->transparent && setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)))
		return errno;
	if (o->device && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o->device,
				    (socklen_t)strlen(o->device)))
		return errno;
	if (family == AF_INET6 && o->v6only >= 0 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &o->v6only, sizeof(o->v6only)))
		return errno;
	return 0;
}

static int cmd_bind(const struct opts *o)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *op = "socket";
	int fd, err;

	if (!o->addr || !o->proto || parse_sa(o->addr, &ss, &len))
		usage(2);
	fd = socket(ss.ss_family, o->proto, 0);
	if (fd < 0)
		return report(o, -1, errno, op);
	err = sockopts(o, fd, ss.ss_family, &op);
	if (!err) {
		op = "bind";
		err = bind(fd, (struct sockaddr *)&ss, len) ? errno : 0;
	}
	if (!err && o->listen) {
		op = "listen";
		err = listen(fd, 16) ? errno : 0;
	}
	return report(o, fd, err, op);
}

static int send_pktinfo(int fd, int family, const char *src, const char *text)
{
	char cbuf[CMSG_SPACE(sizeof(struct in6_pktinfo))] = { 0 };
	struct iovec iov = { .iov_base = (void *)text, .iov_len = strlen(text) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (src) {
		msg.msg_control = cbuf;
		c = (struct cmsghdr *)cbuf;
		if (family == AF_INET) {
			struct in_pktinfo pi = { 0 };

			if (inet_pton(AF_INET, src, &pi.ipi_spec_dst) != 1)
				return EINVAL;
			msg.msg_controllen = CMSG_SPACE(sizeof(pi));
			c->cmsg_level = IPPROTO_IP;
			c->cmsg_type = IP_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		} else {
			struct in6_pktinfo pi = { 0 };

			if (inet_pton(AF_INET6, src, &pi.ipi6_addr) != 1)
				return EINVAL;
			msg.msg_controllen = CMSG_SPACE(sizeof(pi));
			c->cmsg_level = IPPROTO_IPV6;
			c->cmsg_type = IPV6_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		}
	}
	return sendmsg(fd, &msg, 0) < 0 ? errno : 0;
}

static int cmd_connect(const struct opts *o)
{
	struct sockaddr_storage to, b;
	socklen_t tlen, blen;
	const char *op = "socket";
	int fd, err;

	if (!o->to || !o->proto || parse_sa(o->to, &to, &tlen) ||
	    (o->bind && parse_sa(o->bind, &b, &blen)))
		usage(2);
	fd = socket(to.ss_family, o->proto, 0);
	if (fd < 0)
		return report(o, -1, errno, op);
	err = sockopts(o, fd, to.ss_family, &op);
	if (!err && o->bind) {
		op = "bind";
		err = bind(fd, (struct sockaddr *)&b, blen) ? errno : 0;
	}
	if (!err) {
		op = "connect";
		err = connect(fd, (struct sockaddr *)&to, tlen) ? errno : 0;
	}
	if (!err && o->send) {
		op = "sendmsg";
		err = send_pktinfo(fd, to.ss_family, o->pktinfo, o->send);
	}
	return report(o, fd, err, op);
}

static int cmd_tfo(const struct opts *o)
{
	struct sockaddr_storage to;
	socklen_t tlen;
	const char *text = o->send ? o->send : "psattack";
	int fd, err;

	if (!o->to || parse_sa(o->to, &to, &tlen))
		usage(2);
	fd = socket(to.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return report(o, -1, errno, "socket");
	err = sendto(fd, text, strlen(text), MSG_FASTOPEN, (struct sockaddr *)&to, tlen) < 0 ? errno : 0;
	return report(o, fd, err, "sendto");
}

static uint16_t csum16(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static int cmd_raw(const struct opts *o)
{
	int family = o->family == 6 ? AF_INET6 : AF_INET, fd, one = 1;
	struct sockaddr_storage to;
	socklen_t tlen;
	uint8_t pkt[64] = { 0 };
	struct iphdr *ip = (struct iphdr *)pkt;
	struct udphdr *uh = (struct udphdr *)(pkt + 20);

	fd = socket(family, SOCK_RAW, IPPROTO_UDP);
	if (fd < 0)
		return report(o, -1, errno, "socket");
	if (!o->to)
		return report(o, fd, 0, "socket");
	if (family != AF_INET || !o->from || parse_sa(o->to, &to, &tlen) || to.ss_family != AF_INET)
		usage(2);
	if (setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one)))
		return report(o, fd, errno, "setsockopt");
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(20 + 8 + 8);
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	inet_pton(AF_INET, o->from, &ip->saddr);
	ip->daddr = ((struct sockaddr_in *)&to)->sin_addr.s_addr;
	ip->check = htons(csum16(ip, 20));
	uh->source = htons((uint16_t)o->sport);
	uh->dest = ((struct sockaddr_in *)&to)->sin_port;
	uh->len = htons(16);
	memcpy(pkt + 28, "psattack", 8);
	return report(o, -1, sendto(fd, pkt, 36, 0, (struct sockaddr *)&to, tlen) < 0 ? errno : 0,
		      "sendto");
}

static int cmd_packet(const struct opts *o)
{
	int fd = socket(AF_PACKET, SOCK_RAW, htons(0x0800));

	return report(o, fd, fd < 0 ? errno : 0, "socket");
}

static int cmd_bpfget(const struct opts *o)
{
	union bpf_attr attr;
	uint8_t key[256], next[256];
	int fd, err;

	if (!o->path)
		usage(2);
	memset(&attr, 0, sizeof(attr));
	attr.pathname = (uint64_t)(unsigned long)o->path;
	attr.file_flags = o->write ? 0 : BPF_F_RDONLY;
	fd = (int)syscall(SYS_bpf, BPF_OBJ_GET, &attr, sizeof(attr));
	if (fd < 0)
		return report(o, -1, errno, "obj_get");
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = (uint32_t)fd;
	attr.key = 0;
	attr.next_key = (uint64_t)(unsigned long)next;
	(void)key;
	err = syscall(SYS_bpf, BPF_MAP_GET_NEXT_KEY, &attr, sizeof(attr)) < 0 ? errno : 0;
	/* ENOENT: an empty map, which was readable all the same. */
	return report(o, -1, err == ENOENT ? 0 : err, "get_next_key");
}

/* ---- steps: one scenario on named sockets ---------------------------- */

#define STEPS_MAX_SOCKS 16
#define STEPS_MAX_WORDS 8

struct step_sock {
	char name[16];
	int fd;
	int family;
};

static struct step_sock *step_find(struct step_sock *socks, const char *name, bool create)
{
	for (int i = 0; i < STEPS_MAX_SOCKS; i++)
		if (socks[i].name[0] && !strcmp(socks[i].name, name))
			return &socks[i];
	if (!create)
		return NULL;
	for (int i = 0; i < STEPS_MAX_SOCKS; i++) {
		if (!socks[i].name[0]) {
			snprintf(socks[i].name, sizeof(socks[i].name), "%s", name);
			socks[i].fd = -1;
			return &socks[i];
		}
	}
	return NULL;
}

static double steps_timeout(void)
{
	const char *s = getenv("TEST_TIME_SCALE");
	int scale = s ? atoi(s) : 1;

	return 2.0 * (scale > 0 ? scale : 1);
}

/*
 * Send @text, then read until it comes back. What arrives before it is
 * foreign: on a connected UDP socket, replies to datagrams another socket
 * sent on this socket's 4-tuple (the echo server answers in order, so
 * anything sent before our ping is read before its echo).
 */
static int step_echo(int fd, const char *text, bool do_send, int *foreign, char *info, size_t ilen)
{
	size_t want = strlen(text), got = 0;
	char buf[2048];
	int type = 0;
	socklen_t tl = sizeof(type);
	size_t off = 0;

	*foreign = 0;
	info[0] = '\0';
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl);
	if (do_send && send(fd, text, want, MSG_NOSIGNAL) < 0)
		return errno;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, (int)(steps_timeout() * 1000)) <= 0)
			return ETIMEDOUT;
		n = recv(fd, buf + (type == SOCK_STREAM ? got : 0),
			 sizeof(buf) - 1 - (type == SOCK_STREAM ? got : 0), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return errno;
		}
		if (n == 0)
			return ECONNRESET;
		if (type == SOCK_STREAM) {
			got += (size_t)n;
			if (got >= want)
				return memcmp(buf, text, want) ? EBADMSG : 0;
			continue;
		}
		buf[n] = '\0';
		if ((size_t)n == want && !memcmp(buf, text, want))
			return 0;
		(*foreign)++;
		if (off < ilen)
			off += (size_t)snprintf(info + off, ilen - off, " got=%.40s", buf);
	}
}

static int step_drain(int fd, int *foreign, char *info, size_t ilen)
{
	char buf[2048];
	size_t off = 0;
	ssize_t n;

	*foreign = 0;
	info[0] = '\0';
	while ((n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		buf[n] = '\0';
		(*foreign)++;
		if (off < ilen)
			off += (size_t)snprintf(info + off, ilen - off, " got=%.40s", buf);
	}
	return 0;
}

/* One step; returns 0 or an errno, sets *op; -1: usage error. */
static int step_run(struct step_sock *socks, char **w, int nw, const char **op, char *info, size_t ilen)
{
	struct step_sock *k;
	struct sockaddr_storage sa;
	socklen_t len;
	int one = 1, foreign, err;

	info[0] = '\0';
	*op = nw > 1 ? w[1] : "?";
	if (nw < 2)
		return -1;
	if (!strncmp(w[1], "udp", 3) || !strncmp(w[1], "tcp", 3) || !strncmp(w[1], "mptcp", 5)) {
		bool six = strchr(w[1], '6') != NULL;
		int type = w[1][0] == 'u' ? SOCK_DGRAM : SOCK_STREAM;
		int proto = w[1][0] == 'm' ? IPPROTO_MPTCP : 0;

		k = step_find(socks, w[0], true);
		if (!k)
			return -1;
		if (k->fd >= 0)
			close(k->fd);
		*op = "socket";
		k->family = six ? AF_INET6 : AF_INET;
		k->fd = socket(k->family, type, proto);
		return k->fd < 0 ? errno : 0;
	}
	k = step_find(socks, w[0], false);
	if (!k || k->fd < 0)
		return -1;
	if (!strcmp(w[1], "reuseaddr") || !strcmp(w[1], "reuseport") || !strcmp(w[1], "nobindport")) {
		int level = w[1][0] == 'n' ? IPPROTO_IP : SOL_SOCKET;
		int opt = w[1][0] == 'n' ? IP_BIND_ADDRESS_NO_PORT :
			  !strcmp(w[1], "reuseaddr") ? SO_REUSEADDR : SO_REUSEPORT;

		*op = "setsockopt";
		return setsockopt(k->fd, level, opt, &one, sizeof(one)) ? errno : 0;
	}
	if (!strcmp(w[1], "linger0")) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		*op = "setsockopt";
		return setsockopt(k->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) ? errno : 0;
	}
	if (!strcmp(w[1], "device") && nw >= 3) {
		*op = "setsockopt";
		return setsockopt(k->fd, SOL_SOCKET, SO_BINDTODEVICE, w[2], (socklen_t)strlen(w[2])) ? errno : 0;
	}
	if ((!strcmp(w[1], "bind") || !strcmp(w[1], "connect")) && nw >= 3) {
		if (parse_sa(w[2], &sa, &len))
			return -1;
		snprintf(info, ilen, " to=%s", w[2]);
		if (w[1][0] == 'b')
			return bind(k->fd, (struct sockaddr *)&sa, len) ? errno : 0;
		return connect(k->fd, (struct sockaddr *)&sa, len) ? errno : 0;
	}
	if (!strcmp(w[1], "listen"))
		return listen(k->fd, 16) ? errno : 0;
	if (!strcmp(w[1], "disconnect")) {
		struct sockaddr un = { .sa_family = AF_UNSPEC };

		*op = "disconnect";
		return connect(k->fd, &un, sizeof(un)) ? errno : 0;
	}
	if (!strcmp(w[1], "send") && nw >= 3)
		return send(k->fd, w[2], strlen(w[2]), MSG_NOSIGNAL) < 0 ? errno : 0;
	if (!strcmp(w[1], "sendto") && nw >= 4) {
		if (parse_sa(w[2], &sa, &len))
			return -1;
		snprintf(info, ilen, " to=%s", w[2]);
		return sendto(k->fd, w[3], strlen(w[3]), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0 ? errno : 0;
	}
	if ((!strcmp(w[1], "echo") || !strcmp(w[1], "wait")) && nw >= 3) {
		char got[512];

		err = step_echo(k->fd, w[2], w[1][0] == 'e', &foreign, got, sizeof(got));
		snprintf(info, ilen, " foreign=%d%s", foreign, got);
		return err;
	}
	if (!strcmp(w[1], "drain")) {
		char got[512];

		err = step_drain(k->fd, &foreign, got, sizeof(got));
		snprintf(info, ilen, " foreign=%d%s", foreign, got);
		return err;
	}
	if (!strcmp(w[1], "close")) {
		close(k->fd);
		k->fd = -1;
		return 0;
	}
	return -1;
}

/* pause: one line of stdin, read a byte at a time to leave the next lines there. False at its end. */
static bool step_pause(int step)
{
	char c;
	ssize_t n;

	printf("step=%d sock=- op=pause\n", step);
	fflush(stdout);
	while ((n = read(STDIN_FILENO, &c, 1)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && c == '\n')
			return true;
	return false;
}

static void step_names(int fd, char *local, char *peer, size_t len)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = sizeof(ss);

	snprintf(local, len, "-");
	snprintf(peer, len, "-");
	if (fd < 0)
		return;
	if (!getsockname(fd, (struct sockaddr *)&ss, &sl))
		fmt_sa(&ss, local, len);
	sl = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (!getpeername(fd, (struct sockaddr *)&ss, &sl))
		fmt_sa(&ss, peer, len);
}

static int cmd_steps(const struct opts *o, int nsteps, char **steps)
{
	struct step_sock socks[STEPS_MAX_SOCKS];
	int rounds = o->repeat > 0 ? o->repeat : 1, round, i, failed_step = 0, stop = 0;

	memset(socks, 0, sizeof(socks));
	if (!nsteps)
		usage(2);
	for (round = 0; round < rounds && !stop; round++) {
		for (i = 0; i < nsteps && !stop; i++) {
			char buf[256], *w[STEPS_MAX_WORDS], *save = NULL, *tok;
			char info[600], local[80], peer[80];
			const char *op, *expect = NULL, *name;
			struct step_sock *k;
			int nw = 0, err;
			bool bad;

			snprintf(buf, sizeof(buf), "%s", steps[i]);
			for (tok = strtok_r(buf, " ", &save); tok && nw < STEPS_MAX_WORDS;
			     tok = strtok_r(NULL, " ", &save)) {
				if (!strncmp(tok, "expect=", 7))
					expect = tok + 7;
				else
					w[nw++] = tok;
			}
			if (nw == 1 && !strcmp(w[0], "pause")) {
				stop = !step_pause(i + 1);
				continue;
			}
			err = step_run(socks, w, nw, &op, info, sizeof(info));
			if (err < 0) {
				fprintf(stderr, "psattack steps: bad step '%s'\n", steps[i]);
				usage(2);
			}
			name = err ? strerrorname_np(err) : "ok";
			name = name ? name : "?";
			bad = expect && strcmp(expect, name);
			k = step_find(socks, w[0], false);
			step_names(k ? k->fd : -1, local, peer, sizeof(local));
			if (!o->quiet || bad)
				printf("step=%d sock=%s op=%s result=%s local=%s peer=%s%s%s\n", i + 1,
				       w[0], op, name, local, peer, info, bad ? " unexpected" : "");
			if (bad) {
				fprintf(stderr, "psattack steps: round %d step %d '%s': expected %s, got %s\n",
					round + 1, i + 1, steps[i], expect, name);
				if (!failed_step)
					failed_step = i + 1;
				stop = !o->keep_going;
			}
		}
		if (o->hold && round == rounds - 1) {
			char b[64];

			fflush(stdout);
			while (read(0, b, sizeof(b)) > 0)
				;
		}
		for (i = 0; i < STEPS_MAX_SOCKS; i++) {
			if (socks[i].name[0] && socks[i].fd >= 0)
				close(socks[i].fd);
			socks[i].fd = -1;
		}
	}
	if (o->quiet || rounds > 1) {
		if (failed_step)
			printf("rounds=%d failed_step=%d\n", round, failed_step);
		else
			printf("rounds=%d failed_step=-\n", rounds);
	}
	fflush(stdout);
	return failed_step ? 1 : 0;
}

/* The i-th synthetic claim: a tuple no real socket can have. */
static void synthetic(struct ps_tuple *t, uint32_t i)
{
	memset(t, 0, sizeof(*t));
	t->proto = IPPROTO_UDP;
	t->family = AF_INET;
	t->lport = (uint16_t)(1 + i % 65535);
	t->rport = 9;
	t->laddr[0] = htonl(0xc0000201);           /* 192.0.2.1 */
	t->raddr[0] = htonl(0xc6336400 + i / 65535); /* 198.51.100.0 + i / 65535 */
}

static int cmd_fill(const struct opts *o)
{
	enum { CHUNK = 65536 };
	struct ps_tuple *keys = calloc(CHUNK, sizeof(*keys));
	struct ps_claim *vals = calloc(CHUNK, sizeof(*vals));
	uint32_t done = 0, n, entries = 0;
	struct ps_tuple k, next;
	int fd, err = 0;

	if (!o->path || o->count <= 0 || !keys || !vals)
		usage(2);
	fd = bpf_obj_get(o->path);
	if (fd < 0)
		return report(o, -1, errno, "obj_get");
	while (done < (uint32_t)o->count && !err) {
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		__u32 count;

		n = (uint32_t)o->count - done < CHUNK ? (uint32_t)o->count - done : CHUNK;
		for (uint32_t i = 0; i < n; i++)
			synthetic(&keys[i], done + i);
		count = n;
		if (o->write) /* --delete */
			err = bpf_map_delete_batch(fd, keys, &count, &bo) ? errno : 0;
		else
			err = bpf_map_update_batch(fd, keys, vals, &count, &bo) ? errno : 0;
		done += count;
	}
	/* Count what the map holds now. */
	for (int r = bpf_map_get_next_key(fd, NULL, &next); !r; r = bpf_map_get_next_key(fd, &k, &next)) {
		k = next;
		entries++;
	}
	printf("result=%s op=fill count=%d done=%u entries=%u\n", err ? strerrorname_np(err) : "ok",
	       o->count, done, entries);
	close(fd);
	free(keys);
	free(vals);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "proto", required_argument, 0, 'p' },
		{ "addr", required_argument, 0, 'a' },
		{ "to", required_argument, 0, 't' },
		{ "bind", required_argument, 0, 'b' },
		{ "device", required_argument, 0, 'd' },
		{ "send", required_argument, 0, 's' },
		{ "pktinfo", required_argument, 0, 'i' },
		{ "path", required_argument, 0, 'P' },
		{ "from", required_argument, 0, 'f' },
		{ "sport", required_argument, 0, 'S' },
		{ "family", required_argument, 0, 'F' },
		{ "v6only", required_argument, 0, '6' },
		{ "freebind", no_argument, 0, 'B' },
		{ "transparent", no_argument, 0, 'T' },
		{ "reuseport", no_argument, 0, 'R' },
		{ "reuseaddr", no_argument, 0, 'A' },
		{ "listen", no_argument, 0, 'l' },
		{ "write", no_argument, 0, 'w' },
		{ "hold-stdin", no_argument, 0, 'H' },
		{ "expect-ok", no_argument, 0, 'o' },
		{ "expect-errno", required_argument, 0, 'e' },
		{ "count", required_argument, 0, 'c' },
		{ "delete", no_argument, 0, 'w' },
		{ "repeat", required_argument, 0, 'r' },
		{ "quiet", no_argument, 0, 'q' },
		{ "keep-going", no_argument, 0, 'k' },
		{ "help", no_argument, 0, 'h' },
		{ 0 },
	};
	struct opts o = { .v6only = -1 };
	int c;

	if (argc < 2)
		usage(2);
	o.cmd = argv[1];
	if (!strcmp(o.cmd, "--help") || !strcmp(o.cmd, "-h"))
		usage(0);
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.proto = !strcmp(optarg, "tcp") ? SOCK_STREAM : !strcmp(optarg, "udp") ? SOCK_DGRAM : 0;
			if (!o.proto)
				usage(2);
			break;
		case 'a': o.addr = optarg; break;
		case 't': o.to = optarg; break;
		case 'b': o.bind = optarg; break;
		case 'd': o.device = optarg; break;
		case 's': o.send = optarg; break;
		case 'i': o.pktinfo = optarg; break;
		case 'P': o.path = optarg; break;
		case 'f': o.from = optarg; break;
		case 'S': o.sport = atoi(optarg); break;
		case 'F': o.family = atoi(optarg); break;
		case '6': o.v6only = atoi(optarg); break;
		case 'B': o.freebind = true; break;
		case 'T': o.transparent = true; break;
		case 'R': o.reuseport = true; break;
		case 'A': o.reuseaddr = true; break;
		case 'l': o.listen = true; break;
		case 'w': o.write = true; break;
		case 'H': o.hold = true; break;
		case 'o': o.expect_ok = true; break;
		case 'e': o.expect = optarg; break;
		case 'c': o.count = atoi(optarg); break;
		case 'r': o.repeat = atoi(optarg); break;
		case 'q': o.quiet = true; break;
		case 'k': o.keep_going = true; break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (!strcmp(o.cmd, "steps"))
		return cmd_steps(&o, argc - optind, argv + optind);
	if (!strcmp(o.cmd, "bind"))
		return cmd_bind(&o);
	if (!strcmp(o.cmd, "connect"))
		return cmd_connect(&o);
	if (!strcmp(o.cmd, "tfo"))
		return cmd_tfo(&o);
	if (!strcmp(o.cmd, "raw"))
		return cmd_raw(&o);
	if (!strcmp(o.cmd, "packet"))
		return cmd_packet(&o);
	if (!strcmp(o.cmd, "fill"))
		return cmd_fill(&o);
	if (!strcmp(o.cmd, "bpfget"))
		return cmd_bpfget(&o);
	usage(2);
	return 2;
}
