#!/usr/bin/env python3
"""Drive a command (real sudo) in a pseudo-terminal the way an administrator does:
answer the reason prompt, read the relay challenge from the screen, get an answer for it
from ANSWER_CMD (run with RELAY_CODE and RELAY_URL set; its stdout is the answer) and paste
that.
Prints the whole screen; exits with the command's exit status (124 on time-out).

usage: relay_sudo.py REASON ANSWER_CMD -- COMMAND...
"""
import os, pty, re, select, subprocess, sys, time

reason, answer_cmd = sys.argv[1], sys.argv[2]
cmd = sys.argv[sys.argv.index("--") + 1:]
deadline = time.monotonic() + 90

pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)

screen = b""
answered_reason = answered_code = False
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        sys.stdout.write(screen.decode(errors="replace") + "\n[relay_sudo: timed out]\n")
        sys.exit(124)
    r, _, _ = select.select([fd], [], [], min(left, 0.5))
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            break
        screen += chunk
    text = screen.decode(errors="replace")
    if not answered_reason and "Reason for elevation:" in text:
        os.write(fd, reason.encode() + b"\n")
        answered_reason = True
    if not answered_code and "vigil answer:" in text:
        m = re.search(r"vigil-stepup (\S+)", text)
        u = re.search(r"(\S+/stepup/#c=\S+)", text)
        env = dict(os.environ, RELAY_CODE=m.group(1) if m else "", RELAY_URL=u.group(1) if u else "")
        answer = subprocess.run(answer_cmd, shell=True, env=env, capture_output=True, text=True, timeout=60)
        os.write(fd, answer.stdout.strip().encode() + b"\n")
        answered_code = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(screen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
