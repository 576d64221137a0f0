#!/bin/sh
# The audit log written by a real vigild, copied and tampered with offline:
# vigilctl audit verify names the first bad seq and why; an untouched copy verifies.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/audit_common.sh"
need_root
write_config "audit_checkpoint_every = 50"
start_vigild
ctl audit note --repeat 300 "tamper test" >/dev/null
stop_vigild
L="$T/state/audit"
PUB="$T/state/host.pub"
tool() { python3 "$ROOT/tests/integration/audit_tool.py" "$@"; }

out=$("$VIGILCTL" audit verify --dir "$L")
assert_contains "$out" "intact" "the log in place verifies (key and head found beside it)"
assert_not_contains "$out" "warning" "signatures and head were checked"

# verify a copy offline, as an auditor would: key and head given explicitly
check() { # check NAME TOOLCMD SEQ EXPECT
	rm -rf "$T/copy"
	cp -a "$L" "$T/copy"
	tool "$2" "$T/copy" "$3"
	rc=0
	out=$("$VIGILCTL" audit verify --dir "$T/copy" --pubkey "$PUB" --head "$L/head.json") || rc=$?
	assert_eq "$rc" 4 "$1: exit code 4"
	assert_contains "$out" "$4" "$1"
	verifiers_agree "$1" --dir "$T/copy" --pubkey "$PUB" --head "$L/head.json"
}
verifiers_agree "untouched log" --dir "$L"
check "flipped byte" flip 120 "FAILED at seq 120: modified"
check "deleted record" delete 130 "FAILED at seq 130: missing"
check "swapped records" swap 140 "FAILED at seq 140: reordered"
check "tail cut on a record boundary" cut 200 "FAILED at seq 200: truncated"
check "tail cut inside a record" cutmid 250 "FAILED at seq 250: truncated"
check "forged checkpoint" forge 51 "FAILED at seq 51: bad_checkpoint"
check "inserted bytes" insert 160 "FAILED at seq 160: modified"
check "length field of a record (looks like a torn tail)" badlen 170 "FAILED at seq 170: truncated"

# a replaced log.id: the checkpoints name another log
rm -rf "$T/copy"; cp -a "$L" "$T/copy"
echo 0123456789abcdef >"$T/copy/log.id"
rc=0; out=$("$VIGILCTL" audit verify --dir "$T/copy" --pubkey "$PUB") || rc=$?
assert_eq "$rc" 4 "replaced log.id: exit 4"
assert_contains "$out" "bad_checkpoint" "replaced log.id detected"
verifiers_agree "replaced log.id" --dir "$T/copy" --pubkey "$PUB"
# --from a seq that is not there
rc=0; out=$("$VIGILCTL" audit verify --dir "$L" --from 100000) || rc=$?
assert_eq "$rc" 4 "--from beyond the log: an error"

rm -rf "$T/copy"
cp -a "$L" "$T/copy"
out=$("$VIGILCTL" audit verify --dir "$T/copy" --pubkey "$PUB" --head "$L/head.json")
assert_contains "$out" "intact" "an untouched copy verifies offline"
out=$("$VIGILCTL" --json audit verify --dir "$T/copy" --pubkey "$PUB")
assert_contains "$out" '"ok": true' "json output"

# another host's key: every checkpoint looks forged
python3 -c 'from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey as K
from cryptography.hazmat.primitives import serialization as s
print(K.generate().public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode())' >"$T/other.pub"
rc=0
out=$("$VIGILCTL" audit verify --dir "$T/copy" --pubkey "$T/other.pub" --no-head) || rc=$?
assert_eq "$rc" 4 "wrong host key: exit 4"
assert_contains "$out" "bad_checkpoint" "wrong host key detected"

# export a range as a sealed sub-log that verifies on its own
n=$("$VIGILCTL" --json audit tail --dir "$L" -n 1000 --type admin.note | wc -l)
assert_eq "$n" 300 "audit tail --type admin.note finds the 300 notes"
n=$("$VIGILCTL" audit tail --dir "$L" -n 5 | wc -l)
assert_eq "$n" 5 "audit tail -n 5"
out=$("$VIGILCTL" audit export --dir "$L" "$T/export")
assert_contains "$out" "sealed by a checkpoint" "export is sealed"
first=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["first_seq"])' "$T/export/manifest.json")
out=$("$VIGILCTL" audit verify --dir "$T/export" --from "$first" --pubkey "$PUB" --no-head)
assert_contains "$out" "intact" "the export verifies offline"

out=$("$VIGILCTL" audit pubkey "$T/state")
assert_eq "$out" "$(cat "$PUB")" "audit pubkey prints host.pub"
assert_eq "$(stat -c %a "$T/state/host.key")" 600 "host key is 0600"
