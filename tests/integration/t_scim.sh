#!/bin/sh
# SCIM as the identity source (docs/scim.md): vigilctl identity from-scim pages
# through a SCIM endpoint the test starts (bearer token, 2 users per page),
# the identity goes into a signed bundle, vigild applies it and glibc serves
# the users. A wrong token, a lying totalResults and plain http to a remote
# host are refused with nothing written.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nss_ns.sh"
nss_setup
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 missing"
NSSDIR="$T/state/nss"
export VIGIL_NSS_CACHE_DIR="$NSSDIR"

echo "s3cret-$$" >"$T/token"
python3 "$ROOT/tests/integration/scim_server.py" --token-file "$T/token" --port-file "$T/port" \
	--log "$T/scim.log" >"$T/scim.out" 2>&1 &
SCIM_PID=$!
on_exit "kill $SCIM_PID"
poll_until 10 test -s "$T/port" || fail "the SCIM server did not start"
BASE="http://127.0.0.1:$(cat "$T/port")/scim/v2"

make_keys
write_config
start_vigild
python3 "$ROOT/tests/integration/mkbundle.py" --version 1 --out "$T/prev.json"

sum=$("$VIGILCTL" --json identity from-scim --url "$BASE" --token-file "$T/token" --previous "$T/prev.json" \
	--out "$T/identity.json" 2>"$T/from-scim.err") || { cat "$T/from-scim.err" >&2; fail "from-scim failed"; }
summary=$(echo "$sum" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["active"], s["deprovisioned"], s["groups"], len(s["warnings"]))')
# active alice bob frank; deprovisioned dave (active false) and mallory (removed); erin skipped
assert_eq "$summary" "3 2 1 2" "summary: 3 active, 2 deprovisioned, 1 group, 2 warnings"
assert_contains "$(cat "$T/from-scim.err")" 'user "erin" has no POSIX extension' "erin skipped, by name"
assert_eq "$(grep -c 'GET /scim/v2/Users?' "$T/scim.log")" 3 "five users fetched in three pages"
assert_eq "$(grep -c auth-bad "$T/scim.log" || true)" 0 "every request carried the token"

make_bundle "$T/b1.json" 1 --set "identity=$(cat "$T/identity.json")"
ctl policy verify --trust "$T/etc/trust.json" "$T/b1.json" >/dev/null || fail "the bundle does not verify"
ok "bundle with the SCIM identity verifies"
ctl policy push "$T/b1.json" >/dev/null || fail "bundle refused by vigild"
poll_until 10 test -f "$NSSDIR/passwd.cache" || fail "no passwd.cache after the push"
assert_eq "$(in_nss_ns getent -s vigil passwd bob)" "bob:x:60003:60003:Bob Builder:/home/bob:/bin/sh" \
	"glibc resolves bob from SCIM"
assert_eq "$(in_nss_ns getent -s vigil passwd | cut -d: -f1 | tr '\n' ' ')" "alice bob frank " \
	"enumeration: the active SCIM users only"
assert_eq "$(in_nss_ns id -G bob)" "60003 60100" "id -G bob: primary gid and sre from the SCIM group"
for u in dave erin mallory; do
	in_nss_ns getent -s vigil passwd "$u" >/dev/null && fail "$u served" || ok "$u not served"
done
assert_eq "$(in_nss_ns getent -s vigil group sre)" "sre:x:60100:alice,bob" "group sre: active members only"

# refusals: exit 1, a clear message, the previous output untouched
before=$(sha256sum "$T/identity.json")
echo wrong >"$T/bad-token"
rc=0
"$VIGILCTL" identity from-scim --url "$BASE" --token-file "$T/bad-token" --out "$T/identity.json" \
	>"$T/out" 2>"$T/err" || rc=$?
assert_eq "$rc" 1 "wrong token: exit 1"
assert_contains "$(cat "$T/err")" "HTTP 401 (the server refused the bearer token" "wrong token: clear error"
assert_eq "$(sha256sum "$T/identity.json")" "$before" "wrong token: nothing written"
[ -s "$T/out" ] && fail "wrong token: output on stdout" || ok "wrong token: nothing on stdout"

rc=0
"$VIGILCTL" identity from-scim --url "http://127.0.0.1:$(cat "$T/port")/lying" --token-file "$T/token" \
	--previous "$T/prev.json" --out "$T/identity.json" 2>"$T/err" || rc=$?
assert_eq "$rc" 1 "totalResults larger than the pages: exit 1"
assert_contains "$(cat "$T/err")" "refusing a partial list" "a partial list is refused, not deprovisioned"
assert_eq "$(sha256sum "$T/identity.json")" "$before" "partial list: nothing written"

rc=0
"$VIGILCTL" identity from-scim --url "http://192.0.2.1/scim/v2" --token-file "$T/token" --uid-range 1000-2000 \
	--gid-range 1000-2000 2>"$T/err" || rc=$?
[ "$rc" != 0 ] || fail "plain http to a remote host accepted"
assert_contains "$(cat "$T/err")" "--url must be https://" "plain http only to the loopback"
