#!/bin/sh
# Another account hammering `su alice` cannot fill the audit spool or block alice: 1000 failed
# attempts (challenges nobody answers — at most 8 parked per requester — in a 256 KiB spool with
# when_full=degrade and no sink) cost a bounded number of step_up_* records, a later one saying
# how many it stands for; the trail does not degrade, and alice's own sudo still steps up.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pam_common.sh"
command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"

softfido_enroll
pam_start_env "audit_spool_max_bytes = 262144" "audit_segment_bytes = 16384" "audit_when_full = degrade"
pam_bundle 1
for svc in su sudo; do
	pam_service $svc <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_deny.so
account  required  @VIGIL@
EOS
done

# outsider (real uid 1999, as inside setuid su) tries `su alice` 1000 times through the su stack
# (pam_loop: one process, a fresh PAM handle per attempt). The key plugged in here answers only
# alice's own requests (vigild refuses another account's: docs/pam.md, step 4), so the module
# takes the relay path and parks challenges nobody answers.
[ -x "$BIN/tests/pam_loop" ] || skip "pam_loop not built"
t0=$(date +%s)
res=$(IN_NS_TIMEOUT=300 in_ns "$BIN/tests/pam_loop" --ruid 1999 su alice 1000 CHG-1) || fail "pam_loop failed: $res"
assert_eq "$res" "ok=0 fail=1000" "every su alice attempt without a touch failed"
ok "1000 su alice attempts by another account failed ($(($(date +%s) - t0)) s)"

failed=$(audit_count step_up_failed)
required=$(audit_count step_up_required)
[ "$failed" -le 100 ] || fail "$failed step_up_failed records for 1000 attempts: not rate-limited"
[ "$required" -le 100 ] || fail "$required step_up_required records for 1000 attempts: not rate-limited"
ok "1000 attempts cost $failed step_up_failed and $required step_up_required records"
st=$(ctl --json status)
assert_contains "$st" '"failure_events_suppressed"' "status counts the withheld events"
echo "$st" | grep -q '"degraded": true' && fail "the audit trail degraded: $st"
ok "the audit trail is not degraded"

# once the bucket refills (one event per 4 s), the next record says how many it stands for
sleep 4
in_ns "$BIN/tests/pam_loop" --ruid 1999 su alice 1 CHG-1 >/dev/null
audit_has step_up_failed suppressed_before || audit_has step_up_required suppressed_before ||
	fail "no event says how many were withheld"
ok "the next record that goes out counts the withheld ones"

# alice, from her own uid (the key answers her), is not blocked by the parked or failed attempts
chmod o+x "$T"
res=$(in_ns "$BIN/tests/pam_loop" --ruid 60001 sudo alice 1 CHG-2) || fail "pam_loop failed: $res"
assert_eq "$res" "ok=1 fail=0" "alice's own sudo after the flood steps up"
