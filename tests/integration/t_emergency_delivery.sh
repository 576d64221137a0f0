#!/bin/sh
# Emergency documents delivered without vigilctl (docs/emergency.md "Delivery"): the pull
# channel of its own (emergency_url, polled with ETag: a 304 per interval in steady state) picks
# up a published document within its interval and acknowledges it; the inbox applies
# NAME.emergency.json (+ .sig) at once and moves a refused one aside with the reason; the first
# pull after start waits at most the jitter.
. "$(dirname "$0")/lib.sh"
need_root
. "$(dirname "$0")/https_fixture.sh"
make_keys
https_start

# emdoc FILE COUNTER ACTIONS_JSON : an emergency document for every host, signed with sec1
emdoc() {
	cat >"$1" <<EOD
{ "counter": $2, "issued_at": "$(date -u -d '-10 sec' +%Y-%m-%dT%H:%M:%SZ)",
  "expires_at": "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)", "reason": "INC-9 delivery test",
  "scope": { "hosts": ["*"] }, "actions": $3 }
EOD
	rm -f "$1.sig"
	"$VIGILCTL" emergency sign --key "$T/keys/sec1.key" "$1" >/dev/null || fail "emergency sign $1"
}
frozen() { ctl --json status | python3 -c 'import json,sys; print(str(json.load(sys.stdin)["modules"]["emergency"]["frozen"]).lower())'; }
wait_frozen() { i=0; while [ "$(frozen)" != "$1" ]; do i=$((i+1)); [ $i -gt 100 ] && fail "$2"; sleep 0.1; done; ok "$2"; }

emdoc "$T/e1.json" 10 '[{"action": "freeze"}]'
write_config "emergency_url = https://127.0.0.1:$port/emergency.json" "emergency_interval_s = 1" \
	"emergency_jitter_s = 0" "pull_ca_file = $T/pki/ca.crt" "pull_cert_file = $T/pki/cli.crt" \
	"pull_key_file = $T/pki/cli.key"
start_vigild
# nothing published yet: 404s are failures, reported and retried
i=0; until ctl --json status | grep -q '"emergency_pull"'; do i=$((i+1)); [ $i -gt 50 ] && fail "no emergency_pull in status"; sleep 0.1; done
publish "$T/e1.json" emergency.json
wait_frozen true "a published freeze is pulled and applied"
audit_tail() { "$VIGILCTL" --json audit tail --type "dev.vigil.$1" -n 1000 --dir "$T/state/audit" 2>/dev/null; }
i=0; until audit_tail emergency.applied | grep -q '"pull"'; do i=$((i+1)); [ $i -gt 50 ] && fail "no emergency.applied from pull"; sleep 0.1; done
ok "applied from the pull channel, audited"
i=0; until audit_tail emergency.ack | grep -q applied; do i=$((i+1)); [ $i -gt 50 ] && fail "no acknowledgement"; sleep 0.1; done
ok "acknowledged"
# steady state: conditional requests answered 304, the document is not fetched again
: >"$T/nginx/access.log"; kill -USR1 "$NGINX_PID"
sleep 3
grep -q 'emergency.json HTTP[^"]*" 304 ' "$T/nginx/access.log" || fail "no 304 in steady state: $(cat "$T/nginx/access.log")"
if grep -q 'emergency.json HTTP[^"]*" 200 ' "$T/nginx/access.log"; then fail "the unchanged document was fetched again"; fi
ok "steady state is a 304 per interval"

# the inbox: a release as NAME.emergency.json, applied at once, the pair removed
emdoc "$T/e2.json" 20 '[{"action": "release", "freeze": true}]'
cp "$T/e2.json.sig" "$T/inbox/.r.emergency.json.sig" && mv "$T/inbox/.r.emergency.json.sig" "$T/inbox/r.emergency.json.sig"
cp "$T/e2.json" "$T/inbox/.r.emergency.json" && mv "$T/inbox/.r.emergency.json" "$T/inbox/r.emergency.json"
wait_frozen false "a release from the inbox is applied"
i=0; while [ -e "$T/inbox/r.emergency.json" ]; do i=$((i+1)); [ $i -gt 50 ] && fail "applied pair left in the inbox"; sleep 0.1; done
ok "the applied pair is removed from the inbox"
# a replay through the inbox: moved aside with the reason
cp "$T/e1.json.sig" "$T/inbox/old.emergency.json.sig"; cp "$T/e1.json" "$T/inbox/old.emergency.json"
i=0; until [ -e "$T/inbox/old.emergency.json.error" ]; do i=$((i+1)); [ $i -gt 50 ] && fail "refused document not moved aside"; sleep 0.1; done
assert_contains "$(cat "$T/inbox/old.emergency.json.error")" "is not above 20" "a replay in the inbox is refused with the reason"
assert_eq "$(frozen)" false "the replay changed nothing"

# the first pull after start waits a random part of the jitter, never more
stop_vigild
write_config "emergency_url = https://127.0.0.1:$port/emergency.json" "emergency_interval_s = 1" \
	"emergency_jitter_s = 30" "pull_ca_file = $T/pki/ca.crt" "pull_cert_file = $T/pki/cli.crt" \
	"pull_key_file = $T/pki/cli.key"
start_vigild
t0=$(date +%s)
next=$(ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["emergency_pull"]["next_at"])')
[ "$next" = now ] || [ $(( $(date -u -d "$next" +%s) - t0 )) -le 30 ] || fail "first pull scheduled beyond the jitter: $next"
ok "first pull within the jitter ($next)"
