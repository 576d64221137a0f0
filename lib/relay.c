/* SPDX-License-Identifier: Apache-2.0 */
/* Remote step-up challenge and answer codes: layout in include/vigil/relay.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vigil/relay.h"
#include "vigil/util.h"

static const uint8_t challenge_magic[3] = { 'V', 'C', VG_RELAY_VERSION };
static const uint8_t answer_magic[3] = { 'V', 'A', VG_RELAY_VERSION };
static const uint8_t enrollment_magic[3] = { 'V', 'E', VG_RELAY_ENROLL_VERSION };

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

static int get_u32(struct rbuf *r, uint32_t *v)
{
	uint8_t b[4];

	if (get(r, b, 4) < 0)
		return -EINVAL;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
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

static int check_field(const char *what, const char *s, size_t max, bool may_be_empty, struct vg_err *err)
{
	size_t n = strnlen(s, max + 1);

	if (n > max || (!may_be_empty && n == 0) || !printable(s, n))
		return vg_err_set(err, EINVAL, "challenge_field_invalid", what,
				  "%s must be %s%zu printable characters", what, may_be_empty ? "0.." : "1..", max);
	return 0;
}

/* The context bytes: "VC" version | nonce | expires | user | host | service | reason. */
static void put_context(struct wbuf *w, const struct vg_relay_context *c)
{
	put(w, challenge_magic, sizeof(challenge_magic));
	put(w, c->nonce, VG_RELAY_NONCE_LEN);
	put_u32(w, (uint32_t)c->expires);
	put_str8(w, c->user);
	put_str8(w, c->host);
	put_str8(w, c->service);
	put_str8(w, c->reason);
}

int vg_relay_context_hash(const struct vg_relay_context *c, uint8_t out[32], struct vg_err *err)
{
	uint8_t buf[3 + VG_RELAY_NONCE_LEN + 4 + 4 * 256];
	struct wbuf w = { .p = buf, .cap = sizeof(buf), .ok = true };

	if (c->expires <= 0 || (uint64_t)c->expires > UINT32_MAX)
		return vg_err_set(err, EINVAL, "challenge_field_invalid", "expires",
				  "expiry %lld is outside the 32-bit range of the challenge", (long long)c->expires);
	put_context(&w, c);
	if (!w.ok)
		return vg_err_set(err, EINVAL, "challenge_field_invalid", "context",
				  "user, host, service and reason must each be at most 255 bytes");
	vg_sha256(buf, w.len, out);
	return 0;
}

static struct vg_relay_context context_of(const struct vg_relay_challenge *c)
{
	struct vg_relay_context x = {
		.expires = c->expires, .user = c->user, .host = c->host, .service = c->service, .reason = c->reason
	};

	memcpy(x.nonce, c->nonce, sizeof(x.nonce));
	return x;
}

int vg_relay_challenge_encode(struct vg_relay_challenge *c, char **code, struct vg_err *err)
{
	uint8_t buf[VG_RELAY_CHALLENGE_MAX];
	struct wbuf w = { .p = buf, .cap = sizeof(buf), .ok = true };
	struct vg_relay_context x = context_of(c);
	int r;

	*code = NULL;
	if ((r = check_field("user", c->user, VG_RELAY_USER_MAX, false, err)) < 0 ||
	    (r = check_field("host", c->host, VG_RELAY_HOST_MAX, false, err)) < 0 ||
	    (r = check_field("service", c->service, VG_RELAY_SERVICE_MAX, false, err)) < 0 ||
	    (r = check_field("rp_id", c->rp_id, VG_RELAY_RP_ID_MAX, false, err)) < 0 ||
	    (r = check_field("reason", c->reason, VG_RELAY_REASON_MAX, true, err)) < 0 ||
	    (r = vg_relay_context_hash(&x, c->hash, err)) < 0)
		return r;
	if (c->ncreds > VG_RELAY_MAX_CREDS)
		return vg_err_set(err, EINVAL, "challenge_field_invalid", "creds",
				  "at most %d credentials fit in a challenge, got %zu", VG_RELAY_MAX_CREDS, c->ncreds);
	put_context(&w, &x);
	put_str8(&w, c->rp_id);
	put_u8(&w, c->flags);
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
	*code = vg_b64_encode(buf, w.len, true);
	return *code ? 0 : -ENOMEM;
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

static int challenge_parse(const uint8_t *raw, size_t len, struct vg_relay_challenge *out, struct vg_err *err)
{
	struct rbuf r = { .p = raw, .len = len };
	uint8_t magic[3], n;
	uint32_t expires;
	struct vg_relay_context x;

	if (len > VG_RELAY_CHALLENGE_MAX || get(&r, magic, 3) < 0 || memcmp(magic, challenge_magic, 2))
		return malformed(err, "not a vigil challenge");
	if (magic[2] != VG_RELAY_VERSION)
		return vg_err_set(err, EINVAL, "challenge_malformed", NULL,
				  "challenge format version %u is not supported (this vigil reads %d): use the "
				  "vigil-stepup and step-up page of the host's vigil version",
				  magic[2], VG_RELAY_VERSION);
	if (get(&r, out->nonce, VG_RELAY_NONCE_LEN) < 0 || get_u32(&r, &expires) < 0)
		return malformed(err, "truncated header");
	out->expires = (time_t)expires;
	if (get_str8(&r, out->user, VG_RELAY_USER_MAX, false) < 0)
		return malformed(err, "user");
	if (get_str8(&r, out->host, VG_RELAY_HOST_MAX, false) < 0)
		return malformed(err, "host");
	if (get_str8(&r, out->service, VG_RELAY_SERVICE_MAX, false) < 0)
		return malformed(err, "service");
	if (get_str8(&r, out->reason, VG_RELAY_REASON_MAX, true) < 0)
		return malformed(err, "reason");
	if (get_str8(&r, out->rp_id, VG_RELAY_RP_ID_MAX, false) < 0)
		return malformed(err, "rp_id");
	if (get_u8(&r, &out->flags) < 0 || get_u8(&r, &n) < 0 || n > VG_RELAY_MAX_CREDS)
		return malformed(err, "credential count");
	out->ncreds = n;
	for (size_t i = 0; i < n; i++) {
		struct vg_relay_cred *cr = &out->creds[i];

		if (get_u8(&r, &cr->len) < 0 || cr->len == 0 || get(&r, cr->id, cr->len) < 0)
			return malformed(err, "credential id");
	}
	if (r.off != r.len)
		return malformed(err, "trailing bytes");
	/* the hash comes from the fields just parsed: what is shown is what is signed */
	x = context_of(out);
	if (vg_relay_context_hash(&x, out->hash, err) < 0)
		return malformed(err, "expiry");
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
	r = challenge_parse(bin, len, out, err);
	free(bin);
	return r;
}

const char *const vg_relay_cd_tails[VG_RELAY_CD_VERBATIM] = {
	",\"crossOrigin\":false}",
	"}",
	/* Chromium adds this key to one answer in five, to keep servers from matching a template */
	",\"crossOrigin\":false,\"other_keys_can_be_added_here\":\"do not compare clientDataJSON against a "
	"template. See https://goo.gl/yabPex\"}",
};

void vg_relay_tag(const void *data, size_t len, uint8_t tag[VG_RELAY_TAG_LEN])
{
	uint8_t h[32];

	vg_sha256(data, len, h);
	memcpy(tag, h, VG_RELAY_TAG_LEN);
}

/* Base64url characters for n bytes, without padding. */
static size_t b64_chars(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

static int answer_too_long(struct vg_err *err, size_t chars, const struct vg_relay_answer *a)
{
	return vg_err_set(err, E2BIG, "answer_too_long", NULL,
			  "the answer would be %zu characters, more than the %d a prompt accepts: the key's "
			  "signature is %zu bytes%s%s (an RS256 key above 2048 bits cannot answer through a prompt; "
			  "enroll an ES256 or EdDSA key)",
			  chars, VG_RELAY_ANSWER_MAX, a->sig_len, a->cd_tail_len ? ", and the browser's client data has " : "",
			  a->cd_tail_len ? "fields vigil cannot rebuild" : "");
}

int vg_relay_answer_encode(const struct vg_relay_answer *a, char **code, struct vg_err *err)
{
	uint8_t buf[64 + VG_RELAY_EXT_MAX + VG_RELAY_CD_TAIL_MAX + VG_RELAY_SIG_MAX];
	struct wbuf w = { .p = buf, .cap = sizeof(buf), .ok = true };

	*code = NULL;
	put(&w, answer_magic, sizeof(answer_magic));
	put_u8(&w, (uint8_t)a->kind);
	put(&w, a->challenge_tag, VG_RELAY_TAG_LEN);
	put(&w, a->cred_tag, VG_RELAY_TAG_LEN);
	put_u8(&w, a->flags);
	put_u32(&w, a->counter);
	if (a->flags & 0x80) {
		if (a->ext_len > VG_RELAY_EXT_MAX)
			w.ok = false;
		put_u8(&w, (uint8_t)a->ext_len);
		put(&w, a->ext, a->ext_len);
	}
	if (a->kind == VG_RELAY_WEBAUTHN) {
		put(&w, a->origin_tag, VG_RELAY_TAG_LEN);
		put_u8(&w, a->cd_layout);
		if (a->cd_layout == VG_RELAY_CD_VERBATIM) {
			if (a->cd_tail_len > VG_RELAY_CD_TAIL_MAX)
				w.ok = false;
			put_u8(&w, (uint8_t)a->cd_tail_len);
			put(&w, a->cd_tail, a->cd_tail_len);
		}
	}
	if (a->sig_len == 0 || a->sig_len > VG_RELAY_SIG_MAX)
		w.ok = false;
	put(&w, a->sig, a->sig_len);
	if (!w.ok)
		return vg_err_set(err, EINVAL, "answer_invalid", NULL,
				  "the assertion does not fit the answer format (signature %zu bytes, extensions %zu)",
				  a->sig_len, a->ext_len);
	if (b64_chars(w.len) > VG_RELAY_ANSWER_MAX)
		return answer_too_long(err, b64_chars(w.len), a);
	*code = vg_b64_encode(buf, w.len, true);
	return *code ? 0 : -ENOMEM;
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
	uint8_t magic[3], kind, n;

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
				  "answer format version %u is not supported (this vigil reads %d): use the "
				  "vigil-stepup and step-up page of the host's vigil version",
				  magic[2], VG_RELAY_VERSION);
	if (get_u8(&r, &kind) < 0 || (kind != VG_RELAY_CTAP && kind != VG_RELAY_WEBAUTHN))
		return answer_malformed(err, "unknown kind");
	a->kind = (enum vg_relay_kind)kind;
	if (get(&r, a->challenge_tag, VG_RELAY_TAG_LEN) < 0 || get(&r, a->cred_tag, VG_RELAY_TAG_LEN) < 0 ||
	    get_u8(&r, &a->flags) < 0 || get_u32(&r, &a->counter) < 0)
		return answer_malformed(err, "truncated header");
	if (a->flags & 0x80) {
		if (get_u8(&r, &n) < 0 || get(&r, a->ext, n) < 0)
			return answer_malformed(err, "extensions");
		a->ext_len = n;
	}
	if (a->kind == VG_RELAY_WEBAUTHN) {
		if (get(&r, a->origin_tag, VG_RELAY_TAG_LEN) < 0 || get_u8(&r, &a->cd_layout) < 0 ||
		    a->cd_layout > VG_RELAY_CD_VERBATIM)
			return answer_malformed(err, "client data layout");
		if (a->cd_layout == VG_RELAY_CD_VERBATIM) {
			if (get_u8(&r, &n) < 0 || n == 0 || get(&r, a->cd_tail, n) < 0 || memchr(a->cd_tail, '\0', n))
				return answer_malformed(err, "client data tail");
			a->cd_tail_len = n;
			a->cd_tail[n] = '\0';
		}
	}
	a->sig_len = r.len - r.off;
	if (a->sig_len == 0 || get(&r, a->sig, a->sig_len) < 0)
		return answer_malformed(err, "signature");
	return 0;
}

static bool is_challenge(const uint8_t *bin, size_t len)
{
	return len >= 2 && !memcmp(bin, challenge_magic, 2);
}

int vg_relay_answer_decode(const char *text, struct vg_relay_answer *out, struct vg_err *err)
{
	uint8_t *bin = NULL;
	size_t len = 0, n = 0;
	int r;

	memset(out, 0, sizeof(*out));
	for (const char *p = text; *p && n <= VG_RELAY_TEXT_MAX; p++)
		n += !blank(*p);
	if (n == 0)
		return vg_err_set(err, EINVAL, "answer_empty", NULL,
				  "the answer arrived empty: paste the one line printed by vigil-stepup or the step-up "
				  "page (sudo delivers a line of 512 characters or more as empty; vigil answers are at "
				  "most %d)",
				  VG_RELAY_ANSWER_MAX);
	r = decode_text(text, &bin, &len);
	if (r == 0 && is_challenge(bin, len))
		r = answer_parse(bin, len, out, err); /* says answer_is_challenge */
	else if (n > VG_RELAY_ANSWER_MAX)
		r = vg_err_set(err, E2BIG, "answer_too_long", NULL,
			       "the answer is %zu characters; vigil answers are at most %d: paste only the answer "
			       "line, once",
			       n, VG_RELAY_ANSWER_MAX);
	else if (r < 0)
		r = answer_malformed(err, "not base64url");
	else
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
