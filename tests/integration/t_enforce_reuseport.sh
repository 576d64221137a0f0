#!/bin/sh
# Loopback ownership holds for a SO_REUSEPORT group that spans tenants: the connect hook cannot
# know which member the kernel will pick for a SYN (it picks by the packet's addresses), so a
# tenant's connect to its own listener is not taken as judged for the packet path when another
# tenant's socket (same uid) joined the group: the packet path asks who receives each SYN, and the
# other tenant's member receives none of them (counted by that member), while the tenant's own
# member receives its share (the control).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"

ECHO="$ROOT/tests/integration/enforce_echo.py"
CG1=$(tenant_cgroup t1)
CG2=$(tenant_cgroup t2)
ip netns add "$NSH"
ip -n "$NSH" link set lo up
enforce_vigild "cgroup_root = $CGBASE"
push_bundle 2 --set 'tenants=[{"name": "t1", "id": 1, "mode": "enforce", "cgroups": ["/t1"],
	"egress": [{"id": 10, "cidr": "127.0.0.0/8", "proto": "tcp"}]},
	{"name": "t2", "id": 2, "mode": "enforce", "cgroups": ["/t2"],
	"egress": [{"id": 20, "cidr": "127.0.0.0/8", "proto": "tcp"}]}]'

# in_cg CGROUP CMD...: CMD in that cgroup and in $NSH
in_cg() {
	cg=$1
	shift
	(
		echo 0 >"$cg/cgroup.procs"
		exec nsenter --net="/run/netns/$NSH" "$@"
	)
}
# member CGROUP NAME PORTS: a member of the SO_REUSEPORT groups on 127.0.0.1:PORTS, its counts in $T/NAME
member() {
	in_cg "$1" python3 "$ECHO" serve tcp 127.0.0.1 "$3" "$T/$2" reuseport &
	_enf_pids="$_enf_pids $!"
	i=0
	until [ -s "$T/$2" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "group member $2 did not start"
		sleep 0.05
	done
}
# The connect hook's own lookup finds one member of a group (not by the SYN's addresses): where it
# finds the other tenant's, it refuses the connect outright, and the attack needs the groups where
# it finds the tenant's own. Which one it finds depends on the kernel's group order: new groups,
# bound in the other order, until t1's connects pass the hook somewhere.
round=0
while :; do
	round=$((round + 1))
	[ $round -gt 6 ] && fail "t1's connects never passed the connect hook: the evidence is broken"
	ports="$((2300 + round * 10 + 1))-$((2300 + round * 10 + 10))"
	if [ $((round % 2)) = 1 ]; then
		member "$CG2" other$round "$ports"
		member "$CG1" own$round "$ports"
	else
		member "$CG1" own$round "$ports"
		member "$CG2" other$round "$ports"
	fi
	got=$(in_cg "$CG1" python3 "$ECHO" connects tcp 127.0.0.1 "$ports" 8)
	sleep 0.5
	echo "  round $round, ports $ports: t1's $got, t2's member: $(cat "$T/other$round")"
	assert_eq "$(field other$round conns)" 0 "t2's member of the groups received none of t1's connections"
	[ "$(field own$round conns)" -gt 0 ] && break
done
ok "t1's own member received $(field own$round conns) of t1's connections (the control)"
