# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Real programs against a dynamic pool. The agent leases pool web's blocks
# from a real three-member etcd cluster (test_dynamic_agent.sh's world);
# nginx (proxy_bind), HAProxy (source), curl (--interface, and a plain
# connect), connected UDP sockets that sendto() and MPTCP (psattack,
# psnet) run in the attached cgroup against test_compat.sh's origins in
# their own namespace. Every idiom is checked from the kernel's own view:
# ss in both namespaces, sampled while the load runs, shows every upstream
# socket on the pool address with a port of a block etcd says this host
# holds at that moment, and no 4-tuple shared by two sockets; every
# request is answered. Then loads that grow past one block, with no failed
# request: nginx proxying to one origin, and wget --bind-address, whose
# sockets hold a whole port each (the host grew only for its busiest
# destination before).
# Sourced by tests/run.sh after tests/lib.sh.

_dir=$(dirname "${BASH_SOURCE[0]}")
source "$_dir/test_dynamic_agent.sh"
source "$_dir/../compat/test_compat.sh"
source "$_dir/../sock/test_paths.sh"
unset -f $(declare -F | awk '$3 ~ /^t_/ { print $3 }')

# The proxies' and curl's load: 75 at a time over three origins (25 to
# each), above the 48 ports of three blocks of 16 and below them per
# destination, so the host has no reason to grow or shrink meanwhile.
DYN_BLOCK=16 DYN_MIN=3 DYN_MAX=8 DYN_SHRINK=60s
SLICE_SIZE=$((DYN_MIN * DYN_BLOCK))

# slice_ranges: the ports of the blocks etcd has under host-a's lease (the
# checks of test_compat.sh read it); asked again while etcd does not answer.
slice_ranges() {
	local i r
	for i in $(polls 30); do
		r=$(held_ranges host-a)
		[ -n "$r" ] && break
		sleep 0.1
	done
	echo "$r"
}

# table_ranges: the ports of the blocks the BPF side offers (status), as
# "LO-HI" words on one line.
table_ranges() { pool_json web '[.blocks[] | select(.draining | not) | "\(.first)-\(.last)"] | join(" ")' | tr -d '"'; }

# dyn_ready: the agent running, with DYN_MIN blocks in etcd and the same
# blocks in the BPF side's table.
dyn_ready() {
	agent_start agent
	wait_blocks host-a -eq $DYN_MIN
	wait_eq "$(held_ranges host-a)" "the BPF side's blocks (status) against etcd's" table_ranges
}

# prog_world: test_dynamic_agent.sh's world (etcd, the config), the
# origins of test_compat.sh served, the agent ready.
prog_world() {
	need_origins
	dyn_world
	compat_origins
	origin_start
	dyn_ready
}

# counters_clean: no connect of the pool was refused, for want of a port or
# by the fence.
counters_clean() {
	expect_eq "$(status_field web counters.tcp.exhausted)" 0 "connects refused for want of a port"
	expect_eq "$(status_field web counters.tcp.fenced)" 0 "connects refused by the fence"
}

# nginx proxy_bind (IP_BIND_ADDRESS_NO_PORT) over three held blocks.
t_dynamic_nginx_proxy_bind() {
	local errors
	need ab
	prog_world
	nginx_proxy "${ORIGINS[@]}"
	ab_front nginx
	errors=$(nginx_errors)
	ab_front_check
	counters_clean
	expect_eq "$errors" 0 "errors in nginx's log"
}

# HAProxy `source ADDR` (the same idiom) over three held blocks.
t_dynamic_haproxy_source() {
	local errors
	need ab
	prog_world
	haproxy_proxy
	ab_front haproxy
	errors=$(haproxy_errors)
	ab_front_check
	counters_clean
	expect_eq "$errors" 0 "HAProxy connection errors, response errors, retries and redispatches"
}

# A plain connect(): the connect hook puts curl's sockets on the pool
# address (routing alone never picks it).
t_dynamic_curl_plain() {
	prog_world
	curl_parallel $CONC
	check_kernel_view $((SLICE_SIZE + 1))
	counters_clean
}

# curl --interface: bind(pool, 0) with IP_BIND_ADDRESS_NO_PORT (Debian's
# curl sets it), 30 at a time; then as many curls as the host holds
# ports, one after the other in four lanes, each leaving its port in
# TIME_WAIT.
t_dynamic_curl_interface() {
	prog_world
	curl_parallel 30 --interface $POOL4
	check_kernel_view
	counters_clean
	curl_time_waits $SLICE_SIZE
}

# Connected UDP sockets hold every port of two blocks of 8 towards :9001
# (the host may not grow past them); y connects to :9000 and shares one of
# those ports. Its sendto() on the connected socket to :9001 would put a
# datagram on another socket's 4-tuple: EADDRINUSE, also once y is
# disconnected; sendto() to a tuple nobody holds and to its own works. The
# holders' echoes show no foreign datagram came to them.
t_dynamic_udp_sendto_on_connected() {
	local out
	DYN_BLOCK=8 DYN_MIN=2 DYN_MAX=2
	dyn_world
	dyn_ready
	serve usrv --udp $SRV4:9000-9003
	hold_start full 16 --proto udp --to $SRV4:9001 --count 16 --echo --echo-lines
	check_conns_in "$(hold_output full)" $POOL4 "$(slice_ranges)" 16
	out=$(steps --keep-going \
		"y udp4" "y connect $SRV4:9000 expect=ok" \
		"y sendto $SRV4:9001 stolen-connected expect=EADDRINUSE" \
		"y sendto $SRV4:9002 unheld expect=ok" \
		"y sendto $SRV4:9000 own expect=ok" "y wait own expect=ok" \
		"y disconnect expect=ok" \
		"y sendto $SRV4:9001 stolen-disconnected expect=EADDRINUSE" \
		"y sendto $SRV4:9003 unheld-disconnected expect=ok" "y close")
	local rc=$?
	note "$(printf '%s\n' "$out" | grep -E 'op=(sendto|disconnect|connect)')"
	[ $rc -eq 0 ] || die "a step gave another result than expected: $(printf '%s\n' "$out" | grep unexpected)"
	check_conns_in "$(printf '%s\n' "$out" | grep 'op=connect')" $POOL4 "$(slice_ranges)" 1
	still_echoes_all full 16
	expect_no_dups "connected UDP sockets"
	expect_eq "$(in_blocks_only $POOL4 $(slice_ranges))" 16 "ports of the connected UDP sockets in host-a's blocks (ss)"
	hold_stop full
	wait_tuples 0
}

# still_echoes_all NAME N: each of hold NAME's N sockets echoes once more,
# its own datagram and nothing else (psnet fails an echo that reads another).
still_echoes_all() {
	local fd
	eval "fd=\$HOLD_FD_$1"
	echo >&"$fd"
	wait_count "$TMPD/$1.out" "^echo local=$POOL4:[0-9]* result=ok$" "$2" "echoes of hold $1"
	expect_eq "$(grep -c '^echo .*result=' "$TMPD/$1.out")" "$2" "echo results of hold $1 (all ok)"
}

# MPTCP subflows through the block table: twice as many connect/close
# cycles as the two blocks hold ports, which only fit if every subflow gave
# its claims back; held subflows have their ports in the blocks.
t_dynamic_mptcp() {
	local out n=32
	DYN_MIN=2 DYN_MAX=2
	dyn_world
	need_mptcp
	dyn_ready
	serve msrv --mptcp $SRV4:8090
	hold_start m 8 --proto mptcp --to $SRV4:8090 --count 8 --echo
	check_conns_in "$(hold_output m)" $POOL4 "$(slice_ranges)" 8
	expect_eq "$(in_blocks_only $POOL4 $(slice_ranges))" 8 "ports of the held subflows in host-a's blocks (ss)"
	expect_no_dups "held MPTCP subflows"
	hold_stop m
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto mptcp --to $SRV4:8090 --count $((2 * n)) --echo --close-each --linger0) ||
		die "MPTCP connect/close cycles: $(printf '%s\n' "$out" | grep -v result=ok | head -n 3)"
	check_conns_in "$out" $POOL4 "$(slice_ranges)" $((2 * n))
	wait_tuples 0
	expect_eq "$(kernel_tuples tcp $POOL4 $DYN_LO $DYN_HI)" 0 "subflows left on the pool's ports (ss)"
	expect_eq "$(status_field web ports_in_use)" 0 "pool ports in use"
}

# RAMP_PAUSE: seconds between two clients of a ramp. The host measures
# its load once a second; a client that needs the next block comes two
# pauses after the one that makes it grow (3/4 of a block of 8). Stretched,
# with the clients' requests, on a slow machine (TEST_TIME_SCALE).
RAMP_PAUSE=$(awk -v s="$TEST_TIME_SCALE" 'BEGIN { print 1.25 * s }')

# live_before_growth: the most live sockets from the pool address that one
# snapshot of the client namespace (snap_start) showed while etcd had only
# the first DYN_MIN blocks under host-a's lease.
live_before_growth() {
	awk -v min=$DYN_MIN -v pool=$POOL4 '
		/^#snap/ { if (first && live > most) most = live; first = (NF - 1 == min); live = 0; next }
		first && $2 != "LISTEN" && $2 != "UNCONN" && $2 != "TIME-WAIT" && index($5, pool ":") == 1 { live++ }
		END { if (first && live > most) most = live; print most + 0 }' "$TMPD/client.ss"
}

# ab_ramp N PAUSE REQUESTS: N ApacheBench clients outside the cgroup, one
# request at a time each, REQUESTS each, against the proxy on
# 127.0.0.1:8080, started PAUSE seconds apart: the proxy's upstream
# connections climb by one every PAUSE seconds, then fall as they end.
# Every one must complete its requests, none failed.
ab_ramp() {
	local i pids=()
	for i in $(seq 1 "$1"); do
		bg_in - "$NS" ab -n "$3" -c 1 -s $((30 * TEST_TIME_SCALE)) http://127.0.0.1:8080/ > "$TMPD/ramp$i.out" 2>&1
		pids+=($BG_PID)
		sleep "$2"
	done
	for i in $(seq 1 "$1"); do
		wait "${pids[i - 1]}" || die "ab $i of the ramp failed: $(tail -n 5 "$TMPD/ramp$i.out")"
		ab_check "$(cat "$TMPD/ramp$i.out")" "$3"
	done
}

# nginx proxies to one origin, so every upstream connection needs a port of
# its own, with blocks of 8 and one to start with; clients come one by one
# up to 12 at a time: the host leases a second block ahead of the load
# (it grows once the busiest destination uses 3/4 of the held ports) and
# not one request fails; every port ss shows was in a block etcd said the
# host held at that moment.
t_dynamic_nginx_grows() {
	local errors conc=12 reqs=$((260 * TEST_TIME_SCALE)) held
	need ab
	DYN_BLOCK=8 DYN_MIN=1 DYN_MAX=8
	prog_world
	nginx_proxy "${ORIGINS[0]}"
	snap_start
	ab_ramp $conc $RAMP_PAUSE $reqs
	snap_stop
	held=$(held_blocks host-a | wc -l)
	note "blocks held after the ramp: $held ($(slice_ranges)); most upstream sockets on the first block: $(live_before_growth) of $DYN_BLOCK"
	errors=$(nginx_errors)
	check_origin_log $((conc * reqs))
	check_kernel_view $((DYN_BLOCK + 1))
	counters_clean
	expect_ge "$held" 2 "blocks held for $conc upstream connections to one origin (blocks of $DYN_BLOCK)"
	expect_eq "$errors" 0 "errors in nginx's log"
}

# wget_ramp N PAUSE COUNT: N wget processes in the cgroup, started PAUSE
# seconds apart, the i-th fetching COUNT URLs from origin i % 3 over one
# kept-alive connection (port 80). wget --bind-address binds (pool, 0)
# without IP_BIND_ADDRESS_NO_PORT before it connects: each wget holds a
# whole port as long as it runs. Every wget must get every URL.
wget_ramp() {
	local i j pids=()
	need wget
	for i in $(seq 1 "$1"); do
		for j in $(seq 1 "$3"); do echo "http://${ORIGINS[i % 3]}:80/?w=$i&r=$j"; done > "$TMPD/wget$i.list"
		bg_in "$CG" "$NS" wget -nv -O /dev/null -T $((10 * TEST_TIME_SCALE)) -t 1 --bind-address=$POOL4 \
			-i "$TMPD/wget$i.list" > "$TMPD/wget$i.out" 2>&1
		pids+=($BG_PID)
		sleep "$2"
	done
	for i in $(seq 1 "$1"); do
		wait "${pids[i - 1]}" || die "wget $i of the ramp failed: $(grep -v ' URL:' "$TMPD/wget$i.out" | head -n 3)"
	done
}

# wget --bind-address to three origins: a bound socket needs a port of its
# own, however few sockets go to each origin. Blocks of 8, one to start
# with; wgets come one by one up to 12 at a time (4 to each origin): the
# host must grow for the ports its binds hold, not only for its busiest
# destination, and no bind may fail.
t_dynamic_wget_bind_grows() {
	local n=12 count=$((320 * TEST_TIME_SCALE)) held
	DYN_BLOCK=8 DYN_MIN=1 DYN_MAX=8
	prog_world
	snap_start
	wget_ramp $n $RAMP_PAUSE $count
	snap_stop
	held=$(held_blocks host-a | wc -l)
	note "blocks held after the ramp: $held ($(slice_ranges)); most bound sockets on the first block: $(live_before_growth) of $DYN_BLOCK"
	check_origin_log $((n * count))
	check_kernel_view $((DYN_BLOCK + 1))
	counters_clean
	expect_eq "$(status_field web counters.tcp.bound)" $n "binds (one kept-alive connection per wget)"
	expect_ge "$held" 2 "blocks held for $n bound sockets (blocks of $DYN_BLOCK)"
}

# Short fetches, each its own wget --bind-address (a bind, one request,
# close): every fetch leaves its port in TIME_WAIT for a minute, bound by
# no socket any more, and bind(pool, 0) cannot take such a port. Blocks of
# 16, one to start with; 40 fetches in two loops, about three a second,
# need 40 ports: the host must grow for the ports its binds cannot take,
# not only for those binds hold now, and no fetch may fail (before: 193 of
# 600 failed with EADDRINUSE).
t_dynamic_wget_short_fetches_grow() {
	local i k n=20 held pids=() tw
	need wget
	DYN_BLOCK=16 DYN_MIN=1 DYN_MAX=8
	prog_world
	for k in 1 2; do
		(
			for i in $(seq 1 $n); do
				in_cg "$CG" "$NS" wget -nv -O /dev/null -T $((10 * TEST_TIME_SCALE)) -t 1 \
					--bind-address=$POOL4 "http://${ORIGINS[(i + k) % 3]}:80/?k=$k&i=$i" \
					>> "$TMPD/short$k.out" 2>&1 || echo "FAILED fetch $i" >> "$TMPD/short$k.out"
				sleep 0.6
			done
		) &
		pids+=($!)
	done
	for k in 1 2; do wait "${pids[k - 1]}"; done
	held=$(held_blocks host-a | wc -l)
	tw=$(in_ns "$NS" ss -Htan state time-wait src $POOL4 | wc -l)
	note "blocks held after 40 short fetches: $held ($(slice_ranges)); $tw ports in TIME_WAIT (ss)"
	expect_eq "$(cat "$TMPD"/short*.out | grep -c FAILED)" 0 \
		"failed fetches: $(grep -h -B2 FAILED "$TMPD"/short*.out | head -n 6)"
	expect_eq "$(status_field web counters.tcp.bound)" $((2 * n)) "binds"
	expect_ge "$tw" $((2 * n - 2)) "ports in TIME_WAIT on the pool address (ss): the premise"
	expect_ge "$held" 3 "blocks held for $((2 * n)) ports in TIME_WAIT (blocks of $DYN_BLOCK)"
	in_blocks_only $POOL4 $(held_ranges host-a) > /dev/null ||
		die "a socket on the pool address outside the blocks etcd lists for host-a"
}
