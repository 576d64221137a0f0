/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Emergency documents (docs/emergency.md): small JSON documents, threshold-signed by the keys of
 * the bundle's trust file under their own signature domain, with their own monotonic counter,
 * issued_at/expires_at and scope. Their actions outrank the running bundle while in force:
 * quarantine a tenant, revoke elevation grants, freeze elevation, release an earlier quarantine
 * or freeze.
 *
 * Two halves meet in this header:
 *  - the parsed document (lib/emergency.c: pure, bounded, fuzzed by fuzz/fuzz_emergency.c);
 *  - the set of quarantined tenants vigild (agent/emergency.c) hands to the enforcement side,
 *    which implements vg_enforce_quarantine (agent/enforce.c, docs/enforcement.md).
 */
#ifndef VIGIL_EMERGENCY_H
#define VIGIL_EMERGENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "vigil/bundle.h"
#include "vigil/err.h"
#include "vigil/trust.h"

/* Signed message = this domain line ‖ exact document bytes: a bundle signature never verifies an
 * emergency document, nor the other way round. */
#define VG_SIG_DOMAIN_EMERGENCY "vigil-emergency-v1\n"

#define VG_EMERGENCY_MAX_BYTES (64u << 10) /* document; its .sig is bounded by VG_SIG_MAX_BYTES */
#define VG_EMERGENCY_MAX_ACTIONS 32u
#define VG_EMERGENCY_MAX_ALLOW 64u	   /* destinations a quarantined tenant may still reach */
#define VG_EMERGENCY_MAX_HOSTS 256u	   /* scope.hosts entries */
#define VG_EMERGENCY_MAX_LABELS 32u	   /* scope.labels entries */
#define VG_QUARANTINE_MAX 256u		   /* tenants quarantined at once on one host */
#define VG_EMERGENCY_ID_MAX 64u		   /* quarantine ids and user names */
#define VG_EMERGENCY_REASON_MAX 1024u

enum vg_em_kind {
	VG_EM_QUARANTINE = 1, /* cut a tenant off: deny all its egress but allow[], cut its flows */
	VG_EM_REVOKE = 2,     /* remove live elevation grants (once, when applied) */
	VG_EM_FREEZE = 3,     /* no new elevation grants while in force; break-glass still works */
	VG_EM_RELEASE = 4,    /* end an earlier quarantine or freeze */
};

enum vg_em_revoke_scope {
	VG_EM_REVOKE_ALL = 1,  /* every grant on the host */
	VG_EM_REVOKE_USER = 2, /* the grants of one user */
	VG_EM_REVOKE_HOST = 3, /* every grant, on hosts whose name matches a glob */
};

enum vg_em_release_what {
	VG_EM_RELEASE_QUARANTINE = 1, /* by quarantine id */
	VG_EM_RELEASE_TENANT = 2,     /* whatever quarantine holds the tenant */
	VG_EM_RELEASE_FREEZE = 3,
};

struct vg_em_quarantine {
	char id[VG_EMERGENCY_ID_MAX + 1]; /* names it for release and events; default: the tenant name */
	char tenant[33];		  /* tenant name as the bundle spells it */
	size_t nallow;
	struct vg_rule *allow; /* still reachable; rule ids are 1..nallow (position in the list) */
};

struct vg_em_action {
	enum vg_em_kind kind;
	struct vg_em_quarantine quarantine; /* VG_EM_QUARANTINE */
	enum vg_em_revoke_scope revoke;	    /* VG_EM_REVOKE */
	enum vg_em_release_what release;    /* VG_EM_RELEASE */
	/* revoke user: user name; revoke host: host glob; release: quarantine id or tenant name */
	char target[254];
};

struct vg_emergency {
	int64_t counter; /* ≥ 1, strictly increasing across the documents a host applies */
	time_t issued_at, expires_at;
	char reason[VG_EMERGENCY_REASON_MAX + 1]; /* why: incident or ticket, audited */
	struct vg_scope scope;
	size_t nactions;
	struct vg_em_action *actions;
	char digest[65]; /* sha256 hex of the exact bytes */
};

/* Parse and strictly validate (unknown fields, wrong types, bounds: errors with a JSON path). */
int vg_emergency_parse(const char *buf, size_t len, struct vg_emergency **out, struct vg_err *err);
void vg_emergency_free(struct vg_emergency *e);
/* Size cap, then signatures (threshold of trust's keys, domain VG_SIG_DOMAIN_EMERGENCY), then parse. */
int vg_emergency_verify(const struct vg_trust *trust, const char *buf, size_t len, const char *sig, size_t siglen,
			struct vg_emergency **out, struct vg_err *err);
/* issued_at <= now + skew and expires_at > now (codes not_yet_valid, expired) */
int vg_emergency_check_time(const struct vg_emergency *e, time_t now, uint32_t skew_s, struct vg_err *err);
/* counter > highest (replay, code emergency_replay); equal with the same digest: -EALREADY "unchanged" */
int vg_emergency_check_counter(const struct vg_emergency *e, int64_t highest, const char *highest_digest,
			       struct vg_err *err);
const char *vg_em_kind_name(enum vg_em_kind k);

/*
 * The enforcement side. One entry per quarantined tenant, as vigild resolved it against the
 * running bundle; the pointers stay valid only during the call.
 */
struct vg_quarantine {
	uint32_t tenant_id;	  /* the running bundle's id of the tenant, 1..65535 */
	const char *tenant;	  /* its name */
	const char *id;		  /* quarantine id (events, release) */
	int64_t counter;	  /* the emergency document that imposed it */
	time_t expires_at;	  /* vigild lifts it then (by calling again without it) */
	size_t nallow;
	const struct vg_rule *allow; /* destinations still allowed; ids 1..nallow */
};

/*
 * Implemented by agent/enforce.c. Replace the set of quarantined tenants with q[0..n) in one step
 * (n == 0 lifts every quarantine). For a quarantined tenant: every egress is denied except allow[],
 * its established connections are cut at once, its listeners are unreachable from other tenants,
 * and its mode is enforce whatever the bundle says. The set outlives bundle changes and vigild
 * restarts (pinned); vigild calls again after every bundle commit, since tenant ids may change.
 * Returns 0 when every entry is in force. Otherwise -errno with err, and nothing may be claimed
 * applied: -EOPNOTSUPP (code "not_supported") when this build or kernel cannot quarantine,
 * -ENODEV (code "enforce_off") when enforcement is not running on this host.
 */
int vg_enforce_quarantine(const struct vg_quarantine *q, size_t n, struct vg_err *err);

#endif
