#!/bin/sh
# libnss_vigil.so.2 resolved by glibc itself (getent -s vigil, id, id -G,
# enumeration) and by nss_wrapper, on caches written from a bundle.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nss_ns.sh"
nss_setup

# alice active (sre), mallory deprovisioned, "daemon" collides with a local account
python3 "$ROOT/tests/integration/mkbundle.py" --version 1 --out "$T/b.json" \
	--set 'identity.users.2={"name":"daemon","uid":60003,"gid":60001,"gecos":"","home":"/","shell":"/bin/sh","state":"active","credentials":[]}' \
	--set 'identity.users.3={"name":"carol","uid":60004,"gid":60100,"gecos":"Carol","home":"/home/carol","shell":"/bin/zsh","state":"active","credentials":[]}' \
	--set 'identity.groups.0.members=["alice","carol","mallory"]' \
	--set 'identity.groups.3={"name":"dev","gid":60200,"members":["alice"]}'
out=$("$MKCACHE" --bundle "$T/b.json" --dir "$NSSDIR")
assert_contains "$out" "conflict user daemon 60003: name of a local account" "writer reports the local-name conflict"

pw=$(in_nss_ns getent -s vigil passwd alice)
assert_eq "$pw" "alice:x:60001:60001:Alice Admin:/home/alice:/bin/bash" "getent -s vigil passwd alice"
assert_eq "$(in_nss_ns getent -s vigil passwd 60004)" "carol:x:60004:60100:Carol:/home/carol:/bin/zsh" "lookup by uid"
in_nss_ns getent -s vigil passwd mallory >/dev/null && fail "deprovisioned mallory resolved" || ok "deprovisioned user absent"
in_nss_ns getent -s vigil passwd 60002 >/dev/null && fail "deprovisioned uid resolved" || ok "deprovisioned uid absent"
in_nss_ns getent -s vigil passwd daemon >/dev/null && fail "vigil served a local account name" || ok "local account name not served"
in_nss_ns getent -s vigil passwd 0 >/dev/null && fail "vigil served uid 0" || ok "uid 0 never served"

all=$(in_nss_ns getent -s vigil passwd | cut -d: -f1 | tr '\n' ' ')
assert_eq "$all" "alice carol " "enumeration lists exactly the provisioned users"
grp=$(in_nss_ns getent -s vigil group sre)
assert_eq "$grp" "sre:x:60100:alice,carol" "getent -s vigil group sre (deprovisioned member dropped)"
assert_eq "$(in_nss_ns getent -s vigil group 60200)" "dev:x:60200:alice" "group by gid"
groups=$(in_nss_ns getent -s vigil group | cut -d: -f1 | tr '\n' ' ')
assert_eq "$groups" "alice dev mallory sre vigil-elevated " "group enumeration, elevation group last"
assert_eq "$(in_nss_ns getent -s vigil group vigil-elevated)" "vigil-elevated:x:64000:" "elevation group empty without grants"

# id goes through nsswitch.conf ("files vigil") and initgroups_dyn
assert_eq "$(in_nss_ns id -u alice)" "60001" "id -u alice"
assert_eq "$(in_nss_ns id -G alice | tr ' ' '\n' | sort -n | tr '\n' ' ')" "60001 60100 60200 " "id -G alice (initgroups)"
assert_eq "$(in_nss_ns id -Gn carol | tr ' ' '\n' | sort | tr '\n' ' ')" "sre " "id -Gn carol"
assert_contains "$(in_nss_ns id alice)" "groups=60001(alice),60100(sre),60200(dev)" "id alice"
in_nss_ns id mallory >/dev/null 2>&1 && fail "id mallory succeeded" || ok "id of a deprovisioned user fails"
# local accounts still come from files
assert_eq "$(in_nss_ns id -u root)" "0" "root still resolved by files"

# tiny buffers: glibc's getpwnam_r/getgrnam_r hand ERANGE back to the caller
assert_eq "$(in_nss_ns "$LOOKUP" pwnam alice 8)" "ERANGE" "getpwnam_r with an 8-byte buffer: ERANGE"
assert_eq "$(in_nss_ns "$LOOKUP" grnam sre 12)" "ERANGE" "getgrnam_r with a 12-byte buffer: ERANGE"
assert_eq "$(in_nss_ns "$LOOKUP" pwnam alice 1024)" "alice:x:60001:60001:Alice Admin:/home/alice:/bin/bash" "getpwnam_r with room"
assert_eq "$(in_nss_ns "$LOOKUP" grgid 60100 1024)" "sre:x:60100:alice,carol" "getgrgid_r with room"

# nss_wrapper: the module loaded by name, outside glibc's own lookup
WRAP=$(ls /usr/lib/x86_64-linux-gnu/libnss_wrapper.so 2>/dev/null || true)
[ -n "$WRAP" ] || skip "libnss-wrapper not installed (make deps)"
: >"$T/empty"
wrap() {
	LD_PRELOAD="$WRAP" NSS_WRAPPER_PASSWD="$T/empty" NSS_WRAPPER_GROUP="$T/empty" \
		NSS_WRAPPER_MODULE_SO_PATH="$NSS_SO" NSS_WRAPPER_MODULE_FN_PREFIX=vigil "$@"
}
assert_eq "$(wrap getent passwd carol)" "carol:x:60004:60100:Carol:/home/carol:/bin/zsh" "nss_wrapper getent passwd carol"
assert_eq "$(wrap getent group sre)" "sre:x:60100:alice,carol" "nss_wrapper getent group sre"
assert_eq "$(wrap getent passwd 60001)" "$pw" "nss_wrapper getpwuid"
assert_eq "$(wrap id -G alice | tr ' ' '\n' | sort -n | tr '\n' ' ')" "60001 60100 60200 " "nss_wrapper initgroups"
wrap getent passwd mallory >/dev/null && fail "nss_wrapper resolved mallory" || ok "nss_wrapper: deprovisioned absent"
