#!/bin/sh
# Audit benchmark: durable append rate with group commit vs the disk's own limit
# (the same record bytes, one write+fdatasync per 1000, same disk, same run), the verify
# rate, and (as root, with rsyslog-relp) the forward rate through vigild to a
# real rsyslog over RELP/TLS on loopback.
# Reproduce: sudo make bench BENCH=audit, or: BUILD=build bench/audit.sh [EVENTS] [GROUP]
# Target (issue 4): 50k events/s durable append and forward, 10x the 5k/s baseline.
set -eu
: "${BUILD:=build}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/$BUILD"
N=${1:-200000}
GROUP=${2:-1000}
[ -f "$BIN/libvigil.a" ] || { echo "bench/audit.sh: build first (make BUILD=$BUILD)"; exit 1; }
W=$(mktemp -d /var/tmp/vigil-bench-audit.XXXXXX)
RS_PID="" VD_PID=""
cleanup() {
	set +e
	[ -n "$VD_PID" ] && kill "$VD_PID" && wait "$VD_PID"
	[ -n "$RS_PID" ] && kill "$RS_PID" && wait "$RS_PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

echo "== audit: append and verify ($N events, group commit every $GROUP, on $(df -P "$W" | awk 'NR==2 {print $1}'))"
${CC:-cc} -O2 -std=gnu11 -D_GNU_SOURCE -I"$ROOT/include" -o "$W/audit_bench" "$ROOT/bench/audit_bench.c" \
	"$BIN/libvigil.a" $(pkg-config --libs jansson openssl libcurl)
"$W/audit_bench" "$W" "$N" "$GROUP"

if [ "$(id -u)" != 0 ] || ! [ -f /usr/lib/x86_64-linux-gnu/rsyslog/imrelp.so ] || ! [ -x "$BIN/vigild" ]; then
	echo "forward over RELP/TLS: skipped (needs root, rsyslog-relp and $BUILD/vigild)"
	exit 0
fi
echo "== audit: forward rate, vigild -> rsyslog imrelp over TLS on loopback"
P="$W/pki"; mkdir -p "$P" "$W/state" "$W/run" "$W/rs" "$W/etc"
(
	cd "$P"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "/CN=bench CA" \
		-keyout ca.key -out ca.pem 2>/dev/null
	for who in server client; do
		[ $who = server ] && san="DNS:localhost" || san="DNS:client.vigil.test"
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$who" -keyout $who.key \
			-out $who.csr 2>/dev/null
		printf 'subjectAltName=%s\n' "$san" >$who.ext
		openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile $who.ext \
			-out $who.pem 2>/dev/null
	done
)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$W/rs.conf" <<EOC
global(workDirectory="$W/rs" maxMessageSize="256k")
module(load="imrelp" ruleset="audit")
input(type="imrelp" address="127.0.0.1" port="$PORT" tls="on" tls.cacert="$P/ca.pem" tls.mycert="$P/server.pem"
      tls.myprivkey="$P/server.key" tls.authmode="name" tls.permittedpeer=["client.vigil.test"])
template(name="m" type="string" string="%msg%\n")
ruleset(name="audit" queue.type="direct") { action(type="omfile" file="$W/out.jsonl" template="m" flushOnTXEnd="on") }
EOC
rsyslogd -n -f "$W/rs.conf" -i "$W/rs.pid" >"$W/rs.log" 2>&1 &
RS_PID=$!
"$BIN/vigilctl" keygen --out "$W/sec.key" >/dev/null
"$BIN/vigilctl" trust new --out "$W/etc/trust.json" --version 1 --threshold 1 "$W/sec.key.pub" >/dev/null
cat >"$W/vigild.conf" <<EOC
state_dir = $W/state
run_dir = $W/run
socket = $W/run/vigil.sock
trust_file = $W/etc/trust.json
inbox_dir =
hostname = testhost
enforce = false
metrics_textfile =
EOC
"$BIN/vigild" -c "$W/vigild.conf" --foreground >"$W/vigild.log" 2>&1 &
VD_PID=$!
ctl() { "$BIN/vigilctl" -s "$W/run/vigil.sock" "$@"; }
i=0; until [ -S "$W/run/vigil.sock" ]; do i=$((i + 1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done
python3 "$ROOT/tests/integration/mkbundle.py" --version 1 --out "$W/b.json" --set \
	"audit.sinks=[{\"name\":\"rs\",\"type\":\"relp\",\"target\":\"localhost:$PORT\",\"tls\":true,\"ca_file\":\"$P/ca.pem\",\"cert_file\":\"$P/client.pem\",\"key_file\":\"$P/client.key\",\"batch\":10000}]"
"$BIN/vigilctl" policy sign --key "$W/sec.key" "$W/b.json" >/dev/null
ctl policy push "$W/b.json" >/dev/null
lag() { ctl --json audit status | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["durable_seq"] - s["sinks"][0]["cursor"])'; }
i=0; until [ "$(lag)" = 0 ]; do i=$((i + 1)); [ $i -gt 300 ] && { echo "sink did not connect"; exit 1; }; sleep 0.1; done
FN=100000
t0=$(date +%s.%N)
for k in 1 2 3 4 5 6 7 8 9 10; do ctl audit note --repeat $((FN / 10)) "forward bench $k" >/dev/null; done
t1=$(date +%s.%N)
i=0; until [ "$(lag)" = 0 ]; do i=$((i + 1)); [ $i -gt 600 ] && { echo "forwarding stalled"; exit 1; }; sleep 0.25; done
t2=$(date +%s.%N)
python3 -c "
n=$FN; a=$t1-$t0; f=$t2-$t0
print('emit through vigild (ctl, group commit): %.0f events/s' % (n / a))
print('forwarded and acknowledged by rsyslog over RELP/TLS: %.0f events/s (%d events in %.2fs)' % (n / f, n, f))"
