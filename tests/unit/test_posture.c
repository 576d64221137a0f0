/* SPDX-License-Identifier: Apache-2.0 */
/* Posture collectors on fixture trees built here (fake proc, sysfs device-mapper and LVM
 * chains, dpkg/apt/dnf logs of several ages, efivars) and the per-environment evaluation. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vigil/posture.h"
#include "vigil/util.h"

#define NOW ((time_t)1795424400) /* 2026-11-23T09:00:00Z */
#define DAY 86400

struct fx {
	char root[64];
	struct vg_posture_opts o;
	struct vg_posture p;
};

static void __attribute__((format(printf, 3, 4))) fx_path(struct fx *f, char *buf, const char *fmt, ...)
{
	char rel[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	assert_true((size_t)snprintf(buf, PATH_MAX, "%s/%s", f->root, rel) < PATH_MAX);
}

static void mkparents(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			(void)mkdir(tmp, 0755);
			*p = '/';
		}
}

static void fx_write(struct fx *f, const char *rel, const void *data, size_t len)
{
	char path[PATH_MAX];
	int fd;

	fx_path(f, path, "%s", rel);
	mkparents(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void fx_text(struct fx *f, const char *rel, const char *text)
{
	fx_write(f, rel, text, strlen(text));
}

static void fx_dir(struct fx *f, const char *rel)
{
	char path[PATH_MAX];

	fx_path(f, path, "%s/", rel);
	mkparents(path);
}

/* symlink at rel; a target starting with "@" is made absolute inside the fixture */
static void fx_link(struct fx *f, const char *rel, const char *target)
{
	char path[PATH_MAX], tgt[PATH_MAX];

	fx_path(f, path, "%s", rel);
	mkparents(path);
	if (target[0] == '@')
		fx_path(f, tgt, "%s", target + 1);
	else
		snprintf(tgt, sizeof(tgt), "%s", target);
	assert_int_equal(symlink(tgt, path), 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/vigil-posture-ut.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	f->o.root = f->root;
	f->o.now = NOW;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	vg_posture_clear(&f->p);
	nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static const struct vg_posture_check *run(struct fx *f, enum vg_posture_check_id id)
{
	vg_posture_collect_one(&f->o, id, &f->p);
	assert_int_equal(f->p.check[id].observed_at, NOW);
	assert_non_null(f->p.check[id].evidence);
	return &f->p.check[id];
}

/* ---- disk_encryption ---------------------------------------------------- */

/* a sysfs block device: dm uuid (or NULL), slaves (NULL: a partition without slaves/) */
static void fx_blockdev(struct fx *f, const char *name, const char *majmin, const char *dm_uuid,
			const char *const *slaves)
{
	char rel[PATH_MAX], tgt[PATH_MAX];

	snprintf(rel, sizeof(rel), "sys/class/block/%s/dev", name);
	snprintf(tgt, sizeof(tgt), "%s\n", majmin);
	fx_text(f, rel, tgt);
	snprintf(rel, sizeof(rel), "sys/dev/block/%s", majmin);
	snprintf(tgt, sizeof(tgt), "../../devices/virtual/block/%s", name);
	fx_link(f, rel, tgt);
	if (dm_uuid) {
		snprintf(rel, sizeof(rel), "sys/class/block/%s/dm/uuid", name);
		snprintf(tgt, sizeof(tgt), "%s\n", dm_uuid);
		fx_text(f, rel, tgt);
	}
	if (!slaves)
		return;
	snprintf(rel, sizeof(rel), "sys/class/block/%s/slaves", name);
	fx_dir(f, rel);
	for (; *slaves; slaves++) {
		char l[PATH_MAX], t[PATH_MAX];

		snprintf(l, sizeof(l), "sys/class/block/%s/slaves/%s", name, *slaves);
		snprintf(t, sizeof(t), "../../%s", *slaves);
		fx_link(f, l, t);
	}
}

static const char *const none[] = { NULL };

#define PSEUDO_MOUNTS                                                                \
	"21 26 0:20 / /proc rw,relatime - proc proc rw\n"                            \
	"22 26 0:21 / /sys rw,relatime - sysfs sysfs rw\n"                           \
	"23 26 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,mode=755\n"             \
	"24 23 0:22 / /dev/shm rw,relatime shared:3 - tmpfs tmpfs rw\n"

static void test_disk_luks_root(void **state)
{
	struct fx *f = *state;
	const struct vg_posture_check *c;
	const char *const dm0[] = { "vda2", NULL };

	fx_text(f, "proc/self/mountinfo", PSEUDO_MOUNTS "26 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/root rw\n");
	fx_blockdev(f, "vda2", "254:2", NULL, NULL);
	fx_blockdev(f, "dm-0", "253:0", "CRYPT-LUKS2-0123456789abcdef0123456789abcdef-root", dm0);
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_PASS);
	assert_string_equal(c->summary, "all 1 block-backed filesystems are on dm-crypt");
	assert_int_equal(json_array_size(json_object_get(c->evidence, "mounts")), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(c->evidence, "mounts"), 0), "decided_by")),
			    "dm-0");
}

static void test_disk_lvm_on_luks(void **state)
{
	struct fx *f = *state;
	const char *const lv[] = { "dm-0", NULL }, *const pv[] = { "sda3", NULL };
	const struct vg_posture_check *c;

	fx_text(f, "proc/self/mountinfo",
		PSEUDO_MOUNTS "26 1 253:1 / / rw - xfs /dev/mapper/vg0-root rw\n"
			      "30 26 253:2 / /home rw - xfs /dev/mapper/vg0-home rw\n");
	fx_blockdev(f, "sda3", "8:3", NULL, NULL);
	fx_blockdev(f, "dm-0", "253:0", "CRYPT-LUKS1-feedfacefeedfacefeedfacefeedface-luks-pv", pv);
	fx_blockdev(f, "dm-1", "253:1", "LVM-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV", lv);
	fx_blockdev(f, "dm-2", "253:2", "LVM-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUW", lv);
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_PASS);
	assert_string_equal(c->summary, "all 2 block-backed filesystems are on dm-crypt");
}

static void test_disk_plain_root(void **state)
{
	struct fx *f = *state;
	const struct vg_posture_check *c;

	fx_text(f, "proc/self/mountinfo", PSEUDO_MOUNTS "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n");
	fx_blockdev(f, "vda", "254:0", NULL, none); /* a whole disk has an empty slaves/ */
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_string_equal(c->summary, "/ (ext4 on vda) is not on dm-crypt");
}

static void test_disk_encrypted_root_plain_var(void **state)
{
	struct fx *f = *state;
	const char *const dm0[] = { "nvme0n1p2", NULL };
	const struct vg_posture_check *c;
	json_t *m;

	fx_text(f, "proc/self/mountinfo",
		PSEUDO_MOUNTS "26 1 253:0 / / rw - ext4 /dev/mapper/root rw\n"
			      "31 26 259:3 / /var rw - ext4 /dev/nvme0n1p3 rw\n"
			      "32 26 259:1 / /boot rw - ext4 /dev/nvme0n1p1 rw\n");
	fx_blockdev(f, "nvme0n1p1", "259:1", NULL, NULL);
	fx_blockdev(f, "nvme0n1p2", "259:2", NULL, NULL);
	fx_blockdev(f, "nvme0n1p3", "259:3", NULL, NULL);
	fx_blockdev(f, "dm-0", "253:0", "CRYPT-PLAIN-root", dm0);
	char *exempt[] = { "/boot", "/boot/efi" };
	f->o.exempt = exempt;
	f->o.nexempt = 2;
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_string_equal(c->summary, "/var (ext4 on nvme0n1p3) is not on dm-crypt");
	m = json_object_get(c->evidence, "exempt");
	assert_int_equal(json_array_size(m), 1);
	assert_string_equal(json_string_value(json_array_get(m, 0)), "/boot");
	/* without the exemption, /boot counts too */
	f->o.nexempt = 0;
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_non_null(strstr(c->summary, "(and others)"));
}

static void test_disk_layers_that_do_not_encrypt(void **state)
{
	struct fx *f = *state;
	const char *const v[] = { "sda2", NULL }, *const lv[] = { "dm-1", "dm-2", NULL };
	const char *const crypt_pv[] = { "sdb1", NULL }, *const plain_pv[] = { "sdc1", NULL };
	const struct vg_posture_check *c;

	/* dm-verity names itself CRYPT-VERITY-: integrity, not encryption */
	fx_text(f, "proc/self/mountinfo", PSEUDO_MOUNTS "26 1 253:0 / / ro - erofs /dev/mapper/usr rw\n");
	fx_blockdev(f, "sda2", "8:2", NULL, NULL);
	fx_blockdev(f, "dm-0", "253:0", "CRYPT-VERITY-00112233445566778899aabbccddeeff-usr", v);
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_string_equal(c->summary, "/ (erofs on sda2) is not on dm-crypt");

	/* a volume group over one encrypted and one plain PV is not encrypted */
	fx_text(f, "proc/self/mountinfo", PSEUDO_MOUNTS "26 1 253:3 / / rw - ext4 /dev/mapper/vg-root rw\n");
	fx_blockdev(f, "sdb1", "8:17", NULL, NULL);
	fx_blockdev(f, "sdc1", "8:33", NULL, NULL);
	fx_blockdev(f, "dm-1", "253:1", "CRYPT-LUKS2-aa-pv1", crypt_pv);
	fx_blockdev(f, "dm-2", "253:2", "LVM-plainpv", plain_pv);
	fx_blockdev(f, "dm-3", "253:3", "LVM-root", lv);
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_string_equal(c->summary, "/ (ext4 on sdc1) is not on dm-crypt");
}

static void test_disk_btrfs_and_loop(void **state)
{
	struct fx *f = *state;
	const char *const dm0[] = { "vda2", NULL };
	const struct vg_posture_check *c;

	/* btrfs reports an anonymous 0:N device; its source names the disk */
	fx_text(f, "proc/self/mountinfo",
		PSEUDO_MOUNTS "26 1 0:35 /@ / rw - btrfs /dev/mapper/cryptroot rw,subvol=/@\n"
			      "40 26 7:0 / /snap/core/1 ro - squashfs /dev/loop0 ro\n");
	fx_link(f, "dev/mapper/cryptroot", "../dm-0");
	fx_blockdev(f, "vda2", "254:2", NULL, NULL);
	fx_blockdev(f, "dm-0", "253:0", "CRYPT-LUKS2-bb-cryptroot", dm0);
	fx_blockdev(f, "loop0", "7:0", NULL, none);
	fx_text(f, "sys/class/block/loop0/loop/backing_file", "/var/lib/snapd/snaps/core_1.snap\n");
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_PASS);
	assert_string_equal(c->summary, "all 2 block-backed filesystems are on dm-crypt");

	/* /dev/mapper/NAME without udev's link: found by dm/name */
	fx_text(f, "proc/self/mountinfo", PSEUDO_MOUNTS "26 1 0:35 /@ / rw - btrfs /dev/mapper/other rw\n");
	fx_text(f, "sys/class/block/dm-0/dm/name", "other\n");
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_PASS);
}

static void test_disk_swap(void **state)
{
	struct fx *f = *state;
	const char *const dm0[] = { "vda2", NULL }, *const dm1[] = { "vda3", NULL };
	const struct vg_posture_check *c;
	char *exempt[] = { "/dev/vda4" };

	fx_text(f, "proc/self/mountinfo", PSEUDO_MOUNTS "26 1 253:0 / / rw - ext4 /dev/mapper/root rw\n");
	fx_blockdev(f, "vda2", "254:2", NULL, NULL);
	fx_blockdev(f, "vda3", "254:3", NULL, NULL);
	fx_blockdev(f, "vda4", "254:4", NULL, NULL);
	fx_blockdev(f, "zram0", "252:0", NULL, none);
	fx_blockdev(f, "dm-0", "253:0", "CRYPT-LUKS2-cc-root", dm0);
	fx_blockdev(f, "dm-1", "253:1", "CRYPT-PLAIN-swap", dm1);
	fx_link(f, "dev/mapper/swap", "../dm-1");
	/* encrypted swap partition, a swap file on the encrypted root, zram: all fine */
	fx_text(f, "proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
				 "/dev/dm-1                               partition\t8388604\t\t0\t\t-2\n"
				 "/swap\\040file                          file\t\t1048572\t\t0\t\t-3\n"
				 "/dev/zram0                              partition\t4194300\t\t0\t\t100\n");
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_PASS);
	assert_string_equal(c->summary, "all 1 block-backed filesystems and swap areas are on dm-crypt");
	assert_int_equal(json_array_size(json_object_get(c->evidence, "swap")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(c->evidence, "swap"), 1),
							       "mount")),
			    "/swap file");

	/* a plain swap partition fails the check, unless exempted */
	fx_text(f, "proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n/dev/vda4 partition 100 0 -2\n");
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_string_equal(c->summary, "/dev/vda4 (swap on vda4) is not on dm-crypt");
	f->o.exempt = exempt;
	f->o.nexempt = 1;
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_PASS);
	assert_string_equal(c->summary, "all 1 block-backed filesystems are on dm-crypt");
}

static void test_disk_unknown(void **state)
{
	struct fx *f = *state;
	const struct vg_posture_check *c;

	c = run(f, VG_CHECK_DISK_ENCRYPTION); /* no mountinfo at all */
	assert_int_equal(c->result, VG_POSTURE_UNKNOWN);
	fx_text(f, "proc/self/mountinfo", PSEUDO_MOUNTS "25 1 0:40 / / rw - overlay overlay rw\n");
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_UNKNOWN);
	assert_string_equal(c->summary, "no block-backed filesystem is mounted");
	/* a block device sysfs does not know */
	fx_text(f, "proc/self/mountinfo", PSEUDO_MOUNTS "26 1 8:1 / / rw - ext4 /dev/sda1 rw\n");
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_UNKNOWN);
	/* garbage instead of mountinfo */
	fx_text(f, "proc/self/mountinfo", "not a mountinfo line\n\x01\x02 - -\n");
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_UNKNOWN);
}

static void test_disk_escaped_mount_point(void **state)
{
	struct fx *f = *state;
	const struct vg_posture_check *c;
	char *exempt[] = { "/mnt/my disk" };

	fx_text(f, "proc/self/mountinfo",
		PSEUDO_MOUNTS "26 1 254:1 / /mnt/my\\040disk rw - vfat /dev/vdb1 rw\n");
	fx_blockdev(f, "vdb1", "254:1", NULL, NULL);
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_string_equal(c->summary, "/mnt/my disk (vfat on vdb1) is not on dm-crypt");
	f->o.exempt = exempt;
	f->o.nexempt = 1;
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_UNKNOWN); /* nothing left to judge */
}

/* ---- edr ---------------------------------------------------------------- */

static void fx_proc(struct fx *f, int pid, const char *exe_target, unsigned uid, const char *cgroup)
{
	char rel[64], text[256];

	snprintf(rel, sizeof(rel), "proc/%d/exe", pid);
	fx_link(f, rel, exe_target);
	snprintf(rel, sizeof(rel), "proc/%d/status", pid);
	snprintf(text, sizeof(text), "Name:\tagent\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t%u\t%u\t%u\t%u\nGid:\t0\t0\t0\t0\n",
		 uid, uid, uid, uid);
	fx_text(f, rel, text);
	snprintf(rel, sizeof(rel), "proc/%d/cgroup", pid);
	snprintf(text, sizeof(text), "0::%s\n", cgroup);
	fx_text(f, rel, text);
}

static void fx_edr_binary(struct fx *f, const char *rel, mode_t mode)
{
	char path[PATH_MAX];

	fx_text(f, rel, "#!/bin/sh\n");
	fx_path(f, path, "%s", rel);
	assert_int_equal(chmod(path, mode), 0);
}

static char *edr_agents[] = { "/opt/edr/bin/agentd", "/usr/sbin/falcond" };

static bool need_root(void)
{
	/* the collector insists the agent's binary is owned by root, as on a real host */
	return geteuid() == 0;
}

static void test_edr_running(void **state)
{
	struct fx *f = *state;
	const struct vg_posture_check *c;

	if (!need_root())
		skip();
	f->o.agents = edr_agents;
	f->o.nagents = 2;
	fx_edr_binary(f, "opt/edr/bin/agentd", 0755);
	fx_proc(f, 1, "@sbin/init", 0, "/init.scope");
	fx_text(f, "sbin/init", "");
	fx_proc(f, 812, "@opt/edr/bin/agentd", 0, "/system.slice/edr-agent.service");
	c = run(f, VG_CHECK_EDR);
	assert_int_equal(c->result, VG_POSTURE_PASS);
	assert_string_equal(c->summary, "/opt/edr/bin/agentd is running as pid 812");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c->evidence, "running"), "pid")), 812);

	/* with a unit configured, the process must run in that unit's cgroup */
	f->o.units = "/opt/edr/bin/agentd=edr-agent.service";
	c = run(f, VG_CHECK_EDR);
	assert_int_equal(c->result, VG_POSTURE_PASS);
	assert_string_equal(json_string_value(json_object_get(json_object_get(c->evidence, "running"), "unit")),
			    "edr-agent.service");
	f->o.units = "/opt/edr/bin/agentd=edr.service";
	c = run(f, VG_CHECK_EDR);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_non_null(strstr(c->summary, "not running in systemd unit edr.service (cgroup /system.slice/edr-agent.service)"));
}

static void test_edr_missing_and_impostor(void **state)
{
	struct fx *f = *state;
	const struct vg_posture_check *c;

	f->o.agents = edr_agents;
	f->o.nagents = 2;
	fx_edr_binary(f, "opt/edr/bin/agentd", 0755);
	fx_proc(f, 1, "@sbin/init", 0, "/init.scope");
	fx_text(f, "sbin/init", "");
	c = run(f, VG_CHECK_EDR);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_string_equal(c->summary, "none of the 2 configured EDR agents is running");

	/* same name, running from /tmp */
	fx_edr_binary(f, "tmp/agentd", 0755);
	fx_proc(f, 4242, "@tmp/agentd", 0, "/user.slice");
	c = run(f, VG_CHECK_EDR);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_string_equal(c->summary, "none of the 2 configured EDR agents is running; rejected pid 4242: "
					"named like /opt/edr/bin/agentd but runs /tmp/agentd");
	assert_int_equal(json_array_size(json_object_get(c->evidence, "rejected")), 1);
}

static void test_edr_rejections(void **state)
{
	struct fx *f = *state;
	const struct vg_posture_check *c;
	char path[PATH_MAX];

	f->o.agents = edr_agents;
	f->o.nagents = 1;
	fx_edr_binary(f, "opt/edr/bin/agentd", 0757);
	fx_proc(f, 900, "@opt/edr/bin/agentd", 0, "/system.slice/edr.service");
	c = run(f, VG_CHECK_EDR);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_non_null(strstr(c->summary, "/opt/edr/bin/agentd is writable by others (mode 0757)"));

	fx_path(f, path, "opt/edr/bin/agentd");
	assert_int_equal(chmod(path, 0755), 0);
	fx_path(f, path, "proc/900");
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	fx_proc(f, 900, "@opt/edr/bin/agentd", 1000, "/user.slice");
	c = run(f, VG_CHECK_EDR);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_non_null(strstr(c->summary, "runs as uid 1000 (effective 1000), not root"));

	/* the kernel marks an executable removed or replaced since exec with " (deleted)" */
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	fx_proc(f, 900, "@opt/edr/bin/agentd (deleted)", 0, "/system.slice/edr.service");
	c = run(f, VG_CHECK_EDR);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_non_null(strstr(c->summary, "deleted or replaced"));

	if (need_root()) {
		nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		fx_proc(f, 900, "@opt/edr/bin/agentd", 0, "/system.slice/edr.service");
		fx_path(f, path, "opt/edr/bin/agentd");
		assert_int_equal(chown(path, 1000, 0), 0);
		c = run(f, VG_CHECK_EDR);
		assert_int_equal(c->result, VG_POSTURE_FAIL);
		assert_non_null(strstr(c->summary, "is owned by uid 1000, not root"));
	}
}

static void test_edr_unconfigured(void **state)
{
	struct fx *f = *state;
	const struct vg_posture_check *c;

	c = run(f, VG_CHECK_EDR);
	assert_int_equal(c->result, VG_POSTURE_UNKNOWN);
	f->o.agents = edr_agents;
	f->o.nagents = 1;
	c = run(f, VG_CHECK_EDR); /* no proc below the root */
	assert_int_equal(c->result, VG_POSTURE_UNKNOWN);
}

static void test_units_validate(void **state)
{
	struct vg_err err;

	assert_int_equal(vg_posture_units_validate("", &err), 0);
	assert_int_equal(vg_posture_units_validate("/opt/a=a.service,/usr/bin/b=b@x.service", &err), 0);
	assert_int_equal(vg_posture_units_validate("opt/a=a.service", &err), -EINVAL);
	assert_string_equal(err.path, "posture_edr_units");
	assert_int_equal(vg_posture_units_validate("/opt/a", &err), -EINVAL);
	assert_int_equal(vg_posture_units_validate("/opt/a=", &err), -EINVAL);
	assert_int_equal(vg_posture_units_validate("/opt/a=a b.service", &err), -EINVAL);
}

/* ---- patch_age ---------------------------------------------------------- */

static void fx_dpkg_log(struct fx *f, const char *rel, time_t t, const char *action)
{
	char line[512], when[32];
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(line, sizeof(line),
		 "%s startup archives unpack\n%s %s libssl3:amd64 3.0.15-1~deb12u1 3.0.17-1~deb12u2\n"
		 "%s status installed libssl3:amd64 3.0.17-1~deb12u2\n",
		 when, when, action, when);
	fx_text(f, rel, line);
}

static void test_patch_dpkg_fresh_and_stale(void **state)
{
	struct fx *f = *state;
	const struct vg_posture_check *c;

	fx_text(f, "var/lib/dpkg/status", "Package: dpkg\nStatus: install ok installed\n");
	fx_dpkg_log(f, "var/log/dpkg.log", NOW - 3 * DAY, "upgrade");
	c = run(f, VG_CHECK_PATCH_AGE);
	assert_int_equal(c->result, VG_POSTURE_PASS);
	assert_int_equal(f->p.last_upgrade, NOW - 3 * DAY);
	assert_int_equal(json_integer_value(json_object_get(c->evidence, "age_days")), 3);
	assert_string_equal(c->summary, "last package upgrade 2026-11-20T09:00:00Z, 3 days ago (maximum 30)");

	fx_dpkg_log(f, "var/log/dpkg.log", NOW - 45 * DAY, "upgrade");
	c = run(f, VG_CHECK_PATCH_AGE);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_int_equal(json_integer_value(json_object_get(c->evidence, "age_days")), 45);
	f->o.patch_max_age_days = 60;
	c = run(f, VG_CHECK_PATCH_AGE);
	assert_int_equal(c->result, VG_POSTURE_PASS);

	/* the newest upgrade may sit in the rotated log */
	f->o.patch_max_age_days = 0;
	fx_dpkg_log(f, "var/log/dpkg.log", NOW - 2 * DAY, "install");
	fx_dpkg_log(f, "var/log/dpkg.log.1", NOW - 10 * DAY, "upgrade");
	c = run(f, VG_CHECK_PATCH_AGE);
	assert_int_equal(c->result, VG_POSTURE_PASS);
	assert_int_equal(f->p.last_upgrade, NOW - 10 * DAY);
}

static void test_patch_apt_history_and_stamp(void **state)
{
	struct fx *f = *state;
	const struct vg_posture_check *c;
	struct timespec ts[2] = { { NOW - 1 * DAY, 0 }, { NOW - 1 * DAY, 0 } };
	char path[PATH_MAX];

	fx_text(f, "var/lib/dpkg/status", "");
	fx_text(f, "var/log/dpkg.log", "2026-10-01 10:00:00 install htop:amd64 <none> 3.2.2-2\n");
	c = run(f, VG_CHECK_PATCH_AGE);
	assert_int_equal(c->result, VG_POSTURE_UNKNOWN); /* installs are not upgrades */
	assert_string_equal(c->summary, "no package upgrade is recorded in the dpkg/apt logs");

	fx_text(f, "var/log/apt/history.log",
		"\nStart-Date: 2026-11-13  08:00:00\nCommandline: apt-get install htop\nInstall: htop:amd64 (3.2.2-2)\n"
		"End-Date: 2026-11-13  08:00:05\n\n"
		"Start-Date: 2026-11-09  09:00:00\nCommandline: apt-get upgrade\n"
		"Upgrade: libc6:amd64 (2.36-9+deb12u9, 2.36-9+deb12u10)\nEnd-Date: 2026-11-09  09:01:00\n");
	c = run(f, VG_CHECK_PATCH_AGE);
	assert_int_equal(c->result, VG_POSTURE_PASS);
	assert_int_equal(json_integer_value(json_object_get(c->evidence, "age_days")), 14);

	fx_text(f, "var/lib/apt/periodic/upgrade-stamp", "");
	fx_path(f, path, "var/lib/apt/periodic/upgrade-stamp");
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	c = run(f, VG_CHECK_PATCH_AGE);
	assert_int_equal(f->p.last_upgrade, NOW - 1 * DAY);
	assert_int_equal(json_array_size(json_object_get(c->evidence, "sources")), 3);
}

static void test_patch_rpm_and_none(void **state)
{
	struct fx *f = *state;
	const struct vg_posture_check *c;

	c = run(f, VG_CHECK_PATCH_AGE);
	assert_int_equal(c->result, VG_POSTURE_UNKNOWN);
	assert_non_null(strstr(c->summary, "no dpkg or rpm database"));

	fx_dir(f, "var/lib/rpm");
	c = run(f, VG_CHECK_PATCH_AGE);
	assert_int_equal(c->result, VG_POSTURE_UNKNOWN);
	fx_text(f, "var/log/dnf.rpm.log",
		"2026-11-21T11:00:00+0200 SUBDEBUG Upgrade: bash-5.1.8-9.el9.x86_64\n"
		"2026-11-21T11:00:00+0200 SUBDEBUG Upgraded: bash-5.1.8-6.el9.x86_64\n"
		"2026-11-22T09:00:00Z INFO --- logging initialized ---\n");
	c = run(f, VG_CHECK_PATCH_AGE);
	assert_int_equal(c->result, VG_POSTURE_PASS);
	assert_int_equal(f->p.last_upgrade, NOW - 2 * DAY);
	assert_string_equal(json_string_value(json_object_get(c->evidence, "package_manager")), "rpm");
}

static void test_patch_pending_security(void **state)
{
	struct fx *f = *state;
	const struct vg_posture_check *c;

	fx_text(f, "var/lib/dpkg/status", "");
	fx_dpkg_log(f, "var/log/dpkg.log", NOW - 5 * DAY, "upgrade");
	c = run(f, VG_CHECK_PATCH_AGE);
	assert_true(json_is_null(json_object_get(c->evidence, "pending_security_updates")));
	fx_text(f, "var/lib/update-notifier/updates-available",
		"\n12 updates can be applied immediately.\n4 of these updates are standard security updates.\n"
		"To see these additional updates run: apt list --upgradable\n");
	c = run(f, VG_CHECK_PATCH_AGE);
	assert_int_equal(json_integer_value(json_object_get(c->evidence, "pending_security_updates")), 4);
	assert_non_null(strstr(c->summary, "security updates are pending"));
}

static void test_patch_line_parsers(void **state)
{
	struct fx *f = *state;
	time_t t = 0, start = 0;
	char big[3000];

	assert_int_equal(vg_posture_dpkg_line("2026-11-23 09:00:00 upgrade a:amd64 1 2", &t), 1);
	assert_int_equal(t, NOW);
	assert_int_equal(vg_posture_dpkg_line("2026-11-23 09:00:00 install a:amd64 <none> 2", &t), 0);
	assert_int_equal(vg_posture_dpkg_line("2026-13-23 09:00:00 upgrade a:amd64 1 2", &t), 0);
	assert_int_equal(vg_posture_dpkg_line("2026-11-23 9:00:00 upgrade a 1 2", &t), 0);
	assert_int_equal(vg_posture_dpkg_line("2026-11-23", &t), 0);
	assert_int_equal(vg_posture_dpkg_line("", &t), 0);
	assert_int_equal(vg_posture_dpkg_line("+026-11-23 09:00:00 upgrade a 1 2", &t), 0);

	assert_int_equal(vg_posture_apt_history_line("Upgrade: a (1, 2)", &start, &t), 0); /* no run open */
	assert_int_equal(vg_posture_apt_history_line("Start-Date: 2026-11-23  09:00:00", &start, &t), 0);
	assert_int_equal(start, NOW);
	assert_int_equal(vg_posture_apt_history_line("Upgrade: a (1, 2)", &start, &t), 1);
	assert_int_equal(t, NOW);
	assert_int_equal(vg_posture_apt_history_line("Start-Date: garbage", &start, &t), 0);
	assert_int_equal(vg_posture_apt_history_line("Upgrade: a (1, 2)", &start, &t), 0);

	assert_int_equal(vg_posture_dnf_line("2026-11-23T09:00:00Z SUBDEBUG Upgrade: a-1", &t), 1);
	assert_int_equal(t, NOW);
	assert_int_equal(vg_posture_dnf_line("2026-11-23T10:30:00+01:30 SUBDEBUG Upgrade: a-1", &t), 1);
	assert_int_equal(t, NOW);
	assert_int_equal(vg_posture_dnf_line("2026-11-23T04:00:00-0500 SUBDEBUG Upgrade: a-1", &t), 1);
	assert_int_equal(t, NOW);
	assert_int_equal(vg_posture_dnf_line("2026-11-23T09:00:00Z SUBDEBUG Upgraded: a-0", &t), 0);
	assert_int_equal(vg_posture_dnf_line("2026-11-23T09:00:00+0x00 SUBDEBUG Upgrade: a", &t), 0);
	assert_int_equal(vg_posture_dnf_line("2026-11-23T09:00:00", &t), 0);

	/* an overlong line is skipped whole; the collector reads the next one */
	memset(big, 'x', sizeof(big) - 2);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	fx_text(f, "var/lib/dpkg/status", "");
	fx_text(f, "var/log/dpkg.log", big);
	{
		char path[PATH_MAX];
		FILE *fp;

		fx_path(f, path, "var/log/dpkg.log");
		fp = fopen(path, "a");
		assert_non_null(fp);
		fputs("2026-11-22 09:00:00 upgrade a:amd64 1 2\n", fp);
		fclose(fp);
	}
	run(f, VG_CHECK_PATCH_AGE);
	assert_int_equal(f->p.last_upgrade, NOW - DAY);
}

/* ---- secure_boot, lockdown, taint --------------------------------------- */

#define SB_VAR "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"

static void test_secure_boot(void **state)
{
	struct fx *f = *state;
	const struct vg_posture_check *c;
	const uint8_t on[] = { 6, 0, 0, 0, 1 }, off[] = { 6, 0, 0, 0, 0 }, bad[] = { 6, 0, 0 };

	c = run(f, VG_CHECK_SECURE_BOOT);
	assert_int_equal(c->result, VG_POSTURE_UNKNOWN);
	assert_true(json_is_false(json_object_get(c->evidence, "efi")));

	fx_dir(f, "sys/firmware/efi/efivars");
	c = run(f, VG_CHECK_SECURE_BOOT);
	assert_int_equal(c->result, VG_POSTURE_UNKNOWN); /* efivarfs not mounted */

	fx_text(f, "sys/firmware/efi/efivars/BootOrder-8be4df61-93ca-11d2-aa0d-00e098032b8c", "\x07\0\0\0\x01\0");
	c = run(f, VG_CHECK_SECURE_BOOT);
	assert_int_equal(c->result, VG_POSTURE_FAIL);

	fx_write(f, SB_VAR, on, sizeof(on));
	c = run(f, VG_CHECK_SECURE_BOOT);
	assert_int_equal(c->result, VG_POSTURE_PASS);
	assert_string_equal(c->summary, "Secure Boot is enabled");

	fx_write(f, SB_VAR, off, sizeof(off));
	c = run(f, VG_CHECK_SECURE_BOOT);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_string_equal(c->summary, "Secure Boot is disabled (SecureBoot=0)");

	fx_write(f, SB_VAR, bad, sizeof(bad));
	c = run(f, VG_CHECK_SECURE_BOOT);
	assert_int_equal(c->result, VG_POSTURE_UNKNOWN);
}

static void test_lockdown_and_taint(void **state)
{
	struct fx *f = *state;
	const struct vg_posture_check *c;

	c = run(f, VG_CHECK_KERNEL_LOCKDOWN);
	assert_int_equal(c->result, VG_POSTURE_UNKNOWN);
	fx_text(f, "sys/kernel/security/lockdown", "none [integrity] confidentiality\n");
	c = run(f, VG_CHECK_KERNEL_LOCKDOWN);
	assert_int_equal(c->result, VG_POSTURE_PASS);
	assert_string_equal(c->summary, "kernel lockdown: integrity");
	fx_text(f, "sys/kernel/security/lockdown", "[none] integrity confidentiality\n");
	c = run(f, VG_CHECK_KERNEL_LOCKDOWN);
	assert_int_equal(c->result, VG_POSTURE_FAIL);

	c = run(f, VG_CHECK_KERNEL_TAINT);
	assert_int_equal(c->result, VG_POSTURE_UNKNOWN);
	fx_text(f, "proc/sys/kernel/tainted", "0\n");
	c = run(f, VG_CHECK_KERNEL_TAINT);
	assert_int_equal(c->result, VG_POSTURE_PASS);
	fx_text(f, "proc/sys/kernel/tainted", "12289\n"); /* P + O + E */
	c = run(f, VG_CHECK_KERNEL_TAINT);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_string_equal(json_string_value(json_object_get(c->evidence, "flags")), "POE");
	fx_text(f, "proc/sys/kernel/tainted", "12abc\n");
	c = run(f, VG_CHECK_KERNEL_TAINT);
	assert_int_equal(c->result, VG_POSTURE_UNKNOWN);
}

/* Names from the host may be any bytes; evidence, summaries and the report stay valid JSON. */
static void test_non_utf8_names(void **state)
{
	struct fx *f = *state;
	const struct vg_posture_check *c;
	struct vg_posture_verdict v;
	char mi[2048], *dump;
	json_t *rep;

	/* a mount point with an invalid byte, and a long multibyte one cut inside a character */
	snprintf(mi, sizeof(mi), PSEUDO_MOUNTS "26 1 254:1 / /mnt/\\377x rw - ext4 /dev/vdb1 rw\n"
					   "27 1 254:1 / /mnt/%s rw - ext4 /dev/vdb1 rw\n",
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	fx_text(f, "proc/self/mountinfo", mi);
	fx_blockdev(f, "vdb1", "254:1", NULL, NULL);
	c = run(f, VG_CHECK_DISK_ENCRYPTION);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_string_equal(c->summary, "/mnt/?x (ext4 on vdb1) is not on dm-crypt (and others)");
	assert_int_equal(json_array_size(json_object_get(c->evidence, "mounts")), 2);

	/* an impostor in a directory whose name is not UTF-8 */
	f->o.agents = edr_agents;
	f->o.nagents = 1;
	fx_edr_binary(f, "tmp/\xff\xfe/agentd", 0755);
	fx_proc(f, 77, "@tmp/\xff\xfe/agentd", 0, "/user.slice");
	c = run(f, VG_CHECK_EDR);
	assert_int_equal(c->result, VG_POSTURE_FAIL);
	assert_non_null(strstr(c->summary, "but runs /tmp/?" "?/agentd"));
	assert_int_equal(json_array_size(json_object_get(c->evidence, "rejected")), 1);

	vg_posture_evaluate(&f->p, &(struct vg_posture_req){ .present = true, .edr = true, .disk_encryption = true,
							     .max_age_s = 300 },
			    NOW, &v);
	rep = vg_posture_report(&f->p, NULL, &v, NOW);
	assert_non_null(rep);
	assert_non_null(json_object_get(json_object_get(rep, "checks"), "edr"));
	assert_non_null(json_object_get(json_object_get(rep, "checks"), "disk_encryption"));
	dump = json_dumps(rep, 0);
	assert_non_null(dump);
	free(dump);
	json_decref(rep);
}

/* ---- evaluation --------------------------------------------------------- */

static void set_check(struct vg_posture *p, enum vg_posture_check_id id, enum vg_posture_result r, time_t at)
{
	p->check[id].result = r;
	p->check[id].observed_at = at;
	snprintf(p->check[id].summary, sizeof(p->check[id].summary), "%s is %s", vg_posture_check_name(id),
		 vg_posture_result_name(r));
}

static void all_pass(struct vg_posture *p, time_t at)
{
	memset(p, 0, sizeof(*p));
	for (int id = 0; id < VG_CHECK__COUNT; id++)
		set_check(p, (enum vg_posture_check_id)id, VG_POSTURE_PASS, at);
	p->last_upgrade = at - 2 * DAY;
}

static const struct vg_posture_req prod = { .present = true, .edr = true, .disk_encryption = true,
					    .secure_boot = true, .patch_max_age_days = 30, .max_age_s = 300,
					    .unknown_as = VG_UNKNOWN_FAIL };
static const struct vg_posture_req dev = { .present = true, .max_age_s = 3600, .unknown_as = VG_UNKNOWN_PASS };

static void test_evaluate_pass_fail(void **state)
{
	struct vg_posture p;
	struct vg_posture_verdict v;

	all_pass(&p, NOW - 10);
	vg_posture_evaluate(&p, &prod, NOW, &v);
	assert_true(v.pass);
	assert_int_equal(v.nreasons, 0);

	set_check(&p, VG_CHECK_DISK_ENCRYPTION, VG_POSTURE_FAIL, NOW - 10);
	set_check(&p, VG_CHECK_KERNEL_TAINT, VG_POSTURE_FAIL, NOW - 10); /* informational */
	vg_posture_evaluate(&p, &prod, NOW, &v);
	assert_false(v.pass);
	assert_int_equal(v.nreasons, 1);
	assert_int_equal(v.reasons[0].check, VG_CHECK_DISK_ENCRYPTION);
	assert_string_equal(v.reasons[0].code, "fail");
	assert_string_equal(v.reasons[0].msg, "disk_encryption: disk_encryption is fail");

	/* dev requires nothing */
	vg_posture_evaluate(&p, &dev, NOW, &v);
	assert_true(v.pass);
}

static void test_evaluate_unknown_per_environment(void **state)
{
	struct vg_posture p;
	struct vg_posture_verdict v;
	struct vg_posture_req stage = prod;

	all_pass(&p, NOW - 10);
	set_check(&p, VG_CHECK_SECURE_BOOT, VG_POSTURE_UNKNOWN, NOW - 10); /* non-EFI host */
	vg_posture_evaluate(&p, &prod, NOW, &v);
	assert_false(v.pass);
	assert_string_equal(v.reasons[0].code, "unknown");
	assert_int_equal(v.reasons[0].check, VG_CHECK_SECURE_BOOT);

	stage.unknown_as = VG_UNKNOWN_PASS;
	vg_posture_evaluate(&p, &stage, NOW, &v);
	assert_true(v.pass);
	stage.unknown_as = VG_UNKNOWN_FAIL;
	stage.secure_boot = false;
	vg_posture_evaluate(&p, &stage, NOW, &v);
	assert_true(v.pass);
}

static void test_evaluate_staleness(void **state)
{
	struct vg_posture p;
	struct vg_posture_verdict v;
	struct vg_posture_req req = prod;

	all_pass(&p, NOW - 300);
	vg_posture_evaluate(&p, &req, NOW, &v);
	assert_true(v.pass); /* exactly max_age old is still fresh */
	vg_posture_evaluate(&p, &req, NOW + 1, &v);
	assert_false(v.pass);
	assert_true(v.stale);
	assert_int_equal(v.nreasons, 4); /* every required check */
	assert_string_equal(v.reasons[0].code, "stale");
	req.max_age_s = 900;
	vg_posture_evaluate(&p, &req, NOW + 1, &v);
	assert_true(v.pass);
	/* never observed */
	memset(&p, 0, sizeof(p));
	vg_posture_evaluate(&p, &req, NOW, &v);
	assert_false(v.pass);
	assert_true(v.stale);
	/* results from the future (clock went back) are not trusted either */
	all_pass(&p, NOW + 3600);
	vg_posture_evaluate(&p, &req, NOW, &v);
	assert_false(v.pass);
}

static void test_evaluate_patch_age_grows(void **state)
{
	struct vg_posture p;
	struct vg_posture_verdict v;
	struct vg_posture_req req = prod;

	all_pass(&p, NOW - 10);
	p.last_upgrade = NOW - 31 * DAY;
	vg_posture_evaluate(&p, &req, NOW, &v);
	assert_false(v.pass);
	assert_int_equal(v.reasons[0].check, VG_CHECK_PATCH_AGE);
	assert_string_equal(v.reasons[0].msg,
			    "patch_age: last package upgrade 2026-10-23T09:00:00Z, 31 days ago (maximum 30)");
	req.patch_max_age_days = 45;
	vg_posture_evaluate(&p, &req, NOW, &v);
	assert_true(v.pass);
	req.patch_max_age_days = 0; /* not required */
	set_check(&p, VG_CHECK_PATCH_AGE, VG_POSTURE_FAIL, NOW - 10);
	vg_posture_evaluate(&p, &req, NOW, &v);
	assert_true(v.pass);
}

static void test_evaluate_without_requirements(void **state)
{
	struct vg_posture p;
	struct vg_posture_verdict v;
	struct vg_posture_req absent = { 0 };

	all_pass(&p, NOW);
	vg_posture_evaluate(&p, NULL, NOW, &v);
	assert_false(v.pass);
	assert_string_equal(v.reasons[0].code, "no_policy");
	vg_posture_evaluate(&p, &absent, NOW, &v);
	assert_false(v.pass);
	assert_string_equal(v.reasons[0].code, "no_requirements");
}

static void test_report_shape(void **state)
{
	struct vg_posture p;
	struct vg_posture_verdict v;
	json_t *rep, *checks, *edr;

	all_pass(&p, NOW - 20);
	set_check(&p, VG_CHECK_EDR, VG_POSTURE_FAIL, NOW - 20);
	vg_posture_evaluate(&p, &prod, NOW, &v);
	rep = vg_posture_report(&p, &prod, &v, NOW);
	assert_non_null(rep);
	assert_string_equal(json_string_value(json_object_get(rep, "verdict")), "fail");
	assert_string_equal(json_string_value(json_object_get(rep, "evaluated_at")), "2026-11-23T09:00:00Z");
	assert_int_equal(json_array_size(json_object_get(rep, "reasons")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(rep, "reasons"), 0), "check")),
			    "edr");
	checks = json_object_get(rep, "checks");
	assert_int_equal(json_object_size(checks), VG_CHECK__COUNT);
	edr = json_object_get(checks, "edr");
	assert_string_equal(json_string_value(json_object_get(edr, "result")), "fail");
	assert_true(json_is_true(json_object_get(edr, "required")));
	assert_int_equal(json_integer_value(json_object_get(edr, "age_s")), 20);
	assert_true(json_is_true(json_object_get(json_object_get(checks, "kernel_taint"), "informational")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "requirements"), "max_age")), 300);
	json_decref(rep);

	vg_posture_evaluate(&p, NULL, NOW, &v);
	rep = vg_posture_report(&p, NULL, &v, NOW);
	assert_true(json_is_null(json_object_get(rep, "requirements")));
	assert_true(json_is_null(json_object_get(json_array_get(json_object_get(rep, "reasons"), 0), "check")));
	json_decref(rep);
}

/* The live host: whatever it is, every check gives a well-formed result. */
static void test_live_host_well_formed(void **state)
{
	struct vg_posture_opts o = { .root = "/", .now = time(NULL) };
	struct vg_posture p = { 0 };
	struct vg_posture_verdict v;
	json_t *rep;

	vg_posture_collect(&o, &p);
	for (int id = 0; id < VG_CHECK__COUNT; id++) {
		assert_true(p.check[id].result <= VG_POSTURE_FAIL);
		assert_int_equal(p.check[id].observed_at, o.now);
		assert_true(json_is_object(p.check[id].evidence));
		assert_true(p.check[id].summary[0] != '\0');
	}
	vg_posture_evaluate(&p, &prod, o.now, &v);
	rep = vg_posture_report(&p, &prod, &v, o.now);
	assert_non_null(rep);
	json_decref(rep);
	vg_posture_clear(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_disk_luks_root, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_disk_lvm_on_luks, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_disk_plain_root, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_disk_encrypted_root_plain_var, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_disk_layers_that_do_not_encrypt, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_disk_btrfs_and_loop, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_disk_swap, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_disk_unknown, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_disk_escaped_mount_point, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_edr_running, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_edr_missing_and_impostor, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_edr_rejections, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_edr_unconfigured, fx_setup, fx_teardown),
		cmocka_unit_test(test_units_validate),
		cmocka_unit_test_setup_teardown(test_patch_dpkg_fresh_and_stale, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_patch_apt_history_and_stamp, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_patch_rpm_and_none, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_patch_pending_security, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_patch_line_parsers, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_secure_boot, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_lockdown_and_taint, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_non_utf8_names, fx_setup, fx_teardown),
		cmocka_unit_test(test_evaluate_pass_fail),
		cmocka_unit_test(test_evaluate_unknown_per_environment),
		cmocka_unit_test(test_evaluate_staleness),
		cmocka_unit_test(test_evaluate_patch_age_grows),
		cmocka_unit_test(test_evaluate_without_requirements),
		cmocka_unit_test(test_report_shape),
		cmocka_unit_test(test_live_host_well_formed),
	};

	/* dpkg and apt logs are in local time; pin it so expectations are exact */
	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
