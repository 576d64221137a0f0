#!/bin/sh
# DNS steering (issue 19, docs/dns.md "Kernel"): a tenant with a DNS forwarder entry sends
# its port-53 traffic, UDP and TCP, to any resolver address, and it arrives at the
# forwarder instead (here a stand-in the test binds on the loopback, as vigild's forwarder
# does, set through the test build's enforce.test_forwarders); the process sees the
# address it named as the reply's source and as the peer, so glibc's own resolver
# (getent, resolv.conf bind-mounted in a private mount namespace) takes the answer.
# Evidence: the stand-in counts the questions that reach it.
# Attacks: naming a forwarder's address directly (its own or another tenant's) is refused
# and nothing arrives; a tenant without a forwarder is judged by its rules (denied);
# another tenant's DNS goes to that tenant's forwarder, not this one's.
# End to end: vigild's own forwarder (agent/dnsfwd.c) with a resolver on the host's loopback:
# getent from the tenant is answered through it and the answer's address is allowed at once.
# Runs in the host network namespace: a tenant's forwarder is on the host's loopback.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"
command -v getent >/dev/null || skip "getent is not installed"
command -v unshare >/dev/null || skip "unshare is not installed"

CGA=$(tenant_cgroup alpha)
CGB=$(tenant_cgroup beta)
CGC=$(tenant_cgroup gamma)
STEER="$ROOT/tests/integration/dns_steer.py"
PA=$((30000 + $$ % 15000))
PB=$((PA + 1))
enforce_vigild

tenants() {
	cat <<EOF
[{"name": "alpha", "id": 1, "mode": "enforce", "cgroups": ["$CGREL/alpha"],
  "egress": [{"id": 300, "fqdn": "steer.example", "proto": "tcp", "ports": ["443"]}]},
 {"name": "beta", "id": 2, "mode": "enforce", "cgroups": ["$CGREL/beta"],
  "egress": [{"id": 400, "fqdn": "steer.example", "proto": "tcp", "ports": ["443"]}]},
 {"name": "gamma", "id": 3, "mode": "enforce", "cgroups": ["$CGREL/gamma"],
  "egress": [{"id": 500, "cidr": "192.0.2.0/24", "proto": "tcp", "ports": ["443"]}]}]
EOF
}
push_bundle 2 --set "tenants=$(tenants)" --set 'dns={"resolvers": ["10.0.0.53"]}'

# the stand-ins for alpha's and beta's forwarders, host-owned like vigild
python3 "$STEER" serve "$T/fa" "127.0.0.1:$PA" "[::1]:$PA" &
FA_PID=$!
_enf_pids="$_enf_pids $!"
python3 "$STEER" serve "$T/fb" "127.0.0.1:$PB" "[::1]:$PB" &
_enf_pids="$_enf_pids $!"
i=0
until [ -s "$T/fa" ] && [ -s "$T/fb" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "the stand-in forwarders did not start"
	sleep 0.05
done
out=$(python3 "$ROOT/tests/integration/relay_ctl.py" "$T/run/vigil.sock" "{\"cmd\": \"enforce.test_forwarders\", \"forwarders\": [
	{\"tenant\": \"alpha\", \"v4\": \"127.0.0.1:$PA\", \"v6\": \"[::1]:$PA\"},
	{\"tenant\": \"beta\", \"v4\": \"127.0.0.1:$PB\", \"v6\": \"[::1]:$PB\"}]}")
assert_contains "$out" '"forwarders":2' "the forwarder table is set"

# in CGROUP: a command in that tenant cgroup, host network namespace
in_cg() {
	cg=$1
	shift
	sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}
ask() { in_cg "$1" python3 "$STEER" ask "$2" "$3" "$4"; }
seen() { awk -v w="$2" '{ for (i = 1; i < NF; i++) if ($i == w) print $(i + 1) }' "$T/$1"; }
# steered CGROUP PROTO ADDR PORT FWD WHAT: the question arrives at stand-in FWD, the answer names ADDR
steered() {
	b=$(seen "$5" "$2")
	out=$(ask "$1" "$2" "$3" "$4")
	assert_eq "$out" "answer A from $3 $4" "$6: the answer seems to come from $3"
	[ "$(seen "$5" "$2")" -gt "$b" ] || fail "$6: the stand-in $5 got nothing"
	ok "$6: arrived at stand-in $5 ($2 $b -> $(seen "$5" "$2"))"
}
# refused CGROUP PROTO ADDR PORT WHAT: EPERM, and neither stand-in got anything
refused() {
	ba=$(cat "$T/fa")
	bb=$(cat "$T/fb")
	out=$(ask "$1" "$2" "$3" "$4")
	assert_eq "$out" deny "$5: refused"
	sleep 0.3
	[ "$(cat "$T/fa")$(cat "$T/fb")" = "$ba$bb" ] || fail "$5: a stand-in got it anyway"
	ok "$5: nothing arrived at the stand-ins"
}

echo "== alpha's DNS to any resolver goes to alpha's forwarder"
steered "$CGA" udp 10.0.0.53 53 fa "alpha UDP to 10.0.0.53"
steered "$CGA" udp 198.51.100.200 53 fa "alpha UDP to another resolver"
steered "$CGA" tcp 198.51.100.200 53 fa "alpha TCP to another resolver"
steered "$CGA" udp 127.0.0.53 53 fa "alpha UDP to a loopback stub resolver"
steered "$CGA" udp 2001:db8::53 53 fa "alpha UDP over IPv6"
steered "$CGA" tcp 2001:db8::53 53 fa "alpha TCP over IPv6"
steered "$CGA" udp ::ffff:10.0.0.53 53 fa "alpha UDP to an IPv4-mapped resolver"
steered "$CGB" udp 10.0.0.53 53 fb "beta's DNS goes to beta's forwarder"
assert_eq "$(ctl --json explain --tenant alpha --dst 10.0.0.53:53/udp | python3 -c 'import json,sys; print(json.load(sys.stdin)["verdict"])')" \
	allow_dns_forwarder "explain: alpha's DNS is steered"

echo "== glibc's resolver (getent) from alpha, resolv.conf naming a resolver that does not exist"
cat >"$T/nsswitch.conf" <<EOF
hosts: dns
EOF
# getent_in CGROUP RESOLV_CONF_LINES...: getent ahostsv4 steer.example with that resolv.conf
getent_in() {
	cg=$1
	shift
	printf '%s\n' "$@" >"$T/resolv.conf"
	unshare -m --propagation private sh -c '
		mount --bind "$1/resolv.conf" /etc/resolv.conf && mount --bind "$1/nsswitch.conf" /etc/nsswitch.conf &&
		echo $$ >"$2/cgroup.procs" && exec getent ahostsv4 steer.example' sh "$T" "$cg"
}
b=$(seen fa udp)
out=$(getent_in "$CGA" "nameserver 192.0.2.53" "options timeout:1 attempts:1")
assert_contains "$out" "192.0.2.99" "getent over UDP got the forwarder's answer"
[ "$(seen fa udp)" -gt "$b" ] || fail "getent's question did not reach the forwarder"
b=$(seen fa tcp)
out=$(getent_in "$CGA" "nameserver 192.0.2.53" "options use-vc timeout:1 attempts:1")
assert_contains "$out" "192.0.2.99" "getent over TCP (use-vc) got the forwarder's answer"
[ "$(seen fa tcp)" -gt "$b" ] || fail "getent's TCP question did not reach the forwarder"
out=$(getent_in "$CGA" "nameserver 2001:db8::53" "options timeout:1 attempts:1")
assert_contains "$out" "192.0.2.99" "getent to an IPv6 resolver got the forwarder's answer"

echo "== attacks: a forwarder's address named directly"
refused "$CGA" udp 127.0.0.1 "$PA" "alpha to its own forwarder's address"
refused "$CGA" tcp 127.0.0.1 "$PA" "alpha over TCP to its own forwarder's address"
refused "$CGB" udp 127.0.0.1 "$PA" "beta to alpha's forwarder"
refused "$CGB" udp ::1 "$PA" "beta to alpha's IPv6 forwarder"
refused "$CGC" udp 127.0.0.1 "$PA" "gamma (no forwarder) to alpha's forwarder"
echo "== a tenant without a forwarder is judged by its rules"
refused "$CGC" udp 10.0.0.53 53 "gamma's DNS (no forwarder, no rule)"
echo "== the host is not steered"
out=$(python3 "$STEER" ask udp 127.0.0.1 "$PA")
assert_eq "$out" "answer A from 127.0.0.1 $PA" "a host process reaches the forwarder's address"

echo "== the forwarder is gone (vigild down): lookups fail, nothing goes elsewhere"
kill "$FA_PID"
wait "$FA_PID" 2>/dev/null || true
bb=$(cat "$T/fb")
out=$(ask "$CGA" udp 10.0.0.53 53)
case "$out" in answer*) fail "alpha got an answer with its forwarder gone: $out" ;; esac
ok "alpha's lookup fails with its forwarder gone: $out"
out=$(ask "$CGA" tcp 10.0.0.53 53)
case "$out" in answer*) fail "alpha got a TCP answer with its forwarder gone: $out" ;; esac
ok "alpha's TCP lookup fails with its forwarder gone: $out"
assert_eq "$(cat "$T/fb")" "$bb" "beta's forwarder got none of it"

echo "== no forwarder entries: DNS is judged by the rules again"
out=$(python3 "$ROOT/tests/integration/relay_ctl.py" "$T/run/vigil.sock" '{"cmd": "enforce.test_forwarders", "forwarders": []}')
assert_contains "$out" '"forwarders":0' "the forwarder table is emptied"
refused "$CGA" udp 10.0.0.53 53 "alpha's DNS without a forwarder entry"
assert_eq "$(ctl --json explain --tenant alpha --dst "127.0.0.1:$PA/udp" | python3 -c 'import json,sys; print(json.load(sys.stdin)["verdict"])')" \
	deny_no_rule "explain: the old forwarder address is an ordinary destination again"

echo "== end to end: vigild's own forwarder, a resolver on the host's loopback"
PR=$((PA + 2))
python3 "$STEER" serve "$T/res" "127.0.0.1:$PR" &
_enf_pids="$_enf_pids $!"
i=0
until [ -s "$T/res" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "the resolver did not start"
	sleep 0.05
done
# applying a bundle makes vigild's forwarder hand its table to the kernel side again
push_bundle 3 --set "tenants=$(tenants)" --set "dns={\"resolvers\": [\"127.0.0.1:$PR\"]}"
assert_contains "$(echo "tcp 192.0.2.99 443" | probe - "$CGA")" deny "alpha before its lookup: 192.0.2.99:443 denied"
out=$(getent_in "$CGA" "nameserver 10.0.0.53" "options timeout:2 attempts:1")
assert_contains "$out" "192.0.2.99" "getent from alpha answered through vigild's forwarder"
[ "$(seen res udp)" -gt 0 ] || fail "the question did not reach the resolver"
ok "the resolver got the question from vigild's forwarder ($(cat "$T/res"))"
assert_eq "$(ctl --json explain --tenant alpha --dst 192.0.2.99:443 | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["verdict"], r.get("rule_id"))')" \
	"allow_learned_name 300" "explain: 192.0.2.99 learned by steer.example's rule"
assert_contains "$(echo "tcp 192.0.2.99 443" | probe - "$CGA")" allow "alpha after its lookup: 192.0.2.99:443 allowed at once"
assert_contains "$(echo "tcp 192.0.2.99 443" | probe - "$CGB")" deny "beta (no lookup of its own): still denied"
echo PASS
