#!/bin/sh
# Egress by name (docs/dns.md): a real dnsmasq in the "internet" namespace serves names with
# short TTLs, a CNAME chain and answers the test changes; vigild (in the tenants' namespace)
# forwards the tenants' questions. Attacks: a name no rule allows (NXDOMAIN, evented, never
# forwarded), another tenant using an address this one learned, an address never looked up,
# another port, a flood of random names (bounded, sampled), old addresses after a rotation,
# vigild killed (lookups fail closed, learned addresses expire), answers forged from the
# resolver's address to the forwarder's upstream socket (idle and with a question in flight).
# Evidence: what reaches the counting receivers and dnsmasq's own query log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"

command -v dnsmasq >/dev/null || skip "dnsmasq is not installed (packaging/deps/enforce.txt)"
DNSC="$ROOT/tests/integration/dns_client.py"
CGA=$(tenant_cgroup alpha)
CGB=$(tenant_cgroup beta)
make_topology
for a in 10.0.0.54 10.0.0.56 198.51.100.11 198.51.100.12 198.51.100.13; do ip -n "$NSI" addr add "$a/32" dev lo; done

# ---- the DNS server: TTL 1 for everything it serves
cat >"$T/hosts" <<'EOF'
198.51.100.10 api.example.test
198.51.100.11 api.example.test
2001:db8::10 api.example.test
198.51.100.12 edge.example.test
198.51.100.13 other.example.test
198.51.100.13 b.svc.example.test
127.0.0.1 rebind.example.test
169.254.169.254 rebind.example.test
198.51.100.14 rebind.example.test
EOF
# more addresses than a 512-byte UDP answer holds: dnsmasq sets TC, the forwarder asks again over TCP
n=100
while [ $n -lt 140 ]; do echo "198.51.100.$n big.example.test" >>"$T/hosts"; n=$((n + 1)); done
dnsmasq_start --local-ttl=1 \
	--cname=www.example.test,cdn.example.test --cname=cdn.example.test,edge.example.test \
	--server=/slow.example.test/10.0.0.56
# slow.example.test: dnsmasq asks a server that answers after 1 s (a question stays in flight)
ip netns exec "$NSI" python3 "$ROOT/tests/integration/dns_client.py" slow-server 10.0.0.56 1 198.51.100.15 &
_enf_pids="$_enf_pids $!"
# questions dnsmasq was asked (its own log): what the forwarder let through
asked() { grep -c "query\[" "$T/dnsmasq.log" || true; }

# ---- vigild in the tenants' network namespace (nsenter: "ip netns exec" would remount /sys without
# the cgroup2 and bpf mounts), so its forwarder listens on that namespace's loopback
make_keys
# dns_busy_poll_us: vigild polls for every answer of this resolver (docs/dns.md, "Latency"), so
# every promise below is proven with polling on, whatever the machine's load; dns_listen_poll_us:
# questions one after another (a few ms apart even on a loaded machine) are polled for too;
# dns_cache_entries = 0: no cache of answers, so every allowed question here goes to the resolver
# (its sockets, forged answers, polling); t_dns_cache proves the cache, and this file that 0 turns it off
write_config "enforce = true" "event_rate_limit = 50" "dns_busy_poll_us = 100000" "dns_listen_poll_us = 20000" \
	"dns_cache_entries = 0"
nsenter --net="/run/netns/$NSH" "$VIGILD" -c "$T/vigild.conf" --foreground >>"$T/vigild.log" 2>&1 &
VIGILD_PID=$!
i=0
until ctl --json status 2>/dev/null | grep -q '"state": "enforcing"'; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "enforcement did not start: $(tail -n 5 "$T/vigild.log")"
	sleep 0.1
done

tenants() {
	cat <<EOF
[{"name": "alpha", "id": 1, "cgroups": ["$CGREL/alpha"],
  "egress": [{"id": 10, "fqdn": "api.example.test", "proto": "tcp", "ports": [443]},
             {"id": 11, "fqdn": "www.example.test", "proto": "tcp", "ports": [443]},
             {"id": 12, "pattern": "*.svc.example.test", "proto": "tcp", "ports": [443]},
             {"id": 13, "fqdn": "big.example.test", "proto": "tcp", "ports": [443]},
             {"id": 14, "fqdn": "rebind.example.test", "proto": "tcp", "ports": [443]},
             {"id": 15, "fqdn": "slow.example.test", "proto": "tcp", "ports": [443]}]},
 {"name": "beta", "id": 2, "cgroups": ["$CGREL/beta"],
  "egress": [{"id": 20, "fqdn": "other.example.test", "proto": "tcp", "ports": [443]}]}]
EOF
}
push_bundle 2 --set "tenants=$(tenants)" --set 'shared_services=[]' \
	--set 'dns={"resolvers": ["10.0.0.53"], "ttl_min": 1, "ttl_max": 2, "grace": 1, "refuse": "nxdomain"}'

# ---- where the forwarders listen
fwd() {
	ctl --json status | python3 -c '
import json, sys
print(json.load(sys.stdin)["modules"]["dns"]["tenants"][sys.argv[1]][sys.argv[2]])' "$1" "$2"
}
dns_counter() {
	ctl --json status | python3 -c '
import json, sys
t = json.load(sys.stdin)["modules"]["dns"]["tenants"][sys.argv[1]]
v = t
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$1" "$2"
}
FA=$(fwd alpha listen)
FB=$(fwd beta listen)
PA=${FA##*:}
PB=${FB##*:}
assert_contains "$FA" "127.0.0.1:" "alpha's forwarder listens on the loopback"
[ "$PA" != "$PB" ] || fail "alpha and beta share a forwarder port"
# ask SERVER PORT NAME [args]: one question from the host (not redirected), in the tenants' namespace
ask() { ip netns exec "$NSH" python3 "$DNSC" query "$@"; }
count tcp 443 r443 "$NSI" -

echo "== an allowed name: every address learned before the answer, then the first connect succeeds"
before=$(asked)
out=$(ask 127.0.0.1 "$PA" api.example.test A)
assert_contains "$out" "rcode=0" "alpha: api.example.test answered"
assert_contains "$out" "198.51.100.10" "the answer has .10"
assert_contains "$out" "198.51.100.11" "the answer has .11"
[ "$(asked)" -gt "$before" ] || fail "dnsmasq was not asked"
assert_eq "$(ctl --json status | python3 -c 'import json, sys; print(json.load(sys.stdin)["modules"]["dns"]["cache"])')" \
	"{'state': 'off'}" "dns_cache_entries = 0: no cache"
c0=$(field r443 conns)
expect "$NSH" "$CGA" <<'EOF'
tcpwait 198.51.100.10 443 => allow connected
tcpwait 198.51.100.11 443 => allow connected
tcp 198.51.100.10 80 => deny
tcp 198.51.100.12 443 => deny
EOF
arrives r443 conns "$c0" "alpha reached both learned addresses"
c1=$(field r443 conns)
[ "$c1" -ge $((c0 + 2)) ] || fail "the receiver counted $c0 -> $c1, expected two more"

echo "== a resolver answering within dns_busy_poll_us: vigild polls for its answers instead of sleeping"
# (or, while the host has no CPU to spare, counts that it did not)
dns_global() {
	ctl --json status | python3 -c '
import json, sys
d = json.load(sys.stdin)["modules"]["dns"]
print(d["resolvers"][0]["rtt_us"] if sys.argv[1] == "rtt_us" else d["busy_polls"] + d["busy_polls_host_busy"])' "$1"
}
p0=$(dns_global polls)
for i in 1 2 3; do
	assert_contains "$(ask 127.0.0.1 "$PA" api.example.test A)" "rcode=0" "question $i answered"
done
[ "$(dns_global rtt_us)" -gt 0 ] || fail "no round trip of the resolver measured"
if [ "$(nproc)" -gt 1 ]; then
	[ "$(dns_global polls)" -ge $((p0 + 3)) ] || fail "the busy-poll was not considered ($p0 -> $(dns_global polls))"
	ok "busy-poll decided for the three answers ($(dns_global rtt_us) us round trip)"
else
	assert_eq "$(dns_global polls)" "$p0" "one CPU: vigild never polls"
fi

echo "== questions one after another: vigild polls for the next one instead of sleeping, and stops"
# (or, while the host has no CPU to spare, counts that it did not); a burst must not leave it spinning
listen_polls() {
	ctl --json status | python3 -c 'import json, sys
d = json.load(sys.stdin)["modules"]["dns"]; print(d["listen_polls"] + d["listen_polls_host_busy"])'
}
cpu_ms() { cat /proc/"$VIGILD_PID"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f\n", s / 1e6 }'; }
l0=$(listen_polls)
assert_contains "$(ip netns exec "$NSH" python3 "$DNSC" lookups 127.0.0.1 "$PA" api.example.test 60)" "ok=60" \
	"60 questions one after another answered"
if [ "$(nproc)" -gt 1 ]; then
	[ "$(listen_polls)" -ge $((l0 + 30)) ] || fail "polling for the next question was not considered ($l0 -> $(listen_polls))"
	ok "polling for the next question decided after $(($(listen_polls) - l0)) of 60 answers"
else
	assert_eq "$(listen_polls)" "$l0" "one CPU: vigild never polls"
fi
sleep 0.2
c0=$(cpu_ms)
sleep 1
c1=$(cpu_ms)
[ $((c1 - c0)) -lt 200 ] || fail "vigild used $((c1 - c0)) ms of CPU in the second after the questions stopped"
ok "no polling once the questions stopped ($((c1 - c0)) ms of CPU in the next second)"

echo "== another tenant cannot use what alpha learned"
expect "$NSH" "$CGB" <<'EOF'
tcp 198.51.100.10 443 => deny
tcp 198.51.100.11 443 => deny
EOF
unchanged r443 conns "$(field r443 conns)" "beta's connects to alpha's addresses"

echo "== a name no rule allows: NXDOMAIN here, never forwarded, evented"
before=$(asked)
out=$(ask 127.0.0.1 "$PA" other.example.test A)
assert_contains "$out" "rcode=3" "alpha: other.example.test answered NXDOMAIN"
out=$(ask 127.0.0.1 "$PA" api.example.test.evil.net A)
assert_contains "$out" "rcode=3" "a suffix of an allowed name is another name"
assert_eq "$(asked)" "$before" "dnsmasq never saw the refused questions"
wait_audit dns.query '"verdict": "blocked"'
expect "$NSH" "$CGA" <<'EOF'
tcp 198.51.100.13 443 => deny
EOF
# beta's own rule: the same name is allowed for beta, learned for beta only
out=$(ask 127.0.0.1 "$PB" other.example.test A)
assert_contains "$out" "198.51.100.13" "beta: other.example.test answered"
expect "$NSH" "$CGB" <<'EOF'
tcpwait 198.51.100.13 443 => allow connected
EOF
expect "$NSH" "$CGA" <<'EOF'
tcp 198.51.100.13 443 => deny
EOF

echo "== a CNAME chain: www -> cdn -> edge, the chain's addresses learned under www's rule"
out=$(ask 127.0.0.1 "$PA" www.example.test A)
assert_contains "$out" "198.51.100.12" "www.example.test resolves through its chain"
expect "$NSH" "$CGA" <<'EOF'
tcpwait 198.51.100.12 443 => allow connected
EOF
echo "== DNS rebinding: an answer naming loopback or the metadata service opens neither"
out=$(ask 127.0.0.1 "$PA" rebind.example.test A)
assert_contains "$out" "169.254.169.254" "the answer is passed on as it is"
expect "$NSH" "$CGA" <<'EOF'
tcp 169.254.169.254 443 => deny
tcp 198.51.100.14 443 => allow
EOF
[ "$(dns_counter alpha unlearnable)" -ge 2 ] || fail "unlearnable addresses not counted"
ok "the two special-purpose addresses counted as unlearnable"
wait_audit dns.query '"unlearnable": 2'

echo "== TCP, AAAA, EDNS0 and a pattern"
out=$(ask 127.0.0.1 "$PA" api.example.test AAAA --tcp)
assert_contains "$out" "2001:db8::10" "AAAA over TCP"
FA6=$(fwd alpha listen6)
assert_contains "$FA6" "[::1]:" "alpha's forwarder listens on [::1] too"
PA6=${FA6##*:}
out=$(ask ::1 "$PA6" api.example.test A)
assert_contains "$out" "rcode=0" "a question over IPv6"
out=$(ask ::1 "$PA6" api.example.test A --tcp)
assert_contains "$out" "rcode=0" "a question over IPv6 and TCP"
out=$(ask 127.0.0.1 "$PA" api.example.test A --edns 1232)
assert_contains "$out" "rcode=0" "a question with an OPT record"
out=$(ask 127.0.0.1 "$PA" b.svc.example.test A)
assert_contains "$out" "198.51.100.13" "*.svc.example.test matches b.svc.example.test"
out=$(ask 127.0.0.1 "$PA" a.b.svc.example.test A)
assert_contains "$out" "rcode=3" "the pattern's '*' is one label"

echo "== truncation: a 40-address answer, fetched over TCP, every address learned"
before=$(asked)
out=$(ask 127.0.0.1 "$PA" big.example.test A)
assert_contains "$out" "tc=1" "over UDP without EDNS0 the client gets TC (the answer is larger than 512 bytes)"
[ "$(grep -c 'query\[A\] big.example.test' "$T/dnsmasq.log")" -ge 2 ] || fail "the forwarder did not ask again over TCP"
ok "the forwarder asked again over TCP"
expect "$NSH" "$CGA" <<'EOF'
tcp 198.51.100.100 443 => allow
tcp 198.51.100.139 443 => allow
tcp 198.51.100.140 443 => deny
EOF
out=$(ask 127.0.0.1 "$PA" big.example.test A --tcp)
assert_contains "$out" "198.51.100.139" "over TCP the client gets every address"

echo "== explain"
# learned now; they live 2-3 s here (short TTLs for the rotation below), which a loaded machine can
# spend between two commands: look up again (at most 3 times) until explain runs within that life
for i in 1 2 3; do
	ask 127.0.0.1 "$PA" api.example.test A >/dev/null
	out=$(ctl explain --tenant alpha --dst api.example.test:443)
	case $out in *"learned 198.51.100.10"*) break ;; esac
done
assert_contains "$out" "allowed" "explain: allowed"
assert_contains "$out" "rule 10 of tenant: api.example.test tcp" "explain names the rule"
assert_contains "$out" "learned 198.51.100.10" "explain shows the learned address"
out=$(ctl --json explain --tenant alpha --dst api.example.test:80)
assert_contains "$out" '"decision": "denied"' "explain: port 80 is not covered"
out=$(ctl explain --tenant beta --dst api.example.test)
assert_contains "$out" "answered NXDOMAIN" "explain: beta's lookups are refused"

echo "== forged answers: an upstream socket takes only the answer to its one question"
# vigild's UDP sockets connected to the resolver, by source port (ss -H: Recv-Q Send-Q Local Peer)
upports() {
	nsenter --net="/run/netns/$NSH" ss -Hunp dst 10.0.0.53:53 | grep '"vigild"' |
		awk '{ sub(/.*:/, "", $3); print $3 }' | sort -n | tr '\n' ' '
}
bad_answers() { ctl --json status | python3 -c 'import json, sys
print(json.load(sys.stdin)["modules"]["dns"]["resolvers"][0]["bad_answers"])'; }
forge() { ip netns exec "$NSI" python3 "$DNSC" forge 10.0.0.53 192.0.2.1 "$@"; }
# idle: whoever found the port loses it with the first datagram. A first forged datagram
# retires the socket in use now (it may be near the end of its life); the next two questions
# share a new one, whose port is then forged to
ask 127.0.0.1 "$PA" api.example.test A >/dev/null
p0=$(upports)
[ -n "$p0" ] && forge "${p0% }" api.example.test 203.0.113.66
ask 127.0.0.1 "$PA" api.example.test A >/dev/null
p1=$(upports)
ask 127.0.0.1 "$PA" api.example.test A >/dev/null
case $p1 in "" | *" "?*) fail "one idle upstream socket expected, have '$p1'" ;; esac
assert_eq "$(upports)" "$p1" "questions one after another reuse one upstream socket"
p1=${p1% }
bad=$(bad_answers)
forge "$p1" api.example.test 203.0.113.66
i=0
while [ "$(upports)" = "$p1 " ]; do
	i=$((i + 1))
	[ $i -gt 40 ] && fail "the idle socket that received a forged answer is still open"
	sleep 0.05
done
ok "the idle socket that received a forged answer was closed"
[ "$(bad_answers)" -gt "$bad" ] || fail "the forged answer was not counted as bad"
out=$(ask 127.0.0.1 "$PA" api.example.test A)
assert_contains "$out" "rcode=0" "the next question is answered (from a new socket)"
p2=$(upports)
[ -n "$p2" ] && [ "$p2" != "$p1 " ] || fail "the next question went out from port '$p2' (was $p1)"
# in flight: a forged answer (a random id: wrong but for a 1 in 65536 chance) to the socket
# waiting for slow.example.test's answer does not replace it; that socket is never reused
ask 127.0.0.1 "$PA" slow.example.test A >"$T/slow.out" &
slowpid=$!
i=0
until grep -q "query\[A\] slow.example.test" "$T/dnsmasq.log"; do
	i=$((i + 1))
	[ $i -gt 40 ] && fail "slow.example.test was not forwarded"
	sleep 0.05
done
pf=$(upports)
pf=${pf% }
forge "$pf" slow.example.test 203.0.113.66
wait "$slowpid" || fail "no answer for slow.example.test: $(cat "$T/slow.out")"
assert_contains "$(cat "$T/slow.out")" "addrs=198.51.100.15" "the resolver's answer, not the forged one"
case " $(upports)" in *" $pf "*) fail "the socket that received a forged answer carries on" ;; esac
ok "the socket that received a forged answer while in flight is not reused"
expect "$NSH" "$CGA" <<'EOF'
tcp 203.0.113.66 443 => deny
EOF
# a socket carries at most 64 questions, then its port changes
ask 127.0.0.1 "$PA" api.example.test A >/dev/null
p3=$(upports)
out=$(ip netns exec "$NSH" python3 "$DNSC" lookups 127.0.0.1 "$PA" api.example.test 64)
assert_contains "$out" "ok=64" "64 more questions answered"
[ "$(upports)" != "$p3" ] || fail "port $p3 carried more than 64 questions"
ok "after 64 questions the upstream socket was replaced ($p3-> $(upports))"

echo "== the real path: glibc in the tenant asks the resolver it names, the forwarder answers"
printf 'nameserver 10.0.0.53\noptions timeout:2 attempts:1\n' >"$T/resolv.conf"
printf 'nameserver 10.0.0.54\noptions timeout:2 attempts:1 use-vc\n' >"$T/resolv-other.conf"
ip netns exec "$NSI" python3 "$DNSC" count-udp 10.0.0.54 53 "$T/other53" &
_enf_pids="$_enf_pids $!"
i=0
until [ -s "$T/other53" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "the other resolver's counter did not start"
	sleep 0.05
done
# in_tenant CGROUP RESOLV CMD...: CMD in the tenant's cgroup and vigild's network namespace,
# glibc reading RESOLV as /etc/resolv.conf (a private mount namespace)
in_tenant() {
	nsenter --net="/run/netns/$NSH" unshare -m --propagation private sh -c \
		'mount --bind "$2" /etc/resolv.conf && echo $$ >"$1/cgroup.procs" && shift 2 && exec "$@"' - "$@"
}
before=$(asked)
c0=$(field r443 conns)
out=$(in_tenant "$CGA" "$T/resolv.conf" python3 "$DNSC" connect api.example.test 443)
assert_contains "$out" "198.51.100.10 connected" "the first connect after glibc's lookup (.10)"
assert_contains "$out" "198.51.100.11 connected" "the first connect after glibc's lookup (.11)"
[ "$(asked)" -gt "$before" ] || fail "the lookup did not reach dnsmasq through the forwarder"
arrives r443 conns "$c0" "the connects arrived"
out=$(in_tenant "$CGA" "$T/resolv.conf" python3 "$DNSC" connect other.example.test 443)
assert_contains "$out" "lookup-failed" "a name no rule of alpha allows does not resolve"
# a resolver the bundle does not name, over UDP and TCP (use-vc): the forwarder answers, the
# other resolver never sees a packet
out=$(in_tenant "$CGA" "$T/resolv-other.conf" python3 "$DNSC" connect www.example.test 443)
assert_contains "$out" "198.51.100.12 connected" "DNS sent to 10.0.0.54 (TCP) is answered by the forwarder"
printf 'nameserver 10.0.0.54\noptions timeout:2 attempts:1\n' >"$T/resolv-other.conf"
out=$(in_tenant "$CGA" "$T/resolv-other.conf" python3 "$DNSC" connect www.example.test 443)
assert_contains "$out" "198.51.100.12 connected" "DNS sent to 10.0.0.54 (UDP) is answered by the forwarder"
assert_eq "$(field other53 datagrams)" "0" "nothing reached the other resolver"
# beta asks for alpha's name through its own forwarder: refused, and alpha's addresses stay alpha's
out=$(in_tenant "$CGB" "$T/resolv.conf" python3 "$DNSC" connect api.example.test 443)
assert_contains "$out" "lookup-failed" "beta's forwarder refuses alpha's name"

echo "== a new bundle: alpha keeps its forwarder, beta (no names left) loses its own"
push_bundle 3 --set "tenants=$(tenants | sed 's/"fqdn": "other.example.test"/"cidr": "192.0.2.200\/32"/')" \
	--set 'shared_services=[]' \
	--set 'dns={"resolvers": ["10.0.0.53"], "ttl_min": 1, "ttl_max": 2, "grace": 1, "refuse": "nxdomain"}'
assert_eq "$(fwd alpha listen)" "$FA" "alpha's forwarder kept across the apply"
out=$(ctl --json status | python3 -c 'import json, sys; print(sorted(json.load(sys.stdin)["modules"]["dns"]["tenants"]))')
assert_eq "$out" "['alpha']" "beta's forwarder closed"
out=$(ask 127.0.0.1 "$PB" other.example.test A || true)
assert_contains "$out" "error" "nothing answers on beta's old port"

echo "== rotation: new addresses allowed at once, old ones expire (ttl_max 2 + grace 1)"
sed -i '/api.example.test/d' "$T/hosts"
echo "198.51.100.13 api.example.test" >>"$T/hosts"
kill -HUP "$DNSMASQ"
sleep 0.2
out=$(ask 127.0.0.1 "$PA" api.example.test A)
assert_contains "$out" "addrs=198.51.100.13" "the rotated answer"
expect "$NSH" "$CGA" <<'EOF'
tcpwait 198.51.100.13 443 => allow connected
EOF
sleep 3.5
expect "$NSH" "$CGA" <<'EOF'
tcp 198.51.100.10 443 => deny
tcp 198.51.100.11 443 => deny
EOF

echo "== a flood of random names: answered here, bounded, sampled and counted"
before=$(asked)
out=$(ip netns exec "$NSH" python3 "$DNSC" flood 127.0.0.1 "$PA" 3000)
assert_contains "$out" "answered=3000" "every random name answered"
assert_contains "$out" "rcodes=3:3000" "all NXDOMAIN"
assert_eq "$(asked)" "$before" "none reached the resolver"
dropped=$(dns_counter alpha events_dropped)
[ "$dropped" -gt 0 ] || fail "no event was dropped under the flood (event_rate_limit 50)"
ok "events beyond the rate were counted: $dropped dropped"
out=$(ask 127.0.0.1 "$PA" api.example.test A)
assert_contains "$out" "rcode=0" "the forwarder still answers after the flood"
blocked=$(dns_counter alpha blocked)
[ "$blocked" -ge 3000 ] || fail "blocked counter $blocked"
ok "status counts $blocked blocked questions"
# two clients at once, over IPv4 and IPv6, names the pattern allows (forwarded): the answers of
# one loop turn leave together, each to the client that asked (each client counts the answers to
# its own questions; a lost one leaves it short, a misdirected one is "foreign")
ip netns exec "$NSH" python3 "$DNSC" flood 127.0.0.1 "$PA" 400 svc.example.test >"$T/flood4" &
f4=$!
out=$(ip netns exec "$NSH" python3 "$DNSC" flood ::1 "$PA6" 400 svc.example.test)
wait "$f4"
assert_contains "$out" "answered=400" "the IPv6 client got an answer to each of its 400 questions"
assert_contains "$out" "foreign=0" "and none meant for another client"
assert_contains "$(cat "$T/flood4")" "answered=400 " "the IPv4 client at the same time too"
assert_contains "$(cat "$T/flood4")" "foreign=0" "and none meant for another client"

echo "== vigild killed mid-flow: the flow goes on, lookups fail closed, learned addresses expire"
mkfifo "$T/flow.in"
(
	echo 0 >"$CGA/cgroup.procs"
	exec nsenter --net="/run/netns/$NSH" "$PROBE" <"$T/flow.in" >"$T/flow.out" 2>&1
) &
_enf_pids="$_enf_pids $!"
exec 5>"$T/flow.in"
out=$(ask 127.0.0.1 "$PA" api.example.test A)
assert_contains "$out" "addrs=198.51.100.13" "api.example.test learned again"
echo "open tcp 198.51.100.13 443" >&5
i=0
until grep -q connected "$T/flow.out"; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "the flow did not connect: $(cat "$T/flow.out")"
	sleep 0.05
done
kill -9 "$VIGILD_PID"
wait "$VIGILD_PID" 2>/dev/null || true
VIGILD_PID=""
out=$(ask 127.0.0.1 "$PA" api.example.test A || true)
assert_contains "$out" "error" "nothing answers on the forwarder's port"
out=$(in_tenant "$CGA" "$T/resolv.conf" python3 "$DNSC" connect api.example.test 443)
assert_contains "$out" "lookup-failed" "alpha's own lookups fail (closed), never go elsewhere"
sleep 3.5
expect "$NSH" "$CGA" <<'EOF'
tcp 198.51.100.13 443 => deny
tcp 198.51.100.12 443 => deny
EOF
b=$(field r443 bytes)
echo send >&5
arrives r443 bytes "$b" "the flow opened before the kill still delivers after the address expired"
exec 5>&-

echo "== vigild back: new forwarders; a learn that fails answers SERVFAIL, never the addresses"
nsenter --net="/run/netns/$NSH" "$VIGILD" -c "$T/vigild.conf" --foreground >>"$T/vigild.log" 2>&1 &
VIGILD_PID=$!
i=0
until ctl --json status 2>/dev/null | grep -q '"listen"'; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "the forwarders did not come back: $(tail -n 5 "$T/vigild.log")"
	sleep 0.1
done
PA=$(fwd alpha listen)
PA=${PA##*:}
out=$(ask 127.0.0.1 "$PA" api.example.test A)
assert_contains "$out" "addrs=198.51.100.13" "answered again after the restart"
ctl unload >/dev/null
before=$(asked)
out=$(ask 127.0.0.1 "$PA" api.example.test A)
assert_contains "$out" "rcode=2 tc=0 addrs=" "enforcement gone: the learn fails, SERVFAIL without addresses"
[ "$(asked)" -gt "$before" ] || fail "the question was not forwarded"
[ "$(dns_counter alpha learn_failed)" -ge 1 ] || fail "learn_failed not counted"
ok "learn_failed counted"
echo "PASS"
