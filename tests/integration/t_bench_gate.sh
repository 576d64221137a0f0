#!/bin/sh
# The benchmark regression gate (docs/benchmarks.md): ratios more than 10% worse than
# bench/baseline.json fail with the measure, both values and the command to reproduce;
# better or within 10% passes; a measure not run is reported, not failed; malformed
# result lines are errors naming the line. Also: the committed baseline is well-formed.
. "$(dirname "$0")/lib.sh"
G="$ROOT/tools/bench-gate"
res() { printf 'bench-result: {"measure": "%s", "value": %s, "better": "%s", "baseline": "b", "reproduce": "make bench BENCH=%s"}\n' "$@"; }

{ echo "== some bench"; res a.up 2.0 higher a; res b.down 1.0 lower b; res c.other 5 higher c; } >"$T/report1"
"$G" --collect "$T/report1" "$T/base.json" >/dev/null
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert set(d["results"]) == {"a.up","b.down","c.other"}, d' "$T/base.json"
"$G" --refresh "$T/base.json" "$T/baseline.json" >/dev/null

# within tolerance (a -5%, b +9%) and c not measured: passes
{ res a.up 1.9 higher a; res b.down 1.09 lower b; } >"$T/report2"
"$G" --collect "$T/report2" "$T/r2.json" >/dev/null
out=$("$G" "$T/r2.json" "$T/baseline.json") || fail "gate failed within tolerance: $out"
assert_contains "$out" "skip  c.other" "a measure not run is reported"
assert_contains "$out" "2 compared, 0 more than 10% worse, 1 not measured" "summary"

# a higher-is-better ratio 15% lower and a lower-is-better one 12% higher: fails, says which
{ res a.up 1.7 higher a; res b.down 1.12 lower b; res c.other 9 higher c; } >"$T/report3"
"$G" --collect "$T/report3" "$T/r3.json" >/dev/null
if out=$("$G" "$T/r3.json" "$T/baseline.json"); then fail "gate passed a 15% regression: $out"; fi
assert_contains "$out" "WORSE a.up" "higher-is-better regression named"
assert_contains "$out" "baseline          2  now        1.7" "both values printed"
assert_contains "$out" "reproduce: make bench BENCH=a" "command to reproduce printed"
assert_contains "$out" "WORSE b.down" "lower-is-better regression named"
assert_not_contains "$out" "WORSE c.other" "an improvement is not a regression"

# malformed lines and missing files are clear errors
echo 'bench-result: {"measure": "x", "value": "fast"}' >"$T/bad"
if out=$("$G" --collect "$T/bad" "$T/x.json" 2>&1); then fail "malformed result accepted"; fi
assert_contains "$out" "line 1: malformed result" "malformed line named"
if out=$("$G" "$T/none.json" "$T/baseline.json" 2>&1); then fail "missing results accepted"; fi
assert_contains "$out" "run \`make bench\` first" "missing results explained"

# the committed baseline is a results document with ratios only
python3 - "$ROOT/bench/baseline.json" <<'PY' || fail "bench/baseline.json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["results"], "empty baseline"
for m, r in d["results"].items():
    assert r["better"] in ("higher", "lower"), m
    assert float(r["value"]) > 0, m
    assert r["reproduce"].startswith("make bench"), m
PY
ok "committed baseline is well-formed"
