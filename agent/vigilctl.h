/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vigilctl: one table of subcommands (agent/vigilctl.c); each family of
 * subcommands lives in its own agent/vigilctl_*.c file.
 * Exit codes (docs/vigilctl.md): 0 ok, 1 the request was refused or failed,
 * 2 usage error, 3 vigild unreachable, 4 verification failed.
 */
#ifndef VIGIL_VIGILCTL_H
#define VIGIL_VIGILCTL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "vigil/err.h"

enum {
	VGCTL_EXIT_OK = 0,
	VGCTL_EXIT_FAIL = 1,
	VGCTL_EXIT_USAGE = 2,
	VGCTL_EXIT_UNREACHABLE = 3,
	VGCTL_EXIT_VERIFY = 4,
};

struct vgctl {
	const char *socket;
	bool json;
	int timeout_ms;
	bool timeout_set; /* --timeout given */
};

struct vgctl_cmd {
	const char *name;    /* "policy push", "status" */
	const char *args;    /* synopsis of arguments, for --help */
	const char *summary; /* one line */
	/* argv[0] is the last word of the command name; getopt-style parsing is the command's */
	int (*run)(struct vgctl *c, int argc, char **argv);
};

/* Send req (stolen) to vigild. On success returns 0 and the reply; prints the error and
 * returns an exit code otherwise (UNREACHABLE when the socket cannot be reached). */
int vgctl_call(struct vgctl *c, json_t *req, json_t **reply);
/* what vg_ctl_call* returned (r, err, *reply) as vgctl_call reports it */
int vgctl_reply(struct vgctl *c, int r, const struct vg_err *err, json_t **reply);
/* Print reply as JSON (when --json) and return true; false means print human output. */
bool vgctl_print_json(struct vgctl *c, json_t *reply);
/* "vigilctl: what: why\n" to stderr */
void vgctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* true when argv contains -h/--help; prints the usage of cmd */
bool vgctl_want_help(const struct vgctl_cmd *cmd, int argc, char **argv);

/* Progress of long work on a terminal (agent/vigilctl_progress.c); silent off a tty and with --json.
 * count (optional) is read while the work advances it; unit "bytes" prints MB. */
struct vgctl_progress {
	const char *phase;
	const uint64_t *count;
	const char *unit;
	uint64_t start_ms, delay_ms;
	bool done, running;
	pthread_t thread;
};
void vgctl_progress_start(struct vgctl *c, struct vgctl_progress *p, const char *phase, const uint64_t *count,
			  const char *unit);
void vgctl_progress_phase(struct vgctl_progress *p, const char *phase);
void vgctl_progress_stop(struct vgctl_progress *p);

/* sign FILE with --key KEY under domain into FILE.sig (policy, trust and emergency sign) */
int vgctl_sign_file(struct vgctl *c, int argc, char **argv, const char *domain, const char *what);

extern const struct vgctl_cmd vgctl_policy_cmds[];
/* other families: declare here, list in agent/vigilctl.c */
extern const struct vgctl_cmd vgctl_elevation_cmds[]; /* grants, revoke, breakglass hash */
extern const struct vgctl_cmd vgctl_posture_cmds[];   /* posture, posture report, posture verify */
extern const struct vgctl_cmd vgctl_fido_cmds[];      /* enroll */
extern const struct vgctl_cmd vgctl_audit_cmds[];     /* audit verify, tail, export, pubkey, status, note, seal */
extern const struct vgctl_cmd vgctl_enforce_cmds[];   /* explain, unload */
extern const struct vgctl_cmd vgctl_identity_cmds[];  /* whoami, identity from-scim */
/* identity from-scim (agent/vigilctl_scim.c, docs/scim.md) */
int vgctl_identity_from_scim(struct vgctl *c, int argc, char **argv);
extern const struct vgctl_cmd vgctl_ops_cmds[];       /* metrics, top */
extern const struct vgctl_cmd vgctl_emergency_cmds[]; /* emergency sign, verify, push, show, release */
#endif
