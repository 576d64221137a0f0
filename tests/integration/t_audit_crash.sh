#!/bin/sh
# Crash consistency: vigild killed -9 while it writes, restarted: the log continues
# the chain and verifies. A torn write (half a record at the end) is cut at start,
# saved aside, and the cut is itself recorded as audit.tail_cut.
. "$(dirname "$0")/lib.sh"
need_root
write_config "audit_checkpoint_every = 500" "audit_segment_bytes = 262144"
L="$T/state/audit"
durable() { ctl --json audit status | python3 -c 'import json,sys; print(json.load(sys.stdin)["durable_seq"])'; }

start_vigild
# a writer hammering the log in the background
( while ctl audit note --repeat 500 "crash test" >/dev/null 2>&1; do :; done ) &
writer=$!
on_exit "kill $writer"
i=0
while [ "$(durable)" -lt 20000 ]; do
	i=$((i + 1)); [ $i -gt 600 ] && fail "log did not reach seq 20000"
	sleep 0.1
done
kill -9 "$VIGILD_PID"
wait "$VIGILD_PID" 2>/dev/null || true
VIGILD_PID=""
wait "$writer" 2>/dev/null || true
rm -f "$T/run/vigil.sock"
last_before=$(python3 - "$L" <<'PY'
import os, struct, sys
d = sys.argv[1]
segs = sorted(f for f in os.listdir(d) if f.endswith(".seg"))
data = open(os.path.join(d, segs[-1]), "rb").read()
off = last = 0
while off + 84 <= len(data):
    n = struct.unpack(">I", data[off+68:off+72])[0]
    if off + 84 + n > len(data):
        break
    last = struct.unpack(">Q", data[off+72:off+80])[0]
    off += 84 + n
print(last)
PY
)
ok "killed -9 at seq $last_before"

start_vigild
stop_vigild
out=$("$VIGILCTL" audit verify --dir "$L")
assert_contains "$out" "intact" "after kill -9 and restart the log verifies"
started=$("$VIGILCTL" --json audit tail --dir "$L" --type agent.started -n 1 | python3 -c 'import json,sys
print(json.loads(sys.stdin.readline())["data"]["seq"])')
[ "$started" -gt "$last_before" ] || fail "restart did not continue after seq $last_before (agent.started at $started)"
ok "the chain continues after the crash (agent.started at seq $started)"

# a torn write: half a record at the end of the last segment
python3 "$ROOT/tests/integration/audit_tool.py" tear "$L"
rc=0
"$VIGILCTL" audit verify --dir "$L" --no-head >/dev/null || rc=$?
assert_eq "$rc" 4 "the torn tail is visible to verify before vigild starts"
start_vigild
stop_vigild
out=$("$VIGILCTL" audit verify --dir "$L")
assert_contains "$out" "intact" "vigild cut the torn tail at start"
cut=$("$VIGILCTL" --json audit tail --dir "$L" --type audit.tail_cut -n 1)
assert_contains "$cut" '"whole_records_cut":0' "the cut lost no whole record"
assert_contains "$cut" '"bytes_cut":' "the cut records how many bytes went"
ls "$L"/torn-*.bin >/dev/null 2>&1 || fail "cut bytes not saved aside"
ok "cut bytes saved aside for forensics"
