/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vigild's elevation module: step-up challenges for pam_vigil.so, assertion
 * verification, grants (persisted in state_dir/grants.json, expiring on a
 * timer), sign counters, break-glass export and spool ingestion. Ctl commands
 * and audit events: docs/pam.md.
 */
#ifndef VIGIL_AGENT_ELEVATION_H
#define VIGIL_AGENT_ELEVATION_H

#include "daemon.h"

extern const struct vg_module vg_module_elevation;

/* Remove the grants of user (NULL: every grant), each audited as elevation.revoked with the fields
 * of by (e.g. {"by": "admin", "by_uid": 0}) and appended to revoked (when non-NULL). Returns how many. */
size_t vg_elevation_revoke(struct vg_daemon *d, const char *user, json_t *by, json_t *revoked);
/* why non-empty: no challenge is issued and no grant minted (elevation_frozen) until called with NULL;
 * grants that exist stay, break-glass still works (docs/emergency.md). */
void vg_elevation_freeze(struct vg_daemon *d, const char *why);

#endif
