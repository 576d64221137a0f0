# Fixture host trees for the posture tests (sourced after lib.sh). Everything lives
# below $FX, which vigild reads through posture_root; nothing touches the real host.
FX="$T/root"
EFI_GUID=8be4df61-93ca-11d2-aa0d-00e098032b8c

fx_pseudo_mounts() {
	cat <<EOF
21 26 0:20 / /proc rw,relatime - proc proc rw
22 26 0:21 / /sys rw,relatime - sysfs sysfs rw
23 26 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,mode=755
EOF
}

# fx_blockdev NAME MAJ:MIN [DM_UUID [SLAVE...]]
fx_blockdev() {
	name=$1 mm=$2
	mkdir -p "$FX/sys/class/block/$name" "$FX/sys/dev/block"
	echo "$mm" >"$FX/sys/class/block/$name/dev"
	ln -sfn "../../devices/virtual/block/$name" "$FX/sys/dev/block/$mm"
	[ $# -ge 3 ] || return 0
	mkdir -p "$FX/sys/class/block/$name/dm" "$FX/sys/class/block/$name/slaves"
	echo "$3" >"$FX/sys/class/block/$name/dm/uuid"
	shift 3
	for s in "$@"; do ln -sfn "../../$s" "$FX/sys/class/block/$name/slaves/$s"; done
}

# fx_mounts LINE... : proc/self/mountinfo = pseudo filesystems + these lines
fx_mounts() {
	mkdir -p "$FX/proc/self"
	{ fx_pseudo_mounts; for l in "$@"; do echo "$l"; done; } >"$FX/proc/self/mountinfo"
}

# fx_process PID EXE UID CGROUP : a process whose /proc/PID/exe links to EXE inside the tree
fx_process() {
	mkdir -p "$FX/proc/$1"
	ln -sfn "$FX$2" "$FX/proc/$1/exe"
	printf 'Name:\t%s\nUmask:\t0022\nUid:\t%s\t%s\t%s\t%s\nGid:\t0\t0\t0\t0\n' "$(basename "$2")" "$3" "$3" "$3" "$3" \
		>"$FX/proc/$1/status"
	echo "0::$4" >"$FX/proc/$1/cgroup"
}

# fx_dpkg_upgrade DAYS_AGO : dpkg.log's newest upgrade is that old
fx_dpkg_upgrade() {
	mkdir -p "$FX/var/lib/dpkg" "$FX/var/log"
	: >"$FX/var/lib/dpkg/status"
	when=$(date -d "@$(( $(date +%s) - $1 * 86400 ))" '+%Y-%m-%d %H:%M:%S')
	echo "$when upgrade libssl3:amd64 3.0.15-1~deb12u1 3.0.17-1~deb12u2" >"$FX/var/log/dpkg.log"
}

# fx_secure_boot 0|1
fx_secure_boot() {
	mkdir -p "$FX/sys/firmware/efi/efivars"
	printf "\\006\\000\\000\\000\\00$1" >"$FX/sys/firmware/efi/efivars/SecureBoot-$EFI_GUID"
}

# A host that passes prod: LUKS root, plain /boot (exempt), EDR running in its unit,
# upgraded 2 days ago, Secure Boot on, untainted kernel.
fx_good_host() {
	fx_blockdev vda1 254:1
	fx_blockdev vda2 254:2
	fx_blockdev dm-0 253:0 CRYPT-LUKS2-0123456789abcdef0123456789abcdef-root vda2
	fx_mounts "26 1 253:0 / / rw,relatime - ext4 /dev/mapper/root rw" \
		"27 26 254:1 / /boot rw,relatime - ext4 /dev/vda1 rw"
	mkdir -p "$FX/opt/edr" "$FX/sbin"
	printf '#!/bin/sh\n' >"$FX/opt/edr/agentd"
	chmod 0755 "$FX/opt/edr/agentd"
	: >"$FX/sbin/init"
	fx_process 1 /sbin/init 0 /init.scope
	fx_process 812 /opt/edr/agentd 0 /system.slice/edr-agent.service
	fx_dpkg_upgrade 2
	fx_secure_boot 1
	mkdir -p "$FX/proc/sys/kernel"
	echo 0 >"$FX/proc/sys/kernel/tainted"
}

# posture_bundle FILE VERSION [mkbundle args...] : prod bundle naming the fixture's EDR agent
posture_bundle() {
	f=$1 v=$2
	shift 2
	make_bundle "$f" "$v" --set 'elevation.posture.prod.edr_agents=["/opt/edr/agentd"]' \
		--set 'elevation.posture.prod.exempt_mounts=["/boot", "/boot/efi"]' "$@"
}

# posture_events : data of every posture.changed event in the audit trail, one compact
# sorted-key JSON line each, in sequence order (reads the log's records wherever they sit)
posture_events() {
	python3 - "$T/state" <<'EOF'
import json, os, sys
dec, found = json.JSONDecoder(), {}
for d, _, files in os.walk(sys.argv[1]):
    for f in files:
        text = open(os.path.join(d, f), "rb").read().decode("utf-8", "replace")
        i = text.find('{"specversion"')
        while i >= 0:
            try:
                ev, end = dec.raw_decode(text, i)
            except ValueError:
                end = i + 1
            else:
                if ev.get("type") == "dev.vigil.posture.changed":
                    found[ev["id"]] = ev
            i = text.find('{"specversion"', end)
for e in sorted(found.values(), key=lambda e: e["data"].get("seq", 0)):
    print(json.dumps(e["data"], sort_keys=True, separators=(",", ":")))
EOF
}

posture_changed_count() { posture_events | wc -l; }

# wait_posture_changed N|last TEXT : the N-th (or latest) posture.changed event contains TEXT (10 s)
wait_posture_changed() {
	i=0
	while [ $i -lt 100 ]; do
		if [ "$1" = last ]; then sel='$p'; else sel="$1p"; fi
		posture_events | sed -n "$sel" | grep -qF -- "$2" && return 0
		i=$((i + 1))
		sleep 0.1
	done
	return 1
}
