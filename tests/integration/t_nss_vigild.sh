#!/bin/sh
# End to end: vigild applies a signed bundle, its identity module writes the
# cache, glibc resolves the users through libnss_vigil.so.2; a later bundle
# deprovisions a user; provisioning is audited once, not again on restart;
# identity.whoami answers any local caller about itself.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nss_ns.sh"
nss_setup
command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 missing"
NSSDIR="$T/state/nss"
export VIGIL_NSS_CACHE_DIR="$NSSDIR"

make_keys
write_config
start_vigild
carol='{"name":"carol","uid":60004,"gid":60100,"gecos":"Carol","home":"/home/carol","shell":"/bin/sh","state":"active","credentials":[]}'
make_bundle "$T/b1.json" 1 --set "identity.users.2=$carol" --set 'identity.groups.0.members=["alice","carol"]'
ctl policy push "$T/b1.json" >/dev/null || fail "bundle v1 refused"
poll_until 10 test -f "$NSSDIR/passwd.cache" || fail "no passwd.cache after the push"
for f in passwd group members; do
	[ "$(stat -c %a "$NSSDIR/$f.cache")" = 644 ] || fail "$f.cache mode is not 0644"
done
ok "cache files written (0644)"

assert_eq "$(in_nss_ns getent -s vigil passwd alice)" "alice:x:60001:60001:Alice Admin:/home/alice:/bin/bash" "glibc resolves alice from vigild's cache"
assert_eq "$(in_nss_ns getent -s vigil passwd | cut -d: -f1 | tr '\n' ' ')" "alice carol " "enumeration: the provisioned users"
assert_eq "$(in_nss_ns id -Gn carol)" "sre" "id -Gn carol"
in_nss_ns getent -s vigil passwd mallory >/dev/null && fail "deprovisioned mallory served" || ok "deprovisioned mallory absent"

# the output counts, not the exit status (a sanitizer build may flag vigilctl at exit)
events() { ctl audit tail --type "$1" -n 100 --dir "$T/state/audit" 2>/dev/null || true; }
prov=$(events user.provisioned)
assert_contains "$prov" "alice" "user.provisioned alice audited"
assert_contains "$prov" "carol" "user.provisioned carol audited"
assert_not_contains "$prov" "mallory" "no provisioning event for a deprovisioned user"
nprov=$(echo "$prov" | grep -c provisioned || true)
assert_eq "$nprov" 1 "one aggregated provisioning event for the apply"
echo "$prov" >"$T/prov.txt"
assert_contains "$prov" '"count":2' "it counts both users"
list=$(ls "$T"/state/identity/user.provisioned-*.json)
assert_eq "$(python3 -c 'import json,sys; print(" ".join(u["user"] for u in json.load(open(sys.argv[1]))))' "$list")" "alice carol" "the full list is kept in the file the event names"
digest=$(sha256sum "$list" | cut -d' ' -f1)
assert_contains "$list" "$digest" "the list file is named by the sha256 of its content"
assert_contains "$prov" "$digest" "the event carries that digest"

st=$(ctl --json status)
assert_contains "$st" '"identity"' "status has an identity section"

# identity.whoami, from an unprivileged caller, about itself (SO_PEERCRED)
chmod 755 "$T" "$T/run"
whoami_as() {
	setpriv --reuid="$1" --regid="$1" --clear-groups /usr/bin/python3 - "$T/run/vigil.sock" <<'PY'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sys.argv[1]); s.settimeout(10)
body = json.dumps({"cmd": "identity.whoami", "uid": 0}).encode()
s.sendall(struct.pack(">I", len(body)) + body)
hdr = b""
while len(hdr) < 4: hdr += s.recv(4 - len(hdr))
n = struct.unpack(">I", hdr)[0]; data = b""
while len(data) < n: data += s.recv(n - len(data))
r = json.loads(data)
u = r.get("user") or {}
e = r.get("elevation") or {}
print(r.get("ok"), r.get("uid"), u.get("name"), u.get("state"), " ".join(r.get("groups", [])), e.get("eligible"))
PY
}
assert_eq "$(whoami_as 60001)" "True 60001 alice active sre True" "whoami as alice (the request's uid is ignored)"
assert_eq "$(whoami_as 60004)" "True 60004 carol active sre True" "whoami as carol (eligible through %sre)"
assert_eq "$(whoami_as 65534)" "True 65534 None None  None" "whoami as an unmanaged user"
out=$(setpriv --reuid=60001 --regid=60001 --clear-groups "$VIGILCTL" -s "$T/run/vigil.sock" whoami 2>&1 || true)
assert_contains "$out" "alice (uid 60001, gid 60001), active" "vigilctl whoami as alice"
assert_contains "$out" "vigil-elevated, eligible, grant none" "vigilctl whoami shows elevation eligibility"

# v2: alice deprovisioned
make_bundle "$T/b2.json" 2 --set "identity.users.2=$carol" --set 'identity.users.0.state="deprovisioned"'
ctl policy push "$T/b2.json" >/dev/null || fail "bundle v2 refused"
absent() { ! in_nss_ns getent -s vigil passwd alice >/dev/null; }
poll_until 10 absent && ok "deprovisioned alice vanished from NSS" || fail "alice still served"
in_nss_ns id alice >/dev/null 2>&1 && fail "id alice still works" || ok "id alice fails"
assert_contains "$(events user.deprovisioned)" "alice" "user.deprovisioned alice audited"
assert_contains "$(events user.deprovisioned)" "state deprovisioned" "alice's reason: state deprovisioned"

# restart: the persisted bundle is re-applied, nobody is provisioned twice
stop_vigild
assert_eq "$(in_nss_ns getent -s vigil passwd carol | cut -d: -f1)" "carol" "cache serves carol with vigild stopped"
start_vigild
poll_until 10 sh -c "\"$VIGILCTL\" -s \"$T/run/vigil.sock\" status | grep -q 'version 2'" || fail "v2 not restored"
assert_eq "$(events user.provisioned | grep -c provisioned || true)" "$nprov" "no new provisioning events after a restart"

# v3 without an identity section: accepted, and nobody is served any more
make_bundle "$T/b3.json" 3 --del identity
ctl policy push "$T/b3.json" >/dev/null || fail "bundle v3 (no identity) refused"
in_nss_ns getent -s vigil passwd carol >/dev/null && fail "carol still served" || ok "bundle without identity: carol gone"
assert_contains "$(events user.deprovisioned)" "carol" "user.deprovisioned carol audited"
assert_contains "$(events user.deprovisioned)" "removed from the bundle" "carol's reason: removed from the bundle"
assert_eq "$(in_nss_ns getent -s vigil group vigil-elevated)" "vigil-elevated:x:64000:" "elevation group still served"
