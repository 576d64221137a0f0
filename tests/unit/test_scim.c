/* SPDX-License-Identifier: Apache-2.0 */
/* SCIM -> identity (lib/scim.c): the IdP-shaped fixtures map as docs/scim.md says,
 * the output passes the bundle parser, nothing is invented, partial lists are refused.
 * Run from the source tree (fixtures: tests/fixtures/scim, examples/bundle.json). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "vigil/bundle.h"
#include "vigil/scim.h"
#include "vigil/util.h"

#define FIX "tests/fixtures/scim/"
#define LR "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:ListResponse\"]"
#define PX "\"urn:ietf:params:scim:schemas:extension:posix:2.0:User\""

static char *slurp(const char *path, size_t *len)
{
	char *s = NULL;
	size_t n;

	assert_int_equal(vg_read_file(path, 1 << 20, &s, &n), 0);
	if (len)
		*len = n;
	return s;
}

/* run the mapping on fixture files (NULL: none), ranges from examples/bundle.json */
static int map_files(const char *users, const char *groups, json_t **ident, json_t **warn, struct vg_err *err)
{
	_cleanup_free_ char *u = slurp(users, NULL), *g = groups ? slurp(groups, NULL) : NULL;
	_cleanup_free_ char *p = slurp("examples/bundle.json", NULL);
	struct vg_scim_in in = { .users = u, .users_len = strlen(u), .groups = g, .groups_len = g ? strlen(g) : 0,
				 .previous = p, .previous_len = strlen(p) };

	return vg_scim_to_identity(&in, ident, warn, err);
}

static json_t *user(json_t *ident, const char *name)
{
	json_t *u;
	size_t i;

	json_array_foreach(json_object_get(ident, "users"), i, u)
		if (!strcmp(json_string_value(json_object_get(u, "name")), name))
			return u;
	return NULL;
}

static json_t *group(json_t *ident, const char *name)
{
	json_t *g;
	size_t i;

	json_array_foreach(json_object_get(ident, "groups"), i, g)
		if (!strcmp(json_string_value(json_object_get(g, "name")), name))
			return g;
	return NULL;
}

/* the warning at path (exact), or NULL */
static const char *warning_at(json_t *warn, const char *path)
{
	json_t *w;
	size_t i;

	json_array_foreach(warn, i, w)
		if (!strcmp(json_string_value(json_object_get(w, "path")), path))
			return json_string_value(json_object_get(w, "msg"));
	return NULL;
}

/* the identity inside examples/bundle.json must pass vg_bundle_parse */
static void assert_bundle_accepts(json_t *ident)
{
	_cleanup_free_ char *p = slurp("examples/bundle.json", NULL);
	json_t *b = json_loads(p, 0, NULL);
	struct vg_bundle *out = NULL;
	struct vg_err err = { 0 };
	char *text;

	assert_non_null(b);
	json_object_set(b, "identity", ident);
	text = json_dumps(b, 0);
	if (vg_bundle_parse(text, strlen(text), &out, &err) < 0)
		fail_msg("bundle refused: %s: %s [%s]", err.path, err.msg, err.code);
	vg_bundle_free(out);
	free(text);
	json_decref(b);
}

static void test_rfc7643(void **state)
{
	json_t *ident, *warn, *u, *g;
	struct vg_err err = { 0 };

	assert_int_equal(map_files(FIX "rfc7643-users.json", FIX "rfc7643-groups.json", &ident, &warn, &err), 0);
	u = user(ident, "bjensen");
	assert_non_null(u);
	assert_int_equal(json_integer_value(json_object_get(u, "uid")), 60010);
	assert_string_equal(json_string_value(json_object_get(u, "gecos")), "Babs Jensen");
	assert_string_equal(json_string_value(json_object_get(u, "home")), "/home/bjensen");
	assert_string_equal(json_string_value(json_object_get(u, "state")), "active");
	/* active: false */
	assert_string_equal(json_string_value(json_object_get(user(ident, "mpepperidge"), "state")), "deprovisioned");
	/* no POSIX extension: skipped, named, never given an invented uid */
	assert_null(user(ident, "jsmith"));
	assert_non_null(strstr(warning_at(warn, "$.Resources[2][\"" VG_SCIM_USER_EXT "\"]"), "user \"jsmith\""));
	/* an e-mail is not a login name */
	assert_null(user(ident, "bjensen@example.com"));
	assert_non_null(warning_at(warn, "$.Resources[3].userName"));
	/* previous users absent now: deprovisioned, same uid */
	assert_string_equal(json_string_value(json_object_get(user(ident, "alice"), "state")), "deprovisioned");
	assert_int_equal(json_integer_value(json_object_get(user(ident, "alice"), "uid")), 60001);
	/* groups: invalid name, no gidNumber, the elevation group's name: skipped */
	assert_null(group(ident, "Tour Guides"));
	assert_non_null(warning_at(warn, "$.Resources[0].displayName"));
	assert_null(group(ident, "vigil-elevated"));
	g = group(ident, "tour-guides");
	assert_non_null(g);
	assert_int_equal(json_integer_value(json_object_get(g, "gid")), 60200);
	/* only active, listed users are members; the nested group is named in a warning */
	assert_int_equal(json_array_size(json_object_get(g, "members")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(g, "members"), 0)), "bjensen");
	assert_non_null(strstr(warning_at(warn, "$.Resources[1].members[3]"), "nested"));
	assert_non_null(strstr(warning_at(warn, "$.Resources[1].members[2]"), "not a user"));
	assert_bundle_accepts(ident);
	json_decref(ident);
	json_decref(warn);
}

static void test_okta_pages(void **state)
{
	json_t *ident, *warn, *g;
	struct vg_err err = { 0 };

	assert_int_equal(map_files(FIX "okta-users.json", FIX "okta-groups.json", &ident, &warn, &err), 0);
	assert_string_equal(json_string_value(json_object_get(user(ident, "jdoe"), "shell")), "/bin/zsh");
	assert_string_equal(json_string_value(json_object_get(user(ident, "kroe"), "state")), "deprovisioned");
	assert_non_null(user(ident, "rroe"));
	g = group(ident, "engineering");
	assert_int_equal(json_array_size(json_object_get(g, "members")), 2);
	assert_non_null(warning_at(warn, "$.Resources[0].members[3]"));
	assert_bundle_accepts(ident);
	json_decref(ident);
	json_decref(warn);
}

static void test_entra(void **state)
{
	json_t *ident, *warn, *u;
	struct vg_err err = { 0 };

	assert_int_equal(map_files(FIX "entra-users.json", NULL, &ident, &warn, &err), 0);
	u = user(ident, "Test_User_ab6490ee");
	assert_non_null(u);
	assert_string_equal(json_string_value(json_object_get(u, "gecos")), "Test User");
	/* "bash" is not an absolute path: left out, named */
	assert_null(json_object_get(u, "shell"));
	assert_non_null(warning_at(warn, "$.Resources[0][\"" VG_SCIM_USER_EXT "\"].loginShell"));
	/* gid outside the range: skipped */
	assert_null(user(ident, "Test_User_00aa00aa"));
	assert_non_null(warning_at(warn, "$.Resources[1][\"" VG_SCIM_USER_EXT "\"].gidNumber"));
	assert_non_null(warning_at(warn, "$.Resources[1].active"));
	assert_bundle_accepts(ident);
	json_decref(ident);
	json_decref(warn);
}

static int map_text(const char *users, const char *prev, json_t **ident, json_t **warn, struct vg_err *err)
{
	struct vg_scim_in in = { .users = users, .users_len = strlen(users), .previous = prev,
				 .previous_len = prev ? strlen(prev) : 0 };

	if (!prev) {
		in.uid_min = in.gid_min = 1000;
		in.uid_max = in.gid_max = 99999;
	}
	return vg_scim_to_identity(&in, ident, warn, err);
}

static void test_refusals(void **state)
{
	json_t *ident = NULL, *warn = NULL;
	struct vg_err err = { 0 };

	/* a short list would deprovision the missing users: refused */
	assert_int_equal(map_text("[" LR ",\"totalResults\":3,\"Resources\":[]}]", NULL, &ident, &warn, &err), -EINVAL);
	assert_string_equal(err.code, "scim_incomplete");
	/* one User resource is not a list */
	assert_int_equal(map_text("{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"a\"}",
				  NULL, &ident, &warn, &err),
			 -EINVAL);
	assert_string_equal(err.code, "scim_not_list");
	assert_int_equal(map_text("{", NULL, &ident, &warn, &err), -EINVAL);
	assert_string_equal(err.code, "scim_json");
	assert_int_equal(map_text(LR ",\"Resources\":{}}", NULL, &ident, &warn, &err), -EINVAL);
	/* duplicate keys are ambiguous: refused */
	assert_int_equal(map_text(LR ",\"Resources\":[],\"Resources\":[]}", NULL, &ident, &warn, &err), -EINVAL);
	/* no ranges and no previous bundle */
	{
		struct vg_scim_in in = { .users = LR "}", .users_len = strlen(LR "}") };

		assert_int_equal(vg_scim_to_identity(&in, &ident, &warn, &err), -EINVAL);
		assert_string_equal(err.code, "scim_range");
	}
	assert_null(ident);
	assert_null(warn);
}

static void test_duplicates_and_reuse(void **state)
{
	static const char users[] =
		LR ",\"Resources\":["
		"{\"id\":\"1\",\"userName\":\"ann\"," PX ":{\"uidNumber\":5000,\"gidNumber\":5000}},"
		"{\"id\":\"2\",\"userName\":\"ann\"," PX ":{\"uidNumber\":5001,\"gidNumber\":5000}},"
		"{\"id\":\"3\",\"userName\":\"bob\"," PX ":{\"uidNumber\":5000,\"gidNumber\":5000}},"
		"{\"id\":\"1\",\"userName\":\"cid\"," PX ":{\"uidNumber\":5002,\"gidNumber\":5000}},"
		"{\"id\":\"4\",\"userName\":\"dan\"," PX ":{\"uidNumber\":\"5003\",\"gidNumber\":5000}},"
		"{\"id\":\"5\",\"userName\":\"eve\"," PX ":{\"uidNumber\":5004,\"gidNumber\":5000}}]}";
	/* previous: zed removed (kept deprovisioned), old's uid now eve's (dropped), eve keeps her key */
	static const char prev[] =
		"{\"identity\":{\"uid_range\":[1000,9999],\"gid_range\":[1000,9999],\"users\":["
		"{\"name\":\"zed\",\"uid\":5100,\"gid\":5000,\"state\":\"active\"},"
		"{\"name\":\"old\",\"uid\":5004,\"gid\":5000,\"state\":\"active\"},"
		"{\"name\":\"eve\",\"uid\":5004,\"gid\":5000,\"credentials\":[{\"id\":\"AAAA\"}]}]}}";
	json_t *ident, *warn;
	struct vg_err err = { 0 };

	assert_int_equal(map_text(users, prev, &ident, &warn, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(user(ident, "ann"), "uid")), 5000);
	assert_non_null(warning_at(warn, "$.Resources[1].userName"));
	assert_null(user(ident, "bob")); /* uid 5000 taken */
	assert_null(user(ident, "cid")); /* SCIM id "1" taken */
	assert_null(user(ident, "dan")); /* a string is not a uid */
	assert_string_equal(json_string_value(json_object_get(user(ident, "zed"), "state")), "deprovisioned");
	assert_null(user(ident, "old"));
	assert_non_null(warning_at(warn, "$.identity.users[1]"));
	assert_int_equal(json_array_size(json_object_get(user(ident, "eve"), "credentials")), 1);
	assert_int_equal(json_array_size(json_object_get(ident, "users")), 3);
	json_decref(ident);
	json_decref(warn);
}

static void test_page_bound(void **state)
{
	size_t n = (VG_SCIM_MAX_PAGES + 1) * (strlen(LR "},") + 1) + 4;
	char *s = malloc(n), *p = s;
	json_t *ident = NULL, *warn = NULL;
	struct vg_err err = { 0 };

	assert_non_null(s);
	*p++ = '[';
	for (int i = 0; i <= VG_SCIM_MAX_PAGES; i++)
		p += sprintf(p, "%s%s}", i ? "," : "", LR);
	strcpy(p, "]");
	assert_int_equal(map_text(s, NULL, &ident, &warn, &err), -E2BIG);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7643),	    cmocka_unit_test(test_okta_pages),
		cmocka_unit_test(test_entra),	    cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_duplicates_and_reuse), cmocka_unit_test(test_page_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
