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

/* What a compact relay answer is rebuilt and verified against: the challenge as vigild
 * issued it and the bundle. */
struct vg_relay_verify {
	const struct vg_relay_challenge *challenge;
	const char *rp_id;
	char *const *origins;
	size_t norigins;
	bool require_uv;
	const struct vg_user *user; /* the user's enrolled credentials */
};

/* The assertion an answer stands for: what elevation.assert and vg_assertion_verify check. */
struct vg_relay_assertion {
	const struct vg_credential *cred; /* points into vg_relay_verify.user */
	uint8_t auth_data[37 + VG_RELAY_EXT_MAX];
	size_t auth_data_len;
	char client_data[VG_RELAY_CLIENT_DATA_MAX + 1]; /* webauthn only, NUL-terminated */
	size_t client_data_len;
};

/*
 * Rebuild the assertion from what vigild knows (docs/remote-stepup.md), in this order:
 * the challenge tag (answer_other_challenge), the credential among the user's by its tag
 * (credential_not_enrolled, credential_ambiguous), for webauthn the origin among the allowed
 * by its tag (origin_not_allowed, origin_ambiguous) and clientDataJSON; authenticatorData
 * with the bundle's rpIdHash. Nothing here proves anything: the signature does.
 */
int vg_relay_answer_expand(const struct vg_relay_answer *a, const struct vg_relay_verify *v,
			   struct vg_relay_assertion *out, struct vg_err *err);
/* For webauthn, clientDataJSON with vg_webauthn_check_client_data(); then the signature,
 * UP, UV and counter with vg_assertion_verify() (their err codes). vigild runs the same
 * checks in elevation.assert; this is the verifier without vigild (tests, benchmarks). */
int vg_relay_answer_verify_sig(const struct vg_relay_answer *a, const struct vg_relay_verify *v,
			       const struct vg_relay_assertion *as, uint32_t prev_counter, uint32_t *new_counter,
			       struct vg_err *err);

#endif
