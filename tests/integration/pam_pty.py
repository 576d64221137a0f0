#!/usr/bin/env python3
"""Run a command (real sudo, su) in a pseudo-terminal and answer its prompts the way a person
does: each PATTERN=ANSWER pair waits until PATTERN (a regular expression) appears on the screen
after the previous answer, then types ANSWER and Enter. An ANSWER starting with "!" is a shell
command whose output is typed instead, run with RELAY_CODE and RELAY_URL set to the relay
challenge on the screen (what an administrator copies to a workstation and pastes back).
Prints the whole screen; exits with the command's exit status (124 when it runs past
PAM_PTY_TIMEOUT, 45 s).

usage: pam_pty.py [PATTERN=ANSWER ...] -- COMMAND...
"""
import os, pty, re, select, subprocess, sys, time

sep = sys.argv.index("--")
pairs = [a.split("=", 1) for a in sys.argv[1:sep]]
cmd = sys.argv[sep + 1:]
deadline = time.monotonic() + float(os.environ.get("PAM_PTY_TIMEOUT", "45"))


def answer_for(spec, text):
    if not spec.startswith("!"):
        return spec
    code = re.search(r"vigil-stepup (\S+)", text)
    url = re.search(r"(\S+/stepup/#c=\S+)", text)
    env = dict(os.environ, RELAY_CODE=code.group(1) if code else "", RELAY_URL=url.group(1) if url else "")
    return subprocess.run(spec[1:], shell=True, env=env, capture_output=True, text=True,
                          timeout=max(deadline - time.monotonic(), 1)).stdout.strip()


pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)

screen, seen = b"", 0
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        sys.stdout.write(screen.decode(errors="replace") + "\n[pam_pty: timed out]\n")
        sys.exit(124)
    r, _, _ = select.select([fd], [], [], min(left, 0.2))
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            break
        screen += chunk
    text = screen.decode(errors="replace")
    if pairs:
        m = re.search(pairs[0][0], text[seen:])
        if m:
            seen += m.end()
            os.write(fd, answer_for(pairs[0][1], text).encode() + b"\n")
            pairs.pop(0)
_, status = os.waitpid(pid, 0)
sys.stdout.write(screen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
