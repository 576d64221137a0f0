#!/bin/sh
# Egress by name (docs/dns.md): vigild's DNS forwarder against the resolver it forwards to, in
# the same run. dnsmasq serves every name under bench.test from a second network namespace
# over a veth pair; vigild runs with a tenant whose rule "*.bench.test" makes every question
# forwarded and every answer learned (a BPF map write) before it returns.
#  - lookup-to-connect: one A question then a TCP connect to its address, sequentially,
#    through the forwarder vs straight to dnsmasq (goal: ratio <= 1.2), by one Python client
#    (its own cost is in both sides);
#  - queries/s with 64 questions in flight, random names: the forwarder vs dnsmasq alone.
# Rounds interleave the two so machine noise hits both. Needs root, dnsmasq.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
: "${BUILD:=build}"
BIN="$ROOT/$BUILD"
N=${DNS_BENCH_LOOKUPS:-2000}
Q=${DNS_BENCH_QUERIES:-20000}
ROUNDS=${DNS_BENCH_ROUNDS:-3}
command -v dnsmasq >/dev/null || { echo "dns: SKIPPED (dnsmasq is not installed)"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "dns: SKIPPED (needs root)"; exit 0; }
W=$(mktemp -d /tmp/vigil-bench-dns.XXXXXX)
PINS="/sys/fs/bpf/vigil-bench-dns-$$"
CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG="$CGROOT/vigil-bench-dns-$$"
NSH="vbh$$"
NSI="vbi$$"
VPID=""
DPID=""
SPID=""
DNSC="$ROOT/tests/integration/dns_client.py"
cleanup() {
	set +e
	[ -n "$VPID" ] && kill "$VPID" && wait "$VPID"
	[ -n "$DPID" ] && kill "$DPID" && wait "$DPID"
	[ -n "$SPID" ] && kill "$SPID" && wait "$SPID"
	rm -rf "$PINS" "$W"
	ip netns del "$NSH"
	ip netns del "$NSI"
	rmdir "$CG"
} 2>/dev/null
trap cleanup EXIT INT TERM

ip netns add "$NSH"
ip netns add "$NSI"
ip link add vbh0 netns "$NSH" type veth peer name vbi0 netns "$NSI"
for ns in "$NSH" "$NSI"; do ip -n "$ns" link set lo up; done
ip -n "$NSH" link set vbh0 up
ip -n "$NSI" link set vbi0 up
ip -n "$NSH" addr add 192.0.2.1/24 dev vbh0
ip -n "$NSI" addr add 192.0.2.2/24 dev vbi0
ip -n "$NSI" addr add 10.0.0.53/32 dev lo
ip -n "$NSI" addr add 198.51.100.10/32 dev lo
ip -n "$NSH" route add default via 192.0.2.2
mkdir -p "$CG"
ip netns exec "$NSI" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
	--address=/bench.test/198.51.100.10 --listen-address=10.0.0.53 --bind-interfaces --port=53 \
	--local-ttl=300 --cache-size=0 --dns-forward-max=1000 --user=root --group=root --pid-file="$W/dnsmasq.pid" &
DPID=$!
ip netns exec "$NSI" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.10", 443)); s.listen(4096)
while True: s.accept()[0].close()' &
SPID=$!

# vigild in the tenants' network namespace (its forwarder listens there)
BENCH_VIGILD_NETNS=$NSH bench_vigild_start "event_rate_limit = 100"
python3 "$ROOT/tests/integration/mkbundle.py" --version 2 --out "$W/b.json" --set 'shared_services=[]' \
	--set "tenants=[{\"name\": \"bench\", \"id\": 1, \"cgroups\": [\"/vigil-bench-dns-$$\"],
	  \"egress\": [{\"id\": 1, \"pattern\": \"*.bench.test\", \"proto\": \"tcp\", \"ports\": [443]}]}]" \
	--set 'dns={"resolvers": ["10.0.0.53"]}'
"$BIN/vigilctl" policy sign --key "$W/keys/k" "$W/b.json" >/dev/null
bench_ctl policy push "$W/b.json" >/dev/null
P=$(bench_ctl --json status | python3 -c 'import json, sys
print(json.load(sys.stdin)["modules"]["dns"]["tenants"]["bench"]["listen"].rsplit(":", 1)[1])')

# the client asks the forwarder's socket itself, from the host cgroup (a tenant's redirected
# question costs the same plus the connect hook's rewrite); t_dns proves the tenant's connects
client() { nsenter --net="/run/netns/$NSH" python3 "$DNSC" "$@"; }
secs() { sed -n 's/.*seconds=\([0-9.]*\).*/\1/p'; }
client lookups 10.0.0.53 53 warm.bench.test 200 >/dev/null
client lookups 127.0.0.1 "$P" warm.bench.test 200 443 >/dev/null
lat_d=0 lat_f=0 qps_d=0 qps_f=0
r=0
while [ $r -lt "$ROUNDS" ]; do
	r=$((r + 1))
	d=$(client lookups 10.0.0.53 53 api.bench.test "$N" 443 | secs)
	f=$(client lookups 127.0.0.1 "$P" api.bench.test "$N" 443 | secs)
	fd=$(client flood 10.0.0.53 53 "$Q" bench.test | secs)
	ff=$(client flood 127.0.0.1 "$P" "$Q" bench.test | secs)
	lat_d=$(python3 -c "print($lat_d + $d)")
	lat_f=$(python3 -c "print($lat_f + $f)")
	qps_d=$(python3 -c "print($qps_d + $fd)")
	qps_f=$(python3 -c "print($qps_f + $ff)")
	echo "dns: round $r: lookup+connect ${d}s direct, ${f}s forwarder ($N); $Q queries ${fd}s direct, ${ff}s forwarder"
done
learned=$(bench_ctl --json status | python3 -c 'import json, sys
t = json.load(sys.stdin)["modules"]["dns"]["tenants"]["bench"]
print(t["answered"], t["addresses_learned"], t["servfail"], t["overload"])')
python3 - "$lat_d" "$lat_f" "$qps_d" "$qps_f" "$N" "$Q" "$ROUNDS" "$learned" <<'PYEND'
import sys
ld, lf, qd, qf = map(float, sys.argv[1:5])
n, q, rounds = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
print("dns: lookup-to-connect %.1f us direct, %.1f us through the forwarder: ratio %.3f (goal <= 1.2)"
      % (ld / (n * rounds) * 1e6, lf / (n * rounds) * 1e6, lf / ld))
print("dns: %.0f queries/s dnsmasq alone, %.0f through the forwarder: %.3f of the resolver's"
      % (q * rounds / qd, q * rounds / qf, qd / qf))
print("dns: forwarder answered/learned/servfail/overload: %s" % sys.argv[8])
PYEND
cmd="BENCH=dns make bench"
bench_result dns_lookup_connect_ratio "$(python3 -c "print($lat_f / $lat_d)")" lower \
	"lookup+connect straight to dnsmasq, same run" "$cmd"
bench_result dns_qps_fraction "$(python3 -c "print($qps_d / $qps_f)")" higher \
	"queries/s of dnsmasq alone, same run" "$cmd"
