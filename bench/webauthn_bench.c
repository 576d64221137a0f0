/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remote step-up verification cost: what is spent on one pasted answer (decode the code
 * and recompute its hash, decode the answer, rebuild authenticatorData and clientDataJSON,
 * check clientDataJSON, then the signature) against the signature check alone
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
	static char *origins[] = { "https://vigil.example.com" };
	long n = argc > 1 ? atol(argv[1]) : 2000;
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	BIO *bio = BIO_new(BIO_s_mem());
	struct vg_credential cred = { .alg = VG_COSE_ES256 };
	struct vg_user user = { .name = "alice", .ncreds = 1, .creds = &cred };
	struct vg_relay_challenge *c = calloc(1, sizeof(*c));
	struct vg_relay_answer *a = calloc(1, sizeof(*a)), *d = calloc(1, sizeof(*d));
	struct vg_relay_assertion *as = calloc(1, sizeof(*as));
	struct vg_relay_verify v = { .challenge = c, .rp_id = "vigil.example.com", .origins = origins, .norigins = 1,
				     .user = &user };
	struct vg_err err;
	char *pem, *chal, *code = NULL, *ccode = NULL, cdj[512];
	uint8_t ad[37], cdh[32];
	long len;

	PEM_write_bio_PUBKEY(bio, k);
	len = BIO_get_mem_data(bio, &pem);
	cred.public_key = strndup(pem, (size_t)len);
	cred.id = (uint8_t *)"0123456789abcdef";
	cred.id_len = 16;
	cred.id_b64 = "MDEyMzQ1Njc4OWFiY2RlZg";

	c->expires = time(NULL) + 3600;
	strcpy(c->user, "alice");
	strcpy(c->host, "web-1");
	strcpy(c->service, "sudo");
	strcpy(c->rp_id, "vigil.example.com");
	strcpy(c->reason, "CHG-1234 restart nginx");
	c->ncreds = 1;
	c->creds[0].len = 16;
	memcpy(c->creds[0].id, cred.id, 16);
	vg_relay_challenge_encode(c, &ccode, &err);
	a->kind = VG_RELAY_WEBAUTHN;
	memcpy(a->challenge_tag, c->nonce, VG_RELAY_TAG_LEN);
	vg_relay_tag(cred.id, cred.id_len, a->cred_tag);
	vg_relay_tag(origins[0], strlen(origins[0]), a->origin_tag);
	vg_sha256("vigil.example.com", 17, ad);
	ad[32] = a->flags = VG_AD_UP;
	memset(ad + 33, 0, 4);
	chal = vg_b64_encode(c->hash, 32, true);
	snprintf(cdj, sizeof(cdj), "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\"%s", chal, origins[0],
		 vg_relay_cd_tails[0]);
	vg_sha256(cdj, strlen(cdj), cdh);
	a->sig_len = sign(k, ad, sizeof(ad), cdh, a->sig);
	if (vg_relay_answer_encode(a, &code, &err) < 0)
		return fprintf(stderr, "encode: %s\n", err.msg), 1;

	/* interleaved, so a load change on the machine hits both sides alike */
	double base = 0, relay = 0;
	for (long i = 0; i < n; i++) {
		double t0 = now_s();

		if (vg_assertion_verify(&cred, "vigil.example.com", cdh, ad, sizeof(ad), a->sig, a->sig_len, false, 0,
					NULL, &err) < 0)
			return fprintf(stderr, "baseline refused: %s\n", err.msg), 1; /* exits: no cleanup */
		double t1 = now_s();

		if (vg_relay_challenge_decode(ccode, c, &err) < 0 || vg_relay_answer_decode(code, d, &err) < 0 ||
		    vg_relay_answer_expand(d, &v, as, &err) < 0 || vg_relay_answer_verify_sig(d, &v, as, 0, NULL, &err) < 0)
			return fprintf(stderr, "relay refused: %s\n", err.msg), 1;
		base += t1 - t0;
		relay += now_s() - t1;
	}
	base /= (double)n;
	relay /= (double)n;

	printf("answer: %zu characters (webauthn, es256)\n", strlen(code));
	printf("signature check alone (baseline): %8.1f us/answer\n", base * 1e6);
	printf("full relay answer verification:   %8.1f us/answer  ratio %.2fx\n", relay * 1e6, relay / base);
	printf("bench-result: {\"measure\": \"webauthn.relay_answer_verify_vs_signature\", \"value\": %.4f, "
	       "\"better\": \"lower\", \"baseline\": \"signature check alone\", "
	       "\"reproduce\": \"make bench BENCH=webauthn\"}\n", relay / base);
	free(chal);
	free(code);
	free(ccode);
	free(cred.public_key);
	free(c);
	free(a);
	free(d);
	free(as);
	BIO_free(bio);
	EVP_PKEY_free(k);
	return 0;
}
