/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identity module: on every applied bundle, writes passwd.cache, group.cache
 * and members.cache (lib/nsscache_write.c) into nss_cache_dir for
 * libnss_vigil.so.2; rewrites members.cache whenever the elevation module
 * reports new grants. Who was (de)provisioned is the difference between the
 * passwd.cache on disk and the new one, so a restart emits nothing twice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "daemon.h"
#include "identity.h"
#include "nsscache_read.h"
#include "statefile.h"
#include "vigil/nsscache.h"
#include "vigil/util.h"

#define LOCAL_PASSWD "/etc/passwd"
#define LOCAL_GROUP "/etc/group"
#define MAX_CONFLICTS_AUDITED 100 /* one event lists at most this many; the count is exact */
#define IDENTITY_AUDIT_FIRST 20	  /* user.(de)provisioned name this many; the full list is in a file */

static struct {
	struct vg_grant *grants;
	size_t ngrants;
	struct vg_nssc_report last; /* of the last identity write */
	size_t live_grants;
	time_t written_at;
	char last_error[256];
} st;

struct staged {
	struct vg_nssc_buf passwd, group, members;
	struct vg_nssc_report rep;
	uint64_t build_ms, diff_ms; /* where prepare's time went, logged by commit */
	json_t *provisioned, *deprovisioned; /* arrays of {"user", "uid"} */
};

static void staged_free(struct staged *s)
{
	if (!s)
		return;
	vg_nssc_buf_free(&s->passwd);
	vg_nssc_buf_free(&s->group);
	vg_nssc_buf_free(&s->members);
	vg_nssc_report_free(&s->rep);
	json_decref(s->provisioned);
	json_decref(s->deprovisioned);
	free(s);
}

static int build_members(const struct vg_bundle *b, struct vg_nssc_buf *out, struct vg_nssc_report *rep,
			 struct vg_err *err)
{
	const struct vg_elevation *e = &b->elevation;
	bool elev = e->present && e->group;

	return vg_nssc_build_members(elev ? e->group : NULL, elev ? e->gid : 0, st.grants, st.ngrants,
				     b->identity.gid_min, b->identity.gid_max, (uint64_t)b->version, vg_now(), out,
				     rep, err);
}

static json_t *who(const struct vg_nssc_view *v, const struct vg_nssc_passwd *p)
{
	return json_pack("{s:s, s:I}", "user", vg_nssc_str(v, p->name, NULL), "uid", (json_int_t)p->uid);
}

/* Merge the sorted name orders of the old and the new passwd.cache. */
static int diff_users(const char *dir, const struct vg_nssc_buf *next, json_t *added, json_t *removed)
{
	char path[512];
	_cleanup_free_ char *old = NULL;
	struct vg_nssc_view ov = { 0 }, nv;
	size_t len = 0, i = 0, j = 0;
	int r;

	r = vg_nssc_view_parse(next->data, next->len, VG_NSSC_PASSWD, 0, &nv);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s", dir, VG_NSSC_PASSWD_FILE);
	/* a missing or damaged cache counts as empty: everyone in the new one is provisioned */
	if (vg_read_file(path, VG_NSSC_MAX_FILE, &old, &len) < 0 ||
	    vg_nssc_view_parse(old, len, VG_NSSC_PASSWD, 0, &ov) < 0)
		ov.count = 0;
	while (i < ov.count || j < nv.count) {
		const struct vg_nssc_passwd *a = i < ov.count ? vg_nssc_pw_at(&ov, i) : NULL;
		const struct vg_nssc_passwd *b = j < nv.count ? vg_nssc_pw_at(&nv, j) : NULL;
		const char *an = a ? vg_nssc_str(&ov, a->name, NULL) : NULL;
		const char *bn = b ? vg_nssc_str(&nv, b->name, NULL) : NULL;
		int d;

		if ((a && !an) || (b && !bn))
			return -EBADMSG;
		d = !an ? 1 : !bn ? -1 : strcmp(an, bn);
		if (d < 0) {
			json_array_append_new(removed, who(&ov, a));
			i++;
		} else if (d > 0) {
			json_array_append_new(added, who(&nv, b));
			j++;
		} else {
			i++;
			j++;
		}
	}
	return 0;
}

static int identity_prepare(struct vg_daemon *d, const struct vg_bundle *b, void **out, struct vg_err *err)
{
	const struct vg_config *c = vg_daemon_config(d);
	const struct vg_elevation *e = &b->elevation;
	struct vg_nssc_local *local = NULL;
	struct staged *s = calloc(1, sizeof(*s));
	uint64_t t0 = vg_now_ms_monotonic();
	int r;

	if (!s)
		return -ENOMEM;
	s->provisioned = json_array();
	s->deprovisioned = json_array();
	r = vg_nssc_local_load(LOCAL_PASSWD, LOCAL_GROUP, &local, err);
	if (r < 0)
		goto fail;
	r = vg_nssc_build_identity(&b->identity, e->present ? e->group : NULL, e->present ? e->gid : 0, local,
				   (uint64_t)b->version, vg_now(), &s->passwd, &s->group, &s->rep, err);
	vg_nssc_local_free(local);
	if (r < 0)
		goto fail;
	r = build_members(b, &s->members, &s->rep, err);
	if (r < 0)
		goto fail;
	s->build_ms = vg_now_ms_monotonic() - t0;
	r = diff_users(c->nss_cache_dir, &s->passwd, s->provisioned, s->deprovisioned);
	s->diff_ms = vg_now_ms_monotonic() - t0 - s->build_ms;
	if (r < 0) {
		vg_err_set(err, -r, "nss_cache_build_failed", c->nss_cache_dir, "cannot compare with the NSS cache: %s",
			   strerror(-r));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	staged_free(s);
	return r;
}

static int cmp_user_ptr(const void *a, const void *b)
{
	return strcmp((*(const struct vg_user *const *)a)->name, (*(const struct vg_user *const *)b)->name);
}

/* the bundle's users sorted by name: 100k deprovisioned users are not 100k scans of the bundle */
static const struct vg_user **users_by_name(const struct vg_bundle *b)
{
	const struct vg_user **v = malloc((b->identity.nusers ? b->identity.nusers : 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < b->identity.nusers; i++)
		v[i] = &b->identity.users[i];
	if (b->identity.nusers)
		qsort(v, b->identity.nusers, sizeof(*v), cmp_user_ptr);
	return v;
}

/* deprovisioned: why, in a word per reason */
static const char *deprovision_reason(const struct vg_bundle *b, const struct vg_user **sorted, const char *name)
{
	const struct vg_user key = { .name = (char *)name }, *kp = &key, **found;
	const struct vg_user *bu;

	found = b->identity.nusers ? bsearch(&kp, sorted, b->identity.nusers, sizeof(*sorted), cmp_user_ptr) : NULL;
	bu = found ? *found : NULL;

	if (!bu)
		return "removed from the bundle";
	if (bu->state == VG_USER_DEPROVISIONED)
		return "state deprovisioned";
	if (bu->valid_until && bu->valid_until <= vg_now())
		return "valid_until passed";
	return "refused (conflict)";
}

/* Keeps the full list beside the audit log, named by its digest, which the event carries. */
static void save_list(struct vg_daemon *d, const char *type, const char *digest, const char *text, json_t *data)
{
	const struct vg_config *c = vg_daemon_config(d);
	char dir[512], path[700];
	int r;

	snprintf(dir, sizeof(dir), "%s/identity", c->state_dir);
	snprintf(path, sizeof(path), "%s/%s-%s.json", dir, type, digest);
	r = vg_mkdir_p(dir, 0700);
	if (r == 0)
		r = vg_write_file_atomic(path, text, strlen(text), 0600);
	if (r < 0) {
		vg_log(LOG_ERR, "identity: cannot keep the list of %s: %s: %s", type, path, strerror(-r));
		return;
	}
	json_object_set_new(data, "list_file", json_string(path));
}

/*
 * One event per apply and kind, whatever the number of users: count, the
 * sha256 of the full list (compact JSON, by name), the first names, and the
 * file holding the full list. 100k users cost one event, not 100k.
 */
static void audit_users(struct vg_daemon *d, const struct vg_bundle *b, json_t *list, const char *type)
{
	bool deprov = strcmp(type, "user.deprovisioned") == 0;
	json_t *data, *first, *why;
	const struct vg_user **sorted = NULL;
	char digest[65];
	size_t i, n = json_array_size(list);
	char *text;
	json_t *u;

	if (!n)
		return;
	if (deprov && !(sorted = users_by_name(b))) {
		vg_log(LOG_ERR, "identity: out of memory: %zu deprovisioned user(s) not audited", n);
		return;
	}
	first = json_array();
	why = json_object();
	json_array_foreach(list, i, u) {
		const char *name = json_string_value(json_object_get(u, "user"));

		if (deprov) {
			const char *reason = deprovision_reason(b, sorted, name);

			json_object_set_new(u, "reason", json_string(reason));
			json_object_set_new(why, reason,
					    json_integer(json_integer_value(json_object_get(why, reason)) + 1));
		}
		if (i < IDENTITY_AUDIT_FIRST)
			json_array_append(first, u);
	}
	text = json_dumps(list, JSON_COMPACT);
	vg_sha256_hex(text ? text : "", text ? strlen(text) : 0, digest);
	data = json_pack("{s:I, s:s, s:o}", "count", (json_int_t)n, "digest", digest, "first", first);
	if (deprov)
		json_object_set_new(data, "reasons", why);
	else
		json_decref(why);
	if (text)
		save_list(d, type, digest, text, data);
	free(text);
	free(sorted);
	vg_log(LOG_NOTICE, "identity: %s: %zu user(s), list sha256 %s", type, n, digest);
	vg_daemon_audit(d, type, n == 1 ? json_string_value(json_object_get(json_array_get(list, 0), "user"))
					: "identity",
			data);
}

static void audit_conflicts(struct vg_daemon *d, const struct vg_nssc_report *rep)
{
	json_t *list;

	if (!rep->nconflicts)
		return;
	list = json_array();
	for (size_t i = 0; i < rep->nconflicts; i++) {
		const struct vg_nssc_conflict *c = &rep->conflicts[i];

		vg_log(LOG_WARNING, "identity: not served: %s %s (id %u): %s", c->kind, c->name, c->id, c->why);
		if (i < MAX_CONFLICTS_AUDITED)
			json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:s}", "kind", c->kind, "name", c->name,
							      "id", (json_int_t)c->id, "why", c->why));
	}
	vg_daemon_audit(d, "identity.conflict", "nss",
			json_pack("{s:I, s:o}", "count", (json_int_t)rep->nconflicts, "conflicts", list));
}

static void cache_failed(struct vg_daemon *d, const struct vg_err *err)
{
	const struct vg_config *c = vg_daemon_config(d);
	char msg[600];

	vg_err_str(err, msg, sizeof(msg));
	vg_log(LOG_ERR, "identity: %s", msg);
	snprintf(st.last_error, sizeof(st.last_error), "%s", msg);
	vg_daemon_audit(d, "identity.cache_failed", err->path[0] ? err->path : c->nss_cache_dir,
			json_pack("{s:s, s:s}", "reason", err->code, "error", msg));
}

/* Writes the set together (vg_nssc_write_set); a failure is logged, audited and shown in status.
 * After what the state file writer holds, which would land after it otherwise. */
static int write_caches(struct vg_daemon *d, const struct vg_nssc_file *files, size_t n)
{
	struct vg_err err = { 0 };
	int r;

	vg_sf_drain(d);
	r = vg_nssc_write_set(vg_daemon_config(d)->nss_cache_dir, files, n, &err);
	if (r < 0)
		cache_failed(d, &err);
	return r;
}

static void identity_commit(struct vg_daemon *d, const struct vg_bundle *b, void *staged)
{
	struct staged *s = staged;
	const struct vg_nssc_file files[] = {
		{ VG_NSSC_PASSWD_FILE, &s->passwd },
		{ VG_NSSC_GROUP_FILE, &s->group },
		{ VG_NSSC_MEMBERS_FILE, &s->members },
	};

	uint64_t t0 = vg_now_ms_monotonic(), t1;
	struct vg_nssc_report mrep = { 0 };
	struct vg_nssc_buf members = { 0 };
	struct vg_err err = { 0 };

	st.last_error[0] = '\0';
	/*
	 * The membership as the grants stand now: the elevation module's commit (before this one)
	 * revoked the grants this bundle no longer allows, after the prepare built s->members.
	 */
	if (build_members(b, &members, &mrep, &err) == 0) {
		vg_nssc_buf_free(&s->members);
		s->members = members;
		s->rep.ngrants = mrep.ngrants;
	} else {
		vg_log(LOG_ERR, "identity: cannot build the membership cache again: %s", err.msg);
	}
	vg_nssc_report_free(&mrep);
	/* all three complete on disk before any is renamed: readers see the old set, then the new */
	if (write_caches(d, files, sizeof(files) / sizeof(files[0])) == 0) {
		t1 = vg_now_ms_monotonic();
		audit_users(d, b, s->deprovisioned, "user.deprovisioned");
		audit_users(d, b, s->provisioned, "user.provisioned");
	} else {
		t1 = vg_now_ms_monotonic();
	}
	audit_conflicts(d, &s->rep);
	vg_log(LOG_INFO,
	       "identity: %zu users, %zu groups: caches built %llu ms, compared with the old %llu ms, written %llu ms, "
	       "audited %llu ms",
	       s->rep.nusers, s->rep.ngroups, (unsigned long long)s->build_ms, (unsigned long long)s->diff_ms,
	       (unsigned long long)(t1 - t0), (unsigned long long)(vg_now_ms_monotonic() - t1));
	vg_nssc_report_free(&st.last);
	st.last = s->rep;
	memset(&s->rep, 0, sizeof(s->rep));
	st.live_grants = st.last.ngrants;
	st.written_at = vg_now();
	staged_free(s);
}

static void identity_abort(struct vg_daemon *d, void *staged)
{
	staged_free(staged);
}

/* members.cache with new grants, written by the state file writer (agent/statefile.h) */
struct members_version {
	char dir[256];
	struct vg_nssc_buf buf;
	struct vg_nssc_report rep;
};

static int members_write(void *arg, struct vg_err *err)
{
	struct members_version *m = arg;

	return vg_nssc_write_set(m->dir, &(const struct vg_nssc_file){ VG_NSSC_MEMBERS_FILE, &m->buf }, 1, err);
}

static void members_done(struct vg_daemon *d, void *arg, int r, const struct vg_err *err)
{
	struct members_version *m = arg;

	if (r == 0) {
		st.live_grants = m->rep.ngrants;
		for (size_t i = 0; i < m->rep.nconflicts; i++)
			vg_log(LOG_WARNING, "identity: grant not served: %s: %s", m->rep.conflicts[i].name,
			       m->rep.conflicts[i].why);
	} else if (r != -ECANCELED) {
		cache_failed(d, err);
	}
	vg_nssc_buf_free(&m->buf);
	vg_nssc_report_free(&m->rep);
	free(m);
}

uint64_t vg_identity_set_grants(struct vg_daemon *d, const struct vg_grant *g, size_t n)
{
	const struct vg_bundle *b = vg_daemon_bundle(d);
	struct members_version *m;
	struct vg_grant *copy = NULL;
	struct vg_err err = { 0 };
	char msg[600];

	if (n) {
		copy = malloc(n * sizeof(*copy));
		if (!copy) {
			vg_log(LOG_ERR, "identity: out of memory: NSS memberships not updated");
			return 0;
		}
		memcpy(copy, g, n * sizeof(*copy));
	}
	free(st.grants);
	st.grants = copy;
	st.ngrants = n;
	if (!b)
		return 0; /* written with the first bundle */
	if (!(m = calloc(1, sizeof(*m)))) {
		vg_log(LOG_ERR, "identity: out of memory: NSS memberships not updated");
		return 0;
	}
	snprintf(m->dir, sizeof(m->dir), "%s", vg_daemon_config(d)->nss_cache_dir);
	if (build_members(b, &m->buf, &m->rep, &err) < 0) {
		vg_err_str(&err, msg, sizeof(msg));
		vg_log(LOG_ERR, "identity: cannot build the membership cache: %s", msg);
		snprintf(st.last_error, sizeof(st.last_error), "%s", msg);
		members_done(d, m, -ECANCELED, &err);
		return 0;
	}
	return vg_sf_put(d, VG_SF_MEMBERS, &(const struct vg_sf_job){ members_write, members_done, m });
}

static bool in_group(const struct vg_bundle *b, const char *group, const char *user)
{
	for (size_t i = 0; i < b->identity.ngroups; i++) {
		const struct vg_group *g = &b->identity.groups[i];

		if (strcmp(g->name, group) != 0)
			continue;
		for (size_t j = 0; j < g->nmembers; j++)
			if (strcmp(g->members[j], user) == 0)
				return true;
	}
	return false;
}

static json_t *whoami(struct vg_daemon *d, uid_t uid)
{
	const struct vg_bundle *b = vg_daemon_bundle(d);
	const struct vg_user *u = NULL;
	json_t *out = json_pack("{s:I}", "uid", (json_int_t)uid), *groups, *elev;
	bool eligible = false;
	time_t expires = 0;
	char when[32];

	if (b)
		for (size_t i = 0; i < b->identity.nusers && !u; i++)
			if (b->identity.users[i].uid == uid)
				u = &b->identity.users[i];
	if (!u) {
		json_object_set_new(out, "user", json_null());
		json_object_set_new(out, "managed", json_false());
		return out;
	}
	json_object_set_new(out, "managed", json_true());
	json_object_set_new(out, "user",
			    json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:s}", "name", u->name, "uid", (json_int_t)u->uid,
				      "gid", (json_int_t)u->gid, "gecos", u->gecos ? u->gecos : "", "home",
				      u->home ? u->home : "", "shell", u->shell ? u->shell : "", "state",
				      u->state == VG_USER_ACTIVE ? "active" : "deprovisioned"));
	groups = json_array();
	for (size_t i = 0; i < b->identity.ngroups; i++)
		if (in_group(b, b->identity.groups[i].name, u->name))
			json_array_append_new(groups, json_string(b->identity.groups[i].name));
	json_object_set_new(out, "groups", groups);
	if (!b->elevation.present) {
		json_object_set_new(out, "elevation", json_null());
		return out;
	}
	for (size_t i = 0; i < b->elevation.nallowed && !eligible; i++) {
		const char *a = b->elevation.allowed[i];

		eligible = a[0] == '%' ? in_group(b, a + 1, u->name) : strcmp(a, u->name) == 0;
	}
	for (size_t i = 0; i < st.ngrants; i++)
		if (strcmp(st.grants[i].user, u->name) == 0 && st.grants[i].expires > vg_now() &&
		    st.grants[i].expires > expires)
			expires = st.grants[i].expires;
	elev = json_pack("{s:s, s:I, s:b}", "group", b->elevation.group, "gid", (json_int_t)b->elevation.gid,
			 "eligible", eligible && u->state == VG_USER_ACTIVE);
	if (expires) {
		vg_time_format(expires, when);
		json_object_set_new(elev, "grant_expires", json_string(when));
	} else {
		json_object_set_new(elev, "grant_expires", json_null());
	}
	json_object_set_new(out, "elevation", elev);
	return out;
}

static int identity_ctl(struct vg_daemon *d, const struct vg_peer *peer, const char *cmd, json_t *req,
			json_t **reply, struct vg_err *err)
{
	if (strcmp(cmd, "identity.whoami") != 0)
		return -ENOENT;
	/* any caller, about itself only: the answer is keyed by SO_PEERCRED, not by the request */
	*reply = whoami(d, peer->uid);
	return *reply ? 0 : -ENOMEM;
}

static void identity_status(struct vg_daemon *d, json_t *status)
{
	const struct vg_config *c = vg_daemon_config(d);
	char when[32] = "";

	if (st.written_at)
		vg_time_format(st.written_at, when);
	json_object_update_new(status,
			    json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:s}", "nss_cache_dir", c->nss_cache_dir,
				      "users", (json_int_t)st.last.nusers, "groups", (json_int_t)st.last.ngroups,
				      "memberships", (json_int_t)st.last.nmembers, "elevated",
				      (json_int_t)st.live_grants, "conflicts", (json_int_t)st.last.nconflicts,
				      "written_at", when, "last_error", st.last_error));
}

static void identity_shutdown(struct vg_daemon *d)
{
	free(st.grants);
	st.grants = NULL;
	st.ngrants = 0;
	vg_nssc_report_free(&st.last);
}

const struct vg_module vg_module_identity = {
	.name = "identity",
	.prepare = identity_prepare,
	.commit = identity_commit,
	.abort = identity_abort,
	.ctl = identity_ctl,
	.status = identity_status,
	.shutdown = identity_shutdown,
};
