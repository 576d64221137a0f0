#!/bin/sh
# Posture benchmark: what a fresh collection costs an elevation (vg_posture_verdict with
# refresh, which the elevation module calls before every grant), measured as
# `vigilctl posture --refresh` round trips against `vigilctl posture` round trips that only
# re-evaluate the cached results (the baseline: same socket, same JSON, no collection),
# on the live host, then again with EXTRA extra processes running (the EDR check reads
# every /proc/PID/exe).
# Reproduce: sudo make bench, or: sudo BUILD=build bench/posture.sh [ROUNDS] [EXTRA]
set -eu
: "${BUILD:=build}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/$BUILD"
ROUNDS=${1:-50}
EXTRA=${2:-1000}
[ "$(id -u)" = 0 ] || { echo "bench/posture.sh: skipped (needs root: vigild reads /proc/*/exe)"; exit 0; }
[ -x "$BIN/vigild" ] && [ -x "$BIN/vigilctl" ] || { echo "bench/posture.sh: build first (make BUILD=$BUILD)"; exit 1; }
W=$(mktemp -d /tmp/vigil-bench-posture.XXXXXX)
PID="" SLEEPERS=""
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -n "$SLEEPERS" ] && kill $SLEEPERS 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

mkdir -p "$W/state" "$W/run" "$W/keys"
cat >"$W/vigild.conf" <<EOF
state_dir = $W/state
run_dir = $W/run
socket = $W/run/vigil.sock
bpffs_dir = /sys/fs/bpf/vigil-bench-$$
trust_file = $W/trust.json
inbox_dir =
nss_cache_dir = $W/state/nss
breakglass_spool = $W/state/breakglass.spool
hostname = benchhost
enforce = false
metrics_textfile =
posture_interval_s = 3600
EOF
"$BIN/vigilctl" keygen --out "$W/keys/k" >/dev/null
"$BIN/vigilctl" trust new --out "$W/trust.json" --version 1 --threshold 1 "$W/keys/k.pub" >/dev/null
python3 "$ROOT/tests/integration/mkbundle.py" --version 1 --out "$W/b.json" --set 'scope={"hosts":["benchhost"],"labels":{}}' \
	--set 'elevation.posture.prod.edr_agents=["/usr/sbin/nonexistent-edr"]' --set 'elevation.posture.prod.max_age=3600'
"$BIN/vigilctl" policy sign --key "$W/keys/k" "$W/b.json" >/dev/null
"$BIN/vigild" -c "$W/vigild.conf" --foreground >"$W/vigild.log" 2>&1 &
PID=$!
i=0
while [ ! -S "$W/run/vigil.sock" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && { cat "$W/vigild.log"; exit 1; }
	sleep 0.1
done
ctl() { "$BIN/vigilctl" -s "$W/run/vigil.sock" "$@"; }
ctl policy push "$W/b.json" >/dev/null

# ms per call of: vigilctl posture ARGS, ROUNDS times
per_call() {
	t0=$(date +%s%N)
	n=0
	while [ $n -lt "$ROUNDS" ]; do
		ctl posture "$@" >/dev/null || true
		n=$((n + 1))
	done
	t1=$(date +%s%N)
	echo "$(( (t1 - t0) / ROUNDS / 1000 ))"
}

report() {
	cached=$(per_call)
	fresh=$(per_call --refresh)
	procs=$(ls -d /proc/[0-9]* 2>/dev/null | wc -l)
	awk -v c="$cached" -v f="$fresh" -v p="$procs" -v label="$1" 'BEGIN {
		printf "  %-26s %5d processes: cached %7.2f ms, refresh %7.2f ms, ratio %.2fx, collection ~%.2f ms\n",
			label, p, c / 1000, f / 1000, f / c, (f - c) / 1000 }'
}

echo "== posture: $ROUNDS round trips each (vigilctl posture vs vigilctl posture --refresh)"
report "live host"
n=0
while [ $n -lt "$EXTRA" ]; do
	sleep 600 &
	SLEEPERS="$SLEEPERS $!"
	n=$((n + 1))
done
report "live host + $EXTRA sleepers"
echo "  reproduce: sudo BUILD=$BUILD bench/posture.sh $ROUNDS $EXTRA"
