/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the relay code parsers (lib/relay.c): everything a user pastes at the prompt or
 * into vigil-stepup, and the rebuild of an answer's assertion (lib/webauthn.c).
 * Seeds: fuzz/corpus/relay (challenge, answer, enrollment codes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/relay.h"
#include "vigil/webauthn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *origins[] = { "https://vigil.example.com", "http://localhost:8443" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vg_relay_challenge c;
	static struct vg_relay_answer a, b;
	static struct vg_relay_enrollment e;
	static struct vg_relay_assertion as;
	static uint8_t id[16];
	struct vg_credential cred = { .id = id, .id_len = sizeof(id), .id_b64 = "AAAAAAAAAAAAAAAAAAAAAA" };
	struct vg_user user = { .name = "u", .ncreds = 1, .creds = &cred };
	struct vg_relay_verify v = { .challenge = &c, .rp_id = "vigil.example.com", .origins = origins,
				     .norigins = 2, .user = &user };
	struct vg_err err;
	char *text = malloc(size + 1), *again = NULL;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (vg_relay_challenge_decode(text, &c, &err) == 0) {
		/* what parses encodes back to a code of the same hash */
		uint8_t h[32];

		memcpy(h, c.hash, 32);
		if (vg_relay_challenge_encode(&c, &again, &err) != 0 || memcmp(h, c.hash, 32))
			abort();
		free(again);
		again = NULL;
	}
	if (vg_relay_answer_decode(text, &a, &err) == 0) {
		/* what parses encodes back to the same meaning, within the prompt limit */
		if (vg_relay_answer_encode(&a, &again, &err) == 0 &&
		    (vg_relay_answer_decode(again, &b, &err) != 0 || b.sig_len != a.sig_len ||
		     memcmp(b.sig, a.sig, a.sig_len) || b.counter != a.counter))
			abort();
		free(again);
		memcpy(c.nonce, a.challenge_tag, VG_RELAY_TAG_LEN);
		memcpy(cred.id, a.cred_tag, VG_RELAY_TAG_LEN);
		vg_relay_answer_expand(&a, &v, &as, &err);
	}
	vg_relay_enrollment_decode(text, &e, &err);
	free(text);
	return 0;
}
