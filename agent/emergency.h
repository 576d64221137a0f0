/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vigild's emergency module (docs/emergency.md): emergency documents from push, inbox and pull,
 * their measures in force over the running bundle, persisted and verified again at start.
 */
#ifndef VIGIL_AGENT_EMERGENCY_H
#define VIGIL_AGENT_EMERGENCY_H

#include "daemon.h"

extern const struct vg_module vg_module_emergency;

/* Verify (signatures, schema, scope, time, counter) and apply one document; source names where it
 * came from in audit events ("push", "inbox", "pull"). *reply (owned by the caller, may be set on
 * error too) says what each action did. -EALREADY: this document is the last one applied. */
int vg_emergency_submit(struct vg_daemon *d, const char *bytes, size_t len, const char *sig, size_t siglen,
			const char *source, json_t **reply, struct vg_err *err);

#endif
