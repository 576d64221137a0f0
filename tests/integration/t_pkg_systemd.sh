#!/bin/sh
# timeout: 1800
# The .debs under systemd as PID 1: `make deb`, a bookworm root (pkg_root.sh, cached)
# booted with `systemd-nspawn -b`, the packages installed with apt inside, then in the
# booted container: the shipped unit is active with exactly the documented capabilities
# and the documented `systemd-analyze security` figure; a signed bundle is pushed;
# vigild creates the tenant cgroup; a process in it gets EPERM to a denied destination
# and connects to an allowed one (loopback listeners); stopping and restarting vigild
# keep enforcement (pins); posture sees a root EDR agent (CAP_SYS_PTRACE, and not
# without it); a failing start stops after the documented number of tries; with the
# pam-auth-update profile on, sudo goes through pam_vigil and break-glass gets in with
# vigild down; every removal order of the three packages leaves sudo and su working
# for root (and refuses while a hand-made stack names pam_vigil.so); break-glass
# material survives remove, purge warns about unread uses, and restores /etc/pam.d and
# nsswitch.conf byte for byte.
#
# What the container needs for BPF (docs/packaging.md, "Testing under systemd-nspawn"):
# CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN in its bounding set, bpf(2) allowed by its
# seccomp filter, its own network namespace, and a bpffs on /sys/fs/bpf (a fresh one,
# private to this test). The unit itself is the one shipped, unchanged.
if [ "$(id -u)" = 0 ] && [ -z "${VIGIL_PKG_NS:-}" ]; then
	exec unshare -m --propagation private env VIGIL_PKG_NS=1 sh "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pkg_root.sh"
need_root
for tool in dpkg-buildpackage dh dh_installnss debootstrap systemd-nspawn nsenter python3; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (make deps)"
done
[ -r /sys/kernel/btf/vmlinux ] || skip "the kernel has no BTF (/sys/kernel/btf/vmlinux)"

R="$T/root"
PKG="$T/pkg"
M="vigil-t$$"
BG_SECRET="correct-horse-battery"
OPS_PW="ops-password-1"

# ---- the debs of this commit (t_pkg_deb's, cached), or built now while the root is
# unpacked (or bootstrapped) beside them. VIGIL_DEBS=DIR takes the debs of an earlier
# `make deb` instead (while editing this test, before committing).
pkg_root_make "$R" >"$T/root.log" 2>&1 &
ROOT_JOB=$!
on_exit "wait $ROOT_JOB"
if [ -n "${VIGIL_DEBS:-}" ]; then
	mkdir -p "$PKG" && cp "$VIGIL_DEBS"/*.deb "$PKG/"
	ok "debs from $VIGIL_DEBS"
elif pkg_debs_fetch "$PKG"; then
	ok "debs of this commit from the cache (t_pkg_deb built them)"
elif (cd "$ROOT" && make deb PKG_BUILD="$PKG") >"$T/deb.log" 2>&1; then
	pkg_debs_store "$PKG"
	ok "make deb: $(cd "$PKG" && ls ./*.deb | tr '\n' ' ')"
else
	wait "$ROOT_JOB" || true
	tail -n 40 "$T/deb.log" >&2
	fail "make deb"
fi
for p in vigil libpam-vigil libnss-vigil; do
	ls "$PKG"/${p}_*.deb >/dev/null 2>&1 || skip "$p was not built (module missing from the tree)"
done
wait "$ROOT_JOB" || { cat "$T/root.log" >&2; fail "making the root"; }
cat "$T/root.log"

# ---- signing key, trust file and bundles, made on this side with the tree's vigilctl
make_keys
BG_HASH=$(printf '%s\n' "$BG_SECRET" | "$VIGILCTL" breakglass hash --iterations 1000) || fail "breakglass hash"
tomorrow=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
make_bundle "$T/bundle.json" 2 \
	--set 'elevation.posture.prod.edr_agents=["/opt/edr/agentd"]' \
	--set "elevation.break_glass=[{\"id\": \"bg-test\", \"user\": \"ops\", \"hash\": \"$BG_HASH\", \"not_after\": \"$tomorrow\", \"duration\": 600}]"

# ---- the root: debs, trust, a local admin "ops", a stand-in EDR agent, snapshots
mkdir -p "$R/root/debs" "$R/root/vigil" "$R/opt/edr"
cp "$PKG"/*.deb "$R/root/debs/"
cp "$T/etc/trust.json" "$T/bundle.json" "$T/bundle.json.sig" "$R/root/vigil/"
cp "$R/bin/sleep" "$R/opt/edr/agentd"
: >"$R/etc/machine-id"
echo testhost >"$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 testhost\n' >"$R/etc/hosts"
cp "$R/etc/nsswitch.conf" "$T/nsswitch.orig"
cp -a "$R/etc/pam.d" "$T/pam.orig"

# ---- boot it: a private bpffs and network, the BPF capabilities and bpf(2)
mkdir -p "$T/bpffs"
mount -t bpf bpf "$T/bpffs" || fail "mount a private bpffs"
on_exit "umount -l '$T/bpffs'"
systemd-nspawn -q -D "$R" -M "$M" --register=no --keep-unit --private-network \
	--capability=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN --system-call-filter=bpf \
	--bind="$T/bpffs:/sys/fs/bpf" --console=passive -b >"$T/boot.log" 2>&1 &
NSPAWN=$!
on_exit "kill $NSPAWN; wait $NSPAWN"

# the container's PID 1: systemd-nspawn's child that is pid 1 in its own pid namespace
leader() {
	for s in /proc/[0-9]*/status; do
		grep -q "^PPid:[[:space:]]*$NSPAWN\$" "$s" 2>/dev/null || continue
		grep -q '^NSpid:[[:space:]]*[0-9]*[[:space:]]1$' "$s" 2>/dev/null || continue
		p=${s#/proc/}
		echo "${p%/status}"
		return 0
	done
	return 1
}
i=0
until L=$(leader); do
	i=$((i + 1))
	[ $i -gt 100 ] && { cat "$T/boot.log" >&2; fail "the container did not start"; }
	kill -0 "$NSPAWN" 2>/dev/null || { cat "$T/boot.log" >&2; fail "systemd-nspawn exited"; }
	sleep 0.2
done

# run a command in the booted container (its namespaces, a clean environment)
ct() {
	nsenter -t "$L" -m -u -i -n -p -C -r -w /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
state=$(ct timeout 90 systemctl is-system-running --wait 2>&1 || true)
case "$state" in
running | degraded) ok "systemd is PID 1 in the container: $state" ;;
*) cat "$T/boot.log" >&2; fail "the container did not boot: $state" ;;
esac

# the container's cgroup root as this side sees it: where its PID 1's cgroup namespace starts
CG_HOST=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG_CT=$CG_HOST$(sed -n 's/^0:://p' "/proc/$L/cgroup" | sed 's:/init.scope$::')
[ -d "$CG_CT" ] || fail "cannot find the container's cgroup ($CG_CT)"

# ct_in CGROUP CMD...: the command runs in the container's cgroup CGROUP (as the container names it)
ct_in() {
	cg=$1
	shift
	sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG_CT$cg" nsenter -t "$L" -m -u -i -n -p -C -r -w \
		/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# ---- install with apt
apt_install() {
	ct sh -c 'apt-get install -q -y /root/debs/*.deb' >"$T/apt.log" 2>&1 ||
		{ tail -n 30 "$T/apt.log" >&2; fail "apt-get install of the debs"; }
}
apt_install
assert_eq "$(ct systemctl is-enabled vigild)" "enabled" "vigild.service is enabled"
wait_active() {
	i=0
	until [ "$(ct systemctl is-active vigild)" = active ] && ct test -S /run/vigil/vigil.sock; do
		i=$((i + 1))
		[ $i -gt 100 ] && { ct journalctl -u vigild --no-pager | tail -n 30 >&2; fail "vigild is not active"; }
		sleep 0.2
	done
}
wait_active
ok "vigild.service is active under systemd (no trust file yet)"
assert_eq "$(ct vigild --version)" "vigild $(cat "$ROOT/VERSION")" "vigild reports the version of VERSION"
assert_eq "$(ct vigilctl --version)" "vigilctl $(cat "$ROOT/VERSION")" "vigilctl reports the version of VERSION"

# ---- capabilities: exactly the documented set, in the unit and in the running process
doc_caps=$(sed -n 's/^| `CapabilityBoundingSet=`\/`AmbientCapabilities=` `\([A-Z_ ]*\)`.*/\1/p' "$ROOT/docs/packaging.md")
[ -n "$doc_caps" ] || fail "docs/packaging.md does not list the capabilities"
unit_caps=$(ct systemctl show -P CapabilityBoundingSet vigild | tr a-z A-Z)
assert_eq "$(echo "$unit_caps" | tr ' ' '\n' | sort | tr '\n' ' ')" "$(echo "$doc_caps" | tr ' ' '\n' | sort | tr '\n' ' ')" \
	"the unit's capability bounding set is the one docs/packaging.md justifies"
capbit() {
	case "$1" in
	CAP_NET_ADMIN) echo 12 ;; CAP_SYS_PTRACE) echo 19 ;; CAP_PERFMON) echo 38 ;; CAP_BPF) echo 39 ;;
	*) fail "capability $1 has no bit in this test" ;;
	esac
}
want=0
for c in $doc_caps; do want=$((want | (1 << $(capbit "$c")))); done
pid=$(ct systemctl show -P MainPID vigild)
eff=$(ct sed -n 's/^CapEff:[[:space:]]*//p' "/proc/$pid/status")
assert_eq "$((0x$eff))" "$want" "vigild's effective capabilities are exactly $doc_caps"

# ---- the hardening figure the docs state
score=$(ct systemd-analyze security vigild.service 2>/dev/null | sed -n 's/.*Overall exposure level for vigild.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || fail "systemd-analyze security gave no figure"
doc_score=$(sed -n 's/.*`systemd-analyze security vigild` on a running system gives \*\*\([0-9.]*\) OK\*\*.*/\1/p' "$ROOT/docs/packaging.md")
assert_eq "$score" "$doc_score" "systemd-analyze security vigild: $score, as docs/packaging.md says"
grep -q "systemd-analyze security vigild.service   # $score OK" "$ROOT/docs/operations.md" ||
	fail "docs/operations.md does not state $score"
ok "docs/operations.md states $score"

# ---- trust, bundle, tenant cgroup
ct install -m 0644 /root/vigil/trust.json /etc/vigil/trust.json
ct systemctl reload vigild
sleep 0.5
ct vigilctl policy push /root/vigil/bundle.json >"$T/push.log" 2>&1 || { cat "$T/push.log" >&2; fail "policy push"; }
ok "signed bundle pushed: $(head -n 1 "$T/push.log")"
[ -d "$CG_CT/vigil.slice/payments" ] || fail "vigild did not create the tenant cgroup /vigil.slice/payments"
ok "vigild created the tenant cgroup /vigil.slice/payments"

# ---- enforcement: loopback listeners, an allowed and a denied port for tenant payments
ct_in /init.scope perl -MIO::Socket::INET -e '
	for my $p (443, 8080) { push @s, IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $p, Listen => 8, ReuseAddr => 1) or die "listen $p: $!" }
	sleep 600' >/dev/null 2>&1 &
LISTEN=$!
# $! is the subshell running ct_in; its child is the nsenter that waits for perl inside the
# container. Kill that nsenter outright (SIGKILL also ends a stopped one): left alive, it keeps
# an unreaped perl in the container and the container's shutdown waits for it (seen: 12 min).
on_exit "pkill -KILL -P $LISTEN; kill $LISTEN"
i=0
until ct bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080' 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 50 ] && fail "the loopback listeners did not come up"
	sleep 0.2
done
# connect_as_tenant PORT: "connected" or the shell's error
connect_as_tenant() {
	ct_in /vigil.slice/payments bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && echo connected" 2>&1 | tail -n 1
}
check_enforced() { # $1: when
	assert_eq "$(connect_as_tenant 443)" "connected" "$1: tenant payments connects to 127.0.0.1:443 (rule 100)"
	assert_contains "$(connect_as_tenant 8080)" "Operation not permitted" "$1: tenant payments gets EPERM for 127.0.0.1:8080"
}
check_enforced "enforcing"
assert_contains "$(ct_in /init.scope bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080 && echo connected' 2>&1)" "connected" \
	"a host process outside the tenants still connects to 8080"

ct systemctl stop vigild
check_enforced "vigild stopped"
ct systemctl restart vigild
wait_active
check_enforced "after systemctl restart"
assert_contains "$(ct vigilctl --json status)" '"adopted": true' "the restarted vigild re-adopted its pins"

# ---- posture: the EDR agent is a root process with every capability; reading its
# /proc/PID/exe takes CAP_SYS_PTRACE
ct systemd-run -q --unit=edr-agent /opt/edr/agentd infinity
edr_state() {
	ct vigilctl --json posture --refresh 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
def find(o):
    if isinstance(o, dict):
        if "edr" in o and isinstance(o["edr"], dict) and "result" in o["edr"]:
            return o["edr"]["result"]
        for v in o.values():
            r = find(v)
            if r: return r
    return None
print(find(d))'
}
assert_eq "$(edr_state)" "pass" "posture: edr passes (the agent runs as root, vigild reads its exe)"
# dropin NAME TEXT: a runtime drop-in for vigild.service (in the container's /run), reloaded
dropin() {
	ct sh -c 'mkdir -p /run/systemd/system/vigild.service.d && printf "$1" >"/run/systemd/system/vigild.service.d/$0.conf" &&
		systemctl daemon-reload' "$1" "$2"
}
undrop() { ct sh -c 'rm -rf /run/systemd/system/vigild.service.d && systemctl daemon-reload'; }
set -- CAP_BPF CAP_PERFMON CAP_NET_ADMIN
dropin noptrace "[Service]\nCapabilityBoundingSet=\nCapabilityBoundingSet=$*\nAmbientCapabilities=\nAmbientCapabilities=$*\n"
ct systemctl restart vigild
wait_active
assert_eq "$(edr_state)" "fail" "posture without CAP_SYS_PTRACE: edr fails (so the capability is needed)"
undrop
ct systemctl restart vigild
wait_active
ct systemctl stop edr-agent

# ---- a start that keeps failing stops after StartLimitBurst tries
burst=$(ct systemctl show -P StartLimitBurst vigild)
assert_eq "$burst" "5" "StartLimitBurst=5"
dropin fast '[Service]\nRestartSec=100ms\n'
cp "$R/etc/vigil/vigild.conf" "$T/vigild.conf.orig"
echo "no_such_key = 1" >>"$R/etc/vigil/vigild.conf"
ct systemctl restart vigild >/dev/null 2>&1 || true
i=0
until ct journalctl -u vigild --no-pager | grep -q "Start request repeated too quickly"; do
	i=$((i + 1))
	[ $i -gt 120 ] && { ct journalctl -u vigild --no-pager | tail -n 20 >&2; fail "vigild did not stop retrying"; }
	sleep 0.5
done
ok "a failing start stops after the limit, and the journal says so (Start request repeated too quickly)"
assert_eq "$(ct systemctl is-active vigild)" "failed" "and vigild stays failed"
assert_eq "$(ct systemctl show -P NRestarts vigild)" "5" "systemd refused the 5th restart: 5 starts in all (StartLimitBurst=5)"
assert_contains "$(ct journalctl -u vigild --no-pager)" "no_such_key" "the journal names the bad key"
cp "$T/vigild.conf.orig" "$R/etc/vigil/vigild.conf"
undrop
ct systemctl reset-failed vigild
ct systemctl start vigild
wait_active
check_enforced "pinned enforcement through the failed starts"

# ---- PAM: a local admin "ops" with sudo; the profile on; break-glass with vigild down
ct useradd -m -s /bin/bash ops
printf 'ops:%s\n' "$OPS_PW" | ct chpasswd
echo 'ops ALL=(ALL) ALL' >"$R/etc/sudoers.d/ops"
chmod 0440 "$R/etc/sudoers.d/ops"
ct pam-auth-update --enable vigil
assert_eq "$(grep -c pam_vigil.so "$R/etc/pam.d/common-auth")" 1 "profile on: pam_vigil in common-auth"

# sudo_ops INPUT: ops (switched to without PAM) runs `sudo -S id -u` reading INPUT;
# prints what it printed and "rc=N"
sudo_ops() {
	printf "$1" | ct setpriv --reuid=ops --regid=ops --init-groups env HOME=/home/ops USER=ops \
		sh -c 'sudo -S -k -p "[sudo password]" id -u; echo "rc=$?"' 2>&1 || true
}
root_ok() { # $1: when; root's sudo and su pass through the account stack
	assert_eq "$(ct sudo -n id -u 2>&1)" "0" "$1: root's sudo works"
	assert_eq "$(ct su -s /bin/sh ops -c 'id -un' 2>&1)" "ops" "$1: root's su works"
}
root_ok "profile on"
assert_contains "$(sudo_ops "$OPS_PW\n")" "rc=0" "profile on, vigild up: ops's sudo works (pam_vigil ignores an unconcerned user)"
ct systemctl stop vigild
out=$(sudo_ops "$OPS_PW\n\n")
assert_not_contains "$out" "rc=0" "vigild down, no break-glass code: ops's sudo is refused"
assert_contains "$out" "failmode=secure" "vigild down: pam_vigil says it fails secure"
out=$(sudo_ops "$OPS_PW\n$BG_SECRET\n")
assert_contains "$out" "BREAK-GLASS access for ops" "vigild down: break-glass gets ops in, and says so"
assert_contains "$out" "rc=0" "vigild down: sudo with break-glass succeeds"
[ -s "$R/var/lib/vigil/breakglass.spool" ] || fail "the break-glass use was not spooled"
ok "the break-glass use is spooled for vigild"

# ---- removal orders, with the profile on: root's sudo and su keep working after each
# step; the unread break-glass use and the break-glass entries survive every remove
install_on() {
	apt_install
	wait_active
	ct pam-auth-update --enable vigil
}
remove_in_order() { # packages, in order, with apt-get remove
	pam_left=yes
	for p in "$@"; do
		ct apt-get remove -q -y "$p" >"$T/rm.log" 2>&1 || { cat "$T/rm.log" >&2; fail "apt-get remove $p (order: $*)"; }
		root_ok "after removing $p (order: $*)"
		[ -f "$R/var/lib/vigil/breakglass.json" ] || fail "removing $p (order: $*) lost the break-glass entries"
		[ "$p" != libpam-vigil ] || pam_left=no
		if [ "$p" = vigil ] && [ $pam_left = yes ]; then
			assert_contains "$(cat "$T/rm.log")" "pam-auth-update --disable vigil" \
				"removing vigil before libpam-vigil turns the profile off, saying so"
		fi
	done
}
remove_in_order vigil libpam-vigil libnss-vigil
[ -s "$R/var/lib/vigil/breakglass.spool" ] || fail "remove lost the unread break-glass use"
ok "the unread break-glass use survives removing every package"
for order in "vigil libnss-vigil libpam-vigil" "libpam-vigil vigil libnss-vigil" \
	"libpam-vigil libnss-vigil vigil" "libnss-vigil vigil libpam-vigil" "libnss-vigil libpam-vigil vigil"; do
	install_on
	# shellcheck disable=SC2086
	remove_in_order $order
done
ok "all 6 removal orders leave root's sudo and su working"

# ---- a hand-made sudo stack naming pam_vigil.so: removal is refused, sudo keeps working
install_on
ct pam-auth-update --disable vigil
cp "$R/etc/pam.d/sudo" "$T/sudo.pam"
printf 'auth [success=ok ignore=ignore default=die] pam_vigil.so\naccount required pam_vigil.so\n' >>"$R/etc/pam.d/sudo"
for p in vigil libpam-vigil; do
	ct apt-get remove -q -y "$p" >"$T/rm.log" 2>&1 && fail "removing $p was allowed while /etc/pam.d/sudo names pam_vigil.so"
	assert_contains "$(cat "$T/rm.log")" "/etc/pam.d/sudo" "removing $p is refused, naming /etc/pam.d/sudo"
	assert_eq "$(ct dpkg-query -W -f='${db:Status-Abbrev}' "$p")" "ii " "$p stays installed"
	root_ok "refused removal of $p"
done
cp "$T/sudo.pam" "$R/etc/pam.d/sudo"

# ---- purge: warns about an unread break-glass use, then restores PAM and NSS exactly
ct pam-auth-update --enable vigil
ct systemctl stop vigild
assert_contains "$(sudo_ops "$OPS_PW\n$BG_SECRET\n")" "BREAK-GLASS access for ops" "another break-glass use with vigild down"
ct apt-get purge -q -y vigil libpam-vigil libnss-vigil >"$T/purge.log" 2>&1 || { cat "$T/purge.log" >&2; fail "apt-get purge"; }
assert_contains "$(cat "$T/purge.log")" "break-glass uses vigild never audited" "purge warns about the unread break-glass use"
assert_contains "$(cat "$T/purge.log")" '"id":"bg-test"' "the warning shows the use itself"
[ ! -e "$R/var/lib/vigil" ] || fail "purge left /var/lib/vigil"
diff -u "$T/nsswitch.orig" "$R/etc/nsswitch.conf" >&2 || fail "nsswitch.conf after purge"
ok "purge: nsswitch.conf is byte for byte the original"
rm -f "$R/etc/sudoers.d/ops"
diff -ru "$T/pam.orig" "$R/etc/pam.d" >&2 || fail "/etc/pam.d after purge"
ok "purge: /etc/pam.d is byte for byte the original"
root_ok "after purge"
exit 0
