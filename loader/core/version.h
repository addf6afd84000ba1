/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What this binary is: its release (also debian/changelog's version, checked
 * by tests/deploy) and the git commit it was built from (the Makefile passes
 * PS_GIT_COMMIT to version.c alone, so a new commit relinks without
 * recompiling the rest). `portslice --version` and the portslice_build_info
 * metric print both, with the pin layout version.
 */
#ifndef PS_VERSION_H
#define PS_VERSION_H

#define PS_VERSION "0.1.0"

/* "0123456789ab", with "-dirty" when the tree had changes; "unknown" outside git. */
extern const char ps_git_commit[];

#endif
