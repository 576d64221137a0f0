/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Egress enforcement, pure part: a bundle compiled into the exact map entries
 * bpf/vigil.bpf.c looks up, and explain(), which walks those entries with the
 * kernel's own decision function (vg_enf_decide in bpf/vigil_maps.h).
 * The format and the semantics are docs/enforcement.md.
 */
#ifndef VIGIL_ENFORCE_H
#define VIGIL_ENFORCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "vigil/bundle.h"
#include "vigil/err.h"
#include "../../bpf/vigil_maps.h"

/* Design limits (the kernel's own are checked when the maps are created). */
#define VG_ENF_MAX_ENTRIES (16u << 20) /* trie entries */
#define VG_ENF_MAX_RANGES (64u << 20)  /* port intervals, all lists together */

struct vg_enf_entry {
	struct vg_enf_lpm_key key;
	struct vg_enf_lpm_val val;
};

/* A tenant cgroup as the bundle names it; user space resolves it to an id. */
struct vg_enf_cgroup {
	const char *path; /* points into the bundle */
	struct vg_enf_cgroup_val val;
};

/* A tenant's connect_rate as the kernel takes it (connrate_conf). */
struct vg_enf_connrate {
	uint32_t tenant;
	struct vg_enf_connrate_conf conf;
};

/* A tenant's name rule in gen_names (bpf/vigil_maps.h). */
struct vg_enf_name_entry {
	struct vg_enf_name_key key;
	struct vg_enf_name_val val;
};

struct vg_enf_compiled {
	size_t nentries;
	struct vg_enf_entry *entries; /* sorted by (tenant, fam, addr, prefixlen) */
	size_t nranges;
	struct vg_enf_range *ranges;
	size_t ncgroups;
	struct vg_enf_cgroup *cgroups;
	size_t ntenants;
	struct vg_enf_cgroup_val *tenants; /* id and mode of every tenant, in bundle order */
	struct vg_enf_cgroup_val host;
	size_t nconnrates;
	struct vg_enf_connrate *connrates; /* tenants with a connect_rate, in bundle order */
	size_t nnames;
	struct vg_enf_name_entry *names; /* sorted by (tenant, rule); intervals in ranges */
};

/* The tag of a name rule's pattern in gen_names and in learned slots (never 0). */
uint32_t vg_enf_name_tag(const char *pattern);
/* The tenant's name rule (its own or a listed shared service's) in c, NULL: none. */
const struct vg_enf_name_entry *vg_enf_name_find(const struct vg_enf_compiled *c, uint32_t tenant, uint32_t rule);

/* limit_entries: 0 or above VG_ENF_MAX_ENTRIES = VG_ENF_MAX_ENTRIES; a larger policy is rejected with err. */
int vg_enf_compile(const struct vg_bundle *b, size_t limit_entries, struct vg_enf_compiled **out,
		   struct vg_err *err);

/*
 * Trie entries handed over while they are compiled, so the kernel's trie can be filled
 * beside the compile: chunk() gets each run of `every` new entries (the last run shorter)
 * in the order they are made (not the final sorted order), every entry exactly once. The
 * pointer is valid during the call only. A negative return aborts the compile with it;
 * chunk() has set err then.
 */
struct vg_enf_sink {
	int (*chunk)(void *arg, const struct vg_enf_entry *e, size_t n, struct vg_err *err);
	void *arg;
	size_t every;
};
int vg_enf_compile_sink(const struct vg_bundle *b, size_t limit_entries, const struct vg_enf_sink *sink,
			struct vg_enf_compiled **out, struct vg_err *err);
void vg_enf_compiled_free(struct vg_enf_compiled *c);

struct vg_enf_verdict_info {
	uint32_t verdict; /* enum vg_enf_verdict */
	bool allowed;	  /* verdict allows, or mode is audit */
	uint8_t mode;	  /* enum vg_mode of the tenant (host: host mode) */
	uint32_t rule_id; /* deciding rule, 0: none (a name rule for VG_ENF_ALLOW_NAME) */
	uint64_t expires_ns; /* VG_ENF_ALLOW_NAME: until when the learned slot that allowed it lives */
	uint32_t owner;	  /* tenant owning the deciding segment or port, 0: none */
	bool matched;	  /* a trie entry matched: prefix/fam are set */
	uint8_t fam;	  /* 4 or 6 */
	uint8_t prefixlen;
	uint8_t prefix[16];
};

/*
 * Why would (tenant, destination) be allowed? tenant 0: the host policy.
 * family AF_INET (addr: 4 bytes) or AF_INET6 (16; IPv4-mapped is matched as IPv4).
 * port_owner: tenant whose listener owns (port, proto) on this host, 0: none.
 * Returns -ENOENT for an unknown tenant.
 */
int vg_enf_explain(const struct vg_enf_compiled *c, uint32_t tenant, int family, const uint8_t *addr,
		   uint16_t port, uint8_t proto, uint32_t port_owner, struct vg_enf_verdict_info *out);

/*
 * vg_enf_explain with what the tenant learned for addr (the kernel's learned
 * map entry, NULL: nothing) at time now (CLOCK_MONOTONIC ns): a live slot
 * whose name rule the tenant has in c with the same tag and whose ports hold
 * port allows it, as vg_enf_learned_rule() does in the kernel.
 */
int vg_enf_explain_learned(const struct vg_enf_compiled *c, uint32_t tenant, int family, const uint8_t *addr,
			   uint16_t port, uint8_t proto, uint32_t port_owner, const struct vg_enf_learn_val *learned,
			   uint64_t now, struct vg_enf_verdict_info *out);

const char *vg_enf_verdict_name(uint32_t verdict);

/* The kernel's bucket settings for per_second connections a second and burst (both >= 1). */
struct vg_enf_connrate_conf vg_enf_connrate_conf_of(uint32_t per_second, uint32_t burst);
/* Whole connections in a bucket at now (CLOCK_MONOTONIC ns), for status: the refill without taking. */
uint64_t vg_enf_bucket_level(const struct vg_enf_connrate_conf *c, const struct vg_enf_bucket *b, uint64_t now);

#endif
