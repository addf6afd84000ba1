/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A private network namespace for a test process, and the devices in it.
 *
 * netns_enter() moves the calling process into a network namespace of its
 * own (unshare(CLONE_NEWNET)); netns_leave() returns to the one it came
 * from, which drops the new namespace's last reference: the veths and
 * neighbour entries made in it go with it, however the test ends. Nothing
 * here touches the original namespace. Commands run through system(), with
 * iproute2's ip; every failure is reported on stderr under the program's
 * name. Root only.
 *
 * Used by the unit tests (tests/unit/) and the fuzz targets (fuzz/).
 */
#ifndef PS_TESTS_NETNS_H
#define PS_TESTS_NETNS_H

#include <stddef.h>
#include <stdint.h>

/* One end of a veth pair as the test sees it, and its peer's name. */
struct netns_veth {
	const char *name, *peer;
	uint8_t mac[6];
	const char *addr4, *addr6; /* "a.b.c.d/len", "x::y/len"; NULL: none */
};

/* Into a network namespace of this process's own; 0 or -1. */
int netns_enter(void);
/* Back to the namespace netns_enter() left; harmless when not in one. */
void netns_leave(void);

/* Run a shell command; its exit status, reported unless 0. */
int netns_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Write @value to the file @path (a sysctl); 0 or -1. */
int netns_write(const char *path, const char *value);
/* @mac as text, "02:00:00:00:0a:01", in @buf (18 bytes). */
char *netns_mac_text(const uint8_t mac[6], char buf[18]);

/* The veth pair of @v, both ends up, addressed; the ifindex of v->name, or -1. */
int netns_add_veth(const struct netns_veth *v);
/* A permanent neighbour entry: @addr (of family @af) is at @mac on @dev. */
int netns_add_neigh(int af, const char *addr, const uint8_t mac[6], const char *dev);
/* IPv4 and IPv6 forwarding on (bpf_fib_lookup() needs it); 0 or -1. */
int netns_forwarding(void);
/*
 * All of it at once: into a namespace of this process's own, the @n veth
 * pairs of @v (the ifindex of each v[i].name in ifindex[i]), forwarding on.
 */
int netns_setup(const struct netns_veth *v, size_t n, int *ifindex);

#endif
