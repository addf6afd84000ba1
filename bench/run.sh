#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Driver of `make bench`: builds the namespaces, cgroups and pins each
# benchmark needs, runs build/bench/psbench in them (contenders alternating,
# several rounds), summarizes, plots, and removes everything it made however
# it ends. See docs/benchmarks.md for the method.
#
#   BENCH_QUICK=1        ~2 minute version (fewer rounds, smaller runs)
#   BENCH_RESULTS=DIR    where results go (default build/bench-results)
#   BENCH_ONLY="occ fast conc steer scale tw nginx dist blocks"   run only these parts
#                        (blocks is not in the default run: BENCH_ONLY=blocks)
#   PS=FILE              the portslice binary (default $OUTPUT/portslice): the
#                        dist part of another build, see docs/benchmarks.md
#   BENCH_DIST_LABEL=L   the build's name in dist.csv (default: the commit)
#   BENCH_DIST_BEFORE=DIR  also plot and list DIR's dist results (an earlier
#                        BENCH_ONLY=dist run of another build)
#
# Only traffic inside the namespaces made here; attaches only to cgroups made
# here; pins only under /sys/fs/bpf/psbench<pid>*.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUTPUT=${OUTPUT:-build}
case $OUTPUT in /*) BUILD=$OUTPUT ;; *) BUILD=$ROOT/$OUTPUT ;; esac
PS=${PS:-$BUILD/portslice}
PSNET=$BUILD/tests/psnet
PB=$BUILD/bench/psbench
RES=${BENCH_RESULTS:-$BUILD/bench-results}
QUICK=${BENCH_QUICK:-0}
ONLY=${BENCH_ONLY:-occ fast conc steer scale tw nginx dist}
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)

TAG=psbench$$
export PORTSLICE_LOCK_FILE=/run/$TAG.lock
TMPD=$(mktemp -d /tmp/$TAG.XXXXXX)
_pids=()

POOL=198.18.0.10
SRV=198.18.1.1

say() { printf '%s  %s\n' "$(date +%T)" "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

cleanup() {
	local p cg ns pin i left
	trap - EXIT INT TERM
	for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${_pids[@]}"; do wait "$p" 2>/dev/null; done
	# anything still running inside what we made was started by us
	for ns in $(awk '$1 == "netns" { print $2 }' "$TMPD/created" 2>/dev/null); do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done
	done
	for cg in $(awk '$1 == "cgroup" { print $2 }' "$TMPD/created" 2>/dev/null); do
		for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill "$p" 2>/dev/null; done
	done
	for i in $(seq 1 100); do
		left=0
		for ns in $(awk '$1 == "netns" { print $2 }' "$TMPD/created" 2>/dev/null); do
			[ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && left=1
		done
		[ $left = 0 ] && break
		sleep 0.1
	done
	for pin in /sys/fs/bpf/$TAG /sys/fs/bpf/$TAG-*; do
		[ -e "$pin" ] || continue
		PORTSLICE_PIN_DIR=$pin "$PS" detach --all >/dev/null 2>&1
		rm -rf "$pin" 2>/dev/null
	done
	for cg in $(awk '$1 == "cgroup" { print $2 }' "$TMPD/created" 2>/dev/null | tac); do
		rmdir "$cg" 2>/dev/null
	done
	for ns in $(awk '$1 == "netns" { print $2 }' "$TMPD/created" 2>/dev/null); do
		ip netns del "$ns" 2>/dev/null
	done
	rm -f "$PORTSLICE_LOCK_FILE"
	[ -n "${STATS_WAS:-}" ] && sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	rm -rf "$TMPD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || fail "run as root (namespaces, cgroups, BPF)"
[ -n "$CG2" ] || fail "no cgroup2 mount"
for b in "$PS" "$PSNET" "$PB"; do [ -x "$b" ] || fail "$b missing: make bench-build"; done
command -v gnuplot >/dev/null || fail "gnuplot missing: make bench-deps"
mount | grep -q ' /sys/fs/bpf type bpf ' || mount -t bpf bpf /sys/fs/bpf || fail "no bpffs"

# ---- knobs ------------------------------------------------------------------
if [ "$QUICK" = 1 ]; then
	OCC_ROUNDS=3; OCC_COUNT=300; OCC_SECS=0.5; OCC_SIZES="1000 10000"
	FAST_ROUNDS=5; FAST_COUNT=1000
	CONC_ROUNDS=1; CONC_TOTAL=20000; CONC_PROCS=2
	STEER_ROUNDS=3; STEER_SECS=0.5
	SCALE_ROUNDS=3; SCALE_COUNT=300; SCALE_POINTS="1000 100000 1000000"
	TW_ROUNDS=2; TW_SECS=2
	NGX_ROUNDS=3; NGX_REQUESTS=2000
	DIST_COUNT=5000
else
	OCC_ROUNDS=11; OCC_COUNT=3000; OCC_SECS=3; OCC_SIZES="1000 10000"
	FAST_ROUNDS=31; FAST_COUNT=5000
	CONC_ROUNDS=5; CONC_TOTAL=100000; CONC_PROCS=8
	STEER_ROUNDS=15; STEER_SECS=1
	SCALE_ROUNDS=9; SCALE_COUNT=3000; SCALE_POINTS="1000 3000 10000 30000 100000 300000 1000000"
	TW_ROUNDS=6; TW_SECS=4
	NGX_ROUNDS=11; NGX_REQUESTS=10000
	DIST_COUNT=20000
fi
TW_SLICE=100
OCCS="0 50 90 99"
OCC_CONTENDERS="A-tcp B C D A-udp B-udp C-udp"

# ---- helpers ------------------------------------------------------------------
mkns() {
	local ns=$TAG-$1
	echo "netns $ns" >> "$TMPD/created"
	ip netns add "$ns" || fail "ip netns add $ns"
	ip -n "$ns" link set lo up
	echo "$ns"
}

mkcg() {
	local cg=$CG2/$TAG-$1
	echo "cgroup $cg" >> "$TMPD/created"
	mkdir "$cg" || fail "mkdir $cg"
	echo "$cg"
}

# lo carries the pool address and the server address
addrs() {
	ip -n "$1" addr add $POOL/32 dev lo
	ip -n "$1" addr add $SRV/32 dev lo
}

# run_in CG|- NS CMD...: CMD in NS, as a member of CG unless CG is "-"
run_in() {
	local cg=$1 ns=$2
	shift 2
	# exec: a background run_in is then the measured process itself, so
	# that its PID is the one to stop
	if [ "$cg" = - ]; then
		exec ip netns exec "$ns" "$@"
	else
		exec sh -c 'echo $$ > "$0/cgroup.procs" && exec ip netns exec "$@"' "$cg" "$ns" "$@"
	fi
}

# bg_ready NAME CG NS CMD...: start CMD in the background, wait for "ready"
bg_ready() {
	local name=$1 cg=$2 ns=$3 i
	shift 3
	run_in "$cg" "$ns" "$@" > "$TMPD/$name.out" 2> "$TMPD/$name.err" &
	_pids+=($!)
	BG_PID=$!
	for i in $(seq 1 6000); do
		grep -qx ready "$TMPD/$name.out" 2>/dev/null && return 0
		kill -0 "$BG_PID" 2>/dev/null || break
		sleep 0.05
	done
	fail "$name did not get ready: $(tail -n 3 "$TMPD/$name.out" "$TMPD/$name.err")"
}

stop_pid() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

attach() { # CG CONF
	"$PS" attach --cgroup "$1" --config "$2" --host bench >/dev/null 2>"$TMPD/attach.err" ||
		fail "portslice attach: $(cat "$TMPD/attach.err")"
}

conf() { # FILE SLICE
	cat > "$1" <<-YAML
	pools:
	  - name: bench
	    address: $POOL
	    slices:
	      bench: $2
	YAML
}

# memlock(): bytes_memlock of the maps that grow with each claimed tuple:
# ps_tuples, and ps_sk_state where it is a map (since 6a9be27; before, the
# per-socket record was socket-local storage, charged to the socket)
memlock() {
	local m t=0 b
	for m in ps_tuples ps_sk_state; do
		[ -e "$PORTSLICE_PIN_DIR/maps/$m" ] || continue
		b=$(bpftool -j map show pinned "$PORTSLICE_PIN_DIR/maps/$m" | jq -r .bytes_memlock)
		t=$((t + b))
	done
	echo "$t"
}

RUNS=$RES/runs.csv
if [ "${BENCH_PLOT_ONLY:-0}" = 1 ]; then
	# summarize and plot the results already in $RES again
	[ -s "$RUNS" ] || fail "no $RUNS to plot"
	ONLY=
else
rm -rf "$RES"
mkdir -p "$RES/raw"
: > "$RUNS"
# Run-time statistics left on (kernel.bpf_stats_enabled=1, by a profiling
# session) cost every BPF program two clock reads a run: off for the
# measurements, as on a production host; part 5 takes its own statistics
# through BPF_ENABLE_STATS, which holds them on only while it reads them.
# BENCH_BPF_STATS=1 leaves them on, for part 7's per-program profile.
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null)
STATS_RUN=$([ "${BENCH_BPF_STATS:-0}" = 1 ] && echo 1 || echo 0)
sysctl -qw kernel.bpf_stats_enabled=$STATS_RUN 2>/dev/null
cat > "$RES/machine.txt" <<EOF
date: $(date -u +%FT%TZ)
bpf_stats_enabled: $STATS_RUN during the run (was ${STATS_WAS:-unknown})
nproc: $(nproc)
kernel: $(uname -r)
cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
memory: $(awk '/MemTotal/ { print $2, $3 }' /proc/meminfo)
quick: $QUICK
commit: ${BENCH_COMMIT:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}
EOF
fi
cat "$RES/machine.txt" >&2

want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

# cycle GROUP CONTENDER ROUND CG NS ARGS...: one measured run
cycle() {
	local g=$1 c=$2 r=$3 cg=$4 ns=$5
	shift 5
	mkdir -p "$RES/raw/$g"
	(run_in "$cg" "$ns" "$PB" cycle --tag "$g,$c,$r" --runs "$RUNS" --raw "$RES/raw/$g/$c.r$r" "$@" \
		> /dev/null 2> "$TMPD/cycle.err") || fail "cycle $g $c round $r: $(cat "$TMPD/cycle.err")"
}

# cycle_stats GROUP CONTENDER ROUND CG NS PINDIR COUNT DPORT RANGE: one
# measured run of plain TCP connects with ps_connect4's run time: psbench
# enters the namespace itself, after opening the pinned link under PINDIR
# to read the program's run time (BPF_ENABLE_STATS)
cycle_stats() {
	mkdir -p "$RES/raw/$1"
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$4" "$PB" cycle --netns "$5" \
		--tag "$1,$2,$3" --runs "$RUNS" --raw "$RES/raw/$1/$2.r$3" \
		--mode plain --to $SRV:"$8" --count "$7" --max-secs 5 \
		--bpf-stats "$6" --expect-range "$9" \
		> /dev/null 2> "$TMPD/cycle.err" || fail "cycle $1 $2: $(cat "$TMPD/cycle.err")"
}

# ---- 1 and 2: connect() cost by occupancy, and the fast path --------------
# Contenders, each in its own namespace (held sockets would collide):
#   A-tcp, A-udp  portslice attached (netns A, cgroup A), slice LO-HI on $POOL
#   B             no hook, netns B's ip_local_port_range = LO-HI
#   C             IP_BIND_ADDRESS_NO_PORT + IP_LOCAL_PORT_RANGE(LO-HI) by the app (netns C)
#   D             bind(random slice port) with SO_REUSEADDR, retried in user space (netns D)
#   N             (fast path) no hook at all: netns A, outside the cgroup
# contender -> "cgroup netns mode proto"
declare -A CT
occ_setup() {
	export PORTSLICE_PIN_DIR=/sys/fs/bpf/$TAG-occ
	NS_A=$(mkns a); NS_B=$(mkns b); NS_C=$(mkns c); NS_D=$(mkns d)
	CG_A=$(mkcg a)
	for ns in $NS_A $NS_B $NS_C $NS_D; do
		addrs "$ns"
		bg_ready "srv-$ns" - "$ns" "$PSNET" serve --tcp $SRV:8000-8001 --udp $SRV:8000-8001
	done
	# C's per-socket range must lie inside the netns range (the kernel clamps it)
	ip netns exec "$NS_C" sysctl -qw net.ipv4.ip_local_port_range="10000 60999"
	CT[A-tcp]="$CG_A $NS_A plain tcp"
	CT[A-udp]="$CG_A $NS_A plain udp"
	CT[B]="- $NS_B plain tcp"
	CT[B-udp]="- $NS_B plain udp"
	CT[C]="- $NS_C range tcp"
	CT[C-udp]="- $NS_C range udp"
	CT[D]="- $NS_D bindretry tcp"
	CT[N]="- $NS_A plain tcp"
	CT[N-udp]="- $NS_A plain udp"
}

# set_slice SIZE: every contender of part 1 uses ports 20000..20000+SIZE-1
set_slice() {
	LO=20000; HI=$((20000 + $1 - 1))
	conf "$TMPD/occ.yaml" "$LO-$HI"
	attach "$CG_A" "$TMPD/occ.yaml"
	ip netns exec "$NS_B" sysctl -qw net.ipv4.ip_local_port_range="$LO $HI" ||
		fail "cannot set B's ip_local_port_range"
}

# run_contender GROUP CONTENDER ROUND COUNT SECS DPORT
run_contender() {
	local cg ns mode proto
	read -r cg ns mode proto <<< "${CT[$2]}"
	local extra=()
	case $2 in
	B|B-udp) ;;     # the kernel picks the address; the range is the netns'
	N|N-udp) ;;
	*) extra=(--expect-range "$LO-$HI") ;;
	esac
	cycle "$1" "$2" "$3" "$cg" "$ns" --mode "$mode" --proto "$proto" --to $SRV:$6 --src $POOL \
		--range "$LO-$HI" --count "$4" --max-secs "$5" "${extra[@]}"
}

# rounds GROUP "CONTENDERS" ROUNDS COUNT SECS DPORT: alternate, rotating the order
rounds() {
	local g=$1 r i n
	local -a cs=($2)
	n=${#cs[@]}
	for ((r = 1; r <= $3; r++)); do
		for ((i = 0; i < n; i++)); do
			run_contender "$g" "${cs[$(((i + r) % n))]}" "$r" "$4" "$5" "$6"
		done
	done
}

declare -A HELD HOLDPIDS BLK_NS
hold_more() { # CONTENDER TARGET
	local c=$1 want=$2 have=${HELD[$1]:-0} cg ns mode proto
	read -r cg ns mode proto <<< "${CT[$c]}"
	[ "$want" -gt "$have" ] || return 0
	bg_ready "hold-$c-$want" "$cg" "$ns" "$PB" hold --mode "$mode" --proto "$proto" --to $SRV:8000 \
		--src $POOL --range "$LO-$HI" --count $((want - have))
	HOLDPIDS[$c]="${HOLDPIDS[$c]:-} $BG_PID"
	local got
	got=$(grep -o 'held=[0-9]*' "$TMPD/hold-$c-$want.out" | cut -d= -f2)
	HELD[$c]=$((have + got))
	[ "${HELD[$c]}" -eq "$want" ] || say "  $c holds ${HELD[$c]} of $want: $(head -n1 "$TMPD/hold-$c-$want.out")"
	echo "$c,$LO-$HI,$want,${HELD[$c]},$(head -n1 "$TMPD/hold-$c-$want.out" | tr ' ' ';')" >> "$RES/holders.csv"
}

hold_release() {
	local c p
	for c in "${!HOLDPIDS[@]}"; do
		for p in ${HOLDPIDS[$c]}; do stop_pid "$p"; done
	done
	HOLDPIDS=()
	HELD=()
}

if want occ || want fast; then
	say "setup: namespaces A B C D, cgroup A, servers"
	occ_setup
	echo "contender,slice,target,held,detail" > "$RES/holders.csv"
fi

if want fast; then
	say "part 2: fast path, connect+close at 0% occupancy, portslice vs no hook ($FAST_ROUNDS rounds)"
	set_slice 1000
	rounds fastpath "A-tcp N" "$FAST_ROUNDS" "$FAST_COUNT" 10 8001
	rounds fastpath-udp "A-udp N-udp" "$FAST_ROUNDS" "$FAST_COUNT" 10 8001
fi

if want occ; then
	for size in $OCC_SIZES; do
		set_slice "$size"
		for occ in $OCCS; do
			target=$((size * occ / 100))
			say "part 1: slice $size, occupancy $occ% ($target held per contender)"
			for c in $OCC_CONTENDERS; do hold_more "$c" "$target"; done
			rounds "occ-$size-$occ" "$OCC_CONTENDERS" "$OCC_ROUNDS" "$OCC_COUNT" "$OCC_SECS" 8000
		done
		hold_release
	done
fi

# ---- 3: concurrency -----------------------------------------------------------
if want conc; then
	say "part 3: $CONC_TOTAL connections held at once, one 1000-port slice, 100 destinations ($CONC_ROUNDS rounds)"
	export PORTSLICE_PIN_DIR=/sys/fs/bpf/$TAG-conc
	NS_CA=$(mkns ca); NS_CB=$(mkns cb); NS_CC=$(mkns cc)
	CG_CA=$(mkcg ca)
	for ns in $NS_CA $NS_CB $NS_CC; do
		addrs "$ns"
		ip netns exec "$ns" sysctl -qw net.core.somaxconn=65535
		# server side: $CONC_TOTAL descriptors need several processes (RLIMIT_NOFILE 20000)
		bg_ready "csrv-$ns" - "$ns" "$PSNET" serve --workers 8 --tcp $SRV:8000-8099
	done
	ip netns exec "$NS_CB" sysctl -qw net.ipv4.ip_local_port_range="20000 20999"
	ip netns exec "$NS_CC" sysctl -qw net.ipv4.ip_local_port_range="10000 60999"
	LO=20000; HI=20999
	conf "$TMPD/conc.yaml" "$LO-$HI"
	attach "$CG_CA" "$TMPD/conc.yaml"
	CT[A]="$CG_CA $NS_CA plain tcp"
	CT[B]="- $NS_CB plain tcp"
	CT[C]="- $NS_CC range tcp"
	per=$((CONC_TOTAL / CONC_PROCS))
	echo "round,contender,held,open_secs,memlock_before,memlock_after,bytes_per_tuple" > "$RES/concurrency.csv"
	for ((r = 1; r <= CONC_ROUNDS; r++)); do
		cs=(A B C)
		for ((i = 0; i < 3; i++)); do
			c=${cs[$(((i + r) % 3))]}
			read -r cg ns mode proto <<< "${CT[$c]}"
			m0=0; [ "$c" = A ] && m0=$(memlock)
			pids=()
			t0=$(date +%s%N)
			for ((p = 0; p < CONC_PROCS; p++)); do
				run_in "$cg" "$ns" "$PB" hold --mode "$mode" --to $SRV:8000-8099 --src $POOL \
					--range "$LO-$HI" --count "$per" --offset $((p * per)) \
					> "$TMPD/conc-$p.out" 2> "$TMPD/conc-$p.err" &
				pids+=($!)
				_pids+=($!)
			done
			for ((p = 0; p < CONC_PROCS; p++)); do
				until grep -qx ready "$TMPD/conc-$p.out" 2>/dev/null; do
					kill -0 "${pids[$p]}" 2>/dev/null || fail "conc holder $c/$p died: $(cat "$TMPD/conc-$p.err")"
					sleep 0.02
				done
			done
			t1=$(date +%s%N)
			held=$(cat "$TMPD"/conc-*.out | grep -o 'held=[0-9]*' | cut -d= -f2 | awk '{ s += $1 } END { print s + 0 }')
			fails=$(cat "$TMPD"/conc-*.out | grep -o 'fails=[0-9]*' | cut -d= -f2 | awk '{ s += $1 } END { print s + 0 }')
			m1=0; bpt=-1
			if [ "$c" = A ]; then
				m1=$(memlock)
				bpt=$(awk -v a="$m0" -v b="$m1" -v n="$held" 'BEGIN { printf "%.1f", (b - a) / n }')
			fi
			ns_open=$((t1 - t0))
			say "  round $r $c: held $held of $CONC_TOTAL in $(awk -v t=$ns_open 'BEGIN { printf "%.2f", t / 1e9 }') s (fails $fails) memlock ${m0}->${m1}"
			echo "$r,$c,$held,$(awk -v t=$ns_open 'BEGIN { printf "%.3f", t / 1e9 }'),$m0,$m1,$bpt" >> "$RES/concurrency.csv"
			rate=$(awk -v n="$held" -v t="$ns_open" 'BEGIN { printf "%.1f", n / (t / 1e9) }')
			echo "conc,$c,$r,$held,$fails,$ns_open,$ns_open,$ns_open,$ns_open,$rate,-1" >> "$RUNS"
			for p in "${pids[@]}"; do stop_pid "$p"; done
			rm -f "$TMPD"/conc-*
			sleep 1
		done
	done
fi

# ---- 4: XDP steering -------------------------------------------------------------
if want steer; then
	say "part 4: XDP steering vs redirect-only ceiling vs kernel forwarding ($STEER_ROUNDS rounds)"
	NS_G=$(mkns gen); NS_F=$(mkns fwd); NS_S=$(mkns sink)
	M_G=02:00:00:00:01:01; M_FI=02:00:00:00:02:01; M_FO=02:00:00:00:02:02; M_S=02:00:00:00:03:01
	ip -n "$NS_G" link add g0 address $M_G type veth peer name fi address $M_FI netns "$NS_F" || fail "veth"
	ip -n "$NS_F" link add fo address $M_FO type veth peer name s0 address $M_S netns "$NS_S" || fail "veth"
	ip -n "$NS_G" link set g0 up
	ip -n "$NS_F" link set fi up
	ip -n "$NS_F" link set fo up
	ip -n "$NS_S" link set s0 up
	ip -n "$NS_G" addr add 10.0.1.2/24 dev g0
	ip -n "$NS_F" addr add 10.0.1.1/24 dev fi
	ip -n "$NS_F" addr add 10.0.2.1/24 dev fo
	ip -n "$NS_S" addr add 10.0.2.2/24 dev s0
	ip netns exec "$NS_F" sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.fi.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	ip -n "$NS_F" neigh replace 10.0.2.2 lladdr $M_S dev fo nud permanent
	ip -n "$NS_F" neigh replace 10.0.1.2 lladdr $M_G dev fi nud permanent
	ip -n "$NS_F" route add $POOL/32 via 10.0.2.2 dev fo
	ip -n "$NS_F" route add 203.0.113.0/24 via 10.0.1.2 dev fi
	"$PB" steer --gen "$NS_G" --fwd "$NS_F" --sink "$NS_S" --gen-dev g0 --fwd-in fi --fwd-out fo \
		--sink-dev s0 --gen-mac $M_G --fwd-in-mac $M_FI --fwd-out-mac $M_FO --sink-mac $M_S \
		--pool $POOL --port 20500 --owner-addr 10.0.2.2 --rounds "$STEER_ROUNDS" --secs "$STEER_SECS" \
		--runs "$RUNS" > "$RES/steer.csv" 2> "$TMPD/steer.err" || fail "steer: $(cat "$TMPD/steer.err")"
	grep steer_counters "$RES/steer.csv" >&2
fi

# ---- 5: scaling curve ---------------------------------------------------------------
if want scale; then
	say "part 5: allocation cost as tuples in use grow ($SCALE_POINTS)"
	export PORTSLICE_PIN_DIR=/sys/fs/bpf/$TAG-scale
	NS_X=$(mkns scale); CG_X=$(mkcg scale)
	addrs "$NS_X"
	bg_ready "ssrv" - "$NS_X" "$PSNET" serve --tcp $SRV:9000
	LO=20000; HI=20999
	conf "$TMPD/scale.yaml" "$LO-$HI"
	attach "$CG_X" "$TMPD/scale.yaml"
	CT[A]="$CG_X $NS_X plain tcp"
	CT[N]="- $NS_X plain tcp"
	echo "tuples,target_taken,target_size,expected_candidates,memlock_bytes" > "$RES/scale.csv"
	m_empty=$(memlock)
	for n in $SCALE_POINTS; do
		out=$("$PB" fill --pin "$PORTSLICE_PIN_DIR" --pool $POOL --range "$LO-$HI" --to $SRV:9000 \
			--target-frac 0.5 --total "$n") || fail "fill $n"
		m=$(memlock)
		echo "$out" | awk -v m="$m" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			print v["tuples"] "," v["target_taken"] "," v["target_size"] "," v["expected_candidates"] "," m }' >> "$RES/scale.csv"
		say "  $out memlock=$m"
		for ((r = 1; r <= SCALE_ROUNDS; r++)); do
			if ((r % 2)); then order="A N"; else order="N A"; fi
			for c in $order; do
				read -r cg ns mode proto <<< "${CT[$c]}"
				if [ "$c" = A ]; then
					cycle_stats "scale-$n" A "$r" "$cg" "$ns" "$PORTSLICE_PIN_DIR" "$SCALE_COUNT" 9000 "$LO-$HI"
				else
					cycle "scale-$n" "$c" "$r" "$cg" "$ns" --mode plain --to $SRV:9000 \
						--count "$SCALE_COUNT" --max-secs 5
				fi
			done
		done
	done
	echo "empty_memlock,$m_empty" > "$RES/scale-meta.csv"
fi

# ---- 6: TIME_WAIT: the client closes first, one destination --------------------------
# Every connection is closed by the client with a normal close(), so each
# leaves its 4-tuple in TIME_WAIT (60 s). Once the slice's TW_SLICE tuples
# to the one destination are all in TIME_WAIT (the warm-up fills them), a
# connect() succeeds only by reusing one: what counts is connects per
# second. Contenders, each in its own namespace with tcp_tw_reuse=1:
#   A  portslice attached, slice LO-HI
#   B  the stock kernel, ip_local_port_range narrowed to LO-HI
if want tw; then
	say "part 6: client closes first, one destination, $TW_SLICE-port slice, tcp_tw_reuse=1 ($TW_ROUNDS rounds of $TW_SECS s)"
	export PORTSLICE_PIN_DIR=/sys/fs/bpf/$TAG-tw
	NS_TA=$(mkns twa); NS_TB=$(mkns twb)
	CG_TA=$(mkcg twa)
	LO=20000; HI=$((LO + TW_SLICE - 1))
	for ns in $NS_TA $NS_TB; do
		addrs "$ns"
		ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=1 || fail "cannot set tcp_tw_reuse in $ns"
		bg_ready "twsrv-$ns" - "$ns" "$PSNET" serve --tcp $SRV:8002
	done
	ip netns exec "$NS_TB" sysctl -qw net.ipv4.ip_local_port_range="$LO $HI" ||
		fail "cannot set B's ip_local_port_range"
	say "  tcp_tw_reuse_delay: $(ip netns exec "$NS_TA" sysctl -n net.ipv4.tcp_tw_reuse_delay 2>/dev/null || echo 'none (before 6.14: 1 s)') ms"
	conf "$TMPD/tw.yaml" "$LO-$HI"
	attach "$CG_TA" "$TMPD/tw.yaml"
	CT[A]="$CG_TA $NS_TA plain tcp"
	CT[B]="- $NS_TB plain tcp"
	for ((r = 1; r <= TW_ROUNDS; r++)); do
		if ((r % 2)); then order="A B"; else order="B A"; fi
		for c in $order; do
			read -r cg ns mode proto <<< "${CT[$c]}"
			extra=()
			[ "$c" = A ] && extra=(--expect-range "$LO-$HI")
			cycle timewait "$c" "$r" "$cg" "$ns" --mode plain --to $SRV:8002 --close-first \
				--warmup "$TW_SLICE" --count 1000000 --max-secs "$TW_SECS" "${extra[@]}"
		done
	done
	awk -F, '$1 == "timewait" { printf "  round %s %s: %s connects in %s s window, %s refused, %.1f/s\n", $3, $2, $4, secs, $5, $10 }' \
		secs="$TW_SECS" "$RUNS" >&2
fi

# ---- 7: nginx reverse proxy, a new upstream connection per request ------------------
# Contenders, each with its own pair of namespaces (proxy side NX, origin
# side OX, one veth pair between them):
#   A  nginx (proxy_bind $POOL) in a cgroup with portslice attached, slice LO-HI
#   B  the same nginx, no hook (a cgroup of its own with nothing attached),
#      ip_local_port_range narrowed to LO-HI
# OX holds the three origins (one nginx with the echo module, port 81: no
# keep-alive, the origin closes first) and runs ab, which keeps its own
# connections to the proxy alive (-k): what each request adds is the
# proxy's upstream connection.
NGX_ORIGINS="198.18.2.1 198.18.2.2 198.18.2.3"
NGX_CONC=20
NGX_PROXY=10.99.0.1

# ngx_conf NAME MAIN-DIRECTIVES HTTP-DIRECTIVES: $TMPD/NAME.conf, a
# foreground nginx with one worker that keeps its pid, logs (NAME.error.log)
# and temp files under $TMPD
ngx_conf() {
	local t f=$TMPD/$1 temps=
	for t in client_body proxy fastcgi uwsgi scgi; do temps+="${t}_temp_path $TMPD; "; done
	printf '%s\n' "worker_processes 1; daemon off; pid $f.pid; lock_file $f.lock;" \
		"error_log $f.error.log warn; $2" "events { worker_connections 4096; }" \
		"http { $temps $3 }" > "$f.conf"
}

# wait_tcp NS ADDR:PORT...: until NS listens on every ADDR:PORT
wait_tcp() {
	local ns=$1 a i
	shift
	for a in "$@"; do
		for i in $(seq 1 200); do
			ip netns exec "$ns" ss -Hlnt | awk -v a="$a" '$4 == a { f = 1 } END { exit !f }' && break
			[ "$i" = 200 ] && fail "nothing listens on $a in $ns"
			sleep 0.05
		done
	done
}

# ngx_world X CG|-: namespaces nx/ox, veth, addresses, origin and proxy nginx
ngx_world() {
	local x=$1 cg=$2 nx ox o listens=
	nx=$(mkns "n$x"); ox=$(mkns "o$x")
	ip -n "$nx" link add c0 type veth peer name o0 netns "$ox" || fail "veth"
	ip -n "$nx" addr add $NGX_PROXY/30 dev c0
	ip -n "$ox" addr add 10.99.0.2/30 dev o0
	ip -n "$nx" link set c0 up
	ip -n "$ox" link set o0 up
	ip -n "$nx" addr add $POOL/32 dev lo
	for o in $NGX_ORIGINS; do
		ip -n "$ox" addr add "$o/32" dev lo
		listens+="listen $o:81 backlog=4096; "
	done
	# only placed sockets leave from the pool address
	ip -n "$nx" route add 198.18.2.0/24 via 10.99.0.2 dev c0 src $NGX_PROXY || fail "route to the origins"
	ip -n "$ox" route add $POOL/32 via $NGX_PROXY dev o0 || fail "route to the pool"
	ngx_conf "origin-$x" "load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;" "
		log_format peer '\$remote_addr \$remote_port \$status';
		access_log $TMPD/origin-$x.log peer buffer=64k flush=1s;
		server { $listens keepalive_timeout 0; location / { echo ok; } }"
	ngx_conf "proxy-$x" "" "
		access_log off;
		upstream origins { $(for o in $NGX_ORIGINS; do printf 'server %s:81; ' "$o"; done) }
		server { listen $NGX_PROXY:8080 backlog=4096; keepalive_requests 1000000;
			location / { proxy_pass http://origins; proxy_bind $POOL; } }"
	run_in - "$ox" nginx -p "$TMPD" -c "$TMPD/origin-$x.conf" > "$TMPD/origin-$x.out" 2>&1 &
	_pids+=($!)
	run_in "$cg" "$nx" nginx -p "$TMPD" -c "$TMPD/proxy-$x.conf" > "$TMPD/proxy-$x.out" 2>&1 &
	_pids+=($!)
	wait_tcp "$ox" $(for o in $NGX_ORIGINS; do printf '%s:81 ' "$o"; done)
	wait_tcp "$nx" $NGX_PROXY:8080
	NGX_OX[$x]=$ox
	NGX_CG[$x]=$cg
}

# cg_cpu_us CG: CPU time its processes used so far (cgroup v2 cpu.stat),
# in microseconds: the hooks run in the proxy's own system calls
cg_cpu_us() { awk '$1 == "usage_usec" { print $2 }' "$1/cpu.stat"; }

# ngx_round X ROUND N: ab with N requests, 20 at a time, against X's proxy;
# one line to runs.csv (p50 column: wall time per request) and nginx.csv
ngx_round() {
	local x=$1 r=$2 out cpu0 cpu1
	out=$TMPD/ab-$x.out
	cpu0=$(cg_cpu_us "${NGX_CG[$x]}")
	ip netns exec "${NGX_OX[$x]}" ab -k -q -n "$3" -c $NGX_CONC -s 30 "http://$NGX_PROXY:8080/" > "$out" 2>&1 ||
		fail "ab against nginx $x: $(tail -n 3 "$out")"
	cpu1=$(cg_cpu_us "${NGX_CG[$x]}")
	[ "$r" = 0 ] && return 0
	awk -v x="${x^^}" -v r="$r" -v runs="$RUNS" -v csv="$RES/nginx.csv" -v cpu=$((cpu1 - cpu0)) '
		/^Complete requests:/ { n = $3 }
		/^Failed requests:/ { f = $3 }
		/^Non-2xx responses:/ { f += $3 }
		/^Time taken for tests:/ { t = $5 }
		/^Requests per second:/ { rps = $4 }
		/^Time per request:/ && !tpr { tpr = $4 }
		/^  50% / { p50 = $2 }
		/^  99% / { p99 = $2 }
		/^ 100% / { pmax = $2 }
		END {
			if (!n || !t) exit 1
			wall = t * 1e9 / n
			printf "nginx,%s,%d,%d,%d,%.0f,%.0f,%.0f,%.0f,%.1f,-1\n", x, r, n, f, wall, p99 * 1e6, pmax * 1e6, tpr * 1e6, n / t >> runs
			printf "%d,%s,%d,%d,%.3f,%.1f,%s,%s,%s,%.1f\n", r, x, n, f, t, n / t, p50, p99, pmax, cpu / n >> csv
		}' "$out" || fail "no ab figures: $(tail -n 3 "$out")"
}

if want nginx; then
	say "part 7: nginx reverse proxy, proxy_bind to 3 origins, new upstream connection per request ($NGX_ROUNDS rounds of $NGX_REQUESTS requests at $NGX_CONC)"
	command -v nginx >/dev/null && command -v ab >/dev/null &&
		[ -r /usr/lib/nginx/modules/ngx_http_echo_module.so ] ||
		fail "nginx, ab or nginx's echo module missing: make deps"
	export PORTSLICE_PIN_DIR=/sys/fs/bpf/$TAG-nginx
	declare -A NGX_OX NGX_CG
	LO=20000; HI=20999
	# B's nginx sits in a cgroup of its own too, with nothing attached:
	# the hook is the only difference
	CG_NA=$(mkcg nginx); CG_NB=$(mkcg nginx-b)
	conf "$TMPD/nginx.yaml" "$LO-$HI"
	attach "$CG_NA" "$TMPD/nginx.yaml"
	ngx_world a "$CG_NA"
	ngx_world b "$CG_NB"
	ip netns exec "$TAG-nb" sysctl -qw net.ipv4.ip_local_port_range="$LO $HI" ||
		fail "cannot set B's ip_local_port_range"
	echo "round,contender,requests,failed,secs,requests_per_s,latency_p50_ms,latency_p99_ms,latency_max_ms,proxy_cpu_us_per_request" > "$RES/nginx.csv"
	ngx_round a 0 500
	ngx_round b 0 500
	for ((r = 1; r <= NGX_ROUNDS; r++)); do
		if ((r % 2)); then order="a b"; else order="b a"; fi
		for x in $order; do ngx_round "$x" "$r" "$NGX_REQUESTS"; done
	done
	# BENCH_BPF_STATS=1: what portslice's programs cost per request, from
	# their run-time statistics (every request of A's rounds and warm-up)
	if [ "$STATS_RUN" = 1 ]; then
		reqs=$(awk -F, 'NR > 1 && $2 == "A" { n += $3 } END { print n + 500 }' "$RES/nginx.csv")
		echo "program,runs,run_time_ns,runs_per_request,ns_per_request" > "$RES/nginx-progs.csv"
		for l in "$PORTSLICE_PIN_DIR"/cgroups/*/*; do
			bpftool -j prog show id "$(bpftool -j link show pinned "$l" | jq .prog_id)"
		done | jq -r --argjson n "$reqs" '"\(.name),\(.run_cnt // 0),\(.run_time_ns // 0),\((.run_cnt // 0) / $n),\((.run_time_ns // 0) / $n)"' \
			>> "$RES/nginx-progs.csv"
		awk -F, 'NR > 1 { t += $5; printf "  %s: %.2f runs, %.0f ns a request\n", $1, $4, $5 } END { printf "  all programs: %.0f ns a request\n", t }' \
			"$RES/nginx-progs.csv" >&2
	fi
	sleep 1.2 # the origins' access logs flush every second
	# every upstream connection left from the pool address and the slice
	for x in a b; do
		grep -cE '\[(error|crit|alert|emerg)\]' "$TMPD/proxy-$x.error.log" | {
			read -r e; [ "$e" = 0 ] || say "  nginx $x logged $e errors: $(grep -m1 -E '\[(error|crit|alert|emerg)\]' "$TMPD/proxy-$x.error.log")"; }
		awk -v x="$x" -v pool=$POOL -v lo=$LO -v hi=$HI '
			{ n++; if ($1 != pool || $2 < lo || $2 > hi || $3 != 200) bad++ }
			END { printf "  origins of %s answered %d requests, %d not 200 or not from %s:%d-%d\n", x, n, bad, pool, lo, hi > "/dev/stderr"; exit bad > 0 }' \
			"$TMPD/origin-$x.log" || fail "nginx $x: upstream connections outside the slice"
	done
	awk -F, 'NR > 1 { printf "  round %s %s: %s requests, %s failed, %.0f/s, proxy CPU %.1f us a request\n", $1, $2, $3, $4, $6, $10 }' "$RES/nginx.csv" >&2
fi

# ---- 8: the distribution of the chosen source ports -----------------------------------
# DIST_COUNT connect()+close() cycles (SO_LINGER {1, 0}: the free set stays
# the same) to one destination from a 1,000-port slice, empty and 90% held
# (held by the contender's own method), every chosen port recorded; psbench
# chisq tests them against a uniform choice over the free ports. Contenders:
#   A  portslice (netns dista, cgroup dist), the binary $PS
#   C  the kernel's IP_LOCAL_PORT_RANGE (netns distc): a reference, not a goal
if want dist; then
	# the commit the run started at (machine.txt), not HEAD now: a commit
	# made while the run goes would otherwise name this part's build
	DIST_LABEL=${BENCH_DIST_LABEL:-$(awk '$1 == "commit:" { print $2 }' "$RES/machine.txt")}
	DIST_CONTENDERS=${BENCH_DIST_CONTENDERS:-A C}
	say "part 8: chosen source ports, 1000-port slice at 0 and 90%, $DIST_COUNT connects ($DIST_CONTENDERS; build $DIST_LABEL)"
	export PORTSLICE_PIN_DIR=/sys/fs/bpf/$TAG-dist
	NS_DA=$(mkns dista); NS_DC=$(mkns distc); CG_DA=$(mkcg dist)
	LO=20000; HI=20999
	for ns in $NS_DA $NS_DC; do
		addrs "$ns"
		bg_ready "dsrv-$ns" - "$ns" "$PSNET" serve --tcp $SRV:8003
	done
	ip netns exec "$NS_DC" sysctl -qw net.ipv4.ip_local_port_range="10000 60999"
	conf "$TMPD/dist.yaml" "$LO-$HI"
	attach "$CG_DA" "$TMPD/dist.yaml"
	CT[A]="$CG_DA $NS_DA plain tcp"
	CT[C]="- $NS_DC range tcp"
	D=$RES/raw/dist
	mkdir -p "$D"
	echo "build,contender,occupancy,slice,held,samples,free,chi2,df,p,expected,min,max,near_prev" > "$RES/dist.csv"
	for c in $DIST_CONTENDERS; do
		read -r cg ns mode proto <<< "${CT[$c]}"
		for occ in 0 90; do
			key=$DIST_LABEL-$c-$occ
			: > "$D/held-$key"
			hp=
			if [ "$occ" != 0 ]; then
				bg_ready "dhold-$key" "$cg" "$ns" "$PB" hold --mode "$mode" --to $SRV:8003 --src $POOL \
					--range "$LO-$HI" --count $((1000 * occ / 100)) --ports "$D/held-$key"
				hp=$BG_PID
			fi
			(run_in "$cg" "$ns" "$PB" cycle --mode "$mode" --to $SRV:8003 --src $POOL --range "$LO-$HI" \
				--expect-range "$LO-$HI" --count "$DIST_COUNT" --max-secs 120 --warmup 0 \
				--ports "$D/chosen-$key" > /dev/null 2> "$TMPD/cycle.err") ||
				fail "dist $key: $(cat "$TMPD/cycle.err")"
			[ -n "$hp" ] && stop_pid "$hp"
			out=$("$PB" chisq --range "$LO-$HI" --chosen "$D/chosen-$key" --held "$D/held-$key" \
				--hist "$RES/dist-$key.dat") || fail "dist $key: a port outside the free ones: $out"
			say "  $c at $occ%: $out"
			echo "$out" | awk -v b="$DIST_LABEL" -v c="$c" -v o="$occ" -v s=$((HI - LO + 1)) -v h="$(wc -l < "$D/held-$key")" '
				{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
				END { print b "," c "," o "," s "," h "," v["samples"] "," v["free"] "," v["chi2"] "," v["df"] "," v["p"] "," v["expected"] "," v["min"] "," v["max"] "," v["near_prev"] }' >> "$RES/dist.csv"
		done
	done
fi
if [ -n "${BENCH_DIST_BEFORE:-}" ] && [ -s "$RES/dist.csv" ]; then
	# another build's dist results (BENCH_ONLY=dist with PS=...), listed and plotted with these
	[ -s "$BENCH_DIST_BEFORE/dist.csv" ] || fail "no $BENCH_DIST_BEFORE/dist.csv"
	tail -n +2 "$BENCH_DIST_BEFORE/dist.csv" >> "$RES/dist.csv"
	cp "$BENCH_DIST_BEFORE"/dist-*.dat "$RES/"
fi

# ---- blocks: the search over 1 block vs 16 blocks of the same total size ----------------
# K1: one block of BLK_SIZE ports; K16: 16 blocks of BLK_SIZE/16, spread
# over 16 x 2 blocks' worth of ports (every other one), each in its own
# namespace, cgroup and pins. At 0%, 99% and 99.9% held (a connect then
# walks about 100 and 700 candidates of the first pass), connect()+close()
# alternating.
if want blocks; then
	BLK_SIZE=4096
	BLK_ROUNDS=$([ "$QUICK" = 1 ] && echo 5 || echo 11)
	BLK_COUNT=$([ "$QUICK" = 1 ] && echo 1000 || echo 3000)
	blocks16=$(for i in $(seq 0 15); do
		lo=$((20000 + i * BLK_SIZE / 8)); echo "$lo-$((lo + BLK_SIZE / 16 - 1))"
	done | paste -sd, | sed 's/,/, /g')
	declare -A BLK_SLICE=([K1]="20000-$((20000 + BLK_SIZE - 1))" [K16]="[$blocks16]")
	declare -A BLK_HULL=([K1]="20000-$((20000 + BLK_SIZE - 1))" [K16]="20000-$((20000 + 15 * BLK_SIZE / 8 + BLK_SIZE / 16 - 1))")
	for k in K1 K16; do
		ns=$(mkns "blk-$k"); cg=$(mkcg "blk-$k")
		addrs "$ns"
		bg_ready "srv-blk-$k" - "$ns" "$PSNET" serve --tcp $SRV:8000-8001
		conf "$TMPD/blk-$k.yaml" "${BLK_SLICE[$k]}"
		PORTSLICE_PIN_DIR=/sys/fs/bpf/$TAG-blk-$k attach "$cg" "$TMPD/blk-$k.yaml"
		CT[$k]="$cg $ns plain tcp"
		BLK_NS[$k]=$ns
	done
	for occ in 0 99 99.9; do
		target=$(awk -v n=$BLK_SIZE -v o=$occ 'BEGIN { printf "%d", n * o / 100 }')
		say "part blocks: $BLK_SIZE ports as 1 or 16 blocks, occupancy $occ% ($target held each)"
		for k in K1 K16; do
			LO=${BLK_HULL[$k]%-*}; HI=${BLK_HULL[$k]#*-}
			hold_more "$k" "$target"
		done
		for ((r = 1; r <= BLK_ROUNDS; r++)); do
			for k in $([ $((r % 2)) = 1 ] && echo K1 K16 || echo K16 K1); do
				read -r cg ns mode proto <<< "${CT[$k]}"
				cycle_stats "blocks-$occ" "$k" "$r" "$cg" "$ns" "/sys/fs/bpf/$TAG-blk-$k" "$BLK_COUNT" 8000 \
					"${BLK_HULL[$k]}"
			done
		done
	done
	hold_release
fi

# ---- summary, plots --------------------------------------------------------------------
say "summary"
"$PB" summarize "$RES" A-tcp:B A-tcp:C A-tcp:D A-udp:B-udp A-udp:C-udp A-tcp:N A-udp:N-udp A:B A:C A:N \
	steer:ceiling steer:kernel ceiling:kernel K16:K1 | tee "$RES/table.txt"

# the figures named as docs/benchmarks.md names them
{
	echo
	awk -F, '
		$1 == "steer-prog" && $2 == "steer" && $3 == "ceiling" {
			printf "steering program run time / redirect-only program (BPF_PROG_TEST_RUN): %.2f [%.2f-%.2f], %d rounds\n", $5, $6, $7, $4 }
		$1 == "steer-work" && $2 == "steer" && $3 == "ceiling" {
			printf "the same, each minus an empty program (what a test-run repetition costs by itself): %.2f [%.2f-%.2f], %d rounds\n", $5, $6, $7, $4 }
		$1 == "nginx" && $2 == "A" && $3 == "B" {
			printf "nginx, wall time per request, portslice / no hook + narrowed range: %.3f [%.3f-%.3f], %d rounds\n", $5, $6, $7, $4
			printf "nginx, requests per second, portslice / no hook + narrowed range: %.3f [%.3f-%.3f]\n", $8, $9, $10 }' "$RES/ratios.csv"
	[ -s "$RES/nginx.csv" ] && for x in A B; do
		awk -F, -v x=$x 'NR > 1 && $2 == x { print $10 }' "$RES/nginx.csv" | sort -g |
			awk -v x=$x '{ v[NR] = $1 } END { if (NR) printf "nginx %s: proxy CPU time per request (cgroup cpu.stat), median of %d rounds: %.1f us\n", x, NR, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
	done
	# bpf run-time statistics add two clock reads to every test-run repetition
	[ -s "$RES/steer.csv" ] && awk -F, '$1 == "prog" && $3 == "floor" { n[$5]++ }
		END { printf "kernel.bpf_stats_enabled during those test runs, rounds:"; for (v in n) printf " %s: %d", v, n[v]; print "" }' \
		"$RES/steer.csv"
	[ -s "$RES/dist.csv" ] && awk -F, 'NR > 1 {
		printf "chosen ports, build %s, %s, %s%% held: chi-square %s, df %s, p %s (%s connects over %s free ports)\n",
			$1, ($2 == "A" ? "portslice" : "kernel IP_LOCAL_PORT_RANGE"), $3, $8, $9, $10, $6, $7 }' "$RES/dist.csv"
} | tee -a "$RES/table.txt"

# plot data: p50 / p99 by occupancy, per slice size
grep -q '^occ-' "$RES/summary.csv" || OCC_SIZES=
for size in $OCC_SIZES; do
	for col in 6 8 9; do
		name=$(case $col in 6) echo p50 ;; 8) echo p99 ;; 9) echo p999 ;; esac)
		{
			echo "occ $OCC_CONTENDERS"
			for occ in $OCCS; do
				printf '%s' "$occ"
				for c in $OCC_CONTENDERS; do
					v=$(awk -F, -v g="occ-$size-$occ" -v c="$c" -v k="$col" '$1 == g && $2 == c { print $k }' "$RES/summary.csv")
					printf ' %s' "${v:-NaN}"
				done
				echo
			done
		} > "$RES/occ-$size-$name.dat"
	done
done
# ratio plot data: time ratio median and IQR by occupancy
for size in $OCC_SIZES; do
	for pair in A-tcp:B A-tcp:C A-tcp:D A-udp:B-udp A-udp:C-udp; do
		for occ in $OCCS; do
			awk -F, -v g="occ-$size-$occ" -v n="${pair%:*}" -v d="${pair#*:}" -v o="$occ" \
				'$1 == g && $2 == n && $3 == d { print o, $5, $6, $7 }' "$RES/ratios.csv"
		done > "$RES/ratio-$size-${pair/:/_}.dat"
	done
done
if [ -s "$RES/scale.csv" ]; then
	{
		echo "tuples A_p50_us N_p50_us prog_ns expected_candidates memlock_bytes ratio_med ratio_q1 ratio_q3"
		tail -n +2 "$RES/scale.csv" | while IFS=, read -r n tt ts cand m; do
			a=$(awk -F, -v g="scale-$n" '$1 == g && $2 == "A" { print $6, $11 }' "$RES/summary.csv")
			b=$(awk -F, -v g="scale-$n" '$1 == g && $2 == "N" { print $6 }' "$RES/summary.csv")
			q=$(awk -F, -v g="scale-$n" '$1 == g && $2 == "A" && $3 == "N" { print $5, $6, $7 }' "$RES/ratios.csv")
			echo "$n ${a% *} $b ${a#* } $cand $m ${q:-NaN NaN NaN}"
		done
	} > "$RES/scale.dat"
fi
(
	cd "$RES" || exit 1
	if ls occ-*-p50.dat >/dev/null 2>&1; then
		gnuplot <<-'GP'
		set terminal pngcairo size 1400,1000 noenhanced font ",10"
		set output "occupancy.png"
		set multiplot layout 2,2 title "connect()+close latency by slice occupancy (one destination)"
		set logscale y
		set key top left
		set xlabel "slice occupancy (%)"
		set ylabel "microseconds"
		set xtics ("0" 0, "50" 1, "90" 2, "99" 3)
		do for [size in "1000 10000"] {
		  do for [m in "p50 p99"] {
		    f = sprintf("occ-%s-%s.dat", size, m)
		    set title sprintf("%s-port slice, %s", size, m)
		    plot for [i=2:5] f using 0:i with linespoints lw 2 title columnheader(i), \
		         for [i=6:8] f using 0:i with linespoints lw 2 dt 2 title columnheader(i)
		  }
		}
		unset multiplot
		GP
		gnuplot <<-'GP'
		set terminal pngcairo size 1400,1000 noenhanced font ",10"
		set output "occupancy-ratios.png"
		set multiplot layout 2,2 title "portslice / contender, connect()+close p50, per-round ratio: median and interquartile range (below 1: portslice faster)"
		set logscale y
		set key top left
		set xlabel "slice occupancy (%)"
		set ylabel "time ratio"
		set xrange [-0.3:3.3]
		set xtics ("0" 0, "50" 1, "90" 2, "99" 3)
		do for [size in "1000 10000"] {
		  set title sprintf("TCP, %s-port slice", size)
		  plot 1 notitle lc "gray", \
		       sprintf("ratio-%s-A-tcp_B.dat", size) using ($0-0.05):2:3:4 with yerrorlines lw 2 title "A/B (stock, narrowed netns range)", \
		       sprintf("ratio-%s-A-tcp_C.dat", size) using ($0):2:3:4 with yerrorlines lw 2 title "A/C (IP_LOCAL_PORT_RANGE)", \
		       sprintf("ratio-%s-A-tcp_D.dat", size) using ($0+0.05):2:3:4 with yerrorlines lw 2 title "A/D (bind + retry)"
		  set title sprintf("connected UDP, %s-port slice", size)
		  plot 1 notitle lc "gray", \
		       sprintf("ratio-%s-A-udp_B-udp.dat", size) using ($0-0.05):2:3:4 with yerrorlines lw 2 title "A-udp/B-udp", \
		       sprintf("ratio-%s-A-udp_C-udp.dat", size) using ($0+0.05):2:3:4 with yerrorlines lw 2 title "A-udp/C-udp"
		}
		unset multiplot
		GP
	fi
	if [ -s scale.dat ]; then
		gnuplot <<-'GP'
		set terminal pngcairo size 1000,900 noenhanced font ",10"
		set output "scaling.png"
		set multiplot layout 2,1 title "allocation cost vs tuples claimed in ps_tuples (measured destination 50% taken)"
		set logscale x
		set xrange [500:2000000]
		set title "portslice / no hook, connect()+close p50 per round: median and interquartile range"
		set ylabel "time ratio"
		set yrange [0:*]
		set key top left
		plot "scale.dat" using 1:7:8:9 with yerrorlines lw 2 title "portslice / no hook", 1 notitle lc "gray"
		set title "absolute (the machine's load drifts: read the ratio above)"
		set xlabel "tuples claimed in the map"
		set ylabel "connect()+close p50 (us)"
		set y2label "ps_connect4 run time per call (ns)"
		set ytics nomirror
		set y2tics
		set yrange [0:*]
		set y2range [0:*]
		set key top left
		plot "scale.dat" using 1:2 with linespoints lw 2 title "portslice connect+close p50", \
		     "scale.dat" using 1:3 with linespoints lw 2 title "no hook connect+close p50", \
		     "scale.dat" using 1:4 axes x1y2 with linespoints lw 2 dt 2 title "ps_connect4 ns/call (right)"
		unset multiplot
		GP
	fi
	if [ -s dist.csv ] && ls dist-*.dat >/dev/null 2>&1; then
		# one panel per build and contender (columns) and occupancy (rows)
		cols=$(awk -F, 'NR > 1 && !s[$1 "-" $2]++ { print $1 "-" $2 }' dist.csv)
		ncols=$(echo "$cols" | wc -l)
		{
			echo "set terminal pngcairo size $((ncols * 560)),860 noenhanced font ',10'"
			echo "set output 'ports.png'"
			echo "set multiplot layout 2,$ncols title 'chosen source ports per 10-port bin, 1000-port slice (20000-20999), one destination; line: expected if uniform over the free ports'"
			echo "set style fill solid 0.5 noborder"
			echo "set boxwidth 10"
			echo "set xrange [20000:21000]"
			echo "set yrange [0:*]"
			echo "set xlabel 'source port'"
			echo "set ylabel 'connects'"
			echo "set key top right opaque font ',9'"
			for occ in 0 90; do
				for k in $cols; do
					awk -F, -v k="$k" -v o="$occ" '$1 "-" $2 == k && $3 == o {
						printf "set title \"%s %s, %s%% of the slice held, %s connects\\nchi-square %s, df %s, p %s\"\n",
							($2 == "A" ? "portslice" : "kernel IP_LOCAL_PORT_RANGE"), $1, o, $6, $8, $9, $10 }' dist.csv
					echo "plot 'dist-$k-$occ.dat' using (\$1+5):2 with boxes title 'chosen', '' using (\$1+5):3 with histeps lw 2 lc 'black' title 'uniform over free'"
				done
			done
			echo "unset multiplot"
		} > ports.gp
		gnuplot ports.gp
	fi
) || say "plotting failed"
say "results in $RES: $(cd "$RES" && ls *.csv *.png 2>/dev/null | tr '\n' ' ')"
