# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# What ships, checked without installing on this machine (tests/package/deb.sh
# installs the .deb for real): make install and uninstall under PREFIX and
# DESTDIR, the installed unit verified by systemd, the Containerfile, the
# DaemonSet, and one version everywhere.
# Sourced by tests/run.sh after tests/lib.sh; each t_* runs in a subshell.

# lib.sh's cleanup removes files; this file's trees go first.
if declare -F cleanup >/dev/null; then # (run.sh also sources this file alone, to list the tests)
	eval "_lib_cleanup() $(declare -f cleanup | tail -n +2)"
	cleanup() {
		[ -n "${TMPD:-}" ] && rm -rf -- "$TMPD/root" "$TMPD/prefix"
		_lib_cleanup
	}
fi

# install_into ARGS...: make install with ARGS, of the binary already built.
install_into() {
	# -o: install what is built; a test never rebuilds the binary under the others.
	make -s -C "$ROOT" -o "${OUTPUT:-build}/portslice" install "$@" >/dev/null || die "make install $* failed"
}

t_make_install_and_uninstall_honour_prefix_and_destdir() {
	local root=$TMPD/root f unitdir
	unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /usr/lib/systemd/system)
	install_into DESTDIR="$root" PREFIX=/usr
	for f in usr/sbin/portslice usr/share/man/man8/portslice.8 usr/share/man/man8/portslice-agent.8 \
		usr/share/man/man8/portslice-steer.8 usr/share/man/man5/portslice.yaml.5 \
		usr/share/bash-completion/completions/portslice "${unitdir#/}/portslice.service" \
		usr/share/doc/portslice/examples/fleet.yaml usr/share/doc/portslice/examples/portslice-alerts.yaml \
		usr/share/doc/portslice/examples/portslice-dashboard.json; do
		[ -f "$root/$f" ] || die "make install PREFIX=/usr did not install $f"
	done
	[ -d "$root/etc/portslice" ] || die "no /etc/portslice"
	[ ! -e "$root/etc/systemd" ] || die "the unit went to /etc/systemd, the administrator's directory"
	grep -q '^ExecStart=/usr/sbin/portslice agent' "$root/${unitdir#/}/portslice.service" ||
		die "the installed unit does not run the installed binary"
	expect_eq "$(stat -c %a "$root/${unitdir#/}/portslice.service")" 644 "mode of the unit"
	expect_eq "$(stat -c %a "$root/usr/sbin/portslice")" 755 "mode of the binary"
	# The operator's config survives uninstall; everything installed goes.
	printf 'pools: []\n' > "$root/etc/portslice/fleet.yaml"
	make -s -C "$ROOT" uninstall DESTDIR="$root" PREFIX=/usr >/dev/null || die "make uninstall failed"
	expect_eq "$(cd "$root" && find . -type f | sort | paste -sd' ' -)" "./etc/portslice/fleet.yaml" "files left by uninstall"
	rm -f "$root/etc/portslice/fleet.yaml"
	make -s -C "$ROOT" uninstall DESTDIR="$root" PREFIX=/usr >/dev/null || die "make uninstall twice failed"
	[ ! -e "$root/etc/portslice" ] || die "uninstall left an empty /etc/portslice"

	# Another prefix: the unit under that prefix's lib/systemd/system.
	rm -rf "$root"
	install_into DESTDIR="$root" PREFIX=/usr/local
	[ -f "$root/usr/local/lib/systemd/system/portslice.service" ] || die "PREFIX=/usr/local: no unit in /usr/local/lib/systemd/system"
	grep -q '^ExecStart=/usr/local/sbin/portslice agent' "$root/usr/local/lib/systemd/system/portslice.service" ||
		die "PREFIX=/usr/local: ExecStart does not name /usr/local/sbin/portslice"
	make -s -C "$ROOT" uninstall DESTDIR="$root" PREFIX=/usr/local >/dev/null || die "make uninstall failed"
	expect_eq "$(cd "$root" && find . -type f | wc -l)" 0 "files left by uninstall (PREFIX=/usr/local)"
}

t_installed_unit_verifies() {
	command -v systemd-analyze >/dev/null || { echo "systemd-analyze is not installed"; exit 249; }
	# Installed for real (into a prefix of the test's own): the unit names
	# the binary it installed, and its Documentation= pages are found.
	local prefix=$TMPD/prefix out
	install_into PREFIX="$prefix" CONFDIR="$prefix/etc/portslice"
	out=$(MANPATH="$prefix/share/man:" systemd-analyze verify "$prefix/lib/systemd/system/portslice.service" 2>&1) ||
		die "systemd-analyze verify of the installed unit: $out"
	expect_eq "$out" "" "what systemd-analyze says of the installed unit"
	grep -q "^ExecStart=$prefix/sbin/portslice agent" "$prefix/lib/systemd/system/portslice.service" ||
		die "ExecStart of the installed unit"
	# Idle until there is a config; a notify service that restarts itself.
	grep -qx 'ConditionPathExists=/etc/portslice/fleet.yaml' "$prefix/lib/systemd/system/portslice.service" ||
		die "the unit starts without a config"
	grep -qx 'Type=notify' "$prefix/lib/systemd/system/portslice.service" || die "unit type"
	make -s -C "$ROOT" uninstall PREFIX="$prefix" CONFDIR="$prefix/etc/portslice" >/dev/null || die "make uninstall"
}

# yaml FILE EXPR: a Python expression over the YAML document d.
yaml() { python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

t_daemonset_probes_mounts_and_sandbox() {
	local ds=$ROOT/deploy/kubernetes/daemonset.yaml c='d["spec"]["template"]["spec"]["containers"][0]' port
	expect_eq "$(yaml "$ds" "$c[\"securityContext\"][\"seccompProfile\"][\"type\"]")" RuntimeDefault "seccomp profile"
	expect_eq "$(yaml "$ds" "$c[\"securityContext\"][\"privileged\"], $c[\"securityContext\"][\"allowPrivilegeEscalation\"], $c[\"securityContext\"][\"readOnlyRootFilesystem\"]")" \
		"(False, False, True)" "privileged, privilege escalation, read-only root"
	port=$(yaml "$ds" "[a for a in $c[\"args\"] if a.startswith(\"--metrics=\")][0].rsplit(\":\", 1)[1]")
	expect_eq "$port" 9465 "metrics port"
	local probe
	for probe in readinessProbe livenessProbe; do
		expect_eq "$(yaml "$ds" "$c[\"$probe\"][\"httpGet\"][\"path\"], $c[\"$probe\"][\"httpGet\"][\"port\"], $c[\"$probe\"][\"httpGet\"][\"host\"]")" \
			"('/healthz', $port, '127.0.0.1')" "$probe"
	done
	expect_eq "$(yaml "$ds" 'sorted(v["hostPath"]["path"] for v in d["spec"]["template"]["spec"]["volumes"] if "hostPath" in v)')" \
		"['/run/portslice.lock', '/sys/fs/bpf', '/sys/fs/cgroup']" "hostPath volumes"
	expect_eq "$(yaml "$ds" "sorted(m[\"mountPath\"] for m in $c[\"volumeMounts\"])")" \
		"['/etc/portslice', '/run/portslice.lock', '/sys/fs/bpf', '/sys/fs/cgroup']" "mounts"
	expect_eq "$(yaml "$ds" 'd["spec"]["template"]["spec"]["hostNetwork"]')" True "host network"
	# The image is the Containerfile's, run the way its ENTRYPOINT says.
	expect_eq "$(yaml "$ds" "$c[\"image\"]")" "portslice:$(sed -n 's/^#define PS_VERSION "\(.*\)"/\1/p' "$ROOT/loader/core/version.h")" "image"
	expect_eq "$(yaml "$ds" "$c[\"command\"]")" "['/usr/sbin/portslice']" "command"
}

t_containerfile_builds_the_image_from_the_deb() {
	local cf=$ROOT/deploy/Containerfile
	# Parsed as a builder would: continuation lines joined, comments dropped.
	python3 - "$cf" <<-'PY' || die "the Containerfile does not parse as expected"
	import json, re, sys
	lines, cur = [], ""
	for raw in open(sys.argv[1]):
	    s = raw.rstrip("\n")
	    if not cur and (not s.strip() or s.lstrip().startswith("#")):
	        continue
	    if s.endswith("\\"):
	        cur += s[:-1] + " "
	        continue
	    lines.append(cur + s)
	    cur = ""
	assert not cur, "a continuation runs off the end"
	known = {"ARG", "FROM", "COPY", "RUN", "LABEL", "EXPOSE", "ENTRYPOINT", "CMD", "ENV", "WORKDIR", "USER"}
	ins = [(l.split(None, 1)[0], l.split(None, 1)[1] if " " in l.strip() else "") for l in lines]
	for k, _ in ins:
	    assert k in known, "unknown instruction " + k
	kinds = [k for k, _ in ins]
	assert kinds.index("FROM") == 1 and kinds[0] == "ARG", kinds      # ARG BASE, then FROM ${BASE}
	assert ins[1][1] == "${BASE}" and ins[0][1].startswith("BASE=") and "debian:12" in ins[0][1], ins[:2]
	run = " ".join(a for k, a in ins if k == "RUN")
	assert "apt-get install" in run and "/tmp/${DEB}" in run, run    # the .deb, through apt
	assert [a for k, a in ins if k == "COPY"] == ["${DEB} /tmp/"]
	entry = json.loads([a for k, a in ins if k == "ENTRYPOINT"][0])
	cmd = json.loads([a for k, a in ins if k == "CMD"][0])
	assert entry == ["/usr/sbin/portslice"] and cmd[0] == "agent", (entry, cmd)
	version = re.search(r'image.version="([^"]+)"', " ".join(a for k, a in ins if k == "LABEL")).group(1)
	deb = [a for k, a in ins if k == "ARG" and a.startswith("DEB=")][0]
	print(version, deb)
	PY
	local want
	want=$(sed -n 's/^#define PS_VERSION "\(.*\)"/\1/p' "$ROOT/loader/core/version.h")
	expect_eq "$(grep -o 'image.version="[^"]*"' "$cf")" "image.version=\"$want\"" "the image's version label"
	expect_match "$(grep '^ARG DEB=' "$cf")" "^ARG DEB=portslice_${want}_" "the .deb the image installs"
	# The .deb puts the binary where ENTRYPOINT looks.
	grep -q 'PREFIX=/usr' "$ROOT/debian/rules" || die "debian/rules does not install under /usr"
}

t_one_version_everywhere() {
	local v page
	v=$(sed -n 's/^#define PS_VERSION "\(.*\)"/\1/p' "$ROOT/loader/core/version.h")
	expect_match "$("$PS" --version)" "^portslice $v " "--version"
	expect_eq "$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version)" "$v" "debian/changelog"
	for page in "$ROOT"/man/*.[0-9]; do
		grep -q "^\\.TH .* \"portslice $v\"" "$page" || die "$page does not say portslice $v"
	done
}
