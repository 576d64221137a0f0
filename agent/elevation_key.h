/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local security key, driven by vigild (docs/fido2.md "Who talks to the key"): pam_vigil.so
 * asks, a worker thread does one key operation at a time, the loop answers when it is done.
 * The PAM process then loads neither libfido2 nor libcrypto, and never parses what a device sends.
 */
#ifndef VIGIL_AGENT_ELEVATION_KEY_H
#define VIGIL_AGENT_ELEVATION_KEY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon.h"

#define VG_KEY_QUEUE_MAX 8u	   /* key operations waiting or running; beyond: key_busy; one assertion
				    * per requester uid and user; none waits more than 2 s behind another */
#define VG_KEY_TOUCH_MAX_S 300u	   /* longest touch wait a caller may ask for (the PAM argument timeout= allows 300) */
#define VG_KEY_CREDS_MAX 16u

/* What the key signs: every field comes from the challenge vigild issued, none from the caller. */
struct vg_key_sign {
	char rp_id[256];
	uint8_t client_data_hash[32];
	size_t ncreds;
	uint8_t *cred[VG_KEY_CREDS_MAX]; /* owned by the job once handed over */
	size_t cred_len[VG_KEY_CREDS_MAX];
	bool uv;
	char *pin; /* NULL or the PIN the user typed (cleansed and freed with the job) */
	uint32_t touch_timeout_s;
};

int vg_key_start(struct vg_daemon *d, struct vg_err *err);
void vg_key_stop(struct vg_daemon *d);

/* Test builds: the softfido state file the caller named, seen through the caller's root
 * (/proc/PID/root), so that a PAM process in a private mount namespace names its own file.
 * Production: ignored. */
void vg_key_test_path(const struct vg_peer *peer, const char *path, char *out, size_t len);

/* elevation.key_probe: answers {"key": "present"|"absent"|"unusable", "detail"} later. A key found
 * stays open a few seconds for the assertion of the same caller (pid).
 * Returns -EINPROGRESS (handed over) or -errno with err set. */
int vg_key_probe(struct vg_daemon *d, pid_t pid, uint32_t uid, const char *user, const char *test_path,
		 struct vg_err *err);
/* elevation.key_assert for the requester uid's step-up of user (one at a time per pair: key_busy):
 * answers {"credential_id", "auth_data", "signature"} later, or an error
 * (pin_required, timeout, wrong_key, uv_missing, key_error). Takes *sign's buffers whatever it
 * returns. */
int vg_key_assert(struct vg_daemon *d, pid_t pid, uint32_t uid, const char *user, const char *test_path,
		  struct vg_key_sign *sign, struct vg_err *err);

#endif
