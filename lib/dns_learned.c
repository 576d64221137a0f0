/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vigild's copy of the kernel's learned-address map (include/vigil/dns_learned.h): a hash
 * table of entries, each also on its tenant's list in the order they were last learned, so
 * that the victim of a bound is found in O(1) and the sweep of expired entries is one walk.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/dns_learned.h"

struct node {
	struct vg_enf_learn_key key;
	struct vg_enf_learn_val val;
	struct node *hnext;	 /* bucket chain */
	struct node *prev, *next; /* tenant list, least recently learned first */
};

struct tenant {
	struct node *head, *tail;
	uint64_t n, evictions;
};

struct vg_learned {
	struct vg_learned_ops ops;
	size_t max_total, max_tenant;
	size_t n, nbuckets;
	struct node **buckets;
	struct tenant *tenants; /* VG_ENF_MAX_TENANT + 1, allocated at the first entry */
};

#define INITIAL_BUCKETS 1024

static uint64_t key_hash(const struct vg_enf_learn_key *k)
{
	const unsigned char *p = (const unsigned char *)k;
	uint64_t h = 14695981039346656037ull; /* FNV-1a */

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static struct node **bucket(const struct vg_learned *t, const struct vg_enf_learn_key *k)
{
	return &t->buckets[key_hash(k) & (t->nbuckets - 1)];
}

static struct node *find(const struct vg_learned *t, const struct vg_enf_learn_key *k)
{
	for (struct node *n = t->buckets ? *bucket(t, k) : NULL; n; n = n->hnext)
		if (!memcmp(&n->key, k, sizeof(*k)))
			return n;
	return NULL;
}

struct vg_learned *vg_learned_new(size_t max_total, size_t max_tenant, const struct vg_learned_ops *ops)
{
	struct vg_learned *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ops = *ops;
	t->max_total = max_total ? max_total : 1;
	t->max_tenant = max_tenant ? max_tenant : 1;
	return t;
}

void vg_learned_free(struct vg_learned *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct node *n = t->buckets[i], *next; n; n = next) {
			next = n->hnext;
			free(n);
		}
	free(t->buckets);
	free(t->tenants);
	free(t);
}

static int grow(struct vg_learned *t)
{
	size_t nb = t->nbuckets ? t->nbuckets * 2 : INITIAL_BUCKETS;
	struct node **b;

	if (!t->tenants && !(t->tenants = calloc(VG_ENF_MAX_TENANT + 1, sizeof(*t->tenants))))
		return -ENOMEM;
	if (t->nbuckets && t->n < t->nbuckets)
		return 0;
	b = calloc(nb, sizeof(*b));
	if (!b)
		return t->nbuckets ? 0 : -ENOMEM; /* longer chains, still correct */
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct node *n = t->buckets[i], *next; n; n = next) {
			size_t j = key_hash(&n->key) & (nb - 1);

			next = n->hnext;
			n->hnext = b[j];
			b[j] = n;
		}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
	return 0;
}

static void list_unlink(struct tenant *tn, struct node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		tn->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		tn->tail = n->prev;
	n->prev = n->next = NULL;
}

static void list_append(struct tenant *tn, struct node *n)
{
	n->prev = tn->tail;
	n->next = NULL;
	if (tn->tail)
		tn->tail->next = n;
	else
		tn->head = n;
	tn->tail = n;
}

static bool slot_live(const struct vg_enf_learn_slot *s, uint64_t now)
{
	return s->expires_ns > now;
}

static bool entry_live(const struct vg_enf_learn_val *v, uint64_t now)
{
	for (int i = 0; i < VG_ENF_LEARN_SLOTS; i++)
		if (slot_live(&v->slot[i], now))
			return true;
	return false;
}

/* Out of the table (the kernel entry is the caller's business). */
static void drop(struct vg_learned *t, struct node *n)
{
	struct node **pp = bucket(t, &n->key);

	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
	list_unlink(&t->tenants[n->key.tenant], n);
	t->tenants[n->key.tenant].n--;
	t->n--;
	free(n);
}

static void insert(struct vg_learned *t, struct node *n)
{
	struct node **b = bucket(t, &n->key);

	n->hnext = *b;
	*b = n;
	list_append(&t->tenants[n->key.tenant], n);
	t->tenants[n->key.tenant].n++;
	t->n++;
}

/* The entry a bound pushes out: tenant's oldest, or (host full) the oldest of the tenant holding most. */
static struct node *victim(const struct vg_learned *t, uint32_t tenant)
{
	uint32_t most = tenant;

	if (t->tenants[tenant].n >= t->max_tenant)
		return t->tenants[tenant].head;
	for (uint32_t i = 0; i <= VG_ENF_MAX_TENANT; i++)
		if (t->tenants[i].n > t->tenants[most].n)
			most = i;
	return t->tenants[most].head;
}

static int evict(struct vg_learned *t, uint32_t tenant, uint64_t now)
{
	struct node *v = victim(t, tenant);
	int r;

	if (!v)
		return -ENOSPC;
	if ((r = t->ops.del(t->ops.arg, &v->key)) < 0 && r != -ENOENT)
		return r;
	if (entry_live(&v->val, now))
		t->tenants[v->key.tenant].evictions++;
	drop(t, v);
	return 0;
}

/* Where rule goes in v: its own slot, an empty or expired one, else the one expiring first. */
static int pick_slot(const struct vg_enf_learn_val *v, uint32_t rule, uint64_t now)
{
	int free_slot = -1, first = 0;

	for (int i = 0; i < VG_ENF_LEARN_SLOTS; i++) {
		const struct vg_enf_learn_slot *s = &v->slot[i];

		if (s->expires_ns && s->rule == rule)
			return i;
		if (free_slot < 0 && !slot_live(s, now))
			free_slot = i;
		if (s->expires_ns < v->slot[first].expires_ns)
			first = i;
	}
	return free_slot >= 0 ? free_slot : first;
}

static void set_slot(struct vg_enf_learn_val *v, int i, uint32_t rule, uint32_t tag, uint64_t expires_ns)
{
	struct vg_enf_learn_slot *s = &v->slot[i];

	if (s->rule == rule && s->expires_ns > expires_ns)
		expires_ns = s->expires_ns;
	*s = (struct vg_enf_learn_slot){ .expires_ns = expires_ns, .rule = rule, .tag = tag };
}

static int learn_existing(struct vg_learned *t, struct node *n, uint32_t rule, uint32_t tag, uint64_t expires_ns,
			  uint64_t now)
{
	struct vg_enf_learn_val v = n->val;
	int i = pick_slot(&v, rule, now), r;
	bool pushed = v.slot[i].rule != rule && slot_live(&v.slot[i], now);

	set_slot(&v, i, rule, tag, expires_ns);
	/* the kernel holds this value already (vigild is the map's only writer): no system call */
	if (memcmp(&v, &n->val, sizeof(v)) && (r = t->ops.put(t->ops.arg, &n->key, &v)) < 0)
		return r;
	n->val = v;
	if (pushed)
		t->tenants[n->key.tenant].evictions++;
	list_unlink(&t->tenants[n->key.tenant], n);
	list_append(&t->tenants[n->key.tenant], n);
	return 0;
}

static bool key_ok(const struct vg_enf_learn_key *k)
{
	return k->tenant && k->tenant <= VG_ENF_MAX_TENANT && (k->fam == 4 || k->fam == 6);
}

int vg_learned_learn(struct vg_learned *t, const struct vg_enf_learn_key *k, uint32_t rule, uint32_t tag,
		     uint64_t expires_ns, uint64_t now)
{
	struct node *n;
	int r;

	if (!key_ok(k) || !rule || expires_ns <= now)
		return -EINVAL;
	if ((r = grow(t)) < 0)
		return r;
	n = find(t, k);
	if (n)
		return learn_existing(t, n, rule, tag, expires_ns, now);
	while (t->tenants[k->tenant].n >= t->max_tenant || t->n >= t->max_total)
		if ((r = evict(t, k->tenant, now)) < 0)
			return r;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->key = *k;
	set_slot(&n->val, 0, rule, tag, expires_ns);
	if ((r = t->ops.put(t->ops.arg, &n->key, &n->val)) < 0) {
		free(n);
		return r;
	}
	insert(t, n);
	return 0;
}

int vg_learned_adopt(struct vg_learned *t, const struct vg_enf_learn_key *k, const struct vg_enf_learn_val *v)
{
	struct node *n;
	int r;

	if (!key_ok(k))
		return -EINVAL;
	if ((r = grow(t)) < 0)
		return r;
	n = find(t, k);
	if (n) {
		n->val = *v;
		return 0;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->key = *k;
	n->val = *v;
	insert(t, n);
	return 0;
}

size_t vg_learned_sweep(struct vg_learned *t, uint64_t now)
{
	size_t gone = 0;
	int r;

	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct node *n = t->buckets[i], *next; n; n = next) {
			next = n->hnext;
			if (entry_live(&n->val, now))
				continue;
			r = t->ops.del(t->ops.arg, &n->key);
			/* a failed delete is retried at the next sweep */
			if (r < 0 && r != -ENOENT)
				continue;
			drop(t, n);
			gone++;
		}
	return gone;
}

void vg_learned_stats(const struct vg_learned *t, uint32_t tenant, struct vg_learned_tenant_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!t->tenants || tenant > VG_ENF_MAX_TENANT)
		return;
	out->entries = t->tenants[tenant].n;
	out->evictions = t->tenants[tenant].evictions;
}

size_t vg_learned_total(const struct vg_learned *t)
{
	return t->n;
}
