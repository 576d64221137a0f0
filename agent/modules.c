/* SPDX-License-Identifier: Apache-2.0 */
/* The subsystems of vigild, in the order they are initialised, prepared and committed. */
#include <stdio.h>

#include "daemon.h"
#include "vigil/util.h"

extern const struct vg_module vg_module_audit;
extern const struct vg_module vg_module_elevation;
extern const struct vg_module vg_module_elevation_relay;
extern const struct vg_module vg_module_posture;
extern const struct vg_module vg_module_identity;
extern const struct vg_module vg_module_enforce;
extern const struct vg_module vg_module_emergency;
extern const struct vg_module vg_module_dnsfwd;
extern const struct vg_module vg_module_metrics;

const struct vg_module *vg_modules[] = {
	&vg_module_audit,
	&vg_module_posture,
	&vg_module_elevation,
	&vg_module_elevation_relay,
	&vg_module_identity,
	&vg_module_enforce,
	&vg_module_emergency, /* after enforce: its commit hands the quarantine over again */
	&vg_module_dnsfwd,    /* after enforce: answers are learned under the name rules enforce committed */
	&vg_module_metrics,
	NULL,
};

/*
 * A module whose init failed is swapped for a stand-in that has only a status: no
 * bundle, command or shutdown reaches a module that never started, and the others
 * run on. Callbacks get no module pointer, so each slot has its own status thunk.
 */
#define MAX_MODULES 9
_Static_assert(VG_ARRAY_SIZE(vg_modules) <= MAX_MODULES + 1, "add FAILED_SLOT thunks for the new modules");

static struct failed {
	struct vg_module stub;
	struct vg_err err;
} failed[MAX_MODULES];

static void failed_status(const struct failed *f, json_t *st)
{
	char msg[1024];

	json_object_set_new(st, "state", json_string("failed"));
	json_object_set_new(st, "reason", json_string(f->err.code));
	json_object_set_new(st, "error", json_string(vg_err_str(&f->err, msg, sizeof(msg))));
}

#define FAILED_SLOT(i)                                                     \
	static void failed_status_##i(struct vg_daemon *d, json_t *st)    \
	{                                                                  \
		failed_status(&failed[i], st);                             \
	}
FAILED_SLOT(0)
FAILED_SLOT(1)
FAILED_SLOT(2)
FAILED_SLOT(3)
FAILED_SLOT(4)
FAILED_SLOT(5)
FAILED_SLOT(6)
FAILED_SLOT(7)
FAILED_SLOT(8)

static void (*const failed_status_of[MAX_MODULES])(struct vg_daemon *, json_t *) = {
	failed_status_0, failed_status_1, failed_status_2, failed_status_3,
	failed_status_4, failed_status_5, failed_status_6, failed_status_7, failed_status_8,
};

void vg_module_failed(size_t i, const struct vg_err *err)
{
	failed[i].err = *err;
	failed[i].stub = (struct vg_module){ .name = vg_modules[i]->name, .status = failed_status_of[i] };
	vg_modules[i] = &failed[i].stub;
}
