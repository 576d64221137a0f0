#!/bin/sh
# Real sudo (setuid, its own PAM conversation) with pam_vigil.so and the software key, in a
# private mount namespace with a test /etc/pam.d/sudo and /etc/sudoers: step-up success, grant
# reuse without touch, no touch denied after revoke, vigild down (failmode=secure) denied.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pam_common.sh"
command -v sudo >/dev/null || skip "sudo missing (make deps)"
command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
[ -z "$PAM_PRELOAD" ] || skip "sanitizer build: setuid sudo cannot preload the sanitizer runtime (t_pam_stepup covers the same flows)"

softfido_enroll
pam_start_env
pam_bundle 1

pam_service sudo <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_deny.so
account  required  @VIGIL@
account  required  pam_permit.so
session  required  pam_permit.so
EOS
# every sudo runs PAM auth (no sudo timestamp); alice may become root only through PAM
cat >"$T/sudoers" <<EOS
Defaults !use_pty, !lecture, timestamp_timeout=0, passwd_tries=1, !fqdn
root   ALL=(ALL:ALL) ALL
alice  ALL=(ALL:ALL) ALL
EOS
chown root:root "$T/sudoers"
chmod 0440 "$T/sudoers"
mkdir -p "$T/sudoers.d"
# lib/fido_dev.c and softfido check the test key with access(2), which answers for the real
# uid (alice) inside setuid sudo: alice may traverse $T and read/write the key's state, which
# softfido rewrites under the caller's umask (sudo applies its own umask only to the command)
chmod o+x "$T"
chmod 0666 "$SOFTFIDO"
sf_set() { sf "$1" "$2"; chmod 0666 "$SOFTFIDO"; }

# as_alice "answers" : alice runs `sudo id -u`; its stdout (where sudo also prints PAM info
# messages) in $CMD_OUT, everything in $OUT, exit code in $RC
as_alice() {
	RC=0
	CMD_OUT=$(umask 000; printf '%b' "$1" | in_ns setpriv --reuid=60001 --regid=60001 --clear-groups \
		sudo -S -p 'sudo-prompt:' id -u 2>"$T/sudo.err") || RC=$?
	OUT="$(cat "$T/sudo.err") $CMD_OUT"
}

as_alice "CHG-7 restart nginx\n"
[ "$RC" = 0 ] || fail "sudo with the step-up failed: $OUT"
assert_contains "$OUT" "Touch your security key" "sudo relays the touch cue"
echo "$CMD_OUT" | grep -qx 0 || fail "id -u did not print 0: $OUT"
ok "sudo ran the command as root"
assert_contains "$(ctl --json grants)" '"service": "sudo"' "grant through sudo recorded"

sf_set touch no
as_alice ""
[ "$RC" = 0 ] || fail "sudo within the grant asked for the key: $OUT"
echo "$CMD_OUT" | grep -qx 0 || fail "id -u did not print 0 within the grant: $OUT"
ok "sudo within the grant needs no touch"

ctl revoke alice >/dev/null || fail "revoke failed"
as_alice "CHG-8\n"
[ "$RC" != 0 ] || fail "sudo succeeded without a touch after revoke: $OUT"
echo "$CMD_OUT" | grep -qx 0 && fail "the command ran without a touch: $OUT"
ok "no touch: sudo refused, the command did not run"
audit_has step_up_failed "\"timeout\"" || fail "step_up_failed timeout not audited"
sf_set touch yes

stop_vigild
as_alice "CHG-9\n"
[ "$RC" != 0 ] || fail "sudo succeeded with vigild down (failmode=secure): $OUT"
assert_contains "$OUT" "failmode=secure" "vigild down: sudo refused with the reason"
