# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# What status says blocks connect(): TIME_WAIT tuples from the kernel's own
# table (sock_diag), and each destination's real headroom; checked against
# connect() itself. Sourced by tests/run.sh.

# busiest FILTER [ARGS...]: a jq filter over pool web in status --json ARGS...
busiest() {
	"$PS" status --json "${@:2}" | jq -c --arg pool web ".pools[] | select(.name == \$pool) | $1"
}

# closed_setup N: a 10-port slice, attached, servers on 8080-8081, and N
# connections to 8080 closed by the client (their tuples in TIME_WAIT).
closed_setup() {
	local out
	std_setup 20000-20009
	attach
	serve srv --tcp $SRV4:8080-8081
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080 --count "$1" --echo)
	check_conns "$out" $POOL4 20000 20009 "$1"
}

# Ten connections closed by the client leave ten TIME_WAIT tuples in a
# 10-port slice: the destination has no port left, though none is in use.
t_status_counts_time_wait_and_headroom() {
	local out
	closed_setup 10
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080 --count 1 --expect-errno EADDRNOTAVAIL) ||
		die "a connect with every tuple in TIME_WAIT was not refused: $out"
	# The sockets are gone, their namespace is named.
	expect_eq "$(busiest '[.tuples.tcp, .time_wait.tuples, .time_wait.ports, .headroom, .headroom_new_destination]' --netns "$NS")" \
		'[0,10,10,0,10]' "pool counts"
	expect_eq "$(busiest '.busiest_destination | [.proto, .address, .port, .tuples, .time_wait, .headroom, .percent_full]' --netns "/run/netns/$NS")" \
		"[\"tcp\",\"$SRV4\",8080,0,10,0,100]" "busiest destination"
	run "$PS" status --netns "$NS"
	expect_eq "$RC" 0 "exit code (stderr: $ERR)"
	expect_match "$OUT" "web +198.18.0.10 +20000-20009 +0 +0 +0 +10 +100.0% +0 " "pool line"
	expect_contains "$OUT" "tcp $SRV4:8080  in use 0, TIME_WAIT 10, headroom 0 (100.0% full)"
	# Another destination still has every port: connect() agrees.
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8081 --count 2 --echo)
	check_conns "$out" $POOL4 20000 20009 2
}

# Without --netns: the namespaces of the attached cgroups' processes are read.
t_status_finds_the_namespace_of_the_cgroups_processes() {
	local out
	closed_setup 3
	# Nobody in the cgroup: only this namespace, without the TIME_WAIT tuples.
	expect_eq "$(busiest '.time_wait.tuples')" 0 "TIME_WAIT seen from here alone"
	hold_start h 4 --proto tcp --to $SRV4:8080 --count 4
	expect_eq "$("$PS" status --json | jq .network_namespaces_read)" 2 "namespaces read"
	# Claimed and TIME_WAIT tuples to one destination: 10 - 4 - 3 left.
	expect_eq "$(busiest '.busiest_destination | [.tuples, .time_wait, .headroom]')" '[4,3,3]' "busiest destination"
	expect_eq "$(busiest '[(.destinations | length), .headroom]')" '[1,3]' "destinations"
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080 --count 4 --hold 0 --expect-errno EADDRNOTAVAIL) ||
		die "the 4th connect beyond the headroom was not refused: $out"
	check_conns "$out" $POOL4 20000 20009 3
	hold_stop h
}

t_status_netns_errors() {
	std_setup
	attach
	run "$PS" status --netns "$TAG-nosuch"
	expect_eq "$RC" 2 "exit code"
	expect_contains "$ERR" "--netns $TAG-nosuch: cannot open /run/netns/$TAG-nosuch"
}
