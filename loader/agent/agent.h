/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * portslice agent: the command (ps_cmd_agent, in main.c's table). Its
 * parts: agent/load (the config, checked whole), agent/reconcile (the pins
 * made what it asks for), agent/watch (noticing it changed).
 */
#ifndef PS_AGENT_AGENT_H
#define PS_AGENT_AGENT_H

#include "core/cli.h"

extern const struct ps_cmd ps_cmd_agent;

#endif
