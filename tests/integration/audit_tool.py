#!/usr/bin/env python3
"""Tamper with a copied vigil audit log the way an attacker would (docs/audit.md "Record").
usage: audit_tool.py CMD DIR [SEQ]
  flip SEQ      flip one bit inside record SEQ's JSON
  delete SEQ    remove record SEQ
  swap SEQ      swap records SEQ and SEQ+1
  cut SEQ       truncate the log at the start of record SEQ (a record boundary)
  cutmid SEQ    truncate the log in the middle of record SEQ
  forge SEQ     re-sign checkpoint SEQ with a fresh key and rebuild the chain after it
  insert SEQ    insert junk bytes before record SEQ
  badlen SEQ    set record SEQ's length field beyond the end of its segment
  tear          append half a record to the last segment (a torn write)
  seqs FILE     (DIR is the collector file) print the sorted distinct data.seq values"""
import base64, hashlib, json, os, struct, sys

HDR = 84


def segments(d):
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".seg"))


def parse(path):
    data = open(path, "rb").read()
    recs, off = [], 0
    while off + HDR <= len(data):
        plen = struct.unpack(">I", data[off + 68:off + 72])[0]
        seq = struct.unpack(">Q", data[off + 72:off + 80])[0]
        kind = struct.unpack(">I", data[off + 80:off + 84])[0]
        recs.append({"off": off, "len": HDR + plen, "seq": seq, "kind": kind,
                     "prev": data[off + 32:off + 64], "payload": data[off + HDR:off + HDR + plen]})
        off += HDR + plen
    return data, recs


def encode(prev, seq, kind, payload):
    body = prev + b"VGA1" + struct.pack(">IQI", len(payload), seq, kind) + payload
    return hashlib.sha256(body).digest() + body


def find(d, seq):
    for p in segments(d):
        data, recs = parse(p)
        for i, r in enumerate(recs):
            if r["seq"] == seq:
                return p, data, recs, i
    sys.exit("no record %d in %s" % (seq, d))


def main():
    cmd, d = sys.argv[1], sys.argv[2]
    seq = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    if cmd == "seqs":
        seen = set()
        for line in open(d, encoding="utf-8", errors="replace"):
            i = line.find("{")
            if i < 0:
                continue
            try:
                seen.add(json.loads(line[i:])["data"]["seq"])
            except (ValueError, KeyError):
                pass
        print("\n".join(str(s) for s in sorted(seen)))
        return
    if cmd == "tear":
        p = segments(d)[-1]
        data, recs = parse(p)
        r = recs[-1]
        with open(p, "ab") as f:
            f.write(data[r["off"]:r["off"] + r["len"] // 2])
        return
    p, data, recs, i = find(d, seq)
    r = recs[i]
    out = None
    if cmd == "flip":
        b = bytearray(data)
        b[r["off"] + HDR + 10] ^= 0x01
        out = bytes(b)
    elif cmd == "delete":
        out = data[:r["off"]] + data[r["off"] + r["len"]:]
    elif cmd == "swap":
        n = recs[i + 1]
        out = data[:r["off"]] + data[n["off"]:n["off"] + n["len"]] + data[r["off"]:r["off"] + r["len"]] + \
            data[n["off"] + n["len"]:]
    elif cmd == "insert":
        out = data[:r["off"]] + b"junk that is not a record" + data[r["off"]:]
    elif cmd == "badlen":
        b = bytearray(data)
        b[r["off"] + 68:r["off"] + 72] = struct.pack(">I", 1 << 19)
        out = bytes(b)
    elif cmd == "cut":
        out = data[:r["off"]]
    elif cmd == "cutmid":
        out = data[:r["off"] + r["len"] // 2]
    elif cmd == "forge":
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        assert r["kind"] == 2, "not a checkpoint"
        ev = json.loads(r["payload"])
        dd = ev["data"]
        msg = "vigil-audit-checkpoint/1\n%s\n%s\n%d\n%s\n%s\n" % (ev["source"], dd["log_id"], dd["covers_seq"],
                                                                 dd["head_hash"], ev["time"])
        dd["sig"] = base64.b64encode(Ed25519PrivateKey.generate().sign(msg.encode())).decode()
        payload = json.dumps(ev, separators=(",", ":")).encode()
        prev = r["prev"]
        parts = [data[:r["off"]]]
        for k, x in enumerate(recs[i:]):
            rec = encode(prev, x["seq"], x["kind"], payload if k == 0 else x["payload"])
            prev = rec[:32]
            parts.append(rec)
        out = b"".join(parts)
    else:
        sys.exit(__doc__)
    with open(p, "wb") as f:
        f.write(out)
    if cmd in ("cut", "cutmid"):
        # everything after the cut point goes too
        for q in segments(d):
            if q > p:
                os.unlink(q)


main()
