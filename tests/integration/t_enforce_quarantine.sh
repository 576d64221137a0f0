#!/bin/sh
# Quarantine of a tenant by an emergency document (issue 18, docs/enforcement.md
# "Quarantine"), with the evidence at the receivers: alpha (audit mode in the
# bundle) holds a live TCP flow to the internet and a listener a remote client
# is connected to. The quarantine cuts both flows before `emergency push`
# returns (the receiver sees the reset), new connects fail with EPERM although
# the bundle says audit, the management destination it allows is still
# reachable, its listener is unreachable (remote, host, other tenant). It
# holds across vigild kill -9 and a bundle push; its end (release, expiry) returns alpha
# to the bundle.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"
[ -f "$ROOT/agent/vigilctl_emergency.c" ] || skip "this tree has no emergency documents yet"

CGA=$(tenant_cgroup alpha)
CGB=$(tenant_cgroup beta)
CGG=$(tenant_cgroup gamma)
RATE=2 # gamma's connect_rate, never used before its quarantine: its bucket is full
BURST=60
make_topology
PA=$((20000 + $$ % 20000)) # alpha's listener

count tcp 8050 c8050 "$NSI" -
count tcp 9000 cmgmt "$NSI" -
count tcp "$PA" clisten "$NSH" "$CGA"
enforce_vigild

tenants() {
	cat <<EOF
[{"name": "alpha", "id": 1, "mode": "audit", "cgroups": ["$CGREL/alpha"],
  "egress": [{"id": 100, "cidr": "198.51.100.0/24", "proto": "tcp", "ports": ["8050"]},
             {"id": 101, "cidr": "10.0.0.53/32", "proto": "tcp", "ports": ["9000"]}]},
 {"name": "beta", "id": 2, "mode": "enforce", "cgroups": ["$CGREL/beta"],
  "egress": [{"id": 200, "cidr": "127.0.0.0/8", "proto": "any"}]},
 {"name": "gamma", "id": 3, "mode": "audit", "cgroups": ["$CGREL/gamma"],
  "connect_rate": {"per_second": $RATE, "burst": $BURST},
  "egress": [{"id": 300, "cidr": "198.51.100.0/24", "proto": "tcp", "ports": ["8050"]},
             {"id": 301, "cidr": "10.0.0.53/32", "proto": "tcp", "ports": ["9000"]}]}]
EOF
}
push_bundle 2 --set "tenants=$(tenants)"

# emdoc FILE COUNTER ACTIONS_JSON [EXPIRES_IN_S]: an emergency document for this host, signed with sec1
emdoc() {
	cat >"$1" <<EOD
{ "counter": $2,
  "issued_at": "$(date -u -d '-10 sec' +%Y-%m-%dT%H:%M:%SZ)",
  "expires_at": "$(date -u -d "+${4:-3600} sec" +%Y-%m-%dT%H:%M:%SZ)",
  "reason": "INC-4711 alpha compromised",
  "scope": { "hosts": ["testhost"] },
  "actions": $3 }
EOD
	"$VIGILCTL" emergency sign --key "$T/keys/sec1.key" "$1" >/dev/null || fail "emergency sign $1"
}
# holder NAME NETNS CGROUP|- FD "open tcp ADDR PORT": a prober that keeps one connection, fed through fd FD
holder() {
	mkfifo "$T/$1.in"
	(
		[ "$3" = - ] || echo 0 >"$3/cgroup.procs"
		exec nsenter --net="/run/netns/$2" "$PROBE" <"$T/$1.in" >"$T/$1.out" 2>&1
	) &
	_enf_pids="$_enf_pids $!"
	eval "exec $4>\"\$T/\$1.in\""
	echo "$5" >&"$4"
	i=0
	until grep -q connected "$T/$1.out"; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "holder $1 did not connect: $(cat "$T/$1.out")"
		sleep 0.05
	done
}
now_ms() { date +%s%3N; }
quarantined() { # WHAT: alpha's new connect is refused and nothing arrives
	b=$(field c8050 conns)
	out=$(run "$NSH" "$CGA" "tcpwait 198.51.100.10 8050")
	case "$out" in deny*) ;; *) fail "$1: alpha's connect was not refused: $out" ;; esac
	unchanged c8050 conns "$b" "$1: alpha's new connect gets EPERM"
}

echo "== before: alpha's flow and a remote client on alpha's listener are up"
holder flow "$NSH" "$CGA" 5 "open tcp 198.51.100.10 8050"
holder remote "$NSI" - 6 "open tcp 192.0.2.1 $PA"
arrives c8050 conns 0 "alpha's flow reached the internet receiver"
arrives clisten conns 0 "the remote client reached alpha's listener"
assert_eq "$(field c8050 resets)$(field c8050 closed)" "00" "no flow ended yet"

echo "== quarantine alpha: everything but the management plane"
emdoc "$T/q.json" 100 '[{"action": "quarantine", "tenant": "alpha", "id": "inc4711",
  "allow": [{"cidr": "10.0.0.53", "proto": "tcp", "ports": [9000]}]}]'
t0=$(now_ms)
out=$(ctl emergency push "$T/q.json" 2>&1) || fail "the quarantine was refused: $out"
t1=$(now_ms)
assert_contains "$out" "quarantined" "the quarantine is applied"
i=0
until [ "$(field c8050 resets)" != 0 ] || [ "$(field c8050 closed)" != 0 ]; do
	i=$((i + 1))
	[ $i -gt 20 ] && fail "alpha's live flow was not cut: $(cat "$T/c8050")"
	sleep 0.05
done
ended=$(field c8050 ended_ms)
ok "alpha's live flow cut: the receiver saw it end $((ended - t0)) ms after the push began (push took $((t1 - t0)) ms): $(cat "$T/c8050")"
[ $((ended - t1)) -le 100 ] || fail "the flow ended $((ended - t1)) ms after the push returned (more than 100 ms)"
i=0
until [ "$(field clisten resets)" != 0 ] || [ "$(field clisten closed)" != 0 ]; do
	i=$((i + 1))
	[ $i -gt 20 ] && fail "the remote client's connection to alpha's listener was not cut: $(cat "$T/clisten")"
	sleep 0.05
done
ok "the connection to alpha's listener was cut: $(cat "$T/clisten")"
echo send >&5
sleep 0.2
assert_not_contains "$(tail -n 1 "$T/flow.out")" "allow sent" "alpha's process gets an error on its cut socket ($(tail -n 1 "$T/flow.out"))"
quarantined "quarantine (bundle mode audit)"
b=$(field cmgmt conns)
run "$NSH" "$CGA" "tcpwait 10.0.0.53 9000" >/dev/null
arrives cmgmt conns "$b" "alpha still reaches the management plane it is allowed"
b=$(field clisten conns)
run "$NSI" - "tcpwait 192.0.2.1 $PA" >/dev/null
unchanged clisten conns "$b" "alpha's listener is unreachable from the network"
run "$NSH" "$CGB" "tcpwait 127.0.0.1 $PA" >/dev/null
unchanged clisten conns "$b" "alpha's listener is unreachable from tenant beta"
run "$NSH" - "tcpwait 127.0.0.1 $PA" >/dev/null
unchanged clisten conns "$b" "alpha's listener is unreachable from the host"
st=$(ctl --json status)
assert_contains "$st" '"id": "inc4711"' "status lists the quarantine"
assert_contains "$(ctl explain --tenant alpha --dst 198.51.100.10:8050/tcp)" deny_quarantine "explain agrees: quarantined"
assert_contains "$(ctl --json explain --tenant alpha --dst 10.0.0.53:9000/tcp)" '"allowed": true' "explain agrees: the management plane is allowed"
wait_audit egress.denied deny_quarantine

echo "== vigild kill -9: still quarantined (the pins keep it)"
kill -9 "$VIGILD_PID"
wait "$VIGILD_PID" 2>/dev/null || true
VIGILD_PID=""
rm -f "$T/run/vigil.sock"
quarantined "vigild down"
start_vigild
quarantined "vigild restarted"

echo "== a bundle push does not undo it"
push_bundle 3 --set "tenants=$(tenants)"
quarantined "after bundle version 3"

echo "== an explicit release ends it: back to the bundle"
emdoc "$T/rel.json" 150 '[{"action": "release", "tenant": "alpha"}]'
ctl emergency push "$T/rel.json" >/dev/null || fail "the release was refused"
assert_not_contains "$(ctl --json status)" '"id": "inc4711"' "after the release status lists no quarantine"
b=$(field c8050 conns)
run "$NSH" "$CGA" "tcpwait 198.51.100.10 8050" >/dev/null
arrives c8050 conns "$b" "released by document: alpha reaches what its bundle allows"

echo "== the quarantine ends (a replacing one expires): back to the bundle"
emdoc "$T/q3.json" 200 '[{"action": "quarantine", "tenant": "alpha", "id": "inc4711",
  "allow": [{"cidr": "10.0.0.53", "proto": "tcp", "ports": [9000]}]}]' 3
ctl emergency push "$T/q3.json" >/dev/null || fail "the replacing quarantine was refused"
quarantined "replaced by a quarantine that expires in 3 s"
i=0
while ctl --json status | grep -q '"id": "inc4711"'; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "the quarantine did not end at its expiry"
	sleep 0.1
done
b=$(field c8050 conns)
run "$NSH" "$CGA" "tcpwait 198.51.100.10 8050" >/dev/null
arrives c8050 conns "$b" "released: alpha reaches what its bundle allows"
b=$(field clisten conns)
run "$NSI" - "tcpwait 192.0.2.1 $PA" >/dev/null
arrives clisten conns "$b" "released: alpha's listener is reachable again"
assert_not_contains "$(ctl --json status)" '"id": "inc4711"' "status lists no quarantine"

echo "== without bpf_sock_destroy (kernels before 6.5): a quarantined flow's packets are dropped"
ctl unload >/dev/null
stop_vigild
export VIGIL_TEST_NO_SOCK_DESTROY=1
start_vigild
unset VIGIL_TEST_NO_SOCK_DESTROY
i=0
until ctl --json status 2>/dev/null | grep -q '"state": "enforcing"'; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "enforcement did not start again"
	sleep 0.1
done
assert_contains "$(ctl --json status)" '"VIGIL_TEST_NO_SOCK_DESTROY is set (test build)"' "status says flows cannot be cut"
push_bundle 4 --set "tenants=$(tenants)"
holder flow2 "$NSH" "$CGA" 7 "open tcp 198.51.100.10 8050"
b=$(field c8050 msgs)
echo send >&7
arrives c8050 msgs "$b" "control: alpha's new flow delivers"
r=$(field c8050 resets)
emdoc "$T/q2.json" 300 '[{"action": "quarantine", "tenant": "alpha", "id": "inc4712"}]'
ctl emergency push "$T/q2.json" >/dev/null || fail "the second quarantine was refused"
b=$(field c8050 msgs)
echo send >&7
unchanged c8050 msgs "$b" "alpha's established flow delivers nothing more"
assert_eq "$(field c8050 resets)" "$r" "no reset without bpf_sock_destroy (the flow stalls)"
quarantined "without bpf_sock_destroy"

echo "== quarantine wins over connect_rate: gamma (audit in its bundle, $RATE/s burst $BURST)"
emdoc "$T/qg.json" 400 '[{"action": "quarantine", "tenant": "gamma", "id": "inc4713",
  "allow": [{"cidr": "10.0.0.53", "proto": "tcp", "ports": [9000]}]}]'
ctl emergency push "$T/qg.json" >/dev/null || fail "gamma's quarantine was refused"
# flood DST PORT MS: gamma opens TCP connections as fast as it can, the flooder's answer line
flood() { echo "flood tcp $1 $2 $3" | probe "$NSH" "$CGG" | tail -n 1; }
b=$(field c8050 conns)
b2=$(field cmgmt conns)
r1=$(flood 198.51.100.10 8050 1000)
r2=$(flood 10.0.0.53 9000 1000)
unchanged c8050 conns "$b" "gamma's flood of a destination its bundle allows and the quarantine does not"
assert_eq "$(word "$r1" allowed)" 0 "the quarantine refused every connect of the flood ($r1)"
d1=$(word "$r1" denied)
[ "$d1" -gt "$BURST" ] || fail "gamma's flood tried only $d1 connects: too few to tell whether they took tokens ($r1)"
# Had the $d1 refusals taken tokens, the bucket would have been empty at the first flood's end
# and could have given at most what refilled since; it gives its full burst.
a2=$(word "$r2" allowed)
refill=$((RATE * ($(word "$r2" end_ns) - $(word "$r1" end_ns)) / 1000000000 + 2))
[ "$refill" -lt "$BURST" ] || fail "the floods were $refill tokens apart: cannot tell a full bucket from a refilled one"
[ "$a2" -ge "$BURST" ] || fail "gamma got $a2 connections to what its quarantine allows, fewer than its burst $BURST: the quarantine's refusals took tokens"
hi=$((BURST + RATE * $(word "$r2" ms) / 1000 + 2))
[ "$a2" -le "$hi" ] || fail "gamma got $a2 connections in $(word "$r2" ms) ms to what its quarantine allows (limit $hi): not rate limited"
[ "$(word "$r2" denied)" -gt 0 ] || fail "gamma's flood of its allowed destination was never refused ($r2)"
i=0
while [ "$(field cmgmt conns)" != $((b2 + a2)) ]; do
	i=$((i + 1))
	[ $i -gt 60 ] && fail "the management receiver counted $(field cmgmt conns) connections, gamma made $a2 (before $b2)"
	sleep 0.05
done
ok "gamma: the quarantine's $d1 refusals took no token: then $a2 connections reached what it allows (burst $BURST, limit $hi), $(word "$r2" denied) refused by the rate"
st=$(ctl --json status | python3 -c '
import json, sys
t = json.load(sys.stdin)["modules"]["enforce"]["tenants"]["gamma"]
print("rate_limited %d rate_would_limit %d denied %d" % (t["rate_limited"], t["rate_would_limit"], t["denied"]))')
assert_eq "$st" "rate_limited $(word "$r2" denied) rate_would_limit 0 denied $((d1 + $(word "$r2" denied)))" \
	"gamma's counters: rate_limited only the rate's refusals, enforced (not audited), denied both"
wait_audit egress.denied '"reason": "deny_connect_rate"'
ev=$(audit_events egress.denied | grep '"tenant": "gamma"')
assert_contains "$(echo "$ev" | grep '"port": 8050' | head -n 1)" '"reason": "deny_quarantine"' "the quarantine's refusals are deny_quarantine"
assert_not_contains "$(echo "$ev" | grep '"port": 8050')" deny_connect_rate "no refusal of the quarantined destination is a rate one"
assert_contains "$(echo "$ev" | grep deny_connect_rate | head -n 1)" '"mode": "enforce"' "the rate's refusals are enforced"

