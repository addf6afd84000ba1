# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# portslice run from another mount namespace: 'ip netns exec' (which
# remounts /sys), 'unshare -m', another PID namespace. It either sees the
# host's pins and cgroups, or refuses with what to do, and never says
# "not attached" when it cannot know; --bpffs and --cgroup-root make it
# work with the host's mounts named explicitly. Sourced by tests/run.sh.

# refused WHAT FRAGMENT: the last run failed with exit 1 and said why and what to do.
refused() {
	expect_eq "$RC" 1 "exit code of $1 (stdout: $OUT, stderr: $ERR)"
	expect_match "$ERR" "portslice: error: .*$2" "$1's error"
	expect_match "$ERR" "nsenter --net=/run/netns/NAME" "$1's error"
	expect_match "$ERR" "--bpffs DIR --cgroup-root DIR" "$1's error"
	expect_nomatch "$OUT" "not attached" "$1's output"
}

# state: what must not change when a command is refused.
state() {
	echo "pins: $(cd "$PORTSLICE_PIN_DIR" 2>/dev/null && find . | LC_ALL=C sort | paste -sd' ' -)"
	echo "progs: $(bpftool -j cgroup show "$CG" | jq -c '[.[].id]')"
	echo "bpf mounts: $(grep -c ' bpf ' /proc/self/mounts)"
}

attached_cgroups() { "$PS" status --json | jq -c '[.attachments[].cgroup]'; }

t_ip_netns_exec_refuses_and_changes_nothing() {
	local before cg2
	std_setup
	attach
	cg2=$(cg_create other)
	before=$(state)
	run ip netns exec "$NS" "$PS" status
	refused status "this mount namespace is not the host's.*no bpf file system at /sys/fs/bpf"
	run ip netns exec "$NS" "$PS" -j status
	expect_eq "$RC" 1 "exit code of status -j"
	expect_match "$(printf '%s' "$OUT" | jq -r .error)" "not the host's" "status -j error"
	run ip netns exec "$NS" "$PS" attach --cgroup "$cg2" --config "$CONF" --host host-a
	refused attach "not the host's"
	run ip netns exec "$NS" "$PS" detach --cgroup "$CG"
	refused detach "not the host's"
	run ip netns exec "$NS" "$PS" stats
	refused stats "not the host's"
	# doctor reports it as a failed check, and advises no mount.
	run ip netns exec "$NS" "$PS" doctor
	expect_eq "$RC" 1 "exit code of doctor"
	expect_match "$OUT" "fail namespace: this mount namespace is not the host's" "doctor"
	expect_nomatch "$OUT" "mount -t cgroup2|mount -t bpf" "doctor's advice"
	expect_eq "$(state)" "$before" "state after the refused commands"
	expect_eq "$(attached_cgroups)" "[\"$CG\"]" "attachments"
}

# The documented way: only the network namespace changes, the mounts stay.
t_nsenter_net_sees_the_attachment() {
	std_setup
	attach
	run nsenter --net=/run/netns/"$NS" "$PS" status --json
	expect_eq "$RC" 0 "exit code (stderr: $ERR)"
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.attachments[].cgroup]')" "[\"$CG\"]" "attachments seen from the netns"
	run nsenter --net=/run/netns/"$NS" "$PS" doctor --config "$CONF" --host host-a --cgroup "$CG"
	expect_match "$OUT" "ok namespace: .*network namespace: not the host's" "doctor in the netns"
}

# The host's mounts named explicitly: the same commands work under ip netns exec.
t_ip_netns_exec_with_host_mounts_named() {
	local d=$TMPD/host cg2 script
	std_setup
	attach
	cg2=$(cg_create other)
	mkdir -p "$d/bpf" "$d/cg"
	# The binds live in a private mount namespace only: nothing of the host's changes.
	script='mount --bind /sys/fs/bpf "$1/bpf" && mount --bind "$2" "$1/cg" || exit 9
		d=$1 ns=$3; shift 3
		PORTSLICE_PIN_DIR=$d/bpf/${PORTSLICE_PIN_DIR#/sys/fs/bpf/} exec ip netns exec "$ns" "$@"'
	run unshare -m --propagation private sh -c "$script" _ "$d" "$CG2" "$NS" \
		"$PS" --bpffs "$d/bpf" --cgroup-root "$d/cg" attach --cgroup "$d/cg/${cg2#"$CG2"/}" \
		--config "$CONF" --host host-a
	expect_eq "$RC" 0 "exit code of attach (stdout: $OUT, stderr: $ERR)"
	expect_eq "$(attached_cgroups | jq -c sort)" "$(printf '["%s","%s"]' "$CG" "$cg2" | jq -c sort)" \
		"attachments seen from the host"
	run unshare -m --propagation private sh -c "$script" _ "$d" "$CG2" "$NS" \
		"$PS" status --json --bpffs "$d/bpf" --cgroup-root "$d/cg"
	expect_eq "$RC" 0 "exit code of status (stderr: $ERR)"
	expect_eq "$(printf '%s' "$OUT" | jq '[.attachments[] | select(.cgroup_exists)] | length')" 2 \
		"live attachments seen through the named mounts"
	# A named mount that is not what it is said to be is refused.
	run unshare -m --propagation private sh -c "$script" _ "$d" "$CG2" "$NS" \
		"$PS" status --bpffs "$d/cg" --cgroup-root "$d/cg"
	expect_eq "$RC" 2 "exit code with a wrong --bpffs (a usage error)"
	expect_match "$ERR" "--bpffs $d/cg is not a bpf file system" "wrong --bpffs"
	run unshare -m --propagation private sh -c "$script" _ "$d" "$CG2" "$NS" \
		"$PS" status --bpffs "$d/bpf" --cgroup-root "$d/cg/${CG#"$CG2"/}"
	expect_eq "$RC" 2 "exit code with a --cgroup-root inside the hierarchy"
	expect_match "$ERR" "is a cgroup inside the hierarchy, not its root" "inner --cgroup-root"
	run unshare -m --propagation private sh -c "$script" _ "$d" "$CG2" "$NS" \
		"$PS" detach --cgroup "$d/cg/${cg2#"$CG2"/}" --bpffs "$d/bpf" --cgroup-root "$d/cg"
	expect_eq "$RC" 0 "exit code of detach (stderr: $ERR)"
	expect_eq "$(attached_cgroups)" "[\"$CG\"]" "attachments after the detach"
}

# unshare -m copies the host's mounts: the same bpffs, so the answers are true.
t_unshare_mount_namespace() {
	local before
	std_setup
	attach
	run unshare -m "$PS" status --json
	expect_eq "$RC" 0 "exit code (stderr: $ERR)"
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.attachments[].cgroup]')" "[\"$CG\"]" "attachments seen from unshare -m"
	before=$(state)
	# A bpffs of its own is not the host's: pins made there would vanish with it.
	run unshare -m --propagation private sh -c 'mount -t bpf bpf /sys/fs/bpf && exec "$@"' _ "$PS" status
	refused status "the bpf file system at /sys/fs/bpf is not the host's"
	# No bpffs at all: refused, and nothing is mounted in its place.
	run unshare -m --propagation private sh -c 'umount -l /sys/fs/bpf && exec "$@"' _ \
		"$PS" attach --cgroup "$CG" --config "$CONF" --host host-a
	refused attach "no bpf file system at /sys/fs/bpf"
	expect_eq "$(state)" "$before" "state after the refused commands"
}

# In another PID namespace no kernel thread shows the host's view: unknown
# is not "the host's"; the mounts named explicitly are.
t_other_pid_namespace_needs_named_mounts() {
	std_setup
	attach
	run unshare -m -p -f --mount-proc "$PS" status
	refused status "cannot tell whether this mount namespace is the host's"
	run unshare -m -p -f --mount-proc "$PS" status --json --bpffs /sys/fs/bpf --cgroup-root "$CG2"
	expect_eq "$RC" 0 "exit code with the mounts named (stderr: $ERR)"
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.attachments[].cgroup]')" "[\"$CG\"]" "attachments"
	run env PORTSLICE_BPFFS=/sys/fs/bpf PORTSLICE_CGROUP_ROOT="$CG2" unshare -m -p -f --mount-proc "$PS" status --json
	expect_eq "$RC" 0 "exit code with PORTSLICE_BPFFS, PORTSLICE_CGROUP_ROOT (stderr: $ERR)"
}

# A systemd service's private namespace: no kernel thread to compare with,
# but the mounts are slaves of the host's shared ones (master:N), copies of
# mounts from outside, not file systems mounted in here. (The outer shell
# stays: the host's side of the peer group must outlive the inner one.)
t_slave_mounts_of_the_hosts_are_trusted() {
	std_setup
	attach
	run unshare -m --propagation private sh -c 'mount --make-rshared /sys/fs/bpf && mount --make-rshared "$1" &&
		shift && unshare -m --propagation slave -p -f --mount-proc "$@"' _ "$CG2" "$PS" status --json
	expect_eq "$RC" 0 "exit code in a slave namespace (stderr: $ERR)"
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.attachments[].cgroup]')" "[\"$CG\"]" "attachments"
	# A bpffs mounted in there is no slave: refused.
	run unshare -m --propagation private sh -c 'mount --make-rshared /sys/fs/bpf && mount --make-rshared "$1" &&
		shift && unshare -m --propagation slave -p -f --mount-proc sh -c "mount -t bpf bpf /sys/fs/bpf && exec \"\$@\"" _ "$@"' \
		_ "$CG2" "$PS" status
	refused status "cannot tell whether this mount namespace is the host's"
}
