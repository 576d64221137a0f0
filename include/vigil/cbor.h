/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal bounded CBOR reader for the authenticator data, COSE keys and
 * attestation objects vigild receives. Definite lengths only; nesting at most
 * VG_CBOR_MAX_DEPTH; every read is checked against what is left.
 */
#ifndef VIGIL_CBOR_H
#define VIGIL_CBOR_H

#include <stddef.h>
#include <stdint.h>

#define VG_CBOR_MAX_DEPTH 16

struct vg_cbor {
	const uint8_t *p;
	size_t n; /* bytes left */
};

/* One head: major type and argument. -EBADMSG on truncation, indefinite lengths, reserved values. */
int vg_cbor_head(struct vg_cbor *c, uint8_t *major, uint64_t *val);
/* Skip one whole item (depth: current nesting). */
int vg_cbor_skip(struct vg_cbor *c, int depth);
/* An integer (major 0 or 1) that fits int64_t. */
int vg_cbor_int(struct vg_cbor *c, int64_t *out);
/* A byte (major 2) or text (major 3) string of type want; *s points into the input. */
int vg_cbor_string(struct vg_cbor *c, uint8_t want, const uint8_t **s, size_t *len);

#endif
