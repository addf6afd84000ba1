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
