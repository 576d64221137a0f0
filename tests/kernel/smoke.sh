#!/bin/sh
# The promises that depend on the kernel, proved once per kernel: run by the
# t_kernel_matrix guest (tests/kernel/guest.sh), and runnable on the host as root
# (BUILD=build-th sh tests/kernel/smoke.sh) to check the suite itself.
# - every BPF program passes this kernel's verifier: vigild starts with enforce on,
#   status says "enforcing" and vigild answers its control socket;
# - a tenant's allowed connect arrives and its denied connect and datagram do not
#   (a counting receiver says so, with a control from the host that must arrive);
# - a connected UDP flow opened before the policy denied it is cut by the packet
#   program (cgroup_skb), and the ring buffer brings the deny event to the audit log;
# - MPTCP sockets are refused to a tenant that may not open them (noted when the
#   kernel has no MPTCP);
# - the other modules come up on this kernel: status shows audit, identity and
#   elevation running, sudo through libpam and pam_vigil.so gets vigild's policy
#   answer, glibc resolves a bundle user through libnss_vigil, the audit chain verifies.
# Every wait is long and ends early: under TCG the guest runs many times slower.
. "$(dirname "$0")/../integration/lib.sh"
. "$ROOT/tests/integration/enforce_lib.sh"
. "$ROOT/tests/integration/nss_ns.sh"

# an emulated CPU: vigild and vigilctl both allow a slow caller a minute
CTL_MS=60000
ctl() { "$VIGILCTL" -s "$T/run/vigil.sock" --timeout $CTL_MS "$@"; }

# wait_for SECONDS WHAT CMD...: CMD until it succeeds, or fail naming WHAT
wait_for() {
	_n=$(($1 * 10))
	_what=$2
	shift 2
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt $_n ] && fail "$_what (waited $((_n / 10)) s)"
		sleep 0.1
	done
}
field() { awk -v w="$2" '{ for (i = 1; i < NF; i++) if ($i == w) print $(i + 1) }' "$T/$1"; }
# count PROTO PORT NAME: a counting receiver in the peer namespace; its numbers in $T/NAME
count() {
	nsenter --net="/run/netns/$NSI" "$PROBE" --count "$1" "$2" "$T/$3" &
	_enf_pids="$_enf_pids $!"
	wait_for 30 "counting receiver $3 did not start" test -s "$T/$3"
}
# unchanged NAME WORD BEFORE WHAT: after a moment the receiver still has BEFORE
unchanged() {
	sleep 1
	[ "$(field "$1" "$2")" = "$3" ] || fail "$4: the receiver got it ($1 $2 $3 -> $(field "$1" "$2"))"
	ok "$4: nothing arrived ($1 $2 stays $3)"
}
# arrives NAME WORD BEFORE WHAT: the receiver's count moved
moved() { [ "$(field "$1" "$2")" != "$3" ]; }
arrives() {
	wait_for 30 "$4: nothing arrived ($1 $2 stays $3)" moved "$1" "$2" "$3"
	ok "$4: arrived ($1 $2 $3 -> $(field "$1" "$2"))"
}
run() { echo "$3" | probe "$1" "$2" --wait-ms 2000; }
status() { ctl --json status | python3 -c "import json, sys; s = json.load(sys.stdin); print($1)"; }

CGA=$(tenant_cgroup alpha)
make_topology
make_keys
write_config "enforce = true" "ctl_timeout_ms = $CTL_MS"

echo "== vigild with enforcement on: every program past this kernel's verifier"
start=$(date +%s)
"$VIGILD" -c "$T/vigild.conf" --foreground >>"$T/vigild.log" 2>&1 &
VIGILD_PID=$!
wait_for 300 "vigild did not open its socket" test -S "$T/run/vigil.sock"
wait_for 300 "vigild does not answer status" ctl status
state=$(status 's["modules"]["enforce"]["state"]')
if [ "$state" != enforcing ]; then
	status 'json.dumps(s["modules"]["enforce"])' >&2 || true
	grep -a 'enforce' "$T/vigild.log" | tail -n 60 >&2
	fail "enforcement is '$state' on $(uname -r): this kernel refused a program (verifier log above)"
fi
ok "enforcing on $(uname -r), $(($(date +%s) - start)) s after start"
mods=$(status '" ".join("%s:%s" % (m, v.get("state", "up")) for m, v in sorted(s["modules"].items()))')
for m in audit elevation identity; do
	assert_contains " $mods" " $m:up" "module $m runs beside enforcement"
done
assert_not_contains "$mods" ":failed" "no module failed ($mods)"

echo "== a tenant's connects: allowed arrives, denied does not"
tenants='[{"name": "alpha", "id": 1, "mode": "enforce", "cgroups": ["'$CGREL'/alpha"],
  "egress": [{"id": 100, "cidr": "198.51.100.0/24", "proto": "tcp", "ports": ["443"]}'
push_bundle 2 --set "tenants=$tenants,
   {\"id\": 101, \"cidr\": \"198.51.100.0/24\", \"proto\": \"udp\", \"ports\": [\"5005\"]}]}]"
count tcp 443 c443
count tcp 444 c444
count udp 5005 c5005
count udp 5006 c5006
assert_eq "$(run "$NSH" "$CGA" "tcpwait 198.51.100.10 443")" "allow connected" "alpha, tcp to an allowed port"
arrives c443 conns 0 "alpha, tcp to an allowed port"
run "$NSH" "$CGA" "tcp 198.51.100.10 444" >/dev/null
unchanged c444 conns 0 "alpha, tcp to a denied port"
run "$NSH" - "tcpwait 198.51.100.10 444" >/dev/null
arrives c444 conns 0 "host, tcp to the same port (control)"
run "$NSH" "$CGA" "udpsend 198.51.100.10 5006" >/dev/null
unchanged c5006 msgs 0 "alpha, udp to a denied port"
run "$NSH" - "udpsend 198.51.100.10 5006" >/dev/null
arrives c5006 msgs 0 "host, udp to the same port (control)"

echo "== the packet program: a connected UDP flow opened before the policy denied it"
mkfifo "$T/held.in"
probe "$NSH" "$CGA" --hold <"$T/held.in" >"$T/held.out" 2>&1 &
_enf_pids="$_enf_pids $!"
exec 7>"$T/held.in"
echo "open udp 198.51.100.10 5005" >&7
echo "send" >&7
arrives c5005 msgs 0 "alpha's connected UDP while allowed"
b=$(field c5005 msgs)
push_bundle 3 --set "tenants=$tenants]}]"
echo "send" >&7
echo "send" >&7
unchanged c5005 msgs "$b" "alpha's connected UDP after the policy denied it"
exec 7>&-
wait_audit egress.denied '"port": 5005'
assert_contains "$(audit_events egress.denied | grep '"port": 5005' | head -n 1)" '"hook": "egress_packet"' \
	"the cut flow is reported by the packet program"

echo "== socket kinds: MPTCP"
if [ -r /proc/sys/net/mptcp/enabled ] && [ "$(cat /proc/sys/net/mptcp/enabled)" = 1 ]; then
	assert_eq "$(run "$NSH" "$CGA" "mptcp 198.51.100.10 443")" deny "alpha may not open an MPTCP socket"
	wait_audit egress.denied '"reason": "deny_socket_kind"'
else
	echo "NOTE: $(uname -r) has no MPTCP (net.mptcp.enabled missing or 0): MPTCP cases not run"
fi

echo "== PAM, NSS and audit on this kernel"
# sudo through libpam and pam_vigil.so, in a private mount namespace (a test pam.d and
# passwd): vigild answers with the policy's reason pattern and audits the refusal
mkdir -p "$T/pam.d"
echo "auth required $BIN/pam_vigil.so socket=$T/run/vigil.sock ctl_timeout_ms=$CTL_MS" >"$T/pam.d/sudo"
cp /etc/passwd "$T/passwd"
echo "alice:x:60001:60001:Alice:/tmp:/bin/sh" >>"$T/passwd"
out=$(unshare -m --propagation private sh -c 'mount --bind "$1/pam.d" /etc/pam.d &&
	mount --bind "$1/passwd" /etc/passwd && exec "$2" sudo alice 1 x' sh "$T" "$BIN/tests/pam_loop" 2>&1)
assert_contains "$out" 'the reason "x" does not match the required pattern' "sudo for alice: pam_vigil asked vigild"
assert_contains "$out" "ok=0 fail=1" "sudo for alice refused"
wait_audit step_up_failed '"user": "alice"'

nss_setup
export VIGIL_NSS_CACHE_DIR="$T/state/nss"
wait_for 30 "no passwd.cache after the push" test -f "$T/state/nss/passwd.cache"
assert_eq "$(in_nss_ns getent -s vigil passwd alice)" "alice:x:60001:60001:Alice Admin:/home/alice:/bin/bash" \
	"glibc resolves alice through libnss_vigil"
out=$(ctl audit verify --dir "$T/state/audit" 2>&1) || fail "audit verify: $out"
assert_contains "$out" ": intact: " "the audit chain verifies ($(echo "$out" | grep -m1 intact))"
# seconds later, still only what was allowed and the controls: nothing denied arrived late
assert_eq "$(field c444 conns) $(field c5006 msgs) $(field c5005 msgs)" "1 1 $b" \
	"the receivers hold only the controls and the allowed datagram (tcp 444, udp 5006, udp 5005)"
ok "smoke passed on $(uname -r)"
