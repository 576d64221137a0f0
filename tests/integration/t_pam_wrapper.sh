#!/bin/sh
# The module under pam_wrapper (libpam-wrapper): service files from PAM_WRAPPER_SERVICE_DIR, no
# mount namespace. PAM_IGNORE alone is not success, the documented "touch instead of password"
# stack, account refusal of a deprovisioned user, break-glass with vigild down.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pam_common.sh"
PWRAP=$(ls /usr/lib/*/libpam_wrapper.so 2>/dev/null | head -n 1)
[ -n "$PWRAP" ] || skip "libpam-wrapper missing (make deps)"

pam_start_env
pam_bundle 1
mkdir -p "$T/svc"

# pw "answers" SERVICE USER OPS... : pamtester through pam_wrapper; $OUT, $RC
pw() {
	answers=$1; shift
	RC=0
	# shellcheck disable=SC2086
	OUT=$(printf '%b' "$answers" | env $SAN_ENV LD_PRELOAD="${PAM_PRELOAD:+$PAM_PRELOAD }$PWRAP" PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$T/svc" timeout 60 pamtester -v "$@" 2>&1) || RC=$?
	san_check
}
svc() { sed "s|@VIGIL@|$PAM_SO $PAM_ARGS|g" >"$T/svc/$1"; }

svc sudo <<EOS
auth     required  @VIGIL@
EOS
pw "" sudo outsider authenticate
[ "$RC" != 0 ] || fail "pam_vigil alone let a not-concerned user in: $OUT"
ok "PAM_IGNORE alone is not success (pam_wrapper)"

svc sudo <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_deny.so
account  required  @VIGIL@
account  required  pam_permit.so
EOS
pw "" sudo outsider authenticate
[ "$RC" != 0 ] || fail "touch-instead-of-password stack: outsider passed pam_deny: $OUT"
ok "ignored user falls through to the next auth module"
pw "CHG-1\n" sudo alice authenticate
[ "$RC" != 0 ] || fail "alice without an enrolled key passed: $OUT"
ok "concerned user without a key: the stack dies"
pw "" sudo mallory acct_mgmt
[ "$RC" != 0 ] || fail "deprovisioned mallory passed account: $OUT"
assert_contains "$OUT" "deprovisioned" "account refuses mallory with the reason"

stop_vigild
pw "$BG_SECRET\n" sudo root authenticate acct_mgmt
[ "$RC" = 0 ] || fail "break-glass with vigild down failed: $OUT"
assert_contains "$OUT" "BREAK-GLASS access for root" "break-glass accepted and announced"
[ -s "$T/state/breakglass.spool" ] || fail "break-glass use not spooled"
ok "use spooled"
