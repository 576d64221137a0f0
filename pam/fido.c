/* SPDX-License-Identifier: Apache-2.0 */
/* The assertion from the local security key, through libfido2 (pam/flow.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fido.h>
#include <openssl/crypto.h>

#include "flow.h"
#include "vigil/fido_dev.h"
#include "vigil/util.h"

void pv_assertion_free(struct pv_assertion *as)
{
	free(as->credential_id);
	free(as->auth_data);
	free(as->signature);
	memset(as, 0, sizeof(*as));
}

/* libfido2 1.12 hands out authenticatorData CBOR-wrapped (a byte string); the verifier wants
 * the raw bytes. Bounded: the header must describe exactly the remaining length. */
static int unwrap_bstr(const uint8_t *p, size_t len, const uint8_t **raw, size_t *raw_len)
{
	size_t hdr, n;

	if (len < 1 || (p[0] & 0xe0) != 0x40)
		return -EINVAL;
	switch (p[0] & 0x1f) {
	case 24:
		if (len < 2)
			return -EINVAL;
		hdr = 2;
		n = p[1];
		break;
	case 25:
		if (len < 3)
			return -EINVAL;
		hdr = 3;
		n = (size_t)p[1] << 8 | p[2];
		break;
	default:
		if ((p[0] & 0x1f) > 23)
			return -EINVAL;
		hdr = 1;
		n = p[0] & 0x1f;
	}
	if (hdr + n != len)
		return -EINVAL;
	*raw = p + hdr;
	*raw_len = n;
	return 0;
}

int pv_fido_key_open(const struct pv_args *a, struct fido_dev **key, struct vg_err *err)
{
	fido_init(0);
	return vg_fido_dev_open(a->softfido[0] ? a->softfido : NULL, key, err);
}

void pv_fido_key_close(struct fido_dev **key)
{
	vg_fido_dev_close(key);
}

static const char *fido_why(int r)
{
	switch (r) {
	case FIDO_ERR_USER_ACTION_TIMEOUT:
	case FIDO_ERR_ACTION_TIMEOUT:
	case FIDO_ERR_RX:
		return "timeout";
	case FIDO_ERR_NO_CREDENTIALS:
		return "wrong_key";
	case FIDO_ERR_PIN_INVALID:
	case FIDO_ERR_PIN_BLOCKED:
	case FIDO_ERR_PIN_AUTH_BLOCKED:
	case FIDO_ERR_PIN_REQUIRED:
	case FIDO_ERR_UV_BLOCKED:
	case FIDO_ERR_UV_INVALID:
	case FIDO_ERR_UNSUPPORTED_OPTION:
		return "uv_missing";
	default:
		return "key_error";
	}
}

int pv_fido_assert(struct fido_dev *dev, const struct pv_args *a, const struct pv_io *io,
		   const struct pv_challenge_in *in, struct pv_assertion *out, const char **why, char *detail,
		   size_t detail_len)
{
	fido_assert_t *as = NULL;
	char *pin = NULL;
	const uint8_t *raw;
	size_t raw_len;
	int fr, ret = -EIO;

	memset(out, 0, sizeof(*out));
	as = fido_assert_new();
	if (!as)
		goto out;
	if (fido_assert_set_rp(as, in->rp_id) != FIDO_OK ||
	    fido_assert_set_clientdata_hash(as, in->client_data_hash, 32) != FIDO_OK ||
	    fido_assert_set_up(as, FIDO_OPT_TRUE) != FIDO_OK ||
	    fido_assert_set_uv(as, in->uv ? FIDO_OPT_TRUE : FIDO_OPT_OMIT) != FIDO_OK) {
		*why = "key_error";
		snprintf(detail, detail_len, "cannot build the assertion request");
		goto out;
	}
	for (size_t i = 0; i < in->ncreds; i++) {
		_cleanup_free_ uint8_t *id = NULL;
		size_t id_len = 0;

		if (vg_b64_decode(in->creds[i], &id, &id_len) == 0)
			fido_assert_allow_cred(as, id, id_len);
	}
	/* bounded: a key nobody touches ends the wait */
	fido_dev_set_timeout(dev, (int)(a->touch_timeout_s * 1000u));
	io->info(io->ctx, "Touch your security key");
	fr = fido_dev_get_assert(dev, as, NULL);
	if (fr == FIDO_ERR_PIN_REQUIRED || (fr == FIDO_ERR_UNSUPPORTED_OPTION && in->uv && fido_dev_has_pin(dev))) {
		pin = io->prompt(io->ctx, false, "Security key PIN: ");
		if (pin && *pin) {
			/* the PIN makes the user verified; the uv option itself is then omitted */
			fido_assert_set_uv(as, FIDO_OPT_OMIT);
			io->info(io->ctx, "Touch your security key");
			fr = fido_dev_get_assert(dev, as, pin);
		}
	}
	if (fr != FIDO_OK) {
		*why = fido_why(fr);
		snprintf(detail, detail_len, "libfido2: %s", fido_strerr(fr));
		goto out;
	}
	if (fido_assert_count(as) != 1 ||
	    unwrap_bstr(fido_assert_authdata_ptr(as, 0), fido_assert_authdata_len(as, 0), &raw, &raw_len) < 0) {
		*why = "key_error";
		snprintf(detail, detail_len, "unexpected assertion shape from the key");
		goto out;
	}
	out->credential_id = vg_b64_encode(fido_assert_id_ptr(as, 0), fido_assert_id_len(as, 0), true);
	out->auth_data = vg_b64_encode(raw, raw_len, false);
	out->signature = vg_b64_encode(fido_assert_sig_ptr(as, 0), fido_assert_sig_len(as, 0), false);
	if (!out->credential_id || !out->auth_data || !out->signature) {
		pv_assertion_free(out);
		*why = "key_error";
		snprintf(detail, detail_len, "out of memory");
		goto out;
	}
	ret = 0;
out:
	if (pin) {
		OPENSSL_cleanse(pin, strlen(pin));
		free(pin);
	}
	fido_assert_free(&as);
	return ret;
}
