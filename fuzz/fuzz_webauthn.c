/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz lib/webauthn.c: clientDataJSON checks and the attestationObject (CBOR) reader.
 * The first byte picks the target; the rest is the input. Seeds: fuzz/corpus/webauthn. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/webauthn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *origins[] = { "https://vigil.example.com", "http://localhost:8443" };
static const char create_cdj[] =
	"{\"type\":\"webauthn.create\",\"challenge\":\"AAAA\",\"origin\":\"https://vigil.example.com\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t chal[32];
	struct vg_webauthn_expect e = {
		.type = "webauthn.get", .challenge = chal, .challenge_len = 32, .origins = origins, .norigins = 2
	};
	struct vg_webauthn_enrollment en;
	struct vg_err err;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		vg_webauthn_check_client_data((const char *)data + 1, size - 1, &e, &err);
	} else if (vg_webauthn_enroll(data + 1, size - 1, create_cdj, strlen(create_cdj), "vigil.example.com",
				      origins, 2, &en, &err) == 0) {
		char *s = vg_webauthn_enrollment_snippet(&en);

		free(s);
		vg_webauthn_enrollment_free(&en);
	}
	return 0;
}
