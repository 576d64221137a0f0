/* SPDX-License-Identifier: Apache-2.0 */
/* The subsystems of vigild, in the order they are initialised, prepared and committed. */
#include "daemon.h"

extern const struct vg_module vg_module_audit;
extern const struct vg_module vg_module_elevation;

const struct vg_module *const vg_modules[] = {
	&vg_module_audit,
	&vg_module_elevation,
	NULL,
};
