// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A fake etcd member on loopback (fake_etcd.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "fake_etcd.h"

static void send_all(int fd, const char *s)
{
	/* Loopback, a few hundred bytes: one send; a short one shows as the client's parse error. */
	if (send(fd, s, strlen(s), MSG_NOSIGNAL) != (ssize_t)strlen(s))
		perror("fake etcd: send");
}

/* One read of a connection: a request is answered as the kind says; false when it closed. */
static bool serve(struct fake_etcd *f, int fd)
{
	static const char table[] = "{\"header\":{\"revision\":\"7\"}}";
	static const char created[] = "{\"result\":{\"header\":{\"revision\":\"7\"},\"created\":true}}\n";
	char req[4096], head[256];
	ssize_t n = recv(fd, req, sizeof(req) - 1, 0);

	if (n <= 0)
		return false;
	req[n] = '\0';
	/* The rest of a request (its body) is no request. */
	if (f->kind == FAKE_HUNG || strncmp(req, "POST ", 5))
		return true;
	if (strstr(req, "/v3/watch")) {
		send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
		snprintf(head, sizeof(head), "%zx\r\n", strlen(created));
		send_all(fd, head);
		send_all(fd, created);
		send_all(fd, "\r\n");
		return true;
	}
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
		 strlen(table));
	send_all(fd, head);
	send_all(fd, table);
	return true;
}

static void *run(void *arg)
{
	struct fake_etcd *f = arg;

	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		if (poll(f->fds, f->n, 50) <= 0)
			continue;
		for (nfds_t i = f->n; i-- > 1;) {
			if (!f->fds[i].revents || serve(f, f->fds[i].fd))
				continue;
			close(f->fds[i].fd);
			f->fds[i] = f->fds[--f->n];
		}
		if ((f->fds[0].revents & POLLIN) && f->n < 1 + FAKE_ETCD_MAX_CONNS) {
			int fd = accept(f->fds[0].fd, NULL, NULL);

			if (fd >= 0)
				f->fds[f->n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
		}
	}
	return NULL;
}

int fake_etcd_start(struct fake_etcd *f, enum fake_etcd_kind kind)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd, err;

	memset(f, 0, sizeof(*f));
	f->kind = kind;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 8) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		err = errno;
		perror("fake etcd: listening on 127.0.0.1");
		if (fd >= 0)
			close(fd);
		return -err;
	}
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", ntohs(a.sin_port));
	f->fds[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
	f->n = 1;
	err = pthread_create(&f->thread, NULL, run, f);
	if (err) {
		fprintf(stderr, "fake etcd: cannot start its thread: %s\n", strerror(err));
		close(fd);
		return -err;
	}
	return 0;
}

void fake_etcd_stop(struct fake_etcd *f)
{
	__atomic_store_n(&f->stop, true, __ATOMIC_RELEASE);
	pthread_join(f->thread, NULL);
	for (nfds_t i = 0; i < f->n; i++)
		close(f->fds[i].fd);
}
