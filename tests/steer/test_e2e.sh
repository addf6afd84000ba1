# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Reply steering end to end: three hosts share the pool addresses, a router
# in front of them spreads replies over the three by ECMP (layer-4 hash), so
# about two replies in three land on a host that does not own their port.
# The XDP program on each host's uplink hands those to their owner (l2: same
# segment, new MACs; encap: IP-in-IP through the router, decapsulated at
# the owner). Every client socket must get its own echo back, no host may
# see another host's replies, and the counters must show the forwarding.
#
# Needs, besides the build: ethtool, clang (two small helper programs built
# at run time), tc, nsenter, jq, tcpdump.
#
#   origin (server) -- router ==ECMP==> host-a | host-b | host-c
#
# l2:    the router's br0 is the hosts' shared segment (198.18.10.0/24,
#        2001:db8:10::/64); underlay = the host's address on it.
# encap: one subnet per host (198.18.1N.0/24, 2001:db8:1N::/64, N = 1..3);
#        underlay = the host's address on it; the router carries the tunnels.

E2E_POOL4=198.18.0.10
E2E_POOL6=2001:db8::10
E2E_SRV4=198.18.1.1
E2E_SRV6=2001:db8:1::1
E2E_HOSTS="a b c"

# The pool's slices, one per host.
slice_lo() { case $1 in a) echo 20000 ;; b) echo 21000 ;; c) echo 22000 ;; esac; }
host_num() { case $1 in a) echo 1 ;; b) echo 2 ;; c) echo 3 ;; esac; }

# The namespace of host X (a, b, c).
hns() { echo "$TAG-host-$1"; }
hpin() { echo "/sys/fs/bpf/$TAG-host-$1"; }

# in_net NETNS CMD...: CMD in NETNS without `ip netns exec`'s private /sys
# (which hides /sys/fs/bpf, so pins made there would vanish with it).
in_net() {
	local ns=$1
	shift
	nsenter --net=/run/netns/"$ns" "$@"
}

# XDP_TX/REDIRECT into a veth is dropped unless the peer runs NAPI, which it
# does with an XDP program attached (kernel-facts.md): a 2-instruction
# XDP_PASS program, built here. (`ethtool -K PEER gro on` instead was
# measured on 6.18: the forwarded frames never reach the peer.)
xdp_pass_obj() {
	[ -f "$TMPD/xdp_pass.o" ] && return 0
	printf '%s\n' \
		'__attribute__((section("xdp"), used)) int xdp_pass(void *ctx) { return 2; }' \
		'char _license[] __attribute__((section("license"), used)) = "GPL";' > "$TMPD/xdp_pass.c"
	"${CLANG:-clang}" -O2 -target bpf -c "$TMPD/xdp_pass.c" -o "$TMPD/xdp_pass.o" ||
		die "cannot build the XDP pass program (clang)"
}

napi_on() {
	xdp_pass_obj
	ip -n "$1" link set dev "$2" xdpdrv obj "$TMPD/xdp_pass.o" sec xdp ||
		die "cannot attach the XDP pass program to $2 in $1"
}

# decap_on NETNS DEV: the owner's side of encap mode. This kernel (like
# many) has no ipip/sit/ip6tnl devices (CONFIG_NET_IPIP, CONFIG_IPV6_SIT,
# CONFIG_IPV6_TUNNEL unset), so a tc ingress program strips the outer
# header of IP-in-IP packets (IPv4 or IPv6 outer, protocol 4 or 41) and
# hands the inner packet to the stack as if it had arrived on DEV. Only
# hosts' underlay addresses get IP-in-IP in these namespaces. (Should the
# XDP program decapsulate by itself, this program only sees plain packets.)
decap_on() {
	if [ ! -f "$TMPD/decap.o" ]; then
		cat > "$TMPD/decap.c" <<-'C'
		/* No headers: helper ids and flags are uapi constants. */
		static long (*load)(void *skb, unsigned off, void *to, unsigned len) = (void *)26;
		static long (*store)(void *skb, unsigned off, const void *from, unsigned len,
				     unsigned long long flags) = (void *)9;
		static long (*adjust_room)(void *skb, int diff, unsigned mode,
					   unsigned long long flags) = (void *)50;
		#define ADJ_ROOM_MAC 1
		#define DECAP_L3_IPV4 (1ULL << 7)
		#define DECAP_L3_IPV6 (1ULL << 8)

		__attribute__((section("tc"), used)) int decap(void *skb)
		{
			unsigned char b[2], proto;
			unsigned short eth_proto;
			int outer;

			if (load(skb, 12, b, 2))
				return 0;
			if (b[0] == 0x08 && b[1] == 0x00) {        /* IPv4, 20-byte header */
				if (load(skb, 14, b, 1) || b[0] != 0x45 || load(skb, 23, &proto, 1))
					return 0;
				outer = 20;
			} else if (b[0] == 0x86 && b[1] == 0xdd) { /* IPv6 */
				if (load(skb, 20, &proto, 1))
					return 0;
				outer = 40;
			} else {
				return 0;
			}
			if (proto != 4 && proto != 41)
				return 0;
			if (adjust_room(skb, -outer, ADJ_ROOM_MAC,
					proto == 4 ? DECAP_L3_IPV4 : DECAP_L3_IPV6))
				return 2; /* TC_ACT_SHOT */
			eth_proto = proto == 4 ? 0x0008 : 0xdd86; /* ETH_P_IP(V6), big endian */
			store(skb, 12, &eth_proto, 2, 0);
			return 0; /* TC_ACT_OK */
		}
		char _license[] __attribute__((section("license"), used)) = "GPL";
		C
		"${CLANG:-clang}" -O2 -target bpf -c "$TMPD/decap.c" -o "$TMPD/decap.o" ||
			die "cannot build the decapsulation program (clang)"
	fi
	tc -n "$1" qdisc add dev "$2" clsact &&
		tc -n "$1" filter add dev "$2" ingress bpf direct-action obj "$TMPD/decap.o" sec tc ||
		die "cannot attach the decapsulation program to $2 in $1"
}

# v6 addresses without DAD: usable at once.
addr6() { ip -n "$1" -6 addr add "$2" dev "$3" nodad; }

# topo MODE FAMILY: the world above, portslice and steering attached on
# every host, the server running. Sets POOL, SRV, SRVP (server for --to),
# UL4_x, UL6_x (underlay addresses of host x), CGx (cgroup of host x), CONF.
topo() {
	topo_net "$1" "$2"
	write_conf "$1" "$2"
	for h in $E2E_HOSTS; do attach_host $h; done
	wait_neigh "$2"
	start_server
}

# topo_net MODE FAMILY: namespaces, links, addresses, routes; no portslice.
# E2E_SEGMENT=1: encap mode on the l2 layout (the hosts share br0 and reach
# each other's underlay addresses on-link), as hosts of one subnet that
# encapsulate would.
topo_net() {
	local mode=$1 fam=$2 h n ns nh4 nh6 ul gw4 gw6 o t seg=$1
	[ -n "${E2E_SEGMENT:-}" ] && seg=l2
	for t in ethtool "${CLANG:-clang}" tc nsenter jq tcpdump; do
		command -v "$t" >/dev/null || die "the steering tests need $t (install it: make deps)"
	done
	ensure_bpffs
	[ -x "$PS" ] || die "no $PS: run make"
	ORIGIN=$(ns_create origin)
	ROUTER=$(ns_create router)
	for h in $E2E_HOSTS; do ns_create "host-$h" >/dev/null; done

	# origin <-> router
	ip link add o0 netns "$ORIGIN" type veth peer name r-o netns "$ROUTER" || die "veth origin"
	ip -n "$ORIGIN" addr add $E2E_SRV4/32 dev lo
	addr6 "$ORIGIN" $E2E_SRV6/128 lo
	ip -n "$ORIGIN" addr add 198.18.9.2/24 dev o0
	addr6 "$ORIGIN" 2001:db8:9::2/64 o0
	# A packet the XDP program sends on (XDP_TX/REDIRECT) leaves as raw
	# bytes: a checksum the sender left to "hardware" (CHECKSUM_PARTIAL,
	# which veth keeps end to end) is never filled in, and the owner drops
	# the reply as corrupt. The server's link computes its checksums itself,
	# as a real NIC puts complete ones on the wire.
	in_ns "$ORIGIN" ethtool -K o0 tx off >/dev/null 2>&1 ||
		die "cannot turn checksum offload off on the server's link (ethtool -K o0 tx off; install ethtool)"
	ip -n "$ORIGIN" link set o0 up
	ip -n "$ORIGIN" route add default via 198.18.9.1
	ip -n "$ORIGIN" -6 route add default via 2001:db8:9::1
	ip -n "$ROUTER" addr add 198.18.9.1/24 dev r-o
	addr6 "$ROUTER" 2001:db8:9::1/64 r-o
	ip -n "$ROUTER" link set r-o up
	ip -n "$ROUTER" route add $E2E_SRV4/32 via 198.18.9.2
	ip -n "$ROUTER" -6 route add $E2E_SRV6/128 via 2001:db8:9::2
	in_ns "$ROUTER" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1 ||
		die "router sysctls"

	if [ "$seg" = l2 ]; then
		ip -n "$ROUTER" link add br0 type bridge
		ip -n "$ROUTER" addr add 198.18.10.254/24 dev br0
		addr6 "$ROUTER" 2001:db8:10::fe/64 br0
		ip -n "$ROUTER" link set br0 up
	fi
	nh4=() nh6=()
	for h in $E2E_HOSTS; do
		ns=$(hns $h) n=$(host_num $h)
		ip link add eth0 netns "$ns" type veth peer name r-$h netns "$ROUTER" || die "veth host-$h"
		if [ "$seg" = l2 ]; then
			ip -n "$ROUTER" link set r-$h master br0
			ip -n "$ns" addr add 198.18.10.$n/24 dev eth0
			addr6 "$ns" 2001:db8:10::$n/64 eth0
			gw4=198.18.10.254 gw6=2001:db8:10::fe
			nh4+=(nexthop via 198.18.10.$n dev br0)
			nh6+=(nexthop via 2001:db8:10::$n dev br0)
			eval "UL4_$h=198.18.10.$n UL6_$h=2001:db8:10::$n"
		else
			ip -n "$ROUTER" addr add 198.18.1$n.254/24 dev r-$h
			addr6 "$ROUTER" 2001:db8:1$n::fe/64 r-$h
			ip -n "$ns" addr add 198.18.1$n.1/24 dev eth0
			addr6 "$ns" 2001:db8:1$n::1/64 eth0
			gw4=198.18.1$n.254 gw6=2001:db8:1$n::fe
			nh4+=(nexthop via 198.18.1$n.1 dev r-$h)
			nh6+=(nexthop via 2001:db8:1$n::1 dev r-$h)
			eval "UL4_$h=198.18.1$n.1 UL6_$h=2001:db8:1$n::1"
		fi
		# The router side carries what the hosts' XDP programs send back.
		napi_on "$ROUTER" r-$h
		ip -n "$ROUTER" link set r-$h up
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route add default via $gw4 || die "host-$h default route"
		ip -n "$ns" -6 route add default via $gw6 || die "host-$h default route (IPv6)"
		ip -n "$ns" addr add $E2E_POOL4/32 dev lo
		addr6 "$ns" $E2E_POOL6/128 lo
		# The XDP program looks the owner up as a forwarded packet from
		# eth0: forwarding must be on there. Decapsulated replies come in
		# on the tunnel device, not on the route back to the server.
		in_ns "$ns" sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1 \
			net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 ||
			die "host-$h sysctls"
		[ "$mode" = encap ] && decap_on "$ns" eth0
	done
	ip -n "$ROUTER" route add $E2E_POOL4/32 "${nh4[@]}" || die "ECMP route (IPv4)"
	ip -n "$ROUTER" -6 route add $E2E_POOL6/128 "${nh6[@]}" || die "ECMP route (IPv6)"

	if [ "$fam" = 4 ]; then
		POOL=$E2E_POOL4 POOLP=$E2E_POOL4 SRV=$E2E_SRV4 SRVP=$E2E_SRV4
	else
		POOL=$E2E_POOL6 POOLP="[$E2E_POOL6]" SRV=$E2E_SRV6 SRVP="[$E2E_SRV6]"
	fi
	# Neighbours of the underlay next hops, kept resolved by the kernel
	# (managed): the XDP program finds them, it never resolves them.
	for h in $E2E_HOSTS; do
		ns=$(hns $h)
		if [ "$seg" = l2 ]; then
			for o in $E2E_HOSTS; do
				[ $o = $h ] && continue
				eval "ip -n \$ns neigh replace \$UL${fam}_$o dev eth0 managed" ||
					die "managed neighbour on host-$h"
			done
		else
			n=$(host_num $h)
			if [ "$fam" = 4 ]; then
				ip -n "$ns" neigh replace 198.18.1$n.254 dev eth0 managed
			else
				ip -n "$ns" neigh replace 2001:db8:1$n::fe dev eth0 managed
			fi || die "managed neighbour on host-$h"
		fi
	done
}

# write_conf MODE FAMILY: the fleet config, $CONF: both pools, the three
# slices, the hosts' underlay addresses of FAMILY, the steering mode.
write_conf() {
	local mode=$1 fam=$2 h ul
	CONF=$TMPD/fleet.yaml
	{
		echo "pools:"
		echo "  - name: web"
		echo "    address: $E2E_POOL4"
		echo "    slices: {host-a: 20000-20999, host-b: 21000-21999, host-c: 22000-22999}"
		echo "  - name: web6"
		echo "    address: $E2E_POOL6"
		echo "    slices: {host-a: 20000-20999, host-b: 21000-21999, host-c: 22000-22999}"
		echo "hosts:"
		for h in $E2E_HOSTS; do
			eval "ul=\$UL${fam}_$h"
			echo "  host-$h: {address: $ul}"
		done
		echo "steering: {mode: $mode}"
	} > "$CONF"
}

# attach_host X: portslice on host X's test cgroup, steering on its eth0.
attach_host() {
	local h=$1 cg
	eval "CG$h=\$(cg_create host-$h)"
	eval "cg=\$CG$h"
	PORTSLICE_PIN_DIR=$(hpin $h) "$PS" attach --cgroup "$cg" --config "$CONF" --host host-$h >/dev/null ||
		die "portslice attach (host-$h)"
	steer_attach $h
}

start_server() {
	bg ip netns exec "$ORIGIN" "$PSNET" serve --workers 2 --tcp "$SRVP:8080-8083" --udp "$SRVP:8080-8083" \
		> "$TMPD/srv.out" 2>&1
	wait_ready "$TMPD/srv.out"
}

# wait_neigh FAMILY: until every managed neighbour of the hosts is resolved.
wait_neigh() {
	local i h ok
	for i in $(polls 100); do
		ok=1
		for h in $E2E_HOSTS; do
			ip -n "$(hns $h)" -$1 neigh show dev eth0 | grep managed |
				grep -qvE 'REACHABLE|STALE|DELAY|PROBE' && ok=0
		done
		[ $ok = 1 ] && return 0
		sleep 0.05
	done
	die "managed neighbours not resolved: $(for h in $E2E_HOSTS; do ip -n "$(hns $h)" neigh show dev eth0; done)"
}

steer_attach() {
	local h=$1
	PORTSLICE_PIN_DIR=$(hpin $h) in_net "$(hns $h)" "$PS" steer attach --dev eth0 --config "$CONF" \
		--host host-$h >/dev/null || die "portslice steer attach (host-$h)"
	ip -n "$(hns $h)" link show dev eth0 | grep -q 'xdp' || die "no XDP program on host-$h eth0"
}

# steer_json X: `portslice status --json` of host X. A read-only command, so
# it is tried again when it fails once (a concurrent `make` relinking the
# binary makes exec fail for a moment).
steer_json() {
	local i
	for i in 1 2 3; do
		PORTSLICE_PIN_DIR=$(hpin $1) in_net "$(hns $1)" "$PS" status --json 2>/dev/null && return 0
		sleep 0.3
	done
	return 1
}

# load_status X...: the status of each host X into ST_X, in this shell (a
# die inside $(...) would only end the subshell).
load_status() {
	local h st
	for h in "$@"; do
		st=$(steer_json $h) || die "portslice status of host-$h failed"
		printf '%s' "$st" | jq -e '.steering.counters.forwarded | numbers' >/dev/null ||
			die "status of host-$h has no steering counters: $st"
		eval "ST_$h=\$st"
	done
}

# steer_counter X FIELD: a steering counter of host X, from load_status.
steer_counter() {
	local st
	eval "st=\$ST_$1"
	printf '%s' "$st" | jq -r ".steering.counters.$2 // \"missing-$2\""
}

# steer_fwd_to X Y: replies host X forwarded to host Y, from load_status.
steer_fwd_to() {
	local st
	eval "st=\$ST_$1"
	printf '%s' "$st" | jq -r ".steering.forwarded_to[\"host-$2\"] // \"missing-host-$2\""
}

# steer_drops X: the sum of host X's dropped_* counters, from load_status.
steer_drops() {
	local st
	eval "st=\$ST_$1"
	printf '%s' "$st" | jq '[.steering.counters | to_entries[] | select(.key | startswith("dropped_")) | .value] | add'
}

# kernel_stat X NAME: a counter of /proc/net/snmp or snmp6 in host X's netns
# (TcpOutRsts, UdpNoPorts, Udp6NoPorts, IcmpOutDestUnreachs, ...).
kernel_stat() {
	in_ns "$(hns $1)" cat /proc/net/snmp /proc/net/snmp6 | awk -v want="$2" '
		NF == 2 && $1 == want { v = $2 }
		/^(Ip|Icmp|IcmpMsg|Tcp|Udp|UdpLite|IpExt|TcpExt): / {
			if (!($1 in hdr)) { hdr[$1] = $0; next }
			n = split(hdr[$1], names); split($0, vals)
			p = substr($1, 1, length($1) - 1)
			for (i = 2; i <= n; i++) if (p names[i] == want) v = vals[i]
		}
		END { print v + 0 }'
}

# clients X TCP UDP [ARGS]: start TCP and UDP echo clients in host X's
# cgroup, in the background, each kind split over 2 processes.
clients() {
	local h=$1 tcp=$2 udp=$3 i ns cg p n
	shift 3
	ns=$(hns $h)
	eval "cg=\$CG$h"
	# sh execs ip, which execs psnet: the pid bg records is psnet's, so
	# cleanup ends the clients themselves, not a shell above them.
	for i in 1 2; do
		for p in tcp udp; do
			eval "n=\$$p"
			bg sh -c 'echo $$ > "$0/cgroup.procs" && exec ip netns exec "$@"' "$cg" "$ns" \
				"$PSNET" connect --proto $p --to "$SRVP:8080-8083" --count $((n / 2)) --echo "$@" \
				> "$TMPD/c-$h-$p$i.out" 2> "$TMPD/c-$h-$p$i.err"
			eval "CPID_${h}_$p$i=\$BG_PID"
		done
	done
}

# clients_wait X: wait for host X's clients (in this shell: they are its
# children); sets RES to "OK FAILED", the number of sockets of each.
clients_wait() {
	local h=$1 k pid ok=0 bad=0
	for k in tcp1 tcp2 udp1 udp2; do
		eval "pid=\$CPID_${h}_$k"
		wait "$pid"
		ok=$((ok + $(grep -c 'result=ok' "$TMPD/c-$h-$k.out")))
		bad=$((bad + $(grep -c 'result=' "$TMPD/c-$h-$k.out") - $(grep -c 'result=ok' "$TMPD/c-$h-$k.out")))
	done
	[ "$bad" = 0 ] || note "host-$h failed flows: $(grep -h 'result=' "$TMPD"/c-$h-*.out | grep -v 'result=ok' | head -n 5)"
	RES="$ok $bad"
}

# flows_report: why flows may have failed, from the kernels' counters: TCP
# resets, retransmissions and listen-queue drops on the server and every
# host, UDP errors, and the packets the veth links dropped.
flows_report() {
	local ns stats="TcpOutRsts TcpRetransSegs TcpExtTCPTimeouts TcpExtListenOverflows TcpExtListenDrops TcpExtTCPAbortOnData TcpExtTCPAbortOnClose TcpExtTCPAbortOnMemory TcpExtTCPAbortOnTimeout TcpExtTCPAbortOnLinger TcpExtTCPAbortFailed TcpExtTW TcpExtTCPTimeWaitOverflow TcpExtTCPChallengeACK UdpRcvbufErrors UdpNoPorts"
	for ns in "$ORIGIN" $(for h in $E2E_HOSTS; do hns $h; done) "$ROUTER"; do
		note "${ns#"$TAG"-}: $(ip netns exec "$ns" nstat -asz $stats 2>/dev/null | awk 'NR > 1 && $2 != 0 { printf "%s=%s ", $1, $2 }')"
		note "${ns#"$TAG"-} links: $(ip -n "$ns" -s -j link show | jq -r '.[] | select(.ifname != "lo") |
			"\(.ifname) rx_dropped=\(.stats64.rx.dropped) tx_dropped=\(.stats64.tx.dropped)"' | tr '\n' ' ')"
	done
}

# refusals_watch X [TCPDUMP-OPTION...]: record what host X's kernel refuses
# from its pool address: TCP resets and ICMP/ICMPv6 port unreachables, as it
# sends them out of eth0. A reply for another host's port that reached this
# host's stack comes back as one of these, with that port as its source.
refusals_watch() {
	local h=$1 filter
	shift
	if [ "$POOL" = "$E2E_POOL4" ]; then
		filter="src host $POOL and ((tcp and tcp[tcpflags] & tcp-rst != 0) or (icmp and icmp[icmptype] == icmp-unreach))"
	else
		# libpcap has no tcp[] or icmp6[] over IPv6: the fixed header is 40 bytes.
		filter="src host $POOL and ((ip6[6] == 6 and ip6[53] & 4 != 0) or (ip6[6] == 58 and ip6[40] == 1))"
	fi
	bg ip netns exec "$(hns $h)" tcpdump -i eth0 -nn -l -U "$@" "$filter" > "$TMPD/refused-$h.txt" 2> "$TMPD/refused-$h.err"
	wait_line "$TMPD/refused-$h.err" 'listening on' "tcpdump did not start on host-$h"
}

# refusals_check X: host X refused no flow of another host's port. Its own
# flows may see a reset when the network loses enough packets for TCP to
# give up (an emulated CPU drops thousands at the veths): noted, not failed.
refusals_check() {
	local h=$1 lo own foreign
	lo=$(slice_lo $h)
	read -r own foreign < <(awk -v lo=$lo -v hi=$((lo + 999)) '
		/ udp port [0-9]+/ { match($0, / udp port [0-9]+/); port = substr($0, RSTART + 10, RLENGTH - 10) + 0 }
		/ Flags \[R/ { split($3, a, "."); port = a[length(a)] + 0 }
		port == "" { next }
		{ if (port >= lo && port <= hi) own++; else { foreign++; print > "/dev/stderr" }; port = "" }
		END { print own + 0, foreign + 0 }' "$TMPD/refused-$h.txt" 2> "$TMPD/refused-$h.foreign")
	[ "$own" = 0 ] || note "host-$h refused $own of its own flows (resets or port unreachables): TcpOutRsts=$(kernel_stat $h TcpOutRsts)"
	expect_eq "$foreign" 0 "host-$h resets and port unreachables for other hosts' ports: $(head -n 5 "$TMPD/refused-$h.foreign")"
}

# check_ports X: every client socket of host X left from the pool address
# with a port of its slice.
check_ports() {
	local h=$1 lo
	lo=$(slice_lo $h)
	cat "$TMPD"/c-$h-*.out | awk -v addr="$POOL" -v lo=$lo -v hi=$((lo + 999)) '
		/result=ok/ {
			for (i = 1; i <= NF; i++) if ($i ~ /^local=/) l = substr($i, 7)
			n = split(l, a, ":"); port = a[n]
			host = substr(l, 1, length(l) - length(port) - 1); gsub(/[][]/, "", host)
			if (host != addr || port + 0 < lo || port + 0 > hi) bad++
		}
		END { exit bad > 0 }' || die "host-$h sockets outside $POOL:$lo-$((lo + 999))"
}

# The main scenario: all three hosts at once, every echo must come back.
steer_all() {
	local mode=$1 fam=$2 h own fwd seen drop tot_own=0 tot_fwd=0 tot_drop=0 tot_npool=0 o n
	local tcp=${E2E_TCP:-2000} udp=${E2E_UDP:-500}
	topo "$mode" "$fam"
	for h in $E2E_HOSTS; do refusals_watch $h; done
	for h in $E2E_HOSTS; do clients $h $tcp $udp; done
	for h in $E2E_HOSTS; do
		clients_wait $h
		[ "$RES" = "$((tcp + udp)) 0" ] || flows_report
		expect_eq "$RES" "$((tcp + udp)) 0" "host-$h echo clients (ok failed)"
		check_ports $h
	done
	sleep 0.5 # the last FINs
	load_status $E2E_HOSTS
	for h in $E2E_HOSTS; do
		own=$(steer_counter $h passed_own)
		fwd=$(steer_counter $h forwarded)
		drop=$(steer_drops $h)
		note "host-$h: passed_own=$own forwarded=$fwd dropped=$drop" \
			"(to host-a $(steer_fwd_to $h a), host-b $(steer_fwd_to $h b), host-c $(steer_fwd_to $h c))"
		expect_eq "$drop" 0 "host-$h dropped replies"
		expect_ge "$fwd" 1 "host-$h forwarded replies"
		# A host sends the others' replies to both of them, never to itself.
		for o in $E2E_HOSTS; do
			n=$(steer_fwd_to $h $o)
			if [ $o = $h ]; then
				expect_eq "$n" 0 "host-$h replies forwarded to itself"
			else
				expect_ge "$n" 1 "host-$h replies forwarded to host-$o"
			fi
		done
		# Nothing of another host reached this host's stack: it refused none
		# of their flows.
		refusals_check $h
		tot_own=$((tot_own + own)) tot_fwd=$((tot_fwd + fwd)) tot_drop=$((tot_drop + drop))
		tot_npool=$((tot_npool + $(steer_counter $h passed_not_pool)))
	done
	# Replies that came from the router: each one is counted once where it
	# landed (passed_own, forwarded or dropped_*), and a forwarded one once
	# more by its owner, as passed_own (l2; encap when the XDP program
	# decapsulates) or as passed_not_pool (encap: IP-in-IP to the owner's
	# underlay, decapsulated after XDP). So own + not_pool + dropped counts
	# each once (not_pool also holds a few dozen ARP/ND packets: noise).
	seen=$((tot_own + tot_npool + tot_drop))
	# With three hosts and a layer-4 hash, about 2 in 3 land on another host.
	note "replies from the router: $seen, forwarded between hosts: $tot_fwd ($((tot_fwd * 100 / seen))%)"
	expect_ge $((tot_fwd * 100 / seen)) 40 "share of replies forwarded (%)"
	expect_le $((tot_fwd * 100 / seen)) 90 "share of replies forwarded (%)"
}

t_l2_ipv4() { steer_all l2 4; }
t_l2_ipv6() { steer_all l2 6; }
t_encap_ipv4() { steer_all encap 4; }
t_encap_ipv6() { steer_all encap 6; }

# Host-c cannot be reached by its peers any more (its underlay route is
# withdrawn on host-a and host-b), but the router keeps sending it a third
# of all replies and host-c's clients keep connecting. Replies for host-c's
# slice that land on host-a or host-b must be dropped and counted there:
# passed up, their kernel would reset host-c's connections or answer port
# unreachable. host-a's and host-b's own traffic is untouched (host-c still
# reaches them), and host-c only keeps the flows whose replies land on it.
owner_unreachable() {
	local mode=$1 fam=$2 h ok bad drops=0 n plen=32
	local tcp=${E2E_TCP_FAIL:-300} udp=${E2E_UDP_FAIL:-100}
	topo "$mode" "$fam"
	[ "$fam" = 6 ] && plen=128
	for h in a b; do
		eval "ip -n \$(hns $h) -$fam route add unreachable \$UL${fam}_c/$plen" ||
			die "cannot withdraw host-c's underlay route on host-$h"
	done
	clients a $tcp $udp
	clients b $tcp $udp
	# Flows that lose their replies fail fast: 0.5 s, not the default 5 s.
	clients c 40 40 --connect-timeout 0.5 --timeout 0.5 --udp-tries 1 --allow-fail
	for h in a b; do
		clients_wait $h
		expect_eq "$RES" "$((tcp + udp)) 0" "host-$h echo clients (ok failed)"
		check_ports $h
	done
	clients_wait c
	ok=${RES% *} bad=${RES#* }
	note "host-c: $ok of 80 flows got their echo (the replies that landed on host-c)"
	expect_ge "$ok" 4 "host-c flows whose replies landed on host-c"
	expect_ge "$bad" 4 "host-c flows whose replies landed on host-a or host-b"
	check_ports c
	sleep 0.5
	load_status $E2E_HOSTS
	for h in a b; do
		n=$(steer_counter $h dropped_no_route)
		note "host-$h: dropped_no_route=$n forwarded=$(steer_counter $h forwarded)"
		expect_ge "$n" 1 "host-$h replies for host-c dropped (dropped_no_route)"
		expect_eq "$(steer_fwd_to $h c)" 0 "host-$h replies forwarded to host-c"
		expect_ge "$(steer_fwd_to $h "$([ $h = a ] && echo b || echo a)")" 1 "host-$h replies forwarded to its live peer"
		# Nothing of host-c's reached host-a's or host-b's stack.
		expect_eq "$(kernel_stat $h TcpOutRsts)" 0 "host-$h TCP resets sent"
		expect_eq "$(kernel_stat $h UdpNoPorts)$(kernel_stat $h Udp6NoPorts)" 00 "host-$h UDP datagrams to no socket"
		drops=$((drops + n))
	done
	# Every failed flow lost at least its first reply at host-a or host-b.
	expect_ge "$drops" "$bad" "replies for host-c dropped at its peers"
	# host-c still hands host-a's and host-b's replies over.
	expect_ge "$(steer_fwd_to c a)" 1 "host-c replies forwarded to host-a"
	expect_ge "$(steer_fwd_to c b)" 1 "host-c replies forwarded to host-b"
	for h in $E2E_HOSTS; do
		expect_eq "$(steer_counter $h dropped_no_owner)" 0 "host-$h dropped_no_owner"
	done
	expect_eq "$(steer_counter c dropped_no_route)" 0 "host-c dropped_no_route"
}

t_l2_ipv4_owner_unreachable() { owner_unreachable l2 4; }
t_encap_ipv6_owner_unreachable() { owner_unreachable encap 6; }

# Host-c goes away the usual way: its link to the router goes down, the
# router's ECMP route stops choosing it, and host-a and host-b carry all
# replies, handing each other theirs; nothing is sent towards host-c.
t_encap_ipv4_owner_link_down() {
	local h o=b tcp=600 udp=200
	topo encap 4
	ip -n "$ROUTER" link set r-c down
	ip -n "$ROUTER" route show $E2E_POOL4 | grep -q 'r-c.*dead' ||
		die "the router still uses host-c: $(ip -n "$ROUTER" route show $E2E_POOL4)"
	clients a $tcp $udp
	clients b $tcp $udp
	for h in a b; do
		clients_wait $h
		expect_eq "$RES" "$((tcp + udp)) 0" "host-$h echo clients (ok failed)"
		check_ports $h
	done
	sleep 0.5
	load_status a b
	for h in a b; do
		note "host-$h: passed_own=$(steer_counter $h passed_own) forwarded=$(steer_counter $h forwarded)"
		expect_eq "$(steer_drops $h)" 0 "host-$h dropped replies"
		expect_eq "$(steer_fwd_to $h c)" 0 "host-$h replies forwarded to host-c"
		expect_ge "$(steer_fwd_to $h $o)" 1 "host-$h replies forwarded to host-$o"
		o=a
	done
}

# ---- loops: a packet is steered at most once ------------------------------

# kernel_xdp X NAME: the kernel's own XDP counter NAME of host X's eth0
# (xdp_tx, xdp_redirect, xdp_tx_errors, ...), summed over its queues, as
# `ethtool -S` shows it: what the driver did, whatever portslice counted.
kernel_xdp() {
	in_ns "$(hns $1)" ethtool -S eth0 | awk -v want="$2" '
		{ sub(":", "", $1) } $1 ~ "^rx_queue_[0-9]+_" want "$" { s += $2 } END { print s + 0 }'
}

# kernel_sent X...: frames the XDP programs of hosts X... sent on
# (XDP_TX and XDP_REDIRECT), per the kernel.
kernel_sent() {
	local h n=0
	for h in "$@"; do
		n=$((n + $(kernel_xdp $h xdp_tx) + $(kernel_xdp $h xdp_redirect)))
	done
	echo $n
}

# send_ports FIRST COUNT: COUNT datagrams from the origin to the pool
# address, to ports FIRST, FIRST+1, ...: replies for whoever owns them.
send_ports() {
	local p
	for p in $(seq "$1" $(($1 + $2 - 1))); do
		in_ns "$ORIGIN" "$PSNET" sendto --to "$POOLP:$p" --payload loop >/dev/null ||
			die "psnet sendto $POOLP:$p"
	done
}

# pool_verdicts X...: replies for pool addresses hosts X... have judged
# (every counter but passed_not_pool), from load_status.
pool_verdicts() {
	local h st n=0
	for h in "$@"; do
		eval "st=\$ST_$h"
		n=$((n + $(printf '%s' "$st" | jq '[.steering.counters | to_entries[] |
			select(.key != "passed_not_pool") | .value] | add')))
	done
	echo $n
}

# settle N X...: until hosts X... have judged at least N replies, then a
# second more, so that a loop, if any, shows in the counters; leaves the
# statuses in ST_X. Nothing is asserted about time.
settle() {
	local want=$1 i
	shift
	for i in $(polls 100); do
		load_status "$@"
		[ "$(pool_verdicts "$@")" -ge "$want" ] && break
		sleep 0.05
	done
	sleep 1
	load_status "$@"
}

# fwd_watch X: record the frames host X's XDP program sends out of eth0,
# as they come in on the router's side (r-X), one line each.
fwd_watch() {
	bg ip netns exec "$ROUTER" tcpdump -i r-$1 -Q in -nn -l -U -c 20000 "$2" \
		> "$TMPD/fwd-$1.txt" 2> "$TMPD/fwd-$1.err"
	eval "FWD_PID_$1=\$BG_PID"
	wait_line "$TMPD/fwd-$1.err" 'listening on' "tcpdump did not start on r-$1"
}

# fwd_stop X...: stop the watches of hosts X... (the pids this test started).
fwd_stop() {
	local h pid
	for h in "$@"; do
		eval "pid=\$FWD_PID_$h"
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
}

# most_sends X...: the most times one pool port appears in the frames the
# watches of hosts X... recorded (decoded inside IP-in-IP too): 1 when each
# reply was sent on at most once.
most_sends() {
	local h
	for h in "$@"; do cat "$TMPD/fwd-$h.txt"; done |
		grep -oE "$(printf '%s' "$POOL" | sed 's/\./\\./g')\.[0-9]+[: ]" | sort | uniq -c |
		awk '$1 > m { m = $1 } END { print m + 0 }'
}

# Host-c dies: its link goes down, and the switch (the router's br0) loses
# its MAC, so it floods every frame addressed to host-c to host-a and
# host-b. First the router still sends host-c its share of the replies
# (the health check has not noticed yet), then it takes host-c out of its
# ECMP route. The origin sends datagrams to host-c's ports all along. Each
# must be sent on by a survivor at most once: never again by the other
# survivor that gets the flooded copy, whether it came from the router or
# from its peer. Measured from portslice's counters, from the kernel's XDP
# counters and from the frames on the wire.
host_down() {
	local mode=$1 fam=$2 n1=30 n2=30 sent fwd kfwd most cmac h i
	E2E_SEGMENT=1 topo_net "$mode" "$fam"
	write_conf "$mode" "$fam"
	for h in $E2E_HOSTS; do attach_host $h; done
	wait_neigh "$fam"
	# The router has been sending every host replies: it knows their MACs.
	for h in $E2E_HOSTS; do
		eval "ip -n \"\$ROUTER\" neigh replace \$UL${fam}_$h dev br0 managed" || die "router neighbour of host-$h"
	done
	for i in $(polls 100); do
		[ "$(ip -n "$ROUTER" -$fam neigh show dev br0 | grep -cE 'REACHABLE|STALE|DELAY|PROBE')" -ge 3 ] && break
		sleep 0.05
	done
	cmac=$(ip -n "$(hns c)" -j link show eth0 | jq -r '.[0].address')
	for h in a b; do fwd_watch $h "ether dst $cmac"; done

	ip -n "$ROUTER" link set r-c down
	send_ports 22000 $n1
	if [ "$fam" = 4 ]; then
		ip -n "$ROUTER" route replace $E2E_POOL4/32 nexthop via $UL4_a dev br0 nexthop via $UL4_b dev br0
	else
		ip -n "$ROUTER" -6 route replace $E2E_POOL6/128 nexthop via $UL6_a dev br0 nexthop via $UL6_b dev br0
	fi || die "cannot take host-c out of the ECMP route"
	send_ports 22500 $n2
	sent=$((n1 + n2))
	settle $sent a b
	fwd_stop a b

	fwd=$(($(steer_counter a forwarded) + $(steer_counter b forwarded)))
	kfwd=$(kernel_sent a b)
	most=$(most_sends a b)
	note "sent $sent replies for host-c's ports: forwarded $fwd (kernel: $kfwd XDP_TX/REDIRECT)," \
		"at most $most times each; host-a: $(steer_counter a dropped_not_for_us) not for it," \
		"host-b: $(steer_counter b dropped_not_for_us) not for it"
	expect_le "$fwd" "$sent" "replies forwarded by host-a and host-b (portslice)"
	expect_le "$kfwd" "$sent" "frames host-a and host-b sent on (the kernel's XDP counters)"
	expect_le "$most" 1 "times one reply was sent towards host-c"
	# The flooded copies reached the other survivor, which did not steer them.
	expect_ge "$(($(steer_counter a dropped_not_for_us) + $(steer_counter b dropped_not_for_us)))" 1 \
		"flooded replies dropped as not addressed to host-a or host-b"
	for h in a b; do
		expect_eq "$(kernel_xdp $h xdp_tx_errors)" 0 "host-$h XDP_TX errors (kernel)"
		expect_eq "$(kernel_stat $h UdpNoPorts)$(kernel_stat $h Udp6NoPorts)" 00 "host-$h UDP datagrams to no socket"
	done
}

t_l2_ipv4_host_down() { host_down l2 4; }
t_l2_ipv6_host_down() { host_down l2 6; }
t_encap_ipv4_host_down() { host_down encap 4; }
t_encap_ipv6_host_down() { host_down encap 6; }

# Two hosts disagree about who owns a range of ports, as while a config
# change rolls out: host-a still thinks host-b owns 21000-21099, host-b
# already thinks host-a does. A reply for one of those ports is steered by
# whichever host gets it first and dropped by the other; it never goes
# back and forth. Neither passes it up to a stack that would refuse it.
owner_disagreement() {
	local mode=$1 fam=$2 n=60 h fwd kfwd most ul
	topo_net "$mode" "$fam"
	# The hosts know each other (neighbour entries) when steering starts.
	wait_neigh "$fam"
	write_conf "$mode" "$fam"
	for h in a c; do attach_host $h; done
	cp "$CONF" "$TMPD/fleet-a.yaml"
	sed -i 's/host-a: 20000-20999, host-b: 21000-21999/host-a: 21000-21999, host-b: 20000-20999/' "$CONF"
	grep -q 'host-a: 21000-21999' "$CONF" || die "cannot write host-b's config"
	attach_host b
	CONF=$TMPD/fleet-a.yaml
	for h in $E2E_HOSTS; do [ "$mode" = l2 ] && fwd_watch $h "ether src $(ip -n "$(hns $h)" -j link show eth0 | jq -r '.[0].address')"; done
	[ "$mode" = encap ] && for h in $E2E_HOSTS; do eval "ul=\$UL${fam}_$h"; fwd_watch $h "src host $ul"; done

	send_ports 21000 $n
	settle $n $E2E_HOSTS
	fwd_stop $E2E_HOSTS
	fwd=0
	for h in $E2E_HOSTS; do fwd=$((fwd + $(steer_counter $h forwarded))); done
	kfwd=$(kernel_sent $E2E_HOSTS)
	most=$(most_sends $E2E_HOSTS)
	note "sent $n replies for the disputed ports: forwarded $fwd (kernel: $kfwd), at most $most times each;" \
		"dropped as steered twice: host-a $(steer_counter a dropped_steered_twice), host-b $(steer_counter b dropped_steered_twice)"
	expect_le "$fwd" "$n" "replies forwarded (portslice)"
	expect_le "$kfwd" "$n" "frames sent on (the kernel's XDP counters)"
	expect_le "$most" 1 "times one reply was sent on"
	for h in $E2E_HOSTS; do
		expect_eq "$(kernel_stat $h UdpNoPorts)$(kernel_stat $h Udp6NoPorts)" 00 "host-$h UDP datagrams to no socket"
	done
	expect_ge "$(($(steer_counter a dropped_steered_twice) + $(steer_counter b dropped_steered_twice)))" 1 \
		"replies dropped as already steered"
}

t_l2_ipv4_owner_disagreement() { owner_disagreement l2 4; }
t_encap_ipv6_owner_disagreement() { owner_disagreement encap 6; }

# ---- doctor and status: the steering prerequisites ------------------------

# doctor_steer X: `portslice doctor --json` of host X, its steering checks
# as "RESULT NAME" lines; the whole output in $TMPD/doctor-X.json.
doctor_steer() {
	PORTSLICE_PIN_DIR=$(hpin $1) in_net "$(hns $1)" "$PS" doctor --json --config "$CONF" --host host-$1 \
		> "$TMPD/doctor-$1.json"
	jq -r '.checks[] | select(.name | startswith("steer.")) | "\(.result) \(.name)"' "$TMPD/doctor-$1.json" ||
		die "doctor printed no JSON: $(head -c 300 "$TMPD/doctor-$1.json")"
}

# expect_check X RESULT NAME: host X's doctor says RESULT for check NAME, with a fix.
expect_check() {
	local out
	out=$(doctor_steer $1)
	expect_match "$out" "^$2 $3\$" "host-$1 doctor steering checks"
	[ "$2" = ok ] || jq -e --arg n "$3" '.checks[] | select(.name == $n) | .fix | strings' "$TMPD/doctor-$1.json" >/dev/null ||
		die "host-$1 doctor: $3 names no fix"
}

# Every prerequisite of the README's list, missing one at a time on host-a,
# is flagged by doctor with its fix; the kernel's XDP errors show in status
# beside portslice's counters.
t_l2_ipv4_doctor_steering() {
	local out st
	topo l2 4
	out=$(doctor_steer a)
	note "all in place: $(printf '%s' "$out" | tr '\n' ',')"
	expect_nomatch "$out" "^fail " "host-a doctor steering checks, all in place"
	expect_match "$out" "^ok steer.forwarding.eth0.ipv4$" "forwarding check"
	expect_match "$out" "^ok steer.veth_peer.eth0$" "veth peer check"
	expect_match "$out" "^warn steer.checksum.eth0$" "checksum offload note"
	expect_match "$out" "^ok steer.owner.host-b$" "host-b's neighbour"
	expect_match "$out" "^ok steer.owner.host-c$" "host-c's neighbour"

	# Forwarding off on the ingress interface.
	in_ns "$(hns a)" sysctl -qw net.ipv4.conf.eth0.forwarding=0
	expect_check a fail steer.forwarding.eth0.ipv4
	in_ns "$(hns a)" sysctl -qw net.ipv4.conf.eth0.forwarding=1

	# host-c's neighbour entry gone, host-b not routed any more: owners unreachable right now.
	ip -n "$(hns a)" neigh del $UL4_c dev eth0
	expect_check a fail steer.owner.host-c
	ip -n "$(hns a)" route add unreachable $UL4_b/32
	expect_check a fail steer.owner.host-b
	ip -n "$(hns a)" route del unreachable $UL4_b/32
	# A resolved entry the kernel does not keep resolved: a warning.
	ip -n "$(hns a)" neigh replace $UL4_c dev eth0 lladdr 02:00:00:00:00:0c nud reachable
	expect_check a warn steer.owner.host-c
	ip -n "$(hns a)" neigh replace $UL4_c dev eth0 lladdr "$(ip -n "$(hns c)" -j link show eth0 | jq -r '.[0].address')" managed

	# The veth peer loses its XDP program: XDP_TX frames are dropped by the
	# kernel. doctor says so, and status shows the kernel's count beside
	# portslice's forwarded.
	ip -n "$ROUTER" link set dev r-a xdpdrv off
	expect_check a fail steer.veth_peer.eth0
	send_ports 21000 30
	settle 1 a
	st=$(steer_json a) || die "status of host-a"
	note "host-a: forwarded $(steer_counter a forwarded), kernel_xdp $(printf '%s' "$st" | jq -c '.steering.interfaces[0].kernel_xdp')"
	expect_ge "$(printf '%s' "$st" | jq '.steering.interfaces[0].kernel_xdp.xdp_tx_errors')" 1 \
		"host-a status: the kernel's XDP_TX errors"
	expect_eq "$(printf '%s' "$st" | jq '.steering.interfaces[0].kernel_xdp.xdp_tx_errors')" "$(kernel_xdp a xdp_tx_errors)" \
		"host-a status: xdp_tx_errors as ethtool -S shows it"
	PORTSLICE_PIN_DIR=$(hpin a) in_net "$(hns a)" "$PS" status > "$TMPD/status-a.txt" 2>&1
	expect_match "$(cat "$TMPD/status-a.txt")" "kernel XDP counters:.*xdp_tx_errors [1-9]" "host-a status text"
}
