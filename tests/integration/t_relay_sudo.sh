#!/bin/sh
# Remote step-up through real sudo in a pseudo-terminal: no security key on the host, so
# pam_vigil.so shows the relay challenge; the test reads it from the screen, answers with
# vigil-stepup driving the software key (softfido, test builds), pastes the answer, and sudo
# runs the command, with a reason of 200 characters. A tampered answer, a replayed one and
# one made for a relabelled code (another host and service shown at the workstation) are
# refused and the command does not run. Private mount namespace with a test /etc/pam.d/sudo
# and /etc/sudoers (relay_sudo_env.sh, shared with t_webauthn_sudo.sh).
. "$(dirname "$0")/lib.sh"
# Debian's python3 first: a version-manager shim on PATH costs seconds per call
PATH="/usr/bin:$PATH"
. "$(dirname "$0")/pam_common.sh"
command -v sudo >/dev/null || skip "sudo missing (make deps)"
command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
nm -D "$PAM_SO" 2>/dev/null | grep -q __asan_init &&
	skip "sanitizer build: setuid sudo cannot load an ASan pam_vigil.so (the relay path runs under ASan in t_webauthn_relay_vigild)"
STEPUP="$BIN/vigil-stepup"
[ -x "$STEPUP" ] || skip "$STEPUP not built"
nm "$STEPUP" 2>/dev/null | grep -q softfido_open ||
	skip "vigil-stepup is not a test build (make TESTHOOKS=1): it cannot use the software key"

softfido_enroll
pam_start_env
pam_bundle 1
# the key stays on the "workstation": the PAM module gets no key path, and the fixed test
# path is hidden below in the namespace
PAM_ARGS=$(echo "$PAM_ARGS" | sed 's| softfido=[^ ]*||')

. "$(dirname "$0")/relay_sudo_env.sh"
REASON="CHG-88 relay via sudo $(printf 'y%.0s' $(seq 1 178))"
SIGN="VIGIL_TEST_SOFTFIDO=$SOFTFIDO $STEPUP --timeout 10 \"\$RELAY_CODE\" 2>>$T/stepup.err"

as_alice "$SIGN | tee $T/answer1" "$REASON"
case "$OUT" in
*"vigil-stepup "*) ;;
*"no security key found"*) skip "pam_vigil.so does not offer the relay yet (pam/flow.c must call pv_relay_step_up when no key is found; docs/remote-stepup.md)" ;;
esac
[ "$RC" = 0 ] || fail "sudo with a relay answer failed: $OUT"
assert_contains "$OUT" "/stepup/#c=" "the prompt shows the URL form of the challenge"
echo "$OUT" | tr -d '\r' | grep -qx 0 || fail "id -u did not print 0: $OUT"
ok "sudo ran the command as root after the relay answer"
assert_contains "$(ctl --json grants)" "\"reason\": \"$REASON\"" "grant through the relay recorded with the ${#REASON}-character reason"
ok "answer of $(wc -c <"$T/answer1") bytes (with newline) passed through sudo"
audit_has step_up_satisfied alice || fail "step_up_satisfied not audited"
ctl revoke alice >/dev/null || fail "revoke failed"

# tampered: one byte of the signature flipped
as_alice "$SIGN | python3 -c '
import base64, sys
s = sys.stdin.read().strip()
a = bytearray(base64.urlsafe_b64decode(s + \"=\" * (-len(s) % 4)))
a[-5] ^= 1
print(base64.urlsafe_b64encode(a).decode().rstrip(\"=\"))'"
[ "$RC" != 0 ] || fail "sudo accepted a tampered answer: $OUT"
echo "$OUT" | tr -d '\r' | grep -qx 0 && fail "the command ran with a tampered answer: $OUT"
assert_contains "$OUT" "elevation denied" "tampered answer: sudo refused with a message"

# replayed: the first (accepted) answer pasted to a new challenge
as_alice "cat $T/answer1"
[ "$RC" != 0 ] || fail "sudo accepted a replayed answer: $OUT"
echo "$OUT" | tr -d '\r' | grep -qx 0 && fail "the command ran with a replayed answer: $OUT"
assert_contains "$OUT" "elevation denied" "replayed answer: sudo refused with a message"
assert_contains "$OUT" "another challenge" "replayed answer: sudo says it answers another challenge"

# relabelled on its way: the workstation shows (dev-box, su) and the key signs that
as_alice "\"$BIN/tests/relay_tool\" relabel --host dev-box --service su \"\$RELAY_CODE\" >$T/fake &&
	VIGIL_TEST_SOFTFIDO=$SOFTFIDO $STEPUP --timeout 10 \"\$(cat $T/fake)\" 2>$T/stepup.relabel"
[ "$RC" != 0 ] || fail "sudo accepted an answer to a relabelled code: $OUT"
echo "$OUT" | tr -d '\r' | grep -qx 0 && fail "the command ran with an answer to a relabelled code: $OUT"
assert_contains "$(cat "$T/stepup.relabel")" "host:    dev-box" "the workstation showed the relabelled host"
assert_contains "$OUT" "code altered" "relabelled code: sudo refused and says why"
audit_has step_up_failed relay || audit_has step_up_failed alice || fail "refusals not audited"
ok "tampered, replayed and relabelled answers refused and audited"
echo "t_relay_sudo: passed"
