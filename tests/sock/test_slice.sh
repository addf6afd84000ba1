# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Real sockets in a fresh namespace and test cgroup: every connection of the
# cgroup leaves from the pool address with a port of the slice, 4-tuples
# are unique, and the kernel's socket table (ss) agrees with portslice.

# held_in_slice PROTO FAMILY: COUNT held connections, checked from psnet's
# view, the kernel's (ss) and portslice's (status), then given back.
held_in_slice() {
	local proto=$1 pool=$2 srv=$3 poolname=$4 count=200 out
	std_setup
	attach
	serve srv --$proto "$srv:8080-8083"
	hold_start c $count --proto "$proto" --to "$srv:8080-8083" --count $count --echo
	out=$(hold_output c)
	check_conns "$out" "$pool" 20000 20999 $count
	expect_eq "$(kernel_tuples "$proto" "$pool" 20000 20999)" $count "kernel sockets in the slice (ss)"
	expect_eq "$(kernel_dups)" 0 "4-tuples shared by two sockets (ss)"
	expect_eq "$(status_field "$poolname" "tuples.$proto")" $count "tuples in portslice status"
	hold_stop c
	expect_eq "$(status_field "$poolname" "tuples.total")" 0 "tuples after close"
	expect_eq "$(status_field "$poolname" "counters.$proto.released")" $count "released claims"
}

t_tcp4_ports_in_slice() { held_in_slice tcp $POOL4 $SRV4 web; }
t_tcp6_ports_in_slice() { held_in_slice tcp $POOL6 "[$SRV6]" web6; }
t_udp4_connected_ports_in_slice() { held_in_slice udp $POOL4 $SRV4 web; }
t_udp6_connected_ports_in_slice() { held_in_slice udp $POOL6 "[$SRV6]" web6; }

# A 10-port slice carries 30 connections to 3 destinations: the tuple, not
# the port, is what must be unique.
t_more_connections_than_ports() {
	local out ports
	std_setup 20000-20009
	attach
	serve srv --tcp $SRV4:8080-8082
	hold_start c 30 --proto tcp --to $SRV4:8080-8082 --count 30
	out=$(hold_output c)
	check_conns "$out" $POOL4 20000 20009 30
	ports=$(printf '%s\n' "$out" | grep -o 'local=[^ ]*' | sort -u | wc -l)
	expect_eq "$ports" 10 "distinct source ports"
	expect_eq "$(kernel_dups)" 0 "shared 4-tuples (ss)"
	# Every tuple of the slice is taken now, to every destination.
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8081 --count 1 --expect-errno EADDRNOTAVAIL) ||
		die "a 31st connection was not refused with EADDRNOTAVAIL: $out"
	hold_stop c
}

exhaust() {
	local proto=$1 out
	std_setup 20000-20009
	attach
	serve srv --$proto $SRV4:8080
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto $proto --to $SRV4:8080 --count 11 --hold 0 --expect-errno EADDRNOTAVAIL) ||
		die "the 11th $proto connect to one destination did not fail with EADDRNOTAVAIL: $out"
	check_conns "$out" $POOL4 20000 20009 10
	expect_eq "$(status_field web "counters.$proto.exhausted")" 1 "exhausted counter"
	expect_eq "$(status_field web "counters.$proto.allocated")" 10 "allocated counter"
}

t_exhaustion_tcp_eaddrnotavail() { exhaust tcp; }
t_exhaustion_udp_eaddrnotavail() { exhaust udp; }

# Closed TCP connections linger in TIME_WAIT at the side that closed first;
# portslice must never hand those tuples out again while they do.
t_time_wait_tuples_not_reused() {
	local out tw
	std_setup 20000-20003
	attach
	serve srv --tcp $SRV4:8080-8081
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080 --count 4 --echo)
	check_conns "$out" $POOL4 20000 20003 4
	sleep 0.2
	tw=$(in_ns "$NS" ss -Hant state time-wait src $POOL4 | wc -l)
	expect_eq "$tw" 4 "TIME_WAIT sockets on the pool address"
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080 --count 1 --expect-errno EADDRNOTAVAIL) ||
		die "a tuple in TIME_WAIT was handed out again: $out"
	expect_ge "$(status_field web counters.tcp.kernel_held)" 4 "candidates skipped because the kernel holds them"
	# Another destination still has every port.
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8081 --count 4 --echo)
	check_conns "$out" $POOL4 20000 20003 4
}

t_outside_cgroup_untouched() {
	local out
	std_setup
	attach
	serve srv --tcp $SRV4:8080 --udp $SRV4:8080
	for proto in tcp udp; do
		out=$(in_ns "$NS" "$PSNET" connect --proto $proto --to $SRV4:8080 --count 20 --echo)
		expect_eq "$(printf '%s\n' "$out" | grep -c result=ok)" 20 "$proto connections outside the cgroup"
		expect_nomatch "$out" "local=$POOL4:" "$proto sockets outside the cgroup"
	done
	expect_eq "$(status_field web counters.tcp.allocated)" 0 "tcp allocations"
	expect_eq "$(status_field web counters.udp.allocated)" 0 "udp allocations"
}

t_detach_restores_default() {
	local out
	std_setup
	attach
	serve srv --tcp $SRV4:8080
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080 --count 5 --echo)
	check_conns "$out" $POOL4 20000 20999 5
	"$PS" detach --cgroup "$CG" >/dev/null || die "detach failed"
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "pins left after the last detach: $(ls -R "$PORTSLICE_PIN_DIR")"
	expect_eq "$(bpftool cgroup show "$CG" | grep -c .)" 0 "programs left on the cgroup"
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080 --count 5 --echo)
	expect_eq "$(printf '%s\n' "$out" | grep -c result=ok)" 5 "connections after detach"
	expect_nomatch "$out" "local=$POOL4:" "sockets after detach"
}

t_attach_twice_one_program_per_hook() {
	local out
	std_setup
	attach
	attach
	expect_eq "$(bpftool cgroup show "$CG" | grep -c connect4)" 1 "connect4 programs on the cgroup"
	serve srv --udp $SRV4:8080
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto udp --to $SRV4:8080 --count 20 --echo)
	check_conns "$out" $POOL4 20000 20999 20
	expect_eq "$(status_field web counters.udp.allocated)" 20 "one allocation per socket"
}

# A cgroup detached while one of its sockets holds a claim drains: its new
# sockets are no longer placed, but its release programs stay until that
# socket gives back, so nothing leaks and nothing is taken over on a timer.
# The next detach removes the drained attachment, and with it every pin.
detached_drains() {
	local proto=$1 out cg2 i
	std_setup 20000-20000
	cg2=$(cg_create second)
	attach
	"$PS" attach --cgroup "$cg2" --config "$CONF" --host host-a >/dev/null || die "attach $cg2"
	serve srv --$proto $SRV4:8080
	hold_start c 1 --proto $proto --to $SRV4:8080 --count 1 --linger0
	check_conns "$(hold_output c)" $POOL4 20000 20000 1
	out=$("$PS" detach --cgroup "$CG") || die "detach $CG"
	expect_match "$out" "1 of its sockets still hold claims" "detach of a cgroup with an open socket"
	expect_eq "$("$PS" status --json | jq -r --arg cg "$CG" '.attachments[] | select(.cgroup == $cg) | .draining')" true \
		"status of the detached cgroup"
	expect_eq "$(status_field web "tuples.$proto")" 1 "claims of the detached cgroup's open socket"
	expect_eq "$(ls "$PORTSLICE_PIN_DIR/cgroups/$(stat -c %i "$CG")" | tr '\n' ' ')" "ps_sock_ops ps_sock_release " \
		"links the draining cgroup keeps"
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto $proto --to $SRV4:8080 --count 1 --hold 0.1 --echo)
	expect_nomatch "$out" "local=$POOL4:" "a new socket of the detached cgroup"
	hold_stop c
	for i in $(polls 50); do
		[ "$(status_field web tuples.total)" = 0 ] && break
		sleep 0.1
	done
	expect_eq "$(status_field web tuples.total)" 0 "claims once the socket closed"
	expect_eq "$(status_field web "counters.$proto.release_lost")" 0 "releases that found their claim gone"
	out=$(in_cg "$cg2" "$NS" "$PSNET" connect --proto $proto --to $SRV4:8080 --count 1 --linger0 --hold 0.2 --echo)
	check_conns "$out" $POOL4 20000 20000 1
	expect_eq "$(status_field web ports_in_use)" 0 "slice ports in use"
	"$PS" detach --cgroup "$cg2" >/dev/null || die "detach $cg2"
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "pins left after the last detach: $(find "$PORTSLICE_PIN_DIR" | head)"
}

t_detached_cgroup_drains_udp() { detached_drains udp; }
t_detached_cgroup_drains_tcp() { detached_drains tcp; }

# A port is shared by two destinations only once every port of the slice
# has a user: while unused ports remain, a new connection gets one of them
# (one NAT mapping per port where possible). Then sharing takes over, and
# the kernel's table still has every 4-tuple once.
unused_ports_first() {
	local proto=$1 a b c shared
	std_setup 20000-20009
	attach
	serve srv --$proto $SRV4:8080-8081
	hold_start a 5 --proto $proto --to $SRV4:8080 --count 5
	hold_start b 5 --proto $proto --to $SRV4:8081 --count 5
	a=$(ports_of "$(hold_output a)") b=$(ports_of "$(hold_output b)")
	expect_eq "$(printf '%s\n%s\n' "$a" "$b" | sort -u | wc -l)" 10 "distinct ports of 5 + 5 connections to two destinations"
	hold_start c 5 --proto $proto --to $SRV4:8080 --count 5
	c=$(ports_of "$(hold_output c)")
	check_conns "$(hold_output c)" $POOL4 20000 20009 5
	shared=$(printf '%s\n' "$c" | grep -cxF -f <(printf '%s\n' "$b"))
	expect_eq "$shared" 5 "ports of the third hold that destination 8081's sockets also use"
	expect_eq "$(kernel_tuples $proto $POOL4 20000 20009)" 15 "kernel sockets in the slice (ss)"
	expect_eq "$(kernel_dups)" 0 "4-tuples shared by two sockets (ss)"
	hold_stop c
	hold_stop b
	hold_stop a
	expect_eq "$(status_field web tuples.total)" 0 "claims left"
}

t_unused_ports_before_shared_tcp() { unused_ports_first tcp; }
t_unused_ports_before_shared_udp() { unused_ports_first udp; }
