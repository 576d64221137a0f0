#!/bin/sh
# Egress throughput benchmark (issue 17): what the per-packet judgement costs a tenant's bulk
# traffic. A tenant process in its own network namespace sends through a veth pair to an
# iperf3 server in another namespace: TCP bulk, UDP bulk (1400-byte datagrams) and small UDP
# datagrams (64 bytes, packets/s). Rounds alternate, in the same run: no BPF attached (vigild
# stopped, its pins removed) and vigil enforcing a bundle that allows the server (every packet
# goes through the cgroup_skb program and its per-socket cached verdict); and the floor: an empty
# cgroup_skb/egress program (bpf/bench_floor.bpf.c) at the tenant cgroup, what any packet
# program costs there.
# Reproduce: sudo make bench BENCH=egress_tput, or: sudo BUILD=build bench/egress_tput.sh
# Goal (issue 17): >= 0.97 of no BPF for TCP and UDP bulk.
set -eu
: "${BUILD:=build}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
BIN="$ROOT/$BUILD"
SECS=${TPUT_BENCH_SECONDS:-3}
ROUNDS=${TPUT_BENCH_ROUNDS:-5}
[ "$(id -u)" = 0 ] || { echo "bench/egress_tput.sh: skipped (needs root)"; exit 0; }
command -v iperf3 >/dev/null || { echo "bench/egress_tput.sh: needs iperf3 (make deps)"; exit 1; }
[ -x "$BIN/vigild" ] || { echo "bench/egress_tput.sh: build first (make BUILD=$BUILD)"; exit 1; }
W=$(mktemp -d /tmp/vigil-bench-tput.XXXXXX)
CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG="$CGROOT/vigil-bench-tput-$$"
C="vgtc$$"
S="vgts$$"
PINS="/sys/fs/bpf/vigil-bench-tput-$$"
VPID=""
SPID=""
cleanup() {
	# every step, whatever the one before returned (set -e would stop at a killed process's status)
	set +e
	[ -n "$VPID" ] && kill "$VPID" 2>/dev/null && wait "$VPID" 2>/dev/null
	# shellcheck disable=SC2086
	[ -n "$SPID" ] && kill $SPID 2>/dev/null && wait $SPID 2>/dev/null
	rm -rf "$PINS"
	ip netns del "$C" 2>/dev/null
	ip netns del "$S" 2>/dev/null
	# a process that has just exited can keep its cgroup busy for a moment
	i=0
	while [ -d "$CG" ] && [ $i -lt 40 ]; do
		rmdir "$CG/t" "$CG" 2>/dev/null
		i=$((i + 1))
		[ -d "$CG" ] && sleep 0.05
	done
	rm -rf "$W"
}
trap cleanup EXIT INT TERM
mkdir -p "$CG/t"
ip netns add "$C"
ip netns add "$S"
ip link add "vgc$$" netns "$C" type veth peer name "vgs$$" netns "$S"
ip -n "$C" addr add 10.99.0.1/24 dev "vgc$$"
ip -n "$S" addr add 10.99.0.2/24 dev "vgs$$"
for ns in "$C" "$S"; do ip -n "$ns" link set lo up; done
ip -n "$C" link set "vgc$$" up
ip -n "$S" link set "vgs$$" up
ip netns exec "$S" iperf3 -s -B 10.99.0.2 >/dev/null 2>&1 &
SPID=$!
# a second server the bundle does not allow: proves that vigil is enforcing in its rounds
ip netns exec "$S" iperf3 -s -B 10.99.0.2 -p 5202 >/dev/null 2>&1 &
SPID="$SPID $!"
sleep 0.5

python3 - "$W" "/vigil-bench-tput-$$/t" "$ROOT/examples/bundle.json" <<'PY'
import json, sys
w, cg, example = sys.argv[1:4]
b = json.load(open(example))
rules = [{"id": 10, "cidr": "10.99.0.2/32", "proto": "tcp", "ports": ["5201"]},
         {"id": 11, "cidr": "10.99.0.2/32", "proto": "udp", "ports": ["5201"]}]
b["tenants"] = [{"name": "t", "id": 1, "mode": "enforce", "cgroups": [cg], "egress": rules}]
b["shared_services"] = []
json.dump(b, open(w + "/template.json", "w"))
PY

clang -target bpf -O2 -g -D__TARGET_ARCH_x86 -I"$ROOT/bpf" -c "$ROOT/bpf/bench_floor.bpf.c" -o "$W/floor.o"
floor_attach() {
	mkdir -p "$PINS"
	bpftool prog loadall "$W/floor.o" "$PINS/floor"
	bpftool cgroup attach "$CG/t" egress pinned "$PINS/floor/floor_egress"
}
floor_detach() {
	bpftool cgroup detach "$CG/t" egress pinned "$PINS/floor/floor_egress"
	rm -rf "$PINS"
}

# one iperf3 run from the tenant cgroup; prints bits/s (bulk) or packets/s (small)
run() { # tcp | udp | small
	case $1 in
	tcp) args="" ;;
	udp) args="-u -b 0 -l 1400" ;;
	small) args="-u -b 0 -l 64" ;;
	esac
	# shellcheck disable=SC2086
	sh -c 'echo $$ >"$1/cgroup.procs"; shift; exec "$@"' sh "$CG/t" \
		ip netns exec "$C" iperf3 -c 10.99.0.2 -t "$SECS" -J $args >"$W/out.json" 2>/dev/null ||
		{ echo "iperf3 failed: $(head -c 300 "$W/out.json")" >&2; return 1; }
	python3 - "$1" "$W/out.json" <<'PY'
import json, sys
kind, path = sys.argv[1:3]
e = json.load(open(path))["end"]
if kind == "tcp":
    print(e["sum_received"]["bits_per_second"])
elif kind == "udp":
    s = e["sum"]
    print(s["bits_per_second"] * (1 - s.get("lost_percent", 0) / 100.0))
else:
    s = e["sum"]
    print((s["packets"] - s.get("lost_packets", 0)) / s["seconds"])
PY
}

echo "== egress_tput: tenant -> veth -> iperf3 server, ${SECS}s per run, $ROUNDS interleaved rounds, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
for k in tcp udp small; do : >"$W/$k.none"; : >"$W/$k.vigil"; : >"$W/$k.floor"; done
r=1
while [ "$r" -le "$ROUNDS" ]; do
	for k in tcp udp small; do run "$k" >>"$W/$k.none"; done
	floor_attach
	for k in tcp udp small; do run "$k" >>"$W/$k.floor"; done
	floor_detach
	bench_vigild_start
	bench_push "$W/template.json" >/dev/null
	# the tenant really is judged: a destination the bundle does not allow is refused
	if sh -c 'echo $$ >"$1/cgroup.procs"; shift; exec "$@"' sh "$CG/t" \
		ip netns exec "$C" iperf3 -c 10.99.0.2 -p 5202 -t 1 >/dev/null 2>&1; then
		echo "bench/egress_tput.sh: port 5202 was not denied: vigil is not enforcing" >&2
		exit 1
	fi
	for k in tcp udp small; do run "$k" >>"$W/$k.vigil"; done
	bench_vigild_stop
	r=$((r + 1))
done

python3 - "$W" >"$W/summary" <<'PY'
import statistics, sys
w = sys.argv[1]
unit = {"tcp": ("TCP bulk", 1e9, "Gbit/s"), "udp": ("UDP bulk, 1400 B", 1e9, "Gbit/s"),
        "small": ("UDP 64 B datagrams", 1e3, "kpkt/s")}
for k, (name, div, u) in unit.items():
    none = [float(x) for x in open("%s/%s.none" % (w, k))]
    vig = [float(x) for x in open("%s/%s.vigil" % (w, k))]
    flo = [float(x) for x in open("%s/%s.floor" % (w, k))]
    a, b, f = statistics.median(none), statistics.median(vig), statistics.median(flo)
    print("%-20s no BPF %8.2f %s   vigil %8.2f %s   %.3fx   (empty egress program %.3fx)" %
          (name, a / div, u, b / div, u, b / a, f / a))
    print("ratio %s %f" % (k, b / a))
    print("floor %s %f" % (k, f / a))
PY
grep -v -e "^ratio " -e "^floor " "$W/summary"
for k in tcp udp small; do
	v=$(awk -v k="$k" '$1 == "ratio" && $2 == k { print $3 }' "$W/summary")
	bench_result "egress_tput.$k.vigil_vs_no_bpf" "$v" higher \
		"the same iperf3 run from the tenant with no BPF attached (median of interleaved rounds)" \
		"make bench BENCH=egress_tput"
	f=$(awk -v k="$k" '$1 == "floor" && $2 == k { print $3 }' "$W/summary")
	bench_result "egress_tput.$k.empty_program_vs_no_bpf" "$f" higher \
		"the same iperf3 run with no BPF attached; an empty cgroup_skb/egress program at the tenant cgroup (the floor)" \
		"make bench BENCH=egress_tput"
done
echo "reproduce: sudo BUILD=$BUILD TPUT_BENCH_SECONDS=$SECS TPUT_BENCH_ROUNDS=$ROUNDS bench/egress_tput.sh"
