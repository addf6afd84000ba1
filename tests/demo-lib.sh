# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Shared by the demos (make demo, demo-steer, demo-p2p), after tests/lib.sh:
# a heading, and a command shown before its indented output.
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() { printf '  $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/    /'; }
