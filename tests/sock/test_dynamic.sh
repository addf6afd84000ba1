# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Dynamic pools (issue 17, `slices: dynamic`; docs/fleet.md "Wiring"): the
# socket side without the agent. attach installs the pool with no block
# and no lease; tests/tools/psblocks writes what the agent's leasing task
# would (blocks through ps_blocks_install_list(), the fencing deadline
# through ps_lease_state_write()) and counts a block's users
# (ps_blocks_users()). What is checked: no port without blocks or past
# the deadline, connects only in the held blocks (ss), established
# connections untouched by the fence, draining blocks, and a static pool
# of the same file that never reads the lease.

PSBLOCKS=${PSBLOCKS:-$ROOT/${OUTPUT:-build}/tests/psblocks}
PSATTACK=${PSATTACK:-$(dirname "$PSNET")/psattack}
STATIC4=198.18.0.11   # the static pool's address
SRV4B=198.18.1.2      # ... and its destination
DYN_BLOCKS="30000-30015 30016-30031 30032-30047 30048-30063 30064-30079 30080-30095 30096-30111 30112-30127 30128-30143 30144-30159"

# dyn_setup [REUSE_DELAY]: the standard world with a config of a dynamic
# pool 'dyn' (POOL4, ports 30000-30159 in blocks of 16, destination SRV4),
# a dynamic IPv6 pool 'dyn6' (POOL6, SRV6) and a static pool 'web'
# (STATIC4, destination SRV4B, host-a's slice 20000-20099); attached.
dyn_setup() {
	std_setup
	need_cmds "test_dynamic" jq ss
	[ -x "$PSBLOCKS" ] || die "no $PSBLOCKS: make $PSBLOCKS"
	ip -n "$NS" addr add $STATIC4/32 dev lo
	ip -n "$NS" addr add $SRV4B/32 dev lo
	cat > "$CONF" <<-YAML
	etcd:
	  endpoints: [http://198.18.200.1:2379]
	pools:
	  - name: dyn
	    address: $POOL4
	    destinations: [$SRV4/32]
	    slices: dynamic
	    ports: 30000-30159
	    block_size: 16
	    min_blocks: 1
	    max_blocks: 8
	    reuse_delay: ${1:-0}
	  - name: dyn6
	    address: $POOL6
	    slices: dynamic
	    ports: 30000-30159
	    block_size: 16
	    min_blocks: 1
	    max_blocks: 4
	  - name: web
	    address: $STATIC4
	    destinations: [$SRV4B/32]
	    slices:
	      host-a: 20000-20099
	      host-b: 20100-20199
	YAML
	attach
}

# psblocks ARGS...: the tool on the test's pins; fails the test if it fails.
psblocks() { "$PSBLOCKS" "$@" || die "psblocks $* failed"; }

# lease_ok: a lease whose fencing deadline is a minute away.
lease_ok() { psblocks lease --fence-in 60000 --expires-in 62000 --lease-id 694d7a3b1c2e4f10 --etcd-ok; }

# refused PROTO ERRNO WHAT: one connect to SRV4 and one bind(POOL4, 0) of PROTO
# fail, the connect with ERRNO, the bind with EADDRINUSE.
refused() {
	local out
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto "$1" --to $SRV4:8080 --expect-errno "$2" 2>&1) ||
		die "$3: a $1 connect was not refused with $2: $out"
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto "$1" --addr $POOL4:0 --expect-errno EADDRINUSE 2>&1) ||
		die "$3: a $1 bind($POOL4, 0) was not refused with EADDRINUSE: $out"
}

# users POOL LO-HI: ps_blocks_users() of those ports.
users() { "$PSBLOCKS" users --pool "$1" --ports "$2" || die "psblocks users failed"; }

# steps_start NAME STEP...: psattack steps in the test cgroup, in the
# background, until its first pause step; steps_resume NAME N: on past
# the pause it waits at, until its N-th pause (or its end: hold_stop NAME).
steps_start() {
	local name=$1
	shift
	[ -x "$PSATTACK" ] || die "no $PSATTACK: make $PSATTACK"
	stdin_start "$name" "$PSATTACK" steps "$@"
	steps_at "$name" 1
}
steps_resume() {
	local fd
	eval "fd=\$HOLD_FD_$1"
	echo >&"$fd"
	steps_at "$1" "$2"
}
# steps_at NAME N: until NAME reached its N-th pause; fails at once on a
# step whose result was not the one it expected.
steps_at() {
	local i
	for i in $(polls 200); do
		grep -q ' unexpected$' "$TMPD/$1.out" &&
			die "psattack steps ($1): $(grep ' unexpected$' "$TMPD/$1.out") $(cat "$TMPD/$1.err")"
		[ "$(grep -c 'op=pause$' "$TMPD/$1.out")" -ge "$2" ] && return 0
		sleep 0.05
	done
	die "psattack steps ($1) did not reach pause $2: $(tail -n 3 "$TMPD/$1.out" "$TMPD/$1.err")"
}

# step_port NAME SOCK: the local port psattack steps NAME showed for SOCK last.
step_port() { grep " sock=$2 " "$TMPD/$1.out" | tail -n 1 | grep -o 'local=[^ ]*' | sed 's/.*://'; }

# udp_peer PORT: the peer of the connected UDP socket on POOL4:PORT, as ss shows it.
udp_peer() { in_ns "$NS" ss -Hnu state established src "$POOL4:$1" | awk '{ print $NF }'; }


# Attached with no block and no lease: nothing to hand out. Then a lease but
# still no block: the same refusals, counted as exhausted, not fenced.
t_no_blocks_refuse() {
	local st
	dyn_setup
	serve srv --tcp $SRV4:8080 --udp $SRV4:8080
	st=$("$PS" status --json)
	expect_eq "$(printf '%s' "$st" | jq -c '.pools[] | select(.name == "dyn") | [.dynamic, .block_size, .min_blocks, .max_blocks, .first_port, .last_port, .slice_size, .blocks]')" \
		'[true,16,1,8,30000,30159,0,[]]' "status of the dynamic pool"
	expect_eq "$(printf '%s' "$st" | jq -c '.pools[] | select(.name == "web") | [.dynamic, .block_size]')" '[false,null]' \
		"status of the static pool"
	expect_eq "$(printf '%s' "$st" | jq -c '.lease | [.lease_id, .fenced, .etcd_ok, .ttl_left_ms]')" '[null,true,false,0]' \
		"status's lease before any was written"
	refused tcp EADDRNOTAVAIL "no lease"
	refused udp EADDRNOTAVAIL "no lease"
	expect_eq "$(status_field dyn counters.tcp.fenced)" 2 "TCP connect and bind counted as fenced"
	expect_eq "$(status_field dyn counters.udp.fenced)" 2 "UDP connect and bind counted as fenced"
	expect_eq "$(status_field dyn counters.tcp.exhausted)" 0 "exhausted before a lease"

	lease_ok
	refused tcp EADDRNOTAVAIL "a lease, no block"
	refused udp EADDRNOTAVAIL "a lease, no block"
	expect_eq "$(status_field dyn counters.tcp.fenced)" 2 "fenced with a lease"
	expect_eq "$(status_field dyn counters.tcp.exhausted)" 2 "exhausted: a lease but no block"
	expect_eq "$(in_cg "$CG" "$NS" "$PSNET" bind --proto tcp --addr $POOL4:30005 --expect-errno EPERM 2>&1 | grep -c EPERM)" 1 \
		"bind of a port of no block"
	expect_contains "$("$PS" status)" "Dynamic pool dyn: ports 30000-30159 in blocks of 16, 1 to 8 leased: 0 held, 0 draining" "status text"
	expect_contains "$("$PS" status)" "Lease: 694d7a3b1c2e4f10, TTL left" "status text's lease"
	expect_contains "$("$PS" stats)" 'portslice_dynamic_pool_info{pool="dyn",block_size="16",min_blocks="1",max_blocks="8"} 1' "metrics"
	expect_contains "$("$PS" stats)" 'portslice_lease_fenced 0' "metrics' fence"
	expect_contains "$("$PS" stats)" 'portslice_failures_total{pool="dyn",proto="udp",errno="EADDRNOTAVAIL",reason="fenced"} 2' \
		"metrics' fenced failures"
}

# Two held blocks, a future fence: TCP and UDP connects (IPv4 and IPv6)
# land in them, as the kernel shows; a block fills exactly; attach again
# keeps the agent's table.
t_connects_land_in_leased_blocks() {
	local out
	dyn_setup
	psblocks write --pool dyn --size 16 --held 30016-30031 --held 30128-30143
	psblocks write --pool dyn6 --size 16 --held 30000-30015
	lease_ok
	expect_eq "$(status_field dyn slice_size)" 32 "slice size: two blocks of 16"
	serve srv --tcp $SRV4:8080-8081 --udp $SRV4:8080-8081 --tcp "[$SRV6]:8080"
	hold_start c 20 --proto tcp --to $SRV4:8080-8081 --count 20 --echo
	hold_start u 20 --proto udp --to $SRV4:8080-8081 --count 20 --echo
	check_conns "$(hold_output c)" $POOL4 30016 30143 20
	check_conns "$(hold_output u)" $POOL4 30016 30143 20
	expect_ge "$(in_blocks_only $POOL4 30016-30031 30128-30143)" 20 "distinct ports, all in the held blocks (ss)"
	expect_eq "$(kernel_dups)" 0 "4-tuples shared by two sockets (ss)"
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to "[$SRV6]:8080" --count 17 --hold 0 --expect-errno EADDRNOTAVAIL) ||
		die "the 17th IPv6 connect to a one-block pool was not refused: $out"
	check_conns "$out" $POOL6 30000 30015 16
	# attach again: the table is the agent's, not the config's.
	attach
	expect_eq "$(pool_json dyn .blocks)" \
		'[{"first":30016,"last":30031,"draining":false},{"first":30128,"last":30143,"draining":false}]' \
		"blocks after attach again"
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto udp --addr $POOL4:0 --count 3 --expect-ok) || die "bind(pool, 0): $out"
	expect_eq "$(ports_of "$out" | awk '($1 >= 30016 && $1 <= 30031) || ($1 >= 30128 && $1 <= 30143)' | wc -l)" 3 \
		"bind(pool, 0) ports in the held blocks"
	expect_eq "$(status_field dyn counters.tcp.fenced)" 0 "fenced"
	hold_stop c
	hold_stop u
}

# Past the fencing deadline (and with no lease at all): no new port from the
# dynamic pool, counted; a TCP connection made before carries data both ways
# all along; the static pool of the same file goes on as if nothing
# happened; a deadline in the future again lets connects through.
t_fence_refuses_new_ports_only() {
	local out fd fence n
	dyn_setup
	psblocks write --pool dyn --size 16 --held 30000-30015
	lease_ok
	serve srv --tcp $SRV4:8080 --udp $SRV4:8080 --tcp $SRV4B:8080
	hold_start c 1 --proto tcp --to $SRV4:8080 --echo --echo-lines
	check_conns "$(hold_output c)" $POOL4 30000 30015 1
	n=0
	for fence in "--fence-in -1000" "--fenced"; do
		n=$((n + 1))
		psblocks lease $fence --lease-id 694d7a3b1c2e4f10
		expect_eq "$("$PS" status --json | jq -c '.lease | [.fenced, .fence_left_ms, .etcd_ok]')" '[true,0,false]' \
			"status's lease ($fence)"
		refused tcp EADDRNOTAVAIL "$fence"
		refused udp EADDRNOTAVAIL "$fence"
		# The connection from before: still ESTAB, still echoing.
		eval "fd=\$HOLD_FD_c"
		echo >&"$fd"
		wait_count "$TMPD/c.out" "^echo local=$POOL4:300[01][0-9] result=ok$" $n \
			"echo on the connection made before the fence ($fence)"
		expect_eq "$(kernel_tuples tcp $POOL4 30000 30015)" 1 "the connection from before, ESTAB (ss)"
		# The static pool never reads the lease.
		out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4B:8080 --count 3 --echo --hold 0) ||
			die "a connect through the static pool failed while fenced: $out"
		check_conns "$out" $STATIC4 20000 20099 3
	done
	expect_eq "$(status_field dyn counters.tcp.fenced)" 4 "TCP refusals counted as fenced"
	expect_eq "$(status_field dyn counters.udp.fenced)" 4 "UDP refusals counted as fenced"
	expect_eq "$(status_field web counters.tcp.fenced)" 0 "the static pool's fenced counter"
	expect_eq "$(status_field web counters.tcp.allocated)" 6 "the static pool's connects"
	expect_contains "$("$PS" status)" "fenced: yes" "status text while fenced"
	expect_contains "$("$PS" stats)" 'portslice_lease_fenced 1' "metrics while fenced"
	lease_ok
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto udp --to $SRV4:8080 --echo --hold 0) ||
		die "a connect after the deadline moved again failed: $out"
	check_conns "$out" $POOL4 30000 30015 1
	hold_stop c
}

# A block moved to draining: no new ports from it, while its sockets keep
# sending and receiving; ps_blocks_users() counts them (and, with
# reuse_delay, their quarantined tuples after close) and comes to 0.
t_draining_block_keeps_its_sockets() {
	local out fd a=30032-30047 b=30080-30095
	dyn_setup 4s
	psblocks write --pool dyn --size 16 --held $a --held $b
	lease_ok
	serve srv --udp $SRV4:9000-9001 --tcp $SRV4:9000
	# 32 UDP sockets to one destination: every port of both blocks.
	hold_start c 32 --proto udp --to $SRV4:9000 --count 32 --echo --echo-lines
	expect_eq "$(in_blocks_only $POOL4 $a $b)" 32 "ports of both blocks in use (ss)"
	expect_eq "$(users dyn $b)" 16 "users of block $b"
	psblocks write --pool dyn --size 16 --held $a --draining $b
	expect_eq "$(pool_json dyn '[.slice_size, .blocks]')" \
		'[16,[{"first":30032,"last":30047,"draining":false},{"first":30080,"last":30095,"draining":true}]]' \
		"status with a draining block"
	expect_contains "$("$PS" status)" "1 held, 1 draining" "status text"
	# New connects to another destination: only the held block's 16 ports.
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto udp --to $SRV4:9001 --count 17 --hold 0 --expect-errno EADDRNOTAVAIL) ||
		die "the 17th connect with one block held was not refused: $out"
	check_conns "$out" $POOL4 30032 30047 16
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:9000 --count 16 --hold 0) || die "TCP connects: $out"
	check_conns "$out" $POOL4 30032 30047 16
	# The draining block's sockets still carry data both ways.
	eval "fd=\$HOLD_FD_c"
	echo >&"$fd"
	wait_count "$TMPD/c.out" '^echo ' 32 "echoes on the held sockets"
	expect_eq "$(grep '^echo .*result=ok$' "$TMPD/c.out" | grep -c "local=$POOL4:3008\|local=$POOL4:3009")" 16 \
		"echoes on the draining block's sockets"
	expect_eq "$(grep -c '^echo ' "$TMPD/c.out")" 32 "echoes in all"
	expect_eq "$(users dyn $b)" 16 "users of the draining block"
	hold_stop c
	# Closed: their tuples wait out reuse_delay (4 s) in quarantine, then nothing is left.
	expect_ge "$(users dyn $b)" 1 "users of the draining block right after close (quarantined tuples)"
	wait_eq 0 "users of the draining block once the quarantine is over" users dyn $b
	psblocks write --pool dyn --size 16 --held $a
	expect_eq "$(pool_json dyn .blocks)" \
		'[{"first":30032,"last":30047,"draining":false}]' "blocks once the drained one is released"
}

# TCP: a port in TIME_WAIT counts as a use until its stamp runs out; the
# lists are checked (size, overlap, the pool's range).
t_blocks_users_and_lists() {
	local err
	dyn_setup
	psblocks write --pool dyn --size 16 --held 30144-30159
	lease_ok
	serve srv --tcp $SRV4:8080
	# The client closes first: its side of the connection goes to TIME_WAIT.
	in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080 --echo --close-each >/dev/null ||
		die "connect failed"
	wait_field dyn ports_in_use 0 "ports in use after close"
	expect_eq "$(users dyn 30144-30159)" 1 "users: the port the kernel holds in TIME_WAIT"
	expect_eq "$(users dyn 30000-30143)" 0 "users of the other ports"
	err=$("$PSBLOCKS" write --pool dyn --size 16 --held 30128-30143 --held 30136-30151 2>&1) && die "overlapping blocks written"
	expect_contains "$err" "block 30136-30151 overlaps block 30128-30143" "overlap refused"
	err=$("$PSBLOCKS" write --pool dyn --size 16 --held 30144-30159 --draining 30144-30159 2>&1) && die "a block written twice"
	expect_contains "$err" "overlaps" "a block both held and draining"
	err=$("$PSBLOCKS" write --pool dyn --size 16 --held 29984-29999 2>&1) && die "a block outside the range written"
	expect_contains "$err" "block 29984-29999 is outside its ports 30000-30159" "a block outside the range"
	err=$("$PSBLOCKS" write --pool dyn --size 16 --held 30000-30014 2>&1) && die "a block of another size written"
	expect_contains "$err" "block 30000-30014 is not of 16 ports" "a block of another size"
	expect_eq "$(pool_json dyn .blocks)" \
		'[{"first":30144,"last":30159,"draining":false}]' "the table after the refused writes"
}

# Past the fencing deadline every new claim in the blocks is refused and
# counted, whatever path makes it; what sockets had before goes on; a
# renewed lease lets the same sockets through again. Sockets of psattack
# steps get their ports first (explicit binds, bind(pool, 0), a connected
# UDP socket), then, fenced: sendto() of an unconnected socket (a new
# peer and its earlier one: nothing remembers an unconnected socket's
# peers), bind-before-connect, a reconnect of connected UDP (it stays
# connected to its peer, ss), a sendto() to a new peer from a connected
# socket, a bind() of a port nobody binds (TCP, UDP, IPv6). Joining a
# port a bind holds (SO_REUSEPORT: a dial from a TCP listen port, a UDP
# group) is no new claim; the dial's connect() is.
t_fence_refuses_every_new_claim() {
	local out fd p r fenced_steps renewed_steps
	dyn_setup
	psblocks write --pool dyn --size 16 --held 30000-30015
	psblocks write --pool dyn6 --size 16 --held 30000-30015
	lease_ok
	serve srv --tcp $SRV4:8080 --udp $SRV4:8080-8081 --udp "[$SRV6]:8080"
	fenced_steps=(
		"s sendto $SRV4:8081 new expect=EADDRNOTAVAIL" "s sendto $SRV4:8080 again expect=EADDRNOTAVAIL"
		"v sendto [$SRV6]:8080 new expect=EADDRNOTAVAIL"
		"k connect $SRV4:8080 expect=EADDRNOTAVAIL"
		"r connect $SRV4:8081 expect=EADDRNOTAVAIL" "r sendto $SRV4:8081 new expect=EADDRNOTAVAIL"
		"r echo still expect=ok"
		"d tcp4" "d reuseport" "d bind $POOL4:30012 expect=ok" "d connect $SRV4:8080 expect=EADDRNOTAVAIL"
		"q2 udp4" "q2 reuseport" "q2 bind $POOL4:30013 expect=ok")
	renewed_steps=(
		"s sendto $SRV4:8081 after expect=ok" "s wait after expect=ok"
		"v sendto [$SRV6]:8080 after expect=ok" "v wait after expect=ok"
		"k connect $SRV4:8080 expect=ok" "k echo after expect=ok"
		"r connect $SRV4:8081 expect=ok" "r echo after expect=ok"
		"d connect $SRV4:8080 expect=ok" "d echo after expect=ok")
	steps_start s \
		"s udp4" "s bind $POOL4:30010 expect=ok" "s sendto $SRV4:8080 before expect=ok" "s wait before expect=ok" \
		"v udp6" "v bind [$POOL6]:30010 expect=ok" \
		"l tcp4" "l reuseport" "l bind $POOL4:30012 expect=ok" "l listen expect=ok" \
		"q udp4" "q reuseport" "q bind $POOL4:30013 expect=ok" \
		"k tcp4" "k bind $POOL4:0 expect=ok" \
		"r udp4" "r connect $SRV4:8080 expect=ok" "r echo before expect=ok" \
		pause "${fenced_steps[@]}" pause "${renewed_steps[@]}"
	r=$(step_port s r)
	# Flows made before the fence: a TCP connection and a connected UDP socket.
	hold_start c 1 --proto tcp --to $SRV4:8080 --echo --echo-lines
	hold_start u 1 --proto udp --to $SRV4:8080 --echo --echo-lines
	check_conns "$(hold_output c; hold_output u)" $POOL4 30000 30015 2
	# A port no socket uses, for the binds.
	for p in $(seq 30000 30015) none; do
		[ "$(users dyn $p-$p)" = 0 ] && break
	done
	[ "$p" != none ] || die "no unused port in the block"

	psblocks lease --fence-in -1000 --lease-id 694d7a3b1c2e4f10
	expect_eq "$("$PS" status --json | jq -c '.lease.fenced')" true "status's lease"
	steps_resume s 2
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto tcp --addr $POOL4:$p --expect-errno EADDRINUSE) ||
		die "bind($POOL4, $p) of TCP while fenced: $out"
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto udp --addr $POOL4:$p --expect-errno EADDRINUSE) ||
		die "bind($POOL4, $p) of UDP while fenced: $out"
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto udp --addr "[$POOL6]:$p" --expect-errno EADDRINUSE) ||
		die "bind($POOL6, $p) of UDP while fenced: $out"
	expect_eq "$(status_field dyn counters.tcp.fenced)" 3 "TCP refusals counted: bind, bind-before-connect, the dial"
	expect_eq "$(status_field dyn counters.udp.fenced)" 5 "UDP refusals counted: bind, 3 sendto, the reconnect"
	expect_eq "$(status_field dyn6 counters.udp.fenced)" 2 "IPv6 UDP refusals counted: bind, sendto"
	expect_eq "$(status_field dyn counters.udp.bind_in_use) $(status_field dyn counters.udp.conflicts)" "0 0" \
		"refusals counted as something else"
	# What was there before the fence carries data, as the kernel shows.
	eval "fd=\$HOLD_FD_c"
	echo >&"$fd"
	eval "fd=\$HOLD_FD_u"
	echo >&"$fd"
	wait_count "$TMPD/c.out" "^echo local=$POOL4:300[01][0-9] result=ok$" 1 "echo on the TCP connection while fenced"
	wait_count "$TMPD/u.out" "^echo local=$POOL4:300[01][0-9] result=ok$" 1 "echo on the connected UDP socket while fenced"
	expect_eq "$(kernel_tuples tcp $POOL4 30000 30015)" 1 "TCP connections while fenced: the one from before (ss)"
	expect_eq "$(kernel_tuples udp $POOL4 30000 30015)" 2 "connected UDP sockets while fenced: the two from before (ss)"
	expect_eq "$(udp_peer "$r")" "$SRV4:8080" "the peer of the UDP socket whose reconnect was refused (ss)"
	expect_eq "$(status_field dyn tuples.udp)" 2 "UDP claims while fenced: the two from before, kept"

	lease_ok
	steps_resume s 2
	hold_stop s || die "psattack steps after the renewal: $(grep -v 'result=ok' "$TMPD/s.out" | grep -v op=pause) $(cat "$TMPD/s.err")"
	expect_eq "$(grep -c 'op=connect result=ok' "$TMPD/s.out")" 4 "connects: r before, k, r and d after the renewal"
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto tcp --addr $POOL4:$p --expect-ok) || die "bind($POOL4, $p) of TCP renewed: $out"
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto udp --addr $POOL4:$p --expect-ok) || die "bind($POOL4, $p) of UDP renewed: $out"
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto udp --addr "[$POOL6]:$p" --expect-ok) || die "bind($POOL6, $p) renewed: $out"
	expect_eq "$(status_field dyn counters.tcp.fenced) $(status_field dyn counters.udp.fenced)" "3 5" "fenced after the renewal"
	eval "fd=\$HOLD_FD_c"
	echo >&"$fd"
	wait_count "$TMPD/c.out" "^echo local=$POOL4:300[01][0-9] result=ok$" 2 "echo on the TCP connection renewed"
	expect_eq "$(kernel_dups)" 0 "4-tuples shared by two sockets (ss)"
	hold_stop c
	hold_stop u
	expect_eq "$(map_entries ps_sk_state)" 0 "socket records left, refused binds included"
}

# A socket whose bind() of a port portslice admitted and the kernel refused
# (a socket outside the cgroup has the port) holds that port in the maps:
# binding it again, fenced, is no new claim, and succeeds once the other
# socket is gone; another port is refused. Nothing is left after close.
t_fence_lets_a_socket_bind_its_own_port_again() {
	local holder
	dyn_setup
	psblocks write --pool dyn --size 16 --held 30000-30015
	lease_ok
	bg_in - "$NS" "$PSNET" bind --proto udp --addr $POOL4:30007 --hold 60 > "$TMPD/o.out"
	holder=$BG_PID
	wait_line "$TMPD/o.out" 'result=ok' "the socket outside the cgroup did not bind 30007"
	steps_start x "x udp4" "x bind $POOL4:30007 expect=EADDRINUSE" \
		pause "x bind $POOL4:30007 expect=EADDRINUSE" \
		pause "x bind $POOL4:30007 expect=ok" "y udp4" "y bind $POOL4:30008 expect=EADDRINUSE" pause
	expect_eq "$(users dyn 30007-30007)" 1 "users of 30007: the bind the kernel refused"
	psblocks lease --fenced --lease-id 694d7a3b1c2e4f10
	steps_resume x 2
	expect_eq "$(status_field dyn counters.udp.fenced)" 0 "fenced: the second refusal was the kernel's"
	kill "$holder"
	wait "$holder"
	steps_resume x 3
	expect_eq "$(status_field dyn counters.udp.fenced)" 1 "fenced: the bind of another port"
	expect_eq "$(in_ns "$NS" ss -Hnua src $POOL4:30007 | wc -l)" 1 "the socket on its own port again (ss)"
	expect_eq "$(users dyn 30007-30007)" 1 "users of 30007"
	hold_stop x || die "psattack steps: $(cat "$TMPD/x.out" "$TMPD/x.err")"
	wait_eq 0 "users of 30007 after close" users dyn 30007-30007
	expect_eq "$(map_entries ps_sk_state)" 0 "socket records left"
}
