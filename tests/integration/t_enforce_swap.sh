#!/bin/sh
# Atomic policy swap: a connect storm from a tenant while vigild alternates
# between two bundles. Each bundle allows X1 and denies X2 through different
# rules and CIDRs (a half-applied policy would flip them); X3 changes between
# the two and proves the swaps happened during the storm.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"

CG=$(tenant_cgroup t1)
ip netns add "$NSH"
ip -n "$NSH" link set lo up
# few events: this test is about policy, not about the audit trail
enforce_vigild "event_rate_limit = 10"

# template for bundle A or B: 3000 filler /32 rules each, then the rules that matter
gen_template() {
	python3 - "$1" "$CGREL" "$ROOT/examples/bundle.json" <<'PY'
import json, sys
which, cgrel, example = sys.argv[1], sys.argv[2], sys.argv[3]
rules = [{"id": 10000 + i, "cidr": "10.200.%d.%d/32" % (i // 250, i % 250 + 1), "proto": "tcp", "ports": ["1000"]}
         for i in range(3000)]
if which == "A":
    rules += [{"id": 1, "cidr": "10.9.0.0/24", "proto": "tcp", "ports": ["443"]},
              {"id": 2, "cidr": "10.9.2.0/24", "proto": "tcp", "ports": ["22"]}]
else:
    rules += [{"id": 3, "cidr": "10.9.0.0/16", "proto": "tcp", "ports": ["400-500"]},
              {"id": 4, "cidr": "10.9.1.0/24", "proto": "tcp", "ports": ["81"]}]
b = json.load(open(example))
b["tenants"] = [{"name": "t1", "id": 1, "mode": "enforce", "cgroups": [cgrel + "/t1"], "segments": [],
                 "egress": rules, "shared": []}]
print(json.dumps(b))
PY
}
gen_template A >"$T/A.json"
gen_template B >"$T/B.json"
v=2
while [ $v -le 17 ]; do
	[ $((v % 2)) = 0 ] && which=A || which=B
	make_bundle "$T/bundle-$v.json" "$v" --from "$T/$which.json"
	v=$((v + 1))
done
ctl policy push "$T/bundle-2.json" >/dev/null || fail "first bundle refused"

# the storm: X1, X2, X3 over and over until $T/stop exists (at most 90 s)
python3 -c '
import os, sys, time
chunk = ("tcp 10.9.0.1 443\ntcp 10.9.1.1 80\ntcp 10.9.2.1 22\n" * 2000).encode()
end = time.time() + 90
while not os.path.exists(sys.argv[1]) and time.time() < end:
    sys.stdout.buffer.write(chunk)
    sys.stdout.flush()
' "$T/stop" | probe "$NSH" "$CG" >"$T/storm.out" &
STORM=$!
# on any exit the writer stops, and the prober ends at end of input
on_exit "touch $T/stop"
_enf_pids="$_enf_pids $STORM"
i=0
until [ -s "$T/storm.out" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "the storm did not start"
	sleep 0.1
done
v=3
while [ $v -le 17 ]; do
	ctl policy push "$T/bundle-$v.json" >/dev/null || fail "bundle $v refused"
	v=$((v + 1))
done
touch "$T/stop"
wait "$STORM"
awk '
NR % 3 == 1 && !/^allow/ { bad1++ }
NR % 3 == 2 && !/^deny/ { bad2++ }
NR % 3 == 0 && /^allow/ { a3++ }
NR % 3 == 0 && /^deny/ { d3++ }
END {
	printf "%d connects: X1 not allowed %d, X2 not denied %d, X3 allowed %d denied %d\n", NR, bad1, bad2, a3, d3
	exit (bad1 || bad2 || !a3 || !d3)
}' "$T/storm.out" || fail "a connect saw a mixed policy, or no swap happened during the storm"
ok "every connect saw either the whole old or the whole new policy across 15 swaps"
