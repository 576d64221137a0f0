/* SPDX-License-Identifier: Apache-2.0 */
/*
 * softfido: a software FIDO2 authenticator for tests only. Real libfido2 talks
 * to it through its custom I/O hooks (fido_dev_set_io_functions), CTAPHID
 * frames in, CTAPHID frames out; no uhid, no USB. Everything the key knows
 * (credentials, private keys, signature counter, PIN) and the fault knobs live
 * in one state file named by the caller, so several processes (vigilctl
 * enroll, then pam_vigil.so under sudo) use the same key. docs/fido2.md, "Tests".
 *
 * Built as $(BUILD)/libsoftfido.a; never linked into production binaries.
 */
#ifndef SOFTFIDO_H
#define SOFTFIDO_H

#include <stddef.h>
#include <fido.h>

/* Create (or replace) a state file: a fresh key with default knobs, no credentials. */
int softfido_create(const char *path);

/*
 * Set one knob (0 or -errno; -EINVAL names an unknown key or bad value):
 *   touch        yes | no          no: the user never touches; user-presence commands send
 *                                  keepalives for notouch_ms, then CTAP2_ERR_USER_ACTION_TIMEOUT
 *   notouch_ms   N                 default 1500
 *   uv           off | on | fail   built-in user verification: absent, succeeds, refuses
 *   pin          PIN | -           set (or remove) the clientPIN; "-" removes it
 *   counter_mode increment | frozen | zero   frozen = a cloned key that does not advance
 *   counter      N                 the signature counter itself
 *   wrong_key    yes | no          sign with a random key instead of the credential's
 *   attestation  packed | none     packed = self attestation
 */
int softfido_set(const char *path, const char *key, const char *value);

/* Read one value into buf: any knob above (pin reads "set" or "-"), or "ncreds". */
int softfido_get(const char *path, const char *key, char *buf, size_t len);

/* The custom I/O hooks; the "path" given to fido_dev_open is the state file. */
extern const fido_dev_io_t softfido_io;

/* fido_dev_set_io_functions + fido_dev_open on a state file; returns a FIDO_ERR_* code. */
int softfido_open(fido_dev_t *dev, const char *path);

#endif
