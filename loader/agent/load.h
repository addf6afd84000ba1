/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The agent's config: read and checked whole before anything is applied. */
#ifndef PS_AGENT_LOAD_H
#define PS_AGENT_LOAD_H

#include <stddef.h>

#include "core/config.h"
#include "core/error.h"

/* The bytes of @path (malloc'd) and their count in *@len; NULL when unreadable. */
char *ps_agent_read_file(const char *path, size_t *len);

/*
 * Loads @path into @cfg, and its bytes into *@content (to tell a real change
 * from a rewrite of the same bytes), once root alone may write it, it parses,
 * it lists cgroups or steering interfaces and every cgroup's pools have a
 * slice for @host. On error nothing is kept and @error names file, line and
 * field.
 */
int ps_agent_load_config(const char *path, const char *host, struct ps_config *cfg, char **content, size_t *len,
			 struct ps_error *error);

#endif
