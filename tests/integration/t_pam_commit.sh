#!/bin/sh
# A grant exists only if the module that asked for it was told it exists (docs/pam.md "Commit").
# vigild slower than the module's patience (test hook: the commit's answer is held back past
# ctl_timeout_ms) -> the module says "no grant recorded" and no grant ever appears: not listed,
# not usable without a touch, audited elevation.aborted (not_confirmed). A revoke while a grant is
# being committed: no grant appears after it. The normal path still grants, and reuses it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pam_common.sh"
. "$(dirname "$0")/nss_ns.sh" # poll_until

softfido_enroll
pam_start_env
pam_bundle 1

pam_service sudo <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_deny.so
account  required  @VIGIL@
EOS
has_grant() { ctl --json grants | grep -q '"alice"'; }

# normal path: the grant is made and the next sudo reuses it without a touch
pamt "CHG-1\n" sudo alice authenticate acct_mgmt setcred
[ "$RC" = 0 ] || fail "step-up failed: $OUT"
assert_contains "$OUT" "elevation granted until" "the user is told the grant's end"
assert_not_contains "$OUT" "not acknowledged" "the grant was acknowledged"
has_grant || fail "the confirmed grant is not listed"
sf touch no
pamt "" sudo alice authenticate
[ "$RC" = 0 ] || fail "the confirmed grant is not reused: $OUT"
ok "normal path: granted, listed, reused without a touch"
[ "$(audit_count elevation.aborted)" = 0 ] || fail "a confirmed grant was audited as aborted"
ctl revoke alice >/dev/null || fail "revoke"
sf touch yes

# the commit's answer arrives after the module gave up (1 s): no grant, now or later
stop_vigild
export VIGIL_TEST_COMMIT_DELAY_MS=2500
start_vigild
unset VIGIL_TEST_COMMIT_DELAY_MS
PAM_ARGS="$PAM_ARGS ctl_timeout_ms=1000"
pam_service sudo <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_deny.so
EOS
granted0=$(audit_count elevation.granted)
pamt "CHG-2\n" sudo alice authenticate setcred
[ "$RC" = 0 ] || fail "setcred failed the login (it must only miss the grant): $OUT"
assert_contains "$OUT" "no grant recorded" "the module tells its user there is no grant"
more_granted() { [ "$(audit_count elevation.granted)" -gt "$granted0" ]; }
poll_until 10 more_granted || fail "the slow commit never recorded its grant (the hook did not run?)"
aborted() { audit_events elevation.aborted | grep -q '"not_confirmed"'; }
poll_until 15 aborted || fail "the unconfirmed grant is not audited as aborted: $(audit_events elevation.aborted)"
id=$(audit_events elevation.granted | tail -n 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])')
audit_events elevation.aborted | grep -q "\"id\": *$id[,}]" ||
	fail "the aborted record does not name grant $id: $(audit_events elevation.aborted)"
ok "the late grant $id was recorded, never confirmed, audited elevation.aborted (not_confirmed)"
sleep 1
has_grant && fail "a grant appeared after the module was told there is none: $(ctl --json grants)"
ok "vigilctl grants lists none"
sf touch no
pamt "CHG-2\n" sudo alice authenticate
[ "$RC" != 0 ] || fail "the unconfirmed grant let alice in without a touch: $OUT"
assert_contains "$OUT" "not touched in time" "the next elevation asks for the key again"
sf touch yes

# an admin revokes alice while her grant is being committed (the module waits long enough
# here): the commit is refused, nothing appears afterwards
PAM_ARGS="$PAM_ARGS ctl_timeout_ms=8000"
pam_service sudo <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_deny.so
EOS
n=$(audit_count elevation.granted)
printf 'CHG-3\n' | in_ns pamtester -v sudo alice authenticate setcred >"$T/patient.out" 2>&1 &
bg=$!
recording() { [ "$(audit_count elevation.granted)" -gt "$n" ]; }
poll_until 15 recording || fail "the patient commit never recorded its grant"
ctl revoke alice >/dev/null 2>&1 || true
wait $bg || fail "setcred failed the login: $(cat "$T/patient.out")"
assert_contains "$(cat "$T/patient.out")" "no grant recorded" "the module is told the grant was revoked"
audit_events elevation.aborted | grep -q '"revoked"' ||
	fail "the grant revoked while being committed is not audited: $(audit_events elevation.aborted)"
sleep 1
has_grant && fail "a grant revoked while being committed appeared: $(ctl --json grants)"
ok "revoked while being committed: aborted (revoked), never listed"
