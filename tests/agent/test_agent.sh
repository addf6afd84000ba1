# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The agent, the doctor and the metrics, as an operator meets them: an agent
# killed -9 under load costs no connection, a reload moves a slice without
# touching the other pools, a broken config is refused and changes nothing,
# the metrics endpoint agrees with `portslice status --json`, the systemd
# unit verifies, and doctor tells a good host from a bad one.
# Sourced by tests/run.sh after tests/lib.sh; each t_* runs in a subshell.

# lib.sh's cleanup removes the files of $TMPD, not directories: these
# tests' own directories go first. Wrapped once, however many files that
# source this one a test sources.
# (run.sh also sources this file alone, to list the tests.)
if declare -F cleanup >/dev/null && ! declare -F _lib_cleanup >/dev/null; then
	eval "_lib_cleanup() $(declare -f cleanup | tail -n +2)"
	cleanup() {
		[ -n "${TMPD:-}" ] && rm -rf -- "$TMPD/etc" "$TMPD/unit" "$TMPD/nobody"
		_lib_cleanup
	}
fi

# ---- helpers ---------------------------------------------------------------

# agent_conf [SLICE4] [SLICE6]: the standard world, and a config whose
# cgroups: section lists the test cgroup. Sets NS, CG, CONF.
agent_conf() {
	std_setup "$@"
	mkdir -p "$TMPD/etc"
	chmod 755 "$TMPD/etc"
	CONF=$TMPD/etc/fleet.yaml
	write_conf "${1:-20000-20999}" "${2:-20000-20999}"
}

# write_conf SLICE4 SLICE6 [EXTRA]: (re)writes the config the way editors
# do, to a temporary file renamed over it.
write_conf() {
	cat > "$CONF.tmp" <<-YAML
	pools:
	  - name: web
	    address: $POOL4
	    slices:
	      host-a: $1
	      host-b: 40000-40999
	  - name: web6
	    address: $POOL6
	    slices:
	      host-a: $2
	      host-b: 40000-40999
	cgroups:
	  - path: $CG
	${3:-}
	YAML
	chmod 644 "$CONF.tmp"
	mv "$CONF.tmp" "$CONF"
}

# put_conf TEXT [MODE]: replace the config in one rename, with its mode
# already set: the agent never reads a half-made file.
put_conf() {
	printf '%s\n' "$1" > "$CONF.tmp"
	chmod "${2:-644}" "$CONF.tmp"
	mv "$CONF.tmp" "$CONF"
}

# net_only NETNS CMD...: CMD in NETNS's network namespace only. `ip netns
# exec` also gives a fresh /sys, which hides bpffs and cgroup2: portslice
# itself must see the host's.
net_only() {
	local ns=$1
	shift
	# exec: under `bg`, the PID recorded is then the command's own. It
	# replaces the calling shell: call it in a subshell, $(...), or bg.
	exec nsenter --net="/run/netns/$ns" "$@"
}

# agent_start NAME [ARGS...]: portslice agent inside the test namespace, in
# the background, as host $AGENT_HOST (default host-a), logging to
# $TMPD/NAME.log; waits until it is running. Sets AGENT_PID.
agent_start() {
	local name=$1 i
	shift
	: > "$TMPD/$name.log"
	bg net_only "$NS" "$PS" agent --config "$CONF" --host "${AGENT_HOST:-host-a}" --interval 0 "$@" \
		>> "$TMPD/$name.log" 2>&1
	AGENT_PID=$BG_PID
	AGENT_LOG=$TMPD/$name.log
	for i in $(polls 200); do
		grep -qE '(: |")running: ' "$AGENT_LOG" && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.05
	done
	die "agent did not start: $(cat "$AGENT_LOG")"
}

# wait_log PATTERN [COUNT]: until the agent's log has COUNT lines matching.
wait_log() {
	local i want=${2:-1}
	for i in $(polls 200); do
		[ "$(grep -cE -- "$1" "$AGENT_LOG")" -ge "$want" ] && return 0
		sleep 0.05
	done
	die "agent log never showed /$1/ ($want times): $(tail -n 5 "$AGENT_LOG")"
}

# The state that must not change across agent restarts and refused reloads:
# the attachments, the pools' settings and the kernel's links of the cgroup.
state_snapshot() {
	local id
	id=$(stat -c %i "$CG")
	"$PS" status --json | jq -cS '{attachments, pools: [.pools[] | {name, slot, address, first_port, last_port}]}'
	bpftool -j link show | jq -c --argjson id "$id" \
		'[.[] | select(.type == "cgroup" and .cgroup_id == $id) | {id, attach_type, prog_id}] | sort_by(.id)'
}

# links_of CG: how many cgroup links the kernel has on CG.
links_of() {
	bpftool -j link show | jq --argjson id "$(stat -c %i "$1")" \
		'[.[] | select(.type == "cgroup" and .cgroup_id == $id)] | length'
}

# metric TEXT NAME LABELS: the value of one sample ("" if absent).
metric() {
	printf '%s\n' "$1" | awk -v key="$2${3:-}" '$1 == key { print $2 }'
}

# ---- the agent ---------------------------------------------------------------

t_agent_attaches_and_adopts_after_kill9_under_load() {
	agent_conf
	serve srv --tcp $SRV4:8000-8099 --udp $SRV4:8000-8099
	agent_start a1
	expect_eq "$("$PS" status --json | jq -r '.attachments[0].cgroup')" "$CG" "attached cgroup"
	expect_eq "$(links_of "$CG")" $PS_CGROUP_HOOKS "links on the cgroup"
	local before after out rc
	before=$(state_snapshot)

	# Clients connect through the cgroup while the agent dies and comes back.
	in_cg "$CG" "$NS" "$PSNET" stress --connects 60000 --udp-percent 30 --procs 2 --threads 2 --batch 32 \
		--to $SRV4:8000-8099 --expect-addr $POOL4 --expect-range 20000-20999 > "$TMPD/stress.out" 2>&1 &
	local stress=$!
	_pids+=($stress)
	sleep 0.3
	kill -0 $stress 2>/dev/null || note "the stress run ended before the kill: $(cat "$TMPD/stress.out")"
	kill -9 "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	expect_eq "$(links_of "$CG")" $PS_CGROUP_HOOKS "links after kill -9 (the pins hold them)"
	agent_start a2
	kill -0 $stress 2>/dev/null && note "the second agent was up while clients still connected"
	wait $stress
	rc=$?
	out=$(cat "$TMPD/stress.out")
	note "$out"
	expect_eq "$rc" 0 "stress exit code"
	expect_match "$out" " failed=0 " "stress summary"
	expect_match "$out" " dup_tuples=0 " "stress summary"
	expect_match "$out" " out_of_range=0 " "stress summary"
	expect_eq "$(in_ns "$NS" "$PSNET" dupcheck --family 4 | grep -o 'dup_tuples=[0-9]*')" dup_tuples=0 "kernel table"
	expect_eq "$(kernel_dups)" 0 "duplicate tuples per ss"

	after=$(state_snapshot)
	expect_eq "$after" "$before" "state (attachments, pools, links) after the new agent adopted it"
	expect_eq "$(links_of "$CG")" $PS_CGROUP_HOOKS "links after the second agent (never duplicated)"
	grep -q 'attached ' "$TMPD/a2.log" && die "the second agent attached again instead of adopting: $(cat "$TMPD/a2.log")"
	true
}

t_agent_reload_moves_a_slice_under_load() {
	agent_conf
	serve srv --tcp $SRV4:8000-8099 --tcp "[$SRV6]:8000-8099"
	agent_start a1 --metrics 127.0.0.1:9465

	# Load on web (unchanged) while web6's slice moves.
	in_cg "$CG" "$NS" "$PSNET" stress --connects 40000 --procs 2 --threads 2 --batch 32 \
		--to $SRV4:8000-8099 --expect-addr $POOL4 --expect-range 20000-20999 > "$TMPD/stress.out" 2>&1 &
	local stress=$! rc out
	_pids+=($stress)
	sleep 0.2
	write_conf 20000-20999 21000-21999
	wait_log 'config generation 2 .* applied'
	wait $stress
	rc=$?
	out=$(cat "$TMPD/stress.out")
	note "$out"
	expect_eq "$rc" 0 "stress exit code"
	expect_match "$out" " failed=0 " "connects on the unchanged pool"
	expect_match "$out" " dup_tuples=0 " "stress summary"

	# New connections on web6 use the new slice.
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to "[$SRV6]:8000-8099" --count 50 --linger0)
	check_conns "$out" "$POOL6" 21000 21999 50
	expect_eq "$(status_field web6 first_port)" 21000 "web6's slice after the reload"
	expect_eq "$(status_field web first_port)" 20000 "web's slice after the reload"

	out=$(in_ns "$NS" curl -sf http://127.0.0.1:9465/metrics) || die "scrape failed"
	expect_eq "$(metric "$out" portslice_config_generation)" 2 "config generation"
	expect_eq "$(metric "$out" portslice_config_last_reload_success)" 1 "last reload result"
	expect_eq "$(metric "$out" portslice_config_reloads_total '{result="ok"}')" 1 "successful reloads"
}

# A table of broken configs: each is refused with its message, the running
# state stays, and a good one is accepted afterwards.
t_agent_refuses_broken_configs() {
	agent_conf
	agent_start a1 --metrics 127.0.0.1:9465
	local before good n=0 name text want
	before=$(state_snapshot)
	good=$(cat "$CONF")
	local nl=$'\n'
	local cases=(
		"syntax|pools: [ {name: web|fleet.yaml:2"
		"bad_range|${good/20000-20999/20000-2099x}|fleet.yaml:5: pools[0].slices.host-a"
		"overlap|${good/40000-40999/20500-21500}|overlaps"
		"unknown_pool|${good}${nl}    pools: [web, nope]|cgroups[0].pools[1]: no pool is named \"nope\""
		"no_cgroups|${good%%cgroups:*}|cgroups: missing"
		"no_slice_for_host|$(printf '%s' "$good" | sed 's/host-a: 20000-20999/host-c: 20000-20999/')${nl}    pools: [web]|has no slice for host 'host-a'"
		"relative_path|${good/path: $CG/path: relative/cg}|cgroups[0].path"
	)
	for c in "${cases[@]}"; do
		name=${c%%|*}
		text=${c#*|}
		want=${text##*|}
		text=${text%|*}
		n=$((n + 1))
		put_conf "$text"
		wait_log 'config rejected' "$n"
		expect_contains "$(grep 'config rejected' "$AGENT_LOG" | tail -n 1)" "$want" "rejection of $name"
		expect_eq "$(state_snapshot)" "$before" "state after the refused config ($name)"
	done

	# Writable by others: refused although the content is fine.
	put_conf "$good" 666
	n=$((n + 1))
	wait_log 'config rejected' "$n"
	expect_contains "$(grep 'config rejected' "$AGENT_LOG" | tail -n 1)" "every user may write it" "rejection of a world-writable file"
	# SIGHUP of a bad file: refused too.
	kill -HUP "$AGENT_PID"
	n=$((n + 1))
	wait_log 'config rejected' "$n"
	expect_eq "$(state_snapshot)" "$before" "state after the refused configs"
	local out
	out=$(in_ns "$NS" curl -sf http://127.0.0.1:9465/metrics) || die "scrape failed"
	expect_eq "$(metric "$out" portslice_config_generation)" 1 "generation after refusals"
	expect_eq "$(metric "$out" portslice_config_last_reload_success)" 0 "last reload result"
	expect_eq "$(metric "$out" portslice_config_reloads_total '{result="failed"}')" "$n" "failed reloads"

	# One rename to a good file, mode 644 included: a chmod first would let
	# the agent apply the old content as generation 2.
	write_conf 20000-20999 22000-22999
	wait_log 'config generation 2 .* applied'
	expect_eq "$(status_field web6 first_port)" 22000 "web6's slice after a good config"
	kill -0 "$AGENT_PID" || die "the agent died"
}

t_agent_refuses_unsafe_or_broken_config_at_start() {
	agent_conf
	local nobody_dir=$TMPD/nobody
	run_agent() { timeout 10 "$PS" agent --config "$1" --host host-a --interval 0 >"$TMPD/out" 2>"$TMPD/err"; echo $?; }

	chmod 666 "$CONF"
	expect_eq "$(run_agent "$CONF")" 1 "exit code with a world-writable config"
	expect_contains "$(cat "$TMPD/err")" "every user may write it" "error"
	chmod 644 "$CONF"
	chmod 777 "$TMPD/etc"
	expect_eq "$(run_agent "$CONF")" 1 "exit code with a world-writable directory"
	expect_contains "$(cat "$TMPD/err")" "config directory $TMPD/etc" "error"
	chmod 755 "$TMPD/etc"
	mkdir "$nobody_dir"
	cp "$CONF" "$nobody_dir/fleet.yaml"
	chown 65534 "$nobody_dir/fleet.yaml"
	expect_eq "$(run_agent "$nobody_dir/fleet.yaml")" 1 "exit code with a config owned by nobody"
	expect_contains "$(cat "$TMPD/err")" "owned by uid 65534, not root" "error"

	# The metrics address is taken: refused before anything is attached.
	serve busy --tcp 127.0.0.1:9465
	timeout 10 nsenter --net="/run/netns/$NS" "$PS" agent --config "$CONF" --host host-a \
		--metrics 127.0.0.1:9465 >"$TMPD/out" 2>"$TMPD/err"
	expect_eq "$?" 1 "exit code with a busy metrics address"
	expect_contains "$(cat "$TMPD/err")" "cannot serve metrics on 127.0.0.1:9465" "error"
	timeout 10 "$PS" agent --config "$CONF" --host host-a --metrics localhost:9465 >"$TMPD/out" 2>"$TMPD/err"
	expect_eq "$?" 2 "exit code with a bad metrics address"
	expect_contains "$(cat "$TMPD/err")" "expected ADDR:PORT with an IP address" "error"
	[ -e "$PORTSLICE_PIN_DIR/cgroups" ] && die "a refused agent attached something: $(ls -R "$PORTSLICE_PIN_DIR")"

	put_conf "pools: ["
	# As for attach: a config error is a usage error (exit 2).
	expect_eq "$(run_agent "$CONF")" 2 "exit code with a broken config"
	expect_contains "$(cat "$TMPD/err")" "fleet.yaml:" "error names the file"
	[ -e "$PORTSLICE_PIN_DIR" ] && die "a refused agent left pins behind"
	true
}

# Whoever can change any step of the config's path decides what the agent
# reads: every directory on it, each symlink and what it points to, must be
# root's and writable by root alone.
t_agent_refuses_a_config_path_others_can_change() {
	agent_conf
	local udir=$TMPD/udir out
	run_agent() { timeout 10 "$PS" agent --config "$1" --host host-a --interval 0 >"$TMPD/out" 2>"$TMPD/err"; echo $?; }

	# The issue's case: a root-owned config, linked from a user's directory.
	mkdir "$udir"
	chown 65534 "$udir"
	ln -s "$CONF" "$udir/fleet.yaml"
	expect_eq "$(run_agent "$udir/fleet.yaml")" 1 "exit code with a link in a user's directory"
	expect_contains "$(cat "$TMPD/err")" "refusing the config directory $udir (on the way to $udir/fleet.yaml): it is owned by uid 65534, not root" "error"
	# A link of root's in root's directory, to a file in a user's directory.
	cp "$CONF" "$udir/real.yaml"
	ln -s "$udir/real.yaml" "$TMPD/etc/via-link.yaml"
	expect_eq "$(run_agent "$TMPD/etc/via-link.yaml")" 1 "exit code with a link to a user's directory"
	expect_contains "$(cat "$TMPD/err")" "refusing the config directory $udir (on the way to" "error"
	# A link the user owns, in a sticky directory others may write.
	chmod 711 "$TMPD"
	mkdir -m 1777 "$TMPD/sticky"
	setpriv --reuid=65534 --regid=65534 --clear-groups ln -s "$CONF" "$TMPD/sticky/fleet.yaml" ||
		die "the user could not make a link in the sticky directory"
	expect_eq "$(run_agent "$TMPD/sticky/fleet.yaml")" 1 "exit code with a user's link"
	expect_contains "$(cat "$TMPD/err")" "refusing the config symlink $TMPD/sticky/fleet.yaml" "error"
	# A directory further up that others may write.
	chmod 777 "$TMPD"
	expect_eq "$(run_agent "$CONF")" 1 "exit code with a world-writable directory further up"
	expect_contains "$(cat "$TMPD/err")" "refusing the config directory $TMPD (on the way to $CONF): every user may write it" "error"
	chmod 711 "$TMPD"
	[ -e "$PORTSLICE_PIN_DIR/cgroups" ] && die "a refused agent attached something: $(ls -R "$PORTSLICE_PIN_DIR")"

	# All root's, through links: accepted; doctor agrees.
	mkdir "$TMPD/etc/real"
	mv "$CONF" "$TMPD/etc/real/fleet.yaml"
	ln -s real/fleet.yaml "$CONF"
	out=$("$PS" doctor --config "$CONF" --host host-a 2>&1)
	expect_match "$out" "ok config_perms: root owns, and only root may write, $CONF and every directory and symlink on its path" "doctor"
	agent_start a1
	expect_eq "$(links_of "$CG")" $PS_CGROUP_HOOKS "links on the listed cgroup"

	# The swap: the directory behind the link is given to a user, who puts
	# a config there that lists no cgroup. A reload refuses it; the cgroup
	# stays attached.
	chown 65534 "$TMPD/etc/real"
	setpriv --reuid=65534 --regid=65534 --clear-groups sh -c '
		sed "/^cgroups:/,\$d" "$1" > "$1.new" && mv -f "$1.new" "$1"' _ "$TMPD/etc/real/fleet.yaml" ||
		die "the user could not replace the config"
	kill -HUP "$AGENT_PID"
	wait_log "config rejected, generation 1 stays in force: refusing the config directory $TMPD/etc/real"
	expect_eq "$(links_of "$CG")" $PS_CGROUP_HOOKS "links on the listed cgroup after the swap"
	kill -0 "$AGENT_PID" || die "the agent died"
}

# -j: the agent's log is JSON lines, one object a message.
t_agent_logs_json_lines_with_j() {
	agent_conf
	agent_start a1 -j
	wait_log '"message":"running: config '
	kill -HUP "$AGENT_PID"
	wait_log '"message":"config generation 2 from .* applied"'
	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID"
	jq -e -s 'length >= 3 and all(.[]; (.time | type == "number") and (.level | IN("error", "warning", "info", "debug"))
		and .component == "agent" and (.message | type == "string"))' "$AGENT_LOG" >/dev/null ||
		die "the log is not JSON lines: $(head -n 5 "$AGENT_LOG")"
	expect_match "$(jq -r 'select(.level == "info") | .message' "$AGENT_LOG" | head -n 1)" "^attached $CG " "first info line"
}

t_agent_detaches_unlisted_and_sigterm_leaves_datapath() {
	agent_conf
	local other
	other=$(cg_create other)
	"$PS" attach --cgroup "$other" --config "$CONF" --host host-a >/dev/null || die "attach other"
	agent_start a1
	wait_log "detached cgroup $(stat -c %i "$other"): the config no longer lists it"
	expect_eq "$(links_of "$other")" 0 "links on the unlisted cgroup"
	expect_eq "$(links_of "$CG")" $PS_CGROUP_HOOKS "links on the listed cgroup"

	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID"
	expect_eq "$?" 0 "agent exit code on SIGTERM"
	expect_contains "$(cat "$AGENT_LOG")" "the datapath stays in place" "log"
	expect_eq "$(links_of "$CG")" $PS_CGROUP_HOOKS "links after SIGTERM"
	serve srv --tcp $SRV4:8000-8009
	check_conns "$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8000-8009 --count 10)" \
		$POOL4 20000 20999 10
	"$PS" detach --all >/dev/null || die "detach --all"
	[ -e "$PORTSLICE_PIN_DIR" ] && die "pins left after detach --all"
	expect_eq "$(links_of "$CG")" 0 "links after detach --all"
}

# A listed cgroup that appears later is attached by the retry; one detached
# behind the agent's back is attached again by the periodic pass.
t_agent_retries_missing_cgroups_and_repairs() {
	agent_conf
	local late=$CG2/$TAG-late
	put_conf "$(cat "$CONF")
  - path: $late"
	agent_start a1 --interval 1
	expect_contains "$(cat "$AGENT_LOG")" "1 of 2 cgroups attached" "startup log"
	expect_contains "$(cat "$AGENT_LOG")" "cgroups[1] $late: " "error for the missing cgroup"
	late=$(cg_create late)
	wait_log "attached $late "
	wait_log "every listed cgroup is attached now"
	expect_eq "$(links_of "$late")" $PS_CGROUP_HOOKS "links on the late cgroup"
	"$PS" detach --cgroup "$CG" >/dev/null || die "detach"
	expect_eq "$(links_of "$CG")" 0 "links right after a manual detach"
	wait_log "attached $CG " 2
	expect_eq "$(links_of "$CG")" $PS_CGROUP_HOOKS "links after the periodic pass"
}

# An upgrade is an agent restarted with the new binary (issue 15): started
# with build N+1 over build N's attachment, it replaces the programs inside
# the same links at once; connections held across it keep their claims. On
# a later pass it replaces programs of another build that someone attached
# by hand (build N again).
t_agent_upgrades_programs_in_place() {
	agent_conf
	next_build
	serve srv --tcp $SRV4:8000-8009
	agent_start a1
	hold_start held 20 --proto tcp --to $SRV4:8000-8009 --count 20
	local n n1 links progs out
	n=$(build_ids "$PS" | cut -d' ' -f1) n1=$(build_ids "$NEXT" | cut -d' ' -f1)
	links=$(bpftool -j link show | jq -c --argjson id "$(stat -c %i "$CG")" \
		'[.[] | select(.type == "cgroup" and .cgroup_id == $id) | .id] | sort')
	progs=$("$PS" status --json | jq -c '[.attachments[0].programs[].prog_id] | sort')
	expect_eq "$("$PS" status --json | jq -c '.attachments[0] | [.build_ids, .build_current]')" "[[\"$n\"],true]" \
		"build of the programs the first agent attached"
	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID"

	PS=$NEXT agent_start a2 --interval 1
	wait_log "upgraded $CG: programs of build $n replaced in place by build $n1"
	expect_eq "$("$NEXT" status --json | jq -c '.attachments[0] | [.build_ids, .build_current]')" "[[\"$n1\"],true]" \
		"build of the programs after the upgrade"
	expect_eq "$(bpftool -j link show | jq -c --argjson id "$(stat -c %i "$CG")" \
		'[.[] | select(.type == "cgroup" and .cgroup_id == $id) | .id] | sort')" "$links" "link ids after the upgrade"
	expect_eq "$("$NEXT" status --json | jq -c --argjson old "$progs" '[.attachments[0].programs[].prog_id] - $old | length')" \
		$PS_CGROUP_HOOKS "new program ids after the upgrade"
	expect_eq "$(kernel_tuples tcp $POOL4 20000 20999)" 20 "held connections (ss)"
	expect_eq "$(status_field web tuples.tcp)" 20 "claims of the held connections"

	# Build N attached by hand: the next pass puts build N+1 back.
	out=$("$PS" -j attach --cgroup "$CG" --config "$CONF" --host host-a) || die "attach with build N failed"
	expect_eq "$(printf '%s' "$out" | jq -r '[.result, .replaced_build_id] | join(" ")')" "upgraded $n1" "attach with build N"
	wait_log "upgraded $CG: programs of build $n replaced in place by build $n1" 2
	expect_eq "$("$NEXT" status --json | jq -r '.attachments[0].build_current')" true "build after the pass"
	expect_eq "$(status_field web tuples.tcp)" 20 "claims of the held connections after the pass"
	check_conns "$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8000-8009 --count 10 --linger0)" \
		$POOL4 20000 20999 10
	# The agent inherited the hold's pipe: it goes first, or the hold never sees its end.
	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID"
	hold_stop held
	wait_field web tuples.total 0 "claims once the held connections closed (released by build N+1)"
}

# systemd's readiness protocol: READY=1 once the datapath is in place,
# RELOADING=1 then READY=1 around a reload.
t_agent_notifies_systemd() {
	command -v python3 >/dev/null || { echo "python3 is needed to receive sd_notify messages"; exit 249; }
	agent_conf
	local sock=$TMPD/notify.sock
	python3 - "$sock" > "$TMPD/notify.out" <<-'PY' &
	import socket, sys
	s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
	s.bind(sys.argv[1])
	s.settimeout(20)
	try:
	    while True:
	        msg = s.recv(4096).decode()
	        print(msg.replace("\n", " "), flush=True)
	except Exception:
	    pass
	PY
	_pids+=($!)
	local i
	for i in $(polls 100); do [ -S "$sock" ] && break; sleep 0.05; done
	export NOTIFY_SOCKET=$sock
	agent_start a1
	unset NOTIFY_SOCKET
	wait_line "$TMPD/notify.out" READY=1 "no READY=1 notification"
	expect_match "$(head -n 1 "$TMPD/notify.out")" "^READY=1 STATUS=generation 1, 1 of 1 cgroups attached" "first notification"
	kill -HUP "$AGENT_PID"
	for i in $(polls 100); do [ "$(grep -c READY=1 "$TMPD/notify.out")" -ge 2 ] && break; sleep 0.05; done
	expect_match "$(sed -n 2p "$TMPD/notify.out")" "^RELOADING=1 MONOTONIC_USEC=[0-9]+ " "notification at reload"
	expect_match "$(sed -n 3p "$TMPD/notify.out")" "^READY=1 STATUS=generation 2" "notification after reload"
}

# ---- metrics -----------------------------------------------------------------

t_metrics_endpoint_matches_status() {
	agent_conf
	serve srv --tcp $SRV4:8000-8099 --udp $SRV4:8000-8099 --tcp "[$SRV6]:8000-8099"
	agent_start a1 --metrics 127.0.0.1:9465
	hold_start h4 40 --proto tcp --to $SRV4:8000-8099 --count 40
	hold_start u4 25 --proto udp --to $SRV4:8000-8099 --count 25
	hold_start h6 10 --proto tcp --to "[$SRV6]:8000-8099" --count 10
	# Failures: a bind outside the slice (EPERM) counts as bind_denied.
	in_cg "$CG" "$NS" "$PSNET" bind --proto tcp --addr $POOL4:30000 --expect-errno EPERM >/dev/null ||
		die "bind outside the slice was not refused"

	local out st pool proto f
	out=$(in_ns "$NS" curl -sf http://127.0.0.1:9465/metrics) || die "curl of the metrics endpoint failed"
	st=$("$PS" status --json)
	for pool in web web6; do
		expect_eq "$(metric "$out" portslice_slice_ports "{pool=\"$pool\"}")" \
			"$(jq -r --arg p $pool '.pools[] | select(.name == $p) | .slice_size' <<<"$st")" "$pool slice size"
		expect_eq "$(metric "$out" portslice_ports_in_use "{pool=\"$pool\"}")" \
			"$(jq -r --arg p $pool '.pools[] | select(.name == $p) | .ports_in_use' <<<"$st")" "$pool ports in use"
		for proto in tcp udp; do
			expect_eq "$(metric "$out" portslice_tuples_in_use "{pool=\"$pool\",proto=\"$proto\"}")" \
				"$(jq -r --arg p $pool --arg t $proto '.pools[] | select(.name == $p) | .tuples[$t]' <<<"$st")" \
				"$pool $proto tuples in use"
			for f in allocated:allocations_total released:releases_total kernel_held:kernel_held_total \
				bound:bound_total; do
				expect_eq "$(metric "$out" "portslice_${f#*:}" "{pool=\"$pool\",proto=\"$proto\"}")" \
					"$(jq -r --arg p $pool --arg t $proto --arg c "${f%%:*}" \
						'.pools[] | select(.name == $p) | .counters[$t][$c]' <<<"$st")" "$pool $proto ${f%%:*}"
			done
		done
	done
	expect_eq "$(metric "$out" portslice_tuples_in_use '{pool="web",proto="tcp"}')" 40 "web TCP tuples held"
	expect_eq "$(metric "$out" portslice_tuples_in_use '{pool="web",proto="udp"}')" 25 "web UDP tuples held"
	expect_eq "$(metric "$out" portslice_tuples_in_use '{pool="web6",proto="tcp"}')" 10 "web6 TCP tuples held"
	expect_eq "$(metric "$out" portslice_failures_total '{pool="web",proto="tcp",errno="EPERM",reason="bind_denied"}')" 1 \
		"bind_denied failures"
	expect_eq "$(metric "$out" portslice_attached_cgroups)" 1 "attached cgroups"
	# Exhaustion is one series of one family: summing failures counts it once.
	expect_eq "$(metric "$out" portslice_failures_total '{pool="web",proto="tcp",errno="EADDRNOTAVAIL",reason="exhausted"}')" \
		"$(jq -r '.pools[] | select(.name == "web") | .counters.tcp.exhausted' <<<"$st")" "exhausted failures"
	expect_eq "$(printf '%s\n' "$out" | grep -c '^portslice_exhaustion')" 0 "a second family counting exhaustion"
	expect_eq "$(metric "$out" portslice_headroom_ports '{pool="web"}')" \
		"$(jq -r '.pools[] | select(.name == "web") | .headroom' <<<"$st")" "web headroom"
	expect_eq "$(metric "$out" portslice_config_generation)" 1 "config generation"
	expect_eq "$(metric "$out" portslice_config_last_reload_success)" 1 "last reload result"

	# Exposition format: every sample belongs to a family with HELP and TYPE.
	local fam
	for fam in $(printf '%s\n' "$out" | grep -v '^#' | sed 's/[{ ].*//' | sort -u); do
		printf '%s\n' "$out" | grep -q "^# HELP $fam " || die "no HELP for $fam"
		printf '%s\n' "$out" | grep -qE "^# TYPE $fam (gauge|counter)$" || die "no TYPE for $fam"
	done
	printf '%s\n' "$out" | grep -v '^#' | grep -vqE '^portslice_[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.]+$' &&
		die "malformed samples: $(printf '%s\n' "$out" | grep -v '^#' | grep -vE '^portslice_[a-z_]+(\{.*\})? [0-9.]+$' | head -n 3)"

	# stats --prometheus prints the same pool families (the agent adds its own).
	local stats
	stats=$("$PS" stats --prometheus) || die "stats --prometheus failed"
	expect_eq "$(printf '%s\n' "$stats" | grep -c '^portslice_config')" 0 "agent metrics in stats"
	expect_eq "$(printf '%s\n' "$stats" | grep '^portslice_tuples_in_use')" \
		"$(printf '%s\n' "$out" | grep '^portslice_tuples_in_use')" "tuples in use, stats against the endpoint"
	"$PS" stats --prometheus --output "$TMPD/portslice.prom" || die "stats --output failed"
	expect_eq "$(grep -c '^portslice_slice_ports' "$TMPD/portslice.prom")" 2 "slice samples in the textfile"
	expect_eq "$(ls "$TMPD" | grep -c 'portslice.prom.tmp')" 0 "temporary files left by --output"
	expect_eq "$(in_ns "$NS" curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9465/nope)" 404 "unknown path"
	hold_stop h4
	hold_stop u4
	hold_stop h6
}

# Steering verdicts, when `portslice steer` has pinned its maps.
t_metrics_steering_verdicts_match_status() {
	agent_conf
	local peer try
	peer=$(ns_create peer)
	# The peer sits in a namespace of its own, so its packets cross ps0.
	ip -n "$NS" link add ps0 type veth peer name ps1 netns "$peer" || die "cannot create the veth pair"
	ip -n "$NS" addr add 192.0.2.1/24 dev ps0
	ip -n "$peer" addr add 192.0.2.2/24 dev ps1
	# No IPv6 on the pair: no router solicitations changing counters between reads.
	in_ns "$NS" sysctl -qw net.ipv6.conf.ps0.disable_ipv6=1
	in_ns "$peer" sysctl -qw net.ipv6.conf.ps1.disable_ipv6=1
	ip -n "$NS" link set ps0 up
	ip -n "$peer" link set ps1 up
	cat >> "$CONF" <<-YAML
	hosts:
	  host-a: {address: 198.18.10.1}
	  host-b: {address: 198.18.10.2}
	steering:
	  mode: l2
	  interfaces: [ps0]
	YAML
	(net_only "$NS" "$PS" steer attach --config "$CONF" --host host-a) >/dev/null || die "steer attach"
	# Traffic that reaches ps0 from its peer: passed, not for a pool.
	for try in 1 2 3; do
		in_ns "$peer" "$PSNET" sendto --to 192.0.2.1:9 >/dev/null 2>&1
	done
	local out st v
	# A stray packet (ARP) may land between the two reads: try again then.
	for try in 1 2 3; do
		out=$("$PS" stats --prometheus) || die "stats failed"
		st=$("$PS" status --json)
		[ "$(metric "$out" portslice_steering_packets_total '{verdict="passed_not_pool"}')" = \
			"$(jq -r '.steering.counters.passed_not_pool' <<<"$st")" ] && break
	done
	for v in passed_not_pool passed_own passed_other forwarded dropped_no_owner dropped_malformed; do
		expect_eq "$(metric "$out" portslice_steering_packets_total "{verdict=\"$v\"}")" \
			"$(jq -r --arg v $v '.steering.counters[$v]' <<<"$st")" "steering verdict $v"
	done
	expect_ge "$(metric "$out" portslice_steering_packets_total '{verdict="passed_not_pool"}')" 1 "packets seen"
	(net_only "$NS" "$PS" steer detach --all) >/dev/null || die "steer detach"
}

t_stats_without_pins() {
	ensure_bpffs
	local out
	out=$("$PS" stats --prometheus) || die "stats failed without pins"
	expect_eq "$(metric "$out" portslice_attached_cgroups)" 0 "attached cgroups"
	expect_eq "$(metric "$out" portslice_up)" 1 "up"
	out=$("$PS" -j stats 2>&1)
	expect_contains "$out" '"error"' "stats --json"
}

# ---- deployment ----------------------------------------------------------------

t_systemd_unit_verifies() {
	command -v systemd-analyze >/dev/null || { echo "systemd-analyze is not installed"; exit 249; }
	# The unit names /usr/local/sbin/portslice; verify it against the built one.
	mkdir -p "$TMPD/unit"
	sed "s|/usr/local/sbin/portslice|$PS|g" "$ROOT/deploy/portslice.service" > "$TMPD/unit/portslice.service"
	local out
	# --man=no: the pages its Documentation= names are not installed here
	# (tests/deploy/test_packaging.sh verifies an installed copy with them).
	out=$(systemd-analyze verify --man=no "$TMPD/unit/portslice.service" 2>&1) || die "systemd-analyze verify failed: $out"
	expect_eq "$(printf '%s' "$out" | grep -c 'portslice.service')" 0 "complaints about the unit: $out"
	expect_match "$(grep '^Type=' "$ROOT/deploy/portslice.service")" '^Type=notify$' "unit type"
}

t_deploy_files_are_consistent() {
	# The example config is valid and every command the docs name exists.
	local out
	out=$("$PS" doctor --config "$ROOT/deploy/portslice.yaml" --host node-a --json)
	expect_eq "$(jq -r '.checks[] | select(.name == "config") | .result' <<<"$out")" ok "example config"
	sed -n '/^data:/,$p' "$ROOT/deploy/kubernetes/configmap.yaml" | sed -n '/fleet.yaml: |/,$p' | tail -n +2 |
		sed 's/^    //' > "$TMPD/cm.yaml"
	out=$("$PS" doctor --config "$TMPD/cm.yaml" --host node-b --json)
	expect_eq "$(jq -r '.checks[] | select(.name == "config") | .result' <<<"$out")" ok "ConfigMap's config"
	grep -q -- '--host=$(NODE_NAME)' "$ROOT/deploy/kubernetes/daemonset.yaml" || die "DaemonSet does not pass the node name"
	grep -q 'fieldPath: spec.nodeName' "$ROOT/deploy/kubernetes/daemonset.yaml" || die "no downward API for the node name"
}

# ---- doctor --------------------------------------------------------------------

t_doctor_good_host_is_ok() {
	agent_conf 20000-20999 21000-21999
	"$PS" attach --cgroup "$CG" --config "$CONF" --host host-a >/dev/null || die "attach"
	local out rc
	out=$(net_only "$NS" "$PS" doctor --config "$CONF" --host host-a)
	rc=$?
	note "$out"
	expect_eq "$rc" 0 "doctor exit code"
	expect_nomatch "$out" '^fail ' "doctor report"
	expect_match "$out" "ok address.web: $POOL4 is configured on lo" "address check"
	expect_match "$out" "ok feature.bpf_loop: " "feature probe"
	expect_match "$out" "ok kernel: " "kernel check"
	expect_match "$out" "ok cgroup.$CG: " "cgroup check (from the config)"
	# Every line has the documented shape.
	printf '%s\n' "$out" | sed '$d' | grep -vqE '^(ok|warn|fail) [^ :]+: ' && die "malformed lines: $out"
	out=$(net_only "$NS" "$PS" doctor --config "$CONF" --host host-a --json)
	expect_eq "$(jq -r .ok <<<"$out")" true "doctor --json ok"
}

t_doctor_bad_host_fails_with_fixes() {
	agent_conf 33000-33999 20000-20999
	# The pool addresses are not configured in this namespace.
	local bare out rc
	bare=$(ns_create bare)
	# A listener inside web6's slice, and a foreign program on the cgroup's connect4 hook.
	bg in_ns "$bare" "$PSNET" bind --proto tcp --addr "[::]:20005" --listen --hold 30 > "$TMPD/listener.out"
	wait_line "$TMPD/listener.out" result= "the listener did not bind"
	expect_match "$(cat "$TMPD/listener.out")" "result=ok" "the listener in web6's slice"
	out=$(net_only "$bare" "$PS" doctor --config "$CONF" --host host-a)
	rc=$?
	note "$out"
	expect_eq "$rc" 1 "doctor exit code"
	expect_match "$out" "fail address.web: pool 'web': $POOL4 is not configured .*; fix: ip addr add $POOL4/32 dev lo" "address check"
	expect_match "$out" "fail address.web6: .*; fix: ip addr add $POOL6/128 dev lo nodad" "address check"
	expect_match "$out" "warn port_range.web: slice 33000-33999 overlaps ip_local_port_range .*; fix: " "port range check"
	expect_match "$out" "warn listeners.web6: 1 listening socket.*tcp \[::\]:20005.*; fix: " "listener check"
	chmod 666 "$CONF"
	out=$(net_only "$bare" "$PS" doctor --config "$CONF" --host host-a)
	expect_match "$out" "warn config_perms: portslice agent would refuse it .*every user may write it .*; fix: chmod o-w $CONF\$" \
		"config permission check"
	chmod 644 "$CONF"
	out=$(net_only "$bare" "$PS" doctor --config "$CONF" --host nobody)
	expect_match "$out" "fail host: no pool has a slice for host 'nobody'; fix: " "host check"
	put_conf "pools: ["
	out=$(net_only "$bare" "$PS" doctor --config "$CONF" --host host-a --json)
	expect_eq "$(jq -r '.checks[] | select(.name == "config") | .result' <<<"$out")" fail "config check"
	expect_contains "$(jq -r '.checks[] | select(.name == "config") | .detail' <<<"$out")" "fleet.yaml:" "config detail"
}

t_doctor_sees_foreign_programs_on_the_hooks() {
	agent_conf
	"$PS" attach --cgroup "$CG" --config "$CONF" --host host-a >/dev/null || die "attach"
	# Someone else's program on the connect4 hook of the same cgroup.
	cat > "$TMPD/foreign.bpf.c" <<-'C'
	struct bpf_sock_addr;
	__attribute__((section("cgroup/connect4"), used)) int foreign(struct bpf_sock_addr *ctx) { return 1; }
	char _license[] __attribute__((section("license"), used)) = "GPL";
	C
	clang -O2 -target bpf -c "$TMPD/foreign.bpf.c" -o "$TMPD/foreign.bpf.o" || die "clang"
	bpftool prog load "$TMPD/foreign.bpf.o" "/sys/fs/bpf/$TAG-foreign" type cgroup/connect4 ||
		die "bpftool prog load"
	bpftool cgroup attach "$CG" connect4 pinned "/sys/fs/bpf/$TAG-foreign" multi ||
		{ rm -f "/sys/fs/bpf/$TAG-foreign"; die "bpftool cgroup attach"; }
	local out
	out=$(net_only "$NS" "$PS" doctor --config "$CONF" --host host-a)
	bpftool cgroup detach "$CG" connect4 pinned "/sys/fs/bpf/$TAG-foreign"
	rm -f "/sys/fs/bpf/$TAG-foreign"
	expect_match "$out" "warn cgroup.$CG: 1 other program\(s\) run on the hooks portslice uses .*connect4: prog [0-9]+ " "foreign program"
}
