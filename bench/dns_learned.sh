#!/bin/sh
# Memory per 100k learned addresses (egress by name, docs/dns.md): the kernel map and vigild's
# copy, against the raw key + value bytes (bench/dns_learned_mem.c). Needs root.
: "${BUILD:=build}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "dns_learned: SKIPPED (needs root)"; exit 0; }
exec "$ROOT/$BUILD/bench/dns_learned_mem"
