// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "sock/sockdiag.h"
#include "sock/tw_view.h"

/* Namespaces read at the most, and how deep below an attached cgroup processes are looked for. */
#define TW_MAX_NETNS 64
#define TW_MAX_DEPTH 16

struct netns_set {
	struct {
		dev_t dev;
		ino_t ino;
		int fd; /* -1: the current one, read without setns() */
	} ns[TW_MAX_NETNS];
	size_t n;
};

/* Adds the namespace of @fd unless known; takes @fd either way. */
static void add_netns(struct netns_set *s, int fd, bool current)
{
	struct stat st;

	if (fd < 0)
		return;
	if (fstat(fd, &st) || s->n == TW_MAX_NETNS)
		goto drop;
	for (size_t i = 0; i < s->n; i++)
		if (s->ns[i].dev == st.st_dev && s->ns[i].ino == st.st_ino)
			goto drop;
	s->ns[s->n].dev = st.st_dev;
	s->ns[s->n].ino = st.st_ino;
	s->ns[s->n++].fd = current ? -1 : fd;
	if (!current)
		return;
drop:
	close(fd);
}

/* The network namespaces of the processes in @dir and below. */
static void walk_cgroup(struct netns_set *s, const char *dir, int depth)
{
	char path[PATH_MAX], line[32];
	struct dirent *de;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "r");
	while (f && s->n < TW_MAX_NETNS && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		snprintf(path, sizeof(path), "/proc/%s/ns/net", line);
		add_netns(s, open(path, O_RDONLY | O_CLOEXEC), false);
	}
	if (f)
		fclose(f);
	if (depth >= TW_MAX_DEPTH || !(d = opendir(dir)))
		return;
	while ((de = readdir(d)) && s->n < TW_MAX_NETNS) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < (int)sizeof(path))
			walk_cgroup(s, path, depth + 1);
	}
	closedir(d);
}

struct scan {
	const struct ps_pool *pools;
	ps_tw_cb cb;
	void *arg;
};

static int on_sock(const struct ps_sockinfo *si, void *arg)
{
	const struct scan *sc = arg;

	if (si->state != TCP_TIME_WAIT)
		return 0;
	for (__u32 s = 0; s < PS_MAX_POOLS; s++) {
		const struct ps_pool *p = &sc->pools[s];
		struct ps_tw_tuple t = { .slot = s, .lport = si->lport, .rport = si->rport };

		if (!(p->flags & PS_POOL_ACTIVE) || p->family != si->family ||
		    memcmp(p->addr, si->laddr, sizeof(p->addr)) || si->lport < p->port_lo || si->lport > p->port_hi)
			continue;
		memcpy(t.raddr, si->raddr, sizeof(t.raddr));
		return sc->cb(&t, sc->arg);
	}
	return 0;
}

int ps_tw_scan(const struct ps_pool pools[PS_MAX_POOLS], const struct ps_tw_where *w, ps_tw_cb cb, void *arg,
	       unsigned int *n_read)
{
	struct scan sc = { .pools = pools, .cb = cb, .arg = arg };
	struct netns_set s = { .n = 0 };
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), err = 0;

	*n_read = 0;
	if (self < 0)
		return -errno;
	add_netns(&s, dup(self), true);
	for (size_t i = 0; i < w->n_netns && !err; i++) {
		int fd = open(w->netns[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			err = -errno;
		add_netns(&s, fd, false);
	}
	for (size_t i = 0; i < w->n_cgroups; i++)
		walk_cgroup(&s, w->cgroups[i], 0);
	for (size_t i = 0; i < s.n && !err; i++) {
		/* setns() moves this thread only: the agent's other threads stay where they are. */
		if (s.ns[i].fd >= 0 && setns(s.ns[i].fd, CLONE_NEWNET))
			continue; /* gone meanwhile */
		err = ps_sockdiag_dump(AF_INET, IPPROTO_TCP, on_sock, &sc);
		if (!err)
			err = ps_sockdiag_dump(AF_INET6, IPPROTO_TCP, on_sock, &sc);
		if (s.ns[i].fd >= 0 && setns(self, CLONE_NEWNET) && !err)
			err = -errno;
		*n_read += 1;
	}
	for (size_t i = 0; i < s.n; i++)
		if (s.ns[i].fd >= 0)
			close(s.ns[i].fd);
	close(self);
	return err;
}
