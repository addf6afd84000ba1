/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Attaching and detaching one cgroup, shared by the attach/detach commands
 * and the agent. The caller holds the state lock (ps_state_lock()).
 */
#ifndef PS_ATTACH_H
#define PS_ATTACH_H

#include <stdbool.h>

#include "env.h"
#include "pools.h"

/*
 * Loads the programs for @sel's pools and attaches them to @cg (open), or
 * refreshes/swaps an existing attachment in place. Idempotent; all or
 * nothing. *verb says what happened ("attached", "updated", "already
 * attached, pools refreshed:").
 */
int ps_attach_locked(const struct ps_cgroup *cg, const struct ps_selection *sel, const char **verb);

/*
 * Detaches the cgroup with this id (its links are unpinned, its entry
 * dropped) and, when no cgroup is attached any more, removes every pin.
 * *removed_all (may be NULL) says whether that happened.
 */
int ps_detach_id_locked(__u64 cgroup_id, bool *removed_all);

#endif
