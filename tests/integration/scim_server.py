#!/usr/bin/env python3
"""A small SCIM 2.0 endpoint for t_scim.sh: GET BASE/Users and BASE/Groups as
ListResponse pages (startIndex/count, at most 2 per page), bearer token checked.
Under /lying/ the pages claim one resource more than they hold. Every request
is logged to --log as "METHOD PATH AUTH-OK"."""
import argparse, json, sys, urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

PX = "urn:ietf:params:scim:schemas:extension:posix:2.0:User"
GX = "urn:ietf:params:scim:schemas:extension:posix:2.0:Group"
LR = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

def user(i, name, uid, active=True, posix=True, display=None):
    u = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "u-%04d" % i,
         "userName": name, "active": active, "displayName": display or name.title(),
         "meta": {"resourceType": "User"}}
    if posix:
        u["schemas"].append(PX)
        u[PX] = {"uidNumber": uid, "gidNumber": uid, "homeDirectory": "/home/" + name, "loginShell": "/bin/sh"}
    return u

USERS = [user(1, "alice", 60001, display="Alice Admin"), user(2, "bob", 60003, display="Bob Builder"),
         user(3, "dave", 60005, active=False), user(4, "erin", 60006, posix=False),
         user(5, "frank", 60007)]
GROUPS = [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", GX], "id": "g-0001",
           "displayName": "sre", GX: {"gidNumber": 60100},
           "members": [{"value": "u-0001", "display": "alice"}, {"value": "u-0002", "display": "bob"},
                       {"value": "u-0003", "display": "dave"}, {"value": "u-0004", "display": "erin"}],
           "meta": {"resourceType": "Group"}}]

class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        ok = self.headers.get("Authorization") == "Bearer " + self.server.token
        with open(self.server.log, "a") as f:
            f.write("GET %s %s\n" % (self.path, "auth-ok" if ok else "auth-bad"))
        if not ok:
            return self.send(401, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                                   "status": "401", "detail": "bad token"})
        parts = url.path.rstrip("/").split("/")
        lying = "lying" in parts
        res = {"Users": USERS, "Groups": GROUPS}.get(parts[-1])
        if res is None:
            return self.send(404, {"detail": "no such resource"})
        start = max(1, int(q.get("startIndex", ["1"])[0]))
        count = min(2, int(q.get("count", ["100"])[0]))
        page = res[start - 1:start - 1 + count]
        self.send(200, {"schemas": [LR], "totalResults": len(res) + (1 if lying else 0),
                        "startIndex": start, "itemsPerPage": len(page), "Resources": page})

    def send(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/scim+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

p = argparse.ArgumentParser()
p.add_argument("--token-file", required=True)
p.add_argument("--port-file", required=True)
p.add_argument("--log", required=True)
a = p.parse_args()
srv = HTTPServer(("127.0.0.1", 0), H)
srv.token = open(a.token_file).read().strip()
srv.log = a.log
with open(a.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(a.port_file + ".tmp", a.port_file)
srv.serve_forever()
