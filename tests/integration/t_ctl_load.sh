#!/bin/sh
# vigild stays responsive while a 100 MB bundle is pushed: admin status, a
# user's status and a PAM-facing request (root) are each answered within 1 s
# from the first byte of the push to its answer.
. "$(dirname "$0")/lib.sh"
need_root
make_keys
write_config "max_bundle_bytes = 128M"
start_vigild
make_bundle "$T/v1.json" 1
ctl policy push "$T/v1.json" >/dev/null
chmod 755 "$T" "$T/run"

# a valid bundle of 100 MB: the host policy carries a long comment
python3 "$ROOT/tests/integration/mkbundle.py" --version 2 --out "$T/big.json"
python3 - "$T/big.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
b.setdefault("host", {})["comment"] = "x" * (100 * 1000 * 1000)
open(sys.argv[1], "w").write(json.dumps(b))
PY
"$VIGILCTL" policy sign --key "$T/keys/sec1.key" "$T/big.json" >/dev/null

# runs the push in the background and, until it ends, asks status (as root and as
# nobody, through a helper process that stays) and elevation.check (root, as
# pam_vigil.so does); prints the slowest answer. The probe runs at a higher
# priority so that it measures vigild, not its own turn on a loaded machine.
cat >"$T/probe.py" <<'PY'
import json, os, socket, struct, subprocess, sys, time
sock, cmd = sys.argv[1], sys.argv[2:]
def ask(req):
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock)
    p = json.dumps(req).encode()
    s.sendall(struct.pack(">I", len(p)) + p)
    h = b""
    while len(h) < 4:
        h += s.recv(4 - len(h))
    n, b = struct.unpack(">I", h)[0], b""
    while len(b) < n:
        b += s.recv(n - len(b))
    return time.monotonic() - t0 if "ok" in json.loads(b) else None
# the nobody helper: one request per line from the parent, answers with the time it took
r_req, w_req = os.pipe()
r_ans, w_ans = os.pipe()
if os.fork() == 0:
    os.close(w_req); os.close(r_ans)
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
    try:
        for line in os.fdopen(r_req):
            dt = ask(json.loads(line))
            os.write(w_ans, (json.dumps(dt) + "\n").encode())
    finally:
        os._exit(0)
os.close(r_req); os.close(w_ans)
to_helper, from_helper = os.fdopen(w_req, "w", buffering=1), os.fdopen(r_ans)
def as_nobody(req):
    to_helper.write(json.dumps(req) + "\n")
    line = from_helper.readline()
    return json.loads(line) if line else None
proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
worst, slowest, n = 0.0, "", 0
while proc.poll() is None:
    for req, who, call in (({"cmd": "status"}, "root", ask), ({"cmd": "status"}, "nobody", as_nobody),
                           ({"cmd": "elevation.check", "user": "nobody", "service": "sudo"}, "root", ask)):
        dt = call(req)
        if dt is None:
            sys.exit("no answer to %s (%s)" % (req["cmd"], who))
        if dt > worst:
            worst, slowest = dt, "%s (%s)" % (req["cmd"], who)
        n += 1
    time.sleep(0.05)
to_helper.close()
print(json.dumps({"worst": round(worst, 3), "slowest": slowest, "answers": n, "rc": proc.returncode,
                  "out": proc.stdout.read().decode()}))
PY
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

r=$(nice -n -10 python3 "$T/probe.py" "$T/run/vigil.sock" "$VIGILCTL" -s "$T/run/vigil.sock" policy push "$T/big.json")
assert_contains "$(field "$r" out)" "applied version 2" "100 MB bundle applied"
[ "$(field "$r" answers)" -ge 6 ] || fail "too few answers during the push: $r"
python3 -c "import sys; sys.exit(0 if $(field "$r" worst) < 1.0 else 1)" ||
	fail "$(field "$r" slowest) waited $(field "$r" worst) s during the 100 MB push ($(field "$r" answers) answers)"
ok "status (root, nobody) and elevation.check answered within 1 s during the push (worst $(field "$r" worst) s, $(field "$r" answers) answers)"
