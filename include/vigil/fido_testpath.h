/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test builds only (make TESTHOOKS=1): which softfido state file "the security key" is, without
 * libfido2, so that pam_vigil.so can name it to vigild (docs/fido2.md "Tests"). Production
 * builds always get NULL.
 */
#ifndef VIGIL_FIDO_TESTPATH_H
#define VIGIL_FIDO_TESTPATH_H

/* Fixed state path test builds also look at: sudo clears the environment. */
#define VG_TEST_SOFTFIDO_PATH "/run/vigil-test/softfido.state"

/* named (a PAM argument, vigilctl --softfido) when it is set, else
 * secure_getenv("VIGIL_TEST_SOFTFIDO") when that file exists, else VG_TEST_SOFTFIDO_PATH when it
 * exists, else NULL. */
const char *vg_fido_test_path(const char *named);

#endif
