# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The Debian package on this machine, as CI runs it (`make deb-test`, which
# builds and lints it first): installed with apt, doctor run from the
# installed path, the installed unit verified by systemd with its man pages,
# an attachment made by the installed binary left alone by removal and
# purge, and nothing of the package left behind.
# Not named test_*.sh: `make test` does not install packages on the host.
# Sourced by tests/run.sh after tests/lib.sh; each t_* runs in a subshell.

# A test that fails half-way still takes its package off the machine.
if declare -F cleanup >/dev/null; then # (run.sh also sources this file alone, to list the tests)
	eval "_lib_cleanup() $(declare -f cleanup | tail -n +2)"
	cleanup() {
		if [ -n "${TMPD:-}" ] && [ -e "$TMPD/installed" ]; then
			DEBIAN_FRONTEND=noninteractive apt-get -y -qq -o DPkg::Lock::Timeout=600 purge portslice >/dev/null 2>&1
		fi
		_lib_cleanup
	}
fi

# apt_get ARGS...: apt-get, waiting for a dpkg lock another run may hold.
apt_get() {
	DEBIAN_FRONTEND=noninteractive apt-get -y -qq -o DPkg::Lock::Timeout=600 "$@" >"$TMPD/apt.log" 2>&1 ||
		die "apt-get $*: $(tail -n 20 "$TMPD/apt.log")"
}

t_deb_installs_runs_and_goes_cleanly() {
	[ -f "${DEB_FILE:-}" ] || die "no .deb: run 'make deb-test' (DEB_FILE=${DEB_FILE:-unset})"
	if dpkg-query -W -f='${Status}' portslice 2>/dev/null | grep -q 'ok installed'; then
		echo "portslice is installed on this machine already: not touching it"
		exit 249
	fi
	std_setup
	# A stale installed copy of any kind would make the checks below lie.
	[ ! -e /usr/sbin/portslice ] || die "/usr/sbin/portslice exists outside the package"
	: > "$TMPD/installed"
	apt_get install "$DEB_FILE"
	local files f out
	files=$(dpkg-query -L portslice)
	for f in /usr/sbin/portslice /lib/systemd/system/portslice.service /usr/share/man/man8/portslice-steer.8.gz \
		/usr/share/man/man5/portslice.yaml.5.gz /usr/share/bash-completion/completions/portslice \
		/usr/share/doc/portslice/examples/fleet.yaml /usr/share/doc/portslice/examples/portslice-alerts.yaml \
		/usr/share/doc/portslice/examples/portslice-dashboard.json /usr/share/doc/portslice/operations.md.gz; do
		printf '%s\n' "$files" | grep -qx "$f" || die "the package does not ship $f"
		[ -e "$f" ] || die "$f is not installed"
	done
	# No config is shipped: the unit stays idle until the operator writes one.
	[ ! -e /etc/portslice/fleet.yaml ] || die "the package installed /etc/portslice/fleet.yaml"
	expect_eq "$(/usr/sbin/portslice --version | awk '{ print $2 }')" "$(dpkg-query -W -f='${Version}' portslice)" "installed version"
	# doctor from the installed path: this host can run portslice.
	out=$(/usr/sbin/portslice doctor) || die "portslice doctor (installed) failed: $out"
	note "doctor: $(printf '%s\n' "$out" | tail -n 1)"
	out=$(/usr/sbin/portslice doctor --config /usr/share/doc/portslice/examples/fleet.yaml --host node-a --json)
	expect_eq "$(jq -r '.checks[] | select(.name == "config") | .result' <<<"$out")" ok "the example config"
	# The shipped unit as systemd sees it, man pages included.
	command -v systemd-analyze >/dev/null && {
		out=$(systemd-analyze verify /lib/systemd/system/portslice.service 2>&1) || die "systemd-analyze verify: $out"
		expect_eq "$out" "" "what systemd-analyze says of the installed unit"
	}
	man -w portslice-steer >/dev/null 2>&1 || die "man portslice-steer: not found"
	man -w 5 portslice.yaml >/dev/null 2>&1 || die "man 5 portslice.yaml: not found"
	# The installed binary attaches (the test's own pins and cgroup) ...
	/usr/sbin/portslice attach --cgroup "$CG" --config "$CONF" --host host-a >/dev/null || die "attach (installed)"
	local links
	links=$(bpftool -j link show | jq --argjson id "$(stat -c %i "$CG")" '[.[] | select(.type == "cgroup" and .cgroup_id == $id)] | length')
	expect_eq "$links" "$PS_CGROUP_HOOKS" "links on the cgroup"
	# ... and removing, then purging, the package leaves the attachment alone.
	apt_get remove portslice
	apt_get purge portslice
	expect_eq "$(bpftool -j link show | jq --argjson id "$(stat -c %i "$CG")" '[.[] | select(.type == "cgroup" and .cgroup_id == $id)] | length')" \
		"$links" "links on the cgroup after purge"
	[ -d "$PORTSLICE_PIN_DIR/cgroups" ] || die "the pins went with the package"
	serve srv --tcp $SRV4:8000
	check_conns "$(in_cg "$CG" "$NS" "$PSNET" connect --proto tcp --to $SRV4:8000 --count 2)" $POOL4 20000 20999 2
	# Nothing of the package is left.
	for f in $files; do
		[ -d "$f" ] || [ ! -e "$f" ] || die "$f is left after purge"
	done
	[ ! -e /etc/portslice ] || die "/etc/portslice is left after purge"
	expect_eq "$(dpkg-query -W -f='${Status}' portslice 2>/dev/null)" "" "dpkg's record of the package"
}
