/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local audit log (docs/audit.md): append-only segment files of
 * hash-chained records, group commit with fdatasync, signed checkpoints,
 * torn-tail recovery, retention and spool limits; plus the reader and the
 * verifier that `vigilctl audit verify` and the forwarders use.
 *
 * Record (all integers big-endian), VG_AREC_HDR bytes then the payload:
 *   0  hash[32]       sha256 of bytes 32 .. end (= prev_hash ‖ record bytes)
 *  32  prev_hash[32]  hash of the record seq-1 (zeros for seq 1)
 *  64  magic "VGA1"
 *  68  u32 payload length (<= VG_AREC_MAX_PAYLOAD)
 *  72  u64 seq
 *  80  u32 kind (enum vg_arec_kind)
 *  84  payload: one CloudEvent, compact JSON
 */
#ifndef VIGIL_AUDITLOG_H
#define VIGIL_AUDITLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "vigil/err.h"

#define VG_AREC_HDR 84u
#define VG_AREC_MAGIC "VGA1"
#define VG_AREC_MAX_PAYLOAD (1u << 20)
#define VG_AUDIT_SEG_SUFFIX ".seg"
#define VG_AUDIT_HEAD_FILE "head.json"

enum vg_arec_kind { VG_AREC_EVENT = 1, VG_AREC_CHECKPOINT = 2 };

/* A decoded record; payload points into the buffer it was decoded from. */
struct vg_arec {
	uint8_t hash[32], prev_hash[32];
	uint64_t seq;
	uint32_t kind;
	const char *payload;
	size_t len;
};

/* Pure record codec. decode: 1 and *used = record size when a whole record is
 * there, 0 when buf holds only its beginning (need more bytes), -EBADMSG when
 * the bytes cannot be a record (bad magic, length, kind or hash). */
int vg_arec_decode(const uint8_t *buf, size_t len, struct vg_arec *out, size_t *used);
/* Encode into out (VG_AREC_HDR + plen bytes); computes the hash. */
void vg_arec_encode(uint8_t *out, const uint8_t prev_hash[32], uint64_t seq, uint32_t kind, const void *payload,
		    size_t plen);

/* The message a checkpoint signature covers (before the host key's domain prefix,
 * see vigil/hostkey.h). */
int vg_audit_checkpoint_message(char *buf, size_t len, const char *source, const char *log_id, uint64_t covers_seq,
				const char *head_hash_hex, const char *time);

/* Event types whose data.gap {first_seq, last_seq, next_prev_hash} declares seqs the
 * log no longer holds (docs/audit.md "Gaps"). */
bool vg_audit_type_declares_gap(const char *type);

/* ---- verifier: feed records in file order, then finish ---- */
#define VG_AUDIT_MAX_PENDING 64
struct vg_audit_gap {
	uint64_t first, last; /* seqs missing (pending) or declared absent */
	uint8_t resume_prev[32];
	char reason[32], detail[200];
};
struct vg_audit_verify {
	/* inputs */
	EVP_PKEY *pubkey;   /* host public key; NULL: checkpoint signatures are not checked */
	uint64_t from_seq;  /* 0 or 1: the chain must start at seq 1 */
	char expect_log_id[40]; /* "" or the log id (log.id) every checkpoint and event id must carry */
	/* outputs */
	uint64_t records, checkpoints, first_seq, last_seq, last_checkpoint_seq, bad_seq;
	char reason[32]; /* "" when intact; modified, reordered, missing, truncated, bad_checkpoint */
	char detail[256];
	uint64_t gaps_explained; /* gaps found and explained by a signed gap record */
	/* state */
	bool started, head_set, bad_bytes;
	uint64_t expect, bad_bytes_seq;
	char bad_where[160];
	uint8_t last_hash[32];
	char log_id[40], key_id[17];
	uint64_t head_covers; /* signed head: seq and hash it vouches for */
	uint8_t head_hash[32];
	struct vg_audit_gap pending[VG_AUDIT_MAX_PENDING]; /* defects a gap record may still explain */
	size_t npending;
	struct vg_audit_gap *declared; /* gaps the log declared (data.gap) */
	size_t ndeclared, declcap;
};
void vg_audit_verify_init(struct vg_audit_verify *v, EVP_PKEY *pubkey, uint64_t from_seq);
/* false once a defect is found that nothing can explain any more */
bool vg_audit_verify_feed(struct vg_audit_verify *v, const struct vg_arec *r);
/* Bytes at the end of the log that do not form a whole record. */
void vg_audit_verify_partial(struct vg_audit_verify *v, size_t bytes);
/* Bytes where the next record should be that are not a record with a matching hash;
 * the reader skips to the next valid record and feeding continues. */
void vg_audit_verify_bad_bytes(struct vg_audit_verify *v, const char *where);
/* Before feeding: a signed head (a dev.vigil.audit.checkpoint event, as in head.json or
 * from a collector) the log must reach and agree with. -EBADMSG (and reason) if invalid. */
int vg_audit_verify_set_head(struct vg_audit_verify *v, json_t *checkpoint_event);
/* Settles pending gaps (the first unexplained one is the failure) and frees. */
void vg_audit_verify_finish(struct vg_audit_verify *v);

/* ---- reader: records of a log directory in seq order across segments ---- */
struct vg_audit_reader;
/* Starts at the segment holding from_seq (records before it are skipped). */
int vg_audit_reader_open(const char *dir, uint64_t from_seq, struct vg_audit_reader **out, struct vg_err *err);
/* 1: *rec valid until the next call; 0: no further record now (the reader can be
 * called again later to follow a growing log); <0: unreadable bytes (err says where,
 * *partial the number of bytes that do not form a record). */
int vg_audit_reader_next(struct vg_audit_reader *r, struct vg_arec *rec, size_t *partial, struct vg_err *err);
void vg_audit_reader_free(struct vg_audit_reader *r);

/* Offline verification of a log directory (vigilctl audit verify). head: optional
 * checkpoint event (JSON) from the head file or a collector. */
int vg_audit_verify_dir(const char *dir, struct vg_audit_verify *v, json_t *head, struct vg_err *err);

/* A collector's copy: CloudEvents one per line, LF or CRLF (anything before the
 * first '{' of a line is ignored, e.g. a syslog header), of one or several logs
 * (source + the log id in "id"), only events of source (NULL: any). Lines with a
 * '{' that are no event are counted as unparseable. */
struct vg_audit_events;
int vg_audit_events_load(const char *path, const char *source, struct vg_audit_events **out, struct vg_err *err);
size_t vg_audit_events_logs(const struct vg_audit_events *e);
void vg_audit_events_describe(const struct vg_audit_events *e, size_t i, const char **source, const char **log_id);
/* the count, and the first (up to 8) line numbers */
uint64_t vg_audit_events_unparseable(const struct vg_audit_events *e, const uint64_t **first_lines, size_t *nfirst);
/* Rebuild every record of log i from its payload and verify the chain, the
 * checkpoints and the gaps as in the local log; duplicates must be identical. */
void vg_audit_events_verify(const struct vg_audit_events *e, size_t i, struct vg_audit_verify *v, uint64_t *duplicates);
void vg_audit_events_free(struct vg_audit_events *e);

/* ---- the writer (vigild) ---- */
enum vg_audit_when_full { VG_AUDIT_FULL_DEGRADE = 0, VG_AUDIT_FULL_ROTATE = 1 };

struct vg_auditlog_opts {
	const char *dir;    /* state_dir/audit */
	const char *source; /* "vigil://HOST" */
	EVP_PKEY *key;	    /* host key (signs checkpoints); NULL: no checkpoints */
	uint64_t segment_bytes, spool_max_bytes;
	uint32_t checkpoint_every, checkpoint_interval_s;
	enum vg_audit_when_full when_full;
	uint32_t retention_days;
};

struct vg_audit_stats {
	uint64_t next_seq, durable_seq, forwarded_seq;
	uint64_t spool_bytes, segments;
	bool degraded;		   /* spool_full or write_errno: elevation is refused */
	bool spool_full;	   /* over audit_spool_max_bytes with when_full=degrade */
	int write_errno;	   /* the disk refused a write or fdatasync (ENOSPC, EIO); 0 when fine */
	time_t degraded_since;
	uint64_t dropped_full;	   /* events refused above the hard cap since degraded */
	uint64_t dropped_unwritable; /* events refused since the disk refused a write */
	uint64_t pending_events;   /* accepted, not yet durable */
	uint64_t dropped_rotate;   /* events removed by when_full=rotate, ever (this run) */
	uint64_t last_checkpoint_seq;
	uint64_t commits;
	char log_id[40];
};

struct vg_auditlog;
/* Opens or creates dir; cuts a torn tail (recording audit.tail_cut). */
int vg_auditlog_open(const struct vg_auditlog_opts *o, struct vg_auditlog **out, struct vg_err *err);
/* Append one event (not yet durable). data is stolen; seq is added to it. *seq_out
 * may be NULL. -ENOSPC when over the hard spool cap, -errno of the failed write
 * while the disk refuses writes (the event is counted, not written). */
int vg_auditlog_emit(struct vg_auditlog *l, const char *type, const char *subject, json_t *data, uint64_t *seq_out);
/* Group commit: write buffered records, fdatasync, then rotate/checkpoint as due. */
int vg_auditlog_commit(struct vg_auditlog *l, struct vg_err *err);
/* Group commit without waiting: write the buffered records and start their fdatasync on the
 * log's sync thread (one at a time), so the caller goes on encoding while the disk works.
 * vg_auditlog_sync_fd() becomes readable when it is done; then call vg_auditlog_reap(),
 * which takes the result (durable_seq advances, or the log is degraded and the batch kept
 * for a retry, as with vg_auditlog_commit) and starts the next fdatasync of what was written
 * meanwhile. wait: block until the running fdatasync is done. */
int vg_auditlog_commit_async(struct vg_auditlog *l, struct vg_err *err);
int vg_auditlog_sync_fd(const struct vg_auditlog *l);
int vg_auditlog_reap(struct vg_auditlog *l, bool wait, struct vg_err *err);
/* Periodic duties (time-based checkpoint, retention, degraded exit); commits. */
int vg_auditlog_tick(struct vg_auditlog *l, struct vg_err *err);
/* Checkpoint now (when records follow the last one), commit, write the head file. */
int vg_auditlog_seal(struct vg_auditlog *l, struct vg_err *err);
/* Lowest seq acknowledged by every sink (have_sinks false: none configured). */
void vg_auditlog_set_forwarded(struct vg_auditlog *l, uint64_t seq, bool have_sinks);
bool vg_auditlog_degraded(const struct vg_auditlog *l);
uint64_t vg_auditlog_durable_seq(const struct vg_auditlog *l);
/* The seq the next record will get. */
uint64_t vg_auditlog_next_seq(const struct vg_auditlog *l);
void vg_auditlog_stats(const struct vg_auditlog *l, struct vg_audit_stats *s);
/* Seals with a final checkpoint, commits, closes. */
void vg_auditlog_close(struct vg_auditlog *l);

#endif
