#!/bin/sh
# Docs as tests: every PAM stack printed in docs/pam.md, docs/operations.md and
# docs/packaging.md (tests/integration/pam_doc_stacks.py extracts them) runs exactly as printed
# — bare "pam_vigil.so" with its default arguments, the system's other modules and
# common-* files — as the sudo, su, sshd and login services, and must:
# - let a user the policy ignores through on the right password only;
# - give alice (concerned) nothing without a touch, and nothing (no grant either) on a wrong
#   password plus a touch unless the stack is "touch instead of password" and never asked;
# - give alice her step-up and a grant on the right password (where asked) and a touch;
# - not let that grant serve `su alice` from another account (even with alice's password),
#   nor sshd/login to alice from another session.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pam_common.sh"
[ -n "$PAM_MODDIR" ] || skip "cannot find the system's PAM module directory"

mkdir -p "$T/pam.d"
pam_docs_layout
SOFTFIDO="$T/softfido-dir/softfido.state"
softfido_enroll
pam_start_env
# the password is also a valid reason, so the same answers fit every prompt order
PW=CHG-4242
pam_passwords "alice:$PW" "outsider:$PW"
pam_bundle 1
chmod 0666 "$SOFTFIDO"
sf_set() { sf "$1" "$2"; chmod 0666 "$SOFTFIDO"; }

python3 "$ROOT/tests/integration/pam_doc_stacks.py" "$T/pam.d" "$ROOT/docs/pam.md" \
	"$ROOT/docs/operations.md" "$ROOT/docs/packaging.md" >"$T/stacks" || fail "cannot extract the stacks"
[ "$(wc -l <"$T/stacks")" -ge 3 ] || fail "expected at least 3 stacks in the docs, found: $(cat "$T/stacks")"

# run RUID SERVICE USER ANSWERS OPS... : pamtester with real uid RUID (effective 0, as in setuid
# sudo/su); $RC, $OUT
run() {
	r_answers=$4
	r_args="$1 $2 $3"
	shift 4
	RC=0
	# shellcheck disable=SC2086
	OUT=$(umask 000; printf '%b' "$r_answers" | in_ns /usr/bin/python3 -c '
import os, sys
u = int(sys.argv[1]); os.setresgid(u, 0, 0); os.setresuid(u, 0, 0)
os.execvp("pamtester", ["pamtester", "-v"] + sys.argv[2:])' $r_args "$@" 2>&1) || RC=$?
}
alice_grants() { ctl --json grants | grep -c '"user": "alice"' || true; }

while read -r n where; do
	for svc in sudo su sshd login; do cp "$T/pam.d/$n" "$T/pam.d/$svc"; done
	echo "== stack $where"
	sed 's/^/    /' "$T/pam.d/$n"
	for svc in sudo su; do
		ctl revoke alice >/dev/null 2>&1 || true
		sf_set touch yes
		run 1999 $svc outsider "$PW\n$PW\n" authenticate
		[ "$RC" = 0 ] || fail "$where as $svc: outsider with the right password refused: $OUT"
		run 1999 $svc outsider "CHG-0\nCHG-0\n" authenticate
		[ "$RC" != 0 ] || fail "$where as $svc: outsider with a wrong password let through: $OUT"
		sf_set touch no
		run 60001 $svc alice "CHG-0\nCHG-0\n" authenticate acct_mgmt setcred
		[ "$RC" != 0 ] || fail "$where as $svc: alice with a wrong password and no touch let through: $OUT"
		sf_set touch yes
		run 60001 $svc alice "CHG-0\nCHG-0\n" authenticate acct_mgmt setcred
		if [ "$RC" = 0 ]; then
			# only a "touch instead of password" stack may pass, and then it never asked
			assert_not_contains "$OUT" "Password" "$where as $svc: passed on the touch alone, no password asked"
			ctl revoke alice >/dev/null
		fi
		assert_eq "$(alice_grants)" 0 "$where as $svc: wrong password: refused, no grant"
		run 60001 $svc alice "$PW\n$PW\n" authenticate acct_mgmt setcred
		[ "$RC" = 0 ] || fail "$where as $svc: alice's step-up with password and touch failed: $OUT"
		assert_contains "$OUT" "Touch your security key" "$where as $svc: alice touched her key"
		assert_eq "$(alice_grants)" 1 "$where as $svc: the step-up left a grant"
		sf_set touch no
		run 60001 $svc alice "$PW\n$PW\n" authenticate
		[ "$RC" = 0 ] || fail "$where as $svc: alice's own next $svc did not reuse her grant: $OUT"
		run 1999 su alice "$PW\n$PW\n" authenticate
		[ "$RC" != 0 ] || fail "$where: su alice from another account (alice's password known) rode on her $svc grant: $OUT"
		for lat in sshd login; do
			RC=0
			OUT=$(printf '%b' "$PW\n$PW\n" | new_session in_ns pamtester -v $lat alice authenticate 2>&1) || RC=$?
			[ "$RC" != 0 ] || fail "$where: $lat to alice rode on her $svc grant: $OUT"
		done
		ok "$where as $svc: no lateral su/sshd/login on alice's grant"
	done
done <"$T/stacks"
