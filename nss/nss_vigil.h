/* SPDX-License-Identifier: Apache-2.0 */
/* The entry points glibc looks up in libnss_vigil.so.2 (the "vigil" service of nsswitch.conf). */
#ifndef VIGIL_NSS_VIGIL_H
#define VIGIL_NSS_VIGIL_H

#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <shadow.h>
#include <stddef.h>
#include <sys/types.h>

/* The cache directory: fixed at build time; VIGIL_NSS_CACHE_DIR (absolute) for tests,
 * ignored by setuid programs. */
const char *vg_nss_cache_dir(void);

enum nss_status _nss_vigil_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len, int *errnop);
enum nss_status _nss_vigil_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len, int *errnop);
enum nss_status _nss_vigil_setpwent(int stayopen);
enum nss_status _nss_vigil_getpwent_r(struct passwd *pw, char *buf, size_t len, int *errnop);
enum nss_status _nss_vigil_endpwent(void);
enum nss_status _nss_vigil_getspnam_r(const char *name, struct spwd *sp, char *buf, size_t len, int *errnop);
enum nss_status _nss_vigil_setspent(int stayopen);
enum nss_status _nss_vigil_getspent_r(struct spwd *sp, char *buf, size_t len, int *errnop);
enum nss_status _nss_vigil_endspent(void);
enum nss_status _nss_vigil_getgrnam_r(const char *name, struct group *gr, char *buf, size_t len, int *errnop);
enum nss_status _nss_vigil_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t len, int *errnop);
enum nss_status _nss_vigil_setgrent(int stayopen);
enum nss_status _nss_vigil_getgrent_r(struct group *gr, char *buf, size_t len, int *errnop);
enum nss_status _nss_vigil_endgrent(void);
enum nss_status _nss_vigil_initgroups_dyn(const char *user, gid_t group, long int *start, long int *size,
					  gid_t **groupsp, long int limit, int *errnop);

#endif
