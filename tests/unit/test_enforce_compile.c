/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The egress policy compiler and explain(): fixed cases for every verdict,
 * then random bundles checked against a direct reading of the bundle
 * (every rule and segment scanned), which is what the trie must reproduce.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "vigil/enforce.h"

static struct vg_cidr cidr(const char *s)
{
	struct vg_cidr c;

	assert_int_equal(vg_cidr_parse(s, &c), 0);
	return c;
}

static struct vg_portrange p_443[] = { { 443, 443 } };
static struct vg_portrange p_udp[] = { { 5000, 5100 }, { 6000, 6000 } };
static struct vg_portrange p_v6[] = { { 443, 443 }, { 8443, 8443 } };
static struct vg_portrange p_53[] = { { 53, 53 } };

struct fixture {
	struct vg_bundle b;
	struct vg_tenant t[2];
	struct vg_rule r1[3], r2[1], dns[2];
	struct vg_cidr seg1[2], seg2[1];
	struct vg_shared_service svc[1];
	size_t shared[1];
	char *cg1[1], *cg2[1];
};

/* examples/bundle.json, by hand */
static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->r1[0] = (struct vg_rule){ .id = 100, .cidr = cidr("0.0.0.0/0"), .proto = VG_PROTO_TCP, .nports = 1, .ports = p_443 };
	f->r1[1] = (struct vg_rule){ .id = 101, .cidr = cidr("192.0.2.0/24"), .proto = VG_PROTO_UDP, .nports = 2, .ports = p_udp };
	f->r1[2] = (struct vg_rule){ .id = 102, .cidr = cidr("2001:db8::/32"), .proto = VG_PROTO_TCP, .nports = 2, .ports = p_v6 };
	f->r2[0] = (struct vg_rule){ .id = 200, .cidr = cidr("198.51.100.0/24"), .proto = VG_PROTO_ANY };
	f->dns[0] = (struct vg_rule){ .id = 900, .cidr = cidr("10.0.0.53/32"), .proto = VG_PROTO_UDP, .nports = 1, .ports = p_53 };
	f->dns[1] = (struct vg_rule){ .id = 901, .cidr = cidr("10.0.0.53/32"), .proto = VG_PROTO_TCP, .nports = 1, .ports = p_53 };
	f->seg1[0] = cidr("10.10.0.0/16");
	f->seg1[1] = cidr("fd00:10::/48");
	f->seg2[0] = cidr("10.20.0.0/16");
	f->svc[0] = (struct vg_shared_service){ .name = "dns", .nrules = 2, .rules = f->dns };
	f->cg1[0] = "/vigil.slice/payments";
	f->cg2[0] = "/vigil.slice/analytics";
	f->t[0] = (struct vg_tenant){ .name = "payments", .id = 1, .mode = VG_MODE_ENFORCE, .ncgroups = 1, .cgroups = f->cg1,
				      .nsegments = 2, .segments = f->seg1, .negress = 3, .egress = f->r1, .nshared = 1, .shared = f->shared };
	f->t[1] = (struct vg_tenant){ .name = "analytics", .id = 2, .mode = VG_MODE_AUDIT, .ncgroups = 1, .cgroups = f->cg2,
				      .nsegments = 1, .segments = f->seg2, .negress = 1, .egress = f->r2, .nshared = 1, .shared = f->shared };
	f->b.ntenants = 2;
	f->b.tenants = f->t;
	f->b.nshared_services = 1;
	f->b.shared_services = f->svc;
	f->b.host = (struct vg_host_policy){ .mode = VG_MODE_ENFORCE, .dflt = VG_DEFAULT_ALLOW };
}

static struct vg_enf_verdict_info ask(const struct vg_enf_compiled *c, uint32_t tenant, const char *addr, uint16_t port,
				      uint8_t proto, uint32_t port_owner)
{
	struct vg_enf_verdict_info v;
	uint8_t a[16];
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(family, addr, a), 1);
	assert_int_equal(vg_enf_explain(c, tenant, family, a, port, proto, port_owner, &v), 0);
	return v;
}

#define EXPECT(c, t, addr, port, proto, owner_in, verdict_, rule_, owner_)                         \
	do {                                                                                       \
		struct vg_enf_verdict_info v_ = ask(c, t, addr, port, proto, owner_in);            \
		assert_string_equal(vg_enf_verdict_name(v_.verdict), vg_enf_verdict_name(verdict_)); \
		assert_int_equal(v_.rule_id, rule_);                                               \
		assert_int_equal(v_.owner, owner_);                                                \
	} while (0)

static void test_verdicts(void **state)
{
	struct fixture f;
	struct vg_enf_compiled *c = NULL;
	struct vg_err err;

	fixture_init(&f);
	assert_int_equal(vg_enf_compile(&f.b, 0, &c, &err), 0);
	assert_int_equal(c->ncgroups, 2);
	assert_string_equal(c->cgroups[0].path, "/vigil.slice/payments");
	assert_int_equal(c->cgroups[1].val.tenant, 2);
	assert_int_equal(c->cgroups[1].val.mode, VG_MODE_AUDIT);

	EXPECT(c, 1, "1.2.3.4", 443, VG_PROTO_TCP, 0, VG_ENF_ALLOW_RULE, 100, 0);
	EXPECT(c, 1, "1.2.3.4", 80, VG_PROTO_TCP, 0, VG_ENF_DENY_DEFAULT, 0, 0);
	EXPECT(c, 1, "1.2.3.4", 443, VG_PROTO_UDP, 0, VG_ENF_DENY_DEFAULT, 0, 0);
	/* a longer CIDR keeps what its enclosing CIDRs allow */
	EXPECT(c, 1, "192.0.2.7", 443, VG_PROTO_TCP, 0, VG_ENF_ALLOW_RULE, 100, 0);
	EXPECT(c, 1, "192.0.2.7", 5000, VG_PROTO_UDP, 0, VG_ENF_ALLOW_RULE, 101, 0);
	EXPECT(c, 1, "192.0.2.7", 5100, VG_PROTO_UDP, 0, VG_ENF_ALLOW_RULE, 101, 0);
	EXPECT(c, 1, "192.0.2.7", 6000, VG_PROTO_UDP, 0, VG_ENF_ALLOW_RULE, 101, 0);
	EXPECT(c, 1, "192.0.2.7", 5101, VG_PROTO_UDP, 0, VG_ENF_DENY_DEFAULT, 0, 0);
	EXPECT(c, 1, "192.0.2.7", 4999, VG_PROTO_UDP, 0, VG_ENF_DENY_DEFAULT, 0, 0);
	EXPECT(c, 1, "192.0.3.7", 5000, VG_PROTO_UDP, 0, VG_ENF_DENY_DEFAULT, 0, 0);
	/* segmentation beats a broad allowlist; own segments are reachable */
	EXPECT(c, 1, "10.20.1.1", 443, VG_PROTO_TCP, 0, VG_ENF_DENY_SEGMENT, 0, 2);
	EXPECT(c, 1, "10.10.1.1", 9999, VG_PROTO_UDP, 0, VG_ENF_ALLOW_SEGMENT, 0, 1);
	EXPECT(c, 1, "fd00:10::5", 22, VG_PROTO_TCP, 0, VG_ENF_ALLOW_SEGMENT, 0, 1);
	EXPECT(c, 2, "fd00:10::5", 22, VG_PROTO_TCP, 0, VG_ENF_DENY_SEGMENT, 0, 1);
	EXPECT(c, 2, "10.10.0.1", 1, VG_PROTO_ICMP, 0, VG_ENF_DENY_SEGMENT, 0, 1);
	/* shared services */
	EXPECT(c, 1, "10.0.0.53", 53, VG_PROTO_UDP, 0, VG_ENF_ALLOW_SHARED, 900, 0);
	EXPECT(c, 2, "10.0.0.53", 53, VG_PROTO_TCP, 0, VG_ENF_ALLOW_SHARED, 901, 0);
	EXPECT(c, 2, "10.0.0.53", 54, VG_PROTO_TCP, 0, VG_ENF_DENY_DEFAULT, 0, 0);
	/* IPv6 and IPv4-mapped IPv6 */
	EXPECT(c, 1, "2001:db8::1", 8443, VG_PROTO_TCP, 0, VG_ENF_ALLOW_RULE, 102, 0);
	EXPECT(c, 1, "2001:db8::1", 80, VG_PROTO_TCP, 0, VG_ENF_DENY_DEFAULT, 0, 0);
	EXPECT(c, 1, "2001:db9::1", 443, VG_PROTO_TCP, 0, VG_ENF_DENY_DEFAULT, 0, 0);
	EXPECT(c, 1, "::ffff:1.2.3.4", 443, VG_PROTO_TCP, 0, VG_ENF_ALLOW_RULE, 100, 0);
	EXPECT(c, 1, "::ffff:10.20.0.9", 443, VG_PROTO_TCP, 0, VG_ENF_DENY_SEGMENT, 0, 2);
	/* "any" without ports covers ICMP and raw protocols too */
	EXPECT(c, 2, "198.51.100.9", 0, VG_PROTO_ICMP, 0, VG_ENF_ALLOW_RULE, 200, 0);
	EXPECT(c, 2, "198.51.100.9", 0, 47, 0, VG_ENF_ALLOW_RULE, 200, 0);
	EXPECT(c, 1, "1.2.3.4", 0, VG_PROTO_ICMP, 0, VG_ENF_DENY_DEFAULT, 0, 0);
	/* local listeners of another tenant */
	EXPECT(c, 1, "127.0.0.1", 443, VG_PROTO_TCP, 2, VG_ENF_DENY_PORT, 0, 2);
	EXPECT(c, 1, "::1", 443, VG_PROTO_TCP, 2, VG_ENF_DENY_PORT, 0, 2);
	EXPECT(c, 1, "127.0.0.1", 443, VG_PROTO_TCP, 1, VG_ENF_ALLOW_RULE, 100, 0);
	EXPECT(c, 1, "1.2.3.4", 443, VG_PROTO_TCP, 2, VG_ENF_ALLOW_RULE, 100, 0);
	/* host: default allow */
	EXPECT(c, 0, "10.20.1.1", 1, VG_PROTO_TCP, 0, VG_ENF_ALLOW_NOPOLICY, 0, 0);

	/* modes */
	assert_false(ask(c, 1, "1.2.3.4", 80, VG_PROTO_TCP, 0).allowed);
	assert_true(ask(c, 2, "1.2.3.4", 80, VG_PROTO_TCP, 0).allowed);
	assert_int_equal(ask(c, 2, "1.2.3.4", 80, VG_PROTO_TCP, 0).mode, VG_MODE_AUDIT);
	{
		struct vg_enf_verdict_info v;
		uint8_t a[4] = { 1, 2, 3, 4 };

		assert_int_equal(vg_enf_explain(c, 3, AF_INET, a, 1, VG_PROTO_TCP, 0, &v), -ENOENT);
	}
	vg_enf_compiled_free(c);
}

static void test_host_deny(void **state)
{
	struct fixture f;
	struct vg_enf_compiled *c = NULL;
	struct vg_rule hr[1] = { { .id = 7, .cidr = cidr("203.0.113.0/24"), .proto = VG_PROTO_TCP } };
	struct vg_err err;

	fixture_init(&f);
	f.b.host = (struct vg_host_policy){ .mode = VG_MODE_ENFORCE, .dflt = VG_DEFAULT_DENY, .negress = 1, .egress = hr };
	assert_int_equal(vg_enf_compile(&f.b, 0, &c, &err), 0);
	EXPECT(c, 0, "203.0.113.5", 22, VG_PROTO_TCP, 0, VG_ENF_ALLOW_RULE, 7, 0);
	EXPECT(c, 0, "203.0.113.5", 22, VG_PROTO_UDP, 0, VG_ENF_DENY_DEFAULT, 0, 0);
	/* segments are the tenants' business: the host goes by its own list */
	EXPECT(c, 0, "10.10.0.1", 22, VG_PROTO_TCP, 0, VG_ENF_DENY_DEFAULT, 0, 0);
	assert_int_equal(c->host.dflt, VG_DEFAULT_DENY);
	vg_enf_compiled_free(c);
}

/* socket kinds reach the kernel's cgroup values; the host may open every kind */
static void test_socket_kinds(void **state)
{
	struct fixture f;
	struct vg_enf_compiled *c = NULL;
	struct vg_err err;

	fixture_init(&f);
	f.t[0].sockets = VG_TENANT_SOCK_RAW | VG_TENANT_SOCK_MPTCP;
	assert_int_equal(vg_enf_compile(&f.b, 0, &c, &err), 0);
	assert_int_equal(c->host.sockets, VG_ENF_SOCK_ALL);
	assert_int_equal(c->ncgroups, 2);
	assert_int_equal(c->cgroups[0].val.sockets, VG_ENF_SOCK_RAW | VG_ENF_SOCK_MPTCP);
	assert_int_equal(c->cgroups[1].val.sockets, 0);
	assert_int_equal(c->tenants[1].sockets, 0);
	vg_enf_compiled_free(c);
}

/* nothing to compile: a tenant without rules or segments, a host without rules (UBSan: no qsort/bsearch on NULL) */
static void test_empty(void **state)
{
	struct fixture f;
	struct vg_enf_compiled *c = NULL;
	struct vg_err err;

	fixture_init(&f);
	f.t[0].negress = f.t[0].nsegments = f.t[0].nshared = 0;
	f.b.ntenants = 1;
	f.b.nshared_services = 0;
	assert_int_equal(vg_enf_compile(&f.b, 0, &c, &err), 0);
	assert_int_equal(c->nentries, 0);
	EXPECT(c, 1, "192.0.2.1", 443, VG_PROTO_TCP, 0, VG_ENF_DENY_DEFAULT, 0, 0);
	vg_enf_compiled_free(c);
}

/*
 * connect_rate: only tenants with one get kernel settings; the bucket the
 * kernel runs (vg_enf_bucket_take, the same code) admits the burst at once,
 * then per_second a second, never more than burst after a pause, and counts
 * every refusal in the mode's counter.
 */
static void test_connect_rate(void **state)
{
	const uint64_t s = 1000000000ull, t0 = 5 * s;
	struct vg_enf_compiled *c = NULL;
	struct vg_enf_bucket b = { 0 };
	struct vg_enf_connrate_conf cf;
	struct fixture f;
	struct vg_err err;
	unsigned n = 0;

	fixture_init(&f);
	f.t[1].connect_rate = (struct vg_connect_rate){ .per_second = 100, .burst = 20 };
	assert_int_equal(vg_enf_compile(&f.b, 0, &c, &err), 0);
	assert_int_equal(c->nconnrates, 1);
	assert_int_equal(c->connrates[0].tenant, 2);
	cf = c->connrates[0].conf;
	assert_int_equal(cf.per_second, 100);
	assert_int_equal(cf.burst, 20);
	assert_int_equal(cf.fill_ns, 200000000ull);
	vg_enf_compiled_free(c);

	/* a never used bucket is full: the burst goes through at once, the next one is refused */
	assert_int_equal(vg_enf_bucket_level(&cf, &b, t0), 20);
	for (int i = 0; i < 25; i++)
		n += (unsigned)vg_enf_bucket_take(&cf, &b, t0, 0);
	assert_int_equal(n, 20);
	assert_int_equal(b.limited, 5);
	/* one connection per 10 ms: 1 s of trying every 1 ms admits 100 */
	n = 0;
	for (uint64_t t = t0 + 1000000; t <= t0 + s; t += 1000000)
		n += (unsigned)vg_enf_bucket_take(&cf, &b, t, 0);
	assert_int_equal(n, 100);
	/* a long pause refills to burst, not beyond */
	assert_int_equal(vg_enf_bucket_level(&cf, &b, t0 + 3600 * s), 20);
	n = 0;
	for (int i = 0; i < 50; i++)
		n += (unsigned)vg_enf_bucket_take(&cf, &b, t0 + 3600 * s, 1);
	assert_int_equal(n, 20);
	assert_int_equal(b.would_limit, 30);
	/* the largest settings do not overflow: 1e6/s for 1 s after empty is 1e6 */
	cf = vg_enf_connrate_conf_of(1000000, 1000000);
	b = (struct vg_enf_bucket){ .last_ns = t0 };
	assert_int_equal(vg_enf_bucket_level(&cf, &b, t0 + s - 1), 999999);
	assert_int_equal(vg_enf_bucket_level(&cf, &b, t0 + 100 * s), 1000000);
	/* one a second, burst 1 */
	cf = vg_enf_connrate_conf_of(1, 1);
	b = (struct vg_enf_bucket){ 0 };
	assert_int_equal(vg_enf_bucket_take(&cf, &b, t0, 0), 1);
	assert_int_equal(vg_enf_bucket_take(&cf, &b, t0 + s - 1, 0), 0);
	assert_int_equal(vg_enf_bucket_take(&cf, &b, t0 + 2 * s, 0), 1);
}

static void test_limit(void **state)
{
	struct fixture f;
	struct vg_enf_compiled *c = NULL;
	struct vg_err err;

	fixture_init(&f);
	/* tenant 1: 3 rules + 1 shared CIDR + 4 segments = 8 entries; tenant 2: 1 + 1 + 4 - overlap */
	assert_int_equal(vg_enf_compile(&f.b, 5, &c, &err), -E2BIG);
	assert_null(c);
	assert_string_equal(err.code, "enforce_too_large");
	assert_non_null(strstr(err.msg, "more than 5 trie entries"));
	assert_int_equal(vg_enf_compile(&f.b, 0, &c, &err), 0);
	{
		struct vg_enf_compiled *exact = NULL;

		/* a limit of exactly what the policy needs is enough */
		assert_int_equal(vg_enf_compile(&f.b, c->nentries, &exact, &err), 0);
		vg_enf_compiled_free(exact);
	}
	vg_enf_compiled_free(c);
}

/* ---- random bundles against a direct reading of the bundle ---- */

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

/* addresses from a small universe so that CIDRs nest and collide often */
static void rnd_addr(int family, uint8_t *a)
{
	memset(a, 0, 16);
	if (family == AF_INET) {
		a[0] = 10;
		a[1] = (uint8_t)(rnd() % 4);
		a[2] = (uint8_t)(rnd() % 4 * 64);
		a[3] = (uint8_t)(rnd() % 8);
	} else {
		a[0] = 0x20;
		a[1] = 0x01;
		a[2] = (uint8_t)(rnd() % 3);
		a[15] = (uint8_t)(rnd() % 8);
	}
}

static struct vg_cidr rnd_cidr(void)
{
	struct vg_cidr c = { 0 };
	static const uint8_t l4[] = { 0, 8, 14, 16, 24, 26, 30, 32 }, l6[] = { 0, 16, 24, 64, 126, 128 };
	int full, rem;

	c.family = rnd() % 3 ? AF_INET : AF_INET6;
	rnd_addr(c.family, c.addr);
	c.prefixlen = c.family == AF_INET ? l4[rnd() % sizeof(l4)] : l6[rnd() % sizeof(l6)];
	full = c.prefixlen / 8;
	rem = c.prefixlen % 8;
	if (rem)
		c.addr[full++] &= (uint8_t)(0xff << (8 - rem));
	memset(c.addr + full, 0, (size_t)(16 - full));
	return c;
}

static uint16_t rnd_port(void)
{
	return (uint16_t)(1 + rnd() % 40);
}

static void rnd_rule(struct vg_rule *r, uint32_t id, struct vg_portrange *pr)
{
	static const uint8_t protos[] = { VG_PROTO_TCP, VG_PROTO_UDP, VG_PROTO_ICMP, VG_PROTO_ANY };

	r->id = id;
	r->cidr = rnd_cidr();
	r->proto = protos[rnd() % 4];
	r->nports = r->proto == VG_PROTO_ICMP || rnd() % 4 == 0 ? 0 : 1 + rnd() % 3;
	r->ports = pr;
	for (size_t k = 0; k < r->nports; k++) {
		pr[k].lo = rnd_port();
		pr[k].hi = (uint16_t)(pr[k].lo + rnd() % 6);
	}
}

static bool rule_matches(const struct vg_rule *r, int family, const uint8_t *a, uint16_t port, uint8_t proto)
{
	bool ported = proto == VG_PROTO_TCP || proto == VG_PROTO_UDP;

	if (!vg_cidr_contains(&r->cidr, family, a))
		return false;
	if (r->proto != VG_PROTO_ANY && r->proto != proto)
		return false;
	if (!r->nports)
		return true;
	if (!ported)
		return false;
	for (size_t k = 0; k < r->nports; k++)
		if (port >= r->ports[k].lo && port <= r->ports[k].hi)
			return true;
	return false;
}

static uint32_t lowest_match(const struct vg_rule *rules, size_t n, int family, const uint8_t *a, uint16_t port,
			     uint8_t proto)
{
	uint32_t best = 0;

	for (size_t i = 0; i < n; i++)
		if (rule_matches(&rules[i], family, a, port, proto) && (!best || rules[i].id < best))
			best = rules[i].id;
	return best;
}

/* docs/enforcement.md "Decision", read literally */
static uint32_t reference(const struct vg_bundle *b, uint32_t tid, int family, const uint8_t *a, uint16_t port,
			  uint8_t proto, uint32_t port_owner, uint32_t *rule)
{
	const struct vg_tenant *t = NULL;
	uint32_t shared = 0, seg_owner = 0;
	int best_len = -1;
	bool local, ported = proto == VG_PROTO_TCP || proto == VG_PROTO_UDP;

	*rule = 0;
	if (tid == 0) {
		if (b->host.dflt == VG_DEFAULT_ALLOW)
			return VG_ENF_ALLOW_NOPOLICY;
		*rule = lowest_match(b->host.egress, b->host.negress, family, a, port, proto);
		return *rule ? VG_ENF_ALLOW_RULE : VG_ENF_DENY_DEFAULT;
	}
	for (size_t i = 0; i < b->ntenants; i++)
		if (b->tenants[i].id == tid)
			t = &b->tenants[i];
	for (size_t k = 0; k < t->nshared; k++) {
		const struct vg_shared_service *s = &b->shared_services[t->shared[k]];
		uint32_t m = lowest_match(s->rules, s->nrules, family, a, port, proto);

		if (m && (!shared || m < shared))
			shared = m;
	}
	if (shared) {
		*rule = shared;
		return VG_ENF_ALLOW_SHARED;
	}
	local = family == AF_INET ? (a[0] == 127 || !(a[0] | a[1] | a[2] | a[3]))
				  : (!memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15) && a[15] <= 1);
	if (ported && local && port_owner && port_owner != tid)
		return VG_ENF_DENY_PORT;
	for (size_t i = 0; i < b->ntenants; i++)
		for (size_t k = 0; k < b->tenants[i].nsegments; k++) {
			const struct vg_cidr *s = &b->tenants[i].segments[k];

			if (!vg_cidr_contains(s, family, a))
				continue;
			if (s->prefixlen > best_len || (s->prefixlen == best_len && b->tenants[i].id != tid)) {
				best_len = s->prefixlen;
				seg_owner = b->tenants[i].id;
			}
		}
	if (seg_owner && seg_owner != tid)
		return VG_ENF_DENY_SEGMENT;
	if (seg_owner == tid)
		return VG_ENF_ALLOW_SEGMENT;
	*rule = lowest_match(t->egress, t->negress, family, a, port, proto);
	return *rule ? VG_ENF_ALLOW_RULE : VG_ENF_DENY_DEFAULT;
}

static void test_random_against_reference(void **state)
{
	enum { ROUNDS = 60, NT = 3, NR = 14, NSEG = 3, NSVC = 2, NSR = 3, QUERIES = 3000 };
	static const uint8_t qprotos[] = { VG_PROTO_TCP, VG_PROTO_UDP, VG_PROTO_ICMP, 58, 47 };

	for (int round = 0; round < ROUNDS; round++) {
		struct vg_tenant t[NT];
		struct vg_rule rules[NT][NR], srules[NSVC][NSR], hrules[NR];
		struct vg_portrange pr[NT * NR + NSVC * NSR + NR][3];
		struct vg_cidr segs[NT][NSEG];
		struct vg_shared_service svc[NSVC];
		size_t shared[NT][NSVC];
		char *cg[NT] = { "/a", "/b", "/c" };
		struct vg_bundle b = { 0 };
		struct vg_enf_compiled *c = NULL;
		struct vg_err err;
		uint32_t id = 1;
		size_t npr = 0;

		for (int s = 0; s < NSVC; s++) {
			for (int k = 0; k < NSR; k++)
				rnd_rule(&srules[s][k], id++, pr[npr++]);
			svc[s] = (struct vg_shared_service){ .name = "svc", .nrules = NSR, .rules = srules[s] };
		}
		for (int i = 0; i < NT; i++) {
			size_t nseg = rnd() % (NSEG + 1), nr = rnd() % (NR + 1), nsh = 0;

			for (size_t k = 0; k < nr; k++)
				rnd_rule(&rules[i][k], id++, pr[npr++]);
			for (size_t k = 0; k < nseg; k++)
				segs[i][k] = rnd_cidr();
			for (int s = 0; s < NSVC; s++)
				if (rnd() % 2)
					shared[i][nsh++] = (size_t)s;
			/* odd rounds list the tenants out of id order: the compiler then sorts the entries */
			t[i] = (struct vg_tenant){ .name = "t", .id = (uint32_t)(round % 2 ? NT - i : i + 1),
						   .mode = VG_MODE_ENFORCE, .ncgroups = 1,
						   .cgroups = &cg[i], .nsegments = nseg, .segments = segs[i], .negress = nr,
						   .egress = rules[i], .nshared = nsh, .shared = shared[i] };
		}
		b.host.dflt = rnd() % 2 ? VG_DEFAULT_DENY : VG_DEFAULT_ALLOW;
		b.host.negress = rnd() % (NR + 1);
		for (size_t k = 0; k < b.host.negress; k++)
			rnd_rule(&hrules[k], id++, pr[npr++]);
		b.host.egress = hrules;
		b.ntenants = NT;
		b.tenants = t;
		b.nshared_services = NSVC;
		b.shared_services = svc;
		assert_int_equal(vg_enf_compile(&b, 0, &c, &err), 0);

		for (int q = 0; q < QUERIES; q++) {
			struct vg_enf_verdict_info v;
			uint8_t a[16], m[16] = { 0 };
			uint32_t tid = rnd() % (NT + 1), owner = rnd() % 4 == 0 ? rnd() % (NT + 1) : 0, rule, want;
			int family = rnd() % 3 ? AF_INET : AF_INET6;
			uint16_t port = rnd_port();
			uint8_t proto = qprotos[rnd() % sizeof(qprotos)];

			if (family == AF_INET6 && proto == VG_PROTO_ICMP)
				proto = 58;
			if (family == AF_INET && proto == 58)
				proto = VG_PROTO_ICMP;
			rnd_addr(family, a);
			if (rnd() % 10 == 0) {
				memset(a, 0, 16);
				a[0] = 127;
				if (family == AF_INET6) {
					a[0] = 0;
					a[15] = 1;
				}
			}
			want = reference(&b, tid, family, a, port, proto == 58 ? VG_PROTO_ICMP : proto, owner, &rule);
			assert_int_equal(vg_enf_explain(c, tid, family, a, port, proto, owner, &v), 0);
			if (v.verdict != want || v.rule_id != rule)
				fail_msg("round %d query %d: tenant %u family %d proto %u port %u: explain %s/%u, reference %s/%u",
					 round, q, tid, family, proto, port, vg_enf_verdict_name(v.verdict), v.rule_id,
					 vg_enf_verdict_name(want), rule);
			/* the same address as IPv4-mapped IPv6 gets the same answer */
			if (family == AF_INET) {
				struct vg_enf_verdict_info v6;

				m[10] = m[11] = 0xff;
				memcpy(m + 12, a, 4);
				assert_int_equal(vg_enf_explain(c, tid, AF_INET6, m, port, proto, owner, &v6), 0);
				assert_int_equal(v6.verdict, v.verdict);
				assert_int_equal(v6.rule_id, v.rule_id);
			}
		}
		vg_enf_compiled_free(c);
	}
}

/* Many port ranges on one CIDR stay disjoint, sorted and complete. */
static void test_port_intervals(void **state)
{
	struct fixture f;
	struct vg_enf_compiled *c = NULL;
	struct vg_portrange many[64];
	struct vg_rule r[2];
	struct vg_err err;

	fixture_init(&f);
	for (int i = 0; i < 64; i++)
		many[i] = (struct vg_portrange){ (uint16_t)(1000 + i * 10), (uint16_t)(1000 + i * 10 + 4) };
	r[0] = (struct vg_rule){ .id = 50, .cidr = cidr("203.0.113.0/24"), .proto = VG_PROTO_TCP, .nports = 64, .ports = many };
	r[1] = (struct vg_rule){ .id = 40, .cidr = cidr("203.0.113.0/24"), .proto = VG_PROTO_ANY, .nports = 1,
				 .ports = (struct vg_portrange[]){ { 1002, 1012 } } };
	f.t[1].egress = r;
	f.t[1].negress = 2;
	assert_int_equal(vg_enf_compile(&f.b, 0, &c, &err), 0);
	for (size_t i = 0; i + 1 < c->nranges; i++)
		if (c->ranges[i].lo > c->ranges[i].hi)
			fail_msg("interval %zu is reversed", i);
	EXPECT(c, 2, "203.0.113.1", 1000, VG_PROTO_TCP, 0, VG_ENF_ALLOW_RULE, 50, 0);
	EXPECT(c, 2, "203.0.113.1", 1002, VG_PROTO_TCP, 0, VG_ENF_ALLOW_RULE, 40, 0);
	EXPECT(c, 2, "203.0.113.1", 1007, VG_PROTO_TCP, 0, VG_ENF_ALLOW_RULE, 40, 0);
	EXPECT(c, 2, "203.0.113.1", 1013, VG_PROTO_TCP, 0, VG_ENF_ALLOW_RULE, 50, 0);
	EXPECT(c, 2, "203.0.113.1", 1015, VG_PROTO_TCP, 0, VG_ENF_DENY_DEFAULT, 0, 0);
	EXPECT(c, 2, "203.0.113.1", 1634, VG_PROTO_TCP, 0, VG_ENF_ALLOW_RULE, 50, 0);
	EXPECT(c, 2, "203.0.113.1", 1635, VG_PROTO_TCP, 0, VG_ENF_DENY_DEFAULT, 0, 0);
	EXPECT(c, 2, "203.0.113.1", 1010, VG_PROTO_UDP, 0, VG_ENF_ALLOW_RULE, 40, 0);
	EXPECT(c, 2, "203.0.113.1", 1020, VG_PROTO_UDP, 0, VG_ENF_DENY_DEFAULT, 0, 0);
	/* "any" with ports does not speak for ICMP */
	EXPECT(c, 2, "203.0.113.1", 0, VG_PROTO_ICMP, 0, VG_ENF_DENY_DEFAULT, 0, 0);
	vg_enf_compiled_free(c);
}

/* Name rules: a learned address allows the rule's proto and ports only, for the tenant that has the rule, while live. */
static void test_learned_names(void **state)
{
	static struct vg_portrange p_8443[] = { { 8443, 8443 } };
	struct fixture f;
	struct vg_enf_compiled *c = NULL;
	struct vg_name_rule own[1] = { { .id = 300, .pattern = "api.example.com", .proto = VG_PROTO_TCP, .nports = 1,
					 .ports = p_8443 } };
	struct vg_name_rule svc[1] = { { .id = 400, .pattern = "*.cdn.example", .proto = VG_PROTO_UDP, .nports = 2,
					 .ports = p_udp } };
	struct vg_enf_learn_val l = { 0 };
	struct vg_enf_verdict_info v;
	uint8_t a[4] = { 203, 0, 113, 9 }, seg2[4] = { 10, 20, 0, 9 };
	struct vg_err err;

	fixture_init(&f);
	f.t[0].nnames = 1;
	f.t[0].names = own;
	f.svc[0].nnames = 1;
	f.svc[0].names = svc;
	assert_int_equal(vg_enf_compile(&f.b, 0, &c, &err), 0);
	/* tenant 1: its own rule and the shared service's; tenant 2: the shared service's only */
	assert_int_equal(c->nnames, 3);
	assert_non_null(vg_enf_name_find(c, 1, 300));
	assert_non_null(vg_enf_name_find(c, 1, 400));
	assert_non_null(vg_enf_name_find(c, 2, 400));
	assert_null(vg_enf_name_find(c, 2, 300));

	l.slot[0] = (struct vg_enf_learn_slot){ .expires_ns = 1000, .rule = 300, .tag = vg_enf_name_tag("api.example.com") };
	assert_int_equal(vg_enf_explain_learned(c, 1, AF_INET, a, 8443, VG_PROTO_TCP, 0, &l, 10, &v), 0);
	assert_int_equal(v.verdict, VG_ENF_ALLOW_NAME);
	assert_int_equal(v.rule_id, 300);
	assert_int_equal(v.expires_ns, 1000);
	assert_true(v.allowed);
	/* another port, another protocol, expired, another tenant, another tag: no */
	assert_int_equal(vg_enf_explain_learned(c, 1, AF_INET, a, 80, VG_PROTO_TCP, 0, &l, 10, &v), 0);
	assert_int_equal(v.verdict, VG_ENF_DENY_DEFAULT);
	assert_int_equal(vg_enf_explain_learned(c, 1, AF_INET, a, 8443, VG_PROTO_UDP, 0, &l, 10, &v), 0);
	assert_int_equal(v.verdict, VG_ENF_DENY_DEFAULT);
	assert_int_equal(vg_enf_explain_learned(c, 1, AF_INET, a, 8443, VG_PROTO_TCP, 0, &l, 1000, &v), 0);
	assert_int_equal(v.verdict, VG_ENF_DENY_DEFAULT);
	assert_int_equal(vg_enf_explain_learned(c, 2, AF_INET, a, 8443, VG_PROTO_TCP, 0, &l, 10, &v), 0);
	assert_int_equal(v.verdict, VG_ENF_DENY_DEFAULT);
	l.slot[0].tag ^= 1;
	assert_int_equal(vg_enf_explain_learned(c, 1, AF_INET, a, 8443, VG_PROTO_TCP, 0, &l, 10, &v), 0);
	assert_int_equal(v.verdict, VG_ENF_DENY_DEFAULT);
	/* a second slot (the shared service's rule) is looked at too */
	l.slot[2] = (struct vg_enf_learn_slot){ .expires_ns = 2000, .rule = 400, .tag = vg_enf_name_tag("*.cdn.example") };
	assert_int_equal(vg_enf_explain_learned(c, 2, AF_INET, a, 6000, VG_PROTO_UDP, 0, &l, 10, &v), 0);
	assert_int_equal(v.verdict, VG_ENF_ALLOW_NAME);
	assert_int_equal(v.rule_id, 400);
	/* deny wins: another tenant's segment or local port is not opened by a learned name */
	l.slot[0].tag ^= 1;
	assert_int_equal(vg_enf_explain_learned(c, 1, AF_INET, seg2, 443, VG_PROTO_TCP, 0, &l, 10, &v), 0);
	assert_int_equal(v.verdict, VG_ENF_DENY_SEGMENT);
	/* an allow from a CIDR rule keeps its own verdict */
	assert_int_equal(vg_enf_explain_learned(c, 2, AF_INET, (uint8_t[]){ 198, 51, 100, 1 }, 6000, VG_PROTO_UDP, 0, &l,
						10, &v), 0);
	assert_int_equal(v.verdict, VG_ENF_ALLOW_RULE);
	assert_true(vg_enf_verdict_allows(VG_ENF_ALLOW_NAME));
	assert_true(vg_enf_verdict_allows(VG_ENF_ALLOW_DNS));
	assert_false(vg_enf_verdict_allows(VG_ENF_DENY_DNS));
	vg_enf_compiled_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_host_deny),
		cmocka_unit_test(test_socket_kinds),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_connect_rate),
		cmocka_unit_test(test_port_intervals),
		cmocka_unit_test(test_random_against_reference),
		cmocka_unit_test(test_learned_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
