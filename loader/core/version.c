// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "core/version.h"

#ifndef PS_GIT_COMMIT
#define PS_GIT_COMMIT "unknown"
#endif

const char ps_git_commit[] = PS_GIT_COMMIT;
