/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the emergency document parser and validator on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "vigil/emergency.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vg_emergency *e = NULL;
	struct vg_err err;

	if (vg_emergency_parse((const char *)data, size, &e, &err) == 0)
		vg_emergency_free(e);
	return 0;
}
