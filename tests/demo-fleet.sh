#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make demo-fleet: dynamic slices end to end (docs/fleet.md). Three hosts
# behind an ECMP router share one egress address; each runs `portslice
# agent`, which leases blocks of the address's ports from a three-member
# etcd cluster, writes them into its BPF maps and has its XDP program hand
# every reply to the host that holds its block. The hosts grow under load
# from real connections, shrink after a quiet period, and a host whose
# agent is killed -9 fences itself; its block goes through quarantine
# before another host gets it -- all inside network namespaces this
# script creates and removes. The world is the one of
# tests/fleet/test_dynamic_e2e.sh. Times are short (lease TTL 4 s, shrink
# after 3 s of quiet); the quarantine is the shortest the config allows
# (61 s: it must outlast TIME_WAIT), so the demo takes about two minutes.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# Checked before lib.sh makes the temporary directory.
[ "$(id -u)" = 0 ] || { echo "make demo-fleet needs root (namespaces, cgroups, BPF)" >&2; exit 1; }
source "$ROOT/tests/lib.sh"
# The world and its helpers (dyn_e2e_world, agent_on, hold_on, ramp, ...).
source "$ROOT/tests/fleet/test_dynamic_e2e.sh"
trap cleanup EXIT
trap "exit 130" INT TERM
source "$ROOT/tests/demo-lib.sh"

# Six blocks: host-a's growth fills the pool; a quiet period of 3 s.
DE_BLOCKS=6
DE_SHRINK_AFTER=3s

# leases: the fleet's table as etcd has it.
leases() {
	printf '  $ portslice leases\n'
	in_ns "$(hns a)" "$PS" leases --config "$TMPD/etc/host-a.yaml" 2>&1 | sed 's/^/    /'
}

# view: each host's own view, from its `portslice status --json`: the
# blocks of its BPF table, its lease, what its XDP program did.
view() {
	local h
	echo "  each host's portslice status:"
	for h in $E2E_HOSTS; do
		steer_json $h | jq -r --arg h host-$h '(.pools[] | select(.name == "web")) as $p |
			"    \($h): blocks \([$p.blocks[] | "\(.first)-\(.last)\(if .draining then " draining" else "" end)"] |
			if length == 0 then "none" else join(", ") end); fenced \(.lease.fenced);" +
			" replies forwarded \(.steering.counters.forwarded), dropped for no owner \(.steering.counters.dropped_no_owner)"'
	done
}

# quarantine_left N: block N's quarantine as etcd has it, and the time it has left.
quarantine_left() {
	local v
	v=$(etcdctl_in "${ETCD_NS[1]}" get "$DYN_PREFIX/pools/web/quarantine/$1" --print-value-only 2>/dev/null)
	[ -n "$v" ] || { block_state "$1"; return; }
	jq -r --argjson now "$(date +%s%3N)" \
		'"in quarantine (put there by \(.by)), \((.since + .ttl * 1000 - $now) / 1000 | floor) s left"' <<<"$v"
}

# echoed FILE...: "N of M", the psnet sockets of FILE... that got their echo.
echoed() {
	cat "$@" | awk '/^proto=/ { n++; if (/result=ok$/) ok++ } END { printf "%d of %d", ok, n }'
}

say "1. Three hosts behind an ECMP router, each running portslice agent; etcd in three namespaces"
echo "  origin $E2E_SRV4 -- router ==ECMP==> host-a | host-b | host-c, which share $E2E_POOL4."
echo "  The router hashes each reply to any of the three: two in three land on a host"
echo "  that does not hold their port, whose XDP program hands them to the holder."
dyn_e2e_world
echo "  host-a's config (the others differ only in their cgroup):"
sed 's/^/    /' "$TMPD/etc/host-a.yaml"
echo "  Each agent took min_blocks (1) of the 6 blocks of 16 ports:"
leases
view

say "2. host-a gets busy: 40 connections to one destination, 5 a second"
echo "  When its busiest destination uses more than 3/4 of its ports it takes another block;"
echo "  the other hosts' steering follows the lease table in etcd and hands host-a the"
echo "  replies for its new blocks that land on them."
ramp g 5 8 a
wait_blocks host-a -eq 4
echo "  host-a's connections that got their echo back: $(echoed "$TMPD"/g_a_*.out)"
leases
view

say "3. host-a goes quiet: its connections close"
echo "  After 3 s of quiet it drains a block (no new ports from it), gives it back once no"
echo "  socket uses it, and so on down to min_blocks."
for h in $RAMP_a; do hold_stop $h; done
wait_blocks host-a -le 3
leases
wait_blocks host-a -eq 1 40
leases
view

say "4. host-b has 6 TCP and 3 UDP connections; its agent is killed (kill -9)"
hold_on b kb_tcp tcp 6
hold_on b kb_udp udp 3
kill -9 "$AGENT_PID_b"
wait "$AGENT_PID_b" 2>/dev/null
hold_echo kb_tcp kb_udp
echo "  Its lease lives on until etcd expires it (TTL 4 s): host-a and host-c still steer"
echo "  host-b's replies to it. Echoes of its connections: ${RES% *} of 9 came back."
leases
echo "  No agent keeps the lease: at the deadline the agent last wrote, host-b's BPF"
echo "  programs refuse new ports by themselves, before etcd can expire the lease:"
for i in $(polls 100); do
	out=$(in_cg "$CGb" "$(hns b)" "$PSNET" connect --proto tcp --to "$SRVP:8081" --count 1 --linger0 \
		--expect-errno EADDRNOTAVAIL 2>&1) && break
	sleep 0.1
done
printf '    %s\n' "$out"
PORTSLICE_PIN_DIR=$(hpin b) in_net "$(hns b)" "$PS" status | grep -E '^(Dynamic pool|Lease)' | sed 's/^/    host-b$ /'

say "5. The lease expired: host-b's block is an orphan; a sweep puts it in quarantine"
old=$(held_blocks host-b)
for i in $(polls 300); do
	[ "$(block_state $old)" = host-b:quarantine ] && break
	sleep 0.1
done
leases
hold_echo kb_tcp kb_udp
echo "  Nobody owns its ports now: host-a and host-c drop the replies that land on them"
echo "  (host-b's connections: ${RES% *} of 9 echoes came back, those the router sends to host-b)."
view
hold_stop kb_tcp
hold_stop kb_udp

say "6. systemd restarts host-b's agent (Restart=on-failure): a new lease, a free block"
agent_on b
wait_blocks host-b -eq 1
leases
view

say "7. host-c gets busy (40 connections)"
echo "  It takes the free blocks and wants one more, but the last one is in quarantine"
echo "  for 61 s from when host-b's lease expired: long enough for any TIME_WAIT of"
echo "  host-b's to end."
ramp h 5 8 c
leases
for i in $(polls $((DE_QUARANTINE * 10 + 300))); do
	[ "$(block_state $old)" = host-c:held ] && break
	[ $((i % 150)) = 1 ] && echo "  ... block $old: $(quarantine_left $old)"
	sleep 0.1
done

say "8. The quarantine is over: host-c took the block; every host steers its replies to host-c"
wait_owners $old "3 3 3"
leases
hold_on c new_tcp tcp 16
echo "  host-c's new connections: $(echoed "$TMPD/new_tcp.out") echoed," \
	"$(in_block_lines $old "$TMPD/new_tcp.out" | grep -c 'result=ok$') of them from block $old"
view

say "9. What tcpdump saw on the three uplinks from the start"
for h in $E2E_HOSTS; do
	read -r own foreign < <(refusals_foreign $h)
	echo "  host-$h: $foreign resets or port unreachables for ports of other hosts' blocks" \
		"($own for its own, the connections closed with a reset)"
done

say "Done: agents, etcd, namespaces, cgroups, pins and XDP programs are removed on exit."
