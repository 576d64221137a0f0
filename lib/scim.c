/* SPDX-License-Identifier: Apache-2.0 */
/* SCIM 2.0 list responses -> bundle identity section (docs/scim.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "vigil/scim.h"
#include "vigil/util.h"

#define LIST_RESPONSE "urn:ietf:params:scim:api:messages:2.0:ListResponse"
#define MAX_LOGIN 32 /* as bundle names (docs/bundle.md) */
#define MAX_ID 256
#define MAX_GECOS 256
#define MAX_PATH_LEN 1024

struct scim {
	uint32_t uid_min, uid_max, gid_min, gid_max;
	json_t *users, *groups, *warnings;
	json_t *by_id; /* SCIM user id -> output user object */
	json_t *names; /* login -> output user object */
	json_t *uids; /* "uid" -> login */
	json_t *gnames; /* group name -> true */
	json_t *gids; /* "gid" -> group name */
	json_t *prev; /* previous identity (borrowed), or NULL */
	const char *elev_group;
	json_int_t elev_gid; /* -1: none */
	size_t nresources;
	struct vg_err *err;
};

typedef int (*resource_fn)(struct scim *s, json_t *res, const char *path);

static void warn(struct scim *s, const char *doc, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void warn(struct scim *s, const char *doc, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_array_append_new(s->warnings, json_pack("{s:s,s:s,s:s}", "doc", doc, "path", path, "msg", msg));
}

static const char *str_or_null(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool abs_path_ok(const char *p)
{
	return p[0] == '/' && strlen(p) <= MAX_PATH_LEN && !strchr(p, ':') && !strchr(p, '\n');
}

static int load_doc(const char *text, size_t len, const char *doc, json_t **out, struct vg_err *err)
{
	json_error_t je;

	if (len > VG_SCIM_MAX_BYTES)
		return vg_err_set(err, EFBIG, "scim_too_large", doc, "larger than %u bytes", VG_SCIM_MAX_BYTES);
	*out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!*out)
		return vg_err_set(err, EINVAL, "scim_json", doc, "line %d column %d: %s", je.line, je.column, je.text);
	return 0;
}

static bool is_list_response(json_t *page)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(page, "schemas"), i,
			   v) if (json_is_string(v) && !strcmp(json_string_value(v), LIST_RESPONSE)) return true;
	return false;
}

/* One ListResponse page; *total gets totalResults of the first page that has
 * one. */
static int walk_page(struct scim *s, json_t *page, const char *doc, const char *pp, size_t max, json_int_t *total,
		     size_t *seen, resource_fn fn)
{
	json_t *res = json_object_get(page, "Resources"), *v, *t;
	char path[96];
	size_t i;
	int r;

	if (!json_is_object(page) || !is_list_response(page))
		return vg_err_set(s->err, EINVAL, "scim_not_list", doc,
				  "%s: not a SCIM ListResponse (\"schemas\" must contain \"%s\")", pp, LIST_RESPONSE);
	t = json_object_get(page, "totalResults");
	if (t && (!json_is_integer(t) || json_integer_value(t) < 0))
		return vg_err_set(s->err, EINVAL, "scim_value", doc, "%s.totalResults: must be an integer >= 0", pp);
	if (t && *total < 0)
		*total = json_integer_value(t);
	if (res && !json_is_array(res))
		return vg_err_set(s->err, EINVAL, "scim_value", doc, "%s.Resources: must be an array", pp);
	if (*seen + json_array_size(res) > max)
		return vg_err_set(s->err, E2BIG, "scim_too_many", doc, "%s.Resources: more than %zu resources", pp,
				  max);
	json_array_foreach(res, i, v)
	{
		snprintf(path, sizeof(path), "%s.Resources[%zu]", pp, i);
		if ((r = fn(s, v, path)) < 0)
			return r;
	}
	*seen += json_array_size(res);
	return 0;
}

/* root: one ListResponse or an array of pages; every resource goes to fn, in
 * order. */
static int walk_list(struct scim *s, json_t *root, const char *doc, size_t max, resource_fn fn)
{
	json_int_t total = -1;
	size_t seen = 0, i;
	char pp[32];
	json_t *page;
	int r;

	if (!json_is_array(root)) {
		if ((r = walk_page(s, root, doc, "$", max, &total, &seen, fn)) < 0)
			return r;
	} else {
		if (json_array_size(root) > VG_SCIM_MAX_PAGES)
			return vg_err_set(s->err, E2BIG, "scim_too_many", doc, "more than %d pages", VG_SCIM_MAX_PAGES);
		json_array_foreach(root, i, page)
		{
			snprintf(pp, sizeof(pp), "$[%zu]", i);
			if ((r = walk_page(s, page, doc, pp, max, &total, &seen, fn)) < 0)
				return r;
		}
	}
	/* an incomplete export would deprovision everyone missing from it */
	if (total >= 0 && (size_t)total != seen)
		return vg_err_set(s->err, EINVAL, "scim_incomplete", doc,
				  "totalResults says %" JSON_INTEGER_FORMAT
				  " resources, the pages hold %zu: refusing a "
				  "partial list (fetch every page)",
				  total, seen);
	return 0;
}

/* ext[key] as an id within [lo, hi]; false (with a warning) when absent or out
 * of range */
static bool get_id(struct scim *s, json_t *ext, const char *path, const char *who, const char *key, uint32_t lo,
		   uint32_t hi, uint32_t *out)
{
	json_t *v = json_object_get(ext, key);
	char p[256];

	snprintf(p, sizeof(p), "%s.%s", path, key);
	if (!v) {
		warn(s, "users", p, "%s has no %s; skipped (vigil never invents an id)", who, key);
		return false;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		warn(s, "users", p, "%s: %s must be an integer in [%u, %u] (identity range); skipped", who, key, lo,
		     hi);
		return false;
	}
	*out = (uint32_t)json_integer_value(v);
	return true;
}

/* optional path attribute (homeDirectory, loginShell) copied to u[field] when
 * valid */
static void copy_path(struct scim *s, json_t *ext, const char *path, const char *key, json_t *u, const char *field)
{
	json_t *v = json_object_get(ext, key);
	char p[256];

	if (!v)
		return;
	snprintf(p, sizeof(p), "%s.%s", path, key);
	if (!json_is_string(v) || !abs_path_ok(json_string_value(v))) {
		warn(s, "users", p,
		     "must be an absolute path without ':' or a newline, at most %d bytes; "
		     "left out",
		     MAX_PATH_LEN);
		return;
	}
	json_object_set(u, field, v);
}

static void copy_gecos(struct scim *s, json_t *res, const char *path, json_t *u)
{
	const char *g = str_or_null(res, "displayName");
	const char *key = "displayName";
	char p[160];

	if (!g) {
		g = str_or_null(json_object_get(res, "name"), "formatted");
		key = "name.formatted";
	}
	if (!g)
		return;
	if (strlen(g) > MAX_GECOS || strchr(g, ':') || strchr(g, '\n')) {
		snprintf(p, sizeof(p), "%s.%s", path, key);
		warn(s, "users", p,
		     "not usable as gecos (':' or a newline, or more than %d bytes); left "
		     "out",
		     MAX_GECOS);
		return;
	}
	json_object_set_new(u, "gecos", json_string(g));
}

/* the previous user of that name and uid keeps its enrolled credentials */
static void carry_credentials(struct scim *s, json_t *u, const char *name, uint32_t uid)
{
	json_t *pu, *creds;
	size_t i;

	json_array_foreach(json_object_get(s->prev, "users"), i, pu)
	{
		if (!json_is_object(pu) || !json_is_string(json_object_get(pu, "name")) ||
		    strcmp(str_or_null(pu, "name"), name))
			continue;
		creds = json_object_get(pu, "credentials");
		if (json_integer_value(json_object_get(pu, "uid")) == uid && json_is_array(creds) &&
		    json_array_size(creds))
			json_object_set(u, "credentials", creds);
		return;
	}
}

static int add_user(struct scim *s, json_t *res, const char *path)
{
	char p[256], key[16], who[64];
	const char *id, *name;
	json_t *ext, *active, *u;
	uint32_t uid, gid;
	bool is_active = true;

	if (!json_is_object(res)) {
		warn(s, "users", path, "not an object; skipped");
		return 0;
	}
	snprintf(p, sizeof(p), "%s.userName", path);
	name = str_or_null(res, "userName");
	if (!name || !vg_str_valid_name(name, MAX_LOGIN)) {
		warn(s, "users", p,
		     "userName %s%s%s is not a valid login name "
		     "([A-Za-z0-9_][A-Za-z0-9_.-]*, at most %d characters); "
		     "skipped",
		     name ? "\"" : "", name ? name : "missing", name ? "\"" : "", MAX_LOGIN);
		return 0;
	}
	snprintf(who, sizeof(who), "user \"%s\"", name);
	id = str_or_null(res, "id");
	snprintf(p, sizeof(p), "%s.id", path);
	if (!id || !id[0] || strlen(id) > MAX_ID || json_object_get(s->by_id, id)) {
		warn(s, "users", p, "%s: id missing, longer than %d bytes or used twice; skipped", who, MAX_ID);
		return 0;
	}
	if (json_object_get(s->names, name)) {
		snprintf(p, sizeof(p), "%s.userName", path);
		warn(s, "users", p, "%s appears twice; the first is kept", who);
		return 0;
	}
	active = json_object_get(res, "active");
	if (active && !json_is_boolean(active)) {
		snprintf(p, sizeof(p), "%s.active", path);
		warn(s, "users", p, "%s: active is not a boolean; treated as false", who);
		is_active = false;
	} else if (json_is_false(active)) {
		is_active = false;
	}
	ext = json_object_get(res, VG_SCIM_USER_EXT);
	snprintf(p, sizeof(p), "%s[\"%s\"]", path, VG_SCIM_USER_EXT);
	if (!json_is_object(ext)) {
		warn(s, "users", p, "%s has no POSIX extension (uidNumber, gidNumber); skipped", who);
		return 0;
	}
	if (!get_id(s, ext, p, who, "uidNumber", s->uid_min, s->uid_max, &uid) ||
	    !get_id(s, ext, p, who, "gidNumber", s->gid_min, s->gid_max, &gid))
		return 0;
	snprintf(key, sizeof(key), "%" PRIu32, uid);
	if (json_object_get(s->uids, key)) {
		warn(s, "users", p, "%s: uidNumber %" PRIu32 " is already used by \"%s\"; skipped", who, uid,
		     json_string_value(json_object_get(s->uids, key)));
		return 0;
	}
	u = json_pack("{s:s,s:I,s:I}", "name", name, "uid", (json_int_t)uid, "gid", (json_int_t)gid);
	if (!u)
		return -ENOMEM;
	copy_gecos(s, res, path, u);
	copy_path(s, ext, p, "homeDirectory", u, "home");
	copy_path(s, ext, p, "loginShell", u, "shell");
	json_object_set_new(u, "state", json_string(is_active ? "active" : "deprovisioned"));
	carry_credentials(s, u, name, uid);
	json_object_set(s->by_id, id, u);
	json_object_set(s->names, name, u);
	json_object_set_new(s->uids, key, json_string(name));
	json_array_append_new(s->users, u);
	return 0;
}

/* members[] resolved by SCIM id to active logins, without duplicates */
static json_t *group_members(struct scim *s, json_t *res, const char *path, const char *gname)
{
	json_t *out = json_array(), *seen = json_object(), *m, *u;
	const char *type, *value;
	char p[160];
	size_t i;

	json_array_foreach(json_object_get(res, "members"), i, m)
	{
		snprintf(p, sizeof(p), "%s.members[%zu]", path, i);
		type = str_or_null(m, "type");
		value = str_or_null(m, "value");
		if (type && strcmp(type, "User")) {
			warn(s, "groups", p,
			     "group \"%s\": member of type \"%s\" left out (nested groups are "
			     "not expanded)",
			     gname, type);
			continue;
		}
		u = value ? json_object_get(s->by_id, value) : NULL;
		if (!u) {
			warn(s, "groups", p, "group \"%s\": member %s%s%s is not a user of the list; left out", gname,
			     value ? "\"" : "", value ? value : "without value", value ? "\"" : "");
			continue;
		}
		if (strcmp(str_or_null(u, "state"), "active") || json_object_get(seen, str_or_null(u, "name")))
			continue;
		json_object_set_new(seen, str_or_null(u, "name"), json_true());
		json_array_append_new(out, json_string(str_or_null(u, "name")));
	}
	json_decref(seen);
	return out;
}

static int add_group(struct scim *s, json_t *res, const char *path)
{
	const char *name = str_or_null(res, "displayName");
	json_t *ext, *v, *members;
	char p[256], key[16];
	json_int_t gid;

	snprintf(p, sizeof(p), "%s.displayName", path);
	if (!json_is_object(res) || !name || !vg_str_valid_name(name, MAX_LOGIN)) {
		warn(s, "groups", p,
		     "displayName is not a valid group name ([A-Za-z0-9_][A-Za-z0-9_.-]*, "
		     "at most %d characters); "
		     "skipped",
		     MAX_LOGIN);
		return 0;
	}
	ext = json_object_get(res, VG_SCIM_GROUP_EXT);
	snprintf(p, sizeof(p), "%s[\"%s\"].gidNumber", path, VG_SCIM_GROUP_EXT);
	v = json_object_get(ext, "gidNumber");
	if (!json_is_integer(v)) {
		warn(s, "groups", p, "group \"%s\" has no gidNumber; skipped (vigil never invents an id)", name);
		return 0;
	}
	gid = json_integer_value(v);
	if (gid < s->gid_min || gid > s->gid_max) {
		warn(s, "groups", p, "group \"%s\": gidNumber must be in [%u, %u] (identity range); skipped", name,
		     s->gid_min, s->gid_max);
		return 0;
	}
	snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, gid);
	if (json_object_get(s->gnames, name) || json_object_get(s->gids, key) ||
	    (s->elev_group && !strcmp(s->elev_group, name)) || gid == s->elev_gid) {
		warn(s, "groups", p,
		     "group \"%s\" (gid %" JSON_INTEGER_FORMAT ") repeats a name or gid of another "
		     "group or of the elevation group; skipped",
		     name, gid);
		return 0;
	}
	snprintf(p, sizeof(p), "%s.members", path);
	if (json_array_size(json_object_get(res, "members")) > VG_SCIM_MAX_MEMBERS)
		return vg_err_set(s->err, E2BIG, "scim_too_many", "groups", "%s: more than %d members", p,
				  VG_SCIM_MAX_MEMBERS);
	members = group_members(s, res, path, name);
	if (!members)
		return -ENOMEM;
	json_object_set_new(s->gnames, name, json_true());
	json_object_set_new(s->gids, key, json_string(name));
	json_array_append_new(s->groups, json_pack("{s:s,s:I,s:o}", "name", name, "gid", gid, "members", members));
	return 0;
}

/* users of the previous identity missing from the list stay, deprovisioned
 * (docs/scim.md) */
static void keep_removed(struct scim *s)
{
	json_t *pu, *u, *uid, *gid, *v;
	const char *name;
	char p[64], key[24];
	size_t i;

	json_array_foreach(json_object_get(s->prev, "users"), i, pu)
	{
		name = str_or_null(pu, "name");
		if (name && json_object_get(s->names, name))
			continue;
		snprintf(p, sizeof(p), "$.identity.users[%zu]", i);
		uid = json_object_get(pu, "uid");
		gid = json_object_get(pu, "gid");
		if (!name || !vg_str_valid_name(name, MAX_LOGIN) || !json_is_integer(uid) || !json_is_integer(gid) ||
		    json_integer_value(uid) < s->uid_min || json_integer_value(uid) > s->uid_max ||
		    json_integer_value(gid) < s->gid_min || json_integer_value(gid) > s->gid_max) {
			warn(s, "previous", p, "not a valid user of the identity ranges; not carried over");
			continue;
		}
		snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, json_integer_value(uid));
		if (json_object_get(s->uids, key)) {
			warn(s, "previous", p, "removed user \"%s\": uid %s now belongs to \"%s\"; not carried over",
			     name, key, json_string_value(json_object_get(s->uids, key)));
			continue;
		}
		u = json_pack("{s:s,s:O,s:O}", "name", name, "uid", uid, "gid", gid);
		if ((v = json_object_get(pu, "gecos")) && json_is_string(v) &&
		    strlen(json_string_value(v)) <= MAX_GECOS && !strpbrk(json_string_value(v), ":\n"))
			json_object_set(u, "gecos", v);
		if ((v = json_object_get(pu, "home")) && json_is_string(v) && abs_path_ok(json_string_value(v)))
			json_object_set(u, "home", v);
		if ((v = json_object_get(pu, "shell")) && json_is_string(v) && abs_path_ok(json_string_value(v)))
			json_object_set(u, "shell", v);
		json_object_set_new(u, "state", json_string("deprovisioned"));
		json_object_set(s->names, name, u);
		json_object_set_new(s->uids, key, json_string(name));
		json_array_append_new(s->users, u);
	}
}

static bool range_of(json_t *ident, const char *key, uint32_t *lo, uint32_t *hi)
{
	json_t *r = json_object_get(ident, key);
	json_int_t a = json_integer_value(json_array_get(r, 0)), b = json_integer_value(json_array_get(r, 1));

	if (json_array_size(r) != 2 || a < 1000 || b > 0x7ffffffe || a > b)
		return false;
	*lo = (uint32_t)a;
	*hi = (uint32_t)b;
	return true;
}

/* previous bundle (or identity object): ranges, elevation group, users */
static int use_previous(struct scim *s, json_t *prev)
{
	json_t *el = json_object_get(prev, "elevation");

	s->prev = json_object_get(prev, "identity") ? json_object_get(prev, "identity") : prev;
	if (!json_is_object(s->prev) || !json_is_array(json_object_get(s->prev, "users")))
		return vg_err_set(s->err, EINVAL, "scim_previous", "previous",
				  "neither a bundle with an identity section nor an identity object");
	if (json_is_string(json_object_get(el, "group")))
		s->elev_group = str_or_null(el, "group");
	if (json_is_integer(json_object_get(el, "gid")))
		s->elev_gid = json_integer_value(json_object_get(el, "gid"));
	if (!s->uid_max && (!range_of(s->prev, "uid_range", &s->uid_min, &s->uid_max) ||
			    !range_of(s->prev, "gid_range", &s->gid_min, &s->gid_max)))
		return vg_err_set(s->err, EINVAL, "scim_previous", "previous",
				  "$.identity.uid_range/gid_range: missing or invalid; "
				  "give the ranges explicitly");
	return 0;
}

static int check_ranges(struct scim *s)
{
	if (s->uid_min < 1000 || s->gid_min < 1000 || s->uid_min > s->uid_max || s->gid_min > s->gid_max ||
	    s->uid_max > 0x7ffffffe || s->gid_max > 0x7ffffffe)
		return vg_err_set(s->err, EINVAL, "scim_range", "ranges",
				  "uid and gid ranges must satisfy 1000 <= MIN <= MAX < "
				  "2^31-1 (give them, or a previous "
				  "bundle that has them)");
	return 0;
}

static void scim_free(struct scim *s)
{
	json_decref(s->users);
	json_decref(s->groups);
	json_decref(s->warnings);
	json_decref(s->by_id);
	json_decref(s->names);
	json_decref(s->uids);
	json_decref(s->gnames);
	json_decref(s->gids);
}

int vg_scim_to_identity(const struct vg_scim_in *in, json_t **identity, json_t **warnings, struct vg_err *err)
{
	struct scim s = { .uid_min = in->uid_min,
			  .uid_max = in->uid_max,
			  .gid_min = in->gid_min,
			  .gid_max = in->gid_max,
			  .elev_gid = -1,
			  .err = err };
	json_t *users = NULL, *groups = NULL, *prev = NULL;
	int r;

	*identity = *warnings = NULL;
	s.users = json_array();
	s.groups = json_array();
	s.warnings = json_array();
	s.by_id = json_object();
	s.names = json_object();
	s.uids = json_object();
	s.gnames = json_object();
	s.gids = json_object();
	if (!s.users || !s.groups || !s.warnings || !s.by_id || !s.names || !s.uids || !s.gnames || !s.gids) {
		r = -ENOMEM;
		goto out;
	}
	if (in->previous && ((r = load_doc(in->previous, in->previous_len, "previous", &prev, err)) < 0 ||
			     (r = use_previous(&s, prev)) < 0))
		goto out;
	if ((r = check_ranges(&s)) < 0 || (r = load_doc(in->users, in->users_len, "users", &users, err)) < 0 ||
	    (r = walk_list(&s, users, "users", VG_SCIM_MAX_USERS, add_user)) < 0)
		goto out;
	if (in->groups && ((r = load_doc(in->groups, in->groups_len, "groups", &groups, err)) < 0 ||
			   (r = walk_list(&s, groups, "groups", VG_SCIM_MAX_GROUPS, add_group)) < 0))
		goto out;
	keep_removed(&s);
	*identity = json_pack("{s:[I,I],s:[I,I],s:O,s:O}", "uid_range", (json_int_t)s.uid_min, (json_int_t)s.uid_max,
			      "gid_range", (json_int_t)s.gid_min, (json_int_t)s.gid_max, "users", s.users, "groups",
			      s.groups);
	if (!*identity) {
		r = -ENOMEM;
		goto out;
	}
	*warnings = json_incref(s.warnings);
	r = 0;
out:
	json_decref(users);
	json_decref(groups);
	json_decref(prev);
	scim_free(&s);
	return r;
}
