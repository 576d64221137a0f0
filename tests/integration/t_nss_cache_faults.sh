#!/bin/sh
# Cache replaced in the middle of an enumeration; missing, corrupted and
# truncated caches answer UNAVAIL (getent exit 2) without crashing or hanging,
# and local accounts keep resolving through "files".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nss_ns.sh"
nss_setup

python3 "$ROOT/tests/integration/mkbundle.py" --version 1 --out "$T/b1.json" \
	--set 'identity.users.2={"name":"carol","uid":60004,"gid":60100,"gecos":"","home":"/home/carol","shell":"/bin/sh","state":"active","credentials":[]}'
python3 "$ROOT/tests/integration/mkbundle.py" --version 2 --out "$T/b2.json" \
	--set 'identity.users.0.state="deprovisioned"' \
	--set 'identity.users.2={"name":"dave","uid":60005,"gid":60100,"gecos":"","home":"/home/dave","shell":"/bin/sh","state":"active","credentials":[]}'
"$MKCACHE" --bundle "$T/b1.json" --dir "$NSSDIR" >/dev/null

# enumeration started on v1 finishes on v1 although v2 replaces the files meanwhile
rm -f "$T/ready" "$T/go"
in_nss_ns "$LOOKUP" pwent-pause "$T/ready" "$T/go" 60000 60999 >"$T/enum.out" &
enum_pid=$!
on_exit "kill $enum_pid"
poll_until 20 test -e "$T/ready" || fail "enumeration did not start"
"$MKCACHE" --bundle "$T/b2.json" --dir "$NSSDIR" >/dev/null
assert_eq "$(in_nss_ns getent -s vigil passwd | cut -d: -f1 | tr '\n' ' ')" "dave " "a new process sees v2 (alice deprovisioned, carol removed, dave added)"
touch "$T/go"
wait $enum_pid || fail "enumerating process failed"
assert_eq "$(tr '\n' ' ' <"$T/enum.out")" "alice carol " "the running enumeration stayed on v1 to its end"

# getent exit codes: 0 found, 2 not found / unavailable; a crash would be >= 128
lookup_rc() { in_nss_ns getent -s vigil passwd "$1" >/dev/null 2>&1 && echo 0 || echo $?; }
good="$T/good.cache"
cp "$NSSDIR/passwd.cache" "$good"
assert_eq "$(lookup_rc dave)" 0 "intact cache answers"
size=$(stat -c %s "$good")
i=0
for off in 0 8 40 100 $((size / 2)) $((size - 9)); do
	cp "$good" "$T/bad"
	# the byte's complement: always a change (0xff would be none in an empty index slot)
	b=$(od -An -tu1 -j "$off" -N1 "$good" | tr -d ' ')
	printf "\\$(printf '%03o' $((255 - b)))" | dd of="$T/bad" bs=1 seek="$off" conv=notrunc status=none
	cmp -s "$good" "$T/bad" && fail "byte $off unchanged"
	mv "$T/bad" "$NSSDIR/passwd.cache"
	assert_eq "$(lookup_rc dave)" 2 "byte $off corrupted: unavailable"
	i=$((i + 1))
done
for len in 0 7 64 $((size / 2)) $((size - 8)); do
	head -c "$len" "$good" >"$T/bad"
	mv "$T/bad" "$NSSDIR/passwd.cache"
	assert_eq "$(lookup_rc dave)" 2 "truncated to $len bytes: unavailable"
done
head -c 65536 /dev/urandom >"$NSSDIR/passwd.cache"
assert_eq "$(lookup_rc dave)" 2 "random bytes: unavailable"
rm "$NSSDIR/passwd.cache"
mkdir "$NSSDIR/passwd.cache"
assert_eq "$(lookup_rc dave)" 2 "a directory in place of the file: unavailable"
rmdir "$NSSDIR/passwd.cache"
assert_eq "$(lookup_rc dave)" 2 "missing cache: unavailable"
mkfifo "$NSSDIR/passwd.cache"
assert_eq "$(in_nss_ns timeout 10 getent -s vigil passwd dave >/dev/null 2>&1 && echo 0 || echo $?)" 2 "a FIFO never blocks the lookup"
rm "$NSSDIR/passwd.cache"
assert_eq "$(in_nss_ns id -u root)" 0 "files still answers while vigil is unavailable"
in_nss_ns id -u dave >/dev/null 2>&1 && fail "dave resolved without a cache" || ok "id dave fails cleanly"

# group side: a corrupt members.cache makes group lookups unavailable too
cp "$good" "$NSSDIR/passwd.cache"
printf 'garbage' >"$NSSDIR/members.cache"
assert_eq "$(in_nss_ns getent -s vigil group sre >/dev/null 2>&1 && echo 0 || echo $?)" 2 "corrupt members.cache: group lookups unavailable"
"$MKCACHE" --bundle "$T/b2.json" --dir "$NSSDIR" >/dev/null
assert_eq "$(in_nss_ns getent -s vigil group sre)" "sre:x:60100:" "rewritten cache answers again"
