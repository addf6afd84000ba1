/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the agent (loader/agent.c) shares with doctor. */
#ifndef PS_AGENT_H
#define PS_AGENT_H

/*
 * 0 if only root may write the config file @file and its directory @dir
 * (or they are on a read-only mount); otherwise -EPERM with the reason and
 * the fix recorded (ps_err). The agent refuses such a config.
 */
int ps_agent_check_config_perms(const char *file, const char *dir);

#endif
