#!/usr/bin/env python3
"""Send one control-socket request (docs/control-socket.md framing: 4-byte big-endian
length + JSON) to vigild, as pam_vigil.so does, and print the reply JSON.
usage: relay_ctl.py SOCKET REQUEST_JSON"""
import json, socket, struct, sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
body = json.dumps(json.loads(sys.argv[2])).encode()
s.sendall(struct.pack(">I", len(body)) + body)
buf = b""
while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
    chunk = s.recv(65536)
    if not chunk:
        sys.exit("relay_ctl: connection closed before the reply")
    buf += chunk
print(buf[4:4 + struct.unpack(">I", buf[:4])[0]].decode())
