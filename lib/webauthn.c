/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WebAuthn clientDataJSON and attestationObject, and the verification of
 * remote step-up answers. The attestationObject reader is a small bounded CBOR
 * walk: definite lengths only, depth-limited, every read checked against the
 * bytes left.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "vigil/assertion.h"
#include "vigil/cbor.h"
#include "vigil/util.h"
#include "vigil/webauthn.h"

/* --- clientDataJSON --- */

static int cd_fail(struct vg_err *err, int errnum, const char *code, const char *msg)
{
	return vg_err_set(err, errnum, code, "clientDataJSON", "%s", msg);
}

static bool origin_allowed(const char *origin, char *const *origins, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(origin, origins[i]))
			return true;
	return false;
}

int vg_webauthn_check_client_data(const char *cdj, size_t len, const struct vg_webauthn_expect *e,
				  struct vg_err *err)
{
	json_error_t jerr;
	json_t *root, *type, *chal, *origin, *cross;
	uint8_t *got = NULL;
	size_t got_len = 0;
	int r;

	if (len == 0 || len > VG_RELAY_CLIENT_DATA_MAX)
		return cd_fail(err, EINVAL, "client_data_malformed", "client data is empty or longer than allowed");
	root = json_loadb(cdj, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		r = vg_err_set(err, EINVAL, "client_data_malformed", "clientDataJSON",
			       "client data is not a JSON object: %s", root ? "wrong type" : jerr.text);
		goto out;
	}
	type = json_object_get(root, "type");
	chal = json_object_get(root, "challenge");
	origin = json_object_get(root, "origin");
	cross = json_object_get(root, "crossOrigin");
	if (!json_is_string(type) || !json_is_string(chal) || !json_is_string(origin)) {
		r = cd_fail(err, EINVAL, "client_data_malformed",
			    "client data lacks one of type, challenge, origin (strings)");
		goto out;
	}
	if (strcmp(json_string_value(type), e->type)) {
		r = vg_err_set(err, EPERM, "client_data_wrong_type", "clientDataJSON.type",
			       "client data type is \"%s\", expected \"%s\"", json_string_value(type), e->type);
		goto out;
	}
	if (strpbrk(json_string_value(chal), "+/=") || vg_b64_decode(json_string_value(chal), &got, &got_len) < 0) {
		r = vg_err_set(err, EINVAL, "client_data_malformed", "clientDataJSON.challenge",
			       "the challenge in the client data is not base64url");
		goto out;
	}
	if (e->challenge && (got_len != e->challenge_len || CRYPTO_memcmp(got, e->challenge, got_len))) {
		r = vg_err_set(err, EPERM, "client_data_wrong_challenge", "clientDataJSON.challenge",
			       "the browser signed another challenge than the one in this answer (tampered answer)");
		goto out;
	}
	if (!origin_allowed(json_string_value(origin), e->origins, e->norigins)) {
		r = vg_err_set(err, EPERM, "origin_not_allowed", "clientDataJSON.origin",
			       "origin \"%s\" is not among the bundle's elevation.origins: use the step-up page "
			       "hosted on an allowed origin",
			       json_string_value(origin));
		goto out;
	}
	if ((cross && !json_is_false(cross)) || json_object_get(root, "topOrigin")) {
		r = cd_fail(err, EPERM, "cross_origin",
			    "the page ran inside a frame of another origin (crossOrigin): open it directly");
		goto out;
	}
	r = 0;
out:
	free(got);
	json_decref(root);
	return r;
}

/* --- attestationObject --- */

static bool text_is(const uint8_t *s, size_t len, const char *want)
{
	return len == strlen(want) && !memcmp(s, want, len);
}

struct attestation {
	const uint8_t *fmt;
	size_t fmt_len;
	const uint8_t *att_stmt; /* the attStmt map, exactly its bytes */
	size_t att_stmt_len;
	const uint8_t *auth_data;
	size_t auth_data_len;
};

static int att_malformed(struct vg_err *err, const char *what)
{
	return vg_err_set(err, EINVAL, "attestation_malformed", "attestationObject",
			  "the attestation object is malformed (%s): paste the whole enrollment code", what);
}

static int attestation_parse(const uint8_t *buf, size_t len, struct attestation *a, struct vg_err *err)
{
	struct vg_cbor c = { buf, len };
	uint8_t major;
	uint64_t n;

	memset(a, 0, sizeof(*a));
	if (len > VG_WEBAUTHN_ATTESTATION_MAX)
		return att_malformed(err, "too large");
	if (vg_cbor_head(&c, &major, &n) < 0 || major != 5 || n > 8)
		return att_malformed(err, "not a CBOR map");
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *key, *start;
		size_t klen;

		if (vg_cbor_string(&c, 3, &key, &klen) < 0)
			return att_malformed(err, "map key is not a text string");
		if (text_is(key, klen, "fmt")) {
			if (a->fmt || vg_cbor_string(&c, 3, &a->fmt, &a->fmt_len) < 0)
				return att_malformed(err, "fmt");
		} else if (text_is(key, klen, "authData")) {
			if (a->auth_data || vg_cbor_string(&c, 2, &a->auth_data, &a->auth_data_len) < 0)
				return att_malformed(err, "authData");
		} else if (text_is(key, klen, "attStmt")) {
			start = c.p;
			if (a->att_stmt || c.n < 1 || (c.p[0] >> 5) != 5 || vg_cbor_skip(&c, 0) < 0)
				return att_malformed(err, "attStmt");
			a->att_stmt = start;
			a->att_stmt_len = (size_t)(c.p - start);
		} else if (vg_cbor_skip(&c, 0) < 0) {
			return att_malformed(err, "unknown entry");
		}
	}
	if (c.n != 0)
		return att_malformed(err, "trailing bytes");
	if (!a->fmt || !a->auth_data || !a->att_stmt)
		return att_malformed(err, "fmt, attStmt or authData missing");
	return 0;
}

/* packed attStmt: {alg: int, sig: bytes} for self attestation; x5c means a vendor chain. */
static int packed_stmt(const struct attestation *a, int64_t *alg, const uint8_t **sig, size_t *sig_len,
		       struct vg_err *err)
{
	struct vg_cbor c = { a->att_stmt, a->att_stmt_len };
	uint8_t major;
	uint64_t n, v;
	bool have_alg = false;

	*sig = NULL;
	if (vg_cbor_head(&c, &major, &n) < 0 || major != 5 || n > 4)
		return att_malformed(err, "attStmt");
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *key;
		size_t klen;

		if (vg_cbor_string(&c, 3, &key, &klen) < 0)
			return att_malformed(err, "attStmt key");
		if (text_is(key, klen, "alg")) {
			if (have_alg || vg_cbor_head(&c, &major, &v) < 0 || major != 1 || v > INT32_MAX)
				return att_malformed(err, "attStmt.alg");
			*alg = -1 - (int64_t)v;
			have_alg = true;
		} else if (text_is(key, klen, "sig")) {
			if (*sig || vg_cbor_string(&c, 2, sig, sig_len) < 0)
				return att_malformed(err, "attStmt.sig");
		} else if (text_is(key, klen, "x5c")) {
			return vg_err_set(err, EINVAL, "attestation_unsupported", "attestationObject.attStmt.x5c",
					  "vendor (x5c) attestation is not supported: enroll with attestation \"none\" "
					  "or self attestation");
		} else {
			return att_malformed(err, "attStmt has an unknown entry");
		}
	}
	if (!have_alg || !*sig)
		return att_malformed(err, "attStmt lacks alg or sig");
	return 0;
}

static int none_stmt(const struct attestation *a, struct vg_err *err)
{
	/* the empty map, a0 */
	if (a->att_stmt_len != 1 || a->att_stmt[0] != 0xa0)
		return att_malformed(err, "attStmt of fmt none must be empty");
	return 0;
}

void vg_webauthn_enrollment_free(struct vg_webauthn_enrollment *e)
{
	if (!e)
		return;
	free(e->public_key);
	e->public_key = NULL;
}

int vg_webauthn_enroll(const uint8_t *att, size_t att_len, const char *cdj, size_t cdj_len, const char *rp_id,
		       char *const *origins, size_t norigins, struct vg_webauthn_enrollment *out,
		       struct vg_err *err)
{
	struct vg_webauthn_expect ex = { .type = "webauthn.create", .origins = origins, .norigins = norigins };
	struct vg_credential cred = { 0 };
	struct attestation a;
	struct vg_authdata ad;
	uint8_t cdh[32], want[32];
	char *id = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = vg_webauthn_check_client_data(cdj, cdj_len, &ex, err)) < 0 ||
	    (r = attestation_parse(att, att_len, &a, err)) < 0 ||
	    (r = vg_authdata_parse(a.auth_data, a.auth_data_len, &ad, err)) < 0)
		return r;
	vg_sha256(rp_id, strlen(rp_id), want);
	if (CRYPTO_memcmp(ad.rp_id_hash, want, 32))
		return vg_err_set(err, EPERM, "rp_id_mismatch", "authenticatorData.rpIdHash",
				  "the credential was created for another relying party than \"%s\"", rp_id);
	if (!(ad.flags & VG_AD_UP))
		return vg_err_set(err, EPERM, "user_not_present", "authenticatorData.flags",
				  "the key did not confirm user presence (no touch)");
	if (!(ad.flags & VG_AD_AT) || !ad.cred_id || ad.cred_id_len == 0 || ad.cred_id_len > VG_WEBAUTHN_CRED_ID_MAX)
		return att_malformed(err, "no attested credential data");
	r = vg_cose_key_to_pem(ad.cose_key, ad.cose_key_len, &out->alg, &out->public_key, err);
	if (r < 0)
		return r;
	id = vg_b64_encode(ad.cred_id, ad.cred_id_len, true);
	if (!id) {
		r = -ENOMEM;
		goto fail;
	}
	snprintf(out->id_b64, sizeof(out->id_b64), "%s", id);
	out->uv = ad.flags & VG_AD_UV;
	out->sign_count = ad.sign_count;
	if (text_is(a.fmt, a.fmt_len, "none")) {
		snprintf(out->fmt, sizeof(out->fmt), "none");
		if ((r = none_stmt(&a, err)) < 0)
			goto fail;
	} else if (text_is(a.fmt, a.fmt_len, "packed")) {
		const uint8_t *sig = NULL;
		size_t sig_len = 0;
		int64_t alg = 0;

		snprintf(out->fmt, sizeof(out->fmt), "packed");
		if ((r = packed_stmt(&a, &alg, &sig, &sig_len, err)) < 0)
			goto fail;
		if (alg != out->alg) {
			r = vg_err_set(err, EPERM, "attestation_invalid", "attestationObject.attStmt.alg",
				       "self attestation algorithm %lld differs from the credential's %d",
				       (long long)alg, out->alg);
			goto fail;
		}
		/* self attestation: the new credential signs authData ‖ clientDataHash */
		cred.id_b64 = out->id_b64;
		cred.alg = out->alg;
		cred.public_key = out->public_key;
		vg_sha256(cdj, cdj_len, cdh);
		r = vg_assertion_verify(&cred, rp_id, cdh, a.auth_data, a.auth_data_len, sig, sig_len, false, 0, NULL,
					err);
		if (r < 0) {
			if (!strcmp(err ? err->code : "", "signature_invalid"))
				vg_err_set(err, EPERM, "attestation_invalid", "attestationObject.attStmt.sig",
					   "the self attestation signature does not verify with the new credential");
			goto fail;
		}
	} else {
		r = vg_err_set(err, EINVAL, "attestation_unsupported", "attestationObject.fmt",
			       "attestation format \"%.*s\" is not supported: use \"none\" or \"packed\"",
			       (int)(a.fmt_len > 32 ? 32 : a.fmt_len), (const char *)a.fmt);
		goto fail;
	}
	free(id);
	return 0;
fail:
	free(id);
	vg_webauthn_enrollment_free(out);
	return r;
}

char *vg_webauthn_enrollment_snippet(const struct vg_webauthn_enrollment *e)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "id", e->id_b64, "alg",
			      vg_cose_alg_name(e->alg) ? vg_cose_alg_name(e->alg) : "unknown", "public_key",
			      e->public_key, "uv", e->uv);
	char *s;

	if (!o)
		return NULL;
	s = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	return s;
}

/* --- relay answers --- */

static int find_credential(const struct vg_relay_answer *a, const struct vg_relay_verify *v,
			   const struct vg_credential **cred, struct vg_err *err)
{
	uint8_t tag[VG_RELAY_TAG_LEN];

	*cred = NULL;
	for (size_t i = 0; v->user && i < v->user->ncreds; i++) {
		const struct vg_credential *c = &v->user->creds[i];

		vg_relay_tag(c->id, c->id_len, tag);
		if (memcmp(tag, a->cred_tag, sizeof(tag)))
			continue;
		if (*cred)
			return vg_err_set(err, EPERM, "credential_ambiguous", NULL,
					  "two credentials of user \"%s\" share the answer's credential tag: enroll the "
					  "key again (a new credential id)",
					  v->challenge->user);
		*cred = c;
	}
	if (*cred)
		return 0;
	return vg_err_set(err, EPERM, "credential_not_enrolled", NULL,
			  "the key that answered is not enrolled for user \"%s\" in the running policy",
			  v->challenge->user);
}

static int find_origin(const struct vg_relay_answer *a, const struct vg_relay_verify *v, const char **origin,
		       struct vg_err *err)
{
	uint8_t tag[VG_RELAY_TAG_LEN];

	*origin = NULL;
	for (size_t i = 0; i < v->norigins; i++) {
		vg_relay_tag(v->origins[i], strlen(v->origins[i]), tag);
		if (memcmp(tag, a->origin_tag, sizeof(tag)))
			continue;
		if (*origin)
			return vg_err_set(err, EPERM, "origin_ambiguous", NULL,
					  "two of the bundle's elevation.origins share the answer's origin tag: use the "
					  "page on the first origin");
		*origin = v->origins[i];
	}
	if (*origin)
		return 0;
	return vg_err_set(err, EPERM, "origin_not_allowed", "clientDataJSON.origin",
			  "the step-up page ran on an origin that is not among the bundle's elevation.origins: use "
			  "the URL shown at the prompt");
}

/* {"type":"webauthn.get","challenge":"B64URL","origin":"ORIGIN" + tail, as browsers write it */
static int rebuild_client_data(const struct vg_relay_answer *a, const struct vg_relay_verify *v, const char *origin,
			       struct vg_relay_assertion *out, struct vg_err *err)
{
	_cleanup_free_ char *chal = vg_b64_encode(v->challenge->hash, sizeof(v->challenge->hash), true);
	const char *tail = a->cd_layout == VG_RELAY_CD_VERBATIM ? a->cd_tail : vg_relay_cd_tails[a->cd_layout];
	int n;

	if (!chal)
		return -ENOMEM;
	n = snprintf(out->client_data, sizeof(out->client_data),
		     "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\"%s", chal, origin, tail);
	if (n < 0 || (size_t)n >= sizeof(out->client_data))
		return vg_err_set(err, EINVAL, "client_data_malformed", "clientDataJSON",
				  "the rebuilt client data is longer than %d bytes", VG_RELAY_CLIENT_DATA_MAX);
	out->client_data_len = (size_t)n;
	return 0;
}

int vg_relay_answer_expand(const struct vg_relay_answer *a, const struct vg_relay_verify *v,
			   struct vg_relay_assertion *out, struct vg_err *err)
{
	const struct vg_relay_challenge *c = v->challenge;
	uint8_t *ad = out->auth_data;
	const char *origin = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if (memcmp(a->challenge_tag, c->nonce, VG_RELAY_TAG_LEN))
		return vg_err_set(err, EPERM, "answer_other_challenge", NULL,
				  "this answer was made for another challenge (an earlier prompt, or another host): "
				  "answer the code shown in this prompt");
	if ((r = find_credential(a, v, &out->cred, err)) < 0)
		return r;
	if (a->kind == VG_RELAY_WEBAUTHN &&
	    ((r = find_origin(a, v, &origin, err)) < 0 || (r = rebuild_client_data(a, v, origin, out, err)) < 0))
		return r;
	/* authenticatorData: the rpIdHash is the bundle's, so a key that signed for another RP fails */
	vg_sha256(v->rp_id, strlen(v->rp_id), ad);
	ad[32] = a->flags;
	ad[33] = (uint8_t)(a->counter >> 24);
	ad[34] = (uint8_t)(a->counter >> 16);
	ad[35] = (uint8_t)(a->counter >> 8);
	ad[36] = (uint8_t)a->counter;
	memcpy(ad + 37, a->ext, a->ext_len);
	out->auth_data_len = 37 + a->ext_len;
	return 0;
}

int vg_relay_answer_verify_sig(const struct vg_relay_answer *a, const struct vg_relay_verify *v,
			       const struct vg_relay_assertion *as, uint32_t prev_counter, uint32_t *new_counter,
			       struct vg_err *err)
{
	uint8_t cdh[32];
	bool uv = v->require_uv || (v->challenge->flags & VG_RELAY_F_UV);
	int r;

	if (a->kind == VG_RELAY_WEBAUTHN) {
		struct vg_webauthn_expect ex = { .type = "webauthn.get",
						 .challenge = v->challenge->hash,
						 .challenge_len = sizeof(v->challenge->hash),
						 .origins = v->origins,
						 .norigins = v->norigins };

		if ((r = vg_webauthn_check_client_data(as->client_data, as->client_data_len, &ex, err)) < 0)
			return r;
		vg_sha256(as->client_data, as->client_data_len, cdh);
	} else {
		memcpy(cdh, v->challenge->hash, sizeof(cdh));
	}
	return vg_assertion_verify(as->cred, v->rp_id, cdh, as->auth_data, as->auth_data_len, a->sig, a->sig_len, uv,
				   prev_counter, new_counter, err);
}
