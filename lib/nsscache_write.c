/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NSS cache writer: struct vg_identity + elevation group + grants -> the
 * files of include/vigil/nsscache.h. Pure except vg_nssc_local_load() and
 * vg_nssc_buf_write() at the edges. Conflicts are left out and reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "vigil/nsscache.h"
#include "vigil/util.h"

#define NAME_MAX_LEN 32 /* useradd's limit; longer names break utmp and ps */
#define FIELD_MAX_LEN 1024

/* ---- report ---- */

void vg_nssc_report_free(struct vg_nssc_report *r)
{
	if (!r)
		return;
	free(r->conflicts);
	memset(r, 0, sizeof(*r));
}

static int report_add(struct vg_nssc_report *r, const char *kind, const char *name, uint32_t id, const char *fmt,
		      ...) __attribute__((format(printf, 5, 6)));
static int report_add(struct vg_nssc_report *r, const char *kind, const char *name, uint32_t id, const char *fmt,
		      ...)
{
	struct vg_nssc_conflict *c;
	va_list ap;

	if (!r)
		return 0;
	c = realloc(r->conflicts, (r->nconflicts + 1) * sizeof(*c));
	if (!c)
		return -ENOMEM;
	r->conflicts = c;
	c += r->nconflicts++;
	memset(c, 0, sizeof(*c));
	snprintf(c->kind, sizeof(c->kind), "%s", kind);
	snprintf(c->name, sizeof(c->name), "%s", name ? name : "");
	c->id = id;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return 0;
}

/* ---- local accounts ---- */

struct local_set {
	size_t n;
	char **names; /* sorted */
	uint32_t *ids; /* sorted */
};

struct vg_nssc_local {
	struct local_set users, groups;
	struct local_set user_gids; /* primary gids of local users (names unused) */
};

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void local_set_free(struct local_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->names);
	free(s->ids);
	memset(s, 0, sizeof(*s));
}

/* "name:x:ID:..." lines: the id of field 2 (0-based) is the uid in passwd and the gid in
 * group; field 3 of passwd is the user's primary gid. */
static int local_set_load(const char *path, int field, struct local_set *s, struct vg_err *err)
{
	_cleanup_free_ char *text = NULL;
	char *line, *save = NULL;
	size_t cap = 0;
	int r;

	r = vg_read_file(path, 64u << 20, &text, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return vg_err_set(err, -r, "local_accounts_unreadable", path, "cannot read local accounts: %s",
				  strerror(-r));
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *name = line, *c1, *c2, *end;
		unsigned long id;

		c1 = strchr(line, ':');
		if (!c1 || line[0] == '+' || line[0] == '-' || line[0] == '#')
			continue; /* compat entries and comments name no local account */
		*c1 = '\0';
		c2 = strchr(c1 + 1, ':');
		if (c2 && field == 3)
			c2 = strchr(c2 + 1, ':');
		if (!c2)
			continue;
		errno = 0;
		id = strtoul(c2 + 1, &end, 10);
		if (errno || end == c2 + 1 || *end != ':' || id > UINT32_MAX)
			continue;
		if (s->n == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			char **nn = realloc(s->names, ncap * sizeof(*nn));

			if (!nn)
				return -ENOMEM;
			s->names = nn;
			uint32_t *ni = realloc(s->ids, ncap * sizeof(*ni));
			if (!ni)
				return -ENOMEM;
			s->ids = ni;
			cap = ncap;
		}
		s->names[s->n] = strdup(name);
		if (!s->names[s->n])
			return -ENOMEM;
		s->ids[s->n++] = (uint32_t)id;
	}
	if (s->n) {
		qsort(s->names, s->n, sizeof(*s->names), cmp_str);
		qsort(s->ids, s->n, sizeof(*s->ids), cmp_u32);
	}
	return 0;
}

int vg_nssc_local_load(const char *passwd_path, const char *group_path, struct vg_nssc_local **out,
		       struct vg_err *err)
{
	struct vg_nssc_local *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	r = local_set_load(passwd_path, 2, &l->users, err);
	if (r == 0)
		r = local_set_load(passwd_path, 3, &l->user_gids, err);
	if (r == 0)
		r = local_set_load(group_path, 2, &l->groups, err);
	if (r < 0) {
		vg_nssc_local_free(l);
		return r;
	}
	*out = l;
	return 0;
}

void vg_nssc_local_free(struct vg_nssc_local *l)
{
	if (!l)
		return;
	local_set_free(&l->users);
	local_set_free(&l->groups);
	local_set_free(&l->user_gids);
	free(l);
}

static bool local_has_name(const struct local_set *s, const char *name)
{
	return s->n && bsearch(&name, s->names, s->n, sizeof(*s->names), cmp_str);
}

static bool local_has_id(const struct local_set *s, uint32_t id)
{
	return s->n && bsearch(&id, s->ids, s->n, sizeof(*s->ids), cmp_u32);
}

/* ---- building blocks ---- */

void vg_nssc_buf_free(struct vg_nssc_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

struct strtab {
	char *buf;
	size_t len, cap;
};

/* Appends s (with its NUL); *off gets its offset. Offset 0 is always "". */
static int strtab_add(struct strtab *t, const char *s, uint32_t *off)
{
	size_t n = strlen(s) + 1;

	if (!t->buf || t->len + n > t->cap) {
		size_t ncap = t->cap ? t->cap : 4096;
		char *nb;

		while (ncap < t->len + n + 1)
			ncap *= 2;
		nb = realloc(t->buf, ncap);
		if (!nb)
			return -ENOMEM;
		t->buf = nb;
		t->cap = ncap;
		if (t->len == 0)
			t->buf[t->len++] = '\0';
	}
	if (s[0] == '\0') {
		*off = 0;
		return 0;
	}
	if (t->len + n > UINT32_MAX)
		return -E2BIG;
	memcpy(t->buf + t->len, s, n);
	*off = (uint32_t)t->len;
	t->len += n;
	return 0;
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* The hash index of format 3 (vg_nssc_index), built before the file is laid out. */
struct index_tables {
	struct vg_nssc_slot *name, *id; /* NULL: no index */
	uint32_t name_slots, id_slots, name_probe, id_probe;
};

struct sections {
	const void *p[VG_NSSC_SEC__COUNT];
	size_t size[VG_NSSC_SEC__COUNT];
	const struct index_tables *index; /* NULL: format 2, no index */
};

static void index_free(struct index_tables *t)
{
	free(t->name);
	free(t->id);
	memset(t, 0, sizeof(*t));
}

/* Places s in the first empty slot from hash on; false when the walk would exceed the bound. */
static bool slot_put(struct vg_nssc_slot *tab, uint32_t slots, uint64_t hash, const struct vg_nssc_slot *s,
		     uint32_t *probe)
{
	uint32_t mask = slots - 1, i = (uint32_t)hash & mask;

	for (uint32_t walk = 1; walk <= VG_NSSC_MAX_PROBE; walk++, i = (i + 1) & mask) {
		if (tab[i].rec != VG_NSSC_EMPTY)
			continue;
		tab[i] = *s;
		if (walk > *probe)
			*probe = walk;
		return true;
	}
	return false;
}

/* One table over n records: the hash and slot of record i from slot_of. Doubles the table when a
 * walk would be too long; -E2BIG when even the largest table cannot hold them (no index then). */
static int table_build(uint32_t n, void (*slot_of)(const void *ctx, uint32_t i, uint64_t *hash, struct vg_nssc_slot *s),
		       const void *ctx, struct vg_nssc_slot **out, uint32_t *nslots, uint32_t *probe)
{
	uint32_t slots = 8;

	/* at most half full: the longest walk of 100k keys is then about 20 slots (at 3/4, about 180) */
	while (slots < 2 * (uint64_t)n)
		slots *= 2;
	for (; slots <= VG_NSSC_MAX_SLOTS; slots *= 2) {
		struct vg_nssc_slot *tab = malloc((size_t)slots * sizeof(*tab));
		uint32_t i;

		if (!tab)
			return -ENOMEM;
		memset(tab, 0xff, (size_t)slots * sizeof(*tab)); /* every rec VG_NSSC_EMPTY */
		*probe = 1; /* a miss reads at least its own slot */
		for (i = 0; i < n; i++) {
			struct vg_nssc_slot s = { .rec = i };
			uint64_t hash;

			slot_of(ctx, i, &hash, &s);
			if (!slot_put(tab, slots, hash, &s, probe))
				break;
		}
		if (i == n) {
			*out = tab;
			*nslots = slots;
			return 0;
		}
		free(tab);
	}
	return -E2BIG;
}

/* the records of passwd.cache (struct vg_nssc_passwd) or group.cache (struct vg_nssc_group) */
struct key_ctx {
	enum vg_nssc_kind kind;
	const void *records;
	const char *strings;
};

static uint32_t key_name(const struct key_ctx *c, uint32_t i)
{
	return c->kind == VG_NSSC_PASSWD ? ((const struct vg_nssc_passwd *)c->records)[i].name
					 : ((const struct vg_nssc_group *)c->records)[i].name;
}

static void name_slot(const void *ctx, uint32_t i, uint64_t *hash, struct vg_nssc_slot *s)
{
	const struct key_ctx *c = ctx;
	const char *name = c->strings + key_name(c, i);

	*hash = vg_nssc_name_hash(name, strlen(name));
	s->key = (uint32_t)(*hash >> 32);
	s->name = key_name(c, i);
}

static void id_slot(const void *ctx, uint32_t i, uint64_t *hash, struct vg_nssc_slot *s)
{
	const struct key_ctx *c = ctx;

	s->key = c->kind == VG_NSSC_PASSWD ? ((const struct vg_nssc_passwd *)c->records)[i].uid
					   : ((const struct vg_nssc_group *)c->records)[i].gid;
	s->name = key_name(c, i);
	*hash = vg_nssc_id_hash(s->key);
}

/* Both tables, or none: a set of keys no table size can hold within the bound gets no index
 * (readers then binary-search, as in format 2). */
static int index_build(const struct key_ctx *c, uint32_t n, struct index_tables *t)
{
	int r;

	memset(t, 0, sizeof(*t));
	r = table_build(n, name_slot, c, &t->name, &t->name_slots, &t->name_probe);
	if (r == 0)
		r = table_build(n, id_slot, c, &t->id, &t->id_slots, &t->id_probe);
	if (r < 0)
		index_free(t);
	return r == -E2BIG ? 0 : r;
}

/* The index's descriptor at off, then the name table, then the id table. */
static void index_place(const struct index_tables *t, uint8_t *data, size_t off)
{
	struct vg_nssc_index d = { .name_slots = t->name_slots, .id_slots = t->id_slots,
				   .name_probe = t->name_probe, .id_probe = t->id_probe };
	size_t name_bytes = (size_t)t->name_slots * sizeof(struct vg_nssc_slot);

	memcpy(d.magic, VG_NSSC_INDEX_MAGIC, sizeof(d.magic));
	d.name_off = off + sizeof(d);
	d.id_off = d.name_off + name_bytes;
	memcpy(data + off, &d, sizeof(d));
	memcpy(data + d.name_off, t->name, name_bytes);
	memcpy(data + d.id_off, t->id, (size_t)t->id_slots * sizeof(struct vg_nssc_slot));
}

static int assemble(enum vg_nssc_kind kind, uint64_t generation, time_t now, uint32_t id_min, uint32_t id_max,
		    uint32_t count, uint32_t aux, uint32_t aux_name, const struct sections *s,
		    struct vg_nssc_buf *out)
{
	struct vg_nssc_header h;
	size_t body_len = 0, body_off, npages, off;
	uint64_t *pages;
	uint8_t *data;

	for (int i = 0; i < VG_NSSC_SEC_PAGES; i++)
		body_len += align8(s->size[i]);
	if (s->index && s->index->name)
		body_len += sizeof(struct vg_nssc_index) +
			    ((size_t)s->index->name_slots + s->index->id_slots) * sizeof(struct vg_nssc_slot);
	npages = (body_len + VG_NSSC_PAGE - 1) / VG_NSSC_PAGE;
	body_off = sizeof(h) + npages * sizeof(uint64_t);
	if (body_off + body_len > VG_NSSC_MAX_FILE)
		return -E2BIG;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, VG_NSSC_MAGIC, sizeof(h.magic));
	h.version = VG_NSSC_VERSION;
	h.kind = kind;
	h.byte_order = VG_NSSC_BYTE_ORDER;
	h.header_size = sizeof(h);
	h.generation = generation;
	h.written_at = (int64_t)now;
	h.id_min = id_min;
	h.id_max = id_max;
	h.count = count;
	h.aux = aux;
	h.aux_name = aux_name;
	h.sec[VG_NSSC_SEC_PAGES].off = sizeof(h);
	h.sec[VG_NSSC_SEC_PAGES].size = npages * sizeof(uint64_t);
	off = body_off;
	for (int i = 0; i < VG_NSSC_SEC_PAGES; i++) {
		h.sec[i].off = off;
		h.sec[i].size = s->size[i];
		off += align8(s->size[i]);
	}
	if (s->index && s->index->name) {
		h.index = (uint32_t)off;
		off += sizeof(struct vg_nssc_index) +
		       ((size_t)s->index->name_slots + s->index->id_slots) * sizeof(struct vg_nssc_slot);
	}
	h.file_size = off;
	data = calloc(1, off);
	if (!data)
		return -ENOMEM;
	for (int i = 0; i < VG_NSSC_SEC_PAGES; i++)
		if (s->size[i])
			memcpy(data + h.sec[i].off, s->p[i], s->size[i]);
	if (h.index)
		index_place(s->index, data, h.index);
	pages = (uint64_t *)(void *)(data + sizeof(h));
	for (size_t i = 0; i < npages; i++) {
		size_t start = body_off + i * VG_NSSC_PAGE, len = off - start < VG_NSSC_PAGE ? off - start : VG_NSSC_PAGE;

		pages[i] = vg_nssc_page_checksum(i, data + start, len);
	}
	h.checksum = vg_nssc_header_checksum(&h, pages);
	memcpy(data, &h, sizeof(h));
	out->data = data;
	out->len = off;
	return 0;
}

/* a passwd line cannot carry ':' or a newline; empty home/shell is meaningless */
static bool field_ok(const char *s, bool allow_empty)
{
	size_t n = strnlen(s, FIELD_MAX_LEN + 1);

	if (n > FIELD_MAX_LEN || (!allow_empty && n == 0))
		return false;
	return strpbrk(s, ":\n\r") == NULL;
}

/* ---- passwd + group ---- */

struct user_cand {
	const struct vg_user *u;
	bool ok;
};

struct group_cand {
	const struct vg_group *g;
	bool ok;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* by name, then bundle order, so the first of two duplicates is the one kept */
static int cmp_user_name(const void *a, const void *b)
{
	const struct vg_user *x = ((const struct user_cand *)a)->u, *y = ((const struct user_cand *)b)->u;
	int d = strcmp(x->name, y->name);

	return d ? d : (x < y ? -1 : x > y);
}

static int cmp_group_name(const void *a, const void *b)
{
	const struct vg_group *x = ((const struct group_cand *)a)->g, *y = ((const struct group_cand *)b)->g;
	int d = strcmp(x->name, y->name);

	return d ? d : (x < y ? -1 : x > y);
}

/* sort context for id indexes and the member index */
struct idx_ctx {
	const void *records;
	const char *strings;
};

static int cmp_pw_uid(const void *a, const void *b, void *arg)
{
	const struct vg_nssc_passwd *r = ((const struct idx_ctx *)arg)->records;
	uint32_t x = r[*(const uint32_t *)a].uid, y = r[*(const uint32_t *)b].uid;

	return x < y ? -1 : x > y;
}

static int cmp_gr_gid(const void *a, const void *b, void *arg)
{
	const struct vg_nssc_group *r = ((const struct idx_ctx *)arg)->records;
	uint32_t x = r[*(const uint32_t *)a].gid, y = r[*(const uint32_t *)b].gid;

	return x < y ? -1 : x > y;
}

static int cmp_str_off(const void *a, const void *b, void *arg)
{
	const char *strings = ((const struct idx_ctx *)arg)->strings;

	return strcmp(strings + *(const uint32_t *)a, strings + *(const uint32_t *)b);
}

static int cmp_member_ref(const void *a, const void *b, void *arg)
{
	const struct idx_ctx *c = arg;
	const struct vg_nssc_member_ref *x = a, *y = b;
	const struct vg_nssc_group *r = c->records;
	int d = strcmp(c->strings + x->name, c->strings + y->name);

	if (d)
		return d;
	return r[x->group].gid < r[y->group].gid ? -1 : r[x->group].gid > r[y->group].gid;
}

static const struct vg_user *accepted_user(const struct user_cand *uc, size_t n, const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(name, uc[mid].u->name);

		if (d == 0)
			return uc[mid].ok ? uc[mid].u : NULL;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* deprovisioned, or past its valid_until: left out without being a conflict */
static bool user_withdrawn(const struct vg_user *u, time_t now)
{
	return u->state == VG_USER_DEPROVISIONED || (u->valid_until && u->valid_until <= now);
}

static int check_users(const struct vg_identity *id, const struct vg_nssc_local *local, time_t now,
		       struct user_cand *uc, size_t *nuc, struct vg_nssc_report *rep)
{
	size_t n = 0;
	int r = 0;

	for (size_t i = 0; i < id->nusers && r == 0; i++) {
		const struct vg_user *u = &id->users[i];
		const char *why = NULL;

		if (user_withdrawn(u, now))
			continue;
		if (!vg_str_valid_name(u->name, NAME_MAX_LEN))
			why = "invalid user name";
		else if (u->uid == 0 || u->gid == 0)
			why = "uid and gid 0 are never served";
		else if (u->uid < id->uid_min || u->uid > id->uid_max)
			why = "uid outside the declared uid_range";
		else if (u->gid < id->gid_min || u->gid > id->gid_max)
			why = "primary gid outside the declared gid_range";
		else if (local && local_has_name(&local->users, u->name))
			why = "name of a local account";
		else if (local && local_has_id(&local->users, u->uid))
			why = "uid of a local account";
		else if (!field_ok(u->gecos ? u->gecos : "", true) || !field_ok(u->home ? u->home : "", false) ||
			 !field_ok(u->shell ? u->shell : "", false))
			why = "gecos, home or shell empty, too long or containing ':' or a newline";
		if (why) {
			r = report_add(rep, "user", u->name, u->uid, "%s", why);
			continue;
		}
		uc[n].u = u;
		uc[n++].ok = true;
	}
	if (r < 0)
		return r;
	if (n)
		qsort(uc, n, sizeof(*uc), cmp_user_name);
	for (size_t i = 1; i < n && r == 0; i++)
		if (strcmp(uc[i].u->name, uc[i - 1].u->name) == 0) {
			uc[i].ok = false;
			r = report_add(rep, "user", uc[i].u->name, uc[i].u->uid, "duplicate user name");
		}
	/* uid duplicates: sort (uid, position) pairs; of two users sharing a uid, the first by name keeps it */
	if (r == 0 && n > 1) {
		uint64_t *k = malloc(n * sizeof(*k));
		bool seen = false;

		if (!k)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++)
			k[i] = (uint64_t)uc[i].u->uid << 32 | i;
		qsort(k, n, sizeof(*k), cmp_u64);
		for (size_t i = 0; i < n && r == 0; i++) {
			size_t at = k[i] & UINT32_MAX;

			if (i == 0 || (k[i] >> 32) != (k[i - 1] >> 32))
				seen = false;
			if (!uc[at].ok)
				continue;
			if (!seen) {
				seen = true;
				continue;
			}
			uc[at].ok = false;
			r = report_add(rep, "user", uc[at].u->name, uc[at].u->uid, "duplicate uid");
		}
		free(k);
	}
	*nuc = n;
	return r;
}

static int check_groups(const struct vg_identity *id, const char *elev_group, uint32_t elev_gid,
			const struct vg_nssc_local *local, struct group_cand *gc, size_t *ngc,
			struct vg_nssc_report *rep)
{
	size_t n = 0;
	int r = 0;

	for (size_t i = 0; i < id->ngroups && r == 0; i++) {
		const struct vg_group *g = &id->groups[i];
		const char *why = NULL;

		if (!vg_str_valid_name(g->name, NAME_MAX_LEN))
			why = "invalid group name";
		else if (g->gid == 0)
			why = "gid 0 is never served";
		else if (g->gid < id->gid_min || g->gid > id->gid_max)
			why = "gid outside the declared gid_range";
		else if (local && local_has_name(&local->groups, g->name))
			why = "name of a local group";
		else if (local && local_has_id(&local->groups, g->gid))
			why = "gid of a local group";
		else if (elev_group && (strcmp(g->name, elev_group) == 0 || g->gid == elev_gid))
			why = "name or gid of the elevation group, which only grants may fill";
		if (why) {
			r = report_add(rep, "group", g->name, g->gid, "%s", why);
			continue;
		}
		gc[n].g = g;
		gc[n++].ok = true;
	}
	if (r < 0)
		return r;
	if (n)
		qsort(gc, n, sizeof(*gc), cmp_group_name);
	for (size_t i = 1; i < n && r == 0; i++)
		if (strcmp(gc[i].g->name, gc[i - 1].g->name) == 0) {
			gc[i].ok = false;
			r = report_add(rep, "group", gc[i].g->name, gc[i].g->gid, "duplicate group name");
		}
	if (r == 0 && n > 1) {
		uint64_t *k = malloc(n * sizeof(*k));
		bool seen = false;

		if (!k)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++)
			k[i] = (uint64_t)gc[i].g->gid << 32 | i;
		qsort(k, n, sizeof(*k), cmp_u64);
		for (size_t i = 0; i < n && r == 0; i++) {
			size_t at = k[i] & UINT32_MAX;

			if (i == 0 || (k[i] >> 32) != (k[i - 1] >> 32))
				seen = false;
			if (!gc[at].ok)
				continue;
			if (!seen) {
				seen = true;
				continue;
			}
			gc[at].ok = false;
			r = report_add(rep, "group", gc[at].g->name, gc[at].g->gid, "duplicate gid");
		}
		free(k);
	}
	*ngc = n;
	return r;
}

static int build_passwd(const struct vg_identity *id, const struct user_cand *uc, size_t nuc,
			uint64_t generation, time_t now, struct vg_nssc_buf *out, size_t *nwritten)
{
	struct strtab st = { 0 };
	struct vg_nssc_passwd *rec = calloc(nuc ? nuc : 1, sizeof(*rec));
	uint32_t *by_name = calloc(nuc ? nuc : 1, sizeof(*by_name));
	uint32_t *by_id = calloc(nuc ? nuc : 1, sizeof(*by_id));
	struct idx_ctx ctx = { .records = rec };
	struct index_tables index = { 0 };
	struct sections s = { 0 };
	uint32_t n = 0, dummy;
	int r = -ENOMEM;

	if (!rec || !by_name || !by_id)
		goto out;
	r = strtab_add(&st, "", &dummy);
	for (size_t i = 0; i < nuc && r == 0; i++) {
		const struct vg_user *u = uc[i].u;
		struct vg_nssc_passwd *p = &rec[n];

		if (!uc[i].ok)
			continue;
		p->uid = u->uid;
		p->gid = u->gid;
		p->expires = u->valid_until;
		r = strtab_add(&st, u->name, &p->name);
		if (r == 0)
			r = strtab_add(&st, u->gecos ? u->gecos : "", &p->gecos);
		if (r == 0)
			r = strtab_add(&st, u->home, &p->dir);
		if (r == 0)
			r = strtab_add(&st, u->shell, &p->shell);
		by_name[n] = n; /* candidates are already sorted by name */
		by_id[n] = n;
		n++;
	}
	if (r < 0)
		goto out;
	qsort_r(by_id, n, sizeof(*by_id), cmp_pw_uid, &ctx);
	r = index_build(&(struct key_ctx){ VG_NSSC_PASSWD, rec, st.buf }, n, &index);
	if (r < 0)
		goto out;
	s.p[VG_NSSC_SEC_RECORDS] = rec;
	s.size[VG_NSSC_SEC_RECORDS] = n * sizeof(*rec);
	s.p[VG_NSSC_SEC_BY_NAME] = by_name;
	s.size[VG_NSSC_SEC_BY_NAME] = n * sizeof(*by_name);
	s.p[VG_NSSC_SEC_BY_ID] = by_id;
	s.size[VG_NSSC_SEC_BY_ID] = n * sizeof(*by_id);
	s.p[VG_NSSC_SEC_STRINGS] = st.buf;
	s.size[VG_NSSC_SEC_STRINGS] = st.len;
	s.index = &index;
	r = assemble(VG_NSSC_PASSWD, generation, now, id->uid_min, id->uid_max, n, 0, VG_NSSC_NONE, &s, out);
	*nwritten = n;
out:
	free(rec);
	free(by_name);
	free(by_id);
	index_free(&index);
	free(st.buf);
	return r;
}

/* The names of the users left out as withdrawn, sorted: groups may still list them, silently
 * dropped. One sort, not a scan of every user per member (100k members x 100k users). */
static int withdrawn_names(const struct vg_identity *id, time_t now, const char ***out, size_t *n)
{
	const char **v = malloc((id->nusers ? id->nusers : 1) * sizeof(*v));
	size_t k = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < id->nusers; i++)
		if (user_withdrawn(&id->users[i], now))
			v[k++] = id->users[i].name;
	if (k)
		qsort(v, k, sizeof(*v), cmp_str);
	*out = v;
	*n = k;
	return 0;
}

static int build_group(const struct vg_identity *id, const struct group_cand *gc, size_t ngc,
		       const struct user_cand *uc, size_t nuc, uint64_t generation, time_t now,
		       struct vg_nssc_buf *out, struct vg_nssc_report *rep, size_t *nwritten, size_t *nmembers)
{
	struct strtab st = { 0 };
	size_t total = 0;
	struct vg_nssc_group *rec = calloc(ngc ? ngc : 1, sizeof(*rec));
	uint32_t *by_name = calloc(ngc ? ngc : 1, sizeof(*by_name));
	uint32_t *by_id = calloc(ngc ? ngc : 1, sizeof(*by_id));
	uint32_t *members = NULL;
	struct vg_nssc_member_ref *refs = NULL;
	struct idx_ctx ctx = { .records = rec };
	struct index_tables index = { 0 };
	struct sections s = { 0 };
	uint32_t n = 0, nm = 0, dummy;
	const char **withdrawn = NULL;
	size_t nw = 0;
	int r = -ENOMEM;

	for (size_t i = 0; i < ngc; i++)
		if (gc[i].ok)
			total += gc[i].g->nmembers;
	if (total > UINT32_MAX) {
		r = -E2BIG;
		goto out;
	}
	members = calloc(total ? total : 1, sizeof(*members));
	refs = calloc(total ? total : 1, sizeof(*refs));
	if (!rec || !by_name || !by_id || !members || !refs || withdrawn_names(id, now, &withdrawn, &nw) < 0)
		goto out;
	r = strtab_add(&st, "", &dummy);
	for (size_t i = 0; i < ngc && r == 0; i++) {
		const struct vg_group *g = gc[i].g;
		struct vg_nssc_group *p = &rec[n];

		if (!gc[i].ok)
			continue;
		p->gid = g->gid;
		r = strtab_add(&st, g->name, &p->name);
		p->members = nm;
		for (size_t j = 0; j < g->nmembers && r == 0; j++) {
			const char *m = g->members[j];

			if (!accepted_user(uc, nuc, m)) {
				bool deprov = nw && bsearch(&m, withdrawn, nw, sizeof(*withdrawn), cmp_str);

				if (!deprov)
					r = report_add(rep, "member", m, g->gid,
						       "member of group %s is not a provisioned user", g->name);
				continue;
			}
			r = strtab_add(&st, m, &members[nm]);
			nm++;
		}
		if (r < 0)
			break;
		/* sort the group's slice by name to drop repeated members in one pass */
		ctx.strings = st.buf;
		qsort_r(members + p->members, nm - p->members, sizeof(*members), cmp_str_off, &ctx);
		uint32_t w = p->members;

		for (uint32_t k = p->members; k < nm; k++) {
			if (w > p->members && strcmp(st.buf + members[w - 1], st.buf + members[k]) == 0)
				continue;
			members[w] = members[k];
			refs[w].name = members[w];
			refs[w].group = n;
			w++;
		}
		nm = w;
		p->nmembers = nm - p->members;
		by_name[n] = n;
		by_id[n] = n;
		n++;
	}
	if (r < 0)
		goto out;
	qsort_r(by_id, n, sizeof(*by_id), cmp_gr_gid, &ctx);
	ctx.strings = st.buf;
	qsort_r(refs, nm, sizeof(*refs), cmp_member_ref, &ctx);
	r = index_build(&(struct key_ctx){ VG_NSSC_GROUP, rec, st.buf }, n, &index);
	if (r < 0)
		goto out;
	s.index = &index;
	s.p[VG_NSSC_SEC_RECORDS] = rec;
	s.size[VG_NSSC_SEC_RECORDS] = n * sizeof(*rec);
	s.p[VG_NSSC_SEC_BY_NAME] = by_name;
	s.size[VG_NSSC_SEC_BY_NAME] = n * sizeof(*by_name);
	s.p[VG_NSSC_SEC_BY_ID] = by_id;
	s.size[VG_NSSC_SEC_BY_ID] = n * sizeof(*by_id);
	s.p[VG_NSSC_SEC_MEMBERS] = members;
	s.size[VG_NSSC_SEC_MEMBERS] = nm * sizeof(*members);
	s.p[VG_NSSC_SEC_MEMBER_INDEX] = refs;
	s.size[VG_NSSC_SEC_MEMBER_INDEX] = nm * sizeof(*refs);
	s.p[VG_NSSC_SEC_STRINGS] = st.buf;
	s.size[VG_NSSC_SEC_STRINGS] = st.len;
	r = assemble(VG_NSSC_GROUP, generation, now, id->gid_min, id->gid_max, n, 0, VG_NSSC_NONE, &s, out);
	*nwritten = n;
	*nmembers = nm;
out:
	free(rec);
	free(by_name);
	free(by_id);
	free(members);
	free(refs);
	free(withdrawn);
	index_free(&index);
	free(st.buf);
	return r;
}

int vg_nssc_check_elevation(const char *elev_group, uint32_t elev_gid, const struct vg_nssc_local *local,
			    struct vg_err *err)
{
	if (!elev_group || !local)
		return 0;
	if (local_has_name(&local->groups, elev_group))
		return vg_err_set(err, EINVAL, "elevation_group_local", "$.elevation.group",
				  "\"%s\" is a local group of this host (/etc/group): its members would be "
				  "elevated without a grant; name the elevation group something no host has",
				  elev_group);
	if (local_has_id(&local->groups, elev_gid))
		return vg_err_set(err, EINVAL, "elevation_group_local", "$.elevation.gid",
				  "%u is the gid of a local group of this host (/etc/group); choose a gid no host uses",
				  elev_gid);
	if (local_has_id(&local->user_gids, elev_gid))
		return vg_err_set(err, EINVAL, "elevation_group_local", "$.elevation.gid",
				  "%u is the primary gid of a local user of this host (/etc/passwd): that user would "
				  "always be elevated; choose a gid no host uses",
				  elev_gid);
	return 0;
}

int vg_nssc_build_identity(const struct vg_identity *id, const char *elev_group, uint32_t elev_gid,
			   const struct vg_nssc_local *local, uint64_t generation, time_t now,
			   struct vg_nssc_buf *passwd, struct vg_nssc_buf *group, struct vg_nssc_report *rep,
			   struct vg_err *err)
{
	struct user_cand *uc = calloc(id->nusers ? id->nusers : 1, sizeof(*uc));
	struct group_cand *gc = calloc(id->ngroups ? id->ngroups : 1, sizeof(*gc));
	size_t nuc = 0, ngc = 0;
	int r = -ENOMEM;

	passwd->data = group->data = NULL;
	if (!uc || !gc)
		goto out;
	/* a bundle without an identity section declares no ranges: empty caches, range 0..0 */
	bool none = id->uid_min == 0 && id->uid_max == 0 && id->gid_min == 0 && id->gid_max == 0 &&
		    id->nusers == 0 && id->ngroups == 0;

	if (!none &&
	    (id->uid_min == 0 || id->gid_min == 0 || id->uid_min > id->uid_max || id->gid_min > id->gid_max)) {
		r = vg_err_set(err, EINVAL, "identity_range_invalid", "$.identity",
			       "uid_range and gid_range must be non-empty and exclude 0");
		goto out;
	}
	r = vg_nssc_check_elevation(elev_group, elev_gid, local, err);
	if (r == 0)
		r = check_users(id, local, now, uc, &nuc, rep);
	if (r == 0)
		r = check_groups(id, elev_group, elev_gid, local, gc, &ngc, rep);
	if (r == 0) {
		size_t nu = 0;

		r = build_passwd(id, uc, nuc, generation, now, passwd, &nu);
		if (r == 0 && rep)
			rep->nusers = nu;
	}
	if (r == 0) {
		size_t ng = 0, nm = 0;

		r = build_group(id, gc, ngc, uc, nuc, generation, now, group, rep, &ng, &nm);
		if (r == 0 && rep) {
			rep->ngroups = ng;
			rep->nmembers = nm;
		}
	}
	if (r < 0 && err && !err->msg[0])
		vg_err_set(err, -r, "nss_cache_build_failed", "$.identity", "cannot build the NSS cache: %s",
			   strerror(-r));
out:
	if (r < 0) {
		vg_nssc_buf_free(passwd);
		vg_nssc_buf_free(group);
	}
	free(uc);
	free(gc);
	return r;
}

/* ---- members (elevation grants) ---- */

struct grant_cand {
	const struct vg_grant *g;
	int64_t expires; /* latest of the user's grants */
};

static int cmp_grant_name(const void *a, const void *b)
{
	return strcmp(((const struct grant_cand *)a)->g->user, ((const struct grant_cand *)b)->g->user);
}

int vg_nssc_build_members(const char *elev_group, uint32_t elev_gid, const struct vg_grant *grants, size_t n,
			  uint32_t gid_min, uint32_t gid_max, uint64_t generation, time_t now,
			  struct vg_nssc_buf *out, struct vg_nssc_report *rep, struct vg_err *err)
{
	struct grant_cand *gc = calloc(n ? n : 1, sizeof(*gc));
	struct vg_nssc_grant *rec = calloc(n ? n : 1, sizeof(*rec));
	uint32_t *by_name = calloc(n ? n : 1, sizeof(*by_name));
	struct strtab st = { 0 };
	struct sections s = { 0 };
	uint32_t name = VG_NSSC_NONE, dummy;
	size_t nc = 0, nr = 0;
	int r = -ENOMEM;

	out->data = NULL;
	if (!gc || !rec || !by_name)
		goto out;
	r = strtab_add(&st, "", &dummy);
	if (r < 0)
		goto out;
	if (elev_group) {
		bool ranged = gid_min != 0 || gid_max != 0; /* 0..0: the bundle has no identity section */

		if (!vg_str_valid_name(elev_group, NAME_MAX_LEN) || elev_gid == 0 ||
		    (ranged && (elev_gid < gid_min || elev_gid > gid_max))) {
			r = vg_err_set(err, EINVAL, "elevation_group_invalid", "$.elevation.group",
				       "elevation group %s (gid %" PRIu32
				       ") needs a valid name and a non-zero gid inside gid_range",
				       elev_group, elev_gid);
			goto out;
		}
		r = strtab_add(&st, elev_group, &name);
		if (r < 0)
			goto out;
		for (size_t i = 0; i < n && r == 0; i++) {
			const struct vg_grant *g = &grants[i];

			if (g->expires <= now)
				continue;
			if (!vg_str_valid_name(g->user, NAME_MAX_LEN)) {
				r = report_add(rep, "grant", g->user, g->uid, "invalid user name");
				continue;
			}
			gc[nc].g = g;
			gc[nc++].expires = (int64_t)g->expires;
		}
	}
	if (r < 0)
		goto out;
	if (nc)
		qsort(gc, nc, sizeof(*gc), cmp_grant_name);
	for (size_t i = 0; i < nc && r == 0; i++) {
		if (nr && strcmp(st.buf + rec[nr - 1].name, gc[i].g->user) == 0) {
			if (gc[i].expires > rec[nr - 1].expires)
				rec[nr - 1].expires = gc[i].expires;
			continue;
		}
		rec[nr].uid = gc[i].g->uid;
		rec[nr].expires = gc[i].expires;
		r = strtab_add(&st, gc[i].g->user, &rec[nr].name);
		by_name[nr] = (uint32_t)nr;
		nr++;
	}
	if (r < 0)
		goto out;
	s.p[VG_NSSC_SEC_RECORDS] = rec;
	s.size[VG_NSSC_SEC_RECORDS] = nr * sizeof(*rec);
	s.p[VG_NSSC_SEC_BY_NAME] = by_name;
	s.size[VG_NSSC_SEC_BY_NAME] = nr * sizeof(*by_name);
	s.p[VG_NSSC_SEC_STRINGS] = st.buf;
	s.size[VG_NSSC_SEC_STRINGS] = st.len;
	r = assemble(VG_NSSC_MEMBERS, generation, now, gid_min, gid_max, (uint32_t)nr, elev_group ? elev_gid : 0,
		     name, &s, out);
	if (r == 0 && rep)
		rep->ngrants = nr;
out:
	if (r < 0 && err && !err->msg[0])
		vg_err_set(err, -r, "nss_cache_build_failed", "$.elevation", "cannot build the membership cache: %s",
			   strerror(-r));
	free(gc);
	free(rec);
	free(by_name);
	free(st.buf);
	return r;
}

/* Bumps the generation word in place (creating the file with counter 1), telling readers to look again. */
static int bump_generation(const char *dir, struct vg_err *err)
{
	struct vg_nssc_gen g = { .counter = 0 };
	char path[PATH_MAX];
	uint8_t page[VG_NSSC_GEN_SIZE] = { 0 };
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, VG_NSSC_GEN_FILE);
	fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		memcpy(g.magic, VG_NSSC_GEN_MAGIC, sizeof(g.magic));
		g.counter = 1;
		memcpy(page, &g, sizeof(g));
		r = vg_write_file_atomic(path, page, sizeof(page), 0644);
		goto out;
	}
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (pread(fd, &g, sizeof(g), 0) != (ssize_t)sizeof(g) ||
	    memcmp(g.magic, VG_NSSC_GEN_MAGIC, sizeof(g.magic)) != 0) {
		r = -EBADMSG;
	} else {
		g.counter = g.counter + 1 ? g.counter + 1 : 1;
		if (pwrite(fd, &g.counter, sizeof(g.counter), offsetof(struct vg_nssc_gen, counter)) !=
		    (ssize_t)sizeof(g.counter))
			r = errno ? -errno : -EIO;
	}
	close(fd);
out:
	if (r < 0)
		return vg_err_set(err, -r, "nss_cache_write_failed", path,
				  "cannot update the NSS generation file: %s (remove it: vigild recreates it)",
				  strerror(-r));
	return 0;
}

static int cache_path(const char *dir, const char *name, const char *suffix, char *path, size_t size,
		      struct vg_err *err)
{
	if ((size_t)snprintf(path, size, "%s/%s%s", dir, name, suffix) >= size)
		return vg_err_set(err, ENAMETOOLONG, "nss_cache_path", dir, "cache directory path is too long");
	return 0;
}

int vg_nssc_write_set(const char *dir, const struct vg_nssc_file *files, size_t n, struct vg_err *err)
{
	char staged[PATH_MAX], path[PATH_MAX];
	size_t i;
	int r;

	r = vg_mkdir_p(dir, 0755);
	if (r < 0)
		return vg_err_set(err, -r, "nss_cache_write_failed", dir, "cannot create the NSS cache directory: %s",
				  strerror(-r));
	/* every file complete on disk first; then the renames, close together */
	for (i = 0; i < n; i++) {
		r = cache_path(dir, files[i].name, ".staged", staged, sizeof(staged), err);
		if (r < 0)
			goto fail;
		r = vg_write_file_atomic(staged, files[i].buf->data, files[i].buf->len, 0644);
		if (r < 0) {
			vg_err_set(err, -r, "nss_cache_write_failed", staged, "cannot write the NSS cache: %s",
				   strerror(-r));
			goto fail;
		}
	}
	for (i = 0; i < n; i++) {
		cache_path(dir, files[i].name, ".staged", staged, sizeof(staged), err);
		cache_path(dir, files[i].name, "", path, sizeof(path), err);
		if (rename(staged, path) < 0) {
			r = -errno;
			vg_err_set(err, -r, "nss_cache_write_failed", path, "cannot replace the NSS cache: %s",
				   strerror(-r));
			goto fail;
		}
	}
	return bump_generation(dir, err);
fail:
	for (i = 0; i < n; i++)
		if (cache_path(dir, files[i].name, ".staged", staged, sizeof(staged), NULL) == 0)
			unlink(staged);
	/* some files may be replaced already: readers must look */
	bump_generation(dir, NULL);
	return r;
}

int vg_nssc_buf_write(const char *dir, const char *name, const struct vg_nssc_buf *b, struct vg_err *err)
{
	const struct vg_nssc_file f = { name, b };

	return vg_nssc_write_set(dir, &f, 1, err);
}
