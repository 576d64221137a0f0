/* SPDX-License-Identifier: Apache-2.0 */
/* The auth and account flows of pam_vigil.so (pam/flow.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/stat.h>
#include <security/pam_modules.h>
#include <openssl/crypto.h>

#include "flow.h"
#include "relay.h"
#include "vigil/ctl.h"
#include "vigil/elevation.h"
#include "vigil/fido_testpath.h"
#include "vigil/util.h"

static int set_path(char *dst, size_t cap, const char *v, const char *key, char *errbuf, size_t errlen)
{
	if (v[0] != '/' || strlen(v) >= cap) {
		snprintf(errbuf, errlen, "%s= needs an absolute path shorter than %zu bytes", key, cap);
		return -EINVAL;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int set_uint(uint32_t *dst, const char *v, uint32_t lo, uint32_t hi, const char *key, char *errbuf,
		    size_t errlen)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || end == v || n < lo || n > hi) {
		snprintf(errbuf, errlen, "%s= must be an integer in %u..%u", key, lo, hi);
		return -EINVAL;
	}
	*dst = (uint32_t)n;
	return 0;
}

int pv_args_parse(struct pv_args *a, int argc, const char **argv, char *errbuf, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->socket, sizeof(a->socket), "%s", VG_CTL_DEFAULT_SOCKET);
	snprintf(a->breakglass, sizeof(a->breakglass), "%s", PV_DEFAULT_BREAKGLASS);
	snprintf(a->spool, sizeof(a->spool), "%s", PV_DEFAULT_SPOOL);
	a->touch_timeout_s = PV_DEFAULT_TOUCH_TIMEOUT_S;
	a->ctl_timeout_ms = PV_DEFAULT_CTL_TIMEOUT_MS;
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i], *v = strchr(arg, '=');
		size_t klen = v ? (size_t)(v - arg) : strlen(arg);
		int r = 0;

		v = v ? v + 1 : "";
#define KEY(k) (klen == strlen(k) && strncmp(arg, k, klen) == 0)
		if (KEY("socket"))
			r = set_path(a->socket, sizeof(a->socket), v, "socket", errbuf, errlen);
		else if (KEY("breakglass"))
			r = set_path(a->breakglass, sizeof(a->breakglass), v, "breakglass", errbuf, errlen);
		else if (KEY("spool"))
			r = set_path(a->spool, sizeof(a->spool), v, "spool", errbuf, errlen);
		else if (KEY("softfido"))
			r = set_path(a->softfido, sizeof(a->softfido), v, "softfido", errbuf, errlen);
		else if (KEY("timeout"))
			r = set_uint(&a->touch_timeout_s, v, 1, 300, "timeout", errbuf, errlen);
		else if (KEY("ctl_timeout_ms"))
			r = set_uint(&a->ctl_timeout_ms, v, 100, 60000, "ctl_timeout_ms", errbuf, errlen);
		else if (KEY("debug") && !*v)
			a->debug = true;
		else if (KEY("failmode") && strcmp(v, "secure") == 0)
			a->failmode = PV_FAIL_SECURE;
		else if (KEY("failmode") && strcmp(v, "safe") == 0)
			a->failmode = PV_FAIL_SAFE;
		else {
			snprintf(errbuf, errlen, "unknown or malformed module argument \"%s\" (docs/pam.md)", arg);
			r = -EINVAL;
		}
#undef KEY
		if (r < 0)
			return r;
	}
	return 0;
}

static void say(void (*fn)(void *, const char *), void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(void (*fn)(void *, const char *), void *ctx, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fn(ctx, buf);
}

static void logf_(const struct pv_io *io, int prio, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void logf_(const struct pv_io *io, int prio, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	io->log(io->ctx, prio, buf);
}

enum call_result { CALL_OK, CALL_REFUSED, CALL_DOWN, CALL_BROKEN };

/* One request to vigild. DOWN: vigild is absent or has no policy (the fail mode decides, break-glass
 * applies); REFUSED: vigild answered no (err filled from its reply); BROKEN: anything else,
 * including a vigild that exists but does not answer in time, which a local user can cause and
 * which therefore is never "down". */
static enum call_result call_within(const struct pv_args *a, json_t *req, json_t **reply, uint32_t timeout_ms,
				       struct vg_err *err)
{
	json_t *e;
	int r;

	vg_err_clear(err);
	r = vg_ctl_call(a->socket, req, reply, (int)timeout_ms, err);
	json_decref(req);
	if (r < 0)
		return vg_ctl_vigild_absent(err) ? CALL_DOWN : CALL_BROKEN;
	if (json_is_true(json_object_get(*reply, "ok")))
		return CALL_OK;
	e = json_object_get(*reply, "error");
	vg_err_set(err, EPERM, json_string_value(json_object_get(e, "code")) ?: "refused", NULL, "%s",
		   json_string_value(json_object_get(e, "message")) ?: "vigild refused the request");
	json_decref(*reply);
	*reply = NULL;
	return vg_ctl_vigild_absent(err) ? CALL_DOWN : CALL_REFUSED;
}

static enum call_result call(const struct pv_args *a, json_t *req, json_t **reply, struct vg_err *err)
{
	return call_within(a, req, reply, a->ctl_timeout_ms, err);
}

/* --- break-glass, the one path that works with vigild down --- */

static int spool_use(const struct pv_args *a, const struct vg_bg_use *u)
{
	_cleanup_free_ char *line = vg_bg_use_format(u);
	_cleanup_close_ int fd = -1;
	size_t len;

	if (!line)
		return -ENOMEM;
	len = strlen(line);
	fd = open(a->spool, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	/* one write of one line: concurrent uses append whole records */
	if (write(fd, line, len) != (ssize_t)len)
		return -EIO;
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}

/* The break-glass file holds the hashes that unlock accounts: trust it only when root owns it
 * and nobody else can write it (no symlink followed), as vigild writes it (0600). */
static int read_root_file(const char *path, size_t max, char **out, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t n = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022))
		return -EPERM;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* Returns PAM_SUCCESS, PAM_AUTH_ERR, or PAM_IGNORE when break-glass does not apply. why: the
 * situation, as the prompt tells it ("vigild is unreachable"). */
static int try_breakglass(const struct pv_args *a, const struct pv_io *io, struct pv_session *s, const char *why)
{
	char prompt[160];
	_cleanup_free_ char *buf = NULL;
	struct vg_bg_file *f;
	size_t len = 0, live = 0;
	time_t now = vg_now();
	struct vg_err err;
	char *secret;
	int rc = PAM_IGNORE;

	int r = read_root_file(a->breakglass, VG_BREAKGLASS_FILE_MAX, &buf, &len);

	if (r == -EPERM)
		logf_(io, LOG_ALERT, "break-glass file %s ignored: not a regular file owned by root and "
		      "writable by root only", a->breakglass);
	if (r < 0)
		return PAM_IGNORE;
	f = calloc(1, sizeof(*f));
	if (!f)
		return PAM_AUTH_ERR;
	if (vg_breakglass_file_parse(buf, len, f, &err) < 0) {
		logf_(io, LOG_ERR, "break-glass file %s is unreadable: %s", a->breakglass, err.msg);
		goto out;
	}
	for (size_t i = 0; i < f->n; i++)
		live += strcmp(f->e[i].user, s->user) == 0 && f->e[i].not_after > now;
	if (!live)
		goto out;
	snprintf(prompt, sizeof(prompt), "%s. BREAK-GLASS code (this use is audited; empty to skip): ", why);
	secret = io->prompt(io->ctx, false, prompt);
	if (!secret || !*secret) {
		free(secret);
		goto out;
	}
	rc = PAM_AUTH_ERR;
	for (size_t i = 0; i < f->n; i++) {
		struct vg_bg_entry *e = &f->e[i];
		struct vg_bg_use u = { 0 };
		char until[32];

		if (strcmp(e->user, s->user) != 0 || e->not_after <= now ||
		    vg_breakglass_verify(e->hash, secret, &err) != 0)
			continue;
		snprintf(u.id, sizeof(u.id), "%s", e->id);
		snprintf(u.user, sizeof(u.user), "%s", s->user);
		snprintf(u.service, sizeof(u.service), "%s", s->service);
		snprintf(u.tty, sizeof(u.tty), "%s", s->tty ? s->tty : "");
		snprintf(u.rhost, sizeof(u.rhost), "%s", s->rhost ? s->rhost : "");
		snprintf(u.ruser, sizeof(u.ruser), "%s", s->ruser ? s->ruser : "");
		snprintf(u.policy_digest, sizeof(u.policy_digest), "%s", f->policy_digest);
		u.at = now;
		u.duration_s = e->duration_s;
		/* no audit record, no access: an unrecorded break-glass use must not happen */
		if ((r = spool_use(a, &u)) < 0) {
			logf_(io, LOG_ALERT, "break-glass %s for %s matched but cannot be spooled to %s: %s", e->id,
			      s->user, a->spool, strerror(-r));
			say(io->error, io->ctx, "vigil: break-glass refused: the audit spool cannot be written");
			break;
		}
		vg_time_format(now + (time_t)e->duration_s, until);
		logf_(io, LOG_ALERT, "BREAK-GLASS credential %s used for %s via %s (tty %s, rhost %s)", e->id,
		      s->user, s->service, u.tty, u.rhost);
		say(io->info, io->ctx,
		    "vigil: BREAK-GLASS access for %s (credential %s) until %s. This use is recorded and will be audited.",
		    s->user, e->id, until);
		s->breakglass_used = true;
		rc = PAM_SUCCESS;
		break;
	}
	if (rc != PAM_SUCCESS)
		logf_(io, LOG_ALERT, "break-glass attempt for %s via %s failed", s->user, s->service);
	OPENSSL_cleanse(secret, strlen(secret));
	free(secret);
out:
	free(f);
	return rc;
}

static int vigild_down(const struct pv_args *a, const struct pv_io *io, struct pv_session *s,
		       const struct vg_err *err)
{
	int rc = try_breakglass(a, io, s, "vigild is unreachable");

	if (rc != PAM_IGNORE)
		return rc;
	if (a->failmode == PV_FAIL_SAFE) {
		logf_(io, LOG_WARNING, "vigild unavailable (%s); step-up skipped for %s (failmode=safe)", err->msg,
		      s->user);
		say(io->error, io->ctx, "vigil: vigild is unavailable; security-key step-up skipped (failmode=safe)");
		return PAM_IGNORE;
	}
	logf_(io, LOG_ERR, "vigild unavailable (%s); elevation denied for %s (failmode=secure)", err->msg, s->user);
	say(io->error, io->ctx, "vigil: vigild is unavailable (%s); elevation denied (failmode=secure)", err->msg);
	return PAM_AUTH_ERR;
}

/* --- step-up --- */

static int report_client_failure(const struct pv_args *a, const struct pv_session *s, const char *id,
				 const char *why, const char *detail)
{
	json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "cmd", "elevation.assert", "challenge_id", id,
				"user", s->user, "service", s->service, "tty", s->tty ? s->tty : "", "client_error", why,
				"detail", detail);
	json_t *reply = NULL;
	struct vg_err err;

	call(a, req, &reply, &err);
	json_decref(reply);
	return PAM_AUTH_ERR;
}

static const char *client_msg(const char *why)
{
	if (strcmp(why, "no_key") == 0)
		return "no security key found; plug it in and try again";
	if (strcmp(why, "timeout") == 0)
		return "the security key was not touched in time";
	if (strcmp(why, "wrong_key") == 0)
		return "this security key is not enrolled for you";
	if (strcmp(why, "uv_missing") == 0)
		return "the security key could not verify you (PIN or biometrics)";
	if (strcmp(why, "key_busy") == 0)
		return "the security key is busy with another step-up; try again when it is done";
	return "the security key failed";
}

/* The PAM items vigild records with a grant; who asks (uid, session) vigild reads itself. */
static json_t *request(const char *cmd, const struct pv_session *s)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "cmd", cmd, "user", s->user, "service", s->service, "tty",
			 s->tty ? s->tty : "", "rhost", s->rhost ? s->rhost : "", "ruser", s->ruser ? s->ruser : "");
}

/* Where the step-up goes: 1 the key plugged in here (vigild drives it), 0 the relay, or a PAM code. */
static int local_key(const struct pv_args *a, const struct pv_io *io, struct pv_session *s)
{
	json_t *req = request("elevation.key_probe", s), *reply = NULL;
	const char *key, *tp = vg_fido_test_path(a->softfido);
	struct vg_err err;
	enum call_result cr;
	int rc;

	if (req && tp)
		json_object_set_new(req, "softfido", json_string(tp));
	cr = call(a, req, &reply, &err);
	if (cr == CALL_DOWN)
		return vigild_down(a, io, s, &err);
	/* vigild cannot drive a key at all: the workstation still can */
	if (cr == CALL_REFUSED && strcmp(err.code, "key_unavailable") == 0) {
		logf_(io, LOG_WARNING, "vigild cannot drive a security key (%s); offering remote step-up", err.msg);
		return 0;
	}
	if (cr != CALL_OK) {
		say(io->error, io->ctx, "vigil: elevation denied: %s", err.msg);
		return PAM_AUTH_ERR;
	}
	key = json_string_value(json_object_get(reply, "key")) ?: "";
	rc = strcmp(key, "present") == 0;
	if (strcmp(key, "not_yours") == 0)
		say(io->info, io->ctx, "vigil: %s", json_string_value(json_object_get(reply, "detail")) ?: "");
	/* a key that is there but unusable is named, so the admin can fix it, not just relayed */
	if (strcmp(key, "unusable") == 0) {
		const char *why = json_string_value(json_object_get(reply, "detail")) ?: "?";

		logf_(io, LOG_WARNING, "security key unusable for %s (%s); offering remote step-up", s->user, why);
		say(io->error, io->ctx, "vigil: the security key here cannot be used (%s)", why);
	}
	json_decref(reply);
	return rc;
}

/* vigild has the key sign the challenge it issued (the touch wait bounds the call); the PIN, when
 * the key asks for one, is typed here and sent once. 0 and *reply: the assertion; else why. */
static int key_assert(const struct pv_args *a, const struct pv_io *io, const struct pv_session *s, const char *id,
		      json_t **reply, char *why, size_t why_len, char *detail, size_t detail_len)
{
	const char *tp = vg_fido_test_path(a->softfido);
	char *pin = NULL;
	struct vg_err err;
	enum call_result cr;

	for (;;) {
		json_t *req = request("elevation.key_assert", s);

		if (req) {
			json_object_set_new(req, "challenge_id", json_string(id));
			json_object_set_new(req, "touch_timeout_s", json_integer(a->touch_timeout_s));
		}
		if (req && tp)
			json_object_set_new(req, "softfido", json_string(tp));
		if (req && pin)
			json_object_set_new(req, "pin", json_string(pin));
		io->info(io->ctx, "Touch your security key");
		cr = call_within(a, req, reply, a->touch_timeout_s * 1000u + a->ctl_timeout_ms, &err);
		if (pin) {
			explicit_bzero(pin, strlen(pin));
			free(pin);
			pin = NULL;
		} else if (cr == CALL_REFUSED && strcmp(err.code, "pin_required") == 0) {
			pin = io->prompt(io->ctx, false, "Security key PIN: ");
			if (pin && *pin)
				continue;
			free(pin);
			pin = NULL;
			vg_err_set(&err, EACCES, "uv_missing", NULL, "no PIN given");
		}
		break;
	}
	if (cr == CALL_OK)
		return 0;
	snprintf(why, why_len, "%s",
		 cr != CALL_REFUSED ? "key_error" : strcmp(err.code, "pin_required") == 0 ? "uv_missing" : err.code);
	snprintf(detail, detail_len, "%s", err.msg);
	return -EPERM;
}

static int step_up(const struct pv_args *a, const struct pv_io *io, struct pv_session *s, json_t *check)
{
	const char *tty = s->tty ? s->tty : "";
	_cleanup_free_ char *reason = NULL;
	json_t *req, *reply = NULL, *as = NULL;
	const char *id;
	char why[64] = "key_error", detail[256] = "";
	struct vg_err err;
	enum call_result cr;
	int rc = PAM_AUTH_ERR, kr;

	if (json_is_true(json_object_get(check, "need_reason"))) {
		const char *pat = json_string_value(json_object_get(check, "reason_pattern"));

		if (pat)
			say(io->info, io->ctx, "vigil: elevation needs a reason matching %s", pat);
		reason = io->prompt(io->ctx, true, "Reason for elevation: ");
		if (!reason) {
			say(io->error, io->ctx, "vigil: no reason given; elevation denied");
			return PAM_AUTH_ERR;
		}
	}
	/* no key on this host: the administrator signs on their workstation (docs/remote-stepup.md) */
	if ((kr = local_key(a, io, s)) != 1)
		return kr == 0 ? pv_relay_step_up(a, io, s, reason) : kr;
	req = json_pack("{s:s, s:s, s:s, s:s, s:s}", "cmd", "elevation.challenge", "user", s->user, "service",
			s->service, "tty", tty, "reason", reason ? reason : "");
	cr = call(a, req, &reply, &err);
	if (cr == CALL_DOWN)
		return vigild_down(a, io, s, &err);
	if (cr != CALL_OK) {
		say(io->error, io->ctx, "vigil: elevation denied: %s", err.msg);
		goto out;
	}
	if (!(id = json_string_value(json_object_get(reply, "challenge_id")))) {
		logf_(io, LOG_ERR, "malformed challenge from vigild");
		say(io->error, io->ctx, "vigil: internal error (malformed challenge); elevation denied");
		goto out;
	}
	if (key_assert(a, io, s, id, &as, why, sizeof(why), detail, sizeof(detail)) < 0) {
		say(io->error, io->ctx, "vigil: %s; elevation denied", client_msg(why));
		logf_(io, LOG_NOTICE, "step-up for %s failed on the key: %s (%s)", s->user, why, detail);
		rc = report_client_failure(a, s, id, why, detail);
		goto out;
	}
	/* the assertion goes back as the key made it: vigild verifies it like any other */
	req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:O}", "cmd", "elevation.assert", "challenge_id", id,
			"user", s->user, "service", s->service, "tty", tty, "credential_id",
			json_object_get(as, "credential_id"), "auth_data", json_object_get(as, "auth_data"), "signature",
			json_object_get(as, "signature"));
	json_decref(reply);
	reply = NULL;
	cr = call(a, req, &reply, &err);
	if (cr != CALL_OK) {
		/* vigild vanishing between challenge and verdict is not "down": nothing was verified */
		say(io->error, io->ctx, "vigil: elevation denied: %s", err.msg);
		logf_(io, LOG_NOTICE, "step-up for %s refused: %s (%s)", s->user, err.code, err.msg);
		goto out;
	}
	say(io->info, io->ctx, "vigil: security key accepted");
	logf_(io, LOG_INFO, "step-up satisfied for %s via %s", s->user, s->service);
	rc = PAM_SUCCESS;
out:
	json_decref(as);
	json_decref(reply);
	return rc;
}


int pv_authenticate(const struct pv_args *a, const struct pv_io *io, struct pv_session *s)
{
	json_t *req, *reply = NULL, *concerned;
	struct vg_err err;
	enum call_result cr;
	int rc;

	req = request("elevation.check", s);
	if (req)
		json_object_set_new(req, "use_grant", json_true());
	cr = call(a, req, &reply, &err);
	if (cr == CALL_DOWN)
		return vigild_down(a, io, s, &err);
	if (cr != CALL_OK) {
		logf_(io, LOG_ERR, "elevation.check for %s failed: %s", s->user, err.msg);
		say(io->error, io->ctx, "vigil: elevation denied: %s", err.msg);
		return PAM_AUTH_ERR;
	}
	/* an emergency froze elevation: break-glass is the only way in (vigild ingests the spooled use
	 * at once) */
	if (json_is_true(json_object_get(reply, "frozen"))) {
		rc = try_breakglass(a, io, s, "elevation is frozen by an emergency");
		if (rc != PAM_IGNORE) {
			json_decref(reply);
			return rc;
		}
	}
	concerned = json_object_get(reply, "concerned");
	if (!json_is_boolean(concerned)) {
		logf_(io, LOG_ERR, "malformed elevation.check reply from vigild (no boolean \"concerned\")");
		say(io->error, io->ctx, "vigil: internal error (malformed reply); elevation denied");
		json_decref(reply);
		return PAM_AUTH_ERR;
	}
	if (!json_is_true(concerned)) {
		/* the only PAM_IGNORE of the auth flow: the policy does not speak about this user/service */
		json_decref(reply);
		return PAM_IGNORE;
	}
	if (json_is_false(json_object_get(reply, "touch_needed"))) {
		say(io->info, io->ctx, "vigil: elevation grant active until %s",
		    json_string_value(json_object_get(json_object_get(reply, "grant"), "expires")) ?: "?");
		json_decref(reply);
		return PAM_SUCCESS;
	}
	rc = step_up(a, io, s, reply);
	json_decref(reply);
	s->approved = rc == PAM_SUCCESS;
	return rc;
}

/* Two requests, so that no grant exists that this module did not hear of: commit records the
 * grant durably and answers with a token; the grant is made only when confirm brings the token
 * back. A commit that does not answer in time is never confirmed (vigild drops it, audited
 * elevation.aborted), so "no grant" is then the truth. Once confirm is sent the grant may exist:
 * the user is told it does, even when the answer to confirm is late. */
int pv_commit(const struct pv_args *a, const struct pv_io *io, const struct pv_session *s)
{
	json_t *req, *reply = NULL, *done = NULL;
	const char *token, *expires;
	struct vg_err err;
	enum call_result cr;

	if (call(a, request("elevation.commit", s), &reply, &err) != CALL_OK ||
	    !(token = json_string_value(json_object_get(reply, "confirm")))) {
		if (reply)
			vg_err_set(&err, EPROTO, "reply_malformed", NULL, "malformed commit reply from vigild");
		/* this login already passed; only the grant that would spare the next touch is missing */
		logf_(io, LOG_WARNING, "no grant recorded for %s via %s: %s", s->user, s->service, err.msg);
		say(io->error, io->ctx, "vigil: no grant recorded (%s); the next elevation asks for the key again",
		    err.msg);
		json_decref(reply);
		return PAM_SUCCESS;
	}
	expires = json_string_value(json_object_get(json_object_get(reply, "grant"), "expires")) ?: "?";
	req = request("elevation.confirm", s);
	if (req)
		json_object_set_new(req, "confirm", json_string(token));
	cr = call(a, req, &done, &err);
	if (cr == CALL_REFUSED || cr == CALL_DOWN) {
		logf_(io, LOG_WARNING, "no grant recorded for %s via %s: %s", s->user, s->service, err.msg);
		say(io->error, io->ctx, "vigil: no grant recorded (%s); the next elevation asks for the key again",
		    err.msg);
	} else if (cr != CALL_OK) {
		logf_(io, LOG_WARNING, "grant for %s via %s confirmed but not acknowledged: %s", s->user, s->service,
		      err.msg);
		say(io->info, io->ctx, "vigil: elevation granted until %s (vigild has not acknowledged it yet: %s)",
		    expires, err.msg);
	} else {
		say(io->info, io->ctx, "vigil: elevation granted until %s", expires);
		logf_(io, LOG_INFO, "grant recorded for %s via %s", s->user, s->service);
	}
	json_decref(done);
	json_decref(reply);
	return PAM_SUCCESS;
}

int pv_account(const struct pv_args *a, const struct pv_io *io, const struct pv_session *s)
{
	json_t *req, *reply = NULL;
	struct vg_err err;
	enum call_result cr;
	const char *verdict;
	int rc;

	req = json_pack("{s:s, s:s, s:s}", "cmd", "elevation.account", "user", s->user, "service", s->service);
	if (req && s->uid != (uid_t)-1)
		json_object_set_new(req, "uid", json_integer(s->uid));
	cr = call(a, req, &reply, &err);
	if (cr == CALL_DOWN) {
		if (s->breakglass_used)
			return PAM_SUCCESS;
		if (a->failmode == PV_FAIL_SAFE)
			return PAM_IGNORE;
		say(io->error, io->ctx, "vigil: vigild is unavailable (%s); access denied (failmode=secure)", err.msg);
		return PAM_PERM_DENIED;
	}
	if (cr != CALL_OK) {
		say(io->error, io->ctx, "vigil: internal error (%s); access denied", err.msg);
		return PAM_PERM_DENIED;
	}
	verdict = json_string_value(json_object_get(reply, "verdict")) ?: "";
	if (strcmp(verdict, "ok") == 0)
		rc = PAM_SUCCESS;
	else if (strcmp(verdict, "ignore") == 0)
		rc = PAM_IGNORE;
	else {
		say(io->error, io->ctx, "vigil: access denied for %s: %s", s->user,
		    json_string_value(json_object_get(reply, "message")) ?: verdict);
		logf_(io, LOG_NOTICE, "account %s refused for %s: %s", s->user, s->service, verdict);
		rc = PAM_PERM_DENIED;
	}
	json_decref(reply);
	return rc;
}
