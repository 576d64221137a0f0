#!/bin/sh
# Run every cmocka unit test binary in BUILD/tests/test_*; print their summaries; fail if any fails.
build=${1:-build}
fail=0
n=0
for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	n=$((n + 1))
	echo "== unit: $(basename "$t")"
	if ! "$t"; then
		echo "!! unit test FAILED: $t"
		fail=$((fail + 1))
	fi
done
echo "== unit tests: $n binaries, $fail failed"
[ "$fail" = 0 ]
