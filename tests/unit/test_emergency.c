/* SPDX-License-Identifier: Apache-2.0 */
/* Emergency documents: strict schema with JSON paths, bounds, signature domain, counter, time, scope. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vigil/crypto.h"
#include "vigil/emergency.h"
#include "vigil/loader.h"
#include "vigil/util.h"

static const char *good =
	"{\"counter\": 42, \"issued_at\": \"2026-11-29T12:00:00Z\", \"expires_at\": \"2026-11-29T20:00:00Z\","
	" \"reason\": \"INC-4711\", \"scope\": {\"hosts\": [\"web-*\"], \"labels\": {\"env\": \"prod\"}},"
	" \"actions\": ["
	"  {\"action\": \"quarantine\", \"tenant\": \"payments\", \"allow\": ["
	"    {\"cidr\": \"10.20.0.0/24\", \"proto\": \"tcp\", \"ports\": [443, \"8000-8100\"]}, {\"cidr\": \"192.0.2.7\"}]},"
	"  {\"action\": \"revoke\", \"user\": \"alice\"}, {\"action\": \"freeze\"},"
	"  {\"action\": \"release\", \"quarantine\": \"old-1\"}]}";

static void test_parse_good(void **state)
{
	struct vg_emergency *e = NULL;
	struct vg_err err = { 0 };

	assert_int_equal(vg_emergency_parse(good, strlen(good), &e, &err), 0);
	assert_int_equal(e->counter, 42);
	assert_int_equal(e->nactions, 4);
	assert_int_equal(e->actions[0].kind, VG_EM_QUARANTINE);
	assert_string_equal(e->actions[0].quarantine.tenant, "payments");
	assert_string_equal(e->actions[0].quarantine.id, "payments"); /* default id */
	assert_int_equal(e->actions[0].quarantine.nallow, 2);
	assert_int_equal(e->actions[0].quarantine.allow[0].proto, VG_PROTO_TCP);
	assert_int_equal(e->actions[0].quarantine.allow[0].nports, 2);
	assert_int_equal(e->actions[0].quarantine.allow[0].ports[1].hi, 8100);
	assert_int_equal(e->actions[0].quarantine.allow[1].id, 2);
	assert_int_equal(e->actions[0].quarantine.allow[1].cidr.prefixlen, 32);
	assert_int_equal(e->actions[1].kind, VG_EM_REVOKE);
	assert_int_equal(e->actions[1].revoke, VG_EM_REVOKE_USER);
	assert_string_equal(e->actions[1].target, "alice");
	assert_int_equal(e->actions[2].kind, VG_EM_FREEZE);
	assert_int_equal(e->actions[3].release, VG_EM_RELEASE_QUARANTINE);
	assert_string_equal(e->actions[3].target, "old-1");
	assert_int_equal(vg_scope_check(&e->scope, "emergency document", "web-3", "env=prod,dc=x", &err), 0);
	assert_int_equal(vg_scope_check(&e->scope, "emergency document", "db-1", "env=prod", &err), -EPERM);
	assert_string_equal(err.code, "scope_mismatch");
	assert_int_equal(vg_scope_check(&e->scope, "emergency document", "web-3", "env=dev", &err), -EPERM);
	vg_emergency_free(e);
}

/* replace the first occurrence of from in good by to, parse, expect code at path */
static void expect_error(const char *from, const char *to, const char *code, const char *path)
{
	char buf[4096];
	const char *at = strstr(good, from);
	struct vg_emergency *e = NULL;
	struct vg_err err = { 0 };

	assert_non_null(at);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
	assert_int_equal(vg_emergency_parse(buf, strlen(buf), &e, &err), -EINVAL);
	assert_null(e);
	if (strcmp(err.code, code) || strcmp(err.path, path))
		fail_msg("%s -> %s: got %s at %s (%s), want %s at %s", from, to, err.code, err.path, err.msg, code, path);
}

static void test_parse_errors(void **state)
{
	expect_error("\"counter\": 42", "\"counter\": 0", "schema_value", "$.counter");
	expect_error("\"counter\": 42", "\"counter\": \"42\"", "schema_value", "$.counter");
	expect_error("\"reason\": \"INC-4711\", ", "", "schema_missing", "$.reason");
	expect_error("\"reason\"", "\"reasons\"", "schema_unknown_field", "$.reasons");
	expect_error("20:00:00Z", "11:00:00Z", "schema_value", "$.expires_at");
	expect_error("\"hosts\": [\"web-*\"]", "\"hosts\": []", "schema_value", "$.scope.hosts");
	expect_error("\"tenant\": \"payments\"", "\"tenant\": \"-bad\"", "schema_value", "$.actions[0].tenant");
	expect_error("10.20.0.0/24", "10.20.0.1/24", "schema_bad_cidr", "$.actions[0].allow[0].cidr");
	expect_error("\"8000-8100\"", "\"8100-8000\"", "schema_value", "$.actions[0].allow[0].ports[1]");
	expect_error("\"proto\": \"tcp\"", "\"proto\": \"sctp\"", "schema_value", "$.actions[0].allow[0].proto");
	expect_error("{\"cidr\": \"192.0.2.7\"}", "{\"cidr\": \"192.0.2.7\", \"id\": 3}", "schema_unknown_field",
		     "$.actions[0].allow[1].id");
	expect_error("\"user\": \"alice\"", "\"user\": \"alice\", \"all\": true", "schema_value", "$.actions[1]");
	expect_error("{\"action\": \"freeze\"}", "{\"action\": \"thaw\"}", "schema_value", "$.actions[2].action");
	expect_error("{\"action\": \"freeze\"}", "{\"action\": \"freeze\", \"x\": 1}", "schema_unknown_field",
		     "$.actions[2].x");
	expect_error("\"quarantine\": \"old-1\"", "\"freeze\": false", "schema_value", "$.actions[3].freeze");
	expect_error("{\"action\": \"freeze\"}", "{\"action\": \"quarantine\", \"tenant\": \"payments\", \"id\": \"x\"}",
		     "schema_duplicate", "$.actions[2]");
	expect_error("\"counter\"", "\"counter\": 1, \"counter\"", "json_syntax", "line 1, column 24");
}

static void test_bounds(void **state)
{
	struct vg_emergency *e = NULL;
	struct vg_err err = { 0 };
	char *big = malloc(VG_EMERGENCY_MAX_BYTES + 2);
	json_t *doc, *acts;
	char *s;

	memset(big, ' ', VG_EMERGENCY_MAX_BYTES + 1);
	big[VG_EMERGENCY_MAX_BYTES + 1] = '\0';
	assert_int_equal(vg_emergency_parse(big, VG_EMERGENCY_MAX_BYTES + 1, &e, &err), -EFBIG);
	free(big);
	doc = json_loads(good, 0, NULL);
	acts = json_object_get(doc, "actions");
	while (json_array_size(acts) <= VG_EMERGENCY_MAX_ACTIONS)
		json_array_append_new(acts, json_pack("{s:s}", "action", "freeze"));
	s = json_dumps(doc, 0);
	assert_int_equal(vg_emergency_parse(s, strlen(s), &e, &err), -EINVAL);
	assert_string_equal(err.path, "$.actions");
	free(s);
	json_decref(doc);
}

static char *trust_of(EVP_PKEY **k, int n, int threshold)
{
	json_t *arr = json_array(), *t;
	char *s;

	for (int i = 0; i < n; i++) {
		char kid[17], *pem = vg_key_public_pem(k[i]);

		vg_key_id(k[i], kid);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "id", kid, "alg", vg_key_alg(k[i]), "public_key", pem));
		free(pem);
	}
	t = json_pack("{s:i, s:i, s:o}", "version", 1, "threshold", threshold, "keys", arr);
	s = json_dumps(t, 0);
	json_decref(t);
	return s;
}

static void test_signatures(void **state)
{
	EVP_PKEY *k[2];
	struct vg_trust *t = NULL;
	struct vg_emergency *e = NULL;
	struct vg_err err = { 0 };
	json_t *sig = NULL, *bsig = NULL;
	char *ts, *s1, *s2, *bs;

	for (int i = 0; i < 2; i++)
		assert_int_equal(vg_key_generate("ed25519", &k[i], NULL), 0);
	ts = trust_of(k, 2, 2);
	assert_int_equal(vg_trust_parse(ts, strlen(ts), &t, &err), 0);
	/* one signature of two: threshold */
	assert_int_equal(vg_sig_add(&sig, k[0], VG_SIG_DOMAIN_EMERGENCY, good, strlen(good)), 0);
	s1 = json_dumps(sig, 0);
	assert_int_equal(vg_emergency_verify(t, good, strlen(good), s1, strlen(s1), &e, &err), -EPERM);
	assert_string_equal(err.code, "signature_threshold");
	assert_int_equal(vg_sig_add(&sig, k[1], VG_SIG_DOMAIN_EMERGENCY, good, strlen(good)), 0);
	s2 = json_dumps(sig, 0);
	assert_int_equal(vg_emergency_verify(t, good, strlen(good), s2, strlen(s2), &e, &err), 0);
	assert_int_equal(e->counter, 42);
	vg_emergency_free(e);
	/* the same two keys signing the bytes as a bundle: never an emergency signature */
	vg_sig_add(&bsig, k[0], VG_SIG_DOMAIN_BUNDLE, good, strlen(good));
	vg_sig_add(&bsig, k[1], VG_SIG_DOMAIN_BUNDLE, good, strlen(good));
	bs = json_dumps(bsig, 0);
	assert_int_equal(vg_emergency_verify(t, good, strlen(good), bs, strlen(bs), &e, &err), -EPERM);
	assert_string_equal(err.code, "signature_invalid");
	/* and an emergency signature is never a bundle signature */
	assert_int_equal(vg_sig_verify(t, VG_SIG_DOMAIN_BUNDLE, good, strlen(good), s2, strlen(s2), &err), -EPERM);
	assert_int_equal(vg_emergency_verify(NULL, good, strlen(good), s2, strlen(s2), &e, &err), -EPERM);
	assert_string_equal(err.code, "trust_missing");
	free(ts);
	free(s1);
	free(s2);
	free(bs);
	json_decref(sig);
	json_decref(bsig);
	vg_trust_free(t);
	for (int i = 0; i < 2; i++)
		EVP_PKEY_free(k[i]);
}

static void test_counter_time(void **state)
{
	struct vg_emergency *e = NULL;
	struct vg_err err = { 0 };
	time_t issued;

	assert_int_equal(vg_emergency_parse(good, strlen(good), &e, &err), 0);
	assert_int_equal(vg_emergency_check_counter(e, 0, "", &err), 0);
	assert_int_equal(vg_emergency_check_counter(e, 41, "x", &err), 0);
	assert_int_equal(vg_emergency_check_counter(e, 42, e->digest, &err), -EALREADY);
	assert_int_equal(vg_emergency_check_counter(e, 42, "other", &err), -EPERM);
	assert_string_equal(err.code, "emergency_replay");
	assert_int_equal(vg_emergency_check_counter(e, 43, "x", &err), -EPERM);
	issued = e->issued_at;
	assert_int_equal(vg_emergency_check_time(e, issued, 300, &err), 0);
	assert_int_equal(vg_emergency_check_time(e, issued - 301, 300, &err), -EPERM);
	assert_string_equal(err.code, "not_yet_valid");
	assert_int_equal(vg_emergency_check_time(e, e->expires_at, 300, &err), -EPERM);
	assert_string_equal(err.code, "expired");
	vg_emergency_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good), cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_signatures), cmocka_unit_test(test_counter_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
