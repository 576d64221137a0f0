#!/bin/sh
# The disk fills (the spool limit is far away): the audit log lives on its own small tmpfs,
# mounted in a private mount namespace, and a filler file takes every free byte. Nothing is
# lost silently: what was waiting is not acknowledged, new events are refused and counted,
# the state goes degraded (status and the journal say why), elevation through a real PAM
# stack is refused, and all of it recovers by itself when space returns; the recovery
# record carries the exact count refused and the log verifies.
[ -n "${VIGIL_UNSHARED:-}" ] || [ "$(id -u)" != 0 ] ||
	exec env VIGIL_UNSHARED=1 unshare -m --propagation private sh "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pam_common.sh"
. "$(dirname "$0")/audit_common.sh"
need_root
[ -n "${VIGIL_UNSHARED:-}" ] || skip "needs a private mount namespace (unshare -m)"

elevate=no
if softfido_build && [ -x "$BIN/tests/softfido-ctl" ]; then
	softfido_enroll
	elevate=yes
fi
mkdir -p "$T/state/audit"
mount -t tmpfs -o size=1m,mode=0700 vigil-audit-full "$T/state/audit" || skip "cannot mount a tmpfs"
on_exit "umount -l $T/state/audit"
pam_start_env "audit_spool_max_bytes = 1073741824" "audit_segment_bytes = 65536" "audit_checkpoint_every = 100"
pam_bundle 1
pam_service sudo <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_deny.so
account  required  @VIGIL@
EOS
status() { audit_field "$1"; }

out=$(ctl audit note --repeat 200 "before the disk fills") || fail "notes refused with free space: $out"
acked=$(echo "$out" | sed -n 's/.*durable up to seq \([0-9]*\).*/\1/p')
[ -n "$acked" ] || fail "note reply without a durable seq: $out"
if [ $elevate = yes ]; then
	pamt "CHG-1 before\n" sudo alice authenticate acct_mgmt setcred
	[ "$RC" = 0 ] || fail "step-up failed with free space: $OUT"
	ctl revoke alice >/dev/null
fi

# fill the file system to the last byte
dd if=/dev/zero of="$T/state/audit/filler" bs=4k 2>/dev/null || true
assert_eq "$(df -P "$T/state/audit" | awk 'NR==2 {print $4}')" 0 "the audit file system is full"

rc=0; out=$(ctl audit note --repeat 50 "written while full" 2>&1) || rc=$?
[ $rc != 0 ] || fail "audit note exited 0 although nothing reached the disk: $out"
assert_contains "$out" "not durable" "the producer is told its notes are not on disk"
assert_eq "$(status 's["degraded"]')" True "write failure: degraded"
assert_contains "$(status 's.get("degraded_reason")')" "write_failed: No space left on device" "status says why"
assert_contains "$(ctl audit status)" "DEGRADED" "plain status says so"
grep -q "audit: degraded (write_failed: No space left on device)" "$T/vigild.log" || fail "no journal line says why"
ok "one journal line says why"
assert_eq "$(status 's["pending_events"] >= 50')" True "the waiting notes are counted as not durable"

rc=0; out=$(ctl audit note --repeat 30 "refused while full" 2>&1) || rc=$?
[ $rc != 0 ] || fail "refused notes exited 0: $out"
assert_contains "$out" "30 of 30 notes were refused" "new events are refused and the producer is told"
if [ $elevate = yes ]; then
	pamt "CHG-2 while full\n" sudo alice authenticate acct_mgmt setcred
	[ "$RC" != 0 ] || fail "elevation granted while the audit log cannot be written: $OUT"
	assert_contains "$OUT" "the audit trail is degraded" "elevation refused, and the user is told why"
	assert_not_contains "$(ctl --json grants)" '"alice"' "no grant while the disk is full"
fi
refused=$(status 's["dropped_unwritable"]')
[ "$refused" -ge 30 ] || fail "only $refused events counted as refused"
ok "$refused events counted as refused"

wait_recovered() {
	i=0
	until [ "$(status 's["degraded"]')" = False ]; do
		i=$((i + 1)); [ $i -gt 50 ] && { ctl audit status >&2; fail "degraded state not left when space returned"; }
		sleep 0.1
	done
}
rm -f "$T/state/audit/filler"
wait_recovered
ok "space returned: the degraded state was left without an operator"
left=$("$VIGILCTL" --json audit tail --dir "$T/state/audit" --type audit.degraded -n 1)
assert_contains "$left" '"state":"left","reason":"write_failed"' "leaving is recorded"
assert_contains "$left" "\"dropped_events\":$refused," "with the exact count refused"
assert_eq "$("$VIGILCTL" --json audit tail --dir "$T/state/audit" --type admin.note -n 1000 | grep -c "written while full")" 50 \
	"the notes waiting in memory reached the disk after recovery"

# full again, then kill -9: what was acknowledged is on disk, nothing else claims to be
out=$(ctl audit note --repeat 20 "acknowledged") || fail "notes refused with free space: $out"
acked=$(echo "$out" | sed -n 's/.*durable up to seq \([0-9]*\).*/\1/p')
dd if=/dev/zero of="$T/state/audit/filler" bs=4k 2>/dev/null || true
ctl audit note --repeat 20 "never acknowledged" >/dev/null 2>&1 && fail "notes acknowledged on a full disk"
kill -9 "$VIGILD_PID"; wait "$VIGILD_PID" 2>/dev/null || true; VIGILD_PID=""
rm -f "$T/run/vigil.sock"
last=$("$VIGILCTL" --json audit tail --dir "$T/state/audit" -n 1 --type admin.note)
assert_contains "$last" '"reason":"acknowledged","n":20' "every acknowledged note survived kill -9"
[ "$(echo "$last" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["seq"])')" -le "$acked" ] ||
	fail "the last note on disk is past the acknowledged seq"
# the cut of the failed batch freed a few pages: full again for the restart
dd if=/dev/zero of="$T/state/audit/filler2" bs=1k 2>/dev/null || true
start_vigild
ctl audit note --repeat 20 "restarted" >/dev/null 2>&1 && fail "a note was acknowledged on a full disk after restart"
assert_eq "$(status 's["degraded"]')" True "restarted on a full disk: degraded"
rm -f "$T/state/audit/filler" "$T/state/audit/filler2"
wait_recovered
ctl audit note "after recovery" >/dev/null || fail "notes refused after recovery"
if [ $elevate = yes ]; then
	pamt "CHG-3 after\n" sudo alice authenticate acct_mgmt setcred
	[ "$RC" = 0 ] || fail "step-up refused after recovery: $OUT"
	ok "elevation works again after recovery"
fi
ctl audit seal >/dev/null
stop_vigild
left=$("$VIGILCTL" --json audit tail --dir "$T/state/audit" --type audit.degraded -n 10)
assert_contains "$left" '"state":"entered","reason":"write_failed","error":"No space left on device"' \
	"entering is recorded with the error"
out=$("$VIGILCTL" audit verify --dir "$T/state/audit")
assert_contains "$out" "intact" "the log verifies"
