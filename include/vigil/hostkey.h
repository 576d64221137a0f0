/* SPDX-License-Identifier: Apache-2.0 */
/* The host's Ed25519 key: created on first start (0600), signs audit checkpoints and posture reports. */
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

#endif
