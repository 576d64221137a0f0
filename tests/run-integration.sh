#!/bin/sh
# Run every tests/integration/t_*.sh (as root), each with a time limit.
# Exit 0 = pass, 77 = skipped (the test prints why), anything else = fail.
# ONLY=pattern runs a subset.
: "${BUILD:=build}"
export BUILD
here=$(cd "$(dirname "$0")" && pwd)
default_limit=${TEST_TIMEOUT:-600}
pass=0 fail=0 skip=0 failed="" skipped=""
start_all=$(date +%s)
for t in "$here"/integration/t_*.sh; do
	name=$(basename "$t" .sh)
	case "$name" in *${ONLY:-}*) ;; *) continue ;; esac
	start=$(date +%s)
	out=$(mktemp)
	# a test that builds cached artefacts on a cold machine (debootstrap roots, kernel images)
	# may declare a longer limit in a "# timeout: SECONDS" line of its own
	limit=$default_limit
	tl=$(sed -n 's/^# timeout: *\([0-9][0-9]*\)$/\1/p' "$t" | head -n 1)
	[ -n "${TEST_TIMEOUT:-}" ] || [ -z "$tl" ] || limit=$tl
	timeout --kill-after=10 "$limit" sh "$t" >"$out" 2>&1
	rc=$?
	dur=$(( $(date +%s) - start ))
	case $rc in
	0) pass=$((pass + 1)); echo "PASS  $name (${dur}s)" ;;
	77) skip=$((skip + 1)); skipped="$skipped $name"; echo "SKIP  $name (${dur}s): $(grep -m1 SKIPPED "$out")" ;;
	*) fail=$((fail + 1)); failed="$failed $name"
	   echo "FAIL  $name (${dur}s, exit $rc)"; sed 's/^/    | /' "$out" | tail -n 60 ;;
	esac
	rm -f "$out"
done
echo "== integration: $pass passed, $fail failed, $skip skipped in $(( $(date +%s) - start_all ))s${failed:+ (failed:$failed)}${skipped:+ (skipped:$skipped)}"
[ "$fail" = 0 ]
