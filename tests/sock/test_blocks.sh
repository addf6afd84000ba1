# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Slices of several blocks (issue 17; README "Blocks"): connects land only in
# the listed blocks, a slice of blocks fills exactly, and a block dropped
# from the config drains: no new ports from it, its sockets keep theirs, and
# it goes once they are closed.

# Three blocks of 16: 40 connections to 4 destinations, every port in a block.
t_connects_land_in_blocks() {
	local out
	std_setup "[20000-20015, 20100-20115, 20200-20215]" "[20000-20015, 20300-20315]"
	attach
	expect_eq "$(status_field web slice_size)" 48 "slice size (ports of the held blocks)"
	expect_eq "$("$PS" status --json | jq -c '.pools[] | select(.name == "web") | .blocks')" \
		'[{"first":20000,"last":20015,"draining":false},{"first":20100,"last":20115,"draining":false},{"first":20200,"last":20215,"draining":false}]' \
		"status --json blocks"
	serve srv --tcp "$SRV4:8080-8083" --udp "$SRV4:8080-8083"
	hold_start c 40 --proto tcp --to "$SRV4:8080-8083" --count 40 --echo
	hold_start u 40 --proto udp --to "$SRV4:8080-8083" --count 40 --echo
	out=$(hold_output c)
	check_conns "$out" $POOL4 20000 20215 40
	expect_ge "$(in_blocks_only $POOL4 20000-20015 20100-20115 20200-20215)" 40 "distinct ports in the blocks (ss)"
	expect_eq "$(kernel_dups)" 0 "4-tuples shared by two sockets (ss)"
	# The ports are spread over the blocks: each gets some of 40 picks out of 48 ports.
	for b in 200 201 202; do
		expect_ge "$(printf '%s\n' "$out" | grep -c "local=$POOL4:$b")" 1 "connections in block ${b}00"
	done
	hold_stop c
	hold_stop u
	serve srv6 --tcp "[$SRV6]:8080"
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to "[$SRV6]:8080" --count 32 --hold 0)
	check_conns "$out" $POOL6 20000 20315 32
	expect_eq "$(printf '%s\n' "$out" | grep -c "local=\[$POOL6\]:2000\|local=\[$POOL6\]:2001\|local=\[$POOL6\]:203[01]")" 32 \
		"IPv6 connections in the blocks 20000-20015 and 20300-20315"
}

# A two-block slice fills exactly: 2 x 10 tuples to one destination, then
# EADDRNOTAVAIL; binds outside the blocks (between them too) are refused.
fill() {
	local proto=$1 out
	std_setup "[20000-20009, 20100-20109]"
	attach
	serve srv --$proto $SRV4:8080
	hold_start c 21 --proto $proto --to $SRV4:8080 --count 21 --allow-fail
	out=$(hold_output c)
	expect_eq "$(printf '%s\n' "$out" | grep -c 'result=ok')" 20 "$proto connections to one destination"
	expect_eq "$(printf '%s\n' "$out" | tail -n 1 | grep -o 'result=[A-Z]*')" "result=EADDRNOTAVAIL" "the 21st connect"
	expect_eq "$(in_blocks_only $POOL4 20000-20009 20100-20109)" 20 "distinct ports in the blocks (ss)"
	expect_eq "$(status_field web "counters.$proto.exhausted")" 1 "exhausted counter"
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto $proto --addr $POOL4:20050 --expect-errno EPERM 2>&1) ||
		die "a bind between the blocks was not refused with EPERM: $out"
	hold_stop c
}
t_two_blocks_fill_exactly_tcp() { fill tcp; }
t_two_blocks_fill_exactly_udp() { fill udp; }

# attach again with a block left out of the config: while sockets hold its
# ports it drains (no new ports, its sockets and its ports' binds and sends
# still accepted); once they are gone the next attach releases it.
t_dropped_block_drains() {
	local out conf2=$TMPD/fleet2.yaml
	std_setup "[20000-20009, 20100-20109]"
	attach
	serve srv --tcp $SRV4:8080-8081 --udp $SRV4:9000
	hold_start c 20 --proto tcp --to $SRV4:8080 --count 20 --echo
	expect_eq "$(in_blocks_only $POOL4 20000-20009 20100-20109)" 20 "ports of both blocks in use"
	sed 's/\[20000-20009, 20100-20109\]/[20000-20009]/' "$CONF" > "$conf2"
	"$PS" attach --cgroup "$CG" --config "$conf2" --host host-a >/dev/null || die "attach without the block failed"
	expect_eq "$("$PS" status --json | jq -c '.pools[] | select(.name == "web") | [.slice_size, .blocks]')" \
		'[10,[{"first":20000,"last":20009,"draining":false},{"first":20100,"last":20109,"draining":true}]]' \
		"status after the block was dropped"
	expect_contains "$("$PS" status)" "Blocks of web: 20000-20009, 20100-20109 (draining)" "status text"
	# New connects (another destination) only get ports of the held block.
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8081 --count 11 --hold 0 --expect-errno EADDRNOTAVAIL) ||
		die "the 11th connect to a new destination was not refused: $out"
	check_conns "$out" $POOL4 20000 20009 10
	# The draining block's ports are still the slice's: a send from one is accepted.
	out=$(in_cg "$CG" "$NS" "$PSNET" sendto --to $SRV4:9000 --bind $POOL4:20105 --expect-ok) ||
		die "a datagram from a draining block's port was refused: $out"
	out=$(in_cg "$CG" "$NS" "$PSNET" sendto --to $SRV4:9000 --bind $POOL4:20150 --expect-errno EPERM) ||
		die "a datagram from outside every block was accepted: $out"
	# The held connections are all still there, still claimed.
	expect_eq "$(kernel_tuples tcp $POOL4 20000 20109)" 20 "held connections still ESTAB (ss)"
	expect_eq "$(status_field web tuples.tcp)" 20 "claims of the held connections"
	hold_stop c
	wait_field web ports_in_use 0 "ports in use after close"
	"$PS" attach --cgroup "$CG" --config "$conf2" --host host-a >/dev/null || die "attach after the close failed"
	expect_eq "$("$PS" status --json | jq -c '.pools[] | select(.name == "web") | .blocks')" \
		'[{"first":20000,"last":20009,"draining":false}]' "blocks once the drained block's sockets closed"
	out=$(in_cg "$CG" "$NS" "$PSNET" sendto --to $SRV4:9000 --bind $POOL4:20105 --expect-errno EPERM) ||
		die "a datagram from a released block's port was accepted: $out"
}

# The block table is a map update: attach again with a block added, and the
# same programs (same ids) hand out its ports.
t_block_added_without_reload() {
	local before after out conf2=$TMPD/fleet2.yaml
	std_setup "[20000-20004]"
	attach
	before=$("$PS" status --json | jq -c '[.attachments[].programs[]?.prog_id]')
	expect_ne "$before" "[]" "program ids in status"
	sed 's/\[20000-20004\]/[20000-20004, 20500-20504]/' "$CONF" > "$conf2"
	"$PS" attach --cgroup "$CG" --config "$conf2" --host host-a >/dev/null || die "attach with a block more failed"
	after=$("$PS" status --json | jq -c '[.attachments[].programs[]?.prog_id]')
	expect_eq "$after" "$before" "program ids (no reload)"
	serve srv --tcp $SRV4:8080
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080 --count 11 --hold 0 --expect-errno EADDRNOTAVAIL) ||
		die "the 11th connect was not refused: $out"
	expect_eq "$(printf '%s\n' "$out" | grep -c "local=$POOL4:2050")" 5 "connections in the added block"
}

# Pins of layout 3 (no block table) are refused with the layout's message
# and steps, not a missing map's (README "Upgrading").
t_layout3_pins_refused() {
	local err
	std_setup
	attach
	rm -f "$PORTSLICE_PIN_DIR/maps/ps_blocks" "$PORTSLICE_PIN_DIR/maps/ps_blocks_gen"
	bpftool map update pinned "$PORTSLICE_PIN_DIR/maps/ps_meta" key 0 0 0 0 value 3 0 0 0 0 0 0 0 ||
		die "bpftool map update failed"
	err=$("$PS" status 2>&1 >/dev/null) && die "status read pins of layout 3"
	expect_match "$err" "have layout version 3, this portslice reads version 4: their maps cannot be carried over" "refusal of status"
	err=$("$PS" attach --cgroup "$CG" --config "$CONF" --host host-a 2>&1 >/dev/null) && die "attach accepted pins of layout 3"
	expect_match "$err" "have layout version 3, this portslice reads version 4" "refusal of attach"
}

# Blocks of an odd size (5 x 7 ports): the walk's carry and wrap visit every
# port once, for connect() (35 tuples to one destination) and for
# bind(pool, 0) (35 whole ports), and nothing outside the blocks.
t_odd_blocks_visit_every_port() {
	local out slice="[20000-20006, 20100-20106, 20200-20206, 20300-20306, 20400-20406]"
	std_setup "$slice"
	attach
	serve srv --udp $SRV4:8080
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto udp --to $SRV4:8080 --count 36 --hold 0 --expect-errno EADDRNOTAVAIL) ||
		die "the 36th connect to one destination was not refused: $out"
	expect_eq "$(printf '%s\n' "$out" | grep 'result=ok' | grep -o 'local=[^ ]*' | sort -u |
		grep -cE ":20[0-4]0[0-6]$")" 35 "distinct ports, all in the blocks"
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto tcp --addr $POOL4:0 --count 36 --expect-errno EADDRINUSE) ||
		die "the 36th bind(pool, 0) was not refused: $out"
	expect_eq "$(printf '%s\n' "$out" | grep 'result=ok' | grep -o 'local=[^ ]*' | sort -u |
		grep -cE ":20[0-4]0[0-6]$")" 35 "distinct bound ports, all in the blocks"
}
