/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer: the JSON scanner (lib/json_scan.c) against jansson on the same bytes. The
 * bundle loader lets the scanner judge the identity arrays that jansson never sees, so
 * whatever the scanner accepts jansson must accept too (duplicate keys aside: the loader
 * checks those itself), and every string it accepts must decode to what jansson decodes.
 * The scanner may be stricter: a document it refuses goes to jansson whole (bundle_tree in
 * lib/bundle.c), as before the scanner existed. jansson accepts a NUL byte after a number
 * ("[5, 123\0, true]"); the scanner refuses it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "vigil/json_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_strings(struct vg_json_scan *s, const struct vg_json_tok *t, json_t *j, unsigned depth)
{
	struct vg_json_tok k, v;
	bool first = true;
	size_t i = 0;

	if (t->kind == VG_JSON_STRING) {
		char *out = malloc(vg_json_str_max(t));
		size_t n;

		if (!out || vg_json_str_decode(t, out, vg_json_str_max(t), &n) < 0 || n != json_string_length(j) ||
		    memcmp(out, json_string_value(j), n))
			abort();
		free(out);
		return;
	}
	if (t->kind != VG_JSON_ARRAY)
		return;
	vg_json_scan_open(s, t);
	while (vg_json_scan_item(s, false, depth, &first, &k, &v) > 0) {
		struct vg_json_scan inner = *s;

		same_strings(&inner, &v, json_array_get(j, i++), depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vg_json_scan s;
	struct vg_json_tok t;
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	int ok;

	vg_json_scan_init(&s, (const char *)data, size);
	ok = vg_json_scan_value(&s, 1, &t) == 0 && (t.kind == VG_JSON_OBJECT || t.kind == VG_JSON_ARRAY) &&
	     vg_json_scan_end(&s) == 0;
	if (ok && !j)
		abort();
	if (j && t.kind == VG_JSON_ARRAY)
		same_strings(&s, &t, j, 1);
	json_decref(j);
	return 0;
}
