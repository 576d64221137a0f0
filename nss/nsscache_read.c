/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded reader of the NSS cache files; see nsscache_read.h. */
#include <errno.h>
#include <string.h>

#include "nsscache_read.h"

static const size_t record_size[] = {
	[VG_NSSC_PASSWD] = sizeof(struct vg_nssc_passwd),
	[VG_NSSC_GROUP] = sizeof(struct vg_nssc_group),
	[VG_NSSC_MEMBERS] = sizeof(struct vg_nssc_grant),
};

struct vg_nssc_lazy {
	uint32_t bad;
	uint32_t reserved;
	vg_nssc_load_fn *load; /* NULL: the whole file is already in memory */
	void *load_ctx;
	uint64_t checked[]; /* a bit per body page */
};

void vg_nssc_lazy_set_loader(struct vg_nssc_lazy *state, vg_nssc_load_fn *load, void *ctx)
{
	state->load = load;
	state->load_ctx = ctx;
}

/* ---- parsing and page checks ---- */

static bool section_ok(const struct vg_nssc_header *h, size_t len, int i)
{
	const struct vg_nssc_section *s = &h->sec[i];

	return s->off % 8 == 0 && s->off >= h->header_size && s->off <= len && s->size <= len - s->off;
}

static uint64_t page_sum(const struct vg_nssc_view *v, size_t p)
{
	size_t start = v->body_off + p * VG_NSSC_PAGE;
	size_t len = v->size - start < VG_NSSC_PAGE ? v->size - start : VG_NSSC_PAGE;

	return vg_nssc_page_checksum(p, v->base + start, len);
}

/* Brings page p into memory (when a loader is set) and checks it against the page table. */
static bool page_ok(const struct vg_nssc_view *v, size_t p)
{
	struct vg_nssc_lazy *lz = v->lazy;
	size_t start = v->body_off + p * VG_NSSC_PAGE;
	size_t len = v->size - start < VG_NSSC_PAGE ? v->size - start : VG_NSSC_PAGE;

	if (lz->load && lz->load(lz->load_ctx, p, start, len) < 0)
		return false;
	return page_sum(v, p) == v->pages[p];
}

/* Checks the body pages under [off, off + len) once; false when one does not match. */
static bool touch(const struct vg_nssc_view *v, size_t off, size_t len)
{
	struct vg_nssc_lazy *lz = v->lazy;
	size_t first, last;

	if (!lz)
		return true;
	if (__atomic_load_n(&lz->bad, __ATOMIC_ACQUIRE))
		return false;
	if (len == 0 || off < v->body_off || off > v->size || len > v->size - off)
		return len == 0;
	first = (off - v->body_off) / VG_NSSC_PAGE;
	last = (off + len - 1 - v->body_off) / VG_NSSC_PAGE;
	for (size_t p = first; p <= last && p < v->npages; p++) {
		uint64_t bit = 1ull << (p % 64), *w = &lz->checked[p / 64];

		if (__atomic_load_n(w, __ATOMIC_ACQUIRE) & bit)
			continue;
		if (!page_ok(v, p)) {
			__atomic_store_n(&lz->bad, 1, __ATOMIC_RELEASE);
			return false;
		}
		__atomic_fetch_or(w, bit, __ATOMIC_RELEASE);
	}
	return true;
}

bool vg_nssc_view_check_all(const struct vg_nssc_view *v)
{
	return touch(v, v->body_off, v->size - v->body_off);
}

bool vg_nssc_view_corrupt(const struct vg_nssc_view *v)
{
	return v->lazy && __atomic_load_n(&v->lazy->bad, __ATOMIC_ACQUIRE);
}

size_t vg_nssc_lazy_size(size_t len)
{
	return sizeof(struct vg_nssc_lazy) + (len / VG_NSSC_PAGE / 64 + 1) * sizeof(uint64_t);
}

static int parse(const void *buf, size_t len, enum vg_nssc_kind kind, unsigned flags, struct vg_nssc_view *v)
{
	const struct vg_nssc_header *h = buf;
	const uint8_t *base = buf;
	const struct vg_nssc_section *sec;
	size_t rs;

	memset(v, 0, sizeof(*v));
	if ((uintptr_t)buf % 8)
		return -EINVAL;
	if (kind < VG_NSSC_PASSWD || kind > VG_NSSC_MEMBERS)
		return -EINVAL;
	if (len < sizeof(*h) || len > VG_NSSC_MAX_FILE || len % 8)
		return -EBADMSG;
	if (memcmp(h->magic, VG_NSSC_MAGIC, sizeof(h->magic)) || h->version != VG_NSSC_VERSION ||
	    h->byte_order != VG_NSSC_BYTE_ORDER || h->header_size != sizeof(*h) || h->kind != (uint32_t)kind ||
	    h->file_size != len)
		return -EBADMSG;
	for (int i = 0; i < VG_NSSC_SEC__COUNT; i++)
		if (!section_ok(h, len, i))
			return -EBADMSG;
	sec = h->sec;
	/* the page table sits between the header and the body: one entry per body page */
	v->body_off = sec[VG_NSSC_SEC_PAGES].off + sec[VG_NSSC_SEC_PAGES].size;
	v->npages = (len - v->body_off + VG_NSSC_PAGE - 1) / VG_NSSC_PAGE;
	if (sec[VG_NSSC_SEC_PAGES].off != sizeof(*h) || sec[VG_NSSC_SEC_PAGES].size != v->npages * 8)
		return -EBADMSG;
	for (int i = 0; i < VG_NSSC_SEC_PAGES; i++)
		if (sec[i].off < v->body_off)
			return -EBADMSG;
	v->pages = (const uint64_t *)(base + sec[VG_NSSC_SEC_PAGES].off);
	if (!(flags & VG_NSSC_SKIP_CHECKSUM) && vg_nssc_header_checksum(h, v->pages) != h->checksum)
		return -EBADMSG;
	rs = record_size[kind];
	if (sec[VG_NSSC_SEC_RECORDS].size != (uint64_t)h->count * rs ||
	    sec[VG_NSSC_SEC_BY_NAME].size != (uint64_t)h->count * 4)
		return -EBADMSG;
	if (kind == VG_NSSC_MEMBERS ? sec[VG_NSSC_SEC_BY_ID].size != 0
				    : sec[VG_NSSC_SEC_BY_ID].size != (uint64_t)h->count * 4)
		return -EBADMSG;
	if (kind != VG_NSSC_GROUP && (sec[VG_NSSC_SEC_MEMBERS].size || sec[VG_NSSC_SEC_MEMBER_INDEX].size))
		return -EBADMSG;
	if (sec[VG_NSSC_SEC_MEMBERS].size % 4 || sec[VG_NSSC_SEC_MEMBER_INDEX].size % 8)
		return -EBADMSG;
	if (sec[VG_NSSC_SEC_STRINGS].size == 0 || sec[VG_NSSC_SEC_STRINGS].size > UINT32_MAX)
		return -EBADMSG;
	/* 0..0 is an empty identity (no ranges declared); otherwise 0 is never in range */
	if (h->id_min > h->id_max || (h->id_min == 0 && (h->id_max != 0 || (kind != VG_NSSC_MEMBERS && h->count))))
		return -EBADMSG;

	v->base = base;
	v->size = len;
	v->kind = kind;
	v->count = h->count;
	v->id_min = h->id_min;
	v->id_max = h->id_max;
	v->aux = h->aux;
	v->aux_name = h->aux_name;
	v->generation = h->generation;
	v->records = base + sec[VG_NSSC_SEC_RECORDS].off;
	v->by_name = (const uint32_t *)(base + sec[VG_NSSC_SEC_BY_NAME].off);
	v->by_id = kind == VG_NSSC_MEMBERS ? NULL : (const uint32_t *)(base + sec[VG_NSSC_SEC_BY_ID].off);
	v->members = (const uint32_t *)(base + sec[VG_NSSC_SEC_MEMBERS].off);
	v->nmembers = sec[VG_NSSC_SEC_MEMBERS].size / 4;
	v->refs = (const struct vg_nssc_member_ref *)(base + sec[VG_NSSC_SEC_MEMBER_INDEX].off);
	v->nrefs = sec[VG_NSSC_SEC_MEMBER_INDEX].size / 8;
	v->strings = (const char *)(base + sec[VG_NSSC_SEC_STRINGS].off);
	v->strings_len = sec[VG_NSSC_SEC_STRINGS].size;
	return 0;
}

/* a table of the index: slots a power of two, inside the body, walks within the bounds */
static bool table_ok(const struct vg_nssc_view *v, uint32_t slots, uint32_t probe, uint64_t off)
{
	return slots >= 8 && slots <= VG_NSSC_MAX_SLOTS && (slots & (slots - 1)) == 0 && probe >= 1 &&
	       probe <= VG_NSSC_MAX_PROBE && off % 8 == 0 && off >= v->body_off && off <= v->size &&
	       (uint64_t)slots * sizeof(struct vg_nssc_slot) <= v->size - off;
}

/*
 * Format 3's hash index, when the header names one (passwd and group only).
 * Its descriptor is read once here (a lazy view brings its page in); lookups
 * then bound every walk by the checked slot count and probe length.
 */
static int parse_index(struct vg_nssc_view *v)
{
	const struct vg_nssc_header *h = (const struct vg_nssc_header *)(const void *)v->base;
	struct vg_nssc_index d;

	if (h->index == 0)
		return 0;
	if (v->kind == VG_NSSC_MEMBERS || h->index % 8 || h->index < v->body_off || h->index > v->size ||
	    v->size - h->index < sizeof(d) || !touch(v, h->index, sizeof(d)))
		return -EBADMSG;
	memcpy(&d, v->base + h->index, sizeof(d));
	if (memcmp(d.magic, VG_NSSC_INDEX_MAGIC, sizeof(d.magic)) || !table_ok(v, d.name_slots, d.name_probe, d.name_off) ||
	    !table_ok(v, d.id_slots, d.id_probe, d.id_off))
		return -EBADMSG;
	v->name_slots = (const struct vg_nssc_slot *)(const void *)(v->base + d.name_off);
	v->name_mask = d.name_slots - 1;
	v->name_probe = d.name_probe;
	v->id_slots = (const struct vg_nssc_slot *)(const void *)(v->base + d.id_off);
	v->id_mask = d.id_slots - 1;
	v->id_probe = d.id_probe;
	return 0;
}

/* members.cache: the elevation gid lies in the declared range; the index is usable */
static int check_aux(struct vg_nssc_view *v)
{
	int r = parse_index(v);

	if (r < 0)
		return r;
	if (v->kind == VG_NSSC_MEMBERS && vg_nssc_has_elevation(v) && v->id_max != 0 &&
	    (v->aux < v->id_min || v->aux > v->id_max))
		return -EBADMSG;
	return vg_nssc_view_corrupt(v) ? -EBADMSG : 0;
}

int vg_nssc_view_parse(const void *buf, size_t len, enum vg_nssc_kind kind, unsigned flags,
		       struct vg_nssc_view *v)
{
	int r = parse(buf, len, kind, flags, v);

	if (r < 0)
		return r;
	if (!(flags & VG_NSSC_SKIP_CHECKSUM))
		for (size_t p = 0; p < v->npages; p++)
			if (page_sum(v, p) != v->pages[p])
				return -EBADMSG;
	return check_aux(v);
}

int vg_nssc_view_parse_lazy(const void *buf, size_t len, enum vg_nssc_kind kind, struct vg_nssc_lazy *state,
			    size_t state_len, struct vg_nssc_view *v)
{
	int r = parse(buf, len, kind, 0, v);

	if (r < 0)
		return r;
	if (state_len < vg_nssc_lazy_size(len))
		return -EINVAL;
	v->lazy = state;
	return check_aux(v);
}

/* ---- bounded accessors: each checks its index and the pages it reads ---- */

const char *vg_nssc_str(const struct vg_nssc_view *v, uint32_t off, size_t *len)
{
	size_t base_off = (size_t)((const uint8_t *)v->strings - v->base), pos = off;

	if (off >= v->strings_len)
		return NULL;
	/* page by page up to the NUL, so a string never reads an unchecked page */
	for (;;) {
		size_t abs = base_off + pos, stop = v->strings_len, n;

		if (v->lazy && abs >= v->body_off) {
			size_t page_end = v->body_off + ((abs - v->body_off) / VG_NSSC_PAGE + 1) * VG_NSSC_PAGE;

			if (page_end - base_off < stop)
				stop = page_end - base_off;
		}
		if (!touch(v, abs, stop - pos))
			return NULL;
		n = strnlen(v->strings + pos, stop - pos);
		if (n < stop - pos) {
			if (len)
				*len = pos + n - off;
			return v->strings + off;
		}
		pos = stop;
		if (pos >= v->strings_len)
			return NULL;
	}
}

/* strcmp(key, string at off) with the string bounded; *bad set when off is unusable */
static int cmp_key(const struct vg_nssc_view *v, const char *key, size_t klen, uint32_t off, bool *bad)
{
	size_t n;
	const char *s = vg_nssc_str(v, off, &n);
	int d;

	if (!s) {
		*bad = true;
		return 0;
	}
	d = memcmp(key, s, klen < n ? klen : n);
	if (d)
		return d;
	return klen < n ? -1 : klen > n;
}

static const void *record(const struct vg_nssc_view *v, uint32_t i)
{
	const uint8_t *r;

	if (i >= v->count)
		return NULL;
	r = (const uint8_t *)v->records + (size_t)i * record_size[v->kind];
	return touch(v, (size_t)(r - v->base), record_size[v->kind]) ? r : NULL;
}

/* entry i of a uint32 section (an index, MEMBERS); UINT32_MAX when unusable */
static uint32_t u32_at(const struct vg_nssc_view *v, const uint32_t *arr, size_t i)
{
	return touch(v, (size_t)((const uint8_t *)&arr[i] - v->base), 4) ? arr[i] : UINT32_MAX;
}

static const struct vg_nssc_member_ref *ref_at(const struct vg_nssc_view *v, size_t i)
{
	const struct vg_nssc_member_ref *r = &v->refs[i];

	return touch(v, (size_t)((const uint8_t *)r - v->base), sizeof(*r)) ? r : NULL;
}

/* the name of a record, whatever its kind */
static uint32_t record_name(const struct vg_nssc_view *v, const void *r)
{
	switch (v->kind) {
	case VG_NSSC_PASSWD:
		return ((const struct vg_nssc_passwd *)r)->name;
	case VG_NSSC_GROUP:
		return ((const struct vg_nssc_group *)r)->name;
	default:
		return ((const struct vg_nssc_grant *)r)->name;
	}
}

static uint32_t record_id(const struct vg_nssc_view *v, const void *r)
{
	return v->kind == VG_NSSC_PASSWD ? ((const struct vg_nssc_passwd *)r)->uid
					 : ((const struct vg_nssc_group *)r)->gid;
}

/* ---- lookups ---- */

/* slot i of a table, copied: its page checked; false when the page does not match */
static bool slot_at(const struct vg_nssc_view *v, const struct vg_nssc_slot *tab, uint32_t i, struct vg_nssc_slot *s)
{
	if (!touch(v, (size_t)((const uint8_t *)&tab[i] - v->base), sizeof(*s)))
		return false;
	memcpy(s, &tab[i], sizeof(*s));
	return true;
}

/*
 * The record a slot names, with its name as the slot says: both are asked of
 * memory at once (the record's strings follow its name), so a lookup waits for
 * two misses side by side instead of one after the other. NULL when the slot
 * and the record disagree: the file is not what vigild wrote.
 */
static const void *slot_record(const struct vg_nssc_view *v, const struct vg_nssc_slot *s)
{
	const void *r;

	if (s->rec < v->count)
		__builtin_prefetch((const uint8_t *)v->records + (size_t)s->rec * record_size[v->kind]);
	if (s->name < v->strings_len)
		__builtin_prefetch(v->strings + s->name);
	r = record(v, s->rec);
	return r && record_name(v, r) == s->name ? r : NULL;
}

/* format 3: from the name's slot to the first empty one, at most name_probe slots */
static const void *hash_by_name(const struct vg_nssc_view *v, const char *name, size_t klen)
{
	uint64_t hash = vg_nssc_name_hash(name, klen);
	uint32_t i = (uint32_t)hash & v->name_mask;
	struct vg_nssc_slot s;

	for (uint32_t walk = 0; walk < v->name_probe; walk++, i = (i + 1) & v->name_mask) {
		const void *r;
		bool bad = false;
		int d;

		if (!slot_at(v, v->name_slots, i, &s) || s.rec == VG_NSSC_EMPTY)
			return NULL;
		if (s.key != (uint32_t)(hash >> 32))
			continue;
		r = slot_record(v, &s);
		if (!r)
			return NULL;
		d = cmp_key(v, name, klen, s.name, &bad);
		if (bad)
			return NULL;
		if (d == 0)
			return r;
	}
	return NULL;
}

static const void *hash_by_id(const struct vg_nssc_view *v, uint32_t id)
{
	uint32_t i = (uint32_t)vg_nssc_id_hash(id) & v->id_mask;
	struct vg_nssc_slot s;

	for (uint32_t walk = 0; walk < v->id_probe; walk++, i = (i + 1) & v->id_mask) {
		const void *r;

		if (!slot_at(v, v->id_slots, i, &s) || s.rec == VG_NSSC_EMPTY)
			return NULL;
		if (s.key != id)
			continue;
		/* the record must agree: a slot naming another one answers nothing, not the wrong user */
		r = slot_record(v, &s);
		return r && record_id(v, r) == id ? r : NULL;
	}
	return NULL;
}

static const void *find_by_name(const struct vg_nssc_view *v, const char *name)
{
	size_t lo = 0, hi = v->count, klen = strlen(name);

	if (v->name_slots)
		return hash_by_name(v, name, klen);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const void *r = record(v, u32_at(v, v->by_name, mid));
		bool bad = false;
		int d;

		if (!r)
			return NULL;
		d = cmp_key(v, name, klen, record_name(v, r), &bad);
		if (bad)
			return NULL;
		if (d == 0)
			return r;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static const void *find_by_id(const struct vg_nssc_view *v, uint32_t id)
{
	size_t lo = 0, hi = v->count;

	if (!v->by_id || id == 0 || id < v->id_min || id > v->id_max)
		return NULL;
	if (v->id_slots)
		return hash_by_id(v, id);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const void *r = record(v, u32_at(v, v->by_id, mid));
		uint32_t x;

		if (!r)
			return NULL;
		x = record_id(v, r);
		if (x == id)
			return r;
		if (id < x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct vg_nssc_passwd *vg_nssc_pw_by_name(const struct vg_nssc_view *v, const char *name)
{
	return v->kind == VG_NSSC_PASSWD ? find_by_name(v, name) : NULL;
}

const struct vg_nssc_passwd *vg_nssc_pw_by_uid(const struct vg_nssc_view *v, uint32_t uid)
{
	return v->kind == VG_NSSC_PASSWD ? find_by_id(v, uid) : NULL;
}

const struct vg_nssc_passwd *vg_nssc_pw_at(const struct vg_nssc_view *v, size_t i)
{
	if (v->kind != VG_NSSC_PASSWD || i >= v->count)
		return NULL;
	return record(v, u32_at(v, v->by_name, i));
}

const struct vg_nssc_group *vg_nssc_gr_by_name(const struct vg_nssc_view *v, const char *name)
{
	return v->kind == VG_NSSC_GROUP ? find_by_name(v, name) : NULL;
}

const struct vg_nssc_group *vg_nssc_gr_by_gid(const struct vg_nssc_view *v, uint32_t gid)
{
	return v->kind == VG_NSSC_GROUP ? find_by_id(v, gid) : NULL;
}

const struct vg_nssc_group *vg_nssc_gr_at(const struct vg_nssc_view *v, size_t i)
{
	if (v->kind != VG_NSSC_GROUP || i >= v->count)
		return NULL;
	return record(v, u32_at(v, v->by_name, i));
}

bool vg_nssc_has_elevation(const struct vg_nssc_view *m)
{
	size_t n;

	return m->kind == VG_NSSC_MEMBERS && m->aux != 0 && vg_nssc_str(m, m->aux_name, &n) && n > 0;
}

const struct vg_nssc_grant *vg_nssc_grant_live(const struct vg_nssc_view *m, const char *user, time_t now)
{
	const struct vg_nssc_grant *g;

	if (!vg_nssc_has_elevation(m))
		return NULL;
	g = find_by_name(m, user);
	return g && g->expires > (int64_t)now ? g : NULL;
}

/* ---- filling glibc's structs ---- */

/* Copies strings into a caller buffer; the first failure sticks. */
struct bufw {
	char *p;
	size_t left;
	int err;
};

static char *bufw_str(struct bufw *w, const struct vg_nssc_view *v, uint32_t off)
{
	size_t n;
	const char *s;
	char *d;

	if (w->err)
		return NULL;
	s = vg_nssc_str(v, off, &n);
	if (!s) {
		w->err = -EBADMSG;
		return NULL;
	}
	if (n + 1 > w->left) {
		w->err = -ERANGE;
		return NULL;
	}
	d = memcpy(w->p, s, n + 1);
	w->p += n + 1;
	w->left -= n + 1;
	return d;
}

/* room for n pointers, aligned for char * */
static char **bufw_ptrs(struct bufw *w, size_t n)
{
	size_t pad = (size_t)(-(uintptr_t)w->p) % sizeof(char *);
	char **d;

	if (w->err)
		return NULL;
	if (pad > w->left || n > (w->left - pad) / sizeof(char *)) {
		w->err = -ERANGE;
		return NULL;
	}
	d = (char **)(void *)(w->p + pad);
	w->p += pad + n * sizeof(char *);
	w->left -= pad + n * sizeof(char *);
	return d;
}

static char *bufw_lit(struct bufw *w, const char *s)
{
	size_t n = strlen(s);
	char *d;

	if (w->err)
		return NULL;
	if (n + 1 > w->left) {
		w->err = -ERANGE;
		return NULL;
	}
	d = memcpy(w->p, s, n + 1);
	w->p += n + 1;
	w->left -= n + 1;
	return d;
}

int vg_nssc_fill_passwd(const struct vg_nssc_view *v, const struct vg_nssc_passwd *r, struct passwd *pw,
			char *buf, size_t len)
{
	struct bufw w = { buf, len, 0 };

	if (r->uid == 0 || r->gid == 0 || r->uid < v->id_min || r->uid > v->id_max)
		return -EBADMSG; /* the writer never produces these: the file is not what vigild wrote */
	pw->pw_name = bufw_str(&w, v, r->name);
	pw->pw_passwd = bufw_lit(&w, "x");
	pw->pw_gecos = bufw_str(&w, v, r->gecos);
	pw->pw_dir = bufw_str(&w, v, r->dir);
	pw->pw_shell = bufw_str(&w, v, r->shell);
	pw->pw_uid = r->uid;
	pw->pw_gid = r->gid;
	if (!w.err && pw->pw_name[0] == '\0')
		return -EBADMSG;
	return w.err;
}

bool vg_nssc_pw_live(const struct vg_nssc_passwd *r, time_t now)
{
	return r->expires == 0 || r->expires > (int64_t)now;
}

int vg_nssc_fill_shadow(const struct vg_nssc_view *v, const struct vg_nssc_passwd *r, struct spwd *sp, char *buf,
			size_t len)
{
	struct bufw w = { buf, len, 0 };

	if (r->uid == 0 || r->uid < v->id_min || r->uid > v->id_max || r->expires < 0)
		return -EBADMSG;
	sp->sp_namp = bufw_str(&w, v, r->name);
	sp->sp_pwdp = bufw_lit(&w, "*"); /* no password: these users authenticate otherwise */
	/* aging disabled: pam_unix's account check never asks for a change nor expires them */
	sp->sp_lstchg = sp->sp_min = sp->sp_max = sp->sp_warn = sp->sp_inact = -1;
	/* days granularity: the day after; the exact instant is enforced by hiding the user */
	sp->sp_expire = r->expires ? (long)((r->expires + 86399) / 86400) : -1;
	sp->sp_flag = ~0ul;
	if (!w.err && sp->sp_namp[0] == '\0')
		return -EBADMSG;
	return w.err;
}

int vg_nssc_fill_group(const struct vg_nssc_view *v, const struct vg_nssc_group *r, struct group *gr,
		       char *buf, size_t len)
{
	struct bufw w = { buf, len, 0 };
	char **mem;

	if (r->gid == 0 || r->gid < v->id_min || r->gid > v->id_max || r->members > v->nmembers ||
	    r->nmembers > v->nmembers - r->members)
		return -EBADMSG;
	mem = bufw_ptrs(&w, (size_t)r->nmembers + 1);
	gr->gr_name = bufw_str(&w, v, r->name);
	gr->gr_passwd = bufw_lit(&w, "x");
	for (uint32_t i = 0; i < r->nmembers && !w.err; i++)
		mem[i] = bufw_str(&w, v, u32_at(v, v->members, (size_t)r->members + i));
	if (w.err)
		return w.err;
	if (gr->gr_name[0] == '\0')
		return -EBADMSG;
	mem[r->nmembers] = NULL;
	gr->gr_mem = mem;
	gr->gr_gid = r->gid;
	return 0;
}

int vg_nssc_fill_elevation(const struct vg_nssc_view *m, time_t now, struct group *gr, char *buf, size_t len)
{
	struct bufw w = { buf, len, 0 };
	size_t live = 0, k = 0;
	char **mem;

	if (!vg_nssc_has_elevation(m))
		return vg_nssc_view_corrupt(m) ? -EBADMSG : -ENOENT;
	for (uint32_t i = 0; i < m->count; i++) {
		const struct vg_nssc_grant *g = record(m, i);

		if (!g)
			return -EBADMSG;
		if (g->expires > (int64_t)now)
			live++;
	}
	mem = bufw_ptrs(&w, live + 1);
	gr->gr_name = bufw_str(&w, m, m->aux_name);
	gr->gr_passwd = bufw_lit(&w, "x");
	for (uint32_t i = 0; i < m->count && !w.err; i++) {
		const struct vg_nssc_grant *g = record(m, u32_at(m, m->by_name, i));

		if (!g) {
			w.err = -EBADMSG;
			break;
		}
		/* live was counted over the same records; a file changed meanwhile must not overflow mem */
		if (g->expires > (int64_t)now && k < live)
			mem[k++] = bufw_str(&w, m, g->name);
	}
	if (w.err)
		return w.err;
	mem[k] = NULL;
	gr->gr_mem = mem;
	gr->gr_gid = m->aux;
	return 0;
}

int vg_nssc_user_groups(const struct vg_nssc_view *g, const struct vg_nssc_view *m, const char *user,
			time_t now, int (*cb)(gid_t gid, void *arg), void *arg)
{
	size_t lo = 0, hi = g->kind == VG_NSSC_GROUP ? g->nrefs : 0, klen = strlen(user);
	int r;

	/* lower bound of user in the member index, then walk its run */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct vg_nssc_member_ref *ref = ref_at(g, mid);
		bool bad = !ref;
		int d = ref ? cmp_key(g, user, klen, ref->name, &bad) : 0;

		if (bad)
			return -EBADMSG;
		if (d <= 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	for (size_t i = lo; g->kind == VG_NSSC_GROUP && i < g->nrefs; i++) {
		const struct vg_nssc_member_ref *ref = ref_at(g, i);
		const struct vg_nssc_group *gr;
		bool bad = !ref;

		if (bad || cmp_key(g, user, klen, ref->name, &bad) != 0 || bad) {
			if (bad)
				return -EBADMSG;
			break;
		}
		gr = record(g, ref->group);
		if (!gr)
			return -EBADMSG;
		if (gr->gid == 0 || gr->gid < g->id_min || gr->gid > g->id_max)
			continue;
		r = cb(gr->gid, arg);
		if (r < 0)
			return r;
	}
	if (m && vg_nssc_grant_live(m, user, now))
		return cb(m->aux, arg);
	return m && vg_nssc_view_corrupt(m) ? -EBADMSG : 0;
}
