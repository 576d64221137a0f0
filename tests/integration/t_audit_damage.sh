#!/bin/sh
# Durable history is never rewritten, seqs are never reused, every gap is a signed record
# the collector receives: a real vigild forwards to an HTTPS collector, then
#  - one bit flips in a durable, already forwarded record in the middle of the last segment:
#    vigild keeps the bytes, declares exactly that seq in audit.damaged, goes on with new seqs;
#  - head.json is rolled back to an older checkpoint and the log cut after it: the collector's
#    copy exposes it (verify --against), and vigild does not give the cut seqs again;
#  - rotate mode with the collector down: the collector's copy explains the rotated gap;
#  - the collector file in CRLF, with a second log of the host, and with garbage lines.
# Every verdict is checked to be the same from vigilctl and from the independent verifier.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/integration/audit_common.sh"
need_root
make_pki
make_keys
write_config "audit_checkpoint_every = 100"
start_https_peer
start_vigild
P="$T/pki"
L="$T/state/audit"
PUB="$T/state/host.pub"
SINKS="[{\"name\":\"collector\",\"type\":\"https\",\"target\":\"https://localhost:$HTTPS_PORT/ingest\",\"tls\":true,\"ca_file\":\"$P/ca.pem\",\"cert_file\":\"$P/client.pem\",\"key_file\":\"$P/client.key\",\"batch\":200}]"
push_sinks 1 "$SINKS"
ctl audit note --repeat 800 "before the damage" >/dev/null
ctl audit seal >/dev/null
wait_drained 60
stop_vigild

# one flipped bit in a forwarded record in the middle of the last (only) segment
python3 - "$L" <<'PY'
import os, struct, sys
d = sys.argv[1]
p = os.path.join(d, sorted(f for f in os.listdir(d) if f.endswith(".seg"))[-1])
data, off = bytearray(open(p, "rb").read()), 0
while True:
    n = struct.unpack(">I", data[off + 68:off + 72])[0]
    if struct.unpack(">Q", data[off + 72:off + 80])[0] == 400:
        data[off + 84 + 30] ^= 0x04
        break
    off += 84 + n
open(p, "wb").write(data)
PY
size_before=$(stat -c %s "$L/00000000000000000001.seg")
last_before=$(python3 "$ROOT/tests/integration/audit_tool.py" seqs "$HTTPS_OUT" | tail -n 1)
start_vigild
ctl audit note --repeat 50 "after the damage" >/dev/null
ctl audit seal >/dev/null
wait_drained 60
assert_eq "$(stat -c %s "$L/00000000000000000001.seg")" "$size_before" "the damaged segment is kept byte for byte"
ls "$L"/damaged-*.bin >/dev/null 2>&1 || fail "no copy of the damaged bytes"
dmg=$("$VIGILCTL" --json audit tail --dir "$L" --type audit.damaged -n 1)
assert_contains "$dmg" '"gap":{"first_seq":400,"last_seq":400,' "audit.damaged declares exactly seq 400"
first_new=$(echo "$dmg" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["seq"])')
[ "$first_new" -gt "$last_before" ] || fail "seq $first_new given again (the collector had up to $last_before)"
ok "new records start after every seq ever given ($first_new > $last_before)"
python3 - "$HTTPS_OUT" <<'PY' || fail "a seq reached the collector twice with different bytes"
import json, sys
seen = {}
for line in open(sys.argv[1], "rb"):
    ev = json.loads(line[line.index(b"{"):])
    s = ev["data"]["seq"]
    assert seen.setdefault(s, line) == line, s
print("  ok: every seq at the collector is one event (duplicates identical)")
PY
grep -q '"type":"dev.vigil.audit.damaged"' "$HTTPS_OUT" || fail "the collector did not receive audit.damaged"
ok "the collector received the damage record"
assert_eq "$(audit_field 's["sinks"][0]["lag_events"] == 0 and s["sinks"][0]["cursor"] == s["durable_seq"]')" True \
	"cursor and lag are right after the damage"
out=$("$VIGILCTL" audit verify --dir "$L")
assert_contains "$out" "intact" "the local log verifies"
assert_contains "$out" "1 gaps explained" "with the damage explained"
verifiers_agree "damaged local log" --dir "$L"
verifiers_agree "collector's copy after the damage" --events "$HTTPS_OUT" --pubkey "$PUB"

# rollback: an older signed head and the log cut after it
stop_vigild
cp "$L/head.json" "$T/head.new"
headseq=$(python3 - "$L" <<'PY'
import json, os, struct, sys
d = sys.argv[1]
segs = sorted(f for f in os.listdir(d) if f.endswith(".seg"))
p = os.path.join(d, segs[0])
data, off, cut, head = open(p, "rb").read(), 0, None, None
while off + 84 <= len(data):
    n = struct.unpack(">I", data[off + 68:off + 72])[0]
    seq, kind = struct.unpack(">QI", data[off + 72:off + 84])
    if kind == 2 and seq >= 250 and head is None:
        head, cut = data[off + 84:off + 84 + n], off + 84 + n
        print(seq)
    off += 84 + n
open(p, "wb").write(data[:cut])
for s in segs[1:]:
    os.unlink(os.path.join(d, s))
open(os.path.join(d, "head.json"), "wb").write(head)
PY
)
out=$("$VIGILCTL" audit verify --dir "$L")
assert_contains "$out" "intact" "rolled back with an older head, the local files alone verify (the documented limit)"
rc=0; out=$("$VIGILCTL" audit verify --dir "$L" --against "$HTTPS_OUT") || rc=$?
assert_eq "$rc" 4 "against the collector's copy: the rollback fails"
assert_contains "$out" "truncated" "reported as truncated"
verifiers_agree "rolled back log against the collector's head" --dir "$L" --head "$T/head.new"
start_vigild
ctl audit note "after the rollback" >/dev/null
ctl audit seal >/dev/null
wait_drained 60
rb=$("$VIGILCTL" --json audit tail --dir "$L" --type audit.rolled_back -n 1)
assert_contains "$rb" "\"gap\":{\"first_seq\":$((headseq + 1))," "audit.rolled_back declares the cut seqs"
verifiers_agree "collector's copy after the rollback" --events "$HTTPS_OUT" --pubkey "$PUB"
out=$("$VIGILCTL" audit verify --events "$HTTPS_OUT" --pubkey "$PUB")
assert_contains "$out" "intact" "the collector's copy verifies: every seq once, the rollback declared"

# the collector file in CRLF, with garbage lines, and with a second log of the same host
sed 's/$/\r/' "$HTTPS_OUT" >"$T/crlf.jsonl"
printf 'rsyslogd: a line of the collector itself\n{"not": "an event"}\n' >>"$T/crlf.jsonl"
out=$("$VIGILCTL" audit verify --events "$T/crlf.jsonl" --pubkey "$PUB" 2>"$T/crlf.err")
assert_contains "$out" "intact" "CRLF collector file verifies"
assert_contains "$(cat "$T/crlf.err")" "1 lines are not parseable events (lines $(($(wc -l <"$HTTPS_OUT") + 2)))" \
	"the unparseable line is named"
verifiers_agree "CRLF collector file" --events "$T/crlf.jsonl" --pubkey "$PUB"

# rotate mode with the collector down: a fresh log (a second log id of this host)
stop_vigild
cp "$HTTPS_OUT" "$T/first-log.jsonl"
rm -rf "$L"
write_config "audit_checkpoint_every = 100" "audit_spool_max_bytes = 262144" "audit_segment_bytes = 16384" \
	"audit_when_full = rotate"
echo fail >"$HTTPS_CONTROL"
start_vigild
ctl audit note --repeat 1500 "rotating while the collector is down" >/dev/null
[ "$(audit_field 's["dropped_by_rotate"]')" -gt 0 ] || fail "nothing was rotated away"
echo ok >"$HTTPS_CONTROL"
ctl audit seal >/dev/null
wait_drained 90
out=$("$VIGILCTL" audit verify --events "$HTTPS_OUT" --pubkey "$PUB")
assert_contains "$out" "gaps explained" "the collector's copy of the rotated log verifies, the gap explained"
assert_not_contains "$out" "FAILED" "no log of the collector file fails"
n=$(echo "$out" | grep -c "intact")
assert_eq "$n" 2 "the collector file holds two logs of the host, each verified"
verifiers_agree "collector file with two logs and a rotated gap" --events "$HTTPS_OUT" --pubkey "$PUB"
# a record missing at the collector is still found
python3 - "$HTTPS_OUT" "$T/hole.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1], "rb").read().splitlines(keepends=True)
last = json.loads(lines[-1])["id"].rsplit("-", 1)[0]
mine = [i for i, l in enumerate(lines) if json.loads(l)["id"].startswith(last + "-")]
del lines[mine[len(mine) // 2]]
open(sys.argv[2], "wb").write(b"".join(lines))
PY
rc=0; out=$("$VIGILCTL" audit verify --events "$T/hole.jsonl" --pubkey "$PUB") || rc=$?
assert_eq "$rc" 4 "a record deleted at the collector: exit 4"
verifiers_agree "collector's copy with a deleted record" --events "$T/hole.jsonl" --pubkey "$PUB"
