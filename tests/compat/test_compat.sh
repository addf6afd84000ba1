# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The compatibility matrix: real programs from Debian (nginx, HAProxy, curl,
# ApacheBench, a python3 asyncio client) inside an attached cgroup, each at
# a concurrency above the slice size over three origin servers, with 0
# failed requests, and every upstream socket checked from the kernel's own
# view: ss in the client's namespace and in the origins' one, sampled while
# the load runs and once after (TIME_WAIT entries included). Each program
# gets the configuration this file writes under the test's temp dir, runs
# in the foreground, and keeps its pid file and logs there.
#
# The world (compat_world): namespace NS holds the pool address on lo and
# reaches namespace ORIGIN over a veth pair; ORIGIN holds the three origin
# addresses on lo, served by one nginx (the echo module delays every
# answer by 50 ms, so connections overlap and concurrency is real):
#   port 80  HTTP/1.1 keep-alive: an HTTP/1.1 client closes first, and its
#            side keeps the TIME_WAIT
#   port 81  no keep-alive: the server closes after every answer. To an
#            HTTP/1.0 request (ab, curl -0, nginx's proxy, the asyncio
#            client) the answer has no length and ends at the server's
#            FIN, so the client never holds a TIME_WAIT; HAProxy speaks
#            HTTP/1.1 and may close first, leaving some
#   udp 5353 an echo server (psnet serve)

ORIGINS=(198.18.2.1 198.18.2.2 198.18.2.3)
SLICE_LO=20000
SLICE_HI=20039     # 40 ports
SLICE_SIZE=$((SLICE_HI - SLICE_LO + 1))
CONC=75            # above the slice, 25 per origin: below it per destination
REQUESTS=3000
ORIGIN_LOG=
# Debian's python3, not whatever python3 comes first in PATH.
PY=/usr/bin/python3

# need PROGRAM...: skip the test when a program is missing (make deps).
need() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null || { echo "$p is not installed: run make deps"; exit 249; }
	done
}

# wait_listening NETNS PROTO ADDR:PORT...: until NETNS has a listener (TCP)
# or a bound socket (UDP) on every ADDR:PORT.
wait_listening() {
	local ns=$1 proto=$2 flag=-lt a i missing
	[ "$proto" = udp ] && flag=-lu
	shift 2
	for i in $(polls 100); do
		missing=
		for a in "$@"; do
			in_ns "$ns" ss -Hn $flag | awk -v a="$a" '$4 == a { f = 1 } END { exit !f }' || missing=$a
		done
		[ -z "$missing" ] && return 0
		sleep 0.05
	done
	die "nothing listens on $proto $missing in $ns"
}

# nginx_temp_paths DIR: nginx directives that keep its temp files in DIR.
nginx_temp_paths() {
	local t
	for t in client_body proxy fastcgi uwsgi scgi; do
		echo "${t}_temp_path $1;"
	done
}

# nginx_conf NAME MAIN-DIRECTIVES HTTP-DIRECTIVES: $TMPD/NAME.conf, an
# nginx config that keeps everything (pid, logs, lock, temp files) in $TMPD
# and runs in the foreground with one worker. The temp files go to a
# directory of their own: nginx gives its temp directory to its workers'
# user, and the agent's tests keep a root-only config under $TMPD.
nginx_conf() {
	cat > "$TMPD/$1.conf" <<-EOF
	worker_processes 1;
	daemon off;
	pid $TMPD/$1.pid;
	lock_file $TMPD/$1.lock;
	error_log $TMPD/$1.error.log warn;
	$2
	events { worker_connections 4096; }
	http {
	    $(nginx_temp_paths "$TMPD/$1.temp")
	    $3
	}
	EOF
}

# compat_world: lib.sh's standard world (NS, CG, CONF: the slice for
# host-a), ORIGIN, the origins served, the cgroup attached.
compat_world() {
	need_origins
	std_setup "$SLICE_LO-$SLICE_HI"
	compat_origins
	attach
	origin_start
}

# need_origins: skip the test unless the origins' programs are installed.
need_origins() {
	need nginx ss
	[ -r /usr/lib/nginx/modules/ngx_http_echo_module.so ] ||
		{ echo "nginx's echo module is not installed (libnginx-mod-http-echo): run make deps"; exit 249; }
}

# compat_origins: namespace ORIGIN holding the origin addresses on lo,
# reached from NS (which holds the pool address) over a veth pair.
compat_origins() {
	local o
	ORIGIN=$(ns_create origin)
	ip -n "$NS" link add c0 type veth peer name o0 netns "$ORIGIN" || die "cannot create the veth pair"
	ip -n "$NS" addr add 10.99.0.1/30 dev c0
	ip -n "$ORIGIN" addr add 10.99.0.2/30 dev o0
	ip -n "$NS" link set c0 up
	ip -n "$ORIGIN" link set o0 up
	for o in "${ORIGINS[@]}"; do ip -n "$ORIGIN" addr add "$o/32" dev lo; done
	# Routing never picks the pool address as a source on its own: only
	# the cgroup's placed sockets leave from it.
	ip -n "$NS" route add 198.18.2.0/24 via 10.99.0.2 dev c0 src 10.99.0.1 || die "route to the origins"
	ip -n "$ORIGIN" route add $POOL4/32 via 10.99.0.1 dev o0 || die "route to the pool address"
}

# origin_start: the origins in ORIGIN (outside the cgroup): nginx on ports
# 80 and 81 of every origin address, logging each request's peer address
# to $ORIGIN_LOG, and psnet's UDP echo on port 5353.
origin_start() {
	local o l80= l81=
	for o in "${ORIGINS[@]}"; do
		l80+="listen $o:80 backlog=4096; "
		l81+="listen $o:81 backlog=4096; "
	done
	ORIGIN_LOG=$TMPD/origin.access.log
	nginx_conf origin "load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;" "
	    log_format peer '\$server_addr:\$server_port \$remote_addr:\$remote_port \$status';
	    access_log $ORIGIN_LOG peer;
	    keepalive_requests 100000;
	    server { $l80 location / { echo_sleep 0.05; echo ok; } }
	    server { $l81 keepalive_timeout 0; location / { echo_sleep 0.05; echo ok; } }"
	bg_in - "$ORIGIN" nginx -p "$TMPD" -c "$TMPD/origin.conf" > "$TMPD/origin.out" 2>&1
	bg_in - "$ORIGIN" "$PSNET" serve --udp "${ORIGINS[0]}:5353" --udp "${ORIGINS[1]}:5353" \
		--udp "${ORIGINS[2]}:5353" > "$TMPD/udp-origin.out" 2>&1
	wait_ready "$TMPD/udp-origin.out"
	wait_listening "$ORIGIN" tcp "${ORIGINS[@]/%/:80}" "${ORIGINS[@]/%/:81}"
}

# ---- the kernel's view -------------------------------------------------------

# slice_ranges: the ports the pool's sockets may have now, as "LO-HI"
# words on one line: the slice. A test of a dynamic pool redefines it
# (the blocks etcd says this host holds).
slice_ranges() { echo "$SLICE_LO-$SLICE_HI"; }

# snap_start: ss -tuane of NS and of ORIGIN, every 0.2 s, into
# $TMPD/client.ss and $TMPD/origin.ss until snap_stop, which takes one
# last snapshot (TIME_WAIT entries the load left). Each snapshot starts
# with a "#snap RANGES" line: slice_ranges, read after ss, so that a range
# a socket of the snapshot had its port from is in it.
snap_once() {
	local client origin ranges
	client=$(nsenter --net="/run/netns/$NS" ss -Htuane)
	origin=$(nsenter --net="/run/netns/$ORIGIN" ss -Htuane)
	ranges=$(slice_ranges)
	printf '#snap %s\n%s\n' "$ranges" "$client" >> "$TMPD/client.ss"
	printf '#snap %s\n%s\n' "$ranges" "$origin" >> "$TMPD/origin.ss"
}

snap_start() {
	: > "$TMPD/client.ss"
	: > "$TMPD/origin.ss"
	rm -f "$TMPD/snap.stop"
	(while [ ! -e "$TMPD/snap.stop" ]; do snap_once; sleep 0.2; done) &
	SNAP_PID=$!
	_pids+=($SNAP_PID)
}

snap_stop() {
	touch "$TMPD/snap.stop"
	wait "$SNAP_PID"
	snap_once
}

# snap_check SIDE FILE: every socket between the pool and an origin in the
# snapshots of FILE (SIDE client: NS, its local end; SIDE origin: ORIGIN,
# its peer end) is on the pool address with a port of the snapshot's
# ranges, and no
# two sockets of one snapshot share a 4-tuple (TIME_WAIT included; ss's
# socket cookie tells a socket dumped twice from two sockets). Prints
# "snaps=N bad=N dups=N maxlive=N maxdest=N tuples=N": maxlive is the
# most live (not TIME_WAIT) sockets of one snapshot, maxdest the most
# sockets (TIME_WAIT included) to one destination address and protocol.
snap_check() {
	awk -v side="$1" -v pool=$POOL4 -v origins="${ORIGINS[*]}" '
	function host(a,   n, p) { n = split(a, p, ":"); return substr(a, 1, length(a) - length(p[n]) - 1) }
	function port(a,   n, p) { n = split(a, p, ":"); return p[n] + 0 }
	function in_ranges(p,   i, b) {
		for (i = 1; i <= nr; i++) { split(rg[i], b, "-"); if (p >= b[1] && p <= b[2]) return 1 }
		return 0
	}
	function flush(   t) {
		for (t in cnt) if (cnt[t] > 1 && ++dups <= 5) print "two sockets on " t > "/dev/stderr"
		for (t in dest) if (dest[t] > maxdest) maxdest = dest[t]
		if (live > maxlive) maxlive = live
		delete cnt; delete seen; delete dest; live = 0
	}
	BEGIN { n = split(origins, o, " "); for (i = 1; i <= n; i++) isorigin[o[i]] = 1 }
	/^#snap/ { flush(); snaps++; nr = split(substr($0, 7), rg, " "); next }
	$2 == "LISTEN" || $2 == "UNCONN" { next }
	{
		l = $5; r = $6; cookie = ""
		for (i = 7; i <= NF; i++) if ($i ~ /^sk:/) cookie = $i
		if (side == "client") { if (!(host(r) in isorigin)) next; mine = l }
		else { if (!(host(l) in isorigin)) next; mine = r }
		if (host(mine) != pool || !in_ranges(port(mine))) {
			if (++bad <= 5) print "outside the slice: " $0 > "/dev/stderr"
			next
		}
		key = $1 " " l " " r
		if (seen[key, cookie]++) next
		cnt[key]++
		dest[$1 " " (side == "client" ? host(r) : host(l))]++
		tuples[key] = 1
		if ($2 != "TIME-WAIT") live++
	}
	END {
		flush()
		for (t in tuples) nt++
		printf "snaps=%d bad=%d dups=%d maxlive=%d maxdest=%d tuples=%d\n", snaps, bad, dups, maxlive, maxdest, nt
	}' "$2"
}

# snap_field LINE NAME: one NAME=VALUE of snap_check's line.
snap_field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# check_kernel_view [MINLIVE]: both namespaces' snapshots pass snap_check,
# and (with MINLIVE) one client snapshot had at least MINLIVE live upstream
# sockets: the concurrency above the slice was real.
check_kernel_view() {
	local side line
	for side in client origin; do
		line=$(snap_check $side "$TMPD/$side.ss")
		note "ss in the $side namespace: $line"
		expect_eq "$(snap_field "$line" bad)" 0 "$side-side sockets outside $POOL4 and the slice's ports (ss)"
		expect_eq "$(snap_field "$line" dups)" 0 "$side-side 4-tuples shared by two sockets (ss)"
		expect_ge "$(snap_field "$line" snaps)" 1 "$side-side ss snapshots"
		[ "$side" = client ] && CLIENT_VIEW=$line
	done
	[ -z "${1:-}" ] || expect_ge "$(snap_field "$CLIENT_VIEW" maxlive)" "$1" \
		"live upstream sockets in one ss snapshot (the concurrency above the $SLICE_SIZE-port slice)"
}

# check_origin_log COUNT: the origins logged COUNT more requests since
# the last call, every one with status 200 from the pool address and a
# port of slice_ranges (the peer address the origins' kernel reported).
ORIGIN_SEEN=0
check_origin_log() {
	local out ranges
	ranges=$(slice_ranges)
	out=$(tail -n +$((ORIGIN_SEEN + 1)) "$ORIGIN_LOG" | awk -v pool=$POOL4 -v ranges="$ranges" '
		BEGIN { nr = split(ranges, r, " ") }
		{
			n++; split($2, p, ":"); ok = 0
			for (i = 1; i <= nr; i++) { split(r[i], b, "-"); if (p[2] + 0 >= b[1] && p[2] + 0 <= b[2]) ok = 1 }
			if (p[1] != pool || !ok || $3 != 200) { if (++bad <= 5) print "origin saw: " $0 > "/dev/stderr" }
		}
		END { print n + 0, bad + 0 }')
	ORIGIN_SEEN=$((ORIGIN_SEEN + ${out% *}))
	expect_eq "${out#* }" 0 "requests the origins saw from outside $POOL4:$ranges or not answered 200"
	expect_eq "${out% *}" "$1" "requests the origins answered"
}

# ab_check OUTPUT COUNT: ApacheBench completed COUNT requests, none failed.
ab_check() {
	expect_eq "$(printf '%s\n' "$1" | awk '/^Complete requests:/ { print $3 }')" "$2" "ab: complete requests"
	expect_eq "$(printf '%s\n' "$1" | awk '/^Failed requests:/ { print $3 }')" 0 "ab: failed requests"
	expect_eq "$(printf '%s\n' "$1" | awk '/^Non-2xx responses:/ { n = $3 } END { print n + 0 }')" 0 "ab: non-2xx responses"
}

# ab_front NAME: ApacheBench (outside the cgroup) against the proxy NAME
# listening on 127.0.0.1:8080 in NS, its output in $TMPD/ab.out.
ab_front() {
	snap_start
	in_ns "$NS" ab -n $REQUESTS -c $CONC -s $((30 * TEST_TIME_SCALE)) http://127.0.0.1:8080/ > "$TMPD/ab.out" 2>&1 ||
		die "ab through $1 failed: $(tail -n 5 "$TMPD/ab.out")"
	snap_stop
}

# ab_front_check: ab's requests all succeeded, the origins and ss agree.
ab_front_check() {
	ab_check "$(cat "$TMPD/ab.out")" $REQUESTS
	check_origin_log $REQUESTS
	check_kernel_view $((SLICE_SIZE + 1))
}

# urls FILE PORT COUNT: a curl config with COUNT URLs to the origins on
# PORT, round-robin, every body to /dev/null.
urls() {
	local i
	for ((i = 0; i < $3; i++)); do
		printf 'url = "http://%s:%s/?r=%d"\noutput = "/dev/null"\n' "${ORIGINS[i % 3]}" "$2" $i
	done > "$1"
}

# curl_parallel CONCURRENCY CURL-ARGS...: one curl in the cgroup,
# $REQUESTS HTTP/1.0 transfers to port 81 (the server closes first),
# CONCURRENCY at a time; checks every transfer, the origins and ss.
curl_parallel() {
	local conc=$1 out
	shift
	need curl
	urls "$TMPD/urls" 81 $REQUESTS
	snap_start
	# Every option before -K: curl gives those after the config's last URL
	# to another (empty) set of transfers.
	out=$(in_cg "$CG" "$NS" curl --no-progress-meter -S -0 --parallel --parallel-immediate \
		--parallel-max "$conc" --max-time $((30 * TEST_TIME_SCALE)) "$@" \
		-w 'code=%{http_code} local=%{local_ip}:%{local_port} exit=%{exitcode}\n' -K "$TMPD/urls" \
		2> "$TMPD/curl.err")
	snap_stop
	printf '%s\n' "$out" | grep -v '^code=200 .*exit=0$' | head -n 5 >&2
	head -n 5 "$TMPD/curl.err" >&2
	check_conns_in "$(printf '%s\n' "$out" | sed -n 's/^code=200 \(.*\) exit=0$/result=ok \1/p')" \
		$POOL4 "$(slice_ranges)" $REQUESTS
	check_origin_log $REQUESTS
}

# ---- the proxies --------------------------------------------------------------

# nginx_proxy ORIGIN...: nginx in the cgroup, a reverse proxy on
# 127.0.0.1:8080 to the origins given (port 81) with proxy_bind: bind(pool,
# 0) with IP_BIND_ADDRESS_NO_PORT, then connect(): the port is chosen at
# connect() and shared across the origins.
nginx_proxy() {
	local o servers=
	for o in "$@"; do servers+="server $o:81; "; done
	nginx_conf proxy "" "
	    access_log off;
	    upstream origins { $servers}
	    server {
	        listen 127.0.0.1:8080 backlog=4096;
	        location / { proxy_pass http://origins; proxy_bind $POOL4; }
	    }"
	bg_in "$CG" "$NS" nginx -p "$TMPD" -c "$TMPD/proxy.conf" > "$TMPD/proxy.out" 2>&1
	wait_listening "$NS" tcp 127.0.0.1:8080
}

# nginx_errors: how many errors nginx_proxy's log has (the first is noted).
# proxy_next_upstream would hide a failed connect behind a retry on another
# origin: nginx logs every one.
nginx_errors() {
	local errors
	errors=$(grep -cE '\[(error|crit|alert|emerg)\]' "$TMPD/proxy.error.log")
	[ "$errors" = 0 ] || note "nginx logged $errors errors, first: $(grep -m 1 -E '\[(error|crit|alert|emerg)\]' "$TMPD/proxy.error.log")"
	echo "$errors"
}

# haproxy_proxy: HAProxy in the cgroup, a reverse proxy on 127.0.0.1:8080
# to the three origins with `source ADDR` (the same idiom:
# IP_BIND_ADDRESS_NO_PORT), its stats page on 127.0.0.1:8404.
haproxy_proxy() {
	need haproxy curl
	cat > "$TMPD/haproxy.cfg" <<-EOF
	global
	    maxconn 4096
	    pidfile $TMPD/haproxy.pid
	defaults
	    mode http
	    timeout connect $((5 * TEST_TIME_SCALE))s
	    timeout client $((30 * TEST_TIME_SCALE))s
	    timeout server $((30 * TEST_TIME_SCALE))s
	frontend fe
	    bind 127.0.0.1:8080
	    default_backend origins
	backend origins
	    balance roundrobin
	    source $POOL4
	    server o1 ${ORIGINS[0]}:81
	    server o2 ${ORIGINS[1]}:81
	    server o3 ${ORIGINS[2]}:81
	listen stats
	    bind 127.0.0.1:8404
	    stats enable
	    stats uri /stats
	EOF
	bg_in "$CG" "$NS" haproxy -db -f "$TMPD/haproxy.cfg" > "$TMPD/haproxy.out" 2>&1
	wait_listening "$NS" tcp 127.0.0.1:8080 127.0.0.1:8404
}

# haproxy_errors: HAProxy's backend connection errors, response errors,
# retries and redispatches (noted, with its log's first complaints).
# HAProxy retries a failed connect (retries 3): its counters show every
# connection error and retry that ab's view hides.
haproxy_errors() {
	local csv
	csv=$(in_ns "$NS" curl -sS 'http://127.0.0.1:8404/stats;csv') || die "HAProxy's stats page"
	note "HAProxy backend: $(printf '%s\n' "$csv" | awk -F, '$1 == "origins" && $2 == "BACKEND" {
		print "econ=" $14, "eresp=" $15, "wretr=" $16, "wredis=" $17, "5xx=" $44 }')"
	grep -m 3 -iE 'alert|warning|cannot|error' "$TMPD/haproxy.out" >&2
	printf '%s\n' "$csv" | awk -F, '$1 == "origins" && $2 == "BACKEND" { print $14 + $15 + $16 + $17 }'
}

# ---- the matrix --------------------------------------------------------------

# nginx proxy_bind through the slice, three origins.
t_nginx_proxy_bind() {
	local errors
	need ab
	compat_world
	nginx_proxy "${ORIGINS[@]}"
	ab_front nginx
	errors=$(nginx_errors)
	ab_front_check
	expect_eq "$errors" 0 "errors in nginx's log"
}

# HAProxy `source ADDR` through the slice, three origins.
t_haproxy_source() {
	local errors
	need ab
	compat_world
	haproxy_proxy
	ab_front haproxy
	errors=$(haproxy_errors)
	ab_front_check
	expect_eq "$errors" 0 "HAProxy connection errors, response errors, retries and redispatches"
}

# curl with a plain connect(): many transfers in one process.
t_curl_plain() {
	compat_world
	curl_parallel $CONC
	check_kernel_view $((SLICE_SIZE + 1))
}

# curl --interface ADDR: bind(pool, 0), then connect(). Debian 12's curl
# (7.88) sets IP_BIND_ADDRESS_NO_PORT first (strace shows it), so the
# port is chosen at connect(); a curl without the option takes a whole
# port per socket (as wget --bind-address does), hence 30 at a time here,
# below the slice size. Then the client closes first (curl_time_waits):
# SLICE_SIZE more curls, each leaving its port in TIME_WAIT.
t_curl_interface() {
	compat_world
	curl_parallel 30 --interface $POOL4
	check_kernel_view
	curl_time_waits $SLICE_SIZE
}

# curl_time_waits N: N curls --interface $POOL4 in the cgroup, four at a
# time, one request each to the keep-alive port: each closes first and
# leaves its port in TIME_WAIT. Every one must succeed, from the slice's
# ports (slice_ranges), and ss must then show N TIME_WAIT sockets on the
# pool address.
curl_time_waits() {
	local n=$1 i lane out tw pids=()
	: > "$TMPD/tw.out"
	for lane in 0 1 2 3; do
		(
			for ((i = lane; i < n; i += 4)); do
				in_cg "$CG" "$NS" curl -sS -o /dev/null --interface $POOL4 --max-time $((30 * TEST_TIME_SCALE)) \
					-w 'code=%{http_code} local=%{local_ip}:%{local_port} exit=%{exitcode}\n' \
					"http://${ORIGINS[i % 3]}:80/" 2>&1
			done >> "$TMPD/tw.out"
		) &
		pids+=($!)
		_pids+=($!)
	done
	wait "${pids[@]}"
	out=$(cat "$TMPD/tw.out")
	printf '%s\n' "$out" | grep -v '^code=200 .*exit=0$' | head -n 5 >&2
	check_conns_in "$(printf '%s\n' "$out" | sed -n 's/^code=200 \(.*\) exit=0$/result=ok \1/p')" \
		$POOL4 "$(slice_ranges)" "$n"
	check_origin_log "$n"
	: > "$TMPD/client.ss"
	: > "$TMPD/origin.ss"
	snap_once
	check_kernel_view
	# The last FIN handshakes may still be under way when curl exits.
	for i in $(polls 100); do
		tw=$(in_ns "$NS" ss -Htan state time-wait src $POOL4 | wc -l)
		[ "$tw" -ge "$n" ] && break
		sleep 0.05
	done
	expect_eq "$tw" "$n" "TIME_WAIT sockets on the pool address (every curl closed first)"
}

# ApacheBench with a plain connect(): one ab per origin, in the cgroup.
t_ab() {
	local o pids=()
	need ab
	compat_world
	snap_start
	for o in 0 1 2; do
		bg_in "$CG" "$NS" ab -n $((REQUESTS / 3)) -c $((CONC / 3)) -s $((30 * TEST_TIME_SCALE)) \
			"http://${ORIGINS[o]}:81/" > "$TMPD/ab$o.out" 2>&1
		pids+=($BG_PID)
	done
	for o in 0 1 2; do
		wait "${pids[o]}" || die "ab to ${ORIGINS[o]} failed: $(tail -n 5 "$TMPD/ab$o.out")"
	done
	snap_stop
	for o in 0 1 2; do ab_check "$(cat "$TMPD/ab$o.out")" $((REQUESTS / 3)); done
	check_origin_log $REQUESTS
	check_kernel_view $((SLICE_SIZE + 1))
}

# A python3 asyncio client (stdlib only): HTTP/1.0 over TCP, then
# connected UDP sockets (create_datagram_endpoint with a remote address)
# exchanging datagrams with an echo server. 60 at a time, at most 20 per
# destination: asyncio closes a datagram transport's socket one loop turn
# after close(), while the next session may already connect in that turn,
# so up to twice the sessions' count of UDP sockets to one destination
# exist at once (at 25 per destination, more than the 40-port slice).
t_python_asyncio() {
	local out hosts
	need "$PY"
	compat_world
	hosts=$(IFS=,; echo "${ORIGINS[*]}")
	snap_start
	out=$(in_cg "$CG" "$NS" "$PY" "$ROOT/tests/compat/asyncio_client.py" --hosts "$hosts" \
		--tcp $REQUESTS --udp $REQUESTS --concurrency 60 --per-host 20 --timeout $((30 * TEST_TIME_SCALE)))
	snap_stop
	printf '%s\n' "$out" | grep -v 'result=ok' | head -n 5 >&2
	expect_match "$(printf '%s\n' "$out" | tail -n 1)" \
		"^summary tcp_ok=$REQUESTS tcp_failed=0 udp_ok=$REQUESTS udp_failed=0$" "asyncio client"
	check_conns "$(printf '%s\n' "$out" | grep '^proto=tcp')" $POOL4 $SLICE_LO $SLICE_HI $REQUESTS
	check_conns "$(printf '%s\n' "$out" | grep '^proto=udp')" $POOL4 $SLICE_LO $SLICE_HI $REQUESTS
	check_origin_log $REQUESTS
	check_kernel_view $((SLICE_SIZE + 1))
}
