#!/bin/sh
# Signed posture reports: vigild signs with the host key, vigilctl verifies offline with
# host.pub; a tampered report, another key, another nonce or an old report fail with exit 4.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/posture_fixture.sh"
need_root

fx_good_host
make_keys
write_config "posture_root = $FX"
start_vigild
posture_bundle "$T/b1.json" 1
ctl policy push "$T/b1.json" >/dev/null || fail "push bundle"

ctl posture report --sign --nonce "chal-0451" -o "$T/report.json" 2>"$T/report.err" || fail "posture report --sign"
assert_contains "$(cat "$T/report.err")" "signed posture report written to $T/report.json" "report written"
[ -s "$T/state/host.pub" ] || fail "no host.pub in the state directory"

OUT=$("$VIGILCTL" posture verify "$T/report.json" --pubkey "$T/state/host.pub" --nonce chal-0451 --max-age 300) ||
	fail "a fresh signed report does not verify: $OUT"
assert_contains "$OUT" "signature ok: posture report of testhost" "verifies with host.pub"
assert_contains "$OUT" "posture: PASS  environment prod" "verified report shows the verdict"
J=$("$VIGILCTL" --json posture verify "$T/report.json" --pubkey "$T/state/host.pub")
assert_eq "$(echo "$J" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["verdict"], r["nonce"], r["host"], r["checks"]["edr"]["result"])')" \
	"pass chal-0451 testhost pass" "verified JSON carries verdict, nonce, host, checks"

# tampering with the signed bytes: turn the EDR result into something else
python3 - "$T/report.json" "$T/tampered.json" <<'EOF'
import json, sys
env = json.load(open(sys.argv[1]))
rep = json.loads(env["report"])
assert rep["verdict"] == "pass"
rep["checks"]["disk_encryption"]["summary"] = "edited"
env["report"] = json.dumps(rep, sort_keys=True, separators=(",", ":"))
json.dump(env, open(sys.argv[2], "w"))
EOF
set +e
"$VIGILCTL" posture verify "$T/tampered.json" --pubkey "$T/state/host.pub" >"$T/out" 2>&1
rc=$?
set -e
assert_eq "$rc" 4 "tampered report: exit 4"
assert_contains "$(cat "$T/out")" "the signature does not verify" "tampered report: says why"

# another key
"$VIGILCTL" keygen --out "$T/keys/other.key" >/dev/null
set +e
"$VIGILCTL" posture verify "$T/report.json" --pubkey "$T/keys/other.key.pub" >/dev/null 2>&1
rc_key=$?
"$VIGILCTL" posture verify "$T/report.json" --pubkey "$T/state/host.pub" --nonce other-nonce >"$T/out" 2>&1
rc_nonce=$?
set -e
assert_eq "$rc_key" 4 "another key: exit 4"
assert_eq "$rc_nonce" 4 "another nonce: exit 4"
assert_contains "$(cat "$T/out")" "answers another nonce" "nonce mismatch says why"

# a report whose generated_at is older than --max-age (re-signed with the real host key so
# only the age is wrong: the check must look at the time, not just the signature)
python3 - "$T/report.json" "$T/old.json" "$T/state/host.key" <<'EOF'
import base64, json, subprocess, sys
env = json.load(open(sys.argv[1]))
rep = json.loads(env["report"])
rep["generated_at"] = "2020-01-01T00:00:00Z"
text = json.dumps(rep, sort_keys=True, separators=(",", ":"))
# the host key signs under the posture-report domain (docs/posture.md)
open(sys.argv[2] + ".txt", "w").write("vigil-hostkey/1\nposture-report\n" + text)
sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", sys.argv[3], "-in", sys.argv[2] + ".txt"],
                     check=True, capture_output=True).stdout
env["report"], env["signature"] = text, base64.b64encode(sig).decode()
json.dump(env, open(sys.argv[2], "w"))
EOF
"$VIGILCTL" posture verify "$T/old.json" --pubkey "$T/state/host.pub" >/dev/null ||
	fail "a re-signed old report does not verify without --max-age"
set +e
"$VIGILCTL" posture verify "$T/old.json" --pubkey "$T/state/host.pub" --max-age 3600 >"$T/out" 2>&1
rc=$?
set -e
assert_eq "$rc" 4 "old report with --max-age: exit 4"

# a failing host signs a failing report, with its reasons
rm -rf "$FX/proc/812"
ctl posture report --sign --refresh -o "$T/fail.json" 2>/dev/null || fail "report of a failing host"
OUT=$("$VIGILCTL" posture verify "$T/fail.json" --pubkey "$T/state/host.pub") || fail "failing report does not verify"
assert_contains "$OUT" "posture: FAIL" "failing verdict signed"
assert_contains "$OUT" "edr: none of the 1 configured EDR agents is running" "reasons signed"

# bad requests
set +e
ctl posture report --sign --nonce 'bad nonce!' >/dev/null 2>"$T/out"
rc=$?
set -e
assert_eq "$rc" 1 "invalid nonce refused"
assert_contains "$(cat "$T/out")" "nonce must be" "invalid nonce: says why"
