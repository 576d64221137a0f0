/* SPDX-License-Identifier: Apache-2.0 */
/* vigild internals shared by agent/vigild.c (loop, socket), policy.c (loader), inbox.c and pull.c. */
#ifndef VIGIL_CORE_H
#define VIGIL_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "daemon.h"
#include "vigil/trust.h"

#include "vigil_version.h" /* VIGIL_VERSION, generated from the file VERSION (mk/version.mk) */

struct vg_timer {
	int id;
	uint64_t due_ms;
	vg_timer_cb cb;
	void *arg;
};

/* One bundle load. The loader thread runs vg_load_verify on it (size, signatures, schema, scope,
 * time: nothing that reads the daemon); the loop then checks it against the running state,
 * prepares and commits (vg_policy_finish). */
struct vg_load_job;
typedef void (*vg_load_done)(struct vg_daemon *d, int r, const struct vg_err *err, void *arg);

/* Where a load's time goes, logged once it is applied (docs/nss.md "apply time"). */
enum vg_load_step {
	VG_STEP_QUEUED,	 /* received → the loader thread starts it */
	VG_STEP_DECODE,	 /* a policy.push request: JSON and base64 decoded */
	VG_STEP_VERIFY,	 /* size, signature */
	VG_STEP_PARSE,	 /* schema, scope, time */
	VG_STEP_STAGE,	 /* the verified pair written and fsynced */
	VG_STEP_HANDOFF, /* verified → the event loop picks it up */
	VG_STEP_PREPARE, /* every module builds its new state (identity: the NSS caches) */
	VG_STEP_COMMIT,	 /* every module switches (identity: caches written and renamed) */
	VG_STEP_PERSIST, /* current/last-known-good renamed, state.json */
	VG_STEP__COUNT
};

struct vg_load_times {
	uint64_t mark_ms, cpu_mark_us;	 /* start of the current step: monotonic, this thread's CPU */
	uint32_t wall[VG_STEP__COUNT];	 /* ms */
	uint32_t cpu[VG_STEP__COUNT];	 /* ms of the CPU of the thread that ran the step */
	const char *slowest[VG_STEP__COUNT]; /* PREPARE, COMMIT: the module that took longest */
	uint32_t slowest_ms[VG_STEP__COUNT];
	uint32_t stage_wait_ms; /* STAGE runs beside PARSE: how long the parse's end waited for it */
};

struct vg_load_job {
	char *request;	   /* owned: a large policy.push request, parsed by the loader thread */
	size_t request_len;
	char *bytes, *sig; /* owned; bytes - room is the allocation (a raw push leaves its bundle in place) */
	size_t room;
	size_t len, siglen;
	char source[32];
	unsigned flags;
	json_t *audit_extra; /* owned */
	time_t now;	     /* one "now" for the whole load */
	/* copied from the loop when queued: the loader thread never reads struct vg_daemon */
	struct vg_trust *trust; /* a reference, NULL when there is no valid trust */
	char trust_error[300];
	uint64_t max_bytes;
	uint32_t skew_s;
	char policy_dir[512];
	char stage_name[64]; /* the thread writes the verified pair here; "" = not persisted */
	char hostname[256];
	char labels[512];
	/* results */
	char digest[65]; /* of bytes, for the audit record of a rejection */
	int r;
	struct vg_bundle *b;
	struct vg_err err;
	vg_load_done done;
	void *arg;
	struct vg_load_times times;
	struct vg_load_job *next;
};

struct vg_policy_state {
	struct vg_bundle *bundle; /* running */
	char *bytes;		  /* what was verified, only while no file under policy/ holds it */
	size_t len;
	char source[32];
	time_t applied_at;
	int64_t highest_version;
	char highest_digest[65];
	char current_digest[65]; /* what state.json says was applied last */
	int64_t lkg_version;
	char lkg_digest[65];
	bool expired;
	bool rolled_back; /* the running bundle came from a rollback */
	char running_file[32]; /* which file under policy/ holds the running bundle ("" = none) */
	uint64_t staged_seq;
	int expiry_timer;
	/* last rejection */
	struct vg_err last_err;
	time_t last_err_at;
	/* why there is no trust (d->trust == NULL) */
	char trust_error[300];
};

/* One HTTPS pull channel (agent/pull.c): the bundle's (pull_url) and the emergency documents'
 * (emergency_url) are two of them, one code path. */
struct vg_pull_state {
	const char *name;    /* "pull" or "emergency_pull": status key, state file, logs */
	bool emergency;	     /* what a fetched document is: an emergency document, else a bundle */
	const char *url;     /* points into the config; "" = off */
	uint32_t interval_s, jitter_s, backoff_max_s;
	uint64_t max_bytes;
	char etag[256];
	time_t next_at, last_at;
	long last_http;
	char last_result[256];
	uint32_t backoff_s;
	int timer;
	bool running;
	int notify_fd; /* eventfd: the pull thread finished */
	struct vg_pull_result *result;
	struct vg_daemon *d;
};

/* control connections: at most VG_CONN_MAX, of which users (not admins) hold at most
 * VG_CONN_MAX_USERS and admins + users at most VG_CONN_MAX_ADMINS, the rest being root's */
enum vg_conn_class { VG_CONN_USER, VG_CONN_ADMIN, VG_CONN_ROOT, VG_CONN_NCLASSES };
#define VG_CONN_MAX 256
#define VG_CONN_MAX_ADMINS 192
#define VG_CONN_MAX_USERS 128
#define VG_CONN_MAX_PER_ADMIN 64
#define VG_CONN_MAX_PER_USER 16
/* requests in flight over all the connections of one uid (docs/control-socket.md "Pipelining") */
#define VG_INFLIGHT_PER_USER 64
#define VG_INFLIGHT_PER_ADMIN 256
#define VG_INFLIGHT_PER_ROOT 1024
#define VG_LOAD_QUEUE_MAX 4


struct vg_daemon {
	struct vg_config cfg;
	char cfg_path[256];
	char hostname[256];
	int epfd;
	bool running;
	size_t ntimers, cap_timers;
	struct vg_timer *timers;
	int next_timer_id;
	int listen_fd;
	size_t nclients;
	uint64_t conn_refused[VG_CONN_NCLASSES];
	struct vg_trust *trust;
	struct vg_policy_state pol;
	struct vg_pull_state pull, empull; /* bundles, emergency documents */
	int inbox_fd;
	time_t started_at;
};

/* Loader flags */
enum {
	VG_LOAD_STARTUP = 1 << 0,  /* persisted bundle re-verified at start: same version allowed */
	VG_LOAD_ROLLBACK = 1 << 1, /* explicit rollback: no version check */
};

int vg_policy_init(struct vg_daemon *d);
/* Synchronous load (start-up only: nothing is served yet); takes bytes and sig (malloc'd). */
int vg_policy_load(struct vg_daemon *d, char *bytes, size_t len, char *sig, size_t siglen, const char *source,
		   unsigned flags, json_t *audit_extra, struct vg_err *err);
/* Queue a load: takes bytes, sig and audit_extra (malloc'd) in every case; done runs on the loop
 * with the outcome (-EALREADY: already running). -EBUSY with err when too many loads are queued. */
/* A request too large for the loop to parse (only policy.push may be): takes request. */
int vg_policy_submit_push(struct vg_daemon *d, char *request, size_t len, const struct vg_peer *peer,
			  struct vg_client *client, struct vg_err *err);
int vg_policy_submit(struct vg_daemon *d, char *bytes, size_t len, char *sig, size_t siglen, const char *source,
		     unsigned flags, json_t *audit_extra, vg_load_done done, void *arg, struct vg_err *err);
/* the loader thread's half (agent/policy.c) and the loop's half */
void vg_load_verify(struct vg_load_job *j);
void vg_policy_finish(struct vg_daemon *d, struct vg_load_job *j);
void vg_load_job_free(struct vg_load_job *j);
/* the loader thread (agent/loader_thread.c) */
int vg_loader_start(struct vg_daemon *d);
int vg_loader_queue(struct vg_load_job *j);
size_t vg_loader_pending(void);
void vg_loader_stop(void);
/* (re)read the trust file; on failure every bundle is refused until it is fixed */
void vg_trust_reload(struct vg_daemon *d);
/* -EINPROGRESS: the answer goes to client later (vg_client_reply) */
/* the control socket (agent/ctlsock.c): listen; at the end of every loop turn send the answers
 * and take buffered requests; pending: buffered requests wait for the next turn (do not sleep) */
int vg_ctl_open(struct vg_daemon *d, struct vg_err *err);
void vg_ctl_turn_end(struct vg_daemon *d);
bool vg_ctl_pending(void);
/* connections, requests in flight, the per-uid peak, cap hits and slow readers closed */
void vg_ctl_status(struct vg_daemon *d, json_t *out);
void vg_loop_mod_fd(struct vg_daemon *d, int fd, uint32_t events);
int vg_policy_ctl(struct vg_daemon *d, const struct vg_peer *peer, const char *cmd, json_t *req, json_t **reply,
		  struct vg_err *err, struct vg_client *client);
void vg_policy_status(struct vg_daemon *d, json_t *status);
void vg_policy_shutdown(struct vg_daemon *d);

int vg_inbox_init(struct vg_daemon *d);
void vg_inbox_scan(struct vg_daemon *d);
int vg_pull_init(struct vg_daemon *d);
void vg_pull_status(struct vg_daemon *d, json_t *status);
void vg_pull_shutdown(struct vg_daemon *d);

#endif
