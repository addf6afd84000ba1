/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel's own view of the sockets of the current network namespace,
 * read through NETLINK_SOCK_DIAG (the interface ss(8) uses). The BPF maps
 * only say what portslice believes it handed out; this is what really
 * exists, so it is the reference for audits and for the tests.
 *
 * Depends on libc and kernel UAPI headers only, so that test tools can link
 * it without libbpf.
 */
#ifndef PS_SOCK_SOCKDIAG_H
#define PS_SOCK_SOCKDIAG_H

#include <stdint.h>

struct ps_sockinfo {
	int family;                   /* AF_INET / AF_INET6 */
	int proto;                    /* IPPROTO_TCP / IPPROTO_UDP */
	/*
	 * TCP_ESTABLISHED, TCP_TIME_WAIT, ... as in <netinet/tcp.h>. UDP
	 * sockets are TCP_ESTABLISHED when connected, TCP_CLOSE otherwise.
	 * Request sockets of half-open passive connections are TCP_SYN_RECV;
	 * a timewait socket may also say TCP_FIN_WAIT2 (its substate).
	 */
	uint8_t state;
	uint8_t laddr[16], raddr[16]; /* network order, IPv4 in [0..3], rest zero */
	uint16_t lport, rport;        /* host order */
	uint64_t cookie;              /* idiag_cookie: unique per socket in this boot */
	uint32_t inode;               /* 0 for TIME_WAIT and request sockets */
};

typedef int (*ps_sockdiag_cb)(const struct ps_sockinfo *si, void *arg);

/*
 * Dumps every socket of @family (AF_INET or AF_INET6) and @proto
 * (IPPROTO_TCP or IPPROTO_UDP) in the current netns, in all states
 * including TIME_WAIT and request sockets, calling @cb for each. TCP sockets
 * that are bound but neither listening nor connecting come too on kernels
 * that dump them (TCP_BOUND_INACTIVE, recent ones), with state TCP_CLOSE. An AF_INET6 dump includes
 * dual-stack sockets talking IPv4 (v4-mapped addresses). A non-zero return
 * from @cb stops the dump and is returned as is. Returns 0 or -errno.
 *
 * A dump is not an atomic snapshot: the kernel resumes it bucket by bucket
 * across reads, so a socket created or closed meanwhile may be missed, and
 * one socket may rarely be reported twice (same cookie). Callers that look
 * for two sockets sharing a tuple must compare cookies.
 *
 * Thread-safe: each call uses its own netlink socket.
 */
int ps_sockdiag_dump(int family, int proto, ps_sockdiag_cb cb, void *arg);

#endif
