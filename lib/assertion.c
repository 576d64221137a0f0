// SPDX-License-Identifier: Apache-2.0
/*
 * FIDO2 assertion verification and COSE_Key conversion. Inputs come from a
 * security key or from a paste, so the CBOR reader below is deliberately tiny
 * and bounded: definite lengths only, depth-limited, every read checked
 * against the bytes left.
 */
#include <errno.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "vigil/assertion.h"
#include "vigil/cbor.h"
#include "vigil/util.h"

#define COSE_MAX_ENTRIES 16
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192

/* COSE key parameters (RFC 9053) */
#define COSE_KTY 1
#define COSE_ALG 3
#define COSE_KTY_OKP 1
#define COSE_KTY_EC2 2
#define COSE_KTY_RSA 3
#define COSE_CRV_P256 1
#define COSE_CRV_ED25519 6

int vg_authdata_parse(const uint8_t *buf, size_t len, struct vg_authdata *out, struct vg_err *err)
{
	const char *code = "authdata_malformed";
	struct vg_cbor c;
	size_t off = VG_AUTHDATA_MIN;

	memset(out, 0, sizeof(*out));
	if (!buf || len < VG_AUTHDATA_MIN || len > VG_AUTHDATA_MAX)
		return vg_err_set(err, EBADMSG, code, "authenticatorData",
				  "authenticator data is %zu bytes, expected %d..%d", len, VG_AUTHDATA_MIN,
				  VG_AUTHDATA_MAX);
	memcpy(out->rp_id_hash, buf, 32);
	out->flags = buf[32];
	out->sign_count = (uint32_t)buf[33] << 24 | (uint32_t)buf[34] << 16 | (uint32_t)buf[35] << 8 | buf[36];
	if (out->flags & VG_AD_AT) {
		size_t idlen;

		if (len - off < 18)
			return vg_err_set(err, EBADMSG, code, "authenticatorData.attestedCredentialData",
					  "attested credential data truncated (AT flag set, %zu bytes left)",
					  len - off);
		memcpy(out->aaguid, buf + off, 16);
		idlen = (size_t)buf[off + 16] << 8 | buf[off + 17];
		off += 18;
		if (idlen == 0 || idlen > VG_CRED_ID_MAX || idlen > len - off)
			return vg_err_set(err, EBADMSG, code, "authenticatorData.credentialId",
					  "credential id length %zu is out of bounds (1..%d, %zu bytes left)",
					  idlen, VG_CRED_ID_MAX, len - off);
		out->cred_id = buf + off;
		out->cred_id_len = idlen;
		off += idlen;
		c = (struct vg_cbor){ buf + off, len - off };
		if (vg_cbor_skip(&c, 0) < 0)
			return vg_err_set(err, EBADMSG, code, "authenticatorData.credentialPublicKey",
					  "credential public key is not well-formed CBOR");
		out->cose_key = buf + off;
		out->cose_key_len = (size_t)(c.p - (buf + off));
		off += out->cose_key_len;
	}
	if (out->flags & VG_AD_ED) {
		c = (struct vg_cbor){ buf + off, len - off };
		if (c.n == 0 || (c.p[0] >> 5) != 5 || vg_cbor_skip(&c, 0) < 0)
			return vg_err_set(err, EBADMSG, code, "authenticatorData.extensions",
					  "extensions (ED flag set) are not a well-formed CBOR map");
		out->ext = buf + off;
		out->ext_len = (size_t)(c.p - (buf + off));
		off += out->ext_len;
	}
	if (off != len)
		return vg_err_set(err, EBADMSG, code, "authenticatorData",
				  "%zu unexpected trailing bytes after the flagged fields", len - off);
	return 0;
}

const char *vg_cose_alg_name(int alg)
{
	switch (alg) {
	case VG_COSE_ES256:
		return "es256";
	case VG_COSE_EDDSA:
		return "eddsa";
	case VG_COSE_RS256:
		return "rs256";
	default:
		return NULL;
	}
}

int vg_cose_alg_parse(const char *name, int *alg)
{
	static const int algs[] = { VG_COSE_ES256, VG_COSE_EDDSA, VG_COSE_RS256 };

	for (size_t i = 0; name && i < VG_ARRAY_SIZE(algs); i++)
		if (strcmp(name, vg_cose_alg_name(algs[i])) == 0) {
			*alg = algs[i];
			return 0;
		}
	return -EINVAL;
}

/* The key type an algorithm requires, so a PEM of another type never verifies. */
static int alg_pkey_type(int alg)
{
	switch (alg) {
	case VG_COSE_ES256:
		return EVP_PKEY_EC;
	case VG_COSE_EDDSA:
		return EVP_PKEY_ED25519;
	case VG_COSE_RS256:
		return EVP_PKEY_RSA;
	default:
		return EVP_PKEY_NONE;
	}
}

/* The PEM block's bytes, then d2i_PUBKEY: what PEM_read_bio_PUBKEY did before OpenSSL 3, whose
 * version builds an OSSL_DECODER chain on every call (5x the time, measured: ~650 -> ~130 us per
 * P-256 key), and each step-up parses the enrolled key. The same blocks are accepted: the first
 * "PUBLIC KEY" one, its DER read to the last byte. */
static EVP_PKEY *pem_public_key(const char *pem)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *k = NULL;
	long len = 0;
	BIO *bio;

	if (!pem || !(bio = BIO_new_mem_buf(pem, -1)))
		return NULL;
	if (PEM_bytes_read_bio(&der, &len, NULL, PEM_STRING_PUBLIC, bio, NULL, NULL) == 1) {
		p = der;
		k = d2i_PUBKEY(NULL, &p, len);
		if (k && p != der + len) {
			EVP_PKEY_free(k);
			k = NULL;
		}
	}
	OPENSSL_free(der);
	BIO_free(bio);
	ERR_clear_error();
	return k;
}

/* A P-256 key's group, checked by name so a P-384 key enrolled as es256 is refused. */
static bool ec_key_is_p256(EVP_PKEY *k)
{
	char group[64];
	size_t glen = 0;

	if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) != 1)
		return false;
	return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}

/* The enrolled key, or NULL with err set when it does not fit the credential's algorithm. */
static EVP_PKEY *credential_key(const struct vg_credential *cred, struct vg_err *err)
{
	EVP_PKEY *k = pem_public_key(cred->public_key);
	bool fits = k && EVP_PKEY_get_base_id(k) == alg_pkey_type(cred->alg);

	if (fits && cred->alg == VG_COSE_ES256)
		fits = ec_key_is_p256(k);
	if (fits && cred->alg == VG_COSE_RS256)
		fits = EVP_PKEY_get_bits(k) >= RSA_MIN_BITS && EVP_PKEY_get_bits(k) <= RSA_MAX_BITS;
	if (fits)
		return k;
	EVP_PKEY_free(k);
	vg_err_set(err, EINVAL, "credential_invalid", cred->id_b64 ? cred->id_b64 : "credential",
		   "the enrolled public key is not a valid %s key; re-enroll the credential",
		   vg_cose_alg_name(cred->alg) ? vg_cose_alg_name(cred->alg) : "supported");
	return NULL;
}

int vg_credential_check(const struct vg_credential *cred, struct vg_err *err)
{
	EVP_PKEY *k = credential_key(cred, err);

	if (!k)
		return -EINVAL;
	EVP_PKEY_free(k);
	return 0;
}

static int verify_signature(EVP_PKEY *key, int alg, const uint8_t *msg, size_t msglen, const uint8_t *sig,
			    size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const EVP_MD *md = alg == VG_COSE_EDDSA ? NULL : EVP_sha256();
	int ok = 0;

	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1)
		ok = EVP_DigestVerify(ctx, sig, siglen, msg, msglen) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok ? 0 : -EBADMSG;
}

int vg_assertion_verify(const struct vg_credential *cred, const char *rp_id,
			const uint8_t *client_data_hash, const uint8_t *auth_data, size_t auth_data_len,
			const uint8_t *sig, size_t sig_len, bool require_uv, uint32_t prev_counter,
			uint32_t *new_counter, struct vg_err *err)
{
	struct vg_authdata ad;
	uint8_t want[32];
	uint8_t *msg = NULL;
	EVP_PKEY *key = NULL;
	int r;

	if (!cred || !rp_id || !client_data_hash || !sig || sig_len == 0 || sig_len > 1024)
		return vg_err_set(err, EINVAL, "assertion_malformed", "assertion",
				  "assertion is incomplete (credential, rp id, client data hash or signature missing)");
	r = vg_authdata_parse(auth_data, auth_data_len, &ad, err);
	if (r < 0)
		return r;
	vg_sha256(rp_id, strlen(rp_id), want);
	if (memcmp(ad.rp_id_hash, want, sizeof(want)) != 0)
		return vg_err_set(err, EPERM, "rp_id_mismatch", "authenticatorData.rpIdHash",
				  "the assertion was made for another relying party than '%s'", rp_id);
	if (!(ad.flags & VG_AD_UP))
		return vg_err_set(err, EPERM, "user_not_present", "authenticatorData.flags",
				  "the key did not confirm user presence (no touch)");
	if ((require_uv || cred->uv) && !(ad.flags & VG_AD_UV))
		return vg_err_set(err, EPERM, "user_not_verified", "authenticatorData.flags",
				  "user verification (PIN or biometric) is required but the key did not perform it");

	key = credential_key(cred, err);
	if (!key) {
		r = -EINVAL;
		goto out;
	}
	msg = malloc(auth_data_len + 32);
	if (!msg) {
		r = vg_err_set(err, ENOMEM, "out_of_memory", "assertion", "out of memory");
		goto out;
	}
	memcpy(msg, auth_data, auth_data_len);
	memcpy(msg + auth_data_len, client_data_hash, 32);
	r = verify_signature(key, cred->alg, msg, auth_data_len + 32, sig, sig_len);
	if (r == -ENOMEM) {
		r = vg_err_set(err, ENOMEM, "out_of_memory", "assertion", "out of memory");
		goto out;
	}
	if (r < 0) {
		r = vg_err_set(err, EBADMSG, "signature_invalid", "assertion.signature",
			       "the signature does not verify with the enrolled key (wrong key or tampered assertion)");
		goto out;
	}
	/* WebAuthn §7.2: both zero means the authenticator keeps no counter; anything
	 * else must strictly increase, or two copies of the key are in use. */
	if ((ad.sign_count != 0 || prev_counter != 0) && ad.sign_count <= prev_counter) {
		r = vg_err_set(err, EPERM, "counter_not_increased", "authenticatorData.signCount",
			       "signature counter %u did not increase (stored %u): possible cloned key",
			       ad.sign_count, prev_counter);
		goto out;
	}
	if (new_counter)
		*new_counter = ad.sign_count;
	r = 0;
out:
	free(msg);
	EVP_PKEY_free(key);
	return r;
}

/* COSE key fields we read; pointers into the CBOR input. */
struct cose_fields {
	int64_t kty, alg, crv;
	bool has_kty, has_alg, has_crv;
	const uint8_t *x, *y, *n, *e;
	size_t xlen, ylen, nlen, elen;
};

static int cose_parse(const uint8_t *buf, size_t len, struct cose_fields *f)
{
	struct vg_cbor c = { buf, len };
	uint8_t major;
	uint64_t count;

	memset(f, 0, sizeof(*f));
	if (vg_cbor_head(&c, &major, &count) < 0 || major != 5 || count > COSE_MAX_ENTRIES)
		return -EBADMSG;
	for (uint64_t i = 0; i < count; i++) {
		int64_t label, iv;
		uint64_t blen;
		const uint8_t *b;

		if (vg_cbor_int(&c, &label) < 0 || c.n < 1)
			return -EBADMSG;
		major = c.p[0] >> 5;
		if (major <= 1) {
			if (vg_cbor_int(&c, &iv) < 0)
				return -EBADMSG;
			if (label == COSE_KTY && !f->has_kty) {
				f->kty = iv;
				f->has_kty = true;
			} else if (label == COSE_ALG && !f->has_alg) {
				f->alg = iv;
				f->has_alg = true;
			} else if (label == -1 && !f->has_crv) {
				f->crv = iv;
				f->has_crv = true;
			} else if (label == COSE_KTY || label == COSE_ALG || label == -1) {
				return -EBADMSG; /* duplicate */
			}
			continue;
		}
		if (major != 2) {
			struct vg_cbor skip = c;

			/* other parameters (kid, key_ops ...) are allowed and ignored */
			if (vg_cbor_skip(&skip, 1) < 0)
				return -EBADMSG;
			c = skip;
			continue;
		}
		if (vg_cbor_head(&c, &major, &blen) < 0 || blen > c.n)
			return -EBADMSG;
		b = c.p;
		c.p += blen;
		c.n -= blen;
		/* labels -1/-2 mean n/e for RSA and crv/x for the curves; the kty decides later */
		if (label == -1 && !f->n) {
			f->n = b;
			f->nlen = blen;
		} else if (label == -2 && !f->x) {
			f->x = b;
			f->xlen = blen;
		} else if (label == -3 && !f->y) {
			f->y = b;
			f->ylen = blen;
		} else if (label >= -3 && label <= -1) {
			return -EBADMSG; /* duplicate */
		}
	}
	return c.n == 0 && f->has_kty && f->has_alg ? 0 : -EBADMSG;
}

static EVP_PKEY *cose_ec2_key(const struct cose_fields *f)
{
	uint8_t pub[65];
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
		OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)),
		OSSL_PARAM_END,
	};
	EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
	EVP_PKEY *k = NULL;

	if (!f->has_crv || f->crv != COSE_CRV_P256 || f->xlen != 32 || f->ylen != 32 || f->n)
		return NULL;
	pub[0] = 0x04; /* uncompressed point */
	memcpy(pub + 1, f->x, 32);
	memcpy(pub + 33, f->y, 32);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto fail;
	/* fromdata does not prove the point is on the curve */
	chk = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	if (!chk || EVP_PKEY_public_check(chk) != 1)
		goto fail;
	EVP_PKEY_CTX_free(chk);
	EVP_PKEY_CTX_free(ctx);
	return k;
fail:
	EVP_PKEY_CTX_free(chk);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(k);
	return NULL;
}

static EVP_PKEY *cose_rsa_key(const struct cose_fields *f)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	BIGNUM *n = NULL, *e = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *k = NULL;

	if (!bld || !f->n || !f->x || f->has_crv || f->y)
		goto out;
	/* for RSA, label -2 is the public exponent */
	n = BN_bin2bn(f->n, (int)f->nlen, NULL);
	e = BN_bin2bn(f->x, (int)f->xlen, NULL);
	if (!n || !e || BN_num_bits(n) < RSA_MIN_BITS || BN_num_bits(n) > RSA_MAX_BITS || !BN_is_odd(e) ||
	    BN_is_one(e) || BN_num_bits(e) > 64)
		goto out;
	if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 || !(params = OSSL_PARAM_BLD_to_param(bld)))
		goto out;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		EVP_PKEY_free(k);
		k = NULL;
	}
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return k;
}

int vg_cose_key_to_pem(const uint8_t *cose, size_t len, int *alg, char **pem, struct vg_err *err)
{
	const char *code = "cose_key_invalid";
	struct cose_fields f;
	EVP_PKEY *k = NULL;
	BIO *bio = NULL;
	char *data = NULL;
	long n;
	int r;

	*pem = NULL;
	if (!cose || len == 0 || len > VG_AUTHDATA_MAX || cose_parse(cose, len, &f) < 0)
		return vg_err_set(err, EINVAL, code, "credentialPublicKey",
				  "the credential public key is not a well-formed COSE_Key map");
	if (f.kty == COSE_KTY_EC2 && f.alg == VG_COSE_ES256) {
		k = cose_ec2_key(&f);
	} else if (f.kty == COSE_KTY_OKP && f.alg == VG_COSE_EDDSA) {
		if (f.has_crv && f.crv == COSE_CRV_ED25519 && f.xlen == 32 && !f.y && !f.n)
			k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, f.x, 32);
	} else if (f.kty == COSE_KTY_RSA && f.alg == VG_COSE_RS256) {
		k = cose_rsa_key(&f);
	} else {
		return vg_err_set(err, EINVAL, code, "credentialPublicKey",
				  "unsupported key type %lld / algorithm %lld (supported: es256, eddsa, rs256)",
				  (long long)f.kty, (long long)f.alg);
	}
	ERR_clear_error();
	if (!k)
		return vg_err_set(err, EINVAL, code, "credentialPublicKey",
				  "the %s public key parameters are invalid (curve, length or point)",
				  vg_cose_alg_name((int)f.alg));
	bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_PUBKEY(bio, k) != 1 || (n = BIO_get_mem_data(bio, &data)) <= 0 ||
	    !(*pem = strndup(data, (size_t)n))) {
		r = vg_err_set(err, ENOMEM, "out_of_memory", "credentialPublicKey", "cannot encode the key as PEM");
		goto out;
	}
	*alg = (int)f.alg;
	r = 0;
out:
	BIO_free(bio);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return r;
}
