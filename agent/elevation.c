/* SPDX-License-Identifier: Apache-2.0 */
/* Elevation module of vigild (agent/elevation.h, docs/pam.md). */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "elevation.h"
#include "elevation_key.h"
#include "identity.h"
#include "posture.h"
#include "statefile.h"
#include "vigil/assertion.h"
#include "vigil/elevation.h"
#include "vigil/util.h"
#include "vigil/webauthn.h"

#define COUNTERS_FILE_MAX (1u << 20)
#define SPOOL_FILE_MAX (8u << 20)

static struct {
	struct vg_challenge_store chal;
	struct vg_grant_set grants;
	struct vg_approval_store approvals;
	struct vg_hold_store holds; /* grants between commit and confirm */
	int hold_timer;
	struct vg_fail_limiter fails;
	json_t *counters; /* {"<credential id b64url>": last sign count} */
	bool counters_rebuilt; /* what the file lacks was read from the audit log */
	uint64_t counters_from; /* the audit seq to read from until then */
	int counters_timer;	/* counters changed, not yet written */
	int timer;
	int spool_fd; /* inotify on the break-glass spool's directory, or -1 */
	char frozen[300]; /* why no new grant is minted now (docs/emergency.md "freeze"); "" = not frozen */
} st;

static void state_path(struct vg_daemon *d, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", vg_daemon_config(d)->state_dir, name);
}

static uint64_t publish_grants(struct vg_daemon *d)
{
	return vg_identity_set_grants(d, st.grants.g, st.grants.n);
}

/* A state file's new text, written by the state file writer (agent/statefile.h). */
struct text_version {
	char path[512];
	char *text;
};

static int text_write(void *arg, struct vg_err *err)
{
	struct text_version *t = arg;
	int r = vg_write_file_atomic(t->path, t->text, strlen(t->text), 0600);

	return r < 0 ? vg_err_set(err, -r, "state_unwritable", t->path, "cannot write %s: %s", t->path, strerror(-r))
		     : 0;
}

static void text_done(struct vg_daemon *d, void *arg, int r, const struct vg_err *err)
{
	struct text_version *t = arg;

	if (r < 0 && r != -ECANCELED)
		vg_log(LOG_ERR, "elevation: %s", err->msg);
	free(t->text);
	free(t);
}

/* txt is taken; 0 when it could not be handed over (logged) */
static uint64_t put_text(struct vg_daemon *d, enum vg_sf_file f, const char *name, char *txt)
{
	struct text_version *t = txt ? calloc(1, sizeof(*t)) : NULL;

	if (!t) {
		vg_log(LOG_ERR, "elevation: out of memory: %s not written", name);
		free(txt);
		return 0;
	}
	state_path(d, name, t->path, sizeof(t->path));
	t->text = txt;
	return vg_sf_put(d, f, &(const struct vg_sf_job){ text_write, text_done, t });
}

static uint64_t save_grants(struct vg_daemon *d)
{
	return put_text(d, VG_SF_GRANTS, "grants.json", vg_grants_serialize(&st.grants));
}

/* every step_up_satisfied record so far is counted (emitted with its counter update) */
static char *counters_text(struct vg_daemon *d)
{
	json_t *o = json_pack("{s:O, s:I}", "counters", st.counters, "through_seq",
			      (json_int_t)vg_audit_next_seq(d));
	char *txt = o ? json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;

	json_decref(o);
	return txt;
}

/* sign_counters.json goes to the writer: its fsyncs would hold the loop, and every answer due
 * meanwhile */
static void save_counters(struct vg_daemon *d)
{
	put_text(d, VG_SF_COUNTERS, "sign_counters.json", counters_text(d));
}

/* at start, before any assertion is answered without waiting for it */
static int save_counters_now(struct vg_daemon *d, const char *path)
{
	_cleanup_free_ char *txt = counters_text(d);

	return txt ? vg_write_file_atomic(path, txt, strlen(txt), 0600) : -ENOMEM;
}

/* Sign counters (docs/pam.md "Sign counters"): a step-up is answered once its step_up_satisfied
 * record, which carries the credential and its new counter, is durable; sign_counters.json is
 * written once the step-up is over (with grants.json after its confirm), or COUNTERS_WRITE_MS
 * after the answer when no grant follows, with the audit seq it is complete to: its flushes never
 * share the disk with the records a step-up waits for. What a crash kept out of it is read back
 * from the log before the next assertion is checked. */
#define COUNTERS_WRITE_MS 1000

static void on_counters_timer(struct vg_daemon *d, void *arg)
{
	st.counters_timer = 0;
	save_counters(d);
}

static void counters_after_answer(struct vg_daemon *d)
{
	if (!st.counters_timer &&
	    (st.counters_timer = vg_loop_add_timer(d, COUNTERS_WRITE_MS, on_counters_timer, NULL)) < 0) {
		st.counters_timer = 0;
		save_counters(d);
	}
}

/* the step-up is over: the counters it changed are written now */
static void counters_flush(struct vg_daemon *d)
{
	if (st.counters_timer <= 0)
		return;
	vg_loop_cancel_timer(d, st.counters_timer);
	st.counters_timer = 0;
	save_counters(d);
}

static void rebuild_counter(const char *type, json_t *data, void *arg)
{
	const char *cred = json_string_value(json_object_get(data, "credential"));
	json_t *n = json_object_get(data, "sign_count");
	bool *changed = arg;

	/* step_up_failed: a verified assertion refused afterwards (audit_failed_counted) */
	if ((strcmp(type, "step_up_satisfied") != 0 && strcmp(type, "step_up_failed") != 0) || !cred ||
	    !json_is_integer(n) || json_integer_value(n) < 0 ||
	    json_integer_value(n) > UINT32_MAX ||
	    json_integer_value(n) <= json_integer_value(json_object_get(st.counters, cred)))
		return;
	json_object_set_new(st.counters, cred, json_integer(json_integer_value(n)));
	*changed = true;
}

/* Before a counter is compared: the counters the file lacks, from the audit log (once). A log
 * that cannot be read refuses the step-up: a lower counter would let a cloned key pass. */
static int counters_ready(struct vg_daemon *d, struct vg_err *err)
{
	bool changed = false;
	char why[sizeof(err->msg)];
	int r;

	if (st.counters_rebuilt)
		return 0;
	if ((r = vg_audit_replay(d, st.counters_from, rebuild_counter, &changed, err)) < 0) {
		snprintf(why, sizeof(why), "%s", err->msg);
		vg_log(LOG_ERR, "elevation: sign counters cannot be read back from the audit log: %s", why);
		return vg_err_set(err, -r, "counters_unavailable", "elevation.assert",
				  "the sign counters cannot be read back from the audit log (%s); step-up refused "
				  "(docs/pam.md \"Sign counters\")",
				  why);
	}
	st.counters_rebuilt = true;
	if (changed)
		save_counters(d);
	return 0;
}

static json_t *grant_event(const struct vg_grant *g)
{
	return vg_grant_to_json(g);
}

static void schedule_expiry(struct vg_daemon *d);

static void expire_now(struct vg_daemon *d)
{
	struct vg_grant ex[64];
	size_t n;
	bool changed = false;

	/* bounded batches: a grant file could hold many expired grants after a long downtime */
	while ((n = vg_grants_expire(&st.grants, vg_now(), ex, VG_ARRAY_SIZE(ex))) > 0) {
		changed = true;
		for (size_t i = 0; i < n; i++)
			vg_daemon_audit(d, "elevation.expired", ex[i].user, grant_event(&ex[i]));
	}
	if (changed) {
		save_grants(d);
		publish_grants(d);
	}
}

static void on_expiry_timer(struct vg_daemon *d, void *arg)
{
	st.timer = 0;
	expire_now(d);
	schedule_expiry(d);
}

static void schedule_expiry(struct vg_daemon *d)
{
	time_t next = vg_grants_next_expiry(&st.grants), now = vg_now();
	int id;

	if (st.timer > 0)
		vg_loop_cancel_timer(d, st.timer);
	st.timer = 0;
	if (next == 0)
		return;
	id = vg_loop_add_timer(d, next > now ? (uint64_t)(next - now) * 1000u : 0, on_expiry_timer, NULL);
	if (id > 0)
		st.timer = id;
}

static int add_grant(struct vg_daemon *d, struct vg_grant *g)
{
	int r = vg_grants_put(&st.grants, g);

	if (r < 0)
		return r;
	save_grants(d);
	publish_grants(d);
	schedule_expiry(d);
	return 0;
}

/* A confirmed step-up grant is answered at once; grants.json, the NSS membership and the sign
 * counters are handed to the state file writer: its elevation.granted record is durable already,
 * and a crash before the files are written loses the grant (the next sudo asks for the key),
 * never adds one. Revokes are answered once their files are written. */
static int confirm_grant(struct vg_daemon *d, struct vg_grant *g)
{
	int r = vg_grants_put(&st.grants, g);

	if (r < 0)
		return r;
	schedule_expiry(d);
	publish_grants(d);
	save_grants(d);
	counters_flush(d);
	return 0;
}

/* The break-glass uses in WORK: audited, a grant for what is left of each duration; the file
 * is removed once all are recorded (a crash before that ingests them again: at least once). */
static int ingest_file(struct vg_daemon *d, const char *work, size_t *count)
{
	const struct vg_config *c = vg_daemon_config(d);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, n = 0;
	int r;

	r = vg_read_file(work, SPOOL_FILE_MAX, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		vg_log(LOG_ERR, "elevation: cannot read break-glass spool %s: %s", work, strerror(-r));
		return r;
	}
	for (char *line = buf, *nl; line < buf + len; line = nl + 1) {
		struct vg_bg_use u;
		struct vg_err err;
		json_t *ev;

		nl = memchr(line, '\n', (size_t)(buf + len - line));
		if (!nl)
			nl = buf + len;
		n++;
		if (nl == line)
			continue;
		if (vg_bg_use_parse(line, (size_t)(nl - line), &u, &err) < 0) {
			vg_log(LOG_CRIT, "elevation: break-glass spool line %zu is unreadable: %s", n, err.msg);
			vg_daemon_audit(d, "breakglass.spool_invalid", NULL,
					json_pack("{s:s, s:I, s:s}", "spool", c->breakglass_spool, "line", (json_int_t)n,
						  "error", err.msg));
			continue;
		}
		vg_log(LOG_CRIT, "elevation: BREAK-GLASS credential %s was used for %s via %s (tty %s)", u.id, u.user,
		       u.service, u.tty);
		{
			char at[32];

			vg_time_format(u.at, at);
			ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:b}", "breakglass_id", u.id, "user",
				       u.user, "service", u.service, "tty", u.tty, "rhost", u.rhost, "ruser", u.ruser,
				       "used_at", at, "duration", (int)u.duration_s, "used_under_policy",
				       u.policy_digest, "vigild_was_down", 1);
		}
		vg_daemon_audit(d, "breakglass.used", u.user, ev);
		if (u.at + (time_t)u.duration_s > vg_now()) {
			struct vg_grant g = { 0 };

			snprintf(g.user, sizeof(g.user), "%s", u.user);
			snprintf(g.service, sizeof(g.service), "%s", u.service);
			snprintf(g.reason, sizeof(g.reason), "break-glass");
			snprintf(g.granted_by, sizeof(g.granted_by), "break-glass:%.50s", u.id);
			g.started = u.at;
			g.expires = u.at + (time_t)u.duration_s;
			if (add_grant(d, &g) == 0)
				vg_daemon_audit(d, "elevation.granted", g.user, grant_event(&g));
		}
		(*count)++;
	}
	unlink(work);
	return 0;
}

/* Break-glass uses spooled by pam_vigil.so while vigild was unreachable. Renamed first so a
 * use spooled during ingestion lands in a fresh file and is not lost; a file an interrupted
 * ingestion left goes first, since renaming over it would lose its uses. */
static int ingest_spool(struct vg_daemon *d, size_t *count)
{
	const struct vg_config *c = vg_daemon_config(d);
	char work[300];
	int r;

	*count = 0;
	if (!c->breakglass_spool[0])
		return 0;
	snprintf(work, sizeof(work), "%s.ingesting", c->breakglass_spool);
	if ((r = ingest_file(d, work, count)) < 0)
		return r;
	if (rename(c->breakglass_spool, work) < 0)
		return errno == ENOENT ? 0 : -errno;
	return ingest_file(d, work, count);
}

/* A use spooled while vigild runs (pam_vigil found the socket unreachable: a vigild restarting
 * or stopped, a socket removed) is ingested and audited at once, not at the next start. */
static void on_spool_event(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	const char *base = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool hit = false;
	ssize_t n;
	size_t nbg;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			hit |= (ev->mask & IN_Q_OVERFLOW) || (ev->len && strcmp(ev->name, base) == 0);
			p += sizeof(*ev) + ev->len;
		}
	}
	if (hit && ingest_spool(d, &nbg) == 0 && nbg)
		vg_log(LOG_NOTICE, "elevation: %zu break-glass use(s) spooled while vigild ran ingested", nbg);
}

static void watch_spool(struct vg_daemon *d)
{
	const char *spool = vg_daemon_config(d)->breakglass_spool;
	static char dir[256], base[256];
	const char *slash = strrchr(spool, '/');

	if (!spool[0] || !slash || (size_t)(slash - spool) >= sizeof(dir))
		return;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash == spool ? 1 : slash - spool), spool);
	snprintf(base, sizeof(base), "%s", slash + 1);
	st.spool_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (st.spool_fd < 0 || inotify_add_watch(st.spool_fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO) < 0 ||
	    vg_loop_add_fd(d, st.spool_fd, EPOLLIN, on_spool_event, base) < 0) {
		vg_log(LOG_WARNING, "elevation: cannot watch %s (%s): break-glass uses are ingested at the next start",
		       dir, strerror(errno));
		if (st.spool_fd >= 0)
			close(st.spool_fd);
		st.spool_fd = -1;
	}
}

static int elev_init(struct vg_daemon *d, struct vg_err *err)
{
	char path[512];
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, nbg;
	int r;

	memset(&st, 0, sizeof(st));
	st.spool_fd = -1;
	state_path(d, "grants.json", path, sizeof(path));
	/* state vigild trusts: root's, not writable by others (a planted grants file elevates) */
	r = vg_read_trusted(path, VG_GRANTS_FILE_MAX, &buf, &len, err);
	if (r == 0) {
		r = vg_grants_parse(buf, len, &st.grants, err);
		if (r < 0) {
			snprintf(err->path, sizeof(err->path), "%.255s", path);
			return r;
		}
	} else if (r != -ENOENT) {
		return r;
	}
	free(buf);
	buf = NULL;
	state_path(d, "sign_counters.json", path, sizeof(path));
	/* a lowered counter would let a cloned key pass: the same trust as the grants */
	r = vg_read_trusted(path, COUNTERS_FILE_MAX, &buf, &len, err);
	if (r == 0) {
		r = vg_counters_parse(buf, len, &st.counters, &st.counters_from, err);
		if (r < 0) {
			snprintf(err->path, sizeof(err->path), "%.255s", path);
			return r;
		}
		/* a file without through_seq was made durable before its answers: complete; it gets
		 * one now, before any assertion is answered without waiting for it */
		if (st.counters_from == VG_COUNTERS_NO_SEQ && (r = save_counters_now(d, path)) < 0)
			return vg_err_set(err, -r, "counters_unwritable", path, "cannot rewrite %s: %s", path,
					  strerror(-r));
		st.counters_rebuilt = st.counters_from == VG_COUNTERS_NO_SEQ;
	} else if (r == -ENOENT) {
		/* none yet, or lost: every counter the log holds */
		st.counters = json_object();
		st.counters_from = 0;
	} else {
		return r;
	}
	if (!st.counters)
		return vg_err_set(err, ENOMEM, "out_of_memory", path, "out of memory");
	vg_err_clear(err);
	/* now when the log is open; otherwise before the first assertion */
	counters_ready(d, err);
	vg_err_clear(err);
	/* grants that ran out while vigild was down expire now, audited */
	expire_now(d);
	watch_spool(d);
	ingest_spool(d, &nbg);
	schedule_expiry(d);
	/* without the worker, key operations are refused (key_unavailable); nothing else depends on it */
	if (vg_key_start(d, err) < 0)
		vg_log(LOG_ERR, "elevation: the local security key cannot be used: %s", err->msg);
	vg_err_clear(err);
	return 0;
}

static int elev_prepare(struct vg_daemon *d, const struct vg_bundle *b, void **staged, struct vg_err *err)
{
	const struct vg_elevation *e = &b->elevation;
	char *bg;

	if (e->present && e->reason_pattern) {
		regex_t re;

		if (regcomp(&re, e->reason_pattern, REG_EXTENDED | REG_NOSUB) != 0)
			return vg_err_set(err, EINVAL, "reason_pattern_invalid", "$.elevation.reason_pattern",
					  "\"%s\" is not a valid POSIX extended regular expression", e->reason_pattern);
		regfree(&re);
	}
	bg = vg_breakglass_export(e, b->digest);
	if (!bg)
		return vg_err_set(err, ENOMEM, "out_of_memory", "$.elevation.break_glass", "out of memory");
	*staged = bg;
	return 0;
}

static void elev_abort(struct vg_daemon *d, void *staged)
{
	free(staged);
}

static bool user_revoked_by(const struct vg_bundle *b, const char *name)
{
	const struct vg_user *u = vg_bundle_user_by_name(b, name);

	if (u && u->state == VG_USER_DEPROVISIONED)
		return true;
	/* break-glass grants are for accounts outside the normal allow list */
	return !vg_elev_user_allowed(b, name);
}

static void elev_commit(struct vg_daemon *d, const struct vg_bundle *b, void *staged)
{
	char path[512];
	char *bg = staged;
	bool changed = false;
	int r;

	state_path(d, "breakglass.json", path, sizeof(path));
	/* root-only: the hashes are offline-attackable */
	r = vg_write_file_atomic(path, bg, strlen(bg), 0600);
	if (r < 0)
		vg_log(LOG_ERR, "elevation: cannot export break-glass entries to %s: %s", path, strerror(-r));
	free(bg);
	/* a user the new policy deprovisions or no longer allows loses a step-up grant at once */
	for (size_t i = 0; i < st.grants.n;) {
		struct vg_grant g = st.grants.g[i];

		if (strncmp(g.granted_by, "step-up:", 8) != 0 || !user_revoked_by(b, g.user)) {
			i++;
			continue;
		}
		vg_grants_remove_user(&st.grants, g.user, NULL);
		changed = true;
		vg_daemon_audit(d, "elevation.revoked", g.user,
				json_pack("{s:o, s:s}", "grant", grant_event(&g), "by", "policy"));
	}
	if (changed) {
		save_grants(d);
		schedule_expiry(d);
	}
	publish_grants(d);
	/* what the policy revoked is on disk before the bundle is in force */
	if (changed)
		vg_sf_drain(d);
}

void vg_elevation_freeze(struct vg_daemon *d, const char *why)
{
	snprintf(st.frozen, sizeof(st.frozen), "%s", why ? why : "");
}

/* The one check of a freeze: no challenge is issued and no approval becomes a grant. */
static int refuse_if_frozen(const char *where, struct vg_err *err)
{
	if (!st.frozen[0])
		return 0;
	return vg_err_set(err, EPERM, "elevation_frozen", where,
			  "elevation is frozen by an emergency document (%s): no new grant until it is released or "
			  "expires; break-glass still works",
			  st.frozen);
}

/* --- ctl --- */

static const char *req_str(json_t *req, const char *key)
{
	const char *s = json_string_value(json_object_get(req, key));

	return s ? s : "";
}

/* Who is asking: real uid and audit session of the connected PAM process, read from /proc (the
 * request cannot choose them), and the PAM items it reports. Unreadable: unknown, never reused. */
static void requester_of(const struct vg_peer *peer, json_t *req, struct vg_requester *rq)
{
	char path[64], *p;
	_cleanup_free_ char *status = NULL, *sid = NULL;
	size_t len = 0;
	unsigned long v;

	memset(rq, 0, sizeof(*rq));
	rq->uid = VG_UID_NONE;
	rq->session = VG_SESSION_NONE;
	snprintf(rq->tty, sizeof(rq->tty), "%s", req_str(req, "tty"));
	snprintf(rq->rhost, sizeof(rq->rhost), "%s", req_str(req, "rhost"));
	snprintf(rq->ruser, sizeof(rq->ruser), "%s", req_str(req, "ruser"));
	snprintf(path, sizeof(path), "/proc/%d/status", (int)peer->pid);
	if (peer->pid > 0 && vg_read_file(path, 1u << 16, &status, &len) == 0 && (p = strstr(status, "\nUid:")) &&
	    sscanf(p + 5, "%lu", &v) == 1 && v < VG_UID_NONE)
		rq->uid = (uint32_t)v;
	snprintf(path, sizeof(path), "/proc/%d/sessionid", (int)peer->pid);
	if (peer->pid > 0 && vg_read_file(path, 64, &sid, &len) == 0 && sscanf(sid, "%lu", &v) == 1 &&
	    v < VG_SESSION_NONE)
		rq->session = (uint32_t)v;
}

/* step_up_required and step_up_failed go through one token bucket per (user, requester uid): a
 * flood of failing attempts costs a bounded number of records, each saying how many it stands for. */
static void audit_limited(struct vg_daemon *d, const char *type, const char *user, uint32_t uid, json_t *o)
{
	uint64_t suppressed;

	if (!vg_fail_limit(&st.fails, user, uid, vg_now(), &suppressed)) {
		json_decref(o);
		return;
	}
	if (o && suppressed)
		json_object_set_new(o, "suppressed_before", json_integer((json_int_t)suppressed));
	if (o && uid != VG_UID_NONE)
		json_object_set_new(o, "requester_uid", json_integer(uid));
	vg_daemon_audit(d, type, user, o);
}

static json_t *failed_event(const struct vg_requester *rq, const char *user, const char *service, const char *reason,
			    const char *detail, json_t *extra)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", user, "service", service, "tty", rq->tty, "reason",
			      reason, "detail", detail ? detail : "");

	if (o && extra)
		json_object_set(o, "posture", extra);
	return o;
}

static void audit_failed(struct vg_daemon *d, const struct vg_requester *rq, const char *user, const char *service,
			 const char *reason, const char *detail, json_t *extra)
{
	audit_limited(d, "step_up_failed", user, rq->uid, failed_event(rq, user, service, reason, detail, extra));
}

/* A verified assertion refused afterwards (posture, audit degraded) advanced its credential's
 * counter: its step_up_failed record carries credential and sign_count as step_up_satisfied does
 * and is never rate-limited (each one took a touch), so the answer waits for it and the log
 * replay finds it ("Sign counters"). */
static void audit_failed_counted(struct vg_daemon *d, const struct vg_requester *rq, const char *user,
				 const char *service, const char *reason, const char *detail, json_t *extra,
				 const struct vg_credential *cred, uint32_t sign_count)
{
	json_t *o = failed_event(rq, user, service, reason, detail, extra);

	if (o) {
		json_object_set_new(o, "credential", json_string(cred->id_b64));
		json_object_set_new(o, "sign_count", json_integer(sign_count));
		if (rq->uid != VG_UID_NONE)
			json_object_set_new(o, "requester_uid", json_integer(rq->uid));
	}
	vg_daemon_audit(d, "step_up_failed", user, o);
}

static const struct vg_bundle *need_bundle(struct vg_daemon *d, struct vg_err *err)
{
	const struct vg_bundle *b = vg_daemon_bundle(d);

	if (!b)
		vg_err_set(err, ENODATA, "no_policy", "elevation",
			   "no policy bundle is applied on this host; push one with vigilctl policy push");
	return b;
}

/* elevation.check {user, service, tty, rhost, ruser, use_grant}: what the PAM module must do. */
static int cmd_check(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, json_t **reply,
		     struct vg_err *err)
{
	const struct vg_bundle *b = need_bundle(d, err);
	const char *user = req_str(req, "user"), *service = req_str(req, "service");
	const struct vg_grant *g;
	const struct vg_user *u;
	struct vg_requester rq;
	bool concerned, touch;

	if (!b)
		return -ENODATA;
	requester_of(peer, req, &rq);
	concerned = vg_elev_service_protected(b, service) && vg_elev_user_allowed(b, user);
	u = vg_bundle_user_by_name(b, user);
	g = concerned ? vg_grants_find_usable(&st.grants, user, service, &rq, b->elevation.grant_reach, vg_now())
		      : NULL;
	touch = !g || b->elevation.touch_within_grant;
	if (concerned && !touch && json_is_true(json_object_get(req, "use_grant")))
		vg_daemon_audit(d, "step_up_satisfied", user,
				json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "user", user, "service", service, "tty",
					  rq.tty, "method", "grant", "grant_id", (json_int_t)g->id, "requester_uid",
					  (json_int_t)rq.uid));
	*reply = json_pack("{s:b, s:s, s:b, s:b, s:s?, s:b}", "concerned", concerned, "state",
			   !u ? "unknown" : u->state == VG_USER_DEPROVISIONED ? "deprovisioned" : "active",
			   "touch_needed", touch, "need_reason", b->elevation.require_reason, "reason_pattern",
			   b->elevation.reason_pattern, "frozen", st.frozen[0] != 0);
	if (*reply && g)
		json_object_set_new(*reply, "grant", vg_grant_to_json(g));
	return *reply ? 0 : -ENOMEM;
}

/* elevation.challenge {user, service, tty, reason} */
static int cmd_challenge(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, json_t **reply,
			 struct vg_err *err)
{
	const struct vg_bundle *b = need_bundle(d, err);
	const char *user = req_str(req, "user"), *service = req_str(req, "service"), *tty = req_str(req, "tty");
	const char *reason = req_str(req, "reason");
	const struct vg_user *u;
	struct vg_requester rq;
	struct vg_challenge ch;
	json_t *creds;
	_cleanup_free_ char *cdh = NULL;
	char exp[32];
	int r;

	if (!b)
		return -ENODATA;
	requester_of(peer, req, &rq);
	if (!vg_elev_service_protected(b, service) || !vg_elev_user_allowed(b, user))
		return vg_err_set(err, EPERM, "not_concerned", "elevation.challenge",
				  "the policy does not offer elevation to %s through %s", user, service);
	if ((r = refuse_if_frozen("elevation.challenge", err)) < 0) {
		audit_failed(d, &rq, user, service, err->code, err->msg, NULL);
		return r;
	}
	u = vg_bundle_user_by_name(b, user);
	if (!u || u->state != VG_USER_ACTIVE) {
		audit_failed(d, &rq, user, service, "user_not_active", NULL, NULL);
		return vg_err_set(err, EPERM, "user_not_active", "elevation.challenge",
				  "%s is %s in the policy; elevation refused", user, u ? "deprovisioned" : "unknown");
	}
	if ((r = vg_elev_check_reason(&b->elevation, reason, err)) < 0) {
		audit_failed(d, &rq, user, service, err->code, err->msg, NULL);
		return r;
	}
	if (u->ncreds == 0) {
		audit_failed(d, &rq, user, service, "no_credential", NULL, NULL);
		return vg_err_set(err, EPERM, "no_credential", "elevation.challenge",
				  "%s has no enrolled security key in the policy (vigilctl enroll)", user);
	}
	if ((r = vg_challenge_new(&ch, user, vg_daemon_hostname(d), service, tty, reason, vg_now(),
				  VG_CHALLENGE_TTL_S, err)) < 0)
		return r;
	ch.requester_uid = rq.uid;
	if ((r = vg_challenge_store_add(&st.chal, &ch, vg_now(), err)) < 0) {
		audit_failed(d, &rq, user, service, err->code, err->msg, NULL);
		return r;
	}
	creds = json_array();
	for (size_t i = 0; creds && i < u->ncreds; i++)
		json_array_append_new(creds, json_string(u->creds[i].id_b64));
	cdh = vg_b64_encode(ch.client_data_hash, sizeof(ch.client_data_hash), true);
	vg_time_format(ch.expires, exp);
	audit_limited(d, "step_up_required", user, rq.uid,
		      json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", user, "service", service, "tty", tty, "reason",
				reason, "trace_id", ch.id));
	*reply = json_pack("{s:s, s:s?, s:s?, s:b, s:o, s:s}", "challenge_id", ch.id, "client_data_hash", cdh,
			   "rp_id", b->elevation.rp_id, "uv_required", b->elevation.require_uv,
			   "credentials", creds, "expires", exp);
	/* a challenge authorises nothing: its record is flushed while the key is touched, and the
	 * assert's answer waits for it with its own (docs/pam.md "Step-up") */
	if (*reply)
		vg_ctl_answer_before_durable(d);
	return *reply ? 0 : -ENOMEM;
}

static const struct vg_credential *find_cred(const struct vg_user *u, const char *id_b64)
{
	_cleanup_free_ uint8_t *id = NULL;
	size_t len = 0;

	if (vg_b64_decode(id_b64, &id, &len) < 0)
		return NULL;
	for (size_t i = 0; i < u->ncreds; i++)
		if (u->creds[i].id_len == len && memcmp(u->creds[i].id, id, len) == 0)
			return &u->creds[i];
	return NULL;
}

static int decode_field(json_t *req, const char *key, size_t max, uint8_t **out, size_t *len,
			struct vg_err *err)
{
	const char *s = json_string_value(json_object_get(req, key));

	if (!s || strlen(s) > max * 4 / 3 + 4 || vg_b64_decode(s, out, len) < 0)
		return vg_err_set(err, EINVAL, "assertion_malformed", key, "\"%s\" must be base64 of at most %zu bytes",
				  key, max);
	return 0;
}

/* What the key signed besides authData: the challenge's client data hash (CTAP2, local key), or
 * for a browser (WebAuthn, relay mode) the hash of a clientDataJSON whose challenge is that hash. */
static int signed_hash(const struct vg_bundle *b, json_t *req, const struct vg_challenge *ch, uint8_t hash[32],
		       struct vg_err *err)
{
	_cleanup_free_ uint8_t *cdj = NULL;
	size_t len = 0;
	int r;

	if (!json_object_get(req, "client_data_json")) {
		memcpy(hash, ch->client_data_hash, 32);
		return 0;
	}
	if ((r = decode_field(req, "client_data_json", 4096, &cdj, &len, err)) < 0)
		return r;
	{
		struct vg_webauthn_expect e = {
			.type = "webauthn.get",
			.challenge = ch->client_data_hash,
			.challenge_len = sizeof(ch->client_data_hash),
			.origins = b->elevation.origins,
			.norigins = b->elevation.norigins,
		};

		if ((r = vg_webauthn_check_client_data((const char *)cdj, len, &e, err)) < 0)
			return r;
	}
	vg_sha256(cdj, len, hash);
	return 0;
}

/* Map a verification error to the step_up_failed reason named in docs/pam.md. */
static const char *fail_reason(const char *code)
{
	static const struct {
		const char *code, *reason;
	} map[] = {
		{ "counter_not_increased", "clone" },
		{ "user_not_verified", "uv_missing" },
		{ "user_not_present", "no_touch" },
		{ "signature_invalid", "wrong_key" },
		{ "rp_id_mismatch", "wrong_key" },
	};

	for (size_t i = 0; i < VG_ARRAY_SIZE(map); i++)
		if (strcmp(map[i].code, code) == 0)
			return map[i].reason;
	return code;
}

/* elevation.assert {challenge_id, user, service, tty, credential_id, auth_data, signature}
 * or {challenge_id, user, service, tty, client_error, detail} when the key gave nothing. */
static int cmd_assert(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, json_t **reply,
		      struct vg_err *err)
{
	const struct vg_bundle *b = need_bundle(d, err);
	const char *user = req_str(req, "user"), *service = req_str(req, "service"), *tty = req_str(req, "tty");
	const char *cred_id = req_str(req, "credential_id"), *client_error = req_str(req, "client_error");
	_cleanup_free_ uint8_t *ad = NULL, *sig = NULL;
	size_t ad_len = 0, sig_len = 0;
	const struct vg_credential *cred;
	const struct vg_user *u;
	struct vg_requester rq;
	struct vg_challenge ch;
	struct vg_grant g = { 0 };
	json_t *report = NULL;
	uint32_t prev, now_ctr = 0;
	uint8_t hash[32];
	int r;

	if (!b)
		return -ENODATA;
	requester_of(peer, req, &rq);
	if ((r = vg_challenge_store_take(&st.chal, req_str(req, "challenge_id"), user, service, tty, vg_now(), &ch,
					 err)) < 0) {
		audit_failed(d, &rq, user, service, err->code, err->msg, NULL);
		return r;
	}
	if (*client_error) {
		audit_failed(d, &rq, user, service, client_error, req_str(req, "detail"), NULL);
		return vg_err_set(err, EPERM, client_error, "elevation.assert", "step-up failed on the client: %s",
				  req_str(req, "detail"));
	}
	u = vg_bundle_user_by_name(b, user);
	cred = u && u->state == VG_USER_ACTIVE && vg_elev_user_allowed(b, user) ? find_cred(u, cred_id) : NULL;
	if (!cred) {
		audit_failed(d, &rq, user, service, "wrong_key", "credential not enrolled for this user", NULL);
		return vg_err_set(err, EPERM, "wrong_key", "elevation.assert",
				  "the security key's credential is not enrolled for %s", user);
	}
	if ((r = decode_field(req, "auth_data", VG_AUTHDATA_MAX, &ad, &ad_len, err)) < 0 ||
	    (r = decode_field(req, "signature", 1024, &sig, &sig_len, err)) < 0) {
		audit_failed(d, &rq, user, service, "assertion_malformed", err->msg, NULL);
		return r;
	}
	if ((r = signed_hash(b, req, &ch, hash, err)) < 0) {
		audit_failed(d, &rq, user, service, err->code, err->msg, NULL);
		return r;
	}
	if ((r = counters_ready(d, err)) < 0) {
		audit_failed(d, &rq, user, service, err->code, err->msg, NULL);
		return r;
	}
	prev = (uint32_t)json_integer_value(json_object_get(st.counters, cred->id_b64));
	r = vg_assertion_verify(cred, b->elevation.rp_id ? b->elevation.rp_id : "", hash, ad, ad_len, sig, sig_len,
				b->elevation.require_uv, prev, &now_ctr, err);
	if (r < 0) {
		const char *why = fail_reason(err->code);

		if (strcmp(why, "clone") == 0)
			vg_log(LOG_CRIT, "elevation: possible CLONED security key for %s (credential %s): counter %u",
			       user, cred->id_b64, prev);
		audit_failed(d, &rq, user, service, why, err->msg, NULL);
		snprintf(err->code, sizeof(err->code), "%s", why);
		return r;
	}
	/* the next assertion compares with the new counter at once; the step_up_satisfied record
	 * below carries it to disk before the answer, the counters file follows */
	json_object_set_new(st.counters, cred->id_b64, json_integer(now_ctr));
	/* the cached verdict counts only while fresh (the posture module fails stale results);
	 * a failing one is collected anew once, so a host fixed a moment ago is not refused */
	if ((r = vg_posture_verdict(d, false, NULL)) < 0)
		r = vg_posture_verdict(d, true, &report);
	if (r < 0) {
		const char *why = json_is_true(json_object_get(report, "stale")) ? "posture_stale" : "posture_failed";

		save_counters(d);
		audit_failed_counted(d, &rq, user, service, why, "device posture does not pass", report, cred, now_ctr);
		json_decref(report);
		return vg_err_set(err, EACCES, "posture_failed", "elevation.assert",
				  "device posture does not pass the policy (vigilctl posture shows why)");
	}
	json_decref(report);
	if (vg_audit_degraded(d)) {
		save_counters(d);
		audit_failed_counted(d, &rq, user, service, "audit_degraded", NULL, NULL, cred, now_ctr);
		return vg_err_set(err, EAGAIN, "audit_degraded", "elevation.assert",
				  "the audit trail is degraded; elevation is refused until it recovers");
	}
	snprintf(g.user, sizeof(g.user), "%s", user);
	g.uid = u->uid;
	snprintf(g.service, sizeof(g.service), "%s", service);
	snprintf(g.reason, sizeof(g.reason), "%s", ch.reason);
	snprintf(g.granted_by, sizeof(g.granted_by), "step-up:%.54s", cred->id_b64);
	snprintf(g.trace_id, sizeof(g.trace_id), "%s", ch.id);
	g.by_uid = rq.uid;
	g.session = rq.session;
	snprintf(g.tty, sizeof(g.tty), "%s", rq.tty);
	snprintf(g.rhost, sizeof(g.rhost), "%s", rq.rhost);
	snprintf(g.ruser, sizeof(g.ruser), "%s", rq.ruser);
	g.started = vg_now();
	g.expires = g.started + (time_t)vg_elev_grant_duration(&b->elevation);
	/* this step of the stack passed; the grant exists only once the whole stack has (commit) */
	vg_approval_put(&st.approvals, &g, vg_elev_grant_duration(&b->elevation), vg_now(), VG_CHALLENGE_TTL_S);
	vg_daemon_audit(d, "step_up_satisfied", user,
			json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "user", user, "service", service, "tty",
				  rq.tty, "method", "security_key", "credential", cred->id_b64, "trace_id", ch.id,
				  "sign_count", (json_int_t)now_ctr, "requester_uid", (json_int_t)rq.uid));
	counters_after_answer(d);
	*reply = json_pack("{s:o, s:b}", "grant", vg_grant_to_json(&g), "pending", 1);
	return *reply ? 0 : -ENOMEM;
}

/* --- commit: approval -> durable record -> module told -> module confirms -> grant (docs/pam.md "Commit") --- */

static void abort_hold(struct vg_daemon *d, const struct vg_hold *h, const char *why, json_t *by)
{
	json_t *ev = json_pack("{s:o, s:s}", "grant", grant_event(&h->g), "reason", why);

	if (ev && by)
		json_object_update(ev, by);
	vg_log(LOG_NOTICE, "elevation: grant %llu of %s via %s not made: %s", (unsigned long long)h->g.id, h->g.user,
	       h->g.service, why);
	vg_daemon_audit(d, "elevation.aborted", h->g.user, ev);
}

static void schedule_holds(struct vg_daemon *d);

/* A module that was answered but never confirmed gave up waiting (or died): its user was told
 * there is no grant, so there is none. */
static void on_hold_timer(struct vg_daemon *d, void *arg)
{
	struct vg_hold h;

	st.hold_timer = 0;
	while (vg_hold_expire_one(&st.holds, vg_now_ms_monotonic(), &h) == 0)
		abort_hold(d, &h, "not_confirmed", NULL);
	schedule_holds(d);
}

static void schedule_holds(struct vg_daemon *d)
{
	uint64_t next = vg_hold_next_expiry(&st.holds), now = vg_now_ms_monotonic();

	if (st.hold_timer > 0)
		vg_loop_cancel_timer(d, st.hold_timer);
	st.hold_timer = 0;
	if (next == 0)
		return;
	st.hold_timer = vg_loop_add_timer(d, next > now ? next - now : 0, on_hold_timer, NULL);
	if (st.hold_timer < 0)
		st.hold_timer = 0;
}

/* The grant's record is durable (r = 0) or refused by the disk (r < 0): the answer the module
 * gets. The hold may be gone already (revoked while it was recorded). */
static int commit_answer(struct vg_daemon *d, const char *token, int r, json_t **reply, struct vg_err *err)
{
	const struct vg_hold *h;

	if (r < 0) {
		vg_hold_remove(&st.holds, token, NULL);
		return vg_err_set(err, -r, "audit_degraded", "elevation.commit",
				  "the grant's audit record could not be made durable (%s); no grant was made",
				  strerror(-r));
	}
	if (!(h = vg_hold_mark_durable(&st.holds, token, vg_now_ms_monotonic(), VG_HOLD_CONFIRM_MS)))
		return vg_err_set(err, ECANCELED, "grant_revoked", "elevation.commit",
				  "the grant was revoked while it was being recorded; no grant was made");
	*reply = json_pack("{s:o, s:s}", "grant", vg_grant_to_json(&h->g), "confirm", token);
	schedule_holds(d);
	return *reply ? 0 : -ENOMEM;
}

/* a commit whose grant's record is on its way to the disk */
struct pending_commit {
	struct vg_client *c;
	char token[33];
	int r;
	bool delayed;
};

static void commit_durable(struct vg_daemon *d, int r, void *arg);

#if VIGIL_TEST_HOOKS
static void commit_delayed(struct vg_daemon *d, void *arg)
{
	struct pending_commit *p = arg;

	commit_durable(d, p->r, p);
}

/* tests stand in for a disk or a vigild slower than the module's patience */
static bool commit_test_delay(struct vg_daemon *d, struct pending_commit *p, int r)
{
	const char *v = getenv("VIGIL_TEST_COMMIT_DELAY_MS");

	if (p->delayed || !v || !*v)
		return false;
	p->delayed = true;
	p->r = r;
	return vg_loop_add_timer(d, strtoull(v, NULL, 10), commit_delayed, p) > 0;
}
#endif

static void commit_durable(struct vg_daemon *d, int r, void *arg)
{
	struct pending_commit *p = arg;
	struct vg_err err = { 0 };
	json_t *reply = NULL;

#if VIGIL_TEST_HOOKS
	if (commit_test_delay(d, p, r))
		return;
#endif
	r = commit_answer(d, p->token, r, &reply, &err);
	vg_client_reply(d, p->c, r, reply, &err);
	free(p);
}

/* elevation.commit {user, service, tty}: pam_sm_setcred after the whole stack succeeded; the
 * approval of the same user, service and requester (uid, session, tty) is recorded as a grant
 * and answered, with a confirmation token, once elevation.granted is durable. It becomes a grant
 * only with elevation.confirm. */
static int cmd_commit(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, json_t **reply,
		      struct vg_err *err)
{
	const char *user = req_str(req, "user"), *service = req_str(req, "service");
	struct pending_commit *p;
	struct vg_requester rq;
	struct vg_approval ap;
	struct vg_grant g;
	char token[33];
	int r;

	requester_of(peer, req, &rq);
	if (vg_approval_take(&st.approvals, user, service, &rq, vg_now(), &ap) < 0)
		return vg_err_set(err, ENOENT, "no_approval", "elevation.commit",
				  "no verified step-up of %s through %s is waiting for this session", user, service);
	if ((r = refuse_if_frozen("elevation.commit", err)) < 0)
		return r;
	if (vg_audit_degraded(d))
		return vg_err_set(err, EAGAIN, "audit_degraded", "elevation.commit",
				  "the audit trail is degraded; no grant is recorded until it recovers");
	g = ap.g;
	g.id = vg_grants_reserve_id(&st.grants);
	g.started = vg_now();
	g.expires = g.started + (time_t)ap.duration_s;
	if ((r = vg_hold_add(&st.holds, &g, ap.duration_s, token, err)) < 0)
		return r;
	if ((r = vg_daemon_audit(d, "elevation.granted", user, grant_event(&g))) < 0) {
		vg_hold_remove(&st.holds, token, NULL);
		return vg_err_set(err, -r, "audit_degraded", "elevation.commit",
				  "the audit trail refused the grant's record (%s); no grant was made", strerror(-r));
	}
	if (!(p = calloc(1, sizeof(*p)))) {
		vg_hold_remove(&st.holds, token, NULL);
		return -ENOMEM;
	}
	p->c = vg_ctl_defer(d);
	memcpy(p->token, token, sizeof(token));
	if ((r = vg_audit_when_durable(d, vg_audit_next_seq(d), commit_durable, p)) == 0)
		return -EINPROGRESS;
	free(p);
	/* durable already (1), or the log is gone: decide now */
	return commit_answer(d, token, r == 1 ? 0 : r, reply, err);
}

/* elevation.confirm {user, service, tty, confirm}: the module received the commit's answer and
 * tells its user the grant exists; only now does it. */
static int cmd_confirm(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, json_t **reply,
		       struct vg_err *err)
{
	const struct vg_bundle *b = vg_daemon_bundle(d);
	struct vg_requester rq;
	struct vg_hold h;
	int r;

	requester_of(peer, req, &rq);
	r = vg_hold_take(&st.holds, req_str(req, "confirm"), req_str(req, "user"), req_str(req, "service"), &rq,
			 vg_now_ms_monotonic(), &h, err);
	if (r == -ETIMEDOUT)
		abort_hold(d, &h, "not_confirmed", NULL);
	if (r < 0)
		return r;
	schedule_holds(d);
	/* what happened since the commit: a freeze, a policy that no longer lets the user elevate */
	if ((r = refuse_if_frozen("elevation.confirm", err)) < 0) {
		abort_hold(d, &h, "frozen", NULL);
		return r;
	}
	if (!b || user_revoked_by(b, h.g.user)) {
		abort_hold(d, &h, "policy", NULL);
		return vg_err_set(err, EPERM, "policy", "elevation.confirm",
				  "no grant was made: the policy in force no longer lets %s elevate", h.g.user);
	}
	if ((r = confirm_grant(d, &h.g)) < 0) {
		abort_hold(d, &h, "grant_failed", NULL);
		return vg_err_set(err, -r, "grant_failed", "elevation.confirm", "cannot record the grant: %s",
				  strerror(-r));
	}
	*reply = json_pack("{s:o}", "grant", vg_grant_to_json(&h.g));
	return *reply ? 0 : -ENOMEM;
}

/* elevation.account {user, service, uid}: may this account use a protected service at all? */
static int cmd_account(struct vg_daemon *d, json_t *req, json_t **reply, struct vg_err *err)
{
	const struct vg_bundle *b = need_bundle(d, err);
	const char *user = req_str(req, "user"), *service = req_str(req, "service");
	json_t *juid = json_object_get(req, "uid");
	const struct vg_user *u;
	const char *verdict, *msg = "";

	if (!b)
		return -ENODATA;
	u = vg_bundle_user_by_name(b, user);
	if (!vg_elev_service_protected(b, service)) {
		verdict = "ignore";
	} else if (u && u->state == VG_USER_DEPROVISIONED) {
		verdict = "deprovisioned";
		msg = "this account is deprovisioned by the vigil policy";
	} else if (u) {
		verdict = "ok";
	} else if (!json_is_integer(juid) ||
		   (json_integer_value(juid) >= b->identity.uid_min && json_integer_value(juid) <= b->identity.uid_max)) {
		/* in the policy-managed uid range but not in the policy: a stale or foreign account */
		verdict = "unknown";
		msg = "this account is not known to the vigil policy";
	} else {
		verdict = "ignore";
	}
	if (strcmp(verdict, "deprovisioned") == 0 || strcmp(verdict, "unknown") == 0)
		vg_daemon_audit(d, "account.refused", user,
				json_pack("{s:s, s:s, s:s}", "user", user, "service", service, "reason", verdict));
	*reply = json_pack("{s:s, s:s}", "verdict", verdict, "message", msg);
	return *reply ? 0 : -ENOMEM;
}

static int cmd_grants_list(struct vg_daemon *d, json_t **reply)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < st.grants.n; i++)
		if (st.grants.g[i].expires > vg_now())
			json_array_append_new(arr, vg_grant_to_json(&st.grants.g[i]));
	*reply = json_pack("{s:o}", "grants", arr);
	return *reply ? 0 : -ENOMEM;
}

/* *ticket: the state file writer's, once grants.json and the membership are written */
static size_t revoke_grants(struct vg_daemon *d, const char *user, json_t *by, json_t *revoked, uint64_t *ticket)
{
	struct vg_grant g;
	struct vg_hold h;
	size_t n = 0;

	*ticket = 0;
	/* a grant still being committed is revoked too: it will never be made */
	while (vg_hold_remove_user(&st.holds, user, &h) == 0)
		abort_hold(d, &h, "revoked", by);
	while (st.grants.n > 0 && vg_grants_remove_user(&st.grants, user ? user : st.grants.g[0].user, &g) == 0) {
		json_t *ev = json_pack("{s:o}", "grant", grant_event(&g));

		if (ev && by)
			json_object_update(ev, by);
		vg_daemon_audit(d, "elevation.revoked", g.user, ev);
		if (revoked)
			json_array_append_new(revoked, vg_grant_to_json(&g));
		n++;
	}
	if (n) {
		uint64_t t = save_grants(d);

		*ticket = publish_grants(d);
		*ticket = *ticket > t ? *ticket : t;
		schedule_expiry(d);
	}
	return n;
}

size_t vg_elevation_revoke(struct vg_daemon *d, const char *user, json_t *by, json_t *revoked)
{
	uint64_t ticket;
	size_t n = revoke_grants(d, user, by, revoked, &ticket);

	/* an emergency's revoke is on disk before its acknowledgement */
	if (n)
		vg_sf_drain(d);
	return n;
}

/* an admin's revoke, answered once its files are written and its records durable */
struct pending_revoke {
	struct vg_client *c;
	json_t *reply;
	uint64_t end;
};

static void revoke_answer(struct vg_daemon *d, int r, void *arg)
{
	struct pending_revoke *p = arg;
	struct vg_err err = { 0 };

	if (r < 0)
		vg_err_set(&err, -r, "audit_refused", "grants.revoke",
			   "the revocation's audit records could not be made durable (%s); vigilctl audit status "
			   "shows why",
			   strerror(-r));
	vg_client_reply(d, p->c, r, r < 0 ? NULL : p->reply, &err);
	if (r < 0)
		json_decref(p->reply);
	free(p);
}

static void revoke_written(struct vg_daemon *d, void *arg)
{
	struct pending_revoke *p = arg;
	int r = vg_audit_when_durable(d, p->end, revoke_answer, p);

	if (r != 0)
		revoke_answer(d, r == 1 ? 0 : r, p);
}

static int cmd_revoke(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, json_t **reply,
		      struct vg_err *err)
{
	const char *user = req_str(req, "user");
	json_t *revoked = json_array();
	json_t *by = json_pack("{s:s, s:i}", "by", "admin", "by_uid", (int)peer->uid);
	struct pending_revoke *p;
	uint64_t ticket;
	int r;

	revoke_grants(d, user, by, revoked, &ticket);
	json_decref(by);
	if (json_array_size(revoked) == 0) {
		json_decref(revoked);
		return vg_err_set(err, ENOENT, "no_grant", "grants.revoke", "%s has no grant", user);
	}
	/* "revoked" stays the first grant for older vigilctl; "all" lists every one */
	*reply = json_pack("{s:O, s:o}", "revoked", json_array_get(revoked, 0), "all", revoked);
	if (!*reply)
		return -ENOMEM;
	/* the loop serves other requests while the files are written */
	if (!(p = calloc(1, sizeof(*p))) || (r = vg_sf_when_written(d, ticket, revoke_written, p)) != 0) {
		free(p);
		vg_sf_drain(d);
		return 0;
	}
	p->c = vg_ctl_defer(d);
	p->reply = *reply;
	p->end = vg_audit_next_seq(d);
	*reply = NULL;
	return -EINPROGRESS;
}

/* The key plugged into this host answers only its own user's requests (the requester's real uid
 * is the user's, as in sudo) and root-started logins at this host (login; not sshd from a remote
 * host, PAM_RHOST set: the relay is for that). Another
 * account's `su alice` never makes alice's key wait for a touch: the touch alice gives for her own
 * prompt would sign it. That account gets the relay, whose code names what is signed. */
static int key_serves(const struct vg_bundle *b, const char *user, const struct vg_requester *rq,
		      struct vg_err *err)
{
	const struct vg_user *u = vg_bundle_user_by_name(b, user);

	if (!u || u->state != VG_USER_ACTIVE)
		return vg_err_set(err, EPERM, "user_not_active", "security key",
				  "%s is not an active user in the policy; elevation refused", user);
	if (rq->uid != 0 && rq->uid != u->uid)
		return vg_err_set(err, EPERM, "key_not_yours", "security key",
				  "the security key here answers only %s's own requests (uid %u), not uid %u's",
				  user, (unsigned)u->uid, (unsigned)rq->uid);
	/* a remote login (sshd: uid 0 with a remote host) signs on the admin's workstation */
	if (rq->uid == 0 && rq->rhost[0])
		return vg_err_set(err, EPERM, "key_not_yours", "security key",
				  "the security key here does not answer a login from %s", rq->rhost);
	return 0;
}

/* elevation.key_probe {user, softfido}: is a security key plugged into this host that answers this
 * request (the worker looks); {"key": "not_yours"} when it would not answer it */
static int cmd_key_probe(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, json_t **reply,
			 struct vg_err *err)
{
	const struct vg_bundle *b = need_bundle(d, err);
	struct vg_requester rq;
	char test_path[512];

	if (!b)
		return -ENODATA;
	requester_of(peer, req, &rq);
	if (key_serves(b, req_str(req, "user"), &rq, err) < 0) {
		*reply = json_pack("{s:s, s:s}", "key", "not_yours", "detail", err->msg);
		vg_err_clear(err);
		return *reply ? 0 : -ENOMEM;
	}
	vg_key_test_path(peer, req_str(req, "softfido"), test_path, sizeof(test_path));
	return vg_key_probe(d, peer->pid, rq.uid, req_str(req, "user"), test_path, err);
}

/* elevation.key_assert {challenge_id, user, service, tty, pin, softfido, touch_timeout_s}: the local
 * key signs a live challenge this requester was issued; everything signed comes from the challenge */
static int cmd_key_assert(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, struct vg_err *err)
{
	const struct vg_bundle *b = need_bundle(d, err);
	const char *user = req_str(req, "user"), *service = req_str(req, "service"), *tty = req_str(req, "tty");
	const char *pin = json_string_value(json_object_get(req, "pin"));
	json_int_t touch = json_integer_value(json_object_get(req, "touch_timeout_s"));
	struct vg_key_sign sign = { 0 };
	const struct vg_user *u;
	struct vg_requester rq;
	struct vg_challenge ch;
	char test_path[512];
	int r;

	if (!b)
		return -ENODATA;
	requester_of(peer, req, &rq);
	if ((r = vg_challenge_store_use(&st.chal, req_str(req, "challenge_id"), user, service, tty, rq.uid, vg_now(),
					&ch, err)) < 0) {
		audit_failed(d, &rq, user, service, err->code, err->msg, NULL);
		return r;
	}
	if ((r = key_serves(b, user, &rq, err)) < 0) {
		audit_failed(d, &rq, user, service, err->code, err->msg, NULL);
		return r;
	}
	u = vg_bundle_user_by_name(b, user);
	snprintf(sign.rp_id, sizeof(sign.rp_id), "%s", b->elevation.rp_id ? b->elevation.rp_id : "");
	memcpy(sign.client_data_hash, ch.client_data_hash, sizeof(sign.client_data_hash));
	sign.uv = b->elevation.require_uv;
	sign.touch_timeout_s = touch >= 1 && touch <= VG_KEY_TOUCH_MAX_S ? (uint32_t)touch : VG_KEY_TOUCH_MAX_S;
	for (size_t i = 0; i < u->ncreds && sign.ncreds < VG_KEY_CREDS_MAX; i++) {
		if (!(sign.cred[sign.ncreds] = malloc(u->creds[i].id_len)))
			break;
		memcpy(sign.cred[sign.ncreds], u->creds[i].id, u->creds[i].id_len);
		sign.cred_len[sign.ncreds++] = u->creds[i].id_len;
	}
	if (pin && *pin)
		sign.pin = strdup(pin);
	vg_key_test_path(peer, req_str(req, "softfido"), test_path, sizeof(test_path));
	return vg_key_assert(d, peer->pid, rq.uid, user, test_path, &sign, err);
}

static int elev_ctl(struct vg_daemon *d, const struct vg_peer *peer, const char *cmd, json_t *req, json_t **reply,
		    struct vg_err *err)
{
	int r;

	if (strcmp(cmd, "elevation.check") == 0)
		return cmd_check(d, peer, req, reply, err);
	if (strcmp(cmd, "elevation.challenge") == 0)
		return cmd_challenge(d, peer, req, reply, err);
	if (strcmp(cmd, "elevation.assert") == 0)
		return cmd_assert(d, peer, req, reply, err);
	if (strcmp(cmd, "elevation.key_probe") == 0)
		return cmd_key_probe(d, peer, req, reply, err);
	if (strcmp(cmd, "elevation.key_assert") == 0)
		return cmd_key_assert(d, peer, req, err);
	if (strcmp(cmd, "elevation.commit") == 0)
		return cmd_commit(d, peer, req, reply, err);
	if (strcmp(cmd, "elevation.confirm") == 0)
		return cmd_confirm(d, peer, req, reply, err);
	if (strcmp(cmd, "elevation.account") == 0)
		return cmd_account(d, req, reply, err);
	if (strcmp(cmd, "grants.list") == 0)
		return cmd_grants_list(d, reply);
	if (strcmp(cmd, "grants.revoke") == 0)
		return cmd_revoke(d, peer, req, reply, err);
	if (strcmp(cmd, "breakglass.ingest") == 0) {
		size_t n;

		if ((r = ingest_spool(d, &n)) < 0)
			return vg_err_set(err, -r, "spool_unreadable", vg_daemon_config(d)->breakglass_spool,
					  "cannot ingest the break-glass spool: %s", strerror(-r));
		*reply = json_pack("{s:I}", "ingested", (json_int_t)n);
		return *reply ? 0 : -ENOMEM;
	}
	return -ENOENT;
}

static void elev_status(struct vg_daemon *d, json_t *status)
{
	size_t live = 0;

	for (size_t i = 0; i < st.grants.n; i++)
		live += st.grants.g[i].expires > vg_now();
	json_object_update_new(status,
			    json_pack("{s:I, s:I, s:I, s:I, s:I}", "grants", (json_int_t)live, "pending_challenges",
				      (json_int_t)st.chal.n, "pending_approvals", (json_int_t)st.approvals.n,
				      "pending_commits", (json_int_t)st.holds.n,
				      "failure_events_suppressed", (json_int_t)st.fails.suppressed_total));
	if (st.frozen[0])
		json_object_set_new(status, "frozen", json_string(st.frozen));
}

static void elev_shutdown(struct vg_daemon *d)
{
	if (st.spool_fd >= 0) {
		vg_loop_del_fd(d, st.spool_fd);
		close(st.spool_fd);
		st.spool_fd = -1;
	}
	if (st.hold_timer > 0)
		vg_loop_cancel_timer(d, st.hold_timer);
	st.hold_timer = 0;
	vg_key_stop(d);
	counters_flush(d);
	/* what is handed over is written before vigild ends */
	vg_sf_stop(d);
	json_decref(st.counters);
	st.counters = NULL;
	memset(&st.chal, 0, sizeof(st.chal));
}

const struct vg_module vg_module_elevation = {
	.name = "elevation",
	.init = elev_init,
	.prepare = elev_prepare,
	.commit = elev_commit,
	.abort = elev_abort,
	.ctl = elev_ctl,
	.status = elev_status,
	.shutdown = elev_shutdown,
};
