// SPDX-License-Identifier: Apache-2.0
/*
 * lib/assertion.c: assertions made by real libfido2 against softfido are
 * accepted; every rejection reason is produced by a real or crafted assertion
 * and checked by its code and message.
 */
#include <errno.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "fido_test.h"
#include "vigil/assertion.h"

struct enrolled {
	struct ft_key key;
	fido_dev_t *dev;
	fido_cred_t *fcred;
	struct vg_credential cred;
};

/* authenticatorData as libfido2 1.12 hands it out: one CBOR byte string */
static void unwrap(const unsigned char *p, size_t len, const uint8_t **raw, size_t *raw_len)
{
	assert_true(len > 2);
	if (p[0] == 0x58) {
		assert_int_equal(p[1], len - 2);
		*raw = p + 2;
		*raw_len = len - 2;
	} else {
		assert_int_equal(p[0], 0x59);
		assert_int_equal((size_t)p[1] << 8 | p[2], len - 3);
		*raw = p + 3;
		*raw_len = len - 3;
	}
}

/* enroll on a fresh softfido and convert the credential as vigilctl enroll does */
static void enroll(struct enrolled *e, int alg, const char *pin)
{
	struct vg_authdata ad;
	struct vg_err err;
	int got_alg = 0;

	memset(e, 0, sizeof(*e));
	ft_key_create(&e->key);
	if (pin)
		assert_int_equal(softfido_set(e->key.path, "pin", pin), 0);
	e->dev = ft_open(&e->key);
	assert_int_equal(ft_make_cred(e->dev, alg, FIDO_OPT_OMIT, pin, &e->fcred), FIDO_OK);
	assert_int_equal(vg_authdata_parse(fido_cred_authdata_raw_ptr(e->fcred), fido_cred_authdata_raw_len(e->fcred),
					   &ad, &err),
			 0);
	assert_true(ad.flags & VG_AD_AT);
	assert_int_equal(ad.cred_id_len, fido_cred_id_len(e->fcred));
	assert_memory_equal(ad.cred_id, fido_cred_id_ptr(e->fcred), ad.cred_id_len);
	assert_int_equal(vg_cose_key_to_pem(ad.cose_key, ad.cose_key_len, &got_alg, &e->cred.public_key, &err), 0);
	assert_int_equal(got_alg, alg);
	assert_non_null(strstr(e->cred.public_key, "-----BEGIN PUBLIC KEY-----"));
	e->cred.alg = alg;
	e->cred.id_b64 = (char *)"test-cred";
	e->cred.uv = pin != NULL;
}

static void enrolled_free(struct enrolled *e)
{
	free(e->cred.public_key);
	fido_cred_free(&e->fcred);
	ft_close(&e->dev);
	ft_key_remove(&e->key);
}

/* one assertion: raw authData (copied into ad, *ad_len) and signature (into sig, *sig_len) */
static void get_assertion(struct enrolled *e, const char *challenge, fido_opt_t up, const char *pin, uint8_t *ad,
			  size_t *ad_len, uint8_t *sig, size_t *sig_len, unsigned char cdh[32])
{
	fido_assert_t *a;
	const uint8_t *raw;
	size_t raw_len;

	ft_cdh(challenge, cdh);
	assert_int_equal(ft_get_assert(e->dev, FT_RP, cdh, &e->fcred, 1, up, FIDO_OPT_OMIT, pin, &a), FIDO_OK);
	unwrap(fido_assert_authdata_ptr(a, 0), fido_assert_authdata_len(a, 0), &raw, &raw_len);
	assert_true(raw_len <= 512 && fido_assert_sig_len(a, 0) <= 512);
	memcpy(ad, raw, raw_len);
	*ad_len = raw_len;
	memcpy(sig, fido_assert_sig_ptr(a, 0), fido_assert_sig_len(a, 0));
	*sig_len = fido_assert_sig_len(a, 0);
	fido_assert_free(&a);
}

static void expect_reject(int r, const struct vg_err *err, const char *code, const char *msg_part)
{
	assert_true(r < 0);
	assert_string_equal(err->code, code);
	if (!strstr(err->msg, msg_part))
		fail_msg("message '%s' lacks '%s'", err->msg, msg_part);
}

static void accepts_alg(int alg)
{
	struct enrolled e;
	uint8_t ad[512], sig[512];
	size_t ad_len, sig_len;
	unsigned char cdh[32];
	struct vg_err err;
	uint32_t counter = 0, prev;

	enroll(&e, alg, NULL);
	for (int i = 0; i < 3; i++) {
		prev = counter;
		get_assertion(&e, "step-up", FIDO_OPT_TRUE, NULL, ad, &ad_len, sig, &sig_len, cdh);
		assert_int_equal(vg_assertion_verify(&e.cred, FT_RP, cdh, ad, ad_len, sig, sig_len, false, prev, &counter,
						     &err),
				 0);
		assert_true(counter > prev);
	}
	enrolled_free(&e);
}

static void test_accepts_es256(void **state) { accepts_alg(VG_COSE_ES256); }
static void test_accepts_eddsa(void **state) { accepts_alg(VG_COSE_EDDSA); }
static void test_accepts_rs256(void **state) { accepts_alg(VG_COSE_RS256); }

static void test_uv_through_pin(void **state)
{
	struct enrolled e;
	uint8_t ad[512], sig[512];
	size_t ad_len, sig_len;
	unsigned char cdh[32];
	struct vg_err err;
	uint32_t counter;

	enroll(&e, VG_COSE_ES256, "4321abcd");
	get_assertion(&e, "with pin", FIDO_OPT_TRUE, "4321abcd", ad, &ad_len, sig, &sig_len, cdh);
	assert_int_equal(vg_assertion_verify(&e.cred, FT_RP, cdh, ad, ad_len, sig, sig_len, true, 1, &counter, &err), 0);
	/* the same key without its PIN: no UV, refused for a credential enrolled with UV */
	get_assertion(&e, "no pin", FIDO_OPT_TRUE, NULL, ad, &ad_len, sig, &sig_len, cdh);
	expect_reject(vg_assertion_verify(&e.cred, FT_RP, cdh, ad, ad_len, sig, sig_len, false, counter, NULL, &err),
		      &err, "user_not_verified", "user verification");
	enrolled_free(&e);
}

static void test_rejections(void **state)
{
	struct enrolled e;
	uint8_t ad[512], sig[512], bad[600];
	size_t ad_len, sig_len;
	unsigned char cdh[32], cdh2[32];
	struct vg_err err;
	uint32_t counter = 0;
	int r;

	enroll(&e, VG_COSE_ES256, NULL);
	get_assertion(&e, "reject", FIDO_OPT_TRUE, NULL, ad, &ad_len, sig, &sig_len, cdh);
	assert_int_equal(vg_assertion_verify(&e.cred, FT_RP, cdh, ad, ad_len, sig, sig_len, false, 0, &counter, &err), 0);

	/* another relying party */
	r = vg_assertion_verify(&e.cred, "evil.example.com", cdh, ad, ad_len, sig, sig_len, false, 0, NULL, &err);
	expect_reject(r, &err, "rp_id_mismatch", "evil.example.com");
	/* UV required by the policy, not performed */
	r = vg_assertion_verify(&e.cred, FT_RP, cdh, ad, ad_len, sig, sig_len, true, 0, NULL, &err);
	expect_reject(r, &err, "user_not_verified", "PIN or biometric");
	/* the same assertion again: the counter did not move (replay or clone) */
	r = vg_assertion_verify(&e.cred, FT_RP, cdh, ad, ad_len, sig, sig_len, false, counter, NULL, &err);
	expect_reject(r, &err, "counter_not_increased", "possible cloned key");
	r = vg_assertion_verify(&e.cred, FT_RP, cdh, ad, ad_len, sig, sig_len, false, counter + 10, NULL, &err);
	expect_reject(r, &err, "counter_not_increased", "did not increase");
	/* tampered signature, tampered flags, other client data */
	memcpy(bad, sig, sig_len);
	bad[sig_len / 2] ^= 0x01;
	r = vg_assertion_verify(&e.cred, FT_RP, cdh, ad, ad_len, bad, sig_len, false, 0, NULL, &err);
	expect_reject(r, &err, "signature_invalid", "does not verify");
	memcpy(bad, ad, ad_len);
	bad[32] |= VG_AD_UV;
	r = vg_assertion_verify(&e.cred, FT_RP, cdh, bad, ad_len, sig, sig_len, true, 0, NULL, &err);
	expect_reject(r, &err, "signature_invalid", "tampered");
	ft_cdh("another challenge", cdh2);
	r = vg_assertion_verify(&e.cred, FT_RP, cdh2, ad, ad_len, sig, sig_len, false, 0, NULL, &err);
	expect_reject(r, &err, "signature_invalid", "enrolled key");
	/* malformed authenticatorData */
	r = vg_assertion_verify(&e.cred, FT_RP, cdh, ad, 36, sig, sig_len, false, 0, NULL, &err);
	expect_reject(r, &err, "authdata_malformed", "36 bytes");
	memcpy(bad, ad, ad_len);
	bad[ad_len] = 0xa0;
	r = vg_assertion_verify(&e.cred, FT_RP, cdh, bad, ad_len + 1, sig, sig_len, false, 0, NULL, &err);
	expect_reject(r, &err, "authdata_malformed", "trailing");
	r = vg_assertion_verify(&e.cred, FT_RP, cdh, ad, ad_len, NULL, 0, false, 0, NULL, &err);
	expect_reject(r, &err, "assertion_malformed", "incomplete");
	enrolled_free(&e);
}

static void test_no_touch_rejected(void **state)
{
	struct enrolled e;
	uint8_t ad[512], sig[512];
	size_t ad_len, sig_len;
	unsigned char cdh[32];
	struct vg_err err;

	enroll(&e, VG_COSE_EDDSA, NULL);
	/* a silent assertion (up=false) is correctly signed but shows no presence */
	get_assertion(&e, "silent", FIDO_OPT_FALSE, NULL, ad, &ad_len, sig, &sig_len, cdh);
	expect_reject(vg_assertion_verify(&e.cred, FT_RP, cdh, ad, ad_len, sig, sig_len, false, 0, NULL, &err), &err,
		      "user_not_present", "no touch");
	enrolled_free(&e);
}

static void test_clone_and_wrong_key(void **state)
{
	struct enrolled e;
	uint8_t ad[512], sig[512];
	size_t ad_len, sig_len;
	unsigned char cdh[32];
	struct vg_err err;
	uint32_t counter = 0, c2 = 0;

	enroll(&e, VG_COSE_ES256, NULL);
	get_assertion(&e, "first", FIDO_OPT_TRUE, NULL, ad, &ad_len, sig, &sig_len, cdh);
	assert_int_equal(vg_assertion_verify(&e.cred, FT_RP, cdh, ad, ad_len, sig, sig_len, false, 0, &counter, &err), 0);
	/* a clone: valid signature, counter stuck */
	assert_int_equal(softfido_set(e.key.path, "counter_mode", "frozen"), 0);
	get_assertion(&e, "clone", FIDO_OPT_TRUE, NULL, ad, &ad_len, sig, &sig_len, cdh);
	expect_reject(vg_assertion_verify(&e.cred, FT_RP, cdh, ad, ad_len, sig, sig_len, false, counter, NULL, &err),
		      &err, "counter_not_increased", "cloned");
	/* a key that keeps no counter (always 0): accepted while the stored counter is 0 too */
	assert_int_equal(softfido_set(e.key.path, "counter_mode", "zero"), 0);
	get_assertion(&e, "zero", FIDO_OPT_TRUE, NULL, ad, &ad_len, sig, &sig_len, cdh);
	assert_int_equal(vg_assertion_verify(&e.cred, FT_RP, cdh, ad, ad_len, sig, sig_len, false, 0, &c2, &err), 0);
	assert_int_equal(c2, 0);
	expect_reject(vg_assertion_verify(&e.cred, FT_RP, cdh, ad, ad_len, sig, sig_len, false, counter, NULL, &err),
		      &err, "counter_not_increased", "did not increase");
	/* the wrong key: another private key signs */
	assert_int_equal(softfido_set(e.key.path, "counter_mode", "increment"), 0);
	assert_int_equal(softfido_set(e.key.path, "wrong_key", "yes"), 0);
	get_assertion(&e, "wrong", FIDO_OPT_TRUE, NULL, ad, &ad_len, sig, &sig_len, cdh);
	expect_reject(vg_assertion_verify(&e.cred, FT_RP, cdh, ad, ad_len, sig, sig_len, false, counter, NULL, &err),
		      &err, "signature_invalid", "wrong key");
	enrolled_free(&e);
}

static void test_credential_invalid(void **state)
{
	struct enrolled e, other;
	uint8_t ad[512], sig[512];
	size_t ad_len, sig_len;
	unsigned char cdh[32];
	struct vg_err err;
	struct vg_credential c;
	EVP_PKEY *p384 = EVP_EC_gen("P-384");
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long n;

	enroll(&e, VG_COSE_ES256, NULL);
	enroll(&other, VG_COSE_EDDSA, NULL);
	get_assertion(&e, "cred", FIDO_OPT_TRUE, NULL, ad, &ad_len, sig, &sig_len, cdh);
	c = e.cred;
	c.public_key = (char *)"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n";
	expect_reject(vg_assertion_verify(&c, FT_RP, cdh, ad, ad_len, sig, sig_len, false, 0, NULL, &err), &err,
		      "credential_invalid", "not a valid es256 key");
	/* an Ed25519 key listed as es256 */
	c.public_key = other.cred.public_key;
	expect_reject(vg_assertion_verify(&c, FT_RP, cdh, ad, ad_len, sig, sig_len, false, 0, NULL, &err), &err,
		      "credential_invalid", "re-enroll");
	/* a P-384 key listed as es256 */
	assert_non_null(p384);
	assert_int_equal(PEM_write_bio_PUBKEY(bio, p384), 1);
	n = BIO_get_mem_data(bio, &pem);
	c.public_key = strndup(pem, (size_t)n);
	expect_reject(vg_assertion_verify(&c, FT_RP, cdh, ad, ad_len, sig, sig_len, false, 0, NULL, &err), &err,
		      "credential_invalid", "es256");
	free(c.public_key);
	/* the load-time check says the same */
	c = e.cred;
	assert_int_equal(vg_credential_check(&c, &err), 0);
	c.public_key = other.cred.public_key;
	expect_reject(vg_credential_check(&c, &err), &err, "credential_invalid", "not a valid es256 key");
	c = other.cred;
	assert_int_equal(vg_credential_check(&c, &err), 0);
	c.alg = VG_COSE_RS256;
	expect_reject(vg_credential_check(&c, &err), &err, "credential_invalid", "rs256");
	/* an RSA key below 2048 bits */
	{
		EVP_PKEY *r1024 = EVP_RSA_gen(1024);
		BIO *rb = BIO_new(BIO_s_mem());
		char *rpem = NULL;

		assert_non_null(r1024);
		assert_int_equal(PEM_write_bio_PUBKEY(rb, r1024), 1);
		n = BIO_get_mem_data(rb, &rpem);
		c = e.cred;
		c.alg = VG_COSE_RS256;
		c.public_key = strndup(rpem, (size_t)n);
		expect_reject(vg_credential_check(&c, &err), &err, "credential_invalid", "rs256");
		free(c.public_key);
		BIO_free(rb);
		EVP_PKEY_free(r1024);
	}
	/* the key in another PEM block than PUBLIC KEY, or its DER followed by a stray byte */
	{
		EVP_PKEY *k = EVP_EC_gen("P-256");
		BIO *kb = BIO_new(BIO_s_mem());
		unsigned char *der = NULL, *der2;
		char *kpem = NULL;
		int dlen;

		assert_non_null(k);
		assert_int_equal(PEM_write_bio_PrivateKey(kb, k, NULL, NULL, 0, NULL, NULL), 1);
		n = BIO_get_mem_data(kb, &kpem);
		c = e.cred;
		c.public_key = strndup(kpem, (size_t)n);
		expect_reject(vg_credential_check(&c, &err), &err, "credential_invalid", "es256");
		free(c.public_key);
		dlen = i2d_PUBKEY(k, &der);
		assert_true(dlen > 0);
		der2 = malloc((size_t)dlen + 1);
		memcpy(der2, der, (size_t)dlen);
		der2[dlen] = 0;
		assert_int_equal(BIO_reset(kb), 1);
		assert_true(PEM_write_bio(kb, "PUBLIC KEY", "", der2, dlen + 1) > 0);
		n = BIO_get_mem_data(kb, &kpem);
		c.public_key = strndup(kpem, (size_t)n);
		expect_reject(vg_credential_check(&c, &err), &err, "credential_invalid", "es256");
		free(c.public_key);
		/* the same bytes without the stray one: accepted, a comment line before the block too */
		assert_int_equal(BIO_reset(kb), 1);
		assert_int_equal(BIO_puts(kb, "enrolled by vigilctl\n"), 21);
		assert_true(PEM_write_bio(kb, "PUBLIC KEY", "", der2, dlen) > 0);
		n = BIO_get_mem_data(kb, &kpem);
		c.public_key = strndup(kpem, (size_t)n);
		assert_int_equal(vg_credential_check(&c, &err), 0);
		free(c.public_key);
		free(der2);
		OPENSSL_free(der);
		BIO_free(kb);
		EVP_PKEY_free(k);
	}
	/* an unknown algorithm */
	c = e.cred;
	c.alg = -35;
	expect_reject(vg_assertion_verify(&c, FT_RP, cdh, ad, ad_len, sig, sig_len, false, 0, NULL, &err), &err,
		      "credential_invalid", "supported");
	BIO_free(bio);
	EVP_PKEY_free(p384);
	enrolled_free(&e);
	enrolled_free(&other);
}

/* authenticatorData with attested credential data, built by hand */
static size_t craft_authdata(uint8_t *buf, uint8_t flags, const uint8_t *cred_id, size_t id_len, const uint8_t *tail,
			     size_t tail_len)
{
	size_t off = 37;

	memset(buf, 0xab, 32);
	buf[32] = flags;
	buf[33] = 0, buf[34] = 0, buf[35] = 1, buf[36] = 0;
	if (flags & VG_AD_AT) {
		memset(buf + off, 0x11, 16);
		buf[off + 16] = (uint8_t)(id_len >> 8);
		buf[off + 17] = (uint8_t)id_len;
		off += 18;
		if (id_len)
			memcpy(buf + off, cred_id, id_len);
		off += id_len;
	}
	if (tail_len)
		memcpy(buf + off, tail, tail_len);
	return off + tail_len;
}

static void test_authdata_parse(void **state)
{
	static const uint8_t id[4] = { 9, 8, 7, 6 };
	static const uint8_t cose_ext[] = { 0xa1, 0x01, 0x02,			      /* {1: 2} */
					    0xa1, 0x6b, 'c', 'r', 'e', 'd', 'P', 'r', 'o', 't', 'e', 'c', 't', 0x01 };
	uint8_t buf[256];
	struct vg_authdata ad;
	struct vg_err err;
	size_t n;

	n = craft_authdata(buf, VG_AD_UP | VG_AD_AT | VG_AD_ED, id, sizeof(id), cose_ext, sizeof(cose_ext));
	assert_int_equal(vg_authdata_parse(buf, n, &ad, &err), 0);
	assert_int_equal(ad.sign_count, 256);
	assert_int_equal(ad.cred_id_len, 4);
	assert_int_equal(ad.cose_key_len, 3);
	assert_int_equal(ad.ext_len, sizeof(cose_ext) - 3);

	/* AT set, nothing follows */
	n = craft_authdata(buf, VG_AD_UP, NULL, 0, NULL, 0);
	buf[32] |= VG_AD_AT;
	expect_reject(vg_authdata_parse(buf, n, &ad, &err), &err, "authdata_malformed", "truncated");
	/* credential id longer than what is left */
	n = craft_authdata(buf, VG_AD_AT, id, sizeof(id), NULL, 0);
	buf[37 + 17] = 200;
	expect_reject(vg_authdata_parse(buf, n, &ad, &err), &err, "authdata_malformed", "credential id length");
	/* credential id of length 0 */
	n = craft_authdata(buf, VG_AD_AT, id, 0, cose_ext, 3);
	expect_reject(vg_authdata_parse(buf, n, &ad, &err), &err, "authdata_malformed", "out of bounds");
	/* public key: truncated map, indefinite length, nesting bomb */
	n = craft_authdata(buf, VG_AD_AT, id, sizeof(id), (const uint8_t[]){ 0xa2, 0x01, 0x02 }, 3);
	expect_reject(vg_authdata_parse(buf, n, &ad, &err), &err, "authdata_malformed", "not well-formed CBOR");
	n = craft_authdata(buf, VG_AD_AT, id, sizeof(id), (const uint8_t[]){ 0xbf, 0x01, 0x02, 0xff }, 4);
	expect_reject(vg_authdata_parse(buf, n, &ad, &err), &err, "authdata_malformed", "not well-formed CBOR");
	{
		uint8_t deep[40];

		memset(deep, 0x81, sizeof(deep)); /* [[[[...]]]] deeper than the limit */
		n = craft_authdata(buf, VG_AD_AT, id, sizeof(id), deep, sizeof(deep));
		expect_reject(vg_authdata_parse(buf, n, &ad, &err), &err, "authdata_malformed", "CBOR");
	}
	/* ED set but the extensions are an array */
	n = craft_authdata(buf, VG_AD_UP | VG_AD_ED, NULL, 0, (const uint8_t[]){ 0x80 }, 1);
	expect_reject(vg_authdata_parse(buf, n, &ad, &err), &err, "authdata_malformed", "extensions");
	/* too long before any parsing */
	expect_reject(vg_authdata_parse(buf, VG_AUTHDATA_MAX + 1, &ad, &err), &err, "authdata_malformed", "expected");
}

static void test_cose_rejections(void **state)
{
	uint8_t k[80];
	struct vg_err err;
	char *pem = NULL;
	int alg;
	static const uint8_t hdr[] = { 0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20 };
	/* a valid P-256 point: the generator */
	static const uint8_t gx[32] = { 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6,
					0xe5, 0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb,
					0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96 };
	static const uint8_t gy[32] = { 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb,
					0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31,
					0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5 };
	size_t n;

	memcpy(k, hdr, sizeof(hdr));
	memcpy(k + 10, gx, 32);
	k[42] = 0x22, k[43] = 0x58, k[44] = 0x20;
	memcpy(k + 45, gy, 32);
	n = 77;
	assert_int_equal(vg_cose_key_to_pem(k, n, &alg, &pem, &err), 0);
	assert_int_equal(alg, VG_COSE_ES256);
	free(pem);

	/* the point moved off the curve */
	k[76] ^= 1;
	expect_reject(vg_cose_key_to_pem(k, n, &alg, &pem, &err), &err, "cose_key_invalid", "parameters are invalid");
	k[76] ^= 1;
	/* P-384 curve id */
	k[6] = 0x02;
	expect_reject(vg_cose_key_to_pem(k, n, &alg, &pem, &err), &err, "cose_key_invalid", "es256");
	k[6] = 0x01;
	/* unsupported algorithm (ES384 = -35): alg -7 (0x26) becomes 0x38 0x22 */
	{
		uint8_t k2[80];

		memcpy(k2, k, 4);
		k2[4] = 0x38;
		k2[5] = 0x22;
		memcpy(k2 + 6, k + 5, n - 5);
		expect_reject(vg_cose_key_to_pem(k2, n + 1, &alg, &pem, &err), &err, "cose_key_invalid",
			      "unsupported key type 2 / algorithm -35");
	}
	/* trailing byte, truncation, not a map, duplicate label */
	k[n] = 0x00;
	expect_reject(vg_cose_key_to_pem(k, n + 1, &alg, &pem, &err), &err, "cose_key_invalid", "COSE_Key");
	expect_reject(vg_cose_key_to_pem(k, n - 1, &alg, &pem, &err), &err, "cose_key_invalid", "well-formed");
	expect_reject(vg_cose_key_to_pem((const uint8_t[]){ 0x80 }, 1, &alg, &pem, &err), &err, "cose_key_invalid",
		      "map");
	expect_reject(vg_cose_key_to_pem((const uint8_t[]){ 0xa3, 0x01, 0x01, 0x01, 0x01, 0x03, 0x27 }, 7, &alg, &pem,
					 &err),
		      &err, "cose_key_invalid", "COSE_Key");
	/* Ed25519 with a short x */
	expect_reject(vg_cose_key_to_pem((const uint8_t[]){ 0xa4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x06, 0x21, 0x41, 0x00 },
					 10, &alg, &pem, &err),
		      &err, "cose_key_invalid", "eddsa");
	/* RSA with a 512-bit modulus */
	{
		uint8_t r[80] = { 0xa4, 0x01, 0x03, 0x03, 0x39, 0x01, 0x00, 0x20, 0x58, 0x40 };

		memset(r + 10, 0xc3, 64);
		r[74] = 0x21, r[75] = 0x43, r[76] = 0x01, r[77] = 0x00, r[78] = 0x01;
		expect_reject(vg_cose_key_to_pem(r, 79, &alg, &pem, &err), &err, "cose_key_invalid", "rs256");
	}
	assert_null(pem);
}

static void test_alg_names(void **state)
{
	int alg = 0;

	assert_int_equal(vg_cose_alg_parse("eddsa", &alg), 0);
	assert_int_equal(alg, VG_COSE_EDDSA);
	assert_int_equal(vg_cose_alg_parse("es384", &alg), -EINVAL);
	assert_string_equal(vg_cose_alg_name(VG_COSE_RS256), "rs256");
	assert_null(vg_cose_alg_name(0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_es256),
		cmocka_unit_test(test_accepts_eddsa),
		cmocka_unit_test(test_accepts_rs256),
		cmocka_unit_test(test_uv_through_pin),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_no_touch_rejected),
		cmocka_unit_test(test_clone_and_wrong_key),
		cmocka_unit_test(test_credential_invalid),
		cmocka_unit_test(test_authdata_parse),
		cmocka_unit_test(test_cose_rejections),
		cmocka_unit_test(test_alg_names),
	};

	fido_init(0);
	return cmocka_run_group_tests(tests, ft_group_setup, ft_group_teardown);
}
