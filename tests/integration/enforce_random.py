#!/usr/bin/env python3
"""Random policies and destinations for t_enforce_explain.sh and t_enforce_swap.sh.

  policy SEED CGREL OUTDIR      tenants.json + shared.json: 3 tenants, nested CIDRs, segments
  samples SEED N OUTDIR         per-tenant prober requests (t1.req ...) and samples.json
  compare SOCKET OUTDIR         asks vigild's explain for every sample (control socket),
                                compares with the kernel's answers (t1.out ...)
"""
import json, os, random, socket, struct, sys

TENANTS = ["t1", "t2", "t3"]
V4 = ["10.%d.%d.0" % (a, b) for a in (1, 2, 3) for b in (0, 64, 128)]
V6 = ["2001:db8:%x::" % a for a in (1, 2, 3)]


def rnd_cidr(r):
    if r.random() < 0.7:
        base = r.choice(V4).split(".")
        plen = r.choice([8, 16, 18, 24, 26, 28, 32])
        net = [int(x) for x in base]
        net[3] = r.randrange(0, 256)
        val = (net[0] << 24) | (net[1] << 16) | (net[2] << 8) | net[3]
        val &= (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0
        return "%d.%d.%d.%d/%d" % (val >> 24, (val >> 16) & 255, (val >> 8) & 255, val & 255, plen)
    plen = r.choice([32, 48, 64, 120, 128])
    import ipaddress
    a = ipaddress.IPv6Address(r.choice(V6)) + r.randrange(0, 256)
    return str(ipaddress.IPv6Network("%s/%d" % (a, plen), strict=False))


def rnd_ports(r):
    out = []
    for _ in range(r.randrange(1, 4)):
        lo = r.randrange(1, 40)
        hi = lo + r.randrange(0, 5)
        out.append(str(lo) if lo == hi else "%d-%d" % (lo, hi))
    return out


def rnd_rule(r, rid):
    rule = {"id": rid, "cidr": rnd_cidr(r), "proto": r.choice(["tcp", "udp", "any"])}
    if r.random() < 0.8:
        rule["ports"] = rnd_ports(r)
    return rule


def policy(seed, cgrel, outdir, nrules=40):
    r = random.Random(seed)
    rid = 1
    shared = []
    for s in range(2):
        rules = []
        for _ in range(3):
            rules.append(rnd_rule(r, rid))
            rid += 1
        shared.append({"name": "svc%d" % s, "rules": rules})
    tenants = []
    for i, name in enumerate(TENANTS):
        rules = []
        for _ in range(nrules):
            rules.append(rnd_rule(r, rid))
            rid += 1
        # segments may not overlap across tenants (the validator refuses it)
        segs = ["10.%d.64.0/18" % (i + 1), "2001:db8:%x::80/121" % (i + 1)]
        tenants.append({"name": name, "id": i + 1, "mode": "enforce", "cgroups": ["%s/%s" % (cgrel, name)],
                        "segments": segs, "egress": rules,
                        "shared": [s["name"] for s in shared if r.random() < 0.5]})
    json.dump(tenants, open(os.path.join(outdir, "tenants.json"), "w"))
    json.dump(shared, open(os.path.join(outdir, "shared.json"), "w"))


def rnd_dst(r):
    import ipaddress
    if r.random() < 0.65:
        a = ipaddress.IPv4Address(r.choice(V4)) + r.randrange(0, 256)
        if r.random() < 0.2:
            return "::ffff:%s" % a
        return str(a)
    return str(ipaddress.IPv6Address(r.choice(V6)) + r.randrange(0, 256))


def samples(seed, n, outdir):
    r = random.Random(seed)
    out = {t: [] for t in TENANTS}
    for _ in range(n):
        t = r.choice(TENANTS)
        out[t].append({"proto": r.choice(["tcp", "udp"]), "dst": rnd_dst(r), "port": r.randrange(1, 45)})
    for t, lst in out.items():
        with open(os.path.join(outdir, t + ".req"), "w") as f:
            for s in lst:
                f.write("%s %s %d\n" % (s["proto"], s["dst"], s["port"]))
    json.dump(out, open(os.path.join(outdir, "samples.json"), "w"))


def explain(sock, req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    body = json.dumps(req).encode()
    s.sendall(struct.pack(">I", len(body)) + body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    (n,) = struct.unpack(">I", data[:4])
    return json.loads(data[4:4 + n])


def compare(sock, outdir):
    smp = json.load(open(os.path.join(outdir, "samples.json")))
    total = mismatches = denied = 0
    for t, lst in smp.items():
        kernel = open(os.path.join(outdir, t + ".out")).read().split("\n")
        for s, k in zip(lst, kernel):
            rep = explain(sock, {"cmd": "enforce.explain", "tenant": t, "dst": s["dst"], "port": s["port"],
                                 "proto": s["proto"]})
            if not rep.get("ok"):
                print("explain failed: %s" % rep)
                return 1
            kden = k.startswith("deny")
            if not k.startswith("allow") and not kden:
                print("prober said %r for %s %s" % (k, t, s))
                return 1
            total += 1
            denied += kden
            if kden == rep["allowed"]:
                mismatches += 1
                if mismatches <= 10:
                    print("MISMATCH %s %s %s:%d: kernel %s, explain %s (%s rule %s)" % (
                        t, s["proto"], s["dst"], s["port"], k, rep["decision"], rep["verdict"], rep.get("rule_id")))
    print("%d samples, %d denied by the kernel, %d mismatches" % (total, denied, mismatches))
    if mismatches or total == 0:
        return 1
    # both answers must occur, or the comparison proves little
    if denied < total // 10 or denied > total - total // 10:
        print("the sample is lopsided (%d of %d denied): fix the generator" % (denied, total))
        return 1
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "policy":
        policy(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 40)
    elif cmd == "samples":
        samples(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif cmd == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(2)
