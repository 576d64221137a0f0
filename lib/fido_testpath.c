// SPDX-License-Identifier: Apache-2.0
/* Which softfido state file a test build uses (include/vigil/fido_testpath.h). */
#include <stdlib.h>
#include <unistd.h>

#include "vigil/fido_testpath.h"

const char *vg_fido_test_path(const char *named)
{
#if VIGIL_TEST_HOOKS
	const char *env = secure_getenv("VIGIL_TEST_SOFTFIDO");

	if (named && *named)
		return named;
	if (env && *env && access(env, F_OK) == 0)
		return env;
	if (access(VG_TEST_SOFTFIDO_PATH, F_OK) == 0)
		return VG_TEST_SOFTFIDO_PATH;
#else
	(void)named;
#endif
	return NULL;
}
