/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NSS entry points (nss/nss_vigil.c) called from many threads while
 * another thread keeps replacing the cache files: every lookup must succeed
 * with one version or the other, enumerations must stay on one snapshot, and
 * (in the SANITIZE=1 build) nothing may race, leak or read out of bounds.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "nss_vigil.h"
#include "vigil/nsscache.h"
#include "vigil/util.h"

#define NUSERS 100
#define NGROUPS 10
#define READERS 6
#define RUN_MS 1500

static char dir[] = "/tmp/nss-threads-XXXXXX";
static atomic_bool stop;
static atomic_long lookups, failures, rewrites;

struct version {
	struct vg_nssc_buf pw, gr, mb;
};
static struct version ver[2];

static void fail_once(const char *what, int detail)
{
	if (atomic_fetch_add(&failures, 1) < 5)
		fprintf(stderr, "thread check failed: %s (%d)\n", what, detail);
}

static void build_version(struct version *v, const char *shell)
{
	static char names[NUSERS][16], gnames[NGROUPS][16];
	static char *members[NGROUPS][NUSERS / NGROUPS];
	struct vg_user users[NUSERS];
	struct vg_group groups[NGROUPS];
	struct vg_identity id = { .uid_min = 60000, .uid_max = 60999, .gid_min = 60000, .gid_max = 64999,
				  .nusers = NUSERS, .users = users, .ngroups = NGROUPS, .groups = groups };
	struct vg_grant g = { .uid = 60001, .expires = vg_now() + 3600 };
	struct vg_err err = { 0 };

	for (int i = 0; i < NUSERS; i++) {
		snprintf(names[i], sizeof(names[i]), "u%03d", i);
		users[i] = (struct vg_user){ .name = names[i], .uid = 60000 + (uint32_t)i, .gid = 60000 + (uint32_t)i,
					     .gecos = "", .home = "/home/u", .shell = (char *)shell };
		members[i % NGROUPS][i / NGROUPS] = names[i];
	}
	for (int k = 0; k < NGROUPS; k++) {
		snprintf(gnames[k], sizeof(gnames[k]), "g%d", k);
		groups[k] = (struct vg_group){ .name = gnames[k], .gid = 61000 + (uint32_t)k,
					       .nmembers = NUSERS / NGROUPS, .members = members[k] };
	}
	snprintf(g.user, sizeof(g.user), "u001");
	assert_int_equal(vg_nssc_build_identity(&id, "elev", 64000, NULL, 1, vg_now(), &v->pw, &v->gr, NULL, &err), 0);
	assert_int_equal(vg_nssc_build_members("elev", 64000, &g, 1, 60000, 64999, 1, vg_now(), &v->mb, NULL, &err),
			 0);
}

static void write_version(const struct version *v)
{
	struct vg_err err = { 0 };

	if (vg_nssc_buf_write(dir, VG_NSSC_PASSWD_FILE, &v->pw, &err) < 0 ||
	    vg_nssc_buf_write(dir, VG_NSSC_GROUP_FILE, &v->gr, &err) < 0 ||
	    vg_nssc_buf_write(dir, VG_NSSC_MEMBERS_FILE, &v->mb, &err) < 0)
		fail_once("write", 0);
}

static void *writer(void *arg)
{
	for (int i = 0; !atomic_load(&stop); i++) {
		write_version(&ver[i % 2]);
		atomic_fetch_add(&rewrites, 1);
		usleep(2000);
	}
	return NULL;
}

static void check_user(unsigned seed)
{
	int i = (int)(seed % NUSERS), e = 0;
	char name[16], buf[256], tiny[8];
	struct passwd pw;
	enum nss_status s;

	snprintf(name, sizeof(name), "u%03d", i);
	s = _nss_vigil_getpwnam_r(name, &pw, buf, sizeof(buf), &e);
	if (s != NSS_STATUS_SUCCESS || pw.pw_uid != 60000u + (unsigned)i ||
	    (strcmp(pw.pw_shell, "/bin/a") && strcmp(pw.pw_shell, "/bin/b")))
		fail_once("getpwnam_r", s);
	s = _nss_vigil_getpwuid_r(60000 + (uid_t)i, &pw, buf, sizeof(buf), &e);
	if (s != NSS_STATUS_SUCCESS || strcmp(pw.pw_name, name))
		fail_once("getpwuid_r", s);
	s = _nss_vigil_getpwnam_r(name, &pw, tiny, sizeof(tiny), &e);
	if (s != NSS_STATUS_TRYAGAIN || e != ERANGE)
		fail_once("getpwnam_r ERANGE", s);
	s = _nss_vigil_getpwnam_r("nobody-here", &pw, buf, sizeof(buf), &e);
	if (s != NSS_STATUS_NOTFOUND)
		fail_once("getpwnam_r absent", s);
}

static void check_groups(unsigned seed)
{
	int i = (int)(seed % NUSERS), e = 0;
	char name[16], buf[1024];
	struct group gr;
	enum nss_status s;
	long start = 0, size = 2;
	gid_t *gids = malloc((size_t)size * sizeof(gid_t));
	size_t n = 0;

	snprintf(name, sizeof(name), "g%d", i % NGROUPS);
	s = _nss_vigil_getgrnam_r(name, &gr, buf, sizeof(buf), &e);
	while (s == NSS_STATUS_SUCCESS && gr.gr_mem[n])
		n++;
	if (s != NSS_STATUS_SUCCESS || gr.gr_gid != 61000u + (unsigned)(i % NGROUPS) || n != NUSERS / NGROUPS)
		fail_once("getgrnam_r", s);
	s = _nss_vigil_getgrgid_r(64000, &gr, buf, sizeof(buf), &e);
	if (s != NSS_STATUS_SUCCESS || strcmp(gr.gr_name, "elev") || !gr.gr_mem[0] || strcmp(gr.gr_mem[0], "u001"))
		fail_once("getgrgid_r elevation", s);
	snprintf(name, sizeof(name), "u%03d", i);
	s = _nss_vigil_initgroups_dyn(name, 60000 + (gid_t)i, &start, &size, &gids, 0, &e);
	if (s != NSS_STATUS_SUCCESS || start != (i == 1 ? 2 : 1) || gids[0] != 61000u + (unsigned)(i % NGROUPS))
		fail_once("initgroups_dyn", (int)start);
	free(gids);
}

static void *reader(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 7919u;

	while (!atomic_load(&stop)) {
		seed = seed * 1103515245u + 12345u;
		check_user(seed >> 8);
		check_groups(seed >> 12);
		atomic_fetch_add(&lookups, 1);
	}
	return NULL;
}

/* glibc serialises enumerations per process; one thread does them here, the
 * others keep looking up in parallel */
static void *enumerator(void *arg)
{
	while (!atomic_load(&stop)) {
		struct passwd pw;
		char buf[256];
		int e = 0, n = 0;
		char shell[16] = "";

		if (_nss_vigil_setpwent(0) != NSS_STATUS_SUCCESS)
			fail_once("setpwent", 0);
		while (_nss_vigil_getpwent_r(&pw, buf, sizeof(buf), &e) == NSS_STATUS_SUCCESS) {
			/* one snapshot: every entry of one enumeration has the same shell */
			if (n++ == 0)
				snprintf(shell, sizeof(shell), "%s", pw.pw_shell);
			else if (strcmp(shell, pw.pw_shell))
				fail_once("enumeration mixed two cache versions", n);
			usleep(20);
		}
		_nss_vigil_endpwent();
		if (n != NUSERS)
			fail_once("enumeration length", n);
		n = 0;
		_nss_vigil_setgrent(0);
		while (_nss_vigil_getgrent_r(&(struct group){ 0 }, buf, sizeof(buf), &e) == NSS_STATUS_SUCCESS)
			n++;
		_nss_vigil_endgrent();
		if (n != NGROUPS + 1)
			fail_once("group enumeration length", n);
		atomic_fetch_add(&lookups, 1);
	}
	return NULL;
}

static void test_lookups_during_replacement(void **state)
{
	pthread_t w, e, r[READERS];

	assert_non_null(mkdtemp(dir));
	assert_int_equal(setenv("VIGIL_NSS_CACHE_DIR", dir, 1), 0);
	build_version(&ver[0], "/bin/a");
	build_version(&ver[1], "/bin/b");
	write_version(&ver[0]);
	assert_int_equal(pthread_create(&w, NULL, writer, NULL), 0);
	assert_int_equal(pthread_create(&e, NULL, enumerator, NULL), 0);
	for (uintptr_t i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&r[i], NULL, reader, (void *)(i + 1)), 0);
	usleep(RUN_MS * 1000);
	atomic_store(&stop, true);
	pthread_join(w, NULL);
	pthread_join(e, NULL);
	for (int i = 0; i < READERS; i++)
		pthread_join(r[i], NULL);
	fprintf(stderr, "%ld lookup rounds during %ld cache replacements\n", atomic_load(&lookups),
		atomic_load(&rewrites));
	assert_int_equal(atomic_load(&failures), 0);
	assert_true(atomic_load(&rewrites) >= 5); /* each one fsyncs 3 files: slow disks make few */
	assert_true(atomic_load(&lookups) > 100);
}

static void test_missing_and_corrupt_cache_unavail(void **state)
{
	char path[256], buf[256];
	struct passwd pw;
	struct group gr;
	struct vg_err err = { 0 };
	int e = 0;
	long start = 0, size = 1;
	gid_t *gids = malloc(sizeof(gid_t));
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, VG_NSSC_PASSWD_FILE);
	assert_int_equal(_nss_vigil_getpwnam_r("u001", &pw, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
	f = fopen(path, "r+");
	assert_non_null(f);
	fseek(f, 300, SEEK_SET);
	fputc('!', f); /* in place: the size stays, the mtime moves */
	fclose(f);
	/* the private copy made before still answers: changed on disk is not changed in memory */
	assert_int_equal(_nss_vigil_getpwnam_r("u001", &pw, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
	assert_int_equal(vg_nssc_write_set(dir, NULL, 0, &err), 0); /* bump: readers look again */
	assert_int_equal(_nss_vigil_getpwnam_r("u001", &pw, buf, sizeof(buf), &e), NSS_STATUS_UNAVAIL);
	assert_int_equal(_nss_vigil_setpwent(0), NSS_STATUS_UNAVAIL); /* the damage is known now */
	assert_int_equal(_nss_vigil_getpwent_r(&pw, buf, sizeof(buf), &e), NSS_STATUS_UNAVAIL);
	_nss_vigil_endpwent();
	assert_int_equal(truncate(path, 100), 0);
	assert_int_equal(_nss_vigil_getpwuid_r(60001, &pw, buf, sizeof(buf), &e), NSS_STATUS_UNAVAIL);
	unlink(path);
	assert_int_equal(_nss_vigil_getpwnam_r("u001", &pw, buf, sizeof(buf), &e), NSS_STATUS_UNAVAIL);
	assert_int_equal(e, ENOENT);
	/* group lookups need members.cache too */
	snprintf(path, sizeof(path), "%s/%s", dir, VG_NSSC_MEMBERS_FILE);
	unlink(path);
	assert_int_equal(_nss_vigil_getgrnam_r("g1", &gr, buf, sizeof(buf), &e), NSS_STATUS_UNAVAIL);
	assert_int_equal(_nss_vigil_initgroups_dyn("u001", 60001, &start, &size, &gids, 0, &e), NSS_STATUS_UNAVAIL);
	free(gids);
	for (int i = 0; i < 2; i++) {
		vg_nssc_buf_free(&ver[i].pw);
		vg_nssc_buf_free(&ver[i].gr);
		vg_nssc_buf_free(&ver[i].mb);
	}
}

/* runs even when a test failed half-way */
static int remove_dir(void **state)
{
	static const char *const files[] = { VG_NSSC_PASSWD_FILE, VG_NSSC_GROUP_FILE, VG_NSSC_MEMBERS_FILE,
					     VG_NSSC_GEN_FILE };
	char path[256];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookups_during_replacement),
		cmocka_unit_test(test_missing_and_corrupt_cache_unavail),
	};

	return cmocka_run_group_tests(tests, NULL, remove_dir);
}
