/* SPDX-License-Identifier: Apache-2.0 */
/* DNS names, patterns and messages (lib/dns.c, docs/dns.md): names normalised or refused
 * with the label named, patterns match one label, responses give the addresses of the
 * question's CNAME chain only, malformed messages (truncation, forward and looping
 * pointers, long names, bad record lengths) are refused without reading past the end. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vigil/bundle.h"
#include "vigil/dns.h"

#define NS 1000000000ull

static void test_names(void **state)
{
	char out[VG_DNS_NAME_MAX + 1], big[300];
	struct vg_err err;

	assert_int_equal(vg_dns_name_normalize("API.Stripe.COM.", out, sizeof(out), &err), 0);
	assert_string_equal(out, "api.stripe.com");
	assert_int_equal(vg_dns_name_normalize("_dmarc.example.com", out, sizeof(out), &err), 0);
	assert_int_equal(vg_dns_name_normalize("a..b", out, sizeof(out), &err), -EINVAL);
	assert_string_equal(err.code, "dns_label_empty");
	assert_int_equal(vg_dns_name_normalize(".a", out, sizeof(out), &err), -EINVAL);
	assert_int_equal(vg_dns_name_normalize("", out, sizeof(out), &err), -EINVAL);
	assert_int_equal(vg_dns_name_normalize(".", out, sizeof(out), &err), -EINVAL);
	assert_int_equal(vg_dns_name_normalize("b\xc3\xbc" "cher.de", out, sizeof(out), &err), -EINVAL);
	assert_non_null(strstr(err.msg, "xn--"));
	assert_int_equal(vg_dns_name_normalize("a b.com", out, sizeof(out), &err), -EINVAL);
	assert_string_equal(err.code, "dns_label_invalid");
	memset(big, 'a', 64);
	strcpy(big + 64, ".com");
	assert_int_equal(vg_dns_name_normalize(big, out, sizeof(out), &err), -EINVAL);
	assert_string_equal(err.code, "dns_label_too_long");
	for (int i = 0; i < 127; i++)
		memcpy(big + 2 * i, "a.", 2);
	strcpy(big + 254, "a");
	assert_int_equal(vg_dns_name_normalize(big, out, sizeof(out), &err), -EINVAL);
	assert_string_equal(err.code, "dns_name_too_long");
}

static void test_patterns(void **state)
{
	struct vg_err err;

	assert_int_equal(vg_dns_pattern_check("pypi.org", &err), 0);
	assert_int_equal(vg_dns_pattern_check("*.s3.eu-west-1.amazonaws.com", &err), 0);
	assert_int_equal(vg_dns_pattern_check("*.com", &err), -EINVAL);
	assert_string_equal(err.code, "dns_pattern_too_wide");
	assert_int_equal(vg_dns_pattern_check("PyPI.org", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "\"pypi.org\""));
	assert_int_equal(vg_dns_pattern_check("a.*.com", &err), -EINVAL);
	assert_int_equal(vg_dns_pattern_check("**.example.com", &err), -EINVAL);

	assert_true(vg_dns_pattern_match("pypi.org", "pypi.org"));
	assert_false(vg_dns_pattern_match("pypi.org", "files.pypi.org"));
	assert_true(vg_dns_pattern_match("*.example.com", "a.example.com"));
	assert_false(vg_dns_pattern_match("*.example.com", "example.com"));
	assert_false(vg_dns_pattern_match("*.example.com", "a.b.example.com"));
	assert_false(vg_dns_pattern_match("*.example.com", "aexample.com"));
	assert_false(vg_dns_pattern_match("*.example.com", "a.example.com.evil.net"));
}

/* --- a message builder --- */
struct msg {
	uint8_t b[4096];
	size_t n;
};

static void put16(struct msg *m, unsigned v)
{
	m->b[m->n++] = (uint8_t)(v >> 8);
	m->b[m->n++] = (uint8_t)v;
}

static void put32(struct msg *m, unsigned long v)
{
	put16(m, (unsigned)(v >> 16));
	put16(m, (unsigned)v & 0xffff);
}

static void put_name(struct msg *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);

		m->b[m->n++] = (uint8_t)l;
		memcpy(m->b + m->n, name, l);
		m->n += l;
		name += l + (dot ? 1 : 0);
	}
	m->b[m->n++] = 0;
}

static void header(struct msg *m, unsigned qd, unsigned an, const char *qname)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, 0x8180);
	put16(m, qd);
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
	if (qname) {
		put_name(m, qname);
		put16(m, VG_DNS_A);
		put16(m, 1);
	}
}

static void rr_a(struct msg *m, const char *owner, unsigned long ttl, const char *ip)
{
	struct in_addr a;

	put_name(m, owner);
	put16(m, VG_DNS_A);
	put16(m, 1);
	put32(m, ttl);
	put16(m, 4);
	inet_pton(AF_INET, ip, &a);
	memcpy(m->b + m->n, &a, 4);
	m->n += 4;
}

static void rr_cname(struct msg *m, const char *owner, unsigned long ttl, const char *target)
{
	size_t len_at;

	put_name(m, owner);
	put16(m, VG_DNS_CNAME);
	put16(m, 1);
	put32(m, ttl);
	len_at = m->n;
	put16(m, 0);
	put_name(m, target);
	m->b[len_at] = (uint8_t)((m->n - len_at - 2) >> 8);
	m->b[len_at + 1] = (uint8_t)(m->n - len_at - 2);
}

struct got {
	char s[8][64];
	uint32_t ttl[8];
	size_t n;
};

static void collect(void *arg, int family, const uint8_t *addr, uint32_t ttl)
{
	struct got *g = arg;

	inet_ntop(family, addr, g->s[g->n], sizeof(g->s[0]));
	g->ttl[g->n++] = ttl;
}

static void test_chain(void **state)
{
	struct vg_dns_msg *dm = malloc(sizeof(*dm));
	struct msg m;
	struct got g = { 0 };
	struct vg_err err;

	/* www.example.com -> cdn.example.net (CNAMEs out of order) -> edge.cdn.net -> 2 A;
	 * an A record for a name off the chain (the answer vouching for another name) is ignored */
	header(&m, 1, 5, "WWW.Example.com");
	rr_a(&m, "edge.cdn.net", 300, "192.0.2.10");
	rr_cname(&m, "cdn.example.net", 60, "edge.cdn.net");
	rr_cname(&m, "www.example.com", 3600, "cdn.example.net");
	rr_a(&m, "edge.cdn.net", 20, "192.0.2.11");
	rr_a(&m, "bank.example.org", 9999, "198.51.100.1");
	assert_int_equal(vg_dns_parse(m.b, m.n, dm, &err), 0);
	assert_string_equal(dm->qname, "www.example.com");
	assert_true(dm->response);
	assert_int_equal(vg_dns_answer_addrs(dm, collect, &g), 2);
	assert_string_equal(g.s[0], "192.0.2.10");
	assert_int_equal(g.ttl[0], 60); /* the smallest TTL along the chain */
	assert_string_equal(g.s[1], "192.0.2.11");
	assert_int_equal(g.ttl[1], 20);

	/* a CNAME loop ends */
	header(&m, 1, 3, "a.example.com");
	rr_cname(&m, "a.example.com", 60, "b.example.com");
	rr_cname(&m, "b.example.com", 60, "a.example.com");
	rr_a(&m, "b.example.com", 60, "192.0.2.1");
	assert_int_equal(vg_dns_parse(m.b, m.n, dm, &err), 0);
	g.n = 0;
	assert_int_equal(vg_dns_answer_addrs(dm, collect, &g), 1);

	/* a TTL with the top bit set counts as 0 */
	header(&m, 1, 1, "a.example.com");
	rr_a(&m, "a.example.com", 0x80000001ul, "192.0.2.1");
	assert_int_equal(vg_dns_parse(m.b, m.n, dm, &err), 0);
	g.n = 0;
	vg_dns_answer_addrs(dm, collect, &g);
	assert_int_equal(g.ttl[0], 0);
	free(dm);
}

static void test_malformed(void **state)
{
	struct vg_dns_msg *dm = malloc(sizeof(*dm));
	struct msg m;
	struct vg_err err;
	size_t n;

	/* every truncation of a good response is refused, never read past */
	header(&m, 1, 2, "www.example.com");
	rr_cname(&m, "www.example.com", 60, "edge.example.net");
	rr_a(&m, "edge.example.net", 60, "192.0.2.1");
	for (n = 0; n < m.n; n++) {
		uint8_t *copy = malloc(n ? n : 1);

		memcpy(copy, m.b, n);
		assert_int_equal(vg_dns_parse(copy, n, dm, &err), -EINVAL);
		free(copy);
	}
	assert_int_equal(vg_dns_parse(m.b, m.n, dm, &err), 0);

	/* a compression pointer to itself, and one pointing forward */
	header(&m, 1, 0, NULL);
	m.b[m.n++] = 0xc0;
	m.b[m.n++] = 12;
	put16(&m, 1);
	put16(&m, 1);
	assert_int_equal(vg_dns_parse(m.b, m.n, dm, &err), -EINVAL);
	assert_string_equal(err.code, "dns_bad_pointer");
	m.b[13] = 40;
	assert_int_equal(vg_dns_parse(m.b, m.n, dm, &err), -EINVAL);

	/* a name longer than 255 octets on the wire */
	header(&m, 1, 0, NULL);
	for (int i = 0; i < 5; i++) {
		m.b[m.n++] = 63;
		memset(m.b + m.n, 'a', 63);
		m.n += 63;
	}
	m.b[m.n++] = 0;
	put16(&m, 1);
	put16(&m, 1);
	assert_int_equal(vg_dns_parse(m.b, m.n, dm, &err), -EINVAL);
	assert_string_equal(err.code, "dns_name_too_long");

	/* an A record with 5 bytes of data */
	header(&m, 1, 1, "a.example.com");
	rr_a(&m, "a.example.com", 60, "192.0.2.1");
	m.b[m.n - 5] = 5;
	m.b[m.n++] = 0;
	assert_int_equal(vg_dns_parse(m.b, m.n, dm, &err), -EINVAL);
	assert_string_equal(err.code, "dns_bad_rdata");

	/* no question, two questions */
	header(&m, 0, 0, NULL);
	assert_int_equal(vg_dns_parse(m.b, m.n, dm, &err), -EINVAL);
	header(&m, 2, 0, "a.example.com");
	assert_int_equal(vg_dns_parse(m.b, m.n, dm, &err), -EINVAL);

	/* a question with a label vigil cannot match is refused, an answer with one skipped */
	header(&m, 1, 0, "a b.example.com");
	assert_int_equal(vg_dns_parse(m.b, m.n, dm, &err), -EINVAL);
	header(&m, 1, 2, "a.example.com");
	rr_a(&m, "a b.example.com", 60, "192.0.2.1");
	rr_a(&m, "a.example.com", 60, "192.0.2.2");
	assert_int_equal(vg_dns_parse(m.b, m.n, dm, &err), 0);
	assert_int_equal(dm->nrr, 1);
	assert_int_equal(dm->skipped, 1);
	free(dm);
}

/* --- the forwarder's pure decisions (agent/dnsfwd.c) --- */

static const char *fwd_bundle =
	"{\"version\": 1, \"issued_at\": \"2026-11-01T00:00:00Z\", \"expires_at\": \"2027-01-01T00:00:00Z\","
	" \"environment\": \"prod\", \"scope\": {\"hosts\": [\"*\"]},"
	" \"shared_services\": [{\"name\": \"time\", \"rules\": [{\"id\": 900, \"fqdn\": \"ntp.example.com\", \"proto\": \"udp\"},"
	"                                                      {\"id\": 901, \"pattern\": \"*.example.com\", \"proto\": \"tcp\"}]}],"
	" \"tenants\": [{\"name\": \"pay\", \"id\": 1, \"cgroups\": [\"/t/pay\"], \"shared\": [\"time\"],"
	"               \"egress\": [{\"id\": 1, \"fqdn\": \"api.example.com\", \"ports\": [443]},"
	"                          {\"id\": 2, \"cidr\": \"10.0.0.0/8\"}]},"
	"              {\"name\": \"ana\", \"id\": 2, \"cgroups\": [\"/t/ana\"], \"egress\": [{\"id\": 3, \"pattern\": \"*.data.example\"}]},"
	"              {\"name\": \"web\", \"id\": 3, \"cgroups\": [\"/t/web\"], \"egress\": [{\"id\": 4, \"cidr\": \"0.0.0.0/0\"}]}],"
	" \"dns\": {\"resolvers\": [\"10.0.0.53\"], \"ttl_min\": 10, \"ttl_max\": 600, \"grace\": 30}}";

static void test_forwarder_rules(void **state)
{
	const struct vg_name_rule *r[8];
	struct vg_bundle *b = NULL;
	struct vg_err err;

	assert_int_equal(vg_bundle_parse(fwd_bundle, strlen(fwd_bundle), &b, &err), 0);
	/* own rules first, then the shared service's, every match */
	assert_int_equal(vg_dns_rules_match(b, &b->tenants[0], "api.example.com", r, 8), 2);
	assert_int_equal(r[0]->id, 1);
	assert_int_equal(r[1]->id, 901);
	assert_int_equal(vg_dns_rules_match(b, &b->tenants[0], "ntp.example.com", r, 8), 2);
	assert_int_equal(r[0]->id, 900);
	assert_int_equal(vg_dns_rules_match(b, &b->tenants[0], "api.example.com", r, 1), 1);
	assert_int_equal(vg_dns_rules_match(b, &b->tenants[0], "example.com", r, 8), 0);
	assert_int_equal(vg_dns_rules_match(b, &b->tenants[0], "a.b.example.com", r, 8), 0);
	/* another tenant's names are not this one's */
	assert_int_equal(vg_dns_rules_match(b, &b->tenants[1], "api.example.com", r, 8), 0);
	assert_int_equal(vg_dns_rules_match(b, &b->tenants[1], "x.data.example", r, 8), 1);
	assert_int_equal(vg_dns_rules_match(b, &b->tenants[0], "x.data.example", r, 8), 0);
	assert_true(vg_dns_tenant_has_names(b, &b->tenants[0]));
	assert_true(vg_dns_tenant_has_names(b, &b->tenants[1]));
	assert_false(vg_dns_tenant_has_names(b, &b->tenants[2]));
	/* TTLs clamped into [10, 600], plus the grace */
	assert_true(vg_dns_learn_ns(&b->dns, 0, 0) == 40 * NS);
	assert_true(vg_dns_learn_ns(&b->dns, 300, 0) == 330 * NS);
	assert_true(vg_dns_learn_ns(&b->dns, 86400, 0) == 630 * NS);
	/* a cached answer 100.5 s old: what is left of its TTL, so the same expiry as when fetched */
	assert_true(vg_dns_learn_ns(&b->dns, 300, 100 * NS + NS / 2) == 229 * NS + NS / 2);
	/* ttl_min lifts what is left; an answer older than its TTL counts as 0 left */
	assert_true(vg_dns_learn_ns(&b->dns, 300, 290 * NS) == 40 * NS);
	assert_true(vg_dns_learn_ns(&b->dns, 10, 20 * NS) == 40 * NS);
	vg_bundle_free(b);
}

/* a query for NAME: RD set, with an OPT record announcing SIZE when SIZE > 0 */
static void query(struct msg *m, const char *name, unsigned size)
{
	m->n = 0;
	put16(m, 0xbeef);
	put16(m, 0x0100);
	put16(m, 1);
	put16(m, 0);
	put16(m, 0);
	put16(m, size ? 1 : 0);
	put_name(m, name);
	put16(m, VG_DNS_AAAA);
	put16(m, 1);
	if (size) {
		m->b[m->n++] = 0;
		put16(m, 41);
		put16(m, size);
		put32(m, 0x8000); /* DO */
		put16(m, 0);
	}
}

static void test_forwarder_synth(void **state)
{
	struct vg_dns_msg *p = malloc(sizeof(*p));
	struct msg q;
	uint8_t out[512];
	struct vg_err err;
	int n;

	/* a refusal: the question, the id, RD kept; QR, RA, the rcode set; no records; the client's OPT answered */
	query(&q, "evil.example", 4096);
	assert_int_equal(vg_dns_udp_size(q.b, q.n), 4096);
	n = vg_dns_synth(q.b, q.n, VG_DNS_RCODE_NXDOMAIN, out, sizeof(out));
	assert_int_equal(n, (int)q.n);
	assert_int_equal(vg_dns_parse(out, (size_t)n, p, &err), 0);
	assert_true(p->response);
	assert_int_equal(p->id, 0xbeef);
	assert_int_equal(p->rcode, VG_DNS_RCODE_NXDOMAIN);
	assert_string_equal(p->qname, "evil.example");
	assert_int_equal(p->qtype, VG_DNS_AAAA);
	assert_int_equal(p->nrr, 0);
	assert_int_equal(out[2], 0x81); /* QR, RD */
	assert_int_equal(out[3], 0x83); /* RA, NXDOMAIN */
	assert_int_equal(out[10] << 8 | out[11], 1);
	assert_int_equal(out[n - 11 + 3] << 8 | out[n - 11 + 4], 1232); /* our UDP size, DO not echoed */
	assert_int_equal(out[n - 11 + 7], 0);

	/* no OPT in the query: none in the answer, 512 bytes over UDP */
	query(&q, "evil.example", 0);
	assert_int_equal(vg_dns_udp_size(q.b, q.n), 512);
	n = vg_dns_synth(q.b, q.n, VG_DNS_RCODE_REFUSED, out, sizeof(out));
	assert_int_equal(n, (int)q.n);
	assert_int_equal(out[3] & 0x0f, VG_DNS_RCODE_REFUSED);
	assert_int_equal(out[10] << 8 | out[11], 0);
	query(&q, "evil.example", 100); /* below 512 counts as 512 (RFC 6891) */
	assert_int_equal(vg_dns_udp_size(q.b, q.n), 512);

	/* malformed questions get nothing; a short buffer is refused */
	assert_int_equal(vg_dns_synth(q.b, q.n, 0, out, 20), -ENOSPC);
	assert_int_equal(vg_dns_synth(q.b, 20, 0, out, sizeof(out)), -EINVAL);
	q.b[12] = 0xc0; /* a pointer where nothing precedes */
	assert_int_equal(vg_dns_synth(q.b, q.n, 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(vg_dns_synth(q.b, 8, 0, out, sizeof(out)), -EINVAL);
	free(p);
}

static int unlearnable(const char *text)
{
	uint8_t a[16];

	if (inet_pton(AF_INET, text, a) == 1)
		return vg_dns_addr_unlearnable(AF_INET, a) != NULL;
	assert_int_equal(inet_pton(AF_INET6, text, a), 1);
	return vg_dns_addr_unlearnable(AF_INET6, a) != NULL;
}

/* names never open special-purpose addresses (DNS rebinding to metadata, loopback, ...) */
static void test_unlearnable(void **state)
{
	static const char *const refused[] = {
		"0.0.0.0", "0.1.2.3", "127.0.0.1", "127.255.255.254", "169.254.169.254", "169.254.0.1",
		"224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "::", "::1", "fe80::1",
		"febf::1", "ff02::1", "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
		"::127.0.0.1", "::ffff:0.0.0.0", "::2",
	};
	static const char *const learnable[] = {
		"1.1.1.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "126.255.255.255", "128.0.0.1",
		"169.253.255.255", "169.255.0.1", "223.255.255.255", "2001:db8::1", "fd00:ec2::253",
		"fec0::1", "::ffff:93.184.216.34", "fc00::1", "64:ff9b::808:808",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (!unlearnable(refused[i]))
			fail_msg("%s must not be learnable", refused[i]);
	for (size_t i = 0; i < sizeof(learnable) / sizeof(learnable[0]); i++)
		if (unlearnable(learnable[i]))
			fail_msg("%s must be learnable", learnable[i]);
	assert_non_null(vg_dns_addr_unlearnable(AF_UNIX, (const uint8_t *)"x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_forwarder_rules),
		cmocka_unit_test(test_forwarder_synth),
		cmocka_unit_test(test_unlearnable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
