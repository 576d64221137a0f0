/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Audit log benchmark (bench/audit.sh): durable append rate with group commit
 * versus the disk's own limit (the bytes the log wrote, read back and written
 * again with one write+fdatasync per GROUP events, same run), and the verify rate.
 * usage: audit_bench DIR EVENTS GROUP
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vigil/auditlog.h"
#include "vigil/crypto.h"

static double clock_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* an egress deny as vigild records it: the audit module adds policy_digest before the log
 * sees the event (agent/audit.c) */
static json_t *event_data(long i)
{
	return json_pack("{s:{s:s, s:i}, s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "actor", "user", "alice", "uid", 60001,
			 "action", "connect", "resource", "tcp://198.51.100.7:443", "tenant", "payments", "outcome",
			 "denied", "reason", "no rule allows this destination", "n", (int)i, "policy_digest",
			 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
}

/* The log's own bytes, read back, cut after every group of GROUP events (a checkpoint goes
 * with the group it closes): what the baseline writes. */
static uint8_t *log_bytes(const char *dir, long group, size_t **cuts, size_t *ncuts, size_t *len)
{
	struct vg_audit_reader *r;
	struct vg_arec rec;
	struct vg_err err;
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, nc = 0, cc = 0;
	long events = 0;

	*cuts = NULL;
	if (vg_audit_reader_open(dir, 1, &r, &err) < 0)
		return NULL;
	while (vg_audit_reader_next(r, &rec, NULL, &err) == 1) {
		size_t rl = VG_AREC_HDR + rec.len;

		if (rec.kind == VG_AREC_EVENT && events && events % group == 0) {
			if (nc == cc && !(*cuts = realloc(*cuts, (cc = cc ? cc * 2 : 256) * sizeof(**cuts))))
				return NULL;
			(*cuts)[nc++] = n;
		}
		events += rec.kind == VG_AREC_EVENT;
		if (n + rl > cap && !(buf = realloc(buf, cap = (n + rl) * 2)))
			return NULL;
		vg_arec_encode(buf + n, rec.prev_hash, rec.seq, rec.kind, rec.payload, rec.len);
		n += rl;
	}
	vg_audit_reader_free(r);
	if (nc == cc && !(*cuts = realloc(*cuts, (cc + 1) * sizeof(**cuts))))
		return NULL;
	(*cuts)[nc++] = n;
	*ncuts = nc;
	*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	struct vg_auditlog_opts o = { 0 };
	struct vg_auditlog *l;
	struct vg_audit_verify v;
	struct vg_audit_stats st;
	struct vg_err err;
	EVP_PKEY *key = NULL;
	char dir[512], path[600];
	long n, group;
	double t0, t1, c1, c_log = 0, t_group, t_log, t_base, t_verify;
	json_t **datas;

	if (argc != 4)
		return fprintf(stderr, "usage: audit_bench DIR EVENTS GROUP\n"), 2;
	n = atol(argv[2]);
	group = atol(argv[3]);
	vg_key_generate("ed25519", &key, &err);

	/* group commit: events are appended in memory, one write+fdatasync per GROUP */
	snprintf(dir, sizeof(dir), "%s/log", argv[1]);
	o = (struct vg_auditlog_opts){ .dir = dir, .source = "vigil://bench", .key = key, .segment_bytes = 16 << 20,
				       .spool_max_bytes = 4ull << 30, .checkpoint_every = 1000,
				       .checkpoint_interval_s = 60, .retention_days = 730 };
	if (vg_auditlog_open(&o, &l, &err) < 0)
		return fprintf(stderr, "open: %s\n", err.msg), 1;
	/* as vigild commits: the fdatasync of one group runs on the log's sync thread while the
	 * next group is encoded; a group starts its fdatasync once the previous one is done, so
	 * every fdatasync covers GROUP events, as in the baseline. Timed twice: the whole loop,
	 * and the log's own part (emit + commit: what the disk baseline is compared with), without
	 * the producer building each event's data (json_pack), which any log would be handed. */
	datas = calloc((size_t)group, sizeof(*datas));
	t0 = now_s();
	t_log = 0;
	for (long i = 0; i < n; i += group) {
		long m = n - i < group ? n - i : group;

		for (long j = 0; j < m; j++)
			datas[j] = event_data(i + j);
		t1 = now_s();
		c1 = clock_s(CLOCK_THREAD_CPUTIME_ID);
		for (long j = 0; j < m; j++)
			vg_auditlog_emit(l, "egress.denied", "pid:4242", datas[j], NULL);
		if (vg_auditlog_reap(l, true, &err) < 0 || vg_auditlog_commit_async(l, &err) < 0)
			return fprintf(stderr, "commit: %s\n", err.msg), 1;
		t_log += now_s() - t1;
		c_log += clock_s(CLOCK_THREAD_CPUTIME_ID) - c1;
	}
	t1 = now_s();
	if (vg_auditlog_commit(l, &err) < 0)
		return fprintf(stderr, "commit: %s\n", err.msg), 1;
	t_log += now_s() - t1;
	t_group = now_s() - t0;
	free(datas);
	vg_auditlog_stats(l, &st);
	vg_auditlog_close(l);

	/* the disk's own limit: the very bytes the log wrote (every record, checkpoints included),
	 * read back, then one write + fdatasync per GROUP events (what group commit of GROUP can
	 * at best reach) */
	size_t *cuts, ncuts, total, prev = 0;
	uint8_t *bytes = log_bytes(dir, group, &cuts, &ncuts, &total);

	if (!bytes)
		return fprintf(stderr, "cannot read the log back\n"), 1;
	snprintf(path, sizeof(path), "%s/baseline.log", argv[1]);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);

	t0 = now_s();
	for (size_t i = 0; i < ncuts; prev = cuts[i++])
		if (write(fd, bytes + prev, cuts[i] - prev) != (ssize_t)(cuts[i] - prev) || fdatasync(fd) < 0)
			return perror("baseline"), 1;
	t_base = now_s() - t0;
	close(fd);
	free(bytes);
	free(cuts);

	vg_audit_verify_init(&v, key, 0);
	t0 = now_s();
	vg_audit_verify_dir(dir, &v, NULL, &err);
	t_verify = now_s() - t0;
	if (v.reason[0])
		return fprintf(stderr, "verify failed: %s %s\n", v.reason, v.detail), 1;

	printf("durable append, group commit of %ld, the log's own work (emit + commit): %.0f events/s (%ld events, "
	       "%lu fdatasyncs)\n", group, n / t_log, n, (unsigned long)st.commits);
	printf("  CPU of the log's own work: %.2f us an event (this thread; the fdatasyncs run on the sync thread)\n",
	       c_log / n * 1e6);
	printf("  the same with the producer building each event's data (json_pack): %.0f events/s\n", n / t_group);
	printf("disk limit, the log's own bytes (%.0f B a record) written back, write+fdatasync per %ld events: "
	       "%.0f events/s\n", (double)total / (double)(st.next_seq - 1), group, n / t_base);
	printf("ratio durable append / disk limit: %.2f (goal >= 0.8); with the producer's json_pack: %.2f\n",
	       (n / t_log) / (n / t_base), (n / t_group) / (n / t_base));
	printf("verify (chain + %lu checkpoint signatures): %.0f records/s\n", (unsigned long)v.checkpoints,
	       v.records / t_verify);
	printf("bench-result: {\"measure\": \"audit_append_vs_disk\", \"value\": %.4f, \"better\": \"higher\", "
	       "\"baseline\": \"the log's own bytes written back with write+fdatasync per %ld events, same disk, same run\", "
	       "\"reproduce\": \"sudo make bench BENCH=audit\"}\n", t_base / t_log, group);
	EVP_PKEY_free(key);
	return 0;
}
