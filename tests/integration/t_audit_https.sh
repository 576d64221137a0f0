#!/bin/sh
# HTTPS sink against a real HTTPS peer on loopback (mutual TLS): CloudEvents batches,
# the cursor advances only on 2xx, a failing peer is retried with backoff and nothing
# is lost; the collector's copy verifies against the chain and the host key.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/integration/audit_common.sh"
need_root
make_pki
make_keys
write_config "audit_checkpoint_every = 200"
start_https_peer
start_vigild
P="$T/pki"
push_sinks 1 "[{\"name\":\"collector\",\"type\":\"https\",\"target\":\"https://localhost:$HTTPS_PORT/ingest\",\"tls\":true,\"ca_file\":\"$P/ca.pem\",\"cert_file\":\"$P/client.pem\",\"key_file\":\"$P/client.key\",\"batch\":100}]"

ctl audit note --repeat 2000 "https test" >/dev/null
ctl audit seal >/dev/null
wait_drained 60
upto=$(audit_field 's["sinks"][0]["cursor"]')
assert_all_seqs "$HTTPS_OUT" "$upto"
out=$("$VIGILCTL" audit verify --events "$HTTPS_OUT" --pubkey "$T/state/host.pub")
assert_contains "$out" "intact" "the collector's copy verifies"
assert_contains "$(head -c 300 "$HTTPS_OUT")" '"specversion":"1.0"' "events are CloudEvents"
assert_contains "$(head -c 300 "$HTTPS_OUT")" '"source":"vigil://testhost"' "source is vigil://HOST"

# the peer fails: nothing is acknowledged, the sink reports why, and catches up later
echo fail >"$HTTPS_CONTROL"
ctl audit note --repeat 500 "while the peer fails" >/dev/null
i=0
until [ "$(audit_field '"503" in s["sinks"][0]["last_error"] and s["sinks"][0]["lag_events"] > 0')" = True ]; do
	i=$((i + 1)); [ $i -gt 200 ] && { ctl audit status >&2; fail "failing peer not reported"; }
	sleep 0.1
done
ok "a failing peer is reported with lag: $(ctl audit status | grep '^sink')"
echo ok >"$HTTPS_CONTROL"
ctl audit seal >/dev/null
wait_drained 90
upto=$(audit_field 's["sinks"][0]["cursor"]')
assert_all_seqs "$HTTPS_OUT" "$upto"
out=$("$VIGILCTL" audit verify --events "$HTTPS_OUT" --pubkey "$T/state/host.pub")
assert_contains "$out" "intact" "the collector's copy verifies after the outage"

# the cursor survives a restart: only what came after it is sent again
lines=$(wc -l <"$HTTPS_OUT")
stop_vigild
start_vigild
ctl audit seal >/dev/null
wait_drained 60
new=$(( $(wc -l <"$HTTPS_OUT") - lines ))
[ "$new" -lt 20 ] || fail "restart re-sent $new events"
ok "restart resumed from the saved cursor ($new new events)"
out=$("$VIGILCTL" audit verify --events "$HTTPS_OUT" --pubkey "$T/state/host.pub")
assert_contains "$out" "intact" "the collector's copy verifies after a restart"
