/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libnss_vigil.so.2: passwd, shadow and group entries from the cache vigild writes.
 * Runs inside every process of the host, so: libc only, files mapped
 * read-only, no lock held across calls (enumerations hold a reference to the
 * mapping they started on, not a lock), everything allocated is freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
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

/*
 * A cache file is never mapped: its pages are read into private anonymous
 * memory the first time a lookup needs them (vg_nssc_lazy_set_loader), so a
 * file truncated or rewritten on disk can fail a lookup but never fault.
 */
struct mapping {
	struct vg_nssc_view v;
	enum vg_nssc_kind kind;
	void *addr; /* private copy, len bytes, filled page by page */
	size_t len;
	dev_t dev;
	ino_t ino;
	struct timespec mtim;
	uint64_t gen;	 /* generation word when last found current; under map_lock */
	unsigned refs;	 /* under map_lock; the slot holds one while current */
	int fd;		 /* open while a call loads pages; under load_lock */
	uint64_t *loaded; /* a bit per body page read in; under load_lock */
	uint64_t lazy[];  /* which pages were checked (vg_nssc_view_parse_lazy) */
};

static const char *const file_of[] = {
	[VG_NSSC_PASSWD] = VG_NSSC_PASSWD_FILE,
	[VG_NSSC_GROUP] = VG_NSSC_GROUP_FILE,
	[VG_NSSC_MEMBERS] = VG_NSSC_MEMBERS_FILE,
};

static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mapping *current[VG_NSSC_MEMBERS + 1];
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
/* the generation word vigild bumps after replacing cache files; NULL until mapped */
static const uint64_t *gen_word;

/* set*ent/get*ent_r state (passwd, shadow, group); ent_lock only within one call */
static pthread_mutex_t ent_lock = PTHREAD_MUTEX_INITIALIZER;
struct pwent {
	struct mapping *m;
	size_t next;
};
static struct {
	struct pwent pw, sp;
	struct mapping *gr, *mem;
	size_t gr_next;
} ent;

/* A fork while another thread held a lock must not leave the child locked out. */
static void reset_locks_in_child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	map_lock = fresh;
	ent_lock = fresh;
	load_lock = fresh;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { pthread_atfork(NULL, NULL, reset_locks_in_child); }

const char *vg_nss_cache_dir(void)
{
	/* secure_getenv: setuid programs (su, sudo, passwd) never honour the override */
	const char *d = secure_getenv("VIGIL_NSS_CACHE_DIR");

	return d && d[0] == '/' ? d : VIGIL_NSS_CACHE_DIR;
}

/* The one trust decision: root-owned, of the expected type, writable by nobody but root. */
static bool trusted(const struct stat *st, mode_t type)
{
	return (st->st_mode & S_IFMT) == type && st->st_uid == 0 && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/* name in the cache directory, opened read-only: both must be trusted(); -EPERM otherwise */
static int open_trusted(const char *name, struct stat *st)
{
	int dfd, fd, r;

	dfd = open(vg_nss_cache_dir(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fstat(dfd, st) < 0) {
		r = -errno;
		goto out;
	}
	if (!trusted(st, S_IFDIR)) {
		r = -EPERM;
		goto out;
	}
	/* O_NONBLOCK: a FIFO put in place of the file must not block the open */
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fstat(fd, st) < 0)
		r = -errno;
	else
		r = trusted(st, S_IFREG) ? fd : -EPERM;
	if (r < 0)
		close(fd);
out:
	close(dfd);
	return r;
}

/* Maps the generation file once; until it exists every call compares the files with stat. */
static uint64_t generation(void)
{
	const uint64_t *w = __atomic_load_n(&gen_word, __ATOMIC_ACQUIRE);
	struct vg_nssc_gen *g;
	struct stat st;
	int fd;

	if (!w) {
		fd = open_trusted(VG_NSSC_GEN_FILE, &st);
		if (fd < 0)
			return 0;
		g = st.st_size == VG_NSSC_GEN_SIZE ? mmap(NULL, VG_NSSC_GEN_SIZE, PROT_READ, MAP_SHARED, fd, 0)
						  : MAP_FAILED;
		close(fd);
		if (g == MAP_FAILED)
			return 0;
		if (memcmp(g->magic, VG_NSSC_GEN_MAGIC, sizeof(g->magic)) != 0) {
			munmap(g, VG_NSSC_GEN_SIZE);
			return 0;
		}
		w = &g->counter;
		if (!__atomic_compare_exchange_n(&gen_word, &(const uint64_t *){ NULL }, w, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE)) {
			munmap(g, VG_NSSC_GEN_SIZE); /* another thread was first */
			w = __atomic_load_n(&gen_word, __ATOMIC_ACQUIRE);
		}
	}
	return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static bool same_file(const struct mapping *m, const struct stat *st)
{
	return m->dev == st->st_dev && m->ino == st->st_ino && (off_t)m->len == st->st_size &&
	       m->mtim.tv_sec == st->st_mtim.tv_sec && m->mtim.tv_nsec == st->st_mtim.tv_nsec;
}

/* Pages are read in groups of this many: fewer reads for a lookup's first binary search. */
#define LOAD_PAGES 4

/* vg_nssc_load_fn: reads the group of pages around page p from the file this mapping copies. */
static int load_pages(void *ctx, size_t p, size_t off, size_t len)
{
	struct mapping *m = ctx;
	size_t first = p - p % LOAD_PAGES, start, end;
	struct stat st;
	ssize_t n;
	int r = 0;

	pthread_mutex_lock(&load_lock);
	if (m->loaded[p / 64] & (1ull << (p % 64)))
		goto out;
	if (m->fd < 0) {
		m->fd = open_trusted(file_of[m->kind], &st);
		if (m->fd >= 0 && !same_file(m, &st)) {
			close(m->fd);
			m->fd = -ESTALE; /* replaced: this copy can no longer be completed */
		}
		if (m->fd < 0) {
			r = m->fd;
			m->fd = -1;
			goto out;
		}
	}
	start = m->v.body_off + first * VG_NSSC_PAGE;
	end = start + LOAD_PAGES * VG_NSSC_PAGE < m->len ? start + LOAD_PAGES * VG_NSSC_PAGE : m->len;
	n = pread(m->fd, (uint8_t *)m->addr + start, end - start, (off_t)start);
	if (n != (ssize_t)(end - start)) {
		r = n < 0 ? -errno : -EIO; /* shrunk on disk meanwhile */
		goto out;
	}
	for (size_t i = first; i < first + LOAD_PAGES && i < m->v.npages; i++)
		m->loaded[i / 64] |= 1ull << (i % 64);
out:
	pthread_mutex_unlock(&load_lock);
	return r;
}

/* the file stays open only within one call, so no descriptor outlives it */
static void close_loader(struct mapping *m)
{
	pthread_mutex_lock(&load_lock);
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	pthread_mutex_unlock(&load_lock);
}

/* The file this call found to be m's copy: pages it reads in come from it (release() closes it). */
static void adopt_fd(struct mapping *m, int fd)
{
	pthread_mutex_lock(&load_lock);
	if (m->fd < 0) {
		m->fd = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&load_lock);
	if (fd >= 0)
		close(fd);
}

static void mapping_free(struct mapping *m)
{
	if (!m)
		return;
	if (m->fd >= 0)
		close(m->fd);
	munmap(m->addr, m->len);
	free(m->loaded);
	free(m);
}

static void release(struct mapping *m)
{
	bool last;

	if (!m)
		return;
	close_loader(m);
	pthread_mutex_lock(&map_lock);
	last = --m->refs == 0;
	pthread_mutex_unlock(&map_lock);
	if (last)
		mapping_free(m);
}

/* A private copy of the open file fd: header and page table now, the body on demand. */
static int map_file(enum vg_nssc_kind kind, int fd, const struct stat *st, uint64_t gen, struct mapping **out)
{
	size_t len = (size_t)st->st_size, npages = len / VG_NSSC_PAGE + 1, prefix;
	struct mapping *m;
	int r;

	if (st->st_size <= 0 || (uint64_t)st->st_size > VG_NSSC_MAX_FILE)
		return -EBADMSG;
	m = calloc(1, sizeof(*m) + vg_nssc_lazy_size(len));
	if (!m)
		return -ENOMEM;
	m->fd = -1;
	m->addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	m->loaded = calloc(npages / 64 + 1, sizeof(uint64_t));
	if (m->addr == MAP_FAILED || !m->loaded) {
		if (m->addr == MAP_FAILED)
			m->addr = NULL;
		r = -ENOMEM;
		goto fail;
	}
	m->kind = kind;
	m->len = len;
	m->dev = st->st_dev;
	m->ino = st->st_ino;
	m->mtim = st->st_mtim;
	m->gen = gen;
	/* the header and the page table lie within the first header + 8 x pages bytes */
	prefix = sizeof(struct vg_nssc_header) + 8 * npages;
	if (prefix > len)
		prefix = len;
	if (pread(fd, m->addr, prefix, 0) != (ssize_t)prefix) {
		r = -EBADMSG;
		goto fail;
	}
	vg_nssc_lazy_set_loader((struct vg_nssc_lazy *)(void *)m->lazy, load_pages, m);
	/* pages the parse and the rest of this call touch come from the file already open (a
	 * replacement meanwhile cannot break the copy); release() at the call's end closes it */
	m->fd = fd;
	r = vg_nssc_view_parse_lazy(m->addr, len, kind, (struct vg_nssc_lazy *)(void *)m->lazy,
				    vg_nssc_lazy_size(len), &m->v);
	if (r < 0) {
		m->fd = -1; /* the caller closes fd */
		goto fail;
	}
	*out = m;
	return 0;
fail:
	if (!m->addr)
		m->len = 0;
	mapping_free(m);
	return r;
}

/* the current mapping of kind is still what the directory holds */
static struct mapping *current_ref(enum vg_nssc_kind kind, uint64_t gen, const struct stat *st)
{
	struct mapping *m;

	pthread_mutex_lock(&map_lock);
	m = current[kind];
	if (m && !vg_nssc_view_corrupt(&m->v) && (st ? same_file(m, st) : gen && m->gen == gen)) {
		m->gen = gen;
		m->refs++;
	} else {
		m = NULL;
	}
	pthread_mutex_unlock(&map_lock);
	return m;
}

/*
 * A reference to the current copy of kind. While the generation word is what
 * it was, no system call at all; otherwise the file is opened and compared,
 * and copied anew when it was replaced.
 */
static int acquire(enum vg_nssc_kind kind, struct mapping **out)
{
	struct mapping *m, *old = NULL;
	uint64_t gen;
	struct stat st;
	int fd, r;

	pthread_once(&atfork_once, register_atfork);
	gen = generation(); /* read before the file: a replacement after it bumps it again */
	m = current_ref(kind, gen, NULL);
	if (m) {
		*out = m;
		return 0;
	}
	fd = open_trusted(file_of[kind], &st);
	if (fd < 0)
		return fd;
	m = current_ref(kind, gen, &st);
	if (m) {
		adopt_fd(m, fd);
		*out = m;
		return 0;
	}
	/* copy and check outside map_lock: other threads keep using what they hold */
	r = map_file(kind, fd, &st, gen, &m);
	if (r < 0) {
		close(fd);
		return r;
	}
	pthread_mutex_lock(&map_lock);
	if (current[kind] && --current[kind]->refs == 0)
		old = current[kind];
	current[kind] = m;
	m->refs = 2;
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
	if (gen_word)
		munmap((void *)((const uint8_t *)gen_word - offsetof(struct vg_nssc_gen, counter)), VG_NSSC_GEN_SIZE);
	gen_word = NULL;
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

/*
 * A lookup runs again (at most ATTEMPTS times in all) when a copy found damaged
 * while reading may only be out of date: the file was replaced or rewritten
 * since it was copied, or two files it joins (a group and its members) come
 * from different replacements. Each run copies the files anew. A lookup
 * preempted across replacements on a loaded machine can straddle more than one:
 * four runs make that vanishingly rare, while damage that persists still
 * answers UNAVAIL after a bounded amount of work.
 */
#define ATTEMPTS 4

static bool again(int attempt, enum nss_status s, const struct mapping *a, const struct mapping *b)
{
	return s == NSS_STATUS_UNAVAIL && attempt + 1 < ATTEMPTS &&
	       ((a && vg_nssc_view_corrupt(&a->v)) || (b && vg_nssc_view_corrupt(&b->v)));
}

/* ---- passwd and shadow (both from passwd.cache) ---- */

typedef int fill_fn(const struct vg_nssc_view *v, const struct vg_nssc_passwd *r, void *out, char *buf,
		    size_t len);

static int fill_pw(const struct vg_nssc_view *v, const struct vg_nssc_passwd *r, void *out, char *buf, size_t len)
{
	return vg_nssc_fill_passwd(v, r, out, buf, len);
}

static int fill_sp(const struct vg_nssc_view *v, const struct vg_nssc_passwd *r, void *out, char *buf, size_t len)
{
	return vg_nssc_fill_shadow(v, r, out, buf, len);
}

/* by name, or by uid when name is NULL; a user past its valid_until is not found */
static enum nss_status pw_lookup(const char *name, uid_t uid, fill_fn *fill, void *out, char *buf, size_t len,
				 int *errnop)
{
	const struct vg_nssc_passwd *rec;
	struct mapping *m;
	enum nss_status s;
	bool retry;
	int r;

	for (int attempt = 0;; attempt++) {
		r = acquire(VG_NSSC_PASSWD, &m);
		if (r < 0)
			return unavail(r, errnop);
		rec = name ? vg_nssc_pw_by_name(&m->v, name) : vg_nssc_pw_by_uid(&m->v, uid);
		if (rec && !vg_nssc_pw_live(rec, time(NULL)))
			rec = NULL;
		s = rec ? from_fill(fill(&m->v, rec, out, buf, len), errnop) : miss(m, NULL, errnop);
		retry = again(attempt, s, m, NULL);
		release(m);
		if (!retry)
			return s;
	}
}

enum nss_status _nss_vigil_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len, int *errnop)
{
	return pw_lookup(name, 0, fill_pw, pw, buf, len, errnop);
}

enum nss_status _nss_vigil_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len, int *errnop)
{
	if (uid == 0)
		return notfound(errnop);
	return pw_lookup(NULL, uid, fill_pw, pw, buf, len, errnop);
}

enum nss_status _nss_vigil_getspnam_r(const char *name, struct spwd *sp, char *buf, size_t len, int *errnop)
{
	return pw_lookup(name, 0, fill_sp, sp, buf, len, errnop);
}

/*
 * Enumerations read the whole file into their copy before the first entry and
 * keep that copy to the end: an enumeration either starts on a complete,
 * checked version or fails at once, never half-way.
 */
static int acquire_whole(enum vg_nssc_kind kind, struct mapping **out)
{
	for (int attempt = 0;; attempt++) {
		int r = acquire(kind, out);

		if (r < 0)
			return r;
		if (vg_nssc_view_check_all(&(*out)->v)) {
			close_loader(*out); /* every page is in: no descriptor outlives this call */
			return 0;
		}
		release(*out);
		*out = NULL;
		if (attempt + 1 == ATTEMPTS)
			return -EBADMSG;
	}
}

static enum nss_status pwent_set(struct pwent *e)
{
	int r;

	pthread_mutex_lock(&ent_lock);
	release(e->m);
	e->m = NULL;
	e->next = 0;
	r = acquire_whole(VG_NSSC_PASSWD, &e->m);
	pthread_mutex_unlock(&ent_lock);
	return r < 0 ? NSS_STATUS_UNAVAIL : NSS_STATUS_SUCCESS;
}

static enum nss_status pwent_get(struct pwent *e, fill_fn *fill, void *out, char *buf, size_t len, int *errnop)
{
	const struct vg_nssc_passwd *rec;
	time_t now = time(NULL);
	enum nss_status s;
	int r = 0;

	pthread_mutex_lock(&ent_lock);
	if (!e->m)
		r = acquire_whole(VG_NSSC_PASSWD, &e->m);
	if (r < 0) {
		s = unavail(r, errnop);
		goto out;
	}
	/* users past their valid_until are skipped */
	while ((rec = vg_nssc_pw_at(&e->m->v, e->next)) && !vg_nssc_pw_live(rec, now))
		e->next++;
	if (!rec) {
		s = miss(e->m, NULL, errnop);
		goto out;
	}
	s = from_fill(fill(&e->m->v, rec, out, buf, len), errnop);
	/* a too-small buffer retries the same entry */
	if (s != NSS_STATUS_TRYAGAIN)
		e->next++;
out:
	pthread_mutex_unlock(&ent_lock);
	return s;
}

static enum nss_status pwent_end(struct pwent *e)
{
	pthread_mutex_lock(&ent_lock);
	release(e->m);
	e->m = NULL;
	e->next = 0;
	pthread_mutex_unlock(&ent_lock);
	return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_vigil_setpwent(int stayopen) { return pwent_set(&ent.pw); }

enum nss_status _nss_vigil_getpwent_r(struct passwd *pw, char *buf, size_t len, int *errnop)
{
	return pwent_get(&ent.pw, fill_pw, pw, buf, len, errnop);
}

enum nss_status _nss_vigil_endpwent(void) { return pwent_end(&ent.pw); }

enum nss_status _nss_vigil_setspent(int stayopen) { return pwent_set(&ent.sp); }

enum nss_status _nss_vigil_getspent_r(struct spwd *sp, char *buf, size_t len, int *errnop)
{
	return pwent_get(&ent.sp, fill_sp, sp, buf, len, errnop);
}

enum nss_status _nss_vigil_endspent(void) { return pwent_end(&ent.sp); }

/* ---- group ---- */

/* group.cache and members.cache together, or neither */
static int acquire_groups(struct mapping **g, struct mapping **mem, int (*get)(enum vg_nssc_kind, struct mapping **))
{
	int r = get(VG_NSSC_GROUP, g);

	if (r < 0)
		return r;
	r = get(VG_NSSC_MEMBERS, mem);
	if (r < 0) {
		release(*g);
		*g = NULL;
	}
	return r;
}

static enum nss_status gr_lookup(const char *name, gid_t gid, struct group *gr, char *buf, size_t len,
				 int *errnop)
{
	const struct vg_nssc_group *rec;
	struct mapping *g, *mem;
	const char *elev;
	enum nss_status s;
	bool retry;
	int r;

	for (int attempt = 0;; attempt++) {
		r = acquire_groups(&g, &mem, acquire);
		if (r < 0)
			return unavail(r, errnop);
		rec = name ? vg_nssc_gr_by_name(&g->v, name) : vg_nssc_gr_by_gid(&g->v, gid);
		elev = vg_nssc_has_elevation(&mem->v) ? vg_nssc_str(&mem->v, mem->v.aux_name, NULL) : NULL;
		if (rec)
			s = from_fill(vg_nssc_fill_group(&g->v, rec, gr, buf, len), errnop);
		else if (elev && (name ? strcmp(elev, name) == 0 : mem->v.aux == gid))
			s = from_fill(vg_nssc_fill_elevation(&mem->v, time(NULL), gr, buf, len), errnop);
		else
			s = miss(g, mem, errnop);
		retry = again(attempt, s, g, mem);
		release(g);
		release(mem);
		if (!retry)
			return s;
	}
}

enum nss_status _nss_vigil_getgrnam_r(const char *name, struct group *gr, char *buf, size_t len, int *errnop)
{
	return gr_lookup(name, 0, gr, buf, len, errnop);
}

enum nss_status _nss_vigil_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t len, int *errnop)
{
	if (gid == 0)
		return notfound(errnop);
	return gr_lookup(NULL, gid, gr, buf, len, errnop);
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
	r = acquire_groups(&ent.gr, &ent.mem, acquire_whole);
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
		r = acquire_groups(&ent.gr, &ent.mem, acquire_whole);
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

/* Every failure leaves *start where glibc had it: no partial list is ever an answer. */
enum nss_status _nss_vigil_initgroups_dyn(const char *user, gid_t group, long int *start, long int *size,
					  gid_t **groupsp, long int limit, int *errnop)
{
	const long int start0 = *start;
	struct mapping *g, *mem;
	struct gids a;
	bool retry;
	int r;

	for (int attempt = 0;; attempt++) {
		r = acquire_groups(&g, &mem, acquire);
		if (r < 0)
			return unavail(r, errnop);
		*start = start0;
		a = (struct gids){ .skip = group, .start = start, .size = size, .limit = limit, .groups = groupsp };
		r = vg_nssc_user_groups(&g->v, &mem->v, user, time(NULL), add_gid, &a);
		if (r == -ENOSPC)
			r = 0;
		retry = r < 0 && again(attempt, NSS_STATUS_UNAVAIL, g, mem);
		release(g);
		release(mem);
		if (!retry)
			break;
	}
	if (r < 0)
		*start = start0;
	if (r == -ENOMEM) {
		*errnop = ENOMEM;
		return NSS_STATUS_TRYAGAIN;
	}
	if (r < 0)
		return unavail(r, errnop);
	return a.added ? NSS_STATUS_SUCCESS : notfound(errnop);
}
