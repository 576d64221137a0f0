/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dispatch floor for bench/nss.sh: libnss_fixed.so.2 answers every
 * u%06d / uid >= 100000 and g%05d / gid >= 200000 with a fixed entry, without
 * reading anything. What a lookup through it costs is glibc's own NSS
 * dispatch; vigil is measured against it in the same run.
 */
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <string.h>

enum nss_status _nss_fixed_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len, int *errnop);
enum nss_status _nss_fixed_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len, int *errnop);
enum nss_status _nss_fixed_getgrnam_r(const char *name, struct group *gr, char *buf, size_t len, int *errnop);
enum nss_status _nss_fixed_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t len, int *errnop);

static enum nss_status pw(const char *name, uid_t uid, struct passwd *p, char *buf, size_t len, int *errnop)
{
	static const char strs[] = "u000000\0x\0Bench User\0/home/u\0/bin/bash";

	if (len < sizeof(strs)) {
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	memcpy(buf, strs, sizeof(strs));
	if (name)
		memcpy(buf, name, 7);
	p->pw_name = buf;
	p->pw_passwd = buf + 8;
	p->pw_gecos = buf + 10;
	p->pw_dir = buf + 21;
	p->pw_shell = buf + 29;
	p->pw_uid = uid;
	p->pw_gid = 200000;
	return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_fixed_getpwnam_r(const char *name, struct passwd *p, char *buf, size_t len, int *errnop)
{
	if (name[0] != 'u' || strlen(name) != 7) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	return pw(name, 100000, p, buf, len, errnop);
}

enum nss_status _nss_fixed_getpwuid_r(uid_t uid, struct passwd *p, char *buf, size_t len, int *errnop)
{
	if (uid < 100000) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	return pw(NULL, uid, p, buf, len, errnop);
}

static enum nss_status gr(gid_t gid, struct group *g, char *buf, size_t len, int *errnop)
{
	if (len < sizeof(char *) + 16) {
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	g->gr_mem = (char **)(void *)buf;
	g->gr_mem[0] = NULL;
	g->gr_name = memcpy(buf + sizeof(char *), "g00000\0x", 9);
	g->gr_passwd = g->gr_name + 7;
	g->gr_gid = gid;
	return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_fixed_getgrnam_r(const char *name, struct group *g, char *buf, size_t len, int *errnop)
{
	if (name[0] != 'g') {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	return gr(200000, g, buf, len, errnop);
}

enum nss_status _nss_fixed_getgrgid_r(gid_t gid, struct group *g, char *buf, size_t len, int *errnop)
{
	if (gid < 200000) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	return gr(gid, g, buf, len, errnop);
}
