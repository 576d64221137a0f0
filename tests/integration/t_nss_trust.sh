#!/bin/sh
# The module serves only what root alone could have written, and a cache
# file changed under a running process never kills it:
#  - symlink, mode 0666, a file owned by uid 65534, a 0777 directory: UNAVAIL
#  - cp over the cache in place (truncate + rewrite) while 12 processes look
#    users up: no reader dies (SIGBUS) and no answer names another uid
#  - a long-lived process sees a replaced cache through the generation word
#    and, once current, makes no system call of the module's own per lookup
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nss_ns.sh"
nss_setup

# 3000 users spread over many pages, so readers keep reading pages in
python3 "$ROOT/tests/integration/mkbundle.py" --version 1 --out "$T/b1.json"
python3 - "$T/b1.json" "$T/b2.json" <<'EOF'
import json, sys
b = json.load(open(sys.argv[1]))
b["identity"]["users"] = [{"name": "u%04d" % i, "uid": 60000 + i, "gid": 60100, "gecos": "User %d" % i,
                           "home": "/home/u%04d" % i, "shell": "/bin/sh", "state": "active", "credentials": []}
                          for i in range(1, 3001)]
b["identity"]["uid_range"] = [60000, 63999]
b["identity"]["groups"] = [{"name": "sre", "gid": 60100, "members": ["u0001"]}]
b["elevation"]["allowed"] = ["u0001"]
json.dump(b, open(sys.argv[1], "w"))
b["version"] = 2
b["identity"]["users"] = b["identity"]["users"][:1500]  # a smaller file: cp over the big one shrinks it
json.dump(b, open(sys.argv[2], "w"))
EOF
"$MKCACHE" --bundle "$T/b2.json" --dir "$NSSDIR" >/dev/null
cp "$NSSDIR/passwd.cache" "$T/small.cache"
"$MKCACHE" --bundle "$T/b1.json" --dir "$NSSDIR" >/dev/null
cp "$NSSDIR/passwd.cache" "$T/big.cache"
lookup_rc() { in_nss_ns getent -s vigil passwd "$1" >/dev/null 2>&1 && echo 0 || echo $?; }
assert_eq "$(lookup_rc u0001)" 0 "a root-owned 0644 file in a root-owned 0755 directory answers"

# ---- what an attacker who is not root can put in place ----
mv "$NSSDIR/passwd.cache" "$T/real.cache"
ln -s "$T/real.cache" "$NSSDIR/passwd.cache"
assert_eq "$(lookup_rc u0001)" 2 "a symlink to a valid cache: unavailable"
rm "$NSSDIR/passwd.cache"
cp "$T/real.cache" "$NSSDIR/passwd.cache"
chmod 0666 "$NSSDIR/passwd.cache"
assert_eq "$(lookup_rc u0001)" 2 "mode 0666: unavailable"
chmod 0664 "$NSSDIR/passwd.cache"
assert_eq "$(lookup_rc u0001)" 2 "mode 0664 (group-writable): unavailable"
chmod 0644 "$NSSDIR/passwd.cache"
chown 65534 "$NSSDIR/passwd.cache"
assert_eq "$(lookup_rc u0001)" 2 "a file owned by uid 65534: unavailable"
# what uid 65534 could do with such a file: give itself a group; nothing of it is served
assert_eq "$(in_nss_ns getent -s vigil passwd 60001 >/dev/null 2>&1 && echo 0 || echo $?)" 2 "not even by uid"
chown 0 "$NSSDIR/passwd.cache"
chmod 0777 "$NSSDIR"
assert_eq "$(lookup_rc u0001)" 2 "a 0777 directory: unavailable"
chmod 1777 "$NSSDIR"
assert_eq "$(lookup_rc u0001)" 2 "a sticky 1777 directory: unavailable"
chmod 0755 "$NSSDIR"
chown 65534 "$NSSDIR"
assert_eq "$(lookup_rc u0001)" 2 "a directory owned by uid 65534: unavailable"
chown 0 "$NSSDIR"
mv "$NSSDIR" "$T/nss.real"
ln -s "$T/nss.real" "$NSSDIR"
assert_eq "$(lookup_rc u0001)" 2 "the cache directory a symlink: unavailable"
rm "$NSSDIR"
mv "$T/nss.real" "$NSSDIR"
chown 65534 "$NSSDIR/generation"
assert_eq "$(lookup_rc u0001)" 0 "an untrusted generation file is ignored (files compared with stat)"
chown 0 "$NSSDIR/generation"
assert_eq "$(lookup_rc u0001)" 0 "restored: answers again"

# ---- the shrink test: cp over the file (in place) while readers run ----
# phase 1 without the generation file (every lookup compares the file), phase 2 with
# it bumped by every rewrite; readers run getpwuid over all 3000 uids for 4 s.
run_readers() {
	i=0
	while [ $i -lt 12 ]; do
		in_nss_ns "$LOOKUP" pwuid-loop 60001 63000 4 >"$T/reader.$1.$i" 2>&1 &
		echo $! >>"$T/readers.$1"
		i=$((i + 1))
	done
}
check_readers() {
	died=0
	for pid in $(cat "$T/readers.$1"); do
		wait "$pid" || died=$((died + 1))
	done
	assert_eq "$died" 0 "$2: no reader died"
	assert_eq "$(cat "$T"/reader.$1.* | awk '{w += $8} END {print w + 0}')" 0 "$2: no answer for another uid"
	assert_eq "$(cat "$T"/reader.$1.* | awk '{f += $2} END {print (f > 1000)}')" 1 "$2: readers got answers"
}
for phase in 1 2; do
	[ $phase = 1 ] && rm -f "$NSSDIR/generation"
	: >"$T/readers.$phase"
	run_readers $phase
	n=0
	alive() { for pid in $(cat "$T/readers.$phase"); do kill -0 "$pid" 2>/dev/null && return 0; done; return 1; }
	while alive; do
		cp "$T/small.cache" "$NSSDIR/passwd.cache"
		cp "$T/big.cache" "$NSSDIR/passwd.cache"
		[ $phase = 2 ] && "$MKCACHE" --bundle "$T/b1.json" --dir "$NSSDIR" --members-only >/dev/null
		n=$((n + 2))
	done
	check_readers $phase "phase $phase ($n in-place rewrites)"
done

# ---- once its copy is current, a lookup makes no system call of the module's own ----
"$MKCACHE" --bundle "$T/b1.json" --dir "$NSSDIR" >/dev/null
command -v strace >/dev/null || skip "strace missing"
# vigil alone in nsswitch.conf; counted: what touches the cache (glibc's own stat of
# nsswitch.conf and its nscd connection attempts every 100 lookups are not the module's)
printf 'passwd: vigil\ngroup: vigil\n' >"$T/nsswitch.conf"
count_syscalls() {
	in_nss_ns strace -o "$T/strace.$1" "$LOOKUP" pwuid-loop 60001 63000 "-$1" >/dev/null
	grep -v nsswitch.conf "$T/strace.$1" | grep -cE "$NSSDIR|\.cache|generation|pread64|^(mmap|munmap|newfstatat)"
}
few=$(count_syscalls 3000)
many=$(count_syscalls 30000)
assert_eq "$many" "$few" "30000 lookups make as many system calls as 3000 (none of the module's own per lookup)"
