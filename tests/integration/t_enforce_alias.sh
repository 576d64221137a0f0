#!/bin/sh
# Kernel truth about tenant cgroups (issue 17): a cgroup belongs to one tenant
# in the kernel, not only in the bundle's text. The attacker's goal: get an
# enforced tenant's processes judged as an audited tenant's (a downgrade)
# through an alias of its cgroup — a bind mount inside cgroupfs (no path check
# can see it), a path alias, the cgroup2 root, or a bind mount made after the
# bundle was applied. Each is refused, the old policy keeps enforcing, and a
# counting receiver sees nothing from the enforced tenant; the audited tenant's
# connection arriving is the control that the receiver works.
[ -n "${VIGIL_UNSHARED:-}" ] || [ "$(id -u)" != 0 ] ||
	exec env VIGIL_UNSHARED=1 unshare -m --propagation private sh "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/enforce_lib.sh"
[ -n "${VIGIL_UNSHARED:-}" ] || skip "needs a private mount namespace (unshare -m)"

CGA=$(tenant_cgroup alpha)
CGB=$(tenant_cgroup beta)
make_topology
count tcp 7000 c7000 "$NSI" -
enforce_vigild

# tenants BETA_CGROUPS_JSON: alpha enforced (nothing allowed off the host), beta audited
tenants() {
	cat <<EOF
[{"name": "alpha", "id": 1, "mode": "enforce", "cgroups": ["$CGREL/alpha"],
  "egress": [{"id": 100, "cidr": "127.0.0.0/8", "proto": "any"}]},
 {"name": "beta", "id": 2, "mode": "audit", "cgroups": $1,
  "egress": [{"id": 200, "cidr": "127.0.0.0/8", "proto": "any"}]}]
EOF
}
# alpha_blocked WHAT: alpha's connect does not arrive; beta's (audit) does
alpha_blocked() {
	b=$(field c7000 conns)
	run "$NSH" "$CGA" "tcpwait 203.0.113.10 7000" >/dev/null
	unchanged c7000 conns "$b" "$1: alpha (enforce) stays blocked"
	run "$NSH" "$CGB" "tcpwait 203.0.113.10 7000" >/dev/null
	arrives c7000 conns "$b" "$1: beta (audit) gets through"
}
# refused VERSION WHAT CODE BETA_CGROUPS_JSON: the bundle is refused with CODE, version 2 stays
refused() {
	make_bundle "$T/b$1.json" "$1" --set "tenants=$(tenants "$4")"
	out=$(ctl policy push "$T/b$1.json" 2>&1) && fail "$2: the bundle was applied"
	case "$out" in
	*$3*) ok "$2: refused ($3)" ;;
	*) fail "$2: refused for another reason: $out" ;;
	esac
	assert_contains "$(ctl --json status)" '"version": 2' "$2: policy version 2 still in force"
	alpha_blocked "$2"
}

push_bundle 2 --set "tenants=$(tenants "[\"$CGREL/beta\"]")"
alpha_blocked "version 2"

echo "== a bind mount inside cgroupfs: beta lists a path that is alpha's cgroup"
mkdir "$CGBASE/alias"
mount --bind "$CGA" "$CGBASE/alias"
refused 3 "bind-mount alias" enforce_cgroup "[\"$CGREL/beta\", \"$CGREL/alias\"]"
out=$(ctl policy push "$T/b3.json" 2>&1 || true)
assert_contains "$out" 'tenants[1].cgroups[1]' "the error names the JSON path"
# with CAP_DAC_READ_SEARCH vigild finds the kernel's own path of each id; without it (the
# shipped unit, t_enforce_alias_nocap) it sees the path cross the bind mount
case "$out" in
*"are the same cgroup in the kernel"* | *"crosses another mount inside the cgroup2 file system"*) ok "the error says what is wrong" ;;
*) fail "the error does not say what is wrong: $out" ;;
esac
assert_contains "$out" "by its real path" "the error says what to do"
umount "$CGBASE/alias"

echo "== path aliases and the root"
# whichever check sees it first (the bundle's path rules or the kernel's ids), it is refused
v=4
for alias in "$CGREL/alpha/." "$CGREL/alpha/" "/"; do
	v=$((v + 1))
	make_bundle "$T/alias.json" $v --set "tenants=$(tenants "[\"$CGREL/beta\", \"$alias\"]")"
	out=$(ctl policy push "$T/alias.json" 2>&1) && fail "beta listing \"$alias\" was applied"
	ok "beta listing \"$alias\" refused: $(echo "$out" | head -n 1 | cut -c1-160)"
done
alpha_blocked "after the path aliases"

echo "== a bind mount made after the bundle was applied: beta's path becomes alpha's cgroup"
mount --bind "$CGA" "$CGB"
i=0
until ctl --json status | grep -q "tenant cgroup $CGREL/beta is refused"; do
	i=$((i + 1))
	[ $i -gt 50 ] && fail "vigild did not notice beta's path turning into alpha's cgroup: $(ctl --json status | grep -A3 problems)"
	sleep 0.1
done
ok "status: beta's cgroup is refused, not re-entered"
b=$(field c7000 conns)
run "$NSH" "$CGA" "tcpwait 203.0.113.10 7000" >/dev/null
unchanged c7000 conns "$b" "alpha (enforce) stays blocked after the late alias"
wait_audit enforce.cgroup_changed '"problem"'
umount "$CGB"
i=0
until ctl --json status | grep -q '"problems": \[\]'; do
	i=$((i + 1))
	[ $i -gt 50 ] && fail "beta's own cgroup was not taken up again: $(ctl --json status | grep -A3 problems)"
	sleep 0.1
done
ok "beta's own cgroup taken up again once the mount is gone"
alpha_blocked "after the mount is gone"
