/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pam_vigil.so logic behind the thin PAM entry points (pam/pam_vigil.c):
 * module arguments, the auth and account flows, break-glass with vigild down.
 * The user is reached through struct pv_io so the flows know nothing of PAM.
 * Return values are PAM codes. Docs: docs/pam.md.
 */
#ifndef VIGIL_PAM_FLOW_H
#define VIGIL_PAM_FLOW_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "vigil/util.h"

#define PV_DEFAULT_BREAKGLASS "/var/lib/vigil/breakglass.json"
#define PV_DEFAULT_SPOOL "/var/lib/vigil/breakglass.spool"
#define PV_DEFAULT_TOUCH_TIMEOUT_S 30
#define PV_DEFAULT_CTL_TIMEOUT_MS 5000

enum pv_failmode { PV_FAIL_SECURE = 0, PV_FAIL_SAFE = 1 };

struct pv_args {
	char socket[256];
	char breakglass[256];
	char spool[256];
	char softfido[256]; /* test builds only: named to vigild, which opens it (include/vigil/fido_testpath.h) */
	enum pv_failmode failmode;
	uint32_t touch_timeout_s;
	uint32_t ctl_timeout_ms;
	bool debug;
};

/* Parse "key=value" module arguments; unknown or bad ones are errors (the caller fails closed). */
int pv_args_parse(struct pv_args *a, int argc, const char **argv, char *errbuf, size_t errlen);

struct pv_io {
	void *ctx;
	/* ask the user; returns a malloc'd answer or NULL (conversation failed) */
	char *(*prompt)(void *ctx, bool echo, const char *text);
	void (*info)(void *ctx, const char *text);
	void (*error)(void *ctx, const char *text);
	/* to syslog (authpriv) */
	void (*log)(void *ctx, int prio, const char *text);
};

struct pv_session {
	const char *user, *service, *tty, *rhost, *ruser;
	uid_t uid; /* (uid_t)-1 when the account does not resolve */
	bool breakglass_used; /* out: auth succeeded through break-glass */
	bool approved;	      /* out: a fresh step-up passed; its grant waits for pv_commit */
};

int pv_authenticate(const struct pv_args *a, const struct pv_io *io, struct pv_session *s);
int pv_account(const struct pv_args *a, const struct pv_io *io, const struct pv_session *s);
/* After the whole stack succeeded (pam_sm_setcred): turn the approval of pv_authenticate into a
 * grant. Always PAM_SUCCESS: the login already passed, only a later reuse is at stake. */
int pv_commit(const struct pv_args *a, const struct pv_io *io, const struct pv_session *s);

#endif
