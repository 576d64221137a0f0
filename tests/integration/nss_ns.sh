# Helpers for the t_nss_*.sh tests (sourced after lib.sh). glibc only loads NSS
# modules from its system library directory, so in_nss_ns runs a command in a
# private mount namespace where an overlay over that directory holds the built
# libnss_vigil.so.2 and /etc/nsswitch.conf is a test copy. Nothing outside the
# namespace changes; the mounts vanish with it.
NSS_SO="$BIN/libnss_vigil.so.2"
MKCACHE="$BIN/tests/nss_mkcache"
LOOKUP="$BIN/tests/nss_lookup"
NSSDIR="$T/nss"

nss_setup() {
	need_root
	[ -f "$NSS_SO" ] || fail "$NSS_SO not built"
	command -v unshare >/dev/null || skip "unshare (util-linux) missing"
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
	grep -qw overlay /proc/filesystems || skip "overlayfs not available"
	NSS_LIBDIR=$(dirname "$(readlink -f /lib/x86_64-linux-gnu/libc.so.6 2>/dev/null || readlink -f /lib64/libc.so.6)")
	[ -d "$NSS_LIBDIR" ] || skip "cannot find glibc's library directory"
	mkdir -p "$NSSDIR"
	printf 'passwd: files vigil\ngroup: files vigil\nshadow: files\n' >"$T/nsswitch.conf"
	export VIGIL_NSS_CACHE_DIR="$NSSDIR" NSS_SO NSS_LIBDIR T
}

# in_nss_ns CMD [ARGS...]: CMD sees libnss_vigil.so.2 and "passwd/group: files vigil"
in_nss_ns() {
	_ov=$(mktemp -d "$T/ov.XXXXXX")
	mkdir "$_ov/up" "$_ov/work"
	_rc=0
	OV="$_ov" unshare -m --propagation private sh -c '
		set -e
		mount -t overlay overlay -o "lowerdir=$NSS_LIBDIR,upperdir=$OV/up,workdir=$OV/work" "$NSS_LIBDIR"
		cp "$NSS_SO" "$NSS_LIBDIR/libnss_vigil.so.2"
		mount --bind "$T/nsswitch.conf" /etc/nsswitch.conf
		exec "$@"' sh "$@" || _rc=$?
	rm -rf "$_ov"
	return $_rc
}

# poll_until SECONDS CMD...: retry CMD every 0.1 s until it succeeds or time runs out
poll_until() {
	_end=$(($(date +%s) + $1)); shift
	until "$@"; do
		[ "$(date +%s)" -lt "$_end" ] || return 1
		sleep 0.1
	done
}
