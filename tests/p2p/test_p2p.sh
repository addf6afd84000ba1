# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Peer-to-peer pools (README "Peer-to-peer applications"), with real NATs:
#
#   site A: host-a, host-b --br0-- ra ==(ECMP)==.
#           (pool 198.18.0.10 on both, portslice   \
#            in a p2p pool, steering l2)             inet (rendezvous 203.0.113.10:3478)
#   site B: peer (10.0.0.2) -- rb (NAT: nftables   /
#           masquerade, conntrack, drops         --'
#           unsolicited inbound) 192.0.2.5
#
# The fleet's peer runs on host-a (slice 20000-20999); ra spreads packets
# for the pool address over both hosts by a layer-4 hash, so a peer's SYN
# or datagram for host-a's port lands on host-b about half the time and
# must be steered. Results are read from the kernels' own views: the
# peers' socket addresses, conntrack in the NAT router, ss on the hosts.
#
# Needs: python3, nft, conntrack, ethtool, clang, tc, nsenter, jq, bpftool.

# The steering topology's helpers (in_net, napi_on, hns, hpin, steer_attach,
# steer_json, wait_neigh); its test cases are not this file's.
source "$(dirname "${BASH_SOURCE[0]}")/../steer/test_e2e.sh"
unset -f $(declare -F | awk '$3 ~ /^t_/ { print $3 }')
E2E_HOSTS="a b"

PSP2P=${PSP2P:-$ROOT/tests/tools/psp2p.py}
P2P_POOL=198.18.0.10
P2P_RDV=203.0.113.10:3478
P2P_NAT=192.0.2.5

# p2p_topo [EXTRA POOL YAML]: the world above, portslice attached on both
# fleet hosts, steering on their uplinks, the rendezvous server running.
# Sets CGa, CGb, CONF, RA, RB, INET, PEER.
p2p_topo() {
	local h n ns
	need_cmds "the p2p tests" python3 nft conntrack ethtool "${CLANG:-clang}" tc nsenter jq bpftool
	[ -x "$PS" ] || die "no $PS: run make"
	ensure_bpffs
	for ns in inet ra rb peer host-a host-b; do ns_create $ns >/dev/null; done
	INET=$TAG-inet RA=$TAG-ra RB=$TAG-rb PEER=$TAG-peer

	# inet: the rendezvous server's address and routes to both sites.
	ip -n "$INET" addr add ${P2P_RDV%:*}/32 dev lo
	p2p_link "$INET" i-a 192.0.2.2/30 "$RA" wan 192.0.2.1/30
	p2p_link "$INET" i-b 192.0.2.6/30 "$RB" wan $P2P_NAT/30
	ip -n "$INET" route add $P2P_POOL/32 via 192.0.2.1
	ip -n "$INET" route add 198.18.10.0/24 via 192.0.2.1
	p2p_forwarding "$INET"

	# Site A: ra routes the pool address to both hosts by ECMP (layer 4).
	ip -n "$RA" link add br0 type bridge
	ip -n "$RA" addr add 198.18.10.254/24 dev br0
	ip -n "$RA" link set br0 up
	ip -n "$RA" route add default via 192.0.2.2
	p2p_forwarding "$RA"
	in_ns "$RA" sysctl -qw net.ipv4.fib_multipath_hash_policy=1 || die "ra: hash policy"
	for h in $E2E_HOSTS; do
		ns=$(hns $h) n=$(host_num $h)
		ip link add eth0 netns "$ns" type veth peer name r-$h netns "$RA" || die "veth host-$h"
		ip -n "$RA" link set r-$h master br0
		napi_on "$RA" r-$h
		p2p_tx_off "$RA" r-$h
		p2p_tx_off "$ns" eth0
		ip -n "$RA" link set r-$h up
		ip -n "$ns" addr add 198.18.10.$n/24 dev eth0
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route add default via 198.18.10.254
		ip -n "$ns" addr add $P2P_POOL/32 dev lo
		p2p_forwarding "$ns"
		eval "UL4_$h=198.18.10.$n"
	done
	ip -n "$RA" route add $P2P_POOL/32 nexthop via 198.18.10.1 dev br0 nexthop via 198.18.10.2 dev br0 ||
		die "ECMP route"
	ip -n "$(hns a)" neigh replace 198.18.10.2 dev eth0 managed || die "managed neighbour on host-a"
	ip -n "$(hns b)" neigh replace 198.18.10.1 dev eth0 managed || die "managed neighbour on host-b"

	# Site B: a home router. Masquerade out of wan; inbound packets that
	# are not replies are dropped, as most NATs do (no RST that would
	# spoil a hole punch).
	p2p_link "$RB" lan 10.0.0.1/24 "$PEER" eth0 10.0.0.2/24
	ip -n "$RB" route add default via 192.0.2.6
	ip -n "$PEER" route add default via 10.0.0.1
	p2p_forwarding "$RB"
	in_ns "$RB" nft -f - <<-'NFT' || die "nft rules in the NAT router"
	table ip nat {
		chain post { type nat hook postrouting priority srcnat; oifname "wan" masquerade; }
	}
	table inet fw {
		chain input { type filter hook input priority filter; iifname "wan" ct state new counter drop; }
		chain forward { type filter hook forward priority filter; iifname "wan" ct state new drop; }
	}
	NFT

	CONF=$TMPD/fleet.yaml
	cat > "$CONF" <<-YAML
	pools:
	  - name: p2p
	    address: $P2P_POOL
	    p2p: true
	    slices: {host-a: 20000-20999, host-b: 21000-21999}
	${1:-}
	hosts:
	  host-a: {address: 198.18.10.1}
	  host-b: {address: 198.18.10.2}
	steering: {mode: l2}
	YAML
	for h in $E2E_HOSTS; do
		eval "CG$h=\$(cg_create host-$h)"
		eval "PORTSLICE_PIN_DIR=\$(hpin $h) in_net \"\$(hns $h)\" \"\$PS\" attach --cgroup \"\$CG$h\" --config \"\$CONF\" --host host-$h" \
			>/dev/null || die "portslice attach (host-$h)"
		steer_attach $h
	done
	wait_neigh 4
	bg ip netns exec "$INET" python3 "$PSP2P" rendezvous --at $P2P_RDV > "$TMPD/rdv.out" 2>&1
	wait_ready "$TMPD/rdv.out"
}

# p2p_link NS1 DEV1 ADDR1 NS2 DEV2 ADDR2: a veth between two namespaces.
p2p_link() {
	ip link add "$2" netns "$1" type veth peer name "$5" netns "$4" || die "veth $1/$2 - $4/$5"
	ip -n "$1" addr add "$3" dev "$2"
	ip -n "$4" addr add "$6" dev "$5"
	p2p_tx_off "$1" "$2"
	p2p_tx_off "$4" "$5"
	ip -n "$1" link set "$2" up
	ip -n "$4" link set "$5" up
}

# Every link computes its checksums itself: a packet the XDP program sends
# on must not carry one left to "hardware" (README, Steering).
p2p_tx_off() { in_ns "$1" ethtool -K "$2" tx off >/dev/null 2>&1 || die "ethtool -K $2 tx off in $1"; }

p2p_forwarding() {
	in_ns "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 || die "sysctls in $1"
}

# fleet_peer NAME PORT ARGS...: the fleet's peer on host-a, in its cgroup.
fleet_peer() {
	local name=$1 port=$2
	shift 2
	bg_in "$CGa" "$(hns a)" python3 "$PSP2P" peer --port "$port" --rendezvous $P2P_RDV "$@" \
		> "$TMPD/$name.out" 2>&1
}

# site_peer NAME PORT ARGS...: the peer behind the NAT.
site_peer() {
	local name=$1 port=$2
	shift 2
	bg_in - "$PEER" python3 "$PSP2P" peer --port "$port" --rendezvous $P2P_RDV "$@" \
		> "$TMPD/$name.out" 2>&1
}

# field LINE NAME: the value of NAME=... in a psp2p line.
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

# punch PROTO RUNS FIRST [ARGS...]: RUNS meetings through the rendezvous
# server, one pair of ports each (fleet 20100+i, site 40100+i); FIRST
# (fleet or site) dials 100 ms before the other. ARGS go to both peers.
# Every run must end with data both ways between (pool, fleet port) and
# (NAT address, site port); sets OK (runs that did), VIA (how the fleet
# peer got its connection, counted).
punch() {
	local proto=$1 runs=$2 first=$3 i fp sp fd sd a b
	shift 3
	OK=0 VIA=
	for i in $(seq 1 "$runs"); do
		fp=$((20100 + i + ${P2P_PORT_BASE:-0})) sp=$((40100 + i + ${P2P_PORT_BASE:-0}))
		fd=0 sd=0
		[ "$first" = site ] && fd=100
		[ "$first" = fleet ] && sd=100
		fleet_peer fleet$i "$fp" --proto "$proto" --session "$proto$first$i" --delay $fd "$@"
		a=$BG_PID
		site_peer site$i "$sp" --proto "$proto" --session "$proto$first$i" --delay $sd "$@"
		b=$BG_PID
		wait $a $b
		a=$(cat "$TMPD/fleet$i.out") b=$(cat "$TMPD/site$i.out")
		if [ "$(field "$a" result)" = ok ] && [ "$(field "$b" result)" = ok ]; then
			# Each side sees the other where the network puts it: the
			# fleet at (pool, its port), the site at its NAT's address.
			expect_eq "$(field "$a" local)" "$P2P_POOL:$fp" "fleet peer's local address"
			expect_eq "$(field "$a" seen)" "$P2P_POOL:$fp" "the fleet peer as the rendezvous saw it"
			expect_eq "$(field "$b" remote)" "$P2P_POOL:$fp" "the fleet peer as the site peer reached it"
			expect_eq "$(field "$a" remote)" "$P2P_NAT:$sp" "the site peer as the fleet peer reached it"
			expect_contains "$(field "$a" got)" "hi_from" "data from the site peer"
			expect_contains "$(field "$b" got)" "hi_from" "data from the fleet peer"
			OK=$((OK + 1))
			VIA="$VIA $(field "$a" via)"
		else
			note "run $i ($proto, $first first): fleet: $a; site: $b"
		fi
	done
	VIA=$(printf '%s\n' $VIA | sort | uniq -c | awk '{ printf "%s%s=%s", sep, $2, $1; sep = " " }')
	note "$proto, $first first: $OK of $runs punched through ($VIA)"
}

# nat_entries PROTO FLEET_PORT: conntrack entries of the NAT router for the
# fleet's (pool, FLEET_PORT), one per line.
nat_entries() {
	in_ns "$RB" conntrack -L -p "$1" -d $P2P_POOL --dport "$2" 2>/dev/null | grep -F "dport=$2 " || true
}

# steered_to HOST: packets host-b's (or host-a's) XDP program forwarded.
forwarded_by() {
	local st
	st=$(steer_json "$1") || die "status of host-$1"
	printf '%s' "$st" | jq -r '.steering.counters.forwarded'
}

# unsolicited PROTO: packets of PROTO the NAT router dropped as unsolicited.
unsolicited() {
	in_ns "$RB" nft -j list chain inet fw input |
		jq '[.nftables[].rule.expr // empty | .[] | .counter.packets // empty] | add // 0'
}

t_tcp_simultaneous_open() {
	local dropped
	p2p_topo
	punch tcp 10 fleet
	expect_eq "$OK" 10 "TCP runs that punched through, fleet first"
	# The SYNs crossed: each fleet SYN reached the NAT before the site
	# peer's own SYN had opened it (dropped), and the site peer's SYN then
	# found the fleet's socket in SYN-SENT: a simultaneous open, whose
	# connect() succeeded (via=connect, not accept).
	dropped=$(unsolicited)
	expect_ge "$dropped" 10 "fleet SYNs the NAT router dropped before the site peer dialed"
	expect_eq "$VIA" "connect=10" "how the fleet peer got its connections, fleet first"
	note "NAT router dropped $dropped unsolicited packets (the fleet's early SYNs)"
	# Site first: the site peer's SYN opens its NAT and reaches the fleet
	# peer's listener before the fleet peer dials (no link here is slow
	# enough for SYNs to cross in flight); its own dial then finds the
	# tuple taken (EADDRNOTAVAIL) and the accepted connection is the one.
	P2P_PORT_BASE=20 punch tcp 10 site
	expect_eq "$OK" 10 "TCP runs that punched through, site first"
	# The NAT router's own view of one run: its mapping kept the site
	# peer's port, and the entry is the punched connection.
	expect_match "$(nat_entries tcp 20101)" "src=10\.0\.0\.2 dst=$P2P_POOL sport=40101 dport=20101 .*src=$P2P_POOL dst=$P2P_NAT sport=20101 dport=40101" \
		"conntrack of the NAT router"
}

t_tcp_simultaneous_open_bind_first() {
	p2p_topo
	punch tcp 5 fleet --order bind-first
	expect_eq "$OK" 5 "TCP runs, dialing socket bound before listen(), fleet first"
	P2P_PORT_BASE=20 punch tcp 5 site --order bind-first
	expect_eq "$OK" 5 "TCP runs, dialing socket bound before listen(), site first"
}

t_udp_hole_punch() {
	p2p_topo
	punch udp 10 fleet
	expect_eq "$OK" 10 "UDP runs that punched through, fleet first"
	P2P_PORT_BASE=20 punch udp 10 site
	expect_eq "$OK" 10 "UDP runs that punched through, site first"
	# The last run's entry (UDP entries without a stream expire in 30 s).
	expect_match "$(nat_entries udp 20130)" "src=10\.0\.0\.2 dst=$P2P_POOL sport=40130 dport=20130 .*src=$P2P_POOL dst=$P2P_NAT sport=20130 dport=40130" \
		"conntrack of the NAT router"
}

# After a punched connection ends with a reset, the fleet peer dials the
# same peer from its listen port at once: EADDRNOTAVAIL, no packet sent;
# its fallback to an ephemeral port leaves from another port of the slice.
# The NAT router never sees the tuple a second time.
t_quarantine_after_rst() {
	local a n delay
	p2p_topo
	# The default quarantine of a P2P pool, as the programs read it.
	delay=$(bpftool -j map dump pinned "$(hpin a)/maps/ps_pools" |
		jq -r '[.[] | .formatted.value | select(.name == "p2p")][0].reuse_delay_ms')
	expect_eq "$delay" 15000 "reuse_delay of a p2p pool without one (ms)"
	fleet_peer fleet 20200 --session q --rst --redial
	a=$BG_PID
	site_peer site 40200 --session q --delay 100 --hold 500
	wait $a
	a=$(cat "$TMPD/fleet.out")
	expect_eq "$(field "$a" result)" ok "the punch before the reset: $a"
	expect_eq "$(field "$a" redial)" EADDRNOTAVAIL "redial of the same peer from the listen port"
	expect_eq "$(field "$a" redial_local)" "$P2P_POOL:20200" "the redialing socket's address"
	n=$(ports_of "local=$(field "$a" fallback_local)")
	expect_ne "$n" 20200 "fallback port"
	expect_ge "$n" 20000 "fallback port"
	expect_le "$n" 20999 "fallback port"
	expect_eq "$(PORTSLICE_PIN_DIR=$(hpin a) in_net "$(hns a)" "$PS" status --json |
		jq -r '.pools[] | select(.name == "p2p") | .counters.tcp.quarantined')" 1 "quarantined dials"
	n=$(nat_entries tcp 20200 | grep -c "sport=40200")
	expect_eq "$n" 1 "conntrack entries of the NAT router for the tuple (one connection, never a second)"
	note "NAT router: $(nat_entries tcp 20200)"
}

# A peer's unsolicited SYNs and datagrams to host-a's listen port arrive
# at whichever host the router picks; host-b hands them to host-a.
t_unsolicited_inbound_steered() {
	local out before after
	p2p_topo
	bg_in "$CGa" "$(hns a)" python3 "$PSP2P" echo --port 20300 > "$TMPD/echo.out" 2>&1
	wait_line "$TMPD/echo.out" '^ready' "echo on host-a"
	expect_contains "$(cat "$TMPD/echo.out")" "tcp=$P2P_POOL:20300" "host-a's listen address"
	before=$(forwarded_by b)
	out=$(in_ns "$PEER" python3 "$PSP2P" knock --to $P2P_POOL:20300 --count 16)
	expect_eq "$out" "answered=16 of=16" "TCP connections from the site peer to the listen port"
	out=$(in_ns "$PEER" python3 "$PSP2P" knock --proto udp --to $P2P_POOL:20300 --count 16)
	expect_eq "$out" "answered=16 of=16" "UDP datagrams from the site peer to the listen port"
	after=$(forwarded_by b)
	# 32 flows by a layer-4 hash over two hosts: all on host-a has odds of 2^-32.
	expect_ge "$((after - before))" 1 "packets host-b steered to host-a"
	note "host-b steered $((after - before)) packets of 32 flows to host-a"
	expect_eq "$(in_ns "$(hns b)" ss -Hna sport = :20300 | wc -l)" 0 "sockets on host-b with port 20300"
}

# What binds and dials of a listen port get, socket by socket (README
# "Peer-to-peer applications"): P2P pools share the port as BSD does;
# without portslice the kernel refuses every listen-first case that lacks
# SO_REUSEPORT on both sockets.
t_bind_listen_orders() {
	local l d o out port=20400
	std_setup
	sed -i 's/^  - name: web$/  - name: web\n    p2p: true/' "$CONF"
	attach
	serve srv --tcp $SRV4:8080
	for o in listen-first bind-first; do
		for l in none addr both; do
			for d in addr port both; do
				# A port each: a tuple that ended is quarantined.
				port=$((port + 1))
				out=$(in_cg "$CG" "$NS" python3 "$PSP2P" bindcheck --port $port --to $SRV4:8080 \
					--listener $l --dialer $d --order $o)
				note "listener $l, dialer $d, $o: $out"
				expect_contains "$out" "lbind=ok" "$o $l/$d"
				expect_contains "$out" "listen=ok" "$o $l/$d"
				expect_contains "$out" "dbind=ok" "$o $l/$d"
				expect_contains "$out" "connect=ok" "$o $l/$d"
				expect_contains "$out" "again_connect=EADDRNOTAVAIL" "$o $l/$d: a second dial to the same peer"
				expect_contains "$out" "listen_local=$POOL4:$port" "$o $l/$d"
				expect_contains "$out" "dial_local=$POOL4:$port" "$o $l/$d"
			done
		done
		# A dialer that asks for neither option is refused, as BSD refuses it.
		port=$((port + 1))
		out=$(in_cg "$CG" "$NS" python3 "$PSP2P" bindcheck --port $port --to $SRV4:8080 \
			--listener none --dialer none --order $o)
		expect_contains "$out" "dbind=EADDRINUSE" "$o none/none"
	done
	# Outside the slice: refused on the pool address, untouched on the wildcard.
	out=$(in_cg "$CG" "$NS" python3 "$PSP2P" bindcheck --bind $POOL4 --port 30000 --to $SRV4:8080)
	expect_contains "$out" "lbind=EPERM" "bind(pool, port outside the slice)"
	out=$(in_cg "$CG" "$NS" python3 "$PSP2P" bindcheck --port 30000 --to $SRV4:8080 --listener both --dialer both)
	expect_contains "$out" "listen_local=0.0.0.0:30000" "bind(wildcard, port outside the slice)"
	# status says what the pool is.
	expect_eq "$("$PS" status --json | jq -c '.pools[0] | [.p2p, .reuse_delay_ms]')" "[true,15000]" "status: p2p and its default quarantine"
	# The kernel's view: the listener is on the pool address.
	bg_in "$CG" "$NS" python3 "$PSP2P" echo --port 20480 > "$TMPD/echo.out" 2>&1
	wait_line "$TMPD/echo.out" '^ready' "echo"
	expect_eq "$(in_ns "$NS" ss -Hltn sport = :20480 | awk '{ print $4 }')" "$POOL4:20480" "ss: the listener's address"
}

# A gap, shown: the kernel lets a second socket of the same uid listen on a
# P2P port once portslice set SO_REUSEPORT on the first, and no BPF hook
# can refuse listen() (README "Two listeners", docs/security.md).
t_gap_second_listener_shares_the_port() {
	local out
	std_setup
	sed -i 's/^  - name: web$/  - name: web\n    p2p: true/' "$CONF"
	attach
	out=$(in_cg "$CG" "$NS" python3 -c '
import errno, socket, subprocess
first = socket.socket()
first.bind(("0.0.0.0", 20600))
first.listen()
second = socket.socket()
second.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
try:
    second.bind(("0.0.0.0", 20600))
    second.listen()
    print("second=listening", second.getsockname()[0])
    # The kernel'"'"'s view, while both are open.
    print(len(subprocess.run(["ss", "-Hltn", "sport = :20600"], capture_output=True, text=True).stdout.splitlines()))
except OSError as e:
    print("second=" + errno.errorcode[e.errno])
')
	expect_eq "$out" "second=listening $POOL4
2" "a second listener on the P2P port, and ss's count of listeners on it"
}

# A listen port goes back to the slice when its listener closes (close()
# takes a listener to CLOSE with no TIME_WAIT and no state callback).
t_listener_close_gives_back_port() {
	std_setup
	sed -i 's/^  - name: web$/  - name: web\n    p2p: true/' "$CONF"
	attach
	in_cg "$CG" "$NS" python3 -c "
import socket
s = socket.socket()
s.bind(('0.0.0.0', 20500))
s.listen(1)
assert s.getsockname() == ('$POOL4', 20500), s.getsockname()
s.close()" || die "listen on the wildcard and close"
	wait_field web ports_bound 0 "ports bound after the listener closed"
	wait_field web ports_in_use 0 "ports in use after the listener closed"
}

# IPv6: a bind of :: to a port of an IPv6 P2P pool's slice moves to its
# address, and a dial from the port leaves from there.
t_ipv6_wildcard_moves() {
	local out
	std_setup
	sed -i 's/^  - name: web6$/  - name: web6\n    p2p: true/' "$CONF"
	attach
	serve srv --tcp "[$SRV6]:8080"
	out=$(in_cg "$CG" "$NS" python3 - "$POOL6" "$SRV6" <<-'PY'
	import socket, sys
	pool, srv = sys.argv[1], sys.argv[2]
	lsn = socket.socket(socket.AF_INET6)
	lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
	lsn.bind(("::", 20600))
	lsn.listen(1)
	d = socket.socket(socket.AF_INET6)
	d.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
	d.bind(("::", 20600))
	d.connect((srv, 8080))
	print(lsn.getsockname()[0], lsn.getsockname()[1], d.getsockname()[0], d.getsockname()[1])
	PY
	)
	expect_eq "$out" "$POOL6 20600 $POOL6 20600" "listener and dialer of [::]:20600"
	# An IPv4 wildcard bind of the same port number is not the IPv6 pool's.
	out=$(in_cg "$CG" "$NS" python3 -c "
import socket
s = socket.socket()
s.bind(('0.0.0.0', 20600))
print(s.getsockname()[0])")
	expect_eq "$out" 0.0.0.0 "IPv4 wildcard bind with only an IPv6 P2P pool"
}

# UDP: a connected socket of the listen port that closed leaves its tuple
# quarantined; the same dial again gets EADDRNOTAVAIL, another peer does not.
t_udp_quarantine() {
	local out
	std_setup
	sed -i 's/^  - name: web$/  - name: web\n    p2p: true/' "$CONF"
	attach
	out=$(in_cg "$CG" "$NS" python3 - "$SRV4" <<-'PY'
	import errno, socket, sys
	def dial(port):
	    s = socket.socket(type=socket.SOCK_DGRAM)
	    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	    s.bind(("0.0.0.0", 20700))
	    try:
	        s.connect((sys.argv[1], port))
	        return "ok"
	    except OSError as e:
	        return errno.errorcode[e.errno]
	    finally:
	        s.close()
	print(dial(8080), dial(8080), dial(8081))
	PY
	)
	expect_eq "$out" "ok EADDRNOTAVAIL ok" "UDP dials from the listen port: first, the same again, another peer"
	expect_eq "$(status_field web counters.udp.quarantined)" 1 "quarantined UDP dials"
}
