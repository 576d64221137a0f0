#!/bin/sh
# An elevation grant shows in `id` while it lasts and disappears at its expiry
# with no vigild running: the module compares each membership's expiry with
# the clock at lookup time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nss_ns.sh"
nss_setup

python3 "$ROOT/tests/integration/mkbundle.py" --version 1 --out "$T/b.json"
# alice: a 4-second grant; bob (not provisioned, local-only name) a long one
out=$("$MKCACHE" --bundle "$T/b.json" --dir "$NSSDIR" --grant alice:60001:4 --grant bob:60009:3600)
assert_contains "$out" "grants 2" "two live grants written"

has_elev() { in_nss_ns id -G alice | tr ' ' '\n' | grep -qx 64000; }
lacks_elev() { ! has_elev; }
has_elev && ok "grant visible in id -G alice" || fail "grant missing: $(in_nss_ns id -G alice)"
assert_contains "$(in_nss_ns id alice)" "64000(vigil-elevated)" "id alice names the elevation group"
assert_eq "$(in_nss_ns getent -s vigil group vigil-elevated)" "vigil-elevated:x:64000:alice,bob" "group lists both holders"
poll_until 15 lacks_elev && ok "grant gone from id -G alice after expiry" || fail "grant still visible after 15 s"
assert_eq "$(in_nss_ns getent -s vigil group vigil-elevated)" "vigil-elevated:x:64000:bob" "expired holder hidden, live one kept"
assert_eq "$(in_nss_ns id -G alice | tr ' ' '\n' | sort -n | tr '\n' ' ')" "60001 60100 " "alice keeps her static groups"

# a new grant appears without any other change to the cache files
"$MKCACHE" --bundle "$T/b.json" --dir "$NSSDIR" --members-only --grant alice:60001:600 >/dev/null
has_elev && ok "new grant visible at once" || fail "new grant not visible"
