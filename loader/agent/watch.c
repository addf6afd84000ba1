// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/inotify.h>

#include "agent/watch.h"

int ps_agent_watch_open(struct ps_agent_watch *w, const char *config, struct ps_error *error)
{
	char *slash;

	/* The directory the path names, not the symlink's target: ConfigMaps swap those. */
	snprintf(w->dir, sizeof(w->dir), "%s", config);
	slash = strrchr(w->dir, '/');
	snprintf(w->base, sizeof(w->base), "%s", slash ? slash + 1 : config);
	if (!slash)
		snprintf(w->dir, sizeof(w->dir), ".");
	else if (slash == w->dir)
		w->dir[1] = '\0';
	else
		*slash = '\0';
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0)
		return ps_fail(error, errno, "inotify: %s", strerror(errno));
	if (inotify_add_watch(w->fd, w->dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB |
						     IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
		ps_agent_watch_close(w);
		return ps_fail(error, errno, "cannot watch %s: %s", w->dir, strerror(errno));
	}
	return w->fd;
}

bool ps_agent_watch_changed(struct ps_agent_watch *w, bool *dir_gone)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool hit = false;
	ssize_t n;

	while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
				*dir_gone = true;
			if (ev->len && (!strcmp(ev->name, w->base) || !strcmp(ev->name, "..data")))
				hit = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return hit;
}

void ps_agent_watch_close(struct ps_agent_watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}
