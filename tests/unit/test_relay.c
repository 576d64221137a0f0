/* SPDX-License-Identifier: Apache-2.0 */
/* Challenge and answer codes: round trips, the context hash, and every refusal with its
 * code and message. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "vigil/relay.h"
#include "vigil/util.h"

static const time_t NOW = 1795000000;

#define assert_err(rc, want_rc, err, want_code, msg_part)                                                   \
	do {                                                                                                \
		assert_int_equal((rc), (want_rc));                                                          \
		assert_string_equal((err).code, (want_code));                                               \
		if (!strstr((err).msg, (msg_part)))                                                         \
			fail_msg("message \"%s\" lacks \"%s\"", (err).msg, (msg_part));                     \
	} while (0)

static void make_challenge(struct vg_relay_challenge *c)
{
	memset(c, 0, sizeof(*c));
	c->flags = VG_RELAY_F_UV;
	c->expires = NOW + 120;
	memset(c->nonce, 0x5a, sizeof(c->nonce));
	strcpy(c->user, "alice");
	strcpy(c->host, "web-1.example.com");
	strcpy(c->service, "sudo");
	strcpy(c->rp_id, "vigil.example.com");
	strcpy(c->reason, "CHG-1234 restart nginx");
	c->ncreds = 2;
	c->creds[0].len = 16;
	memset(c->creds[0].id, 1, 16);
	c->creds[1].len = 64;
	memset(c->creds[1].id, 2, 64);
}

static char *encode(struct vg_relay_challenge *c)
{
	struct vg_err err = { 0 };
	char *code = NULL;

	if (vg_relay_challenge_encode(c, &code, &err) < 0)
		fail_msg("encode refused: %s", err.msg);
	return code;
}

static void test_challenge_roundtrip(void **state)
{
	struct vg_relay_challenge c, d;
	struct vg_err err = { 0 };
	char *code, *url, buf[2048];

	make_challenge(&c);
	code = encode(&c);
	assert_true(strncmp(code, "VkMC", 4) == 0); /* "VC" 0x02: recognisable prefix */
	assert_int_equal(vg_relay_challenge_decode(code, &d, &err), 0);
	assert_int_equal(d.flags, c.flags);
	assert_int_equal(d.expires, c.expires);
	assert_memory_equal(d.nonce, c.nonce, VG_RELAY_NONCE_LEN);
	assert_memory_equal(d.hash, c.hash, 32);
	assert_string_equal(d.user, "alice");
	assert_string_equal(d.host, "web-1.example.com");
	assert_string_equal(d.service, "sudo");
	assert_string_equal(d.rp_id, "vigil.example.com");
	assert_string_equal(d.reason, "CHG-1234 restart nginx");
	assert_int_equal(d.ncreds, 2);
	assert_int_equal(d.creds[1].len, 64);
	/* pasted with blanks, or as the URL form */
	snprintf(buf, sizeof(buf), "  %s \r\n", code);
	assert_int_equal(vg_relay_challenge_decode(buf, &d, &err), 0);
	url = vg_relay_challenge_url("https://vigil.example.com/", code);
	snprintf(buf, sizeof(buf), "https://vigil.example.com/stepup/#c=%s", code);
	assert_string_equal(url, buf);
	snprintf(buf, sizeof(buf), "%s&x=1", url);
	assert_int_equal(vg_relay_challenge_decode(buf, &d, &err), 0);
	assert_memory_equal(d.hash, c.hash, 32);
	free(url);
	free(code);
}

/* The hash is taken over exactly the context fields, recomputed from what was parsed: a
 * relabelled code (another host, service, user, reason, expiry or nonce) hashes differently,
 * while the RP id, flags and allow list (checked by the signature and vigild) do not count. */
static void test_context_hash(void **state)
{
	struct vg_relay_challenge c, d;
	struct vg_relay_context x;
	struct vg_err err = { 0 };
	uint8_t h[32];
	char *code;

	make_challenge(&c);
	free(encode(&c));
	x = (struct vg_relay_context){ .expires = c.expires, .user = "alice", .host = "web-1.example.com",
				       .service = "sudo", .reason = "CHG-1234 restart nginx" };
	memcpy(x.nonce, c.nonce, sizeof(x.nonce));
	assert_int_equal(vg_relay_context_hash(&x, h, &err), 0);
	assert_memory_equal(h, c.hash, 32); /* what vigild's elevation module stores */
	for (int field = 0; field < 6; field++) {
		d = c;
		switch (field) {
		case 0: strcpy(d.host, "dev-box"); break;
		case 1: strcpy(d.service, "su"); break;
		case 2: strcpy(d.user, "bob"); break;
		case 3: strcpy(d.reason, "CHG-1234 restart nginx!"); break;
		case 4: d.expires++; break;
		case 5: d.nonce[15] ^= 1; break;
		}
		free(encode(&d));
		if (!memcmp(d.hash, c.hash, 32))
			fail_msg("field %d is not covered by the hash", field);
	}
	/* field boundaries are length-prefixed: moving a character between fields changes it */
	d = c;
	strcpy(d.host, "web-1.example.comsudo");
	strcpy(d.service, "x");
	free(encode(&d));
	assert_memory_not_equal(d.hash, c.hash, 32);
	d = c;
	strcpy(d.rp_id, "other.example.com");
	d.flags = 0;
	d.ncreds = 0;
	free(encode(&d));
	assert_memory_equal(d.hash, c.hash, 32);
	/* a code edited in place decodes to the edited fields and their hash */
	code = encode(&c);
	{
		uint8_t *bin = NULL;
		size_t len = 0;
		char *edited;

		assert_int_equal(vg_b64_decode(code, &bin, &len), 0);
		bin[3 + 16 + 4 + 1 + 5 + 1] = 'W'; /* host "web-1..." -> "Web-1..." */
		edited = vg_b64_encode(bin, len, true);
		assert_int_equal(vg_relay_challenge_decode(edited, &d, &err), 0);
		assert_string_equal(d.host, "Web-1.example.com");
		assert_memory_not_equal(d.hash, c.hash, 32);
		free(edited);
		free(bin);
	}
	free(code);
	/* the expiry must fit the code's 32 bits */
	x.expires = (time_t)UINT32_MAX + 1;
	assert_err(vg_relay_context_hash(&x, h, &err), -EINVAL, err, "challenge_field_invalid", "32-bit");
}

static void test_challenge_malformed(void **state)
{
	struct vg_relay_challenge c, d;
	struct vg_err err = { 0 };
	uint8_t *bin = NULL;
	size_t len = 0;
	char *code, *cut;

	make_challenge(&c);
	code = encode(&c);
	assert_int_equal(vg_b64_decode(code, &bin, &len), 0);
	/* every truncation is refused */
	for (size_t i = 0; i < len; i++) {
		cut = vg_b64_encode(bin, i, true);
		if (i == 0) {
			assert_true(vg_relay_challenge_decode("", &d, &err) < 0);
		} else {
			assert_err(vg_relay_challenge_decode(cut, &d, &err), -EINVAL, err, "challenge_malformed",
				   "copy it again");
		}
		free(cut);
	}
	/* trailing bytes */
	bin = realloc(bin, len + 1);
	bin[len] = 0;
	cut = vg_b64_encode(bin, len + 1, true);
	assert_err(vg_relay_challenge_decode(cut, &d, &err), -EINVAL, err, "challenge_malformed", "trailing bytes");
	free(cut);
	/* a version 1 code (the old format) is named as such */
	bin[2] = 1;
	cut = vg_b64_encode(bin, len, true);
	assert_err(vg_relay_challenge_decode(cut, &d, &err), -EINVAL, err, "challenge_malformed", "version 1");
	free(cut);
	bin[2] = 2;
	/* a control character in the reason (terminal escape) */
	bin[3 + 16 + 4 + 1 + 5 + 1 + 17 + 1 + 4 + 1] = 0x1b;
	cut = vg_b64_encode(bin, len, true);
	assert_err(vg_relay_challenge_decode(cut, &d, &err), -EINVAL, err, "challenge_malformed", "reason");
	free(cut);
	assert_err(vg_relay_challenge_decode("VkMC+/==", &d, &err), -EINVAL, err, "challenge_malformed",
		   "not base64url");
	assert_err(vg_relay_challenge_decode("VkEC", &d, &err), -EINVAL, err, "challenge_malformed",
		   "not a vigil challenge");
	free(bin);
	free(code);
}

static void test_encode_refusals(void **state)
{
	struct vg_relay_challenge c;
	struct vg_err err = { 0 };
	char *code = NULL;

	make_challenge(&c);
	memset(c.reason, 'r', VG_RELAY_REASON_MAX);
	c.reason[VG_RELAY_REASON_MAX] = '\0';
	assert_int_equal(vg_relay_challenge_encode(&c, &code, &err), 0); /* 200: the longest */
	free(code);
	make_challenge(&c);
	strcpy(c.user, "");
	assert_err(vg_relay_challenge_encode(&c, &code, &err), -EINVAL, err, "challenge_field_invalid", "user");
	make_challenge(&c);
	strcpy(c.reason, "ok\nsudo: fake line");
	assert_err(vg_relay_challenge_encode(&c, &code, &err), -EINVAL, err, "challenge_field_invalid",
		   "printable");
	make_challenge(&c);
	c.ncreds = 5;
	assert_err(vg_relay_challenge_encode(&c, &code, &err), -EINVAL, err, "challenge_field_invalid",
		   "at most 4 credentials");
	make_challenge(&c);
	c.creds[1].len = 0;
	assert_err(vg_relay_challenge_encode(&c, &code, &err), -EINVAL, err, "challenge_field_invalid", "empty id");
	make_challenge(&c);
	c.expires = 0;
	assert_err(vg_relay_challenge_encode(&c, &code, &err), -EINVAL, err, "challenge_field_invalid", "expiry");
	assert_null(code);
}

static void make_answer(struct vg_relay_answer *a, enum vg_relay_kind kind, size_t sig_len)
{
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	memset(a->challenge_tag, 0x5a, VG_RELAY_TAG_LEN);
	memset(a->cred_tag, 0xc7, VG_RELAY_TAG_LEN);
	a->flags = 0x05;
	a->counter = 0x01020304;
	memset(a->origin_tag, 0x0e, VG_RELAY_TAG_LEN);
	a->sig_len = sig_len;
	memset(a->sig, 0x30, sig_len);
}

static void roundtrip(const struct vg_relay_answer *a, size_t want_chars)
{
	struct vg_relay_answer d;
	struct vg_err err = { 0 };
	char *code = NULL;

	assert_int_equal(vg_relay_answer_encode(a, &code, &err), 0);
	assert_true(strncmp(code, "VkEC", 4) == 0);
	if (want_chars)
		assert_int_equal(strlen(code), want_chars);
	assert_true(strlen(code) <= VG_RELAY_ANSWER_MAX);
	assert_int_equal(vg_relay_answer_decode(code, &d, &err), 0);
	assert_int_equal(d.kind, a->kind);
	assert_memory_equal(d.challenge_tag, a->challenge_tag, VG_RELAY_TAG_LEN);
	assert_memory_equal(d.cred_tag, a->cred_tag, VG_RELAY_TAG_LEN);
	assert_int_equal(d.flags, a->flags);
	assert_int_equal(d.counter, a->counter);
	assert_int_equal(d.ext_len, a->ext_len);
	assert_memory_equal(d.ext, a->ext, a->ext_len);
	assert_int_equal(d.sig_len, a->sig_len);
	assert_memory_equal(d.sig, a->sig, a->sig_len);
	if (a->kind == VG_RELAY_WEBAUTHN) {
		assert_memory_equal(d.origin_tag, a->origin_tag, VG_RELAY_TAG_LEN);
		assert_int_equal(d.cd_layout, a->cd_layout);
		assert_string_equal(d.cd_tail, a->cd_tail);
	}
	free(code);
}

static void test_answer_roundtrip(void **state)
{
	struct vg_relay_answer a;

	/* sizes of the three algorithms' signatures: ES256 DER (72 at most), EdDSA 64, RS256-2048 256 */
	make_answer(&a, VG_RELAY_CTAP, 72);
	roundtrip(&a, 119);
	make_answer(&a, VG_RELAY_WEBAUTHN, 72);
	roundtrip(&a, 126);
	make_answer(&a, VG_RELAY_CTAP, 64);
	roundtrip(&a, 108);
	make_answer(&a, VG_RELAY_WEBAUTHN, 256);
	roundtrip(&a, 371);
	/* extensions and a client data tail the format has no number for */
	make_answer(&a, VG_RELAY_WEBAUTHN, 72);
	a.flags |= 0x80;
	a.ext_len = 3;
	memcpy(a.ext, "\xa1\x01\x02", 3);
	a.cd_layout = VG_RELAY_CD_VERBATIM;
	strcpy(a.cd_tail, ",\"crossOrigin\":false,\"x\":1}");
	a.cd_tail_len = strlen(a.cd_tail);
	roundtrip(&a, 0);
}

static void test_answer_refusals(void **state)
{
	struct vg_relay_answer a, d;
	struct vg_relay_challenge c;
	struct vg_err err = { 0 };
	char *code = NULL, *cut, buf[1024];
	uint8_t *bin = NULL;
	size_t len = 0;

	/* what sudo hands over for a reply of 512 characters or more */
	assert_err(vg_relay_answer_decode("", &d, &err), -EINVAL, err, "answer_empty", "512 characters");
	assert_err(vg_relay_answer_decode(" \r\n", &d, &err), -EINVAL, err, "answer_empty", "at most 400");
	/* too long to be an answer: said, not "malformed" */
	make_answer(&a, VG_RELAY_CTAP, 72);
	assert_int_equal(vg_relay_answer_encode(&a, &code, &err), 0);
	snprintf(buf, sizeof(buf), "%s %s %s %s", code, code, code, code);
	assert_err(vg_relay_answer_decode(buf, &d, &err), -E2BIG, err, "answer_too_long", "paste only the answer");
	/* an encoder never prints an answer that would not fit, and says why */
	make_answer(&a, VG_RELAY_WEBAUTHN, 384); /* RS256 with a 3072-bit key */
	free(code);
	assert_err(vg_relay_answer_encode(&a, &code, &err), -E2BIG, err, "answer_too_long", "signature is 384 bytes");
	assert_null(code);
	/* the challenge pasted instead, short or long */
	make_challenge(&c);
	code = encode(&c);
	assert_err(vg_relay_answer_decode(code, &d, &err), -EINVAL, err, "answer_is_challenge", "run vigil-stepup");
	memset(c.reason, 'x', VG_RELAY_REASON_MAX);
	c.reason[VG_RELAY_REASON_MAX] = '\0';
	free(code);
	code = encode(&c);
	assert_true(strlen(code) > VG_RELAY_ANSWER_MAX);
	assert_err(vg_relay_answer_decode(code, &d, &err), -EINVAL, err, "answer_is_challenge", "run vigil-stepup");
	free(code);
	/* every truncation of a webauthn answer with a tail, and a bad kind or layout */
	make_answer(&a, VG_RELAY_WEBAUTHN, 72);
	a.flags |= 0x80;
	a.ext_len = 2;
	a.cd_layout = VG_RELAY_CD_VERBATIM;
	strcpy(a.cd_tail, "}");
	a.cd_tail_len = 1;
	assert_int_equal(vg_relay_answer_encode(&a, &code, &err), 0);
	assert_int_equal(vg_b64_decode(code, &bin, &len), 0);
	for (size_t i = 1; i < len - 72; i++) {
		cut = vg_b64_encode(bin, i, true);
		assert_err(vg_relay_answer_decode(cut, &d, &err), -EINVAL, err, "answer_malformed", "paste the whole");
		free(cut);
	}
	bin[3] = 3;
	cut = vg_b64_encode(bin, len, true);
	assert_err(vg_relay_answer_decode(cut, &d, &err), -EINVAL, err, "answer_malformed", "unknown kind");
	free(cut);
	bin[3] = 2;
	bin[3 + 1 + 4 + 4 + 1 + 4 + 1 + 2 + 4] = 4;
	cut = vg_b64_encode(bin, len, true);
	assert_err(vg_relay_answer_decode(cut, &d, &err), -EINVAL, err, "answer_malformed", "layout");
	free(cut);
	bin[2] = 1;
	cut = vg_b64_encode(bin, len, true);
	assert_err(vg_relay_answer_decode(cut, &d, &err), -EINVAL, err, "answer_malformed", "version 1");
	free(cut);
	assert_err(vg_relay_answer_decode("not an answer!", &d, &err), -EINVAL, err, "answer_malformed",
		   "not base64url");
	free(bin);
	free(code);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_challenge_roundtrip), cmocka_unit_test(test_context_hash),
		cmocka_unit_test(test_challenge_malformed), cmocka_unit_test(test_encode_refusals),
		cmocka_unit_test(test_answer_roundtrip),    cmocka_unit_test(test_answer_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
