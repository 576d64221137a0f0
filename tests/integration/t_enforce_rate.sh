#!/bin/sh
# connect_rate: a tenant opening connections as fast as it can gets burst +
# per_second * t of them through, counted at the receiver; the refusals are
# counted and evented; another tenant and the host connect unhindered at the
# same time; an audit-mode tenant gets everything through and would_deny
# counted; kill -9 vigild, a restart and a policy swap neither lift the limit
# nor refill the bucket. Bounds are exact at the top (the bucket cannot give
# more than burst + per_second * elapsed) and loose at the bottom (a loaded
# machine may schedule the flooder late).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"

RATE=20
BURST=200
DST=198.51.100.10
CG1=$(tenant_cgroup t1)
CG2=$(tenant_cgroup t2)
CG3=$(tenant_cgroup t3)
make_topology
enforce_vigild
tenant() { # NAME ID MODE RATE: a tenant allowed to reach $DST, with connect_rate RATE (or none: -)
	rate=""
	[ "$4" = - ] || rate=", \"connect_rate\": $4"
	printf '{"name": "%s", "id": %s, "mode": "%s", "cgroups": ["%s/%s"], "egress": [{"id": %s0, "cidr": "%s/32"}]%s}' \
		"$1" "$2" "$3" "$CGREL" "$1" "$2" "$DST" "$rate"
}
TENANTS="[$(tenant t1 1 enforce "{\"per_second\": $RATE, \"burst\": $BURST}"),
	$(tenant t2 2 enforce '{"per_second": 1000, "burst": 5000}'), $(tenant t3 3 audit '{"per_second": 5, "burst": 20}')]"
push_bundle 2 --set "tenants=$TENANTS"
for p in 8081 8082 8083 8084; do count tcp $p "recv$p" "$NSI" -; done
count udp 8091 udp8091 "$NSI" -
count udp 8092 udp8092 "$NSI" -

# explain says the tenant has a rate
ctl explain --tenant t1 --dst "$DST:8081" | grep -q "limited to $RATE/s, burst $BURST" ||
	fail "explain does not show t1's connect_rate: $(ctl explain --tenant t1 --dst "$DST:8081")"
ok "explain shows t1's connect_rate"

# flood CGROUP PROTO PORT MS: the flooder's answer line
flood() { echo "flood $2 $DST $3 $4" | probe "$NSH" "$1" | tail -n 1; }
# at_receiver NAME WANT: waits until the receiver counted WANT connections
at_receiver() {
	i=0
	while [ "$(field "$1" conns)" != "$2" ]; do
		i=$((i + 1))
		[ $i -gt 60 ] && fail "$1: the receiver counted $(field "$1" conns) connections, the sender made $2"
		sleep 0.05
	done
}
# within LABEL N MS: burst + rate * MS/1000 >= N >= burst + rate * MS/2000 (only the top is exact,
# one token for rounding, one for the ms the flooder prints rounded)
within() {
	hi=$(($BURST + $RATE * $3 / 1000 + 2))
	lo=$(($BURST + $RATE * $3 / 2000))
	[ "$2" -le "$hi" ] || fail "$1: $2 connections in $3 ms, more than burst + rate * t = $hi: not limited"
	[ "$2" -ge "$lo" ] || fail "$1: only $2 connections in $3 ms, fewer than $lo: limited beyond the rate"
	ok "$1: $2 connections in $3 ms (limit $hi)"
}

# A flood that was refused at its end left t1's bucket empty (less than one token) at its end_ns,
# on the kernel's clock: mark RESULT remembers that; since_mark RESULT is the most the bucket can
# have given by the end of the next flood (plus one token for rounding).
mark() {
	[ "$(word "$1" denied)" -gt 0 ] || fail "t1's flood was never refused, its bucket may not be empty: $1"
	T_MARK=$(word "$1" end_ns)
}
since_mark() { echo $(($RATE * (($(word "$1" end_ns) - T_MARK) / 1000000) / 1000 + 2)); }

echo "== t1 floods while t2 and the host connect"
# 600 connections each: more than t1's bucket can give in the same seconds
# (a generous handshake wait: a busy receiver's full backlog costs a SYN retransmit, not a failure)
python3 -c "import sys; sys.stdout.write('tcpwait $DST 8082\n' * 600)" | probe "$NSH" "$CG2" --wait-ms 10000 >"$T/t2.out" &
t2pid=$!
python3 -c "import sys; sys.stdout.write('tcpwait $DST 8083\n' * 600)" | probe "$NSH" - --wait-ms 10000 >"$T/host.out" &
hostpid=$!
r1=$(flood "$CG1" tcp 8081 2000)
wait $t2pid $hostpid
a1=$(word "$r1" allowed)
d1=$(word "$r1" denied)
[ "$(word "$r1" other)" = 0 ] || fail "t1: connections failed for another reason: $r1"
within "t1 (enforce, $RATE/s burst $BURST)" "$a1" "$(word "$r1" ms)"
mark "$r1"
at_receiver recv8081 "$a1"
ok "the receiver counted exactly the $a1 connections t1 made"
[ "$d1" -gt "$a1" ] || fail "t1 was refused only $d1 times: the flood did not exceed the rate"
assert_eq "$(grep -c '^allow connected' "$T/t2.out")" 600 "t2 (its own bucket) connected every time"
assert_eq "$(grep -c '^allow connected' "$T/host.out")" 600 "the host connected every time"
at_receiver recv8082 600
at_receiver recv8083 600
ok "t2's and the host's 600 connections each arrived"
assert_eq "$(status_counter t1 rate_limited)" "$d1" "t1 rate_limited counts every refusal"
assert_eq "$(status_counter t1 denied)" "$d1" "t1 denied counts them too"
assert_eq "$(status_counter t2 rate_limited)" 0 "t2 was never limited"
wait_audit egress.denied '"reason": "deny_connect_rate"'
[ "$(audit_events egress.denied | grep '"deny_connect_rate"' | grep -c '"tenant": "t1"')" -gt 0 ] ||
	fail "the rate events do not name t1"
ctl --json status | python3 -c '
import json, sys
t = json.load(sys.stdin)["modules"]["enforce"]["tenants"]
c = t["t1"]["connect_rate"]
assert c["per_second"] == int(sys.argv[1]) and c["burst"] == int(sys.argv[2]), c
assert "connect_rate" not in t.get("t0", {}), t' "$RATE" "$BURST" || fail "status does not show t1's connect_rate"
ok "status shows t1's connect_rate"

echo "== UDP: a datagram to a new destination and a connect are new connections, a flow is not"
r=$(flood "$CG1" udpsend 8091 1000)
lim=$(since_mark "$r")
a=$(word "$r" allowed)
[ "$a" -le "$lim" ] || fail "t1 udpsend: $a datagrams from new sockets in 1 s (limit $lim): not limited ($r)"
[ "$(word "$r" denied)" -gt 0 ] || fail "t1 udpsend: nothing refused ($r)"
i=0
while [ $(($(field udp8091 msgs) + $(field udp8092 msgs))) != "$a" ]; do
	i=$((i + 1))
	[ $i -gt 60 ] && fail "udp receivers got $(field udp8091 msgs) + $(field udp8092 msgs), the sender sent $a"
	sleep 0.05
done
ok "t1 udpsend: $a datagrams from new sockets arrived (limit $lim), $(word "$r" denied) refused"
mark "$r"
before=$(field udp8091 msgs)
r=$(flood "$CG1" udpflow 8091 300)
a=$(word "$r" allowed)
# one token (waited for at most 1/RATE s) admits the flow's destination, then every datagram goes;
# the receiver may drop some of a flood this fast, but gets far more than the bucket could admit
i=0
while [ $(($(field udp8091 msgs) - before)) -le $((RATE * 10)) ]; do
	i=$((i + 1))
	[ $i -gt 60 ] && fail "t1 udpflow: the receiver got $(($(field udp8091 msgs) - before)) datagrams of one flow ($r)"
	sleep 0.05
done
ok "t1 udpflow: one socket to one destination is one connection: $(($(field udp8091 msgs) - before)) datagrams arrived ($r)"

before=$(($(field udp8091 msgs) + 0))
r=$(flood "$CG1" udp 8091 1000)
lim=$(since_mark "$r")
a=$(word "$r" allowed)
[ "$a" -le "$lim" ] || fail "t1 connected UDP: $a connects in 1 s (limit $lim): not limited ($r)"
i=0
while [ $(($(field udp8091 msgs) - before)) -lt "$a" ]; do
	i=$((i + 1))
	[ $i -gt 60 ] && fail "udp receiver got $(($(field udp8091 msgs) - before)), the sender connected and sent $a"
	sleep 0.05
done
ok "t1 connected UDP: $a connects arrived (limit $lim), $(word "$r" denied) refused"
mark "$r"

echo "== audit mode: everything through, would_deny counted"
r3=$(flood "$CG3" tcp 8084 1500)
a3=$(word "$r3" allowed)
cap3=$((20 + 5 * ($(word "$r3" ms) + 999) / 1000 + 1))
assert_eq "$(word "$r3" denied)" 0 "t3 (audit, 5/s burst 20) was refused nothing"
[ "$a3" -gt $((2 * cap3)) ] || fail "t3 made only $a3 connections: cannot tell audit from enforce ($r3)"
at_receiver recv8084 "$a3"
w3=$(status_counter t3 rate_would_limit)
[ "$w3" -ge $((a3 - cap3)) ] || fail "t3: rate_would_limit $w3 for $a3 connections (at most $cap3 within the rate)"
assert_eq "$(status_counter t3 would_deny)" "$w3" "t3 would_deny counts the connections beyond the rate"
assert_eq "$(status_counter t3 denied)" 0 "t3 denied"
wait_audit egress.would_deny '"reason": "deny_connect_rate"'
ok "t3: $a3 connections arrived, $w3 counted as beyond the rate"

echo "== kill -9 vigild: still limited"
# empty t1's bucket first (datagrams are fast: it is empty well before the second ends)
mark "$(flood "$CG1" udpsend 8091 1000)"
kill -9 "$VIGILD_PID"
wait "$VIGILD_PID" 2>/dev/null || true
VIGILD_PID=""
rm -f "$T/run/vigil.sock"
r=$(flood "$CG1" tcp 8081 1000)
lim=$(since_mark "$r")
a=$(word "$r" allowed)
[ "$a" -le "$lim" ] || fail "vigild down: t1 made $a connections in 1 s (limit $lim): not limited ($r)"
ok "vigild down: t1 made $a connections (limit $lim), $(word "$r" denied) refused"

echo "== restart and a policy swap: the bucket is not refilled"
mark "$(flood "$CG1" udpsend 8091 500)"
start_vigild
push_bundle 3 --set "tenants=$TENANTS"
r=$(flood "$CG1" tcp 8081 1000)
lim=$(since_mark "$r")
a=$(word "$r" allowed)
# a reset bucket would give BURST at once
[ "$lim" -lt "$BURST" ] || skip "restart and swap took too long to tell a refilled bucket from a kept one"
[ "$a" -le "$lim" ] || fail "after restart and swap: t1 made $a connections (limit $lim): the bucket was reset ($r)"
ok "after restart and swap: t1 made $a connections (limit $lim, a reset bucket gives $BURST)"
