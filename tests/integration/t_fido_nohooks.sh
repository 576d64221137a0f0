#!/bin/sh
# Production builds carry no trace of the software authenticator: lib/fido_dev.c and
# lib/fido_testpath.c and agent/vigilctl_enroll.c compiled without VIGIL_TEST_HOOKS reference no softfido symbol and
# no test path or variable, while the same sources with the hook do (so this test can fail).
# When $BUILD holds a production vigilctl, it is checked too.
. "$(dirname "$0")/lib.sh"

command -v nm >/dev/null || skip "nm (binutils) missing"
CC=${CC:-cc}
flags="-std=gnu11 -O2 -g -I$ROOT/include -I$ROOT/agent -D_GNU_SOURCE $(pkg-config --cflags jansson openssl 2>/dev/null)"

# traces OBJ : softfido symbols and test-only strings in an object or binary
traces() { { nm "$1" 2>/dev/null | grep -i softfido; strings -a "$1" | grep -iE 'softfido|/run/vigil-test'; } || true; }

for src in lib/fido_dev.c lib/fido_testpath.c agent/vigilctl_enroll.c; do
	o=$T/$(basename "$src" .c)
	# shellcheck disable=SC2086
	$CC $flags -c "$ROOT/$src" -o "$o.prod.o" || fail "cannot compile $src"
	# shellcheck disable=SC2086
	$CC $flags -DVIGIL_TEST_HOOKS=1 -c "$ROOT/$src" -o "$o.test.o" || fail "cannot compile $src with test hooks"
	assert_eq "$(traces "$o.prod.o")" "" "$src: production object has no softfido trace"
	[ -n "$(traces "$o.test.o")" ] || fail "$src: the test-hook object shows no softfido trace (check is blind)"
	ok "$src: the test-hook object does reference softfido"
done

if [ -x "$VIGILCTL" ] && ! nm "$VIGILCTL" 2>/dev/null | grep -q ' softfido_open$'; then
	assert_eq "$(traces "$VIGILCTL")" "" "$VIGILCTL (production build) has no softfido trace"
	out=$("$VIGILCTL" enroll --user alice --rp-id vigil.example.com --softfido /tmp/x 2>&1) &&
		fail "production vigilctl accepted --softfido"
	ok "production vigilctl has no --softfido option"
fi
