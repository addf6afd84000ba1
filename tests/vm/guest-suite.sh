#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# guest-suite.sh [ci|full]  (default: $VM_SUITE, else full)
#
# What runs inside each kernel of the matrix (vmtest.toml's command), in one
# boot, with the binaries the host built (make vmtest builds them first):
#
#   ci    the kernel-facing core: `portslice doctor`, the load and attach of
#         every program (8 cgroup hooks, XDP), the steering fixtures
#         (bpf_prog_test_run), the real-socket slice tests (TCP, connected
#         and unconnected UDP, IPv4 and IPv6, bind rules, exhaustion,
#         uniqueness under load, slices of several blocks, dynamic pools and
#         their fencing deadline), the socket paths that read the kernel's
#         own structures (IP_BIND_ADDRESS_NO_PORT, TIME_WAIT reuse, MPTCP
#         subflows, device-bound and sendto cases), upgrades in place under
#         traffic (bpf_link_update, build ids read back through BTF) and one
#         end-to-end steering run;
#   full  everything `make test` runs (tests/run-all.sh's set: every unit
#         test binary, every tests/*/test_*.sh case).
#
# Cases known to fail on a kernel for want of support are skipped there and
# listed (KNOWN below); VM_EXCLUDE="file:case ..." skips more. Ends with a
# summary; exits non-zero when anything failed.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUTPUT=${OUTPUT:-build}
suite=${1:-${VM_SUITE:-full}}
case $suite in ci|full) ;; *) echo "usage: $0 [ci|full]" >&2; exit 2 ;; esac
rel=$(uname -r)

# The ci selection: FILE CASE... (* = every case of the file).
CI_CASES="
tests/cli/test_cli.sh t_attach_pins_links_and_reports t_detach_all_removes_everything
tests/cli/test_steer_cli.sh t_steer_attach_pins_and_detach_removes
tests/sock/test_slice.sh *
tests/sock/test_bind.sh *
tests/sock/test_blocks.sh *
tests/sock/test_dynamic.sh *
tests/sock/test_paths.sh t_bind_no_port_shares_ports_tcp t_time_wait_reused_like_the_kernel t_mptcp_claims_given_back t_udp_sendto_held_tuple_refused4 t_bindtodevice_claim_kept_tcp
tests/attack/test_exhaustion.sh t_tuple_map_full_eaddrnotavail
tests/sock/test_stress.sh t_status_matches_kernel_under_load
tests/sock/test_upgrade.sh *
tests/steer/test_e2e.sh t_l2_ipv4
tests/p2p/test_p2p.sh t_bind_listen_orders t_quarantine_after_rst t_listener_close_gives_back_port
"
CI_UNITS="test_steer test_steer_attacks"

# KNOWN: kernel-release patterns (|-separated globs), file:case, why: a
# portslice gap on those kernels (keep in step with the README's kernel
# table) or a test fixture that needs a newer kernel than portslice does.
_decap="the test's tc decapsulation uses BPF_F_ADJ_ROOM_DECAP_L3_IPV4/6 (Linux 6.3+): every IP-in-IP reply is dropped"
KNOWN="
5.*|6.[0-2].* test_e2e:t_encap_ipv4 $_decap
5.*|6.[0-2].* test_e2e:t_encap_ipv6 $_decap
5.*|6.[0-2].* test_e2e:t_encap_ipv4_owner_link_down $_decap
5.*|6.[0-2].* test_e2e:t_encap_ipv6_owner_unreachable $_decap
"
# Under TCG everything runs several times slower: every wait of the tests
# for a condition, and every psnet timeout, is stretched (tests/lib.sh).
# The end-to-end steering runs carry fewer flows there: the veths drop
# packets by the thousand on an emulated CPU, and every flow is one more
# chance for TCP to give up; which host gets which reply does not change.
if [ "${VM_ACCEL:-}" = tcg ]; then
	export TEST_TIME_SCALE=${TEST_TIME_SCALE:-10}
	export E2E_TCP=${E2E_TCP:-600} E2E_UDP=${E2E_UDP:-200}
fi

tmp=$(mktemp -d /tmp/psvm-suite.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
declare -a steps=()
failed=0

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }
record() { # NAME RESULT SECONDS
	steps+=("$(printf '%-34s %-28s %6ss' "$1" "$2" "$3")")
}

echo "== kernel $rel ($(uname -m), ${VM_ACCEL:-no VM}, time scale ${TEST_TIME_SCALE:-1}), suite $suite, $(nproc) CPUs, $(awk '/MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo)"
for b in portslice tests/psnet tests/psattack tests/test_steer; do
	[ -x "$OUTPUT/$b" ] || { echo "missing $OUTPUT/$b: build on the host first (make vmtest does)" >&2; exit 1; }
done

echo "== portslice doctor --json"
t=$(now)
"$OUTPUT/portslice" doctor --json 2>&1
rc=$?
echo "(doctor exit status $rc; not counted)"
record "doctor" "exit $rc (informational)" "$(secs "$t" "$(now)")"

# Exclusions that apply to this kernel.
excl=" ${VM_EXCLUDE:-} "
while read -r pats id why; do
	[ -n "${pats:-}" ] || continue
	IFS='|' read -ra pat <<< "$pats"
	for p in "${pat[@]}"; do
		# shellcheck disable=SC2053
		if [[ $rel == $p ]]; then
			excl="$excl $id "
			echo "   skipping $id on $rel: $why"
			break
		fi
	done
done <<< "$KNOWN"

# unit BIN...: cmocka binaries; counts their cases.
unit_pass=0 unit_fail=0
unit() {
	local b out rc p f t
	for b in "$@"; do
		[ -x "$b" ] || continue
		t=$(now)
		out=$("$b" 2>&1)
		rc=$?
		p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
		f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
		[ $rc -eq 0 ] || [ -n "$f" ] || f=1
		unit_pass=$((unit_pass + ${p:-0})) unit_fail=$((unit_fail + ${f:-0}))
		if [ $rc -ne 0 ]; then
			echo "$out" | grep -E 'FAILED|Failure|error|\[  ERROR' | head -n 40
			echo "not ok - $(basename "$b") (exit $rc)"
			failed=1
		else
			echo "ok - $(basename "$b"): ${p:-0} cases"
		fi
		record "$(basename "$b")" "${p:-0} passed, ${f:-0} failed" "$(secs "$t" "$(now)")"
	done
}

# select FILE CASES: a copy of test file FILE that keeps only CASES (* =
# all) minus the exclusions, for tests/run.sh (which names cases by the
# file's base name, so the copy keeps it). Prints the file to run.
select_cases() {
	local f=$1 keep=$2 base c drop=""
	base=$(basename "$f" .sh)
	for c in $(bash -c "source '$f'; declare -F" | awk '$3 ~ /^t_/ { print $3 }'); do
		if [ "$keep" != "*" ] && [[ " $keep " != *" $c "* ]]; then
			drop="$drop $c"
		elif [[ $excl == *" $base:$c "* ]]; then
			drop="$drop $c"
			echo "   excluded: $base:$c" >&2
		fi
	done
	[ -z "$drop" ] && { echo "$f"; return; }
	mkdir -p "$tmp/sel/${f%/*}"
	{
		printf 'source %q\n' "$ROOT/$f"
		printf 'unset -f%s\n' "$drop"
	} > "$tmp/sel/$f"
	echo "$tmp/sel/$f"
}

# cases SPEC: run the selected shell cases in one tests/run.sh.
sh_pass=0 sh_fail=0 sh_skip=0
cases() {
	local files=() f keep line t last
	while read -r f keep; do
		[ -n "${f:-}" ] || continue
		files+=("$(select_cases "$f" "$keep")")
	done <<< "$1"
	t=$(now)
	tests/run.sh "${files[@]}" | tee "$tmp/run.out"
	last=$(tail -n 1 "$tmp/run.out")
	if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped ]]; then
		sh_pass=${BASH_REMATCH[1]} sh_fail=${BASH_REMATCH[2]} sh_skip=${BASH_REMATCH[3]}
	else
		sh_fail=1
		echo "tests/run.sh ended without a summary"
	fi
	[ "$sh_fail" = 0 ] || failed=1
	record "shell tests (tests/run.sh)" "$sh_pass passed, $sh_fail failed" "$(secs "$t" "$(now)")"
	grep '^ok - ' "$tmp/run.out" | sed -n 's/^ok - \([^ ]*\) (\([0-9]*s\))$/\2 \1/p' |
		sort -rn | head -n 5 | sed 's/^/   slowest: /'
}

T0=$(now)
if [ "$suite" = ci ]; then
	echo "== steering fixtures (cmocka, bpf_prog_test_run)"
	unit $(for u in $CI_UNITS; do echo "$OUTPUT/tests/$u"; done)
	echo "== attach, slice, exhaustion, stress and steering cases"
	cases "$CI_CASES"
else
	echo "== unit tests (every $OUTPUT/tests/test_*)"
	unit "$OUTPUT"/tests/test_*
	echo "== system tests (every tests/*/test_*.sh case)"
	cases "$(for f in tests/*/test_*.sh; do echo "$f *"; done)"
fi

[ -r /proc/modules ] && echo "== loaded modules: $(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')"
echo "== summary: kernel $rel, suite $suite"
printf '   %s\n' "${steps[@]}"
echo "   unit cases: $unit_pass passed, $unit_fail failed; shell cases: $sh_pass passed, $sh_fail failed, $sh_skip skipped; $(secs "$T0" "$(now)")s"
[ -z "${excl// /}" ] || echo "   excluded here:$excl"
if [ $failed -ne 0 ]; then
	echo "== FAILED on $rel"
	exit 1
fi
echo "== PASSED on $rel"
