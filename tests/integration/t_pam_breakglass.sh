#!/bin/sh
# Break-glass: vigild exports the bundle's entries (root-only); with vigild down the PAM
# module accepts the sealed secret, says it is audited, spools the use; vigild ingests the
# spool at start (breakglass.used, a grant for the rest of the duration). Wrong or expired
# secrets are refused; with vigild up break-glass is not offered.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pam_common.sh"

pam_start_env
pam_bundle 1
[ -f "$T/state/breakglass.json" ] || fail "vigild did not export breakglass.json"
assert_eq "$(stat -c %a "$T/state/breakglass.json")" "600" "breakglass.json is root-only"
assert_contains "$(cat "$T/state/breakglass.json")" "bg-2026-q4" "the bundle's entry is exported"

pam_service su <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_deny.so
account  required  @VIGIL@
EOS

# vigild up: no break-glass prompt, root is not concerned -> ignore -> pam_deny
pamt "$BG_SECRET\n" su root authenticate
[ "$RC" != 0 ] || fail "root authenticated through pam_deny with vigild up: $OUT"
assert_not_contains "$OUT" "BREAK-GLASS" "break-glass is not offered while vigild runs"

stop_vigild
pamt "wrong-secret-123\n" su root authenticate
[ "$RC" != 0 ] || fail "a wrong break-glass secret was accepted: $OUT"
[ ! -s "$T/state/breakglass.spool" ] || fail "a failed attempt was spooled as a use"
ok "wrong break-glass secret refused"

pamt "\n" su root authenticate
[ "$RC" != 0 ] || fail "skipping break-glass with vigild down succeeded: $OUT"
assert_contains "$OUT" "failmode=secure" "empty secret falls back to failmode=secure"

# a break-glass file others could have written is not trusted
chmod 0622 "$T/state/breakglass.json"
pamt "$BG_SECRET\n" su root authenticate
[ "$RC" != 0 ] || fail "a group/world-writable break-glass file was trusted: $OUT"
assert_not_contains "$OUT" "BREAK-GLASS code" "writable break-glass file ignored"
chmod 0600 "$T/state/breakglass.json"

pamt "$BG_SECRET\n" su root authenticate acct_mgmt
[ "$RC" = 0 ] || fail "break-glass with the right secret failed: $OUT"
assert_contains "$OUT" "BREAK-GLASS access for root" "the screen says break-glass"
assert_contains "$OUT" "audited" "the screen says it is audited"
assert_eq "$(wc -l <"$T/state/breakglass.spool")" "1" "one use spooled"
assert_eq "$(stat -c %a "$T/state/breakglass.spool")" "600" "spool is root-only"
assert_contains "$(cat "$T/state/breakglass.spool")" '"service":"su"' "spool names the service"

# another account gets no break-glass from root's entry
pamt "$BG_SECRET\n" su alice authenticate
[ "$RC" != 0 ] || fail "root's break-glass secret worked for alice: $OUT"
ok "break-glass is bound to the entry's user"

start_vigild
audit_has breakglass.used '"bg-2026-q4"' || fail "breakglass.used not audited after start"
ok "spool ingested at start: breakglass.used audited"
[ ! -e "$T/state/breakglass.spool" ] || fail "spool left behind after ingestion"
g=$(ctl grants --json)
assert_contains "$g" '"granted_by": "break-glass:bg-2026-q4"' "break-glass grant for the rest of its duration"
assert_contains "$(ctl grants)" "root" "vigilctl grants lists root"
grep -qa "BREAK-GLASS" "$T/vigild.log" || fail "vigild did not log the break-glass use loudly"
ok "vigild logged the use"

# an expired entry is not usable even with vigild down
pam_bundle 2 --set "elevation.break_glass.0.not_after=\"$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)\""
stop_vigild
pamt "$BG_SECRET\n" su root authenticate
[ "$RC" != 0 ] || fail "an expired break-glass entry was accepted: $OUT"
assert_not_contains "$OUT" "BREAK-GLASS code" "expired entry: no prompt"
