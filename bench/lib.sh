# Sourced by bench/*.sh. One machine-readable line per measured ratio; bench/run.sh
# collects them into $BUILD/bench/results.json and `make bench-gate` compares that
# with bench/baseline.json (docs/benchmarks.md). C benchmarks print the same line
# themselves: bench-result: {"measure": ..., "value": ..., "better": ..., "baseline": ..., "reproduce": ...}
#
# bench_result MEASURE VALUE higher|lower "WHAT THE RATIO IS AGAINST" "COMMAND TO REPRODUCE"
bench_result() {
	python3 -c 'import json, sys
m, v, b, base, cmd = sys.argv[1:6]
if b not in ("higher", "lower"): sys.exit("bench_result: better must be higher or lower")
try: v = float(v)
except ValueError: sys.exit(0)  # not measured (skipped part): no result
print("bench-result: " + json.dumps({"measure": m, "value": round(v, 4), "better": b, "baseline": base, "reproduce": cmd}))' "$@"
}
