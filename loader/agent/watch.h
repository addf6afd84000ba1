/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Noticing that the agent's config file changed: inotify on the directory
 * its path names, not on the file, since editors and Kubernetes ConfigMaps
 * replace the file by a rename (a ConfigMap swaps its ..data symlink).
 */
#ifndef PS_AGENT_WATCH_H
#define PS_AGENT_WATCH_H

#include <limits.h>
#include <stdbool.h>

#include "core/error.h"

struct ps_agent_watch {
	char dir[PATH_MAX];         /* the config's directory, watched */
	char base[NAME_MAX + 1];    /* the config's file name */
	int fd;                     /* the inotify instance, -1 when not watching */
};

/* Starts watching the directory of @config. Returns the fd, or a negative errno with @error filled. */
int ps_agent_watch_open(struct ps_agent_watch *w, const char *config, struct ps_error *error);

/*
 * Reads the pending events: true when they concern the config file. Sets
 * *@dir_gone when the directory itself went away (nothing more will come).
 */
bool ps_agent_watch_changed(struct ps_agent_watch *w, bool *dir_gone);

void ps_agent_watch_close(struct ps_agent_watch *w);

#endif
