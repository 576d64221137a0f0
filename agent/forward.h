/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Audit forwarding (docs/audit.md "Forwarding"): one thread per sink reads the
 * local log from its cursor, sends bounded batches and advances the cursor only
 * when the sink acknowledged the whole batch. A dead sink blocks only its thread.
 */
#ifndef VIGIL_FORWARD_H
#define VIGIL_FORWARD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "vigil/bundle.h"

struct vg_fwd;

/* One batch of CloudEvents (compact JSON), in seq order. */
struct vg_fwd_batch {
	size_t n;
	char **events;
	size_t *lens;
	uint64_t first_seq, last_seq;
	const char *hostname;
};

struct vg_fwd_ops {
	/* allocate the transport (f->impl) from f->sink; no I/O */
	int (*create)(struct vg_fwd *f, char *errbuf, size_t len);
	/* 0 when the sink acknowledged every event of the batch, or (with confirm) when the batch
	 * was handed to the session; else -errno and errbuf */
	int (*send)(struct vg_fwd *f, const struct vg_fwd_batch *b, char *errbuf, size_t len);
	/* optional: 0 when the sink acknowledged every event sent in the session so far (the
	 * session is closed politely to learn it); else -errno and errbuf */
	int (*confirm)(struct vg_fwd *f, char *errbuf, size_t len);
	/* the session is suspect (error) or idle: drop it, the next send reconnects */
	void (*reset)(struct vg_fwd *f);
	void (*destroy)(struct vg_fwd *f);
};

extern const struct vg_fwd_ops vg_fwd_relp_ops, vg_fwd_https_ops;

struct vg_fwd {
	/* set before start, read-only afterwards */
	char *name, *target, *ca_file, *cert_file, *key_file;
	enum vg_sink_type type;
	bool tls;
	uint32_t batch;
	char log_dir[256], cursor_path[512], log_id[40], hostname[256];
	const struct vg_fwd_ops *ops;
	void *impl;
	pthread_t thread;
	bool started;
	/* shared with the main thread, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t durable; /* highest seq the log made durable */
	bool stop;
	uint64_t cursor;  /* highest seq acknowledged */
	uint64_t sent_events, batches, failures;
	time_t last_ok, last_err_at, behind_since;
	char last_error[256];
	bool connected;
};

/* sink from the bundle -> a forwarder (not started); NULL on ENOMEM */
struct vg_fwd *vg_fwd_new(const struct vg_sink *s, const char *log_dir, const char *state_dir, const char *log_id,
			  const char *hostname);
int vg_fwd_start(struct vg_fwd *f, uint64_t durable, char *errbuf, size_t len);
void vg_fwd_notify(struct vg_fwd *f, uint64_t durable);
uint64_t vg_fwd_cursor(struct vg_fwd *f);
/* stops the thread, persists the cursor, frees */
void vg_fwd_free(struct vg_fwd *f);
/* true when s describes the same sink as f (same name, type, target, files) */
bool vg_fwd_same(const struct vg_fwd *f, const struct vg_sink *s);

#endif
