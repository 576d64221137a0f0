#!/bin/sh
# The t_kernel_matrix runner inside the guest (started by /sbin/kmatrix-init from the
# run disk mounted at /kmatrix): the mounts vigild and the tests need, then the smoke
# suite (tests/kernel/smoke.sh) and any further test named in /kmatrix/tests, each
# under a time limit. Verdicts go to the serial console as
# "KMATRIX-RESULT <test> <exit status> <seconds>", each test's output before it as
# "KMATRIX-LOG <test>: <line>". The host reads nothing else.
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

for t in smoke $(cat /kmatrix/tests); do
	case $t in
	smoke) script=/kmatrix/src/tests/kernel/smoke.sh ;;
	*) script=/kmatrix/src/tests/integration/$t.sh ;;
	esac
	start=$(date +%s)
	BUILD=$(cat /kmatrix/build) timeout -k 5 "$limit" sh "$script" >/tmp/out 2>&1
	rc=$?
	# the smoke suite's lines are the evidence, pass or fail; a longer test's only on failure
	case $t:$rc in smoke:* | *:[1-9]*) tail -n 150 /tmp/out | sed "s/^/KMATRIX-LOG $t: /" ;; esac
	echo "KMATRIX-RESULT $t $rc $(($(date +%s) - start))"
	# whatever a killed test left attached must not leak into the next one
	rm -rf /sys/fs/bpf/vigil-test-* 2>/dev/null
done
echo "KMATRIX-INFO up $(cut -d' ' -f1 /proc/uptime)s at the end"
echo "KMATRIX-DONE"
