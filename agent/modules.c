/* SPDX-License-Identifier: Apache-2.0 */
/* The subsystems of vigild, in the order they are initialised, prepared and committed. */
#include "daemon.h"

extern const struct vg_module vg_module_audit;
extern const struct vg_module vg_module_elevation;
extern const struct vg_module vg_module_elevation_relay;
extern const struct vg_module vg_module_posture;
extern const struct vg_module vg_module_identity;
extern const struct vg_module vg_module_enforce;
extern const struct vg_module vg_module_metrics;

const struct vg_module *const vg_modules[] = {
	&vg_module_audit,
	&vg_module_posture,
	&vg_module_elevation,
	&vg_module_elevation_relay,
	&vg_module_identity,
	&vg_module_enforce,
	&vg_module_metrics,
	NULL,
};
