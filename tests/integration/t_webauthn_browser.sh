#!/bin/sh
# WebAuthn with a real browser: Debian's Chromium, headless, driven by playwright-core
# with a CDP virtual authenticator (ctap2, internal, UV). Enroll through the enrollment
# page (verified by vigil-stepup enroll-check), answer challenges through the step-up
# page, and check vigild (elevation.relay_challenge / relay_answer on its control socket)
# grants on the answer and refuses a replayed one and one made on an origin the bundle does
# not allow; the same checks plus tampered, expired, wrong-host and wrong-user answers run
# against the C verifier alone (lib/relay.c + lib/webauthn.c, through tests/lib/relay_tool).
. "$(dirname "$0")/lib.sh"
# Debian's python3 first: a version-manager shim on PATH costs seconds per call
PATH="/usr/bin:$PATH"
command -v chromium >/dev/null 2>&1 || skip "chromium is not installed (make deps)"
command -v node >/dev/null 2>&1 || skip "node is not installed"
command -v npm >/dev/null 2>&1 || skip "npm is not installed"
[ -x "$BIN/tests/relay_tool" ] || fail "missing $BIN/tests/relay_tool: build first"
[ -x "$BIN/vigil-stepup" ] || fail "missing $BIN/vigil-stepup: build first"
make -s -C "$ROOT" BUILD="$BUILD" browser-deps >"$T/npm.log" 2>&1 || { cat "$T/npm.log"; skip "npm ci of tests/browser failed (registry unreachable?)"; }

# two static servers: the allowed origin and another one (same RP id "localhost")
mkdir -p "$T/www"
cp -r "$ROOT/share/stepup" "$T/www/stepup"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
serve() {
	python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$1" >>"$T/http.log" 2>&1 &
	echo $!
}
P1=$(free_port)
P2=$(free_port)
S1=$(serve "$P1")
S2=$(serve "$P2")
on_exit "kill $S1 $S2"
for p in "$P1" "$P2"; do
	i=0
	until curl -fsS -o /dev/null 2>/dev/null "http://127.0.0.1:$p/stepup/index.html"; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "static server on port $p did not start"
		sleep 0.1
	done
done

# vigild for the real path: the browser's credential is pushed in a bundle once enrolled
[ -x "$VIGILD" ] && [ -x "$VIGILCTL" ] || fail "vigild/vigilctl not built in $BIN"
make_keys
write_config
start_vigild
cat >"$T/push.sh" <<EOS
set -e
python3 "$ROOT/tests/integration/mkbundle.py" --version 2 --out "$T/b2.json" --set environment='"dev"' \\
	--set elevation.rp_id='"localhost"' --set elevation.origins='["http://localhost:$P1"]' \\
	--set "identity.users.0.credentials=[\$(cat "$T/cred.json")]"
"$VIGILCTL" policy sign --key "$T/keys/sec1.key" "$T/b2.json" >/dev/null
"$VIGILCTL" -s "$T/run/vigil.sock" policy push "$T/b2.json" >/dev/null
EOS

cp "$ROOT/tests/browser/stepup.mjs" "$BIN/browser/stepup.mjs"
mkdir -p "$T/home"
HOME="$T/home" ORIGIN="http://localhost:$P1" OTHER_ORIGIN="http://localhost:$P2" \
	RELAY_TOOL="$BIN/tests/relay_tool" STEPUP="$BIN/vigil-stepup" T="$T" \
	PUSH="$T/push.sh" RELAY_CTL="$ROOT/tests/integration/relay_ctl.py" SOCKET="$T/run/vigil.sock" \
	timeout 240 node "$BIN/browser/stepup.mjs" || fail "browser step-up flow"
echo "t_webauthn_browser: passed"
