#!/bin/sh
# vigild drives the local security key (elevation.key_probe, elevation.key_assert; docs/pam.md,
# docs/control-socket.md), attacked over the control socket as a local user or a PAM process
# would, against a real vigild and the software key (softfido, test builds). Counted at the key:
# its signature counter and the time log vigild's key thread writes (SOFTFIDO_TIME_LOG, one line
# per opened device) say whether the key was used at all.
# (a) callers that are not root (nobody, alice herself, an admin-group member) are refused
#     permission_denied and the key is never opened;
# (b) a live challenge named with another user, service, tty, or by another requester (a root
#     PAM process of another real uid, as outsider's setuid su is): challenge_mismatch, unsigned;
#     another account's own `su alice` challenge: the probe answers "not_yours" and key_assert is
#     refused (key_not_yours), so alice's touch can never sign it; what the key signs comes from
#     the challenge only (fields the caller adds change nothing);
# (c) a used or unknown challenge id: challenge_unknown, unsigned;
# (d) at most 3 key_assert per challenge;
# (e) a caller that hangs up while the key waits for a touch cancels the wait;
# (f) the pamtester step-up end to end, the module loading neither libfido2 nor libcrypto, and
#     its audit trail.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pam_common.sh"
command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
if nm -D "$PAM_SO" 2>/dev/null | grep -q fido_dev_open; then
	skip "pam_vigil.so drives the key itself (a build from before vigild drove it)"
fi

softfido_enroll
# the key's time log is vigild's: pamtester and the clients below run without it. Members of
# group adm (gid 4) are vigild administrators here.
export SOFTFIDO_TIME_LOG="$T/keytime"
pam_start_env "admin_group = adm"
unset SOFTFIDO_TIME_LOG
pam_bundle 1
chmod o+x "$T" "$T/run"

# kc.py SOCKET REQUEST [--save FILE] [--merge FILE] [--hangup S]: one request in the socket's
# framing (4-byte big-endian length + JSON); prints "CODE REPLY" (CODE: ok or the error code).
# --merge adds a saved key_assert reply's assertion to the request; --hangup closes the
# connection S seconds after sending, unread, and prints "hung_up".
cat >"$T/kc.py" <<'PY'
import json, socket, struct, sys, time
sock, req, opts = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
opt = dict(zip(opts[::2], opts[1::2]))
if "--merge" in opt:
    got = json.load(open(opt["--merge"]))
    for k in ("credential_id", "auth_data", "signature"):
        req[k] = got[k]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(60)
s.connect(sock)
body = json.dumps(req).encode()
s.sendall(struct.pack(">I", len(body)) + body)
if "--hangup" in opt:
    time.sleep(float(opt["--hangup"]))
    s.close()
    print("hung_up")
    sys.exit(0)
buf = b""
while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
    chunk = s.recv(65536)
    if not chunk:
        print("closed -")
        sys.exit(0)
    buf += chunk
reply = json.loads(buf[4:4 + struct.unpack(">I", buf[:4])[0]])
if "--save" in opt:
    json.dump(reply, open(opt["--save"], "w"))
print("%s %s" % ("ok" if reply.get("ok") is True else reply.get("error", {}).get("code", "?"), json.dumps(reply)))
PY
chmod 644 "$T/kc.py"
SOCK="$T/run/vigil.sock"
TTY="pts/77"
# kc WHO REQUEST [kc.py options]: REPLY (whole line) and CODE; WHO is root, nobody, alice, admin
# (nobody in admin_group) or outsider_su (euid 0, real uid 1999: outsider's setuid su)
kc() {
	who=$1
	shift
	case $who in
	root) set -- /usr/bin/python3 "$T/kc.py" "$SOCK" "$@" ;;
	nobody) set -- setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 "$T/kc.py" "$SOCK" "$@" ;;
	alice) set -- setpriv --reuid=60001 --regid=60001 --clear-groups /usr/bin/python3 "$T/kc.py" "$SOCK" "$@" ;;
	admin) set -- setpriv --reuid=65534 --regid=65534 --groups=4 /usr/bin/python3 "$T/kc.py" "$SOCK" "$@" ;;
	outsider_su) set -- setpriv --ruid=1999 /usr/bin/python3 "$T/kc.py" "$SOCK" "$@" ;;
	esac
	REPLY=$("$@") || fail "control client ($who) failed: $REPLY"
	CODE=${REPLY%% *}
}
# key_used: the key's signature counter and how many times vigild closed it (softfido logs at
# close; a probe's key stays open for its caller's assertion, so windows below start after an
# assertion, which closes what it used before it answers)
key_used() { echo "counter $("$BIN/tests/softfido-ctl" get "$SOFTFIDO" counter), opened $(cat "$T/keytime" 2>/dev/null | wc -l)"; }
# challenge [WHO SERVICE TTY]: a live challenge for alice issued to WHO (root: as pam_vigil.so
# in a root-started login asks), id in $CH
challenge() {
	kc "${1:-root}" "{\"cmd\": \"elevation.challenge\", \"user\": \"alice\", \"service\": \"${2:-sudo}\", \"tty\": \"${3:-$TTY}\", \"reason\": \"CHG-1 keyops\"}" \
		--save "$T/ch.json"
	[ "$CODE" = ok ] || fail "elevation.challenge refused: $REPLY"
	CH=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["challenge_id"])' "$T/ch.json")
}
# key_assert WHO ID USER SERVICE TTY [EXTRA JSON MEMBERS] [kc.py options]
key_assert() {
	w=$1 id=$2 u=$3 s=$4 t=$5 extra=${6:-}
	shift 5
	if [ $# -gt 0 ]; then shift; fi
	kc "$w" "{\"cmd\": \"elevation.key_assert\", \"challenge_id\": \"$id\", \"user\": \"$u\", \"service\": \"$s\", \"tty\": \"$t\", \"softfido\": \"$SOFTFIDO\"$extra}" "$@"
}

PROBE="{\"cmd\": \"elevation.key_probe\", \"user\": \"alice\", \"softfido\": \"$SOFTFIDO\"}"

# the instruments: a signature moves the counter and adds a line to the key's time log
kc root "$PROBE"
assert_contains "$REPLY" '"key": "present"' "root's key_probe finds the software key through vigild"
before=$(key_used)
challenge
key_assert root "$CH" alice sudo "$TTY"
assert_eq "$CODE" ok "root's key_assert signs a live challenge"
after=$(key_used)
[ "${after%%,*}" != "${before%%,*}" ] && [ "${after#*, }" != "${before#*, }" ] ||
	fail "the key's counter and time log did not both move ($before -> $after): the checks below would prove nothing"

# (a) not root: refused by the command table, the key never opened
kc admin '{"cmd": "grants.list"}'
assert_eq "$CODE" ok "the admin-group member is a vigild administrator"
challenge
before=$(key_used)
for who in nobody alice admin; do
	kc "$who" "$PROBE"
	assert_eq "$CODE" permission_denied "$who's key_probe"
	key_assert "$who" "$CH" alice sudo "$TTY"
	assert_eq "$CODE" permission_denied "$who's key_assert on alice's live challenge"
done
assert_eq "$(key_used)" "$before" "callers that are not root: the key was never opened"

# (b) the live challenge named for someone else, or by another requester: not signed
key_assert root "$CH" mallory sudo "$TTY"
assert_eq "$CODE" challenge_mismatch "key_assert naming another user"
key_assert root "$CH" alice su "$TTY"
assert_eq "$CODE" challenge_mismatch "key_assert naming another service"
key_assert root "$CH" alice sudo pts/78
assert_eq "$CODE" challenge_mismatch "key_assert naming another tty"
key_assert outsider_su "$CH" alice sudo "$TTY"
assert_eq "$CODE" challenge_mismatch "key_assert by a root PAM process of another real uid (outsider's su)"
assert_eq "$(key_used)" "$before" "mismatched key_assert: the key was never opened"

# (b) outsider's own `su alice` (a challenge issued to real uid 1999): the key here is alice's and
# answers only her own requests and root-started logins; outsider's prompt goes to the relay
ours=$CH
challenge outsider_su su pts/9
kc outsider_su "$PROBE"
assert_contains "$REPLY" '"key": "not_yours"' "outsider's su alice is told the key here is not for it"
key_assert outsider_su "$CH" alice su pts/9
assert_eq "$CODE" key_not_yours "key_assert on outsider's own su alice challenge"
assert_eq "$(key_used)" "$before" "outsider's su alice: the key was never opened"
CH=$ours

# (b, d) the right caller: the key signs what the challenge holds, whatever the request adds (an
# attacker's hash, rp id, credential list, uv); three times, not a fourth
EVIL=', "client_data_hash": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "rp_id": "evil.example", "credentials": ["AAAA"], "uv": false'
key_assert root "$CH" alice sudo "$TTY" "$EVIL" --save "$T/sig.evil"
signed=0
if [ "$CODE" = ok ]; then
	signed=1
	ok "key_assert with caller-chosen signing fields answered (what it signed is checked below)"
else
	ok "key_assert with caller-chosen signing fields refused: $CODE"
fi
while [ $signed -lt 3 ]; do
	key_assert root "$CH" alice sudo "$TTY" "" --save "$T/sig.$signed"
	assert_eq "$CODE" ok "key_assert $((signed + 1)) of 3 on one challenge"
	signed=$((signed + 1))
done
before=$(key_used)
key_assert root "$CH" alice sudo "$TTY"
[ "$CODE" != ok ] || fail "a 4th key_assert on one challenge was signed: $REPLY"
ok "a 4th key_assert on one challenge refused: $CODE"
assert_eq "$(key_used)" "$before" "the 4th key_assert: the key was never opened"

# vigild accepts what its key signed for the challenge: the assertion the attacker's fields came
# with, when one was given, must be over the challenge's own client data hash
sig="$T/sig.2"
[ ! -f "$T/sig.evil" ] || ! grep -q '"ok": true' "$T/sig.evil" || sig="$T/sig.evil"
kc root "{\"cmd\": \"elevation.assert\", \"challenge_id\": \"$CH\", \"user\": \"alice\", \"service\": \"sudo\", \"tty\": \"$TTY\"}" \
	--merge "$sig"
assert_eq "$CODE" ok "elevation.assert takes the assertion vigild's key made ($(basename "$sig"))"

# (c) used and unknown challenges: nothing to sign
before=$(key_used)
key_assert root "$CH" alice sudo "$TTY"
assert_eq "$CODE" challenge_unknown "key_assert on a used challenge"
key_assert root "0123456789abcdef0123456789abcdef" alice sudo "$TTY"
assert_eq "$CODE" challenge_unknown "key_assert on an unknown challenge"
kc root "{\"cmd\": \"elevation.key_assert\", \"user\": \"alice\", \"service\": \"sudo\", \"tty\": \"$TTY\", \"softfido\": \"$SOFTFIDO\"}"
[ "$CODE" != ok ] || fail "key_assert without a challenge id was signed: $REPLY"
assert_eq "$(key_used)" "$before" "used, unknown and missing challenges: the key was never opened"

# (e) a caller that hangs up while the key waits for a touch: the wait ends (fido_dev_cancel), the
# next caller is served at once instead of after the key's own 20 s
challenge
sf touch no
sf notouch_ms 20000
key_assert root "$CH" alice sudo "$TTY" "" --hangup 0.5
t0=$(date +%s%N)
kc root "$PROBE"
ms=$((($(date +%s%N) - t0) / 1000000))
assert_contains "$REPLY" '"key": "present"' "key_probe after the hang-up"
[ "$ms" -lt 5000 ] || fail "key_probe waited $ms ms behind a touch wait whose caller hung up"
ok "the hang-up cancelled the touch wait: the next probe answered in $ms ms"
sf touch yes
sf notouch_ms 1000

# (f) the whole step-up through PAM: the key driven by vigild, the module without libfido2
if ldd "$PAM_SO" | grep -E 'libfido2|libcrypto'; then
	fail "pam_vigil.so links libfido2 or libcrypto (vigild drives the key; libcrypto is loaded for break-glass only)"
fi
ok "pam_vigil.so links neither libfido2 nor libcrypto"
pam_service sudo <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@
auth     required  pam_deny.so
account  required  @VIGIL@
EOS
opened=$(cat "$T/keytime" | wc -l)
pamt "CHG-42 keyops\n" sudo alice authenticate acct_mgmt setcred
[ "$RC" = 0 ] || fail "step-up through pamtester failed: $OUT"
assert_contains "$OUT" "Touch your security key" "the user is told to touch the key"
assert_contains "$OUT" "elevation granted until" "the user is told the grant's end"
[ "$(cat "$T/keytime" | wc -l)" -gt "$opened" ] || fail "the step-up did not open the key in vigild"
ok "vigild opened the key for the step-up"
assert_contains "$(ctl --json grants)" '"reason": "CHG-42 keyops"' "the grant is listed"
audit_has step_up_required "CHG-42 keyops" || fail "step_up_required not audited"
audit_has step_up_satisfied security_key || fail "step_up_satisfied not audited"
audit_has elevation.granted alice || fail "elevation.granted not audited"
ok "step_up_required, step_up_satisfied (security_key), elevation.granted audited"
