#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make demo-steer: three hosts share one egress address; a router in front
# of them spreads the replies over the three at random (ECMP), and
# portslice's XDP steering hands every reply to the host that owns its
# port -- all inside network namespaces this script creates and removes.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/lib.sh"
# The topology and helpers of the end-to-end test (topo_net, attach_host...).
source "$ROOT/tests/steer/test_e2e.sh"
trap cleanup EXIT

source "$ROOT/tests/demo-lib.sh"
# on HOST CMD...: run CMD as host HOST would (its namespace, its own pins).
on() {
	local h=$1
	shift
	printf '  host-%s$ %s\n' "$h" "$*"
	PORTSLICE_PIN_DIR=$(hpin $h) in_net "$(hns $h)" "$@" 2>&1 | sed 's/^/    /'
}
# summary FILE...: "N ok, N failed" over psnet connect outputs.
summary() {
	cat "$@" | awk '/result=ok/ { ok++ } /result=/ && !/result=ok/ { bad++ }
		END { printf "%d ok, %d failed\n", ok, bad }'
}

[ "$(id -u)" = 0 ] || { echo "make demo-steer needs root (namespaces, cgroups, BPF)" >&2; exit 1; }
command -v ethtool >/dev/null || { echo "make demo-steer needs ethtool (apt-get install ethtool)" >&2; exit 1; }

say "1. The world: a server, a router, and three hosts that share the egress address $E2E_POOL4"
topo_net l2 4
echo "  server $E2E_SRV4 (namespace origin) -- router -- one segment 198.18.10.0/24 with"
echo "  host-a 198.18.10.1, host-b 198.18.10.2, host-c 198.18.10.3; each host carries $E2E_POOL4 on lo."
echo "  The router's route back to $E2E_POOL4 has three next hops, chosen by a hash of"
echo "  addresses and ports (ECMP, layer 4): the reply to a connection lands on any of the"
echo "  three hosts, whichever one opened it."
run ip -n "$ROUTER" route show $E2E_POOL4

say "2. One fleet config: a slice of ports per host, the hosts' addresses, the steering mode"
write_conf l2 4
sed 's/^/    /' "$CONF"

say "3. Each host attaches portslice to the cgroup of its application (ports from its slice)"
for h in $E2E_HOSTS; do
	eval "CG$h=\$(cg_create host-$h)"
	eval "cg=\$CG$h"
	on $h "$PS" attach --cgroup "$cg" --config "$CONF" --host host-$h
done
start_server

say "4. Without steering: 9 TCP connections from host-a's application"
echo "  Replies that land on host-b or host-c find no socket there: their kernels answer"
echo "  with a reset and the connection never opens (each waits 0.5 s here)."
in_cg "$CGa" "$(hns a)" "$PSNET" connect --proto tcp --to $E2E_SRV4:8080-8083 --count 9 --echo \
	--connect-timeout 0.5 --timeout 0.5 --allow-fail > "$TMPD/before.out" 2>/dev/null
sed 's/^/    /' "$TMPD/before.out"
echo "  => $(summary "$TMPD/before.out")"

say "5. Each host attaches steering to its uplink (XDP on eth0)"
for h in $E2E_HOSTS; do
	on $h "$PS" steer attach --dev eth0 --config "$CONF" --host host-$h
done
wait_neigh 4
echo "  A reply for a port of this host's slice is passed up; a reply for another host's"
echo "  port gets that host's MAC address and goes straight back out to it."

say "6. With steering: the same 9 connections from host-a"
in_cg "$CGa" "$(hns a)" "$PSNET" connect --proto tcp --to $E2E_SRV4:8080-8083 --count 9 --echo \
	> "$TMPD/after.out" 2>/dev/null
sed 's/^/    /' "$TMPD/after.out"
echo "  => $(summary "$TMPD/after.out")"

say "7. All three hosts at once: 300 TCP connections and 100 UDP flows each, every echo checked"
for h in $E2E_HOSTS; do clients $h 300 100; done
for h in $E2E_HOSTS; do
	clients_wait $h
	echo "  host-$h: $(summary "$TMPD"/c-$h-*.out)"
done

say "8. What each host's steering did (portslice status)"
echo "  passed_own: replies for this host's ports, from the router or handed over by another"
echo "  host; forwarded: replies this host handed to their owner; forwarded to: per owner."
for h in $E2E_HOSTS; do
	on $h "$PS" status
	echo
done
own=0 fwd=0 drop=0
load_status $E2E_HOSTS
for h in $E2E_HOSTS; do
	own=$((own + $(steer_counter $h passed_own)))
	fwd=$((fwd + $(steer_counter $h forwarded)))
	drop=$((drop + $(steer_drops $h)))
done
# A forwarded reply is counted twice: forwarded where it landed, passed_own at its owner.
echo "  In all: $((own + drop)) replies came from the router; $fwd of them ($((fwd * 100 / (own + drop)))%) landed"
echo "  on a host that did not own their port and were handed over; $drop were dropped."

say "Done: namespaces, cgroups, pins and XDP programs are removed on exit."
