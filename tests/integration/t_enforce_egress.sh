#!/bin/sh
# Egress enforcement on real sockets: two tenants and a host process in a
# namespaced topology; TCP, connected/unconnected UDP, ping and raw ICMP,
# IPv6 and IPv4-mapped IPv6, port ranges, segments, local ports of another
# tenant, shared services, audit mode, events, counters and explain.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"

CGA=$(tenant_cgroup alpha)
CGB=$(tenant_cgroup beta)
make_topology
enforce_vigild

tenants() { # $1: beta's mode
	cat <<EOF
[{"name": "alpha", "id": 1, "mode": "enforce", "cgroups": ["$CGREL/alpha"], "segments": ["10.1.0.0/16"],
  "egress": [
   {"id": 100, "cidr": "198.51.100.0/24", "proto": "tcp", "ports": ["443", "8000-8100"]},
   {"id": 101, "cidr": "198.51.100.0/24", "proto": "udp", "ports": ["5000-5010"]},
   {"id": 102, "cidr": "2001:db8::/64", "proto": "tcp", "ports": ["443"]},
   {"id": 103, "cidr": "198.51.100.0/24", "proto": "icmp"},
   {"id": 104, "cidr": "0.0.0.0/0", "proto": "tcp", "ports": ["22"]},
   {"id": 105, "cidr": "127.0.0.0/8", "proto": "tcp"},
   {"id": 106, "cidr": "::/0", "proto": "tcp", "ports": ["22"]},
   {"id": 107, "cidr": "2001:db8::/64", "proto": "icmp"}],
  "shared": ["dns"], "sockets": ["raw"]},
 {"name": "beta", "id": 2, "mode": "$1", "cgroups": ["$CGREL/beta"], "segments": ["203.0.113.0/24"],
  "egress": [{"id": 200, "cidr": "198.51.100.0/24", "proto": "tcp", "ports": ["8080"]}],
  "shared": []}]
EOF
}
push_bundle 2 --set "tenants=$(tenants enforce)"

serve "$NSI" - "tcp 443" "tcp 8050" "tcp 8080" "tcp 22" "tcp 53" "udp 53" "udp 5005"
serve "$NSH" "$CGB" "tcp 9090"
serve "$NSH" - "tcp 9091"

echo "== alpha (enforce)"
expect "$NSH" "$CGA" <<'EOF'
tcpwait 198.51.100.10 443 => allow connected
tcp 198.51.100.10 444 => deny
tcpwait 198.51.100.10 8050 => allow connected
tcp 198.51.100.10 8101 => deny
tcp 198.51.100.10 7999 => deny
udp 198.51.100.10 5005 => allow sent
udpsend 198.51.100.10 5010 => allow sent
udp 198.51.100.10 5011 => deny
udpsend 198.51.100.10 5011 => deny
udpsend 198.51.100.10 443 => deny
ping 198.51.100.10 => allow reply
ping 192.0.2.2 => deny
raw 198.51.100.10 => allow reply
raw 192.0.2.2 => deny
tcpwait 2001:db8::10 443 => allow connected
tcp 2001:db8::10 80 => deny
tcp 2001:db9::1 443 => deny
ping 2001:db8::10 => allow reply
# the IPv6 ping path drops silently (the kernel ignores the backstop's EPERM): no reply
ping fd00:2::2 => allow no-reply
tcpwait ::ffff:198.51.100.10 443 => allow connected
tcp ::ffff:198.51.100.10 80 => deny
tcpwait 198.51.100.10 22 => allow connected
# beta's segment beats alpha's broad "0.0.0.0/0 tcp 22", also as IPv4-mapped IPv6
tcp 203.0.113.10 22 => deny
tcp ::ffff:203.0.113.10 22 => deny
udpsend 203.0.113.10 53 => deny
# the shared service alpha lists
udp 10.0.0.53 53 => allow sent
tcpwait 10.0.0.53 53 => allow connected
tcp 10.0.0.53 54 => deny
# beta listens on 9090 here; the host on 9091
tcp 127.0.0.1 9090 => deny
tcp ::1 9090 => deny
tcpwait 127.0.0.1 9091 => allow connected
EOF

echo "== beta (enforce)"
expect "$NSH" "$CGB" <<'EOF'
tcpwait 198.51.100.10 8080 => allow connected
tcp 198.51.100.10 443 => deny
tcp 10.0.0.53 53 => deny
tcp 10.1.0.5 80 => deny
tcpwait 203.0.113.10 22 => allow connected
EOF

echo "== a cgroup created below a tenant cgroup after the policy is covered"
mkdir "$CGA/late"
expect "$NSH" "$CGA/late" <<'EOF'
tcp 198.51.100.10 444 => deny
tcpwait 198.51.100.10 443 => allow connected
EOF

echo "== host processes (outside every tenant): default allow"
expect "$NSH" - <<'EOF'
tcpwait 198.51.100.10 444 => allow
tcpwait 203.0.113.10 22 => allow connected
ping 192.0.2.2 => allow reply
ping fd00:2::2 => allow reply
udpsend 203.0.113.10 53 => allow sent
EOF

echo "== events and counters"
wait_audit egress.denied '"dst": "203.0.113.10", "family": "ipv4", "hook": "connect", "mode": "enforce", "owner_tenant": "beta"'
wait_audit egress.denied '"reason": "deny_tenant_port"'
wait_audit egress.denied '"hook": "sendmsg"'
wait_audit egress.denied '"hook": "egress_packet"'
wait_audit egress.denied '"dst": "2001:db8::10", "family": "ipv6"'
wait_audit egress.denied '"dst": "fd00:2::2", "family": "ipv6", "hook": "egress_packet"'
ev=$(audit_events egress.denied | grep '"port": 444' | head -n 1)
assert_contains "$ev" '"comm": "enforce_probe"' "event names the command"
assert_contains "$ev" '"tenant": "alpha"' "event names the tenant"
assert_contains "$ev" '"proto": "tcp"' "event names the protocol"
assert_contains "$ev" '"uid": 0' "event names the uid"
assert_contains "$ev" '"pid": ' "event names the pid"
assert_contains "$ev" '"cgroup_id": ' "event names the cgroup"
assert_contains "$ev" '"reason": "deny_no_rule"' "event says why"
denied=$(status_counter alpha denied)
allowed=$(status_counter alpha allowed)
# one per refused connect/sendmsg/packet above: 18 for alpha, 1 for alpha/late
assert_eq "$denied" 19 "alpha denied counter"
[ "$allowed" -ge 10 ] || fail "alpha allowed counter is $allowed, expected at least 10"
ok "counters: alpha allowed=$allowed"

echo "== explain"
out=$(ctl explain --tenant alpha --dst 203.0.113.10:22/tcp)
assert_contains "$out" "deny_tenant_segment" "explain: segment"
assert_contains "$out" "owned by tenant beta" "explain: owner"
out=$(ctl explain --tenant alpha --dst '[2001:db8::10]:443/tcp')
assert_contains "$out" "allow_rule" "explain: IPv6 rule"
assert_contains "$out" "rule 102 of alpha: 2001:db8::/64 tcp" "explain: rule"
# explain asks the kernel (sock_diag) who owns a local port, in vigild's network namespace
hport=$((20000 + $$ % 20000))
serve - "$CGB" "tcp $hport"
out=$(ctl --json explain --tenant alpha --dst "127.0.0.1:$hport/tcp")
assert_contains "$out" '"verdict": "deny_tenant_port"' "explain: local port of beta (kernel state)"
out=$(ctl explain --tenant alpha --dst 10.0.0.53:53/udp)
assert_contains "$out" "allow_shared_service" "explain: shared service"
ctl explain --tenant nobody --dst 1.2.3.4 >/dev/null 2>&1 && fail "explain of an unknown tenant succeeded"
ok "explain refuses an unknown tenant"

echo "== audit mode: beta allowed, reported as would-deny"
push_bundle 3 --set "tenants=$(tenants audit)"
expect "$NSH" "$CGB" <<'EOF'
tcpwait 198.51.100.10 443 => allow connected
tcpwait 198.51.100.10 8080 => allow connected
EOF
wait_audit egress.would_deny '"dst": "198.51.100.10", "family": "ipv4", "hook": "connect", "mode": "audit"'
[ "$(status_counter beta would_deny)" -ge 1 ] || fail "beta would_deny counter did not move"
ok "beta would_deny counter: $(status_counter beta would_deny)"
expect "$NSH" "$CGA" <<'EOF'
tcp 198.51.100.10 444 => deny
EOF

echo "== one unconnected UDP socket: each datagram judged by the policy in force (sendmsg's stamp)"
count udp 5007 u5007 "$NSI" -
mkfifo "$T/keep.in"
probe "$NSH" "$CGA" --hold <"$T/keep.in" >"$T/keep.out" 2>&1 &
_enf_pids="$_enf_pids $!"
exec 7>"$T/keep.in"
# answers KEEP N: waits until the kept prober answered N requests
answers() {
	i=0
	until [ "$(grep -c . "$T/keep.out")" -ge "$1" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "the kept prober answered $(grep -c . "$T/keep.out") of $1: $(cat "$T/keep.out")"
		sleep 0.05
	done
}
for i in 1 2 3; do echo "udpkeep 198.51.100.10 5007" >&7; done
answers 3
arrives u5007 msgs 0 "alpha's datagrams from one socket"
# another destination from the same socket, then the first one again
echo "udpkeep 198.51.100.10 5011" >&7
echo "udpkeep 198.51.100.10 5007" >&7
answers 5
assert_eq "$(sed -n 4p "$T/keep.out")" deny "the kept socket's datagram to a port alpha may not reach"
assert_eq "$(sed -n 5p "$T/keep.out")" "allow sent" "the kept socket's datagram to the first destination again"
i=0
while [ "$(field u5007 msgs)" -lt 4 ]; do
	i=$((i + 1))
	[ $i -gt 40 ] && fail "alpha's 4 allowed datagrams did not all arrive: $(cat "$T/u5007")"
	sleep 0.05
done
b=$(field u5007 msgs)
push_bundle 4 --set "tenants=$(tenants audit | sed 's/"5000-5010"/"5000-5006"/')"
echo "udpkeep 198.51.100.10 5007" >&7
echo "udpkeep 198.51.100.10 5007" >&7
answers 7
assert_eq "$(sed -n 6p "$T/keep.out")$(sed -n 7p "$T/keep.out")" denydeny \
	"the kept socket's datagrams after the policy denied their destination"
unchanged u5007 msgs "$b" "alpha's datagrams from the kept socket after the policy denied them"
exec 7>&-
# both refused by the sendmsg hook itself (early EPERM, the process named): none reached the packet path
i=0
until [ "$(audit_events egress.denied | grep '"port": 5007' | grep -c '"hook": "sendmsg"')" -ge 2 ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "the kept socket's datagrams after the change were not both refused at sendmsg: $(audit_events egress.denied | grep '"port": 5007')"
	sleep 0.1
done
assert_eq "$(audit_events egress.denied | grep '"port": 5007' | grep -c '"hook": "egress_packet"')" 0 \
	"the kept socket's datagrams after the change are refused at sendmsg, not dropped later"
