#!/usr/bin/env python3
"""DNS test client for t_dns.sh and bench/dns.sh (docs/dns.md).

query SERVER PORT NAME [A|AAAA|TXT] [--tcp] [--edns SIZE]
    one question; prints "rcode=N tc=0|1 addrs=A,B qname=NAME ttl=T" (addresses of the answer
    section, the question's name as the answer gives it back, the first answer record's TTL)
flood SERVER PORT COUNT [SUFFIX]
    COUNT questions for random names under SUFFIX (flood.test), 64 in flight;
    prints "sent=N answered=N rcodes=... foreign=N seconds=S" (foreign: datagrams that answer
    no question of this client's, not counted as answers)
connect NAME PORT
    getaddrinfo (glibc, /etc/resolv.conf) then a TCP connect to every address, at once:
    prints "ADDR connected" or "ADDR error ERRNO" per address (the first connect after the lookup)
count-udp ADDR PORT FILE
    a receiver: the number of datagrams that reached ADDR:PORT, rewritten into FILE
lookups SERVER PORT NAME COUNT [CONNECT_PORT]
    COUNT sequential A questions, each followed by a TCP connect to the first address on
    CONNECT_PORT when given; prints "ok=N seconds=S p50_us=M p99_us=K" (the median and 99th
    percentile question+connect). "{}" in NAME: a name never asked before each time (a
    random token of this run and the question's number)
slow-server ADDR DELAY ANSWER
    a resolver on ADDR:53 (UDP) answering every A question with ANSWER (TTL 1) after DELAY seconds
forge SRC DST DPORT NAME ANSWER
    the attacker: one answer "NAME A ANSWER" with a random id, sent from SRC:53 to DST:DPORT
    (a raw socket: SRC may be an address another process serves DNS on)
"""
import os, random, select, socket, string, struct, sys, time

TYPES = {"A": 1, "AAAA": 28, "TXT": 16}


def question(name, qtype, qid, edns=0):
    h = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1 if edns else 0)
    q = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
    q += struct.pack("!HH", qtype, 1)
    if edns:
        q += b"\0" + struct.pack("!HHIH", 41, edns, 0, 0)
    return h + q


def skip_name(m, off):
    while True:
        l = m[off]
        if l & 0xC0 == 0xC0:
            return off + 2
        if l == 0:
            return off + 1
        off += 1 + l


def parse(m):
    qid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", m[:12])
    off = 12
    for _ in range(qd):
        off = skip_name(m, off) + 4
    addrs = []
    for _ in range(an):
        off = skip_name(m, off)
        t, _, _, rdlen = struct.unpack("!HHIH", m[off:off + 10])
        off += 10
        if t == 1:
            addrs.append(socket.inet_ntop(socket.AF_INET, m[off:off + 4]))
        elif t == 28:
            addrs.append(socket.inet_ntop(socket.AF_INET6, m[off:off + 16]))
        off += rdlen
    return qid, flags & 0xF, (flags >> 9) & 1, addrs


def family(server):
    return socket.AF_INET6 if ":" in server else socket.AF_INET


LAST = [b""]  # the last answer ask() took, as it came


def first_ttl(m):
    if struct.unpack("!H", m[6:8])[0] == 0:
        return -1
    off = skip_name(m, skip_name(m, 12) + 4)
    return struct.unpack("!I", m[off + 4:off + 8])[0]


def ask(server, port, name, qtype=1, tcp=False, edns=0, timeout=3.0):
    qid = random.randrange(65536)
    msg = question(name, qtype, qid, edns)
    if tcp:
        s = socket.socket(family(server), socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect((server, port))
        s.sendall(struct.pack("!H", len(msg)) + msg)
        buf = b""
        while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
            chunk = s.recv(65537)
            if not chunk:
                raise OSError("connection closed")
            buf += chunk
        s.close()
        LAST[0] = buf[2:]
        return parse(buf[2:])
    s = socket.socket(family(server), socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.connect((server, port))
    s.send(msg)
    while True:
        m = s.recv(65535)
        r = parse(m)
        if r[0] == qid:
            s.close()
            LAST[0] = m
            return r


def cmd_query(a):
    tcp = "--tcp" in a
    edns = int(a[a.index("--edns") + 1]) if "--edns" in a else 0
    pos = [x for i, x in enumerate(a) if not x.startswith("--") and (i == 0 or a[i - 1] != "--edns")]
    qtype = TYPES[pos[3]] if len(pos) > 3 else 1
    try:
        _, rcode, tc, addrs = ask(pos[0], int(pos[1]), pos[2], qtype, tcp, edns)
    except OSError as e:
        print("error %s" % e)
        return 1
    print("rcode=%d tc=%d addrs=%s qname=%s ttl=%d" % (rcode, tc, ",".join(addrs), qname(LAST[0]), first_ttl(LAST[0])))
    return 0


def qname(m):
    labels, o = [], 12
    while m[o]:
        labels.append(m[o + 1:o + 1 + m[o]].decode())
        o += 1 + m[o]
    return ".".join(labels)


def cmd_flood(a):
    server, port, count = a[0], int(a[1]), int(a[2])
    suffix = a[3] if len(a) > 3 else "flood.test"
    t0 = time.perf_counter()
    s = socket.socket(family(server), socket.SOCK_DGRAM)
    s.connect((server, port))
    s.setblocking(False)
    sent = answered = foreign = 0
    rcodes = {}
    asked = set()
    deadline = time.time() + 30
    while (sent < count or answered < sent) and time.time() < deadline:
        while sent < count and sent - answered < 64:
            name = "".join(random.choice(string.ascii_lowercase) for _ in range(12)) + "." + suffix
            try:
                s.send(question(name, 1, sent & 0xFFFF))
            except BlockingIOError:
                break
            asked.add(name)
            sent += 1
        r, _, _ = select.select([s], [], [], 1.0)
        if not r:
            break
        try:
            while True:
                m = s.recv(65535)
                if qname(m) not in asked:
                    foreign += 1
                    continue
                asked.discard(qname(m))
                _, rcode, _, _ = parse(m)
                answered += 1
                rcodes[rcode] = rcodes.get(rcode, 0) + 1
        except BlockingIOError:
            pass
    print("sent=%d answered=%d rcodes=%s foreign=%d seconds=%.4f"
          % (sent, answered, ",".join("%d:%d" % kv for kv in sorted(rcodes.items())), foreign, time.perf_counter() - t0))
    return 0


def cmd_connect(a):
    name, port = a[0], int(a[1])
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        print("lookup-failed %s" % e.args[0])
        return 0
    seen = []
    for fam, _, _, _, sa in infos:
        if sa[0] in seen:
            continue
        seen.append(sa[0])
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(sa)
            print("%s connected" % sa[0])
        except OSError as e:
            print("%s error %s" % (sa[0], e.errno))
        s.close()
    return 0


def cmd_count_udp(a):
    addr, port, path = a[0], int(a[1]), a[2]
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.bind((addr, port))
    n = 0
    with open(path + ".tmp", "w") as f:
        f.write("datagrams 0\n")
    os.rename(path + ".tmp", path)
    while True:
        s.recv(65535)
        n += 1
        with open(path + ".tmp", "w") as f:
            f.write("datagrams %d\n" % n)
        os.rename(path + ".tmp", path)


def cmd_lookups(a):
    server, port, name, count = a[0], int(a[1]), a[2], int(a[3])
    cport = int(a[4]) if len(a) > 4 else 0
    ok = 0
    each = []
    token = "".join(random.choice(string.ascii_lowercase) for _ in range(8))
    names = [name.replace("{}", "%s%d" % (token, i)) for i in range(count)]
    t0 = time.perf_counter()
    for i in range(count):
        t1 = time.perf_counter()
        _, rcode, _, addrs = ask(server, port, names[i])
        if rcode or not addrs:
            continue
        if cport:
            c = socket.create_connection((addrs[0], cport), timeout=2)
            c.close()
        ok += 1
        each.append(time.perf_counter() - t1)
    each.sort()
    pct = lambda f: each[min(len(each) - 1, int(len(each) * f))] * 1e6 if each else 0
    print("ok=%d seconds=%.6f p50_us=%.1f p99_us=%.1f" % (ok, time.perf_counter() - t0, pct(0.5), pct(0.99)))
    return 0


def answer(name, qid, addr):
    m = question(name, 1, qid)
    m = m[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + m[12:]
    return m + struct.pack("!HHHIH", 0xC00C, 1, 1, 1, 4) + socket.inet_aton(addr)


def cmd_slow_server(a):
    addr, delay, ans = a[0], float(a[1]), a[2]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    pending = []
    while True:
        r, _, _ = select.select([s], [], [], 0.05)
        if r:
            m, peer = s.recvfrom(65535)
            pending.append((time.time() + delay, answer(qname(m), struct.unpack("!H", m[:2])[0], ans), peer))
        now = time.time()
        for p in [p for p in pending if p[0] <= now]:
            s.sendto(p[1], p[2])
            pending.remove(p)


def cmd_forge(a):
    src, dst, dport, name, ans = a[0], a[1], int(a[2]), a[3], a[4]
    payload = answer(name, random.randrange(65536), ans)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    s.bind((src, 0))
    # UDP header, checksum 0 (none, allowed over IPv4)
    s.sendto(struct.pack("!HHHH", 53, dport, 8 + len(payload), 0) + payload, (dst, 0))
    return 0


CMDS = {"query": cmd_query, "flood": cmd_flood, "connect": cmd_connect, "count-udp": cmd_count_udp,
        "lookups": cmd_lookups, "slow-server": cmd_slow_server, "forge": cmd_forge}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CMDS:
        sys.exit(__doc__)
    sys.exit(CMDS[sys.argv[1]](sys.argv[2:]))
