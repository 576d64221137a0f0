#!/bin/sh
# Long vigilctl work shows progress on a terminal and stays quiet in scripts
# (docs/vigilctl.md): a large `policy push` and `audit verify` of a long log, once
# through a pseudo-terminal (script(1)) and once with stderr to a file.
. "$(dirname "$0")/lib.sh"
need_root
command -v script >/dev/null || skip "script (util-linux) missing"
make_keys
write_config "max_bundle_bytes = 64M"
start_vigild
# a bundle large enough that verifying and applying it takes a while: 150k rules
make_bundle "$T/b.json" 1
python3 - "$T/b.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
b["tenants"][0]["egress"] = [{"id": 1000 + i, "cidr": "10.%d.%d.%d/32" % (i >> 16, (i >> 8) & 255, i & 255),
                              "proto": "tcp", "ports": ["443"]} for i in range(150000)]
json.dump(b, open(sys.argv[1], "w"))
PY
"$VIGILCTL" policy sign --key "$T/keys/sec1.key" "$T/b.json" >/dev/null
cp "$T/b.json" "$T/b2.json"
python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); b["version"]=2; json.dump(b, open(sys.argv[1],"w"))' "$T/b2.json"
rm -f "$T/b2.json.sig"
"$VIGILCTL" policy sign --key "$T/keys/sec1.key" "$T/b2.json" >/dev/null

# on a terminal: the phase and the size, then the result (the push of 150k rules can end within
# the default half second on an idle machine: the delay is 0 here, as for verify below)
script -qec "VIGILCTL_PROGRESS_DELAY=0 $VIGILCTL -s $T/run/vigil.sock policy push $T/b.json" "$T/tty.out" >/dev/null </dev/null ||
	fail "push on a tty: $(cat "$T/tty.out")"
out=$(tr '\r' '\n' <"$T/tty.out")
assert_contains "$out" "applied version 1" "push applied"
assert_contains "$out" "sending to vigild, which verifies, compiles and applies it" "push shows its phase on a terminal"
assert_contains "$out" " MB (" "push shows the size and the time spent"

# in a script: nothing but the result
ctl policy push "$T/b2.json" >"$T/out" 2>"$T/err" || fail "push in a script"
assert_contains "$(cat "$T/out")" "applied version 2" "push applied in a script"
[ ! -s "$T/err" ] || fail "push printed on stderr in a script: $(cat "$T/err")"
ok "push is quiet in a script"

# audit verify of a long log: records counted on a terminal, quiet otherwise
ctl audit note --repeat 100000 "progress test" >/dev/null
ctl audit seal >/dev/null
# (on a fast machine verify ends within the default half second: the delay is 0 here, so the
# line must appear whatever the machine)
script -qec "VIGILCTL_PROGRESS_DELAY=0 $VIGILCTL audit verify --dir $T/state/audit" "$T/tty2.out" >/dev/null </dev/null ||
	fail "verify on a tty: $(cat "$T/tty2.out")"
out=$(tr '\r' '\n' <"$T/tty2.out")
assert_contains "$out" "intact" "verify result"
assert_contains "$out" "verifying audit log, " "verify shows its progress on a terminal"
assert_contains "$out" " records (" "verify counts the records"
"$VIGILCTL" audit verify --dir "$T/state/audit" >"$T/out" 2>"$T/err" || fail "verify in a script: $(cat "$T/out")"
[ ! -s "$T/err" ] || fail "verify printed on stderr in a script: $(cat "$T/err")"
ok "verify is quiet in a script"
