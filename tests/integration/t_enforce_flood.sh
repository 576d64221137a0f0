#!/bin/sh
# A deny flood: beyond event_rate_limit per second the kernel samples events
# and counts every one it does not send. Nothing is lost silently: delivered
# audit events + events_dropped = denied.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"

CG=$(tenant_cgroup t1)
ip netns add "$NSH"
ip -n "$NSH" link set lo up
enforce_vigild "event_rate_limit = 50"
push_bundle 2 --set "tenants=[{\"name\": \"t1\", \"id\": 1, \"mode\": \"enforce\", \"cgroups\": [\"$CGREL/t1\"],
	\"egress\": [{\"id\": 10, \"cidr\": \"10.9.0.0/24\", \"proto\": \"tcp\", \"ports\": [\"443\"]}]}]"

N=5000
python3 -c "import sys; sys.stdout.write('tcp 10.9.0.1 80\n' * $N)" | probe "$NSH" "$CG" >"$T/flood.out"
assert_eq "$(grep -c '^deny' "$T/flood.out")" "$N" "every connect of the flood was denied"
assert_eq "$(status_counter t1 denied)" "$N" "denied counter"
dropped=$(status_counter t1 events_dropped)
[ "$dropped" -gt 0 ] || fail "no event was dropped: the flood was not sampled"
i=0
while :; do
	delivered=$(audit_events egress.denied | grep -c '"port": 80')
	[ $((delivered + dropped)) -ge "$N" ] && break
	i=$((i + 1))
	[ $i -gt 100 ] && break
	sleep 0.1
done
assert_eq "$((delivered + dropped))" "$N" "delivered ($delivered) + dropped ($dropped) = denied"
[ "$delivered" -ge 50 ] || fail "fewer events than the rate limit were delivered: $delivered"
sampled=$(audit_events egress.denied | grep -c '"sampled": true')
[ "$sampled" -gt 0 ] || fail "no delivered event is marked as sampled"
ok "$sampled delivered events are marked sampled"
