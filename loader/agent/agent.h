/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the agent (loader/agent.c) shares with doctor. */
#ifndef PS_AGENT_H
#define PS_AGENT_H

#include "core/error.h"

/*
 * 0 if root owns, and only root may write, the config file @file and every
 * directory on its path, each symlink on the way and what it points to (a
 * sticky directory such as /tmp may be writable by others; what is on a
 * read-only mount passes); otherwise -EPERM with the reason and the fix
 * in @error. The agent refuses such a config.
 */
int ps_agent_check_config_perms(const char *file, struct ps_error *error);

#endif
