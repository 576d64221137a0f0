#!/bin/sh
# Egress by name (docs/dns.md): vigild's DNS forwarder against the resolver it forwards to, in
# the same run. dnsmasq serves every name under bench.test from a second network namespace
# over a veth pair; vigild runs with a tenant whose rule "*.bench.test" makes every question
# forwarded and every answer learned (a BPF map write) before it returns.
#  - lookup-to-connect: one A question then a TCP connect to its address, sequentially,
#    through the forwarder vs straight to dnsmasq (goal: ratio <= 1.2), by one Python client
#    (its own cost is in both sides);
#  - queries/s with 64 questions in flight, random names: the forwarder vs dnsmasq alone;
#  - printed only: the median and 99th percentile lookups, and vigild's CPU time per forwarded
#    question (its threads' schedstat) against dnsmasq's, less disturbed by the machine's load;
#    the questions vigild busy-polled for and the resolver's round trip it measured, the answers
#    after which it polled for the next question (docs/dns.md, "Latency");
#  - the forwarder's lookups are taken with dns_listen_poll_us = 200 (polling for the next
#    question) and, beside them in the same rounds, with 0 (the default since 30 Nov: no polling
#    for the next question; the configuration reloaded by SIGHUP), and vigild's CPU per 1000
#    sequential lookups with and without it: what that polling costs.
# DNS_BENCH_VIGILD_CONF: a vigild.conf line for the run, e.g. "dns_busy_poll_us = 0" (no polling).
# DNS_BENCH_SPLIT=1 (needs perf): after the rounds, one traced run of DNS_BENCH_SPLIT_LOOKUPS (300)
# lookups each way, and where the time of a lookup goes, step by step (bench/dns_split.py).
# Rounds interleave the two so machine noise hits both. Needs root, dnsmasq.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
: "${BUILD:=build}"
BIN="$ROOT/$BUILD"
N=${DNS_BENCH_LOOKUPS:-500}
Q=${DNS_BENCH_QUERIES:-5000}
ROUNDS=${DNS_BENCH_ROUNDS:-10}
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
BENCH_VIGILD_NETNS=$NSH bench_vigild_start "event_rate_limit = 100
${DNS_BENCH_VIGILD_CONF:-}"
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
val() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
# CPU time (ns) of every thread of process $1 so far: what a question costs it, whatever the load
# (%.0f: mawk's %d stops at 2^31 ns, 2.1 s)
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
# answers vigild busy-polled for so far (docs/dns.md, "Latency")
polls() { bench_ctl --json status | python3 -c 'import json, sys
d = json.load(sys.stdin)["modules"]["dns"]; print(d["busy_polls"], d["listen_polls"])'; }
# vigild.conf with polling for the next question (200 us), or without (0, the default; SIGHUP reloads it)
{ cat "$W/vigild.conf"; echo "dns_listen_poll_us = 200"; } >"$W/vigild.conf.on"
{ cat "$W/vigild.conf.on"; echo "dns_listen_poll_us = 0"; } >"$W/vigild.conf.off"
reconf() {
	_n=$(grep -c 'SIGHUP: configuration' "$W/vigild.log" || true)
	cp "$W/vigild.conf.$1" "$W/vigild.conf"
	kill -HUP "$VPID"
	_i=0
	until [ "$(grep -c 'SIGHUP: configuration' "$W/vigild.log" || true)" -gt "$_n" ]; do
		_i=$((_i + 1)); [ $_i -gt 100 ] && { echo "dns: vigild did not reload its configuration" >&2; exit 1; }; sleep 0.05
	done
}
DNSMASQ=$(cat "$W/dnsmasq.pid")
client lookups 10.0.0.53 53 warm.bench.test 200 >/dev/null
client lookups 127.0.0.1 "$P" warm.bench.test 200 443 >/dev/null
: >"$W/rounds"
r=0
while [ $r -lt "$ROUNDS" ]; do
	r=$((r + 1))
	d=$(client lookups 10.0.0.53 53 api.bench.test "$N" 443)
	reconf off
	o0=$(cpu_ns "$VPID")
	o=$(client lookups 127.0.0.1 "$P" api.bench.test "$N" 443)
	o1=$(cpu_ns "$VPID")
	reconf on
	p0=$(polls)
	c0=$(cpu_ns "$VPID")
	f=$(client lookups 127.0.0.1 "$P" api.bench.test "$N" 443)
	c1=$(cpu_ns "$VPID")
	p1=$(polls)
	c1f=$(cpu_ns "$VPID")
	m0=$(cpu_ns "$DNSMASQ")
	fd=$(client flood 10.0.0.53 53 "$Q" bench.test)
	m1=$(cpu_ns "$DNSMASQ")
	ff=$(client flood 127.0.0.1 "$P" "$Q" bench.test)
	c2=$(cpu_ns "$VPID")
	set -- $p0 $p1
	echo "$(echo "$d" | val seconds) $(echo "$f" | val seconds) $(echo "$d" | val p50_us) $(echo "$f" | val p50_us)" \
		"$(echo "$fd" | val seconds) $(echo "$ff" | val seconds) $((c1 - c0)) $((c2 - c1f)) $((m1 - m0)) $(($3 - $1))" \
		"$(echo "$d" | val p99_us) $(echo "$f" | val p99_us) $(echo "$o" | val seconds) $(echo "$o" | val p50_us)" \
		"$(echo "$o" | val p99_us) $((o1 - o0)) $(($4 - $2))" >>"$W/rounds"
	echo "dns: round $r: lookup+connect $(echo "$d" | val seconds)s direct, $(echo "$f" | val seconds)s forwarder," \
		"$(echo "$o" | val seconds)s forwarder without polling for the next question ($N);" \
		"$Q queries $(echo "$fd" | val seconds)s direct, $(echo "$ff" | val seconds)s forwarder"
done
if [ "${DNS_BENCH_SPLIT:-0}" = 1 ] && command -v perf >/dev/null; then
	ev=sched:sched_switch,sched:sched_waking,raw_syscalls:sys_enter,raw_syscalls:sys_exit
	for side in direct fwd; do
		if [ $side = direct ]; then to="10.0.0.53 53"; else to="127.0.0.1 $P"; fi
		# shellcheck disable=SC2086
		perf record -q -o "$W/$side.perf" -e "$ev" -a -- nsenter --net="/run/netns/$NSH" \
			python3 "$DNSC" lookups $to api.bench.test "${DNS_BENCH_SPLIT_LOOKUPS:-300}" 443 >/dev/null
		perf script -i "$W/$side.perf" -F comm,pid,tid,cpu,time,event,trace 2>/dev/null >"$W/$side.trace"
		python3 "$ROOT/bench/dns_split.py" "$W/$side.trace" $side "$VPID" "$DNSMASQ"
		rm -f "$W/$side.perf" "$W/$side.trace"
	done
fi
learned=$(bench_ctl --json status | python3 -c 'import json, sys
d = json.load(sys.stdin)["modules"]["dns"]
t = d["tenants"]["bench"]
print(t["answered"], t["addresses_learned"], t["servfail"], t["overload"], d["busy_polls"], d["resolvers"][0]["rtt_us"],
      d["listen_polls_host_busy"])')
python3 - "$W/rounds" "$N" "$Q" "$learned" >"$W/summary" <<'PYEND'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
n, q = int(sys.argv[2]), int(sys.argv[3])
col = lambda i: [r[i] for r in rows]
ld, lf, qd, qf = sum(col(0)), sum(col(1)), sum(col(4)), sum(col(5))
k = len(rows)
print("dns: lookup-to-connect %.1f us direct, %.1f us through the forwarder (dns_listen_poll_us = 200): ratio %.3f (goal <= 1.2)"
      % (ld / (n * k) * 1e6, lf / (n * k) * 1e6, lf / ld))
print("dns: median lookup+connect %.1f us direct, %.1f us forwarder: ratio %.3f (median of %d rounds' medians)"
      % (statistics.median(col(2)), statistics.median(col(3)), statistics.median(f / d for d, f in zip(col(2), col(3))), k))
print("dns: p99 lookup+connect %.1f us direct, %.1f us forwarder: ratio %.3f (median of %d rounds' p99s)"
      % (statistics.median(col(10)), statistics.median(col(11)), statistics.median(f / d for d, f in zip(col(10), col(11))), k))
lo = sum(col(12))
print("dns: without polling for the next question (dns_listen_poll_us = 0, the default, same rounds): %.1f us, ratio %.3f;"
      " median %.1f us (ratio %.3f), p99 %.1f us (ratio %.3f)"
      % (lo / (n * k) * 1e6, lo / ld, statistics.median(col(13)), statistics.median(o / d for d, o in zip(col(2), col(13))),
         statistics.median(col(14)), statistics.median(o / d for d, o in zip(col(10), col(14)))))
print("dns: vigild CPU per 1000 sequential lookups %.1f ms, %.1f ms without polling for the next question;"
      " polled for the next question after %.0f%% of the answers"
      % (sum(col(6)) / (n * k) / 1e3, sum(col(15)) / (n * k) / 1e3, 100.0 * sum(col(16)) / (n * k)))
print("dns: %.0f queries/s dnsmasq alone, %.0f through the forwarder: %.3f of the resolver's"
      % (q * k / qd, q * k / qf, qd / qf))
print("dns: vigild CPU per forwarded question %.1f us sequential, %.1f us flood; dnsmasq %.1f us per question (flood)"
      % (sum(col(6)) / (n * k) / 1e3, sum(col(7)) / (q * k) / 1e3, sum(col(8)) / (q * k) / 1e3))
a = sys.argv[4].split()
print("dns: forwarder answered/learned/servfail/overload: %s; busy-polled for %s answers in all, %.0f%% of the"
      " sequential ones; resolver round trip now %s us; no CPU to spare for polling for the next question %s times"
      % ("/".join(a[:4]), a[4], 100.0 * sum(col(9)) / (n * k), a[5], a[6]))
print("RATIOS %r %r" % (lf / ld, qd / qf))
PYEND
grep -v '^RATIOS' "$W/summary"
set -- $(sed -n 's/^RATIOS //p' "$W/summary")
cmd="BENCH=dns make bench"
bench_result dns_lookup_connect_ratio "$1" lower "lookup+connect straight to dnsmasq, same run" "$cmd"
bench_result dns_qps_fraction "$2" higher "queries/s of dnsmasq alone, same run" "$cmd"
