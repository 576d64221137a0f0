/* SPDX-License-Identifier: Apache-2.0 */
/* The hash-chained local audit log: codec, verifier, reader, writer (docs/audit.md). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/rand.h>

#include "vigil/auditlog.h"
#include "vigil/crypto.h"
#include "vigil/hostkey.h"
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

bool vg_audit_type_declares_gap(const char *type)
{
	static const char *const types[] = { "dev.vigil.audit.segments_removed", "dev.vigil.audit.tail_cut",
					     "dev.vigil.audit.damaged", "dev.vigil.audit.rolled_back" };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (type && strcmp(type, types[i]) == 0)
			return true;
	return false;
}

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
	if (pubkey && vg_key_id(pubkey, v->key_id) < 0)
		v->key_id[0] = '\0';
}

static int hex_decode32(const char *s, uint8_t out[32])
{
	if (!s || strlen(s) != 64)
		return -EINVAL;
	for (int i = 0; i < 32; i++) {
		unsigned int b;

		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &b) != 1)
			return -EINVAL;
		out[i] = (uint8_t)b;
	}
	return 0;
}

/* Checks a checkpoint event: well-formed, of the expected log, by the key, signed by it
 * (when a key is given). Fills covers/hash. Returns NULL or a reason text. */
static const char *check_checkpoint(struct vg_audit_verify *v, json_t *ev, uint64_t *covers, uint8_t hash[32],
				    char log_id[40])
{
	json_t *data = json_object_get(ev, "data");
	const char *source = json_string_value(json_object_get(ev, "source"));
	const char *time = json_string_value(json_object_get(ev, "time"));
	const char *lid = json_string_value(json_object_get(data, "log_id"));
	const char *hh = json_string_value(json_object_get(data, "head_hash"));
	const char *kid = json_string_value(json_object_get(data, "key_id"));
	const char *sig_b64 = json_string_value(json_object_get(data, "sig"));
	json_t *cov = json_object_get(data, "covers_seq");
	char msg[512];
	uint8_t *sig = NULL;
	size_t siglen = 0;
	int r;

	if (!source || !time || !lid || !hh || !kid || !sig_b64 || !json_is_integer(cov) ||
	    json_integer_value(cov) < 0 || strlen(lid) >= 40 || strlen(time) >= 32)
		return "checkpoint is missing fields";
	if (hex_decode32(hh, hash) < 0)
		return "checkpoint head_hash is not 64 hex digits";
	*covers = (uint64_t)json_integer_value(cov);
	snprintf(log_id, 40, "%s", lid);
	if (v->expect_log_id[0] && strcmp(lid, v->expect_log_id) != 0)
		return "checkpoint belongs to another log (log.id differs)";
	if (!v->pubkey)
		return NULL;
	if (strcmp(kid, v->key_id) != 0)
		return "checkpoint key_id is not the id of the given host key";
	if (vg_audit_checkpoint_message(msg, sizeof(msg), source, lid, *covers, hh, time) < 0)
		return "checkpoint fields too long";
	if (vg_b64_decode(sig_b64, &sig, &siglen) < 0)
		return "checkpoint signature is not base64";
	r = vg_hostkey_verify(v->pubkey, VG_HOSTKEY_AUDIT_CHECKPOINT, msg, strlen(msg), sig, siglen);
	free(sig);
	return r == 0 ? NULL : "checkpoint signature does not verify with the host key";
}

static void feed_checkpoint(struct vg_audit_verify *v, const struct vg_arec *r, json_t *ev)
{
	uint8_t hash[32];
	uint64_t covers = 0;
	char lid[40];
	const char *why = check_checkpoint(v, ev, &covers, hash, lid);

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

/* A gap record: remember the range it declares absent and where the chain resumes. */
static void feed_gap(struct vg_audit_verify *v, const struct vg_arec *r, json_t *data)
{
	json_t *g = json_object_get(data, "gap");
	json_t *jf = json_object_get(g, "first_seq"), *jl = json_object_get(g, "last_seq");
	struct vg_audit_gap d = { 0 };

	if (!g)
		return; /* e.g. a torn tail that cost no seq */
	if (!json_is_integer(jf) || !json_is_integer(jl) || json_integer_value(jf) < 1 ||
	    json_integer_value(jl) < json_integer_value(jf) || (uint64_t)json_integer_value(jl) >= r->seq ||
	    hex_decode32(json_string_value(json_object_get(g, "next_prev_hash")), d.resume_prev) < 0) {
		vfail(v, r->seq, "modified", "gap record at seq %" PRIu64 " has no valid data.gap", r->seq);
		return;
	}
	d.first = (uint64_t)json_integer_value(jf);
	d.last = (uint64_t)json_integer_value(jl);
	if (v->ndeclared == v->declcap) {
		size_t cap = v->declcap ? v->declcap * 2 : 16;
		struct vg_audit_gap *n = realloc(v->declared, cap * sizeof(*n));

		if (!n) {
			vfail(v, r->seq, "modified", "out of memory");
			return;
		}
		v->declared = n;
		v->declcap = cap;
	}
	v->declared[v->ndeclared++] = d;
}

/* The payload of an event must carry the record's seq and, once the log is known, its id. */
static void check_payload(struct vg_audit_verify *v, const struct vg_arec *r)
{
	json_error_t je;
	json_t *ev = json_loadb(r->payload, r->len, 0, &je), *data;
	const char *type, *id;
	char want[80];

	if (!ev) {
		vfail(v, r->seq, r->kind == VG_AREC_CHECKPOINT ? "bad_checkpoint" : "modified",
		      "record %" PRIu64 " is not a JSON event: %s", r->seq, je.text);
		return;
	}
	data = json_object_get(ev, "data");
	type = json_string_value(json_object_get(ev, "type"));
	id = json_string_value(json_object_get(ev, "id"));
	if (json_integer_value(json_object_get(data, "seq")) != (json_int_t)r->seq) {
		vfail(v, r->seq, "modified", "record %" PRIu64 " carries another data.seq", r->seq);
	} else if (r->kind == VG_AREC_CHECKPOINT) {
		feed_checkpoint(v, r, ev);
	} else if (type && strcmp(type, "dev.vigil.audit.checkpoint") == 0) {
		vfail(v, r->seq, "modified", "record %" PRIu64 " is a checkpoint event in an event record", r->seq);
	} else if (vg_audit_type_declares_gap(type)) {
		feed_gap(v, r, data);
	}
	const char *lid = v->expect_log_id[0] ? v->expect_log_id : v->log_id;

	snprintf(want, sizeof(want), "%s-%" PRIu64, lid, r->seq);
	if (!v->reason[0] && lid[0] && (!id || strcmp(id, want) != 0))
		vfail(v, r->seq, "modified", "record %" PRIu64 " has id %s, not %s", r->seq, id ? id : "(none)", want);
	json_decref(ev);
}

/* A defect that a later gap record may explain: seqs first..last are not here and
 * the chain resumes with prev_hash resume. */
static void add_pending(struct vg_audit_verify *v, uint64_t first, uint64_t last, const uint8_t resume[32],
			const char *reason, const char *detail)
{
	struct vg_audit_gap *p;

	if (v->npending == VG_AUDIT_MAX_PENDING) {
		vfail(v, first, reason, "%s (and more defects than can be tracked)", detail);
		return;
	}
	p = &v->pending[v->npending++];
	p->first = first;
	p->last = last;
	memcpy(p->resume_prev, resume, 32);
	snprintf(p->reason, sizeof(p->reason), "%s", reason);
	snprintf(p->detail, sizeof(p->detail), "%s", detail);
}

static bool in_pending(const struct vg_audit_verify *v, uint64_t seq)
{
	for (size_t i = 0; i < v->npending; i++)
		if (seq >= v->pending[i].first && seq <= v->pending[i].last)
			return true;
	return false;
}

/* The first record: where the chain starts. */
static bool feed_start(struct vg_audit_verify *v, const struct vg_arec *r)
{
	static const uint8_t zero[32];
	char d[200];

	v->started = true;
	v->first_seq = r->seq;
	v->expect = r->seq;
	memcpy(v->last_hash, r->prev_hash, 32);
	if (v->from_seq > 1) {
		if (r->seq != v->from_seq) {
			vfail(v, v->from_seq, "missing", "--from %" PRIu64 ": seq %" PRIu64 " is not in the log (it starts at %" PRIu64 ")",
			      v->from_seq, v->from_seq, r->seq);
			return false;
		}
		return true;
	}
	if (r->seq == 1 && memcmp(r->prev_hash, zero, 32) == 0)
		return true;
	if (r->seq == 1) {
		vfail(v, 1, "modified", "record 1 does not start the chain (prev_hash is not zero)");
		return false;
	}
	/* the start must be explained by a removal record later in the log */
	snprintf(d, sizeof(d), "the log starts at seq %" PRIu64 " and no gap record explains records 1..%" PRIu64,
		 r->seq, r->seq - 1);
	add_pending(v, 1, r->seq - 1, r->prev_hash, "missing", d);
	return true;
}

bool vg_audit_verify_feed(struct vg_audit_verify *v, const struct vg_arec *r)
{
	char d[200];

	if (v->reason[0]) {
		/* a gap record later on may still explain a pending gap before the failure */
		if (r->kind == VG_AREC_EVENT && memmem(r->payload, r->len, "\"gap\":{", 7)) {
			json_t *ev = json_loadb(r->payload, r->len, 0, NULL);

			if (vg_audit_type_declares_gap(json_string_value(json_object_get(ev, "type"))))
				feed_gap(v, r, json_object_get(ev, "data"));
			json_decref(ev);
		}
		return false;
	}
	if (!v->started && !feed_start(v, r))
		return false;
	if (r->seq < v->expect) {
		if (in_pending(v, r->seq))
			vfail(v, r->seq, "reordered", "record %" PRIu64 " appears after record %" PRIu64 " (out of order)",
			      r->seq, v->expect - 1);
		else
			vfail(v, r->seq, "reordered", "record %" PRIu64 " appears after record %" PRIu64, r->seq,
			      v->expect - 1);
		return false;
	}
	if (v->bad_bytes) {
		v->bad_bytes = false;
		if (r->seq == v->expect) {
			vfail(v, v->bad_bytes_seq, "modified", "bytes before record %" PRIu64 " are not a record (%s)",
			      r->seq, v->bad_where);
			return false;
		}
		snprintf(d, sizeof(d), "records %" PRIu64 "..%" PRIu64 " are unreadable (%s)", v->expect, r->seq - 1,
			 v->bad_where);
		add_pending(v, v->expect, r->seq - 1, r->prev_hash, "modified", d);
	} else if (r->seq > v->expect) {
		snprintf(d, sizeof(d), "records %" PRIu64 "..%" PRIu64 " are missing (deleted)", v->expect, r->seq - 1);
		add_pending(v, v->expect, r->seq - 1, r->prev_hash, "missing", d);
	} else if (memcmp(r->prev_hash, v->last_hash, 32) != 0) {
		/* the previous record was rewritten with a fresh hash, or (explained by a gap
		 * record) a copy holds records the host cut and did not give again */
		snprintf(d, sizeof(d), "record %" PRIu64 " was modified: its hash is not the prev_hash of record %" PRIu64,
			 r->seq - 1, r->seq);
		add_pending(v, r->seq - 1, r->seq - 1, r->prev_hash, "modified", d);
	}
	if (v->head_set && r->seq == v->head_covers && memcmp(r->hash, v->head_hash, 32) != 0) {
		vfail(v, r->seq, "modified", "record %" PRIu64 " differs from the signed head", r->seq);
		return false;
	}
	check_payload(v, r);
	if (v->reason[0])
		return false;
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
	/* altered in place: whether records were lost shows at the next valid record */
	if (v->bad_bytes)
		return;
	v->bad_bytes = true;
	v->bad_bytes_seq = v->started ? v->expect : 1;
	snprintf(v->bad_where, sizeof(v->bad_where), "%s", where);
}

int vg_audit_verify_set_head(struct vg_audit_verify *v, json_t *checkpoint_event)
{
	char lid[40];
	const char *why = check_checkpoint(v, checkpoint_event, &v->head_covers, v->head_hash, lid);

	if (why) {
		vfail(v, 0, "bad_checkpoint", "signed head: %s", why);
		return -EBADMSG;
	}
	snprintf(v->log_id, sizeof(v->log_id), "%s", lid);
	v->head_set = true;
	return 0;
}

/* A pending gap is explained when a declared gap ends exactly where it ends, resumes
 * with the same prev_hash, and declared gaps reach back without a hole to its start. */
static bool explained(const struct vg_audit_verify *v, const struct vg_audit_gap *p)
{
	uint64_t from = 0;
	bool found = false;

	for (size_t i = 0; i < v->ndeclared; i++)
		if (v->declared[i].last == p->last && memcmp(v->declared[i].resume_prev, p->resume_prev, 32) == 0 &&
		    (!found || v->declared[i].first < from)) {
			from = v->declared[i].first;
			found = true;
		}
	/* the start of a log: older removals were recorded in what they removed */
	if (!found || p->first == 1)
		return found;
	for (bool grew = true; grew && from > p->first;) {
		grew = false;
		for (size_t i = 0; i < v->ndeclared; i++)
			if (v->declared[i].last + 1 == from) {
				from = v->declared[i].first;
				grew = true;
			}
	}
	return from <= p->first;
}

void vg_audit_verify_finish(struct vg_audit_verify *v)
{
	if (!v->reason[0] && v->bad_bytes)
		vfail(v, v->bad_bytes_seq, "modified", "record %" PRIu64 " was modified (%s)", v->bad_bytes_seq,
		      v->bad_where);
	/* the first bad seq wins: an unexplained gap before a later defect is the failure */
	for (size_t i = 0; i < v->npending; i++) {
		const struct vg_audit_gap *p = &v->pending[i];

		if (explained(v, p)) {
			v->gaps_explained++;
		} else if (!v->reason[0] || p->first < v->bad_seq) {
			v->reason[0] = '\0';
			vfail(v, p->first, p->reason, "%s", p->detail);
		}
	}
	free(v->declared);
	v->declared = NULL;
	v->ndeclared = v->declcap = 0;
	if (v->reason[0])
		return;
	if (!v->started && v->head_set && v->head_covers > 0) {
		vfail(v, 1, "truncated", "the log is empty but the signed head covers seq %" PRIu64, v->head_covers);
		return;
	}
	if (v->head_set && v->head_covers > v->last_seq)
		vfail(v, v->last_seq + 1, "truncated",
		      "the log ends at seq %" PRIu64 " but the signed head covers seq %" PRIu64, v->last_seq,
		      v->head_covers);
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
	bool skipping;	 /* after bytes that are not a record: looking for the next record */
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

static void reader_advance(struct vg_audit_reader *r, size_t n)
{
	r->start += n;
	r->offset += n;
}

/* Skipping damage: move to the next offset holding a whole valid record (1), or
 * keep what may be the start of one and ask for more bytes (0). */
static int reader_resync(struct vg_audit_reader *r)
{
	struct vg_arec rec;
	size_t used;

	for (size_t p = r->start; p + VG_AREC_HDR <= r->end; p++) {
		int k;

		if (memcmp(r->buf + p + 64, VG_AREC_MAGIC, 4) != 0)
			continue;
		k = vg_arec_decode(r->buf + p, r->end - p, &rec, &used);
		if (k < 0)
			continue;
		reader_advance(r, p - r->start);
		if (k == 1)
			r->skipping = false;
		return k;
	}
	if (r->end - r->start >= VG_AREC_HDR)
		reader_advance(r, r->end - r->start - (VG_AREC_HDR - 1));
	return 0;
}

static bool has_later_segment(struct vg_audit_reader *r)
{
	uint64_t *segs = NULL;
	size_t n = 0;
	bool later = false;

	if (list_segments(r->dir, &segs, &n) < 0)
		return false;
	for (size_t i = 0; i < n; i++)
		later |= segs[i] > r->cur_first;
	free(segs);
	return later;
}

/* The end of the current segment: 1 moved to the next, 0 none (partial set), <0 error. */
static int reader_segment_end(struct vg_audit_reader *r, size_t *partial, struct vg_err *err)
{
	char path[4200];
	uint64_t before = r->cur_first;
	size_t left = r->end - r->start;
	int m;

	if (r->skipping && left >= VG_AREC_HDR) {
		/* a candidate that would need more bytes than the file has: not a record */
		reader_advance(r, 1);
		return 1;
	}
	if (!r->skipping && left >= VG_AREC_HDR && has_later_segment(r)) {
		/* a header claiming more bytes than its segment holds: damage, not a torn tail */
		seg_path(path, sizeof(path), r->dir, before);
		vg_err_set(err, EBADMSG, "audit_record_invalid", path,
			   "bytes at offset %" PRIu64 " are not a valid record", r->offset);
		r->skipping = true;
		reader_advance(r, 1);
		return -EBADMSG;
	}
	m = reader_next_segment(r, err);
	if (m < 0)
		return m;
	if (m == 0) {
		/* after damage nothing here can be a record's start: not a partial record */
		if (partial)
			*partial = r->skipping ? 0 : left;
		return 0;
	}
	if (left > 0 && !r->skipping) {
		seg_path(path, sizeof(path), r->dir, before);
		return vg_err_set(err, EBADMSG, "audit_record_truncated", path,
				  "segment ends with %zu bytes of a partial record", left);
	}
	r->skipping = false;
	return 1;
}

static int reader_fill(struct vg_audit_reader *r, struct vg_err *err)
{
	char path[4200];

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
	for (;;) {
		ssize_t got = read(r->fd, r->buf + r->end, r->cap - r->end);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			seg_path(path, sizeof(path), r->dir, r->cur_first);
			return vg_err_set(err, errno, "audit_log_unreadable", path, "read: %s", strerror(errno));
		}
		r->end += (size_t)got;
		return got > 0;
	}
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
		int k = 0;

		if (r->skipping)
			reader_resync(r);
		if (!r->skipping) {
			k = vg_arec_decode(r->buf + r->start, r->end - r->start, rec, &used);
			if (k < 0) {
				seg_path(path, sizeof(path), r->dir, r->cur_first);
				vg_err_set(err, EBADMSG, "audit_record_invalid", path,
					   "bytes at offset %" PRIu64 " are not a valid record", r->offset);
				/* the next call goes on at the next valid record */
				r->skipping = true;
				reader_advance(r, 1);
				return -EBADMSG;
			}
			if (k > 0) {
				reader_advance(r, used);
				if (rec->seq < r->from_seq)
					continue;
				return 1;
			}
		}
		k = reader_fill(r, err);
		if (k < 0)
			return k;
		if (k > 0)
			continue;
		k = reader_segment_end(r, partial, err);
		if (k <= 0)
			return k;
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
	while ((k = vg_audit_reader_next(r, &rec, &partial, err)) != 0) {
		if (k == -EBADMSG) {
			char where[160];

			snprintf(where, sizeof(where), "%s: %s", err->path, err->msg);
			vg_audit_verify_bad_bytes(v, where);
			continue;
		}
		if (k < 0)
			break;
		vg_audit_verify_feed(v, &rec);
	}
	if (k == 0 && partial) {
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

/* The fdatasync thread of asynchronous commits: one request at a time. */
struct syncer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int efd;	  /* readable when a request is done */
	int fd;		  /* the segment to sync */
	bool busy, stop;  /* a request runs (set by the caller, cleared by reap) */
	bool done;	  /* the thread finished it */
	int result;	  /* 0 or -errno */
	size_t len;	  /* buf[0, len) ... */
	uint64_t seq;	  /* ... holding records up to seq */
};

/* A growing byte buffer. */
struct sbuf {
	char *p;
	size_t len, cap;
};

struct vg_auditlog {
	char *dir, *source;
	bool source_utf8; /* else every event is refused, as json_pack would refuse it */
	EVP_PKEY *key;
	struct vg_signer signer; /* signs checkpoints with key */
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
	struct sbuf ev; /* the event being encoded (reused: no allocation per event) */
	/* asynchronous commit (vg_auditlog_commit_async): buf[0, wlen) is written to the segment
	 * but not known durable; a sync thread runs fdatasync while the caller goes on */
	size_t wlen;
	uint64_t wseq; /* the last seq in buf[0, wlen) */
	struct syncer *sy;
	time_t when_t;  /* the second when[] was formatted for */
	char when[32];
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

/* write the unwritten part of the buffer (all of it when the file is not as expected) */
static int write_rest(struct vg_auditlog *l, struct seg *s)
{
	struct stat st;
	int r;

	if (fstat(l->fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size != s->bytes + l->wlen) {
		if (ftruncate(l->fd, (off_t)s->bytes) < 0)
			return -errno;
		l->wlen = 0;
	}
	r = write_all(l->fd, l->buf + l->wlen, l->blen - l->wlen);
	if (r == 0) {
		l->wlen = l->blen;
		l->wseq = l->next_seq - 1;
	}
	return r;
}

/* no part of a failed batch stays in the file (a failed cut is the worse error) */
static int cut_back(struct vg_auditlog *l, struct seg *s, int r)
{
	l->wlen = 0;
	if (ftruncate(l->fd, (off_t)s->bytes) < 0)
		return -errno;
	return r;
}

static int write_batch(struct vg_auditlog *l, struct seg *s)
{
	int r = write_rest(l, s);

	if (r == 0 && fdatasync(l->fd) < 0)
		r = -errno;
	return r < 0 ? cut_back(l, s, r) : 0;
}

static int emit_internal(struct vg_auditlog *l, const char *type, json_t *data);
static void write_head(struct vg_auditlog *l, bool force);

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
	/* the records still waiting were not acknowledged to their producers (a grant among them
	 * was refused); when a retry writes them, this record says so */
	emit_internal(l, "audit.degraded",
		      json_pack("{s:s, s:s, s:s, s:{s:I, s:I}}", "state", "entered", "reason", "write_failed", "error",
				strerror(e), "unacknowledged", "first_seq", (json_int_t)l->durable_seq + 1, "last_seq",
				(json_int_t)l->next_seq - 1));
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

/* buf[0, len), records up to seq, are on disk: they leave the buffer */
static void made_durable(struct vg_auditlog *l, size_t len, uint64_t seq)
{
	struct seg *s = &l->segs[l->nsegs - 1];

	s->bytes += len;
	s->mtime = vg_now();
	memmove(l->buf, l->buf + len, l->blen - len);
	l->blen -= len;
	l->wlen -= len;
	l->durable_seq = seq;
	l->commits++;
}

static void *sync_main(void *arg)
{
	struct syncer *y = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&y->mu);
	for (;;) {
		while (!y->stop && (!y->busy || y->done))
			pthread_cond_wait(&y->cv, &y->mu);
		if (y->stop)
			break;
		int fd = y->fd;

		pthread_mutex_unlock(&y->mu);
		int r = fdatasync(fd) < 0 ? -errno : 0;

		pthread_mutex_lock(&y->mu);
		y->result = r;
		y->done = true;
		if (write(y->efd, &one, sizeof(one)) < 0)
			y->result = y->result ? y->result : -errno;
	}
	pthread_mutex_unlock(&y->mu);
	return NULL;
}

static void syncer_free(struct syncer *y)
{
	if (!y)
		return;
	pthread_mutex_lock(&y->mu);
	y->stop = true;
	pthread_cond_signal(&y->cv);
	pthread_mutex_unlock(&y->mu);
	pthread_join(y->thread, NULL);
	pthread_mutex_destroy(&y->mu);
	pthread_cond_destroy(&y->cv);
	close(y->efd);
	free(y);
}

static int syncer_new(struct vg_auditlog *l)
{
	struct syncer *y = calloc(1, sizeof(*y));

	if (!y)
		return -ENOMEM;
	y->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (y->efd < 0) {
		free(y);
		return -errno;
	}
	pthread_mutex_init(&y->mu, NULL);
	pthread_cond_init(&y->cv, NULL);
	if (pthread_create(&y->thread, NULL, sync_main, y) != 0) {
		close(y->efd);
		free(y);
		return -EAGAIN;
	}
	l->sy = y;
	return 0;
}

/* Take the result of the running fdatasync (waiting for it when wait): its records are
 * durable, or the written part of the buffer is cut from the file and the log is degraded
 * until a retry (vg_auditlog_tick) writes the whole buffer again. Returns 0 or -errno. */
static int sync_settle(struct vg_auditlog *l, bool wait)
{
	struct syncer *y = l->sy;
	struct seg *s = &l->segs[l->nsegs - 1];
	uint64_t v;
	int r;

	if (!y)
		return 0;
	pthread_mutex_lock(&y->mu);
	while (wait && y->busy && !y->done) {
		pthread_mutex_unlock(&y->mu);
		struct pollfd p = { .fd = y->efd, .events = POLLIN };

		poll(&p, 1, -1);
		pthread_mutex_lock(&y->mu);
	}
	if (!y->busy || !y->done) {
		pthread_mutex_unlock(&y->mu);
		return 0;
	}
	if (read(y->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		v = 0;
	y->busy = y->done = false;
	r = y->result;
	pthread_mutex_unlock(&y->mu);
	if (r == 0) {
		made_durable(l, y->len, y->seq);
		return 0;
	}
	r = cut_back(l, s, r);
	write_failed(l, -r);
	return r;
}

/* Start an fdatasync of what is written (if none runs). */
static void sync_start(struct vg_auditlog *l)
{
	struct syncer *y = l->sy;

	if (!l->wlen)
		return;
	pthread_mutex_lock(&y->mu);
	if (!y->busy) {
		y->busy = true;
		y->done = false;
		y->fd = l->fd;
		y->len = l->wlen;
		y->seq = l->wseq;
		pthread_cond_signal(&y->cv);
	}
	pthread_mutex_unlock(&y->mu);
}

int vg_auditlog_commit_async(struct vg_auditlog *l, struct vg_err *err)
{
	struct seg *s;
	int r;

	if (!l->sy && (r = syncer_new(l)) < 0)
		return vg_err_set(err, -r, "no_memory", l->dir, "cannot start the sync thread: %s", strerror(-r));
	if ((r = sync_settle(l, false)) < 0 || l->write_errno)
		goto failed;
	s = &l->segs[l->nsegs - 1];
	if (l->blen > l->wlen && (r = write_rest(l, s)) < 0) {
		/* what is written may be synced right now: settle it, then cut the rest */
		sync_settle(l, true);
		r = cut_back(l, &l->segs[l->nsegs - 1], r);
		write_failed(l, -r);
		goto failed;
	}
	sync_start(l);
	return 0;
failed:
	r = r ? r : -l->write_errno;
	return vg_err_set(err, -r, "audit_log_unwritable", l->dir, "cannot make the audit log durable: %s",
			  strerror(-r));
}

int vg_auditlog_sync_fd(const struct vg_auditlog *l)
{
	return l->sy ? l->sy->efd : -1;
}

int vg_auditlog_reap(struct vg_auditlog *l, bool wait, struct vg_err *err)
{
	int r = sync_settle(l, wait);

	if (r < 0)
		return vg_err_set(err, -r, "audit_log_unwritable", l->dir, "cannot make the audit log durable: %s",
				  strerror(-r));
	if (l->write_errno)
		return 0;
	if (l->blen > l->wlen)
		return vg_auditlog_commit_async(l, err);
	sync_start(l);
	write_head(l, false);
	return 0;
}

/* write + fdatasync of the buffered records; they stay buffered on failure */
static int flush_buf(struct vg_auditlog *l, struct vg_err *err)
{
	struct seg *s = &l->segs[l->nsegs - 1];
	int r;

	if ((r = sync_settle(l, true)) < 0 || l->blen == 0)
		return r < 0 ? vg_err_set(err, -r, "audit_log_unwritable", l->dir,
					  "cannot make the audit log durable: %s", strerror(-r))
			     : 0;
	s = &l->segs[l->nsegs - 1];
	r = write_batch(l, s);
	if (r < 0) {
		write_failed(l, -r);
		return vg_err_set(err, -r, "audit_log_unwritable", l->dir, "cannot make the audit log durable: %s",
				  strerror(-r));
	}
	made_durable(l, l->blen, l->next_seq - 1);
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

/* room for n more bytes */
static int sb_grow(struct sbuf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 1024;
	char *np;

	while (cap < b->len + n)
		cap *= 2;
	if (!(np = realloc(b->p, cap)))
		return -ENOMEM;
	b->p = np;
	b->cap = cap;
	return 0;
}

static inline int sb_reserve(struct sbuf *b, size_t n)
{
	return b->len + n <= b->cap ? 0 : sb_grow(b, n);
}

static inline int sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (sb_reserve(b, n) < 0)
		return -ENOMEM;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

#define SB_LIT(b, lit) sb_put(b, lit, sizeof(lit) - 1)

/* bytes a JSON string writes as an escape: ", \ and the control characters */
static const bool json_escaped[256] = { [0 ... 0x1f] = true, ['"'] = true, ['\\'] = true };

/* whether any of 8 bytes needs an escape (< 0x20, '"' or '\\'; exact, bytes >= 0x80 never do) */
static inline bool word_escaped(const char *s)
{
	const uint64_t ones = 0x0101010101010101ull, high = ones * 0x80;
	uint64_t w, q, bs;

	memcpy(&w, s, 8);
	q = w ^ (ones * '"');
	bs = w ^ (ones * '\\');
	return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & high;
}

/* A JSON string's content escaped as jansson's compact dump escapes it (", \, control
 * characters; UTF-8 as is): the encoder below writes the bytes json_dumps(JSON_COMPACT)
 * would write. Runs without escapes are found 8 bytes at a time and copied whole. */
static int sb_esc(struct sbuf *b, const char *s, size_t n)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t i = 0, run;

	if (sb_reserve(b, n) < 0)
		return -ENOMEM;
	for (;;) {
		for (run = i; i + 8 <= n && !word_escaped(s + i); i += 8)
			;
		for (; i < n && !json_escaped[(unsigned char)s[i]]; i++)
			;
		memcpy(b->p + b->len, s + run, i - run);
		b->len += i - run;
		if (i == n)
			return 0;
		unsigned char c = (unsigned char)s[i++];
		char esc[6] = { '\\', 'u', '0', '0', hx[c >> 4], hx[c & 15] };
		size_t el = 6;

		if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
			esc[1] = c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : (char)c;
			el = 2;
		}
		/* the escape and the rest, unescaped */
		if (sb_reserve(b, el + (n - i)) < 0)
			return -ENOMEM;
		memcpy(b->p + b->len, esc, el);
		b->len += el;
	}
}

static int sb_str(struct sbuf *b, const char *s, size_t n)
{
	int r = SB_LIT(b, "\"");

	if (r == 0)
		r = sb_esc(b, s, n);
	return r ? r : SB_LIT(b, "\"");
}

/* an integer in decimal, as "%" JSON_INTEGER_FORMAT writes it */
static int sb_int(struct sbuf *b, json_int_t v)
{
	char t[24];
	size_t k = sizeof(t);
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

	do
		t[--k] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		t[--k] = '-';
	return sb_put(b, t + k, sizeof(t) - k);
}

#define SB_MAX_DEPTH 64

static int sb_json(struct sbuf *b, json_t *v, int depth);

/* An object's members in insertion order. seq > 0: the object's member "seq" gets the value
 * seq, in its place when it has one, else last (what json_object_set(v, "seq", seq) followed
 * by json_dumps writes, without changing v). */
static int sb_object(struct sbuf *b, json_t *v, int depth, uint64_t seq)
{
	bool seq_done = !seq, first = true;
	int r = SB_LIT(b, "{");

	for (void *it = json_object_iter(v); it && r == 0; it = json_object_iter_next(v, it)) {
		const char *k = json_object_iter_key(it);
		size_t kl = json_object_iter_key_len(it);
		bool is_seq = !seq_done && kl == 3 && memcmp(k, "seq", 3) == 0;

		if (!first)
			r = SB_LIT(b, ",");
		first = false;
		if (r == 0)
			r = sb_str(b, k, kl);
		if (r == 0)
			r = SB_LIT(b, ":");
		if (r == 0)
			r = is_seq ? sb_int(b, (json_int_t)seq) : sb_json(b, json_object_iter_value(it), depth + 1);
		seq_done = seq_done || is_seq;
	}
	if (r == 0 && !seq_done)
		r = first ? SB_LIT(b, "\"seq\":") : SB_LIT(b, ",\"seq\":");
	if (r == 0 && !seq_done)
		r = sb_int(b, (json_int_t)seq);
	return r ? r : SB_LIT(b, "}");
}

/* Compact JSON of v, byte for byte what json_dumps(v, JSON_COMPACT) writes (insertion order)
 * without its per-value allocations; reals, rare in events, are left to jansson. */
static int sb_json(struct sbuf *b, json_t *v, int depth)
{
	char *s;
	json_t *x;
	size_t i;
	int r = 0;

	if (depth > SB_MAX_DEPTH)
		return -ELOOP;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return sb_object(b, v, depth, 0);
	case JSON_ARRAY:
		r = SB_LIT(b, "[");
		json_array_foreach(v, i, x) {
			if (r == 0 && i)
				r = SB_LIT(b, ",");
			if (r == 0)
				r = sb_json(b, x, depth + 1);
		}
		return r ? r : SB_LIT(b, "]");
	case JSON_STRING:
		return sb_str(b, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return sb_int(b, json_integer_value(v));
	case JSON_TRUE:
		return SB_LIT(b, "true");
	case JSON_FALSE:
		return SB_LIT(b, "false");
	case JSON_NULL:
		return SB_LIT(b, "null");
	default:
		if (!(s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
			return -ENOMEM;
		r = sb_put(b, s, strlen(s));
		free(s);
		return r;
	}
}

/* jansson's test, for strings not yet in a json_t (ASCII, the usual case, costs a scan) */
static bool valid_utf8(const char *s)
{
	json_t *t;

	for (const char *p = s; *p; p++)
		if ((unsigned char)*p >= 0x80)
			goto slow;
	return true;
slow:
	t = json_string(s);
	json_decref(t);
	return t != NULL;
}

/* The event's CloudEvents envelope into l->ev: the bytes json_dumps(JSON_COMPACT) writes for
 * make_event's object, without building it. Takes data. */
static int encode_event(struct vg_auditlog *l, const char *type, const char *subject, json_t *data)
{
	struct sbuf *b = &l->ev;
	time_t now = vg_now();
	int r;

	if (now != l->when_t) {
		vg_time_format(now, l->when);
		l->when_t = now;
	}
	/* as make_event: a name that is not UTF-8 is refused, a subject that is not is left out */
	if (!json_is_object(data) || !l->source_utf8 || !valid_utf8(type)) {
		json_decref(data);
		return -EINVAL;
	}
	if (subject && !valid_utf8(subject))
		subject = NULL;
	b->len = 0;
	r = SB_LIT(b, "{\"specversion\":\"1.0\",\"id\":\"");
	if (r == 0)
		r = sb_esc(b, l->log_id, strlen(l->log_id));
	if (r == 0)
		r = SB_LIT(b, "-");
	if (r == 0)
		r = sb_int(b, (json_int_t)l->next_seq);
	if (r == 0)
		r = SB_LIT(b, "\",\"source\":");
	if (r == 0)
		r = sb_str(b, l->source, strlen(l->source));
	if (r == 0)
		r = SB_LIT(b, ",\"type\":\"dev.vigil.");
	if (r == 0)
		r = sb_esc(b, type, strlen(type));
	if (r == 0)
		r = SB_LIT(b, "\",\"time\":");
	if (r == 0)
		r = sb_str(b, l->when, strlen(l->when));
	if (r == 0)
		r = SB_LIT(b, ",\"datacontenttype\":\"application/json\",\"data\":");
	if (r == 0)
		r = sb_object(b, data, 1, l->next_seq);
	if (r == 0 && subject)
		r = SB_LIT(b, ",\"subject\":");
	if (r == 0 && subject)
		r = sb_str(b, subject, strlen(subject));
	if (r == 0)
		r = SB_LIT(b, "}");
	json_decref(data);
	return r;
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
		r = vg_hostkey_sign_with(&l->signer, VG_HOSTKEY_AUDIT_CHECKPOINT, msg, strlen(msg), &sig, &siglen);
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

/* data.gap of a gap record: seqs first..last are not in the log; the record after
 * them has prev_hash next_prev */
static json_t *gap_json(uint64_t first, uint64_t last, const uint8_t next_prev[32])
{
	char hh[65];

	vg_hex(next_prev, 32, hh);
	return json_pack("{s:I, s:I, s:s}", "first_seq", (json_int_t)first, "last_seq", (json_int_t)last,
			 "next_prev_hash", hh);
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
			     json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:o}", "reason", reason, "first_seq",
				       (json_int_t)s.first, "last_seq", (json_int_t)last, "events", (json_int_t)events,
				       "unforwarded_events", (json_int_t)unfwd, "next_prev_hash", hh, "gap",
				       gap_json(s.first, last, next_prev)));
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
	if (seq_out)
		*seq_out = l->next_seq;
	r = encode_event(l, type, subject, data);
	if (r == 0)
		r = append_record(l, VG_AREC_EVENT, l->ev.p, l->ev.len);
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
	/* with asynchronous commits the caller's loop is not held for the fdatasync; a batch the
	 * disk refused is retried synchronously, as it would be without them */
	if (l->sy && !l->write_errno) {
		int r = vg_auditlog_commit_async(l, err);

		write_head(l, true);
		return r;
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

uint64_t vg_auditlog_next_seq(const struct vg_auditlog *l)
{
	return l->next_seq;
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
	while ((r = vg_audit_reader_next(rd, &rec, NULL, err)) != 0) {
		if (r == -EBADMSG)
			continue; /* damage in an older segment: verify reports it */
		if (r < 0 || rec.seq >= l->segs[l->nsegs - 1].first)
			break;
		memcpy(l->last_hash, rec.hash, 32);
		if (rec.kind == VG_AREC_CHECKPOINT)
			l->last_ckpt_seq = rec.seq;
	}
	vg_audit_reader_free(rd);
	return r < 0 ? r : 0;
}

/* What open found and must record once the log is writable. */
struct recovery {
	json_t *events;	  /* [[type, data], ...] */
	bool new_segment; /* seqs were skipped or damage is kept: continue in a fresh segment */
};

static void recovery_add(struct recovery *rc, const char *type, json_t *data)
{
	if (!rc->events)
		rc->events = json_array();
	json_array_append_new(rc->events, json_pack("[s, o]", type, data));
}

/* The highest seq >= lo that a record header in p claims (0: none): a seq a torn or
 * damaged record may have carried is never given again. */
static uint64_t max_claimed_seq(const uint8_t *p, size_t len, uint64_t lo)
{
	uint64_t max = 0;

	for (size_t i = 0; i + VG_AREC_HDR <= len; i++) {
		uint64_t seq;

		if (memcmp(p + i + 64, VG_AREC_MAGIC, 4) != 0)
			continue;
		seq = get_be64(p + i + 72);
		if (seq >= lo && seq - lo < (1u << 20) && seq > max)
			max = seq;
	}
	return max;
}

/* The next offset after off holding a valid record of seq >= min_seq, or len. */
static size_t resync_at(const uint8_t *p, size_t off, size_t len, uint64_t min_seq, struct vg_arec *rec)
{
	for (size_t i = off + 1; i + VG_AREC_HDR <= len; i++) {
		size_t used;

		if (memcmp(p + i + 64, VG_AREC_MAGIC, 4) == 0 && vg_arec_decode(p + i, len - i, rec, &used) == 1 &&
		    rec->seq >= min_seq)
			return i;
	}
	return len;
}

/* Whole records from off that continue the chain (or start it at seq first). */
static size_t scan_chain(struct vg_auditlog *l, const uint8_t *p, size_t off, size_t len, bool *have, uint64_t first)
{
	struct vg_arec rec;
	size_t used;

	while (vg_arec_decode(p + off, len - off, &rec, &used) == 1) {
		if (*have ? (rec.seq != l->next_seq || memcmp(rec.prev_hash, l->last_hash, 32) != 0) : rec.seq != first)
			break;
		l->next_seq = rec.seq + 1;
		memcpy(l->last_hash, rec.hash, 32);
		if (rec.kind == VG_AREC_CHECKPOINT)
			l->last_ckpt_seq = rec.seq;
		*have = true;
		off += used;
	}
	return off;
}

/* Durable records follow the bad bytes at off..next: keep everything in place (history
 * is never rewritten), save a copy, and declare the seqs that cannot be read. */
static void quarantine(struct vg_auditlog *l, struct recovery *rc, const char *path, const uint8_t *p, size_t off,
		       size_t next, const struct vg_arec *resume)
{
	char saved[4300];
	json_t *d;

	snprintf(saved, sizeof(saved), "%s/damaged-%020" PRIu64 ".bin", l->dir, l->next_seq);
	vg_write_file_atomic(saved, p + off, next - off, 0600);
	d = json_pack("{s:s, s:I, s:I, s:I, s:I, s:s}", "segment", path, "offset", (json_int_t)off, "bytes",
		      (json_int_t)(next - off), "first_seq", (json_int_t)l->next_seq, "last_seq",
		      (json_int_t)resume->seq - 1, "saved_as", saved);
	if (resume->seq > l->next_seq)
		json_object_set_new(d, "gap", gap_json(l->next_seq, resume->seq - 1, resume->prev_hash));
	recovery_add(rc, "audit.damaged", d);
	rc->new_segment = true;
	/* the chain goes on from the first record after the damage */
	l->next_seq = resume->seq;
	memcpy(l->last_hash, resume->prev_hash, 32);
}

/* Bytes after the last whole record that nothing durable follows: a torn write. */
static int cut_tail(struct vg_auditlog *l, struct recovery *rc, const char *path, const uint8_t *p, size_t off,
		    size_t len, struct vg_err *err)
{
	char saved[4300];
	uint64_t claimed = max_claimed_seq(p + off, len - off, l->next_seq);
	json_t *d;
	int fd;

	snprintf(saved, sizeof(saved), "%s/torn-%020" PRIu64 ".bin", l->dir, l->next_seq);
	vg_write_file_atomic(saved, p + off, len - off, 0600);
	if (truncate(path, (off_t)off) < 0 || (fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return vg_err_set(err, errno, "audit_log_unwritable", path, "cannot cut the torn tail: %s",
				  strerror(errno));
	if (fsync(fd) < 0) {
		close(fd);
		return vg_err_set(err, errno, "audit_log_unwritable", path, "fsync: %s", strerror(errno));
	}
	close(fd);
	d = json_pack("{s:s, s:I, s:I, s:I, s:I, s:s}", "segment", path, "offset", (json_int_t)off, "bytes_cut",
		      (json_int_t)(len - off), "first_lost_seq", (json_int_t)l->next_seq, "whole_records_cut",
		      (json_int_t)0, "saved_as", saved);
	if (claimed) {
		/* a cut record had a seq: it is not given again */
		json_object_set_new(d, "last_lost_seq", json_integer((json_int_t)claimed));
		json_object_set_new(d, "gap", gap_json(l->next_seq, claimed, l->last_hash));
		l->next_seq = claimed + 1;
		rc->new_segment = true;
	}
	recovery_add(rc, "audit.tail_cut", d);
	return 0;
}

/* Scan the last segment: quarantine damage that durable records follow, cut a torn
 * tail, learn seq and hash. */
static int recover_tail(struct vg_auditlog *l, struct recovery *rc, struct vg_err *err)
{
	struct seg *s = &l->segs[l->nsegs - 1];
	char path[4200];
	_cleanup_free_ char *data = NULL;
	const uint8_t *p;
	size_t len = 0, off;
	struct vg_arec rec;
	bool have = false;
	int r;

	seg_path(path, sizeof(path), l->dir, s->first);
	r = vg_read_file(path, (size_t)1 << 32, &data, &len);
	if (r < 0)
		return vg_err_set(err, -r, "audit_log_unreadable", path, "cannot read: %s", strerror(-r));
	p = (const uint8_t *)data;
	off = scan_chain(l, p, 0, len, &have, s->first);
	if (!have) {
		l->next_seq = s->first;
		if (l->nsegs > 1 && (r = learn_prev_segment(l, err)) < 0)
			return r;
	}
	while (off < len) {
		size_t next = resync_at(p, off, len, have ? l->next_seq : s->first, &rec);

		if (next == len) {
			if ((r = cut_tail(l, rc, path, p, off, len, err)) < 0)
				return r;
			len = off;
			break;
		}
		quarantine(l, rc, path, p, off, next, &rec);
		off = scan_chain(l, p, next, len, &have, s->first);
	}
	s->bytes = len;
	return 0;
}

static bool same_str(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* The newest seq something outside the log vouched for: the signed head or a sink's
 * acknowledgement. A log that ends before it was rolled back or lost its end. */
static uint64_t acknowledged_floor(struct vg_auditlog *l)
{
	char path[4200];
	uint64_t floor = 0;
	DIR *d;
	struct dirent *de;
	json_t *j;

	snprintf(path, sizeof(path), "%s/" VG_AUDIT_HEAD_FILE, l->dir);
	j = json_load_file(path, 0, NULL);
	if (same_str(json_string_value(json_object_get(json_object_get(j, "data"), "log_id")), l->log_id))
		floor = (uint64_t)json_integer_value(json_object_get(json_object_get(j, "data"), "seq"));
	json_decref(j);
	snprintf(path, sizeof(path), "%s/cursors", l->dir);
	if (!(d = opendir(path)))
		return floor;
	while ((de = readdir(d))) {
		char cp[4500];

		if (de->d_name[0] == '.')
			continue;
		snprintf(cp, sizeof(cp), "%s/%s", path, de->d_name);
		j = json_load_file(cp, 0, NULL);
		if (same_str(json_string_value(json_object_get(j, "log_id")), l->log_id) &&
		    json_integer_value(json_object_get(j, "seq")) > (json_int_t)floor)
			floor = (uint64_t)json_integer_value(json_object_get(j, "seq"));
		json_decref(j);
	}
	closedir(d);
	return floor;
}

static void check_rollback(struct vg_auditlog *l, struct recovery *rc)
{
	uint64_t floor = acknowledged_floor(l);

	if (floor < l->next_seq)
		return;
	recovery_add(rc, "audit.rolled_back",
		     json_pack("{s:I, s:I, s:o}", "log_end_seq", (json_int_t)l->next_seq - 1, "acknowledged_seq",
			       (json_int_t)floor, "gap", gap_json(l->next_seq, floor, l->last_hash)));
	l->next_seq = floor + 1;
	rc->new_segment = true;
}

/* The segment new records go to: the last one, or a fresh one after skipped seqs or
 * kept damage (so the damage is never scanned as a tail again). */
static int open_current(struct vg_auditlog *l, const struct recovery *rc, struct vg_err *err)
{
	uint64_t bytes;
	int r;

	if (!l->nsegs)
		return open_segment(l, l->next_seq, err);
	if (rc->new_segment)
		return open_segment(l, l->next_seq, err);
	bytes = l->segs[l->nsegs - 1].bytes;
	l->nsegs--; /* reopen it as the current segment */
	if ((r = open_segment(l, l->segs[l->nsegs].first, err)) < 0)
		return r;
	l->segs[l->nsegs - 1].bytes = bytes;
	return 0;
}

int vg_auditlog_open(const struct vg_auditlog_opts *o, struct vg_auditlog **out, struct vg_err *err)
{
	struct vg_auditlog *l = calloc(1, sizeof(*l));
	uint64_t *segs = NULL;
	size_t n = 0;
	struct recovery rc = { 0 };
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
	l->source_utf8 = l->source && valid_utf8(l->source);
	l->key = o->key;
	l->signer.key = o->key;
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
	if (l->nsegs && (r = recover_tail(l, &rc, err)) < 0)
		goto fail;
	check_rollback(l, &rc);
	if ((r = open_current(l, &rc, err)) < 0)
		goto fail;
	l->durable_seq = l->next_seq - 1;
	free(segs);
	segs = NULL;
	if (rc.events) {
		/* each defect is recorded and sealed at once, so a collector's copy explains it */
		size_t i;
		json_t *e;

		json_array_foreach(rc.events, i, e)
			emit_internal(l, json_string_value(json_array_get(e, 0)), json_incref(json_array_get(e, 1)));
		if ((r = checkpoint(l)) < 0 || (r = vg_auditlog_commit(l, err)) < 0)
			goto fail;
	}
	json_decref(rc.events);
	*out = l;
	return 0;
fail:
	json_decref(rc.events);
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
		syncer_free(l->sy);
		close(l->fd);
	}
	vg_signer_clear(&l->signer);
	free(l->head_pending);
	free(l->buf);
	free(l->ev.p);
	free(l->segs);
	free(l->dir);
	free(l->source);
	free(l);
}

/* ------------------------------------------------ a collector's copy */

struct ev_line {
	uint64_t seq, line;
	uint32_t kind;
	char *payload;
	size_t len;
};

struct ev_log {
	char source[256], log_id[40];
	struct ev_line *evs;
	size_t n, cap;
};

struct vg_audit_events {
	char *txt;
	struct ev_log *logs;
	size_t nlogs;
	uint64_t events, unparseable, first_bad_lines[8];
};

static int cmp_ev(const void *a, const void *b)
{
	const struct ev_line *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static struct ev_log *events_log(struct vg_audit_events *e, const char *source, const char *log_id)
{
	struct ev_log *nl;

	for (size_t i = 0; i < e->nlogs; i++)
		if (strcmp(e->logs[i].source, source) == 0 && strcmp(e->logs[i].log_id, log_id) == 0)
			return &e->logs[i];
	if (!(nl = realloc(e->logs, (e->nlogs + 1) * sizeof(*nl))))
		return NULL;
	e->logs = nl;
	nl = &e->logs[e->nlogs++];
	memset(nl, 0, sizeof(*nl));
	snprintf(nl->source, sizeof(nl->source), "%s", source);
	snprintf(nl->log_id, sizeof(nl->log_id), "%s", log_id);
	return nl;
}

/* One line: 1 an event (added), 0 not one of ours, -EINVAL unparseable, -ENOMEM. */
static int events_line(struct vg_audit_events *e, char *line, uint64_t lineno, const char *source)
{
	char *js = strchr(line, '{'), *dash;
	json_t *ev, *seq;
	const char *src, *type, *id;
	char lid[40];
	struct ev_log *lg;
	int r = -EINVAL;

	if (!js)
		return 0; /* not JSON at all: a collector's own line */
	ev = json_loads(js, 0, NULL);
	seq = json_object_get(json_object_get(ev, "data"), "seq");
	src = json_string_value(json_object_get(ev, "source"));
	type = json_string_value(json_object_get(ev, "type"));
	id = json_string_value(json_object_get(ev, "id"));
	dash = id ? strrchr(id, '-') : NULL;
	if (!ev || !json_is_integer(seq) || json_integer_value(seq) < 1 || !src || !type || !dash ||
	    (size_t)(dash - id) >= sizeof(lid) || strlen(js) > VG_AREC_MAX_PAYLOAD)
		goto out;
	r = 0;
	if (source && strcmp(src, source) != 0)
		goto out;
	snprintf(lid, sizeof(lid), "%.*s", (int)(dash - id), id);
	r = -ENOMEM;
	if (!(lg = events_log(e, src, lid)))
		goto out;
	if (lg->n == lg->cap) {
		size_t cap = lg->cap ? lg->cap * 2 : 1024;
		struct ev_line *ne = realloc(lg->evs, cap * sizeof(*ne));

		if (!ne)
			goto out;
		lg->evs = ne;
		lg->cap = cap;
	}
	lg->evs[lg->n++] = (struct ev_line){ .seq = (uint64_t)json_integer_value(seq), .line = lineno,
					     .kind = strcmp(type, "dev.vigil.audit.checkpoint") == 0 ? VG_AREC_CHECKPOINT
												     : VG_AREC_EVENT,
					     .payload = js,
					     .len = strlen(js) };
	e->events++;
	r = 1;
out:
	json_decref(ev);
	return r;
}

int vg_audit_events_load(const char *path, const char *source, struct vg_audit_events **out, struct vg_err *err)
{
	struct vg_audit_events *e = calloc(1, sizeof(*e));
	size_t len = 0;
	uint64_t lineno = 0;
	char *line, *next;
	int r;

	if (!e)
		return vg_err_set(err, ENOMEM, "no_memory", path, "out of memory");
	r = vg_read_file(path, (size_t)1 << 33, &e->txt, &len);
	if (r < 0) {
		free(e);
		return vg_err_set(err, -r, "events_unreadable", path, "cannot read: %s", strerror(-r));
	}
	/* one CloudEvent per line (LF or CRLF), possibly behind a syslog header */
	for (line = e->txt; line && *line; line = next) {
		size_t n;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		n = strlen(line);
		if (n && line[n - 1] == '\r')
			line[n - 1] = '\0';
		r = events_line(e, line, lineno, source);
		if (r == -ENOMEM) {
			vg_audit_events_free(e);
			return vg_err_set(err, ENOMEM, "no_memory", path, "out of memory");
		}
		if (r == -EINVAL && e->unparseable++ < 8)
			e->first_bad_lines[e->unparseable - 1] = lineno;
	}
	for (size_t i = 0; i < e->nlogs; i++)
		if (e->logs[i].n)
			qsort(e->logs[i].evs, e->logs[i].n, sizeof(*e->logs[i].evs), cmp_ev);
	*out = e;
	return 0;
}

size_t vg_audit_events_logs(const struct vg_audit_events *e)
{
	return e->nlogs;
}

void vg_audit_events_describe(const struct vg_audit_events *e, size_t i, const char **source, const char **log_id)
{
	*source = e->logs[i].source;
	*log_id = e->logs[i].log_id;
}

uint64_t vg_audit_events_unparseable(const struct vg_audit_events *e, const uint64_t **first_lines, size_t *nfirst)
{
	*first_lines = e->first_bad_lines;
	*nfirst = e->unparseable < 8 ? e->unparseable : 8;
	return e->unparseable;
}

struct decl {
	uint64_t at, last; /* the gap record's seq, the gap's last seq */
	uint8_t next_prev[32];
};

/* The gaps the copy declares, in seq order of their gap records. */
static struct decl *copy_declarations(const struct ev_log *lg, size_t *n)
{
	struct decl *d = NULL;
	size_t cnt = 0;

	for (size_t k = 0; k < lg->n; k++) {
		json_t *ev, *g;
		struct decl x;

		if (!memmem(lg->evs[k].payload, lg->evs[k].len, "\"gap\":{", 7))
			continue;
		ev = json_loadb(lg->evs[k].payload, lg->evs[k].len, 0, NULL);
		g = json_object_get(json_object_get(ev, "data"), "gap");
		x.at = lg->evs[k].seq;
		x.last = (uint64_t)json_integer_value(json_object_get(g, "last_seq"));
		if (vg_audit_type_declares_gap(json_string_value(json_object_get(ev, "type"))) &&
		    json_is_integer(json_object_get(g, "last_seq")) &&
		    hex_decode32(json_string_value(json_object_get(g, "next_prev_hash")), x.next_prev) == 0) {
			struct decl *nd = realloc(d, (cnt + 1) * sizeof(*nd));

			if (nd) {
				d = nd;
				d[cnt++] = x;
			}
		}
		json_decref(ev);
	}
	*n = cnt;
	return d;
}

/* The prev_hash of x when the copy cannot chain it to the record before: declared by a
 * later gap record whose gap ends at seq-1, else (after a gap in the copy) a
 * checkpoint's own head_hash. Later checkpoints vouch for it. */
static int resume_hash(const struct decl *d, size_t nd, const struct ev_line *x, bool after_gap, uint8_t out[32])
{
	int r = -ENOENT;

	for (size_t i = 0; i < nd; i++)
		if (d[i].at >= x->seq && d[i].last + 1 == x->seq) {
			memcpy(out, d[i].next_prev, 32);
			return 0;
		}
	if (after_gap && x->kind == VG_AREC_CHECKPOINT) {
		json_t *ev = json_loadb(x->payload, x->len, 0, NULL);

		r = hex_decode32(json_string_value(json_object_get(json_object_get(ev, "data"), "head_hash")), out);
		json_decref(ev);
	}
	return r;
}

void vg_audit_events_verify(const struct vg_audit_events *e, size_t i, struct vg_audit_verify *v, uint64_t *duplicates)
{
	const struct ev_log *lg = &e->logs[i];
	uint8_t prev[32] = { 0 }, *buf;
	size_t maxlen = 0, dups = 0, ndecl = 0;
	struct decl *decl = copy_declarations(lg, &ndecl);

	snprintf(v->expect_log_id, sizeof(v->expect_log_id), "%s", lg->log_id);
	for (size_t k = 0; k < lg->n; k++)
		if (lg->evs[k].len > maxlen)
			maxlen = lg->evs[k].len;
	buf = malloc(VG_AREC_HDR + maxlen);
	for (size_t k = 0; buf && k < lg->n; k++) {
		const struct ev_line *x = &lg->evs[k];
		struct vg_arec rec;
		size_t used;

		if (k && x->seq == lg->evs[k - 1].seq) {
			/* at-least-once: a duplicate must be the same bytes */
			if (x->len != lg->evs[k - 1].len || memcmp(x->payload, lg->evs[k - 1].payload, x->len)) {
				vfail(v, x->seq, "modified", "two different events carry seq %" PRIu64 " (line %" PRIu64 ")",
				      x->seq, x->line);
				break;
			}
			dups++;
			continue;
		}
		/* the collector has the payloads: rebuild each record and its chain hash */
		vg_arec_encode(buf, prev, x->seq, x->kind, x->payload, x->len);
		vg_arec_decode(buf, VG_AREC_HDR + x->len, &rec, &used);
		if (x->seq > 1 && resume_hash(decl, ndecl, x, k == 0 || x->seq != lg->evs[k - 1].seq + 1, prev) == 0) {
			vg_arec_encode(buf, prev, x->seq, x->kind, x->payload, x->len);
			vg_arec_decode(buf, VG_AREC_HDR + x->len, &rec, &used);
		}
		memcpy(prev, rec.hash, 32);
		if (v->from_seq <= 1 || x->seq >= v->from_seq)
			vg_audit_verify_feed(v, &rec);
	}
	if (!buf)
		vfail(v, 0, "modified", "out of memory");
	free(buf);
	free(decl);
	if (duplicates)
		*duplicates = dups;
	vg_audit_verify_finish(v);
}

void vg_audit_events_free(struct vg_audit_events *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nlogs; i++)
		free(e->logs[i].evs);
	free(e->logs);
	free(e->txt);
	free(e);
}
