#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make test: the unit tests (cmocka), then every shell test; one closing
# line adds them up.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUTPUT=${OUTPUT:-build}

passed=0 failed=0
echo "== unit tests"
for bin in "$OUTPUT"/tests/test_*; do
	[ -x "$bin" ] || continue
	out=$("$bin" 2>&1)
	rc=$?
	echo "$out" | grep -E '^\[ *(RUN|  OK|FAILED|PASSED|==========) *\]' | grep -vE '^\[ (RUN|      OK) ' || true
	p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
	f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ $rc -ne 0 ] && [ -z "$f" ]; then
		failed=$((failed + 1))
		echo "$out" | tail -n 20
	fi
	[ $rc -eq 0 ] || echo "$out" | grep -E 'FAILED|Failure|error' | head -n 20
done

echo "== system tests (namespaces, cgroups, real sockets)"
if [ "$(id -u)" != 0 ]; then
	echo "system tests need root: they load BPF programs and create namespaces" >&2
	failed=$((failed + 1))
else
	out=$(mktemp /tmp/pstest-run.XXXXXX)
	tests/run.sh | tee "$out"
	line=$(tail -n 1 "$out")
	rm -f "$out"
	p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
	f=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
	[ -n "$p" ] || { f=1; p=0; echo "the system test runner ended without a summary" >&2; }
	passed=$((passed + p))
	failed=$((failed + f))
fi
echo "total: $passed passed, $failed failed"
[ $failed -eq 0 ]
