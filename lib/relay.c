/* SPDX-License-Identifier: Apache-2.0 */
/* Remote step-up challenge and answer codes: layout in include/vigil/relay.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "vigil/relay.h"
#include "vigil/util.h"

static const uint8_t challenge_magic[3] = { 'V', 'C', VG_RELAY_VERSION };
static const uint8_t answer_magic[3] = { 'V', 'A', VG_RELAY_VERSION };
static const uint8_t enrollment_magic[3] = { 'V', 'E', VG_RELAY_VERSION };

/* Bounded writer: once full, every later put is ignored and ok turns false. */
struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool ok;
};

static void put(struct wbuf *w, const void *data, size_t n)
{
	if (!w->ok || n > w->cap - w->len) {
		w->ok = false;
		return;
	}
	memcpy(w->p + w->len, data, n);
	w->len += n;
}

static void put_u8(struct wbuf *w, uint8_t v)
{
	put(w, &v, 1);
}

static void put_u16(struct wbuf *w, size_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	if (v > 0xffff)
		w->ok = false;
	put(w, b, 2);
}

static void put_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	put(w, b, 4);
}

static void put_str8(struct wbuf *w, const char *s)
{
	size_t n = strlen(s);

	if (n > 255) {
		w->ok = false;
		return;
	}
	put_u8(w, (uint8_t)n);
	put(w, s, n);
}

/* Bounded reader over untrusted bytes. */
struct rbuf {
	const uint8_t *p;
	size_t len, off;
};

static int get(struct rbuf *r, void *out, size_t n)
{
	if (n > r->len - r->off)
		return -EINVAL;
	memcpy(out, r->p + r->off, n);
	r->off += n;
	return 0;
}

static int get_u8(struct rbuf *r, uint8_t *v)
{
	return get(r, v, 1);
}

static int get_u16(struct rbuf *r, size_t *v)
{
	uint8_t b[2];

	if (get(r, b, 2) < 0)
		return -EINVAL;
	*v = (size_t)b[0] << 8 | b[1];
	return 0;
}

/* A length-prefixed field copied into out (max bytes); longer is malformed. */
static int get_bytes16(struct rbuf *r, uint8_t *out, size_t max, size_t *len)
{
	size_t n;

	if (get_u16(r, &n) < 0 || n > max)
		return -EINVAL;
	*len = n;
	return get(r, out, n);
}

/* Printable text: no control characters, so a challenge shown on a terminal cannot
 * move the cursor or rewrite what the administrator reads. */
static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

static int get_str8(struct rbuf *r, char *out, size_t max, bool may_be_empty)
{
	uint8_t n;

	if (get_u8(r, &n) < 0 || n > max || (!may_be_empty && n == 0))
		return -EINVAL;
	if (get(r, out, n) < 0)
		return -EINVAL;
	out[n] = '\0';
	return printable(out, n) && !memchr(out, '\0', n) ? 0 : -EINVAL;
}

static void challenge_mac(const uint8_t *key, const uint8_t *data, size_t len, uint8_t out[VG_RELAY_MAC_LEN])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	HMAC(EVP_sha256(), key, VG_RELAY_KEY_LEN, data, len, md, &mdlen);
	memcpy(out, md, VG_RELAY_MAC_LEN);
}

static int check_field(const char *what, const char *s, size_t max, bool may_be_empty, struct vg_err *err)
{
	size_t n = strnlen(s, max + 1);

	if (n > max || (!may_be_empty && n == 0) || !printable(s, n))
		return vg_err_set(err, EINVAL, "challenge_field_invalid", what,
				  "%s must be 1..%zu printable characters", what, max);
	return 0;
}

int vg_relay_challenge_seal(struct vg_relay_challenge *c, const uint8_t key[VG_RELAY_KEY_LEN], struct vg_err *err)
{
	struct wbuf w = { .p = c->raw, .cap = sizeof(c->raw) - VG_RELAY_MAC_LEN, .ok = true };
	int r;

	if ((r = check_field("user", c->user, VG_RELAY_USER_MAX, false, err)) < 0 ||
	    (r = check_field("host", c->host, VG_RELAY_HOST_MAX, false, err)) < 0 ||
	    (r = check_field("service", c->service, VG_RELAY_SERVICE_MAX, false, err)) < 0 ||
	    (r = check_field("rp_id", c->rp_id, VG_RELAY_RP_ID_MAX, false, err)) < 0 ||
	    (r = check_field("reason", c->reason, VG_RELAY_REASON_MAX, true, err)) < 0)
		return r;
	if (c->ncreds > VG_RELAY_MAX_CREDS)
		return vg_err_set(err, EINVAL, "challenge_field_invalid", "creds",
				  "at most %d credentials fit in a challenge, got %zu", VG_RELAY_MAX_CREDS, c->ncreds);
	if (c->expires <= 0 || (uint64_t)c->expires > UINT32_MAX)
		return vg_err_set(err, EINVAL, "challenge_field_invalid", "expires",
				  "expiry %lld is outside the 32-bit range of the code", (long long)c->expires);
	put(&w, challenge_magic, sizeof(challenge_magic));
	put_u8(&w, c->flags);
	put_u32(&w, (uint32_t)c->expires);
	put(&w, c->nonce, VG_RELAY_NONCE_LEN);
	put(&w, c->cdh, sizeof(c->cdh));
	put_str8(&w, c->user);
	put_str8(&w, c->host);
	put_str8(&w, c->service);
	put_str8(&w, c->rp_id);
	put_str8(&w, c->reason);
	put_u8(&w, (uint8_t)c->ncreds);
	for (size_t i = 0; i < c->ncreds; i++) {
		if (c->creds[i].len == 0)
			return vg_err_set(err, EINVAL, "challenge_field_invalid", "creds",
					  "credential %zu has an empty id", i);
		put_u8(&w, c->creds[i].len);
		put(&w, c->creds[i].id, c->creds[i].len);
	}
	if (!w.ok)
		return vg_err_set(err, E2BIG, "challenge_too_large", NULL,
				  "the challenge does not fit in %d bytes", VG_RELAY_CHALLENGE_MAX);
	challenge_mac(key, c->raw, w.len, c->raw + w.len);
	c->raw_len = w.len + VG_RELAY_MAC_LEN;
	return 0;
}

char *vg_relay_challenge_code(const struct vg_relay_challenge *c)
{
	return vg_b64_encode(c->raw, c->raw_len, true);
}

char *vg_relay_challenge_url(const char *origin, const char *code)
{
	size_t n = strlen(origin);
	char *out;

	while (n > 0 && origin[n - 1] == '/')
		n--;
	if (asprintf(&out, "%.*s/stepup/#c=%s", (int)n, origin, code) < 0)
		return NULL;
	return out;
}

static int malformed(struct vg_err *err, const char *what)
{
	return vg_err_set(err, EINVAL, "challenge_malformed", NULL,
			  "the challenge code is malformed (%s): copy it again, whole, from the prompt", what);
}

int vg_relay_challenge_parse(const uint8_t *raw, size_t len, struct vg_relay_challenge *out, struct vg_err *err)
{
	struct rbuf r = { .p = raw, .len = len };
	uint8_t magic[3], b[4], n;

	memset(out, 0, sizeof(*out));
	if (len > sizeof(out->raw) || len < sizeof(magic) + VG_RELAY_MAC_LEN)
		return malformed(err, "bad length");
	r.len = len - VG_RELAY_MAC_LEN;
	if (get(&r, magic, 3) < 0 || memcmp(magic, challenge_magic, 2))
		return malformed(err, "not a vigil challenge");
	if (magic[2] != VG_RELAY_VERSION)
		return vg_err_set(err, EINVAL, "challenge_malformed", NULL,
				  "challenge format version %u is not supported (this vigil reads %d)", magic[2],
				  VG_RELAY_VERSION);
	if (get_u8(&r, &out->flags) < 0 || get(&r, b, 4) < 0 || get(&r, out->nonce, VG_RELAY_NONCE_LEN) < 0 ||
	    get(&r, out->cdh, sizeof(out->cdh)) < 0)
		return malformed(err, "truncated header");
	out->expires = (time_t)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]);
	if (get_str8(&r, out->user, VG_RELAY_USER_MAX, false) < 0)
		return malformed(err, "user");
	if (get_str8(&r, out->host, VG_RELAY_HOST_MAX, false) < 0)
		return malformed(err, "host");
	if (get_str8(&r, out->service, VG_RELAY_SERVICE_MAX, false) < 0)
		return malformed(err, "service");
	if (get_str8(&r, out->rp_id, VG_RELAY_RP_ID_MAX, false) < 0)
		return malformed(err, "rp_id");
	if (get_str8(&r, out->reason, VG_RELAY_REASON_MAX, true) < 0)
		return malformed(err, "reason");
	if (get_u8(&r, &n) < 0 || n > VG_RELAY_MAX_CREDS)
		return malformed(err, "credential count");
	out->ncreds = n;
	for (size_t i = 0; i < n; i++) {
		struct vg_relay_cred *cr = &out->creds[i];

		if (get_u8(&r, &cr->len) < 0 || cr->len == 0 || get(&r, cr->id, cr->len) < 0)
			return malformed(err, "credential id");
	}
	if (r.off != r.len)
		return malformed(err, "trailing bytes");
	memcpy(out->raw, raw, len);
	out->raw_len = len;
	return 0;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Strip blanks around a paste and, for the URL form, keep what follows "#c=" up to '&'. */
static int extract_code(const char *text, char *buf, size_t cap)
{
	const char *s = text, *e, *frag;
	size_t n;

	if (strnlen(text, VG_RELAY_TEXT_MAX + 1) > VG_RELAY_TEXT_MAX)
		return -E2BIG;
	while (blank(*s))
		s++;
	e = s + strlen(s);
	while (e > s && blank(e[-1]))
		e--;
	frag = memmem(s, (size_t)(e - s), "#c=", 3);
	if (frag) {
		s = frag + 3;
		for (const char *amp = s; amp < e; amp++)
			if (*amp == '&') {
				e = amp;
				break;
			}
	}
	n = (size_t)(e - s);
	if (n == 0 || n >= cap)
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

static int decode_text(const char *text, uint8_t **bin, size_t *len)
{
	char buf[VG_RELAY_TEXT_MAX + 1];
	int r = extract_code(text, buf, sizeof(buf));

	if (r < 0)
		return r;
	for (const char *p = buf; *p; p++)
		if (*p == '+' || *p == '/' || *p == '=')
			return -EINVAL; /* codes are base64url without padding, nothing else */
	return vg_b64_decode(buf, bin, len);
}

int vg_relay_challenge_decode(const char *text, struct vg_relay_challenge *out, struct vg_err *err)
{
	uint8_t *bin = NULL;
	size_t len = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (decode_text(text, &bin, &len) < 0)
		return malformed(err, "not base64url");
	r = vg_relay_challenge_parse(bin, len, out, err);
	free(bin);
	return r;
}

int vg_relay_challenge_check(const struct vg_relay_challenge *c, const struct vg_relay_expect *e, struct vg_err *err)
{
	uint8_t mac[VG_RELAY_MAC_LEN];
	char when[32];

	if (c->raw_len < VG_RELAY_MAC_LEN + sizeof(challenge_magic))
		return malformed(err, "empty");
	if (strcmp(c->host, e->host))
		return vg_err_set(err, EPERM, "challenge_wrong_host", NULL,
				  "this answer is for a challenge of host \"%s\", not of this host \"%s\": "
				  "answer the challenge shown on this host",
				  c->host, e->host);
	challenge_mac(e->key, c->raw, c->raw_len - VG_RELAY_MAC_LEN, mac);
	if (CRYPTO_memcmp(mac, c->raw + c->raw_len - VG_RELAY_MAC_LEN, VG_RELAY_MAC_LEN))
		return vg_err_set(err, EPERM, "challenge_forged", NULL,
				  "the challenge inside this answer was not issued by this vigild (altered, or "
				  "issued before vigild restarted): ask for a new challenge");
	if (strcmp(c->user, e->user))
		return vg_err_set(err, EPERM, "challenge_wrong_user", NULL,
				  "this answer is for user \"%s\", not \"%s\"", c->user, e->user);
	if (strcmp(c->service, e->service))
		return vg_err_set(err, EPERM, "challenge_wrong_service", NULL,
				  "this answer is for service \"%s\", not \"%s\"", c->service, e->service);
	if (c->expires <= e->now) {
		vg_time_format(c->expires, when);
		return vg_err_set(err, ETIMEDOUT, "challenge_expired", NULL,
				  "the challenge expired at %s: ask for a new challenge and answer it in time", when);
	}
	return 0;
}

char *vg_relay_answer_encode(const struct vg_relay_answer *a)
{
	uint8_t buf[4 + 2 + VG_RELAY_CHALLENGE_MAX + 2 + VG_RELAY_CRED_ID_MAX + 2 + VG_RELAY_AUTHDATA_MAX + 2 +
		    VG_RELAY_SIG_MAX + 2 + VG_RELAY_CLIENT_DATA_MAX];
	struct wbuf w = { .p = buf, .cap = sizeof(buf), .ok = true };

	put(&w, answer_magic, sizeof(answer_magic));
	put_u8(&w, (uint8_t)a->kind);
	put_u16(&w, a->challenge.raw_len);
	put(&w, a->challenge.raw, a->challenge.raw_len);
	put_u16(&w, a->cred_id_len);
	put(&w, a->cred_id, a->cred_id_len);
	put_u16(&w, a->auth_data_len);
	put(&w, a->auth_data, a->auth_data_len);
	put_u16(&w, a->sig_len);
	put(&w, a->sig, a->sig_len);
	if (a->kind == VG_RELAY_WEBAUTHN) {
		put_u16(&w, a->client_data_len);
		put(&w, a->client_data, a->client_data_len);
	}
	if (!w.ok)
		return NULL;
	return vg_b64_encode(buf, w.len, true);
}

static int answer_malformed(struct vg_err *err, const char *what)
{
	return vg_err_set(err, EINVAL, "answer_malformed", NULL,
			  "the answer code is malformed (%s): paste the whole answer printed by vigil-stepup or "
			  "the step-up page",
			  what);
}

static int answer_parse(const uint8_t *bin, size_t len, struct vg_relay_answer *a, struct vg_err *err)
{
	struct rbuf r = { .p = bin, .len = len };
	uint8_t magic[3], kind;
	uint8_t chal[VG_RELAY_CHALLENGE_MAX];
	size_t chal_len;
	int ret;

	if (get(&r, magic, 3) < 0)
		return answer_malformed(err, "too short");
	if (!memcmp(magic, challenge_magic, 2))
		return vg_err_set(err, EINVAL, "answer_is_challenge", NULL,
				  "this is the challenge code, not an answer: run vigil-stepup with it (or open the "
				  "step-up page) and paste what it prints");
	if (memcmp(magic, answer_magic, 2))
		return answer_malformed(err, "not a vigil answer");
	if (magic[2] != VG_RELAY_VERSION)
		return vg_err_set(err, EINVAL, "answer_malformed", NULL,
				  "answer format version %u is not supported (this vigil reads %d)", magic[2],
				  VG_RELAY_VERSION);
	if (get_u8(&r, &kind) < 0 || (kind != VG_RELAY_CTAP && kind != VG_RELAY_WEBAUTHN))
		return answer_malformed(err, "unknown kind");
	a->kind = (enum vg_relay_kind)kind;
	if (get_bytes16(&r, chal, sizeof(chal), &chal_len) < 0)
		return answer_malformed(err, "challenge");
	ret = vg_relay_challenge_parse(chal, chal_len, &a->challenge, err);
	if (ret < 0)
		return ret;
	if (get_bytes16(&r, a->cred_id, sizeof(a->cred_id), &a->cred_id_len) < 0 || a->cred_id_len == 0)
		return answer_malformed(err, "credential id");
	if (get_bytes16(&r, a->auth_data, sizeof(a->auth_data), &a->auth_data_len) < 0)
		return answer_malformed(err, "authenticator data");
	if (get_bytes16(&r, a->sig, sizeof(a->sig), &a->sig_len) < 0 || a->sig_len == 0)
		return answer_malformed(err, "signature");
	if (a->kind == VG_RELAY_WEBAUTHN) {
		if (get_bytes16(&r, (uint8_t *)a->client_data, VG_RELAY_CLIENT_DATA_MAX, &a->client_data_len) < 0 ||
		    a->client_data_len == 0)
			return answer_malformed(err, "client data");
		a->client_data[a->client_data_len] = '\0';
	}
	if (r.off != r.len)
		return answer_malformed(err, "trailing bytes");
	return 0;
}

int vg_relay_answer_decode(const char *text, struct vg_relay_answer *out, struct vg_err *err)
{
	uint8_t *bin = NULL;
	size_t len = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (decode_text(text, &bin, &len) < 0)
		return answer_malformed(err, "not base64url");
	r = answer_parse(bin, len, out, err);
	free(bin);
	return r;
}

static int enrollment_malformed(struct vg_err *err, const char *what)
{
	return vg_err_set(err, EINVAL, "enrollment_malformed", NULL,
			  "the enrollment code is malformed (%s): copy the whole code printed by the enrollment page",
			  what);
}

int vg_relay_enrollment_decode(const char *text, struct vg_relay_enrollment *out, struct vg_err *err)
{
	uint8_t *bin = NULL;
	size_t len = 0;
	struct rbuf r;
	uint8_t magic[3];
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (decode_text(text, &bin, &len) < 0)
		return enrollment_malformed(err, "not base64url");
	r = (struct rbuf){ .p = bin, .len = len };
	if (get(&r, magic, 3) < 0 || memcmp(magic, enrollment_magic, 3))
		ret = enrollment_malformed(err, "not a vigil enrollment code");
	else if (get_bytes16(&r, out->att, sizeof(out->att), &out->att_len) < 0 || out->att_len == 0)
		ret = enrollment_malformed(err, "attestation object");
	else if (get_bytes16(&r, (uint8_t *)out->client_data, VG_RELAY_CLIENT_DATA_MAX, &out->client_data_len) < 0 ||
		 out->client_data_len == 0)
		ret = enrollment_malformed(err, "client data");
	else if (r.off != r.len)
		ret = enrollment_malformed(err, "trailing bytes");
	else
		out->client_data[out->client_data_len] = '\0';
	free(bin);
	return ret;
}
