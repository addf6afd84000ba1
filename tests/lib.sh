# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Shared by every shell test: isolated namespaces, cgroups and pins, and a
# cleanup that runs however the test ends. Sourced by tests/run.sh, which
# runs each t_* function of a test file in its own subshell.

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PS=${PS:-$ROOT/${OUTPUT:-build}/portslice}
PSNET=${PSNET:-$ROOT/${OUTPUT:-build}/tests/psnet}
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)

# Everything a test creates carries this tag, so cleanup finds it all.
# BASHPID, not $$: every test runs in its own subshell of one runner.
TAG=pstest$BASHPID

# The pins and the lock of a test never touch a real portslice on the host.
export PORTSLICE_PIN_DIR=/sys/fs/bpf/$TAG
export PORTSLICE_LOCK_FILE=/run/$TAG.lock

# The programs one attachment puts on its cgroup (connect, bind, sendmsg x2, sock_release, sock_ops).
PS_CGROUP_HOOKS=8

_pids=()
_client_loops=()

# TEST_TIME_SCALE=N: this machine is about N times slower than the one the
# waits were sized on (tests/vm sets 10 for an emulated CPU). Every wait
# for a condition below lasts N times longer before it gives up, and psnet
# stretches its timeouts by as much; a wait that succeeds ends as soon as
# its condition holds, so a slow machine costs nothing on a fast one.
TEST_TIME_SCALE=${TEST_TIME_SCALE:-1}
[[ $TEST_TIME_SCALE =~ ^[1-9][0-9]*$ ]] || TEST_TIME_SCALE=1
export TEST_TIME_SCALE

# polls N: the iterations of a polling loop sized for N on a normal machine.
polls() { seq 1 $(($1 * TEST_TIME_SCALE)); }

die() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "  # $*" >&2; }

# Assertions: print what was expected, then fail the test.
expect_eq() { [ "$1" = "$2" ] || die "${3:-value}: expected '$2', got '$1'"; }
expect_ne() { [ "$1" != "$2" ] || die "${3:-value}: expected anything but '$2'"; }
expect_ge() { [ "$1" -ge "$2" ] 2>/dev/null || die "${3:-value}: expected >= $2, got '$1'"; }
expect_le() { [ "$1" -le "$2" ] 2>/dev/null || die "${3:-value}: expected <= $2, got '$1'"; }
expect_match() { printf '%s' "$1" | grep -qE -- "$2" || die "${3:-output} does not match /$2/: $1"; }
# expect_contains TEXT PART [WHAT], expect_lacks TEXT PART [WHAT]: plain substrings.
expect_contains() {
	case "$1" in
	*"$2"*) ;;
	*) die "${3:-output} lacks '$2': $1" ;;
	esac
}
expect_lacks() {
	case "$1" in
	*"$2"*) die "${3:-output} has '$2': $1" ;;
	esac
}
expect_nomatch() { ! printf '%s' "$1" | grep -qE -- "$2" || die "${3:-output} matches /$2/: $1"; }

# run CMD...: runs CMD; sets RC, OUT (stdout) and ERR (stderr).
run() {
	"$@" >"$TMPD/run.out" 2>"$TMPD/run.err"
	RC=$?
	OUT=$(cat "$TMPD/run.out")
	ERR=$(cat "$TMPD/run.err")
}

# need_cmds WHAT CMD...: fail the test unless every CMD is installed.
need_cmds() {
	local what=$1 c
	shift
	for c in "$@"; do
		command -v "$c" >/dev/null || die "$what need $c (install it: make deps)"
	done
}

ensure_bpffs() {
	mount | grep -q ' /sys/fs/bpf type bpf ' || mount -t bpf bpf /sys/fs/bpf ||
		die "cannot mount bpffs at /sys/fs/bpf"
}

# Namespaces and cgroups are recorded in a file, not a variable, so that
# cleanup knows them even when they were made inside $(...).
ns_create() {
	local ns=$TAG-$1
	echo "netns $ns" >> "$TMPD/created"
	ip netns add "$ns" >&2 || die "ip netns add $ns"
	ip -n "$ns" link set lo up
	echo "$ns"
}

# cg_create NAME: a child cgroup of the cgroup2 root; prints its path.
cg_create() {
	local cg=$CG2/$TAG-$1
	echo "cgroup $cg" >> "$TMPD/created"
	mkdir "$cg" >&2 || die "mkdir $cg"
	echo "$cg"
}

# sh -c SCRIPT CGROUP NETNS CMD...: the shell joins CGROUP, then becomes CMD in NETNS.
IN_CG_SH='echo $$ > "$0/cgroup.procs" && exec ip netns exec "$@"'

# in_cg CGROUP NETNS CMD...: run CMD as a member of CGROUP inside NETNS.
in_cg() {
	local cg=$1 ns=$2
	shift 2
	sh -c "$IN_CG_SH" "$cg" "$ns" "$@"
}

# in_ns NETNS CMD...: run CMD inside NETNS, in the test's own cgroup.
in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# bg CMD...: start CMD in the background and remember it for cleanup.
bg() {
	"$@" &
	_pids+=($!)
	BG_PID=$!
}

# bg_in CG|- NETNS CMD...: CMD in NETNS (as a member of CG unless "-"),
# in the background; BG_PID is CMD's own PID (no shell in between), which
# cleanup stops.
bg_in() {
	local cg=$1 ns=$2
	shift 2
	if [ "$cg" = - ]; then
		bg ip netns exec "$ns" "$@"
	else
		bg sh -c "$IN_CG_SH" "$cg" "$ns" "$@"
	fi
}

# wait_line FILE REGEX WHAT: until a line of FILE matches REGEX (a
# background process said it is ready); fails the test with WHAT and the
# file's end if that takes more than 5 s (times TEST_TIME_SCALE).
wait_line() {
	local i
	for i in $(polls 100); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	die "$3: $(tail -n 5 "$1" 2>/dev/null)"
}

# ports_of OUTPUT: the local ports of psnet/psattack lines, one per line.
ports_of() { printf '%s\n' "$1" | grep -o 'local=[^ ]*' | sed 's/.*://'; }

# wait_ready FILE: wait until a server wrote "ready" into FILE.
wait_ready() { wait_line "$1" '^ready$' "server did not get ready"; }

# left_pids: processes still in the test's cgroups or namespaces. Only the
# test put processes there (a client a failed step left behind, a server's
# workers), so they are the test's to end.
left_pids() {
	local cg ns
	for cg in $(awk '$1 == "cgroup" { print $2 }' "$TMPD/created" 2>/dev/null); do
		find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null
	done
	for ns in $(awk '$1 == "netns" { print $2 }' "$TMPD/created" 2>/dev/null); do
		ip netns pids "$ns" 2>/dev/null
	done
}

# running PID: PID is a child of this shell that has not exited (a zombie
# waiting to be reaped has; a PID used again by another process is not ours).
running() {
	local st
	read -r st 2>/dev/null < "/proc/$1/stat" || return 1
	st=${st##*) }
	set -- ${st:0:40}
	[ "$1" != Z ] && [ "$2" = "$BASHPID" ]
}

# reap PID...: waits for the PIDs after SIGTERM, at most 5 s (times
# TEST_TIME_SCALE) for all of them; those still there get SIGKILL, and a
# line that names them, so that cleanup never hangs on a process that
# ignores SIGTERM or takes its time (an etcd member whose peers are gone).
reap() {
	local p i left
	for i in $(polls 100); do
		left=()
		for p in "$@"; do running "$p" && left+=("$p"); done
		[ ${#left[@]} -gt 0 ] || break
		sleep 0.05
	done
	for p in "$@"; do
		if running "$p"; then
			echo "cleanup: $p still there 5 s after SIGTERM, killed: $(ps -o stat=,wchan=,args= -p "$p" 2>/dev/null | cut -c1-160)" >&2
			kill -9 "$p" 2>/dev/null
		fi
		wait "$p" 2>/dev/null
	done
}

# timed_out: the TERM trap of tests/run.sh's timeout; says where the test
# was and what it still runs, which is all a hang leaves to read.
timed_out() {
	echo "FAIL: timed out or interrupted while running: $1 (in ${FUNCNAME[*]:1})"
	echo "processes of the test then:"
	ps -e -o pgid=,pid=,ppid=,etimes=,stat=,wchan:24=,args= --forest |
		awk -v g="$(ps -o pgid= -p $$)" '$1 == g { $1 = ""; print " " $0 }'
}

cleanup() {
	local p cg ns i left
	# etcd members first, and at once: a member whose peers left first can
	# spend seconds on a graceful stop, and a test's data has no use after.
	# Disowned: the shell would print "Killed" for each (make demo-fleet's output).
	for p in "${ETCD_PID[@]}"; do disown "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
	# CONT: a process the test stopped (SIGSTOP) would keep TERM pending, and wait for ever.
	for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; kill -CONT "$p" 2>/dev/null; done
	reap "${_pids[@]}"
	for i in $(polls 100); do
		left=$(left_pids)
		[ -n "$left" ] || break
		for p in $left; do kill "$p" 2>/dev/null; done
		sleep 0.05
	done
	for p in /sys/fs/bpf/$TAG /sys/fs/bpf/$TAG-*; do
		[ -e "$p" ] || continue
		PORTSLICE_PIN_DIR=$p "$PS" detach --all >/dev/null 2>&1
		rm -rf "$p" 2>/dev/null
	done
	# Children first: cgroups inside a test cgroup were made after it.
	for cg in $(awk '$1 == "cgroup" { print $2 }' "$TMPD/created" 2>/dev/null | tac); do
		for i in $(polls 50); do
			find "$cg" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
			rmdir "$cg" 2>/dev/null
			[ -d "$cg" ] || break
			sleep 0.1
		done
	done
	for ns in $(awk '$1 == "netns" { print $2 }' "$TMPD/created" 2>/dev/null); do
		ip netns del "$ns" 2>/dev/null
	done
	rm -f "$PORTSLICE_LOCK_FILE"
	rm -rf "$TMPD"
}

TMPD=$(mktemp -d /tmp/$TAG.XXXXXX)

# The standard world: one namespace whose lo carries the pool addresses and
# the servers' addresses, one test cgroup, a config with a slice for host-a.
POOL4=198.18.0.10
POOL6=2001:db8::10
SRV4=198.18.1.1
SRV6=2001:db8:1::1

# std_setup [SLICE4] [SLICE6]: sets NS, CG, CONF.
std_setup() {
	local s4=${1:-20000-20999} s6=${2:-20000-20999}
	ensure_bpffs
	NS=$(ns_create main)
	CG=$(cg_create main)
	ip -n "$NS" addr add $POOL4/32 dev lo
	ip -n "$NS" addr add $SRV4/32 dev lo
	ip -n "$NS" addr add $POOL6/128 dev lo nodad
	ip -n "$NS" addr add $SRV6/128 dev lo nodad
	CONF=$TMPD/fleet.yaml
	cat > "$CONF" <<-YAML
	pools:
	  - name: web
	    address: $POOL4
	    slices:
	      host-a: $s4
	      host-b: 40000-40999
	  - name: web6
	    address: $POOL6
	    slices:
	      host-a: $s6
	      host-b: 40000-40999
	YAML
}

# attach [ARGS...]: attach the standard cgroup as host-a.
attach() {
	"$PS" attach --cgroup "$CG" --config "$CONF" --host host-a "$@" >/dev/null ||
		die "portslice attach failed"
}

# serve NAME ARGS...: start psnet serve in the namespace and wait for it.
serve() {
	local name=$1
	shift
	bg ip netns exec "$NS" "$PSNET" serve "$@" > "$TMPD/$name.out" 2>&1
	wait_ready "$TMPD/$name.out"
}

# client_loop PROTO COUNT TO: a client in the test cgroup that connects to
# TO (ADDR:PORT[-PORT]) and closes (RST, no TIME_WAIT), COUNT sockets per
# psnet run, run after run until client_loops_stop; each run's results
# are counted into $TMPD/client-PROTO.out.
client_loop() {
	: > "$TMPD/client-$1.out"
	(
		while [ ! -e "$TMPD/stop" ]; do
			in_cg "$CG" "$NS" "$PSNET" connect --proto "$1" --to "$3" --count "$2" \
				--close-each --linger0 --allow-fail 2>/dev/null |
				grep -o 'result=[A-Za-z]*' | sort | uniq -c >> "$TMPD/client-$1.out"
		done
	) &
	_pids+=($!)
	_client_loops+=($!)
}

# client_loops_stop: ends every client_loop once its run is over; sets
# LOOP_TOTAL (connects), LOOP_FAILS (those that failed) and LOOP_RESULTS
# ("COUNT result=NAME" words).
client_loops_stop() {
	touch "$TMPD/stop"
	wait "${_client_loops[@]}"
	_client_loops=()
	LOOP_RESULTS=$(cat "$TMPD"/client-*.out | awk '{ n[$2] += $1 } END { for (r in n) print n[r], r }')
	LOOP_TOTAL=$(printf '%s\n' "$LOOP_RESULTS" | awk '{ s += $1 } END { print s + 0 }')
	LOOP_FAILS=$(printf '%s\n' "$LOOP_RESULTS" | grep -v 'result=ok' | awk '{ s += $1 } END { print s + 0 }')
	LOOP_RESULTS=$(echo $LOOP_RESULTS)
}

# wait_eq VALUE WHAT CMD...: until CMD prints VALUE (a release may trail
# the close that caused it, a quarantine runs out); fails the test with
# WHAT after 10 s (times TEST_TIME_SCALE).
wait_eq() {
	local want=$1 what=$2 i
	shift 2
	for i in $(polls 200); do
		[ "$("$@")" = "$want" ] && return 0
		sleep 0.05
	done
	expect_eq "$("$@")" "$want" "$what"
}

# wait_field POOL PATH VALUE WHAT: until status_field POOL PATH is VALUE.
wait_field() { wait_eq "$3" "$4" status_field "$1" "$2"; }

# pool_json POOL FILTER: pool POOL of `portslice status --json` through the
# jq FILTER, compact (pool_json web '[.slice_size, .blocks]').
pool_json() { "$PS" status --json | jq -c --arg pool "$1" ".pools[] | select(.name == \$pool) | $2"; }

# next_build: sets NEXT to a portslice of another build: the same source,
# each BPF program one dead instruction longer (tests/upgrade.mk), so other
# tags and build ids; the upgrade tests move between $PS and $NEXT. `make
# test` built it already; make here only checks it is up to date.
next_build() {
	local out=${OUTPUT:-build}
	NEXT=$ROOT/$out/tests/next/portslice
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$ROOT" --no-print-directory OUTPUT="$out" \
		"$out/tests/next/portslice" >"$TMPD/next-build.log" 2>&1 ||
		die "cannot build the next build: $(tail -n 5 "$TMPD/next-build.log")"
	expect_ne "$(build_ids "$NEXT")" "$(build_ids "$PS")" "build ids of the next build"
}

# build_ids BINARY: "SOCK STEER", the build ids BINARY stamps on its programs.
build_ids() { "$1" --version | sed -n 's/.*build sock \([0-9a-f]*\) steer \([0-9a-f]*\).*/\1 \2/p'; }

# status_field POOL PATH: one value of `portslice status --json`, e.g.
# status_field web tuples.total, status_field web counters.tcp.exhausted
status_field() {
	"$PS" status --json | jq -er --arg pool "$1" \
		".pools[] | select(.name == \$pool) | .$2" || die "status has no $2 for pool $1"
}

# wait_count FILE REGEX N WHAT: until N lines of FILE match REGEX.
wait_count() {
	local i
	for i in $(polls 200); do
		[ "$(grep -cE -- "$2" "$1")" -ge "$3" ] && return 0
		sleep 0.05
	done
	die "$4: $(grep -cE -- "$2" "$1") lines of $3 match /$2/: $(tail -n 5 "$1")"
}

# map_entries MAP: how many entries the pinned socket-side map has.
map_entries() {
	bpftool -j map dump pinned "$PORTSLICE_PIN_DIR/maps/$1" | jq length
}

# kernel_tuples PROTO ADDR LO HI: connected sockets (not TIME_WAIT) in the
# namespace whose local address is ADDR with a port in LO-HI, counted from
# the kernel's own table by ss (PROTO: tcp or udp).
kernel_tuples() {
	local flag=-t
	[ "$1" = udp ] && flag=-u
	in_ns "$NS" ss -Hna $flag | awk -v addr="$2" -v lo="$3" -v hi="$4" '
		$1 == "ESTAB" || $1 == "SYN-SENT" || $1 == "FIN-WAIT-1" || $1 == "FIN-WAIT-2" || $1 == "CLOSE-WAIT" || $1 == "LAST-ACK" || $1 == "CLOSING" {
			n = split($4, a, ":"); port = a[n]
			host = substr($4, 1, length($4) - length(port) - 1)
			gsub(/[][]/, "", host)
			if (host == addr && port + 0 >= lo && port + 0 <= hi) c++
		}
		END { print c + 0 }'
}

# kernel_dups: 4-tuples that two or more live sockets share, per ss.
kernel_dups() {
	{
		in_ns "$NS" ss -Hna -t | awk '$1 != "LISTEN" && $1 != "TIME-WAIT" { print "tcp", $4, $5 }'
		in_ns "$NS" ss -Hna -u | awk '$1 == "ESTAB" { print "udp", $4, $5 }'
	} | sort | uniq -d | wc -l
}

# in_blocks_only ADDR RANGE...: every port of a connected socket the kernel
# shows on ADDR (ss, TCP and UDP) is in one of the ranges LO-HI; prints how
# many distinct ports there are, or -1 (and the culprits on stderr).
in_blocks_only() {
	local addr=$1
	shift
	{ in_ns "$NS" ss -Hna -t; in_ns "$NS" ss -Hna -u; } | awk -v addr="$addr" -v ranges="$*" '
		$1 != "LISTEN" && $1 != "UNCONN" {
			l = $4; n = split(l, a, ":"); port = a[n]
			host = substr(l, 1, length(l) - length(port) - 1); gsub(/[][]/, "", host)
			if (host != addr) next
			ok = 0; k = split(ranges, r, " ")
			for (i = 1; i <= k; i++) { split(r[i], b, "-"); if (port + 0 >= b[1] && port + 0 <= b[2]) ok = 1 }
			if (!ok) { print "outside the blocks: " l > "/dev/stderr"; bad++ }
			seen[port] = 1
		}
		END { if (bad) print -1; else { c = 0; for (p in seen) c++; print c } }'
}

# check_conns OUTPUT ADDR LO HI COUNT: every psnet connect line that
# succeeded left from ADDR with a port in LO-HI, and COUNT of them did.
check_conns() { check_conns_in "$1" "$2" "$3-$4" "$5"; }

# check_conns_in OUTPUT ADDR RANGES COUNT: the same with ports in any of
# RANGES ("LO-HI LO-HI ...": a dynamic pool's blocks).
check_conns_in() {
	local out=$1 addr=$2 ranges=$3 want=$4 n
	n=$(printf '%s\n' "$out" | awk -v addr="$addr" -v ranges="$ranges" '
		BEGIN { nr = split(ranges, r, " ") }
		/result=ok/ {
			for (i = 1; i <= NF; i++) if ($i ~ /^local=/) l = substr($i, 7)
			n = split(l, a, ":"); port = a[n] + 0
			host = substr(l, 1, length(l) - length(a[n]) - 1); gsub(/[][]/, "", host)
			ok_port = 0
			for (i = 1; i <= nr; i++) { split(r[i], b, "-"); if (port >= b[1] && port <= b[2]) ok_port = 1 }
			if (host != addr || !ok_port) { print "outside: " l > "/dev/stderr"; bad++ }
			ok++
		}
		END { print bad ? -1 : ok + 0 }')
	expect_eq "$n" "$want" "connections from $addr with a port in $ranges"
}

# stdin_start NAME CMD...: CMD inside the test cgroup and namespace, in the
# background, its stdin a fifo the test writes through HOLD_FD_NAME (a line,
# or the end with hold_stop), its output in $TMPD/NAME.out and .err.
stdin_start() {
	local name=$1
	shift
	mkfifo "$TMPD/$name.fifo"
	# Redirections of a background command happen in the child: opening
	# the fifo there does not block this shell. The child closes the write
	# ends of earlier holds, or those would never see end of file.
	(
		for f in ${_hold_fds:-}; do eval "exec $f>&-"; done
		in_cg "$CG" "$NS" "$@"
	) < "$TMPD/$name.fifo" > "$TMPD/$name.out" 2>"$TMPD/$name.err" &
	BG_PID=$!
	_pids+=($BG_PID)
	eval "HOLD_PID_$name=$BG_PID"
	exec {fd}> "$TMPD/$name.fifo"
	eval "HOLD_FD_$name=$fd"
	_hold_fds="${_hold_fds:-} $fd"
}

# hold_start NAME COUNT ARGS...: psnet connect ARGS... --hold-stdin inside
# the test cgroup, in the background, until COUNT sockets are reported.
# hold_stop NAME closes them.
hold_start() {
	local name=$1 count=$2 i
	shift 2
	stdin_start "$name" "$PSNET" connect "$@" --hold-stdin
	for i in $(polls 600); do
		[ "$(grep -c 'result=' "$TMPD/$name.out" 2>/dev/null)" -ge "$count" ] && return 0
		kill -0 "$BG_PID" 2>/dev/null || break
		sleep 0.05
	done
	die "psnet connect ($name) did not report $count sockets: $(tail -n 3 "$TMPD/$name.out" "$TMPD/$name.err")"
}

# hold_stop NAME: ends the stdin of stdin_start's (or hold_start's) NAME and
# waits for it; its exit status is NAME's.
hold_stop() {
	local fd pid
	eval "fd=\$HOLD_FD_$1 pid=\$HOLD_PID_$1"
	exec {fd}>&-
	wait "$pid"
}

hold_output() { cat "$TMPD/$1.out"; }

# owner_of SLOT PORT: the host id ps_steer_owner holds for PORT of pool SLOT.
owner_of() {
	local k=$(($1 * 65536 + $2))
	bpftool -j map lookup pinned "$PORTSLICE_PIN_DIR/maps/ps_steer_owner" \
		key $((k & 255)) $((k >> 8 & 255)) $((k >> 16 & 255)) $((k >> 24 & 255)) |
		jq -r '.formatted.value // (.value | if type == "array" then (.[0] | tonumber) else . end)'
}

# ---- etcd (tests/fleet) ---------------------------------------------------
# A three-member etcd cluster of Debian's etcd-server, each member in its own
# namespace, wired with veths to a bridge in a hub namespace; every client
# gets its own namespace on the same bridge. Everything is made inside the
# test's namespaces (ns_create): cleanup ends the members and deletes the
# namespaces with their links, however the test ends.
ETCD_NET=${ETCD_NET:-198.18.200}
ETCD_PEERS=()          # member I's address is ${ETCD_PEERS[I]}
ETCD_NS=()             # ... its namespace
ETCD_PID=()            # ... its PID (the etcd process itself)
ETCD_ENDPOINTS=
ETCD_HUB=
# https after etcd_tls (clients must then show a certificate of its CA).
ETCD_SCHEME=http
ETCD_TLS_ARGS=()

# etcd_hub: the hub namespace with its bridge, made once per test.
etcd_hub() {
	[ -n "$ETCD_HUB" ] && return 0
	ETCD_HUB=$(ns_create ehub)
	ip -n "$ETCD_HUB" link add br0 type bridge || die "bridge in $ETCD_HUB"
	ip -n "$ETCD_HUB" link set br0 up
}

# etcd_wire NS HOSTNUM LINK [DEV]: a veth from the hub's bridge (its end
# named LINK) to NS (DEV, default eth0, $ETCD_NET.HOSTNUM/24).
etcd_wire() {
	local ns=$1 num=$2 link=$3 dev=${4:-eth0}
	etcd_hub
	ip -n "$ETCD_HUB" link add "$link" type veth peer name "$dev" netns "$ns" || die "veth $link to $ns"
	ip -n "$ETCD_HUB" link set "$link" master br0 up
	ip -n "$ns" addr add "$ETCD_NET.$num/24" dev "$dev"
	ip -n "$ns" link set "$dev" up
}

# etcd_cluster_start [N] [ETCD-ARGS...]: N members (default 3), ready when
# every one answers healthy. Sets ETCD_ENDPOINTS (http://IP:2379,...).
etcd_cluster_start() {
	local n=${1:-3} i cluster= urls=
	shift || true
	command -v etcd >/dev/null || die "etcd not installed: make deps (etcd-server)"
	for i in $(seq 1 "$n"); do
		ETCD_PEERS[$i]=$ETCD_NET.$i
		cluster+="${cluster:+,}m$i=http://$ETCD_NET.$i:2380"
		urls+="${urls:+,}$ETCD_SCHEME://$ETCD_NET.$i:2379"
	done
	ETCD_ENDPOINTS=$urls
	for i in $(seq 1 "$n"); do
		ETCD_NS[$i]=$(ns_create etcd$i)
		etcd_wire "${ETCD_NS[$i]}" "$i" "m$i"
		mkdir -p "$TMPD/etcd$i"
		bg_in - "${ETCD_NS[$i]}" etcd --name "m$i" --data-dir "$TMPD/etcd$i/data" \
			--listen-client-urls "$ETCD_SCHEME://${ETCD_PEERS[$i]}:2379" \
			--advertise-client-urls "$ETCD_SCHEME://${ETCD_PEERS[$i]}:2379" "${ETCD_TLS_ARGS[@]}" \
			--listen-peer-urls "http://${ETCD_PEERS[$i]}:2380" \
			--initial-advertise-peer-urls "http://${ETCD_PEERS[$i]}:2380" \
			--initial-cluster "$cluster" --initial-cluster-state new \
			--initial-cluster-token "$TAG" --heartbeat-interval 100 --election-timeout 1000 \
			--listen-metrics-urls "http://${ETCD_PEERS[$i]}:2381" "$@" \
			> "$TMPD/etcd$i/log" 2>&1
		ETCD_PID[$i]=$BG_PID
	done
	for i in $(polls 300); do
		etcdctl_in "${ETCD_NS[1]}" endpoint health >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "etcd cluster did not get healthy: $(tail -n 5 "$TMPD/etcd1/log")"
}

# etcd_tls: before etcd_cluster_start, a CA, a certificate for the members
# (their addresses as IP SANs) and one for clients, in $TMPD/tls; the
# members then serve https only and ask clients for a certificate of that
# CA. Sets ETCD_CA, ETCD_CERT, ETCD_KEY (the client's), which etcdctl_in uses.
etcd_tls() {
	local d=$TMPD/tls i sans=IP:127.0.0.1
	mkdir -p "$d"
	for i in 1 2 3; do sans+=",IP:$ETCD_NET.$i"; done
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=pstest-ca \
		-keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null || die "openssl: CA"
	openssl req -newkey rsa:2048 -nodes -subj /CN=etcd -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null &&
		openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
			-extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$sans") \
			-out "$d/server.pem" 2>/dev/null || die "openssl: server certificate"
	openssl req -newkey rsa:2048 -nodes -subj /CN=portslice -keyout "$d/client.key" -out "$d/client.csr" 2>/dev/null &&
		openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
			-extfile <(printf 'extendedKeyUsage=clientAuth\n') -out "$d/client.pem" 2>/dev/null ||
		die "openssl: client certificate"
	ETCD_SCHEME=https
	ETCD_CA=$d/ca.pem ETCD_CERT=$d/client.pem ETCD_KEY=$d/client.key
	ETCD_TLS_ARGS=(--cert-file "$d/server.pem" --key-file "$d/server.key" --client-cert-auth
		--trusted-ca-file "$d/ca.pem")
}

# etcdctl_in NS ARGS...: etcdctl (v3 API) against the cluster, from NS.
etcdctl_in() {
	local ns=$1
	shift
	local tls=()
	# Empty ETCDCTL_* variables make etcdctl warn on every call: TLS only when the test set it up.
	[ -z "${ETCD_CA:-}" ] || tls=(--cacert="$ETCD_CA" --cert="$ETCD_CERT" --key="$ETCD_KEY")
	ETCDCTL_API=3 ip netns exec "$ns" etcdctl --endpoints="$ETCD_ENDPOINTS" --dial-timeout=2s \
		--command-timeout=3s "${tls[@]}" "$@"
}

# etcd_member_kill I: kill -9 of member I (only the PID this test started).
etcd_member_kill() {
	kill -9 "${ETCD_PID[$1]}" 2>/dev/null
	wait "${ETCD_PID[$1]}" 2>/dev/null
	return 0
}

# etcd_client_ns NAME NUM: a namespace for a client, on the bridge at
# $ETCD_NET.NUM (NUM > 10); prints its name.
etcd_client_ns() {
	local ns
	ns=$(ns_create "$1")
	etcd_wire "$ns" "$2" "c$2" >&2
	echo "$ns"
}

# etcd_partition NS / etcd_heal NS: cut NS off the bridge and back.
etcd_partition() { ip -n "$1" link set eth0 down; }
etcd_heal() { ip -n "$1" link set eth0 up; }
