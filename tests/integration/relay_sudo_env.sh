# Sourced by t_relay_sudo.sh and t_webauthn_sudo.sh after pam_start_env and pam_bundle:
# a test /etc/pam.d/sudo (pam_vigil.so decides, no password) and /etc/sudoers, mounted in a
# private mount namespace only, and as_alice to run `sudo id -u` as alice on a terminal.
pam_service sudo <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_deny.so
account  required  @VIGIL@
account  required  pam_permit.so
session  required  pam_permit.so
EOS
cat >"$T/sudoers" <<EOS
Defaults !use_pty, !lecture, timestamp_timeout=0, passwd_tries=1, !fqdn
root   ALL=(ALL:ALL) ALL
alice  ALL=(ALL:ALL) ALL
EOS
chown root:root "$T/sudoers"
chmod 0440 "$T/sudoers"
mkdir -p "$T/sudoers.d"
chmod o+x "$T"

cat >"$T/sudo_ns.sh" <<EOS
mount --bind "$T/pam.d" /etc/pam.d || exit 90
mount --bind "$T/passwd" /etc/passwd || exit 90
mount --bind "$T/group" /etc/group || exit 90
mount --bind "$T/sudoers" /etc/sudoers || exit 90
mount --bind "$T/sudoers.d" /etc/sudoers.d || exit 90
if [ -d /run/vigil-test ]; then mount -t tmpfs tmpfs /run/vigil-test || exit 90; fi
exec setpriv --reuid=60001 --regid=60001 --clear-groups sudo id -u
EOS
# as_alice ANSWER_CMD [REASON] : screen in $OUT, exit code in $RC (pam_pty.py pastes what
# ANSWER_CMD prints for the code on the screen, $RELAY_CODE / $RELAY_URL)
as_alice() {
	RC=0
	OUT=$(PAM_PTY_TIMEOUT=90 python3 "$ROOT/tests/integration/pam_pty.py" \
		"Reason for elevation:=${2:-CHG-88 relay via sudo}" "vigil answer:=!$1" -- \
		timeout 90 unshare -m --propagation private sh "$T/sudo_ns.sh" 2>&1) || RC=$?
}
