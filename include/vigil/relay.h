/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remote step-up codes (docs/remote-stepup.md): the challenge vigild shows in
 * an SSH session and the answer the administrator pastes back after signing
 * it on a workstation (vigil-stepup or the WebAuthn page). Pure encoders and
 * bounded parsers: every byte of an answer comes from a user's paste.
 *
 * Challenge (binary, then base64url without padding = the "code"):
 *   context = "VC" 0x02 | nonce[16] | expires u32be | user, host, service, reason: str8
 *   code    = context | rp_id: str8 | flags u8 | ncreds u8 (<= 4), each str8 (credential id)
 * str8 = u8 length + bytes. The challenge the key signs is SHA-256(context): what the
 * workstation shows is what it hashes, so a relabelled code makes the key sign another
 * context than the one vigild stored, and vigild refuses the signature. nonce is the id
 * of vigild's step-up challenge (elevation.challenge).
 *
 * Answer (binary, then base64url; at most VG_RELAY_ANSWER_MAX characters): only what vigild
 * cannot rebuild from the challenge it stored and the bundle.
 *   "VA" 0x02 | kind u8 (1 ctap, 2 webauthn) | challenge tag[4] (nonce[0..4]) |
 *   credential tag[4] (SHA-256(credential id)[0..4]) | flags u8 | signCount u32be |
 *   [flags & ED: extensions: u8 length + bytes] |
 *   [webauthn: origin tag[4] (SHA-256(origin)[0..4]) | client data layout u8
 *              (3: u8 length + the bytes after the origin)] |
 *   signature: every remaining byte
 * vigild rebuilds authenticatorData = SHA-256(rp_id) ‖ flags ‖ signCount ‖ extensions and,
 * for webauthn, clientDataJSON = {"type":"webauthn.get","challenge":B64URL(challenge),
 * "origin":ORIGIN + the layout's tail (vg_relay_cd_tails).
 *
 * Enrollment code (printed by the enrollment page, read by vigil-stepup enroll-check):
 *   "VE" 0x01 | attestationObject: u16be length + bytes | clientDataJSON: u16be length + bytes
 */
#ifndef VIGIL_RELAY_H
#define VIGIL_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "vigil/err.h"

#define VG_RELAY_VERSION 2
#define VG_RELAY_ENROLL_VERSION 1
#define VG_RELAY_NONCE_LEN 16
#define VG_RELAY_TAG_LEN 4
#define VG_RELAY_MAX_CREDS 4
#define VG_RELAY_USER_MAX 32
#define VG_RELAY_HOST_MAX 253
#define VG_RELAY_SERVICE_MAX 32
#define VG_RELAY_RP_ID_MAX 253
#define VG_RELAY_REASON_MAX 200
#define VG_RELAY_CRED_ID_MAX 255
#define VG_RELAY_CHALLENGE_MAX 2048 /* binary bytes, fits every field at its maximum (1814) */
#define VG_RELAY_EXT_MAX 255
#define VG_RELAY_CD_TAIL_MAX 255
#define VG_RELAY_SIG_MAX 512
#define VG_RELAY_CLIENT_DATA_MAX 1024
/* Longest answer, in characters. sudo 1.9 hands a conversation reply of 512 characters or
 * more to PAM as an empty string; 400 leaves room for any prompt path. */
#define VG_RELAY_ANSWER_MAX 400
#define VG_RELAY_TEXT_MAX 8192 /* longest paste accepted before decoding (code, URL, enrollment) */
#define VG_RELAY_ATTESTATION_MAX 4096

enum vg_relay_flag {
	VG_RELAY_F_UV = 0x01, /* user verification required */
};

enum vg_relay_kind {
	VG_RELAY_CTAP = 1,     /* vigil-stepup: clientDataHash = challenge */
	VG_RELAY_WEBAUTHN = 2, /* browser: clientDataJSON.challenge = base64url(challenge) */
};

/* What the challenge commits to: the fields every tool shows before the key is touched. */
struct vg_relay_context {
	uint8_t nonce[VG_RELAY_NONCE_LEN];
	time_t expires;
	const char *user, *host, *service, *reason;
};

/* SHA-256 of the context bytes: what the key signs. -EINVAL when a field is longer than 255
 * bytes or the expiry is outside the code's 32-bit range. */
int vg_relay_context_hash(const struct vg_relay_context *c, uint8_t out[32], struct vg_err *err);

struct vg_relay_cred {
	uint8_t len;
	uint8_t id[VG_RELAY_CRED_ID_MAX];
};

struct vg_relay_challenge {
	uint8_t flags;
	time_t expires;
	uint8_t nonce[VG_RELAY_NONCE_LEN];
	char user[VG_RELAY_USER_MAX + 1];
	char host[VG_RELAY_HOST_MAX + 1];
	char service[VG_RELAY_SERVICE_MAX + 1];
	char rp_id[VG_RELAY_RP_ID_MAX + 1];
	char reason[VG_RELAY_REASON_MAX + 1];
	size_t ncreds;
	struct vg_relay_cred creds[VG_RELAY_MAX_CREDS];
	uint8_t hash[32]; /* SHA-256 of the context: filled by encode and parse */
};

/* Check the fields (printable, within their maximum), compute c->hash and return the code
 * (malloc'd base64url). err->code "challenge_field_invalid". */
int vg_relay_challenge_encode(struct vg_relay_challenge *c, char **code, struct vg_err *err);
/* "ORIGIN/stepup/#c=CODE" (malloc'd); origin without a trailing slash */
char *vg_relay_challenge_url(const char *origin, const char *code);
/* Parse a code as pasted (surrounding blanks ignored, the URL form accepted) and recompute
 * its hash from the parsed fields. err->code "challenge_malformed". */
int vg_relay_challenge_decode(const char *text, struct vg_relay_challenge *out, struct vg_err *err);

/* The fixed tails of clientDataJSON after "origin":"...", by layout number (browsers write
 * them in this order, WebAuthn §5.8.1.1); layout 3 carries its tail in the answer. */
#define VG_RELAY_CD_VERBATIM 3
extern const char *const vg_relay_cd_tails[VG_RELAY_CD_VERBATIM];

struct vg_relay_answer {
	enum vg_relay_kind kind;
	uint8_t challenge_tag[VG_RELAY_TAG_LEN];
	uint8_t cred_tag[VG_RELAY_TAG_LEN];
	uint8_t flags;
	uint32_t counter;
	uint8_t ext[VG_RELAY_EXT_MAX];
	size_t ext_len;
	uint8_t origin_tag[VG_RELAY_TAG_LEN]; /* webauthn only */
	uint8_t cd_layout;		      /* webauthn only */
	char cd_tail[VG_RELAY_CD_TAIL_MAX + 1]; /* layout 3: NUL-terminated */
	size_t cd_tail_len;
	uint8_t sig[VG_RELAY_SIG_MAX];
	size_t sig_len;
};

/* First VG_RELAY_TAG_LEN bytes of SHA-256(data): credential and origin tags. */
void vg_relay_tag(const void *data, size_t len, uint8_t tag[VG_RELAY_TAG_LEN]);

/* Answer: encode (malloc'd base64url) and decode a paste. Encoding refuses, with err->code
 * "answer_too_long" and why, an answer longer than VG_RELAY_ANSWER_MAX characters.
 * Decoding: "answer_empty" (what sudo delivers for a reply of 512 characters or more),
 * "answer_too_long", "answer_is_challenge" (the challenge was pasted), "answer_malformed". */
int vg_relay_answer_encode(const struct vg_relay_answer *a, char **code, struct vg_err *err);
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
