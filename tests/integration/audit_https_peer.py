#!/usr/bin/env python3
"""A CloudEvents batch receiver over HTTPS with client certificates, for the audit tests.
usage: audit_https_peer.py PORTFILE OUTFILE CONTROLFILE CA CERT KEY
Appends every event of an accepted batch to OUTFILE (one JSON per line) and answers
200; answers 503 while CONTROLFILE contains "fail". Writes the port it listens on
to PORTFILE once ready."""
import http.server, json, os, ssl, sys

portfile, outfile, control, ca, cert, key = sys.argv[1:7]


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            mode = open(control).read().strip()
        except OSError:
            mode = "ok"
        if mode == "fail":
            return self.reply(503)
        if self.headers.get("Content-Type") != "application/cloudevents-batch+json":
            return self.reply(415)
        # keep each event's exact bytes: the collector's copy is verified against the chain
        text, events, pos = body.decode("utf-8"), [], 1
        dec = json.JSONDecoder()
        try:
            if not text.startswith("["):
                raise ValueError("not an array")
            while text[pos] != "]":
                _, end = dec.raw_decode(text, pos)
                events.append(text[pos:end])
                pos = end + 1 if text[end] == "," else end
        except (ValueError, IndexError):
            return self.reply(400)
        with open(outfile, "a") as f:
            for e in events:
                f.write(e + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.reply(200)


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.load_verify_locations(ca)
ctx.verify_mode = ssl.CERT_REQUIRED
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
