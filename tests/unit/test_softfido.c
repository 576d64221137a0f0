// SPDX-License-Identifier: Apache-2.0
/* softfido driven by real libfido2 through its custom I/O hooks: CTAPHID + CTAP2. */
#include <errno.h>
#include <sys/wait.h>
#include <time.h>

#include "fido_test.h"

static void test_getinfo(void **state)
{
	struct ft_key k;
	fido_dev_t *dev;
	fido_cbor_info_t *ci = fido_cbor_info_new();
	bool saw_uv = false;

	ft_key_create(&k);
	assert_int_equal(softfido_set(k.path, "uv", "on"), 0);
	dev = ft_open(&k);
	assert_true(fido_dev_is_fido2(dev));
	assert_int_equal(fido_dev_get_cbor_info(dev, ci), FIDO_OK);
	assert_int_equal(fido_cbor_info_versions_len(ci), 1);
	assert_string_equal(fido_cbor_info_versions_ptr(ci)[0], "FIDO_2_0");
	assert_int_equal(fido_cbor_info_aaguid_len(ci), 16);
	for (size_t i = 0; i < fido_cbor_info_options_len(ci); i++)
		if (strcmp(fido_cbor_info_options_name_ptr(ci)[i], "uv") == 0)
			saw_uv = fido_cbor_info_options_value_ptr(ci)[i];
	assert_true(saw_uv);
	assert_true(fido_dev_supports_pin(dev));
	assert_false(fido_dev_has_pin(dev));
	fido_cbor_info_free(&ci);
	ft_close(&dev);
	ft_key_remove(&k);
}

/* fido_assert_verify wants a typed key; build it from the credential */
static int verify_with_cred(fido_assert_t *a, fido_cred_t *cred)
{
	int alg = fido_cred_type(cred), r = FIDO_ERR_INTERNAL;
	const unsigned char *p = fido_cred_pubkey_ptr(cred);
	size_t n = fido_cred_pubkey_len(cred);

	if (alg == COSE_ES256) {
		es256_pk_t *pk = es256_pk_new();

		if (es256_pk_from_ptr(pk, p, n) == FIDO_OK)
			r = fido_assert_verify(a, 0, alg, pk);
		es256_pk_free(&pk);
	} else if (alg == COSE_EDDSA) {
		eddsa_pk_t *pk = eddsa_pk_new();

		if (eddsa_pk_from_ptr(pk, p, n) == FIDO_OK)
			r = fido_assert_verify(a, 0, alg, pk);
		eddsa_pk_free(&pk);
	} else if (alg == COSE_RS256) {
		rs256_pk_t *pk = rs256_pk_new();

		if (rs256_pk_from_ptr(pk, p, n) == FIDO_OK)
			r = fido_assert_verify(a, 0, alg, pk);
		rs256_pk_free(&pk);
	}
	return r;
}

/* makeCredential + getAssertion for one algorithm, both verified by libfido2 itself */
static void roundtrip_verified(int alg)
{
	struct ft_key k;
	fido_dev_t *dev;
	fido_cred_t *cred;
	fido_assert_t *a;
	unsigned char cdh[32];

	ft_key_create(&k);
	dev = ft_open(&k);
	assert_int_equal(ft_make_cred(dev, alg, FIDO_OPT_OMIT, NULL, &cred), FIDO_OK);
	assert_int_equal(fido_cred_verify_self(cred), FIDO_OK);
	assert_string_equal(fido_cred_fmt(cred), "packed");
	assert_int_equal(fido_cred_type(cred), alg);
	assert_int_equal(fido_cred_flags(cred) & 0x41, 0x41); /* UP, AT */
	ft_cdh("challenge 2", cdh);
	assert_int_equal(ft_get_assert(dev, FT_RP, cdh, &cred, 1, FIDO_OPT_TRUE, FIDO_OPT_OMIT, NULL, &a), FIDO_OK);
	assert_int_equal(verify_with_cred(a, cred), FIDO_OK);
	assert_int_equal(fido_assert_flags(a, 0) & 0x05, 0x01); /* UP, no UV */
	fido_assert_free(&a);
	ft_close(&dev);
	fido_cred_free(&cred);
	ft_key_remove(&k);
}

static void test_es256(void **state) { roundtrip_verified(COSE_ES256); }
static void test_eddsa(void **state) { roundtrip_verified(COSE_EDDSA); }
static void test_rs256(void **state) { roundtrip_verified(COSE_RS256); }

static void test_attestation_none(void **state)
{
	struct ft_key k;
	fido_dev_t *dev;
	fido_cred_t *cred;

	ft_key_create(&k);
	assert_int_equal(softfido_set(k.path, "attestation", "none"), 0);
	dev = ft_open(&k);
	assert_int_equal(ft_make_cred(dev, COSE_ES256, FIDO_OPT_OMIT, NULL, &cred), FIDO_OK);
	assert_string_equal(fido_cred_fmt(cred), "none");
	assert_true(fido_cred_pubkey_len(cred) > 0);
	ft_close(&dev);
	fido_cred_free(&cred);
	ft_key_remove(&k);
}

/* several credentials in the allow list: the key answers with the one it holds */
static void test_allow_list(void **state)
{
	struct ft_key k, other;
	fido_dev_t *dev, *odev;
	fido_cred_t *creds[3];
	fido_assert_t *a;
	unsigned char cdh[32];

	ft_key_create(&k);
	ft_key_create(&other);
	dev = ft_open(&k);
	odev = ft_open(&other);
	assert_int_equal(ft_make_cred(odev, COSE_ES256, FIDO_OPT_OMIT, NULL, &creds[0]), FIDO_OK);
	assert_int_equal(ft_make_cred(dev, COSE_EDDSA, FIDO_OPT_OMIT, NULL, &creds[1]), FIDO_OK);
	assert_int_equal(ft_make_cred(odev, COSE_ES256, FIDO_OPT_OMIT, NULL, &creds[2]), FIDO_OK);
	ft_cdh("several", cdh);
	assert_int_equal(ft_get_assert(dev, FT_RP, cdh, creds, 3, FIDO_OPT_TRUE, FIDO_OPT_OMIT, NULL, &a), FIDO_OK);
	assert_int_equal(fido_assert_id_len(a, 0), fido_cred_id_len(creds[1]));
	assert_memory_equal(fido_assert_id_ptr(a, 0), fido_cred_id_ptr(creds[1]), fido_cred_id_len(creds[1]));
	assert_int_equal(verify_with_cred(a, creds[1]), FIDO_OK);
	fido_assert_free(&a);
	/* none of ours: no credentials; another rp id: none either */
	assert_int_equal(ft_get_assert(dev, FT_RP, cdh, &creds[2], 1, FIDO_OPT_TRUE, FIDO_OPT_OMIT, NULL, &a),
			 FIDO_ERR_NO_CREDENTIALS);
	fido_assert_free(&a);
	assert_int_equal(ft_get_assert(dev, "evil.example.com", cdh, &creds[1], 1, FIDO_OPT_TRUE, FIDO_OPT_OMIT, NULL,
				       &a),
			 FIDO_ERR_NO_CREDENTIALS);
	fido_assert_free(&a);
	for (int i = 0; i < 3; i++)
		fido_cred_free(&creds[i]);
	ft_close(&dev);
	ft_close(&odev);
	ft_key_remove(&k);
	ft_key_remove(&other);
}

/* the counter goes up once per signature and survives processes */
static void test_counter_persists_across_processes(void **state)
{
	struct ft_key k;
	fido_dev_t *dev;
	fido_cred_t *cred;
	fido_assert_t *a;
	unsigned char cdh[32];
	uint32_t after_enroll, first;
	pid_t pid;
	int status;

	ft_key_create(&k);
	dev = ft_open(&k);
	assert_int_equal(ft_make_cred(dev, COSE_ES256, FIDO_OPT_OMIT, NULL, &cred), FIDO_OK);
	ft_close(&dev);
	after_enroll = ft_counter(&k);
	assert_int_equal(after_enroll, 1);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* another process, its own libfido2 device: same key */
		fido_dev_t *d2 = fido_dev_new();
		fido_assert_t *a2 = fido_assert_new();

		ft_cdh("child", cdh);
		if (softfido_open(d2, k.path) != FIDO_OK || fido_assert_set_rp(a2, FT_RP) != FIDO_OK ||
		    fido_assert_set_clientdata_hash(a2, cdh, 32) != FIDO_OK ||
		    fido_assert_allow_cred(a2, fido_cred_id_ptr(cred), fido_cred_id_len(cred)) != FIDO_OK ||
		    fido_dev_get_assert(d2, a2, NULL) != FIDO_OK || fido_assert_sigcount(a2, 0) != 2)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	dev = ft_open(&k);
	ft_cdh("parent", cdh);
	assert_int_equal(ft_get_assert(dev, FT_RP, cdh, &cred, 1, FIDO_OPT_TRUE, FIDO_OPT_OMIT, NULL, &a), FIDO_OK);
	first = fido_assert_sigcount(a, 0);
	assert_int_equal(first, 3);
	assert_int_equal(ft_counter(&k), 3);
	fido_assert_free(&a);
	ft_close(&dev);
	fido_cred_free(&cred);
	ft_key_remove(&k);
}

static void test_pin(void **state)
{
	struct ft_key k;
	fido_dev_t *dev;
	fido_cred_t *cred;
	fido_assert_t *a;
	unsigned char cdh[32];
	int retries = -1;

	ft_key_create(&k);
	assert_int_equal(softfido_set(k.path, "pin", "123456"), 0);
	dev = ft_open(&k);
	assert_true(fido_dev_has_pin(dev));
	/* CTAP 2.0: makeCredential without the PIN is refused */
	assert_int_equal(ft_make_cred(dev, COSE_ES256, FIDO_OPT_OMIT, NULL, &cred), FIDO_ERR_PIN_REQUIRED);
	fido_cred_free(&cred);
	assert_int_equal(ft_make_cred(dev, COSE_ES256, FIDO_OPT_OMIT, "654321", &cred), FIDO_ERR_PIN_INVALID);
	fido_cred_free(&cred);
	assert_int_equal(fido_dev_get_retry_count(dev, &retries), FIDO_OK);
	assert_int_equal(retries, 7);
	assert_int_equal(ft_make_cred(dev, COSE_ES256, FIDO_OPT_OMIT, "123456", &cred), FIDO_OK);
	assert_int_equal(fido_cred_flags(cred) & 0x04, 0x04); /* UV through the PIN */
	assert_int_equal(fido_dev_get_retry_count(dev, &retries), FIDO_OK);
	assert_int_equal(retries, 8);

	ft_cdh("pin assert", cdh);
	assert_int_equal(ft_get_assert(dev, FT_RP, cdh, &cred, 1, FIDO_OPT_TRUE, FIDO_OPT_OMIT, "123456", &a), FIDO_OK);
	assert_int_equal(fido_assert_flags(a, 0) & 0x05, 0x05);
	assert_int_equal(verify_with_cred(a, cred), FIDO_OK);
	fido_assert_free(&a);
	/* without the PIN an assertion still works, without UV */
	assert_int_equal(ft_get_assert(dev, FT_RP, cdh, &cred, 1, FIDO_OPT_TRUE, FIDO_OPT_OMIT, NULL, &a), FIDO_OK);
	assert_int_equal(fido_assert_flags(a, 0) & 0x05, 0x01);
	fido_assert_free(&a);
	assert_int_equal(ft_get_assert(dev, FT_RP, cdh, &cred, 1, FIDO_OPT_TRUE, FIDO_OPT_OMIT, "000000", &a),
			 FIDO_ERR_PIN_INVALID);
	fido_assert_free(&a);
	fido_cred_free(&cred);
	ft_close(&dev);
	ft_key_remove(&k);
}

static void test_builtin_uv(void **state)
{
	struct ft_key k;
	fido_dev_t *dev;
	fido_cred_t *cred;
	fido_assert_t *a;
	unsigned char cdh[32];

	ft_key_create(&k);
	dev = ft_open(&k);
	assert_int_equal(ft_make_cred(dev, COSE_ES256, FIDO_OPT_OMIT, NULL, &cred), FIDO_OK);
	ft_close(&dev);
	ft_cdh("uv", cdh);
	/* a key without UV refuses the option */
	dev = ft_open(&k);
	assert_int_equal(ft_get_assert(dev, FT_RP, cdh, &cred, 1, FIDO_OPT_TRUE, FIDO_OPT_TRUE, NULL, &a),
			 FIDO_ERR_UNSUPPORTED_OPTION);
	fido_assert_free(&a);
	ft_close(&dev);

	assert_int_equal(softfido_set(k.path, "uv", "on"), 0);
	dev = ft_open(&k);
	assert_int_equal(ft_get_assert(dev, FT_RP, cdh, &cred, 1, FIDO_OPT_TRUE, FIDO_OPT_TRUE, NULL, &a), FIDO_OK);
	assert_int_equal(fido_assert_flags(a, 0) & 0x05, 0x05);
	fido_assert_free(&a);
	ft_close(&dev);

	assert_int_equal(softfido_set(k.path, "uv", "fail"), 0);
	dev = ft_open(&k);
	assert_int_equal(ft_get_assert(dev, FT_RP, cdh, &cred, 1, FIDO_OPT_TRUE, FIDO_OPT_TRUE, NULL, &a),
			 FIDO_ERR_OPERATION_DENIED);
	fido_assert_free(&a);
	ft_close(&dev);
	fido_cred_free(&cred);
	ft_key_remove(&k);
}

static void test_no_touch_times_out(void **state)
{
	struct ft_key k;
	fido_dev_t *dev;
	fido_cred_t *cred;
	fido_assert_t *a;
	unsigned char cdh[32];
	struct timespec t0, t1;
	long ms;
	uint32_t before;

	ft_key_create(&k);
	dev = ft_open(&k);
	assert_int_equal(ft_make_cred(dev, COSE_ES256, FIDO_OPT_OMIT, NULL, &cred), FIDO_OK);
	ft_close(&dev);
	assert_int_equal(softfido_set(k.path, "touch", "no"), 0);
	assert_int_equal(softfido_set(k.path, "notouch_ms", "300"), 0);
	before = ft_counter(&k);
	dev = ft_open(&k);
	ft_cdh("nobody there", cdh);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ft_get_assert(dev, FT_RP, cdh, &cred, 1, FIDO_OPT_TRUE, FIDO_OPT_OMIT, NULL, &a),
			 FIDO_ERR_USER_ACTION_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	/* keepalives for the configured wait, then the timeout: bounded */
	assert_true(ms >= 300);
	assert_true(ms < 5000);
	assert_int_equal(ft_counter(&k), before);
	fido_assert_free(&a);
	/* a silent assertion (up=false) needs no touch */
	assert_int_equal(ft_get_assert(dev, FT_RP, cdh, &cred, 1, FIDO_OPT_FALSE, FIDO_OPT_OMIT, NULL, &a), FIDO_OK);
	assert_int_equal(fido_assert_flags(a, 0) & 0x01, 0);
	fido_assert_free(&a);
	fido_cred_free(&cred);
	ft_close(&dev);
	ft_key_remove(&k);
}

static void test_faults_clone_and_wrong_key(void **state)
{
	struct ft_key k;
	fido_dev_t *dev;
	fido_cred_t *cred;
	fido_assert_t *a;
	unsigned char cdh[32];
	uint32_t c1;

	ft_key_create(&k);
	dev = ft_open(&k);
	assert_int_equal(ft_make_cred(dev, COSE_ES256, FIDO_OPT_OMIT, NULL, &cred), FIDO_OK);
	ft_cdh("fault", cdh);
	assert_int_equal(ft_get_assert(dev, FT_RP, cdh, &cred, 1, FIDO_OPT_TRUE, FIDO_OPT_OMIT, NULL, &a), FIDO_OK);
	c1 = fido_assert_sigcount(a, 0);
	fido_assert_free(&a);

	assert_int_equal(softfido_set(k.path, "counter_mode", "frozen"), 0);
	assert_int_equal(ft_get_assert(dev, FT_RP, cdh, &cred, 1, FIDO_OPT_TRUE, FIDO_OPT_OMIT, NULL, &a), FIDO_OK);
	assert_int_equal(fido_assert_sigcount(a, 0), c1);
	assert_int_equal(verify_with_cred(a, cred), FIDO_OK);
	fido_assert_free(&a);

	assert_int_equal(softfido_set(k.path, "counter_mode", "zero"), 0);
	assert_int_equal(ft_get_assert(dev, FT_RP, cdh, &cred, 1, FIDO_OPT_TRUE, FIDO_OPT_OMIT, NULL, &a), FIDO_OK);
	assert_int_equal(fido_assert_sigcount(a, 0), 0);
	fido_assert_free(&a);

	assert_int_equal(softfido_set(k.path, "counter_mode", "increment"), 0);
	assert_int_equal(softfido_set(k.path, "wrong_key", "yes"), 0);
	assert_int_equal(ft_get_assert(dev, FT_RP, cdh, &cred, 1, FIDO_OPT_TRUE, FIDO_OPT_OMIT, NULL, &a), FIDO_OK);
	assert_int_equal(fido_assert_sigcount(a, 0), c1 + 1);
	assert_int_equal(verify_with_cred(a, cred), FIDO_ERR_INVALID_SIG);
	fido_assert_free(&a);
	fido_cred_free(&cred);
	ft_close(&dev);
	ft_key_remove(&k);
}

static void test_knobs_validated(void **state)
{
	struct ft_key k;
	char buf[16];

	ft_key_create(&k);
	assert_int_equal(softfido_set(k.path, "touch", "maybe"), -EINVAL);
	assert_int_equal(softfido_set(k.path, "colour", "blue"), -EINVAL);
	assert_int_equal(softfido_set(k.path, "pin", "12"), -EINVAL);
	assert_int_equal(softfido_set(k.path, "counter", "-1"), -EINVAL);
	assert_int_equal(softfido_set(k.path, "counter", "41"), 0);
	assert_int_equal(softfido_get(k.path, "counter", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "41");
	assert_int_equal(softfido_get(k.path, "ncreds", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0");
	assert_int_equal(softfido_get("/nonexistent/softfido.state", "counter", buf, sizeof(buf)), -ENOENT);
	ft_key_remove(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_getinfo),
		cmocka_unit_test(test_es256),
		cmocka_unit_test(test_eddsa),
		cmocka_unit_test(test_rs256),
		cmocka_unit_test(test_attestation_none),
		cmocka_unit_test(test_allow_list),
		cmocka_unit_test(test_counter_persists_across_processes),
		cmocka_unit_test(test_pin),
		cmocka_unit_test(test_builtin_uv),
		cmocka_unit_test(test_no_touch_times_out),
		cmocka_unit_test(test_faults_clone_and_wrong_key),
		cmocka_unit_test(test_knobs_validated),
	};

	fido_init(0);
	return cmocka_run_group_tests(tests, ft_group_setup, ft_group_teardown);
}
