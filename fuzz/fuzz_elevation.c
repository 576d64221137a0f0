/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the elevation parsers fed from files and the control socket:
 * the grants state file, sign counters, the exported break-glass file, spool records
 * (written by pam_vigil.so, read by vigild) and break-glass hash strings.
 * The first byte picks the parser. Seeds: fuzz/corpus/elevation/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/elevation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vg_grant_set gs;
	static struct vg_bg_file bf;
	struct vg_bg_use u;
	struct vg_err err;
	const char *p = (const char *)data + 1;
	size_t n = size ? size - 1 : 0;
	json_t *c = NULL;
	uint64_t through = 0;
	char *s;

	if (size == 0)
		return 0;
	switch (data[0] % 5) {
	case 0:
		if (vg_grants_parse(p, n, &gs, &err) == 0) {
			s = vg_grants_serialize(&gs);
			free(s);
		}
		break;
	case 1:
		if (vg_counters_parse(p, n, &c, &through, &err) == 0)
			json_decref(c);
		break;
	case 2:
		vg_breakglass_file_parse(p, n, &bf, &err);
		break;
	case 3:
		vg_bg_use_parse(p, n, &u, &err);
		break;
	default:
		/* hash strings; PBKDF2 runs only for small iteration counts so each input stays fast */
		s = strndup(p, n);
		if (s) {
			const char *it = strncmp(s, "$pbkdf2-sha256$", 15) == 0 ? s + 15 : NULL;

			if (!it || strtoul(it, NULL, 10) <= 2000)
				vg_breakglass_verify(s, "secret", &err);
			free(s);
		}
	}
	return 0;
}
