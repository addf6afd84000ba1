# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `portslice steer attach/detach` and the steering section of `status`, as a
# user meets them, checked against what the kernel has (ip link, bpftool) and
# what is pinned. Every test attaches only to a veth pair it creates inside
# its own network namespace. Sourced by tests/run.sh after tests/lib.sh.

# pss ARGS...: portslice inside the test namespace. nsenter switches the
# network namespace only, so the pins stay on the host's bpffs (ip netns
# exec would mount a private one).
pss() { nsenter --net="/run/netns/$NS" "$PS" "$@"; }
# clis ARGS...: pss, recorded (see run).
clis() { run pss "$@"; }

expect_ok() {
	expect_eq "$RC" 0 "exit code (stderr: $ERR)"
	expect_eq "$ERR" "" "stderr"
}

# expect_error CODE FRAGMENT...: failed with CODE, one error line holding every FRAGMENT.
expect_error() {
	local code=$1 f
	shift
	expect_eq "$RC" "$code" "exit code (stdout: $OUT, stderr: $ERR)"
	expect_eq "$OUT" "" "stdout of a failed command"
	expect_eq "$(printf '%s\n' "$ERR" | grep -c '^portslice: error: ')" 1 "error lines in: $ERR"
	for f in "$@"; do expect_contains "$ERR" "$f" "error message"; done
}

# The standard world (std_setup: namespace, cgroup) plus a veth pair
# ps0/ps1 in the namespace, and a config with hosts: and steering:.
HOST_A=198.18.10.1
HOST_B=198.18.10.2

steer_setup() {
	std_setup
	ip -n "$NS" link add ps0 type veth peer name ps1 || die "cannot create the veth pair"
	ip -n "$NS" link set ps0 up
	ip -n "$NS" link set ps1 up
	write_conf 21000-21999
}

# write_conf HOST_B_SLICE [MODE] [EXTRA_HOST_LINE]: the fleet config.
write_conf() {
	cat > "$CONF" <<-YAML
	pools:
	  - name: web
	    address: $POOL4
	    slices:
	      host-a: 20000-20999
	      host-b: $1
	  - name: web6
	    address: $POOL6
	    slices:
	      host-a: 20000-20999
	      host-b: 40000-40999
	hosts:
	  host-a: {address: $HOST_A}
	  host-b: {address: $HOST_B}
	${3:-}
	steering:
	  mode: ${2:-l2}
	  interfaces: [ps0]
	YAML
}

steer_attach() {
	pss steer attach --config "$CONF" --host host-a "$@" >/dev/null || die "portslice steer attach failed"
}

# xdp_prog IFACE: id of the native-mode (mode 1) XDP program on IFACE, or "none".
xdp_prog() {
	ip -n "$NS" -j link show dev "$1" |
		jq -r '.[0].xdp | if . == null then "none" elif .mode == 1 then .prog.id else "mode \(.mode)" end'
}

# steer_ids IFACE: "link_id prog_id" of IFACE's steering, from status --json.
steer_ids() {
	pss status --json | jq -r --arg d "$1" '.steering.interfaces[] | select(.name == $d) | "\(.link_id) \(.prog_id)"'
}

# map_u32 MAP INDEX: the first 32-bit word of entry INDEX of the pinned array MAP (bpftool).
map_u32() {
	local v
	v=$(bpftool -j map lookup pinned "$PORTSLICE_PIN_DIR/maps/$1" \
		key $(($2 & 255)) $(($2 >> 8 & 255)) $(($2 >> 16 & 255)) $(($2 >> 24 & 255)) |
		jq -r 'if .formatted then .formatted.value else .value end |
			if type == "array" then .[0:4] | join(" ") elif type == "object" then .flags else . end') ||
		die "bpftool map lookup $1 $2 failed"
	case "$v" in
	*" "*) set -- $v; echo $(( $1 + ($2 << 8) + ($3 << 16) + ($4 << 24) )) ;;
	*) echo "$v" ;;
	esac
}

# owner SLOT PORT: the host id ps_steer_owner holds for PORT of pool SLOT.
owner() { map_u32 ps_steer_owner $(( $1 * 65536 + $2 )); }

# cg_progs CG: how many programs are attached right at CG.
cg_progs() { bpftool -j cgroup show "$1" | jq -s 'add | length'; }

# pinlist: everything under the pin dir, sorted.
pinlist() { (cd "$PORTSLICE_PIN_DIR" 2>/dev/null && find . | LC_ALL=C sort | paste -sd' ' -); }

STEER_MAPS="ps_steer_fwd ps_steer_gen ps_steer_hosts ps_steer_local_macs ps_steer_meta ps_steer_names ps_steer_owner ps_steer_peer_macs ps_steer_pools ps_steer_stats"

expect_steering_pins() {
	local m
	[ -e "$PORTSLICE_PIN_DIR/steer/$1" ] || die "no pin $PORTSLICE_PIN_DIR/steer/$1: $(pinlist)"
	for m in $STEER_MAPS; do
		[ -e "$PORTSLICE_PIN_DIR/maps/$m" ] || die "map $m is not pinned: $(pinlist)"
	done
}

expect_no_steering_pins() {
	[ ! -e "$PORTSLICE_PIN_DIR/steer" ] || die "steering links remain: $(pinlist)"
	[ -z "$(ls "$PORTSLICE_PIN_DIR/maps" 2>/dev/null | grep '^ps_steer_')" ] || die "steering maps remain: $(pinlist)"
}

# snapshot: everything a failed command must leave as it was.
snapshot() {
	echo "pins: $(pinlist)"
	echo "xdp: $(xdp_prog ps0) $(xdp_prog ps1)"
	# Counters move with any packet (IPv6 neighbour discovery on the veth).
	echo "status: $(pss status --json | jq -c 'del(.steering.counters, .steering.forwarded_to, .steering.interfaces[].kernel_xdp)')"
}

# ---- help ---------------------------------------------------------------------

t_steer_help() {
	local how f
	for how in "help steer" "steer --help" "steer -h" "steer help"; do
		run "$PS" $how
		expect_ok
		expect_contains "$OUT" "Usage: portslice steer attach [--dev IFACE]... --config FILE [--host NAME] | detach --dev IFACE... | --all" "portslice $how"
		expect_contains "$OUT" "portslice steer detach --dev IFACE... | --all" "portslice $how"
	done
	run "$PS" help
	expect_contains "$OUT" "steer" "portslice help"
	for how in "steer attach --help" "steer attach -h" "steer help attach"; do
		run "$PS" $how
		expect_ok
		expect_contains "$OUT" "Usage: portslice steer attach [--dev IFACE]... --config FILE [--host NAME]" "portslice $how"
		for f in "-d, --dev IFACE" "-f, --config FILE" "-H, --host NAME" "-j, --json" "native mode" \
			"program and link stay"; do
			expect_contains "$OUT" "$f" "portslice $how"
		done
	done
	for how in "steer detach --help" "steer help detach"; do
		run "$PS" $how
		expect_ok
		expect_contains "$OUT" "Usage: portslice steer detach --dev IFACE... | --all" "portslice $how"
		for f in "-d, --dev IFACE" "-a, --all"; do expect_contains "$OUT" "$f" "portslice $how"; done
	done
	run "$PS" steer
	expect_error 2 "steer needs a subcommand, attach or detach"
	run "$PS" steer frob
	expect_error 2 "unknown steer subcommand 'frob'"
	run "$PS" --json steer frob
	expect_eq "$RC" 2 "exit code of --json steer frob"
	printf '%s' "$OUT" | jq -e 'keys == ["error"]' >/dev/null || die "not a JSON error: $OUT"
	run "$PS" steer attach --frob
	expect_error 2 "unknown option '--frob' for 'steer attach'"
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "help created $PORTSLICE_PIN_DIR"
}

# ---- attach, detach -------------------------------------------------------------

t_steer_attach_pins_and_detach_removes() {
	steer_setup
	clis steer attach --config "$CONF" --host host-a --dev ps0
	expect_ok
	expect_contains "$OUT" "steering attached on ps0"
	expect_contains "$OUT" "host host-a (id 1 of 2), mode l2"
	expect_steering_pins ps0
	expect_ne "$(xdp_prog ps0)" none "XDP program on ps0"
	expect_eq "$(xdp_prog ps1)" none "XDP program on ps1 (not named)"
	expect_eq "$(bpftool -j prog show id "$(xdp_prog ps0)" | jq -r .name)" ps_steer "program on ps0"
	# No cgroup is attached: the socket side has no pins.
	[ ! -e "$PORTSLICE_PIN_DIR/maps/ps_meta" ] || die "steer attach created the socket side's maps"
	[ ! -e "$PORTSLICE_PIN_DIR/cgroups" ] || die "steer attach created cgroups/"

	# Pools: every pool of the config, the ports of every slice.
	expect_eq "$(owner 0 20500)" 1 "owner of web:20500"
	expect_eq "$(owner 0 21000)" 2 "owner of web:21000"
	expect_eq "$(owner 0 21999)" 2 "owner of web:21999"
	expect_eq "$(owner 0 22000)" 0 "owner of web:22000 (no slice)"
	expect_eq "$(owner 1 40000)" 2 "owner of web6:40000"
	bpftool -j map dump pinned "$PORTSLICE_PIN_DIR/maps/ps_steer_pools" | jq -e 'length == 2' >/dev/null ||
		die "ps_steer_pools: $(bpftool map dump pinned "$PORTSLICE_PIN_DIR/maps/ps_steer_pools")"

	clis steer detach --dev ps0
	expect_ok
	expect_contains "$OUT" "steering detached from ps0"
	expect_contains "$OUT" "no interface has steering any more"
	expect_eq "$(xdp_prog ps0)" none "XDP program on ps0 after detach"
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "pins remain after the last detach: $(pinlist)"

	clis steer detach --dev ps0
	expect_ok
	expect_eq "$OUT" "ps0 had no steering attached: nothing to do" "detach twice"
	clis -j steer detach --all
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.detached, .not_attached, .steering_removed]')" '[[],[],false]' "detach --all --json"
}

t_steer_attach_defaults_to_config_interfaces() {
	steer_setup
	clis -j steer attach --config "$CONF" --host host-a
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -r '[.interfaces[].name] | join(",")')" ps0 "interfaces"
	expect_eq "$(printf '%s' "$OUT" | jq -r '.interfaces[0].result')" attached "result"
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.host, .host_id, .mode, .hosts]')" '["host-a",1,"l2",2]' "attach --json"
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.pools[] | [.name, .slot, (.slices | length)]]')" \
		'[["web",0,2],["web6",1,2]]' "pools of attach --json"
	expect_ne "$(xdp_prog ps0)" none "XDP program on ps0"
	expect_steering_pins ps0
	# A second interface runs the same program, with its own link.
	clis -j steer attach --config "$CONF" --host host-a --dev ps1
	expect_ok
	expect_eq "$(xdp_prog ps1)" "$(xdp_prog ps0)" "program of ps1 against ps0's"
	expect_steering_pins ps1
	expect_ne "$(steer_ids ps1 | cut -d' ' -f1)" "$(steer_ids ps0 | cut -d' ' -f1)" "link ids"
	pss steer detach --all >/dev/null || die "steer detach --all failed"
	expect_eq "$(xdp_prog ps0) $(xdp_prog ps1)" "none none" "XDP programs after detach --all"
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "pins remain after steer detach --all: $(pinlist)"
}

t_steer_reattach_refreshes_maps_only() {
	local before after link prog gen
	steer_setup
	steer_attach
	before=$(steer_ids ps0)
	link=${before% *} prog=${before#* }
	expect_ne "$link" "" "link id"
	expect_eq "$(xdp_prog ps0)" "$prog" "program on ps0 against status"
	expect_eq "$(owner 0 21500)" 2 "owner of web:21500 before"
	gen=$(map_u32 ps_steer_gen 0)
	expect_ge "$gen" 1 "ps_steer_gen once the maps were written"

	# A slice moves and a host joins: map updates, same program, same link.
	write_conf 22000-22999 l2 "  host-c: {address: 198.18.10.3}"
	sed -i 's/^      host-b: 40000-40999$/&\n      host-c: 41000-41999/' "$CONF"
	clis -j steer attach --config "$CONF" --host host-a --dev ps0
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -r '.interfaces[0].result')" refreshed "result of the second attach"
	after=$(steer_ids ps0)
	expect_eq "$after" "$before" "link and program ids after re-attach"
	expect_eq "$(xdp_prog ps0)" "$prog" "program on ps0 after re-attach"
	expect_eq "$(owner 0 21500)" 0 "owner of web:21500 after the slice moved"
	expect_eq "$(owner 0 22500)" 2 "owner of web:22500 after the slice moved"
	expect_eq "$(owner 1 41000)" 3 "owner of web6:41000 (new host)"
	expect_eq "$(owner 0 20000)" 1 "owner of web:20000 (unchanged)"
	# the running program's per-CPU memos of the maps it reads are void now
	expect_ge "$(map_u32 ps_steer_gen 0)" $((gen + 1)) "ps_steer_gen after the maps were rewritten"
	expect_eq "$(map_u32 ps_steer_hosts 3)" 1 "flags of host 3 in ps_steer_hosts (valid)"
	expect_eq "$(map_u32 ps_steer_hosts 4)" 0 "flags of host 4 in ps_steer_hosts"
	expect_eq "$(pss status --json | jq -r '.steering.forwarded_to | keys | join(",")')" "host-a,host-b,host-c" "hosts in status"

	# Same again, text: still the same ids.
	clis steer attach --config "$CONF" --host host-a
	expect_ok
	expect_contains "$OUT" "steering refreshed on ps0 (ifindex"
	expect_eq "$(steer_ids ps0)" "$before" "ids after a third attach"
}

t_steer_changed_settings_swap_the_program_in_the_link() {
	local before after
	steer_setup
	steer_attach
	before=$(steer_ids ps0)
	write_conf 21000-21999 encap
	clis -j steer attach --config "$CONF" --host host-a
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -r '.interfaces[0].result')" updated "result after a mode change"
	after=$(steer_ids ps0)
	expect_eq "${after% *}" "${before% *}" "link id after a mode change"
	expect_ne "${after#* }" "${before#* }" "program id after a mode change"
	expect_eq "$(xdp_prog ps0)" "${after#* }" "program on ps0"
	expect_eq "$(pss status --json | jq -r '.steering.interfaces[0].mode')" encap "mode in status"
	# Another host's view: host-b's id and address go into the program.
	clis -j steer attach --config "$CONF" --host host-b
	expect_ok
	expect_eq "$(pss status --json | jq -c '.steering.interfaces[0] | [.self_host, .self_host_id]')" '["host-b",2]' "self host in status"
	expect_eq "$(steer_ids ps0 | cut -d' ' -f1)" "${before% *}" "link id after a host change"
}

# A binary of another build (an upgrade) replaces the steering program
# inside the same link, keeping the maps; the first binary puts its own
# back the same way (a rollback). status names the build each runs.
t_steer_new_build_swaps_the_program_in_the_link() {
	local before after n n1
	steer_setup
	next_build
	n=$(build_ids "$PS" | cut -d' ' -f2) n1=$(build_ids "$NEXT" | cut -d' ' -f2)
	steer_attach
	before=$(steer_ids ps0)
	expect_eq "$(pss status --json | jq -r '.steering.interfaces[0] | "\(.build_id) \(.build_current)"')" "$n true" \
		"build of the steering program"

	PS=$NEXT clis -j steer attach --config "$CONF" --host host-a
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -r '[.interfaces[0].result, .build_id, .replaced_build_id] | join(" ")')" \
		"updated $n1 $n" "steer attach with the next build"
	after=$(steer_ids ps0)
	expect_eq "${after% *}" "${before% *}" "link id after the upgrade"
	expect_ne "${after#* }" "${before#* }" "program id after the upgrade"
	expect_eq "$(xdp_prog ps0)" "${after#* }" "program on ps0"
	expect_eq "$(pss status --json | jq -r '.steering.interfaces[0] | "\(.build_id) \(.build_current)"')" "$n1 false" \
		"build of the steering program, as the first binary sees it"
	expect_contains "$(pss status)" "build $n1, not this portslice's $n: steer attach again" "status text"
	expect_eq "$(owner 0 21500)" 2 "owner of web:21500 (the maps stayed)"

	# Again with the next build: nothing to replace.
	PS=$NEXT clis -j steer attach --config "$CONF" --host host-a
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -r '.interfaces[0].result')" refreshed "the next build again"
	expect_eq "$(steer_ids ps0)" "$after" "ids after the next build again"

	clis -j steer attach --config "$CONF" --host host-a
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -r '[.interfaces[0].result, .replaced_build_id] | join(" ")')" "updated $n1" \
		"steer attach with the first build (a rollback)"
	expect_eq "$(steer_ids ps0 | cut -d' ' -f1)" "${before% *}" "link id after the rollback"
	expect_eq "$(pss status --json | jq -r '.steering.interfaces[0].build_current')" true "build after the rollback"
}

# ---- errors change nothing ------------------------------------------------------

# expect_steer_errors: every mistake fails the same way, fresh or attached.
expect_steer_errors() {
	local bad=$TMPD/bad.yaml
	clis steer attach --config "$CONF" --host host-a --dev nosuchdev0
	expect_error 1 "no interface named 'nosuchdev0' in this network namespace"
	clis steer attach --config "$CONF" --host host-z --dev ps0
	expect_error 1 "host 'host-z' is not listed under hosts: in $CONF"
	clis steer attach --host host-a --dev ps0
	expect_error 2 "steer attach needs --config FILE"

	sed '/^hosts:/,/^  host-b:/d; /^steering:/,$d' "$CONF" >"$bad"
	clis steer attach --config "$bad" --host host-a --dev ps0
	expect_error 2 "$bad has no hosts: section"
	sed '/^steering:/,$d' "$CONF" >"$bad"
	clis steer attach --config "$bad" --host host-a --dev ps0
	expect_error 2 "$bad has no steering: section"
	sed '/^hosts:/,/^  host-b:/d' "$CONF" >"$bad"
	clis steer attach --config "$bad" --host host-a --dev ps0
	expect_error 2 "$bad:" "steering: needs a hosts: section"
	sed '/^  host-b: {/d' "$CONF" >"$bad"
	clis steer attach --config "$bad" --host host-a --dev ps0
	expect_error 2 "$bad:6: pools[0].slices.host-b: host \"host-b\" is not listed under hosts (line 12)"
	sed 's/^  mode: l2$/  mode: l3/' "$CONF" >"$bad"
	clis steer attach --config "$bad" --host host-a --dev ps0
	expect_error 2 "$bad:" "steering.mode: \"l3\" is not a steering mode; use l2"
	clis steer attach --config "$CONF" --host host-a --dev 'a/b'
	expect_error 2 "'a/b' is not an interface name"
	clis steer detach
	expect_error 2 "steer detach needs exactly one of --dev IFACE or --all"
	clis steer detach --dev ps0 --all
	expect_error 2 "steer detach needs exactly one of --dev IFACE or --all"
}

t_steer_errors_change_nothing() {
	local snap
	steer_setup
	expect_steer_errors
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "a failed steer attach created $PORTSLICE_PIN_DIR: $(pinlist)"
	expect_eq "$(xdp_prog ps0)" none "XDP program on ps0"

	steer_attach
	snap=$(snapshot)
	expect_steer_errors
	expect_eq "$(snapshot)" "$snap" "state after the failed commands"
}

# ---- living beside the socket side ------------------------------------------------

t_steer_and_cgroups_detach_independently() {
	local ids
	steer_setup
	attach
	steer_attach
	ids=$(steer_ids ps0)
	expect_eq "$(pss status --json | jq -c '[.attached, .steering.attached]')" '[true,true]' "status with both"

	# The last cgroup goes: the socket side's pins go, steering stays.
	clis detach --cgroup "$CG"
	expect_ok
	expect_contains "$OUT" "the socket side's pins removed (steering stays attached)"
	[ ! -e "$PORTSLICE_PIN_DIR/cgroups" ] || die "cgroups/ remains: $(pinlist)"
	[ ! -e "$PORTSLICE_PIN_DIR/maps/ps_meta" ] || die "the socket side's maps remain: $(pinlist)"
	expect_steering_pins ps0
	expect_eq "$(steer_ids ps0)" "$ids" "steering after the last cgroup was detached"
	expect_ne "$(xdp_prog ps0)" none "XDP program on ps0"
	clis status
	expect_ok
	expect_contains "$OUT" "not attached to any cgroup"
	expect_contains "$OUT" "Steering: 1 interface"

	# A cgroup comes back, steering goes: the cgroup stays attached.
	attach
	clis steer detach --all
	expect_ok
	expect_no_steering_pins
	expect_eq "$(xdp_prog ps0)" none "XDP program on ps0"
	[ -e "$PORTSLICE_PIN_DIR/maps/ps_meta" ] || die "steer detach removed the socket side's maps: $(pinlist)"
	expect_eq "$(cg_progs "$CG")" $PS_CGROUP_HOOKS "programs on $CG"
	expect_eq "$(pss status --json | jq -c '[.attached, .steering.attached]')" '[true,false]' "status"

	# detach --all takes both.
	steer_attach
	clis detach --all
	expect_ok
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "detach --all left pins: $(pinlist)"
	expect_eq "$(xdp_prog ps0)" none "XDP program on ps0 after detach --all"
	expect_eq "$(cg_progs "$CG")" 0 "programs on $CG after detach --all"
}

# Steering numbers pools as the socket side does: the same name, the same slot.
t_steer_pool_slots_agree_with_the_socket_side() {
	steer_setup
	attach --pool web6
	expect_eq "$(status_field web6 slot)" 0 "socket side's slot of web6"
	clis -j steer attach --config "$CONF" --host host-a
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.pools[] | [.name, .slot]]')" '[["web",1],["web6",0]]' "steering's slots"
	expect_eq "$(owner 0 40000)" 2 "owner of web6:40000 in slot 0"
	expect_eq "$(owner 1 21000)" 2 "owner of web:21000 in slot 1"
	# The socket side adding web later takes the first free slot, 1: the same.
	attach
	expect_eq "$(status_field web slot)" 1 "socket side's slot of web"
}

# ---- status counters ----------------------------------------------------------------

# Packets sent out of ps1 reach ps0's XDP program: one for this host's port,
# one for host-b's (forwarded: a route and a neighbour for its underlay), one
# for a port of no slice, one for another address.
t_steer_status_counts_verdicts() {
	local st
	steer_setup
	steer_attach
	local mac
	mac=$(ip -n "$NS" -j link show ps0 | jq -r '.[0].address')
	# The pool address leaves this namespace through ps1 (std_setup put it on lo).
	ip -n "$NS" addr del $POOL4/32 dev lo
	ip -n "$NS" addr add 192.0.2.2/24 dev ps1
	ip -n "$NS" addr add 192.0.2.1/24 dev ps0
	ip -n "$NS" route add $POOL4/32 dev ps1
	ip -n "$NS" route add 203.0.113.9/32 dev ps1
	ip -n "$NS" neigh add $POOL4 lladdr "$mac" dev ps1 nud permanent
	ip -n "$NS" neigh add 203.0.113.9 lladdr "$mac" dev ps1 nud permanent
	# host-b is reached out of ps0 (l2: the FIB must know its MAC; forwarding on).
	ip netns exec "$NS" sysctl -qw net.ipv4.conf.all.forwarding=1
	ip netns exec "$NS" sysctl -qw net.ipv4.conf.ps0.forwarding=1
	ip -n "$NS" route add $HOST_B/32 dev ps0
	ip -n "$NS" neigh add $HOST_B lladdr 02:00:00:00:00:02 dev ps0 nud permanent
	for p in 20500 21500 30000; do
		in_ns "$NS" bash -c "echo x > /dev/udp/$POOL4/$p" || die "cannot send to $POOL4:$p"
	done
	in_ns "$NS" bash -c "echo x > /dev/udp/203.0.113.9/9"
	sleep 0.2
	st=$(pss status --json | jq -c .steering)
	printf '%s' "$st" | jq -e '
		.attached == true and
		(.interfaces[0] | .name == "ps0" and .mode == "l2" and .self_host == "host-a" and .self_host_id == 1
			and (.ifindex | type) == "number" and .interface_exists == true) and
		.counters.passed_own == 1 and .counters.forwarded == 1 and .counters.dropped_no_owner == 1 and
		.counters.passed_not_pool >= 1 and .forwarded_to["host-b"] == 1 and .forwarded_to["host-a"] == 0 and
		([.counters | keys[]] | sort) == ([
			"passed_not_pool", "passed_own", "passed_other", "forwarded", "dropped_no_owner",
			"dropped_no_host", "dropped_malformed", "dropped_fragment", "dropped_unsupported",
			"dropped_no_route", "dropped_no_neigh", "dropped_too_big", "dropped_not_for_us",
			"dropped_steered_twice", "dropped_not_on_link", "dropped_redirect"] | sort) and
		(.interfaces[0].kernel_xdp | .xdp_tx | type) == "number"' >/dev/null ||
		die "unexpected steering status: $st"
	clis status
	expect_ok
	expect_contains "$OUT" "mode l2     host host-a"
	expect_contains "$OUT" "forwarded to: host-a 0 host-b 1"
}

# An interface deleted under a pinned link: status says so, attach replaces it.
t_steer_deleted_interface() {
	steer_setup
	steer_attach
	ip -n "$NS" link del ps0
	expect_eq "$(pss status --json | jq -c '.steering.interfaces[0] | [.name, .interface_exists]')" '["ps0",false]' "status"
	ip -n "$NS" link add ps0 type veth peer name ps2
	ip -n "$NS" link set ps0 up
	clis -j steer attach --config "$CONF" --host host-a
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -r '.interfaces[0].result')" attached "result on the new ps0"
	expect_ne "$(xdp_prog ps0)" none "XDP program on the new ps0"
	clis steer detach --dev ps0
	expect_ok
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "pins remain: $(pinlist)"
}

# Steering attached first numbers pools itself (web 0, web6 1); the socket
# side, attached later, picks its own (web6 0, web 1): the next steer attach
# moves steering's pools to the socket side's slots, a swap through a spare
# slot, with the program and link untouched.
t_steer_pool_slots_follow_the_socket_side() {
	local ids
	steer_setup
	clis -j steer attach --config "$CONF" --host host-a
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.pools[] | [.name, .slot]]')" '[["web",0],["web6",1]]' "steering's slots"
	ids=$(steer_ids ps0)
	attach --pool web6
	attach
	expect_eq "$(status_field web6 slot) $(status_field web slot)" "0 1" "socket side's slots of web6 and web"

	clis -j steer attach --config "$CONF" --host host-a
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.pools[] | [.name, .slot]]')" '[["web",1],["web6",0]]' "steering's slots after"
	expect_eq "$(steer_ids ps0)" "$ids" "link and program ids"
	expect_eq "$(owner 0 40000) $(owner 0 21000)" "2 0" "owners in slot 0 (web6)"
	expect_eq "$(owner 1 40000) $(owner 1 21000)" "0 2" "owners in slot 1 (web)"
	expect_eq "$(owner 2 40000) $(owner 2 21000) $(owner 2 20000)" "0 0 0" "owners in the spare slot 2"
	expect_eq "$(bpftool -j map dump pinned "$PORTSLICE_PIN_DIR/maps/ps_steer_pools" | jq length)" 2 "entries of ps_steer_pools"
}

# A driver without native XDP (a bridge) is refused clearly, and nothing changes.
t_steer_needs_native_xdp() {
	local snap
	steer_setup
	if ! ip -n "$NS" link add pd0 type bridge 2>/dev/null; then
		echo "this kernel cannot create a bridge (the interface without native XDP this test needs)"
		exit 249
	fi
	ip -n "$NS" link set pd0 up
	clis steer attach --config "$CONF" --host host-a --dev pd0
	expect_error 1 "the driver of pd0 has no native XDP support"
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "a refused first attach left pins: $(pinlist)"
	expect_eq "$(xdp_prog pd0)" none "XDP program on pd0"

	steer_attach
	snap=$(snapshot)
	clis -j steer attach --config "$CONF" --host host-a --dev ps1 --dev pd0
	expect_eq "$RC" 1 "exit code (stdout: $OUT)"
	expect_contains "$(printf '%s' "$OUT" | jq -r .error)" "the driver of pd0 has no native XDP support"
	# ps1, attached before pd0 failed in the same command, is rolled back.
	expect_eq "$(snapshot)" "$snap" "state after the refused attach"
}

# Steering pins of another layout version are refused; detach still cleans up.
t_steer_layout_version_mismatch_is_refused() {
	local v
	steer_setup
	steer_attach
	v=$(pss status --json | jq -r .steering.layout_version)
	expect_ge "$v" 1 "steering layout version"
	bpftool map update pinned "$PORTSLICE_PIN_DIR/maps/ps_steer_meta" key 0 0 0 0 value 99 0 0 0 0 0 0 0 ||
		die "cannot rewrite ps_steer_meta"
	clis steer attach --config "$CONF" --host host-a
	expect_error 1 "the steering pins under $PORTSLICE_PIN_DIR have layout version 99, this portslice reads version $v" \
		"portslice steer detach --all"
	clis steer detach --all
	expect_ok
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "pins remain: $(pinlist)"
	expect_eq "$(xdp_prog ps0)" none "XDP program on ps0"
}

# A kernel without XDP links (rehearsed with PORTSLICE_PROBE_HIDE, see
# test_cli.sh): steer attach says what is missing, that socket placement
# still works, and changes nothing.
t_steer_attach_on_a_kernel_without_xdp_links_changes_nothing() {
	steer_setup
	local before
	before=$(snapshot)
	PORTSLICE_PROBE_HIDE=xdp_links clis steer attach --config "$CONF" --host host-a --dev ps0
	expect_error 1 "steer attach: this kernel (Linux $(uname -r)) lacks what reply steering (steer attach) needs"
	expect_contains "$ERR" "missing xdp_links: pinned steering attachments (BPF links for XDP) (Linux 5.9 and later)"
	expect_contains "$ERR" "socket placement (attach) still works on this kernel."
	expect_eq "$(snapshot)" "$before" "state after a refused steer attach"
	expect_no_steering_pins
}
