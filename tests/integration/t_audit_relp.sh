#!/bin/sh
# RELP over TLS to a real rsyslog (imrelp, certificates checked both ways): 100k
# events while rsyslog is killed -9 and restarted several times and vigild is
# killed -9 and restarted once. Every seq arrives at least once, deduplicating by
# source+id leaves exactly the set, and the collector's copy verifies.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/integration/audit_common.sh"
need_root
command -v rsyslogd >/dev/null || skip "rsyslogd not installed (packaging/deps/audit.txt)"
[ -f /usr/lib/x86_64-linux-gnu/rsyslog/imrelp.so ] || skip "rsyslog-relp not installed"
make_pki
make_keys
write_config "audit_checkpoint_every = 1000"
P="$T/pki"
OUT="$T/collector.jsonl"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/rsyslog"
cat >"$T/rsyslog.conf" <<EOC
global(workDirectory="$T/rsyslog" maxMessageSize="256k")
module(load="imrelp" ruleset="audit")
input(type="imrelp" address="127.0.0.1" port="$PORT" maxDataSize="256k" tls="on"
      tls.cacert="$P/ca.pem" tls.mycert="$P/server.pem" tls.myprivkey="$P/server.key"
      tls.authmode="name" tls.permittedpeer=["client.vigil.test"])
template(name="msgonly" type="string" string="%msg%\n")
# direct queue: imrelp acknowledges a frame only after omfile has written it
ruleset(name="audit" queue.type="direct") {
  action(type="omfile" file="$OUT" template="msgonly" flushOnTXEnd="on" asyncWriting="off")
}
EOC
RSYSLOG_PID=""
start_rsyslog() {
	rsyslogd -n -f "$T/rsyslog.conf" -i "$T/rsyslog.pid" >>"$T/rsyslog.log" 2>&1 &
	RSYSLOG_PID=$!
	i=0
	until python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null; do
		i=$((i + 1)); [ $i -gt 100 ] && { cat "$T/rsyslog.log" >&2; fail "rsyslog did not listen"; }
		kill -0 "$RSYSLOG_PID" 2>/dev/null || { cat "$T/rsyslog.log" >&2; fail "rsyslog exited"; }
		sleep 0.1
	done
}
kill_rsyslog() {
	kill -9 "$RSYSLOG_PID" 2>/dev/null
	wait "$RSYSLOG_PID" 2>/dev/null || true
	rm -f "$T/rsyslog.pid"
}
on_exit 'kill -9 $RSYSLOG_PID'
start_rsyslog
start_vigild
push_sinks 1 "[{\"name\":\"rsyslog\",\"type\":\"relp\",\"target\":\"localhost:$PORT\",\"tls\":true,\"ca_file\":\"$P/ca.pem\",\"cert_file\":\"$P/client.pem\",\"key_file\":\"$P/client.key\",\"batch\":2000}]"

for i in $(seq 1 20); do
	ctl audit note --repeat 5000 "relp $i" >/dev/null || fail "note failed"
	case $i in
	4 | 9 | 15) kill_rsyslog; ok "rsyslog killed -9 at round $i"; sleep 0.3; start_rsyslog ;;
	12)
		kill -9 "$VIGILD_PID"; wait "$VIGILD_PID" 2>/dev/null || true
		VIGILD_PID=""; rm -f "$T/run/vigil.sock"
		ok "vigild killed -9 at round $i"
		start_vigild ;;
	esac
done
ctl audit seal >/dev/null
wait_drained 180
upto=$(audit_field 's["sinks"][0]["cursor"]')
[ "$upto" -gt 100000 ] || fail "only $upto events forwarded"
assert_all_seqs "$OUT" "$upto"
dedup=$(python3 - "$OUT" <<'PY'
import json, sys
ids, seqs, lines = set(), set(), 0
for line in open(sys.argv[1], encoding="utf-8"):
    i = line.find("{")
    if i < 0:
        continue
    ev = json.loads(line[i:])
    lines += 1
    ids.add((ev["source"], ev["id"]))
    seqs.add(ev["data"]["seq"])
assert len(ids) == len(seqs), (len(ids), len(seqs))
print(lines, len(ids))
PY
)
ok "collector lines / distinct source+id: $dedup"
out=$("$VIGILCTL" audit verify --events "$OUT" --pubkey "$T/state/host.pub")
assert_contains "$out" "intact" "the collector's copy verifies: $out"
out=$(ctl audit status)
assert_contains "$out" "lag 0 events" "status shows the sink caught up"
