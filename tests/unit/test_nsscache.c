/* SPDX-License-Identifier: Apache-2.0 */
/* NSS cache: writer (lib/nsscache_write.c) and reader (nss/nsscache_read.c) together. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "nsscache_read.h"
#include "vigil/nsscache.h"
#include "vigil/util.h"

#define NOW ((time_t)1795000000)

static struct vg_user user(const char *name, uint32_t uid, uint32_t gid, enum vg_user_state st)
{
	struct vg_user u = { .name = (char *)name, .uid = uid, .gid = gid, .gecos = (char *)"Someone",
			     .home = (char *)"/home/x", .shell = (char *)"/bin/bash", .state = st };
	return u;
}

struct fixture {
	struct vg_user users[8];
	struct vg_group groups[6];
	char *sre_members[4];
	char *dev_members[2];
	struct vg_identity id;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->users[0] = user("alice", 60001, 60001, VG_USER_ACTIVE);
	f->users[1] = user("mallory", 60002, 60002, VG_USER_DEPROVISIONED);
	f->users[2] = user("bob", 60003, 60003, VG_USER_ACTIVE);
	f->users[3] = user("carol", 60004, 60100, VG_USER_ACTIVE);
	f->sre_members[0] = "carol";
	f->sre_members[1] = "alice";
	f->sre_members[2] = "mallory"; /* deprovisioned: silently dropped */
	f->sre_members[3] = "alice";   /* repeated: once */
	f->dev_members[0] = "bob";
	f->dev_members[1] = "alice";
	f->groups[0] = (struct vg_group){ .name = "sre", .gid = 60100, .nmembers = 4, .members = f->sre_members };
	f->groups[1] = (struct vg_group){ .name = "alice", .gid = 60001 };
	f->groups[2] = (struct vg_group){ .name = "dev", .gid = 60200, .nmembers = 2, .members = f->dev_members };
	f->id = (struct vg_identity){ .uid_min = 60000, .uid_max = 60999, .gid_min = 60000, .gid_max = 64999,
				      .nusers = 4, .users = f->users, .ngroups = 3, .groups = f->groups };
}

/* malloc'd copies are 16-aligned, as an mmap'd file is page-aligned */
static void build(const struct vg_identity *id, const struct vg_nssc_local *local, struct vg_nssc_buf *pw,
		  struct vg_nssc_buf *gr, struct vg_nssc_report *rep)
{
	struct vg_err err = { 0 };

	assert_int_equal(vg_nssc_build_identity(id, "vigil-elevated", 64000, local, 7, NOW, pw, gr, rep, &err), 0);
}

static bool has_conflict(const struct vg_nssc_report *rep, const char *name, const char *why_part)
{
	for (size_t i = 0; i < rep->nconflicts; i++)
		if (strcmp(rep->conflicts[i].name, name) == 0 && strstr(rep->conflicts[i].why, why_part))
			return true;
	return false;
}

static void test_passwd_lookups(void **state)
{
	struct fixture f;
	struct vg_nssc_buf pw, gr;
	struct vg_nssc_report rep = { 0 };
	struct vg_nssc_view v;
	struct passwd p;
	char buf[256];

	fixture_init(&f);
	build(&f.id, NULL, &pw, &gr, &rep);
	assert_int_equal(rep.nusers, 3);
	assert_int_equal(rep.nconflicts, 0);
	assert_int_equal(vg_nssc_view_parse(pw.data, pw.len, VG_NSSC_PASSWD, 0, &v), 0);
	assert_int_equal(v.count, 3);
	assert_int_equal(v.generation, 7);

	assert_int_equal(vg_nssc_fill_passwd(&v, vg_nssc_pw_by_name(&v, "alice"), &p, buf, sizeof(buf)), 0);
	assert_string_equal(p.pw_name, "alice");
	assert_string_equal(p.pw_passwd, "x");
	assert_int_equal(p.pw_uid, 60001);
	assert_int_equal(p.pw_gid, 60001);
	assert_string_equal(p.pw_gecos, "Someone");
	assert_string_equal(p.pw_dir, "/home/x");
	assert_string_equal(p.pw_shell, "/bin/bash");
	assert_int_equal(vg_nssc_fill_passwd(&v, vg_nssc_pw_by_uid(&v, 60004), &p, buf, sizeof(buf)), 0);
	assert_string_equal(p.pw_name, "carol");

	assert_null(vg_nssc_pw_by_name(&v, "mallory")); /* deprovisioned */
	assert_null(vg_nssc_pw_by_uid(&v, 60002));
	assert_null(vg_nssc_pw_by_name(&v, "alic"));
	assert_null(vg_nssc_pw_by_name(&v, "alicee"));
	assert_null(vg_nssc_pw_by_name(&v, ""));
	assert_null(vg_nssc_pw_by_uid(&v, 0));
	assert_null(vg_nssc_pw_by_uid(&v, 59999));
	/* enumeration in name order, then the end */
	assert_string_equal(vg_nssc_str(&v, vg_nssc_pw_at(&v, 0)->name, NULL), "alice");
	assert_string_equal(vg_nssc_str(&v, vg_nssc_pw_at(&v, 1)->name, NULL), "bob");
	assert_string_equal(vg_nssc_str(&v, vg_nssc_pw_at(&v, 2)->name, NULL), "carol");
	assert_null(vg_nssc_pw_at(&v, 3));
	/* a group file is not a passwd file */
	assert_int_equal(vg_nssc_view_parse(gr.data, gr.len, VG_NSSC_PASSWD, 0, &v), -EBADMSG);
	vg_nssc_buf_free(&pw);
	vg_nssc_buf_free(&gr);
	vg_nssc_report_free(&rep);
}

static void test_erange_every_short_length(void **state)
{
	struct fixture f;
	struct vg_nssc_buf pw, gr;
	struct vg_nssc_view v, g;
	struct passwd p;
	struct group grp;
	char buf[512];
	size_t need_pw = 0, need_gr = 0;

	fixture_init(&f);
	build(&f.id, NULL, &pw, &gr, NULL);
	assert_int_equal(vg_nssc_view_parse(pw.data, pw.len, VG_NSSC_PASSWD, 0, &v), 0);
	assert_int_equal(vg_nssc_view_parse(gr.data, gr.len, VG_NSSC_GROUP, 0, &g), 0);
	/* "alice\0x\0Someone\0/home/x\0/bin/bash\0" */
	need_pw = 6 + 2 + 8 + 8 + 10;
	for (size_t n = 0; n < need_pw; n++)
		assert_int_equal(vg_nssc_fill_passwd(&v, vg_nssc_pw_by_name(&v, "alice"), &p, buf, n), -ERANGE);
	assert_int_equal(vg_nssc_fill_passwd(&v, vg_nssc_pw_by_name(&v, "alice"), &p, buf, need_pw), 0);
	/* sre: 3 pointers (+ alignment) + "sre\0x\0alice\0carol\0" */
	for (size_t n = 0; n < 3 * sizeof(char *); n++)
		assert_int_equal(vg_nssc_fill_group(&g, vg_nssc_gr_by_name(&g, "sre"), &grp, buf, n), -ERANGE);
	for (need_gr = 0; need_gr < sizeof(buf); need_gr++)
		if (vg_nssc_fill_group(&g, vg_nssc_gr_by_name(&g, "sre"), &grp, buf, need_gr) == 0)
			break;
	assert_in_range(need_gr, 3 * sizeof(char *) + 18, 3 * sizeof(char *) + 18 + sizeof(char *));
	vg_nssc_buf_free(&pw);
	vg_nssc_buf_free(&gr);
}

static int collect(gid_t gid, void *arg)
{
	gid_t *out = arg;

	out[++out[0]] = gid;
	return 0;
}

static void test_groups_and_memberships(void **state)
{
	struct fixture f;
	struct vg_nssc_buf pw, gr, mb;
	struct vg_nssc_report rep = { 0 };
	struct vg_nssc_view g, m;
	struct vg_grant grants[3] = { 0 };
	struct vg_err err = { 0 };
	struct group grp;
	gid_t got[16];
	char buf[512];

	fixture_init(&f);
	build(&f.id, NULL, &pw, &gr, &rep);
	assert_int_equal(rep.ngroups, 3);
	assert_int_equal(rep.nmembers, 4); /* sre: alice carol; dev: alice bob */
	assert_int_equal(vg_nssc_view_parse(gr.data, gr.len, VG_NSSC_GROUP, 0, &g), 0);
	assert_int_equal(vg_nssc_fill_group(&g, vg_nssc_gr_by_name(&g, "sre"), &grp, buf, sizeof(buf)), 0);
	assert_int_equal(grp.gr_gid, 60100);
	assert_string_equal(grp.gr_mem[0], "alice");
	assert_string_equal(grp.gr_mem[1], "carol");
	assert_null(grp.gr_mem[2]);
	assert_int_equal(vg_nssc_fill_group(&g, vg_nssc_gr_by_gid(&g, 60001), &grp, buf, sizeof(buf)), 0);
	assert_string_equal(grp.gr_name, "alice");
	assert_null(grp.gr_mem[0]);
	assert_null(vg_nssc_gr_by_name(&g, "vigil-elevated")); /* lives in members.cache */

	/* alice holds two grants (the later one counts), bob's expired, carol's is live */
	snprintf(grants[0].user, sizeof(grants[0].user), "alice");
	grants[0].expires = NOW + 10;
	grants[1] = grants[0];
	grants[1].expires = NOW + 100;
	snprintf(grants[2].user, sizeof(grants[2].user), "bob");
	grants[2].expires = NOW;
	assert_int_equal(vg_nssc_build_members("vigil-elevated", 64000, grants, 3, 60000, 64999, 7, NOW, &mb,
					       &rep, &err),
			 0);
	assert_int_equal(rep.ngrants, 1);
	assert_int_equal(vg_nssc_view_parse(mb.data, mb.len, VG_NSSC_MEMBERS, 0, &m), 0);
	assert_true(vg_nssc_has_elevation(&m));
	assert_non_null(vg_nssc_grant_live(&m, "alice", NOW + 99));
	assert_null(vg_nssc_grant_live(&m, "alice", NOW + 100)); /* expired at the lookup: hidden */
	assert_null(vg_nssc_grant_live(&m, "bob", NOW - 5));	 /* expired when written: absent */
	assert_int_equal(vg_nssc_fill_elevation(&m, NOW + 50, &grp, buf, sizeof(buf)), 0);
	assert_string_equal(grp.gr_name, "vigil-elevated");
	assert_int_equal(grp.gr_gid, 64000);
	assert_string_equal(grp.gr_mem[0], "alice");
	assert_null(grp.gr_mem[1]);
	assert_int_equal(vg_nssc_fill_elevation(&m, NOW + 100, &grp, buf, sizeof(buf)), 0);
	assert_null(grp.gr_mem[0]);

	got[0] = 0;
	assert_int_equal(vg_nssc_user_groups(&g, &m, "alice", NOW + 1, collect, got), 0);
	assert_int_equal(got[0], 3);
	assert_int_equal(got[1], 60100);
	assert_int_equal(got[2], 60200);
	assert_int_equal(got[3], 64000);
	got[0] = 0;
	assert_int_equal(vg_nssc_user_groups(&g, &m, "alice", NOW + 100, collect, got), 0);
	assert_int_equal(got[0], 2);
	got[0] = 0;
	assert_int_equal(vg_nssc_user_groups(&g, &m, "bob", NOW, collect, got), 0);
	assert_int_equal(got[0], 1);
	assert_int_equal(got[1], 60200);
	got[0] = 0;
	assert_int_equal(vg_nssc_user_groups(&g, &m, "mallory", NOW, collect, got), 0);
	assert_int_equal(got[0], 0);
	vg_nssc_buf_free(&mb);

	/* no elevation configured: an empty members.cache */
	assert_int_equal(vg_nssc_build_members(NULL, 0, grants, 3, 60000, 64999, 7, NOW, &mb, NULL, &err), 0);
	assert_int_equal(vg_nssc_view_parse(mb.data, mb.len, VG_NSSC_MEMBERS, 0, &m), 0);
	assert_false(vg_nssc_has_elevation(&m));
	assert_null(vg_nssc_grant_live(&m, "alice", NOW));
	assert_int_equal(vg_nssc_fill_elevation(&m, NOW, &grp, buf, sizeof(buf)), -ENOENT);
	vg_nssc_buf_free(&mb);
	/* an elevation gid outside the range is refused with a reason */
	assert_int_equal(vg_nssc_build_members("vigil-elevated", 70000, grants, 3, 60000, 64999, 7, NOW, &mb,
					       NULL, &err),
			 -EINVAL);
	assert_string_equal(err.code, "elevation_group_invalid");
	vg_nssc_buf_free(&pw);
	vg_nssc_buf_free(&gr);
	vg_nssc_report_free(&rep);
}

static void test_conflicts_refused(void **state)
{
	struct fixture f;
	struct vg_nssc_buf pw, gr;
	struct vg_nssc_report rep = { 0 };
	struct vg_nssc_local *local = NULL;
	struct vg_nssc_view v, g;
	struct vg_err err = { 0 };
	char dir[] = "/tmp/nsscache-test-XXXXXX", ppath[128], gpath[128];
	char *members[] = { "alice", "ghost" };
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	snprintf(ppath, sizeof(ppath), "%s/passwd", dir);
	snprintf(gpath, sizeof(gpath), "%s/group", dir);
	fp = fopen(ppath, "w");
	fprintf(fp, "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/usr/sbin/nologin\n"
		    "svc:x:60050:60050::/:/bin/false\n+@nis\n");
	fclose(fp);
	fp = fopen(gpath, "w");
	fprintf(fp, "root:x:0:\nstaff:x:50:\nlocalgrp:x:60300:\n");
	fclose(fp);
	assert_int_equal(vg_nssc_local_load(ppath, gpath, &local, &err), 0);

	fixture_init(&f);
	f.users[4] = user("daemon", 60010, 60010, VG_USER_ACTIVE);   /* local name */
	f.users[5] = user("zed", 60050, 60050, VG_USER_ACTIVE);	     /* local uid */
	f.users[6] = user("root2", 0, 60001, VG_USER_ACTIVE);	     /* uid 0 */
	f.users[7] = user("far", 61000, 60001, VG_USER_ACTIVE);	     /* outside the range */
	f.id.nusers = 8;
	f.users[2].shell = "/bin/sh:evil"; /* bob: would forge a passwd field */
	f.groups[3] = (struct vg_group){ .name = "staff", .gid = 60400 };
	f.groups[4] = (struct vg_group){ .name = "elev", .gid = 64000 }; /* the elevation gid */
	f.groups[5] = (struct vg_group){ .name = "dup", .gid = 60100, .nmembers = 2, .members = members };
	f.id.ngroups = 6;
	build(&f.id, local, &pw, &gr, &rep);
	assert_true(has_conflict(&rep, "daemon", "local account"));
	assert_true(has_conflict(&rep, "zed", "uid of a local account"));
	assert_true(has_conflict(&rep, "root2", "0"));
	assert_true(has_conflict(&rep, "far", "uid_range"));
	assert_true(has_conflict(&rep, "bob", "':'"));
	assert_true(has_conflict(&rep, "staff", "local group"));
	assert_true(has_conflict(&rep, "elev", "elevation group"));
	assert_true(has_conflict(&rep, "dup", "duplicate gid") || has_conflict(&rep, "sre", "duplicate gid"));
	assert_int_equal(vg_nssc_view_parse(pw.data, pw.len, VG_NSSC_PASSWD, 0, &v), 0);
	assert_int_equal(v.count, 2); /* alice, carol */
	assert_null(vg_nssc_pw_by_name(&v, "daemon"));
	assert_null(vg_nssc_pw_by_name(&v, "bob"));
	assert_null(vg_nssc_pw_by_uid(&v, 60050));
	assert_int_equal(vg_nssc_view_parse(gr.data, gr.len, VG_NSSC_GROUP, 0, &g), 0);
	assert_null(vg_nssc_gr_by_name(&g, "staff"));
	assert_null(vg_nssc_gr_by_gid(&g, 64000));
	/* bob was refused, so dev keeps only alice */
	assert_true(has_conflict(&rep, "bob", "not a provisioned user"));
	vg_nssc_buf_free(&pw);
	vg_nssc_buf_free(&gr);
	vg_nssc_report_free(&rep);

	/* duplicates among vigil's own entries: the first by name keeps the uid */
	fixture_init(&f);
	f.users[4] = user("alice", 60020, 60001, VG_USER_ACTIVE);
	f.users[5] = user("dave", 60001, 60001, VG_USER_ACTIVE);
	f.id.nusers = 6;
	build(&f.id, local, &pw, &gr, &rep);
	assert_true(has_conflict(&rep, "alice", "duplicate user name"));
	assert_true(has_conflict(&rep, "dave", "duplicate uid"));
	assert_int_equal(vg_nssc_view_parse(pw.data, pw.len, VG_NSSC_PASSWD, 0, &v), 0);
	assert_int_equal(vg_nssc_pw_by_name(&v, "alice")->uid, 60001);
	assert_null(vg_nssc_pw_by_uid(&v, 60020));
	vg_nssc_buf_free(&pw);
	vg_nssc_buf_free(&gr);
	vg_nssc_report_free(&rep);

	/* a bundle without an identity section: empty caches that parse, serve nobody, and
	 * still carry the elevation group */
	{
		struct vg_identity none = { 0 };
		struct vg_nssc_buf mb;
		struct vg_grant gt = { .user = "alice", .uid = 60001, .expires = NOW + 60 };

		assert_int_equal(vg_nssc_build_identity(&none, "elev", 64000, local, 1, NOW, &pw, &gr, NULL, &err), 0);
		assert_int_equal(vg_nssc_view_parse(pw.data, pw.len, VG_NSSC_PASSWD, 0, &v), 0);
		assert_int_equal(v.count, 0);
		assert_null(vg_nssc_pw_by_name(&v, "alice"));
		assert_null(vg_nssc_pw_by_uid(&v, 60001));
		assert_int_equal(vg_nssc_view_parse(gr.data, gr.len, VG_NSSC_GROUP, 0, &g), 0);
		assert_null(vg_nssc_gr_by_gid(&g, 64000));
		assert_int_equal(vg_nssc_build_members("elev", 64000, &gt, 1, 0, 0, 1, NOW, &mb, NULL, &err), 0);
		assert_int_equal(vg_nssc_view_parse(mb.data, mb.len, VG_NSSC_MEMBERS, 0, &v), 0);
		assert_non_null(vg_nssc_grant_live(&v, "alice", NOW));
		vg_nssc_buf_free(&pw);
		vg_nssc_buf_free(&gr);
		vg_nssc_buf_free(&mb);
	}

	/* a range that includes 0 is an error, not a cache */
	f.id.uid_min = 0;
	assert_int_equal(vg_nssc_build_identity(&f.id, NULL, 0, local, 1, NOW, &pw, &gr, NULL, &err), -EINVAL);
	assert_string_equal(err.code, "identity_range_invalid");
	vg_nssc_local_free(local);
	unlink(ppath);
	unlink(gpath);
	rmdir(dir);
}

/* The elevation group may be no local group's, by name or gid, nor a local user's primary gid. */
static void test_elevation_group_vs_local(void **state)
{
	struct fixture f;
	struct vg_nssc_buf pw = { 0 }, gr = { 0 };
	struct vg_nssc_local *local = NULL;
	struct vg_err err = { 0 };
	char dir[] = "/tmp/nsscache-test-XXXXXX", ppath[128], gpath[128];
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	snprintf(ppath, sizeof(ppath), "%s/passwd", dir);
	snprintf(gpath, sizeof(gpath), "%s/group", dir);
	fp = fopen(ppath, "w");
	fprintf(fp, "root:x:0:0:root:/root:/bin/bash\nsvc:x:1500:64001::/:/bin/false\n");
	fclose(fp);
	fp = fopen(gpath, "w");
	fprintf(fp, "root:x:0:\nsudo:x:27:\nwheelish:x:64002:\n");
	fclose(fp);
	assert_int_equal(vg_nssc_local_load(ppath, gpath, &local, &err), 0);
	fixture_init(&f);
	assert_int_equal(vg_nssc_check_elevation("sudo", 64000, local, &err), -EINVAL);
	assert_string_equal(err.path, "$.elevation.group");
	assert_int_equal(vg_nssc_check_elevation("elev", 64002, local, &err), -EINVAL);
	assert_string_equal(err.path, "$.elevation.gid");
	assert_non_null(strstr(err.msg, "local group"));
	assert_int_equal(vg_nssc_check_elevation("elev", 64001, local, &err), -EINVAL);
	assert_string_equal(err.path, "$.elevation.gid");
	assert_non_null(strstr(err.msg, "primary gid of a local user"));
	assert_int_equal(vg_nssc_check_elevation("elev", 64000, local, &err), 0);
	assert_int_equal(vg_nssc_check_elevation(NULL, 0, local, &err), 0);
	/* the build refuses the whole identity: a bad bundle never replaces a good one */
	assert_int_equal(vg_nssc_build_identity(&f.id, "sudo", 64000, local, 7, NOW, &pw, &gr, NULL, &err), -EINVAL);
	assert_null(pw.data);
	assert_null(gr.data);
	vg_nssc_local_free(local);
	unlink(ppath);
	unlink(gpath);
	rmdir(dir);
}

/* Shadow entries come from passwd.cache; valid_until hides a user from the instant it passes. */
static void test_shadow_and_valid_until(void **state)
{
	struct fixture f;
	struct vg_nssc_buf pw, gr;
	struct vg_nssc_view v, g;
	struct spwd sp;
	const struct vg_nssc_passwd *r;
	char buf[128];

	fixture_init(&f);
	f.users[0].valid_until = NOW + 3600;  /* alice: one more hour */
	f.users[2].valid_until = NOW;	      /* bob: already over, left out like a deprovisioned user */
	build(&f.id, NULL, &pw, &gr, NULL);
	assert_int_equal(vg_nssc_view_parse(pw.data, pw.len, VG_NSSC_PASSWD, 0, &v), 0);
	assert_null(vg_nssc_pw_by_name(&v, "bob"));
	r = vg_nssc_pw_by_name(&v, "alice");
	assert_non_null(r);
	assert_true(vg_nssc_pw_live(r, NOW + 3599));
	assert_false(vg_nssc_pw_live(r, NOW + 3600));
	assert_int_equal(vg_nssc_fill_shadow(&v, r, &sp, buf, sizeof(buf)), 0);
	assert_string_equal(sp.sp_namp, "alice");
	assert_string_equal(sp.sp_pwdp, "*");
	assert_int_equal(sp.sp_lstchg, -1);
	assert_int_equal(sp.sp_max, -1);
	assert_int_equal(sp.sp_inact, -1);
	assert_int_equal(sp.sp_expire, (NOW + 3600 + 86399) / 86400);
	r = vg_nssc_pw_by_name(&v, "carol");
	assert_true(vg_nssc_pw_live(r, NOW + 100000000));
	assert_int_equal(vg_nssc_fill_shadow(&v, r, &sp, buf, sizeof(buf)), 0);
	assert_int_equal(sp.sp_expire, -1);
	for (size_t n = 0; n < 7; n++)
		assert_int_equal(vg_nssc_fill_shadow(&v, r, &sp, buf, n), -ERANGE);
	/* bob's memberships went with him, without a conflict */
	assert_int_equal(vg_nssc_view_parse(gr.data, gr.len, VG_NSSC_GROUP, 0, &g), 0);
	assert_int_equal(vg_nssc_gr_by_name(&g, "dev")->nmembers, 1);
	vg_nssc_buf_free(&pw);
	vg_nssc_buf_free(&gr);
}

static void test_corruption_detected(void **state)
{
	struct fixture f;
	struct vg_nssc_buf pw, gr;
	struct vg_nssc_view v;
	uint8_t *copy;

	fixture_init(&f);
	build(&f.id, NULL, &pw, &gr, NULL);
	copy = aligned_alloc(8, pw.len + 8);
	/* every single-byte change is caught by the header checks or the checksum */
	for (size_t i = 0; i < pw.len; i++) {
		memcpy(copy, pw.data, pw.len);
		copy[i] ^= 0x5a;
		assert_int_equal(vg_nssc_view_parse(copy, pw.len, VG_NSSC_PASSWD, 0, &v), -EBADMSG);
	}
	/* every truncation */
	memcpy(copy, pw.data, pw.len);
	for (size_t n = 0; n < pw.len; n++)
		assert_int_not_equal(vg_nssc_view_parse(copy, n, VG_NSSC_PASSWD, 0, &v), 0);
	/* unaligned buffers are refused rather than read with misaligned loads */
	memcpy(copy + 1, pw.data, pw.len);
	assert_int_equal(vg_nssc_view_parse(copy + 1, pw.len, VG_NSSC_PASSWD, 0, &v), -EINVAL);
	free(copy);
	vg_nssc_buf_free(&pw);
	vg_nssc_buf_free(&gr);
}

/* Lazy checks: the header at parse time, each body page when a lookup first reads it. */
static void test_lazy_page_checks(void **state)
{
	struct fixture f;
	struct vg_nssc_buf pw, gr;
	struct vg_nssc_view v;
	struct passwd p;
	char out[256];
	size_t n;
	void *lz;
	uint8_t *copy;

	fixture_init(&f);
	build(&f.id, NULL, &pw, &gr, NULL);
	n = vg_nssc_lazy_size(pw.len);
	lz = calloc(1, n);
	copy = aligned_alloc(8, pw.len);
	memcpy(copy, pw.data, pw.len);
	assert_int_equal(vg_nssc_view_parse_lazy(copy, pw.len, VG_NSSC_PASSWD, lz, n, &v), 0);
	assert_int_equal(vg_nssc_fill_passwd(&v, vg_nssc_pw_by_name(&v, "carol"), &p, out, sizeof(out)), 0);
	assert_false(vg_nssc_view_corrupt(&v));
	assert_int_equal(vg_nssc_view_parse_lazy(copy, pw.len, VG_NSSC_PASSWD, lz, n - 1, &v), -EINVAL);

	/* damage on the page of the hash index (here the only page) is caught at parse */
	memset(lz, 0, n);
	copy[pw.len - 9] ^= 1;
	assert_int_equal(vg_nssc_view_parse_lazy(copy, pw.len, VG_NSSC_PASSWD, lz, n, &v), -EBADMSG);
	/* damage in the page table is caught by the header checksum */
	copy[pw.len - 9] ^= 1;
	copy[sizeof(struct vg_nssc_header)] ^= 1;
	memset(lz, 0, n);
	assert_int_equal(vg_nssc_view_parse_lazy(copy, pw.len, VG_NSSC_PASSWD, lz, n, &v), -EBADMSG);
	free(copy);
	free(lz);
	vg_nssc_buf_free(&pw);
	vg_nssc_buf_free(&gr);
}

/* With the checksum skipped, random damage may parse: lookups must stay in bounds (ASan). */
static void test_damage_past_checksum_stays_in_bounds(void **state)
{
	struct fixture f;
	struct vg_nssc_buf bufs[2];
	const enum vg_nssc_kind kinds[2] = { VG_NSSC_PASSWD, VG_NSSC_GROUP };
	uint64_t seed = 0x1234567u;
	char out[256];

	fixture_init(&f);
	build(&f.id, NULL, &bufs[0], &bufs[1], NULL);
	for (int k = 0; k < 2; k++) {
		uint8_t *copy = aligned_alloc(8, bufs[k].len);
		int parsed = 0;

		for (int round = 0; round < 20000; round++) {
			struct vg_nssc_view v;
			struct passwd p;
			struct group g;
			gid_t got[64];

			memcpy(copy, bufs[k].data, bufs[k].len);
			for (int j = 0; j < 1 + round % 4; j++) {
				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				copy[sizeof(struct vg_nssc_header) + (seed >> 33) %
						(bufs[k].len - sizeof(struct vg_nssc_header))] = (uint8_t)(seed >> 17);
			}
			if (vg_nssc_view_parse(copy, bufs[k].len, kinds[k], VG_NSSC_SKIP_CHECKSUM, &v) < 0)
				continue;
			parsed++;
			for (size_t i = 0; i < v.count + 1; i++) {
				const struct vg_nssc_passwd *pr = vg_nssc_pw_at(&v, i);
				const struct vg_nssc_group *gr = vg_nssc_gr_at(&v, i);

				if (pr)
					(void)vg_nssc_fill_passwd(&v, pr, &p, out, sizeof(out));
				if (gr)
					(void)vg_nssc_fill_group(&v, gr, &g, out, sizeof(out));
			}
			(void)vg_nssc_pw_by_name(&v, "carol");
			(void)vg_nssc_pw_by_uid(&v, 60003);
			(void)vg_nssc_gr_by_name(&v, "sre");
			(void)vg_nssc_gr_by_gid(&v, 60200);
			got[0] = 0;
			if (k == 1)
				(void)vg_nssc_user_groups(&v, NULL, "alice", NOW, collect, got);
			assert_true(got[0] < 60);
		}
		assert_true(parsed > 1000); /* the damage reached the lookups, not just the parser */
		free(copy);
		vg_nssc_buf_free(&bufs[k]);
	}
}

static void test_write_files(void **state)
{
	struct fixture f;
	struct vg_nssc_buf pw, gr;
	struct vg_err err = { 0 };
	struct vg_nssc_view v;
	char dir[] = "/tmp/nsscache-test-XXXXXX", sub[128], path[160];
	char *data = NULL;
	size_t len = 0;

	fixture_init(&f);
	build(&f.id, NULL, &pw, &gr, NULL);
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/nss", dir);
	assert_int_equal(vg_nssc_buf_write(sub, VG_NSSC_PASSWD_FILE, &pw, &err), 0);
	snprintf(path, sizeof(path), "%s/%s", sub, VG_NSSC_PASSWD_FILE);
	assert_int_equal(vg_read_file(path, 1 << 20, &data, &len), 0);
	assert_int_equal(len, pw.len);
	assert_memory_equal(data, pw.data, len);
	assert_int_equal(vg_nssc_view_parse(data, len, VG_NSSC_PASSWD, 0, &v), 0);
	free(data);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
	vg_nssc_buf_free(&pw);
	vg_nssc_buf_free(&gr);
}

/* Empty input at every step: no users, no groups, no grants, empty local files, a local
 * set that is only comments, groups whose members are all withdrawn or none. The sorts
 * and searches see zero elements (UBSan checks the pointers in the SANITIZE=1 build). */
static void empty_caches_serve_nobody(const struct vg_nssc_buf *pw, const struct vg_nssc_buf *gr)
{
	struct vg_nssc_view v, g;
	gid_t got[8] = { 0 };

	assert_int_equal(vg_nssc_view_parse(pw->data, pw->len, VG_NSSC_PASSWD, 0, &v), 0);
	assert_int_equal(v.count, 0);
	assert_true(vg_nssc_view_check_all(&v));
	assert_null(vg_nssc_pw_by_name(&v, "alice"));
	assert_null(vg_nssc_pw_by_uid(&v, 60001));
	assert_null(vg_nssc_pw_at(&v, 0));
	assert_int_equal(vg_nssc_view_parse(gr->data, gr->len, VG_NSSC_GROUP, 0, &g), 0);
	assert_int_equal(g.count, 0);
	assert_null(vg_nssc_gr_by_name(&g, "sre"));
	assert_null(vg_nssc_gr_by_gid(&g, 60100));
	assert_null(vg_nssc_gr_at(&g, 0));
	assert_int_equal(vg_nssc_user_groups(&g, NULL, "alice", NOW, collect, got), 0);
	assert_int_equal(got[0], 0);
}

static void test_empty_inputs(void **state)
{
	char dir[] = "/tmp/nsscache-test-XXXXXX", ppath[128], gpath[128], sub[160];
	const char *locals[] = { "", "# comments only\n+compat\n\n" };
	struct vg_identity none = { .uid_min = 60000, .uid_max = 60999, .gid_min = 60000, .gid_max = 64999 };
	struct vg_nssc_buf pw = { 0 }, gr = { 0 }, mb = { 0 };
	struct vg_nssc_report rep = { 0 };
	struct vg_nssc_local *local = NULL;
	struct vg_err err = { 0 };
	struct vg_nssc_view v;
	struct fixture f;
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	snprintf(ppath, sizeof(ppath), "%s/passwd", dir);
	snprintf(gpath, sizeof(gpath), "%s/group", dir);
	for (size_t k = 0; k < 2; k++) {
		assert_non_null(fp = fopen(ppath, "w"));
		fputs(locals[k], fp);
		fclose(fp);
		assert_non_null(fp = fopen(gpath, "w"));
		fputs(locals[k], fp);
		fclose(fp);
		assert_int_equal(vg_nssc_local_load(ppath, gpath, &local, &err), 0);
		/* no users and no groups, with the empty local set and without one, with and without elevation */
		for (int with_local = 0; with_local < 2; with_local++)
			for (int elev = 0; elev < 2; elev++) {
				assert_int_equal(vg_nssc_build_identity(&none, elev ? "vigil-elevated" : NULL,
									elev ? 64000 : 0, with_local ? local : NULL, 1,
									NOW, &pw, &gr, &rep, &err),
						 0);
				assert_int_equal(rep.nconflicts, 0);
				empty_caches_serve_nobody(&pw, &gr);
				vg_nssc_buf_free(&pw);
				vg_nssc_buf_free(&gr);
				vg_nssc_report_free(&rep);
			}
		assert_int_equal(vg_nssc_check_elevation("vigil-elevated", 64000, local, &err), 0);
		vg_nssc_local_free(local);
		local = NULL;
	}

	/* every user withdrawn: groups remain, with no member left; a group with no members at all */
	fixture_init(&f);
	for (size_t i = 0; i < f.id.nusers; i++)
		f.users[i].state = VG_USER_DEPROVISIONED;
	f.groups[0].nmembers = 0;
	f.groups[0].members = NULL;
	build(&f.id, NULL, &pw, &gr, &rep);
	assert_int_equal(rep.nconflicts, 0);
	assert_int_equal(vg_nssc_view_parse(pw.data, pw.len, VG_NSSC_PASSWD, 0, &v), 0);
	assert_int_equal(v.count, 0);
	assert_int_equal(vg_nssc_view_parse(gr.data, gr.len, VG_NSSC_GROUP, 0, &v), 0);
	assert_int_equal(v.count, 3);
	assert_int_equal(vg_nssc_gr_by_name(&v, "sre")->nmembers, 0);
	assert_int_equal(vg_nssc_gr_by_name(&v, "dev")->nmembers, 0);
	vg_nssc_buf_free(&pw);
	vg_nssc_buf_free(&gr);
	vg_nssc_report_free(&rep);

	/* no grants, with and without an elevation group, and only expired grants */
	for (int elev = 0; elev < 2; elev++) {
		struct vg_grant old = { .user = "alice", .uid = 60001, .expires = NOW - 1 };

		assert_int_equal(vg_nssc_build_members(elev ? "vigil-elevated" : NULL, 64000, NULL, 0, 60000, 64999, 1,
						       NOW, &mb, &rep, &err),
				 0);
		assert_int_equal(vg_nssc_view_parse(mb.data, mb.len, VG_NSSC_MEMBERS, 0, &v), 0);
		assert_int_equal(v.count, 0);
		assert_null(vg_nssc_grant_live(&v, "alice", NOW));
		vg_nssc_buf_free(&mb);
		assert_int_equal(vg_nssc_build_members(elev ? "vigil-elevated" : NULL, 64000, &old, 1, 60000, 64999, 1,
						       NOW, &mb, &rep, &err),
				 0);
		assert_int_equal(vg_nssc_view_parse(mb.data, mb.len, VG_NSSC_MEMBERS, 0, &v), 0);
		assert_int_equal(v.count, 0);
		vg_nssc_buf_free(&mb);
		vg_nssc_report_free(&rep);
	}

	/* the empty set written and read back through the files */
	assert_int_equal(vg_nssc_build_identity(&none, NULL, 0, NULL, 1, NOW, &pw, &gr, NULL, &err), 0);
	assert_int_equal(vg_nssc_build_members(NULL, 0, NULL, 0, 60000, 64999, 1, NOW, &mb, NULL, &err), 0);
	snprintf(sub, sizeof(sub), "%s/nss", dir);
	{
		const struct vg_nssc_file files[] = { { VG_NSSC_PASSWD_FILE, &pw },
						      { VG_NSSC_GROUP_FILE, &gr },
						      { VG_NSSC_MEMBERS_FILE, &mb } };
		char path[200], *data = NULL;
		size_t len = 0;

		assert_int_equal(vg_nssc_write_set(sub, files, 3, &err), 0);
		snprintf(path, sizeof(path), "%s/%s", sub, VG_NSSC_GROUP_FILE);
		assert_int_equal(vg_read_file(path, 1 << 20, &data, &len), 0);
		empty_caches_serve_nobody(&pw, &(struct vg_nssc_buf){ (uint8_t *)data, len });
		free(data);
		for (size_t i = 0; i < 3; i++) {
			snprintf(path, sizeof(path), "%s/%s", sub, files[i].name);
			unlink(path);
		}
		snprintf(path, sizeof(path), "%s/%s", sub, VG_NSSC_GEN_FILE);
		unlink(path);
	}
	vg_nssc_buf_free(&pw);
	vg_nssc_buf_free(&gr);
	vg_nssc_buf_free(&mb);
	rmdir(sub);
	unlink(ppath);
	unlink(gpath);
	rmdir(dir);
}

/* ---- format 3: the hash index ---- */

/* A file changed on purpose gets valid checksums again, so what is tested is the reader's own bounds. */
static void reseal(struct vg_nssc_buf *b)
{
	struct vg_nssc_header *h = (struct vg_nssc_header *)(void *)b->data;
	uint64_t *pages = (uint64_t *)(void *)(b->data + h->sec[VG_NSSC_SEC_PAGES].off);
	size_t body = h->sec[VG_NSSC_SEC_PAGES].off + h->sec[VG_NSSC_SEC_PAGES].size;

	for (size_t i = 0; body + i * VG_NSSC_PAGE < b->len; i++) {
		size_t start = body + i * VG_NSSC_PAGE, n = b->len - start < VG_NSSC_PAGE ? b->len - start : VG_NSSC_PAGE;

		pages[i] = vg_nssc_page_checksum(i, b->data + start, n);
	}
	h->checksum = vg_nssc_header_checksum(h, pages);
}

#define MANY 3000

/* MANY users u000000.. with scattered uids; MANY / 10 groups g00000.. of 10 members each */
struct many {
	struct vg_user users[MANY];
	struct vg_group groups[MANY / 10];
	char names[MANY + MANY / 10][8];
	char *members[MANY];
	struct vg_identity id;
};

static uint32_t many_uid(size_t i) { return 100000 + (uint32_t)((i * 7919) % 1000003); }

static struct many *many_new(void)
{
	struct many *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	for (size_t i = 0; i < MANY; i++) {
		snprintf(m->names[i], sizeof(m->names[i]), "u%06zu", i);
		m->users[i] = user(m->names[i], many_uid(i), 2000000 + (uint32_t)(i % (MANY / 10)), VG_USER_ACTIVE);
		m->members[i] = m->names[i];
	}
	for (size_t i = 0; i < MANY / 10; i++) {
		snprintf(m->names[MANY + i], sizeof(m->names[0]), "g%05zu", i);
		m->groups[i] = (struct vg_group){ .name = m->names[MANY + i], .gid = 2000000 + (uint32_t)i,
						  .nmembers = 10, .members = m->members + 10 * i };
	}
	m->id = (struct vg_identity){ .uid_min = 100000, .uid_max = 1100003, .gid_min = 2000000,
				      .gid_max = 2999999, .nusers = MANY, .users = m->users,
				      .ngroups = MANY / 10, .groups = m->groups };
	return m;
}

/* every user and group found by name and by id, and nothing else */
static void many_lookups(const struct vg_nssc_view *v, const struct vg_nssc_view *g)
{
	char name[16];

	for (size_t i = 0; i < MANY; i++) {
		const struct vg_nssc_passwd *p;

		snprintf(name, sizeof(name), "u%06zu", i);
		p = vg_nssc_pw_by_name(v, name);
		assert_non_null(p);
		assert_int_equal(p->uid, many_uid(i));
		assert_ptr_equal(vg_nssc_pw_by_uid(v, many_uid(i)), p);
		snprintf(name, sizeof(name), "x%06zu", i);
		assert_null(vg_nssc_pw_by_name(v, name));
		assert_null(vg_nssc_pw_by_uid(v, 1100001 + (uint32_t)(i % 3)));
	}
	for (size_t i = 0; i < MANY / 10; i++) {
		const struct vg_nssc_group *r;

		snprintf(name, sizeof(name), "g%05zu", i);
		r = vg_nssc_gr_by_name(g, name);
		assert_non_null(r);
		assert_int_equal(r->gid, 2000000 + i);
		assert_ptr_equal(vg_nssc_gr_by_gid(g, 2000000 + (uint32_t)i), r);
		assert_null(vg_nssc_gr_by_gid(g, 2500000 + (uint32_t)i));
	}
	assert_null(vg_nssc_pw_by_name(v, ""));
	assert_null(vg_nssc_pw_by_name(v, "u0000000"));
}

/* What a reader without the index (format 2) sees: header.index 0, the rest unchanged. */
static void drop_index(struct vg_nssc_buf *b)
{
	((struct vg_nssc_header *)(void *)b->data)->index = 0;
	reseal(b);
}

static void test_hash_index(void **state)
{
	struct many *m = many_new();
	struct vg_nssc_buf pw, gr;
	struct vg_nssc_view v, g;
	uint8_t *lazy;

	build(&m->id, NULL, &pw, &gr, NULL);
	assert_int_equal(vg_nssc_view_parse(pw.data, pw.len, VG_NSSC_PASSWD, 0, &v), 0);
	assert_int_equal(vg_nssc_view_parse(gr.data, gr.len, VG_NSSC_GROUP, 0, &g), 0);
	assert_non_null(v.name_slots);
	assert_non_null(v.id_slots);
	assert_non_null(g.name_slots);
	assert_in_range(v.name_probe, 1, VG_NSSC_MAX_PROBE);
	many_lookups(&v, &g);
	/* lazily checked: a lookup by name reads a slot, a record and its strings, not a search path */
	lazy = calloc(1, vg_nssc_lazy_size(pw.len));
	assert_int_equal(vg_nssc_view_parse_lazy(pw.data, pw.len, VG_NSSC_PASSWD, (struct vg_nssc_lazy *)lazy,
						 vg_nssc_lazy_size(pw.len), &v),
			 0);
	assert_non_null(vg_nssc_pw_by_name(&v, "u001234"));
	assert_non_null(vg_nssc_pw_by_uid(&v, many_uid(77)));
	/* damage on another body page passes the parse and is caught by the first read of its page */
	memset(lazy, 0, vg_nssc_lazy_size(pw.len));
	pw.data[((struct vg_nssc_header *)(void *)pw.data)->sec[VG_NSSC_SEC_RECORDS].off] ^= 1; /* u000000 */
	assert_int_equal(vg_nssc_view_parse_lazy(pw.data, pw.len, VG_NSSC_PASSWD, (struct vg_nssc_lazy *)lazy,
						 vg_nssc_lazy_size(pw.len), &v),
			 0);
	assert_false(vg_nssc_view_corrupt(&v));
	assert_null(vg_nssc_pw_by_name(&v, "u000000"));
	assert_true(vg_nssc_view_corrupt(&v));
	assert_null(vg_nssc_pw_by_name(&v, "u001234")); /* and the file stays condemned */
	pw.data[((struct vg_nssc_header *)(void *)pw.data)->sec[VG_NSSC_SEC_RECORDS].off] ^= 1;
	free(lazy);
	/* the same files as a format 2 reader sees them: searched, same answers */
	drop_index(&pw);
	drop_index(&gr);
	assert_int_equal(vg_nssc_view_parse(pw.data, pw.len, VG_NSSC_PASSWD, 0, &v), 0);
	assert_int_equal(vg_nssc_view_parse(gr.data, gr.len, VG_NSSC_GROUP, 0, &g), 0);
	assert_null(v.name_slots);
	many_lookups(&v, &g);
	vg_nssc_buf_free(&pw);
	vg_nssc_buf_free(&gr);
	free(m);
}

/* Files the format 2 writer produced (the fuzz seeds' bodies, kept as fixtures) are read as before. */
static void test_format2_files(void **state)
{
	char *p = NULL, *g = NULL;
	size_t plen = 0, glen = 0;
	struct vg_nssc_view v, gv;
	struct passwd pwd;
	char buf[256];
	gid_t got[8] = { 0 };

	assert_int_equal(vg_read_file("tests/fixtures/nss/format2-passwd.cache", 1 << 20, &p, &plen), 0);
	assert_int_equal(vg_read_file("tests/fixtures/nss/format2-group.cache", 1 << 20, &g, &glen), 0);
	assert_int_equal(vg_nssc_view_parse(p, plen, VG_NSSC_PASSWD, 0, &v), 0);
	assert_int_equal(vg_nssc_view_parse(g, glen, VG_NSSC_GROUP, 0, &gv), 0);
	assert_null(v.name_slots);
	assert_int_equal(vg_nssc_fill_passwd(&v, vg_nssc_pw_by_name(&v, "alice"), &pwd, buf, sizeof(buf)), 0);
	assert_string_equal(pwd.pw_dir, "/home/alice");
	assert_ptr_equal(vg_nssc_pw_by_uid(&v, pwd.pw_uid), vg_nssc_pw_by_name(&v, "alice"));
	assert_null(vg_nssc_pw_by_name(&v, "bob"));
	assert_non_null(vg_nssc_gr_by_name(&gv, "sre"));
	assert_int_equal(vg_nssc_user_groups(&gv, NULL, "alice", NOW, collect, got), 0);
	assert_true(got[0] >= 1);
	free(p);
	free(g);
}

static struct vg_nssc_index *index_of(struct vg_nssc_buf *b)
{
	return (struct vg_nssc_index *)(void *)(b->data + ((struct vg_nssc_header *)(void *)b->data)->index);
}

static struct vg_nssc_slot *slots_of(struct vg_nssc_buf *b, bool by_id)
{
	struct vg_nssc_index *d = index_of(b);

	return (struct vg_nssc_slot *)(void *)(b->data + (by_id ? d->id_off : d->name_off));
}

/*
 * A hostile index (the file is root's, but the reader is bounded anyway): descriptors out of
 * bounds are refused at parse; slots that loop, point outside the records, at the wrong
 * record or carry wrong keys answer nothing, never a crash, a hang or another user.
 */
static void test_hostile_index(void **state)
{
	struct many *m = many_new();
	struct vg_nssc_buf pw, gr, orig;
	struct vg_nssc_view v;
	const struct vg_nssc_passwd *p;
	struct vg_nssc_index *d;
	struct vg_nssc_slot *s;
	uint32_t slots;

	build(&m->id, NULL, &orig, &gr, NULL);
	pw.len = orig.len;
	pw.data = malloc(orig.len);
	assert_non_null(pw.data);
	slots = index_of(&orig)->name_slots;
	/* descriptors the reader refuses: -EBADMSG, so the module answers UNAVAIL */
	for (int k = 0; k < 9; k++) {
		memcpy(pw.data, orig.data, orig.len);
		d = index_of(&pw);
		switch (k) {
		case 0: d->name_slots = slots + 8; break;		/* not a power of two */
		case 1: d->name_slots = slots * 64; break;		/* past the end of the file */
		case 2: d->id_probe = VG_NSSC_MAX_PROBE + 1; break;	/* walks unbounded */
		case 3: d->name_probe = 0; break;
		case 4: d->name_off = pw.len; break;
		case 5: d->id_off = 4; break;				/* inside the header */
		case 6: d->magic[0] ^= 1; break;
		case 7: ((struct vg_nssc_header *)(void *)pw.data)->index = (uint32_t)pw.len - 8; break;
		case 8: ((struct vg_nssc_header *)(void *)pw.data)->index += 4; break; /* unaligned */
		}
		reseal(&pw);
		assert_int_equal(vg_nssc_view_parse(pw.data, pw.len, VG_NSSC_PASSWD, 0, &v), -EBADMSG);
	}
	/* every slot full with keys that never match: the walk stops at the probe bound */
	memcpy(pw.data, orig.data, orig.len);
	s = slots_of(&pw, false);
	for (uint32_t i = 0; i < slots; i++)
		s[i] = (struct vg_nssc_slot){ .key = 0, .rec = 0 };
	index_of(&pw)->name_probe = VG_NSSC_MAX_PROBE;
	reseal(&pw);
	assert_int_equal(vg_nssc_view_parse(pw.data, pw.len, VG_NSSC_PASSWD, 0, &v), 0);
	assert_null(vg_nssc_pw_by_name(&v, "u000001"));
	/* slots naming records past the end, a record with another name than the slot's, or another
	 * user's record under the right key (record and name consistent) */
	memcpy(pw.data, orig.data, orig.len);
	for (int by_id = 0; by_id < 2; by_id++) {
		uint32_t n = by_id ? index_of(&pw)->id_slots : slots, prev = VG_NSSC_EMPTY, prev_name = 0;

		s = slots_of(&pw, by_id);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t rec = s[i].rec, name = s[i].name;

			if (rec == VG_NSSC_EMPTY)
				continue;
			if (i % 3 == 0)
				s[i].rec = i % 2 ? UINT32_MAX - 1 : MANY + i;
			else if (i % 3 == 1)
				s[i].name = prev_name;
			else if (prev != VG_NSSC_EMPTY)
				s[i] = (struct vg_nssc_slot){ .key = s[i].key, .rec = prev, .name = prev_name };
			prev = rec;
			prev_name = name;
		}
	}
	reseal(&pw);
	assert_int_equal(vg_nssc_view_parse(pw.data, pw.len, VG_NSSC_PASSWD, 0, &v), 0);
	for (size_t i = 0; i < MANY; i++) {
		char name[16];

		snprintf(name, sizeof(name), "u%06zu", i);
		p = vg_nssc_pw_by_name(&v, name);
		assert_true(!p || strcmp(vg_nssc_str(&v, p->name, NULL), name) == 0);
		p = vg_nssc_pw_by_uid(&v, many_uid(i));
		assert_true(!p || p->uid == many_uid(i));
	}
	/* members.cache never has an index */
	{
		struct vg_nssc_buf mb;
		struct vg_err err = { 0 };

		assert_int_equal(vg_nssc_build_members("vigil-elevated", 64000, NULL, 0, 60000, 64999, 1, NOW, &mb,
						       NULL, &err),
				 0);
		((struct vg_nssc_header *)(void *)mb.data)->index = 192;
		reseal(&mb);
		assert_int_equal(vg_nssc_view_parse(mb.data, mb.len, VG_NSSC_MEMBERS, 0, &v), -EBADMSG);
		vg_nssc_buf_free(&mb);
	}
	vg_nssc_buf_free(&pw);
	vg_nssc_buf_free(&gr);
	vg_nssc_buf_free(&orig);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passwd_lookups),
		cmocka_unit_test(test_erange_every_short_length),
		cmocka_unit_test(test_groups_and_memberships),
		cmocka_unit_test(test_conflicts_refused),
		cmocka_unit_test(test_corruption_detected),
		cmocka_unit_test(test_lazy_page_checks),
		cmocka_unit_test(test_elevation_group_vs_local),
		cmocka_unit_test(test_shadow_and_valid_until),
		cmocka_unit_test(test_damage_past_checksum_stays_in_bounds),
		cmocka_unit_test(test_write_files),
		cmocka_unit_test(test_empty_inputs),
		cmocka_unit_test(test_hash_index),
		cmocka_unit_test(test_format2_files),
		cmocka_unit_test(test_hostile_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
