# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Least privilege, shown rather than claimed: the capability set of the
# systemd unit and of the DaemonSet (they must agree) is enough for attach,
# status, stats, doctor, steer and the agent, and each capability of the
# set is needed (attach fails without any one of them). Root keeps uid 0;
# only its capability bounding set shrinks (setpriv), as under the unit's
# CapabilityBoundingSet.
# Sourced by tests/run.sh after tests/lib.sh; each t_* runs in a subshell.

# unit_caps / pod_caps: the sets the shipped files grant, as setpriv names them.
unit_caps() {
	sed -n 's/^CapabilityBoundingSet=//p' "$ROOT/deploy/portslice.service" | tr ' ' '\n' |
		sed 's/^CAP_//' | tr 'A-Z' 'a-z' | sort | paste -sd, -
}
pod_caps() {
	python3 -c 'import sys, yaml
ds = yaml.safe_load(open(sys.argv[1]))
c = ds["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]
assert c["drop"] == ["ALL"], c
print(",".join(sorted(x.lower() for x in c["add"])))' "$ROOT/deploy/kubernetes/daemonset.yaml"
}

# bset CAPS: setpriv's --bounding-set keeping only CAPS (comma-separated).
bset() { printf -- '-all,%s' "$(printf '%s' "$1" | sed 's/\([a-z_]*\)/+\1/g')"; }

# capped CAPS CMD...: CMD as root with only CAPS left.
capped() {
	local caps=$1
	shift
	setpriv --bounding-set="$(bset "$caps")" -- "$@"
}

t_unit_and_pod_grant_the_same_capabilities() {
	local u p
	u=$(unit_caps)
	p=$(pod_caps) || die "cannot read the DaemonSet's capabilities"
	expect_eq "$u" "bpf,net_admin,perfmon" "the unit's capabilities"
	expect_eq "$p" "$u" "the DaemonSet's capabilities against the unit's"
	expect_eq "$(sed -n 's/^AmbientCapabilities=//p' "$ROOT/deploy/portslice.service")" \
		"$(sed -n 's/^CapabilityBoundingSet=//p' "$ROOT/deploy/portslice.service")" "ambient against bounding set"
	expect_nomatch "$(cat "$ROOT/deploy/portslice.service" "$ROOT/deploy/kubernetes/daemonset.yaml" | grep -v '^ *#')" \
		'SYS_ADMIN|privileged: true|Unconfined' "privileges the shipped files must not grant"
}

t_shipped_capabilities_suffice() {
	std_setup
	local caps out
	caps=$(unit_caps)
	# The socket side.
	capped "$caps" "$PS" attach --cgroup "$CG" --config "$CONF" --host host-a >/dev/null ||
		die "attach with only $caps: $(capped "$caps" "$PS" attach --cgroup "$CG" --config "$CONF" --host host-a 2>&1)"
	serve srv --tcp $SRV4:8000
	out=$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8000 --count 3)
	check_conns "$out" $POOL4 20000 20999 3
	capped "$caps" "$PS" status --json | jq -e '.attachments | length == 1' >/dev/null || die "status with only $caps"
	capped "$caps" "$PS" stats | grep -q '^portslice_attached_cgroups 1$' || die "stats with only $caps"
	# doctor: every check passes (warnings allowed) with the set.
	out=$(nsenter --net="/run/netns/$NS" setpriv --bounding-set="$(bset "$caps")" -- \
		"$PS" doctor --config "$CONF" --host host-a --cgroup "$CG" --json) || die "doctor with only $caps: $out"
	expect_eq "$(jq '[.checks[] | select(.result == "fail")] | length' <<<"$out")" 0 "failed doctor checks"
	# Steering, on a veth of the test's own (its peer in a namespace of its own).
	ip -n "$NS" link add ps0 up type veth peer name ps1 netns "$(ns_create peer)" || die "veth"
	{ cat "$CONF"; printf '%s\n' 'hosts: {host-a: {address: 198.18.10.1}, host-b: {address: 198.18.10.2}}' \
		'steering: {mode: l2, interfaces: [ps0]}'; } > "$TMPD/steer.yaml"
	nsenter --net="/run/netns/$NS" setpriv --bounding-set="$(bset "$caps")" -- \
		"$PS" steer attach --config "$TMPD/steer.yaml" --host host-a >/dev/null || die "steer attach with only $caps"
	capped "$caps" "$PS" status --json | jq -e '.steering.interfaces | length == 1' >/dev/null ||
		die "steering not shown: $("$PS" status --json | jq -c .steering)"
	capped "$caps" "$PS" detach --all >/dev/null || die "detach --all with only $caps"
	# The agent: attaches, serves /healthz, stops on SIGTERM.
	mkdir -m 755 "$TMPD/etc"
	{ cat "$CONF"; printf 'cgroups:\n  - path: %s\n' "$CG"; } > "$TMPD/etc/fleet.yaml"
	chmod 644 "$TMPD/etc/fleet.yaml"
	bg nsenter --net="/run/netns/$NS" setpriv --bounding-set="$(bset "$caps")" -- \
		"$PS" agent --config "$TMPD/etc/fleet.yaml" --host host-a --metrics 127.0.0.1:9465 2>"$TMPD/agent.log"
	wait_line "$TMPD/agent.log" ': running: .* 1 of 1 cgroups attached' "the agent with only $caps"
	expect_match "$(in_ns "$NS" curl -s -m 10 http://127.0.0.1:9465/healthz)" '^ok: ' "/healthz of the capped agent"
	# The capped agent's effective set is exactly the shipped one.
	expect_eq "$(grep '^CapEff' "/proc/$BG_PID/status" | awk '{ print $2 }')" \
		"$(capped "$caps" sh -c 'grep ^CapEff /proc/self/status' | awk '{ print $2 }')" "the agent's capabilities"
	kill "$BG_PID"
	wait "$BG_PID"
	expect_eq "$?" 0 "the agent's exit status after SIGTERM"
}

t_each_capability_is_needed() {
	std_setup
	local caps drop rest out
	caps=$(unit_caps)
	for drop in $(printf '%s' "$caps" | tr , ' '); do
		rest=$(printf '%s' "$caps" | tr , '\n' | grep -vx "$drop" | paste -sd, -)
		out=$(capped "$rest" "$PS" attach --cgroup "$CG" --config "$CONF" --host host-a 2>&1) &&
			die "attach succeeded without $drop (with $rest): $out"
		note "without $drop: $(printf '%s' "$out" | head -n 1)"
		expect_eq "$("$PS" status --json | jq '.attachments | length')" 0 "attachments left by a refused attach"
	done
}
