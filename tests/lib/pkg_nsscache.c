/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pkg_nsscache BUNDLE DIR: write the NSS cache files of BUNDLE's identity
 * section into DIR with the writer vigild uses (lib/nsscache_write.c), no
 * signature or scope checks. t_pkg_deb.sh uses it to give the libnss_vigil
 * installed in a chroot something real to resolve without running vigild.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vigil/bundle.h"
#include "vigil/err.h"
#include "vigil/nsscache.h"
#include "vigil/util.h"

static int write_caches(const struct vg_bundle *b, const char *dir, struct vg_err *err)
{
	struct vg_nssc_buf pw = { 0 }, gr = { 0 }, mem = { 0 };
	struct vg_nssc_report rep = { 0 }, mrep = { 0 };
	const char *elev = b->elevation.present ? b->elevation.group : NULL;
	uint32_t elev_gid = b->elevation.present ? b->elevation.gid : 0;
	time_t now = time(NULL);
	int r;

	r = vg_nssc_build_identity(&b->identity, elev, elev_gid, NULL, 1, now, &pw, &gr, &rep, err);
	if (r < 0)
		goto out;
	r = vg_nssc_build_members(elev, elev_gid, NULL, 0, b->identity.gid_min, b->identity.gid_max, 1, now,
				  &mem, &mrep, err);
	if (r < 0)
		goto out;
	if ((r = vg_mkdir_p(dir, 0755)) < 0) {
		r = vg_err_set(err, -r, "mkdir", dir, "cannot create the cache directory");
		goto out;
	}
	if ((r = vg_nssc_buf_write(dir, VG_NSSC_PASSWD_FILE, &pw, err)) < 0 ||
	    (r = vg_nssc_buf_write(dir, VG_NSSC_GROUP_FILE, &gr, err)) < 0 ||
	    (r = vg_nssc_buf_write(dir, VG_NSSC_MEMBERS_FILE, &mem, err)) < 0)
		goto out;
	printf("pkg_nsscache: %zu users, %zu groups, %zu refused\n", rep.nusers, rep.ngroups, rep.nconflicts);
out:
	vg_nssc_buf_free(&pw);
	vg_nssc_buf_free(&gr);
	vg_nssc_buf_free(&mem);
	vg_nssc_report_free(&rep);
	vg_nssc_report_free(&mrep);
	return r;
}

int main(int argc, char **argv)
{
	struct vg_bundle *b = NULL;
	struct vg_err err = { 0 };
	char *buf = NULL, msg[1100];
	size_t len = 0;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: pkg_nsscache BUNDLE.json DIR\n");
		return 2;
	}
	r = vg_read_file(argv[1], 64u << 20, &buf, &len);
	if (r < 0) {
		fprintf(stderr, "pkg_nsscache: %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	r = vg_bundle_parse(buf, len, &b, &err);
	if (r == 0)
		r = write_caches(b, argv[2], &err);
	if (r < 0)
		fprintf(stderr, "pkg_nsscache: %s\n", vg_err_str(&err, msg, sizeof(msg)));
	vg_bundle_free(b);
	free(buf);
	return r < 0 ? 1 : 0;
}
