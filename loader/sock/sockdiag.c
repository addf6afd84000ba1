// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "sock/sockdiag.h"

/*
 * The kernel builds each part of a dump in one skb of at most 32 KiB (it
 * sizes later parts after the largest buffer recvmsg() was given, capped
 * there), so a 64 KiB buffer takes any part whole: one syscall per part,
 * never MSG_TRUNC.
 */
#define SOCKDIAG_BUF_SIZE (64 * 1024)

/*
 * The kernel only builds the next part while the queue holds less than half
 * of SO_RCVBUF; a generous buffer means it never stalls or fails for room.
 */
#define SOCKDIAG_RCVBUF (1024 * 1024)

/* All states, so TIME_WAIT, request and bound-only sockets come too. */
#define SOCKDIAG_ALL_STATES 0xffffffffU

static int sockdiag_open(void)
{
	int one = 1, rcvbuf = SOCKDIAG_RCVBUF;
	int fd, err;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	/* FORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	/* Errors carry only the failed header, not our whole request back. */
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	/* Without an explicit bind the port id would be assigned lazily. */
	if (bind(fd, (struct sockaddr *)&(struct sockaddr_nl){ .nl_family = AF_NETLINK },
		 sizeof(struct sockaddr_nl))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int sockdiag_send(int fd, int family, int proto, uint32_t seq)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = {
			.nlmsg_len = sizeof(msg),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = seq,
		},
		.req = {
			.sdiag_family = family,
			.sdiag_protocol = proto,
			.idiag_states = SOCKDIAG_ALL_STATES,
		},
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	ssize_t n;

	do {
		n = sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(msg))
		return -EIO;
	return 0;
}

static void sockdiag_convert(const struct inet_diag_msg *m, int proto, struct ps_sockinfo *si)
{
	memset(si, 0, sizeof(*si));
	si->family = m->idiag_family;
	si->proto = proto;
	si->state = m->idiag_state;
	/* Take only the v4 word so the rest is zero, as callers compare 16 bytes. */
	if (m->idiag_family == AF_INET) {
		memcpy(si->laddr, m->id.idiag_src, 4);
		memcpy(si->raddr, m->id.idiag_dst, 4);
	} else {
		memcpy(si->laddr, m->id.idiag_src, 16);
		memcpy(si->raddr, m->id.idiag_dst, 16);
	}
	si->lport = ntohs(m->id.idiag_sport);
	si->rport = ntohs(m->id.idiag_dport);
	si->cookie = (uint64_t)m->id.idiag_cookie[1] << 32 | m->id.idiag_cookie[0];
	si->inode = m->idiag_inode;
}

/*
 * Walks one datagram of the reply, setting *done once the dump is complete.
 * Returns 0, the callback's non-zero value, or -errno.
 */
static int sockdiag_parse(const void *buf, size_t len, uint32_t seq, int proto,
			  ps_sockdiag_cb cb, void *arg, bool *done)
{
	const struct nlmsghdr *nlh;
	struct ps_sockinfo si;
	int ret;

	for (nlh = buf; NLMSG_OK(nlh, len); nlh = NLMSG_NEXT(nlh, len)) {
		/* A fresh socket sees only its own request's answer; be strict anyway. */
		if (nlh->nlmsg_seq != seq)
			continue;

		switch (nlh->nlmsg_type) {
		case NLMSG_DONE:
			/* The payload carries the dump's final status, if any. */
			if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
				int status;

				memcpy(&status, NLMSG_DATA(nlh), sizeof(status));
				if (status < 0)
					return status;
			}
			*done = true;
			return 0;
		case NLMSG_ERROR: {
			const struct nlmsgerr *e = NLMSG_DATA(nlh);

			if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				return -EBADMSG;
			/* 0 is an ack, which a dump does not send: treat as the end. */
			*done = true;
			return e->error;
		}
		case SOCK_DIAG_BY_FAMILY:
			if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
				return -EBADMSG;
			sockdiag_convert(NLMSG_DATA(nlh), proto, &si);
			ret = cb(&si, arg);
			if (ret)
				return ret;
			break;
		default:
			/* NLMSG_NOOP and anything newer carry no socket. */
			break;
		}
	}
	/* Leftover bytes mean a message claimed more than the datagram held. */
	return len ? -EBADMSG : 0;
}

int ps_sockdiag_dump(int family, int proto, ps_sockdiag_cb cb, void *arg)
{
	static uint32_t seq_counter;
	struct sockaddr_nl from;
	struct iovec iov;
	struct msghdr mh = {
		.msg_name = &from,
		.msg_namelen = sizeof(from),
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	bool done = false;
	uint32_t seq;
	ssize_t n;
	void *buf;
	int fd, ret;

	if ((family != AF_INET && family != AF_INET6) ||
	    (proto != IPPROTO_TCP && proto != IPPROTO_UDP) || !cb)
		return -EINVAL;

	buf = malloc(SOCKDIAG_BUF_SIZE);
	if (!buf)
		return -ENOMEM;
	fd = sockdiag_open();
	if (fd < 0) {
		free(buf);
		return fd;
	}
	seq = __atomic_add_fetch(&seq_counter, 1, __ATOMIC_RELAXED) ^ (uint32_t)getpid() << 16;

	ret = sockdiag_send(fd, family, proto, seq);
	while (!ret && !done) {
		iov.iov_base = buf;
		iov.iov_len = SOCKDIAG_BUF_SIZE;
		mh.msg_namelen = sizeof(from);
		mh.msg_flags = 0;
		n = recvmsg(fd, &mh, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (n == 0) {
			ret = -ENODATA;
			break;
		}
		if (mh.msg_flags & MSG_TRUNC) {
			ret = -EMSGSIZE;
			break;
		}
		/* Only the kernel (port id 0) answers; ignore anyone else. */
		if (mh.msg_namelen < sizeof(from) || from.nl_pid != 0)
			continue;
		ret = sockdiag_parse(buf, n, seq, proto, cb, arg, &done);
	}
	/* Closing mid-dump is how a dump is aborted: the kernel drops the rest. */
	close(fd);
	free(buf);
	return ret;
}
