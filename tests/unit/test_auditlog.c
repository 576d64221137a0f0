/* SPDX-License-Identifier: Apache-2.0 */
/* The audit log: codec, writer, torn tails, tamper detection, spool limits, retention. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <utime.h>
#include <unistd.h>
#include <cmocka.h>

#include "vigil/auditlog.h"
#include "vigil/crypto.h"
#include "vigil/hostkey.h"
#include "vigil/util.h"

static EVP_PKEY *key, *other_key;

static int setup_keys(void **state)
{
	struct vg_err err;

	assert_int_equal(vg_key_generate("ed25519", &key, &err), 0);
	assert_int_equal(vg_key_generate("ed25519", &other_key, &err), 0);
	return 0;
}

static int teardown_keys(void **state)
{
	EVP_PKEY_free(key);
	EVP_PKEY_free(other_key);
	return 0;
}

struct fx {
	char dir[64];
	struct vg_auditlog_opts o;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/vg-auditlog-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->o = (struct vg_auditlog_opts){ .dir = f->dir, .source = "vigil://unit", .key = key,
					  .segment_bytes = 1 << 20, .spool_max_bytes = 64 << 20,
					  .checkpoint_every = 10, .checkpoint_interval_s = 60,
					  .when_full = VG_AUDIT_FULL_DEGRADE, .retention_days = 730 };
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Write n events (closing seals them with a checkpoint and the head file). */
static void write_log(struct fx *f, int n)
{
	struct vg_auditlog *l;
	struct vg_err err;

	assert_int_equal(vg_auditlog_open(&f->o, &l, &err), 0);
	for (int i = 0; i < n; i++) {
		json_t *d = json_pack("{s:s, s:i}", "actor", "alice", "i", i);

		assert_int_equal(vg_auditlog_emit(l, "test.event", "subj", d, NULL), 0);
		if (i % 7 == 0)
			assert_int_equal(vg_auditlog_commit(l, &err), 0);
	}
	vg_auditlog_close(l);
}

static void verify(struct fx *f, struct vg_audit_verify *v, EVP_PKEY *pub)
{
	char path[128];
	struct vg_err err;
	json_t *head;

	snprintf(path, sizeof(path), "%s/" VG_AUDIT_HEAD_FILE, f->dir);
	head = json_load_file(path, 0, NULL);
	vg_audit_verify_init(v, pub, 0);
	assert_int_equal(vg_audit_verify_dir(f->dir, v, head, &err), 0);
	json_decref(head);
}

/* file offsets of every record of the single segment */
static size_t record_offsets(struct fx *f, size_t *offs, size_t max, char **data, size_t *len)
{
	char path[128];
	size_t n = 0, off = 0;

	snprintf(path, sizeof(path), "%s/%020d.seg", f->dir, 1);
	assert_int_equal(vg_read_file(path, 1 << 26, data, len), 0);
	while (off < *len && n < max) {
		struct vg_arec r;
		size_t used;

		assert_int_equal(vg_arec_decode((uint8_t *)*data + off, *len - off, &r, &used), 1);
		offs[n++] = off;
		off += used;
	}
	offs[n] = off;
	return n;
}

static void rewrite_segment(struct fx *f, const char *data, size_t len)
{
	char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%020d.seg", f->dir, 1);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	fclose(fp);
}

static void test_codec(void **state)
{
	uint8_t buf[VG_AREC_HDR + 5], prev[32] = { 1 };
	struct vg_arec r;
	size_t used = 0;

	vg_arec_encode(buf, prev, 42, VG_AREC_EVENT, "hello", 5);
	assert_int_equal(vg_arec_decode(buf, sizeof(buf), &r, &used), 1);
	assert_int_equal(used, sizeof(buf));
	assert_int_equal(r.seq, 42);
	assert_memory_equal(r.prev_hash, prev, 32);
	assert_memory_equal(r.payload, "hello", 5);
	/* the hash covers prev_hash and the record bytes */
	uint8_t h[32];

	vg_sha256(buf + 32, sizeof(buf) - 32, h);
	assert_memory_equal(h, r.hash, 32);
	assert_int_equal(vg_arec_decode(buf, sizeof(buf) - 1, &r, &used), 0);
	assert_int_equal(vg_arec_decode(buf, 10, &r, &used), 0);
	buf[VG_AREC_HDR + 2] ^= 1;
	assert_int_equal(vg_arec_decode(buf, sizeof(buf), &r, &used), -EBADMSG);
	buf[VG_AREC_HDR + 2] ^= 1;
	buf[64] = 'X';
	assert_int_equal(vg_arec_decode(buf, sizeof(buf), &r, &used), -EBADMSG);
	buf[64] = 'V';
	buf[68] = 0xff; /* length beyond the maximum */
	assert_int_equal(vg_arec_decode(buf, sizeof(buf), &r, &used), -EBADMSG);
}

static void test_intact_log_verifies(void **state)
{
	struct fx *f = *state;
	struct vg_audit_verify v;

	write_log(f, 100);
	verify(f, &v, key);
	assert_string_equal(v.reason, "");
	/* 100 events + a checkpoint every 10 + the closing one (already sealed: none) */
	assert_int_equal(v.last_seq, 110);
	assert_int_equal(v.checkpoints, 10);
	assert_int_equal(v.last_checkpoint_seq, 110);
	/* the wrong key finds the checkpoints forged */
	verify(f, &v, other_key);
	assert_string_equal(v.reason, "bad_checkpoint");
}

static void test_events_are_cloudevents(void **state)
{
	struct fx *f = *state;
	struct vg_audit_reader *r;
	struct vg_arec rec;
	struct vg_err err;
	json_t *ev;

	write_log(f, 3);
	assert_int_equal(vg_audit_reader_open(f->dir, 2, &r, &err), 0);
	assert_int_equal(vg_audit_reader_next(r, &rec, NULL, &err), 1);
	assert_int_equal(rec.seq, 2);
	ev = json_loadb(rec.payload, rec.len, 0, NULL);
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "specversion")), "1.0");
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "dev.vigil.test.event");
	assert_string_equal(json_string_value(json_object_get(ev, "source")), "vigil://unit");
	assert_string_equal(json_string_value(json_object_get(ev, "subject")), "subj");
	assert_non_null(strstr(json_string_value(json_object_get(ev, "id")), "-2"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ev, "data"), "seq")), 2);
	json_decref(ev);
	vg_audit_reader_free(r);
}

/* The writer encodes events itself: the bytes must be what json_dumps(JSON_COMPACT) writes
 * for the same object (escapes, UTF-8, nesting, numbers), and a subject that is not UTF-8
 * is left out as before. */
static void test_event_bytes_as_jansson(void **state)
{
	struct fx *f = *state;
	struct vg_auditlog *l;
	struct vg_audit_reader *r;
	struct vg_arec rec;
	struct vg_err err;
	static const char ctl[] = "a\"b\\c/d\be\ff\ng\rh\ti\x01j\x1fk\x7fl";
	json_t *in[7];
	const char *subjects[7] = { "uid:0", "s\"\n\x02", "\xff\xfe not utf-8", NULL, NULL, NULL, "x" };
	char long_str[5000];

	in[0] = json_pack("{s:s, s:I, s:I, s:b, s:b, s:n, s:f, s:f}", "ctl", ctl, "big", (json_int_t)INT64_MAX, "neg",
			  (json_int_t)INT64_MIN, "t", 1, "f", 0, "nul", "real", 0.1, "whole", 3.0);
	in[1] = json_pack("{s:[i, s, [], {}, [{s:[n]}]], s:{}, s:[]}", "arr", -1, "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",
			  "k", "empty", "none");
	in[2] = json_pack("{s:s%}", "nul inside", "a\0b", (size_t)3);
	in[3] = json_pack("{s:s, s:s, s:i}", "\xe2\x82\xac key", "v", "seq", "replaced by the writer", "after", 1);
	in[4] = json_object(); /* data of nothing but its seq */
	in[5] = json_object(); /* a key holding a NUL byte: jansson writes all of it */
	json_object_setn_new(in[5], "a\0b", 3, json_integer(1));
	/* escapes on both sides of the encoder's buffer growing */
	for (size_t i = 0; i < sizeof(long_str) - 1; i++)
		long_str[i] = i % 97 == 0 ? '\n' : i % 89 == 0 ? '"' : (char)('a' + i % 26);
	long_str[sizeof(long_str) - 1] = '\0';
	in[6] = json_pack("{s:s, s:[s, s]}", "long", long_str, "more", long_str, "\x1f");
	assert_int_equal(vg_auditlog_open(&f->o, &l, &err), 0);
	for (int i = 0; i < 7; i++) {
		assert_non_null(in[i]);
		assert_int_equal(vg_auditlog_emit(l, "test.bytes", subjects[i], json_deep_copy(in[i]), NULL), 0);
	}
	vg_auditlog_close(l);
	assert_int_equal(vg_audit_reader_open(f->dir, 1, &r, &err), 0);
	for (int i = 0; i < 7; i++) {
		json_t *ev, *want;
		char *again, *wd;

		assert_int_equal(vg_audit_reader_next(r, &rec, NULL, &err), 1);
		ev = json_loadb(rec.payload, rec.len, JSON_ALLOW_NUL, NULL);
		assert_non_null(ev);
		again = json_dumps(ev, JSON_COMPACT);
		assert_int_equal(strlen(again), rec.len);
		assert_memory_equal(again, rec.payload, rec.len);
		want = json_deep_copy(in[i]);
		json_object_set_new(want, "seq", json_integer((json_int_t)i + 1));
		assert_true(json_equal(json_object_get(ev, "data"), want));
		/* the members in jansson's order too: a new seq last, a present one in its place */
		wd = json_dumps(want, JSON_COMPACT);
		assert_non_null(strstr(again, wd));
		free(wd);
		if (i == 0 || i == 1 || i == 6)
			assert_string_equal(json_string_value(json_object_get(ev, "subject")), subjects[i]);
		else
			assert_null(json_object_get(ev, "subject"));
		assert_string_equal(json_string_value(json_object_get(ev, "type")), "dev.vigil.test.bytes");
		free(again);
		json_decref(want);
		json_decref(ev);
		json_decref(in[i]);
	}
	vg_audit_reader_free(r);
}

static void test_flip_byte(void **state)
{
	struct fx *f = *state;
	struct vg_audit_verify v;
	size_t offs[200], len;
	char *data;

	write_log(f, 30);
	record_offsets(f, offs, 199, &data, &len);
	data[offs[4] + VG_AREC_HDR + 20] ^= 0x20; /* inside record 5's JSON */
	rewrite_segment(f, data, len);
	free(data);
	verify(f, &v, key);
	assert_string_equal(v.reason, "modified");
	assert_int_equal(v.bad_seq, 5);
}

/* One flipped bit in a durable record that records follow: vigild keeps the bytes,
 * declares exactly that seq in a sealed audit.damaged record, never gives a seq again,
 * and the local log verifies with the gap explained. */
static void test_damage_quarantined_not_cut(void **state)
{
	struct fx *f = *state;
	struct vg_audit_verify v;
	struct vg_auditlog *l;
	struct vg_audit_stats st;
	struct vg_err err;
	size_t offs[200], len, len2;
	char *data, *again, path[128];
	uint64_t seq = 0;

	write_log(f, 40); /* checkpoints every 10: seqs 1..44 */
	record_offsets(f, offs, 199, &data, &len);
	data[offs[19] + VG_AREC_HDR + 20] ^= 0x20; /* record 20 */
	rewrite_segment(f, data, len);
	assert_int_equal(vg_auditlog_open(&f->o, &l, &err), 0);
	assert_int_equal(vg_auditlog_emit(l, "test.after", NULL, json_object(), &seq), 0);
	vg_auditlog_stats(l, &st);
	vg_auditlog_close(l);
	assert_int_equal(seq, 47); /* 45 audit.damaged, 46 its checkpoint, 47 this one */
	/* the damaged segment is kept byte for byte */
	snprintf(path, sizeof(path), "%s/%020d.seg", f->dir, 1);
	assert_int_equal(vg_read_file(path, 1 << 26, &again, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(again, data, len);
	free(again);
	free(data);
	verify(f, &v, key);
	assert_string_equal(v.reason, "");
	assert_int_equal(v.gaps_explained, 1);
	assert_int_equal(v.last_seq, 48);

	struct vg_audit_reader *r;
	struct vg_arec rec;

	assert_int_equal(vg_audit_reader_open(f->dir, 45, &r, &err), 0);
	assert_int_equal(vg_audit_reader_next(r, &rec, NULL, &err), 1);
	assert_int_equal(rec.seq, 45);
	assert_non_null(memmem(rec.payload, rec.len, "dev.vigil.audit.damaged", 23));
	assert_non_null(memmem(rec.payload, rec.len, "\"gap\":{\"first_seq\":20,\"last_seq\":20,", 36));
	vg_audit_reader_free(r);
	/* a second start finds nothing new to declare */
	assert_int_equal(vg_auditlog_open(&f->o, &l, &err), 0);
	vg_auditlog_stats(l, &st);
	assert_int_equal(st.next_seq, 49);
	vg_auditlog_close(l);
}

/* head.json and a sink cursor vouch for seqs the log no longer has (rolled back and
 * truncated): the next records never reuse them and declare the gap. */
static void test_rollback_not_reused(void **state)
{
	struct fx *f = *state;
	struct vg_auditlog *l;
	struct vg_err err;
	size_t offs[200], len;
	char *data, path[160];
	uint64_t seq = 0;
	FILE *fp;

	write_log(f, 30); /* 1..33 */
	record_offsets(f, offs, 199, &data, &len);
	rewrite_segment(f, data, offs[20]); /* keep 1..20 */
	free(data);
	snprintf(path, sizeof(path), "%s/cursors", f->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/cursors/c.json", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	char lid[64] = "";
	char *id = NULL;
	char idp[160];

	snprintf(idp, sizeof(idp), "%s/log.id", f->dir);
	assert_int_equal(vg_read_file(idp, 64, &id, NULL), 0);
	sscanf(id, "%63s", lid);
	free(id);
	fprintf(fp, "{\"sink\":\"c\",\"log_id\":\"%s\",\"seq\":40}\n", lid);
	fclose(fp);
	assert_int_equal(vg_auditlog_open(&f->o, &l, &err), 0);
	assert_int_equal(vg_auditlog_emit(l, "test.after", NULL, json_object(), &seq), 0);
	vg_auditlog_close(l);
	assert_int_equal(seq, 43); /* 41 audit.rolled_back, 42 its checkpoint */
	struct vg_audit_verify v;

	vg_audit_verify_init(&v, key, 0);
	assert_int_equal(vg_audit_verify_dir(f->dir, &v, NULL, &err), 0);
	assert_string_equal(v.reason, "");
	assert_int_equal(v.gaps_explained, 1);
}

/* The host key is trusted like every file vigild trusts: root's, not writable by others. */
static void test_hostkey_trusted(void **state)
{
	char dir[] = "/tmp/vigil-hostkey.XXXXXX", path[64];
	struct vg_err err = { 0 };
	EVP_PKEY *hk = NULL;

	if (geteuid() != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/host.key", dir);
	assert_int_equal(vg_hostkey_load_or_create(dir, &hk, &err), 0);
	EVP_PKEY_free(hk);
	hk = NULL;
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(vg_hostkey_load_or_create(dir, &hk, &err), -EPERM);
	assert_string_equal(err.code, "untrusted_file");
	assert_non_null(strstr(err.msg, "owned by uid 65534"));
	assert_int_equal(chown(path, 0, 0), 0);
	assert_int_equal(vg_hostkey_load_or_create(dir, &hk, &err), 0);
	EVP_PKEY_free(hk);
	hk = NULL;
	unlink(path);
	snprintf(path, sizeof(path), "%s/host.pub", dir);
	unlink(path);
	rmdir(dir);
}

/* A signature the host key made for another purpose is not a checkpoint signature. */
static void test_domain_separation(void **state)
{
	const char *m = "vigil-audit-checkpoint/1\nx\n";
	uint8_t *sig = NULL;
	size_t siglen = 0;

	assert_int_equal(vg_hostkey_sign(key, VG_HOSTKEY_POSTURE_REPORT, m, strlen(m), &sig, &siglen), 0);
	assert_int_not_equal(vg_hostkey_verify(key, VG_HOSTKEY_AUDIT_CHECKPOINT, m, strlen(m), sig, siglen), 0);
	assert_int_equal(vg_hostkey_verify(key, VG_HOSTKEY_POSTURE_REPORT, m, strlen(m), sig, siglen), 0);
	free(sig);
	/* nor is a bare signature of the message */
	assert_int_equal(vg_sign(key, m, strlen(m), &sig, &siglen), 0);
	assert_int_not_equal(vg_hostkey_verify(key, VG_HOSTKEY_AUDIT_CHECKPOINT, m, strlen(m), sig, siglen), 0);
	free(sig);
}

/* A kept signing context signs message after message correctly (checkpoints reuse one), for
 * both key kinds, and stays bound to its domain. */
static void test_signer_reused(void **state)
{
	static const char *algs[] = { "ed25519", "ecdsa-p256" };
	const char *m[3] = { "first", "second message", "" };
	struct vg_err err;

	for (size_t a = 0; a < 2; a++) {
		EVP_PKEY *k = NULL;
		struct vg_signer s = { 0 };

		assert_int_equal(vg_key_generate(algs[a], &k, &err), 0);
		s.key = k;
		for (int round = 0; round < 2; round++)
			for (size_t i = 0; i < 3; i++) {
				uint8_t *sig = NULL;
				size_t siglen = 0;

				assert_int_equal(vg_hostkey_sign_with(&s, VG_HOSTKEY_AUDIT_CHECKPOINT, m[i], strlen(m[i]),
								      &sig, &siglen), 0);
				assert_non_null(s.ctx);
				assert_int_equal(vg_hostkey_verify(k, VG_HOSTKEY_AUDIT_CHECKPOINT, m[i], strlen(m[i]),
								   sig, siglen), 0);
				assert_int_not_equal(vg_hostkey_verify(k, VG_HOSTKEY_POSTURE_REPORT, m[i], strlen(m[i]),
								       sig, siglen), 0);
				assert_int_not_equal(vg_hostkey_verify(k, VG_HOSTKEY_AUDIT_CHECKPOINT, m[(i + 1) % 3],
								       strlen(m[(i + 1) % 3]), sig, siglen), 0);
				free(sig);
			}
		vg_signer_clear(&s);
		assert_null(s.ctx);
		EVP_PKEY_free(k);
	}
}

static void test_rehashed_record(void **state)
{
	struct fx *f = *state;
	struct vg_audit_verify v;
	size_t offs[200], len;
	char *data;
	struct vg_arec r;
	size_t used;

	write_log(f, 30);
	record_offsets(f, offs, 199, &data, &len);
	/* an attacker who recomputes the record's own hash still breaks the link */
	assert_int_equal(vg_arec_decode((uint8_t *)data + offs[6], len - offs[6], &r, &used), 1);
	data[offs[6] + VG_AREC_HDR + 20] ^= 0x20;
	vg_sha256(data + offs[6] + 32, used - 32, (uint8_t *)data + offs[6]);
	rewrite_segment(f, data, len);
	free(data);
	verify(f, &v, key);
	assert_string_equal(v.reason, "modified");
	assert_int_equal(v.bad_seq, 7);
}

static void test_delete_record(void **state)
{
	struct fx *f = *state;
	struct vg_audit_verify v;
	size_t offs[200], len;
	char *data;

	write_log(f, 30);
	record_offsets(f, offs, 199, &data, &len);
	memmove(data + offs[8], data + offs[9], len - offs[9]);
	rewrite_segment(f, data, len - (offs[9] - offs[8]));
	free(data);
	verify(f, &v, key);
	assert_string_equal(v.reason, "missing");
	assert_int_equal(v.bad_seq, 9);
}

static void test_swap_records(void **state)
{
	struct fx *f = *state;
	struct vg_audit_verify v;
	size_t offs[200], len, a, b;
	char *data, *out;

	write_log(f, 30);
	record_offsets(f, offs, 199, &data, &len);
	a = offs[13] - offs[12];
	b = offs[14] - offs[13];
	out = malloc(len);
	memcpy(out, data, len);
	memcpy(out + offs[12], data + offs[13], b);
	memcpy(out + offs[12] + b, data + offs[12], a);
	rewrite_segment(f, out, len);
	free(data);
	free(out);
	verify(f, &v, key);
	assert_string_equal(v.reason, "reordered");
	assert_int_equal(v.bad_seq, 13);
}

static void test_truncate(void **state)
{
	struct fx *f = *state;
	struct vg_audit_verify v;
	size_t offs[200], len, n;
	char *data;

	write_log(f, 30);
	n = record_offsets(f, offs, 199, &data, &len);
	assert_int_equal(n, 33);
	/* inside a record */
	rewrite_segment(f, data, offs[20] + 50);
	verify(f, &v, key);
	assert_string_equal(v.reason, "truncated");
	assert_int_equal(v.bad_seq, 21);
	/* on a record boundary: the signed head still vouches for seq 33 */
	rewrite_segment(f, data, offs[25]);
	verify(f, &v, key);
	assert_string_equal(v.reason, "truncated");
	assert_int_equal(v.bad_seq, 26);
	free(data);
}

static void test_forged_checkpoint(void **state)
{
	struct fx *f = *state;
	struct vg_audit_verify v;
	size_t offs[200], len;
	char *data;
	struct vg_arec r;
	size_t used;
	json_t *ev;
	char msg[512], *sig_b64, *js;
	uint8_t *sig, *rec, prev[32];
	size_t siglen;

	write_log(f, 30);
	record_offsets(f, offs, 199, &data, &len);
	/* record 11 is the first checkpoint; re-sign it with another key, keep the chain valid */
	assert_int_equal(vg_arec_decode((uint8_t *)data + offs[10], len - offs[10], &r, &used), 1);
	assert_int_equal(r.kind, VG_AREC_CHECKPOINT);
	assert_int_equal(r.seq, 11);
	ev = json_loadb(r.payload, r.len, 0, NULL);
	json_t *d = json_object_get(ev, "data");

	vg_audit_checkpoint_message(msg, sizeof(msg), "vigil://unit", json_string_value(json_object_get(d, "log_id")),
				    10, json_string_value(json_object_get(d, "head_hash")),
				    json_string_value(json_object_get(ev, "time")));
	assert_int_equal(vg_sign(other_key, msg, strlen(msg), &sig, &siglen), 0);
	sig_b64 = vg_b64_encode(sig, siglen, false);
	json_object_set_new(d, "sig", json_string(sig_b64));
	js = json_dumps(ev, JSON_COMPACT);
	/* the forged record and the rest of the chain rebuilt after it */
	memcpy(prev, r.prev_hash, 32);
	size_t olen = 0, cap = len + 4096;
	char *out = malloc(cap);

	memcpy(out, data, offs[10]);
	olen = offs[10];
	rec = (uint8_t *)out + olen;
	vg_arec_encode(rec, prev, 11, VG_AREC_CHECKPOINT, js, strlen(js));
	memcpy(prev, rec, 32);
	olen += VG_AREC_HDR + strlen(js);
	for (size_t off = offs[11]; off < len;) {
		assert_int_equal(vg_arec_decode((uint8_t *)data + off, len - off, &r, &used), 1);
		vg_arec_encode((uint8_t *)out + olen, prev, r.seq, r.kind, r.payload, r.len);
		memcpy(prev, out + olen, 32);
		olen += used;
		off += used;
	}
	rewrite_segment(f, out, olen);
	verify(f, &v, key);
	assert_string_equal(v.reason, "bad_checkpoint");
	assert_int_equal(v.bad_seq, 11);
	free(out);
	free(js);
	free(sig);
	free(sig_b64);
	json_decref(ev);
	free(data);
}

static void test_torn_tail_cut_and_recorded(void **state)
{
	struct fx *f = *state;
	struct vg_audit_verify v;
	struct vg_auditlog *l;
	struct vg_audit_stats st;
	struct vg_err err;
	char path[128];
	size_t offs[200], len;
	char *data;
	int fd;

	f->o.checkpoint_every = 0;
	write_log(f, 20);
	/* a crash mid-write: half a record at the end */
	record_offsets(f, offs, 199, &data, &len);
	snprintf(path, sizeof(path), "%s/%020d.seg", f->dir, 1);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(write(fd, data + offs[3], 60) == 60);
	close(fd);
	free(data);
	assert_int_equal(vg_auditlog_open(&f->o, &l, &err), 0);
	vg_auditlog_stats(l, &st);
	/* 20 events + the closing checkpoint, then the cut record at 22 sealed at once */
	assert_int_equal(st.durable_seq, 23);
	vg_auditlog_close(l);
	verify(f, &v, key);
	assert_string_equal(v.reason, "");
	struct vg_audit_reader *r;
	struct vg_arec rec;

	assert_int_equal(vg_audit_reader_open(f->dir, 22, &r, &err), 0);
	assert_int_equal(vg_audit_reader_next(r, &rec, NULL, &err), 1);
	assert_non_null(memmem(rec.payload, rec.len, "dev.vigil.audit.tail_cut", 24));
	assert_non_null(memmem(rec.payload, rec.len, "\"bytes_cut\":60", 14));
	vg_audit_reader_free(r);
}

static void test_segments_and_reader(void **state)
{
	struct fx *f = *state;
	struct vg_audit_verify v;
	struct vg_audit_stats st;
	struct vg_auditlog *l;
	struct vg_err err;

	f->o.segment_bytes = 4096;
	write_log(f, 200);
	verify(f, &v, key);
	assert_string_equal(v.reason, "");
	assert_int_equal(v.last_seq, 220);
	assert_int_equal(vg_auditlog_open(&f->o, &l, &err), 0);
	vg_auditlog_stats(l, &st);
	assert_true(st.segments > 10);
	assert_int_equal(st.next_seq, 221);
	vg_auditlog_close(l);
	/* verifying from the middle trusts the start */
	vg_audit_verify_init(&v, key, 150);
	assert_int_equal(vg_audit_verify_dir(f->dir, &v, NULL, &err), 0);
	assert_string_equal(v.reason, "");
	assert_int_equal(v.records, 71);
}

static void test_degrade_when_full(void **state)
{
	struct fx *f = *state;
	struct vg_auditlog *l;
	struct vg_audit_stats st;
	struct vg_err err;
	int i, refused = 0;

	f->o.segment_bytes = 8192;
	f->o.spool_max_bytes = 64 * 1024;
	f->o.checkpoint_every = 0;
	assert_int_equal(vg_auditlog_open(&f->o, &l, &err), 0);
	vg_auditlog_set_forwarded(l, 0, true);
	for (i = 0; i < 2000; i++) {
		int r = vg_auditlog_emit(l, "test.event", NULL, json_pack("{s:i}", "i", i), NULL);

		assert_true(r == 0 || r == -ENOSPC);
		refused += r == -ENOSPC;
		assert_int_equal(vg_auditlog_commit(l, &err), 0);
	}
	vg_auditlog_stats(l, &st);
	assert_true(st.degraded);
	assert_true(refused > 0);
	assert_int_equal(st.dropped_full, refused);
	/* nothing unforwarded was deleted: the chain starts at 1 */
	assert_true(st.spool_bytes <= 64 * 1024 + 8 * 1024 + 1024);
	/* the sink catches up: forwarded segments make room and the state is left */
	vg_auditlog_set_forwarded(l, st.durable_seq, true);
	assert_int_equal(vg_auditlog_tick(l, &err), 0);
	vg_auditlog_stats(l, &st);
	assert_false(st.degraded);
	vg_auditlog_close(l);
	struct vg_audit_verify v;

	verify(f, &v, key);
	assert_string_equal(v.reason, "");
	assert_true(v.first_seq > 1); /* anchored by the removal record */
}

/* The disk refuses writes (an RLIMIT_FSIZE stands in for a full file system):
 * nothing is acknowledged, new events are refused and counted, the state is
 * degraded, and one successful retry recovers with the count recorded. */
/* a group commit, as the unit tests and vigild's shutdown make it, or as vigild's loop makes it
 * (write, fdatasync on the sync thread, result taken when it is done) */
static int commit(struct vg_auditlog *l, bool async, struct vg_err *err)
{
	int r;

	if (!async)
		return vg_auditlog_commit(l, err);
	r = vg_auditlog_commit_async(l, err);
	return r < 0 ? r : vg_auditlog_reap(l, true, err);
}

static void write_failure(struct fx *f, bool async)
{
	struct vg_auditlog *l;
	struct vg_audit_stats st;
	struct vg_audit_verify v;
	struct vg_err err;
	struct rlimit old, lim;
	char path[128];
	struct stat sb;
	uint64_t durable;

	f->o.checkpoint_every = 0;
	assert_int_equal(vg_auditlog_open(&f->o, &l, &err), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(vg_auditlog_emit(l, "test.event", NULL, json_pack("{s:i}", "i", i), NULL), 0);
	assert_int_equal(commit(l, async, &err), 0);
	durable = vg_auditlog_durable_seq(l);
	assert_int_equal(durable, 5);
	snprintf(path, sizeof(path), "%s/%020d.seg", f->dir, 1);
	assert_int_equal(stat(path, &sb), 0);

	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size + 100; /* part of the next batch fits: a torn write */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(vg_auditlog_emit(l, "test.event", NULL, json_pack("{s:i}", "i", i), NULL), 0);
	assert_true(commit(l, async, &err) < 0);
	assert_true(vg_auditlog_degraded(l));
	assert_int_equal(vg_auditlog_durable_seq(l), durable);
	for (int i = 0; i < 7; i++)
		assert_true(vg_auditlog_emit(l, "test.event", NULL, json_pack("{s:i}", "i", i), NULL) < 0);
	vg_auditlog_stats(l, &st);
	assert_int_equal(st.write_errno, EFBIG);
	assert_int_equal(st.dropped_unwritable, 7);
	assert_int_equal(st.pending_events, 6); /* 5 events + the "entered" record */
	assert_true(vg_auditlog_tick(l, &err) < 0); /* the retry fails the same way */
	assert_int_equal(stat(path, &sb), 0);
	assert_true((uint64_t)sb.st_size <= lim.rlim_cur);

	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(vg_auditlog_tick(l, &err), 0);
	vg_auditlog_stats(l, &st);
	assert_false(st.degraded);
	assert_int_equal(st.pending_events, 0);
	vg_auditlog_close(l);
	signal(SIGXFSZ, SIG_DFL);

	/* written once (no batch twice), the whole period recorded, the chain intact */
	verify(f, &v, key);
	assert_string_equal(v.reason, "");
	struct vg_audit_reader *rd;
	struct vg_arec rec;
	int left = 0, entered = 0;
	uint64_t prev = 0;

	assert_int_equal(vg_audit_reader_open(f->dir, 0, &rd, &err), 0);
	while (vg_audit_reader_next(rd, &rec, NULL, &err) > 0) {
		assert_int_equal(rec.seq, prev + 1);
		prev = rec.seq;
		entered += memmem(rec.payload, rec.len, "\"state\":\"entered\",\"reason\":\"write_failed\"", 41) != NULL;
		left += memmem(rec.payload, rec.len, "\"dropped_events\":7,", 19) != NULL;
	}
	vg_audit_reader_free(rd);
	assert_int_equal(entered, 1);
	assert_int_equal(left, 1);
}

static void test_write_failure_degrades_and_recovers(void **state)
{
	write_failure(*state, false);
}

/* the same with vigild's asynchronous commits: the torn write is cut, nothing acknowledged */
static void test_async_write_failure(void **state)
{
	write_failure(*state, true);
}

/* Asynchronous commits: durable_seq moves only when the fdatasync is done, every record is
 * written once in order, and a checkpoint and segment rotation in between keep the chain. */
static void test_async_commit(void **state)
{
	struct fx *f = *state;
	struct vg_auditlog *l;
	struct vg_audit_stats st;
	struct vg_audit_verify v;
	struct vg_err err;

	f->o.segment_bytes = 16 << 10;
	assert_int_equal(vg_auditlog_open(&f->o, &l, &err), 0);
	assert_int_equal(vg_auditlog_sync_fd(l), -1);
	for (int i = 0; i < 500; i++) {
		assert_int_equal(vg_auditlog_emit(l, "test.event", "s", json_pack("{s:i}", "i", i), NULL), 0);
		if (i % 10 == 9) {
			uint64_t before = vg_auditlog_durable_seq(l);

			assert_int_equal(vg_auditlog_commit_async(l, &err), 0);
			assert_true(vg_auditlog_sync_fd(l) >= 0);
			/* not durable before its fdatasync is taken */
			assert_true(vg_auditlog_durable_seq(l) >= before);
			if (i % 30 == 29)
				assert_int_equal(vg_auditlog_reap(l, true, &err), 0);
		}
	}
	assert_int_equal(vg_auditlog_reap(l, true, &err), 0);
	assert_int_equal(vg_auditlog_reap(l, true, &err), 0);
	vg_auditlog_stats(l, &st);
	assert_int_equal(st.pending_events, 0);
	assert_true(st.segments > 2);
	assert_int_equal(st.durable_seq, st.next_seq - 1);
	vg_auditlog_close(l);
	verify(f, &v, key);
	assert_string_equal(v.reason, "");
	assert_int_equal(v.records, st.next_seq - 1); /* 500 events, a checkpoint after every 10 */
}

static void test_rotate_when_full(void **state)
{
	struct fx *f = *state;
	struct vg_auditlog *l;
	struct vg_audit_stats st;
	struct vg_audit_reader *r;
	struct vg_arec rec;
	struct vg_err err;
	uint64_t removed = 0, first_kept = 0;

	f->o.segment_bytes = 8192;
	f->o.spool_max_bytes = 64 * 1024;
	f->o.checkpoint_every = 0;
	f->o.when_full = VG_AUDIT_FULL_ROTATE;
	assert_int_equal(vg_auditlog_open(&f->o, &l, &err), 0);
	vg_auditlog_set_forwarded(l, 0, true);
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(vg_auditlog_emit(l, "test.event", NULL, json_pack("{s:i}", "i", i), NULL), 0);
		assert_int_equal(vg_auditlog_commit(l, &err), 0);
	}
	vg_auditlog_stats(l, &st);
	assert_false(st.degraded);
	assert_true(st.dropped_rotate > 0);
	assert_true(st.spool_bytes <= 64 * 1024 + 1024);
	vg_auditlog_close(l);
	/* the removal records add up to exactly the records that are gone */
	assert_int_equal(vg_audit_reader_open(f->dir, 0, &r, &err), 0);
	while (vg_audit_reader_next(r, &rec, NULL, &err) == 1) {
		if (!first_kept)
			first_kept = rec.seq;
		if (memmem(rec.payload, rec.len, "segments_removed", 16)) {
			json_t *ev = json_loadb(rec.payload, rec.len, 0, NULL);
			json_t *d = json_object_get(ev, "data");

			assert_string_equal(json_string_value(json_object_get(d, "reason")), "rotate");
			removed += json_integer_value(json_object_get(d, "events"));
			assert_int_equal(json_integer_value(json_object_get(d, "unforwarded_events")),
					 json_integer_value(json_object_get(d, "events")));
			json_decref(ev);
		}
	}
	vg_audit_reader_free(r);
	/* removal records inside removed segments are gone too; the kept ones cover the rest */
	assert_true(removed > 0 && removed <= first_kept - 1);
	assert_int_equal(st.dropped_rotate, first_kept - 1);
	struct vg_audit_verify v;

	verify(f, &v, key);
	assert_string_equal(v.reason, "");
}

static void test_retention_by_age(void **state)
{
	struct fx *f = *state;
	struct vg_auditlog *l;
	struct vg_audit_stats st;
	struct vg_err err;
	char path[128];
	struct utimbuf old = { .actime = 1000000000, .modtime = 1000000000 };

	f->o.segment_bytes = 4096;
	f->o.checkpoint_every = 0;
	write_log(f, 100);
	snprintf(path, sizeof(path), "%s/%020d.seg", f->dir, 1);
	assert_int_equal(utime(path, &old), 0);
	assert_int_equal(vg_auditlog_open(&f->o, &l, &err), 0);
	/* not forwarded yet: kept */
	vg_auditlog_set_forwarded(l, 0, true);
	assert_int_equal(vg_auditlog_tick(l, &err), 0);
	assert_int_equal(access(path, F_OK), 0);
	vg_auditlog_set_forwarded(l, 100, true);
	assert_int_equal(vg_auditlog_tick(l, &err), 0);
	assert_int_equal(access(path, F_OK), -1);
	vg_auditlog_stats(l, &st);
	vg_auditlog_close(l);
	struct vg_audit_verify v;

	verify(f, &v, key);
	assert_string_equal(v.reason, "");
	assert_true(v.first_seq > 1);
	/* deleting the first segment by hand is not explained by any removal record */
	snprintf(path, sizeof(path), "rm %s/%020" PRIu64 ".seg", f->dir, v.first_seq);
	assert_int_equal(system(path), 0);
	verify(f, &v, key);
	assert_string_equal(v.reason, "missing");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec),
		cmocka_unit_test_setup_teardown(test_intact_log_verifies, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_events_are_cloudevents, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_event_bytes_as_jansson, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_flip_byte, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_damage_quarantined_not_cut, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rollback_not_reused, fx_setup, fx_teardown),
		cmocka_unit_test(test_domain_separation),
		cmocka_unit_test(test_signer_reused),
		cmocka_unit_test_setup_teardown(test_rehashed_record, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_delete_record, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_swap_records, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_truncate, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_forged_checkpoint, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_cut_and_recorded, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_segments_and_reader, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_degrade_when_full, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_write_failure_degrades_and_recovers, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_async_write_failure, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_async_commit, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rotate_when_full, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_retention_by_age, fx_setup, fx_teardown),
		cmocka_unit_test(test_hostkey_trusted),
	};
	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
