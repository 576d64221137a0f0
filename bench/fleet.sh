#!/bin/sh
# Fleet simulation of the emergency channel (docs/emergency.md "Fleet simulation"): N vigild
# (default 200) on this machine, each with its own state dir, socket and host name, enforcement
# off (what is measured is delivery, not the kernel), polling one nginx over TLS with a client
# certificate, and forwarding its audit trail (acknowledgements included) over RELP to one
# rsyslog collector. Measures: requests/s and bytes/s at the server in steady state (304s) and
# during a rollout, events/s at the collector, and the time from publishing a document to its
# signed acknowledgement arriving at the collector, as percentiles against interval + jitter
# (the bound the design promises).
#   FLEET_N=200 FLEET_INTERVAL=10 FLEET_JITTER=5 FLEET_STEADY_S=30 sh bench/fleet.sh
# Never in CI: make bench only (BENCH=fleet).
. "$(dirname "$0")/lib.sh"
: "${BUILD:=build}"
N=${FLEET_N:-200}
INTERVAL=${FLEET_INTERVAL:-10}
JITTER=${FLEET_JITTER:-5}
STEADY=${FLEET_STEADY_S:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VIGILD="$ROOT/$BUILD/vigild"
VIGILCTL="$ROOT/$BUILD/vigilctl"
command -v nginx >/dev/null || { echo "fleet: nginx missing (make deps), skipped"; exit 0; }
command -v rsyslogd >/dev/null && [ -f /usr/lib/x86_64-linux-gnu/rsyslog/imrelp.so ] ||
	{ echo "fleet: rsyslog with imrelp missing (make deps), skipped"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "fleet: needs root, skipped"; exit 0; }
W=$(mktemp -d /tmp/vigil-fleet.XXXXXX)
PIDS=""
# each vigild holds a few inotify instances (inbox, break-glass spool, tenant cgroups): N of
# them exceed the default 128 per user, which also starves every other root program on the
# machine (systemd, nspawn). Raised for the run, restored after.
INOTIFY_WAS=$(sysctl -n fs.inotify.max_user_instances)
[ "$INOTIFY_WAS" -ge $((N * 4 + 128)) ] || sysctl -qw fs.inotify.max_user_instances=$((N * 4 + 128))
AT_EXIT=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	eval "$AT_EXIT"
	[ -n "${RSYSLOG_PID:-}" ] && kill "$RSYSLOG_PID" 2>/dev/null
	wait 2>/dev/null
	sysctl -qw fs.inotify.max_user_instances="$INOTIFY_WAS"
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

# the pull tests' HTTPS server (a CA, nginx requiring a client certificate) in $W
T=$W
fail() { echo "fleet: $*" >&2; exit 1; }
on_exit() { AT_EXIT="$*; $AT_EXIT"; }
. "$ROOT/tests/integration/https_fixture.sh"

# keys, trust
"$VIGILCTL" keygen --out "$W/sec1.key" >/dev/null
"$VIGILCTL" trust new --out "$W/trust.json" --version 1 --threshold 1 "$W/sec1.key.pub" >/dev/null
# a document nobody has to apply yet: the steady state is a 304 per host per interval
doc() { # FILE COUNTER ACTIONS
	cat >"$1" <<EOD
{ "counter": $2, "issued_at": "$(date -u -d '-10 sec' +%Y-%m-%dT%H:%M:%SZ)",
  "expires_at": "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)", "reason": "fleet bench",
  "scope": { "hosts": ["host-*"] }, "actions": $3 }
EOD
	rm -f "$1.sig"
	"$VIGILCTL" emergency sign --key "$W/sec1.key" "$1" >/dev/null
}
doc "$W/d1.json" 1 '[{"action": "release", "freeze": true}]'
HTTPS_CONNECTIONS=$((N + 100)) https_start
publish "$W/d1.json" emergency.json

# the collector: plain RELP on loopback (TLS is measured in t_audit_relp; here the cost is the
# fleet's), each event written with the time rsyslog received it
rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$W/rsyslog"
cat >"$W/rsyslog.conf" <<EOC
global(workDirectory="$W/rsyslog" maxMessageSize="256k")
module(load="imrelp" ruleset="fleet")
input(type="imrelp" address="127.0.0.1" port="$rport" maxDataSize="256k" maxSessions="$((N + 100))")
template(name="received" type="string" string="%timegenerated:::date-rfc3339% %msg%\n")
ruleset(name="fleet" queue.type="direct") {
  action(type="omfile" file="$W/collector.log" template="received" flushOnTXEnd="on" asyncWriting="off")
}
EOC
rsyslogd -n -f "$W/rsyslog.conf" -i "$W/rsyslog.pid" >"$W/rsyslog.out" 2>&1 &
RSYSLOG_PID=$!
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $rport), 0.2)" 2>/dev/null; do
	kill -0 "$RSYSLOG_PID" 2>/dev/null || { echo "fleet: rsyslog exited: $(cat "$W/rsyslog.out")"; exit 1; }
	sleep 0.1
done
# one bundle for the fleet, dropped in each inbox: its audit sink is the collector
python3 "$ROOT/tests/integration/mkbundle.py" --version 2 --out "$W/bundle.json" --set 'scope={"hosts": ["host-*"], "labels": {}}' \
	--set 'tenants=[]' --set "audit.sinks=[{\"name\": \"collector\", \"type\": \"relp\", \"target\": \"127.0.0.1:$rport\", \"tls\": false}]"
"$VIGILCTL" policy sign --key "$W/sec1.key" "$W/bundle.json" >/dev/null

for i in $(seq 1 "$N"); do
	h="$W/h$i"
	mkdir -p "$h/state" "$h/run" "$h/inbox"
	cp "$W/bundle.json" "$W/bundle.json.sig" "$h/inbox/"
	cat >"$h/vigild.conf" <<EOC
state_dir = $h/state
run_dir = $h/run
socket = $h/run/vigil.sock
bpffs_dir = /sys/fs/bpf/vigil-fleet-$$-$i
trust_file = $W/trust.json
inbox_dir = $h/inbox
nss_cache_dir = $h/state/nss
breakglass_spool = $h/state/bg.spool
hostname = host-$i
enforce = false
metrics_textfile =
posture_interval_s = 3600
emergency_url = https://127.0.0.1:$port/emergency.json
emergency_interval_s = $INTERVAL
emergency_jitter_s = $JITTER
pull_ca_file = $W/pki/ca.crt
pull_cert_file = $W/pki/cli.crt
pull_key_file = $W/pki/cli.key
EOC
	"$VIGILD" -c "$h/vigild.conf" --foreground >"$h/vigild.log" 2>&1 &
	PIDS="$PIDS $!"
done
# every instance has applied the bundle and document 1 (the fleet is up and in steady state)
t_end=$(( $(date +%s) + 180 ))
until [ "$(grep -l 'document 1 ' "$W"/h*/vigild.log 2>/dev/null | wc -l)" -ge "$N" ] &&
	[ "$(grep -l 'applied version 2' "$W"/h*/vigild.log 2>/dev/null | wc -l)" -ge "$N" ]; do
	[ "$(date +%s)" -lt "$t_end" ] || { echo "fleet: only $(grep -l 'document 1 ' "$W"/h*/vigild.log | wc -l) of $N instances came up"; exit 1; }
	sleep 1
done
sleep "$((INTERVAL + JITTER))"
: >"$W/nginx/timed.log"; kill -USR1 "$NGINX_PID"
t_steady0=$(date +%s.%N)
sleep "$STEADY"
t_steady1=$(date +%s.%N)
# the rollout: a freeze for every host
doc "$W/d2.json" 2 '[{"action": "freeze"}]'
digest=$(sha256sum "$W/d2.json" | cut -d' ' -f1)
t_pub=$(date +%s.%N)
publish "$W/d2.json" emergency.json
sleep "$((INTERVAL + JITTER + 10))"
t_roll1=$(date +%s.%N)

python3 - "$W" "$N" "$digest" "$t_steady0" "$t_steady1" "$t_pub" "$t_roll1" "$INTERVAL" "$JITTER" <<'PYEOF'
import json, os, sys, datetime
w, n, digest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s0, s1, pub, r1, interval, jitter = (float(x) for x in sys.argv[4:10])
def window(a, b):
    req = byt = 0
    for line in open(os.path.join(w, "nginx/timed.log")):
        t, status, size, uri = line.split()[:4]
        if a <= float(t) < b:
            req += 1; byt += int(size)
    return req / (b - a), byt / (b - a)
def collector():
    """(received_at, event) of every event at the collector, in arrival order."""
    out = []
    for line in open(os.path.join(w, "collector.log"), encoding="utf-8", errors="replace"):
        ts, _, rest = line.partition(" ")
        i = rest.find("{")
        if i < 0:
            continue
        try:
            ev = json.loads(rest[i:])
            t = datetime.datetime.fromisoformat(ts).timestamp()
        except ValueError:
            continue
        out.append((t, ev))
    return out
events = collector()
def acks():
    """seconds from publish to the first applied acknowledgement of each host, at the collector"""
    first = {}
    for t, ev in events:
        d = ev.get("data", {})
        if ev.get("type", "").endswith("emergency.ack") and d.get("doc_digest") == digest and d.get("result") == "applied":
            first.setdefault(ev.get("source"), t - pub)
    return sorted(first.values())
def events_per_s(a, b):
    return sum(1 for t, _ in events if a <= t < b) / (b - a)
sreq, sbytes = window(s0, s1)
rreq, rbytes = window(pub, r1)
a = acks()
pct = lambda q: a[min(len(a) - 1, int(q * len(a) + 0.999) - 1)] if a else float("nan")
bound = interval + jitter
print(f"fleet: {n} vigild, emergency_interval_s={interval:g}, emergency_jitter_s={jitter:g}")
print(f"  steady state: {sreq:.1f} requests/s, {sbytes/1024:.1f} KiB/s at the server (expected ~{n/(interval+jitter/2):.1f} req/s of 304)")
print(f"  rollout window ({r1-pub:.0f} s): {rreq:.1f} requests/s, {rbytes/1024:.1f} KiB/s")
print(f"  collector: {events_per_s(s0, s1):.1f} events/s in steady state, {events_per_s(pub, r1):.1f} events/s during the rollout")
print(f"  acknowledged at the collector: {len(a)} of {n} hosts; publish -> ack received p50 {pct(0.5):.1f} s, p95 {pct(0.95):.1f} s, p100 {pct(1.0):.1f} s (bound interval+jitter = {bound:g} s)")
r = lambda m, v, b, base: print("bench-result: " + json.dumps({"measure": m, "value": round(v, 4), "better": b, "baseline": base, "reproduce": "BENCH=fleet make bench"}))
if a:
    r("fleet_ack_p100_over_bound", pct(1.0) / bound, "lower", "interval + jitter of the same run")
    r("fleet_acked_fraction", len(a) / n, "higher", "instances started in the same run")
r("fleet_steady_requests_per_host_interval", sreq * (interval + jitter / 2) / n, "lower", "one 304 per host per mean interval")
PYEOF
