#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Independent verifier of vigil audit logs, written from docs/audit.md alone
("Local log format", "Gaps", "Checkpoints and the host key", "Verify": the
algorithm). Python standard library plus the openssl command line for Ed25519.

  vigil-audit-verify.py [--dir D] [--pubkey F] [--from SEQ] [--head F | --no-head]
  vigil-audit-verify.py --events COLLECTOR.jsonl [--source S] [--from SEQ] [--pubkey F]

Prints one line per log: "intact ..." or "FAILED at seq N: reason: detail";
--json prints a list of {log, ok, bad_seq, reason, records, gaps_explained}.
Exit 0 intact, 4 verification failed, 1 unreadable input.
"""
import argparse
import base64
import binascii
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

HDR = 84
MAGIC = b"VGA1"
MAX_PAYLOAD = 1 << 20
GAP_TYPES = {"dev.vigil.audit.segments_removed", "dev.vigil.audit.tail_cut",
             "dev.vigil.audit.damaged", "dev.vigil.audit.rolled_back"}
CKPT_TYPE = "dev.vigil.audit.checkpoint"


class Unreadable(Exception):
    pass


class Key:
    """The host public key (PEM SubjectPublicKeyInfo) and its key_id."""

    def __init__(self, path):
        self.path = path
        der = subprocess.run(["openssl", "pkey", "-pubin", "-in", path, "-outform", "DER"],
                             capture_output=True)
        if der.returncode != 0:
            raise Unreadable("%s: not a PEM public key" % path)
        self.key_id = hashlib.sha256(der.stdout).hexdigest()[:16]
        self.tmp = tempfile.mkdtemp(prefix="vigil-verify-")

    def verify(self, domain, message, sig):
        data = b"vigil-hostkey/1\n" + domain.encode() + b"\n" + message
        mp, sp = os.path.join(self.tmp, "m"), os.path.join(self.tmp, "s")
        with open(mp, "wb") as f:
            f.write(data)
        with open(sp, "wb") as f:
            f.write(sig)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", self.path, "-rawin",
                            "-in", mp, "-sigfile", sp], capture_output=True)
        return r.returncode == 0


def decode(buf, off, end):
    """'ok' (seq, kind, prev, hash, payload, size), 'partial', or 'bad' at buf[off:end]."""
    if end - off < HDR:
        return "partial", None
    if buf[off + 64:off + 68] != MAGIC:
        return "bad", None
    n = int.from_bytes(buf[off + 68:off + 72], "big")
    kind = int.from_bytes(buf[off + 80:off + 84], "big")
    if n > MAX_PAYLOAD or kind not in (1, 2):
        return "bad", None
    if end - off < HDR + n:
        return "partial", None
    h = hashlib.sha256(buf[off + 32:off + HDR + n]).digest()
    if h != buf[off:off + 32]:
        return "bad", None
    seq = int.from_bytes(buf[off + 72:off + 80], "big")
    return "ok", (seq, kind, buf[off + 32:off + 64], h, buf[off + HDR:off + HDR + n], HDR + n)


def read_dir(d):
    """Yields ('rec', rec) | ('damage', where) | ('partial', nbytes), segment by segment."""
    try:
        names = sorted(x for x in os.listdir(d) if len(x) == 24 and x.endswith(".seg") and x[:20].isdigit()
                       and int(x[:20]) > 0)
    except OSError as e:
        raise Unreadable("%s: %s" % (d, e))
    for i, name in enumerate(names):
        last = i == len(names) - 1
        with open(os.path.join(d, name), "rb") as f:
            buf = f.read()
        off, end = 0, len(buf)
        while off < end:
            st, rec = decode(buf, off, end)
            if st == "ok":
                yield "rec", rec
                off += rec[5]
                continue
            if st == "partial" and last:
                yield "partial", end - off
                break
            yield "damage", "%s offset %d" % (name, off)
            # the next offset of this segment that holds a valid record
            nxt = end
            for q in range(off + 1, end - HDR + 1):
                if buf[q + 64:q + 68] == MAGIC and decode(buf, q, end)[0] == "ok":
                    nxt = q
                    break
            off = nxt


def hex32(s):
    if not isinstance(s, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", s):
        return None
    return bytes.fromhex(s)


def reject_constant(name):
    raise ValueError("%s is not JSON" % name)


def is_int(x):
    return type(x) is int


class Verifier:
    def __init__(self, key, from_seq=0, expect_log_id=""):
        self.key, self.from_seq, self.expect_log_id = key, from_seq, expect_log_id
        self.fail_seq, self.reason, self.detail = None, "", ""
        self.started, self.expect, self.last_hash = False, 0, None
        self.pending, self.declared = [], []
        self.damage = None  # seq where unexplained damage began
        self.damage_where = ""
        self.log_id = ""
        self.head = None  # (covers, hash)
        self.records = self.checkpoints = self.first_seq = self.last_seq = self.last_ckpt = 0
        self.explained = 0

    def fail(self, seq, reason, detail):
        if not self.reason:
            self.fail_seq, self.reason, self.detail = seq, reason, detail

    def check_checkpoint(self, ev):
        """(covers, hash, log_id) or a reason text."""
        data = ev.get("data") if isinstance(ev.get("data"), dict) else {}
        src, t = ev.get("source"), ev.get("time")
        lid, hh, kid, sig = data.get("log_id"), data.get("head_hash"), data.get("key_id"), data.get("sig")
        cov = data.get("covers_seq")
        if not all(isinstance(x, str) for x in (src, t, lid, hh, kid, sig)) or not is_int(cov) or cov < 0 \
                or len(lid.encode()) >= 40 or len(t.encode()) >= 32:
            return "checkpoint is missing fields"
        h = hex32(hh)
        if h is None:
            return "checkpoint head_hash is not 64 hex digits"
        if self.expect_log_id and lid != self.expect_log_id:
            return "checkpoint belongs to another log (log.id differs)"
        if self.key:
            if kid != self.key.key_id:
                return "checkpoint key_id is not the id of the given host key"
            msg = "vigil-audit-checkpoint/1\n%s\n%s\n%d\n%s\n%s\n" % (src, lid, cov, hh, t)
            if len(msg.encode()) >= 512:
                return "checkpoint fields too long"
            try:
                s64 = sig.rstrip("=").replace("-", "+").replace("_", "/")
                raw = base64.b64decode(s64 + "=" * (-len(s64) % 4), validate=True)
            except (binascii.Error, ValueError):
                return "checkpoint signature is not base64"
            if not self.key.verify("audit-checkpoint", msg.encode(), raw):
                return "checkpoint signature does not verify with the host key"
        return (cov, h, lid)

    def set_head(self, ev):
        r = self.check_checkpoint(ev)
        if isinstance(r, str):
            self.fail(0, "bad_checkpoint", "signed head: " + r)
            return False
        self.head = (r[0], r[1])
        self.log_id = r[2]
        return True

    def add_gap(self, seq, data):
        g = data.get("gap") if isinstance(data, dict) else None
        if g is None:
            return
        f = g.get("first_seq") if isinstance(g, dict) else None
        last = g.get("last_seq") if isinstance(g, dict) else None
        h = hex32(g.get("next_prev_hash")) if isinstance(g, dict) else None
        if not is_int(f) or not is_int(last) or f < 1 or last < f or last >= seq or h is None:
            self.fail(seq, "modified", "gap record at seq %d has no valid data.gap" % seq)
            return
        self.declared.append((f, last, h))

    def damaged(self, where):
        if self.damage is None:
            self.damage = self.expect if self.started else 1
            self.damage_where = where

    def partial(self, n):
        s = self.expect if self.started else 1
        self.fail(s, "truncated", "the log ends inside record %d (%d bytes of a partial record)" % (s, n))

    def payload(self, seq, kind, prev, pl):
        """The payload as an object ({} for a JSON array), or None after failing."""
        try:
            ev = json.loads(pl, parse_constant=reject_constant)
            if not isinstance(ev, (dict, list)):
                raise ValueError("a JSON text is an object or an array")
        except (ValueError, UnicodeDecodeError):
            self.fail(seq, "bad_checkpoint" if kind == 2 else "modified", "record %d is not a JSON event" % seq)
            return None
        return ev if isinstance(ev, dict) else {}

    def feed(self, rec):
        seq, kind, prev, h, pl = rec[:5]
        if self.reason:
            if kind == 1 and b'"gap":{' in pl:
                ev = self.payload(seq, kind, prev, pl)
                if ev and ev.get("type") in GAP_TYPES:
                    self.add_gap(seq, ev.get("data"))
            return
        if not self.started:
            self.started, self.first_seq, self.expect, self.last_hash = True, seq, seq, prev
            if self.from_seq > 1:
                if seq != self.from_seq:
                    return self.fail(self.from_seq, "missing", "--from: seq %d is not in the log" % self.from_seq)
            elif seq == 1 and prev != bytes(32):
                return self.fail(1, "modified", "record 1 does not start the chain")
            elif seq != 1:
                self.pending.append((1, seq - 1, prev, "missing", "the log starts at seq %d" % seq))
        if seq < self.expect:
            return self.fail(seq, "reordered", "record %d appears after record %d" % (seq, self.expect - 1))
        if self.damage is not None:
            d, self.damage = self.damage, None
            if seq == self.expect:
                return self.fail(d, "modified", "bytes before record %d are not a record" % seq)
            self.pending.append((self.expect, seq - 1, prev, "modified",
                                 "records %d..%d are unreadable (%s)" % (self.expect, seq - 1, self.damage_where)))
        elif seq > self.expect:
            self.pending.append((self.expect, seq - 1, prev, "missing",
                                 "records %d..%d are missing" % (self.expect, seq - 1)))
        elif prev != self.last_hash:
            # rewritten, or (if a gap record says so) records the host cut and never gave again
            self.pending.append((seq - 1, seq - 1, prev, "modified", "record %d was modified" % (seq - 1)))
        if self.head and seq == self.head[0] and h != self.head[1]:
            return self.fail(seq, "modified", "record %d differs from the signed head" % seq)
        ev = self.payload(seq, kind, prev, pl)
        if ev is None:
            return
        data = ev.get("data") if isinstance(ev.get("data"), dict) else {}
        if not (is_int(data.get("seq")) and data.get("seq") == seq):
            return self.fail(seq, "modified", "record %d carries another data.seq" % seq)
        if kind == 2:
            r = self.check_checkpoint(ev)
            if isinstance(r, str):
                return self.fail(seq, "bad_checkpoint", "seq %d: %s" % (seq, r))
            if r[0] + 1 != seq or r[1] != prev:
                return self.fail(seq, "bad_checkpoint", "checkpoint at seq %d is not the chain's" % seq)
            if self.log_id and self.log_id != r[2]:
                return self.fail(seq, "bad_checkpoint", "checkpoint at seq %d belongs to another log" % seq)
            self.log_id = r[2]
            self.checkpoints += 1
            self.last_ckpt = seq
        elif ev.get("type") == CKPT_TYPE:
            return self.fail(seq, "modified", "record %d is a checkpoint event in an event record" % seq)
        elif ev.get("type") in GAP_TYPES:
            self.add_gap(seq, data)
            if self.reason:
                return
        lid = self.expect_log_id or self.log_id
        if lid and ev.get("id") != "%s-%d" % (lid, seq):
            return self.fail(seq, "modified", "record %d has another id" % seq)
        self.last_hash, self.last_seq, self.expect = h, seq, seq + 1
        self.records += 1

    def is_explained(self, p):
        first, last, resume = p[0], p[1], p[2]
        froms = [d[0] for d in self.declared if d[1] == last and d[2] == resume]
        if not froms:
            return False
        if first == 1:
            return True
        frm, grew = min(froms), True
        while grew and frm > first:
            grew = False
            for d in self.declared:
                if d[1] + 1 == frm:
                    frm, grew = d[0], True
        return frm <= first

    def finish(self):
        if not self.reason and self.damage is not None:
            self.fail(self.damage, "modified", "record %d was modified (%s)" % (self.damage, self.damage_where))
        for p in self.pending:
            if self.is_explained(p):
                self.explained += 1
            elif not self.reason or p[0] < self.fail_seq:
                self.fail_seq, self.reason, self.detail = p[0], p[3], p[4]
        if self.reason:
            return
        if self.head and not self.started and self.head[0] > 0:
            self.fail(1, "truncated", "the log is empty but the signed head covers seq %d" % self.head[0])
        elif self.head and self.head[0] > self.last_seq:
            self.fail(self.last_seq + 1, "truncated", "the log ends before the seq the signed head covers")


def result(v, what):
    return {"log": what, "ok": not v.reason, "bad_seq": v.fail_seq if v.reason else None,
            "reason": v.reason or None, "detail": v.detail or None, "records": v.records,
            "first_seq": v.first_seq, "last_seq": v.last_seq, "gaps_explained": v.explained}


def verify_dir(args, key):
    d = args.dir
    lid = ""
    try:
        with open(os.path.join(d, "log.id")) as f:
            lid = f.read().split()[0]
    except (OSError, IndexError):
        pass
    v = Verifier(key, args.from_seq, lid)
    headp = args.head
    if not headp and not args.no_head and os.path.exists(os.path.join(d, "head.json")):
        headp = os.path.join(d, "head.json")
    if headp:
        try:
            head = json.load(open(headp))
        except (OSError, ValueError):
            raise Unreadable("%s: not a JSON checkpoint" % headp)
        if not v.set_head(head):
            return [result(v, d)]
    for what, x in read_dir(d):
        if what == "rec":
            if args.from_seq > 1 and x[0] < args.from_seq:
                continue
            v.feed(x)
        elif what == "damage":
            v.damaged(x)
        else:
            v.partial(x)
    v.finish()
    return [result(v, d)]


def verify_events(args, key):
    try:
        raw = open(args.events, "rb").read()
    except OSError as e:
        raise Unreadable("%s: %s" % (args.events, e))
    logs = {}
    for ln in raw.split(b"\n"):
        if ln.endswith(b"\r"):
            ln = ln[:-1]
        i = ln.find(b"{")
        if i < 0:
            continue
        js = ln[i:]
        try:
            ev = json.loads(js)
            data = ev["data"]
            seq, src, typ, eid = data["seq"], ev["source"], ev["type"], ev["id"]
            if not (is_int(seq) and seq >= 1 and isinstance(src, str) and isinstance(typ, str)
                    and isinstance(eid, str) and "-" in eid and len(js) <= MAX_PAYLOAD):
                continue
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            continue
        if args.source and src != args.source:
            continue
        lid = eid.rsplit("-", 1)[0]
        if len(lid.encode()) >= 40:
            continue
        logs.setdefault((src, lid), []).append((seq, 2 if typ == CKPT_TYPE else 1, js))
    out = []
    for (src, lid), evs in logs.items():
        evs.sort(key=lambda e: e[0])
        v = Verifier(key, args.from_seq, lid)
        decl = []  # (gap record seq, gap last_seq, next_prev_hash)
        for seq, kind, js in evs:
            if kind == 1 and b'"gap":{' in js:
                try:
                    ev = json.loads(js)
                    g = ev["data"]["gap"]
                    if ev["type"] in GAP_TYPES and is_int(g["last_seq"]) and hex32(g["next_prev_hash"]):
                        decl.append((seq, g["last_seq"], hex32(g["next_prev_hash"])))
                except (ValueError, KeyError, TypeError):
                    pass
        prev, last = bytes(32), None
        for k, (seq, kind, js) in enumerate(evs):
            if last is not None and seq == last[0]:
                if js != last[2]:
                    v.fail(seq, "modified", "two different events carry seq %d" % seq)
                    break
                continue
            last = (seq, kind, js)
            if seq > 1:
                # a later gap record ending at seq-1 says where the chain goes on; after a gap
                # in the copy a checkpoint's own head_hash does
                h = next((d[2] for d in decl if d[0] >= seq and d[1] + 1 == seq), None)
                if h is None and kind == 2 and (k == 0 or seq != evs[k - 1][0] + 1):
                    try:
                        h = hex32(json.loads(js)["data"]["head_hash"])
                    except (ValueError, KeyError, TypeError):
                        h = None
                if h is not None:
                    prev = h
            body = prev + MAGIC + len(js).to_bytes(4, "big") + seq.to_bytes(8, "big") + kind.to_bytes(4, "big") + js
            h = hashlib.sha256(body).digest()
            if args.from_seq <= 1 or seq >= args.from_seq:
                v.feed((seq, kind, prev, h, js))
            prev = h
        v.finish()
        out.append(result(v, "%s log %s" % (src, lid)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default="/var/lib/vigil/audit")
    ap.add_argument("--events")
    ap.add_argument("--source")
    ap.add_argument("--pubkey")
    ap.add_argument("--from", dest="from_seq", type=int, default=0)
    ap.add_argument("--head")
    ap.add_argument("--no-head", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    try:
        pub = args.pubkey
        if not pub and not args.events and os.path.exists(os.path.join(args.dir, "..", "host.pub")):
            pub = os.path.join(args.dir, "..", "host.pub")
        key = Key(pub) if pub else None
        res = verify_events(args, key) if args.events else verify_dir(args, key)
    except Unreadable as e:
        print("vigil-audit-verify: %s" % e, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(res))
    for r in res if not args.json else []:
        if r["ok"]:
            print("audit log %s: intact: %d records (seq %d..%d), %d gaps explained"
                  % (r["log"], r["records"], r["first_seq"], r["last_seq"], r["gaps_explained"]))
        else:
            print("audit log %s: FAILED at seq %d: %s: %s" % (r["log"], r["bad_seq"], r["reason"], r["detail"]))
    if not res:
        return 4
    return 0 if all(r["ok"] for r in res) else 4


if __name__ == "__main__":
    sys.exit(main())
