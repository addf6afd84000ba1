# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Resource exhaustion: a full tuple map, and cgroups removed while
# attached. Each must end in a clean error and leave nothing behind.
#
# "A million sockets opened and closed leave the map empty" is
# tests/sock/test_stress.sh:t_million_connects_leave_nothing (not repeated
# here).

PSATTACK=${PSATTACK:-$(dirname "$PSNET")/psattack}

# PS_MAX_TUPLES of include/portslice.h, as the map was created.
max_tuples() {
	bpftool -j map show pinned "$PORTSLICE_PIN_DIR/maps/ps_tuples" | jq -er .max_entries ||
		die "cannot read ps_tuples"
}

# ps_tuples cannot hold another claim: connect() fails with EADDRNOTAVAIL
# and counts map_full (not exhausted); nothing crashes, no tuple sticks,
# and connect() works again once there is room. RLIMIT_NOFILE keeps a
# process far below a million sockets, so the map is pre-filled from user
# space with synthetic claims up to PS_MAX_TUPLES - FREE.
t_tuple_map_full_eaddrnotavail() {
	local max free=5 out ok failed
	std_setup
	attach
	serve srv --tcp $SRV4:8080-8089 --udp $SRV4:8080-8089
	max=$(max_tuples)
	note "ps_tuples max_entries=$max"
	out=$("$PSATTACK" fill --path "$PORTSLICE_PIN_DIR/maps/ps_tuples" --count $((max - free))) ||
		die "pre-filling ps_tuples: $out"
	note "$out"
	expect_match "$out" " entries=$((max - free))$" "ps_tuples after the fill"
	# TCP and connected UDP, held open: exactly FREE of them fit.
	hold_start t 2 --proto tcp --to $SRV4:8080-8089 --count 2 --allow-fail
	hold_start u $((free + 5 - 2)) --proto udp --to $SRV4:8080-8089 --count $((free + 5 - 2)) --allow-fail
	out=$(hold_output t; hold_output u)
	ok=$(printf '%s\n' "$out" | grep -c 'result=ok')
	failed=$(printf '%s\n' "$out" | grep -c 'result=EADDRNOTAVAIL')
	note "with $free free entries: $ok connected, $failed refused"
	expect_eq "$ok" $free "connections that fit"
	expect_eq "$failed" 5 "connections refused with EADDRNOTAVAIL"
	expect_eq "$(printf '%s\n' "$out" | grep -c 'result=')" $((free + 5)) "connect attempts"
	check_conns "$(printf '%s\n' "$out" | grep result=ok)" $POOL4 20000 20999 $free
	expect_eq "$(status_field web counters.udp.map_full)" 5 "map_full (udp)"
	expect_eq "$(status_field web counters.udp.exhausted)" 0 "exhausted (udp): the slice was not the limit"
	# bind(pool, 0) needs no tuple: it still works while the map is full.
	out=$(in_cg "$CG" "$NS" "$PSNET" bind --proto udp --addr $POOL4:0 --expect-ok) || die "bind while full: $out"
	hold_stop t
	hold_stop u
	expect_eq "$(status_field web tuples.total)" 0 "pool tuples after close"
	# The room given back is usable at once.
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080-8089 --count $free --linger0) ||
		die "connect after the sockets closed: $out"
	out=$("$PSATTACK" fill --path "$PORTSLICE_PIN_DIR/maps/ps_tuples" --count $((max - free)) --delete) ||
		die "removing the synthetic claims: $out"
	expect_match "$out" " entries=0$" "ps_tuples after removing the synthetic claims: no stuck tuple"
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto udp --to $SRV4:8080-8089 --count 100) ||
		die "connect with room again: $out"
	check_conns "$out" $POOL4 20000 20999 100
	expect_eq "$(status_field web tuples.total)" 0 "tuples at the end"
}

# ids_of_pins: "link ID prog ID" of every link pinned under the pin dir,
# and "map ID" of every pinned map.
ids_of_pins() {
	local f
	for f in $(find "$PORTSLICE_PIN_DIR/cgroups" -type f 2>/dev/null); do
		bpftool -j link show pinned "$f" | jq -r '"link \(.id)\nprog \(.prog_id)"'
	done
	for f in "$PORTSLICE_PIN_DIR"/maps/*; do
		bpftool -j map show pinned "$f" | jq -r '"map \(.id)"'
	done
}

# wait_gone IDS: every object listed is freed by the kernel (asynchronously).
wait_gone() {
	local kind id left i
	for i in $(polls 100); do
		left=""
		while read -r kind id; do
			[ -n "$id" ] || continue
			bpftool "$kind" show id "$id" >/dev/null 2>&1 && left+=" $kind:$id"
		done <<< "$1"
		[ -z "$left" ] && return 0
		sleep 0.1
	done
	die "kernel objects still alive after detach:$left"
}

# A cgroup removed while attached (its last process gone, sockets of it
# still open): detach by its old path leaves no pin, link, program or map.
t_removed_cgroup_leaves_nothing_after_detach() {
	local ids out other i
	std_setup
	attach
	serve srv --tcp $SRV4:8080 --udp $SRV4:8080
	ids=$(ids_of_pins)
	note "objects of the attachment: $(echo $ids)"
	expect_ge "$(printf '%s\n' "$ids" | grep -c '^link ')" 1 "pinned links"
	# Sockets made in the cgroup, still open when it goes away.
	hold_start h 20 --proto udp --to $SRV4:8080 --count 20
	check_conns "$(hold_output h)" $POOL4 20000 20999 20
	other=$(cg_create other)
	echo "$HOLD_PID_h" > "$other/cgroup.procs" 2>/dev/null
	for p in $(cat "$CG/cgroup.procs"); do echo "$p" > "$other/cgroup.procs"; done
	rmdir "$CG" || die "rmdir $CG while attached"
	out=$("$PS" status --json)
	expect_match "$out" '"cgroup_exists": ?false' "status of the removed cgroup"
	# Its sockets still hold claims: it drains, keeping only the programs that give back.
	"$PS" detach --cgroup "$CG" >/dev/null || die "detach of the removed cgroup"
	expect_eq "$(ls "$PORTSLICE_PIN_DIR"/cgroups/* | LC_ALL=C sort | tr '\n' ' ')" "ps_sock_ops ps_sock_release " \
		"links of the draining attachment"
	hold_stop h
	for i in $(polls 50); do
		[ "$(status_field web tuples.total)" = 0 ] && break
		sleep 0.1
	done
	expect_eq "$(status_field web tuples.total)" 0 "claims once its sockets closed"
	# Drained: the next detach removes it, and with it every pin.
	"$PS" detach --cgroup "$CG" >/dev/null || die "second detach of the removed cgroup"
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "pins left: $(find "$PORTSLICE_PIN_DIR")"
	wait_gone "$ids"
	expect_eq "$("$PS" status --json | jq -r '.attachments | length')" 0 "attachments"
}

# Many cgroups attached and removed in a row, each detached by its path:
# no attachment, pin or link accumulates.
t_cgroups_churn_leaves_nothing() {
	local i cg ids="" out
	std_setup
	for i in $(seq 1 8); do
		cg=$(cg_create "churn$i")
		"$PS" attach --cgroup "$cg" --config "$CONF" --host host-a >/dev/null || die "attach $cg"
		in_cg "$cg" "$NS" "$PSNET" bind --proto udp --addr $POOL4:0 --expect-ok >/dev/null || die "bind in $cg"
		[ $((i % 4)) -eq 0 ] && ids+=$(ids_of_pins)$'\n'
		rmdir "$cg" || die "rmdir $cg"
	done
	expect_eq "$("$PS" status --json | jq -r '.attachments | length')" 8 "attachments of removed cgroups"
	for i in $(seq 1 8); do
		"$PS" detach --cgroup "$CG2/$TAG-churn$i" >/dev/null || die "detach churn$i"
	done
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "pins left: $(find "$PORTSLICE_PIN_DIR")"
	wait_gone "$(printf '%s\n' "$ids" | sort -u)"
}
