#!/bin/sh
# The t_kernel_matrix runner inside the guest (started by /sbin/kmatrix-init from the
# run disk mounted at /kmatrix): the mounts vigild and the tests need, then every test
# named in /kmatrix/tests, each under a time limit. Verdicts go to the serial console
# as "KMATRIX-RESULT <test> <exit status> <seconds>"; a failing test's output follows
# as "KMATRIX-LOG <test>: <line>". The host reads nothing else.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
limit=$(cat /kmatrix/limit)
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mount -o remount,rw /
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
ip link set lo up
hostname kmatrix
echo "KMATRIX-KERNEL $(uname -r)"
[ -r /sys/kernel/btf/vmlinux ] && echo "KMATRIX-BTF yes" || echo "KMATRIX-BTF no"
echo "KMATRIX-INFO clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)," \
	"booted in $(cut -d' ' -f1 /proc/uptime)s"
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
echo "KMATRIX-INFO active LSMs: $(cat /sys/kernel/security/lsm 2>/dev/null)"

# Before the tests: does vigild get every program past this kernel's verifier?
# One line for the host (KMATRIX-LOAD ok|failed), then vigild's enforce status and,
# on failure, the end of the verifier log.
load_check() {
	src=/kmatrix/src
	bin="$src/$(cat /kmatrix/build)"
	d=/tmp/load
	mkdir -p "$d/state" "$d/run" "$d/inbox"
	cat >"$d/vigild.conf" <<EOC
state_dir = $d/state
run_dir = $d/run
socket = $d/run/vigil.sock
bpffs_dir = /sys/fs/bpf/kmatrix-load
trust_file = $d/trust.json
inbox_dir = $d/inbox
nss_cache_dir = $d/state/nss
breakglass_spool = $d/state/breakglass.spool
hostname = kmatrix
enforce = true
EOC
	"$bin/vigild" -c "$d/vigild.conf" --foreground >"$d/log" 2>&1 &
	pid=$!
	i=0
	while [ ! -S "$d/run/vigil.sock" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 600 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	st=$("$bin/vigilctl" -s "$d/run/vigil.sock" --timeout 60000 --json status 2>&1 | python3 -c '
import json, sys
try:
    print(json.dumps(json.load(sys.stdin)["modules"]["enforce"], sort_keys=True))
except Exception as e:
    print("no status: %s" % e)')
	case $st in
	*'"state": "enforcing"'*) echo "KMATRIX-LOAD ok" ;;
	*) echo "KMATRIX-LOAD failed" ;;
	esac
	echo "KMATRIX-STATUS $st"
	case $st in
	*'"state": "enforcing"'*) ;;
	*) grep -a -v "^<[67]>" "$d/log" | tail -n 60 | sed 's/^/KMATRIX-LOADLOG /' ;;
	esac
	"$bin/vigilctl" -s "$d/run/vigil.sock" --timeout 60000 unload >/dev/null 2>&1
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -rf /sys/fs/bpf/kmatrix-load
}
load_check

for t in $(cat /kmatrix/tests); do
	start=$(date +%s)
	BUILD=$(cat /kmatrix/build) timeout -k 5 "$limit" sh "/kmatrix/src/tests/integration/$t.sh" >/tmp/out 2>&1
	rc=$?
	echo "KMATRIX-RESULT $t $rc $(($(date +%s) - start))"
	case $rc in 0) ;; *) tail -n 80 /tmp/out | sed "s/^/KMATRIX-LOG $t: /" ;; esac
	# whatever a killed test left attached must not leak into the next one
	rm -rf /sys/fs/bpf/vigil-test-* 2>/dev/null
done
echo "KMATRIX-DONE"
