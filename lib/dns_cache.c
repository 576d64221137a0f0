/* SPDX-License-Identifier: Apache-2.0 */
/* The forwarder's cache of answers (include/vigil/dns_cache.h, docs/dns.md "The cache"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "vigil/dns.h"
#include "vigil/dns_cache.h"

struct vg_dns_cache {
	struct vg_dns_cache_entry **buckets;
	size_t nbuckets; /* a power of two */
	uint32_t seed;	 /* secret: a tenant cannot choose names that share a bucket */
	struct vg_dns_cache_entry *head, *tail;
	struct vg_dns_cache_stats st;
};

struct vg_dns_cache *vg_dns_cache_new(size_t max_entries, size_t max_bytes)
{
	struct vg_dns_cache *c;
	/* no more entries than the bytes hold (each takes more than its header): the index's size */
	size_t fit = max_bytes / sizeof(struct vg_dns_cache_entry), want = max_entries < fit ? max_entries : fit,
	       nb = 16;

	if (!max_entries || !max_bytes)
		return NULL;
	while (nb < want && nb < ((size_t)1 << 24))
		nb <<= 1;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->buckets = calloc(nb, sizeof(*c->buckets)))) {
		free(c);
		return NULL;
	}
	if (getrandom(&c->seed, sizeof(c->seed), 0) != sizeof(c->seed)) {
		free(c->buckets);
		free(c);
		return NULL;
	}
	c->nbuckets = nb;
	c->st.max_entries = max_entries;
	c->st.max_bytes = max_bytes;
	c->st.index_bytes = sizeof(*c) + nb * sizeof(*c->buckets);
	return c;
}

/* FNV-1a from a secret start, then a finaliser (murmur3's) so that every bit of it moves the bucket */
static uint32_t key_hash(const struct vg_dns_cache *c, const char *name, uint16_t qtype, uint8_t flags)
{
	uint32_t h = 2166136261u ^ c->seed;

	while (*name)
		h = (h ^ (uint8_t)*name++) * 16777619u;
	h = (h ^ qtype) * 16777619u;
	h = (h ^ flags) * 16777619u;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

static void unlink_entry(struct vg_dns_cache *c, struct vg_dns_cache_entry *e)
{
	struct vg_dns_cache_entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		c->head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		c->tail = e->lprev;
	c->st.entries--;
	c->st.bytes -= e->bytes;
	free(e);
}

static void push_front(struct vg_dns_cache *c, struct vg_dns_cache_entry *e)
{
	e->lprev = NULL;
	e->lnext = c->head;
	if (c->head)
		c->head->lprev = e;
	else
		c->tail = e;
	c->head = e;
}

static struct vg_dns_cache_entry *find(struct vg_dns_cache *c, uint32_t hash, const char *name, uint16_t qtype,
				       uint8_t flags)
{
	for (struct vg_dns_cache_entry *e = c->buckets[hash & (c->nbuckets - 1)]; e; e = e->hnext)
		if (e->hash == hash && e->qtype == qtype && e->flags == flags && !strcmp(e->name, name))
			return e;
	return NULL;
}

void vg_dns_cache_free(struct vg_dns_cache *c)
{
	if (!c)
		return;
	vg_dns_cache_flush(c);
	free(c->buckets);
	free(c);
}

/* one allocation: the entry, then its TTL offsets and values, addresses, message and name */
static struct vg_dns_cache_entry *entry_new(const char *name, const uint8_t *ans, size_t len, size_t nttl,
					    const struct vg_dns_cache_addr *addrs, size_t naddrs)
{
	size_t nl = strlen(name) + 1;
	size_t bytes = sizeof(struct vg_dns_cache_entry) + nttl * sizeof(uint32_t) + naddrs * sizeof(*addrs) +
		       nttl * sizeof(uint16_t) + len + nl;
	struct vg_dns_cache_entry *e = calloc(1, bytes);
	uint8_t *p;

	if (!e)
		return NULL;
	e->bytes = bytes;
	e->ttl = (uint32_t *)(e + 1);
	e->addrs = (struct vg_dns_cache_addr *)(e->ttl + nttl);
	e->ttl_off = (uint16_t *)(e->addrs + naddrs);
	p = (uint8_t *)(e->ttl_off + nttl);
	e->msg = p;
	memcpy(p, ans, len);
	memcpy(p + len, name, nl);
	e->name = (const char *)(p + len);
	if (naddrs)
		memcpy(e->addrs, addrs, naddrs * sizeof(*addrs));
	return e;
}

int vg_dns_cache_put(struct vg_dns_cache *c, const char *name, uint16_t qtype, uint8_t flags, const uint8_t *ans,
		     size_t len, const struct vg_dns_cache_addr *addrs, size_t naddrs, size_t unlearnable,
		     uint32_t ttl_max, uint64_t now)
{
	uint16_t off[VG_DNS_CACHE_RR_MAX];
	uint32_t min_ttl, hash = key_hash(c, name, qtype, flags);
	struct vg_dns_cache_entry *e, *old;
	size_t qend;
	int n;

	if (len > VG_DNS_CACHE_MSG_MAX || naddrs > UINT16_MAX || unlearnable > UINT16_MAX)
		return -EAGAIN;
	n = vg_dns_ttl_fields(ans, len, off, VG_DNS_CACHE_RR_MAX, &min_ttl, &qend);
	if (n < 0)
		return -EAGAIN;
	if (min_ttl > ttl_max)
		min_ttl = ttl_max;
	if (!min_ttl)
		return -EAGAIN;
	if (!(e = entry_new(name, ans, len, (size_t)n, addrs, naddrs)))
		return -ENOMEM;
	if (e->bytes > c->st.max_bytes) {
		free(e);
		return -EAGAIN;
	}
	for (int i = 0; i < n; i++) {
		e->ttl_off[i] = off[i];
		e->ttl[i] = (uint32_t)ans[off[i]] << 24 | (uint32_t)ans[off[i] + 1] << 16 |
			    (uint32_t)ans[off[i] + 2] << 8 | ans[off[i] + 3];
		if (e->ttl[i] & 0x80000000u)
			e->ttl[i] = 0;
	}
	e->hash = hash;
	e->qtype = qtype;
	e->flags = flags;
	e->len = (uint16_t)len;
	e->nttl = (uint16_t)n;
	e->naddrs = (uint16_t)naddrs;
	e->unlearnable = (uint16_t)unlearnable;
	e->qend = (uint16_t)qend;
	e->fetched_ns = now;
	e->expires_ns = now + min_ttl * 1000000000ull;
	if ((old = find(c, hash, name, qtype, flags)))
		unlink_entry(c, old);
	while (c->tail && (c->st.entries >= c->st.max_entries || c->st.bytes + e->bytes > c->st.max_bytes)) {
		if (c->tail->expires_ns > now)
			c->st.evictions++;
		else
			c->st.expired++;
		unlink_entry(c, c->tail);
	}
	e->hnext = c->buckets[hash & (c->nbuckets - 1)];
	c->buckets[hash & (c->nbuckets - 1)] = e;
	push_front(c, e);
	c->st.entries++;
	c->st.bytes += e->bytes;
	c->st.stored++;
	return 0;
}

const struct vg_dns_cache_entry *vg_dns_cache_get(struct vg_dns_cache *c, const char *name, uint16_t qtype,
						  uint8_t flags, uint64_t now)
{
	struct vg_dns_cache_entry *e = find(c, key_hash(c, name, qtype, flags), name, qtype, flags);

	if (e && e->expires_ns <= now) {
		unlink_entry(c, e);
		c->st.expired++;
		e = NULL;
	}
	if (!e) {
		c->st.misses++;
		return NULL;
	}
	c->st.hits++;
	if (c->head != e) {
		e->lprev->lnext = e->lnext;
		if (e->lnext)
			e->lnext->lprev = e->lprev;
		else
			c->tail = e->lprev;
		push_front(c, e);
	}
	return e;
}

int vg_dns_cache_answer(const struct vg_dns_cache_entry *e, const uint8_t *q, size_t qlen, uint64_t now, uint8_t *out,
			size_t outlen)
{
	uint64_t age = (now - e->fetched_ns) / 1000000000ull;
	size_t p = 12;

	/* Q's question (uncompressed) ends where the entry's does */
	while (p < qlen && q[p] && !(q[p] & 0xc0))
		p += 1 + (size_t)q[p];
	if (p >= qlen || q[p] || p + 5 != e->qend || qlen < e->qend)
		return -EINVAL;
	if (e->len > outlen)
		return -ENOSPC;
	memcpy(out, e->msg, e->len);
	/* the asker's id and question as asked (its name's case: 0x20); the key is the name in any case */
	memcpy(out, q, 2);
	memcpy(out + 12, q + 12, e->qend - 12);
	for (size_t i = 0; i < e->nttl; i++) {
		uint32_t ttl = e->ttl[i] > age ? e->ttl[i] - (uint32_t)age : 0;
		uint8_t *f = out + e->ttl_off[i];

		f[0] = (uint8_t)(ttl >> 24);
		f[1] = (uint8_t)(ttl >> 16);
		f[2] = (uint8_t)(ttl >> 8);
		f[3] = (uint8_t)ttl;
	}
	return e->len;
}

void vg_dns_cache_flush(struct vg_dns_cache *c)
{
	while (c->head)
		unlink_entry(c, c->head);
	c->st.flushes++;
}

size_t vg_dns_cache_sweep(struct vg_dns_cache *c, uint64_t now)
{
	size_t gone = 0;

	for (struct vg_dns_cache_entry *e = c->head, *next; e; e = next) {
		next = e->lnext;
		if (e->expires_ns <= now) {
			unlink_entry(c, e);
			gone++;
		}
	}
	c->st.expired += gone;
	return gone;
}

void vg_dns_cache_stats(const struct vg_dns_cache *c, struct vg_dns_cache_stats *out)
{
	*out = c->st;
}
