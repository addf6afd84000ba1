/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the running kernel offers, probed by loading tiny programs (never
 * guessed from the version): the README's kernel table, row by row. attach,
 * steer attach and the agent check their part before loading anything, so
 * an old kernel gets "missing X (Linux N+), Y still works" instead of a
 * verifier log; doctor prints every row.
 */
#ifndef PS_KERNEL_FEATURES_H
#define PS_KERNEL_FEATURES_H

#include "core/error.h"

#include <stdbool.h>

/* The two halves of portslice, which need different kernel parts. */
enum ps_feature_part {
	PS_PART_SOCKETS = 1U << 0, /* cgroup programs: attach, agent cgroups */
	PS_PART_STEERING = 1U << 1, /* XDP program: steer attach, agent steering */
};

struct ps_feature {
	const char *name;     /* e.g. "bpf_loop" */
	const char *used_for; /* what portslice does with it */
	unsigned int major, minor; /* first mainline release with it */
	unsigned int parts;   /* enum ps_feature_part bits that need it */
};

/* Number of rows of the table; ps_feature_at(i) is row i. */
unsigned int ps_feature_count(void);
const struct ps_feature *ps_feature_at(unsigned int i);

/*
 * 1 if the kernel has row i, 0 if not. Probed once per process.
 * PORTSLICE_PROBE_HIDE=name[,name...] reports rows as missing, so the
 * old-kernel path can be exercised on a new kernel (tests, rehearsals).
 */
int ps_feature_probe(unsigned int i);
/* Whether PORTSLICE_PROBE_HIDE names row i. */
bool ps_feature_hidden(unsigned int i);

/*
 * 0 if everything @part needs is there. Otherwise prints, for @what (e.g.
 * "attach"), each missing row with the release that brings it and which
 * part of portslice still works on this kernel, and returns -EOPNOTSUPP.
 */
int ps_features_require(enum ps_feature_part part, const char *what, struct ps_error *error);

#endif
