/* SPDX-License-Identifier: Apache-2.0 */
/* vigild's copy of the learned-address map (lib/dns_learned.c): slots extended, never
 * shortened; bounds per tenant and in all hold, and only a flooding tenant loses entries;
 * evictions of live entries are counted, of expired ones not; the kernel (a fake here) sees
 * every change and no write that changes nothing, and a refused write leaves the table as it was. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vigil/dns_learned.h"

/* The kernel map as the fake sees it: a small array of keys. */
#define FAKE_MAX 64
struct fake {
	struct vg_enf_learn_key k[FAKE_MAX];
	struct vg_enf_learn_val v[FAKE_MAX];
	size_t n, puts;
	int fail_put;
};

static int fake_find(struct fake *f, const struct vg_enf_learn_key *k)
{
	for (size_t i = 0; i < f->n; i++)
		if (!memcmp(&f->k[i], k, sizeof(*k)))
			return (int)i;
	return -1;
}

static int fake_put(void *arg, const struct vg_enf_learn_key *k, const struct vg_enf_learn_val *v)
{
	struct fake *f = arg;
	int i = fake_find(f, k);

	if (f->fail_put)
		return -f->fail_put;
	f->puts++;
	if (i < 0) {
		if (f->n == FAKE_MAX)
			return -E2BIG;
		i = (int)f->n++;
		f->k[i] = *k;
	}
	f->v[i] = *v;
	return 0;
}

static int fake_del(void *arg, const struct vg_enf_learn_key *k)
{
	struct fake *f = arg;
	int i = fake_find(f, k);

	if (i < 0)
		return -ENOENT;
	f->k[i] = f->k[f->n - 1];
	f->v[i] = f->v[f->n - 1];
	f->n--;
	return 0;
}

static struct vg_enf_learn_key key(uint32_t tenant, uint8_t last)
{
	struct vg_enf_learn_key k;

	memset(&k, 0, sizeof(k));
	k.tenant = tenant;
	k.fam = 4;
	k.addr[0] = 192;
	k.addr[1] = 0;
	k.addr[2] = 2;
	k.addr[3] = last;
	return k;
}

static void test_slots(void **state)
{
	struct fake f = { 0 };
	const struct vg_learned_ops ops = { fake_put, fake_del, &f };
	struct vg_learned *t = vg_learned_new(16, 16, &ops);
	struct vg_enf_learn_key k = key(1, 1);
	struct vg_learned_tenant_stats st;

	assert_int_equal(vg_learned_learn(t, &k, 7, 70, 1000, 0), 0);
	/* extended, never shortened; the tag follows the rule's current pattern */
	assert_int_equal(vg_learned_learn(t, &k, 7, 71, 500, 0), 0);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.v[0].slot[0].expires_ns, 1000);
	assert_int_equal(f.v[0].slot[0].tag, 71);
	assert_int_equal(vg_learned_learn(t, &k, 7, 71, 3000, 0), 0);
	assert_int_equal(f.v[0].slot[0].expires_ns, 3000);
	/* other rules take other slots of the same entry */
	for (uint32_t r = 8; r < 8 + VG_ENF_LEARN_SLOTS - 1; r++)
		assert_int_equal(vg_learned_learn(t, &k, r, 1, 2000 + r, 0), 0);
	assert_int_equal(f.n, 1);
	vg_learned_stats(t, 1, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.evictions, 0);
	/* one rule too many: the slot expiring first (rule 8) makes room, counted */
	assert_int_equal(vg_learned_learn(t, &k, 99, 1, 5000, 0), 0);
	vg_learned_stats(t, 1, &st);
	assert_int_equal(st.evictions, 1);
	for (int i = 0; i < VG_ENF_LEARN_SLOTS; i++)
		assert_int_not_equal(f.v[0].slot[i].rule, 8);
	/* an expired slot is reused without counting */
	assert_int_equal(vg_learned_learn(t, &k, 100, 1, 9000, 2500), 0);
	vg_learned_stats(t, 1, &st);
	assert_int_equal(st.evictions, 1);
	/* bad input */
	assert_int_equal(vg_learned_learn(t, &k, 7, 1, 10, 20), -EINVAL);
	k.tenant = 0;
	assert_int_equal(vg_learned_learn(t, &k, 7, 1, 100, 0), -EINVAL);
	k = key(VG_ENF_MAX_TENANT + 1, 1);
	assert_int_equal(vg_learned_learn(t, &k, 7, 1, 100, 0), -EINVAL);
	vg_learned_free(t);
}

/* A learn that changes nothing (a resolver's cached answer: the same expiry) writes nothing,
 * yet counts as recent use for the bound. */
static void test_unchanged(void **state)
{
	struct fake f = { 0 };
	const struct vg_learned_ops ops = { fake_put, fake_del, &f };
	struct vg_learned *t = vg_learned_new(2, 16, &ops);
	struct vg_enf_learn_key a = key(1, 1), b = key(1, 2), c = key(1, 3);

	assert_int_equal(vg_learned_learn(t, &a, 7, 70, 1000, 0), 0);
	assert_int_equal(f.puts, 1);
	assert_int_equal(vg_learned_learn(t, &a, 7, 70, 1000, 0), 0);
	assert_int_equal(vg_learned_learn(t, &a, 7, 70, 900, 0), 0);
	assert_int_equal(f.puts, 1);
	/* a new tag, a later expiry: written */
	assert_int_equal(vg_learned_learn(t, &a, 7, 71, 900, 0), 0);
	assert_int_equal(f.puts, 2);
	assert_int_equal(f.v[0].slot[0].tag, 71);
	assert_int_equal(f.v[0].slot[0].expires_ns, 1000);
	assert_int_equal(vg_learned_learn(t, &a, 7, 71, 1100, 0), 0);
	assert_int_equal(f.puts, 3);
	assert_int_equal(f.v[0].slot[0].expires_ns, 1100);
	/* a, b; a again without a write; c pushes out b, the least recently learned */
	assert_int_equal(vg_learned_learn(t, &b, 7, 71, 1100, 0), 0);
	assert_int_equal(vg_learned_learn(t, &a, 7, 71, 1100, 0), 0);
	assert_int_equal(f.puts, 4);
	assert_int_equal(vg_learned_learn(t, &c, 7, 71, 1100, 0), 0);
	assert_true(fake_find(&f, &a) >= 0);
	assert_true(fake_find(&f, &b) < 0);
	assert_true(fake_find(&f, &c) >= 0);
	vg_learned_free(t);
}

static void test_bounds(void **state)
{
	struct fake f = { 0 };
	const struct vg_learned_ops ops = { fake_put, fake_del, &f };
	struct vg_learned *t = vg_learned_new(20, 8, &ops);
	struct vg_learned_tenant_stats st;

	/* a quiet tenant learns 3; a flooding one 200 */
	for (uint8_t i = 0; i < 3; i++) {
		struct vg_enf_learn_key k = key(2, i);

		assert_int_equal(vg_learned_learn(t, &k, 1, 1, 1000, 0), 0);
	}
	for (int i = 0; i < 200; i++) {
		struct vg_enf_learn_key k = key(1, (uint8_t)i);

		assert_int_equal(vg_learned_learn(t, &k, 1, 1, 1000, 0), 0);
	}
	vg_learned_stats(t, 1, &st);
	assert_int_equal(st.entries, 8);
	assert_int_equal(st.evictions, 192);
	vg_learned_stats(t, 2, &st);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.evictions, 0);
	assert_int_equal(f.n, 11);
	assert_int_equal(vg_learned_total(t), 11);
	/* the flooder kept its most recent names */
	{
		struct vg_enf_learn_key k = key(1, 199), old = key(1, 0);

		assert_true(fake_find(&f, &k) >= 0);
		assert_true(fake_find(&f, &old) < 0);
	}
	/* the host bound: tenants 3 and 4 fill it, the one holding most gives way */
	for (int i = 0; i < 8; i++) {
		struct vg_enf_learn_key k = key(3, (uint8_t)i);

		assert_int_equal(vg_learned_learn(t, &k, 1, 1, 1000, 0), 0);
	}
	{
		struct vg_enf_learn_key k = key(4, 1);

		assert_int_equal(vg_learned_learn(t, &k, 1, 1, 1000, 0), 0);
		k = key(4, 2);
		assert_int_equal(vg_learned_learn(t, &k, 1, 1, 1000, 0), 0);
	}
	assert_int_equal(vg_learned_total(t), 20);
	assert_int_equal(f.n, 20);
	vg_learned_stats(t, 2, &st);
	assert_int_equal(st.entries, 3);
	/* expired entries go at the sweep, and are not evictions */
	assert_int_equal(vg_learned_sweep(t, 999), 0);
	assert_int_equal(vg_learned_sweep(t, 1000), 20);
	assert_int_equal(f.n, 0);
	vg_learned_stats(t, 2, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.evictions, 0);
	vg_learned_free(t);
}

static void test_kernel_refuses(void **state)
{
	struct fake f = { 0 };
	const struct vg_learned_ops ops = { fake_put, fake_del, &f };
	struct vg_learned *t = vg_learned_new(16, 16, &ops);
	struct vg_enf_learn_key k = key(1, 1);
	struct vg_enf_learn_val v = { 0 };
	struct vg_learned_tenant_stats st;

	f.fail_put = ENOMEM;
	assert_int_equal(vg_learned_learn(t, &k, 1, 1, 100, 0), -ENOMEM);
	assert_int_equal(vg_learned_total(t), 0);
	f.fail_put = 0;
	/* adopted at start: counted, swept, extended like the others */
	v.slot[1] = (struct vg_enf_learn_slot){ .expires_ns = 50, .rule = 3, .tag = 3 };
	assert_int_equal(vg_learned_adopt(t, &k, &v), 0);
	vg_learned_stats(t, 1, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(vg_learned_learn(t, &k, 3, 3, 80, 0), 0);
	assert_int_equal(vg_learned_sweep(t, 60), 0);
	assert_int_equal(vg_learned_sweep(t, 80), 1);
	vg_learned_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_unchanged),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_kernel_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
