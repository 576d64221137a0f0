/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remote step-up verification cost: what vigild spends on one pasted answer (decode the
 * code, check the challenge MAC/host/user/expiry, for WebAuthn parse and check
 * clientDataJSON, then the signature) against the signature check alone
 * (vg_assertion_verify on the same bytes), measured in the same run.
 * usage: webauthn_bench ITERATIONS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "vigil/assertion.h"
#include "vigil/relay.h"
#include "vigil/util.h"
#include "vigil/webauthn.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t sign(EVP_PKEY *k, const uint8_t *ad, size_t ad_len, const uint8_t *cdh, uint8_t *sig)
{
	uint8_t msg[256];
	size_t len = 128;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	memcpy(msg, ad, ad_len);
	memcpy(msg + ad_len, cdh, 32);
	EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k);
	EVP_DigestSign(ctx, sig, &len, msg, ad_len + 32);
	EVP_MD_CTX_free(ctx);
	return len;
}

int main(int argc, char **argv)
{
	static uint8_t key[VG_RELAY_KEY_LEN] = { 1 };
	static char *origins[] = { "https://vigil.example.com" };
	long n = argc > 1 ? atol(argv[1]) : 2000;
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	BIO *bio = BIO_new(BIO_s_mem());
	struct vg_credential cred = { .alg = VG_COSE_ES256 };
	struct vg_user user = { .name = "alice", .ncreds = 1, .creds = &cred };
	struct vg_relay_answer *a = calloc(1, sizeof(*a)), *d = calloc(1, sizeof(*d));
	struct vg_relay_verify v = { .expect = { .key = key, .host = "web-1", .user = "alice", .service = "sudo" },
				     .rp_id = "vigil.example.com", .origins = origins, .norigins = 1, .user = &user };
	struct vg_err err;
	char *pem, *chal, *code;
	long len;

	PEM_write_bio_PUBKEY(bio, k);
	len = BIO_get_mem_data(bio, &pem);
	cred.public_key = strndup(pem, (size_t)len);
	cred.id = (uint8_t *)"0123456789abcdef";
	cred.id_len = 16;
	cred.id_b64 = "MDEyMzQ1Njc4OWFiY2RlZg";
	v.expect.now = time(NULL);

	a->challenge.expires = time(NULL) + 3600;
	strcpy(a->challenge.user, "alice");
	strcpy(a->challenge.host, "web-1");
	strcpy(a->challenge.service, "sudo");
	strcpy(a->challenge.rp_id, "vigil.example.com");
	strcpy(a->challenge.reason, "CHG-1234 restart nginx");
	memset(a->challenge.cdh, 0x42, 32);
	a->challenge.ncreds = 1;
	a->challenge.creds[0].len = 16;
	memcpy(a->challenge.creds[0].id, cred.id, 16);
	vg_relay_challenge_seal(&a->challenge, key, &err);
	a->kind = VG_RELAY_WEBAUTHN;
	memcpy(a->cred_id, cred.id, 16);
	a->cred_id_len = 16;
	vg_sha256("vigil.example.com", 17, a->auth_data);
	a->auth_data[32] = VG_AD_UP;
	a->auth_data_len = 37;
	chal = vg_b64_encode(a->challenge.cdh, 32, true);
	a->client_data_len = (size_t)snprintf(a->client_data, sizeof(a->client_data),
					      "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":"
					      "\"https://vigil.example.com\",\"crossOrigin\":false}",
					      chal);
	{
		uint8_t cdh[32];

		vg_sha256(a->client_data, a->client_data_len, cdh);
		a->sig_len = sign(k, a->auth_data, a->auth_data_len, cdh, a->sig);
		code = vg_relay_answer_encode(a);

		double t0 = now_s();
		for (long i = 0; i < n; i++)
			if (vg_assertion_verify(&cred, "vigil.example.com", cdh, a->auth_data, a->auth_data_len, a->sig,
						a->sig_len, false, 0, NULL, &err) < 0)
				return fprintf(stderr, "baseline refused: %s\n", err.msg), 1; /* exits: no cleanup */
		double base = (now_s() - t0) / (double)n;

		t0 = now_s();
		for (long i = 0; i < n; i++) {
			const struct vg_credential *c;

			if (vg_relay_answer_decode(code, d, &err) < 0 || vg_relay_answer_check(d, &v, &c, &err) < 0 ||
			    vg_relay_answer_verify_sig(d, &v, c, 0, NULL, &err) < 0)
				return fprintf(stderr, "relay refused: %s\n", err.msg), 1;
		}
		double relay = (now_s() - t0) / (double)n;

		printf("answer: %zu characters (webauthn, es256)\n", strlen(code));
		printf("signature check alone (baseline): %8.1f us/answer\n", base * 1e6);
		printf("full relay answer verification:   %8.1f us/answer  ratio %.2fx\n", relay * 1e6,
		       relay / base);
		printf("bench-result: {\"measure\": \"webauthn.relay_answer_verify_vs_signature\", \"value\": %.4f, "
		       "\"better\": \"lower\", \"baseline\": \"signature check alone\", "
		       "\"reproduce\": \"make bench BENCH=webauthn\"}\n", relay / base);
	}
	free(chal);
	free(code);
	free(cred.public_key);
	free(a);
	free(d);
	BIO_free(bio);
	EVP_PKEY_free(k);
	return 0;
}
