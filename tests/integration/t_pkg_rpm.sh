#!/bin/sh
# timeout: 1200
# The .rpms: `make rpm` with rpmbuild on this Debian host (source package first, the
# binary packages rebuilt from it), on a copy of the tree whose version is bumped, then
# what an EL/Fedora admin would see with rpm -qp: the version in the binaries, the
# paths (/usr/lib64 for the modules), %config (noreplace), %license, the written-out
# scriptlets (group, preset and no start, unload on real removal only, restart on
# upgrade), the authselect profile, and rpmlint with the filters of
# packaging/rpm/vigil.rpmlintrc, each of which carries its reason.
. "$(dirname "$0")/lib.sh"
for tool in rpmbuild rpm rpmlint; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (make deps)"
done
# a private package directory: concurrent runs never share build-pkg/
PKG="$T/pkg"

# The tree with its version bumped in the three places a release bumps it (VERSION,
# debian/changelog, the spec's Version and %changelog): `make rpm` makes the source
# package and rebuilds the binary ones from it alone, and the binaries report the bump.
V=$(cat "$ROOT/VERSION")
NEWV=$(echo "$V" | awk -F. -v OFS=. '{ $NF = $NF + 1; print }')
mkdir -p "$T/src"
(cd "$ROOT" && tar --exclude='./build*' --exclude=./.git -cf - .) | tar -xf - -C "$T/src"
echo "$NEWV" >"$T/src/VERSION"
{
	printf 'vigil (%s-1) unstable; urgency=medium\n\n  * Test release.\n\n' "$NEWV"
	printf ' -- vigil maintainers <maintainers@vigil.example.org>  %s\n\n' "$(date -R)"
	cat "$ROOT/packaging/debian/changelog"
} >"$T/src/packaging/debian/changelog"
awk -v v="$NEWV" -v d="$(date '+%a %b %d %Y')" '
	/^Version:/ { print "Version:        " v; next }
	{ print }
	/^%changelog$/ { print "* " d " vigil maintainers <maintainers@vigil.example.org> - " v "-1"; print "- Test release"; print "" }
' "$ROOT/packaging/rpm/vigil.spec" >"$T/src/packaging/rpm/vigil.spec"
(cd "$T/src" && make -s version-check) || fail "the bumped tree does not pass version-check"
(cd "$T/src" && make rpm PKG_BUILD="$PKG") >"$T/rpm.log" 2>&1 || { tail -n 40 "$T/rpm.log" >&2; fail "make rpm"; }
MAIN=$(ls "$PKG"/vigil-[0-9]*.x86_64.rpm)
SRPM=$(ls "$PKG"/vigil-"$NEWV"-1*.src.rpm) || fail "no source package vigil-$NEWV-1.src.rpm"
ok "make rpm: $(cd "$PKG" && ls ./*.rpm | tr '\n' ' ')"
assert_contains "$(cat "$T/rpm.log")" "rpmbuild --rebuild" "the binary packages are rebuilt from the source package"
assert_eq "$(rpm -qp --qf '%{VERSION}' "$MAIN" 2>/dev/null)" "$NEWV" "the rpm has the bumped version $NEWV"
(cd "$T" && rpm2cpio "$MAIN" | cpio -id --quiet ./usr/sbin/vigild ./usr/bin/vigilctl ./usr/share/man/man8/vigild.8.gz) ||
	fail "unpacking vigild from the rpm"
assert_contains "$(zcat "$T/usr/share/man/man8/vigild.8.gz" | grep -m1 '^\.TH')" "\"vigil $NEWV\"" "vigild(8) from the rpm says $NEWV"
assert_eq "$("$T/usr/sbin/vigild" --version)" "vigild $NEWV" "vigild from the rpm reports $NEWV"
assert_eq "$("$T/usr/bin/vigilctl" --version)" "vigilctl $NEWV" "vigilctl from the rpm reports $NEWV"
# a tree whose spec disagrees with VERSION is refused before anything is built
sed -i "s/^Version:.*/Version: 9.9.9/" "$T/src/packaging/rpm/vigil.spec"
out=$(cd "$T/src" && make rpm PKG_BUILD="$T/pkg-bad" 2>&1) && fail "make rpm built with a spec that disagrees with VERSION"
assert_contains "$out" "vigil.spec has Version: 9.9.9 but VERSION says $NEWV" "a spec that disagrees with VERSION is refused, saying so"
PAM=$(ls "$PKG"/vigil-pam-[0-9]*.rpm 2>/dev/null || true)
NSS=$(ls "$PKG"/vigil-nss-[0-9]*.rpm 2>/dev/null || true)

q() { rpm -qp "$@" 2>/dev/null; }

files=$(q -l "$MAIN")
for f in /usr/sbin/vigild /usr/bin/vigilctl /usr/lib/systemd/system/vigild.service \
	/usr/lib/systemd/system-preset/90-vigil.preset /usr/lib/sysusers.d/vigil.conf \
	/usr/lib/tmpfiles.d/vigil.conf /etc/vigil/vigild.conf /var/lib/vigil \
	/usr/share/man/man8/vigild.8.gz /usr/share/man/man8/vigilctl.8.gz /usr/share/man/man5/vigild.conf.5.gz; do
	assert_contains "$files" "$f" "vigil.rpm ships $f"
done
assert_not_contains "$files" "trust.json" "no default trust file"
assert_not_contains "$files" "pam-configs" "no Debian pam-auth-update profile in the rpm"
assert_eq "$(q --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$MAIN" | grep ' /etc/vigil/vigild.conf$')" \
	"cn /etc/vigil/vigild.conf" "vigild.conf is %config(noreplace)"

scripts=$(q --scripts "$MAIN")
assert_contains "$scripts" "groupadd -r vigil-admin" "%pre creates the vigil-admin group"
assert_contains "$scripts" "systemctl --no-reload preset vigild.service" "%post applies the preset on install"
assert_not_contains "$scripts" "systemctl start" "%post starts nothing (Fedora policy: the preset decides, vigild starts at boot)"
assert_contains "$scripts" "vigilctl unload" "%preun unloads enforcement"
assert_contains "$scripts" "systemctl try-restart vigild.service" "%postun restarts on upgrade"

# Run the written-out scriptlets the way rpm would, with stub systemctl/vigilctl that
# log their calls and succeed (so the bpffs fallback of %preun never runs on this
# host), to check that an upgrade neither stops nor unloads and a removal does.
mkdir -p "$T/stub"
for c in systemctl vigilctl systemd-tmpfiles; do
	printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$c" "$T/calls" >"$T/stub/$c"
	chmod 755 "$T/stub/$c"
done
scriptlet() { # TAG ARG: run the %TAG scriptlet with $1 = ARG
	q --qf "%{$1}" "$MAIN" >"$T/$1.sh"
	: >"$T/calls"
	PATH="$T/stub:$PATH" sh "$T/$1.sh" "$2" >"$T/$1.out" 2>&1 || fail "%$1 $2 failed: $(cat "$T/$1.out")"
	cat "$T/calls"
}
assert_eq "$(scriptlet PREUN 1)" "" "%preun on upgrade (\$1=1) does nothing: enforcement kept"
calls=$(scriptlet PREUN 0)
assert_contains "$calls" "vigilctl unload" "%preun on erase (\$1=0) calls vigilctl unload"
assert_contains "$calls" "systemctl --no-reload disable --now vigild.service" "%preun on erase stops and disables"
assert_contains "$(scriptlet POSTUN 1)" "systemctl try-restart vigild.service" "%postun on upgrade restarts vigild"
assert_not_contains "$(scriptlet POSTUN 0)" "try-restart" "%postun on erase does not restart"
calls=$(scriptlet POSTIN 1)
assert_contains "$calls" "preset vigild.service" "%post on install presets"
assert_not_contains "$calls" "start" "%post on install does not start vigild"
assert_not_contains "$(scriptlet POSTIN 2)" "preset" "%post on upgrade keeps the admin's enablement"

# No lockout on erase (docs/operations.md): while a PAM file names pam_vigil.so, authselect's
# with-vigil-stepup files included (symlinks into /etc/authselect), %preun of vigil and of
# vigil-pam refuses (rpm then keeps the package), with the guard shipped in vigil-pam
if [ -n "$PAM" ]; then
	assert_contains "$(q -l "$PAM")" "/usr/libexec/vigil/pam-guard" "vigil-pam ships pam-guard"
	(cd "$T" && rpm2cpio "$PAM" | cpio -id --quiet ./usr/libexec/vigil/pam-guard) || fail "unpacking pam-guard"
	mkdir -p "$T/pamd" "$T/etc-authselect"
	printf 'auth sufficient pam_unix.so\nauth required pam_vigil.so\n' >"$T/etc-authselect/system-auth"
	ln -s "$T/etc-authselect/system-auth" "$T/pamd/system-auth"
	printf 'auth include system-auth\n' >"$T/pamd/sudo"
	erase() { # PACKAGE-FILE: its %preun on erase; output in $OUT, exit code in $RC
		q --qf '%{PREUN}' "$1" >"$T/preun.sh"
		RC=0
		OUT=$(PATH="$T/stub:$PATH" VIGIL_PAM_GUARD="$T/usr/libexec/vigil/pam-guard" PAM_GUARD_PAMD="$T/pamd" \
			PAM_GUARD_AUTHSELECT="$T/etc-authselect" sh "$T/preun.sh" 0 2>&1) || RC=$?
	}
	for pkg in "$MAIN" "$PAM"; do
		erase "$pkg"
		[ "$RC" != 0 ] || fail "$(basename "$pkg"): erase allowed while system-auth names pam_vigil.so"
		assert_contains "$OUT" "$T/pamd/system-auth" "$(basename "$pkg"): the refusal names the file"
		assert_contains "$OUT" "authselect disable-feature with-vigil-stepup" "$(basename "$pkg"): and says what to run"
	done
	: >"$T/calls"
	erase "$MAIN"
	assert_not_contains "$(cat "$T/calls")" "vigilctl unload" "a refused erase leaves enforcement loaded"
	rm "$T/pamd/system-auth"
	printf 'auth include system-auth\n#auth required pam_vigil.so\n' >"$T/pamd/sudo"
	for pkg in "$MAIN" "$PAM"; do
		erase "$pkg"
		assert_eq "$RC" 0 "$(basename "$pkg"): erase goes ahead once no PAM file names pam_vigil.so: $OUT"
	done
fi

for r in "$PKG"/*.x86_64.rpm; do
	assert_contains "$(q --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$r" | grep LICENSE)" "l /usr/share/licenses/" \
		"$(basename "$r") carries the license file (%license)"
done

if [ -n "$PAM" ]; then
	assert_contains "$(q -l "$PAM")" "/usr/lib64/security/pam_vigil.so" "vigil-pam ships /usr/lib64/security/pam_vigil.so"
else
	echo "  note: PAM module not built: no vigil-pam"
fi
if [ -n "$NSS" ]; then
	nfiles=$(q -l "$NSS")
	assert_contains "$nfiles" "/usr/lib64/libnss_vigil.so.2" "vigil-nss ships /usr/lib64/libnss_vigil.so.2"
	for f in README REQUIREMENTS nsswitch.conf system-auth password-auth; do
		assert_contains "$nfiles" "/usr/share/authselect/vendor/vigil/$f" "authselect profile has $f"
	done
	assert_contains "$(q --scripts "$NSS")" "/sbin/ldconfig" "vigil-nss runs ldconfig"
	prof="$ROOT/packaging/authselect/vigil"
	assert_contains "$(grep '^passwd:' "$prof/nsswitch.conf")" "files vigil" "authselect: passwd uses vigil after files"
	assert_contains "$(grep '^group:' "$prof/nsswitch.conf")" "vigil" "authselect: group uses vigil"
	assert_eq "$(grep -c 'pam_vigil.so.*{include if "with-vigil-stepup"}' "$prof/system-auth")" 2 \
		"authselect: pam_vigil only with with-vigil-stepup (auth + account)"
	grep -q 'with-vigil-stepup::' "$prof/README" || fail "authselect README does not document with-vigil-stepup"
else
	echo "  note: NSS module not built: no vigil-nss"
fi

rpmlint -r "$ROOT/packaging/rpm/vigil.rpmlintrc" "$PKG"/*.rpm >"$T/rpmlint.log" 2>&1 ||
	{ cat "$T/rpmlint.log" >&2; fail "rpmlint reports errors"; }
ok "rpmlint: $(tail -n 1 "$T/rpmlint.log")"
exit 0
