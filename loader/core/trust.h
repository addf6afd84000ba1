/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Whether a config file can be trusted: whoever may write it decides which
 * cgroups and ports portslice uses, so the agent refuses a file others may
 * change, and doctor warns about one.
 */
#ifndef PS_CORE_TRUST_H
#define PS_CORE_TRUST_H

#include "core/error.h"

/*
 * 0 if root owns, and only root may write, the config file @file and every
 * directory on its path, each symlink on the way and what it points to (a
 * sticky directory such as /tmp may be writable by others; what is on a
 * read-only mount passes); otherwise -EPERM with the reason and the fix
 * in @error.
 */
int ps_config_trusted(const char *file, struct ps_error *error);

#endif
