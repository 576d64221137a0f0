#!/bin/sh
# Posture through the real vigild and vigilctl on a fixture host tree (posture_root): a good
# prod host passes; EDR missing, an impostor EDR in /tmp, an unencrypted /var and stale
# patches each fail with their reason; every verdict change is a posture.changed audit event
# with before/after and evidence; a dev bundle (nothing required) passes the same host.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/posture_fixture.sh"
need_root

fx_good_host
make_keys
write_config "posture_root = $FX" "posture_edr_units = /opt/edr/agentd=edr-agent.service"
start_vigild
posture_bundle "$T/b1.json" 1
ctl policy push "$T/b1.json" >/dev/null || fail "push bundle 1"

# 1. the good host passes prod
OUT=$(ctl posture) || fail "vigilctl posture exits non-zero on a passing host: $OUT"
assert_contains "$OUT" "posture: PASS  environment prod" "good host passes prod"
assert_contains "$OUT" "/opt/edr/agentd is running as pid 812" "EDR found by its executable path"
assert_contains "$OUT" "all 1 block-backed filesystems are on dm-crypt" "LUKS root, /boot exempt"
J=$(ctl --json posture)
assert_eq "$(echo "$J" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["verdict"], r["checks"]["edr"]["evidence"]["running"]["unit"], r["checks"]["secure_boot"]["result"])')" \
	"pass edr-agent.service pass" "JSON: verdict, EDR unit, Secure Boot"
wait_posture_changed last '"after":{"reasons":[],"verdict":"pass"}' || fail "no posture.changed event for the passing verdict"
N=$(posture_changed_count)
assert_contains "$(posture_events | sed -n "${N}p")" '"environment":"prod"' "the event names the environment"

# 2. EDR stops: fail with the reason, audited with before/after and the evidence
rm -rf "$FX/proc/812"
OUT=$(ctl posture --refresh) && fail "vigilctl posture exits 0 on a failing host"
assert_contains "$OUT" "posture: FAIL" "EDR gone: fails"
assert_contains "$OUT" "edr: none of the 1 configured EDR agents is running" "reason names the EDR"
wait_posture_changed $((N + 1)) '"before":{"reasons":[],"verdict":"pass"}' || fail "posture.changed lacks before=pass"
EV=$(posture_events | sed -n "$((N + 1))p")
assert_contains "$EV" '"after":{"reasons":[{"check":"edr","code":"fail"' "after: fail, because of edr"
assert_contains "$EV" '"edr":{"evidence":{"agents":["/opt/edr/agentd"],"rejected":[]},"result":"fail"' "evidence of edr"
assert_contains "$EV" '"trigger":"request"' "trigger recorded"

# 3. an impostor with the agent's name, running from /tmp, does not count
mkdir -p "$FX/tmp"
cp "$FX/opt/edr/agentd" "$FX/tmp/agentd"
fx_process 4242 /tmp/agentd 0 /user.slice
OUT=$(ctl posture --refresh) && fail "impostor EDR passes"
assert_contains "$OUT" "rejected pid 4242: named like /opt/edr/agentd but runs /tmp/agentd" "impostor rejected"
N=$(posture_changed_count)

# 4. the real agent outside its unit does not count either
fx_process 812 /opt/edr/agentd 0 /user.slice/user-0.slice
OUT=$(ctl posture --refresh) && fail "EDR outside its unit passes"
assert_contains "$OUT" "not running in systemd unit edr-agent.service" "EDR must run in its unit"
assert_eq "$(posture_changed_count)" "$N" "same verdict and reasons: no new posture.changed"

# 5. back in its unit: passes again
fx_process 812 /opt/edr/agentd 0 /system.slice/edr-agent.service
OUT=$(ctl posture --refresh) || fail "restored host does not pass: $OUT"
wait_posture_changed $((N + 1)) '"after":{"reasons":[],"verdict":"pass"}' || fail "recovery not audited"
ok "recovery audited"

# 6. encrypted root but a plain /var
fx_blockdev vda3 254:3
fx_mounts "26 1 253:0 / / rw,relatime - ext4 /dev/mapper/root rw" \
	"27 26 254:1 / /boot rw,relatime - ext4 /dev/vda1 rw" \
	"28 26 254:3 / /var rw,relatime - ext4 /dev/vda3 rw"
OUT=$(ctl posture --refresh) && fail "plain /var passes"
assert_contains "$OUT" "disk_encryption: /var (ext4 on vda3) is not on dm-crypt" "plain /var named"

# 7. LVM-on-LUKS for /var instead: passes
fx_blockdev dm-1 253:1 LVM-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01 dm-0
fx_mounts "26 1 253:0 / / rw,relatime - ext4 /dev/mapper/root rw" \
	"27 26 254:1 / /boot rw,relatime - ext4 /dev/vda1 rw" \
	"28 26 253:1 / /var rw,relatime - ext4 /dev/mapper/vg-var rw"
ctl posture --refresh >/dev/null || fail "LVM-on-LUKS /var does not pass: $(ctl posture)"
ok "LVM-on-LUKS /var passes"

# 8. stale patches (45 days, prod allows 30), then Secure Boot off
fx_dpkg_upgrade 45
OUT=$(ctl posture --refresh) && fail "45-day-old patches pass"
assert_contains "$OUT" "days ago (maximum 30)" "patch age reason"
fx_dpkg_upgrade 1
fx_secure_boot 0
OUT=$(ctl posture --refresh) && fail "Secure Boot off passes prod"
assert_contains "$OUT" "secure_boot: Secure Boot is disabled" "Secure Boot reason"

# 9. no EFI at all: unknown, which prod counts as fail and a bundle with unknown=pass accepts
rm -rf "$FX/sys/firmware"
OUT=$(ctl posture --refresh) && fail "non-EFI host passes prod with unknown=fail"
assert_contains "$OUT" "secure_boot could not be determined" "unknown counts as fail in prod"
posture_bundle "$T/b2.json" 2 --set 'elevation.posture.prod.unknown="pass"'
ctl policy push "$T/b2.json" >/dev/null || fail "push bundle 2"
ctl posture >/dev/null || fail "unknown=pass bundle does not pass: $(ctl posture)"
ok "unknown=pass accepts the non-EFI host"

# 10. the same failing host in dev, which requires nothing
rm -rf "$FX/proc/812"
ctl posture --refresh >/dev/null && fail "prod passes without EDR"
posture_bundle "$T/b3.json" 3 --set 'environment="dev"'
ctl policy push "$T/b3.json" >/dev/null || fail "push bundle 3"
OUT=$(ctl posture) || fail "dev does not pass: $OUT"
assert_contains "$OUT" "posture: PASS  environment dev" "dev requires nothing"

# 11. status shows the module
OUT=$(ctl --json status)
assert_eq "$(echo "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["modules"]["posture"]["verdict"])')" "pass" \
	"status carries the posture verdict"

# 12. any user may read the verdict; only administrators make vigild collect on every request
chmod 755 "$T"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$VIGILCTL" -s "$T/run/vigil.sock" "$@"; }
as_nobody posture >/dev/null || fail "an unprivileged user cannot read the verdict"
as_nobody --json posture --refresh >/dev/null || true
assert_eq "$(as_nobody --json posture --refresh | python3 -c 'import json,sys; print(json.load(sys.stdin)["refreshed"])')" \
	"False" "unprivileged refresh within 5 s is served from the cache"
assert_eq "$(ctl --json posture --refresh | python3 -c 'import json,sys; print(json.load(sys.stdin)["refreshed"])')" \
	"True" "root's refresh always collects"
