/* SPDX-License-Identifier: Apache-2.0 */
/* vigild's posture module (docs/posture.md): collects periodically and on demand, audits
 * every verdict change, answers "posture" and "posture.report" on the control socket. */
#ifndef VIGIL_AGENT_POSTURE_H
#define VIGIL_AGENT_POSTURE_H

#include <stdbool.h>
#include <jansson.h>

#include "daemon.h"

extern const struct vg_module vg_module_posture;

/* The host's posture verdict for the running bundle's environment. refresh collects anew
 * first (before an elevation). Returns 0 when it passes, -EACCES when it fails or is stale;
 * *report (caller owns it, may be NULL) is the full report with the reasons either way. */
int vg_posture_verdict(struct vg_daemon *d, bool refresh, json_t **report);

#endif
