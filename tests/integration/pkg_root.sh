# A fresh Debian bookworm root for the package tests (sourced after lib.sh).
#
# One cache convention for every test that needs a bookworm tree (t_pkg_deb,
# t_pkg_systemd, and anything that boots one): /var/cache/vigil-test holds
#   bookworm-minbase-<date>-<hash>.debs.tgz   debootstrap --make-tarball (the downloads)
#   bookworm-minbase-<date>-<hash>.root.tar.zst   the bootstrapped tree (zstd: unpacks in seconds)
# where <hash> covers PKG_ROOT_INCLUDE and the mirror. A tree up to 7 days old with
# the same hash is reused (unpacked in seconds). When a new one is made, the older ones
# of the same hash go, and so does any bookworm-minbase-* older than 7 days (other
# tests' package sets included). A missing cache is rebuilt (minutes: downloads).
# Another package set (PKG_ROOT_INCLUDE=...) gets its own hash beside this one.
#
# pkg_root_make DIR: DIR becomes the root. Safe to run in the background.

PKG_ROOT_CACHE=${PKG_ROOT_CACHE:-/var/cache/vigil-test}
# The runtime libraries the debs link (their shlibs Depends), systemd to boot the
# root as PID 1, sudo and su (util-linux, in minbase) for the PAM checks. Fixed here
# so the root can be made while the debs build; installing then needs no download.
PKG_ROOT_INCLUDE=${PKG_ROOT_INCLUDE:-systemd,systemd-sysv,sudo,libbpf1,libelf1,zlib1g,libcurl4,libjansson4,librelp0,libfido2-1,libssl3,libpam0g,libpam-runtime}

# The Debian mirror apt already uses for bookworm (deb822 .sources or one-line .list).
pkg_root_mirror() {
	{
		cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk 'BEGIN { RS = "" }
			/Suites:[^\n]*bookworm([ \t]|\n|$)/ && /URIs:/ {
				match($0, /URIs:[ \t]*[^ \t\n]+/); u = substr($0, RSTART, RLENGTH)
				sub(/URIs:[ \t]*/, "", u); print u }'
		cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			sed 's/\[[^]]*\]//' | awk '$1 == "deb" && $3 == "bookworm" { print $2 }'
	} | head -n 1
}

pkg_root_make() {
	_r=$1
	mirror=$(pkg_root_mirror)
	[ -n "$mirror" ] || fail "no bookworm mirror in /etc/apt/sources.list*"
	hash=$(echo "$PKG_ROOT_INCLUDE $mirror" | md5sum | cut -c1-8)
	key="$(date +%Y%m%d)-$hash"
	debs="$PKG_ROOT_CACHE/bookworm-minbase-$key.debs.tgz"
	tree="$PKG_ROOT_CACHE/bookworm-minbase-$key.root.tar.zst"
	mkdir -p "$PKG_ROOT_CACHE" "$_r"
	# concurrent tests wait for one another instead of bootstrapping twice
	exec 9>"$PKG_ROOT_CACHE/.lock"
	flock 9
	[ -f "$tree" ] || tree=$(find "$PKG_ROOT_CACHE" -name "bookworm-minbase-*-$hash.root.tar.zst" -mtime -7 | sort | tail -n 1)
	if [ -n "$tree" ] && [ -f "$tree" ]; then
		exec 9>&-
		tar -C "$_r" -I zstd -xf "$tree" || fail "cannot unpack $tree"
		ok "root unpacked from $tree"
		return 0
	fi
	tree="$PKG_ROOT_CACHE/bookworm-minbase-$key.root.tar.zst"
	find "$PKG_ROOT_CACHE" -name "bookworm-minbase-*-$hash.*" ! -name "*$key*" -delete
	find "$PKG_ROOT_CACHE" -name 'bookworm-minbase-*' -mtime +7 -delete
	if [ ! -f "$debs" ]; then
		debootstrap --variant=minbase --include="$PKG_ROOT_INCLUDE" --make-tarball="$debs.tmp" \
			bookworm "$T/dl" "$mirror" >"$T/debootstrap.log" 2>&1 ||
			{ tail -n 20 "$T/debootstrap.log" >&2; fail "debootstrap --make-tarball from $mirror"; }
		mv "$debs.tmp" "$debs"
		rm -rf "$T/dl"
	fi
	debootstrap --variant=minbase --include="$PKG_ROOT_INCLUDE" --unpack-tarball="$debs" \
		bookworm "$_r" "$mirror" >"$T/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$T/debootstrap.log" >&2; fail "debootstrap --unpack-tarball $debs"; }
	rm -f "$_r"/var/cache/apt/archives/*.deb
	tar -C "$_r" -I 'zstd -3 -T0' -cf "$tree.tmp" . && mv "$tree.tmp" "$tree"
	exec 9>&-
	ok "root bootstrapped from $mirror (cached as $tree)"
}

# The debs `make deb` built from the committed tree (it exports HEAD), cached by HEAD's
# tree hash so that the next package test of the same commit reuses them:
#   pkg_debs_store DIR     after `make deb PKG_BUILD=DIR`
#   pkg_debs_fetch DIR     copies them into DIR; fails when there are none
pkg_debs_key() {
	(cd "$ROOT" && git rev-parse -q --verify 'HEAD^{tree}' 2>/dev/null)
}
pkg_debs_store() {
	k=$(pkg_debs_key) || return 0
	mkdir -p "$PKG_ROOT_CACHE/debs-$k.tmp.$$" &&
		cp "$1"/*.deb "$PKG_ROOT_CACHE/debs-$k.tmp.$$/" &&
		{ mv -T "$PKG_ROOT_CACHE/debs-$k.tmp.$$" "$PKG_ROOT_CACHE/debs-$k" 2>/dev/null ||
			rm -rf "$PKG_ROOT_CACHE/debs-$k.tmp.$$"; }
	find "$PKG_ROOT_CACHE" -maxdepth 1 -name 'debs-*' -mtime +1 -exec rm -rf {} +
}
pkg_debs_fetch() {
	k=$(pkg_debs_key) || return 1
	[ -d "$PKG_ROOT_CACHE/debs-$k" ] || return 1
	mkdir -p "$1" && cp "$PKG_ROOT_CACHE/debs-$k"/*.deb "$1/"
}
