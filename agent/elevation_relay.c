/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remote step-up in vigild (docs/remote-stepup.md): turns the elevation module's
 * challenge into a relay code an administrator carries to a workstation, and
 * rebuilds the full assertion from the compact answer pasted back before handing
 * it to the elevation module's verdict.
 *
 *   elevation.relay_challenge {user, service, tty, reason}
 *       -> {code, url?, challenge_id, expires}
 *   elevation.relay_answer {user, service, tty, code, answer}
 *       -> the reply of elevation.assert ({grant}) or a refusal
 *
 * The elevation module keeps what must stay single: the challenge store (single
 * use, bound to user, service and tty), the challenge hash the key must sign (the
 * hash of the context the code shows), sign counters, posture, grants and their
 * audit events. This module only translates: code in, answer out, and back.
 * pam_vigil.so hands the code it showed back with the answer; nothing in the code
 * is trusted, since elevation.assert checks the signature against the challenge
 * it stored.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <openssl/crypto.h>

#include "daemon.h"
#include "elevation.h"
#include "vigil/relay.h"
#include "vigil/util.h"
#include "vigil/webauthn.h"

static struct {
	uint64_t issued, accepted, refused;
} rs;

static const char *req_str(json_t *req, const char *key)
{
	const char *s = json_string_value(json_object_get(req, key));

	return s ? s : "";
}

static int hex_decode(const char *hex, uint8_t *out, size_t len)
{
	if (strlen(hex) != 2 * len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (sscanf(hex + 2 * i, "%2hhx", &out[i]) != 1)
			return -EINVAL;
	return 0;
}

/* The elevation module's challenge reply -> the fields of a relay challenge. */
static int fill_challenge(struct vg_daemon *d, json_t *ch, const char *user, const char *service,
			  const char *reason, struct vg_relay_challenge *c, struct vg_err *err)
{
	json_t *creds = json_object_get(ch, "credentials");
	time_t expires;

	memset(c, 0, sizeof(*c));
	if (hex_decode(req_str(ch, "challenge_id"), c->nonce, sizeof(c->nonce)) < 0 ||
	    vg_time_parse(req_str(ch, "expires"), &expires) < 0)
		return vg_err_set(err, EPROTO, "internal_error", "elevation.relay_challenge",
				  "the elevation module returned a challenge the relay cannot encode");
	c->expires = expires;
	c->flags = json_is_true(json_object_get(ch, "uv_required")) ? VG_RELAY_F_UV : 0;
	if (strlen(reason) > VG_RELAY_REASON_MAX || strlen(user) > VG_RELAY_USER_MAX ||
	    strlen(vg_daemon_hostname(d)) > VG_RELAY_HOST_MAX || strlen(service) > VG_RELAY_SERVICE_MAX)
		return vg_err_set(err, EINVAL, "relay_field_too_long", "elevation.relay_challenge",
				  "user, host, service or reason is too long for a relay code (reason: at most %d "
				  "characters)",
				  VG_RELAY_REASON_MAX);
	snprintf(c->user, sizeof(c->user), "%s", user);
	snprintf(c->host, sizeof(c->host), "%s", vg_daemon_hostname(d));
	snprintf(c->service, sizeof(c->service), "%s", service);
	snprintf(c->rp_id, sizeof(c->rp_id), "%s", req_str(ch, "rp_id"));
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	/* the key needs the allow list; ids beyond the code's limits are left to resident keys */
	for (size_t i = 0; i < json_array_size(creds) && c->ncreds < VG_RELAY_MAX_CREDS; i++) {
		_cleanup_free_ uint8_t *id = NULL;
		size_t len = 0;

		if (vg_b64_decode(json_string_value(json_array_get(creds, i)) ?: "!", &id, &len) < 0 || len == 0 ||
		    len > VG_RELAY_CRED_ID_MAX)
			continue;
		c->creds[c->ncreds].len = (uint8_t)len;
		memcpy(c->creds[c->ncreds].id, id, len);
		c->ncreds++;
	}
	return 0;
}

/* The code must show exactly what the key will sign: its context hash is the hash the
 * elevation module stored. A difference is a bug, and no code is better than a wrong one. */
static int same_hash(json_t *ch, const struct vg_relay_challenge *c, struct vg_err *err)
{
	_cleanup_free_ uint8_t *h = NULL;
	size_t len = 0;

	if (vg_b64_decode(req_str(ch, "client_data_hash"), &h, &len) < 0 || len != sizeof(c->hash) ||
	    CRYPTO_memcmp(h, c->hash, len))
		return vg_err_set(err, EPROTO, "internal_error", "elevation.relay_challenge",
				  "the relay code would not show what the key signs; no code issued");
	return 0;
}

/* elevation.relay_challenge {user, service, tty, reason} */
static int cmd_relay_challenge(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, json_t **reply,
			       struct vg_err *err)
{
	const struct vg_bundle *b = vg_daemon_bundle(d);
	const char *user = req_str(req, "user"), *service = req_str(req, "service");
	struct vg_relay_challenge *c = NULL;
	char *code = NULL;
	_cleanup_free_ char *url = NULL;
	json_t *inner, *ch = NULL;
	int r;

	inner = json_pack("{s:s, s:s, s:s, s:s, s:s}", "cmd", "elevation.challenge", "user", user, "service",
			  service, "tty", req_str(req, "tty"), "reason", req_str(req, "reason"));
	if (!inner)
		return -ENOMEM;
	/* the elevation module decides who may elevate, stores the challenge and audits step_up_required */
	r = vg_module_elevation.ctl(d, peer, "elevation.challenge", inner, &ch, err);
	json_decref(inner);
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = fill_challenge(d, ch, user, service, req_str(req, "reason"), c, err)) < 0 ||
	    (r = vg_relay_challenge_encode(c, &code, err)) < 0 || (r = same_hash(ch, c, err)) < 0)
		goto out;
	if (b && b->elevation.norigins > 0)
		url = vg_relay_challenge_url(b->elevation.origins[0], code);
	rs.issued++;
	*reply = json_pack("{s:s, s:s*, s:O, s:O}", "code", code, "url", url, "challenge_id",
			   json_object_get(ch, "challenge_id"), "expires", json_object_get(ch, "expires"));
	r = *reply ? 0 : -ENOMEM;
out:
	free(code);
	free(c);
	json_decref(ch);
	return r;
}

static void audit_refused(struct vg_daemon *d, const char *user, const char *service, const char *tty,
			  const struct vg_err *err)
{
	vg_daemon_audit(d, "step_up_failed", user,
			json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "user", user, "service", service, "tty", tty,
				  "method", "relay", "reason", err->code, "detail", err->msg));
}

/* A refused answer also spends its challenge, as the elevation module does with any failed
 * attempt, and the elevation module writes the step_up_failed event with the relay's reason
 * (or its own when the challenge is unknown, bound elsewhere or expired). */
static void spend_challenge(struct vg_daemon *d, const struct vg_peer *peer, const char *id, const char *user,
			    const char *service, const char *tty, const struct vg_err *why)
{
	json_t *req, *reply = NULL;
	struct vg_err ignored;

	req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "cmd", "elevation.assert", "challenge_id", id, "user",
			user, "service", service, "tty", tty, "client_error", why->code, "detail", why->msg);
	if (!req || vg_module_elevation.ctl(d, peer, "elevation.assert", req, &reply, &ignored) == -ENOMEM)
		audit_refused(d, user, service, tty, why);
	json_decref(req);
	json_decref(reply);
}

/* elevation.assert on the assertion the answer stands for. */
static int assert_answer(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, const char *id,
			 const struct vg_relay_answer *a, const struct vg_relay_assertion *as, json_t **reply,
			 struct vg_err *err)
{
	_cleanup_free_ char *ad_b64 = vg_b64_encode(as->auth_data, as->auth_data_len, false);
	_cleanup_free_ char *sig_b64 = vg_b64_encode(a->sig, a->sig_len, false);
	_cleanup_free_ char *cd_b64 = NULL;
	json_t *inner;
	int r;

	if (a->kind == VG_RELAY_WEBAUTHN)
		cd_b64 = vg_b64_encode((const uint8_t *)as->client_data, as->client_data_len, true);
	inner = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s*}", "cmd", "elevation.assert", "challenge_id",
			  id, "user", req_str(req, "user"), "service", req_str(req, "service"), "tty",
			  req_str(req, "tty"), "credential_id", as->cred->id_b64, "auth_data", ad_b64 ?: "",
			  "signature", sig_b64 ?: "", "client_data_json", cd_b64);
	if (!inner)
		return -ENOMEM;
	/* single use, signature, counter, posture, grant and their audit events */
	r = vg_module_elevation.ctl(d, peer, "elevation.assert", inner, reply, err);
	json_decref(inner);
	if (r < 0 && !strcmp(err->code, "wrong_key"))
		vg_err_set(err, -r, "wrong_key", "elevation.relay_answer",
			   "the signature does not verify: the key signed another challenge than the one this prompt "
			   "showed (was the code altered on its way to the workstation? the key signs the user, host, "
			   "service, reason and expiry shown there), or another key answered");
	return r;
}

/* elevation.relay_answer {user, service, tty, code, answer} */
static int cmd_relay_answer(struct vg_daemon *d, const struct vg_peer *peer, json_t *req, json_t **reply,
			    struct vg_err *err)
{
	const struct vg_bundle *b = vg_daemon_bundle(d);
	const char *user = req_str(req, "user"), *service = req_str(req, "service"), *tty = req_str(req, "tty");
	struct vg_relay_challenge *c = calloc(1, sizeof(*c));
	struct vg_relay_answer *a = calloc(1, sizeof(*a));
	struct vg_relay_assertion *as = calloc(1, sizeof(*as));
	struct vg_relay_verify v = { 0 };
	char id[2 * VG_RELAY_NONCE_LEN + 1];
	int r;

	if (!c || !a || !as) {
		r = -ENOMEM;
		goto out;
	}
	if (!b) {
		r = vg_err_set(err, ENODATA, "no_policy", "elevation",
			       "no policy bundle is applied on this host; push one with vigilctl policy push");
		goto out;
	}
	/* the code pam_vigil.so showed: which challenge, and what the key was asked to sign */
	if ((r = vg_relay_challenge_decode(req_str(req, "code"), c, err)) < 0) {
		rs.refused++;
		audit_refused(d, user, service, tty, err);
		goto out;
	}
	vg_hex(c->nonce, sizeof(c->nonce), id);
	v = (struct vg_relay_verify){ .challenge = c,
				      .rp_id = b->elevation.rp_id ? b->elevation.rp_id : "",
				      .origins = b->elevation.origins,
				      .norigins = b->elevation.norigins,
				      .require_uv = b->elevation.require_uv,
				      .user = vg_bundle_user_by_name(b, user) };
	if ((r = vg_relay_answer_decode(req_str(req, "answer"), a, err)) < 0 ||
	    (r = vg_relay_answer_expand(a, &v, as, err)) < 0) {
		rs.refused++;
		vg_log(LOG_NOTICE, "elevation: relay answer for %s via %s refused: %s", user, service, err->msg);
		spend_challenge(d, peer, id, user, service, tty, err);
		goto out;
	}
	r = assert_answer(d, peer, req, id, a, as, reply, err);
	if (r < 0)
		rs.refused++;
	else
		rs.accepted++;
out:
	free(c);
	free(a);
	free(as);
	return r;
}

static int relay_ctl(struct vg_daemon *d, const struct vg_peer *peer, const char *cmd, json_t *req, json_t **reply,
		     struct vg_err *err)
{
	bool challenge = !strcmp(cmd, "elevation.relay_challenge"), answer = !strcmp(cmd, "elevation.relay_answer");

	if (!challenge && !answer)
		return -ENOENT;
	if (peer->uid != 0)
		return vg_err_set(err, EPERM, "permission_denied", cmd,
				  "%s is for pam_vigil.so running as root (caller uid %u)", cmd, (unsigned)peer->uid);
	return challenge ? cmd_relay_challenge(d, peer, req, reply, err) : cmd_relay_answer(d, peer, req, reply, err);
}

static void relay_status(struct vg_daemon *d, json_t *status)
{
	json_object_update_new(status,
			    json_pack("{s:I, s:I, s:I}", "challenges_issued", (json_int_t)rs.issued, "answers_accepted",
				      (json_int_t)rs.accepted, "answers_refused", (json_int_t)rs.refused));
}

const struct vg_module vg_module_elevation_relay = {
	.name = "elevation_relay",
	.ctl = relay_ctl,
	.status = relay_status,
};
