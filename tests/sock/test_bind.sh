# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# bind() on the pool address, unconnected UDP, and the 4-tuple guarantee
# for connected UDP sockets the kernel itself does not check.

# port_of LINE: the port of local=ADDR:PORT.
port_of() { printf '%s\n' "$1" | grep -o 'local=[^ ]*' | head -n 1 | sed 's/.*://'; }

bind_rules() {
	local proto=$1 pool=$2 bpool=$3 other=$4 out port
	std_setup
	attach
	# Port 0 on the pool address: a port of the slice.
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto $proto --addr "$bpool:0" --count 5 --expect-ok) ||
		die "bind($pool, 0): $out"
	check_conns "$out" "$pool" 20000 20999 5
	expect_eq "$(printf '%s\n' "$out" | grep -o 'local=[^ ]*' | sort -u | wc -l)" 5 "distinct ports for 5 binds held together"
	# An explicit port outside the slice: EPERM, inside: allowed.
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto $proto --addr "$bpool:30000" --expect-errno EPERM) ||
		die "bind($pool, 30000) outside the slice was not refused with EPERM: $out"
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto $proto --addr "$bpool:40000" --expect-errno EPERM) ||
		die "bind to host-b's slice was not refused with EPERM: $out"
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto $proto --addr "$bpool:20500" --expect-ok) ||
		die "bind($pool, 20500) inside the slice failed: $out"
	# Another address keeps every port.
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto $proto --addr "$other:30000" --expect-ok) ||
		die "bind to another address was touched: $out"
	expect_ge "$(status_field "$5" "counters.$proto.bind_denied")" 2 "bind_denied counter"
	expect_eq "$(status_field "$5" "counters.$proto.bound")" 5 "bound counter"
	# Every socket is closed: no record of one is left, refused binds included.
	expect_eq "$(map_entries ps_sk_state)" 0 "socket records left"
}

t_bind_rules_tcp4() { bind_rules tcp $POOL4 $POOL4 $SRV4 web; }
t_bind_rules_udp4() { bind_rules udp $POOL4 $POOL4 $SRV4 web; }
t_bind_rules_tcp6() { bind_rules tcp $POOL6 "[$POOL6]" "[$SRV6]" web6; }
t_bind_rules_udp6() { bind_rules udp $POOL6 "[$POOL6]" "[$SRV6]" web6; }

# A dual-stack socket naming the IPv4 pool as ::ffff:a.b.c.d is still the pool.
t_bind_v4mapped_pool_address() {
	local out
	std_setup
	attach
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto tcp --addr "[::ffff:$POOL4]:30000" --expect-errno EPERM) ||
		die "bind(::ffff:$POOL4, 30000) was not refused: $out"
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto tcp --addr "[::ffff:$POOL4]:0" --expect-ok) ||
		die "bind(::ffff:$POOL4, 0) failed: $out"
	port=$(port_of "$out")
	expect_ge "$port" 20000 "port of bind(::ffff:pool, 0)"
	expect_le "$port" 20999 "port of bind(::ffff:pool, 0)"
}

# bind(pool, 0) takes a whole port: connect() never shares it, and it is
# free again once the socket closes.
t_bound_port_excluded_from_connect() {
	local out bport
	std_setup 20000-20001
	attach
	serve srv --tcp $SRV4:8080
	mkfifo "$TMPD/b.fifo"
	in_cg "$CG" "$NS" "$PSNET" bind --proto tcp --addr $POOL4:0 --hold-stdin < "$TMPD/b.fifo" > "$TMPD/b.out" 2>&1 &
	local bpid=$!
	_pids+=($bpid)
	exec {bfd}> "$TMPD/b.fifo"
	wait_line "$TMPD/b.out" result= "the bound socket did not report"
	bport=$(port_of "$(cat "$TMPD/b.out")")
	expect_ge "$bport" 20000 "bound port"
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080 --count 2 --linger0 --expect-errno EADDRNOTAVAIL) ||
		die "connect shared a port held by bind(): $out"
	expect_nomatch "$out" "local=$POOL4:$bport " "connections"
	exec {bfd}>&-
	wait $bpid
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080 --count 2 --linger0)
	check_conns "$out" $POOL4 20000 20001 2
}

# The kernel lets two connected UDP sockets share a 4-tuple when both set
# SO_REUSEADDR; portslice refuses the second one.
t_connected_udp_duplicate_refused() {
	local out
	std_setup
	serve srv --udp $SRV4:8080
	# Without portslice the kernel accepts the duplicate: the test's premise.
	out=$(in_ns "$NS" "$PSNET" connect --proto udp --to $SRV4:8080 --count 2 --bind $POOL4:20100 --reuseaddr --hold 0)
	expect_eq "$(printf '%s\n' "$out" | grep -c result=ok)" 2 "kernel alone: duplicate connected UDP sockets"
	attach
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto udp --to $SRV4:8080 --count 2 --bind $POOL4:20100 --reuseaddr --expect-errno EADDRNOTAVAIL) ||
		die "a second connected UDP socket on one 4-tuple was not refused: $out"
	expect_eq "$(status_field web counters.udp.conflicts)" 1 "conflicts counter"
	# Another destination on the same port is fine.
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto udp --to $SRV4:8080 --count 1 --bind $POOL4:20100 --reuseaddr)
	check_conns "$out" $POOL4 20100 20100 1
}

# Unconnected UDP: the host's own address by default; the pool address only
# with a slice port; never the pool address with another port.
t_unconnected_udp() {
	local out from
	std_setup
	attach
	bg ip netns exec "$NS" "$PSNET" recvfrom --udp $SRV4:9000 --count 2 --timeout 10 > "$TMPD/rx.out" 2>&1
	local rx=$BG_PID
	wait_ready "$TMPD/rx.out"
	# An unbound socket: sent, from an address that is not the pool's.
	out=$(in_cg "$CG" "$NS" "$PSNET" sendto --to $SRV4:9000 --expect-ok) || die "plain sendto failed: $out"
	# Naming the pool address with IP_PKTINFO from an out-of-slice port: refused.
	out=$(in_cg "$CG" "$NS" "$PSNET" sendto --to $SRV4:9000 --pktinfo $POOL4 --expect-errno EPERM) ||
		die "sendto with IP_PKTINFO=$POOL4 was not refused: $out"
	# bind(pool, 0) first: sent from the pool address with a slice port.
	out=$(in_cg "$CG" "$NS" "$PSNET" sendto --to $SRV4:9000 --from $POOL4 --expect-ok) || die "sendto from pool: $out"
	wait $rx || die "the receiver did not get 2 datagrams: $(cat "$TMPD/rx.out")"
	from=$(grep -o 'from=[^ ]*' "$TMPD/rx.out" | sed 's/from=//')
	expect_eq "$(printf '%s\n' "$from" | wc -l)" 2 "datagrams received"
	while IFS=: read -r addr port; do
		if [ "$addr" = "$POOL4" ]; then
			[ "$port" -ge 20000 ] && [ "$port" -le 20999 ] || die "datagram from $addr:$port, outside the slice"
		fi
	done <<< "$from"
	expect_eq "$(printf '%s\n' "$from" | grep -c "^$POOL4:")" 1 "datagrams from the pool address"
	expect_eq "$(status_field web counters.udp.send_denied)" 1 "send_denied counter"
}

t_unconnected_udp6_pktinfo_refused() {
	local out
	std_setup
	attach
	bg ip netns exec "$NS" "$PSNET" recvfrom --udp "[$SRV6]:9000" --count 1 --timeout 10 > "$TMPD/rx.out" 2>&1
	wait_ready "$TMPD/rx.out"
	out=$(in_cg "$CG" "$NS" "$PSNET" sendto --to "[$SRV6]:9000" --pktinfo $POOL6 --expect-errno EPERM) ||
		die "sendto with IPV6_PKTINFO=$POOL6 was not refused: $out"
	out=$(in_cg "$CG" "$NS" "$PSNET" sendto --to "[$SRV6]:9000" --from $POOL6 --expect-ok) || die "sendto from pool: $out"
	wait $BG_PID || die "no datagram: $(cat "$TMPD/rx.out")"
	expect_match "$(cat "$TMPD/rx.out")" "from=\\[?$POOL6\\]?:20[0-9]{3} " "source of the datagram"
}

# A bind() that portslice admitted and the kernel then refused (a socket
# outside the cgroup holds the port) leaves nothing behind when the
# application falls back to a plain connect() on the same socket: the port
# serves connects again once that other socket is gone.
t_refused_bind_then_connect_gives_back() {
	local out hpid
	std_setup 20000-20001
	attach
	serve srv --tcp $SRV4:8080
	mkfifo "$TMPD/h.fifo"
	ip netns exec "$NS" "$PSNET" bind --proto tcp --addr $POOL4:20000 --hold-stdin < "$TMPD/h.fifo" > "$TMPD/h.out" 2>&1 &
	hpid=$!
	_pids+=($hpid)
	exec {hfd}> "$TMPD/h.fifo"
	wait_line "$TMPD/h.out" 'result=ok' "the socket outside the cgroup did not bind 20000"
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080 --bind $POOL4:20000 --bind-fallback --linger0 2>&1) ||
		die "connect after the refused bind failed: $out"
	expect_match "$out" "bind: EADDRINUSE" "psnet's note of the refused bind"
	check_conns "$out" $POOL4 20001 20001 1
	exec {hfd}>&-
	wait $hpid
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080 --count 2 --linger0) ||
		die "port 20000 stayed held by the refused bind: $out"
	check_conns "$out" $POOL4 20000 20001 2
	expect_eq "$(status_field web tuples.total)" 0 "claims left"
}

# Ports are held per protocol, as the kernel keeps them: UDP sockets bound
# to every port of the slice leave TCP connects their ports, and the
# other way round.
t_bind_holds_are_per_protocol() {
	local out
	std_setup 20000-20001
	attach
	serve srv --tcp $SRV4:8080 --udp $SRV4:8080
	hold_start u 2 --proto udp --to $SRV4:8080 --count 2 --bind $POOL4:0
	check_conns "$(hold_output u)" $POOL4 20000 20001 2
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080 --count 2 --linger0) ||
		die "UDP binds kept TCP connects off their ports: $out"
	check_conns "$out" $POOL4 20000 20001 2
	hold_stop u
	hold_start t 2 --proto tcp --to $SRV4:8080 --count 2 --bind $POOL4:0
	check_conns "$(hold_output t)" $POOL4 20000 20001 2
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto udp --to $SRV4:8080 --count 2) ||
		die "TCP binds kept UDP connects off their ports: $out"
	check_conns "$out" $POOL4 20000 20001 2
	hold_stop t
}

# A TCP socket whose connection ended while the application still has it
# (here its peer refused it) keeps its port in the kernel until close():
# bind(pool, 0) is not handed that port, which the kernel would refuse with
# EADDRINUSE, and gets it once the socket is closed.
t_ended_socket_keeps_its_port_until_close() {
	local out dead_port
	std_setup 20000-20001
	attach
	# Nothing listens on port 8099 of the server: its kernel answers with a reset.
	hold_start dead 1 --proto tcp --to $SRV4:8099 --keep-failed --allow-fail
	expect_match "$(hold_output dead)" "result=ECONNREFUSED" "connect to a port nobody listens on"
	dead_port=$(port_of "$(hold_output dead)")
	expect_ge "$dead_port" 20000 "port of the refused socket"
	expect_eq "$(status_field web ports_in_use)" 1 "slice ports in use while the refused socket is open"
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto tcp --addr $POOL4:0 --count 2 --expect-errno EADDRINUSE) ||
		die "bind(pool, 0) x2 with one port held by the refused socket: $out"
	expect_nomatch "$(printf '%s\n' "$out" | grep 'result=ok')" ":$dead_port " "port bound while the refused socket holds it"
	# portslice refused the second bind (its slice had no port left); the kernel refused none.
	expect_eq "$(status_field web counters.tcp.exhausted)" 1 "binds portslice refused"
	expect_eq "$(status_field web counters.tcp.bound)" 1 "binds portslice admitted"
	hold_stop dead
	wait_field web ports_in_use 0 "ports in use after the refused socket closed"
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto tcp --addr $POOL4:0 --count 2 --expect-ok) ||
		die "bind(pool, 0) x2 after the refused socket closed: $out"
	check_conns "$out" $POOL4 20000 20001 2
	expect_eq "$(map_entries ps_sk_state)" 0 "socket records left"
}
