/* SPDX-License-Identifier: Apache-2.0 */
/* vigilctl whoami: what the running policy says about the caller (docs/nss.md). */
#include <stdio.h>

#include "vigilctl.h"

static int run_whoami(struct vgctl *c, int argc, char **argv)
{
	json_t *reply = NULL, *u, *e, *g;
	size_t i;
	int r;

	if (argc > 1) {
		vgctl_error("whoami: unexpected argument \"%s\"", argv[1]);
		return VGCTL_EXIT_USAGE;
	}
	if ((r = vgctl_call(c, json_pack("{s:s}", "cmd", "identity.whoami"), &reply)) != 0)
		return r;
	if (!vgctl_print_json(c, reply)) {
		u = json_object_get(reply, "user");
		e = json_object_get(reply, "elevation");
		if (!json_is_object(u)) {
			printf("uid %lld is not managed by the running policy\n",
			       (long long)json_integer_value(json_object_get(reply, "uid")));
		} else {
			printf("user:      %s (uid %lld, gid %lld), %s\n", json_string_value(json_object_get(u, "name")),
			       (long long)json_integer_value(json_object_get(u, "uid")),
			       (long long)json_integer_value(json_object_get(u, "gid")),
			       json_string_value(json_object_get(u, "state")));
			printf("groups:   ");
			json_array_foreach(json_object_get(reply, "groups"), i, g)
				printf(" %s", json_string_value(g));
			printf("\n");
			if (json_is_object(e))
				printf("elevation: group %s, %s, grant %s\n", json_string_value(json_object_get(e, "group")),
				       json_is_true(json_object_get(e, "eligible")) ? "eligible" : "not eligible",
				       json_is_string(json_object_get(e, "grant_expires"))
					       ? json_string_value(json_object_get(e, "grant_expires"))
					       : "none");
		}
	}
	json_decref(reply);
	return VGCTL_EXIT_OK;
}

const struct vgctl_cmd vgctl_identity_cmds[] = {
	{ "whoami", "", "what the running policy says about you: account, groups, elevation", run_whoami },
	{ "identity from-scim", "--users F | --url U [opts]",
	  "SCIM /Users and /Groups to the bundle's identity section (docs/scim.md)", vgctl_identity_from_scim },
	{ NULL, NULL, NULL, NULL },
};
