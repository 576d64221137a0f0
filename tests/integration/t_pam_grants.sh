#!/bin/sh
# Grants belong to who earned them, and only a stack that succeeded as a whole earns one — with
# real setuid sudo and su in a pseudo-terminal (tests/integration/pam_pty.py):
# - a wrong password plus a touch (password stack with `required`) leaves no grant;
# - alice's sudo grant spares her next sudo in the same login session, nothing else: not
#   `su alice` from another account, not sshd/login to alice (uid 0, another session), not
#   alice's sudo from another login session;
# - elevation.grant_reach "user" widens it to alice's su, never to another requester.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pam_common.sh"
command -v sudo >/dev/null || skip "sudo missing (make deps)"
command -v su >/dev/null || skip "su missing"
command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
command -v openssl >/dev/null || skip "openssl missing"
[ -z "$PAM_PRELOAD" ] || skip "sanitizer build: setuid sudo/su cannot preload the sanitizer runtime"

softfido_enroll
pam_start_env
pam_passwords alice:alice-pw outsider:outsider-pw
pam_bundle 1

# the password stack as docs/pam.md printed it before: `required` lets the step-up run after
# a wrong password, which is what this test needs to show that no grant comes out of it
pam_service sudo <<EOS
auth     required                                  pam_unix.so
auth     [success=ok ignore=ignore default=die]    @VIGIL@
account  required  @VIGIL@
account  required  pam_permit.so
session  required  pam_permit.so
EOS
# su, sshd and login: "touch instead of password" (docs/pam.md), where a grant alone would pass
for svc in su sshd login; do
	pam_service $svc <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_unix.so
account  required  @VIGIL@
account  required  pam_permit.so
session  required  pam_permit.so
EOS
done
cat >"$T/sudoers" <<EOS
Defaults !use_pty, !lecture, timestamp_timeout=0, passwd_tries=1, !fqdn
root   ALL=(ALL:ALL) ALL
alice  ALL=(ALL:ALL) ALL
EOS
chmod 0440 "$T/sudoers"
mkdir -p "$T/sudoers.d"
# softfido is reached with the real uid's rights inside setuid sudo/su (see t_pam_sudo.sh)
chmod o+x "$T"
chmod 0666 "$SOFTFIDO"
sf_set() { sf "$1" "$2"; chmod 0666 "$SOFTFIDO"; }
PTY="/usr/bin/python3 $ROOT/tests/integration/pam_pty.py"

sudo_alice() { # PASSWORD
	RC=0
	OUT=$(umask 000; in_ns $PTY "[Pp]assword.*:=$1" 'Reason for elevation:=CHG-7' -- \
		setpriv --reuid=60001 --regid=60001 --clear-groups sudo id -u 2>&1) || RC=$?
	OUT=$(printf '%s' "$OUT" | tr -d '\r')
}
alice_grants() { ctl --json grants | python3 -c 'import json,sys; print(len([g for g in json.load(sys.stdin)["grants"] if g["user"] == "alice"]))'; }

# 1. wrong password + touch: the step-up runs and passes, the stack fails, nothing is minted
sudo_alice wrong-password
[ "$RC" != 0 ] || fail "sudo with a wrong password succeeded: $OUT"
assert_contains "$OUT" "Touch your security key" "the step-up ran after the wrong password"
audit_has step_up_satisfied security_key || fail "the touch was not verified (test setup)"
assert_eq "$(alice_grants)" 0 "wrong password + touch: no grant"
assert_eq "$(audit_count elevation.granted)" 0 "no elevation.granted event"

# 2. right password + touch: grant bound to alice (uid 60001), sudo, this login session
sudo_alice alice-pw
[ "$RC" = 0 ] || fail "sudo with password and touch failed: $OUT"
echo "$OUT" | grep -qx 0 || fail "id -u did not print 0: $OUT"
g=$(ctl --json grants)
assert_contains "$g" '"requester_uid": 60001' "the grant names its requester"
assert_contains "$g" "\"session\": $(cat /proc/self/sessionid)" "the grant names the login session"
assert_contains "$g" '"service": "sudo"' "the grant names the service"

# 3. the same session, the same sudo: no touch (the key would not answer)
sf_set touch no
sudo_alice alice-pw
[ "$RC" = 0 ] || fail "sudo within the grant asked for the key: $OUT"
assert_contains "$OUT" "grant active" "alice's next sudo in her session reuses the grant"

# 4. lateral: outsider runs `su alice`; the su stack would take the grant instead of a password
RC=0
OUT=$(umask 000; in_ns $PTY 'Reason for elevation:=CHG-7' -- \
	setpriv --reuid=1999 --regid=1999 --clear-groups su alice -c 'echo RAN-AS-$(id -un)' 2>&1) || RC=$?
[ "$RC" != 0 ] || fail "su alice from another account succeeded on alice's grant: $OUT"
assert_not_contains "$OUT" "RAN-AS-alice" "su alice from another account: refused, nothing ran"
# alice's key here does not wait for another account's request (a touch alice gives for her own
# prompt would sign it): that account is offered the relay, whose code names what is signed
assert_contains "$OUT" "the security key here answers only alice's own requests" "su alice from another account: not offered alice's key"
assert_not_contains "$OUT" "Touch your security key" "su alice from another account: no touch prompt"

# a remote login (sshd, PAM_RHOST set) is not served by the key plugged in here either: alice's
# touch for her own prompt must not let someone in over ssh; it gets the relay
pamt "CHG-7\n" -I rhost=203.0.113.9 sshd alice authenticate
[ "$RC" != 0 ] || fail "sshd from a remote host succeeded without an answer: $OUT"
assert_contains "$OUT" "does not answer a login from 203.0.113.9" "a remote sshd login is not offered the host's key"
assert_not_contains "$OUT" "Touch your security key" "a remote sshd login: no touch prompt"

# 5. sshd and login to alice: uid 0 in a session of their own
for svc in sshd login; do
	pamt "CHG-7\n" "$svc" alice authenticate
	[ "$RC" != 0 ] || fail "$svc as alice succeeded on alice's grant (same session as the test): $OUT"
	RC=0
	OUT=$(printf 'CHG-7\n' | new_session in_ns pamtester -v "$svc" alice authenticate 2>&1) || RC=$?
	[ "$RC" != 0 ] || fail "$svc as alice from another session succeeded on alice's grant: $OUT"
	ok "$svc to alice does not ride on alice's sudo grant"
done

# 6. alice herself from another login session: the grant stays in the session that earned it
RC=0
OUT=$(umask 000; new_session in_ns $PTY '[Pp]assword.*:=alice-pw' 'Reason for elevation:=CHG-7' -- \
	setpriv --reuid=60001 --regid=60001 --clear-groups sudo id -u 2>&1) || RC=$?
[ "$RC" != 0 ] || fail "alice's sudo from another login session reused the grant: $OUT"
ok "alice's sudo from another login session needs the key"

# 7. grant_reach "user": alice's su (her own uid) rides on the grant, outsider's still does not
pam_bundle 2 --set elevation.grant_reach='"user"'
RC=0
OUT=$(umask 000; in_ns $PTY -- \
	setpriv --reuid=60001 --regid=60001 --clear-groups su alice -c 'echo RAN-AS-$(id -un)' 2>&1) || RC=$?
[ "$RC" = 0 ] || fail "grant_reach user: alice's su did not reuse her grant: $OUT"
assert_contains "$OUT" "RAN-AS-alice" "grant_reach user: alice's own su reuses her grant"
RC=0
OUT=$(umask 000; in_ns $PTY 'Reason for elevation:=CHG-7' -- \
	setpriv --reuid=1999 --regid=1999 --clear-groups su alice -c 'echo RAN-AS-$(id -un)' 2>&1) || RC=$?
[ "$RC" != 0 ] || fail "grant_reach user: su alice from another account succeeded: $OUT"
assert_not_contains "$OUT" "RAN-AS-alice" "grant_reach user: another account still cannot borrow it"

# 8. the grants file is state vigild trusts: one others can write (a planted grant elevates)
# is refused at start; elevation fails closed (its module reports why), vigild serves on
stop_vigild
[ -f "$T/state/grants.json" ] || fail "no grants.json persisted"
chmod 0666 "$T/state/grants.json"
start_vigild
st=$(ctl --json status)
assert_contains "$st" "grants.json is writable by group or others" "a world-writable grants.json is refused, naming the file"
RC=0
OUT=$(umask 000; in_ns $PTY -- \
	setpriv --reuid=60001 --regid=60001 --clear-groups su alice -c 'echo RAN-AS-$(id -un)' 2>&1) || RC=$?
[ "$RC" != 0 ] || fail "elevation succeeded from an untrusted grants file: $OUT"
ok "no elevation rides on an untrusted grants file"
