# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Upgrades reach the kernel (issue 15, point 2): `attach` with a portslice
# of another build replaces the running programs inside their links
# (bpf_link_update) and keeps the pinned maps, so open connections keep
# their claims and their count, and no connect fails while it happens; going
# back (a rollback) is the same move. Pins of another layout are refused with
# the README's exact steps and nothing changes. $NEXT is the other build
# (next_build in lib.sh). The agent's side is in tests/agent/test_agent.sh,
# steering's in tests/cli/test_steer_cli.sh.
# Sourced by tests/run.sh after tests/lib.sh; each t_* runs in a subshell.

# progs BINARY: "name link_id prog_id tag build_id build_current" of each
# program of the test cgroup, from BINARY's status --json.
progs() {
	"$1" status --json | jq -r --arg cg "$CG" \
		'.attachments[] | select(.cgroup == $cg) | .programs[] | "\(.name) \(.link_id) \(.prog_id) \(.tag) \(.build_id) \(.build_current)"'
}

# column N TEXT: the Nth word of every line of TEXT, sorted.
column() { printf '%s\n' "$2" | awk -v n="$1" '{ print $n }' | LC_ALL=C sort | paste -sd' ' -; }

# upgrade_to BINARY WORD: attach the test cgroup with BINARY, which must
# say WORD (its JSON result) and report the replaced build.
upgrade_to() {
	local out
	out=$("$1" -j attach --cgroup "$CG" --config "$CONF" --host host-a) || die "attach with $1 failed"
	expect_eq "$(printf '%s' "$out" | jq -r .result)" "$2" "result of attach with $1"
	expect_eq "$(printf '%s' "$out" | jq -r .build_id)" "$(build_ids "$1" | cut -d' ' -f1)" "build id attach reports"
}

# claimed_ports PROTO POOL_ADDR: the local ports of the claims in ps_tuples.
claimed_ports() {
	local proto=6
	[ "$1" = udp ] && proto=17
	bpftool -j map dump pinned "$PORTSLICE_PIN_DIR/maps/ps_tuples" |
		jq -r --argjson p $proto '.[] | (.formatted.key // .key) | select(.proto == $p) | .lport' |
		LC_ALL=C sort -n | paste -sd' ' -
}

# held_ports NAME: the local ports of a hold's sockets (psnet's lines), sorted.
held_ports() {
	hold_output "$1" | grep -o 'local=[^ ]*' | sed 's/.*://' | LC_ALL=C sort -n | paste -sd' ' -
}

# Build N (the tree's) is attached and holds 90 connections (TCP and
# connected UDP, IPv4 and IPv6), while a TCP and a UDP client connect and
# close in a loop; build N+1 replaces the programs, build N comes back, N+1
# again, over and over for about 6 s. Then: no connect failed and none was
# refused for want of a port; the held connections are still ESTAB (ss),
# each still has its claim (ps_tuples holds exactly their ports) and still
# counts (detach drains exactly 90 sockets); the links are the same, every
# program id and tag changed and status names build N+1 as the running one;
# new connects are placed in the slice with no shared tuple; the new
# programs give back the claims the old ones made.
t_upgrade_in_place_under_traffic() {
	local before after out n
	std_setup 20000-20199 20000-20199
	next_build
	attach
	serve srv --tcp $SRV4:8080-8081 --udp $SRV4:8080-8081 --tcp "[$SRV6]:8080"
	hold_start tcp4 50 --proto tcp --to $SRV4:8080-8081 --count 50
	hold_start udp4 20 --proto udp --to $SRV4:8080-8081 --count 20
	hold_start tcp6 20 --proto tcp --to "[$SRV6]:8080" --count 20
	check_conns "$(hold_output tcp4)" $POOL4 20000 20199 50
	check_conns "$(hold_output udp4)" $POOL4 20000 20199 20
	check_conns "$(hold_output tcp6)" $POOL6 20000 20199 20
	before=$(progs "$PS")
	expect_eq "$(printf '%s\n' "$before" | wc -l)" $PS_CGROUP_HOOKS "programs of build N"
	expect_eq "$(column 6 "$before" | tr ' ' '\n' | sort -u)" true "build N is current for itself"

	client_loop tcp 200 $SRV4:8080-8081
	client_loop udp 200 $SRV4:8080-8081
	n=0
	local until=$((SECONDS + 6))
	while [ $SECONDS -lt $until ] || [ $n -lt 2 ]; do
		upgrade_to "$NEXT" upgraded
		upgrade_to "$PS" upgraded
		n=$((n + 1))
	done
	upgrade_to "$NEXT" upgraded
	note "$n upgrades and rollbacks under traffic"
	client_loops_stop
	note "client: $LOOP_TOTAL connects during the upgrades: $LOOP_RESULTS"
	expect_ge "$LOOP_TOTAL" 400 "connects during the upgrades"
	expect_eq "$LOOP_FAILS" 0 "connects that failed during the upgrades"
	expect_eq "$(status_field web counters.tcp.exhausted)" 0 "exhausted (tcp)"
	expect_eq "$(status_field web counters.udp.exhausted)" 0 "exhausted (udp)"

	# The held connections: alive in the kernel, claimed and counted.
	expect_eq "$(kernel_tuples tcp $POOL4 20000 20199)" 50 "held IPv4 TCP connections ESTAB (ss)"
	expect_eq "$(kernel_tuples udp $POOL4 20000 20199)" 20 "held UDP sockets connected (ss)"
	expect_eq "$(kernel_tuples tcp $POOL6 20000 20199)" 20 "held IPv6 TCP connections ESTAB (ss)"
	expect_eq "$(claimed_ports tcp)" "$( (hold_output tcp4; hold_output tcp6) | grep -o 'local=[^ ]*' |
		sed 's/.*://' | LC_ALL=C sort -n | paste -sd' ' -)" "ports of the TCP claims against the held sockets"
	expect_eq "$(claimed_ports udp)" "$(held_ports udp4)" "ports of the UDP claims against the held sockets"
	expect_eq "$(status_field web tuples.total)" 70 "tuples of web in use"
	expect_eq "$(status_field web6 tuples.total)" 20 "tuples of web6 in use"

	# The programs: new ones in the same links, build N+1's, and status says so.
	after=$(progs "$NEXT")
	expect_eq "$(column 1 "$after")" "$(column 1 "$before")" "program names"
	expect_eq "$(column 2 "$after")" "$(column 2 "$before")" "link ids (the links stay)"
	expect_eq "$(comm -12 <(column 3 "$before" | tr ' ' '\n') <(column 3 "$after" | tr ' ' '\n'))" "" \
		"program ids both before and after the upgrade"
	expect_eq "$(comm -12 <(column 4 "$before" | tr ' ' '\n') <(column 4 "$after" | tr ' ' '\n'))" "" \
		"tags both before and after the upgrade"
	expect_eq "$(column 5 "$after" | tr ' ' '\n' | sort -u)" "$(build_ids "$NEXT" | cut -d' ' -f1)" "build id of every program"
	expect_eq "$(column 6 "$after" | tr ' ' '\n' | sort -u)" true "build N+1 is current for itself"
	expect_eq "$(column 6 "$(progs "$PS")" | tr ' ' '\n' | sort -u)" false "build N+1 is not build N's"
	out=$("$PS" status) || die "status failed"
	expect_match "$out" "programs: build $(build_ids "$NEXT" | cut -d' ' -f1), not this portslice's $(build_ids "$PS" | cut -d' ' -f1): attach again" "status of build N"
	expect_eq "$(bpftool -j cgroup show "$CG" | jq -r '.[].id' | LC_ALL=C sort | paste -sd' ' -)" \
		"$(column 3 "$after")" "programs on the cgroup (bpftool) against status"
	expect_eq "$(bpftool -j prog show id "$(printf '%s\n' "$after" | awk 'NR == 1 { print $3 }')" |
		jq -r '.metadata.build_id')" \
		"$(build_ids "$NEXT" | cut -d' ' -f1)" "build id bpftool reads from the program's metadata"

	# New sockets are placed by the new programs, with no shared tuple.
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080-8081 --count 30 --hold 0) ||
		die "connects after the upgrade: $(printf '%s\n' "$out" | grep -v result=ok | head -n 3)"
	check_conns "$out" $POOL4 20000 20199 30
	expect_eq "$(kernel_dups)" 0 "4-tuples two sockets share (ss)"

	# Still counted: detach drains exactly the held sockets; the new programs give their claims back.
	out=$("$NEXT" -j detach --cgroup "$CG") || die "detach failed"
	expect_eq "$(printf '%s' "$out" | jq -r .draining_sockets)" 90 "sockets that hold claims at detach"
	hold_stop tcp4
	hold_stop udp4
	hold_stop tcp6
	wait_field web tuples.total 0 "tuples of web once the held sockets closed"
	wait_field web6 tuples.total 0 "tuples of web6 once the held sockets closed"
	"$NEXT" detach --cgroup "$CG" >/dev/null || die "second detach failed"
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "pins remain after the drained cgroup went: $(find "$PORTSLICE_PIN_DIR" | head)"
}

# The same pools and the same build: attach refreshes, replaces nothing.
t_same_build_replaces_nothing() {
	local before
	std_setup
	attach
	before=$(progs "$PS")
	upgrade_to "$PS" "already attached, pools refreshed:"
	expect_eq "$(progs "$PS")" "$before" "programs after attaching the same build again"
	expect_eq "$("$PS" -j attach --cgroup "$CG" --config "$CONF" --host host-a | jq -r .replaced_build_id)" null \
		"replaced build when nothing was replaced"
}

# snapshot: what a refused command must leave as it is: links, programs,
# pins, claims and the attachment (counters move with any socket).
snapshot() {
	bpftool -j link show | jq -c --argjson id "$(stat -c %i "$CG")" \
		'[.[] | select(.type == "cgroup" and .cgroup_id == $id) | {id, attach_type, prog_id}] | sort_by(.id)'
	(cd "$PORTSLICE_PIN_DIR" && find . | LC_ALL=C sort | paste -sd' ' -)
	bpftool -j map dump pinned "$PORTSLICE_PIN_DIR/maps/ps_tuples" | jq -cS 'sort_by(.key)'
	bpftool -j map dump pinned "$PORTSLICE_PIN_DIR/maps/ps_attachments" | jq -cS 'sort_by(.key)'
}

# readme_refusal LAYOUT VERSION: the refusal the README quotes ("Upgrading")
# for pins under the default pin dir, made this test's: pins of LAYOUT under
# its pin dir, read by a portslice of layout VERSION.
readme_refusal() {
	grep -m1 '^portslice: error: the pins under ' "$ROOT/README.md" |
		sed -E -e "s|/sys/fs/bpf/portslice|$PORTSLICE_PIN_DIR|" -e "s/layout version [0-9]+,/layout version $1,/" \
			-e "s/reads version [0-9]+:/reads version $2:/" -e "s/stay on layout [0-9]+,/stay on layout $1,/"
}

# Pins of another layout (rewritten ps_meta, as a portslice of layout 99
# would have left them), with connections held: attach (either build) and
# status refuse with exactly the message the README quotes, as text and as
# JSON, and nothing changes; the README's steps then work.
t_layout_change_refused_with_the_documented_steps() {
	local v before err want out bin
	std_setup
	next_build
	attach
	serve srv --tcp $SRV4:8080
	hold_start held 10 --proto tcp --to $SRV4:8080 --count 10
	v=$("$PS" status --json | jq -r .layout_version)
	before=$(snapshot)
	bpftool map update pinned "$PORTSLICE_PIN_DIR/maps/ps_meta" key 0 0 0 0 value 99 0 0 0 0 0 0 0 ||
		die "bpftool map update failed"
	want=$(readme_refusal 99 "$v")
	[ -n "$want" ] || die "the README quotes no refusal of another layout"

	# (Warnings may come first: the error is the one line that says why.)
	for bin in "$NEXT" "$PS"; do
		err=$("$bin" attach --cgroup "$CG" --config "$CONF" --host host-a 2>&1 >/dev/null) &&
			die "attach with $bin accepted pins of layout 99"
		expect_eq "$(printf '%s\n' "$err" | grep '^portslice: error: ')" "$want" "refusal of attach with $bin"
	done
	err=$("$NEXT" status 2>&1 >/dev/null) && die "status read pins of layout 99"
	expect_eq "$(printf '%s\n' "$err" | grep '^portslice: error: ')" "$want" "refusal of status"
	err=$("$NEXT" -j attach --cgroup "$CG" --config "$CONF" --host host-a) && die "attach -j accepted layout 99"
	expect_eq "portslice: error: $(printf '%s' "$err" | jq -r .error)" "$want" "refusal of attach --json"
	expect_eq "$(snapshot)" "$before" "state after the refusals"
	expect_eq "$(kernel_tuples tcp $POOL4 20000 20999)" 10 "held connections"

	# The steps: (no agent here) detach --all, attach again.
	"$NEXT" detach --all >/dev/null || die "detach --all failed"
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "pins remain after detach --all"
	"$NEXT" attach --cgroup "$CG" --config "$CONF" --host host-a >/dev/null || die "attach after detach --all failed"
	expect_eq "$(column 6 "$(progs "$NEXT")" | tr ' ' '\n' | sort -u)" true "programs of the new build"
	expect_eq "$(kernel_tuples tcp $POOL4 20000 20999)" 10 "held connections after the steps"
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8080 --count 5 --hold 0) ||
		die "connects after the steps: $out"
	check_conns "$out" $POOL4 20000 20999 5
}
