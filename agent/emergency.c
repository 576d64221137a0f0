/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The emergency module of vigild (docs/emergency.md): verifies emergency documents (push, inbox,
 * pull), applies their actions over the running bundle, persists what is in force and verifies
 * it again at start, ends measures at expiry or release, and acknowledges every verified
 * document with a host-key-signed audit event.
 *
 * In force: the quarantines (each held by the document that imposed it) and the freeze (held by
 * the last document that froze). Persisted in state_dir/emergency/: state.json names them, the
 * signed documents themselves (DIGEST.json + .sig) prove them and are verified again at start.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "core.h"
#include "elevation.h"
#include "emergency.h"
#include "vigil/crypto.h"
#include "vigil/emergency.h"
#include "vigil/hostkey.h"
#include "vigil/loader.h"
#include "vigil/util.h"

#define STATE_MAX (1u << 20)
#define MAX_DOCS (VG_QUARANTINE_MAX + 1)

struct em_q {
	struct vg_emergency *doc; /* holds the quarantine action */
	size_t action;
};

static struct {
	int64_t highest;
	char highest_digest[65];
	struct em_q q[VG_QUARANTINE_MAX];
	size_t nq;
	struct vg_emergency *freeze; /* the document holding the freeze, NULL: not frozen */
	struct vg_emergency *docs[MAX_DOCS]; /* every document that holds a measure (owned) */
	size_t ndocs;
	struct vg_err enforce_err; /* last refusal of the enforcement side ("" = in force) */
	bool unsynced; /* the enforcement side may hold another set (pinned before a restart, a failed call) */
	int timer;
	EVP_PKEY *hostkey;
} E;

static const struct vg_em_quarantine *qof(const struct em_q *e)
{
	return &e->doc->actions[e->action].quarantine;
}

static void em_dir(struct vg_daemon *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/emergency", vg_daemon_config(d)->state_dir);
}

/* ---- the enforcement side ---- */

/* Hand the set to the enforcement side, resolved against the running bundle: a tenant the
 * bundle does not name has nothing to cut on this host (it stays in the set, for later bundles). */
static int enforce_set(struct vg_daemon *d, const struct em_q *set, size_t n, struct vg_err *err)
{
	const struct vg_bundle *b = vg_daemon_bundle(d);
	struct vg_quarantine *q = calloc(n + 1, sizeof(*q));
	size_t k = 0;
	int r;

	if (!q)
		return vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct vg_em_quarantine *eq = qof(&set[i]);
		const struct vg_tenant *t = b ? vg_bundle_tenant_by_name(b, eq->tenant) : NULL;

		if (!t)
			continue;
		q[k++] = (struct vg_quarantine){ .tenant_id = t->id, .tenant = eq->tenant, .id = eq->id,
						 .counter = set[i].doc->counter, .expires_at = set[i].doc->expires_at,
						 .nallow = eq->nallow, .allow = eq->allow };
	}
	r = vg_enforce_quarantine(q, k, err);
	free(q);
	if (r < 0 && !err->code[0])
		vg_err_set(err, -r, "enforce_failed", NULL, "the enforcement side refused the quarantine: %s", strerror(-r));
	return r;
}

/* ---- documents held in memory ---- */

static bool doc_used(const struct vg_emergency *e)
{
	for (size_t i = 0; i < E.nq; i++)
		if (E.q[i].doc == e)
			return true;
	return E.freeze == e;
}

static void docs_hold(struct vg_emergency *e)
{
	for (size_t i = 0; i < E.ndocs; i++)
		if (E.docs[i] == e)
			return;
	E.docs[E.ndocs++] = e;
}

/* free the documents that no longer hold a measure */
static void docs_gc(void)
{
	for (size_t i = 0; i < E.ndocs;) {
		if (doc_used(E.docs[i])) {
			i++;
			continue;
		}
		vg_emergency_free(E.docs[i]);
		E.docs[i] = E.docs[--E.ndocs];
	}
}

/* ---- persistence ---- */

static char *state_text(void)
{
	json_t *qs = json_array(), *st;
	char *s;

	for (size_t i = 0; i < E.nq; i++)
		json_array_append_new(qs, json_pack("{s:s, s:s}", "doc", E.q[i].doc->digest, "id", qof(&E.q[i])->id));
	st = json_pack("{s:I, s:s, s:o, s:s?}", "highest_counter", (json_int_t)E.highest, "highest_digest",
		       E.highest_digest, "quarantines", qs, "freeze", E.freeze ? E.freeze->digest : NULL);
	s = json_dumps(st, JSON_INDENT(1));
	json_decref(st);
	return s;
}

/* the documents in force are kept; every other file of the directory is a leftover */
static void files_gc(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *de;

	if (!dh)
		return;
	while ((de = readdir(dh))) {
		char digest[65] = "", path[1024];
		bool keep = de->d_name[0] == '.' || !strcmp(de->d_name, "state.json");

		if (sscanf(de->d_name, "%64[0-9a-f].json", digest) == 1)
			for (size_t i = 0; i < E.ndocs; i++)
				keep |= !strcmp(E.docs[i]->digest, digest);
		if (keep)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(dh);
}

/* doc (when non-NULL) first, signature before bytes as bundles do, then the state naming it */
static int persist(struct vg_daemon *d, const struct vg_emergency *doc, const char *bytes, size_t len,
		   const char *sig, size_t siglen)
{
	char dir[512], path[700];
	_cleanup_free_ char *st = state_text();
	int r;

	em_dir(d, dir, sizeof(dir));
	if ((r = vg_mkdir_p(dir, vg_file_mode(VG_DIR_SECRET))) < 0)
		goto fail;
	if (doc) {
		snprintf(path, sizeof(path), "%s/%s.json.sig", dir, doc->digest);
		if ((r = vg_write_file_atomic(path, sig, siglen, vg_file_mode(VG_FILE_SECRET))) < 0)
			goto fail;
		snprintf(path, sizeof(path), "%s/%s.json", dir, doc->digest);
		if ((r = vg_write_file_atomic(path, bytes, len, vg_file_mode(VG_FILE_SECRET))) < 0)
			goto fail;
	}
	snprintf(path, sizeof(path), "%s/state.json", dir);
	if (!st || (r = vg_write_file_atomic(path, st, strlen(st), vg_file_mode(VG_FILE_SECRET))) < 0)
		goto fail;
	files_gc(dir);
	return 0;
fail:
	vg_log(LOG_ERR, "emergency: cannot persist the emergency state in %s: %s (it is in force, but a restart "
			"loses it)", dir, strerror(r ? -r : ENOMEM));
	return r ? r : -ENOMEM;
}

/* ---- audit ---- */

static json_t *doc_summary(const struct vg_emergency *e)
{
	char t1[32], t2[32];

	vg_time_format(e->issued_at, t1);
	vg_time_format(e->expires_at, t2);
	return json_pack("{s:I, s:s, s:s, s:s, s:s}", "counter", (json_int_t)e->counter, "doc_digest", e->digest,
			 "issued_at", t1, "expires_at", t2, "reason", e->reason);
}

/* The acknowledgement a security team counts: host, document, when, outcome, signed with the host
 * key (domain "emergency-ack") so a collector can tell it from a forged event. */
static void acknowledge(struct vg_daemon *d, const char *digest, int64_t counter, const char *result)
{
	const char *state_dir = vg_daemon_config(d)->state_dir;
	_cleanup_free_ char *text = NULL, *b64 = NULL;
	_cleanup_free_ uint8_t *sig = NULL;
	struct vg_err err = { 0 };
	size_t siglen = 0;
	char at[32], kid[17] = "";
	json_t *ack, *ev;

	vg_time_format(vg_now(), at);
	ack = json_pack("{s:s, s:s, s:I, s:s, s:s}", "host", vg_daemon_hostname(d), "doc_digest", digest, "counter",
			(json_int_t)counter, "applied_at", at, "result", result);
	text = ack ? json_dumps(ack, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (!E.hostkey && vg_hostkey_load_or_create(state_dir, &E.hostkey, &err) < 0)
		vg_log(LOG_ERR, "emergency: acknowledgement unsigned: %s", err.msg);
	if (E.hostkey && text &&
	    vg_hostkey_sign(E.hostkey, VG_HOSTKEY_EMERGENCY_ACK, text, strlen(text), &sig, &siglen) == 0) {
		b64 = vg_b64_encode(sig, siglen, false);
		vg_key_id(E.hostkey, kid);
	}
	ev = json_pack("{s:s, s:s?, s:s, s:s}", "ack", text ? text : "", "signature", b64, "key_id", kid, "alg",
		       E.hostkey ? vg_key_alg(E.hostkey) : "");
	if (ev && ack)
		json_object_update(ev, ack);
	json_decref(ack);
	vg_daemon_audit(d, "emergency.ack", vg_daemon_hostname(d), ev);
}

static void refused(struct vg_daemon *d, const char *source, const char *digest, const struct vg_err *err,
		    const char *type)
{
	char msg[1100];
	json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s}", "source", source, "doc_digest", digest, "reason_code",
				 err->code, "reason", err->msg, "path", err->path);

	vg_log(LOG_WARNING, "emergency: document %.16s… from %s %s: %s", digest, source,
	       !strcmp(type, "emergency.ignored") ? "ignored" : "refused", vg_err_str(err, msg, sizeof(msg)));
	vg_daemon_audit(d, type, "emergency", data);
}

/* ---- expiry ---- */

static void arm_timer(struct vg_daemon *d);

static void expired_event(struct vg_daemon *d, const struct vg_emergency *e, const char *what, const char *id)
{
	json_t *data = doc_summary(e);

	json_object_set_new(data, "measure", json_string(what));
	if (id)
		json_object_set_new(data, "id", json_string(id));
	vg_log(LOG_NOTICE, "emergency: %s %s of document %lld expired", what, id ? id : "", (long long)e->counter);
	vg_daemon_audit(d, "emergency.expired", "emergency", data);
}

/* drop the measures whose document expired; hand_over: tell the enforcement side now (at start
 * the bundle is not restored yet, its commit hands the set over) */
static void expire_measures(struct vg_daemon *d, time_t now, bool hand_over)
{
	struct vg_err err = { 0 };
	size_t before = E.nq;

	for (size_t i = 0; i < E.nq;) {
		if (E.q[i].doc->expires_at > now) {
			i++;
			continue;
		}
		expired_event(d, E.q[i].doc, "quarantine", qof(&E.q[i])->id);
		E.q[i] = E.q[--E.nq];
	}
	if (hand_over && E.nq != before && enforce_set(d, E.q, E.nq, &err) < 0) {
		E.enforce_err = err;
		E.unsynced = true;
		vg_log(LOG_CRIT, "emergency: cannot lift expired quarantines: %s", err.msg);
	}
	if (E.freeze && E.freeze->expires_at <= now) {
		expired_event(d, E.freeze, "freeze", NULL);
		E.freeze = NULL;
		vg_elevation_freeze(d, NULL);
	}
}

static void on_timer(struct vg_daemon *d, void *arg)
{
	struct vg_emergency *fz = E.freeze;
	size_t nq = E.nq;

	E.timer = 0;
	expire_measures(d, vg_now(), true);
	if (nq != E.nq || fz != E.freeze) {
		docs_gc();
		persist(d, NULL, NULL, 0, NULL, 0);
	}
	arm_timer(d);
}

static void arm_timer(struct vg_daemon *d)
{
	time_t next = 0, now = vg_now();

	for (size_t i = 0; i < E.nq; i++)
		if (!next || E.q[i].doc->expires_at < next)
			next = E.q[i].doc->expires_at;
	if (E.freeze && (!next || E.freeze->expires_at < next))
		next = E.freeze->expires_at;
	if (E.timer > 0)
		vg_loop_cancel_timer(d, E.timer);
	E.timer = 0;
	if (next)
		E.timer = vg_loop_add_timer(d, next > now ? (uint64_t)(next - now) * 1000u : 0, on_timer, NULL);
}

/* ---- applying a document ---- */

struct outcome {
	json_t *actions; /* per action: what happened */
	size_t applied, refused;
};

static void note(struct outcome *o, const struct vg_em_action *a, const char *result, const struct vg_err *err,
		 json_t *extra)
{
	json_t *r = json_pack("{s:s, s:s}", "action", vg_em_kind_name(a->kind), "result", result);

	if (a->kind == VG_EM_QUARANTINE)
		json_object_update_new(r, json_pack("{s:s, s:s}", "tenant", a->quarantine.tenant, "id", a->quarantine.id));
	else if (a->target[0])
		json_object_set_new(r, "target", json_string(a->target));
	if (err)
		json_object_update_new(r, json_pack("{s:s, s:s}", "code", err->code, "error", err->msg));
	if (extra)
		json_object_update_new(r, extra);
	json_array_append_new(o->actions, r);
	if (err)
		o->refused++;
	else
		o->applied++;
}

static size_t q_remove(struct em_q *set, size_t n, bool by_tenant, const char *name)
{
	for (size_t i = 0; i < n;) {
		const struct vg_em_quarantine *q = qof(&set[i]);

		if (!strcmp(by_tenant ? q->tenant : q->id, name))
			set[i] = set[--n];
		else
			i++;
	}
	return n;
}

/* Quarantines and their releases change one set, handed to the enforcement side in one call: all
 * of them are in force, or (refused) none and the running set stays. */
static void apply_quarantines(struct vg_daemon *d, struct vg_emergency *e, struct outcome *o)
{
	struct em_q next[VG_QUARANTINE_MAX];
	size_t n = E.nq;
	struct vg_err err = { 0 };
	bool touched = false;
	int r = 0;

	memcpy(next, E.q, sizeof(next[0]) * E.nq);
	for (size_t i = 0; i < e->nactions; i++) {
		const struct vg_em_action *a = &e->actions[i];

		if (a->kind == VG_EM_QUARANTINE) {
			n = q_remove(next, n, true, a->quarantine.tenant);
			n = q_remove(next, n, false, a->quarantine.id);
			if (n == VG_QUARANTINE_MAX)
				r = vg_err_set(&err, ENOSPC, "too_many", NULL, "at most %u quarantines at once on one host",
					       VG_QUARANTINE_MAX);
			else
				next[n++] = (struct em_q){ e, i };
			touched = true;
		} else if (a->kind == VG_EM_RELEASE && a->release != VG_EM_RELEASE_FREEZE) {
			n = q_remove(next, n, a->release == VG_EM_RELEASE_TENANT, a->target);
			touched = true;
		}
	}
	if (touched && r == 0 && (r = enforce_set(d, next, n, &err)) == 0) {
		E.enforce_err = (struct vg_err){ 0 };
		E.unsynced = false;
		memcpy(E.q, next, sizeof(next[0]) * n);
		E.nq = n;
	}
	for (size_t i = 0; i < e->nactions; i++) {
		const struct vg_em_action *a = &e->actions[i];

		if (a->kind == VG_EM_QUARANTINE)
			note(o, a, r < 0 ? "refused" : "quarantined", r < 0 ? &err : NULL, NULL);
		else if (a->kind == VG_EM_RELEASE && a->release != VG_EM_RELEASE_FREEZE)
			note(o, a, r < 0 ? "refused" : "released", r < 0 ? &err : NULL, NULL);
	}
}

static void apply_elevation(struct vg_daemon *d, struct vg_emergency *e, struct outcome *o)
{
	char why[300];

	snprintf(why, sizeof(why), "emergency document %lld: %.200s", (long long)e->counter, e->reason);
	for (size_t i = 0; i < e->nactions; i++) {
		const struct vg_em_action *a = &e->actions[i];
		json_t *by;
		size_t n;

		switch (a->kind) {
		case VG_EM_REVOKE:
			if (a->revoke == VG_EM_REVOKE_HOST &&
			    fnmatch(a->target, vg_daemon_hostname(d), FNM_CASEFOLD) != 0) {
				note(o, a, "not_this_host", NULL, NULL);
				break;
			}
			by = json_pack("{s:s, s:I, s:s}", "by", "emergency", "counter", (json_int_t)e->counter,
				       "doc_digest", e->digest);
			n = vg_elevation_revoke(d, a->revoke == VG_EM_REVOKE_USER ? a->target : NULL, by, NULL);
			json_decref(by);
			note(o, a, "revoked", NULL, json_pack("{s:I}", "grants", (json_int_t)n));
			break;
		case VG_EM_FREEZE:
			E.freeze = e;
			vg_elevation_freeze(d, why);
			note(o, a, "frozen", NULL, NULL);
			break;
		case VG_EM_RELEASE:
			if (a->release != VG_EM_RELEASE_FREEZE)
				break;
			note(o, a, E.freeze ? "released" : "not_frozen", NULL, NULL);
			E.freeze = NULL;
			vg_elevation_freeze(d, NULL);
			break;
		default:
			break;
		}
	}
}

static const char *result_of(const struct outcome *o)
{
	return !o->refused ? "applied" : o->applied ? "partial" : "refused";
}

/* verified, in scope, in time, new: apply every action, persist, audit, acknowledge */
static int apply(struct vg_daemon *d, struct vg_emergency *e, const char *bytes, size_t len, const char *sig,
		 size_t siglen, const char *source, json_t **reply, struct vg_err *err)
{
	struct outcome o = { .actions = json_array() };
	const char *result;
	json_t *data;

	apply_quarantines(d, e, &o);
	apply_elevation(d, e, &o);
	result = result_of(&o);
	data = doc_summary(e);
	json_object_set_new(data, "source", json_string(source));
	json_object_set_new(data, "result", json_string(result));
	json_object_set_new(data, "actions", json_incref(o.actions));
	vg_log(o.refused ? LOG_WARNING : LOG_NOTICE, "emergency: document %lld (%.16s…) from %s: %s",
	       (long long)e->counter, e->digest, source, result);
	vg_daemon_audit(d, !o.applied ? "emergency.refused" : "emergency.applied", "emergency", json_incref(data));
	acknowledge(d, e->digest, e->counter, result);
	if (o.applied) {
		E.highest = e->counter;
		snprintf(E.highest_digest, sizeof(E.highest_digest), "%s", e->digest);
	}
	docs_gc();
	if (doc_used(e))
		docs_hold(e);
	if (o.applied) {
		persist(d, doc_used(e) ? e : NULL, bytes, len, sig, siglen);
		arm_timer(d);
	}
	if (!o.applied) {
		json_t *first = json_array_get(o.actions, 0);

		vg_err_set(err, EPERM, json_string_value(json_object_get(first, "code")) ?: "refused", NULL,
			   "no action of emergency document %lld could be applied: %s", (long long)e->counter,
			   json_string_value(json_object_get(first, "error")) ?: "refused");
	}
	if (!doc_used(e))
		vg_emergency_free(e);
	*reply = data;
	json_decref(o.actions);
	return o.applied ? 0 : -EPERM;
}

int vg_emergency_submit(struct vg_daemon *d, const char *bytes, size_t len, const char *sig, size_t siglen,
			const char *source, json_t **reply, struct vg_err *err)
{
	const struct vg_config *c = vg_daemon_config(d);
	struct vg_emergency *e = NULL;
	char digest[65];
	int r;

	*reply = NULL;
	vg_sha256_hex(bytes, len, digest);
	if ((r = vg_emergency_verify(d->trust, bytes, len, sig, siglen, &e, err)) < 0) {
		refused(d, source, digest, err, "emergency.refused");
		return r;
	}
	if ((r = vg_scope_check(&e->scope, "emergency document", d->hostname, c->labels, err)) < 0) {
		refused(d, source, digest, err, "emergency.ignored");
		acknowledge(d, digest, e->counter, "not_in_scope");
		goto out;
	}
	if ((r = vg_emergency_check_time(e, vg_now(), c->clock_skew_s, err)) < 0 ||
	    (r = vg_emergency_check_counter(e, E.highest, E.highest_digest, err)) < 0) {
		if (r == -EALREADY)
			goto out;
		refused(d, source, digest, err, "emergency.refused");
		acknowledge(d, digest, e->counter, err->code);
		goto out;
	}
	return apply(d, e, bytes, len, sig, siglen, source, reply, err);
out:
	vg_emergency_free(e);
	return r;
}

/* ---- start: the persisted state, verified again ---- */

static struct vg_emergency *restore_doc(struct vg_daemon *d, const char *digest)
{
	char dir[512], path[700], spath[720], msg[1100];
	_cleanup_free_ char *bytes = NULL, *sig = NULL;
	struct vg_emergency *e = NULL;
	struct vg_err err = { 0 };
	size_t len = 0, siglen = 0;

	for (size_t i = 0; i < E.ndocs; i++)
		if (!strcmp(E.docs[i]->digest, digest))
			return E.docs[i];
	em_dir(d, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%.64s.json", dir, digest);
	snprintf(spath, sizeof(spath), "%s.sig", path);
	if (vg_read_trusted(path, VG_EMERGENCY_MAX_BYTES, &bytes, &len, &err) < 0 ||
	    vg_read_trusted(spath, VG_SIG_MAX_BYTES, &sig, &siglen, &err) < 0 ||
	    vg_emergency_verify(d->trust, bytes, len, sig, siglen, &e, &err) < 0 ||
	    (strcmp(e->digest, digest) && vg_err_set(&err, EPERM, "state_mismatch", path, "digest differs") < 0)) {
		vg_log(LOG_CRIT, "emergency: THE PERSISTED EMERGENCY DOCUMENT %.16s… NO LONGER VERIFIES: %s; its measures "
				 "are dropped", digest, vg_err_str(&err, msg, sizeof(msg)));
		vg_daemon_audit(d, "emergency.dropped", "emergency",
				json_pack("{s:s, s:s, s:s}", "doc_digest", digest, "reason_code", err.code, "reason", err.msg));
		vg_emergency_free(e);
		return NULL;
	}
	if (E.ndocs == MAX_DOCS) {
		vg_emergency_free(e);
		return NULL;
	}
	E.docs[E.ndocs++] = e;
	return e;
}

static void restore_quarantine(struct vg_daemon *d, json_t *q)
{
	const char *id = json_string_value(json_object_get(q, "id"));
	struct vg_emergency *e = restore_doc(d, json_string_value(json_object_get(q, "doc")) ?: "");

	for (size_t i = 0; e && id && i < e->nactions && E.nq < VG_QUARANTINE_MAX; i++)
		if (e->actions[i].kind == VG_EM_QUARANTINE && !strcmp(e->actions[i].quarantine.id, id)) {
			E.q[E.nq++] = (struct em_q){ e, i };
			return;
		}
}

static void restore(struct vg_daemon *d)
{
	char dir[512], path[700], msg[1100], why[300];
	_cleanup_free_ char *buf = NULL;
	struct vg_err err = { 0 };
	json_t *st, *q;
	size_t i;

	em_dir(d, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/state.json", dir);
	if (vg_read_trusted(path, STATE_MAX, &buf, NULL, &err) < 0) {
		if (strcmp(err.code, "unreadable"))
			vg_log(LOG_ERR, "emergency: %s", vg_err_str(&err, msg, sizeof(msg)));
		return;
	}
	if (!(st = json_loads(buf, 0, NULL))) {
		vg_log(LOG_CRIT, "emergency: %s is corrupt: no emergency measure is restored", path);
		return;
	}
	E.highest = json_integer_value(json_object_get(st, "highest_counter"));
	snprintf(E.highest_digest, sizeof(E.highest_digest), "%s",
		 json_string_value(json_object_get(st, "highest_digest")) ?: "");
	json_array_foreach(json_object_get(st, "quarantines"), i, q)
		restore_quarantine(d, q);
	if (json_is_string(json_object_get(st, "freeze")))
		E.freeze = restore_doc(d, json_string_value(json_object_get(st, "freeze")));
	json_decref(st);
	if (E.freeze) {
		snprintf(why, sizeof(why), "emergency document %lld: %.200s", (long long)E.freeze->counter, E.freeze->reason);
		vg_elevation_freeze(d, why);
	}
	if (E.nq || E.freeze)
		vg_daemon_audit(d, "emergency.restored", "emergency",
				json_pack("{s:I, s:I, s:b}", "highest_counter", (json_int_t)E.highest, "quarantines",
					  (json_int_t)E.nq, "frozen", E.freeze != NULL));
}

static int em_init(struct vg_daemon *d, struct vg_err *err)
{
	memset(&E, 0, sizeof(E));
	E.unsynced = true; /* the first bundle commit hands the set over, even when it is empty */
	restore(d);
	/* measures that ran out while vigild was down end now, audited; the rest reaches the
	 * enforcement side when the persisted bundle is committed (em_commit) */
	expire_measures(d, vg_now(), false);
	docs_gc();
	arm_timer(d);
	return 0;
}

/* A new bundle may name the tenants differently: the quarantine set is handed over again, after
 * the enforcement module committed the bundle (module order), so no bundle undoes it. */
static void em_commit(struct vg_daemon *d, const struct vg_bundle *b, void *staged)
{
	struct vg_err err = { 0 };
	int r;

	if (!E.nq && !E.unsynced)
		return;
	r = enforce_set(d, E.q, E.nq, &err);
	/* a build that cannot quarantine never applied one: with nothing to quarantine it is in sync */
	if (r < 0 && !(r == -EOPNOTSUPP && !E.nq)) {
		E.enforce_err = err;
		vg_log(LOG_CRIT, "emergency: the quarantine could not be applied with the new bundle: %s", err.msg);
		return;
	}
	E.enforce_err = (struct vg_err){ 0 };
	E.unsynced = false;
}

/* ---- ctl and status ---- */

static json_t *state_json(bool full)
{
	json_t *o = json_pack("{s:I, s:I, s:b}", "highest_counter", (json_int_t)E.highest, "quarantines",
			      (json_int_t)E.nq, "frozen", E.freeze != NULL);

	if (E.enforce_err.code[0])
		json_object_set_new(o, "enforce_error", json_pack("{s:s, s:s}", "code", E.enforce_err.code, "message",
								   E.enforce_err.msg));
	if (!full)
		return o;
	{
		json_t *qs = json_array();

		for (size_t i = 0; i < E.nq; i++) {
			json_t *q = doc_summary(E.q[i].doc);

			json_object_update_new(q, json_pack("{s:s, s:s, s:I}", "id", qof(&E.q[i])->id, "tenant",
							    qof(&E.q[i])->tenant, "allow", (json_int_t)qof(&E.q[i])->nallow));
			json_array_append_new(qs, q);
		}
		json_object_set_new(o, "quarantined", qs);
	}
	if (E.freeze)
		json_object_set_new(o, "freeze", doc_summary(E.freeze));
	return o;
}

static int b64_field(json_t *req, const char *key, size_t max, char **out, size_t *len, struct vg_err *err)
{
	const char *s = json_string_value(json_object_get(req, key));
	uint8_t *raw;

	if (!s || strlen(s) > (max + 2) / 3 * 4 + 4 || vg_b64_decode(s, &raw, len) < 0)
		return vg_err_set(err, EINVAL, "request_malformed", key, "\"%s\" must be base64 of at most %zu bytes", key,
				  max);
	*out = (char *)raw;
	return 0;
}

static int ctl_push(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, json_t **reply, struct vg_err *err)
{
	_cleanup_free_ char *doc = NULL, *sig = NULL;
	size_t len = 0, siglen = 0;
	int r;

	if ((r = b64_field(req, "doc", VG_EMERGENCY_MAX_BYTES, &doc, &len, err)) < 0 ||
	    (r = b64_field(req, "sig", VG_SIG_MAX_BYTES, &sig, &siglen, err)) < 0)
		return r;
	r = vg_emergency_submit(d, doc, len, sig, siglen, "push", reply, err);
	if (r == -EALREADY) {
		*reply = json_pack("{s:s, s:I}", "result", "unchanged", "counter", (json_int_t)E.highest);
		return 0;
	}
	return r;
}

static int em_ctl(struct vg_daemon *d, const struct vg_peer *peer, const char *cmd, json_t *req, json_t **reply,
		  struct vg_err *err)
{
	if (!strcmp(cmd, "emergency.push"))
		return ctl_push(d, peer, req, reply, err);
	if (!strcmp(cmd, "emergency.show")) {
		*reply = state_json(true);
		return *reply ? 0 : -ENOMEM;
	}
	return -ENOENT;
}

static void em_status(struct vg_daemon *d, json_t *status)
{
	json_object_update_new(status, state_json(false));
}

static void em_shutdown(struct vg_daemon *d)
{
	if (E.timer > 0)
		vg_loop_cancel_timer(d, E.timer);
	for (size_t i = 0; i < E.ndocs; i++)
		vg_emergency_free(E.docs[i]);
	E.ndocs = E.nq = 0;
	E.freeze = NULL;
	EVP_PKEY_free(E.hostkey);
	E.hostkey = NULL;
}

const struct vg_module vg_module_emergency = {
	.name = "emergency",
	.init = em_init,
	.commit = em_commit,
	.ctl = em_ctl,
	.status = em_status,
	.shutdown = em_shutdown,
};
