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
	/* who earned it (docs/pam.md "Grants"): the requester vigild saw, and the PAM items */
	uint32_t by_uid;  /* real uid of the PAM process; VG_UID_NONE when unknown */
	uint32_t session; /* its audit session id; VG_SESSION_NONE when unset */
	char tty[64], rhost[128], ruser[64];
};

#define VG_UID_NONE UINT32_MAX
#define VG_SESSION_NONE UINT32_MAX

#endif
