/* SPDX-License-Identifier: Apache-2.0 */
/*
 * "The security key": one function that opens the FIDO2 authenticator for
 * vigilctl enroll, pam_vigil.so and vigil-stepup. Production builds enumerate
 * real devices with libfido2. Test builds (make TESTHOOKS=1, -DVIGIL_TEST_HOOKS=1)
 * open the software authenticator of tests/softfido/ instead when its state
 * file exists (docs/fido2.md, "Tests"); production binaries contain no trace of it.
 * Link with $(FIDO_LIBS) from mk/fido.mk.
 */
#ifndef VIGIL_FIDO_DEV_H
#define VIGIL_FIDO_DEV_H

#include <fido.h>

#include "vigil/err.h"
#include "vigil/fido_testpath.h"

/*
 * Open the first usable FIDO2 key and return it in *out (close with vg_fido_dev_close).
 * test_path: softfido state file named by the caller (PAM argument softfido=PATH,
 * vigilctl --softfido); honoured only in test builds, ignored (may be NULL) otherwise.
 * Test builds look, in order, at test_path, secure_getenv("VIGIL_TEST_SOFTFIDO") and
 * VG_TEST_SOFTFIDO_PATH, and use the first that exists.
 * Returns 0, -ENODEV (no key plugged in: err->code "no_key") or -EIO ("key_open_failed").
 */
int vg_fido_dev_open(const char *test_path, fido_dev_t **out, struct vg_err *err);
/* The same, for vigild opening the key a PAM process named (agent/elevation_key.c): test builds
 * use test_path only (never vigild's own environment or VG_TEST_SOFTFIDO_PATH), real devices
 * when it is empty. */
int vg_fido_dev_open_exact(const char *test_path, fido_dev_t **out, struct vg_err *err);
void vg_fido_dev_close(fido_dev_t **dev);

#endif
