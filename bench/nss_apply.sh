#!/bin/sh
# Identity apply benchmark: a signed bundle with USERS users and GROUPS groups
# pushed to a running vigild (enforcement off), timed from `vigilctl policy
# push` to the moment group.cache of the new version is in place (the push
# answers once the bundle is applied); then a second push that changes one
# user (the everyday case), and vigild's peak RSS (VmHWM).
# Reproduce: sudo BUILD=build bench/nss_apply.sh [USERS GROUPS]
set -eu
: "${BUILD:=build}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/$BUILD"
NUSERS=${1:-100000}
NGROUPS=${2:-10000}
[ "$(id -u)" = 0 ] || { echo "bench/nss_apply.sh: skipped (needs root)"; exit 0; }
W=$(mktemp -d /tmp/vigil-bench-apply.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; cp "$W/vigild.log" /tmp/nss-apply-vigild.log; rm -rf "$W"' EXIT INT TERM
ctl() { "$BIN/vigilctl" -s "$W/run/vigil.sock" --timeout 300000 "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

echo "== nss apply: $NUSERS users, $NGROUPS groups through vigild"
python3 "$ROOT/bench/nss_gen.py" "$W" "$NUSERS" "$NGROUPS"
python3 "$ROOT/tests/integration/mkbundle.py" --from "$W/bundle.json" --version 1 --out "$W/b1.json"
python3 "$ROOT/tests/integration/mkbundle.py" --from "$W/bundle.json" --version 2 --out "$W/b2.json" \
	--set 'identity.users.7.shell="/bin/sh"'
python3 "$ROOT/tests/integration/mkbundle.py" --from "$W/bundle.json" --version 3 --out "$W/b3.json" \
	--set 'identity.users.8.shell="/bin/sh"'
# every user deprovisioned at once (an IdP export marking everyone inactive)
python3 "$ROOT/tests/integration/mkbundle.py" --from "$W/bundle.json" --version 4 --out "$W/b4.json"
python3 -c 'import json, sys
b = json.load(open(sys.argv[1]))
for u in b["identity"]["users"]:
    u["state"] = "deprovisioned"
json.dump(b, open(sys.argv[1], "w"))' "$W/b4.json"
mkdir -p "$W/state" "$W/run" "$W/inbox" "$W/etc"
"$BIN/vigilctl" keygen --out "$W/k" >/dev/null
"$BIN/vigilctl" trust new --out "$W/etc/trust.json" --version 1 --threshold 1 "$W/k.pub" >/dev/null
for b in b1 b2 b3 b4; do "$BIN/vigilctl" policy sign --key "$W/k" "$W/$b.json" >/dev/null; done
cat >"$W/vigild.conf" <<EOC
state_dir = $W/state
run_dir = $W/run
socket = $W/run/vigil.sock
bpffs_dir = /sys/fs/bpf/vigil-bench-$$
trust_file = $W/etc/trust.json
inbox_dir = $W/inbox
nss_cache_dir = $W/state/nss
breakglass_spool = $W/state/breakglass.spool
hostname = testhost
labels = role=test
enforce = false
EOC
"$BIN/vigild" -c "$W/vigild.conf" --foreground >"$W/vigild.log" 2>&1 &
PID=$!
i=0
until [ -S "$W/run/vigil.sock" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$W/vigild.log"; exit 1; }
	sleep 0.1
done

# vigild's CPU time so far (user + system), in ms
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' /proc/$PID/stat; }
# the NSS generation counter (0 before the first write)
gen() { "$BIN/bench/nss_gen_wait" "$W/state/nss"; }
# apply BUNDLE VIA: wall ms from delivery to every cache file of the new version
# in place (seen by nss_gen_wait, which polls the generation word every ms), and
# vigild's CPU ms meanwhile. VIA push: vigilctl policy push (the
# whole bundle travels over the control socket); VIA inbox: the signed files
# moved into the inbox directory (vigild reads them from disk).
apply() {
	gen0=$(gen)
	[ "$2" = push ] || cp "$W/$1.json.sig" "$W/$1.json" "$W/stage/"
	c0=$(cpu_ms)
	t0=$(now_ms)
	if [ "$2" = push ]; then
		ctl policy push "$W/$1.json" >/dev/null
	else
		mv "$W/stage/$1.json.sig" "$W/inbox/"
		mv "$W/stage/$1.json" "$W/inbox/"
	fi
	# the generation word moves once all three files are renamed into place
	t1=$("$BIN/bench/nss_gen_wait" "$W/state/nss" "$gen0" "${1#b}")
	echo "$((t1 - t0)) $(($(cpu_ms) - c0))"
}
mkdir -p "$W/stage"
first=$(apply b1 inbox)
second=$(apply b2 inbox)
users=$(ctl status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["modules"]["identity"]["users"])')
third=$(apply b3 push)
fourth=$(apply b4 inbox)
printf "%-40s %8s ms wall %8s ms vigild CPU\n" "first apply, inbox ($users users)" $first \
	"re-apply, inbox (one user changed)" $second "re-apply, vigilctl push (one changed)" $third \
	"every user deprovisioned, inbox" $fourth
printf "%-34s %8s\n" "vigild peak RSS" "$(awk '/VmHWM/ {printf "%.0f MiB", $2 / 1024}' /proc/$PID/status)"
# where each apply's time went, as vigild logged it (wall/CPU ms per step; the last line comes
# after the caches are in place)
i=0
until grep -q "version 4 from" "$W/vigild.log" || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
echo "vigild's split of each apply (ms wall/CPU):"
sed -n 's/^<[0-9]>policy: version \([0-9]*\) from \([a-z]*\) applied /  v\1 \2: /p; s/^<[0-9]>identity: \([0-9]* users\)/    identity: \1/p' "$W/vigild.log"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "reproduce: sudo BUILD=$BUILD bench/nss_apply.sh $NUSERS $NGROUPS"
