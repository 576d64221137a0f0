# Helpers for the t_enforce_*.sh tests (sourced after lib.sh): tenant cgroups,
# a namespaced topology, the prober, and a vigild with enforcement on.
# Everything created here is removed on exit, pass or fail.

need_root
# the system python first: version-manager shims cost seconds per call on a loaded machine
[ -x /usr/bin/python3 ] && PATH="/usr/bin:$PATH"
PROBE="$BIN/tests/enforce_probe"
[ -x "$PROBE" ] || fail "missing $PROBE (make build-all)"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
[ -r /sys/kernel/btf/vmlinux ] || skip "the kernel has no BTF (/sys/kernel/btf/vmlinux)"
CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$CGROOT" ] || skip "no cgroup2 filesystem is mounted"
BPFFS="/sys/fs/bpf/vigil-test-$$"
CGREL="/vigil-test-$$"
CGBASE="$CGROOT$CGREL"
NSH="vgh$$"
NSI="vgi$$"
_enf_pids=""

# remove what the tests created; the pins go first so nothing stays attached
_enf_cleanup() {
	for p in $_enf_pids; do kill "$p" 2>/dev/null; done
	for p in $_enf_pids; do wait "$p" 2>/dev/null; done
	rm -rf "$BPFFS"
	ip netns del "$NSH" 2>/dev/null
	ip netns del "$NSI" 2>/dev/null
	if [ -d "$CGBASE" ]; then
		# processes left in a test cgroup (a prober started by "probe ... &" is the child of the
		# subshell in $_enf_pids) go back to the root before the cgroup goes, and are stopped
		for f in $(find "$CGBASE" -name cgroup.procs 2>/dev/null); do
			for p in $(cat "$f"); do
				echo "$p" >"$CGROOT/cgroup.procs" 2>/dev/null
				kill "$p" 2>/dev/null
			done
		done
		find "$CGBASE" -depth -type d -exec rmdir {} \; 2>/dev/null
	fi
}
on_exit _enf_cleanup

# tenant_cgroup NAME: creates $CGBASE/NAME, prints its path
tenant_cgroup() {
	mkdir -p "$CGBASE/$1"
	echo "$CGBASE/$1"
}

enforce_vigild() {
	make_keys
	write_config "enforce = true" "$@"
	start_vigild
	i=0
	until ctl --json status 2>/dev/null | grep -q '"state": "enforcing"'; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "enforcement did not start: $(ctl --json status 2>&1 | grep -A3 enforce)"
		sleep 0.1
	done
}

# push_bundle VERSION [mkbundle args...]: signed bundle from examples/bundle.json, pushed
push_bundle() {
	v=$1
	shift
	make_bundle "$T/bundle-$v.json" "$v" "$@"
	ctl policy push "$T/bundle-$v.json" >/dev/null || fail "bundle version $v was refused"
}

# A topology in two network namespaces: $NSH (where tenant processes run) and
# $NSI ("the internet": 198.51.100.10, 203.0.113.10, 10.0.0.53, 2001:db8::10
# on its loopback), joined by a veth pair 192.0.2.1 <-> 192.0.2.2.
make_topology() {
	ip netns add "$NSH"
	ip netns add "$NSI"
	ip link add vgh0 netns "$NSH" type veth peer name vgi0 netns "$NSI"
	for ns in "$NSH" "$NSI"; do ip -n "$ns" link set lo up; done
	ip -n "$NSH" link set vgh0 up
	ip -n "$NSI" link set vgi0 up
	ip -n "$NSH" addr add 192.0.2.1/24 dev vgh0
	ip -n "$NSI" addr add 192.0.2.2/24 dev vgi0
	ip -n "$NSH" -6 addr add fd00:2::1/64 dev vgh0 nodad
	ip -n "$NSI" -6 addr add fd00:2::2/64 dev vgi0 nodad
	for a in 198.51.100.10 203.0.113.10 10.0.0.53; do ip -n "$NSI" addr add "$a/32" dev lo; done
	ip -n "$NSI" -6 addr add 2001:db8::10/128 dev lo
	ip -n "$NSH" route add default via 192.0.2.2
	ip -n "$NSH" -6 route add default via fd00:2::2
	# ping sockets for every group, in these namespaces only
	ip netns exec "$NSH" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
}

# probe NETNS|- CGROUP|- [options]: the prober in that namespace and cgroup ("-": stay)
probe() {
	_ns=$1
	_cg=$2
	shift 2
	set -- "$@"
	[ "$_ns" = - ] || set -- --netns "/run/netns/$_ns" "$@"
	[ "$_cg" = - ] || set -- --cgroup "$_cg" "$@"
	"$PROBE" "$@"
}

# serve NETNS CGROUP|- "tcp 443" "udp 53"...: a holder of listening sockets, waits until they are up
serve() {
	ns=$1
	cg=$2
	shift 2
	out="$T/serve.$$.$(date +%s%N)"
	reqs=""
	n=0
	for s in "$@"; do
		reqs="${reqs}listen $s
"
		n=$((n + 1))
	done
	printf '%s' "$reqs" >"$out.req"
	# a subshell that execs the prober: $! is the prober itself, so cleanup can stop it
	(
		set --
		[ "$ns" = - ] || set -- --netns "/run/netns/$ns"
		[ "$cg" = - ] || set -- --cgroup "$cg" "$@"
		exec "$PROBE" "$@" --hold
	) <"$out.req" >"$out" 2>&1 &
	_enf_pids="$_enf_pids $!"
	i=0
	while [ "$(grep -c listening "$out")" != "$n" ]; do
		i=$((i + 1))
		grep -q error "$out" && fail "serve $*: $(cat "$out")"
		[ $i -gt 100 ] && fail "serve $*: listeners did not come up: $(cat "$out")"
		sleep 0.05
	done
}

# count PROTO PORT NAME NETNS CGROUP|-: a counting receiver; its numbers in $T/NAME
count() {
	(
		[ "$5" = - ] || echo 0 >"$5/cgroup.procs"
		exec nsenter --net="/run/netns/$4" "$PROBE" --count "$1" "$2" "$T/$3"
	) &
	_enf_pids="$_enf_pids $!"
	i=0
	until [ -s "$T/$3" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "counting receiver $3 did not start"
		sleep 0.05
	done
}
# sniff ADDR NAME: packets to ADDR seen on the peer's interface, in $T/NAME
sniff() {
	nsenter --net="/run/netns/$NSI" "$PROBE" --sniff vgi0 "$1" "$T/$2" &
	_enf_pids="$_enf_pids $!"
	i=0
	until [ -s "$T/$2" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "capture $2 did not start"
		sleep 0.05
	done
}
# field NAME WORD: a number from a receiver's file
field() { word "$(cat "$T/$1")" "$2"; }
# word TEXT WORD: the number after WORD in TEXT (a receiver's file, a flood's answer)
word() { echo "$1" | awk -v w="$2" '{ for (i = 1; i < NF; i++) if ($i == w) print $(i + 1) }'; }
# unchanged NAME WORD BEFORE WHAT: after a moment, the receiver still has BEFORE
unchanged() {
	sleep 0.5
	n=$(field "$1" "$2")
	[ "$n" = "$3" ] || fail "$4: the receiver got it ($2 $3 -> $n)"
	ok "$4: nothing arrived ($1 $2 stays $n)"
}
# arrives NAME WORD BEFORE WHAT: the positive control reached the receiver
arrives() {
	i=0
	while [ "$(field "$1" "$2")" = "$3" ]; do
		i=$((i + 1))
		[ $i -gt 40 ] && fail "$4: even the control did not arrive; the evidence is broken"
		sleep 0.05
	done
	ok "$4: the control arrived ($1 $2 $3 -> $(field "$1" "$2"))"
}
# run NETNS CGROUP|- REQUEST: one probe request, its answer printed
run() { echo "$3" | probe "$1" "$2" --wait-ms 500; }

# expect NETNS CGROUP|- <<EOF lines "REQUEST... => WORD [DETAIL]"; one prober runs them all.
# WORD is deny or allow; a DETAIL (connected, reply...) must match too.
expect() {
	ns=$1
	cg=$2
	grep -v '^[[:space:]]*$' | grep -v '^#' >"$T/expect.in"
	sed 's/ *=>.*//' "$T/expect.in" >"$T/expect.req"
	probe "$ns" "$cg" <"$T/expect.req" >"$T/expect.out"
	n=0
	while IFS= read -r line; do
		n=$((n + 1))
		want=${line#*=> }
		got=$(sed -n "${n}p" "$T/expect.out")
		req=${line%% =>*}
		case "$got" in
		"$want"*) ok "${cg##*/}: $req => $got" ;;
		*) fail "${cg##*/}: $req: expected '$want', kernel said '$got'" ;;
		esac
	done <"$T/expect.in"
}

# status_counter TENANT FIELD: a counter from vigilctl status
status_counter() {
	ctl --json status | python3 -c '
import json, sys
s = json.load(sys.stdin)["modules"]["enforce"]
t = s["host"] if sys.argv[1] == "host" else s["tenants"][sys.argv[1]]
print(t[sys.argv[2]])' "$1" "$2"
}

# audit_events TYPE: the data of every audit event of that type, one JSON per line
audit_events() {
	ctl --json audit tail --dir "$T/state/audit" -n 100000 2>/dev/null | python3 -c '
import json, sys
want = "dev.vigil." + sys.argv[1]
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    try:
        e = json.loads(line)
    except ValueError:
        continue
    for ev in (e if isinstance(e, list) else e.get("events", [e])):
        if ev.get("type") == want:
            print(json.dumps(ev.get("data", {}), sort_keys=True))' "$1"
}

# wait_audit TYPE NEEDLE: polls the audit log until an event of TYPE contains NEEDLE
wait_audit() {
	i=0
	until audit_events "$1" | grep -c -- "$2" >/dev/null; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "no $1 audit event with $2; have: $(audit_events "$1" | tail -n 3)"
		sleep 0.1
	done
	ok "audit event $1 with $2"
}

# our links: ids of the BPF links whose programs are vigil's and whose pins live in $BPFFS
pinned_link_ids() {
	for f in "$BPFFS"/link_*; do
		[ -e "$f" ] || continue
		bpftool -j link show pinned "$f" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
	done | sort -n | tr '\n' ' '
}

# every attachment of this test's vigil programs at cgroup $1 (default: the cgroup root), as "prog_name:id"
# (ids from bpftool cgroup show): programs named vg_* that use a map pinned under $BPFFS, so that the
# programs of other vigilds on the machine (other tests, benchmarks) do not count. The map ids are
# taken at the first call, while the pins exist, and kept in $T for calls after an unload.
attached_vigil_progs() {
	if [ ! -s "$T/enf_map_ids" ]; then
		for f in "$BPFFS"/map_*; do
			bpftool -j map show pinned "$f" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
		done | tr '\n' ' ' >"$T/enf_map_ids"
		[ -s "$T/enf_map_ids" ] || fail "no maps pinned under $BPFFS"
	fi
	bpftool -j cgroup show "${1:-$CGROOT}" | python3 -c '
import json, subprocess, sys
ours = set(int(i) for i in sys.argv[1].split())
text = sys.stdin.read().strip()
progs = json.loads(text) if text else []
def uses_ours(pid):
    out = subprocess.run(["bpftool", "-j", "prog", "show", "id", str(pid)], capture_output=True, text=True).stdout
    return bool(ours & set(json.loads(out or "{}").get("map_ids", [])))
print(" ".join(sorted("%s:%s" % (p["name"], p["id"]) for p in progs
                      if p.get("name", "").startswith("vg_") and uses_ours(p["id"]))))' "$(cat "$T/enf_map_ids")"
}

# dnsmasq_start [ARG...] : dnsmasq in $NSI answering on 10.0.0.53:53 from $T/hosts and ARGs, its
# questions logged in $T/dnsmasq.log; returns once it runs, its pid in DNSMASQ
dnsmasq_start() {
	ip netns exec "$NSI" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
		--addn-hosts="$T/hosts" --listen-address=10.0.0.53 --bind-interfaces --port=53 \
		--user=root --group=root --pid-file="$T/dnsmasq.pid" --log-queries --log-facility="$T/dnsmasq.log" \
		"$@" &
	_enf_pids="$_enf_pids $!"
	_i=0
	until [ -s "$T/dnsmasq.pid" ]; do
		_i=$((_i + 1))
		[ $_i -gt 100 ] && fail "dnsmasq did not start"
		sleep 0.05
	done
	DNSMASQ=$(cat "$T/dnsmasq.pid")
}
