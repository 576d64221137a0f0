/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The contract between bpf/vigil.bpf.c and user space (lib/enforce_compile.c,
 * agent/enforce.c): map keys, values, events, and the one decision function
 * both sides run, so that `vigilctl explain` and the kernel cannot disagree.
 * docs/enforcement.md explains the layout.
 *
 * Included from BPF (after vmlinux.h) and from user space (after <linux/types.h>).
 */
#ifndef VIGIL_BPF_MAPS_H
#define VIGIL_BPF_MAPS_H

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/*
 * Policy generations: active[0] holds the generation number; its low bit is
 * the slot of every gen_* map in force. A switch to the other slot adds 1, a
 * change made in place (a tenant cgroup re-resolved) adds 2: every change gives
 * a new number in one 32-bit write, and the per-socket cached verdicts stamped
 * with the old number are judged again.
 */
#define VG_ENF_GEN_SLOTS 2
#define VG_ENF_GEN_SLOT(gen) ((gen) & 1u)
/* Deepest cgroup level searched for a tenant cgroup (level 0 is the root). */
#define VG_ENF_MAX_CGROUP_DEPTH 32
/* Intervals per (prefix, protocol class) list: at most one per port. */
#define VG_ENF_MAX_INTERVALS 65536
/* Binary search steps that cover VG_ENF_MAX_INTERVALS entries. */
#define VG_ENF_BSEARCH_STEPS 17
/* Trie key bits before the address: 32 of tenant id, 8 of family (4 or 6). */
#define VG_ENF_KEY_HEAD_BITS 40
#define VG_ENF_KEY_FULL_BITS (VG_ENF_KEY_HEAD_BITS + 128)
/* Key of the host policy in the cgroup map: no real cgroup has id 0. */
#define VG_ENF_HOST_CGID 0
#define VG_ENF_MAX_TENANT 65535

/* Protocol classes: every list already contains the tenant's "any" rules. */
enum vg_enf_class {
	VG_ENF_CLASS_TCP = 0,
	VG_ENF_CLASS_UDP = 1,
	VG_ENF_CLASS_ICMP = 2,	/* ICMP and ICMPv6; ports do not apply */
	VG_ENF_CLASS_OTHER = 3, /* anything else a raw socket sends; only "any" rules */
	VG_ENF_CLASS__COUNT = 4,
};

enum vg_enf_verdict {
	VG_ENF_ALLOW_NOPOLICY = 1, /* no policy loaded, or host default allow */
	VG_ENF_ALLOW_RULE = 2,	   /* the tenant's own egress rule (rule_id) */
	VG_ENF_ALLOW_SHARED = 3,   /* a shared service the tenant lists (rule_id) */
	VG_ENF_ALLOW_SEGMENT = 4,  /* the tenant's own segment */
	VG_ENF_DENY_PORT = 5,	   /* another tenant's local listening port (owner) */
	VG_ENF_DENY_SEGMENT = 6,   /* another tenant's segment (owner) */
	VG_ENF_DENY_DEFAULT = 7,   /* nothing allows it */
	VG_ENF_DENY_SOCKET = 8,	   /* a socket kind the tenant may not open (sock_create) */
	VG_ENF_DENY_QUARANTINE = 9, /* the tenant (or the owner of the local port) is quarantined */
	VG_ENF_DENY_RATE = 10,	    /* allowed by policy, but the tenant's connect_rate bucket is empty */
	VG_ENF_ALLOW_NAME = 11,	    /* an address the tenant learned through its DNS forwarder (rule_id: the name rule) */
	VG_ENF_ALLOW_DNS = 12,	    /* the tenant's DNS traffic, redirected to its vigild forwarder */
	VG_ENF_DENY_DNS = 13,	    /* a DNS forwarder's address named directly, or DNS with the forwarder unknown */
};

static __always_inline int vg_enf_verdict_allows(__u32 v)
{
	return v <= VG_ENF_ALLOW_SEGMENT || v == VG_ENF_ALLOW_NAME || v == VG_ENF_ALLOW_DNS;
}

enum vg_enf_hook {
	VG_ENF_HOOK_CONNECT = 1,
	VG_ENF_HOOK_SENDMSG = 2,
	VG_ENF_HOOK_SKB = 3,
	VG_ENF_HOOK_SOCK_CREATE = 4,
};

/*
 * Per-tenant connection rate (docs/enforcement.md "Connection rate"): a token
 * bucket per tenant, shared by its cgroups and every CPU under a spin lock.
 * Tokens are counted in nanotokens so that a refill is one multiplication:
 * per_second nanotokens per nanosecond elapsed.
 */
#define VG_ENF_TOKEN 1000000000ULL

/* connrate_conf key: the settings belong to a generation slot and switch with it */
struct vg_enf_connrate_key {
	__u32 tenant;
	__u32 slot;
};

struct vg_enf_connrate_conf {
	__u32 per_second, burst;
	__u64 cap;     /* burst * VG_ENF_TOKEN */
	__u64 fill_ns; /* time an empty bucket takes to fill: cap / per_second */
};

/* connrate_buckets value (key: tenant): survives policy swaps and vigild restarts */
#ifdef __bpf__
#define VG_ENF_SPIN_LOCK struct bpf_spin_lock
#else
#define VG_ENF_SPIN_LOCK __u32 /* the same 4 bytes; user space reads with BPF_F_LOCK */
#endif
struct vg_enf_bucket {
	VG_ENF_SPIN_LOCK lock;
	__u32 pad;
	__u64 tokens;	   /* nanotokens */
	__u64 last_ns;	   /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the last refill */
	__u64 limited;	   /* connections refused for rate (enforce mode) */
	__u64 would_limit; /* connections an audit-mode tenant made beyond its rate */
};

/*
 * One connection against the bucket at time now: 1 when a token was there
 * (and is taken), 0 when the tenant is over its rate (counted). Run under the
 * bucket's lock; a bucket never used (last_ns 0) starts full.
 */
static __always_inline int vg_enf_bucket_take(const struct vg_enf_connrate_conf *c, struct vg_enf_bucket *b, __u64 now,
					      int audit)
{
	__u64 el = now > b->last_ns ? now - b->last_ns : 0;

	/* below fill_ns, el * per_second < cap: no overflow */
	if (el >= c->fill_ns)
		b->tokens = c->cap;
	else
		b->tokens += el * c->per_second;
	if (b->tokens > c->cap)
		b->tokens = c->cap;
	b->last_ns = now;
	if (b->tokens >= VG_ENF_TOKEN) {
		b->tokens -= VG_ENF_TOKEN;
		return 1;
	}
	if (audit)
		b->would_limit++;
	else
		b->limited++;
	return 0;
}

/* Who an event names (events are made where the kernel knows different things). */
enum vg_enf_actor {
	VG_ENF_ACTOR_TASK = 1,	  /* the calling process (socket hooks) */
	VG_ENF_ACTOR_CREATOR = 2, /* the process that created the socket (packets) */
	VG_ENF_ACTOR_SOCKET = 3,  /* only the socket's owner uid is known (packets of sockets older than vigil, kernel sockets) */
};

/*
 * Quarantine (emergency documents, docs/emergency.md): q_active[0] holds the
 * quarantine set's number, its low bit the slot of q_lpm/q_ranges in force;
 * `quarantined` says which tenants are in it. A quarantined tenant's
 * destinations are judged against its allow list, compiled like a tenant's
 * egress rules into q_lpm/q_ranges, in enforce mode whatever the bundle says.
 */
struct vg_enf_quar {
	__s64 counter;	  /* the emergency document that imposed it */
	__s64 expires_at; /* Unix time */
	char id[65];	  /* quarantine id, for status after a restart */
	__u8 pad[7];
};

/* Socket kinds a tenant may open only when its bundle entry allows them (vg_enf_cgroup_val.sockets). */
#define VG_ENF_SOCK_RAW 0x1    /* SOCK_RAW in AF_INET/AF_INET6 */
#define VG_ENF_SOCK_PACKET 0x2 /* AF_PACKET (needs the BPF LSM) */
#define VG_ENF_SOCK_MPTCP 0x4  /* IPPROTO_MPTCP */
#define VG_ENF_SOCK_ALL 0x7

/*
 * IPv4 and IPv6 live in one trie, told apart by fam so that "::/0" never
 * covers IPv4; an IPv4-mapped IPv6 destination is looked up as fam 4.
 */
struct vg_enf_lpm_key {
	__u32 prefixlen; /* VG_ENF_KEY_HEAD_BITS + CIDR prefix length */
	__u32 tenant;	 /* always fully matched: byte order is irrelevant */
	__u8 fam;	 /* 4 or 6 */
	__u8 addr[16];	 /* IPv4 in the first 4 bytes */
	__u8 pad[3];
};

struct vg_enf_lpm_val {
	__u32 seg_owner;		  /* owner of the longest segment containing the prefix, 0: none */
	__u32 off[VG_ENF_CLASS__COUNT];	  /* first interval in the ranges map */
	__u32 cnt[VG_ENF_CLASS__COUNT];	  /* number of intervals, sorted by lo, disjoint */
};

/* One elementary port interval of a (prefix, class) list. */
struct vg_enf_range {
	__u16 lo, hi;	   /* inclusive, host byte order */
	__u32 own_rule;	   /* lowest id of the tenant's own rules covering it, 0: none */
	__u32 shared_rule; /* lowest id of the listed shared-service rules covering it, 0: none */
};

/*
 * Egress by name (docs/dns.md). learned: (tenant, address) -> up to
 * VG_ENF_LEARN_SLOTS name rules that allowed it, each until expires_ns
 * (CLOCK_MONOTONIC, bpf_ktime_get_ns). vigild alone writes it and bounds it
 * (VG_ENF_LEARN_MAX in all, a per-tenant share), evicting and counting; it is
 * pinned, so learned addresses outlive vigild until they expire. A slot
 * counts only while gen_names of the generation in force has (tenant, rule)
 * with the same tag (a hash of the rule's pattern): a new bundle that drops
 * the rule or gives its id another name turns the slot off at once.
 */
#define VG_ENF_LEARN_SLOTS 4
#define VG_ENF_LEARN_MAX (1u << 20)

struct vg_enf_learn_key {
	__u32 tenant;
	__u8 fam;	/* 4 or 6; IPv4-mapped IPv6 is 4 */
	__u8 pad[3];
	__u8 addr[16];	/* IPv4 in the first 4 bytes */
};

struct vg_enf_learn_slot {
	__u64 expires_ns; /* 0: empty */
	__u32 rule;
	__u32 tag;
};

struct vg_enf_learn_val {
	struct vg_enf_learn_slot slot[VG_ENF_LEARN_SLOTS];
};

/* gen_names: a tenant's name rule (its own or a listed shared service's) in one generation. */
struct vg_enf_name_key {
	__u32 tenant;
	__u32 rule;
};

struct vg_enf_name_val {
	__u32 tag;			/* vg_enf_name_tag of the pattern */
	__u32 off[VG_ENF_CLASS__COUNT]; /* its port intervals in gen_ranges, as vg_enf_lpm_val */
	__u32 cnt[VG_ENF_CLASS__COUNT];
};

/*
 * dns_fwd: a tenant's vigild DNS forwarder (loopback, UDP and TCP on the same
 * port); port 0: none in that family. dns_fwd_addr: every forwarder address
 * and port -> its tenant, so that naming one directly is refused.
 */
struct vg_enf_dns_fwd {
	__u8 addr4[4];
	__u16 port4; /* host byte order */
	__u16 port6;
	__u8 addr6[16];
};

struct vg_enf_fwd_key {
	__u8 fam; /* 4 or 6 */
	__u8 pad;
	__u16 port; /* host byte order */
	__u8 addr[16];
};

/* Value of the cgroup map (key: cgroup id; VG_ENF_HOST_CGID: the host policy). */
struct vg_enf_cgroup_val {
	__u32 tenant; /* 0 for the host */
	__u8 mode;    /* enum vg_mode */
	__u8 dflt;    /* host only: enum vg_default */
	__u16 sockets; /* VG_ENF_SOCK_* kinds allowed (the host: all) */
};

struct vg_enf_counters {
	__u64 allowed;
	__u64 denied;
	__u64 would_deny;
	__u64 events_dropped;
	__u64 packets_dropped; /* packets of a socket whose cached verdict is deny (no event each) */
};

/*
 * vg_enf_conf.flags: what exists at all, so that programs skip the lookups no
 * tenant needs. vigild sets a flag before it writes the first entry and clears
 * it after it removed the last one.
 */
#define VG_ENF_HAS_FORWARDERS 0x1 /* dns_fwd / dns_fwd_addr have entries */
#define VG_ENF_HAS_QUARANTINE 0x2 /* quarantined has entries */
#define VG_ENF_HAS_CONNRATE 0x4   /* connrate_conf has entries */

struct vg_enf_conf {
	__u32 event_rate_limit; /* events per second per tenant before sampling */
	__u32 sample_every;	/* beyond the limit, one event in this many is sent */
	__u32 flags;		/* VG_ENF_HAS_* */
	__u32 pad;
};

struct vg_enf_rate {
	__u64 window_ns;
	__u64 count;
};

struct vg_enf_event {
	__u64 cgroup_id;
	__u32 pid;
	__u32 uid;
	__u32 tenant;
	__u32 rule_id; /* the rule that decided, 0: none */
	__u32 owner;   /* tenant owning the segment or local port that decided, 0: none */
	__u16 port;    /* host byte order, 0 for ICMP/other */
	__u8 family;   /* AF_INET, AF_INET6 of the socket */
	__u8 proto;
	__u8 verdict;  /* enum vg_enf_verdict */
	__u8 mode;     /* enum vg_mode */
	__u8 hook;     /* enum vg_enf_hook */
	__u8 sampled;  /* 1: sent under sampling, others in the same second were dropped */
	__u8 fam;      /* 4 or 6: how addr was matched (IPv4-mapped IPv6 is 4) */
	__u8 actor;    /* enum vg_enf_actor: what pid/uid/comm name */
	__u8 pad[2];
	__u8 addr[16]; /* IPv4 in the first 4 bytes */
	char comm[16];
};

static __always_inline __u32 vg_enf_proto_class(__u8 proto)
{
	switch (proto) {
	case 6:
		return VG_ENF_CLASS_TCP;
	case 17:
		return VG_ENF_CLASS_UDP;
	case 1:
	case 58:
		return VG_ENF_CLASS_ICMP;
	default:
		return VG_ENF_CLASS_OTHER;
	}
}

/* Destinations on this host whose port may belong to another tenant's listener. */
static __always_inline int vg_enf_is_local(__u8 fam, const __u8 a[16])
{
	if (fam == 4)
		return a[0] == 127 || (!a[0] && !a[1] && !a[2] && !a[3]);
	for (int i = 0; i < 15; i++)
		if (a[i])
			return 0;
	return a[15] <= 1;
}

/* ::ffff:a.b.c.d is IPv4 */
static __always_inline int vg_enf_v4mapped(const __u8 a[16])
{
	for (int i = 0; i < 10; i++)
		if (a[i])
			return 0;
	return a[10] == 0xff && a[11] == 0xff;
}

/*
 * The decision, given what the lookups found. val: the longest trie entry
 * for (tenant, address) or NULL; own_rule/shared_rule: what the port search
 * in val's list found; name_rule: a name rule whose learned address this is
 * and whose ports hold the port (vg_enf_learned_rule); port_owner: tenant
 * owning the local destination port. Order: shared services, then other
 * tenants' ports and segments (deny wins over the tenant's own allowlist),
 * own segments, own rules, learned names, default deny.
 */
static __always_inline __u32 vg_enf_decide(__u32 tenant, const struct vg_enf_lpm_val *val, __u32 own_rule,
					   __u32 shared_rule, __u32 name_rule, __u32 port_owner, __u32 *rule,
					   __u32 *owner)
{
	*rule = 0;
	*owner = 0;
	if (tenant == 0) {
		if (own_rule) {
			*rule = own_rule;
			return VG_ENF_ALLOW_RULE;
		}
		return VG_ENF_DENY_DEFAULT;
	}
	if (shared_rule) {
		*rule = shared_rule;
		return VG_ENF_ALLOW_SHARED;
	}
	if (port_owner && port_owner != tenant) {
		*owner = port_owner;
		return VG_ENF_DENY_PORT;
	}
	if (val && val->seg_owner && val->seg_owner != tenant) {
		*owner = val->seg_owner;
		return VG_ENF_DENY_SEGMENT;
	}
	if (val && val->seg_owner == tenant) {
		*owner = tenant;
		return VG_ENF_ALLOW_SEGMENT;
	}
	if (own_rule) {
		*rule = own_rule;
		return VG_ENF_ALLOW_RULE;
	}
	if (name_rule) {
		*rule = name_rule;
		return VG_ENF_ALLOW_NAME;
	}
	return VG_ENF_DENY_DEFAULT;
}

#endif
