#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The leasing engine at fleet scale, without BPF (docs/fleet.md, "Scale"):
# a three-member etcd cluster of Debian's etcd-server in namespaces
# (tests/lib.sh), and pslease_sim fleet with AGENTS agents on a few threads
# in a namespace of its own. 10% of them die (no keepalive, no revoke)
# after KILL_AT_MS; the run ends when their blocks are free again.
#
#   bench/fleet-sim.sh [AGENTS] [pslease_sim fleet options...]
#   FLEET_TTL=10 FLEET_TIME_WAIT=60 FLEET_QUARANTINE=65 KILL_AT_MS=30000 bench/fleet-sim.sh 1000
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
[ "$(id -u)" = 0 ] || { echo "fleet-sim: run as root (namespaces)" >&2; exit 1; }
source tests/lib.sh
trap cleanup EXIT
SIM=$ROOT/${OUTPUT:-build}/tests/pslease_sim
[ -x "$SIM" ] || { echo "fleet-sim: build $SIM first (make ${OUTPUT:-build}/tests/pslease_sim)" >&2; exit 1; }
AGENTS=${1:-1000}
shift || true

etcd_cluster_start 3 --quota-backend-bytes $((2 * 1024 * 1024 * 1024))
SIMNS=$(etcd_client_ns sim 10)
metrics= pids=
for i in 1 2 3; do
	metrics+="${metrics:+,}http://$ETCD_NET.$i:2381/metrics"
	pids+="${pids:+,}${ETCD_PID[$i]}"
done
echo "etcd $(etcd --version | sed -n 's/etcd Version: //p'), 3 members; $(nproc) cores"
ip netns exec "$SIMNS" "$SIM" fleet --endpoints "$ETCD_ENDPOINTS" --prefix /fleetsim \
	--agents "$AGENTS" --threads "${FLEET_THREADS:-8}" --ramp-ms "${FLEET_RAMP_MS:-10000}" --pool "${FLEET_POOL:-web:1024-65535:32:1:4}" \
	--ttl "${FLEET_TTL:-10}" --time-wait "${FLEET_TIME_WAIT:-60}" --quarantine "${FLEET_QUARANTINE:-65}" \
	--tick-ms "${FLEET_TICK_MS:-1000}" --quiet-ms "${FLEET_QUIET_MS:-5000}" \
	--sweep-ms "$((AGENTS * 500))" --kill-at-ms "${KILL_AT_MS:-30000}" --kill-pct 10 \
	--metrics "$metrics" --etcd-pids "$pids" --timeout-ms 3000 "$@"
