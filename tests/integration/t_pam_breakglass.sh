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
cp "$T/state/breakglass.spool" "$T/use.saved"

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

# A use while vigild runs (the module finds no socket: one removed, a vigild restarting) is
# ingested and audited at once, not at vigild's next start
bg_stack() { # SOCKET
	PAM_ARGS=$(echo "$PAM_ARGS" | sed "s|socket=[^ ]*|socket=$1|")
	pam_service su <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_deny.so
account  required  @VIGIL@
EOS
}
sock=$(echo "$PAM_ARGS" | sed -n 's|.*socket=\([^ ]*\).*|\1|p')
before=$(audit_count breakglass.used)
bg_stack "$T/run/removed.sock"
pamt "$BG_SECRET\n" su root authenticate
[ "$RC" = 0 ] || fail "break-glass with no socket in reach failed: $OUT"
i=0
while [ "$(audit_count breakglass.used)" -le "$before" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(audit_count breakglass.used)" -gt "$before" ] || fail "a use spooled while vigild runs was not audited within 5 s"
ok "a use spooled while vigild runs is audited at once ($((i * 100)) ms)"
[ ! -e "$T/state/breakglass.spool" ] || fail "the spool was left behind after ingestion"
bg_stack "$sock"

# an ingestion vigild did not finish (killed between reading and removing) is not lost when
# new uses arrive: both the old file and the new spool are audited at the next start
stop_vigild
cp "$T/use.saved" "$T/state/breakglass.spool.ingesting"
pamt "$BG_SECRET\n" su root authenticate
[ "$RC" = 0 ] || fail "break-glass with vigild down failed: $OUT"
before=$(audit_count breakglass.used)
start_vigild
i=0
while [ "$(audit_count breakglass.used)" -lt $((before + 2)) ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
assert_eq "$(audit_count breakglass.used)" "$((before + 2))" "the interrupted ingestion's use and the new one are both audited"
[ ! -e "$T/state/breakglass.spool.ingesting" ] || fail "the interrupted ingestion's file was left behind"

# an expired entry is not usable even with vigild down
pam_bundle 2 --set "elevation.break_glass.0.not_after=\"$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)\""
stop_vigild
pamt "$BG_SECRET\n" su root authenticate
[ "$RC" != 0 ] || fail "an expired break-glass entry was accepted: $OUT"
assert_not_contains "$OUT" "BREAK-GLASS code" "expired entry: no prompt"
