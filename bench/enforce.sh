#!/bin/sh
# Egress enforcement benchmark (issue 3). In one run, side by side:
#  - TCP connect+close rate on loopback from a tenant cgroup: no BPF, vigil with
#    10 / 10k / 100k rules (1M with ENFORCE_BENCH_MAX=1000000), nftables with the same
#    CIDRs in a set, iptables with the same rules linear (up to 10k: linear is slow to load);
#  - time to apply the 100k-rule bundle and vigild's peak memory (VmHWM);
#  - deny events per second delivered to vigild, and drops beyond that.
# Everything runs in a private network namespace and a private cgroup; vigild uses its own pins.
# Reproduce: sudo make bench BENCH=enforce, or: sudo BUILD=build bench/enforce.sh
# Targets: vigil at 1M rules within 5% of no BPF; 100k-rule apply < 1 s; vigild < 100 MB.
set -eu
: "${BUILD:=build}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
BIN="$ROOT/$BUILD"
MAX=${ENFORCE_BENCH_MAX:-100000}
SECS=${ENFORCE_BENCH_SECONDS:-2}
# which parts run (all by default): rate stats connrate events
PARTS=${ENFORCE_BENCH_PARTS:-rate stats connrate events}
part() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
[ "$(id -u)" = 0 ] || { echo "bench/enforce.sh: skipped (needs root)"; exit 0; }
[ -x "$BIN/vigild" ] && [ -x "$BIN/tests/enforce_probe" ] || { echo "bench/enforce.sh: build first (make BUILD=$BUILD)"; exit 1; }
[ -x /usr/bin/python3 ] && PATH="/usr/bin:$PATH"
W=$(mktemp -d /tmp/vigil-bench-enforce.XXXXXX)
CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG="$CGROOT/vigil-bench-$$"
NS="vgbench$$"
PINS="/sys/fs/bpf/vigil-bench-$$"
VPID=""
cleanup() {
	# every step, whatever the one before returned (set -e would stop at a killed process's status)
	set +e
	[ -n "$VPID" ] && kill "$VPID" 2>/dev/null && wait "$VPID" 2>/dev/null
	rm -rf "$PINS"
	ip netns del "$NS" 2>/dev/null
	rmdir "$CG/t" "$CG" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT INT TERM
mkdir -p "$CG/t"
ip netns add "$NS"
ip -n "$NS" link set lo up
CONNRATE="$BIN/bench/enforce_connrate"
[ -x "$CONNRATE" ] || { echo "bench/enforce.sh: build first (make BUILD=$BUILD)"; exit 1; }
# median of three runs: the machine is shared and noisy; from cgroup $1 (default: the tenant's)
rate() {
	for k in 1 2 3; do
		"$CONNRATE" --cgroup "${1:-$CG/t}" --netns "/run/netns/$NS" --seconds "$SECS" | awk '{ print $2 }'
	done | sort -n | sed -n 2p
}

# rules N [TENANT CGROUP]: N distinct /32 CIDRs (tcp 443), written as bundle tenants, nft set, iptables rules
gen() {
	python3 - "$1" "$W" "${2:-/vigil-bench-$$/t}" "$ROOT/examples/bundle.json" <<'PY'
import json, sys
n, w, cg, example = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
addrs = ["10.%d.%d.%d" % (16 + i // 65536, (i // 256) % 256, i % 256) for i in range(n)]
b = json.load(open(example))
rules = [{"id": 10 + i, "cidr": a + "/32", "proto": "tcp", "ports": ["443"]} for i, a in enumerate(addrs)]
rules.append({"id": 1, "cidr": "127.0.0.0/8", "proto": "tcp"})
b["tenants"] = [{"name": "t", "id": 1, "mode": "enforce", "cgroups": [cg], "egress": rules}]
b["shared_services"] = []
json.dump(b, open(w + "/template.json", "w"))
with open(w + "/nft", "w") as f:
    f.write("table inet vgb {\n set s { type ipv4_addr; flags interval; elements = { %s } }\n" % ", ".join(addrs))
    f.write(" chain out { type filter hook output priority 0; ip daddr @s tcp dport 443 accept; ip daddr 127.0.0.0/8 accept; drop; }\n}\n")
with open(w + "/ipt", "w") as f:
    f.write("*filter\n:OUTPUT ACCEPT [0:0]\n")
    for a in addrs:
        f.write("-A OUTPUT -d %s/32 -p tcp --dport 443 -j ACCEPT\n" % a)
    f.write("-A OUTPUT -d 127.0.0.0/8 -j ACCEPT\n-A OUTPUT -j DROP\nCOMMIT\n")
PY
}

start_vigild() { bench_vigild_start "event_rate_limit = ${1:-1000}"; }
stop_vigild() { bench_vigild_stop; }
ctl() { bench_ctl "$@"; }
push() { bench_push "$W/template.json"; }

ratio() { python3 -c "print('%.2fx' % ($1 / $2))"; }
if part rate; then
echo "== enforce: TCP connect+close on loopback from a tenant cgroup (${SECS}s each, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg))"
base=$(rate)
printf '%-28s %10s/s  1.00x\n' "no BPF (baseline)" "$base"
for n in 10 10000 100000 1000000; do
	[ "$n" -le "$MAX" ] || continue
	gen "$n"
	start_vigild
	ms=$(push)
	hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$VPID/status")
	r=$(rate)
	printf '%-28s %10s/s  %s   (apply %d ms, vigild peak %d MB)\n' "vigil, $n rules" "$r" "$(ratio "$r" "$base")" "$ms" $((hwm / 1024))
	bench_result "enforce.connect_rate.${n}_rules_vs_no_bpf" "$(python3 -c "print($r / $base)")" higher \
		"TCP connect+close with no BPF attached" "make bench BENCH=enforce"
	grep -o 'compiled in [0-9]* ms, kernel maps filled in [0-9]* ms' "$W/vigild.log" | tail -n 1 | sed 's/^/      vigil apply: /'
	if [ "$n" = 10 ]; then
		# a process outside every tenant (the bench's own cgroup), the same vigild
		r=$(rate "$CG")
		printf '%-28s %10s/s  %s\n' "vigil, host process" "$r" "$(ratio "$r" "$base")"
		bench_result "enforce.connect_rate.host_vs_no_bpf" "$(python3 -c "print($r / $base)")" higher \
			"TCP connect+close with no BPF attached" "make bench BENCH=enforce"
	fi
	stop_vigild
	if [ "$n" -le 100000 ]; then
		ip netns exec "$NS" nft -f "$W/nft"
		r=$(rate)
		printf '%-28s %10s/s  %s\n' "nftables set, $n CIDRs" "$r" "$(ratio "$r" "$base")"
		ip netns exec "$NS" nft flush ruleset
	fi
	if [ "$n" -le 10000 ]; then
		ip netns exec "$NS" iptables-restore <"$W/ipt"
		r=$(rate)
		printf '%-28s %10s/s  %s\n' "iptables linear, $n rules" "$r" "$(ratio "$r" "$base")"
		ip netns exec "$NS" iptables -F OUTPUT
	fi
done
fi

# bpf_stats: nanoseconds spent in vigil's programs per connect (all of them: sock_create, connect,
# every packet), for a tenant and for a process outside every tenant. vigild attaches at the bench's
# own cgroup (cgroup_root), so that only the bench's processes run the programs: bpf_stats counts
# every run of a program, and at the cgroup2 root it would count the whole machine's traffic.
prog_ns() { # prints "run_time_ns run_cnt" summed over the programs of this vigild's pinned links
	for f in "$PINS"/link_*; do
		id=$(bpftool -j link show pinned "$f" | python3 -c 'import json,sys; print(json.load(sys.stdin)["prog_id"])')
		bpftool -j prog show id "$id"
	done | python3 -c '
import json, sys
ns = cnt = 0
for line in sys.stdin:
    p = json.loads(line)
    ns += p.get("run_time_ns", 0); cnt += p.get("run_cnt", 0)
print(ns, cnt)'
}
prog_detail() { # per program: name run_time_ns run_cnt
	for f in "$PINS"/link_*; do
		id=$(bpftool -j link show pinned "$f" | python3 -c 'import json,sys; print(json.load(sys.stdin)["prog_id"])')
		bpftool -j prog show id "$id" | python3 -c '
import json, sys
p = json.load(sys.stdin)
print(p["name"], p.get("run_time_ns", 0), p.get("run_cnt", 0))'
	done
}
if part stats; then
echo "== enforce: BPF time per connect (bpf_stats, sum over vigil's programs, 10 rules)"
stats_was=$(cat /proc/sys/kernel/bpf_stats_enabled)
echo 1 >/proc/sys/kernel/bpf_stats_enabled
gen 10 /t
bench_vigild_start "cgroup_root = $CG"
push >/dev/null
for who in tenant host; do
	cg="$CG/t"
	[ "$who" = host ] && cg="$CG"
	prog_detail >"$W/before"
	set -- $(prog_ns)
	n=$("$CONNRATE" --cgroup "$cg" --netns "/run/netns/$NS" --seconds "$SECS" | awk '{ print $4 }')
	set -- $(prog_ns) "$@"
	prog_detail | while read -r name t c; do
		read -r _ t0 c0 <<EOF_B
$(grep "^$name " "$W/before")
EOF_B
		printf '      %-22s %6.0f ns per connect, %4.1f runs\n' "$name" "$(python3 -c "print(($t - $t0) / $n)")" \
			"$(python3 -c "print(($c - $c0) / $n)")"
	done
	per=$(python3 -c "print('%.0f' % (($1 - $3) / $n))")
	printf '%-28s %6s ns per connect (%s program runs per connect)\n' "$who process" "$per" \
		"$(python3 -c "print('%.1f' % (($2 - $4) / $n))")"
	eval "${who}_ns=$per"
	bench_result "enforce.bpf_ns_per_connect.$who" "$per" lower "ns in vigil's BPF programs per TCP connect+close (bpf_stats)" \
		"make bench BENCH=enforce"
done
stop_vigild
# the baseline in the same run: one LPM lookup on connect4, attached to the same cgroup
clang -target bpf -O2 -g -D__TARGET_ARCH_x86 -I"$ROOT/bpf" -c "$ROOT/bpf/bench_bare.bpf.c" -o "$W/bare.o"
mkdir -p "$PINS"
bpftool prog load "$W/bare.o" "$PINS/bare" type cgroup/connect4
bpftool cgroup attach "$CG/t" connect4 pinned "$PINS/bare"
bare() { bpftool -j prog show pinned "$PINS/bare" | python3 -c 'import json,sys; p=json.load(sys.stdin); print(p.get("run_time_ns", 0), p.get("run_cnt", 0))'; }
set -- $(bare)
n=$("$CONNRATE" --cgroup "$CG/t" --netns "/run/netns/$NS" --seconds "$SECS" | awk '{ print $4 }')
set -- $(bare) "$@"
bare_ns=$(python3 -c "print('%.0f' % (($1 - $3) / $n))")
bpftool cgroup detach "$CG/t" connect4 pinned "$PINS/bare"
rm -rf "$PINS"
printf '%-28s %6s ns per connect\n' "bare LPM connect4 (base)" "$bare_ns"
# the floor in the same run: programs that only return "allow" at vigil's hooks (sock_create, connect4, egress)
clang -target bpf -O2 -g -D__TARGET_ARCH_x86 -I"$ROOT/bpf" -c "$ROOT/bpf/bench_floor.bpf.c" -o "$W/floor.o"
mkdir -p "$PINS"
bpftool prog loadall "$W/floor.o" "$PINS/floor"
for h in sock_create connect4 egress; do bpftool cgroup attach "$CG/t" "$h" pinned "$PINS/floor/floor_$h"; done
floor() {
	for h in sock_create connect4 egress; do bpftool -j prog show pinned "$PINS/floor/floor_$h"; done | python3 -c '
import json, sys
ns = cnt = 0
for line in sys.stdin:
    p = json.loads(line)
    ns += p.get("run_time_ns", 0); cnt += p.get("run_cnt", 0)
print(ns, cnt)'
}
set -- $(floor)
n=$("$CONNRATE" --cgroup "$CG/t" --netns "/run/netns/$NS" --seconds "$SECS" | awk '{ print $4 }')
set -- $(floor) "$@"
floor_ns=$(python3 -c "print('%.0f' % (($1 - $3) / $n))")
floor_runs=$(python3 -c "print('%.1f' % (($2 - $4) / $n))")
for h in sock_create connect4 egress; do bpftool cgroup detach "$CG/t" "$h" pinned "$PINS/floor/floor_$h"; done
rm -rf "$PINS"
printf '%-28s %6s ns per connect (%s runs), %s x the bare program\n' "empty programs (floor)" "$floor_ns" "$floor_runs" \
	"$(python3 -c "print('%.1f' % ($floor_ns / $bare_ns))")"
printf '%-28s %6s x the bare program\n' "vigil, tenant" "$(python3 -c "print('%.1f' % ($tenant_ns / $bare_ns))")"
printf '%-28s %6s x the bare program\n' "vigil, host" "$(python3 -c "print('%.1f' % ($host_ns / $bare_ns))")"
bench_result "enforce.bpf_ns_per_connect.tenant_vs_bare_lpm" "$(python3 -c "print($tenant_ns / $bare_ns)")" lower \
	"one-LPM-lookup connect4 program, same run (bpf_stats)" "make bench BENCH=enforce"
echo "$stats_was" >/proc/sys/kernel/bpf_stats_enabled
fi

# connect_rate's cost: the same tenant with a bucket it never empties, against no connect_rate, in
# interleaved rounds; the connect4 program's own time from bpf_stats, and the connect+close rate
if part connrate; then
echo "== enforce: connect_rate cost: tenant with connect_rate 1000000/s (never limited) vs none (10 rules, same run)"
gen 10
python3 - "$W/template.json" "$W/template-rate.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
b["tenants"][0]["connect_rate"] = {"per_second": 1000000, "burst": 1000000}
json.dump(b, open(sys.argv[2], "w"))
PY
stats_was=$(cat /proc/sys/kernel/bpf_stats_enabled)
echo 1 >/proc/sys/kernel/bpf_stats_enabled
start_vigild
connect4() { # run_time_ns run_cnt of this vigild's connect4 program
	id=$(bpftool -j link show pinned "$PINS/link_vg_connect4" | python3 -c 'import json,sys; print(json.load(sys.stdin)["prog_id"])')
	bpftool -j prog show id "$id" | python3 -c 'import json,sys; p=json.load(sys.stdin); print(p.get("run_time_ns", 0), p.get("run_cnt", 0))'
}
for round in 1 2; do
	for v in none rate; do
		t="$W/template.json"
		[ "$v" = rate ] && t="$W/template-rate.json"
		bench_push "$t" >/dev/null
		set -- $(connect4)
		echo "$(rate)" >>"$W/rate.$v"
		set -- $(connect4) "$@"
		echo "$1 $2 $3 $4" | awk '{ print ($1 - $3), ($2 - $4) }' >>"$W/c4.$v"
	done
done
stop_vigild
echo "$stats_was" >/proc/sys/kernel/bpf_stats_enabled
for v in none rate; do
	eval "r_$v=$(sort -n "$W/rate.$v" | tail -n 1)"
	eval "ns_$v=$(awk '{ t += $1; c += $2 } END { printf "%.0f", t / c }' "$W/c4.$v")"
done
printf '%-28s %10s/s  connect4 %5s ns\n' "tenant, no connect_rate" "$r_none" "$ns_none"
printf '%-28s %10s/s  connect4 %5s ns   (rate %s, connect4 time %s)\n' "tenant, connect_rate" "$r_rate" "$ns_rate" \
	"$(ratio "$r_rate" "$r_none")" "$(ratio "$ns_rate" "$ns_none")"
bench_result "enforce.connect_rate_bucket.connects_vs_none" "$(python3 -c "print($r_rate / $r_none)")" higher \
	"the same tenant without connect_rate, same run" "make bench BENCH=enforce"
bench_result "enforce.connect_rate_bucket.connect4_ns_vs_none" "$(python3 -c "print($ns_rate / $ns_none)")" lower \
	"connect4 ns of the same tenant without connect_rate, same run (bpf_stats)" "make bench BENCH=enforce"
fi

if part events; then
echo "== enforce: deny events delivered to vigild (200000 denied connects, no sampling, then default sampling)"
gen 10
for limit in 100000000 1000; do
	start_vigild "$limit"
	push >/dev/null
	s=$(date +%s%N)
	python3 -c "import sys; sys.stdout.write('tcp 10.200.0.1 80\n' * 200000)" |
		"$BIN/tests/enforce_probe" --cgroup "$CG/t" --netns "/run/netns/$NS" >/dev/null
	ms=$(( ($(date +%s%N) - s) / 1000000 ))
	# let vigild drain the ring buffer: every deny is delivered or counted as dropped
	i=0
	until ctl --json status | python3 -c '
import json, sys
e = json.load(sys.stdin)["modules"]["enforce"]
sys.exit(e["events"]["received"] + e["tenants"]["t"]["events_dropped"] < e["tenants"]["t"]["denied"])'; do
		i=$((i + 1)); [ $i -gt 300 ] && break; sleep 0.2
	done
	ctl --json status | python3 -c '
import json, sys
e = json.load(sys.stdin)["modules"]["enforce"]
t = e["tenants"]["t"]
ms = int(sys.argv[2])
print("event_rate_limit %-10s denied %d in %d ms (%.0f/s): delivered %d, dropped %d (%.0f delivered events/s)" % (
    sys.argv[1], t["denied"], ms, t["denied"] * 1000.0 / ms, e["events"]["received"], t["events_dropped"],
    e["events"]["received"] * 1000.0 / ms))' "$limit" "$ms"
	stop_vigild
done
fi
echo "reproduce: sudo BUILD=$BUILD ENFORCE_BENCH_MAX=$MAX bench/enforce.sh"
