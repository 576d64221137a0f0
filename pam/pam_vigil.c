/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pam_vigil.so: the PAM entry points. They only translate between PAM and
 * pam/flow.c: read the items, wire the conversation, map nothing themselves.
 * Any internal error is PAM_AUTH_ERR / PAM_PERM_DENIED, never success.
 */
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "flow.h"

#define PV_DATA_BREAKGLASS "vigil_breakglass_used"
#define PV_DATA_APPROVED "vigil_step_up_approved"

static char *conv_prompt(void *ctx, bool echo, const char *text)
{
	char *resp = NULL;

	if (pam_prompt(ctx, echo ? PAM_PROMPT_ECHO_ON : PAM_PROMPT_ECHO_OFF, &resp, "%s", text) != PAM_SUCCESS) {
		free(resp);
		return NULL;
	}
	return resp;
}

static void conv_info(void *ctx, const char *text)
{
	pam_info(ctx, "%s", text);
}

static void conv_error(void *ctx, const char *text)
{
	pam_error(ctx, "%s", text);
}

static void conv_log(void *ctx, int prio, const char *text)
{
	pam_syslog(ctx, prio, "%s", text);
}

static void free_data(pam_handle_t *pamh, void *data, int error_status)
{
	free(data);
}

static const char *item(pam_handle_t *pamh, int type)
{
	const void *v = NULL;

	if (pam_get_item(pamh, type, &v) != PAM_SUCCESS)
		return NULL;
	return v;
}

/* Fill args and session; PAM_SUCCESS or the code to return (fail closed). */
static int setup(pam_handle_t *pamh, int argc, const char **argv, int fail, struct pv_args *a,
		 struct pv_session *s)
{
	char errbuf[256];
	const char *user = NULL;
	struct passwd pw, *pwr = NULL;
	char pwbuf[4096];

	if (pv_args_parse(a, argc, argv, errbuf, sizeof(errbuf)) < 0) {
		pam_syslog(pamh, LOG_ERR, "%s", errbuf);
		return fail;
	}
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !user || !*user) {
		pam_syslog(pamh, LOG_ERR, "cannot determine the user");
		return fail;
	}
	memset(s, 0, sizeof(*s));
	s->user = user;
	s->service = item(pamh, PAM_SERVICE);
	s->tty = item(pamh, PAM_TTY);
	s->rhost = item(pamh, PAM_RHOST);
	s->ruser = item(pamh, PAM_RUSER);
	if (!s->service || !*s->service) {
		pam_syslog(pamh, LOG_ERR, "cannot determine the PAM service");
		return fail;
	}
	s->uid = getpwnam_r(user, &pw, pwbuf, sizeof(pwbuf), &pwr) == 0 && pwr ? pwr->pw_uid : (uid_t)-1;
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct pv_io io = { pamh, conv_prompt, conv_info, conv_error, conv_log };
	struct pv_args a;
	struct pv_session s;
	int rc = setup(pamh, argc, argv, PAM_AUTH_ERR, &a, &s);

	if (rc != PAM_SUCCESS)
		return rc;
	pam_set_data(pamh, PV_DATA_APPROVED, NULL, NULL);
	rc = pv_authenticate(&a, &io, &s);
	if (rc == PAM_SUCCESS && s.breakglass_used)
		pam_set_data(pamh, PV_DATA_BREAKGLASS, (void *)1, NULL);
	/* remember who passed: sudo switches PAM_USER to the target user before setcred */
	if (rc == PAM_SUCCESS && s.approved)
		pam_set_data(pamh, PV_DATA_APPROVED, strdup(s.user), free_data);
	return rc;
}

/* Applications call setcred only once the whole auth stack (and account) succeeded — sudo with
 * PAM_REINITIALIZE_CRED as it starts the command, su/sshd/login with PAM_ESTABLISH_CRED: the one
 * place where a step-up becomes a grant; a failed password before or after leaves none. */
PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct pv_io io = { pamh, conv_prompt, conv_info, conv_error, conv_log };
	struct pv_args a;
	struct pv_session s;
	const void *approved = NULL;

	if (!(flags & (PAM_ESTABLISH_CRED | PAM_REINITIALIZE_CRED)) ||
	    pam_get_data(pamh, PV_DATA_APPROVED, &approved) != PAM_SUCCESS || !approved)
		return PAM_SUCCESS;
	if (setup(pamh, argc, argv, PAM_CRED_ERR, &a, &s) == PAM_SUCCESS) {
		s.user = approved;
		pv_commit(&a, &io, &s);
	}
	/* frees the name: one commit per step-up */
	pam_set_data(pamh, PV_DATA_APPROVED, NULL, NULL);
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct pv_io io = { pamh, conv_prompt, conv_info, conv_error, conv_log };
	struct pv_args a;
	struct pv_session s;
	const void *bg = NULL;
	int rc = setup(pamh, argc, argv, PAM_PERM_DENIED, &a, &s);

	if (rc != PAM_SUCCESS)
		return rc;
	s.breakglass_used = pam_get_data(pamh, PV_DATA_BREAKGLASS, &bg) == PAM_SUCCESS && bg;
	return pv_account(&a, &io, &s);
}
