#!/bin/sh
# A bundle that no longer allows a user elevation revokes the user's live grant at once
# (docs/pam.md "Grants"), and the elevation group in NSS loses the user in the same apply: the
# membership cache the new bundle's identity writes is built from the grants left after the
# revocation, not from those held before it (an attacker's sudo through a %vigil-elevated
# sudoers rule would otherwise keep working until the old grant's end).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pam_common.sh"
. "$(dirname "$0")/nss_ns.sh"

softfido_enroll
pam_start_env
NSSDIR="$T/state/nss"
nss_setup
pam_bundle 1

pam_service sudo <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_deny.so
account  required  @VIGIL@
EOS

elevated() { in_nss_ns getent -s vigil group vigil-elevated | grep -q alice; }
pamt "CHG-42 rotate certs\n" sudo alice authenticate acct_mgmt setcred
[ "$RC" = 0 ] || fail "step-up with the enrolled key failed: $OUT"
poll_until 10 elevated || fail "NSS does not show alice in vigil-elevated: $(in_nss_ns getent -s vigil group vigil-elevated)"
ok "alice holds a grant and NSS shows her in vigil-elevated"

# v2 allows only another user: alice's grant goes, and so does her membership, before the push answers
pam_bundle 2 --set 'elevation.allowed=["bob"]'
assert_not_contains "$(ctl --json grants)" '"alice"' "the policy revoked alice's grant"
audit_has elevation.revoked '"policy"' || fail "the revocation by the policy is not audited"
elevated && fail "NSS still shows alice in vigil-elevated after the bundle revoked her grant: $(in_nss_ns getent -s vigil group vigil-elevated)"
ok "the bundle's own membership cache no longer lists alice"
# and it stays so (no later write brings her back)
sleep 1
elevated && fail "alice came back into vigil-elevated"
ok "alice stays out of vigil-elevated"
