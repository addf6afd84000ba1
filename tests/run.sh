#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Runs every t_* function of tests/*/test_*.sh (or of the files given), each
# in its own subshell with its own namespaces, cgroups and pins, cleaned up
# however it ends. Prints TAP-like lines and a closing "N passed, N failed".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

files=("$@")
[ ${#files[@]} -gt 0 ] || files=(tests/*/test_*.sh)
filter=${TEST_FILTER:-}

# A case that runs longer hangs: the longest take under 2 min on a normal
# machine. TEST_TIME_SCALE stretches it as it stretches every wait.
scale=${TEST_TIME_SCALE:-1}
[[ $scale =~ ^[1-9][0-9]*$ ]] || scale=1
limit=${TEST_TIMEOUT:-$((300 + 100 * (scale - 1)))}

passed=0 failed=0 skipped=0
failures=()
for f in "${files[@]}"; do
	[ -f "$f" ] || continue
	cases=$(bash -c "source '$f'; declare -F" | awk '$3 ~ /^t_/ { print $3 }')
	for t in $cases; do
		name="$(basename "$f" .sh):$t"
		[ -z "$filter" ] || [[ "$name" == *$filter* ]] || continue
		log=$(mktemp /tmp/pstest-log.XXXXXX)
		start=$(date +%s)
		# A test that hangs is ended; its EXIT trap still cleans up (up to a minute:
		# reap waits 5 s, the leftover sweep 5 s, each cgroup 5 s, times TEST_TIME_SCALE).
		timeout -k 60 "$limit" bash -c '
			set -u
			source tests/lib.sh
			source "$1"
			trap cleanup EXIT
			trap "timed_out \"\$BASH_COMMAND\"; exit 143" TERM INT
			"$2"' _ "$f" "$t" >"$log" 2>&1
		rc=$?
		secs=$(( $(date +%s) - start ))
		if [ $rc -eq 0 ]; then
			passed=$((passed + 1)); echo "ok - $name (${secs}s)"
		elif [ $rc -eq 249 ]; then
			skipped=$((skipped + 1)); echo "ok - $name # SKIP $(tail -n 1 "$log")"
		else
			failed=$((failed + 1)); failures+=("$name")
			echo "not ok - $name (${secs}s)"
			sed 's/^/    /' "$log" | tail -n 40
			# 137: SIGKILL a minute after the timeout, cleanup cut short.
			[ $rc -ne 137 ] || echo "    its cleanup did not finish: namespaces, cgroups or pins named pstest* may be left"
		fi
		rm -f "$log"
	done
done
[ ${#failures[@]} -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
