/* SPDX-License-Identifier: Apache-2.0 */
/* The per-sink forwarding thread: read from the cursor, send a batch, advance on acknowledgement. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "daemon.h"
#include "forward.h"
#include "vigil/auditlog.h"
#include "vigil/util.h"

#define FWD_MAX_BATCH_BYTES (4u << 20)
#define FWD_BACKOFF_MIN_MS 200u
#define FWD_BACKOFF_MAX_MS 30000u
#define FWD_IDLE_RESET_S 5
#define FWD_PERSIST_MS 500u
/* a sink that confirms by session (RELP): the longest a session stays open while behind */
#define FWD_CONFIRM_MS 1000u

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

struct vg_fwd *vg_fwd_new(const struct vg_sink *s, const char *log_dir, const char *state_dir, const char *log_id,
			  const char *hostname)
{
	struct vg_fwd *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->name = strdup(s->name);
	f->target = strdup(s->target);
	f->ca_file = dup_or_null(s->ca_file);
	f->cert_file = dup_or_null(s->cert_file);
	f->key_file = dup_or_null(s->key_file);
	f->type = s->type;
	f->tls = s->tls;
	f->batch = s->batch ? s->batch : 1000;
	if (f->batch > 10000)
		f->batch = 10000;
	f->ops = s->type == VG_SINK_RELP ? &vg_fwd_relp_ops : &vg_fwd_https_ops;
	snprintf(f->log_dir, sizeof(f->log_dir), "%s", log_dir);
	snprintf(f->cursor_path, sizeof(f->cursor_path), "%s/cursors/%s.json", state_dir, s->name);
	snprintf(f->log_id, sizeof(f->log_id), "%s", log_id);
	snprintf(f->hostname, sizeof(f->hostname), "%s", hostname);
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	if (!f->name || !f->target || (s->ca_file && !f->ca_file) || (s->cert_file && !f->cert_file) ||
	    (s->key_file && !f->key_file)) {
		vg_fwd_free(f);
		return NULL;
	}
	return f;
}

static bool streq_null(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool vg_fwd_same(const struct vg_fwd *f, const struct vg_sink *s)
{
	return strcmp(f->name, s->name) == 0 && f->type == s->type && strcmp(f->target, s->target) == 0 &&
	       streq_null(f->ca_file, s->ca_file) && streq_null(f->cert_file, s->cert_file) &&
	       streq_null(f->key_file, s->key_file) && f->tls == s->tls && f->batch == (s->batch ? s->batch : 1000);
}

/* The cursor survives restarts; it belongs to one log (log_id), else starts over. */
static uint64_t load_cursor(struct vg_fwd *f)
{
	char *txt = NULL;
	json_t *j;
	uint64_t seq = 0;

	if (vg_read_file(f->cursor_path, 4096, &txt, NULL) < 0)
		return 0;
	j = json_loads(txt, 0, NULL);
	free(txt);
	if (json_is_string(json_object_get(j, "log_id")) &&
	    strcmp(json_string_value(json_object_get(j, "log_id")), f->log_id) == 0 &&
	    json_integer_value(json_object_get(j, "seq")) > 0)
		seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
	json_decref(j);
	return seq;
}

static void persist_cursor(struct vg_fwd *f, uint64_t seq)
{
	char buf[512], dir[512];
	int n = snprintf(buf, sizeof(buf), "{\"sink\":\"%s\",\"log_id\":\"%s\",\"seq\":%" PRIu64 "}\n", f->name,
			 f->log_id, seq);

	snprintf(dir, sizeof(dir), "%s", f->cursor_path);
	*strrchr(dir, '/') = '\0';
	vg_mkdir_p(dir, 0700);
	if (vg_write_file_atomic(f->cursor_path, buf, (size_t)n, 0600) < 0)
		vg_log(LOG_WARNING, "audit sink %s: cannot save cursor %s", f->name, f->cursor_path);
}

struct arena {
	char *buf;
	size_t len, cap;
	size_t *offs;
};

static int arena_add(struct arena *a, const char *p, size_t len)
{
	if (a->len + len + 1 > a->cap) {
		size_t cap = a->cap ? a->cap : 1 << 16;
		char *nb;

		while (cap < a->len + len + 1)
			cap *= 2;
		if (!(nb = realloc(a->buf, cap)))
			return -ENOMEM;
		a->buf = nb;
		a->cap = cap;
	}
	memcpy(a->buf + a->len, p, len);
	a->buf[a->len + len] = '\0';
	a->len += len + 1;
	return 0;
}

static void set_error(struct vg_fwd *f, const char *msg)
{
	pthread_mutex_lock(&f->mu);
	snprintf(f->last_error, sizeof(f->last_error), "%s", msg);
	f->last_err_at = vg_now();
	f->failures++;
	f->connected = false;
	pthread_mutex_unlock(&f->mu);
}

/* wait up to ms (or until stopped); true when asked to stop */
static bool wait_ms(struct vg_fwd *f, uint64_t ms)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&f->mu);
	if (!f->stop)
		pthread_cond_timedwait(&f->cv, &f->mu, &ts);
	stop = f->stop;
	pthread_mutex_unlock(&f->mu);
	return stop;
}

static bool fwd_caught_up(struct vg_fwd *f, uint64_t pos)
{
	bool r;

	pthread_mutex_lock(&f->mu);
	r = f->stop || f->durable <= pos;
	pthread_mutex_unlock(&f->mu);
	return r;
}

/* the sink acknowledged every seq up to cursor (n more events sent) */
static void fwd_acked(struct vg_fwd *f, uint64_t cursor, size_t n)
{
	pthread_mutex_lock(&f->mu);
	f->cursor = cursor;
	f->sent_events += n;
	f->batches++;
	f->last_ok = vg_now();
	f->connected = true;
	if (f->durable <= cursor)
		f->behind_since = 0;
	pthread_mutex_unlock(&f->mu);
}

static void *fwd_main(void *arg)
{
	struct vg_fwd *f = arg;
	struct vg_audit_reader *rd = NULL;
	struct arena a = { 0 };
	struct arena pend = { 0 }; /* a record read past the durable point, kept for later */
	uint64_t pend_seq = 0, cursor, saved, last_save_ms = 0;
	uint64_t pos, opened_ms = 0; /* pos: last seq handed to the session (> cursor: unconfirmed) */
	uint32_t backoff = 0;
	unsigned int seed = (unsigned int)(vg_now_ms_monotonic() ^ (uintptr_t)f);
	size_t *offs = calloc(f->batch, sizeof(*offs));
	uint64_t *seqs = calloc(f->batch, sizeof(*seqs));
	char **evs = calloc(f->batch, sizeof(*evs));
	size_t *lens = calloc(f->batch, sizeof(*lens));
	char errbuf[256];

	pthread_mutex_lock(&f->mu);
	cursor = saved = pos = f->cursor;
	pthread_mutex_unlock(&f->mu);
	if (!offs || !seqs || !evs || !lens) {
		set_error(f, "out of memory");
		goto out;
	}
	for (;;) {
		uint64_t durable;
		bool idle = false;
		size_t n = 0;
		struct vg_arec rec;
		struct vg_err err;
		int k = 0;

		/* caught up, or the session was open long enough: confirm what it carried */
		if (pos > cursor && (fwd_caught_up(f, pos) || vg_now_ms_monotonic() - opened_ms >= FWD_CONFIRM_MS)) {
			errbuf[0] = '\0';
			if (f->ops->confirm(f, errbuf, sizeof(errbuf)) < 0)
				goto failed;
			fwd_acked(f, pos, 0);
			cursor = pos;
		}
		pthread_mutex_lock(&f->mu);
		while (!f->stop && f->durable <= pos) {
			struct timespec ts;

			if (f->connected && vg_now() - f->last_ok >= FWD_IDLE_RESET_S) {
				idle = true;
				break;
			}
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&f->cv, &f->mu, &ts);
		}
		durable = f->durable;
		bool stop = f->stop;

		if (idle)
			f->connected = false;
		pthread_mutex_unlock(&f->mu);
		if (stop)
			break;
		if (idle) {
			/* an idle session is closed; the next batch opens a fresh one */
			f->ops->reset(f);
			continue;
		}
		if (saved != cursor && vg_now_ms_monotonic() - last_save_ms >= FWD_PERSIST_MS) {
			persist_cursor(f, cursor);
			saved = cursor;
			last_save_ms = vg_now_ms_monotonic();
		}
		if (!rd && vg_audit_reader_open(f->log_dir, cursor + 1, &rd, &err) < 0) {
			set_error(f, err.msg);
			if (wait_ms(f, 1000))
				break;
			continue;
		}
		a.len = 0;
		if (pend_seq && pend_seq <= durable) {
			if (pend_seq > pos) {
				arena_add(&a, pend.buf, pend.len - 1);
				offs[0] = 0;
				seqs[0] = pend_seq;
				n = 1;
			}
			pend_seq = 0;
		}
		while (!pend_seq && n < f->batch && a.len < FWD_MAX_BATCH_BYTES) {
			size_t off = a.len;

			k = vg_audit_reader_next(rd, &rec, NULL, &err);
			if (k == -EBADMSG) {
				/* damage: the reader goes on after it, and the log's audit.damaged
				 * record tells the sink which seqs are gone */
				set_error(f, err.msg);
				continue;
			}
			if (k <= 0)
				break;
			if (rec.seq <= pos)
				continue;
			if (rec.seq > durable) {
				pend.len = 0;
				if (arena_add(&pend, rec.payload, rec.len) == 0)
					pend_seq = rec.seq;
				break;
			}
			if (arena_add(&a, rec.payload, rec.len) < 0) {
				k = -ENOMEM;
				break;
			}
			offs[n] = off;
			seqs[n] = rec.seq;
			n++;
		}
		if (k < 0) {
			/* unreadable log (e.g. a segment removed under us): start over from the cursor */
			set_error(f, err.msg);
			vg_audit_reader_free(rd);
			rd = NULL;
			pend_seq = 0;
			if (wait_ms(f, 1000))
				break;
			continue;
		}
		if (n == 0) {
			/* the records are durable but not visible to this reader yet */
			if (wait_ms(f, 10))
				break;
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			evs[i] = a.buf + offs[i];
			lens[i] = (i + 1 < n ? offs[i + 1] : a.len) - offs[i] - 1;
		}
		struct vg_fwd_batch b = { .n = n, .events = evs, .lens = lens, .first_seq = seqs[0],
					  .last_seq = seqs[n - 1], .hostname = f->hostname };

		errbuf[0] = '\0';
		if (f->ops->send(f, &b, errbuf, sizeof(errbuf)) == 0) {
			if (pos == cursor)
				opened_ms = vg_now_ms_monotonic();
			pos = b.last_seq;
			backoff = 0;
			if (!f->ops->confirm) {
				fwd_acked(f, pos, n);
				cursor = pos;
			} else {
				pthread_mutex_lock(&f->mu);
				f->sent_events += n;
				pthread_mutex_unlock(&f->mu);
			}
			continue;
		}
failed:
		/* resend from the last confirmed seq: the session's unconfirmed frames included */
		pos = cursor;
		set_error(f, errbuf[0] ? errbuf : "send failed");
		vg_log(LOG_WARNING, "audit sink %s: %s (retrying from seq %" PRIu64 ")", f->name, errbuf,
		       cursor + 1);
		f->ops->reset(f);
		vg_audit_reader_free(rd);
		rd = NULL;
		pend_seq = 0;
		/* exponential backoff with +-25% jitter so a fleet does not reconnect in step */
		backoff = backoff ? backoff * 2 : FWD_BACKOFF_MIN_MS;
		if (backoff > FWD_BACKOFF_MAX_MS)
			backoff = FWD_BACKOFF_MAX_MS;
		if (wait_ms(f, backoff * 3 / 4 + (uint64_t)rand_r(&seed) % (backoff / 2 + 1)))
			break;
	}
out:
	if (saved != cursor)
		persist_cursor(f, cursor);
	vg_audit_reader_free(rd);
	free(a.buf);
	free(pend.buf);
	free(offs);
	free(seqs);
	free(evs);
	free(lens);
	return NULL;
}

int vg_fwd_start(struct vg_fwd *f, uint64_t durable, char *errbuf, size_t len)
{
	int r;

	f->cursor = load_cursor(f);
	f->durable = durable;
	if (f->durable > f->cursor)
		f->behind_since = vg_now();
	if ((r = f->ops->create(f, errbuf, len)) < 0)
		return r;
	if ((r = pthread_create(&f->thread, NULL, fwd_main, f)) != 0) {
		snprintf(errbuf, len, "cannot start the forwarding thread: %s", strerror(r));
		return -r;
	}
	f->started = true;
	return 0;
}

void vg_fwd_notify(struct vg_fwd *f, uint64_t durable)
{
	pthread_mutex_lock(&f->mu);
	if (durable > f->durable) {
		if (f->durable <= f->cursor && durable > f->cursor)
			f->behind_since = vg_now();
		f->durable = durable;
		pthread_cond_signal(&f->cv);
	}
	pthread_mutex_unlock(&f->mu);
}

uint64_t vg_fwd_cursor(struct vg_fwd *f)
{
	uint64_t c;

	pthread_mutex_lock(&f->mu);
	c = f->cursor;
	pthread_mutex_unlock(&f->mu);
	return c;
}

void vg_fwd_free(struct vg_fwd *f)
{
	if (!f)
		return;
	if (f->started) {
		pthread_mutex_lock(&f->mu);
		f->stop = true;
		pthread_cond_signal(&f->cv);
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->thread, NULL);
	}
	if (f->impl)
		f->ops->destroy(f);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f->name);
	free(f->target);
	free(f->ca_file);
	free(f->cert_file);
	free(f->key_file);
	free(f);
}
