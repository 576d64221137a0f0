#!/bin/sh
# One cgroup, one tenant: a second tenant naming an enforce-mode tenant's
# cgroup in another spelling ("/a/", "/a/.", "//a", "/x/../a"), or a cgroup
# inside it, would take its processes over (the deepest listed cgroup
# governs) and turn enforce into audit. Each such bundle is refused with the
# JSON path and both tenants named, and the running policy keeps denying.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"

CG=$(tenant_cgroup alpha)
mkdir -p "$CG/sub"
ip netns add "$NSH"
ip -n "$NSH" link set lo up
enforce_vigild

# tenants BETA_CGROUP: alpha enforces (10.9.0.0/24 tcp 443 only); beta audits
tenants() {
	cat <<EOT
[{"name": "alpha", "id": 1, "mode": "enforce", "cgroups": ["$CGREL/alpha"],
  "egress": [{"id": 1, "cidr": "10.9.0.0/24", "proto": "tcp", "ports": ["443"]}]},
 {"name": "beta", "id": 2, "mode": "audit", "cgroups": ["$1"]}]
EOT
}
# alpha's processes, also in a cgroup below alpha's, are still denied by version 2
still_enforcing() {
	for cg in "$CG" "$CG/sub"; do
		expect "$NSH" "$cg" <<'EOT'
tcp 10.9.0.1 443 => allow Network is unreachable
tcp 10.9.0.1 80 => deny
EOT
	done
}
mkdir -p "$CGBASE/beta"
push_bundle 2 --set "tenants=$(tenants "$CGREL/beta")"
still_enforcing

v=3
for alias in "$CGREL/alpha/" "$CGREL//alpha" "$CGREL/alpha/." "$CGREL/./alpha" "$CGREL/beta/../alpha" \
	"$CGREL/alpha/sub" "$CGREL" "/"; do
	echo "== beta claims \"$alias\""
	make_bundle "$T/alias-$v.json" $v --set "tenants=$(tenants "$alias")"
	out=$(ctl policy push "$T/alias-$v.json" 2>&1) && fail "beta (audit) was given alpha's cgroup as \"$alias\""
	assert_contains "$out" "tenants[1].cgroups[0]" "refused, naming the JSON path: $out"
	still_enforcing
	v=$((v + 1))
done
assert_contains "$(ctl --json status)" '"version": 2' "policy version 2 still in force"

echo "== the same cgroup twice in the canonical spelling names both tenants"
make_bundle "$T/dup.json" $v --set "tenants=$(tenants "$CGREL/alpha")"
out=$(ctl policy push "$T/dup.json" 2>&1) && fail "two tenants on one cgroup were applied"
assert_contains "$out" '"alpha"' "names the first tenant"
assert_contains "$out" '"beta"' "names the second tenant"
assert_contains "$out" "tenants[0].cgroups[0]" "names the first tenant's JSON path"
still_enforcing
