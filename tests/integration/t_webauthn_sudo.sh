#!/bin/sh
# The step-up page's answer through a real sudo 1.9: sudo runs in a pseudo-terminal with no
# security key on the host, so pam_vigil.so shows the relay challenge and its URL; Debian's
# Chromium (headless, playwright-core) opens that URL with a CDP virtual authenticator holding
# alice's credential, the page shows the request and signs it, and its answer is pasted into
# sudo's prompt: sudo runs the command. Done with an ES256 and an RS256-2048 credential (the
# longest answers) and a reason of 200 characters. An answer made on the page for a relabelled
# code (the workstation shown another host and service) is refused and the command does not run.
. "$(dirname "$0")/lib.sh"
# Debian's python3 first: a version-manager shim on PATH costs seconds per call
PATH="/usr/bin:$PATH"
. "$(dirname "$0")/pam_common.sh"
command -v sudo >/dev/null || skip "sudo missing (make deps)"
command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
command -v chromium >/dev/null 2>&1 || skip "chromium is not installed (make deps)"
command -v node >/dev/null 2>&1 || skip "node is not installed"
command -v npm >/dev/null 2>&1 || skip "npm is not installed"
nm -D "$PAM_SO" 2>/dev/null | grep -q __asan_init &&
	skip "sanitizer build: setuid sudo cannot load an ASan pam_vigil.so"
[ -x "$BIN/tests/relay_tool" ] || fail "missing $BIN/tests/relay_tool: build first"
make -s -C "$ROOT" BUILD="$BUILD" browser-deps >"$T/npm.log" 2>&1 || { cat "$T/npm.log"; skip "npm ci of tests/browser failed (registry unreachable?)"; }
cp "$ROOT/tests/browser/sign.mjs" "$BIN/browser/sign.mjs"

# the page on an allowed origin
mkdir -p "$T/www"
cp -r "$ROOT/share/stepup" "$T/www/stepup"
P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$P" >"$T/http.log" 2>&1 &
on_exit "kill $!"
i=0
until curl -fsS -o /dev/null 2>/dev/null "http://127.0.0.1:$P/stepup/index.html"; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "static server did not start"
	sleep 0.1
done

# alice's credentials: private keys for the virtual authenticator, snippets for the bundle
credential() { # NAME GENPKEY_ARGS...
	name=$1
	shift
	openssl genpkey "$@" -out "$T/$name.pem" 2>/dev/null || fail "openssl genpkey $*"
	openssl pkcs8 -topk8 -nocrypt -outform DER -in "$T/$name.pem" | base64 -w0 >"$T/$name.p8"
	head -c 16 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d = >"$T/$name.id"
	python3 -c 'import json, subprocess, sys
pub = subprocess.check_output(["openssl", "pkey", "-pubout", "-in", sys.argv[2]]).decode()
print(json.dumps({"id": sys.argv[1], "alg": sys.argv[3], "public_key": pub, "uv": True}))' \
		"$(cat "$T/$name.id")" "$T/$name.pem" "$name" >"$T/$name.json"
}
credential es256 -algorithm EC -pkeyopt ec_paramgen_curve:P-256
credential rs256 -algorithm RSA -pkeyopt rsa_keygen_bits:2048
printf '%s,%s' "$(cat "$T/es256.json")" "$(cat "$T/rs256.json")" >"$T/cred.json"

pam_start_env
pam_bundle 1 --set elevation.rp_id='"localhost"' --set "elevation.origins=[\"http://localhost:$P\"]"
# the key stays on the "workstation"
PAM_ARGS=$(echo "$PAM_ARGS" | sed 's| softfido=[^ ]*||')
. "$(dirname "$0")/relay_sudo_env.sh"

# page ALG COUNT URL_EXPR : the command pam_pty.py runs to get the page's answer
page() {
	echo "KEY=$(cat "$T/$1.p8") CRED_ID=$(cat "$T/$1.id") RP_ID=localhost COUNT=$2 SHOWN=1 \
timeout 60 node $BIN/browser/sign.mjs \"$3\" 2>>$T/page.err | tee -a $T/answers"
}
REASON="CHG-90 page via sudo $(printf 'z%.0s' $(seq 1 179))"
n=0
for alg in es256 rs256; do
	n=$((n + 10))
	: >"$T/answers"
	as_alice "$(page $alg $n '$RELAY_URL')" "$REASON"
	[ "$RC" = 0 ] || fail "$alg: sudo with the page's answer failed: $OUT $(cat "$T/page.err")"
	echo "$OUT" | tr -d '\r' | grep -qx 0 || fail "$alg: id -u did not print 0: $OUT"
	assert_contains "$(cat "$T/page.err")" "alice@testhost sudo: $REASON" "$alg: the page showed user, host, service and the whole reason"
	ok "$alg: sudo ran the command on the page's answer of $(head -1 "$T/answers" | tr -d '\n' | wc -c) characters"
	ctl revoke alice >/dev/null || fail "revoke failed"
done
audit_has step_up_satisfied alice || fail "step_up_satisfied not audited"

# relabelled on its way: the page is shown (dev-box, su) and the key signs that context
: >"$T/page.err"
as_alice "\"$BIN/tests/relay_tool\" relabel --host dev-box --service su \"\$RELAY_CODE\" >$T/fake &&
	$(page es256 100 "http://localhost:$P/stepup/#c=\$(cat $T/fake)")" "$REASON"
[ "$RC" != 0 ] || fail "sudo accepted the page's answer to a relabelled code: $OUT"
echo "$OUT" | tr -d '\r' | grep -qx 0 && fail "the command ran with an answer to a relabelled code: $OUT"
assert_contains "$(cat "$T/page.err")" "alice@dev-box su:" "the page showed the relabelled host and service"
assert_contains "$OUT" "code altered" "relabelled code: sudo refused and says why"
ok "the page's answer to a relabelled code refused"
echo "t_webauthn_sudo: passed"
