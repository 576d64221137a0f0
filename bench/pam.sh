#!/bin/sh
# Step-up benchmark: machine-side latency of a step-up (elevation.check + challenge + assert:
# signature and counter check, fresh posture collection; commit: grant persisted and published
# to NSS, audit events), the touch excluded, p50 and p99 over ROUNDS; the baseline measured in
# the same run is a `status` control-socket round trip. Target: p99 under 20 ms.
# With a test build (softfido) it also times whole pamtester runs (authenticate + setcred)
# through a pam_vigil stack against pamtester through pam_permit and pam_unix, same run.
# Reproduce: sudo make bench, or: sudo BUILD=build-th bench/pam.sh [ROUNDS]
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
# pamtester part: only a test build's module can use the software key
PT=""
if command -v pamtester >/dev/null && [ -x "$BIN/tests/softfido-ctl" ] && { nm -D "$BIN/pam_vigil.so"; nm "$BIN/pam_vigil.so"; } 2>/dev/null | grep -q softfido; then
	"$BIN/tests/softfido-ctl" create "$W/sf.state" >/dev/null
	cred="$cred, $(VIGIL_TEST_SOFTFIDO="$W/sf.state" "$BIN/vigilctl" --json enroll --user alice --rp-id vigil.example.com)"
	PT=1
fi
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

if [ -z "$PT" ]; then
	echo "pamtester comparison: skipped (needs pamtester and a test build: BUILD=build-th, make TESTHOOKS=1)"
	echo "reproduce: sudo BUILD=$BUILD bench/pam.sh $ROUNDS"
	exit 0
fi
# pamtester through three stacks (pam_vigil as "sudo", a service the bundle protects),
# interleaved, in a private mount namespace with a test pam.d and
# a password for alice: pam_vigil (reason, software-key touch, assert, setcred commit), pam_permit,
# pam_unix (SHA-512 crypt). Each round revokes alice's grant (untimed) so every step-up is whole.
mkdir -p "$W/pam.d"
printf 'auth [success=done ignore=ignore default=die] %s socket=%s softfido=%s\nauth required pam_deny.so\n' \
	"$BIN/pam_vigil.so" "$W/run/vigil.sock" "$W/sf.state" >"$W/pam.d/sudo"
echo "auth required pam_permit.so" >"$W/pam.d/bench-permit"
echo "auth required pam_unix.so" >"$W/pam.d/bench-unix"
cp /etc/passwd "$W/passwd"
cp /etc/shadow "$W/shadow"
echo "alice:x:60001:60001:Alice:/tmp:/bin/sh" >>"$W/passwd"
echo "alice:$(openssl passwd -6 bench-pw):19000:0:99999:7:::" >>"$W/shadow"
unshare -m --propagation private sh -c '
	w=$1 ctl=$2 rounds=$3
	mount --bind "$w/pam.d" /etc/pam.d && mount --bind "$w/passwd" /etc/passwd &&
		mount --bind "$w/shadow" /etc/shadow || exit 1
	t() {
		s=$(date +%s%N)
		"$@" >"$w/out" 2>&1 || { echo "--- failed" && cat "$w/out"; } >>"$w/failed.$svc"
		echo $((($(date +%s%N) - s) / 1000)) >>"$w/t.$svc"
	}
	i=0
	while [ $i -lt "$rounds" ]; do
		"$ctl" -s "$w/run/vigil.sock" revoke alice >/dev/null 2>&1
		svc=vigil; printf "CHG-1 bench\n" | t pamtester sudo alice authenticate setcred
		svc=permit; t pamtester bench-permit alice authenticate
		svc=unix; printf "bench-pw\n" | t pamtester bench-unix alice authenticate
		i=$((i + 1))
	done' sh "$W" "$BIN/vigilctl" "$ROUNDS"
python3 - "$W" <<'PY'
import os, sys
w = sys.argv[1]
def load(n):
    return [int(x) / 1000.0 for x in open("%s/t.%s" % (w, n))]
def pct(v):
    v = sorted(v)
    return v[len(v) // 2], v[min(len(v) - 1, int(len(v) * 0.99))]
v, p, u = load("vigil"), load("permit"), load("unix")
print("pamtester + pam_vigil step-up (auth + setcred):  p50 %.2f ms  p99 %.2f ms" % pct(v))
print("pamtester + pam_permit:                          p50 %.2f ms  p99 %.2f ms" % pct(p))
print("pamtester + pam_unix:                            p50 %.2f ms  p99 %.2f ms" % pct(u))
# rounds are interleaved: the per-round difference cancels most of the machine's load swings
d50, d99 = pct([a - b for a, b in zip(v, p)])
failed = open("%s/failed.vigil" % w).read().count("--- failed") if os.path.exists("%s/failed.vigil" % w) else 0
print("machine time pam_vigil adds over pam_permit (per round): p50 %.2f ms  p99 %.2f ms  (target p99 < 20 ms: %s)"
      % (d50, d99, "met" if d99 < 20 and not failed else "NOT met"))
if failed:
    print("%d of %d pam_vigil runs failed; the first: %s" % (failed, len(v), open("%s/failed.vigil" % w).read()[:600]))
print("bench-result: {\"measure\": \"pam.pamtester_stepup_vs_permit.p50\", \"value\": %.4f, \"better\": \"lower\", "
      "\"baseline\": \"pamtester through pam_permit\", \"reproduce\": \"BUILD=build-th bench/pam.sh\"}" % (pct(v)[0] / pct(p)[0]))
PY
echo "reproduce: sudo BUILD=$BUILD bench/pam.sh $ROUNDS"
