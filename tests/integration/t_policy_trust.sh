#!/bin/sh
# Trust fails closed: a trust file removed, corrupted or made writable by others
# refuses every bundle after SIGHUP while the running policy stays; files vigild
# trusts must be root-owned and not group/world-writable. The inbox opens only
# regular files that have landed, and considers every entry.
. "$(dirname "$0")/lib.sh"
need_root
make_keys
write_config
start_vigild

running_version() { ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["policy"].get("version", 0))'; }
trust_error() { ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["trust"].get("error", "VALID"))'; }
hup() {
	kill -HUP "$VIGILD_PID"
	i=0; while [ "$(trust_error)" = "$1" ]; do i=$((i+1)); [ $i -gt 50 ] && fail "SIGHUP not handled"; sleep 0.1; done
}

make_bundle "$T/v1.json" 1
ctl policy push "$T/v1.json" >/dev/null
assert_eq "$(running_version)" 1 "version 1 applied"
make_bundle "$T/v2.json" 2
cp "$T/etc/trust.json" "$T/trust.good"

refused() { # what, expected text
	if ctl policy push "$T/v2.json" 2>"$T/err"; then fail "$1: bundle applied without valid trust"; fi
	assert_contains "$(cat "$T/err")" "$2" "$1: every bundle refused"
	assert_eq "$(running_version)" 1 "$1: the running policy keeps enforcing"
}

rm "$T/etc/trust.json"
hup VALID
assert_contains "$(trust_error)" "cannot read" "removed: status says why"
refused "removed" "no trust is in force"

printf '{"version": 1, "keys": [' >"$T/etc/trust.json"
hup "$(trust_error)"
assert_contains "$(trust_error)" "not valid JSON" "corrupted: status says why"
refused "corrupted" "[trust_missing]"

cp "$T/trust.good" "$T/etc/trust.json"
chmod 0666 "$T/etc/trust.json"
hup "$(trust_error)"
assert_contains "$(trust_error)" "chmod go-w $T/etc/trust.json" "world-writable: status names the file and the fix"
refused "world-writable" "writable by group or others"

chmod 0644 "$T/etc/trust.json"
hup "$(trust_error)"
assert_eq "$(trust_error)" VALID "fixed trust file reloaded"
ctl policy push "$T/v2.json" >/dev/null
assert_eq "$(running_version)" 2 "bundles apply again once the trust file is fixed"

# a trust file owned by another user is refused at start too; so is such a config
stop_vigild
chown 65534 "$T/etc/trust.json"
start_vigild
assert_contains "$(trust_error)" "owned by uid 65534" "nobody-owned trust file refused at start"
assert_eq "$(running_version)" 0 "no persisted bundle is applied without trust"
stop_vigild
chown 0 "$T/etc/trust.json"
chmod 0664 "$T/vigild.conf"
if "$VIGILD" -c "$T/vigild.conf" --check-config >"$T/out" 2>&1; then fail "group-writable config accepted"; fi
assert_contains "$(cat "$T/out")" "chmod go-w $T/vigild.conf" "group-writable config refused naming the fix"
chmod 0644 "$T/vigild.conf"
# persisted bundles hold break-glass hashes: root only
start_vigild
assert_eq "$(stat -c %a "$T/state/policy/current.json")" 600 "current.json is 0600"
assert_eq "$(stat -c %a "$T/state/policy/lkg.json")" 600 "lkg.json is 0600"

# ---- inbox hazards, with vigild down: a FIFO must not block its start ----
stop_vigild
mkfifo "$T/inbox/fifo.json"
: >"$T/inbox/fifo.json.sig"
ln -s "$T/v2.json" "$T/inbox/link.json"
cp "$T/v2.json.sig" "$T/inbox/link.json.sig"
mknod "$T/inbox/dev.json" c 1 3
: >"$T/inbox/dev.json.sig"
# 200 stale bundles without signatures; the good one sorts after most of them
i=0; while [ $i -lt 200 ]; do printf '{}' >"$T/inbox/s$(printf %03d $i).json"; i=$((i+1)); done
make_bundle "$T/v3.json" 3
cp "$T/v3.json.sig" "$T/inbox/s170x.json.sig"
cp "$T/v3.json" "$T/inbox/s170x.json"
start_vigild
assert_eq "$(ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["policy"]["active"])')" True \
	"vigild serves its socket with a FIFO in the inbox"
i=0; while [ "$(running_version)" != 3 ]; do i=$((i+1)); [ $i -gt 100 ] && fail "bundle behind 200 stale files not applied"; sleep 0.1; done
ok "bundle behind 200 stale files applied"
for n in fifo link dev; do
	[ -f "$T/inbox/$n.json.error" ] || fail "$n.json was not refused"
	assert_contains "$(cat "$T/inbox/$n.json.error")" "not a regular file" "$n.json refused as not a regular file"
done
[ -e "$T/v2.json" ] || fail "the symlink target was touched"

# a bundle written in place is not read before its writer closes it, even when another lands
make_bundle "$T/v4.json" 4
make_bundle "$T/v5.json" 5
cp "$T/v4.json.sig" "$T/inbox/slow.json.sig"
python3 - "$T/v4.json" "$T/inbox/slow.json" "$T/go" <<'PY' &
import os, sys, time
data = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as f:
    f.write(data[: len(data) // 2]); f.flush()
    open(sys.argv[3] + ".half", "w").close()
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.05)
    f.write(data[len(data) // 2:])
PY
writer=$!
while [ ! -e "$T/go.half" ]; do sleep 0.05; done
# another pair lands meanwhile (written elsewhere, renamed in, as documented)
cp "$T/v5.json.sig" "$T/inbox/.b.json.sig" && mv "$T/inbox/.b.json.sig" "$T/inbox/zz.json.sig"
cp "$T/v5.json" "$T/inbox/.b.json" && mv "$T/inbox/.b.json" "$T/inbox/zz.json"
i=0; while [ "$(running_version)" != 5 ]; do i=$((i+1)); [ $i -gt 100 ] && fail "renamed-in bundle not applied"; sleep 0.1; done
[ -e "$T/inbox/slow.json.rejected" ] && fail "the half-written bundle was read"
ok "the half-written bundle was left alone"
touch "$T/go"
wait "$writer"
i=0; while [ -e "$T/inbox/slow.json" ]; do i=$((i+1)); [ $i -gt 100 ] && fail "closed bundle not processed"; sleep 0.1; done
assert_contains "$(cat "$T/inbox/slow.json.error")" "older than version 5" "the closed bundle was read whole (v4 after v5: a downgrade, not a bad signature)"
kill -0 "$VIGILD_PID" || fail "vigild died"
