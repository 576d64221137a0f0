/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The forwarder's cache of answers (docs/dns.md, "The cache"), pure part: answers vigild
 * itself fetched from the bundle's resolver, keyed by the question's normalised name, type
 * and the flags that change an answer (vg_dns_query_flags), each with the addresses it
 * teaches and their TTLs, so that a hit can learn them for the asking tenant before it is
 * answered. An entry lives until its smallest TTL (at most ttl_max) runs out; a served copy
 * carries the asker's id and question bytes (case as asked) and TTLs counted down. Bounded
 * by entries and bytes: the least recently used entry goes (an eviction) to make room.
 * Times are CLOCK_MONOTONIC nanoseconds, passed in.
 */
#ifndef VIGIL_DNS_CACHE_H
#define VIGIL_DNS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define VG_DNS_CACHE_MSG_MAX 4096 /* larger answers are not cached */
#define VG_DNS_CACHE_RR_MAX 128 /* nor answers with more records (TTL fields) than this */

struct vg_dns_cache_addr {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint32_t ttl; /* smallest TTL along its CNAME chain, when fetched */
};

struct vg_dns_cache_entry {
	struct vg_dns_cache_entry *hnext, *lprev, *lnext; /* hash chain, recency list (head: most recent) */
	uint64_t fetched_ns, expires_ns;
	uint32_t hash, qtype;
	uint8_t flags;
	uint16_t len, nttl, naddrs, unlearnable, qend;
	size_t bytes; /* what it takes, counted against the bound */
	const char *name; /* normalised */
	uint8_t *msg; /* the answer as fetched */
	uint16_t *ttl_off; /* its TTL fields */
	uint32_t *ttl; /* their values when fetched */
	struct vg_dns_cache_addr *addrs; /* learnable addresses of the answer */
};

struct vg_dns_cache_stats {
	uint64_t entries, bytes, index_bytes, max_entries, max_bytes;
	uint64_t hits, misses, stored, evictions, expired, flushes;
};

struct vg_dns_cache;

/* A cache of at most MAX_ENTRIES answers taking at most MAX_BYTES (0 or 0: NULL, no cache). */
struct vg_dns_cache *vg_dns_cache_new(size_t max_entries, size_t max_bytes);
void vg_dns_cache_free(struct vg_dns_cache *c);

/*
 * Store the answer ANS (LEN bytes, its question NAME of QTYPE asked with FLAGS) fetched at
 * NOW, teaching ADDRS (NADDRS learnable addresses, UNLEARNABLE more that are not): it lives
 * until its smallest TTL, at most TTL_MAX seconds. 0; -EAGAIN when it may not be cached
 * (a TTL of 0, too large, too many records, a compressed question); -ENOMEM. Replaces an
 * entry of the same key; evicts the least recently used to stay within the bounds.
 */
int vg_dns_cache_put(struct vg_dns_cache *c, const char *name, uint16_t qtype, uint8_t flags, const uint8_t *ans,
		     size_t len, const struct vg_dns_cache_addr *addrs, size_t naddrs, size_t unlearnable,
		     uint32_t ttl_max, uint64_t now);

/* The live entry for (NAME, QTYPE, FLAGS) at NOW, made the most recent (a hit), or NULL (a miss;
 * an expired entry found is removed). */
const struct vg_dns_cache_entry *vg_dns_cache_get(struct vg_dns_cache *c, const char *name, uint16_t qtype,
						  uint8_t flags, uint64_t now);

/*
 * The entry as the answer to the question Q (QLEN bytes, the key's name, any case): its id,
 * its question bytes, every TTL less the whole seconds since the answer was fetched. The
 * length written to OUT, or -EINVAL (Q's question is not as long as the entry's), -ENOSPC.
 */
int vg_dns_cache_answer(const struct vg_dns_cache_entry *e, const uint8_t *q, size_t qlen, uint64_t now, uint8_t *out,
			size_t outlen);

/* Every entry goes (a policy change). */
void vg_dns_cache_flush(struct vg_dns_cache *c);
/* Expired entries go. Returns how many. */
size_t vg_dns_cache_sweep(struct vg_dns_cache *c, uint64_t now);
void vg_dns_cache_stats(const struct vg_dns_cache *c, struct vg_dns_cache_stats *out);

#endif
