/* SPDX-License-Identifier: Apache-2.0 */
/* The posture collectors' parsers of files a local user may influence: dpkg.log, apt
 * history.log and dnf.rpm.log lines, and whole mountinfo / log files read through the
 * collectors from a scratch root. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vigil/posture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64];

static void put(const char *rel, const uint8_t *data, size_t size)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "we");
	if (!f)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void remove_root(void)
{
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_root(void)
{
	static const char *const dirs[] = { "proc", "proc/self", "var", "var/lib", "var/lib/dpkg", "var/log",
					    "var/log/apt", "sys", "sys/class", "sys/class/block", NULL };
	char path[256];

	snprintf(root, sizeof(root), "/tmp/fuzz-posture.XXXXXX");
	if (!mkdtemp(root))
		abort();
	for (size_t i = 0; dirs[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		mkdir(path, 0755);
	}
	put("var/lib/dpkg/status", (const uint8_t *)"", 0);
	atexit(remove_root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vg_posture_opts o = { .now = 1795424400 };
	struct vg_posture p = { 0 };
	char *buf = malloc(size + 1), *line, *save = NULL;
	time_t t, start = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		(void)vg_posture_dpkg_line(line, &t);
		(void)vg_posture_dnf_line(line, &t);
		(void)vg_posture_apt_history_line(line, &start, &t);
	}
	free(buf);

	if (!root[0])
		make_root();
	o.root = root;
	put("proc/self/mountinfo", data, size);
	put("var/log/dpkg.log", data, size);
	put("var/log/apt/history.log", data, size);
	vg_posture_collect_one(&o, VG_CHECK_DISK_ENCRYPTION, &p);
	vg_posture_collect_one(&o, VG_CHECK_PATCH_AGE, &p);
	vg_posture_clear(&p);
	return 0;
}
