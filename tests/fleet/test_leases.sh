# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Dynamic slices, the leasing engine alone (no BPF): pslease_sim agents
# against a real three-member etcd cluster (Debian's etcd-server), each
# member and each agent in its own namespace (tests/lib.sh, "etcd").
# docs/fleet.md names the invariant each test shows.

SIM=${SIM:-$ROOT/${OUTPUT:-build}/tests/pslease_sim}
# Short times, so that a test lasts seconds: TTL 3 s, keepalive every
# 500 ms, fenced 1 s before the TTL can run out, TIME_WAIT taken as 1 s and
# a quarantine of 3 s (> 1 s + reuse_delay 0).
LEASE_ARGS=(--ttl 3 --keepalive-ms 500 --fence-margin-ms 1000 --time-wait 1 --quarantine 3 --tick-ms 100
	--timeout-ms 400 --quiet-ms 1000)
PFX=/pstest

# lease_setup: the cluster, and a namespace CLI for etcdctl.
lease_setup() {
	[ -x "$SIM" ] || die "no $SIM: make $(basename "$SIM")"
	etcd_cluster_start 3
	CLI=$(etcd_client_ns cli 10)
}

# agent NAME NUM POOL [ARGS...]: a pslease_sim agent as host NAME in its
# own namespace ($ETCD_NET.NUM); output in $TMPD/NAME.out, its load in
# $TMPD/NAME.load. Sets AGENT_PID and AGENT_NS_<NAME>.
agent() {
	local name=$1 num=$2 pool=$3 ns
	shift 3
	ns=$(etcd_client_ns "$name" "$num")
	eval "AGENT_NS_$name=$ns"
	: > "$TMPD/$name.load"
	bg_in - "$ns" "$SIM" agent --endpoints "$ETCD_ENDPOINTS" --prefix "$PFX" --host "$name" \
		--pool "$pool" --load-file "$TMPD/$name.load" "${LEASE_ARGS[@]}" "$@" > "$TMPD/$name.out" 2>&1
	AGENT_PID=$BG_PID
	wait_line "$TMPD/$name.out" '^ready' "agent $name did not start"
}

# last_line NAME: the agent's latest block line.
last_line() { grep ' blocks=' "$TMPD/$1.out" | tail -n 1; }
# offered NAME: the blocks it hands ports out from, "0,3" ("" none).
offered() { last_line "$1" | sed -n 's/.* offered=\([^ ]*\) .*/\1/p'; }
n_offered() { offered "$1" | tr ',' '\n' | grep -c .; }

# wait_offered NAME N WHAT [SECONDS]: until NAME offers N blocks (default 10 s).
wait_offered() {
	local i
	for i in $(polls $((${4:-10} * 20))); do
		[ "$(n_offered "$1")" = "$2" ] && return 0
		sleep 0.05
	done
	die "$3: $1 offers '$(offered "$1")': $(tail -n 3 "$TMPD/$1.out")"
}

# owner POOL N: the host of blocks/N as etcdctl reads it ("" none).
owner() {
	etcdctl_in "$CLI" get --print-value-only "$PFX/pools/$1/blocks/$2" | jq -r '.host // empty' 2>/dev/null
}
# keys KIND: the block numbers with a KIND key (blocks, claims, quarantine), per etcdctl.
keys() {
	etcdctl_in "$CLI" get --keys-only --prefix "$PFX/pools/web/$1/" | sed -n 's|.*/||p' | sort -n | tr '\n' ' '
}

# race_round ROUND POOL LAST: agents aROUND and bROUND start at the same
# millisecond, each wanting one block of POOL, where only block LAST is free;
# exactly one gets it, and etcd agrees. Sets LOSER.
race_round() {
	local round=$1 pool=$2 last=$3 at pa pb winner
	at=$(( $(date +%s%3N) + 1500 ))
	agent "a$round" $((10 + 2 * round)) "$pool" --start-at "$at"
	pa=$AGENT_PID
	agent "b$round" $((11 + 2 * round)) "$pool" --start-at "$at"
	pb=$AGENT_PID
	sleep 3
	kill "$pa" "$pb"
	wait "$pa" "$pb" 2>/dev/null
	winner=$(owner web "$last")
	note "round $round: a offers '$(offered "a$round")', b offers '$(offered "b$round")', etcd says block $last is $winner's"
	expect_eq "$(( $(n_offered "a$round") + $(n_offered "b$round") ))" 1 "hosts that got the last block"
	case "$winner" in
	"a$round") expect_eq "$(offered "a$round")" "$last" "a's block"; LOSER=b$round ;;
	"b$round") expect_eq "$(offered "b$round")" "$last" "b's block"; LOSER=a$round ;;
	*) die "block $last is held by '$winner' in etcd" ;;
	esac
	expect_eq "$(etcdctl_in "$CLI" get --prefix --keys-only "$PFX/pools/web/claims/" | grep -c .)" \
		"$(etcdctl_in "$CLI" get --prefix --keys-only "$PFX/pools/web/blocks/" | grep -c .)" "claims and blocks"
}

# Invariant 1: two hosts racing for the last free block: exactly one gets it.
t_race_last_block() {
	lease_setup
	local lease n round
	lease=$(etcdctl_in "$CLI" lease grant 120 | awk '{ print $2 }')
	# 8 blocks, 7 held by "other" under a lease of its own: the hosts
	# probe, read the occupancy and go for block 7.
	for round in 1 2 3; do
		PFX=/pstest$round
		for n in 0 1 2 3 4 5 6; do
			etcdctl_in "$CLI" put --lease="$lease" "$PFX/pools/web/blocks/$n" '{"host":"other","state":"held"}' >/dev/null
			etcdctl_in "$CLI" put "$PFX/pools/web/claims/$n" '{"host":"other"}' >/dev/null
		done
		race_round "$round" web:20000-20255:32:1:1 7
	done
	# A pool of one block: both send their take txn for it at once; the
	# loser's txn failed on its comparisons (etcd serialised the two).
	for round in 4 5; do
		PFX=/pstest$round
		race_round "$round" web:20000-20031:32:1:1 0
		expect_contains "$(cat "$TMPD/$LOSER.out")" "did not get pool web block 0: another host holds it" \
			"$LOSER's log"
		expect_match "$(grep '^stats' "$TMPD/$LOSER.out")" 'takes_lost=[1-9]' "$LOSER's stats"
	done
}

# Invariants 3 and 1: a host killed with -9 keeps its blocks until its lease
# expires and the quarantine is over; then another host takes them.
t_kill9_quarantine() {
	lease_setup
	local dead blocks t_kill t_q n i t_take
	agent dead 11 web:20000-20255:32:3:3
	local pid_dead=$AGENT_PID
	wait_offered dead 3 "the host did not take its minimum"
	blocks=$(offered dead | tr ',' ' ')
	echo 1000 > "$TMPD/dead.load"
	# The other one wants every block: it takes the 5 free ones at once.
	agent busy 12 web:20000-20255:32:1:8 --sweep-ms 500
	echo 1000 > "$TMPD/busy.load"
	wait_offered busy 5 "the busy host did not take the free blocks"
	t_kill=$(date +%s%3N)
	kill -9 "$pid_dead" || die "cannot kill the agent"
	# Until the lease can expire (TTL 3 s less one keepalive period), etcd
	# still has the blocks under the dead host, and nobody else has them.
	sleep 1.5
	for n in $blocks; do
		expect_eq "$(owner web "$n")" dead "block $n 1.5 s after the kill"
	done
	# Then quarantine: seen by etcdctl, for the dead host's blocks.
	for i in $(polls 100); do
		t_q=$(keys quarantine)
		[ -n "${t_q// /}" ] && break
		sleep 0.1
	done
	note "quarantine keys: $t_q (blocks of the dead host: $blocks)"
	for n in $t_q; do
		expect_contains " $blocks " " $n " "quarantined block"
	done
	expect_ne "${t_q// /}" "" "quarantined blocks"
	wait_offered busy 8 "the dead host's blocks were not taken after the quarantine" 20
	# When the busy host got them: not before lease expiry + quarantine.
	t_take=$(grep -E ' offered=([0-9]+,){7}[0-9]+ ' "$TMPD/busy.out" | head -n 1 | sed -n 's/.* wall=\([0-9]*\).*/\1/p')
	note "taken $(( t_take - t_kill )) ms after the kill (TTL 3000 - keepalive 500 + quarantine 3000 = 5500 at the least)"
	expect_ge "$(( t_take - t_kill ))" 5500 "ms from the kill until the blocks were taken"
	expect_eq "$(keys quarantine)" "" "quarantine keys at the end"
	for n in $blocks; do
		expect_eq "$(owner web "$n")" busy "block $n at the end"
	done
}

# A member killed: quorum holds; the host keeps its lease, stays unfenced and can grow.
t_member_killed() {
	lease_setup
	local before after lease
	agent h 11 web:20000-20255:32:1:4
	wait_offered h 1 "the host did not take its first block"
	# The member the host talks to first.
	etcd_member_kill 1
	note "member 1 killed"
	echo 60 > "$TMPD/h.load"
	wait_offered h 3 "the host did not grow with a member down"
	sleep 4
	expect_lacks "$(cat "$TMPD/h.out")" " fenced " "the host's log"
	expect_eq "$(grep -c 'lease=0 ' "$TMPD/h.out")" 0 "lines without a lease"
	before=$(grep -c ' blocks=' "$TMPD/h.out")
	ETCD_ENDPOINTS=http://$ETCD_NET.2:2379,http://$ETCD_NET.3:2379
	etcdctl_in "$CLI" endpoint health >/dev/null || die "quorum lost with 2 of 3 members"
	expect_eq "$(keys blocks | wc -w)" 3 "blocks in etcd"
	expect_eq "$(owner web "$(offered h | cut -d, -f1)")" h "owner per etcdctl"
	after=$(last_line h)
	expect_contains "$after" "fenced=0" "the host's state"
	# etcd's health and the lease's TTL as the client reads them: the
	# dead first endpoint is skipped, a leader is known, the lease lives.
	lease=$(sed -n 's/.* lease=\([0-9a-f]*\) .*/\1/p' <<< "$after")
	run in_ns "$CLI" "$SIM" status --endpoints "http://$ETCD_NET.1:2379,$ETCD_ENDPOINTS" --lease "$lease"
	expect_eq "$RC" 0 "pslease_sim status: $ERR"
	note "$OUT"
	expect_match "$OUT" "^endpoint=http://$ETCD_NET.[23]:2379 version=3\\.[0-9.]* member=[0-9a-f]+ leader=[1-9a-f][0-9a-f]* " "status"
	expect_match "$OUT" "lease=$lease ttl=[1-3] granted=3 failovers=1" "the lease per etcd"
	expect_eq "$(etcdctl_in "$CLI" lease timetolive "$lease" | grep -c 'remaining(')" 1 "etcdctl's view of the lease"
	note "$before block lines; last: $after"
}

# Invariant 2: a host cut off etcd fences itself before its lease can expire.
t_partition_fences() {
	lease_setup
	local t_cut t_fence t_gone n i ns before
	agent p 11 web:20000-20255:32:2:2
	wait_offered p 2 "the host did not take its blocks"
	before=$(offered p)
	n=${before%%,*}
	ns=$AGENT_NS_p
	t_cut=$(date +%s%3N)
	etcd_partition "$ns"
	wait_line "$TMPD/p.out" ' fenced ' "the host did not fence"
	t_fence=$(grep ' fenced ' "$TMPD/p.out" | head -n 1 | sed -n 's/.*wall=\([0-9]*\).*/\1/p')
	# etcd's own view: the lease, and the blocks with it, go only later.
	expect_eq "$(owner web "$n")" p "block $n when the host fenced"
	for i in $(polls 100); do
		[ -z "$(owner web "$n")" ] && break
		sleep 0.1
	done
	t_gone=$(date +%s%3N)
	expect_eq "$(owner web "$n")" "" "block $n after the TTL"
	note "cut at 0, fenced at $((t_fence - t_cut)) ms, etcd dropped the lease at ~$((t_gone - t_cut)) ms"
	expect_le "$((t_fence - t_cut))" 2500 "ms until fenced (TTL 3000 - margin 1000 + a keepalive period)"
	[ "$t_fence" -lt "$t_gone" ] || die "fenced at $t_fence, not before etcd dropped the lease at $t_gone"
	# Fenced: it hands out no port, yet it still knows its blocks (their flows go on).
	expect_match "$(last_line p)" 'fenced=1 offered= blocks=[0-9]' "the host's state when fenced"
	# Back: the lease is gone; with a new one the host takes its own
	# orphans back (nobody quarantined them: nobody else could take them).
	etcd_heal "$ns"
	wait_line "$TMPD/p.out" ' unfenced ' "the host did not come back"
	wait_offered p 2 "the host did not take blocks again"
	expect_match "$(grep -c "of host p is gone" "$TMPD/p.out")" '^[1-9]' "lease losses logged"
	expect_eq "$(offered p)" "$before" "blocks after the partition"
	expect_eq "$(grep -c "took back" "$TMPD/p.out")" 2 "blocks taken back"
	expect_eq "$(owner web "$n")" p "block $n per etcdctl after the partition"
}

# Invariant 4: growth beyond min_blocks and back; a block drains and is
# released only when no claim in it remains.
t_grow_drain_release() {
	lease_setup
	local n
	agent g 11 web:20000-20255:32:1:4 --claims-file "$TMPD/g.claims"
	wait_offered g 1 "the host did not take its first block"
	echo 100 > "$TMPD/g.load"
	wait_offered g 4 "the host did not grow to max_blocks"
	expect_eq "$(keys blocks | wc -w)" 4 "blocks in etcd"
	# Every block has claims; the load goes: blocks drain but stay.
	offered g | tr ',' '\n' > "$TMPD/g.claims"
	echo 0 > "$TMPD/g.load"
	wait_offered g 1 "the host did not drain down to min_blocks"
	sleep 0.5
	expect_eq "$(keys blocks | wc -w)" 4 "blocks in etcd while they drain"
	expect_eq "$(etcdctl_in "$CLI" get --prefix "$PFX/pools/web/blocks/" --print-value-only | grep -c '"draining"')" 3 \
		"draining blocks per etcdctl"
	# The claims end: released, one by one, down to the minimum.
	: > "$TMPD/g.claims"
	for i in $(polls 100); do
		[ "$(keys blocks | wc -w)" = 1 ] && break
		sleep 0.1
	done
	expect_eq "$(keys blocks | wc -w)" 1 "blocks in etcd after the release"
	expect_eq "$(keys claims | wc -w)" 1 "claims in etcd after the release"
	expect_eq "$(keys quarantine)" "" "quarantine after a release (none: drained)"
	# `portslice leases`' table, as the library builds it.
	run in_ns "$CLI" "$SIM" table --endpoints "$ETCD_ENDPOINTS" --prefix "$PFX"
	expect_eq "$RC" 0 "pslease_sim table"
	expect_eq "$(echo "$OUT" | jq -r '.pools[0].blocks | map(.host + ":" + .state) | join(" ")')" "g:held" "the table"
}

# The simulator's fleet mode, small: 20 agents, 2 of them die; their blocks
# go through expiry and quarantine and come back; a watcher sees the puts.
t_fleet_small() {
	lease_setup
	local ns out free expired
	ns=$(etcd_client_ns fleet 11)
	run in_ns "$ns" "$SIM" fleet --endpoints "$ETCD_ENDPOINTS" --prefix "$PFX" --agents 20 --threads 4 \
		--pool web:20000-21023:32:1:4 "${LEASE_ARGS[@]}" --sweep-ms 2000 --kill-at-ms 3000 --kill-pct 10
	expect_eq "$RC" 0 "pslease_sim fleet: $ERR"
	out=$(grep '^result' <<< "$OUT")
	note "$(tr "\n" " " <<< "$out")"
	expect_contains "$out" "agents=20 dead=2" "fleet result"
	expect_match "$out" 'fences 0, lease losses 0' "live hosts"
	expired=$(sed -n 's/.*leases expired after \([0-9.]*\) s.*/\1/p' <<< "$out")
	free=$(sed -n 's/.*blocks free after \([0-9.]*\) s.*/\1/p' <<< "$out")
	[ -n "$expired" ] && [ -n "$free" ] || die "no convergence in: $out"
	# Free only after the quarantine (3 s) that follows the expiry.
	awk -v e="$expired" -v f="$free" 'BEGIN { exit !(f >= e + 3 - 1) }' ||
		die "blocks free after $free s, the leases expired after $expired s: no quarantine between"
	expect_match "$out" 'watch: [1-9][0-9]* block puts seen' "the watcher"
	expect_eq "$(keys quarantine)" "" "quarantine keys at the end"
}

# TLS: the members serve https only and want a client certificate of their
# CA (etcd.ca, etcd.cert, etcd.key in the config to come).
t_tls() {
	command -v openssl >/dev/null || die "openssl not installed: make deps"
	etcd_tls
	lease_setup
	expect_match "$ETCD_ENDPOINTS" '^https://' "endpoints"
	agent t 11 web:20000-20255:32:2:2 --ca "$ETCD_CA" --cert "$ETCD_CERT" --key "$ETCD_KEY"
	wait_offered t 2 "the host did not take its blocks over TLS"
	expect_eq "$(owner web "$(offered t | cut -d, -f1)")" t "owner per etcdctl over TLS"
	# The CA alone, no client certificate: refused; no lease, nothing offered.
	agent u 12 web:20000-20255:32:1:1 --ca "$ETCD_CA"
	wait_line "$TMPD/u.out" ' error ' "a host without a certificate got no error"
	expect_eq "$(n_offered u)" 0 "blocks of a host without a certificate"
	note "$(grep -m1 ' error ' "$TMPD/u.out")"
}

# The watch the steering will follow (ps_etcd_watch): from a revision, with
# its history, every PUT and DELETE in order; a compacted revision is
# reported (exit 3 of pslease_sim watch) so that the table is read again.
t_watch() {
	lease_setup
	local rev cur out wp
	etcdctl_in "$CLI" put "$PFX/pools/web/blocks/0" '{"host":"x","state":"held"}' >/dev/null
	rev=$(etcdctl_in "$CLI" get "$PFX/pools/web/blocks/0" -w json | jq -r '.kvs[0].mod_revision')
	bg in_ns "$CLI" "$SIM" watch --endpoints "$ETCD_ENDPOINTS" --prefix "$PFX" --from "$rev" --duration-ms 3000 \
		> "$TMPD/watch.out" 2>&1
	wp=$BG_PID
	wait_line "$TMPD/watch.out" '^created' "the watch did not start"
	etcdctl_in "$CLI" put "$PFX/pools/web/blocks/1" '{"host":"y","state":"held"}' >/dev/null
	etcdctl_in "$CLI" del "$PFX/pools/web/blocks/0" >/dev/null
	wait "$wp"
	out=$(grep -E '^(PUT|DELETE)' "$TMPD/watch.out" | awk '{ print $1, $2 }' | tr '\n' ';')
	expect_eq "$out" "PUT $PFX/pools/web/blocks/0;PUT $PFX/pools/web/blocks/1;DELETE $PFX/pools/web/blocks/0;" \
		"the events seen"
	expect_match "$(cat "$TMPD/watch.out")" "blocks/0 mod_revision=$rev .*\"host\":\"x\"" "the first event, from history"
	cur=$(etcdctl_in "$CLI" get "$PFX/pools/web/blocks/1" -w json | jq -r '.header.revision')
	etcdctl_in "$CLI" compact "$cur" >/dev/null || die "etcdctl compact"
	run in_ns "$CLI" "$SIM" watch --endpoints "$ETCD_ENDPOINTS" --prefix "$PFX" --from "$rev" --duration-ms 1000
	expect_eq "$RC" 3 "exit of a watch from a compacted revision"
	expect_contains "$ERR" "was compacted" "its message"
}
