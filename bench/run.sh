#!/bin/sh
# Run every bench/<area>.sh (or only BENCH="<area> ..."). Human output goes to stdout and
# $BUILD/bench-report.txt; the ratios to $BUILD/bench/results.json (make bench-gate).
: "${BUILD:=build}"
export BUILD
cd "$(dirname "$0")/.."
report="$BUILD/bench-report.txt"
mkdir -p "$BUILD/bench"
: >"$report"
for b in bench/*.sh; do
	name=$(basename "$b" .sh)
	case "$name" in run | lib) continue ;; esac
	# BENCH="area ..." runs only those areas
	case " ${BENCH:-$name} " in *" $name "*) ;; *) continue ;; esac
	sh "$b" 2>&1 | tee -a "$report" | grep -v '^bench-result: '
done
python3 tools/bench-gate --collect "$report" "$BUILD/bench/results.json"
echo "report: $report"
echo "results: $BUILD/bench/results.json (compare with bench/baseline.json: make bench-gate)"
