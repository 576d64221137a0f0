/* SPDX-License-Identifier: Apache-2.0 */
/* Pure elevation logic: policy questions, challenges, grants, break-glass (include/vigil/elevation.h). */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "vigil/elevation.h"
#include "vigil/relay.h"
#include "vigil/util.h"

static bool str_in(char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

bool vg_elev_user_allowed(const struct vg_bundle *b, const char *user)
{
	const struct vg_elevation *e = &b->elevation;

	if (!e->present || !user)
		return false;
	for (size_t i = 0; i < e->nallowed; i++) {
		const char *a = e->allowed[i];

		if (a[0] != '%') {
			if (strcmp(a, user) == 0)
				return true;
			continue;
		}
		for (size_t g = 0; g < b->identity.ngroups; g++) {
			const struct vg_group *grp = &b->identity.groups[g];

			if (strcmp(grp->name, a + 1) == 0 && str_in(grp->members, grp->nmembers, user))
				return true;
		}
	}
	return false;
}

bool vg_elev_service_protected(const struct vg_bundle *b, const char *service)
{
	return b->elevation.present && service && str_in(b->elevation.services, b->elevation.nservices, service);
}

static uint32_t max_duration(const struct vg_elevation *e)
{
	return e->max_duration_s ? e->max_duration_s : VG_ELEV_DEFAULT_DURATION_S;
}

uint32_t vg_elev_grant_duration(const struct vg_elevation *e)
{
	uint32_t d = e->default_duration_s ? e->default_duration_s : VG_ELEV_DEFAULT_DURATION_S;
	uint32_t m = max_duration(e);

	return d < m ? d : m;
}

uint32_t vg_elev_breakglass_duration(const struct vg_elevation *e, const struct vg_breakglass *bg)
{
	uint32_t m = max_duration(e);

	if (!bg->duration_s)
		return m;
	return bg->duration_s < m ? bg->duration_s : m;
}

int vg_elev_check_reason(const struct vg_elevation *e, const char *reason, struct vg_err *err)
{
	size_t len = reason ? strlen(reason) : 0;
	regex_t re;
	int r;

	if (len > VG_REASON_MAX)
		return vg_err_set(err, EINVAL, "reason_invalid", "reason", "the reason is longer than %u characters",
				  VG_REASON_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)reason[i] < 0x20 || reason[i] == 0x7f)
			return vg_err_set(err, EINVAL, "reason_invalid", "reason",
					  "the reason contains control characters");
	if (e->require_reason && len == 0)
		return vg_err_set(err, EINVAL, "reason_required", "reason",
				  "a reason is required for elevation on this host (e.g. a change or incident id)");
	if (!e->reason_pattern || len == 0)
		return 0;
	if (regcomp(&re, e->reason_pattern, REG_EXTENDED | REG_NOSUB) != 0)
		return vg_err_set(err, EINVAL, "reason_pattern_invalid", "$.elevation.reason_pattern",
				  "the bundle's reason_pattern is not a valid POSIX extended regex");
	r = regexec(&re, reason, 0, NULL, 0);
	regfree(&re);
	if (r != 0)
		return vg_err_set(err, EINVAL, "reason_refused", "reason",
				  "the reason \"%s\" does not match the required pattern %s", reason, e->reason_pattern);
	return 0;
}

/* --- challenges --- */

static int copy_str(char *dst, size_t cap, const char *src, const char *field, struct vg_err *err)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= cap)
		return vg_err_set(err, EINVAL, "field_too_long", field, "%s is longer than %zu bytes", field,
				  cap - 1);
	memcpy(dst, src ? src : "", n + 1);
	return 0;
}

int vg_challenge_new(struct vg_challenge *ch, const char *user, const char *host, const char *service,
		     const char *tty, const char *reason, time_t now, uint32_t ttl_s, struct vg_err *err)
{
	uint8_t idb[VG_RELAY_NONCE_LEN];
	struct vg_relay_context ctx = { .user = user, .host = host, .service = service, .reason = reason };
	int r;

	memset(ch, 0, sizeof(*ch));
	if (!user || !*user || !service || !*service)
		return vg_err_set(err, EINVAL, "challenge_invalid", "challenge", "user and service are required");
	if ((r = copy_str(ch->user, sizeof(ch->user), user, "user", err)) ||
	    (r = copy_str(ch->host, sizeof(ch->host), host, "host", err)) ||
	    (r = copy_str(ch->service, sizeof(ch->service), service, "service", err)) ||
	    (r = copy_str(ch->tty, sizeof(ch->tty), tty, "tty", err)) ||
	    (r = copy_str(ch->reason, sizeof(ch->reason), reason, "reason", err)))
		return r;
	if (RAND_bytes(idb, sizeof(idb)) != 1)
		return vg_err_set(err, EIO, "random_failed", "challenge", "the random generator failed");
	vg_hex(idb, sizeof(idb), ch->id);
	ch->expires = now + (time_t)ttl_s;
	/* the id is the nonce: what a workstation shows of a relay code is what the key signs */
	memcpy(ctx.nonce, idb, sizeof(ctx.nonce));
	ctx.expires = ch->expires;
	return vg_relay_context_hash(&ctx, ch->client_data_hash, err);
}

static void store_drop(struct vg_challenge_store *s, size_t i)
{
	OPENSSL_cleanse(&s->c[i], sizeof(s->c[i]));
	if (i + 1 < s->n)
		s->c[i] = s->c[s->n - 1];
	s->n--;
}

static size_t held_by(const struct vg_challenge_store *s, uint32_t uid, size_t *oldest)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (s->c[i].requester_uid != uid)
			continue;
		if (n++ == 0 || s->c[i].expires < s->c[*oldest].expires)
			*oldest = i;
	}
	return n;
}

int vg_challenge_store_add(struct vg_challenge_store *s, const struct vg_challenge *ch, time_t now,
			   struct vg_err *err)
{
	size_t oldest = 0, most = 0, victim = 0;

	for (size_t i = s->n; i-- > 0;)
		if (s->c[i].expires <= now)
			store_drop(s, i);
	if (held_by(s, ch->requester_uid, &oldest) >= VG_CHALLENGE_PER_REQUESTER)
		return vg_err_set(err, EBUSY, "too_many_challenges", "challenge",
				  "%u step-up challenges of uid %u are pending; answer or abandon them, or retry in %u seconds",
				  VG_CHALLENGE_PER_REQUESTER, (unsigned)ch->requester_uid, VG_CHALLENGE_TTL_S);
	if (s->n >= VG_CHALLENGE_MAX) {
		for (size_t i = 0; i < s->n; i++) {
			size_t n = held_by(s, s->c[i].requester_uid, &oldest);

			if (n > most) {
				most = n;
				victim = oldest;
			}
		}
		store_drop(s, victim);
	}
	s->c[s->n++] = *ch;
	return 0;
}

/* The one check of what a challenge is bound to (take and use) */
static int challenge_bound(const struct vg_challenge *c, const char *user, const char *service, const char *tty,
			   time_t now, struct vg_err *err)
{
	if (c->expires <= now)
		return vg_err_set(err, ETIMEDOUT, "challenge_expired", "challenge",
				  "the step-up challenge expired; authenticate again");
	if (strcmp(c->user, user ? user : "") || strcmp(c->service, service ? service : "") ||
	    strcmp(c->tty, tty ? tty : ""))
		return vg_err_set(err, EPERM, "challenge_mismatch", "challenge",
				  "the challenge was issued for another user, service or terminal");
	return 0;
}

static int challenge_unknown(struct vg_err *err)
{
	return vg_err_set(err, ENOENT, "challenge_unknown", "challenge",
			  "unknown or already used step-up challenge; authenticate again");
}

int vg_challenge_store_take(struct vg_challenge_store *s, const char *id, const char *user, const char *service,
			    const char *tty, time_t now, struct vg_challenge *out, struct vg_err *err)
{
	for (size_t i = 0; i < s->n; i++) {
		struct vg_challenge *c = &s->c[i];

		if (!id || strcmp(c->id, id) != 0)
			continue;
		*out = *c;
		/* single use: forgotten before any check, so a failed attempt cannot be replayed */
		store_drop(s, i);
		return challenge_bound(out, user, service, tty, now, err);
	}
	return challenge_unknown(err);
}

int vg_challenge_store_use(struct vg_challenge_store *s, const char *id, const char *user, const char *service,
			   const char *tty, uint32_t requester_uid, time_t now, struct vg_challenge *out,
			   struct vg_err *err)
{
	for (size_t i = 0; i < s->n; i++) {
		struct vg_challenge *c = &s->c[i];
		int r;

		if (!id || strcmp(c->id, id) != 0)
			continue;
		if ((r = challenge_bound(c, user, service, tty, now, err)) < 0)
			return r;
		if (c->requester_uid != requester_uid)
			return vg_err_set(err, EPERM, "challenge_mismatch", "challenge",
					  "the challenge was issued to another requester");
		if (c->key_ops >= VG_CHALLENGE_KEY_OPS)
			return vg_err_set(err, EBUSY, "key_ops_exhausted", "challenge",
					  "the security key was already asked %u times for this challenge; authenticate again",
					  VG_CHALLENGE_KEY_OPS);
		c->key_ops++;
		*out = *c;
		return 0;
	}
	return challenge_unknown(err);
}

/* --- grants --- */

const struct vg_grant *vg_grants_find_usable(const struct vg_grant_set *s, const char *user, const char *service,
					     const struct vg_requester *rq, enum vg_grant_reach reach, time_t now)
{
	if (rq->uid == VG_UID_NONE || (rq->uid == 0 && rq->session == VG_SESSION_NONE))
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		const struct vg_grant *g = &s->g[i];

		if (g->expires <= now || strcmp(g->user, user) != 0 || g->by_uid != rq->uid)
			continue;
		if (reach < VG_REACH_USER && strcmp(g->service, service) != 0)
			continue;
		if (reach < VG_REACH_SERVICE && (rq->session == VG_SESSION_NONE || g->session != rq->session))
			continue;
		return g;
	}
	return NULL;
}

static void grants_drop(struct vg_grant_set *s, size_t i)
{
	if (i + 1 < s->n)
		memmove(&s->g[i], &s->g[i + 1], (s->n - i - 1) * sizeof(s->g[0]));
	s->n--;
}

static bool same_binding(const struct vg_grant *a, const struct vg_grant *b)
{
	return !strcmp(a->user, b->user) && !strcmp(a->service, b->service) && a->by_uid == b->by_uid &&
	       a->session == b->session;
}

int vg_grants_put(struct vg_grant_set *s, struct vg_grant *g)
{
	for (size_t i = 0; i < s->n; i++)
		if (same_binding(&s->g[i], g)) {
			grants_drop(s, i);
			break;
		}
	if (s->n >= VG_GRANTS_MAX)
		return -ENOSPC;
	if (!g->id)
		g->id = vg_grants_reserve_id(s);
	s->g[s->n++] = *g;
	return 0;
}

uint64_t vg_grants_reserve_id(struct vg_grant_set *s)
{
	if (s->next_id == 0)
		s->next_id = 1;
	return s->next_id++;
}

int vg_grants_remove_user(struct vg_grant_set *s, const char *user, struct vg_grant *out)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->g[i].user, user) == 0) {
			if (out)
				*out = s->g[i];
			grants_drop(s, i);
			return 0;
		}
	return -ENOENT;
}

size_t vg_grants_expire(struct vg_grant_set *s, time_t now, struct vg_grant *expired, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n && k < max;) {
		if (s->g[i].expires > now) {
			i++;
			continue;
		}
		expired[k++] = s->g[i];
		grants_drop(s, i);
	}
	return k;
}

time_t vg_grants_next_expiry(const struct vg_grant_set *s)
{
	time_t t = 0;

	for (size_t i = 0; i < s->n; i++)
		if (t == 0 || s->g[i].expires < t)
			t = s->g[i].expires;
	return t;
}

json_t *vg_grant_to_json(const struct vg_grant *g)
{
	char st[32], ex[32];
	json_t *o;

	vg_time_format(g->started, st);
	vg_time_format(g->expires, ex);
	o = json_pack("{s:I, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", (json_int_t)g->id, "user",
		      g->user, "uid", (json_int_t)g->uid, "service", g->service, "reason", g->reason, "granted_by",
		      g->granted_by, "trace_id", g->trace_id, "started", st, "expires", ex, "tty", g->tty, "rhost",
		      g->rhost, "ruser", g->ruser);
	if (o && g->by_uid != VG_UID_NONE)
		json_object_set_new(o, "requester_uid", json_integer(g->by_uid));
	if (o && g->session != VG_SESSION_NONE)
		json_object_set_new(o, "session", json_integer(g->session));
	return o;
}

static int get_str(json_t *o, const char *key, char *dst, size_t cap, bool required, struct vg_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!v) {
		if (required)
			return vg_err_set(err, EINVAL, "field_missing", key, "missing string field \"%s\"", key);
		dst[0] = '\0';
		return 0;
	}
	if (!json_is_string(v))
		return vg_err_set(err, EINVAL, "field_type", key, "field \"%s\" must be a string", key);
	return copy_str(dst, cap, json_string_value(v), key, err);
}

static int get_uint(json_t *o, const char *key, uint64_t max, uint64_t *out, struct vg_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
		return vg_err_set(err, EINVAL, "field_type", key, "field \"%s\" must be an integer in 0..%llu", key,
				  (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* Optional integer field below the "none" value none; absent gives none. */
static int get_opt_u32(json_t *o, const char *key, uint32_t none, uint32_t *out, struct vg_err *err)
{
	uint64_t v;
	int r;

	*out = none;
	if (!json_object_get(o, key))
		return 0;
	if ((r = get_uint(o, key, none - 1, &v, err)) < 0)
		return r;
	*out = (uint32_t)v;
	return 0;
}

static int get_time(json_t *o, const char *key, time_t *out, struct vg_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v) || vg_time_parse(json_string_value(v), out) < 0)
		return vg_err_set(err, EINVAL, "field_type", key, "field \"%s\" must be an RFC 3339 UTC time", key);
	return 0;
}

int vg_grant_from_json(json_t *o, struct vg_grant *g, struct vg_err *err)
{
	uint64_t id, uid;
	int r;

	memset(g, 0, sizeof(*g));
	if (!json_is_object(o))
		return vg_err_set(err, EINVAL, "grant_invalid", "grant", "a grant must be a JSON object");
	if ((r = get_uint(o, "id", INT64_MAX, &id, err)) || (r = get_uint(o, "uid", UINT32_MAX, &uid, err)) ||
	    (r = get_str(o, "user", g->user, sizeof(g->user), true, err)) ||
	    (r = get_str(o, "service", g->service, sizeof(g->service), true, err)) ||
	    (r = get_str(o, "reason", g->reason, sizeof(g->reason), false, err)) ||
	    (r = get_str(o, "granted_by", g->granted_by, sizeof(g->granted_by), true, err)) ||
	    (r = get_str(o, "trace_id", g->trace_id, sizeof(g->trace_id), false, err)) ||
	    (r = get_str(o, "tty", g->tty, sizeof(g->tty), false, err)) ||
	    (r = get_str(o, "rhost", g->rhost, sizeof(g->rhost), false, err)) ||
	    (r = get_str(o, "ruser", g->ruser, sizeof(g->ruser), false, err)) ||
	    (r = get_time(o, "started", &g->started, err)) || (r = get_time(o, "expires", &g->expires, err)))
		return r;
	if (!vg_str_valid_name(g->user, sizeof(g->user) - 1))
		return vg_err_set(err, EINVAL, "grant_invalid", "user", "invalid user name \"%s\"", g->user);
	g->id = id;
	g->uid = (uint32_t)uid;
	/* a grant without its requester (written before grants were bound) is never reused */
	return get_opt_u32(o, "requester_uid", VG_UID_NONE, &g->by_uid, err) ?:
	       get_opt_u32(o, "session", VG_SESSION_NONE, &g->session, err);
}

char *vg_grants_serialize(const struct vg_grant_set *s)
{
	json_t *arr = json_array(), *o;
	char *out;

	if (!arr)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (json_array_append_new(arr, vg_grant_to_json(&s->g[i])) < 0) {
			json_decref(arr);
			return NULL;
		}
	o = json_pack("{s:I, s:o}", "next_id", (json_int_t)s->next_id, "grants", arr);
	if (!o)
		return NULL;
	out = json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(o);
	return out;
}

int vg_grants_parse(const char *buf, size_t len, struct vg_grant_set *s, struct vg_err *err)
{
	json_error_t je;
	json_t *root, *arr;
	uint64_t next;
	int r = 0;

	memset(s, 0, sizeof(*s));
	if (len > VG_GRANTS_FILE_MAX)
		return vg_err_set(err, EFBIG, "grants_too_big", "grants", "the grants file exceeds %u bytes",
				  VG_GRANTS_FILE_MAX);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return vg_err_set(err, EINVAL, "grants_invalid", "grants", "line %d: %s", je.line, je.text);
	arr = json_object_get(root, "grants");
	if (!json_is_object(root) || !json_is_array(arr) || json_array_size(arr) > VG_GRANTS_MAX) {
		r = vg_err_set(err, EINVAL, "grants_invalid", "grants",
			       "expected {\"next_id\": N, \"grants\": [...]} with at most %u grants", VG_GRANTS_MAX);
		goto out;
	}
	if ((r = get_uint(root, "next_id", INT64_MAX, &next, err)))
		goto out;
	for (size_t i = 0; i < json_array_size(arr); i++) {
		if ((r = vg_grant_from_json(json_array_get(arr, i), &s->g[s->n], err)))
			goto out;
		if (s->g[s->n].id >= next)
			next = s->g[s->n].id + 1;
		s->n++;
	}
	s->next_id = next;
out:
	json_decref(root);
	if (r)
		s->n = 0;
	return r;
}

/* --- approvals --- */

static void approval_drop(struct vg_approval_store *s, size_t i)
{
	if (i + 1 < s->n)
		memmove(&s->a[i], &s->a[i + 1], (s->n - i - 1) * sizeof(s->a[0]));
	s->n--;
}

void vg_approval_put(struct vg_approval_store *s, const struct vg_grant *g, uint32_t duration_s, time_t now,
		     uint32_t ttl_s)
{
	for (size_t i = s->n; i-- > 0;)
		if (s->a[i].until <= now)
			approval_drop(s, i);
	if (s->n >= VG_APPROVALS_MAX)
		approval_drop(s, 0);
	s->a[s->n] = (struct vg_approval){ .g = *g, .duration_s = duration_s, .until = now + (time_t)ttl_s };
	s->n++;
}

int vg_approval_take(struct vg_approval_store *s, const char *user, const char *service,
		     const struct vg_requester *rq, time_t now, struct vg_approval *out)
{
	for (size_t i = s->n; i-- > 0;) {
		const struct vg_grant *g = &s->a[i].g;

		if (s->a[i].until <= now || strcmp(g->user, user) || strcmp(g->service, service) ||
		    g->by_uid != rq->uid || g->session != rq->session || strcmp(g->tty, rq->tty))
			continue;
		*out = s->a[i];
		approval_drop(s, i);
		return 0;
	}
	return -ENOENT;
}

/* --- held grants --- */

static void hold_drop(struct vg_hold_store *s, size_t i, struct vg_hold *out)
{
	if (out)
		*out = s->h[i];
	OPENSSL_cleanse(&s->h[i], sizeof(s->h[i]));
	if (i + 1 < s->n)
		memmove(&s->h[i], &s->h[i + 1], (s->n - i - 1) * sizeof(s->h[0]));
	s->n--;
}

static struct vg_hold *hold_find(struct vg_hold_store *s, const char *token, size_t *at)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->h[i].token, token) == 0) {
			*at = i;
			return &s->h[i];
		}
	return NULL;
}

int vg_hold_add(struct vg_hold_store *s, const struct vg_grant *g, uint32_t duration_s, char token[33],
		struct vg_err *err)
{
	uint8_t tb[16];
	struct vg_hold *h;

	if (s->n >= VG_HOLDS_MAX)
		return vg_err_set(err, ENOSPC, "too_many_commits", "elevation.commit",
				  "%u grants are being committed already; try again", VG_HOLDS_MAX);
	if (RAND_bytes(tb, sizeof(tb)) != 1)
		return vg_err_set(err, EIO, "random_failed", "elevation.commit", "the random generator failed");
	h = &s->h[s->n++];
	*h = (struct vg_hold){ .g = *g, .duration_s = duration_s };
	vg_hex(tb, sizeof(tb), h->token);
	memcpy(token, h->token, sizeof(h->token));
	return 0;
}

const struct vg_hold *vg_hold_mark_durable(struct vg_hold_store *s, const char *token, uint64_t now_ms,
					   uint32_t ttl_ms)
{
	size_t i;
	struct vg_hold *h = hold_find(s, token, &i);

	if (h) {
		h->durable = true;
		h->until_ms = now_ms + ttl_ms;
	}
	return h;
}

int vg_hold_take(struct vg_hold_store *s, const char *token, const char *user, const char *service,
		 const struct vg_requester *rq, uint64_t now_ms, struct vg_hold *out, struct vg_err *err)
{
	size_t i;
	struct vg_hold *h = hold_find(s, token, &i);

	if (!h)
		return vg_err_set(err, ENOENT, "commit_unknown", "elevation.confirm",
				  "no grant of this commit is waiting (unknown, already confirmed, revoked or expired)");
	if (strcmp(h->g.user, user) || strcmp(h->g.service, service) || h->g.by_uid != rq->uid ||
	    h->g.session != rq->session || strcmp(h->g.tty, rq->tty))
		return vg_err_set(err, EPERM, "commit_mismatch", "elevation.confirm",
				  "this commit was made for another user, service or session");
	if (!h->durable)
		return vg_err_set(err, EAGAIN, "commit_recording", "elevation.confirm",
				  "the grant's record is not durable yet");
	hold_drop(s, i, out);
	if (out->until_ms <= now_ms)
		return vg_err_set(err, ETIMEDOUT, "commit_expired", "elevation.confirm",
				  "the grant was not confirmed within %u ms of its commit", VG_HOLD_CONFIRM_MS);
	return 0;
}

int vg_hold_remove(struct vg_hold_store *s, const char *token, struct vg_hold *out)
{
	size_t i;

	if (!hold_find(s, token, &i))
		return -ENOENT;
	hold_drop(s, i, out);
	return 0;
}

int vg_hold_remove_user(struct vg_hold_store *s, const char *user, struct vg_hold *out)
{
	for (size_t i = 0; i < s->n; i++)
		if (!user || strcmp(s->h[i].g.user, user) == 0) {
			hold_drop(s, i, out);
			return 0;
		}
	return -ENOENT;
}

int vg_hold_expire_one(struct vg_hold_store *s, uint64_t now_ms, struct vg_hold *out)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->h[i].durable && s->h[i].until_ms <= now_ms) {
			hold_drop(s, i, out);
			return 0;
		}
	return -ENOENT;
}

uint64_t vg_hold_next_expiry(const struct vg_hold_store *s)
{
	uint64_t next = 0;

	for (size_t i = 0; i < s->n; i++)
		if (s->h[i].durable && (next == 0 || s->h[i].until_ms < next))
			next = s->h[i].until_ms;
	return next;
}

/* --- failure events --- */

bool vg_fail_limit(struct vg_fail_limiter *l, const char *user, uint32_t uid, time_t now, uint64_t *suppressed)
{
	struct vg_fail_key *k = NULL;
	size_t oldest = 0;

	*suppressed = 0;
	for (size_t i = 0; i < l->n && !k; i++) {
		if (l->k[i].uid == uid && strncmp(l->k[i].user, user, sizeof(l->k[i].user) - 1) == 0)
			k = &l->k[i];
		else if (l->k[i].refilled < l->k[oldest].refilled)
			oldest = i;
	}
	if (!k) {
		/* a full table forgets the key idle the longest; what it withheld stays in the total */
		k = l->n < VG_FAIL_KEYS ? &l->k[l->n++] : &l->k[oldest];
		*k = (struct vg_fail_key){ .uid = uid, .tokens = VG_FAIL_BURST, .refilled = now };
		snprintf(k->user, sizeof(k->user), "%s", user);
	}
	if (now > k->refilled) {
		uint64_t add = (uint64_t)(now - k->refilled) / VG_FAIL_REFILL_S;

		k->tokens = add >= VG_FAIL_BURST - k->tokens ? VG_FAIL_BURST : k->tokens + (uint32_t)add;
		k->refilled += (time_t)(add * VG_FAIL_REFILL_S);
		if (k->tokens == VG_FAIL_BURST)
			k->refilled = now;
	}
	if (k->tokens == 0) {
		k->suppressed++;
		l->suppressed_total++;
		return false;
	}
	k->tokens--;
	*suppressed = k->suppressed;
	k->suppressed = 0;
	return true;
}

int vg_counters_parse(const char *buf, size_t len, json_t **out, uint64_t *through_seq, struct vg_err *err)
{
	json_error_t je;
	json_t *root, *c, *v, *t;
	const char *k;

	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return vg_err_set(err, EINVAL, "counters_invalid", "counters", "line %d: %s", je.line, je.text);
	c = json_object_get(root, "counters");
	t = json_object_get(root, "through_seq");
	if (!json_is_object(c) || (t && (!json_is_integer(t) || json_integer_value(t) < 0)))
		goto bad;
	json_object_foreach(c, k, v)
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
			goto bad;
	*out = json_incref(c);
	*through_seq = t ? (uint64_t)json_integer_value(t) : VG_COUNTERS_NO_SEQ;
	json_decref(root);
	return 0;
bad:
	json_decref(root);
	return vg_err_set(err, EINVAL, "counters_invalid", "counters",
			  "expected {\"counters\": {\"<credential id>\": 0..4294967295}, \"through_seq\": 0..}");
}

/* --- break-glass --- */

#define BG_SALT_LEN 16
#define BG_HASH_MAX 64

int vg_breakglass_hash(const char *secret, uint32_t iterations, char **out, struct vg_err *err)
{
	uint8_t salt[BG_SALT_LEN], dk[32];
	_cleanup_free_ char *s64 = NULL, *h64 = NULL;

	if (iterations < VG_PBKDF2_MIN_ITER || iterations > VG_PBKDF2_MAX_ITER)
		return vg_err_set(err, EINVAL, "iterations_invalid", "iterations", "iterations must be %u..%u",
				  VG_PBKDF2_MIN_ITER, VG_PBKDF2_MAX_ITER);
	if (!secret || strlen(secret) < 8)
		return vg_err_set(err, EINVAL, "secret_too_short", "secret",
				  "a break-glass secret must have at least 8 characters");
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return vg_err_set(err, EIO, "random_failed", "salt", "the random generator failed");
	if (PKCS5_PBKDF2_HMAC(secret, (int)strlen(secret), salt, sizeof(salt), (int)iterations, EVP_sha256(),
			      sizeof(dk), dk) != 1)
		return vg_err_set(err, EIO, "pbkdf2_failed", "hash", "PBKDF2 failed");
	s64 = vg_b64_encode(salt, sizeof(salt), false);
	h64 = vg_b64_encode(dk, sizeof(dk), false);
	if (!s64 || !h64 || asprintf(out, "$pbkdf2-sha256$%u$%s$%s", iterations, s64, h64) < 0)
		return vg_err_set(err, ENOMEM, "out_of_memory", "hash", "out of memory");
	/* "$pbkdf2-sha256$I$S$H" carries no padding: passlib and the bundle examples omit it */
	for (char *p = *out; (p = strchr(p, '=')); )
		memmove(p, p + 1, strlen(p));
	return 0;
}

int vg_breakglass_verify(const char *hash, const char *secret, struct vg_err *err)
{
	static const char prefix[] = "$pbkdf2-sha256$";
	char buf[512], *iter_s, *salt_s, *hash_s, *end;
	_cleanup_free_ uint8_t *salt = NULL, *want = NULL;
	size_t salt_len = 0, want_len = 0;
	uint8_t dk[BG_HASH_MAX];
	unsigned long iter;
	int r;

	if (!hash || strlen(hash) >= sizeof(buf) || strncmp(hash, prefix, sizeof(prefix) - 1) != 0)
		goto bad;
	snprintf(buf, sizeof(buf), "%s", hash + sizeof(prefix) - 1);
	iter_s = buf;
	salt_s = strchr(iter_s, '$');
	if (!salt_s)
		goto bad;
	*salt_s++ = '\0';
	hash_s = strchr(salt_s, '$');
	if (!hash_s)
		goto bad;
	*hash_s++ = '\0';
	errno = 0;
	iter = strtoul(iter_s, &end, 10);
	if (errno || *end || end == iter_s || iter < VG_PBKDF2_MIN_ITER || iter > VG_PBKDF2_MAX_ITER)
		goto bad;
	/* passlib's "ab64" uses '.' for '+' */
	for (char *p = salt_s; *p; p++)
		if (*p == '.')
			*p = '+';
	for (char *p = hash_s; *p; p++)
		if (*p == '.')
			*p = '+';
	if (vg_b64_decode(salt_s, &salt, &salt_len) < 0 || vg_b64_decode(hash_s, &want, &want_len) < 0 ||
	    salt_len < 8 || want_len < 16 || want_len > BG_HASH_MAX)
		goto bad;
	if (PKCS5_PBKDF2_HMAC(secret ? secret : "", secret ? (int)strlen(secret) : 0, salt, (int)salt_len,
			      (int)iter, EVP_sha256(), (int)want_len, dk) != 1)
		return vg_err_set(err, EIO, "pbkdf2_failed", "hash", "PBKDF2 failed");
	r = CRYPTO_memcmp(dk, want, want_len) == 0 ? 0 : -EACCES;
	OPENSSL_cleanse(dk, sizeof(dk));
	if (r)
		return vg_err_set(err, EACCES, "breakglass_mismatch", "secret", "the break-glass secret is wrong");
	return 0;
bad:
	return vg_err_set(err, EINVAL, "breakglass_hash_invalid", "hash",
			  "expected \"$pbkdf2-sha256$ITER$SALT$HASH\" (base64, %u..%u iterations, salt >= 8 bytes)",
			  VG_PBKDF2_MIN_ITER, VG_PBKDF2_MAX_ITER);
}

char *vg_breakglass_export(const struct vg_elevation *e, const char *policy_digest)
{
	json_t *arr = json_array(), *o;
	char *out;

	if (!arr)
		return NULL;
	for (size_t i = 0; e->present && i < e->nbreakglass; i++) {
		const struct vg_breakglass *bg = &e->breakglass[i];
		char na[32];

		vg_time_format(bg->not_after, na);
		if (json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:i}", "id", bg->id, "user", bg->user,
							  "hash", bg->hash, "not_after", na, "duration",
							  (int)vg_elev_breakglass_duration(e, bg))) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	o = json_pack("{s:i, s:s, s:o}", "version", 1, "policy_digest", policy_digest ? policy_digest : "", "entries",
		      arr);
	if (!o)
		return NULL;
	out = json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(o);
	return out;
}

int vg_breakglass_file_parse(const char *buf, size_t len, struct vg_bg_file *out, struct vg_err *err)
{
	json_error_t je;
	json_t *root, *arr, *v;
	size_t i;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (len > VG_BREAKGLASS_FILE_MAX)
		return vg_err_set(err, EFBIG, "breakglass_file_invalid", "breakglass", "file exceeds %u bytes",
				  VG_BREAKGLASS_FILE_MAX);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return vg_err_set(err, EINVAL, "breakglass_file_invalid", "breakglass", "line %d: %s", je.line,
				  je.text);
	arr = json_object_get(root, "entries");
	if (!json_is_array(arr) || json_array_size(arr) > VG_ARRAY_SIZE(out->e)) {
		r = vg_err_set(err, EINVAL, "breakglass_file_invalid", "entries",
			       "expected an array \"entries\" of at most %zu entries", VG_ARRAY_SIZE(out->e));
		goto out;
	}
	if ((r = get_str(root, "policy_digest", out->policy_digest, sizeof(out->policy_digest), false, err)))
		goto out;
	json_array_foreach(arr, i, v) {
		struct vg_bg_entry *e = &out->e[i];
		uint64_t d;

		if ((r = get_str(v, "id", e->id, sizeof(e->id), true, err)) ||
		    (r = get_str(v, "user", e->user, sizeof(e->user), true, err)) ||
		    (r = get_str(v, "hash", e->hash, sizeof(e->hash), true, err)) ||
		    (r = get_time(v, "not_after", &e->not_after, err)) ||
		    (r = get_uint(v, "duration", 7 * 86400, &d, err)))
			goto out;
		e->duration_s = (uint32_t)d;
		out->n++;
	}
out:
	json_decref(root);
	return r;
}

char *vg_bg_use_format(const struct vg_bg_use *u)
{
	char at[32];
	json_t *o;
	char *s, *line = NULL;

	vg_time_format(u->at, at);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "id", u->id, "user", u->user, "service",
		      u->service, "tty", u->tty, "rhost", u->rhost, "ruser", u->ruser, "at", at, "duration",
		      (int)u->duration_s, "policy_digest", u->policy_digest);
	if (!o)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (s && asprintf(&line, "%s\n", s) < 0)
		line = NULL;
	free(s);
	return line;
}

int vg_bg_use_parse(const char *line, size_t len, struct vg_bg_use *u, struct vg_err *err)
{
	json_error_t je;
	json_t *o;
	uint64_t d;
	int r;

	memset(u, 0, sizeof(*u));
	if (len > VG_SPOOL_RECORD_MAX)
		return vg_err_set(err, EINVAL, "spool_record_invalid", "spool", "record longer than %u bytes",
				  VG_SPOOL_RECORD_MAX);
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return vg_err_set(err, EINVAL, "spool_record_invalid", "spool", "%s", je.text);
	if (!json_is_object(o)) {
		json_decref(o);
		return vg_err_set(err, EINVAL, "spool_record_invalid", "spool", "a record must be a JSON object");
	}
	r = get_str(o, "id", u->id, sizeof(u->id), true, err);
	if (!r)
		r = get_str(o, "user", u->user, sizeof(u->user), true, err);
	if (!r)
		r = get_str(o, "service", u->service, sizeof(u->service), true, err);
	if (!r)
		r = get_str(o, "tty", u->tty, sizeof(u->tty), false, err);
	if (!r)
		r = get_str(o, "rhost", u->rhost, sizeof(u->rhost), false, err);
	if (!r)
		r = get_str(o, "ruser", u->ruser, sizeof(u->ruser), false, err);
	if (!r)
		r = get_str(o, "policy_digest", u->policy_digest, sizeof(u->policy_digest), false, err);
	if (!r)
		r = get_time(o, "at", &u->at, err);
	if (!r)
		r = get_uint(o, "duration", 7 * 86400, &d, err);
	if (!r)
		u->duration_s = (uint32_t)d;
	json_decref(o);
	return r;
}
