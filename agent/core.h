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

struct vg_policy_state {
	struct vg_bundle *bundle; /* running */
	char *bytes, *sig;	  /* exactly what was verified */
	size_t len, siglen;
	char source[32];
	time_t applied_at;
	int64_t highest_version;
	char highest_digest[65];
	char current_digest[65]; /* what state.json says was applied last */
	int64_t lkg_version;
	char lkg_digest[65];
	bool expired;
	int expiry_timer;
	/* last rejection */
	struct vg_err last_err;
	time_t last_err_at;
};

struct vg_pull_state {
	char etag[256];
	time_t next_at, last_at;
	long last_http;
	char last_result[256];
	uint32_t backoff_s;
	int timer;
	bool running;
	int notify_fd; /* eventfd: the pull thread finished */
	struct vg_pull_result *result;
};

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
	struct vg_trust *trust;
	struct vg_policy_state pol;
	struct vg_pull_state pull;
	int inbox_fd;
	time_t started_at;
};

/* Loader flags */
enum {
	VG_LOAD_STARTUP = 1 << 0,  /* persisted bundle re-verified at start: same version allowed */
	VG_LOAD_ROLLBACK = 1 << 1, /* explicit rollback: no version check */
};

int vg_policy_init(struct vg_daemon *d);
int vg_policy_load(struct vg_daemon *d, const char *bytes, size_t len, const char *sig, size_t siglen,
		   const char *source, unsigned flags, json_t *audit_extra, struct vg_err *err);
int vg_policy_ctl(struct vg_daemon *d, const struct vg_peer *peer, const char *cmd, json_t *req, json_t **reply,
		  struct vg_err *err);
void vg_policy_status(struct vg_daemon *d, json_t *status);
void vg_policy_shutdown(struct vg_daemon *d);

int vg_inbox_init(struct vg_daemon *d);
void vg_inbox_scan(struct vg_daemon *d);
int vg_pull_init(struct vg_daemon *d);
void vg_pull_status(struct vg_daemon *d, json_t *status);
void vg_pull_shutdown(struct vg_daemon *d);

#endif
