#!/bin/sh
# Group commit across producers (docs/audit.md "Durability"): eight producers of single
# notes, each its own ctl connection, and PAM step-ups through a real stack (pamtester,
# authenticate + setcred), all at once. Answers wait for the fdatasync of the batch holding
# their records, so the producers share fdatasyncs (fewer commits than acknowledged notes).
# vigild is killed -9 in the middle: after the restart every acknowledged note and every
# granted step-up has its record, and every grant in grants.json has its elevation.granted.
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
status() { ctl --json audit status | python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"; }

stepups() { # step-ups with setcred until $T/stop; the granted ones (exit 0) go to granted
	i=0
	while [ ! -f "$T/stop" ]; do
		i=$((i + 1))
		# a new audit session each time: no grant is reused, every success mints one
		RC=0
		OUT=$(printf 'CHG-%d\n' $((700000 + i)) | in_ns sh -c 'echo 0 >/proc/self/loginuid && exec pamtester -v sudo alice authenticate setcred' 2>&1) ||
			RC=$?
		if [ "$RC" = 0 ] && [ -z "${OUT##*elevation granted until*}" ]; then echo "CHG-$((700000 + i))" >>"$T/granted"; else printf '%s\n' "$OUT" >"$T/stepup.err"; fi
	done
}
mkdir "$T/acked"
python3 "$ROOT/tests/integration/audit_producers.py" "$T/run/vigil.sock" 8 60 "$T/acked" >/dev/null 2>&1 &
pids=$!
stepups &
pids="$pids $!"
on_exit "touch $T/stop $T/acked/stop; kill $pids 2>/dev/null"

# steady state: the concurrent producers share fdatasyncs
sleep 1
c0=$(status 's["commits"]') a0=$(cat "$T"/acked/acked.* | wc -l)
sleep 3
c1=$(status 's["commits"]') a1=$(cat "$T"/acked/acked.* | wc -l)
[ $((a1 - a0)) -gt $((c1 - c0)) ] ||
	fail "no group commit: $((a1 - a0)) notes acknowledged with $((c1 - c0)) commits"
ok "$((a1 - a0)) single notes from 8 producers acknowledged with $((c1 - c0)) commits"
[ -s "$T/granted" ] || fail "no step-up was granted while the notes ran: $(cat "$T/stepup.err")"

kill -9 "$VIGILD_PID"
wait "$VIGILD_PID" 2>/dev/null || true
VIGILD_PID=""
touch "$T/stop" "$T/acked/stop"
for p in $pids; do wait "$p" 2>/dev/null || true; done
rm -f "$T/run/vigil.sock"
start_vigild
stop_vigild
out=$("$VIGILCTL" audit verify --dir "$T/state/audit")
assert_contains "$out" "intact" "the log verifies after kill -9 with 9 producers"

"$VIGILCTL" --json audit tail --dir "$T/state/audit" -n 1000000 >"$T/log.jsonl"
python3 - "$T" <<'PY' || fail "an acknowledged record is missing after kill -9"
import glob, json, sys
t = sys.argv[1]
notes, granted, grant_ids = set(), set(), set()
for line in open(t + "/log.jsonl"):
    e = json.loads(line)
    d = e["data"]
    if e["type"] == "dev.vigil.admin.note":
        notes.add(d["reason"])
    elif e["type"] == "dev.vigil.elevation.granted":
        granted.add(d["reason"])
        grant_ids.add(d["id"])
acked = set()
for f in glob.glob(t + "/acked/acked.*"):
    acked |= set(open(f).read().split())
stepups = set(open(t + "/granted").read().split())
lost = sorted(acked - notes) + sorted(stepups - granted)
held = json.load(open(t + "/state/grants.json"))["grants"]
unrecorded = [g["id"] for g in held if g["id"] not in grant_ids]
if lost: print("  lost:", lost[:5])
print("  acknowledged notes %d, granted step-ups %d, grants held %d; lost %d, grants without record %d"
      % (len(acked), len(stepups), len(held), len(lost), len(unrecorded)))
sys.exit(1 if lost or unrecorded else 0)
PY
ok "every acknowledged note and every granted step-up kept its record; no grant without one"
