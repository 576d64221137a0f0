#!/usr/bin/env python3
"""Benchmark data for bench/nss.sh: USERS users u000000.. (uid 100000+i), GROUPS groups
g00000.. (gid 200000+k), every user in one group (k = i % GROUPS), user u000042 in the
first 100 groups too. Writes the same data as a vigil bundle, as passwd/group files and as
libnss-cache files with their binary-search indexes."""
import json, os, sys

out, users, groups = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
members = [[] for _ in range(groups)]
for i in range(users):
    members[i % groups].append("u%06d" % i)
for k in range(100):
    if "u000042" not in members[k]:
        members[k].append("u000042")
ulist = [{"name": "u%06d" % i, "uid": 100000 + i, "gid": 200000 + i % groups, "gecos": "Bench User",
          "home": "/home/u%06d" % i, "shell": "/bin/bash", "state": "active", "credentials": []}
         for i in range(users)]
glist = [{"name": "g%05d" % k, "gid": 200000 + k, "members": members[k]} for k in range(groups)]
b = json.load(open(os.path.join(os.path.dirname(__file__), "..", "examples", "bundle.json")))
b["identity"] = {"uid_range": [100000, 100000 + users], "gid_range": [200000, 200000 + groups + 1],
                 "users": ulist, "groups": glist}
b["elevation"]["gid"] = 200000 + groups
b["elevation"]["allowed"] = ["u000042"]
json.dump(b, open(os.path.join(out, "bundle.json"), "w"))

pw = ["%s:x:%d:%d:%s:%s:%s\n" % (u["name"], u["uid"], u["gid"], u["gecos"], u["home"], u["shell"]) for u in ulist]
gr = ["%s:x:%d:%s\n" % (g["name"], g["gid"], ",".join(g["members"])) for g in glist]
open(os.path.join(out, "passwd"), "w").writelines(pw)
open(os.path.join(out, "group"), "w").writelines(gr)

def cache(name, lines, keys):
    # libnss-cache: the file plus fixed-width "key\0offset" lines sorted by strcmp(key)
    open(os.path.join(out, name), "w").writelines(lines)
    offs, o = [], 0
    for l in lines:
        offs.append(o)
        o += len(l.encode())
    for suffix, col in keys:
        ents = sorted((l.split(":")[col].encode(), off) for l, off in zip(lines, offs))
        width = max(len(k) + 1 + len(str(off)) for k, off in ents) + 1
        with open(os.path.join(out, name + suffix), "wb") as f:
            for k, off in ents:
                e = k + b"\0" + str(off).encode()
                f.write(e + b"\0" * (width - 1 - len(e)) + b"\n")

cache("passwd.cache", pw, [(".ixname", 0), (".ixuid", 2)])
cache("group.cache", gr, [(".ixname", 0), (".ixgid", 2)])
