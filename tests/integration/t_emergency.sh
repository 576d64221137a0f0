#!/bin/sh
# Emergency documents against a real vigild (docs/emergency.md): sign/push/show; a replayed or
# older document refused; a bundle signature is no emergency signature; a document for another
# host ignored and audited; revoke removes a live grant (real PAM stack, software key); freeze
# refuses new grants while break-glass works; the freeze survives kill -9 and a bundle push;
# release and expiry end it; every verified document is acknowledged with a host-key signature;
# a quarantine is refused, never claimed applied, while this build's enforcement lacks it;
# revoke per user and per host.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pam_common.sh"

softfido_enroll
pam_start_env
pam_bundle 1
pam_service sudo <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_deny.so
account  required  @VIGIL@
EOS
pam_service su <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_deny.so
EOS

# emdoc FILE COUNTER EXPIRES_IN_S HOSTS ACTIONS_JSON : an emergency document signed with sec1
emdoc() {
	cat >"$1" <<EOD
{ "counter": $2,
  "issued_at": "$(date -u -d '-10 sec' +%Y-%m-%dT%H:%M:%SZ)",
  "expires_at": "$(date -u -d "+$3 sec" +%Y-%m-%dT%H:%M:%SZ)",
  "reason": "INC-4711 test",
  "scope": { "hosts": [$4] },
  "actions": $5 }
EOD
	rm -f "$1.sig"
	"$VIGILCTL" emergency sign --key "$T/keys/sec1.key" "$1" >/dev/null || fail "emergency sign $1"
}
grant_alice() {
	pamt "CHG-1\n" sudo alice authenticate acct_mgmt setcred
}

# 1. a live grant, then revoke all + freeze: the grant is gone, a new step-up is refused
grant_alice
[ "$RC" = 0 ] || fail "step-up for the test grant failed: $OUT"
assert_contains "$(ctl --json grants)" '"alice"' "alice holds a grant"
emdoc "$T/e1.json" 100 3600 '"test*"' '[{"action": "revoke", "all": true}, {"action": "freeze"}]'
"$VIGILCTL" emergency verify --trust "$T/etc/trust.json" "$T/e1.json" >/dev/null || fail "emergency verify"
out=$(ctl emergency push "$T/e1.json") || fail "emergency push refused: $out"
assert_contains "$out" "applied" "the document is applied"
assert_not_contains "$(ctl --json grants)" '"alice"' "revoke removed alice's live grant"
audit_has elevation.revoked '"emergency"' || fail "the revocation is not audited as by the emergency"
pamt "CHG-2\n" sudo alice authenticate acct_mgmt setcred
[ "$RC" != 0 ] || fail "a step-up succeeded while elevation is frozen: $OUT"
assert_contains "$OUT" "frozen" "the user is told elevation is frozen"
assert_not_contains "$(ctl --json grants)" '"alice"' "no new grant while frozen"
# break-glass still works, with vigild up, and vigild records it at once
pamt "$BG_SECRET\n" su root authenticate
[ "$RC" = 0 ] || fail "break-glass refused while frozen: $OUT"
assert_contains "$OUT" "BREAK-GLASS" "break-glass offered while frozen"
audit_has breakglass.used '"su"' || fail "break-glass use while frozen not audited"
show=$(ctl emergency show)
assert_contains "$show" "elevation frozen by document 100" "show names the freeze"
assert_contains "$(ctl --json status)" '"frozen": true' "status says frozen"

# 2. the acknowledgement: host, digest, result, signed with the host key
audit_has emergency.ack applied || fail "no acknowledgement event"
ack=$(audit_events emergency.ack | grep applied | tail -n 1)
digest=$(sha256sum "$T/e1.json" | cut -d' ' -f1)
assert_contains "$ack" "$digest" "the acknowledgement names the document digest"
assert_contains "$ack" testhost "the acknowledgement names the host"
printf '%s' "$ack" | python3 -c '
import json, sys, base64, subprocess
e = json.load(sys.stdin)
d = e.get("data", e)
open(sys.argv[1] + "/ack.msg", "wb").write(b"vigil-hostkey/1\nemergency-ack\n" + d["ack"].encode())
open(sys.argv[1] + "/ack.sig", "wb").write(base64.b64decode(d["signature"]))
' "$T" || fail "cannot read the acknowledgement"
openssl pkeyutl -verify -pubin -inkey "$T/state/host.pub" -rawin -in "$T/ack.msg" -sigfile "$T/ack.sig" >/dev/null ||
	fail "the acknowledgement does not verify with the host key"
ok "the acknowledgement verifies with the host key"

# 3. replay and older documents are refused; a bundle signature is not an emergency one
out=$(ctl emergency push "$T/e1.json") && assert_contains "$out" "unchanged" "the same document again: unchanged"
emdoc "$T/e0.json" 99 3600 '"*"' '[{"action": "release", "freeze": true}]'
if out=$(ctl emergency push "$T/e0.json" 2>&1); then fail "an older counter was accepted: $out"; fi
assert_contains "$out" "emergency_replay" "an older counter is refused as a replay"
audit_has emergency.refused emergency_replay || fail "the replay is not audited"
cp "$T/e0.json" "$T/eb.json"; sed -i 's/"counter": 99/"counter": 150/' "$T/eb.json"
"$VIGILCTL" policy sign --key "$T/keys/sec1.key" "$T/eb.json" >/dev/null
if out=$(ctl emergency push "$T/eb.json" 2>&1); then fail "a bundle signature was taken for an emergency one"; fi
assert_contains "$out" "signature_invalid" "a bundle signature does not sign an emergency document"

# 4. a document for another host: ignored, audited, acknowledged as not in scope
emdoc "$T/eo.json" 160 3600 '"otherhost"' '[{"action": "release", "freeze": true}]'
if out=$(ctl emergency push "$T/eo.json" 2>&1); then fail "a document for another host was applied"; fi
assert_contains "$out" "scope_mismatch" "another host's document is not applied"
audit_has emergency.ignored scope_mismatch || fail "the ignored document is not audited"
audit_has emergency.ack not_in_scope || fail "the ignored document is not acknowledged"
assert_contains "$(ctl --json status)" '"frozen": true' "still frozen"

# 5. quarantine on a host whose enforcement is off (this vigild): refused, never claimed applied
# (the quarantine itself, with flows cut, is t_enforce_quarantine's)
emdoc "$T/eq.json" 170 3600 '"*"' '[{"action": "quarantine", "tenant": "payments", "allow": [{"cidr": "10.0.0.0/8", "proto": "tcp", "ports": [443]}]}]'
if out=$(ctl emergency push "$T/eq.json" 2>&1); then fail "a quarantine was claimed applied with enforcement off: $out"; fi
assert_contains "$out" "enforce_off" "quarantine refused: enforcement is off on this host"
assert_contains "$(ctl --json emergency show)" '"quarantines": 0' "no quarantine claimed"

# 6. kill -9, restart: still frozen (verified again from the persisted document)
kill -9 "$VIGILD_PID"; wait "$VIGILD_PID" 2>/dev/null || true; VIGILD_PID=""; rm -f "$T/run/vigil.sock"
start_vigild
assert_contains "$(ctl --json status)" '"frozen": true' "frozen after kill -9 and restart"
pamt "CHG-3\n" sudo alice authenticate acct_mgmt setcred
[ "$RC" != 0 ] || fail "a step-up succeeded after the restart while frozen"
if out=$(ctl emergency push "$T/e0.json" 2>&1); then fail "replay accepted after restart"; fi
assert_contains "$out" "emergency_replay" "the counter floor survived the restart"

# 7. a bundle push does not undo it
pam_bundle 2
assert_contains "$(ctl --json status)" '"frozen": true' "frozen after a bundle push"

# 8. release ends it
ctl emergency release --freeze --counter 200 --reason "INC-4711 over" --hosts "testhost" --out "$T/er.json" >/dev/null ||
	fail "emergency release did not write a document"
"$VIGILCTL" emergency sign --key "$T/keys/sec1.key" "$T/er.json" >/dev/null
out=$(ctl emergency push "$T/er.json") || fail "release refused: $out"
assert_contains "$(ctl --json status)" '"frozen": false' "released: not frozen"
grant_alice
[ "$RC" = 0 ] || fail "step-up after release failed: $OUT"
ok "step-up works again after the release"

# per user and per host: only the named user's grants; a host glob that is not this host, none
emdoc "$T/eu.json" 210 3600 '"*"' '[{"action": "revoke", "user": "bob"}, {"action": "revoke", "host": "other-*"}]'
out=$(ctl --json emergency push "$T/eu.json") || fail "per-user revoke refused: $out"
assert_contains "$out" '"not_this_host"' "a revoke for other hosts does nothing here"
assert_contains "$(ctl --json grants)" '"alice"' "revoking bob left alice's grant"
emdoc "$T/eh.json" 220 3600 '"*"' '[{"action": "revoke", "host": "TEST*"}]'
ctl emergency push "$T/eh.json" >/dev/null || fail "per-host revoke refused"
assert_not_contains "$(ctl --json grants)" '"alice"' "a revoke naming this host (glob, any case) removed the grant"

# 9. expiry ends a freeze on time
emdoc "$T/ex.json" 300 3 '"*"' '[{"action": "freeze"}]'
ctl emergency push "$T/ex.json" >/dev/null || fail "short freeze refused"
assert_contains "$(ctl --json status)" '"frozen": true' "frozen for 3 s"
sleep 4
assert_contains "$(ctl --json status)" '"frozen": false' "the freeze ended at expiry"
audit_has emergency.expired freeze || fail "the expiry is not audited"
[ "$(ls "$T/state/emergency")" = state.json ] || fail "documents left behind: $(ls "$T/state/emergency")"
ok "no document is kept once nothing holds it"

# the runbook's document, run verbatim from docs/emergency.md, is one vigild accepts
python3 -c '
import re, sys
t = open(sys.argv[1]).read().split("## Runbook", 1)[1]
print(re.search(r"```sh\n(.*?)```", t, re.S).group(1))' "$ROOT/docs/emergency.md" >"$T/runbook.sh"
(cd "$T" && sh "$T/runbook.sh") || fail "the runbook's commands failed"
"$VIGILCTL" emergency sign --key "$T/keys/sec1.key" "$T/q.json" >/dev/null
out=$("$VIGILCTL" emergency verify --trust "$T/etc/trust.json" "$T/q.json") || fail "the runbook's document does not verify: $out"
assert_contains "$out" "3 action(s)" "the runbook's document verifies"
