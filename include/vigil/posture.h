/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device posture (docs/posture.md): pure collectors that read a host view
 * below a root prefix ("/" on a live host, a fixture tree in tests) and the
 * evaluation of their results against a bundle's per-environment
 * requirements. Nothing here shells out, talks D-Bus or keeps state.
 */
#ifndef VIGIL_POSTURE_H
#define VIGIL_POSTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

#include "vigil/bundle.h"
#include "vigil/err.h"

enum vg_posture_result { VG_POSTURE_UNKNOWN = 0, VG_POSTURE_PASS = 1, VG_POSTURE_FAIL = 2 };

enum vg_posture_check_id {
	VG_CHECK_EDR = 0,
	VG_CHECK_DISK_ENCRYPTION,
	VG_CHECK_PATCH_AGE,
	VG_CHECK_SECURE_BOOT,
	VG_CHECK_KERNEL_LOCKDOWN, /* informational */
	VG_CHECK_KERNEL_TAINT,	  /* informational */
	VG_CHECK__COUNT
};

/* patch_age threshold for the displayed result when the bundle sets none */
#define VG_POSTURE_DEFAULT_PATCH_DAYS 30
/* a requirement without max_age still goes stale */
#define VG_POSTURE_DEFAULT_MAX_AGE_S 300
#define VG_POSTURE_MAX_REASONS (VG_CHECK__COUNT + 2)

struct vg_posture_opts {
	const char *root; /* "/" or a fixture tree laid out like one */
	time_t now;	  /* observed_at of every check */
	size_t nagents;
	char *const *agents; /* accepted EDR executables (absolute paths) */
	const char *units;   /* "PATH=UNIT,..." systemd unit an agent must run in, or NULL */
	size_t nexempt;
	char *const *exempt; /* mount points disk_encryption ignores */
	uint32_t patch_max_age_days; /* 0: VG_POSTURE_DEFAULT_PATCH_DAYS */
};

struct vg_posture_check {
	enum vg_posture_result result;
	time_t observed_at;
	char summary[256]; /* one line a person reads: why this result */
	json_t *evidence;  /* object with the facts behind the result (owned) */
};

struct vg_posture {
	struct vg_posture_check check[VG_CHECK__COUNT];
	time_t last_upgrade; /* newest package upgrade seen, 0 when none */
};

struct vg_posture_reason {
	int check;	/* enum vg_posture_check_id, or -1 for the whole verdict */
	char code[24];	/* "fail", "unknown", "stale", "no_requirements", "no_policy" */
	char msg[256];
};

struct vg_posture_verdict {
	bool pass;
	bool stale; /* some required result was older than max_age */
	size_t nreasons;
	struct vg_posture_reason reasons[VG_POSTURE_MAX_REASONS];
};

const char *vg_posture_check_name(enum vg_posture_check_id id);
const char *vg_posture_result_name(enum vg_posture_result r);
bool vg_posture_check_informational(enum vg_posture_check_id id);

/* Run one collector / all of them. Never fails: what cannot be read is "unknown". */
void vg_posture_collect_one(const struct vg_posture_opts *o, enum vg_posture_check_id id,
			    struct vg_posture *p);
void vg_posture_collect(const struct vg_posture_opts *o, struct vg_posture *p);
void vg_posture_clear(struct vg_posture *p);

/* Verdict of p for req at now. req == NULL means no policy is applied (fails). */
void vg_posture_evaluate(const struct vg_posture *p, const struct vg_posture_req *req, time_t now,
			 struct vg_posture_verdict *v);
/* The report vigilctl shows and posture.report signs; NULL on allocation failure. */
json_t *vg_posture_report(const struct vg_posture *p, const struct vg_posture_req *req,
			  const struct vg_posture_verdict *v, time_t now);

/* "PATH=UNIT,PATH=UNIT": syntax check for the posture_edr_units config key. */
int vg_posture_units_validate(const char *units, struct vg_err *err);

/* Line parsers of the patch_age collector, exposed for tests and fuzzing.
 * Each returns 1 and sets *t when the line records a package upgrade, 0 otherwise. */
int vg_posture_dpkg_line(const char *line, time_t *t);
int vg_posture_dnf_line(const char *line, time_t *t);
/* apt history.log: call per line; *start carries "Start-Date" between calls */
int vg_posture_apt_history_line(const char *line, time_t *start, time_t *t);

#endif
