/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vigild's identity module: writes the NSS cache (docs/nss.md) from the
 * bundle's identity section and the live elevation grants, audits
 * user.provisioned / user.deprovisioned, answers "identity.whoami".
 */
#ifndef VIGIL_AGENT_IDENTITY_H
#define VIGIL_AGENT_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "vigil/grant.h"

extern const struct vg_module vg_module_identity;

/* The complete set of grants changed (the elevation module calls this): members.cache is
 * rewritten, by the state file writer (agent/statefile.h), so NSS shows the elevation group with
 * exactly these holders. Grants are copied; expired ones are left out. Returns the writer's
 * ticket (0: nothing to write). */
uint64_t vg_identity_set_grants(struct vg_daemon *d, const struct vg_grant *g, size_t n);

#endif
