/* SPDX-License-Identifier: Apache-2.0 */
/*
 * State files vigild writes off its loop (docs/pam.md "Grants"): grants.json, the NSS membership
 * cache and sign_counters.json. Their fsyncs and renames took 15-40 ms at load, during which every
 * request waited. One thread writes them in the order they were handed over; a version not started
 * yet is replaced by a newer one of the same file (the newest is what counts). Without the thread
 * (it could not be started, or vigild is stopping) a version is written at once, on the caller.
 */
#ifndef VIGIL_AGENT_STATEFILE_H
#define VIGIL_AGENT_STATEFILE_H

#include <stdint.h>

#include "daemon.h"

enum vg_sf_file { VG_SF_MEMBERS, VG_SF_GRANTS, VG_SF_COUNTERS, VG_SF_NFILES };

struct vg_sf_job {
	/* on the thread: files only, no daemon state; returns 0 or -errno with err filled */
	int (*write)(void *arg, struct vg_err *err);
	/* on the loop once written (r from write), or r = -ECANCELED when a newer version replaced
	 * it before it started; frees arg */
	void (*done)(struct vg_daemon *d, void *arg, int r, const struct vg_err *err);
	void *arg;
};

/* Hands a version of file f over; returns its ticket (for vg_sf_when_written / vg_sf_wait). */
uint64_t vg_sf_put(struct vg_daemon *d, enum vg_sf_file f, const struct vg_sf_job *job);
/* cb(d, arg) on the loop once every version handed over up to ticket is written (or replaced by
 * one that is). Returns 1 when that is so already (cb not called), 0, or -errno. */
int vg_sf_when_written(struct vg_daemon *d, uint64_t ticket, void (*cb)(struct vg_daemon *, void *), void *arg);
/* The loop waits until every version handed over is written: for the rare callers whose next
 * step needs the files on disk (a policy's or an emergency's revoke, a cache written whole). */
void vg_sf_drain(struct vg_daemon *d);
/* Writes what is handed over, then ends the thread; later versions are written on the caller. */
void vg_sf_stop(struct vg_daemon *d);

#endif
