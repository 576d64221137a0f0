/* SPDX-License-Identifier: Apache-2.0 */
/* A software ES256 "security key" for the relay and WebAuthn unit tests: real keys,
 * real authenticatorData and real signatures made with OpenSSL. */
#ifndef VIGIL_TEST_RELAY_FIXTURE_H
#define VIGIL_TEST_RELAY_FIXTURE_H

#include <string.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "vigil/assertion.h"
#include "vigil/relay.h"
#include "vigil/util.h"

struct fx_key {
	EVP_PKEY *pkey;
	char *pem;
	uint8_t cred_id[16];
	char cred_id_b64[32];
	struct vg_credential cred;
	uint32_t counter;
};

/* A key of alg (VG_COSE_ES256, VG_COSE_EDDSA, VG_COSE_RS256 with rsa_bits). */
static inline void fx_key_init_alg(struct fx_key *k, uint8_t id_byte, int alg, size_t rsa_bits)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	char *b64;

	memset(k, 0, sizeof(*k));
	if (alg == VG_COSE_EDDSA)
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else if (alg == VG_COSE_RS256)
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", rsa_bits);
	else
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	PEM_write_bio_PUBKEY(bio, k->pkey);
	n = BIO_get_mem_data(bio, &data);
	k->pem = strndup(data, (size_t)n);
	BIO_free(bio);
	memset(k->cred_id, id_byte, sizeof(k->cred_id));
	b64 = vg_b64_encode(k->cred_id, sizeof(k->cred_id), true);
	snprintf(k->cred_id_b64, sizeof(k->cred_id_b64), "%s", b64);
	free(b64);
	k->cred.id_b64 = k->cred_id_b64;
	k->cred.id = k->cred_id;
	k->cred.id_len = sizeof(k->cred_id);
	k->cred.alg = alg;
	k->cred.public_key = k->pem;
}

static inline void fx_key_init(struct fx_key *k, uint8_t id_byte)
{
	fx_key_init_alg(k, id_byte, VG_COSE_ES256, 0);
}

static inline void fx_key_free(struct fx_key *k)
{
	EVP_PKEY_free(k->pkey);
	free(k->pem);
}

/* COSE_Key of the public key (EC2, P-256, ES256): 77 bytes */
static inline size_t fx_cose(const struct fx_key *k, uint8_t *out)
{
	uint8_t pt[65];
	size_t len = 0, o = 0;
	static const uint8_t head[] = { 0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20 };

	EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &len);
	memcpy(out, head, sizeof(head));
	o = sizeof(head);
	memcpy(out + o, pt + 1, 32);
	o += 32;
	out[o++] = 0x22;
	out[o++] = 0x58;
	out[o++] = 0x20;
	memcpy(out + o, pt + 33, 32);
	return o + 32;
}

/* authenticatorData for rp_id; with attested credential data when attested */
static inline size_t fx_authdata(const struct fx_key *k, const char *rp_id, uint8_t flags, uint32_t counter,
				 bool attested, uint8_t *out)
{
	size_t o = 32;

	vg_sha256(rp_id, strlen(rp_id), out);
	out[o++] = flags | (attested ? VG_AD_AT : 0);
	out[o++] = (uint8_t)(counter >> 24);
	out[o++] = (uint8_t)(counter >> 16);
	out[o++] = (uint8_t)(counter >> 8);
	out[o++] = (uint8_t)counter;
	if (attested) {
		memset(out + o, 0, 16); /* aaguid */
		o += 16;
		out[o++] = 0;
		out[o++] = sizeof(k->cred_id);
		memcpy(out + o, k->cred_id, sizeof(k->cred_id));
		o += sizeof(k->cred_id);
		o += fx_cose(k, out + o);
	}
	return o;
}

/* The key's signature over auth_data ‖ cdh: ECDSA-SHA256 (DER), Ed25519 or RSA PKCS#1 v1.5 SHA-256 */
static inline size_t fx_sign(const struct fx_key *k, const uint8_t *ad, size_t ad_len, const uint8_t cdh[32],
			     uint8_t *sig, size_t cap)
{
	uint8_t msg[1024 + 32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t len = cap;

	memcpy(msg, ad, ad_len);
	memcpy(msg + ad_len, cdh, 32);
	EVP_DigestSignInit(ctx, NULL, EVP_PKEY_is_a(k->pkey, "ED25519") ? NULL : EVP_sha256(), NULL, k->pkey);
	EVP_DigestSign(ctx, sig, &len, msg, ad_len + 32);
	EVP_MD_CTX_free(ctx);
	return len;
}

#endif
