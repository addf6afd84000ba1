#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make demo-fleet: dynamic slices, the leasing part (docs/fleet.md): three
# hosts lease blocks of one pool's ports from a three-member etcd cluster,
# grow, shrink and hand a dead host's block over after its quarantine --
# all inside network namespaces this script creates and removes. The hosts
# are the leasing engine alone (pslease_sim agent): the BPF side joins in
# the next phase. Times are short (TTL 3 s, quarantine 3 s) to fit a minute.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIM=$ROOT/${OUTPUT:-build}/tests/pslease_sim
# Checked before lib.sh makes the temporary directory.
[ "$(id -u)" = 0 ] || { echo "make demo-fleet needs root (namespaces)" >&2; exit 1; }
[ -x "$SIM" ] || { echo "no $SIM: make ${OUTPUT:-build}/tests/pslease_sim" >&2; exit 1; }
source "$ROOT/tests/lib.sh"
trap cleanup EXIT
trap "exit 130" INT TERM
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
ARGS=(--prefix /demo --ttl 3 --keepalive-ms 500 --fence-margin-ms 1000 --time-wait 1 --quarantine 3
	--tick-ms 100 --timeout-ms 400 --quiet-ms 2000 --sweep-ms 1000)
POOL=web:20000-20255:32:1:4

# table: the fleet's table as etcd has it (what `portslice leases` will print).
table() {
	in_ns "$CLI" "$SIM" table --endpoints "$ETCD_ENDPOINTS" --prefix /demo |
		jq -r '.pools[]?.blocks[] | "    block \(.block) (ports \(20000 + .block * 32)-\(20031 + .block * 32)): \(.host) \(.state)"'
}
host() {
	local ns
	ns=$(etcd_client_ns "$1" "$2")
	: > "$TMPD/$1.load"
	bg_in - "$ns" "$SIM" agent --endpoints "$ETCD_ENDPOINTS" --host "$1" --pool "$POOL" \
		--load-file "$TMPD/$1.load" "${ARGS[@]}" > "$TMPD/$1.out" 2>&1
	eval "PID_${1//-/_}=$BG_PID"
}

say "1. A three-member etcd cluster (Debian's etcd-server), each member in its own namespace"
etcd_cluster_start 3
CLI=$(etcd_client_ns cli 10)
etcdctl_in "$CLI" endpoint status -w table | sed 's/^/    /'

say "2. Three hosts start; pool web, ports 20000-20255 in 8 blocks of 32; min_blocks 1, max_blocks 4"
host host-a 11
host host-b 12
host host-c 13
sleep 2
table

say "3. host-a gets busy (100 ports to its busiest destination): it grows, one block a tick, to 4"
echo 100 > "$TMPD/host-a.load"
sleep 2
table

say "4. host-a goes quiet: after 2 s quiet a block drains (no new ports), then goes back, down to 1"
echo 0 > "$TMPD/host-a.load"
sleep 8
table

say "5. host-a and host-c both get busy (4 blocks each would be 8: the pool runs short), host-b dies (kill -9): its block stays its own until its lease expires"
echo 200 > "$TMPD/host-a.load"
echo 200 > "$TMPD/host-c.load"
sleep 1
{ kill -9 "$PID_host_b" && wait "$PID_host_b"; } 2>/dev/null
sleep 1
table
say "   ... then the lease expired (TTL 3 s): the block is an orphan, and once a host meets it, in quarantine (3 s here; TIME_WAIT + reuse_delay in earnest)"
sleep 2.5
table
say "   ... and after the quarantine a host that still wants one takes it"
sleep 5
table

say "6. What the hosts did"
for h in host-a host-b host-c; do
	printf '    %s: ' "$h"
	grep -c 'took pool' "$TMPD/$h.out" | tr '\n' ' '
	printf 'takes, %s drains, %s releases\n' "$(grep -c 'drains pool' "$TMPD/$h.out")" "$(grep -c 'released pool' "$TMPD/$h.out")"
done
