/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: write the NSS cache files from an (unsigned) bundle, the way
 * vigild's identity module does, without a running vigild.
 *   nss_mkcache --bundle FILE --dir DIR [--local-passwd P --local-group G]
 *               [--grant USER:UID:SECONDS_FROM_NOW]... [--members-only]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/bundle.h"
#include "vigil/nsscache.h"
#include "vigil/util.h"

#define MAX_GRANTS 64

static int die(const char *what, const struct vg_err *err)
{
	char buf[1100];

	fprintf(stderr, "nss_mkcache: %s: %s\n", what, err ? vg_err_str(err, buf, sizeof(buf)) : "");
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bundle", required_argument, NULL, 'b' },	  { "dir", required_argument, NULL, 'd' },
		{ "local-passwd", required_argument, NULL, 'p' }, { "local-group", required_argument, NULL, 'g' },
		{ "grant", required_argument, NULL, 'G' },	  { "members-only", no_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	const char *bundle = NULL, *dir = NULL, *lp = "/etc/passwd", *lg = "/etc/group";
	struct vg_grant grants[MAX_GRANTS];
	struct vg_nssc_buf pw = { 0 }, gr = { 0 }, mb = { 0 };
	struct vg_nssc_report rep = { 0 };
	struct vg_nssc_local *local = NULL;
	struct vg_bundle *b = NULL;
	struct vg_err err = { 0 };
	bool members_only = false;
	size_t ngrants = 0, len;
	char *text = NULL;
	int c, rc = 1;

	memset(grants, 0, sizeof(grants));
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *p1, *p2;

		switch (c) {
		case 'b': bundle = optarg; break;
		case 'd': dir = optarg; break;
		case 'p': lp = optarg; break;
		case 'g': lg = optarg; break;
		case 'm': members_only = true; break;
		case 'G':
			p1 = strchr(optarg, ':');
			p2 = p1 ? strchr(p1 + 1, ':') : NULL;
			if (!p2 || ngrants == MAX_GRANTS) {
				fprintf(stderr, "nss_mkcache: --grant USER:UID:SECONDS\n");
				return 2;
			}
			snprintf(grants[ngrants].user, sizeof(grants[ngrants].user), "%.*s", (int)(p1 - optarg), optarg);
			grants[ngrants].uid = (uint32_t)strtoul(p1 + 1, NULL, 10);
			grants[ngrants].expires = vg_now() + strtol(p2 + 1, NULL, 10);
			ngrants++;
			break;
		default: return 2;
		}
	}
	if (!bundle || !dir) {
		fprintf(stderr, "nss_mkcache: --bundle and --dir are required\n");
		return 2;
	}
	if (vg_read_file(bundle, 64u << 20, &text, &len) < 0) {
		perror(bundle);
		return 1;
	}
	if (vg_bundle_parse(text, len, &b, &err) < 0) {
		rc = die("bundle", &err);
		goto out;
	}
	if (vg_nssc_local_load(lp, lg, &local, &err) < 0) {
		rc = die("local accounts", &err);
		goto out;
	}
	if (!members_only &&
	    (vg_nssc_build_identity(&b->identity, b->elevation.present ? b->elevation.group : NULL,
				    b->elevation.present ? b->elevation.gid : 0, local, (uint64_t)b->version, vg_now(),
				    &pw, &gr, &rep, &err) < 0 ||
	     vg_nssc_buf_write(dir, VG_NSSC_PASSWD_FILE, &pw, &err) < 0 ||
	     vg_nssc_buf_write(dir, VG_NSSC_GROUP_FILE, &gr, &err) < 0)) {
		rc = die("identity", &err);
		goto out;
	}
	if (vg_nssc_build_members(b->elevation.present ? b->elevation.group : NULL,
				  b->elevation.present ? b->elevation.gid : 0, grants, ngrants, b->identity.gid_min,
				  b->identity.gid_max, (uint64_t)b->version, vg_now(), &mb, &rep, &err) < 0 ||
	    vg_nssc_buf_write(dir, VG_NSSC_MEMBERS_FILE, &mb, &err) < 0) {
		rc = die("members", &err);
		goto out;
	}
	for (size_t i = 0; i < rep.nconflicts; i++)
		printf("conflict %s %s %u: %s\n", rep.conflicts[i].kind, rep.conflicts[i].name, rep.conflicts[i].id,
		       rep.conflicts[i].why);
	printf("users %zu groups %zu members %zu grants %zu\n", rep.nusers, rep.ngroups, rep.nmembers, rep.ngrants);
	rc = 0;
out:
	vg_nssc_buf_free(&pw);
	vg_nssc_buf_free(&gr);
	vg_nssc_buf_free(&mb);
	vg_nssc_report_free(&rep);
	vg_nssc_local_free(local);
	vg_bundle_free(b);
	free(text);
	return rc;
}
