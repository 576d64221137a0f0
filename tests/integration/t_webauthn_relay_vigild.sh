#!/bin/sh
# Remote step-up through vigild's real control socket: elevation.relay_challenge, the
# administrator's vigil-stepup answering with the software key (softfido through libfido2),
# elevation.relay_answer granting; then replayed, tampered, relabelled (a code for another
# host/service on its way to the workstation), wrong-user, other-challenge, empty, too long
# and malformed answers refused, each with an audit event.
. "$(dirname "$0")/lib.sh"
# Debian's python3 first: a version-manager shim on PATH costs seconds per call
PATH="/usr/bin:$PATH"
. "$(dirname "$0")/pam_common.sh"
STEPUP="$BIN/vigil-stepup"
[ -x "$STEPUP" ] || skip "$STEPUP not built"
nm "$STEPUP" 2>/dev/null | grep -q softfido_open ||
	skip "vigil-stepup is not a test build (make TESTHOOKS=1): it cannot use the software key"

pam_start_env
softfido_enroll
pam_bundle 2

rctl() { python3 "$ROOT/tests/integration/relay_ctl.py" "$T/run/vigil.sock" "$1"; }
field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
challenge() {
	rctl '{"cmd":"elevation.relay_challenge","user":"alice","service":"sudo","tty":"pts/7","reason":"CHG-77 relay"}'
}
# answer_req USER CODE ANSWER: what pam_vigil.so sends, the code it showed and the paste
answer_req() {
	printf '{"cmd":"elevation.relay_answer","user":"%s","service":"sudo","tty":"pts/7","code":"%s","answer":"%s"}' \
		"$1" "$2" "$3"
}
stepup() { VIGIL_TEST_SOFTFIDO="$SOFTFIDO" "$STEPUP" --timeout 10 "$1" 2>"$T/stepup.err"; }
refused_with() { # REPLY CODE WHAT
	assert_eq "$(echo "$1" | field 'd["error"]["code"]')" "$2" "$3 ($(echo "$1" | field 'd["error"]["message"]'))"
}

# 1. the accepted path, with a reason of 200 characters: the answer does not grow with it
LONG="CHG-77 relay $(printf 'x%.0s' $(seq 1 187))"
R=$(rctl "{\"cmd\":\"elevation.relay_challenge\",\"user\":\"alice\",\"service\":\"sudo\",\"tty\":\"pts/7\",\"reason\":\"$LONG\"}")
assert_eq "$(echo "$R" | field 'd["ok"]')" "True" "relay challenge issued"
CODE=$(echo "$R" | field 'd["code"]')
URL=$(echo "$R" | field 'd["url"]')
assert_eq "$URL" "https://vigil.example.com/stepup/#c=$CODE" "URL form of the challenge on the bundle's first origin"
ANSWER=$(stepup "$CODE") || fail "vigil-stepup failed: $(cat "$T/stepup.err")"
assert_contains "$(cat "$T/stepup.err")" "host:    testhost" "vigil-stepup shows the host it signs for"
assert_contains "$(cat "$T/stepup.err")" "reason:  $LONG" "vigil-stepup shows the whole reason"
[ ${#ANSWER} -le 400 ] || fail "answer longer than 400 characters: ${#ANSWER}"
ok "answer of ${#ANSWER} characters for a reason of ${#LONG}"
R=$(rctl "$(answer_req alice "$CODE" "$ANSWER")")
assert_eq "$(echo "$R" | field 'd["ok"]')" "True" "answer accepted: $R"
assert_eq "$(echo "$R" | field 'd["grant"]["user"]')" "alice" "grant for alice"
audit_has step_up_satisfied alice || fail "no step_up_satisfied event"
ok "step_up_satisfied audited"

# 2. replay: the same answer again
R=$(rctl "$(answer_req alice "$CODE" "$ANSWER")")
assert_eq "$(echo "$R" | field 'd["ok"]')" "False" "replayed answer refused ($(echo "$R" | field 'd["error"]["message"]'))"

# 3. tampered: another byte in the signature
CODE=$(challenge | field 'd["code"]')
ANSWER=$(stepup "$CODE") || fail "vigil-stepup failed: $(cat "$T/stepup.err")"
TAMPERED=$(python3 -c '
import base64, sys
a = bytearray(base64.urlsafe_b64decode(sys.argv[1] + "=" * (-len(sys.argv[1]) % 4)))
a[-5] ^= 0x01
print(base64.urlsafe_b64encode(a).decode().rstrip("="))' "$ANSWER")
R=$(rctl "$(answer_req alice "$CODE" "$TAMPERED")")
refused_with "$R" wrong_key "tampered answer refused"
# and the challenge is spent: the genuine answer no longer passes either
R=$(rctl "$(answer_req alice "$CODE" "$ANSWER")")
assert_eq "$(echo "$R" | field 'd["ok"]')" "False" "challenge spent by the refused attempt"

# 4. relabelled: the code for (testhost, sudo) rewritten on its way as (dev-box, su) with
# another reason; vigil-stepup shows and signs the relabelled context, vigild refuses
CODE=$(challenge | field 'd["code"]')
FAKE=$("$BIN/tests/relay_tool" relabel --host dev-box --service su --reason "routine check" "$CODE") ||
	fail "relay_tool relabel"
ANSWER=$(stepup "$FAKE") || fail "vigil-stepup failed on the relabelled code"
assert_contains "$(cat "$T/stepup.err")" "host:    dev-box" "vigil-stepup shows the relabelled host it signs"
R=$(rctl "$(answer_req alice "$CODE" "$ANSWER")")
refused_with "$R" wrong_key "answer to a relabelled code refused"
assert_contains "$R" "code altered" "the refusal says the code may have been altered"
audit_has step_up_failed wrong_key || fail "relabelled answer not audited"

# 5. wrong user: alice's answer pasted into bob's prompt (bob's challenge is bob's)
CODE=$(challenge | field 'd["code"]')
ANSWER=$(stepup "$CODE") || fail "vigil-stepup failed"
R=$(rctl "$(answer_req bob "$CODE" "$ANSWER")")
assert_eq "$(echo "$R" | field 'd["ok"]')" "False" "answer for another user refused ($(echo "$R" | field 'd["error"]["code"]'))"

# 6. an answer to another (earlier) challenge, an empty one, one too long, garbage, the code itself
CODE1=$(challenge | field 'd["code"]')
CODE2=$(challenge | field 'd["code"]')
ANSWER=$(stepup "$CODE1") || fail "vigil-stepup failed"
R=$(rctl "$(answer_req alice "$CODE2" "$ANSWER")")
refused_with "$R" answer_other_challenge "answer to another challenge refused"
R=$(rctl "$(answer_req alice "$(challenge | field 'd["code"]')" "")")
refused_with "$R" answer_empty "empty answer (what sudo delivers for 512+ characters) refused"
assert_contains "$R" "512 characters" "the refusal explains sudo's limit"
R=$(rctl "$(answer_req alice "$(challenge | field 'd["code"]')" "$ANSWER$ANSWER$ANSWER$ANSWER")")
refused_with "$R" answer_too_long "overlong paste refused"
CODE=$(challenge | field 'd["code"]')
R=$(rctl "$(answer_req alice "$CODE" "not-an-answer")")
refused_with "$R" answer_malformed "garbage refused"
CODE=$(challenge | field 'd["code"]')
R=$(rctl "$(answer_req alice "$CODE" "$CODE")")
refused_with "$R" answer_is_challenge "challenge pasted as answer refused"

# 7. every refusal is audited
for reason in answer_other_challenge answer_empty answer_too_long answer_malformed answer_is_challenge; do
	audit_has step_up_failed "$reason" || fail "no step_up_failed event with reason $reason"
done
ok "refusals audited as step_up_failed with their reason"
S=$(ctl --json status)
assert_contains "$S" '"answers_accepted": 1' "status counts the accepted relay answer"
echo "t_webauthn_relay_vigild: passed"
