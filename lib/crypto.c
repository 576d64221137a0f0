/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "vigil/crypto.h"
#include "vigil/util.h"

const char *vg_key_alg(EVP_PKEY *key)
{
	if (EVP_PKEY_is_a(key, "ED25519"))
		return "ed25519";
	if (EVP_PKEY_is_a(key, "EC")) {
		char group[64];
		size_t len = 0;

		if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &len) == 1 &&
		    !strcmp(group, "prime256v1"))
			return "ecdsa-p256";
	}
	return NULL;
}

/* DER SubjectPublicKeyInfo prefixes: Ed25519, and P-256 with an uncompressed point (04 || X || Y) */
static const uint8_t spki_ed25519[] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00 };
static const uint8_t spki_p256[] = { 0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
				     0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
				     0x07, 0x03, 0x42, 0x00, 0x04 };

int vg_key_canonical(EVP_PKEY *key, uint8_t out[VG_KEY_CANONICAL_MAX], size_t *len)
{
	const char *alg = vg_key_alg(key);
	BIGNUM *x = NULL, *y = NULL;
	size_t n = 32;
	int r = -EINVAL;

	if (alg && !strcmp(alg, "ed25519")) {
		memcpy(out, spki_ed25519, sizeof(spki_ed25519));
		if (EVP_PKEY_get_raw_public_key(key, out + sizeof(spki_ed25519), &n) == 1 && n == 32) {
			*len = sizeof(spki_ed25519) + 32;
			r = 0;
		}
	} else if (alg && !strcmp(alg, "ecdsa-p256")) {
		/* the point, whatever encoding (compressed, uncompressed, hybrid) it arrived in */
		memcpy(out, spki_p256, sizeof(spki_p256));
		if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
		    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
		    BN_bn2binpad(x, out + sizeof(spki_p256), 32) == 32 &&
		    BN_bn2binpad(y, out + sizeof(spki_p256) + 32, 32) == 32) {
			*len = sizeof(spki_p256) + 64;
			r = 0;
		}
	}
	BN_free(x);
	BN_free(y);
	ERR_clear_error();
	return r;
}

int vg_key_id(EVP_PKEY *key, char out[17])
{
	uint8_t der[VG_KEY_CANONICAL_MAX];
	char hex[65];
	size_t len;
	int r = vg_key_canonical(key, der, &len);

	if (r < 0)
		return r;
	vg_sha256_hex(der, len, hex);
	memcpy(out, hex, 16);
	out[16] = '\0';
	return 0;
}

int vg_key_generate(const char *alg, EVP_PKEY **out, struct vg_err *err)
{
	EVP_PKEY *k = NULL;

	if (!strcmp(alg, "ed25519"))
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else if (!strcmp(alg, "ecdsa-p256"))
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else
		return vg_err_set(err, EINVAL, "bad_algorithm", NULL,
				  "unknown key algorithm \"%s\": use ed25519 or ecdsa-p256", alg);
	if (!k)
		return vg_err_set(err, EIO, "keygen_failed", NULL, "key generation failed in OpenSSL");
	*out = k;
	return 0;
}

EVP_PKEY *vg_key_from_pem(const char *pem, bool private_key)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k;

	if (!bio)
		return NULL;
	k = private_key ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (k && !vg_key_alg(k)) {
		EVP_PKEY_free(k);
		return NULL;
	}
	/* whatever point encoding came in, the key is written back out uncompressed */
	if (k && EVP_PKEY_is_a(k, "EC"))
		EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "uncompressed");
	ERR_clear_error();
	return k;
}

int vg_key_load_private(const char *path, EVP_PKEY **out, struct vg_err *err)
{
	char *pem = NULL;
	int r = vg_read_file(path, 64 << 10, &pem, NULL);

	if (r < 0)
		return vg_err_set(err, -r, "key_unreadable", path, "cannot read the private key: %s", strerror(-r));
	*out = vg_key_from_pem(pem, true);
	OPENSSL_cleanse(pem, strlen(pem));
	free(pem);
	if (!*out)
		return vg_err_set(err, EINVAL, "key_invalid", path,
				  "not a PEM Ed25519 or ECDSA P-256 private key (make one with: vigilctl keygen)");
	return 0;
}

static char *bio_to_string(BIO *bio)
{
	char *data = NULL, *s;
	long n = BIO_get_mem_data(bio, &data);

	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	return s;
}

char *vg_key_public_pem(EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL;

	if (bio && PEM_write_bio_PUBKEY(bio, key) == 1)
		s = bio_to_string(bio);
	BIO_free(bio);
	return s;
}

char *vg_key_private_pem(EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	char *s = NULL;

	if (bio && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1)
		s = bio_to_string(bio);
	BIO_free(bio);
	return s;
}

/* Ed25519 signs the message itself; ECDSA P-256 signs its SHA-256. */
static const EVP_MD *md_for(EVP_PKEY *key)
{
	return EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256();
}

int vg_signer_sign(struct vg_signer *s, const void *data, size_t len, uint8_t **sig, size_t *siglen)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	int r = -EIO;

	/* a kept context is set up again in place (all arguments NULL), which allocates nothing */
	if (s->ctx && EVP_DigestSignInit(s->ctx, NULL, NULL, NULL, NULL) != 1)
		vg_signer_clear(s);
	if (!s->ctx) {
		if (!(s->ctx = EVP_MD_CTX_new()))
			return -ENOMEM;
		if (EVP_DigestSignInit(s->ctx, NULL, md_for(s->key), NULL, s->key) != 1)
			goto out;
	}
	if (EVP_DigestSign(s->ctx, NULL, &n, data, len) != 1)
		goto out;
	buf = malloc(n);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_DigestSign(s->ctx, buf, &n, data, len) != 1)
		goto out;
	*sig = buf;
	*siglen = n;
	buf = NULL;
	r = 0;
out:
	free(buf);
	if (r < 0)
		vg_signer_clear(s);
	ERR_clear_error();
	return r;
}

void vg_signer_clear(struct vg_signer *s)
{
	EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}

int vg_sign(EVP_PKEY *key, const void *data, size_t len, uint8_t **sig, size_t *siglen)
{
	struct vg_signer s = { .key = key };
	int r = vg_signer_sign(&s, data, len, sig, siglen);

	vg_signer_clear(&s);
	return r;
}

int vg_verify(EVP_PKEY *key, const void *data, size_t len, const uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int r = -EBADMSG;

	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestVerifyInit(ctx, NULL, md_for(key), NULL, key) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, data, len) == 1)
		r = 0;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return r;
}
