#!/bin/sh
# FIDO2 assertion verification cost per algorithm (es256, eddsa, rs256): vg_assertion_verify,
# what vigild spends per step-up on the signature, against OpenSSL verifying the same
# signature with a pre-parsed key, measured in the same run (ratio = vigil's overhead).
# Assertions are made by softfido through real libfido2.
# Reproduce: make bench, or: BUILD=build bench/fido.sh [ITERATIONS]
set -eu
: "${BUILD:=build}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/$BUILD"
N=${1:-2000}
[ -f "$BIN/libvigil.a" ] && [ -f "$BIN/libsoftfido.a" ] || { echo "bench/fido.sh: build first (make BUILD=$BUILD)"; exit 1; }
W=$(mktemp -d /tmp/vigil-bench-fido.XXXXXX)
trap 'rm -rf "$W"' EXIT INT TERM
B="$BIN/bench/fido_bench"
if [ ! -x "$B" ]; then
	B="$W/fido_bench"
	# shellcheck disable=SC2046
	${CC:-cc} -std=gnu11 -O2 -D_GNU_SOURCE -I"$ROOT/include" -o "$B" "$ROOT/bench/fido_bench.c" \
		"$BIN/libvigil.a" "$BIN/libsoftfido.a" -lfido2 -lcbor $(pkg-config --libs jansson openssl)
fi
echo "== fido: assertion verification (reproduce: BUILD=$BUILD bench/fido.sh $N)"
"$B" "$W" "$N"
