/* SPDX-License-Identifier: Apache-2.0 */
/* The audit module of vigild (docs/audit.md): what other modules may ask it. */
#ifndef VIGIL_AGENT_AUDIT_H
#define VIGIL_AGENT_AUDIT_H

#include <stdbool.h>

#include "daemon.h"

/* The spool is full and when_full=degrade: elevation must be refused with reason
 * "audit_degraded"; egress deny events are aggregated into counts. */
bool vg_audit_degraded(struct vg_daemon *d);

#endif
