/* SPDX-License-Identifier: Apache-2.0 */
/* Posture module of vigild (agent/posture.h, docs/posture.md). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <openssl/evp.h>

#include "posture.h"
#include "vigil/crypto.h"
#include "vigil/hostkey.h"
#include "vigil/posture.h"
#include "vigil/util.h"

#define NONCE_MAX 128
/* a caller who is not an administrator may make vigild collect anew this often at most */
#define UNPRIVILEGED_REFRESH_MS 5000

static struct {
	struct vg_posture p;
	bool collected;
	uint64_t collected_ms; /* monotonic */
	int timer;
	bool have_last;
	char last_key[512]; /* verdict and its (check, code) reasons: what "changed" compares */
	json_t *last;	    /* {"verdict", "reasons"} as last audited */
	EVP_PKEY *hostkey;
} st;

static const struct vg_posture_req *current_req(struct vg_daemon *d)
{
	const struct vg_bundle *b = vg_daemon_bundle(d);

	return b ? &b->elevation.posture[b->environment] : NULL;
}

static void collect(struct vg_daemon *d)
{
	const struct vg_config *cfg = vg_daemon_config(d);
	const struct vg_posture_req *req = current_req(d);
	struct vg_posture_opts o = { .root = cfg->posture_root, .now = vg_now(), .units = cfg->posture_edr_units };

	if (req && req->present) {
		o.nagents = req->nedr_agents;
		o.agents = req->edr_agents;
		o.nexempt = req->nexempt_mounts;
		o.exempt = req->exempt_mounts;
		o.patch_max_age_days = req->patch_max_age_days;
	}
	vg_posture_collect(&o, &st.p);
	st.collected = true;
	st.collected_ms = vg_now_ms_monotonic();
}

static void verdict_key(const struct vg_posture_verdict *v, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "%s", v->pass ? "pass" : "fail");

	for (size_t i = 0; i < v->nreasons && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "|%d:%s", v->reasons[i].check, v->reasons[i].code);
}

/* posture.changed: before/after and the evidence behind the new verdict */
static void note_change(struct vg_daemon *d, const struct vg_posture_verdict *v, json_t *rep, const char *trigger)
{
	char key[512];
	json_t *after, *evidence, *checks = json_object_get(rep, "checks"), *c;
	const char *name;
	int r;

	verdict_key(v, key, sizeof(key));
	if (st.have_last && !strcmp(key, st.last_key))
		return;
	after = json_pack("{s:O, s:O}", "verdict", json_object_get(rep, "verdict"), "reasons",
			  json_object_get(rep, "reasons"));
	evidence = json_object();
	json_object_foreach(checks, name, c)
		json_object_set_new(evidence, name, json_pack("{s:O, s:O, s:O}", "result", json_object_get(c, "result"),
							      "summary", json_object_get(c, "summary"), "evidence",
							      json_object_get(c, "evidence")));
	r = vg_daemon_audit(d, "posture.changed", vg_daemon_hostname(d),
			    json_pack("{s:O, s:O, s:o, s:s, s:O}", "before", st.last ? st.last : json_null(), "after",
				      after, "evidence", evidence, "trigger", trigger, "environment",
				      json_object_get(rep, "environment")));
	if (r < 0)
		vg_log(LOG_ERR, "posture: cannot audit posture.changed: %s", strerror(-r));
	vg_log(LOG_NOTICE, "posture: verdict is now %s (%s)", v->pass ? "pass" : "fail", trigger);
	json_decref(st.last);
	st.last = after;
	st.have_last = true;
	snprintf(st.last_key, sizeof(st.last_key), "%s", key);
}

/* Evaluate the collected results now; audits a change. Returns the report (caller owns it). */
static json_t *evaluate(struct vg_daemon *d, const char *trigger, struct vg_posture_verdict *v)
{
	const struct vg_bundle *b = vg_daemon_bundle(d);
	time_t now = vg_now();
	json_t *rep;

	vg_posture_evaluate(&st.p, current_req(d), now, v);
	rep = vg_posture_report(&st.p, current_req(d), v, now);
	if (!rep)
		return NULL;
	json_object_set_new(rep, "host", json_string(vg_daemon_hostname(d)));
	json_object_set_new(rep, "environment", b ? json_string(vg_env_name(b->environment)) : json_null());
	json_object_set_new(rep, "policy_version", b ? json_integer(b->version) : json_null());
	json_object_set_new(rep, "policy_digest", b ? json_string(b->digest) : json_null());
	note_change(d, v, rep, trigger);
	return rep;
}

static void refresh(struct vg_daemon *d, const char *trigger)
{
	struct vg_posture_verdict v;

	collect(d);
	json_decref(evaluate(d, trigger, &v));
}

static void on_timer(struct vg_daemon *d, void *arg);

/* Often enough that a result never goes stale between two refreshes. */
static void arm_timer(struct vg_daemon *d)
{
	const struct vg_posture_req *req = current_req(d);
	uint64_t every = vg_daemon_config(d)->posture_interval_s;
	uint32_t max_age = req && req->present && req->max_age_s ? req->max_age_s : VG_POSTURE_DEFAULT_MAX_AGE_S;
	int id;

	if (!every || every > max_age / 2)
		every = max_age / 2;
	if (!every)
		every = 1;
	if (st.timer)
		vg_loop_cancel_timer(d, st.timer);
	id = vg_loop_add_timer(d, every * 1000, on_timer, NULL);
	st.timer = id > 0 ? id : 0;
	if (id <= 0)
		vg_log(LOG_ERR, "posture: cannot arm the refresh timer: %s; results will go stale", strerror(-id));
}

static void on_timer(struct vg_daemon *d, void *arg)
{
	st.timer = 0;
	refresh(d, st.collected ? "timer" : "start");
	arm_timer(d);
}

int vg_posture_verdict(struct vg_daemon *d, bool refresh_first, json_t **report)
{
	struct vg_posture_verdict v;
	json_t *rep;

	if (report)
		*report = NULL;
	if (refresh_first || !st.collected)
		collect(d);
	rep = evaluate(d, refresh_first ? "request" : "query", &v);
	if (report)
		*report = rep;
	else
		json_decref(rep);
	return v.pass ? 0 : -EACCES;
}

static int posture_init(struct vg_daemon *d, struct vg_err *err)
{
	const struct vg_config *cfg = vg_daemon_config(d);
	int r = vg_posture_units_validate(cfg->posture_edr_units, err);

	if (r < 0)
		return r;
	/* first collection once the persisted bundle is back (commit), or right after start without one */
	st.timer = vg_loop_add_timer(d, 0, on_timer, NULL);
	if (st.timer <= 0)
		return vg_err_set(err, -st.timer, "timer", "posture", "cannot arm the posture timer");
	return 0;
}

static void posture_commit(struct vg_daemon *d, const struct vg_bundle *b, void *staged)
{
	refresh(d, "policy");
	arm_timer(d);
}

static bool nonce_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NONCE_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("._:-+/=", *s)))
			return false;
	return true;
}

/* The report bytes signed with the host key, as vigilctl writes them to a file. */
static int sign_report(struct vg_daemon *d, json_t *rep, json_t **out, struct vg_err *err)
{
	const char *state_dir = vg_daemon_config(d)->state_dir;
	_cleanup_free_ char *text = NULL, *sig_b64 = NULL;
	_cleanup_free_ uint8_t *sig = NULL;
	size_t siglen;
	char kid[17];
	int r;

	if (!st.hostkey && (r = vg_hostkey_load_or_create(state_dir, &st.hostkey, err)) < 0)
		return r;
	text = json_dumps(rep, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return vg_err_set(err, ENOMEM, "no_memory", "posture.report", "cannot encode the report");
	if ((r = vg_hostkey_sign(st.hostkey, VG_HOSTKEY_POSTURE_REPORT, text, strlen(text), &sig, &siglen)) < 0)
		return vg_err_set(err, -r, "sign_failed", "posture.report", "cannot sign with the host key of %s",
				  state_dir);
	sig_b64 = vg_b64_encode(sig, siglen, false);
	if (!sig_b64 || vg_key_id(st.hostkey, kid) < 0)
		return vg_err_set(err, ENOMEM, "no_memory", "posture.report", "cannot encode the signature");
	*out = json_pack("{s:s, s:s, s:s, s:s, s:s}", "format", "vigil-posture-report/2", "report", text, "signature",
			 sig_b64, "alg", vg_key_alg(st.hostkey), "key_id", kid);
	return *out ? 0 : vg_err_set(err, ENOMEM, "no_memory", "posture.report", "cannot build the reply");
}

static int posture_ctl(struct vg_daemon *d, const struct vg_peer *peer, const char *cmd, json_t *req,
		       json_t **reply, struct vg_err *err)
{
	bool want_refresh = json_is_true(json_object_get(req, "refresh"));
	const char *nonce = NULL;
	json_t *rep, *jn;
	char when[32];
	int r;

	if (strcmp(cmd, "posture") && strcmp(cmd, "posture.report"))
		return -ENOENT;
	jn = json_object_get(req, "nonce");
	if (jn && (!json_is_string(jn) || !nonce_valid(json_string_value(jn))))
		return vg_err_set(err, EINVAL, "bad_request", "$.nonce",
				  "nonce must be 1-%d characters of A-Z a-z 0-9 . _ : - + / =", NONCE_MAX);
	nonce = json_string_value(jn);
	/* collecting reads all of /proc: anyone may ask, administrators may insist */
	if (want_refresh && !peer->admin && st.collected &&
	    vg_now_ms_monotonic() - st.collected_ms < UNPRIVILEGED_REFRESH_MS)
		want_refresh = false;
	vg_posture_verdict(d, want_refresh, &rep);
	if (!rep)
		return vg_err_set(err, ENOMEM, "no_memory", cmd, "cannot build the posture report");
	json_object_set_new(rep, "refreshed", json_boolean(want_refresh));
	if (!strcmp(cmd, "posture")) {
		*reply = rep;
		return 0;
	}
	vg_time_format(vg_now(), when);
	json_object_set_new(rep, "generated_at", json_string(when));
	json_object_set_new(rep, "nonce", nonce ? json_string(nonce) : json_null());
	r = sign_report(d, rep, reply, err);
	json_decref(rep);
	return r;
}

static void posture_status(struct vg_daemon *d, json_t *status)
{
	struct vg_posture_verdict v;
	json_t *checks = json_object();
	char when[32];

	vg_posture_evaluate(&st.p, current_req(d), vg_now(), &v);
	for (int id = 0; id < VG_CHECK__COUNT; id++)
		json_object_set_new(checks, vg_posture_check_name((enum vg_posture_check_id)id),
				    json_string(vg_posture_result_name(st.p.check[id].result)));
	vg_time_format(st.p.check[0].observed_at, when);
	json_object_set_new(status, "verdict", json_string(!st.collected ? "pending" : v.pass ? "pass" : "fail"));
	json_object_set_new(status, "stale", json_boolean(v.stale));
	json_object_set_new(status, "reasons", json_integer((json_int_t)v.nreasons));
	json_object_set_new(status, "collected_at", st.collected ? json_string(when) : json_null());
	json_object_set_new(status, "root", json_string(vg_daemon_config(d)->posture_root));
	json_object_set_new(status, "checks", checks);
}

static void posture_shutdown(struct vg_daemon *d)
{
	if (st.timer)
		vg_loop_cancel_timer(d, st.timer);
	vg_posture_clear(&st.p);
	json_decref(st.last);
	EVP_PKEY_free(st.hostkey);
	memset(&st, 0, sizeof(st));
}

const struct vg_module vg_module_posture = {
	.name = "posture",
	.init = posture_init,
	.commit = posture_commit,
	.ctl = posture_ctl,
	.status = posture_status,
	.shutdown = posture_shutdown,
};
