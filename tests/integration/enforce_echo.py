#!/usr/bin/env python3
"""Both ends of an inbound connection, each counting what it received (evidence
from the receivers, not from errno).

  serve tcp|udp ADDR PORT FILE   echo what arrives back to its sender; FILE is
                                 rewritten with "conns N bytes B replied R
                                 reply_errors E" after each change
  client tcp|udp ADDR PORT N     connect (TCP) or send (UDP) N bytes, read the
                                 echo for up to 2 s; prints "connected C sent S
                                 received R" (C: 1 when the TCP handshake
                                 completed, UDP: 1)
"""
import os, select, socket, sys, time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(proto, addr, port, path):
    st = {"conns": 0, "bytes": 0, "replied": 0, "reply_errors": 0}

    def report():
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(" ".join("%s %d" % kv for kv in st.items()) + "\n")
        os.rename(tmp, path)

    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family(addr), kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    if proto == "tcp":
        s.listen(16)
    report()
    socks = [s]
    while True:
        ready, _, _ = select.select(socks, [], [])
        for r in ready:
            if r is s and proto == "tcp":
                c, _ = s.accept()
                socks.append(c)
                st["conns"] += 1
            elif proto == "udp":
                data, peer = s.recvfrom(65536)
                st["bytes"] += len(data)
                try:
                    s.sendto(data, peer)
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


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[1] not in ("serve", "client") or sys.argv[2] not in ("tcp", "udp"):
        sys.exit(__doc__)
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        client(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
