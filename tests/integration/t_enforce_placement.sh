#!/bin/sh
# Where the per-socket programs (sock_create, the packet program) run: at each tenant cgroup
# while the host allows everything, so that processes outside every tenant pay nothing for
# them; at the cgroup root (here vigild's cgroup_root, a private cgroup) while the host has a
# policy of its own, never at both. They follow a policy change both ways and a tenant cgroup
# created again, and tenant and host stay judged through every move.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"

CG=$(tenant_cgroup t1)
HOSTCG=$(tenant_cgroup h)
ip netns add "$NSH"
ip -n "$NSH" link set lo up
enforce_vigild "cgroup_root = $CGBASE"
TENANT='[{"name": "t1", "id": 1, "mode": "enforce", "cgroups": ["/t1"],
	"egress": [{"id": 10, "cidr": "10.9.0.0/24", "proto": "tcp", "ports": ["443"]}]}]'
# not naming the loopback: the host's receiver answers the tenant's flows (replies are not egress decisions)
HOST_DENY='{"mode": "enforce", "default": "deny", "egress": [{"id": 20, "cidr": "10.8.0.0/24", "proto": "tcp"}]}'

# our per-socket programs attached at cgroup $1, as "name" words (ids from our pinned programs)
ours_at() {
	attached=$(attached_vigil_progs "$1")
	for p in vg_sock_create vg_skb_egress; do
		id=$(bpftool -j prog show pinned "$BPFFS/prog_$p" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
		case " $attached " in *" $p:$id "*) printf '%s ' "$p" ;; esac
	done
}
placed() { # placed WHERE: the two programs at WHERE (tenant|root), none at the other
	t=$(ours_at "$CG")
	r=$(ours_at "$CGBASE")
	case $1 in
	tenant) [ "$t" = "vg_sock_create vg_skb_egress " ] && [ -z "$r" ] ;;
	root) [ "$r" = "vg_sock_create vg_skb_egress " ] && [ -z "$t" ] ;;
	esac || fail "expected the per-socket programs at the $1 cgroup only; tenant: '$t', root: '$r'"
	ok "per-socket programs at the $1 cgroup only"
}
TENANT_LO='[{"name": "t1", "id": 1, "mode": "enforce", "cgroups": ["/t1"],
	"egress": [{"id": 10, "cidr": "10.9.0.0/24", "proto": "tcp", "ports": ["443"]},
		{"id": 11, "cidr": "127.0.0.0/8", "proto": "tcp"}]}]'
V=2
push() { push_bundle $V "$@"; V=$((V + 1)); }
# cut [HOST]: a flow of the tenant's (to a receiver of the host's on the loopback, one per round so
# that an earlier round's retransmissions count nowhere) delivers, then a policy without its rule
# is pushed: the packet program, wherever it runs, drops its next data
cut() {
	P=$((8050 + V))
	count tcp $P c$P "$NSH" "$HOSTCG"
	push --set "tenants=$TENANT_LO" ${1:+--set "host=$1"}
	mkfifo "$T/held$V.in"
	probe "$NSH" "$CG" --hold <"$T/held$V.in" >"$T/held$V.out" 2>&1 &
	_enf_pids="$_enf_pids $!"
	exec 7>"$T/held$V.in"
	b=$(field c$P bytes)
	echo "open tcp 127.0.0.1 $P" >&7
	# the connect's answer first: the receiver's count is then the data's alone to change
	i=0
	until [ -s "$T/held$V.out" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "the tenant's connect did not answer"
		sleep 0.05
	done
	assert_eq "$(cat "$T/held$V.out")" "allow connected" "the tenant's flow is connected"
	echo "send" >&7
	arrives c$P bytes "$b" "the tenant's flow before the change"
	b=$(field c$P bytes)
	push --set "tenants=$TENANT" ${1:+--set "host=$1"}
	echo "send" >&7
	unchanged c$P bytes "$b" "the tenant's flow after the policy denied it"
	exec 7>&-
}
judged() {
	expect "$NSH" "$CG" <<'EOF2'
tcp 10.9.0.1 443 => allow Network is unreachable
tcp 10.9.0.1 80 => deny
tcp 10.8.0.1 443 => deny
EOF2
}

echo "== the host allows everything: at the tenant cgroup"
cut
placed tenant
judged
expect "$NSH" "$HOSTCG" <<'EOF2'
tcp 10.9.0.1 80 => allow Network is unreachable
EOF2

echo "== the host has a policy: at the root, once"
cut "$HOST_DENY"
placed root
judged
expect "$NSH" "$HOSTCG" <<'EOF2'
tcp 10.8.0.1 443 => allow Network is unreachable
tcp 10.9.0.1 80 => deny
EOF2
# the host's sockets get a record at socket() again: a packet event names its creator
[ "$(ls "$BPFFS" | grep -c '^link_vg_skb_egress')" = 1 ] || fail "packet program links: $(ls "$BPFFS")"
ok "one packet program link"

echo "== back to a host that allows everything"
cut
placed tenant
judged
expect "$NSH" "$HOSTCG" <<'EOF2'
tcp 10.9.0.1 80 => allow Network is unreachable
EOF2

echo "== the tenant cgroup created again: the programs follow it"
old=$(stat -c %i "$CG")
# the held flows' probers go first: a cgroup with processes cannot be removed
for p in $(cat "$CG/cgroup.procs"); do kill "$p"; done
i=0
until rmdir "$CG" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 50 ] && fail "cannot remove $CG: $(cat "$CG/cgroup.procs")"
	sleep 0.1
done
mkdir "$CG"
new=$(stat -c %i "$CG")
i=0
until [ -e "$BPFFS/link_vg_skb_egress_cg$new" ] && [ ! -e "$BPFFS/link_vg_skb_egress_cg$old" ]; do
	i=$((i + 1))
	[ $i -gt 50 ] && fail "links did not follow cgroup $old -> $new: $(ls "$BPFFS")"
	sleep 0.1
done
placed tenant
judged
