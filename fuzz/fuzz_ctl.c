/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: control-socket request parsing, and signature documents and trust files. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/crypto.h"
#include "vigil/ctl.h"
#include "vigil/trust.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vg_trust *trust;
	struct vg_err err;
	json_t *req = NULL;
	struct vg_trust *t = NULL;

	if (vg_ctl_parse_request((const char *)data, size, &req, &err) == 0)
		json_decref(req);
	if (vg_trust_parse((const char *)data, size, &t, &err) == 0)
		vg_trust_free(t);
	if (!trust) {
		EVP_PKEY *k = NULL;
		char kid[17], *pem, *doc;
		json_t *j;

		vg_key_generate("ed25519", &k, &err);
		vg_key_id(k, kid);
		pem = vg_key_public_pem(k);
		j = json_pack("{s:i, s:i, s:[{s:s, s:s, s:s}]}", "version", 1, "threshold", 1, "keys", "id", kid, "alg",
			      "ed25519", "public_key", pem);
		doc = json_dumps(j, 0);
		if (vg_trust_parse(doc, strlen(doc), &trust, &err) < 0)
			trust = NULL;
		free(doc);
		free(pem);
		json_decref(j);
		EVP_PKEY_free(k);
	}
	if (trust)
		vg_sig_verify(trust, VG_SIG_DOMAIN_BUNDLE, "x", 1, (const char *)data, size, &err);
	return 0;
}
