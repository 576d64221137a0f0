/* SPDX-License-Identifier: Apache-2.0 */
/* The forwarder's cache of answers (lib/dns_cache.c, docs/dns.md "The cache"): the flags a
 * question is keyed by (a cookie or a client subnet is never answered from it), the TTL fields
 * of an answer (OPT left out), an entry served with the asker's id and question case and its
 * TTLs counted down, expiry at the smallest TTL (capped by ttl_max), TTL 0 not kept, bounds by
 * entries and bytes with the least recently used evicted and counted, flush and sweep. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "vigil/dns.h"
#include "vigil/dns_cache.h"

#define NS 1000000000ull
#define T0 (1000 * NS)

/* NAME (dotted, written as given: case kept) in wire form at P; its length */
static size_t put_name(uint8_t *p, const char *name)
{
	size_t o = 0;

	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);

		p[o++] = (uint8_t)l;
		memcpy(p + o, name, l);
		o += l;
		name += l + (dot ? 1 : 0);
	}
	p[o++] = 0;
	return o;
}

static size_t put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

static size_t put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
	return 4;
}

/* a query for NAME (type A, RD) with id ID; EDNS: an OPT record (DO when 2; an option when 3) */
static size_t query(uint8_t *m, const char *name, uint16_t id, int edns)
{
	size_t o = 0;

	o += put16(m, id);
	o += put16(m + o, 0x0100);
	o += put16(m + o, 1);
	o += put16(m + o, 0);
	o += put16(m + o, 0);
	o += put16(m + o, edns ? 1 : 0);
	o += put_name(m + o, name);
	o += put16(m + o, VG_DNS_A);
	o += put16(m + o, 1);
	if (edns) {
		m[o++] = 0;
		o += put16(m + o, 41);
		o += put16(m + o, 1232);
		o += put32(m + o, edns == 2 ? 0x8000 : 0);
		o += put16(m + o, edns == 3 ? 4 : 0);
		if (edns == 3)
			o += put32(m + o, 0x000a0000); /* a cookie option, empty */
	}
	return o;
}

/* the answer to query(NAME): A 192.0.2.7 TTL ATTL (owner a pointer to the question), an NS
 * in authority with TTL NSTTL, an OPT with DO in additional */
static size_t answer(uint8_t *m, const char *name, uint32_t attl, uint32_t nsttl)
{
	size_t o = query(m, name, 0x4242, 0);

	put16(m + 2, 0x8180);
	put16(m + 6, 1);
	put16(m + 8, 1);
	put16(m + 10, 1);
	o += put16(m + o, 0xc00c);
	o += put16(m + o, VG_DNS_A);
	o += put16(m + o, 1);
	o += put32(m + o, attl);
	o += put16(m + o, 4);
	m[o++] = 192, m[o++] = 0, m[o++] = 2, m[o++] = 7;
	o += put16(m + o, 0xc00c);
	o += put16(m + o, 2); /* NS */
	o += put16(m + o, 1);
	o += put32(m + o, nsttl);
	o += put16(m + o, 2);
	o += put16(m + o, 0xc00c);
	m[o++] = 0;
	o += put16(m + o, 41);
	o += put16(m + o, 1232);
	o += put32(m + o, 0x8000);
	o += put16(m + o, 0);
	return o;
}

static uint32_t get32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_query_flags(void **state)
{
	uint8_t q[512];
	size_t n = query(q, "api.example.com", 1, 0);

	assert_int_equal(vg_dns_query_flags(q, n), VG_DNS_QF_RD);
	q[3] |= 0x30; /* AD, CD */
	assert_int_equal(vg_dns_query_flags(q, n), VG_DNS_QF_RD | VG_DNS_QF_AD | VG_DNS_QF_CD);
	n = query(q, "api.example.com", 1, 1);
	assert_int_equal(vg_dns_query_flags(q, n), VG_DNS_QF_RD | VG_DNS_QF_OPT);
	n = query(q, "api.example.com", 1, 2);
	assert_int_equal(vg_dns_query_flags(q, n), VG_DNS_QF_RD | VG_DNS_QF_OPT | VG_DNS_QF_DO);
	/* an option (a cookie, a client subnet): the answer is the client's own */
	n = query(q, "api.example.com", 1, 3);
	assert_int_equal(vg_dns_query_flags(q, n), -EINVAL);
	/* EDNS version 1 */
	n = query(q, "api.example.com", 1, 1);
	q[n - 5] = 1;
	assert_int_equal(vg_dns_query_flags(q, n), -EINVAL);
	/* records where a question has none, bytes after it */
	n = query(q, "api.example.com", 1, 0);
	put16(q + 6, 1);
	assert_int_equal(vg_dns_query_flags(q, n), -EINVAL);
	put16(q + 6, 0);
	assert_int_equal(vg_dns_query_flags(q, n + 1), -EINVAL);
	assert_int_equal(vg_dns_query_flags(q, 11), -EINVAL);
}

static void test_ttl_fields(void **state)
{
	uint8_t m[512];
	uint16_t off[8];
	uint32_t min;
	size_t qend, n = answer(m, "api.example.com", 300, 100);

	assert_int_equal(vg_dns_ttl_fields(m, n, off, 8, &min, &qend), 2); /* A and NS, not the OPT */
	assert_int_equal(min, 100);
	assert_int_equal(qend, 12 + 17 + 4);
	assert_int_equal(get32_at(m + off[0]), 300);
	assert_int_equal(get32_at(m + off[1]), 100);
	assert_int_equal(vg_dns_ttl_fields(m, n, off, 1, &min, &qend), -E2BIG);
	assert_int_equal(vg_dns_ttl_fields(m, n + 1, off, 8, &min, &qend), -EINVAL); /* a byte after the last record */
	for (size_t cut = 0; cut < n; cut++)
		assert_true(vg_dns_ttl_fields(m, cut, off, 8, &min, &qend) < 0);
	/* the top bit set counts as 0 */
	put32(m + off[1], 0x80000001u);
	assert_int_equal(vg_dns_ttl_fields(m, n, off, 8, &min, &qend), 2);
	assert_int_equal(min, 0);
}

static void test_hit_and_countdown(void **state)
{
	struct vg_dns_cache *c = vg_dns_cache_new(16, 1 << 20);
	struct vg_dns_cache_addr a = { .family = AF_INET, .addr = { 192, 0, 2, 7 }, .ttl = 300 };
	const struct vg_dns_cache_entry *e;
	struct vg_dns_cache_stats st;
	uint8_t ans[512], q[512], out[VG_DNS_CACHE_MSG_MAX];
	size_t an = answer(ans, "api.example.com", 300, 100), qn;
	uint16_t off[8];
	uint32_t min;
	size_t qend;
	int n;

	assert_non_null(c);
	assert_int_equal(vg_dns_cache_put(c, "api.example.com", VG_DNS_A, VG_DNS_QF_RD, ans, an, &a, 1, 2, 600, T0), 0);
	/* another type, other flags: another question */
	assert_null(vg_dns_cache_get(c, "api.example.com", VG_DNS_AAAA, VG_DNS_QF_RD, T0));
	assert_null(vg_dns_cache_get(c, "api.example.com", VG_DNS_A, VG_DNS_QF_RD | VG_DNS_QF_DO, T0));
	assert_null(vg_dns_cache_get(c, "www.example.com", VG_DNS_A, VG_DNS_QF_RD, T0));
	e = vg_dns_cache_get(c, "api.example.com", VG_DNS_A, VG_DNS_QF_RD, T0 + 10 * NS + NS / 2);
	assert_non_null(e);
	assert_int_equal(e->naddrs, 1);
	assert_int_equal(e->unlearnable, 2);
	assert_memory_equal(e->addrs[0].addr, a.addr, 4);
	assert_true(e->fetched_ns == T0);
	/* asked as "API.Example.COM" (0x20) with id 0x1234: its id and case, TTLs 10 s less, the OPT's flags kept */
	qn = query(q, "API.Example.COM", 0x1234, 0);
	n = vg_dns_cache_answer(e, q, qn, T0 + 10 * NS + NS / 2, out, sizeof(out));
	assert_int_equal(n, an);
	assert_int_equal(out[0], 0x12);
	assert_int_equal(out[1], 0x34);
	assert_memory_equal(out + 12, q + 12, qn - 12);
	assert_memory_equal(out + 2, ans + 2, 10);
	assert_int_equal(vg_dns_ttl_fields(out, (size_t)n, off, 8, &min, &qend), 2);
	assert_int_equal(get32_at(out + off[0]), 290);
	assert_int_equal(get32_at(out + off[1]), 90);
	assert_int_equal(get32_at(out + n - 6), 0x8000);
	/* a question of another length is not answered with it */
	qn = query(q, "api.example.co", 0x1234, 0);
	assert_int_equal(vg_dns_cache_answer(e, q, qn, T0, out, sizeof(out)), -EINVAL);
	assert_int_equal(vg_dns_cache_answer(e, q, 20, T0, out, sizeof(out)), -EINVAL);
	assert_int_equal(vg_dns_cache_answer(e, q, qn, T0, out, 10), -EINVAL);
	qn = query(q, "api.example.com", 0x1234, 0);
	assert_int_equal(vg_dns_cache_answer(e, q, qn, T0, out, 10), -ENOSPC);
	/* it lives until its smallest TTL (the NS's 100 s) */
	assert_non_null(vg_dns_cache_get(c, "api.example.com", VG_DNS_A, VG_DNS_QF_RD, T0 + 100 * NS - 1));
	assert_null(vg_dns_cache_get(c, "api.example.com", VG_DNS_A, VG_DNS_QF_RD, T0 + 100 * NS));
	vg_dns_cache_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.misses, 4);
	assert_int_equal(st.expired, 1);
	assert_int_equal(st.evictions, 0);
	vg_dns_cache_free(c);
}

static void test_lifetime(void **state)
{
	struct vg_dns_cache *c = vg_dns_cache_new(16, 1 << 20);
	struct vg_dns_cache_stats st;
	uint8_t ans[512];
	size_t an = answer(ans, "api.example.com", 300, 300);

	/* ttl_max caps an entry's life */
	assert_int_equal(vg_dns_cache_put(c, "api.example.com", VG_DNS_A, 0, ans, an, NULL, 0, 0, 50, T0), 0);
	assert_non_null(vg_dns_cache_get(c, "api.example.com", VG_DNS_A, 0, T0 + 49 * NS));
	assert_null(vg_dns_cache_get(c, "api.example.com", VG_DNS_A, 0, T0 + 50 * NS));
	/* TTL 0: not kept; nor malformed, nor too large */
	an = answer(ans, "api.example.com", 0, 300);
	assert_int_equal(vg_dns_cache_put(c, "api.example.com", VG_DNS_A, 0, ans, an, NULL, 0, 0, 600, T0), -EAGAIN);
	an = answer(ans, "api.example.com", 30, 300);
	assert_int_equal(vg_dns_cache_put(c, "api.example.com", VG_DNS_A, 0, ans, an - 1, NULL, 0, 0, 600, T0),
			 -EAGAIN);
	assert_int_equal(
		vg_dns_cache_put(c, "api.example.com", VG_DNS_A, 0, ans, VG_DNS_CACHE_MSG_MAX + 1, NULL, 0, 0, 600, T0),
		-EAGAIN);
	/* the same key again replaces the entry */
	assert_int_equal(vg_dns_cache_put(c, "api.example.com", VG_DNS_A, 0, ans, an, NULL, 0, 0, 600, T0), 0);
	assert_int_equal(vg_dns_cache_put(c, "api.example.com", VG_DNS_A, 0, ans, an, NULL, 0, 0, 600, T0 + NS), 0);
	assert_true(vg_dns_cache_get(c, "api.example.com", VG_DNS_A, 0, T0 + NS)->fetched_ns == T0 + NS);
	/* sweep, flush */
	assert_int_equal(vg_dns_cache_sweep(c, T0 + 30 * NS), 0);
	assert_int_equal(vg_dns_cache_sweep(c, T0 + 31 * NS), 1);
	assert_int_equal(vg_dns_cache_put(c, "api.example.com", VG_DNS_A, 0, ans, an, NULL, 0, 0, 600, T0), 0);
	vg_dns_cache_flush(c);
	assert_null(vg_dns_cache_get(c, "api.example.com", VG_DNS_A, 0, T0));
	vg_dns_cache_free(c);
	/* the index is sized for the entries the bytes can hold, not a huge entry count */
	c = vg_dns_cache_new(1u << 30, 1 << 20);
	vg_dns_cache_stats(c, &st);
	assert_true(st.index_bytes <= (1 << 20) / 4); /* not 2^24 buckets (128 MiB) */
	vg_dns_cache_free(c);
	assert_null(vg_dns_cache_new(0, 1 << 20));
	assert_null(vg_dns_cache_new(16, 0));
}

static void test_bounds(void **state)
{
	struct vg_dns_cache *c = vg_dns_cache_new(3, 1 << 20);
	struct vg_dns_cache_stats st;
	uint8_t ans[512];
	char name[32];
	size_t an, one;

	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "n%d.example.com", i);
		an = answer(ans, name, 300, 300);
		assert_int_equal(vg_dns_cache_put(c, name, VG_DNS_A, 0, ans, an, NULL, 0, 0, 600, T0), 0);
		if (i == 2) /* n0 used again: n1 is the least recently used */
			assert_non_null(vg_dns_cache_get(c, "n0.example.com", VG_DNS_A, 0, T0));
	}
	vg_dns_cache_stats(c, &st);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.evictions, 2);
	assert_non_null(vg_dns_cache_get(c, "n0.example.com", VG_DNS_A, 0, T0));
	assert_null(vg_dns_cache_get(c, "n1.example.com", VG_DNS_A, 0, T0));
	assert_null(vg_dns_cache_get(c, "n2.example.com", VG_DNS_A, 0, T0));
	one = st.bytes / 3;
	vg_dns_cache_free(c);

	/* bytes: room for two entries */
	c = vg_dns_cache_new(100, 2 * one + one / 2);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "n%d.example.com", i);
		an = answer(ans, name, 300, 300);
		assert_int_equal(vg_dns_cache_put(c, name, VG_DNS_A, 0, ans, an, NULL, 0, 0, 600, T0 + (uint64_t)i), 0);
	}
	vg_dns_cache_stats(c, &st);
	assert_int_equal(st.entries, 2);
	assert_true(st.bytes <= 2 * one + one / 2);
	assert_int_equal(st.evictions, 8);
	assert_int_equal(st.stored, 10);
	/* an expired entry pushed out is not an eviction */
	vg_dns_cache_flush(c);
	assert_int_equal(vg_dns_cache_put(c, "a.example.com", VG_DNS_A, 0, ans, an, NULL, 0, 0, 1, T0), 0);
	assert_int_equal(vg_dns_cache_put(c, "b.example.com", VG_DNS_A, 0, ans, an, NULL, 0, 0, 1, T0), 0);
	assert_int_equal(vg_dns_cache_put(c, "c.example.com", VG_DNS_A, 0, ans, an, NULL, 0, 0, 600, T0 + 2 * NS), 0);
	vg_dns_cache_stats(c, &st);
	assert_int_equal(st.evictions, 8);
	assert_int_equal(st.expired, 1);
	assert_int_equal(st.flushes, 1);
	/* one entry larger than the whole bound is not kept */
	vg_dns_cache_free(c);
	c = vg_dns_cache_new(100, 64);
	assert_int_equal(vg_dns_cache_put(c, "a.example.com", VG_DNS_A, 0, ans, an, NULL, 0, 0, 600, T0), -EAGAIN);
	vg_dns_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_flags),
		cmocka_unit_test(test_ttl_fields),
		cmocka_unit_test(test_hit_and_countdown),
		cmocka_unit_test(test_lifetime),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
