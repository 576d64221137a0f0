/* SPDX-License-Identifier: Apache-2.0 */
/*
 * FIDO2/WebAuthn assertion verification (pure: bytes in, verdict out) and the
 * COSE_Key -> PEM conversion used at enrollment. Every input here comes from a
 * security key or a user's paste, so the parsers are bounded and fuzzed
 * (fuzz/fuzz_assertion.c). Rules and reason codes: docs/fido2.md.
 */
#ifndef VIGIL_ASSERTION_H
#define VIGIL_ASSERTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/bundle.h"
#include "vigil/err.h"

/* authenticatorData flags (WebAuthn §6.1) */
#define VG_AD_UP 0x01 /* user present */
#define VG_AD_UV 0x04 /* user verified */
#define VG_AD_AT 0x40 /* attested credential data follows */
#define VG_AD_ED 0x80 /* extensions follow */

#define VG_AUTHDATA_MIN 37	   /* rpIdHash(32) flags(1) signCount(4) */
#define VG_AUTHDATA_MAX 4096	   /* larger is refused before parsing */
#define VG_CRED_ID_MAX 1023	   /* CTAP2 credential id limit */

/* A parsed authenticatorData. Pointers point into the caller's buffer. */
struct vg_authdata {
	uint8_t rp_id_hash[32];
	uint8_t flags;
	uint32_t sign_count;
	/* present when flags & VG_AD_AT (makeCredential) */
	uint8_t aaguid[16];
	const uint8_t *cred_id;
	size_t cred_id_len;
	const uint8_t *cose_key; /* one CBOR map, exactly its bytes */
	size_t cose_key_len;
	/* present when flags & VG_AD_ED */
	const uint8_t *ext;
	size_t ext_len;
};

/* Parse authenticatorData; trailing bytes, truncation and malformed CBOR are errors
 * (err->code "authdata_malformed"). */
int vg_authdata_parse(const uint8_t *buf, size_t len, struct vg_authdata *out, struct vg_err *err);

/*
 * Verify one assertion against an enrolled credential:
 *   rpIdHash == sha256(rp_id), UP set, UV set when require_uv (or cred->uv),
 *   signature over auth_data ‖ client_data_hash (32 bytes) with cred->public_key,
 *   signCount > prev_counter (both zero: the authenticator keeps no counter, accepted).
 * Returns 0 and *new_counter = the assertion's signCount, or -EBADMSG / -EPERM / -EINVAL
 * with err->code one of: authdata_malformed, rp_id_mismatch, user_not_present,
 * user_not_verified, signature_invalid, counter_not_increased, credential_invalid.
 */
int vg_assertion_verify(const struct vg_credential *cred, const char *rp_id,
			const uint8_t *client_data_hash, const uint8_t *auth_data, size_t auth_data_len,
			const uint8_t *sig, size_t sig_len, bool require_uv, uint32_t prev_counter,
			uint32_t *new_counter, struct vg_err *err);

/* The enrolled key is usable: cred->public_key is a PEM SubjectPublicKeyInfo of cred->alg's
 * type (P-256 for es256, Ed25519 for eddsa, RSA 2048..8192 bits for rs256). For the bundle
 * validator, so a bad key is refused at load time rather than at the first step-up.
 * err->code "credential_invalid". */
int vg_credential_check(const struct vg_credential *cred, struct vg_err *err);

/* COSE_Key (CBOR map: EC2 P-256 / OKP Ed25519 / RSA) -> PEM SubjectPublicKeyInfo (malloc'd)
 * and its COSE algorithm (enum vg_cose_alg). err->code "cose_key_invalid" on refusal. */
int vg_cose_key_to_pem(const uint8_t *cose, size_t len, int *alg, char **pem, struct vg_err *err);

/* "es256" | "eddsa" | "rs256" <-> enum vg_cose_alg; NULL / -EINVAL for anything else */
const char *vg_cose_alg_name(int alg);
int vg_cose_alg_parse(const char *name, int *alg);

#endif
