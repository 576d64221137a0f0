#!/bin/sh
# vigilctl enroll (a TESTHOOKS=1 build) against softfido: the snippet it prints is a
# credential the bundle loader accepts, for es256, eddsa (built-in UV) and rs256 (PIN);
# wrong PIN, no touch and --uv on a key without UV fail cleanly and in bounded time.
. "$(dirname "$0")/lib.sh"

SFCTL="$BIN/tests/softfido-ctl"
[ -x "$VIGILCTL" ] || skip "$VIGILCTL not built"
[ -x "$SFCTL" ] || skip "softfido-ctl not built"
nm "$VIGILCTL" 2>/dev/null | grep -q ' softfido_open$' ||
	skip "vigilctl is a production build; enrollment against softfido needs make TESTHOOKS=1"
command -v python3 >/dev/null || skip "python3 missing"

KEY="$T/key.state"
"$SFCTL" create "$KEY" || fail "softfido create"
"$SFCTL" set "$KEY" notouch_ms 800 || fail "softfido set notouch_ms"
enroll() { "$VIGILCTL" enroll --user alice --rp-id vigil.example.com --softfido "$KEY" "$@"; }

# check_cred FILE ALG UV : the snippet's shape and its key's type, independently of vigil's parser
check_cred() {
	python3 - "$1" "$2" "$3" <<'EOF' || fail "snippet $1 is not a well-formed credential"
import json, sys, base64, subprocess
c = json.load(open(sys.argv[1]))
assert set(c) == {"id", "alg", "public_key", "uv", "comment"}, c.keys()
assert c["alg"] == sys.argv[2], c["alg"]
assert c["uv"] is (sys.argv[3] == "true"), c["uv"]
raw = base64.urlsafe_b64decode(c["id"] + "=" * (-len(c["id"]) % 4))
assert 16 <= len(raw) <= 1023 and "=" not in c["id"]
out = subprocess.run(["openssl", "pkey", "-pubin", "-noout", "-text"], input=c["public_key"].encode(),
                     capture_output=True, check=True).stdout.decode()
want = {"es256": "prime256v1", "eddsa": "ED25519", "rs256": "2048 bit"}[sys.argv[2]]
assert want in out, out[:80]
EOF
	ok "snippet $2 (uv=$3) is well-formed"
}

enroll --json >"$T/es256.json" 2>"$T/err" || { cat "$T/err"; fail "enroll es256"; }
check_cred "$T/es256.json" es256 false

"$SFCTL" set "$KEY" uv on || fail "softfido uv on"
enroll --alg eddsa --uv --json >"$T/eddsa.json" 2>"$T/err" || { cat "$T/err"; fail "enroll eddsa --uv"; }
check_cred "$T/eddsa.json" eddsa true

"$SFCTL" set "$KEY" pin 2468 || fail "softfido set pin"
echo 2468 | enroll --alg rs256 --uv --pin-stdin --json >"$T/rs256.json" 2>"$T/err" ||
	{ cat "$T/err"; fail "enroll rs256 with PIN"; }
check_cred "$T/rs256.json" rs256 true
assert_eq "$("$SFCTL" get "$KEY" ncreds)" 3 "three processes enrolled three credentials on one key"
assert_eq "$("$SFCTL" get "$KEY" counter)" 3 "the key's counter moved once per credential"

# the environment variable names the key when no option does
echo 2468 | VIGIL_TEST_SOFTFIDO="$KEY" "$VIGILCTL" enroll --user bob --rp-id vigil.example.com --pin-stdin \
	--json >"$T/env.json" 2>"$T/err" || { cat "$T/err"; fail "enroll through VIGIL_TEST_SOFTFIDO"; }
check_cred "$T/env.json" es256 false

# human output carries the same snippet
echo 2468 | enroll --pin-stdin >"$T/human.txt" 2>"$T/err" || { cat "$T/err"; fail "enroll (human output)"; }
assert_contains "$(cat "$T/human.txt")" 'credentials of user "alice"' "human output says where the snippet goes"
assert_contains "$(cat "$T/human.txt")" "BEGIN PUBLIC KEY" "human output shows the key"

# refusals
out=$(echo 1111 | enroll --pin-stdin 2>&1) && fail "a wrong PIN enrolled"
assert_contains "$out" "FIDO_ERR_PIN_INVALID" "wrong PIN refused"
out=$(enroll </dev/null 2>&1) && fail "enrolled without the PIN"
assert_contains "$out" "has a PIN" "missing PIN refused with a hint"
"$SFCTL" set "$KEY" pin - && "$SFCTL" set "$KEY" uv off || fail "softfido reset"
out=$(enroll --uv 2>&1) && fail "--uv on a key without UV enrolled"
assert_contains "$out" "set a PIN first" "--uv without a PIN or built-in UV refused"
"$SFCTL" set "$KEY" touch no || fail "softfido touch no"
start=$(date +%s)
out=$(enroll 2>&1) && fail "enrolled without a touch"
assert_contains "$out" "nobody touched the key" "no touch: a clear timeout"
[ $(($(date +%s) - start)) -lt 20 ] || fail "no-touch enrollment took too long"
ok "no-touch enrollment ended in bounded time"
out=$("$VIGILCTL" enroll --user alice --rp-id vigil.example.com --softfido "$T/missing.state" 2>&1) &&
	fail "enrolled with no key"
assert_contains "$out" "no FIDO2 security key found" "no key: a clear message"
out=$(enroll --alg es384 2>&1) && fail "accepted --alg es384"
assert_contains "$out" "unknown --alg" "unknown algorithm refused"
out=$("$VIGILCTL" enroll --user 'x y' --rp-id vigil.example.com --softfido "$KEY" 2>&1) && fail "accepted a bad user"
assert_contains "$out" "not a valid user name" "bad user name refused"

# the bundle loader accepts the snippets as alice's credentials and rejects a damaged one
make_keys
make_bundle "$T/b1.json" 2 --set "identity.users.0.credentials=[$(cat "$T/es256.json"),$(cat "$T/eddsa.json"),$(cat "$T/rs256.json")]"
"$VIGILCTL" policy verify --trust "$T/etc/trust.json" "$T/b1.json" >"$T/verify.out" 2>&1 ||
	{ cat "$T/verify.out"; fail "bundle with enrolled credentials refused"; }
ok "bundle with the three enrolled credentials verifies"
bad=$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["public_key"]="-----BEGIN CERTIFICATE-----\n"; print(json.dumps(c))' "$T/es256.json")
make_bundle "$T/b2.json" 3 --set "identity.users.0.credentials=[$bad]"
out=$("$VIGILCTL" policy verify --trust "$T/etc/trust.json" "$T/b2.json" 2>&1) && fail "a damaged credential was accepted"
assert_contains "$out" "public_key" "a damaged credential is refused by the loader"
