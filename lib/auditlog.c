/* SPDX-License-Identifier: Apache-2.0 */
/* The hash-chained local audit log: codec, verifier, reader, writer (docs/audit.md). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/rand.h>

#include "vigil/auditlog.h"
#include "vigil/crypto.h"
#include "vigil/util.h"

/* ---------------------------------------------------------------- codec */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, v >> 32);
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

void vg_arec_encode(uint8_t *out, const uint8_t prev_hash[32], uint64_t seq, uint32_t kind, const void *payload,
		    size_t plen)
{
	memcpy(out + 32, prev_hash, 32);
	memcpy(out + 64, VG_AREC_MAGIC, 4);
	put_be32(out + 68, (uint32_t)plen);
	put_be64(out + 72, seq);
	put_be32(out + 80, kind);
	memcpy(out + VG_AREC_HDR, payload, plen);
	/* hash = sha256(prev_hash ‖ record bytes): one contiguous range */
	vg_sha256(out + 32, VG_AREC_HDR - 32 + plen, out);
}

int vg_arec_decode(const uint8_t *buf, size_t len, struct vg_arec *out, size_t *used)
{
	uint8_t h[32];
	uint32_t plen, kind;

	if (len < VG_AREC_HDR)
		return 0;
	if (memcmp(buf + 64, VG_AREC_MAGIC, 4) != 0)
		return -EBADMSG;
	plen = get_be32(buf + 68);
	kind = get_be32(buf + 80);
	if (plen > VG_AREC_MAX_PAYLOAD || (kind != VG_AREC_EVENT && kind != VG_AREC_CHECKPOINT))
		return -EBADMSG;
	if (len < VG_AREC_HDR + plen)
		return 0;
	vg_sha256(buf + 32, VG_AREC_HDR - 32 + plen, h);
	if (memcmp(h, buf, 32) != 0)
		return -EBADMSG;
	memcpy(out->hash, buf, 32);
	memcpy(out->prev_hash, buf + 32, 32);
	out->seq = get_be64(buf + 72);
	out->kind = kind;
	out->payload = (const char *)buf + VG_AREC_HDR;
	out->len = plen;
	*used = VG_AREC_HDR + plen;
	return 1;
}

int vg_audit_checkpoint_message(char *buf, size_t len, const char *source, const char *log_id, uint64_t covers_seq,
				const char *head_hash_hex, const char *time)
{
	int n = snprintf(buf, len, "vigil-audit-checkpoint/1\n%s\n%s\n%" PRIu64 "\n%s\n%s\n", source, log_id,
			 covers_seq, head_hash_hex, time);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : n;
}

/* ------------------------------------------------------------- verifier */

static void vfail(struct vg_audit_verify *v, uint64_t seq, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void vfail(struct vg_audit_verify *v, uint64_t seq, const char *reason, const char *fmt, ...)
{
	va_list ap;

	if (v->reason[0])
		return;
	v->bad_seq = seq;
	snprintf(v->reason, sizeof(v->reason), "%s", reason);
	va_start(ap, fmt);
	vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
	va_end(ap);
}

void vg_audit_verify_init(struct vg_audit_verify *v, EVP_PKEY *pubkey, uint64_t from_seq)
{
	memset(v, 0, sizeof(*v));
	v->pubkey = pubkey;
	v->from_seq = from_seq;
}

static int hex_decode32(const char *s, uint8_t out[32])
{
	if (!s || strlen(s) != 64)
		return -EINVAL;
	for (int i = 0; i < 32; i++) {
		unsigned int b;

		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return -EINVAL;
		out[i] = (uint8_t)b;
	}
	return 0;
}

/* Checks a checkpoint event: well-formed, signed by pubkey (when given). Fills
 * covers/hash. Returns NULL or a reason text. */
static const char *check_checkpoint(EVP_PKEY *pubkey, json_t *ev, uint64_t *covers, uint8_t hash[32],
				    char log_id[40], char when[32])
{
	json_t *data = json_object_get(ev, "data");
	const char *source = json_string_value(json_object_get(ev, "source"));
	const char *time = json_string_value(json_object_get(ev, "time"));
	const char *lid = json_string_value(json_object_get(data, "log_id"));
	const char *hh = json_string_value(json_object_get(data, "head_hash"));
	const char *sig_b64 = json_string_value(json_object_get(data, "sig"));
	json_t *cov = json_object_get(data, "covers_seq");
	char msg[512];
	uint8_t *sig = NULL;
	size_t siglen = 0;
	int r;

	if (!source || !time || !lid || !hh || !sig_b64 || !json_is_integer(cov) || json_integer_value(cov) < 0 ||
	    strlen(lid) >= 40 || strlen(time) >= 32)
		return "checkpoint is missing fields";
	if (hex_decode32(hh, hash) < 0)
		return "checkpoint head_hash is not 64 hex digits";
	*covers = (uint64_t)json_integer_value(cov);
	snprintf(log_id, 40, "%s", lid);
	snprintf(when, 32, "%s", time);
	if (!pubkey)
		return NULL;
	if (vg_audit_checkpoint_message(msg, sizeof(msg), source, lid, *covers, hh, time) < 0)
		return "checkpoint fields too long";
	if (vg_b64_decode(sig_b64, &sig, &siglen) < 0)
		return "checkpoint signature is not base64";
	r = vg_verify(pubkey, msg, strlen(msg), sig, siglen);
	free(sig);
	return r == 0 ? NULL : "checkpoint signature does not verify with the host key";
}

static void feed_checkpoint(struct vg_audit_verify *v, const struct vg_arec *r)
{
	json_error_t je;
	json_t *ev = json_loadb(r->payload, r->len, 0, &je);
	uint8_t hash[32];
	uint64_t covers = 0;
	char lid[40], when[32];
	const char *why;

	if (!ev) {
		vfail(v, r->seq, "bad_checkpoint", "checkpoint at seq %" PRIu64 " is not JSON: %s", r->seq, je.text);
		return;
	}
	why = check_checkpoint(v->pubkey, ev, &covers, hash, lid, when);
	json_decref(ev);
	if (why) {
		vfail(v, r->seq, "bad_checkpoint", "seq %" PRIu64 ": %s", r->seq, why);
		return;
	}
	if (covers + 1 != r->seq || memcmp(hash, r->prev_hash, 32) != 0) {
		vfail(v, r->seq, "bad_checkpoint",
		      "checkpoint at seq %" PRIu64 " covers seq %" PRIu64 " with a head hash that is not the chain's",
		      r->seq, covers);
		return;
	}
	if (v->log_id[0] && strcmp(v->log_id, lid) != 0) {
		vfail(v, r->seq, "bad_checkpoint", "checkpoint at seq %" PRIu64 " belongs to log %s, not %s", r->seq,
		      lid, v->log_id);
		return;
	}
	snprintf(v->log_id, sizeof(v->log_id), "%s", lid);
	v->checkpoints++;
	v->last_checkpoint_seq = r->seq;
}

/* A removal record (retention or rotate) explains a log that starts after seq 1. */
static void feed_removal(struct vg_audit_verify *v, const struct vg_arec *r)
{
	static const char needle[] = "\"type\":\"dev.vigil.audit.segments_removed\"";
	json_t *ev, *data;
	uint8_t h[32];

	if (!v->start_unanchored || !memmem(r->payload, r->len, needle, sizeof(needle) - 1))
		return;
	ev = json_loadb(r->payload, r->len, 0, NULL);
	data = json_object_get(ev, "data");
	if (json_integer_value(json_object_get(data, "last_seq")) + 1 == (json_int_t)v->first_seq &&
	    hex_decode32(json_string_value(json_object_get(data, "next_prev_hash")), h) == 0 &&
	    memcmp(h, v->first_prev_hash, 32) == 0)
		v->start_unanchored = false;
	json_decref(ev);
}

bool vg_audit_verify_feed(struct vg_audit_verify *v, const struct vg_arec *r)
{
	if (v->gap_open) {
		/* a defect was found; only learn whether the missing seq shows up later */
		if (r->seq == v->gap_seq) {
			snprintf(v->reason, sizeof(v->reason), "reordered");
			snprintf(v->detail, sizeof(v->detail),
				 "record %" PRIu64 " appears after record %" PRIu64 " (out of order)", v->gap_seq,
				 v->gap_at);
			v->gap_open = false;
		}
		return false;
	}
	if (v->reason[0])
		return false;
	if (!v->started) {
		v->started = true;
		v->first_seq = r->seq;
		memcpy(v->first_prev_hash, r->prev_hash, 32);
		if (v->from_seq > 1 && r->seq < v->from_seq)
			return true;
		if (v->from_seq <= 1 && r->seq != 1) {
			static const uint8_t zero[32];

			/* the start must be explained by a removal record later in the log */
			v->start_unanchored = !(memcmp(r->prev_hash, zero, 32) == 0 && r->seq == 1);
		}
		v->expect = r->seq;
		memcpy(v->last_hash, r->prev_hash, 32);
	}
	if (r->seq < v->expect) {
		vfail(v, r->seq, "reordered", "record %" PRIu64 " appears after record %" PRIu64, r->seq,
		      v->expect - 1);
		return false;
	}
	if (r->seq > v->expect) {
		vfail(v, v->expect, "missing", "records %" PRIu64 "..%" PRIu64 " are missing (deleted)", v->expect,
		      r->seq - 1);
		v->gap_open = true;
		v->gap_seq = v->expect;
		v->gap_at = r->seq;
		return false;
	}
	if (memcmp(r->prev_hash, v->last_hash, 32) != 0) {
		/* the previous record was rewritten with a fresh hash */
		vfail(v, r->seq - 1, "modified",
		      "record %" PRIu64 " was modified: its hash is not the prev_hash of record %" PRIu64, r->seq - 1,
		      r->seq);
		return false;
	}
	if (v->head_set && r->seq == v->head_covers && memcmp(r->hash, v->head_hash, 32) != 0) {
		vfail(v, r->seq, "modified", "record %" PRIu64 " differs from the signed head", r->seq);
		return false;
	}
	if (r->kind == VG_AREC_CHECKPOINT) {
		feed_checkpoint(v, r);
		if (v->reason[0])
			return false;
	} else {
		feed_removal(v, r);
	}
	memcpy(v->last_hash, r->hash, 32);
	v->last_seq = r->seq;
	v->expect = r->seq + 1;
	v->records++;
	return true;
}

void vg_audit_verify_partial(struct vg_audit_verify *v, size_t bytes)
{
	uint64_t seq = v->started ? v->expect : 1;

	vfail(v, seq, "truncated", "the log ends inside record %" PRIu64 " (%zu bytes of a partial record)", seq, bytes);
}

void vg_audit_verify_bad_bytes(struct vg_audit_verify *v, const char *where)
{
	uint64_t seq = v->started ? v->expect : 1;

	/* bytes that are not a record whose hash matches: altered in place */
	vfail(v, seq, "modified", "record %" PRIu64 " was modified (%s)", seq, where);
}

int vg_audit_verify_set_head(struct vg_audit_verify *v, json_t *checkpoint_event)
{
	char lid[40], when[32];
	const char *why = check_checkpoint(v->pubkey, checkpoint_event, &v->head_covers, v->head_hash, lid, when);

	if (why) {
		vfail(v, 0, "bad_checkpoint", "signed head: %s", why);
		return -EBADMSG;
	}
	snprintf(v->log_id, sizeof(v->log_id), "%s", lid);
	v->head_set = true;
	return 0;
}

void vg_audit_verify_finish(struct vg_audit_verify *v)
{
	if (v->gap_open)
		v->gap_open = false;
	if (v->reason[0])
		return;
	if (!v->started && v->head_set && v->head_covers > 0) {
		vfail(v, 1, "truncated", "the log is empty but the signed head covers seq %" PRIu64, v->head_covers);
		return;
	}
	if (v->head_set && v->head_covers > v->last_seq) {
		vfail(v, v->last_seq + 1, "truncated",
		      "the log ends at seq %" PRIu64 " but the signed head covers seq %" PRIu64, v->last_seq,
		      v->head_covers);
		return;
	}
	if (v->start_unanchored)
		vfail(v, 1, "missing",
		      "the log starts at seq %" PRIu64 " and no removal record explains records 1..%" PRIu64,
		      v->first_seq, v->first_seq - 1);
}

/* --------------------------------------------------------------- reader */

static bool seg_name(const char *name, uint64_t *first)
{
	size_t n = strlen(name);
	char *end;

	if (n != 20 + strlen(VG_AUDIT_SEG_SUFFIX) || strcmp(name + 20, VG_AUDIT_SEG_SUFFIX) != 0)
		return false;
	for (int i = 0; i < 20; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	errno = 0;
	*first = strtoull(name, &end, 10);
	return errno == 0 && end == name + 20 && *first > 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorted first-seqs of the segments in dir. */
static int list_segments(const char *dir, uint64_t **out, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t *v = NULL, first;
	size_t cnt = 0, cap = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!seg_name(de->d_name, &first))
			continue;
		if (cnt == cap) {
			uint64_t *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		v[cnt++] = first;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_u64);
	*out = v;
	*n = cnt;
	return 0;
}

static void seg_path(char *buf, size_t len, const char *dir, uint64_t first)
{
	snprintf(buf, len, "%s/%020" PRIu64 VG_AUDIT_SEG_SUFFIX, dir, first);
}

#define READER_BUF_MIN (256u << 10)
#define READER_BUF_MAX (VG_AREC_HDR + VG_AREC_MAX_PAYLOAD + (1u << 20))

struct vg_audit_reader {
	char *dir;
	uint64_t from_seq;
	uint64_t cur_first; /* segment being read (0: none yet) */
	int fd;
	uint8_t *buf;
	size_t cap, start, end;
	uint64_t offset; /* file offset of buf[start] */
};

int vg_audit_reader_open(const char *dir, uint64_t from_seq, struct vg_audit_reader **out, struct vg_err *err)
{
	struct vg_audit_reader *r = calloc(1, sizeof(*r));

	if (!r || !(r->buf = malloc(READER_BUF_MIN)) || !(r->dir = strdup(dir))) {
		if (r)
			free(r->buf);
		free(r);
		return vg_err_set(err, ENOMEM, "no_memory", dir, "out of memory opening the audit log");
	}
	r->fd = -1;
	r->cap = READER_BUF_MIN;
	r->from_seq = from_seq;
	*out = r;
	return 0;
}

void vg_audit_reader_free(struct vg_audit_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	free(r->dir);
	free(r);
}

/* Move to the segment after cur_first (or the one holding from_seq). 1 moved, 0 none. */
static int reader_next_segment(struct vg_audit_reader *r, struct vg_err *err)
{
	uint64_t *segs = NULL, next = 0;
	size_t n = 0;
	char path[4200];
	int k = list_segments(r->dir, &segs, &n);

	if (k < 0)
		return vg_err_set(err, -k, "audit_log_unreadable", r->dir, "cannot list the audit log: %s",
				  strerror(-k));
	for (size_t i = 0; i < n; i++) {
		if (r->cur_first == 0) {
			/* the last segment starting at or before from_seq, else the first */
			if (!next || segs[i] <= r->from_seq)
				next = segs[i];
		} else if (segs[i] > r->cur_first) {
			next = segs[i];
			break;
		}
	}
	free(segs);
	if (!next)
		return 0;
	seg_path(path, sizeof(path), r->dir, next);
	k = open(path, O_RDONLY | O_CLOEXEC);
	if (k < 0)
		return vg_err_set(err, errno, "audit_log_unreadable", path, "cannot open: %s", strerror(errno));
	if (r->fd >= 0)
		close(r->fd);
	r->fd = k;
	r->cur_first = next;
	r->start = r->end = 0;
	r->offset = 0;
	return 1;
}

int vg_audit_reader_next(struct vg_audit_reader *r, struct vg_arec *rec, size_t *partial, struct vg_err *err)
{
	char path[4200];

	if (partial)
		*partial = 0;
	if (r->fd < 0) {
		int k = reader_next_segment(r, err);

		if (k <= 0)
			return k;
	}
	for (;;) {
		size_t used = 0;
		int k = vg_arec_decode(r->buf + r->start, r->end - r->start, rec, &used);

		if (k < 0) {
			seg_path(path, sizeof(path), r->dir, r->cur_first);
			return vg_err_set(err, EBADMSG, "audit_record_invalid", path,
					  "bytes at offset %" PRIu64 " are not a valid record", r->offset);
		}
		if (k > 0) {
			r->start += used;
			r->offset += used;
			if (rec->seq < r->from_seq)
				continue;
			return 1;
		}
		/* need more bytes */
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->end == r->cap && r->cap < READER_BUF_MAX) {
			/* a record larger than the buffer (bounded by VG_AREC_MAX_PAYLOAD) */
			size_t cap = r->cap * 2 > READER_BUF_MAX ? READER_BUF_MAX : r->cap * 2;
			uint8_t *nb = realloc(r->buf, cap);

			if (!nb)
				return vg_err_set(err, ENOMEM, "no_memory", r->dir, "out of memory reading the log");
			r->buf = nb;
			r->cap = cap;
		}
		ssize_t got = read(r->fd, r->buf + r->end, r->cap - r->end);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			seg_path(path, sizeof(path), r->dir, r->cur_first);
			return vg_err_set(err, errno, "audit_log_unreadable", path, "read: %s", strerror(errno));
		}
		if (got > 0) {
			r->end += (size_t)got;
			continue;
		}
		/* end of this segment: a later segment means this one is complete */
		uint64_t before = r->cur_first;
		size_t left = r->end - r->start;
		int m = reader_next_segment(r, err);

		if (m < 0)
			return m;
		if (m == 0) {
			if (partial)
				*partial = left;
			return 0;
		}
		if (left > 0) {
			seg_path(path, sizeof(path), r->dir, before);
			return vg_err_set(err, EBADMSG, "audit_record_truncated", path,
					  "segment ends with %zu bytes of a partial record", left);
		}
	}
}

int vg_audit_verify_dir(const char *dir, struct vg_audit_verify *v, json_t *head, struct vg_err *err)
{
	struct vg_audit_reader *r = NULL;
	struct vg_arec rec;
	size_t partial = 0;
	int k;

	if (head && vg_audit_verify_set_head(v, head) < 0)
		return 0;
	k = vg_audit_reader_open(dir, v->from_seq, &r, err);
	if (k < 0)
		return k;
	while ((k = vg_audit_reader_next(r, &rec, &partial, err)) > 0)
		vg_audit_verify_feed(v, &rec);
	if (k == -EBADMSG) {
		vg_audit_verify_bad_bytes(v, err->path);
		k = 0;
	} else if (k == 0 && partial) {
		vg_audit_verify_partial(v, partial);
	}
	vg_audit_reader_free(r);
	if (k < 0)
		return k;
	vg_audit_verify_finish(v);
	return 0;
}

/* --------------------------------------------------------------- writer */

struct seg {
	uint64_t first, bytes;
	time_t mtime;
};

struct vg_auditlog {
	char *dir, *source;
	EVP_PKEY *key;
	char key_id[17];
	struct vg_auditlog_opts o;
	char log_id[40];
	int fd; /* current (last) segment, O_APPEND */
	struct seg *segs;
	size_t nsegs, segcap;
	uint8_t *buf; /* encoded records not yet written */
	size_t blen, bcap;
	uint64_t next_seq, durable_seq, forwarded_seq;
	bool have_sinks;
	uint8_t last_hash[32];
	uint32_t since_ckpt;
	uint64_t last_ckpt_seq, head_written_seq;
	uint64_t last_ckpt_ms, head_written_ms;
	char *head_pending; /* last checkpoint event, written to head.json once durable */
	bool degraded;
	time_t degraded_since;
	uint64_t dropped_full, dropped_rotate, commits;
	/* the disk refused a write or fdatasync: events are refused until a retry succeeds */
	int write_errno;
	bool no_rotate; /* appending the failure record: it goes with the batch that failed */
	time_t write_failed_since;
	uint64_t dropped_unwritable;
	bool internal; /* emitting the log's own records: bypasses the spool checks */
};

static uint64_t spool_bytes(const struct vg_auditlog *l)
{
	uint64_t s = l->blen;

	for (size_t i = 0; i < l->nsegs; i++)
		s += l->segs[i].bytes;
	return s;
}

static uint64_t hard_cap(const struct vg_auditlog *l)
{
	/* headroom above the limit for what must still be written while degraded */
	return l->o.spool_max_bytes + l->o.spool_max_bytes / 8;
}

static int fsync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return -errno;
	return 0;
}

static int open_segment(struct vg_auditlog *l, uint64_t first, struct vg_err *err)
{
	char path[4200];
	int fd;

	if (l->nsegs == l->segcap) {
		size_t cap = l->segcap ? l->segcap * 2 : 64;
		struct seg *ns = realloc(l->segs, cap * sizeof(*ns));

		if (!ns)
			return vg_err_set(err, ENOMEM, "no_memory", l->dir, "out of memory");
		l->segs = ns;
		l->segcap = cap;
	}
	seg_path(path, sizeof(path), l->dir, first);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return vg_err_set(err, errno, "audit_log_unwritable", path, "cannot create segment: %s",
				  strerror(errno));
	if (fsync_dir(l->dir) < 0) {
		close(fd);
		return vg_err_set(err, errno, "audit_log_unwritable", l->dir, "fsync: %s", strerror(errno));
	}
	if (l->fd >= 0)
		close(l->fd);
	l->fd = fd;
	l->segs[l->nsegs++] = (struct seg){ .first = first, .bytes = 0, .mtime = vg_now() };
	return 0;
}

/* One attempt to make the buffer durable. The segment is first cut back to its
 * durable length: after a failed write or fdatasync the kernel may hold part of
 * the batch, and the batch is always written whole, never twice. */
static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int write_batch(struct vg_auditlog *l, struct seg *s)
{
	struct stat st;
	int r;

	if (fstat(l->fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size != s->bytes && ftruncate(l->fd, (off_t)s->bytes) < 0)
		return -errno;
	r = write_all(l->fd, l->buf, l->blen);
	if (r == 0 && fdatasync(l->fd) < 0)
		r = -errno;
	/* no part of a failed batch stays in the file (a failed cut is the worse error) */
	if (r < 0 && ftruncate(l->fd, (off_t)s->bytes) < 0)
		r = -errno;
	return r;
}

static int emit_internal(struct vg_auditlog *l, const char *type, json_t *data);

/* The disk refused the batch: degraded until a retry succeeds. The "entered"
 * record waits in the buffer with the batch, so it reaches the disk first thing. */
static void write_failed(struct vg_auditlog *l, int e)
{
	if (l->write_errno)
		return;
	l->write_errno = e;
	l->write_failed_since = vg_now();
	l->dropped_unwritable = 0;
	l->no_rotate = true;
	emit_internal(l, "audit.degraded",
		      json_pack("{s:s, s:s, s:s}", "state", "entered", "reason", "write_failed", "error", strerror(e)));
	l->no_rotate = false;
}

static void write_recovered(struct vg_auditlog *l)
{
	int e = l->write_errno;

	l->write_errno = 0;
	emit_internal(l, "audit.degraded",
		      json_pack("{s:s, s:s, s:s, s:I, s:I}", "state", "left", "reason", "write_failed", "error",
				strerror(e), "duration_s", (json_int_t)(vg_now() - l->write_failed_since),
				"dropped_events", (json_int_t)l->dropped_unwritable));
}

/* write + fdatasync of the buffered records; they stay buffered on failure */
static int flush_buf(struct vg_auditlog *l, struct vg_err *err)
{
	struct seg *s = &l->segs[l->nsegs - 1];
	int r;

	if (l->blen == 0)
		return 0;
	r = write_batch(l, s);
	if (r < 0) {
		write_failed(l, -r);
		return vg_err_set(err, -r, "audit_log_unwritable", l->dir, "cannot make the audit log durable: %s",
				  strerror(-r));
	}
	s->bytes += l->blen;
	s->mtime = vg_now();
	l->blen = 0;
	l->durable_seq = l->next_seq - 1;
	l->commits++;
	if (l->write_errno) {
		/* the record of the recovery is durable with it */
		write_recovered(l);
		return flush_buf(l, err);
	}
	return 0;
}

static int buf_reserve(struct vg_auditlog *l, size_t more)
{
	if (l->blen + more <= l->bcap)
		return 0;
	size_t cap = l->bcap ? l->bcap : 1 << 16;

	while (cap < l->blen + more)
		cap *= 2;
	uint8_t *nb = realloc(l->buf, cap);

	if (!nb)
		return -ENOMEM;
	l->buf = nb;
	l->bcap = cap;
	return 0;
}

static int append_record(struct vg_auditlog *l, uint32_t kind, const char *payload, size_t plen)
{
	struct seg *s = &l->segs[l->nsegs - 1];
	size_t rl = VG_AREC_HDR + plen;
	int r;

	if (plen > VG_AREC_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (!l->no_rotate && s->bytes + l->blen > 0 && s->bytes + l->blen + rl > l->o.segment_bytes) {
		/* records never straddle segments: finish this one, start the next at this seq */
		if ((r = flush_buf(l, NULL)) < 0)
			return r;
		if ((r = open_segment(l, l->next_seq, NULL)) < 0) {
			write_failed(l, -r);
			return r;
		}
	}
	if (buf_reserve(l, rl) < 0)
		return -ENOMEM;
	vg_arec_encode(l->buf + l->blen, l->last_hash, l->next_seq, kind, payload, plen);
	memcpy(l->last_hash, l->buf + l->blen, 32);
	l->blen += rl;
	l->next_seq++;
	return 0;
}

static json_t *make_event(struct vg_auditlog *l, const char *type, const char *subject, json_t *data)
{
	char id[64], ty[160], when[32];
	json_t *ev;

	snprintf(id, sizeof(id), "%s-%" PRIu64, l->log_id, l->next_seq);
	snprintf(ty, sizeof(ty), "dev.vigil.%s", type);
	vg_time_format(vg_now(), when);
	json_object_set_new(data, "seq", json_integer((json_int_t)l->next_seq));
	ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "specversion", "1.0", "id", id, "source", l->source,
		       "type", ty, "time", when, "datacontenttype", "application/json", "data", data);
	if (ev && subject)
		json_object_set_new(ev, "subject", json_string(subject));
	return ev;
}

static int append_event(struct vg_auditlog *l, uint32_t kind, json_t *ev)
{
	char *s = json_dumps(ev, JSON_COMPACT);
	int r;

	if (!s)
		return -ENOMEM;
	r = append_record(l, kind, s, strlen(s));
	free(s);
	return r;
}

static int checkpoint(struct vg_auditlog *l)
{
	char hh[65], msg[512], *sig_b64 = NULL;
	uint8_t *sig = NULL;
	size_t siglen = 0;
	json_t *ev, *data;
	int r;

	if (!l->key)
		return 0;
	vg_hex(l->last_hash, 32, hh);
	data = json_pack("{s:I, s:s, s:s, s:s, s:s}", "covers_seq", (json_int_t)(l->next_seq - 1), "head_hash", hh,
			 "log_id", l->log_id, "key_id", l->key_id, "alg", "ed25519");
	ev = data ? make_event(l, "audit.checkpoint", NULL, data) : NULL;
	if (!ev)
		return -ENOMEM;
	r = vg_audit_checkpoint_message(msg, sizeof(msg), l->source, l->log_id, l->next_seq - 1, hh,
					json_string_value(json_object_get(ev, "time")));
	if (r >= 0)
		r = vg_sign(l->key, msg, strlen(msg), &sig, &siglen);
	if (r >= 0 && !(sig_b64 = vg_b64_encode(sig, siglen, false)))
		r = -ENOMEM;
	if (r >= 0)
		json_object_set_new(data, "sig", json_string(sig_b64));
	free(sig);
	free(sig_b64);
	if (r >= 0) {
		l->last_ckpt_seq = l->next_seq;
		r = append_event(l, VG_AREC_CHECKPOINT, ev);
	}
	if (r >= 0) {
		free(l->head_pending);
		l->head_pending = json_dumps(ev, JSON_COMPACT);
	}
	json_decref(ev);
	l->since_ckpt = 0;
	l->last_ckpt_ms = vg_now_ms_monotonic();
	return r;
}

/* The log's own records (checkpoints excluded) bypass the spool checks. */
static int emit_internal(struct vg_auditlog *l, const char *type, json_t *data)
{
	int r;

	l->internal = true;
	r = vg_auditlog_emit(l, type, NULL, data, NULL);
	l->internal = false;
	return r;
}

static int remove_oldest(struct vg_auditlog *l, const char *reason)
{
	char path[4200], hh[65];
	struct seg s = l->segs[0];
	uint64_t last = l->segs[1].first - 1, events = last - s.first + 1;
	uint64_t unfwd = l->forwarded_seq >= last ? 0 : last - (l->forwarded_seq >= s.first ? l->forwarded_seq : s.first - 1);
	uint8_t next_prev[32];
	struct vg_audit_reader *rd = NULL;
	struct vg_arec rec;
	int r;

	/* the next segment's first prev_hash anchors the verifier at the new start */
	if (l->nsegs == 2 && l->segs[1].bytes == 0 && l->blen) {
		memcpy(next_prev, l->buf + 32, 32);
	} else {
		if (vg_audit_reader_open(l->dir, l->segs[1].first, &rd, NULL) < 0)
			return -ENOMEM;
		r = vg_audit_reader_next(rd, &rec, NULL, NULL);
		if (r > 0)
			memcpy(next_prev, rec.prev_hash, 32);
		vg_audit_reader_free(rd);
		if (r <= 0)
			return r < 0 ? r : -ENODATA;
	}
	seg_path(path, sizeof(path), l->dir, s.first);
	if (unlink(path) < 0)
		return -errno;
	memmove(l->segs, l->segs + 1, (l->nsegs - 1) * sizeof(*l->segs));
	l->nsegs--;
	if (strcmp(reason, "rotate") == 0)
		l->dropped_rotate += events;
	vg_hex(next_prev, 32, hh);
	return emit_internal(l, "audit.segments_removed",
			     json_pack("{s:s, s:I, s:I, s:I, s:I, s:s}", "reason", reason, "first_seq",
				       (json_int_t)s.first, "last_seq", (json_int_t)last, "events", (json_int_t)events,
				       "unforwarded_events", (json_int_t)unfwd, "next_prev_hash", hh));
}

/* Free space under the limit: forwarded segments always, any segment in rotate mode. */
static void make_room(struct vg_auditlog *l, uint64_t need)
{
	while (l->nsegs > 1 && spool_bytes(l) + need > l->o.spool_max_bytes) {
		uint64_t last = l->segs[1].first - 1;
		bool fwd = l->have_sinks && l->forwarded_seq >= last;

		if (fwd) {
			if (remove_oldest(l, "forwarded_space") < 0)
				return;
		} else if (l->o.when_full == VG_AUDIT_FULL_ROTATE) {
			if (remove_oldest(l, "rotate") < 0)
				return;
		} else {
			return;
		}
	}
}

int vg_auditlog_emit(struct vg_auditlog *l, const char *type, const char *subject, json_t *data, uint64_t *seq_out)
{
	json_t *ev;
	int r;

	if (!data)
		data = json_object();
	if (!data)
		return -ENOMEM;
	if (!l->internal && l->write_errno) {
		/* nothing new is accepted while the disk refuses what is already waiting */
		l->dropped_unwritable++;
		json_decref(data);
		return -l->write_errno;
	}
	if (!l->internal) {
		uint64_t est = VG_AREC_HDR + 512;

		if (spool_bytes(l) + est > l->o.spool_max_bytes)
			make_room(l, est);
		if (!l->degraded && spool_bytes(l) + est > l->o.spool_max_bytes &&
		    l->o.when_full == VG_AUDIT_FULL_DEGRADE) {
			l->degraded = true;
			l->degraded_since = vg_now();
			l->dropped_full = 0;
			emit_internal(l, "audit.degraded",
				      json_pack("{s:s, s:I, s:I}", "state", "entered", "spool_bytes",
						(json_int_t)spool_bytes(l), "spool_max_bytes",
						(json_int_t)l->o.spool_max_bytes));
		}
		if (spool_bytes(l) + est > hard_cap(l)) {
			l->dropped_full++;
			json_decref(data);
			return -ENOSPC;
		}
	}
	ev = make_event(l, type, subject, data);
	if (!ev)
		return -ENOMEM;
	if (seq_out)
		*seq_out = l->next_seq;
	r = append_event(l, VG_AREC_EVENT, ev);
	json_decref(ev);
	if (r < 0) {
		if (!l->internal && l->write_errno)
			l->dropped_unwritable++;
		return r;
	}
	if (l->o.checkpoint_every && ++l->since_ckpt >= l->o.checkpoint_every)
		r = checkpoint(l);
	if (r >= 0 && l->blen > (4u << 20))
		r = flush_buf(l, NULL);
	return r;
}

static void write_head(struct vg_auditlog *l, bool force)
{
	char path[4200];
	uint64_t now = vg_now_ms_monotonic();

	/* head.json vouches for the tail; rate-limited because it costs three fsyncs */
	if (!l->head_pending || l->last_ckpt_seq > l->durable_seq || l->head_written_seq == l->last_ckpt_seq)
		return;
	if (!force && now - l->head_written_ms < 1000)
		return;
	snprintf(path, sizeof(path), "%s/" VG_AUDIT_HEAD_FILE, l->dir);
	if (vg_write_file_atomic(path, l->head_pending, strlen(l->head_pending), 0644) == 0) {
		l->head_written_seq = l->last_ckpt_seq;
		l->head_written_ms = now;
	}
}

int vg_auditlog_commit(struct vg_auditlog *l, struct vg_err *err)
{
	int r = flush_buf(l, err);

	if (r == 0)
		write_head(l, false);
	return r;
}

int vg_auditlog_tick(struct vg_auditlog *l, struct vg_err *err)
{
	time_t now = vg_now();

	if (l->key && !l->write_errno && l->next_seq - 1 > (l->last_ckpt_seq ? l->last_ckpt_seq : 0) &&
	    vg_now_ms_monotonic() - l->last_ckpt_ms >= (uint64_t)l->o.checkpoint_interval_s * 1000)
		checkpoint(l);
	/* retention by age: only segments every sink has (or all, with no sink configured) */
	while (l->nsegs > 1 && l->o.retention_days &&
	       l->segs[0].mtime < now - (time_t)l->o.retention_days * 86400 &&
	       (!l->have_sinks || l->forwarded_seq >= l->segs[1].first - 1))
		if (remove_oldest(l, "retention") < 0)
			break;
	/* while degraded, free down to the low-water mark so the state is left for good */
	if (l->degraded || spool_bytes(l) > l->o.spool_max_bytes)
		make_room(l, l->degraded ? l->o.spool_max_bytes / 8 + 1 : 0);
	if (l->degraded && spool_bytes(l) < l->o.spool_max_bytes - l->o.spool_max_bytes / 8) {
		l->degraded = false;
		emit_internal(l, "audit.degraded",
			      json_pack("{s:s, s:I, s:I, s:I}", "state", "left", "spool_bytes",
					(json_int_t)spool_bytes(l), "duration_s", (json_int_t)(now - l->degraded_since),
					"dropped_events", (json_int_t)l->dropped_full));
	}
	int r = flush_buf(l, err);

	if (r == 0)
		write_head(l, true);
	return r;
}

int vg_auditlog_seal(struct vg_auditlog *l, struct vg_err *err)
{
	int r = 0;

	if (l->key && l->next_seq - 1 > l->last_ckpt_seq)
		r = checkpoint(l);
	if (r < 0)
		return vg_err_set(err, -r, "checkpoint_failed", l->dir, "cannot write a checkpoint: %s", strerror(-r));
	r = flush_buf(l, err);
	if (r == 0)
		write_head(l, true);
	return r;
}

void vg_auditlog_set_forwarded(struct vg_auditlog *l, uint64_t seq, bool have_sinks)
{
	l->forwarded_seq = seq;
	l->have_sinks = have_sinks;
}

bool vg_auditlog_degraded(const struct vg_auditlog *l)
{
	return l->degraded || l->write_errno;
}

uint64_t vg_auditlog_durable_seq(const struct vg_auditlog *l)
{
	return l->durable_seq;
}

void vg_auditlog_stats(const struct vg_auditlog *l, struct vg_audit_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->next_seq = l->next_seq;
	s->durable_seq = l->durable_seq;
	s->forwarded_seq = l->forwarded_seq;
	s->spool_bytes = spool_bytes(l);
	s->segments = l->nsegs;
	s->degraded = l->degraded || l->write_errno;
	s->degraded_since = l->write_errno ? l->write_failed_since : l->degraded_since;
	s->spool_full = l->degraded;
	s->write_errno = l->write_errno;
	s->dropped_unwritable = l->dropped_unwritable;
	s->pending_events = l->next_seq - 1 - l->durable_seq;
	s->dropped_full = l->dropped_full;
	s->dropped_rotate = l->dropped_rotate;
	s->last_checkpoint_seq = l->last_ckpt_seq;
	s->commits = l->commits;
	snprintf(s->log_id, sizeof(s->log_id), "%s", l->log_id);
}

static int load_log_id(struct vg_auditlog *l, struct vg_err *err)
{
	char path[4200], *txt = NULL;
	size_t n = 0;
	uint8_t rnd[8];
	int r;

	snprintf(path, sizeof(path), "%s/log.id", l->dir);
	r = vg_read_file(path, 64, &txt, &n);
	if (r == 0) {
		while (n && (txt[n - 1] == '\n' || txt[n - 1] == ' '))
			txt[--n] = '\0';
		if (n == 0 || n >= sizeof(l->log_id) || !vg_str_valid_name(txt, sizeof(l->log_id) - 1)) {
			free(txt);
			return vg_err_set(err, EINVAL, "audit_log_invalid", path, "log id is not a short name");
		}
		snprintf(l->log_id, sizeof(l->log_id), "%s", txt);
		free(txt);
		return 0;
	}
	if (r != -ENOENT)
		return vg_err_set(err, -r, "audit_log_unreadable", path, "cannot read: %s", strerror(-r));
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return vg_err_set(err, EIO, "no_randomness", path, "RAND_bytes failed");
	vg_hex(rnd, sizeof(rnd), l->log_id);
	char line[48];

	snprintf(line, sizeof(line), "%s\n", l->log_id);
	r = vg_write_file_atomic(path, line, strlen(line), 0644);
	return r < 0 ? vg_err_set(err, -r, "audit_log_unwritable", path, "cannot write: %s", strerror(-r)) : 0;
}

/* The last segment holds no whole record: the chain continues from the one before. */
static int learn_prev_segment(struct vg_auditlog *l, struct vg_err *err)
{
	struct vg_audit_reader *rd = NULL;
	struct vg_arec rec;
	int r = vg_audit_reader_open(l->dir, l->segs[l->nsegs - 2].first, &rd, err);

	if (r < 0)
		return r;
	while ((r = vg_audit_reader_next(rd, &rec, NULL, err)) > 0 && rec.seq < l->segs[l->nsegs - 1].first) {
		memcpy(l->last_hash, rec.hash, 32);
		if (rec.kind == VG_AREC_CHECKPOINT)
			l->last_ckpt_seq = rec.seq;
	}
	vg_audit_reader_free(rd);
	return r < 0 ? r : 0;
}

/* Scan the last segment, cut what follows the last whole record, learn seq and hash. */
static int recover_tail(struct vg_auditlog *l, json_t **cut_event, struct vg_err *err)
{
	struct seg *s = &l->segs[l->nsegs - 1];
	char path[4200], saved[4300];
	_cleanup_free_ char *data = NULL;
	size_t len = 0, off = 0, after = 0;
	struct vg_arec rec;
	bool have = false;
	int r;

	seg_path(path, sizeof(path), l->dir, s->first);
	r = vg_read_file(path, (size_t)1 << 32, &data, &len);
	if (r < 0)
		return vg_err_set(err, -r, "audit_log_unreadable", path, "cannot read: %s", strerror(-r));
	for (;;) {
		size_t used = 0;

		if (vg_arec_decode((uint8_t *)data + off, len - off, &rec, &used) != 1)
			break;
		if (have ? (rec.seq != l->next_seq || memcmp(rec.prev_hash, l->last_hash, 32) != 0)
			 : rec.seq != s->first)
			break;
		l->next_seq = rec.seq + 1;
		memcpy(l->last_hash, rec.hash, 32);
		if (rec.kind == VG_AREC_CHECKPOINT)
			l->last_ckpt_seq = rec.seq;
		have = true;
		off += used;
	}
	s->bytes = off;
	if (!have) {
		l->next_seq = s->first;
		if (l->nsegs > 1 && (r = learn_prev_segment(l, err)) < 0)
			return r;
	}
	if (off == len)
		return 0;
	/* count whole records in the cut bytes: normally none, since only unsynced bytes tear */
	for (size_t p = off + 1; p + VG_AREC_HDR <= len; p++) {
		size_t used = 0;

		if (vg_arec_decode((uint8_t *)data + p, len - p, &rec, &used) == 1) {
			after++;
			p += used - 1;
		}
	}
	snprintf(saved, sizeof(saved), "%s/torn-%020" PRIu64 ".bin", l->dir, l->next_seq);
	vg_write_file_atomic(saved, data + off, len - off, 0600);
	if (truncate(path, (off_t)off) < 0 || (r = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return vg_err_set(err, errno, "audit_log_unwritable", path, "cannot cut the torn tail: %s",
				  strerror(errno));
	if (fsync(r) < 0) {
		close(r);
		return vg_err_set(err, errno, "audit_log_unwritable", path, "fsync: %s", strerror(errno));
	}
	close(r);
	*cut_event = json_pack("{s:s, s:I, s:I, s:I, s:I, s:s}", "segment", path, "offset", (json_int_t)off,
			       "bytes_cut", (json_int_t)(len - off), "first_lost_seq", (json_int_t)l->next_seq,
			       "whole_records_cut", (json_int_t)after, "saved_as", saved);
	return 0;
}

int vg_auditlog_open(const struct vg_auditlog_opts *o, struct vg_auditlog **out, struct vg_err *err)
{
	struct vg_auditlog *l = calloc(1, sizeof(*l));
	uint64_t *segs = NULL;
	size_t n = 0;
	json_t *cut = NULL;
	char src[512];
	int r;

	if (!l)
		return vg_err_set(err, ENOMEM, "no_memory", o->dir, "out of memory");
	l->fd = -1;
	l->o = *o;
	if (!l->o.segment_bytes)
		l->o.segment_bytes = 16u << 20;
	if (!l->o.spool_max_bytes)
		l->o.spool_max_bytes = UINT64_MAX / 2;
	l->dir = strdup(o->dir);
	snprintf(src, sizeof(src), "%s", o->source);
	l->source = strdup(src);
	l->key = o->key;
	l->next_seq = 1;
	l->last_ckpt_ms = vg_now_ms_monotonic();
	l->o.dir = l->dir;
	l->o.source = l->source;
	if (!l->dir || !l->source) {
		r = vg_err_set(err, ENOMEM, "no_memory", o->dir, "out of memory");
		goto fail;
	}
	if (l->key && vg_key_id(l->key, l->key_id) < 0) {
		r = vg_err_set(err, EINVAL, "host_key_invalid", o->dir, "cannot compute the host key id");
		goto fail;
	}
	if ((r = vg_mkdir_p(l->dir, 0700)) < 0) {
		r = vg_err_set(err, -r, "audit_log_unwritable", l->dir, "cannot create: %s", strerror(-r));
		goto fail;
	}
	if ((r = load_log_id(l, err)) < 0)
		goto fail;
	if ((r = list_segments(l->dir, &segs, &n)) < 0) {
		r = vg_err_set(err, -r, "audit_log_unreadable", l->dir, "cannot list: %s", strerror(-r));
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		char path[4200];
		struct stat st;

		if (l->nsegs == l->segcap) {
			size_t cap = l->segcap ? l->segcap * 2 : 64;
			struct seg *ns = realloc(l->segs, cap * sizeof(*ns));

			if (!ns) {
				r = vg_err_set(err, ENOMEM, "no_memory", l->dir, "out of memory");
				goto fail;
			}
			l->segs = ns;
			l->segcap = cap;
		}
		seg_path(path, sizeof(path), l->dir, segs[i]);
		if (stat(path, &st) < 0) {
			r = vg_err_set(err, errno, "audit_log_unreadable", path, "stat: %s", strerror(errno));
			goto fail;
		}
		l->segs[l->nsegs++] = (struct seg){ .first = segs[i], .bytes = (uint64_t)st.st_size,
						    .mtime = st.st_mtime };
	}
	/* an empty last segment (crash right after rotation) says nothing: drop it */
	while (l->nsegs > 1 && l->segs[l->nsegs - 1].bytes == 0) {
		char path[4200];

		seg_path(path, sizeof(path), l->dir, l->segs[l->nsegs - 1].first);
		unlink(path);
		l->nsegs--;
	}
	if (l->nsegs) {
		if ((r = recover_tail(l, &cut, err)) < 0)
			goto fail;
		uint64_t bytes = l->segs[l->nsegs - 1].bytes;

		l->nsegs--; /* reopen it as the current segment */

		if ((r = open_segment(l, l->segs[l->nsegs].first, err)) < 0)
			goto fail;
		l->segs[l->nsegs - 1].bytes = bytes;
	} else if ((r = open_segment(l, 1, err)) < 0) {
		goto fail;
	}
	l->durable_seq = l->next_seq - 1;
	free(segs);
	segs = NULL;
	if (cut) {
		emit_internal(l, "audit.tail_cut", cut);
		cut = NULL;
		if ((r = vg_auditlog_commit(l, err)) < 0)
			goto fail;
	}
	*out = l;
	return 0;
fail:
	json_decref(cut);
	free(segs);
	vg_auditlog_close(l);
	return r;
}

void vg_auditlog_close(struct vg_auditlog *l)
{
	if (!l)
		return;
	if (l->fd >= 0) {
		if (l->next_seq - 1 > l->last_ckpt_seq)
			checkpoint(l);
		if (flush_buf(l, NULL) == 0)
			write_head(l, true);
		close(l->fd);
	}
	free(l->head_pending);
	free(l->buf);
	free(l->segs);
	free(l->dir);
	free(l->source);
	free(l);
}

/* ------------------------------------------------ a collector's copy */

struct ev_line {
	uint64_t seq;
	uint32_t kind;
	char *payload;
	size_t len;
};

static int cmp_ev(const void *a, const void *b)
{
	const struct ev_line *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int vg_audit_verify_events(const char *path, const char *source, struct vg_audit_verify *v, uint64_t *duplicates,
			   struct vg_err *err)
{
	_cleanup_free_ char *txt = NULL;
	struct ev_line *evs = NULL;
	size_t len = 0, n = 0, cap = 0, dups = 0;
	uint8_t prev[32] = { 0 }, *buf = NULL;
	char *line, *save = NULL;
	int r;

	r = vg_read_file(path, (size_t)1 << 33, &txt, &len);
	if (r < 0)
		return vg_err_set(err, -r, "events_unreadable", path, "cannot read: %s", strerror(-r));
	/* one CloudEvent per line, possibly behind a syslog header: the JSON starts at '{' */
	for (line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *js = strchr(line, '{');
		json_t *ev, *seq;
		const char *src, *type;

		if (!js)
			continue;
		ev = json_loads(js, 0, NULL);
		seq = json_object_get(json_object_get(ev, "data"), "seq");
		src = json_string_value(json_object_get(ev, "source"));
		type = json_string_value(json_object_get(ev, "type"));
		if (!ev || !json_is_integer(seq) || json_integer_value(seq) < 1 || !src || !type ||
		    (source && strcmp(src, source) != 0)) {
			json_decref(ev);
			continue;
		}
		if (n == cap) {
			struct ev_line *ne = realloc(evs, (cap = cap ? cap * 2 : 1024) * sizeof(*ne));

			if (!ne) {
				json_decref(ev);
				free(evs);
				return vg_err_set(err, ENOMEM, "no_memory", path, "out of memory");
			}
			evs = ne;
		}
		evs[n++] = (struct ev_line){ .seq = (uint64_t)json_integer_value(seq),
					     .kind = strcmp(type, "dev.vigil.audit.checkpoint") == 0
							     ? VG_AREC_CHECKPOINT
							     : VG_AREC_EVENT,
					     .payload = js,
					     .len = strlen(js) };
		json_decref(ev);
	}
	if (n)
		qsort(evs, n, sizeof(*evs), cmp_ev);
	size_t maxlen = 0;

	for (size_t i = 0; i < n; i++)
		if (evs[i].len <= VG_AREC_MAX_PAYLOAD && evs[i].len > maxlen)
			maxlen = evs[i].len;
	buf = malloc(VG_AREC_HDR + maxlen);
	for (size_t i = 0; buf && i < n; i++) {
		struct vg_arec rec;
		size_t used;

		if (i && evs[i].seq == evs[i - 1].seq) {
			/* at-least-once: a duplicate must be the same bytes */
			if (evs[i].len != evs[i - 1].len || memcmp(evs[i].payload, evs[i - 1].payload, evs[i].len)) {
				vfail(v, evs[i].seq, "modified", "two different events carry seq %" PRIu64, evs[i].seq);
				break;
			}
			dups++;
			continue;
		}
		if (evs[i].len > VG_AREC_MAX_PAYLOAD)
			continue;
		/* the collector has the payloads: rebuild each record and its chain hash */
		vg_arec_encode(buf, prev, evs[i].seq, evs[i].kind, evs[i].payload, evs[i].len);
		vg_arec_decode(buf, VG_AREC_HDR + evs[i].len, &rec, &used);
		vg_audit_verify_feed(v, &rec);
		memcpy(prev, rec.hash, 32);
	}
	free(buf);
	free(evs);
	if (duplicates)
		*duplicates = dups;
	vg_audit_verify_finish(v);
	return 0;
}
