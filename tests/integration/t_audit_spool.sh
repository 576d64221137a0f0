#!/bin/sh
# Spool limits on a small tmpfs. Default when_full=degrade: with the only sink down,
# nothing unforwarded is deleted, vigild enters the degraded state (visible in status,
# recorded as audit.degraded) and refuses what exceeds the headroom, counting it; when
# the sink catches up, forwarded segments make room and the state is left, with the
# count recorded. when_full=rotate: the oldest segments go, and the removal records
# add up to exactly the number of events dropped.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/integration/audit_common.sh"
need_root
make_pki
make_keys
mkdir -p "$T/state"
mount -t tmpfs -o size=4m vigil-audit-test "$T/state" || skip "cannot mount a tmpfs"
on_exit "umount -l $T/state"
write_config "audit_spool_max_bytes = 262144" "audit_segment_bytes = 16384" "audit_checkpoint_every = 100"
start_https_peer
echo fail >"$HTTPS_CONTROL"
start_vigild
P="$T/pki"
push_sinks 1 "[{\"name\":\"collector\",\"type\":\"https\",\"target\":\"https://localhost:$HTTPS_PORT/ingest\",\"tls\":true,\"ca_file\":\"$P/ca.pem\",\"cert_file\":\"$P/client.pem\",\"key_file\":\"$P/client.key\",\"batch\":500}]"

rc=0; out=$(ctl audit note --repeat 3000 "filling the spool" 2>&1) || rc=$?
[ $rc != 0 ] || fail "audit note exited 0 although notes were refused"
assert_contains "$out" "notes were refused" "the producer is told what was refused"
assert_eq "$(audit_field 's["degraded"]')" True "spool full with the sink down: degraded"
assert_contains "$(ctl audit status)" "DEGRADED" "status says so"
assert_eq "$(ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["modules"]["audit"]["degraded"])')" True \
	"vigilctl status carries the audit state"
dropped=$(audit_field 's["dropped_while_degraded"]')
[ "$dropped" -gt 0 ] || fail "nothing counted as refused above the headroom"
ok "$dropped events refused above the headroom, counted"
spool=$(audit_field 's["spool_bytes"]')
[ "$spool" -le $((262144 + 262144 / 8 + 4096)) ] || fail "spool grew to $spool bytes"
ok "spool stays within limit + headroom ($spool bytes)"
first=$(ls "$T/state/audit" | grep -m1 '\.seg$')
assert_eq "$first" "00000000000000000001.seg" "no unforwarded segment was deleted"

echo ok >"$HTTPS_CONTROL"
i=0
until [ "$(audit_field 's["degraded"]')" = False ]; do
	i=$((i + 1)); [ $i -gt 600 ] && { ctl audit status >&2; fail "degraded state not left"; }
	sleep 0.1
done
ok "the sink caught up and the degraded state was left"
ctl audit seal >/dev/null
wait_drained 60
stop_vigild
left=$("$VIGILCTL" --json audit tail --dir "$T/state/audit" --type audit.degraded -n 1)
assert_contains "$left" '"state":"left"' "leaving is recorded"
assert_contains "$left" "\"dropped_events\":$dropped" "with the exact count refused"
out=$("$VIGILCTL" audit verify --dir "$T/state/audit")
assert_contains "$out" "intact" "the local log verifies (its start explained by removal records)"
out=$("$VIGILCTL" audit verify --events "$HTTPS_OUT" --pubkey "$T/state/host.pub")
assert_contains "$out" "intact" "the collector has the whole chain"

# rotate mode, fresh log, no sink
kill "$HTTPS_PID" 2>/dev/null
rm -rf "$T/state/audit" "$T/state/policy"
write_config "audit_spool_max_bytes = 262144" "audit_segment_bytes = 16384" "audit_checkpoint_every = 100" \
	"audit_when_full = rotate"
start_vigild
ctl audit note --repeat 3000 "rotating" >/dev/null
assert_eq "$(audit_field 's["degraded"]')" False "rotate mode never degrades"
dropped=$(audit_field 's["dropped_by_rotate"]')
[ "$dropped" -gt 0 ] || fail "rotate mode dropped nothing"
stop_vigild
python3 - "$T/state/audit" "$dropped" <<'PY' || fail "removal records do not add up"
import json, os, struct, sys
d, dropped = sys.argv[1], int(sys.argv[2])
first, removed = None, 0
for f in sorted(x for x in os.listdir(d) if x.endswith(".seg")):
    data, off = open(os.path.join(d, f), "rb").read(), 0
    while off + 84 <= len(data):
        n = struct.unpack(">I", data[off+68:off+72])[0]
        ev = json.loads(data[off+84:off+84+n])
        first = first or ev["data"]["seq"]
        if ev["type"] == "dev.vigil.audit.segments_removed":
            assert ev["data"]["reason"] == "rotate"
            removed += ev["data"]["events"]
        off += 84 + n
# removal records in removed segments are gone with them: the surviving ones cover the newest removals
assert first - 1 == dropped, (first, dropped)
assert 0 < removed <= dropped, (removed, dropped)
print("  ok: dropped", dropped, "= records before the first kept seq", first)
PY
out=$("$VIGILCTL" audit verify --dir "$T/state/audit")
assert_contains "$out" "intact" "the rotated log verifies"
