#!/bin/sh
# sudo make demo: vigild with an embedded default bundle in a throw-away state
# directory. It signs the bundle with a fresh key, applies it, enforces egress
# for a tenant cgroup in the kernel (one connection allowed, one refused with
# EPERM), explains both verdicts, shows the audit trail, then unloads and cleans up.
set -eu
: "${BUILD:=build}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B="$ROOT/$BUILD"
[ "$(id -u)" = 0 ] || { echo "demo: run as root (sudo make demo): it loads eBPF programs" >&2; exit 1; }
D=$(mktemp -d /tmp/vigil-demo.XXXXXX)
CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$CGROOT" ] || { echo "demo: no cgroup v2 filesystem is mounted" >&2; exit 1; }
CG="$CGROOT/vigil-demo-$$"
PIN=/sys/fs/bpf/vigil-demo-$$
VPID="" LPID=""
ctl() { "$B/vigilctl" -s "$D/run/vigil.sock" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
	set +e
	[ -S "$D/run/vigil.sock" ] && ctl unload >/dev/null 2>&1
	[ -n "$VPID" ] && kill "$VPID" 2>/dev/null && wait "$VPID" 2>/dev/null
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null
	for f in "$CG"/*/cgroup.procs; do [ -f "$f" ] && for p in $(cat "$f"); do echo "$p" >"$CGROOT/cgroup.procs"; done; done
	rmdir "$CG"/* "$CG" 2>/dev/null
	rm -rf "$PIN" "$D"
}
trap cleanup EXIT INT TERM
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

step "1. A security team key and the host's trust file"
mkdir -p "$D/keys" "$D/etc" "$D/run" "$D/state"
"$B/vigilctl" keygen --out "$D/keys/security-team.key"
"$B/vigilctl" trust new --out "$D/etc/trust.json" --version 1 --threshold 1 "$D/keys/security-team.key.pub"

step "2. vigild starts with a throw-away state directory"
cat >"$D/vigild.conf" <<EOC
state_dir = $D/state
run_dir = $D/run
socket = $D/run/vigil.sock
bpffs_dir = $PIN
trust_file = $D/etc/trust.json
inbox_dir = $D/state/inbox
nss_cache_dir = $D/state/nss
breakglass_spool = $D/state/breakglass.spool
hostname = demo-host
enforce = true
metrics_textfile =
EOC
"$B/vigild" -c "$D/vigild.conf" --foreground 2>"$D/vigild.log" &
VPID=$!
i=0; until [ -S "$D/run/vigil.sock" ]; do i=$((i+1)); [ $i -gt 100 ] && { cat "$D/vigild.log"; exit 1; }; sleep 0.1; done
ctl status

step "3. The embedded default bundle: tenant 'payments' may reach 127.0.0.1:8443/tcp only"
mkdir -p "$CG/payments" "$CG/analytics"
python3 "$ROOT/tests/integration/mkbundle.py" --version 1 --out "$D/bundle.json" \
	--set "scope.hosts=[\"demo-host\"]" \
	--set "tenants.0.cgroups=[\"${CG#$CGROOT}/payments\"]" \
	--set "tenants.1.cgroups=[\"${CG#$CGROOT}/analytics\"]" \
	--set 'tenants.0.egress=[{"id": 100, "cidr": "127.0.0.1/32", "proto": "tcp", "ports": ["8443"]}]'
"$B/vigilctl" policy sign --key "$D/keys/security-team.key" "$D/bundle.json"
"$B/vigilctl" policy verify --trust "$D/etc/trust.json" "$D/bundle.json"
ctl policy push "$D/bundle.json"

step "4. A tampered copy is refused; the running policy stays"
sed 's/"8443"/"22"/' "$D/bundle.json" >"$D/tampered.json"
cp "$D/bundle.json.sig" "$D/tampered.json.sig"
ctl policy push "$D/tampered.json" || true

step "5. Real connections from the tenant's cgroup, decided in the kernel"
python3 -c '
import socket, time
ss = []
for p in (8443, 8080):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", p)); s.listen(16); ss.append(s)
time.sleep(120)' &
LPID=$!
sleep 0.5
i=0; until ctl --json status | grep -q '"state": "enforcing"'; do i=$((i+1)); [ $i -gt 50 ] && break; sleep 0.1; done
sh -c "echo \$\$ > $CG/payments/cgroup.procs; exec python3 -c '
import socket
for port in (8443, 8080):
    s = socket.socket()
    try:
        s.connect((\"127.0.0.1\", port)); print(\"  payments -> 127.0.0.1:%d/tcp  connected\" % port)
    except OSError as e:
        print(\"  payments -> 127.0.0.1:%d/tcp  refused: %s\" % (port, e.strerror))
    s.close()
'"

step "6. Why? (vigilctl explain, from the same compiled policy the kernel uses)"
ctl explain --tenant payments --dst 127.0.0.1:8443/tcp
ctl explain --tenant payments --dst 127.0.0.1:8080/tcp

step "7. Status with per-tenant counters"
ctl status

step "8. The audit trail (hash-chained, verifiable)"
sleep 1
ctl audit tail --lines 6 2>/dev/null || tail -n 6 "$D/state/audit.jsonl" 2>/dev/null || true
"$B/vigilctl" audit verify --dir "$D/state/audit" 2>/dev/null || true

step "9. Unload enforcement and clean up"
ctl unload || true
echo "demo finished; everything it created is removed"
