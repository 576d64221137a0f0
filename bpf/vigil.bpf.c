// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * vigil egress enforcement. Attached at the cgroup2 root: every socket on the
 * host passes here; the cgroup map (cgroup id -> tenant) decides who is a
 * tenant, walking the caller's ancestors so that cgroups created later below a
 * tenant cgroup are covered. Policy lives in generation slots (gen_* maps of
 * maps) switched by one write to active[0]. docs/enforcement.md has the design.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "vigil_maps.h"

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define NSEC_PER_SEC 1000000000ULL

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

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct vg_enf_port_key);
	__type(value, __u32);
} ports SEC(".maps");

/* What a bound socket recorded in ports, so sock_release (which cannot read the port) can undo it. */
struct bound {
	struct vg_enf_port_key pk;
	__u32 tenant;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct bound);
} bound_socks SEC(".maps");

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

struct policy {
	void *lpm, *ranges;
	const struct vg_enf_cgroup_val *who;
};

struct dest {
	__u8 addr[16]; /* IPv4 in the first 4 bytes */
	__u16 port;
	__u8 proto;
	__u8 family; /* of the socket */
	__u8 fam;    /* as matched: 4 or 6 */
};

/*
 * on_skb is a literal constant at every call site, so each program is compiled
 * with only its own helpers: the 6.1 and 6.12 verifiers refuse a task helper
 * (bpf_get_current_*) in cgroup_skb even on a branch that can never run.
 */

/* Tenant of a cgroup chain: the deepest ancestor listed in the cgroup map. */
static __always_inline int load_policy(struct policy *p, const bool on_skb, struct __sk_buff *skb)
{
	__u32 zero = 0, *slot;
	void *cgroups;
	__u64 id;

	slot = bpf_map_lookup_elem(&active, &zero);
	if (!slot)
		return -1;
	cgroups = bpf_map_lookup_elem(&gen_cgroups, slot);
	p->lpm = bpf_map_lookup_elem(&gen_lpm, slot);
	p->ranges = bpf_map_lookup_elem(&gen_ranges, slot);
	if (!cgroups || !p->lpm || !p->ranges)
		return -1;
	p->who = NULL;
	for (int level = 1; level < VG_ENF_MAX_CGROUP_DEPTH; level++) {
		const struct vg_enf_cgroup_val *v;

		id = on_skb ? bpf_skb_ancestor_cgroup_id(skb, level) : bpf_get_current_ancestor_cgroup_id(level);
		if (!id)
			break;
		v = bpf_map_lookup_elem(cgroups, &id);
		if (v)
			p->who = v;
	}
	if (!p->who) {
		id = VG_ENF_HOST_CGID;
		p->who = bpf_map_lookup_elem(cgroups, &id);
	}
	return p->who ? 0 : -1;
}

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

static __always_inline void count(__u32 tenant, __u32 verdict, __u8 mode, int dropped_event)
{
	struct vg_enf_counters *c, init = {};

	c = bpf_map_lookup_elem(&counters, &tenant);
	if (!c) {
		bpf_map_update_elem(&counters, &tenant, &init, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&counters, &tenant);
		if (!c)
			return;
	}
	if (dropped_event)
		c->events_dropped++;
	else if (vg_enf_verdict_allows(verdict))
		c->allowed++;
	else if (mode == 1)
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
				 __u32 owner, __u8 hook, const bool on_skb, struct __sk_buff *skb)
{
	struct vg_enf_event *e;
	__u32 tenant = p->who->tenant;
	__u8 sampled;

	if (!event_budget(tenant, &sampled)) {
		count(tenant, verdict, 0, 1);
		return;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(tenant, verdict, 0, 1);
		return;
	}
	if (on_skb) {
		e->cgroup_id = bpf_skb_cgroup_id(skb);
		e->pid = 0;
		e->uid = 0;
		__builtin_memset(e->comm, 0, sizeof(e->comm));
	} else {
		e->cgroup_id = bpf_get_current_cgroup_id();
		e->pid = bpf_get_current_pid_tgid() >> 32;
		e->uid = (__u32)bpf_get_current_uid_gid();
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	}
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
	__builtin_memcpy(e->addr, d->addr, 16);
	bpf_ringbuf_submit(e, 0);
}

/* 1: let it through, 0: refuse (EPERM for the sock_addr hooks, drop for skb). */
static __always_inline int enforce(struct dest *d, __u8 hook, const bool on_skb, struct __sk_buff *skb)
{
	const struct vg_enf_lpm_val *val = NULL;
	const struct vg_enf_range *r = NULL;
	struct vg_enf_lpm_key key = {};
	struct policy p;
	__u32 verdict, rule, owner, port_owner = 0, tenant, cls;

	if (load_policy(&p, on_skb, skb))
		return 1;
	tenant = p.who->tenant;
	if (tenant == 0 && p.who->dflt == 0)
		return 1;
	key.prefixlen = VG_ENF_KEY_FULL_BITS;
	key.tenant = tenant;
	key.fam = d->fam;
	__builtin_memcpy(key.addr, d->addr, 16);
	val = bpf_map_lookup_elem(p.lpm, &key);
	cls = vg_enf_proto_class(d->proto);
	if (val && cls < VG_ENF_CLASS__COUNT)
		r = find_range(p.ranges, val->off[cls], val->cnt[cls], cls <= VG_ENF_CLASS_UDP ? d->port : 0);
	if (tenant && cls <= VG_ENF_CLASS_UDP && vg_enf_is_local(d->fam, d->addr)) {
		struct vg_enf_port_key pk = { .port = d->port, .proto = d->proto };
		__u32 *o = bpf_map_lookup_elem(&ports, &pk);

		if (o)
			port_owner = *o;
	}
	verdict = vg_enf_decide(tenant, val, r ? r->own_rule : 0, r ? r->shared_rule : 0, port_owner, &rule, &owner);
	count(tenant, verdict, p.who->mode, 0);
	if (vg_enf_verdict_allows(verdict))
		return 1;
	emit(&p, d, verdict, rule, owner, hook, on_skb, skb);
	return p.who->mode == 1;
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

static __always_inline int sock_addr4(struct bpf_sock_addr *ctx, __u8 hook)
{
	struct dest d = {};

	dest_v4(&d, ctx->user_ip4);
	d.port = bpf_ntohs((__u16)ctx->user_port);
	d.proto = ctx->protocol;
	d.family = AF_INET;
	return enforce(&d, hook, false, NULL);
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
	return enforce(&d, hook, false, NULL);
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

static __always_inline int record_bind(struct bpf_sock *sk)
{
	struct vg_enf_port_key pk = { .port = (__u16)sk->src_port, .proto = (__u8)sk->protocol };
	struct bound *b;
	struct policy p;

	if (load_policy(&p, false, NULL) || !pk.port)
		return 1;
	if (!p.who->tenant) {
		/* the host took the port over from whoever had it */
		bpf_map_delete_elem(&ports, &pk);
		return 1;
	}
	bpf_map_update_elem(&ports, &pk, &p.who->tenant, BPF_ANY);
	b = bpf_sk_storage_get(&bound_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (b) {
		b->pk = pk;
		b->tenant = p.who->tenant;
	}
	return 1;
}

SEC("cgroup/post_bind4")
int vg_post_bind4(struct bpf_sock *sk)
{
	return record_bind(sk);
}

SEC("cgroup/post_bind6")
int vg_post_bind6(struct bpf_sock *sk)
{
	return record_bind(sk);
}

/* A closed listener no longer owns its port; only its own tenant's entry is removed. */
SEC("cgroup/sock_release")
int vg_sock_release(struct bpf_sock *sk)
{
	struct bound *b = bpf_sk_storage_get(&bound_socks, sk, 0, 0);
	__u32 *o;

	if (!b)
		return 1;
	o = bpf_map_lookup_elem(&ports, &b->pk);
	if (o && *o == b->tenant)
		bpf_map_delete_elem(&ports, &b->pk);
	return 1;
}

/*
 * Backstop for what the socket hooks do not see: raw sockets and ICMP
 * (ping) sockets. TCP and UDP sockets were decided at connect/sendmsg.
 */
SEC("cgroup_skb/egress")
int vg_skb_egress(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	struct dest d = {};
	__u32 l4off;

	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	if ((sk->type == SOCK_STREAM && sk->protocol == IPPROTO_TCP) ||
	    (sk->type == SOCK_DGRAM && sk->protocol == IPPROTO_UDP))
		return 1;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return 1;
		dest_v4(&d, ip.daddr);
		d.proto = ip.protocol;
		d.family = AF_INET;
		l4off = ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return 1;
		dest_v6(&d, (const __u8 *)&ip6.daddr);
		d.proto = ip6.nexthdr;
		d.family = AF_INET6;
		l4off = sizeof(ip6);
	} else {
		return 1;
	}
	if (d.proto == IPPROTO_TCP || d.proto == IPPROTO_UDP) {
		__be16 dport;

		if (bpf_skb_load_bytes(skb, l4off + 2, &dport, sizeof(dport)))
			return 1;
		d.port = bpf_ntohs(dport);
	}
	return enforce(&d, VG_ENF_HOOK_SKB, true, skb);
}
