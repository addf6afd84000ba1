# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The agent keeps steering as the config's steering: section asks: it puts
# the XDP program on the interfaces of steering.interfaces, adopts the links
# it finds after a restart (same link ids, nothing duplicated), takes
# steering off interfaces the config drops (all of them when steering: goes),
# refuses a bad steering section and keeps the running one, and leaves
# steering attached on SIGTERM. Checked against the kernel (ip link, bpftool)
# and the pins. Every test attaches only to veths it creates inside its own
# network namespace, where the agent runs (nsenter: the pins stay on the
# host's bpffs). Sourced by tests/run.sh after tests/lib.sh.

# The agent's helpers (agent_conf, write_conf, put_conf, net_only,
# agent_start, wait_log, expect_contains, its cleanup) come from its own
# tests, the steering topology (topo_net, hns, hpin, attach_host, ...) from
# the end-to-end ones; their t_* functions are not this file's.
_here=$(dirname "${BASH_SOURCE[0]}")
source "$_here/../steer/test_e2e.sh"
# Both write a config with write_conf: the end-to-end one is e2e_write_conf here.
eval "e2e_write_conf() $(declare -f write_conf | tail -n +2)"
source "$_here/test_agent.sh"
unset -f $(declare -F | awk '$3 ~ /^t_/ { print $3 }')

# ---- helpers ---------------------------------------------------------------

HOST_A=198.18.10.1
HOST_B=198.18.10.2

# steering_yaml MODE IFACE...: hosts: and steering: sections, for write_conf.
steering_yaml() {
	local mode=$1
	shift
	printf 'hosts:\n  host-a: {address: %s}\n  host-b: {address: %s}\nsteering:\n  mode: %s\n' \
		$HOST_A $HOST_B "$mode"
	[ $# -gt 0 ] && printf '  interfaces: [%s]\n' "$(IFS=,; echo "$*" | sed 's/,/, /g')"
	true
}

# steer_conf MODE IFACE...: the config of the standard world, with steering.
steer_conf() { write_conf 20000-20999 20000-20999 "$(steering_yaml "$@")"; }

# steer_world: the standard world, three veths' ends in its namespace
# (ps0/ps1, ps2/ps3, pd0/pd1), and a config steering ps0 and ps2 (l2).
steer_world() {
	local a b
	agent_conf
	for a in ps0:ps1 ps2:ps3 pd0:pd1; do
		b=${a#*:} a=${a%:*}
		ip -n "$NS" link add "$a" type veth peer name "$b" || die "cannot create the veth pair $a/$b"
		ip -n "$NS" link set "$a" up
		ip -n "$NS" link set "$b" up
	done
	steer_conf l2 ps0 ps2
}

# xdp_prog IFACE: the id of the native-mode XDP program on IFACE, or "none".
xdp_prog() {
	ip -n "$NS" -j link show dev "$1" |
		jq -r '.[0].xdp | if . == null then "none" elif .mode == 1 then .prog.id else "mode \(.mode)" end'
}

# steered: the interfaces status shows with steering, "name:link:prog" each.
steered() {
	"$PS" status --json | jq -r '[.steering.interfaces[] | "\(.name):\(.link_id):\(.prog_id)"] | join(" ")'
}

# steer_snapshot: steering as status, the pins and the kernel see it. The
# kernel's XDP links are those running a program of ours (ids are unique).
steer_snapshot() {
	local progs
	progs=$("$PS" status --json | jq -c '[.steering.interfaces[].prog_id] | unique')
	echo "status: $("$PS" status --json | jq -c '.steering | {attached, interfaces}')"
	echo "pins: $(cd "$PORTSLICE_PIN_DIR" 2>/dev/null && find steer maps -path 'steer/*' -o -name 'ps_steer_*' | LC_ALL=C sort | paste -sd' ' -)"
	echo "xdp: ps0 $(xdp_prog ps0) ps1 $(xdp_prog ps1) ps2 $(xdp_prog ps2) ps3 $(xdp_prog ps3) pd0 $(xdp_prog pd0)"
	echo "links: $(bpftool -j link show | jq -c --argjson p "$progs" \
		'[.[] | select(.type == "xdp" and (.prog_id as $id | $p | index($id))) | {id, prog_id}] | sort_by(.id)')"
}

# expect_steered IFACE...: exactly these interfaces have steering, per status
# and per the kernel (one native XDP program each, the status's), and pins.
expect_steered() {
	local want=$* d st
	st=$(steered)
	expect_eq "$(printf '%s\n' $st | cut -d: -f1 | paste -sd' ' -)" "$want" "interfaces with steering (status: $st)"
	for d in ps0 ps1 ps2 ps3 pd0; do
		case " $want " in
		*" $d "*)
			expect_eq "$(xdp_prog $d)" "$(printf '%s\n' $st | awk -F: -v d=$d '$1 == d { print $3 }')" "XDP program on $d"
			[ -e "$PORTSLICE_PIN_DIR/steer/$d" ] || die "no pin steer/$d"
			;;
		*)
			expect_eq "$(xdp_prog $d)" none "XDP program on $d"
			[ ! -e "$PORTSLICE_PIN_DIR/steer/$d" ] || die "pin steer/$d remains"
			;;
		esac
	done
}

# ---- attach, adopt ---------------------------------------------------------------

t_agent_steer_attaches_listed_interfaces() {
	steer_world
	agent_start a1
	expect_steered ps0 ps2
	expect_contains "$(cat "$AGENT_LOG")" "steering attached to ps0 (ifindex" "log"
	expect_contains "$(cat "$AGENT_LOG")" "1 of 1 cgroups attached, 2 of 2 interfaces steered" "running line"
	local st
	st=$("$PS" status --json)
	expect_eq "$(jq -c '.steering | [.attached, [.interfaces[] | [.name, .mode, .self_host, .interface_exists]]]' <<<"$st")" \
		'[true,[["ps0","l2","host-a",true],["ps2","l2","host-a",true]]]' "status --json"
	expect_eq "$(jq -r '.attachments[0].cgroup' <<<"$st")" "$CG" "attached cgroup"
	# One program for both interfaces, every pool in the maps.
	expect_eq "$(xdp_prog ps0)" "$(xdp_prog ps2)" "program of ps0 against ps2's"
	expect_eq "$(owner_of "$(status_field web slot)" 20500)" 1 "owner of web:20500"
	expect_eq "$(owner_of "$(status_field web slot)" 40500)" 2 "owner of web:40500"
	local text
	text=$("$PS" status)
	expect_contains "$text" "Steering: 2 interfaces" "status"
}

t_agent_steer_adopts_after_kill9() {
	steer_world
	agent_start a1
	local before
	before=$(steer_snapshot)
	kill -9 "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	expect_eq "$(steer_snapshot)" "$before" "steering after kill -9 (the pins hold it)"
	agent_start a2
	expect_eq "$(steer_snapshot)" "$before" "steering after the second agent adopted it"
	expect_steered ps0 ps2
	expect_eq "$(steer_snapshot | sed -n 's/^links: //p' | jq length)" 2 "XDP links of steering in the kernel"
	grep -q 'steering attached' "$TMPD/a2.log" && die "the second agent attached again instead of adopting: $(cat "$TMPD/a2.log")"
	# A third start with a changed slice: maps change in place, links and program stay.
	kill -9 "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	write_conf 20000-20999 20000-20999 "$(steering_yaml l2 ps0 ps2)"
	sed -i 's/host-b: 40000-40999/host-b: 41000-41999/' "$CONF"
	agent_start a3
	expect_eq "$(steered)" "$(echo "$before" | sed -n 's/^status: //p' | jq -r '[.interfaces[] | "\(.name):\(.link_id):\(.prog_id)"] | join(" ")')" \
		"links and program after a slice moved"
	expect_eq "$(owner_of "$(status_field web slot)" 40500)" 0 "owner of web:40500 after the slice moved"
	expect_eq "$(owner_of "$(status_field web slot)" 41500)" 2 "owner of web:41500 after the slice moved"
}

# ---- reload ------------------------------------------------------------------------

t_agent_steer_reload_adds_and_drops_interfaces() {
	steer_world
	agent_start a1
	local ps0
	ps0=$(steered | cut -d' ' -f1)
	# ps2 goes, ps1 comes: ps0 keeps its link.
	steer_conf l2 ps0 ps1
	wait_log 'config generation 2 .* applied'
	wait_log 'steering detached from ps2: steering.interfaces no longer lists it'
	expect_contains "$(cat "$AGENT_LOG")" "steering attached to ps1 (ifindex" "log"
	expect_steered ps0 ps1
	expect_eq "$(steered | cut -d' ' -f1)" "$ps0" "ps0's link and program"

	# A mode change: a new program inside the same links.
	steer_conf encap ps0 ps1
	wait_log 'config generation 3 .* applied'
	wait_log 'steering on ps0 updated: link [0-9]+ runs a new program \(mode encap, host host-a\)'
	expect_steered ps0 ps1
	expect_eq "$(steered | cut -d' ' -f1 | cut -d: -f1,2)" "${ps0%:*}" "ps0's link after the mode change"
	expect_ne "$(steered | cut -d' ' -f1 | cut -d: -f3)" "${ps0##*:}" "ps0's program after the mode change"
	expect_eq "$("$PS" status --json | jq -r '[.steering.interfaces[].mode] | unique | join(",")')" encap "mode in status"

	# steering: removed: off every interface, its maps gone; the cgroup stays.
	write_conf 20000-20999 20000-20999
	wait_log 'config generation 4 .* applied'
	wait_log 'steering detached from ps1: the config has no steering: section'
	wait_log 'no interface has steering any more: its maps are removed'
	expect_steered
	expect_eq "$(ls "$PORTSLICE_PIN_DIR/maps" | grep -c '^ps_steer_')" 0 "steering maps"
	expect_eq "$(links_of "$CG")" $PS_CGROUP_HOOKS "links on the cgroup"

	# And back.
	steer_conf l2 ps2
	wait_log 'config generation 5 .* applied'
	expect_steered ps2
}

# A bad steering section is refused with file, line and field; the running
# config, and the steering it put in place, stay.
t_agent_steer_refuses_bad_steering() {
	steer_world
	agent_start a1 --metrics 127.0.0.1:9465
	local before good line n=0
	before=$(steer_snapshot)
	good=$(cat "$CONF")

	put_conf "${good/mode: l2/mode: l3}"
	line=$(grep -n '^  mode: l3' "$CONF" | cut -d: -f1)
	wait_log 'config rejected' $((n += 1))
	expect_contains "$(grep 'config rejected' "$AGENT_LOG" | tail -n 1)" \
		"generation 1 stays in force: $CONF:$line: steering.mode: \"l3\" is not a steering mode" "rejection of mode l3"
	expect_eq "$(steer_snapshot)" "$before" "steering after the refused mode"

	put_conf "${good/interfaces: \[ps0, ps2\]/interfaces: [ps0, a/b]}"
	wait_log 'config rejected' $((n += 1))
	expect_contains "$(grep 'config rejected' "$AGENT_LOG" | tail -n 1)" "steering.interfaces[1]" "rejection of a bad name"
	expect_eq "$(steer_snapshot)" "$before" "steering after the refused interface name"

	# This host is not under hosts: (its slices are host-c's now).
	put_conf "${good//host-a:/host-c:}"
	line=$(grep -n '^hosts:' "$CONF" | cut -d: -f1)
	wait_log 'config rejected' $((n += 1))
	expect_contains "$(grep 'config rejected' "$AGENT_LOG" | tail -n 1)" "$CONF:$line:" "rejection of a config without this host"
	expect_contains "$(grep 'config rejected' "$AGENT_LOG" | tail -n 1)" "host-a" "rejection of a config without this host"
	expect_eq "$(steer_snapshot)" "$before" "steering after the refused hosts"

	local out
	out=$(in_ns "$NS" curl -sf http://127.0.0.1:9465/metrics) || die "scrape failed"
	expect_eq "$(metric "$out" portslice_config_generation)" 1 "generation after refusals"
	expect_eq "$(metric "$out" portslice_config_reloads_total '{result="failed"}')" "$n" "failed reloads"
	expect_eq "$(metric "$out" portslice_agent_interfaces '{state="steered"}')" 2 "steered interfaces (metrics)"
	expect_eq "$(metric "$out" portslice_agent_interfaces '{state="failed"}')" 0 "failed interfaces (metrics)"
	# The good config again (with a comment: the same bytes as in force are no change).
	put_conf "$good
# fixed"
	wait_log 'config generation 2 .* applied'
	expect_eq "$(steer_snapshot)" "$before" "steering after the good config again"
	kill -0 "$AGENT_PID" || die "the agent died"
}

# ---- interfaces that fail ------------------------------------------------------------

# A listed interface that does not exist, or cannot run XDP, is an error for
# that interface: logged with its fix and retried; the others are steered and
# READY=1 is not held back. One that appears later is attached by the retry.
t_agent_steer_failing_interfaces_do_not_block_the_rest() {
	command -v python3 >/dev/null || { echo "python3 is needed to receive sd_notify messages"; exit 249; }
	steer_world
	ip -n "$NS" link add br9 type bridge 2>/dev/null && ip -n "$NS" link set br9 up
	steer_conf l2 ps0 late0 br9
	local sock=$TMPD/notify.sock i
	bg python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
for msg in iter(lambda: s.recv(4096).decode(), None):
    print(msg.replace("\n", " "), flush=True)' "$sock" > "$TMPD/notify.out" 2>/dev/null
	for i in $(polls 100); do [ -S "$sock" ] && break; sleep 0.05; done
	NOTIFY_SOCKET=$sock agent_start a1
	wait_line "$TMPD/notify.out" READY=1 "no READY=1 notification"
	expect_match "$(head -n 1 "$TMPD/notify.out")" \
		"^READY=1 STATUS=generation 1, 1 of 1 cgroups attached, 1 of 3 interfaces steered" "first notification"
	expect_steered ps0
	local line
	line=$(grep -n '^steering:' "$CONF" | cut -d: -f1)
	expect_contains "$(cat "$AGENT_LOG")" \
		"$CONF:$line: steering.interfaces[1] late0: no interface named 'late0' in this network namespace: check 'ip link', or remove it from steering.interfaces; retrying" \
		"error for the missing interface"
	if ip -n "$NS" link show br9 >/dev/null 2>&1; then
		expect_contains "$(cat "$AGENT_LOG")" "steering.interfaces[2] br9: the driver of br9 has no native XDP support" \
			"error for the interface without XDP"
	fi
	# It appears: the retry (every 5 s) attaches it. The error was logged once.
	ip -n "$NS" link add late0 type veth peer name late1 || die "cannot create late0"
	ip -n "$NS" link set late0 up
	for i in $(polls 300); do
		grep -q 'steering attached to late0' "$AGENT_LOG" && break
		sleep 0.05
	done
	wait_log 'steering attached to late0'
	wait_log 'every listed cgroup is attached now, and every listed interface steered' 0
	expect_eq "$(grep -c "late0: no interface named" "$AGENT_LOG")" 1 "errors logged for late0 (the retries log at debug level)"
	expect_ne "$(xdp_prog late0)" none "XDP program on late0"
	expect_eq "$(xdp_prog late0)" "$(xdp_prog ps0)" "program of late0 against ps0's"
	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID"
	expect_eq "$?" 0 "agent exit code"
}

# steering: without interfaces: the interfaces are the CLI's ('steer attach
# --dev'); the agent keeps their maps in step and never takes them off.
t_agent_steer_without_interfaces_keeps_cli_links() {
	steer_world
	steer_conf l2
	(net_only "$NS" "$PS" steer attach --config "$CONF" --host host-a --dev ps1) >/dev/null || die "steer attach"
	local ids
	ids=$(steered)
	agent_start a1
	expect_steered ps1
	expect_eq "$(steered)" "$ids" "ps1's link and program after the agent started"
	write_conf 20000-20999 20000-20999 "$(steering_yaml l2)"
	sed -i 's/host-b: 40000-40999/host-b: 41000-41999/' "$CONF"
	wait_log 'config generation 2 .* applied'
	expect_eq "$(steered)" "$ids" "ps1's link and program after a reload"
	expect_eq "$(owner_of "$(status_field web slot)" 41500)" 2 "owner of web:41500 after the reload"
}

# A config with steering and no cgroups: an agent that only steers.
t_agent_steer_only() {
	steer_world
	put_conf "$(sed '/^cgroups:/,/^  - path:/d' "$CONF")"
	grep -q cgroups: "$CONF" && die "the test's config still has cgroups: $(cat "$CONF")"
	agent_start a1
	expect_steered ps0 ps2
	expect_eq "$("$PS" status --json | jq -r '.attached')" false "cgroups attached"
	expect_contains "$(cat "$AGENT_LOG")" "0 of 0 cgroups attached, 2 of 2 interfaces steered" "running line"
}

# ---- stopping ------------------------------------------------------------------------

t_agent_steer_sigterm_leaves_steering_detach_all_removes_it() {
	steer_world
	agent_start a1
	local before
	before=$(steer_snapshot)
	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID"
	expect_eq "$?" 0 "agent exit code on SIGTERM"
	expect_contains "$(cat "$AGENT_LOG")" "the datapath stays in place" "log"
	expect_eq "$(steer_snapshot)" "$before" "steering after SIGTERM"
	"$PS" detach --all >/dev/null || die "detach --all"
	[ -e "$PORTSLICE_PIN_DIR" ] && die "pins left after detach --all: $(find "$PORTSLICE_PIN_DIR")"
	expect_eq "$(xdp_prog ps0) $(xdp_prog ps2)" "none none" "XDP programs after detach --all"
	expect_eq "$(links_of "$CG")" 0 "links on the cgroup after detach --all"
}

# ---- under traffic ---------------------------------------------------------------------

# echo_loop X PROTO: echo clients of PROTO in host X's cgroup, 40 sockets at
# a time, again and again until $TMPD/stop exists; their lines go to
# $TMPD/loop-X-PROTO.out.
echo_loop() {
	local h=$1 p=$2 cg
	eval "cg=\$CG$h"
	bg sh -c 'echo $$ > "$0/cgroup.procs" || exit 1
		while [ ! -e "$1" ]; do
			ip netns exec "$2" "$3" connect --proto "$4" --to "$5" --count 40 --echo --allow-fail
			sleep 0.1 # TIME_WAIT holds every closed TCP tuple: a slice of 1000 ports x 4 must last
		done' \
		"$cg" "$TMPD/stop" "$(hns "$h")" "$PSNET" "$p" "$SRVP:8080-8083" > "$TMPD/loop-$h-$p.out" 2>&1
	eval "LOOP_${h}_$p=\$BG_PID"
}

# wait_echoes N: until every echo loop has N more echoes back than now, so
# that what happens next happens under traffic; fails if a loop stalls.
wait_echoes() {
	local want=$1 h p left
	declare -A base
	for h in $E2E_HOSTS; do for p in tcp udp; do
		base[$h$p]=$(grep -c 'result=ok' "$TMPD/loop-$h-$p.out")
	done; done
	for _ in $(polls 300); do
		left=""
		for h in $E2E_HOSTS; do for p in tcp udp; do
			[ $(($(grep -c 'result=ok' "$TMPD/loop-$h-$p.out") - base[$h$p])) -ge "$want" ] || left+=" host-$h/$p"
		done; done
		[ -z "$left" ] && return 0
		sleep 0.05
	done
	die "echo loops without $want more echoes:$left"
}

# The ECMP world of tests/steer/test_e2e.sh, host-a's steering kept by the
# agent, the others' by the CLI. Replies keep landing on every host while
# host-a's agent is killed and a new one adopts its links: no echo is lost,
# and no host's kernel sees another's replies.
t_agent_steer_kill9_under_traffic_loses_nothing() {
	local h p pid ok bad before
	topo_net l2 4
	e2e_write_conf l2 4
	CGa=$(cg_create host-a)
	printf 'cgroups:\n  - path: %s\n' "$CGa" >> "$CONF"
	sed -i 's/^steering: {mode: l2}$/steering: {mode: l2, interfaces: [eth0]}/' "$CONF"
	grep -q 'interfaces: \[eth0\]' "$CONF" || die "the test's config has no steering.interfaces: $(cat "$CONF")"
	mkdir -p "$TMPD/etc" && chmod 755 "$TMPD/etc" && mv "$CONF" "$TMPD/etc/fleet.yaml" && chmod 644 "$TMPD/etc/fleet.yaml"
	CONF=$TMPD/etc/fleet.yaml
	for h in b c; do attach_host $h; done
	export PORTSLICE_PIN_DIR=$(hpin a)
	NS=$(hns a) agent_start a1
	ip -n "$(hns a)" link show dev eth0 | grep -q xdp || die "no XDP program on host-a's eth0"
	wait_neigh 4
	start_server
	before=$(NS=$(hns a) steered)

	for h in $E2E_HOSTS; do for p in tcp udp; do echo_loop $h $p; done; done
	wait_echoes 80
	kill -9 "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	wait_echoes 40 # with no agent at all
	NS=$(hns a) agent_start a2
	wait_echoes 80
	touch "$TMPD/stop"
	for h in $E2E_HOSTS; do
		for p in tcp udp; do
			eval "pid=\$LOOP_${h}_$p"
			wait "$pid"
			ok=$(grep -c 'result=ok' "$TMPD/loop-$h-$p.out")
			bad=$(grep 'result=' "$TMPD/loop-$h-$p.out" | grep -vc 'result=ok')
			note "host-$h $p: $ok echoes, $bad lost"
			expect_eq "$bad" 0 "host-$h $p echoes lost: $(grep 'result=' "$TMPD/loop-$h-$p.out" | grep -v 'result=ok' | head -n 3)"
		done
		expect_eq "$(kernel_stat $h TcpOutRsts)" 0 "host-$h TCP resets sent"
		expect_eq "$(kernel_stat $h UdpNoPorts)" 0 "host-$h UDP datagrams to no socket"
	done
	load_status a
	expect_ge "$(steer_counter a forwarded)" 1 "replies host-a forwarded"
	expect_eq "$(steer_drops a)" 0 "host-a dropped replies"
	expect_eq "$(steered)" "$before" "host-a's steering link and program after the restart"
	grep -q 'steering attached' "$TMPD/a2.log" && die "the second agent attached again: $(cat "$TMPD/a2.log")"
	true
}
