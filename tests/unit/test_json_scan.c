/* SPDX-License-Identifier: Apache-2.0 */
/* JSON scanner (lib/json_scan.c): the same verdict as jansson on valid and broken
 * documents, including every single-byte change of a bundle, and strings decoded alike. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "vigil/json_scan.h"

static bool scan_ok(const char *buf, size_t len)
{
	struct vg_json_scan s;
	struct vg_json_tok t;

	vg_json_scan_init(&s, buf, len);
	return vg_json_scan_value(&s, 1, &t) == 0 && (t.kind == VG_JSON_OBJECT || t.kind == VG_JSON_ARRAY) &&
	       vg_json_scan_end(&s) == 0;
}

static bool jansson_ok(const char *buf, size_t len)
{
	json_t *j = json_loadb(buf, len, 0, NULL);

	json_decref(j);
	return j != NULL;
}

static void same_verdict(const char *buf, size_t len)
{
	if (scan_ok(buf, len) != jansson_ok(buf, len))
		fail_msg("scanner and jansson disagree on %zu bytes: %.*s", len, (int)len, buf);
}

static void test_cases(void **state)
{
	static const char *const cases[] = {
		"{}", "[]", " [ ] ", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "[1 2]", "[", "]", "",
		"[\"\\u0000\"]", "[\"\\u0041\"]", "[\"\\ud83d\\ude00\"]", "[\"\\ud83d\"]", "[\"\\ude00\"]",
		"[\"\\ud83dx\"]", "[\"\\ud83d\\u0041\"]", "[\"\\x\"]", "[\"\\u12\"]", "[\"a\tb\"]", "[\"a\x01\"]",
		"[\"\xc3\xa9\"]", "[\"\xc0\xba\"]", "[\"\xe0\x80\xaf\"]", "[\"\xed\xa0\x80\"]", "[\"\xf4\x90\x80\x80\"]",
		"[\"\xf0\x9f\x98\x80\"]", "[\"\xff\"]", "[\"\xc3\"]", "[\"abc", "[0]", "[-0]", "[01]", "[-]", "[1.]",
		"[.5]", "[1e]", "[1e+]", "[1E-2]", "[1.5e400]", "[-1e400]", "[1e-400]", "[9223372036854775807]",
		"[9223372036854775808]", "[-9223372036854775808]", "[-9223372036854775809]", "[true]", "[tru]",
		"[truex]", "[nul]", "[null,false]", "1", "\"a\"", "[1] x", "[1] ", "\xef\xbb\xbf[]", "[\"\\/\"]",
		"{\"a\":{\"b\":[{}]}}", "{\"\\u0000\":1}", "[1]\x00",
	};
	char deep[2 * 2050 + 1];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		same_verdict(cases[i], strlen(cases[i]));
	same_verdict("[1]\0", 4);
	/* nesting: jansson refuses a value deeper than 2048 */
	for (size_t d = 2047; d <= 2050; d++) {
		memset(deep, '[', d);
		memset(deep + d, ']', d);
		same_verdict(deep, 2 * d);
	}
}

/* every byte of a document replaced by each of a few troublemakers, and cut at every length */
static void test_mutations(void **state)
{
	static const char doc[] =
		"{\"version\": 1, \"identity\": {\"uid_range\": [1000, 2000],\n \"users\": [{\"name\": \"a\\u00e9\","
		" \"uid\": 1001, \"gid\": -1, \"gecos\": \"x\\ty\", \"home\": \"/h\", \"x\": [1.5e3, true, null,"
		" {\"k\": \"\xc3\xa9\"}]}], \"groups\": []}}";
	static const char repl[] = { '"', '\\', ',', ':', '[', ']', '{', '}', '0', '-', 'e', '.', ' ', 'u', '\x01',
				     '\xc3', '\xff' };
	char buf[sizeof(doc)];
	size_t n = sizeof(doc) - 1;

	assert_true(scan_ok(doc, n));
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < sizeof(repl); k++) {
			memcpy(buf, doc, n);
			buf[i] = repl[k];
			same_verdict(buf, n);
		}
	for (size_t len = 0; len < n; len++)
		same_verdict(doc, len);
}

static void test_decode(void **state)
{
	static const char doc[] = "[\"a\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\", \"plain\", \"\"]";
	struct vg_json_scan s;
	struct vg_json_tok arr, k, v;
	json_t *j = json_loads(doc, 0, NULL);
	bool first = true;
	size_t i = 0;
	char out[64];
	size_t n;

	assert_non_null(j);
	vg_json_scan_init(&s, doc, strlen(doc));
	assert_int_equal(vg_json_scan_value(&s, 1, &arr), 0);
	vg_json_scan_open(&s, &arr);
	while (vg_json_scan_item(&s, false, 1, &first, &k, &v) > 0) {
		assert_int_equal(v.kind, VG_JSON_STRING);
		assert_int_equal(vg_json_str_decode(&v, out, sizeof(out), &n), 0);
		assert_int_equal(n, json_string_length(json_array_get(j, i)));
		assert_memory_equal(out, json_string_value(json_array_get(j, i)), n);
		i++;
	}
	assert_int_equal(i, 3);
	assert_int_equal(vg_json_str_decode(&v, out, 0, &n), -ENOSPC);
	json_decref(j);
}

static void test_top_string(void **state)
{
	static const char req[] = "{\"cmd\": \"policy.push\", \"b\\u0075ndle\": \"QUJD\", \"sig\": \"x\"}";
	struct vg_json_tok t;
	char out[16];

	assert_int_equal(vg_json_scan_top_string(req, strlen(req), "bundle", &t), 1);
	assert_int_equal(vg_json_str_decode(&t, out, sizeof(out), NULL), 0);
	assert_string_equal(out, "QUJD");
	assert_int_equal(vg_json_scan_top_string(req, strlen(req), "missing", &t), 0);
	/* twice, or not a string: not found (jansson then decides) */
	assert_int_equal(vg_json_scan_top_string("{\"bundle\": \"a\", \"bundle\": \"b\"}", 30, "bundle", &t), 0);
	assert_int_equal(vg_json_scan_top_string("{\"bundle\": 1}", 13, "bundle", &t), 0);
	/* not JSON, or not an object */
	assert_int_equal(vg_json_scan_top_string("{\"bundle\": \"a\"", 15, "bundle", &t), -EINVAL);
	assert_int_equal(vg_json_scan_top_string("[\"bundle\"]", 10, "bundle", &t), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_top_string),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
