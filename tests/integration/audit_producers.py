#!/usr/bin/env python3
"""Concurrent producers of single audit notes (docs/control-socket.md framing).

usage: audit_producers.py SOCKET PRODUCERS SECONDS OUTDIR [WINDOW]

Producer k sends `audit.note` requests with the text "p<k>-<i>" until SECONDS have passed,
OUTDIR/stop exists or vigild stops answering. Without WINDOW each request has its own
connection, one at a time, as PAM and vigilctl connect; with WINDOW the producer opens one
pipelined connection (ctl.pipeline) and keeps up to WINDOW requests in flight, each answer
matched to its request by order. Every acknowledged text ("ok": true) is appended to
OUTDIR/acked.<k> at once (so a kill -9 of vigild keeps the list true). Prints
"<acknowledged> <seconds> <events/s>" on the last line."""
import collections, json, os, socket, struct, sys, time
from multiprocessing import Process


def call(path, req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(path)
        body = json.dumps(req).encode()
        s.sendall(struct.pack(">I", len(body)) + body)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                return None
            buf += chunk
        return json.loads(buf[4:4 + struct.unpack(">I", buf[:4])[0]])
    finally:
        s.close()


def producer(path, k, until, outdir):
    i, errors = 0, 0
    with open(os.path.join(outdir, "acked.%d" % k), "a", buffering=1) as out:
        while time.monotonic() < until and not os.path.exists(os.path.join(outdir, "stop")):
            i += 1
            text = "p%d-%d" % (k, i)
            try:
                rep = call(path, {"cmd": "audit.note", "text": text})
            except OSError:
                rep = None
            if rep and rep.get("ok") is True:
                out.write(text + "\n")
                errors = 0
            else:
                errors += 1
                if errors > 50:
                    return
                time.sleep(0.01)


def frame(req):
    body = json.dumps(req).encode()
    return struct.pack(">I", len(body)) + body


def answers(s, buf):
    """the complete answers in buf after one recv, and what remains"""
    chunk = s.recv(262144)
    if not chunk:
        raise ConnectionError("vigild closed the connection")
    buf += chunk
    out = []
    while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
        n = struct.unpack(">I", buf[:4])[0]
        out.append(json.loads(buf[4:4 + n]))
        buf = buf[4 + n:]
    return out, buf


def pipelined(path, k, until, outdir, window):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(frame({"cmd": "ctl.pipeline", "window": window}))
    got, buf = [], b""
    while not got:
        got, buf = answers(s, buf)
    window = min(window, got[0]["window"])
    pending, i = collections.deque(), 0
    with open(os.path.join(outdir, "acked.%d" % k), "a", buffering=1) as out:
        try:
            while True:
                more = b""
                while len(pending) < window and time.monotonic() < until and \
                        not os.path.exists(os.path.join(outdir, "stop")):
                    i += 1
                    pending.append("p%d-%d" % (k, i))
                    more += frame({"cmd": "audit.note", "text": pending[-1]})
                if more:
                    s.sendall(more)
                if not pending:
                    return
                got, buf = answers(s, buf)
                for rep in got:
                    text = pending.popleft()
                    if rep.get("ok") is True:
                        out.write(text + "\n")
        except OSError:
            return


def main():
    path, n, secs, outdir = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    window = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    t0 = time.monotonic()
    procs = [Process(target=pipelined if window else producer,
                     args=(path, k, t0 + secs, outdir) + ((window,) if window else ()))
             for k in range(1, n + 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    took = time.monotonic() - t0
    acked = 0
    for k in range(1, n + 1):
        with open(os.path.join(outdir, "acked.%d" % k)) as f:
            acked += sum(1 for _ in f)
    print("%d %.3f %.0f" % (acked, took, acked / took))


if __name__ == "__main__":
    main()
