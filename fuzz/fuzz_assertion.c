// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for lib/assertion.c: authenticatorData, COSE_Key and a whole
 * assertion verification. First byte selects:
 *   0: vg_authdata_parse(rest)
 *   1: vg_cose_key_to_pem(rest)
 *   2: [cose_len u16][cose][ad_len u16][authData][signature] -> COSE to PEM, then
 *      vg_assertion_verify for rp "vigil.example.com", client data hash 01 00 .. 00
 * Seeds (fuzz/corpus/assertion/) are real softfido outputs for es256, eddsa and rs256.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/assertion.h"

static size_t take_u16(const uint8_t **p, size_t *n)
{
	size_t v;

	if (*n < 2)
		return SIZE_MAX;
	v = (size_t)(*p)[0] << 8 | (*p)[1];
	*p += 2;
	*n -= 2;
	return v <= *n ? v : SIZE_MAX;
}

static void verify_whole(const uint8_t *p, size_t n)
{
	uint8_t cdh[32] = { 1 };
	struct vg_credential cred = { .id_b64 = (char *)"fuzz" };
	struct vg_err err;
	const uint8_t *cose, *ad;
	size_t cose_len, ad_len;
	uint32_t counter = 0;

	cose_len = take_u16(&p, &n);
	if (cose_len == SIZE_MAX)
		return;
	cose = p;
	p += cose_len;
	n -= cose_len;
	ad_len = take_u16(&p, &n);
	if (ad_len == SIZE_MAX)
		return;
	ad = p;
	p += ad_len;
	n -= ad_len;
	if (vg_cose_key_to_pem(cose, cose_len, &cred.alg, &cred.public_key, &err) < 0)
		return;
	for (int uv = 0; uv < 2; uv++) {
		cred.uv = uv;
		vg_assertion_verify(&cred, "vigil.example.com", cdh, ad, ad_len, p, n, false, 0, &counter, &err);
	}
	free(cred.public_key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vg_authdata ad;
	struct vg_err err;
	char *pem = NULL;
	int alg;

	if (size < 1)
		return 0;
	switch (data[0]) {
	case 0:
		if (vg_authdata_parse(data + 1, size - 1, &ad, &err) == 0 && ad.cose_key) {
			/* whatever the parser accepted as a key must be a bounded slice of the input */
			if (ad.cose_key < data + 1 || ad.cose_key + ad.cose_key_len > data + size)
				abort();
			if (vg_cose_key_to_pem(ad.cose_key, ad.cose_key_len, &alg, &pem, &err) == 0)
				free(pem);
		}
		break;
	case 1:
		if (vg_cose_key_to_pem(data + 1, size - 1, &alg, &pem, &err) == 0)
			free(pem);
		break;
	case 2:
		verify_whole(data + 1, size - 1);
		break;
	default:
		break;
	}
	return 0;
}
