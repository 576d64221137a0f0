#!/bin/sh
# explain agrees with the kernel: 2000 random (tenant, destination, port,
# protocol) samples against a random policy with nested CIDRs, segments and
# shared services; each is tried with a real connect (TCP, connected UDP) in
# a namespace with only loopback, where "allowed" shows as ENETUNREACH and
# "denied" as EPERM, and compared with vigild's explain.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"

RND="$ROOT/tests/integration/enforce_random.py"
SEED=${ENFORCE_SEED:-20261123}
for t in t1 t2 t3; do tenant_cgroup $t >/dev/null; done
ip netns add "$NSH"
ip -n "$NSH" link set lo up
enforce_vigild

python3 "$RND" policy "$SEED" "$CGREL" "$T"
python3 "$RND" samples "$SEED" 2000 "$T"
push_bundle 2 --set "tenants=$(cat "$T/tenants.json")" --set "shared_services=$(cat "$T/shared.json")" \
	--set 'host={"mode": "enforce", "default": "allow", "egress": []}'
for t in t1 t2 t3; do
	probe "$NSH" "$CGBASE/$t" <"$T/$t.req" >"$T/$t.out"
	[ "$(wc -l <"$T/$t.out")" = "$(wc -l <"$T/$t.req")" ] || fail "the prober for $t stopped early"
done
python3 "$RND" compare "$T/run/vigil.sock" "$T" || fail "explain and the kernel disagree (seed $SEED)"
ok "explain agrees with the kernel on every sample (seed $SEED)"
