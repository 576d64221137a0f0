#!/bin/sh
# A vigild that exists but does not answer is "busy", never "down": PAM returns within
# ctl_timeout_ms and denies in both fail modes (no failmode=safe skip, no break-glass prompt),
# whether vigild is stopped (SIGSTOP) or its listen backlog is full (connect would block).
# vigild really absent (socket gone) is still "down": failmode=safe skips, secure offers break-glass.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pam_common.sh"

pam_start_env
pam_bundle 1
BOUND_MS=1000
PAM_ARGS="$PAM_ARGS ctl_timeout_ms=$BOUND_MS"
for mode in secure safe; do
	pam_service "sudo-$mode" <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@ failmode=$mode
auth     required  pam_deny.so
EOS
done

# timed MODE USER : pamtester authenticate through sudo-MODE; $RC, $OUT, $MS (wall time)
timed() {
	t0=$(date +%s%N)
	pamt "CHG-1\n$BG_SECRET\n" "sudo-$1" "$2" authenticate
	MS=$((($(date +%s%N) - t0) / 1000000))
}
busy_denied() { # WHAT
	for mode in secure safe; do
		timed $mode root
		[ "$RC" != 0 ] || fail "$1, failmode=$mode: authentication succeeded: $OUT"
		assert_not_contains "$OUT" "step-up skipped" "$1, failmode=$mode: not taken for vigild down"
		assert_not_contains "$OUT" "BREAK-GLASS" "$1, failmode=$mode: no break-glass prompt"
		# a hang lasts the 60 s of in_ns; the margin over the bound absorbs process start-up on
		# a loaded machine (this is not a performance measurement: bench/pam.sh is)
		[ "$MS" -lt $((BOUND_MS + 10000)) ] || fail "$1, failmode=$mode: PAM took $MS ms (bound $BOUND_MS ms)"
		ok "$1, failmode=$mode: denied in $MS ms"
	done
}

kill -STOP "$VIGILD_PID"
on_exit "kill -CONT $VIGILD_PID"
busy_denied "vigild stopped"

# fill the listen backlog while vigild is stopped: a blocking connect would now wait forever
python3 - "$T/run/vigil.sock" "$T/hold.pid" <<'PY' &
import os, socket, sys, time
held = []
while True:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(sys.argv[1])
    except BlockingIOError:
        break
    held.append(s)
open(sys.argv[2], "w").write("%d\n" % len(held))
time.sleep(120)
PY
HOLD=$!
on_exit "kill $HOLD"
i=0
while [ ! -s "$T/hold.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$T/hold.pid" ] || fail "could not fill the listen backlog"
ok "listen backlog full ($(cat "$T/hold.pid") pending connections)"
busy_denied "backlog full"
kill "$HOLD"
kill -CONT "$VIGILD_PID"

# absent, for contrast: failmode=safe skips, secure denies after offering break-glass
stop_vigild
timed safe alice
assert_contains "$OUT" "step-up skipped" "vigild absent, failmode=safe: step-up skipped"
timed secure alice
[ "$RC" != 0 ] || fail "vigild absent, failmode=secure: authentication succeeded: $OUT"
assert_contains "$OUT" "failmode=secure" "vigild absent, failmode=secure: denied"
