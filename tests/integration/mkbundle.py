#!/usr/bin/env python3
"""Write a test bundle: examples/bundle.json with a version, fresh times, this test's
host scope, and edits.  --set PATH=JSON sets a value (PATH like tenants.0.mode),
--del PATH removes one, --from FILE starts from another template."""
import argparse, json, os, sys, datetime

here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("--version", type=int, required=True)
p.add_argument("--out", required=True)
p.add_argument("--from", dest="src", default=os.path.join(here, "..", "..", "examples", "bundle.json"))
p.add_argument("--set", action="append", default=[])
p.add_argument("--del", dest="delete", action="append", default=[])
p.add_argument("--expires-in", type=int, default=86400)
p.add_argument("--issued-ago", type=int, default=60)
a = p.parse_args()

b = json.load(open(a.src))
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
fmt = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
b["version"] = a.version
b["issued_at"] = fmt(now - datetime.timedelta(seconds=a.issued_ago))
b["expires_at"] = fmt(now + datetime.timedelta(seconds=a.expires_in))
b["scope"] = {"hosts": ["testhost"], "labels": {}}

def walk(path):
    cur, parts = b, path.split(".")
    for k in parts[:-1]:
        cur = cur[int(k)] if isinstance(cur, list) else cur.setdefault(k, {})
    last = parts[-1]
    return cur, (int(last) if isinstance(cur, list) else last)

for s in a.set:
    path, val = s.split("=", 1)
    cur, k = walk(path)
    v = json.loads(val)
    if isinstance(cur, list) and k == len(cur):
        cur.append(v)
    else:
        cur[k] = v
for d in a.delete:
    cur, k = walk(d)
    del cur[k]
with open(a.out, "w") as f:
    json.dump(b, f, indent=1)
    f.write("\n")
