#!/bin/sh
# Remote step-up through vigild's real control socket: elevation.relay_challenge, the
# administrator's vigil-stepup answering with the software key (softfido through libfido2),
# elevation.relay_answer granting; then replayed, tampered, forged, wrong-host, wrong-user
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
answer_req() { printf '{"cmd":"elevation.relay_answer","user":"%s","service":"sudo","tty":"pts/7","answer":"%s"}' "$1" "$2"; }
stepup() { VIGIL_TEST_SOFTFIDO="$SOFTFIDO" "$STEPUP" --timeout 10 "$1" 2>"$T/stepup.err"; }

# 1. the accepted path
R=$(challenge)
assert_eq "$(echo "$R" | field 'd["ok"]')" "True" "relay challenge issued"
CODE=$(echo "$R" | field 'd["code"]')
URL=$(echo "$R" | field 'd["url"]')
assert_eq "$URL" "https://vigil.example.com/stepup/#c=$CODE" "URL form of the challenge on the bundle's first origin"
ANSWER=$(stepup "$CODE") || fail "vigil-stepup failed: $(cat "$T/stepup.err")"
assert_contains "$(cat "$T/stepup.err")" "host:    testhost" "vigil-stepup shows the host it signs for"
assert_contains "$(cat "$T/stepup.err")" "reason:  CHG-77 relay" "vigil-stepup shows the reason"
[ ${#ANSWER} -le 1023 ] || fail "answer longer than sudo accepts: ${#ANSWER}"
R=$(rctl "$(answer_req alice "$ANSWER")")
assert_eq "$(echo "$R" | field 'd["ok"]')" "True" "answer accepted: $R"
assert_eq "$(echo "$R" | field 'd["grant"]["user"]')" "alice" "grant for alice"
audit_has step_up_satisfied alice || fail "no step_up_satisfied event"
ok "step_up_satisfied audited"

# 2. replay: the same answer again
R=$(rctl "$(answer_req alice "$ANSWER")")
assert_eq "$(echo "$R" | field 'd["ok"]')" "False" "replayed answer refused ($(echo "$R" | field 'd["error"]["message"]'))"

# 3. tampered: another byte in the signature
CODE=$(challenge | field 'd["code"]')
ANSWER=$(stepup "$CODE") || fail "vigil-stepup failed: $(cat "$T/stepup.err")"
TAMPERED=$(python3 -c '
import base64, sys
a = bytearray(base64.urlsafe_b64decode(sys.argv[1] + "=" * (-len(sys.argv[1]) % 4)))
a[-5] ^= 0x01
print(base64.urlsafe_b64encode(a).decode().rstrip("="))' "$ANSWER")
R=$(rctl "$(answer_req alice "$TAMPERED")")
assert_eq "$(echo "$R" | field 'd["ok"]')" "False" "tampered answer refused ($(echo "$R" | field 'd["error"]["code"]'))"
# and the challenge is spent: the genuine answer no longer passes either
R=$(rctl "$(answer_req alice "$ANSWER")")
assert_eq "$(echo "$R" | field 'd["ok"]')" "False" "challenge spent by the refused attempt"

# 4. wrong user: alice's answer pasted into bob's prompt
CODE=$(challenge | field 'd["code"]')
ANSWER=$(stepup "$CODE") || fail "vigil-stepup failed"
R=$(rctl "$(answer_req bob "$ANSWER")")
assert_eq "$(echo "$R" | field 'd["error"]["code"]')" "challenge_wrong_user" "answer for another user refused"
assert_contains "$R" 'for user \"alice\", not \"bob\"' "refusal names both users"

# 5. wrong host and forged: codes this vigild did not issue (another key)
CRED=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/cred.json")
for host in otherhost testhost; do
	FOREIGN=$("$BIN/tests/relay_tool" challenge --key "$(openssl rand -hex 32)" --user alice --host "$host" \
		--service sudo --rp-id vigil.example.com --cred "$CRED") || fail "relay_tool challenge"
	ANSWER=$(stepup "$FOREIGN") || fail "vigil-stepup failed on a foreign code"
	R=$(rctl "$(answer_req alice "$ANSWER")")
	want=challenge_forged
	[ "$host" = otherhost ] && want=challenge_wrong_host
	assert_eq "$(echo "$R" | field 'd["error"]["code"]')" "$want" "code issued elsewhere refused ($want)"
done

# 6. malformed answers and the challenge pasted back
R=$(rctl "$(answer_req alice "not-an-answer")")
assert_eq "$(echo "$R" | field 'd["error"]["code"]')" "answer_malformed" "garbage refused"
R=$(rctl "$(answer_req alice "$CODE")")
assert_eq "$(echo "$R" | field 'd["error"]["code"]')" "answer_is_challenge" "challenge pasted as answer refused"

# 7. every refusal is audited
for reason in challenge_wrong_host challenge_forged answer_malformed answer_is_challenge; do
	audit_has step_up_failed "$reason" || fail "no step_up_failed event with reason $reason"
done
ok "refusals audited as step_up_failed with their reason"
S=$(ctl --json status)
assert_contains "$S" '"answers_accepted": 1' "status counts the accepted relay answer"
echo "t_webauthn_relay_vigild: passed"
