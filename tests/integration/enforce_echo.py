#!/usr/bin/env python3
"""Both ends of an inbound connection, each counting what it received (evidence
from the receivers, not from errno).

  serve tcp|udp ADDR PORT FILE [reuseport]
                                 echo what arrives back to its sender; FILE is
                                 rewritten with "conns N bytes B replied R
                                 reply_errors E" after each change; reuseport:
                                 the socket sets SO_REUSEPORT; PORT may be a
                                 range FIRST-LAST (TCP: one listener each)
  client tcp|udp ADDR PORT N     connect (TCP) or send (UDP) N bytes, read the
                                 echo for up to 2 s; prints "connected C sent S
                                 received R" (C: 1 when the TCP handshake
                                 completed, UDP: 1)
  connects tcp ADDR PORT K       K TCP connections to each port of PORT (a port
                                 or FIRST-LAST), each from a new socket, each
                                 sending one byte, waiting 0.2 s at most for the
                                 handshake; prints "connected C"
"""
import os, select, socket, sys, time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def ports(spec):
    first, _, last = spec.partition("-")
    return range(int(first), int(last or first) + 1)


def serve(proto, addr, portspec, path, reuseport=False):
    st = {"conns": 0, "bytes": 0, "replied": 0, "reply_errors": 0}

    def report():
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(" ".join("%s %d" % kv for kv in st.items()) + "\n")
        os.rename(tmp, path)

    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    listeners = []
    for port in ports(portspec):
        s = socket.socket(family(addr), kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind((addr, port))
        if proto == "tcp":
            s.listen(64)
        listeners.append(s)
    report()
    socks = list(listeners)
    while True:
        ready, _, _ = select.select(socks, [], [])
        for r in ready:
            if r in listeners and proto == "tcp":
                c, _ = r.accept()
                socks.append(c)
                st["conns"] += 1
            elif proto == "udp":
                data, peer = r.recvfrom(65536)
                st["bytes"] += len(data)
                try:
                    r.sendto(data, peer)
                    st["replied"] += len(data)
                except OSError:
                    st["reply_errors"] += 1
            else:
                try:
                    data = r.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    socks.remove(r)
                    r.close()
                else:
                    st["bytes"] += len(data)
                    try:
                        r.sendall(data)
                        st["replied"] += len(data)
                    except OSError:
                        st["reply_errors"] += 1
            report()


def client(proto, addr, port, n):
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family(addr), kind)
    s.settimeout(2)
    connected, sent, got = 0, 0, 0
    try:
        s.connect((addr, port))
        connected = 1
        s.sendall(b"x" * n)
        sent = n
        deadline = time.monotonic() + 2
        while got < n and time.monotonic() < deadline:
            data = s.recv(65536)
            if not data:
                break
            got += len(data)
    except OSError:
        pass
    print("connected %d sent %d received %d" % (connected, sent, got), flush=True)


def connects(addr, portspec, k):
    n = 0
    for port in ports(portspec):
        for _ in range(k):
            s = socket.socket(family(addr), socket.SOCK_STREAM)
            s.settimeout(0.2)
            try:
                s.connect((addr, port))
                s.sendall(b"x")
                n += 1
            except OSError:
                pass
            s.close()
    print("connected %d" % n, flush=True)


if __name__ == "__main__":
    a = sys.argv
    if len(a) < 6 or a[1] not in ("serve", "client", "connects") or a[2] not in ("tcp", "udp"):
        sys.exit(__doc__)
    if a[1] == "serve" and len(a) in (6, 7):
        serve(a[2], a[3], a[4], a[5], a[6:] == ["reuseport"])
    elif a[1] == "client" and len(a) == 6:
        client(a[2], a[3], int(a[4]), int(a[5]))
    elif a[1] == "connects" and len(a) == 6 and a[2] == "tcp":
        connects(a[3], a[4], int(a[5]))
    else:
        sys.exit(__doc__)
