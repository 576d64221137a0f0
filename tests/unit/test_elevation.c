/* SPDX-License-Identifier: Apache-2.0 */
/* Pure elevation logic: policy questions, challenge binding/expiry/single use, grant caps and
 * state file, break-glass hashes and the files exchanged with pam_vigil.so. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vigil/elevation.h"
#include "vigil/relay.h"
#include "vigil/util.h"

static char *allowed[] = { "alice", "%sre" };
static char *services[] = { "sudo", "su" };
static char *sre_members[] = { "bob", "carol" };

static void make_bundle(struct vg_bundle *b, struct vg_group *g)
{
	memset(b, 0, sizeof(*b));
	memset(g, 0, sizeof(*g));
	g->name = "sre";
	g->gid = 60100;
	g->nmembers = 2;
	g->members = sre_members;
	b->identity.ngroups = 1;
	b->identity.groups = g;
	b->elevation.present = true;
	b->elevation.nallowed = 2;
	b->elevation.allowed = allowed;
	b->elevation.nservices = 2;
	b->elevation.services = services;
}

static void test_user_allowed(void **state)
{
	struct vg_bundle b;
	struct vg_group g;

	make_bundle(&b, &g);
	assert_true(vg_elev_user_allowed(&b, "alice"));
	assert_true(vg_elev_user_allowed(&b, "bob")); /* through %sre */
	assert_false(vg_elev_user_allowed(&b, "mallory"));
	assert_false(vg_elev_user_allowed(&b, "sre")); /* a group name is not a user */
	assert_true(vg_elev_service_protected(&b, "sudo"));
	assert_false(vg_elev_service_protected(&b, "cron"));
	b.elevation.present = false;
	assert_false(vg_elev_user_allowed(&b, "alice"));
	assert_false(vg_elev_service_protected(&b, "sudo"));
}

static void test_grant_duration_caps(void **state)
{
	struct vg_elevation e = { 0 };
	struct vg_breakglass bg = { 0 };

	assert_int_equal(vg_elev_grant_duration(&e), 3600); /* both absent: 60 min */
	e.default_duration_s = 600;
	assert_int_equal(vg_elev_grant_duration(&e), 600);
	e.max_duration_s = 300;
	assert_int_equal(vg_elev_grant_duration(&e), 300); /* capped by max */
	e.default_duration_s = 0;
	assert_int_equal(vg_elev_grant_duration(&e), 300);
	e.max_duration_s = 0;
	e.default_duration_s = 7200;
	assert_int_equal(vg_elev_grant_duration(&e), 3600); /* default max is 60 min */
	bg.duration_s = 900;
	e.max_duration_s = 600;
	assert_int_equal(vg_elev_breakglass_duration(&e, &bg), 600);
	bg.duration_s = 120;
	assert_int_equal(vg_elev_breakglass_duration(&e, &bg), 120);
}

static void test_reason(void **state)
{
	struct vg_elevation e = { 0 };
	struct vg_err err;
	char long_reason[400];

	assert_int_equal(vg_elev_check_reason(&e, "", &err), 0);
	e.require_reason = true;
	assert_int_equal(vg_elev_check_reason(&e, "", &err), -EINVAL);
	assert_string_equal(err.code, "reason_required");
	e.reason_pattern = "^(CHG|INC)-[0-9]+";
	assert_int_equal(vg_elev_check_reason(&e, "CHG-42 fix disk", &err), 0);
	assert_int_equal(vg_elev_check_reason(&e, "because", &err), -EINVAL);
	assert_string_equal(err.code, "reason_refused");
	assert_int_equal(vg_elev_check_reason(&e, "CHG-1\x1b[2J", &err), -EINVAL);
	assert_string_equal(err.code, "reason_invalid");
	memset(long_reason, 'a', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	assert_int_equal(vg_elev_check_reason(&e, long_reason, &err), -EINVAL);
	assert_string_equal(err.code, "reason_invalid");
}

static void test_challenge_binding(void **state)
{
	struct vg_challenge_store *s = calloc(1, sizeof(*s));
	struct vg_challenge a, b, got;
	struct vg_err err;

	assert_int_equal(vg_challenge_new(&a, "alice", "h1", "sudo", "pts/1", "CHG-1", 1000, 120, &err), 0);
	assert_int_equal(vg_challenge_new(&b, "alice", "h1", "sudo", "pts/1", "CHG-1", 1000, 120, &err), 0);
	assert_string_not_equal(a.id, b.id);
	assert_memory_not_equal(a.client_data_hash, b.client_data_hash, 32);
	/* the hash is the relay context hash of what a workstation shows: id (nonce), expiry,
	 * user, host, service, reason; changing any of them changes it */
	{
		struct vg_relay_context x = { .expires = a.expires, .user = "alice", .host = "h1", .service = "sudo",
					      .reason = "CHG-1" };
		uint8_t h[32];

		for (size_t i = 0; i < sizeof(x.nonce); i++)
			assert_int_equal(sscanf(a.id + 2 * i, "%2hhx", &x.nonce[i]), 1);
		assert_int_equal(vg_relay_context_hash(&x, h, &err), 0);
		assert_memory_equal(h, a.client_data_hash, 32);
		x.host = "h2";
		assert_int_equal(vg_relay_context_hash(&x, h, &err), 0);
		assert_memory_not_equal(h, a.client_data_hash, 32);
	}

	assert_int_equal(vg_challenge_store_add(s, &a, 1000, &err), 0);
	/* another user, service or tty cannot use it, and the attempt burns it */
	assert_int_equal(vg_challenge_store_take(s, a.id, "mallory", "sudo", "pts/1", 1001, &got, &err), -EPERM);
	assert_string_equal(err.code, "challenge_mismatch");
	assert_int_equal(vg_challenge_store_take(s, a.id, "alice", "sudo", "pts/1", 1001, &got, &err), -ENOENT);

	assert_int_equal(vg_challenge_store_add(s, &b, 1000, &err), 0);
	assert_int_equal(vg_challenge_store_take(s, b.id, "alice", "su", "pts/1", 1001, &got, &err), -EPERM);
	assert_int_equal(vg_challenge_new(&b, "alice", "h1", "sudo", "pts/1", "", 1000, 120, &err), 0);
	assert_int_equal(vg_challenge_store_add(s, &b, 1000, &err), 0);
	assert_int_equal(vg_challenge_store_take(s, b.id, "alice", "sudo", "pts/2", 1001, &got, &err), -EPERM);
	/* too long a field is refused, not truncated */
	{
		char big[100];

		memset(big, 'u', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(vg_challenge_new(&b, big, "h1", "sudo", "", "", 1000, 120, &err), -EINVAL);
	}
	free(s);
}

/* What vigild has the local key sign: a live challenge, the requester's own, a bounded number of
 * times; the use does not consume it (elevation.assert still takes it once). */
static void test_challenge_key_use(void **state)
{
	struct vg_challenge_store *s = calloc(1, sizeof(*s));
	struct vg_challenge a, got;
	struct vg_err err;

	assert_int_equal(vg_challenge_new(&a, "alice", "h1", "sudo", "pts/1", "", 1000, 120, &err), 0);
	a.requester_uid = 1000;
	assert_int_equal(vg_challenge_store_add(s, &a, 1000, &err), 0);
	/* another requester, user, service or tty: refused, and the refusals do not count */
	assert_int_equal(vg_challenge_store_use(s, a.id, "alice", "sudo", "pts/1", 1001, 1001, &got, &err), -EPERM);
	assert_string_equal(err.code, "challenge_mismatch");
	assert_int_equal(vg_challenge_store_use(s, a.id, "mallory", "sudo", "pts/1", 1000, 1001, &got, &err), -EPERM);
	assert_int_equal(vg_challenge_store_use(s, a.id, "alice", "su", "pts/1", 1000, 1001, &got, &err), -EPERM);
	assert_int_equal(vg_challenge_store_use(s, a.id, "alice", "sudo", "pts/2", 1000, 1001, &got, &err), -EPERM);
	assert_int_equal(vg_challenge_store_use(s, "nope", "alice", "sudo", "pts/1", 1000, 1001, &got, &err), -ENOENT);
	for (unsigned i = 0; i < VG_CHALLENGE_KEY_OPS; i++) {
		assert_int_equal(vg_challenge_store_use(s, a.id, "alice", "sudo", "pts/1", 1000, 1001, &got, &err), 0);
		assert_memory_equal(got.client_data_hash, a.client_data_hash, 32);
	}
	assert_int_equal(vg_challenge_store_use(s, a.id, "alice", "sudo", "pts/1", 1000, 1001, &got, &err), -EBUSY);
	assert_string_equal(err.code, "key_ops_exhausted");
	/* still there for the assertion, once */
	assert_int_equal(vg_challenge_store_take(s, a.id, "alice", "sudo", "pts/1", 1001, &got, &err), 0);
	assert_int_equal(vg_challenge_store_use(s, a.id, "alice", "sudo", "pts/1", 1000, 1001, &got, &err), -ENOENT);
	/* expired */
	assert_int_equal(vg_challenge_store_add(s, &a, 1000, &err), 0);
	assert_int_equal(vg_challenge_store_use(s, a.id, "alice", "sudo", "pts/1", 1000, 1120, &got, &err), -ETIMEDOUT);
	free(s);
}

static void test_challenge_single_use_and_expiry(void **state)
{
	struct vg_challenge_store *s = calloc(1, sizeof(*s));
	struct vg_challenge a, b, got;
	struct vg_err err;

	assert_int_equal(vg_challenge_new(&a, "alice", "h1", "sudo", "", "", 1000, 120, &err), 0);
	assert_int_equal(vg_challenge_store_add(s, &a, 1000, &err), 0);
	assert_int_equal(vg_challenge_store_take(s, a.id, "alice", "sudo", "", 1119, &got, &err), 0);
	assert_memory_equal(got.client_data_hash, a.client_data_hash, 32);
	assert_int_equal(vg_challenge_store_take(s, a.id, "alice", "sudo", "", 1119, &got, &err), -ENOENT);
	assert_string_equal(err.code, "challenge_unknown");

	assert_int_equal(vg_challenge_new(&a, "alice", "h1", "sudo", "", "", 1000, 120, &err), 0);
	assert_int_equal(vg_challenge_store_add(s, &a, 1000, &err), 0);
	assert_int_equal(vg_challenge_store_take(s, a.id, "alice", "sudo", "", 1120, &got, &err), -ETIMEDOUT);
	assert_string_equal(err.code, "challenge_expired");
	assert_int_equal(s->n, 0);

	/* one requester holds at most VG_CHALLENGE_PER_REQUESTER live challenges; once they expire
	 * there is room again */
	for (unsigned i = 0; i < VG_CHALLENGE_PER_REQUESTER; i++) {
		assert_int_equal(vg_challenge_new(&a, "alice", "h1", "su", "", "", 2000, 120, &err), 0);
		a.requester_uid = 1001;
		assert_int_equal(vg_challenge_store_add(s, &a, 2000, &err), 0);
	}
	assert_int_equal(vg_challenge_store_add(s, &a, 2000, &err), -EBUSY);
	assert_string_equal(err.code, "too_many_challenges");
	/* ... and blocks nobody else: alice's own sudo still gets a challenge */
	assert_int_equal(vg_challenge_new(&b, "alice", "h1", "sudo", "", "", 2000, 120, &err), 0);
	b.requester_uid = 60001;
	assert_int_equal(vg_challenge_store_add(s, &b, 2000, &err), 0);
	assert_int_equal(vg_challenge_store_add(s, &a, 2120, &err), 0);
	assert_int_equal(s->n, 1);
	free(s);
}

/* A full store makes room by dropping the oldest challenge of whoever holds the most. */
static void test_challenge_fair_eviction(void **state)
{
	struct vg_challenge_store *s = calloc(1, sizeof(*s));
	struct vg_challenge a, got;
	struct vg_err err;
	char first[33] = "";

	for (unsigned i = 0; i < VG_CHALLENGE_MAX; i++) {
		assert_int_equal(vg_challenge_new(&a, "alice", "h1", "su", "", "", 3000 + (i % 4 == 0), 120, &err), 0);
		/* uid 5000 + i / 8: 32 requesters of 8, the first of requester 5000 expiring soonest */
		a.requester_uid = 5000 + i / VG_CHALLENGE_PER_REQUESTER;
		if (i == 1)
			memcpy(first, a.id, sizeof(first));
		assert_int_equal(vg_challenge_store_add(s, &a, 3000, &err), 0);
	}
	assert_int_equal(s->n, VG_CHALLENGE_MAX);
	assert_int_equal(vg_challenge_new(&a, "alice", "h1", "sudo", "", "", 3000, 120, &err), 0);
	a.requester_uid = 60001;
	assert_int_equal(vg_challenge_store_add(s, &a, 3000, &err), 0);
	assert_int_equal(s->n, VG_CHALLENGE_MAX);
	assert_int_equal(vg_challenge_store_take(s, a.id, "alice", "sudo", "", 3001, &got, &err), 0);
	assert_int_equal(vg_challenge_store_take(s, first, "alice", "su", "", 3001, &got, &err), -ENOENT);
	free(s);
}

/* alice's sudo from her login session 7 on pts/1 */
static const struct vg_requester rq_alice = { .uid = 60001, .session = 7, .tty = "pts/1" };

static void fill_grant(struct vg_grant *g, const char *user, time_t started, time_t expires)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->user, sizeof(g->user), "%s", user);
	g->uid = 60001;
	g->by_uid = rq_alice.uid;
	g->session = rq_alice.session;
	snprintf(g->tty, sizeof(g->tty), "%s", rq_alice.tty);
	snprintf(g->service, sizeof(g->service), "sudo");
	snprintf(g->reason, sizeof(g->reason), "CHG-1 \"quoted\"");
	snprintf(g->granted_by, sizeof(g->granted_by), "step-up:abc");
	g->started = started;
	g->expires = expires;
}

static void test_grants(void **state)
{
	struct vg_grant_set *s = calloc(1, sizeof(*s)), *s2 = calloc(1, sizeof(*s2));
	struct vg_grant g, ex[4];
	struct vg_err err;
	char *txt;

	fill_grant(&g, "alice", 1000, 4600);
	assert_int_equal(vg_grants_put(s, &g), 0);
	assert_int_equal(g.id, 1);
	fill_grant(&g, "bob", 1000, 1300);
	assert_int_equal(vg_grants_put(s, &g), 0);
	assert_non_null(vg_grants_find_usable(s, "alice", "sudo", &rq_alice, VG_REACH_SESSION, 4599));
	assert_null(vg_grants_find_usable(s, "alice", "sudo", &rq_alice, VG_REACH_SESSION, 4600));
	assert_null(vg_grants_find_usable(s, "carol", "sudo", &rq_alice, VG_REACH_SESSION, 1000));
	assert_int_equal(vg_grants_next_expiry(s), 1300);
	/* a new grant replaces the one with the same binding */
	fill_grant(&g, "alice", 2000, 5600);
	assert_int_equal(vg_grants_put(s, &g), 0);
	assert_int_equal(s->n, 2);
	assert_int_equal(vg_grants_find_usable(s, "alice", "sudo", &rq_alice, VG_REACH_SESSION, 5000)->id, 3);

	txt = vg_grants_serialize(s);
	assert_non_null(txt);
	assert_int_equal(vg_grants_parse(txt, strlen(txt), s2, &err), 0);
	free(txt);
	assert_int_equal(s2->n, 2);
	assert_int_equal(s2->next_id, 4);
	assert_memory_equal(&s2->g[0], &s->g[0], sizeof(s->g[0]));
	assert_memory_equal(&s2->g[1], &s->g[1], sizeof(s->g[1]));

	assert_int_equal(vg_grants_expire(s, 1300, ex, 4), 1);
	assert_string_equal(ex[0].user, "bob");
	assert_int_equal(s->n, 1);
	assert_int_equal(vg_grants_remove_user(s, "alice", &g), 0);
	assert_int_equal(vg_grants_remove_user(s, "alice", &g), -ENOENT);
	assert_int_equal(vg_grants_next_expiry(s), 0);

	/* strict parser */
	assert_int_equal(vg_grants_parse("{\"next_id\":1,\"grants\":[{\"id\":1}]}", 33, s2, &err), -EINVAL);
	assert_int_equal(s2->n, 0);
	{
		const char *bad = "{\"next_id\":1,\"grants\":[{\"id\":1,\"uid\":5,\"user\":\"../x\",\"service\":\"sudo\","
				  "\"granted_by\":\"x\",\"started\":\"2026-01-01T00:00:00Z\",\"expires\":\"2026-01-01T01:00:00Z\"}]}";

		assert_int_equal(vg_grants_parse(bad, strlen(bad), s2, &err), -EINVAL);
		assert_string_equal(err.code, "grant_invalid");
	}
	assert_int_equal(vg_grants_parse("[", 1, s2, &err), -EINVAL);
	free(s);
	free(s2);
}

/* The lateral attempts of the issue: the grant alice earned through sudo in her session does
 * not serve su/sshd/login to alice from anyone else, nor other services or sessions by default. */
static void test_grant_reach(void **state)
{
	struct vg_grant_set *s = calloc(1, sizeof(*s));
	struct vg_requester bob = { .uid = 1001, .session = 9 }, sshd = { .uid = 0, .session = VG_SESSION_NONE };
	struct vg_requester other_session = rq_alice, root_login = { .uid = 0, .session = 7 };
	struct vg_grant g;

	other_session.session = 8;
	fill_grant(&g, "alice", 1000, 4600);
	assert_int_equal(vg_grants_put(s, &g), 0);
	for (int reach = VG_REACH_SESSION; reach <= VG_REACH_USER; reach++) {
		assert_null(vg_grants_find_usable(s, "alice", "su", &bob, reach, 2000));
		assert_null(vg_grants_find_usable(s, "alice", "sudo", &bob, reach, 2000));
		assert_null(vg_grants_find_usable(s, "alice", "sshd", &sshd, reach, 2000));
		assert_null(vg_grants_find_usable(s, "alice", "login", &root_login, reach, 2000));
		assert_non_null(vg_grants_find_usable(s, "alice", "sudo", &rq_alice, reach, 2000));
	}
	/* session: same service and session only */
	assert_null(vg_grants_find_usable(s, "alice", "su", &rq_alice, VG_REACH_SESSION, 2000));
	assert_null(vg_grants_find_usable(s, "alice", "sudo", &other_session, VG_REACH_SESSION, 2000));
	/* service: any session of the same requester, same service */
	assert_non_null(vg_grants_find_usable(s, "alice", "sudo", &other_session, VG_REACH_SERVICE, 2000));
	assert_null(vg_grants_find_usable(s, "alice", "su", &rq_alice, VG_REACH_SERVICE, 2000));
	/* user: any service too */
	assert_non_null(vg_grants_find_usable(s, "alice", "su", &other_session, VG_REACH_USER, 2000));
	/* an unset session never matches "session", even another unset one */
	s->g[0].session = VG_SESSION_NONE;
	other_session.session = VG_SESSION_NONE;
	assert_null(vg_grants_find_usable(s, "alice", "sudo", &other_session, VG_REACH_SESSION, 2000));
	/* a grant from before binding (no requester) serves nobody */
	s->g[0].by_uid = VG_UID_NONE;
	other_session.uid = VG_UID_NONE;
	assert_null(vg_grants_find_usable(s, "alice", "sudo", &other_session, VG_REACH_USER, 2000));
	free(s);
}

/* Every expired grant comes out, in batches of max, none twice. */
static void test_grants_expire_all(void **state)
{
	struct vg_grant_set *s = calloc(1, sizeof(*s));
	struct vg_grant g, ex[64];
	size_t n, total = 0, batches = 0;

	for (int i = 0; i < 100; i++) {
		fill_grant(&g, "alice", 1000, 1100 + i);
		snprintf(g.service, sizeof(g.service), "s%d", i);
		assert_int_equal(vg_grants_put(s, &g), 0);
	}
	fill_grant(&g, "bob", 1000, 9000);
	assert_int_equal(vg_grants_put(s, &g), 0);
	while ((n = vg_grants_expire(s, 5000, ex, VG_ARRAY_SIZE(ex))) > 0) {
		total += n;
		batches++;
	}
	assert_int_equal(total, 100);
	assert_int_equal(batches, 2);
	assert_int_equal(s->n, 1);
	free(s);
}

/* An approval becomes a grant only for exactly the requester that earned it. */
static void test_approvals(void **state)
{
	struct vg_approval_store *s = calloc(1, sizeof(*s));
	struct vg_requester bob = { .uid = 1001, .session = 7, .tty = "pts/1" }, other_tty = rq_alice;
	struct vg_approval ap;
	struct vg_grant g;

	snprintf(other_tty.tty, sizeof(other_tty.tty), "pts/2");
	fill_grant(&g, "alice", 1000, 4600);
	vg_approval_put(s, &g, 3600, 1000, 120);
	assert_int_equal(vg_approval_take(s, "alice", "sudo", &bob, 1001, &ap), -ENOENT);
	assert_int_equal(vg_approval_take(s, "alice", "sudo", &other_tty, 1001, &ap), -ENOENT);
	assert_int_equal(vg_approval_take(s, "alice", "su", &rq_alice, 1001, &ap), -ENOENT);
	assert_int_equal(vg_approval_take(s, "alice", "sudo", &rq_alice, 1120, &ap), -ENOENT);
	assert_int_equal(vg_approval_take(s, "alice", "sudo", &rq_alice, 1001, &ap), 0);
	assert_int_equal(ap.duration_s, 3600);
	assert_int_equal(vg_approval_take(s, "alice", "sudo", &rq_alice, 1001, &ap), -ENOENT);
	for (unsigned i = 0; i < VG_APPROVALS_MAX + 5; i++)
		vg_approval_put(s, &g, 3600, 2000, 120);
	assert_int_equal(s->n, VG_APPROVALS_MAX);
	free(s);
}

/* A held grant is confirmed only by its token, from its requester, once durable and in time;
 * every hold leaves the store exactly once (taken, expired or removed). */
static void test_holds(void **state)
{
	struct vg_hold_store *s = calloc(1, sizeof(*s));
	struct vg_requester bob = { .uid = 1001, .session = 7, .tty = "pts/1" };
	char t1[33], t2[33], t3[33];
	struct vg_hold h;
	struct vg_grant g;
	struct vg_err err;

	fill_grant(&g, "alice", 1000, 4600);
	assert_int_equal(vg_hold_add(s, &g, 3600, t1, &err), 0);
	assert_int_equal(vg_hold_add(s, &g, 3600, t2, &err), 0);
	assert_string_not_equal(t1, t2);
	assert_int_equal(strlen(t1), 32);
	/* recording: no confirm yet, no expiry */
	assert_int_equal(vg_hold_take(s, t1, "alice", "sudo", &rq_alice, 1, &h, &err), -EAGAIN);
	assert_int_equal(vg_hold_next_expiry(s), 0);
	assert_int_equal(vg_hold_expire_one(s, UINT64_MAX, &h), -ENOENT);
	assert_non_null(vg_hold_mark_durable(s, t1, 1000, VG_HOLD_CONFIRM_MS));
	assert_non_null(vg_hold_mark_durable(s, t2, 2000, VG_HOLD_CONFIRM_MS));
	assert_null(vg_hold_mark_durable(s, "0123", 2000, VG_HOLD_CONFIRM_MS));
	assert_int_equal(vg_hold_next_expiry(s), 1000 + VG_HOLD_CONFIRM_MS);
	/* another requester, user or service cannot confirm, and the hold stays */
	assert_int_equal(vg_hold_take(s, t1, "alice", "sudo", &bob, 1001, &h, &err), -EPERM);
	assert_int_equal(vg_hold_take(s, t1, "alice", "su", &rq_alice, 1001, &h, &err), -EPERM);
	assert_int_equal(vg_hold_take(s, t1, "bob", "sudo", &rq_alice, 1001, &h, &err), -EPERM);
	assert_int_equal(vg_hold_take(s, "", "alice", "sudo", &rq_alice, 1001, &h, &err), -ENOENT);
	assert_int_equal(vg_hold_take(s, t1, "alice", "sudo", &rq_alice, 1001, &h, &err), 0);
	assert_int_equal(h.duration_s, 3600);
	assert_string_equal(h.g.user, "alice");
	/* single use */
	assert_int_equal(vg_hold_take(s, t1, "alice", "sudo", &rq_alice, 1002, &h, &err), -ENOENT);
	/* too late: taken out (to be audited), not confirmed */
	assert_int_equal(vg_hold_take(s, t2, "alice", "sudo", &rq_alice, 2000 + VG_HOLD_CONFIRM_MS, &h, &err),
			 -ETIMEDOUT);
	assert_int_equal(s->n, 0);
	/* expiry and removal */
	assert_int_equal(vg_hold_add(s, &g, 3600, t1, &err), 0);
	assert_int_equal(vg_hold_add(s, &g, 3600, t2, &err), 0);
	fill_grant(&g, "bob", 1000, 4600);
	assert_int_equal(vg_hold_add(s, &g, 3600, t3, &err), 0);
	vg_hold_mark_durable(s, t1, 1000, 10);
	assert_int_equal(vg_hold_expire_one(s, 1009, &h), -ENOENT);
	assert_int_equal(vg_hold_expire_one(s, 1010, &h), 0);
	assert_int_equal(vg_hold_expire_one(s, 1010, &h), -ENOENT);
	assert_int_equal(vg_hold_remove_user(s, "alice", &h), 0);
	assert_string_equal(h.token, t2);
	assert_int_equal(vg_hold_remove_user(s, "alice", &h), -ENOENT);
	assert_int_equal(vg_hold_remove(s, t3, NULL), 0);
	assert_int_equal(vg_hold_remove(s, t3, NULL), -ENOENT);
	/* bounded */
	for (unsigned i = 0; i < VG_HOLDS_MAX; i++)
		assert_int_equal(vg_hold_add(s, &g, 3600, t1, &err), 0);
	assert_int_equal(vg_hold_add(s, &g, 3600, t1, &err), -ENOSPC);
	while (vg_hold_remove_user(s, NULL, &h) == 0)
		;
	assert_int_equal(s->n, 0);
	free(s);
}

/* A flood of failures by one requester costs VG_FAIL_BURST events, the next one counts the rest;
 * another requester's events are unaffected. */
static void test_fail_limit(void **state)
{
	struct vg_fail_limiter *l = calloc(1, sizeof(*l));
	uint64_t sup = 0;
	unsigned sent = 0;

	for (int i = 0; i < 1000; i++)
		sent += vg_fail_limit(l, "alice", 1001, 5000, &sup);
	assert_int_equal(sent, VG_FAIL_BURST);
	assert_int_equal(l->suppressed_total, 1000 - VG_FAIL_BURST);
	assert_true(vg_fail_limit(l, "alice", 60001, 5000, &sup));
	assert_int_equal(sup, 0);
	assert_false(vg_fail_limit(l, "alice", 1001, 5000 + VG_FAIL_REFILL_S - 1, &sup));
	assert_true(vg_fail_limit(l, "alice", 1001, 5000 + VG_FAIL_REFILL_S, &sup));
	assert_int_equal(sup, 1000 - VG_FAIL_BURST + 1);
	/* the key table is bounded: many requesters evict the idlest, never grow it */
	for (uint32_t u = 0; u < 2 * VG_FAIL_KEYS; u++)
		vg_fail_limit(l, "bob", u, 6000 + u, &sup);
	assert_int_equal(l->n, VG_FAIL_KEYS);
	free(l);
}

static void test_counters(void **state)
{
	json_t *c = NULL;
	struct vg_err err;
	const char *good = "{\"counters\":{\"abc\":7}}", *with = "{\"counters\":{\"abc\":7},\"through_seq\":42}";
	const char *bad[] = { "{\"counters\":{\"a\":-1}}", "{\"counters\":{\"a\":\"1\"}}",
			      "{\"counters\":{},\"through_seq\":-1}", "{\"counters\":{},\"through_seq\":\"4\"}" };
	uint64_t through = 0;

	assert_int_equal(vg_counters_parse(good, strlen(good), &c, &through, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(c, "abc")), 7);
	assert_true(through == VG_COUNTERS_NO_SEQ);
	json_decref(c);
	assert_int_equal(vg_counters_parse(with, strlen(with), &c, &through, &err), 0);
	assert_true(through == 42);
	json_decref(c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vg_counters_parse(bad[i], strlen(bad[i]), &c, &through, &err), -EINVAL);
}

static void test_breakglass_hash(void **state)
{
	struct vg_err err;
	char *h = NULL, *h2 = NULL;

	assert_int_equal(vg_breakglass_hash("correct horse", 1000, &h, &err), 0);
	assert_non_null(strstr(h, "$pbkdf2-sha256$1000$"));
	assert_null(strchr(h, '='));
	assert_int_equal(vg_breakglass_verify(h, "correct horse", &err), 0);
	assert_int_equal(vg_breakglass_verify(h, "correct horsf", &err), -EACCES);
	assert_string_equal(err.code, "breakglass_mismatch");
	assert_int_equal(vg_breakglass_verify(h, "", &err), -EACCES);
	/* the same secret twice gets different salts */
	assert_int_equal(vg_breakglass_hash("correct horse", 1000, &h2, &err), 0);
	assert_string_not_equal(h, h2);
	free(h);
	free(h2);
	assert_int_equal(vg_breakglass_hash("short", 1000, &h, &err), -EINVAL);
	assert_int_equal(vg_breakglass_hash("long enough", 10, &h, &err), -EINVAL);

	/* an independent vector: python3 hashlib.pbkdf2_hmac('sha256', b'password', b'saltsaltsalt', 1000) */
	assert_int_equal(vg_breakglass_verify("$pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0$"
					      "sYIePhT5IXESDKvnouJXtE5pTJ6Znbmef4vViYmc9Uc",
					      "password", &err), 0);
	/* malformed: every part bounded */
	assert_int_equal(vg_breakglass_verify("$pbkdf2-sha1$1000$c2FsdHNhbHRz$AAAA", "x", &err), -EINVAL);
	assert_string_equal(err.code, "breakglass_hash_invalid");
	assert_int_equal(vg_breakglass_verify("$pbkdf2-sha256$99999999999$c2FsdHNhbHRz$AAAAAAAAAAAAAAAAAAAAAA", "x",
					      &err), -EINVAL);
	assert_int_equal(vg_breakglass_verify("$pbkdf2-sha256$1000$c2FsdA$AAAAAAAAAAAAAAAAAAAAAA", "x", &err),
			 -EINVAL); /* salt too short */
	assert_int_equal(vg_breakglass_verify("$pbkdf2-sha256$1000$c2FsdHNhbHRz", "x", &err), -EINVAL);
	assert_int_equal(vg_breakglass_verify("$pbkdf2-sha256$1000$c2Fs!HNhbHRz$AAAAAAAAAAAAAAAAAAAAAA", "x", &err),
			 -EINVAL);
}

static void test_breakglass_files(void **state)
{
	struct vg_breakglass bg[1] = { { .id = "bg-1", .user = "root", .hash = "$pbkdf2-sha256$1000$x$y",
					 .not_after = 1900000000, .duration_s = 7200 } };
	struct vg_elevation e = { .present = true, .max_duration_s = 900, .nbreakglass = 1, .breakglass = bg };
	struct vg_bg_file *f = calloc(1, sizeof(*f));
	struct vg_bg_use u = { 0 }, u2;
	struct vg_err err;
	char *txt, *line;

	txt = vg_breakglass_export(&e, "abcd");
	assert_non_null(txt);
	assert_int_equal(vg_breakglass_file_parse(txt, strlen(txt), f, &err), 0);
	free(txt);
	assert_int_equal(f->n, 1);
	assert_string_equal(f->e[0].id, "bg-1");
	assert_string_equal(f->e[0].user, "root");
	assert_int_equal(f->e[0].not_after, 1900000000);
	assert_int_equal(f->e[0].duration_s, 900); /* exported already capped */
	assert_string_equal(f->policy_digest, "abcd");
	assert_int_equal(vg_breakglass_file_parse("{\"entries\":[{\"id\":1}]}", 22, f, &err), -EINVAL);

	snprintf(u.id, sizeof(u.id), "bg-1");
	snprintf(u.user, sizeof(u.user), "root");
	snprintf(u.service, sizeof(u.service), "su");
	snprintf(u.tty, sizeof(u.tty), "pts/0\n{\"injected\":1}");
	u.at = 1800000000;
	u.duration_s = 900;
	line = vg_bg_use_format(&u);
	assert_non_null(line);
	/* one record is one line whatever the fields hold */
	assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
	assert_int_equal(vg_bg_use_parse(line, strlen(line), &u2, &err), 0);
	assert_memory_equal(&u, &u2, sizeof(u));
	free(line);
	assert_int_equal(vg_bg_use_parse("{\"id\":\"x\"}", 10, &u2, &err), -EINVAL);
	assert_int_equal(vg_bg_use_parse("nope", 4, &u2, &err), -EINVAL);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_allowed),
		cmocka_unit_test(test_grant_duration_caps),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_challenge_binding),
		cmocka_unit_test(test_challenge_key_use),
		cmocka_unit_test(test_challenge_single_use_and_expiry),
		cmocka_unit_test(test_challenge_fair_eviction),
		cmocka_unit_test(test_grants),
		cmocka_unit_test(test_grant_reach),
		cmocka_unit_test(test_grants_expire_all),
		cmocka_unit_test(test_approvals),
		cmocka_unit_test(test_holds),
		cmocka_unit_test(test_fail_limit),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_breakglass_hash),
		cmocka_unit_test(test_breakglass_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
