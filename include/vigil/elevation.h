/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure logic of just-in-time elevation (docs/pam.md): who the policy concerns,
 * step-up challenges bound to their context, grants and their state file,
 * break-glass hashes and the files vigild exports for pam_vigil.so.
 * No sockets, no timers, no audit here: vigild (agent/elevation.c) and the
 * PAM module (pam/) sit at the edges.
 */
#ifndef VIGIL_ELEVATION_H
#define VIGIL_ELEVATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

#include "vigil/bundle.h"
#include "vigil/err.h"
#include "vigil/grant.h"

#define VG_ELEV_DEFAULT_DURATION_S 3600u
#define VG_CHALLENGE_TTL_S 120u
#define VG_CHALLENGE_MAX 256u
#define VG_CHALLENGE_PER_REQUESTER 8u
#define VG_CHALLENGE_KEY_OPS 3u /* elevation.key_assert on one challenge (a PIN retry included) */
#define VG_APPROVALS_MAX 64u
#define VG_HOLDS_MAX 64u
#define VG_HOLD_CONFIRM_MS 5000u
#define VG_FAIL_BURST 32u
#define VG_FAIL_REFILL_S 4u
#define VG_FAIL_KEYS 256u
#define VG_GRANTS_MAX 1024u
#define VG_GRANTS_FILE_MAX (4u << 20)
#define VG_BREAKGLASS_FILE_MAX (1u << 20)
#define VG_SPOOL_RECORD_MAX 4096u
#define VG_PBKDF2_MIN_ITER 1000u
#define VG_PBKDF2_MAX_ITER 10000000u
#define VG_REASON_MAX 255u

/* --- policy questions --- */

/* The user is named in elevation.allowed, directly or through "%group" (bundle groups). */
bool vg_elev_user_allowed(const struct vg_bundle *b, const char *user);
/* The PAM service is one the bundle protects (elevation.services). */
bool vg_elev_service_protected(const struct vg_bundle *b, const char *service);
/* Grant length: default_duration capped by max_duration, both defaulting to 60 min. */
uint32_t vg_elev_grant_duration(const struct vg_elevation *e);
/* Break-glass grant length: the entry's duration capped by max_duration. */
uint32_t vg_elev_breakglass_duration(const struct vg_elevation *e, const struct vg_breakglass *bg);
/* 0 when the reason is acceptable (printable, bounded, matches reason_pattern), -EINVAL otherwise. */
int vg_elev_check_reason(const struct vg_elevation *e, const char *reason, struct vg_err *err);

/* Who asks: the PAM process as vigild sees it (real uid and audit session read from /proc of the
 * connected peer, never taken from the request) and the PAM items it reports. */
struct vg_requester {
	uint32_t uid;	  /* real uid: the invoking user for sudo/su, 0 for sshd/login; VG_UID_NONE unknown */
	uint32_t session; /* audit session id (/proc/PID/sessionid); VG_SESSION_NONE unset */
	char tty[64];
	char rhost[128];
	char ruser[64];
};

/* --- challenges: single use, bound to (user, host, service, tty, reason), expiring --- */

struct vg_challenge {
	char id[33]; /* hex of 16 random bytes */
	char user[64];
	char host[256];
	char service[32];
	char tty[64];
	char reason[VG_REASON_MAX + 1];
	time_t expires;
	uint8_t client_data_hash[32]; /* vg_relay_context_hash of (id, expires, user, host, service, reason) */
	uint32_t requester_uid;	      /* who asked (struct vg_requester.uid): the per-requester bound */
	uint32_t key_ops;	      /* times vigild asked the local key to sign it (elevation.key_assert) */
};

struct vg_challenge_store {
	size_t n;
	struct vg_challenge c[VG_CHALLENGE_MAX];
};

/* Fill a fresh challenge (random id, expiry now+ttl, client data hash: the relay context hash,
 * so a relay code shows exactly what the key signs, docs/remote-stepup.md). */
int vg_challenge_new(struct vg_challenge *ch, const char *user, const char *host, const char *service,
		     const char *tty, const char *reason, time_t now, uint32_t ttl_s, struct vg_err *err);
/* Store a challenge; expired ones are dropped first. One requester holds at most
 * VG_CHALLENGE_PER_REQUESTER live challenges (-EBUSY beyond); when the store is full the oldest
 * challenge of the requester holding the most makes room, so parked prompts of one requester
 * never block another's. */
int vg_challenge_store_add(struct vg_challenge_store *s, const struct vg_challenge *ch, time_t now,
			   struct vg_err *err);
/* Take (and forget, whatever the outcome) the challenge id; it must be live and bound to the same
 * user, service and tty. -ENOENT unknown/used, -ETIMEDOUT expired, -EPERM bound elsewhere. */
int vg_challenge_store_take(struct vg_challenge_store *s, const char *id, const char *user, const char *service,
			    const char *tty, time_t now, struct vg_challenge *out, struct vg_err *err);

/* The live challenge id, without taking it, for vigild to have the local key sign it: bound to the
 * same user, service and tty as for take, and to the requester uid that asked for it. Same
 * errors as take; -EBUSY when it was already signed VG_CHALLENGE_KEY_OPS times. Counts the use. */
int vg_challenge_store_use(struct vg_challenge_store *s, const char *id, const char *user, const char *service,
			   const char *tty, uint32_t requester_uid, time_t now, struct vg_challenge *out,
			   struct vg_err *err);

/* --- grants --- */

struct vg_grant_set {
	size_t n;
	struct vg_grant g[VG_GRANTS_MAX];
	uint64_t next_id;
};

/* A live grant the request may use without a touch, or NULL. It must name user and come from the
 * same requester (real uid); reach adds the same service (session, service) and the same audit
 * session (session). A requester vigild cannot tell apart — uid 0 without an audit session, as
 * sshd and login before pam_loginuid — never reuses a grant. */
const struct vg_grant *vg_grants_find_usable(const struct vg_grant_set *s, const char *user, const char *service,
					     const struct vg_requester *rq, enum vg_grant_reach reach, time_t now);
/* Add a grant, replacing one with the same user, service, requester and session; fills id
 * unless the grant has one (vg_grants_reserve_id). -ENOSPC when full. */
int vg_grants_put(struct vg_grant_set *s, struct vg_grant *g);
/* The id of a grant that is recorded before it is added (its audit record must be durable first). */
uint64_t vg_grants_reserve_id(struct vg_grant_set *s);
/* Remove one grant of user into *out; -ENOENT when none is left. */
int vg_grants_remove_user(struct vg_grant_set *s, const char *user, struct vg_grant *out);
/* Remove up to max grants with expires <= now, copying them to expired[]; returns how many.
 * Call again until it returns 0: every expired grant comes out exactly once. */
size_t vg_grants_expire(struct vg_grant_set *s, time_t now, struct vg_grant *expired, size_t max);
/* Earliest expiry among grants, 0 when none. */
time_t vg_grants_next_expiry(const struct vg_grant_set *s);

json_t *vg_grant_to_json(const struct vg_grant *g);
/* Bounded, strict: every field typed, strings fit. */
int vg_grant_from_json(json_t *o, struct vg_grant *g, struct vg_err *err);
/* State file: {"next_id": N, "grants": [...]} */
char *vg_grants_serialize(const struct vg_grant_set *s);
int vg_grants_parse(const char *buf, size_t len, struct vg_grant_set *s, struct vg_err *err);

/* --- approvals: a verified step-up waits here until the whole PAM stack has succeeded --- */

struct vg_approval {
	struct vg_grant g; /* the grant to mint: user, service, requester, session, tty, expiry length */
	uint32_t duration_s;
	time_t until; /* the approval itself lapses at until */
};
struct vg_approval_store {
	size_t n;
	struct vg_approval a[VG_APPROVALS_MAX];
};
/* Park an approval (expired ones dropped; when full the oldest goes). */
void vg_approval_put(struct vg_approval_store *s, const struct vg_grant *g, uint32_t duration_s, time_t now,
		     uint32_t ttl_s);
/* Take the newest live approval for exactly this user, service and requester (uid, session,
 * tty); -ENOENT when there is none. */
int vg_approval_take(struct vg_approval_store *s, const char *user, const char *service,
		     const struct vg_requester *rq, time_t now, struct vg_approval *out);

/* --- held grants: between elevation.commit and the module's elevation.confirm (docs/pam.md "Commit") ---
 * A grant whose record is on its way to the disk (recording), then durable and told to the module
 * (held until until_ms), becomes a grant only when the module confirms it received the answer: a
 * module that gave up waiting never confirms, so no grant exists that its user was told is missing.
 * Every hold leaves the store exactly once (confirmed, expired, removed), so each is audited once. */

struct vg_hold {
	struct vg_grant g;
	uint32_t duration_s;
	char token[33];	  /* hex of 16 random bytes: only the commit's answer carries it */
	bool durable;	  /* the grant's record is durable and the module has been answered */
	uint64_t until_ms; /* monotonic ms: not confirmed by then, never a grant (durable holds only) */
};
struct vg_hold_store {
	size_t n;
	struct vg_hold h[VG_HOLDS_MAX];
};
/* Add a recording hold for g with a fresh token (copied to token). -ENOSPC when full. */
int vg_hold_add(struct vg_hold_store *s, const struct vg_grant *g, uint32_t duration_s, char token[33],
		struct vg_err *err);
/* The record of token's grant is durable and the module is being told: it may confirm until
 * now + ttl. NULL when the hold is gone (removed while recording). */
const struct vg_hold *vg_hold_mark_durable(struct vg_hold_store *s, const char *token, uint64_t now_ms,
					   uint32_t ttl_ms);
/* Take (and forget, whatever the outcome) the hold of token for this requester (uid, session,
 * tty), user and service. -ENOENT unknown, -EPERM bound elsewhere (kept), -ETIMEDOUT expired
 * (taken into *out so it can be audited), -EAGAIN still recording (kept). */
int vg_hold_take(struct vg_hold_store *s, const char *token, const char *user, const char *service,
		 const struct vg_requester *rq, uint64_t now_ms, struct vg_hold *out, struct vg_err *err);
/* Remove the hold of token (recording or durable) into *out (may be NULL); -ENOENT when gone. */
int vg_hold_remove(struct vg_hold_store *s, const char *token, struct vg_hold *out);
/* Remove one hold (recording or durable), of user or of anyone when user is NULL, into *out;
 * -ENOENT when none is left. */
int vg_hold_remove_user(struct vg_hold_store *s, const char *user, struct vg_hold *out);
/* Remove one hold that was not confirmed in time into *out; -ENOENT when none. */
int vg_hold_expire_one(struct vg_hold_store *s, uint64_t now_ms, struct vg_hold *out);
/* Earliest until_ms among durable holds, 0 when none. */
uint64_t vg_hold_next_expiry(const struct vg_hold_store *s);

/* --- failure events: per (user, requester uid) token bucket so floods cannot fill the audit spool --- */

struct vg_fail_key {
	char user[64];
	uint32_t uid;
	uint32_t tokens;
	time_t refilled;
	uint64_t suppressed; /* events withheld since the last one that went out */
};
struct vg_fail_limiter {
	size_t n;
	struct vg_fail_key k[VG_FAIL_KEYS];
	uint64_t suppressed_total;
};
/* true: emit the event now, with *suppressed events withheld before it (counted into it);
 * false: withhold it (counted). VG_FAIL_BURST at once, then one per VG_FAIL_REFILL_S. */
bool vg_fail_limit(struct vg_fail_limiter *l, const char *user, uint32_t uid, time_t now, uint64_t *suppressed);

/* --- sign counters per credential (clone detection) ---
 * State file {"counters": {"<id>": N}, "through_seq": S}: every step_up_satisfied audit record
 * with a seq below S is counted in it (vigild writes it after answering and rebuilds what is
 * newer from the log, docs/pam.md "Sign counters"). *through_seq = VG_COUNTERS_NO_SEQ when the
 * file has none (written by a vigild that made it durable before answering). */
#define VG_COUNTERS_NO_SEQ UINT64_MAX
int vg_counters_parse(const char *buf, size_t len, json_t **out, uint64_t *through_seq, struct vg_err *err);

/* --- break-glass --- */

/* "$pbkdf2-sha256$ITER$SALT_B64$HASH_B64" of secret with a random 16-byte salt. */
int vg_breakglass_hash(const char *secret, uint32_t iterations, char **out, struct vg_err *err);
/* 0 match, -EACCES mismatch, -EINVAL malformed hash (bounded: iterations, lengths). Constant-time compare. */
int vg_breakglass_verify(const char *hash, const char *secret, struct vg_err *err);

/* The root-only file vigild writes on commit (state_dir/breakglass.json) for the PAM module. */
char *vg_breakglass_export(const struct vg_elevation *e, const char *policy_digest);
struct vg_bg_entry {
	char id[64];
	char user[64];
	char hash[512];
	time_t not_after;
	uint32_t duration_s;
};
struct vg_bg_file {
	size_t n;
	struct vg_bg_entry e[32];
	char policy_digest[65];
};
int vg_breakglass_file_parse(const char *buf, size_t len, struct vg_bg_file *out, struct vg_err *err);

/* One spool line the PAM module appends when break-glass is used; vigild ingests at start. */
struct vg_bg_use {
	char id[64];
	char user[64];
	char service[32];
	char tty[64];
	char rhost[128];
	char ruser[64];
	time_t at;
	uint32_t duration_s;
	char policy_digest[65];
};
char *vg_bg_use_format(const struct vg_bg_use *u); /* one line, '\n'-terminated */
int vg_bg_use_parse(const char *line, size_t len, struct vg_bg_use *u, struct vg_err *err);

#endif
