#!/bin/sh
# Remote step-up: cost of verifying one pasted WebAuthn answer (decode code and answer,
# rebuild authenticatorData and clientDataJSON, check them, signature) against the ES256 signature check alone,
# measured in the same run (ratio = what the relay adds).
# Reproduce: make bench BENCH=webauthn, or: BUILD=build bench/webauthn.sh [ITERATIONS]
set -eu
: "${BUILD:=build}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B="$ROOT/$BUILD/bench/webauthn_bench"
[ -x "$B" ] || { echo "bench/webauthn.sh: build first (make BUILD=$BUILD)"; exit 1; }
N=${1:-3000}
echo "== webauthn: relay answer verification (reproduce: BUILD=$BUILD bench/webauthn.sh $N)"
"$B" "$N"
