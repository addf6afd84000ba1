# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Steering from the watch (issue 17, docs/fleet.md): psleasewatch
# (loader/agent/lease_watch.h) follows the lease table of a real
# three-member etcd cluster (tests/lib.sh, "etcd") into the pinned
# ps_steer_owner of a `portslice steer attach` on a veth the test creates;
# every owner is read back from the kernel's map with bpftool.
#
# The host's namespace is on the etcd bridge (eth0) and has the steered
# veth pair ps0/ps1. The pool's static slice is host-a's; the follower
# overrides its owners with the table's (8 blocks of 32 ports).
#
# The members send progress notifications every LW_PROGRESS (1 s; empty:
# etcd's default, 10 min) and the follower sets a watch up again after
# LW_SILENCE_MS (4 s) of silence.

PSLW=${PSLW:-$ROOT/${OUTPUT:-build}/tests/psleasewatch}
PFX=/pstest
LW_POOL=web:20000-20255:32
LW_LO=20000
LW_BLOCK=32

# lw_setup: the cluster, a namespace for etcdctl, the host's namespace
# with its veth, the config, and steering attached as host-a.
lw_setup() {
	[ -x "$PSLW" ] || die "no $PSLW: make $(basename "$PSLW")"
	need_cmds "the steering follower's tests" bpftool jq nsenter python3
	ensure_bpffs
	local progress=()
	[ -z "${LW_PROGRESS-1s}" ] || progress=(--experimental-watch-progress-notify-interval "${LW_PROGRESS-1s}")
	etcd_cluster_start 3 "${progress[@]}"
	CLI=$(etcd_client_ns cli 10)
	HNS=$(etcd_client_ns host 11)
	ip -n "$HNS" link add ps0 type veth peer name ps1 || die "cannot create the veth pair"
	ip -n "$HNS" addr add 198.18.10.1/24 dev ps0
	ip -n "$HNS" addr add 198.18.10.2/24 dev ps1
	ip -n "$HNS" addr add 198.18.10.3/24 dev ps1
	ip -n "$HNS" link set ps0 up
	ip -n "$HNS" link set ps1 up
	CONF=$TMPD/fleet.yaml
	cat > "$CONF" <<-YAML
	pools:
	  - name: web
	    address: 198.18.0.10
	    slices:
	      host-a: 20000-20255
	hosts:
	  host-a: {address: 198.18.10.1}
	  host-b: {address: 198.18.10.2}
	  host-c: {address: 198.18.10.3}
	steering:
	  mode: l2
	  interfaces: [ps0]
	YAML
	# nsenter, not ip netns exec: the pins must stay on the host's bpffs.
	nsenter --net="/run/netns/$HNS" "$PS" steer attach --config "$CONF" --host host-a >/dev/null ||
		die "portslice steer attach failed"
}

# lw_start [ARGS...]: psleasewatch for pool web in the host's namespace;
# its stdin is a fifo this shell holds (lw_stop closes it). Sets LW_PID,
# LW_SLOT.
lw_start() {
	rm -f "$TMPD/lw.fifo"
	mkfifo "$TMPD/lw.fifo"
	(exec nsenter --net="/run/netns/$HNS" "$PSLW" --endpoints "$ETCD_ENDPOINTS" --prefix "$PFX" \
		--config "$CONF" --pool "$LW_POOL" --interval-ms 200 ${LW_WATCH_MS:+--watch-ms "$LW_WATCH_MS"} \
		--silence-ms "${LW_SILENCE_MS:-4000}" "$@") \
		< "$TMPD/lw.fifo" > "$TMPD/lw.out" 2> "$TMPD/lw.err" &
	LW_PID=$!
	_pids+=($LW_PID)
	exec {LW_FD}> "$TMPD/lw.fifo"
	wait_line "$TMPD/lw.out" '^ready$' "psleasewatch did not read the table: $(tail -n 3 "$TMPD/lw.err")"
	LW_SLOT=$(sed -n 's/^pool web slot \([0-9]*\) .*/\1/p' "$TMPD/lw.out")
	[ -n "$LW_SLOT" ] || die "psleasewatch named no slot: $(cat "$TMPD/lw.out")"
}

# lw_stop: closes its stdin; it must end at once, whatever its watch
# request has left to run (it is cancelled), leaking nothing (SANITIZE=1).
# Sets LW_STOP_MS.
lw_stop() {
	local t0=$(date +%s%3N) rc
	exec {LW_FD}>&-
	wait "$LW_PID"
	rc=$?
	LW_STOP_MS=$(( $(date +%s%3N) - t0 ))
	expect_eq "$rc" 0 "psleasewatch's exit code (stderr: $(tail -n 5 "$TMPD/lw.err"))"
	expect_le "$LW_STOP_MS" 3000 "ms psleasewatch took to stop"
}

# lw_stat PATH: a field of its latest stats line (jq path, e.g. .applied, .lag.p50_us).
lw_stat() { grep '^{' "$TMPD/lw.out" | tail -n 1 | jq -r "$1"; }

# web_owner PORT: the owner ps_steer_owner holds for PORT of pool web.
web_owner() { owner_of "$LW_SLOT" "$1"; }

# block_owner N: "FIRST LAST", the owners of block N's first and last ports.
block_owner() {
	local lo=$(( LW_LO + $1 * LW_BLOCK ))
	echo "$(web_owner "$lo") $(web_owner $((lo + LW_BLOCK - 1)))"
}

# expect_block N ID WHAT: every port of block N is ID's within 5 s (its edges and the ports beside checked).
expect_block() {
	local i got
	for i in $(polls 50); do
		got=$(block_owner "$1")
		[ "$got" = "$2 $2" ] && return 0
		sleep 0.1
	done
	die "$3: block $1's ports belong to '$got', expected $2: $(tail -n 3 "$TMPD/lw.err")"
}

# pool_owners: the owner of each of the pool's 256 ports, one line each, read
# from the kernel's map in one bpftool run.
pool_owners() {
	local p k
	for p in $(seq "$LW_LO" $((LW_LO + 8 * LW_BLOCK - 1))); do
		k=$(( LW_SLOT * 65536 + p ))
		echo "map lookup pinned $PORTSLICE_PIN_DIR/maps/ps_steer_owner key $((k & 255)) $((k >> 8 & 255)) $((k >> 16 & 255)) $((k >> 24 & 255))"
	done | bpftool -j batch file - | jq -r '.[].output.formatted.value' ||
		die "bpftool batch lookup of the pool's ports failed"
}

# expect_blocks "ID0 ID1 ... ID7" [WHAT]: every port of each block has its ID ("mixed": not all one).
expect_blocks() {
	local got
	got=$(pool_owners | awk -v bs=$LW_BLOCK '
		{ b = int((NR - 1) / bs); if ((NR - 1) % bs == 0) v[b] = $1; else if (v[b] != $1) v[b] = "mixed" }
		END { for (b = 0; b < NR / bs; b++) printf "%s%s", (b ? " " : ""), v[b] }')
	expect_eq "$got" "$1" "owners of blocks 0-7 (${2:-})"
}

# lw_following HOW: lw_setup, the follower started and following
# (blocks/0 is host-b's); sets EP and M, the endpoint and number of the
# member it watches through, which HOW (e.g. "kill -9") is about to hit.
lw_following() {
	lw_setup
	lw_start
	put_block 0 host-b
	expect_block 0 2 "blocks/0 put for host-b"
	sleep 0.3
	EP=$(lw_stat .endpoint)
	M=${EP##*.}
	M=${M%%:*}
	note "the follower watches through $EP: $1 of member $M"
}

# etcdctl_avoid M: etcdctl asks the other members only from now on (the follower was given all three).
etcdctl_avoid() { ETCD_ENDPOINTS=$(tr , '\n' <<< "$ETCD_ENDPOINTS" | grep -v "\.$1:" | paste -sd,); }

# put_block N HOST: blocks/N of pool web, as a holder writes it (since = now).
put_block() {
	local i
	# A member that was just killed may leave the cluster without a leader for a moment.
	for i in 1 2 3; do
		etcdctl_in "$CLI" put "$PFX/pools/web/blocks/$1" \
			"{\"host\":\"$2\",\"state\":\"held\",\"since\":$(date +%s%3N),\"lease\":\"0\"}" >/dev/null 2>&1 &&
			return 0
	done
	die "etcdctl put blocks/$1"
}

# txq VALUE: VALUE quoted for a line of etcdctl txn.
txq() { printf '"%s"' "${1//\"/\\\"}"; }

# lw_txn OP...: one etcd transaction of OPs (etcdctl txn lines), no comparisons.
lw_txn() {
	{ echo; printf '%s\n' "$@"; echo; echo; } | etcdctl_in "$CLI" txn >/dev/null || die "etcdctl txn: $*"
}

# The table at the start is written whole; each change of a block's keys
# then sets the owners of its 32 ports, and nothing else.
t_follow() {
	lw_setup
	put_block 1 host-c
	put_block 6 host-b
	etcdctl_in "$CLI" put "$PFX/pools/web/claims/1" '{"host":"host-c","lease":"0"}' >/dev/null
	# An orphan (claim only) and a quarantined block have no owner.
	etcdctl_in "$CLI" put "$PFX/pools/web/claims/2" '{"host":"host-b","lease":"0"}' >/dev/null
	etcdctl_in "$CLI" put "$PFX/pools/web/quarantine/3" '{"host":"host-b","since":1,"ttl":60,"by":"host-c"}' >/dev/null
	lw_start
	expect_blocks "0 3 0 0 0 0 2 0" "the snapshot: host-a's static slice gave way to the table"
	expect_eq "$(web_owner $((LW_LO - 1))) $(web_owner $((LW_LO + 8 * LW_BLOCK)))" "0 0" "ports beside the pool"

	put_block 2 host-b
	expect_block 2 2 "blocks/2 put for host-b"
	expect_eq "$(web_owner $((LW_LO + 2 * LW_BLOCK - 1))) $(web_owner $((LW_LO + 3 * LW_BLOCK)))" "3 0" "ports beside block 2"
	etcdctl_in "$CLI" del "$PFX/pools/web/blocks/2" >/dev/null
	expect_block 2 0 "blocks/2 deleted"

	put_block 4 host-b
	expect_block 4 2 "blocks/4 put for host-b"
	# A quarantine key beside a held block (the engine never writes one
	# there: a take needs quarantine/<n> absent): no owner from then on.
	etcdctl_in "$CLI" put "$PFX/pools/web/quarantine/4" '{"host":"host-b","since":1,"ttl":60,"by":"host-c"}' >/dev/null
	expect_block 4 0 "quarantine/4 put"
	put_block 3 host-b
	expect_block 3 2 "blocks/3 put for host-b"
	etcdctl_in "$CLI" del "$PFX/pools/web/quarantine/3" >/dev/null
	expect_block 3 0 "quarantine/3 deleted"

	# A block handed from host-b to host-c: one put, or a release and a take.
	put_block 5 host-b
	expect_block 5 2 "blocks/5 put for host-b"
	put_block 5 host-c
	expect_block 5 3 "blocks/5 moved to host-c"
	# As the engine does it: a release (one txn), then a take (another).
	lw_txn "del $PFX/pools/web/blocks/6" "del $PFX/pools/web/claims/6"
	lw_txn "put $PFX/pools/web/blocks/6 $(txq "{\"host\":\"host-c\",\"state\":\"held\",\"since\":$(date +%s%3N)}")" \
		"put $PFX/pools/web/claims/6 $(txq '{"host":"host-c"}')"
	expect_block 6 3 "blocks/6 released by host-b and taken by host-c"

	# Changing nothing: claims/ keys, another pool, a host not under hosts:
	# (no owner, and counted), a block past the pool's end.
	etcdctl_in "$CLI" del "$PFX/pools/web/claims/1" >/dev/null
	etcdctl_in "$CLI" put "$PFX/pools/web/claims/0" '{"host":"host-b","lease":"0"}' >/dev/null
	etcdctl_in "$CLI" put "$PFX/pools/other/blocks/0" '{"host":"host-b","state":"held","since":1}' >/dev/null
	etcdctl_in "$CLI" put "$PFX/pools/web/blocks/8" '{"host":"host-b","state":"held","since":1}' >/dev/null
	put_block 7 host-z
	sleep 0.5
	expect_blocks "0 3 0 0 0 3 3 0" "after keys that change nothing"
	sleep 0.3
	expect_eq "$(lw_stat .unknown_hosts)" 1 "blocks put for hosts not under hosts:"
	expect_eq "$(lw_stat .ignored)" 1 "events about no block of the pool"
	expect_eq "$(lw_stat .applied)" 11 "events applied"
	expect_eq "$(lw_stat .snapshots)" 1 "tables read"
	expect_eq "$(lw_stat .errors)" 0 "errors"
	expect_eq "$(lw_stat .connected)" true "connected"
	expect_eq "$(lw_stat .revision)" "$(etcdctl_in "$CLI" get -w json / | jq .header.revision)" "revision applied"
	lw_stop
	note "$(grep '"final":true' "$TMPD/lw.out")"
}

# kill -9 of the member the follower watches: it goes on with another.
t_member_killed() {
	local ep m i t_kill
	lw_following "kill -9"
	ep=$EP m=$M
	t_kill=$(date +%s%3N)
	etcd_member_kill "$m"
	etcdctl_avoid "$m"
	put_block 0 host-c
	expect_block 0 3 "blocks/0 moved to host-c after member $m died"
	for i in $(polls 20); do
		[ "$(lw_stat .lag.n)" = 2 ] && break
		sleep 0.1
	done
	note "the first change after the kill: in the map $(( $(date +%s%3N) - t_kill )) ms after the kill (etcd's own recovery included), $(lw_stat .lag.last_us) us after its put"
	etcdctl_in "$CLI" del "$PFX/pools/web/blocks/0" >/dev/null
	expect_block 0 0 "blocks/0 deleted after member $m died"
	put_block 1 host-b
	expect_block 1 2 "blocks/1 put for host-b after member $m died"
	sleep 0.5
	# The member that answered is known from the watch's next message (1 s: a progress notification).
	for i in $(polls 30); do
		[ "$(lw_stat .endpoint)" != "$ep" ] && break
		sleep 0.1
	done
	expect_ne "$(lw_stat .endpoint)" "$ep" "endpoint after the kill"
	expect_ge "$(lw_stat .etcd_failovers)" 1 "failovers"
	expect_eq "$(lw_stat .connected)" true "connected"
	expect_eq "$(lw_stat .snapshots)" 1 "tables read (a watch error resumes from the last revision)"
	lw_stop
	note "$(grep '"final":true' "$TMPD/lw.out")"
}

# A stop during a long watch (a minute, then the default 10 min) returns at
# once: ps_lease_watch_stop() cancels the request in flight.
t_stop_long_watch() {
	lw_setup
	local watch_ms
	for watch_ms in 60000 ""; do
		LW_WATCH_MS=$watch_ms lw_start
		put_block 0 host-b
		expect_block 0 2 "blocks/0 put for host-b (watch_ms ${watch_ms:-default})"
		etcdctl_in "$CLI" del "$PFX/pools/web/blocks/0" >/dev/null
		expect_block 0 0 "blocks/0 deleted (watch_ms ${watch_ms:-default})"
		sleep 0.3 # a stats line (every 200 ms) after the changes
		expect_eq "$(lw_stat .watches)" 1 "watch requests so far (watch_ms ${watch_ms:-default})"
		lw_stop
		note "watch_ms ${watch_ms:-default (10 min)}: stopped in $LW_STOP_MS ms during its watch"
	done
}

# lw_quiet SECONDS: nothing under the watched prefix for SECONDS, while a
# key outside it moves the store's revision on; prints that revision.
lw_quiet() {
	etcdctl_in "$CLI" put "$PFX-elsewhere" x >/dev/null 2>&1 || die "etcdctl put $PFX-elsewhere"
	sleep "$1"
	etcdctl_in "$CLI" get -w json "$PFX-elsewhere" 2>/dev/null | jq ".kvs[0].mod_revision"
}

# A watch with no event for longer than LW_SILENCE_MS stays the same
# request: etcd's progress notifications show it alive and move its
# revision on. A change after the quiet is in the map at once.
t_quiet() {
	lw_setup
	local rev
	lw_start
	rev=$(lw_quiet 9)
	# One spurious silence is allowed (a loaded machine): a healthy watch that is set up again is still right.
	expect_le "$(lw_stat .watches)" 2 "watch requests over 9 s of quiet"
	expect_ge "$(lw_stat .progress_notifies)" 3 "progress notifications over 9 s of quiet"
	expect_ge "$(lw_stat .revision)" "$rev" "the follower's revision after a change elsewhere (progress notifications)"
	note "9 s of quiet: $(lw_stat .watches) watch request(s), $(lw_stat .progress_notifies) progress notifications, $(lw_stat .silences) silences"
	put_block 3 host-c
	expect_block 3 3 "blocks/3 put after 9 s of quiet"
	sleep 0.3
	note "that change was in the map $(lw_stat .lag.last_us) us after its put"
	expect_eq "$(lw_stat .errors)" 0 "errors"
	lw_stop
}

# Members that send no progress notifications (etcd's default interval, 10
# min): a quiet watch is set up again every LW_SILENCE_MS, and follows on.
t_quiet_unconfigured() {
	LW_PROGRESS= lw_setup
	lw_start
	lw_quiet 9 >/dev/null
	expect_ge "$(lw_stat .silences)" 1 "watches ended by silence over 9 s of quiet"
	expect_eq "$(lw_stat .progress_notifies)" 0 "progress notifications"
	note "9 s of quiet without progress notifications: $(lw_stat .watches) watch requests, $(lw_stat .silences) silences"
	put_block 3 host-c
	expect_block 3 3 "blocks/3 put after 9 s of quiet"
	expect_eq "$(lw_stat .errors)" 0 "errors"
	expect_eq "$(lw_stat .etcd_failovers)" 0 "failovers (a quiet member is not a failed one)"
	lw_stop
}

# A member that dies silently: SIGSTOP, whose kernel still completes
# handshakes and acknowledges (no reset, and TCP keepalive would not see
# it). The watch falls silent, is set up again, the stopped member does
# not answer within the client's timeout, another does: the next change is
# applied, from the revision the follower had (no table read).
t_member_stopped() {
	local ep m i t_stop
	lw_following "kill -STOP"
	ep=$EP m=$M
	t_stop=$(date +%s%3N)
	kill -STOP "${ETCD_PID[$m]}"
	etcdctl_avoid "$m"
	put_block 0 host-c
	# LW_SILENCE_MS + the client's 2 s + an election if $m led: 30 s is only a generous bound.
	for i in $(polls 300); do
		[ "$(block_owner 0)" = "3 3" ] && break
		sleep 0.1
	done
	expect_eq "$(block_owner 0)" "3 3" "blocks/0's owners after member $m was stopped and the block moved to host-c"
	note "the first change after the stop: in the map $(( $(date +%s%3N) - t_stop )) ms after the stop"
	put_block 1 host-b
	expect_block 1 2 "blocks/1 put for host-b while member $m is stopped"
	sleep 0.5
	expect_ne "$(lw_stat .endpoint)" "$ep" "endpoint after the stop"
	expect_ge "$(lw_stat .silences)" 1 "watches ended by silence"
	expect_ge "$(lw_stat .etcd_failovers)" 1 "failovers"
	expect_eq "$(lw_stat .snapshots)" 1 "tables read (a silent watch resumes from the last revision)"
	kill -CONT "${ETCD_PID[$m]}"
	lw_stop
	note "$(grep '"final":true' "$TMPD/lw.out" | jq -c 'del(.lag)')"
}

# The follower falls behind (its link to etcd is down, or it is stopped)
# while the table changes and etcd compacts its history: it reads the
# table again when its revision is gone, and ends right.
t_compaction() {
	lw_setup
	local rev n i
	put_block 0 host-b
	put_block 1 host-b
	lw_start
	expect_blocks "2 2 0 0 0 0 0 0" "the snapshot"
	etcd_partition "$HNS"
	# A cut shorter than LW_SILENCE_MS is no failure: TCP carries the
	# stream over it. This one lasts until the follower saw its watch fall
	# silent and failed to set up another.
	for i in $(polls 300); do
		[ "$(lw_stat .errors)" -ge 1 ] && break
		sleep 0.1
	done
	expect_ge "$(lw_stat .silences)" 1 "watches ended by silence while cut off"
	etcdctl_in "$CLI" del "$PFX/pools/web/blocks/0" >/dev/null
	put_block 1 host-c
	put_block 2 host-c
	etcdctl_in "$CLI" put "$PFX/pools/web/quarantine/3" '{"host":"host-b","since":1,"ttl":60,"by":"host-c"}' >/dev/null
	for n in 4 5 6 7; do put_block "$n" host-b; done
	etcdctl_in "$CLI" del "$PFX/pools/web/blocks/7" >/dev/null
	rev=$(etcdctl_in "$CLI" get -w json / | jq .header.revision)
	etcdctl_in "$CLI" compact "$rev" >/dev/null || die "etcdctl compact $rev"
	note "compacted at revision $rev while the follower was cut off"
	expect_eq "$(block_owner 1)" "2 2" "block 1 while the follower is cut off"
	etcd_heal "$HNS"
	expect_block 1 3 "blocks/1 after healing"
	expect_blocks "0 3 3 0 2 2 2 0" "after the compaction"
	sleep 0.3
	expect_ge "$(lw_stat .compactions)" 1 "compactions met"
	expect_eq "$(lw_stat .snapshots)" 2 "tables read"
	expect_ge "$(lw_stat .errors)" 1 "errors while cut off"
	expect_eq "$(lw_stat .connected)" true "connected"
	# And it follows from the new revision on.
	put_block 0 host-c
	expect_block 0 3 "blocks/0 after the new table"
	# Stopped (SIGSTOP) while the table changes and etcd compacts: whether
	# it then reads the changes its watch had buffered or meets the
	# compaction, it ends right.
	kill -STOP "$LW_PID"
	etcdctl_in "$CLI" del "$PFX/pools/web/blocks/0" >/dev/null
	put_block 3 host-c
	put_block 4 host-c
	# host-b's lease expires (blocks/5 goes), then block 5 is quarantined.
	etcdctl_in "$CLI" del "$PFX/pools/web/blocks/5" >/dev/null
	lw_txn "del $PFX/pools/web/claims/5" \
		"put $PFX/pools/web/quarantine/5 $(txq '{"host":"host-b","since":1,"ttl":60,"by":"host-c"}')"
	sleep 1.5
	rev=$(etcdctl_in "$CLI" get -w json / | jq .header.revision)
	etcdctl_in "$CLI" compact "$rev" >/dev/null || die "etcdctl compact $rev"
	kill -CONT "$LW_PID"
	expect_block 5 0 "quarantine/5 after SIGCONT"
	expect_blocks "0 3 3 3 3 0 2 0" "after SIGSTOP, changes, a compaction, SIGCONT"
	put_block 7 host-c
	expect_block 7 3 "blocks/7 after SIGCONT"
	lw_stop
	note "$(grep '"final":true' "$TMPD/lw.out")"
}

# The lag of a steering update, lease change -> owners in the map, over
# LW_CHANGES block puts spaced LW_GAP_MS apart, each stamped with "since"
# just before it is sent, as a holder does (one writer process, through the
# gateway). Prints median, p90, p99 and max; fails above 1 s median.
t_lag() {
	lw_setup
	local changes=${LW_CHANGES:-200} gap=${LW_GAP_MS:-20} i
	lw_start
	ip netns exec "$CLI" python3 - "${ETCD_ENDPOINTS%%,*}" "$PFX/pools/web/blocks/" "$changes" "$gap" <<-'PY' ||
	import base64, json, sys, time, urllib.request
	ep, key, n, gap = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) / 1000
	b64 = lambda s: base64.b64encode(s.encode()).decode()
	for i in range(n):
	    host = "host-b" if i // 8 % 2 == 0 else "host-c"
	    v = json.dumps({"host": host, "state": "held", "since": time.time_ns() // 1000000, "lease": "0"})
	    req = urllib.request.Request(ep + "/v3/kv/put", json.dumps({"key": b64(key + str(i % 8)), "value": b64(v)}).encode(),
	                                 {"Content-Type": "application/json"})
	    urllib.request.urlopen(req, timeout=3).read()
	    time.sleep(gap)
	PY
		die "the writer failed"
	for i in $(polls 100); do
		[ "$(lw_stat .lag.n)" = "$changes" ] && break
		sleep 0.1
	done
	expect_eq "$(lw_stat .lag.n)" "$changes" "changes measured"
	# The last round: blocks 0-7 written by the last 8 puts.
	i=$(( (changes - 1) / 8 % 2 == 0 ? 2 : 3 ))
	expect_blocks "$i $i $i $i $i $i $i $i" "after $changes changes"
	lw_stop
	note "lag over $changes changes, $gap ms apart: $(grep '"final":true' "$TMPD/lw.out" | jq -c '.lag | del(.histogram)')"
	note "histogram: $(grep '"final":true' "$TMPD/lw.out" | jq -c '[.lag.histogram[] | select(.n > 0)]')"
	expect_le "$(grep '"final":true' "$TMPD/lw.out" | jq .lag.p50_us)" 1000000 "median lag (us)"
}
