#!/bin/sh
# Policy apply benchmark (issue 17): time to apply an egress bundle of 100k and 1M rules through
# `vigilctl policy push`, split into vigild's own steps (its log line), and vigild's peak memory.
# The baseline in the same run: reading the bundle file and parsing it with python's json module.
# Reproduce: sudo make bench BENCH=policy_apply, or: sudo BUILD=build bench/policy_apply.sh
# Targets: 100k rules < 0.5 s and < 100 MB; 1M rules < 3 s and < 300 MB.
set -eu
: "${BUILD:=build}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
BIN="$ROOT/$BUILD"
SIZES=${APPLY_BENCH_SIZES:-100000 1000000}
[ "$(id -u)" = 0 ] || { echo "bench/policy_apply.sh: skipped (needs root)"; exit 0; }
[ -x "$BIN/vigild" ] || { echo "bench/policy_apply.sh: build first (make BUILD=$BUILD)"; exit 1; }
[ -x /usr/bin/python3 ] && PATH="/usr/bin:$PATH"
W=$(mktemp -d /tmp/vigil-bench-apply.XXXXXX)
CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG="$CGROOT/vigil-bench-apply-$$"
PINS="/sys/fs/bpf/vigil-bench-apply-$$"
VPID=""
cleanup() {
	[ -n "$VPID" ] && kill "$VPID" 2>/dev/null && wait "$VPID" 2>/dev/null
	rm -rf "$PINS"
	rmdir "$CG/t" "$CG" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT INT TERM
mkdir -p "$CG/t"

gen() { # gen N OUT: a tenant with N distinct /32 rules (tcp 443)
	python3 - "$1" "$2" "/vigil-bench-apply-$$/t" "$ROOT/examples/bundle.json" <<'PY'
import json, sys
n, out, cg, example = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
b = json.load(open(example))
rules = [{"id": 10 + i, "cidr": "10.%d.%d.%d/32" % (16 + i // 65536, (i // 256) % 256, i % 256), "proto": "tcp",
          "ports": ["443"]} for i in range(n)]
b["tenants"] = [{"name": "t", "id": 1, "mode": "enforce", "cgroups": [cg], "egress": rules}]
b["shared_services"] = []
json.dump(b, open(out, "w"))
PY
}

echo "== policy apply: egress bundle pushed with vigilctl policy push ($(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg))"
for n in $SIZES; do
	gen "$n" "$W/t$n.json"
	s=$(date +%s%N)
	python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$W/t$n.json"
	py_ms=$(( ($(date +%s%N) - s) / 1000000 ))
	bench_vigild_start
	first=$(bench_push "$W/t$n.json")
	hwm1=$(awk '/VmHWM/ { print $2 }' "/proc/$VPID/status")
	BENCH_VER=$((BENCH_VER + 1)) # bench_push ran in a subshell: its increment is lost
	second=$(bench_push "$W/t$n.json")
	BENCH_VER=$((BENCH_VER + 1))
	hwm2=$(awk '/VmHWM/ { print $2 }' "/proc/$VPID/status")
	rss=$(awk '/VmRSS/ { print $2 }' "/proc/$VPID/status")
	printf '%-24s first %6d ms, replace %6d ms; vigild peak %d MB (after replace %d MB, now %d MB); python json.load %d ms; %d KB\n' \
		"$n rules" "$first" "$second" $((hwm1 / 1024)) $((hwm2 / 1024)) $((rss / 1024)) "$py_ms" \
		$(( $(stat -c %s "$W/b.json") / 1024 ))
	grep -o 'applied [0-9]* ms after receipt.*' "$W/vigild.log" | tail -n 1 | sed 's/^/      vigild: /'
	grep -o 'compiled in [0-9]* ms, kernel maps filled in [0-9]* ms' "$W/vigild.log" | tail -n 1 | sed 's/^/      enforce: /'
	bench_result "policy_apply.${n}_rules_replace_vs_python_json_load" "$(python3 -c "print($second / max($py_ms, 1))")" lower \
		"python3 json.load of the same bundle, same run" "make bench BENCH=policy_apply"
	bench_vigild_stop
done
echo "reproduce: sudo make bench BENCH=policy_apply"
