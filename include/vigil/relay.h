/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remote step-up codes (docs/remote-stepup.md): the challenge vigild shows in
 * an SSH session and the answer the administrator pastes back after signing
 * it on a workstation (vigil-stepup or the WebAuthn page). Pure encoders and
 * bounded parsers: every byte of an answer comes from a user's paste.
 *
 * Challenge (binary, then base64url without padding = the "code"):
 *   "VC" 0x01 | flags u8 | expires u32be | nonce[16] | cdh[32] |
 *   user, host, service, rp_id, reason: str8 (u8 length + bytes) |
 *   ncreds u8 (<= 4), each str8 (credential id) | mac[16]
 * mac = first 16 bytes of HMAC-SHA256(vigild's key, all bytes before it).
 * nonce is the id of vigild's step-up challenge (elevation.challenge) and cdh
 * its client data hash: what the key signs. It is the CTAP clientDataHash for
 * vigil-stepup and the WebAuthn challenge for the page, whose signature then
 * covers SHA-256(clientDataJSON) as WebAuthn defines.
 *
 * Enrollment code (printed by the enrollment page, read by vigil-stepup enroll-check):
 *   "VE" 0x01 | attestationObject: u16be length + bytes | clientDataJSON: u16be length + bytes
 *
 * Answer (binary, then base64url):
 *   "VA" 0x01 | kind u8 (1 ctap, 2 webauthn) | challenge: u16be length + bytes |
 *   credential id: u16be + bytes | authenticatorData: u16be + bytes |
 *   signature: u16be + bytes | clientDataJSON: u16be + bytes (webauthn only)
 */
#ifndef VIGIL_RELAY_H
#define VIGIL_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "vigil/err.h"

#define VG_RELAY_VERSION 1
#define VG_RELAY_NONCE_LEN 16
#define VG_RELAY_MAC_LEN 16
#define VG_RELAY_KEY_LEN 32
#define VG_RELAY_MAX_CREDS 4
#define VG_RELAY_USER_MAX 32
#define VG_RELAY_HOST_MAX 253
#define VG_RELAY_SERVICE_MAX 32
#define VG_RELAY_RP_ID_MAX 253
#define VG_RELAY_REASON_MAX 200
#define VG_RELAY_CRED_ID_MAX 255
#define VG_RELAY_CHALLENGE_MAX 2048 /* binary bytes, fits every field at its maximum (1872) */
#define VG_RELAY_AUTHDATA_MAX 512
#define VG_RELAY_SIG_MAX 512
#define VG_RELAY_CLIENT_DATA_MAX 1024
/* sudo hands a PAM conversation reply of at most 1023 characters: tools warn above it */
#define VG_RELAY_ANSWER_SUDO_MAX 1023
#define VG_RELAY_TEXT_MAX 8192 /* longest paste accepted before decoding (code, URL, answer, enrollment) */
#define VG_RELAY_ATTESTATION_MAX 4096

enum vg_relay_flag {
	VG_RELAY_F_UV = 0x01, /* user verification required */
};

enum vg_relay_kind {
	VG_RELAY_CTAP = 1,     /* vigil-stepup: clientDataHash = cdh */
	VG_RELAY_WEBAUTHN = 2, /* browser: clientDataJSON.challenge = base64url(cdh) */
};

struct vg_relay_cred {
	uint8_t len;
	uint8_t id[VG_RELAY_CRED_ID_MAX];
};

struct vg_relay_challenge {
	uint8_t flags;
	time_t expires;
	uint8_t nonce[VG_RELAY_NONCE_LEN];
	uint8_t cdh[32];
	char user[VG_RELAY_USER_MAX + 1];
	char host[VG_RELAY_HOST_MAX + 1];
	char service[VG_RELAY_SERVICE_MAX + 1];
	char rp_id[VG_RELAY_RP_ID_MAX + 1];
	char reason[VG_RELAY_REASON_MAX + 1];
	size_t ncreds;
	struct vg_relay_cred creds[VG_RELAY_MAX_CREDS];
	/* the exact bytes, MAC included: filled by seal and parse */
	uint8_t raw[VG_RELAY_CHALLENGE_MAX];
	size_t raw_len;
};

struct vg_relay_answer {
	enum vg_relay_kind kind;
	struct vg_relay_challenge challenge; /* parsed only: vg_relay_challenge_check() it */
	uint8_t cred_id[VG_RELAY_CRED_ID_MAX];
	size_t cred_id_len;
	uint8_t auth_data[VG_RELAY_AUTHDATA_MAX];
	size_t auth_data_len;
	uint8_t sig[VG_RELAY_SIG_MAX];
	size_t sig_len;
	char client_data[VG_RELAY_CLIENT_DATA_MAX + 1]; /* NUL-terminated, webauthn only */
	size_t client_data_len;
};

/* Serialize the fields of c into c->raw and append the MAC. Strings must be printable
 * (no control characters) and fit their maximum; -EINVAL otherwise. */
int vg_relay_challenge_seal(struct vg_relay_challenge *c, const uint8_t key[VG_RELAY_KEY_LEN],
			    struct vg_err *err);
/* base64url of c->raw (malloc'd) */
char *vg_relay_challenge_code(const struct vg_relay_challenge *c);
/* "ORIGIN/stepup/#c=CODE" (malloc'd); origin without a trailing slash */
char *vg_relay_challenge_url(const char *origin, const char *code);
/* Parse the exact bytes (no MAC check). err->code "challenge_malformed". */
int vg_relay_challenge_parse(const uint8_t *raw, size_t len, struct vg_relay_challenge *out,
			     struct vg_err *err);
/* Parse a code as pasted: surrounding blanks ignored, the URL form accepted. */
int vg_relay_challenge_decode(const char *text, struct vg_relay_challenge *out, struct vg_err *err);

/* What vigild expects of a challenge coming back inside an answer. */
struct vg_relay_expect {
	const uint8_t *key; /* VG_RELAY_KEY_LEN bytes */
	const char *host;
	const char *user;
	const char *service;
	time_t now;
};
/* In this order, each with its err->code: challenge_wrong_host, challenge_forged (MAC),
 * challenge_wrong_user, challenge_wrong_service, challenge_expired. */
int vg_relay_challenge_check(const struct vg_relay_challenge *c, const struct vg_relay_expect *e,
			     struct vg_err *err);

/* Answer: encode (malloc'd base64url) and decode a paste. err->code "answer_malformed"
 * (or "answer_is_challenge" when the challenge code was pasted instead). */
char *vg_relay_answer_encode(const struct vg_relay_answer *a);
int vg_relay_answer_decode(const char *text, struct vg_relay_answer *out, struct vg_err *err);

struct vg_relay_enrollment {
	uint8_t att[VG_RELAY_ATTESTATION_MAX];
	size_t att_len;
	char client_data[VG_RELAY_CLIENT_DATA_MAX + 1]; /* NUL-terminated */
	size_t client_data_len;
};
/* err->code "enrollment_malformed" */
int vg_relay_enrollment_decode(const char *text, struct vg_relay_enrollment *out, struct vg_err *err);

#endif
