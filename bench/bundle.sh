#!/bin/sh
# Bundle load benchmark (issue 2): 100k egress rules + 100k users.
# Reproduce: sudo make bench BENCH=bundle
set -eu
: "${BUILD:=build}"
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
python3 bench/gen_bundle.py 100000 100000 "$w/b.json"
"$BUILD/vigilctl" keygen --out "$w/k" >/dev/null
"$BUILD/vigilctl" trust new --out "$w/trust.json" "$w/k.pub" >/dev/null
"$BUILD/vigilctl" policy sign --key "$w/k" "$w/b.json" >/dev/null
echo "== bench: bundle load (100k rules, 100k users)"
"$BUILD/bench/bundle_load" "$w/b.json" "$w/b.json.sig" "$w/trust.json" 3
echo "reproduce: sudo make bench BENCH=bundle"
