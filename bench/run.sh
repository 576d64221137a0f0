#!/bin/sh
# Run every bench/<area>.sh (or only BENCH=<area>). Results go to stdout and build/bench-report.txt.
: "${BUILD:=build}"
export BUILD
cd "$(dirname "$0")/.."
report="$BUILD/bench-report.txt"
: >"$report"
for b in bench/*.sh; do
	name=$(basename "$b" .sh)
	[ "$name" = run ] && continue
	[ -n "${BENCH:-}" ] && [ "$BENCH" != "$name" ] && continue
	sh "$b" 2>&1 | tee -a "$report"
done
echo "report: $report"
