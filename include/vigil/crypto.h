/* SPDX-License-Identifier: Apache-2.0 */
/* Signatures over exact bytes: Ed25519 and ECDSA P-256 (SHA-256), keys as PEM. */
#ifndef VIGIL_CRYPTO_H
#define VIGIL_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "vigil/err.h"

/* "ed25519" or "ecdsa-p256" for key; NULL for anything else */
const char *vg_key_alg(EVP_PKEY *key);
/* A public key in its one canonical form: DER SubjectPublicKeyInfo, EC point uncompressed.
 * Two encodings of one key (compressed, uncompressed, hybrid) give the same bytes. */
#define VG_KEY_CANONICAL_MAX 96
int vg_key_canonical(EVP_PKEY *key, uint8_t out[VG_KEY_CANONICAL_MAX], size_t *len);
/* key id: first 16 hex chars of sha256(vg_key_canonical): one key, one id */
int vg_key_id(EVP_PKEY *key, char out[17]);
int vg_key_generate(const char *alg, EVP_PKEY **out, struct vg_err *err);
EVP_PKEY *vg_key_from_pem(const char *pem, bool private_key);
int vg_key_load_private(const char *path, EVP_PKEY **out, struct vg_err *err);
char *vg_key_public_pem(EVP_PKEY *key);
char *vg_key_private_pem(EVP_PKEY *key);
int vg_sign(EVP_PKEY *key, const void *data, size_t len, uint8_t **sig, size_t *siglen);
/* Signing again and again with one key: the context is kept between signatures (a new one
 * costs a 3 KiB allocation, which makes glibc consolidate every small chunk freed since). */
struct vg_signer {
	EVP_PKEY *key; /* borrowed */
	EVP_MD_CTX *ctx;
};
int vg_signer_sign(struct vg_signer *s, const void *data, size_t len, uint8_t **sig, size_t *siglen);
void vg_signer_clear(struct vg_signer *s);
/* 0 if valid, -EBADMSG if not */
int vg_verify(EVP_PKEY *key, const void *data, size_t len, const uint8_t *sig, size_t siglen);

#endif
