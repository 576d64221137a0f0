/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bundle -> the map entries the kernel uses (docs/enforcement.md).
 *
 * Per tenant, every CIDR that matters (its own rules, the shared services it
 * lists, every tenant's segments) becomes one trie entry. An entry carries
 * everything that applies to addresses it covers, including what its
 * enclosing (shorter) CIDRs say, so the kernel's single longest-prefix lookup
 * answers the whole question: no rule scans. Ports are per protocol class
 * lists of disjoint intervals, searched by bisection.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "vigil/enforce.h"

_Static_assert(VG_TENANT_SOCK_RAW == VG_ENF_SOCK_RAW && VG_TENANT_SOCK_PACKET == VG_ENF_SOCK_PACKET &&
		       VG_TENANT_SOCK_MPTCP == VG_ENF_SOCK_MPTCP,
	       "bundle socket kinds and kernel socket kinds are the same bits");

/* what one CIDR of one tenant's view contributes */
enum item_kind { ITEM_OWN, ITEM_SHARED, ITEM_SEGMENT };

/* 32 bytes: a tenant's view of 1M rules holds 1M of these while it is built */
struct item {
	uint8_t fam, plen;
	uint8_t kind; /* enum item_kind */
	uint8_t addr[16];
	union {
		const struct vg_rule *rule; /* OWN, SHARED */
		uint32_t owner;		    /* SEGMENT */
	};
};
_Static_assert(sizeof(struct item) <= 32, "keep the item small");

struct node {
	uint8_t fam, plen;
	uint8_t addr[16];
	struct vg_enf_lpm_val val;
};

struct builder {
	struct vg_enf_compiled *c;
	size_t cap_entries, cap_ranges, cap_names;
	struct item *items;
	size_t nitems, cap_items;
	struct vg_enf_range *tmp, *tmp2; /* VG_ENF_MAX_INTERVALS each */
	size_t limit;
	struct vg_err *err;
	const struct vg_enf_sink *sink; /* NULL: none */
	size_t handed;			/* entries handed to the sink */
	bool sink_failed;		/* its error is in err */
};

/* The entries made since the last hand-over, to the sink (all of them when last). */
static int hand_over(struct builder *bd, bool last)
{
	size_t n = bd->c->nentries - bd->handed;
	int r;

	if (!bd->sink || !n || (!last && n < bd->sink->every))
		return 0;
	bd->handed += n;
	r = bd->sink->chunk(bd->sink->arg, bd->c->entries + bd->handed - n, n, bd->err);
	bd->sink_failed = r < 0;
	return r;
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static int add_item(struct builder *bd, const struct vg_cidr *cidr, enum item_kind kind,
		    const struct vg_rule *rule, uint32_t owner)
{
	struct item *it;

	if (grow((void **)&bd->items, &bd->cap_items, bd->nitems + 1, sizeof(*bd->items)))
		return -ENOMEM;
	it = &bd->items[bd->nitems++];
	memset(it, 0, sizeof(*it));
	it->fam = cidr->family == AF_INET ? 4 : 6;
	it->plen = cidr->prefixlen;
	memcpy(it->addr, cidr->addr, it->fam == 4 ? 4 : 16);
	it->kind = (uint8_t)kind;
	if (kind == ITEM_SEGMENT)
		it->owner = owner;
	else
		it->rule = rule;
	return 0;
}

/* trie order: an enclosing CIDR sorts before everything it contains, which follow contiguously */
static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int r;

	if (x->fam != y->fam)
		return x->fam - y->fam;
	r = memcmp(x->addr, y->addr, 16);
	if (r)
		return r;
	return x->plen - y->plen;
}

static bool same_prefix(const struct item *x, const struct item *y)
{
	return x->fam == y->fam && x->plen == y->plen && !memcmp(x->addr, y->addr, 16);
}

static bool prefix_contains(uint8_t fam, uint8_t plen, const uint8_t *addr, uint8_t ofam, const uint8_t *oaddr)
{
	int full = plen / 8, rem = plen % 8;

	if (fam != ofam || memcmp(addr, oaddr, (size_t)full))
		return false;
	return !rem || !((addr[full] ^ oaddr[full]) & (uint8_t)(0xff << (8 - rem)));
}

static uint32_t min_id(uint32_t a, uint32_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

static void push_range(struct vg_enf_range *out, size_t *n, uint32_t lo, uint32_t hi, uint32_t own, uint32_t shared)
{
	struct vg_enf_range *last = *n ? &out[*n - 1] : NULL;

	/* neighbours that decide the same way are one interval: shorter lists, fewer bisection steps */
	if (last && last->hi + 1u == lo && last->own_rule == own && last->shared_rule == shared) {
		last->hi = (uint16_t)hi;
		return;
	}
	out[*n] = (struct vg_enf_range){ .lo = (uint16_t)lo, .hi = (uint16_t)hi, .own_rule = own, .shared_rule = shared };
	(*n)++;
}

/* in[0..n) + [lo, hi] for rule (own or shared) -> out; both lists sorted and disjoint. */
static size_t apply_range(const struct vg_enf_range *in, size_t n, uint32_t lo, uint32_t hi, uint32_t own,
			  uint32_t shared, struct vg_enf_range *out)
{
	size_t m = 0;
	uint32_t pos = lo; /* first port of [lo, hi] not yet written */

	for (size_t i = 0; i < n; i++) {
		const struct vg_enf_range *iv = &in[i];
		uint32_t s, e;

		if (iv->hi < lo) {
			push_range(out, &m, iv->lo, iv->hi, iv->own_rule, iv->shared_rule);
			continue;
		}
		if (iv->lo > hi) {
			if (pos <= hi) {
				push_range(out, &m, pos, hi, own, shared);
				pos = hi + 1;
			}
			push_range(out, &m, iv->lo, iv->hi, iv->own_rule, iv->shared_rule);
			continue;
		}
		if (iv->lo < lo)
			push_range(out, &m, iv->lo, lo - 1, iv->own_rule, iv->shared_rule);
		s = iv->lo > lo ? iv->lo : lo;
		e = iv->hi < hi ? iv->hi : hi;
		if (pos < s)
			push_range(out, &m, pos, s - 1, own, shared);
		push_range(out, &m, s, e, min_id(iv->own_rule, own), min_id(iv->shared_rule, shared));
		pos = e + 1;
		if (iv->hi > hi)
			push_range(out, &m, hi + 1, iv->hi, iv->own_rule, iv->shared_rule);
	}
	if (pos <= hi)
		push_range(out, &m, pos, hi, own, shared);
	return m;
}

/* Which classes a rule speaks for, and whether its ports apply there. */
static bool rule_in_class(const struct vg_rule *r, unsigned cls)
{
	switch (r->proto) {
	case VG_PROTO_TCP:
		return cls == VG_ENF_CLASS_TCP;
	case VG_PROTO_UDP:
		return cls == VG_ENF_CLASS_UDP;
	case VG_PROTO_ICMP:
		return cls == VG_ENF_CLASS_ICMP;
	default:
		/* "any" with ports names port-carrying protocols only */
		return cls <= VG_ENF_CLASS_UDP || !r->nports;
	}
}

/* The interval list at off, cnt (an enclosing CIDR's, or empty) with grp's rules of class cls applied. */
static int build_class(struct builder *bd, const struct item *grp, size_t ngrp, unsigned cls, uint32_t *off,
		       uint32_t *cnt)
{
	struct vg_enf_compiled *c = bd->c;
	size_t n = *cnt, i;

	for (i = 0; i < ngrp; i++)
		if (grp[i].kind != ITEM_SEGMENT && rule_in_class(grp[i].rule, cls))
			break;
	if (i == ngrp)
		return 0; /* the enclosing CIDR's list applies unchanged: share it */
	if (n)
		memcpy(bd->tmp, c->ranges + *off, n * sizeof(*bd->tmp));
	for (; i < ngrp; i++) {
		const struct vg_rule *r = grp[i].rule;
		uint32_t own, shared;

		if (grp[i].kind == ITEM_SEGMENT || !rule_in_class(r, cls))
			continue;
		own = grp[i].kind == ITEM_OWN ? r->id : 0;
		shared = grp[i].kind == ITEM_SHARED ? r->id : 0;
		if (!r->nports || cls >= VG_ENF_CLASS_ICMP) {
			n = apply_range(bd->tmp, n, 0, 65535, own, shared, bd->tmp2);
			memcpy(bd->tmp, bd->tmp2, n * sizeof(*bd->tmp));
			continue;
		}
		for (size_t k = 0; k < r->nports; k++) {
			n = apply_range(bd->tmp, n, r->ports[k].lo, r->ports[k].hi, own, shared, bd->tmp2);
			memcpy(bd->tmp, bd->tmp2, n * sizeof(*bd->tmp));
		}
	}
	if (c->nranges + n > VG_ENF_MAX_RANGES)
		return vg_err_set(bd->err, E2BIG, "enforce_too_large", "$", "the policy needs more than %u port intervals; split it or use fewer distinct port lists", VG_ENF_MAX_RANGES);
	if (grow((void **)&c->ranges, &bd->cap_ranges, c->nranges + n, sizeof(*c->ranges)))
		return -ENOMEM;
	memcpy(c->ranges + c->nranges, bd->tmp, n * sizeof(*bd->tmp));
	*off = (uint32_t)c->nranges;
	*cnt = (uint32_t)n;
	c->nranges += n;
	return 0;
}

/* One tenant's (or the host's) items -> trie entries, walking the CIDR tree depth first. */
static int build_view(struct builder *bd, uint32_t tenant)
{
	struct vg_enf_compiled *c = bd->c;
	struct node stack[130]; /* a chain of nested prefixes is at most 129 long */
	size_t depth = 0;
	int r;

	if (bd->nitems > 1) /* items is NULL while nothing was added: qsort(NULL, 0) is undefined */
		qsort(bd->items, bd->nitems, sizeof(*bd->items), cmp_item);
	for (size_t i = 0; i < bd->nitems;) {
		const struct item *g = &bd->items[i];
		struct vg_enf_entry *e;
		struct node *nd;
		size_t ngrp = 1;
		bool seg = false, foreign = false;

		while (i + ngrp < bd->nitems && same_prefix(g, &bd->items[i + ngrp]))
			ngrp++;
		while (depth && !prefix_contains(stack[depth - 1].fam, stack[depth - 1].plen, stack[depth - 1].addr,
						 g->fam, g->addr))
			depth--;
		nd = &stack[depth];
		memset(nd, 0, sizeof(*nd));
		nd->fam = g->fam;
		nd->plen = g->plen;
		memcpy(nd->addr, g->addr, 16);
		if (depth)
			nd->val = stack[depth - 1].val;
		for (size_t k = 0; k < ngrp; k++) {
			if (g[k].kind != ITEM_SEGMENT)
				continue;
			seg = true;
			if (g[k].owner != tenant) {
				foreign = true;
				nd->val.seg_owner = g[k].owner;
			}
		}
		/* the longest segment decides; listed by two tenants, it is foreign (deny wins) */
		if (seg && !foreign)
			nd->val.seg_owner = tenant;
		for (unsigned cls = 0; cls < VG_ENF_CLASS__COUNT; cls++)
			if ((r = build_class(bd, g, ngrp, cls, &nd->val.off[cls], &nd->val.cnt[cls])) < 0)
				return r;
		if (c->nentries + 1 > bd->limit)
			return vg_err_set(bd->err, E2BIG, "enforce_too_large", "$",
					  "the policy needs more than %zu trie entries (one per tenant and CIDR, segments count for every tenant); reduce the rules or raise enforce_max_entries",
					  bd->limit);
		if (grow((void **)&c->entries, &bd->cap_entries, c->nentries + 1, sizeof(*c->entries)))
			return -ENOMEM;
		e = &c->entries[c->nentries++];
		memset(e, 0, sizeof(*e));
		e->key.prefixlen = VG_ENF_KEY_HEAD_BITS + g->plen;
		e->key.tenant = tenant;
		e->key.fam = g->fam;
		memcpy(e->key.addr, g->addr, 16);
		e->val = nd->val;
		depth++;
		i += ngrp;
		if ((r = hand_over(bd, false)) < 0)
			return r;
	}
	return 0;
}

static int add_rules(struct builder *bd, const struct vg_rule *rules, size_t n, enum item_kind kind)
{
	for (size_t i = 0; i < n; i++)
		if (add_item(bd, &rules[i].cidr, kind, &rules[i], 0))
			return -ENOMEM;
	return 0;
}

static int compile_tenant(struct builder *bd, const struct vg_bundle *b, const struct vg_tenant *t)
{
	bd->nitems = 0;
	if (add_rules(bd, t->egress, t->negress, ITEM_OWN))
		return -ENOMEM;
	for (size_t k = 0; k < t->nshared; k++) {
		const struct vg_shared_service *s = &b->shared_services[t->shared[k]];

		if (add_rules(bd, s->rules, s->nrules, ITEM_SHARED))
			return -ENOMEM;
	}
	for (size_t j = 0; j < b->ntenants; j++)
		for (size_t k = 0; k < b->tenants[j].nsegments; k++)
			if (add_item(bd, &b->tenants[j].segments[k], ITEM_SEGMENT, NULL, b->tenants[j].id))
				return -ENOMEM;
	return build_view(bd, t->id);
}

uint32_t vg_enf_name_tag(const char *pattern)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)pattern; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h ? h : 1;
}

/* A name rule's ports, as build_class compiles a CIDR rule's (the CIDR plays no part). */
static int compile_name(struct builder *bd, uint32_t tenant, const struct vg_name_rule *n)
{
	struct vg_enf_compiled *c = bd->c;
	struct vg_rule r = { .id = n->id, .proto = n->proto, .nports = n->nports, .ports = n->ports };
	struct item it = { .kind = ITEM_OWN, .rule = &r };
	struct vg_enf_name_entry *e;
	int ret;

	if (grow((void **)&c->names, &bd->cap_names, c->nnames + 1, sizeof(*c->names)))
		return -ENOMEM;
	e = &c->names[c->nnames];
	memset(e, 0, sizeof(*e));
	e->key.tenant = tenant;
	e->key.rule = n->id;
	e->val.tag = vg_enf_name_tag(n->pattern);
	for (unsigned cls = 0; cls < VG_ENF_CLASS__COUNT; cls++)
		if ((ret = build_class(bd, &it, 1, cls, &e->val.off[cls], &e->val.cnt[cls])) < 0)
			return ret;
	c->nnames++;
	return 0;
}

static int compile_tenant_names(struct builder *bd, const struct vg_bundle *b, const struct vg_tenant *t)
{
	int r;

	for (size_t i = 0; i < t->nnames; i++)
		if ((r = compile_name(bd, t->id, &t->names[i])) < 0)
			return r;
	for (size_t k = 0; k < t->nshared; k++) {
		const struct vg_shared_service *s = &b->shared_services[t->shared[k]];

		for (size_t i = 0; i < s->nnames; i++)
			if ((r = compile_name(bd, t->id, &s->names[i])) < 0)
				return r;
	}
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	const struct vg_enf_name_entry *x = a, *y = b;

	if (x->key.tenant != y->key.tenant)
		return x->key.tenant < y->key.tenant ? -1 : 1;
	if (x->key.rule != y->key.rule)
		return x->key.rule < y->key.rule ? -1 : 1;
	return 0;
}

const struct vg_enf_name_entry *vg_enf_name_find(const struct vg_enf_compiled *c, uint32_t tenant, uint32_t rule)
{
	struct vg_enf_name_entry k = { .key = { .tenant = tenant, .rule = rule } };

	if (!c || !c->nnames)
		return NULL;
	return bsearch(&k, c->names, c->nnames, sizeof(*c->names), cmp_name);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct vg_enf_entry *x = a, *y = b;
	int r;

	if (x->key.tenant != y->key.tenant)
		return x->key.tenant < y->key.tenant ? -1 : 1;
	if (x->key.fam != y->key.fam)
		return x->key.fam - y->key.fam;
	r = memcmp(x->key.addr, y->key.addr, 16);
	if (r)
		return r;
	return x->key.prefixlen < y->key.prefixlen ? -1 : x->key.prefixlen > y->key.prefixlen;
}

/* A view's entries come out of build_view in the items' order, which is cmp_entry's within a
 * tenant: only tenants listed out of id order need the sort. */
static bool entries_sorted(const struct vg_enf_compiled *c)
{
	for (size_t i = 1; i < c->nentries; i++)
		if (cmp_entry(&c->entries[i - 1], &c->entries[i]) > 0)
			return false;
	return true;
}

void vg_enf_compiled_free(struct vg_enf_compiled *c)
{
	if (!c)
		return;
	free(c->entries);
	free(c->ranges);
	free(c->cgroups);
	free(c->tenants);
	free(c->connrates);
	free(c->names);
	free(c);
}

struct vg_enf_connrate_conf vg_enf_connrate_conf_of(uint32_t per_second, uint32_t burst)
{
	struct vg_enf_connrate_conf c = { .per_second = per_second, .burst = burst, .cap = burst * VG_ENF_TOKEN };

	c.fill_ns = c.cap / per_second;
	return c;
}

uint64_t vg_enf_bucket_level(const struct vg_enf_connrate_conf *c, const struct vg_enf_bucket *b, uint64_t now)
{
	struct vg_enf_bucket t = *b;

	/* the kernel's own refill, on a copy, then the token the take would have used given back */
	if (!vg_enf_bucket_take(c, &t, now, 0))
		return 0;
	return t.tokens / VG_ENF_TOKEN + 1;
}

/* Every tenant's connect_rate, for connrate_conf; the buckets themselves live in the kernel. */
static int compile_connect_rates(const struct vg_bundle *b, struct vg_enf_compiled *c)
{
	c->connrates = calloc(b->ntenants ? b->ntenants : 1, sizeof(*c->connrates));
	if (!c->connrates)
		return -ENOMEM;
	for (size_t i = 0; i < b->ntenants; i++) {
		const struct vg_tenant *t = &b->tenants[i];

		if (!t->connect_rate.per_second)
			continue;
		c->connrates[c->nconnrates++] = (struct vg_enf_connrate){
			.tenant = t->id, .conf = vg_enf_connrate_conf_of(t->connect_rate.per_second, t->connect_rate.burst)
		};
	}
	return 0;
}

int vg_enf_compile(const struct vg_bundle *b, size_t limit_entries, struct vg_enf_compiled **out,
		   struct vg_err *err)
{
	return vg_enf_compile_sink(b, limit_entries, NULL, out, err);
}

int vg_enf_compile_sink(const struct vg_bundle *b, size_t limit_entries, const struct vg_enf_sink *sink,
			struct vg_enf_compiled **out, struct vg_err *err)
{
	struct builder bd = { .limit = limit_entries && limit_entries < VG_ENF_MAX_ENTRIES ? limit_entries : VG_ENF_MAX_ENTRIES,
			      .err = err, .sink = sink && sink->every ? sink : NULL };
	struct vg_enf_compiled *c;
	size_t ncg = 0;
	int r = -ENOMEM;

	c = calloc(1, sizeof(*c));
	bd.c = c;
	bd.tmp = malloc(VG_ENF_MAX_INTERVALS * sizeof(*bd.tmp));
	bd.tmp2 = malloc(VG_ENF_MAX_INTERVALS * sizeof(*bd.tmp2));
	if (!c || !bd.tmp || !bd.tmp2)
		goto out;
	for (size_t i = 0; i < b->ntenants; i++)
		ncg += b->tenants[i].ncgroups;
	c->cgroups = calloc(ncg ? ncg : 1, sizeof(*c->cgroups));
	c->tenants = calloc(b->ntenants ? b->ntenants : 1, sizeof(*c->tenants));
	if (!c->cgroups || !c->tenants)
		goto out;
	c->host = (struct vg_enf_cgroup_val){ .tenant = 0, .mode = (uint8_t)b->host.mode, .dflt = (uint8_t)b->host.dflt,
					      .sockets = VG_ENF_SOCK_ALL };
	if (b->host.dflt == VG_DEFAULT_DENY) {
		bd.nitems = 0;
		if ((r = add_rules(&bd, b->host.egress, b->host.negress, ITEM_OWN)) < 0 ||
		    (r = build_view(&bd, 0)) < 0)
			goto out;
	}
	for (size_t i = 0; i < b->ntenants; i++) {
		const struct vg_tenant *t = &b->tenants[i];
		struct vg_enf_cgroup_val v = { .tenant = t->id, .mode = (uint8_t)t->mode, .sockets = (uint16_t)t->sockets };

		c->tenants[c->ntenants++] = v;
		for (size_t k = 0; k < t->ncgroups; k++)
			c->cgroups[c->ncgroups++] = (struct vg_enf_cgroup){ .path = t->cgroups[k], .val = v };
		if ((r = compile_tenant(&bd, b, t)) < 0 || (r = compile_tenant_names(&bd, b, t)) < 0)
			goto out;
	}
	if ((r = hand_over(&bd, true)) < 0)
		goto out;
	/* the per-tenant items (40 MB for 1M rules) are not needed by the sort that follows */
	free(bd.items);
	bd.items = NULL;
	if (c->nentries > 1 && !entries_sorted(c))
		qsort(c->entries, c->nentries, sizeof(*c->entries), cmp_entry);
	if ((r = compile_connect_rates(b, c)) < 0)
		goto out;
	if (c->nnames > 1)
		qsort(c->names, c->nnames, sizeof(*c->names), cmp_name);
	*out = c;
	c = NULL;
	r = 0;
out:
	if (r == -ENOMEM && !bd.sink_failed)
		vg_err_set(err, ENOMEM, "enforce_nomem", "$", "out of memory compiling the egress policy");
	free(bd.items);
	free(bd.tmp);
	free(bd.tmp2);
	vg_enf_compiled_free(c);
	return r;
}

/* The same bisection as find_range() in bpf/vigil.bpf.c. */
static const struct vg_enf_range *find_range(const struct vg_enf_compiled *c, uint32_t off, uint32_t cnt,
					     uint16_t port)
{
	uint32_t lo = 0, hi = cnt;

	for (int step = 0; step < VG_ENF_BSEARCH_STEPS && lo < hi; step++) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (c->ranges[off + mid].lo <= port)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || port > c->ranges[off + lo - 1].hi)
		return NULL;
	return &c->ranges[off + lo - 1];
}

/* Longest-prefix match over the sorted entries: the trie's answer. */
static const struct vg_enf_entry *lookup(const struct vg_enf_compiled *c, uint32_t tenant, uint8_t fam,
					 const uint8_t *addr)
{
	int maxlen = fam == 4 ? 32 : 128;

	if (!c->nentries)
		return NULL;
	for (int plen = maxlen; plen >= 0; plen--) {
		struct vg_enf_entry k = { 0 };
		const struct vg_enf_entry *e;
		int full = plen / 8, rem = plen % 8;

		k.key.tenant = tenant;
		k.key.fam = fam;
		k.key.prefixlen = VG_ENF_KEY_HEAD_BITS + (uint32_t)plen;
		memcpy(k.key.addr, addr, (size_t)full);
		if (rem)
			k.key.addr[full] = addr[full] & (uint8_t)(0xff << (8 - rem));
		e = bsearch(&k, c->entries, c->nentries, sizeof(*c->entries), cmp_entry);
		if (e)
			return e;
	}
	return NULL;
}

/* learned_rule() of bpf/vigil.bpf.c over c: the first live slot of l whose rule the tenant has (same tag) and whose ports hold port. */
static uint32_t learned_rule(const struct vg_enf_compiled *c, uint32_t tenant, const struct vg_enf_learn_val *l,
			     uint64_t now, uint32_t cls, uint16_t port, uint64_t *expires)
{
	for (int i = 0; l && cls < VG_ENF_CLASS__COUNT && i < VG_ENF_LEARN_SLOTS; i++) {
		const struct vg_enf_learn_slot *s = &l->slot[i];
		const struct vg_enf_name_entry *e;

		if (s->expires_ns <= now)
			continue;
		e = vg_enf_name_find(c, tenant, s->rule);
		if (!e || e->val.tag != s->tag ||
		    !find_range(c, e->val.off[cls], e->val.cnt[cls], cls <= VG_ENF_CLASS_UDP ? port : 0))
			continue;
		*expires = s->expires_ns;
		return s->rule;
	}
	return 0;
}

int vg_enf_explain(const struct vg_enf_compiled *c, uint32_t tenant, int family, const uint8_t *addr,
		   uint16_t port, uint8_t proto, uint32_t port_owner, struct vg_enf_verdict_info *out)
{
	return vg_enf_explain_learned(c, tenant, family, addr, port, proto, port_owner, NULL, 0, out);
}

int vg_enf_explain_learned(const struct vg_enf_compiled *c, uint32_t tenant, int family, const uint8_t *addr,
			   uint16_t port, uint8_t proto, uint32_t port_owner, const struct vg_enf_learn_val *learned,
			   uint64_t now, struct vg_enf_verdict_info *out)
{
	uint32_t name_rule = 0;
	uint64_t expires = 0;
	const struct vg_enf_cgroup_val *who = NULL;
	const struct vg_enf_entry *e = NULL;
	const struct vg_enf_range *rg = NULL;
	uint8_t a[16] = { 0 }, fam;
	uint32_t cls;

	memset(out, 0, sizeof(*out));
	if (tenant == 0) {
		who = &c->host;
	} else {
		for (size_t i = 0; i < c->ntenants; i++)
			if (c->tenants[i].tenant == tenant)
				who = &c->tenants[i];
	}
	if (!who)
		return -ENOENT;
	if (family == AF_INET) {
		fam = 4;
		memcpy(a, addr, 4);
	} else if (family == AF_INET6 && vg_enf_v4mapped(addr)) {
		fam = 4;
		memcpy(a, addr + 12, 4);
	} else if (family == AF_INET6) {
		fam = 6;
		memcpy(a, addr, 16);
	} else {
		return -EAFNOSUPPORT;
	}
	out->mode = who->mode;
	out->fam = fam;
	if (tenant == 0 && who->dflt == VG_DEFAULT_ALLOW) {
		out->verdict = VG_ENF_ALLOW_NOPOLICY;
		out->allowed = true;
		return 0;
	}
	cls = vg_enf_proto_class(proto);
	e = lookup(c, tenant, fam, a);
	if (e) {
		out->matched = true;
		out->prefixlen = (uint8_t)(e->key.prefixlen - VG_ENF_KEY_HEAD_BITS);
		memcpy(out->prefix, e->key.addr, 16);
		rg = find_range(c, e->val.off[cls], e->val.cnt[cls], cls <= VG_ENF_CLASS_UDP ? port : 0);
	}
	if (!(tenant && cls <= VG_ENF_CLASS_UDP && vg_enf_is_local(fam, a)))
		port_owner = 0;
	if (tenant)
		name_rule = learned_rule(c, tenant, learned, now, cls, port, &expires);
	out->verdict = vg_enf_decide(tenant, e ? &e->val : NULL, rg ? rg->own_rule : 0, rg ? rg->shared_rule : 0,
				     name_rule, port_owner, &out->rule_id, &out->owner);
	if (out->verdict == VG_ENF_ALLOW_NAME)
		out->expires_ns = expires;
	out->allowed = vg_enf_verdict_allows(out->verdict) || who->mode == VG_MODE_AUDIT;
	return 0;
}

const char *vg_enf_verdict_name(uint32_t verdict)
{
	switch (verdict) {
	case VG_ENF_ALLOW_NOPOLICY:
		return "allow_host_default";
	case VG_ENF_ALLOW_RULE:
		return "allow_rule";
	case VG_ENF_ALLOW_SHARED:
		return "allow_shared_service";
	case VG_ENF_ALLOW_SEGMENT:
		return "allow_own_segment";
	case VG_ENF_DENY_PORT:
		return "deny_tenant_port";
	case VG_ENF_DENY_SEGMENT:
		return "deny_tenant_segment";
	case VG_ENF_DENY_DEFAULT:
		return "deny_no_rule";
	case VG_ENF_DENY_SOCKET:
		return "deny_socket_kind";
	case VG_ENF_DENY_QUARANTINE:
		return "deny_quarantine";
	case VG_ENF_DENY_RATE:
		return "deny_connect_rate";
	case VG_ENF_ALLOW_NAME:
		return "allow_learned_name";
	case VG_ENF_ALLOW_DNS:
		return "allow_dns_forwarder";
	case VG_ENF_DENY_DNS:
		return "deny_dns_forwarder";
	default:
		return "unknown";
	}
}
