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
	struct vg_relay_challenge c; /* as vigild issued it */
	struct vg_relay_verify v;
};

/* A challenge as vigild issues it: its hash is what the key must sign. */
static void make_challenge(struct vg_relay_challenge *c, const char *host, const char *service, time_t expires)
{
	struct vg_err err;
	char *code = NULL;

	memset(c, 0, sizeof(*c));
	c->expires = expires;
	memset(c->nonce, 7, sizeof(c->nonce));
	snprintf(c->user, sizeof(c->user), "alice");
	snprintf(c->host, sizeof(c->host), "%s", host);
	snprintf(c->service, sizeof(c->service), "%s", service);
	snprintf(c->rp_id, sizeof(c->rp_id), RP);
	snprintf(c->reason, sizeof(c->reason), "CHG-1");
	c->ncreds = 1;
	c->creds[0].len = 16;
	memset(c->creds[0].id, 0x11, 16);
	assert_int_equal(vg_relay_challenge_encode(c, &code, &err), 0);
	free(code);
}

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	fx_key_init(&w->k, 0x11);
	fx_key_init(&w->other, 0x22);
	w->creds[0] = w->k.cred;
	w->user.name = "alice";
	w->user.ncreds = 1;
	w->user.creds = w->creds;
	make_challenge(&w->c, "prod-db", "su", NOW + 60);
	w->v.challenge = &w->c;
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

/* What vigil-stepup or the page produce: key k signs challenge c (as the workstation decoded
 * it), the browser writing clientDataJSON with origin and the tail of layout. */
struct signing {
	enum vg_relay_kind kind;
	const char *origin;
	uint8_t layout;
	const char *tail; /* layout 3 */
	const char *rp_id;
	uint32_t counter;
	uint8_t flags;
};

static void answer_with(struct vg_relay_answer *a, const struct vg_relay_challenge *c, const struct fx_key *k,
			const struct signing *s)
{
	uint8_t ad[64], cdh[32];
	char cdj[1024];
	size_t ad_len;

	memset(a, 0, sizeof(*a));
	a->kind = s->kind;
	memcpy(a->challenge_tag, c->nonce, VG_RELAY_TAG_LEN);
	vg_relay_tag(k->cred_id, sizeof(k->cred_id), a->cred_tag);
	ad_len = fx_authdata(k, s->rp_id ? s->rp_id : RP, s->flags, s->counter, false, ad);
	a->flags = ad[32];
	a->counter = s->counter;
	if (s->kind == VG_RELAY_WEBAUTHN) {
		char *chal = vg_b64_encode(c->hash, 32, true);
		const char *tail = s->layout == VG_RELAY_CD_VERBATIM ? s->tail : vg_relay_cd_tails[s->layout];

		snprintf(cdj, sizeof(cdj), "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\"%s", chal,
			 s->origin, tail);
		free(chal);
		vg_relay_tag(s->origin, strlen(s->origin), a->origin_tag);
		a->cd_layout = s->layout;
		if (s->layout == VG_RELAY_CD_VERBATIM) {
			snprintf(a->cd_tail, sizeof(a->cd_tail), "%s", s->tail);
			a->cd_tail_len = strlen(s->tail);
		}
		vg_sha256(cdj, strlen(cdj), cdh);
	} else {
		memcpy(cdh, c->hash, 32);
	}
	a->sig_len = fx_sign(k, ad, ad_len, cdh, a->sig, sizeof(a->sig));
}

/* encode (at most VG_RELAY_ANSWER_MAX characters), decode as vigild would, rebuild, verify */
static int verify(struct world *w, const struct vg_relay_answer *a, uint32_t prev, uint32_t *newc, size_t *chars,
		  struct vg_err *err)
{
	struct vg_relay_answer d;
	struct vg_relay_assertion as;
	char *code = NULL;
	int r;

	r = vg_relay_answer_encode(a, &code, err);
	if (r < 0)
		return r;
	if (chars)
		*chars = strlen(code);
	r = vg_relay_answer_decode(code, &d, err);
	free(code);
	if (r < 0)
		return r;
	r = vg_relay_answer_expand(&d, &w->v, &as, err);
	if (r < 0)
		return r;
	return vg_relay_answer_verify_sig(&d, &w->v, &as, prev, newc, err);
}

#define CTAP(ctr) (&(struct signing){ .kind = VG_RELAY_CTAP, .counter = (ctr), .flags = VG_AD_UP })
#define PAGE(origin_, layout_, ctr) \
	(&(struct signing){ .kind = VG_RELAY_WEBAUTHN, .origin = (origin_), .layout = (layout_), .counter = (ctr), \
			    .flags = VG_AD_UP })

static void test_answer_accepted(void **state)
{
	struct world *w = *state;
	struct vg_relay_answer a;
	struct vg_err err = { 0 };
	uint32_t newc = 0;

	answer_with(&a, &w->c, &w->k, CTAP(42));
	if (verify(w, &a, 41, &newc, NULL, &err) != 0)
		fail_msg("ctap refused: %s (%s)", err.msg, err.code);
	assert_int_equal(newc, 42);
	/* every fixed client data layout, on either allowed origin */
	for (uint8_t layout = 0; layout < VG_RELAY_CD_VERBATIM; layout++) {
		answer_with(&a, &w->c, &w->k, PAGE(origins[layout % 2], layout, 43 + layout));
		if (verify(w, &a, 42, &newc, NULL, &err) != 0)
			fail_msg("webauthn layout %u refused: %s (%s)", layout, err.msg, err.code);
	}
	/* a tail the format has no number for travels verbatim */
	answer_with(&a, &w->c, &w->k,
		    &(struct signing){ .kind = VG_RELAY_WEBAUTHN, .origin = origins[0], .layout = VG_RELAY_CD_VERBATIM,
				       .tail = ",\"crossOrigin\":false,\"future\":\"x\"}", .counter = 50,
				       .flags = VG_AD_UP });
	if (verify(w, &a, 42, &newc, NULL, &err) != 0)
		fail_msg("verbatim tail refused: %s (%s)", err.msg, err.code);
}

/* The attack of issue 13: a code for (prod-db, su) relabelled (dev-box, sudo) on its way to
 * the workstation. The workstation shows and signs the relabelled context; vigild on prod-db
 * holds the original and refuses the signature, from vigil-stepup and from the page alike. */
static void test_relabelled_code(void **state)
{
	struct world *w = *state;
	struct vg_relay_challenge relabelled;
	struct vg_relay_answer a;
	struct vg_err err = { 0 };
	uint32_t newc;

	make_challenge(&relabelled, "dev-box", "sudo", w->c.expires);
	assert_memory_equal(relabelled.nonce, w->c.nonce, VG_RELAY_NONCE_LEN); /* same challenge id */
	assert_memory_not_equal(relabelled.hash, w->c.hash, 32);
	answer_with(&a, &relabelled, &w->k, CTAP(60));
	assert_err(verify(w, &a, 0, &newc, NULL, &err), -EBADMSG, err, "signature_invalid", "does not verify");
	answer_with(&a, &relabelled, &w->k, PAGE(origins[0], 0, 61));
	assert_err(verify(w, &a, 0, &newc, NULL, &err), -EBADMSG, err, "signature_invalid", "does not verify");
	/* the reason or the expiry relabelled alike */
	relabelled = w->c;
	snprintf(relabelled.reason, sizeof(relabelled.reason), "routine");
	relabelled.expires += 3600;
	{
		char *code = NULL;

		assert_int_equal(vg_relay_challenge_encode(&relabelled, &code, &err), 0);
		free(code);
	}
	answer_with(&a, &relabelled, &w->k, CTAP(62));
	assert_err(verify(w, &a, 0, &newc, NULL, &err), -EBADMSG, err, "signature_invalid", "does not verify");
}

static void test_answer_refusals(void **state)
{
	struct world *w = *state;
	struct vg_relay_challenge other_c;
	struct vg_relay_answer a;
	struct vg_err err = { 0 };
	uint32_t newc;

	/* an answer to an earlier prompt */
	make_challenge(&other_c, "prod-db", "su", NOW + 30);
	other_c.nonce[0] ^= 1;
	answer_with(&a, &other_c, &w->k, CTAP(5));
	assert_err(verify(w, &a, 0, &newc, NULL, &err), -EPERM, err, "answer_other_challenge", "another challenge");
	/* a page on an origin the bundle does not allow */
	answer_with(&a, &w->c, &w->k, PAGE("https://phish.example.net", 0, 5));
	assert_err(verify(w, &a, 0, &newc, NULL, &err), -EPERM, err, "origin_not_allowed", "elevation.origins");
	/* ... whose answer claims an allowed origin's tag: the rebuilt client data is not what was signed */
	vg_relay_tag(origins[0], strlen(origins[0]), a.origin_tag);
	assert_err(verify(w, &a, 0, &newc, NULL, &err), -EBADMSG, err, "signature_invalid", "does not verify");
	/* a verbatim tail naming a top-level origin: the page ran in a frame */
	answer_with(&a, &w->c, &w->k,
		    &(struct signing){ .kind = VG_RELAY_WEBAUTHN, .origin = origins[0], .layout = VG_RELAY_CD_VERBATIM,
				       .tail = ",\"crossOrigin\":true,\"topOrigin\":\"https://evil.example\"}",
				       .counter = 5, .flags = VG_AD_UP });
	assert_err(verify(w, &a, 0, &newc, NULL, &err), -EPERM, err, "cross_origin", "frame");
	/* replay: the counter did not move past the stored one */
	answer_with(&a, &w->c, &w->k, PAGE(origins[0], 0, 5));
	assert_err(verify(w, &a, 5, &newc, NULL, &err), -EPERM, err, "counter_not_increased", "did not increase");
	/* tampered signature, tampered counter */
	answer_with(&a, &w->c, &w->k, CTAP(6));
	a.sig[a.sig_len - 3] ^= 0x40;
	assert_err(verify(w, &a, 5, &newc, NULL, &err), -EBADMSG, err, "signature_invalid", "does not verify");
	answer_with(&a, &w->c, &w->k, CTAP(6));
	a.counter = 1000;
	assert_err(verify(w, &a, 5, &newc, NULL, &err), -EBADMSG, err, "signature_invalid", "does not verify");
	/* a key not enrolled for the user */
	answer_with(&a, &w->c, &w->other, CTAP(9));
	assert_err(verify(w, &a, 0, &newc, NULL, &err), -EPERM, err, "credential_not_enrolled",
		   "not enrolled for user");
	/* the enrolled credential's tag with another key's signature */
	vg_relay_tag(w->k.cred_id, sizeof(w->k.cred_id), a.cred_tag);
	assert_err(verify(w, &a, 0, &newc, NULL, &err), -EBADMSG, err, "signature_invalid", "does not verify");
	/* no touch */
	answer_with(&a, &w->c, &w->k, &(struct signing){ .kind = VG_RELAY_CTAP, .counter = 9 });
	assert_err(verify(w, &a, 0, &newc, NULL, &err), -EPERM, err, "user_not_present", "presence");
	/* UV required by the challenge, not performed; then performed */
	w->c.flags = VG_RELAY_F_UV;
	answer_with(&a, &w->c, &w->k, CTAP(9));
	assert_err(verify(w, &a, 0, &newc, NULL, &err), -EPERM, err, "user_not_verified", "verification");
	answer_with(&a, &w->c, &w->k, &(struct signing){ .kind = VG_RELAY_CTAP, .counter = 9, .flags = VG_AD_UP | VG_AD_UV });
	assert_int_equal(verify(w, &a, 0, &newc, NULL, &err), 0);
	w->c.flags = 0;
	/* the key signed for another relying party: vigild rebuilds with the bundle's rpIdHash */
	answer_with(&a, &w->c, &w->k,
		    &(struct signing){ .kind = VG_RELAY_CTAP, .rp_id = "other.example.com", .counter = 10, .flags = VG_AD_UP });
	assert_err(verify(w, &a, 0, &newc, NULL, &err), -EBADMSG, err, "signature_invalid", "does not verify");
}

/* Answer lengths per algorithm: each fits VG_RELAY_ANSWER_MAX, whatever the reason's length
 * (the reason is in the challenge, not the answer); an RSA key above 2048 bits is told why. */
static void test_answer_lengths(void **state)
{
	struct world *w = *state;
	static const struct {
		const char *name;
		int alg;
		size_t bits;
	} algs[] = { { "es256", VG_COSE_ES256, 0 }, { "eddsa", VG_COSE_EDDSA, 0 }, { "rs256", VG_COSE_RS256, 2048 } };
	struct vg_relay_answer a;
	struct vg_err err = { 0 };
	struct fx_key k;
	size_t chars, min, max;
	uint32_t newc;
	char *code = NULL;

	make_challenge(&w->c, "prod-db.with.a.rather.long.name.example.com", "sudo", NOW + 60);
	memset(w->c.reason, 'r', VG_RELAY_REASON_MAX);
	w->c.reason[VG_RELAY_REASON_MAX] = '\0';
	assert_int_equal(vg_relay_challenge_encode(&w->c, &code, &err), 0);
	free(code);
	for (size_t i = 0; i < VG_ARRAY_SIZE(algs); i++) {
		fx_key_init_alg(&k, 0x11, algs[i].alg, algs[i].bits);
		w->creds[0] = k.cred;
		for (int kind = VG_RELAY_CTAP; kind <= VG_RELAY_WEBAUTHN; kind++) {
			min = SIZE_MAX;
			max = 0;
			for (uint32_t n = 1; n <= 20; n++) {
				answer_with(&a, &w->c, &k,
					    kind == VG_RELAY_CTAP ? CTAP(n) : PAGE(origins[0], (uint8_t)(n % 3), n));
				if (verify(w, &a, n - 1, &newc, &chars, &err) != 0)
					fail_msg("%s refused: %s (%s)", algs[i].name, err.msg, err.code);
				min = chars < min ? chars : min;
				max = chars > max ? chars : max;
			}
			assert_true(max <= VG_RELAY_ANSWER_MAX);
			print_message("answer length %s %s: %zu..%zu characters\n", algs[i].name,
				      kind == VG_RELAY_CTAP ? "vigil-stepup" : "page", min, max);
		}
		fx_key_free(&k);
	}
	fx_key_init_alg(&k, 0x11, VG_COSE_RS256, 3072);
	w->creds[0] = k.cred;
	answer_with(&a, &w->c, &k, CTAP(1));
	assert_err(verify(w, &a, 0, &newc, &chars, &err), -E2BIG, err, "answer_too_long", "above 2048 bits");
	fx_key_free(&k);
	w->creds[0] = w->k.cred;
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
		cmocka_unit_test_setup_teardown(test_relabelled_code, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_answer_refusals, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_answer_lengths, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_enroll_none, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_enroll_packed, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_enroll_refusals, world_setup, world_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
