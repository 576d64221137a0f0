/* SPDX-License-Identifier: Apache-2.0 */
/* The host's Ed25519 key: created on first start (0600), signs audit checkpoints and posture reports,
 * each under its own domain. */
#ifndef VIGIL_HOSTKEY_H
#define VIGIL_HOSTKEY_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "vigil/err.h"

/* state_dir/host.key (PEM, 0600); created when missing */
int vg_hostkey_load_or_create(const char *state_dir, EVP_PKEY **out, struct vg_err *err);
/* state_dir/host.pub, readable by everyone */
int vg_hostkey_public_pem(EVP_PKEY *key, char **pem);

/* Domain separation: every host-key signature covers
 *   "vigil-hostkey/1\n" DOMAIN "\n" MESSAGE
 * so a signature made for one purpose never verifies for another. */
#define VG_HOSTKEY_AUDIT_CHECKPOINT "audit-checkpoint"
#define VG_HOSTKEY_POSTURE_REPORT "posture-report"
#define VG_HOSTKEY_EMERGENCY_ACK "emergency-ack"
int vg_hostkey_sign(EVP_PKEY *key, const char *domain, const void *msg, size_t len, uint8_t **sig, size_t *siglen);
/* the same with a signing context kept by the caller (vigil/crypto.h) */
struct vg_signer;
int vg_hostkey_sign_with(struct vg_signer *s, const char *domain, const void *msg, size_t len, uint8_t **sig,
			 size_t *siglen);
/* 0 when sig is the host key's signature of msg for domain */
int vg_hostkey_verify(EVP_PKEY *pub, const char *domain, const void *msg, size_t len, const uint8_t *sig,
		      size_t siglen);

#endif
