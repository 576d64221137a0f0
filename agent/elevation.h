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

#endif
