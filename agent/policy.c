/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bundle loader (docs/bundle.md#loading): size cap → signatures →
 * strict schema → scope → time → version → every module prepares → every
 * module commits → persist (current, last-known-good) → audit. Any rejection
 * leaves the running policy untouched.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "core.h"
#include "vigil/ctl.h"
#include "vigil/json_scan.h"
#include "vigil/loader.h"
#include "vigil/util.h"

#define STATE_MAX (1u << 20)

static void policy_path(struct vg_daemon *d, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/policy/%s", d->cfg.state_dir, name);
}

/* ---- persistence ---- */

static int write_pair_state(const char *dir, const char *text)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/state.json", dir);
	return vg_write_file_atomic(path, text, strlen(text), vg_file_mode(VG_FILE_PUBLIC));
}

static char *state_text(struct vg_daemon *d)
{
	struct vg_policy_state *p = &d->pol;
	char *s;
	json_t *st;

	st = json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:s}", "highest_version", (json_int_t)p->highest_version,
		       "highest_digest", p->highest_digest, "current_digest", p->current_digest, "source", p->source,
		       "applied_at", (json_int_t)p->applied_at, "lkg_version", (json_int_t)p->lkg_version, "lkg_digest",
		       p->lkg_digest);
	s = json_dumps(st, JSON_INDENT(1));
	json_decref(st);
	return s;
}

static void load_state(struct vg_daemon *d)
{
	struct vg_policy_state *p = &d->pol;
	char path[512], *buf = NULL, msg[1100];
	struct vg_err err = { 0 };
	json_t *st;

	policy_path(d, "state.json", path, sizeof(path));
	if (vg_read_trusted(path, STATE_MAX, &buf, NULL, &err) < 0) {
		if (err.code[0] && strcmp(err.code, "unreadable"))
			vg_log(LOG_ERR, "policy: %s; the anti-rollback floor is taken from the persisted bundle",
			       vg_err_str(&err, msg, sizeof(msg)));
		return;
	}
	st = json_loads(buf, 0, NULL);
	free(buf);
	if (!st) {
		vg_log(LOG_ERR, "policy: %s is corrupt; the anti-rollback floor is taken from the persisted bundle", path);
		return;
	}
	p->highest_version = json_integer_value(json_object_get(st, "highest_version"));
	snprintf(p->highest_digest, sizeof(p->highest_digest), "%s",
		 json_string_value(json_object_get(st, "highest_digest")) ?: "");
	snprintf(p->source, sizeof(p->source), "%s", json_string_value(json_object_get(st, "source")) ?: "");
	snprintf(p->current_digest, sizeof(p->current_digest), "%s",
		 json_string_value(json_object_get(st, "current_digest")) ?: "");
	p->applied_at = json_integer_value(json_object_get(st, "applied_at"));
	p->lkg_version = json_integer_value(json_object_get(st, "lkg_version"));
	snprintf(p->lkg_digest, sizeof(p->lkg_digest), "%s", json_string_value(json_object_get(st, "lkg_digest")) ?: "");
	json_decref(st);
}

static int write_pair(const char *dir, const char *name, const char *bytes, size_t len, const char *sig,
		      size_t siglen)
{
	char path[1024], spath[1040];
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(spath, sizeof(spath), "%s.sig", path);
	/* signature first: a crash in between leaves a pair that fails verification, never a forged one;
	 * a bundle holds break-glass hashes: readable by root only, like `policy show` */
	if ((r = vg_write_file_atomic(spath, sig, siglen, vg_file_mode(VG_FILE_SECRET))) < 0)
		return r;
	return vg_write_file_atomic(path, bytes, len, vg_file_mode(VG_FILE_SECRET));
}

static int read_pair(struct vg_daemon *d, const char *name, char **bytes, size_t *len, char **sig, size_t *siglen,
		     struct vg_err *err)
{
	char path[512], spath[520];
	int r;

	policy_path(d, name, path, sizeof(path));
	snprintf(spath, sizeof(spath), "%s.sig", path);
	/* persisted by an older vigild with mode 0644: tighten before reading */
	chmod(path, vg_file_mode(VG_FILE_SECRET));
	chmod(spath, vg_file_mode(VG_FILE_SECRET));
	if ((r = vg_read_trusted(path, d->cfg.max_bundle_bytes, bytes, len, err)) < 0)
		return r;
	if ((r = vg_read_trusted(spath, VG_SIG_MAX_BYTES, sig, siglen, err)) < 0) {
		free(*bytes);
		*bytes = NULL;
		return r;
	}
	return 0;
}

/* ---- the loader ---- */

static json_t *bundle_summary(const struct vg_bundle *b)
{
	char t1[32], t2[32];
	json_t *o;

	vg_time_format(b->issued_at, t1);
	vg_time_format(b->expires_at, t2);
	o = json_pack("{s:I, s:s, s:s, s:s, s:s}", "version", (json_int_t)b->version, "policy_digest", b->digest,
		      "issued_at", t1, "expires_at", t2, "environment", vg_env_name(b->environment));
	if (b->change.id) {
		json_t *ap = json_array();

		for (size_t i = 0; i < b->change.napproved; i++)
			json_array_append_new(ap, json_string(b->change.approved_by[i]));
		json_object_set_new(o, "change_id", json_string(b->change.id));
		json_object_set_new(o, "approved_by", ap);
		if (b->change.reason)
			json_object_set_new(o, "change_reason", json_string(b->change.reason));
	}
	return o;
}

static void on_expiry(struct vg_daemon *d, void *arg);

static void arm_expiry(struct vg_daemon *d)
{
	time_t now = vg_now();
	struct vg_policy_state *p = &d->pol;

	if (p->expiry_timer > 0)
		vg_loop_cancel_timer(d, p->expiry_timer);
	p->expiry_timer = 0;
	p->expired = p->bundle && p->bundle->expires_at <= now;
	if (p->bundle && !p->expired) {
		uint64_t ms = (uint64_t)(p->bundle->expires_at - now) * 1000u;

		p->expiry_timer = vg_loop_add_timer(d, ms > 3600000u ? 3600000u : ms, on_expiry, NULL);
	}
}

static void on_expiry(struct vg_daemon *d, void *arg)
{
	struct vg_policy_state *p = &d->pol;

	p->expiry_timer = 0;
	arm_expiry(d);
	if (p->expired) {
		vg_log(LOG_WARNING, "policy: version %lld expired; it stays in force until a fresh bundle arrives",
		       (long long)p->bundle->version);
		vg_daemon_audit(d, "policy.expired", "policy", bundle_summary(p->bundle));
	}
}

static void reject(struct vg_daemon *d, const char *source, const char *digest, const struct vg_err *err,
		   json_t *extra)
{
	struct vg_policy_state *p = &d->pol;
	char msg[1100];
	json_t *data;

	if (!strcmp(err->code, "unchanged")) {
		json_decref(extra);
		return;
	}
	p->last_err = *err;
	p->last_err_at = vg_now();
	vg_log(LOG_WARNING, "policy: rejected bundle from %s (%s): %s", source, err->code,
	       vg_err_str(err, msg, sizeof(msg)));
	data = json_pack("{s:s, s:s, s:s, s:s, s:s}", "source", source, "outcome", "rejected", "reason", err->msg,
			 "reason_code", err->code, "bundle_digest", digest);
	if (err->path[0])
		json_object_set_new(data, "path", json_string(err->path));
	if (extra)
		json_object_update(data, extra);
	json_decref(extra);
	vg_daemon_audit(d, "policy.rejected", "policy", data);
}

static int b64_field(json_t *req, const char *key, char **out, size_t *len, struct vg_err *err);

/* The new bundle is written (and fsynced) by the loader thread under a name of its own; the loop
 * only renames it into place once applied. An fsync of a large bundle on the loop would stall it,
 * and so would every other fsync waiting behind it in the filesystem journal. */
static void stage(struct vg_load_job *j)
{
	int r;

	if (!j->stage_name[0])
		return;
	if ((r = write_pair(j->policy_dir, j->stage_name, j->bytes, j->len, j->sig, j->siglen)) < 0) {
		vg_log(LOG_ERR, "policy: cannot write %s/%s: %s (the bundle can run, but not be persisted)",
		       j->policy_dir, j->stage_name, strerror(-r));
		j->stage_name[0] = '\0';
	}
}

static void unstage(struct vg_load_job *j)
{
	char path[1024];

	if (!j->stage_name[0])
		return;
	snprintf(path, sizeof(path), "%s/%s", j->policy_dir, j->stage_name);
	unlink(path);
	strncat(path, ".sig", sizeof(path) - strlen(path) - 1);
	unlink(path);
}

/* rename dir/from(.sig) to dir/to(.sig): the signature first, as write_pair does */
static int move_pair(const char *dir, const char *from, const char *to)
{
	char a[1024], b[1024];

	snprintf(a, sizeof(a), "%s/%s.sig", dir, from);
	snprintf(b, sizeof(b), "%s/%s.sig", dir, to);
	if (rename(a, b) < 0)
		return -errno;
	snprintf(a, sizeof(a), "%s/%s", dir, from);
	snprintf(b, sizeof(b), "%s/%s", dir, to);
	if (rename(a, b) < 0)
		return -errno;
	return vg_fsync_dir(dir);
}

/* the base64 string of a push request decoded from the request's bytes */
static int b64_tok(const struct vg_json_tok *t, const char *key, char **out, size_t *len, struct vg_err *err)
{
	char *s = malloc(vg_json_str_max(t));
	uint8_t *raw = NULL;
	int r = -ENOMEM;

	if (s && vg_json_str_decode(t, s, vg_json_str_max(t), NULL) == 0)
		r = vg_b64_decode(s, &raw, len) < 0 ? vg_err_set(err, EINVAL, "request_malformed", key,
								 "field \"%s\" is not base64", key)
						    : 0;
	free(s);
	*out = (char *)raw;
	return r;
}

/* The request without its "bundle" string ("" instead): jansson parses that much; the bundle,
 * most of the bytes, is decoded from them (as a jansson string it costs about a second). */
static int push_request(struct vg_load_job *j, struct vg_json_tok *bundle, json_t **req, struct vg_err *err)
{
	size_t head, tail;
	char *rest;
	int r;

	if (vg_json_scan_top_string(j->request, j->request_len, "bundle", bundle) != 1)
		return -ENOENT;
	head = (size_t)(bundle->start - j->request);
	tail = j->request_len - (size_t)(bundle->end - j->request);
	if (!(rest = malloc(head + 2 + tail)))
		return -ENOMEM;
	memcpy(rest, j->request, head);
	memcpy(rest + head, "\"\"", 2);
	memcpy(rest + head + 2, bundle->end, tail);
	r = vg_ctl_parse_request(rest, head + 2 + tail, req, err);
	free(rest);
	return r;
}

/* a raw policy.push (vg_ctl_push_split): the request's bytes become the job's, the bundle left
 * where it is, after its header (the room where the signature check writes its domain prefix:
 * no copy of a bundle of hundreds of MB); 1 done, 0 not a raw push */
static int raw_push(struct vg_load_job *j, struct vg_err *err)
{
	struct vg_ctl_push p;
	int r = vg_ctl_push_split(j->request, j->request_len, &p, err);

	if (r <= 0)
		return r;
	if (!(j->sig = malloc(p.sig_len + 1)))
		return vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
	memcpy(j->sig, j->request + p.sig_off, p.sig_len);
	j->siglen = p.sig_len;
	j->bytes = j->request + p.bundle_off;
	j->room = p.bundle_off;
	j->len = p.bundle_len;
	j->request = NULL;
	return 1;
}

/* a policy.push request as large as a bundle: parsed here, not on the loop */
static int parse_push(struct vg_load_job *j, struct vg_err *err)
{
	struct vg_json_tok bundle;
	json_t *req = NULL;
	bool scanned;
	int r;

	if ((r = raw_push(j, err)) != 0)
		goto out;
	/* anything the scanner doubts is parsed whole by jansson, which then says what is wrong */
	scanned = push_request(j, &bundle, &req, err) == 0;
	if (!scanned) {
		vg_err_clear(err);
		r = vg_ctl_parse_request(j->request, j->request_len, &req, err);
		if (r < 0)
			goto out;
	}
	if (strcmp(json_string_value(json_object_get(req, "cmd")), "policy.push"))
		r = vg_err_set(err, EMSGSIZE, "request_too_large", NULL,
			       "only policy.push may be larger than %u bytes", VG_CTL_USER_MAX_REQUEST);
	else if ((r = scanned ? b64_tok(&bundle, "bundle", &j->bytes, &j->len, err)
			      : b64_field(req, "bundle", &j->bytes, &j->len, err)) == 0)
		r = b64_field(req, "sig", &j->sig, &j->siglen, err);
out:
	json_decref(req);
	free(j->request);
	j->request = NULL;
	return r < 0 ? r : 0;
}

/* ---- where the time goes ---- */

static void step_mark(struct vg_load_times *t)
{
	t->mark_ms = vg_now_ms_monotonic();
	t->cpu_mark_us = vg_thread_cpu_us();
}

/* a step run by this thread since the last mark */
static void step_end(struct vg_load_times *t, enum vg_load_step s)
{
	uint64_t now = vg_now_ms_monotonic(), cpu = vg_thread_cpu_us();

	t->wall[s] += (uint32_t)(now - t->mark_ms);
	t->cpu[s] += (uint32_t)((cpu - t->cpu_mark_us) / 1000u);
	t->mark_ms = now;
	t->cpu_mark_us = cpu;
}

/* a wait, ending on another thread than the one that marked: wall time only */
static void step_waited(struct vg_load_times *t, enum vg_load_step s)
{
	uint64_t now = vg_now_ms_monotonic();

	t->wall[s] += (uint32_t)(now - t->mark_ms);
	step_mark(t);
}

static void step_module(struct vg_load_times *t, enum vg_load_step s, const char *module, uint64_t since_ms)
{
	uint32_t ms = (uint32_t)(vg_now_ms_monotonic() - since_ms);

	if (!t->slowest[s] || ms > t->slowest_ms[s]) {
		t->slowest[s] = module;
		t->slowest_ms[s] = ms;
	}
}

static void log_times(const struct vg_load_job *j, int64_t version)
{
	const struct vg_load_times *t = &j->times;
	uint32_t total = 0;

	for (int s = 0; s < VG_STEP__COUNT; s++)
		total += s == VG_STEP_STAGE ? t->stage_wait_ms : t->wall[s];
	vg_log(LOG_INFO,
	       "policy: version %lld from %s applied %u ms after receipt: queued %u, decode %u/%u, verify %u/%u, parse %u/%u, "
	       "stage %u/%u (beside the parse, waited %u), handoff %u, prepare %u/%u (%s %u), commit %u/%u (%s %u), persist %u/%u (ms wall/CPU)",
	       (long long)version, j->source, total, t->wall[VG_STEP_QUEUED], t->wall[VG_STEP_DECODE],
	       t->cpu[VG_STEP_DECODE], t->wall[VG_STEP_VERIFY],
	       t->cpu[VG_STEP_VERIFY], t->wall[VG_STEP_PARSE], t->cpu[VG_STEP_PARSE], t->wall[VG_STEP_STAGE],
	       t->cpu[VG_STEP_STAGE], t->stage_wait_ms, t->wall[VG_STEP_HANDOFF], t->wall[VG_STEP_PREPARE], t->cpu[VG_STEP_PREPARE],
	       t->slowest[VG_STEP_PREPARE] ? t->slowest[VG_STEP_PREPARE] : "-", t->slowest_ms[VG_STEP_PREPARE],
	       t->wall[VG_STEP_COMMIT], t->cpu[VG_STEP_COMMIT],
	       t->slowest[VG_STEP_COMMIT] ? t->slowest[VG_STEP_COMMIT] : "-", t->slowest_ms[VG_STEP_COMMIT],
	       t->wall[VG_STEP_PERSIST], t->cpu[VG_STEP_PERSIST]);
}

/*
 * Two jobs read the bytes beside the loader thread's own work, on a thread each: the digest
 * (SHA-256 of a 1M-rule bundle: ~80 ms) beside the signature check, and the stage (0.4 s of
 * writing) beside the parse. A bundle the parse or the checks after it refuse is unstaged with
 * every other refusal (finish).
 */
struct side_run {
	struct vg_load_job *j;
	void (*fn)(struct vg_load_job *j);
	pthread_t th;
	bool thread;
	uint64_t start_ms;
	uint32_t wall_ms, cpu_ms;
};

static void *side_main(void *arg)
{
	struct side_run *sr = arg;
	uint64_t cpu = vg_thread_cpu_us();

	sr->fn(sr->j);
	sr->cpu_ms = (uint32_t)((vg_thread_cpu_us() - cpu) / 1000u);
	sr->wall_ms = (uint32_t)(vg_now_ms_monotonic() - sr->start_ms);
	return NULL;
}

/* fn(j) on a thread of its own, or at once when no thread can be had */
static void side_begin(struct side_run *sr, struct vg_load_job *j, void (*fn)(struct vg_load_job *j))
{
	*sr = (struct side_run){ .j = j, .fn = fn, .start_ms = vg_now_ms_monotonic() };
	sr->thread = pthread_create(&sr->th, NULL, side_main, sr) == 0;
	if (!sr->thread)
		side_main(sr);
}

static void side_end(struct side_run *sr)
{
	if (sr->thread)
		pthread_join(sr->th, NULL);
	sr->thread = false;
}

static void digest(struct vg_load_job *j)
{
	vg_sha256_hex(j->bytes, j->len, j->digest);
}

/* The stage's own wall and CPU time are what the log shows; the wait for it is the only part of
 * it on the apply's path. */
static void stage_end(struct vg_load_job *j, struct side_run *sr)
{
	struct vg_load_times *t = &j->times;

	side_end(sr);
	t->wall[VG_STEP_STAGE] += sr->wall_ms;
	t->cpu[VG_STEP_STAGE] += sr->cpu_ms;
	t->stage_wait_ms += (uint32_t)(vg_now_ms_monotonic() - t->mark_ms);
	step_mark(t);
}

/* The loader thread's half: reads only the job. */
void vg_load_verify(struct vg_load_job *j)
{
	struct vg_err *err = &j->err;
	struct side_run dg = { 0 }, st;
	int r;

	step_waited(&j->times, VG_STEP_QUEUED);
	vg_err_clear(err);
	if (j->request && (r = parse_push(j, err)) < 0) {
		vg_sha256_hex("", 0, j->digest);
		goto out;
	}
	step_end(&j->times, VG_STEP_DECODE);
	side_begin(&dg, j, digest);
	if ((r = vg_check_size(j->len, j->max_bytes, err)) < 0)
		goto out;
	if (!j->trust) {
		r = vg_err_set(err, EPERM, "trust_missing", NULL,
			       "no trust is in force, every bundle is refused until the trust file is fixed: %s",
			       j->trust_error);
		goto out;
	}
	if ((r = vg_sig_verify_room(j->trust, VG_SIG_DOMAIN_BUNDLE, j->bytes, j->room, j->len, j->sig, j->siglen,
				    err)) < 0)
		goto out;
	side_end(&dg);
	step_end(&j->times, VG_STEP_VERIFY);
	side_begin(&st, j, stage);
	if ((r = vg_bundle_parse_digested(j->bytes, j->len, j->digest, &j->b, err)) == 0 &&
	    (r = vg_check_scope(j->b, j->hostname, j->labels, err)) == 0)
		r = vg_check_time(j->b, j->now, j->skew_s, j->flags & VG_LOAD_STARTUP, err);
	step_end(&j->times, VG_STEP_PARSE);
	stage_end(j, &st);
out:
	side_end(&dg);
	j->r = r;
}

static void job_bytes_free(struct vg_load_job *j)
{
	if (j->bytes)
		free(j->bytes - j->room);
	j->bytes = NULL;
	j->room = 0;
}

void vg_load_job_free(struct vg_load_job *j)
{
	if (!j)
		return;
	free(j->request);
	job_bytes_free(j);
	free(j->sig);
	json_decref(j->audit_extra);
	vg_trust_free(j->trust);
	vg_bundle_free(j->b);
	free(j);
}

/* what the loader thread needs from the daemon, copied while on the loop */
static void job_inputs(struct vg_daemon *d, struct vg_load_job *j)
{
	vg_trust_free(j->trust);
	j->trust = vg_trust_ref(d->trust);
	snprintf(j->trust_error, sizeof(j->trust_error), "%s", d->pol.trust_error);
	j->max_bytes = d->cfg.max_bundle_bytes;
	j->skew_s = d->cfg.clock_skew_s;
	snprintf(j->policy_dir, sizeof(j->policy_dir), "%s/policy", d->cfg.state_dir);
	if (!(j->flags & VG_LOAD_STARTUP) && !j->stage_name[0])
		snprintf(j->stage_name, sizeof(j->stage_name), "staged.%llu.json", (unsigned long long)++d->pol.staged_seq);
	snprintf(j->hostname, sizeof(j->hostname), "%s", d->hostname);
	snprintf(j->labels, sizeof(j->labels), "%s", d->cfg.labels);
}

/* the checks against the running state, on the loop */
static int check_running(struct vg_daemon *d, const struct vg_bundle *b, unsigned flags, struct vg_err *err)
{
	struct vg_policy_state *p = &d->pol;

	if ((flags & VG_LOAD_STARTUP) && !(flags & VG_LOAD_ROLLBACK) && p->current_digest[0] &&
	    strcmp(p->current_digest, b->digest))
		return vg_err_set(err, EPERM, "state_mismatch", NULL,
				  "the persisted bundle (digest %.16s…) is not the one last applied (%.16s…)", b->digest,
				  p->current_digest);
	if (flags & (VG_LOAD_ROLLBACK | VG_LOAD_STARTUP))
		return 0;
	return vg_check_version(b, p->highest_version, p->highest_digest, p->bundle ? p->bundle->digest : NULL, false,
				err);
}

static int prepare_all(struct vg_daemon *d, const struct vg_bundle *b, void **staged, struct vg_load_times *t,
		       struct vg_err *err)
{
	size_t i;
	int r;

	for (i = 0; vg_modules[i]; i++) {
		uint64_t t0 = vg_now_ms_monotonic();

		if (!vg_modules[i]->prepare)
			continue;
		r = vg_modules[i]->prepare(d, b, &staged[i], err);
		step_module(t, VG_STEP_PREPARE, vg_modules[i]->name, t0);
		if (r < 0) {
			if (!err->msg[0])
				vg_err_set(err, -r, "prepare_failed", NULL, "%s: %s", vg_modules[i]->name, strerror(-r));
			while (i-- > 0)
				if (vg_modules[i]->abort)
					vg_modules[i]->abort(d, staged[i]);
			return r;
		}
	}
	return 0;
}

/* Whether a file under policy/ holds the job's bytes once it is applied: the staged copy (renamed
 * to current.json) or, at start, the persisted file it was read from. */
static bool bytes_on_disk(const struct vg_load_job *j)
{
	return j->stage_name[0] || (j->flags & VG_LOAD_STARTUP);
}

/* The staged bundle becomes current; the one it replaces becomes last-known-good, unless this is
 * a rollback (what was rolled back from is not "good") or the running one already is that file. */
static void persist_applied(struct vg_daemon *d, struct vg_load_job *j, unsigned flags, int64_t prev_version,
			    const char *prev_digest)
{
	struct vg_policy_state *p = &d->pol;
	char *st;
	int r;

	if (!j->stage_name[0]) {
		p->running_file[0] = '\0';
		return;
	}
	if (!(flags & VG_LOAD_ROLLBACK) && prev_version && !strcmp(p->running_file, "current.json")) {
		if ((r = move_pair(j->policy_dir, "current.json", "lkg.json")) == 0) {
			p->lkg_version = prev_version;
			snprintf(p->lkg_digest, sizeof(p->lkg_digest), "%s", prev_digest);
		} else {
			vg_log(LOG_ERR, "policy: cannot keep the last-known-good bundle in %s: %s", j->policy_dir,
			       strerror(-r));
		}
	}
	if ((r = move_pair(j->policy_dir, j->stage_name, "current.json")) < 0) {
		vg_log(LOG_ERR, "policy: cannot persist the bundle in %s: %s (it runs, but a restart falls back to the "
				"previous one)", j->policy_dir, strerror(-r));
		unstage(j);
		p->running_file[0] = '\0';
	} else {
		snprintf(p->running_file, sizeof(p->running_file), "current.json");
	}
	j->stage_name[0] = '\0';
	st = state_text(d);
	if (st && (r = write_pair_state(j->policy_dir, st)) < 0)
		vg_log(LOG_ERR, "policy: cannot write %s/state.json: %s", j->policy_dir, strerror(-r));
	free(st);
}

/* The loop's half: the job passed vg_load_verify. */
static int apply(struct vg_daemon *d, struct vg_load_job *j)
{
	struct vg_policy_state *p = &d->pol;
	struct vg_bundle *b = j->b, *old;
	void *staged[64] = { 0 };
	unsigned flags = j->flags;
	int64_t prev_version;
	char prev_digest[65];
	json_t *data;
	size_t i;
	int r;

	if ((r = check_running(d, b, flags, &j->err)) < 0)
		return r;
	/* parsed and written: a file holds the bytes from here on (a 1M-rule bundle is 117 MB) */
	if (bytes_on_disk(j))
		job_bytes_free(j);
	/* what the parse left free inside malloc's heaps goes back before the compile's peak */
	malloc_trim(0);
	if ((r = prepare_all(d, b, staged, &j->times, &j->err)) < 0)
		return r;
	step_end(&j->times, VG_STEP_PREPARE);

	/* point of no return: every module switches */
	j->b = NULL;
	old = p->bundle;
	prev_version = old ? old->version : 0;
	snprintf(prev_digest, sizeof(prev_digest), "%s", old ? old->digest : "");
	p->bundle = b;
	p->rolled_back = flags & VG_LOAD_ROLLBACK;
	for (i = 0; vg_modules[i]; i++) {
		uint64_t t0 = vg_now_ms_monotonic();

		if (!vg_modules[i]->commit)
			continue;
		vg_modules[i]->commit(d, b, staged[i]);
		step_module(&j->times, VG_STEP_COMMIT, vg_modules[i]->name, t0);
	}
	step_end(&j->times, VG_STEP_COMMIT);

	if (!(flags & VG_LOAD_STARTUP)) {
		snprintf(p->source, sizeof(p->source), "%s", j->source);
		p->applied_at = j->now;
		snprintf(p->current_digest, sizeof(p->current_digest), "%s", b->digest);
	}
	if (b->version > p->highest_version || !p->highest_digest[0]) {
		p->highest_version = b->version;
		snprintf(p->highest_digest, sizeof(p->highest_digest), "%s", b->digest);
	}
	if (!(flags & VG_LOAD_STARTUP))
		persist_applied(d, j, flags, prev_version, prev_digest);
	step_end(&j->times, VG_STEP_PERSIST);
	/* the running bytes stay in memory only when no file holds them (policy show reads the file) */
	free(p->bytes);
	p->bytes = NULL;
	if (j->bytes) {
		p->bytes = memmove(j->bytes - j->room, j->bytes, j->len);
		p->len = j->len;
		j->bytes = NULL;
		j->room = 0;
	}
	vg_bundle_free(old);
	arm_expiry(d);

	vg_log(LOG_INFO, "policy: applied version %lld (digest %.16s…) from %s", (long long)b->version, b->digest,
	       j->source);
	log_times(j, b->version);
	data = bundle_summary(b);
	json_object_set_new(data, "source", json_string(j->source));
	json_object_set_new(data, "outcome", json_string("applied"));
	json_object_set_new(data, "rolls_back_to", json_pack("{s:I, s:s}", "version", (json_int_t)prev_version,
							      "policy_digest", prev_digest));
	if (j->audit_extra)
		json_object_update(data, j->audit_extra);
	vg_daemon_audit(d, (flags & VG_LOAD_ROLLBACK) ? "policy.rolled_back" : (flags & VG_LOAD_STARTUP) ? "policy.restored" : "policy.applied",
			"policy", data);
	return 0;
}

static int finish(struct vg_daemon *d, struct vg_load_job *j)
{
	int r = j->r;

	if (r == 0)
		r = apply(d, j);
	if (r < 0) {
		unstage(j);
		reject(d, j->source, j->digest, &j->err, j->audit_extra);
		j->audit_extra = NULL;
	}
	return r;
}

void vg_policy_finish(struct vg_daemon *d, struct vg_load_job *j)
{
	int r;


	step_waited(&j->times, VG_STEP_HANDOFF);
	/* the trust file changed while the thread verified: verify again against today's */
	if (j->trust != d->trust) {
		job_inputs(d, j);
		vg_bundle_free(j->b);
		j->b = NULL;
		if (vg_loader_queue(j) == 0)
			return;
		vg_load_verify(j);
	}
	r = finish(d, j);
	if (j->done)
		j->done(d, r, &j->err, j->arg);
	vg_load_job_free(j);
	/* A large bundle leaves its buffers free inside malloc's arenas (the loader thread's and the
	 * loop's), where they would count against vigild's memory until the next push: give them
	 * back (about 100 MB after a 1M-rule push; docs/benchmarks.md). */
	malloc_trim(0);
}

int vg_policy_load(struct vg_daemon *d, char *bytes, size_t len, char *sig, size_t siglen, const char *source,
		   unsigned flags, json_t *audit_extra, struct vg_err *err)
{
	struct vg_load_job j = { .bytes = bytes, .len = len, .sig = sig, .siglen = siglen,
				 .flags = flags, .audit_extra = audit_extra, .now = vg_now() };
	int r;

	snprintf(j.source, sizeof(j.source), "%s", source);
	step_mark(&j.times);
	job_inputs(d, &j);
	vg_load_verify(&j);
	r = finish(d, &j);
	*err = j.err;
	json_decref(j.audit_extra);
	vg_trust_free(j.trust);
	vg_bundle_free(j.b);
	free(j.bytes);
	free(j.sig);
	return r;
}

static int queue(struct vg_daemon *d, struct vg_load_job *j, struct vg_err *err)
{
	int r = -EBUSY;

	job_inputs(d, j);
	if (vg_loader_pending() >= VG_LOAD_QUEUE_MAX || (r = vg_loader_queue(j)) < 0) {
		vg_load_job_free(j);
		return vg_err_set(err, -r, "loader_busy", NULL,
				  "%zu bundles are being loaded already: try again when they are done", vg_loader_pending());
	}
	return 0;
}

static struct vg_load_job *job_new(const char *source, unsigned flags, json_t *audit_extra, vg_load_done done,
				   void *arg)
{
	struct vg_load_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	*j = (struct vg_load_job){ .flags = flags, .audit_extra = audit_extra, .now = vg_now(), .done = done,
				   .arg = arg };
	snprintf(j->source, sizeof(j->source), "%s", source);
	step_mark(&j->times);
	return j;
}

int vg_policy_submit(struct vg_daemon *d, char *bytes, size_t len, char *sig, size_t siglen, const char *source,
		     unsigned flags, json_t *audit_extra, vg_load_done done, void *arg, struct vg_err *err)
{
	struct vg_load_job *j = job_new(source, flags, audit_extra, done, arg);

	if (!j) {
		free(bytes);
		free(sig);
		json_decref(audit_extra);
		return vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
	}
	j->bytes = bytes;
	j->len = len;
	j->sig = sig;
	j->siglen = siglen;
	return queue(d, j, err);
}

/* one persisted pair, verified again against today's trust file; -ENOENT when there is none */
static int restore(struct vg_daemon *d, const char *name, const char *source, unsigned flags, struct vg_err *err)
{
	char *bytes = NULL, *sig = NULL;
	size_t len, siglen;
	int r;

	vg_err_clear(err);
	if ((r = read_pair(d, name, &bytes, &len, &sig, &siglen, err)) < 0)
		return strcmp(err->code, "unreadable") ? r : -ENOENT;
	return vg_policy_load(d, bytes, len, sig, siglen, source, flags, NULL, err);
}

/* Staged bundles and temp files of a load that never finished (vigild killed mid-load): nothing
 * refers to them, and a large one would fill state_dir over a few crashes. */
static void remove_leftovers(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *e;

	if (!dp)
		return;
	while ((e = readdir(dp)))
		if ((!strncmp(e->d_name, "staged.", 7) || strstr(e->d_name, ".tmp.")) &&
		    unlinkat(dirfd(dp), e->d_name, 0) == 0)
			vg_log(LOG_NOTICE, "policy: removed %s/%s, left by a load that never finished", dir, e->d_name);
	closedir(dp);
}

/* At start: the persisted bundle is verified again against today's trust file. */
int vg_policy_init(struct vg_daemon *d)
{
	struct vg_policy_state *p = &d->pol;
	char dir[512], msg[1100];
	struct vg_err err = { 0 };
	int r;

	snprintf(dir, sizeof(dir), "%s/policy", d->cfg.state_dir);
	vg_mkdir_p(dir, vg_file_mode(VG_DIR_PUBLIC));
	remove_leftovers(dir);
	load_state(d);
	r = restore(d, "current.json", "persisted", VG_LOAD_STARTUP, &err);
	if (r == 0) {
		snprintf(p->running_file, sizeof(p->running_file), "current.json");
		if (p->expired)
			vg_log(LOG_WARNING, "policy: the persisted bundle (version %lld) has expired; it stays in force",
			       (long long)p->bundle->version);
		return 0;
	}
	if (r != -ENOENT)
		vg_log(LOG_CRIT, "policy: THE PERSISTED BUNDLE NO LONGER VERIFIES: %s; falling back to the last-known-good",
		       vg_err_str(&err, msg, sizeof(msg)));
	r = restore(d, "lkg.json", "last-known-good", VG_LOAD_STARTUP | VG_LOAD_ROLLBACK, &err);
	if (r == 0) {
		snprintf(p->running_file, sizeof(p->running_file), "lkg.json");
		return 0;
	}
	if (r != -ENOENT)
		vg_log(LOG_CRIT, "policy: the last-known-good bundle does not verify either: %s",
		       vg_err_str(&err, msg, sizeof(msg)));
	vg_log(LOG_NOTICE, "policy: no bundle applied yet; waiting for one (vigilctl policy push, inbox %s%s%s)",
	       d->cfg.inbox_dir, d->cfg.pull_url[0] ? ", pull " : "", d->cfg.pull_url);
	return 0;
}

void vg_policy_shutdown(struct vg_daemon *d)
{
	struct vg_policy_state *p = &d->pol;

	vg_bundle_free(p->bundle);
	p->bundle = NULL;
	free(p->bytes);
	p->bytes = NULL;
}

void vg_policy_status(struct vg_daemon *d, json_t *status)
{
	struct vg_policy_state *p = &d->pol;
	json_t *pol, *tr;
	char when[32];

	if (p->bundle) {
		pol = bundle_summary(p->bundle);
		vg_time_format(p->applied_at, when);
		json_object_set_new(pol, "active", json_true());
		json_object_set_new(pol, "source", json_string(p->source));
		json_object_set_new(pol, "applied_at", json_string(when));
		json_object_set_new(pol, "expired", json_boolean(p->expired));
		json_object_set_new(pol, "tenants", json_integer((json_int_t)p->bundle->ntenants));
		json_object_set_new(pol, "rules", json_integer((json_int_t)p->bundle->nrules_total));
		json_object_set_new(pol, "users", json_integer((json_int_t)p->bundle->identity.nusers));
	} else {
		pol = json_pack("{s:b}", "active", 0);
	}
	json_object_set_new(pol, "highest_version", json_integer(p->highest_version));
	if (p->lkg_version)
		json_object_set_new(pol, "last_known_good", json_pack("{s:I, s:s}", "version", (json_int_t)p->lkg_version,
								       "policy_digest", p->lkg_digest));
	if (p->last_err_at) {
		vg_time_format(p->last_err_at, when);
		json_object_set_new(pol, "last_error", json_pack("{s:s, s:s, s:s, s:s}", "code", p->last_err.code,
								  "message", p->last_err.msg, "path", p->last_err.path,
								  "at", when));
	}
	json_object_set_new(status, "policy", pol);
	if (d->trust)
		tr = json_pack("{s:I, s:i, s:i, s:s}", "version", (json_int_t)d->trust->version, "threshold",
			       (int)d->trust->threshold, "keys", (int)d->trust->nkeys, "digest", d->trust->digest);
	else
		tr = json_pack("{s:b, s:s, s:s}", "valid", 0, "file", d->cfg.trust_file, "error", d->pol.trust_error);
	json_object_set_new(status, "trust", tr);
}

/* ---- control commands ---- */

static int b64_field(json_t *req, const char *key, char **out, size_t *len, struct vg_err *err)
{
	const char *s = json_string_value(json_object_get(req, key));
	uint8_t *raw;

	if (!s)
		return vg_err_set(err, EINVAL, "request_malformed", key, "missing base64 field \"%s\"", key);
	if (vg_b64_decode(s, &raw, len) < 0)
		return vg_err_set(err, EINVAL, "request_malformed", key, "field \"%s\" is not base64", key);
	*out = (char *)raw;
	return 0;
}

static json_t *actor(const struct vg_peer *peer)
{
	return json_pack("{s:{s:I, s:I}}", "actor", "uid", (json_int_t)peer->uid, "pid", (json_int_t)peer->pid);
}

/* a push or rollback answered once its load finished */
static void load_replied(struct vg_daemon *d, int r, const struct vg_err *err, void *arg)
{
	struct vg_client *c = arg;
	json_t *reply = NULL;

	if (r == -EALREADY) {
		r = 0;
		reply = json_pack("{s:s, s:I}", "result", "unchanged", "version", (json_int_t)d->pol.bundle->version);
	} else if (r == 0) {
		reply = bundle_summary(d->pol.bundle);
		json_object_set_new(reply, "result", json_string(d->pol.rolled_back ? "rolled_back" : "applied"));
	}
	vg_client_reply(d, c, r, reply, err);
}

int vg_policy_submit_push(struct vg_daemon *d, char *request, size_t len, const struct vg_peer *peer,
			  struct vg_client *client, struct vg_err *err)
{
	struct vg_load_job *j = job_new("push", 0, actor(peer), load_replied, client);

	if (!j) {
		free(request);
		return vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
	}
	j->request = request;
	j->request_len = len;
	return queue(d, j, err);
}

static int ctl_push(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, struct vg_err *err,
		    struct vg_client *c)
{
	char *bytes = NULL, *sig = NULL;
	size_t len, siglen;
	int r;

	if ((r = b64_field(req, "bundle", &bytes, &len, err)) < 0)
		return r;
	if ((r = b64_field(req, "sig", &sig, &siglen, err)) < 0) {
		free(bytes);
		return r;
	}
	if ((r = vg_policy_submit(d, bytes, len, sig, siglen, "push", 0, actor(peer), load_replied, c, err)) < 0)
		return r;
	return -EINPROGRESS;
}

static int ctl_rollback(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, struct vg_err *err,
			struct vg_client *c)
{
	const char *reason = json_string_value(json_object_get(req, "reason"));
	char *bytes = NULL, *sig = NULL;
	size_t len, siglen;
	json_t *extra;
	int r;

	if (!reason || strlen(reason) < 3)
		return vg_err_set(err, EINVAL, "reason_required", "reason",
				  "a rollback needs a reason (e.g. --reason \"INC-42 bad egress rule\")");
	if ((r = read_pair(d, "lkg.json", &bytes, &len, &sig, &siglen, err)) < 0)
		return strcmp(err->code, "unreadable") ? r : vg_err_set(err, ENOENT, "no_last_known_good", NULL,
				  "there is no last-known-good bundle to roll back to");
	extra = actor(peer);
	json_object_set_new(extra, "reason", json_string(reason));
	json_object_set_new(extra, "rolled_back_from", json_pack("{s:I, s:s}", "version",
								   (json_int_t)(d->pol.bundle ? d->pol.bundle->version : 0),
								   "policy_digest", d->pol.bundle ? d->pol.bundle->digest : ""));
	if ((r = vg_policy_submit(d, bytes, len, sig, siglen, "rollback", VG_LOAD_ROLLBACK, extra, load_replied, c,
				  err)) < 0)
		return r;
	return -EINPROGRESS;
}

/*
 * policy.show: a piece of the running bundle, offset..offset+max (at most SHOW_PIECE), read from
 * the file under policy/ that holds it (or from memory when none could be written). vigilctl
 * asks piece after piece and checks the whole against the applied digest: a 1M-rule bundle is
 * 117 MB, which no single reply carries and which vigild's loop must not parse to show.
 */
#define SHOW_PIECE (4u << 20)

static int show_piece(struct vg_daemon *d, uint64_t off, size_t max, char **b64, uint64_t *total, char *path,
		      size_t pathlen, struct vg_err *err)
{
	struct vg_policy_state *p = &d->pol;
	char *bytes = NULL;
	size_t len;
	int r;

	path[0] = '\0';
	if (p->bytes) {
		*total = p->len;
		len = off >= p->len ? 0 : p->len - off < max ? (size_t)(p->len - off) : max;
		*b64 = vg_b64_encode((const uint8_t *)p->bytes + (off < p->len ? off : 0), len, false);
		return *b64 ? 0 : vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
	}
	policy_path(d, p->running_file[0] ? p->running_file : "current.json", path, pathlen);
	if (!p->running_file[0])
		return vg_err_set(err, EIO, "not_persisted", path,
				  "the running bundle could not be written to %s (see vigild's log), so it cannot be "
				  "shown; push it again once the disk is fixed", path);
	if ((r = vg_read_trusted_range(path, off, max, &bytes, &len, total, err)) < 0)
		return r;
	*b64 = vg_b64_encode((const uint8_t *)bytes, len, false);
	free(bytes);
	return *b64 ? 0 : vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
}

static int ctl_show(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, json_t **reply, struct vg_err *err)
{
	json_t *o = json_object_get(req, "offset"), *m = json_object_get(req, "max");
	size_t max = SHOW_PIECE;
	uint64_t off = 0, total;
	char *b64 = NULL, path[512];
	int r;

	if (!d->pol.bundle)
		return vg_err_set(err, ENOENT, "no_policy", NULL, "no bundle is applied yet");
	if ((o && (!json_is_integer(o) || json_integer_value(o) < 0)) ||
	    (m && (!json_is_integer(m) || json_integer_value(m) <= 0)))
		return vg_err_set(err, EINVAL, "bad_request", o ? "offset" : "max",
				  "offset must be an integer >= 0 and max one > 0");
	if (o)
		off = (uint64_t)json_integer_value(o);
	if (m && (uint64_t)json_integer_value(m) < max)
		max = (size_t)json_integer_value(m);
	if ((r = show_piece(d, off, max, &b64, &total, path, sizeof(path), err)) < 0)
		return r;
	*reply = json_pack("{s:o, s:I, s:I, s:s, s:s}", "summary", bundle_summary(d->pol.bundle), "offset",
			   (json_int_t)off, "total", (json_int_t)total, "bytes", b64, "file", path);
	free(b64);
	return *reply ? 0 : vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
}

static int ctl_trust_update(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, json_t **reply,
			    struct vg_err *err)
{
	char *bytes = NULL, *sig = NULL, digest[65];
	size_t len, siglen;
	struct vg_trust *nt = NULL;
	int64_t oldv;
	int r;

	if (!d->trust)
		return vg_err_set(err, EPERM, "trust_missing", d->cfg.trust_file,
				  "no current trust file: install the first one by hand (it is the root of trust)");
	if ((r = b64_field(req, "trust", &bytes, &len, err)) < 0)
		return r;
	if ((r = b64_field(req, "sig", &sig, &siglen, err)) < 0)
		goto out;
	vg_sha256_hex(bytes, len, digest);
	if ((r = vg_trust_check_rotation(d->trust, bytes, len, sig, siglen, &nt, err)) < 0) {
		json_t *data = actor(peer);

		json_object_set_new(data, "outcome", json_string("rejected"));
		json_object_set_new(data, "reason", json_string(err->msg));
		json_object_set_new(data, "reason_code", json_string(err->code));
		json_object_set_new(data, "trust_digest", json_string(digest));
		vg_daemon_audit(d, "trust.rejected", "trust", data);
		goto out;
	}
	{
		char spath[300];

		snprintf(spath, sizeof(spath), "%s.sig", d->cfg.trust_file);
		if ((r = vg_write_file_atomic(spath, sig, siglen, vg_file_mode(VG_FILE_PUBLIC))) < 0 ||
		    (r = vg_write_file_atomic(d->cfg.trust_file, bytes, len, vg_file_mode(VG_FILE_PUBLIC))) < 0) {
			r = vg_err_set(err, -r, "trust_write", d->cfg.trust_file, "cannot write the trust file: %s",
				       strerror(-r));
			vg_trust_free(nt);
			goto out;
		}
	}
	oldv = d->trust->version;
	vg_trust_free(d->trust);
	d->trust = nt;
	{
		json_t *data = actor(peer);

		json_object_set_new(data, "outcome", json_string("rotated"));
		json_object_set_new(data, "from_version", json_integer(oldv));
		json_object_set_new(data, "to_version", json_integer(nt->version));
		json_object_set_new(data, "trust_digest", json_string(nt->digest));
		vg_daemon_audit(d, "trust.rotated", "trust", data);
	}
	vg_log(LOG_NOTICE, "trust: rotated from version %lld to %lld", (long long)oldv, (long long)nt->version);
	*reply = json_pack("{s:I, s:i, s:i}", "version", (json_int_t)nt->version, "keys", (int)nt->nkeys, "threshold",
			   (int)nt->threshold);
out:
	free(bytes);
	free(sig);
	return r;
}

int vg_policy_ctl(struct vg_daemon *d, const struct vg_peer *peer, const char *cmd, json_t *req, json_t **reply,
		  struct vg_err *err, struct vg_client *client)
{
	if (!strcmp(cmd, "policy.push"))
		return ctl_push(d, peer, req, err, client);
	if (!strcmp(cmd, "policy.rollback"))
		return ctl_rollback(d, peer, req, err, client);
	if (!strcmp(cmd, "policy.show"))
		return ctl_show(d, peer, req, reply, err);
	if (!strcmp(cmd, "trust.update"))
		return ctl_trust_update(d, peer, req, reply, err);
	return -ENOENT;
}
