/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy trie filled beside its compile (lib/enforce_fill.c): the compiler
 * hands over every entry exactly once, in runs; the kernel's trie then holds
 * exactly the compiled entries; a trie the kernel stops filling fails the
 * apply with the entry it refused. The kernel parts need BPF (root): skipped
 * without it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <cmocka.h>

#include "vigil/enforce.h"
#include "vigil/enforce_fill.h"

#define NRULES 20000 /* two full runs and a short one, with the segments */

static struct vg_portrange p_443[] = { { 443, 443 } };

struct big {
	struct vg_bundle b;
	struct vg_tenant t[2];
	struct vg_rule *rules;
	struct vg_cidr seg[2];
	char *cg[2];
};

/* two tenants (listed out of id order, so the final entries are sorted after the hand-over) */
static void big_init(struct big *g)
{
	memset(g, 0, sizeof(*g));
	g->rules = calloc(NRULES, sizeof(*g->rules));
	assert_non_null(g->rules);
	for (uint32_t i = 0; i < NRULES; i++) {
		char s[32];

		snprintf(s, sizeof(s), "10.%u.%u.%u/32", 16 + i / 65536, (i / 256) % 256, i % 256);
		g->rules[i] = (struct vg_rule){ .id = 10 + i, .proto = VG_PROTO_TCP, .nports = 1, .ports = p_443 };
		assert_int_equal(vg_cidr_parse(s, &g->rules[i].cidr), 0);
	}
	assert_int_equal(vg_cidr_parse("10.200.0.0/16", &g->seg[0]), 0);
	assert_int_equal(vg_cidr_parse("fd00:20::/48", &g->seg[1]), 0);
	g->cg[0] = "/a";
	g->cg[1] = "/b";
	g->t[0] = (struct vg_tenant){ .name = "b", .id = 2, .mode = VG_MODE_ENFORCE, .ncgroups = 1, .cgroups = &g->cg[1],
				      .nsegments = 2, .segments = g->seg, .negress = NRULES / 2, .egress = g->rules + NRULES / 2 };
	g->t[1] = (struct vg_tenant){ .name = "a", .id = 1, .mode = VG_MODE_ENFORCE, .ncgroups = 1, .cgroups = &g->cg[0],
				      .negress = NRULES / 2, .egress = g->rules };
	g->b.ntenants = 2;
	g->b.tenants = g->t;
	g->b.host = (struct vg_host_policy){ .mode = VG_MODE_ENFORCE, .dflt = VG_DEFAULT_ALLOW };
}

struct collect {
	struct vg_enf_entry *e;
	size_t n, runs, short_runs;
	size_t every;
};

static int collect(void *arg, const struct vg_enf_entry *e, size_t n, struct vg_err *err)
{
	struct collect *c = arg;

	c->e = realloc(c->e, (c->n + n) * sizeof(*e));
	assert_non_null(c->e);
	memcpy(c->e + c->n, e, n * sizeof(*e));
	c->n += n;
	c->runs++;
	assert_true(n <= c->every);
	c->short_runs += n < c->every;
	return 0;
}

static int cmp_entry_bytes(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct vg_enf_entry));
}

static void test_sink_hands_every_entry_once(void **state)
{
	struct collect col = { .every = 8192 };
	struct vg_enf_sink sink = { .chunk = collect, .arg = &col, .every = 8192 };
	struct vg_enf_compiled *c = NULL, *plain = NULL;
	struct vg_err err;
	struct big g;

	big_init(&g);
	assert_int_equal(vg_enf_compile_sink(&g.b, 0, &sink, &c, &err), 0);
	assert_int_equal(vg_enf_compile(&g.b, 0, &plain, &err), 0);
	/* the same compile: the sink changes nothing in what is compiled */
	assert_int_equal(c->nentries, plain->nentries);
	assert_memory_equal(c->entries, plain->entries, c->nentries * sizeof(*c->entries));
	/* every entry handed over exactly once; only the last run may be short */
	assert_int_equal(col.n, c->nentries);
	assert_true(col.short_runs <= 1);
	assert_int_equal(col.runs, (c->nentries + 8191) / 8192);
	qsort(col.e, col.n, sizeof(*col.e), cmp_entry_bytes);
	qsort(plain->entries, plain->nentries, sizeof(*plain->entries), cmp_entry_bytes);
	assert_memory_equal(col.e, plain->entries, col.n * sizeof(*col.e));
	free(col.e);
	vg_enf_compiled_free(c);
	vg_enf_compiled_free(plain);
	free(g.rules);
}

static int fail_second(void *arg, const struct vg_enf_entry *e, size_t n, struct vg_err *err)
{
	int *calls = arg;

	if (++*calls == 2)
		return vg_err_set(err, ENOSPC, "sink_says_no", "$", "refused by the test");
	return 0;
}

static void test_sink_refusal_aborts_compile(void **state)
{
	int calls = 0;
	struct vg_enf_sink sink = { .chunk = fail_second, .arg = &calls, .every = 8192 };
	struct vg_enf_compiled *c = NULL;
	struct vg_err err;
	struct big g;

	big_init(&g);
	assert_true(vg_enf_compile_sink(&g.b, 0, &sink, &c, &err) < 0);
	assert_null(c);
	assert_int_equal(calls, 2);
	assert_string_equal(err.code, "sink_says_no"); /* the sink's own error, not "out of memory" */
	free(g.rules);
}

static int new_trie(uint32_t max_entries)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);

	return bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "t_fill", sizeof(struct vg_enf_lpm_key),
			      sizeof(struct vg_enf_lpm_val), max_entries, &o);
}

static void test_kernel_trie_holds_the_compile(void **state)
{
	struct vg_enf_compiled *c = NULL;
	struct vg_trie_fill *f;
	struct vg_err err;
	uint64_t cpu = 0;
	struct big g;
	int fd = new_trie(1u << 20);

	if (fd < 0)
		skip(); /* no BPF here (not root) */
	big_init(&g);
	assert_int_equal(vg_trie_fill_start(&f, fd, &err), 0);
	assert_int_equal(vg_enf_compile_sink(&g.b, 0, vg_trie_fill_sink(f), &c, &err), 0);
	assert_int_equal(vg_trie_fill_end(f, &cpu, &err), 0);
	for (size_t i = 0; i < c->nentries; i++) {
		struct vg_enf_lpm_val v;

		assert_int_equal(bpf_map_lookup_elem(fd, &c->entries[i].key, &v), 0);
		assert_memory_equal(&v, &c->entries[i].val, sizeof(v));
	}
	/* nothing more than the compile: walk the keys and count them */
	{
		struct vg_enf_lpm_key k, next;
		size_t n = 0;
		int r = bpf_map_get_next_key(fd, NULL, &next);

		while (r == 0) {
			n++;
			k = next;
			r = bpf_map_get_next_key(fd, &k, &next);
		}
		assert_int_equal(n, c->nentries);
	}
	vg_enf_compiled_free(c);
	free(g.rules);
	close(fd);
}

static void test_kernel_refusal_fails_the_fill(void **state)
{
	struct vg_enf_compiled *c = NULL;
	struct vg_trie_fill *f;
	struct vg_err err;
	struct big g;
	int r, fd = new_trie(100); /* the kernel refuses the 101st entry (E2BIG) */

	if (fd < 0)
		skip();
	big_init(&g);
	assert_int_equal(vg_trie_fill_start(&f, fd, &err), 0);
	r = vg_enf_compile_sink(&g.b, 0, vg_trie_fill_sink(f), &c, &err);
	if (r == 0) {
		/* the refusal came after the compile's last hand-over: the end reports it */
		assert_true(vg_trie_fill_end(f, NULL, &err) < 0);
		vg_enf_compiled_free(c);
	} else {
		struct vg_err err2;

		assert_null(c);
		assert_true(vg_trie_fill_end(f, NULL, &err2) < 0);
	}
	assert_string_equal(err.code, "enforce_too_large");
	assert_non_null(strstr(err.msg, "refused trie entry 101:"));
	free(g.rules);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sink_hands_every_entry_once),
		cmocka_unit_test(test_sink_refusal_aborts_compile),
		cmocka_unit_test(test_kernel_trie_holds_the_compile),
		cmocka_unit_test(test_kernel_refusal_fails_the_fill),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
