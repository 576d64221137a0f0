#!/bin/sh
# Shadow entries for bundle users, so Debian's stock PAM account step
# (pam_unix) accepts them: real su, as root, through the stock su stack, in a
# private mount namespace. A user's valid_until is honoured by the module
# itself (no vigild): from that instant the user resolves no more and su
# fails. Without "shadow: vigil" the same su fails, so the test can fail.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nss_ns.sh"
nss_setup
command -v su >/dev/null || skip "su missing"
[ -e /lib/x86_64-linux-gnu/security/pam_unix.so ] || [ -e /usr/lib/x86_64-linux-gnu/security/pam_unix.so ] ||
	skip "pam_unix missing"

# Debian's stock stacks for su (login 4.13 / libpam-runtime 1.5.2), not the host's
mkdir -p "$T/pam.d"
cat >"$T/pam.d/su" <<'EOF'
auth       sufficient pam_rootok.so
session       required   pam_env.so readenv=1
session       required   pam_env.so readenv=1 envfile=/etc/default/locale
session    optional   pam_mail.so nopen
session    required   pam_limits.so
@include common-auth
@include common-account
@include common-session
EOF
cat >"$T/pam.d/common-auth" <<'EOF'
auth	[success=1 default=ignore]	pam_unix.so nullok
auth	requisite			pam_deny.so
auth	required			pam_permit.so
EOF
cat >"$T/pam.d/common-account" <<'EOF'
account	[success=1 new_authtok_reqd=done default=ignore]	pam_unix.so
account	requisite			pam_deny.so
account	required			pam_permit.so
EOF
cat >"$T/pam.d/common-session" <<'EOF'
session	[default=1]			pam_permit.so
session	requisite			pam_deny.so
session	required			pam_permit.so
session	required	pam_unix.so
EOF
cp "$T/pam.d/common-auth" "$T/pam.d/other"

until_at=$(date -u -d '+25 seconds' +%Y-%m-%dT%H:%M:%SZ)
python3 "$ROOT/tests/integration/mkbundle.py" --version 1 --out "$T/b1.json" \
	--set "identity.users.2={\"name\":\"carol\",\"uid\":60004,\"gid\":60100,\"gecos\":\"\",\"home\":\"/\",\"shell\":\"/bin/sh\",\"state\":\"active\",\"valid_until\":\"$until_at\",\"credentials\":[]}" \
	--set 'identity.users.0.home="/"'
"$MKCACHE" --bundle "$T/b1.json" --dir "$NSSDIR" >/dev/null
chmod 0711 "$T" # the users themselves read the cache, as they would /var/lib/vigil/nss

# su_as USER: what `id -un` prints as USER after su through the stock stack
su_as() {
	in_nss_ns sh -c 'mount --bind "$1/pam.d" /etc/pam.d && exec su -s /bin/sh -c "id -un" "$2"' sh "$T" "$1" 2>"$T/su.err" ||
		echo "FAILED: $(cat "$T/su.err")"
}

printf 'passwd: files vigil\ngroup: files vigil\nshadow: files vigil\n' >"$T/nsswitch.conf"

assert_eq "$(in_nss_ns getent -s vigil shadow alice)" "alice:*:::::::" "alice's shadow entry: no password, aging disabled"
carol_day=$(( ($(date -u -d "$until_at" +%s) + 86399) / 86400 ))
assert_eq "$(in_nss_ns getent -s vigil shadow carol)" "carol:*::::::$carol_day:" "carol's shadow entry expires the day after valid_until"
assert_eq "$(in_nss_ns getent -s vigil shadow | cut -d: -f1 | tr '\n' ' ')" "alice carol " "getspent: the provisioned users"
in_nss_ns getent -s vigil shadow mallory >/dev/null && fail "deprovisioned mallory has a shadow entry" ||
	ok "no shadow entry for deprovisioned mallory"
in_nss_ns getent -s vigil shadow root >/dev/null && fail "vigil answered for root" || ok "no shadow entry for root"

assert_eq "$(su_as carol)" "carol" "su carol before her valid_until"
assert_eq "$(su_as alice)" "alice" "su alice through the stock stack (pam_unix account)"
printf 'passwd: files vigil\ngroup: files vigil\nshadow: files\n' >"$T/nsswitch.conf"
assert_contains "$(su_as alice)" "FAILED" "without shadow entries pam_unix's account step refuses alice"
printf 'passwd: files vigil\ngroup: files vigil\nshadow: files vigil\n' >"$T/nsswitch.conf"

# valid_until passes with no vigild running and no cache rewrite
# valid_until is 25 s after the bundle was made: on an idle machine the steps above take
# only a few seconds, so wait for the absolute time with room to spare
poll_until 60 sh -c "[ \$(date +%s) -gt $(date -u -d "$until_at" +%s) ]" || fail "valid_until never passed"
assert_eq "$(in_nss_ns getent -s vigil passwd carol >/dev/null 2>&1 && echo 0 || echo $?)" 2 "carol no longer resolves"
in_nss_ns getent -s vigil shadow carol >/dev/null && fail "carol's shadow entry still served" || ok "nor has a shadow entry"
assert_contains "$(su_as carol)" "FAILED" "su carol after her valid_until"
assert_eq "$(in_nss_ns getent -s vigil passwd | cut -d: -f1 | tr '\n' ' ')" "alice " "enumeration skips carol"
assert_eq "$(su_as alice)" "alice" "alice is unaffected"
