#!/bin/sh
# Monitoring (docs/monitoring.md): the textfile node_exporter reads and the
# loopback HTTP endpoint pass `promtool check metrics` and count what really
# happened in the kernel (a denied connect from a tenant cgroup); the endpoint
# refuses non-loopback addresses; no file is written where its directory is
# absent; the shipped alert rules pass their promtool unit tests; the dashboard
# only queries documented metrics; vigilctl metrics and top work off a terminal.
. "$(dirname "$0")/lib.sh"
need_root
command -v promtool >/dev/null || fail "promtool missing (package prometheus, packaging/deps/core.txt)"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$CGROOT" ] || skip "no cgroup v2 mounted"
CG="$CGROOT/vigil-metrics-$$"
mkdir -p "$CG/payments" "$CG/analytics"
on_exit "rmdir $CG/payments $CG/analytics $CG; rm -rf /sys/fs/bpf/vigil-test-$$"
DOCS="$ROOT/docs/monitoring"

# 1. the shipped rules and their unit tests
promtool check rules "$DOCS/vigil-alerts.yml" >/dev/null || fail "promtool check rules"
(cd "$DOCS" && promtool test rules vigil-alerts.test.yml) >"$T/rules.out" 2>&1 || { cat "$T/rules.out"; fail "promtool test rules"; }
ok "alert rules pass promtool check and their unit tests"

# 2. the dashboard is JSON and queries only metrics the docs define
python3 - "$DOCS/vigil-dashboard.json" "$ROOT/docs/monitoring.md" <<'PY' || fail "dashboard"
import json, re, sys
d = json.load(open(sys.argv[1]))
documented = set(re.findall(r"^\| `(vigil_[a-z_]+)`", open(sys.argv[2]).read(), re.M))
used = set()
for p in d["panels"]:
    for t in p.get("targets", []):
        used |= set(re.findall(r"\bvigil_[a-z_]+", t["expr"]))
unknown = used - documented
assert not unknown, "dashboard queries undocumented metrics: %s" % sorted(unknown)
assert len(used) >= 10, used
PY
ok "dashboard queries documented metrics only"

# 3. a non-loopback endpoint is refused with the reason
make_keys
write_config "metrics_listen = 0.0.0.0:9477"
"$VIGILD" -c "$T/vigild.conf" --foreground >"$T/bad.log" 2>&1 &
bad=$!
i=0
while kill -0 $bad 2>/dev/null && ! grep -q "not a loopback address" "$T/bad.log"; do
	i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
done
kill $bad 2>/dev/null || true; wait $bad 2>/dev/null || true
assert_contains "$(cat "$T/bad.log")" "is not a loopback address" "0.0.0.0 refused for metrics_listen"

# 4. the real thing: enforcement on, a tenant connects, the metrics count it
port=$((20000 + $$ % 20000))
allowed=$((port + 1)) denied=$((port + 2))
rm -rf "$T/state" "$T/run"
write_config "metrics_textfile = $T/prom/vigil.prom" "metrics_interval_s = 1" "metrics_listen = 127.0.0.1:$port"
sed -i 's/^enforce = false$/enforce = true/' "$T/vigild.conf"
mkdir -p "$T/prom"
start_vigild
make_bundle "$T/b.json" 3 --set "tenants.0.cgroups=[\"${CG#$CGROOT}/payments\"]" \
	--set "tenants.1.cgroups=[\"${CG#$CGROOT}/analytics\"]" \
	--set "tenants.0.egress=[{\"id\": 100, \"cidr\": \"127.0.0.1/32\", \"proto\": \"tcp\", \"ports\": [\"$allowed\"]}]"
ctl policy push "$T/b.json" >/dev/null || fail "push"
python3 -c '
import socket, sys, time
ls = []
for p in sys.argv[1:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(p))); s.listen(16); ls.append(s)
time.sleep(60)' "$allowed" "$denied" &
lpid=$!
on_exit "kill $lpid"
sleep 0.5
res=$(sh -c "echo \$\$ > $CG/payments/cgroup.procs; exec python3 -c '
import socket, sys
for p in sys.argv[1:]:
    s = socket.socket()
    try:
        s.connect((\"127.0.0.1\", int(p))); print(p, \"connected\")
    except OSError as e:
        print(p, \"refused\")
    s.close()
' $allowed $denied")
assert_contains "$res" "$denied refused" "the tenant's connect to a port outside its allowlist is refused"
assert_contains "$res" "$allowed connected" "the allowed connect goes through"

# the textfile: rewritten within a few intervals with the counts
i=0
until grep -q 'vigil_egress_denied_total{tenant="payments",mode="enforce"} 1$' "$T/prom/vigil.prom" 2>/dev/null; do
	i=$((i + 1)); [ $i -gt 100 ] && { cat "$T/prom/vigil.prom" 2>&1 | head -80; fail "textfile never counted the denied connect"; }
	sleep 0.1
done
ok "textfile counts the denied connect"
promtool check metrics <"$T/prom/vigil.prom" || fail "promtool check metrics (textfile)"
ok "textfile passes promtool check metrics"
[ "$(stat -c %a "$T/prom/vigil.prom")" = 644 ] || fail "textfile mode is $(stat -c %a "$T/prom/vigil.prom")"
ls "$T/prom" | grep -v '^vigil.prom$' && fail "temporary files left beside the textfile"
f=$(cat "$T/prom/vigil.prom")
for m in 'vigil_policy_version 3' 'vigil_trust_valid 1' 'vigil_enforce_state{state="enforcing"} 1' \
	'vigil_egress_allowed_total{tenant="payments",mode="enforce"} ' 'vigil_audit_degraded 0' \
	'vigil_policy_info{policy_digest="' 'vigil_posture_pass{check="' 'vigil_elevation_grants 0'; do
	assert_contains "$f" "$m" "textfile has $m"
done

# the HTTP endpoint serves the same families; other paths and methods are refused
curl -sf "http://127.0.0.1:$port/metrics" >"$T/http.prom" || fail "GET /metrics"
promtool check metrics <"$T/http.prom" || fail "promtool check metrics (http)"
assert_contains "$(cat "$T/http.prom")" 'vigil_egress_denied_total{tenant="payments",mode="enforce"} 1' "endpoint counts the deny"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/secret")
assert_eq "$code" 404 "other paths are 404"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/metrics")
assert_eq "$code" 405 "POST is refused"
# a client that never finishes its request does not block the endpoint
python3 -c '
import socket, sys, time
s = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(20)]
for c in s: c.send(b"GET /met")
time.sleep(0.2)' "$port" &
slow=$!
sleep 0.1
curl -sf -m 5 "http://127.0.0.1:$port/metrics" >/dev/null || ctl status >/dev/null || fail "endpoint or vigild stuck behind slow clients"
wait $slow || true
curl -sf -m 5 "http://127.0.0.1:$port/metrics" >/dev/null || fail "endpoint does not recover after slow clients"
ok "slow clients are timed out"

# vigilctl metrics = the same renderer
ctl metrics | promtool check metrics || fail "vigilctl metrics"
ok "vigilctl metrics passes promtool"

# vigilctl top off a terminal: one snapshot with the deny and its process
out=$(ctl top -i 0.2)
assert_contains "$out" "payments" "top lists the tenant"
assert_contains "$out" "-> 127.0.0.1:$denied/tcp" "top shows the recent deny with its destination"
assert_contains "$out" "python3" "top names the process"
ctl --json top -i 0.2 | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["tenants"]["payments"]["denied"] == 1, d; assert d["recent_denies"], d'
ok "top --json snapshot"

# 5. directory absent: nothing written, status says why
stop_vigild
rm -rf "$T/prom"
start_vigild
sleep 1.5
[ -e "$T/prom" ] && fail "vigild created the textfile directory"
st=$(ctl --json status)
assert_contains "$st" '"textfile_state": "directory absent"' "status explains why no textfile is written"
