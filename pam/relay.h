/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remote step-up prompt of pam_vigil.so (docs/remote-stepup.md): when no security key
 * is plugged into the host, show a relay challenge (code and URL) for the workstation
 * and read the pasted answer. vigild (agent/elevation_relay.c) decides.
 */
#ifndef VIGIL_PAM_RELAY_H
#define VIGIL_PAM_RELAY_H

#include "flow.h"

/* Returns PAM_SUCCESS when vigild granted the elevation, PAM_AUTH_ERR otherwise. */
int pv_relay_step_up(const struct pv_args *a, const struct pv_io *io, const struct pv_session *s,
		     const char *reason);

#endif
