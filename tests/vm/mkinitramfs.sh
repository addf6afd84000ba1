#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# mkinitramfs.sh MODROOT RELEASE OUT
#
# Builds the small initramfs every kernel of the matrix boots with: a static
# busybox, tests/vm/init, and the modules the kernel needs to reach the
# host's root (9p over virtio, overlayfs, the virtio console), taken from
# MODROOT/lib/modules/RELEASE (an unpacked Debian package, or / for the
# running kernel) with their dependencies, decompressed, in load order.
# Modules the kernel has built in are skipped. For danobi/vmtest, which
# boots without our /init's 9p root, it also carries the modules the tests
# load (veth, bridge, ...): see "vmtest mode" in tests/vm/init.
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: $0 MODROOT RELEASE OUT" >&2; exit 2; }
modroot=$1 rel=$2 out=$3
here=$(cd "$(dirname "$0")" && pwd)
busybox=${BUSYBOX:-/bin/busybox}

# Needed to mount the root (loaded by /init in this order, every mode).
BOOT_MODULES="virtio_pci virtio_console 9pnet_virtio 9p overlay"
# Loaded only in vmtest mode, where the guest has no /lib/modules to load
# them on demand: what the test suite asks the kernel for.
TEST_MODULES="veth bridge dummy ipip ip6_tunnel sch_ingress cls_bpf act_bpf
	inet_diag tcp_diag udp_diag af_alg algif_hash"

file "$busybox" 2>/dev/null | grep -q 'statically linked' ||
	{ echo "$busybox is not a static busybox: apt-get install busybox-static" >&2; exit 1; }
moddir=$modroot/lib/modules/$rel
[ -d "$moddir" ] || moddir=$modroot/usr/lib/modules/$rel
[ -d "$moddir" ] || { echo "no modules of $rel under $modroot" >&2; exit 1; }

stage=$(mktemp -d "${TMPDIR:-/tmp}/psvm-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,newroot,lower,rw,mod}
cp "$busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
cp "$here/init" "$stage/init"
chmod 755 "$stage/init"
# The kernel opens /dev/console for /init before anything is mounted.
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true

# add_modules LIST FILE: every module of LIST with its dependencies, first
# dependencies first, each once, into $stage/mod; their names into FILE.
declare -A seen=()
add_modules() {
	local m line path base
	: > "$2"
	for m in $1; do
		# --show-depends prints "insmod PATH [OPTIONS]" or "builtin NAME".
		while read -r line; do
			case $line in
			insmod\ *) ;;
			builtin\ *) continue ;;
			*) echo "modprobe: $line" >&2; exit 1 ;;
			esac
			path=$(echo "$line" | awk '{ print $2 }')
			base=$(basename "$path")
			base=${base%.xz}; base=${base%.zst}; base=${base%.gz}
			[ -z "${seen[$base]:-}" ] || continue
			seen[$base]=1
			case $path in
			*.xz) xz -dc "$path" > "$stage/mod/$base" ;;
			*.zst) zstd -qdc "$path" > "$stage/mod/$base" ;;
			*.gz) gzip -dc "$path" > "$stage/mod/$base" ;;
			*) cp "$path" "$stage/mod/$base" ;;
			esac
			echo "$base" >> "$2"
		done < <(modprobe -d "$modroot" -S "$rel" --show-depends "$m" 2>&1)
	done
}
# modules.dep must exist: an unpacked .deb has none (fetch-kernel.sh runs depmod).
[ -e "$moddir/modules.dep" ] || { echo "no modules.dep in $moddir: run depmod -b $modroot $rel" >&2; exit 1; }
add_modules "$BOOT_MODULES" "$stage/mod/boot.list"
# Test modules are optional: a kernel without one just lacks it in vmtest mode.
tmods=""
for m in $TEST_MODULES; do
	if modprobe -d "$modroot" -S "$rel" --show-depends "$m" >/dev/null 2>&1; then tmods="$tmods $m"; fi
done
add_modules "$tmods" "$stage/mod/test.list"
echo "$rel" > "$stage/release"

mkdir -p "$(dirname "$out")"
# Uncompressed: under TCG the kernel unpacks it faster than it would inflate it.
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$out.tmp"
mv -f "$out.tmp" "$out"
