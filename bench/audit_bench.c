/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Audit log benchmark (bench/audit.sh): durable append rate with group commit
 * versus the disk's own limit (the same record bytes written with one
 * write+fdatasync per GROUP, same run), and the verify rate.
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

static json_t *event_data(long i)
{
	return json_pack("{s:{s:s, s:i}, s:s, s:s, s:s, s:s, s:s, s:i}", "actor", "user", "alice", "uid", 60001,
			 "action", "connect", "resource", "tcp://198.51.100.7:443", "tenant", "payments", "outcome",
			 "denied", "reason", "no rule allows this destination", "n", (int)i);
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
	long n, group, base_n;
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

	/* the disk's own limit: the same record bytes, pre-encoded, one write + fdatasync
	 * per GROUP records (what group commit of GROUP can at best reach) */
	base_n = n;
	snprintf(path, sizeof(path), "%s/baseline.log", argv[1]);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "specversion", "1.0", "id",
			       "0123456789abcdef-1000000", "source", "vigil://bench", "type", "dev.vigil.egress.denied",
			       "time", "2026-11-29T10:00:00Z", "datacontenttype", "application/json", "subject",
			       "pid:4242", "data", event_data(0));
	json_object_set_new(json_object_get(ev, "data"), "policy_digest", json_null());
	json_object_set_new(json_object_get(ev, "data"), "seq", json_integer(1000000));
	char *s = json_dumps(ev, JSON_COMPACT);
	size_t len = strlen(s) + VG_AREC_HDR;
	uint8_t *rec = malloc(len * (size_t)group), prev[32] = { 0 };

	for (long i = 0; i < group; i++) {
		vg_arec_encode(rec + i * len, prev, (uint64_t)i + 1, VG_AREC_EVENT, s, strlen(s));
		memcpy(prev, rec + i * len, 32);
	}
	t0 = now_s();
	for (long i = 0; i < base_n; i += group)
		if (write(fd, rec, len * (size_t)group) != (ssize_t)(len * (size_t)group) || fdatasync(fd) < 0)
			return perror("baseline"), 1;
	t_base = now_s() - t0;
	close(fd);
	free(rec);
	free(s);
	json_decref(ev);

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
	printf("disk limit, write+fdatasync per %ld records of the same size: %.0f events/s\n", group,
	       base_n / t_base);
	printf("ratio durable append / disk limit: %.2f (goal >= 0.8); with the producer's json_pack: %.2f\n",
	       (n / t_log) / (base_n / t_base), (n / t_group) / (base_n / t_base));
	printf("verify (chain + %lu checkpoint signatures): %.0f records/s\n", (unsigned long)v.checkpoints,
	       v.records / t_verify);
	EVP_PKEY_free(key);
	return 0;
}
