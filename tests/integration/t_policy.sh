#!/bin/sh
# vigild as a real process: signed bundles pushed over the control socket and
# dropped in the inbox; every rejection leaves the running policy in force;
# persistence, re-verification at start, last-known-good, rollback, trust rotation.
. "$(dirname "$0")/lib.sh"
need_root
make_keys
write_config
start_vigild

running_version() { ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["policy"].get("version", 0))'; }
last_code() { ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["policy"].get("last_error", {}).get("code", ""))'; }

out=$(ctl status)
assert_contains "$out" "none applied yet" "fresh daemon reports no policy"
# vigild runs with glibc's transparent-huge-page backing of large blocks (vigild(8), ENVIRONMENT)
if grep -q -e '\[madvise\]' -e '\[always\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null &&
	[ -z "${GLIBC_TUNABLES:-}" ]; then
	tr '\0' '\n' <"/proc/$VIGILD_PID/environ" | grep -qx 'GLIBC_TUNABLES=glibc.malloc.hugetlb=1' ||
		fail "vigild did not re-execute itself with glibc.malloc.hugetlb=1"
	assert_eq "$(cat "/proc/$VIGILD_PID/comm")" vigild "the re-executed process is still called vigild"
	ok "vigild runs with glibc.malloc.hugetlb=1"
fi

make_bundle "$T/v1.json" 1
out=$(ctl policy push "$T/v1.json")
assert_contains "$out" "applied version 1" "good bundle applied"
assert_eq "$(running_version)" 1 "status shows version 1"
digest1=$(sha256sum "$T/v1.json" | cut -d' ' -f1)
assert_contains "$(ctl status)" "$digest1" "status reports the policy digest"
# policy show: the running bundle, read back from the file that holds it (not kept in memory)
shown_version() { ctl --json policy show | python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["version"])'; }
assert_eq "$(shown_version)" 1 "policy show prints the running bundle"

# tampered: one byte changed after signing
make_bundle "$T/tampered.json" 2
sed -i 's/"payments"/"paymentz"/' "$T/tampered.json"
if ctl policy push "$T/tampered.json" 2>"$T/err"; then fail "tampered bundle accepted"; fi
assert_contains "$(cat "$T/err")" "signature does not match" "tampered bundle rejected with reason"
assert_eq "$(last_code)" "signature_invalid" "last_error code"

# unsigned
python3 "$ROOT/tests/integration/mkbundle.py" --version 2 --out "$T/unsigned.json"
if ctl policy push "$T/unsigned.json" 2>"$T/err"; then fail "unsigned bundle accepted"; fi
assert_contains "$(cat "$T/err")" "[unsigned]" "unsigned bundle rejected"

# signed by a key the trust file does not know
"$VIGILCTL" keygen --out "$T/keys/rogue.key" >/dev/null
python3 "$ROOT/tests/integration/mkbundle.py" --version 2 --out "$T/rogue.json"
"$VIGILCTL" policy sign --key "$T/keys/rogue.key" "$T/rogue.json" >/dev/null
if ctl policy push "$T/rogue.json" 2>"$T/err"; then fail "bundle from an untrusted key accepted"; fi
assert_contains "$(cat "$T/err")" "is not trusted" "untrusted signer rejected"

# expired
make_bundle "$T/expired.json" 2 --issued-ago 7200 --expires-in -3600
if ctl policy push "$T/expired.json" 2>"$T/err"; then fail "expired bundle accepted"; fi
assert_contains "$(cat "$T/err")" "[expired]" "expired bundle rejected"

# wrong scope
make_bundle "$T/scope.json" 2 --set 'scope.hosts=["db-*"]'
if ctl policy push "$T/scope.json" 2>"$T/err"; then fail "wrong-scope bundle accepted"; fi
assert_contains "$(cat "$T/err")" "not for host \"testhost\"" "wrong-scope bundle rejected"
make_bundle "$T/label.json" 2 --set 'scope.labels={"role":"db"}'
if ctl policy push "$T/label.json" 2>"$T/err"; then fail "wrong-label bundle accepted"; fi
assert_contains "$(cat "$T/err")" "lacks label role=db" "wrong-label bundle rejected"

# schema error carries the JSON path
make_bundle "$T/badcidr.json" 2 --set 'tenants.0.egress.0.cidr="10.0.0.0/40"'
if ctl policy push "$T/badcidr.json" 2>"$T/err"; then fail "bad CIDR accepted"; fi
assert_contains "$(cat "$T/err")" '$.tenants[0].egress[0].cidr' "schema error names the JSON path"
assert_eq "$(running_version)" 1 "every rejection left version 1 running"
# the stage is written beside the parse: what the parse or the checks after it refused is gone
[ -z "$(ls "$T/state/policy" | grep -e '^staged\.' -e '\.tmp\.')" ] || fail "a refused bundle stays staged: $(ls "$T/state/policy")"
ok "refused bundles (expired, scope, label, schema) leave nothing staged"

# newer version, then downgrade and version reuse
make_bundle "$T/v2.json" 2
ctl policy push "$T/v2.json" >/dev/null
assert_eq "$(running_version)" 2 "version 2 applied"
if ctl policy push "$T/v1.json" 2>"$T/err"; then fail "downgrade accepted"; fi
assert_contains "$(cat "$T/err")" "[downgrade]" "downgrade rejected"
make_bundle "$T/v2b.json" 2 --set 'environment="dev"'
if ctl policy push "$T/v2b.json" 2>"$T/err"; then fail "reused version accepted"; fi
assert_contains "$(cat "$T/err")" "[version_reused]" "same version with other contents rejected"
out=$(ctl policy push "$T/v2.json")
assert_contains "$out" "already running" "re-pushing the running bundle changes nothing"

grep -q '"policy.rejected"' "$T/state/audit.jsonl" 2>/dev/null || ctl --json status >/dev/null
# inbox: a pair dropped in the directory
make_bundle "$T/v3.json" 3
cp "$T/v3.json.sig" "$T/inbox/v3.json.sig"
cp "$T/v3.json" "$T/inbox/v3.json"
i=0; while [ "$(running_version)" != 3 ]; do i=$((i+1)); [ $i -gt 50 ] && fail "inbox bundle not applied"; sleep 0.1; done
ok "inbox bundle applied"
[ ! -e "$T/inbox/v3.json" ] || fail "applied inbox bundle not removed"
cp "$T/expired.json.sig" "$T/inbox/old.json.sig"; cp "$T/expired.json" "$T/inbox/old.json"
i=0; while [ ! -e "$T/inbox/old.json.error" ]; do i=$((i+1)); [ $i -gt 50 ] && fail "rejected inbox bundle not reported"; sleep 0.1; done
assert_contains "$(cat "$T/inbox/old.json.error")" "expired" "rejected inbox bundle gets an .error file"

# rollback to last-known-good: explicit, needs a reason
if ctl policy rollback 2>/dev/null; then fail "rollback without a reason accepted"; fi
out=$(ctl policy rollback --reason "INC-7 testing rollback")
assert_contains "$out" "rolled back to version 2" "rollback to last-known-good"
assert_eq "$(running_version)" 2 "version 2 running after rollback"

# restart: the persisted bundle is verified again and re-applied; what a load killed
# midway left behind (a staged bundle, a temp file) is removed
stop_vigild
echo junk >"$T/state/policy/staged.7.json"
echo junk >"$T/state/policy/staged.7.json.sig"
echo junk >"$T/state/policy/state.json.tmp.0123abcd"
start_vigild
[ -z "$(ls "$T/state/policy" | grep -e '^staged\.' -e '\.tmp\.')" ] || fail "leftovers stay: $(ls "$T/state/policy")"
ok "staged and temp files of an unfinished load removed at start"
assert_eq "$(running_version)" 2 "policy survives a restart"
assert_eq "$(shown_version)" 2 "policy show after a restart (the persisted file)"
assert_contains "$(cat "$T/vigild.log")" "policy: applied version 2" "re-verified at start"
# a newer version still goes in; anti-rollback floor survived the restart
if ctl policy push "$T/v1.json" 2>"$T/err"; then fail "downgrade accepted after restart"; fi
make_bundle "$T/v4.json" 4
ctl policy push "$T/v4.json" >/dev/null
assert_eq "$(running_version)" 4 "version 4 applied"
assert_eq "$(shown_version)" 4 "policy show after a restart and a push"
# someone else writes the file that holds the running bundle: show says so, never shows it as running
cp "$T/state/policy/current.json" "$T/current.keep"
cp "$T/v1.json" "$T/state/policy/current.json"
if ctl policy show >"$T/out" 2>"$T/err"; then fail "policy show printed a file that is not the running bundle"; fi
assert_contains "$(cat "$T/err")" "no longer holds the running bundle" "policy show refuses a replaced file"
cp "$T/current.keep" "$T/state/policy/current.json"

# the persisted bundle is tampered with while vigild is down: it refuses it and keeps the last-known-good
stop_vigild
sed -i 's/"payments"/"paymentz"/' "$T/state/policy/current.json"
start_vigild
assert_contains "$(cat "$T/vigild.log")" "PERSISTED BUNDLE NO LONGER VERIFIES" "tampered persisted bundle detected loudly"
assert_eq "$(running_version)" 2 "last-known-good runs instead"

# trust rotation N -> N+1 signed by old and new keys; N -> N+2 refused
"$VIGILCTL" keygen --out "$T/keys/sec2.key" >/dev/null
"$VIGILCTL" trust new --out "$T/trust2.json" --version 2 --threshold 1 "$T/keys/sec2.key.pub" >/dev/null
"$VIGILCTL" trust new --out "$T/trust3.json" --version 3 --threshold 1 "$T/keys/sec2.key.pub" >/dev/null
for f in trust2 trust3; do
	"$VIGILCTL" trust sign --key "$T/keys/sec1.key" "$T/$f.json" >/dev/null
	"$VIGILCTL" trust sign --key "$T/keys/sec2.key" "$T/$f.json" >/dev/null
done
if ctl trust push "$T/trust3.json" 2>"$T/err"; then fail "trust N -> N+2 accepted"; fi
assert_contains "$(cat "$T/err")" "N to N+1 only" "trust N -> N+2 refused"
cp "$T/trust2.json" "$T/trust2-newonly.json"
"$VIGILCTL" trust sign --key "$T/keys/sec2.key" "$T/trust2-newonly.json" >/dev/null
if ctl trust push "$T/trust2-newonly.json" 2>"$T/err"; then fail "rotation signed only by the new key accepted"; fi
assert_contains "$(cat "$T/err")" "not signed by the current keys" "rotation needs the old keys"
out=$(ctl trust push "$T/trust2.json")
assert_contains "$out" "trust rotated to version 2" "trust N -> N+1 accepted"
# bundles now need the new key
make_bundle "$T/v5.json" 5
if ctl policy push "$T/v5.json" 2>"$T/err"; then fail "bundle signed by the retired key accepted"; fi
"$VIGILCTL" policy sign --key "$T/keys/sec2.key" "$T/v5.json" >/dev/null
ctl policy push "$T/v5.json" >/dev/null
assert_eq "$(running_version)" 5 "bundle signed by the new key applied"
stop_vigild
start_vigild
assert_eq "$(running_version)" 5 "rotated trust file persists across restart"

# policy show of a bundle larger than one reply piece (4 MiB): vigilctl asks piece after piece and
# prints exactly the bytes that were applied (a 1M-rule bundle, 117 MB, was once refused by the
# client's 64 MiB reply cap after vigild had parsed it whole on its loop)
make_bundle "$T/v6.json" 6
python3 - "$T/v6.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
b["tenants"][0]["egress"] = [{"id": 1000 + i, "cidr": "10.%d.%d.%d/32" % (64 + i // 65536, (i // 256) % 256, i % 256), "proto": "tcp",
                              "ports": ["443"], "comment": "padding to make the bundle larger than one piece"}
                             for i in range(70000)]
json.dump(b, open(sys.argv[1], "w"), indent=1)
PY
rm -f "$T/v6.json.sig"
"$VIGILCTL" policy sign --key "$T/keys/sec2.key" "$T/v6.json" >/dev/null
[ "$(stat -c %s "$T/v6.json")" -gt $((8 << 20)) ] || fail "the test bundle is not larger than two pieces"
out=$(ctl policy push "$T/v6.json" 2>&1) || fail "the large bundle was refused: $out"
ctl --json policy show >"$T/shown.json" || fail "policy show of the large bundle failed"
python3 - "$T/shown.json" "$T/v6.json" <<'PY' || fail "policy show did not print the applied bundle"
import json, sys
shown, applied = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert shown["bundle"] == applied, "bundle differs"
assert shown["summary"]["version"] == 6
PY
ok "policy show prints a bundle of $(stat -c %s "$T/v6.json") bytes, piece by piece"

# offline verification
out=$("$VIGILCTL" policy verify --trust "$T/etc/trust.json" "$T/v5.json")
assert_contains "$out" "OK:" "policy verify accepts a good bundle"
if "$VIGILCTL" policy verify --trust "$T/etc/trust.json" "$T/tampered.json" 2>/dev/null; then fail "verify accepted tampered"; fi
"$VIGILCTL" policy verify --trust "$T/etc/trust.json" "$T/tampered.json" 2>/dev/null || rc=$?
assert_eq "$rc" 4 "verify exits 4 on a bad signature"
exit 0
