/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the relay code parsers (lib/relay.c): everything a user pastes at the prompt or
 * into vigil-stepup. Seeds: fuzz/corpus/relay (challenge, answer, enrollment codes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vg_relay_challenge c;
	static struct vg_relay_answer a;
	static struct vg_relay_enrollment e;
	static const uint8_t key[VG_RELAY_KEY_LEN];
	struct vg_relay_expect x = { .key = key, .host = "h", .user = "u", .service = "s", .now = 1 };
	struct vg_err err;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (vg_relay_challenge_decode(text, &c, &err) == 0)
		vg_relay_challenge_check(&c, &x, &err);
	if (vg_relay_answer_decode(text, &a, &err) == 0) {
		char *again = vg_relay_answer_encode(&a);

		/* what parses must encode back to the same bytes' meaning */
		if (again && vg_relay_answer_decode(again, &a, &err) != 0)
			abort();
		free(again);
	}
	vg_relay_enrollment_decode(text, &e, &err);
	/* the raw challenge bytes too, as they sit inside an answer */
	vg_relay_challenge_parse(data, size, &c, &err);
	free(text);
	return 0;
}
