/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fixed signing keys for the trust fuzz targets, so that seeds can carry real
 * signatures by trusted key ids. Test keys, published here on purpose: never
 * trust them anywhere.
 */
#ifndef VIGIL_FUZZ_TRUST_KEYS_H
#define VIGIL_FUZZ_TRUST_KEYS_H

#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/pem.h>

#include "vigil/crypto.h"
#include "vigil/trust.h"

static const char *const fuzz_key_pems[] = {
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VwBCIEIKdDO9W3NAYbi8zDME6EY2IBsW6seVPrNLhCSntty6xL\n"
	"-----END PRIVATE KEY-----\n",
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VwBCIEIFz/bpWw7JqCYa805Ruf3sgLIe6q0QhVbiGmyXwFr4CJ\n"
	"-----END PRIVATE KEY-----\n",
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZ21m0NUOLm6c67K0\n"
	"7RIR1KCQcY98jglt3D2jaXk9wOWhRANCAATmLEZf6Mw8QZvob85wh+NlUpfj4TQa\n"
	"UOY2OTnnJmzRNh9DdcEWWGLl/EHuv2nwfl3cJDDd/3sWoyDHX5jWoobU\n"
	"-----END PRIVATE KEY-----\n",
};
#define FUZZ_NKEYS (sizeof(fuzz_key_pems) / sizeof(fuzz_key_pems[0]))

static EVP_PKEY *fuzz_key(size_t i)
{
	BIO *bio = BIO_new_mem_buf(fuzz_key_pems[i], -1);
	EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	if (!k)
		abort();
	return k;
}

/* The trust file of the three keys, threshold 2, version 1 (malloc'd JSON). */
static char *fuzz_trust_doc(void)
{
	json_t *keys = json_array(), *j;
	char *doc;

	for (size_t i = 0; i < FUZZ_NKEYS; i++) {
		EVP_PKEY *k = fuzz_key(i);
		char kid[17], *pem = vg_key_public_pem(k);

		vg_key_id(k, kid);
		json_array_append_new(keys, json_pack("{s:s, s:s, s:s}", "id", kid, "alg",
						      EVP_PKEY_id(k) == EVP_PKEY_ED25519 ? "ed25519" : "ecdsa-p256",
						      "public_key", pem));
		free(pem);
		EVP_PKEY_free(k);
	}
	j = json_pack("{s:i, s:i, s:o}", "version", 1, "threshold", 2, "keys", keys);
	doc = json_dumps(j, JSON_SORT_KEYS);
	json_decref(j);
	return doc;
}

/* vigild's trust in force while fuzzing: parsed once */
static struct vg_trust *fuzz_trust(void)
{
	static struct vg_trust *t;
	struct vg_err err;

	if (!t) {
		char *doc = fuzz_trust_doc();

		if (vg_trust_parse(doc, strlen(doc), &t, &err) < 0)
			abort();
		free(doc);
	}
	return t;
}

#endif
