#!/bin/sh
# The kernels users run: boot Debian bookworm's 6.1 cloud kernel and, when the mirror
# serves it, the bookworm-backports one (6.12) under qemu, one after the other, each
# with the current tree's build, and run the smoke suite inside (tests/kernel/smoke.sh):
# every BPF program passes that kernel's verifier, vigild enforces and answers, a
# tenant's allowed connect arrives and its denied ones do not, the packet program cuts
# a flow opened before the policy denied it, PAM, NSS and audit work.
#
# The image (a minbase bookworm root as ext4, plus each kernel's vmlinuz and initrd)
# is made by tests/kernel/mkimage.sh and cached in /var/cache/vigil-test/kmatrix-*,
# keyed by the package list, the mirror and the image scripts; an image up to 7 days
# old is reused, so a new kernel point release arrives within a week. The build and
# the tests go in on a second small ext4 disk made per run. Verdicts come back over
# the serial console. KVM when /dev/kvm works, else TCG (-cpu qemu64,-cx16).
# Building the image takes ~15 min on a cold cache (hence the timeout below); the
# times of a warm run are in docs/testing.md.
# KMATRIX_TESTS: further tests/integration tests to run in each guest after the smoke
# suite ("all": every t_enforce_*); they take minutes each under TCG.
# timeout: 3600
if [ "$(id -u)" = 0 ] && [ -z "${VIGIL_KMATRIX_NS:-}" ]; then
	exec unshare -m --propagation private env VIGIL_KMATRIX_NS=1 sh "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
need_root
for tool in qemu-system-x86_64 debootstrap mkfs.ext4; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (make deps)"
done
for f in vigild vigilctl libnss_vigil.so.2 pam_vigil.so tests/enforce_probe tests/pam_loop; do
	[ -x "$BIN/$f" ] || [ -f "$BIN/$f" ] || fail "missing $BIN/$f (make build-all)"
done

CACHE=/var/cache/vigil-test
KDIR="$ROOT/tests/kernel"
# per test inside the guest, seconds (TCG runs several times slower than the host)
GUEST_LIMIT=480
case ${KMATRIX_TESTS:-} in
all) TESTS=$(cd "$ROOT/tests/integration" && ls t_enforce_*.sh | sed 's/\.sh$//' | tr '\n' ' ') ;;
*) TESTS=${KMATRIX_TESTS:-} ;;
esac

# find_mirror SUITE: the Debian mirror apt already uses for SUITE (deb822 .sources or .list)
find_mirror() {
	{
		cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v s="$1" 'BEGIN { RS = "" }
			$0 ~ ("Suites:[^\n]*[ \t]" s "([ \t]|\n|$)") && /URIs:/ {
				match($0, /URIs:[ \t]*[^ \t\n]+/); u = substr($0, RSTART, RLENGTH)
				sub(/URIs:[ \t]*/, "", u); print u }'
		cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			sed 's/\[[^]]*\]//' | awk -v s="$1" '$1 == "deb" && $3 == s { print $2 }'
	} | head -n 1
}

# The packages of the libraries the build links (the host is bookworm too), and what
# the enforcement tests run: the image follows the build's needs.
guest_packages() {
	libs=$(for b in "$BIN/vigild" "$BIN/vigilctl" "$BIN/tests/enforce_probe"; do ldd "$b"; done |
		awk '/=> \// { print $3 }' | sort -u)
	# one dpkg query (each costs seconds); merged /usr: a library is known under one of its names
	# shellcheck disable=SC2046
	dpkg -S $libs $(readlink -f $libs) 2>/dev/null | cut -d: -f1 | sort -u | tr '\n' ,
	echo iproute2,python3,bpftool,procps,kmod
}

# image DIR: the cached image for this package set, made when missing or a week old
image() {
	mirror=$(find_mirror bookworm)
	[ -n "$mirror" ] || fail "no bookworm mirror in /etc/apt/sources.list*"
	security=$(find_mirror bookworm-security)
	pkgs=$(guest_packages)
	hash=$({ echo "$pkgs $mirror $security"; cat "$KDIR/mkimage.sh" "$KDIR/init"; } | md5sum | cut -c1-8)
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.kmatrix.lock"
	flock 9
	dir=$(find "$CACHE" -maxdepth 1 -name "kmatrix-$hash-*" -type d -mtime -7 | sort | tail -n 1)
	if [ -z "$dir" ]; then
		dir="$CACHE/kmatrix-$hash-$(date +%Y%m%d)"
		find "$CACHE" -maxdepth 1 -name 'kmatrix-*' -type d -exec rm -rf {} +
		start=$(date +%s)
		sh "$KDIR/mkimage.sh" "$dir.tmp" "$mirror" "$security" "$pkgs" >"$T/mkimage.log" 2>&1 ||
			{ cat "$T/mkimage.log" >&2; rm -rf "$dir.tmp"; fail "building the image"; }
		mv "$dir.tmp" "$dir"
		ok "image built in $(($(date +%s) - start))s: $(tail -n 1 "$T/mkimage.log")"
	else
		ok "image cached: $dir"
	fi
	exec 9>&-
	IMG=$dir
}

# the run disk: what the guest runs and nothing more (the tests' shell and python, the
# sample bundle, six built files), made per run in a few seconds
run_disk() {
	s="$T/stage"
	mkdir -p "$s/src/tests/kernel" "$s/src/examples" "$s/src/$BUILD/tests"
	cp -a "$ROOT/tests/integration" "$s/src/tests/"
	cp -a "$KDIR/smoke.sh" "$s/src/tests/kernel/"
	cp -a "$ROOT/examples/bundle.json" "$s/src/examples/"
	cp -a "$BIN/vigild" "$BIN/libnss_vigil.so.2" "$BIN/pam_vigil.so" "$s/src/$BUILD/"
	cp -a "$BIN/tests/enforce_probe" "$BIN/tests/pam_loop" "$s/src/$BUILD/tests/"
	if [ -z "$TESTS" ]; then
		cp -a "$BIN/vigilctl" "$s/src/$BUILD/"
	else
		# The further tests call vigilctl and start vigild with the host's limits: on
		# the emulated CPU vigilctl waits a minute, not 5 s, and vigild's start 2 min.
		cp -a "$ROOT/examples" "$s/src/"
		cp -a "$BIN/vigilctl" "$s/src/$BUILD/vigilctl.bin"
		printf '#!/bin/sh\nexec "$(dirname "$0")/vigilctl.bin" --timeout 60000 "$@"\n' >"$s/src/$BUILD/vigilctl"
		chmod 755 "$s/src/$BUILD/vigilctl"
		sed -i '/^start_vigild()/,/^}/ s/\[ \$i -gt 100 \]/[ $i -gt 1200 ]/' "$s/src/tests/integration/lib.sh"
		grep -q 'i -gt 1200' "$s/src/tests/integration/lib.sh" || fail "lib.sh: start_vigild's wait changed, adapt run_disk"
	fi
	cp "$KDIR/guest.sh" "$s/"
	echo "$TESTS" >"$s/tests"
	echo "$BUILD" >"$s/build"
	echo "$GUEST_LIMIT" >"$s/limit"
	mkfs.ext4 -q -L kmatrix-run -d "$s" "$T/run.ext4" 128M >/dev/null || fail "mkfs.ext4 of the run disk"
}

# boot VER ACCEL LOG: one VM, until it powers off (or the time limit). Kernel options
# for a slow emulated machine: no IO-APIC timer check (it panics when the host is
# busy), the TSC as clock (6.1 falls back to the HPET, an exit per read under TCG).
boot() {
	case $2 in
	kvm) qargs="-accel kvm -cpu host" ;;
	*) qargs="-accel tcg -cpu qemu64,-cx16" ;;
	esac
	n=$(($(echo "$TESTS" | wc -w) + 1))
	# shellcheck disable=SC2086
	timeout -k 10 $((GUEST_LIMIT * n + 180)) qemu-system-x86_64 $qargs -smp 2 -m 2G \
		-display none -no-reboot -nic none -serial "file:$3" \
		-kernel "$IMG/vmlinuz-$1" -initrd "$IMG/initrd.img-$1" \
		-append "root=/dev/vda rw init=/sbin/kmatrix-init console=ttyS0 loglevel=3 panic=-1 $KOPTS" \
		-drive "file=$IMG/root.ext4,format=raw,if=virtio,snapshot=on" \
		-drive "file=$T/run.ext4,format=raw,if=virtio,snapshot=on" >"$3.qemu" 2>&1
}
KOPTS="no_timer_check clocksource=tsc tsc=reliable"

# boot_retry VER ACCEL LOG: boot; a guest that never reached its runner gets a second try
boot_retry() {
	boot "$@"
	grep -aq '^KMATRIX-KERNEL ' "$3" && return 0
	cp "$3" "$3.first"
	echo "  $1: no runner output (boot failed: $(grep -a -m1 -i 'panic' "$3.first" || echo 'see serial log')): booting again"
	boot "$@"
}

# KVM only if it boots a guest; nested kvm-pvm fails on MSRs or at cmpxchg16b
pick_accel() {
	if [ -w /dev/kvm ] && timeout 60 qemu-system-x86_64 -accel kvm -cpu host -display none -nic none \
		-no-reboot -m 512M -kernel "$IMG/vmlinuz-$1" -initrd "$IMG/initrd.img-$1" \
		-append "console=ttyS0 panic=-1 rdinit=/bin/false" -serial "file:$T/kvm.log" >/dev/null 2>&1 &&
		grep -q "Linux version" "$T/kvm.log"; then
		echo kvm
	else
		echo tcg
	fi
}

# verdict VER SUITE SECONDS: what the guest of VER said; failures named in $failed
verdict() {
	v=$1
	log="$T/serial-$v.log"
	grep -a '^KMATRIX-' "$log" | tr -d '\r' >"$log.k"
	grep -q "^KMATRIX-KERNEL $1" "$log.k" ||
		{ tail -n 30 "$log" "$log.qemu" >&2; failed="$failed $v:boot"; return 0; }
	ok "$2 kernel $1 booted ($(sed -n 's/^KMATRIX-INFO clocksource.*booted in //p' "$log.k"), all done in $3 s)"
	sed -n "s/^KMATRIX-INFO /  $1: /p" "$log.k"
	sed -n "s/^KMATRIX-LOG smoke: /  $1| /p" "$log.k"
	if ! grep -q '^KMATRIX-LOG smoke:   ok: enforcing on' "$log.k"; then
		echo "FAIL: $1: the kernel refused vigil's BPF programs or vigild did not answer (smoke log above): for the owner of bpf/" >&2
		failed="$failed $v:load"
	fi
	for t in smoke $TESTS; do
		res=$(grep "^KMATRIX-RESULT $t " "$log.k" | head -n 1)
		# shellcheck disable=SC2086
		set -- $res
		case ${3:-none} in
		0) ok "$t passed on $(sed -n 's/^KMATRIX-KERNEL //p' "$log.k") in ${4}s" ;;
		*)
			[ "$t" = smoke ] || sed -n "s/^KMATRIX-LOG $t: /    $t| /p" "$log.k" >&2
			echo "FAIL: $t: ${res:-no verdict (guest crashed or timed out)}" >&2
			failed="$failed $v:$t"
			;;
		esac
	done
	grep -q '^KMATRIX-DONE' "$log.k" || { tail -n 30 "$log" >&2; failed="$failed $v:unfinished"; }
}

image
run_disk
failed=""
accel=""
all=$(date +%s)
# one guest at a time: each gets both CPUs (TCG runs a vCPU per host thread)
while read -r ver suite; do
	[ -n "$accel" ] || accel=$(pick_accel "$ver")
	echo "  booting $ver ($suite, $accel)"
	start=$(date +%s)
	boot_retry "$ver" "$accel" "$T/serial-$ver.log"
	verdict "$ver" "$suite" "$(($(date +%s) - start))"
done <"$IMG/kernels"
ok "all guests in $(($(date +%s) - all)) s"
[ -z "$failed" ] || fail "on the kernels users run:$failed"
