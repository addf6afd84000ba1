// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A private network namespace for a test process (netns.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "netns.h"

static int orig_netns = -1;

int netns_enter(void)
{
	orig_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig_netns < 0 || unshare(CLONE_NEWNET)) {
		fprintf(stderr, "%s: cannot make a network namespace: %s\n",
			program_invocation_short_name, strerror(errno));
		return -1;
	}
	return 0;
}

void netns_leave(void)
{
	if (orig_netns < 0)
		return;
	if (setns(orig_netns, CLONE_NEWNET))
		fprintf(stderr, "%s: cannot return to the original namespace: %s\n",
			program_invocation_short_name, strerror(errno));
	close(orig_netns);
	orig_netns = -1;
}

int netns_run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "%s: command failed (%d): %s\n", program_invocation_short_name, rc, cmd);
	return rc;
}

int netns_write(const char *path, const char *value)
{
	FILE *f = fopen(path, "w");
	int rc;

	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, path, strerror(errno));
		return -1;
	}
	rc = fputs(value, f) < 0;
	rc |= fclose(f) != 0;
	return rc ? -1 : 0;
}

char *netns_mac_text(const uint8_t mac[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
	return buf;
}

int netns_add_veth(const struct netns_veth *v)
{
	char mac[18];
	int ifindex;

	if (netns_run("ip link add %s type veth peer name %s", v->name, v->peer) ||
	    netns_run("ip link set dev %s address %s", v->name, netns_mac_text(v->mac, mac)) ||
	    netns_run("ip link set dev %s up && ip link set dev %s up", v->name, v->peer) ||
	    (v->addr4 && netns_run("ip addr add %s dev %s", v->addr4, v->name)) ||
	    (v->addr6 && netns_run("ip -6 addr add %s dev %s nodad", v->addr6, v->name)))
		return -1;
	ifindex = (int)if_nametoindex(v->name);
	return ifindex ? ifindex : -1;
}

int netns_add_neigh(int af, const char *addr, const uint8_t mac[6], const char *dev)
{
	char text[18];

	return netns_run("ip %s neigh add %s lladdr %s dev %s nud permanent",
			 af == AF_INET6 ? "-6" : "-4", addr, netns_mac_text(mac, text), dev) ? -1 : 0;
}

int netns_forwarding(void)
{
	if (netns_write("/proc/sys/net/ipv4/ip_forward", "1") ||
	    netns_write("/proc/sys/net/ipv6/conf/all/forwarding", "1"))
		return -1;
	return 0;
}

int netns_setup(const struct netns_veth *v, size_t n, int *ifindex)
{
	if (netns_enter())
		return -1;
	for (size_t i = 0; i < n; i++) {
		ifindex[i] = netns_add_veth(&v[i]);
		if (ifindex[i] < 0)
			return -1;
	}
	return netns_forwarding();
}
