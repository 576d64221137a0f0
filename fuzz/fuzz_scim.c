/* SPDX-License-Identifier: Apache-2.0 */
/* SCIM list responses (lib/scim.c). Input: USERS [\0 GROUPS [\0 PREVIOUS]]. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/scim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* next NUL-separated part of [*p, end) */
static const char *part(const char **p, const char *end, size_t *len)
{
	const char *s = *p, *z;

	if (s > end)
		return NULL;
	z = memchr(s, '\0', (size_t)(end - s));
	*len = (size_t)((z ? z : end) - s);
	*p = (z ? z : end) + 1;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	const char *p = copy, *end = copy + size;
	struct vg_scim_in in = { 0 };
	json_t *ident = NULL, *warn = NULL;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	in.users = part(&p, end, &in.users_len);
	in.groups = part(&p, end, &in.groups_len);
	in.previous = part(&p, end, &in.previous_len);
	if (!in.previous) {
		in.uid_min = in.gid_min = 1000;
		in.uid_max = in.gid_max = 99999;
	}
	if (vg_scim_to_identity(&in, &ident, &warn, NULL) == 0 && (!ident || !warn))
		abort();
	json_decref(ident);
	json_decref(warn);
	free(copy);
	return 0;
}
