#!/bin/sh
# The forwarder's cache of answers (docs/dns.md, "The cache"): a real dnsmasq in the "internet"
# namespace, vigild's forwarder in the tenants' one. What must hold: a repeat question is
# answered from the cache (dnsmasq's own query log shows one upstream question) and every
# address of it is learned for the asking tenant before the answer leaves (the first connect
# after it arrives); another tenant's hit on an answer fetched for the first learns for it and
# shares nothing (its direct connect before its own lookup is denied); the answer echoes the
# question as asked (case, id) with TTLs counted down; EDNS0 questions are another key; a
# truncated answer over UDP and the whole one over TCP; expiry at the TTL, then the resolver is
# asked again and a rotated answer learned while the old address expires; a flood of names does
# not grow the cache past its bound (evictions counted); negative answers are not kept; a policy
# apply empties it; dns_cache_entries = 0 turns it off.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"

command -v dnsmasq >/dev/null || skip "dnsmasq is not installed (packaging/deps/enforce.txt)"
DNSC="$ROOT/tests/integration/dns_client.py"
CGA=$(tenant_cgroup alpha)
CGB=$(tenant_cgroup beta)
make_topology
for a in 198.51.100.11 198.51.100.20 198.51.100.21; do ip -n "$NSI" addr add "$a/32" dev lo; done

# ---- dnsmasq: api and big with a TTL of 600 (host records), rot with 3 (a hosts file it rereads
# on SIGHUP), every name under svc.example.test answered 198.51.100.50 (TTL 3); example.test is
# its own (--local): a name it does not know is NXDOMAIN, a type it has no record of NODATA
echo "198.51.100.20 rot.example.test" >"$T/hosts"
big=""
n=100
while [ $n -lt 140 ]; do big="$big --host-record=big.example.test,198.51.100.$n,600"; n=$((n + 1)); done
# shellcheck disable=SC2086
dnsmasq_start --local-ttl=3 \
	--host-record=api.example.test,198.51.100.10,600 --host-record=api.example.test,198.51.100.11,600 $big \
	--address=/svc.example.test/198.51.100.50 --local=/example.test/
# questions for NAME (A, unless a type is given) that reached dnsmasq (its own log)
asked() { grep -c "query\[${2:-A}\] $1 " "$T/dnsmasq.log" || true; }

make_keys
write_config "enforce = true" "event_rate_limit = 1000" "dns_cache_entries = 50"
nsenter --net="/run/netns/$NSH" "$VIGILD" -c "$T/vigild.conf" --foreground >>"$T/vigild.log" 2>&1 &
VIGILD_PID=$!
i=0
until ctl --json status 2>/dev/null | grep -q '"state": "enforcing"'; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "enforcement did not start: $(tail -n 5 "$T/vigild.log")"
	sleep 0.1
done
tenants='[{"name": "alpha", "id": 1, "cgroups": ["'$CGREL'/alpha"],
  "egress": [{"id": 10, "fqdn": "api.example.test", "proto": "tcp", "ports": [443]},
             {"id": 11, "fqdn": "rot.example.test", "proto": "tcp", "ports": [443]},
             {"id": 12, "fqdn": "big.example.test", "proto": "tcp", "ports": [443]},
             {"id": 13, "pattern": "*.svc.example.test", "proto": "tcp", "ports": [443]},
             {"id": 14, "fqdn": "gone.example.test", "proto": "tcp", "ports": [443]}]},
 {"name": "beta", "id": 2, "cgroups": ["'$CGREL'/beta"],
  "egress": [{"id": 20, "fqdn": "api.example.test", "proto": "tcp", "ports": [443]}]}]'
dns='{"resolvers": ["10.0.0.53"], "ttl_min": 1, "ttl_max": 600, "grace": 1}'
push_bundle 2 --set "tenants=$tenants" --set 'shared_services=[]' --set "dns=$dns"

st() {
	ctl --json status | python3 -c '
import json, sys
v = json.load(sys.stdin)["modules"]["dns"]
for k in sys.argv[1].split("."):
    v = v[k]
print(v)' "$1"
}
FA=$(st tenants.alpha.listen)
FB=$(st tenants.beta.listen)
PA=${FA##*:}
PB=${FB##*:}
ask() { ip netns exec "$NSH" python3 "$DNSC" query "$@"; }
count tcp 443 r443 "$NSI" -
assert_eq "$(st cache.state) $(st cache.max_entries)" "on 50" "the cache is on, bounded by dns_cache_entries"

echo "== a repeat question: answered from the cache, one question upstream, learned before the answer"
out=$(ask 127.0.0.1 "$PA" api.example.test A)
assert_contains "$out" "198.51.100.10" "the first answer has .10"
assert_contains "$out" "198.51.100.11" "and .11"
h0=$(st tenants.alpha.cache_hits)
out=$(ask 127.0.0.1 "$PA" api.example.test A)
assert_contains "$out" "198.51.100.10,198.51.100.11" "the repeat question answered with both addresses"
assert_eq "$(asked api.example.test)" "1" "dnsmasq was asked once for two questions"
assert_eq "$(st tenants.alpha.cache_hits)" "$((h0 + 1))" "alpha's second question was a cache hit"
c0=$(field r443 conns)
expect "$NSH" "$CGA" <<'EOF'
tcpwait 198.51.100.10 443 => allow connected
tcpwait 198.51.100.11 443 => allow connected
tcp 198.51.100.20 443 => deny
EOF
arrives r443 conns "$c0" "alpha's connects after the hit arrived"
wait_audit dns.query '"cache": "miss"'
wait_audit dns.query '"cache": "hit"'

echo "== the question as asked: its case (0x20) and id; over TCP from the same entry"
out=$(ask 127.0.0.1 "$PA" ApI.eXaMpLe.TeSt A)
assert_contains "$out" "qname=ApI.eXaMpLe.TeSt " "the answer echoes the question's case"
assert_contains "$out" "198.51.100.10" "a hit whatever the case"
out=$(ask 127.0.0.1 "$PA" api.example.test A --tcp)
assert_contains "$out" "198.51.100.10,198.51.100.11" "over TCP"
assert_eq "$(asked api.example.test)" "1" "still one question upstream"
# a question with an OPT record is another key: its answer carries an OPT record, the plain one does not
out=$(ask 127.0.0.1 "$PA" api.example.test A --edns 1232)
assert_contains "$out" "rcode=0" "an EDNS0 question answered"
assert_eq "$(asked api.example.test)" "2" "an EDNS0 question is not answered with the plain question's answer"
ask 127.0.0.1 "$PA" api.example.test A --edns 1232 >/dev/null
assert_eq "$(asked api.example.test)" "2" "the second EDNS0 question is a hit"

echo "== another tenant: its hit on alpha's answer learns for it, and shares nothing of alpha's"
expect "$NSH" "$CGB" <<'EOF'
tcp 198.51.100.10 443 => deny
tcp 198.51.100.11 443 => deny
EOF
l0=$(st tenants.beta.addresses_learned)
out=$(ask 127.0.0.1 "$PB" api.example.test A)
assert_contains "$out" "198.51.100.10,198.51.100.11" "beta answered"
assert_eq "$(asked api.example.test)" "2" "from the cache (dnsmasq not asked)"
assert_eq "$(st tenants.beta.cache_hits)" "1" "beta's question was a hit"
assert_eq "$(st tenants.beta.addresses_learned)" "$((l0 + 2))" "both addresses learned for beta"
c0=$(field r443 conns)
expect "$NSH" "$CGB" <<'EOF'
tcpwait 198.51.100.10 443 => allow connected
tcpwait 198.51.100.11 443 => allow connected
EOF
arrives r443 conns "$c0" "beta's first connects after its hit arrived"
# a name beta has no rule for is refused, cached or not
out=$(ask 127.0.0.1 "$PB" big.example.test A)
assert_contains "$out" "rcode=3" "beta: a name only alpha may look up is NXDOMAIN"

echo "== truncation: the cached 40-address answer goes as TC over UDP, whole over TCP"
out=$(ask 127.0.0.1 "$PA" big.example.test A)
assert_contains "$out" "tc=1" "over UDP without EDNS0: TC"
n=$(asked big.example.test)
[ "$n" -ge 2 ] || fail "the forwarder did not ask again over TCP ($n questions)"
out=$(ask 127.0.0.1 "$PA" big.example.test A)
assert_contains "$out" "tc=1" "the cached answer is TC over UDP too"
out=$(ask 127.0.0.1 "$PA" big.example.test A --tcp)
assert_contains "$out" "198.51.100.139" "over TCP every address"
assert_eq "$(asked big.example.test)" "$n" "both from the cache"
expect "$NSH" "$CGA" <<'EOF'
tcp 198.51.100.100 443 => allow
tcp 198.51.100.139 443 => allow
EOF

echo "== negative answers are not cached: NODATA, NXDOMAIN"
out=$(ask 127.0.0.1 "$PA" rot.example.test AAAA)
assert_contains "$out" "rcode=0 tc=0 addrs= " "rot.example.test has no AAAA: NOERROR without records"
ask 127.0.0.1 "$PA" rot.example.test AAAA >/dev/null
assert_eq "$(asked rot.example.test AAAA)" "2" "both AAAA questions went to dnsmasq"
out=$(ask 127.0.0.1 "$PA" gone.example.test A)
assert_contains "$out" "rcode=3 " "gone.example.test (allowed, unknown to dnsmasq): NXDOMAIN"
ask 127.0.0.1 "$PA" gone.example.test A >/dev/null
assert_eq "$(asked gone.example.test)" "2" "both questions went to dnsmasq"

echo "== TTLs count down; at expiry the resolver is asked again, a rotated answer learned, the old address expires"
out=$(ask 127.0.0.1 "$PA" rot.example.test A)
assert_contains "$out" "addrs=198.51.100.20 " "rot.example.test answered"
assert_contains "$out" "ttl=3" "with dnsmasq's TTL"
sleep 1.2
out=$(ask 127.0.0.1 "$PA" rot.example.test A)
assert_eq "$(asked rot.example.test)" "1" "the second question (1.2 s later) from the cache"
case $out in *ttl=1 | *ttl=2) ok "its TTL counted down: ${out##* }" ;; *) fail "TTL not counted down: $out" ;; esac
echo "198.51.100.21 rot.example.test" >"$T/hosts"
kill -HUP "$DNSMASQ"
sleep 2
out=$(ask 127.0.0.1 "$PA" rot.example.test A)
assert_contains "$out" "addrs=198.51.100.21 " "after the TTL: the rotated answer"
assert_eq "$(asked rot.example.test)" "2" "fetched again from dnsmasq"
expect "$NSH" "$CGA" <<'EOF'
tcpwait 198.51.100.21 443 => allow connected
EOF
# .20: learned until at most its fetch + TTL 3 + grace 1 (the hit's remaining TTL lifted to ttl_min 1)
sleep 2.5
expect "$NSH" "$CGA" <<'EOF'
tcp 198.51.100.20 443 => deny
EOF

echo "== a flood of names: the cache stays within its bound, evictions counted"
out=$(ip netns exec "$NSH" python3 "$DNSC" flood 127.0.0.1 "$PA" 300 svc.example.test)
assert_contains "$out" "answered=300 " "300 random names under svc.example.test answered"
assert_contains "$out" "rcodes=0:300" "all from dnsmasq"
e=$(st cache.entries)
[ "$e" -le 50 ] || fail "the cache holds $e entries (bound 50)"
gone=$(($(st cache.evictions) + $(st cache.expired)))
[ "$gone" -ge 250 ] || fail "only $gone entries evicted or expired after 300 new names"
ok "$e entries held, $(st cache.evictions) evictions counted ($(st cache.bytes) bytes)"
s0=$(st cache.stored)
out=$(ip netns exec "$NSH" python3 "$DNSC" flood 127.0.0.1 "$PA" 300 flood.test)
assert_contains "$out" "rcodes=3:300" "300 names no rule allows: NXDOMAIN"
assert_eq "$(st cache.stored)" "$s0" "refused names are never cached"

echo "== a policy apply empties the cache"
ask 127.0.0.1 "$PA" api.example.test A >/dev/null
n=$(asked api.example.test)
f0=$(st cache.flushes)
[ "$(st cache.entries)" -ge 1 ] || fail "nothing cached before the apply"
push_bundle 3 --set "tenants=$tenants" --set 'shared_services=[]' --set "dns=$dns"
assert_eq "$(st cache.entries)" "0" "no entry after the apply"
assert_eq "$(st cache.flushes)" "$((f0 + 1))" "the flush counted"
ask 127.0.0.1 "$PA" api.example.test A >/dev/null
assert_eq "$(asked api.example.test)" "$((n + 1))" "the next question goes to the resolver"

echo "== a hit whose learn fails (enforcement unloaded) answers SERVFAIL, never the cached addresses"
n=$(asked api.example.test)
f0=$(st tenants.alpha.learn_failed)
ctl unload >/dev/null
out=$(ask 127.0.0.1 "$PA" api.example.test A)
assert_contains "$out" "rcode=2 tc=0 addrs= " "SERVFAIL without addresses"
assert_eq "$(asked api.example.test)" "$n" "it was a hit (dnsmasq not asked)"
assert_eq "$(st tenants.alpha.learn_failed)" "$((f0 + 1))" "learn_failed counted"

echo "== dns_cache_entries = 0: no cache (SIGHUP)"
r0=$(grep -c 'SIGHUP: configuration' "$T/vigild.log" || true)
sed -i 's/^dns_cache_entries = 50$/dns_cache_entries = 0/' "$T/vigild.conf"
kill -HUP "$VIGILD_PID"
i=0
until [ "$(grep -c 'SIGHUP: configuration' "$T/vigild.log" || true)" -gt "$r0" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "vigild did not reload its configuration"
	sleep 0.05
done
assert_eq "$(st cache.state)" "off" "status: the cache is off"
n=$(asked api.example.test)
ask 127.0.0.1 "$PA" api.example.test A >/dev/null
ask 127.0.0.1 "$PA" api.example.test A >/dev/null
assert_eq "$(asked api.example.test)" "$((n + 2))" "every question goes to the resolver"
wait_audit dns.query '"cache": "off"'
echo "PASS"
