#!/bin/sh
# Egress by name, the kernel side (issue 19, docs/dns.md "Kernel"): an address a tenant
# learned through its DNS forwarder (here learned by the test build's enforce.test_learn,
# the call the forwarder makes) opens the rule's protocol and ports to that tenant only,
# until it expires. Evidence at receivers in the "internet" namespace:
#  - before learning: denied; learned: the rule's port arrives, another port does not,
#    another tenant does not (not even with the same name rule), IPv6 and UDP sendto too;
#  - expiry: new connects denied, an established flow keeps delivering; a policy change
#    judges it again (then it stops);
#  - kill -9 vigild: the learned address is enforced until it expires; the restarted
#    vigild counts it;
#  - a flood of learned addresses stays within dns_learned_per_tenant, evictions counted,
#    the other tenant's address untouched, the newest address works and the oldest not.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"

CGA=$(tenant_cgroup alpha)
CGB=$(tenant_cgroup beta)
make_topology
ip -n "$NSI" addr add 10.77.19.136/32 dev lo # the last address of the flood below

count tcp 8443 c8443 "$NSI" -
count tcp 8080 c8080 "$NSI" -
count udp 5300 u5300 "$NSI" -
count udp 5301 u5301 "$NSI" -
enforce_vigild "dns_learned_per_tenant = 1000"

tenants() {
	cat <<EOF
[{"name": "alpha", "id": 1, "mode": "enforce", "cgroups": ["$CGREL/alpha"],
  "egress": [{"id": 300, "fqdn": "api.example.test", "proto": "tcp", "ports": ["8443"]},
             {"id": 301, "pattern": "*.dns.example.test", "proto": "udp", "ports": ["5300"]}]},
 {"name": "beta", "id": 2, "mode": "enforce", "cgroups": ["$CGREL/beta"],
  "egress": [{"id": 400, "fqdn": "api.example.test", "proto": "tcp", "ports": ["8443"]}]}]
EOF
}
push_bundle 2 --set "tenants=$(tenants)" --set 'dns={"resolvers": ["10.0.0.53"]}'

# learn TENANT RULE ADDR TTL_MS [COUNT]: what the forwarder does before it returns an answer
learn() {
	out=$(python3 "$ROOT/tests/integration/relay_ctl.py" "$T/run/vigil.sock" \
		"{\"cmd\": \"enforce.test_learn\", \"tenant\": \"$1\", \"rule\": $2, \"addr\": \"$3\", \"ttl_ms\": $4, \"count\": ${5:-1}}")
	case "$out" in *'"ok":true'*|*'"ok": true'*) ;; *) fail "learn $*: $out" ;; esac
}
# connects NAME CGROUP ADDR PORT WHAT: a handshake from the tenant arrives at receiver NAME
connects() {
	b=$(field "$1" conns)
	out=$(run "$NSH" "$2" "tcpwait $3 $4")
	case "$out" in allow*) ;; *) fail "$5: the kernel refused: $out" ;; esac
	arrives "$1" conns "$b" "$5"
}
# refused NAME CGROUP ADDR PORT WHAT: EPERM, and nothing arrives at receiver NAME
refused() {
	b=$(field "$1" conns)
	out=$(run "$NSH" "$2" "tcpwait $3 $4")
	case "$out" in deny*) ;; *) fail "$5: not refused: $out" ;; esac
	unchanged "$1" conns "$b" "$5"
}
explain_verdict() { ctl --json explain --tenant "$1" --dst "$2" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["verdict"], r.get("rule_id", 0))'; }
learned_status() { ctl --json status | python3 -c '
import json, sys
t = json.load(sys.stdin)["modules"]["enforce"]["tenants"][sys.argv[1]]["learned"]
print(t["addresses"], t["evictions"])' "$1"; }
now_ms() { date +%s%3N; }

echo "== before any lookup: the name rule alone opens nothing"
refused c8443 "$CGA" 203.0.113.10 8443 "alpha before learning"

echo "== alpha learns 203.0.113.10 and 2001:db8::10 for api.example.test (tcp 8443)"
learn alpha 300 203.0.113.10 60000
learn alpha 300 2001:db8::10 60000
connects c8443 "$CGA" 203.0.113.10 8443 "alpha to its learned address, the rule's port"
connects c8443 "$CGA" 2001:db8::10 8443 "alpha to its learned IPv6 address"
connects c8443 "$CGA" ::ffff:203.0.113.10 8443 "alpha to its learned address, IPv4-mapped"
refused c8080 "$CGA" 203.0.113.10 8080 "alpha to its learned address, another port"
refused c8443 "$CGB" 203.0.113.10 8443 "beta to the address alpha learned (beta has the same name rule)"
assert_eq "$(explain_verdict alpha 203.0.113.10:8443)" "allow_learned_name 300" "explain: learned by rule 300"
assert_eq "$(explain_verdict alpha 203.0.113.10:8080)" "deny_no_rule 0" "explain: not on another port"
assert_eq "$(explain_verdict beta 203.0.113.10:8443)" "deny_no_rule 0" "explain: not for beta"

echo "== UDP (sendmsg): a pattern rule's learned address, its port only"
learn alpha 301 198.51.100.10 60000
b=$(field u5300 msgs)
assert_contains "$(run "$NSH" "$CGA" "udpsend 198.51.100.10 5300")" allow "alpha's sendto to the learned address"
arrives u5300 msgs "$b" "alpha's datagram to the learned address"
b=$(field u5301 msgs)
assert_contains "$(run "$NSH" "$CGA" "udpsend 198.51.100.10 5301")" deny "alpha's sendto to another port"
unchanged u5301 msgs "$b" "alpha's datagram to another port"
b=$(field u5300 msgs)
assert_contains "$(run "$NSH" "$CGA" "udpsend 203.0.113.10 5300")" deny "alpha's sendto to an address learned for another rule"
unchanged u5300 msgs "$b" "alpha's datagram to an address learned for another rule"

echo "== a learned address is not another rule's: learned by beta for its rule, still denied to alpha"
learn beta 400 10.0.0.53 60000
refused c8443 "$CGA" 10.0.0.53 8443 "alpha to the address beta learned"
connects c8443 "$CGB" 10.0.0.53 8443 "beta to its own learned address"

echo "== expiry: new connects denied, the established flow keeps delivering"
mkfifo "$T/flow.in"
(
	echo 0 >"$CGA/cgroup.procs"
	exec nsenter --net="/run/netns/$NSH" "$PROBE" <"$T/flow.in" >"$T/flow.out" 2>&1
) &
_enf_pids="$_enf_pids $!"
exec 5>"$T/flow.in"
ip -n "$NSI" addr add 203.0.113.20/32 dev lo
learn alpha 300 203.0.113.20 2500
t0=$(now_ms)
echo "open tcp 203.0.113.20 8443" >&5
i=0
until grep -q connected "$T/flow.out"; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "the flow did not connect: $(cat "$T/flow.out")"
	sleep 0.05
done
sleep $(( (2500 - ($(now_ms) - t0)) / 1000 + 1 ))
refused c8443 "$CGA" 203.0.113.20 8443 "alpha's new connect after the address expired"
b=$(field c8443 bytes)
echo send >&5
arrives c8443 bytes "$b" "the flow opened while the address was learned still delivers after expiry"
echo "== a policy change judges the established flow again: now it is cut"
push_bundle 3 --set "tenants=$(tenants)" --set 'dns={"resolvers": ["10.0.0.53"]}'
b=$(field c8443 bytes)
echo send >&5
unchanged c8443 bytes "$b" "the expired address's flow after a new policy"
exec 5>&-

echo "== kill -9 vigild: learned addresses are enforced until they expire"
ip -n "$NSI" addr add 203.0.113.30/32 dev lo
learn alpha 300 203.0.113.30 3000
t0=$(now_ms)
kill -9 "$VIGILD_PID"
wait "$VIGILD_PID" 2>/dev/null || true
VIGILD_PID=""
rm -f "$T/run/vigil.sock"
connects c8443 "$CGA" 203.0.113.30 8443 "alpha to its learned address with vigild dead"
sleep $(( (3000 - ($(now_ms) - t0)) / 1000 + 1 ))
refused c8443 "$CGA" 203.0.113.30 8443 "alpha to the expired address with vigild dead"
connects c8443 "$CGA" 203.0.113.10 8443 "alpha to an address still learned, vigild dead"
start_vigild
i=0
until ctl --json status 2>/dev/null | grep -q '"state": "enforcing"'; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "enforcement did not come back"
	sleep 0.1
done
# 203.0.113.10, 2001:db8::10, 198.51.100.10 (alpha), 10.0.0.53 (beta) are live; the expired ones are swept
i=0
until [ "$(learned_status alpha)" = "3 0" ]; do
	i=$((i + 1))
	[ $i -gt 50 ] && fail "the restarted vigild does not count alpha's learned addresses: $(learned_status alpha)"
	sleep 0.1
done
ok "the restarted vigild took over alpha's 3 live learned addresses"
connects c8443 "$CGA" 203.0.113.10 8443 "alpha to its learned address after the restart"

echo "== a flood of learned addresses stays within the bound; evictions are counted"
learn alpha 300 10.77.0.1 60000 5000
assert_eq "$(learned_status alpha)" "1000 4003" "alpha holds 1000 (dns_learned_per_tenant), 4003 live ones pushed out"
assert_eq "$(learned_status beta)" "1 0" "beta's learned address untouched by alpha's flood"
n=$(bpftool -j map dump pinned "$BPFFS/map_learned" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
assert_eq "$n" 1001 "the kernel map holds 1001 entries"
connects c8443 "$CGA" 10.77.19.136 8443 "alpha to the newest flooded address"
refused c8443 "$CGA" 203.0.113.10 8443 "alpha to an address the flood pushed out"
connects c8443 "$CGB" 10.0.0.53 8443 "beta to its learned address after alpha's flood"
echo "PASS"
