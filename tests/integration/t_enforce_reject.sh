#!/bin/sh
# A bundle that cannot be enforced is rejected before anything changes: a bad
# CIDR (schema), and a policy larger than the configured map limit
# (enforce_max_entries). The running policy keeps enforcing throughout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"

CG=$(tenant_cgroup t1)
ip netns add "$NSH"
ip -n "$NSH" link set lo up
enforce_vigild "enforce_max_entries = 50"

# tenants N PORT: t1 with N rules (10.50.i.0/24 tcp 1000) and 10.9.0.0/24 tcp PORT
tenants() {
	python3 -c '
import json, sys
n, port, cg = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rules = [{"id": 100 + i, "cidr": "10.50.%d.0/24" % i, "proto": "tcp", "ports": ["1000"]} for i in range(n)]
rules.append({"id": 1, "cidr": "10.9.0.0/24", "proto": "tcp", "ports": [port]})
print(json.dumps([{"name": "t1", "id": 1, "mode": "enforce", "cgroups": [cg], "egress": rules}]))' "$1" "$2" "$CGREL/t1"
}
still_enforcing() {
	expect "$NSH" "$CG" <<'EOF2'
tcp 10.9.0.1 443 => allow Network is unreachable
tcp 10.9.0.1 80 => deny
tcp 10.50.3.1 1000 => allow Network is unreachable
EOF2
	assert_contains "$(ctl explain --tenant t1 --dst 10.9.0.1:80/tcp)" "policy version 2" "explain still runs version 2"
}
push_bundle 2 --set "tenants=$(tenants 10 443)"
still_enforcing

echo "== bad CIDR"
make_bundle "$T/bad.json" 3 --set "tenants=$(tenants 10 80)" --set 'tenants.0.egress.0.cidr="10.50.0.0/33"'
out=$(ctl policy push "$T/bad.json" 2>&1) && fail "a bundle with a bad CIDR was applied"
assert_contains "$out" "schema_bad_cidr" "bad CIDR refused"
assert_contains "$out" "tenants[0].egress[0].cidr" "the error names the JSON path"
still_enforcing

echo "== more entries than enforce_max_entries"
make_bundle "$T/big.json" 4 --set "tenants=$(tenants 60 80)"
out=$(ctl policy push "$T/big.json" 2>&1) && fail "a bundle over enforce_max_entries was applied"
assert_contains "$out" "enforce_too_large" "oversized policy refused"
assert_contains "$out" "more than 50 trie entries" "the error says which limit"
still_enforcing
assert_contains "$(ctl --json status)" '"version": 2' "policy version 2 still in force"

echo "== just under the limit is accepted"
push_bundle 5 --set "tenants=$(tenants 45 80)"
expect "$NSH" "$CG" <<'EOF2'
tcp 10.9.0.1 80 => allow Network is unreachable
tcp 10.9.0.1 443 => deny
EOF2
