#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# fetch-kernel.sh NAME DIR
#
# Puts kernel NAME of the matrix into DIR, unless DIR already has it:
#   DIR/vmlinuz   the kernel image (what vmtest.toml's `kernel` names)
#   DIR/release   its release (uname -r)
#   DIR/modroot   the root its modules are under (lib/modules/RELEASE),
#                 relative to DIR
#   DIR/package   the Debian package and version it came from
#
# NAME is
#   X.Y        Debian's newest linux-image-X.Y...-amd64 (6.1: bookworm's
#              own kernel, 6.12: bookworm's backported one), looked up in
#              the apt lists now, since the archive renames them over time;
#   RELEASE    e.g. 6.1.0-56-amd64: exactly linux-image-RELEASE;
#   running    the kernel running now, from /boot and /lib/modules; exits 3
#              when /boot has no image of it.
# Packages are downloaded with apt-get download and unpacked with dpkg-deb
# -x into DIR/root (never installed); depmod indexes the unpacked copy.
# PS_VM_REFRESH=1 looks NAME up again and replaces a different cached one.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 NAME DIR" >&2; exit 2; }
name=$1 dir=$2
arch=amd64
[ "$(uname -m)" = x86_64 ] || { echo "the kernel matrix supports x86_64 hosts only" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if [ "$name" = running ]; then
	rel=$(uname -r)
	img=/boot/vmlinuz-$rel
	[ -r "$img" ] || { echo "no image of the running kernel $rel in /boot" >&2; exit 3; }
	ln -sfn "$img" "$dir/vmlinuz"
	echo "$rel" > "$dir/release"
	echo / > "$dir/modroot"
	echo "running kernel $rel ($img)" > "$dir/package"
	exit 0
fi

cached_pkg=$(cat "$dir/package" 2>/dev/null || true)
if [ -e "$dir/vmlinuz" ] && [ -s "$dir/release" ] && [ -z "${PS_VM_REFRESH:-}" ]; then
	exit 0
fi

# candidates: the matching image packages of the apt lists, newest first.
candidates() {
	local re
	if [[ $name =~ ^[0-9]+\.[0-9]+$ ]]; then
		re="^linux-image-${name//./\\.}[.-][0-9].*-$arch\$"
	else
		re="^linux-image-${name//./\\.}\$"
	fi
	apt-cache search --names-only "$re" | awk '{ print $1 }' |
		grep -vE -- "-(cloud|rt|dbg|unsigned)-$arch\$" |
		sed "s/^linux-image-//" | sort -rV
}
list=$(candidates)
if [ -z "$list" ]; then
	echo "  VM       apt lists have no linux-image for $name: apt-get update" >&2
	apt-get update -qq >/dev/null 2>&1 || true
	list=$(candidates)
fi
[ -n "$list" ] || { echo "no Debian package linux-image-$name*-$arch in the apt lists" >&2; exit 1; }

dl=$(mktemp -d "${TMPDIR:-/tmp}/psvm-deb.XXXXXX")
trap 'rm -rf "$dl"' EXIT
chmod 755 "$dl" # apt's _apt user downloads into it when it can
got=
for rel in $list; do
	pkg=linux-image-$rel
	ver=$(apt-cache policy "$pkg" | awk '$1 == "Candidate:" { print $2 }')
	if [ -n "$cached_pkg" ] && [ "$cached_pkg" = "$pkg $ver" ] && [ -e "$dir/vmlinuz" ]; then
		exit 0 # refresh found what is cached
	fi
	echo "  VM       downloading $pkg $ver"
	if (cd "$dl" && apt-get download -q "$pkg" >/dev/null 2>"$dl/err"); then
		got=$rel
		break
	fi
	echo "  VM       cannot download $pkg: $(grep -v '^W:' "$dl/err" | tail -n 1)" >&2
done
[ -n "$got" ] || { echo "no linux-image package for $name could be downloaded" >&2; exit 1; }

rm -rf "$dir/root.new"
dpkg-deb -x "$dl"/linux-image-"$got"_*.deb "$dir/root.new"
img=$dir/root.new/boot/vmlinuz-$got
[ -r "$img" ] || { echo "linux-image-$got has no /boot/vmlinuz-$got" >&2; exit 1; }
depmod -b "$dir/root.new" "$got"
rm -rf "$dir/root" "$dir/vmlinux" "$dir/initramfs.cpio"
mv "$dir/root.new" "$dir/root"
ln -sfn "root/boot/vmlinuz-$got" "$dir/vmlinuz"
echo "$got" > "$dir/release"
echo root > "$dir/modroot"
echo "linux-image-$got $ver" > "$dir/package"
