/* SPDX-License-Identifier: Apache-2.0 */
/* The raw policy.push frame (docs/control-socket.md): what vigilctl makes, vigild splits back;
 * anything that claims to be one and does not match is refused with a reason; JSON requests
 * are left to the JSON parser. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vigil/ctl.h"

static int split(const char *body, struct vg_ctl_push *p, struct vg_err *err)
{
	memset(err, 0, sizeof(*err));
	return vg_ctl_push_split(body, strlen(body), p, err);
}

/* the frame vg_ctl_call_push sends: its head, then the two parts as they are */
static int push_frame(const char *bundle, size_t len, const char *sig, size_t siglen, char **out, size_t *outlen)
{
	char head[VG_CTL_PUSH_HEAD_MAX];
	int h = vg_ctl_push_head(len, siglen, head);

	if (h < 0)
		return h;
	*out = malloc((size_t)h + len + siglen);
	memcpy(*out, head, (size_t)h);
	memcpy(*out + h, bundle, len);
	memcpy(*out + h + len, sig, siglen);
	*outlen = (size_t)h + len + siglen;
	return 0;
}

static void test_roundtrip(void **state)
{
	const char bundle[] = "{\"version\": 1}\n{not json, any bytes\0at all}", sig[] = "\x01\x02\n\x03";
	struct vg_ctl_push p;
	struct vg_err err = { 0 };
	char *f;
	size_t flen;
	uint32_t be;

	assert_int_equal(push_frame(bundle, sizeof(bundle), sig, 4, &f, &flen), 0);
	memcpy(&be, f, 4);
	assert_int_equal(ntohl(be), flen - 4);
	assert_int_equal(vg_ctl_push_split(f + 4, flen - 4, &p, &err), 1);
	assert_int_equal(p.bundle_len, sizeof(bundle));
	assert_memory_equal(f + 4 + p.bundle_off, bundle, sizeof(bundle));
	assert_int_equal(p.sig_len, 4);
	assert_memory_equal(f + 4 + p.sig_off, sig, 4);
	free(f);
	/* an empty signature (vigild then refuses the bundle, and records why) */
	assert_int_equal(push_frame(bundle, 3, "", 0, &f, &flen), 0);
	assert_int_equal(vg_ctl_push_split(f + 4, flen - 4, &p, &err), 1);
	assert_int_equal(p.sig_len, 0);
	free(f);
}

static void test_not_raw(void **state)
{
	struct vg_ctl_push p;
	struct vg_err err;

	/* JSON requests, pretty ones included: for the JSON parser */
	assert_int_equal(split("{\"cmd\":\"policy.push\",\"bundle\":\"eyJ9\",\"sig\":\"\"}", &p, &err), 0);
	assert_int_equal(split("{\n \"cmd\": \"policy.push\",\n \"bundle_bytes\": 3\n}", &p, &err), 0);
	assert_int_equal(split("{\"cmd\":\"status\",\"bundle_bytes\":1}\nx", &p, &err), 0);
	assert_int_equal(split("{\"cmd\":\"policy.push\"}\nabc", &p, &err), 0);
	assert_int_equal(split("[1]\n", &p, &err), 0);
	assert_int_equal(split("", &p, &err), 0);
}

static void test_malformed(void **state)
{
	static const struct {
		const char *body, *path, *msg;
	} bad[] = {
		{ "{\"cmd\":\"policy.push\",\"bundle_bytes\":3,\"sig_bytes\":1}\nabc", NULL, "announces 3 + 1 bytes and carries 3" },
		{ "{\"cmd\":\"policy.push\",\"bundle_bytes\":3,\"sig_bytes\":1}\nabcde", NULL, "carries 5" },
		{ "{\"cmd\":\"policy.push\",\"bundle_bytes\":-1,\"sig_bytes\":1}\nabc", "bundle_bytes", "number of bytes" },
		{ "{\"cmd\":\"policy.push\",\"bundle_bytes\":\"3\",\"sig_bytes\":0}\nabc", "bundle_bytes", NULL },
		{ "{\"cmd\":\"policy.push\",\"bundle_bytes\":3}\nabc", "sig_bytes", NULL },
		{ "{\"cmd\":\"policy.push\",\"bundle_bytes\":3,\"sig_bytes\":0,\"bundle\":\"x\"}\nabc", "bundle", "unknown" },
		{ "{\"cmd\":\"policy.push\",\"bundle_bytes\":18446744073709551615,\"sig_bytes\":0}\nabc", NULL, NULL },
		{ "{\"cmd\":\"policy.push\",\"bundle_bytes\":1073741825,\"sig_bytes\":0}\nabc", "bundle_bytes", NULL },
	};
	struct vg_ctl_push p;
	struct vg_err err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = split(bad[i].body, &p, &err);

		/* 2^64-1 is no JSON integer jansson reads: not a raw push at all */
		if (i == 6) {
			assert_int_equal(r, 0);
			continue;
		}
		if (r != -EINVAL)
			fail_msg("case %zu: %d", i, r);
		assert_string_equal(err.code, "request_malformed");
		if (bad[i].path)
			assert_string_equal(err.path, bad[i].path);
		if (bad[i].msg && !strstr(err.msg, bad[i].msg))
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err.msg, bad[i].msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_not_raw),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
