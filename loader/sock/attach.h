/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Attaching and detaching one cgroup, shared by the attach/detach commands
 * and the agent. The caller holds the state lock (ps_state_lock()).
 */
#ifndef PS_SOCK_ATTACH_H
#define PS_SOCK_ATTACH_H

#include "core/error.h"

#include <stdbool.h>

#include "core/env.h"
#include "sock/slots.h"
#include "portslice.h"

/*
 * Loads the programs for @sel's pools and attaches them to @cg (open), or
 * refreshes/swaps an existing attachment in place. Idempotent; all or
 * nothing. *verb says what happened ("attached"; "updated": other pools;
 * "upgraded": the same pools, programs of another build replaced; "already
 * attached, pools refreshed:"). Programs of another build than this
 * binary's are always replaced, in place (bpf_link_update): then @replaced
 * (may be NULL) gets their build id ("none": they had none), else "".
 */
int ps_attach_locked(const struct ps_cgroup *cg, const struct ps_selection *sel, const char **verb,
		     char replaced[PS_BUILD_ID_LEN], struct ps_error *error);

/* What a detach did. */
struct ps_detached {
	bool removed_all;  /* no cgroup was left: every pin of the socket side went */
	bool was_draining; /* the attachment had been detached before and still drained */
	__u64 draining;    /* its sockets that still hold claims (0: it is gone) */
};

/*
 * Detaches the cgroup with this id: its placement links go at once; its
 * release programs and entry stay while its sockets hold claims (it
 * drains), then go. Drained attachments of other cgroups are removed too,
 * and when no cgroup is attached any more, every pin. @out may be NULL.
 */
int ps_detach_id_locked(__u64 cgroup_id, struct ps_detached *out, struct ps_error *error);

#endif
