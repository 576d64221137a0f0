/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the bundle parser and validator on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "vigil/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vg_bundle *b = NULL;
	struct vg_err err;

	if (vg_bundle_parse((const char *)data, size, &b, &err) == 0)
		vg_bundle_free(b);
	return 0;
}
