#!/bin/sh
# Pipelined control requests (docs/control-socket.md "Pipelining"): after ctl.pipeline one
# connection carries many requests. Attacks and promises:
#  1. answers come in the order of the requests, whatever each one waits for (a note waits
#     for its fdatasync, a status is ready at once, errors in between), and a note is
#     acknowledged only once durable (durable_seq in its answer covers it);
#  2. vigilctl audit note --stdin records one note per line, pipelined;
#  3. one uid cannot hold more requests in flight than its cap (root: 24 connections x 64
#     notes = 1536 > 1024), and every one is still answered;
#  4. a user whose pipelined connections never read their answers stalls nobody: root and PAM
#     answer at once meanwhile, the readers are closed after ctl_timeout_ms, the user cannot
#     open more than its 16 slots;
#  5. kill -9 of vigild in the middle of 8 pipelined producers loses no acknowledged note.
. "$(dirname "$0")/lib.sh"
need_root
make_keys
write_config "ctl_timeout_ms = 1000"
start_vigild
chmod 755 "$T" "$T/run"
S="$T/run/vigil.sock"
cat >"$T/pipe.py" <<'PY'
import json, os, socket, struct, sys, time
def frame(req):
    b = req if isinstance(req, bytes) else json.dumps(req).encode()
    return struct.pack(">I", len(b)) + b
def connect(path, window=64):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(path)
    s.sendall(frame({"cmd": "ctl.pipeline", "window": window}))
    return s, read(s, 1, b"")
def read(s, n, buf):
    """n answers (and the bytes after them)"""
    out = []
    while len(out) < n:
        while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
            k = struct.unpack(">I", buf[:4])[0]
            out.append(json.loads(buf[4:4 + k]))
            buf = buf[4 + k:]
        if len(out) < n:
            c = s.recv(1 << 20)
            if not c:
                raise ConnectionError("closed after %d of %d answers" % (len(out), n))
            buf += c
    return out[:n], buf
PY

# 1. order: everything sent at once, nothing read until the end
python3 - "$S" "$T" <<'PY' || fail "pipelined answers out of order or acknowledged before durable"
import sys; sys.path.insert(0, sys.argv[2])
from pipe import *
s, (hello, buf) = connect(sys.argv[1])
hello = hello[0]
assert hello["ok"] and hello["window"] == 64, hello
reqs, kinds = [], []
for i in range(60):
    k = ["note", "status", "note", "ping", "unknown", "malformed", "note", "audit.status", "denied", "note"][i % 10]
    kinds.append(k)
    reqs.append({"note": {"cmd": "audit.note", "text": "order-%d" % i}, "status": {"cmd": "status"},
                 "ping": {"cmd": "ping"}, "unknown": {"cmd": "no.such"}, "malformed": b"{not json",
                 "audit.status": {"cmd": "audit.status"},
                 "denied": {"cmd": "elevation.check", "user": "x", "service": "sudo"}}[k])
s.sendall(b"".join(frame(r) for r in reqs))
got, buf = read(s, len(reqs), buf)
last_seq = 0
for i, (k, a) in enumerate(zip(kinds, got)):
    if k == "note":
        assert a["ok"] and a["first_seq"] > last_seq and a["durable_seq"] >= a["first_seq"], (i, a)
        last_seq = a["first_seq"]
    elif k == "status":
        assert a["ok"] and "vigild" in a and a["vigild"]["ctl"]["pipelined"] >= 1, (i, a)
    elif k == "ping":
        assert a == {"ok": True}, (i, a)
    elif k == "unknown":
        assert a["error"]["code"] == "unknown_command", (i, a)
    elif k == "malformed":
        assert a["error"]["code"] == "request_malformed", (i, a)
    elif k == "audit.status":
        assert a["ok"] and a["next_seq"] > last_seq, (i, a)
    elif k == "denied":
        # root may call it: any answer but a note's or a status's is in its place
        assert "first_seq" not in a and "vigild" not in a, (i, a)
# the connection stays usable
s.sendall(frame({"cmd": "ping"}))
assert read(s, 1, buf)[0] == [{"ok": True}]
print("  %d mixed requests answered in order; notes durable when acknowledged" % len(reqs))
PY
ok "pipelined answers in request order, notes acknowledged only once durable"

# 2. the producer path
seq 1 3000 | sed 's/^/stdin note /' | ctl audit note --stdin --window 32 >"$T/stdin.out" ||
	fail "vigilctl audit note --stdin: $(cat "$T/stdin.out")"
assert_contains "$(cat "$T/stdin.out")" "3000 notes recorded" "vigilctl audit note --stdin: 3000 lines, 3000 notes"

# 3. per-uid cap: root with 24 pipelined connections of 64 notes each (1536 > 1024)
python3 - "$S" "$T" <<'PY' || fail "root exceeded its in-flight cap or lost answers"
import sys; sys.path.insert(0, sys.argv[2])
from pipe import *
conns = [connect(sys.argv[1]) for _ in range(24)]
# all 1536 sent as close together as possible, so that they overlap a group commit
batches = [b"".join(frame({"cmd": "audit.note", "text": "cap-%d-%d" % (i, j)}) for j in range(64)) for i in range(24)]
for (s, _), b in zip(conns, batches):
    s.sendall(b)
n = 0
for s, (hello, buf) in conns:
    got, _ = read(s, 64, buf)
    n += sum(1 for a in got if a["ok"])
s, (_, buf) = connect(sys.argv[1])
s.sendall(frame({"cmd": "status"}))
ctl = read(s, 1, buf)[0][0]["vigild"]["ctl"]
peak = ctl["in_flight_peak_per_uid"]["root"]
print("  %d of 1536 notes acknowledged; root's peak in flight %d (cap 1024), cap reached %d times"
      % (n, peak, ctl["uid_cap_reached"]))
assert n == 1536 and 64 < peak <= 1024 and ctl["uid_cap_reached"] >= 1, ctl
PY
ok "root's requests in flight stay within its cap; all 1536 answered"

# 4. a user who never reads: 16 pipelined connections (its slot limit) flooding status
python3 - "$S" "$T" <<'PY' || fail "a slow reader stalled vigild or kept its connections"
import os, sys, time; sys.path.insert(0, sys.argv[2])
from pipe import *
path = sys.argv[1]
r, w = os.pipe()
hold_r, hold_w = os.pipe()  # the user's connections stay open until the parent closes hold_w
pid = os.fork()
if pid == 0:
    os.close(r); os.close(hold_w)
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
    conns = [connect(path)[0] for _ in range(16)]
    extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); extra.settimeout(5); extra.connect(path)
    try:
        extra.sendall(frame({"cmd": "ping"}))
    except BrokenPipeError:
        pass  # refused at once: the answer saying why is waiting all the same
    busy = json.loads(extra.recv(65536)[4:]).get("error", {}).get("code")
    for s in conns:
        s.setblocking(False)
    t0, sent = time.monotonic(), 0
    # keep pushing status requests and never read: vigild stops reading them
    while time.monotonic() - t0 < 3:
        for s in conns:
            try:
                s.send(frame({"cmd": "status"}) * 64); sent += 64
            except BlockingIOError:
                pass
            except OSError:
                pass
        time.sleep(0.01)
    os.write(w, ("%s %d\n" % (busy, sent)).encode())
    os.read(hold_r, 1)
    os._exit(0)
os.close(w); os.close(hold_r)
time.sleep(0.5)
worst = 0
for i in range(20):
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(10); s.connect(path)
    s.sendall(frame({"cmd": "elevation.check", "user": "nobody", "service": "sudo"} if i % 2 else {"cmd": "status"}))
    read(s, 1, b"")
    worst = max(worst, time.monotonic() - t0)
    time.sleep(0.1)
busy, sent = os.read(r, 100).decode().split()
# every one of the user's connections holds unread answers: each is closed ctl_timeout_ms
# after its answers stopped moving, while the user still holds it open
t0 = time.monotonic()
while True:
    s, (_, buf) = connect(path)
    s.sendall(frame({"cmd": "status"}))
    ctl = read(s, 1, buf)[0][0]["vigild"]["ctl"]
    s.close()
    if ctl["slow_readers_closed"] >= 16 or time.monotonic() - t0 > 30:
        break
    time.sleep(0.5)
os.close(hold_w)
os.waitpid(pid, 0)
print("  17th connection of the user: %s; root's worst answer during the flood %.3f s; "
      "%s status requests pushed; slow readers closed %d; user's peak in flight %d"
      % (busy, worst, sent, ctl["slow_readers_closed"], ctl["in_flight_peak_per_uid"]["user"]))
assert busy == "busy", busy
assert worst < 1.0, worst
assert ctl["slow_readers_closed"] >= 16, ctl
assert ctl["in_flight_peak_per_uid"]["user"] <= 64, ctl
PY
ok "a user that never reads its answers holds 16 slots at most, stalls nobody and is closed"
grep -q "its answers were not read" "$T/vigild.log" || fail "no journal line for the slow readers"

# 5. kill -9 in the middle of 8 pipelined producers
mkdir "$T/acked"
python3 "$ROOT/tests/integration/audit_producers.py" "$S" 8 60 "$T/acked" 64 >"$T/producers.log" 2>&1 &
prod=$!
on_exit "touch $T/acked/stop; kill $prod 2>/dev/null"
i=0
until [ "$(cat "$T"/acked/acked.* 2>/dev/null | wc -l)" -ge 2000 ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "the pipelined producers got no answers: $(tail -5 "$T/producers.log")"
	sleep 0.1
done
kill -9 "$VIGILD_PID"
wait "$VIGILD_PID" 2>/dev/null || true
VIGILD_PID=""
touch "$T/acked/stop"
wait "$prod" 2>/dev/null || true
rm -f "$S"
start_vigild
stop_vigild
out=$("$VIGILCTL" audit verify --dir "$T/state/audit")
assert_contains "$out" "intact" "the log verifies after kill -9 mid-pipeline"
"$VIGILCTL" --json audit tail --dir "$T/state/audit" -n 1000000 >"$T/log.jsonl"
python3 - "$T" <<'PY' || fail "an acknowledged note is missing after kill -9 mid-pipeline"
import glob, json, sys
t = sys.argv[1]
notes = {json.loads(l)["data"].get("reason") for l in open(t + "/log.jsonl")}
acked = set()
for f in glob.glob(t + "/acked/acked.*"):
    acked |= set(open(f).read().split())
lost = sorted(acked - notes)
print("  acknowledged %d pipelined notes before kill -9, lost %d %s" % (len(acked), len(lost), lost[:5]))
sys.exit(1 if lost else 0)
PY
ok "kill -9 mid-pipeline lost no acknowledged note"
