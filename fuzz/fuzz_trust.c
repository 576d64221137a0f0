/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer: trust files, signature documents and trust rotations, with the
 * signer dedup and bounding in the loop. Input: A NUL B (no NUL: A = B = the
 * input). A is parsed as a trust file, verified as a bundle under B against
 * a fixed trust of three keys (threshold 2), and checked as its rotation N+1.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_trust_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *a = (const char *)data, *b = a;
	const uint8_t *nul = memchr(data, 0, size);
	size_t alen = size, blen = size;
	struct vg_trust *t = NULL;
	struct vg_err err;

	if (nul) {
		alen = (size_t)(nul - data);
		b = (const char *)nul + 1;
		blen = size - alen - 1;
	}
	if (vg_trust_parse(a, alen, &t, &err) == 0)
		vg_trust_free(t);
	vg_sig_verify(fuzz_trust(), VG_SIG_DOMAIN_BUNDLE, a, alen, b, blen, &err);
	t = NULL;
	if (vg_trust_check_rotation(fuzz_trust(), a, alen, b, blen, &t, &err) == 0)
		vg_trust_free(t);
	return 0;
}
