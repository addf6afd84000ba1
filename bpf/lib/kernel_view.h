/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the kernel's own tables say about a candidate 4-tuple: free, held by
 * a socket (portslice's or not), or held by a TIME_WAIT entry that the
 * kernel itself would reuse.
 */
#ifndef PS_BPF_KERNEL_VIEW_H
#define PS_BPF_KERNEL_VIEW_H

#include "common.h"
#include <bpf/bpf_core_read.h>

static __always_inline bool ps_addr_loopback(__u32 family, const __u32 a[4])
{
	if (family == AF_INET)
		return (bpf_ntohl(a[0]) >> 24) == 127;
	return a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == bpf_htonl(1);
}

/*
 * Would the kernel reuse this TIME_WAIT tuple for a socket whose port it
 * picks itself (tcp_twsk_unique() with a TIME_WAIT pointer)? A placed socket
 * follows that rule, not the looser one the kernel applies to a socket
 * with a bound port (which is what bpf_bind() makes it): the application
 * asked for an ephemeral port, so net.ipv4.tcp_tw_reuse decides.
 */
static __always_inline bool ps_tw_reusable(struct bpf_sock *sk, const struct ps_tuple *t)
{
	struct tcp_timewait_sock *tw = bpf_skc_to_tcp_timewait_sock(sk);
	struct net *net;
	int reuse;

	if (!tw || !tw->tw_ts_recent_stamp)
		return false; /* no timestamps: nothing protects the new connection */
	net = tw->tw_sk.__tw_common.skc_net.net;
	reuse = BPF_CORE_READ(net, ipv4.sysctl_tcp_tw_reuse);
	if (tw->tw_sk.tw_substate == TCP_FIN_WAIT2)
		reuse = 0;
	if (reuse == 2) /* loopback only: an address of the tuple, or a socket bound to lo */
		reuse = ps_addr_loopback(t->family, t->laddr) || ps_addr_loopback(t->family, t->raddr) ||
			tw->tw_sk.__tw_common.skc_bound_dev_if == LOOPBACK_IFINDEX;
	if (!reuse)
		return false;
	if (bpf_core_field_exists(tw->tw_sk.tw_entry_stamp) &&
	    bpf_core_field_exists(net->ipv4.sysctl_tcp_tw_reuse_delay)) {
		/* 6.14+: the entry must be tcp_tw_reuse_delay ms old (tcp_clock_ms()). */
		__u32 now_ms = bpf_ktime_get_ns() / 1000000;
		__u32 due = tw->tw_sk.tw_entry_stamp + BPF_CORE_READ(net, ipv4.sysctl_tcp_tw_reuse_delay);

		return (__s32)(now_ms - due) > 0;
	}
	/* Before 6.14: the last timestamp must be over a second old (ktime_get_seconds()). */
	return (__s32)((__u32)(bpf_ktime_get_ns() / 1000000000) - (__u32)tw->tw_ts_recent_stamp) > 0;
}

enum ps_kernel_view {
	PS_KERNEL_FREE,      /* the kernel has no socket on the tuple */
	PS_KERNEL_HELD,      /* it has one: skip the tuple */
	PS_KERNEL_TW_REUSE,  /* a TIME_WAIT entry the kernel would reuse */
};

/* Does the kernel already have a socket on this tuple (TIME_WAIT included)? */
static __always_inline enum ps_kernel_view ps_kernel_view(struct bpf_sock_addr *ctx, const struct ps_tuple *t)
{
	/* The lookup tuple is oriented as an incoming packet would be. */
	struct bpf_sock_tuple lk = {};
	enum ps_kernel_view view = PS_KERNEL_HELD;
	struct bpf_sock *sk;
	__u32 len;

	if (t->family == AF_INET) {
		lk.ipv4.saddr = t->raddr[0];
		lk.ipv4.daddr = t->laddr[0];
		lk.ipv4.sport = bpf_htons(t->rport);
		lk.ipv4.dport = bpf_htons(t->lport);
		len = sizeof(lk.ipv4);
	} else {
		__builtin_memcpy(lk.ipv6.saddr, t->raddr, 16);
		__builtin_memcpy(lk.ipv6.daddr, t->laddr, 16);
		lk.ipv6.sport = bpf_htons(t->rport);
		lk.ipv6.dport = bpf_htons(t->lport);
		len = sizeof(lk.ipv6);
	}
	/*
	 * Two calls that each release their own result: the verifier refuses
	 * one load instruction for the socket and the sock_common pointer.
	 */
	if (t->proto != IPPROTO_TCP) {
		sk = bpf_sk_lookup_udp(ctx, &lk, len, BPF_F_CURRENT_NETNS, 0);
		if (!sk)
			return PS_KERNEL_FREE;
		bpf_sk_release(sk);
		return PS_KERNEL_HELD;
	}
	/* skc_ (not sk_) so that TIME_WAIT and request sockets count too. */
	sk = bpf_skc_lookup_tcp(ctx, &lk, len, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return PS_KERNEL_FREE;
	if (sk->state == BPF_TCP_TIME_WAIT && ps_tw_reusable(sk, t))
		view = PS_KERNEL_TW_REUSE;
	bpf_sk_release(sk);
	return view;
}

#endif
