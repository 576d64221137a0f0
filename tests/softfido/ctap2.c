// SPDX-License-Identifier: Apache-2.0
/*
 * softfido's CTAP2 commands: authenticatorGetInfo, MakeCredential,
 * GetAssertion and ClientPIN (protocol 1: getRetries, getKeyAgreement,
 * getPinToken). Requests are parsed with libcbor, replies built with it.
 */
#include <errno.h>
#include <string.h>

#include <cbor.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "internal.h"

#define CTAP_GETINFO 0x04
#define CTAP_MAKECRED 0x01
#define CTAP_GETASSERT 0x02
#define CTAP_CLIENTPIN 0x06

#define COSE_ES256 (-7)
#define COSE_EDDSA (-8)
#define COSE_RS256 (-257)
#define COSE_ECDH_ES_HKDF_256 (-25)

#define FLAG_UP 0x01
#define FLAG_UV 0x04
#define FLAG_AT 0x40

static cbor_item_t *cb_int(int64_t v)
{
	if (v >= 0)
		return v <= UINT8_MAX ? cbor_build_uint8((uint8_t)v) :
		       v <= UINT16_MAX ? cbor_build_uint16((uint16_t)v) : cbor_build_uint32((uint32_t)v);
	v = -1 - v;
	return v <= UINT8_MAX ? cbor_build_negint8((uint8_t)v) : cbor_build_negint16((uint16_t)v);
}

static bool map_put(cbor_item_t *map, cbor_item_t *k, cbor_item_t *v)
{
	bool ok = k && v && cbor_map_add(map, (struct cbor_pair){ .key = k, .value = v });

	if (k)
		cbor_decref(&k);
	if (v)
		cbor_decref(&v);
	return ok;
}

/* value of integer key k in a CBOR map, or NULL */
static cbor_item_t *map_get_int(cbor_item_t *map, int64_t k)
{
	struct cbor_pair *p = cbor_map_handle(map);

	for (size_t i = 0; i < cbor_map_size(map); i++) {
		cbor_item_t *key = p[i].key;

		if (cbor_isa_uint(key) && k >= 0 && cbor_get_int(key) == (uint64_t)k)
			return p[i].value;
		if (cbor_isa_negint(key) && k < 0 && cbor_get_int(key) == (uint64_t)(-1 - k))
			return p[i].value;
	}
	return NULL;
}

static cbor_item_t *map_get_str(cbor_item_t *map, const char *k)
{
	struct cbor_pair *p = cbor_map_handle(map);

	for (size_t i = 0; i < cbor_map_size(map); i++)
		if (cbor_isa_string(p[i].key) && cbor_string_is_definite(p[i].key) &&
		    cbor_string_length(p[i].key) == strlen(k) &&
		    memcmp(cbor_string_handle(p[i].key), k, strlen(k)) == 0)
			return p[i].value;
	return NULL;
}

static bool get_int(cbor_item_t *it, int64_t *out)
{
	if (!it)
		return false;
	if (cbor_isa_uint(it))
		*out = (int64_t)cbor_get_int(it);
	else if (cbor_isa_negint(it))
		*out = -1 - (int64_t)cbor_get_int(it);
	else
		return false;
	return true;
}

static bool get_bytes(cbor_item_t *it, const uint8_t **p, size_t *n)
{
	if (!it || !cbor_isa_bytestring(it) || !cbor_bytestring_is_definite(it))
		return false;
	*p = cbor_bytestring_handle(it);
	*n = cbor_bytestring_length(it);
	return true;
}

/* copy a definite text string into buf; false when absent, too long or containing NUL/space */
static bool get_text(cbor_item_t *it, char *buf, size_t cap)
{
	size_t n;

	if (!it || !cbor_isa_string(it) || !cbor_string_is_definite(it))
		return false;
	n = cbor_string_length(it);
	if (n == 0 || n >= cap || memchr(cbor_string_handle(it), 0, n) || memchr(cbor_string_handle(it), ' ', n))
		return false;
	memcpy(buf, cbor_string_handle(it), n);
	buf[n] = '\0';
	return true;
}

/* option value from the options map: 1 true, 0 false, -1 absent, -2 malformed */
static int get_option(cbor_item_t *opts, const char *name)
{
	cbor_item_t *v;

	if (!opts)
		return -1;
	v = map_get_str(opts, name);
	if (!v)
		return -1;
	if (!cbor_is_bool(v))
		return -2;
	return cbor_get_bool(v) ? 1 : 0;
}

static int reply_cbor(struct sf_reply *rep, cbor_item_t *item)
{
	unsigned char *buf = NULL;
	size_t cap = 0, n;

	if (!item)
		return rep->status = CTAP1_ERR_OTHER;
	n = cbor_serialize_alloc(item, &buf, &cap);
	cbor_decref(&item);
	if (n == 0) {
		free(buf);
		return rep->status = CTAP1_ERR_OTHER;
	}
	rep->body = buf;
	rep->body_len = n;
	return rep->status = 0;
}

EVP_PKEY *sf_keygen(int alg)
{
	EVP_PKEY *k = NULL;

	switch (alg) {
	case COSE_ES256:
		k = EVP_EC_gen("P-256");
		break;
	case COSE_EDDSA: {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);

		if (ctx && EVP_PKEY_keygen_init(ctx) == 1)
			EVP_PKEY_keygen(ctx, &k);
		EVP_PKEY_CTX_free(ctx);
		break;
	}
	case COSE_RS256:
		k = EVP_RSA_gen(2048);
		break;
	default:
		break;
	}
	ERR_clear_error();
	return k;
}

/* The COSE_Key of the public half, keys in CTAP2 canonical order. */
static cbor_item_t *cose_public(EVP_PKEY *k, int alg)
{
	cbor_item_t *m = NULL;
	uint8_t buf[600];
	size_t n = 0;

	if (alg == COSE_ES256 || alg == COSE_ECDH_ES_HKDF_256) {
		if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof(buf), &n) != 1 || n != 65)
			return NULL;
		m = cbor_new_definite_map(5);
		if (m && map_put(m, cb_int(1), cb_int(2)) && map_put(m, cb_int(3), cb_int(alg)) &&
		    map_put(m, cb_int(-1), cb_int(1)) && map_put(m, cb_int(-2), cbor_build_bytestring(buf + 1, 32)) &&
		    map_put(m, cb_int(-3), cbor_build_bytestring(buf + 33, 32)))
			return m;
	} else if (alg == COSE_EDDSA) {
		n = 32;
		if (EVP_PKEY_get_raw_public_key(k, buf, &n) != 1 || n != 32)
			return NULL;
		m = cbor_new_definite_map(4);
		if (m && map_put(m, cb_int(1), cb_int(1)) && map_put(m, cb_int(3), cb_int(alg)) &&
		    map_put(m, cb_int(-1), cb_int(6)) && map_put(m, cb_int(-2), cbor_build_bytestring(buf, 32)))
			return m;
	} else if (alg == COSE_RS256) {
		BIGNUM *bn_n = NULL, *bn_e = NULL;
		uint8_t e[8];
		int nlen, elen;
		bool ok = false;

		if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &bn_n) == 1 &&
		    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &bn_e) == 1 &&
		    (nlen = BN_num_bytes(bn_n)) <= (int)sizeof(buf) && (elen = BN_num_bytes(bn_e)) <= (int)sizeof(e)) {
			BN_bn2bin(bn_n, buf);
			BN_bn2bin(bn_e, e);
			m = cbor_new_definite_map(4);
			ok = m && map_put(m, cb_int(1), cb_int(3)) && map_put(m, cb_int(3), cb_int(alg)) &&
			     map_put(m, cb_int(-1), cbor_build_bytestring(buf, (size_t)nlen)) &&
			     map_put(m, cb_int(-2), cbor_build_bytestring(e, (size_t)elen));
		}
		BN_free(bn_n);
		BN_free(bn_e);
		if (ok)
			return m;
	}
	if (m)
		cbor_decref(&m);
	return NULL;
}

static int sign(EVP_PKEY *k, int alg, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t **sig,
		size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *msg = malloc(alen + blen);
	int r = -EIO;

	*sig = NULL;
	if (!ctx || !msg)
		goto out;
	memcpy(msg, a, alen);
	memcpy(msg + alen, b, blen);
	if (EVP_DigestSignInit(ctx, NULL, alg == COSE_EDDSA ? NULL : EVP_sha256(), NULL, k) != 1 ||
	    EVP_DigestSign(ctx, NULL, siglen, msg, alen + blen) != 1 || !(*sig = malloc(*siglen)) ||
	    EVP_DigestSign(ctx, *sig, siglen, msg, alen + blen) != 1)
		goto out;
	r = 0;
out:
	if (r < 0) {
		free(*sig);
		*sig = NULL;
	}
	free(msg);
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

/* The counter value for the next signature, applying the fault knob. */
static uint32_t next_counter(struct sf_state *st)
{
	switch (st->counter_mode) {
	case SF_COUNTER_ZERO:
		return 0;
	case SF_COUNTER_FROZEN:
		return st->counter;
	default:
		return ++st->counter;
	}
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void getinfo(const struct sf_state *st, struct sf_reply *rep)
{
	cbor_item_t *m = cbor_new_definite_map(5), *versions = cbor_new_definite_array(1);
	cbor_item_t *opts = cbor_new_definite_map(st->uv != SF_UV_OFF ? 4 : 3), *protos = cbor_new_definite_array(1);
	bool ok = m && versions && opts && protos;

	ok = ok && cbor_array_push(versions, cbor_move(cbor_build_string("FIDO_2_0")));
	ok = ok && map_put(opts, cbor_build_string("rk"), cbor_build_bool(false)) &&
	     map_put(opts, cbor_build_string("up"), cbor_build_bool(true));
	if (st->uv != SF_UV_OFF)
		ok = ok && map_put(opts, cbor_build_string("uv"), cbor_build_bool(true));
	ok = ok && map_put(opts, cbor_build_string("clientPin"), cbor_build_bool(st->has_pin));
	ok = ok && cbor_array_push(protos, cbor_move(cb_int(1)));
	ok = ok && map_put(m, cb_int(1), versions) && map_put(m, cb_int(3), cbor_build_bytestring(st->aaguid, 16)) &&
	     map_put(m, cb_int(4), opts) && map_put(m, cb_int(5), cb_int(SF_MAX_MSG)) && map_put(m, cb_int(6), protos);
	if (!ok) {
		if (m)
			cbor_decref(&m);
		rep->status = CTAP1_ERR_OTHER;
		return;
	}
	reply_cbor(rep, m);
}

/* pinUvAuthParam (protocol 1) = LEFT(HMAC-SHA-256(pinToken, clientDataHash), 16) */
static bool pin_auth_ok(const struct sf_session *s, const uint8_t *cdh, cbor_item_t *param)
{
	uint8_t mac[32];
	unsigned maclen = sizeof(mac);
	const uint8_t *p;
	size_t n;

	if (!s->have_token || !get_bytes(param, &p, &n) || n != 16)
		return false;
	if (!HMAC(EVP_sha256(), s->pin_token, sizeof(s->pin_token), cdh, 32, mac, &maclen))
		return false;
	return CRYPTO_memcmp(mac, p, 16) == 0;
}

/*
 * User verification for makeCredential / getAssertion: a valid pinUvAuthParam,
 * or the built-in "uv" option. Sets *uv; returns 0 or a CTAP status.
 */
static int user_verification(const struct sf_state *st, const struct sf_session *s, const uint8_t *cdh,
			     cbor_item_t *pin_param, cbor_item_t *pin_proto, int uv_opt, bool pin_required, bool *uv)
{
	int64_t proto;

	*uv = false;
	if (pin_param) {
		if (!get_int(pin_proto, &proto) || proto != 1)
			return CTAP2_ERR_PIN_AUTH_INVALID;
		if (!st->has_pin)
			return CTAP2_ERR_PIN_NOT_SET;
		if (!pin_auth_ok(s, cdh, pin_param))
			return CTAP2_ERR_PIN_AUTH_INVALID;
		*uv = true;
		return 0;
	}
	if (uv_opt == 1) {
		if (st->uv == SF_UV_OFF)
			return CTAP2_ERR_UNSUPPORTED_OPTION;
		if (st->uv == SF_UV_FAIL)
			return CTAP2_ERR_OPERATION_DENIED;
		*uv = true;
		return 0;
	}
	/* CTAP 2.0: with a PIN set, makeCredential needs it (or built-in UV) */
	return pin_required && st->has_pin ? CTAP2_ERR_PIN_REQUIRED : 0;
}

static const struct sf_cred *find_cred(const struct sf_state *st, const char *rp_id, const uint8_t *id, size_t len)
{
	for (size_t i = 0; i < st->ncreds; i++)
		if (len == SF_CRED_ID_LEN && memcmp(st->creds[i].id, id, len) == 0 &&
		    strcmp(st->creds[i].rp_id, rp_id) == 0)
			return &st->creds[i];
	return NULL;
}

/* the first credential of an allow/exclude list this key holds for rp_id */
static const struct sf_cred *match_list(const struct sf_state *st, const char *rp_id, cbor_item_t *list)
{
	if (!list || !cbor_isa_array(list))
		return NULL;
	for (size_t i = 0; i < cbor_array_size(list); i++) {
		cbor_item_t *d = cbor_array_get(list, i);
		const struct sf_cred *c = NULL;
		const uint8_t *id;
		size_t n;

		if (d && cbor_isa_map(d) && get_bytes(map_get_str(d, "id"), &id, &n))
			c = find_cred(st, rp_id, id, n);
		if (d)
			cbor_decref(&d);
		if (c)
			return c;
	}
	return NULL;
}

static void makecred(const char *path, struct sf_state *st, struct sf_session *s, cbor_item_t *req,
		     struct sf_reply *rep)
{
	cbor_item_t *rp = map_get_int(req, 2), *user = map_get_int(req, 3), *params = map_get_int(req, 4);
	cbor_item_t *opts = map_get_int(req, 7), *resp = NULL, *att = NULL;
	const uint8_t *cdh, *uid = NULL;
	size_t cdh_len, uid_len = 0, cose_len = 0, ad_len;
	unsigned char *cose = NULL;
	uint8_t *sig = NULL, *ad = NULL;
	size_t siglen = 0, cose_cap = 0;
	struct sf_cred c;
	bool uv;
	int alg = 0, st_uv;

	memset(&c, 0, sizeof(c));
	if (!get_bytes(map_get_int(req, 1), &cdh, &cdh_len) || cdh_len != 32 || !rp || !cbor_isa_map(rp) ||
	    !user || !cbor_isa_map(user) || !params || !cbor_isa_array(params)) {
		rep->status = CTAP2_ERR_MISSING_PARAMETER;
		return;
	}
	if (!get_text(map_get_str(rp, "id"), c.rp_id, sizeof(c.rp_id)) ||
	    !get_bytes(map_get_str(user, "id"), &uid, &uid_len) || uid_len > sizeof(c.user_id)) {
		rep->status = CTAP2_ERR_INVALID_CBOR;
		return;
	}
	for (size_t i = 0; i < cbor_array_size(params) && !alg; i++) {
		cbor_item_t *p = cbor_array_get(params, i);
		int64_t a;

		if (p && cbor_isa_map(p) && get_int(map_get_str(p, "alg"), &a) &&
		    (a == COSE_ES256 || a == COSE_EDDSA || a == COSE_RS256))
			alg = (int)a;
		if (p)
			cbor_decref(&p);
	}
	if (!alg) {
		rep->status = CTAP2_ERR_UNSUPPORTED_ALGORITHM;
		return;
	}
	if (get_option(opts, "rk") == 1 || get_option(opts, "up") == 0) {
		rep->status = CTAP2_ERR_UNSUPPORTED_OPTION;
		return;
	}
	st_uv = user_verification(st, s, cdh, map_get_int(req, 8), map_get_int(req, 9), get_option(opts, "uv"),
				  true, &uv);
	if (st_uv) {
		rep->status = (uint8_t)st_uv;
		return;
	}
	/* makeCredential always needs a touch */
	if (!st->touch) {
		rep->touch_timeout = true;
		rep->touch_wait_ms = st->notouch_ms;
		return;
	}
	if (match_list(st, c.rp_id, map_get_int(req, 5))) {
		rep->status = CTAP2_ERR_CREDENTIAL_EXCLUDED;
		return;
	}
	if (st->ncreds >= SF_MAX_CREDS || !(c.key = sf_keygen(alg)) || RAND_bytes(c.id, sizeof(c.id)) != 1)
		goto fail;
	c.alg = alg;
	memcpy(c.user_id, uid, uid_len);
	c.user_id_len = uid_len;
	att = cose_public(c.key, alg);
	if (!att || !(cose_len = cbor_serialize_alloc(att, &cose, &cose_cap)))
		goto fail;
	ad_len = 37 + 16 + 2 + SF_CRED_ID_LEN + cose_len;
	ad = malloc(ad_len);
	if (!ad)
		goto fail;
	SHA256((const uint8_t *)c.rp_id, strlen(c.rp_id), ad);
	ad[32] = FLAG_UP | FLAG_AT | (uv ? FLAG_UV : 0);
	put_be32(ad + 33, next_counter(st));
	memcpy(ad + 37, st->aaguid, 16);
	ad[53] = 0;
	ad[54] = SF_CRED_ID_LEN;
	memcpy(ad + 55, c.id, SF_CRED_ID_LEN);
	memcpy(ad + 55 + SF_CRED_ID_LEN, cose, cose_len);

	resp = cbor_new_definite_map(3);
	if (!resp || !map_put(resp, cb_int(1), cbor_build_string(st->attest_none ? "none" : "packed")) ||
	    !map_put(resp, cb_int(2), cbor_build_bytestring(ad, ad_len)))
		goto fail;
	if (st->attest_none) {
		if (!map_put(resp, cb_int(3), cbor_new_definite_map(0)))
			goto fail;
	} else {
		cbor_item_t *stmt = cbor_new_definite_map(2);

		/* self attestation: signed with the credential key itself */
		if (!stmt || sign(c.key, alg, ad, ad_len, cdh, 32, &sig, &siglen) < 0 ||
		    !map_put(stmt, cbor_build_string("alg"), cb_int(alg)) ||
		    !map_put(stmt, cbor_build_string("sig"), cbor_build_bytestring(sig, siglen))) {
			if (stmt)
				cbor_decref(&stmt);
			goto fail;
		}
		if (!map_put(resp, cb_int(3), stmt))
			goto fail;
	}
	st->creds[st->ncreds++] = c;
	c.key = NULL;
	if (sf_state_save(path, st) < 0) {
		cbor_decref(&resp);
		rep->status = CTAP1_ERR_OTHER;
	} else {
		reply_cbor(rep, resp);
	}
	resp = NULL;
	goto out;
fail:
	rep->status = CTAP1_ERR_OTHER;
out:
	if (resp)
		cbor_decref(&resp);
	if (att)
		cbor_decref(&att);
	EVP_PKEY_free(c.key);
	free(cose);
	free(ad);
	free(sig);
}

static void getassert(const char *path, struct sf_state *st, struct sf_session *s, cbor_item_t *req,
		      struct sf_reply *rep)
{
	cbor_item_t *opts = map_get_int(req, 5), *resp = NULL, *cd = NULL;
	const struct sf_cred *c;
	const uint8_t *cdh;
	size_t cdh_len, siglen = 0;
	char rp_id[256];
	uint8_t ad[37], *sig = NULL;
	EVP_PKEY *signer = NULL;
	bool uv;
	int up = get_option(opts, "up"), st_uv;

	if (!get_text(map_get_int(req, 1), rp_id, sizeof(rp_id)) ||
	    !get_bytes(map_get_int(req, 2), &cdh, &cdh_len) || cdh_len != 32) {
		rep->status = CTAP2_ERR_MISSING_PARAMETER;
		return;
	}
	if (up == -2 || get_option(opts, "uv") == -2) {
		rep->status = CTAP2_ERR_INVALID_CBOR;
		return;
	}
	st_uv = user_verification(st, s, cdh, map_get_int(req, 6), map_get_int(req, 7), get_option(opts, "uv"),
				  false, &uv);
	if (st_uv) {
		rep->status = (uint8_t)st_uv;
		return;
	}
	c = match_list(st, rp_id, map_get_int(req, 3));
	if (!c) {
		rep->status = CTAP2_ERR_NO_CREDENTIALS;
		return;
	}
	if (up != 0 && !st->touch) {
		rep->touch_timeout = true;
		rep->touch_wait_ms = st->notouch_ms;
		return;
	}
	SHA256((const uint8_t *)rp_id, strlen(rp_id), ad);
	ad[32] = (up != 0 ? FLAG_UP : 0) | (uv ? FLAG_UV : 0);
	put_be32(ad + 33, next_counter(st));
	signer = st->wrong_key ? sf_keygen(c->alg) : c->key;
	if (!signer || sign(signer, c->alg, ad, sizeof(ad), cdh, 32, &sig, &siglen) < 0)
		goto fail;
	resp = cbor_new_definite_map(3);
	cd = cbor_new_definite_map(2);
	if (!resp || !cd || !map_put(cd, cbor_build_string("id"), cbor_build_bytestring(c->id, SF_CRED_ID_LEN)) ||
	    !map_put(cd, cbor_build_string("type"), cbor_build_string("public-key")))
		goto fail;
	if (!map_put(resp, cb_int(1), cd)) {
		cd = NULL;
		goto fail;
	}
	cd = NULL;
	if (!map_put(resp, cb_int(2), cbor_build_bytestring(ad, sizeof(ad))) ||
	    !map_put(resp, cb_int(3), cbor_build_bytestring(sig, siglen)))
		goto fail;
	/* the counter is spent even if the reply is lost, as on a real key */
	if (sf_state_save(path, st) < 0)
		goto fail;
	reply_cbor(rep, resp);
	resp = NULL;
	goto out;
fail:
	rep->status = CTAP1_ERR_OTHER;
out:
	if (resp)
		cbor_decref(&resp);
	if (cd)
		cbor_decref(&cd);
	if (signer != c->key)
		EVP_PKEY_free(signer);
	free(sig);
}

/* shared secret of PIN protocol 1: SHA-256 of the ECDH x coordinate */
static int pin_shared_secret(struct sf_session *s, cbor_item_t *cose, uint8_t out[32])
{
	const uint8_t *x, *y;
	size_t xl, yl, zlen = 0;
	uint8_t pub[65], z[66];
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
		OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)),
		OSSL_PARAM_END,
	};
	EVP_PKEY_CTX *fctx = NULL, *dctx = NULL;
	EVP_PKEY *peer = NULL;
	int r = -EINVAL;

	if (!s->ka_key || !cose || !cbor_isa_map(cose) || !get_bytes(map_get_int(cose, -2), &x, &xl) ||
	    !get_bytes(map_get_int(cose, -3), &y, &yl) || xl != 32 || yl != 32)
		return -EINVAL;
	pub[0] = 0x04;
	memcpy(pub + 1, x, 32);
	memcpy(pub + 33, y, 32);
	fctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!fctx || EVP_PKEY_fromdata_init(fctx) != 1 || EVP_PKEY_fromdata(fctx, &peer, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	dctx = EVP_PKEY_CTX_new(s->ka_key, NULL);
	zlen = sizeof(z);
	if (!dctx || EVP_PKEY_derive_init(dctx) != 1 || EVP_PKEY_derive_set_peer(dctx, peer) != 1 ||
	    EVP_PKEY_derive(dctx, z, &zlen) != 1 || zlen != 32)
		goto out;
	SHA256(z, zlen, out);
	r = 0;
out:
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_CTX_free(fctx);
	EVP_PKEY_free(peer);
	ERR_clear_error();
	return r;
}

/* AES-256-CBC with a zero IV and no padding, as PIN protocol 1 uses it */
static int aes_cbc(const uint8_t key[32], bool enc, const uint8_t *in, size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t iv[16] = { 0 };
	int n = 0, r = -EIO;

	if (ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv, enc) == 1 &&
	    EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 && EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1 &&
	    (size_t)n == len)
		r = 0;
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

static void clientpin(const char *path, struct sf_state *st, struct sf_session *s, cbor_item_t *req,
		      struct sf_reply *rep)
{
	int64_t proto, sub;
	cbor_item_t *m;
	uint8_t shared[32], plain[16], enc[32];
	const uint8_t *phe;
	size_t phe_len;

	if (!get_int(map_get_int(req, 1), &proto) || !get_int(map_get_int(req, 2), &sub)) {
		rep->status = CTAP2_ERR_MISSING_PARAMETER;
		return;
	}
	if (proto != 1) {
		rep->status = CTAP1_ERR_INVALID_PARAMETER;
		return;
	}
	switch (sub) {
	case 1: /* getRetries */
		m = cbor_new_definite_map(1);
		if (m && !map_put(m, cb_int(3), cb_int(st->pin_retries))) {
			cbor_decref(&m);
			m = NULL;
		}
		reply_cbor(rep, m);
		return;
	case 2: /* getKeyAgreement: a fresh key per request, as after a power cycle */
		EVP_PKEY_free(s->ka_key);
		s->ka_key = EVP_EC_gen("P-256");
		m = cbor_new_definite_map(1);
		if (!s->ka_key || !m || !map_put(m, cb_int(1), cose_public(s->ka_key, COSE_ECDH_ES_HKDF_256))) {
			if (m)
				cbor_decref(&m);
			rep->status = CTAP1_ERR_OTHER;
			return;
		}
		reply_cbor(rep, m);
		return;
	case 5: /* getPinToken */
		break;
	default:
		rep->status = CTAP2_ERR_INVALID_SUBCOMMAND;
		return;
	}
	if (!st->has_pin) {
		rep->status = CTAP2_ERR_PIN_NOT_SET;
		return;
	}
	if (st->pin_retries == 0) {
		rep->status = CTAP2_ERR_PIN_BLOCKED;
		return;
	}
	if (!get_bytes(map_get_int(req, 6), &phe, &phe_len) || phe_len != 16 ||
	    pin_shared_secret(s, map_get_int(req, 3), shared) < 0) {
		rep->status = CTAP2_ERR_MISSING_PARAMETER;
		return;
	}
	if (aes_cbc(shared, false, phe, 16, plain) < 0 || CRYPTO_memcmp(plain, st->pin_hash, 16) != 0) {
		st->pin_retries--;
		sf_state_save(path, st);
		/* CTAP2: a wrong PIN also invalidates the key agreement */
		EVP_PKEY_free(s->ka_key);
		s->ka_key = NULL;
		rep->status = st->pin_retries ? CTAP2_ERR_PIN_INVALID : CTAP2_ERR_PIN_BLOCKED;
		return;
	}
	if (st->pin_retries != SF_PIN_RETRIES) {
		st->pin_retries = SF_PIN_RETRIES;
		sf_state_save(path, st);
	}
	if (RAND_bytes(s->pin_token, sizeof(s->pin_token)) != 1 ||
	    aes_cbc(shared, true, s->pin_token, sizeof(s->pin_token), enc) < 0) {
		rep->status = CTAP1_ERR_OTHER;
		return;
	}
	s->have_token = true;
	m = cbor_new_definite_map(1);
	if (m && !map_put(m, cb_int(2), cbor_build_bytestring(enc, sizeof(enc)))) {
		cbor_decref(&m);
		m = NULL;
	}
	reply_cbor(rep, m);
}

void sf_session_free(struct sf_session *s)
{
	EVP_PKEY_free(s->ka_key);
	s->ka_key = NULL;
	OPENSSL_cleanse(s->pin_token, sizeof(s->pin_token));
	s->have_token = false;
}

void sf_ctap2(const char *path, struct sf_session *s, const uint8_t *req, size_t len, struct sf_reply *rep)
{
	struct cbor_load_result res;
	cbor_item_t *args = NULL;
	struct sf_state st;
	struct sf_lock lk;

	memset(rep, 0, sizeof(*rep));
	if (len < 1) {
		rep->status = CTAP1_ERR_INVALID_LENGTH;
		return;
	}
	if (len > 1) {
		args = cbor_load(req + 1, len - 1, &res);
		if (!args || res.read != len - 1 || !cbor_isa_map(args)) {
			if (args)
				cbor_decref(&args);
			rep->status = CTAP2_ERR_INVALID_CBOR;
			return;
		}
	}
	if (sf_state_lock(path, &lk) < 0) {
		rep->status = CTAP1_ERR_OTHER;
		goto out_args;
	}
	if (sf_state_load(path, &st) < 0) {
		rep->status = CTAP1_ERR_OTHER;
		goto out_lock;
	}
	switch (req[0]) {
	case CTAP_GETINFO:
		getinfo(&st, rep);
		break;
	case CTAP_MAKECRED:
	case CTAP_GETASSERT:
	case CTAP_CLIENTPIN:
		if (!args) {
			rep->status = CTAP2_ERR_MISSING_PARAMETER;
			break;
		}
		if (req[0] == CTAP_MAKECRED)
			makecred(path, &st, s, args, rep);
		else if (req[0] == CTAP_GETASSERT)
			getassert(path, &st, s, args, rep);
		else
			clientpin(path, &st, s, args, rep);
		break;
	default:
		rep->status = CTAP1_ERR_INVALID_COMMAND;
		break;
	}
	sf_state_free(&st);
out_lock:
	sf_state_unlock(&lk);
out_args:
	if (args)
		cbor_decref(&args);
}
