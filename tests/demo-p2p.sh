#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make demo-p2p: two peers meet through a rendezvous server and punch
# through to each other -- one on a fleet host behind a shared address, one
# behind a home NAT router -- all inside network namespaces this script
# creates and removes.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/lib.sh"
# The topology and helpers of the P2P test (p2p_topo, fleet_peer, site_peer...).
source "$ROOT/tests/p2p/test_p2p.sh"
trap cleanup EXIT

source "$ROOT/tests/demo-lib.sh"
show() { sed 's/^/    /' "$@"; }

[ "$(id -u)" = 0 ] || { echo "make demo-p2p needs root (namespaces, cgroups, BPF)" >&2; exit 1; }

say "1. The world"
p2p_topo
cat <<EOF
  Site A, a fleet: host-a and host-b share the public address $P2P_POOL. Their
  router spreads the packets for it over both hosts (ECMP): a packet can land on
  either host, whichever one it is for. portslice gives each host a slice of
  the ports (host-a 20000-20999, host-b 21000-21999) and steers each packet to
  the host that owns its port.
  Site B, a home: one peer (10.0.0.2) behind a NAT router that shows the world
  $P2P_NAT and, like most home routers, silently drops packets nobody asked for.
  In between, the "internet", with a rendezvous server at $P2P_RDV that tells
  each peer the address it sees it at.
EOF

say "2. The fleet config: one pool, marked p2p"
show "$CONF"
echo "  p2p: true lets an application listen on a port of its host's slice and dial"
echo "  out from that same port, as hole punching needs; reuse_delay defaults to 15 s."

say "3. TCP: both peers listen, say hello to the rendezvous server from their listen port, learn each other's address and dial each other at (almost) the same moment"
fleet_peer fleet 20001 --session demo-tcp
a=$BG_PID
site_peer site 40001 --session demo-tcp --delay 100
wait $a $BG_PID
echo "  The rendezvous server saw:"
show "$TMPD/rdv.out" | grep hello
echo "  host-a's peer (listening on 0.0.0.0:20001; portslice put it on $P2P_POOL):"
show "$TMPD/fleet.out"
echo "  site B's peer (listening on 0.0.0.0:40001):"
show "$TMPD/site.out"
cat <<EOF
  host-a's SYN reached the home router first and was dropped (nothing had gone out
  to host-a yet). Then site B's SYN went out, opening the router, and reached
  $P2P_POOL:20001 -- on whichever fleet host the router picked; host-b steers it to
  host-a -- where host-a's socket was waiting in SYN-SENT: the two SYNs crossed,
  both sides answered with SYN-ACK, and one connection exists (via=connect).
  The home router counted the packet it dropped:
EOF
in_ns "$RB" nft list chain inet fw input | grep -F counter | sed 's/^[[:space:]]*/    /'
echo "  and its connection tracking holds the one connection:"
run in_ns "$RB" conntrack -L -p tcp -d $P2P_POOL --dport 20001

say "4. UDP: the same meeting, then datagrams from the listening sockets"
fleet_peer fleet-udp 20002 --proto udp --session demo-udp
a=$BG_PID
site_peer site-udp 40002 --proto udp --session demo-udp --delay 100
wait $a $BG_PID
show "$TMPD/fleet-udp.out" "$TMPD/site-udp.out"
run in_ns "$RB" conntrack -L -p udp -d $P2P_POOL --dport 20002

say "5. The quarantine: the connection ends with a reset, and host-a dials the same peer again"
fleet_peer fleet-q 20003 --session demo-q --rst --redial
a=$BG_PID
site_peer site-q 40003 --session demo-q --delay 100 --hold 500
wait $a $BG_PID
show "$TMPD/fleet-q.out"
cat <<EOF
  redial=EADDRNOTAVAIL: the same 4-tuple within reuse_delay of its end is refused at
  once, before any packet leaves, so the application falls back to another port
  (fallback_local) instead of confusing a router that still remembers the old
  connection. The home router has seen the tuple once:
EOF
run in_ns "$RB" conntrack -L -p tcp -d $P2P_POOL --dport 20003

say "6. A peer knocks on host-a's listen port unannounced: 8 connections, 8 datagrams"
bg_in "$CGa" "$(hns a)" python3 "$PSP2P" echo --port 20004 > "$TMPD/echo.out" 2>&1
wait_line "$TMPD/echo.out" '^ready' "echo on host-a"
before=$(forwarded_by b)
run in_ns "$PEER" python3 "$PSP2P" knock --to $P2P_POOL:20004 --count 8
run in_ns "$PEER" python3 "$PSP2P" knock --proto udp --to $P2P_POOL:20004 --count 8
echo "  host-b received some of them (the router's hash) and steered $(( $(forwarded_by b) - before ))"
echo "  packets to host-a, the owner of port 20004."

say "Done: the namespaces, cgroups and pins are removed."
