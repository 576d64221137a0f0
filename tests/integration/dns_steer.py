#!/usr/bin/env python3
"""Test helper for DNS steering (t_enforce_dns_steer.sh).

dns_steer.py serve FILE ADDR:PORT...   a stand-in for vigild's DNS forwarder: UDP and TCP on
    each address (IPv6 in brackets), answers every A question with 192.0.2.99 (others: no
    answer), and rewrites FILE with "udp N tcp M" after each question it received.
dns_steer.py ask udp|tcp ADDR PORT     one A question for steer.example from this process:
    prints "answer A from ADDR PORT" (recvfrom's source, getpeername for TCP), or
    "deny" when the kernel refused (EPERM), or "error WHAT".
"""
import errno, os, select, socket, struct, sys

QNAME = b"\x05steer\x07example\x00"


def query(qid):
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + QNAME + struct.pack(">HH", 1, 1)


def answer(q):
    if len(q) < 12:
        return None
    qid, _, qd = struct.unpack(">HHH", q[:6])
    end = 12
    while end < len(q) and q[end] != 0:
        end += q[end] + 1
    question = q[12:end + 5]
    qtype = struct.unpack(">H", q[end + 1:end + 3])[0] if end + 3 <= len(q) else 0
    ans = b""
    if qtype == 1:
        ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 30, 4) + bytes([192, 0, 2, 99])
    return struct.pack(">HHHHHH", qid, 0x8180, 1, 1 if ans else 0, 0, 0) + question + ans


def addr(s):
    host, port = s.rsplit(":", 1)
    if host.startswith("["):
        return socket.AF_INET6, (host[1:-1], int(port))
    return socket.AF_INET, (host, int(port))


def serve(path, addrs):
    counts = {"udp": 0, "tcp": 0}
    udp, tcp = [], []
    for a in addrs:
        fam, sa = addr(a)
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind(sa)
        t = socket.socket(fam, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind(sa)
        t.listen(64)
        udp.append(u)
        tcp.append(t)

    def note(kind):
        counts[kind] += 1
        with open(path + ".tmp", "w") as f:
            f.write("udp %d tcp %d\n" % (counts["udp"], counts["tcp"]))
        os.rename(path + ".tmp", path)

    with open(path, "w") as f:
        f.write("udp 0 tcp 0\n")
    conns = []
    while True:
        r, _, _ = select.select(udp + tcp + conns, [], [])
        for s in r:
            if s in udp:
                q, peer = s.recvfrom(65535)
                note("udp")
                a = answer(q)
                if a:
                    s.sendto(a, peer)
            elif s in tcp:
                c, _ = s.accept()
                c.settimeout(2)
                conns.append(c)
            else:
                conns.remove(s)
                try:
                    n = struct.unpack(">H", s.recv(2))[0]
                    q = b""
                    while len(q) < n:
                        chunk = s.recv(n - len(q))
                        if not chunk:
                            break
                        q += chunk
                    note("tcp")
                    a = answer(q)
                    if a:
                        s.sendall(struct.pack(">H", len(a)) + a)
                except (OSError, struct.error):
                    pass
                s.close()


def ask(proto, host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
    s.settimeout(2)
    q = query(0x4242)
    try:
        if proto == "udp":
            s.sendto(q, (host, port))
            data, peer = s.recvfrom(65535)
        else:
            s.connect((host, port))
            peer = s.getpeername()
            s.sendall(struct.pack(">H", len(q)) + q)
            n = struct.unpack(">H", s.recv(2))[0]
            data = s.recv(n)
    except PermissionError:
        print("deny")
        return
    except OSError as e:
        print("error", e.strerror or e)
        return
    a = "A" if len(data) > 12 and struct.unpack(">H", data[6:8])[0] == 1 else "none"
    print("answer", a, "from", peer[0], peer[1])


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3:])
    else:
        ask(sys.argv[2], sys.argv[3], int(sys.argv[4]))
