# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The container image, built for real where no registry is reachable
# (`make image-test`): a Debian 12 base made by mmdebstrap from this
# machine's Debian sources and imported into podman, then deploy/Containerfile
# built on it (`make image`, chroot isolation: crun cannot run containers on
# a hybrid cgroup host), then the image's own files run: its portslice,
# linked against the image's Debian libraries, runs doctor with the
# DaemonSet's three capabilities, inside a private mount namespace.
# Not named test_*.sh: it needs podman and mmdebstrap and the Debian mirror.
# Sourced by tests/run.sh after tests/lib.sh; each t_* runs in a subshell.

if declare -F cleanup >/dev/null; then # (run.sh also sources this file alone, to list the tests)
	eval "_lib_cleanup() $(declare -f cleanup | tail -n +2)"
	cleanup() {
		local img
		for img in "localhost/$TAG-portslice:test" "localhost/$TAG-base:debian12"; do
			podman image unmount "$img" >/dev/null 2>&1
			podman rmi -f "$img" >/dev/null 2>&1
		done
		_lib_cleanup
	}
fi

t_image_builds_from_debian_packages_and_runs() {
	local tool sources base=localhost/$TAG-base:debian12 img=localhost/$TAG-portslice:test dir out caps
	for tool in podman mmdebstrap; do
		command -v $tool >/dev/null || { echo "$tool is not installed ('make image-test' installs it)"; exit 249; }
	done
	# This machine's Debian sources (the mirror it reaches), for the base and for apt inside the build.
	sources=$(grep -lE '^(URIs:|deb ).*debian' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -n 1)
	[ -n "$sources" ] || die "no Debian apt sources on this machine"
	mmdebstrap --variant=apt --quiet bookworm "$TMPD/rootfs.tar" "$sources" >"$TMPD/mmdebstrap.log" 2>&1 ||
		die "mmdebstrap: $(tail -n 5 "$TMPD/mmdebstrap.log")"
	podman import "$TMPD/rootfs.tar" "$base" >/dev/null || die "podman import"
	rm -f "$TMPD/rootfs.tar"
	make -s -C "$ROOT" image IMAGE="$img" IMAGE_BASE="$base" \
		IMAGE_BUILD_FLAGS="--network=host --isolation=chroot" >"$TMPD/build.log" 2>&1 ||
		die "make image: $(tail -n 20 "$TMPD/build.log")"
	# What the DaemonSet relies on.
	out=$(podman image inspect "$img" --format '{{json .Config.Entrypoint}} {{index .Config.Labels "org.opencontainers.image.version"}}')
	expect_eq "$out" "[\"/usr/sbin/portslice\"] $(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version)" "entrypoint and version"
	dir=$(podman image mount "$img") || die "podman image mount"
	expect_eq "$(chroot "$dir" dpkg-query -W -f='${Status}' portslice)" "install ok installed" "the package in the image"
	expect_eq "$(chroot "$dir" ldd /usr/sbin/portslice | grep -c 'not found')" 0 "libraries missing in the image"
	# The image's binary on this host's kernel, with only the pod's capabilities.
	caps=$(python3 -c 'import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"]
print(",".join("+" + x.lower() for x in c))' "$ROOT/deploy/kubernetes/daemonset.yaml")
	out=$(unshare -m sh -c 'd=$1
		mount --rbind /proc "$d/proc" && mount --rbind /sys "$d/sys" && mount -t tmpfs tmpfs "$d/run" &&
		exec chroot "$d" setpriv --bounding-set="-all,$2" -- /usr/sbin/portslice doctor' _ "$dir" "$caps" 2>&1) ||
		die "doctor in the image with $caps: $out"
	expect_match "$(printf '%s\n' "$out" | tail -n 1)" ' 0 failure' "doctor in the image"
}
