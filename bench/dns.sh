#!/bin/sh
# Egress by name (docs/dns.md): vigild's DNS forwarder against the resolver it forwards to, in
# the same run. dnsmasq serves every name under bench.test from a second network namespace
# over a veth pair; vigild runs with a tenant whose rule "*.bench.test" makes every question
# forwarded and every answer learned (a BPF map write) before it returns.
#  - lookup-to-connect, repeat lookups: one A question for the same name, then a TCP connect
#    to its address, sequentially, through the forwarder (answered from its cache after the
#    first) vs straight to dnsmasq (goal: ratio <= 1.2), by one Python client (its own cost is
#    in both sides);
#  - lookup-to-connect, first lookups: a name never asked before every time (every question a
#    miss at vigild, fetched from dnsmasq), vs dnsmasq answering the same kind of fresh names
#    directly;
#  - the repeat lookups again with the cache off (dns_cache_entries = 0, SIGHUP), in the same
#    rounds: the forwarder as it was before the cache;
#  - queries/s with 64 in flight, random names (misses): the forwarder vs dnsmasq alone;
#  - printed only: medians and 99th percentiles, vigild's CPU time per 1000 sequential lookups
#    (its threads' schedstat) with hits, misses and no cache, dnsmasq's per question, and the
#    cache's memory for 10,000 entries (its own count of bytes, and vigild's RSS growth while
#    10,000 fresh names filled it, before the rounds).
# DNS_BENCH_VIGILD_CONF: a vigild.conf line for the run, e.g. "dns_busy_poll_us = 0" (no polling).
# DNS_BENCH_SPLIT=1 (needs perf): after the rounds, one traced run of DNS_BENCH_SPLIT_LOOKUPS (300)
# lookups each way, and where the time of a lookup goes, step by step (bench/dns_split.py).
# Rounds interleave the sides so machine noise hits all of them. Needs root, dnsmasq.
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
# vigild.conf with the cache (the default) or without it (SIGHUP reloads it; turning it on again starts it empty)
cp "$W/vigild.conf" "$W/vigild.conf.on"
{ cat "$W/vigild.conf"; echo "dns_cache_entries = 0"; } >"$W/vigild.conf.off"
reconf() {
	_n=$(grep -c 'SIGHUP: configuration' "$W/vigild.log" || true)
	cp "$W/vigild.conf.$1" "$W/vigild.conf"
	kill -HUP "$VPID"
	_i=0
	until [ "$(grep -c 'SIGHUP: configuration' "$W/vigild.log" || true)" -gt "$_n" ]; do
		_i=$((_i + 1)); [ $_i -gt 100 ] && { echo "dns: vigild did not reload its configuration" >&2; exit 1; }; sleep 0.05
	done
}
cache() { bench_ctl --json status | python3 -c 'import json, sys
c = json.load(sys.stdin)["modules"]["dns"]["cache"]; print(c.get("entries", 0), c.get("bytes", 0), c.get("index_bytes", 0),
      c.get("hits", 0), c.get("evictions", 0))'; }
rss_kb() { awk '/^VmRSS/ { print $2 }' /proc/"$1"/status; }
DNSMASQ=$(cat "$W/dnsmasq.pid")
client lookups 10.0.0.53 53 warm.bench.test 200 >/dev/null
client lookups 127.0.0.1 "$P" warm.bench.test 200 443 >/dev/null
# the cache's memory first (freed memory stays in vigild's heap: RSS would not show a refill):
# 10,000 fresh names fill it from (almost) empty
rss0=$(rss_kb "$VPID")
client flood 127.0.0.1 "$P" 10000 bench.test >/dev/null
rss1=$(rss_kb "$VPID")
mem="$(cache) $rss0 $rss1"
: >"$W/rounds"
r=0
while [ $r -lt "$ROUNDS" ]; do
	r=$((r + 1))
	d=$(client lookups 10.0.0.53 53 api.bench.test "$N" 443)
	c0=$(cpu_ns "$VPID")
	f=$(client lookups 127.0.0.1 "$P" api.bench.test "$N" 443)
	c1=$(cpu_ns "$VPID")
	fd=$(client lookups 10.0.0.53 53 '{}.bench.test' "$N" 443)
	c2=$(cpu_ns "$VPID")
	ff=$(client lookups 127.0.0.1 "$P" '{}.bench.test' "$N" 443)
	c3=$(cpu_ns "$VPID")
	reconf off
	o0=$(cpu_ns "$VPID")
	o=$(client lookups 127.0.0.1 "$P" api.bench.test "$N" 443)
	o1=$(cpu_ns "$VPID")
	reconf on
	m0=$(cpu_ns "$DNSMASQ")
	qd=$(client flood 10.0.0.53 53 "$Q" bench.test)
	m1=$(cpu_ns "$DNSMASQ")
	c4=$(cpu_ns "$VPID")
	qf=$(client flood 127.0.0.1 "$P" "$Q" bench.test)
	c5=$(cpu_ns "$VPID")
	# 0-3 repeat: seconds and p50 direct, forwarder; 4-5 flood seconds direct, forwarder; 6-8 CPU ns: vigild
	# hits, vigild flood, dnsmasq flood; 9-10 p99 repeat; 11-13 no cache: seconds, p50, p99; 14 its CPU;
	# 15-20 first lookups: seconds, p50, p99 direct and forwarder; 21 vigild's CPU for them
	echo "$(echo "$d" | val seconds) $(echo "$f" | val seconds) $(echo "$d" | val p50_us) $(echo "$f" | val p50_us)" \
		"$(echo "$qd" | val seconds) $(echo "$qf" | val seconds) $((c1 - c0)) $((c5 - c4)) $((m1 - m0))" \
		"$(echo "$d" | val p99_us) $(echo "$f" | val p99_us) $(echo "$o" | val seconds) $(echo "$o" | val p50_us)" \
		"$(echo "$o" | val p99_us) $((o1 - o0))" \
		"$(echo "$fd" | val seconds) $(echo "$fd" | val p50_us) $(echo "$fd" | val p99_us)" \
		"$(echo "$ff" | val seconds) $(echo "$ff" | val p50_us) $(echo "$ff" | val p99_us) $((c3 - c2))" >>"$W/rounds"
	echo "dns: round $r: lookup+connect $(echo "$d" | val seconds)s direct, $(echo "$f" | val seconds)s forwarder" \
		"(repeat: cache hits), $(echo "$o" | val seconds)s forwarder without cache; first lookups" \
		"$(echo "$fd" | val seconds)s direct, $(echo "$ff" | val seconds)s forwarder ($N each);" \
		"$Q queries $(echo "$qd" | val seconds)s direct, $(echo "$qf" | val seconds)s forwarder"
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
print(t["answered"], t["addresses_learned"], t["servfail"], t["overload"], t["cache_hits"], d["busy_polls"],
      d["resolvers"][0]["rtt_us"])')
python3 - "$W/rounds" "$N" "$Q" "$learned" "$mem" >"$W/summary" <<'PYEND'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
n, q = int(sys.argv[2]), int(sys.argv[3])
col = lambda i: [r[i] for r in rows]
med = statistics.median
k = len(rows)
def side(name, ds, fs, dp50, fp50, dp99, fp99):
    d, f = sum(col(ds)), sum(col(fs))
    print("dns: %s: lookup+connect %.1f us direct, %.1f us through the forwarder: ratio %.3f (goal <= 1.2);"
          " median %.1f vs %.1f us (ratio %.3f, median of %d rounds), p99 %.1f vs %.1f us (ratio %.3f)"
          % (name, d / (n * k) * 1e6, f / (n * k) * 1e6, f / d, med(col(dp50)), med(col(fp50)),
             med(b / a for a, b in zip(col(dp50), col(fp50))), k, med(col(dp99)), med(col(fp99)),
             med(b / a for a, b in zip(col(dp99), col(fp99)))))
    return f / d
rep = side("repeat lookups (the same name: cache hits)", 0, 1, 2, 3, 9, 10)
first = side("first lookups (a fresh name each time: misses)", 15, 18, 16, 19, 17, 20)
side("repeat lookups without the cache (dns_cache_entries = 0, same rounds)", 0, 11, 2, 12, 9, 13)
print("dns: vigild CPU per 1000 sequential lookups: %.1f ms repeat (hits), %.1f ms first (misses), %.1f ms without the cache"
      % (sum(col(6)) / (n * k) / 1e3, sum(col(21)) / (n * k) / 1e3, sum(col(14)) / (n * k) / 1e3))
qd, qf = sum(col(4)), sum(col(5))
print("dns: %.0f queries/s dnsmasq alone, %.0f through the forwarder (random names: misses): %.3f of the resolver's"
      % (q * k / qd, q * k / qf, qd / qf))
print("dns: CPU per question in the flood: vigild %.1f us, dnsmasq %.1f us"
      % (sum(col(7)) / (q * k) / 1e3, sum(col(8)) / (q * k) / 1e3))
e, b, ib, _, ev, r0, r1 = map(int, sys.argv[5].split())
print("dns: cache memory: %d entries take %d bytes (%.0f each: %.2f MiB per 10,000) + index %d bytes; vigild's RSS"
      " grew %d KiB while 10,000 fresh names filled it (%d evictions counted)"
      % (e, b, b / max(e, 1), b / max(e, 1) * 10000 / 1048576, ib, r1 - r0, ev))
a = sys.argv[4].split()
print("dns: forwarder answered/learned/servfail/overload: %s; cache hits %s; busy-polled for %s answers;"
      " resolver round trip now %s us" % ("/".join(a[:4]), a[4], a[5], a[6]))
print("RATIOS %r %r %r" % (rep, first, qd / qf))
PYEND
grep -v '^RATIOS' "$W/summary"
set -- $(sed -n 's/^RATIOS //p' "$W/summary")
cmd="BENCH=dns make bench"
bench_result dns_lookup_connect_ratio "$1" lower "repeat lookups (cache hits) straight to dnsmasq, same run" "$cmd"
bench_result dns_first_lookup_ratio "$2" lower "first lookups (fresh names, misses) straight to dnsmasq, same run" "$cmd"
bench_result dns_qps_fraction "$3" higher "queries/s of dnsmasq alone, same run" "$cmd"
