/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Audit module of vigild (docs/audit.md): the one emitter every subsystem calls
 * (vg_daemon_audit), group commit of the hash-chained log, periodic duties
 * (checkpoints, retention, degraded state) and the forwarders of the sinks the
 * running bundle names.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/epoll.h>

#include "audit.h"
#include "forward.h"
#include "vigil/auditlog.h"
#include "vigil/hostkey.h"
#include "vigil/util.h"

/* group commit: the events of one loop turn are written together, on the next turn; their
 * fdatasync starts when the previous one is done (events arriving meanwhile share the next) */
#define COMMIT_DELAY_MS 0
#define TICK_MS 1000
#define AGGREGATE_INTERVAL_S 10
#define NOTE_MAX_REPEAT 1000000
#define NOTE_MAX_LEN 1024

static struct {
	struct vg_auditlog *log;
	EVP_PKEY *key;
	char dir[512];
	int commit_timer, tick_timer;
	struct vg_fwd **fwds;
	size_t nfwds;
	json_t *agg; /* while degraded: {"egress.denied": {"tenant": count}}, dns.query too */
	time_t agg_since;
	char state_logged[160]; /* the degraded state last written to the journal */
	bool stopping, atexit_set;
	struct vg_daemon *d;
	struct waiter *waiters; /* answers that wait for their records to be durable */
	size_t nwaiters, capwaiters;
} A;

struct waiter {
	uint64_t end; /* every record with seq < end */
	vg_audit_durable_cb cb;
	void *arg;
};

static void audit_atexit(void)
{
	/* after the core's last event (agent.stopped): seal the log */
	vg_auditlog_close(A.log);
	A.log = NULL;
	EVP_PKEY_free(A.key);
	A.key = NULL;
}

static int ensure_open(struct vg_daemon *d, struct vg_err *err)
{
	const struct vg_config *c = vg_daemon_config(d);
	struct vg_auditlog_opts o = { 0 };
	char source[300];
	int r;

	if (A.log)
		return 0;
	A.d = d;
	if (!A.key && (r = vg_hostkey_load_or_create(c->state_dir, &A.key, err)) < 0)
		return r;
	snprintf(A.dir, sizeof(A.dir), "%s/audit", c->state_dir);
	snprintf(source, sizeof(source), "vigil://%s", vg_daemon_hostname(d));
	o.dir = A.dir;
	o.source = source;
	o.key = A.key;
	o.segment_bytes = c->audit_segment_bytes;
	o.spool_max_bytes = c->audit_spool_max_bytes;
	o.checkpoint_every = c->audit_checkpoint_every;
	o.checkpoint_interval_s = c->audit_checkpoint_interval_s;
	o.when_full = strcmp(c->audit_when_full, "rotate") == 0 ? VG_AUDIT_FULL_ROTATE : VG_AUDIT_FULL_DEGRADE;
	o.retention_days = c->audit_retention_days;
	if ((r = vg_auditlog_open(&o, &A.log, err)) < 0)
		return r;
	if (!A.atexit_set) {
		atexit(audit_atexit);
		A.atexit_set = true;
	}
	return 0;
}

static void notify_forwarders(void)
{
	uint64_t durable = vg_auditlog_durable_seq(A.log);

	for (size_t i = 0; i < A.nfwds; i++)
		vg_fwd_notify(A.fwds[i], durable);
}

/* Why the log is degraded ("" when it is not), as status and the journal say it. */
static void degraded_reason(const struct vg_audit_stats *st, char *buf, size_t len)
{
	if (st->write_errno)
		snprintf(buf, len, "write_failed: %s", strerror(st->write_errno));
	else if (st->spool_full)
		snprintf(buf, len, "spool_full");
	else
		buf[0] = '\0';
}

/* One journal line per change of the degraded state, saying why. */
static void log_state_change(void)
{
	struct vg_audit_stats st;
	char why[160];

	vg_auditlog_stats(A.log, &st);
	degraded_reason(&st, why, sizeof(why));
	if (strcmp(why, A.state_logged) == 0)
		return;
	if (why[0])
		vg_log(LOG_WARNING,
		       "audit: degraded (%s): elevation is refused and events that cannot be written are counted "
		       "(vigilctl audit status)",
		       why);
	else
		vg_log(LOG_NOTICE, "audit: left the degraded state (%s)", A.state_logged);
	snprintf(A.state_logged, sizeof(A.state_logged), "%s", why);
}

static int add_waiter(uint64_t end, vg_audit_durable_cb cb, void *arg)
{
	if (A.nwaiters == A.capwaiters) {
		size_t cap = A.capwaiters ? A.capwaiters * 2 : 16;
		struct waiter *w = realloc(A.waiters, cap * sizeof(*w));

		if (!w)
			return -ENOMEM;
		A.waiters = w;
		A.capwaiters = cap;
	}
	A.waiters[A.nwaiters++] = (struct waiter){ end, cb, arg };
	return 0;
}

/* After a commit: answer whoever waited for records that are now durable, or that the disk
 * refused (the batch stays buffered and is retried, but nothing in it is acknowledged). */
static void run_waiters(void)
{
	struct vg_audit_stats st;
	struct waiter *w = A.waiters;
	size_t n = A.nwaiters;

	if (!n)
		return;
	vg_auditlog_stats(A.log, &st);
	A.waiters = NULL;
	A.nwaiters = A.capwaiters = 0;
	for (size_t i = 0; i < n; i++) {
		if (st.durable_seq + 1 >= w[i].end)
			w[i].cb(A.d, 0, w[i].arg);
		else if (st.write_errno || A.stopping)
			w[i].cb(A.d, st.write_errno ? -st.write_errno : -ESHUTDOWN, w[i].arg);
		else if (add_waiter(w[i].end, w[i].cb, w[i].arg) < 0)
			w[i].cb(A.d, -ENOMEM, w[i].arg);
	}
	free(w);
}

/* after a commit settled (durable, or refused by the disk) */
static void committed(void)
{
	log_state_change();
	notify_forwarders();
	run_waiters();
}

/* synchronous: at shutdown */
static int commit_now(void)
{
	int r = vg_auditlog_commit(A.log, NULL);

	committed();
	return r;
}

static void on_synced(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	vg_auditlog_reap(A.log, false, NULL);
	committed();
}

/* The group's fdatasync runs on the log's sync thread: the loop goes on serving requests
 * (and gathering the next group) meanwhile; answers wait in run_waiters for their records. */
static void commit_async(void)
{
	int had = vg_auditlog_sync_fd(A.log);

	vg_auditlog_commit_async(A.log, NULL);
	if (had < 0 && vg_auditlog_sync_fd(A.log) >= 0 &&
	    vg_loop_add_fd(A.d, vg_auditlog_sync_fd(A.log), EPOLLIN, on_synced, NULL) < 0) {
		vg_log(LOG_ERR, "audit: cannot watch the sync thread; committing synchronously");
		vg_auditlog_reap(A.log, true, NULL);
	}
	/* a refusal by the disk is known at once */
	committed();
}

static void on_commit_timer(struct vg_daemon *d, void *arg)
{
	A.commit_timer = 0;
	commit_async();
}

static bool aggregate(const char *type, json_t *data)
{
	const char *tenant = json_string_value(json_object_get(data, "tenant"));
	json_t *per;

	/* per-connection and per-question events (docs/enforcement.md, docs/dns.md) */
	if (strncmp(type, "egress.", 7) != 0 && strcmp(type, "dns.query") != 0)
		return false;
	if (!A.agg) {
		A.agg = json_object();
		A.agg_since = vg_now();
	}
	per = json_object_get(A.agg, type);
	if (!per)
		json_object_set_new(A.agg, type, per = json_object());
	tenant = tenant ? tenant : "-";
	json_object_set_new(per, tenant, json_integer(json_integer_value(json_object_get(per, tenant)) + 1));
	json_decref(data);
	return true;
}

/* *seq: the seq given to the event (0 when aggregated) */
static int emit_event(struct vg_daemon *d, const char *type, const char *subject, json_t *data, uint64_t *seq)
{
	const struct vg_bundle *b = vg_daemon_bundle(d);
	struct vg_err err = { 0 };
	char msg[1024];
	int r;

	if (!data)
		data = json_object();
	if (!data)
		return -ENOMEM;
	if ((r = ensure_open(d, &err)) < 0) {
		vg_log(LOG_ERR, "audit: cannot open the log, event %s lost: %s", type,
		       vg_err_str(&err, msg, sizeof(msg)));
		json_decref(data);
		return r;
	}
	if (!json_object_get(data, "policy_digest"))
		json_object_set_new(data, "policy_digest", b ? json_string(b->digest) : json_null());
	/* degraded: per-connection deny events would fill what is left; count them instead */
	if (vg_auditlog_degraded(A.log) && aggregate(type, data))
		return 0;
	r = vg_auditlog_emit(A.log, type, subject, data, seq);
	/* refusals are counted by the log and the state change is journalled once */
	if (r < 0 && !vg_auditlog_degraded(A.log))
		vg_log(LOG_ERR, "audit: cannot record %s: %s", type, strerror(-r));
	if (A.stopping)
		commit_now();
	else if (!A.commit_timer)
		A.commit_timer = vg_loop_add_timer(d, COMMIT_DELAY_MS, on_commit_timer, NULL);
	return r;
}

int vg_daemon_audit(struct vg_daemon *d, const char *type, const char *subject, json_t *data)
{
	uint64_t seq = 0;

	return emit_event(d, type, subject, data, &seq);
}

/* The first record read back is the one asked for (from, or seq 1 for the whole log): the
 * records before it were not removed by retention or rotation (their content is unknown). */
static int replay_starts_at(uint64_t from, uint64_t first, struct vg_err *err)
{
	uint64_t want = from ? from : 1;

	if (first <= want)
		return 0;
	return vg_err_set(err, ENODATA, "audit_log_trimmed", A.dir,
			  "the audit log no longer holds records %" PRIu64 "..%" PRIu64
			  " (removed by retention or rotation, or damaged); it starts at seq %" PRIu64,
			  want, first - 1, first);
}

int vg_audit_replay(struct vg_daemon *d, uint64_t from, vg_audit_replay_cb fn, void *arg, struct vg_err *err)
{
	struct vg_audit_reader *rd = NULL;
	struct vg_arec rec;
	bool started = false;
	int r;

	if (!A.log)
		return vg_err_set(err, ENODEV, "audit_unavailable", "audit", "the audit log is not open");
#if VIGIL_TEST_HOOKS
	/* tests stand in for a log that cannot be read back (an I/O error, no descriptor left) */
	if ((r = atoi(getenv("VIGIL_TEST_AUDIT_REPLAY_ERRNO") ?: "0")) > 0)
		return vg_err_set(err, r, "audit_log_unreadable", A.dir, "cannot read: %s", strerror(r));
#endif
	if ((r = vg_audit_reader_open(A.dir, from, &rd, err)) < 0)
		return r;
	while ((r = vg_audit_reader_next(rd, &rec, NULL, err)) != 0) {
		json_t *ev;
		const char *type;

		if (r == -EBADMSG)
			continue;
		if (r < 0)
			break;
		if (!started && (r = replay_starts_at(from, rec.seq, err)) < 0)
			break;
		started = true;
		if (rec.kind != VG_AREC_EVENT || !(ev = json_loadb(rec.payload, rec.len, 0, NULL)))
			continue;
		type = json_string_value(json_object_get(ev, "type"));
		if (type && strncmp(type, "dev.vigil.", 10) == 0 && json_is_object(json_object_get(ev, "data")))
			fn(type + 10, json_object_get(ev, "data"), arg);
		json_decref(ev);
	}
	vg_audit_reader_free(rd);
	return r;
}

bool vg_audit_degraded(struct vg_daemon *d)
{
	/* no commit here: the grant's own record is made durable with its group (vg_audit_when_durable) */
	return !A.log || vg_auditlog_degraded(A.log);
}

uint64_t vg_audit_next_seq(struct vg_daemon *d)
{
	return A.log ? vg_auditlog_next_seq(A.log) : 0;
}

int vg_audit_when_durable(struct vg_daemon *d, uint64_t end, vg_audit_durable_cb cb, void *arg)
{
	int r;

	if (!A.log)
		return -ENODEV;
	if (vg_auditlog_durable_seq(A.log) + 1 >= end)
		return 1;
	if ((r = add_waiter(end, cb, arg)) < 0)
		return r;
	if (!A.commit_timer && !A.stopping)
		A.commit_timer = vg_loop_add_timer(d, COMMIT_DELAY_MS, on_commit_timer, NULL);
	return 0;
}

static void flush_aggregates(struct vg_daemon *d, bool force)
{
	json_t *data;

	if (!A.agg || (!force && vg_now() - A.agg_since < AGGREGATE_INTERVAL_S))
		return;
	data = json_pack("{s:I, s:I, s:o, s:s}", "interval_start", (json_int_t)A.agg_since, "interval_s",
			 (json_int_t)(vg_now() - A.agg_since), "counts", A.agg, "reason", "audit_degraded");
	A.agg = NULL;
	vg_auditlog_emit(A.log, "egress.aggregated", NULL, data, NULL);
}

static void on_tick(struct vg_daemon *d, void *arg)
{
	struct vg_err err = { 0 };
	uint64_t fwd = UINT64_MAX;
	bool was = vg_auditlog_degraded(A.log);

	for (size_t i = 0; i < A.nfwds; i++) {
		uint64_t c = vg_fwd_cursor(A.fwds[i]);

		if (c < fwd)
			fwd = c;
	}
	vg_auditlog_set_forwarded(A.log, A.nfwds ? fwd : 0, A.nfwds > 0);
	flush_aggregates(d, was && !vg_auditlog_degraded(A.log));
	/* also the retry of a batch the disk refused: recovery needs no operator */
	vg_auditlog_tick(A.log, &err);
	if (was != vg_auditlog_degraded(A.log))
		flush_aggregates(d, true);
	commit_async();
	A.tick_timer = vg_loop_add_timer(d, TICK_MS, on_tick, NULL);
}

static int audit_init(struct vg_daemon *d, struct vg_err *err)
{
	int r = ensure_open(d, err);

	if (r < 0)
		return r;
	A.tick_timer = vg_loop_add_timer(d, TICK_MS, on_tick, NULL);
	return 0;
}

struct staged {
	size_t n;
	struct vg_fwd **fwds; /* new forwarders, or NULL where the running one is kept */
	const struct vg_bundle *b;
};

static struct vg_fwd *find_running(const struct vg_sink *s)
{
	for (size_t i = 0; i < A.nfwds; i++)
		if (vg_fwd_same(A.fwds[i], s))
			return A.fwds[i];
	return NULL;
}

static int audit_prepare(struct vg_daemon *d, const struct vg_bundle *b, void **staged, struct vg_err *err)
{
	struct staged *s = calloc(1, sizeof(*s));
	struct vg_audit_stats st;

	if (!s || !(s->fwds = calloc(b->audit.nsinks + 1, sizeof(*s->fwds)))) {
		free(s);
		return vg_err_set(err, ENOMEM, "no_memory", "$.audit.sinks", "out of memory");
	}
	vg_auditlog_stats(A.log, &st);
	s->n = b->audit.nsinks;
	for (size_t i = 0; i < b->audit.nsinks; i++) {
		const struct vg_sink *k = &b->audit.sinks[i];
		char path[64];

		snprintf(path, sizeof(path), "$.audit.sinks[%zu]", i);
		if (k->type == VG_SINK_RELP && (!strrchr(k->target, ':') || strrchr(k->target, ':')[1] == '\0')) {
			free(s->fwds);
			free(s);
			return vg_err_set(err, EINVAL, "sink_invalid", path, "relp target '%s' must be host:port",
					  k->target);
		}
		if (find_running(k))
			continue;
		s->fwds[i] = vg_fwd_new(k, A.dir, A.dir, st.log_id, vg_daemon_hostname(d));
		if (!s->fwds[i]) {
			for (size_t j = 0; j < i; j++)
				vg_fwd_free(s->fwds[j]);
			free(s->fwds);
			free(s);
			return vg_err_set(err, ENOMEM, "no_memory", path, "out of memory");
		}
	}
	s->b = b;
	*staged = s;
	return 0;
}

static void audit_abort(struct vg_daemon *d, void *staged)
{
	struct staged *s = staged;

	for (size_t i = 0; i < s->n; i++)
		vg_fwd_free(s->fwds[i]);
	free(s->fwds);
	free(s);
}

static void audit_commit(struct vg_daemon *d, const struct vg_bundle *b, void *staged)
{
	struct staged *s = staged;
	struct vg_fwd **next = calloc(s->n + 1, sizeof(*next));
	uint64_t durable = vg_auditlog_durable_seq(A.log);
	char errbuf[256];

	if (!next) {
		/* keep the running forwarders: better stale sinks than none */
		audit_abort(d, staged);
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		next[i] = s->fwds[i] ? s->fwds[i] : find_running(&b->audit.sinks[i]);
		if (!s->fwds[i])
			continue;
		if (vg_fwd_start(next[i], durable, errbuf, sizeof(errbuf)) < 0) {
			vg_log(LOG_ERR, "audit sink %s: %s", b->audit.sinks[i].name, errbuf);
			snprintf(next[i]->last_error, sizeof(next[i]->last_error), "%s", errbuf);
		}
	}
	/* forwarders the new bundle no longer names stop (their cursor is kept on disk) */
	for (size_t i = 0; i < A.nfwds; i++) {
		bool kept = false;

		for (size_t j = 0; j < s->n; j++)
			kept |= next[j] == A.fwds[i];
		if (!kept)
			vg_fwd_free(A.fwds[i]);
	}
	free(A.fwds);
	A.fwds = next;
	A.nfwds = s->n;
	free(s->fwds);
	free(s);
}

static json_t *status_json(struct vg_daemon *d)
{
	struct vg_audit_stats st;
	json_t *o, *sinks = json_array();
	time_t now = vg_now();

	char why[160];

	vg_auditlog_stats(A.log, &st);
	degraded_reason(&st, why, sizeof(why));
	for (size_t i = 0; i < A.nfwds; i++) {
		struct vg_fwd *f = A.fwds[i];
		json_t *j;

		pthread_mutex_lock(&f->mu);
		uint64_t lag = f->durable > f->cursor ? f->durable - f->cursor : 0;

		j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:s}", "name", f->name, "type",
			      f->type == VG_SINK_RELP ? "relp" : "https", "target", f->target, "cursor",
			      (json_int_t)f->cursor, "lag_events", (json_int_t)lag, "lag_seconds",
			      (json_int_t)(lag && f->behind_since ? now - f->behind_since : 0), "sent_events",
			      (json_int_t)f->sent_events, "batches", (json_int_t)f->batches, "failures",
			      (json_int_t)f->failures, "connected", f->connected, "last_error", f->last_error);
		if (f->last_ok)
			json_object_set_new(j, "last_ok", json_integer(f->last_ok));
		pthread_mutex_unlock(&f->mu);
		json_array_append_new(sinks, j);
	}
	o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:I, s:I, s:o}", "dir", A.dir, "log_id",
		      st.log_id, "next_seq", (json_int_t)st.next_seq, "durable_seq", (json_int_t)st.durable_seq,
		      "forwarded_seq", (json_int_t)st.forwarded_seq, "spool_bytes", (json_int_t)st.spool_bytes,
		      "spool_max_bytes", (json_int_t)vg_daemon_config(d)->audit_spool_max_bytes, "segments",
		      (json_int_t)st.segments, "degraded", st.degraded, "dropped_while_degraded",
		      (json_int_t)st.dropped_full, "dropped_by_rotate", (json_int_t)st.dropped_rotate, "sinks", sinks);
	json_object_set_new(o, "last_checkpoint_seq", json_integer((json_int_t)st.last_checkpoint_seq));
	json_object_set_new(o, "pending_events", json_integer((json_int_t)st.pending_events));
	json_object_set_new(o, "commits", json_integer((json_int_t)st.commits));
	json_object_set_new(o, "dropped_unwritable", json_integer((json_int_t)st.dropped_unwritable));
	if (st.degraded) {
		json_object_set_new(o, "degraded_since", json_integer(st.degraded_since));
		json_object_set_new(o, "degraded_reason", json_string(why));
	}
	return o;
}

static void audit_status(struct vg_daemon *d, json_t *status)
{
	json_t *o = status_json(d);

	json_object_update(status, o);
	json_decref(o);
}

/* a note request waiting for its group commit */
struct note_wait {
	struct vg_client *c;
	uint64_t first, last, refused, n;
};

/* the reply is the acknowledgement: it claims only what is on disk */
static int note_answer(const struct note_wait *w, int r, json_t **reply, struct vg_err *err)
{
	struct vg_audit_stats st;
	char why[160];

	vg_auditlog_stats(A.log, &st);
	if (!w->refused && r == 0 && w->last <= st.durable_seq) {
		*reply = json_pack("{s:I, s:I}", "first_seq", (json_int_t)w->first, "durable_seq",
				   (json_int_t)st.durable_seq);
		return *reply ? 0 : -ENOMEM;
	}
	degraded_reason(&st, why, sizeof(why));
	return vg_err_set(err, EIO, "audit_refused", "audit.note",
			  "%" PRIu64 " of %" PRIu64 " notes were refused and %" PRIu64
			  " are not durable (%s); vigilctl audit status shows why",
			  w->refused, w->n, w->last > st.durable_seq ? w->last - st.durable_seq : 0,
			  why[0] ? why : r < 0 ? strerror(-r) : "write failed");
}

static void note_durable(struct vg_daemon *d, int r, void *arg)
{
	struct note_wait *w = arg;
	struct vg_err err = { 0 };
	json_t *reply = NULL;

	r = note_answer(w, r, &reply, &err);
	vg_client_reply(d, w->c, r, reply, &err);
	free(w);
}

static int ctl_note(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, json_t **reply, struct vg_err *err)
{
	const char *text = json_string_value(json_object_get(req, "text"));
	json_t *rep = json_object_get(req, "repeat");
	json_int_t n = rep ? json_integer_value(rep) : 1;
	struct note_wait w = { 0 }, *wp;
	char subj[32];
	int r;

	if (!text || strlen(text) > NOTE_MAX_LEN)
		return vg_err_set(err, EINVAL, "bad_request", "$.text", "text must be a string of at most %d bytes",
				  NOTE_MAX_LEN);
	if ((rep && !json_is_integer(rep)) || n < 1 || n > NOTE_MAX_REPEAT)
		return vg_err_set(err, EINVAL, "bad_request", "$.repeat", "repeat must be 1..%d", NOTE_MAX_REPEAT);
	w.first = vg_auditlog_next_seq(A.log);
	w.n = (uint64_t)n;
	snprintf(subj, sizeof(subj), "uid:%u", (unsigned)peer->uid);
	for (json_int_t i = 0; i < n; i++) {
		uint64_t seq = 0;

		if (emit_event(d, "admin.note", subj,
			       json_pack("{s:{s:i, s:i}, s:s, s:s, s:I}", "actor", "uid", (int)peer->uid, "pid",
					 (int)peer->pid, "action", "note", "reason", text, "n", (json_int_t)i + 1),
			       &seq) < 0)
			w.refused++;
		else
			w.last = seq;
	}
	/* answered when the group commit holding the last note is durable: concurrent producers
	 * share one fdatasync */
	if (w.refused || !(wp = malloc(sizeof(*wp))))
		return note_answer(&w, w.refused ? 0 : -ENOMEM, reply, err);
	*wp = w;
	wp->c = vg_ctl_defer(d);
	r = vg_audit_when_durable(d, w.last + 1, note_durable, wp);
	if (r == 0)
		return -EINPROGRESS;
	free(wp);
	return note_answer(&w, r < 0 ? r : 0, reply, err);
}

static int audit_ctl(struct vg_daemon *d, const struct vg_peer *peer, const char *cmd, json_t *req, json_t **reply,
		     struct vg_err *err)
{
	if (strcmp(cmd, "audit.status") == 0) {
		*reply = status_json(d);
		return 0;
	}
	if (strcmp(cmd, "audit.note") == 0)
		return ctl_note(d, peer, req, reply, err);
	if (strcmp(cmd, "audit.seal") == 0) {
		struct vg_audit_stats st;
		int r;

		if ((r = vg_auditlog_seal(A.log, err)) < 0)
			return r;
		notify_forwarders();
		vg_auditlog_stats(A.log, &st);
		*reply = json_pack("{s:I, s:I}", "durable_seq", (json_int_t)st.durable_seq, "last_checkpoint_seq",
				   (json_int_t)st.last_checkpoint_seq);
		return 0;
	}
	return -ENOENT;
}

static void audit_shutdown(struct vg_daemon *d)
{
	if (A.commit_timer)
		vg_loop_cancel_timer(d, A.commit_timer);
	if (A.tick_timer)
		vg_loop_cancel_timer(d, A.tick_timer);
	A.commit_timer = A.tick_timer = 0;
	flush_aggregates(d, true);
	if (vg_auditlog_sync_fd(A.log) >= 0)
		vg_loop_del_fd(d, vg_auditlog_sync_fd(A.log));
	commit_now();
	/* forwarders save their cursors; whatever they did not send goes next start */
	for (size_t i = 0; i < A.nfwds; i++)
		vg_fwd_free(A.fwds[i]);
	free(A.fwds);
	A.fwds = NULL;
	A.nfwds = 0;
	A.stopping = true;
}

const struct vg_module vg_module_audit = {
	.name = "audit",
	.init = audit_init,
	.prepare = audit_prepare,
	.commit = audit_commit,
	.abort = audit_abort,
	.ctl = audit_ctl,
	.status = audit_status,
	.shutdown = audit_shutdown,
};
