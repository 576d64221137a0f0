/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: control-socket request parsing (trust and signatures: fuzz_trust.c, pushes: fuzz_push.c). */
#include <stddef.h>
#include <stdint.h>

#include "vigil/ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vg_err err;
	json_t *req = NULL;

	if (vg_ctl_parse_request((const char *)data, size, &req, &err) == 0)
		json_decref(req);
	return 0;
}
