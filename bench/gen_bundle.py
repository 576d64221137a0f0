#!/usr/bin/env python3
"""Generate a large bundle: N egress rules spread over tenants and M users."""
import json, sys, datetime, ipaddress, random
rules, users, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
tenants_n = int(sys.argv[4]) if len(sys.argv) > 4 else 10
random.seed(7)
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
f = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
tenants = []
for t in range(tenants_n):
    tenants.append({"name": f"t{t}", "id": t + 1, "mode": "enforce", "cgroups": [f"/bench/t{t}"],
                    "segments": [f"10.{t}.0.0/16"], "egress": []})
rid = 1
for i in range(rules):
    net = ipaddress.IPv4Address(0x14000000 + i * 256)  # 20.0.0.0 + i*256 /24s, distinct
    r = {"id": rid, "cidr": f"{net}/24", "proto": "tcp" if i % 2 else "udp",
         "ports": [str(443 + i % 7), f"{8000 + i % 100}-{8100 + i % 100}"]}
    tenants[i % tenants_n]["egress"].append(r); rid += 1
us = [{"name": f"u{i}", "uid": 100000 + i, "gid": 100000 + i, "gecos": f"User {i}",
       "home": f"/home/u{i}", "shell": "/bin/bash", "state": "active" if i % 10 else "deprovisioned"}
      for i in range(users)]
b = {"version": 1, "issued_at": f(now - datetime.timedelta(minutes=1)),
     "expires_at": f(now + datetime.timedelta(days=1)), "environment": "prod",
     "scope": {"hosts": ["*"]}, "tenants": tenants,
     "identity": {"uid_range": [100000, 100000 + max(users, 1)], "gid_range": [100000, 100000 + max(users, 1) + 1000],
                  "users": us, "groups": [{"name": "benchgrp", "gid": 100000 + max(users, 1) + 10, "members": [u["name"] for u in us[:1000]]}]}}
json.dump(b, open(out, "w"), separators=(",", ":"))
