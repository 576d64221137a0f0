#!/bin/sh
# Pinned enforcement outlives vigild: kill -9 keeps it enforcing (events wait
# in the pinned ring buffer), a restart re-adopts the pins without attaching
# anything twice, and "vigilctl unload" (admin only) leaves nothing behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"

CG=$(tenant_cgroup t1)
ip netns add "$NSH"
ip -n "$NSH" link set lo up
enforce_vigild
push_bundle 2 --set "tenants=[{\"name\": \"t1\", \"id\": 1, \"mode\": \"enforce\", \"cgroups\": [\"$CGREL/t1\"],
	\"egress\": [{\"id\": 10, \"cidr\": \"10.9.0.0/24\", \"proto\": \"tcp\", \"ports\": [\"443\"]}]}]"

# lo only: an allowed connect fails with ENETUNREACH, a denied one with EPERM
expect "$NSH" "$CG" <<'EOF2'
tcp 10.9.0.1 443 => allow Network is unreachable
tcp 10.9.0.1 80 => deny
EOF2
links=$(pinned_link_ids)
attached=$(attached_vigil_progs)
attached_t=$(attached_vigil_progs "$CG")
# 8 socket-address programs at the cgroup root, the 2 per-socket ones at the tenant cgroup (the host
# has no policy of its own), plus the BPF LSM one where the kernel runs it
nlinks=10
[ -e "$BPFFS/link_vg_lsm_socket_create" ] && nlinks=11
[ "$(echo $links | wc -w)" = $nlinks ] || fail "expected $nlinks pinned links, have: $links"
[ "$(echo $attached | wc -w)" -ge 8 ] || fail "expected the 8 socket-address programs attached at $CGROOT, have: $attached"
for p in vg_sock_create vg_skb_egress; do
	id=$(bpftool -j prog show pinned "$BPFFS/prog_$p" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	case " $attached " in *" $p:$id "*) fail "$p ($id) is attached at $CGROOT: $attached" ;; esac
	case " $attached_t " in *" $p:$id "*) ;; *) fail "$p ($id) is not attached at $CG: $attached_t" ;; esac
done
[ "$(echo $attached_t | wc -w)" = 2 ] || fail "expected vg_sock_create and vg_skb_egress attached at $CG, have: $attached_t"
ok "$nlinks links pinned and attached: $links (at the tenant cgroup: $attached_t)"

echo "== kill -9 vigild: enforcement continues"
kill -9 "$VIGILD_PID"
wait "$VIGILD_PID" 2>/dev/null || true
VIGILD_PID=""
rm -f "$T/run/vigil.sock"
expect "$NSH" "$CG" <<'EOF2'
tcp 10.9.0.1 443 => allow Network is unreachable
tcp 10.9.0.1 81 => deny
EOF2

echo "== restart: re-adopted, nothing attached twice"
start_vigild
i=0
until ctl --json status 2>/dev/null | grep -q '"adopted": true'; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "vigild did not re-adopt the pins: $(ctl --json status 2>&1 | grep -A6 '"enforce"')"
	sleep 0.1
done
ok "vigild says it re-adopted the pins"
assert_eq "$(pinned_link_ids)" "$links" "the same links are pinned"
assert_eq "$(attached_vigil_progs)" "$attached" "the same programs are attached, once"
assert_eq "$(attached_vigil_progs "$CG")" "$attached_t" "the same per-socket programs are attached at the tenant cgroup, once"
# the deny of port 81 happened while vigild was dead: its event waited in the ring buffer
wait_audit egress.denied '"port": 81'
expect "$NSH" "$CG" <<'EOF2'
tcp 10.9.0.1 443 => allow Network is unreachable
tcp 10.9.0.1 80 => deny
EOF2

echo "== unload: admin only, audited, leaves nothing"
if command -v setpriv >/dev/null; then
	# let uid 65534 reach the socket, so that vigild itself must refuse
	chmod 755 "$T" "$T/run"
	chmod 666 "$T/run/vigil.sock"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$VIGILCTL" -s "$T/run/vigil.sock" unload >"$T/nobody.out" 2>&1 &&
		fail "unload by an unprivileged user succeeded"
	[ "$(echo $(pinned_link_ids) | wc -w)" = $nlinks ] || fail "an unprivileged unload removed pins"
	assert_contains "$(cat "$T/nobody.out")" "permission_denied" "unload by uid 65534 refused by vigild"
fi
out=$(ctl unload) || fail "unload failed: $out"
assert_contains "$out" "unloaded" "unload reports"
[ -e "$BPFFS" ] && fail "pins remain: $(ls "$BPFFS")"
ok "nothing left under $BPFFS"
for id in $links; do
	bpftool link show id "$id" >/dev/null 2>&1 && fail "link $id still exists"
done
ok "links $links are gone"
# the kernel releases a link after its last pin goes, possibly from a work queue: allow it a moment
i=0
while :; do
	left="$(attached_vigil_progs) $(attached_vigil_progs "$CG")"
	still=""
	for a in $attached $attached_t; do
		case " $left " in *" $a "*) still="$still $a" ;; esac
	done
	[ -z "$still" ] && break
	i=$((i + 1))
	[ $i -gt 40 ] && fail "$still still attached at $CGROOT"
	sleep 0.05
done
ok "no program of this vigild is attached at $CGROOT or $CG"
expect "$NSH" "$CG" <<'EOF2'
tcp 10.9.0.1 80 => allow Network is unreachable
EOF2
wait_audit enforce.unloaded '"complete": true'
assert_contains "$(ctl --json status)" '"state": "unloaded"' "status says unloaded"
