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

# A vigild of the bench's own (benches that load BPF: enforce, egress_tput). The caller sets
# W (work dir), BIN (build dir), PINS (its own bpffs dir) and ROOT; VPID is the daemon's pid.
# bench_vigild_start [EXTRA CONFIG LINE]; BENCH_VIGILD_NETNS=NAME runs it in that network namespace
bench_vigild_start() {
	mkdir -p "$W/state" "$W/run" "$W/keys"
	cat >"$W/vigild.conf" <<EOC
state_dir = $W/state
run_dir = $W/run
socket = $W/run/vigil.sock
bpffs_dir = $PINS
trust_file = $W/trust.json
inbox_dir =
nss_cache_dir = $W/state/nss
breakglass_spool = $W/state/breakglass.spool
hostname = testhost
enforce = true
metrics_textfile =
max_bundle_bytes = 268435456
${1:-}
EOC
	[ -f "$W/keys/k" ] || {
		"$BIN/vigilctl" keygen --out "$W/keys/k" >/dev/null
		"$BIN/vigilctl" trust new --out "$W/trust.json" --version 1 --threshold 1 "$W/keys/k.pub" >/dev/null
	}
	${BENCH_VIGILD_NETNS:+nsenter --net="/run/netns/$BENCH_VIGILD_NETNS"} \
		"$BIN/vigild" -c "$W/vigild.conf" --foreground >>"$W/vigild.log" 2>&1 &
	VPID=$!
	_i=0
	until [ -S "$W/run/vigil.sock" ]; do
		_i=$((_i + 1)); [ $_i -gt 300 ] && { tail "$W/vigild.log"; exit 1; }; sleep 0.1
	done
}
# stop it and remove its pins: nothing of vigil stays attached (the no-BPF baseline)
bench_vigild_stop() {
	kill "$VPID"; wait "$VPID" 2>/dev/null || true; VPID=""
	rm -rf "$PINS" "$W/state" "$W/run"
	: >"$W/vigild.log"
}
bench_ctl() { "$BIN/vigilctl" -s "$W/run/vigil.sock" --timeout 600000 "$@"; }
# bench_push TEMPLATE: sign a fresh version of TEMPLATE and push it; prints the push's milliseconds
BENCH_VER=2
bench_push() {
	python3 "$ROOT/tests/integration/mkbundle.py" --version "$BENCH_VER" --out "$W/b.json" --from "$1"
	"$BIN/vigilctl" policy sign --key "$W/keys/k" "$W/b.json" >/dev/null
	BENCH_VER=$((BENCH_VER + 1))
	_s=$(date +%s%N)
	bench_ctl policy push "$W/b.json" >/dev/null
	echo $(( ($(date +%s%N) - _s) / 1000000 ))
}
