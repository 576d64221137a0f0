/* SPDX-License-Identifier: Apache-2.0 */
/* Remote step-up prompt (pam/relay.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <security/pam_modules.h>

#include "relay.h"
#include "vigil/ctl.h"
#include "vigil/util.h"

static void tell(void (*fn)(void *, const char *), void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void tell(void (*fn)(void *, const char *), void *ctx, const char *fmt, ...)
{
	/* a code with every field at its maximum is 2,500 characters, shown twice (code and URL) */
	char buf[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fn(ctx, buf);
}

/* One request to vigild; a refusal becomes err with vigild's code and message. req is stolen. */
static int relay_call(const struct pv_args *a, json_t *req, json_t **reply, struct vg_err *err)
{
	json_t *e;
	int r;

	vg_err_clear(err);
	if (!req)
		return vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
	r = vg_ctl_call(a->socket, req, reply, (int)a->ctl_timeout_ms, err);
	json_decref(req);
	if (r < 0)
		return r;
	if (json_is_true(json_object_get(*reply, "ok")))
		return 0;
	e = json_object_get(*reply, "error");
	vg_err_set(err, EPERM, json_string_value(json_object_get(e, "code")) ?: "refused", NULL, "%s",
		   json_string_value(json_object_get(e, "message")) ?: "vigild refused the request");
	json_decref(*reply);
	*reply = NULL;
	return -EPERM;
}

int pv_relay_step_up(const struct pv_args *a, const struct pv_io *io, const struct pv_session *s,
		     const char *reason)
{
	const char *tty = s->tty ? s->tty : "";
	json_t *reply = NULL, *req;
	struct vg_err err;
	char *answer = NULL, line[1024];
	const char *code, *url;
	int rc = PAM_AUTH_ERR;

	if (relay_call(a,
		       json_pack("{s:s, s:s, s:s, s:s, s:s}", "cmd", "elevation.relay_challenge", "user", s->user,
				 "service", s->service, "tty", tty, "reason", reason ? reason : ""),
		       &reply, &err) < 0) {
		tell(io->error, io->ctx, "vigil: elevation denied: %s", err.msg);
		return PAM_AUTH_ERR;
	}
	code = json_string_value(json_object_get(reply, "code"));
	url = json_string_value(json_object_get(reply, "url"));
	if (!code) {
		tell(io->error, io->ctx, "vigil: internal error (malformed relay challenge); elevation denied");
		goto out;
	}
	tell(io->info, io->ctx,
	     "vigil: no security key on this host. On your workstation, run\n  vigil-stepup %s\n%s%s%s"
	     "and paste the answer below (the challenge expires at %s).",
	     code, url ? "or open\n  " : "", url ? url : "", url ? "\n" : "",
	     json_string_value(json_object_get(reply, "expires")) ?: "?");
	/* the wait is bounded by the conversation (sudo's passwd_timeout) and, whatever it
	 * allows, by the challenge's expiry that vigild enforces */
	answer = io->prompt(io->ctx, true, "vigil answer: ");
	/* vigild gets the code back with the answer, to know which challenge it answers; an empty
	 * or missing answer goes too, so vigild spends the challenge and says why */
	req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "cmd", "elevation.relay_answer", "user", s->user, "service",
			s->service, "tty", tty, "code", code, "answer", answer ? answer : "");
	json_decref(reply);
	reply = NULL;
	if (relay_call(a, req, &reply, &err) < 0) {
		tell(io->error, io->ctx, "vigil: elevation denied: %s", err.msg);
		snprintf(line, sizeof(line), "relay step-up for %s refused: %s (%s)", s->user, err.code, err.msg);
		io->log(io->ctx, LOG_NOTICE, line);
		goto out;
	}
	/* the grant itself is recorded once the whole stack passed (pam_sm_setcred, pv_commit) */
	tell(io->info, io->ctx, "vigil: answer accepted");
	rc = PAM_SUCCESS;
out:
	free(answer);
	json_decref(reply);
	return rc;
}
