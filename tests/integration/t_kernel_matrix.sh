#!/bin/sh
# The kernels users run: boot Debian bookworm's 6.1 cloud kernel and, when the mirror
# serves it, the bookworm-backports one (6.12) under qemu, each with the current
# tree's build, and run the enforcement integration tests (t_enforce_*) inside: the
# BPF programs must pass those kernels' verifiers and enforce there.
#
# The image (a minbase bookworm root as ext4, plus each kernel's vmlinuz and initrd)
# is made by tests/kernel/mkimage.sh and cached in /var/cache/vigil-test/kmatrix-*,
# keyed by the package list, the mirror and the image scripts; an image up to 7 days
# old is reused, so a new kernel point release arrives within a week. The build and
# the tests go in on a second small ext4 disk made per run. Verdicts come back over
# the serial console. KVM when /dev/kvm works, else TCG (-cpu qemu64,-cx16).
# Measured on the 2-core box at load ~19: building the image 15 min (cold cache, hence
# the timeout below); a warm run boots both kernels in parallel in ~80 s, checks the
# load, and runs the default tests in ~7 min in all.
# KMATRIX_TESTS: the tests run in the guest ("all": every t_enforce_*; default below).
# timeout: 3600
if [ "$(id -u)" = 0 ] && [ -z "${VIGIL_KMATRIX_NS:-}" ]; then
	exec unshare -m --propagation private env VIGIL_KMATRIX_NS=1 sh "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
need_root
# Opt-in until it is reliable in CI: under TCG on a loaded 2-core machine the guest's
# vigild timed out slow control connections (5 s) in one run on 6.12 (docs/testing.md).
[ "${VIGIL_KMATRIX:-}" = 1 ] || skip "boots bookworm's 6.1 and 6.12 kernels under qemu (5-7 min warm, 15 min cold): run with VIGIL_KMATRIX=1"
for tool in qemu-system-x86_64 debootstrap mkfs.ext4; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (make deps)"
done
[ -x "$BIN/tests/enforce_probe" ] || fail "missing $BIN/tests/enforce_probe (make build-all)"

CACHE=/var/cache/vigil-test
KDIR="$ROOT/tests/kernel"
# per test inside the guest, seconds (TCG runs several times slower than the host)
GUEST_LIMIT=480
# The tests whose outcome depends on the kernel: every hook's verdicts, pins and
# re-adoption. The others (explain's 2000 samples, the swap storm, flood, reject)
# exercise user space and take minutes each under TCG. t_enforce_adversarial passes
# on 6.12 (398 s) but did not finish within the limit on 6.1 (stuck or slow in its
# MPTCP section): it joins the default once that is
# understood. KMATRIX_TESTS=all runs every t_enforce_*, or name the tests.
DEFAULT_TESTS="t_enforce_egress t_enforce_restart"
case ${KMATRIX_TESTS:-} in
all) TESTS=$(cd "$ROOT/tests/integration" && ls t_enforce_*.sh | sed 's/\.sh$//' | tr '\n' ' ') ;;
"") TESTS=""
	for t in $DEFAULT_TESTS; do [ ! -f "$ROOT/tests/integration/$t.sh" ] || TESTS="$TESTS $t"; done ;;
*) TESTS=$KMATRIX_TESTS ;;
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

# the run disk: the tree's tests and examples, the build, the guest runner
run_disk() {
	s="$T/stage"
	mkdir -p "$s/src/tests" "$s/src/$BUILD/tests"
	cp -a "$ROOT/tests/integration" "$s/src/tests/"
	cp -a "$ROOT/examples" "$s/src/"
	cp -a "$BIN/vigild" "$s/src/$BUILD/"
	# The emulated machine is many times slower than the host: vigilctl waits up to
	# a minute for vigild instead of 5 s, or the tests fail on time, not on the kernel.
	cp -a "$BIN/vigilctl" "$s/src/$BUILD/vigilctl.bin"
	printf '#!/bin/sh\nexec "$(dirname "$0")/vigilctl.bin" --timeout 60000 "$@"\n' >"$s/src/$BUILD/vigilctl"
	chmod 755 "$s/src/$BUILD/vigilctl"
	cp -a "$BIN/tests/enforce_probe" "$s/src/$BUILD/tests/"
	# likewise vigild's start (the verifier runs on the emulated CPU): 2 min, not 10 s
	sed -i '/^start_vigild()/,/^}/ s/\[ \$i -gt 100 \]/[ $i -gt 1200 ]/' "$s/src/tests/integration/lib.sh"
	grep -q 'i -gt 1200' "$s/src/tests/integration/lib.sh" || fail "lib.sh: start_vigild's wait changed, adapt run_disk"
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
	kvm) accel="-accel kvm -cpu host" ;;
	*) accel="-accel tcg -cpu qemu64,-cx16" ;;
	esac
	n=$(echo "$TESTS" | wc -w)
	# shellcheck disable=SC2086
	timeout -k 10 $((GUEST_LIMIT * n + 180)) qemu-system-x86_64 $accel -smp 2 -m 2G \
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

# KVM only if it boots the guest; nested kvm-pvm fails on MSRs or at cmpxchg16b
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

image
run_disk
pids=""
while read -r ver suite; do
	accel=$(pick_accel "$ver")
	boot_retry "$ver" "$accel" "$T/serial-$ver.log" &
	pids="$pids $!"
	echo "  booting $ver ($suite, $accel)"
done <"$IMG/kernels"
start=$(date +%s)
for p in $pids; do wait "$p" || true; done
ok "guests finished in $(($(date +%s) - start))s"

failed=""
while read -r ver suite; do
	log="$T/serial-$ver.log"
	assert_contains "$(grep -a KMATRIX-KERNEL "$log" || cat "$log.qemu")" "KMATRIX-KERNEL $ver" "$suite kernel $ver booted"
	grep -a '^KMATRIX-INFO ' "$log" | tr -d '\r' | sed "s/^KMATRIX-INFO /  $ver: /"
	if grep -aq '^KMATRIX-LOAD ok' "$log"; then
		ok "$ver: vigild loaded every program: $(grep -a '^KMATRIX-STATUS ' "$log" | cut -c16-400)"
	else
		grep -a '^KMATRIX-\(STATUS\|LOADLOG\) ' "$log" | sed "s/^KMATRIX-[A-Z]* /    $ver load| /" >&2
		echo "FAIL: $ver: vigild did not load its programs (verifier log above)" >&2
		failed="$failed $ver:load"
	fi
	for t in $TESTS; do
		res=$(grep -a "^KMATRIX-RESULT $t " "$log" | head -n 1 | tr -d '\r')
		set -- $res
		case ${3:-none} in
		0) ok "$ver: $t passed (${4}s)" ;;
		*)
			grep -a "^KMATRIX-LOG $t: " "$log" | sed "s/^KMATRIX-LOG $t: /    $ver $t| /" >&2
			echo "FAIL: $ver: $t: ${res:-no verdict (guest crashed or timed out)}" >&2
			failed="$failed $ver:$t"
			;;
		esac
	done
	grep -aq '^KMATRIX-DONE' "$log" || { tail -n 30 "$log" >&2; failed="$failed $ver:unfinished"; }
done <"$IMG/kernels"
[ -z "$failed" ] || fail "on the kernels users run:$failed"
