#!/bin/sh
# A module that cannot start does not take vigild down: enforcement is made to fail
# at init (bpffs_dir on a filesystem that is not bpffs, the same path a verifier
# refusal takes) and vigild still opens its socket, applies a bundle, writes the NSS
# cache and answers elevation; status shows "enforce: failed" with the reason, the
# journal has the line and the audit log an agent.module_failed event.
. "$(dirname "$0")/lib.sh"
need_root

make_keys
mkdir -p "$T/notbpf"
write_config "enforce = true" "bpffs_dir = $T/notbpf/vigil"
start_vigild
ok "vigild serves its socket although enforcement failed"

st=$(ctl --json status)
enf=$(echo "$st" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["modules"]["enforce"]))')
assert_contains "$enf" '"state": "failed"' "status: enforce failed"
assert_contains "$enf" '"reason": "bpffs_dir"' "status: the reason code"
assert_contains "$enf" "not on a bpf filesystem" "status: what went wrong"
assert_contains "$enf" "$T/notbpf/vigil" "status: where"
assert_contains "$(ctl status)" "failed" "vigilctl status prints the failure"
for m in audit posture elevation identity; do
	assert_not_contains "$(echo "$st" | python3 -c "import json,sys; print(json.load(sys.stdin)['modules'].get('$m', {}))")" \
		"failed" "$m still runs"
done
assert_contains "$(cat "$T/vigild.log")" "enforce: failed, vigild runs on without it: " "journal line"

make_bundle "$T/b1.json" 1
ctl policy push "$T/b1.json" >/dev/null || fail "policy push refused while enforcement is failed"
assert_contains "$(ctl --json status)" '"version": 1' "policy: bundle version 1 applied"
i=0
until [ -f "$T/state/nss/passwd.cache" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "identity wrote no NSS cache"
	sleep 0.1
done
assert_contains "$(cat "$T/state/nss/passwd.cache")" "alice" "NSS: the cache has the bundle's users"
ctl grants >/dev/null || fail "elevation does not answer"
ok "elevation answers (grants.list)"

ev=$(ctl audit tail --type agent.module_failed -n 10 --dir "$T/state/audit" 2>/dev/null || true)
assert_contains "$ev" "enforce" "audit: agent.module_failed names the module"
assert_contains "$ev" "bpffs_dir" "audit: and the reason"

kill "$VIGILD_PID"
wait "$VIGILD_PID" && ok "orderly stop (exit 0)" || fail "vigild exited $? on SIGTERM"
VIGILD_PID=""
