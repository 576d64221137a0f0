/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WebAuthn data from a browser and the verification of remote step-up answers
 * (docs/remote-stepup.md). Pure: bytes in, verdict out. clientDataJSON and
 * attestationObject come from a user's paste, so their parsers are bounded and
 * fuzzed (fuzz/fuzz_webauthn.c). Signatures are checked by lib/assertion.c.
 */
#ifndef VIGIL_WEBAUTHN_H
#define VIGIL_WEBAUTHN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/bundle.h"
#include "vigil/err.h"
#include "vigil/relay.h"

#define VG_WEBAUTHN_ATTESTATION_MAX 8192
#define VG_WEBAUTHN_CRED_ID_MAX 1023 /* CTAP2 credential id limit */
#define VG_WEBAUTHN_CRED_ID_B64_MAX 1364

struct vg_webauthn_expect {
	const char *type;	  /* "webauthn.get" or "webauthn.create" */
	const uint8_t *challenge; /* NULL: any challenge (enrollment from the static page) */
	size_t challenge_len;
	char *const *origins; /* the bundle's elevation.origins; exact match */
	size_t norigins;
};

/* clientDataJSON: a JSON object, type as expected, challenge (base64url) equal to the
 * expected bytes, origin among the allowed, crossOrigin absent or false, no topOrigin.
 * err->code: client_data_malformed, client_data_wrong_type, client_data_wrong_challenge,
 * origin_not_allowed, cross_origin. */
int vg_webauthn_check_client_data(const char *cdj, size_t len, const struct vg_webauthn_expect *e,
				  struct vg_err *err);

/* A credential enrolled from a browser: the identity snippet of the bundle. */
struct vg_webauthn_enrollment {
	char fmt[16];	  /* "none" or "packed" (self attestation) */
	char id_b64[VG_WEBAUTHN_CRED_ID_B64_MAX + 1];
	int alg;	  /* enum vg_cose_alg */
	char *public_key; /* PEM, malloc'd */
	bool uv;
	uint32_t sign_count;
};

/* Enrollment: attestationObject (CBOR {fmt, attStmt, authData}) + clientDataJSON of
 * navigator.credentials.create. Checks type webauthn.create, origin, rpIdHash of rp_id,
 * user presence, attested credential data, and for "packed" the self-attestation signature
 * with the new credential's key. err->code: attestation_malformed, attestation_unsupported,
 * attestation_invalid, or one of the client data / assertion codes. */
int vg_webauthn_enroll(const uint8_t *att, size_t att_len, const char *cdj, size_t cdj_len, const char *rp_id,
		       char *const *origins, size_t norigins, struct vg_webauthn_enrollment *out,
		       struct vg_err *err);
void vg_webauthn_enrollment_free(struct vg_webauthn_enrollment *e);
/* {"id": ..., "alg": "es256", "public_key": PEM, "uv": bool}, as identity.users[].credentials[] */
char *vg_webauthn_enrollment_snippet(const struct vg_webauthn_enrollment *e);

/* What a relay answer is verified against: the challenge expectations and the bundle. */
struct vg_relay_verify {
	struct vg_relay_expect expect;
	const char *rp_id;
	char *const *origins;
	size_t norigins;
	bool require_uv;
	const struct vg_user *user; /* the user's enrolled credentials */
};

/*
 * Everything but the signature, in this order: the challenge (host, MAC, user, service,
 * expiry), the challenge's rp_id, for webauthn the clientDataJSON (type webauthn.get,
 * challenge hash, origin), then the credential among the user's (code
 * credential_not_enrolled). On success *cred points into v->user.
 */
int vg_relay_answer_check(const struct vg_relay_answer *a, const struct vg_relay_verify *v,
			  const struct vg_credential **cred, struct vg_err *err);
/* The signature and counter with vg_assertion_verify() (its err codes). The caller marks the
 * challenge used before calling, so a refused answer cannot be retried either. */
int vg_relay_answer_verify_sig(const struct vg_relay_answer *a, const struct vg_relay_verify *v,
			       const struct vg_credential *cred, uint32_t prev_counter, uint32_t *new_counter,
			       struct vg_err *err);

#endif
