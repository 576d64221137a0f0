#!/bin/sh
# The module in real PAM stacks (pamtester): PAM_IGNORE for users/services the policy does
# not concern never becomes success on its own; fail modes with vigild down; account refuses
# deprovisioned users and unknown accounts of the policy's uid range; bad arguments fail closed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pam_common.sh"

pam_start_env
pam_bundle 1

# 1. not concerned (outsider is not in elevation.allowed) with pam_vigil alone: failure
pam_service sudo <<EOS
auth     required  @VIGIL@
EOS
pamt "" sudo outsider authenticate
[ "$RC" != 0 ] || fail "a stack of only pam_vigil let a not-concerned user in: $OUT"
ok "PAM_IGNORE alone is not success"

# 2. the documented sudo stack (vigil after the password): password decides for outsider
pam_service sudo <<EOS
auth     required  pam_deny.so
auth     [success=ok ignore=ignore default=die]  @VIGIL@
EOS
pamt "" sudo outsider authenticate
[ "$RC" != 0 ] || fail "documented sudo stack: outsider passed a failing password: $OUT"
ok "documented stack: ignore leaves the password's verdict"

# 3. it really is PAM_IGNORE (and not an error) for outsider, and for unprotected services
pam_service sudo <<EOS
auth     [ignore=ignore default=die]  @VIGIL@
auth     required  pam_permit.so
EOS
pamt "" sudo outsider authenticate
[ "$RC" = 0 ] || fail "outsider did not get PAM_IGNORE: $OUT"
ok "not concerned -> PAM_IGNORE"
pam_service cron <<EOS
auth     [ignore=ignore default=die]  @VIGIL@
auth     required  pam_permit.so
EOS
pamt "" cron alice authenticate
[ "$RC" = 0 ] || fail "alice through an unprotected service did not get PAM_IGNORE: $OUT"
ok "unprotected service -> PAM_IGNORE"

# 4. a concerned user without an enrolled key is refused and it is audited
pamt "CHG-1 disk\n" sudo alice authenticate
[ "$RC" != 0 ] || fail "alice without a credential passed: $OUT"
audit_has step_up_failed no_credential || fail "step_up_failed no_credential not audited"
ok "concerned user without a key: denied, audited"

# 5. reason required and refused
pamt "just because\n" sudo alice authenticate
[ "$RC" != 0 ] || fail "a reason not matching the pattern was accepted: $OUT"
assert_contains "$OUT" "does not match" "reason refused with the pattern in the message"
audit_has step_up_failed reason_refused || fail "reason_refused not audited"
ok "reason refused audited"

# 6. account: deprovisioned and unknown-in-range refused with a message; outsider ignored
pam_service sudo <<EOS
account  required  @VIGIL@
account  required  pam_permit.so
EOS
pamt "" sudo mallory acct_mgmt
[ "$RC" != 0 ] || fail "deprovisioned mallory passed account: $OUT"
assert_contains "$OUT" "deprovisioned" "mallory refused as deprovisioned"
pamt "" sudo ghost acct_mgmt
[ "$RC" != 0 ] || fail "ghost (uid in policy range, unknown) passed account: $OUT"
assert_contains "$OUT" "not known to the vigil policy" "ghost refused as unknown"
pamt "" sudo alice acct_mgmt
[ "$RC" = 0 ] || fail "alice refused in account: $OUT"
pamt "" sudo outsider acct_mgmt
[ "$RC" = 0 ] || fail "a local account outside the policy range was refused: $OUT"
ok "account: alice and outsider pass"

# 7. fail modes with vigild down
stop_vigild
pam_service sudo <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_permit.so
account  required  @VIGIL@
EOS
pamt "CHG-1\n" sudo alice authenticate
[ "$RC" != 0 ] || fail "failmode=secure let alice in with vigild down: $OUT"
assert_contains "$OUT" "failmode=secure" "secure: denied with a clear message"
pamt "" sudo alice acct_mgmt
[ "$RC" != 0 ] || fail "failmode=secure account passed with vigild down"
PAM_ARGS="$PAM_ARGS failmode=safe"
pam_service sudo <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_permit.so
EOS
pamt "" sudo alice authenticate
[ "$RC" = 0 ] || fail "failmode=safe did not fall through to the next module: $OUT"
assert_contains "$OUT" "failmode=safe" "safe: skipped with a warning, the rest of the stack decides"
pam_service sudo <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_deny.so
EOS
pamt "" sudo alice authenticate
[ "$RC" != 0 ] || fail "failmode=safe turned into success on its own: $OUT"
ok "failmode=safe never succeeds by itself"

# 8. a bad module argument fails closed
pam_service sudo <<EOS
auth     [success=done ignore=ignore default=die]  $PAM_SO failmode=lenient
auth     required  pam_permit.so
EOS
pamt "" sudo alice authenticate
[ "$RC" != 0 ] || fail "an unknown failmode was accepted: $OUT"
ok "bad argument fails closed"
