# Helpers for the t_pam_*.sh tests (sourced after lib.sh). Every PAM stack runs in a private
# mount namespace where $T/pam.d is /etc/pam.d and $T/passwd|group add the test accounts, so
# the machine's own PAM and account files are never touched.
need_root
PAM_SO="$BIN/pam_vigil.so"
[ -f "$PAM_SO" ] || skip "$PAM_SO not built"
[ -x "$VIGILD" ] && [ -x "$VIGILCTL" ] || skip "vigild/vigilctl not built in $BIN"
command -v pamtester >/dev/null || skip "pamtester missing (make deps)"
command -v unshare >/dev/null || skip "unshare missing"

# a sanitizer build of the module (make SANITIZE=1) needs its runtime preloaded into pamtester;
# reports go to $T/san.* and fail the test (pamt), whatever pamtester's exit code says
PAM_PRELOAD=$(ldd "$PAM_SO" 2>/dev/null | awk '/libasan/ { print $3 }')
SAN_ENV=""
if [ -n "$PAM_PRELOAD" ]; then
	SAN_ENV="LD_PRELOAD=$PAM_PRELOAD ASAN_OPTIONS=log_path=$T/san.asan:detect_leaks=1 UBSAN_OPTIONS=log_path=$T/san.ubsan:print_stacktrace=1"
fi
san_check() {
	for f in "$T"/san.*; do
		[ -e "$f" ] || continue
		cat "$T"/san.* >&2
		fail "sanitizer report from pam_vigil.so"
	done
}

# grants are bound to the audit session of who earned them (docs/pam.md "Grants"): the test runs in
# a login session of its own, as a user's shell would; new_session CMD... runs CMD in another one
echo 0 >/proc/self/loginuid 2>/dev/null || skip "cannot start an audit login session (/proc/self/loginuid)"
[ "$(cat /proc/self/sessionid)" != 4294967295 ] || skip "no audit session ids on this kernel (CONFIG_AUDIT)"
new_session() { sh -c 'echo 0 >/proc/self/loginuid && exec "$@"' sh "$@"; }

PAM_ARGS="socket=$T/run/vigil.sock breakglass=$T/state/breakglass.json spool=$T/state/breakglass.spool ctl_timeout_ms=3000 timeout=5"
BG_SECRET="correct-horse-battery"
SOFTFIDO="$T/softfido.state"
sf() { "$BIN/tests/softfido-ctl" set "$SOFTFIDO" "$1" "$2" || fail "softfido-ctl set $1 $2"; }

# pam_service NAME < lines : writes $T/pam.d/NAME; @VIGIL@ becomes "pam_vigil.so + test arguments"
pam_service() {
	mkdir -p "$T/pam.d"
	sed "s|@VIGIL@|$PAM_SO $PAM_ARGS|g" >"$T/pam.d/$1"
}

# accounts: the bundle's users (alice active, mallory deprovisioned), ghost (uid inside the
# policy range but unknown to it) and outsider (a local account outside the range)
pam_accounts() {
	cp /etc/passwd "$T/passwd"
	cp /etc/group "$T/group"
	cat >>"$T/passwd" <<EOP
alice:x:60001:60001:Alice:/tmp:/bin/sh
mallory:x:60002:60002:Mallory:/tmp:/bin/sh
ghost:x:60500:60500:Ghost:/tmp:/bin/sh
outsider:x:1999:1999:Outsider:/tmp:/bin/sh
EOP
	cat >>"$T/group" <<EOG
alice:x:60001:
mallory:x:60002:
ghost:x:60500:
outsider:x:1999:
EOG
	chmod 644 "$T/passwd" "$T/group"
}

# pam_docs_layout : stacks run exactly as printed (bare "pam_vigil.so", default arguments): the
# system's PAM modules plus this build's pam_vigil.so in $T/security, bound over $PAM_MODDIR;
# /run/vigil/vigil.sock is vigild's socket and /run/vigil-test/softfido.state the software key
PAM_MODDIR=$(dirname "$(ls /lib/*/security/pam_unix.so /lib/security/pam_unix.so /lib64/security/pam_unix.so 2>/dev/null | head -n 1)")
export PAM_MODDIR
pam_docs_layout() {
	mkdir -p "$T/security" "$T/softfido-dir"
	cp -a "$PAM_MODDIR"/. "$T/security/"
	cp "$PAM_SO" "$T/security/pam_vigil.so"
	for f in common-auth common-account common-session common-session-noninteractive common-password; do
		[ -f "/etc/pam.d/$f" ] && cp "/etc/pam.d/$f" "$T/pam.d/$f"
	done
	chmod o+x "$T" "$T/softfido-dir"
}

# pam_passwords USER:PASSWORD... : $T/shadow (bound over /etc/shadow by in_ns) gives them passwords
pam_passwords() {
	cp /etc/shadow "$T/shadow"
	for up in "$@"; do
		echo "${up%%:*}:$(openssl passwd -6 "${up#*:}"):19000:0:99999:7:::" >>"$T/shadow"
	done
	chmod 640 "$T/shadow"
}

# in_ns CMD... : CMD with the test /etc/pam.d, passwd, group (shadow and sudoers when $T/shadow
# and $T/sudoers exist; with $T/security, see pam_docs_layout), killed after $IN_NS_TIMEOUT (60) s whatever the module does
in_ns() {
	timeout "${IN_NS_TIMEOUT:-60}" unshare -m --propagation private sh -c '
		t=$1; shift
		mount --bind "$t/pam.d" /etc/pam.d || exit 90
		mount --bind "$t/passwd" /etc/passwd || exit 90
		mount --bind "$t/group" /etc/group || exit 90
		if [ -f "$t/shadow" ]; then mount --bind "$t/shadow" /etc/shadow || exit 90; fi
		if [ -d "$t/security" ]; then
			# docs stacks name pam_vigil.so bare, with default arguments: the module among the
			# system ones, the default socket and (test builds) the default software key path
			mount --bind "$t/security" "$PAM_MODDIR" || exit 90
			mount -t tmpfs tmpfs /run || exit 90
			mkdir -p /run/vigil /run/vigil-test || exit 90
			mount --bind "$t/run" /run/vigil || exit 90
			mount --bind "$t/softfido-dir" /run/vigil-test || exit 90
		fi
		if [ -f "$t/sudoers" ]; then mount --bind "$t/sudoers" /etc/sudoers || exit 90; fi
		if [ -d "$t/sudoers.d" ]; then mount --bind "$t/sudoers.d" /etc/sudoers.d || exit 90; fi
		exec "$@"' sh "$T" "$@"
}

# pamt "answers" SERVICE USER OPS... : pamtester in the namespace; output in $OUT, exit code in $RC
pamt() {
	answers=$1; shift
	RC=0
	# shellcheck disable=SC2086
	OUT=$(printf '%b' "$answers" | in_ns env $SAN_ENV pamtester -v "$@" 2>&1) || RC=$?
	san_check
}

# audit_events TYPE : the events of TYPE in the audit trail, one JSON object a line
audit_events() { "$VIGILCTL" --json audit tail --type "dev.vigil.$1" -n 100000 --dir "$T/state/audit" 2>/dev/null; }
# audit_has TYPE [TEXT] : an event of TYPE (containing TEXT) is in the trail, polled 10 s
audit_has() {
	i=0
	while [ $i -lt 100 ]; do
		if audit_events "$1" | grep -q -- "${2:-}"; then return 0; fi
		i=$((i + 1))
		sleep 0.1
	done
	return 1
}
audit_count() { audit_events "$1" | grep -c -- "${2:-}" || true; }

# pam_bundle VERSION [mkbundle args...] : dev environment (posture requires nothing), a test
# break-glass entry for root, alice's enrolled credential when $T/cred.json exists; pushed.
pam_bundle() {
	v=$1; shift
	set -- --set environment='"dev"' \
		--set "elevation.break_glass.0.hash=\"$BG_HASH\"" \
		--set "elevation.break_glass.0.not_after=\"$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)\"" \
		--set elevation.break_glass.0.duration=600 "$@"
	if [ -f "$T/cred.json" ]; then
		set -- --set "identity.users.0.credentials=[$(cat "$T/cred.json")]" "$@"
	fi
	make_bundle "$T/b$v.json" "$v" "$@"
	ctl policy push "$T/b$v.json" >/dev/null || fail "policy push of bundle v$v refused"
}

# pam_start_env : keys, config, accounts, break-glass hash, vigild running
pam_start_env() {
	make_keys
	write_config "$@"
	pam_accounts
	BG_HASH=$(printf '%s\n' "$BG_SECRET" | "$VIGILCTL" breakglass hash --iterations 1000) ||
		fail "vigilctl breakglass hash failed"
	start_vigild
}

# softfido_build : vigild, which drives the security key for pam_vigil.so, is a test build
# (make TESTHOOKS=1) and can open the software key
softfido_build() { nm "$VIGILD" 2>/dev/null | grep -q ' softfido_open$'; }

# softfido_enroll : a software key for alice (test builds only), its credential in $T/cred.json
softfido_enroll() {
	softfido_build || skip "vigild is not a test build (make TESTHOOKS=1): it cannot use the software key"
	[ -x "$BIN/tests/softfido-ctl" ] || skip "softfido-ctl not built"
	"$BIN/tests/softfido-ctl" create "$SOFTFIDO" || fail "softfido create"
	"$BIN/tests/softfido-ctl" set "$SOFTFIDO" notouch_ms 1000 || fail "softfido notouch_ms"
	"$VIGILCTL" enroll --help >/dev/null 2>&1 || skip "vigilctl enroll not available"
	VIGIL_TEST_SOFTFIDO="$SOFTFIDO" "$VIGILCTL" --json enroll --user alice --rp-id vigil.example.com \
		>"$T/cred.json" 2>"$T/enroll.err" || fail "vigilctl enroll against softfido failed: $(cat "$T/enroll.err")"
	PAM_ARGS="$PAM_ARGS softfido=$SOFTFIDO"
}
