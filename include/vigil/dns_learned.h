/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The learned-address table of egress by name (docs/dns.md), pure part: vigild's copy of
 * the kernel's pinned `learned` map (bpf/vigil_maps.h), which decides what to write there
 * and what to push out when a bound is reached. Bounds: max_total entries on the host (the
 * kernel map's size) and max_tenant per tenant, so one tenant's flood of names evicts only
 * its own entries. The victim is the entry learned least recently (of the tenant at its
 * bound, or of the tenant holding most entries when the host is full); a victim that still
 * had a live slot is counted as an eviction. Every kernel write goes through ops, in the
 * order the kernel must see it (the eviction before the insert).
 */
#ifndef VIGIL_DNS_LEARNED_H
#define VIGIL_DNS_LEARNED_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "../../bpf/vigil_maps.h"

struct vg_learned_ops {
	int (*put)(void *arg, const struct vg_enf_learn_key *k, const struct vg_enf_learn_val *v); /* 0 or -errno */
	int (*del)(void *arg, const struct vg_enf_learn_key *k);
	void *arg;
};

struct vg_learned;

struct vg_learned *vg_learned_new(size_t max_total, size_t max_tenant, const struct vg_learned_ops *ops);
void vg_learned_free(struct vg_learned *t);

/*
 * (k->tenant, k->addr) allowed under rule (tag) until expires_ns: a slot of the entry for
 * the same rule is extended (never shortened, its tag updated), else an empty or expired
 * slot is taken, else the slot expiring first is replaced (counted as an eviction when it
 * was live). 0 or -errno (-EINVAL: tenant or family out of range; ops->put's error, and
 * the table is as before).
 */
int vg_learned_learn(struct vg_learned *t, const struct vg_enf_learn_key *k, uint32_t rule, uint32_t tag,
		     uint64_t expires_ns, uint64_t now);

/* An entry found in the kernel at start (vigild restarted): taken as is, bounds applied later. */
int vg_learned_adopt(struct vg_learned *t, const struct vg_enf_learn_key *k, const struct vg_enf_learn_val *v);

/* Entries whose every slot expired by now: deleted through ops. Returns how many. */
size_t vg_learned_sweep(struct vg_learned *t, uint64_t now);

struct vg_learned_tenant_stats {
	uint64_t entries;   /* (tenant, address) entries held */
	uint64_t evictions; /* live slots pushed out by a bound */
};
void vg_learned_stats(const struct vg_learned *t, uint32_t tenant, struct vg_learned_tenant_stats *out);
size_t vg_learned_total(const struct vg_learned *t);

#endif
