#!/bin/sh
# timeout: 1800
# The .debs, for real: `make deb`, lintian, then install, reinstall, remove and purge
# them in a fresh debootstrap bookworm chroot and check what each step leaves behind:
# files, conffiles, the vigil-admin group, the enabled unit, nsswitch.conf (exactly the
# vigil entries come and go), the pam-auth-update profile, `getent -s vigil` against a
# cache written by the real writer, the unload on removal, and purge of the state.
#
# The chroot comes from pkg_root.sh: cached in /var/cache/vigil-test (the downloads and
# the bootstrapped tree, keyed by date and by the packages included), shared with
# t_pkg_systemd. A tree up to 7 days old is reused, so only the first run of a week
# downloads (minutes, overlapped with the package build); later runs unpack it (seconds).
#
# Runs in its own mount namespace: whatever debootstrap mounts in the chroot goes away
# with the test, even if it is killed.
if [ "$(id -u)" = 0 ] && [ -z "${VIGIL_PKG_NS:-}" ]; then
	exec unshare -m --propagation private env VIGIL_PKG_NS=1 sh "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pkg_root.sh"
need_root
for tool in dpkg-buildpackage dh dh_installnss debootstrap lintian; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (make deps)"
done

R="$T/root"
# a private package directory: concurrent runs never share build-pkg/
PKG="$T/pkg"

# Run a command inside the chroot, with a clean environment.
in_root() {
	chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive "$@"
}

nss_line() { grep -E "^$1:" "$R/etc/nsswitch.conf"; }
count() { grep -c -- "$1" "$2" || true; }

# ---- build the debs while the chroot is made (or unpacked) beside them
pkg_root_make "$R" >"$T/root.log" 2>&1 &
ROOT_JOB=$!
# whatever fails later, debootstrap finishes before $T is removed
on_exit "wait $ROOT_JOB"
if ! (cd "$ROOT" && make deb PKG_BUILD="$PKG") >"$T/deb.log" 2>&1; then
	wait "$ROOT_JOB" || true
	tail -n 40 "$T/deb.log" >&2
	fail "make deb"
fi
pkg_debs_store "$PKG"
VIGIL_DEB=$(ls "$PKG"/vigil_*.deb)
PAM_DEB=$(ls "$PKG"/libpam-vigil_*.deb 2>/dev/null || true)
NSS_DEB=$(ls "$PKG"/libnss-vigil_*.deb 2>/dev/null || true)
STEPUP_DEB=$(ls "$PKG"/vigil-stepup_*.deb 2>/dev/null || true)
ok "make deb: $(cd "$PKG" && ls ./*.deb | tr '\n' ' ')"
# the source tree's build directories are not touched by the package build
[ ! -e "$ROOT/build-deb" ] || fail "make deb wrote build-deb into the source tree"

lintian --fail-on error,warning --no-tag-display-limit "$PKG"/*.deb >"$T/lintian.log" 2>&1 ||
	{ cat "$T/lintian.log" >&2; fail "lintian reports errors or warnings"; }
ok "lintian: no error or warning ($(grep -c . "$T/lintian.log") info/pedantic lines)"

contents=$(dpkg-deb -c "$VIGIL_DEB")
for f in ./usr/sbin/vigild ./usr/bin/vigilctl ./lib/systemd/system/vigild.service \
	./usr/lib/sysusers.d/vigil.conf ./usr/lib/tmpfiles.d/vigil.conf ./etc/vigil/vigild.conf \
	./usr/share/man/man8/vigild.8.gz ./usr/share/man/man8/vigilctl.8.gz ./usr/share/man/man5/vigild.conf.5.gz; do
	assert_contains "$contents" " $f" "vigil ships $f"
done
assert_not_contains "$contents" "trust.json" "no default trust file (missing trust = deny)"
assert_eq "$(dpkg-deb -I "$VIGIL_DEB" conffiles)" "/etc/vigil/vigild.conf" "vigild.conf is the one conffile"

# ---- a fresh bookworm
wait "$ROOT_JOB" || { cat "$T/root.log" >&2; fail "making the chroot"; }
cat "$T/root.log"
# no daemon may start inside the chroot
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
for m in proc sys; do
	! mountpoint -q "$R/$m" || fail "$R/$m is still mounted after debootstrap"
done
# systemd-tmpfiles (postinst) needs /proc; the mount lives in this test's private
# mount namespace and is taken down before $T is removed
mount -t proc proc "$R/proc" || fail "mount /proc in the chroot"
on_exit "umount -l '$R/proc'"
mkdir -p "$R/tmp/debs"
cp $VIGIL_DEB $PAM_DEB $NSS_DEB $STEPUP_DEB "$R/tmp/debs/"
cp "$R/etc/nsswitch.conf" "$T/nsswitch.orig"
cp -a "$R/etc/pam.d" "$T/pam.orig"
sed -E '/^(passwd|group|shadow):/ s/([[:space:]])files([[:space:]]|$)/\1files vigil\2/' "$T/nsswitch.orig" >"$T/nsswitch.want"

install_all() {
	in_root sh -c 'dpkg -i /tmp/debs/*.deb || apt-get -q -y -f install' >"$T/install.log" 2>&1 ||
		{ tail -n 30 "$T/install.log" >&2; fail "installing the debs in the chroot"; }
	bad=$(in_root dpkg-query -W -f='${db:Status-Abbrev}${Package}\n' vigil libpam-vigil libnss-vigil vigil-stepup 2>/dev/null |
		grep -v -E '^(ii|un) ' || true)
	[ -z "$bad" ] || fail "not fully installed: $bad"
}

# ---- install
install_all
assert_contains "$(cat "$T/install.log")" "trust.json is missing" "postinst says trust is missing"
for f in /usr/sbin/vigild /usr/bin/vigilctl /lib/systemd/system/vigild.service /etc/vigil/vigild.conf; do
	[ -e "$R$f" ] || fail "$f not installed"
done
ok "binaries, unit and config installed"
[ -L "$R/etc/systemd/system/multi-user.target.wants/vigild.service" ] || fail "vigild.service not enabled"
ok "vigild.service enabled"
assert_contains "$(in_root getent group vigil-admin)" "vigil-admin:x:" "sysusers created the vigil-admin group"
[ -d "$R/var/lib/vigil/nss" ] || fail "tmpfiles did not create /var/lib/vigil/nss"
ok "tmpfiles created /var/lib/vigil/nss"
assert_contains "$(in_root /usr/sbin/vigild -c /etc/vigil/vigild.conf --check-config 2>&1)" "is valid" \
	"the shipped vigild.conf parses with the shipped vigild (and its libraries resolve)"
in_root /usr/bin/vigilctl --help >/dev/null 2>&1 || fail "vigilctl --help in the chroot"
if [ -n "$STEPUP_DEB" ]; then
	in_root /usr/bin/vigil-stepup --help >/dev/null 2>&1 || fail "vigil-stepup --help in the chroot"
	ok "vigil-stepup runs in a fresh bookworm"
fi
systemd-analyze verify --root="$R" --man=no vigild.service >"$T/verify.log" 2>&1 ||
	{ cat "$T/verify.log" >&2; fail "systemd-analyze verify vigild.service"; }
ok "systemd-analyze verify vigild.service (installed tree)"

if [ -n "$NSS_DEB" ]; then
	diff -u "$T/nsswitch.want" "$R/etc/nsswitch.conf" >&2 || fail "nsswitch.conf after install"
	ok "nsswitch.conf gained exactly 'vigil' after 'files' for passwd, group and shadow"
	# the cache writer from the very sources the debs were built from, so the format matches
	src=$(ls -d "$PKG"/deb/vigil-*/ | head -n 1)
	make -s -C "$src" BUILD=build-deb build-deb/tests/pkg_nsscache >"$T/helper.log" 2>&1 ||
		{ cat "$T/helper.log" >&2; fail "building tests/lib/pkg_nsscache.c in the package export"; }
	"$src/build-deb/tests/pkg_nsscache" "$ROOT/examples/bundle.json" "$R/var/lib/vigil/nss" >/dev/null ||
		fail "writing the NSS cache"
	assert_eq "$(in_root getent -s vigil passwd alice)" "alice:x:60001:60001:Alice Admin:/home/alice:/bin/bash" \
		"getent -s vigil passwd alice"
	assert_contains "$(in_root getent -s vigil group sre)" "sre:x:60100:alice" "getent -s vigil group sre"
	assert_eq "$(in_root getent passwd alice | cut -d: -f3)" "60001" "getent passwd alice through nsswitch.conf"
	in_root getent passwd mallory >/dev/null && fail "deprovisioned mallory resolves"
	ok "deprovisioned mallory does not resolve"
	assert_eq "$(in_root getent passwd root | cut -d: -f1)" "root" "local accounts still come from files"
else
	diff -u "$T/nsswitch.orig" "$R/etc/nsswitch.conf" >&2 || fail "nsswitch.conf changed without libnss-vigil"
	echo "  note: libnss-vigil not built yet: NSS checks not run"
fi

if [ -n "$PAM_DEB" ]; then
	[ -f "$R/usr/share/pam-configs/vigil" ] || fail "pam-auth-update profile not installed"
	grep -qx vigil "$R/var/lib/pam/seen" || fail "pam-auth-update has not registered the vigil profile"
	ok "pam-auth-update lists the vigil profile"
	assert_eq "$(count pam_vigil "$R/etc/pam.d/common-auth")" 0 "profile is off by default (Default: no)"
	in_root pam-auth-update --enable vigil >/dev/null 2>&1 || fail "pam-auth-update --enable vigil"
	assert_eq "$(count pam_vigil.so "$R/etc/pam.d/common-auth")" 1 "enabled: pam_vigil in common-auth"
	assert_eq "$(count pam_vigil.so "$R/etc/pam.d/common-account")" 1 "enabled: pam_vigil in common-account"
else
	echo "  note: libpam-vigil not built yet: PAM checks not run"
fi

# ---- reinstall (an upgrade to the same version): idempotent, enforcement kept
cp "$R/etc/nsswitch.conf" "$T/nsswitch.installed"
cp -a "$R/etc/pam.d" "$T/pam.installed"
mkdir -p "$R/sys/fs/bpf/vigil/links"
install_all
assert_not_contains "$(cat "$T/install.log")" "unloaded" "an upgrade does not unload enforcement"
[ -d "$R/sys/fs/bpf/vigil/links" ] || fail "an upgrade removed the pins"
ok "pins survive an upgrade"
diff -u "$T/nsswitch.installed" "$R/etc/nsswitch.conf" >&2 || fail "reinstall changed nsswitch.conf"
diff -ru "$T/pam.installed" "$R/etc/pam.d" >&2 || fail "reinstall changed /etc/pam.d"
assert_eq "$(in_root getent group vigil-admin | wc -l)" 1 "one vigil-admin group"
ok "reinstall is idempotent (nsswitch.conf, pam.d, group)"

# ---- remove
if [ -n "$PAM_DEB" ]; then
	in_root dpkg -r libpam-vigil >"$T/rm.log" 2>&1 || { cat "$T/rm.log" >&2; fail "dpkg -r libpam-vigil"; }
	assert_eq "$(count pam_vigil "$R/etc/pam.d/common-auth")$(count pam_vigil "$R/etc/pam.d/common-account")" \
		00 "removal takes pam_vigil out of common-auth and common-account"
	[ ! -e "$R/usr/share/pam-configs/vigil" ] || fail "profile left after removal"
fi
if [ -n "$NSS_DEB" ]; then
	in_root dpkg -r libnss-vigil >"$T/rm.log" 2>&1 || { cat "$T/rm.log" >&2; fail "dpkg -r libnss-vigil"; }
	diff -u "$T/nsswitch.orig" "$R/etc/nsswitch.conf" >&2 || fail "nsswitch.conf after remove"
	ok "remove: nsswitch.conf is back to the original"
	# installing again from the config-files state adds the entries again, once
	in_root dpkg -i /tmp/debs/"$(basename "$NSS_DEB")" >"$T/rm.log" 2>&1 || fail "reinstall libnss-vigil"
	diff -u "$T/nsswitch.want" "$R/etc/nsswitch.conf" >&2 || fail "nsswitch.conf after remove + install"
	in_root dpkg -P libnss-vigil >"$T/rm.log" 2>&1 || { cat "$T/rm.log" >&2; fail "dpkg -P libnss-vigil"; }
	diff -u "$T/nsswitch.orig" "$R/etc/nsswitch.conf" >&2 || fail "nsswitch.conf after purge"
	ok "remove, install, purge: nsswitch.conf gains and loses exactly the vigil entries"
fi

[ -z "$STEPUP_DEB" ] || in_root dpkg -P vigil-stepup >/dev/null 2>&1 || fail "dpkg -P vigil-stepup"
in_root dpkg -r vigil >"$T/rm.log" 2>&1 || { cat "$T/rm.log" >&2; fail "dpkg -r vigil"; }
assert_contains "$(cat "$T/rm.log")" "removed the pins under /sys/fs/bpf/vigil" "removal unloads and says so"
[ ! -e "$R/sys/fs/bpf/vigil" ] || fail "pins left after removal"
[ -f "$R/etc/vigil/vigild.conf" ] || fail "remove deleted the conffile"
[ -d "$R/var/lib/vigil" ] || fail "remove deleted the state"
ok "remove keeps the conffile and the state"

# ---- purge
echo '{}' >"$R/etc/vigil/trust.json"
echo key >"$R/var/lib/vigil/host.key"
in_root dpkg -P vigil >"$T/rm.log" 2>&1 || { cat "$T/rm.log" >&2; fail "dpkg -P vigil"; }
for p in /var/lib/vigil /etc/vigil /run/vigil /etc/systemd/system/multi-user.target.wants/vigild.service; do
	[ ! -e "$R$p" ] || fail "purge left $p"
done
ok "purge removes state, keys, trust file, runtime dir and the enablement"
if [ -n "$PAM_DEB" ]; then
	in_root dpkg -P libpam-vigil >"$T/rm.log" 2>&1 || { cat "$T/rm.log" >&2; fail "dpkg -P libpam-vigil"; }
	diff -ru "$T/pam.orig" "$R/etc/pam.d" >&2 || fail "/etc/pam.d after purge differs from before install"
	ok "purge: /etc/pam.d is back to the original"
fi
left=$(in_root dpkg-query -W -f='${db:Status-Abbrev}${Package}\n' vigil libpam-vigil libnss-vigil vigil-stepup 2>/dev/null |
	grep -v '^un ' || true)
[ -z "$left" ] || fail "packages left after purge: $left"
exit 0
