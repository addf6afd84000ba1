#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make demo: two hosts share one egress address, each with its own slice of
# its ports, talking to one server -- all inside network namespaces this
# script creates and removes.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/lib.sh"
trap cleanup EXIT
trap "exit 130" INT TERM

source "$ROOT/tests/demo-lib.sh"

[ "$(id -u)" = 0 ] || { echo "make demo needs root (namespaces, cgroups, BPF)" >&2; exit 1; }
ensure_bpffs

SHARED=198.18.0.10
SERVER=198.18.100.1

say "1. The world: a server, and two hosts (host-a, host-b) that share the egress address $SHARED"
ORIGIN=$(ns_create origin)
HA=$(ns_create host-a)
HB=$(ns_create host-b)
ip netns exec "$ORIGIN" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
ip link add "$TAG-a" netns "$ORIGIN" type veth peer name eth0 netns "$HA"
ip link add "$TAG-b" netns "$ORIGIN" type veth peer name eth0 netns "$HB"
ip -n "$ORIGIN" addr add 198.18.10.254/24 dev "$TAG-a"
ip -n "$ORIGIN" addr add 198.18.11.254/24 dev "$TAG-b"
ip -n "$ORIGIN" addr add $SERVER/32 dev lo
ip -n "$ORIGIN" link set "$TAG-a" up
ip -n "$ORIGIN" link set "$TAG-b" up
for h in a b; do
	ns=$HA; net=10
	[ $h = b ] && { ns=$HB; net=11; }
	ip -n "$ns" addr add 198.18.$net.1/24 dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" addr add $SHARED/32 dev lo
	ip -n "$ns" route add default via 198.18.$net.254
done
# The "load balancer": replies for the shared address go to the host that
# owns the destination port (the job portslice's XDP steering does too).
ip -n "$ORIGIN" route add $SHARED/32 via 198.18.10.1
ip -n "$ORIGIN" route add $SHARED/32 via 198.18.11.1 table 102
ip -n "$ORIGIN" rule add to $SHARED/32 ipproto tcp dport 21000-21999 table 102
ip -n "$ORIGIN" rule add to $SHARED/32 ipproto udp dport 21000-21999 table 102
echo "  server $SERVER (namespace origin); host-a 198.18.10.1, host-b 198.18.11.1;"
echo "  both hosts also carry $SHARED, and the router sends replies by destination port."

CONF=$TMPD/fleet.yaml
cat > "$CONF" <<YAML
pools:
  - name: web
    address: $SHARED
    slices:
      host-a: 20000-20099
      host-b: 21000-21099
YAML
say "2. One fleet config for every host"
sed 's/^/    /' "$CONF"

say "3. Each host attaches portslice to the cgroup of its application"
CGA=$(cg_create app-a)
CGB=$(cg_create app-b)
# Two hosts on one machine: each keeps its own pins, as real hosts would.
PORTSLICE_PIN_DIR=/sys/fs/bpf/$TAG-a run "$PS" attach --cgroup "$CGA" --config "$CONF" --host host-a
PORTSLICE_PIN_DIR=/sys/fs/bpf/$TAG-b run "$PS" attach --cgroup "$CGB" --config "$CONF" --host host-b

bg ip netns exec "$ORIGIN" "$PSNET" serve --tcp $SERVER:80 --udp $SERVER:53 > "$TMPD/srv.out" 2>&1
wait_ready "$TMPD/srv.out"

say "4. Unmodified clients in those cgroups: 4 TCP connections and 2 UDP flows from each host"
for h in a b; do
	ns=$HA cg=$CGA
	[ $h = b ] && { ns=$HB; cg=$CGB; }
	echo "  host-$h:"
	in_cg "$cg" "$ns" "$PSNET" connect --proto tcp --to $SERVER:80 --count 4 --echo | sed 's/^/    /'
	in_cg "$cg" "$ns" "$PSNET" connect --proto udp --to $SERVER:53 --count 2 --echo | sed 's/^/    /'
done

say "5. A process of host-a outside the cgroup keeps the host's own address and ports"
in_ns "$HA" "$PSNET" connect --proto tcp --to $SERVER:80 --count 2 --echo | sed 's/^/    /'

say "6. What the server sees while host-a holds 50 connections (kernel's view, ss)"
NS=$HA CG=$CGA hold_start held 50 --proto tcp --to $SERVER:80 --count 50
ip netns exec "$ORIGIN" ss -Htn state established "( sport = :80 )" | awk '{print $4}' |
	awk -F: '{ p = $2; s = (p >= 21000) ? "host-b" : "host-a"; n[s]++ } END { for (k in n) printf "    %d connections from %s:PORT in %s slice\n", n[k], "'$SHARED'", k }'

say "7. How full host-a's slice is"
PORTSLICE_PIN_DIR=/sys/fs/bpf/$TAG-a run "$PS" status
NS=$HA hold_stop held

say "8. Detach: host-a's new connections use the kernel's own ports again"
PORTSLICE_PIN_DIR=/sys/fs/bpf/$TAG-a run "$PS" detach --cgroup "$CGA"
in_cg "$CGA" "$HA" "$PSNET" connect --proto tcp --to $SERVER:80 --count 2 --echo | sed 's/^/    /'
PORTSLICE_PIN_DIR=/sys/fs/bpf/$TAG-b "$PS" detach --all >/dev/null

say "Done: namespaces, cgroups and pins are removed on exit."
