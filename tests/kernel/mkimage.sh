#!/bin/sh
# Build the bootable bookworm image of t_kernel_matrix (run as root, in a private
# mount namespace): mkimage.sh OUTDIR MIRROR SECURITY-MIRROR PACKAGES
#
# OUTDIR gets
#   root.ext4            a minbase bookworm with PACKAGES (comma-separated) and /sbin/kmatrix-init
#   vmlinuz-VER, initrd.img-VER   per kernel: bookworm's linux-image-cloud-amd64 and, when
#                        MIRROR serves bookworm-backports, its linux-image-cloud-amd64
#   kernels              one line per kernel: "VER SUITE"
# The guest's root is never written: qemu boots it with snapshot=on.
set -eu
out=$1
mirror=$2
security=$3
pkgs=$4
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/kmatrix-image.XXXXXX")
R="$work/root"
trap 'umount -l "$R/proc" 2>/dev/null || true; rm -rf "$work"' EXIT

in_root() {
	chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive "$@"
}

echo "debootstrap bookworm ($pkgs) from $mirror"
debootstrap --variant=minbase --include="$pkgs" bookworm "$R" "$mirror" >"$work/debootstrap.log" 2>&1 ||
	{ tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
# no daemon starts while packages install
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$R/etc/resolv.conf"
mount -t proc proc "$R/proc"
# what users get: the point release with updates and security fixes, and the backports kernel
{
	echo "deb $mirror bookworm-updates main"
	echo "deb $mirror bookworm-backports main"
	[ -z "$security" ] || echo "deb $security bookworm-security main"
} >"$R/etc/apt/sources.list.d/kmatrix.list"
in_root apt-get -q update >"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log" >&2; exit 1; }
# Each kernel goes in by its versioned package (the two metapackages share one name):
# bookworm's newest (point release, updates, security) and the backports one.
kernel_of() {
	in_root apt-cache depends "$@" linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
stock=$(kernel_of)
[ -n "$stock" ] || { echo "no linux-image-cloud-amd64 in bookworm" >&2; exit 1; }
bpo=""
in_root apt-cache policy linux-image-cloud-amd64 | grep -q bookworm-backports && bpo=$(kernel_of -t bookworm-backports)
in_root apt-get -q -y --no-install-recommends install initramfs-tools >>"$work/apt.log" 2>&1 ||
	{ tail -n 30 "$work/apt.log" >&2; exit 1; }
# an initrd with what qemu's disks need, not every driver: seconds instead of minutes per kernel
echo MODULES=list >"$R/etc/initramfs-tools/conf.d/kmatrix"
printf '%s\n' virtio_pci virtio_blk ext4 >"$R/etc/initramfs-tools/modules"
echo "installing $stock ${bpo:+$bpo/bookworm-backports}"
in_root apt-get -q -y --no-install-recommends install "$stock" ${bpo:+"$bpo/bookworm-backports"} >>"$work/apt.log" 2>&1 ||
	{ tail -n 30 "$work/apt.log" >&2; exit 1; }
umount "$R/proc"

mkdir -p "$out"
: >"$out/kernels"
for k in "$stock bookworm" ${bpo:+"$bpo bookworm-backports"}; do
	ver=${k%% *}
	ver=${ver#linux-image-}
	[ -f "$R/boot/vmlinuz-$ver" ] && [ -f "$R/boot/initrd.img-$ver" ] ||
		{ echo "kernel $ver installed without vmlinuz or initrd" >&2; exit 1; }
	cp "$R/boot/vmlinuz-$ver" "$R/boot/initrd.img-$ver" "$out/"
	echo "$ver ${k#* }" >>"$out/kernels"
done
install -m 755 "$here/init" "$R/sbin/kmatrix-init"
rm -rf "$R"/boot/* "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/*_Packages "$R"/usr/share/doc \
	"$R"/usr/share/man "$R"/usr/share/locale
size=$(du -sm "$R" | cut -f1)
mkfs.ext4 -q -L kmatrix-root -d "$R" "$out/root.ext4" "$((size + size / 4 + 256))M" >/dev/null
echo "image: $(cat "$out/kernels" | tr '\n' ' ')(root.ext4 $((size + size / 4 + 256))M)"
