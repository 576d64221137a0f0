/* SPDX-License-Identifier: Apache-2.0 */
/* clientDataJSON, enrollment (attestationObject) and full relay answer verification
 * with real ES256 keys and signatures: the accepted path and every refusal. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "relay_fixture.h"
#include "vigil/webauthn.h"

static const uint8_t key[VG_RELAY_KEY_LEN] = "0123456789abcdef0123456789abcde";
static const time_t NOW = 1795000000;
static char *origins[] = { "https://vigil.example.com", "http://localhost:8443" };
#define RP "vigil.example.com"

#define assert_err(rc, want_rc, err, want_code, msg_part)                                                   \
	do {                                                                                                \
		assert_int_equal((rc), (want_rc));                                                          \
		assert_string_equal((err).code, (want_code));                                               \
		if (!strstr((err).msg, (msg_part)))                                                         \
			fail_msg("message \"%s\" lacks \"%s\"", (err).msg, (msg_part));                     \
	} while (0)

/* --- clientDataJSON --- */

static int check_cd(const char *cdj, const char *type, struct vg_err *err)
{
	static const uint8_t chal[4] = { 1, 2, 3, 4 }; /* base64url "AQIDBA" */
	struct vg_webauthn_expect e = {
		.type = type, .challenge = chal, .challenge_len = 4, .origins = origins, .norigins = 2
	};

	return vg_webauthn_check_client_data(cdj, strlen(cdj), &e, err);
}

static void test_client_data(void **state)
{
	struct vg_err err = { 0 };

	assert_int_equal(check_cd("{\"type\":\"webauthn.get\",\"challenge\":\"AQIDBA\",\"origin\":\"https://vigil.example.com\","
				  "\"crossOrigin\":false,\"other_keys_can_be_added_here\":\"x\"}",
				  "webauthn.get", &err),
			 0);
	assert_int_equal(check_cd("{\"type\":\"webauthn.create\",\"challenge\":\"AQIDBA\",\"origin\":\"http://localhost:8443\"}",
				  "webauthn.create", &err),
			 0);
	assert_err(check_cd("{\"type\":\"webauthn.create\",\"challenge\":\"AQIDBA\",\"origin\":\"https://vigil.example.com\"}",
			    "webauthn.get", &err),
		   -EPERM, err, "client_data_wrong_type", "type is \"webauthn.create\", expected \"webauthn.get\"");
	assert_err(check_cd("{\"type\":\"webauthn.get\",\"challenge\":\"AQIDBQ\",\"origin\":\"https://vigil.example.com\"}",
			    "webauthn.get", &err),
		   -EPERM, err, "client_data_wrong_challenge", "another challenge");
	assert_err(check_cd("{\"type\":\"webauthn.get\",\"challenge\":\"AQIDBA\",\"origin\":\"https://evil.example.com\"}",
			    "webauthn.get", &err),
		   -EPERM, err, "origin_not_allowed", "origin \"https://evil.example.com\" is not among");
	/* a prefix or a trailing slash is another origin */
	assert_err(check_cd("{\"type\":\"webauthn.get\",\"challenge\":\"AQIDBA\",\"origin\":\"https://vigil.example.com.evil\"}",
			    "webauthn.get", &err),
		   -EPERM, err, "origin_not_allowed", "not among");
	assert_err(check_cd("{\"type\":\"webauthn.get\",\"challenge\":\"AQIDBA\",\"origin\":\"https://vigil.example.com\","
			    "\"crossOrigin\":true}",
			    "webauthn.get", &err),
		   -EPERM, err, "cross_origin", "frame of another origin");
	assert_err(check_cd("{\"type\":\"webauthn.get\",\"challenge\":\"AQIDBA\",\"origin\":\"https://vigil.example.com\","
			    "\"topOrigin\":\"https://evil.example.com\"}",
			    "webauthn.get", &err),
		   -EPERM, err, "cross_origin", "frame of another origin");
	assert_err(check_cd("{\"type\":\"webauthn.get\",\"challenge\":\"AQID+A==\",\"origin\":\"https://vigil.example.com\"}",
			    "webauthn.get", &err),
		   -EINVAL, err, "client_data_malformed", "not base64url");
	assert_err(check_cd("{\"type\":\"webauthn.get\",\"type\":\"webauthn.get\",\"challenge\":\"AQIDBA\","
			    "\"origin\":\"https://vigil.example.com\"}",
			    "webauthn.get", &err),
		   -EINVAL, err, "client_data_malformed", "not a JSON object");
	assert_err(check_cd("[1,2]", "webauthn.get", &err), -EINVAL, err, "client_data_malformed", "not a JSON object");
	assert_err(check_cd("{\"type\":\"webauthn.get\",", "webauthn.get", &err), -EINVAL, err, "client_data_malformed",
		   "not a JSON object");
	assert_err(check_cd("{\"type\":\"webauthn.get\",\"challenge\":7,\"origin\":\"https://vigil.example.com\"}",
			    "webauthn.get", &err),
		   -EINVAL, err, "client_data_malformed", "lacks one of");
	assert_err(check_cd("", "webauthn.get", &err), -EINVAL, err, "client_data_malformed", "empty");
}

/* --- relay answers, end to end with real signatures --- */

struct world {
	struct fx_key k, other;
	struct vg_user user;
	struct vg_credential creds[1];
	struct vg_relay_verify v;
};

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	fx_key_init(&w->k, 0x11);
	fx_key_init(&w->other, 0x22);
	w->creds[0] = w->k.cred;
	w->user.name = "alice";
	w->user.ncreds = 1;
	w->user.creds = w->creds;
	w->v.expect.key = key;
	w->v.expect.host = "web-1";
	w->v.expect.user = "alice";
	w->v.expect.service = "sudo";
	w->v.expect.now = NOW;
	w->v.rp_id = RP;
	w->v.origins = origins;
	w->v.norigins = 2;
	w->v.user = &w->user;
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;

	fx_key_free(&w->k);
	fx_key_free(&w->other);
	free(w);
	return 0;
}

static void sealed_challenge(struct vg_relay_challenge *c, const char *host, const char *user, time_t expires)
{
	struct vg_err err;

	memset(c, 0, sizeof(*c));
	c->expires = expires;
	memset(c->nonce, 7, sizeof(c->nonce));
	vg_sha256(&expires, sizeof(expires), c->cdh); /* distinct per challenge, as vigild's are */
	snprintf(c->user, sizeof(c->user), "%s", user);
	snprintf(c->host, sizeof(c->host), "%s", host);
	snprintf(c->service, sizeof(c->service), "sudo");
	snprintf(c->rp_id, sizeof(c->rp_id), RP);
	snprintf(c->reason, sizeof(c->reason), "CHG-1");
	c->ncreds = 1;
	c->creds[0].len = 16;
	memset(c->creds[0].id, 0x11, 16);
	assert_int_equal(vg_relay_challenge_seal(c, key, &err), 0);
}

/* What vigil-stepup or the page produce: sign the challenge with key k. */
static void answer_with(struct vg_relay_answer *a, const struct fx_key *k, enum vg_relay_kind kind,
			const char *origin, uint32_t counter, uint8_t flags)
{
	uint8_t cdh[32];
	char *chal;

	memcpy(a->cred_id, k->cred_id, sizeof(k->cred_id));
	a->cred_id_len = sizeof(k->cred_id);
	a->kind = kind;
	a->auth_data_len = fx_authdata(k, RP, flags, counter, false, a->auth_data);
	if (kind == VG_RELAY_WEBAUTHN) {
		chal = vg_b64_encode(a->challenge.cdh, 32, true);
		a->client_data_len = (size_t)snprintf(a->client_data, sizeof(a->client_data),
						      "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\","
						      "\"crossOrigin\":false}",
						      chal, origin);
		free(chal);
		vg_sha256(a->client_data, a->client_data_len, cdh);
	} else {
		memcpy(cdh, a->challenge.cdh, 32);
	}
	a->sig_len = fx_sign(k, a->auth_data, a->auth_data_len, cdh, a->sig, sizeof(a->sig));
}

/* encode, decode as vigild would, then check + verify */
static int verify(struct world *w, const struct vg_relay_answer *a, uint32_t prev, uint32_t *newc, struct vg_err *err)
{
	struct vg_relay_answer d;
	const struct vg_credential *cred;
	char *code = vg_relay_answer_encode(a);
	int r;

	assert_non_null(code);
	assert_true(strlen(code) <= VG_RELAY_ANSWER_SUDO_MAX);
	r = vg_relay_answer_decode(code, &d, err);
	free(code);
	if (r < 0)
		return r;
	r = vg_relay_answer_check(&d, &w->v, &cred, err);
	if (r < 0)
		return r;
	return vg_relay_answer_verify_sig(&d, &w->v, cred, prev, newc, err);
}

static void test_answer_accepted(void **state)
{
	struct world *w = *state;
	struct vg_relay_answer a = { 0 };
	struct vg_err err = { 0 };
	uint32_t newc = 0;

	for (int kind = VG_RELAY_CTAP; kind <= VG_RELAY_WEBAUTHN; kind++) {
		memset(&a, 0, sizeof(a));
		sealed_challenge(&a.challenge, "web-1", "alice", NOW + 60);
		answer_with(&a, &w->k, (enum vg_relay_kind)kind, "https://vigil.example.com", 42, VG_AD_UP);
		if (verify(w, &a, 41, &newc, &err) != 0)
			fail_msg("kind %d refused: %s (%s)", kind, err.msg, err.code);
		assert_int_equal(newc, 42);
	}
}

static void test_answer_refusals(void **state)
{
	struct world *w = *state;
	struct vg_relay_answer a = { 0 };
	struct vg_err err = { 0 };
	uint32_t newc;

	/* expired */
	sealed_challenge(&a.challenge, "web-1", "alice", NOW);
	answer_with(&a, &w->k, VG_RELAY_WEBAUTHN, "https://vigil.example.com", 5, VG_AD_UP);
	assert_err(verify(w, &a, 0, &newc, &err), -ETIMEDOUT, err, "challenge_expired", "expired at");
	/* wrong host */
	sealed_challenge(&a.challenge, "db-7", "alice", NOW + 60);
	answer_with(&a, &w->k, VG_RELAY_CTAP, NULL, 5, VG_AD_UP);
	assert_err(verify(w, &a, 0, &newc, &err), -EPERM, err, "challenge_wrong_host", "host \"db-7\"");
	/* wrong user */
	sealed_challenge(&a.challenge, "web-1", "bob", NOW + 60);
	answer_with(&a, &w->k, VG_RELAY_CTAP, NULL, 5, VG_AD_UP);
	assert_err(verify(w, &a, 0, &newc, &err), -EPERM, err, "challenge_wrong_user", "for user \"bob\"");
	/* wrong origin */
	sealed_challenge(&a.challenge, "web-1", "alice", NOW + 60);
	answer_with(&a, &w->k, VG_RELAY_WEBAUTHN, "https://phish.example.net", 5, VG_AD_UP);
	assert_err(verify(w, &a, 0, &newc, &err), -EPERM, err, "origin_not_allowed", "phish.example.net");
	/* replay: the counter did not move past the stored one */
	answer_with(&a, &w->k, VG_RELAY_WEBAUTHN, "https://vigil.example.com", 5, VG_AD_UP);
	assert_err(verify(w, &a, 5, &newc, &err), -EPERM, err, "counter_not_increased", "did not increase");
	/* tampered signature */
	answer_with(&a, &w->k, VG_RELAY_CTAP, NULL, 6, VG_AD_UP);
	a.sig[a.sig_len - 3] ^= 0x40;
	assert_err(verify(w, &a, 5, &newc, &err), -EBADMSG, err, "signature_invalid", "does not verify");
	/* tampered client data: another origin after signing */
	answer_with(&a, &w->k, VG_RELAY_WEBAUTHN, "https://vigil.example.com", 6, VG_AD_UP);
	memcpy(strstr(a.client_data, "https://vigil"), "http://localhost:8443", 21);
	a.client_data_len = strlen(a.client_data);
	assert_true(verify(w, &a, 5, &newc, &err) < 0);
	/* the page signed another challenge than the one carried (answer spliced onto a fresh challenge) */
	{
		struct vg_relay_answer b = { 0 };

		sealed_challenge(&b.challenge, "web-1", "alice", NOW + 30);
		answer_with(&b, &w->k, VG_RELAY_WEBAUTHN, "https://vigil.example.com", 6, VG_AD_UP);
		memcpy(b.client_data, a.client_data, sizeof(a.client_data));
		answer_with(&a, &w->k, VG_RELAY_WEBAUTHN, "https://vigil.example.com", 6, VG_AD_UP);
		memcpy(b.client_data, a.client_data, sizeof(a.client_data));
		b.client_data_len = a.client_data_len;
		assert_err(verify(w, &b, 5, &newc, &err), -EPERM, err, "client_data_wrong_challenge",
			   "another challenge");
	}
	/* ctap signature made over another challenge */
	{
		struct vg_relay_answer b = { 0 };

		sealed_challenge(&b.challenge, "web-1", "alice", NOW + 30);
		answer_with(&a, &w->k, VG_RELAY_CTAP, NULL, 7, VG_AD_UP);
		b.kind = VG_RELAY_CTAP;
		memcpy(b.cred_id, a.cred_id, a.cred_id_len);
		b.cred_id_len = a.cred_id_len;
		memcpy(b.auth_data, a.auth_data, a.auth_data_len);
		b.auth_data_len = a.auth_data_len;
		memcpy(b.sig, a.sig, a.sig_len);
		b.sig_len = a.sig_len;
		assert_err(verify(w, &b, 5, &newc, &err), -EBADMSG, err, "signature_invalid", "does not verify");
	}
	/* a key not enrolled for the user */
	sealed_challenge(&a.challenge, "web-1", "alice", NOW + 60);
	answer_with(&a, &w->other, VG_RELAY_CTAP, NULL, 9, VG_AD_UP);
	assert_err(verify(w, &a, 0, &newc, &err), -EPERM, err, "credential_not_enrolled", "not enrolled for user");
	/* the enrolled credential id with another key's signature */
	answer_with(&a, &w->other, VG_RELAY_CTAP, NULL, 9, VG_AD_UP);
	memcpy(a.cred_id, w->k.cred_id, sizeof(w->k.cred_id));
	assert_err(verify(w, &a, 0, &newc, &err), -EBADMSG, err, "signature_invalid", "does not verify");
	/* no touch */
	answer_with(&a, &w->k, VG_RELAY_CTAP, NULL, 9, 0);
	assert_err(verify(w, &a, 0, &newc, &err), -EPERM, err, "user_not_present", "presence");
	/* UV required by the challenge, not performed */
	a.challenge.flags = VG_RELAY_F_UV;
	assert_int_equal(vg_relay_challenge_seal(&a.challenge, key, &err), 0);
	answer_with(&a, &w->k, VG_RELAY_CTAP, NULL, 9, VG_AD_UP);
	assert_err(verify(w, &a, 0, &newc, &err), -EPERM, err, "user_not_verified", "verification");
	answer_with(&a, &w->k, VG_RELAY_CTAP, NULL, 9, VG_AD_UP | VG_AD_UV);
	assert_int_equal(verify(w, &a, 0, &newc, &err), 0);
	/* the challenge names another relying party than the bundle */
	sealed_challenge(&a.challenge, "web-1", "alice", NOW + 60);
	w->v.rp_id = "other.example.com";
	answer_with(&a, &w->k, VG_RELAY_CTAP, NULL, 9, VG_AD_UP);
	assert_err(verify(w, &a, 0, &newc, &err), -EPERM, err, "rp_id_mismatch", "other.example.com");
	w->v.rp_id = RP;
}

/* --- enrollment --- */

/* attestationObject {"fmt": fmt, "attStmt": stmt, "authData": ad} in canonical CBOR */
static size_t att_object(const char *fmt, const uint8_t *stmt, size_t stmt_len, const uint8_t *ad, size_t ad_len,
			 uint8_t *out)
{
	size_t o = 0;

	out[o++] = 0xa3;
	out[o++] = 0x63;
	memcpy(out + o, "fmt", 3);
	o += 3;
	out[o++] = (uint8_t)(0x60 | strlen(fmt));
	memcpy(out + o, fmt, strlen(fmt));
	o += strlen(fmt);
	out[o++] = 0x67;
	memcpy(out + o, "attStmt", 7);
	o += 7;
	memcpy(out + o, stmt, stmt_len);
	o += stmt_len;
	out[o++] = 0x68;
	memcpy(out + o, "authData", 8);
	o += 8;
	out[o++] = 0x59;
	out[o++] = (uint8_t)(ad_len >> 8);
	out[o++] = (uint8_t)ad_len;
	memcpy(out + o, ad, ad_len);
	return o + ad_len;
}

static size_t packed_stmt(const uint8_t *sig, size_t sig_len, uint8_t *out)
{
	size_t o = 0;

	out[o++] = 0xa2;
	out[o++] = 0x63;
	memcpy(out + o, "alg", 3);
	o += 3;
	out[o++] = 0x26; /* -7 */
	out[o++] = 0x63;
	memcpy(out + o, "sig", 3);
	o += 3;
	out[o++] = 0x58;
	out[o++] = (uint8_t)sig_len;
	memcpy(out + o, sig, sig_len);
	return o + sig_len;
}

static const char create_cdj[] =
	"{\"type\":\"webauthn.create\",\"challenge\":\"AAAA\",\"origin\":\"https://vigil.example.com\"}";

static void test_enroll_none(void **state)
{
	struct world *w = *state;
	uint8_t ad[256], att[1024];
	size_t ad_len = fx_authdata(&w->k, RP, VG_AD_UP | VG_AD_UV, 0, true, ad);
	size_t n = att_object("none", (const uint8_t *)"\xa0", 1, ad, ad_len, att);
	struct vg_webauthn_enrollment e;
	struct vg_err err = { 0 };
	char *snip;
	json_t *j;

	if (vg_webauthn_enroll(att, n, create_cdj, strlen(create_cdj), RP, origins, 2, &e, &err) != 0)
		fail_msg("refused: %s", err.msg);
	assert_string_equal(e.fmt, "none");
	assert_string_equal(e.id_b64, w->k.cred_id_b64);
	assert_int_equal(e.alg, VG_COSE_ES256);
	assert_true(e.uv);
	/* the same key as the authenticator's: an assertion made by it verifies with the PEM */
	assert_string_equal(e.public_key, w->k.pem);
	snip = vg_webauthn_enrollment_snippet(&e);
	j = json_loads(snip, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "alg")), "es256");
	assert_string_equal(json_string_value(json_object_get(j, "id")), w->k.cred_id_b64);
	assert_true(json_is_true(json_object_get(j, "uv")));
	assert_string_equal(json_string_value(json_object_get(j, "public_key")), w->k.pem);
	json_decref(j);
	free(snip);
	vg_webauthn_enrollment_free(&e);
}

static void test_enroll_packed(void **state)
{
	struct world *w = *state;
	uint8_t ad[256], att[1024], stmt[128], sig[80], cdh[32];
	size_t ad_len = fx_authdata(&w->k, RP, VG_AD_UP, 0, true, ad), sig_len, n;
	struct vg_webauthn_enrollment e;
	struct vg_err err = { 0 };

	vg_sha256(create_cdj, strlen(create_cdj), cdh);
	sig_len = fx_sign(&w->k, ad, ad_len, cdh, sig, sizeof(sig));
	n = att_object("packed", stmt, packed_stmt(sig, sig_len, stmt), ad, ad_len, att);
	if (vg_webauthn_enroll(att, n, create_cdj, strlen(create_cdj), RP, origins, 2, &e, &err) != 0)
		fail_msg("refused: %s", err.msg);
	assert_string_equal(e.fmt, "packed");
	assert_false(e.uv);
	vg_webauthn_enrollment_free(&e);

	/* signed by another key: not a self attestation of this credential */
	sig_len = fx_sign(&w->other, ad, ad_len, cdh, sig, sizeof(sig));
	n = att_object("packed", stmt, packed_stmt(sig, sig_len, stmt), ad, ad_len, att);
	assert_err(vg_webauthn_enroll(att, n, create_cdj, strlen(create_cdj), RP, origins, 2, &e, &err), -EBADMSG, err,
		   "attestation_invalid", "self attestation signature");
}

static void test_enroll_refusals(void **state)
{
	struct world *w = *state;
	uint8_t ad[256], att[1024], stmt[256];
	size_t ad_len = fx_authdata(&w->k, RP, VG_AD_UP, 0, true, ad), n;
	struct vg_webauthn_enrollment e;
	struct vg_err err = { 0 };
	static const char get_cdj[] =
		"{\"type\":\"webauthn.get\",\"challenge\":\"AAAA\",\"origin\":\"https://vigil.example.com\"}";
	static const char evil_cdj[] =
		"{\"type\":\"webauthn.create\",\"challenge\":\"AAAA\",\"origin\":\"https://evil.example.com\"}";
	static const uint8_t x5c_stmt[] = { 0xa3, 0x63, 'a', 'l', 'g', 0x26, 0x63, 's', 'i', 'g', 0x41, 0x00,
					    0x63, 'x', '5', 'c', 0x80 };

	n = att_object("none", (const uint8_t *)"\xa0", 1, ad, ad_len, att);
	assert_err(vg_webauthn_enroll(att, n, get_cdj, strlen(get_cdj), RP, origins, 2, &e, &err), -EPERM, err,
		   "client_data_wrong_type", "expected \"webauthn.create\"");
	assert_err(vg_webauthn_enroll(att, n, evil_cdj, strlen(evil_cdj), RP, origins, 2, &e, &err), -EPERM, err,
		   "origin_not_allowed", "evil.example.com");
	assert_err(vg_webauthn_enroll(att, n, create_cdj, strlen(create_cdj), "other.example.com", origins, 2, &e,
				      &err),
		   -EPERM, err, "rp_id_mismatch", "other.example.com");
	/* vendor attestation and unknown formats */
	n = att_object("packed", x5c_stmt, sizeof(x5c_stmt), ad, ad_len, att);
	assert_err(vg_webauthn_enroll(att, n, create_cdj, strlen(create_cdj), RP, origins, 2, &e, &err), -EINVAL, err,
		   "attestation_unsupported", "x5c");
	n = att_object("tpm", (const uint8_t *)"\xa0", 1, ad, ad_len, att);
	assert_err(vg_webauthn_enroll(att, n, create_cdj, strlen(create_cdj), RP, origins, 2, &e, &err), -EINVAL, err,
		   "attestation_unsupported", "\"tpm\"");
	/* fmt none with a statement */
	memcpy(stmt, x5c_stmt, sizeof(x5c_stmt));
	n = att_object("none", stmt, sizeof(x5c_stmt), ad, ad_len, att);
	assert_err(vg_webauthn_enroll(att, n, create_cdj, strlen(create_cdj), RP, origins, 2, &e, &err), -EINVAL, err,
		   "attestation_malformed", "must be empty");
	/* no attested credential data (an assertion's authData) */
	ad_len = fx_authdata(&w->k, RP, VG_AD_UP, 0, false, ad);
	n = att_object("none", (const uint8_t *)"\xa0", 1, ad, ad_len, att);
	assert_err(vg_webauthn_enroll(att, n, create_cdj, strlen(create_cdj), RP, origins, 2, &e, &err), -EINVAL, err,
		   "attestation_malformed", "no attested credential data");
	/* every truncation of a valid object is refused */
	ad_len = fx_authdata(&w->k, RP, VG_AD_UP, 0, true, ad);
	n = att_object("none", (const uint8_t *)"\xa0", 1, ad, ad_len, att);
	for (size_t i = 0; i < n; i++) {
		assert_true(vg_webauthn_enroll(att, i, create_cdj, strlen(create_cdj), RP, origins, 2, &e, &err) < 0);
		assert_null(e.public_key);
	}
	/* indefinite-length map, deep nesting */
	assert_err(vg_webauthn_enroll((const uint8_t *)"\xbf\xff", 2, create_cdj, strlen(create_cdj), RP, origins, 2,
				      &e, &err),
		   -EINVAL, err, "attestation_malformed", "not a CBOR map");
	{
		uint8_t deep[64];

		deep[0] = 0xa1;
		deep[1] = 0x63;
		memcpy(deep + 2, "zzz", 3);
		memset(deep + 5, 0x81, sizeof(deep) - 5);
		assert_err(vg_webauthn_enroll(deep, sizeof(deep), create_cdj, strlen(create_cdj), RP, origins, 2, &e,
					      &err),
			   -EINVAL, err, "attestation_malformed", "unknown entry");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_data),
		cmocka_unit_test_setup_teardown(test_answer_accepted, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_answer_refusals, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_enroll_none, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_enroll_packed, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_enroll_refusals, world_setup, world_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
