#!/bin/sh
# Inbound connections are not egress decisions: with the host's "default": "deny" and a host.egress
# that does not name the peer, a peer in another network namespace connects to a listener of the
# host (think sshd) and of a tenant, and data flows both ways, counted at both receivers; the host
# still cannot open a connection to that peer (nothing arrives at the peer's listener), and a UDP
# server's reply to a peer its policy does not name is judged like any datagram (refused). The
# listeners run in $NSH, which stands for the host's own namespace: the programs are per cgroup,
# and a veth in the machine's namespace would touch the shared machine's network.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"

ECHO="$ROOT/tests/integration/enforce_echo.py"
make_topology
HOSTCG=$(tenant_cgroup h)
CG=$(tenant_cgroup t1)
enforce_vigild "cgroup_root = $CGBASE"
TENANT='[{"name": "t1", "id": 1, "mode": "enforce", "cgroups": ["/t1"],
	"egress": [{"id": 10, "cidr": "10.9.0.0/24", "proto": "tcp", "ports": ["443"]}]}]'
HOST_DENY='{"mode": "enforce", "default": "deny", "egress": [{"id": 20, "cidr": "10.8.0.0/24", "proto": "any"}]}'
HOST_ALLOW='{"mode": "enforce", "default": "allow", "egress": []}'

# echo_serve PROTO ADDR PORT CGROUP NAME: an echo server in $NSH and CGROUP, its counts in $T/NAME
echo_serve() {
	(
		echo 0 >"$4/cgroup.procs"
		exec nsenter --net="/run/netns/$NSH" python3 "$ECHO" serve "$1" "$2" "$3" "$T/$5"
	) &
	_enf_pids="$_enf_pids $!"
	i=0
	until [ -s "$T/$5" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "echo server $5 did not start"
		sleep 0.05
	done
}
# peer PROTO ADDR PORT N: the peer (in $NSI, in no cgroup vigil watches) sends N bytes, prints what came back
peer() { ip netns exec "$NSI" python3 "$ECHO" client "$1" "$2" "$3" "$4"; }

# inbound PROTO ADDR PORT NAME WHAT: a connection from the peer completes and data flows both ways
inbound() {
	before=$(field "$4" bytes)
	got=$(peer "$1" "$2" "$3" 1000)
	assert_eq "$got" "connected 1 sent 1000 received 1000" "$5: the peer got its 1000 bytes back"
	assert_eq "$(field "$4" bytes)" $((before + 1000)) "$5: the listener received 1000 bytes"
}

echo "== host \"default\": \"deny\" (per-socket programs at the root)"
push_bundle 2 --set "tenants=$TENANT" --set "host=$HOST_DENY"
echo_serve tcp 0.0.0.0 2201 "$HOSTCG" h4
echo_serve tcp :: 2202 "$HOSTCG" h6
echo_serve tcp 0.0.0.0 2203 "$CG" t4
echo_serve udp 0.0.0.0 2204 "$HOSTCG" hu
inbound tcp 192.0.2.1 2201 h4 "host listener, IPv4"
inbound tcp fd00:2::1 2202 h6 "host listener, IPv6"
inbound tcp 192.0.2.1 2203 t4 "tenant listener"

# the host still opens nothing to that peer: the peer's listener counts what arrives, and a
# connection to an address host.egress names (the same listener) is the control
ip -n "$NSI" addr add 10.8.0.1/32 dev lo
count tcp 2210 out "$NSI" -
expect "$NSH" "$HOSTCG" <<'EOF2'
tcp 192.0.2.2 2210 => deny
tcpwait 192.0.2.2 2210 => deny
tcpwait 10.8.0.1 2210 => allow connected
EOF2
arrives out conns 0 "the host's connect to an address host.egress names"
assert_eq "$(field out conns)" 1 "the host's connects to the peer: nothing arrived"

# UDP replies are judged: the datagram arrives, the host's answer to a peer host.egress does not name is refused
got=$(peer udp 192.0.2.1 2204 100)
assert_eq "$got" "connected 1 sent 100 received 0" "UDP: the peer gets no answer"
assert_eq "$(field hu bytes)" 100 "UDP: the host's server received the datagram"
assert_eq "$(field hu reply_errors)" 1 "UDP: its reply was refused"

echo "== host allows everything (per-socket programs at the tenant cgroup)"
push_bundle 3 --set "tenants=$TENANT" --set "host=$HOST_ALLOW"
inbound tcp 192.0.2.1 2203 t4 "tenant listener"
