/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libnss_vigil.so.2: passwd and group entries from the cache vigild writes.
 * Runs inside every process of the host, so: libc only, files mapped
 * read-only, no lock held across calls (enumerations hold a reference to the
 * mapping they started on, not a lock), everything allocated is freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <nss.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nss_vigil.h"
#include "nsscache_read.h"

#ifndef VIGIL_NSS_CACHE_DIR
#define VIGIL_NSS_CACHE_DIR VG_NSSC_DEFAULT_DIR
#endif

struct mapping {
	struct vg_nssc_view v;
	void *addr;
	size_t len;
	dev_t dev;
	ino_t ino;
	struct timespec mtim;
	unsigned refs; /* under map_lock; the slot holds one while current */
	uint64_t lazy[]; /* which pages were checked (vg_nssc_view_parse_lazy) */
};

static const char *const file_of[] = {
	[VG_NSSC_PASSWD] = VG_NSSC_PASSWD_FILE,
	[VG_NSSC_GROUP] = VG_NSSC_GROUP_FILE,
	[VG_NSSC_MEMBERS] = VG_NSSC_MEMBERS_FILE,
};

static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mapping *current[VG_NSSC_MEMBERS + 1];

/* setpwent/getpwent_r and setgrent/getgrent_r state; ent_lock only within one call */
static pthread_mutex_t ent_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	struct mapping *pw;
	size_t pw_next;
	struct mapping *gr, *mem;
	size_t gr_next;
} ent;

/* A fork while another thread held a lock must not leave the child locked out. */
static void reset_locks_in_child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	map_lock = fresh;
	ent_lock = fresh;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { pthread_atfork(NULL, NULL, reset_locks_in_child); }

const char *vg_nss_cache_dir(void)
{
	/* secure_getenv: setuid programs (su, sudo, passwd) never honour the override */
	const char *d = secure_getenv("VIGIL_NSS_CACHE_DIR");

	return d && d[0] == '/' ? d : VIGIL_NSS_CACHE_DIR;
}

static bool same_file(const struct mapping *m, const struct stat *st)
{
	return m->dev == st->st_dev && m->ino == st->st_ino && (off_t)m->len == st->st_size &&
	       m->mtim.tv_sec == st->st_mtim.tv_sec && m->mtim.tv_nsec == st->st_mtim.tv_nsec;
}

static void mapping_free(struct mapping *m)
{
	if (!m)
		return;
	munmap(m->addr, m->len);
	free(m);
}

static void release(struct mapping *m)
{
	bool last;

	if (!m)
		return;
	pthread_mutex_lock(&map_lock);
	last = --m->refs == 0;
	pthread_mutex_unlock(&map_lock);
	if (last)
		mapping_free(m);
}

static int map_file(enum vg_nssc_kind kind, const char *path, struct mapping **out)
{
	struct mapping *m;
	struct stat st;
	void *addr;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > VG_NSSC_MAX_FILE) {
		close(fd);
		return -EBADMSG;
	}
	addr = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (addr == MAP_FAILED)
		return -errno;
	m = calloc(1, sizeof(*m) + vg_nssc_lazy_size((size_t)st.st_size));
	if (!m) {
		munmap(addr, (size_t)st.st_size);
		return -ENOMEM;
	}
	m->addr = addr;
	m->len = (size_t)st.st_size;
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	m->mtim = st.st_mtim;
	r = vg_nssc_view_parse_lazy(addr, m->len, kind, (struct vg_nssc_lazy *)(void *)m->lazy,
				    vg_nssc_lazy_size(m->len), &m->v);
	if (r < 0) {
		mapping_free(m);
		return r;
	}
	*out = m;
	return 0;
}

/* A reference to the current mapping of kind, re-mapped when the file was replaced. */
static int acquire(enum vg_nssc_kind kind, struct mapping **out)
{
	char path[PATH_MAX];
	struct mapping *m, *old = NULL;
	struct stat st;
	int r;

	pthread_once(&atfork_once, register_atfork);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", vg_nss_cache_dir(), file_of[kind]) >= sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, &st) < 0)
		return -errno;
	pthread_mutex_lock(&map_lock);
	m = current[kind];
	if (m && same_file(m, &st)) {
		m->refs++;
		pthread_mutex_unlock(&map_lock);
		*out = m;
		return 0;
	}
	pthread_mutex_unlock(&map_lock);

	/* map and check outside the lock: other threads keep using what they hold */
	r = map_file(kind, path, &m);
	if (r < 0)
		return r;
	pthread_mutex_lock(&map_lock);
	if (current[kind] && current[kind]->ino == m->ino && current[kind]->dev == m->dev &&
	    current[kind]->len == m->len && current[kind]->mtim.tv_sec == m->mtim.tv_sec &&
	    current[kind]->mtim.tv_nsec == m->mtim.tv_nsec) {
		/* another thread mapped the same file meanwhile */
		old = m;
		m = current[kind];
		m->refs++;
	} else {
		if (current[kind] && --current[kind]->refs == 0)
			old = current[kind];
		current[kind] = m;
		m->refs = 2;
	}
	pthread_mutex_unlock(&map_lock);
	mapping_free(old);
	*out = m;
	return 0;
}

/* Drops the mappings this library still holds when it is unloaded or the process exits;
 * a mapping another thread is using stays until that thread releases it. */
__attribute__((destructor)) static void drop_current(void)
{
	for (size_t k = 0; k < sizeof(current) / sizeof(current[0]); k++) {
		struct mapping *m;

		pthread_mutex_lock(&map_lock);
		m = current[k];
		current[k] = NULL;
		pthread_mutex_unlock(&map_lock);
		release(m);
	}
}

static enum nss_status unavail(int r, int *errnop)
{
	*errnop = r == -ENOENT ? ENOENT : EIO;
	return NSS_STATUS_UNAVAIL;
}

static enum nss_status from_fill(int r, int *errnop)
{
	if (r == 0)
		return NSS_STATUS_SUCCESS;
	if (r == -ERANGE) {
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	*errnop = EIO;
	return NSS_STATUS_UNAVAIL;
}

static enum nss_status notfound(int *errnop)
{
	*errnop = ENOENT;
	return NSS_STATUS_NOTFOUND;
}

/* Nothing found: truly absent, or a page on the way did not match its checksum. */
static enum nss_status miss(const struct mapping *a, const struct mapping *b, int *errnop)
{
	if (vg_nssc_view_corrupt(&a->v) || (b && vg_nssc_view_corrupt(&b->v)))
		return unavail(-EBADMSG, errnop);
	return notfound(errnop);
}

/* ---- passwd ---- */

enum nss_status _nss_vigil_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len, int *errnop)
{
	const struct vg_nssc_passwd *rec;
	struct mapping *m;
	enum nss_status s;
	int r;

	r = acquire(VG_NSSC_PASSWD, &m);
	if (r < 0)
		return unavail(r, errnop);
	rec = vg_nssc_pw_by_name(&m->v, name);
	s = rec ? from_fill(vg_nssc_fill_passwd(&m->v, rec, pw, buf, len), errnop) : miss(m, NULL, errnop);
	release(m);
	return s;
}

enum nss_status _nss_vigil_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len, int *errnop)
{
	const struct vg_nssc_passwd *rec;
	struct mapping *m;
	enum nss_status s;
	int r;

	if (uid == 0)
		return notfound(errnop);
	r = acquire(VG_NSSC_PASSWD, &m);
	if (r < 0)
		return unavail(r, errnop);
	rec = vg_nssc_pw_by_uid(&m->v, uid);
	s = rec ? from_fill(vg_nssc_fill_passwd(&m->v, rec, pw, buf, len), errnop) : miss(m, NULL, errnop);
	release(m);
	return s;
}

enum nss_status _nss_vigil_setpwent(int stayopen)
{
	struct mapping *m = NULL;
	int r;

	pthread_mutex_lock(&ent_lock);
	release(ent.pw);
	ent.pw = NULL;
	ent.pw_next = 0;
	r = acquire(VG_NSSC_PASSWD, &m);
	if (r == 0)
		ent.pw = m;
	pthread_mutex_unlock(&ent_lock);
	return r < 0 || vg_nssc_view_corrupt(&m->v) ? NSS_STATUS_UNAVAIL : NSS_STATUS_SUCCESS;
}

enum nss_status _nss_vigil_getpwent_r(struct passwd *pw, char *buf, size_t len, int *errnop)
{
	const struct vg_nssc_passwd *rec;
	enum nss_status s;
	int r = 0;

	pthread_mutex_lock(&ent_lock);
	if (!ent.pw)
		r = acquire(VG_NSSC_PASSWD, &ent.pw);
	if (r < 0) {
		ent.pw = NULL;
		s = unavail(r, errnop);
	} else if (!(rec = vg_nssc_pw_at(&ent.pw->v, ent.pw_next))) {
		s = miss(ent.pw, NULL, errnop);
	} else {
		s = from_fill(vg_nssc_fill_passwd(&ent.pw->v, rec, pw, buf, len), errnop);
		/* a too-small buffer retries the same entry */
		if (s != NSS_STATUS_TRYAGAIN)
			ent.pw_next++;
	}
	pthread_mutex_unlock(&ent_lock);
	return s;
}

enum nss_status _nss_vigil_endpwent(void)
{
	pthread_mutex_lock(&ent_lock);
	release(ent.pw);
	ent.pw = NULL;
	ent.pw_next = 0;
	pthread_mutex_unlock(&ent_lock);
	return NSS_STATUS_SUCCESS;
}

/* ---- group ---- */

/* group.cache and members.cache together, or neither */
static int acquire_groups(struct mapping **g, struct mapping **mem)
{
	int r = acquire(VG_NSSC_GROUP, g);

	if (r < 0)
		return r;
	r = acquire(VG_NSSC_MEMBERS, mem);
	if (r < 0) {
		release(*g);
		*g = NULL;
	}
	return r;
}

enum nss_status _nss_vigil_getgrnam_r(const char *name, struct group *gr, char *buf, size_t len, int *errnop)
{
	const struct vg_nssc_group *rec;
	struct mapping *g, *mem;
	const char *elev;
	enum nss_status s;
	int r;

	r = acquire_groups(&g, &mem);
	if (r < 0)
		return unavail(r, errnop);
	rec = vg_nssc_gr_by_name(&g->v, name);
	elev = vg_nssc_has_elevation(&mem->v) ? vg_nssc_str(&mem->v, mem->v.aux_name, NULL) : NULL;
	if (rec)
		s = from_fill(vg_nssc_fill_group(&g->v, rec, gr, buf, len), errnop);
	else if (elev && strcmp(elev, name) == 0)
		s = from_fill(vg_nssc_fill_elevation(&mem->v, time(NULL), gr, buf, len), errnop);
	else
		s = miss(g, mem, errnop);
	release(g);
	release(mem);
	return s;
}

enum nss_status _nss_vigil_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t len, int *errnop)
{
	const struct vg_nssc_group *rec;
	struct mapping *g, *mem;
	enum nss_status s;
	int r;

	if (gid == 0)
		return notfound(errnop);
	r = acquire_groups(&g, &mem);
	if (r < 0)
		return unavail(r, errnop);
	rec = vg_nssc_gr_by_gid(&g->v, gid);
	if (rec)
		s = from_fill(vg_nssc_fill_group(&g->v, rec, gr, buf, len), errnop);
	else if (vg_nssc_has_elevation(&mem->v) && mem->v.aux == gid)
		s = from_fill(vg_nssc_fill_elevation(&mem->v, time(NULL), gr, buf, len), errnop);
	else
		s = miss(g, mem, errnop);
	release(g);
	release(mem);
	return s;
}

static void grent_reset(void)
{
	release(ent.gr);
	release(ent.mem);
	ent.gr = ent.mem = NULL;
	ent.gr_next = 0;
}

enum nss_status _nss_vigil_setgrent(int stayopen)
{
	int r;

	pthread_mutex_lock(&ent_lock);
	grent_reset();
	r = acquire_groups(&ent.gr, &ent.mem);
	if (r < 0)
		ent.gr = ent.mem = NULL;
	pthread_mutex_unlock(&ent_lock);
	return r < 0 ? NSS_STATUS_UNAVAIL : NSS_STATUS_SUCCESS;
}

enum nss_status _nss_vigil_getgrent_r(struct group *gr, char *buf, size_t len, int *errnop)
{
	const struct vg_nssc_group *rec;
	enum nss_status s;
	int r = 0;

	pthread_mutex_lock(&ent_lock);
	if (!ent.gr)
		r = acquire_groups(&ent.gr, &ent.mem);
	if (r < 0) {
		ent.gr = ent.mem = NULL;
		s = unavail(r, errnop);
	} else if ((rec = vg_nssc_gr_at(&ent.gr->v, ent.gr_next))) {
		s = from_fill(vg_nssc_fill_group(&ent.gr->v, rec, gr, buf, len), errnop);
	} else if (ent.gr_next == ent.gr->v.count && vg_nssc_has_elevation(&ent.mem->v)) {
		/* the elevation group comes last */
		s = from_fill(vg_nssc_fill_elevation(&ent.mem->v, time(NULL), gr, buf, len), errnop);
	} else {
		s = miss(ent.gr, ent.mem, errnop);
	}
	if (s == NSS_STATUS_SUCCESS)
		ent.gr_next++;
	pthread_mutex_unlock(&ent_lock);
	return s;
}

enum nss_status _nss_vigil_endgrent(void)
{
	pthread_mutex_lock(&ent_lock);
	grent_reset();
	pthread_mutex_unlock(&ent_lock);
	return NSS_STATUS_SUCCESS;
}

struct gids {
	gid_t skip;
	long int *start, *size, limit;
	gid_t **groups;
	bool added;
};

static int add_gid(gid_t gid, void *arg)
{
	struct gids *a = arg;

	if (gid == a->skip)
		return 0;
	for (long int i = 0; i < *a->start; i++)
		if ((*a->groups)[i] == gid)
			return 0;
	if (*a->start == *a->size) {
		long int nsize = *a->size ? 2 * *a->size : 16;
		gid_t *ng;

		if (a->limit > 0 && *a->size >= a->limit)
			return -ENOSPC; /* glibc's limit reached: what fits is the answer */
		if (a->limit > 0 && nsize > a->limit)
			nsize = a->limit;
		ng = realloc(*a->groups, (size_t)nsize * sizeof(gid_t));
		if (!ng)
			return -ENOMEM;
		*a->groups = ng;
		*a->size = nsize;
	}
	(*a->groups)[(*a->start)++] = gid;
	a->added = true;
	return 0;
}

enum nss_status _nss_vigil_initgroups_dyn(const char *user, gid_t group, long int *start, long int *size,
					  gid_t **groupsp, long int limit, int *errnop)
{
	struct gids a = { .skip = group, .start = start, .size = size, .limit = limit, .groups = groupsp };
	struct mapping *g, *mem;
	int r;

	r = acquire_groups(&g, &mem);
	if (r < 0)
		return unavail(r, errnop);
	r = vg_nssc_user_groups(&g->v, &mem->v, user, time(NULL), add_gid, &a);
	release(g);
	release(mem);
	if (r == -ENOMEM) {
		*errnop = ENOMEM;
		return NSS_STATUS_TRYAGAIN;
	}
	if (r < 0 && r != -ENOSPC)
		return unavail(r, errnop);
	return a.added ? NSS_STATUS_SUCCESS : notfound(errnop);
}
