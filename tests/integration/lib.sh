# Shared helpers for integration tests (sourced). Each test is a shell script
# tests/integration/t_*.sh run as root by tests/run-integration.sh; exit 0 = pass,
# 77 = skipped (print the reason), anything else = fail.
set -eu
: "${BUILD:=build}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN="$ROOT/$BUILD"
VIGILD="$BIN/vigild"
VIGILCTL="$BIN/vigilctl"
T=$(mktemp -d /tmp/vigil-test.XXXXXX)
VIGILD_PID=""
_cleanups=""

on_exit() { _cleanups="$*; $_cleanups"; }
_run_cleanup() {
	rc=$?
	set +e
	[ -n "$VIGILD_PID" ] && kill "$VIGILD_PID" 2>/dev/null && wait "$VIGILD_PID" 2>/dev/null
	eval "$_cleanups" >/dev/null 2>&1
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -f "$T/vigild.log" ]; then
		echo "---- vigild log (last 40 lines) ----" >&2
		tail -n 40 "$T/vigild.log" >&2
	fi
	rm -rf "$T"
	exit $rc
}
trap _run_cleanup EXIT INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIPPED: $*"; exit 77; }
ok() { echo "  ok: $*"; }
need_root() { [ "$(id -u)" = 0 ] || skip "needs root"; }

# assert_contains "haystack" "needle" "what"
assert_contains() { case "$1" in *"$2"*) ok "$3" ;; *) fail "$3: expected '$2' in: $1" ;; esac; }
assert_not_contains() { case "$1" in *"$2"*) fail "$3: did not expect '$2' in: $1" ;; *) ok "$3" ;; esac; }
assert_eq() { [ "$1" = "$2" ] && ok "$3" || fail "$3: expected '$2', got '$1'"; }

# make_keys: signing key $T/keys/sec1.key and a trust file $T/etc/trust.json (threshold 1)
make_keys() {
	mkdir -p "$T/keys" "$T/etc"
	"$VIGILCTL" keygen --out "$T/keys/sec1.key" >/dev/null
	"$VIGILCTL" trust new --out "$T/etc/trust.json" --version 1 --threshold 1 "$T/keys/sec1.key.pub" >/dev/null
}

# write_config [extra key=value lines...] -> $T/vigild.conf with every path under $T
write_config() {
	mkdir -p "$T/state" "$T/run" "$T/inbox" "$T/etc"
	cat >"$T/vigild.conf" <<EOC
state_dir = $T/state
run_dir = $T/run
socket = $T/run/vigil.sock
bpffs_dir = /sys/fs/bpf/vigil-test-$$
trust_file = $T/etc/trust.json
inbox_dir = $T/inbox
nss_cache_dir = $T/state/nss
breakglass_spool = $T/state/breakglass.spool
hostname = testhost
labels = role=test
enforce = false
metrics_textfile =
EOC
	for kv in "$@"; do echo "$kv" >>"$T/vigild.conf"; done
}

# start_vigild: background vigild on $T/vigild.conf, waits for its socket
start_vigild() {
	"$VIGILD" -c "$T/vigild.conf" --foreground >>"$T/vigild.log" 2>&1 &
	VIGILD_PID=$!
	i=0
	while [ ! -S "$T/run/vigil.sock" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && { cat "$T/vigild.log" >&2; fail "vigild did not create its socket"; }
		kill -0 "$VIGILD_PID" 2>/dev/null || { cat "$T/vigild.log" >&2; fail "vigild exited at start"; }
		sleep 0.1
	done
}
stop_vigild() {
	[ -n "$VIGILD_PID" ] || return 0
	kill "$VIGILD_PID"
	wait "$VIGILD_PID" 2>/dev/null || true
	VIGILD_PID=""
	rm -f "$T/run/vigil.sock"
}
ctl() { "$VIGILCTL" -s "$T/run/vigil.sock" "$@"; }

# bundle FILE VERSION [python-expr-modifications] : writes a bundle from examples/bundle.json
# with the version, hostname scope "testhost" and fresh times, then signs it with sec1
make_bundle() {
	out=$1; ver=$2; shift 2
	python3 "$ROOT/tests/integration/mkbundle.py" --version "$ver" --out "$out" "$@"
	"$VIGILCTL" policy sign --key "$T/keys/sec1.key" "$out" >/dev/null
}
