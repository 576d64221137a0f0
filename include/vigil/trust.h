/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pinned trust file (/etc/vigil/trust.json) and detached signatures
 * (docs/bundle.md#signatures). A signature file lists signatures by key id;
 * each trusted key counts once; at least `threshold` must verify.
 * Signed message = domain line ("vigil-bundle-v1\n" or "vigil-trust-v1\n") ‖ exact bytes.
 */
#ifndef VIGIL_TRUST_H
#define VIGIL_TRUST_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "vigil/err.h"

#define VG_SIG_DOMAIN_BUNDLE "vigil-bundle-v1\n"
#define VG_SIG_DOMAIN_TRUST "vigil-trust-v1\n"
#define VG_SIG_MAX_BYTES (256u << 10)
#define VG_TRUST_MAX_BYTES (256u << 10)

struct vg_trust_key {
	char id[17];
	char alg[16];
	EVP_PKEY *key;
};

struct vg_trust {
	int refs; /* vg_trust_ref / vg_trust_free: the loader thread holds one while it verifies */
	int64_t version;
	unsigned threshold;
	size_t nkeys;
	struct vg_trust_key *keys;
	char digest[65];
};

int vg_trust_parse(const char *buf, size_t len, struct vg_trust **out, struct vg_err *err);
/* any trust file, for offline checks (vigilctl policy verify) */
int vg_trust_read(const char *path, struct vg_trust **out, struct vg_err *err);
/* vigild's trust file: must pass vg_file_trusted (root-owned, not group/world-writable) */
int vg_trust_load(const char *path, struct vg_trust **out, struct vg_err *err);
struct vg_trust *vg_trust_ref(struct vg_trust *t);
/* drops one reference; frees on the last */
void vg_trust_free(struct vg_trust *t);

/* 0 when at least t->threshold distinct trusted keys signed domain‖msg; else -EPERM with err */
int vg_sig_verify(const struct vg_trust *t, const char *domain, const void *msg, size_t len, const char *sig,
		  size_t siglen, struct vg_err *err);
/* The same for a message with `room` writable bytes before it: when room >= strlen(domain) the
 * domain is written there (they are overwritten) and the message is not copied (a 1M-rule bundle
 * is 117 MB, and fresh memory is slow to touch in a VM). */
int vg_sig_verify_room(const struct vg_trust *t, const char *domain, void *msg, size_t room, size_t len,
		       const char *sig, size_t siglen, struct vg_err *err);
/* Add (or replace) key's signature in the signature document *doc (created when NULL). */
int vg_sig_add(json_t **doc, EVP_PKEY *key, const char *domain, const void *msg, size_t len);

/* A new trust file may replace old only as version old+1, signed by a threshold of the old keys
 * AND a threshold of its own keys. */
int vg_trust_check_rotation(const struct vg_trust *old, const char *newbuf, size_t newlen, const char *sig,
			    size_t siglen, struct vg_trust **out, struct vg_err *err);

#endif
