# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Many processes and threads at once: no two sockets ever share a 4-tuple
# (checked from the kernel's own table while they run), and every claim is
# given back.

# watch_dups: in the background, dump the kernel's socket table until told
# to stop, and record every duplicate 4-tuple it sees twice in a row.
watch_dups() {
	: > "$TMPD/watch.out"
	(
		while [ ! -e "$TMPD/watch.stop" ]; do
			in_ns "$NS" "$PSNET" dupcheck --family 4 --confirm >> "$TMPD/watch.out" 2>&1
			sleep 0.2
		done
	) &
	WATCH_PID=$!
	_pids+=($WATCH_PID)
}

watch_stop() {
	touch "$TMPD/watch.stop"
	wait "$WATCH_PID"
	local dumps dups
	dumps=$(grep -c '^sockets=' "$TMPD/watch.out")
	dups=$(grep -o 'dup_tuples=[0-9]*' "$TMPD/watch.out" | awk -F= '{ s += $2 } END { print s + 0 }')
	note "independent kernel table dumps during the run: $dumps, duplicates seen: $dups"
	expect_ge "$dumps" 1 "kernel table dumps while the stress ran"
	expect_eq "$dups" 0 "duplicate 4-tuples in the kernel's table"
}

# stress CONNECTS UDP_PERCENT PROCS THREADS BATCH [PSNET_ARGS...]
stress() {
	local out
	out=$(in_cg "$CG" "$NS" "$PSNET" stress --connects "$1" --udp-percent "$2" --procs "$3" --threads "$4" \
		--batch "$5" --to $SRV4:8000-8099 --expect-addr $POOL4 --expect-range 20000-20999 "${@:6}")
	local rc=$?
	note "$out"
	if [ $rc -ne 0 ]; then
		# Which side refused: portslice's counters, or (bound and allocated) the kernel.
		note "tcp counters: $(status_field web counters.tcp | jq -c .)"
		note "udp counters: $(status_field web counters.udp | jq -c .)"
		die "stress run failed: $out"
	fi
	expect_match "$out" " dup_tuples=0 " "stress summary"
	expect_match "$out" " failed=0 " "stress summary"
	expect_match "$out" " out_of_range=0 " "stress summary"
	STRESS_OUT=$out
}

# Every claim is given back: the map is empty and the counters balance.
# A closed socket's release can trail its process's exit (the kernel may
# defer the last fput), so the map gets a few seconds to drain.
#
# One exception, the kernel's and not portslice's: a UDP socket closed
# without its sock_release program running keeps its claim (seen about once
# in 10^6 to 10^8 UDP sockets, in instrumented builds under load: CI once
# after 900,000 connects; never for TCP, whose state callback gives back).
# Such an orphan is told apart from a bug by the kernel's view and by its
# record: no socket in the namespace has its cookie any more (ss), and its
# record still holds the claim, so no release ever ran for it. At most one
# per run is allowed, and reported; a claim left any other way fails. The
# README lists it under Limits.
#
# expect_no_leak unbalanced: skip allocated == released, for runs whose
# sockets also claim tuples after bind(pool, 0) or a reconnect (released,
# but not counted as allocated, which counts slice searches only).
expect_no_leak() {
	local alloc rel left i balance=${1:-balanced} orphans=0 orphan_udp=0 cookie rec
	for i in $(polls 50); do
		left=$(status_field web tuples.total)
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	if [ "$left" != 0 ]; then
		note "claims left: $(bpftool -j map dump pinned "$PORTSLICE_PIN_DIR/maps/ps_tuples" | head -c 3000)"
		note "kernel sockets: $(in_ns "$NS" ss -tanu | grep -v 'LISTEN\|UNCONN' | head -n 20)"
		note "sockstat: $(in_ns "$NS" cat /proc/net/sockstat | tr '\n' ' ')"
		note "psnet processes: $(pgrep -a psnet | tr '\n' ';')"
		note "records: $(map_entries ps_sk_state), ports in use: $(status_field web ports_in_use), live: $(bpftool -j map dump pinned "$PORTSLICE_PIN_DIR/maps/ps_live" | jq -c '[.[].formatted]')"
		for cookie in $(bpftool -j map dump pinned "$PORTSLICE_PIN_DIR/maps/ps_tuples" | jq -r '.[].formatted.value.cookie'); do
			rec=$(bpftool -j map dump pinned "$PORTSLICE_PIN_DIR/maps/ps_sk_state" |
				jq -c --argjson c "$cookie" '[.[] | select(.formatted.key == $c) | .formatted.value][0]')
			note "claimant $cookie: record $rec"
			in_ns "$NS" ss -uaen 2>/dev/null | grep -q " sk:$(printf %x "$cookie") " && continue
			[ "$(jq -r '.tuple.proto' <<<"$rec")" = 17 ] || continue
			[ $(( $(jq -r '.flags' <<<"$rec") & 1 )) = 1 ] || continue
			orphans=$((orphans + 1))
		done
		[ "$orphans" = 0 ] || note "ORPHAN: $orphans UDP socket(s) closed without their release program running (the kernel's; see the comment above)"
	fi
	note "counters: $("$PS" status --json | jq -c '.pools[0].counters')"
	expect_le "$orphans" 1 "UDP sockets whose release program never ran"
	expect_eq "$left" "$orphans" "tuples left in the map (orphans: $orphans)"
	expect_eq "$(map_entries ps_sk_state)" "$orphans" "socket records left"
	expect_le "$(status_field web ports_in_use)" "$orphans" "slice ports still marked in use"
	for proto in tcp udp; do
		alloc=$(status_field web counters.$proto.allocated)
		rel=$(status_field web counters.$proto.released)
		[ "$proto" = udp ] && orphan_udp=$orphans || orphan_udp=0
		[ "$balance" = unbalanced ] || expect_eq "$((rel + orphan_udp))" "$alloc" "$proto claims released (and orphans) against allocated"
		expect_eq "$(status_field web counters.$proto.release_lost)" 0 "$proto releases that found their claim gone"
	done
}

t_stress_100k_tcp_udp_no_duplicates() {
	std_setup
	attach
	serve srv --tcp $SRV4:8000-8099 --udp $SRV4:8000-8099
	watch_dups
	stress 100000 30 4 2 64
	watch_stop
	local tcp udp
	tcp=$(printf '%s\n' "$STRESS_OUT" | grep -o ' tcp=[0-9]*' | cut -d= -f2)
	udp=$(printf '%s\n' "$STRESS_OUT" | grep -o ' udp=[0-9]*' | cut -d= -f2)
	expect_eq "$((tcp + udp))" 100000 "successful connects"
	expect_eq "$(status_field web counters.tcp.allocated)" "$tcp" "TCP allocations"
	expect_eq "$(status_field web counters.udp.allocated)" "$udp" "UDP allocations"
	expect_no_leak
}

# Held sockets: what portslice reports is what the kernel holds.
t_status_matches_kernel_under_load() {
	std_setup
	attach
	serve srv --tcp $SRV4:8000-8099 --udp $SRV4:8000-8099
	hold_start t 3000 --proto tcp --to $SRV4:8000-8099 --count 3000
	hold_start u 2000 --proto udp --to $SRV4:8000-8099 --count 2000
	expect_eq "$(kernel_tuples tcp $POOL4 20000 20999)" 3000 "TCP sockets in the slice (ss)"
	expect_eq "$(kernel_tuples udp $POOL4 20000 20999)" 2000 "connected UDP sockets in the slice (ss)"
	expect_eq "$(status_field web tuples.tcp)" 3000 "TCP tuples in status"
	expect_eq "$(status_field web tuples.udp)" 2000 "UDP tuples in status"
	expect_eq "$(kernel_dups)" 0 "shared 4-tuples (ss)"
	hold_stop t
	hold_stop u
	expect_eq "$(status_field web tuples.total)" 0 "tuples after close"
}

t_million_connects_leave_nothing() {
	std_setup
	attach
	serve srv --tcp $SRV4:8000-8099 --udp $SRV4:8000-8099
	stress 900000 100 2 2 128
	stress 100000 0 2 2 64
	expect_eq "$(status_field web counters.udp.allocated)" 900000 "UDP allocations"
	expect_eq "$(status_field web counters.tcp.allocated)" 100000 "TCP allocations"
	expect_no_leak
}

# Every way of making a socket the tests of tests/sock/test_paths.sh pin
# down, at once (issue 11): plain connect(), bind(pool, 0) with
# IP_BIND_ADDRESS_NO_PORT then connect(), device-bound sockets
# (SO_BINDTODEVICE lo), connected UDP sockets that sendto() another
# destination, and UDP sockets that disconnect, sendto() and reconnect.
# Sends and reconnects onto another socket's tuple are refused (counted as
# refused, not failed); no duplicate tuple in the kernel's table (which
# sees device-bound sockets), nothing out of the slice, nothing leaks.
t_stress_socket_idioms_no_duplicates() {
	std_setup
	attach
	serve srv --tcp $SRV4:8000-8099 --udp $SRV4:8000-8099
	watch_dups
	stress 50000 50 4 2 64 --mix plain,bindnoport,device,sendto,disconnect
	watch_stop
	local ok
	ok=$(printf '%s\n' "$STRESS_OUT" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(tcp|udp)=/) { split($i, a, "="); s += a[2] } } END { print s + 0 }')
	expect_eq "$ok" 50000 "successful connects"
	expect_no_leak unbalanced
}

# bind(pool, 0) at a high rate, for the port at bind() (wget --bind-address,
# Python's source_address) and with IP_BIND_ADDRESS_NO_PORT (which a UDP
# socket also gets at bind()): every bind gets a port the kernel takes. A port given back is still in the
# kernel's bind table for a moment after the release programs ran, and a
# bind that landed on it got EADDRINUSE (about once in 70,000 UDP binds).
t_stress_bind_port0_churn() {
	std_setup
	attach
	serve srv --tcp $SRV4:8000-8099 --udp $SRV4:8000-8099
	watch_dups
	stress 200000 50 4 2 64 --mix bind0,bindnoport
	watch_stop
	expect_eq "$(status_field web counters.tcp.exhausted)" 0 "TCP binds refused for want of a port"
	expect_eq "$(status_field web counters.udp.exhausted)" 0 "UDP binds refused for want of a port"
	expect_no_leak unbalanced
}
