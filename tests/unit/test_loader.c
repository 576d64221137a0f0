/* SPDX-License-Identifier: Apache-2.0 */
/* Loader rejections before and after the schema: size, signatures and trust, scope, time, version. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/core_names.h>

#include "vigil/bundle.h"
#include "vigil/config.h"
#include "vigil/crypto.h"
#include "vigil/loader.h"
#include "vigil/trust.h"
#include "vigil/util.h"

static const char *doc = "{\"version\": 5, \"issued_at\": \"2026-11-01T00:00:00Z\","
			 " \"expires_at\": \"2026-12-01T00:00:00Z\", \"environment\": \"dev\","
			 " \"scope\": {\"hosts\": [\"web-*\", \"db1\"], \"labels\": {\"role\": \"web\", \"dc\": \"x\"}}}";

static EVP_PKEY *keys[3];



static int setup(void **state)
{
	for (int i = 0; i < 3; i++)
		if (vg_key_generate(i == 2 ? "ecdsa-p256" : "ed25519", &keys[i], NULL) < 0)
			return -1;
	return 0;
}

static int teardown(void **state)
{
	for (int i = 0; i < 3; i++)
		EVP_PKEY_free(keys[i]);
	return 0;
}

/* trust document over the given keys */
static char *trust_doc(int version, int threshold, int n, EVP_PKEY **k)
{
	json_t *arr = json_array(), *t;
	char *s;

	for (int i = 0; i < n; i++) {
		char kid[17], *pem = vg_key_public_pem(k[i]);

		vg_key_id(k[i], kid);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "id", kid, "alg", vg_key_alg(k[i]), "public_key", pem));
		free(pem);
	}
	t = json_pack("{s:i, s:i, s:o}", "version", version, "threshold", threshold, "keys", arr);
	s = json_dumps(t, 0);
	json_decref(t);
	return s;
}

static struct vg_trust *trust(int version, int threshold, int n, EVP_PKEY **k)
{
	char *s = trust_doc(version, threshold, n, k);
	struct vg_trust *t = NULL;
	struct vg_err err;

	assert_int_equal(vg_trust_parse(s, strlen(s), &t, &err), 0);
	free(s);
	return t;
}

static char *sign_with(int n, EVP_PKEY **k, const char *domain, const char *msg)
{
	json_t *sig = NULL;
	char *s;

	for (int i = 0; i < n; i++)
		assert_int_equal(vg_sig_add(&sig, k[i], domain, msg, strlen(msg)), 0);
	s = json_dumps(sig, 0);
	json_decref(sig);
	return s;
}

/* every case twice: the message copied behind the domain, and written in place into room before
 * it (vg_sig_verify_room, a raw push's path), filled with junk first: the verdicts must agree */
static int verify(struct vg_trust *t, const char *msg, const char *sig, struct vg_err *err)
{
	size_t room = strlen(VG_SIG_DOMAIN_BUNDLE), len = strlen(msg);
	char *buf = malloc(room + len);
	struct vg_err err2 = { 0 };
	int r = vg_sig_verify(t, VG_SIG_DOMAIN_BUNDLE, msg, len, sig, sig ? strlen(sig) : 0, err), r2;

	memset(buf, 'X', room);
	memcpy(buf + room, msg, len);
	r2 = vg_sig_verify_room(t, VG_SIG_DOMAIN_BUNDLE, buf + room, room, len, sig, sig ? strlen(sig) : 0, &err2);
	assert_int_equal(r, r2);
	if (r < 0)
		assert_string_equal(err->code, err2.code);
	free(buf);
	return r;
}

static void test_signatures(void **state)
{
	struct vg_trust *t1 = trust(1, 1, 1, keys), *t2 = trust(1, 2, 3, keys);
	struct vg_err err = { 0 };
	char *s1 = sign_with(1, keys, VG_SIG_DOMAIN_BUNDLE, doc);
	char *s12 = sign_with(2, keys, VG_SIG_DOMAIN_BUNDLE, doc);
	char *wrong_domain = sign_with(1, keys, VG_SIG_DOMAIN_TRUST, doc);
	char *other = sign_with(1, keys + 1, VG_SIG_DOMAIN_BUNDLE, doc);
	char *tampered = strdup(doc);

	assert_int_equal(verify(t1, doc, s1, &err), 0);
	assert_int_equal(verify(t2, doc, s12, &err), 0);
	/* threshold 2 with only one signer */
	assert_int_equal(verify(t2, doc, s1, &err), -EPERM);
	assert_string_equal(err.code, "signature_threshold");
	assert_non_null(strstr(err.msg, "1 valid signature(s) from trusted keys, 2 required"));
	/* the same key twice counts once */
	{
		json_t *j = json_loads(s1, 0, NULL);
		json_t *sigs = json_object_get(j, "signatures");
		char *dup;

		json_array_append(sigs, json_array_get(sigs, 0));
		dup = json_dumps(j, 0);
		assert_int_equal(verify(t2, doc, dup, &err), -EPERM);
		assert_string_equal(err.code, "signature_threshold");
		free(dup);
		json_decref(j);
	}
	/* tampered bytes */
	tampered[10] = '6';
	assert_int_equal(verify(t1, tampered, s1, &err), -EPERM);
	assert_string_equal(err.code, "signature_invalid");
	assert_non_null(strstr(err.msg, "signature does not match"));
	/* a signature made for another purpose (trust rotation) does not sign a bundle */
	assert_int_equal(verify(t1, doc, wrong_domain, &err), -EPERM);
	assert_string_equal(err.code, "signature_invalid");
	/* untrusted key */
	assert_int_equal(verify(t1, doc, other, &err), -EPERM);
	assert_non_null(strstr(err.msg, "is not trusted"));
	/* unsigned */
	assert_int_equal(verify(t1, doc, NULL, &err), -EPERM);
	assert_string_equal(err.code, "unsigned");
	assert_int_equal(verify(t1, doc, "{\"signatures\": []}", &err), -EPERM);
	assert_string_equal(err.code, "unsigned");
	/* malformed and unknown algorithms */
	assert_int_equal(verify(t1, doc, "not json", &err), -EPERM);
	assert_string_equal(err.code, "signature_malformed");
	assert_int_equal(verify(t1, doc, "{\"signatures\": [{\"key_id\": \"x\", \"alg\": \"rsa-md5\", \"sig\": \"AA\"}]}", &err),
			 -EPERM);
	assert_string_equal(err.code, "signature_invalid");
	assert_non_null(strstr(err.msg, "unknown algorithm \"rsa-md5\""));
	free(s1);
	free(s12);
	free(wrong_domain);
	free(other);
	free(tampered);
	vg_trust_free(t1);
	vg_trust_free(t2);
}

static void test_trust_file(void **state)
{
	struct vg_trust *t = NULL;
	struct vg_err err = { 0 };
	char *s = trust_doc(1, 3, 2, keys);

	assert_int_equal(vg_trust_parse(s, strlen(s), &t, &err), -EINVAL);
	assert_string_equal(err.path, "$.threshold");
	free(s);
	s = trust_doc(1, 1, 1, keys);
	s[strlen(s) - 1] = '\0';
	assert_int_equal(vg_trust_parse(s, strlen(s), &t, &err), -EINVAL);
	assert_string_equal(err.code, "trust_syntax");
	free(s);
	{
		const char *bad = "{\"version\": 1, \"threshold\": 1, \"keys\": [{\"id\": \"00\", \"alg\": \"ed25519\","
				  " \"public_key\": \"nope\"}]}";

		assert_int_equal(vg_trust_parse(bad, strlen(bad), &t, &err), -EINVAL);
		assert_string_equal(err.code, "trust_key_invalid");
		assert_string_equal(err.path, "$.keys[0]");
	}
	assert_int_equal(vg_trust_load("/nonexistent/trust.json", &t, &err), -ENOENT);
	assert_string_equal(err.code, "trust_missing");
	assert_non_null(strstr(err.msg, "every bundle is refused"));
}

static void test_rotation(void **state)
{
	struct vg_trust *old = trust(1, 1, 1, keys), *nt = NULL;
	struct vg_err err = { 0 };
	EVP_PKEY *newkeys[1] = { keys[1] };
	EVP_PKEY *both[2] = { keys[0], keys[1] };
	char *next = trust_doc(2, 1, 1, newkeys), *skip = trust_doc(3, 1, 1, newkeys);
	char *sig_both = sign_with(2, both, VG_SIG_DOMAIN_TRUST, next);
	char *sig_new = sign_with(1, newkeys, VG_SIG_DOMAIN_TRUST, next);
	char *sig_old = sign_with(1, keys, VG_SIG_DOMAIN_TRUST, next);
	char *sig_skip = sign_with(2, both, VG_SIG_DOMAIN_TRUST, skip);

	assert_int_equal(vg_trust_check_rotation(old, next, strlen(next), sig_both, strlen(sig_both), &nt, &err), 0);
	assert_int_equal(nt->version, 2);
	vg_trust_free(nt);
	assert_int_equal(vg_trust_check_rotation(old, next, strlen(next), sig_new, strlen(sig_new), &nt, &err), -EPERM);
	assert_string_equal(err.code, "trust_rotation_unsigned");
	assert_non_null(strstr(err.msg, "not signed by the current keys"));
	assert_int_equal(vg_trust_check_rotation(old, next, strlen(next), sig_old, strlen(sig_old), &nt, &err), -EPERM);
	assert_non_null(strstr(err.msg, "not signed by the new keys"));
	assert_int_equal(vg_trust_check_rotation(old, skip, strlen(skip), sig_skip, strlen(sig_skip), &nt, &err), -EPERM);
	assert_string_equal(err.code, "trust_version");
	assert_non_null(strstr(err.msg, "N to N+1 only"));
	free(next);
	free(skip);
	free(sig_both);
	free(sig_new);
	free(sig_old);
	free(sig_skip);
	vg_trust_free(old);
}

static void test_checks(void **state)
{
	struct vg_bundle *b = NULL;
	struct vg_err err = { 0 };
	time_t now;

	assert_int_equal(vg_bundle_parse(doc, strlen(doc), &b, &err), 0);
	assert_int_equal(vg_check_size(100, 99, &err), -EFBIG);
	assert_string_equal(err.code, "too_large");
	assert_int_equal(vg_check_size(99, 99, &err), 0);

	assert_int_equal(vg_check_scope(b, "web-07", "role=web,dc=x", &err), 0);
	assert_int_equal(vg_check_scope(b, "DB1", "dc=x, role=web", &err), 0);
	assert_int_equal(vg_check_scope(b, "mail1", "role=web,dc=x", &err), -EPERM);
	assert_string_equal(err.code, "scope_mismatch");
	assert_non_null(strstr(err.msg, "not for host \"mail1\""));
	assert_int_equal(vg_check_scope(b, "web-07", "role=web", &err), -EPERM);
	assert_non_null(strstr(err.msg, "lacks label dc=x"));
	assert_int_equal(vg_check_scope(b, "web-07", "role=webby,dc=x", &err), -EPERM);

	vg_time_parse("2026-11-15T00:00:00Z", &now);
	assert_int_equal(vg_check_time(b, now, 300, false, &err), 0);
	vg_time_parse("2026-10-31T23:56:00Z", &now); /* 4 minutes early: inside the skew */
	assert_int_equal(vg_check_time(b, now, 300, false, &err), 0);
	vg_time_parse("2026-10-31T23:50:00Z", &now);
	assert_int_equal(vg_check_time(b, now, 300, false, &err), -EPERM);
	assert_string_equal(err.code, "not_yet_valid");
	vg_time_parse("2026-12-01T00:00:00Z", &now);
	assert_int_equal(vg_check_time(b, now, 300, false, &err), -EPERM);
	assert_string_equal(err.code, "expired");
	assert_non_null(strstr(err.msg, "expired at 2026-12-01T00:00:00Z"));
	assert_int_equal(vg_check_time(b, now, 300, true, &err), 0);

	assert_int_equal(vg_check_version(b, 4, "x", NULL, false, &err), 0);
	assert_int_equal(vg_check_version(b, 6, "x", NULL, false, &err), -EPERM);
	assert_string_equal(err.code, "downgrade");
	assert_non_null(strstr(err.msg, "version 5 is older than version 6"));
	assert_int_equal(vg_check_version(b, 5, "0000", NULL, false, &err), -EPERM);
	assert_string_equal(err.code, "version_reused");
	assert_int_equal(vg_check_version(b, 5, b->digest, NULL, false, &err), 0);
	assert_int_equal(vg_check_version(b, 5, b->digest, b->digest, false, &err), -EALREADY);
	assert_int_equal(vg_check_version(b, 5, b->digest, b->digest, true, &err), 0);
	vg_bundle_free(b);
}

static void test_config(void **state)
{
	struct vg_config c;
	struct vg_err err = { 0 };

	vg_config_defaults(&c);
	assert_string_equal(c.state_dir, "/var/lib/vigil");
	assert_int_equal(c.max_bundle_bytes, 64u << 20);
	assert_true(c.enforce);
	assert_int_equal(vg_config_parse(&c, "# comment\n\nstate_dir = /tmp/x\nmax_bundle_bytes = 2M\nenforce = no\n"
					 "hostname = \"h1\"\n", "t.conf", &err), 0);
	assert_string_equal(c.state_dir, "/tmp/x");
	assert_int_equal(c.max_bundle_bytes, 2u << 20);
	assert_false(c.enforce);
	assert_string_equal(c.hostname, "h1");
	assert_int_equal(vg_config_parse(&c, "state_dir = /a\nbogus = 1\n", "t.conf", &err), -EINVAL);
	assert_string_equal(err.path, "t.conf:2");
	assert_string_equal(err.code, "config_unknown_key");
	assert_int_equal(vg_config_parse(&c, "\n\nclock_skew_s = -3\n", "t.conf", &err), -EINVAL);
	assert_string_equal(err.path, "t.conf:3");
	assert_non_null(strstr(err.msg, "non-negative integer"));
	assert_int_equal(vg_config_parse(&c, "audit_when_full = drop\n", "t.conf", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "degrade|rotate"));
	assert_int_equal(vg_config_parse(&c, "state_dir\n", "t.conf", &err), -EINVAL);
	assert_string_equal(err.code, "config_syntax");
	vg_config_defaults(&c);
	assert_int_equal(c.ctl_timeout_ms, 5000);
	assert_int_equal(vg_config_parse(&c, "ctl_timeout_ms = 60000\n", "t.conf", &err), 0);
	assert_int_equal(c.ctl_timeout_ms, 60000);
	assert_int_equal(vg_config_parse(&c, "ctl_timeout_ms = 99\n", "t.conf", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "ctl_timeout_ms must be between 100 and 600000"));
}

static void test_util(void **state)
{
	uint8_t *out;
	size_t n;
	char *e;
	time_t t;

	assert_int_equal(vg_b64_decode("aGVsbG8", &out, &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "hello", 5);
	free(out);
	assert_int_equal(vg_b64_decode("aGVsbG8=", &out, &n), 0);
	free(out);
	assert_int_equal(vg_b64_decode("a", &out, &n), -EINVAL);
	assert_int_equal(vg_b64_decode("a*b", &out, &n), -EINVAL);
	e = vg_b64_encode((const uint8_t *)"hello", 5, false);
	assert_string_equal(e, "aGVsbG8=");
	free(e);
	e = vg_b64_encode((const uint8_t *)"\xfb\xff", 2, true);
	assert_string_equal(e, "-_8");
	free(e);
	assert_int_equal(vg_time_parse("2026-11-23T09:00:00.123Z", &t), 0);
	assert_int_equal(t, 1795424400);
	assert_int_equal(vg_time_parse("2026-11-23 09:00:00Z", &t), -EINVAL);
	assert_int_equal(vg_time_parse("2026-11-23T09:00:00+01:00", &t), -EINVAL);
	assert_int_equal(vg_time_parse("2026-13-23T09:00:00Z", &t), -EINVAL);
	/* days that do not exist */
	assert_int_equal(vg_time_parse("2026-02-31T00:00:00Z", &t), -EINVAL);
	assert_int_equal(vg_time_parse("2026-02-29T00:00:00Z", &t), -EINVAL);
	assert_int_equal(vg_time_parse("2026-04-31T00:00:00Z", &t), -EINVAL);
	assert_int_equal(vg_time_parse("2028-02-29T00:00:00Z", &t), 0);
	assert_int_equal(vg_time_parse("2100-02-29T00:00:00Z", &t), -EINVAL);
	assert_int_equal(vg_time_parse("2000-02-29T00:00:00Z", &t), 0);
}

/* the PEM of key with its EC point written compressed, uncompressed or hybrid */
static char *pem_as(EVP_PKEY *key, const char *format)
{
	EVP_PKEY *k = EVP_PKEY_dup(key);
	char *pem;

	assert_non_null(k);
	assert_int_equal(EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, format), 1);
	pem = vg_key_public_pem(k);
	EVP_PKEY_free(k);
	return pem;
}

/* One P-256 key in three encodings is one signer: one id, and listed twice is an error. */
static void test_key_encodings(void **state)
{
	static const char *const formats[] = { "uncompressed", "compressed", "hybrid" };
	char ids[3][17], *pems[3];
	json_t *arr = json_array(), *tdoc;
	struct vg_trust *t = NULL;
	struct vg_err err = { 0 };
	char *s;

	for (int i = 0; i < 3; i++) {
		EVP_PKEY *k;

		pems[i] = pem_as(keys[2], formats[i]);
		k = vg_key_from_pem(pems[i], false);
		assert_non_null(k);
		assert_int_equal(vg_key_id(k, ids[i]), 0);
		EVP_PKEY_free(k);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "id", ids[i], "alg", "ecdsa-p256", "public_key",
						     pems[i]));
	}
	/* the three PEMs differ (the attack needs that), their ids do not */
	assert_string_not_equal(pems[0], pems[1]);
	assert_string_not_equal(pems[0], pems[2]);
	assert_string_equal(ids[0], ids[1]);
	assert_string_equal(ids[0], ids[2]);
	tdoc = json_pack("{s:i, s:i, s:o}", "version", 1, "threshold", 2, "keys", arr);
	s = json_dumps(tdoc, 0);
	assert_int_equal(vg_trust_parse(s, strlen(s), &t, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "listed twice"));
	assert_string_equal(err.path, "$.keys[1]");
	free(s);
	json_decref(tdoc);
	for (int i = 0; i < 3; i++)
		free(pems[i]);
}

static json_t *bogus_entry(const char *kid, const char *alg)
{
	uint8_t raw[64];
	char *b64;
	json_t *e;

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)rand();
	b64 = vg_b64_encode(raw, sizeof(raw), false);
	e = json_pack("{s:s, s:s, s:s}", "key_id", kid, "alg", alg, "sig", b64);
	free(b64);
	return e;
}

/* 1,700 bogus signatures under a trusted key id cost one verification, not 1,700: only the
 * first entry per trusted key is a candidate. And junk before a good signature does not hide it. */
static void test_sig_amplification(void **state)
{
	struct vg_trust *t = trust(1, 1, 1, keys);
	struct vg_err err = { 0 };
	json_t *sd = json_pack("{s:[]}", "signatures"), *sigs = json_object_get(sd, "signatures");
	json_t *good = NULL;
	char kid[17], *s;

	vg_key_id(keys[0], kid);
	for (int i = 0; i < 1700; i++)
		json_array_append_new(sigs, bogus_entry(kid, "ed25519"));
	s = json_dumps(sd, JSON_COMPACT);
	assert_true(strlen(s) < VG_SIG_MAX_BYTES);
	assert_int_equal(verify(t, doc, s, &err), -EPERM);
	assert_string_equal(err.code, "signature_invalid");
	assert_non_null(strstr(err.msg, "signed more than once (only the first counts)"));
	free(s);
	json_array_clear(sigs);
	/* untrusted ids, unknown algorithms and malformed entries first, then the real signature */
	for (int i = 0; i < 1700; i++)
		json_array_append_new(sigs, i % 3 ? bogus_entry("00000000deadbeef", "ed25519") :
						    i % 2 ? bogus_entry(kid, "rsa-md5") : json_pack("{s:i}", "key_id", i));
	s = sign_with(1, keys, VG_SIG_DOMAIN_BUNDLE, doc);
	good = json_loads(s, 0, NULL);
	json_array_extend(sigs, json_object_get(good, "signatures"));
	free(s);
	s = json_dumps(sd, JSON_COMPACT);
	assert_int_equal(verify(t, doc, s, &err), 0);
	free(s);
	json_decref(good);
	json_decref(sd);
	vg_trust_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signatures), cmocka_unit_test(test_trust_file), cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_checks),	   cmocka_unit_test(test_config),     cmocka_unit_test(test_util),
		cmocka_unit_test(test_key_encodings), cmocka_unit_test(test_sig_amplification),
	};

	return cmocka_run_group_tests_name("loader", tests, setup, teardown);
}
