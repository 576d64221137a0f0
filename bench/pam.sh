#!/bin/sh
# Step-up benchmark: machine-side latency of a step-up (elevation.check + challenge + assert:
# signature and counter check, fresh posture collection, grant persisted and published to NSS,
# audit events), the touch excluded, p50 and p99 over ROUNDS; the baseline measured in the same
# run is a `status` control-socket round trip. Target: p99 under 20 ms.
# Reproduce: sudo make bench, or: sudo BUILD=build bench/pam.sh [ROUNDS]
set -eu
: "${BUILD:=build}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/$BUILD"
ROUNDS=${1:-200}
[ "$(id -u)" = 0 ] || { echo "bench/pam.sh: skipped (needs root: vigild, posture collectors)"; exit 0; }
[ -x "$BIN/vigild" ] && [ -x "$BIN/vigilctl" ] && [ -x "$BIN/bench/pam_bench" ] ||
	{ echo "bench/pam.sh: build first (make BUILD=$BUILD)"; exit 1; }
W=$(mktemp -d /tmp/vigil-bench-pam.XXXXXX)
PID=""
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

mkdir -p "$W/state" "$W/run" "$W/keys"
cat >"$W/vigild.conf" <<EOC
state_dir = $W/state
run_dir = $W/run
socket = $W/run/vigil.sock
trust_file = $W/trust.json
inbox_dir =
nss_cache_dir = $W/state/nss
breakglass_spool = $W/state/breakglass.spool
hostname = testhost
enforce = false
metrics_textfile =
EOC
"$BIN/vigilctl" keygen --out "$W/keys/sec.key" >/dev/null
"$BIN/vigilctl" trust new --out "$W/trust.json" --version 1 --threshold 1 "$W/keys/sec.key.pub" >/dev/null
cred=$("$BIN/bench/pam_bench" enroll "$W/cred.key")
python3 "$ROOT/tests/integration/mkbundle.py" --version 1 --out "$W/b.json" --set environment='"dev"' \
	--set "identity.users.0.credentials=[$cred]"
"$BIN/vigilctl" policy sign --key "$W/keys/sec.key" "$W/b.json" >/dev/null
"$BIN/vigild" -c "$W/vigild.conf" --foreground >"$W/vigild.log" 2>&1 &
PID=$!
i=0
until [ -S "$W/run/vigil.sock" ]; do
	i=$((i + 1))
	[ $i -le 100 ] || { cat "$W/vigild.log"; exit 1; }
	sleep 0.1
done
"$BIN/vigilctl" -s "$W/run/vigil.sock" policy push "$W/b.json" >/dev/null
echo "== pam: machine-side step-up latency ($ROUNDS rounds, $(nproc) CPUs)"
"$BIN/bench/pam_bench" run "$W/run/vigil.sock" "$W/cred.key" "$ROUNDS"
echo "reproduce: sudo BUILD=$BUILD bench/pam.sh $ROUNDS"
