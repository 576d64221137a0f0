/* SPDX-License-Identifier: Apache-2.0 */
/* Challenge and answer codes: round trips, and every refusal with its code and message. */
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

static const uint8_t key[VG_RELAY_KEY_LEN] = "0123456789abcdef0123456789abcde";
static const time_t NOW = 1795000000;

static void make_challenge(struct vg_relay_challenge *c)
{
	memset(c, 0, sizeof(*c));
	c->flags = VG_RELAY_F_UV;
	c->expires = NOW + 120;
	memset(c->nonce, 0x5a, sizeof(c->nonce));
	memset(c->cdh, 0xc3, sizeof(c->cdh));
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

static struct vg_relay_expect expect(void)
{
	struct vg_relay_expect e = {
		.key = key, .host = "web-1.example.com", .user = "alice", .service = "sudo", .now = NOW
	};
	return e;
}

static void test_challenge_roundtrip(void **state)
{
	struct vg_relay_challenge c, d;
	struct vg_relay_expect e = expect();
	struct vg_err err = { 0 };
	char *code, *url, buf[2048];

	make_challenge(&c);
	assert_int_equal(vg_relay_challenge_seal(&c, key, &err), 0);
	code = vg_relay_challenge_code(&c);
	assert_non_null(code);
	assert_true(strncmp(code, "VkMB", 4) == 0); /* "VC" 0x01: recognisable prefix */
	assert_true(strlen(code) < 400); /* two credentials, 16 and 64 bytes */
	assert_int_equal(vg_relay_challenge_decode(code, &d, &err), 0);
	assert_int_equal(d.raw_len, c.raw_len);
	assert_memory_equal(d.raw, c.raw, c.raw_len);
	assert_string_equal(d.user, "alice");
	assert_string_equal(d.host, "web-1.example.com");
	assert_string_equal(d.service, "sudo");
	assert_string_equal(d.rp_id, "vigil.example.com");
	assert_string_equal(d.reason, "CHG-1234 restart nginx");
	assert_int_equal(d.expires, NOW + 120);
	assert_int_equal(d.flags, VG_RELAY_F_UV);
	assert_int_equal(d.ncreds, 2);
	assert_int_equal(d.creds[1].len, 64);
	assert_memory_equal(d.nonce, c.nonce, VG_RELAY_NONCE_LEN);
	assert_memory_equal(d.cdh, c.cdh, 32);
	assert_int_equal(vg_relay_challenge_check(&d, &e, &err), 0);

	/* the URL form and blanks around a paste decode to the same challenge */
	url = vg_relay_challenge_url("https://vigil.example.com/", code);
	snprintf(buf, sizeof(buf), "https://vigil.example.com/stepup/#c=%s", code);
	assert_string_equal(url, buf);
	snprintf(buf, sizeof(buf), "  %s&x=1 \n", url);
	assert_int_equal(vg_relay_challenge_decode(buf, &d, &err), 0);
	assert_memory_equal(d.raw, c.raw, c.raw_len);
	snprintf(buf, sizeof(buf), "\t%s\r\n", code);
	assert_int_equal(vg_relay_challenge_decode(buf, &d, &err), 0);
	free(url);
	free(code);
}

static void expect_refusal(const struct vg_relay_challenge *c, const struct vg_relay_expect *e, int rc,
			   const char *code, const char *msg_part)
{
	struct vg_err err = { 0 };

	assert_int_equal(vg_relay_challenge_check(c, e, &err), rc);
	assert_string_equal(err.code, code);
	if (!strstr(err.msg, msg_part))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg_part);
}

static void test_challenge_refusals(void **state)
{
	struct vg_relay_challenge c, forged, tmp;
	struct vg_relay_expect e = expect();
	uint8_t other_key[VG_RELAY_KEY_LEN] = { 9 };
	struct vg_err err;

	make_challenge(&c);
	assert_int_equal(vg_relay_challenge_seal(&c, key, &err), 0);

	e.host = "db-1.example.com";
	expect_refusal(&c, &e, -EPERM, "challenge_wrong_host", "of host \"web-1.example.com\", not of this host");
	e = expect();
	e.user = "bob";
	expect_refusal(&c, &e, -EPERM, "challenge_wrong_user", "for user \"alice\", not \"bob\"");
	e = expect();
	e.service = "su";
	expect_refusal(&c, &e, -EPERM, "challenge_wrong_service", "for service \"sudo\", not \"su\"");
	e = expect();
	e.now = NOW + 120;
	expect_refusal(&c, &e, -ETIMEDOUT, "challenge_expired", "expired at");
	e = expect();
	e.key = other_key;
	expect_refusal(&c, &e, -EPERM, "challenge_forged", "not issued by this vigild");

	/* an attacker edits the user inside a sealed challenge: the MAC no longer matches */
	e = expect();
	tmp = c;
	memcpy(strstr((char *)tmp.raw + 3, "alice"), "mallo", 5);
	assert_int_equal(vg_relay_challenge_parse(tmp.raw, tmp.raw_len, &forged, &err), 0);
	assert_string_equal(forged.user, "mallo");
	e.user = "mallo";
	expect_refusal(&forged, &e, -EPERM, "challenge_forged", "not issued by this vigild");
	/* and an extended expiry */
	tmp = c;
	tmp.raw[7] ^= 0x01;
	assert_int_equal(vg_relay_challenge_parse(tmp.raw, tmp.raw_len, &forged, &err), 0);
	assert_int_equal(forged.expires, (NOW + 120) ^ 1);
	e = expect();
	expect_refusal(&forged, &e, -EPERM, "challenge_forged", "not issued");
}

static void expect_malformed(const char *text, const char *code, const char *msg_part)
{
	struct vg_relay_challenge c;
	struct vg_err err = { 0 };

	assert_int_equal(vg_relay_challenge_decode(text, &c, &err), -EINVAL);
	assert_string_equal(err.code, code);
	if (!strstr(err.msg, msg_part))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg_part);
}

static char *code_of(const uint8_t *raw, size_t len)
{
	return vg_b64_encode(raw, len, true);
}

static void test_challenge_malformed(void **state)
{
	struct vg_relay_challenge c, d;
	struct vg_err err;
	uint8_t raw[VG_RELAY_CHALLENGE_MAX + 8];
	char *s, big[VG_RELAY_TEXT_MAX + 10];

	make_challenge(&c);
	assert_int_equal(vg_relay_challenge_seal(&c, key, &err), 0);

	expect_malformed("", "challenge_malformed", "not base64url");
	expect_malformed("VkMB!!", "challenge_malformed", "not base64url");
	expect_malformed("VkMB+/", "challenge_malformed", "not base64url");
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_malformed(big, "challenge_malformed", "not base64url");

	/* every truncation is refused, never read past the end */
	for (size_t n = 0; n < c.raw_len; n++) {
		s = code_of(c.raw, n);
		if (n > 0)
			expect_malformed(s, "challenge_malformed", "malformed");
		free(s);
	}
	/* trailing bytes */
	memcpy(raw, c.raw, c.raw_len);
	raw[c.raw_len] = 0;
	assert_int_equal(vg_relay_challenge_parse(raw, c.raw_len + 1, &d, &err), -EINVAL);
	assert_string_equal(err.code, "challenge_malformed");
	/* not a challenge, another version */
	memcpy(raw, c.raw, c.raw_len);
	raw[1] = 'X';
	assert_int_equal(vg_relay_challenge_parse(raw, c.raw_len, &d, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a vigil challenge"));
	raw[1] = 'C';
	raw[2] = 7;
	assert_int_equal(vg_relay_challenge_parse(raw, c.raw_len, &d, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "version 7 is not supported"));
	/* a control character in a string (terminal escape injection) */
	memcpy(raw, c.raw, c.raw_len);
	*strstr((char *)raw + 3, "restart") = 0x1b;
	assert_int_equal(vg_relay_challenge_parse(raw, c.raw_len, &d, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "reason"));
	/* too many credentials */
	c.ncreds = VG_RELAY_MAX_CREDS + 1;
	assert_int_equal(vg_relay_challenge_seal(&c, key, &err), -EINVAL);
	assert_string_equal(err.code, "challenge_field_invalid");
}

static void test_seal_refusals(void **state)
{
	struct vg_relay_challenge c;
	struct vg_err err;

	make_challenge(&c);
	strcpy(c.user, "");
	assert_int_equal(vg_relay_challenge_seal(&c, key, &err), -EINVAL);
	assert_string_equal(err.path, "user");
	make_challenge(&c);
	strcpy(c.reason, "evil\x1b[2J");
	assert_int_equal(vg_relay_challenge_seal(&c, key, &err), -EINVAL);
	assert_string_equal(err.path, "reason");
	make_challenge(&c);
	c.expires = (time_t)UINT32_MAX + 1;
	assert_int_equal(vg_relay_challenge_seal(&c, key, &err), -EINVAL);
	assert_string_equal(err.path, "expires");
	make_challenge(&c);
	c.creds[1].len = 0;
	assert_int_equal(vg_relay_challenge_seal(&c, key, &err), -EINVAL);
	assert_string_equal(err.path, "creds");
}

static void make_answer(struct vg_relay_answer *a, enum vg_relay_kind kind)
{
	struct vg_err err;

	memset(a, 0, sizeof(*a));
	a->kind = kind;
	make_challenge(&a->challenge);
	assert_int_equal(vg_relay_challenge_seal(&a->challenge, key, &err), 0);
	a->cred_id_len = 16;
	memset(a->cred_id, 1, 16);
	a->auth_data_len = 37;
	memset(a->auth_data, 3, 37);
	a->sig_len = 71;
	memset(a->sig, 4, 71);
	if (kind == VG_RELAY_WEBAUTHN) {
		strcpy(a->client_data, "{\"type\":\"webauthn.get\"}");
		a->client_data_len = strlen(a->client_data);
	}
}

static void test_answer_roundtrip(void **state)
{
	struct vg_relay_answer a, b;
	struct vg_err err = { 0 };
	char *code, buf[4096];

	for (int kind = VG_RELAY_CTAP; kind <= VG_RELAY_WEBAUTHN; kind++) {
		make_answer(&a, (enum vg_relay_kind)kind);
		code = vg_relay_answer_encode(&a);
		assert_non_null(code);
		assert_true(strncmp(code, "VkEB", 4) == 0);
		assert_true(strlen(code) <= VG_RELAY_ANSWER_SUDO_MAX);
		snprintf(buf, sizeof(buf), " %s\n", code);
		assert_int_equal(vg_relay_answer_decode(buf, &b, &err), 0);
		assert_int_equal(b.kind, kind);
		assert_memory_equal(b.challenge.raw, a.challenge.raw, a.challenge.raw_len);
		assert_string_equal(b.challenge.user, "alice");
		assert_int_equal(b.cred_id_len, 16);
		assert_int_equal(b.auth_data_len, 37);
		assert_int_equal(b.sig_len, 71);
		assert_memory_equal(b.sig, a.sig, 71);
		assert_int_equal(b.client_data_len, a.client_data_len);
		assert_string_equal(b.client_data, a.client_data);
		free(code);
	}
}

static void expect_answer_refused(const char *text, const char *code, const char *msg_part)
{
	struct vg_relay_answer a;
	struct vg_err err = { 0 };

	assert_int_equal(vg_relay_answer_decode(text, &a, &err), -EINVAL);
	assert_string_equal(err.code, code);
	if (!strstr(err.msg, msg_part))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg_part);
}

static void test_answer_malformed(void **state)
{
	struct vg_relay_answer a;
	uint8_t *bin;
	size_t len;
	char *code, *s;

	make_answer(&a, VG_RELAY_WEBAUTHN);
	code = vg_relay_answer_encode(&a);
	assert_int_equal(vg_b64_decode(code, &bin, &len), 0);

	/* the challenge pasted where the answer belongs */
	s = vg_relay_challenge_code(&a.challenge);
	expect_answer_refused(s, "answer_is_challenge", "this is the challenge code, not an answer");
	free(s);
	expect_answer_refused("hello world", "answer_malformed", "not base64url");
	expect_answer_refused("AAAA", "answer_malformed", "not a vigil answer");
	/* every truncation */
	for (size_t n = 1; n < len; n++) {
		struct vg_err err = { 0 };

		s = vg_b64_encode(bin, n, true);
		assert_true(vg_relay_answer_decode(s, &a, &err) < 0);
		assert_true(!strcmp(err.code, "answer_malformed") || !strcmp(err.code, "challenge_malformed"));
		free(s);
	}
	/* unknown kind */
	bin[3] = 9;
	s = vg_b64_encode(bin, len, true);
	expect_answer_refused(s, "answer_malformed", "unknown kind");
	free(s);
	/* a length field pointing past the end */
	bin[3] = VG_RELAY_WEBAUTHN;
	bin[len - a.client_data_len - 2] = 0x7f;
	s = vg_b64_encode(bin, len, true);
	expect_answer_refused(s, "answer_malformed", "client data");
	free(s);
	free(bin);
	free(code);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_challenge_roundtrip), cmocka_unit_test(test_challenge_refusals),
		cmocka_unit_test(test_challenge_malformed), cmocka_unit_test(test_seal_refusals),
		cmocka_unit_test(test_answer_roundtrip),    cmocka_unit_test(test_answer_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
