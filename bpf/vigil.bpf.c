// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * vigil egress enforcement. The socket-address programs are attached at the
 * cgroup2 root (they judge the calling process, whatever cgroup its socket
 * came from); the per-socket ones (sock_create, the packet program) at each
 * tenant cgroup, or at the root while the host has a policy of its own
 * (agent/enforce.c, place_sock_progs). The cgroup map (cgroup id -> tenant)
 * decides who is a tenant, walking the ancestors so that cgroups created later
 * below a tenant cgroup are covered. Policy lives in generation slots (gen_*
 * maps of maps) switched by one write to active[0]. docs/enforcement.md has
 * the design.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "vigil_maps.h"

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define NSEC_PER_SEC 1000000000ULL
#define AF_PACKET 17
#define SOCK_RAW 3
#define LOOPBACK_IFINDEX 1
#define EPERM 1
/* addresses of an IPv6 routing header or IPv4 source route judged per packet; more is denied */
#define MAX_ROUTE 8
#define IPPROTO_HOPOPTS 0
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_DSTOPTS 60
/* enum vg_mode of include/vigil/bundle.h */
#define VG_MODE_AUDIT 1

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Inner map templates: user space creates one of each per generation, sized from the bundle. */
struct lpm_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(struct vg_enf_lpm_key));
	__uint(value_size, sizeof(struct vg_enf_lpm_val));
};

struct ranges_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct vg_enf_range));
};

struct cgroups_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u64));
	__uint(value_size, sizeof(struct vg_enf_cgroup_val));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, VG_ENF_GEN_SLOTS);
	__type(key, __u32);
	__array(values, struct lpm_inner);
} gen_lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, VG_ENF_GEN_SLOTS);
	__type(key, __u32);
	__array(values, struct ranges_inner);
} gen_ranges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, VG_ENF_GEN_SLOTS);
	__type(key, __u32);
	__array(values, struct cgroups_inner);
} gen_cgroups SEC(".maps");

struct names_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(struct vg_enf_name_key));
	__uint(value_size, sizeof(struct vg_enf_name_val));
};

/* Each generation's name rules per tenant (vg_enf_name_key), their ports in gen_ranges. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, VG_ENF_GEN_SLOTS);
	__type(key, __u32);
	__array(values, struct names_inner);
} gen_names SEC(".maps");

/* Addresses tenants learned through their DNS forwarder: see vg_enf_learn_key in vigil_maps.h. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, VG_ENF_LEARN_MAX);
	__type(key, struct vg_enf_learn_key);
	__type(value, struct vg_enf_learn_val);
} learned SEC(".maps");

/* Each tenant's DNS forwarder, and every forwarder address back to its tenant (vg_enf_dns_fwd). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, VG_ENF_MAX_TENANT + 1);
	__type(key, __u32);
	__type(value, struct vg_enf_dns_fwd);
} dns_fwd SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2 * (VG_ENF_MAX_TENANT + 1));
	__type(key, struct vg_enf_fwd_key);
	__type(value, __u32);
} dns_fwd_addr SEC(".maps");

/*
 * A socket whose DNS traffic was steered to its tenant's forwarder: the
 * address the process named and the forwarder's, as the sock_addr context
 * holds them (network byte order), so that replies and the peer name show
 * the address the process named (recvmsg4/6, getpeername4/6).
 */
struct dns_orig {
	__u32 ip6[4]; /* AF_INET6 sockets */
	__u32 ip4;    /* AF_INET sockets */
	__u32 port;
	__u32 fwd_ip6[4];
	__u32 fwd_ip4;
	__u32 fwd_port;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct dns_orig);
} dns_origs SEC(".maps");

/* active[0]: the generation slot in force; the single write that switches policy. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_enf_conf);
} conf SEC(".maps");

/*
 * What vigil knows about one socket: who created it (for events on packets,
 * which have no process context), whether it was opened passively, and the
 * verdict of its last judged destination under generation gen.
 */
struct sock_state {
	__u32 gen;	/* generation of the cached verdict */
	__u8 cached;	/* the verdict below is valid for gen and dest */
	__u8 allow;
	__u8 fam, proto;
	__u16 port;
	__u8 passive;	/* accepted (found by accepted()): packets to its peer are replies */
	__u8 created;	/* pid/uid/comm/tenant below were recorded at sock_create */
	__u8 addr[16];
	__u8 early;	/* stamped by connect/sendmsg: EARLY_BLIND not valid on the loopback device */
	__u8 verdict;	/* a stamp's verdict, and its rule below (sendmsg's next datagram, stamp_hit) */
	__u8 pad[2];
	__u32 rule;
	__u32 vtenant;	/* tenant the cached verdict was made for (counters) */
	__u32 tenant;	/* tenant of the creator, under generation cgen */
	__u32 cgen;
	__u32 pid, uid;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_state);
} sock_states SEC(".maps");

/* How often the LSM program saw an AF_PACKET socket created: vigild's probe that the BPF LSM is active. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lsm_seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, VG_ENF_MAX_TENANT + 1);
	__type(key, __u32);
	__type(value, struct vg_enf_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, VG_ENF_MAX_TENANT + 1);
	__type(key, __u32);
	__type(value, struct vg_enf_rate);
} rates SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* Quarantine: see struct vg_enf_quar in vigil_maps.h. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} q_active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, VG_ENF_GEN_SLOTS);
	__type(key, __u32);
	__array(values, struct lpm_inner);
} q_lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, VG_ENF_GEN_SLOTS);
	__type(key, __u32);
	__array(values, struct ranges_inner);
} q_ranges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, VG_ENF_MAX_TENANT + 1);
	__type(key, __u32);
	__type(value, struct vg_enf_quar);
} quarantined SEC(".maps");

/* Connection rate: see struct vg_enf_bucket in vigil_maps.h and connect_rate() below. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, VG_ENF_GEN_SLOTS * (VG_ENF_MAX_TENANT + 1));
	__type(key, struct vg_enf_connrate_key);
	__type(value, struct vg_enf_connrate_conf);
} connrate_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, VG_ENF_MAX_TENANT + 1);
	__type(key, __u32);
	__type(value, struct vg_enf_bucket);
} connrate_buckets SEC(".maps");

/* The destination of a socket's last unconnected datagram that took a token. */
struct connrate_dest {
	__u8 addr[16];
	__u16 port;
	__u8 fam;
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct connrate_dest);
} connrate_socks SEC(".maps");

/* The policy a program judges by: judge_dest() finds the generation's (or quarantine's) maps itself. */
struct policy {
	void *cgroups;
	__u32 gen;
	const struct vg_enf_cgroup_val *who;
	struct vg_enf_cgroup_val me; /* who, as a quarantine changes it */
	__u8 quarantined;	     /* judged by the quarantine's allow list */
	__u8 deny_all;		     /* quarantined, but its allow list cannot be read */
	__u8 fwd_done;		     /* forwarder addresses already judged (steer_dns) */
	__u32 flags;		     /* vg_enf_conf.flags */
};

struct dest {
	__u8 addr[16]; /* IPv4 in the first 4 bytes */
	__u16 port;
	__u8 proto;
	__u8 family; /* of the socket */
	__u8 fam;    /* as matched: 4 or 6 */
};

/* sock_state.early: how connect/sendmsg stamped the verdict */
#define EARLY_BLIND 1	 /* a destination that is not local: judged without its receiver */
#define EARLY_RECEIVER 2 /* a local TCP destination whose listener's owner was known */

/* A packet as the skb program reads it (on the stack: a per-CPU buffer could be overwritten by a softirq run). */
struct packet {
	struct dest d;
	__u8 saddr[16];
	__u16 sport;
	__u8 bad;	/* headers could not be read */
	__u8 rst_only;	/* TCP reset without payload */
	__u8 nroute;	/* addresses in a routing header / source route */
	__u8 route_step; /* 4 (IPv4 source route) or 16 (IPv6 routing header) */
	__u16 route_off; /* offset of the first of them */
};

/*
 * Tenant of a cgroup under a generation: the ancestor walk done once per
 * cgroup and policy change, not once per socket or packet. Cgroup ids are
 * never reused; a new generation makes every entry stale.
 */
struct cg_cached {
	__u32 gen;
	struct vg_enf_cgroup_val who;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct cg_cached);
} cg_cache SEC(".maps");

/*
 * In front of cg_cache, per CPU: the last cgroup this CPU looked up, read
 * without a hash lookup. Programs on one CPU interrupt (softirq) or preempt
 * each other, so the entry is a sequence lock: a writer takes lock (one that
 * finds it taken leaves the entry alone) and keeps seq odd while it writes; a
 * reader takes its copy only if seq was even and did not move across the copy.
 */
struct cg_front {
	__u64 lock; /* 64 bits: the BPF compare-and-swap the default CPU version has */
	__u32 seq;
	__u32 gen;
	__u64 cgid;
	struct vg_enf_cgroup_val who;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cg_front);
} cg_front SEC(".maps");

/* The host's counters (tenant 0, the most counted) per CPU without a hash lookup; tenants' in counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_enf_counters);
} host_counters SEC(".maps");

/* The subject of an event. */
struct actor {
	__u64 cgroup_id;
	__u32 pid, uid;
	__u8 kind; /* enum vg_enf_actor */
	char comm[16];
};

enum count_kind { COUNT_VERDICT, COUNT_EVENT_DROPPED, COUNT_PACKET_DROPPED };

/* vg_enf_conf.flags; all set when the settings cannot be read */
static __always_inline __u32 conf_flags(void)
{
	struct vg_enf_conf *cf;
	__u32 zero = 0;

	cf = bpf_map_lookup_elem(&conf, &zero);
	return cf ? cf->flags : ~0u;
}

/* The generation in force and its maps. */
static __always_inline int load_generation(struct policy *p)
{
	__u32 zero = 0, *gen, slot;

	p->flags = conf_flags();
	gen = bpf_map_lookup_elem(&active, &zero);
	if (!gen)
		return -1;
	p->gen = *gen;
	slot = VG_ENF_GEN_SLOT(p->gen);
	p->cgroups = bpf_map_lookup_elem(&gen_cgroups, &slot);
	p->who = NULL;
	p->quarantined = 0;
	p->deny_all = 0;
	p->fwd_done = 0;
	if (!p->cgroups)
		return -1;
	return 0;
}

/*
 * Tenant of a cgroup chain: the deepest ancestor listed in the cgroup map,
 * else the host entry. ANCESTOR(level) is the helper that knows the chain:
 * the calling task's (socket hooks) or the socket's (packets).
 */
#define FIND_TENANT(p, ANCESTOR)                                                          \
	({                                                                                \
		const struct vg_enf_cgroup_val *__w = NULL, *__v;                          \
		__u64 __id;                                                                \
		for (int __lvl = 1; __lvl < VG_ENF_MAX_CGROUP_DEPTH; __lvl++) {            \
			__id = ANCESTOR(__lvl);                                            \
			if (!__id)                                                         \
				break;                                                     \
			__v = bpf_map_lookup_elem((p)->cgroups, &__id);                    \
			if (__v)                                                           \
				__w = __v;                                                 \
		}                                                                          \
		if (!__w) {                                                                \
			__id = VG_ENF_HOST_CGID;                                           \
			__w = bpf_map_lookup_elem((p)->cgroups, &__id);                    \
		}                                                                          \
		__w;                                                                       \
	})

#define barrier() asm volatile("" ::: "memory")
#define READ_ONCE32(x) (*(volatile __u32 *)&(x))

/* cg_front's entry for (cgid, gen) copied into who: 1 when it was there and whole. */
static __always_inline int front_get(__u64 cgid, __u32 gen, struct vg_enf_cgroup_val *who)
{
	struct cg_front *f;
	__u32 zero = 0, seq;

	f = bpf_map_lookup_elem(&cg_front, &zero);
	if (!f)
		return 0;
	seq = READ_ONCE32(f->seq);
	barrier();
	if ((seq & 1) || f->cgid != cgid || f->gen != gen)
		return 0;
	*who = f->who;
	barrier();
	return READ_ONCE32(f->seq) == seq;
}

static __always_inline void front_put(__u64 cgid, __u32 gen, const struct vg_enf_cgroup_val *who)
{
	struct cg_front *f;
	__u32 zero = 0;

	f = bpf_map_lookup_elem(&cg_front, &zero);
	if (!f || __sync_val_compare_and_swap(&f->lock, 0, 1) != 0)
		return;
	READ_ONCE32(f->seq) = f->seq + 1;
	barrier();
	f->cgid = cgid;
	f->gen = gen;
	f->who = *who;
	barrier();
	READ_ONCE32(f->seq) = f->seq + 1;
	barrier();
	*(volatile __u64 *)&f->lock = 0;
}

/* FIND_TENANT for the cgroup cgid, through cg_front and cg_cache, copied into *out (returned; NULL: none). */
#define CACHED_TENANT(p, cgid, ANCESTOR, out)                                             \
	({                                                                                \
		const struct vg_enf_cgroup_val *__t = NULL;                                \
		struct cg_cached *__c, __n = {};                                           \
		__u64 __cg = (cgid);                                                       \
		if (front_get(__cg, (p)->gen, (out))) {                                    \
			__t = (out);                                                       \
		} else {                                                                   \
			__c = bpf_map_lookup_elem(&cg_cache, &__cg);                       \
			if (__c && __c->gen == (p)->gen) {                                 \
				__t = &__c->who;                                           \
			} else {                                                           \
				__t = FIND_TENANT(p, ANCESTOR);                            \
				if (__t) {                                                 \
					__n.gen = (p)->gen;                                \
					__n.who = *__t;                                    \
					bpf_map_update_elem(&cg_cache, &__cg, &__n, BPF_ANY); \
				}                                                          \
			}                                                                  \
			if (__t) {                                                         \
				*(out) = *__t;                                             \
				front_put(__cg, (p)->gen, (out));                          \
				__t = (out);                                               \
			}                                                                  \
		}                                                                          \
		__t;                                                                       \
	})

/* Last interval with lo <= port in [off, off + cnt), if it contains port. */
static __always_inline const struct vg_enf_range *find_range(void *ranges, __u32 off, __u32 cnt, __u16 port)
{
	const struct vg_enf_range *r;
	__u32 lo = 0, hi = cnt, idx;

	for (int step = 0; step < VG_ENF_BSEARCH_STEPS; step++) {
		__u32 mid;

		if (lo >= hi)
			break;
		mid = lo + (hi - lo) / 2;
		idx = off + mid;
		r = bpf_map_lookup_elem(ranges, &idx);
		if (!r)
			return NULL;
		if (r->lo <= port)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	idx = off + lo - 1;
	r = bpf_map_lookup_elem(ranges, &idx);
	if (!r || port > r->hi)
		return NULL;
	return r;
}

/* What judge_dest() needs: plain values, so that it is verified once, not at every caller. */
struct judge_req {
	struct dest d;
	__u32 gen;	  /* generation in force */
	__u32 tenant;
	__u32 port_owner;
	__u8 dflt;
	__u8 quarantined; /* judge by the quarantine's allow list */
	__u8 quarantines; /* some tenant is quarantined (VG_ENF_HAS_QUARANTINE) */
	__u8 pad;
	__u32 rule, owner; /* out */
};

/*
 * The verdict for (tenant, d): one trie lookup, one port bisection,
 * vg_enf_decide. A global function: the verifier checks it once per program
 * instead of once per call site and path (the packet program would exceed the
 * older kernels' limits). It finds its maps itself: the generation's, or the
 * quarantine's for a quarantined tenant.
 */
__noinline int judge_dest(struct judge_req *q)
{
	const struct vg_enf_lpm_val *val;
	const struct vg_enf_range *r = NULL;
	struct vg_enf_lpm_key key = {};
	__u32 cls, v, slot, zero = 0, *qgen, owner;
	void *lpm, *ranges;

	if (!q)
		return VG_ENF_DENY_DEFAULT;
	q->rule = 0;
	q->owner = 0;
	if (q->tenant == 0 && q->dflt == 0)
		return VG_ENF_ALLOW_NOPOLICY;
	/* a quarantined tenant's listeners are unreachable from every other tenant (6.1 takes map keys from the stack only) */
	owner = q->port_owner;
	if (owner && owner != q->tenant && q->quarantines && bpf_map_lookup_elem(&quarantined, &owner)) {
		q->owner = owner;
		return VG_ENF_DENY_QUARANTINE;
	}
	slot = VG_ENF_GEN_SLOT(q->gen);
	if (q->quarantined) {
		qgen = bpf_map_lookup_elem(&q_active, &zero);
		if (!qgen)
			return VG_ENF_DENY_QUARANTINE;
		slot = VG_ENF_GEN_SLOT(*qgen);
		lpm = bpf_map_lookup_elem(&q_lpm, &slot);
		ranges = bpf_map_lookup_elem(&q_ranges, &slot);
	} else {
		lpm = bpf_map_lookup_elem(&gen_lpm, &slot);
		ranges = bpf_map_lookup_elem(&gen_ranges, &slot);
	}
	if (!lpm || !ranges)
		return q->quarantined ? VG_ENF_DENY_QUARANTINE : VG_ENF_ALLOW_NOPOLICY;
	key.prefixlen = VG_ENF_KEY_FULL_BITS;
	key.tenant = q->tenant;
	key.fam = q->d.fam;
	__builtin_memcpy(key.addr, q->d.addr, 16);
	val = bpf_map_lookup_elem(lpm, &key);
	cls = vg_enf_proto_class(q->d.proto);
	if (val && cls < VG_ENF_CLASS__COUNT)
		r = find_range(ranges, val->off[cls], val->cnt[cls], cls <= VG_ENF_CLASS_UDP ? q->d.port : 0);
	v = vg_enf_decide(q->tenant, val, r ? r->own_rule : 0, r ? r->shared_rule : 0, 0, q->port_owner, &q->rule,
			  &q->owner);
	return q->quarantined && v == VG_ENF_DENY_DEFAULT ? VG_ENF_DENY_QUARANTINE : v;
}

/* 1: q's tenant has name rule (under tag) in generation q->gen, and its ports hold q->d's protocol and port. */
__noinline int slot_allows(struct judge_req *q, __u32 rule, __u32 tag)
{
	const struct vg_enf_name_val *nv;
	struct vg_enf_name_key k = {};
	void *names, *ranges;
	__u32 slot, cls;

	if (!q)
		return 0;
	slot = VG_ENF_GEN_SLOT(q->gen);
	names = bpf_map_lookup_elem(&gen_names, &slot);
	ranges = bpf_map_lookup_elem(&gen_ranges, &slot);
	if (!names || !ranges)
		return 0;
	k.tenant = q->tenant;
	k.rule = rule;
	nv = bpf_map_lookup_elem(names, &k);
	cls = vg_enf_proto_class(q->d.proto);
	if (!nv || nv->tag != tag || cls >= VG_ENF_CLASS__COUNT)
		return 0;
	return find_range(ranges, nv->off[cls], nv->cnt[cls], cls <= VG_ENF_CLASS_UDP ? q->d.port : 0) != NULL;
}

/* Tenant whose DNS forwarder listens at d (address, port, TCP or UDP), 0: none. Global: its key is off the callers' stacks. */
__noinline int forwarder_of(struct dest *d)
{
	struct vg_enf_fwd_key k = {};
	__u32 *t;

	if (!d || (d->proto != IPPROTO_TCP && d->proto != IPPROTO_UDP))
		return 0;
	k.fam = d->fam;
	k.port = d->port;
	__builtin_memcpy(k.addr, d->addr, 16);
	t = bpf_map_lookup_elem(&dns_fwd_addr, &k);
	return t ? (int)*t : 0;
}

/*
 * The name rule under which q's tenant learned q->d (learned map), if one of
 * its live slots allows q->d's protocol and port in generation q->gen; 0:
 * none. The same steps as learned_rule() in lib/enforce_compile.c (explain).
 * A global function apart from judge_dest(): the call chain's stack stays
 * within the verifier's 512 bytes.
 */
__noinline int learned_rule(struct judge_req *q)
{
	const struct vg_enf_learn_val *l;
	struct vg_enf_learn_key k = {};
	__u64 now;

	if (!q)
		return 0;
	k.tenant = q->tenant;
	k.fam = q->d.fam;
	__builtin_memcpy(k.addr, q->d.addr, 16);
	l = bpf_map_lookup_elem(&learned, &k);
	if (!l)
		return 0;
	now = bpf_ktime_get_ns();
	for (int i = 0; i < VG_ENF_LEARN_SLOTS; i++) {
		__u32 rule = l->slot[i].rule;

		if (l->slot[i].expires_ns > now && rule && slot_allows(q, rule, l->slot[i].tag))
			return (int)rule;
	}
	return 0;
}

static __always_inline __u32 judge(const struct policy *p, const struct dest *d, __u32 port_owner, __u32 *rule,
				   __u32 *owner)
{
	struct judge_req q = {};
	__u32 v, name_rule;

	*rule = 0;
	*owner = 0;
	if (p->deny_all)
		return VG_ENF_DENY_QUARANTINE;
	q.d = *d;
	/* a forwarder's address: the tenant's own (its steered DNS) or another tenant's */
	if (p->who->tenant && !p->quarantined && !p->fwd_done && (p->flags & VG_ENF_HAS_FORWARDERS) &&
	    vg_enf_is_local(d->fam, d->addr)) {
		v = (__u32)forwarder_of(&q.d);
		if (v) {
			*owner = v;
			return v == p->who->tenant ? VG_ENF_ALLOW_DNS : VG_ENF_DENY_DNS;
		}
	}
	q.gen = p->gen;
	q.tenant = p->who->tenant;
	q.port_owner = port_owner;
	q.dflt = p->who->dflt;
	q.quarantined = p->quarantined;
	q.quarantines = !!(p->flags & VG_ENF_HAS_QUARANTINE);
	v = (__u32)judge_dest(&q);
	/* learned names come after everything else (vg_enf_decide): looked up only when nothing else decided */
	if (v == VG_ENF_DENY_DEFAULT && q.tenant && !q.quarantined) {
		name_rule = (__u32)learned_rule(&q);
		if (name_rule)
			v = vg_enf_decide(q.tenant, NULL, 0, 0, name_rule, 0, &q.rule, &q.owner);
	}
	*rule = q.rule;
	*owner = q.owner;
	return v;
}

/*
 * A quarantined tenant: its destinations are judged against the quarantine's
 * allow list (same trie and port layout as a generation), in enforce mode.
 */
static __always_inline void quarantine(struct policy *p)
{
	__u32 zero = 0, tenant = p->who->tenant, slot, *qgen;

	/* always a copy, so that who has one pointer type on every path (the verifier prunes them together) */
	p->me = *p->who;
	p->who = &p->me;
	if (!tenant || !(p->flags & VG_ENF_HAS_QUARANTINE) || !bpf_map_lookup_elem(&quarantined, &tenant))
		return;
	p->me.mode = 0; /* VG_MODE_ENFORCE */
	p->quarantined = 1;
	qgen = bpf_map_lookup_elem(&q_active, &zero);
	if (!qgen) {
		p->deny_all = 1;
		return;
	}
	slot = VG_ENF_GEN_SLOT(*qgen);
	if (!bpf_map_lookup_elem(&q_lpm, &slot) || !bpf_map_lookup_elem(&q_ranges, &slot))
		p->deny_all = 1;
}

static __always_inline void count(__u32 tenant, __u32 verdict, __u8 mode, enum count_kind kind)
{
	struct vg_enf_counters *c, init = {};
	__u32 zero = 0;

	if (!tenant) {
		c = bpf_map_lookup_elem(&host_counters, &zero);
	} else {
		c = bpf_map_lookup_elem(&counters, &tenant);
		if (!c) {
			bpf_map_update_elem(&counters, &tenant, &init, BPF_NOEXIST);
			c = bpf_map_lookup_elem(&counters, &tenant);
		}
	}
	if (!c)
		return;
	if (kind == COUNT_EVENT_DROPPED)
		c->events_dropped++;
	else if (kind == COUNT_PACKET_DROPPED)
		c->packets_dropped++;
	else if (vg_enf_verdict_allows(verdict))
		c->allowed++;
	else if (mode == VG_MODE_AUDIT)
		c->would_deny++;
	else
		c->denied++;
}

/* Per-tenant budget of events per second; beyond it one in sample_every goes out. */
static __always_inline int event_budget(__u32 tenant, __u8 *sampled)
{
	struct vg_enf_rate *r, init = {};
	struct vg_enf_conf *cf;
	__u32 zero = 0, limit = 1000, every = 64;
	__u64 now = bpf_ktime_get_ns(), n;

	cf = bpf_map_lookup_elem(&conf, &zero);
	if (cf) {
		limit = cf->event_rate_limit;
		every = cf->sample_every ? cf->sample_every : 1;
	}
	r = bpf_map_lookup_elem(&rates, &tenant);
	if (!r) {
		init.window_ns = now;
		bpf_map_update_elem(&rates, &tenant, &init, BPF_NOEXIST);
		r = bpf_map_lookup_elem(&rates, &tenant);
		if (!r)
			return 0;
	}
	if (now - r->window_ns >= NSEC_PER_SEC) {
		r->window_ns = now;
		r->count = 0;
	}
	n = __sync_fetch_and_add(&r->count, 1);
	*sampled = 0;
	if (n < limit)
		return 1;
	*sampled = 1;
	return (n - limit) % every == 0;
}

static __always_inline void emit(const struct policy *p, const struct dest *d, __u32 verdict, __u32 rule,
				 __u32 owner, __u8 hook, const struct actor *a)
{
	struct vg_enf_event *e;
	__u32 tenant = p->who->tenant;
	__u8 sampled;

	if (!event_budget(tenant, &sampled)) {
		count(tenant, verdict, 0, COUNT_EVENT_DROPPED);
		return;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(tenant, verdict, 0, COUNT_EVENT_DROPPED);
		return;
	}
	e->cgroup_id = a->cgroup_id;
	e->pid = a->pid;
	e->uid = a->uid;
	e->actor = a->kind;
	__builtin_memcpy(e->comm, a->comm, sizeof(e->comm));
	e->tenant = tenant;
	e->rule_id = rule;
	e->owner = owner;
	e->port = d->port;
	e->family = d->family;
	e->proto = d->proto;
	e->verdict = verdict;
	e->mode = p->who->mode;
	e->hook = hook;
	e->sampled = sampled;
	e->fam = d->fam;
	e->pad[0] = 0;
	e->pad[1] = 0;
	__builtin_memcpy(e->addr, d->addr, 16);
	bpf_ringbuf_submit(e, 0);
}

/* Process context: only in programs that run in the calling task (never cgroup_skb, see docs). */
static __always_inline void task_actor(struct actor *a)
{
	a->cgroup_id = bpf_get_current_cgroup_id();
	a->pid = bpf_get_current_pid_tgid() >> 32;
	a->uid = (__u32)bpf_get_current_uid_gid();
	a->kind = VG_ENF_ACTOR_TASK;
	bpf_get_current_comm(a->comm, sizeof(a->comm));
}

static __always_inline const struct vg_enf_cgroup_val *tenant_of_task(struct policy *p)
{
	return CACHED_TENANT(p, bpf_get_current_cgroup_id(), bpf_get_current_ancestor_cgroup_id, &p->me);
}

/* 1: let it through; 0: refuse. Counts, and reports a deny with the calling process. */
static __always_inline int decide_task(const struct policy *p, const struct dest *d, __u32 verdict, __u32 rule,
				       __u32 owner, __u8 hook)
{
	struct actor a;

	count(p->who->tenant, verdict, p->who->mode, COUNT_VERDICT);
	if (vg_enf_verdict_allows(verdict))
		return 1;
	task_actor(&a);
	emit(p, d, verdict, rule, owner, hook, &a);
	return p->who->mode == VG_MODE_AUDIT;
}

/* BPF has no memcmp */
static __always_inline int same_addr(const __u8 a[16], const __u8 b[16])
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

static __always_inline void dest_v4(struct dest *d, __u32 ip4)
{
	__builtin_memset(d->addr, 0, 16);
	__builtin_memcpy(d->addr, &ip4, 4);
	d->fam = 4;
}

static __always_inline void dest_v6(struct dest *d, const __u8 a[16])
{
	if (vg_enf_v4mapped(a)) {
		__builtin_memset(d->addr, 0, 16);
		__builtin_memcpy(d->addr, &a[12], 4);
		d->fam = 4;
	} else {
		__builtin_memcpy(d->addr, a, 16);
		d->fam = 6;
	}
}

/*
 * Owner of the local socket a connect/sendmsg would reach, as far as the
 * socket hook can tell: the tenant recorded when that socket was created under
 * the generation in force. Otherwise 0, and the packet path decides. *known:
 * the TCP SYN will reach that very socket, so the packet path may take this
 * verdict (stamp): a listener with a record, in no SO_REUSEPORT group (the
 * kernel picks a group's member by the packet's addresses, which the hook
 * does not know yet).
 */
static __always_inline __u32 local_owner_early(struct bpf_sock_addr *ctx, const struct dest *d, __u32 gen,
					       int *known)
{
	struct bpf_sock_tuple t = {};
	struct sock_state *st;
	struct tcp_sock *tp;
	struct bpf_sock *sk;
	__u32 owner = 0, size;

	if (d->fam == 4) {
		__builtin_memcpy(&t.ipv4.daddr, d->addr, 4);
		t.ipv4.dport = bpf_htons(d->port);
		size = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.daddr, d->addr, 16);
		t.ipv6.dport = bpf_htons(d->port);
		size = sizeof(t.ipv6);
	}
	if (d->proto == IPPROTO_TCP)
		sk = bpf_sk_lookup_tcp(ctx, &t, size, BPF_F_CURRENT_NETNS, 0);
	else
		sk = bpf_sk_lookup_udp(ctx, &t, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	st = bpf_sk_storage_get(&sock_states, sk, 0, 0);
	if (st && st->created && st->cgen == gen) {
		owner = st->tenant;
		tp = d->proto == IPPROTO_TCP ? bpf_skc_to_tcp_sock(sk) : NULL;
		*known = tp && !tp->inet_conn.icsk_inet.sk.sk_reuseport_cb;
	}
	bpf_sk_release(sk);
	return owner;
}

/*
 * The tenant's connection rate, for what its policy allows: a TCP or UDP
 * connect, or an unconnected datagram to another destination than the
 * socket's last one, takes a token from the tenant's bucket; none left is
 * VG_ENF_DENY_RATE (audit mode: counted, let through by decide_task).
 */
static __always_inline __u32 connect_rate(const struct policy *p, struct bpf_sock_addr *ctx, const struct dest *d,
					  __u32 verdict, __u8 hook)
{
	struct vg_enf_connrate_key key = { .tenant = p->who->tenant, .slot = VG_ENF_GEN_SLOT(p->gen) };
	struct vg_enf_connrate_conf *cf, c;
	struct vg_enf_bucket *b, init = {};
	struct connrate_dest *last = NULL;
	struct bpf_sock *sk;
	__u32 tenant = key.tenant;
	__u64 now;
	int ok;

	if (!tenant || !(p->flags & VG_ENF_HAS_CONNRATE) || !vg_enf_verdict_allows(verdict) ||
	    (d->proto != IPPROTO_TCP && d->proto != IPPROTO_UDP))
		return verdict;
	cf = bpf_map_lookup_elem(&connrate_conf, &key);
	if (!cf)
		return verdict;
	c = *cf;
	sk = ctx->sk;
	if (hook == VG_ENF_HOOK_SENDMSG && sk) {
		last = bpf_sk_storage_get(&connrate_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (last && last->fam == d->fam && last->port == d->port && same_addr(last->addr, d->addr))
			return verdict;
	}
	b = bpf_map_lookup_elem(&connrate_buckets, &tenant);
	if (!b) {
		bpf_map_update_elem(&connrate_buckets, &tenant, &init, BPF_NOEXIST);
		b = bpf_map_lookup_elem(&connrate_buckets, &tenant);
		if (!b)
			return VG_ENF_DENY_RATE;
	}
	now = bpf_ktime_get_ns();
	bpf_spin_lock(&b->lock);
	ok = vg_enf_bucket_take(&c, b, now, p->who->mode == VG_MODE_AUDIT);
	bpf_spin_unlock(&b->lock);
	if (!ok)
		return VG_ENF_DENY_RATE;
	if (last) {
		__builtin_memcpy(last->addr, d->addr, 16);
		last->port = d->port;
		last->fam = d->fam;
	}
	return verdict;
}

/*
 * A tenant's DNS (port 53, UDP or TCP, to any address) goes to its vigild
 * forwarder (dns_fwd): the destination is rewritten, the one it had is kept in
 * dns_origs for replies and getpeername. Naming a forwarder's address itself
 * is refused: only vigild's rewrite leads there. Returns the verdict, 0: not
 * DNS of a tenant with a forwarder (judged like any destination).
 */
static __always_inline __u32 steer_dns(struct bpf_sock_addr *ctx, const struct policy *p, struct dest *d, const int v6)
{
	const struct vg_enf_dns_fwd *f;
	struct dns_orig *o;
	__u32 tenant = p->who->tenant;

	if (!(p->flags & VG_ENF_HAS_FORWARDERS))
		return 0;
	/* forwarders listen on the loopback only (agent/dnsfwd.c) */
	if (vg_enf_is_local(d->fam, d->addr) && forwarder_of(d))
		return VG_ENF_DENY_DNS;
	if (d->port != 53 || (d->proto != IPPROTO_TCP && d->proto != IPPROTO_UDP))
		return 0;
	f = bpf_map_lookup_elem(&dns_fwd, &tenant);
	if (!f)
		return 0;
	/* the forwarder of the family the socket speaks: IPv4 (also as IPv4-mapped IPv6) or ::1 */
	if ((d->fam == 4 && !f->port4) || (d->fam == 6 && !f->port6))
		return VG_ENF_DENY_DNS;
	o = bpf_sk_storage_get(&dns_origs, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!o)
		return VG_ENF_DENY_DNS;
	o->port = ctx->user_port;
	/* v6 is a constant in each program: connect4 may not even name user_ip6 */
	if (!v6) {
		o->ip4 = ctx->user_ip4;
		__builtin_memcpy(&o->fwd_ip4, f->addr4, 4);
		o->fwd_port = bpf_htons(f->port4);
		ctx->user_ip4 = o->fwd_ip4;
		ctx->user_port = o->fwd_port;
		return VG_ENF_ALLOW_DNS;
	}
	o->ip6[0] = ctx->user_ip6[0];
	o->ip6[1] = ctx->user_ip6[1];
	o->ip6[2] = ctx->user_ip6[2];
	o->ip6[3] = ctx->user_ip6[3];
	if (d->fam == 4) {
		o->fwd_ip6[0] = 0;
		o->fwd_ip6[1] = 0;
		o->fwd_ip6[2] = bpf_htonl(0xffff);
		__builtin_memcpy(&o->fwd_ip6[3], f->addr4, 4);
		o->fwd_port = bpf_htons(f->port4);
	} else {
		__builtin_memcpy(o->fwd_ip6, f->addr6, 16);
		o->fwd_port = bpf_htons(f->port6);
	}
	ctx->user_ip6[0] = o->fwd_ip6[0];
	ctx->user_ip6[1] = o->fwd_ip6[1];
	ctx->user_ip6[2] = o->fwd_ip6[2];
	ctx->user_ip6[3] = o->fwd_ip6[3];
	ctx->user_port = o->fwd_port;
	return VG_ENF_ALLOW_DNS;
}

/*
 * An allowed connect or datagram: its verdict stamped into the socket's record
 * as the packet path would cache it, so that the packets that follow cost a
 * compare. Only where both would judge alike: a TCP or UDP socket created by
 * the caller's tenant under this generation (the packet path judges by the
 * socket's tenant) and a destination that is not local (the packet path asks
 * who receives those; a stamp is not taken on the loopback device either).
 */
static __always_inline void stamp(struct bpf_sock_addr *ctx, const struct policy *p, const struct dest *d, __u8 early,
				  __u32 verdict, __u32 rule)
{
	struct sock_state *st;

	if (d->proto != IPPROTO_TCP && d->proto != IPPROTO_UDP)
		return;
	st = bpf_sk_storage_get(&sock_states, ctx->sk, 0, 0);
	if (!st || !st->created || st->cgen != p->gen || st->tenant != p->who->tenant)
		return;
	st->gen = p->gen;
	st->allow = 1;
	st->verdict = verdict;
	st->rule = rule;
	st->vtenant = p->who->tenant;
	st->fam = d->fam;
	st->proto = d->proto;
	st->port = d->port;
	__builtin_memcpy(st->addr, d->addr, 16);
	st->early = early;
	st->cached = 1;
}

/*
 * A datagram to the destination sendmsg stamped last on this socket, under the
 * generation in force, for the caller's tenant: judge() would give the stamp's
 * verdict again. Not for learned names (they expire without a new generation)
 * nor for local destinations (never stamped blind).
 */
static __always_inline const struct sock_state *stamp_hit(struct bpf_sock_addr *ctx, const struct policy *p,
							  const struct dest *d)
{
	struct sock_state *st;

	st = bpf_sk_storage_get(&sock_states, ctx->sk, 0, 0);
	if (!st || !st->cached || !st->allow || st->early != EARLY_BLIND || st->gen != p->gen ||
	    st->vtenant != p->who->tenant || st->verdict == VG_ENF_ALLOW_NAME || st->port != d->port ||
	    st->proto != d->proto || st->fam != d->fam || !same_addr(st->addr, d->addr))
		return NULL;
	return st;
}

static __always_inline int sock_addr_enforce(struct bpf_sock_addr *ctx, struct dest *d, __u8 hook, const int v6)
{
	__u32 verdict, rule, owner, port_owner = 0;
	int local = vg_enf_is_local(d->fam, d->addr), known = 0;
	const struct sock_state *hit;
	struct policy p;

	if (load_generation(&p))
		return 1;
	p.who = tenant_of_task(&p);
	if (!p.who)
		return 1;
	/* a host that allows everything: nothing to judge, only counted */
	if (!p.who->tenant && !p.who->dflt) {
		count(0, VG_ENF_ALLOW_NOPOLICY, 0, COUNT_VERDICT);
		return 1;
	}
	quarantine(&p);
	if (p.who->tenant && !p.quarantined) {
		verdict = steer_dns(ctx, &p, d, v6);
		if (verdict)
			return decide_task(&p, d, verdict, 0, 0, hook);
		p.fwd_done = 1;
	}
	/* a socket that keeps sending to one destination: judged once per generation */
	if (hook == VG_ENF_HOOK_SENDMSG && !local && (hit = stamp_hit(ctx, &p, d))) {
		rule = hit->rule;
		verdict = connect_rate(&p, ctx, d, hit->verdict, hook);
		return decide_task(&p, d, verdict, rule, 0, hook);
	}
	if (p.who->tenant && vg_enf_proto_class(d->proto) <= VG_ENF_CLASS_UDP && local)
		port_owner = local_owner_early(ctx, d, p.gen, &known);
	verdict = judge(&p, d, port_owner, &rule, &owner);
	verdict = connect_rate(&p, ctx, d, verdict, hook);
	if (vg_enf_verdict_allows(verdict)) {
		if (!local)
			stamp(ctx, &p, d, EARLY_BLIND, verdict, rule);
		else if (known && d->proto == IPPROTO_TCP)
			stamp(ctx, &p, d, EARLY_RECEIVER, verdict, rule);
	}
	return decide_task(&p, d, verdict, rule, owner, hook);
}

static __always_inline int sock_addr4(struct bpf_sock_addr *ctx, __u8 hook)
{
	struct dest d = {};

	dest_v4(&d, ctx->user_ip4);
	d.port = bpf_ntohs((__u16)ctx->user_port);
	d.proto = ctx->protocol;
	d.family = AF_INET;
	return sock_addr_enforce(ctx, &d, hook, 0);
}

static __always_inline int sock_addr6(struct bpf_sock_addr *ctx, __u8 hook)
{
	struct dest d = {};
	__u32 w[4];

	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	dest_v6(&d, (const __u8 *)w);
	d.port = bpf_ntohs((__u16)ctx->user_port);
	d.proto = ctx->protocol;
	d.family = AF_INET6;
	return sock_addr_enforce(ctx, &d, hook, 1);
}

SEC("cgroup/connect4")
int vg_connect4(struct bpf_sock_addr *ctx)
{
	return sock_addr4(ctx, VG_ENF_HOOK_CONNECT);
}

SEC("cgroup/connect6")
int vg_connect6(struct bpf_sock_addr *ctx)
{
	return sock_addr6(ctx, VG_ENF_HOOK_CONNECT);
}

SEC("cgroup/sendmsg4")
int vg_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_addr4(ctx, VG_ENF_HOOK_SENDMSG);
}

SEC("cgroup/sendmsg6")
int vg_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sock_addr6(ctx, VG_ENF_HOOK_SENDMSG);
}

/*
 * What a steered socket shows the process: a reply from the forwarder (recvmsg)
 * and the peer name come back as the address the process named, so resolvers
 * that check the reply's source (glibc) take the answer.
 */
static __always_inline void unsteer4(struct bpf_sock_addr *ctx)
{
	struct dns_orig *o = bpf_sk_storage_get(&dns_origs, ctx->sk, 0, 0);

	if (o && ctx->user_ip4 == o->fwd_ip4 && ctx->user_port == o->fwd_port) {
		ctx->user_ip4 = o->ip4;
		ctx->user_port = o->port;
	}
}

static __always_inline void unsteer6(struct bpf_sock_addr *ctx)
{
	struct dns_orig *o = bpf_sk_storage_get(&dns_origs, ctx->sk, 0, 0);
	__u32 w0, w1, w2, w3;

	if (!o || ctx->user_port != o->fwd_port)
		return;
	w0 = ctx->user_ip6[0];
	w1 = ctx->user_ip6[1];
	w2 = ctx->user_ip6[2];
	w3 = ctx->user_ip6[3];
	if (w0 == o->fwd_ip6[0] && w1 == o->fwd_ip6[1] && w2 == o->fwd_ip6[2] && w3 == o->fwd_ip6[3]) {
		ctx->user_ip6[0] = o->ip6[0];
		ctx->user_ip6[1] = o->ip6[1];
		ctx->user_ip6[2] = o->ip6[2];
		ctx->user_ip6[3] = o->ip6[3];
		ctx->user_port = o->port;
	} else if (!w0 && !w1 && w2 == bpf_htonl(0xffff) && w3 == o->fwd_ip4 && o->fwd_ip4) {
		/* a datagram sent to an IPv4-mapped address went through sendmsg4: its reply comes back mapped */
		ctx->user_ip6[3] = o->ip4;
		ctx->user_port = o->port;
	}
}

SEC("cgroup/recvmsg4")
int vg_recvmsg4(struct bpf_sock_addr *ctx)
{
	unsteer4(ctx);
	return 1;
}

SEC("cgroup/recvmsg6")
int vg_recvmsg6(struct bpf_sock_addr *ctx)
{
	unsteer6(ctx);
	return 1;
}

SEC("cgroup/getpeername4")
int vg_getpeername4(struct bpf_sock_addr *ctx)
{
	unsteer4(ctx);
	return 1;
}

SEC("cgroup/getpeername6")
int vg_getpeername6(struct bpf_sock_addr *ctx)
{
	unsteer6(ctx);
	return 1;
}

/* A socket kind the tenant may not open: counted and reported like any deny. */
static __always_inline int refuse_socket(const struct policy *p, __u32 family, __u32 proto)
{
	struct dest d = { .family = (__u8)family, .proto = (__u8)proto };

	return decide_task(p, &d, VG_ENF_DENY_SOCKET, 0, 0, VG_ENF_HOOK_SOCK_CREATE);
}

/*
 * Every AF_INET/AF_INET6 socket a process opens: raw and MPTCP sockets only
 * where the tenant allows them; the creator is recorded for the events that
 * packets of this socket may cause later, when no process context exists.
 */
SEC("cgroup/sock_create")
int vg_sock_create(struct bpf_sock *sk)
{
	struct sock_state *st;
	struct policy p;
	__u16 kind = 0;

	if (load_generation(&p))
		return 1;
	p.who = tenant_of_task(&p);
	if (!p.who)
		return 1;
	if (sk->type == SOCK_RAW)
		kind = VG_ENF_SOCK_RAW;
	else if (sk->protocol == IPPROTO_MPTCP)
		kind = VG_ENF_SOCK_MPTCP;
	if (kind && !(p.who->sockets & kind) && !refuse_socket(&p, sk->family, sk->protocol))
		return 0;
	/* a host that allows everything reports nothing: its sockets need no record */
	if (!p.who->tenant && !p.who->dflt)
		return 1;
	st = bpf_sk_storage_get(&sock_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (st) {
		st->created = 1;
		st->pid = bpf_get_current_pid_tgid() >> 32;
		st->uid = (__u32)bpf_get_current_uid_gid();
		bpf_get_current_comm(st->comm, sizeof(st->comm));
		st->tenant = p.who->tenant;
		st->cgen = p.gen;
	}
	return 1;
}

/* AF_PACKET sockets bypass every cgroup hook: the BPF LSM refuses them to tenants that do not allow them. */
SEC("lsm/socket_create")
int BPF_PROG(vg_lsm_socket_create, int family, int type, int protocol, int kern, int ret)
{
	struct policy p;
	__u32 zero = 0;
	__u64 *seen;

	if (ret || kern || family != AF_PACKET)
		return ret;
	seen = bpf_map_lookup_elem(&lsm_seen, &zero);
	if (seen)
		__sync_fetch_and_add(seen, 1);
	if (load_generation(&p))
		return 0;
	p.who = tenant_of_task(&p);
	if (!p.who || (p.who->sockets & VG_ENF_SOCK_PACKET))
		return 0;
	return refuse_socket(&p, AF_PACKET, 0) ? 0 : -EPERM;
}

/* ---- the packet path: cgroup_skb/egress, no process context here ---- */

static __always_inline const struct vg_enf_cgroup_val *tenant_of_skb(struct policy *p, struct __sk_buff *skb)
{
#define SKB_ANCESTOR(lvl) bpf_skb_ancestor_cgroup_id(skb, lvl)
	return CACHED_TENANT(p, bpf_skb_cgroup_id(skb), SKB_ANCESTOR, &p->me);
#undef SKB_ANCESTOR
}

static __always_inline const struct vg_enf_cgroup_val *tenant_of_sock(struct policy *p, struct bpf_sock *sk,
								  struct vg_enf_cgroup_val *out)
{
#define SK_ANCESTOR(lvl) bpf_sk_ancestor_cgroup_id(sk, lvl)
	return CACHED_TENANT(p, bpf_sk_cgroup_id(sk), SK_ANCESTOR, out);
#undef SK_ANCESTOR
}

/* A walk over IPv4 options or IPv6 extension headers, one bpf_loop step each. */
struct hdr_walk {
	struct __sk_buff *skb;
	struct packet *pk;
	__u32 off, end; /* end: IPv4 header length */
	__u8 nh;	/* IPv6: next header */
	__u8 done;
};

/* IPv4 options: the addresses of a loose or strict source route are destinations too. */
static long ip_option_step(__u32 i, struct hdr_walk *w)
{
	struct packet *pk = w->pk;
	__u8 opt[2];

	if (w->off >= w->end)
		return 1;
	if (bpf_skb_load_bytes(w->skb, w->off, opt, 1))
		goto bad;
	if (opt[0] == 0)
		return 1; /* end of options */
	if (opt[0] == 1) {
		w->off++;
		return 0;
	}
	if (bpf_skb_load_bytes(w->skb, w->off, opt, 2) || opt[1] < 2 || w->off + opt[1] > w->end)
		goto bad;
	if ((opt[0] == 131 || opt[0] == 137) && opt[1] >= 3) {
		pk->nroute = (opt[1] - 3) / 4;
		pk->route_step = 4;
		pk->route_off = w->off + 3;
	}
	w->off += opt[1];
	return 0;
bad:
	pk->bad = 1;
	return 1;
}

static __always_inline int parse_v4(struct __sk_buff *skb, struct packet *pk, __u32 *l4off)
{
	struct iphdr ip;
	__u32 hl;

	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
		return -1;
	dest_v4(&pk->d, ip.daddr);
	__builtin_memset(pk->saddr, 0, 16);
	__builtin_memcpy(pk->saddr, &ip.saddr, 4);
	pk->d.proto = ip.protocol;
	pk->d.family = AF_INET;
	hl = ip.ihl * 4;
	if (hl < 20)
		return -1;
	if (hl > 20) {
		struct hdr_walk w = { .skb = skb, .pk = pk, .off = 20, .end = hl };

		bpf_loop(40, ip_option_step, &w, 0);
	}
	/* a later fragment carries no ports */
	if (ip.frag_off & bpf_htons(0x1fff))
		pk->d.proto = 255;
	*l4off = hl;
	return 0;
}

/* IPv6 extension headers: every address of a routing header is a destination too. */
static long ipv6_ext_step(__u32 i, struct hdr_walk *w)
{
	struct packet *pk = w->pk;
	__u8 h[4];

	if (w->nh != IPPROTO_HOPOPTS && w->nh != IPPROTO_DSTOPTS && w->nh != IPPROTO_ROUTING &&
	    w->nh != IPPROTO_FRAGMENT)
		return 1;
	if (bpf_skb_load_bytes(w->skb, w->off, h, 4)) {
		pk->bad = 1;
		return 1;
	}
	if (w->nh == IPPROTO_FRAGMENT) {
		/* a later fragment carries no ports */
		w->nh = (h[2] << 5 | h[3] >> 3) ? 255 : h[0];
		w->off += 8;
		return 1;
	}
	if (w->nh == IPPROTO_ROUTING) {
		/* 16-byte addresses in the (hdrlen * 8) bytes after the first 8 */
		pk->nroute = h[1] / 2;
		pk->route_step = 16;
		pk->route_off = w->off + 8;
	}
	w->nh = h[0];
	w->off += (h[1] + 1) * 8;
	return 0;
}

static __always_inline int parse_v6(struct __sk_buff *skb, struct packet *pk, __u32 *l4off)
{
	struct ipv6hdr ip6;
	struct hdr_walk w = { .skb = skb, .pk = pk, .off = sizeof(ip6) };

	if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
		return -1;
	dest_v6(&pk->d, (const __u8 *)&ip6.daddr);
	__builtin_memcpy(pk->saddr, &ip6.saddr, 16);
	pk->d.family = AF_INET6;
	w.nh = ip6.nexthdr;
	if (w.nh == IPPROTO_HOPOPTS || w.nh == IPPROTO_DSTOPTS || w.nh == IPPROTO_ROUTING || w.nh == IPPROTO_FRAGMENT)
		bpf_loop(8, ipv6_ext_step, &w, 0);
	if (pk->bad)
		return -1;
	pk->d.proto = w.nh;
	*l4off = w.off;
	return 0;
}

/*
 * The packet's destination, protocol, ports and route into pk. A global
 * function: the verifier checks its header walks once, not once per path of
 * the program. Returns -1 for what is not IP.
 */
__noinline int parse_packet(struct __sk_buff *skb, struct packet *pk)
{
	__u32 l4off = 0;
	int r;

	if (!pk)
		return -1;
	__builtin_memset(pk, 0, sizeof(*pk));
	if (skb->protocol == bpf_htons(ETH_P_IP))
		r = parse_v4(skb, pk, &l4off);
	else if (skb->protocol == bpf_htons(ETH_P_IPV6))
		r = parse_v6(skb, pk, &l4off);
	else
		return -1;
	if (r < 0) {
		pk->bad = 1;
		return 0;
	}
	if (pk->d.proto == IPPROTO_TCP || pk->d.proto == IPPROTO_UDP) {
		__be16 ports[2];

		if (bpf_skb_load_bytes(skb, l4off, ports, sizeof(ports))) {
			pk->bad = 1;
			return 0;
		}
		pk->sport = bpf_ntohs(ports[0]);
		pk->d.port = bpf_ntohs(ports[1]);
	}
	if (pk->d.proto == IPPROTO_TCP) {
		__u8 off_flags[2]; /* data offset, flags */

		if (!bpf_skb_load_bytes(skb, l4off + 12, off_flags, 2))
			pk->rst_only = (off_flags[1] & 0x04) && skb->len == l4off + (off_flags[0] >> 4) * 4;
	}
	return 0;
}

/* The peer an accepted socket is connected to. */
static __always_inline int is_peer(struct bpf_sock *sk, const struct dest *d)
{
	struct dest peer = {};
	__u32 w[4];

	if (bpf_ntohs(sk->dst_port) != d->port)
		return 0;
	if (sk->family == AF_INET) {
		dest_v4(&peer, sk->dst_ip4);
	} else {
		w[0] = sk->dst_ip6[0];
		w[1] = sk->dst_ip6[1];
		w[2] = sk->dst_ip6[2];
		w[3] = sk->dst_ip6[3];
		dest_v6(&peer, (const __u8 *)w);
	}
	return peer.fam == d->fam && same_addr(peer.addr, d->addr);
}

#define BPF_TCP_SYN_SENT_STATE 2
#define BPF_TCP_LISTEN_STATE 10

/* 1: a TCP listener holds the packet's source address and port (the lookup of an incoming packet from no peer). */
static __always_inline int listener_holds(struct __sk_buff *skb, const struct packet *pk)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *l;
	__u32 size;
	int r;

	if (pk->d.fam == 4) {
		__builtin_memcpy(&t.ipv4.daddr, pk->saddr, 4);
		t.ipv4.dport = bpf_htons(pk->sport);
		size = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.daddr, pk->saddr, 16);
		t.ipv6.dport = bpf_htons(pk->sport);
		size = sizeof(t.ipv6);
	}
	l = bpf_sk_lookup_tcp(skb, &t, size, BPF_F_CURRENT_NETNS, 0);
	if (!l)
		return 0;
	r = l->state == BPF_TCP_LISTEN_STATE;
	bpf_sk_release(l);
	return r;
}

/*
 * A TCP socket accepted from a listener: accepted sockets are cloned from
 * their listener, so sock_create never saw them; one that is past SYN_SENT
 * and whose local address and port have a listener was accepted.
 */
static __always_inline int accepted_sock(struct bpf_sock *sk, const struct packet *pk)
{
	return pk->d.proto == IPPROTO_TCP && sk->state != BPF_TCP_SYN_SENT_STATE;
}

/*
 * accepted_sock() for a socket with a record: asked once per socket, at its
 * first judged packet, and remembered (cheaper than a sockops program, which
 * runs for every TCP callback of every connection on the host).
 */
static __always_inline int accepted(struct __sk_buff *skb, struct bpf_sock *sk, struct sock_state *st,
				    const struct packet *pk)
{
	if (st->passive)
		return 1;
	if (st->created || !accepted_sock(sk, pk))
		return 0;
	st->passive = listener_holds(skb, pk);
	return st->passive;
}

/* Tenant of the socket on this host that receives the packet (listener or connected peer), 0: host or none. */
static __always_inline __u32 receiver_owner(struct __sk_buff *skb, struct policy *p, const struct packet *pk)
{
	const struct vg_enf_cgroup_val *w;
	struct vg_enf_cgroup_val who;
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 size, owner;

	if (pk->d.fam == 4) {
		__builtin_memcpy(&t.ipv4.saddr, pk->saddr, 4);
		__builtin_memcpy(&t.ipv4.daddr, pk->d.addr, 4);
		t.ipv4.sport = bpf_htons(pk->sport);
		t.ipv4.dport = bpf_htons(pk->d.port);
		size = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, pk->saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, pk->d.addr, 16);
		t.ipv6.sport = bpf_htons(pk->sport);
		t.ipv6.dport = bpf_htons(pk->d.port);
		size = sizeof(t.ipv6);
	}
	if (pk->d.proto == IPPROTO_TCP)
		sk = bpf_sk_lookup_tcp(skb, &t, size, BPF_F_CURRENT_NETNS, 0);
	else
		sk = bpf_sk_lookup_udp(skb, &t, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	w = tenant_of_sock(p, sk, &who);
	owner = w ? w->tenant : 0;
	bpf_sk_release(sk);
	return owner;
}

/* Who a packet's event names: the socket's creator when vigil saw it, else the socket's owner uid. */
static __always_inline void sock_actor(struct __sk_buff *skb, const struct sock_state *st, struct actor *a)
{
	__builtin_memset(a, 0, sizeof(*a));
	a->cgroup_id = bpf_skb_cgroup_id(skb);
	if (st && st->created) {
		a->kind = VG_ENF_ACTOR_CREATOR;
		a->pid = st->pid;
		a->uid = st->uid;
		__builtin_memcpy(a->comm, st->comm, sizeof(a->comm));
	} else {
		a->kind = VG_ENF_ACTOR_SOCKET;
		a->uid = bpf_get_socket_uid(skb);
	}
}

/* State of the walk over a packet's route (bpf_loop keeps the verifier's work to one judge()). */
struct route_walk {
	struct policy p;
	struct __sk_buff *skb;
	struct packet *pk;
	struct dest d; /* the route address judged last */
	__u32 verdict, rule, owner;
};

static long judge_route_addr(__u32 k, struct route_walk *w)
{
	struct packet *pk = w->pk;
	__u8 a[16] = {};

	if (bpf_skb_load_bytes(w->skb, pk->route_off + k * pk->route_step, a, pk->route_step == 4 ? 4 : 16)) {
		w->verdict = VG_ENF_DENY_DEFAULT;
		return 1;
	}
	if (pk->route_step == 4)
		dest_v4(&w->d, *(__u32 *)a);
	else
		dest_v6(&w->d, a);
	w->verdict = judge(&w->p, &w->d, 0, &w->rule, &w->owner);
	return !vg_enf_verdict_allows(w->verdict);
}

/* Every address a packet will visit: its destination, then each address of its route. */
static __always_inline __u32 judge_route(struct route_walk *w, __u32 port_owner)
{
	w->d = w->pk->d;
	w->verdict = judge(&w->p, &w->d, port_owner, &w->rule, &w->owner);
	if (!w->pk->nroute || !vg_enf_verdict_allows(w->verdict) || !w->p.who->tenant)
		return w->verdict;
	if (w->pk->nroute > MAX_ROUTE)
		return VG_ENF_DENY_DEFAULT;
	bpf_loop(w->pk->nroute, judge_route_addr, w, 0);
	return w->verdict;
}

static __always_inline int judge_packet(struct __sk_buff *skb, struct bpf_sock *sk, struct sock_state *st,
					struct packet *pk)
{
	__u32 verdict, port_owner = 0;
	int cacheable = !pk->nroute, allow;
	struct route_walk w = {};
	struct actor a;

	if (load_generation(&w.p))
		return 1;
	w.p.who = tenant_of_skb(&w.p, skb);
	if (!w.p.who)
		return 1;
	quarantine(&w.p);

	w.skb = skb;
	w.pk = pk;
	w.d = pk->d;
	if (pk->bad) {
		verdict = w.p.who->tenant ? VG_ENF_DENY_DEFAULT : VG_ENF_ALLOW_NOPOLICY;
		cacheable = 0;
	} else if (st && !pk->nroute && !w.p.quarantined && is_peer(sk, &pk->d) && accepted(skb, sk, st, pk)) {
		verdict = VG_ENF_ALLOW_RULE;
	} else {
		if (w.p.who->tenant && vg_enf_proto_class(pk->d.proto) <= VG_ENF_CLASS_UDP &&
		    (skb->ifindex == LOOPBACK_IFINDEX || vg_enf_is_local(pk->d.fam, pk->d.addr))) {
			port_owner = receiver_owner(skb, &w.p, pk);
			/* a datagram's receiver may change from one packet to the next */
			if (pk->d.proto != IPPROTO_TCP)
				cacheable = 0;
		}
		verdict = judge_route(&w, port_owner);
	}
	count(w.p.who->tenant, verdict, w.p.who->mode, COUNT_VERDICT);
	allow = vg_enf_verdict_allows(verdict) || w.p.who->mode == VG_MODE_AUDIT;
	if (!vg_enf_verdict_allows(verdict)) {
		sock_actor(skb, st, &a);
		emit(&w.p, &w.d, verdict, w.rule, w.owner, VG_ENF_HOOK_SKB, &a);
	}
	if (st && cacheable) {
		st->gen = w.p.gen;
		st->allow = allow;
		st->vtenant = w.p.who->tenant;
		st->fam = pk->d.fam;
		st->proto = pk->d.proto;
		st->port = pk->d.port;
		__builtin_memcpy(st->addr, pk->d.addr, 16);
		st->early = 0;
		st->cached = 1;
	}
	return allow;
}

/*
 * An answer to what a peer sent: a TCP listener's SYN-ACK (the kernel runs this
 * program for it with the listener as the packet's socket, in the listener's
 * cgroup), or a packet of a socket that is not a full one (timewait). 1 when
 * the listener's tenant is quarantined and the peer is not on its allow list,
 * so that its listeners are unreachable.
 */
static __always_inline int answer_of_quarantined(struct __sk_buff *skb)
{
	struct packet pkt;
	struct policy p;
	__u32 rule, owner, v;

	if (!(conf_flags() & VG_ENF_HAS_QUARANTINE) || load_generation(&p))
		return 0;
	p.who = tenant_of_skb(&p, skb);
	if (!p.who || !p.who->tenant)
		return 0;
	quarantine(&p);
	if (!p.quarantined || parse_packet(skb, &pkt) < 0)
		return 0;
	v = pkt.bad ? VG_ENF_DENY_QUARANTINE : judge(&p, &pkt.d, 0, &rule, &owner);
	count(p.who->tenant, v, 0, COUNT_VERDICT);
	return !vg_enf_verdict_allows(v);
}

/*
 * A reply of an accepted TCP socket without a record, in its first segments:
 * one listener lookup instead of a record (a socket storage allocation) for
 * connections that send little; a longer one gets its record and the cached
 * compare. No reply pass while a quarantine exists (judged in full).
 */
#define REPLY_SEGS_WITHOUT_RECORD 4
static __always_inline int young_reply(struct __sk_buff *skb, struct bpf_sock *sk, const struct packet *pk)
{
	struct bpf_tcp_sock *tp;

	if (sk->protocol != IPPROTO_TCP || sk->type != SOCK_STREAM || pk->bad || pk->nroute ||
	    !accepted_sock(sk, pk) || (conf_flags() & VG_ENF_HAS_QUARANTINE))
		return 0;
	tp = bpf_tcp_sock(sk);
	if (!tp || tp->segs_out >= REPLY_SEGS_WITHOUT_RECORD)
		return 0;
	return is_peer(sk, &pk->d) && listener_holds(skb, pk);
}

/*
 * The common packet: its socket's cached verdict allows it, under this
 * generation, for this destination. Read straight from the packet, for plain
 * IPv4 and IPv6 TCP and UDP headers only: options, extension headers, later
 * fragments (and stamped verdicts on the loopback device) take the full path.
 */
static __always_inline int cached_allow(struct __sk_buff *skb, const struct sock_state *st, __u32 gen)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u16 *ports;

	if (!st->cached || !st->allow || st->gen != gen || (st->proto != IPPROTO_TCP && st->proto != IPPROTO_UDP))
		return 0;
	if (st->early == EARLY_BLIND && skb->ifindex == LOOPBACK_IFINDEX)
		return 0;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		ports = data + sizeof(*ip);
		if ((void *)(ports + 2) > end || st->fam != 4 || ip->ihl != 5 || ip->protocol != st->proto ||
		    (ip->frag_off & bpf_htons(0x1fff)) || ip->daddr != *(const __u32 *)st->addr)
			return 0;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		ports = data + sizeof(*ip6);
		if ((void *)(ports + 2) > end || st->fam != 6 || ip6->nexthdr != st->proto ||
		    !same_addr((const __u8 *)&ip6->daddr, st->addr))
			return 0;
	} else {
		return 0;
	}
	return bpf_ntohs(ports[1]) == st->port;
}

/*
 * The guarantee: every packet of every socket, judged by the destination in
 * its headers (after routing headers, source routes, kernel workers such as
 * MPTCP subflows) against the policy of the socket's tenant. The verdict is
 * cached per socket for one destination and one generation, so the common
 * packet costs one storage lookup and a compare.
 */
SEC("cgroup_skb/egress")
int vg_skb_egress(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	struct sock_state *st;
	struct cg_cached *c;
	struct vg_enf_cgroup_val who;
	struct packet pkt, *pk = &pkt;
	__u32 zero = 0, *gen;
	__u64 cgid;

	if (!sk)
		return 1;
	/*
	 * A listener sends only SYN-ACKs, to the address the SYN came from: an
	 * answer, not an egress decision, unless its tenant is quarantined. TCP
	 * only: a listening SCTP socket sends to any address.
	 */
	sk = bpf_sk_fullsock(sk);
	if (!sk || (sk->state == BPF_TCP_LISTEN_STATE && sk->protocol == IPPROTO_TCP && sk->type == SOCK_STREAM))
		return answer_of_quarantined(skb) ? 0 : 1;
	gen = bpf_map_lookup_elem(&active, &zero);
	if (!gen)
		return 1;
	st = bpf_sk_storage_get(&sock_states, sk, 0, 0);
	if (st) {
		if (cached_allow(skb, st, *gen))
			return 1;
		if (parse_packet(skb, pk) < 0)
			return 1;
	} else {
		/* a host socket while the host allows everything: cg_front (else cg_cache) and a compare */
		cgid = bpf_skb_cgroup_id(skb);
		if (front_get(cgid, *gen, &who)) {
			if (!who.tenant && !who.dflt)
				return 1;
		} else {
			c = bpf_map_lookup_elem(&cg_cache, &cgid);
			if (c && c->gen == *gen && !c->who.tenant && !c->who.dflt)
				return 1;
		}
		if (parse_packet(skb, pk) < 0)
			return 1;
		if (young_reply(skb, sk, pk))
			return 1;
		st = bpf_sk_storage_get(&sock_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	}
	/* a TCP socket's reset ends its flow towards a peer it had, and carries nothing (a quarantine's cut sends these) */
	if (pk->rst_only && sk->type == SOCK_STREAM && sk->protocol == IPPROTO_TCP)
		return 1;
	if (st && st->cached && st->gen == *gen && !pk->nroute && !pk->bad && st->port == pk->d.port &&
	    st->proto == pk->d.proto && st->fam == pk->d.fam && same_addr(st->addr, pk->d.addr)) {
		if (!st->allow)
			count(st->vtenant, 0, 0, COUNT_PACKET_DROPPED);
		return st->allow ? 1 : 0;
	}
	return judge_packet(skb, sk, st, pk);
}

/*
 * ---- cutting a quarantined tenant's flows at once (kernel >= 6.5) ----
 * vigild runs these socket iterators in each network namespace where the
 * tenant has processes; every TCP connection and connected UDP socket of a
 * quarantined tenant whose peer its allow list does not name is destroyed
 * (the peer gets a TCP reset, the process ECONNABORTED), and its tenant id is
 * printed, one line per socket, for vigild to count. vigild loads them only
 * where the kernel has bpf_sock_destroy; elsewhere the packet path drops
 * these flows' packets instead.
 */
extern int bpf_sock_destroy(struct sock_common *sk) __ksym __weak;

#define TCP_LISTEN 10
#define TCP_ESTABLISHED_STATE 1

/* Tenant of a socket from its cgroup's ancestors (the deepest listed one), 0: host or none. */
static __always_inline __u32 iter_tenant(const struct policy *p, struct sock *sk)
{
	struct cgroup *cg = sk->sk_cgrp_data.cgroup, *anc;
	const struct vg_enf_cgroup_val *v;
	__u32 tenant = 0;
	int level;
	__u64 id;

	if (!cg)
		return 0;
	level = cg->level;
	for (int lvl = 1; lvl < VG_ENF_MAX_CGROUP_DEPTH; lvl++) {
		if (lvl > level)
			break;
		/* a flexible array at a variable index: read, not dereferenced */
		if (bpf_probe_read_kernel(&anc, sizeof(anc), &cg->ancestors[lvl]) || !anc)
			break;
		id = BPF_CORE_READ(anc, kn, id);
		v = bpf_map_lookup_elem(p->cgroups, &id);
		if (v)
			tenant = v->tenant;
	}
	return tenant;
}

/* 1: sk belongs to a quarantined tenant and its peer is not on the allow list. */
static __always_inline int iter_cut(struct sock *sk, __u8 proto, __u32 *tenant_out)
{
	struct sock_common *skc = &sk->__sk_common;
	struct policy p;
	struct dest d = {};
	__u32 rule, owner, tenant;

	if (load_generation(&p))
		return 0;
	tenant = iter_tenant(&p, sk);
	if (!tenant)
		return 0;
	p.me.tenant = tenant;
	p.me.mode = 0;
	p.me.dflt = 0;
	p.me.sockets = 0;
	p.who = &p.me;
	quarantine(&p);
	if (!p.quarantined)
		return 0;
	if (skc->skc_family == AF_INET) {
		dest_v4(&d, skc->skc_daddr);
		d.family = AF_INET;
	} else {
		dest_v6(&d, (const __u8 *)&skc->skc_v6_daddr);
		d.family = AF_INET6;
	}
	d.proto = proto;
	d.port = bpf_ntohs(skc->skc_dport);
	*tenant_out = tenant;
	return !vg_enf_verdict_allows(judge(&p, &d, 0, &rule, &owner));
}

SEC("iter/tcp")
int vg_iter_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;
	__u32 tenant = 0;

	if (!skc || skc->skc_state == TCP_LISTEN)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	if (!iter_cut(&tp->inet_conn.icsk_inet.sk, IPPROTO_TCP, &tenant))
		return 0;
	if (bpf_sock_destroy(skc) == 0)
		BPF_SEQ_PRINTF(ctx->meta->seq, "%u\n", tenant);
	return 0;
}

SEC("iter/udp")
int vg_iter_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *up = ctx->udp_sk;
	struct sock *sk;
	__u32 tenant = 0;

	if (!up)
		return 0;
	sk = &up->inet.sk;
	/* unconnected sockets have no peer: their datagrams are judged per packet */
	if (sk->__sk_common.skc_state != TCP_ESTABLISHED_STATE)
		return 0;
	if (!iter_cut(sk, IPPROTO_UDP, &tenant))
		return 0;
	if (bpf_sock_destroy(&sk->__sk_common) == 0)
		BPF_SEQ_PRINTF(ctx->meta->seq, "%u\n", tenant);
	return 0;
}
