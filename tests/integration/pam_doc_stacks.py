#!/usr/bin/env python3
"""Extract every PAM stack printed in the given markdown files: fenced blocks whose lines are
all PAM lines (auth/account/session/password or @include) and that name pam_vigil.so. Writes
each to OUTDIR/N and prints "N FILE:LINE" per stack, so a test can run them verbatim.

usage: pam_doc_stacks.py OUTDIR FILE.md...
"""
import os, re, sys

out = sys.argv[1]
pam_line = re.compile(r"^(auth|account|session|password)\s|^@include\s")
n = 0
for path in sys.argv[2:]:
    lines = open(path).read().split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].startswith("```"):
            i += 1
            continue
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        text = [l for l in body if l.strip()]
        if text and all(pam_line.match(l) for l in text) and any("pam_vigil.so" in l for l in text):
            n += 1
            with open(os.path.join(out, str(n)), "w") as f:
                f.write("\n".join(body) + "\n")
            print(n, "%s:%d" % (os.path.relpath(path), start))
