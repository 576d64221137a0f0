/* SPDX-License-Identifier: Apache-2.0 */
/* A just-in-time elevation grant (created by vigild after a step-up or break-glass). */
#ifndef VIGIL_GRANT_H
#define VIGIL_GRANT_H

#include <stdint.h>
#include <time.h>

struct vg_grant {
	char user[64];
	uint32_t uid;
	char service[32];   /* PAM service it was granted through */
	char reason[256];
	char granted_by[64]; /* "step-up:<credential>" or "break-glass:<id>" */
	char trace_id[64];
	time_t started, expires;
	uint64_t id;
};

#endif
