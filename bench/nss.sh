#!/bin/sh
# NSS benchmark: getpwnam (hit and miss), getpwuid, getgrnam, getgrgid and `id USER`
# (a user in 100 groups, through initgroups) with 100k users and 10k groups, served
# by libnss_vigil.so.2, by glibc's nss_files, by Debian's libnss-cache (indexed) and
# by bench/nss_fixed/ (a fixed entry, nothing read: glibc's own dispatch floor),
# same data, same run, each through glibc inside a private mount namespace.
# Reproduce: sudo make bench, or: sudo BUILD=build bench/nss.sh [USERS GROUPS]
# Targets (issue 7): a lookup under 2 us; `id` of a user in 100 groups under 5 ms.
set -eu
: "${BUILD:=build}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
BIN="$ROOT/$BUILD"
NUSERS=${1:-100000}
NGROUPS=${2:-10000}
[ "$(id -u)" = 0 ] || { echo "bench/nss.sh: skipped (needs root for mount namespaces)"; exit 0; }
[ -f "$BIN/libnss_vigil.so.2" ] && [ -x "$BIN/tests/nss_mkcache" ] || { echo "bench/nss.sh: build first (make BUILD=$BUILD)"; exit 1; }
LIBDIR=$(dirname "$(readlink -f /lib/x86_64-linux-gnu/libc.so.6)")
W=$(mktemp -d /tmp/vigil-bench-nss.XXXXXX)
trap 'rm -rf "$W"' EXIT INT TERM

echo "== nss: generating $NUSERS users, $NGROUPS groups"
python3 "$ROOT/bench/nss_gen.py" "$W" "$NUSERS" "$NGROUPS"
"$BIN/tests/nss_mkcache" --bundle "$W/bundle.json" --dir "$W/vigil" --local-passwd /dev/null --local-group /dev/null >/dev/null
${CC:-cc} -O2 -o "$W/nss_bench" "$ROOT/bench/nss_bench.c"
# the dispatch floor: a module that answers a fixed entry without reading anything
${CC:-cc} -O2 -shared -fPIC -o "$W/libnss_fixed.so.2" "$ROOT/bench/nss_fixed/nss_fixed.c"
HAVE_CACHE=no
[ -e "$LIBDIR/libnss_cache.so.2" ] && HAVE_CACHE=yes

# in_ns SERVICE CMD...: CMD resolves passwd/group through SERVICE only
in_ns() {
	ov=$(mktemp -d "$W/ov.XXXXXX")
	mkdir "$ov/lu" "$ov/lw" "$ov/eu" "$ov/ew"
	rc=0
	SVC=$1 OV=$ov W=$W LIBDIR=$LIBDIR SO="$BIN/libnss_vigil.so.2" VIGIL_NSS_CACHE_DIR="$W/vigil" \
		unshare -m --propagation private sh -c '
		set -e
		mount -t overlay overlay -o "lowerdir=$LIBDIR,upperdir=$OV/lu,workdir=$OV/lw" "$LIBDIR"
		cp "$SO" "$LIBDIR/libnss_vigil.so.2"
		cp "$W/libnss_fixed.so.2" "$LIBDIR/libnss_fixed.so.2"
		mount -t overlay overlay -o "lowerdir=/etc,upperdir=$OV/eu,workdir=$OV/ew" /etc
		case $SVC in
		files) cp "$W/passwd" /etc/passwd; cp "$W/group" /etc/group ;;
		cache) cp -p "$W"/passwd.cache* "$W"/group.cache* /etc/ ;;
		esac
		printf "passwd: %s\ngroup: %s\n" "$SVC" "$SVC" >/etc/nsswitch.conf
		shift
		exec "$@"' sh "$@" || rc=$?
	rm -rf "$ov"
	return $rc
}

lookup_ns() { in_ns "$1" "$W/nss_bench" "$2" "$3" "$4" | sed -n 's/^ns_per_op //p'; }
# average wall time of `id u000042` in ms over N runs (one namespace, N processes)
id_ms() {
	in_ns "$1" sh -c 'n=$1; id -G u000042 | wc -w >&2; s=$(date +%s%N); i=0
		while [ $i -lt $n ]; do id u000042 >/dev/null; i=$((i + 1)); done
		e=$(date +%s%N); echo $(( (e - s) / n / 1000 ))' sh "$2" 2>"$W/ngroups"
}
lesser() { if [ -z "$1" ] || { [ -n "$2" ] && [ "$2" -lt "$1" ]; }; then echo "$2"; else echo "$1"; fi; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.1fx", a / b }'; }
us() { awk -v n="$1" 'BEGIN { if (n == "") print "-"; else printf "%.2f us", n / 1000 }'; }
ms() { awk -v n="$1" 'BEGIN { if (n == "") print "-"; else printf "%.2f ms", n / 1000 }'; }

row() { printf "%-10s %11s %11s %13s %11s %12s %12s %12s\n" "$@"; }
row op vigil files libnss-cache fixed files/vigil cache/vigil vigil/fixed
for op in pwnam pwmiss pwuid grnam grgid; do
	case $op in pw*) count=$NUSERS ;; *) count=$NGROUPS ;; esac
	# vigil and the floor in interleaved rounds, the best of each: on a shared machine one
	# run alone measures the neighbours' load as much as the lookup
	v="" x=""
	for round in 1 2 3; do
		v=$(lesser "$v" "$(lookup_ns vigil "$op" 200000 "$count")")
		x=$(lesser "$x" "$(lookup_ns fixed "$op" 200000 "$count")")
	done
	f=$(lookup_ns files "$op" 200 "$count")
	c=""
	[ $HAVE_CACHE = yes ] && c=$(lookup_ns cache "$op" 2000 "$count")
	row "get$op" "$(us "$v")" "$(us "$f")" "$(us "$c")" "$(us "$x")" "$(ratio "$f" "$v")" "$(ratio "$c" "$v")" "$(ratio "$v" "$x")"
	eval "res_$op=$v"
	bench_result "nss.get$op.files_over_vigil" "$(awk -v a="$f" -v b="$v" 'BEGIN { if (b > 0) print a / b }')" higher \
		"glibc files module, same lookups" "make bench BENCH=nss"
	[ -n "$c" ] && bench_result "nss.get$op.cache_over_vigil" "$(awk -v a="$c" -v b="$v" 'BEGIN { if (b > 0) print a / b }')" higher \
		"libnss-cache, same lookups" "make bench BENCH=nss"
	bench_result "nss.get$op.vigil_over_fixed" "$(awk -v a="$v" -v b="$x" 'BEGIN { if (b > 0) print a / b }')" lower \
		"a module returning a fixed entry (glibc's dispatch floor)" "make bench BENCH=nss"
done
vi=$(id_ms vigil 50)
ng=$(cat "$W/ngroups")
fi_=$(id_ms files 10)
ci=""
[ $HAVE_CACHE = yes ] && ci=$(id_ms cache 10)
# the floor of `id`: one exec of a trivial program in the same kind of namespace
base=$(in_ns vigil sh -c 's=$(date +%s%N); i=0; while [ $i -lt 50 ]; do /bin/true; i=$((i + 1)); done
	e=$(date +%s%N); echo $(( (e - s) / 50 / 1000 ))')
row "id(${ng}grp)" "$(ms "$vi")" "$(ms "$fi_")" "$(ms "$ci")" "-" "$(ratio "$fi_" "$vi")" "$(ratio "$ci" "$vi")" "-"
echo "floor of id: exec of /bin/true $(ms "$base")"
[ $HAVE_CACHE = yes ] || echo "(libnss-cache not installed: make deps installs it)"
worst=$(printf '%s\n' "$res_pwnam" "$res_pwmiss" "$res_pwuid" "$res_grnam" "$res_grgid" | sort -n | tail -n 1)
awk -v w="$worst" -v i="$vi" 'BEGIN {
	printf "target lookup < 2 us: worst %.2f us %s\n", w / 1000, (w < 2000 ? "MET" : "MISSED")
	printf "target id (100 groups) < 5 ms: %.2f ms %s\n", i / 1000, (i < 5000 ? "MET" : "MISSED") }'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "reproduce: sudo BUILD=$BUILD bench/nss.sh $NUSERS $NGROUPS"
