# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The agent leases a dynamic pool's blocks from a real three-member etcd
# cluster (Debian's etcd-server, in namespaces) and keeps the BPF side in
# step, with map updates only: connects land in the blocks etcd says this
# host holds (checked from the kernel's own table with ss), the host grows
# under load and shrinks back after a quiet period with no failed connect,
# a host cut off from etcd or whose agent is killed stops handing out ports
# before its lease can expire while its connections go on, and one member
# killed changes nothing. Sourced by tests/run.sh after tests/lib.sh.

# The agent's helpers (agent_conf, put_conf, agent_start, wait_log, ...).
_here=$(dirname "${BASH_SOURCE[0]}")
source "$_here/../agent/test_agent.sh"
unset -f $(declare -F | awk '$3 ~ /^t_/ { print $3 }')

DYN_PREFIX=/pstest
# Pool web's shape in dyn_conf: 256 ports in blocks of 16, 1 to 8 of them,
# shrinking after 2 s of quiet. A test that sources this file may set its own.
DYN_LO=20000 DYN_HI=20255 DYN_BLOCK=16 DYN_MIN=1 DYN_MAX=8 DYN_SHRINK=2s

# dyn_conf [LEASE_TTL]: the config: pool web dynamic (DYN_*), the standard
# cgroup, and $DYN_EXTRA (more sections) when set.
dyn_conf() {
	put_conf "$(cat <<-YAML
	${DYN_EXTRA:-}
	etcd:
	  endpoints: [$(echo "$ETCD_ENDPOINTS" | sed 's/,/, /g')]
	  prefix: $DYN_PREFIX
	  lease_ttl: ${1:-4s}
	pools:
	  - name: web
	    address: $POOL4
	    slices: dynamic
	    ports: $DYN_LO-$DYN_HI
	    block_size: $DYN_BLOCK
	    min_blocks: $DYN_MIN
	    max_blocks: $DYN_MAX
	    shrink_after: $DYN_SHRINK
	cgroups:
	  - path: $CG
	YAML
	)"
}

# dyn_world [LEASE_TTL]: the standard namespace and cgroup, wired to a
# three-member etcd cluster, a TCP server, and the config.
dyn_world() {
	agent_conf
	etcd_cluster_start 3
	etcd_wire "$NS" 11 c11
	dyn_conf "$@"
	serve srv --tcp $SRV4:8080-8081
}

# held_blocks HOST: the block numbers etcd has under HOST's lease, one a line.
held_blocks() {
	etcdctl_in "${ETCD_NS[2]}" get --prefix "$DYN_PREFIX/pools/web/blocks/" -w json 2>/dev/null |
		jq -r --arg h "$1" '.kvs // [] | .[] | select((.value | @base64d | fromjson | .host) == $h) |
			.key | @base64d | sub(".*/"; "")' | sort -n
}

# wait_blocks HOST OP N [SECONDS]: until HOST holds OP N blocks (OP: -eq, -ge, -le).
wait_blocks() {
	local host=$1 op=$2 want=$3 i n
	for i in $(polls $((${4:-20} * 10))); do
		n=$(held_blocks "$host" | wc -l)
		[ "$n" "$op" "$want" ] && return 0
		sleep 0.1
	done
	die "$host holds $n blocks, expected $op $want: $(held_blocks "$host" | tr '\n' ' '); agent: $(tail -n 5 "$AGENT_LOG")"
}

# still_echoes N WHAT: the held connection "keep" echoes once more (its Nth).
still_echoes() {
	local fd
	eval "fd=\$HOLD_FD_keep"
	echo >&"$fd"
	wait_count "$TMPD/keep.out" "^echo local=$POOL4:[0-9]* result=ok$" "$1" "$2"
}

# held_ranges HOST: the ports of the blocks etcd has under HOST's lease, as
# "LO-HI" words on one line.
held_ranges() {
	held_blocks "$1" | awk -v lo=$DYN_LO -v size=$DYN_BLOCK \
		'{ printf "%s%d-%d", (NR > 1 ? " " : ""), lo + $1 * size, lo + ($1 + 1) * size - 1 } END { print "" }'
}

# in_held_blocks HOST: every connection to the servers from the pool address
# (ss, the kernel's table) has a port in a block HOST holds; prints how many.
in_held_blocks() {
	local ranges
	ranges=$(held_ranges "$1")
	in_ns "$NS" ss -Htn state established "( sport >= :$DYN_LO and sport <= :$DYN_HI )" |
		awk -v ranges="$ranges" -v pool="$POOL4" '
			BEGIN { n = split(ranges, r, " ") }
			{
				split($3, l, ":"); if (l[1] != pool) next
				port = l[2] + 0; ok = 0
				for (i = 1; i <= n; i++) { split(r[i], b, "-"); if (port >= b[1] && port <= b[2]) ok = 1 }
				if (!ok) { print "outside the held blocks: " $3 > "/dev/stderr"; bad++ }
				count++
			}
			END { print bad ? -1 : count + 0 }'
}

t_dynamic_grows_and_shrinks_without_failed_connects() {
	local i n
	dyn_world
	agent_start agent
	wait_blocks host-a -eq 1
	# 40 connections to one destination, 5 at a time: more than two blocks
	# hold, so the host must grow ahead of the load, and no connect may fail
	# (hold_start fails the test on the first). RST at close: no TIME_WAIT
	# keeps the blocks in use afterwards.
	for i in $(seq 1 8); do
		hold_start h$i 5 --proto tcp --to $SRV4:8080 --count 5 --linger0
		sleep 1
	done
	n=$(held_blocks host-a | wc -l)
	note "blocks held with 40 connections: $n ($(held_blocks host-a | tr '\n' ' '))"
	expect_ge "$n" 3 "blocks held for 40 connections to one destination"
	expect_eq "$(in_held_blocks host-a)" 40 "connections in host-a's blocks (ss)"
	expect_eq "$(status_field web counters.tcp.exhausted)" 0 "connects refused for want of a port"
	expect_eq "$("$PS" status --json | jq '[.pools[] | select(.name == "web") | .blocks[] | select(.draining | not)] | length')" \
		"$n" "held blocks in status"
	# portslice leases reads the same table from etcd.
	expect_eq "$(in_ns "$NS" "$PS" leases --config "$CONF" --json |
		jq '[.pools[] | select(.name == "web") | .blocks[] | select(.host == "host-a" and .state == "held")] | length')" \
		"$n" "held blocks in 'portslice leases'"
	expect_contains "$(in_ns "$NS" "$PS" leases --config "$CONF")" "pool web: $((16 - n)) free of 16 blocks of 16 ports" \
		"'portslice leases' text"
	for i in $(seq 1 8); do hold_stop h$i; done
	# Quiet: drained one by one, released once empty, down to min_blocks.
	wait_blocks host-a -eq 1 40
	expect_eq "$(status_field web counters.tcp.fenced)" 0 "connects refused by the fence"
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8081 --count 5 --linger0) ||
		die "connects after the shrink: $out"
	check_conns "$out" $POOL4 $((20000 + $(held_blocks host-a) * 16)) $((20015 + $(held_blocks host-a) * 16)) 5
	wait_log 'leases: .*dynamic pool'
}

# A host cut off from etcd fences itself before the lease can expire: new
# connects fail at once with EADDRNOTAVAIL, counted as fenced; connections
# it has keep carrying data. Back in touch, it hands out ports again.
t_dynamic_partition_fences_before_expiry() {
	local start i out fenced_at
	dyn_world 4s
	agent_start agent
	wait_blocks host-a -eq 1
	hold_start keep 1 --proto tcp --to $SRV4:8080 --count 1 --echo --echo-lines
	etcd_partition "$NS"
	start=$(date +%s%N)
	for i in $(polls 100); do
		out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8081 --count 1 --linger0 --expect-errno EADDRNOTAVAIL 2>&1) && break
		sleep 0.1
	done
	fenced_at=$((($(date +%s%N) - start) / 1000000))
	note "fenced ${fenced_at} ms after the partition (lease TTL 4000 ms)"
	expect_le "$fenced_at" 4000 "time from the partition to the fence"
	expect_ge "$(status_field web counters.tcp.fenced)" 1 "connects refused by the fence"
	expect_eq "$("$PS" status --json | jq -r '.lease.fenced')" true "status: fenced"
	still_echoes 1 "the connection made before the partition"
	etcd_heal "$NS"
	for i in $(polls 150); do
		out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8081 --count 1 --linger0 2>&1) && break
		sleep 0.1
	done
	expect_match "$out" "result=ok" "a connect once etcd is back"
	hold_stop keep
}

# kill -9 of the agent: the BPF side fences by itself at the deadline the
# agent last wrote (no process left to do it). A restarted agent keeps the
# old lease if etcd still has it, or takes the block back under a new one
# (t_dynamic_agent_restart_keeps_its_blocks tells the two apart): either
# way the block is host-a's again, never another host's.
t_dynamic_agent_killed_fences_in_bpf() {
	local out i before state
	dyn_world 4s
	agent_start agent
	wait_blocks host-a -eq 1
	before=$(held_blocks host-a | head -n 1)
	hold_start keep 1 --proto tcp --to $SRV4:8080 --count 1 --echo --echo-lines
	kill -9 "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	for i in $(polls 100); do
		out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8081 --count 1 --linger0 --expect-errno EADDRNOTAVAIL 2>&1) && break
		sleep 0.1
	done
	expect_match "$out" "EADDRNOTAVAIL" "a connect after the agent died and the deadline passed"
	expect_ge "$(status_field web counters.tcp.fenced)" 1 "connects refused by the fence"
	still_echoes 1 "the connection made before the kill"
	agent_start agent2
	for i in $(polls 200); do
		out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8081 --count 1 --linger0 2>&1) && break
		sleep 0.1
	done
	expect_match "$out" "result=ok" "a connect once the agent is back"
	# Past the old lease's TTL (4 s): the block is host-a's, held.
	sleep 6
	state=$(in_ns "$NS" "$PS" leases --config "$CONF" --json |
		jq -r --argjson b "$before" '[.pools[0].blocks[] | select(.block == $b) | "\(.host):\(.state)"][0]')
	expect_eq "$state" "host-a:held" "block $before after the old lease's TTL"
	# The new agent inherited the hold's pipe: it goes first, or the hold never sees its end.
	kill "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	hold_stop keep
}

# lease_of HOST: the lease (hex) etcd has HOST's blocks under, per 'portslice leases'.
lease_of() {
	in_ns "$NS" "$PS" leases --config "$CONF" --json |
		jq -r --arg h "$1" '[.pools[0].blocks[] | select(.host == $h and .state == "held") | .lease][0]'
}

# An agent restarted within the lease's TTL (an upgrade: SIGTERM, start)
# keeps its lease and its blocks: the block never leaves the host, the
# connection made before goes on, new connects land in the same block.
# Restarted after the lease expired (kill -9, a long outage), it takes
# back the blocks its claims still name under a new lease.
t_dynamic_agent_restart_keeps_its_blocks() {
	local before lease out
	dyn_world 4s
	agent_start agent
	wait_blocks host-a -eq 1
	before=$(held_blocks host-a)
	lease=$(lease_of host-a)
	hold_start keep 1 --proto tcp --to $SRV4:8080 --count 1 --echo --echo-lines
	kill "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	agent_start agent2
	wait_log "kept lease $lease across the restart"
	expect_eq "$(held_blocks host-a | tr '\n' ' ')" "$before " "host-a's blocks after a restart within the TTL"
	expect_eq "$(lease_of host-a)" "$lease" "host-a's lease after the restart"
	still_echoes 1 "the connection made before the restart"
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8081 --count 3 --linger0) ||
		die "connects after the restart: $out"
	check_conns "$out" $POOL4 $((20000 + before * 16)) $((20015 + before * 16)) 3
	expect_eq "$(metric "$("$PS" stats --prometheus 2>/dev/null)" portslice_lease_fenced)" 0 \
		"fenced after the restart"
	# Down longer than the TTL: the lease expires, the block is an orphan
	# (its claim names host-a); the agent takes it back under a new lease.
	kill -9 "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	sleep 6
	expect_eq "$(held_blocks host-a | wc -l)" 0 "host-a's blocks once its lease expired"
	agent_start agent3
	wait_log "lease $lease from before the restart has expired; 1 block"
	wait_log "took back pool web block $before under its new lease"
	wait_blocks host-a -ge 1
	expect_contains "$(held_blocks host-a | tr '\n' ' ')" "$before " "host-a's blocks after the expiry and restart"
	still_echoes 2 "the connection made before both restarts"
	kill "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	hold_stop keep
}

# Every member hangs (SIGSTOP: connections accepted, nothing answered, no
# reset) while the agent waits on a request: SIGTERM still ends it at once,
# the leasing task's request in flight cancelled rather than waited for (2 s
# a member, three members).
t_dynamic_agent_stops_while_etcd_hangs() {
	local i t0 ms
	dyn_world
	agent_start agent
	wait_blocks host-a -eq 1
	for i in 1 2 3; do kill -STOP "${ETCD_PID[$i]}"; done
	# A keepalive (every lease_ttl / 3) is in flight by now.
	sleep 2
	t0=$(date +%s%3N)
	kill "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	ms=$(( $(date +%s%3N) - t0 ))
	for i in 1 2 3; do kill -CONT "${ETCD_PID[$i]}"; done
	note "the agent ended $ms ms after SIGTERM, every member hung"
	expect_le "$ms" 3000 "ms the agent took to stop while etcd hangs"
}

# One member of three killed: quorum holds, the agent goes on (failover),
# every connect succeeds, and the lease is never lost.
t_dynamic_member_killed_no_interruption() {
	local out m
	dyn_world
	agent_start agent --metrics 127.0.0.1:9465
	wait_blocks host-a -eq 1
	etcd_member_kill 1
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080 --count 50 --linger0 --close-each --pause 0.1) ||
		die "connects while a member is down: $out"
	expect_eq "$(printf '%s\n' "$out" | grep -c 'result=ok')" 50 "connects while a member is down"
	expect_eq "$(status_field web counters.tcp.fenced)" 0 "connects refused by the fence"
	m=$(in_ns "$NS" curl -sf http://127.0.0.1:9465/metrics) || die "no metrics from the agent"
	expect_eq "$(metric "$m" portslice_lease_losses_total)" 0 "leases lost"
	expect_eq "$(metric "$m" portslice_lease_etcd_ok)" 1 "etcd answering, per the agent"
}

# web_owner PORT: the steering owner (host id) of PORT of pool web, its
# slot read from ps_steer_pools.
web_owner() {
	local slot
	slot=$(bpftool -j map dump pinned "$PORTSLICE_PIN_DIR/maps/ps_steer_pools" | jq -r '.[0].formatted.value') ||
		die "cannot read ps_steer_pools"
	owner_of "$slot" "$1"
}

# An agent that steers (hosts:, steering:) follows the lease table with its
# steering map: its own block is steered to itself, a block etcd gives
# another host to that host, a block nobody holds to nobody. A reload that
# leaves the pool alone keeps the owners in place (no restart of the
# follower, no zeroed window); steering dropped from the config stops it.
t_dynamic_agent_steers_its_blocks() {
	local b m other
	DYN_EXTRA=$(printf 'hosts:\n  host-a: {address: 198.18.10.1}\n  host-b: {address: 198.18.10.2}\nsteering:\n  mode: l2\n  interfaces: [ps0]')
	agent_conf
	ip -n "$NS" link add ps0 type veth peer name ps1 || die "cannot create the veth pair ps0/ps1"
	ip -n "$NS" link set ps0 up
	ip -n "$NS" link set ps1 up
	etcd_cluster_start 3
	etcd_wire "$NS" 11 c11
	dyn_conf
	agent_start agent --metrics 127.0.0.1:9465
	wait_blocks host-a -eq 1
	b=$(held_blocks host-a)
	wait_eq 1 "the first port of host-a's block" web_owner $((20000 + b * 16))
	wait_eq 1 "the last port of host-a's block" web_owner $((20015 + b * 16))
	other=$(( (b + 5) % 16 ))
	expect_eq "$(web_owner $((20000 + other * 16)))" 0 "a free block's port"
	# Another host takes a block (as its engine would): steered to it.
	etcdctl_in "${ETCD_NS[2]}" put "$DYN_PREFIX/pools/web/blocks/$other" \
		"{\"host\":\"host-b\",\"state\":\"held\",\"since\":$(date +%s%3N),\"lease\":\"0\"}" >/dev/null 2>&1 ||
		die "etcdctl put blocks/$other"
	wait_eq 2 "host-b's block" web_owner $((20007 + other * 16))
	m=$(in_ns "$NS" curl -sf http://127.0.0.1:9465/metrics) || die "no metrics from the agent"
	expect_eq "$(metric "$m" portslice_steer_follow_pools)" 1 "pools the follower steers"
	expect_eq "$(metric "$m" portslice_steer_follow_connected)" 1 "the follower reaches etcd"
	expect_ge "$(metric "$m" portslice_steer_follow_applied_total)" 1 "owners written from the watch"
	# A reload that changes nothing the follower uses: owners untouched.
	DYN_EXTRA="$DYN_EXTRA
# reloaded" dyn_conf
	wait_log "config generation 2 .* applied"
	expect_eq "$(web_owner $((20000 + b * 16)))" 1 "host-a's block after a reload"
	expect_eq "$(web_owner $((20000 + other * 16)))" 2 "host-b's block after a reload"
	grep -q "restarting the lease follower" "$AGENT_LOG" && die "a reload that kept the pool restarted the follower"
	# Steering gone from the config: the follower stops with it.
	DYN_EXTRA= dyn_conf
	wait_log "the lease follower stops"
	etcdctl_in "${ETCD_NS[2]}" del "$DYN_PREFIX/pools/web/blocks/$other" >/dev/null 2>&1
	kill "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
}

# portslice leases: clear errors, nothing read, for what it cannot use.
t_leases_refuses_bad_input() {
	local out
	std_setup
	out=$("$PS" leases 2>&1) && die "leases without --config succeeded: $out"
	expect_contains "$out" "leases needs --config FILE" "leases without --config"
	out=$("$PS" leases --config "$CONF" 2>&1) && die "leases of a config without dynamic pools succeeded: $out"
	expect_contains "$out" "has no pool with 'slices: dynamic'" "leases of a static config"
	out=$("$PS" leases --config "$TMPD/nope.yaml" 2>&1) && die "leases of a missing file succeeded: $out"
	expect_contains "$out" "nope.yaml" "leases of a missing file"
}
