// SPDX-License-Identifier: Apache-2.0
/*
 * Cost of vg_assertion_verify (what vigild spends per step-up on the signature)
 * per algorithm, against a baseline measured in the same run: OpenSSL verifying
 * the same signature with a key parsed once. The ratio is vigil's overhead
 * (PEM parse per call, authenticatorData parse, checks). Assertions come from
 * softfido through real libfido2. Usage: fido_bench STATE_DIR [ITERATIONS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fido.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../tests/softfido/softfido.h"
#include "vigil/assertion.h"

#define RP "vigil.example.com"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct sample {
	uint8_t ad[64], sig[512], cdh[32];
	size_t ad_len, sig_len;
	struct vg_credential cred;
};

static int make_sample(const char *dir, int alg, struct sample *s)
{
	char path[512];
	fido_dev_t *dev = fido_dev_new();
	fido_cred_t *c = fido_cred_new();
	fido_assert_t *a = fido_assert_new();
	const unsigned char uid[4] = { 1 };
	struct vg_authdata ad;
	struct vg_err err;
	const uint8_t *p;
	int r = -1, got;

	snprintf(path, sizeof(path), "%s/key-%d.state", dir, -alg);
	memset(s->cdh, 0x5a, sizeof(s->cdh));
	if (softfido_create(path) < 0 || softfido_open(dev, path) != FIDO_OK || fido_cred_set_type(c, alg) != FIDO_OK ||
	    fido_cred_set_clientdata_hash(c, s->cdh, 32) != FIDO_OK || fido_cred_set_rp(c, RP, NULL) != FIDO_OK ||
	    fido_cred_set_user(c, uid, sizeof(uid), "bench", NULL, NULL) != FIDO_OK ||
	    fido_dev_make_cred(dev, c, NULL) != FIDO_OK)
		goto out;
	if (vg_authdata_parse(fido_cred_authdata_raw_ptr(c), fido_cred_authdata_raw_len(c), &ad, &err) < 0 ||
	    vg_cose_key_to_pem(ad.cose_key, ad.cose_key_len, &got, &s->cred.public_key, &err) < 0)
		goto out;
	s->cred.alg = alg;
	s->cred.id_b64 = (char *)"bench";
	if (fido_assert_set_rp(a, RP) != FIDO_OK || fido_assert_set_clientdata_hash(a, s->cdh, 32) != FIDO_OK ||
	    fido_assert_allow_cred(a, fido_cred_id_ptr(c), fido_cred_id_len(c)) != FIDO_OK ||
	    fido_dev_get_assert(dev, a, NULL) != FIDO_OK)
		goto out;
	/* libfido2 wraps authenticatorData in a CBOR byte string (0x58 LEN) */
	p = fido_assert_authdata_ptr(a, 0);
	s->ad_len = fido_assert_authdata_len(a, 0) - 2;
	s->sig_len = fido_assert_sig_len(a, 0);
	if (p[0] != 0x58 || s->ad_len > sizeof(s->ad) || s->sig_len > sizeof(s->sig))
		goto out;
	memcpy(s->ad, p + 2, s->ad_len);
	memcpy(s->sig, fido_assert_sig_ptr(a, 0), s->sig_len);
	r = 0;
out:
	fido_assert_free(&a);
	fido_cred_free(&c);
	fido_dev_close(dev);
	fido_dev_free(&dev);
	return r;
}

/* the baseline: the signature check alone, key already parsed */
static int raw_verify(EVP_PKEY *k, int alg, const struct sample *s)
{
	uint8_t msg[96];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	memcpy(msg, s->ad, s->ad_len);
	memcpy(msg + s->ad_len, s->cdh, 32);
	ok = EVP_DigestVerifyInit(ctx, NULL, alg == VG_COSE_EDDSA ? NULL : EVP_sha256(), NULL, k) == 1 &&
	     EVP_DigestVerify(ctx, s->sig, s->sig_len, msg, s->ad_len + 32) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

static void report(const char *what, const char *alg, uint64_t *t, int n, double base_p50)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_u64);
	printf("  %-28s p50 %8.1f us  p99 %8.1f us", what, t[n / 2] / 1e3, t[n * 99 / 100] / 1e3);
	if (base_p50 > 0)
		printf("  x%.2f baseline", (double)t[n / 2] / base_p50);
	printf("\n");
	/* machine-readable ratio for make bench-gate (bench/lib.sh) */
	if (base_p50 > 0)
		printf("bench-result: {\"measure\": \"fido.assertion_verify.%s.p50_vs_openssl\", \"value\": %.4f, "
		       "\"better\": \"lower\", \"baseline\": \"OpenSSL signature verify alone\", "
		       "\"reproduce\": \"make bench BENCH=fido\"}\n", alg, (double)t[n / 2] / base_p50);
}

int main(int argc, char **argv)
{
	static const int algs[] = { VG_COSE_ES256, VG_COSE_EDDSA, VG_COSE_RS256 };
	int n = argc > 2 ? atoi(argv[2]) : 2000;
	uint64_t *t = calloc((size_t)(n > 0 ? n : 1), sizeof(*t));

	if (argc < 2 || n < 100 || !t) {
		fprintf(stderr, "usage: fido_bench STATE_DIR [ITERATIONS>=100]\n");
		return 2;
	}
	fido_init(0);
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		struct sample s = { 0 };
		struct vg_err err;
		uint32_t counter;
		BIO *bio;
		EVP_PKEY *k;
		double base;

		if (make_sample(argv[1], algs[i], &s) < 0) {
			fprintf(stderr, "fido_bench: cannot make a %s assertion with softfido\n",
				vg_cose_alg_name(algs[i]));
			return 1;
		}
		bio = BIO_new_mem_buf(s.cred.public_key, -1);
		k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		BIO_free(bio);
		printf("%s (%d iterations):\n", vg_cose_alg_name(algs[i]), n);
		for (int j = 0; j < n; j++) {
			uint64_t t0 = now_ns();

			if (raw_verify(k, algs[i], &s) < 0)
				return 1;
			t[j] = now_ns() - t0;
		}
		report("baseline: OpenSSL verify", vg_cose_alg_name(algs[i]), t, n, 0);
		base = (double)t[n / 2];
		for (int j = 0; j < n; j++) {
			uint64_t t0 = now_ns();

			if (vg_assertion_verify(&s.cred, RP, s.cdh, s.ad, s.ad_len, s.sig, s.sig_len, false, 0, &counter,
						&err) < 0) {
				fprintf(stderr, "fido_bench: %s\n", err.msg);
				return 1;
			}
			t[j] = now_ns() - t0;
		}
		report("vg_assertion_verify", vg_cose_alg_name(algs[i]), t, n, base);
		EVP_PKEY_free(k);
		free(s.cred.public_key);
	}
	free(t);
	return 0;
}
