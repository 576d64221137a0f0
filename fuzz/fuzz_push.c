/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer: a policy.push request as raw bytes, down the loader thread's
 * path: a raw push (vg_ctl_push_split) or the JSON request parser and its
 * base64 fields, signatures against a fixed trust of three keys (threshold 2),
 * then the bundle parser when they verify.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_trust_keys.h"
#include "vigil/bundle.h"
#include "vigil/ctl.h"
#include "vigil/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *field(json_t *req, const char *key, size_t *len)
{
	const char *s = json_string_value(json_object_get(req, key));
	uint8_t *raw = NULL;

	if (!s || vg_b64_decode(s, &raw, len) < 0)
		return NULL;
	return (char *)raw;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *req = NULL;
	struct vg_err err;
	struct vg_bundle *bundle = NULL;
	char *bytes = NULL, *sig = NULL;
	size_t len = 0, siglen = 0;

	struct vg_ctl_push raw;
	int r = vg_ctl_push_split((const char *)data, size, &raw, &err);

	if (r < 0)
		return 0;
	if (r == 1) {
		/* copies of exactly their bytes, so that ASan sees any read beyond them */
		len = raw.bundle_len;
		siglen = raw.sig_len;
		bytes = malloc(len + 1);
		sig = malloc(siglen + 1);
		if (!bytes || !sig)
			goto out;
		memcpy(bytes, data + raw.bundle_off, len);
		memcpy(sig, data + raw.sig_off, siglen);
	} else {
		if (vg_ctl_parse_request((const char *)data, size, &req, &err) < 0)
			return 0;
		if (strcmp(json_string_value(json_object_get(req, "cmd")), "policy.push"))
			goto out;
		bytes = field(req, "bundle", &len);
		sig = field(req, "sig", &siglen);
		if (!bytes || !sig)
			goto out;
	}
	if (vg_sig_verify(fuzz_trust(), VG_SIG_DOMAIN_BUNDLE, bytes, len, sig, siglen, &err) == 0 &&
	    vg_bundle_parse(bytes, len, &bundle, &err) == 0)
		vg_bundle_free(bundle);
out:
	free(bytes);
	free(sig);
	json_decref(req);
	return 0;
}
