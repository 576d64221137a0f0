#!/bin/sh
# A local user cannot switch step-up off or lock admins out by hogging the control socket:
# with `nobody` holding 1000 connections to vigild, PAM outcomes are the same as without
# (alice steps up and gets her grant, in failmode secure and safe; an outsider is still ignored),
# and an admin's `vigilctl status` answers within 1 s. Needs vigild's per-uid connection caps
# and the slots it keeps for root (docs/control-socket.md).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pam_common.sh"
command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"

softfido_enroll
pam_start_env
pam_bundle 1
# two services the bundle protects, one per fail mode
svc_secure=sudo svc_safe=su
for mode in secure safe; do
	eval svc=\$svc_$mode
	pam_service "$svc" <<EOS
auth     [success=done ignore=ignore default=die]  @VIGIL@ failmode=$mode
auth     required  pam_deny.so
account  required  @VIGIL@ failmode=$mode
EOS
done

outcomes() { # LABEL
	for mode in secure safe; do
		eval svc=\$svc_$mode
		ctl revoke alice >/dev/null 2>&1 || true
		pamt "CHG-1\n" "$svc" alice authenticate acct_mgmt setcred
		[ "$RC" = 0 ] || fail "$1, failmode=$mode: alice's step-up failed: $OUT"
		assert_contains "$OUT" "Touch your security key" "$1, failmode=$mode: alice touched her key"
		assert_contains "$OUT" "elevation granted until" "$1, failmode=$mode: grant minted"
		pamt "" "$svc" outsider authenticate
		[ "$RC" != 0 ] || fail "$1, failmode=$mode: an outsider got through: $OUT"
		assert_not_contains "$OUT" "skipped" "$1, failmode=$mode: the outsider is ignored, not skipped"
	done
}
outcomes "idle vigild"

chmod o+x "$T" "$T/run"
mkdir "$T/flood" && chown 65534 "$T/flood"
# the flooder keeps 1000 connections open, reconnecting each one vigild closes, until killed
setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 - "$T/run/vigil.sock" "$T/flood/n" <<'PY' &
import resource, select, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (1100, 1100))
held, reported = set(), False
while True:
    while len(held) < 1000:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(sys.argv[1])
        except OSError:
            s.close()
            break
        held.add(s)
    if not reported:
        open(sys.argv[2], "w").write("%d\n" % len(held))
        reported = True
    r, _, _ = select.select(list(held), [], [], 0.05)
    for s in r:
        held.discard(s)
        s.close()
PY
FLOOD=$!
on_exit "kill $FLOOD"
i=0
while [ ! -s "$T/flood/n" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$T/flood/n" ] || fail "the flooding client did not finish connecting"
ok "nobody holds $(cat "$T/flood/n") connections and reopens each one vigild closes"

outcomes "1000 connections held by nobody"
t0=$(date +%s%N)
ctl status >/dev/null || fail "admin vigilctl status failed under the flood"
ms=$((($(date +%s%N) - t0) / 1000000))
# A starved admin waits for vigild to drop the flood's connections (5 s request limit) or
# forever; an idle machine answers in well under 1 s (the promise). 3 s tells the two apart
# on a CI machine loaded by other work too (2.1 s seen at load 13).
[ "$ms" -lt 3000 ] || fail "admin vigilctl status took $ms ms under the flood (starved: waiting for the 5 s limit)"
ok "admin vigilctl status answered in $ms ms"
